"""What the subcommands share: run options, progress on the terminal, summaries, JSON out."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .._version import __version__
from ..io.json_values import json_clean
from .options import count, fraction, seed


def add_run_options(p: argparse.ArgumentParser, default_primaries: int | None) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--primaries", type=count, default=default_primaries, help="number of primary protons")
    g.add_argument("--uncertainty", type=fraction, help="target mean relative uncertainty, e.g. 0.01")
    p.add_argument("--batches", type=count, default=10, help="batches (with --primaries)")
    p.add_argument("--batch-size", type=count, help="primaries per batch (with --uncertainty)")
    p.add_argument("--max-primaries", type=count, default=1_000_000_000,
                   help="stop a --uncertainty run after this many primaries (default 1e9)")
    p.add_argument("--seed", type=seed, default=1,
                   help="root random seed, 0 to 2**63-1 (default 1): the same seed gives the same dose")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    p.add_argument("--threads", type=count, help="CPU threads of the kernel (default: every core of the machine "
                                               "that runs it; the result is the same bit for bit)")
    p.add_argument("--dose-to", choices=("water", "medium"), default="water")
    p.add_argument("--no-nuclear", action="store_true", help="switch off nonelastic nuclear interactions")
    p.add_argument("--engine", choices=("full", "track-repeat"), default="full",
                   help="transport: the full engine, or stored water tracks re-traced through the CT (about "
                        "1.3-1.8x the full engine's primaries per second on CPU cores; records its track database on "
                        "first use, see 'braggdesk tracks build')")
    p.add_argument("--tracks-per-energy", type=int, help="track-repeat: stored histories per energy "
                                                         "(default 10000)")
    p.add_argument("--json", help="write a summary as JSON to FILE (- for standard output)")


def settings_from_args(args, first_look: bool = False):
    """The run options as SimulationSettings, with the defaults the GUI and the Python API use (workflow/jobs.py)."""
    from ..workflow.jobs import simulation_settings

    return simulation_settings(args.primaries, args.uncertainty, batches=args.batches, batch_size=args.batch_size,
                               max_primaries=args.max_primaries, seed=args.seed, device=args.device,
                               threads=args.threads, dose_to=args.dose_to, nuclear=not args.no_nuclear,
                               first_look=first_look, engine=getattr(args, "engine", "full"),
                               tracks_per_energy=getattr(args, "tracks_per_energy", None))


def run_with_progress(runner, label: str):
    """Drive a runner, showing a bar on a terminal or plain lines when piped; returns the last Progress."""
    if runner.kind == "local":
        from ..engine.warmup import kernel_is_cached

        if not kernel_is_cached():
            print(f"braggdesk {label}: compiling the engine for this computer (its first run only: tens of seconds; "
                  "cached from now on)", file=sys.stderr)
    last = None
    tty = sys.stderr.isatty()
    bar = None
    if tty:
        from tqdm import tqdm

        bar = tqdm(total=1000, desc=label, unit="", bar_format="{desc} {bar} {postfix}", file=sys.stderr)
    try:
        for prog in runner.run():
            last = prog
            if bar is not None:
                bar.n = int(1000 * prog.fraction_done)
                bar.set_postfix_str(prog.line(), refresh=True)
            else:
                print(f"{label}: {prog.line()}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        runner.cancel()
        print(f"{label}: cancelled; keeping the {0 if last is None else last.primaries:,} primaries done",
              file=sys.stderr)
        if last is None:
            raise
    finally:
        if bar is not None:
            bar.close()
    return last


def run_summary(result, progress, runner, extra: dict) -> dict:
    notes = list(dict.fromkeys(runner.notes + result.notes))
    return {
        "braggdesk_version": __version__,
        "primaries": result.primaries,
        "batches": result.batches,
        "seconds": round(progress.elapsed_s, 3) if progress else 0.0,
        "primaries_per_second": round(progress.primaries_per_second, 1) if progress else 0.0,
        "mean_relative_uncertainty": result.mean_relative_uncertainty,
        "device": runner.device,
        "max_dose_gy": result.max_dose_gy,
        "dose_to": result.dose_to,
        "partial": result.partial,
        "notes": notes,
        **extra,
    }


def print_summary(summary: dict, json_target: str | None) -> None:
    """The summary for people (on stderr when the JSON goes to standard output), then the JSON."""
    out = sys.stderr if json_target == "-" else sys.stdout
    u = summary["mean_relative_uncertainty"]
    unc = f"{100 * u:.2f} %" if u is not None and math.isfinite(u) else "n/a"
    lines = [
        f"primaries            {summary['primaries']:,}",
        f"time                 {summary['seconds']:.1f} s",
        f"primaries per second {summary['primaries_per_second']:,.0f}",
        f"mean uncertainty     {unc} (voxels above 50 % of the maximum dose)",
        f"max dose             {summary['max_dose_gy']:.4g} Gy (dose to {summary['dose_to']})",
        f"device               {summary['device']}",
    ]
    lines += [f"note                 {note}" for note in summary["notes"]]
    if summary.get("partial"):
        lines.append("note                 PARTIAL result: the run was cancelled")
    print("\n".join(lines), file=out)
    write_json(summary, json_target)


def write_json(data: dict, target: str | None) -> None:
    """``target`` is a file path, ``-`` for standard output, or None for nothing."""
    if not target:
        return
    text = json.dumps(json_clean(data), indent=2)
    if target == "-":
        print(text, flush=True)
    else:
        from ..io.safe_write import write_atomically

        write_atomically(Path(target), lambda path: path.write_text(text + "\n"), "JSON summary")
