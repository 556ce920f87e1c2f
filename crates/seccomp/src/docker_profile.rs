//! The policy as a Docker (runc/libseccomp) seccomp profile, so containers
//! run under exactly the rules the native sandbox installs.
//!
//! The profile is default-allow, like the policy: every group becomes
//! `SCMP_ACT_ERRNO` (with its errno) or `SCMP_ACT_KILL_PROCESS` rules.
//! libseccomp accepts one comparison per argument in a rule, and rules for
//! one syscall are ORed, so conditions are written as one rule per
//! alternative:
//!
//! - `any_bit_set`: one `(arg & bit) == bit` rule per bit;
//! - `eq`: one `(arg & width_mask) == value` rule;
//! - `not_in`: the values *outside* the list, as aligned blocks
//!   (`(arg & block_mask) == block_start`), at most two per bit of width
//!   for each gap between listed values.
//!
//! Masks never reach past the condition's width, so a 32-bit condition
//! ignores the upper half of the register, as the native filter does.
//!
//! What the profile cannot say, and who covers it: the architecture guard
//! (i386 and x32 calls) is libseccomp's own, which lets only
//! `architectures` through and sends other ABIs (x32 included, when it is
//! not listed) to its bad-architecture action; and a syscall name the
//! engine's libseccomp does not know is skipped by runc with a debug log,
//! so it stays allowed there (newer calls than that libseccomp).

use serde_json::{json, Value};

use crate::policy::{Action, Condition, Entry, Policy, Predicate, Width};

/// One libseccomp comparison: `(arg[index] & mask) == value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MaskedEq {
    /// Argument index (0..=5).
    pub(crate) index: u8,
    /// Bits compared.
    pub(crate) mask: u64,
    /// What they must equal.
    pub(crate) value: u64,
}

impl MaskedEq {
    /// Whether an argument value matches.
    #[cfg(test)]
    pub(crate) fn matches(&self, arg: u64) -> bool {
        arg & self.mask == self.value
    }
}

impl Policy {
    /// The policy as the JSON of a Docker seccomp profile (for
    /// `HostConfig.SecurityOpt = ["seccomp=<json>"]`). Only x86_64 is
    /// listed, as only x86_64 is compiled natively.
    pub fn docker_profile(&self) -> Value {
        let mut syscalls = Vec::new();
        for group in &self.groups {
            let (action, errno) = match group.action {
                Action::Errno(errno) => ("SCMP_ACT_ERRNO", Some(errno)),
                Action::KillProcess => ("SCMP_ACT_KILL_PROCESS", None),
            };
            let rule = |names: Vec<&str>, args: Option<MaskedEq>| {
                let mut rule = json!({ "names": names, "action": action });
                if let Some(errno) = errno {
                    rule["errnoRet"] = json!(errno);
                }
                if let Some(arg) = args {
                    rule["args"] = json!([{
                        "index": arg.index,
                        "value": arg.mask,
                        "valueTwo": arg.value,
                        "op": "SCMP_CMP_MASKED_EQ",
                    }]);
                }
                rule
            };
            let unconditional: Vec<&str> =
                group.entries.iter().filter(|e| e.conditions.is_empty()).map(|e| e.name.as_str()).collect();
            if !unconditional.is_empty() {
                syscalls.push(rule(unconditional, None));
            }
            for entry in group.entries.iter().filter(|e| !e.conditions.is_empty()) {
                for comparison in entry_comparisons(entry) {
                    syscalls.push(rule(vec![entry.name.as_str()], Some(comparison)));
                }
            }
        }
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": syscalls,
        })
    }
}

/// The comparisons of a conditional entry: it is blocked when any matches.
fn entry_comparisons(entry: &Entry) -> Vec<MaskedEq> {
    entry.conditions.iter().flat_map(condition_comparisons).collect()
}

/// One condition as ORed masked comparisons.
pub(crate) fn condition_comparisons(condition: &Condition) -> Vec<MaskedEq> {
    let width_mask = match condition.width {
        Width::Low32 => u64::from(u32::MAX),
        Width::Full64 => u64::MAX,
    };
    let index = condition.arg;
    match &condition.predicate {
        Predicate::AnyBitSet(mask) => (0..64)
            .map(|bit| 1u64 << bit)
            .filter(|bit| mask & bit != 0)
            .map(|bit| MaskedEq { index, mask: bit, value: bit })
            .collect(),
        Predicate::Eq(value) => vec![MaskedEq { index, mask: width_mask, value: value & width_mask }],
        Predicate::NotIn(values) => complement_blocks(values, width_mask)
            .into_iter()
            .map(|(mask, value)| MaskedEq { index, mask, value })
            .collect(),
    }
}

/// Every value of `0..=width_mask` not in `listed`, as aligned power-of-two
/// blocks `(mask, start)`: `v` is in a block when `v & mask == start`.
fn complement_blocks(listed: &[u64], width_mask: u64) -> Vec<(u64, u64)> {
    let max = u128::from(width_mask);
    let mut sorted: Vec<u128> = listed.iter().map(|v| u128::from(v & width_mask)).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut gaps = Vec::new();
    let mut next = 0u128;
    for value in sorted {
        if value > next {
            gaps.push((next, value - 1));
        }
        next = value + 1;
    }
    if next <= max {
        gaps.push((next, max));
    }
    let mut blocks = Vec::new();
    for (first, last) in gaps {
        let mut start = first;
        let end = last + 1;
        while start < end {
            // The largest block aligned at `start` that stays in the gap.
            let mut size: u128 = if start == 0 { max + 1 } else { 1 << start.trailing_zeros() };
            while start + size > end {
                size >>= 1;
            }
            let mask = max & !(size - 1);
            // Both fit in 64 bits: `max` does, and `start <= max`.
            blocks.push((mask as u64, start as u64));
            start += size;
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    /// Whether the native condition blocks `arg` (the policy's meaning).
    fn native_blocks(condition: &Condition, arg: u64) -> bool {
        let arg = match condition.width {
            Width::Low32 => arg & u64::from(u32::MAX),
            Width::Full64 => arg,
        };
        match &condition.predicate {
            Predicate::AnyBitSet(mask) => arg & mask != 0,
            Predicate::Eq(value) => arg == *value,
            Predicate::NotIn(values) => !values.contains(&arg),
        }
    }

    fn samples(condition: &Condition) -> Vec<u64> {
        let mut values = vec![0, 1, 2, 7, 8, 9, 0x7fff_ffff, 0xffff_ffff, 0x1_0000_0000, u64::MAX, u64::MAX - 1];
        let listed: Vec<u64> = match &condition.predicate {
            Predicate::AnyBitSet(mask) => (0..64).map(|b| 1u64 << b).filter(|b| mask & b != 0).collect(),
            Predicate::Eq(v) => vec![*v],
            Predicate::NotIn(v) => v.clone(),
        };
        for v in listed {
            for delta in [0u64, 1, 2, 0x1_0000_0000, 0xffff_0000_0000_0000] {
                values.extend([v.wrapping_add(delta), v.wrapping_sub(delta), v | delta]);
            }
        }
        // A spread of other values, reproducible.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.extend([x, x & 0xffff_ffff, x & 0x3_ffff]);
        }
        values
    }

    #[test]
    fn every_condition_of_the_default_policy_means_the_same_in_the_profile() {
        let policy = Policy::default_policy().unwrap();
        let mut checked = 0;
        for entry in policy.groups.iter().flat_map(|g| g.entries.iter()) {
            for condition in &entry.conditions {
                let comparisons = condition_comparisons(condition);
                assert!(!comparisons.is_empty(), "{}", entry.name);
                for arg in samples(condition) {
                    let docker = comparisons.iter().any(|c| c.matches(arg));
                    assert_eq!(docker, native_blocks(condition, arg), "{} arg {arg:#x}", entry.name);
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "clone and personality are conditional in the default policy ({checked})");
    }

    #[test]
    fn not_in_blocks_are_exact_and_disjoint() {
        let blocks = complement_blocks(&[0, 8, 0x20000, 0x20008, 0xffff_ffff], 0xffff_ffff);
        assert!(blocks.len() <= 4 * 2 * 32, "{}", blocks.len());
        for v in (0u64..0x4_0000).chain([0xffff_fffe, 0xffff_ffff, 0x8000_0000, 0x1234_5678]) {
            let hits = blocks.iter().filter(|(mask, start)| v & mask == *start).count();
            let listed = [0, 8, 0x20000, 0x20008, 0xffff_ffff].contains(&v);
            assert_eq!(hits, usize::from(!listed), "value {v:#x}");
        }
        // A full-width list: the blocks cover the top of the range too.
        let wide = complement_blocks(&[5], u64::MAX);
        assert!(wide.iter().any(|(m, s)| *m == *s), "u64::MAX & mask == start for the top block");
        assert!(!wide.iter().any(|(m, s)| 5 & m == *s));
    }

    #[test]
    fn every_blocked_syscall_is_in_the_profile_with_its_action() {
        let policy = Policy::default_policy().unwrap();
        let profile = policy.docker_profile();
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(profile["architectures"], json!(["SCMP_ARCH_X86_64"]));
        let rules = profile["syscalls"].as_array().unwrap();
        for group in policy.groups() {
            for entry in &group.entries {
                let matching: Vec<&Value> = rules
                    .iter()
                    .filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == entry.name.as_str()))
                    .collect();
                assert!(!matching.is_empty(), "{} is missing", entry.name);
                for rule in matching {
                    match group.action() {
                        Action::Errno(errno) => {
                            assert_eq!(rule["action"], "SCMP_ACT_ERRNO");
                            assert_eq!(rule["errnoRet"], errno, "{}", entry.name);
                        }
                        Action::KillProcess => assert_eq!(rule["action"], "SCMP_ACT_KILL_PROCESS"),
                    }
                    assert_eq!(rule.get("args").is_some(), !entry.conditions.is_empty(), "{}", entry.name);
                }
            }
        }
        let io_uring = rules.iter().find(|r| r["names"].as_array().unwrap().iter().any(|n| n == "io_uring_setup"));
        assert_eq!(io_uring.unwrap()["errnoRet"], libc::EPERM);
        let clone3 = rules.iter().find(|r| r["names"].as_array().unwrap().iter().any(|n| n == "clone3"));
        assert_eq!(clone3.unwrap()["errnoRet"], libc::ENOSYS);
    }

    #[test]
    fn kill_process_groups_become_kill_process_rules() {
        let policy = Policy::from_toml(
            "version = 1\n[[group]]\nname = \"k\"\naction = \"kill_process\"\nsyscalls = [\"ptrace\"]\n\
             [[group.conditional]]\nsyscall = \"personality\"\narg = 0\nwidth = 32\neq = 0x40000\n",
        )
        .unwrap();
        let profile = policy.docker_profile();
        let rules = profile["syscalls"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules.iter().all(|r| r["action"] == "SCMP_ACT_KILL_PROCESS" && r.get("errnoRet").is_none()));
        assert_eq!(rules[1]["args"][0]["value"], 0xffff_ffffu64);
        assert_eq!(rules[1]["args"][0]["valueTwo"], 0x40000);
    }
}
