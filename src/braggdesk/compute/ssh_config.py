"""``~/.ssh/config`` as OpenSSH reads it, for the few options a worker connection needs.

Why: physicists reach a GPU node as ``ssh gpu1``, with the real host name, the user,
the port and the key in their SSH config.  ``braggdesk run --remote gpu1`` must reach the
same machine the same way, so the command line takes from the config what it does not
say itself: HostName, User, Port and IdentityFile.

As OpenSSH does: ``Host`` lines hold patterns (``*``, ``?``, ``!negation``), every
matching block contributes, and the first value found for an option wins.  ``Match``
blocks are skipped (they need a shell); ``Include`` is followed (relative paths under
``~/.ssh``).  Tokens ``%h`` (host name), ``%u`` (local user), ``%r`` (remote user),
``%p`` (port), ``%d`` (home folder) and ``%%`` are expanded in IdentityFile.
"""

from __future__ import annotations

import fnmatch
import getpass
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

_WANTED = {"hostname", "user", "port", "identityfile"}
_MAX_INCLUDE_DEPTH = 8


@dataclass(frozen=True)
class SshHostConfig:
    """What the SSH config says about one host alias (None where it says nothing)."""

    alias: str
    host_name: str | None = None
    user: str | None = None
    port: int | None = None
    identity_file: Path | None = None
    source: Path | None = None  # the config file read


def default_config_path() -> Path:
    return Path.home() / ".ssh" / "config"


def lookup(alias: str, path: str | Path | None = None) -> SshHostConfig:
    """The options for ``alias`` from ``path`` (default ``~/.ssh/config``); empty when there is no such file."""
    path = Path(path).expanduser() if path is not None else default_config_path()
    if not path.is_file():
        return SshHostConfig(alias=alias)
    found: dict[str, str] = {}
    _read(path, alias, found, depth=0)
    port = None
    if "port" in found:
        try:
            port = int(found["port"])
        except ValueError:
            port = -1
        if not 0 < port < 65536:
            raise InputError(path, f"Port {found['port']!r} for host {alias!r} is not a port number (1 to 65535)")
    host_name = _expand(found["hostname"], alias, None, port) if "hostname" in found else None
    user = found.get("user")
    identity = None
    if "identityfile" in found and found["identityfile"].lower() != "none":
        identity = Path(_expand(found["identityfile"], host_name or alias, user, port)).expanduser()
    return SshHostConfig(alias=alias, host_name=host_name, user=user, port=port, identity_file=identity, source=path)


def _read(path: Path, alias: str, found: dict[str, str], depth: int) -> None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(path, f"cannot read the SSH config ({exc.strerror or exc})") from None
    applies = True  # options before the first Host line apply to every host
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, value = _split(line)
        if key == "host":
            applies = _host_matches(alias, value.split())
        elif key == "match":
            applies = False
        elif key == "include" and applies and depth < _MAX_INCLUDE_DEPTH:
            for pattern in value.split():
                base = Path(pattern).expanduser()
                if not base.is_absolute():
                    base = Path.home() / ".ssh" / base
                for included in sorted(glob.glob(str(base))):
                    _read(Path(included), alias, found, depth + 1)
        elif applies and key in _WANTED and key not in found:
            found[key] = value.strip().strip('"')


def _split(line: str) -> tuple[str, str]:
    """'Key value', 'Key=value' or 'Key = value' as (lower-case key, value)."""
    for i, ch in enumerate(line):
        if ch in " \t=":
            key, rest = line[:i], line[i:].lstrip(" \t")
            if rest.startswith("="):
                rest = rest[1:].lstrip(" \t")
            return key.lower(), rest
    return line.lower(), ""


def _host_matches(alias: str, patterns: list[str]) -> bool:
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if fnmatch.fnmatchcase(alias, pattern.lstrip("!")):
            if negated:
                return False
            matched = True
    return matched


def _expand(text: str, host: str, remote_user: str | None, port: int | None) -> str:
    """The %-tokens OpenSSH expands in HostName and IdentityFile."""
    tokens = {"%%": "%", "%h": host, "%u": getpass.getuser(), "%r": remote_user or getpass.getuser(),
              "%p": str(port or 22), "%d": str(Path.home())}
    out, i = [], 0
    while i < len(text):
        pair = text[i:i + 2]
        if pair in tokens:
            out.append(tokens[pair])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return os.path.expandvars("".join(out)) if "${" in text else "".join(out)
