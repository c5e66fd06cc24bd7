//! `recipe test NAME --target T`: build, then run the packages' tests on
//! each target.

use crate::error::Error;
use crate::pipeline::{Session, TestRequest};
use crate::settings::Settings;

pub fn run(settings: &Settings, request: TestRequest) -> Result<(), Error> {
    let failures = Session::open(settings)?.test(request)?;
    if failures > 0 {
        return Err(Error::TestsFailed { count: failures });
    }
    Ok(())
}
