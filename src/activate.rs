//! Activate a target for building: provision its toolchain and sysroot and
//! compose the base environment every build step of that target gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::env::{EnvOptions, compose};
use crate::error::Error;
use crate::gotool::ensure_go;
use crate::graph::HOST;
use crate::project::Project;
use crate::provision::ProvisionContext;
use crate::target::{ElfExpect, GoTarget, PythonTarget, Target, ToolchainSource};
use crate::toolchain::{ensure_toolchain, sysroot_def_for};

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
    /// The build Python of PEP 517 wheel builds (crossenv style), when a
    /// recipe of the plan needs it; its id is part of those builds' keys.
    pub build_python: Option<crate::buildpython::BuildPython>,
    /// Provisioned trees the builds run from (toolchain, Go), marked used by
    /// each build so the next run checks nothing wrote into them.
    pub provisioned: Vec<PathBuf>,
}

pub use crate::env::build_triple;

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
        },
        qemu: None,
        toolchain: ToolchainSource::Host,
        sysroot: String::new(),
        elf: ElfExpect {
            machine: arch,
            class: 64,
        },
        test: crate::target::TestRuntime::default(),
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
    vars.insert("CFLAGS".into(), "-O2".into());
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
            crate::toolchain_files::host_compiler_identity(&build_triple())
        ),
        go_identity: None,
        build_python: None,
        provisioned: Vec::new(),
    }
}

/// Provisions (if needed) and activates `name`: toolchain and sysroot, and
/// Go when `need_go`.
pub fn activate(
    project: &Project,
    name: &str,
    host_prefix: &Path,
    home: &Path,
    provision: &ProvisionContext,
    need_go: bool,
) -> Result<TargetEnv, Error> {
    activate_for(project, name, host_prefix, home, provision, need_go, false)
}

/// [`activate`], with the build Python of PEP 517 wheel builds when
/// `need_python`.
pub fn activate_for(
    project: &Project,
    name: &str,
    host_prefix: &Path,
    home: &Path,
    provision: &ProvisionContext,
    need_go: bool,
    need_python: bool,
) -> Result<TargetEnv, Error> {
    if name == HOST {
        return Ok(activate_host(host_prefix, home));
    }
    let target = project.target(name)?;
    let def = sysroot_def_for(target, &project.sysroots)?;
    let toolchain = ensure_toolchain(provision, target, def)?;
    let go = if need_go { Some(ensure_go(provision)?) } else { None };
    let build_python = if need_python {
        let suite = target.test.suite.clone().unwrap_or_else(|| def.suite.clone());
        let lock = project.paths.root.join(crate::buildpython::LOCK_FILE);
        Some(crate::buildpython::ensure_build_python(
            provision, target, &suite, &lock,
        )?)
    } else {
        None
    };
    let identity = toolchain.id.clone();
    let go_identity = go.as_ref().map(|g| g.id.clone());
    let mut provisioned = vec![toolchain.root.clone()];
    provisioned.extend(go.as_ref().map(|g| g.root.clone()));
    if let Some(p) = &build_python {
        provisioned.extend([p.root.clone(), p.target_root.clone(), p.site.clone()]);
    }
    let mut env = compose(
        &toolchain,
        &EnvOptions {
            staging: None,
            go,
            jobs: None,
            source_date_epoch: None,
            python_root: build_python.as_ref().map(|p| p.target_root.clone()),
            // Host tools built from recipes come first.
            extra_path: vec![host_prefix.join("bin")],
            home: Some(home.to_path_buf()),
            // Builds see nothing of the caller's environment.
            ambient: BTreeMap::new(),
        },
    );
    if let Some(p) = &build_python {
        // The generated sysconfigdata (target values, paths into the target
        // root) is the one the build Python reads.
        env.vars
            .insert("_PYTHON_SYSCONFIGDATA_NAME".into(), p.sysconfig_name.clone());
        env.vars.insert(
            "RECIPE_PYTHON_SYSCONFIG_DIR".into(),
            p.sysconfig_dir.display().to_string(),
        );
        env.vars
            .insert("RECIPE_BUILD_PYTHON".into(), p.launcher.display().to_string());
        env.vars
            .insert("RECIPE_PYTHON_SITE".into(), p.site.display().to_string());
        env.vars
            .insert("RECIPE_PYTHON_TARGET_ROOT".into(), p.target_root.display().to_string());
        env.vars
            .insert("RECIPE_PATCHELF".into(), p.patchelf.display().to_string());
    }
    Ok(TargetEnv {
        target: target.clone(),
        vars: env.vars,
        base_sysroot: Some(toolchain.sysroot.clone()),
        identity,
        go_identity,
        build_python,
        provisioned,
    })
}
