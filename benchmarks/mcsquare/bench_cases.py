"""Inputs and analysis for the braggdesk-vs-MCsquare benchmark; run with braggdesk's Python.

    python bench_cases.py build --case water|slab|hn --out DIR --mcsquare-scanners DIR [--data DIR] ...
    python bench_cases.py analyse --case water|slab|hn --dir DIR --runs RUNS.json --out RESULT.json

``build`` writes everything both engines read, once, into ``DIR/inputs/<case>/``:

* ``bdl.txt``: one MCsquare BDL (UPenn format, single Gaussian) derived here from the DCPT v5 beam model
  (``dcpt-let-2022/beam_model/DCPT_beam_model__v5.csv``): the rows at whole-MeV nominal energies, values
  unchanged except the energy spread in percent of the mean energy (MCsquare's unit), nozzle exit = the v5
  model plane (600 mm), SMX/SMY = the DCPT plans' virtual source-axis distances (2000/2560 mm), no range
  shifter.  Both engines read this file (braggdesk: ``--beam-model``; MCsquare: through OpenTPS).
* scanners: ``UCL_Toshiba`` (MCsquare's own, copied from the MCsquare install), ``Water`` (written here:
  HU below -500 is MCsquare material 13 Air at 0.0012 g/cm3, from -500 up MCsquare material 17 Water at
  1.0 g/cm3) and ``SlabMaterials`` (written here: the slab phantom's HU as MCsquare's Air, Lung, Water and
  Bone_Cortical at the phantom's densities 0.0012, 0.26, 1.0, 1.92 g/cm3).  braggdesk reads the same
  folders (``--ct-calibration FOLDER``).
* CTs: ``water`` and ``slab`` from ``braggdesk phantom``, ``hn`` from ``braggdesk convert openkbp`` plus a
  copy cropped to the body's bounding box (same frame of reference, new series).
* RT Ion Plans written here with pydicom (one spot per water plan; a small SOBP on the slab; a 2-beam lattice
  plan over PTV70 for hn, see :func:`hn_plan`), read unchanged by braggdesk and by OpenTPS.

``analyse`` reads the two doses of each run (braggdesk's RTDOSE, MCsquare's npz), puts them on the CT grid and
computes R80 differences, gamma (``braggdesk.analysis.gamma``) and absolute dose ratios.
Everything here is ours; no OpenTPS or MCsquare code.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[2] / "shared" / "data"
WATER_ENERGIES = (100.0, 150.0, 200.0)
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
RT_ION_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.8"
MCSQUARE_AIR, MCSQUARE_LUNG, MCSQUARE_WATER, MCSQUARE_BONE_CORTICAL = 13, 14, 17, 38  # Materials/list.dat
BDL_COLUMNS = ("NominalEnergy MeanEnergy EnergySpread ProtonsMU Weight1 SpotSize1x Divergence1x Correlation1x "
               "SpotSize1y Divergence1y Correlation1y Weight2 SpotSize2x Divergence2x Correlation2x SpotSize2y "
               "Divergence2y Correlation2y")
DCPT_VSAD_MM = (2000.0, 2560.0)


# ================================================================================================ build


def braggdesk_cli(*args: str) -> None:
    """``python -m braggdesk ARGS`` with this interpreter (and its PYTHONPATH, i.e. the braggdesk under test)."""
    subprocess.run([sys.executable, "-m", "braggdesk", *args], check=True, stdout=subprocess.DEVNULL)


def write_dcpt_bdl(dcpt_csv: Path, out: Path) -> Path:
    """The benchmark's one beam model: DCPT v5 as an MCsquare BDL (see the module docstring)."""
    rows, plane = [], None
    for line in dcpt_csv.read_text().splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            if "BMODPOS" in text:
                plane = float(text.split("BMODPOS")[1].split("mm")[0])
            continue
        values = [float(v) for v in text.split(",") if v.strip()]
        if len(values) == 10:
            rows.append(values)
    if plane is None or not rows:
        raise SystemExit(f"{dcpt_csv}: not a DCPT beam-model CSV (no BMODPOS line or no rows)")
    table = np.array(rows)
    table = table[np.isclose(table[:, 0], np.round(table[:, 0]))]  # whole-MeV nominal energies
    # columns: nominal, real, spread sigma MeV, protons/MU, sx, sy, div x, div y, corr x, corr y
    if np.any(table[:, 8] == 0) or np.any(table[:, 9] == 0):
        raise SystemExit("a correlation of 0 in the beam model: MCsquare samples NaN particles for such rows")
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["--UPenn beam model (double gaussian)--",
             f"# braggdesk benchmark beam model: DCPT v5 ({dcpt_csv.name}, CC BY 4.0, doi:10.5281/zenodo.10641085)",
             "# whole-MeV rows, values unchanged; EnergySpread = sigma_E / E_mean * 100; single Gaussian (Weight2 = 0)",
             f"# nozzle exit = DCPT v5 model plane ({plane:g} mm); SMX/SMY = DCPT plans' VSAD", "",
             "Nozzle exit to Isocenter distance", f"{plane:g}", "",
             "SMX to Isocenter distance", f"{DCPT_VSAD_MM[0]:g}", "",
             "SMY to Isocenter distance", f"{DCPT_VSAD_MM[1]:g}", "",
             "Beam parameters", f"{len(table)} energies", "", BDL_COLUMNS]
    for e, mean, spread, ppmu, sx, sy, dx, dy, cx, cy in table:
        g = [sx, dx, cx, sy, dy, cy]
        row = [e, mean, spread / mean * 100.0, ppmu, 1.0, *g, 0.0, *g]
        lines.append(" ".join(f"{v:.10g}" for v in row))
    out.write_text("\n".join(lines) + "\n")
    return out


def bdl_table(path: Path) -> dict[str, np.ndarray]:
    lines = path.read_text().splitlines()
    i = lines.index(BDL_COLUMNS)
    data = np.array([[float(v) for v in line.split()] for line in lines[i + 1:] if line.strip()])
    return {name: data[:, k] for k, name in enumerate(BDL_COLUMNS.split())}


def write_scanners(mcsquare_scanners: Path, out: Path) -> dict[str, Path]:
    toshiba = out / "UCL_Toshiba"
    toshiba.mkdir(parents=True, exist_ok=True)
    for name in ("HU_Density_Conversion.txt", "HU_Material_Conversion.txt"):
        shutil.copyfile(mcsquare_scanners / "UCL_Toshiba" / name, toshiba / name)
    water = out / "Water"
    water.mkdir(parents=True, exist_ok=True)
    (water / "HU_Density_Conversion.txt").write_text(
        "# braggdesk benchmark: air below -500 HU, water (1.0 g/cm3) from -500 HU\n"
        "# HU\tdensity g/cm3\n-1000\t0.00120479\n-501\t0.00120479\n-500\t1.0\n5000\t1.0\n")
    (water / "HU_Material_Conversion.txt").write_text(
        "# braggdesk benchmark: MCsquare material labels (Materials/list.dat)\n# HU\tlabel\n"
        f"-1000\t{MCSQUARE_AIR}\t# Air\n-500\t{MCSQUARE_WATER}\t# Water\n")
    slab = out / "SlabMaterials"
    slab.mkdir(parents=True, exist_ok=True)
    (slab / "HU_Density_Conversion.txt").write_text(
        "# braggdesk benchmark: the slab phantom's HU (air -1000, lung -740, water 0, bone 1200) at the phantom's\n"
        "# densities\n# HU\tdensity g/cm3\n-1000\t0.00120479\n-740\t0.26\n0\t1.0\n1200\t1.92\n")
    (slab / "HU_Material_Conversion.txt").write_text(
        "# braggdesk benchmark: MCsquare's ICRU materials (Materials/list.dat labels)\n# HU\tlabel\n"
        f"-1000\t{MCSQUARE_AIR}\t# Air\n-870\t{MCSQUARE_LUNG}\t# Lung\n-370\t{MCSQUARE_WATER}\t# Water\n"
        f"600\t{MCSQUARE_BONE_CORTICAL}\t# Bone_Cortical\n")
    return {"UCL_Toshiba": toshiba, "Water": water, "SlabMaterials": slab}


def ct_files(folder: Path) -> list[Path]:
    import pydicom

    files = []
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if str(ds.SOPClassUID) == CT_IMAGE_STORAGE:
            files.append(path)
    return files


def ct_header(folder: Path):
    import pydicom

    return pydicom.dcmread(ct_files(folder)[0], stop_before_pixels=True)


def write_ion_plan(path: Path, ct_folder: Path, label: str, beams: list[dict]) -> Path:
    """An RT Ion Plan (PBS, one fraction) on the CT's frame of reference.

    ``beams``: dicts with name, gantry, couch, iso (x, y, z mm), layers [(energy MeV, x mm, y mm, MU)].
    Each layer is two control points (spots with weights, then the same spots with zero weights, as
    Eclipse and RayStation write them); spot weights are MU (BeamMeterset = FinalCumulativeMetersetWeight).
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ct = ct_header(ct_folder)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RT_ION_PLAN_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RT_ION_PLAN_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTPLAN"
    ds.PatientName = str(ct.get("PatientName", "benchmark"))
    ds.PatientID = str(ct.get("PatientID", "benchmark"))
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = ct.StudyInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesDescription = f"braggdesk benchmark plan {label}"[:64]
    ds.FrameOfReferenceUID = ct.FrameOfReferenceUID
    ds.RTPlanLabel = label[:16]
    ds.RTPlanGeometry = "PATIENT"
    ds.Manufacturer = "braggdesk benchmark"
    setup = Dataset()
    setup.PatientPosition = str(ct.get("PatientPosition", "HFS"))
    setup.PatientSetupNumber = 1
    ds.PatientSetupSequence = Sequence([setup])
    group = Dataset()
    group.FractionGroupNumber = 1
    group.NumberOfFractionsPlanned = 1
    group.NumberOfBeams = len(beams)
    group.NumberOfBrachyApplicationSetups = 0
    refs, ion_beams = [], []
    for number, beam in enumerate(beams, start=1):
        total_mu = float(sum(float(np.sum(mu)) for _, _, _, mu in beam["layers"]))
        ref = Dataset()
        ref.ReferencedBeamNumber = number
        ref.BeamMeterset = _ds(total_mu)
        refs.append(ref)
        item = Dataset()
        item.BeamNumber = number
        item.BeamName = beam["name"][:16]
        item.BeamType = "STATIC"
        item.RadiationType = "PROTON"
        item.ScanMode = "MODULATED"
        item.TreatmentMachineName = "DCPT_v5_BDL"
        item.PrimaryDosimeterUnit = "MU"
        item.TreatmentDeliveryType = "TREATMENT"
        item.NumberOfWedges = 0
        item.NumberOfCompensators = 0
        item.NumberOfBoli = 0
        item.NumberOfBlocks = 0
        item.NumberOfRangeShifters = 0
        item.NumberOfLateralSpreadingDevices = 0
        item.NumberOfRangeModulators = 0
        item.ReferencedPatientSetupNumber = 1
        item.VirtualSourceAxisDistances = [float(v) for v in DCPT_VSAD_MM]
        item.FinalCumulativeMetersetWeight = _ds(total_mu)
        points, cumulative = [], 0.0
        for energy, xs, ys, mus in beam["layers"]:
            xs, ys, mus = (np.asarray(a, float).ravel() for a in (xs, ys, mus))
            spot_map = [float(v) for pair in zip(xs, ys) for v in pair]  # FL
            for closing in (False, True):
                cp = Dataset()
                cp.ControlPointIndex = len(points)
                cp.NominalBeamEnergy = _ds(energy)
                cp.CumulativeMetersetWeight = _ds(cumulative)
                cp.ScanSpotTuneID = "1"
                cp.NumberOfScanSpotPositions = len(xs)
                cp.ScanSpotPositionMap = spot_map
                cp.ScanSpotMetersetWeights = [0.0 if closing else float(m) for m in mus]  # FL
                cp.NumberOfPaintings = 1
                if not points:
                    cp.GantryAngle = _ds(beam["gantry"])
                    cp.GantryRotationDirection = "NONE"
                    cp.PatientSupportAngle = _ds(beam["couch"])
                    cp.PatientSupportRotationDirection = "NONE"
                    cp.IsocenterPosition = [_ds(v) for v in beam["iso"]]
                    cp.BeamLimitingDeviceAngle = "0"
                points.append(cp)
                if not closing:
                    cumulative += float(mus.sum())
            points[-1].CumulativeMetersetWeight = _ds(cumulative)
        item.NumberOfControlPoints = len(points)
        item.IonControlPointSequence = Sequence(points)
        ion_beams.append(item)
    group.ReferencedBeamSequence = Sequence(refs)
    ds.FractionGroupSequence = Sequence([group])
    ds.IonBeamSequence = Sequence(ion_beams)
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def _ds(value: float) -> str:
    """A DICOM DS string (at most 16 characters)."""
    text = f"{float(value):.8g}"
    if len(text) > 16:
        text = f"{float(value):.6e}"
    return text


def _pstar_range_energy(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(energy MeV, CSDA range mm) of water, PSTAR (shared/data/physics/pstar_water.csv)."""
    table = np.genfromtxt(data / "physics" / "pstar_water.csv", delimiter=",", names=True)
    return table["kinetic_energy_MeV"], table["csda_range_g_cm2_derived"] * 10.0


def pstar_energy_for_range(wet_mm: np.ndarray, data: Path) -> np.ndarray:
    """Energy [MeV] whose CSDA range in water (PSTAR) is ``wet_mm``."""
    energy, range_mm = _pstar_range_energy(data)
    return np.interp(np.asarray(wet_mm), range_mm, energy)


def protons_per_mu(bdl: Path, energy: float) -> float:
    t = bdl_table(bdl)
    return float(np.interp(energy, t["NominalEnergy"], t["ProtonsMU"]))


def build(args) -> dict:
    out = args.out / "inputs" / args.case
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    bdl = write_dcpt_bdl(args.data / "dcpt-let-2022" / "beam_model" / "DCPT_beam_model__v5.csv", out / "bdl.txt")
    scanners = write_scanners(args.mcsquare_scanners, out / "scanners")
    info: dict = {"case": args.case, "bdl": str(bdl), "scanners": {k: str(v) for k, v in scanners.items()},
                  "runs": []}
    if args.case == "water":
        ct = out / "ct"
        braggdesk_cli("phantom", "water", "--spacing", "2", "--out", str(ct))
        for energy in WATER_ENERGIES:
            mu = 1e9 / protons_per_mu(bdl, energy)  # 1e9 protons
            plan = write_ion_plan(out / f"RP_water_{energy:.0f}.dcm", ct, f"pencil {energy:.0f} MeV",
                                  [{"name": f"E{energy:.0f}", "gantry": 0.0, "couch": 0.0, "iso": (0.0, 0.0, 0.0),
                                    "layers": [(energy, [0.0], [0.0], [mu])]}])
            for scanner in ("Water", "UCL_Toshiba"):
                info["runs"].append({"name": f"water_{energy:.0f}MeV_{scanner}", "ct": str(ct), "plan": str(plan),
                                     "scanner": str(scanners[scanner]), "energy_mev": energy,
                                     "primaries": args.water_primaries, "timed": energy == 150.0})
        info["geometry"] = {"entrance_y_mm": -100.0, "beam_direction": [0, 1, 0]}
    elif args.case == "slab":
        ct = out / "ct"
        braggdesk_cli("phantom", "slab", "--spacing", "2", "--out", str(ct))
        plan = write_ion_plan(out / "RP_slab_sobp.dcm", ct, "slab SOBP", [slab_plan(bdl)])
        for scanner in ("UCL_Toshiba", "SlabMaterials"):
            info["runs"].append({"name": f"slab_sobp_{scanner}", "ct": str(ct), "plan": str(plan),
                                 "scanner": str(scanners[scanner]), "primaries": args.slab_primaries,
                                 "timed": scanner == "UCL_Toshiba", "noise_floor": scanner == "UCL_Toshiba"})
        info["geometry"] = {"entrance_y_mm": -100.0, "beam_direction": [0, 1, 0]}
    elif args.case == "hn":
        ct_full = out / "ct_full"
        braggdesk_cli("convert", "openkbp", str(args.data / "openkbp-hn-pt1" / "pt_1"), "--out", str(ct_full))
        ct_crop = out / "ct_body"
        box = crop_ct_to_body(ct_full, ct_crop)
        beams, plan_info = hn_plan(args.data / "openkbp-hn-pt1" / "pt_1", ct_full, scanners["UCL_Toshiba"], bdl,
                                   args.data, target_spots=args.hn_spots)
        plan = write_ion_plan(out / "RP_hn_2beams.dcm", ct_full, "hn 2 beams", beams)
        for tag, ct in (("full", ct_full), ("body", ct_crop)):
            info["runs"].append({"name": f"hn_{tag}CT_UCL_Toshiba", "ct": str(ct), "plan": str(plan),
                                 "scanner": str(scanners["UCL_Toshiba"]), "primaries": args.hn_primaries,
                                 "timed": True, "noise_floor": tag == "body"})
        for beam in beams:  # one beam at a time, for clean distal fall-offs (range profiles only)
            single = write_ion_plan(out / f"RP_hn_{beam['name']}.dcm", ct_full, f"hn {beam['name']}", [beam])
            info["runs"].append({"name": f"hn_bodyCT_{beam['name']}_only", "ct": str(ct_crop), "plan": str(single),
                                 "scanner": str(scanners["UCL_Toshiba"]), "primaries": args.hn_primaries // 2,
                                 "timed": False, "profile_gantry": beam["gantry"]})
        info["plan"] = plan_info
        info["body_crop"] = box
        info["openkbp_case"] = str(args.data / "openkbp-hn-pt1" / "pt_1")
    (out / "case.json").write_text(json.dumps(info, indent=2))
    return info


def slab_plan(bdl: Path) -> dict:
    """A small SOBP on the slab phantom: 40 x 40 mm, 5 mm spots, 7 layers 150..120 MeV (the demo's weighting)."""
    grid = np.arange(-20.0, 20.0 + 1e-6, 5.0)
    xs, ys = (a.ravel() for a in np.meshgrid(grid, grid, indexing="ij"))
    energies = [150.0, 145.0, 140.0, 135.0, 130.0, 125.0, 120.0]
    layers = []
    for i, energy in enumerate(energies):
        mu = 2.0 * (1.0 - 0.75 * i / (len(energies) - 1))
        layers.append((energy, xs, ys, np.full(xs.size, mu)))
    return {"name": "SOBP", "gantry": 0.0, "couch": 0.0, "iso": (0.0, 0.0, 0.0), "layers": layers}


def crop_ct_to_body(src: Path, dst: Path, margin_voxels: int = 1) -> dict:
    """Copy the CT series cropped to the bounding box of the body (largest connected region above -400 HU)."""
    import pydicom
    from pydicom.uid import generate_uid
    from scipy import ndimage

    files = ct_files(src)
    slices = sorted((pydicom.dcmread(f) for f in files), key=lambda d: float(d.ImagePositionPatient[2]))
    hu = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in slices])
    labels, n = ndimage.label(hu > -400.0)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    body = labels == 1 + int(np.argmax(sizes))
    k, j, i = (np.nonzero(body.any(axis=axes))[0] for axes in ((1, 2), (0, 2), (0, 1)))
    k0, k1 = max(k[0] - margin_voxels, 0), min(k[-1] + margin_voxels, hu.shape[0] - 1)
    j0, j1 = max(j[0] - margin_voxels, 0), min(j[-1] + margin_voxels, hu.shape[1] - 1)
    i0, i1 = max(i[0] - margin_voxels, 0), min(i[-1] + margin_voxels, hu.shape[2] - 1)
    dst.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    row_mm, col_mm = (float(v) for v in slices[0].PixelSpacing)
    for n_out, d in enumerate(slices[k0:k1 + 1], start=1):
        pixels = d.pixel_array[j0:j1 + 1, i0:i1 + 1].copy()
        d.PixelData = pixels.tobytes()
        d.Rows, d.Columns = pixels.shape
        x0, y0, z0 = (float(v) for v in d.ImagePositionPatient)
        d.ImagePositionPatient = [_ds(x0 + i0 * col_mm), _ds(y0 + j0 * row_mm), _ds(z0)]
        d.SeriesInstanceUID = series
        d.SOPInstanceUID = generate_uid()
        d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
        d.SeriesDescription = "OpenKBP pt_1 CT cropped to the body bounding box"
        d.InstanceNumber = n_out
        d.save_as(dst / f"CT{n_out:04d}.dcm", enforce_file_format=True)
    return {"full_shape_kji": [int(v) for v in hu.shape], "cropped_shape_kji": [int(k1 - k0 + 1), int(j1 - j0 + 1), int(i1 - i0 + 1)],
            "k": [int(k0), int(k1)], "j": [int(j0), int(j1)], "i": [int(i0), int(i1)],
            "voxels_full": int(hu.size), "voxels_cropped": int((k1 - k0 + 1) * (j1 - j0 + 1) * (i1 - i0 + 1))}


def read_density_table(scanner: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for line in (scanner / "HU_Density_Conversion.txt").read_text().splitlines():
        text = line.split("#")[0].split()
        if len(text) >= 2:
            rows.append((float(text[0]), float(text[1])))
    table = np.array(rows)
    return table[:, 0], table[:, 1]


def beam_axes(gantry_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IEC 61217, couch 0, HFS, DICOM patient axes: beam direction, BEV x (IEC gantry X), BEV y (IEC gantry Y).

    IEC fixed X = patient left (+x), Y = toward the gantry (+z, superior), Z = up (-y, anterior); the source
    at gantry angle t sits at sin t X + cos t Z, so the beam travels along (-sin t, cos t, 0); the gantry
    system's X axis is (cos t, sin t, 0) and its Y axis is +z.
    """
    t = math.radians(gantry_deg)
    return (np.array([-math.sin(t), math.cos(t), 0.0]), np.array([math.cos(t), math.sin(t), 0.0]),
            np.array([0.0, 0.0, 1.0]))


def hn_plan(case_dir: Path, ct_folder: Path, scanner: Path, bdl: Path, data: Path, *,
            target_spots: int = 1000, gantries=(45.0, 315.0), spacing_mm: float = 10.0,
            margin_mm: float = 3.0) -> tuple[list[dict], dict]:
    """Two beams, spots on a square lattice over PTV70 in each beam's eye view, layers from the WET.

    Isocentre: PTV70's centroid (rounded to 0.1 mm).  For each beam, parallel rays on a ``spacing_mm``
    lattice (BEV x, y at the isocentre plane) that pass within half a spacing (+ ``margin_mm``) of a PTV70
    voxel; the water-equivalent depth along each ray is integrated from the CT with relative stopping power
    taken as the mass density of ``scanner``'s HU-density table (1 mm steps, nearest voxel).  The lattice
    (``spacing_mm`` + 0, 1 or 2 mm) and the WET step between energy layers (8..12 mm) are the pair that brings
    the plan closest to ``target_spots`` spots; layers shallower than the BDL's lowest energy's range are
    left out (no spots in the first ~4 cm WET under the skin); each ray gets
    the layers whose WET lies between its PTV70 entry and exit (+ 3 mm distal, - 3 mm proximal), energies from
    PSTAR's CSDA range rounded to whole MeV (rows of the BDL).  Spot MU: 1 for a ray's distal layer falling to
    0.3 towards its proximal one (a crude SOBP, not an optimised plan), times a constant so that 1 MU ~
    1e8 protons at 150 MeV.
    """
    sys.path.insert(0, str(HERE))
    from braggdesk.io.dicom_ct import read_ct_series
    from braggdesk.io.openkbp import read_openkbp

    case = read_openkbp(case_dir)
    ct = read_ct_series(ct_folder)
    if ct.shape != case.volume.shape or not np.allclose(ct.origin_mm, case.volume.origin_mm, atol=1e-3):
        raise SystemExit("the DICOM CT written by 'braggdesk convert openkbp' and the OpenKBP case differ in geometry")
    mask = case.masks["PTV70"]
    affine = ct.index_to_patient()
    k, j, i = np.nonzero(mask)
    points = (affine @ np.c_[i, j, k, np.ones(len(i))].T)[:3].T
    iso = np.round(points.mean(axis=0), 1)
    hu_points, density_points = read_density_table(scanner)
    density = np.interp(np.asarray(ct.hu, float), hu_points, density_points)
    inverse = ct.patient_to_index()
    shape = np.array(ct.shape)  # k, j, i

    def rsp_at(p: np.ndarray) -> np.ndarray:
        idx = np.rint((inverse @ np.c_[p, np.ones(len(p))].T)[:3].T).astype(int)  # i, j, k
        inside = np.all((idx >= 0) & (idx < shape[::-1]), axis=1)
        out = np.zeros(len(p))
        out[inside] = density[idx[inside, 2], idx[inside, 1], idx[inside, 0]]
        return out

    def rays_for(spacing: float):
        out = []
        for gantry in gantries:
            d, ax, ay = beam_axes(gantry)
            rel = points - iso
            u, v, w = rel @ ax, rel @ ay, rel @ d
            half = spacing / 2.0 + margin_mm
            gu = np.arange(np.floor(u.min() / spacing) * spacing, u.max() + spacing, spacing)
            gv = np.arange(np.floor(v.min() / spacing) * spacing, v.max() + spacing, spacing)
            rays = []
            steps = np.arange(-300.0, 300.0, 1.0)  # along the beam, relative to the isocentre plane
            for x in gu:
                for y in gv:
                    near = (np.abs(u - x) <= half) & (np.abs(v - y) <= half)
                    if not near.any():
                        continue
                    line = iso + x * ax + y * ay + steps[:, None] * d
                    wet = np.cumsum(rsp_at(line)) * 1.0
                    first, last = w[near].min(), w[near].max()
                    rays.append((x, y, float(np.interp(first, steps, wet)), float(np.interp(last, steps, wet))))
            out.append((gantry, rays))
        return out

    table = bdl_table(bdl)
    min_wet = float(np.interp(table["NominalEnergy"].min(), *_pstar_range_energy(data)))  # shallowest layer

    def layout(rays_per_beam, step: float):
        beams, count = [], 0
        for gantry, rays in rays_per_beam:
            lo = max(min(r[2] for r in rays) - 3.0, min_wet)
            hi = max(r[3] for r in rays) + 3.0
            wets = np.arange(hi, lo - 1e-9, -step)  # distal first
            layers = []
            for wet in wets:
                xs, ys, mus = [], [], []
                for x, y, prox, dist in rays:
                    if prox - 3.0 <= wet <= dist + 3.0:
                        frac = (wet - (prox - 3.0)) / max(dist - prox + 6.0, 1e-6)
                        xs.append(x), ys.append(y), mus.append(0.3 + 0.7 * frac ** 2)
                if xs:
                    layers.append((float(wet), xs, ys, mus))
                    count += len(xs)
            beams.append((gantry, layers))
        return beams, count

    candidates = []
    for spacing in (spacing_mm, spacing_mm + 1.0, spacing_mm + 2.0):
        rays_per_beam = rays_for(spacing)
        for step in (8.0, 9.0, 10.0, 11.0, 12.0):
            candidates.append(layout(rays_per_beam, step) + (step, spacing))
    beams_layers, count, step, spacing_mm = min(candidates, key=lambda b: (abs(b[1] - target_spots), b[3], b[2]))
    mu_scale = 1e8 / float(np.interp(150.0, table["NominalEnergy"], table["ProtonsMU"]))
    beams = []
    for number, (gantry, layers) in enumerate(beams_layers, start=1):
        out_layers = []
        for wet, xs, ys, mus in layers:
            energy = float(np.clip(np.round(pstar_energy_for_range(wet, data)), table["NominalEnergy"].min(),
                                   table["NominalEnergy"].max()))
            out_layers.append((energy, xs, ys, np.round(np.array(mus) * mu_scale, 4)))
        beams.append({"name": f"G{gantry:.0f}", "gantry": gantry, "couch": 0.0, "iso": tuple(float(v) for v in iso),
                      "layers": out_layers})
    info = {"isocenter_mm": iso.tolist(), "gantry_deg": list(gantries), "lattice_mm": spacing_mm,
            "layer_wet_step_mm": step, "spots": int(count),
            "layers_per_beam": [len(b["layers"]) for b in beams],
            "energies_mev": [[b["layers"][0][0], b["layers"][-1][0]] for b in beams],
            "made_by": "bench_cases.hn_plan (lattice over PTV70, layers from WET; see its docstring)"}
    info["iec_axes_vs_braggdesk"] = _check_axes(gantries)
    return beams, info


def _check_axes(gantries) -> str:
    """Our IEC axes against braggdesk's ``engine.geometry.beam_frame`` where that API exists (optional)."""
    try:
        from braggdesk.engine.geometry import beam_frame
        from braggdesk.model import Beam
    except Exception as exc:  # the engine is being rewritten
        return f"not checked ({type(exc).__name__}: {exc})"
    worst = 0.0
    for gantry in gantries:
        frame = beam_frame(Beam("check", 1, gantry, 0.0, (0.0, 0.0, 0.0), []))
        theirs = [np.asarray(getattr(frame, name), float) for name in frame.__dataclass_fields__][1:4]
        worst = max(worst, max(float(np.abs(a - b).max()) for a, b in zip(theirs, beam_axes(gantry))))
    return f"largest difference {worst:.2e} over direction, BEV x, BEV y"


# ============================================================================================== analyse


def load_doses(run: dict):
    """(braggdesk dose, MCsquare dose) as braggdesk Volumes on the CT grid, in Gy."""
    from braggdesk.analysis.resample import resample, same_geometry
    from braggdesk.io.dicom_ct import read_ct_series
    from braggdesk.io.rtdose import read_rtdose
    from braggdesk.model import Volume

    ct = read_ct_series(run["ct"])
    bd = read_rtdose(run["braggdesk_dose"])
    if not same_geometry(bd, ct):
        bd = ct.with_values(resample(bd, ct, outside="zero"))
    z = np.load(run["mcsquare_dose"])
    mc_array = np.transpose(z["dose_gy"], (2, 1, 0))  # OpenTPS [x, y, z] -> braggdesk [k, j, i]
    mc = Volume(values=mc_array.astype(np.float32), spacing_mm=tuple(z["spacing_mm"]), origin_mm=tuple(z["origin_mm"]),
                frame_of_reference_uid=ct.frame_of_reference_uid)
    if not same_geometry(mc, ct):
        mc = ct.with_values(resample(mc, ct, outside="zero"))
    return ct, ct.with_values(np.asarray(bd.values, np.float32)), ct.with_values(np.asarray(mc.values, np.float32))


def distal_depth(depth: np.ndarray, values: np.ndarray, percent: float = 80.0) -> float:
    """Depth beyond the maximum where ``values`` fall to ``percent`` % of it (linear interpolation)."""
    v = np.nan_to_num(values)
    peak = int(np.argmax(v))
    level = v[peak] * percent / 100.0
    below = np.nonzero(v[peak:] < level)[0]
    if v[peak] <= 0 or below.size == 0:
        return float("nan")
    n = peak + int(below[0])
    return float(depth[n - 1] + (v[n - 1] - level) / (v[n - 1] - v[n]) * (depth[n] - depth[n - 1]))


def body_mask(ct) -> np.ndarray:
    """Where gamma is evaluated: inside the patient or phantom, i.e. the largest connected region above -400 HU
    with its holes filled slice by slice (air cavities inside count, the air around does not)."""
    from scipy import ndimage

    tissue = np.asarray(ct.hu) > -400.0
    labels, n = ndimage.label(tissue)
    if n == 0:
        return tissue
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    body = labels == 1 + int(np.argmax(sizes))
    return np.stack([ndimage.binary_fill_holes(s) for s in body])


def gamma_rates(reference, evaluated, mask: np.ndarray, *, shape_scale: float | None = None) -> dict:
    """Global gamma of ``evaluated`` against ``reference`` at 2 %/2 mm and 1 %/1 mm, evaluated on the reference
    voxels inside ``mask`` at or above 10 % of the reference maximum inside ``mask`` (which is also the
    normalisation).  Dose to water in the air around a patient (scored by both engines) is noisy and, on the
    full CT, holds MCsquare's maximum; it is left out this way."""
    from braggdesk.analysis.gamma import GammaCriteria, gamma_index

    ref = reference.with_values(np.where(mask, np.asarray(reference.values, np.float32), np.float32(np.nan)))
    ev = evaluated if shape_scale is None else evaluated.with_values(evaluated.values * np.float32(shape_scale))
    out = {}
    for dd, dta in ((2.0, 2.0), (1.0, 1.0)):
        g = gamma_index(ref, ev, GammaCriteria(dose_percent=dd, dta_mm=dta, cutoff_percent=10.0))
        out[f"{dd:g}%/{dta:g}mm"] = round(g.pass_rate_percent, 3)
    out["evaluated_voxels"] = g.evaluated_voxels
    out["normalisation_gy"] = g.normalisation_gy
    return out


def dose_ratios(bd, mc, mask: np.ndarray) -> dict:
    """Absolute dose of braggdesk over MCsquare's, inside ``mask`` (the body / phantom)."""
    ref = np.where(mask, np.asarray(mc.values, float), 0.0)
    ev = np.where(mask, np.asarray(bd.values, float), 0.0)
    high = ref >= 0.5 * ref.max()
    over10 = ref >= 0.1 * ref.max()
    return {"mcsquare_max_gy": float(ref.max()), "braggdesk_max_gy": float(ev.max()),
            "mcsquare_max_gy_whole_grid": float(np.max(mc.values)), "braggdesk_max_gy_whole_grid": float(np.max(bd.values)),
            "integral_ratio_braggdesk_over_mcsquare": float(ev.sum() / ref.sum()),
            "mean_ratio_above_50pct": float(ev[high].mean() / ref[high].mean()),
            "mean_ratio_above_10pct": float(ev[over10].mean() / ref[over10].mean()),
            "note": "inside the body / phantom; 'above N pct' = voxels where MCsquare's dose is >= N % of its max"}


def profile(volume, start: np.ndarray, direction: np.ndarray, length_mm: float, step_mm: float = 0.5):
    from braggdesk.analysis.profiles import sample_points

    t = np.arange(0.0, length_mm + 1e-9, step_mm)
    pts = start[None, :] + t[:, None] * direction[None, :]
    return t, sample_points(volume, pts)


def hn_profiles(case: dict, ct, bd, mc, mask: np.ndarray, gantries, bundle_mm: float = 2.0,
                bundle_n: int = 5) -> dict:
    """Distal R80 of one beam along 3 lines parallel to its axis (BEV x = -15, 0, +15 mm through the isocentre).

    Measured on the dose of that beam alone (a run of the one-beam plan): the deepest point where the dose
    falls below 80 % (R80) and 50 % (R50) of its maximum over the line's PTV70 segment (the plan is not
    optimised: its dose beyond the target falls in steps, so the deepest crossing is the beam's distal edge;
    where that fall-off is shallow a small difference in dose level moves R80 by millimetres, R50 much less).
    To keep statistical noise out, each
    line is the mean of a ``bundle_n`` x ``bundle_n`` bundle of parallel lines ``bundle_mm`` apart, and only
    points inside the body count.  Same definition for both engines; the difference is what is reported.
    """
    from braggdesk.io.openkbp import read_openkbp

    kbp = read_openkbp(case["openkbp_case"])
    ptv = kbp.volume.with_values(kbp.masks["PTV70"].astype(np.float32), unit="1")
    inside = ct.with_values(mask.astype(np.float32), unit="1")
    plan = case["plan"]
    iso = np.array(plan["isocenter_mm"])
    offsets = (np.arange(bundle_n) - (bundle_n - 1) / 2.0) * bundle_mm
    profiles = []
    for gantry in gantries:
        d, ax, ay = beam_axes(gantry)
        for offset in (-15.0, 0.0, 15.0):
            centre = iso + offset * ax - 200.0 * d
            t, in_ptv = profile(ptv, centre, d, 400.0)
            segment = np.nonzero(np.nan_to_num(in_ptv) > 0.5)[0]
            sums = {"braggdesk": 0.0, "mcsquare": 0.0}
            for a in offsets:
                for b in offsets:
                    start = centre + a * ax + b * ay
                    _, body = profile(inside, start, d, 400.0)
                    keep = np.nan_to_num(body) > 0.5
                    for label, vol in (("braggdesk", bd), ("mcsquare", mc)):
                        _, values = profile(vol, start, d, 400.0)
                        sums[label] = sums[label] + np.where(keep, np.nan_to_num(values), 0.0)
            entry = {"gantry_deg": gantry, "bev_x_offset_mm": offset}
            for label, total in sums.items():
                mean = total / offsets.size ** 2
                for percent in (80.0, 50.0):
                    entry[f"R{percent:.0f}_{label}_mm"] = deepest_crossing(t, mean, segment, percent)
            for percent in (80, 50):
                entry[f"R{percent}_diff_mm"] = entry[f"R{percent}_braggdesk_mm"] - entry[f"R{percent}_mcsquare_mm"]
            entry["diff_mm"] = entry["R80_diff_mm"]
            profiles.append(entry)
    diffs = np.array([p["diff_mm"] for p in profiles])
    diffs50 = np.array([p["R50_diff_mm"] for p in profiles])
    return {"profiles": profiles,
            "R80_profile_diff_mm": {"mean": float(np.nanmean(diffs)), "max_abs": float(np.nanmax(np.abs(diffs)))},
            "R50_profile_diff_mm": {"mean": float(np.nanmean(diffs50)),
                                    "max_abs": float(np.nanmax(np.abs(diffs50)))},
            "profile_note": hn_profiles.__doc__.split("\n\n")[1].strip()}


def deepest_crossing(depth: np.ndarray, values: np.ndarray, segment: np.ndarray, percent: float) -> float:
    """The deepest depth where ``values`` fall below ``percent`` % of their maximum over ``segment`` (indices)."""
    if segment.size == 0:
        return float("nan")
    level = percent / 100.0 * float(values[segment[0]:segment[-1] + 1].max())
    above = np.nonzero(values >= level)[0]
    if above.size == 0 or above[-1] + 1 >= values.size:
        return float("nan")
    n = int(above[-1])
    v0, v1 = values[n], values[n + 1]
    return float(depth[n] + (v0 - level) / (v0 - v1) * (depth[n + 1] - depth[n]))


def analyse_run(case: dict, run: dict) -> dict:
    ct, bd, mc = load_doses(run)
    mask = body_mask(ct)
    result = {"dose": dose_ratios(bd, mc, mask)}
    ratio = result["dose"]["integral_ratio_braggdesk_over_mcsquare"]
    if case["case"] in ("water", "slab"):
        # depth along +y from the entrance surface; integrated over x, z (IDD) and on the central axis
        y = ct.axis_coordinates_mm()[1]
        depth = y - case["geometry"]["entrance_y_mm"]
        r = {}
        for label, vol in (("braggdesk", bd), ("mcsquare", mc)):
            idd = np.asarray(vol.values, float).sum(axis=(0, 2))
            t, cax = profile(vol, np.array([0.0, case["geometry"]["entrance_y_mm"], 0.0]), np.array([0.0, 1.0, 0.0]),
                             float(depth.max()))
            r[label] = {"R80_idd_mm": distal_depth(depth, idd), "R80_cax_mm": distal_depth(t, cax),
                        "R90_idd_mm": distal_depth(depth, idd, 90.0)}
        result["range"] = r
        result["R80_idd_diff_mm"] = r["braggdesk"]["R80_idd_mm"] - r["mcsquare"]["R80_idd_mm"]
        result["R80_cax_diff_mm"] = r["braggdesk"]["R80_cax_mm"] - r["mcsquare"]["R80_cax_mm"]
    if case["case"] == "hn" and "profile_gantry" in run:
        result.update(hn_profiles(case, ct, bd, mc, mask, (run["profile_gantry"],)))
    if (case["case"] in ("slab", "hn") or run.get("energy_mev") == 150.0) and "profile_gantry" not in run:
        result["gamma_absolute"] = gamma_rates(mc, bd, mask)
        result["gamma_shape"] = gamma_rates(mc, bd, mask, shape_scale=1.0 / ratio)
        result["gamma_note"] = ("reference MCsquare, evaluated braggdesk, global, inside the body / phantom, 10 % "
                                "cut-off of MCsquare's max there; 'shape': braggdesk scaled by MCsquare/braggdesk "
                                "integral dose (inside the body) first")
        if run.get("braggdesk_dose_seed2"):
            from braggdesk.io.rtdose import read_rtdose
            from braggdesk.analysis.resample import resample, same_geometry

            other = read_rtdose(run["braggdesk_dose_seed2"])
            if not same_geometry(other, ct):
                other = ct.with_values(resample(other, ct, outside="zero"))
            result["gamma_noise_floor_braggdesk_seed_vs_seed"] = gamma_rates(bd, ct.with_values(
                np.asarray(other.values, np.float32)), mask)
    return result


def rsp_comparison(scanner: Path, energies=(100.0, 150.0)) -> dict:
    """braggdesk's RSP per HU section of an MCsquare scanner (its reader and stopping-power ratio), for the
    driver to set beside MCsquare's (OpenTPS's convertHU2RSP).  Uses braggdesk internals that may move."""
    from braggdesk.io.ct_calibration import read_ct_calibration

    calibration = read_ct_calibration(scanner)
    try:
        from braggdesk.physics.material_constants import stopping_power_ratio
    except ImportError as exc:
        return {"error": f"braggdesk has no physics.material_constants.stopping_power_ratio ({exc})"}
    hu = np.array(sorted(set(np.round(calibration.material_hu_min).tolist())
                         | set(np.round(calibration.density_hu).tolist())))
    hu = hu[(hu >= -1000) & (hu <= 3000)]
    hu = np.unique(np.r_[hu, hu + 5.0])  # a point inside every section too
    hu = hu[hu <= max(calibration.density_hu.max(), calibration.material_hu_min.max() + 5.0)]
    rows = []
    for h in hu:
        index = int(calibration.material_index(np.array([h]))[0])
        material = calibration.materials[index]
        rho = float(calibration.density(np.array([h]))[0])
        rows.append({"hu": float(h), "material": material.name, "density": rho,
                     **{f"rsp_{e:g}": float(stopping_power_ratio(material, e, rho)) for e in energies}})
    return {"calibration": calibration.name, "rows": rows}


def analyse(args) -> dict:
    runs = json.loads(args.runs.read_text())
    case = runs["case_info"]
    results = {}
    for run in runs["runs"]:
        if "braggdesk_dose" in run and "mcsquare_dose" in run:
            results[run["name"]] = analyse_run(case, run)
    out = {"case": case["case"], "results": results}
    if args.rsp_scanner:
        out["rsp_braggdesk"] = {Path(s).name: rsp_comparison(Path(s)) for s in args.rsp_scanner}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--case", choices=("water", "slab", "hn"), required=True)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--mcsquare-scanners", type=Path, required=True, help="MCsquare's Scanners folder")
    b.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared/data")
    b.add_argument("--water-primaries", type=int, default=200_000)
    b.add_argument("--slab-primaries", type=int, default=1_000_000)
    b.add_argument("--hn-primaries", type=int, default=1_000_000)
    b.add_argument("--hn-spots", type=int, default=1000)
    a = sub.add_parser("analyse")
    a.add_argument("--runs", type=Path, required=True, help="JSON from compare.py: case_info and runs with doses")
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--rsp-scanner", nargs="*", default=[],
                   help="also braggdesk's RSP per HU for these MCsquare scanner folders")
    args = p.parse_args(argv)
    if args.command == "build":
        result = build(args)
    else:
        result = analyse(args)
    args.out.mkdir(parents=True, exist_ok=True) if args.command == "build" else args.out.parent.mkdir(
        parents=True, exist_ok=True)
    if args.command == "analyse":
        args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result)[:2000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
