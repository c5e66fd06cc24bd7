//! Running the plan: the scheduler, one job per package (environment,
//! sandbox, builder, staging), the builders of each kind, the logs and
//! progress, and the package's tests on its target.

pub mod builders;
pub mod image;
pub mod job;
pub mod jobenv;
pub mod process;
pub mod progress;
pub mod publish;
pub mod sandbox;
pub mod scheduler;
pub mod testrun;
pub mod tree;
