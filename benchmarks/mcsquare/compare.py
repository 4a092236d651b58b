"""braggdesk against MCsquare, side by side in one run: speed (whole process) and physics (R80, RSP, gamma).

    python benchmarks/mcsquare/compare.py --case water|slab|hn|all \
        --braggdesk-python /work/main/.venv/bin/python [--braggdesk-src PATH/src] --out DIR \
        [--mcsquare-python /work/mcsquare-venv/bin/python] [--repeat 1] [--threads 2]

Any Python 3 runs this driver (standard library only).  It starts three kinds of processes:

* ``BRAGGDESK_PYTHON bench_cases.py build|analyse`` (with ``PYTHONPATH=--braggdesk-src`` when given): the
  case inputs (CT, RT Ion Plan, BDL, scanners) and the comparison of the doses;
* ``BRAGGDESK_PYTHON -m braggdesk run ...``: braggdesk with its defaults (seed fixed);
* ``MCSQUARE_PYTHON run_mcsquare.py ...``: MCsquare through OpenTPS with ``--threads`` threads.

Each engine run is timed from process start to process end (the dose is written just before the end):
``primaries/s = primaries / wall``.  MCsquare's own printed times and the MCsquare subprocess alone are kept
too.  With ``--repeat N`` the timed runs are repeated N times, alternating which engine goes first; the
median is reported.  The load average is read before and after every run.  Writes ``DIR/results.json`` (all
figures) and ``DIR/results.md`` (the table rows, also printed).  Needs setup.sh's MCsquare venv.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = ("water", "slab", "hn")


def loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


class Runner:
    def __init__(self, args):
        self.args = args
        self.env_bd = dict(os.environ)
        if args.braggdesk_src:
            self.env_bd["PYTHONPATH"] = str(Path(args.braggdesk_src).resolve())
        else:
            self.env_bd.pop("PYTHONPATH", None)
        self.env_mc = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.log = (args.out / "log.txt").open("a")

    def run(self, cmd: list[str], env: dict, label: str) -> dict:
        before = loadavg()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace")
        wall = time.perf_counter() - t0
        after = loadavg()
        self.log.write(f"\n=== {label}: {' '.join(cmd)}\n{proc.stdout}\n=== rc {proc.returncode}, {wall:.2f} s\n")
        self.log.flush()
        if proc.returncode != 0:
            raise SystemExit(f"{label} failed (rc {proc.returncode}); see {self.args.out / 'log.txt'}:\n"
                             + proc.stdout[-3000:])
        return {"wall_s": wall, "loadavg_before": before, "loadavg_after": after, "stdout_tail": proc.stdout[-1500:]}

    def braggdesk(self, *args: str, label: str) -> dict:
        return self.run([self.args.braggdesk_python, *args], self.env_bd, label)

    def mcsquare(self, *args: str, label: str) -> dict:
        return self.run([self.args.mcsquare_python, *args], self.env_mc, label)


def mcsquare_site(mcsquare_python: str) -> Path:
    out = subprocess.run([mcsquare_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    folder = Path(out) / "opentps" / "core" / "processing" / "doseCalculation" / "protons" / "MCsquare"
    if not (folder / "Scanners" / "UCL_Toshiba" / "HU_Density_Conversion.txt").exists():
        raise SystemExit(f"{folder}: no MCsquare with the UCL_Toshiba scanner; run benchmarks/mcsquare/setup.sh")
    return folder


def braggdesk_identity(r: Runner) -> dict:
    code = ("import braggdesk, json, pathlib, subprocess; p = pathlib.Path(braggdesk.__file__).resolve().parents[2]; "
            "c = subprocess.run(['git', '-C', str(p), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True)"
            ".stdout.strip(); d = subprocess.run(['git', '-C', str(p), 'status', '--porcelain', '--', 'src'], "
            "capture_output=True, text=True).stdout.strip(); "
            "print(json.dumps({'version': getattr(braggdesk, '__version__', '?'), 'path': str(p), "
            "'git': c + ('+dirty' if d else '')}))")
    out = subprocess.run([r.args.braggdesk_python, "-c", code], env=r.env_bd, stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_case(r: Runner, case: str, scanners: Path) -> dict:
    args = r.args
    if args.analyse_only:  # the runs of an earlier compare.py into the same --out, analysed again
        runs_dir = args.out / "runs" / case
        saved = json.loads((runs_dir / "runs.json").read_text())
        return analyse_case(r, case, saved["case_info"], runs_dir / "runs.json", runs_dir)
    build = [str(HERE / "bench_cases.py"), "build", "--case", case, "--out", str(args.out),
             "--mcsquare-scanners", str(scanners), "--data", str(args.data)]
    if args.primaries:
        build += [f"--{case}-primaries", str(args.primaries)]
    r.braggdesk(*build, label=f"build {case}")
    inputs = args.out / "inputs" / case
    info = json.loads((inputs / "case.json").read_text())
    runs_dir = args.out / "runs" / case
    runs_dir.mkdir(parents=True, exist_ok=True)
    for run in info["runs"]:
        name, n = run["name"], int(run["primaries"])
        repeats = args.repeat if run.get("timed") else 1
        bd_times, mc_times = [], []
        for rep in range(repeats):
            bd_dose, mc_dose = runs_dir / f"{name}_braggdesk.dcm", runs_dir / f"{name}_mcsquare.npz"
            bd_json, mc_json = runs_dir / f"{name}_braggdesk.json", runs_dir / f"{name}_mcsquare.json"

            def bd():
                t = r.braggdesk("-m", "braggdesk", "run", "--ct", run["ct"], "--plan", run["plan"], "--beam-model",
                                info["bdl"], "--ct-calibration", run["scanner"], "--primaries", str(n), "--seed",
                                str(args.seed + rep), "--json", str(bd_json), "--out", str(bd_dose),
                                label=f"braggdesk {name} #{rep}")
                t["summary"] = json.loads(bd_json.read_text())
                bd_times.append(t)

            def mc():
                t = r.mcsquare(str(HERE / "run_mcsquare.py"), "--ct", run["ct"], "--plan", run["plan"], "--bdl",
                               info["bdl"], "--scanner", run["scanner"], "--primaries", str(n), "--threads",
                               str(args.threads), "--seed", str(args.seed + rep), "--workdir",
                               str(runs_dir / f"{name}_mcsquare_sim"), "--out", str(mc_dose), "--json", str(mc_json),
                               label=f"MCsquare {name} #{rep}")
                t["summary"] = json.loads(mc_json.read_text())
                mc_times.append(t)

            for step in ((bd, mc) if rep % 2 == 0 else (mc, bd)):
                step()
        run["braggdesk_dose"], run["mcsquare_dose"] = str(bd_dose), str(mc_dose)
        if run.get("noise_floor") and not args.no_noise_floor:  # braggdesk again, another seed: gamma's noise floor
            seed2 = runs_dir / f"{name}_braggdesk_seed2.dcm"
            r.braggdesk("-m", "braggdesk", "run", "--ct", run["ct"], "--plan", run["plan"], "--beam-model",
                        info["bdl"], "--ct-calibration", run["scanner"], "--primaries", str(n), "--seed",
                        str(args.seed + 1000), "--out", str(seed2), label=f"braggdesk {name} (noise floor)")
            run["braggdesk_dose_seed2"] = str(seed2)
        run["braggdesk_runs"], run["mcsquare_runs"] = bd_times, mc_times
        run["speed"] = speed(n, bd_times, mc_times)
    runs_file = runs_dir / "runs.json"
    runs_file.write_text(json.dumps({"case_info": info, "runs": info["runs"]}, indent=2))
    return analyse_case(r, case, info, runs_file, runs_dir)


def analyse_case(r: Runner, case: str, info: dict, runs_file: Path, runs_dir: Path) -> dict:
    analysis_file = runs_dir / "analysis.json"
    extra = ["--rsp-scanner", *info["scanners"].values()] if case == "water" else []
    r.braggdesk(str(HERE / "bench_cases.py"), "analyse", "--runs", str(runs_file), "--out", str(analysis_file),
                *extra, label=f"analyse {case}")
    analysis = json.loads(analysis_file.read_text())
    if "rsp_braggdesk" in analysis:
        analysis["rsp"] = {name: rsp_compare(r, bd, info["scanners"][name], runs_dir)
                           for name, bd in analysis.pop("rsp_braggdesk").items() if "rows" in bd}
    return {"info": info, "analysis": analysis}


def speed(primaries: int, bd: list[dict], mc: list[dict]) -> dict:
    def med(values):
        return statistics.median(values) if values else float("nan")

    mc_sim = [m["summary"].get("primaries_simulated") or primaries for m in mc]
    bd_wall = med([b["wall_s"] for b in bd])
    mc_wall = med([m["wall_s"] for m in mc])
    mc_sub = med([m["summary"]["timings"].get("mcsquare_subprocess_s", float("nan")) for m in mc])
    mc_own = med([m["summary"]["mcsquare_reported_times_s"].get("MC computation time", float("nan")) for m in mc])
    mc_total = med([m["summary"]["mcsquare_reported_times_s"].get("Total computation time", float("nan"))
                    for m in mc])
    bd_engine = med([b["summary"].get("seconds", float("nan")) for b in bd])
    bd_pps = primaries / bd_wall
    mc_pps = med(mc_sim) / mc_wall
    return {
        "primaries": primaries, "repeats": len(bd),
        "braggdesk_wall_s": bd_wall, "braggdesk_primaries_per_s": bd_pps,
        "braggdesk_engine_s": bd_engine,
        "mcsquare_primaries_simulated": med(mc_sim),
        "mcsquare_wall_s": mc_wall, "mcsquare_primaries_per_s": mc_pps,
        "mcsquare_subprocess_s": mc_sub, "mcsquare_reported_total_s": mc_total, "mcsquare_reported_mc_s": mc_own,
        "mcsquare_primaries_per_s_own_total": med(mc_sim) / mc_total if mc_total == mc_total else None,
        "ratio_whole_process": bd_pps / mc_pps,
        "ratio_vs_mcsquare_binary_total": (primaries / bd_wall) / (med(mc_sim) / mc_total) if mc_total else None,
        "loadavg": [b["loadavg_before"] for b in bd] + [m["loadavg_before"] for m in mc],
    }


def rsp_compare(r: Runner, bd: dict, scanner: str, runs_dir: Path) -> dict:
    hu = [row["hu"] for row in bd["rows"]]
    out = runs_dir / f"rsp_mcsquare_{Path(scanner).name}.json"
    r.mcsquare(str(HERE / "run_mcsquare.py"), "--rsp", scanner, "--hu", *[str(h) for h in hu], "--json", str(out),
               label="MCsquare RSP")
    mc = json.loads(out.read_text())
    rows = []
    for k, row in enumerate(bd["rows"]):
        entry = dict(row)
        for e in ("100", "150"):
            m = mc[f"rsp_{e}"][k]
            entry[f"rsp_{e}_mcsquare"] = m
            entry[f"rsp_{e}_diff_percent"] = 100.0 * (row[f"rsp_{e}"] - m) / m if m > 0.01 else None
        entry["density_mcsquare"] = mc["density"][k]
        rows.append(entry)
    tissue = [x for x in rows if x["density"] >= 0.05 and x["rsp_100_diff_percent"] is not None]
    per_material: dict = {}
    for x in tissue:
        per_material.setdefault(x["material"], []).append(x["rsp_100_diff_percent"])
    return {"scanner": scanner, "rows": rows,
            "max_abs_diff_percent_100MeV": max(abs(x["rsp_100_diff_percent"]) for x in tissue),
            "diff_percent_100MeV_by_material": {k: round(sum(v) / len(v), 3) for k, v in per_material.items()},
            "note": "braggdesk: its reader of the scanner + Bethe stopping-power ratio; MCsquare: OpenTPS "
                    "convertHU2RSP (density x MCsquare material stopping power / water's)"}


def lean(value):
    """The results without the captured output (it is in log.txt and the per-run JSON files)."""
    if isinstance(value, dict):
        return {k: lean(v) for k, v in value.items() if k not in ("stdout_tail", "mcsquare_stdout_tail")}
    if isinstance(value, list):
        return [lean(v) for v in value]
    return value


def fmt(v, spec=".0f") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return format(v, spec)


def markdown(results: dict) -> list[str]:
    rows = ["| case | run | primaries | braggdesk prim/s | MCsquare prim/s | ratio (whole process) | "
            "ratio vs MCsquare's own total | R80 diff (bd - MCsq) mm | gamma 2%/2mm | gamma 1%/1mm | "
            "abs. dose ratio bd/MCsq | load avg |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for case, data in results["cases"].items():
        analysis = data["analysis"]["results"]
        for run in data["info"]["runs"]:
            s = run["speed"]
            a = analysis.get(run["name"], {})
            if "R80_idd_diff_mm" in a:
                r80 = f"{a['R80_idd_diff_mm']:+.2f} (IDD), {a['R80_cax_diff_mm']:+.2f} (axis)"
            elif "R80_profile_diff_mm" in a:
                r80 = ("R80 " + ", ".join(f"{p['R80_diff_mm']:+.2f}" for p in a["profiles"]) + "; R50 "
                       + ", ".join(f"{p['R50_diff_mm']:+.2f}" for p in a["profiles"]) + " (BEV x -15, 0, +15 mm)")
            else:
                r80 = "-"
            ga, gs = a.get("gamma_absolute", {}), a.get("gamma_shape", {})
            gn = a.get("gamma_noise_floor_braggdesk_seed_vs_seed", {})
            g2 = f"{ga['2%/2mm']:.2f} (shape {gs['2%/2mm']:.2f})" if ga else "-"
            g1 = f"{ga['1%/1mm']:.2f} (shape {gs['1%/1mm']:.2f})" if ga else "-"
            if gn:
                g2 += f"; noise floor {gn['2%/2mm']:.2f}"
                g1 += f"; noise floor {gn['1%/1mm']:.2f}"
            load = s["loadavg"]
            load_text = f"{min(l[0] for l in load):.1f}-{max(l[0] for l in load):.1f}" if load else "-"
            ratio = a.get("dose", {}).get("mean_ratio_above_50pct")
            rows.append(f"| {case} | {run['name']} | {run['primaries']:.0e} | {fmt(s['braggdesk_primaries_per_s'])} | "
                        f"{fmt(s['mcsquare_primaries_per_s'])} | {fmt(s['ratio_whole_process'], '.2f')} | "
                        f"{fmt(s['ratio_vs_mcsquare_binary_total'], '.2f')} | {r80} | {g2} | {g1} | "
                        f"{fmt(ratio, '.3f')} | {load_text} |")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", choices=CASES + ("all",), required=True)
    p.add_argument("--braggdesk-python", required=True, help="the Python of the braggdesk to test")
    p.add_argument("--braggdesk-src", help="put this src folder first on braggdesk's PYTHONPATH (a worktree)")
    p.add_argument("--mcsquare-python",
                   default=str(Path(os.environ.get("MCSQUARE_VENV", "/work/mcsquare-venv")) / "bin" / "python"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", type=Path, default=HERE.parents[2] / "shared" / "data", help="shared/data")
    p.add_argument("--repeat", type=int, default=1, help="timed runs per engine (median reported)")
    p.add_argument("--threads", type=int, default=2, help="MCsquare threads (the machine's cores)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--primaries", type=int, help="override the case's primaries (water 2e5, slab and hn 1e6)")
    p.add_argument("--analyse-only", action="store_true",
                   help="no runs: analyse the runs an earlier compare.py left in --out again")
    p.add_argument("--no-noise-floor", action="store_true",
                   help="skip the second braggdesk run (other seed) that gives gamma's statistical noise floor")
    args = p.parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    args.data = args.data.resolve()
    r = Runner(args)
    folder = mcsquare_site(args.mcsquare_python)
    results = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "loadavg_start": loadavg(),
        "braggdesk": braggdesk_identity(r),
        "mcsquare": {"python": args.mcsquare_python, "folder": str(folder), "threads": args.threads},
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "analyse_only": args.analyse_only,
        "cases": {},
    }
    for case in (CASES if args.case == "all" else (args.case,)):
        results["cases"][case] = run_case(r, case, folder / "Scanners")
    results["loadavg_end"] = loadavg()
    (args.out / "results.json").write_text(json.dumps(lean(results), indent=1, default=str))
    rows = markdown(results)
    (args.out / "results.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
