"""Recording the track database with the full engine, and finding (or making) the tracks a job needs.

Each energy's histories are recorded by :func:`braggdesk.engine.kernel.record_cpu.record_histories` on
the CPU cores, in chunks (so that a progress callback sees them come), from a fixed root seed keyed by
the energy: the same braggdesk records the same database anywhere.  Histories that outgrow the record
buffer are recorded again, alone, with a larger one; nothing is cut.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np

from ..kernel.tracklayout import RECORD_FIELDS
from ..kernel.water import range_mm
from .database import (TrackDatabaseError, TrackSet, load, physics_digest, record_count, recording_medium,
                       remove_stale_folders, save, track_file)

DEFAULT_TRACKS_PER_ENERGY = 10_000
DATABASE_SEED = 2010  # the year of Yepes et al.; fixed, so a database is reproducible
CHUNK_HISTORIES = 1000
FIRST_CAPACITY = 512  # records per history in the first pass (a 250 MeV history needs about 150)

Progress = Callable[[float, int, int], None]  # (energy [MeV], tracks done, tracks of this energy)


def energy_key(energy_mev: float) -> int:
    """The 64-bit Philox key of an energy's histories."""
    state = np.random.SeedSequence(DATABASE_SEED, spawn_key=(int(round(energy_mev * 1000)),))
    return int(state.generate_state(1, dtype=np.uint64)[0])


def _record_block(first: int, n: int, energy_mev: float, key: int, capacity: int, threads: int | None):
    import numba  # noqa: PLC0415

    from ..executor import _CPU_LAUNCH, split_key  # noqa: PLC0415
    from ..kernel.layout import N_COUNTERS  # noqa: PLC0415
    from ..kernel.record_cpu import record_histories  # noqa: PLC0415

    header, tables, voxels = recording_medium()
    out = np.zeros((n, capacity, RECORD_FIELDS), np.float32)
    counts = np.zeros(n, np.int64)
    counters = np.zeros(N_COUNTERS, np.int64)
    key_lo, key_hi = split_key(key)
    with _CPU_LAUNCH:
        if threads is not None:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        record_histories(first, n, key_lo, key_hi, header, tables, voxels, float(energy_mev), out, counts, counters)
    return out, counts


def record_tracks(energy_mev: float, n_tracks: int, *, threads: int | None = None,
                  progress: Progress | None = None) -> TrackSet:
    """``n_tracks`` histories of a proton of ``energy_mev`` in water, recorded by the full engine."""
    if not 1.0 <= energy_mev <= 400.0:
        raise TrackDatabaseError(f"track database energy {energy_mev} MeV is outside 1-400 MeV")
    if n_tracks < 1:
        raise TrackDatabaseError(f"a track database needs at least one track per energy, got {n_tracks}")
    t0 = time.perf_counter()
    key = energy_key(energy_mev)
    pieces: list[np.ndarray] = []
    lengths = np.zeros(n_tracks, np.int64)
    for first in range(0, n_tracks, CHUNK_HISTORIES):
        n = min(CHUNK_HISTORIES, n_tracks - first)
        out, counts = _record_block(first, n, energy_mev, key, FIRST_CAPACITY, threads)
        for h in range(n):
            capacity = FIRST_CAPACITY
            block, count = out[h], int(counts[h])
            while count < 0:  # a long history: alone, with room to spare
                capacity *= 4
                again, again_counts = _record_block(first + h, 1, energy_mev, key, capacity, threads)
                block, count = again[0], int(again_counts[0])
            pieces.append(block[:count].copy())
            lengths[first + h] = count
        if progress is not None:
            progress(energy_mev, first + n, n_tracks)
    offsets = np.zeros(n_tracks + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    header, tables, _ = recording_medium()
    return TrackSet(float(energy_mev), np.concatenate(pieces).astype(np.float32), offsets, physics_digest(),
                    float(range_mm(header, tables, float(energy_mev))), time.perf_counter() - t0)


def _record_and_save(energy: float, n_tracks: int, reason: str, threads: int | None,
                     progress: Progress | None, notes: list[str]) -> TrackSet:
    tracks = record_tracks(energy, n_tracks, threads=threads, progress=progress)
    try:
        save(tracks, track_file(energy, n_tracks))
    except OSError as exc:
        notes.append(f"track database {energy:.2f} MeV could not be saved ({exc}); it is used from memory")
    notes.append(f"track database {energy:.2f} MeV: {n_tracks} tracks recorded in {tracks.seconds:.1f} s "
                 f"({tracks.nbytes / 1e6:.1f} MB; {reason})")
    return tracks


def _tidy() -> None:
    try:
        remove_stale_folders()
    except OSError:  # a read-only cache: nothing to tidy
        pass


def record_missing(energies_mev: Iterable[float], n_tracks: int = DEFAULT_TRACKS_PER_ENERGY, *,
                   threads: int | None = None, progress: Progress | None = None) -> list[str]:
    """Record the energies whose file is missing, stale or damaged in its header; the files found are
    checked from their headers, not read (a plan's database is hundreds of MB).  Returns the notes."""
    notes: list[str] = []
    for energy in sorted({round(float(e), 2) for e in energies_mev}):
        path = track_file(energy, n_tracks)
        try:
            record_count(path)
            continue
        except TrackDatabaseError as exc:
            reason = "not in the cache yet" if not path.exists() else str(exc)
        _record_and_save(energy, n_tracks, reason, threads, progress, notes)
    _tidy()
    return notes


def ensure_tracks(energies_mev: Iterable[float], n_tracks: int = DEFAULT_TRACKS_PER_ENERGY, *,
                  threads: int | None = None, progress: Progress | None = None,
                  rebuild: bool = False) -> tuple[list[TrackSet], list[str]]:
    """The track sets of these energies, loaded from the cache or recorded now (and saved); a stale or
    damaged file is recorded again.  Returns (sets, notes saying what was recorded and why)."""
    sets, notes = [], []
    for energy in sorted({round(float(e), 2) for e in energies_mev}):
        path = track_file(energy, n_tracks)
        reason = "rebuild asked for" if rebuild else None
        if not rebuild:
            try:
                sets.append(load(path))
                continue
            except TrackDatabaseError as exc:
                reason = "not in the cache yet" if not path.exists() else str(exc)
        sets.append(_record_and_save(energy, n_tracks, reason, threads, progress, notes))
    _tidy()
    return sets, notes
