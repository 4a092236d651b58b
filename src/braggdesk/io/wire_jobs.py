"""Jobs and dose-influence blocks on the wire (:mod:`.wire` has the frames, arrays, hello and snapshots).

A Job crosses as plain JSON values and the arrays they point to, built from an allow-list of model classes
(no pickle) and without the fields that could tie it to a patient or a study: CT series, study and
description, plan label and UIDs, file paths.  Frame-of-reference UIDs become short tokens that keep only
"same or different" (all the engine checks).  A job frame may ask for the job's dose-influence matrix
instead of its dose; the matrix comes back block by block as "dij" frames of exact integer sums.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import WireError
from ..model import (Beam, BeamModel, CtCalibration, EnergyLayer, Job, Material, Plan, RangeShifter,
                     SimulationSettings, Volume)
from ..model.dij import DijBatch
from .wire import PROTOCOL, Message, encode

_CLASSES = {c.__name__: c for c in (Volume, Plan, Beam, EnergyLayer, BeamModel, RangeShifter, Material,
                                    CtCalibration, SimulationSettings)}
#: fields that never cross: identity (series, study, plan UIDs and label) and local file paths
IDENTITY_FIELDS = {
    "Volume": frozenset({"series_instance_uid", "study_instance_uid", "description"}),
    "Plan": frozenset({"label", "sop_instance_uid", "referenced_structure_set_uid", "source_path"}),
    "BeamModel": frozenset({"source_path"}),
    "CtCalibration": frozenset({"source_path"}),
}
_DROPPED = IDENTITY_FIELDS
#: fields renamed since protocol 2 that keep their old name on the wire, so peers of protocols 2-3 still read
#: the job (a Volume's array was ``hu`` before it held doses too; its ``unit`` is new and older peers skip it)
WIRE_NAMES = {"Volume": {"values": "hu"}}
_FROM_WIRE = {cls: {wire: name for name, wire in names.items()} for cls, names in WIRE_NAMES.items()}
FRAME_OF_REFERENCE = _FRAME_OF_REFERENCE = "frame_of_reference_uid"
FRAME_TOKEN = re.compile(r"^frame-\d+$")


def deidentified_job(job: Job) -> Job:
    """The job as it may leave this machine (what :func:`job_content` sends, as a Job for other carriers):
    the identity fields empty, frame-of-reference UIDs replaced by tokens that keep "same or different"."""
    tokens: dict[str, str] = {}

    def clean(obj):
        changes = {name: "" for name in IDENTITY_FIELDS.get(type(obj).__name__, ())}
        uid = getattr(obj, FRAME_OF_REFERENCE, None)
        if uid is not None:
            changes[FRAME_OF_REFERENCE] = tokens.setdefault(uid, f"frame-{len(tokens) + 1}") if uid else ""
        return dataclasses.replace(obj, **changes)

    ct, plan = clean(job.ct), clean(job.plan)  # the order job_content packs them in: the same tokens
    return dataclasses.replace(job, ct=ct, plan=plan, beam_model=clean(job.beam_model),
                               calibration=clean(job.calibration))


class _Packer:
    def __init__(self, frame_tokens: dict[str, str]):
        self.arrays: dict[str, np.ndarray] = {}
        self.tokens = frame_tokens

    def pack(self, obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            name = type(obj).__name__
            if _CLASSES.get(name) is not type(obj):
                raise WireError(f"a {name} cannot be sent to a worker")
            out: dict[str, Any] = {"__type__": name}
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                if f.name in _DROPPED.get(name, ()):
                    value = ""  # all dropped fields are text
                if f.name == _FRAME_OF_REFERENCE:
                    value = self.tokens.setdefault(value, f"frame-{len(self.tokens) + 1}") if value else ""
                out[WIRE_NAMES.get(name, {}).get(f.name, f.name)] = self.pack(value)
            return out
        if isinstance(obj, np.ndarray):
            key = f"a{len(self.arrays)}"
            self.arrays[key] = obj
            return {"__array__": key}
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, tuple):
            return {"__tuple__": [self.pack(v) for v in obj]}
        if isinstance(obj, list):
            return [self.pack(v) for v in obj]
        if isinstance(obj, dict):
            if not all(isinstance(k, str) for k in obj):
                raise WireError("only dicts with text keys can be sent")
            return {"__dict__": {k: self.pack(v) for k, v in obj.items()}}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        raise WireError(f"a {type(obj).__name__} cannot be sent to a worker")


def _unpack(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, list):
        return [_unpack(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__array__" in obj:
        return arrays[obj["__array__"]]
    if "__tuple__" in obj:
        return tuple(_unpack(v, arrays) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {k: _unpack(v, arrays) for k, v in obj["__dict__"].items()}
    name = obj.get("__type__")
    cls = _CLASSES.get(name)
    if cls is None:
        raise WireError(f"unknown type {name!r} in a job (a newer braggdesk on the other side?)")
    names = {f.name for f in dataclasses.fields(cls)}
    renamed = _FROM_WIRE.get(name, {})
    kwargs = {renamed.get(k, k): _unpack(v, arrays) for k, v in obj.items()
              if k != "__type__" and renamed.get(k, k) in names}
    return cls(**kwargs)


def job_content(job: Job) -> tuple[dict, dict[str, np.ndarray]]:
    """The part of a job that crosses: plain JSON values and the arrays they point to."""
    packer = _Packer({})
    content = {
        "ct": packer.pack(job.ct), "plan": packer.pack(job.plan), "beam_model": packer.pack(job.beam_model),
        "calibration": packer.pack(job.calibration), "settings": packer.pack(job.settings),
        "ignore_frame_of_reference": bool(job.ignore_frame_of_reference),
    }
    return content, packer.arrays


@dataclasses.dataclass(frozen=True)
class DijRequest:
    """A job frame's request for the job's dose-influence matrix instead of its dose: every spot's
    ``per_spot`` histories scored on the voxels of interest, from the random streams of pass ``pass_index``
    (a matrix refined to a target uncertainty adds passes of new streams, :class:`braggdesk.compute.dij.
    DijComputation`)."""

    voxels: np.ndarray  # int64 flat CT indices of the voxels of interest
    per_spot: int
    pass_index: int = 0


def encode_job(job: Job, attach: bool = False, have_batches: tuple[int, ...] = (),
               dij: DijRequest | None = None) -> bytes:
    """The job frame.  ``digest`` identifies the inputs (not the id): a re-attach must match it.

    ``dij`` asks for the job's dose-influence matrix instead of its dose; it is part of the digest.  The
    first pass's request is written as protocol 3 wrote it (a node of protocol 3 runs it); a later pass
    names itself."""
    content, arrays = job_content(job)
    if dij is not None:
        content["dij"] = {"per_spot": int(dij.per_spot)}
        if dij.pass_index:
            content["dij"]["pass"] = int(dij.pass_index)
        arrays["dij_voxels"] = np.ascontiguousarray(dij.voxels, dtype=np.int64)
    digest = job_digest(content, arrays)
    header = {"job_id": job.job_id, "digest": digest, "content": content, "attach": bool(attach),
              "have_batches": [int(b) for b in have_batches], "protocol": PROTOCOL, "braggdesk": __version__}
    return encode("job", header, arrays)


def job_digest(content: dict, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def dij_request(msg: Message) -> DijRequest | None:
    """The job frame's dose-influence request, or None for a dose."""
    try:
        spec = msg.header["content"].get("dij")
        if spec is None:
            return None
        voxels = np.asarray(msg.arrays["dij_voxels"], dtype=np.int64)
        per_spot = int(spec["per_spot"])
        pass_index = int(spec.get("pass", 0))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WireError(f"damaged dose-influence request ({exc!r})") from None
    if per_spot < 1 or pass_index < 0 or voxels.ndim != 1:
        raise WireError(f"damaged dose-influence request (per_spot {per_spot}, pass {pass_index}, voxels of shape "
                        f"{voxels.shape})")
    return DijRequest(voxels, per_spot, pass_index)


_DIJ_ARRAYS = ("histories", "spot", "row", "energy", "energy_sq")


def encode_dij_batch(batch: DijBatch) -> bytes:
    """One block of a dose-influence matrix: its integer sums per (spot, row), exact."""
    header = {"n_spots": int(batch.n_spots), "n_rows": int(batch.n_rows), "batches": [int(b) for b in batch.batches],
              "compute_seconds": float(batch.compute_seconds), "device": batch.device, "job_id": batch.job_id,
              "counters": {k: int(v) for k, v in batch.counters.items()}}
    return encode("dij", header, {name: getattr(batch, name) for name in _DIJ_ARRAYS})


def decode_dij_batch(msg: Message) -> DijBatch:
    if msg.kind != "dij":
        raise WireError(f"expected a dose-influence block, got {msg.kind}")
    h, a = msg.header, msg.arrays
    try:
        batch = DijBatch(int(h["n_spots"]), int(h["n_rows"]), a["histories"], a["spot"], a["row"], a["energy"],
                         a["energy_sq"], tuple(int(b) for b in h["batches"]), float(h["compute_seconds"]),
                         str(h["device"]), str(h["job_id"]), {str(k): int(v) for k, v in h["counters"].items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"damaged dose-influence block ({exc!r})") from None
    if batch.n_entries and (batch.spot.min() < 0 or batch.spot.max() >= batch.n_spots or batch.row.min() < 0
                            or batch.row.max() >= batch.n_rows):
        raise WireError("dose-influence block with spots or rows outside the matrix")
    return batch


def decode_job(msg: Message) -> Job:
    if msg.kind != "job":
        raise WireError(f"expected a job, got {msg.kind}")
    try:
        c = msg.header["content"]
        a = msg.arrays
        return Job(ct=_unpack(c["ct"], a), plan=_unpack(c["plan"], a), beam_model=_unpack(c["beam_model"], a),
                   calibration=_unpack(c["calibration"], a), settings=_unpack(c["settings"], a),
                   job_id=str(msg.header["job_id"]), ignore_frame_of_reference=bool(c["ignore_frame_of_reference"]))
    except WireError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"damaged job ({exc!r})") from None
