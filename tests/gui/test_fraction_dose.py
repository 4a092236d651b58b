"""A run of a plan of several fractions shows one fraction's dose: the wash, isodoses and V95 refer to the
prescription of one fraction, and its export says FRACTION; a course dose (the planning panel's, an imported
PLAN dose) refers to the whole prescription."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("PySide6")

from braggdesk.model import SimulationSettings  # noqa: E402


def test_a_run_of_a_plan_of_thirty_fractions_is_washed_against_one_fractions_prescription(make_window, qtbot,
                                                                                           tmp_path):
    import pydicom

    from braggdesk.workflow.session import DoseEntry

    w = make_window()
    w.open_demo(6.0)
    w.session.plans[-1] = dataclasses.replace(w.session.plans[-1], fractions_planned=30, prescription_dose_gy=60.0)
    with qtbot.waitSignal(w.runFinished, timeout=60_000) as done:
        assert w.start_run(SimulationSettings(primaries=6_000, batches=2, seed=2))
    w.wait_for_background()
    w._flush_stages()
    entry = done.args[0]
    assert entry.per_fraction and w.reference_dose_gy(entry) == pytest.approx(2.0)
    axial = w.views["axial"]
    assert axial._ref_gy == pytest.approx(2.0)
    assert axial.wash_item.image is not None and axial.wash_item.image[..., 3].any()  # washed, not blank
    path = w.exporter.rtdose(tmp_path / "RD.dcm")
    assert pydicom.dcmread(path).DoseSummationType == "FRACTION"

    assert w.shown.settings.fractions == 1 and w.rbe_panel.fractions.value() == 1
    course = DoseEntry("course", entry.dose_gy * 30, let_kev_um=entry.let_kev_um)
    assert not course.per_fraction and w.reference_dose_gy(course) == pytest.approx(60.0)
    w.show_planned_dose(course, None)
    assert pydicom.dcmread(w.exporter.rtdose(tmp_path / "RD_course.dcm")).DoseSummationType == "PLAN"
    # the RBE of a course dose is taken at its dose per fraction: the panel follows the plan's fractions
    assert w.shown.settings.fractions == 30 and w.rbe_panel.fractions.value() == 30
    w.rbe_panel.fractions.setValue(5)  # the user's choice stays while the same kind of dose is shown
    w.select_dose(w.session.current_dose)
    assert w.shown.settings.fractions == 5
    w.select_dose(0)  # the run: one fraction's dose
    assert w.shown.settings.fractions == 1
    assert np.isfinite(w.reference_dose_gy(None))
