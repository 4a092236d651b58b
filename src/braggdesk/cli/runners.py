"""Where ``run`` (and ``qa``) compute: the choice of runner from the command line.

Every runner has the interface of :class:`braggdesk.compute.runner.Runner`, so
the commands drive any of them the same way.  A new runner adds its options in
``add_runner_options`` and its branch in ``make_runner``.
"""

from __future__ import annotations

import argparse

from ..compute.runner import Runner
from ..model import Job


def add_runner_options(p: argparse.ArgumentParser) -> None:
    """Options that choose where the job runs (default: this machine)."""
    from .remote import add_remote_options

    add_remote_options(p)


def make_runner(job: Job, args: argparse.Namespace) -> Runner:
    from .remote import make_remote_runner, wants_remote

    if wants_remote(args):
        return make_remote_runner(job, args)
    from ..compute.local import LocalRunner

    return LocalRunner(job)
