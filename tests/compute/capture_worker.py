"""A stand-in for ``braggdesk worker`` that says hello and keeps the first frame the client sends, then exits.

test_outbound.py runs it behind a PipeRunner: the file it writes holds exactly the bytes the
SSH/pipe runner puts on the link for a job.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from braggdesk.io import wire  # noqa: E402


def main(out: str) -> int:
    sys.stdout.buffer.write(wire.encode("hello", wire.hello_header("worker", device="cpu", device_name="capture")))
    sys.stdout.buffer.flush()
    got = wire.read_header(wire.stream_reader(sys.stdin.buffer))
    Path(out).write_bytes(got[0] if got else b"")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
