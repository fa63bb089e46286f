//! The CLI commands besides `hook`: thin wrappers that parse nothing themselves (see `main.rs`)
//! and print for people.

pub(crate) mod fleet;
pub mod forensics;
pub mod install;
pub(crate) mod live;
pub mod progress;
pub mod show;
pub mod status;
pub mod verify;
