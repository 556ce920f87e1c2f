//! Helpers shared by the integration tests of several crates.

use std::path::PathBuf;

/// True when a test that needs root can run. Without root it panics in CI
/// (`CI` set), so a missing privilege can never pass silently, and
/// elsewhere says loudly that the test was skipped.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} requires root in CI (namespaces, cgroups and mounts); run the test command as root");
    }
    eprintln!("SKIPPED (needs root): {test} — run `scripts/test` as root to exercise the sandbox");
    false
}

/// The `bytesbox-jail` helper that `cargo test --workspace` builds into the
/// target directory, one level above the test executable (cargo does not
/// build binaries of dependencies, so a crate's tests cannot ask for it).
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
            "the jailer helper is missing ({other:?}): run the tests with `cargo test --workspace` (scripts/test), \
             or build it first with `cargo build -p bytesbox-native --bin bytesbox-jail`"
        ),
    }
}
