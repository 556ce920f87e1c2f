//! Parsing and validating the policy file (format: see `policy/default.toml`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use crate::error::SeccompError;
use crate::syscall_table;

/// The only policy-file version this crate understands.
pub const POLICY_VERSION: i64 = 1;

/// The default policy, as shipped in `policy/default.toml`.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../policy/default.toml");

/// Syscall numbers at or above this are not native x86_64 syscalls (x32 ABI
/// and beyond); the architecture guard rejects them all.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// ---------------------------------------------------------------------------
// The file as written
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: i64,
    #[serde(default)]
    extra_syscalls: BTreeMap<String, i64>,
    #[serde(default)]
    group: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    #[serde(default)]
    reason: Option<String>,
    action: RawAction,
    #[serde(default)]
    syscalls: Vec<String>,
    #[serde(default)]
    conditional: Vec<RawConditional>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawAction {
    /// `action = { errno = "EPERM" }`
    Errno(String),
    /// `action = "kill_process"`
    KillProcess,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConditional {
    syscall: String,
    arg: u8,
    #[serde(default)]
    width: Option<u8>,
    #[serde(default)]
    any_bit_set: Option<OneOrMany>,
    #[serde(default)]
    not_in: Option<Vec<u64>>,
    #[serde(default)]
    eq: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u64),
    Many(Vec<u64>),
}

// ---------------------------------------------------------------------------
// The validated policy
// ---------------------------------------------------------------------------

/// What a group does to the syscalls it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Fail the syscall with this errno; the process carries on.
    Errno(i32),
    /// Kill the whole process with SIGSYS.
    KillProcess,
}

/// How many bits of an argument a condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Width {
    /// The low 32 bits (for `int` arguments, which the kernel truncates).
    Low32,
    /// The whole 64-bit register.
    Full64,
}

/// One argument test; a syscall entry is blocked if any of its tests match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Predicate {
    /// `(arg & mask) != 0`; compiled as one rule per bit (rules are ORed).
    AnyBitSet(u64),
    /// `arg` is none of these; compiled as one rule of ANDed `!=` conditions.
    NotIn(Vec<u64>),
    /// `arg == value`.
    Eq(u64),
}

/// A condition on one argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub(crate) arg: u8,
    pub(crate) width: Width,
    pub(crate) predicate: Predicate,
}

/// A blocked syscall: unconditionally if `conditions` is empty, otherwise
/// when any of `conditions` matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) nr: u32,
    pub(crate) conditions: Vec<Condition>,
}

/// One group of the policy; it compiles to one seccomp filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub(crate) name: String,
    pub(crate) reason: Option<String>,
    pub(crate) action: Action,
    pub(crate) entries: Vec<Entry>,
}

impl Group {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group's `reason`, if the file gives one.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// What the group does to the syscalls it matches.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The syscalls the group blocks (conditional ones included), in file
    /// order.
    pub fn syscalls(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|e| e.name.as_str())
    }
}

/// A parsed and validated seccomp policy.
///
/// Build one with [`Policy::default_policy`] or [`Policy::from_toml`], then
/// [`compile`](Policy::compile) it once, before any `fork`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub(crate) groups: Vec<Group>,
}

impl Policy {
    /// Parses the policy embedded from `policy/default.toml`.
    pub fn default_policy() -> Result<Policy, SeccompError> {
        Policy::from_toml(DEFAULT_POLICY_TOML)
    }

    /// Parses and validates a policy in the TOML format documented at the top
    /// of `policy/default.toml`.
    ///
    /// Rejects: malformed TOML and unknown keys, a version other than
    /// [`POLICY_VERSION`], no groups, duplicate or empty groups, unknown
    /// syscall or errno names, a syscall listed twice (in one group or across
    /// groups), and malformed argument conditions.
    pub fn from_toml(text: &str) -> Result<Policy, SeccompError> {
        let raw: RawPolicy = toml::from_str(text)?;
        if raw.version != POLICY_VERSION {
            return Err(SeccompError::UnsupportedVersion { found: raw.version, supported: POLICY_VERSION });
        }
        let extra = validate_extra_syscalls(&raw.extra_syscalls)?;
        if raw.group.is_empty() {
            return Err(SeccompError::NoGroups);
        }

        let mut group_names: BTreeSet<&str> = BTreeSet::new();
        // syscall name -> group that first listed it
        let mut owner: HashMap<String, String> = HashMap::new();
        let mut groups = Vec::with_capacity(raw.group.len());

        for raw_group in &raw.group {
            let gname = raw_group.name.as_str();
            if !group_names.insert(gname) {
                return Err(SeccompError::DuplicateGroup { group: gname.to_owned() });
            }
            if raw_group.syscalls.is_empty() && raw_group.conditional.is_empty() {
                return Err(SeccompError::EmptyGroup { group: gname.to_owned() });
            }
            let action = match &raw_group.action {
                RawAction::KillProcess => Action::KillProcess,
                RawAction::Errno(name) => Action::Errno(
                    errno_by_name(name)
                        .ok_or_else(|| SeccompError::UnknownErrno { group: gname.to_owned(), errno: name.clone() })?,
                ),
            };

            let mut entries: Vec<Entry> = Vec::new();
            // Claims `name` for this group: a second mention anywhere is an error.
            let mut claim = |name: &str| -> Result<(), SeccompError> {
                if let Some(first) = owner.get(name) {
                    return Err(SeccompError::DuplicateSyscall {
                        syscall: name.to_owned(),
                        first_group: first.clone(),
                        second_group: gname.to_owned(),
                    });
                }
                owner.insert(name.to_owned(), gname.to_owned());
                Ok(())
            };

            for name in &raw_group.syscalls {
                let nr = resolve(gname, name, &extra)?;
                claim(name)?;
                entries.push(Entry { name: name.clone(), nr, conditions: Vec::new() });
            }

            // Conditional entries: several for one syscall (in this group)
            // are ORed, so they are merged into one entry.
            let mut conditional: Vec<Entry> = Vec::new();
            for rc in &raw_group.conditional {
                let nr = resolve(gname, &rc.syscall, &extra)?;
                let condition = validate_condition(gname, rc)?;
                if let Some(existing) = conditional.iter_mut().find(|e| e.name == rc.syscall) {
                    existing.conditions.push(condition);
                } else {
                    claim(&rc.syscall)?;
                    conditional.push(Entry { name: rc.syscall.clone(), nr, conditions: vec![condition] });
                }
            }
            entries.extend(conditional);

            groups.push(Group { name: gname.to_owned(), reason: raw_group.reason.clone(), action, entries });
        }

        Ok(Policy { groups })
    }

    /// Every syscall the policy blocks, sorted by name. Syscalls that are
    /// blocked only for some arguments (`clone`, `personality`) are included.
    pub fn blocked_syscalls(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.groups.iter().flat_map(|g| g.entries.iter().map(|e| e.name.clone())).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The groups, in file order (which is also the install order, after
    /// the architecture guard).
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
}

/// Looks a syscall name up in `[extra_syscalls]`, then in the built-in table.
fn resolve(group: &str, name: &str, extra: &BTreeMap<String, u32>) -> Result<u32, SeccompError> {
    extra
        .get(name)
        .copied()
        .or_else(|| syscall_table::lookup(name))
        .ok_or_else(|| SeccompError::UnknownSyscall { group: group.to_owned(), syscall: name.to_owned() })
}

fn validate_extra_syscalls(extra: &BTreeMap<String, i64>) -> Result<BTreeMap<String, u32>, SeccompError> {
    let mut out = BTreeMap::new();
    let mut by_nr: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, &nr) in extra {
        let bad = |problem: String| SeccompError::BadExtraSyscall { syscall: name.clone(), nr, problem };
        let n = u32::try_from(nr)
            .ok()
            .filter(|n| *n < X32_SYSCALL_BIT)
            .ok_or_else(|| bad(format!("not a native x86_64 syscall number (0..{X32_SYSCALL_BIT:#x})")))?;
        if let Some(known) = syscall_table::lookup(name) {
            if known != n {
                return Err(bad(format!("the built-in table says {known}")));
            }
        }
        if let Some(known) = syscall_table::name_of(n) {
            if known != name {
                return Err(bad(format!("that number is `{known}` in the built-in table")));
            }
        }
        if let Some(other) = by_nr.insert(n, name) {
            return Err(bad(format!("that number is also given to `{other}`")));
        }
        out.insert(name.clone(), n);
    }
    Ok(out)
}

fn validate_condition(group: &str, rc: &RawConditional) -> Result<Condition, SeccompError> {
    let bad =
        |problem: String| SeccompError::BadCondition { group: group.to_owned(), syscall: rc.syscall.clone(), problem };
    if rc.arg > 5 {
        return Err(bad(format!("arg = {} is out of range 0..=5", rc.arg)));
    }
    let width = match rc.width {
        None | Some(64) => Width::Full64,
        Some(32) => Width::Low32,
        Some(w) => return Err(bad(format!("width = {w}; use 32 or 64"))),
    };
    let fits = |v: u64| width == Width::Full64 || u32::try_from(v).is_ok();

    let predicate = match (&rc.any_bit_set, &rc.not_in, &rc.eq) {
        (Some(bits), None, None) => {
            let mask = match bits {
                OneOrMany::One(m) => *m,
                OneOrMany::Many(v) => v.iter().fold(0, |acc, b| acc | b),
            };
            if mask == 0 {
                return Err(bad("any_bit_set has no bits set".to_owned()));
            }
            if !fits(mask) {
                return Err(bad(format!("any_bit_set {mask:#x} does not fit width = 32")));
            }
            Predicate::AnyBitSet(mask)
        }
        (None, Some(values), None) => {
            if values.is_empty() {
                return Err(bad(
                    "not_in is empty (that would block every call; list it in `syscalls` instead)".to_owned()
                ));
            }
            if let Some(v) = values.iter().find(|v| !fits(**v)) {
                return Err(bad(format!("not_in value {v:#x} does not fit width = 32")));
            }
            let mut values = values.clone();
            values.sort_unstable();
            values.dedup();
            Predicate::NotIn(values)
        }
        (None, None, Some(value)) => {
            if !fits(*value) {
                return Err(bad(format!("eq value {value:#x} does not fit width = 32")));
            }
            Predicate::Eq(*value)
        }
        _ => return Err(bad("a conditional entry needs exactly one of any_bit_set, not_in, eq".to_owned())),
    };
    Ok(Condition { arg: rc.arg, width, predicate })
}

/// The errno names a policy may use.
fn errno_by_name(name: &str) -> Option<i32> {
    Some(match name {
        "EPERM" => libc::EPERM,
        "ENOENT" => libc::ENOENT,
        "EACCES" => libc::EACCES,
        "EINVAL" => libc::EINVAL,
        "ENOSYS" => libc::ENOSYS,
        "EOPNOTSUPP" | "ENOTSUP" => libc::EOPNOTSUPP,
        "EAFNOSUPPORT" => libc::EAFNOSUPPORT,
        "EPROTONOSUPPORT" => libc::EPROTONOSUPPORT,
        _ => return None,
    })
}
