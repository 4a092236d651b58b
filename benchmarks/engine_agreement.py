"""Two engines (two source trees of braggdesk) on the same cases, against the noise floor of two seeds.

    .venv/bin/python benchmarks/engine_agreement.py --inputs /tmp/mcbench/inputs \
        --engine old=/work/wt-old/src --engine new=/work/main/src --out /tmp/agreement

The cases are the MCsquare harness's inputs (benchmarks/mcsquare: ``compare.py --case ...`` writes them
under OUT/inputs): the 150 MeV pencil beam in the water phantom (Water scanner), the slab SOBP
(UCL_Toshiba) and the OpenKBP head-and-neck plan on the CT cropped to the body (UCL_Toshiba).  Each
engine runs each case with two seeds through ``braggdesk run`` (its own command line, so any version
works); gamma 2 %/2 mm and 1 %/1 mm (10 % cut-off, global) of engine B against engine A is printed
beside A against A with another seed (the noise floor), with the mean dose ratio over voxels above
50 % of the maximum.  JSON in OUT/agreement.json.  Run it with an interpreter that imports braggdesk (the gamma is this tree's);
dose files already in OUT are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    # name: (case folder, CT folder, plan, scanner, primaries)
    "water150": ("water", "ct", "RP_water_150.dcm", "scanners/Water", 1_000_000),
    "slab": ("slab", "ct", None, "scanners/UCL_Toshiba", 2_000_000),
    "hn_body": ("hn", "ct_body", None, "scanners/UCL_Toshiba", 2_000_000),
}


def _plan(folder: Path, name: str | None) -> Path:
    if name:
        return folder / name
    plans = sorted(folder.glob("RP*.dcm"))
    if not plans:
        raise SystemExit(f"{folder}: no RP*.dcm plan")
    return plans[0]


def run_engine(python: str, src: str, case_dir: Path, ct: str, plan: Path, scanner: str, primaries: int, seed: int,
               out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=src)
    cmd = [python, "-m", "braggdesk", "run", "--ct", str(case_dir / ct), "--plan", str(plan), "--beam-model",
           str(case_dir / "bdl.txt"), "--ct-calibration", str(case_dir / scanner), "--primaries", str(primaries),
           "--seed", str(seed), "--out", str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def compare(a: Path, b: Path) -> dict:
    from braggdesk.analysis.gamma import GammaCriteria, gamma_index
    from braggdesk.io.rtdose import read_rtdose

    ref, ev = read_rtdose(a), read_rtdose(b)
    out = {}
    for label, dd, dta in (("2%/2mm", 2.0, 2.0), ("1%/1mm", 1.0, 1.0)):
        result = gamma_index(ref, ev, GammaCriteria(dose_percent=dd, dta_mm=dta, cutoff_percent=10.0))
        out[label] = round(float(result.pass_rate_percent), 2)
    r, e = ref.values, ev.values
    high = r >= 0.5 * r.max()
    out["mean_ratio_above_50pct"] = round(float(e[high].sum() / r[high].sum()), 4)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=Path, required=True, help="the MCsquare harness's OUT/inputs folder")
    p.add_argument("--engine", action="append", required=True, help="NAME=SRC (two of them: A first)")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    engines = [e.split("=", 1) for e in args.engine]
    if len(engines) != 2:
        raise SystemExit("give two --engine NAME=SRC")
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for case in args.cases.split(","):
        folder, ct, plan_name, scanner, primaries = CASES[case]
        case_dir = args.inputs / folder
        plan = _plan(case_dir, plan_name)
        doses, seconds = {}, {}
        for name, src in engines:
            for seed in (1, 2):
                path = args.out / f"{case}_{name}_s{seed}.dcm"
                if path.exists():  # from an earlier call with the same --out
                    seconds[f"{name}_s{seed}"] = None
                else:
                    seconds[f"{name}_s{seed}"] = round(run_engine(args.python, src, case_dir, ct, plan, scanner,
                                                                  primaries, seed, path), 1)
                doses[(name, seed)] = path
                print(f"{case}: {name} seed {seed}: {seconds[f'{name}_s{seed}']} s", flush=True)
        (a, _), (b, _) = engines
        results[case] = {
            "primaries": primaries, "seconds": seconds,
            f"{a}_vs_{a}": compare(doses[(a, 1)], doses[(a, 2)]),
            f"{b}_vs_{b}": compare(doses[(b, 1)], doses[(b, 2)]),
            f"{b}_vs_{a}": compare(doses[(a, 1)], doses[(b, 1)]),
        }
        print(case, json.dumps(results[case]), flush=True)
    (args.out / "agreement.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
