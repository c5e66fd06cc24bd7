//! Dependency closure over one index: `Pre-Depends` and `Depends` (never
//! Recommends, like `--no-install-recommends`), the first satisfiable
//! alternative, the highest version that satisfies a constraint, then
//! providers of virtual packages. Excluded names count as provided from
//! elsewhere (the host, or deliberately left out) and are not descended into.

use std::collections::{BTreeMap, VecDeque};

use super::DebianError;
use super::control::{PackageEntry, Relation, relations};
use super::index::PackageIndex;
use super::version::compare;

/// Package-name patterns to leave out of a closure. `*` matches within one
/// `-`-separated word, so `gcc-*-base` drops `gcc-12-base` but keeps
/// `gcc-12-cross-base`, and `libc6-*-cross` keeps `libc6-dev-armhf-cross`
/// for its own pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    pub patterns: Vec<String>,
}

impl Exclusions {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(patterns: I) -> Exclusions {
        Exclusions {
            patterns: patterns.into_iter().map(Into::into).collect(),
        }
    }

    pub fn excludes(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| glob_word(p.as_bytes(), name.as_bytes()))
    }
}

fn glob_word(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => {
            // Try every split point up to the next `-` (or the end).
            let limit = s.iter().position(|&c| c == b'-').unwrap_or(s.len());
            (0..=limit).any(|i| glob_word(rest, &s[i..]))
        }
        Some((c, rest)) => s.first() == Some(c) && glob_word(rest, &s[1..]),
    }
}

fn satisfies(version: &str, constraint: &Option<(String, String)>) -> bool {
    let Some((op, want)) = constraint else {
        return true;
    };
    let ord = compare(version, want);
    use std::cmp::Ordering::*;
    match op.as_str() {
        "<<" => ord == Less,
        "<=" | "<" => ord != Greater,
        "=" => ord == Equal,
        ">=" | ">" => ord != Less,
        ">>" => ord == Greater,
        _ => false,
    }
}

struct Closure<'a> {
    index: &'a PackageIndex,
    excl: &'a Exclusions,
    chosen: BTreeMap<String, &'a PackageEntry>,
    /// Why each package is in: its parent, for error messages.
    parent: BTreeMap<String, String>,
    order: Vec<&'a PackageEntry>,
}

impl<'a> Closure<'a> {
    fn chain<'b>(&'b self, mut name: &'b str) -> String {
        let mut out = vec![name.to_string()];
        while let Some(p) = self.parent.get(name) {
            out.push(p.clone());
            name = p;
        }
        out.reverse();
        out.join(" → ")
    }

    /// Whether an already chosen (or excluded) package satisfies `rel`.
    fn already(&self, rel: &Relation) -> bool {
        if self.excl.excludes(&rel.name) {
            return true;
        }
        if let Some(e) = self.chosen.get(&rel.name)
            && satisfies(&e.version, &rel.constraint)
        {
            return true;
        }
        self.index.provides.get(&rel.name).is_some_and(|ps| {
            ps.iter().any(|(p, v)| {
                self.chosen.contains_key(p)
                    && (rel.constraint.is_none() || v.as_deref().is_some_and(|v| satisfies(v, &rel.constraint)))
            })
        })
    }

    fn candidate(&self, rel: &Relation) -> Option<&'a PackageEntry> {
        if let Some(e) = self.index.packages.get(&rel.name).and_then(|vs| {
            vs.iter()
                .find(|e| satisfies(&e.version, &rel.constraint) && !self.excl.excludes(&e.name))
        }) {
            return Some(e);
        }
        let providers = self.index.provides.get(&rel.name)?;
        providers.iter().find_map(|(p, v)| {
            let ok = rel.constraint.is_none() || v.as_deref().is_some_and(|v| satisfies(v, &rel.constraint));
            if ok && !self.excl.excludes(p) {
                self.index.best(p)
            } else {
                None
            }
        })
    }
}

/// Resolves `roots` and their dependencies; the result is in discovery order
/// (deterministic for a given index). With `follow_deps` false only the named
/// packages are returned (for self-contained packages such as Go or qemu).
pub fn resolve(
    index: &PackageIndex,
    roots: &[String],
    excl: &Exclusions,
    follow_deps: bool,
) -> Result<Vec<PackageEntry>, DebianError> {
    let mut c = Closure {
        index,
        excl,
        chosen: BTreeMap::new(),
        parent: BTreeMap::new(),
        order: Vec::new(),
    };
    let mut queue: VecDeque<&PackageEntry> = VecDeque::new();
    for root in roots {
        if excl.excludes(root) {
            return Err(DebianError::ExcludedRoot { name: root.clone() });
        }
        let rel = Relation {
            name: root.clone(),
            constraint: None,
        };
        let Some(e) = c.candidate(&rel) else {
            let near = crate::recipe::error::closest(root, index.packages.keys().map(String::as_str));
            return Err(DebianError::UnknownPackage {
                name: root.clone(),
                suite: index.suite.clone(),
                arch: index.arch.clone(),
                help: match near {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "check the package name for this suite and architecture".into(),
                },
            });
        };
        if c.chosen.insert(e.name.clone(), e).is_none() {
            c.order.push(e);
            queue.push_back(e);
        }
    }
    while let Some(pkg) = queue.pop_front() {
        if !follow_deps {
            break;
        }
        for field in [&pkg.pre_depends, &pkg.depends] {
            for group in relations(field) {
                if group.iter().any(|r| c.already(r)) {
                    continue;
                }
                // A chosen package with the right name but the wrong version
                // is a real conflict: we never install two versions.
                if let [only] = group.as_slice()
                    && let Some(have) = c.chosen.get(&only.name)
                {
                    return Err(DebianError::Conflict {
                        package: pkg.name.clone(),
                        dependency: describe(&group),
                        name: only.name.clone(),
                        have: have.version.clone(),
                    });
                }
                let Some(pick) = group.iter().find_map(|r| c.candidate(r)) else {
                    return Err(DebianError::Unresolvable {
                        package: pkg.name.clone(),
                        dependency: describe(&group),
                        suite: index.suite.clone(),
                        arch: index.arch.clone(),
                        chain: c.chain(&pkg.name),
                    });
                };
                if c.chosen.insert(pick.name.clone(), pick).is_none() {
                    c.parent.insert(pick.name.clone(), pkg.name.clone());
                    c.order.push(pick);
                    queue.push_back(pick);
                }
            }
        }
    }
    Ok(c.order.into_iter().cloned().collect())
}

fn describe(group: &[Relation]) -> String {
    group
        .iter()
        .map(|r| match &r.constraint {
            Some((op, v)) => format!("{} ({op} {v})", r.name),
            None => r.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, depends: &str, provides: &str) -> PackageEntry {
        PackageEntry {
            name: name.into(),
            version: version.into(),
            architecture: "armhf".into(),
            depends: depends.into(),
            provides: provides.into(),
            filename: format!("pool/{name}_{version}.deb"),
            size: 1,
            sha256: "0".repeat(64),
            ..PackageEntry::default()
        }
    }

    fn names(v: &[PackageEntry]) -> Vec<String> {
        v.iter().map(|e| format!("{}={}", e.name, e.version)).collect()
    }

    fn index() -> PackageIndex {
        PackageIndex::from_entries(
            "trixie",
            "armhf",
            vec![
                pkg("linux-libc-dev", "6.12.94-1", "", ""),
                pkg("linux-libc-dev", "6.12.107-1", "", ""),
                pkg(
                    "libc6-dev",
                    "2.41-12",
                    "libc6 (= 2.41-12), linux-libc-dev, libcrypt-dev | libc-dev-alt",
                    "",
                ),
                pkg("libc6", "2.41-12", "libgcc-s1", ""),
                pkg(
                    "libgcc-s1",
                    "14.2.0-19",
                    "gcc-14-base (= 14.2.0-19), libc6 (>= 2.35)",
                    "",
                ),
                pkg("gcc-14-base", "14.2.0-19", "", ""),
                pkg("libcrypt-dev", "1:4.4.38-1", "", ""),
                pkg("debconf", "1.5.91", "", "debconf-2.0"),
                pkg("tzdata", "2026c", "debconf (>= 0.5) | debconf-2.0", ""),
                pkg("needs-virtual", "1", "debconf-2.0", ""),
                pkg("broken", "1", "nonexistent (>= 2)", ""),
                pkg("wants-old", "1", "gcc-14-base (<< 14)", ""),
            ],
        )
    }

    #[test]
    fn closure_picks_highest_versions() {
        let got = resolve(&index(), &["libc6-dev".into()], &Exclusions::default(), true).expect("resolves");
        assert_eq!(
            names(&got),
            [
                "libc6-dev=2.41-12",
                "libc6=2.41-12",
                "linux-libc-dev=6.12.107-1",
                "libcrypt-dev=1:4.4.38-1",
                "libgcc-s1=14.2.0-19",
                "gcc-14-base=14.2.0-19"
            ]
        );
    }

    #[test]
    fn exclusions_cut_the_closure() {
        let excl = Exclusions::new(["libc6", "gcc-*-base"]);
        let got = resolve(&index(), &["libgcc-s1".into()], &excl, true).expect("resolves");
        assert_eq!(names(&got), ["libgcc-s1=14.2.0-19"]);
        assert!(matches!(
            resolve(&index(), &["libc6".into()], &excl, true),
            Err(DebianError::ExcludedRoot { .. })
        ));
    }

    #[test]
    fn word_globs() {
        let e = Exclusions::new(["libc6-*-cross", "gcc-*-base"]);
        assert!(e.excludes("libc6-armhf-cross"));
        assert!(!e.excludes("libc6-dev-armhf-cross"));
        assert!(e.excludes("gcc-12-base"));
        assert!(!e.excludes("gcc-12-cross-base"));
        assert!(!e.excludes("gcc-12-arm-linux-gnueabihf-base"));
    }

    #[test]
    fn virtual_packages_and_alternatives() {
        let got = resolve(
            &index(),
            &["needs-virtual".into(), "tzdata".into()],
            &Exclusions::default(),
            true,
        )
        .expect("resolves");
        assert_eq!(names(&got), ["needs-virtual=1", "tzdata=2026c", "debconf=1.5.91"]);
        let only = resolve(&index(), &["tzdata".into()], &Exclusions::default(), false).expect("resolves");
        assert_eq!(names(&only), ["tzdata=2026c"]);
    }

    #[test]
    fn failures_name_the_cause() {
        let idx = index();
        let none = Exclusions::default();
        let err = resolve(&idx, &["broken".into()], &none, true).expect_err("unresolvable");
        assert!(matches!(err, DebianError::Unresolvable { ref dependency, .. } if dependency == "nonexistent (>= 2)"));
        let err = resolve(&idx, &["libgcc-s1".into(), "wants-old".into()], &none, true).expect_err("conflict");
        assert!(matches!(err, DebianError::Conflict { .. }), "{err:?}");
        let err = resolve(&idx, &["libc6-de".into()], &none, true).expect_err("unknown");
        assert!(matches!(err, DebianError::UnknownPackage { ref help, .. } if help.contains("libc6-dev")));
    }
}
