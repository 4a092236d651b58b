"""The job wire format: how a Job goes to a worker and its Snapshots come back.

One byte stream each way (an SSH channel's stdin/stdout, or a local pipe) carries
length-prefixed frames::

    magic b"BDWF" | kind (u8) | 3 pad bytes | header length (u32) | body length (u64)
    header: UTF-8 JSON (a dict)           body: the arrays, one after another

The header lists the arrays it carries (name, dtype, shape, codec, bytes), so a
reader needs nothing but this module.  No pickle crosses the wire: a node cannot
make the workstation run code by what it sends back, and a version change shows
up as a clear refusal instead of an unpickling error.

Arrays are compressed with ``shuffle-zlib``: the bytes of each element are
regrouped by significance (all first bytes, then all second bytes, ...), as
Blosc does, then deflated with zlib at level 1.  Snapshot sums are int64 counts
whose high bytes are almost all zero and most voxels see no dose, so the
shuffled stream deflates far better than the plain one; the ratio is measured
in benchmarks/README.md.

How a Job and the blocks of a dose-influence matrix are packed into frames (an allow-list of model
classes, no identifying field) is :mod:`.wire_jobs`.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .._version import __version__
from ..errors import WireError
from ..model import Snapshot

#: this build speaks protocol PROTOCOL and still understands peers down to MIN_PROTOCOL.
#: 2: the compiled kernel (other random streams per batch, so batches of a protocol-1 node would not
#: reproduce), double-Gaussian beam models and SimulationSettings.threads; a protocol-1 node would
#: silently drop the second Gaussian, so it is refused.
#: 3: dose-influence matrices (a job frame may ask for one; its blocks come back as "dij" frames). A node
#: of protocol 2 would run such a job as a dose, so a client asks for a matrix only from a node of 3 or more.
#: 4: a dose-influence request may name a later pass (new random streams, for a matrix refined to a target
#: uncertainty); a node of 3 would run the first pass's streams again, so later passes go only to nodes of 4.
PROTOCOL = 4
MIN_PROTOCOL = 2
DIJ_PROTOCOL = 3
DIJ_PASS_PROTOCOL = 4

MAGIC = b"BDWF"
_PREFIX = struct.Struct(">4sB3xIQ")
PREFIX_BYTES = _PREFIX.size
MAX_HEADER_BYTES = 64 << 20
MAX_BODY_BYTES = 64 << 30

# "received" (client to node, after "done"): the client holds the whole result, the node may delete the job
# "dij" (node to client): the sums of one block of spots of a dose-influence matrix
KINDS = {"hello": 1, "job": 2, "snapshot": 3, "log": 4, "error": 5, "done": 6, "cancel": 7, "received": 8,
         "dij": 9}
_KIND_NAMES = {v: k for k, v in KINDS.items()}

ZLIB_LEVEL = 1


@dataclass
class Message:
    """One decoded frame: its kind, its JSON header and its arrays."""

    kind: str
    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    frame_bytes: int = 0  # size on the wire, prefix included


# -- array codecs ------------------------------------------------------------------------

def _shuffle(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a)
    if a.itemsize == 1:
        return a.tobytes()
    return a.view(np.uint8).reshape(-1, a.itemsize).T.tobytes()


def _unshuffle(raw: bytes, dtype: np.dtype, count: int) -> np.ndarray:
    if dtype.itemsize == 1:
        return np.frombuffer(raw, dtype=dtype, count=count).copy()
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(dtype.itemsize, count)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(-1)


def encode_array(a: np.ndarray, codec: str = "shuffle-zlib") -> tuple[dict, bytes]:
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise WireError(f"cannot send an array of dtype {a.dtype} (numbers only)")
    dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    a = a.astype(dtype, copy=False)
    if codec == "raw":
        data = np.ascontiguousarray(a).tobytes()
    elif codec == "zlib":
        data = zlib.compress(np.ascontiguousarray(a).tobytes(), ZLIB_LEVEL)
    elif codec == "shuffle-zlib":
        data = zlib.compress(_shuffle(a), ZLIB_LEVEL)
    else:
        raise WireError(f"unknown array codec {codec!r}")
    meta = {"dtype": dtype.str, "shape": list(a.shape), "codec": codec, "nbytes": len(data), "raw_nbytes": a.nbytes}
    return meta, data


def decode_array(meta: dict, data: bytes) -> np.ndarray:
    try:
        dtype = np.dtype(meta["dtype"])
        shape = tuple(int(s) for s in meta["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        codec = meta["codec"]
        if dtype.kind not in "biuf":
            raise WireError(f"array of dtype {dtype} refused (numbers only)")
        if codec == "raw":
            flat = np.frombuffer(data, dtype=dtype, count=count).copy()
        elif codec == "zlib":
            flat = np.frombuffer(zlib.decompress(data), dtype=dtype, count=count).copy()
        elif codec == "shuffle-zlib":
            flat = _unshuffle(zlib.decompress(data), dtype, count)
        else:
            raise WireError(f"unknown array codec {codec!r}")
        return flat.reshape(shape)
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        raise WireError(f"damaged array in a frame ({exc})") from None


# -- frames --------------------------------------------------------------------------------

def encode(kind: str, header: dict | None = None, arrays: dict[str, np.ndarray] | None = None,
           codec: str = "shuffle-zlib") -> bytes:
    """One frame, ready to write."""
    if kind not in KINDS:
        raise WireError(f"unknown message kind {kind!r}")
    header = dict(header or {})
    metas, blobs = [], []
    for name, a in (arrays or {}).items():
        meta, data = encode_array(a, codec)
        metas.append({"name": name, **meta})
        blobs.append(data)
    if metas:
        header["arrays"] = metas
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body_len = sum(len(b) for b in blobs)
    return b"".join([_PREFIX.pack(MAGIC, KINDS[kind], len(head), body_len), head, *blobs])


def parse_prefix(prefix: bytes) -> tuple[str, int, int]:
    """(kind, header length, body length) of a frame prefix; WireError if it is not one."""
    if len(prefix) != PREFIX_BYTES:
        raise WireError(f"stream ended inside a frame prefix ({len(prefix)} of {PREFIX_BYTES} bytes)")
    magic, code, hlen, blen = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError(f"the stream is not braggdesk frames: it starts with {prefix[:40]!r} "
                        "(does the remote login print text on standard output, or is the remote command "
                        "not `braggdesk worker`?)")
    if code not in _KIND_NAMES:
        raise WireError(f"unknown message kind {code} (a newer braggdesk on the other side?)")
    if hlen > MAX_HEADER_BYTES or blen > MAX_BODY_BYTES:
        raise WireError(f"frame too large: header {hlen} bytes, body {blen} bytes")
    return _KIND_NAMES[code], hlen, blen


def _decode_header(kind: str, head: bytes) -> dict[str, Any]:
    try:
        header = json.loads(head.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"damaged {kind} header ({exc})") from None
    if not isinstance(header, dict):
        raise WireError(f"damaged {kind} header: not a JSON object")
    return header


def decode(kind: str, head: bytes, body: bytes) -> Message:
    header = _decode_header(kind, head)
    arrays = {}
    offset = 0
    for meta in header.pop("arrays", []):
        n = int(meta["nbytes"])
        if offset + n > len(body):
            raise WireError(f"{kind} frame shorter than its arrays say")
        arrays[meta["name"]] = decode_array(meta, body[offset:offset + n])
        offset += n
    return Message(kind, header, arrays, PREFIX_BYTES + len(head) + len(body))


def read_message(read_exactly: Callable[[int], bytes]) -> Message | None:
    """The next frame from a blocking reader; None at a clean end of stream (between frames).

    ``read_exactly(n)`` returns n bytes, or fewer only at the end of the stream.
    """
    parts = _read_frame_parts(read_exactly)
    if parts is None:
        return None
    _, kind, head, body = parts
    return decode(kind, head, body)


def stream_reader(stream) -> Callable[[int], bytes]:
    """``read_exactly`` for a binary file object (a pipe's stdout, sys.stdin.buffer)."""
    def read_exactly(n: int) -> bytes:
        parts, got = [], 0
        while got < n:
            chunk = stream.read(n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    return read_exactly


# -- hello and version check ------------------------------------------------------------

def hello_header(role: str, **extra: Any) -> dict:
    return {"protocol": PROTOCOL, "min_protocol": MIN_PROTOCOL, "braggdesk": __version__, "role": role, **extra}


def check_compatible(peer: dict, where: str) -> None:
    """Refuse a peer whose protocol range does not overlap ours, saying what to install."""
    try:
        theirs, their_min = int(peer["protocol"]), int(peer.get("min_protocol", peer["protocol"]))
    except (KeyError, TypeError, ValueError):
        raise WireError(f"{where} sent a hello without a protocol version: not a braggdesk worker?") from None
    if theirs < MIN_PROTOCOL or their_min > PROTOCOL:
        raise WireError(
            f"{where} runs braggdesk {peer.get('braggdesk', '?')} (wire protocol {their_min}-{theirs}); this "
            f"side runs braggdesk {__version__} (protocol {MIN_PROTOCOL}-{PROTOCOL}): they cannot talk. "
            "Install the same braggdesk version on both machines")


# -- snapshots ---------------------------------------------------------------------------

_SNAPSHOT_ARRAYS = ("energy", "energy_sq", "batch_sq_sum", "let_numerator", "let_energy")


def encode_snapshot(snap: Snapshot, codec: str = "shuffle-zlib", sparse: bool = True) -> bytes:
    """A snapshot frame.  ``sparse``: only voxels where some sum is not zero cross (their indices as
    gaps between them), since a batch deposits dose in a small part of the grid; exact either way."""
    header = {"primaries": int(snap.primaries), "batches": [int(b) for b in snap.batches],
              "compute_seconds": float(snap.compute_seconds), "device": snap.device, "job_id": snap.job_id,
              "notes": list(snap.notes), "counters": {k: int(v) for k, v in snap.counters.items()},
              "voxels": int(snap.n_voxels)}
    if not sparse:
        dense = snap.dense()
        return encode("snapshot", header, {name: getattr(dense, name) for name in _SNAPSHOT_ARRAYS}, codec)
    arrays = {name: getattr(snap, name) for name in _SNAPSHOT_ARRAYS}
    hit = np.zeros(arrays["energy"].size, dtype=bool)
    for a in arrays.values():
        hit |= a != 0
    keep = np.flatnonzero(hit)
    index = keep if snap.voxels is None else snap.voxels[keep]
    gaps = np.diff(index, prepend=0).astype(np.uint32 if snap.n_voxels < 2**32 else np.uint64)
    return encode("snapshot", header, {"voxel_gaps": gaps, **{name: a[keep] for name, a in arrays.items()}}, codec)


def decode_snapshot(msg: Message) -> Snapshot:
    """The snapshot of a frame: sparse if it was sent sparse (merge it with an Accumulator)."""
    if msg.kind != "snapshot":
        raise WireError(f"expected a snapshot, got {msg.kind}")
    h, a = msg.header, msg.arrays
    try:
        arrays = {name: a[name] for name in _SNAPSHOT_ARRAYS}
        n = int(h["voxels"])
        index = None
        if "voxel_gaps" in a:
            index = np.cumsum(a["voxel_gaps"].astype(np.int64))
            if index.size and (index[-1] >= n or index.size != arrays["energy"].size or np.any(np.diff(index) <= 0)):
                raise WireError("snapshot voxel indices outside the grid or out of order")
        size = n if index is None else index.size
        for name, arr in arrays.items():
            want = np.float64 if name == "batch_sq_sum" else np.int64
            if arr.dtype != want or arr.size != size:
                raise WireError(f"snapshot array {name}: {arr.dtype} x {arr.size}, expected {np.dtype(want)} x {size}")
        return Snapshot(primaries=int(h["primaries"]), batches=tuple(int(b) for b in h["batches"]),
                        compute_seconds=float(h["compute_seconds"]), device=str(h["device"]),
                        job_id=str(h["job_id"]), notes=tuple(str(s) for s in h["notes"]),
                        counters={str(k): int(v) for k, v in h["counters"].items()}, voxels=index, n_voxels=n,
                        **arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"damaged snapshot ({exc!r})") from None


def read_header(read_exactly: Callable[[int], bytes]) -> tuple[bytes, dict] | None:
    """The whole next frame as bytes, and its header decoded (the arrays left as they are): for forwarding."""
    parts = _read_frame_parts(read_exactly)
    if parts is None:
        return None
    prefix, kind, head, body = parts
    return prefix + head + body, _decode_header(kind, head)


def _read_frame_parts(read_exactly: Callable[[int], bytes]) -> tuple[bytes, str, bytes, bytes] | None:
    """Prefix, kind, header and body of the next frame; None at a clean end of stream."""
    prefix = read_exactly(PREFIX_BYTES)
    if not prefix:
        return None
    kind, hlen, blen = parse_prefix(prefix)
    head = read_exactly(hlen)
    body = read_exactly(blen) if blen else b""
    if len(head) != hlen or len(body) != blen:
        raise WireError(f"stream ended inside a {kind} frame")
    return prefix, kind, head, body
