"""Render Go text/templates (Helm's template language) from Python.

The native half is libhelmshim.so, a Go c-shared library. A wheel of this
package carries it in ``_lib/<platform>/``: one directory in a per-platform
wheel, one per supported platform in the fat wheel. The directory for the
running interpreter is chosen at import (``platform_dir``).
"""

import ctypes
import json
import os
import platform
import struct

__all__ = ["HelmError", "platform_dir", "library_path", "render", "go_platform"]

# platform.machine() -> the _lib/ directory (Linux, glibc).
_DIRS = {
    "x86_64": "linux-amd64",
    "amd64": "linux-amd64",
    "aarch64": "linux-arm64",
    "arm64": "linux-arm64",
    "armv7l": "linux-armv7",
    "armv8l": "linux-armv7",
}


class HelmError(Exception):
    """A template or its values were refused by Go's text/template."""


def platform_dir():
    """The ``_lib/`` directory for this interpreter, or ImportError."""
    if platform.system() != "Linux":
        raise ImportError("helmpy ships libraries for Linux only, not %s" % platform.system())
    libc, _ = platform.libc_ver()
    if libc != "glibc":
        raise ImportError("helmpy's libraries need glibc; this Python uses %s" % (libc or "an unknown C library"))
    machine = platform.machine().lower()
    pointer_bits = struct.calcsize("P") * 8
    # A 32-bit ARM userland on a 64-bit kernel reports the kernel's machine.
    if machine in ("aarch64", "arm64", "armv8l") and pointer_bits == 32:
        return "linux-armv7"
    if machine in ("x86_64", "amd64") and pointer_bits == 32:
        raise ImportError("helmpy ships no library for 32-bit x86")
    try:
        return _DIRS[machine]
    except KeyError:
        raise ImportError("helmpy ships no library for %s" % machine) from None


def library_path():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "_lib", platform_dir(), "libhelmshim.so")
    if not os.path.isfile(path):
        raise ImportError("this helmpy wheel has no library for %s (%s)" % (platform_dir(), path))
    return path


_lib = ctypes.CDLL(library_path())
_lib.helmshim_render.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
_lib.helmshim_render.restype = ctypes.c_void_p
_lib.helmshim_platform.argtypes = []
_lib.helmshim_platform.restype = ctypes.c_void_p
_lib.helmshim_free.argtypes = [ctypes.c_void_p]
_lib.helmshim_free.restype = None


def _take(ptr):
    """The text of a malloc'd C string from the library, freed."""
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        _lib.helmshim_free(ptr)


def render(template, values=None):
    """Renders ``template`` with ``values`` (JSON-serialisable)."""
    err = ctypes.c_void_p()
    out = _lib.helmshim_render(
        template.encode("utf-8"),
        json.dumps(values if values is not None else {}).encode("utf-8"),
        ctypes.byref(err),
    )
    if not out:
        raise HelmError(_take(err.value) if err.value else "helmshim_render failed")
    return _take(out)


def go_platform():
    """The Go runtime of the loaded library: ``go1.24.4 linux/arm``."""
    return _take(_lib.helmshim_platform())
