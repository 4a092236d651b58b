"""Slice views of a patient: a new CT is framed by the body, not the whole reconstructed field of view, and the
wash stays inside the EXTERNAL structure unless told otherwise."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from braggdesk.model import Volume  # noqa: E402


def _head_in_a_wide_field() -> Volume:
    """A 500 mm field of view (5 mm voxels) with a 100 x 120 x 60 mm 'head' of water off centre."""
    hu = np.full((30, 100, 100), -1000.0, np.float32)
    hu[5:17, 40:64, 50:70] = 0.0  # k 5-16, j 40-63, i 50-69
    return Volume(hu, (5.0, 5.0, 5.0), (-247.5, -247.5, -72.5))


def test_the_body_box_is_found_from_a_strided_look_at_the_ct():
    from braggdesk.viewers import slice_view

    ct = _head_in_a_wide_field()
    lo, hi = slice_view.body_box_mm(ct)
    np.testing.assert_allclose(lo, [-247.5 + 50 * 5, -247.5 + 40 * 5, -72.5 + 5 * 5])
    np.testing.assert_allclose(hi, [-247.5 + 69 * 5, -247.5 + 63 * 5, -72.5 + 16 * 5])
    assert slice_view.body_box_mm(ct.with_values(np.full(ct.shape, -1000.0, np.float32), unit="HU")) is None


def test_each_view_frames_the_body_with_a_margin(qtbot):
    from braggdesk.viewers.slice_view import VIEW_MARGIN_MM, SliceView, body_box_mm

    ct = _head_in_a_wide_field()
    lo, hi = body_box_mm(ct)
    for orientation, (cx, cy) in {"axial": (0, 1), "coronal": (0, 2), "sagittal": (1, 2)}.items():
        view = SliceView(orientation)
        qtbot.addWidget(view)
        view.resize(400, 400)
        view.set_ct(ct)
        (x0, x1), (y0, y1) = view.box.viewRange()
        # the body and its margin are in view; the aspect is locked, so one axis may show more, never all 500 mm
        assert x0 <= lo[cx] - VIEW_MARGIN_MM + 1 and x1 >= hi[cx] + VIEW_MARGIN_MM - 1, orientation
        assert y0 <= lo[cy] - VIEW_MARGIN_MM + 1 and y1 >= hi[cy] + VIEW_MARGIN_MM - 1, orientation
        assert min(x1 - x0, y1 - y0) < 300.0, orientation
        view.box.scaleBy((4.0, 4.0))  # zoomed out: the whole field and more
        assert view.box.viewRange()[0][1] - view.box.viewRange()[0][0] > 400.0
        view.frame_body()  # what a double click does
        assert np.allclose(view.box.viewRange(), [[x0, x1], [y0, y1]])


def test_the_wash_and_isodoses_stay_inside_the_external_structure_unless_told_otherwise(qtbot):
    import dataclasses

    from braggdesk.model import Roi, StructureMask
    from braggdesk.viewers.display import DisplaySettings
    from braggdesk.viewers.slice_view import SliceView

    ct = _head_in_a_wide_field()
    inside = (ct.hu > -400).astype(np.float32)
    body = StructureMask(Roi(1, "BODY", roi_type="EXTERNAL"), ct, inside)
    dose = np.full(ct.shape, 2.0, np.float32)  # dose to water everywhere, the air along the beams included
    view = SliceView("axial")
    qtbot.addWidget(view)
    view.set_ct(ct)
    view.index = 10
    view.set_overlay(dose, dose, 2.0, 2.0)
    alpha = lambda: view.wash_item.image[..., 3] > 0  # noqa: E731
    assert alpha().all()  # no EXTERNAL structure yet: the whole slice
    view.set_structures([body])
    washed, body_pixels = alpha(), view._slice(inside) >= 0.5
    assert washed.any() and np.array_equal(washed, body_pixels)
    view.apply_settings(dataclasses.replace(DisplaySettings(), body_only=False))
    assert alpha().all()
