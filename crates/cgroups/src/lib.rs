//! Linux cgroup management for Bytesbox boxes and runs, on cgroup v1 and v2.
//!
//! Synchronous and small on purpose: creating, limiting, killing and
//! removing a run's cgroup is a handful of `mkdir`/`write`/`rmdir` calls on
//! cgroupfs, which cost tens of microseconds each.
//!
//! # Layout
//!
//! [`CgroupLayout::detect`] picks the interface once at start-up: v2 when the
//! unified hierarchy offers `memory`, `pids` and `cpu`, else v1 (which needs
//! `memory`, `pids`, `cpu`, `cpuacct` and `freezer`). Every cgroup lives at
//!
//! ```text
//! <hierarchy>/bytesbox/<instance>/<box>/init     the box's own processes
//! <hierarchy>/bytesbox/<instance>/<box>/<run>    one per run
//! ```
//!
//! in each hierarchy (five or fewer on v1, one on v2). `<instance>` is
//! [`current_instance_name`] (`i<pid>-<starttime>`), so servers and test
//! binaries running side by side never touch each other's cgroups, and a
//! reaper can find dead instances with [`Cgroup::list_children`] and
//! [`instance_is_alive`]. This crate refuses paths outside `bytesbox/`.
//!
//! # The `init` leaf convention
//!
//! cgroup v2 only lets leaves hold processes once controllers are delegated
//! to children ("no internal processes"). So a box cgroup holds no process
//! itself: the box's long-lived processes go into the leaf `<box>/init`
//! ([`INIT_LEAF`]) and each run into `<box>/<run>`. The box cgroup carries
//! the box-wide limits, the leaves the run limits. Do the same on v1 (it
//! works there too) so the server has one code path:
//!
//! ```no_run
//! # use bytesbox_cgroups::*;
//! # use std::time::Duration;
//! # fn main() -> Result<(), CgroupError> {
//! let layout = CgroupLayout::detect()?;
//! let instance = current_instance_name()?;
//! let sandbox = Cgroup::create(&layout, &instance_path(&instance).join("box1"))?;
//! sandbox.apply(&CgroupLimits { memory_bytes: Some(512 << 20), ..Default::default() })?;
//! let init = sandbox.child(INIT_LEAF)?; // the box's init process joins this
//! let run = sandbox.child("run1")?;
//! run.apply(&CgroupLimits { memory_bytes: Some(128 << 20), pids: Some(64), cpu_millicores: Some(500) })?;
//! // Open every `run.procs_files()` and let the child write "0" to each.
//! // ... the run ends ...
//! run.kill_all(Duration::from_secs(2))?;
//! let stats = run.stats()?;
//! run.remove()?;
//! # let _ = (init, stats); Ok(()) }
//! ```
//!
//! Killing is race-free against fork bombs: v1 freezes the cgroup before
//! listing and killing, v2 uses `cgroup.kill` (or freezes on kernels before
//! 5.14). Both look at the whole subtree.

mod cgfs;
mod cgroup;
mod dynmods;
mod error;
mod instance;
mod kill;
mod layout;
mod limits;
mod stats;
mod v1;
mod v2;

pub use cgroup::Cgroup;
pub use dynmods::{favor_dynamic_changes, Dynmods};
pub use error::CgroupError;
pub use instance::{current_instance_name, instance_is_alive, instance_path};
pub use layout::{CgroupLayout, CgroupVersion, V1Paths};
pub use limits::{CgroupLimits, CpuWeight};
pub use stats::CgroupStats;

/// The top-level directory of everything Bytesbox creates in a hierarchy.
pub const ROOT_NAME: &str = "bytesbox";

/// The leaf of a box cgroup that holds the box's own processes; see the
/// crate docs for why it exists.
pub const INIT_LEAF: &str = "init";
