"""``braggdesk plan`` on a water phantom written as DICOM: the files it writes, bad input, nothing lost."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from planning_cases import DCPT_MODEL, box_roi  # noqa: E402

from braggdesk.cli import main  # noqa: E402
from braggdesk.io.phantoms import make_phantom, write_phantom  # noqa: E402
from braggdesk.io.rtdose import read_rtdose  # noqa: E402
from braggdesk.io.rtplan import read_rt_ion_plan  # noqa: E402

OBJECTIVES = """
prescription_gy = 60.0
fractions = 30
goals = ["PTV D95% >= 57 Gy", "Organ Dmean <= 20 Gy"]
[[beam]]
gantry_deg = 0
[design]
spot_spacing_mm = 6.0
margin_mm = 3.0
histories_per_spot = 300
[[objective]]
structure = "PTV"
kind = "uniform"
dose_gy = 60.0
weight = 100
[[objective]]
structure = "Organ"
kind = "mean"
dose_gy = 0.0
weight = 1
"""


@pytest.fixture(scope="module")
def patient(tmp_path_factory) -> Path:
    """A 5 mm water phantom (entrance 100 mm upstream of the isocentre) with a 30 mm PTV 60-90 mm deep."""
    folder = tmp_path_factory.mktemp("patient")
    phantom = make_phantom("water", spacing_mm=5.0)
    _, _, z = phantom.volume.axis_coordinates_mm()
    rois = [box_roi(10, "PTV", (-15, -40, -15), (15, -10, 15), z),
            box_roi(11, "Organ", (25, -40, -15), (40, -10, 15), z, "ORGAN")]
    write_phantom(phantom, folder, extra_rois=rois)
    (folder / "objectives.toml").write_text(OBJECTIVES)
    return folder


def _plan(patient: Path, out: Path, *extra: str, objectives: Path | None = None) -> int:
    return main(["plan", "--ct", str(patient), "--structures", str(patient / "RS_phantom.dcm"),
                 "--objectives", str(objectives or patient / "objectives.toml"), "--beam-model", str(DCPT_MODEL),
                 "--primaries", "200000", "--batches", "2", "--device", "cpu", "--out", str(out), *extra])


def test_plan_writes_the_rt_ion_plan_the_doses_the_report_and_the_goals(patient, tmp_path, capsys):
    out = tmp_path / "plan"
    assert _plan(patient, out, "--save-dij") == 0
    for name in ("RP_plan.dcm", "RD_plan.dcm", "RD_dij.dcm", "report.pdf", "goals.json", "dij.npz"):
        assert (out / name).is_file(), name
    plan = read_rt_ion_plan(out / "RP_plan.dcm")
    assert plan.fractions_planned == 30 and plan.n_spots > 50
    dose = read_rtdose(out / "RD_plan.dcm")
    summary = json.loads((out / "goals.json").read_text())
    ptv = summary["structures"]["final_mc"]["PTV"]
    assert 0.9 * 60 < ptv["mean_gy"] < 1.1 * 60  # total dose over 30 fractions
    assert dose.values.max() == pytest.approx(summary["structures"]["final_mc"]["PTV"]["max_gy"], rel=0.05)
    assert [g["goal"] for g in summary["goals"]] == ["PTV D95% >= 57 Gy", "Organ Dmean <= 20 Gy"]
    assert summary["goals"][1]["met"] is True
    err = capsys.readouterr().err
    assert "goal PTV D95% >= 57 Gy" in err and "Traceback" not in err
    # the plan is accepted by `braggdesk run`
    assert main(["run", "--ct", str(patient), "--plan", str(out / "RP_plan.dcm"), "--beam-model", str(DCPT_MODEL),
                 "--primaries", "20000", "--batches", "1", "--device", "cpu", "--out", str(tmp_path / "rd.dcm")]) == 0


def test_an_unknown_key_in_the_objectives_file_is_one_line_naming_file_and_entry(patient, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(OBJECTIVES.replace('kind = "mean"', 'kind = "mean"\nweigth = 3'))
    assert _plan(patient, tmp_path / "out", objectives=bad) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "objective 2 (Organ)" in err[0] and "weigth" in err[0]


def test_an_unknown_structure_stops_before_any_monte_carlo(patient, tmp_path, capsys):
    bad = tmp_path / "cord.toml"
    bad.write_text(OBJECTIVES.replace('structure = "Organ"', 'structure = "SpinalCord"'))
    assert _plan(patient, tmp_path / "out", objectives=bad) == 2
    err = capsys.readouterr().err
    assert "objective 2 (SpinalCord): no structure of that name" in err and "dose-influence" not in err


def test_a_failure_after_the_optimiser_keeps_the_plan_and_the_matrix(patient, tmp_path, monkeypatch, capsys):
    from braggdesk.cli import plan as plan_command
    from braggdesk.errors import DeviceError

    def broken_runner(job, args):
        raise DeviceError("the GPU went away")

    monkeypatch.setattr("braggdesk.cli.runner_options.make_runner", broken_runner)
    out = tmp_path / "plan"
    assert _plan(patient, out) == 1  # a device failure before any batch of the final dose: exit 1
    assert (out / "RP_plan.dcm").is_file() and (out / "RD_dij.dcm").is_file()
    assert (out / "dij.npz").is_file() and plan_command.EXIT_PARTIAL == 3
    err = capsys.readouterr().err
    assert "the dose-influence matrix is kept in" in err and "the GPU went away" in err


def test_plan_with_a_worker_node_computes_the_matrix_and_the_final_dose_there(patient, tmp_path, capsys):
    out = tmp_path / "plan"
    assert _plan(patient, out, "--pipe") == 0  # a `braggdesk worker` process speaking the wire, as over SSH
    err = capsys.readouterr().err
    assert "dose-influence matrix: 300 histories per spot" in err and ", remote" in err
    assert (out / "RD_plan.dcm").is_file() and (out / "RP_plan.dcm").is_file()


def test_a_matrix_target_uncertainty_adds_passes_here_and_on_a_node_alike(patient, tmp_path, capsys):
    out = tmp_path / "plan"
    assert _plan(patient, out, "--dij-uncertainty", "0.08", "--max-iterations", "20") == 0
    dij = json.loads((out / "goals.json").read_text())["dij"]
    assert dij["histories_per_spot_first_pass"] == 300 and dij["histories_per_spot"] > 300  # passes add to every spot
    assert dij["mean_spot_uncertainty"] <= 0.08
    assert "pass 2" in capsys.readouterr().err
    node = tmp_path / "node"
    assert _plan(patient, node, "--dij-uncertainty", "0.08", "--max-iterations", "20", "--pipe") == 0
    on_node = json.loads((node / "goals.json").read_text())["dij"]
    assert "pass 2" in capsys.readouterr().err
    for key in ("histories_per_spot", "mean_spot_uncertainty", "entries"):
        assert on_node[key] == dij[key], key
