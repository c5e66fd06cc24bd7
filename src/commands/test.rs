//! `recipe test NAME --target T`: build, then run the packages' tests on
//! each target.

use crate::error::Error;
use crate::pipeline::{Session, TestRequest};
use crate::settings::Settings;

/// Images among the names run their `test` steps in their booted VMs;
/// packages build and run theirs on each target.
pub fn run(settings: &Settings, mut request: TestRequest) -> Result<(), Error> {
    let session = Session::open(settings)?;
    let (images, packages): (Vec<String>, Vec<String>) = request.names.drain(..).partition(|n| session.is_image(n));
    request.names = packages;
    let mut failures = 0;
    for t in &request.targets {
        for image in &images {
            if !session.test_image(image, t, &request)? {
                failures += 1;
            }
        }
    }
    if !request.names.is_empty() {
        failures += session.test(request)?;
    }
    if failures > 0 {
        return Err(Error::TestsFailed { count: failures });
    }
    Ok(())
}
