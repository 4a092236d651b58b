"""A Monte Carlo dose on the built-in demo case, its DVH metrics, and every map and table exported.

Run: python examples/dose_on_the_demo_case.py [OUTPUT_FOLDER]
"""

import sys
import tempfile
from pathlib import Path

import braggdesk as bd

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="braggdesk-example-"))
case = bd.demo_case(spacing_mm=6.0)
job = bd.make_job(case.ct, case.plan, primaries=20_000, batches=4, seed=3, calibration=case.calibration)
run = bd.calculate(job, on="local")
for progress in run:
    print(progress.line())
dose = run.result()
stats = bd.dose_statistics(dose, case.structures, case.ct, reference_gy=case.plan.prescription_dose_gy)
for row in stats:
    print(f"{row.name:20s} Dmean {row.metrics['Dmean [Gy]']:.3f} Gy  D95 {row.metrics['D95 [Gy]']:.3f} Gy")
for path in bd.export_result(out, dose, stats, suffix=".mhd"):
    print("wrote", path)
bd.export_rtdose(out / "RD_demo.dcm", dose, case.ct, case.plan)
