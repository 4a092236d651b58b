"""The display toggle physical / RBE-weighted / LETd: every view follows, with workflow/rbe_dose.py's values."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from braggdesk.model import SimulationSettings  # noqa: E402
from braggdesk.workflow.rbe_dose import RbeSettings, rbe_weighted_result  # noqa: E402



def _run(window, qtbot, settings):
    with qtbot.waitSignal(window.runFinished, timeout=60_000) as done:
        assert window.start_run(settings)
    window.wait_for_background()
    return done.args[0]


def _show(w, qtbot, quantity: str, refused: bool = False) -> None:
    panel = w.display_panel
    panel.quantity.setCurrentIndex(panel.quantity.findData(quantity))
    assert w.display.quantity == ("dose" if refused else quantity)
    assert w.wait_for_background()
    w._flush_stages()


def _dmax(w, name: str = "External") -> float:
    w.bottom_tabs.setCurrentWidget(w.stats)
    return float(w.stats.cell_text(name, "Dmax [Gy]"))


def test_toggle_shows_rbe_weighted_dose_in_every_view(make_window, qtbot, monkeypatch, tmp_path):
    w = make_window()
    w.open_demo(6.0)
    entry = _run(w, qtbot, SimulationSettings(primaries=6_000, batches=2, seed=2))
    axial = w.views["axial"]
    shown_3d = []
    monkeypatch.setattr(w.view3d, "set_dose", lambda dose, ref: shown_3d.append(dose))
    physical_max = float(entry.dose_gy.max())
    assert _dmax(w) == pytest.approx(physical_max, rel=1e-2)

    _show(w, qtbot, "rbe")
    expected = rbe_weighted_result(entry.result, RbeSettings())  # the panel's default: McNamara, 10 Gy
    assert np.array_equal(axial._values, expected) and np.array_equal(axial._dose, expected)
    assert axial._vmax == pytest.approx(float(expected.max()))
    assert np.array_equal(shown_3d[-1], expected)
    assert _dmax(w) == pytest.approx(float(expected.max()), rel=1e-2)
    assert "RBE-weighted" in w.dvh_plot.getAxis("bottom").labelText
    assert "RBE-weighted" in w.value_text(w.session.ct.origin_mm)

    # File > Export: the RBE-weighted dose shown, as an RT Dose of DoseType EFFECTIVE
    import pydicom

    from braggdesk.io.rtdose import read_rtdose

    path = w.exporter.rbe_rtdose(tmp_path / "RD_rbe.dcm")
    assert pydicom.dcmread(path).DoseType == "EFFECTIVE"
    assert np.allclose(read_rtdose(path).values, expected, rtol=1e-3, atol=1e-4 * float(expected.max()))

    # other settings in the RBE panel: the views follow at once
    w.rbe_panel.model.setCurrentIndex(w.rbe_panel.model.findData("wedenberg"))
    w.rbe_panel.alpha_beta.setValue(2.0)
    assert w.wait_for_background()
    w._flush_stages()
    wedenberg = rbe_weighted_result(entry.result, RbeSettings("wedenberg", 2.0))
    assert np.array_equal(axial._values, wedenberg) and not np.array_equal(wedenberg, expected)
    assert _dmax(w) == pytest.approx(float(wedenberg.max()), rel=1e-2)

    # LETd: the wash shows LETd; back to the physical dose: everything is physical again
    _show(w, qtbot, "let")
    assert np.array_equal(axial._values, entry.let_kev_um)
    _show(w, qtbot, "dose")
    assert np.array_equal(axial._values, entry.dose_gy) and np.array_equal(shown_3d[-1], entry.dose_gy)
    assert _dmax(w) == pytest.approx(physical_max, rel=1e-2)


def test_a_dose_without_let_cannot_be_shown_rbe_weighted_and_says_why(make_window, qtbot):
    from braggdesk.workflow.session import DoseEntry

    w = make_window()
    w.open_demo(8.0)
    assert w.wait_for_background()
    w.show_planned_dose(DoseEntry("imported", np.ones(w.session.ct.shape, np.float32)))
    _show(w, qtbot, "rbe", refused=True)
    assert "needs LETd" in w.error_dialogs[-1].text()
    assert w.display.quantity == "dose" and w.display_panel.quantity.currentData() == "dose"
    # the constant RBE needs no LETd
    w.rbe_panel.model.setCurrentIndex(w.rbe_panel.model.findData("constant"))
    _show(w, qtbot, "rbe")
    assert np.allclose(w.views["axial"]._values, 1.1)


def test_the_dvh_axis_is_relabelled_only_when_its_title_changes(qtbot, monkeypatch):
    """A new axis title re-lays the plot out (about 9 ms longer stalls with one per live update): once per change."""
    from braggdesk.viewers.dvh_plot import DvhPlot

    plot = DvhPlot()
    qtbot.addWidget(plot)
    calls = []
    original = plot.setLabel
    monkeypatch.setattr(plot, "setLabel", lambda *a, **k: (calls.append(a), original(*a, **k)))
    for _ in range(3):
        plot.set_dose_label("Dose [Gy]")
    assert calls == []
    plot.set_dose_label("RBE-weighted dose [Gy(RBE)]")
    plot.set_dose_label("RBE-weighted dose [Gy(RBE)]")
    assert len(calls) == 1 and plot.getAxis("bottom").labelText == "RBE-weighted dose [Gy(RBE)]"
