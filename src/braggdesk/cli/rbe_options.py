"""The ``--rbe`` options that ``run`` and ``demo`` share, read into workflow/rbe_dose.py's RbeSettings.

Why separate: the same five options mean the same thing wherever a dose is written, and the checks
(a model name, a positive alpha/beta, a whole number of fractions) are RbeSettings', so a bad value
ends the command with one line before the Monte Carlo run starts.
"""

from __future__ import annotations

import argparse

from ..analysis.rbe import DEFAULT_ALPHA_BETA_GY, RBE_MODELS


def add_rbe_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("RBE-weighted dose")
    g.add_argument("--rbe", choices=RBE_MODELS, help="also write the RBE-weighted dose (DICOM DoseType EFFECTIVE) "
                                                     "with this model: constant (1.1), mcnamara, wedenberg")
    g.add_argument("--alpha-beta", type=float, default=DEFAULT_ALPHA_BETA_GY, metavar="GY",
                   help=f"alpha/beta of the photon reference for voxels in no listed structure "
                        f"(default {DEFAULT_ALPHA_BETA_GY:g} Gy)")
    g.add_argument("--alpha-beta-structure", action="append", default=[], metavar="NAME=GY",
                   help="alpha/beta of one structure of --structures (repeat; the first listed wins where "
                        "structures overlap)")
    g.add_argument("--fractions", type=int, default=1,
                   help="fractions the computed dose stands for (default 1: the plan's metersets are one "
                        "fraction's); the RBE is taken at the dose per fraction")


def rbe_settings_from_args(args: argparse.Namespace, have_structures: bool = True):
    """The RbeSettings the options ask for, or None without ``--rbe``; RbeError (one line) for a bad value.
    ``have_structures``: whether the command has structures for ``--alpha-beta-structure`` to name."""
    from ..analysis.rbe import RbeError
    from ..workflow.rbe_dose import RbeSettings, parse_structure_alpha_beta

    if args.rbe is None:
        return None
    per_structure = parse_structure_alpha_beta(args.alpha_beta_structure)
    if per_structure and not have_structures:
        raise RbeError("--alpha-beta-structure names structures: give the RT Structure Set with --structures")
    return RbeSettings(args.rbe, args.alpha_beta, per_structure, args.fractions)
