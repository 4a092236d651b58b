"""Warnings from the libraries, in our own words, once each, and never with a path inside them.

Why: pydicom warns about every header value that breaks its VR ("Invalid value for
VR DS: 'thick'"), numpy about every NaN it meets, asyncssh and cryptography about
deprecated algorithms, each with the path and line of the library file that
warned.  A user cannot act on a site-packages path, and our own readers already
name the file, the tag and the value of a bad header (:mod:`braggdesk.io.header_values`).
So, while a command runs:

- a pydicom warning becomes one ``note:`` line in its own words, without the
  library's location, printed once however many files repeat it;
- numpy's floating-point RuntimeWarnings and the deprecation warnings of the
  libraries are dropped: harmless to the result, and the validation says what matters;
- our own :class:`BraggdeskWarning` is printed as ``warning:``, once each.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Iterator

from ..errors import BraggdeskWarning

# deprecation noise from libraries we call (asyncssh, cryptography, paramiko-style ciphers, dask)
_SILENT_CATEGORIES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ResourceWarning)
# pydicom warnings about quirks it reads correctly anyway: nothing for the user to do
_HARMLESS = ("expected explicit vr, but found implicit vr", "expected implicit vr, but found explicit vr")


def library_warning_line(message: Warning | str, category: type[Warning], module: str) -> str | None:
    """The line shown for a warning, or None to drop it."""
    text = " ".join(str(message).split())
    if issubclass(category, BraggdeskWarning):
        return f"warning: {text}"
    if issubclass(category, _SILENT_CATEGORIES) or "Deprecation" in category.__name__:
        return None  # cryptography's CryptographyDeprecationWarning (through asyncssh) is a UserWarning
    if issubclass(category, RuntimeWarning) and module.startswith("numpy"):
        return None  # "invalid value encountered in ...": the readers name NaN and infinite values themselves
    if text.lower().startswith(_HARMLESS):
        return None
    if "pydicom" in module or text.lower().startswith(("invalid value for vr", "the value length")):
        return f"note: a DICOM header does not follow the standard ({text})"
    if issubclass(category, RuntimeWarning):
        return None
    return f"note: {text}"


@contextlib.contextmanager
def quiet_library_warnings(stream=None) -> Iterator[None]:
    """Show warnings as one line each (see the module doc) until the block ends; then restore the filters."""
    out = sys.stderr if stream is None else stream
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001 (warnings' signature)
        module = _module_of(filename)
        text = library_warning_line(message, category, module)
        if text is None or text in seen:
            return
        seen.add(text)
        print(f"braggdesk: {text}", file=out)

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # we deduplicate ourselves, by text
        warnings.showwarning = show
        yield


def _module_of(filename: str) -> str:
    """'pydicom.valuerep' style name of the file that warned, enough to tell whose warning it is."""
    parts = str(filename).replace("\\", "/").split("/")
    for anchor in ("site-packages", "dist-packages", "src"):
        if anchor in parts:
            rest = parts[parts.index(anchor) + 1:]
            return ".".join(rest).removesuffix(".py")
    return parts[-1].removesuffix(".py")
