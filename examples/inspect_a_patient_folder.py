"""What a patient folder holds and what is wrong with it, then the CT a plan was made on.

Run: python examples/inspect_a_patient_folder.py [FOLDER]   (no folder: the demo phantom written to a temporary one)
"""

import sys
import tempfile
from pathlib import Path

import braggdesk as bd

if len(sys.argv) > 1:
    folder = Path(sys.argv[1])
else:  # a folder as a planning system would export it: CT series, RTSTRUCT, RT Ion Plan
    from braggdesk.io.demo_case import demo_case
    from braggdesk.io.phantoms import write_phantom
    from braggdesk.io.rtplan_writer import write_rt_ion_plan

    folder = Path(tempfile.mkdtemp(prefix="braggdesk-patient-"))
    case = demo_case(spacing_mm=8.0)
    write_phantom(case.phantom, folder)
    write_rt_ion_plan(case.plan, folder / "RP_demo.dcm", ct=case.phantom.volume, beam_model=case.beam_model)
    # a copy cut short, as an interrupted transfer leaves it: listed with its problem, never silently dropped
    (folder / "RP_cut.dcm").write_bytes((folder / "RP_demo.dcm").read_bytes()[:300])

ws = bd.open_folder(folder)
inv = ws.inventory
print(f"{len(inv.ct_series)} CT series, {len(inv.structure_sets)} structure sets, {len(inv.plans)} plans, "
      f"{len(inv.doses)} doses")
for item, why in ws.problems.items():
    print(f"problem: {item}: {why}")
plan = ws.plan(0)
try:
    ct = ws.ct(referenced_by=plan)
except bd.InputError as exc:  # a cut-short file beside the slices might be a slice: the CT is refused, with the reason
    print(f"cannot read the CT: {exc}")
    if len(sys.argv) > 1:
        raise SystemExit(1)
    (folder / "RP_cut.dcm").unlink()
    ws = bd.open_folder(folder)
    ct = ws.ct(referenced_by=plan)
print(f"plan {plan.label!r}: {len(plan.beams)} beam(s), {plan.n_spots} spots, on a CT of {ct.shape[::-1]} voxels")
