"""``braggdesk run --export DIR``: the maps and tables the GUI's File > Export writes, read back equal to the RTDOSE."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")


def test_run_exports_maps_and_tables(tmp_path, capsys):
    from braggdesk.cli import main
    from braggdesk.io.demo_case import demo_case
    from braggdesk.io.phantoms import write_phantom
    from braggdesk.io.rtdose import read_rtdose
    from braggdesk.io.rtplan_writer import write_rt_ion_plan

    case = demo_case(spacing_mm=8.0)
    written = write_phantom(case.phantom, tmp_path / "ct")
    rtstruct = next(p for p in written if p.name == "RS_phantom.dcm")
    write_rt_ion_plan(case.plan, tmp_path / "RP.dcm", ct=case.phantom.volume, beam_model=case.beam_model)
    code = main(["run", "--ct", str(tmp_path / "ct"), "--plan", str(tmp_path / "RP.dcm"), "--primaries", "2000",
                 "--batches", "2", "--device", "cpu", "--out", str(tmp_path / "RD.dcm"), "--export",
                 str(tmp_path / "out"), "--export-format", "mhd", "--structures", str(rtstruct), "--json", "-"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(p.rsplit("/", 1)[1] for p in summary["exported"]) == [
        "dose.mhd", "dvh.csv", "let.mhd", "metrics.csv", "uncertainty.mhd"]
    dose = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "dose.mhd")))
    rtdose = read_rtdose(tmp_path / "RD.dcm")
    assert np.allclose(dose, rtdose.values, rtol=1e-3, atol=1e-4 * float(dose.max()))
    let = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "let.mhd")))
    assert let.shape == dose.shape and float(let[dose > 0.5 * dose.max()].min()) > 0
    with open(tmp_path / "out" / "metrics.csv", newline="") as fh:
        names = [r["structure"] for r in csv.DictReader(fh)]
    assert names == ["External", "Water", "Bone_Cortical", "Lung"]
