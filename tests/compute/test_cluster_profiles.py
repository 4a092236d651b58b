"""Named cluster profiles: one INI file for the command line and the GUI; a bad one named with its file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from braggdesk.compute.cluster_profiles import (ClusterProfile, find_cluster_profile, load_cluster_profiles,
                                                save_cluster_profiles)
from braggdesk.compute.tls import TlsFiles
from braggdesk.errors import InputError


def test_profiles_round_trip_owner_only_with_paths_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "clusters.ini"
    save_cluster_profiles([ClusterProfile("hospital", "tls://dask.example:8786", Path("~/ca.pem"), Path("/c.pem"),
                                          Path("/k.pem")), ClusterProfile("lab", "tcp://10.1.1.1:8786", insecure=True)],
                          path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    hospital, lab = load_cluster_profiles(path)
    assert hospital.tls_ca == tmp_path / "ca.pem" and not hospital.insecure and lab.insecure and not lab.has_tls
    spec = hospital.spec()
    assert spec.tls == TlsFiles(tmp_path / "ca.pem", Path("/c.pem"), Path("/k.pem")) and spec.profile == "hospital"
    assert lab.spec().insecure and find_cluster_profile("lab", path) == lab
    assert load_cluster_profiles(tmp_path / "none.ini") == []


@pytest.mark.parametrize("text, problem", [
    ("address = tls://x:1\n", "is not a cluster profile file"),
    ("[a]\ntls-ca = /ca.pem\n", "cluster profile [a] has no address"),
    ("[a]\naddress = tls://x:1\ntls-certificate = /c.pem\n", "unknown setting 'tls-certificate'"),
    ("[a]\naddress = tcp://x:1\ninsecure = maybe\n", "insecure = 'maybe' is not yes or no"),
])
def test_a_bad_profile_file_is_one_line_naming_it(tmp_path, text, problem):
    path = tmp_path / "clusters.ini"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_cluster_profiles(path)
    assert str(err.value).startswith(f"{path}: ") and problem in str(err.value) and "\n" not in str(err.value)


def test_a_missing_profile_lists_the_ones_there(tmp_path):
    path = tmp_path / "clusters.ini"
    save_cluster_profiles([ClusterProfile("a", "tls://x:1")], path)
    with pytest.raises(InputError, match=r"no cluster profile 'b' \(profiles there: a\)"):
        find_cluster_profile("b", path)
