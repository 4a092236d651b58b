"""Patient identity: kept apart from model objects, and stripped from what braggdesk writes.

Why this module exists: a Job, a Volume or a Plan never carries a patient's
name or ID (DESIGN.md), but a file written for a planning system sometimes must
(so the planning system files an RTDOSE with its patient).  The identity is
therefore read on its own (:func:`read_patient_identity`), held in a
:class:`PatientIdentity` that only the writers see, and written only on an
explicit request (``identified=True``; ``braggdesk run --identified``).

By default every file braggdesk writes goes through :func:`finalize_identity`,
which applies the DICOM Basic Application Level Confidentiality Profile
(PS3.15 Annex E, table E.1-1) to the whole dataset, nested sequences included:

* names, IDs, addresses, institution and physician fields are removed or
  emptied, birth date, age, sex, size and weight removed, private elements
  removed;
* dates (DA, DT) are removed, or shifted by a whole number of days when the
  caller asks for ``date_shift_days`` (the "Retain Longitudinal Temporal
  Information with Modified Dates" option); times are removed with the dates;
* UIDs are kept (the "Retain UIDs" option): an RTDOSE must still point at its
  CT's frame of reference, study and plan to be of any use;
* PatientName and PatientID get a pseudonym derived from the StudyInstanceUID,
  which is kept anyway, so a CT and a dose of the same study share it and
  nothing is revealed that the file does not already hold;
* PatientIdentityRemoved = YES and DeidentificationMethodCodeSequence say what
  was done.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from braggdesk.errors import InputError

PROFILE_NAME = "braggdesk: PS3.15 Basic Application Confidentiality Profile"  # LO: at most 64 characters

# PS3.15 table E.1-1, the attributes that can occur in CT, RT Structure Set, RT Plan and RT Dose objects.
# "X": remove; "Z": replace by an empty value; "D": replace by the pseudonym.
_ACTIONS: dict[str, str] = {
    "PatientName": "D", "PatientID": "D",
    "PatientBirthDate": "Z", "PatientBirthTime": "X", "PatientBirthName": "X", "PatientSex": "Z",
    "PatientAge": "X", "PatientSize": "X", "PatientWeight": "X", "PatientAddress": "X",
    "PatientMotherBirthName": "X", "PatientTelephoneNumbers": "X", "PatientTelecomInformation": "X",
    "OtherPatientIDs": "X", "OtherPatientNames": "X", "OtherPatientIDsSequence": "X", "PatientComments": "X",
    "MilitaryRank": "X", "BranchOfService": "X", "EthnicGroup": "X", "Occupation": "X",
    "AdditionalPatientHistory": "X", "MedicalRecordLocator": "X", "PatientReligiousPreference": "X",
    "PregnancyStatus": "X", "SmokingStatus": "X", "MedicalAlerts": "X", "Allergies": "X",
    "CountryOfResidence": "X", "RegionOfResidence": "X", "PatientInsurancePlanCodeSequence": "X",
    "PatientPrimaryLanguageCodeSequence": "X", "ResponsiblePerson": "X", "ResponsibleOrganization": "X",
    "PatientState": "X", "IssuerOfPatientID": "X", "PatientSexNeutered": "X", "PatientBreedDescription": "X",
    "ReferencedPatientSequence": "X", "ReferencedPatientPhotoSequence": "X",
    "ReferringPhysicianName": "Z", "ReferringPhysicianAddress": "X", "ReferringPhysicianTelephoneNumbers": "X",
    "ReferringPhysicianIdentificationSequence": "X", "ConsultingPhysicianName": "X",
    "PhysiciansOfRecord": "X", "PhysiciansOfRecordIdentificationSequence": "X",
    "PerformingPhysicianName": "X", "PerformingPhysicianIdentificationSequence": "X",
    "NameOfPhysiciansReadingStudy": "X", "PhysiciansReadingStudyIdentificationSequence": "X",
    "RequestingPhysician": "X", "ScheduledPerformingPhysicianName": "X",
    "OperatorsName": "Z", "OperatorIdentificationSequence": "X", "ReviewerName": "X",
    "InstitutionName": "X", "InstitutionAddress": "X", "InstitutionalDepartmentName": "X",
    "InstitutionCodeSequence": "X", "StationName": "X", "DeviceSerialNumber": "X",
    "AccessionNumber": "Z", "StudyID": "Z", "StudyDescription": "X", "SeriesDescription": "X",
    "ImageComments": "X", "RequestAttributesSequence": "X", "PerformedProcedureStepID": "X",
    "PerformedProcedureStepDescription": "X", "PerformedProcedureStepStartDate": "X",
    "ScheduledProcedureStepID": "X", "RequestedProcedureID": "X", "RequestedProcedureDescription": "X",
    "AdmissionID": "X", "AdmittingDiagnosesDescription": "X", "AdmittingDiagnosesCodeSequence": "X",
    "ProtocolName": "X", "DerivationDescription": "X", "AcquisitionComments": "X",
    "ContentCreatorName": "Z", "ContentCreatorIdentificationCodeSequence": "X",
    "IdentifyingComments": "X", "TextComments": "X", "TextString": "X", "FrameComments": "X",
    "AuthorObserverSequence": "X", "ParticipantSequence": "X", "VerifyingObserverName": "X",
    "VerifyingObserverSequence": "X", "PersonName": "X", "PersonAddress": "X",
    "PersonTelephoneNumbers": "X", "DigitalSignaturesSequence": "X", "OriginalAttributesSequence": "X",
    "ModifiedAttributesSequence": "X", "ReferencedStudySequence": "X", "ReferencedPerformedProcedureStepSequence": "X",
    "ReviewDate": "X", "ReviewTime": "X",
}

# Retain UIDs (113110); modified dates (113107) only when dates are shifted.
_METHOD_CODES = {
    "113100": "Basic Application Confidentiality Profile",
    "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
    "113110": "Retain UIDs Option",
}


@dataclass(frozen=True)
class PatientIdentity:
    """Patient and study identity of a source file, for identified output only.

    Held apart from every model object; ``repr`` hides the values so an
    identity never ends up in a log or a traceback by accident.
    """

    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_id: str = ""
    accession_number: str = ""
    referring_physician_name: str = ""

    def __repr__(self) -> str:
        return "PatientIdentity(<hidden>)"

    __str__ = __repr__


_IDENTITY_KEYWORDS = {
    "patient_name": "PatientName", "patient_id": "PatientID", "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex", "study_date": "StudyDate", "study_time": "StudyTime", "study_id": "StudyID",
    "accession_number": "AccessionNumber", "referring_physician_name": "ReferringPhysicianName",
}


def read_patient_identity(path: str | Path) -> PatientIdentity:
    """The identity stated by a DICOM file, or by the first DICOM file (in name order) of a folder tree."""
    path = Path(path)
    candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    if not candidates:
        raise InputError(path, "no such file or folder; expected DICOM files to take the patient identity from")
    for candidate in candidates:
        try:
            ds = pydicom.dcmread(candidate, stop_before_pixels=True, specific_tags=list(_IDENTITY_KEYWORDS.values()))
        except Exception:  # not DICOM or unreadable: try the next file
            continue
        if "PatientID" in ds or "PatientName" in ds:
            return PatientIdentity(**{name: str(ds.get(keyword) or "") for name, keyword in _IDENTITY_KEYWORDS.items()})
    raise InputError(path, "holds no DICOM file with a PatientName or PatientID; cannot write identified output")


def pseudonym(study_instance_uid: str) -> str:
    """A stable stand-in for the patient's name and ID: a hash of the (retained) StudyInstanceUID."""
    digest = hashlib.sha256(study_instance_uid.encode()).hexdigest()[:10].upper()
    return f"ANON-{digest}"


def finalize_identity(ds: Dataset, identity: PatientIdentity | None = None, *, identified: bool = False,
                      date_shift_days: int | None = None) -> Dataset:
    """Call on every dataset just before writing it: de-identify, or write ``identity`` when asked to.

    ``identified=True`` needs an ``identity`` and writes its patient and study
    fields over whatever the dataset holds; nothing else changes.  Otherwise
    the dataset is de-identified in place (see the module docstring).
    """
    if identified:
        if identity is None:
            raise ValueError("identified output needs the patient's identity (read_patient_identity)")
        for name, keyword in _IDENTITY_KEYWORDS.items():
            setattr(ds, keyword, getattr(identity, name))
        ds.PatientIdentityRemoved = "NO"
        return ds
    return deidentify(ds, date_shift_days=date_shift_days)


def deidentify(ds: Dataset, *, date_shift_days: int | None = None) -> Dataset:
    """Apply the basic confidentiality profile to ``ds`` in place (and return it)."""
    alias = pseudonym(str(ds.get("StudyInstanceUID") or ds.get("FrameOfReferenceUID") or ""))
    ds.remove_private_tags()
    _clean(ds, alias, date_shift_days)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = PROFILE_NAME
    codes = ["113100", "113110"] + (["113107"] if date_shift_days is not None else [])
    items = []
    for value in codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = _METHOD_CODES[value]
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    return ds


def _clean(ds: Dataset, alias: str, date_shift_days: int | None) -> None:
    for elem in list(ds):
        keyword = elem.keyword
        action = _ACTIONS.get(keyword)
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = None
        elif action == "D":
            elem.value = alias
        elif elem.VR in ("DA", "DT"):
            _date(ds, elem, date_shift_days)
        elif elem.VR == "TM" and date_shift_days is None:
            elem.value = None
        elif elem.VR == "SQ":
            for item in elem.value:
                _clean(item, alias, date_shift_days)


def _date(ds: Dataset, elem: DataElement, shift_days: int | None) -> None:
    if shift_days is None or not elem.value:
        elem.value = None
        return
    values = elem.value if isinstance(elem.value, pydicom.multival.MultiValue) else [elem.value]
    shifted = []
    for value in values:
        text = str(value)
        try:
            day = datetime.datetime.strptime(text[:8], "%Y%m%d").date() + datetime.timedelta(days=shift_days)
        except ValueError:  # not a full date: cannot be shifted safely, so it goes
            elem.value = None
            return
        shifted.append(day.strftime("%Y%m%d") + text[8:])
    elem.value = shifted if len(shifted) > 1 else shifted[0]

