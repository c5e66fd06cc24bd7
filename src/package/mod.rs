//! What leaves a build: wheels and deterministic tarballs, the bit-for-bit
//! comparison of two builds' outputs (`--check`), and the checks every staged file and
//! artifact passes (machine, run paths, wheel consistency).

pub mod artifact;
pub mod compare;
pub mod initramfs;
pub mod verify;
pub mod wheel;
