"""The SSH runner: ``braggdesk worker`` on a remote node, over asyncssh.

Authentication is by key only (a key file, or the ssh-agent and the default keys).
Host keys are checked strictly against a known_hosts file: an unknown or changed host
key is refused with a message that names the host, the key it offered and what to do;
it is never accepted silently, and there is no option to skip the check.

asyncssh is asyncio; the runner interface is blocking.  Each link runs its own event
loop in a thread and hands decoded frames to the runner through a queue.
"""

from __future__ import annotations

import asyncio
import errno
import getpass
import threading
import time
from pathlib import Path

from ..errors import InputError, RemoteError
from ..io import wire
from ..model import Job
from .hosts import HostProfile
from .remote import Closed, Link, StreamRunner, read_hello

CONNECT_TIMEOUT_S = 15.0
WORKER_EXIT_WAIT_S = 2.0  # on close: how long the worker may take to finish after its standard input ends


class HostKeyError(RemoteError):
    """The node's host key could not be verified against known_hosts."""


class UnknownHostKey(HostKeyError):
    """known_hosts has no key for this node."""


class ChangedHostKey(HostKeyError):
    """known_hosts has a key for this node, and the node offered another."""


class AuthenticationError(RemoteError):
    """The node refused the login."""


def _asyncssh():
    try:
        import asyncssh  # noqa: PLC0415
    except ImportError:
        raise RemoteError("ssh", "asyncssh is not installed: pip install 'braggdesk[remote]'") from None
    return asyncssh


def _known_hosts_name(profile: HostProfile) -> str:
    return profile.host if profile.port == 22 else f"[{profile.host}]:{profile.port}"


def _client_keys(profile: HostProfile):
    """The key named by the profile, or None for the agent and the default keys."""
    if profile.key_path is None:
        return None
    asyncssh = _asyncssh()
    path = Path(profile.key_path).expanduser()
    try:
        return [asyncssh.read_private_key(str(path))]
    except OSError as exc:
        raise InputError(path, f"cannot read the SSH key: {exc.strerror or exc}") from None
    except asyncssh.KeyImportError as exc:
        raise InputError(path, f"is not a usable private key ({exc}); a key with a passphrase must be loaded into "
                               "ssh-agent (then leave the key file out)") from None


async def _offered_key(profile: HostProfile) -> str:
    try:
        key = await asyncio.wait_for(_asyncssh().get_server_host_key(profile.host, profile.port), CONNECT_TIMEOUT_S)
        return f"{key.get_algorithm()} {key.get_fingerprint()}" if key is not None else "no key"
    except OSError as exc:
        if _is_refused(exc):  # nothing listens: say so, not "host key unknown"
            raise _refused(profile) from None
        return f"a key whose fingerprint could not be read ({exc})"
    except Exception as exc:  # the refusal below matters, not why the fingerprint could not be read
        return f"a key whose fingerprint could not be read ({exc})"


def _is_refused(exc: OSError) -> bool:
    """ECONNREFUSED, also when asyncio folds the tries of several addresses into one OSError."""
    return isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED or \
        "connect call failed" in str(exc).lower() or "connection refused" in str(exc).lower()


def _refused(profile: HostProfile) -> RemoteError:
    return RemoteError(profile.address, (
        f"connection refused: nothing accepts SSH connections on port {profile.port} of {profile.host} (sshd not "
        f"running, or SSH on another port: give host:PORT, or Port in ~/.ssh/config); this is not a host key "
        f"problem"))


async def _host_key_error(profile: HostProfile, known_hosts: Path) -> HostKeyError:
    asyncssh = _asyncssh()
    name = _known_hosts_name(profile)
    offered = await _offered_key(profile)
    try:
        trusted = asyncssh.read_known_hosts(str(known_hosts)).match(profile.host, profile.host, profile.port)
        listed = bool(trusted[0] or trusted[1])
    except (OSError, ValueError):
        listed = False
    if listed:
        return ChangedHostKey(profile.address, (
            f"the host key has CHANGED: the node offers {offered}, which does not match the key for {name} in "
            f"{known_hosts}. Someone may be intercepting the connection, or the node was reinstalled: ask its "
            f"administrator, and only if the new key is right remove the old entry (ssh-keygen -R '{name}' -f "
            f"{known_hosts}) and add the new one. braggdesk did not connect"))
    return UnknownHostKey(profile.address, (
        f"the host key is unknown: {known_hosts} has no entry for {name} (the node offers {offered}), so it "
        f"cannot be verified and braggdesk did not connect. Check the fingerprint with the node's administrator "
        f"(on the node: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it to {known_hosts}, e.g. "
        f"ssh-keyscan -p {profile.port} {profile.host} >> {known_hosts}"))


async def open_connection(profile: HostProfile, timeout_s: float = CONNECT_TIMEOUT_S):
    """An authenticated asyncssh connection, or a RemoteError saying which host and why not."""
    asyncssh = _asyncssh()
    known_hosts = profile.known_hosts_path()
    if not known_hosts.is_file():
        offered = await _offered_key(profile)
        raise UnknownHostKey(profile.address, (
            f"no known_hosts file at {known_hosts}, so the host key (the node offers {offered}) cannot be verified "
            f"and braggdesk did not connect: check the fingerprint with the node's administrator, then write it "
            f"there, e.g. ssh-keyscan -p {profile.port} {profile.host} >> {known_hosts}"))
    keys = _client_keys(profile)
    user = profile.user or getpass.getuser()
    extra = {"client_keys": keys, "agent_path": None} if keys is not None else {}
    try:
        return await asyncssh.connect(profile.host, port=profile.port, username=user, known_hosts=str(known_hosts),
                                      connect_timeout=timeout_s, password_auth=False, kbdint_auth=False, **extra)
    except asyncssh.HostKeyNotVerifiable:
        raise await _host_key_error(profile, known_hosts) from None
    except asyncssh.PermissionDenied:
        how = f"the key {profile.key_path}" if profile.key_path else "the ssh-agent and the default keys in ~/.ssh"
        raise AuthenticationError(profile.address, (
            f"the node refused the login of user {user!r} with {how} (permission denied): add the public key to "
            f"~{user}/.ssh/authorized_keys on the node, or choose the right key")) from None
    except asyncssh.DisconnectError as exc:
        raise RemoteError(profile.address, f"SSH connection closed by the node: {exc.reason}") from None
    except (asyncio.TimeoutError, TimeoutError):
        raise RemoteError(profile.address, f"no SSH answer within {timeout_s:.0f} s") from None
    except OSError as exc:
        if _is_refused(exc):
            raise _refused(profile) from None
        raise RemoteError(profile.address, f"cannot connect: {exc.strerror or exc}") from None


class SshLink(Link):
    """``profile.remote_command`` on the node, its stdin and stdout carrying frames."""

    def __init__(self, profile: HostProfile):
        super().__init__()
        self.profile = profile
        self.connect_seconds = 0.0
        self.host_key = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn = None
        self._proc = None
        self._stderr: list[str] = []
        self._pumps: list[asyncio.Task] = []  # the loop keeps only weak references to tasks

    @property
    def where(self) -> str:
        return self.profile.address

    def open(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="braggdesk-ssh", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        except BaseException:
            self._stop()
            raise

    async def _open(self) -> None:
        t0 = time.perf_counter()
        self._conn = await open_connection(self.profile)
        self.connect_seconds = time.perf_counter() - t0
        key = self._conn.get_server_host_key()
        self.host_key = f"{key.get_algorithm()} {key.get_fingerprint()}" if key is not None else ""
        try:
            self._proc = await self._conn.create_process(self.profile.remote_command, encoding=None)
        except _asyncssh().ChannelOpenError as exc:
            self._conn.abort()
            raise RemoteError(self.where, f"cannot start the remote command: {exc.reason}") from None
        self._pumps = [asyncio.ensure_future(self._pump_stderr()), asyncio.ensure_future(self._pump())]

    async def _pump_stderr(self) -> None:
        try:
            while chunk := await self._proc.stderr.read(65536):
                self._stderr = (self._stderr + chunk.decode(errors="replace").splitlines())[-50:]
        except Exception:  # the stdout pump reports how the link ended
            pass

    async def _pump(self) -> None:
        stdout = self._proc.stdout
        reason = "the worker's output ended before it said done"
        try:
            while True:
                try:
                    prefix = await stdout.readexactly(wire.PREFIX_BYTES)
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        reason = "the stream ended inside a frame"
                    break
                kind, hlen, blen = wire.parse_prefix(prefix)
                head = await stdout.readexactly(hlen)
                body = await stdout.readexactly(blen) if blen else b""
                self.inbox.put(wire.decode(kind, head, body))
        except wire.WireError as exc:
            reason = str(exc)
        except asyncio.IncompleteReadError:
            reason = "the connection dropped inside a frame"
        except Exception as exc:  # asyncssh reports a dropped connection in several ways
            reason = f"the connection was lost ({type(exc).__name__}: {exc})"
        try:
            await asyncio.wait_for(self._proc.wait_closed(), 5.0)
        except Exception:
            pass
        signal = self._proc.exit_signal
        self.inbox.put(Closed(reason, self._proc.exit_status, signal[0] if signal else None, "\n".join(self._stderr)))

    def send(self, frame: bytes) -> None:
        if self._loop is None or self._proc is None:
            raise RemoteError(self.where, "not connected")
        self._loop.call_soon_threadsafe(self._write, frame)

    def _write(self, frame: bytes) -> None:
        try:
            self._proc.stdin.write(frame)
        except Exception:  # the pump reports how the link ended
            pass

    def close(self) -> None:
        if self._loop is None:
            return
        if self._conn is not None:
            async def shut() -> None:
                try:
                    if self._proc is not None:
                        # what was sent last (a cancel, 'received') reaches the worker before the channel closes,
                        # and the worker gets a moment to act on it (remove a finished job's folder)
                        await asyncio.wait_for(self._proc.stdin.drain(), 1.0)
                        self._proc.stdin.write_eof()
                        try:
                            await asyncio.wait_for(self._proc.wait_closed(), WORKER_EXIT_WAIT_S)
                        except (asyncio.TimeoutError, TimeoutError):
                            pass
                    self._conn.close()
                    await asyncio.wait_for(self._conn.wait_closed(), 2.0)
                except Exception:
                    self._conn.abort()

            try:
                asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5.0)
            except Exception:
                pass
        self._stop()

    def abort(self) -> None:
        if self._loop is not None and self._conn is not None:
            self._loop.call_soon_threadsafe(self._conn.abort)

    def _stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if not loop.is_running():
            loop.close()


class SshRunner(StreamRunner):
    """A job run by ``braggdesk worker`` on an SSH node (see :class:`StreamRunner` for attach and reconnects)."""

    kind = "ssh"

    def __init__(self, job: Job, profile: HostProfile, **kwargs):
        self.profile = profile
        super().__init__(job, **kwargs)

    def _make_link(self) -> Link:
        return SshLink(self.profile)


def probe(profile: HostProfile) -> dict:
    """What ``braggdesk remote test`` reports: connection, host key, the worker's versions and device."""
    t0 = time.perf_counter()
    link = SshLink(profile)
    link.open()
    try:
        h = read_hello(link).header
        elapsed = time.perf_counter() - t0
        try:
            wire.check_compatible(h, f"the node {profile.address}")
            compatible = "yes"
        except wire.WireError as exc:
            compatible = str(exc)
        return {"address": profile.address, "host_key": link.host_key, "known_hosts": str(profile.known_hosts_path()),
                "connect_seconds": round(link.connect_seconds, 3), "hello_seconds": round(elapsed, 3),
                "remote_command": profile.remote_command, "braggdesk": h.get("braggdesk"),
                "protocol": h.get("protocol"), "compatible": compatible, "hostname": h.get("hostname"),
                "python": h.get("python"), "device": h.get("device"), "device_name": h.get("device_name"),
                "gpu_name": h.get("gpu_name"), "gpu_status": h.get("gpu_status")}
    finally:
        link.close()
