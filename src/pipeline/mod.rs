//! A session: the project and settings loaded once, and the work commands
//! ask for — build and test over any set of packages × targets. Commands map
//! their arguments to requests and print; everything in between is here.

mod batch;
mod build;
mod check;
mod image;
mod provenance;
mod shell;
mod sources;
mod submit;
mod summary;
mod test;

pub use batch::{JobRequest, PlanRequest, batch_report, batch_reports, merge_shard_reports, records_cache};
pub use build::{BuildRequest, activate_plan, all_target_packages, ensure_success, layout};
pub use sources::{fetch_all, provision_targets, rendered_plan, unique_sources};
pub use test::TestRequest;

use crate::error::Error;
use crate::model::project::Project;
use crate::settings::Settings;

pub struct Session<'a> {
    pub settings: &'a Settings,
    pub project: Project,
}

impl<'a> Session<'a> {
    /// Loads the project; fatal errors (targets, sysroots, unreadable dirs)
    /// stop here.
    pub fn open(settings: &'a Settings) -> Result<Session<'a>, Error> {
        let project = Project::load_with_cache(settings.paths.clone(), Some(&settings.cache))?;
        Ok(Session { settings, project })
    }
}
