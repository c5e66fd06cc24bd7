# A minimal PEP 517 frontend, run by recipe with the build Python: no
# isolation environment and no network (the build requirements are the
# lock file's, already on sys.path); checks that every requirement the
# sdist declares is satisfied before calling the backend.
#
# usage: python3 pep517_frontend.py SRCDIR OUTDIR [KEY=VALUE ...]
import importlib
import os
import sys
import tomllib
from importlib import metadata

from packaging.requirements import Requirement


def missing(requirements):
    out = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append((text, None))
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            out.append((text, have))
    return out


def check(requirements, where):
    bad = missing(requirements)
    for text, have in bad:
        found = f"version {have} is locked" if have else "it is not locked"
        print(f"RECIPE-MISSING-REQUIREMENT: {text} ({where}; {found})", flush=True)
    if bad:
        sys.exit(3)


def main():
    # The interpreter runs through its own loader: children use the launcher.
    sys.executable = os.environ.get("RECIPE_BUILD_PYTHON", sys.executable)
    src, out = sys.argv[1], sys.argv[2]
    config = {}
    for item in sys.argv[3:]:
        key, _, value = item.partition("=")
        config[key] = value
    path = os.path.join(src, "pyproject.toml")
    system = {}
    if os.path.exists(path):
        with open(path, "rb") as f:
            system = tomllib.load(f).get("build-system", {})
    requires = system.get("requires", ["setuptools>=40.8.0"])
    backend_name = system.get("build-backend", "setuptools.build_meta:__legacy__")
    check(requires, "build-system.requires of pyproject.toml")
    os.chdir(src)
    for p in reversed(system.get("backend-path", [])):
        sys.path.insert(0, os.path.abspath(p))
    module, _, attr = backend_name.partition(":")
    backend = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        backend = getattr(backend, part)
    hook = getattr(backend, "get_requires_for_build_wheel", None)
    if hook is not None:
        check(hook(config), f"asked for by the backend {backend_name}")
    name = backend.build_wheel(os.path.abspath(out), config)
    print(f"RECIPE-WHEEL: {name}", flush=True)


main()
