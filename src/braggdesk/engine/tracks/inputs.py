"""The track database as the re-tracing kernel reads it: every energy's records end to end, the
history offsets, one row per energy (first track, tracks, energy, water range) and, per spot of the
job, the row of the energy its histories take tracks from (the database energy nearest to the spot's
mean energy; the kernel makes up the difference in water range, see :mod:`..kernel.retrace`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import PlanError
from ..kernel.tracklayout import D_COUNT, D_ENERGY, D_FIRST, D_RANGE, DB_FIELDS, L_RANGE
from .database import TrackSet

MAX_ENERGY_MISMATCH_MEV = 0.5  # a spot farther than this from every database energy is refused


@dataclass
class TrackInputs:
    records: np.ndarray  # float32 [n, RECORD_FIELDS]
    offsets: np.ndarray  # int64 [total tracks + 1]
    energies: np.ndarray  # float64 [n_energies, DB_FIELDS]
    spot_db: np.ndarray  # int64 [n_spots]
    notes: list[str] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return int(self.records.nbytes + self.offsets.nbytes + self.energies.nbytes + self.spot_db.nbytes)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.records, self.offsets, self.energies, self.spot_db


def spot_energies_mev(mean_energy_mev: np.ndarray) -> list[float]:
    """The database energies a job needs: its spots' mean energies, to 1 keV."""
    return sorted({round(float(e), 3) for e in np.asarray(mean_energy_mev)})


def pack_tracks(sets: list[TrackSet], mean_energy_mev: np.ndarray, notes: list[str] | None = None) -> TrackInputs:
    if not sets:
        raise PlanError("the track-repeating engine needs a track database with at least one energy")
    sets = sorted(sets, key=lambda s: s.energy_mev)
    energies = np.zeros((len(sets), DB_FIELDS))
    offsets, records, start_record, start_track = [], [], 0, 0
    for k, s in enumerate(sets):
        energies[k, D_FIRST] = start_track
        energies[k, D_COUNT] = s.n_tracks
        energies[k, D_ENERGY] = s.energy_mev
        energies[k, D_RANGE] = float(s.records[0, L_RANGE])  # the primary's first leg starts at R(E) of the kernel
        offsets.append(s.offsets[:-1] + start_record)
        records.append(s.records)
        start_record += s.records.shape[0]
        start_track += s.n_tracks
    offsets.append(np.array([start_record], np.int64))
    db_e = energies[:, D_ENERGY]
    spot_e = np.asarray(mean_energy_mev, float)
    spot_db = np.abs(spot_e[:, None] - db_e[None, :]).argmin(axis=1).astype(np.int64)
    worst = np.abs(db_e[spot_db] - spot_e)
    if worst.size and worst.max() > MAX_ENERGY_MISMATCH_MEV:
        e = spot_e[int(worst.argmax())]
        raise PlanError(f"the track database has no energy within {MAX_ENERGY_MISMATCH_MEV} MeV of a spot's "
                        f"{e:.3f} MeV (it has {', '.join(f'{x:.3f}' for x in db_e)} MeV)")
    return TrackInputs(np.concatenate(records).astype(np.float32), np.concatenate(offsets).astype(np.int64),
                       energies, spot_db, list(notes or []))
