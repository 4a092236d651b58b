"""``braggdesk tracks build|list`` as a user runs them: progress and figures, what the cache holds, a
damaged file named, bad input in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _tracks(tmp_path, *args):
    env = dict(os.environ, BRAGGDESK_TRACKS_DIR=str(tmp_path / "tracks"))
    return subprocess.run([sys.executable, "-m", "braggdesk", "tracks", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=env)


def test_build_records_the_energies_once_and_list_shows_them(tmp_path):
    res = _tracks(tmp_path, "build", "--energies", "60:80:20", "--tracks", "50", "--json", "-")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["energies_mev"] == [60.0, 80.0] and summary["recorded"] == [60.0, 80.0]
    assert summary["bytes"] > 50 * 2 * 500 and summary["recording_seconds"] > 0  # ~40 legs of 28 bytes a history
    assert "80.00 MeV recorded" in res.stderr and "recording time" in res.stderr
    again = json.loads(_tracks(tmp_path, "build", "--energies", "80", "--tracks", "50", "--json", "-").stdout)
    assert again["recorded"] == []  # found in the cache
    listing = _tracks(tmp_path, "list", "--json", "-")
    files = json.loads(listing.stdout)["files"]
    assert [f["energy_mev"] for f in files] == [60.0, 80.0] and all(f["problem"] is None for f in files)
    damaged = next((tmp_path / "tracks").glob("water-*/p*80.00MeV-50.npz"))
    damaged.write_bytes(b"not a database")
    files = json.loads(_tracks(tmp_path, "list", "--json", "-").stdout)["files"]
    assert "damaged track database file" in files[1]["problem"]


def test_bad_energies_are_refused_in_one_line(tmp_path):
    res = _tracks(tmp_path, "build", "--energies", "70,abc")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "--energies expects" in res.stderr
    res = _tracks(tmp_path, "build", "--energies", "0.5")
    assert res.returncode == 2 and "1-400 MeV" in res.stderr
