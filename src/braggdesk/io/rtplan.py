"""RT Ion Plan (pencil-beam scanning) to a :class:`Plan`.

What the reader relies on, and the vendor habits it absorbs:

* Energy layers are built from control points that carry non-zero
  ScanSpotMetersetWeights.  Eclipse and RayStation write each layer as two
  control points (the second repeats the spots with zero weights); other
  systems put the weights on the second one; both come out the same.
* NominalBeamEnergy, ScanSpotTuneID, ScanningSpotSize, range shifter
  settings, gantry/couch angles, isocentre and snout are carried forward from
  the last control point that stated them (Eclipse omits the energy on the
  closing control point of a layer).
* Zero-weight spots are dropped; spot order within a layer is kept.
* Monitor units: ``EnergyLayer.mu_per_weight = BeamMeterset /
  FinalCumulativeMetersetWeight`` with BeamMeterset from the first fraction
  group's ReferencedBeamSequence.
* SETUP beams, beams without spots (passive scattering) and beams the
  fraction group does not deliver are left out.

Spot positions stay in the beam's eye view at the isocentre plane exactly as
ScanSpotPositionMap states them (x, y pairs, mm, IEC gantry system).
No patient name or ID is copied into the Plan.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from braggdesk.errors import BraggdeskWarning, InputError
from braggdesk.model import Beam, EnergyLayer, Plan

from .header_values import MAX_COORDINATE_MM, values_checked, whole_number
from .header_values import number as checked_number
from .uids import RT_ION_PLAN_STORAGE, convert_dicom, read_dicom

_WEIGHT_SUM_TOLERANCE = 0.01  # spot weights must add up to FinalCumulativeMetersetWeight within 1 %


def read_rt_ion_plan(path: str | Path) -> Plan:
    """Read an RT Ion Plan file; InputError (naming the file) for anything that is not a usable PBS plan."""
    path = Path(path)
    return convert_dicom(path, read_dicom(path, RT_ION_PLAN_STORAGE), "RT Ion Plan", _plan_from_dataset)


def _plan_from_dataset(path: Path, ds: Dataset) -> Plan:
    fraction_groups = ds.get("FractionGroupSequence") or []
    if not fraction_groups:
        raise InputError(path, "has no FractionGroupSequence (300A,0070): the beam metersets (MU) are unknown")
    group = fraction_groups[0]
    metersets: dict[int, float | None] = {}
    dose_reference_uids: list[str] = []
    for ref in group.get("ReferencedBeamSequence") or []:
        value = ref.get("BeamMeterset")
        beam_number = whole_number(ref.get("ReferencedBeamNumber"), "ReferencedBeamNumber", path,
                                   where="fraction group 1", what="a beam number")
        metersets[beam_number] = checked_number(value, "BeamMeterset", path, where=f"fraction group 1, beam {beam_number}",
                                        positive=True, high=1e5, what="the beam's monitor units") \
            if _given(value) else None
        if ref.get("ReferencedDoseReferenceUID"):
            dose_reference_uids.append(str(ref.ReferencedDoseReferenceUID))

    ion_beams = ds.get("IonBeamSequence") or []
    if not ion_beams:
        raise InputError(path, "has no IonBeamSequence (300A,03A2); expected proton beams")
    beams: list[Beam] = []
    skipped: list[str] = []
    setup_numbers: list[int] = []
    for item in ion_beams:
        number = whole_number(item.get("BeamNumber"), "BeamNumber", path, where="IonBeamSequence",
                              what="a beam number")
        name = str(item.get("BeamName") or item.get("BeamDescription") or number)
        if str(item.get("TreatmentDeliveryType", "TREATMENT")).upper() == "SETUP":
            continue
        if number not in metersets:
            skipped.append(f"'{name}' (not in fraction group 1)")
            continue
        beam = _beam(path, item, name, number, metersets[number])
        if beam is None:
            continue
        beams.append(beam)
        if _given(item.get("ReferencedPatientSetupNumber")):
            setup_numbers.append(whole_number(item.ReferencedPatientSetupNumber, "ReferencedPatientSetupNumber",
                                              path, where=f"beam '{name}'"))
    missing = sorted(set(metersets) - {int(whole_number(item.get("BeamNumber"), "BeamNumber", path))
                                       for item in ion_beams})
    if missing:
        raise InputError(path, f"fraction group 1 delivers beam number(s) {', '.join(map(str, missing))}, which the "
                               f"IonBeamSequence does not hold ({len(ion_beams)} beam(s)); a truncated or "
                               f"incomplete export?")
    if not beams:
        extra = f"; not delivered: {', '.join(skipped)}" if skipped else ""
        raise InputError(path, f"holds no treatment beam with scanned spots ({len(ion_beams)} ion beam(s) in the "
                               f"file){extra}")

    structure_sets = ds.get("ReferencedStructureSetSequence") or []
    fractions = group.get("NumberOfFractionsPlanned")
    return Plan(
        label=str(ds.get("RTPlanLabel") or ds.get("RTPlanName") or ""),
        beams=beams,
        fractions_planned=whole_number(fractions, "NumberOfFractionsPlanned", path, low=1, high=1000,
                                       where="fraction group 1") if _given(fractions) else 1,
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        referenced_structure_set_uid=str(structure_sets[0].get("ReferencedSOPInstanceUID", "") if structure_sets else ""),
        patient_position=_patient_position(path, ds, setup_numbers),
        prescription_dose_gy=_prescription(path, ds, dose_reference_uids),
        source_path=str(path),
    )


def _beam(path: Path, item: Dataset, name: str, number: int, meterset: float | None) -> Beam | None:
    """One treatment beam, or None when it has no spots with weight."""
    control_points = item.get("IonControlPointSequence") or []
    if not control_points:
        return None
    where = f"beam '{name}'"
    declared = item.get("NumberOfControlPoints")
    if _given(declared) and whole_number(declared, "NumberOfControlPoints", path, where=where) != len(control_points):
        raise InputError(path, f"{where}: NumberOfControlPoints (300A,0110) is {declared} but "
                               f"{len(control_points)} control points are present; a truncated or incomplete export?")
    first = control_points[0]
    isocenter = values_checked(first.get("IsocenterPosition"), "IsocenterPosition", path, count=3,
                               low=-MAX_COORDINATE_MM, high=MAX_COORDINATE_MM,
                               where=f"{where}, first control point", what="the isocentre in mm")
    if isocenter is None:
        raise InputError(path, f"{where}: the first control point has no IsocenterPosition (300A,012C)")

    final_weight = item.get("FinalCumulativeMetersetWeight")
    layers = _layers(path, item, where)
    if not layers:
        return None
    weight_sum = float(sum(layer.spot_weights.sum() for layer in layers))
    final_weight = checked_number(final_weight, "FinalCumulativeMetersetWeight", path, where=where) \
        if _given(final_weight) else weight_sum
    if final_weight <= 0:
        raise InputError(path, f"{where}: FinalCumulativeMetersetWeight (300A,010E) is {final_weight:g}, expected > 0")
    if abs(weight_sum - final_weight) > _WEIGHT_SUM_TOLERANCE * final_weight:
        warnings.warn(f"{path}: {where}: spot weights add up to {weight_sum:g}, FinalCumulativeMetersetWeight is "
                      f"{final_weight:g}; monitor units follow FinalCumulativeMetersetWeight", BraggdeskWarning,
                      stacklevel=4)
    if meterset is None:
        warnings.warn(f"{path}: {where}: no BeamMeterset (300A,0086) in the fraction group; spot weights are taken "
                      f"as monitor units", BraggdeskWarning, stacklevel=4)
        mu_per_weight = 1.0
    else:
        mu_per_weight = meterset / final_weight
    for layer in layers:
        layer.mu_per_weight = mu_per_weight

    shifters = [str(rs.get("RangeShifterID", "")) for rs in item.get("RangeShifterSequence") or []]
    vsad = item.get("VirtualSourceAxisDistances")
    snout = first.get("SnoutPosition")
    pitch = first.get("GantryPitchAngle")
    return Beam(
        name=name,
        number=number,
        gantry_angle_deg=_angle(path, where, "GantryAngle", first.get("GantryAngle")),
        couch_angle_deg=_angle(path, where, "PatientSupportAngle", first.get("PatientSupportAngle")),
        isocenter_mm=tuple(float(v) for v in isocenter),  # type: ignore[arg-type]
        layers=layers,
        meterset_mu=meterset if meterset is not None else weight_sum,
        final_cumulative_meterset_weight=final_weight,
        gantry_pitch_angle_deg=_angle(path, where, "GantryPitchAngle", pitch),
        treatment_machine=str(item.get("TreatmentMachineName", "")),
        radiation_type=str(item.get("RadiationType", "PROTON")),
        range_shifter_ids=shifters,
        snout_position_mm=checked_number(snout, "SnoutPosition", path, where=where, low=-MAX_COORDINATE_MM,
                                 high=MAX_COORDINATE_MM) if _given(snout) else None,
        virtual_source_axis_distances_mm=_vsad(path, where, vsad),
        beam_type=str(item.get("ScanMode") or item.get("BeamType") or "MODULATED"),
    )


def _layers(path: Path, item: Dataset, where: str) -> list[EnergyLayer]:
    """Energy layers from the control points that deliver spots, with carried-forward settings."""
    shifter_ids = {whole_number(rs.RangeShifterNumber, "RangeShifterNumber", path, where=where):
                   str(rs.get("RangeShifterID", ""))
                   for rs in item.get("RangeShifterSequence") or [] if _given(rs.get("RangeShifterNumber"))}
    energy: float | None = None
    tune = ""
    spot_size: tuple[float, float] | None = None
    gantry = couch = None
    rs_setting = ""
    rs_distance: float | None = None
    layers: list[EnergyLayer] = []
    for index, cp in enumerate(item.IonControlPointSequence):
        at = f"{where}, control point {cp.get('ControlPointIndex', index)}"
        if _given(cp.get("NominalBeamEnergy")):
            energy = checked_number(cp.NominalBeamEnergy, "NominalBeamEnergy", path, where=at, low=1.0, high=1000.0,
                            what="the nominal energy in MeV (1 to 1000)")
        if _given(cp.get("ScanSpotTuneID")):
            tune = str(cp.ScanSpotTuneID)
        if _given(cp.get("ScanningSpotSize")) and len(cp.ScanningSpotSize) == 2:
            size = values_checked(cp.ScanningSpotSize, "ScanningSpotSize", path, count=2, positive=True, high=1000.0,
                                  where=at, what="the spot size in mm")
            spot_size = (float(size[0]), float(size[1]))  # type: ignore[index]
        gantry = _same_angle(path, at, "GantryAngle", gantry, cp.get("GantryAngle"))
        couch = _same_angle(path, at, "PatientSupportAngle", couch, cp.get("PatientSupportAngle"))
        if cp.get("RangeShifterSettingsSequence"):
            rs_setting, rs_distance = _range_shifter_settings(path, at, cp.RangeShifterSettingsSequence, shifter_ids)

        weights = _values(path, at, "ScanSpotMetersetWeights", cp.get("ScanSpotMetersetWeights"))
        if weights.size == 0 or not np.any(weights != 0):
            continue
        if np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise InputError(path, f"{at}: negative or non-finite ScanSpotMetersetWeights (300A,0396)")
        positions = _values(path, at, "ScanSpotPositionMap", cp.get("ScanSpotPositionMap"))
        declared = cp.get("NumberOfScanSpotPositions")
        if positions.size != 2 * weights.size or (_given(declared) and whole_number(
                declared, "NumberOfScanSpotPositions", path, where=at) != weights.size):
            raise InputError(path, f"{at}: {weights.size} spot weights, {positions.size} ScanSpotPositionMap values "
                                   f"and NumberOfScanSpotPositions {declared}; expected 2 positions per weight")
        if energy is None:
            raise InputError(path, f"{at}: spots before any NominalBeamEnergy (300A,0114)")
        xy = positions.reshape(-1, 2)
        keep = weights > 0
        layers.append(EnergyLayer(
            nominal_energy_mev=energy,
            spot_x_mm=xy[keep, 0],
            spot_y_mm=xy[keep, 1],
            spot_weights=weights[keep],
            spot_tune_id=tune,
            scanning_spot_size_mm=spot_size,
            range_shifter_setting=rs_setting,
            isocenter_to_range_shifter_mm=rs_distance,
        ))
    return layers


def _range_shifter_settings(path: Path, at: str, settings: list[Dataset],
                            shifter_ids: dict[int, str]) -> tuple[str, float | None]:
    """One setting string per layer: the setting itself for one range shifter, 'ID:setting,...' for several."""
    parts = []
    distance: float | None = None
    for s in settings:
        setting = str(s.get("RangeShifterSetting", ""))
        number = s.get("ReferencedRangeShifterNumber")
        ident = shifter_ids.get(whole_number(number, "ReferencedRangeShifterNumber", path, where=at),  # type: ignore
                                str(number)) if _given(number) else ""
        parts.append((ident, setting))
        if distance is None and _given(s.get("IsocenterToRangeShifterDistance")):
            distance = checked_number(s.IsocenterToRangeShifterDistance, "IsocenterToRangeShifterDistance", path, where=at,
                              low=-MAX_COORDINATE_MM, high=MAX_COORDINATE_MM)
    if len(parts) == 1:
        return parts[0][1], distance
    return ",".join(f"{ident}:{setting}" for ident, setting in parts), distance


def _same_angle(path: Path, at: str, keyword: str, current: float | None, value: object) -> float | None:
    if not _given(value):
        return current
    angle = checked_number(value, keyword, path, where=at, low=-360.0, high=360.0, what="an angle in degrees")
    if current is not None and abs(((angle - current) + 180.0) % 360.0 - 180.0) > 1e-3:
        raise InputError(path, f"{at}: {keyword} changes from {current:g} to {angle:g} deg within the beam "
                               f"(arc delivery); only fixed-angle beams are supported")
    return angle


def _patient_position(path: Path, ds: Dataset, setup_numbers: list[int]) -> str:
    setups = {whole_number(s.PatientSetupNumber, "PatientSetupNumber", path, where="PatientSetupSequence"):
              str(s.get("PatientPosition") or "")
              for s in ds.get("PatientSetupSequence") or [] if _given(s.get("PatientSetupNumber"))}
    for number in setup_numbers:
        if setups.get(number):
            return setups[number]
    return next((p for p in setups.values() if p), "HFS")


def _prescription(path: Path, ds: Dataset, dose_reference_uids: list[str]) -> float | None:
    """TargetPrescriptionDose of the dose reference the beams point at, else of the first that has one."""
    references = list(ds.get("DoseReferenceSequence") or [])
    preferred = [r for r in references if str(r.get("DoseReferenceUID", "")) in dose_reference_uids]
    for ref in preferred + references:
        value = ref.get("TargetPrescriptionDose")
        if _given(value):
            return checked_number(value, "TargetPrescriptionDose", path, where="DoseReferenceSequence", non_negative=True,
                          high=1e4, what="the prescribed dose in Gy")
    return None


def _given(value: object) -> bool:
    """False for a missing or empty DICOM value (pydicom gives None or '' for empty elements)."""
    return value is not None and not (isinstance(value, str) and value == "")


def _values(path: Path, at: str, keyword: str, value: object) -> np.ndarray:
    """Spot weights or positions as floats, each a finite number within 10 m (else the InputError naming them)."""
    checked = values_checked(value, keyword, path, where=at, low=-MAX_COORDINATE_MM, high=MAX_COORDINATE_MM)
    return np.zeros(0) if checked is None else checked


def _angle(path: Path, where: str, keyword: str, value: object) -> float:
    return checked_number(value, keyword, path, where=where, low=-360.0, high=360.0, what="an angle in degrees") \
        if _given(value) else 0.0


def _vsad(path: Path, where: str, value: object) -> tuple[float, float] | None:
    """VirtualSourceAxisDistances (two positive mm), or None when absent or not two values."""
    if not value or len(value) != 2:  # type: ignore[arg-type]
        return None
    checked = values_checked(value, "VirtualSourceAxisDistances", path, count=2, positive=True, high=1e5, where=where)
    return float(checked[0]), float(checked[1])  # type: ignore[index]
