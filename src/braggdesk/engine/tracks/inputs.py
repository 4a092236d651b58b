"""The track database as the re-tracing kernel reads it: every energy's records end to end, the
history offsets and one row per energy (first track, tracks, energy, water range), sorted by energy so
that the kernel finds the nearest one by binary search (:mod:`..kernel.retrace`).

Which energies a job needs: the energies its spots' protons have when they reach the patient, each
layer's mean energy less what its beam's range shifters take (their water-equivalent thickness off the
water range), to 0.01 MeV.  The kernel makes up any remaining difference (energy spread, air) in range.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ...errors import PlanError
from ..kernel.tracklayout import D_COUNT, D_ENERGY, D_FIRST, D_RANGE, DB_FIELDS, RECORD_FIELDS
from ..source import SpotTable
from .build import Progress, ensure_tracks, record_missing
from .database import TrackDatabaseError, TrackSet, load, record_count, recording_medium, track_file

MAX_RANGE_MISMATCH_MM = 2.0  # a job whose spots are farther than this in range from every database energy is refused


@dataclass
class TrackInputs:
    records: np.ndarray  # float32 [n, RECORD_FIELDS]
    offsets: np.ndarray  # int64 [total tracks + 1]
    energies: np.ndarray  # float64 [n_energies, DB_FIELDS], sorted by energy

    @property
    def nbytes(self) -> int:
        return int(self.records.nbytes + self.offsets.nbytes + self.energies.nbytes)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.records, self.offsets, self.energies


def _range_mm(energy_mev: float) -> float:
    from ..kernel.water import range_mm  # noqa: PLC0415

    header, tables, _ = recording_medium()
    return float(range_mm(header, tables, float(energy_mev)))


def _energy_mev(range_mm_: float) -> float:
    from ..kernel.water import energy_mev  # noqa: PLC0415

    header, tables, _ = recording_medium()
    return float(energy_mev(header, tables, float(range_mm_)))


def entry_energies_mev(table: SpotTable) -> np.ndarray:
    """Per spot: the mean energy its protons have behind the beam's range shifters [MeV]."""
    shifter_mm = np.zeros(table.iso.shape[0])
    for slab in table.range_shifters:
        shifter_mm[slab.beam_index] += slab.water_equivalent_mm
    out = np.asarray(table.mean_energy_mev, float).copy()
    for k, (e, beam) in enumerate(zip(table.mean_energy_mev, table.beam_index)):
        if shifter_mm[int(beam)] > 0.0:
            out[k] = _energy_mev(max(_range_mm(e) - shifter_mm[int(beam)], 1e-3))
    return out


def needed_energies_mev(table: SpotTable) -> list[float]:
    """The database energies a job needs (see the module docstring)."""
    return sorted({round(float(e), 2) for e in entry_energies_mev(table) if e >= 1.0})


def pack_tracks(sets: list[TrackSet], table: SpotTable | None = None, records: np.ndarray | None = None
                ) -> TrackInputs:
    """The sets end to end; with ``table``, checks that every spot has a database energy near it.
    ``records``: the sets' records already packed, in the sets' energy order (:func:`load_packed`), so that
    hundreds of MB are not copied again."""
    if not sets:
        raise PlanError("the track-repeating engine needs a track database with at least one energy")
    sets = sorted(sets, key=lambda s: s.energy_mev)
    energies = np.zeros((len(sets), DB_FIELDS))
    offsets, start_record, start_track = [], 0, 0
    for k, s in enumerate(sets):
        energies[k, D_FIRST] = start_track
        energies[k, D_COUNT] = s.n_tracks
        energies[k, D_ENERGY] = s.energy_mev
        energies[k, D_RANGE] = s.range_mm
        offsets.append(s.offsets[:-1] + start_record)
        start_record += s.records.shape[0]
        start_track += s.n_tracks
    offsets.append(np.array([start_record], np.int64))
    if table is not None:
        for e in entry_energies_mev(table):
            gap = np.abs(energies[:, D_RANGE] - _range_mm(e)).min()
            if gap > MAX_RANGE_MISMATCH_MM:
                have = ", ".join(f"{x:.2f}" for x in energies[:, D_ENERGY])
                raise PlanError(f"the track database has no energy within {MAX_RANGE_MISMATCH_MM} mm of range of a "
                                f"spot's {e:.2f} MeV (it has {have} MeV)")
    if records is None:
        records = np.concatenate([s.records for s in sets]).astype(np.float32, copy=False)
    elif records.shape[0] != start_record:
        raise ValueError(f"packed records hold {records.shape[0]} rows, the sets {start_record}")
    return TrackInputs(records, np.concatenate(offsets).astype(np.int64, copy=False), energies)


def load_packed(energies_mev: Iterable[float], n_tracks: int, *, table: SpotTable | None = None,
                threads: int | None = None, progress: Progress | None = None) -> tuple[TrackInputs, list[str]]:
    """The packed database of these energies, each file read once straight into its place in one array
    (missing, stale or damaged files recorded first); returns it and the notes of what was recorded."""
    energies = sorted({round(float(e), 2) for e in energies_mev})
    notes = record_missing(energies, n_tracks, threads=threads, progress=progress)
    counts = [record_count(track_file(e, n_tracks)) for e in energies]
    records = np.empty((sum(counts), RECORD_FIELDS), np.float32)
    sets, start = [], 0
    for energy, count in zip(energies, counts):
        place = records[start:start + count]
        try:
            sets.append(load(track_file(energy, n_tracks), out=place))
        except TrackDatabaseError as exc:  # damaged behind its header: the same seed records the same tracks
            again, more = ensure_tracks([energy], n_tracks, threads=threads, progress=progress, rebuild=True)
            notes += [f"{exc}; recorded again"] + more
            if again[0].records.shape != place.shape:
                raise TrackDatabaseError(f"{track_file(energy, n_tracks)}: recorded again with "
                                         f"{again[0].records.shape[0]} records, not the {count} its header "
                                         f"said; run again") from None
            place[...] = again[0].records
            sets.append(dataclasses.replace(again[0], records=place))
        start += count
    return pack_tracks(sets, table, records=records), notes
