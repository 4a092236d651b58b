"""Types for command-line options: every value is checked where argparse reads it.

Why here and not in the subcommands: a bad option must be refused before any
file is read or any work starts, with argparse's one line naming the option,
the value and what is expected (``argument --seed: -1 is negative; expected
an integer from 0``), and exit code 2.  Counts are what physicists type: ``2e5``,
``200000`` and ``200_000`` all mean two hundred thousand.
"""

from __future__ import annotations

import argparse
import math

#: the largest seed numpy's SeedSequence and the kernel's counter-based stream take
MAX_SEED = 2**63 - 1


def _number(text: str) -> float:
    """``text`` as a finite float (underscores allowed between digits); ArgumentTypeError otherwise."""
    cleaned = text.strip()
    try:
        value = float(cleaned)  # float() accepts '2e5', '200_000', ' 7 '
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _integer(text: str) -> int:
    """An integer written as 200000, 200_000 or 2e5; 1.5 or 2.5e0 is refused, not rounded."""
    cleaned = text.strip()
    try:
        return int(cleaned)
    except ValueError:
        pass
    value = _number(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def count(text: str) -> int:
    """A count of at least 1 (primaries, batches, threads, workers): 2e5, 200000 or 200_000."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is {'zero' if value == 0 else 'negative'}; expected a count of "
                                         f"at least 1 (e.g. 2e5 or 200_000)")
    return value


def non_negative_int(text: str) -> int:
    """An integer of 0 or more (e.g. reconnection attempts)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; expected 0 or more")
    return value


def seed(text: str) -> int:
    """A random seed: an integer from 0 to 2**63 - 1 (a negative seed has no random stream)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; expected an integer from 0 to {MAX_SEED}")
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text!r} is too large; expected an integer from 0 to {MAX_SEED}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (a spacing in mm, a criterion, a factor)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is {'zero' if value == 0 else 'negative'}; expected a number "
                                         f"above 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of 0 or more (a cutoff in %, an interval in s)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; expected 0 or more")
    return value


def fraction(text: str) -> float:
    """A relative uncertainty: above 0 and below 1 (0.01 is 1 %)."""
    value = _number(text)
    if not 0 < value < 1:
        hint = f" (did you mean {value / 100:g}?)" if 1 <= value < 100 else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1; a relative uncertainty of 1 % is "
                                         f"0.01{hint}")
    return value
