"""What makes a Dask link trustworthy: TLS certificate files checked up front, and the address policy.

Why: a Dask link carries the job (the CT as an array, the plan) and the doses.  Over
``tls://`` with a CA, a certificate and a key on both sides, it is encrypted and each side
proves it belongs to the cluster; over ``tcp://`` anyone on the path can read it and anyone
who reaches the scheduler can use it.  So:

* ``tls://`` needs the three files, and they are checked here before anything is sent:
  a missing or unreadable file, a file that is not PEM, a key with a passphrase or readable
  by others, a certificate that does not match its key, that has expired (or is not valid
  yet) or that the CA did not issue is one line naming the file and the problem;
* ``tcp://`` is allowed to a loopback address (this machine) only, unless the user says
  ``--insecure`` (the run then says so in its summary and report);
* ``inproc://`` (a cluster inside this process, no network at all) counts as loopback;
* other schemes are refused.

Loopback means 127.0.0.0/8, ::1 or the name ``localhost``; other names are not resolved
(a name that happens to resolve to this machine today is not a promise).
"""

from __future__ import annotations

import datetime
import ipaddress
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import BraggdeskError, InputError

SCHEMES = ("tls", "tcp", "inproc")


class TlsError(InputError):
    """A CA, certificate or key file cannot be used; the message names the file and the problem."""


class InsecureAddress(BraggdeskError):
    """A scheduler address that would carry patient data unencrypted, or a scheme braggdesk does not use."""


@dataclass(frozen=True)
class TlsFiles:
    """The CA that signed the cluster's certificates, and this side's certificate and private key (PEM files)."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def of(cls, ca, cert, key) -> "TlsFiles":
        """From three paths as typed (``~`` expanded); TlsError naming what is missing if one is not given."""
        given = {"CA (--tls-ca)": ca, "certificate (--tls-cert)": cert, "key (--tls-key)": key}
        missing = [k for k, v in given.items() if not v]
        if missing:
            raise TlsError(None, f"a tls:// scheduler needs the CA, a certificate and its key: the "
                                 f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
        return cls(*(Path(str(v)).expanduser() for v in (ca, cert, key)))


@dataclass(frozen=True)
class SchedulerLink:
    """How a scheduler address will be reached: scheme, host, and whether that is encrypted."""

    address: str
    scheme: str
    host: str
    loopback: bool

    @property
    def encrypted(self) -> bool:
        return self.scheme == "tls"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``; names are not resolved."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(address: str) -> SchedulerLink:
    """``scheme://host:port`` (``host:port`` alone is tcp, as Dask reads it)."""
    text = address.strip()
    if "://" not in text:
        text = f"tcp://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "inproc":
        return SchedulerLink(text, scheme, "this process", True)
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        raise InsecureAddress(f"Dask scheduler {address!r}: the port is not a number") from None
    if not host:
        raise InsecureAddress(f"Dask scheduler {address!r}: no host; expected tls://host:8786")
    if scheme not in SCHEMES:
        raise InsecureAddress(f"Dask scheduler {address!r}: braggdesk speaks tls:// (or tcp:// on this machine), "
                              f"not {scheme}://")
    return SchedulerLink(text, scheme, host, is_loopback(host))


def check_link(address: str, tls: TlsFiles | None, insecure: bool = False) -> SchedulerLink:
    """The address as braggdesk will use it, or InsecureAddress/TlsError saying why not."""
    link = parse_address(address)
    if link.encrypted:
        if tls is None:
            raise TlsError(None, f"{link.address} is a TLS scheduler: give the CA, your certificate and its key "
                                 f"(--tls-ca, --tls-cert, --tls-key, or a cluster profile)")
        check_tls_files(tls)
        return link
    if tls is not None:
        raise InsecureAddress(f"certificates were given but {link.address} is plain TCP: use tls://{link.host}"
                              f"{'' if urlsplit(link.address).port is None else f':{urlsplit(link.address).port}'}")
    if not link.loopback and not insecure:
        raise InsecureAddress(
            f"{link.address} would send the job (CT, plan) and the doses UNENCRYPTED over the network, and anyone who "
            f"reaches the scheduler could use it: use tls:// with the cluster's CA, your certificate and key "
            f"(--tls-ca/--tls-cert/--tls-key or a cluster profile); only on a network you trust, allow it explicitly "
            f"(--insecure, or 'insecure' in the cluster profile)")
    return link


# -- certificate files -------------------------------------------------------------------

def _read(path: Path, what: str) -> bytes:
    try:
        if path.is_dir():
            raise TlsError(path, f"is a folder, not the {what} file")
        return path.read_bytes()
    except FileNotFoundError:
        raise TlsError(path, f"no such file (the {what})") from None
    except PermissionError:
        raise TlsError(path, f"cannot be read (permission denied; the {what})") from None
    except OSError as exc:
        raise TlsError(path, f"cannot be read ({exc.strerror or exc}; the {what})") from None


def _certificates(path: Path, data: bytes, what: str) -> list:
    from cryptography import x509  # noqa: PLC0415

    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise TlsError(path, f"is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line; the {what})")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TlsError(path, f"holds a damaged certificate ({exc}; the {what})") from None


def _validity(path: Path, cert, what: str, now: datetime.datetime) -> None:
    if cert.not_valid_after_utc < now:
        raise TlsError(path, f"the {what} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: ask for a new one")
    if cert.not_valid_before_utc > now:
        raise TlsError(path, f"the {what} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC "
                             f"(is this computer's clock right?)")


def _issued_by(cert, issuer) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # InvalidSignature, ValueError, TypeError (another key type): not issued by it
        return False


def check_tls_files(files: TlsFiles, now: datetime.datetime | None = None) -> None:
    """All that can be known before connecting; TlsError naming the file and the problem."""
    try:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    except ImportError:
        raise BraggdeskError("TLS needs the cryptography package: pip install 'braggdesk[cluster]'") from None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cas = _certificates(files.ca, _read(files.ca, "CA certificate"), "CA certificate")
    for ca in cas:
        _validity(files.ca, ca, "CA certificate", now)
    chain = _certificates(files.cert, _read(files.cert, "certificate"), "certificate")
    for cert in chain:
        _validity(files.cert, cert, "certificate", now)
    key_data = _read(files.key, "private key")
    mode = stat.S_IMODE(files.key.stat().st_mode)
    if mode & 0o077:
        raise TlsError(files.key, f"the private key is readable by other users (permissions {mode:04o}): "
                                  f"chmod 600 {files.key}")
    if b"PRIVATE KEY-----" not in key_data:
        raise TlsError(files.key, "is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' line)")
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:
        raise TlsError(files.key, "the private key is protected by a passphrase; Dask needs it without one (keep "
                                  "the file readable by you only: chmod 600)") from None
    except Exception as exc:  # cryptography raises ValueError or UnsupportedAlgorithm
        raise TlsError(files.key, f"is not a usable private key ({exc})") from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if chain[0].public_key().public_bytes(enc, pub) != key.public_key().public_bytes(enc, pub):
        raise TlsError(files.cert, f"this certificate does not match the private key {files.key} (a key from "
                                   f"another certificate?)")
    for cert, issuer in zip(chain, chain[1:]):
        if not _issued_by(cert, issuer):
            raise TlsError(files.cert, "the certificates in this file do not form a chain (each must be issued by "
                                       "the next)")
    top = chain[-1]
    if not any(_issued_by(top, ca) or top == ca for ca in cas):
        raise TlsError(files.cert, f"this certificate was not issued by the CA in {files.ca}: the cluster would "
                                   f"refuse it (a certificate from another CA?)")


def client_security(files: TlsFiles):
    """A distributed ``Security`` for a client: the CA, this side's certificate and key, encryption required."""
    from distributed import Security  # noqa: PLC0415

    return Security(tls_ca_file=str(files.ca), tls_client_cert=str(files.cert), tls_client_key=str(files.key),
                    require_encryption=True)

