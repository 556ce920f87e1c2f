//! Helpers shared by the integration tests of several crates: skips,
//! waits, an unisolated test backend ([`host_double::HostDouble`]) and
//! the test stores. Test support only: every crate has this one as a
//! dev-dependency, never a normal one (checked below), so nothing here can
//! reach a production build.

pub mod host_double;
pub mod stores;
pub mod test_hosts;
pub mod versions;
mod wait;
pub mod zip_bomb;

pub use wait::wait_until;

use std::path::PathBuf;

/// The variable naming the file where skips are recorded; the test
/// command sets it and prints the file's summary at the end.
pub const SKIP_LOG_VARIABLE: &str = "BYTESBOX_SKIP_LOG";

/// Properties of a machine that a test may be skipped for even in CI,
/// because no install step can change them. The test command's summary
/// names each skip; `docs/testing.md` lists them.
pub const MACHINE_PROPERTIES: &[&str] =
    &["the test runner is itself under seccomp", "the kernel has no ia32 emulation", "the host has no cgroup2 mount"];

/// True when a test that needs root can run. Without root it panics in CI
/// (`CI` set), so a missing privilege can never pass silently, and
/// elsewhere the skip is recorded for the test command's summary.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if in_ci() {
        panic!("{test} requires root in CI (namespaces, cgroups and mounts); run the test command as root");
    }
    record_skip(test, "needs root: run the test command as root to exercise the sandbox");
    false
}

/// True when a test's other prerequisite is there (`problem` is `None`),
/// with [`require_root`]'s policy otherwise: a panic in CI, a recorded skip
/// elsewhere. `needs` names it ("Docker").
pub fn require_prerequisite(test: &str, needs: &str, problem: Option<String>) -> bool {
    let Some(problem) = problem else { return true };
    if in_ci() {
        panic!("{test} needs {needs} in CI: {problem}");
    }
    record_skip(test, &format!("needs {needs}: {problem}"));
    false
}

/// Skips a test for a property of this machine that no install step can
/// change, one of [`MACHINE_PROPERTIES`]; allowed in CI too, and named in
/// the test command's summary. Any other reason panics in CI.
pub fn skip_for_machine(test: &str, property: &str, detail: &str) {
    if in_ci() && !MACHINE_PROPERTIES.contains(&property) {
        panic!("{test} cannot be skipped in CI for {property:?}, which is not a documented machine property");
    }
    record_skip(test, &format!("machine property: {property} ({detail})"));
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty() && value != "false")
}

/// Writes a skip straight to stderr (the harness would swallow `eprintln!`
/// of a passing test) and appends it to the skip log.
fn record_skip(test: &str, reason: &str) {
    use std::io::Write;
    let line = format!("SKIPPED {test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os(SKIP_LOG_VARIABLE) {
        let opened = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut log) = opened {
            let _ = log.write_all(line.as_bytes());
        }
    }
}

/// The `bytesbox-jail` helper in the target directory, one level above the
/// test executable. Cargo builds only the binaries of the package under
/// test, so `scripts/test` runs `cargo build --workspace --bins` first.
///
/// # Panics
///
/// When the binary is missing, with instructions.
pub fn jail_binary() -> PathBuf {
    let candidate = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(|deps| deps.parent()).map(|dir| dir.join("bytesbox-jail")));
    match candidate {
        Some(path) if path.is_file() => path,
        other => panic!(
            "the jailer helper is missing ({other:?}): run the tests with scripts/test, \
             or build it first with `cargo build -p bytesbox-jail`"
        ),
    }
}

/// Box uids a test's backend may use, as `(base, count)`: distinct for
/// every backend of this process and, by the pid, from backends of other
/// test processes running at the same time (cargo runs test binaries one
/// after another, nextest runs every test in its own process). Leak checks
/// look for processes by uid, so ranges must never overlap.
pub fn box_uid_range() -> (u32, u32) {
    use std::sync::atomic::{AtomicU32, Ordering};
    const BASE: u32 = 2_000_000;
    const COUNT: u32 = 1024;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let per_process = NEXT.fetch_add(1, Ordering::Relaxed) % 16;
    let slot = (std::process::id() % 4096) * 16 + per_process;
    (BASE + slot * COUNT, COUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test double isolates nothing: no production build may link it.
    #[test]
    fn every_crate_has_the_testkit_as_a_dev_dependency_only() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/");
        let mut checked = 0;
        for entry in std::fs::read_dir(crates).expect("crates/ is readable") {
            let manifest = entry.expect("an entry of crates/").path().join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
            let parsed: toml::Table = text.parse().expect("a valid manifest");
            for section in ["dependencies", "build-dependencies"] {
                let has =
                    parsed.get(section).and_then(|s| s.as_table()).is_some_and(|s| s.contains_key("bytesbox-testkit"));
                assert!(
                    !has,
                    "{} has bytesbox-testkit in [{section}]: only [dev-dependencies] may",
                    manifest.display()
                );
            }
            let targets = parsed.get("target").and_then(|t| t.as_table()).into_iter().flat_map(|t| t.values());
            for target in targets {
                let has = target
                    .get("dependencies")
                    .and_then(|s| s.as_table())
                    .is_some_and(|s| s.contains_key("bytesbox-testkit"));
                assert!(!has, "{} has bytesbox-testkit in a target's [dependencies]", manifest.display());
            }
            checked += 1;
        }
        assert!(checked > 10, "only {checked} manifests found");
    }

    #[test]
    fn uid_ranges_of_one_process_never_overlap() {
        let ranges: Vec<_> = (0..16).map(|_| box_uid_range()).collect();
        for (i, (base, count)) in ranges.iter().enumerate() {
            assert!(*base >= 2_000_000 && base.checked_add(*count).is_some());
            for (other, _) in &ranges[i + 1..] {
                assert!(base.abs_diff(*other) >= *count, "{ranges:?}");
            }
        }
    }
}
