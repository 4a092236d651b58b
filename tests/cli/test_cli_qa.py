"""``braggdesk qa`` as a user runs it: a synthetic case written with our own writers, and the real plan03."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from braggdesk.io.phantoms import make_phantom, write_phantom
from braggdesk.io.rtdose import write_rtdose
from braggdesk.model import Roi

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022"
PLAN02 = DATA / "plans" / "plan02_mono_eclipse"
PLAN03 = DATA / "plans" / "plan03_sobp_raystation"
BEAM_MODEL = DATA / "beam_model" / "DCPT_beam_model__v2.csv"


def _qa(*args):
    return subprocess.run([sys.executable, "-m", "braggdesk", "qa", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _page_count(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))


@pytest.fixture(scope="module")
def synthetic_case(tmp_path_factory):
    """A water phantom CT with a target ROI, a smooth SOBP-like reference dose, and the dose shifted 3 mm."""
    folder = tmp_path_factory.mktemp("qa_case")
    iso = (0.0, -80.0, 0.0)  # plan02's isocentre, so its beam lies on the phantom
    phantom = make_phantom("water", spacing_mm=4.0, isocenter_mm=iso)
    ct = phantom.volume
    x, y, z = ct.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z - iso[2], y - iso[1], x - iso[0], indexing="ij")
    target_contours = [np.array([[-20, iso[1] - 10, zc], [20, iso[1] - 10, zc], [20, iso[1] + 30, zc],
                                 [-20, iso[1] + 30, zc]], float) for zc in np.arange(-20.0, 20.1, 4.0)]
    target = Roi(number=10, name="PTV", color_rgb=(255, 0, 0), roi_type="PTV", contours=target_contours)
    write_phantom(phantom, folder / "ct", extra_rois=[target])

    def edge(v, lo, hi, s=3.0):
        return 1 / (1 + np.exp(-(v - lo) / s)) / (1 + np.exp((v - hi) / s))

    def dose(shift):
        return (2.0 * edge(xx, -30, 30) * edge(zz, -30, 30) * (0.6 + 0.4 * edge(yy - shift, -10, 30)) /
                (1 + np.exp((yy - shift - 30) / 2.0))).astype(np.float32)

    reference = write_rtdose(dose(0.0), ct, folder / "RD_reference.dcm")
    identical = write_rtdose(dose(0.0), ct, folder / "RD_identical.dcm")
    shifted = write_rtdose(dose(3.0), ct, folder / "RD_shifted.dcm")
    return folder, reference, identical, shifted


def test_qa_of_a_given_identical_and_a_shifted_dose(synthetic_case, tmp_path):
    folder, reference, identical, shifted = synthetic_case
    plan = next(PLAN02.glob("RN*.dcm"))
    common = ["--ct", folder / "ct", "--plan", plan, "--structures", folder / "ct" / "RS_phantom.dcm",
              "--reference", reference]
    res = _qa(*common, "--dose", identical, "--report", tmp_path / "same.pdf", "--json", "-")
    assert res.returncode == 0, res.stderr
    same = json.loads(res.stdout)
    for key in ("gamma_3pct_3mm_pass_rate_percent", "gamma_2pct_2mm_pass_rate_percent",
                "gamma_1pct_1mm_pass_rate_percent", "dose_ratio_median", "absolute_dose_mismatch", "structures",
                "gamma", "engine", "device", "braggdesk_version", "seed", "date", "normalised_to_reference"):
        assert key in same, key
    assert [g["pass_rate_percent"] for g in same["gamma"]] == [100.0, 100.0, 100.0]
    assert same["dose_ratio_median"] == pytest.approx(1.0, abs=1e-6) and same["absolute_dose_mismatch"] is False
    assert same["dose_source"] == "given" and same["target"] == "PTV"
    ptv = next(s for s in same["structures"] if s["name"] == "PTV")
    assert abs(ptv["difference_gy"]["dmean_gy"]) < 1e-6 and ptv["reference"]["dmean_gy"] > 1.5

    res = _qa(*common, "--dose", shifted, "--report", tmp_path / "shifted.pdf", "--json", tmp_path / "s.json")
    assert res.returncode == 0, res.stderr
    moved = json.loads((tmp_path / "s.json").read_text())
    assert moved["gamma_3pct_3mm_pass_rate_percent"] > 99.0
    assert moved["gamma_1pct_1mm_pass_rate_percent"] < 95.0
    assert moved["distal_r80_evaluated_mm"] - moved["distal_r80_reference_mm"] == pytest.approx(3.0, abs=0.5)
    assert "pass rate" in res.stdout

    pdf = tmp_path / "shifted.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and _page_count(pdf) >= 5  # summary, dose, DVH, gamma, difference


def test_qa_refuses_bad_input_in_one_line(synthetic_case, tmp_path):
    folder, reference, identical, _ = synthetic_case
    plan = next(PLAN02.glob("RN*.dcm"))
    common = ["--ct", folder / "ct", "--plan", plan, "--structures", folder / "ct" / "RS_phantom.dcm",
              "--report", tmp_path / "r.pdf"]
    res = _qa(*common, "--reference", reference, "--dose", identical, "--target", "Bladder")
    assert res.returncode == 2 and "Bladder" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = _qa(*common, "--reference", reference, "--dose", identical, "--mu-scale", "-3")
    assert res.returncode == 2 and "--mu-scale" in res.stderr
    # the real plan03 RT Dose is on the planning CT's frame of reference, not this phantom's
    res = _qa(*common, "--reference", next(PLAN03.glob("RD*.dcm")), "--dose", identical)
    assert res.returncode == 2 and "frame of reference" in res.stderr


@pytest.mark.slow
def test_qa_of_the_real_raystation_plan03_finds_the_mu_scale_mismatch(tmp_path):
    """The real plan, recalculated with few primaries on the DCPT phantom as the TPS modelled it (geometry A,
    205 x 200 mm laterally): MC/TPS ~ 0.0097, flagged, and the comparison says so."""
    phantom = make_phantom("dcpt", geometry="A", spacing_mm=5.0, lateral_mm=(205.0, 200.0))
    write_phantom(phantom, tmp_path / "ct")
    res = _qa("--ct", tmp_path / "ct", "--plan", next(PLAN03.glob("RP*.dcm")),
              "--structures", next(PLAN03.glob("RS*.dcm")), "--reference", next(PLAN03.glob("RD*.dcm")),
              "--beam-model", BEAM_MODEL, "--ignore-frame-of-reference", "--primaries", "60000", "--batches", "2",
              "--device", "cpu", "--report", tmp_path / "qa.pdf", "--json", "-")
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["absolute_dose_mismatch"] is True and 0.007 < s["dose_ratio_median"] < 0.013
    assert s["normalised_to_reference"] is False and s["target"] == "Cube101010"
    assert "WARNING: absolute dose mismatch" in res.stderr + res.stdout
    assert _page_count(tmp_path / "qa.pdf") >= 5


def test_a_course_reference_is_compared_with_the_course_of_a_dose_of_one_fraction(synthetic_case, tmp_path):
    """A planning system's PLAN dose is the course's; a dose of one fraction of a 30-fraction plan is compared x 30."""
    import pydicom

    from braggdesk.io.rtdose import read_rtdose

    folder, reference, identical, _ = synthetic_case
    ds = pydicom.dcmread(next(PLAN02.glob("RN*.dcm")))
    ds.FractionGroupSequence[0].NumberOfFractionsPlanned = 30
    plan = tmp_path / "RN_30_fractions.dcm"
    ds.save_as(plan)
    course = read_rtdose(identical)
    one_fraction = write_rtdose((course.values / 30).astype(np.float32), course, tmp_path / "RD_fraction.dcm",
                                summation="FRACTION")
    res = _qa("--ct", folder / "ct", "--plan", plan, "--structures", folder / "ct" / "RS_phantom.dcm",
              "--reference", reference, "--dose", one_fraction, "--report", tmp_path / "qa.pdf", "--json", "-")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["fractions_scale"] == 30.0
    assert summary["dose_ratio_median"] == pytest.approx(1.0, abs=1e-3) and summary["absolute_dose_mismatch"] is False
    assert summary["gamma_2pct_2mm_pass_rate_percent"] == 100.0
    assert any("compared x 30" in note for note in summary["notes"])
