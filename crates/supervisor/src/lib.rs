//! What the native and the Docker backend share about a run: the limits of
//! its cgroup.
//!
//! A crate of its own because it needs both the sandbox API and cgroups,
//! and the sandbox API must not depend on cgroups (the server uses it).

mod limits;

pub use limits::run_cgroup_limits;
