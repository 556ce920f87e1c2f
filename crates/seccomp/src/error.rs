//! The crate's error type.

use displaydoc::Display;
use thiserror::Error;

/// Why a policy could not be loaded or compiled.
///
/// Every variant that comes from the policy text names the offending group
/// and/or syscall so that a bad edit to `policy/default.toml` is easy to find.
#[derive(Debug, Display, Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// seccomp policy is not valid TOML or does not follow the policy format: {0}
    Toml(#[from] toml::de::Error),

    /// seccomp policy has version {found}; only version {supported} is understood
    UnsupportedVersion {
        /// The version the file declares.
        found: i64,
        /// The only version this crate understands.
        supported: i64,
    },

    /// seccomp policy has no groups
    NoGroups,

    /// seccomp policy group name `{group}` is used more than once
    DuplicateGroup {
        /// The repeated group name.
        group: String,
    },

    /// seccomp policy group `{group}` blocks no syscalls
    EmptyGroup {
        /// The group with neither `syscalls` nor `conditional` entries.
        group: String,
    },

    /// seccomp policy group `{group}`: unknown syscall `{syscall}` (not in the x86_64 table; add it to `[extra_syscalls]` with its number if it is newer than Linux 6.12)
    UnknownSyscall {
        /// The group naming the syscall.
        group: String,
        /// The unknown name.
        syscall: String,
    },

    /// seccomp policy group `{group}`: unknown errno `{errno}`
    UnknownErrno {
        /// The group with the bad action.
        group: String,
        /// The unknown errno name.
        errno: String,
    },

    /// seccomp policy: syscall `{syscall}` is listed in group `{first_group}` and again in group `{second_group}`
    DuplicateSyscall {
        /// The repeated syscall.
        syscall: String,
        /// The group where it was first seen.
        first_group: String,
        /// The group where it was seen again (may equal `first_group`).
        second_group: String,
    },

    /// seccomp policy group `{group}`, syscall `{syscall}`: {problem}
    BadCondition {
        /// The group of the conditional entry.
        group: String,
        /// The syscall of the conditional entry.
        syscall: String,
        /// What is wrong with it.
        problem: String,
    },

    /// seccomp policy `[extra_syscalls]`: `{syscall}` = {nr}: {problem}
    BadExtraSyscall {
        /// The name being defined.
        syscall: String,
        /// The number given for it.
        nr: i64,
        /// What is wrong with it.
        problem: String,
    },

    /// seccomp policy group `{group}` could not be compiled to BPF: {source}
    Compile {
        /// The group whose filter failed.
        group: String,
        /// seccompiler's reason.
        source: seccompiler::BackendError,
    },

    /// seccomp policies can only be compiled for x86_64; this build targets {arch}
    UnsupportedArch {
        /// The target architecture of this build.
        arch: &'static str,
    },
}
