"""Scalar look-ups in the packed tables: a node on a log grid, then linear interpolation.

A table sampled on a grid uniform in ln(x) needs one log, one multiply-add and two reads per
look-up, whatever its size.  Outside the grid the value of the end node is used.  Tables that
share a grid (the water tables' mid-step rows; a material's cross sections) share one node.
"""

from __future__ import annotations

import math

from .adapt import kernel_function, kernel_leaf
from .layout import LOG_INV_STEP, LOG_NODES, LOG_OFFSET, LOG_X0


@kernel_leaf
def log_node(header, table, x):
    """(lower node, weight of the upper node) of x on the log grid of ``table`` (an H_* index)."""
    n = header[table + LOG_NODES]
    f = (math.log(max(x, 1e-30)) - header[table + LOG_X0]) * header[table + LOG_INV_STEP]
    if f < 0.0:
        f = 0.0
    elif f > n - 1.000001:
        f = n - 1.000001
    i = int(f)
    return i, f - i


@kernel_leaf
def table_offset(header, table):
    return int(header[table + LOG_OFFSET])


@kernel_leaf
def lerp(tables, offset, i, w, stride, row):
    """Row ``row`` of nodes of ``stride`` values, interpolated between nodes i and i + 1."""
    lo = tables[offset + i * stride + row]
    hi = tables[offset + (i + 1) * stride + row]
    return lo + w * (hi - lo)


@kernel_function
def interpolate(header, tables, table, x):
    """A one-row table at x."""
    i, w = log_node(header, table, x)
    return lerp(tables, table_offset(header, table), i, w, 1, 0)
