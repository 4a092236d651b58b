"""Every input answered cleanly: pydicom's test files and mutations of real files, through the CLI in-process.

A clean answer is exit 0 with the problem named on a PROBLEM line, or a non-zero exit
with one to three lines on stderr naming the file and the problem; never a traceback,
an internal path, a hang, or NaN/inf printed as data.  ``info`` and ``run`` must agree:
every mutation here breaks its file, so both must say so.

``run`` stops where the engine would start (``make_runner`` replaced), so the whole
corpus reads files only and runs in seconds.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from braggdesk.cli import main
from corpus_builder import (MODEL_V2, PLAN02, Case, build_ct_cases, build_file_cases, pydicom_test_files)

INTERNAL = re.compile(r"Traceback|internal error|site-packages|src/braggdesk|\.py:\d+")
NONSENSE = re.compile(r"\bnan\b|\binf\b", re.IGNORECASE)


@dataclass
class Answer:
    rc: int
    out: str
    err: str
    seconds: float


class ReachedTheEngine(BaseException):
    """Raised where the runner would start: every input was read and accepted."""


def ask(capsys, *argv) -> Answer:
    start = time.perf_counter()
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return Answer(rc, captured.out, captured.err, time.perf_counter() - start)


def unclean(answer: Answer, name: str, *, must_name_problem: bool) -> list[str]:
    """What is wrong with an answer about file ``name`` (empty: answered cleanly)."""
    wrong = []
    if INTERNAL.search(answer.err) or INTERNAL.search(answer.out):
        wrong.append("a traceback or an internal path")
    data_lines = [line for line in answer.out.splitlines() if "PROBLEM" not in line]
    if any(NONSENSE.search(line) for line in data_lines):
        wrong.append("NaN or inf shown as data")
    if answer.seconds > 20:
        wrong.append(f"took {answer.seconds:.0f} s")
    if answer.rc == 0:
        if must_name_problem and "PROBLEM" not in answer.out:
            wrong.append("exit 0 without naming the problem")
    else:
        lines = [line for line in answer.err.splitlines() if line.strip()]
        if answer.rc not in (1, 2, 3):
            wrong.append(f"exit code {answer.rc}")
        if not 1 <= len(lines) <= 3:
            wrong.append(f"{len(lines)} lines on stderr")
        if name not in answer.err:
            wrong.append("the file is not named")
    return wrong


def report(failures: dict[str, tuple[list[str], Answer]]) -> str:
    return "\n".join(f"{case}: {', '.join(why)}\n    rc={a.rc} out={a.out[-300:]!r} err={a.err[-300:]!r}"
                     for case, (why, a) in failures.items())


@pytest.fixture(scope="module")
def phantom_ct(tmp_path_factory) -> Path:
    """A small water phantom at plan 02's isocentre (8 mm voxels), the CT the run cases use."""
    folder = tmp_path_factory.mktemp("phantom") / "ct"
    assert main(["phantom", "dcpt", "--geometry", "D", "--plan", str(PLAN02), "--spacing", "8", "--out",
                 str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def file_cases(tmp_path_factory) -> list[Case]:
    return build_file_cases(tmp_path_factory.mktemp("files"))


@pytest.fixture(scope="module")
def ct_cases(tmp_path_factory, phantom_ct) -> list[Case]:
    return build_ct_cases(tmp_path_factory.mktemp("ct"), phantom_ct)


@pytest.fixture
def engine_stopped(monkeypatch):
    """``run`` stops where the runner would start; the Job it would have run is kept."""
    jobs = []

    def stop(job, args):
        jobs.append(job)
        raise ReachedTheEngine

    monkeypatch.setattr("braggdesk.cli.run.make_runner", stop)
    return jobs


def test_pydicom_test_files_are_answered_cleanly(capsys, tmp_path):
    """Every file pydicom ships for its tests (every transfer syntax, broken ones, non-DICOM), one by one and as
    a folder."""
    files = pydicom_test_files(tmp_path / "pydicom")
    assert len(files) > 100
    failures = {}
    for path in files:
        answer = ask(capsys, "info", path)
        why = unclean(answer, path.name, must_name_problem=False)
        if why:
            failures[path.name] = (why, answer)
    folder = ask(capsys, "info", tmp_path / "pydicom")
    if folder.rc != 0 or unclean(folder, "pydicom", must_name_problem=False):
        failures["the whole folder"] = (["not answered cleanly"], folder)
    assert not failures, report(failures)


def test_every_mutated_file_is_named_as_a_problem_by_info(capsys, file_cases, ct_cases):
    """Plans, doses, structure sets and CT slices with one value broken: ``info`` names the problem, on the file
    itself and (CT) on the series' folder."""
    assert len(file_cases) + len(ct_cases) > 150
    failures = {}
    for case in file_cases + ct_cases:
        answer = ask(capsys, "info", case.path)
        why = unclean(answer, case.path.name, must_name_problem=case.name != "ct-with-an-mr-slice")
        if case.folder is not None:
            listing = ask(capsys, "info", case.folder)
            why += [f"folder: {w}" for w in unclean(listing, case.folder.name, must_name_problem=True)]
        if why:
            failures[case.name] = (why, answer)
    assert not failures, report(failures)


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning", "ignore:Expected explicit VR:UserWarning")
def test_info_and_the_readers_agree(file_cases, ct_cases):
    """One validation: each mutated file that ``info`` lists as a problem is refused by the reader ``run`` and the
    GUI use, with an InputError naming the file (never another exception)."""
    from braggdesk.errors import InputError
    from braggdesk.io.dicom_ct import read_ct_series
    from braggdesk.io.rtdose import read_rtdose
    from braggdesk.io.rtplan import read_rt_ion_plan
    from braggdesk.io.rtstruct import read_rtstruct

    from braggdesk.io.rtdose import read_rtdose_info

    def read_dose(path):  # what qa reads of a dose: the grid and what the dose says about itself
        read_rtdose_info(path)
        read_rtdose(path)

    readers = {"plan": read_rt_ion_plan, "dose": read_dose, "structures": read_rtstruct}
    accepted = []
    for case in file_cases + ct_cases:
        try:
            if case.kind == "ct":
                read_ct_series(case.folder)
            else:
                readers[case.kind](case.path)
            accepted.append(case.name)
        except InputError as exc:
            assert exc.path is not None and (exc.path == case.path or exc.path == case.folder), (case.name, exc)
    assert not accepted, f"read without a complaint: {accepted}"


def test_run_refuses_every_mutated_plan_and_ct_in_one_line(capsys, file_cases, ct_cases, phantom_ct, tmp_path,
                                                           engine_stopped):
    """``run`` with a broken plan (on the phantom) or a broken CT slice (with the real plan): exit 2, one line
    naming the file, and no work started."""
    runs = [(c, phantom_ct, c.path, c.path.name) for c in file_cases if c.name.startswith("plan-plan02")]
    runs += [(c, c.folder, PLAN02, c.path.name if c.name != "ct-with-an-mr-slice" else c.folder.name)
             for c in ct_cases if c.name.startswith("ct-")]
    assert len(runs) > 40
    failures = {}
    for case, ct, plan, name in runs:
        try:
            answer = ask(capsys, "run", "--ct", ct, "--plan", plan, "--beam-model", MODEL_V2, "--primaries", "100",
                         "--ignore-frame-of-reference", "--out", tmp_path / "RD.dcm")
        except ReachedTheEngine:
            failures[case.name] = (["accepted"], Answer(0, "", capsys.readouterr().err, 0.0))
            continue
        why = unclean(answer, name, must_name_problem=True)
        if answer.rc != 2:
            why.append("not exit 2")
        if why:
            failures[case.name] = (why, answer)
    assert not failures, report(failures)
    assert not engine_stopped
