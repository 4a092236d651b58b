"""One test per pattern of issue 16: outputs checked before the run, no dose lost, options, exit codes, info FILE.

All in-process (``main``), so the suite stays fast; ``run`` either stops where the engine would
start (``make_runner`` replaced) or runs the real engine on a few hundred primaries.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pydicom
import pytest

from braggdesk.cli import EXIT_CODES_HELP, main

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022"
PLAN02 = next((DATA / "plans" / "plan02_mono_eclipse").glob("RN*.dcm"))
MODEL_V2 = DATA / "beam_model" / "DCPT_beam_model__v2.csv"


class ReachedTheEngine(BaseException):
    pass


@pytest.fixture(scope="module")
def ct(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("phantom") / "ct"
    assert main(["phantom", "dcpt", "--geometry", "D", "--plan", str(PLAN02), "--spacing", "8", "--out",
                 str(folder)]) == 0
    return folder


@pytest.fixture
def jobs(monkeypatch) -> list:
    """``run`` stops where the runner would start; the jobs it would have run are kept here."""
    seen: list = []

    def stop(job, args):
        seen.append(job)
        raise ReachedTheEngine

    monkeypatch.setattr("braggdesk.cli.run.make_runner", stop)
    return seen


def run_args(ct: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--ct", str(ct), "--plan", str(PLAN02), "--beam-model", str(MODEL_V2), "--device", "cpu",
            "--ignore-frame-of-reference", "--out", str(out), *extra]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, err  # the problem (and, for a bad option, where the help is)
    assert "Traceback" not in err
    return lines[0]


# ----------------------------------------------------------------------------------------- outputs


def test_a_run_to_a_read_only_folder_fails_before_simulating(ct, tmp_path, jobs, capsys, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse files as a read-only file system would
        real_open = os.open

        def read_only(path, flags, *args, **kwargs):
            if Path(path).parent == folder and flags & os.O_CREAT:
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", read_only)
    try:
        rc = main(run_args(ct, folder / "RD.dcm", "--primaries", "100"))
    finally:
        folder.chmod(0o755)
    line = one_error_line(capsys.readouterr().err)
    assert rc == 2 and not jobs
    assert str(folder) in line and ("read-only" in line or "permission denied" in line)


@pytest.mark.parametrize("where", ["out_is_a_folder", "json_is_a_folder", "out_under_a_file"])
def test_an_output_that_cannot_be_written_is_refused_before_simulating(ct, tmp_path, jobs, capsys, where):
    out, extra = tmp_path / "RD.dcm", []
    if where == "out_is_a_folder":
        out = tmp_path
    elif where == "json_is_a_folder":
        extra = ["--json", str(tmp_path)]
    else:
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "RD.dcm"
    rc = main(run_args(ct, out, "--primaries", "100", *extra))
    line = one_error_line(capsys.readouterr().err)
    assert rc == 2 and not jobs
    assert ("is a folder" in line or "is a file, not a folder" in line) and str(tmp_path) in line


def test_a_write_failure_keeps_the_dose_at_the_named_fallback(ct, tmp_path, capsys, monkeypatch):
    """The disk fills up at the end of a run: exit 1, the message and the JSON name the rescued file, which holds
    the dose."""
    from braggdesk.io import safe_write

    rescue = tmp_path / "rescued"
    monkeypatch.setenv(safe_write.RESCUE_DIR_VARIABLE, str(rescue))
    target = tmp_path / "out" / "RD.dcm"
    real_replace = os.replace

    def disk_full(src, dst, *args, **kwargs):
        if Path(dst) == target:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(safe_write.os, "replace", disk_full)
    rc = main(run_args(ct, target, "--primaries", "300", "--batches", "2", "--json", str(tmp_path / "s.json")))
    err = capsys.readouterr().err
    assert rc == 1
    (kept,) = rescue.glob("RD-*.dcm")
    error = [line for line in err.splitlines() if "error:" in line]
    assert len(error) == 1 and "the disk is full" in error[0] and str(kept) in error[0] and str(target) in error[0]
    assert not target.exists() and not list(target.parent.glob(".RD*"))  # no half-written file left behind
    ds = pydicom.dcmread(kept)
    assert ds.Modality == "RTDOSE" and float(ds.DoseGridScaling) > 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["rtdose"] == str(kept) and summary["primaries"] == 300 and "disk is full" in summary["write_error"]


def test_an_interrupted_run_writes_the_partial_dose_and_exits_3(ct, tmp_path, capsys, monkeypatch):
    from braggdesk.engine import executor

    calls = []
    real_run = executor.CpuExecutor.run

    def interrupted(self, key, n):
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_run(self, key, n)

    monkeypatch.setattr(executor.CpuExecutor, "run", interrupted)
    out = tmp_path / "RD.dcm"
    rc = main(run_args(ct, out, "--primaries", "500", "--batches", "5"))
    assert rc == 3, capsys.readouterr().err
    assert "(PARTIAL)" in pydicom.dcmread(out).DoseComment


# ----------------------------------------------------------------------------------------- options


@pytest.mark.parametrize("option, value", [("--seed", "-1"), ("--batch-size", "0"), ("--batch-size", "-5"),
                                           ("--max-primaries", "0"), ("--primaries", "1.5"), ("--primaries", "many"),
                                           ("--primaries", "0"), ("--batches", "0"), ("--threads", "0"),
                                           ("--uncertainty", "2"), ("--uncertainty", "nan"), ("--seed", "1e30")])
def test_a_bad_option_is_refused_in_one_line_naming_it(ct, tmp_path, jobs, capsys, option, value):
    extra = [option, value] if option in ("--uncertainty", "--batch-size", "--max-primaries") \
        else [option, value, "--primaries", "100"] if option != "--primaries" else [option, value]
    if option in ("--batch-size", "--max-primaries"):
        extra += ["--uncertainty", "0.05"]
    rc = main(run_args(ct, tmp_path / "RD.dcm", *extra))
    line = one_error_line(capsys.readouterr().err)
    assert rc == 2 and not jobs
    assert option in line and value in line


@pytest.mark.parametrize("written", ["2e5", "200000", "200_000", "2E5", " 200000 "])
def test_counts_are_read_as_physicists_write_them(ct, tmp_path, jobs, written):
    with pytest.raises(ReachedTheEngine):
        main(run_args(ct, tmp_path / "RD.dcm", "--primaries", written, "--seed", "0"))
    assert jobs[0].settings.primaries == 200_000 and jobs[0].settings.seed == 0


def test_the_exit_codes_are_in_the_help_and_the_user_guide(capsys):
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert main(["run", "--help"]) == 0
    sub = capsys.readouterr().out
    for text in (top, sub):
        for code in ("0  done", "1  failure", "2  bad usage or input", "3  cancelled"):
            assert code in text
    guide = (Path(__file__).resolve().parents[2] / "docs" / "user-guide.md").read_text()
    assert "Exit codes\n" in guide and all(f"| {code} |" in guide for code in range(4))
    assert EXIT_CODES_HELP.count("\n  ") >= 4


# ----------------------------------------------------------------------------------------- info


def test_info_on_a_file_answers_about_that_file(tmp_path, capsys):
    notes = tmp_path / "notes.dcm"
    notes.write_text("not DICOM at all")
    rc = main(["info", str(notes)])
    line = one_error_line(capsys.readouterr().err)
    assert rc == 2 and str(notes) in line and "not a DICOM file" in line
    rc = main(["info", str(PLAN02)])
    out = capsys.readouterr().out
    assert rc == 0 and out.splitlines()[0] == f"{PLAN02}:" and "RT Ion Plan" in out


def test_info_never_opens_a_named_pipe(tmp_path, capsys):
    """A pipe would block for ever: asked about it, info says what it is; in a folder, it is skipped."""
    pipe = tmp_path / "stream.dcm"
    os.mkfifo(pipe)
    rc = main(["info", str(pipe)])
    line = one_error_line(capsys.readouterr().err)
    assert rc == 2 and str(pipe) in line and "named pipe" in line
    assert main(["phantom", "water", "--spacing", "20", "--out", str(tmp_path / "ct")]) == 0
    os.mkfifo(tmp_path / "ct" / "slice.dcm")
    capsys.readouterr()
    assert main(["info", str(tmp_path)]) == 0
    assert "CT series" in capsys.readouterr().out
    assert main(["run", "--ct", str(tmp_path / "ct"), "--plan", str(PLAN02), "--ignore-frame-of-reference",
                 "--out", str(tmp_path / "RD.dcm"), "--primaries", "1"]) in (0, 2)  # returns: the pipe is not read


def test_an_unreadable_file_in_a_folder_gets_its_own_line_with_the_reason(ct, tmp_path, capsys):
    folder = tmp_path / "ct"
    folder.mkdir()
    slices = sorted(ct.glob("*.dcm"))
    for s in slices:
        (folder / s.name).write_bytes(s.read_bytes())
    ds = pydicom.dcmread(folder / slices[3].name)
    ds.PixelSpacing = [-1, -1]
    ds.save_as(folder / slices[3].name)
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if slices[3].name in line]
    assert "PROBLEM" in line and "PixelSpacing (0028,0030)" in line and "-1 is not above 0" in line
    assert main(run_args(folder, tmp_path / "RD.dcm", "--primaries", "100")) == 2
    assert "PixelSpacing (0028,0030)" in capsys.readouterr().err  # the same words from run


def test_library_warnings_come_out_in_our_words_without_paths(capsys):
    """A pydicom warning becomes one note without a library path; numpy's are dropped; each text once."""
    import warnings

    from braggdesk.cli.quiet import quiet_library_warnings

    with quiet_library_warnings():
        for _ in range(3):
            warnings.warn_explicit("Invalid value for VR DS: 'thick'", UserWarning,
                                   "/x/site-packages/pydicom/valuerep.py", 12)
        warnings.warn_explicit("invalid value encountered in divide", RuntimeWarning,
                               "/x/site-packages/numpy/core/_methods.py", 3)
        warnings.warn_explicit("cipher is deprecated", DeprecationWarning, "/x/site-packages/asyncssh/crypto.py", 1)
    err = capsys.readouterr().err
    assert err == "braggdesk: note: a DICOM header does not follow the standard (Invalid value for VR DS: 'thick')\n"
