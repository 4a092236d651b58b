"""The braggdesk command end to end, as a user runs it (in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dcpt-let-2022"
PLAN02 = next((DATA / "plans" / "plan02_mono_eclipse").glob("RN*.dcm"))
MODEL_V2 = DATA / "beam_model" / "DCPT_beam_model__v2.csv"


def braggdesk(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "braggdesk", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_demo_writes_rtdose_png_and_summary(tmp_path):
    res = braggdesk("demo", "--out", tmp_path / "demo", "--primaries", "4000", "--batches", "2",
                    "--json", tmp_path / "demo.json")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "demo.json").read_text())
    assert summary["primaries"] == 4000 and summary["max_dose_gy"] > 0
    assert summary["primaries_per_second"] > 0 and 0 < summary["mean_relative_uncertainty"] < 1
    for word in ("primaries", "time", "primaries per second", "mean uncertainty"):
        assert word in res.stdout
    ds = pydicom.dcmread(tmp_path / "demo" / "RD_demo.dcm")
    assert ds.Modality == "RTDOSE" and ds.DoseUnits == "GY"
    png = (tmp_path / "demo" / "dose_slices.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "demo" / "report.pdf").read_bytes()[:5] == b"%PDF-" and summary["pdf"].endswith("report.pdf")
    from braggdesk.io.rtstruct import read_rtstruct

    structures = read_rtstruct(summary["rtstruct"])
    assert structures.names() == ["External", "Water", "Bone_Cortical", "Lung", "Target (demo SOBP)"]
    assert structures.frame_of_reference_uid == ds.FrameOfReferenceUID


def test_convert_openkbp_reports_volumes_that_match_the_masks(tmp_path):
    res = braggdesk("convert", "openkbp", DATA.parent / "openkbp-hn-pt1", "--out", tmp_path / "pt1", "--json", "-")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    rows = {r["name"]: r for r in report["structures"]}
    assert rows["PTV70"]["mask_voxels"] == 14610
    for r in rows.values():
        assert r["contour_volume_cm3"] == pytest.approx(r["mask_volume_cm3"], abs=1e-3)
    assert "derived from OpenKBP" in res.stderr
    assert len(list((tmp_path / "pt1").glob("CT*.dcm"))) == 128
    bad = braggdesk("convert", "openkbp", tmp_path / "nowhere", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr


def test_phantom_then_run_a_real_plan_with_json_summary(tmp_path):
    ct = tmp_path / "ct"
    res = braggdesk("phantom", "dcpt", "--geometry", "D", "--plan", PLAN02, "--spacing", "4", "--out", ct)
    assert res.returncode == 0, res.stderr
    assert (ct / "ct_calibration.csv").exists()
    out = tmp_path / "RD.dcm"
    refused = braggdesk("run", "--ct", ct, "--plan", PLAN02, "--beam-model", MODEL_V2, "--primaries", "500",
                        "--out", out)
    assert refused.returncode == 2 and "frame of reference" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) <= 2
    res = braggdesk("run", "--ct", ct, "--plan", PLAN02, "--beam-model", MODEL_V2, "--primaries", "2000",
                    "--batches", "2", "--ignore-frame-of-reference", "--identified", "--out", out, "--json", "-")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    for key in ("primaries", "seconds", "primaries_per_second", "mean_relative_uncertainty", "device", "max_dose_gy"):
        assert key in summary
    assert summary["frame_of_reference_ignored"] is True
    ds = pydicom.dcmread(out)
    assert ds.PatientIdentityRemoved == "NO"  # --identified: the CT's patient fields, so the TPS files it there
    assert ds.PatientID == pydicom.dcmread(next(ct.glob("*.dcm"))).PatientID
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == pydicom.dcmread(PLAN02).SOPInstanceUID


def test_run_says_when_densities_were_extrapolated(tmp_path):
    ct = tmp_path / "ct"
    assert braggdesk("phantom", "dcpt", "--geometry", "D", "--plan", PLAN02, "--spacing", "8", "--out", ct).returncode == 0
    short = tmp_path / "short.csv"  # the density table ends at HU 0: Solid Water HE (20) and PMMA (120) lie beyond
    short.write_text("[density]\nhu,density_g_cm3\n-1000,0.00120479\n0,1.0\n"
                     "[materials]\nhu_min,material\n-1000,Air\n-500,Solid_Water_HE\n70,PMMA\n")
    res = braggdesk("run", "--ct", ct, "--plan", PLAN02, "--beam-model", MODEL_V2, "--ct-calibration", short,
                    "--primaries", "300", "--batches", "1", "--ignore-frame-of-reference", "--out", tmp_path / "RD.dcm",
                    "--json", "-")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    (note,) = [n for n in summary["notes"] if "extrapolated" in n or "last segment" in n]
    assert "calibration 'short'" in note and "HU above 0, its last density point" in note
    assert f"braggdesk run: note: {note}" in res.stderr


@pytest.mark.parametrize("case", ["no_ct", "bad_model", "energy_outside", "not_a_plan"])
def test_bad_input_gives_one_clear_line_and_nonzero_exit(tmp_path, case):
    ct = tmp_path / "ct"
    assert braggdesk("phantom", "water", "--spacing", "8", "--out", ct).returncode == 0
    args = {"ct": ct, "plan": PLAN02, "model": MODEL_V2}
    expect = ""
    if case == "no_ct":
        empty = tmp_path / "empty"
        empty.mkdir()
        (empty / "notes.txt").write_text("not dicom")
        args["ct"], expect = empty, str(empty)
    elif case == "bad_model":
        bad = tmp_path / "model.csv"
        bad.write_text("this is not a beam model\n1,2,three\n")
        args["model"], expect = bad, str(bad)
    elif case == "energy_outside":
        narrow = tmp_path / "narrow.csv"
        lines = MODEL_V2.read_text().splitlines()
        narrow.write_text("\n".join([l for l in lines if l.startswith("#")] + [l for l in lines if l.startswith("7")][:20]) + "\n")
        args["model"], expect = narrow, f"{PLAN02}: beam 'Field 1', layer 1: nominal energy 160 MeV is outside"
    else:
        args["plan"], expect = next(ct.glob("*.dcm")), "RT Ion Plan"
    res = braggdesk("run", "--ct", args["ct"], "--plan", args["plan"], "--beam-model", args["model"],
                    "--primaries", "100", "--ignore-frame-of-reference", "--out", tmp_path / "RD.dcm")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert expect in res.stderr, res.stderr
    errors = [line for line in res.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, res.stderr


def test_bench_refuses_an_unknown_case():
    res = braggdesk("bench", "--cases", "engine,nope")
    assert res.returncode == 2 and "nope" in res.stderr and "Traceback" not in res.stderr


def test_a_device_that_fails_mid_run_keeps_the_batches_done(tmp_path, monkeypatch, capsys):
    """A GPU that fails in the third batch (out of memory, a driver error): the dose of the two batches done
    is written, marked PARTIAL, with the error on one line and exit code 3."""
    from braggdesk.cli import main
    from braggdesk.engine import executor
    from braggdesk.errors import DeviceError

    ct = tmp_path / "ct"
    assert main(["phantom", "dcpt", "--geometry", "D", "--plan", str(PLAN02), "--spacing", "8", "--out", str(ct)]) == 0
    calls = []
    real_run = executor.CpuExecutor.run

    def failing(self, key, n):
        calls.append(n)
        if len(calls) == 3:
            raise DeviceError("the GPU failed during a batch of 100 histories: CUDA_ERROR_OUT_OF_MEMORY")
        return real_run(self, key, n)

    monkeypatch.setattr(executor.CpuExecutor, "run", failing)
    out = tmp_path / "RD.dcm"
    rc = main(["run", "--ct", str(ct), "--plan", str(PLAN02), "--beam-model", str(MODEL_V2), "--primaries", "500",
               "--batches", "5", "--device", "cpu", "--ignore-frame-of-reference", "--out", str(out), "--json", "-"])
    captured = capsys.readouterr()
    assert rc == 3
    assert "CUDA_ERROR_OUT_OF_MEMORY" in captured.err and "200 primaries done are kept (PARTIAL)" in captured.err
    summary = json.loads(captured.out[captured.out.index("{"):])
    assert summary["primaries"] == 200 and summary["partial"] is True and "OUT_OF_MEMORY" in summary["device_error"]
    assert "(PARTIAL)" in pydicom.dcmread(out).DoseComment
