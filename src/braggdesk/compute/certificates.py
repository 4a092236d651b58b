"""Throw-away TLS certificates for a Dask cluster that braggdesk starts (and for tests and benchmarks).

Why: scheduler, workers and client of a cluster braggdesk starts over SSH must talk over
TLS, each side proving it belongs to that cluster.  No hospital CA is needed for that: a
CA made for the one cluster, trusted by nothing else, signs one certificate that every
member presents (Dask checks the chain, not host names).  The key material lives in
memory here; :func:`write_tls` puts it in an owner-only folder when a process needs files,
and whoever wrote it deletes it when the cluster closes.

ECDSA P-256 keys: as strong as RSA-3072 for TLS, and made in a millisecond.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from .private import private_folder, write_private
from .tls import TlsFiles

#: a throw-away cluster certificate outlives any one run, and is useless once its cluster is gone
DEFAULT_DAYS = 30


def _cryptography():
    try:
        from cryptography import x509  # noqa: PLC0415
        from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
        from cryptography.x509.oid import NameOID  # noqa: PLC0415
    except ImportError:
        from .dask_cluster import ClusterError  # noqa: PLC0415

        raise ClusterError("TLS certificates need the cryptography package: pip install 'braggdesk[cluster]'") \
            from None
    return x509, hashes, serialization, ec, NameOID


@dataclass(frozen=True)
class TlsMaterial:
    """A CA certificate, and a certificate with its key signed by that CA, all as PEM text."""

    ca_pem: str
    cert_pem: str
    key_pem: str

    def __repr__(self) -> str:
        return "TlsMaterial(<certificates and key hidden>)"

    __str__ = __repr__


@dataclass(frozen=True)
class Authority:
    """A CA that can sign certificates (its key in memory)."""

    cert: object  # cryptography.x509.Certificate
    key: object  # its private key

    @property
    def pem(self) -> str:
        _, _, serialization, _, _ = _cryptography()
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def new_authority(name: str = "braggdesk throw-away cluster CA", days: int = DEFAULT_DAYS,
                  valid_from: datetime.datetime | None = None) -> Authority:
    """A self-signed CA, valid from ``valid_from`` (default: a minute ago, for clock skew) for ``days``."""
    x509, hashes, _, ec, NameOID = _cryptography()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = valid_from or _now() - datetime.timedelta(minutes=1)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return Authority(cert, key)


def issue(authority: Authority, name: str = "braggdesk cluster member", days: int = DEFAULT_DAYS,
          valid_from: datetime.datetime | None = None) -> TlsMaterial:
    """A certificate and key signed by ``authority``, for server and client use (all cluster roles)."""
    x509, hashes, serialization, ec, NameOID = _cryptography()
    from cryptography.x509.oid import ExtendedKeyUsageOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    start = valid_from or _now() - datetime.timedelta(minutes=1)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(authority.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(authority.key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return TlsMaterial(authority.pem, cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


def throwaway_tls(days: int = DEFAULT_DAYS) -> TlsMaterial:
    """A fresh CA and one member certificate signed by it: everything one cluster needs."""
    return issue(new_authority(days=days), days=days)


def write_tls(folder: Path, material: TlsMaterial) -> TlsFiles:
    """``ca.pem``, ``cert.pem`` and ``key.pem`` in the owner-only folder ``folder`` (0700, files 0600)."""
    folder = private_folder(Path(folder))
    files = TlsFiles(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    write_private(files.ca, material.ca_pem.encode())
    write_private(files.cert, material.cert_pem.encode())
    write_private(files.key, material.key_pem.encode())
    return files
