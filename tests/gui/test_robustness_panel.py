"""The Robustness dock on a 5 mm water phantom with a PTV box and a small SOBP-like plan: 9 scenarios with
tiny primaries on this computer, DVH bands, goals per scenario, the scenario picker, bad goals."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from planning_cases import box_roi  # noqa: E402

#: set to a PNG path to keep the screenshot of the window with the Robustness dock (docs/gui-robustness.png)
SCREENSHOT_ENV = "BRAGGDESK_ROBUSTNESS_SCREENSHOT"
TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def patient(tmp_path_factory) -> Path:
    """Water, a 30 mm PTV 60-90 mm deep and an organ beside it; a plan of 5 layers x 36 spots over the PTV
    (about 1.5 Gy in the PTV with the built-in generic beam model)."""
    from braggdesk.io.beam_model_reader import read_beam_model
    from braggdesk.io.phantoms import make_phantom, write_phantom
    from braggdesk.io.rtplan_writer import write_rt_ion_plan
    from braggdesk.model import Beam, EnergyLayer, Plan

    folder = tmp_path_factory.mktemp("robust")
    phantom = make_phantom("water", spacing_mm=5.0)
    _, _, z = phantom.volume.axis_coordinates_mm()
    rois = [box_roi(10, "PTV", (-15, -40, -15), (15, -10, 15), z),
            box_roi(11, "Organ", (25, -40, -15), (40, -10, 15), z, "ORGAN")]
    rois[1].color_rgb = (30, 110, 220)
    write_phantom(phantom, folder, extra_rois=rois)
    grid = np.arange(-15.0, 15.1, 6.0)
    xs, ys = np.meshgrid(grid, grid, indexing="ij")
    layers = [EnergyLayer(e, xs.ravel(), ys.ravel(), np.full(xs.size, w), mu_per_weight=1.0)
              for e, w in ((108.0, 40.0), (102.0, 22.0), (96.0, 18.0), (90.0, 16.0), (84.0, 14.0))]
    total = float(sum(layer.spot_weights.sum() for layer in layers))
    beam = Beam("B1", 1, 0.0, 0.0, (0.0, 0.0, 0.0), layers, meterset_mu=total, final_cumulative_meterset_weight=total,
                treatment_machine="generic")
    plan = Plan("robust test", [beam], frame_of_reference_uid=phantom.volume.frame_of_reference_uid,
                prescription_dose_gy=None)
    write_rt_ion_plan(plan, folder / "RP.dcm", ct=phantom.volume, beam_model=read_beam_model(None))
    return folder


def _window(make_window, patient: Path, primaries: int = 4_000):
    w = make_window()
    assert w.load_path(patient)
    assert w.wait_for_background()
    rp = w.run_panel
    rp.choose_runner("local")
    rp.primaries.setValue(primaries)
    rp.batches.setValue(2)
    rp.device_box.setCurrentIndex(rp.device_box.findData("cpu"))
    w.robustness_dock.raise_()
    return w, w.robustness_panel


def test_scenarios_give_bands_goals_per_scenario_and_a_picker(make_window, qtbot, patient, tmp_path):
    keep = os.environ.get(SCREENSHOT_ENV)
    w, p = _window(make_window, patient, 40_000 if keep else 4_000)  # smoother bands for the picture
    p.shift.setValue(5.0)
    goals = tmp_path / "goals.toml"
    goals.write_text('[[goal]]\nstructure = "PTV"\nmetric = "Dmean"\nthreshold = 0.5\ncomparison = ">="\n'
                     'unit = "Gy"\n')
    assert p.load_goals(goals)
    p.goals.appendPlainText("Organ Dmax <= 10 Gy\nPTV D98% >= 1.5 Gy")  # met everywhere; missed everywhere
    with qtbot.waitSignal(p.finished, timeout=TIMEOUT_MS) as done:
        assert p.run()
        assert not p.run_button.isEnabled() and p.stop_button.isEnabled()
    assert done.args == [True]
    out = p.outcome
    names = [s.name for s in out.scenarios]
    assert len(names) == 9 and names[0] == "nominal" and "x+5mm" in names and "range-3.5%" in names
    assert p.bar.value() == 1000 and "9 scenarios" in p.status.text()
    # DVH bands: a filled band per structure, the nominal solid on top, equal to the outcome's
    fills = [i for i in p.band_plot.getPlotItem().items if type(i).__name__ == "FillBetweenItem"]
    assert len(fills) == len(out.bands) >= 2
    ptv = next(b for b in out.bands if b.structure == "PTV")
    assert np.all(ptv.min_percent <= ptv.nominal_percent + 1e-9) and np.all(ptv.nominal_percent <= ptv.max_percent + 1e-9)
    assert ptv.worst_width_percent > 1.0  # 5 mm shifts move the PTV's DVH
    # goals per scenario: the table says what the outcome says
    assert p.goal_table.rowCount() == 3
    assert p.goal_cell(0, "All scenarios") == "met" and p.goal_cell(1, "All scenarios") == "met"
    assert p.goal_cell(2, "All scenarios") == "MISSED in 9"
    worst = out.goals[0].worst
    assert p.goal_cell(0, "Worst").startswith(worst)
    value = out.goals[0].results["x+5mm"].value
    assert p.goal_cell(0, "x+5mm") == f"{value:.4g} met"
    # the picker: the nominal dose is shown at the end; a scenario's dose is then what the views show
    assert w.session.dose.result is out.nominal
    n_doses = len(w.session.doses)
    p.scenario_box.setCurrentIndex(p.scenario_box.findData("x+5mm"))
    w._flush_stages()
    assert w.session.dose.result is out.results["x+5mm"] and w.session.dose.label == "Robustness: x+5mm"
    assert np.array_equal(w.views["axial"]._dose, out.results["x+5mm"].dose_gy)
    p.scenario_box.setCurrentIndex(p.scenario_box.findData("nominal"))  # shown before: selected, not added again
    assert w.session.dose.result is out.nominal and len(w.session.doses) == n_doses + 1

    qtbot.wait(50)
    shot = w.save_png(tmp_path / "robustness.png")
    if keep:
        Path(keep).write_bytes(shot.read_bytes())
    panel_shot = p.grab()
    assert not panel_shot.isNull() and panel_shot.width() > 100


def test_bad_goals_and_settings_are_refused_before_any_run(make_window, qtbot, patient):
    w, p = _window(make_window, patient)
    p.goals.setPlainText("Spinal cord Dmax <= 45 Gy")
    assert not p.run() and not p.controller.running
    assert "Spinal cord" in w.error_dialogs[-1].text()
    p.goals.setPlainText("PTV D95 >= 50 Gy")
    assert not p.run()
    assert "line 1" in w.error_dialogs[-1].text()
    p.goals.setPlainText("")
    w.run_panel.choose_runner("dask")
    w.run_panel.target_box.setEditText("")
    assert not p.run()
    assert "Dask cluster" in w.error_dialogs[-1].text()


def test_stop_ends_the_scenarios_without_an_error_dialog(make_window, qtbot, patient):
    w, p = _window(make_window, patient, 400_000)
    p.range_error.setValue(0.0)
    w.run_panel.batches.setValue(40)
    dialogs = len(w.error_dialogs)
    with qtbot.waitSignal(p.finished, timeout=TIMEOUT_MS) as done:
        assert p.run()
        qtbot.waitUntil(lambda: p.bar.value() > 0, timeout=60_000)
        p.stop()
    assert done.args == [False] and p.outcome is None
    assert len(w.error_dialogs) == dialogs and p.status.text().startswith("stopped")
    assert p.run_button.isEnabled() and not p.stop_button.isEnabled()


def test_on_a_dask_cluster_the_scenarios_run_at_once(make_window, qtbot, patient):
    pytest.importorskip("distributed")
    w, p = _window(make_window, patient, 2_000)
    p.shift.setValue(0.0)  # nominal and the two range errors
    w.run_panel.choose_runner("dask")
    w.run_panel.target_box.setEditText("local:2")
    with qtbot.waitSignal(p.finished, timeout=TIMEOUT_MS) as done:
        assert p.run()
    assert done.args == [True], [b.text() for b in w.error_dialogs]
    out = p.outcome
    assert [s.name for s in out.scenarios] == ["nominal", "range+3.5%", "range-3.5%"]
    assert "all scenarios at once" in out.where and "all scenarios at once" in p.status.text()
    assert all(r.primaries == 2_000 for r in out.results.values())
