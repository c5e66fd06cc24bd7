//! One package build: directories, the per-package sysroot, the builder,
//! staging and the stamp. Nothing is visible to dependents until the build
//! succeeded: the new staging dir replaces the old one only at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::build::builders::{self, BuildCtx, BuildDirs, BuildError};
use crate::build::jobenv::{self, package_env};
use crate::build::process::Log;
use crate::build::tree::{link_tree, remove_dir_if_exists, sanitize_staged};
use crate::outputs::key::{self, KeyInputs, Stamp};
use crate::recipe::Recipe;
use crate::recipe::options::KindOptions;
use crate::recipe::rendered::Origin;
use crate::toolchain::activate::TargetEnv;

/// Per-run locations shared by all jobs.
pub struct Layout {
    pub build_root: PathBuf,
    pub out_root: PathBuf,
    pub host_prefix: PathBuf,
    /// Build and test steps run in the sandbox (`false` with `--no-sandbox`).
    pub confine_steps: bool,
    /// The cache's record of each package's last build time, which ranks
    /// jobs in a build tree without stamps (`None`: none kept).
    pub timings: Option<PathBuf>,
}

impl Layout {
    pub fn package_dir(&self, target: &str, name: &str) -> PathBuf {
        self.build_root.join(target).join(name)
    }

    /// Where a package's finished, staged output lives.
    pub fn staged(&self, target: &str, name: &str) -> PathBuf {
        self.package_dir(target, name).join("dest")
    }

    pub fn log_path(&self, target: &str, name: &str) -> PathBuf {
        self.package_dir(target, name).join("build.log")
    }

    /// Removes what killed runs left in `build/<target>/<name>/` (temporary
    /// extraction and remote-cache dirs and files, half-written stamps).
    /// Called under the build directory's lock, which build steps inherit:
    /// no live process owns any of it. Returns how many were removed.
    pub fn remove_leftovers(&self) -> usize {
        let is_leftover = |name: &str| {
            name.starts_with(".remote-blob-")
                || name.starts_with(".remote-out-")
                || (name.starts_with('.') && name.contains(".extract-"))
                || name.ends_with(".json.tmp")
                || name == "dest.old"
        };
        let mut removed = 0;
        let Ok(targets) = std::fs::read_dir(&self.build_root) else {
            return 0;
        };
        for target in targets.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            let Ok(packages) = std::fs::read_dir(target.path()) else {
                continue;
            };
            for dir in packages.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
                let Ok(entries) = std::fs::read_dir(dir.path()) else {
                    continue;
                };
                for e in entries.flatten() {
                    if !is_leftover(&e.file_name().to_string_lossy()) {
                        continue;
                    }
                    let path = e.path();
                    let gone = if e.file_type().is_ok_and(|t| t.is_dir()) {
                        crate::unpack::make_writable_and_remove(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    removed += usize::from(gone.is_ok());
                }
            }
        }
        removed
    }
}

/// The recipe directory's own files (`$RECIPE_DIR/files`).
const RECIPE_FILES: &str = "files";

/// Hashes of the files a recipe reads from its own directory.
pub fn recipe_files(recipe: &Recipe) -> std::io::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let rel = |p: &Path| p.strip_prefix(&recipe.dir).unwrap_or(p).display().to_string();
    for p in &recipe.patches {
        files.insert(rel(p), key::sha256_file(p)?);
    }
    for s in &recipe.sources {
        if let Origin::Path { path } = &s.origin {
            files.insert(rel(path), key::tree_digest(path)?);
        }
    }
    Ok(files)
}

pub fn key_inputs(recipe: &Recipe, env: &TargetEnv, deps: BTreeMap<String, String>) -> std::io::Result<KeyInputs> {
    let mut json = serde_json::to_value(recipe).map_err(std::io::Error::other)?;
    // Tests run against the output; changing them does not change it.
    if let Some(map) = json.as_object_mut() {
        map.remove("test");
        // Neither does the allocation it asks for.
        map.remove("resources");
        // Keys must not depend on where the project is checked out (they are
        // shared between machines): recipe-local paths become relative.
        for field in ["sources", "patches"] {
            if let Some(items) = map.get_mut(field).and_then(|v| v.as_array_mut()) {
                for item in items {
                    relativize(item, &recipe.dir);
                }
            }
        }
    }
    let mut files = recipe_files(recipe)?;
    // A build step that reads `$RECIPE_DIR/files/…` depends on those files
    // as on a patch (tests are not part of `json`: their files are not).
    let files_dir = recipe.dir.join(RECIPE_FILES);
    if json.to_string().contains("RECIPE_DIR") && files_dir.is_dir() && !files.contains_key(RECIPE_FILES) {
        files.insert(format!("{RECIPE_FILES}/"), key::tree_digest(&files_dir)?);
    }
    Ok(KeyInputs {
        recipe: json,
        files,
        toolchain: match (&env.go_identity, recipe.build.kind) {
            (Some(go), crate::recipe::BuildKind::Go) => format!("{}+{go}", env.identity_of(&recipe.name)),
            _ if builds_per_python(recipe, env) => python_identity(recipe, env, &env.build_pythons),
            _ => env.identity_of(&recipe.name),
        },
        deps,
        builder: key::BUILDER_VERSION.to_string(),
    })
}

/// Whether `recipe` builds a wheel per build Python of the target.
fn builds_per_python(recipe: &Recipe, env: &TargetEnv) -> bool {
    !env.build_pythons.is_empty() && matches!(&recipe.build.typed, KindOptions::PythonWheel(o) if o.pep517)
}

/// The toolchain part of a PEP 517 build's key: with one Python exactly
/// what it was before targets could list several.
fn python_identity(recipe: &Recipe, env: &TargetEnv, pythons: &[crate::toolchain::buildpython::BuildPython]) -> String {
    let ids: Vec<&str> = pythons.iter().map(|p| p.id.as_str()).collect();
    format!("{}+python:{}", env.identity_of(&recipe.name), ids.join(","))
}

/// Each build Python with the key of its own wheel: the package's inputs
/// with only that Python's identity.
fn python_builds(recipe: &Recipe, env: &TargetEnv, inputs: &KeyInputs) -> Vec<builders::PythonBuild> {
    if !builds_per_python(recipe, env) {
        return Vec::new();
    }
    let pythons = env.build_pythons.iter();
    pythons
        .map(|p| {
            let mut one = inputs.clone();
            one.toolchain = python_identity(recipe, env, std::slice::from_ref(p));
            builders::PythonBuild {
                python: p.clone(),
                key: one.key(),
            }
        })
        .collect()
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |e| BuildError::io(what, e)
}

/// Rewrites absolute paths inside the recipe directory (path sources,
/// patches) as paths relative to it.
fn relativize(value: &mut serde_json::Value, dir: &Path) {
    match value {
        serde_json::Value::String(s) => {
            if let Ok(rel) = Path::new(s.as_str()).strip_prefix(dir) {
                *s = rel.display().to_string();
            }
        }
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| relativize(v, dir)),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| relativize(v, dir)),
        _ => {}
    }
}

pub struct JobInput<'a> {
    pub recipe: &'a Recipe,
    pub env: &'a TargetEnv,
    pub layout: &'a Layout,
    pub inputs: KeyInputs,
    /// Staged outputs of all (transitive) dependencies, in build order.
    pub deps: Vec<(String, PathBuf)>,
    /// Other targets' outputs a fat wheel carries.
    pub platforms: Vec<builders::PlatformOutput>,
    pub jobserver: &'a jobserver::Client,
    pub prepare: &'a (dyn Fn(&Recipe, &Path, &Log) -> Result<(), BuildError> + Sync),
}

pub struct JobOutput {
    pub digest: String,
    pub duration_ms: u64,
    pub artifacts: Vec<PathBuf>,
}

fn dirs_for(layout: &Layout, target: &str, name: &str) -> BuildDirs {
    let root = layout.package_dir(target, name);
    BuildDirs {
        src: root.join("src"),
        dest: root.join("dest.new"),
        sysroot: root.join("sysroot"),
        root,
    }
}

/// What the early phase of a package needs: no dependency outputs.
pub struct PrepareInput<'a> {
    pub recipe: &'a Recipe,
    pub env: &'a TargetEnv,
    pub layout: &'a Layout,
    pub jobserver: &'a jobserver::Client,
    pub prepare: &'a (dyn Fn(&Recipe, &Path, &Log) -> Result<(), BuildError> + Sync),
    /// Run ahead of the build, while dependencies still build: the staged
    /// outputs of those already done (a Go package's cache warm-up reads
    /// the modules they provide). `None` when the build follows at once.
    pub early: Option<&'a [(String, PathBuf)]>,
}

/// Phase one: a fresh source tree (fetched, extracted, patched) and the
/// steps that need only it and the host tools (`pre-build`, `autoreconf`).
/// The scheduler may run this before the package's target dependencies are
/// built.
pub fn prepare(job: &PrepareInput) -> Result<(), BuildError> {
    let recipe = job.recipe;
    let target = job.env.target.name.as_str();
    let dirs = dirs_for(job.layout, target, &recipe.name);
    let tmp = dirs.root.join(jobenv::TMP);
    // Go's cache does not see the C headers cgo includes from the sysroot
    // (`go help cache`): it must not outlive the dependencies it was
    // filled against.
    let go_cache = dirs.root.join(jobenv::GO_CACHE);
    for d in [&dirs.src, &dirs.dest, &dirs.sysroot, &tmp, &go_cache] {
        remove_dir_if_exists(d).map_err(io(format!("cannot clean {}", d.display())))?;
    }
    std::fs::create_dir_all(&dirs.root).map_err(io(format!("cannot create {}", dirs.root.display())))?;
    let log = Log::create(job.layout.log_path(target, &recipe.name))?;
    log.note(&format!("# {} {} for {}", recipe.name, recipe.version, target))?;
    (job.prepare)(recipe, &dirs.src, &log)?;
    with_prepare_ctx(job, &dirs, &log, |ctx| {
        jobenv::install_tools(ctx.dirs, &ctx.env)?;
        builders::prepare(ctx)
    })
}

/// After an early phase (`job.early`): work the build would otherwise do on
/// the critical path, done while the dependencies build (a Go package warms
/// its build cache). Measured on the reference graph, holding the job's
/// token and at normal priority did best: releasing the token or lowering
/// the priority slowed dqlite's build as much and the warm-up more.
pub fn warm_up(job: &PrepareInput) -> Result<(), BuildError> {
    let Some(built) = job.early.filter(|_| builders::warms_up(job.recipe)) else {
        return Ok(());
    };
    let target = job.env.target.name.as_str();
    let dirs = dirs_for(job.layout, target, &job.recipe.name);
    // The sysroot the build will have, but for dependencies still building:
    // the same paths (so the same Go cache keys), the same base headers.
    link_sysroot(job.env, &job.recipe.name, built, &dirs)?;
    let log = Log::append(job.layout.log_path(target, &job.recipe.name))?;
    with_prepare_ctx(job, &dirs, &log, builders::warm_up)
}

/// The early phase's context: no package sysroot yet, and of the
/// dependencies only those already built (`early`).
fn with_prepare_ctx(
    job: &PrepareInput,
    dirs: &BuildDirs,
    log: &Log,
    f: impl FnOnce(&BuildCtx) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let out_dir = job.layout.out_root.join(&job.env.target.name);
    let build_triple = crate::toolchain::activate::build_triple();
    let env = package_env(job.recipe, job.env, job.layout, dirs);
    let sandbox = jobenv::build_policy(dirs, job.layout.confine_steps);
    let ctx = BuildCtx {
        recipe: job.recipe,
        target: &job.env.target,
        host_build: job.env.base_sysroot.is_none(),
        host_prefix: &job.layout.host_prefix,
        build_triple: &build_triple,
        dirs,
        env,
        log,
        jobserver: job.jobserver,
        deps: job.early.unwrap_or_default(),
        platforms: &[],
        out_dir: &out_dir,
        sandbox: &sandbox,
        pythons: &[],
    };
    f(&ctx)
}

/// Phase two (after phase one, unless `prepared` says it already ran):
/// the package sysroot, the build, staging, verification and the stamp.
pub fn run(job: JobInput, prepared: bool) -> Result<JobOutput, BuildError> {
    let started = Instant::now();
    let recipe = job.recipe;
    let target = job.env.target.name.as_str();
    if !prepared {
        prepare(&PrepareInput {
            recipe,
            env: job.env,
            layout: job.layout,
            jobserver: job.jobserver,
            prepare: job.prepare,
            early: None,
        })?;
    }
    let dirs = dirs_for(job.layout, target, &recipe.name);
    let host_build = job.env.base_sysroot.is_none();
    let log = Log::append(job.layout.log_path(target, &recipe.name))?;

    assemble_sysroot(&job, &dirs)?;
    let env = package_env(recipe, job.env, job.layout, &dirs);
    let sandbox = jobenv::build_policy(&dirs, job.layout.confine_steps);

    let out_dir = job.layout.out_root.join(target);
    let build_triple = crate::toolchain::activate::build_triple();
    let pythons = python_builds(recipe, job.env, &job.inputs);
    let ctx = BuildCtx {
        recipe,
        target: &job.env.target,
        host_build,
        host_prefix: &job.layout.host_prefix,
        build_triple: &build_triple,
        dirs: &dirs,
        env,
        log: &log,
        jobserver: job.jobserver,
        deps: &job.deps,
        platforms: &job.platforms,
        out_dir: &out_dir,
        sandbox: &sandbox,
        pythons: &pythons,
    };
    builders::build(&ctx)?;
    check_staged(&job, &dirs, &log)?;
    let staged = job.layout.staged(target, &recipe.name);
    let stamp_file = key::stamp_path(&job.layout.build_root, target, &recipe.name);
    let previous = swap_into_place(&stamp_file, &dirs.dest, &staged)?;
    let digest = key::tree_digest(&staged).map_err(io("cannot hash the staged output"))?;

    // Host tools become usable by later builds through the shared host prefix.
    if host_build {
        crate::outputs::relocate::install(&staged, &job.layout.host_prefix)?;
    }
    let artifacts = crate::build::publish::publish_artifacts(job.layout, recipe, target, &digest, host_build)
        .map_err(io("cannot copy artifacts to the output dir"))?;
    crate::fault::point("published");
    let _ = std::fs::remove_dir_all(&dirs.sysroot);

    let duration_ms = started.elapsed().as_millis() as u64;
    let stamp = Stamp {
        key: job.inputs.key(),
        inputs: job.inputs,
        output_digest: digest.clone(),
        duration_ms,
        fingerprint: key::fingerprint(&staged).map_err(io("cannot read the staged output"))?,
    };
    key::write_stamp(&stamp_file, &stamp).map_err(io("cannot write the build stamp"))?;
    crate::fault::point("stamp-written");
    remove_dir_if_exists(&previous).map_err(io("cannot remove the previous staged output"))?;
    log.note(&format!(
        "# done in {:.1}s, output {digest}",
        duration_ms as f64 / 1000.0
    ))?;
    Ok(JobOutput {
        digest,
        duration_ms,
        artifacts,
    })
}

/// Marks the provisioned trees used and links the package's sysroot: the
/// base sysroot (with its `sysroot-packages`) plus exactly its dependencies.
fn assemble_sysroot(job: &JobInput, dirs: &BuildDirs) -> Result<(), BuildError> {
    link_sysroot(job.env, &job.recipe.name, &job.deps, dirs)
}

fn link_sysroot(env: &TargetEnv, name: &str, deps: &[(String, PathBuf)], dirs: &BuildDirs) -> Result<(), BuildError> {
    // The next run checks that this build did not write into the trees it
    // ran from.
    let base_sysroot = env.sysroot_of(name);
    for tree in env.provisioned.iter().map(PathBuf::as_path).chain(base_sysroot) {
        crate::toolchain::provision::mark_used(tree).map_err(io("cannot mark a provisioned tree used"))?;
    }
    if let Some(base) = base_sysroot {
        link_tree(base, &dirs.sysroot).map_err(io("cannot assemble the package sysroot"))?;
        for (_, staged) in deps {
            link_tree(staged, &dirs.sysroot).map_err(io("cannot add a dependency to the package sysroot"))?;
        }
    } else {
        std::fs::create_dir_all(&dirs.sysroot).map_err(io("cannot create the sysroot dir"))?;
    }
    Ok(())
}

/// What `recipe shell NAME` enters: the package's directories and the
/// environment its steps get. The sysroot a failed build left is kept as it
/// was; after a successful build it is assembled again from the staged
/// dependencies (`deps`, as [`JobInput::deps`]).
pub fn shell_env(
    recipe: &Recipe,
    env: &TargetEnv,
    layout: &Layout,
    deps: &[(String, PathBuf)],
) -> Result<(BuildDirs, BTreeMap<String, String>), BuildError> {
    let dirs = dirs_for(layout, &env.target.name, &recipe.name);
    if !dirs.sysroot.is_dir() {
        link_sysroot(env, &recipe.name, deps, &dirs)?;
    }
    let vars = package_env(recipe, env, layout, &dirs);
    Ok((dirs, vars))
}

/// What the build installed is checked before it may replace anything:
/// license files staged, build-tree paths removed, host tools made
/// relocatable, target binaries verified.
fn check_staged(job: &JobInput, dirs: &BuildDirs, log: &Log) -> Result<(), BuildError> {
    let recipe = job.recipe;
    let host_build = job.env.base_sysroot.is_none();
    jobenv::check_installed(recipe, &dirs.dest)?;
    if !host_build {
        // The license files travel with the staged output (stamps, remote
        // cache, tarball); the run publishes them beside the artifact.
        let found = crate::provenance::licenses::stage(&dirs.src, recipe, &dirs.dest)
            .map_err(|e| BuildError::invalid(e.to_string(), "see `license-files` in README"))?;
        log.note(&format!("# license files: {}", found.join(" ")))?;
    }
    sanitize_staged(&dirs.dest, &dirs.sysroot).map_err(io("cannot clean up the staged files"))?;
    if host_build {
        crate::outputs::relocate::make_prefix_relative(&dirs.dest, &job.layout.host_prefix)?;
    } else {
        // A failing output never replaces the previous good one.
        let checked = verify_output(job.layout, job.env, &recipe.name, &dirs.dest)
            .map_err(|e| BuildError::invalid(e.to_string(), e.help))?;
        log.note(&format!("# verified {checked} binaries and wheels"))?;
    }
    Ok(())
}

/// Moves the new output into place; returns where the previous one was put
/// (removed once the new stamp is written).
fn swap_into_place(stamp_file: &Path, dest: &Path, staged: &Path) -> Result<PathBuf, BuildError> {
    crate::fault::point("before-output-swap");
    // The stamp goes first: until the new one is written, a kill leaves no
    // stamp, and the next run rebuilds instead of trusting a half swap.
    match std::fs::remove_file(stamp_file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io("cannot invalidate the previous stamp")(e));
        }
        _ => {}
    }
    crate::fault::point("stamp-removed");
    let previous = staged.with_file_name("dest.old");
    remove_dir_if_exists(&previous).map_err(io("cannot remove an older staged output"))?;
    if staged.exists() {
        std::fs::rename(staged, &previous).map_err(io("cannot move the previous staged output aside"))?;
    }
    crate::fault::point("previous-output-moved");
    std::fs::rename(dest, staged).map_err(io("cannot move the staged output into place"))?;
    crate::fault::point("output-swapped");
    Ok(previous)
}

/// The post-build checks of a target package's output in `dir`, the same
/// for a fresh build and for one restored from the remote cache: binaries
/// and wheels for the target, and no path of this machine's build tree or of
/// the package's sysroot inside them.
pub fn verify_output(
    layout: &Layout,
    env: &TargetEnv,
    name: &str,
    dir: &Path,
) -> Result<usize, crate::package::verify::VerifyError> {
    let target = env.target.name.as_str();
    let forbidden = crate::package::verify::Forbidden {
        paths: vec![
            layout.build_root.display().to_string(),
            dirs_for(layout, target, name).sysroot.display().to_string(),
        ],
    };
    crate::package::verify::verify_staged(dir, &env.target, &forbidden)
}

/// Puts a host tool's staged output (built here or restored from another
/// build tree) into this tree's host prefix.
pub fn install_host_output(layout: &Layout, staged: &Path) -> Result<(), crate::outputs::relocate::RelocateError> {
    crate::outputs::relocate::install(staged, &layout.host_prefix)
}

/// [`install_host_output`] for an up-to-date output with this stat
/// fingerprint: no work when the prefix already holds it.
pub fn ensure_host_output(
    layout: &Layout,
    staged: &Path,
    fingerprint: &str,
) -> Result<(), crate::outputs::relocate::RelocateError> {
    crate::outputs::relocate::install_current(staged, &layout.host_prefix, fingerprint)
}

/// The `SOURCE_DATE_EPOCH` of a package's build and artifact.
pub fn source_date_epoch(recipe: &Recipe) -> u64 {
    recipe
        .source_date_epoch
        .unwrap_or(crate::toolchain::env::DEFAULT_SOURCE_DATE_EPOCH)
}
