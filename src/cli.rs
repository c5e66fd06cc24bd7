//! Command-line types (clap). Parsing only; `commands/` does the work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "recipe",
    version,
    about = "Declarative cross-compilation of C libraries, Go shims and Python wheels",
    after_help = "Examples:\n  recipe build dqlitepy --target armv7hf\n  recipe graph dqlitepy --target armv7hf --format dot\n  recipe lint\n  recipe shell dqlite --target aarch64"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Recipes directory [default: the `recipes/` of the project found by walking up from the current directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub recipes: Option<PathBuf>,
    /// Cache directory for downloads, toolchains and sysroots [default: $RECIPE_CACHE or ~/.cache/recipe]
    #[arg(long, global = true, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Accept Debian indexes whose signature cannot be checked (no gpgv or keyring): a mirror could then serve any package. Same as `debian-allow-unsigned #true` in the user config; every run says so while it is on
    #[arg(long, global = true)]
    pub debian_allow_unsigned: bool,
    /// Run build and test steps without the sandbox (they may then write anywhere and use the network)
    #[arg(long, global = true)]
    pub no_sandbox: bool,
}

/// Limits of each download; each wins over the same key of the config
/// file's `fetch` section (see docs/fetch.md).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Download limits (override the config file)")]
pub struct LimitArgs {
    /// Largest download whose size is not known in advance, e.g. 500M [default: 2GiB]
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub max_size: Option<u64>,
    /// Minimum average speed in bytes per second over --speed-time; 0 turns the check off [default: 1K]
    #[arg(long, value_name = "BYTES", value_parser = size_arg)]
    pub speed_limit: Option<u64>,
    /// Window of the speed check, in seconds [default: 30]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub speed_time: Option<u64>,
    /// Seconds without any data before a transfer moves on to the next URL [default: 8]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: Option<u64>,
    /// Seconds one request may take, body included [default: 3600]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub attempt_timeout: Option<u64>,
}

fn size_arg(text: &str) -> Result<u64, String> {
    crate::fetch::parse_size(text)
        .ok_or_else(|| format!("`{text}` is not a size: write bytes, or a number with K, M, G (powers of 1024)"))
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    Text,
    Dot,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List recipes: name, version, build kind, license
    #[command(after_help = "Example:\n  recipe list")]
    List,

    /// Print a recipe rendered for a target
    #[command(after_help = "Example:\n  recipe show dqlite --target armv7hf")]
    Show {
        name: String,
        #[arg(long, short)]
        target: String,
    },

    /// Print the dependency graph of packages for a target
    #[command(
        after_help = "Examples:\n  recipe graph dqlitepy --target armv7hf\n  recipe graph dqlitepy --target aarch64 --format dot | dot -Tsvg > graph.svg"
    )]
    Graph {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long, short)]
        target: String,
        #[arg(long, value_enum, default_value = "text")]
        format: GraphFormat,
    },

    /// Build packages and everything they depend on, in parallel and incrementally
    #[command(
        after_help = "Examples:\n  recipe build dqlitepy --target armv7hf\n  recipe build dqlite --target armv7hf,aarch64 -j 4 --explain\n  recipe build --all --target armv7hf,aarch64,x86_64 --keep-going"
    )]
    Build(BuildCmd),
    /// Download and verify the sources of packages and their dependencies (for offline builds)
    #[command(
        after_help = "Examples:\n  recipe fetch dqlitepy --target armv7hf\n  recipe fetch --all\n  recipe fetch --all --offline   # check that everything is cached\n\nMirrors, retries, timeouts and download limits: ~/.config/recipe/config.kdl (or $RECIPE_CONFIG)"
    )]
    Fetch {
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
        /// Every recipe
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Only the sources needed for this target [default: every target]
        #[arg(long, short)]
        target: Option<String>,
        /// Never touch the network: fail on any source missing from the cache
        #[arg(long)]
        offline: bool,
        /// Parallel downloads [default: `jobs` in the config file, else 4]
        #[arg(long, short)]
        jobs: Option<usize>,
        #[command(flatten)]
        limits: LimitArgs,
    },

    /// Prepare a package's patched source tree and print its path
    #[command(after_help = "Example:\n  cd $(recipe source dqlite --target armv7hf)")]
    Source {
        name: String,
        #[arg(long, short)]
        target: String,
        /// Never touch the network
        #[arg(long)]
        offline: bool,
    },

    /// Build packages, then run their `test` steps on the target (under qemu when emulated)
    #[command(
        after_help = "Examples:\n  recipe test dqlitepy --target armv7hf\n  recipe test dqlitepy --target armv7hf,aarch64,x86_64"
    )]
    Test {
        #[arg(required = true)]
        names: Vec<String>,
        /// Target(s), comma-separated
        #[arg(long, short, value_delimiter = ',', required = true)]
        target: Vec<String>,
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Never touch the network
        #[arg(long)]
        offline: bool,
        #[arg(long, value_name = "DIR")]
        build_dir: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },

    /// Print every input of the build keys of packages and their dependencies (diff two machines' outputs to explain a cache miss)
    #[command(
        name = "explain-key",
        after_help = "Example:\n  recipe explain-key dqlitepy --target armv7hf > here.txt   # on both machines, then diff"
    )]
    ExplainKey {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long, short)]
        target: String,
        /// Work directory whose stamps give dependency digests [default: <project>/build]
        #[arg(long, value_name = "DIR")]
        build_dir: Option<PathBuf>,
        /// Never touch the network (toolchains must be provisioned)
        #[arg(long)]
        offline: bool,
    },

    /// Write a new recipe from a URL or a Python sdist: downloads it, pins its sha256, guesses version, build kind and license
    #[command(
        after_help = "Examples:\n  recipe new libfoo --url https://example.org/libfoo-1.2.3.tar.gz\n  recipe new foo --pypi foo==1.0\n  recipe new zlib --debian zlib\n\nNever overwrites a recipe. Run `recipe lint NAME` on the result."
    )]
    New(NewCmd),

    /// Save your edits to a tree prepared by `recipe source` as the recipe's next numbered patch
    #[command(
        after_help = "Examples:\n  cd $(recipe source dqlite --target armv7hf) && $EDITOR src/server.c\n  recipe patch dqlite --target armv7hf --name fix-probe --message \"Do not probe /sys/module/zfs on the build machine.\"\n\nCompares the tree with the pristine sources (with the recipe's patches applied), leaves out build products (object files, libraries, configure output, …; see README) and writes recipes/NAME/patches/000N-WORDS.patch, then adds a `patch` line after the recipe's last one."
    )]
    Patch(PatchCmd),

    /// Show recipes whose Debian source package or Python project has a newer version
    #[command(
        after_help = "Examples:\n  recipe outdated\n  recipe outdated dqlite lz4 --json\n\nLooks at each recipe's first source: `debian=`, `pypi=`, or a URL with a `mirror debian` / `mirror pypi` hint. A lookup that fails is reported in its row."
    )]
    Outdated {
        /// Recipes to check [default: every recipe with a Debian or Python origin]
        names: Vec<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },

    /// Check recipes: parse, render for every target, hashes, licenses, patch files
    #[command(after_help = "Examples:\n  recipe lint\n  recipe lint dqlite libuv")]
    Lint { names: Vec<String> },

    /// Provision and inspect cross toolchains, sysroots, qemu and Go
    #[command(subcommand)]
    Toolchain(ToolchainCommand),

    /// The nightly batch as jobs for a workload manager, outputs shared through the remote cache
    #[command(subcommand)]
    Batch(BatchCommand),

    /// Print the build environment of a target as sourceable `export` lines
    #[command(
        after_help = "Examples:\n  eval \"$(recipe env --target armv7hf)\"\n  recipe env --target aarch64 > aarch64.env && . ./aarch64.env\n\nBuilders pass `./configure --host=$CONFIGURE_HOST --build=$CONFIGURE_BUILD`."
    )]
    Env {
        #[arg(long, short)]
        target: String,
        /// Also provision Go and put it in the environment
        #[arg(long)]
        go: bool,
    },

    /// Open an interactive shell with a target's build environment
    #[command(
        after_help = "Examples:\n  recipe shell --target armv7hf\n  recipe shell dqlite --target aarch64   # in build/aarch64/dqlite"
    )]
    Shell {
        /// Package whose build environment to enter (its source tree in
        /// build/<target>/<name>, its sysroot, DESTDIR and env, as its steps got them)
        name: Option<String>,
        #[arg(long, short)]
        target: String,
        /// Build tree the package was built in [default: <project>/build]
        #[arg(long, value_name = "DIR")]
        build_dir: Option<PathBuf>,
    },

    /// Build an image (recipes/NAME/image.kdl) and boot it under qemu-system; exits with its init's status
    #[command(
        after_help = "Example:\n  recipe boot hello-image --target armv7hf\n\nBuilds the recipes the image installs, writes out/<target>/NAME.cpio.gz (or NAME.ext4), boots it (-M virt, TCG) with the console on stdout and powers off when the image's init ends; the console log is in the cache's logs/."
    )]
    Boot {
        name: String,
        #[arg(long, short)]
        target: String,
        /// Seconds before the VM is killed [default: the image's `timeout`, else 120]
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Do not copy the console to stdout
        #[arg(long)]
        quiet: bool,
        /// Where the installed recipes are built [default: build/ beside the recipes]
        #[arg(long, value_name = "DIR")]
        build_dir: Option<PathBuf>,
        /// Where artifacts and the image go [default: out/ beside the recipes]
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Build the image (and what it installs) without booting it
        #[arg(long)]
        no_boot: bool,
    },

    /// Run a target program under qemu-user with the target's sysroot
    #[command(after_help = "Example:\n  recipe run --target armv7hf -- ./hello --verbose")]
    Run {
        #[arg(long, short)]
        target: String,
        /// Root for the program's libraries [default: the target's sysroot]
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Guest environment variables (repeatable)
        #[arg(long = "env", short = 'E', value_name = "K=V")]
        env: Vec<String>,
        /// Program and its arguments
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Print the graph of (package, target) jobs as JSON: keys where known, edges, remote cache hits, each job's command
    #[command(
        after_help = "Example:\n  recipe batch plan --all --target armv7hf,aarch64 --records /shared/nightly/2026-11-30 --remote-cache https://cache.example/"
    )]
    Plan {
        /// Packages (with their dependencies)
        names: Vec<String>,
        /// Every recipe
        #[arg(long)]
        all: bool,
        /// Target(s), comma-separated
        #[arg(long, short, value_delimiter = ',', required = true)]
        target: Vec<String>,
        /// Shared directory where jobs write their records (plan.json is kept there)
        #[arg(long, value_name = "DIR")]
        records: PathBuf,
        /// The shared output cache [default: $RECIPE_REMOTE_CACHE]
        #[arg(long, value_name = "URL")]
        remote_cache: Option<String>,
        /// Build tree whose stamps are consulted, and that the jobs use [default: <project>/build]
        #[arg(long, value_name = "DIR")]
        build_dir: Option<PathBuf>,
    },
    /// Plan, then submit one Slurm job per (package, target) not in the remote cache, with afterok edges
    #[command(
        after_help = "Example:\n  recipe batch submit --slurm --partition build --all --target armv7hf --records /shared/nightly/2026-11-30"
    )]
    Submit {
        /// Submit to Slurm (`sbatch`; $SLURM_CONF is passed on)
        #[arg(long, required = true)]
        slurm: bool,
        /// Slurm partition
        #[arg(long, value_name = "P")]
        partition: Option<String>,
        /// Slurm account
        #[arg(long, value_name = "A")]
        account: Option<String>,
        /// Packages (with their dependencies)
        names: Vec<String>,
        /// Every recipe
        #[arg(long)]
        all: bool,
        /// Target(s), comma-separated
        #[arg(long, short, value_delimiter = ',', required = true)]
        target: Vec<String>,
        /// Shared directory for plan.json, the jobs' records and Slurm's logs (slurm/<id>.out)
        #[arg(long, value_name = "DIR")]
        records: PathBuf,
        /// The shared output cache [default: $RECIPE_REMOTE_CACHE]
        #[arg(long, value_name = "URL")]
        remote_cache: Option<String>,
    },
    /// Run one job: build exactly PACKAGE@TARGET, its dependencies restored from the remote cache (never built), upload it, write its record
    Run {
        /// The job, as `package@target`
        id: String,
        /// Shared directory for the job's record, log and artifacts
        #[arg(long, value_name = "DIR")]
        records: PathBuf,
        /// The batch (from the plan): the record, log and artifacts also go into the remote cache under it
        #[arg(long, value_name = "ID")]
        batch_id: Option<String>,
        /// The shared output cache [default: $RECIPE_REMOTE_CACHE]
        #[arg(long, value_name = "URL")]
        remote_cache: Option<String>,
        /// Work directory [default: <project>/build]
        #[arg(long, value_name = "DIR")]
        build_dir: Option<PathBuf>,
        /// Artifact directory [default: <project>/out]
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Job slots of the build [default: cores]
        #[arg(long, short)]
        jobs: Option<usize>,
    },
    /// Write report.json, junit.xml and report.html from the job records in DIR and the remote cache (or from shards' reports)
    #[command(
        after_help = "Examples:\n  recipe batch report /shared/nightly/2026-11-30 --previous /shared/nightly/2026-11-29/report.json\n  recipe batch report merged --shard-report s1/report.json --shard-report s2/report.json"
    )]
    Report {
        /// The records directory of `recipe batch plan` (with --shard-report: where to write)
        dir: PathBuf,
        /// Merge these `recipe build --shard` reports instead of reading job records (repeatable)
        #[arg(long, value_name = "FILE")]
        shard_report: Vec<PathBuf>,
        /// Where to write the reports [default: DIR]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The previous night's report.json to compare with [default: OUT/report.json as it was]
        #[arg(long, value_name = "FILE")]
        previous: Option<PathBuf>,
        /// Read the records the directory lacks from this cache [default: $RECIPE_REMOTE_CACHE, else the plan's]
        #[arg(long, value_name = "URL")]
        remote_cache: Option<String>,
    },
    /// Print each job's state from the records in DIR (and in the remote cache)
    Status {
        /// The records directory of `recipe batch plan`
        dir: PathBuf,
        /// Read the records the directory lacks from this cache [default: $RECIPE_REMOTE_CACHE, else the plan's]
        #[arg(long, value_name = "URL")]
        remote_cache: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ToolchainCommand {
    /// Provision the toolchain and sysroot of targets (idempotent)
    #[command(
        after_help = "Examples:\n  recipe toolchain install --target armv7hf\n  recipe toolchain install --all --qemu --go"
    )]
    Install {
        #[arg(long, short, required_unless_present = "all")]
        target: Vec<String>,
        #[arg(long, conflicts_with = "target")]
        all: bool,
        /// Also provision qemu-user
        #[arg(long)]
        qemu: bool,
        /// Also provision Go
        #[arg(long)]
        go: bool,
        /// Re-download the archive indexes even if recent
        #[arg(long)]
        refresh: bool,
    },
    /// List what is provisioned: versions, identities, sizes on disk
    List,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("origin").required(true).args(["url", "pypi", "debian"])))]
pub struct NewCmd {
    /// Name of the package (and of its directory under recipes/)
    pub name: String,
    /// Archive to package (the version is read from its file name)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Source distribution of a project on the configured Python index [default version: the newest release]
    #[arg(long, value_name = "PROJECT[==VER]")]
    pub pypi: Option<String>,
    /// Upstream tarball of a source package of the configured Debian archive [default version: the suite's]
    #[arg(long, value_name = "SRC[=VER]")]
    pub debian: Option<String>,
    /// Debian suite for --debian [default: the suite of the project's first sysroot]
    #[arg(long, value_name = "SUITE", requires = "debian")]
    pub suite: Option<String>,
    /// The package version, when the file name does not tell it
    #[arg(long = "version", value_name = "VER")]
    pub version: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct PatchCmd {
    /// The package whose prepared tree was edited
    pub name: String,
    /// Target of the tree [default: the only target with a prepared tree]
    #[arg(long, short)]
    pub target: Option<String>,
    /// Words for the file name, e.g. "fix armv7 probe" → 0002-fix-armv7-probe.patch [default: local-changes]
    #[arg(long = "name", id = "slug", value_name = "WORDS")]
    pub slug: Option<String>,
    /// Why the change is needed; written at the top of the patch
    #[arg(long, short, value_name = "TEXT")]
    pub message: Option<String>,
    /// Leave out paths matching GLOB (`*`, `?`; with a `/` it matches the path from the tree's top, else any file or directory name); repeatable
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Never touch the network (the sources must be in the cache)
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct BuildCmd {
    /// Packages to build (with their dependencies)
    pub names: Vec<String>,
    /// Build every recipe
    #[arg(long)]
    pub all: bool,
    /// Target(s), comma-separated (`host` builds for this machine)
    #[arg(long, short, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Packages built at once and total job slots shared through the make jobserver [default: cores]
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Keep building what does not depend on a failure
    #[arg(long)]
    pub keep_going: bool,
    /// Never touch the network, remote cache included; sources must be in the cache (`recipe fetch`)
    #[arg(long, conflicts_with = "remote_cache")]
    pub offline: bool,
    /// Rebuild this package even if unchanged (repeatable)
    #[arg(long, value_name = "NAME")]
    pub force: Vec<String>,
    /// Print why each package is rebuilt
    #[arg(long)]
    pub explain: bool,
    /// Work directory [default: <project>/build]
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
    /// Artifact directory [default: <project>/out]
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Write report.json, junit.xml and report.html (with the difference from the previous report there) into DIR
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Share package outputs through a bazel-remote HTTP cache [default: $RECIPE_REMOTE_CACHE]
    #[arg(long, value_name = "URL")]
    pub remote_cache: Option<String>,
    /// Use no remote cache, even if $RECIPE_REMOTE_CACHE is set
    #[arg(long, conflicts_with = "remote_cache")]
    pub no_remote_cache: bool,
    /// Restore from the remote cache but never upload to it
    #[arg(long)]
    pub remote_read_only: bool,
    /// Neither restore from nor add to the local store of outputs in the cache directory
    #[arg(long)]
    pub no_local_store: bool,
    /// Then build NAME again in a scratch directory and compare, naming the first differing file (repeatable)
    #[arg(long, value_name = "NAME")]
    pub check: Vec<String>,
    /// Build only shard K of N of the named packages (a stable share, by name; dependencies restored from the remote cache when another shard built them); merge with `recipe batch report --shard-report`
    #[arg(long, value_name = "K/N", value_parser = crate::batch::Shard::parse)]
    pub shard: Option<crate::batch::Shard>,
    #[command(flatten)]
    pub limits: LimitArgs,
}
