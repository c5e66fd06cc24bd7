//! Activate a target for building: provision its toolchain and sysroot and
//! compose the base environment every build step of that target gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::project::Project;
use crate::model::target::{ElfExpect, GoTarget, PythonTarget, Target, ToolchainSource};
use crate::plan::graph::HOST;
use crate::toolchain::env::{EnvOptions, compose};
use crate::toolchain::gotool::ensure_go;
use crate::toolchain::provision::ProvisionContext;
use crate::toolchain::{ToolchainError, ensure_toolchain, sysroot_def_for};

/// A target ready to build for.
#[derive(Debug, Clone)]
pub struct TargetEnv {
    pub target: Target,
    pub vars: BTreeMap<String, String>,
    /// The target's base sysroot; `None` for host tools.
    pub base_sysroot: Option<PathBuf>,
    /// Identity of toolchain + sysroot, part of every package key.
    pub identity: String,
    /// Identity of the Go toolchain, part of the keys of Go builds only.
    pub go_identity: Option<String>,
    /// The build Pythons of PEP 517 wheel builds (crossenv style), one per
    /// Python version of the target, lowest first, when a recipe of the plan
    /// needs them; their ids are part of those builds' keys.
    pub build_pythons: Vec<crate::toolchain::buildpython::BuildPython>,
    /// Provisioned trees the builds run from (toolchain, Go), marked used by
    /// each build so the next run checks nothing wrote into them.
    pub provisioned: Vec<PathBuf>,
    /// Sysroots extended by a package's `sysroot-packages`, by package name:
    /// that package's base sysroot instead of `base_sysroot`.
    pub package_sysroots: BTreeMap<String, PackageSysroot>,
}

/// The base sysroot's packages plus a recipe's `sysroot-packages`,
/// provisioned and verified like the base sysroot.
#[derive(Debug, Clone)]
pub struct PackageSysroot {
    pub path: PathBuf,
    /// Its identity (package names, versions, sha256s), part of the key.
    pub id: String,
}

impl TargetEnv {
    /// The sysroot `package` builds on: its own extended one, else the
    /// target's; `None` for host tools.
    pub fn sysroot_of(&self, package: &str) -> Option<&Path> {
        match self.package_sysroots.get(package) {
            Some(s) => Some(&s.path),
            None => self.base_sysroot.as_deref(),
        }
    }

    /// Identity of what `package` is built with: the toolchain and sysroot,
    /// plus its extended sysroot.
    pub fn identity_of(&self, package: &str) -> String {
        match self.package_sysroots.get(package) {
            Some(s) => format!("{}+sysroot-packages:{}", self.identity, s.id),
            None => self.identity.clone(),
        }
    }
}

/// Provisions the sysroot of `target` with `packages` added (a sysroot of
/// its own in the cache, keyed by the whole package set, shared by every
/// recipe asking for the same set).
pub fn package_sysroot(
    project: &Project,
    target: &Target,
    packages: &[String],
    provision: &ProvisionContext,
) -> Result<PackageSysroot, ToolchainError> {
    let base = sysroot_def_for(target, &project.sysroots)?;
    let mut all = base.packages.clone();
    all.extend(packages.iter().cloned());
    all.sort();
    all.dedup();
    let def = crate::model::sysroot_def::SysrootDef {
        name: format!("{}-plus", base.name),
        suite: base.suite.clone(),
        packages: all,
    };
    let sysroot = crate::toolchain::sysroot::ensure_sysroot(provision, target, &def)?;
    Ok(PackageSysroot {
        path: sysroot.path,
        id: sysroot.id,
    })
}

pub use crate::toolchain::env::build_triple;

/// The build machine itself, for `host-depends` tools.
pub fn host_target() -> Target {
    let arch = std::env::consts::ARCH.to_string();
    Target {
        name: HOST.to_string(),
        triple: build_triple(),
        arch: arch.clone(),
        debian_arch: String::new(),
        cflags: Vec::new(),
        ldflags: Vec::new(),
        go: GoTarget {
            arch: String::new(),
            arm: None,
        },
        python: PythonTarget {
            platform: format!("linux_{arch}"),
            machine: arch.clone(),
            lib_dir: format!("linux-{arch}"),
            versions: Vec::new(),
        },
        qemu: None,
        toolchain: ToolchainSource::Host,
        sysroot: String::new(),
        elf: ElfExpect {
            machine: arch,
            class: 64,
        },
        test: crate::model::target::TestRuntime::default(),
        image: None,
    }
}

/// Variables every child process gets, whatever the target.
pub fn base_vars(host_prefix: &Path) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("PATH".into(), format!("{}/bin:/usr/bin:/bin", host_prefix.display()));
    v.insert("LANG".into(), "C.UTF-8".into());
    v.insert("LC_ALL".into(), "C.UTF-8".into());
    v.insert("TZ".into(), "UTC".into());
    // Reproducible timestamps in archives, headers and wheels.
    v.insert("SOURCE_DATE_EPOCH".into(), "315532800".into());
    v.insert("SHELL".into(), "/bin/sh".into());
    v
}

pub fn activate_host(host_prefix: &Path, home: &Path) -> TargetEnv {
    let mut vars = base_vars(host_prefix);
    vars.insert("HOME".into(), home.display().to_string());
    for (k, v) in [
        ("CC", "gcc"),
        ("CXX", "g++"),
        ("AR", "ar"),
        ("RANLIB", "ranlib"),
        ("STRIP", "strip"),
    ] {
        vars.insert(k.into(), v.into());
    }
    vars.insert("CFLAGS".into(), crate::toolchain::env::DEFAULT_OPTIMISATION.into());
    vars.insert(
        "PKG_CONFIG_PATH".into(),
        format!("{}/lib/pkgconfig", host_prefix.display()),
    );
    TargetEnv {
        target: host_target(),
        vars,
        base_sysroot: None,
        // Host tools are built by the build machine's compiler: its
        // version is what they are built with.
        identity: format!(
            "host:{}:{}",
            build_triple(),
            crate::toolchain::files::host_compiler_identity(&build_triple())
        ),
        go_identity: None,
        build_pythons: Vec::new(),
        provisioned: Vec::new(),
        package_sysroots: BTreeMap::new(),
    }
}

/// Provisions (if needed) and activates `name`: toolchain and sysroot, Go
/// when `need_go`, and the build Python of PEP 517 wheel builds when
/// `need_python`.
pub fn activate(
    project: &Project,
    name: &str,
    host_prefix: &Path,
    home: &Path,
    provision: &ProvisionContext,
    need_go: bool,
    need_python: bool,
) -> Result<TargetEnv, ToolchainError> {
    if name == HOST {
        return Ok(activate_host(host_prefix, home));
    }
    let target = project.target(name)?;
    let def = sysroot_def_for(target, &project.sysroots)?;
    let toolchain = ensure_toolchain(provision, target, def)?;
    let go = if need_go { Some(ensure_go(provision)?) } else { None };
    let build_pythons = if need_python {
        let lock = project.paths.root.join(crate::toolchain::buildpython::LOCK_FILE);
        let default_suite = target.test.suite.clone().unwrap_or_else(|| def.suite.clone());
        let wanted: Vec<(String, Option<&str>)> = if target.python.versions.is_empty() {
            vec![(default_suite, None)]
        } else {
            let versions = target.python.versions.iter();
            versions.map(|v| (v.suite.clone(), Some(v.version.as_str()))).collect()
        };
        let mut pythons = Vec::new();
        for (suite, version) in wanted {
            pythons.push(crate::toolchain::buildpython::ensure_build_python(
                provision, target, &suite, version, &lock,
            )?);
        }
        pythons
    } else {
        Vec::new()
    };
    let identity = toolchain.id.clone();
    let go_identity = go.as_ref().map(|g| g.id.clone());
    let mut provisioned = vec![toolchain.root.clone()];
    provisioned.extend(go.as_ref().map(|g| g.root.clone()));
    for p in &build_pythons {
        provisioned.extend([p.root.clone(), p.target_root.clone(), p.site.clone()]);
    }
    let mut env = compose(
        &toolchain,
        &EnvOptions {
            staging: None,
            go,
            jobs: None,
            source_date_epoch: None,
            python_root: build_pythons.first().map(|p| p.target_root.clone()),
            // Host tools built from recipes come first.
            extra_path: vec![host_prefix.join("bin")],
            home: Some(home.to_path_buf()),
            // Builds see nothing of the caller's environment.
            ambient: BTreeMap::new(),
        },
    );
    // The lowest version's, for `recipe env` and `shell`; a build for
    // several versions sets each one's in turn.
    if let Some(p) = build_pythons.first() {
        env.vars.extend(python_vars(p));
    }
    Ok(TargetEnv {
        target: target.clone(),
        vars: env.vars,
        base_sysroot: Some(toolchain.sysroot.clone()),
        identity,
        go_identity,
        build_pythons,
        provisioned,
        package_sysroots: BTreeMap::new(),
    })
}

/// The variables that select one build Python for a PEP 517 build.
pub fn python_vars(p: &crate::toolchain::buildpython::BuildPython) -> Vec<(String, String)> {
    let path = |p: &Path| p.display().to_string();
    vec![
        // The generated sysconfigdata (target values, paths into the target
        // root) is the one the build Python reads.
        ("_PYTHON_SYSCONFIGDATA_NAME".into(), p.sysconfig_name.clone()),
        ("RECIPE_PYTHON_SYSCONFIG_DIR".into(), path(&p.sysconfig_dir)),
        ("RECIPE_BUILD_PYTHON".into(), path(&p.launcher)),
        ("RECIPE_PYTHON_SITE".into(), path(&p.site)),
        ("RECIPE_PYTHON_TARGET_ROOT".into(), path(&p.target_root)),
        ("RECIPE_PATCHELF".into(), path(&p.patchelf)),
        ("RECIPE_PYTHON_VERSION".into(), p.version.clone()),
    ]
}
