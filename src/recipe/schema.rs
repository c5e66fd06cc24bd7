//! Which options each build kind accepts. The parser validates against this
//! table and the builders read the rendered options by name.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildKind {
    Autotools,
    Cmake,
    Meson,
    Make,
    Go,
    PythonWheel,
    Script,
}

/// The shape of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionShape {
    /// `name #true`
    Bool,
    /// `name "value"`
    Str,
    /// `name "a" "b"`; repeated nodes append.
    List,
}

pub struct OptionSpec {
    pub name: &'static str,
    pub shape: OptionShape,
    pub doc: &'static str,
}

const fn opt(name: &'static str, shape: OptionShape, doc: &'static str) -> OptionSpec {
    OptionSpec { name, shape, doc }
}

use OptionShape::{Bool, List, Str};

/// Options every kind accepts (besides `env`).
const COMMON: &[OptionSpec] = &[
    opt("subdir", Str, "directory inside the source tree to build in"),
    opt(
        "pre-build",
        List,
        "shell commands run in the source tree before building",
    ),
    opt(
        "post-install",
        List,
        "shell commands run after installing, with $DESTDIR set",
    ),
    opt(
        "installs-nothing",
        Bool,
        "the package stages no file (otherwise an empty $DESTDIR fails the build)",
    ),
    opt(
        "rpath-origin",
        Bool,
        "link with a run path of $ORIGIN, so libraries bundled side by side find each other",
    ),
];

const AUTOTOOLS: &[OptionSpec] = &[
    opt("autoreconf", Bool, "run `autoreconf -fi` before configure"),
    opt("configure", List, "extra arguments to ./configure"),
    opt("make", List, "extra arguments to make"),
    opt(
        "install",
        List,
        "arguments of the install make, replacing the `install` target (name it too)",
    ),
    opt("parallel", Bool, "build with the shared job pool (default #true)"),
];

const CMAKE: &[OptionSpec] = &[
    opt("args", List, "extra arguments to cmake"),
    opt("parallel", Bool, "build with the shared job pool (default #true)"),
];

const MESON: &[OptionSpec] = &[
    opt(
        "args",
        List,
        "extra arguments to `meson setup` (e.g. \"-Dtests=false\")",
    ),
    opt("parallel", Bool, "build with the shared job pool (default #true)"),
];

const MAKE: &[OptionSpec] = &[
    opt("make", List, "extra arguments to make"),
    opt(
        "install",
        List,
        "arguments of the install make, replacing the `install` target (name it too)",
    ),
    opt("parallel", Bool, "build with the shared job pool (default #true)"),
];

const GO: &[OptionSpec] = &[
    opt("package", Str, "the Go package to build (default `.`)"),
    opt("mode", Str, "c-shared, c-archive or exe (default exe)"),
    opt(
        "output",
        Str,
        "file name of the result, installed under /usr/lib (libraries) or /usr/bin",
    ),
    opt("tags", List, "build tags"),
    opt("ldflags", List, "extra -ldflags"),
    opt(
        "vendor",
        List,
        "sources (by their `dest`) that form vendor/, one Go module each",
    ),
    opt(
        "header",
        Str,
        "install the generated C header as this name under /usr/include",
    ),
];

const PYTHON_WHEEL: &[OptionSpec] = &[
    opt(
        "lib-dir",
        Str,
        "directory inside the wheel receiving the bundled shared libraries",
    ),
    opt(
        "bundle",
        List,
        "packages whose shared libraries are copied into lib-dir",
    ),
    opt("python-tag", Str, "wheel python tag (default py3)"),
    opt("abi-tag", Str, "wheel ABI tag (default none)"),
    opt(
        "pep517",
        Bool,
        "build with the sdist's PEP 517 backend for the target (C extensions, crossenv style)",
    ),
    opt(
        "config-settings",
        List,
        "KEY=VALUE settings passed to the PEP 517 backend (with pep517)",
    ),
    opt(
        "layout",
        List,
        "per-platform (default) and/or fat: one wheel per target, and/or one wheel carrying every platform's lib-dir",
    ),
    opt(
        "platforms",
        List,
        "targets whose bundled libraries a fat wheel carries (with layout fat)",
    ),
];

const SCRIPT: &[OptionSpec] = &[opt("step", List, "a shell command; steps run in order")];

impl BuildKind {
    pub const ALL: &'static [BuildKind] = &[
        BuildKind::Autotools,
        BuildKind::Cmake,
        BuildKind::Meson,
        BuildKind::Make,
        BuildKind::Go,
        BuildKind::PythonWheel,
        BuildKind::Script,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BuildKind::Autotools => "autotools",
            BuildKind::Cmake => "cmake",
            BuildKind::Meson => "meson",
            BuildKind::Make => "make",
            BuildKind::Go => "go",
            BuildKind::PythonWheel => "python-wheel",
            BuildKind::Script => "script",
        }
    }

    pub fn parse(s: &str) -> Option<BuildKind> {
        BuildKind::ALL.iter().copied().find(|k| k.name() == s)
    }

    fn own_options(self) -> &'static [OptionSpec] {
        match self {
            BuildKind::Autotools => AUTOTOOLS,
            BuildKind::Cmake => CMAKE,
            BuildKind::Meson => MESON,
            BuildKind::Make => MAKE,
            BuildKind::Go => GO,
            BuildKind::PythonWheel => PYTHON_WHEEL,
            BuildKind::Script => SCRIPT,
        }
    }

    /// Host tools the kind's builder runs, each provided by the project's
    /// host recipe of the same name (built for the build machine first, as
    /// if listed in `host-depends`). CMake generates Makefiles, which share
    /// the jobserver; Meson only generates for ninja.
    pub fn host_tools(self) -> &'static [&'static str] {
        match self {
            BuildKind::Cmake => &["cmake"],
            BuildKind::Meson => &["meson", "ninja"],
            BuildKind::Autotools | BuildKind::Make | BuildKind::Go | BuildKind::PythonWheel | BuildKind::Script => &[],
        }
    }

    pub fn options(self) -> impl Iterator<Item = &'static OptionSpec> {
        self.own_options().iter().chain(COMMON.iter())
    }

    pub fn option(self, name: &str) -> Option<&'static OptionSpec> {
        self.options().find(|o| o.name == name)
    }
}

impl fmt::Display for BuildKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_its_name() {
        for kind in BuildKind::ALL {
            assert_eq!(BuildKind::parse(kind.name()), Some(*kind));
        }
        assert_eq!(BuildKind::parse("ninja"), None);
    }

    #[test]
    fn common_options_apply_to_all_kinds() {
        for kind in BuildKind::ALL {
            assert!(kind.option("post-install").is_some());
        }
        assert!(BuildKind::Script.option("configure").is_none());
    }
}
