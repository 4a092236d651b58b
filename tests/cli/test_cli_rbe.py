"""``braggdesk run --rbe``: an extra RT Dose of DoseType EFFECTIVE, equal to ``bd.rbe_weighted`` of the same run."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from braggdesk.io.demo_case import demo_case
    from braggdesk.io.phantoms import write_phantom
    from braggdesk.io.rtplan_writer import write_rt_ion_plan

    tmp = tmp_path_factory.mktemp("rbe")
    case = demo_case(spacing_mm=8.0)
    written = write_phantom(case.phantom, tmp / "ct")
    write_rt_ion_plan(case.plan, tmp / "RP.dcm", ct=case.phantom.volume, beam_model=case.beam_model)
    return tmp, next(p for p in written if p.name == "RS_phantom.dcm"), case


def test_run_writes_an_effective_rtdose_equal_to_the_api(files, capsys):
    import braggdesk as bd
    from braggdesk.cli import main
    from braggdesk.io.rtdose import read_rtdose

    tmp, rtstruct, case = files
    args = ["run", "--ct", str(tmp / "ct"), "--plan", str(tmp / "RP.dcm"), "--primaries", "3000", "--batches", "2",
            "--device", "cpu", "--seed", "5", "--out", str(tmp / "RD.dcm"), "--structures", str(rtstruct),
            "--rbe", "mcnamara", "--alpha-beta", "10", "--alpha-beta-structure", "Bone_Cortical=2", "--fractions",
            "1", "--json", "-"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rtdose_rbe"].endswith("RD_rbe.dcm") and "McNamara" in summary["rbe"]
    ds = pydicom.dcmread(summary["rtdose_rbe"])
    assert ds.DoseType == "EFFECTIVE" and pydicom.dcmread(tmp / "RD.dcm").DoseType == "PHYSICAL"
    effective = read_rtdose(summary["rtdose_rbe"]).values

    # the same run through the API (same seed: the same dose), weighted by the API
    ws = bd.open_folder(tmp / "ct")
    job = bd.make_job(ws.ct(), bd.open_folder(tmp / "RP.dcm").plan(), primaries=3000, batches=2, seed=5,
                      device="cpu", ct_folder=tmp / "ct")
    dose = bd.calculate(job).run()
    masks = bd.structure_masks(ws.structure_sets(), ws.ct())
    api = bd.rbe_weighted(dose, model="mcnamara", alpha_beta=10, alpha_beta_by_structure={"Bone_Cortical": 2},
                          structures=masks, fractions=1)
    top = float(api.max())
    assert np.allclose(effective, api, rtol=1e-3, atol=1e-4 * top)
    physical = read_rtdose(tmp / "RD.dcm").values
    inside = physical > 0.5 * physical.max()
    assert float(np.median(effective[inside] / physical[inside])) > 1.0  # weighted, not a copy


def test_bad_rbe_options_end_before_the_run_with_one_line(files, capsys):
    from braggdesk.cli import main

    tmp, rtstruct, _ = files
    base = ["run", "--ct", str(tmp / "ct"), "--plan", str(tmp / "RP.dcm"), "--primaries", "100", "--device", "cpu",
            "--out", str(tmp / "bad.dcm"), "--rbe", "mcnamara"]
    assert main(base + ["--alpha-beta", "0"]) == 2
    assert "alpha/beta must be a positive number of Gy, got 0" in capsys.readouterr().err
    assert main(base + ["--alpha-beta-structure", "Cord=2"]) == 2
    assert "give the RT Structure Set with --structures" in capsys.readouterr().err
    assert main(base + ["--structures", str(rtstruct), "--alpha-beta-structure", "Cord=2"]) == 2
    err = capsys.readouterr().err
    assert "'Cord', but there is no such structure" in err and len(err.strip().splitlines()) == 1
    assert not (tmp / "bad.dcm").exists()


def test_demo_rbe_writes_the_effective_dose_and_reports_it(tmp_path, capsys):
    from braggdesk.cli import main

    code = main(["demo", "--out", str(tmp_path / "demo"), "--spacing", "8", "--primaries", "2000", "--batches", "2",
                 "--device", "cpu", "--rbe", "wedenberg", "--alpha-beta", "3", "--json", "-"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert pydicom.dcmread(summary["rtdose_rbe"]).DoseType == "EFFECTIVE"
    assert (tmp_path / "demo" / "report.pdf").read_bytes().startswith(b"%PDF")
