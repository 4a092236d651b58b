"""Alias of :mod:`braggdesk.physics` for the array engine until the compiled kernel replaces it.

The physics data moved one layer down (``braggdesk.physics``, below io/ and engine/).  The array
engine (``transport.py``, ``source.py``) still imports ``engine.physics.water``, ``.elastic`` and
``.materials``; those names are registered here as the very same module objects, so there is one
copy of every table and constant.  Delete this package together with the array engine.
"""

from __future__ import annotations

import sys

from braggdesk.physics import *  # noqa: F401,F403  (the alias re-exports the package's public names)
from braggdesk.physics import __all__  # noqa: F401
from braggdesk.physics import elastic, materials, nuclear, secondaries, water

for _module in (elastic, materials, nuclear, secondaries, water):
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module
