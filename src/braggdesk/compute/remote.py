"""Runners that drive a ``braggdesk worker`` over a byte stream: the client side of the wire.

:class:`StreamRunner` holds the protocol (hello and version check, job or attach, snapshots,
cancel, done, errors, re-attach after a dropped link) and knows nothing of SSH: a
:class:`Link` carries the frames.  :class:`PipeRunner` runs the worker as a local
subprocess over a pipe (the same framing as over SSH: a GPU machine's own test of the
whole path, and the stream benchmark); :mod:`.ssh` adds the SSH link.
"""

from __future__ import annotations

import abc
import queue
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Iterator

from ..engine.simulate import check_frame_of_reference, dose_scale
from ..errors import RemoteError, WireError
from ..io import wire, wire_jobs
from ..io.deidentify import PatientIdentity
from ..model import DoseScale, Job, Snapshot
from .outbound import Confidential, wire_payload
from .runner import Runner

HELLO_TIMEOUT_S = 120.0  # a GPU node's first CUDA start can take a while


@dataclass
class Closed:
    """The link ended: how, and what the other side said on its standard error."""

    reason: str
    exit_status: int | None = None
    exit_signal: str | None = None
    stderr: str = ""


class Link(abc.ABC):
    """A worker process at the end of a byte stream; frames in, frames out."""

    def __init__(self) -> None:
        self.inbox: queue.Queue = queue.Queue()  # Message, then one Closed

    @property
    @abc.abstractmethod
    def where(self) -> str:
        """The node, as messages name it."""

    @abc.abstractmethod
    def open(self) -> None:
        """Start the worker; raise RemoteError if that is impossible."""

    @abc.abstractmethod
    def send(self, frame: bytes) -> None:
        """Write a frame (any thread)."""

    @abc.abstractmethod
    def close(self) -> None:
        """End politely: close the worker's standard input and let go."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop the link at once, as a network failure would."""

    def receive(self, timeout: float) -> wire.Message | Closed | None:
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            return None


class StreamRunner(Runner):
    """A job run by a ``braggdesk worker`` at the end of a link; see the module docstring.

    ``attach``: the id of a job already on the node (the job given must be made from the
    same inputs; the node checks a digest).  ``reconnects``: how often a dropped link is
    re-opened and re-attached before giving up (each time the node sends only the
    batches this side does not hold yet).  ``identity``: the patient's identity as read
    from the CT (never sent): the job frame is checked against it, and against the job's
    own UIDs and label, before every connection (:mod:`.outbound`).
    """

    kind = "stream"

    def __init__(self, job: Job, attach: str | None = None, reconnects: int = 3, reconnect_delay_s: float = 1.0,
                 identity: PatientIdentity | None = None):
        if attach:
            job = replace(job, job_id=attach)
        super().__init__(job)
        self.confidential = Confidential.of(job, identity)
        self.attach = bool(attach)
        self.reconnects = reconnects
        self.reconnect_delay_s = reconnect_delay_s
        self.hello: dict = {}
        self.log: list[str] = []
        self.link: Link | None = None
        self.snapshot_frames: list[int] = []  # size on the wire of each snapshot received
        #: the node computes the job's dose-influence matrix (wire_jobs.DijRequest) and ``_snapshots`` yields
        #: its blocks (DijBatch) instead of dose Snapshots (see compute.dij.RemoteDij)
        self.dij: wire_jobs.DijRequest | None = None
        self._received: set[int] = set()  # batch (or block) numbers held here, for a re-attach

    @abc.abstractmethod
    def _make_link(self) -> Link:
        """A new, unopened link to the worker."""

    @property
    def where(self) -> str:
        return self._make_link().where if self.link is None else self.link.where

    @property
    def device(self) -> str:
        name = self.hello.get("device_name") or "not connected yet"
        return f"{self.kind} {self.where}: {name}"

    @property
    def job_id(self) -> str:
        return self.job.job_id

    # -- Runner -----------------------------------------------------------------------
    def _start(self) -> DoseScale:
        # A bad plan is refused here, before anything is sent (the node would refuse it in its engine process).
        for note in check_frame_of_reference(self.job):
            self.add_note(note)
        scale = dose_scale(self.job)
        self._connect(attach=self.attach, have=())
        return scale

    def cancel(self) -> None:
        super().cancel()
        link = self.link
        if link is not None:
            try:
                link.send(wire.encode("cancel", {"job_id": self.job_id}))
            except (OSError, RemoteError):
                pass

    def _snapshots(self) -> Iterator[Snapshot]:
        reconnects_left = self.reconnects
        try:
            while True:
                assert self.link is not None
                item = self.link.receive(timeout=0.2)
                if item is None:
                    continue
                if isinstance(item, Closed):
                    cause = closed_cause(item)
                    if reconnects_left <= 0 or item.exit_status is not None:
                        raise RemoteError(self.where, f"{cause}; the job {self.job_id} goes on at the node "
                                                      f"if it can: re-attach with --attach {self.job_id}",
                                          self.job_id)
                    reconnects_left -= 1
                    self.log.append(f"link lost ({cause}); re-attaching")
                    self._reattach(cause)
                    continue
                if item.kind in ("snapshot", "dij"):
                    self.snapshot_frames.append(item.frame_bytes)
                    snap = wire.decode_snapshot(item) if item.kind == "snapshot" else wire_jobs.decode_dij_batch(item)
                    if snap.job_id != self.job_id:
                        raise RemoteError(self.where, f"sent sums of job {snap.job_id}, expected {self.job_id}")
                    if (item.kind == "dij") != (self.dij is not None):
                        raise RemoteError(self.where, f"sent a {item.kind} frame for a job that asked for "
                                                      f"{'a dose-influence matrix' if self.dij else 'a dose'}")
                    self._received.update(snap.batches)
                    yield snap
                elif item.kind == "log":
                    self.log.append(str(item.header.get("text", "")))
                elif item.kind == "error":
                    raise self._worker_error(item.header)
                elif item.kind == "done":
                    if item.header.get("state") == "cancelled" and not self.cancelled:
                        self.add_note("the job was cancelled at the node")
                        self._cancel.set()
                    self._acknowledge()
                    return
        finally:
            self._close()

    def dij_blocks(self, voxels, per_spot: int, pass_index: int = 0) -> Iterator:
        """The blocks (DijBatch) of the job's dose-influence matrix as the node computes them, instead of a
        dose: the same connection, job folder, cancel and re-attach (see compute.dij.RemoteDij); ``pass_index``
        > 0: the random streams of that pass (a matrix refined to a target uncertainty)."""
        self.dij = wire_jobs.DijRequest(voxels, int(per_spot), int(pass_index))
        self._start()
        yield from self._snapshots()

    # -- the protocol -------------------------------------------------------------------
    def _connect(self, attach: bool, have: tuple[int, ...]) -> None:
        # built and checked before the link opens: a job that would carry patient identity never leaves
        frame = wire_payload(self.job, self.confidential, attach=attach, have_batches=have, dij=self.dij)
        link = self._make_link()
        link.open()
        self.link = link
        try:
            first = read_hello(link)
            wire.check_compatible(first.header, f"the node {link.where}")
        except WireError as exc:
            self._close()
            raise RemoteError(link.where, str(exc)) from None
        except RemoteError:
            self._close()
            raise
        self.hello = dict(first.header)
        if self.dij is not None and int(self.hello.get("protocol", 0)) < wire.DIJ_PROTOCOL:
            self._close()
            raise RemoteError(link.where, f"the node runs braggdesk {self.hello.get('braggdesk', '?')}, which cannot "
                                          "compute dose-influence matrices; install the same braggdesk version there")
        if (self.dij is not None and self.dij.pass_index > 0
                and int(self.hello.get("protocol", 0)) < wire.DIJ_PASS_PROTOCOL):
            self._close()
            raise RemoteError(link.where, f"the node runs braggdesk {self.hello.get('braggdesk', '?')}, which cannot "
                                          "add passes to a dose-influence matrix (a target uncertainty); install the "
                                          "same braggdesk version there, or give a number of histories per spot")
        link.send(frame)
        if self.cancelled:
            link.send(wire.encode("cancel", {"job_id": self.job_id}))

    def _reattach(self, cause: str) -> None:
        self._close()
        time.sleep(self.reconnect_delay_s)
        have = tuple(sorted(self._received))
        try:
            self._connect(attach=True, have=have)
        except RemoteError as exc:
            raise RemoteError(self.where, f"link lost ({cause}) and re-attaching failed: {exc.problem}; the job "
                                          f"{self.job_id} goes on at the node: re-attach later with --attach "
                                          f"{self.job_id}", self.job_id) from None

    def _acknowledge(self) -> None:
        """Tell the node the whole result is here, so it removes the job's folder (best effort)."""
        link = self.link
        if link is not None:
            try:
                link.send(wire.encode("received", {"job_id": self.job_id}))
            except (OSError, RemoteError):
                pass

    def _close(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            link.close()

    def _worker_error(self, header: dict) -> RemoteError:
        code = header.get("code", "")
        text = str(header.get("message", "unknown error"))
        if code == "worker-died":
            text = f"{text} (re-attach with --attach {self.job_id})"
        return RemoteError(self.where, text, self.job_id)


def read_hello(link: Link, timeout: float = HELLO_TIMEOUT_S) -> wire.Message:
    """The worker's first frame, which must be its hello; a RemoteError saying why not otherwise."""
    first = link.receive(timeout=timeout)
    if first is None:
        raise RemoteError(link.where, f"the worker sent no hello within {timeout:.0f} s")
    if isinstance(first, Closed):
        raise RemoteError(link.where, closed_cause(first))
    if first.kind == "error":
        raise RemoteError(link.where, str(first.header.get("message", "unknown error")))
    if first.kind != "hello":
        raise RemoteError(link.where, f"the worker began with {first.kind}, expected hello")
    return first


def closed_cause(closed: Closed) -> str:
    """Why the worker's stream ended, in words: a missing command, missing braggdesk, a crash, the network."""
    said = closed.stderr.strip().splitlines()
    tail = said[-1] if said else ""
    if closed.exit_status == 127:
        return (f"the remote command was not found ({tail or 'exit status 127'}): set the remote command to "
                "the absolute path of the node's python followed by `-m braggdesk worker`")
    if "No module named braggdesk" in closed.stderr or "No module named 'braggdesk'" in closed.stderr:
        return (f"braggdesk is not installed for the remote command's python ({tail}): install it there "
                "(pip install 'braggdesk[gpu]') or point the remote command at a python that has it")
    if closed.exit_signal:
        return f"the worker was killed by signal {closed.exit_signal}" + (f": {tail}" if tail else "")
    if closed.exit_status not in (None, 0):
        return f"the worker crashed with exit status {closed.exit_status}" + (f": {tail}" if tail else "")
    return closed.reason + (f" ({tail})" if tail else "")


class PipeLink(Link):
    """The worker as a local subprocess; its standard input and output carry the frames."""

    def __init__(self, command: list[str]):
        super().__init__()
        self.command = command
        self.proc: subprocess.Popen | None = None
        self._stderr: list[bytes] = []
        self._stderr_reader: threading.Thread | None = None

    @property
    def where(self) -> str:
        return "pipe"

    def open(self) -> None:
        try:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        except OSError as exc:
            raise RemoteError(self.where, f"cannot start {shlex.join(self.command)}: {exc.strerror}") from None
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr = (self._stderr + [line])[-50:]

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        read = wire.stream_reader(self.proc.stdout)
        reason = "the worker's output ended before it said done"
        try:
            while (msg := wire.read_message(read)) is not None:
                self.inbox.put(msg)
        except WireError as exc:
            reason = str(exc)
        code = self.proc.wait()
        assert self._stderr_reader is not None
        self._stderr_reader.join(timeout=1.0)  # its last lines name the cause (a grandchild may hold the pipe)
        text = b"".join(self._stderr).decode(errors="replace")
        self.inbox.put(Closed(reason, code if code >= 0 else None, str(-code) if code < 0 else None, text))

    def send(self, frame: bytes) -> None:
        if self.proc is None or self.proc.stdin is None:
            raise RemoteError(self.where, "not open")
        try:
            self.proc.stdin.write(frame)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the reader reports how the worker ended

    def close(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def abort(self) -> None:
        if self.proc is not None:
            self.proc.kill()


def local_worker_command(jobs_dir: str | None = None) -> list[str]:
    """This python running ``-m braggdesk worker``."""
    cmd = [sys.executable, "-m", "braggdesk", "worker"]
    return cmd + (["--jobs-dir", str(jobs_dir)] if jobs_dir else [])


class PipeRunner(StreamRunner):
    """The worker over a local pipe: the whole remote path (framing, job folder, engine process) without SSH."""

    kind = "pipe"

    def __init__(self, job: Job, command: list[str] | str | None = None, **kwargs):
        super().__init__(job, **kwargs)
        if isinstance(command, str):
            command = shlex.split(command)
        self.command = command or local_worker_command()

    def _make_link(self) -> Link:
        return PipeLink(self.command)

