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
        return Path(self.known_hosts) if self.known_hosts else Path.home() / ".ssh" / "known_hosts"

    @classmethod
    def parse(cls, target: str, **fields) -> "HostProfile":
        """``[user@]host[:port]`` (an IPv6 address in brackets) plus the other fields."""
        m = _TARGET.match(target.strip())
        if not m:
            raise BraggdeskError(f"remote {target!r}: expected [user@]host[:port]")
        port = int(m["port"]) if m["port"] else 22
        if not 0 < port < 65536:
            raise BraggdeskError(f"remote {target!r}: port {port} is not between 1 and 65535")
        profile = cls(host=m["host"].strip("[]"), port=port, user=m["user"])
        return replace(profile, **{k: v for k, v in fields.items() if v is not None})
