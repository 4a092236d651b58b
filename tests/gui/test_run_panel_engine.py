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
