"""The Planning dock on a 5 mm water phantom: Dij, live optimiser, final MC dose in the views, Stop, errors, export.

The same case as tests/cli/test_cli_plan.py (a 30 mm PTV 60-90 mm deep, an organ beside it,
60 Gy in 30 fractions, the DCPT beam model), with tiny settings: 300 histories per spot for
the matrix and 100k primaries for the final dose.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from planning_cases import DCPT_MODEL, box_roi  # noqa: E402

from braggdesk.model.objectives import BeamRequest, Objective  # noqa: E402

pytestmark = pytest.mark.skipif(not DCPT_MODEL.is_file(), reason="the DCPT beam model is not in ../shared/data")

STEP_TIMEOUT_MS = 240_000
#: set to a PNG path to keep the screenshot of the window after the final dose (docs/gui-planning.png)
SCREENSHOT_ENV = "BRAGGDESK_PLANNING_SCREENSHOT"


@pytest.fixture(scope="module")
def patient(tmp_path_factory) -> Path:
    from braggdesk.io.phantoms import make_phantom, write_phantom

    folder = tmp_path_factory.mktemp("patient")
    phantom = make_phantom("water", spacing_mm=5.0)
    _, _, z = phantom.volume.axis_coordinates_mm()
    rois = [box_roi(10, "PTV", (-15, -40, -15), (15, -10, 15), z),
            box_roi(11, "Organ", (25, -40, -15), (40, -10, 15), z, "ORGAN")]
    rois[1].color_rgb = (30, 110, 220)  # apart from the PTV's red in the views and the DVH
    write_phantom(phantom, folder, extra_rois=rois)
    return folder


def _window(make_window, patient: Path):
    """The window with the patient loaded and the panel filled as a planner would, tiny settings."""
    w = make_window()
    assert w.load_path(patient)
    assert w.wait_for_background()
    p = w.planning_panel
    p.set_beam_model_path(str(DCPT_MODEL))
    form = p.form
    form.set_targets(["PTV"])
    form.beams.setRowCount(0)
    form.add_beam(BeamRequest(0.0))
    form.objectives.setRowCount(0)
    form.add_objective(Objective("PTV", "uniform", 60.0, 100.0))
    form.add_objective(Objective("Organ", "mean", 0.0, 1.0))
    form.prescription.setValue(60.0)
    form.fractions.setValue(30)
    form.histories.setValue(300)
    form.spot_spacing.setValue(6.0)
    form.margin.setValue(3.0)
    rp = w.run_panel
    rp.choose_runner("local")
    rp.primaries.setValue(100_000)
    rp.batches.setValue(4)
    rp.device_box.setCurrentIndex(rp.device_box.findData("cpu"))
    return w, p


def _step(qtbot, panel, name: str, start=None) -> bool:
    """Click the step's button (or call ``start``) and wait for it to end; whether it succeeded."""
    with qtbot.waitSignal(panel.stepFinished, timeout=STEP_TIMEOUT_MS) as done:
        if start is None:
            assert panel.buttons[name].isEnabled(), f"{name} is disabled"
            panel.buttons[name].click()
        else:
            assert start()
    assert done.args[0] == name
    return done.args[1]


def _enabled(panel) -> dict[str, bool]:
    return {name: b.isEnabled() for name, b in panel.buttons.items()}


def test_dij_optimise_final_dose_live_dvhs_and_export(make_window, qtbot, patient, tmp_path):
    from braggdesk.io.rtplan import read_rt_ion_plan

    w, p = _window(make_window, patient)
    assert _enabled(p) == {"dij": True, "optimise": False, "final": False, "export": False}
    assert not p.stop_button.isEnabled()

    assert _step(qtbot, p, "dij"), p.status.text()
    dij = p.planning.products.dij
    assert dij is not None and dij.n_spots > 50 and dij.matrix.nnz > 0
    assert _enabled(p) == {"dij": True, "optimise": True, "final": False, "export": False}
    assert p.bars["dij"].value() == 1000

    iterations_seen = []
    p.controller.progressed.connect(lambda name, item: iterations_seen.append(item.info.iteration)
                                    if name == "optimise" else None)
    assert _step(qtbot, p, "optimise"), p.status.text()
    result = p.planning.products.optimisation
    assert result is not None and not result.stopped and result.iterations > 3
    assert p.live_updates >= 1 and iterations_seen and iterations_seen == sorted(iterations_seen)
    # the objective curve holds every iteration; the dashed DVHs are the optimiser's, on the matrix
    xs, ys = p.objective_curve.getData()
    assert len(xs) == result.iterations and np.all(ys > 0)
    assert set(w.dvh_plot.dashed_names()) == {"PTV", "Organ"}
    ptv_x, ptv_y = w.dvh_plot._dashed["PTV"].getData()
    assert ptv_y[0] == pytest.approx(100.0) and 50 < ptv_x[np.argmax(ptv_y < 50)] < 70  # D50 near 60 Gy
    assert p.planning.products.dij is dij  # the matrix carried over
    assert _enabled(p)["final"] and _enabled(p)["export"]

    assert _step(qtbot, p, "final"), p.status.text()
    assert w.wait_for_background()
    entry = w.session.dose
    assert entry is not None and entry.label.startswith("Plan MC dose") and entry.result.primaries == 100_000
    assert w.session.plans and w.session.plans[-1] is p.planning.products.plan
    ptv = next(m for m in w.session.masks if m.name == "PTV")
    inside = ptv.fraction >= 0.5
    assert 0.85 * 60 < float(entry.dose_gy[inside].mean()) < 1.15 * 60  # total dose, 30 fractions
    # the slice views wash this dose; the DVH has the MC curves (solid) beside the optimiser's (dashed)
    assert w.views["axial"]._vmax == pytest.approx(float(entry.dose_gy.max()), rel=1e-5)
    assert w.dvh_plot.has_curve("PTV") and "PTV" in w.dvh_plot.dashed_names()
    assert float(w.stats.cell_text("PTV", "Dmean [Gy]")) == pytest.approx(float(entry.dose_gy[inside].mean()),
                                                                         rel=0.05)
    w.bottom_tabs.setCurrentWidget(w.dvh_plot)
    _raise_dock(w, "Planning")
    w.resize(1500, 1000)
    w.set_point((0.0, -25.0, 0.0))  # the slice views through the PTV's centre
    qtbot.wait(200)
    shot = w.save_png(tmp_path / "planning.png")
    _check_screenshot(shot, w)
    if os.environ.get(SCREENSHOT_ENV):
        w.save_png(os.environ[SCREENSHOT_ENV])

    assert _step(qtbot, p, "export", lambda: p.export_to(tmp_path / "out"))
    for name in ("RP_plan.dcm", "RD_plan.dcm", "RD_dij.dcm", "report.pdf", "goals.json"):
        assert (tmp_path / "out" / name).is_file(), name
    plan = read_rt_ion_plan(tmp_path / "out" / "RP_plan.dcm")
    assert plan.fractions_planned == 30 and plan.n_spots == p.planning.products.plan.n_spots
    import pydicom

    rp_uid = pydicom.dcmread(tmp_path / "out" / "RP_plan.dcm").SOPInstanceUID
    for name in ("RD_plan.dcm", "RD_dij.dcm"):  # the doses reference the plan written beside them
        rd = pydicom.dcmread(tmp_path / "out" / name)
        assert rd.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == rp_uid


def _raise_dock(window, title: str) -> None:
    from PySide6 import QtWidgets

    for dock in window.findChildren(QtWidgets.QDockWidget):
        if dock.windowTitle() == title:
            dock.raise_()


def _check_screenshot(path: Path, window) -> None:
    """Not black, not empty: the dose wash's warm colours in the axial view and the DVH's curves are there."""
    from PySide6 import QtGui

    image = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    assert image.width() == window.width() and image.height() >= window.height()
    buf = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(image.height(),
                                                                                  image.bytesPerLine())
    rgb = buf[:, :3 * image.width()].reshape(image.height(), image.width(), 3).astype(int)
    axial = window.views["axial"]
    top_left = axial.mapTo(window, axial.rect().topLeft())
    view = rgb[top_left.y():top_left.y() + axial.height(), top_left.x():top_left.x() + axial.width()]
    warm = (view[..., 0] > 150) & (view[..., 2] < 100)  # red to yellow of the dose wash
    assert warm.sum() > 200, "no dose wash in the axial view of the screenshot"
    assert rgb.mean() > 40, "the screenshot is (nearly) black"


def test_stop_during_the_optimiser_keeps_the_best_plan(make_window, qtbot, patient):
    w, p = _window(make_window, patient)
    p.form.max_iterations.setValue(5_000)
    assert _step(qtbot, p, "dij")

    def start_and_stop() -> bool:
        started = p.optimise()
        assert p.stop_button.isEnabled() and not p.buttons["dij"].isEnabled()
        p.stop_button.click()  # the optimiser stops after its first iteration
        return started

    assert _step(qtbot, p, "optimise", start_and_stop)
    result = p.planning.products.optimisation
    assert result.stopped and result.iterations < 5_000
    assert p.planning.products.plan is not None and p.planning.products.plan.n_spots > 0
    assert "stopped" in p.status.text()
    assert _enabled(p) == {"dij": True, "optimise": True, "final": True, "export": True}


def test_a_bad_objective_is_an_error_and_keeps_the_matrix_and_plan(make_window, qtbot, patient):
    w, p = _window(make_window, patient)
    p.form.max_iterations.setValue(5)
    assert _step(qtbot, p, "dij")
    assert _step(qtbot, p, "optimise")
    good, dij = p.planning, p.planning.products.dij
    plan = good.products.plan

    row = p.form.add_objective(Objective("PTV", "max", 66.0, 1.0))
    p.form.set_objective(row, structure="SpinalCord")
    assert not _step(qtbot, p, "optimise")
    assert w.error_dialogs and "SpinalCord" in w.error_dialogs[-1].text()
    assert "no structure of that name" in w.error_dialogs[-1].text()
    assert p.planning is good and good.products.dij is dij and good.products.plan is plan
    assert _enabled(p) == {"dij": True, "optimise": True, "final": True, "export": True}
    assert "kept" in p.status.text()

    # a changed beam needs a new matrix: refused, the matrix still kept
    p.form.objectives.removeRow(row)
    p.form.beams.cellWidget(0, 0).setValue(90.0)
    assert not _step(qtbot, p, "optimise")
    assert "beams changed" in w.error_dialogs[-1].text() and "Compute Dij again" in w.error_dialogs[-1].text()
    assert p.planning is good and good.products.dij is dij

    # changed objectives on the same structures reuse the matrix
    p.form.beams.cellWidget(0, 0).setValue(0.0)
    p.form.set_objective(1, kind="max", dose_gy=30.0, weight=5.0)
    assert _step(qtbot, p, "optimise")
    assert p.planning is not good and p.planning.products.dij is dij
    assert [o.kind for o in p.planning.inputs.request.objectives] == ["uniform", "max"]


def test_objectives_save_and_load_round_trip(make_window, qtbot, patient, tmp_path):
    from braggdesk.io.objectives_file import read_planning_request

    w, p = _window(make_window, patient)
    row = p.form.add_objective(Objective("PTV", "dvh_min", 57.0, 50.0, 95.0))
    request = p.form.request()
    path = p.save_objectives(tmp_path / "objectives.toml")
    assert path is not None and read_planning_request(path) == request
    p.form.objectives.setRowCount(0)
    p.form.add_beam(BeamRequest(90.0))
    assert p.load_objectives(path)
    assert p.form.request() == request
    assert p.form.objectives.cellWidget(row, 3).isEnabled()  # volume for a DVH objective only
    assert not p.form.objectives.cellWidget(0, 3).isEnabled()
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace("kind = \"mean\"", "kind = \"mean\"\nweigth = 3"))
    assert not p.load_objectives(bad)
    assert "weigth" in w.error_dialogs[-1].text() and str(bad) in w.error_dialogs[-1].text()
    assert p.form.request() == request  # a refused file changes nothing
