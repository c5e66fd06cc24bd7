//! A package's result as something to keep and compare: its build key and
//! stamp, its content digest, and the relocation that makes host tools'
//! outputs independent of the build tree they were built in.

pub mod key;
pub mod relocate;
