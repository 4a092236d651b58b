"""Turning a direction of flight: small-angle deflection (multiple scattering) and exact turns
(nuclear and elastic events), about two axes perpendicular to the direction."""

from __future__ import annotations

import math

from .adapt import kernel_function, kernel_leaf


@kernel_leaf
def perpendicular_axes(u, v, w):
    """Two unit vectors a, b with (a, b, d) orthonormal; the reference axis is never near d."""
    if abs(w) < 0.9:
        n = math.sqrt(u * u + v * v)
        ax, ay, az = -v / n, u / n, 0.0
    else:
        n = math.sqrt(v * v + w * w)
        ax, ay, az = 0.0, -w / n, v / n
    return ax, ay, az, v * az - w * ay, w * ax - u * az, u * ay - v * ax


@kernel_leaf
def normalised(u, v, w):
    inv = 1.0 / math.sqrt(u * u + v * v + w * w)
    return u * inv, v * inv, w * inv


@kernel_leaf
def deflect(u, v, w, tx, ty):
    """d turned by the projected angles (tx, ty) [rad]: d + tx a + ty b, renormalised.
    Exact to second order in the angle, which multiple-scattering steps never exceed."""
    ax, ay, az, bx, by, bz = perpendicular_axes(u, v, w)
    return normalised(u + tx * ax + ty * bx, v + tx * ay + ty * by, w + tx * az + ty * bz)


@kernel_function
def turn(u, v, w, cos_theta, phi):
    """d turned by the polar angle theta (given by its cosine) at azimuth phi, exactly."""
    sin_theta = math.sqrt(max(1.0 - cos_theta * cos_theta, 0.0))
    ax, ay, az, bx, by, bz = perpendicular_axes(u, v, w)
    ca = sin_theta * math.cos(phi)
    cb = sin_theta * math.sin(phi)
    return normalised(cos_theta * u + ca * ax + cb * bx, cos_theta * v + ca * ay + cb * by,
                      cos_theta * w + ca * az + cb * bz)
