//! The native isolation backend: Linux namespaces, cgroups (v1 and v2),
//! seccomp and rlimits, with no daemon.
//!
//! The tokio side lives here; the privileged, single-threaded side (the
//! jailer and box inits) is `bytesbox-jail`, started as the
//! `bytesbox-jail` binary that this crate builds.

mod backend;
mod cgroup_procs;
mod config;
mod destroy;
mod health;
mod ipc;
mod jailer_client;
mod launch;
mod leftovers;
mod make_box;
mod making;
mod pidfd;
mod ready;
pub mod reaper;
mod run;
mod run_tree;
mod sandbox_box;
mod slot;
mod spare;
mod state;
mod sweep;
mod workspace;

pub use backend::NativeBackend;
pub use config::NativeConfig;
