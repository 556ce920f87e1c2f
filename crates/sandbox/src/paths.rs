//! Validation of workspace-relative paths received from untrusted clients.
//!
//! A valid path is relative, uses `/` as separator, and has no empty, `.` or
//! `..` components, no NUL bytes, no control characters and no invisible
//! formatting characters (bidirectional overrides and the like, which make
//! a name display as another, e.g. `evil\u{202e}txt.exe` as
//! `evilexe.txt`). Validation is
//! purely lexical; backends must still resolve paths without following
//! symlinks (see the native backend's `workspace` module).

use crate::SandboxError;

/// Longest accepted path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest accepted single component, in bytes (the usual NAME_MAX).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Deepest accepted nesting.
pub const MAX_DEPTH: usize = 32;

fn reject(path: &str, reason: &'static str) -> SandboxError {
    SandboxError::InvalidPath { path: path.chars().take(200).collect(), reason }
}

/// Checks that `path` is a safe workspace-relative path and returns its
/// components.
pub fn validate_relative(path: &str) -> Result<Vec<&str>, SandboxError> {
    if path.is_empty() {
        return Err(reject(path, "path is empty"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(reject(path, "path is too long"));
    }
    if path.starts_with('/') {
        return Err(reject(path, "path must be relative"));
    }
    if path.contains('\0') {
        return Err(reject(path, "path contains a NUL byte"));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(reject(path, "path contains a control character"));
    }
    if path.chars().any(is_invisible_format) {
        return Err(reject(path, "path contains an invisible or bidirectional formatting character"));
    }
    if path.contains('\\') {
        return Err(reject(path, "path contains a backslash; use `/`"));
    }
    let components: Vec<&str> = path.split('/').collect();
    if components.len() > MAX_DEPTH {
        return Err(reject(path, "path is nested too deeply"));
    }
    for component in &components {
        match *component {
            "" => return Err(reject(path, "path has an empty component")),
            "." => return Err(reject(path, "path has a `.` component")),
            ".." => return Err(reject(path, "path has a `..` component")),
            c if c.len() > MAX_COMPONENT_BYTES => return Err(reject(path, "a path component is too long")),
            _ => {}
        }
    }
    Ok(components)
}

/// Whether `c` is a formatting character (Unicode general category Cf:
/// bidirectional embeddings, overrides and isolates, zero-width spaces and
/// joiners, the byte-order mark, tag characters, ...) or an invisible line
/// or paragraph separator (Zl, Zp). None of them shows in a file name; all
/// of them can make one look like another. The ranges are Cf as of Unicode
/// 15.1 (std has no general-category lookup; `char::is_control` is Cc only).
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Validates a list of paths and rejects duplicates, including a file that
/// is also used as a directory (`a` and `a/b`).
pub fn validate_unique<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<(), SandboxError> {
    let mut seen = std::collections::BTreeSet::new();
    for path in paths {
        validate_relative(path)?;
        if !seen.insert(path) {
            return Err(reject(path, "duplicate path"));
        }
    }
    // After sorting, a file `a` that is a prefix directory of `a/b` sits
    // somewhere before it; check every path's parents against the set.
    for path in &seen {
        let mut prefix = String::new();
        let components: Vec<&str> = path.split('/').collect();
        for component in &components[..components.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(component);
            if seen.contains(prefix.as_str()) {
                return Err(reject(path, "a file is also used as a directory"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_paths() {
        for ok in ["main.py", "src/lib/util.h", "a b/c-d_e.f", "日本/語.txt", ".hidden", "..dots"] {
            assert!(validate_relative(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_hostile_paths() {
        for bad in
            ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\0b", "a\\..\\b", "a\nb", ".", ".."]
        {
            assert!(validate_relative(bad).is_err(), "{bad:?}");
        }
        assert!(validate_relative(&"a/".repeat(40)).is_err());
        assert!(validate_relative(&"x".repeat(300)).is_err());
    }

    #[test]
    fn rejects_bidirectional_and_invisible_format_characters() {
        for bad in [
            "evil\u{202E}txt.exe",
            "a\u{202A}b",
            "a\u{202D}b",
            "src/\u{2066}main.py",
            "\u{2069}x",
            "zero\u{200B}width",
            "rtl\u{200F}mark",
            "\u{FEFF}bom.txt",
            "soft\u{00AD}hyphen",
            "word\u{2060}joiner",
            "line\u{2028}sep",
            "tag\u{E0041}",
        ] {
            let error = validate_relative(bad).expect_err(bad).to_string();
            assert!(error.contains("invisible or bidirectional formatting character"), "{bad:?}: {error}");
            assert!(validate_unique([bad]).is_err(), "{bad:?}");
        }
        // Visible non-ASCII stays fine, right-to-left scripts included.
        for ok in ["שלום.txt", "مرحبا/ملف.py", "émoji-😀.md", "a\u{00A0}b"] {
            assert!(validate_relative(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn rejects_duplicates_and_file_directory_clashes() {
        assert!(validate_unique(["a", "b/c"]).is_ok());
        assert!(validate_unique(["a", "a"]).is_err());
        assert!(validate_unique(["a", "a/b"]).is_err());
        assert!(validate_unique(["x/a/b", "x/a"]).is_err());
    }

    proptest! {
        #[test]
        fn valid_paths_never_escape(path in "[a-z./]{1,40}") {
            if let Ok(components) = validate_relative(&path) {
                prop_assert!(!path.starts_with('/'));
                prop_assert!(components.iter().all(|c| *c != ".." && *c != "." && !c.is_empty()));
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(path in "\\PC{0,64}") {
            let _ = validate_relative(&path);
        }
    }
}
