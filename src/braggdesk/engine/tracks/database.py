"""The track database on disk: one file per energy, in the user's cache, named by the physics it was
recorded with.

Layout (numpy ``.npz``, uncompressed so that loading is a copy, not a decompression): ``records``
(float32 [n, RECORD_FIELDS], :mod:`braggdesk.engine.kernel.tracklayout`), ``offsets`` (int64 [tracks + 1],
history h is records[offsets[h]:offsets[h + 1]]), ``energy_mev``, ``range_mm`` (its water range by the
kernel's table), ``digest``, ``format_version``,
``seconds`` (the recording time) and ``checksum`` (SHA-256 of records and offsets).  float32 keeps
lengths to 0.1 um and angles to 1e-7 relative, far below a voxel, at 24 bytes per leg.

Versioning: the folder is ``<cache>/tracks/water-<digest>`` (``BRAGGDESK_TRACKS_DIR`` overrides
``<cache>/tracks``), the digest a SHA-256 of the kernel sources the recording runs (every transport file
and the recorder), the packed water tables (energy, range, LET, straggling, scattering, nuclear cross
sections and emission data) and the file format.  Any change of the physics gives a new folder, so a
stale database is never found, let alone used; a file whose own digest or checksum does not match is
refused with a message that says so (:class:`TrackDatabaseError`) and
:func:`braggdesk.engine.tracks.build.ensure_tracks` records it again.  Folders of other physics unused for
two weeks are removed (:func:`remove_stale_folders`), as old kernels are.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import struct
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import BraggdeskError
from ..kernel.cache import STALE_DAYS, cache_root
from ..kernel.tracklayout import RECORD_FIELDS

FORMAT_VERSION = 1
RECORDING_VOXEL_MM = 1.0e6  # the recording medium: one water voxel of 1 km, the track starts at its centre
# kernel sources whose change changes the recorded tracks (not the re-tracer's: it only reads them)
RECORDING_SOURCES = ("adapt.py", "directions.py", "frames.py", "grid.py", "interactions.py", "layout.py",
                     "lookup.py", "record.py", "rng.py", "scoring.py", "track.py", "tracklayout.py", "water.py")


class TrackDatabaseError(BraggdeskError):
    """A track database file cannot be used: unreadable, damaged, or recorded with other physics."""


@dataclass
class TrackSet:
    """The stored histories of one energy."""

    energy_mev: float
    records: np.ndarray  # float32 [n, RECORD_FIELDS]
    offsets: np.ndarray  # int64 [n_tracks + 1]
    digest: str
    range_mm: float  # water CSDA range of energy_mev by the kernel's table (the re-tracer's reference)
    seconds: float = 0.0  # how long the recording took

    @property
    def n_tracks(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def nbytes(self) -> int:
        return int(self.records.nbytes + self.offsets.nbytes)


@functools.lru_cache(maxsize=1)
def recording_medium() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(header, tables, voxels) of the recording medium: the reference water (RSP exactly 1, ICRU 90),
    nuclear interactions on, packed as for any job."""
    from ...model import CtCalibration, Volume  # noqa: PLC0415
    from ...physics.material_constants import WATER  # noqa: PLC0415
    from ..geometry import GridFrame  # noqa: PLC0415
    from ..media import build_media  # noqa: PLC0415
    from ..packing import pack_medium  # noqa: PLC0415

    ct = Volume(np.zeros((1, 1, 1), np.float32), (RECORDING_VOXEL_MM,) * 3, (0.0, 0.0, 0.0))
    calibration = CtCalibration("track-database-water", np.array([-1000.0, 0.0]), np.array([1.0, 1.0]),
                                np.array([-1000.0]), [WATER])
    media = build_media(ct, calibration)
    return pack_medium(media, GridFrame.of(ct), nuclear=True, score_let=False)


@functools.lru_cache(maxsize=1)
def physics_digest() -> str:
    """What the recorded tracks depend on, as 16 hex digits (see the module docstring)."""
    kernel = Path(__file__).resolve().parent.parent / "kernel"
    h = hashlib.sha256(f"track-database format {FORMAT_VERSION}".encode())
    for name in RECORDING_SOURCES:
        h.update(name.encode())
        h.update((kernel / name).read_bytes())
    for array in recording_medium():
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


def database_root() -> Path:
    """``BRAGGDESK_TRACKS_DIR``, else ``tracks`` in the user's braggdesk cache (:mod:`..kernel.cache`)."""
    env = os.environ.get("BRAGGDESK_TRACKS_DIR")
    return Path(env) if env else cache_root() / "tracks"


def database_folder() -> Path:
    return database_root() / f"water-{physics_digest()}"


def remove_stale_folders(now: float | None = None) -> list[Path]:
    """Mark the current database folder as in use and remove other physics' folders unused for
    STALE_DAYS, as the kernel cache does (not at once: two installed versions of braggdesk may share
    the cache and must not keep deleting each other's database).  Returns what was removed."""
    now = time.time() if now is None else now
    current = database_folder()
    removed = []
    if current.is_dir():
        os.utime(current, (now, now))
    for old in database_root().glob("water-*"):
        try:
            stale = old != current and old.is_dir() and now - old.stat().st_mtime > STALE_DAYS * 86400
        except OSError:
            continue
        if stale:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed


def track_file(energy_mev: float, n_tracks: int, folder: Path | None = None) -> Path:
    return (folder or database_folder()) / f"p{energy_mev:07.2f}MeV-{n_tracks}.npz"


def _checksum(records: np.ndarray, offsets: np.ndarray) -> str:
    """SHA-256 of the records' and offsets' bytes (read in place: a copy of hundreds of MB costs seconds)."""
    h = hashlib.sha256(memoryview(np.ascontiguousarray(records)).cast("B"))
    h.update(memoryview(np.ascontiguousarray(offsets)).cast("B"))
    return h.hexdigest()


def save(tracks: TrackSet, path: Path) -> Path:
    """Write atomically (a temporary file renamed into place), so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, records=tracks.records, offsets=tracks.offsets, energy_mev=np.float64(tracks.energy_mev),
                 range_mm=np.float64(tracks.range_mm), digest=np.str_(tracks.digest),
                 format_version=np.int64(FORMAT_VERSION),
                 seconds=np.float64(tracks.seconds), checksum=np.str_(_checksum(tracks.records, tracks.offsets)))
    os.replace(tmp, path)
    return path


_SMALL_FIELDS = ("offsets", "energy_mev", "range_mm", "digest", "format_version", "seconds", "checksum")
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # a zip member's local header: signature ... name length, extra length


def _damaged(path: Path, exc: Exception) -> TrackDatabaseError:
    return TrackDatabaseError(f"{path}: damaged track database file ({type(exc).__name__}: {exc}); delete it "
                              "or run 'braggdesk tracks build' to record it again")


def _metadata(path: Path, digest: str) -> dict:
    """Every field but the records, checked for staleness (the records stay on disk)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in _SMALL_FIELDS}
    except FileNotFoundError:
        raise TrackDatabaseError(f"{path}: no such track database file") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _damaged(path, exc) from exc
    if int(fields["format_version"]) != FORMAT_VERSION or str(fields["digest"]) != digest:
        raise TrackDatabaseError(f"{path}: stale track database: recorded with physics {fields['digest']} "
                                 f"(format {int(fields['format_version'])}), this braggdesk has {digest} "
                                 f"(format {FORMAT_VERSION}); it must be recorded again")
    return fields


def _records_member(path: Path) -> tuple[tuple[int, ...], np.dtype, bool, int | None]:
    """(shape, dtype, Fortran order, byte offset of the data in the file or None if it is compressed) of the
    records array, from the zip directory and the .npy header alone."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("records.npy")
        with zf.open(info) as member:
            version = np.lib.format.read_magic(member)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(member) if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(member))
            header_bytes = member.tell()
    if info.compress_type != zipfile.ZIP_STORED:
        return shape, dtype, fortran, None
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        signature, name_len, extra_len = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise ValueError("bad local header of records.npy")
    return shape, dtype, fortran, info.header_offset + _LOCAL_HEADER.size + name_len + extra_len + header_bytes


def _check_layout(path: Path, shape, dtype, fortran, offsets: np.ndarray) -> None:
    if (np.dtype(dtype) != np.float32 or len(shape) != 2 or shape[1] != RECORD_FIELDS or fortran
            or offsets.dtype != np.int64 or offsets.ndim != 1 or offsets.size < 2 or offsets[0] != 0
            or offsets[-1] != shape[0] or np.any(np.diff(offsets) <= 0)):
        raise TrackDatabaseError(f"{path}: damaged track database file (records {np.dtype(dtype)} {tuple(shape)}, "
                                 f"offsets {offsets.dtype} {offsets.shape} do not fit together)")


def record_count(path: Path, digest: str | None = None) -> int:
    """How many records the file holds, from its header, checked for staleness and layout without reading
    the records (TrackDatabaseError otherwise): what a caller needs to place it in a packed array."""
    fields = _metadata(path, digest or physics_digest())
    try:
        shape, dtype, fortran, _ = _records_member(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _damaged(path, exc) from exc
    _check_layout(path, shape, dtype, fortran, fields["offsets"])
    return int(shape[0])


def _read_records(path: Path, out: np.ndarray | None) -> np.ndarray:
    """The records, read straight from the file into ``out`` (or a new array): an uncompressed member is one
    read at its offset, not the chunked copies of np.load."""
    shape, dtype, fortran, offset = _records_member(path)
    if out is None:
        out = np.empty(shape, dtype)
    elif out.shape != tuple(shape) or out.dtype != np.dtype(dtype) or not out.flags.c_contiguous or fortran:
        raise ValueError(f"records {np.dtype(dtype)} {tuple(shape)} do not fit the place given ({out.dtype} "
                         f"{out.shape})")
    if offset is None:  # a compressed member (written by hand): numpy reads it
        with np.load(path, allow_pickle=False) as data:
            out[...] = data["records"]
        return out
    view = memoryview(out).cast("B")
    with open(path, "rb") as fh:
        fh.seek(offset)
        if fh.readinto(view) != view.nbytes:
            raise EOFError("the file ends inside the records")
    return out


def load(path: Path, digest: str | None = None, out: np.ndarray | None = None) -> TrackSet:
    """Read and check a track file; raises TrackDatabaseError naming the file and the problem.  ``out``: a
    float32 [n, RECORD_FIELDS] place for the records (a slice of a packed array, :func:`record_count`)."""
    digest = digest or physics_digest()
    fields = _metadata(path, digest)
    try:
        shape, dtype, fortran, _ = _records_member(path)
        _check_layout(path, shape, dtype, fortran, fields["offsets"])
        records = _read_records(path, out)
    except TrackDatabaseError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _damaged(path, exc) from exc
    offsets = fields["offsets"]
    if _checksum(records, offsets) != str(fields["checksum"]):
        raise TrackDatabaseError(f"{path}: damaged track database file (checksum mismatch); it must be recorded "
                                 "again")
    return TrackSet(float(fields["energy_mev"]), records, offsets, digest, float(fields["range_mm"]),
                    float(fields["seconds"]))
