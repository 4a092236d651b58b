"""Remote nodes from the command line: ``run --remote ...`` options and ``braggdesk remote test HOST``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import write_json
from .options import non_negative_int


def add_remote_options(p: argparse.ArgumentParser) -> None:
    """The options of ``run`` that send the job to a ``braggdesk worker`` (over SSH, or a local pipe)."""
    g = p.add_argument_group("remote node (braggdesk worker over SSH)")
    g.add_argument("--remote", metavar="[USER@]HOST[:PORT]",
                   help="run the job on this SSH node: a host saved in the GUI (Hosts...) by name, a Host alias of "
                        "~/.ssh/config (its HostName, User, Port and IdentityFile are used), or an address")
    g.add_argument("--pipe", action="store_true",
                   help="run the job through a worker on this machine over a pipe (the SSH path without SSH)")
    _add_connection_options(g)
    g.add_argument("--attach", metavar="JOB",
                   help="re-attach to job JOB on the node (same inputs): everything computed so far, then the rest")
    g.add_argument("--reconnects", type=non_negative_int, default=3,
                   help="how often a dropped connection is re-opened and the job re-attached (default 3)")


def _add_connection_options(g) -> None:
    g.add_argument("--identity", "-i", type=Path, help="private key file (default: ssh-agent and ~/.ssh keys)")
    g.add_argument("--known-hosts", type=Path, help="known_hosts file the host key is checked against "
                                                     "(default: ~/.ssh/known_hosts)")
    g.add_argument("--remote-command", help="command that starts the worker on the node, e.g. "
                                            "'/opt/venv/bin/python -m braggdesk worker' (default: braggdesk worker)")


def wants_remote(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "remote", None) or getattr(args, "pipe", False))


def profile_from_args(target: str, args: argparse.Namespace):
    """The node: a host saved in the GUI by that name, an alias of ~/.ssh/config, or [user@]host[:port]; the
    command line's --identity, --known-hosts and --remote-command win over what those say."""
    from ..compute.host_resolution import resolve_host

    return resolve_host(target, key_path=args.identity, known_hosts=args.known_hosts,
                        remote_command=args.remote_command)


def register(sub) -> None:
    r = sub.add_parser("remote", help="remote worker nodes")
    rsub = r.add_subparsers(dest="remote_command_name", metavar="ACTION", required=True)
    t = rsub.add_parser("test", help="check connection, host key, remote braggdesk version and device")
    t.add_argument("target", metavar="[USER@]HOST[:PORT]")
    _add_connection_options(t)
    t.add_argument("--json", help="write what was found as JSON to FILE (- for standard output)")
    t.set_defaults(func=run_remote_test)


def run_remote_test(args) -> int:
    from ..compute.ssh import probe

    found = probe(profile_from_args(args.target, args))
    out = sys.stderr if args.json == "-" else sys.stdout
    rows = [("node", found["address"]), ("host key", f"{found['host_key']} (verified against "
                                                     f"{found['known_hosts']})"),
            ("connect", f"{found['connect_seconds']:.3f} s (hello after {found['hello_seconds']:.3f} s)"),
            ("remote command", found["remote_command"]),
            ("braggdesk", f"{found['braggdesk']} (wire protocol {found['protocol']}), python {found['python']} "
                          f"on {found['hostname']}"),
            ("compatible", found["compatible"]), ("device", f"{found['device']}: {found['device_name']}")]
    if found["device"] != "gpu":
        rows.append(("gpu", found["gpu_status"]))
    print("\n".join(f"{k:<15}{v}" for k, v in rows), file=out)
    write_json(found, args.json)
    return 0 if found["compatible"] == "yes" else 1
