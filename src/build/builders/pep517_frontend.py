# A minimal PEP 517 frontend, run by recipe with the build Python: no
# isolation environment and no network (the build requirements are the
# lock file's, already on sys.path); checks that every requirement the
# sdist declares is satisfied before calling the backend.
#
# Backends that drive another build system (scikit-build-core: CMake,
# meson-python: Meson) get the target's cross configuration as config
# settings, and the host tools they run must be on PATH.
#
# usage: python3 pep517_frontend.py SRCDIR OUTDIR [KEY=VALUE ...]
import ast
import configparser
import importlib
import os
import shutil
import sys
import sysconfig
import tempfile
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


def need_tools(backend_name, tools, recipe_line):
    gone = [t for t in tools if shutil.which(t) is None]
    for tool in gone:
        print(f"RECIPE-MISSING-TOOL: {tool} (run by {backend_name}; add `{recipe_line}` to the recipe)", flush=True)
    if gone:
        sys.exit(3)


def add(config, key, value):
    """A repeated key becomes a list, as `-Ckey=a -Ckey=b` does for pip."""
    if key not in config:
        config[key] = value
    elif isinstance(config[key], list):
        config[key].append(value)
    else:
        config[key] = [config[key], value]


def scikit_build_core(config):
    # The target's toolchain file; FindPython told the target's headers and
    # its python-config (a shell script, run on the build machine): when
    # cross-compiling, FindPython takes the extension suffix (Python_SOABI)
    # from the config tool, never from the interpreter.
    include = sysconfig.get_config_var("INCLUDEPY")
    root = os.environ["RECIPE_PYTHON_TARGET_ROOT"]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    tool = os.path.join(root, "usr", "bin", f"{multiarch}-python{sysconfig.get_python_version()}-config")
    defines = {"CMAKE_TOOLCHAIN_FILE": os.environ["RECIPE_CMAKE_TOOLCHAIN"], "PYTHON_INCLUDE_DIR": include}
    for prefix in ("Python", "Python3"):
        defines[f"{prefix}_INCLUDE_DIR"] = include
        defines[f"_{prefix}_CONFIG"] = tool
        defines[f"_{prefix}_CONFIG_LAUNCHER"] = tool
    for name, value in defines.items():
        config.setdefault(f"cmake.define.{name}", value)


def meson_python(config):
    # The target's cross file with the build Python (whose sysconfig is the
    # target's) as the host machine's `python`, and the directory holding
    # the target's multiarch pyconfig.h after the C library's headers (Meson
    # takes compiler flags of a cross build from the file, not CFLAGS); a
    # native file runs Cython with the build Python (a build-machine tool).
    python = sys.executable
    extra = ["-idirafter", os.path.join(os.environ["RECIPE_PYTHON_TARGET_ROOT"], "usr", "include")]
    target = configparser.ConfigParser(interpolation=None)
    target.optionxform = str
    target.read(os.environ["RECIPE_MESON_CROSS"])
    if not target.has_section("built-in options"):
        target.add_section("built-in options")
    for key in ("c_args", "cpp_args"):
        args = ast.literal_eval(target.get("built-in options", key, fallback="[]"))
        target.set("built-in options", key, repr(list(args) + extra))
    target.set("binaries", "python", repr(python))
    target.set("binaries", "python3", repr(python))
    tmp = tempfile.gettempdir()
    cross = os.path.join(tmp, "pep517-meson-cross.ini")
    with open(cross, "w") as f:
        target.write(f)
    native = os.path.join(tmp, "pep517-meson-native.ini")
    with open(native, "w") as f:
        f.write(f"[binaries]\ncython = [{python!r}, '-m', 'cython']\n")
    add(config, "setup-args", f"--cross-file={cross}")
    add(config, "setup-args", f"--native-file={native}")
    # Subprojects come from the sdist: never a download at build time.
    add(config, "setup-args", "--wrap-mode=nodownload")


def cross_config(backend_name, config):
    top = backend_name.partition(":")[0].split(".")[0]
    if top == "scikit_build_core":
        need_tools(backend_name, ["cmake"], "host-depends cmake ninja")
        scikit_build_core(config)
    elif top == "mesonpy":
        need_tools(backend_name, ["meson", "ninja"], "host-depends meson ninja")
        meson_python(config)


def main():
    # The interpreter runs through its own loader: children use the launcher.
    sys.executable = os.environ.get("RECIPE_BUILD_PYTHON", sys.executable)
    # The launcher's PYTHONHOME is this interpreter's: host tools written in
    # Python (meson) run the build machine's python3, which it would break.
    os.environ.pop("PYTHONHOME", None)
    src, out = sys.argv[1], sys.argv[2]
    config = {}
    for item in sys.argv[3:]:
        key, _, value = item.partition("=")
        add(config, key, value)
    path = os.path.join(src, "pyproject.toml")
    system = {}
    if os.path.exists(path):
        with open(path, "rb") as f:
            system = tomllib.load(f).get("build-system", {})
    requires = system.get("requires", ["setuptools>=40.8.0"])
    backend_name = system.get("build-backend", "setuptools.build_meta:__legacy__")
    check(requires, "build-system.requires of pyproject.toml")
    cross_config(backend_name, config)
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
