"""Exported maps and tables read back (SimpleITK, csv) equal to what was computed, with the CT's geometry."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from braggdesk.errors import BraggdeskError
from braggdesk.workflow import exports
from braggdesk.workflow.structure_stats import analyse

sitk = pytest.importorskip("SimpleITK")


@pytest.fixture(scope="module")
def oblique_grid():
    from braggdesk.model import Volume

    angle = np.deg2rad(20)
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1.0]])
    rng = np.random.default_rng(1)
    return Volume(values=rng.random((4, 5, 6)).astype(np.float32), spacing_mm=(1.5, 2.0, 3.0),
                  origin_mm=(-10.0, 20.0, 5.5), direction=direction)


@pytest.mark.parametrize("suffix", [".nrrd", ".mhd"])
def test_a_map_keeps_values_and_geometry(tmp_path, oblique_grid, suffix):
    values = oblique_grid.values * 7.25
    path = exports.write_map(tmp_path / f"let{suffix}", values, oblique_grid, "let")
    image = sitk.ReadImage(str(path))
    assert np.array_equal(sitk.GetArrayFromImage(image), values)
    assert image.GetSpacing() == (1.5, 2.0, 3.0) and image.GetOrigin() == (-10.0, 20.0, 5.5)
    assert np.allclose(np.array(image.GetDirection()).reshape(3, 3), oblique_grid.direction)
    # voxel (i, j, k) lands where the Volume puts it in patient coordinates
    index = (5, 4, 3)
    assert np.allclose(image.TransformIndexToPhysicalPoint(index), oblique_grid.index_to_patient()[:3] @ [*index, 1])
    if suffix == ".nrrd":
        assert image.GetMetaData("braggdesk_unit") == "keV/um"


def test_bad_map_requests_are_refused(tmp_path, oblique_grid):
    with pytest.raises(BraggdeskError, match="NRRD|nrrd"):
        exports.write_map(tmp_path / "x.png", oblique_grid.values, oblique_grid)
    with pytest.raises(BraggdeskError, match="shape"):
        exports.write_map(tmp_path / "x.nrrd", oblique_grid.values[:2], oblique_grid)


def test_dvh_and_metrics_csv_hold_the_numbers_shown(tmp_path, oblique_grid):
    from braggdesk.model import Roi, StructureMask

    fraction = np.zeros(oblique_grid.shape, np.float32)
    fraction[1:3, 1:4, 2:5] = 1.0
    fraction[0, 0, 0] = 0.5
    masks = [StructureMask(Roi(1, "PTV"), oblique_grid, fraction),
             StructureMask(Roi(2, "Body, outer"), oblique_grid, np.ones(oblique_grid.shape, np.float32))]
    dose = oblique_grid.values * 2.0
    shown = analyse(dose, masks, reference_gy=1.5)
    with open(exports.write_dvh_csv(tmp_path / "dvh.csv", shown), newline="") as fh:
        rows = list(csv.DictReader(fh))
    for a in shown:
        mine = [r for r in rows if r["structure"] == a.name]
        assert np.array_equal([float(r["dose_gy"]) for r in mine], a.dvh.bin_edges_gy)
        assert np.array_equal([float(r["volume_cm3"]) for r in mine], a.dvh.cumulative_cm3)
        assert np.array_equal([float(r["volume_percent"]) for r in mine], a.dvh.cumulative_percent)
    with open(exports.write_metrics_csv(tmp_path / "metrics.csv", shown), newline="") as fh:
        table = {r.pop("structure"): r for r in csv.DictReader(fh)}
    assert list(table) == ["PTV", "Body, outer"]
    for a in shown:
        assert list(table[a.name]) == list(a.metrics)
        for column, value in a.metrics.items():
            cell = table[a.name][column]
            assert (cell == "" and np.isnan(value)) or float(cell) == value
