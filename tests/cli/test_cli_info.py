"""``braggdesk info``: an inventory of real exports, for people and as JSON, without patient identity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from braggdesk.io.deidentify import PatientIdentity
from braggdesk.io.dicom_ct import write_ct_series
from braggdesk.model import Volume

DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
PLAN03 = DATA / "dcpt-let-2022" / "plans" / "plan03_sobp_raystation"
PLAN06 = DATA / "dcpt-let-2022" / "plans" / "plan06_sobp_4d_rangeshifter_raystation"

pytestmark = pytest.mark.skipif(not PLAN03.is_dir(), reason="shared data sets not available")


def braggdesk(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "braggdesk", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_info_json_on_a_raystation_export_with_a_ct(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    for f in PLAN03.glob("*.dcm"):
        (export / f.name).write_bytes(f.read_bytes())
    volume = Volume(values=np.zeros((4, 16, 16), dtype=np.float32), spacing_mm=(1.0, 1.0, 2.5), origin_mm=(-8, -8, -4),
                    frame_of_reference_uid="1.2.826.0.1.3680043.8.498.71", series_instance_uid="1.2.826.0.1.3680043.8.498.72")
    write_ct_series(volume, export / "ct", series_description="planning CT",
                    identity=PatientIdentity(patient_name="ROE^RICHARD", patient_id="SECRET-ID-1"), identified=True)
    res = braggdesk("info", export, "--json", "-")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    (series,) = info["ct_series"]
    assert series["size"] == [16, 16, 4] and series["spacing_mm"] == [1.0, 1.0, 2.5]
    assert series["folder"] == "ct" and series["orientation"] == "axial" and series["description"] == "planning CT"
    (rs,) = info["structure_sets"]
    assert [(r["name"], r["roi_type"]) for r in rs["rois"]] == [
        ("Cube101010", "PTV"), ("Slope101004", "PTV"), ("External", "EXTERNAL"), ("PMMA", "ORGAN"), ("LoPo", "MARKER")]
    assert all("volume_cm3" in r for r in rs["rois"])
    (plan,) = info["plans"]
    (beam,) = plan["beams"]
    assert (beam["layers"], beam["spots"]) == (34, 9218)
    assert beam["energy_min_mev"] == pytest.approx(78.5) and beam["energy_max_mev"] == pytest.approx(149.9)
    assert plan["total_mu"] == pytest.approx(497.338, abs=1e-3)
    (dose,) = info["doses"]
    assert dose["size"] == [105, 105, 107] and dose["spacing_mm"] == [2.0, 2.0, 2.0]
    assert dose["max_dose_gy"] == pytest.approx(1.98, abs=0.005) and dose["dose_type"] == "PHYSICAL"
    # nothing identifying, neither the real export's patient nor our test patient
    text = res.stdout + res.stderr
    for f in PLAN03.glob("*.dcm"):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        for value in (str(ds.PatientName), str(ds.PatientID)):
            assert not value or value not in text
    assert "ROE" not in text and "SECRET-ID-1" not in text
    for line in ("CT series", "RTSTRUCT", "RT Ion Plan", "RTDOSE"):
        assert line in res.stderr  # the human summary goes to stderr when the JSON takes stdout


def test_info_text_on_one_plan_file():
    plan = next(PLAN06.glob("RP*.dcm"))
    res = braggdesk("info", plan)
    assert res.returncode == 0, res.stderr
    assert "15 layers 81.4-125.9 MeV, 5775 spots" in res.stdout and "range shifter RS_3CM" in res.stdout
