"""What leaves this machine with a job, and the one check it passes before it goes.

Why: a job sent to an SSH node or a Dask cluster must carry arrays and geometry only, never
who the patient is.  :meth:`Job.create` already leaves names and IDs behind, but a job also
holds text typed by people (plan label, beam names, calibration notes) and UIDs that tie it
to a study.  So every runner that sends a job off the machine builds what it sends here:

1. :func:`outbound_job`: the identity fields emptied and frame-of-reference UIDs replaced by
   tokens (:func:`braggdesk.io.wire_jobs.deidentified_job`), and free text that repeats a
   confidential value (a beam named like its plan, a calibration note with a UID) replaced
   by a neutral word;
2. the payload, as the carrier will send it: the wire frame (SSH node, local pipe) or the
   pickled frames Dask sends for the job it scatters (:func:`wire_payload`, :func:`dask_payload`);
3. :func:`check_outbound`: the payload decoded as the receiver will decode it, and every
   text value in it checked: the identity fields are empty, no value contains the patient's
   name, ID, birth date or accession number or a study, series, plan or structure-set UID
   (nor anything shaped like a DICOM UID), and no value is the plan label.  A failure is
   an :class:`IdentityLeak` naming the field and what it holds (never the value), raised
   before anything is sent.

Values shorter than :data:`MIN_CHARS` are not searched for: an ID like "1" or a label like
"A" cannot be told from ordinary text.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import BraggdeskError
from ..io import wire, wire_jobs
from ..io.deidentify import PatientIdentity
from ..model import Job

MIN_CHARS = 4
#: a DICOM UID: a root arc 0, 1 or 2 and at least four more numeric components
DICOM_UID = re.compile(r"(?<![\d.])[0-2](?:\.\d+){4,}(?![\d.])")
#: text fields read by people only (the engine does not interpret them) and what replaces a confidential value there
_FREE_TEXT = {("Beam", "name"): "beam {number}", ("BeamModel", "name"): "beam model",
              ("CtCalibration", "name"): "calibration"}
_NOTES = ("CtCalibration", "notes")
#: a job id braggdesk made (uuid4 hex): random, not text, so not searched (a 4-digit ID would match by chance)
_RANDOM_ID = re.compile(r"^[0-9a-f]{32}$")


class IdentityLeak(BraggdeskError):
    """The job about to leave this machine carries something that identifies the patient or the study."""


@dataclass(frozen=True)
class Confidential:
    """Values that must not leave this machine, each with what it is ("patient ID"); repr hides the values."""

    identity: tuple[tuple[str, str], ...] = ()  # searched for inside every text value
    labels: tuple[tuple[str, str], ...] = ()  # refused as a whole value (a label is short and ordinary text)

    def __repr__(self) -> str:
        return f"Confidential(<{len(self.identity) + len(self.labels)} values hidden>)"

    __str__ = __repr__

    @classmethod
    def of(cls, job: Job, identity: PatientIdentity | None = None) -> "Confidential":
        """What ``job`` itself knows (UIDs, plan label) plus the patient's identity where the caller read it."""
        found = [("series UID", job.ct.series_instance_uid), ("study UID", job.ct.study_instance_uid),
                 ("CT description", job.ct.description), ("plan UID", job.plan.sop_instance_uid),
                 ("structure set UID", job.plan.referenced_structure_set_uid),
                 ("frame-of-reference UID", job.ct.frame_of_reference_uid),
                 ("frame-of-reference UID", job.plan.frame_of_reference_uid)]
        if identity is not None:
            name = identity.patient_name
            found += [("patient name", v) for v in _name_forms(name)]
            found += [("patient ID", identity.patient_id), ("accession number", identity.accession_number)]
            found += [("birth date", v) for v in _date_forms(identity.patient_birth_date)]
        keep = tuple(dict.fromkeys((what, v.strip()) for what, v in found if len(v.strip()) >= MIN_CHARS))
        label = job.plan.label.strip()
        return cls(keep, (("plan label", label),) if len(label) >= MIN_CHARS else ())

    def found_in(self, text: str) -> str | None:
        """What confidential value ``text`` contains (or, for a label, is); None if none."""
        folded = text.casefold()
        for what, value in self.identity:
            if value.casefold() in folded:
                return what
        for what, value in self.labels:
            if value.casefold() == folded.strip():
                return what
        if DICOM_UID.search(text):
            return "a DICOM UID"
        return None

    def mentioned_in(self, text: str) -> bool:
        """Whether free text mentions a confidential value anywhere (labels included)."""
        folded = text.casefold()
        return (any(v.casefold() in folded for _, v in self.identity + self.labels)
                or DICOM_UID.search(text) is not None)


def _name_forms(name: str) -> list[str]:
    """A DICOM person name as it may be typed elsewhere: as stored, and family and given names in both orders."""
    parts = [p.strip() for p in name.split("^") if p.strip()]
    forms = [name.strip()]
    if len(parts) >= 2:
        forms += [" ".join(parts), " ".join(parts[1:2] + parts[:1]), f"{parts[0]}, {parts[1]}"]
    return forms


def _date_forms(date: str) -> list[str]:
    date = date.strip()
    if len(date) == 8 and date.isdigit():
        return [date, f"{date[:4]}-{date[4:6]}-{date[6:]}", f"{date[6:]}.{date[4:6]}.{date[:4]}"]
    return [date]


# -- what is sent ------------------------------------------------------------------------------

def outbound_job(job: Job, confidential: Confidential) -> Job:
    """The job as it may leave: de-identified, and free text that repeats a confidential value neutralised."""
    out = wire_jobs.deidentified_job(job)
    plan = dataclasses.replace(out.plan, beams=[_neutral(b, confidential) for b in out.plan.beams])
    return dataclasses.replace(out, plan=plan, beam_model=_neutral(out.beam_model, confidential),
                               calibration=_neutral(out.calibration, confidential))


def _neutral(obj, confidential: Confidential):
    cls = type(obj).__name__
    changes: dict[str, Any] = {}
    for (c, name), word in _FREE_TEXT.items():
        if c == cls and confidential.mentioned_in(getattr(obj, name)):
            changes[name] = word.format(number=getattr(obj, "number", ""))
    if cls == _NOTES[0]:
        notes = getattr(obj, _NOTES[1])
        kept = [n for n in notes if not confidential.mentioned_in(n)]
        if len(kept) != len(notes):
            changes[_NOTES[1]] = kept
    return dataclasses.replace(obj, **changes) if changes else obj


def wire_payload(job: Job, confidential: Confidential, attach: bool = False, have_batches=(), dij=None) -> bytes:
    """The job frame an SSH node (or a local worker process) gets, checked (``dij``: see wire_jobs.encode_job)."""
    frame = wire_jobs.encode_job(outbound_job(job, confidential), attach=attach, have_batches=have_batches, dij=dij)
    check_outbound(wire_values(frame), confidential, "the job frame for the worker")
    return frame


def dask_payload(job: Job, confidential: Confidential) -> Job:
    """The job to scatter to the Dask workers (the outbound Job), checked as the frames Dask will send for it."""
    from distributed.protocol import deserialize  # noqa: PLC0415

    out = outbound_job(job, confidential)
    header, frames = dask_frames(out)
    check_outbound(object_values(deserialize(header, frames, deserializers=("pickle",))), confidential,
                   "the job for the Dask workers")
    return out


def dask_frames(obj) -> tuple[dict, list]:
    """The header and frames Dask sends for ``obj`` to a worker process (pickle protocol 5, arrays out of band):
    scatter serializes it the same way."""
    from distributed.protocol import serialize  # noqa: PLC0415

    return serialize(obj, serializers=("dask", "pickle"), context={"pickle-protocol": 5}, on_error="raise")


# -- the check -------------------------------------------------------------------------------------

def check_outbound(values: Iterable[tuple[str, str, str, Any]], confidential: Confidential, what: str) -> None:
    """IdentityLeak unless every (path, class, field, value) of a decoded payload is clean; see the module."""
    for path, cls, field, value in values:
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise IdentityLeak(f"{what}: {path} is an array of {value.dtype}, not numbers; refused")
            continue
        if not isinstance(value, str):
            raise IdentityLeak(f"{what}: {path} holds a {type(value).__name__}; only model objects may be sent")
        if field == "job_id" and _RANDOM_ID.match(value):
            continue
        if field in wire_jobs.IDENTITY_FIELDS.get(cls, ()) and value:
            raise IdentityLeak(f"{what}: {path} is not empty; it must never leave this machine")
        if field == wire_jobs.FRAME_OF_REFERENCE:
            if value and not wire_jobs.FRAME_TOKEN.match(value):
                raise IdentityLeak(f"{what}: {path} is a frame-of-reference UID, not a token")
            continue
        found = confidential.found_in(value)
        if found:
            raise IdentityLeak(f"{what}: {path} holds {found if found.startswith('a ') else 'the ' + found}; "
                               f"nothing identifying may leave this machine, so the job was not sent")


def object_values(obj: Any, path: str = "job", cls: str = "", field: str = "") -> Iterator[tuple[str, str, str, Any]]:
    """Every text value (and array) of a job object, with where it sits: (path, class, field, value)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__name__
        for f in dataclasses.fields(obj):
            yield from object_values(getattr(obj, f.name), f"{path}.{f.name}", name, f.name)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from object_values(v, f"{path}[{i}]", cls, field)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield path, cls, field, k if isinstance(k, str) else repr(k)
            yield from object_values(v, f"{path}[{k!r}]", cls, field)
    elif isinstance(obj, (str, np.ndarray)):
        yield path, cls, field, obj
    elif obj is None or isinstance(obj, (bool, int, float, np.generic)):
        return
    else:
        yield path, cls, field, obj  # refused by the check: nothing but model objects and numbers may go


def wire_values(frame: bytes) -> Iterator[tuple[str, str, str, Any]]:
    """Every text value in a job frame's header, as the node reads it (the arrays are numbers by the format)."""
    _, hlen, _ = wire.parse_prefix(frame[:wire.PREFIX_BYTES])
    header = json.loads(frame[wire.PREFIX_BYTES:wire.PREFIX_BYTES + hlen])
    yield "job.job_id", "Job", "job_id", header["job_id"]
    yield from _content_values(header["content"], "job")  # the rest: digest, versions, array layout


def _content_values(node: Any, path: str, cls: str = "", field: str = "") -> Iterator[tuple[str, str, str, Any]]:
    if isinstance(node, dict):
        if "__type__" in node:
            name = str(node["__type__"])
            for k, v in node.items():
                if k != "__type__":
                    yield from _content_values(v, f"{path}.{k}", name, k)
        elif "__tuple__" in node:
            yield from _content_values(node["__tuple__"], path, cls, field)
        elif "__dict__" in node:
            for k, v in node["__dict__"].items():
                yield path, cls, field, k
                yield from _content_values(v, f"{path}[{k!r}]", cls, field)
        elif "__array__" in node:
            return
        else:
            for k, v in node.items():
                yield from _content_values(v, f"{path}.{k}", cls, k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _content_values(v, f"{path}[{i}]", cls, field)
    elif isinstance(node, str):
        yield path, cls, field, node
