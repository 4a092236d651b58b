"""The workstation end to end on the demo case: live updates, cancel, errors, screenshots, export."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6 import QtCore, QtGui  # noqa: E402

from braggdesk.model import SimulationSettings  # noqa: E402

DEMO_SPACING_MM = 4.0


def _run(window, qtbot, settings, timeout_ms=60_000, runner="local", target="", min_interval_s=None):
    with qtbot.waitSignal(window.runFinished, timeout=timeout_ms) as done:
        assert window.start_run(settings, runner, target)
        if min_interval_s is not None:  # every batch reaches the views
            window.controller.min_interval_s = min_interval_s
            if window.controller._run is not None:
                window.controller._run.min_interval_s = min_interval_s
    window.wait_for_background()
    return done.args[0]


def test_demo_run_updates_the_dose_view_live(make_window, qtbot):
    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    assert w.wait_for_background()
    # the phantom's own structures (as its RS_phantom.dcm holds them) and the SOBP target
    assert {"External", "Water", "Bone_Cortical", "Lung", "Target (demo SOBP)"} <= {m.name for m in w.session.masks}
    axial = w.views["axial"]
    seen = []  # overlay redraws of the axial view while the run was still going
    w.controller.updated.connect(lambda u: seen.append((axial.overlay_updates, u.final, u.progress.primaries)))
    # the event loop's longest pause while the engine runs (a 2 ms tick)
    ticks = []
    timer = QtCore.QTimer()
    timer.setInterval(2)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    entry = _run(w, qtbot, SimulationSettings(primaries=24_000, batches=12, seed=3), min_interval_s=0.0)
    timer.stop()
    assert len(seen) >= 2 and all(not final for _, final, _ in seen)
    assert seen[0][2] < 24_000, "the first update came only at the end"
    assert len({n for n, _, _ in seen}) >= 2, "the dose view was not redrawn during the run"
    assert entry is not None and not entry.partial and entry.result.primaries == 24_000
    assert "PARTIAL" not in entry.title
    # the views show this dose: its maximum sits in the wash scale, and DVHs/statistics are filled
    assert axial._vmax == pytest.approx(float(entry.dose_gy.max()))
    assert float(w.stats.cell_text("External", "Dmax [Gy]")) == pytest.approx(float(entry.dose_gy.max()), rel=1e-2)
    stall_ms = 1000 * max(np.diff(ticks)) if len(ticks) > 1 else float("nan")
    first_ms = 1000 * (w.timings["first_dose"] - w.timings["start"])
    print(f"\nlongest event-loop stall {stall_ms:.0f} ms, Start to first dose {first_ms:.0f} ms, "
          f"{len(seen)} live updates")


def test_cancel_keeps_the_partial_dose_and_it_exports(make_window, qtbot, tmp_path):
    from braggdesk.io.rtdose import read_rtdose

    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    with qtbot.waitSignal(w.controller.updated, timeout=60_000):
        assert w.start_run(SimulationSettings(primaries=2_000_000, batches=400))
    with qtbot.waitSignal(w.runFinished, timeout=60_000) as done:
        w.run_panel.cancel_button.click()
    entry = done.args[0]
    assert entry is not None and entry.partial and "PARTIAL" in entry.title
    assert 0 < entry.result.primaries < 2_000_000
    assert w.session.dose is entry and float(entry.dose_gy.max()) > 0
    assert "PARTIAL" in w.run_panel.status.text()
    path = w.exporter.rtdose(tmp_path / "RD_partial.dcm")  # File > Export > Dose as RTDOSE (gui/exporting.py)
    back = read_rtdose(path)
    assert back.shape == w.session.ct.shape
    assert np.allclose(back.values, entry.dose_gy, rtol=1e-3, atol=1e-4 * float(entry.dose_gy.max()))


def test_the_dose_comes_before_its_analysis_and_the_3d_dose_updates_live(make_window, qtbot):
    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    assert w.wait_for_background()
    w.live_3d_interval_s = 0.0  # every analysed update brings new surfaces
    order = []  # (signal, primaries, has analysis, 3D dose updates so far)
    w.controller.updated.connect(lambda u: order.append(("dose", u.progress.primaries, u.extra is not None)))
    w.controller.analysed.connect(lambda u: order.append(("analysis", u.progress.primaries, u.extra is not None)))
    live_3d = []
    w.controller.updated.connect(lambda u: live_3d.append(w.view3d.dose_updates))
    entry = _run(w, qtbot, SimulationSettings(primaries=12_000, batches=6, seed=4), min_interval_s=0.0)
    doses = [(n, extra) for kind, n, extra in order if kind == "dose"]
    analyses = [(n, extra) for kind, n, extra in order if kind == "analysis"]
    assert len(doses) >= 2 and not any(extra for _, extra in doses), "a live dose waited for its DVHs"
    assert analyses and all(extra for _, extra in analyses)
    for n, _ in analyses:  # each analysis follows the dose it belongs to
        assert order.index(("dose", n, False)) < order.index(("analysis", n, True))
    # the 3D dose surfaces changed during the run, not only at its end
    assert max(live_3d) >= 1 and w.view3d.actor_count("dose") == 2
    # the view knows what renders it (on llvmpipe the window leaves live 3D off unless asked, as here)
    assert w.view3d._renderer_name
    assert entry.result.primaries == 12_000 and w.view3d.dose_updates > max(live_3d)


def test_closing_the_window_during_a_run_stops_it_cleanly(make_window, qtbot):
    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    finished = []
    w.runFinished.connect(finished.append)
    with qtbot.waitSignal(w.controller.updated, timeout=60_000):
        assert w.start_run(SimulationSettings(primaries=2_000_000, batches=400))
    runner = w.controller.runner
    w.close()
    assert not w.controller.running and w.controller._worker is None
    assert w.controller._pool.activeThreadCount() == 0 and runner.cancelled
    assert runner.result().primaries < 2_000_000
    qtbot.wait(50)  # what the ended worker had queued is dropped, not drawn on the closed window
    assert finished == []


def test_a_missing_gpu_is_a_dialog_and_nothing_is_lost(make_window, qtbot):
    from braggdesk.engine.device import gpu_status

    if gpu_status()[0]:
        pytest.skip("this machine has a usable GPU")
    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    w.wait_for_background()
    with qtbot.waitSignal(w.runFinished, timeout=30_000) as done:
        assert w.start_run(SimulationSettings(primaries=1_000, batches=2, device="gpu"))
    assert done.args[0] is None and not w.controller.running
    assert "GPU" in w.error_dialogs[-1].text()
    assert w.session.ct is not None and w.session.plans and w.session.dose is None


def test_a_bad_folder_gives_a_dialog_and_keeps_what_is_loaded(make_window, tmp_path):
    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    before = w.session
    bad = tmp_path / "not_a_patient"
    bad.mkdir()
    (bad / "notes.txt").write_text("nothing to see")
    assert not w.load_path(bad)
    assert w.error_dialogs and w.error_dialogs[-1].isVisible()
    text = w.error_dialogs[-1].text()
    assert str(bad) in text and "no DICOM" in text
    assert w.session is before and w.session.ct is not None and w.session.plans


def test_a_ct_folder_loads_and_is_remembered(make_window, tmp_path):
    from braggdesk.io.demo_case import demo_case
    from braggdesk.io.phantoms import write_phantom

    case = demo_case(spacing_mm=8.0)
    write_phantom(case.phantom, tmp_path / "ct")
    w = make_window()
    assert w.load_path(tmp_path / "ct")
    assert w.session.ct.shape == case.phantom.volume.shape and w.session.calibration is not None
    assert str((tmp_path / "ct").resolve()) in w.recent_paths()
    assert w.tree.topLevelItem(0).text(0) == "CT"
    # no plan in that folder: Start says so in a dialog, nothing breaks
    assert not w.start_run(SimulationSettings(primaries=1000, batches=2))
    assert "RT Ion Plan" in w.error_dialogs[-1].text()


def test_crosshair_links_views_and_cursor_reads_values(make_window, qtbot):
    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    entry = _run(w, qtbot, SimulationSettings(primaries=4_000, batches=2))
    k, j, i = np.unravel_index(np.argmax(entry.dose_gy), entry.dose_gy.shape)
    x, y, z = (w.session.ct.index_to_patient() @ np.array([i, j, k, 1.0]))[:3]
    w.set_point((x, y, z))
    assert (w.views["axial"].index, w.views["coronal"].index, w.views["sagittal"].index) == (k, j, i)
    text = w.value_text((x, y, z))
    assert f"dose {entry.dose_gy[k, j, i]:.4g} Gy" in text and "HU" in text and "LETd" in text
    # wheel scrolling moves one slice and the others follow the new point
    w.views["axial"].scroll(+1)
    assert w.views["axial"].index == k + 1
    # switching the wash to uncertainty and LET redraws with those values
    for quantity in ("uncertainty", "let"):
        w.display_panel.quantity.setCurrentIndex(w.display_panel.quantity.findData(quantity))
        assert w.display.quantity == quantity
    # hiding a structure takes it out of the DVH and the contours
    w.tree.structure_item("Lung").setCheckState(0, QtCore.Qt.CheckState.Unchecked)
    assert "Lung" not in w.session.visible_structures
    assert not w.views["axial"]._contours["Lung"].isVisible()
    assert "Lung" not in w.dvh_plot._curves and "External" in w.dvh_plot._curves
    assert "External:" in w.dvh_plot.readout_at(0.5)


def _count(img: np.ndarray, rgb, tol=12) -> int:
    return int(np.all(np.abs(img[..., :3].astype(int) - np.array(rgb)) <= tol, axis=-1).sum())


def _array(image: QtGui.QImage) -> np.ndarray:
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    raw = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    # copy: the converted QImage owns that memory and is freed when this function returns
    return raw.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def test_window_screenshot_has_ct_dose_colours_and_vtk_pixels(make_window, qtbot, tmp_path):
    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    _run(w, qtbot, SimulationSettings(primaries=20_000, batches=4))
    # plain CT grey and full dose: opaque wash to check exact colours
    settings = w.display_panel.settings()
    settings.opacity = 1.0
    w.display_panel.set_settings(settings)
    w.apply_display(settings)
    qtbot.wait(50)
    path = w.save_png(tmp_path / "window.png")
    if os.environ.get("BRAGGDESK_KEEP_SCREENSHOT"):  # to look at it
        w.save_png(os.environ["BRAGGDESK_KEEP_SCREENSHOT"])
    img = _array(QtGui.QImage(str(path)))
    def region(widget):
        p = widget.mapTo(w, QtCore.QPoint(0, 0))
        return img[p.y(): p.y() + widget.height(), p.x(): p.x() + widget.width()]
    axial = region(w.views["axial"])
    # water (0 HU) in the soft-tissue window (40/400) is grey 0.4 x 255 = 102
    assert _count(axial, (102, 102, 102), tol=3) > 500
    # the jet map's high end (reds, from 255 0 0 to 127 0 0) and its low end (blues) appear in the wash
    r, g, b = (axial[..., c].astype(int) for c in range(3))
    assert ((r > 120) & (g < 60) & (b < 60)).sum() > 5
    assert ((b > 120) & (r < 60) & (g < 120)).sum() > 20
    # the 3D view: its background (0.08, 0.08, 0.12) and a lit surface, not black
    vtk = region(w.view3d)
    assert _count(vtk, (20, 20, 31), tol=3) > 1000, f"3D region mean {vtk.mean(axis=(0, 1)).round(1)}"
    assert (vtk.max(axis=-1) > 80).sum() > 500
