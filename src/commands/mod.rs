//! One file per command; each takes resolved settings and returns an error
//! for `main` to render.

mod batch;
mod boot;
mod build;
mod env;
mod explain_key;
mod fetch;
mod graph;
mod lint;
mod list;
mod new;
mod outdated;
mod patch;
mod run;
mod shell;
mod show;
mod source;
mod test;
mod toolchain;

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::model::project::Project;
use crate::settings::Settings;

pub fn run(cli: Cli) -> Result<(), Error> {
    let settings = Settings::resolve(&cli.global, crate::settings::Environment::capture())?;
    for w in settings.warnings() {
        eprintln!("warning: {w}");
    }
    match cli.command {
        Command::List => list::run(&settings),
        Command::Show { name, target } => show::run(&settings, &name, &target),
        Command::Graph { names, target, format } => graph::run(&settings, &names, &target, format),
        Command::Lint { names } => lint::run(&settings, &names),
        Command::New(n) => new::run(&settings, n),
        Command::Patch(p) => patch::run(&settings, p),
        Command::Outdated { names, json, limits } => outdated::run(&settings, &names, json, limits),
        Command::ExplainKey {
            names,
            target,
            build_dir,
            offline,
        } => explain_key::run(
            &settings,
            explain_key::ExplainKeyArgs {
                names,
                target,
                build_dir,
                offline,
            },
        ),
        Command::Test {
            names,
            target,
            jobs,
            offline,
            build_dir,
            out_dir,
        } => test::run(
            &settings,
            crate::pipeline::TestRequest {
                names,
                targets: target,
                jobs,
                offline,
                build_dir,
                out_dir,
            },
        ),
        Command::Build(b) => build::run(&settings, b),
        Command::Batch(b) => batch::run(&settings, b),
        Command::Fetch {
            names,
            all,
            target,
            offline,
            jobs,
            limits,
        } => fetch::run(&settings, &names, all, target.as_deref(), offline, jobs, &limits.into()),
        Command::Source { name, target, offline } => source::run(&settings, &name, &target, offline),
        Command::Toolchain(cmd) => toolchain::run(&settings, cmd),
        Command::Env { target, go } => env::run(&settings, &target, go),
        Command::Shell {
            name,
            target,
            build_dir,
        } => shell::run(&settings, name.as_deref(), &target, build_dir.as_deref()),
        Command::Boot {
            name,
            target,
            timeout,
            quiet,
            build_dir,
            out_dir,
            no_boot,
        } => boot::run(
            &settings,
            &name,
            &target,
            boot::Options {
                timeout,
                quiet,
                no_boot,
                dirs: (build_dir.as_deref(), out_dir.as_deref()),
            },
        ),
        Command::Run {
            target,
            root,
            env,
            command,
        } => run::run(&settings, &target, root.as_deref(), &env, &command),
    }
}

/// Loads the project; fatal errors (targets, sysroots, unreadable dirs) stop here.
pub fn load(settings: &Settings) -> Result<Project, Error> {
    Ok(crate::pipeline::Session::open(settings)?.project)
}
