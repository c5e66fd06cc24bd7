//! What leaves a build: wheels, and the checks every staged file and
//! artifact passes (machine, run paths, wheel consistency).

pub mod verify;
pub mod wheel;
