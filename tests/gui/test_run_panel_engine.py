"""The run panel's engine choice goes into the job's settings (and so to every runner), and a job's
settings show in the panel."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from braggdesk.model import SimulationSettings  # noqa: E402


def test_the_engine_chosen_in_the_run_panel_is_the_jobs(qtbot):
    from braggdesk.gui.run_panel import RunPanel

    panel = RunPanel()
    qtbot.addWidget(panel)
    assert panel.settings().engine == "full"
    panel.engine_box.setCurrentIndex(panel.engine_box.findData("track-repeat"))
    assert panel.settings().engine == "track-repeat"
    panel.apply_settings(SimulationSettings(engine="full"))
    assert panel.engine_box.currentData() == "full"
    panel.set_running(True)
    assert not panel.engine_box.isEnabled()


def test_a_first_track_repeating_run_records_its_database_with_progress(make_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAGGDESK_TRACKS_DIR", str(tmp_path / "tracks"))
    w = make_window()
    w.open_demo(4.0)
    assert w.wait_for_background()
    seen = []
    w.tracksProgress.connect(lambda e, done, total: seen.append((e, done, total, w.run_panel.status.text())))
    settings = SimulationSettings(primaries=4_000, batches=2, seed=3, engine="track-repeat", tracks_per_energy=100)
    with qtbot.waitSignal(w.runFinished, timeout=120_000) as done:
        assert w.start_run(settings)
    w.wait_for_background()
    entry = done.args[0]
    assert entry is not None and entry.result.primaries == 4_000 and entry.dose_gy.max() > 0
    assert seen and all(total == 100 for _, _, total, _ in seen)
    assert "recording proton tracks" in seen[-1][3]
    assert any((tmp_path / "tracks").glob("water-*/*.npz"))
