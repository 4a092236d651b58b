"""Fixtures of the compute tests: a real sshd on 127.0.0.1 (never another address) and small jobs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    pytest.importorskip("asyncssh")
    from sshd_server import start_sshd, stop_sshd

    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except RuntimeError as exc:
        pytest.skip(str(exc))
    yield server
    stop_sshd(server)
