"""The track-repeating engine against the full engine on the same jobs (issue 15), through ``braggdesk run``.

    .venv/bin/python benchmarks/track_repeat.py --inputs /tmp/mcbench/inputs --out /tmp/tr-bench [--threads 2]

The cases are the MCsquare harness's inputs (benchmarks/mcsquare: ``compare.py --case ...`` writes them under
OUT/inputs): pencil beams of 100, 150 and 200 MeV in the water phantom (Water scanner), the slab SOBP through
bone and lung (UCL_Toshiba) and the OpenKBP head-and-neck plan on the CT cropped to the body (UCL_Toshiba).
Each case runs ``--engine full`` and ``--engine track-repeat`` with seeds 1 and 2 (the water R80 cases with
seed 1 only).  Printed and written to OUT/track_repeat.json: gamma 2 %/2 mm and 1 %/1 mm (10 % cut-off,
global) of track-repeat against full beside full against full with the other seed (the noise floor), the
mean dose ratio over voxels above 50 % of the maximum, R80 of the laterally integrated depth dose, the mean
relative uncertainty, and both engines' primaries per second inside the run and per wall second.  The
track database goes to OUT/tracks (BRAGGDESK_TRACKS_DIR) and is recorded by a small warm-up run of each
case first, so that the timed runs find it (its recording time and size are reported from
``braggdesk tracks list``).  Dose files already in OUT are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_agreement import compare  # noqa: E402  (gamma and mean dose ratio of two RTDOSE files)

CASES = {
    # name: (case folder, CT folder, plan, scanner, primaries, gamma)
    "water100": ("water", "ct", "RP_water_100.dcm", "scanners/Water", 500_000, False),
    "water150": ("water", "ct", "RP_water_150.dcm", "scanners/Water", 1_000_000, True),
    "water200": ("water", "ct", "RP_water_200.dcm", "scanners/Water", 500_000, False),
    "slab": ("slab", "ct", "RP_slab_sobp.dcm", "scanners/UCL_Toshiba", 2_000_000, True),
    "hn_body": ("hn", "ct_body", "RP_hn_2beams.dcm", "scanners/UCL_Toshiba", 2_000_000, True),
}


def run(python: str, case_dir: Path, ct: str, plan: str, scanner: str, primaries: int, seed: int, engine: str,
        threads: int, out: Path, env: dict) -> dict:
    summary = out.with_suffix(".json")
    cmd = [python, "-m", "braggdesk", "run", "--ct", str(case_dir / ct), "--plan", str(case_dir / plan),
           "--beam-model", str(case_dir / "bdl.txt"), "--ct-calibration", str(case_dir / scanner), "--primaries",
           str(primaries), "--seed", str(seed), "--device", "cpu", "--threads", str(threads), "--engine", engine,
           "--json", str(summary), "--out", str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}\n{done.stderr[-2000:]}")
    s = json.loads(summary.read_text())
    return {"wall_s": round(wall, 2), "run_s": s["seconds"], "primaries_per_second": s["primaries_per_second"],
            "mean_relative_uncertainty": s["mean_relative_uncertainty"], "notes": s["notes"]}


def r80_mm(path: Path) -> float:
    """R80 of the depth dose integrated over the two lateral axes; depth is the axis along which the
    dose extends farthest, the beam going the way the dose falls off to nothing after its peak."""
    from braggdesk.io.rtdose import read_rtdose

    dose = read_rtdose(path)
    d = dose.values.astype(float)
    spacing = {0: dose.spacing_mm[2], 1: dose.spacing_mm[1], 2: dose.spacing_mm[0]}  # array axes k, j, i
    extent = {ax: np.count_nonzero(d.sum(axis=tuple(a for a in range(3) if a != ax)) > 0.05 * d.max()) * spacing[ax]
              for ax in range(3)}
    ax = max(extent, key=extent.get)
    dd = d.sum(axis=tuple(a for a in range(3) if a != ax))
    imax = int(np.argmax(dd))
    if dd[imax:].min() > 0.1 * dd[imax]:  # no distal fall-off after the peak this way: the beam goes the other way
        dd = dd[::-1]
        imax = int(np.argmax(dd))
    d80 = 0.8 * dd[imax]
    j = imax + int(np.argmax(dd[imax:] < d80))
    x = (np.arange(dd.size) + 0.5) * spacing[ax]
    return float(x[j - 1] + (x[j] - x[j - 1]) * (dd[j - 1] - d80) / (dd[j - 1] - dd[j]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=Path, required=True, help="the MCsquare harness's OUT/inputs folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, BRAGGDESK_TRACKS_DIR=str(args.out / "tracks"))
    results = json.loads((args.out / "track_repeat.json").read_text()) if (args.out / "track_repeat.json").exists() \
        else {}
    for case in args.cases.split(","):
        folder, ct, plan, scanner, primaries, gamma = CASES[case]
        case_dir = args.inputs / folder
        warm = run(args.python, case_dir, ct, plan, scanner, 2000, 99, "track-repeat", args.threads,
                   args.out / f"{case}_warmup.dcm", env)
        runs, doses = {}, {}
        for engine in ("full", "track-repeat"):
            for seed in ((1, 2) if gamma else (1,)):
                path = args.out / f"{case}_{engine}_s{seed}.dcm"
                runs[f"{engine}_s{seed}"] = run(args.python, case_dir, ct, plan, scanner, primaries, seed, engine,
                                                args.threads, path, env)
                doses[(engine, seed)] = path
                print(f"{case}: {engine} seed {seed}: {runs[f'{engine}_s{seed}']['run_s']} s in the run, "
                      f"{runs[f'{engine}_s{seed}']['wall_s']} s wall", flush=True)
        entry = {"primaries": primaries, "runs": runs,
                 "database_notes": [n for n in warm["notes"] if "track" in n]}
        entry["r80_mm"] = {"full": round(r80_mm(doses[("full", 1)]), 3),
                           "track-repeat": round(r80_mm(doses[("track-repeat", 1)]), 3)}
        if gamma:
            entry["full_vs_full"] = compare(doses[("full", 1)], doses[("full", 2)])
            entry["repeat_vs_repeat"] = compare(doses[("track-repeat", 1)], doses[("track-repeat", 2)])
            entry["repeat_vs_full"] = compare(doses[("full", 1)], doses[("track-repeat", 1)])
        f, t = runs["full_s1"], runs["track-repeat_s1"]
        entry["speed_ratio_in_run"] = round(t["primaries_per_second"] / f["primaries_per_second"], 2)
        entry["speed_ratio_wall"] = round(f["wall_s"] / t["wall_s"], 2)
        results[case] = entry
        print(case, json.dumps({k: v for k, v in entry.items() if k != "runs"}), flush=True)
        (args.out / "track_repeat.json").write_text(json.dumps(results, indent=1))
    listing = subprocess.run([args.python, "-m", "braggdesk", "tracks", "list", "--json", "-"], env=env,
                             capture_output=True, text=True)
    if listing.returncode == 0:
        results["database"] = json.loads(listing.stdout[listing.stdout.index("{"):])
    (args.out / "track_repeat.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
