//! Compiling a [`Policy`] to BPF and installing it.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use seccompiler::{
    sock_filter, BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::error::SeccompError;
use crate::policy::{Action, Condition, Group, Policy, Predicate, Width, X32_SYSCALL_BIT};

/// `AUDIT_ARCH_X86_64` from `<linux/audit.h>`: `EM_X86_64 (62) |
/// __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`. The x32 ABI reports the same value.
pub(crate) const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;

/// Offsets in `struct seccomp_data`.
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;

/// Classic-BPF opcodes used by the guard (`<linux/filter.h>`; the opcode
/// field of `struct sock_filter` is 16 bits, libc spells them as `u32`).
pub(crate) const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
pub(crate) const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
pub(crate) const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
pub(crate) const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The architecture guard, installed before every group filter.
///
/// ```text
/// 0: ld  [arch]
/// 1: jeq #AUDIT_ARCH_X86_64, 1, 0   ; native arch -> 3
/// 2: ret #KILL_PROCESS              ; i386 (int 0x80) or anything else
/// 3: ld  [nr]
/// 4: jge #0x40000000, 0, 1          ; x32 ABI (and any larger number) -> 5
/// 5: ret #KILL_PROCESS
/// 6: ret #ALLOW
/// ```
///
/// Why hand-written: the x32 ABI reports `AUDIT_ARCH_X86_64` too, so
/// seccompiler's own arch check (which kills on a mismatched `arch`) lets x32
/// calls through, and its rules only compare syscall numbers for equality,
/// so an x32 call (`nr | 0x40000000`) matches none of the group filters and
/// would be allowed. seccompiler cannot express a range test on the number,
/// so this is the check seccomp(2) recommends (`X32_SYSCALL_BIT`), by hand.
pub(crate) fn arch_guard() -> BpfProgram {
    let kill = libc::SECCOMP_RET_KILL_PROCESS;
    vec![
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARCH),
        jump(BPF_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET_K, kill),
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR),
        jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1),
        stmt(BPF_RET_K, kill),
        stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW),
    ]
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

impl From<Action> for SeccompAction {
    fn from(action: Action) -> Self {
        match action {
            // errno values are small positive numbers; SECCOMP_RET_DATA keeps 16 bits.
            Action::Errno(e) => SeccompAction::Errno(e.unsigned_abs()),
            Action::KillProcess => SeccompAction::KillProcess,
        }
    }
}

impl Policy {
    /// Compiles the policy into BPF programs: the architecture guard, then
    /// one filter per distinct action, in the order the actions first
    /// appear in the file.
    ///
    /// Groups that share an action are merged into one filter: the kernel
    /// runs every installed program on every system call, so fifteen small
    /// filters cost fifteen times the per-syscall time of one (a Python
    /// start makes thousands of calls). Groups stay separate in the file,
    /// where they document why each call is blocked.
    ///
    /// Call it once at start-up; the result is immutable and can be shared
    /// and installed in any number of children.
    pub fn compile(&self) -> Result<CompiledPolicy, SeccompError> {
        if !cfg!(target_arch = "x86_64") {
            return Err(SeccompError::UnsupportedArch { arch: std::env::consts::ARCH });
        }
        let mut by_action: Vec<(Action, Vec<&Group>)> = Vec::new();
        for group in &self.groups {
            match by_action.iter_mut().find(|(action, _)| *action == group.action) {
                Some((_, groups)) => groups.push(group),
                None => by_action.push((group.action, vec![group])),
            }
        }
        let mut programs = Vec::with_capacity(by_action.len() + 1);
        programs.push(arch_guard());
        for (action, groups) in by_action {
            programs.push(compile_groups(action, &groups)?);
        }
        Ok(CompiledPolicy { programs })
    }
}

/// One filter for every group with the same action. Syscalls are unique
/// across groups (the parser checks), so their rules never collide.
fn compile_groups(action: Action, groups: &[&Group]) -> Result<BpfProgram, SeccompError> {
    let names = groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join("+");
    let err = |source: BackendError| SeccompError::Compile { group: names.clone(), source };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for group in groups {
        for entry in &group.entries {
            // No rules = match on the number alone; rules are ORed.
            let mut entry_rules = Vec::new();
            for condition in &entry.conditions {
                entry_rules.extend(rules_for(condition).map_err(err)?);
            }
            rules.insert(i64::from(entry.nr), entry_rules);
        }
    }
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action.into(), TargetArch::x86_64).map_err(err)?;
    BpfProgram::try_from(filter).map_err(err)
}

/// The seccompiler rules (ORed) that together match `condition`.
fn rules_for(condition: &Condition) -> Result<Vec<SeccompRule>, BackendError> {
    let len = match condition.width {
        Width::Low32 => SeccompCmpArgLen::Dword,
        Width::Full64 => SeccompCmpArgLen::Qword,
    };
    let cond = |op: SeccompCmpOp, value: u64| SeccompCondition::new(condition.arg, len.clone(), op, value);
    match &condition.predicate {
        // "any bit set" = OR over bits of "(arg & bit) == bit".
        Predicate::AnyBitSet(mask) => (0..64)
            .map(|i| 1u64 << i)
            .filter(|bit| mask & bit != 0)
            .map(|bit| SeccompRule::new(vec![cond(SeccompCmpOp::MaskedEq(bit), bit)?]))
            .collect(),
        // "none of" = AND over values of "arg != value": one rule.
        Predicate::NotIn(values) => {
            let conditions = values.iter().map(|v| cond(SeccompCmpOp::Ne, *v)).collect::<Result<Vec<_>, _>>()?;
            Ok(vec![SeccompRule::new(conditions)?])
        }
        Predicate::Eq(value) => Ok(vec![SeccompRule::new(vec![cond(SeccompCmpOp::Eq, *value)?])?]),
    }
}

/// A policy compiled to BPF, ready to [`install`](CompiledPolicy::install).
///
/// Holds one program per filter: the architecture guard first, then one per
/// policy group in file order. Everything is built here, so installing does
/// not allocate.
#[derive(Clone, PartialEq, Eq)]
pub struct CompiledPolicy {
    programs: Vec<BpfProgram>,
}

impl fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lens: Vec<usize> = self.programs.iter().map(Vec::len).collect();
        f.debug_struct("CompiledPolicy").field("filter_instruction_counts", &lens).finish()
    }
}

/// `struct sock_fprog` from `<linux/filter.h>`, pointing at seccompiler's
/// `sock_filter` (same layout as the kernel's).
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

impl CompiledPolicy {
    /// The BPF programs, in install order (the architecture guard first).
    pub fn programs(&self) -> &[BpfProgram] {
        &self.programs
    }

    /// How many filters [`install`](Self::install) stacks.
    pub fn filter_count(&self) -> usize {
        self.programs.len()
    }

    /// Installs every filter on the calling thread.
    ///
    /// Sets `PR_SET_NO_NEW_PRIVS` (which makes seccomp available without
    /// `CAP_SYS_ADMIN` and stops set-uid binaries from gaining privileges),
    /// then stacks the filters with `seccomp(SECCOMP_SET_MODE_FILTER, 0, ..)`
    /// in [`programs`](Self::programs) order. Filters are per thread and are
    /// inherited over `fork`/`clone` and kept across `execve`; they can never
    /// be removed.
    ///
    /// Only libc calls, an iteration over prebuilt slices and errno reads
    /// happen here, so it is async-signal-safe and fit for
    /// `CommandExt::pre_exec`. Call it as the **last** step before `execve`,
    /// after dropping privileges: the policy blocks `ptrace`, mount and
    /// friends, but not `setuid`/`capset`, and privilege dropping itself
    /// must not be subject to it.
    ///
    /// On error some filters may already be installed; the caller should
    /// abort the child.
    pub fn install(&self) -> io::Result<()> {
        // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) takes only integer
        // arguments and touches no memory of ours.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_NO_NEW_PRIVS,
                1 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        for program in &self.programs {
            // compile() keeps every program under seccompiler's 4096-instruction
            // limit (the kernel's BPF_MAXINSNS), so this never fails in practice;
            // the error is built without allocating.
            let len =
                libc::c_ushort::try_from(program.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            let fprog = SockFprog { len, filter: program.as_ptr() };
            // SAFETY: `fprog` points at `len` initialised `sock_filter`s
            // (repr(C), same layout as the kernel's struct) owned by `self`,
            // which outlives the call; the kernel copies the program before
            // returning and keeps no pointer to our memory.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                    0 as libc::c_ulong,
                    &fprog as *const SockFprog,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}
