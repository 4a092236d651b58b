"""The real OpenKBP head-and-neck case: orientation from anatomy, and a DICOM conversion that keeps every voxel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from braggdesk.analysis.rasterize import rasterize_structure_set
from braggdesk.errors import InputError
from braggdesk.io.dicom_ct import read_ct_series
from braggdesk.io.openkbp import read_openkbp, write_openkbp_dicom
from braggdesk.io.rtstruct import read_rtstruct

CASE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "openkbp-hn-pt1" / "pt_1"
# voxel counts of the CSV masks, as the data README lists them
VOXELS = {"PTV70": 14610, "PTV63": 3807, "PTV56": 2826, "Brainstem": 251, "SpinalCord": 421, "LeftParotid": 298,
          "RightParotid": 136, "Mandible": 1839}


@pytest.fixture(scope="module")
def case():
    return read_openkbp(CASE.parent)  # the folder holding pt_1 also works


def _centre(case, name):
    k, j, i = np.nonzero(case.masks[name])
    return case.volume.index_to_patient()[:3] @ np.array([i.mean(), j.mean(), k.mean(), 1.0])


def test_anatomy_is_in_dicom_patient_orientation(case):
    v = case.volume
    assert v.shape == (128, 128, 128) and v.spacing_mm == (3.906, 3.906, 2.5)
    assert {n: int(m.sum()) for n, m in case.masks.items() if n in VOXELS} == VOXELS
    assert _centre(case, "LeftParotid")[0] > _centre(case, "RightParotid")[0] + 50  # patient left is +x
    assert _centre(case, "Mandible")[1] < _centre(case, "SpinalCord")[1] - 50  # anterior is -y
    assert _centre(case, "Brainstem")[2] > _centre(case, "SpinalCord")[2] + 50  # superior is +z
    assert v.values.min() == -1000.0 and 1000.0 < v.values.max() < 3000.0  # air to bone
    brainstem_hu = np.median(v.values[case.masks["Brainstem"]])
    assert 0.0 < brainstem_hu < 80.0  # soft tissue
    body = case.masks["BODY"]
    assert body.sum() > case.masks["PTV70"].sum() and np.all(body[case.masks["Brainstem"]])


def test_dicom_conversion_keeps_every_voxel(case, tmp_path):
    ct_paths, rs_path = write_openkbp_dicom(case, tmp_path)
    assert len(ct_paths) == 128
    ct = read_ct_series(tmp_path)
    np.testing.assert_array_equal(ct.hu, case.volume.hu)
    ss = read_rtstruct(rs_path)
    assert ss.frame_of_reference_uid == ct.frame_of_reference_uid
    for mask in rasterize_structure_set(ss, ct):
        expected = case.masks[mask.name]
        np.testing.assert_array_equal(mask.fraction, expected.astype(np.float32), err_msg=mask.name)
        if mask.name in VOXELS:
            assert mask.volume_cm3 == pytest.approx(VOXELS[mask.name] * ct.voxel_volume_cm3, rel=1e-9)
    assert ss.by_name("PTV70").roi_type == "PTV" and ss.by_name("BODY").roi_type == "EXTERNAL"


def test_not_an_openkbp_folder(tmp_path):
    with pytest.raises(InputError, match="no ct.csv"):
        read_openkbp(tmp_path)
    (tmp_path / "ct.csv").write_text(",data\n5,1000\n")
    (tmp_path / "voxel_dimensions.csv").write_text("3.9\n3.9\n")
    with pytest.raises(InputError, match="voxel_dimensions.csv.*three"):
        read_openkbp(tmp_path)
    (tmp_path / "voxel_dimensions.csv").write_text("3.9\n3.9\n2.5\n")
    (tmp_path / "ct.csv").write_text(",data\n99999999,1000\n")
    with pytest.raises(InputError, match="ct.csv.*voxel indices"):
        read_openkbp(tmp_path)
