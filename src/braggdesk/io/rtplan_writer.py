"""A :class:`Plan` out as a pencil-beam scanning RT Ion Plan (SOP class 1.2.840.10008.5.1.4.1.1.481.8).

What the file holds, and the choices a planning system would recognise:

* Patient, study and series as :func:`braggdesk.io.rtdose.write_rtdose` writes them: the CT's study
  and frame of reference, a new series, de-identified unless ``identified=True`` (then the
  ``identity`` read from the CT), so the plan files next to its CT and structure set.
* RT General Plan with RTPlanGeometry PATIENT and the ReferencedStructureSetSequence when a
  structure set is named (TREATMENT_DEVICE without one, as the standard requires); one fraction
  group; one patient setup with the plan's patient position; a dose reference with the
  prescription when the plan has one.
* Each beam: ScanMode MODULATED, BeamType STATIC, RadiationType PROTON, the virtual source axis
  distances, range shifters, and two control points per energy layer as Eclipse and RayStation
  write them: the first carries the spot weights, the second repeats the positions with zero
  weights and closes the layer's cumulative meterset.
* **Metersets**: ScanSpotMetersetWeights are the spots' monitor units (as RayStation writes them),
  so FinalCumulativeMetersetWeight equals BeamMeterset and each spot's MU is its weight; the
  weights are stored as 32-bit floats (VR FL), so MU agree with the Plan's ``spot_mu`` to float32
  precision (7 digits).  Spots with 0 MU are left out, and so are layers left without spots.

:func:`braggdesk.io.rtplan.read_rt_ion_plan` reads the file back to the same spots, energies and MU.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from braggdesk.errors import PlanError
from braggdesk.model import Beam, BeamModel, EnergyLayer, Plan, Volume

from .deidentify import PatientIdentity, finalize_identity
from .uids import (RT_ION_PLAN_STORAGE, RT_STRUCTURE_SET_STORAGE, add_patient_and_study, decimal_string, new_dataset,
                   new_uid)

DEFAULT_TUNE_ID = "DEFAULT"
_SH_MAX = 16  # characters of a DICOM short string (SH): RTPlanLabel, TreatmentMachineName, ScanSpotTuneID


def write_rt_ion_plan(plan: Plan, path: str | Path, *, ct: Volume, beam_model: BeamModel,
                      structure_set_uid: str | None = None, label: str | None = None,
                      treatment_machine: str | None = None, plan_intent: str = "CURATIVE",
                      identity: PatientIdentity | None = None, identified: bool = False,
                      sop_instance_uid: str | None = None) -> Path:
    """Write ``plan`` as an RT Ion Plan on ``ct``'s study and frame of reference; returns the path.

    ``structure_set_uid`` (else the plan's ``referenced_structure_set_uid``) is the RT Structure Set
    the plan refers to; ``beam_model`` gives each beam's virtual source axis distances (unless the
    beam states its own), its range shifters and the treatment machine name (unless given or the beam
    states one).  The metersets are the plan's MU as they stand; :attr:`Plan.sop_instance_uid` is not
    changed (the new UID is ``sop_instance_uid`` or fresh, and is in the file).
    Raises PlanError naming the plan and beam for a plan the file cannot hold.
    """
    path = Path(path)
    label = label or plan.label or "braggdesk"
    _check(plan, ct, beam_model, label)
    uid = sop_instance_uid or new_uid()
    ds = new_dataset(RT_ION_PLAN_STORAGE, uid)
    add_patient_and_study(ds, study_instance_uid=ct.study_instance_uid or new_uid(), series_instance_uid=new_uid(),
                          modality="RTPLAN", series_description=f"braggdesk plan {label}"[:64])
    ds.FrameOfReferenceUID = plan.frame_of_reference_uid or ct.frame_of_reference_uid or new_uid()
    ds.PositionReferenceIndicator = ""
    ds.OperatorsName = ""
    ds.InstanceNumber = 1
    ds.ManufacturerModelName = "braggdesk"
    ds.SeriesTime = datetime.datetime.now().strftime("%H%M%S")

    now = datetime.datetime.now()
    ds.RTPlanLabel = label[:_SH_MAX]
    ds.RTPlanName = label[:64]
    ds.RTPlanDate = now.strftime("%Y%m%d")
    ds.RTPlanTime = now.strftime("%H%M%S")
    ds.PlanIntent = plan_intent
    structure_set = structure_set_uid if structure_set_uid is not None else plan.referenced_structure_set_uid
    if structure_set:
        ds.RTPlanGeometry = "PATIENT"
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_STRUCTURE_SET_STORAGE
        ref.ReferencedSOPInstanceUID = structure_set
        ds.ReferencedStructureSetSequence = [ref]
    else:
        ds.RTPlanGeometry = "TREATMENT_DEVICE"
    dose_reference_uid = _add_dose_reference(ds, plan, label)

    beams = [_deliverable(beam) for beam in plan.beams]
    ds.FractionGroupSequence = [_fraction_group(plan, beams, dose_reference_uid)]
    setup = Dataset()
    setup.PatientSetupNumber = 1
    setup.PatientPosition = plan.patient_position or ct.patient_position or "HFS"
    setup.SetupTechnique = "ISOCENTRIC"
    ds.PatientSetupSequence = [setup]
    ds.IonBeamSequence = [_ion_beam(beam, layers, beam_model, treatment_machine)
                          for beam, layers in zip(plan.beams, beams)]
    ds.ApprovalStatus = "UNAPPROVED"

    finalize_identity(ds, identity, identified=identified)
    ds.SeriesDescription = f"braggdesk plan {label}"[:64]  # braggdesk's own words, never the patient's
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def _check(plan: Plan, ct: Volume, model: BeamModel, label: str) -> None:
    if not plan.beams:
        raise PlanError(f"plan {label!r} has no beams; nothing to write")
    plan_for, ct_for = plan.frame_of_reference_uid, ct.frame_of_reference_uid
    if plan_for and ct_for and plan_for != ct_for:
        raise PlanError(f"plan {label!r} is on frame of reference {plan.frame_of_reference_uid}, the CT on "
                        f"{ct.frame_of_reference_uid}; write it with the CT it was planned on")
    for beam in plan.beams:
        for rs_id in beam.range_shifter_ids:
            if rs_id not in model.range_shifters:
                raise PlanError(f"plan {label!r}, beam {beam.name!r}: range shifter {rs_id!r} is not in the beam "
                                f"model '{model.name}'")
        for n, layer in enumerate(beam.layers, start=1):
            mu = layer.spot_mu
            if not np.all(np.isfinite(mu)) or np.any(mu < 0):
                raise PlanError(f"plan {label!r}, beam {beam.name!r}, layer {n} ({layer.nominal_energy_mev:g} MeV): "
                                f"spot MU must be finite and >= 0 (found {mu.min():g})")


def _deliverable(beam: Beam) -> list[tuple[EnergyLayer, np.ndarray]]:
    """(layer, float32 MU of its spots with MU > 0) for the layers that keep spots."""
    out = []
    for layer in beam.layers:
        mu = layer.spot_mu.astype(np.float32)
        if np.any(mu > 0):
            out.append((layer, mu))
    if not out:
        raise PlanError(f"beam {beam.name!r} delivers no monitor units (every spot has 0 MU); remove the beam or "
                        f"optimise it first")
    return out


def _beam_meterset(layers: list[tuple[EnergyLayer, np.ndarray]]) -> float:
    return float(sum(float(mu[mu > 0].astype(np.float64).sum()) for _, mu in layers))


def _add_dose_reference(ds: Dataset, plan: Plan, label: str) -> str:
    if plan.prescription_dose_gy is None:
        return ""
    ref = Dataset()
    ref.DoseReferenceNumber = 1
    ref.DoseReferenceUID = new_uid()
    ref.DoseReferenceStructureType = "SITE"
    ref.DoseReferenceDescription = label[:64]
    ref.DoseReferenceType = "TARGET"
    ref.TargetPrescriptionDose = decimal_string(plan.prescription_dose_gy)
    ds.DoseReferenceSequence = [ref]
    return str(ref.DoseReferenceUID)


def _fraction_group(plan: Plan, beams: list[list[tuple[EnergyLayer, np.ndarray]]], dose_reference_uid: str) -> Dataset:
    group = Dataset()
    group.FractionGroupNumber = 1
    group.NumberOfFractionsPlanned = int(plan.fractions_planned)
    group.NumberOfBeams = len(plan.beams)
    group.NumberOfBrachyApplicationSetups = 0
    refs = []
    for beam, layers in zip(plan.beams, beams):
        ref = Dataset()
        if dose_reference_uid:
            ref.ReferencedDoseReferenceUID = dose_reference_uid
        ref.BeamMeterset = decimal_string(_beam_meterset(layers))
        ref.ReferencedBeamNumber = int(beam.number)
        refs.append(ref)
    group.ReferencedBeamSequence = refs
    return group


def _ion_beam(beam: Beam, layers: list[tuple[EnergyLayer, np.ndarray]], model: BeamModel,
              treatment_machine: str | None) -> Dataset:
    item = Dataset()
    item.TreatmentMachineName = (treatment_machine or beam.treatment_machine or model.name)[:_SH_MAX]
    item.PrimaryDosimeterUnit = "MU"
    item.BeamNumber = int(beam.number)
    item.BeamName = beam.name[:64]
    item.BeamType = "STATIC"
    item.RadiationType = "PROTON"
    item.TreatmentDeliveryType = "TREATMENT"
    item.NumberOfWedges = 0
    item.NumberOfCompensators = 0
    item.NumberOfBoli = 0
    item.NumberOfBlocks = 0
    item.FinalCumulativeMetersetWeight = decimal_string(_beam_meterset(layers))
    item.NumberOfControlPoints = 2 * len(layers)
    item.ScanMode = "MODULATED"
    vsad = beam.virtual_source_axis_distances_mm or model.virtual_source_axis_distance_mm
    item.VirtualSourceAxisDistances = [float(vsad[0]), float(vsad[1])]
    item.NumberOfRangeShifters = len(beam.range_shifter_ids)
    if beam.range_shifter_ids:
        shifters = []
        for number, rs_id in enumerate(beam.range_shifter_ids, start=1):
            rs = Dataset()
            rs.RangeShifterNumber = number
            rs.RangeShifterID = rs_id[:_SH_MAX]
            rs.AccessoryCode = rs_id[:64]
            rs.RangeShifterType = "BINARY"
            shifters.append(rs)
        item.RangeShifterSequence = shifters
    item.NumberOfLateralSpreadingDevices = 0
    item.NumberOfRangeModulators = 0
    item.PatientSupportType = "TABLE"
    item.ReferencedPatientSetupNumber = 1
    item.IonControlPointSequence = _control_points(beam, layers, model)
    return item


def _control_points(beam: Beam, layers: list[tuple[EnergyLayer, np.ndarray]], model: BeamModel) -> list[Dataset]:
    points = []
    cumulative = 0.0
    for layer, mu in layers:
        keep = mu > 0
        positions = np.column_stack([layer.spot_x_mm[keep], layer.spot_y_mm[keep]]).astype(np.float32).reshape(-1)
        weights = mu[keep]
        for closing in (False, True):
            cp = Dataset()
            cp.ControlPointIndex = len(points)
            cp.NominalBeamEnergyUnit = "MEV"
            cp.NominalBeamEnergy = decimal_string(layer.nominal_energy_mev)
            if not points:
                _first_control_point(cp, beam, layer, model)
            if closing:
                cumulative += float(weights.astype(np.float64).sum())
            cp.CumulativeMetersetWeight = decimal_string(cumulative)
            cp.ScanSpotTuneID = (layer.spot_tune_id or DEFAULT_TUNE_ID)[:_SH_MAX]
            cp.NumberOfScanSpotPositions = int(weights.size)
            cp.ScanSpotPositionMap = positions.tolist()
            cp.ScanSpotMetersetWeights = (np.zeros_like(weights) if closing else weights).tolist()
            if layer.scanning_spot_size_mm is not None:
                cp.ScanningSpotSize = [float(v) for v in layer.scanning_spot_size_mm]
            cp.NumberOfPaintings = 1
            points.append(cp)
    return points


def _first_control_point(cp: Dataset, beam: Beam, layer: EnergyLayer, model: BeamModel) -> None:
    """Beam geometry, stated once on the first control point (it does not change within a beam)."""
    cp.GantryAngle = decimal_string(beam.gantry_angle_deg % 360.0)
    cp.GantryRotationDirection = "NONE"
    cp.GantryPitchAngle = float(beam.gantry_pitch_angle_deg)
    cp.GantryPitchRotationDirection = "NONE"
    cp.BeamLimitingDeviceAngle = "0"
    cp.BeamLimitingDeviceRotationDirection = "NONE"
    cp.PatientSupportAngle = decimal_string(beam.couch_angle_deg % 360.0)
    cp.PatientSupportRotationDirection = "NONE"
    cp.TableTopVerticalPosition = None
    cp.TableTopLongitudinalPosition = None
    cp.TableTopLateralPosition = None
    cp.TableTopPitchAngle = 0.0
    cp.TableTopPitchRotationDirection = "NONE"
    cp.TableTopRollAngle = 0.0
    cp.TableTopRollRotationDirection = "NONE"
    cp.IsocenterPosition = [decimal_string(v) for v in beam.isocenter_mm]
    cp.SnoutPosition = None if beam.snout_position_mm is None else float(beam.snout_position_mm)
    if beam.range_shifter_ids:
        settings = []
        for number, rs_id in enumerate(beam.range_shifter_ids, start=1):
            rs = model.range_shifters[rs_id]
            s = Dataset()
            s.ReferencedRangeShifterNumber = number
            s.RangeShifterSetting = layer.range_shifter_setting or "IN"
            distance = layer.isocenter_to_range_shifter_mm
            s.IsocenterToRangeShifterDistance = float(rs.isocenter_distance_mm if distance is None else distance)
            if rs.water_equivalent_thickness_mm:
                s.RangeShifterWaterEquivalentThickness = float(rs.water_equivalent_thickness_mm)
            settings.append(s)
        cp.RangeShifterSettingsSequence = settings
