"""``braggdesk tracks``: the track database of the track-repeating engine (``run --engine track-repeat``).

``build`` records proton histories in water with the full engine for the beam model's energies (or
``--energies``) into the user cache, with progress, and says how long it took and how big it is;
energies already recorded with the current physics are kept.  ``list`` shows what the cache holds.
A run with ``--engine track-repeat`` records what its plan needs on first use, so ``build`` is only
a way to do it ahead of time (e.g. for every energy of a machine).
"""

from __future__ import annotations

import sys
import time

from ..errors import BraggdeskError


def register(sub) -> None:
    tr = sub.add_parser("tracks", help="the track-repeating engine's database of proton tracks in water")
    tsub = tr.add_subparsers(dest="tracks_command", metavar="ACTION")
    b = tsub.add_parser("build", help="record tracks for a beam model's energies (or --energies) into the cache")
    b.add_argument("--beam-model", help="beam model file (DCPT CSV or MCsquare BDL; default: built-in generic)")
    b.add_argument("--energies", help="energies in MeV instead of the beam model's: 70,100,150 or a range "
                                      "START:STOP:STEP (STOP included)")
    b.add_argument("--tracks", type=int, default=None, help="histories per energy (default 10000)")
    b.add_argument("--threads", type=int, help="CPU threads (default: every core)")
    b.add_argument("--rebuild", action="store_true", help="record again even what the cache holds")
    b.add_argument("--json", help="write a summary as JSON to FILE (- for standard output)")
    b.set_defaults(func=run_build)
    ls = tsub.add_parser("list", help="what the cache holds for the current physics")
    ls.add_argument("--json", help="write the list as JSON to FILE (- for standard output)")
    ls.set_defaults(func=run_list)
    tr.set_defaults(func=lambda args: tr.print_help() or 1)


def parse_energies(text: str) -> list[float]:
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            n = int(round((stop - start) / step))
            return [round(start + k * step, 2) for k in range(n + 1) if start + k * step <= stop + 1e-9]
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BraggdeskError(f"--energies expects MeV as 70,100,150 or START:STOP:STEP, got {text!r}") from None


def run_build(args) -> int:
    from ..engine.tracks.build import DEFAULT_TRACKS_PER_ENERGY, ensure_tracks
    from ..engine.tracks.database import database_folder
    from .common import write_json

    if args.energies:
        energies = parse_energies(args.energies)
        source = "--energies"
    else:
        from ..io.beam_model_reader import read_beam_model

        model = read_beam_model(args.beam_model)
        energies = sorted({round(float(e), 2) for e in model.mean_energy_mev})
        source = f"beam model '{model.name}'"
    n_tracks = args.tracks or DEFAULT_TRACKS_PER_ENERGY
    if n_tracks < 1:
        raise BraggdeskError(f"--tracks must be positive, got {n_tracks}")
    bad = [e for e in energies if not 1.0 <= e <= 400.0]
    if not energies or bad:
        raise BraggdeskError(f"track database energies must lie in 1-400 MeV, got {bad or 'none'}")
    print(f"braggdesk tracks: {len(energies)} energies ({source}, {min(energies):g}-{max(energies):g} MeV) x "
          f"{n_tracks} histories into {database_folder()}", file=sys.stderr)
    tty = sys.stderr.isatty()
    bar = None
    if tty:
        from tqdm import tqdm

        bar = tqdm(total=len(energies) * n_tracks, desc="tracks", unit=" tracks", file=sys.stderr)
    done_energies: set[float] = set()

    def progress(energy: float, done: int, total: int) -> None:
        if bar is not None:
            bar.n = len(done_energies) * n_tracks + done
            bar.set_postfix_str(f"{energy:.2f} MeV", refresh=True)
        elif done == total:
            print(f"tracks: {energy:.2f} MeV recorded ({total} histories)", file=sys.stderr, flush=True)
        if done == total:
            done_energies.add(energy)

    t0 = time.perf_counter()
    try:
        sets, notes = ensure_tracks(energies, n_tracks, threads=args.threads, progress=progress, rebuild=args.rebuild)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    recorded = [s for s in sets if s.seconds > 0 and any(f"{s.energy_mev:.2f} MeV" in n for n in notes)]
    size = sum(s.nbytes for s in sets)
    record_seconds = sum(s.seconds for s in recorded)
    out = sys.stderr if args.json == "-" else sys.stdout
    print(f"energies             {len(sets)} ({len(recorded)} recorded now, {len(sets) - len(recorded)} found)",
          file=out)
    print(f"histories per energy {n_tracks:,}", file=out)
    print(f"size                 {size / 1e6:.1f} MB ({size / max(1, len(sets) * n_tracks):.0f} bytes per history)",
          file=out)
    print(f"recording time       {record_seconds:.1f} s ({seconds:.1f} s in all)", file=out)
    print(f"folder               {database_folder()}", file=out)
    write_json({"energies_mev": [s.energy_mev for s in sets], "tracks_per_energy": n_tracks,
                "recorded": [s.energy_mev for s in recorded], "bytes": size, "recording_seconds": record_seconds,
                "seconds": seconds, "folder": str(database_folder()), "notes": notes}, args.json)
    return 0


def run_list(args) -> int:
    from ..engine.tracks.database import TrackDatabaseError, database_folder, load
    from .common import write_json

    folder = database_folder()
    rows = []
    for path in sorted(folder.glob("*.npz")) if folder.exists() else []:
        try:
            s = load(path)
            rows.append({"file": path.name, "energy_mev": s.energy_mev, "tracks": s.n_tracks, "bytes": s.nbytes,
                         "recording_seconds": s.seconds, "problem": None})
        except TrackDatabaseError as exc:
            rows.append({"file": path.name, "problem": str(exc)})
    out = sys.stderr if args.json == "-" else sys.stdout
    print(f"{folder}: {len(rows)} files", file=out)
    for r in rows:
        if r["problem"]:
            print(f"  {r['file']}: {r['problem']}", file=out)
        else:
            print(f"  {r['energy_mev']:7.2f} MeV  {r['tracks']:7d} tracks  {r['bytes'] / 1e6:7.1f} MB  "
                  f"recorded in {r['recording_seconds']:.1f} s", file=out)
    write_json({"folder": str(folder), "files": rows}, args.json)
    return 0
