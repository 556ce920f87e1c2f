//! The run supervisor both isolation backends share: the output cap, the
//! kill reasons (wall time, CPU time, output, Stop, a destroyed box, a lost
//! run), the tree kill through the run's cgroup, the status decision and
//! the exit report; a run's controls; and the limits of a run's cgroup. A
//! backend supplies only what differs: through [`RunProcess`], how the main
//! process's end is seen and read, box-wide counters, and its clean-up;
//! through [`RunIo`], how stdin is written and a signal delivered.
//!
//! A crate of its own because it needs both the sandbox API and cgroups,
//! and the sandbox API must not depend on cgroups (the server uses it).

mod control;
mod fd_stream;
pub mod input_wait;
mod limits;
mod output;
mod status;
mod supervisor;
mod tree;
mod wall_clock;

pub use control::{RunIo, SupervisedControl};
pub use fd_stream::{read_fd_stream, read_fd_streams, ReadFd};
pub use limits::{launcher_cgroup_limits, run_cgroup_limits};
pub use output::{Delivery, RunOutput, EVENT_QUEUE, READ_CHUNK};
pub use status::{decide_status, ExitStatus, KillReason};
pub use supervisor::{Exited, RunProcess, RunSwitch, Supervision, Watched};
pub use tree::{discard_cgroup, RunTree, KILL_TIMEOUT};
