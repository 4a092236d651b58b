"""TLS for an SSHCluster braggdesk starts: throw-away certificates on every host, removed at the end.

Why: Dask starts the scheduler and the workers of an SSHCluster as plain processes on the
hosts; they read TLS settings from the Dask configuration that SSHCluster hands them
(``DASK_INTERNAL_INHERIT_CONFIG``).  Putting the key itself in that configuration would
put it on a command line on the host, readable by every account there while it starts,
so only *paths* go in: the certificate files are written to each host first, over the
same SSH connection settings, into a new folder only the SSH user can open
(``/tmp/braggdesk-tls-<random>``, mode 0700, files 0600; ``mkdir`` fails rather than
reuse an existing folder), and removed when the cluster closes.  This side keeps the
same material in memory for its client.  The CA is made for this cluster alone, so the
certificate is worthless anywhere else, and worthless here once the cluster is gone.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
from dataclasses import dataclass, field

from .certificates import TlsMaterial, throwaway_tls

REMOTE_BASE = "/tmp"
CONNECT_TIMEOUT_S = 30.0
_ROLES = ("scheduler", "worker", "client")


@dataclass
class ClusterTls:
    """Throw-away TLS material of one SSHCluster, and where on the hosts its files are."""

    material: TlsMaterial
    folder: str  # the same absolute path on every host
    hosts: list[tuple[str, dict]] = field(default_factory=list)  # (host, asyncssh options) holding a copy

    def dask_config(self) -> dict:
        """Dask configuration for the cluster's processes: TLS with these files, plain TCP refused."""
        config = {"distributed.comm.require-encryption": True,
                  "distributed.comm.tls.ca-file": f"{self.folder}/ca.pem"}
        for role in _ROLES:
            config[f"distributed.comm.tls.{role}.cert"] = f"{self.folder}/cert.pem"
            config[f"distributed.comm.tls.{role}.key"] = f"{self.folder}/key.pem"
        return config

    def client_security(self):
        """This side's ``Security``: the same CA, certificate and key, from memory."""
        from distributed import Security  # noqa: PLC0415

        m = self.material
        return Security(tls_ca_file=m.ca_pem, tls_client_cert=m.cert_pem, tls_client_key=m.key_pem,
                        require_encryption=True)

    def remove(self) -> list[str]:
        """Delete the folder on every host; what could not be deleted, in words (empty when all went)."""
        return asyncio.run(_remove_all(self))


def place_tls(hosts: list[tuple[str, dict]]) -> ClusterTls:
    """New throw-away material, written to a private folder on every distinct host; OSError/asyncssh errors
    propagate (after removing what was already written) for the caller to explain."""
    tls = ClusterTls(throwaway_tls(), f"{REMOTE_BASE}/braggdesk-tls-{secrets.token_hex(12)}")
    distinct: dict[tuple, tuple[str, dict]] = {}
    for host, options in hosts:
        distinct.setdefault((host, options.get("port"), options.get("username")), (host, options))
    try:
        asyncio.run(_place_all(tls, list(distinct.values())))
    except BaseException:
        tls.remove()
        raise
    return tls


async def _place_all(tls: ClusterTls, hosts: list[tuple[str, dict]]) -> None:
    import asyncssh  # noqa: PLC0415

    folder = shlex.quote(tls.folder)
    files = {"ca.pem": tls.material.ca_pem, "cert.pem": tls.material.cert_pem, "key.pem": tls.material.key_pem}
    for host, options in hosts:
        async with asyncssh.connect(host, **{"connect_timeout": CONNECT_TIMEOUT_S, **options}) as conn:
            tls.hosts.append((host, options))  # from here on, removal must visit this host
            # a new folder; or the one this call already made, reached again under another name of the same host
            await conn.run(f"umask 077 && {{ mkdir -m 700 {folder} || {{ test -d {folder} && test ! -L {folder} && "
                           f"test -O {folder} && test -z \"$(find {folder} -maxdepth 0 -perm /077)\"; }}; }}",
                           check=True)
            for name, text in files.items():  # the key goes through standard input, never a command line
                await conn.run(f"umask 077 && cat > {folder}/{name}", input=text, check=True)


async def _remove_all(tls: ClusterTls) -> list[str]:
    import asyncssh  # noqa: PLC0415

    problems = []
    for host, options in tls.hosts:
        try:
            async with asyncssh.connect(host, **{"connect_timeout": CONNECT_TIMEOUT_S, **options}) as conn:
                await conn.run(f"rm -rf -- {shlex.quote(tls.folder)}", check=True)
        except Exception as exc:  # each host is tried; the caller says which kept its copy
            problems.append(f"{host}: {tls.folder} could not be removed ({type(exc).__name__}: {exc})")
    tls.hosts.clear()
    return problems
