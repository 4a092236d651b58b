"""Certificate files and scheduler addresses are checked before anything is sent: one line naming the file.

No cluster here: what a bad CA, certificate or key file, or an address that would carry
patient data unencrypted, gets as an answer (see test_dask_tls.py for the clusters).
"""

from __future__ import annotations

import datetime
import os

import pytest

pytest.importorskip("cryptography")

from braggdesk.compute.certificates import issue, new_authority, throwaway_tls, write_tls  # noqa: E402
from braggdesk.compute.dask_cluster import ClusterError, ClusterSpec  # noqa: E402
from braggdesk.compute.tls import InsecureAddress, TlsError, TlsFiles, check_link, check_tls_files  # noqa: E402


@pytest.fixture()
def good(tmp_path):
    return write_tls(tmp_path / "good", throwaway_tls())


def refused(files: TlsFiles) -> str:
    with pytest.raises(TlsError) as err:
        check_tls_files(files)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_files_made_for_a_cluster_pass_and_are_owner_only(good):
    check_tls_files(good)
    assert os.stat(good.key).st_mode & 0o777 == 0o600 and os.stat(good.key.parent).st_mode & 0o777 == 0o700


def test_a_missing_file_is_named(good, tmp_path):
    text = refused(TlsFiles(tmp_path / "nope.pem", good.cert, good.key))
    assert text.startswith(f"{tmp_path / 'nope.pem'}: no such file") and "CA certificate" in text


def test_a_folder_or_a_non_pem_file_is_named(good, tmp_path):
    assert "is a folder" in refused(TlsFiles(good.ca, tmp_path, good.key))
    junk = tmp_path / "cert.der"
    junk.write_bytes(b"\x30\x82\x01\x0a not pem")
    assert refused(TlsFiles(good.ca, junk, good.key)).startswith(f"{junk}: is not a PEM certificate")


def test_a_certificate_that_does_not_match_its_key(good, tmp_path):
    other = write_tls(tmp_path / "other", issue(new_authority()))
    text = refused(TlsFiles(good.ca, good.cert, other.key))
    assert text.startswith(f"{good.cert}: this certificate does not match the private key {other.key}")


def test_an_expired_certificate_says_when(tmp_path):
    ca = new_authority(days=3650, valid_from=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
    old = issue(ca, days=30, valid_from=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    files = write_tls(tmp_path / "old", old)
    assert refused(files) == f"{files.cert}: the certificate expired on 2024-01-31 00:00 UTC: ask for a new one"


def test_a_certificate_not_valid_yet_points_at_the_clock(tmp_path):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    ca = new_authority()
    files = write_tls(tmp_path / "later", issue(ca, valid_from=later))
    assert "is not valid before" in refused(files) and "clock" in refused(files)


def test_a_certificate_from_another_ca_is_refused_before_connecting(good, tmp_path):
    stranger = write_tls(tmp_path / "stranger", throwaway_tls())
    text = refused(TlsFiles(good.ca, stranger.cert, stranger.key))
    assert text.startswith(f"{stranger.cert}: this certificate was not issued by the CA in {good.ca}")


def test_a_key_others_can_read_or_with_a_passphrase_is_refused(good, tmp_path):
    os.chmod(good.key, 0o644)
    assert refused(good) == f"{good.key}: the private key is readable by other users (permissions 0644): " \
                            f"chmod 600 {good.key}"
    os.chmod(good.key, 0o600)
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(good.key.read_bytes(), None)
    locked = tmp_path / "locked.pem"
    locked.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"secret")))
    os.chmod(locked, 0o600)
    assert "protected by a passphrase" in refused(TlsFiles(good.ca, good.cert, locked))


def test_plain_tcp_to_another_machine_is_refused_unless_insecure():
    with pytest.raises(InsecureAddress, match=r"tcp://10\.0\.0\.5:8786 would send the job .*UNENCRYPTED.*--insecure"):
        check_link("tcp://10.0.0.5:8786", None)
    with pytest.raises(InsecureAddress, match="UNENCRYPTED"):
        check_link("scheduler.hospital.example:8786", None)  # no scheme: Dask's tcp
    link = check_link("tcp://10.0.0.5:8786", None, insecure=True)
    assert not link.encrypted and not link.loopback and link.host == "10.0.0.5"
    for here in ("tcp://127.0.0.1:8786", "localhost:8786", "tcp://[::1]:8786", "tcp://127.0.1.1:1"):
        assert check_link(here, None).loopback, here


def test_tls_needs_its_files_and_tcp_refuses_them(good):
    with pytest.raises(TlsError, match="is a TLS scheduler: give the CA, your certificate and its key"):
        check_link("tls://10.0.0.5:8786", None)
    with pytest.raises(InsecureAddress, match=r"certificates were given but tcp://10\.0\.0\.5:8786 is plain TCP: use "
                                              r"tls://10\.0\.0\.5:8786"):
        check_link("tcp://10.0.0.5:8786", good)
    with pytest.raises(InsecureAddress, match="not ws://"):
        check_link("ws://10.0.0.5:8786", None)
    with pytest.raises(TlsError, match=r"the key \(--tls-key\) is missing"):
        TlsFiles.of(good.ca, good.cert, None)
    assert check_link("tls://10.0.0.5:8786", good).encrypted


def test_cluster_specs_check_their_link():
    with pytest.raises(ClusterError, match="throw-away certificates"):
        ClusterSpec(local_workers=2, tls=TlsFiles("a", "b", "c"))
    assert ClusterSpec(local_workers=2).link() is None
    assert ClusterSpec.ssh("node1").link() is None
    with pytest.raises(InsecureAddress):
        ClusterSpec(address="tcp://10.0.0.5:8786").link()
