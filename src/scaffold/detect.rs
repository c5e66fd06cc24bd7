//! Which build kind a source tree wants, from the files at its top.

use std::path::Path;

use crate::recipe::BuildKind;

/// The step of a build nothing was recognised for; fails on purpose, so an
/// empty package never passes for a built one.
pub const PLACEHOLDER_STEP: &str = "echo 'recipe new: write the build steps of this package' >&2; exit 1";

/// A guessed build kind and what a recipe author should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildGuess {
    pub kind: BuildKind,
    /// autotools without a generated `configure`: run autoreconf first.
    pub autoreconf: bool,
    /// Why this kind, for the summary (`configure.ac without configure`).
    pub evidence: String,
    /// A comment for the recipe when the guess needs the author's hand.
    pub note: Option<String>,
    /// Steps of a `script` build (empty for other kinds).
    pub steps: Vec<String>,
}

impl BuildGuess {
    fn of(kind: BuildKind, evidence: &str) -> BuildGuess {
        BuildGuess {
            kind,
            autoreconf: false,
            evidence: evidence.to_string(),
            note: None,
            steps: Vec::new(),
        }
    }
}

/// Looks at `root`, the top of the unpacked source. `prefer_python` is set
/// for sdists, whose `pyproject.toml` wins over a bundled CMake or
/// Makefile (scikit-build and friends drive those themselves).
pub fn detect(root: &Path, prefer_python: bool) -> BuildGuess {
    let has = |name: &str| root.join(name).is_file();
    let python = ["pyproject.toml", "setup.py"].into_iter().find(|f| has(f));
    if prefer_python && let Some(f) = python {
        return BuildGuess::of(BuildKind::PythonWheel, f);
    }
    if has("configure") {
        return BuildGuess::of(BuildKind::Autotools, "configure");
    }
    if let Some(f) = ["configure.ac", "configure.in", "autogen.sh"]
        .into_iter()
        .find(|f| has(f))
    {
        let mut g = BuildGuess::of(BuildKind::Autotools, &format!("{f} without configure"));
        g.autoreconf = true;
        if has("autogen.sh") {
            g.note = Some(
                "autogen.sh may do more than autoreconf (e.g. generate m4 files):\n\
                 if autoreconf fails, use `pre-build \"sh autogen.sh\"` instead"
                    .into(),
            );
        }
        return g;
    }
    if has("CMakeLists.txt") {
        return BuildGuess::of(BuildKind::Cmake, "CMakeLists.txt");
    }
    if has("meson.build") {
        return BuildGuess::of(BuildKind::Meson, "meson.build");
    }
    if let Some(f) = ["GNUmakefile", "Makefile", "makefile"].into_iter().find(|f| has(f)) {
        return BuildGuess::of(BuildKind::Make, f);
    }
    if has("go.mod") {
        return BuildGuess::of(BuildKind::Go, "go.mod");
    }
    if let Some(f) = python {
        return BuildGuess::of(BuildKind::PythonWheel, f);
    }
    let mut g = BuildGuess::of(BuildKind::Script, "no known build files");
    g.note = Some("no build system recognised: write the steps that build and install into $DESTDIR".into());
    g.steps = vec![PLACEHOLDER_STEP.into()];
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        dir
    }

    #[test]
    fn build_kinds_by_their_files() {
        let k = |files: &[&str], py: bool| detect(tree(files).path(), py);
        let g = k(&["configure", "configure.ac", "CMakeLists.txt"], false);
        assert_eq!((g.kind, g.autoreconf), (BuildKind::Autotools, false));
        let g = k(&["configure.ac", "Makefile.am"], false);
        assert_eq!((g.kind, g.autoreconf), (BuildKind::Autotools, true));
        assert_eq!(k(&["CMakeLists.txt", "Makefile"], false).kind, BuildKind::Cmake);
        assert_eq!(k(&["meson.build", "Makefile"], false).kind, BuildKind::Meson);
        assert_eq!(k(&["Makefile"], false).kind, BuildKind::Make);
        assert_eq!(k(&["go.mod"], false).kind, BuildKind::Go);
        assert_eq!(k(&["setup.py"], false).kind, BuildKind::PythonWheel);
        assert_eq!(
            k(&["pyproject.toml", "CMakeLists.txt"], true).kind,
            BuildKind::PythonWheel
        );
        assert_eq!(k(&["README"], false).kind, BuildKind::Script);
    }
}
