"""Named Dask clusters: a scheduler address with its TLS files, one file for the command line and the GUI.

Why: a TLS cluster needs four things typed right every time (address, CA, certificate,
key).  A profile names them once; ``braggdesk run --cluster-profile NAME`` and the GUI's
"Dask cluster" choice (edited under Clusters...) read the same file, so what works in one
works in the other.  The file holds paths, never key material::

    # ~/.config/braggdesk/clusters.ini  ($XDG_CONFIG_HOME/braggdesk/clusters.ini)
    [hospital]
    address = tls://dask.hospital.example:8786
    tls-ca = /etc/braggdesk/cluster-ca.pem
    tls-cert = ~/.braggdesk/tls/physicist.pem
    tls-key = ~/.braggdesk/tls/physicist.key
    # insecure = yes   allows a plain tcp:// address to another machine (the run says so)
"""

from __future__ import annotations

import configparser
import io
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import BraggdeskError, InputError
from .dask_cluster import ClusterSpec
from .private import write_private
from .tls import TlsFiles

FILE_NAME = "clusters.ini"
_KEYS = ("address", "tls-ca", "tls-cert", "tls-key", "insecure")


def default_profiles_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "braggdesk" / FILE_NAME


@dataclass(frozen=True)
class ClusterProfile:
    """A named scheduler: its address and, for tls://, the CA, this user's certificate and key."""

    name: str
    address: str
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False

    @property
    def has_tls(self) -> bool:
        return any((self.tls_ca, self.tls_cert, self.tls_key))

    def spec(self, insecure: bool = False) -> ClusterSpec:
        """The ClusterSpec this profile stands for (``insecure``: allowed here even if the profile does not say so);
        its link is checked when the run starts."""
        tls = TlsFiles.of(self.tls_ca, self.tls_cert, self.tls_key) if self.has_tls else None
        return ClusterSpec(address=self.address, tls=tls, insecure=self.insecure or insecure, profile=self.name)


def load_cluster_profiles(path: Path | None = None) -> list[ClusterProfile]:
    """The profiles in ``path`` (default: :func:`default_profiles_path`); none if the file does not exist."""
    path = Path(path) if path is not None else default_profiles_path()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the cluster profiles ({exc})") from None
    except configparser.Error as exc:
        raise InputError(path, f"is not a cluster profile file ({exc.message.splitlines()[0]}); expected "
                               f"[name] sections with address = tls://host:8786 and tls-ca, tls-cert, tls-key") \
            from None
    out = []
    for name in parser.sections():
        section = parser[name]
        unknown = sorted(set(section) - set(_KEYS))
        if unknown:
            raise InputError(path, f"cluster profile [{name}]: unknown setting {unknown[0]!r} (known: "
                                   f"{', '.join(_KEYS)})")
        address = section.get("address", "").strip()
        if not address:
            raise InputError(path, f"cluster profile [{name}] has no address (e.g. address = tls://host:8786)")
        try:
            insecure = section.getboolean("insecure", fallback=False)
        except ValueError:
            raise InputError(path, f"cluster profile [{name}]: insecure = {section.get('insecure')!r} is not "
                                   f"yes or no") from None

        def file(key: str) -> Path | None:
            value = section.get(key, "").strip()
            return Path(value).expanduser() if value else None

        out.append(ClusterProfile(name, address, file("tls-ca"), file("tls-cert"), file("tls-key"), insecure))
    return out


def save_cluster_profiles(profiles: list[ClusterProfile], path: Path | None = None) -> Path:
    """Write ``profiles`` (all of them: the file is replaced); owner-only, like the rest of braggdesk's settings."""
    path = Path(path) if path is not None else default_profiles_path()
    parser = configparser.ConfigParser(interpolation=None)
    for p in profiles:
        if not p.name.strip() or any(c in p.name for c in "[]\n"):
            raise BraggdeskError(f"cluster profile name {p.name!r}: give a name without brackets or line breaks")
        section = {"address": p.address}
        for key, value in (("tls-ca", p.tls_ca), ("tls-cert", p.tls_cert), ("tls-key", p.tls_key)):
            if value:
                section[key] = str(value)
        if p.insecure:
            section["insecure"] = "yes"
        parser[p.name.strip()] = section
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    parser.write(text)
    write_private(path, text.getvalue().encode())
    return path


def find_cluster_profile(name: str, path: Path | None = None) -> ClusterProfile:
    """The profile called ``name``, or a BraggdeskError naming the file and the profiles it has."""
    profiles = load_cluster_profiles(path)
    for p in profiles:
        if p.name == name:
            return p
    where = Path(path) if path is not None else default_profiles_path()
    known = ", ".join(p.name for p in profiles) or "none"
    raise InputError(where, f"no cluster profile {name!r} (profiles there: {known})")
