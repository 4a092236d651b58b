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
    del p  # the local runner needs none; the SSH and cluster runners add theirs here


def make_runner(job: Job, args: argparse.Namespace) -> Runner:
    from ..compute.local import LocalRunner

    return LocalRunner(job)
