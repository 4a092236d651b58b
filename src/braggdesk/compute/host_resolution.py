"""From what a user types after ``--remote`` to a HostProfile: a saved profile, an SSH config alias, or an address.

Why one place: the GUI's run panel and ``braggdesk run --remote`` must reach the same
node for the same words.  In order:

1. a host profile saved in the GUI (Hosts...) under that name;
2. ``[user@]alias[:port]`` with what ``~/.ssh/config`` says about the alias (HostName,
   User, Port, IdentityFile), where the command line does not say otherwise;
3. ``[user@]host[:port]`` as it is.

The GUI keeps its profiles with QSettings; on Linux that is an INI file,
``$XDG_CONFIG_HOME/braggdesk/braggdesk.conf``, which :func:`saved_host_profiles` reads
without Qt, so a headless node without PySide6 can still use the names.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import replace
from pathlib import Path

from ..errors import BraggdeskError
from .hosts import DEFAULT_REMOTE_COMMAND, HostProfile, split_target
from .ssh_config import lookup

GUI_GROUP = "ssh_hosts"  # the QSettings array the GUI writes (gui/host_profiles.py)


def gui_settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "braggdesk" / "braggdesk.conf"


def saved_host_profiles(path: str | Path | None = None) -> list[HostProfile]:
    """The GUI's saved SSH host profiles (empty when there are none or the file cannot be parsed)."""
    path = Path(path) if path is not None else gui_settings_path()
    if not path.is_file():
        return []
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return []
    if not parser.has_section(GUI_GROUP):
        return []
    section = parser[GUI_GROUP]
    entries: dict[int, dict[str, str]] = {}
    for key, value in section.items():
        index, sep, field = key.replace("/", "\\").partition("\\")
        if sep and index.isdigit():
            entries.setdefault(int(index), {})[field] = _unquote(value)
    profiles = []
    for _, e in sorted(entries.items()):
        if not e.get("host"):
            continue
        try:
            port = int(e.get("port") or 22)
        except ValueError:
            port = 22
        profiles.append(HostProfile(host=e["host"], port=port, user=e.get("user") or None,
                                    key_path=Path(e["key_path"]) if e.get("key_path") else None,
                                    known_hosts=Path(e["known_hosts"]) if e.get("known_hosts") else None,
                                    remote_command=e.get("remote_command") or DEFAULT_REMOTE_COMMAND,
                                    name=e.get("name") or e["host"]))
    return profiles


def resolve_host(target: str, *, key_path: Path | None = None, known_hosts: Path | None = None,
                 remote_command: str | None = None, saved: list[HostProfile] | None = None,
                 ssh_config: str | Path | None = None) -> HostProfile:
    """The node ``target`` names (see the module doc); options given here override the profile's or config's."""
    given = {"key_path": key_path, "known_hosts": known_hosts, "remote_command": remote_command}
    given = {k: v for k, v in given.items() if v is not None}
    for profile in saved if saved is not None else saved_host_profiles():
        if profile.name == target.strip():
            return replace(profile, **given)
    try:
        user, alias, port = split_target(target)
    except ValueError as exc:
        raise BraggdeskError(f"remote {target!r}: {exc}; or the name of a host saved in the GUI (Hosts...)") from None
    config = lookup(alias, ssh_config)
    profile = HostProfile(host=config.host_name or alias, port=port or config.port or 22,
                          user=user or config.user, key_path=config.identity_file, name=alias)
    return replace(profile, **given)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value
