//! Typed build options: what each build kind reads, as a struct the recipe
//! layer produces once at render time. Builders take these fields, never an
//! option's name; the name → value map stays the serialized form (it is
//! what keys and `recipe show` read), and `schema.rs` the table the parser
//! checks names and shapes against.

use std::collections::BTreeMap;

use super::rendered::OptionValue;
use super::schema::BuildKind;

/// Options every kind accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CommonOptions {
    pub subdir: Option<String>,
    pub pre_build: Vec<String>,
    pub post_install: Vec<String>,
    pub installs_nothing: bool,
    pub rpath_origin: bool,
}

/// `make install` arguments: the default `install` target, or the recipe's
/// list, which replaces it (naming the target too).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Install {
    Default,
    Replaced(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AutotoolsOptions {
    pub autoreconf: bool,
    pub configure: Vec<String>,
    pub make: Vec<String>,
    pub install: Install,
    pub parallel: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CmakeOptions {
    pub args: Vec<String>,
    pub parallel: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MesonOptions {
    pub args: Vec<String>,
    pub parallel: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MakeOptions {
    pub make: Vec<String>,
    pub install: Install,
    pub parallel: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoMode {
    CShared,
    CArchive,
    Exe,
}

impl GoMode {
    pub const NAMES: &'static [&'static str] = &["c-shared", "c-archive", "exe"];

    pub fn parse(s: &str) -> Option<GoMode> {
        match s {
            "c-shared" => Some(GoMode::CShared),
            "c-archive" => Some(GoMode::CArchive),
            "exe" => Some(GoMode::Exe),
            _ => None,
        }
    }

    /// `-buildmode=` value; `None` for a plain executable.
    pub fn build_mode(self) -> Option<&'static str> {
        match self {
            GoMode::CShared => Some("c-shared"),
            GoMode::CArchive => Some("c-archive"),
            GoMode::Exe => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GoOptions {
    pub package: String,
    pub mode: GoMode,
    pub output: Option<String>,
    pub tags: Vec<String>,
    pub ldflags: Vec<String>,
    pub vendor: Vec<String>,
    pub header: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PythonWheelOptions {
    pub lib_dir: Option<String>,
    pub bundle: Vec<String>,
    pub python_tag: String,
    pub abi_tag: String,
    /// Build with the sdist's own PEP 517 backend for the target (C
    /// extensions, crossenv style) instead of copying its Python files.
    pub pep517: bool,
    /// `KEY=VALUE` config settings passed to the backend.
    pub config_settings: Vec<String>,
    /// `layout`: a wheel for this target's platform (the default) …
    pub per_platform: bool,
    /// … and/or one fat wheel carrying `<lib-dir's parent>/<lib_dir>/` of
    /// every target of `platforms`.
    pub fat: bool,
    pub platforms: Vec<String>,
}

/// The values `layout` accepts.
pub const LAYOUTS: &[&str] = &["per-platform", "fat"];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScriptOptions {
    pub steps: Vec<String>,
}

/// The options of one build kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KindOptions {
    Autotools(AutotoolsOptions),
    Cmake(CmakeOptions),
    Meson(MesonOptions),
    Make(MakeOptions),
    Go(GoOptions),
    PythonWheel(PythonWheelOptions),
    Script(ScriptOptions),
}

impl KindOptions {
    /// Whether the build takes part in the shared job pool.
    pub fn parallel(&self) -> bool {
        match self {
            KindOptions::Autotools(o) => o.parallel,
            KindOptions::Cmake(o) => o.parallel,
            KindOptions::Meson(o) => o.parallel,
            KindOptions::Make(o) => o.parallel,
            KindOptions::Go(_) | KindOptions::PythonWheel(_) | KindOptions::Script(_) => true,
        }
    }
}

/// A value of an option whose shape the parser already checked; a missing
/// option reads as its default.
struct Values<'a>(&'a BTreeMap<String, OptionValue>);

impl Values<'_> {
    fn flag(&self, name: &str, default: bool) -> bool {
        match self.0.get(name) {
            Some(OptionValue::Bool(b)) => *b,
            _ => default,
        }
    }

    fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Some(OptionValue::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(OptionValue::List(l)) => l.clone(),
            _ => Vec::new(),
        }
    }

    fn install(&self) -> Install {
        match self.list("install") {
            l if l.is_empty() => Install::Default,
            l => Install::Replaced(l),
        }
    }
}

/// Why an option's value is not one its kind accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue {
    pub option: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

/// The typed options of `kind` from the rendered map; the only value a shape
/// check cannot vouch for is Go's `mode`.
pub fn typed(kind: BuildKind, map: &BTreeMap<String, OptionValue>) -> Result<(CommonOptions, KindOptions), BadValue> {
    let mode = match Values(map).text("mode") {
        Some(m) if kind == BuildKind::Go => GoMode::parse(&m).ok_or(BadValue {
            option: "mode",
            value: m,
            expected: GoMode::NAMES,
        })?,
        _ => GoMode::Exe,
    };
    if kind == BuildKind::PythonWheel
        && let Some(bad) = Values(map)
            .list("layout")
            .into_iter()
            .find(|l| !LAYOUTS.contains(&l.as_str()))
    {
        return Err(BadValue {
            option: "layout",
            value: bad,
            expected: LAYOUTS,
        });
    }
    Ok(with_mode(kind, map, mode))
}

/// [`typed`] with Go's mode given (a refused one is reported by the caller,
/// which goes on with the default to report every other problem too).
pub fn with_mode(kind: BuildKind, map: &BTreeMap<String, OptionValue>, mode: GoMode) -> (CommonOptions, KindOptions) {
    let v = Values(map);
    let common = CommonOptions {
        subdir: v.text("subdir"),
        pre_build: v.list("pre-build"),
        post_install: v.list("post-install"),
        installs_nothing: v.flag("installs-nothing", false),
        rpath_origin: v.flag("rpath-origin", false),
    };
    let options = match kind {
        BuildKind::Autotools => KindOptions::Autotools(AutotoolsOptions {
            autoreconf: v.flag("autoreconf", false),
            configure: v.list("configure"),
            make: v.list("make"),
            install: v.install(),
            parallel: v.flag("parallel", true),
        }),
        BuildKind::Cmake => KindOptions::Cmake(CmakeOptions {
            args: v.list("args"),
            parallel: v.flag("parallel", true),
        }),
        BuildKind::Meson => KindOptions::Meson(MesonOptions {
            args: v.list("args"),
            parallel: v.flag("parallel", true),
        }),
        BuildKind::Make => KindOptions::Make(MakeOptions {
            make: v.list("make"),
            install: v.install(),
            parallel: v.flag("parallel", true),
        }),
        BuildKind::Go => KindOptions::Go(GoOptions {
            package: v.text("package").unwrap_or_else(|| ".".to_string()),
            mode,
            output: v.text("output"),
            tags: v.list("tags"),
            ldflags: v.list("ldflags"),
            vendor: v.list("vendor"),
            header: v.text("header"),
        }),
        BuildKind::PythonWheel => KindOptions::PythonWheel(PythonWheelOptions {
            lib_dir: v.text("lib-dir"),
            bundle: v.list("bundle"),
            python_tag: v.text("python-tag").unwrap_or_else(|| "py3".to_string()),
            abi_tag: v.text("abi-tag").unwrap_or_else(|| "none".to_string()),
            pep517: v.flag("pep517", false),
            config_settings: v.list("config-settings"),
            per_platform: {
                let layout = v.list("layout");
                layout.is_empty() || layout.iter().any(|l| l == "per-platform")
            },
            fat: v.list("layout").iter().any(|l| l == "fat"),
            platforms: v.list("platforms"),
        }),
        BuildKind::Script => KindOptions::Script(ScriptOptions { steps: v.list("step") }),
    };
    (common, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, OptionValue)]) -> BTreeMap<String, OptionValue> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn defaults_when_options_are_absent() {
        let (common, o) = typed(BuildKind::Go, &BTreeMap::new()).expect("typed");
        assert_eq!(common, CommonOptions::default());
        let KindOptions::Go(go) = o else { panic!("go") };
        assert_eq!((go.package.as_str(), go.mode), (".", GoMode::Exe));
        let (_, o) = typed(BuildKind::Autotools, &BTreeMap::new()).expect("typed");
        assert!(o.parallel());
        let KindOptions::Autotools(a) = o else {
            panic!("autotools")
        };
        assert_eq!(a.install, Install::Default);
    }

    #[test]
    fn values_are_read_into_fields() {
        let m = map(&[
            ("install", OptionValue::List(vec!["lib_install".into()])),
            ("parallel", OptionValue::Bool(false)),
            ("subdir", OptionValue::Str("src".into())),
        ]);
        let (common, o) = typed(BuildKind::Make, &m).expect("typed");
        assert_eq!(common.subdir.as_deref(), Some("src"));
        assert!(!o.parallel());
        let KindOptions::Make(make) = o else { panic!("make") };
        assert_eq!(make.install, Install::Replaced(vec!["lib_install".into()]));
    }

    #[test]
    fn meson_reads_its_setup_arguments() {
        let m = map(&[("args", OptionValue::List(vec!["-Dtests=false".into()]))]);
        let (_, o) = typed(BuildKind::Meson, &m).expect("typed");
        assert!(o.parallel());
        let KindOptions::Meson(meson) = o else { panic!("meson") };
        assert_eq!(meson.args, ["-Dtests=false"]);
    }

    #[test]
    fn wheel_layouts_are_read_and_checked() {
        let (_, o) = typed(BuildKind::PythonWheel, &BTreeMap::new()).expect("typed");
        let KindOptions::PythonWheel(w) = o else {
            panic!("wheel")
        };
        assert!(w.per_platform && !w.fat);
        let m = map(&[
            ("layout", OptionValue::List(vec!["fat".into()])),
            ("platforms", OptionValue::List(vec!["a".into(), "b".into()])),
        ]);
        let (_, o) = typed(BuildKind::PythonWheel, &m).expect("typed");
        let KindOptions::PythonWheel(w) = o else {
            panic!("wheel")
        };
        assert!(!w.per_platform && w.fat);
        assert_eq!(w.platforms, ["a", "b"]);
        let m = map(&[("layout", OptionValue::List(vec!["fat".into(), "thin".into()]))]);
        let err = typed(BuildKind::PythonWheel, &m).expect_err("refused");
        assert_eq!((err.option, err.value.as_str()), ("layout", "thin"));
    }

    #[test]
    fn an_unknown_go_mode_is_refused() {
        let m = map(&[("mode", OptionValue::Str("plugin".into()))]);
        let err = typed(BuildKind::Go, &m).expect_err("refused");
        assert_eq!((err.option, err.value.as_str()), ("mode", "plugin"));
    }
}
