"""``braggdesk robust`` as a user runs it: a water phantom with a PTV, a real plan, goals; bad input one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from braggdesk.io.phantoms import make_phantom, write_phantom
from braggdesk.io.rtdose import read_rtdose
from braggdesk.model import Roi

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022"
PLAN02 = next((DATA / "plans" / "plan02_mono_eclipse").glob("RN*.dcm"))
BEAM_MODEL = DATA / "beam_model" / "DCPT_beam_model__v2.csv"
GOALS = """
[[goal]]
structure = "PTV"
metric = "Dmax"
threshold = 1000
comparison = "<="

[[goal]]
goal = "PTV D98% >= 0.5 Gy"
"""


def _robust(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "braggdesk", "robust", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """plan02's single field on a water phantom (4 mm voxels) with a PTV box around its isocentre."""
    folder = tmp_path_factory.mktemp("robust_case")
    iso = (0.0, -80.0, 0.0)
    phantom = make_phantom("water", spacing_mm=4.0, isocenter_mm=iso)
    contours = [np.array([[-20, iso[1] - 10, z], [20, iso[1] - 10, z], [20, iso[1] + 30, z], [-20, iso[1] + 30, z]],
                         float) for z in np.arange(-20.0, 20.1, 4.0)]
    write_phantom(phantom, folder / "ct", extra_rois=[Roi(number=10, name="PTV", roi_type="PTV", contours=contours)])
    (folder / "goals.toml").write_text(GOALS)
    structures = next((folder / "ct").glob("RS*.dcm"))
    common = ["--ct", folder / "ct", "--plan", PLAN02, "--structures", structures, "--beam-model", BEAM_MODEL,
              "--ignore-frame-of-reference", "--device", "cpu", "--batches", "2", "--seed", "5"]
    return folder, common


def test_nine_scenarios_give_goals_per_scenario_bands_and_min_max_doses(case, tmp_path):
    folder, common = case
    done = _robust(*common, "--goals", folder / "goals.toml", "--primaries", "3000", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "robust.json").read_text())
    names = [s["name"] for s in summary["scenarios"]]
    assert len(names) == 9 and names[0] == "nominal" and "x+3mm" in names and "range-3.5%" in names
    dmax, d98 = summary["goals"]
    assert dmax["goal"] == "PTV Dmax <= 1000 Gy" and dmax["met_in_all_scenarios"]
    assert set(dmax["per_scenario"]) == set(names)
    # the worst scenario is the one with the smallest margin, as reported per scenario
    margins = {n: r["margin"] for n, r in d98["per_scenario"].items()}
    assert d98["worst_scenario"] == min(margins, key=margins.get)
    assert d98["worst_margin"] == pytest.approx(margins[d98["worst_scenario"]])
    bands = {b["structure"]: b for b in summary["dvh_bands"]}
    ptv = bands["PTV"]
    low, high, nominal = (np.array(ptv[k]) for k in ("min_percent", "max_percent", "nominal_percent"))
    assert np.all(low <= nominal + 1e-9) and np.all(nominal <= high + 1e-9)
    assert ptv["max_band_width_percent"] > 1.0  # a 3 mm shift of a 40 mm field over a 40 mm box changes its DVH
    doses = {k: read_rtdose(tmp_path / "out" / f"dose_{k}.dcm").values for k in ("min", "nominal", "max")}
    tol = 1e-3 * doses["max"].max()  # RT Dose stores scaled integers
    assert np.all(doses["min"] <= doses["nominal"] + tol) and np.all(doses["nominal"] <= doses["max"] + tol)
    assert (doses["max"] - doses["min"]).max() > 0.1 * doses["max"].max()
    pdf = (tmp_path / "out" / "robust.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 4  # summary, dose, DVHs, goals / bands / spread
    assert summary["report"].endswith("robust.pdf")


@pytest.mark.parametrize("extra, problem", [
    (["--shift-mm", "-3"], "setup shift must be a distance of 0 mm or more, got -3"),
    (["--range-percent", "-1"], "range error must be a percentage from 0 to 20"),
    (["--goals", "GOALS_UNKNOWN"], "no structure named 'Parotid_L'"),
])
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, extra, problem):
    folder, common = case
    if "GOALS_UNKNOWN" in extra:
        path = tmp_path / "goals.toml"
        path.write_text('[[goal]]\ngoal = "Parotid_L Dmean <= 26 Gy"\n')
        extra = ["--goals", path]
    done = _robust(*common, *extra, "--primaries", "100", "--out", tmp_path / "out")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0] and lines[0].startswith("braggdesk robust: error:")
    assert not (tmp_path / "out").exists()  # refused before any run


def test_a_local_cluster_runs_the_scenarios_at_once_with_the_same_doses(case, tmp_path):
    pytest.importorskip("distributed")
    folder, common = case
    scenario_args = ["--shift-mm", "0", "--range-percent", "3.5", "--primaries", "1000", "--no-report"]
    here = _robust(*common, *scenario_args, "--out", tmp_path / "here")
    there = _robust(*common, *scenario_args, "--local-cluster", "2", "--out", tmp_path / "cluster")
    assert here.returncode == 0 and there.returncode == 0, here.stderr + there.stderr
    a, b = (json.loads((tmp_path / d / "robust.json").read_text()) for d in ("here", "cluster"))
    assert "2 workers, all scenarios at once" in b["where"]
    assert [s["name"] for s in a["scenarios"]] == [s["name"] for s in b["scenarios"]] == \
        ["nominal", "range+3.5%", "range-3.5%"]
    for k in ("min", "nominal", "max"):
        np.testing.assert_array_equal(read_rtdose(tmp_path / "here" / f"dose_{k}.dcm").values,
                                      read_rtdose(tmp_path / "cluster" / f"dose_{k}.dcm").values)


def test_sampled_shifts_combined_with_range_errors(case, tmp_path):
    from braggdesk.model.scenario import sampled_scenarios

    folder, common = case
    done = _robust(*common, "--sample", "2", "--shift-mm", "2", "--combined", "--primaries", "500", "--no-report",
                   "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "robust.json").read_text())
    expected = sampled_scenarios(2, 2.0, seed=5, range_percent=3.5, combined=True)  # --seed 5 draws the shifts
    assert [s["name"] for s in summary["scenarios"]] == [s.name for s in expected]
    assert [s["name"] for s in summary["scenarios"]] == [
        "nominal", "sample1", "sample2", "range+3.5%", "range-3.5%", "sample1 range+3.5%", "sample1 range-3.5%",
        "sample2 range+3.5%", "sample2 range-3.5%"]
    by_name = {s["name"]: s for s in summary["scenarios"]}
    assert by_name["sample2 range-3.5%"]["shift_mm"] == by_name["sample2"]["shift_mm"] != [0.0, 0.0, 0.0]
    assert by_name["sample2 range-3.5%"]["range_scale"] == pytest.approx(0.965)
    assert len({tuple(s["shift_mm"]) for s in summary["scenarios"]}) == 3  # nominal and two draws


@pytest.mark.parametrize("extra, problem", [
    (["--sample", "0"], "number of sampled shifts must be a whole number of 1 or more, got 0"),
    (["--sample", "3", "--shift-mm", "0"], "sampled shifts need a standard deviation above 0 mm"),
])
def test_bad_sampling_is_one_line_and_exit_2(case, tmp_path, extra, problem):
    folder, common = case
    done = _robust(*common, *extra, "--primaries", "100", "--out", tmp_path / "out")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0]
