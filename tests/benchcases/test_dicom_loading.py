"""The loading benchmark runs end to end on a small case and reports its figures (speed is never asserted)."""

from __future__ import annotations

import pytest

from braggdesk.analysis.rasterize import roi_volume_cm3
from braggdesk.benchcases.dicom_loading import io_benchmark, synthetic_patient


def test_io_benchmark_small_case(tmp_path):
    figures = io_benchmark(shape=(8, 64, 64), n_rois=5, folder=tmp_path, log=lambda line: None)
    assert figures["io_ct_shape"] == [64, 64, 8] and figures["io_rois"] == 5
    for key in ("io_read_ct_seconds", "io_read_rtstruct_seconds", "io_rasterize_seconds"):
        assert figures[key] > 0
    _, structures = synthetic_patient((8, 64, 64), 5)
    assert figures["io_contours"] == sum(len(r.contours) for r in structures.rois)
    # every ROI lies inside the grid (the body's end slabs end on the grid's faces): masks hold the
    # polygon-integrated volumes
    expected = sum(roi_volume_cm3(r) for r in structures.rois)
    assert figures["io_structure_volume_cm3"] == pytest.approx(expected, abs=0.006)  # reported to 0.01 cm3
