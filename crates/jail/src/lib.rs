//! The privileged, single-threaded side of the native backend.
//!
//! Nothing here uses an async runtime: the jailer and every box init are
//! single-threaded processes, so they can `fork()` safely. The tokio server
//! (`bytesbox-native`) talks to them only through [`protocol`] messages.

mod boxinit;
pub mod channel;
pub mod error;
mod events;
mod exec;
pub mod jailer;
mod launchers;
pub mod mounts;
mod net;
pub mod protocol;

pub use jailer::{jailer_main, pidfd_open};
