"""Where a remote worker runs: a host profile, as the CLI parses it and the GUI saves it.

No password is ever part of a profile: authentication is by key file or ssh-agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import BraggdeskError

DEFAULT_REMOTE_COMMAND = "braggdesk worker"
_TARGET = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]]+\]|[^:@\s\[\]]+)(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class HostProfile:
    """A worker node: SSH address, key, known_hosts and the command that starts ``braggdesk worker``."""

    host: str
    port: int = 22
    user: str | None = None  # None: the local user name
    key_path: Path | None = None  # None: the ssh-agent and the default keys in ~/.ssh
    known_hosts: Path | None = None  # None: ~/.ssh/known_hosts
    remote_command: str = DEFAULT_REMOTE_COMMAND  # e.g. "/opt/conda/bin/python -m braggdesk worker"
    name: str = ""  # label shown in the GUI

    @property
    def address(self) -> str:
        """How messages name the node: user@host:port."""
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.host}:{self.port}"

    def known_hosts_path(self) -> Path:
        return Path(self.known_hosts).expanduser() if self.known_hosts else Path.home() / ".ssh" / "known_hosts"

    @classmethod
    def parse(cls, target: str, **fields) -> "HostProfile":
        """``[user@]host[:port]`` (an IPv6 address in brackets) plus the other fields."""
        try:
            user, host, port = split_target(target)
        except ValueError as exc:
            raise BraggdeskError(f"remote {target!r}: {exc}") from None
        profile = cls(host=host, port=22 if port is None else port, user=user)
        return replace(profile, **{k: v for k, v in fields.items() if v is not None})


def split_target(target: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (an IPv6 address in brackets) as (user, host, port), None where not given;
    ValueError saying what is wrong.  The one parser of SSH targets (remote nodes and Dask SSH hosts)."""
    m = _TARGET.match(target.strip())
    if not m:
        raise ValueError("expected [user@]host[:port]")
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port {port} is not between 1 and 65535")
    return m["user"], m["host"].strip("[]"), port
