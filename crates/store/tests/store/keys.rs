//! Property-based tests: project file paths follow the run rules, object
//! keys never leave their project's prefix and never collide, and a zip can
//! only ever import paths that pass the rules.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Component, Path};

use bytesbox_store::{check_path, check_paths, new_object_key, project_prefix, read_zip, ProjectId, OBJECTS_ROOT};
use proptest::prelude::*;

/// The run rules, written independently of the implementation.
fn valid_by_model(path: &str) -> bool {
    let components: Vec<&str> = path.split('/').collect();
    !path.is_empty()
        && path.len() <= 1024
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && components.len() <= 32
        && components.iter().all(|part| !part.is_empty() && *part != "." && *part != ".." && part.len() <= 255)
}

/// Paths built from the characters that matter: separators, dots,
/// backslashes, control characters and a few letters.
fn hostile_path() -> impl Strategy<Value = String> {
    const PARTS: &[&str] = &["a", "b", ".", "..", "/", "\\", "\n", "\0", "é", "/..", "./"];
    proptest::collection::vec(proptest::sample::select(PARTS), 0..10).prop_map(|parts| parts.concat())
}

/// Valid paths from a small alphabet, so duplicates and clashes happen.
fn valid_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(&["a", "b", "c.py"] as &'static [&'static str]), 1..4)
        .prop_map(|parts| parts.join("/"))
}

fn stays_inside(path: &str) -> bool {
    Path::new(path).components().all(|component| matches!(component, Component::Normal(_)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn paths_are_accepted_exactly_by_the_run_rules(path in hostile_path()) {
        let accepted = check_path(&path).is_ok();
        prop_assert_eq!(accepted, valid_by_model(&path), "{:?}", path);
        if accepted {
            prop_assert!(stays_inside(&path), "{:?}", path);
        }
    }

    #[test]
    fn arbitrary_text_never_panics_and_accepted_text_never_escapes(path in "\\PC{0,80}") {
        if check_path(&path).is_ok() {
            prop_assert!(stays_inside(&path), "{:?}", path);
        }
    }

    #[test]
    fn a_set_of_paths_is_accepted_without_duplicates_or_file_folder_clashes(
        paths in proptest::collection::vec(valid_path(), 1..6)
    ) {
        let unique: HashSet<&str> = paths.iter().map(String::as_str).collect();
        let clash = paths.iter().any(|a| paths.iter().any(|b| b.starts_with(&format!("{a}/"))));
        let expected = unique.len() == paths.len() && !clash;
        prop_assert_eq!(check_paths(paths.iter().map(String::as_str)).is_ok(), expected, "{:?}", paths);
    }

    #[test]
    fn object_keys_come_only_from_canonical_project_ids(id in "\\PC{0,40}|[0-9a-f-]{36}|\\.\\./[0-9a-f-]{30}") {
        let canonical = uuid::Uuid::parse_str(&id).is_ok_and(|uuid| uuid.hyphenated().to_string() == id);
        let key = new_object_key(&ProjectId(id.clone()));
        prop_assert_eq!(key.is_ok(), canonical, "{:?}", id);
        prop_assert_eq!(project_prefix(&ProjectId(id.clone())).is_ok(), canonical);
    }

    #[test]
    fn object_keys_stay_in_their_project_and_never_collide(ids in proptest::collection::vec(any::<u128>(), 1..6)) {
        let projects: Vec<ProjectId> =
            ids.iter().map(|bits| ProjectId(uuid::Uuid::from_u128(*bits).hyphenated().to_string())).collect();
        let mut seen = HashSet::new();
        for project in &projects {
            let prefix = project_prefix(project).unwrap();
            for _ in 0..20 {
                let key = new_object_key(project).unwrap();
                let parts: Vec<String> = key.parts().map(|part| part.as_ref().to_owned()).collect();
                prop_assert_eq!(parts.len(), 3);
                prop_assert_eq!(parts[0].as_str(), OBJECTS_ROOT);
                prop_assert_eq!(&parts[1], &project.0);
                prop_assert!(parts[2].len() == 32 && parts[2].bytes().all(|b| b.is_ascii_hexdigit()));
                prop_assert!(stays_inside(key.as_ref()));
                prop_assert!(key.prefix_match(&prefix).is_some());
                for other in projects.iter().filter(|other| other.0 != project.0) {
                    prop_assert!(key.prefix_match(&project_prefix(other).unwrap()).is_none());
                }
                prop_assert!(seen.insert(key.to_string()), "collision: {}", key);
            }
        }
    }

    #[test]
    fn a_zip_imports_only_paths_that_pass_the_rules(names in proptest::collection::hash_set(hostile_path(), 1..6)) {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for name in &names {
            zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(name.as_bytes()).unwrap();
        }
        let archive = zip.finish().unwrap().into_inner();
        if let Ok(files) = read_zip(&archive, 100, 1 << 20) {
            prop_assert!(check_paths(files.iter().map(|file| file.path.as_str())).is_ok());
            for file in &files {
                prop_assert!(stays_inside(&file.path), "{:?}", file.path);
                prop_assert_eq!(&file.content[..], file.path.as_bytes());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_zip(&bytes, 10, 1 << 16);
    }

    #[test]
    fn a_damaged_zip_is_refused_or_read_within_its_limits(
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in [("a.txt", &b"hello hello hello"[..]), ("dir/b.bin", &[0u8; 300][..])] {
            zip.start_file(name, options).unwrap();
            zip.write_all(content).unwrap();
        }
        let mut archive = zip.finish().unwrap().into_inner();
        for (index, byte) in damage {
            let at = index.index(archive.len());
            archive[at] = byte;
        }
        if let Ok(files) = read_zip(&archive, 2, 400) {
            prop_assert!(files.len() <= 2);
            prop_assert!(files.iter().map(|file| file.content.len()).sum::<usize>() <= 400);
            prop_assert!(check_paths(files.iter().map(|file| file.path.as_str())).is_ok());
        }
    }
}
