"""DVH and metrics: analytic cases, fractional voxels, queries, and dicompyler-core on the same structure and dose."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from matplotlib.path import Path as PolygonPath
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from braggdesk.analysis.dvh import compute_dvh, d_volume, dvh_metrics, dvh_of_mask, metrics_of, v_dose
from braggdesk.io.rtdose import write_rtdose
from braggdesk.model import Roi, StructureMask, Volume


def test_uniform_ramp_gives_analytic_metrics():
    # 100 voxels of 1 cm3 with doses 0.5, 1.5, ... 99.5 Gy: a continuous uniform DVH
    dose = (np.arange(100) + 0.5).reshape(1, 10, 10)
    m = dvh_metrics(dose, np.ones_like(dose), 1.0, name="ramp")
    assert m.volume_cm3 == 100 and m.dmean_gy == pytest.approx(50.0)
    assert (m.dmin_gy, m.dmax_gy) == (0.5, 99.5)
    assert m.d50_gy == pytest.approx(50.5) and m.d2_gy == pytest.approx(98.5) and m.d98_gy == pytest.approx(2.5)
    dvh = compute_dvh(dose, np.ones_like(dose), 1.0)
    assert v_dose(dvh, 60.0) == pytest.approx(40.0)  # voxels 60.5 .. 99.5
    assert v_dose(dvh, 60.0, result="cm3") == pytest.approx(40.0)
    assert v_dose(dvh, 50.0, unit="%", reference_gy=120.0) == pytest.approx(40.0)  # 50 % of 120 Gy
    assert d_volume(dvh, 10.0, unit="cm3") == pytest.approx(90.5)
    assert d_volume(dvh, 10.0) == pytest.approx(90.5)


def test_fractional_voxels_count_with_their_fraction():
    dose = np.array([[[10.0, 20.0, 30.0]]])
    frac = np.array([[[1.0, 0.5, 0.0]]])
    dvh = compute_dvh(dose, frac, 2.0, bin_gy=1.0)
    assert dvh.total_volume_cm3 == pytest.approx(3.0)
    m = metrics_of(dvh)
    assert m.dmean_gy == pytest.approx((10 * 2 + 20 * 1) / 3) and m.dmax_gy == 20.0
    cum = dvh.cumulative_cm3
    assert cum[0] == pytest.approx(3.0) and cum[15] == pytest.approx(1.0) and cum[-1] == 0.0
    assert dvh.cumulative_percent[0] == pytest.approx(100.0)
    assert dvh.differential_cm3.sum() == pytest.approx(3.0)


def test_structure_mask_and_bad_input():
    grid = Volume(np.zeros((2, 3, 4)), (2.0, 2.0, 2.5), (0, 0, 0))
    mask = StructureMask(Roi(1, "box"), grid, np.ones((2, 3, 4), np.float32))
    dvh = dvh_of_mask(np.full((2, 3, 4), 2.0), mask)
    assert dvh.name == "box" and dvh.total_volume_cm3 == pytest.approx(mask.volume_cm3)
    with pytest.raises(ValueError, match="one grid"):
        compute_dvh(np.zeros((2, 3, 3)), mask.fraction, 1.0)
    with pytest.raises(ValueError, match="prescription"):
        v_dose(dvh, 50.0, unit="%")


def _reference_metrics(d: np.ndarray, v: np.ndarray, percents=(98.0, 95.0, 50.0, 2.0)) -> list[float]:
    """D at volume percents by a plain full sort and the same interpolation: what the fast path must reproduce."""
    order = np.argsort(-d, kind="stable")
    ds, cum = d[order], np.cumsum(v[order])
    out = []
    for p in percents:
        target = cum[-1] * p / 100
        n = min(int(np.searchsorted(cum, target - 1e-12 * cum[-1], side="left")), len(cum) - 1)
        if n == 0:
            out.append(float(ds[0]))
            continue
        t = (target - cum[n - 1]) / (cum[n] - cum[n - 1]) if cum[n] > cum[n - 1] else 1.0
        out.append(float(ds[n - 1] + t * (ds[n] - ds[n - 1])))
    return out


@pytest.mark.parametrize("zero_share", [0.0, 0.7, 0.999])
def test_fast_path_matches_a_full_sort_and_numpy_histogram(zero_share):
    rng = np.random.default_rng(7)
    shape = (20, 30, 40)
    dose = rng.gamma(2.0, 0.5, shape)
    dose[rng.random(shape) < zero_share] = 0.0
    dose.flat[:50] = np.round(dose.flat[:50], 2)  # values on bin edges land in numpy's bins
    frac = np.where(rng.random(shape) < 0.2, rng.random(shape), 1.0)
    frac[rng.random(shape) < 0.1] = 0.0
    dvh = compute_dvh(dose, frac, 0.008, bin_gy=0.01)
    inside = frac > 0
    d, v = dose[inside], frac[inside] * 0.008
    hist, _ = np.histogram(d, bins=dvh.bin_edges_gy, weights=v)
    assert np.allclose(dvh.differential_cm3, hist, rtol=1e-9, atol=1e-12)
    m = metrics_of(dvh)
    assert [m.d98_gy, m.d95_gy, m.d50_gy, m.d2_gy] == pytest.approx(_reference_metrics(d, v), rel=1e-12, abs=1e-12)
    assert m.dmean_gy == pytest.approx(np.dot(d, v) / v.sum(), rel=1e-12)
    assert (m.dmin_gy, m.dmax_gy) == (d.min(), d.max())
    for q in (0.0, 0.3, 1.0, float(d.max())):
        assert dvh.volume_at_dose(q) == pytest.approx(v[d >= q].sum(), rel=1e-12)


def test_volume_fraction_queries_are_exact_between_bins():
    # 20 voxels at each of 0.01 ... 1.00 Gy: V(0.945 Gy) is the voxels at 0.95 ... 1.00, 6 %, whatever the bins
    dose = np.broadcast_to(np.linspace(0.01, 1.0, 100), (4, 5, 100)).copy()
    dvh = compute_dvh(dose, np.ones_like(dose), 1e-3, bin_gy=0.1)
    assert dvh.volume_fraction_at_dose(0.945) == pytest.approx(0.06)
    assert dvh.volume_fraction_at_dose(0.0) == pytest.approx(1.0) and dvh.volume_fraction_at_dose(1.01) == 0.0
    assert d_volume(dvh, 95.0) == pytest.approx(0.06)  # the last voxel of 1900 sits at 0.06 Gy
    assert dvh.cumulative_fraction[0] == pytest.approx(1.0) and dvh.cumulative_fraction[-1] == 0.0
    assert np.all(np.diff(dvh.cumulative_fraction) <= 1e-12)


# ----------------------------------------------------------------------------- against dicompyler-core

SPACING = 2.0


def _dose_grid() -> Volume:
    nk, nj, ni = 26, 36, 40
    origin = (-39.0, -35.0, -25.0)
    grid = Volume(np.zeros((nk, nj, ni), np.float32), (SPACING, SPACING, SPACING), origin,
                  frame_of_reference_uid=generate_uid())
    x, y, z = grid.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    # a smooth field with a gradient through the structures: 60 Gy peak, about 20 Gy at its border
    dose = 60.0 * np.exp(-((xx - 5) ** 2 + yy**2) / (2 * 18.0**2) - zz**2 / (2 * 25.0**2)) + 0.2 * xx + 10.0
    return grid.with_values(dose.astype(np.float32))


def _sphere_contours(grid: Volume, centre, radius_mm: float) -> list[np.ndarray]:
    _, _, z = grid.axis_coordinates_mm()
    out = []
    for zc in z:
        r2 = radius_mm**2 - (zc - centre[2]) ** 2
        if r2 <= 0:
            continue
        a = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        r = np.sqrt(r2)
        out.append(np.c_[centre[0] + r * np.cos(a), centre[1] + 0.8 * r * np.sin(a), np.full(a.size, zc)])
    return out


def _mask_from_contours(grid: Volume, contours: list[np.ndarray]) -> np.ndarray:
    """Voxel centres inside each plane's polygon: what dicompyler-core counts, as a 0/1 mask."""
    x, y, z = grid.axis_coordinates_mm()
    yy, xx = np.meshgrid(y, x, indexing="ij")
    points = np.c_[xx.ravel(), yy.ravel()]
    mask = np.zeros(grid.shape, np.float32)
    for c in contours:
        k = int(np.argmin(np.abs(z - c[0, 2])))
        mask[k] = PolygonPath(c[:, :2]).contains_points(points).reshape(yy.shape)
    return mask


def _write_rtstruct(path, grid: Volume, rois: dict[str, list[np.ndarray]]) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.RTStructureSetStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName, ds.PatientID = "RTSTRUCT", "PHANTOM", "PHANTOM"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StructureSetLabel = "test"
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = Sequence(), Sequence(), Sequence()
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, grid.frame_of_reference_uid
        ds.StructureSetROISequence.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber, rc.ROIDisplayColor = number, [255, 0, 0]
        rc.ContourSequence = Sequence()
        for c in contours:
            item = Dataset()
            item.ContourGeometricType, item.NumberOfContourPoints = "CLOSED_PLANAR", len(c)
            item.ContourData = [f"{v:.4f}" for v in c.ravel()]
            rc.ContourSequence.append(item)
        ds.ROIContourSequence.append(rc)
        obs = Dataset()
        obs.ObservationNumber, obs.ReferencedROINumber, obs.RTROIInterpretedType = number, number, "ORGAN"
        ds.RTROIObservationsSequence.append(obs)
    ds.save_as(path, enforce_file_format=True)


def test_metrics_agree_with_dicompyler_core(tmp_path, monkeypatch):
    import pydicom.dicomio

    for module in (pydicom, pydicom.dicomio):  # dicompyler-core 0.5.6 still imports the removed read_file
        monkeypatch.setattr(module, "read_file", pydicom.dcmread, raising=False)
    dvhcalc = pytest.importorskip("dicompylercore.dvhcalc")
    grid = _dose_grid()
    rois = {"sphere": _sphere_contours(grid, (4.0, -3.0, 2.0), 16.0),
            "ellipsoid": _sphere_contours(grid, (-12.0, 8.0, -6.0), 21.0)}
    _write_rtstruct(tmp_path / "RS.dcm", grid, rois)
    write_rtdose(grid.values, grid, tmp_path / "RD.dcm")
    for number, (name, contours) in enumerate(rois.items(), start=1):
        ours = dvh_metrics(grid.values, _mask_from_contours(grid, contours), grid.voxel_volume_cm3, name=name)
        theirs = dvhcalc.get_dvh(str(tmp_path / "RS.dcm"), str(tmp_path / "RD.dcm"), number)
        assert ours.volume_cm3 > 5.0
        assert ours.volume_cm3 == pytest.approx(theirs.volume, rel=0.01), name
        for mine, key in ((ours.dmean_gy, "mean"), (ours.dmin_gy, "min"), (ours.dmax_gy, "max")):
            assert mine == pytest.approx(getattr(theirs, key), rel=0.01), (name, key)
        for percent in (98, 95, 50, 2):
            mine = getattr(ours, f"d{percent}_gy")
            assert mine == pytest.approx(theirs.statistic(f"D{percent}").value, rel=0.01), (name, percent)
        assert v_dose(compute_dvh(grid.values, _mask_from_contours(grid, contours), grid.voxel_volume_cm3), 40.0) == \
            pytest.approx(theirs.statistic("V40Gy").value / theirs.volume * 100, abs=1.0)


def test_the_bin_width_follows_the_dose():
    """A 0.08 Gy maximum used to get 0.01 Gy bins: an 8-step curve.  Now the curve has fine steps at any dose,
    the bins are round numbers, and the metrics (from the voxels) do not change."""
    from braggdesk.analysis.dvh import bin_width_for

    rng = np.random.default_rng(3)
    dose = rng.uniform(0.0, 0.08, size=(20, 20, 20))
    frac = np.ones_like(dose)
    dvh = compute_dvh(dose, frac, 0.001)
    assert len(dvh.bin_edges_gy) - 1 >= 1000
    assert np.count_nonzero(np.diff(dvh.cumulative_cm3)) > 500  # a smooth curve, not 8 steps
    coarse = compute_dvh(dose, frac, 0.001, bin_gy=0.01)
    assert dvh.dose_at_percent(50.0) == coarse.dose_at_percent(50.0)
    assert bin_width_for(70.0) == 0.05 and bin_width_for(2.0) == 0.002 and bin_width_for(0.08) == 5e-5
    assert bin_width_for(0.0) == 0.01 and bin_width_for(float("nan")) == 0.01
