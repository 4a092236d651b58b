"""Owner-only folders for job data: made 0700, and a looser or foreign folder refused, never used."""

from __future__ import annotations

import os
import stat

import pytest

from braggdesk.compute.private import NotPrivate, check_private, private_folder, write_private
from braggdesk.compute.remote import PipeRunner, local_worker_command
from braggdesk.errors import RemoteError

from cases import pencil_job


def test_folders_and_files_are_made_owner_only_whatever_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        folder = private_folder(tmp_path / "a" / "b")
        write_private(folder / "f.bin", b"x")
    finally:
        os.umask(old)
    for path in (tmp_path / "a", folder):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "f.bin").stat().st_mode) == 0o600 and (folder / "f.bin").read_bytes() == b"x"


def test_a_loose_folder_or_a_link_is_refused_with_the_fix(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    with pytest.raises(NotPrivate, match=rf"^{loose}: has permissions 0755, which let other users read or enter it; "
                                         rf".*chmod 700 {loose}$"):
        private_folder(loose)
    link = tmp_path / "link"
    link.symlink_to(private_folder(tmp_path / "real"))
    with pytest.raises(NotPrivate, match="is a symbolic link"):
        check_private(link)


def test_a_worker_refuses_a_jobs_folder_others_can_read(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    os.chmod(jobs, 0o750)
    runner = PipeRunner(pencil_job(150.0, 200, batches=1), command=local_worker_command(jobs), reconnects=0)
    with pytest.raises(RemoteError, match=rf"on the node: {jobs}: has permissions 0750"):
        for _ in runner.run():
            pass
    assert list(jobs.iterdir()) == []  # nothing of the job was written there
