//! The seccomp policy every Bytesbox sandboxed program runs under.
//!
//! The policy is **data**: `policy/default.toml` (format documented at its
//! top) is embedded with `include_str!`, parsed into a [`Policy`] and compiled
//! once at helper start-up into BPF programs with `seccompiler`. The
//! resulting [`CompiledPolicy`] is installed in each child between `fork` and
//! `execve` by [`CompiledPolicy::install`], which does not allocate.
//!
//! ```no_run
//! use std::os::unix::process::CommandExt;
//! use std::process::Command;
//!
//! let compiled = bytesbox_seccomp::Policy::default_policy()?.compile()?;
//! let mut cmd = Command::new("/usr/bin/python3");
//! // SAFETY: `install` only makes async-signal-safe system calls.
//! unsafe { cmd.pre_exec(move || compiled.install()) };
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Style
//!
//! Default-allow, deny the dangerous (like Docker's default profile):
//! mounting, namespaces, keyrings, eBPF/perf/io_uring/userfaultfd, kernel
//! modules and kexec, host administration, clocks, ptrace and cross-process
//! memory access, file handles, raw I/O ports, NUMA placement, and unusual
//! `personality` values. Denied calls fail with `EPERM` (`clone3` with
//! `ENOSYS`, so that glibc falls back to `clone`, whose flags BPF can read).
//!
//! # Filters and their order
//!
//! [`CompiledPolicy::install`] stacks `1 + groups` filters:
//!
//! 1. **The architecture guard** (hand-written, 7 instructions): kills the
//!    process if `seccomp_data.arch != AUDIT_ARCH_X86_64` or if the syscall
//!    number is `>= 0x4000_0000` (the x32 ABI, which shares x86_64's audit
//!    arch value and so passes seccompiler's arch check; seccompiler's rules
//!    only test numbers for equality, so a range test has to be written by
//!    hand).
//! 2. **One filter per policy group**, in file order. Each is a seccompiler
//!    `SeccompFilter` (mismatch → allow, match → the group's action).
//!    seccompiler prefixes every filter with its own arch check that returns
//!    `SECCOMP_RET_KILL_PROCESS` on mismatch (`build_arch_validation_sequence`
//!    in seccompiler 0.5's `backend/bpf.rs`).
//!
//! The kernel runs every stacked filter and keeps the most severe verdict
//! (`KILL_PROCESS` > `KILL_THREAD` > `TRAP` > `ERRNO` > ... > `ALLOW`; on a
//! tie the most recently installed filter's data wins). Since a syscall may
//! be listed in only one group, the order changes no outcome. Kernels ≥ 5.11
//! cache "always allowed" syscall numbers per filter, so ordinary syscalls do
//! not pay for the stack.
//!
//! # For callers
//!
//! * Compile once, before forking; [`CompiledPolicy::install`] only makes
//!   system calls, so it is fit for `pre_exec` (between `fork` and `execve`).
//! * Install it **last**, right before `execve`, after privileges are
//!   dropped: it sets `no_new_privs` (so set-uid binaries no longer elevate)
//!   and it does not block `setuid`/`setgid`/`capset`, so anything the
//!   jailer still has to do with privileges must come before it.
//! * It filters the calling thread only (no `SECCOMP_FILTER_FLAG_TSYNC`):
//!   right for a single-threaded child after `fork`, wrong for a live
//!   multi-threaded process. Filters are inherited by children and survive
//!   `execve`; they cannot be removed.
//! * Consequences for user code: debuggers and `strace` (ptrace) do not
//!   work, io_uring reports EPERM (runtimes fall back to epoll), libnuma
//!   placement calls fail with EPERM, `setarch -R` (ADDR_NO_RANDOMIZE) fails,
//!   and x32 or `int 0x80` (i386) system calls kill the process with SIGSYS.
//!
//! # Docker
//!
//! [`Policy::docker_profile`] writes the same policy as a Docker seccomp
//! profile (JSON), which the Docker backend gives every container, so both
//! backends deny the same calls from one source.
//!
//! # Architectures
//!
//! Only x86_64 is supported: [`Policy::compile`] returns
//! [`SeccompError::UnsupportedArch`] elsewhere (parsing still works, so the
//! policy file can be checked on any machine).

mod compiled;
mod docker_profile;
mod error;
mod policy;
mod syscall_table;

pub use compiled::CompiledPolicy;
pub use error::SeccompError;
pub use policy::{Action, Group, Policy, DEFAULT_POLICY_TOML, POLICY_VERSION};
pub use seccompiler::{sock_filter, BpfProgram};

#[cfg(all(test, target_arch = "x86_64"))]
mod tests;
