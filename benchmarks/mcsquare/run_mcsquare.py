"""Run MCsquare on a DICOM CT + RT Ion Plan through OpenTPS's API; run with the MCsquare venv (Python 3.12).

    python run_mcsquare.py --ct CT_DIR --plan RTPLAN --bdl BDL --scanner SCANNER_DIR --primaries N \
        --threads 2 --seed 1 --workdir DIR --out DOSE.npz --json RESULT.json
    python run_mcsquare.py --self-test

Inputs are read with OpenTPS (``readDicomCT``, ``readDicomPlan``, ``mcsquareIO.readBDL``, ``readScanner``) and
the dose is computed with ``MCsquareDoseCalculator.computeDose``: OpenTPS writes MCsquare's CT (MHD), plan,
BDL, scanner, materials and config into ``--workdir``, starts MCsquare (its ``MCsquare`` shell script, which
picks the binary for the CPU) and reads the dose back.  The dose is absolute, as OpenTPS computes it:
MCsquare's dose per simulated proton x the protons the plan delivers (MU x ProtonsMU of the BDL) x fractions.
MCsquare's config keeps OpenTPS's defaults (nuclear interactions and secondaries on, dose to water through
"OnlineSPR") except Num_Threads and RNG_Seed, set from the command line.

Written: ``--out`` (npz: ``dose_gy`` indexed [x, y, z] as OpenTPS holds it, ``origin_mm`` of voxel (0,0,0)'s
centre, ``spacing_mm``) and ``--json`` (timings: the MCsquare subprocess wall time, MCsquare's own
printed times, the whole Python process up to the dose written; the config as written; the binary used).
The braggdesk benchmark reads both (``bench_cases.py``); nothing here imports braggdesk.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()  # the earliest this process can measure; the driver also times the process

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--self-test", action="store_true", help="tiny water box, one spot, 2e4 primaries; exit 0 if dose")
    p.add_argument("--rsp", type=Path, metavar="SCANNER",
                   help="only write MCsquare's RSP (OpenTPS convertHU2RSP) at --hu values for this scanner to --json")
    p.add_argument("--hu", type=float, nargs="*", default=[], help="HU values for --rsp")
    p.add_argument("--ct", type=Path, help="folder with the DICOM CT series (other DICOM files are skipped)")
    p.add_argument("--plan", type=Path, help="RT Ion Plan")
    p.add_argument("--bdl", type=Path, help="MCsquare BDL (beam model)")
    p.add_argument("--scanner", type=Path, help="MCsquare scanner folder (HU_Density_Conversion.txt, "
                                                "HU_Material_Conversion.txt)")
    p.add_argument("--primaries", type=float, default=1e6)
    p.add_argument("--threads", type=int, default=2, help="MCsquare Num_Threads (0: all cores)")
    p.add_argument("--seed", type=int, default=1, help="MCsquare RNG_Seed")
    p.add_argument("--workdir", type=Path, help="MCsquare simulation folder (OpenTPS writes everything there)")
    p.add_argument("--out", type=Path, help="dose .npz to write")
    p.add_argument("--json", type=Path, help="timings and settings as JSON")
    p.add_argument("--keep-workdir", action="store_true",
                   help="keep OpenTPS's copies of the MCsquare binaries and materials in --workdir (~200 MB)")
    args = p.parse_args(argv)
    if args.self_test:
        return self_test()
    if args.rsp:
        return rsp(args.rsp, args.hu, args.json)
    for name in ("ct", "plan", "bdl", "scanner", "workdir", "out", "json"):
        if getattr(args, name) is None:
            p.error(f"--{name} is required (or --self-test)")
    result = run(args.ct, args.plan, args.bdl, args.scanner, int(args.primaries), args.threads, args.seed,
                 args.workdir, args.out)
    if not args.keep_workdir:
        prune(Path(result["workdir"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=_plain))
    return 0


def prune(folder: Path) -> None:
    """Remove what OpenTPS copies into every simulation folder (binaries, materials); keep inputs and outputs."""
    import shutil

    for sim in folder.glob("*"):
        if not sim.is_dir():
            continue
        for item in sim.iterdir():
            if item.name.startswith(("MCsquare", "libMCsquare", "libiomp5")) and item.is_file():
                item.unlink()
        if (sim / "Materials").is_dir():
            shutil.rmtree(sim / "Materials")


def _plain(value):
    """JSON for numpy scalars and arrays."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _opentps():
    """Import OpenTPS (the slow part of start-up) and patch in the thread count and seed."""
    import logging

    logging.disable(logging.WARNING)  # OpenTPS warns about missing CuPy on every import
    from opentps.core.io import mcsquareIO
    from opentps.core.processing.doseCalculation.protons import mcsquareDoseCalculator as calc_module
    logging.disable(logging.NOTSET)
    logging.getLogger("opentps").setLevel(logging.WARNING)
    return mcsquareIO, calc_module


def _ct_files(folder: Path) -> list[str]:
    import pydicom

    files = []
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
        except Exception:
            continue
        if str(ds.get("SOPClassUID", "")) == CT_IMAGE_STORAGE:
            files.append(str(path))
    if not files:
        raise SystemExit(f"{folder}: no CT image files")
    return files


def _calculator(calc_module, mcsquareIO, bdl, calibration, primaries: int, threads: int, seed: int, workdir: Path,
                timings: dict, stdout_lines: list[str]):
    calc = calc_module.MCsquareDoseCalculator()
    calc.beamModel = bdl
    calc.ctCalibration = calibration
    calc.nbPrimaries = primaries
    workdir.mkdir(parents=True, exist_ok=True)
    calc.simulationDirectory = str(workdir)
    # OpenTPS 3.0.1 fixes these paths in __init__, under the default simulation folder; point them at ours
    calc._doseFilePath = os.path.join(calc._workDir, "Dose.mhd")
    calc._letFilePath = os.path.join(calc._workDir, "LET.mhd")
    calc._sparseLETFilePath = os.path.join(calc._workDir, "Sparse_LET.txt")
    written = {}

    original_write_config = mcsquareIO.writeConfig

    def write_config(config, file_path):  # OpenTPS builds the config inside computeDose; set ours on the way out
        config["Num_Threads"] = threads
        config["RNG_Seed"] = seed
        written.update({k: (list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v)
                        for k, v in config.config.items()})
        return original_write_config(config, file_path)

    mcsquareIO.writeConfig = write_config

    def start_mcsquare(opti=False):  # OpenTPS's _startMCsquare, with the output captured and timed
        folder = calc._mcsquareSimuDir
        t0 = time.perf_counter()
        proc = subprocess.Popen(["sh", "MCsquare"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        for line in proc.stdout:
            stdout_lines.append(line.rstrip("\n"))
        rc = proc.wait()
        timings["mcsquare_subprocess_s"] = time.perf_counter() - t0
        if rc != 0:
            raise SystemExit(f"MCsquare exited with {rc}:\n" + "\n".join(stdout_lines[-30:]))

    calc._startMCsquare = start_mcsquare
    return calc, written


def _mcsquare_times(lines: list[str]) -> dict:
    """MCsquare's own time report (lines such as 'Simulation time: 12.3 s' or 'Total computation time')."""
    found = {}
    for line in lines:
        m = re.search(r"([A-Za-z][A-Za-z /_-]*?time[A-Za-z ]*)\s*[:=]\s*([0-9.eE+-]+)\s*(ms|s|sec)?", line)
        if m:
            value = float(m.group(2)) * (1e-3 if m.group(3) == "ms" else 1.0)
            found[m.group(1).strip()] = value
    return found


def _primaries_simulated(lines: list[str]) -> int | None:
    """MCsquare's 'Nbr primaries simulated: N' (it simulates at least Num_Primaries, in whole batches)."""
    for line in lines:
        m = re.search(r"Nbr primaries simulated:\s*(\d+)", line)
        if m:
            return int(m.group(1))
    return None


def _binary_used() -> str:
    """Which binary OpenTPS's MCsquare script picks on this CPU (the script's own rule)."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if "AuthenticAMD" in cpuinfo:
        return "MCsquare_linux (the script's choice on AMD CPUs)"
    for flag, name in (("avx512", "MCsquare_linux_avx512"), ("avx2", "MCsquare_linux_avx2"),
                       ("avx", "MCsquare_linux_avx"), ("sse4", "MCsquare_linux_sse4")):
        if flag in cpuinfo:
            return name
    return "MCsquare_linux"


def run(ct_dir: Path, plan_path: Path, bdl_path: Path, scanner: Path, primaries: int, threads: int, seed: int,
        workdir: Path, out: Path) -> dict:
    import numpy as np

    timings: dict = {}
    mcsquareIO, calc_module = _opentps()
    from opentps.core.io.dicomIO import readDicomCT, readDicomPlan
    from opentps.core.io.scannerReader import readScanner

    timings["import_s"] = time.perf_counter() - T_START
    t = time.perf_counter()
    ct = readDicomCT(_ct_files(ct_dir))
    plan = readDicomPlan(str(plan_path))
    bdl = mcsquareIO.readBDL(str(bdl_path))
    calibration = readScanner(str(scanner))
    timings["read_inputs_s"] = time.perf_counter() - t
    lines: list[str] = []
    calc, config = _calculator(calc_module, mcsquareIO, bdl, calibration, primaries, threads, seed, workdir,
                               timings, lines)
    t = time.perf_counter()
    dose = calc.computeDose(ct, plan)
    timings["compute_dose_s"] = time.perf_counter() - t  # OpenTPS writing inputs + MCsquare + reading the dose
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, dose_gy=np.asarray(dose.imageArray, dtype=np.float32),
                        origin_mm=np.asarray(dose.origin, float), spacing_mm=np.asarray(dose.spacing, float))
    timings["process_to_dose_written_s"] = time.perf_counter() - T_START
    delivered = float(calc._deliveredProtons())
    (workdir / "mcsquare_stdout.txt").write_text("\n".join(lines) + "\n")
    return {
        "engine": "MCsquare (via OpenTPS opentps-core 3.0.1)",
        "binary": _binary_used(),
        "primaries": primaries,
        "threads": threads,
        "seed": seed,
        "ct_grid_xyz": list(ct.gridSize),
        "ct_spacing_mm": [float(s) for s in ct.spacing],
        "plan_spots": int(sum(len(layer) for beam in plan for layer in beam)),
        "plan_protons_delivered": delivered,
        "fractions": int(plan.numberOfFractionsPlanned),
        "dose_max_gy": float(np.max(dose.imageArray)),
        "timings": timings,
        "primaries_simulated": _primaries_simulated(lines),
        "mcsquare_reported_times_s": _mcsquare_times(lines),
        "mcsquare_stdout_tail": lines[-25:],
        "config": {k: v for k, v in config.items() if v is not None},
        "workdir": str(workdir),
    }


def rsp(scanner: Path, hu: list[float], out: Path | None, energies=(100.0, 150.0)) -> int:
    """MCsquare's relative stopping power per HU for a scanner (density x the material's stopping power
    from MCsquare's tables / water's), as OpenTPS computes it."""
    import numpy as np

    _opentps()
    from opentps.core.io.scannerReader import readScanner

    calibration = readScanner(str(scanner))
    values = np.asarray(hu, float)
    result = {"scanner": str(scanner), "hu": values.tolist(),
              "density": np.asarray(calibration.convertHU2MassDensity(values), float).tolist(),
              **{f"rsp_{e:g}": np.asarray(calibration.convertHU2RSP(values, energy=e), float).tolist()
                 for e in energies}}
    text = json.dumps(result, indent=2)
    if out:
        out.write_text(text)
    else:
        print(text)
    return 0


def self_test() -> int:
    """A 40 x 80 x 40 mm water box (HU 0), one 100 MeV spot, 2e4 primaries: MCsquare must run and give dose.

    The correlations in the test BDL are not zero on purpose: MCsquare (the binary in opentps-core 3.0.1)
    samples every particle as NaN, counts it "generated outside the geometry" and scores no dose when a BDL
    row has Correlation = 0 (its 2 x 2 emittance diagonalisation divides by the zero off-diagonal).
    """
    import tempfile

    import numpy as np

    mcsquareIO, calc_module = _opentps()
    from opentps.core.data.images import CTImage
    from opentps.core.data.plan import PlanProtonBeam, PlanProtonLayer, ProtonPlan
    from opentps.core.io.scannerReader import readScanner
    import opentps.core.processing.doseCalculation.protons.MCsquare as mcsquare_module

    folder = Path(mcsquare_module.__path__[0])
    scanner = folder / "Scanners" / "UCL_Toshiba"
    hu = np.zeros((20, 40, 20), dtype=np.float32)  # [x, y, z], 2 mm voxels; beam along +y at gantry 0
    ct = CTImage(imageArray=hu, origin=(-19.0, -39.0, -19.0), spacing=(2.0, 2.0, 2.0))
    plan = ProtonPlan()
    plan.numberOfFractionsPlanned = 1
    beam = PlanProtonBeam()
    beam.gantryAngle = 0.0
    beam.couchAngle = 0.0
    beam.isocenterPosition = [0.0, 0.0, 0.0]
    layer = PlanProtonLayer(100.0)
    layer.appendSpot([0.0], [0.0], [1.0])
    beam.appendLayer(layer)
    plan.appendBeam(beam)
    bdl_text = "\n".join([
        "--UPenn beam model (double gaussian)--", "", "Nozzle exit to Isocenter distance", "500.0", "",
        "SMX to Isocenter distance", "2000.0", "", "SMY to Isocenter distance", "2000.0", "", "Beam parameters",
        "2 energies", "",
        "NominalEnergy MeanEnergy EnergySpread ProtonsMU Weight1 SpotSize1x Divergence1x Correlation1x SpotSize1y "
        "Divergence1y Correlation1y Weight2 SpotSize2x Divergence2x Correlation2x SpotSize2y Divergence2y "
        "Correlation2y",
        "90 90 0.8 1e8 1 4 0.003 0.05 4 0.003 0.05 0 4 0.003 0.05 4 0.003 0.05",
        "110 110 0.8 1e8 1 4 0.003 0.05 4 0.003 0.05 0 4 0.003 0.05 4 0.003 0.05", ""])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = os.environ.get("MCSQ_SELFTEST_DIR", tmp)
        Path(tmp).mkdir(parents=True, exist_ok=True)
        bdl_path = Path(tmp) / "bdl.txt"
        bdl_path.write_text(bdl_text)
        timings: dict = {}
        lines: list[str] = []
        calc, _ = _calculator(calc_module, mcsquareIO, mcsquareIO.readBDL(str(bdl_path)), readScanner(str(scanner)),
                              20000, 2, 1, Path(tmp) / "sim", timings, lines)
        dose = calc.computeDose(ct, plan)
        d = np.asarray(dose.imageArray)
    print("\n".join(lines[-12:]))
    depth = d.sum(axis=(0, 2))
    print(f"self-test: MCsquare ran in {timings['mcsquare_subprocess_s']:.2f} s, dose max {d.max():.4g} Gy, "
          f"depth-dose peak at y = {ct.origin[1] + 2.0 * int(np.argmax(depth)):.0f} mm; "
          f"reported times {_mcsquare_times(lines)}")
    if not (np.isfinite(d).all() and d.max() > 0):
        print("self-test FAILED: no dose", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
