"""Render Go text/templates (Helm's template language) from Python.

``helmbind._helmshim`` is a CFFI API-mode extension compiled against the
Go c-shared library libhelmshim; the wheel carries that library (vendored
beside the package), so nothing is compiled where it is installed.
"""

import json

from helmbind._helmshim import ffi, lib

__all__ = ["HelmError", "render", "go_platform"]


class HelmError(Exception):
    """A template or its values were refused by Go's text/template."""


def _take(ptr):
    """The text of a malloc'd C string from the library, freed."""
    try:
        return ffi.string(ptr).decode("utf-8")
    finally:
        lib.helmshim_free(ptr)


def render(template, values=None):
    """Renders ``template`` with ``values`` (JSON-serialisable)."""
    err = ffi.new("char **")
    tmpl = ffi.new("char[]", template.encode("utf-8"))
    vals = ffi.new("char[]", json.dumps(values if values is not None else {}).encode("utf-8"))
    out = lib.helmshim_render(tmpl, vals, err)
    if out == ffi.NULL:
        raise HelmError(_take(err[0]) if err[0] != ffi.NULL else "helmshim_render failed")
    return _take(out)


def go_platform():
    """The Go runtime of the loaded library: ``go1.24.4 linux/arm``."""
    return _take(lib.helmshim_platform())
