"""Gamma speed on a pair of 128^3 grids (2 mm voxels) at 2 %/2 mm, cut-off 10 %: the figure in README.md.

The same case ``braggdesk bench --cases gamma`` runs (braggdesk.benchcases.gamma_speed).
Run: PYTHONPATH=src python benchmarks/gamma_128.py   (add --gpu to use CuPy)
"""

import json
import sys

import numpy as np

from braggdesk.benchcases.gamma_speed import gamma_benchmark

xp = np
if "--gpu" in sys.argv:
    import cupy as xp

print(json.dumps(gamma_benchmark(xp=xp), indent=2))
