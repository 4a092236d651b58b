"""The packed track database a run uses: each file read once, straight into its place; a file missing,
stale or damaged behind its header is recorded again, and the packed arrays are what packing the sets gives."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.engine.kernel.tracklayout import RECORD_FIELDS
from braggdesk.engine.tracks.build import ensure_tracks, record_missing
from braggdesk.engine.tracks.database import TrackDatabaseError, load, record_count, track_file
from braggdesk.engine.tracks.inputs import load_packed, pack_tracks

ENERGIES = (60.0, 80.0, 70.0)


@pytest.fixture(autouse=True)
def _tracks_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAGGDESK_TRACKS_DIR", str(tmp_path / "tracks"))


def test_the_packed_database_is_what_packing_the_sets_gives_and_files_are_recorded_once():
    packed, notes = load_packed(ENERGIES, 30, threads=2)
    assert len(notes) == 3 and all("not in the cache yet" in n for n in notes)
    sets, again = ensure_tracks(ENERGIES, 30)
    assert again == []  # found, not recorded again
    expected = pack_tracks(sets)
    for got, want in zip(packed.arrays(), expected.arrays()):
        np.testing.assert_array_equal(got, want)
    assert record_missing(ENERGIES, 30) == [] and load_packed(ENERGIES, 30)[1] == []


def test_a_file_is_read_into_the_place_given_and_counted_from_its_header():
    (tracks,), _ = ensure_tracks([60.0], 20, threads=2)
    path = track_file(60.0, 20)
    assert record_count(path) == tracks.records.shape[0]
    place = np.full((record_count(path) + 2, RECORD_FIELDS), -9.0, np.float32)
    got = load(path, out=place[1:-1])
    assert got.records.base is place or got.records.base is place.base
    np.testing.assert_array_equal(place[1:-1], tracks.records)
    assert (place[0] == -9.0).all() and (place[-1] == -9.0).all()
    with pytest.raises(TrackDatabaseError, match="damaged track database file"):
        load(path, out=place)  # a place of another size


def test_a_file_damaged_behind_its_header_is_recorded_again_into_its_place():
    first, _ = load_packed(ENERGIES, 25, threads=2)
    path = track_file(70.0, 25)
    data = bytearray(path.read_bytes())
    middle = data.index(b"\x93NUMPY") + 4096  # inside the records: the header still reads
    data[middle] ^= 0xFF
    path.write_bytes(bytes(data))
    assert record_count(path) > 0
    packed, notes = load_packed(ENERGIES, 25, threads=2)
    assert any("checksum mismatch" in n for n in notes) and any("70.00 MeV" in n and "recorded" in n for n in notes)
    for got, want in zip(packed.arrays(), first.arrays()):
        np.testing.assert_array_equal(got, want)
    assert load_packed(ENERGIES, 25)[1] == []
