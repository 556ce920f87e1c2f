//! Unit tests of the catalog and of planning, against the built-in catalog.

use bytesbox_sandbox::{FileEntry, RunLimits};

use crate::*;

const MIB: u64 = 1024 * 1024;

fn catalog() -> Catalog {
    Catalog::builtin()
}

/// Files with placeholder contents.
fn named(paths: &[&'static str]) -> Vec<ProjectFile<'static>> {
    paths.iter().map(|p| ProjectFile::new(p, b"")).collect()
}

fn plan(language: Option<&str>, files: &[ProjectFile<'_>], entry: Option<&str>) -> Plan {
    match catalog().resolve(language, files, entry) {
        Ok(plan) => plan,
        Err(e) => panic!("{language:?} {entry:?}: {e}"),
    }
}

fn error(language: Option<&str>, files: &[ProjectFile<'_>], entry: Option<&str>) -> CatalogError {
    match catalog().resolve(language, files, entry) {
        Ok(plan) => panic!("expected an error, got {plan:#?}"),
        Err(e) => e,
    }
}

fn compile_argv(plan: &Plan) -> Vec<String> {
    let argv = &plan.compile.as_ref().expect("a compile stage").argv;
    // Every build first empties the output directory with the fixed script.
    assert_eq!(argv[..5], ["sh", "-c", CLEAN_OUT_SCRIPT, "bytesbox-build", "/tmp/build"]);
    argv[5..].to_vec()
}

#[test]
fn the_builtin_catalog_parses_and_has_every_required_language() {
    let catalog = catalog();
    let ids = [
        "python",
        "javascript",
        "java",
        "c",
        "cpp",
        "bash",
        "sqlite",
        "mysql",
        "postgresql",
        "ruby",
        "go",
        "rust",
        "typescript",
    ];
    for id in ids {
        let runtime = catalog.get(id).unwrap_or_else(|| panic!("{id} is missing"));
        assert_eq!(runtime.id, id);
        let image = runtime.image.as_deref();
        match id {
            // Built by scripts/images (images/order): the full image holds all of them.
            "python" | "javascript" | "typescript" | "java" | "c" | "cpp" | "bash" | "sqlite" | "mysql"
            | "postgresql" => {
                assert_eq!(image, Some("bytesbox-runtime:full"), "{id}")
            }
            // No image recipe installs these.
            _ => assert_eq!(image, None, "{id}"),
        }
    }
    assert_eq!(catalog.runtimes().len(), ids.len());
    assert_eq!(catalog.out_dir(), "/tmp/build");
    for (alias, id) in [
        ("Python3", "python"),
        ("C++", "cpp"),
        ("JS", "javascript"),
        ("node", "javascript"),
        ("sql", "sqlite"),
        ("MariaDB", "mysql"),
        ("postgres", "postgresql"),
        ("psql", "postgresql"),
    ] {
        assert_eq!(catalog.get(alias).map(|r| r.id.as_str()), Some(id), "{alias}");
    }
    assert_eq!(catalog.by_extension("cc").map(|r| r.id.as_str()), Some("cpp"));
    assert_eq!(catalog.by_extension("sql").map(|r| r.id.as_str()), Some("sqlite"), "the SQL servers are named only");
    assert_eq!(catalog.by_extension("h"), None, "headers do not pick a language");
    assert!(catalog.get("cobol").is_none());
}

#[test]
fn every_example_resolves_by_its_extension_alone() {
    let catalog = catalog();
    for runtime in catalog.runtimes() {
        let example = &runtime.example;
        assert!(example.source.contains("Hello, World!"), "{}", runtime.id);
        let files = [ProjectFile::new(&example.path, example.source.as_bytes())];
        // A runtime picked by name only is named, as its callers must.
        let named = runtime.named_only.then_some(runtime.id.as_str());
        let plan = catalog.resolve(named, &files, None).unwrap_or_else(|e| panic!("{}: {e}", runtime.id));
        assert_eq!(plan.runtime_id, runtime.id);
        assert_eq!(plan.entry.as_deref(), Some(example.path.as_str()));
        for stage in plan.compile.iter().chain([&plan.run]) {
            stage.run_spec().validate(&RunLimits::hard_maximum()).unwrap();
            for var in crate::template::Var::ALL {
                let placeholder = format!("{{{}}}", var.name());
                assert!(stage.argv.iter().all(|a| !a.contains(&placeholder)), "{placeholder} left in {:?}", stage.argv);
            }
        }
    }
}

#[test]
fn an_operator_catalog_loads_from_a_file() {
    let path = std::env::temp_dir().join(format!("bytesbox-catalog-{}.toml", std::process::id()));
    let text = BUILTIN_CATALOG.replace("out_dir = \"/tmp/build\"", "out_dir = \"/tmp/other-build\"");
    std::fs::write(&path, text).unwrap();
    let loaded = Catalog::load(&path);
    std::fs::remove_file(&path).unwrap();
    let loaded = loaded.unwrap();
    assert_eq!(loaded.out_dir(), "/tmp/other-build");
    let plan = loaded.resolve(None, &named(&["main.c"]), None).unwrap();
    assert!(plan.run.argv[0].starts_with("/tmp/other-build/"), "{:?}", plan.run.argv);
    let missing = Catalog::load(std::path::Path::new("/nonexistent/catalog.toml")).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/catalog.toml"), "{missing}");
}

#[test]
fn python_has_a_kernel_that_gets_its_connection_file() {
    let catalog = Catalog::builtin();
    let python = catalog.runtimes().iter().find(|r| r.id == "python").expect("python");
    let kernel = python.kernel.as_ref().expect("python has a kernel");
    let argv = kernel.argv_with("/workspace/.bytesbox/kernels/k1/connection.json");
    assert_eq!(argv.iter().filter(|a| *a == "/workspace/.bytesbox/kernels/k1/connection.json").count(), 1);
    assert!(!argv.iter().any(|a| a.contains('{')), "{argv:?}");
    assert_eq!(kernel.language, "python");
}

#[test]
fn invalid_catalogs_are_rejected_with_the_reason() {
    let cases = [
        (
            "argv = [\"python3\", \"-B\", \"{entry}\", \"{args}\"]",
            "argv = [\"python3\", \"{entyr}\"]",
            "unknown placeholder {entyr}",
        ),
        (
            "extensions = [\"ts\"]",
            "extensions = [\"ts\", \"py\"]",
            "extension .py is claimed by both \"python\" and \"typescript\"",
        ),
        ("aliases = [\"rb\"]", "aliases = [\"py\"]", "name \"py\" is used by both"),
        ("out_dir = \"/tmp/build\"", "out_dir = \"tmp/build\"", "out_dir"),
        ("out_dir = \"/tmp/build\"", "out_dir = \"/tmp\"", "two levels"),
        ("version_name = \"node\"", "version_nmae = \"node\"", "unknown field"),
        ("main_class = \"java\"", "main_class = \"kotlin\"", "unknown variant"),
        ("main_class = \"java\"", "", "{class} needs entry.main_class"),
        ("state_file = \".bytesbox/session.sqlite3\"", "state_file = \"../escape\"", "state_file"),
        ("path = \"main.py\"", "path = \"main.txt\"", "example.path"),
        ("min_memory_mb = 96", "min_memory_mb = 0", "min_memory_mb must be positive"),
        // Without `named_only` a dialect's `.sql` clashes with SQLite's.
        ("named_only = true", "named_only = false", "extension .sql is claimed by both \"sqlite\" and \"mysql\""),
        (
            "session_server = true\nsql_results = true\n",
            "",
            "session_server or sql_results and a {mode} placeholder in run go together",
        ),
        ("sql_results = true\n", "", "session_server or sql_results and a {mode} placeholder in run go together"),
        ("\"-f\", \"{connection_file}\"", "\"-f\"", "must hold {connection_file} as one whole item"),
        ("\"-f\", \"{connection_file}\"", "\"-f={connection_file}\"", "must hold {connection_file}"),
        ("min_memory_mb = 80", "min_memory_mb = 0", "kernel.min_memory_mb positive"),
    ];
    for (from, to, expected) in cases {
        assert!(BUILTIN_CATALOG.contains(from), "{from}");
        let text = BUILTIN_CATALOG.replacen(from, to, 1);
        let err = Catalog::parse(&text).expect_err(expected).to_string();
        assert!(err.contains(expected), "{expected:?} not in {err:?}");
    }
    assert!(Catalog::parse("out_dir = \"/tmp/b\"\nsearch_path = \"/bin\"\nruntime = []").is_err());
}

#[test]
fn explicit_entries_win() {
    let files = named(&["main.py", "tools/other.py"]);
    let p = plan(None, &files, Some("tools/other.py"));
    assert_eq!(p.entry.as_deref(), Some("tools/other.py"));
    assert_eq!(p.run.argv, ["python3", "-B", "tools/other.py"]);
    // An explicit language takes an entry of any extension when the
    // runtime runs the entry itself.
    let p = plan(Some("bash"), &named(&["run", "lib.sh"]), Some("run"));
    assert_eq!(p.run.argv, ["bash", "run"]);
    // … but not when it compiles the project's sources.
    let err = error(Some("c"), &named(&["main.c", "notes.txt"]), Some("notes.txt"));
    assert!(matches!(err, CatalogError::NotASource { .. }), "{err}");
    assert!(err.to_string().contains("expected .c"), "{err}");
    let err = error(None, &files, Some("missing.py"));
    assert_eq!(err, CatalogError::EntryNotFound { entry: "missing.py".into() });
    assert_eq!(err.code(), "no_entry_file");
}

#[test]
fn default_entry_names_are_found_at_the_root_then_anywhere() {
    let p = plan(None, &named(&["util.py", "main.py", "pkg/main.py"]), None);
    assert_eq!(p.entry.as_deref(), Some("main.py"), "the root wins");
    let p = plan(None, &named(&["src/index.js", "src/lib.js"]), None);
    assert_eq!(p.entry.as_deref(), Some("src/index.js"));
    assert_eq!(p.run.argv, ["node", "src/index.js"]);
    let p = plan(Some("python"), &named(&["app/__main__.py", "app/x.py"]), None);
    assert_eq!(p.entry.as_deref(), Some("app/__main__.py"));
    let err = error(None, &named(&["a/main.py", "b/main.py"]), None);
    assert_eq!(
        err.to_string(),
        "cannot choose the python entry file among a/main.py, b/main.py; name the entry file (or call it main.py)"
    );
}

#[test]
fn a_single_source_file_is_the_entry_whatever_its_name() {
    let p = plan(None, &named(&["hello.py", "README.md", "data/input.txt"]), None);
    assert_eq!(p.entry.as_deref(), Some("hello.py"));
    let p = plan(None, &named(&["script.sh"]), None);
    assert_eq!(p.run.argv, ["bash", "script.sh"]);
}

#[test]
fn several_candidates_are_an_error_that_lists_them() {
    let err = error(None, &named(&["b.py", "a.py", "c.py"]), None);
    assert!(matches!(err, CatalogError::AmbiguousEntry { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "cannot choose the python entry file among a.py, b.py, c.py; name the entry file (or call it main.py)"
    );
    let many: Vec<String> = (0..15).map(|i| format!("f{i:02}.js")).collect();
    let files: Vec<ProjectFile<'_>> = many.iter().map(|p| ProjectFile::new(p, b"")).collect();
    let err = error(None, &files, None).to_string();
    assert!(err.contains("f00.js, f01.js") && err.contains("and 5 more"), "{err}");
}

#[test]
fn unknown_languages_list_the_known_ids() {
    let err = error(Some("cobol"), &named(&["main.cob"]), None);
    assert_eq!(
        err.to_string(),
        "unknown language `cobol`; known languages: python, javascript, java, c, cpp, bash, sqlite, mysql, postgresql, ruby, go, rust, typescript"
    );
    assert_eq!(err.code(), "unknown_language");
    let err = error(None, &named(&["main.cob"]), Some("main.cob"));
    assert!(matches!(err, CatalogError::UnknownExtension { .. }));
    assert!(err.to_string().contains(".py .js .mjs .cjs .java .c"), "{err}");
    let err = error(None, &named(&["README.md", "Makefile"]), None);
    assert!(matches!(err, CatalogError::NoSources { .. }), "{err}");
    let err = error(Some("java"), &named(&["README.md"]), None);
    assert_eq!(err.to_string(), "no java entry file: the project has no .java file");
}

#[test]
fn mixed_projects_pick_the_language_with_a_main_file() {
    let p = plan(None, &named(&["main.py", "setup.sh", "schema.sql"]), None);
    assert_eq!(p.runtime_id, "python");
    let p = plan(None, &named(&["scripts/build.sh", "src/main.c", "src/util.py"]), None);
    assert_eq!(p.runtime_id, "c");
    let err = error(None, &named(&["a.py", "b.js"]), None);
    assert_eq!(
        err.to_string(),
        "the project holds sources of several languages (python, javascript); name the language or the entry file"
    );
}

#[test]
fn unsafe_paths_are_rejected() {
    for bad in ["../etc/passwd", "/abs.py", "a//b.py", "./main.py"] {
        let err = error(None, &named(&[bad]), None);
        assert_eq!(err.code(), "invalid_path", "{bad}: {err}");
    }
    let err = error(None, &named(&["main.py", "main.py"]), None);
    assert_eq!(err.code(), "invalid_path");
    let err = error(None, &named(&["main.py"]), Some("../main.py"));
    assert_eq!(err.code(), "invalid_path");
}

#[test]
fn odd_file_names_are_always_one_argv_item() {
    let odd = [
        "my file.c",
        "it's \"quoted\".c",
        "semi;colon && rm -rf ~.c",
        "$(whoami)`id`.c",
        "-o.c",
        "@response.c",
        "new\u{a0}line.c",
        "dir with space/x.h",
    ];
    let files = named(&odd);
    let p = plan(Some("c"), &files, None);
    let argv = compile_argv(&p);
    let sources: Vec<&str> = argv.iter().map(String::as_str).skip_while(|a| *a != "/tmp/build/main").skip(1).collect();
    assert_eq!(
        sources,
        [
            "$(whoami)`id`.c",
            "./-o.c",
            "./@response.c",
            "it's \"quoted\".c",
            "my file.c",
            "new\u{a0}line.c",
            "semi;colon && rm -rf ~.c",
            "-lm"
        ],
        "sorted, one item each, option-like names defused"
    );
    assert!(argv.contains(&"-iquotedir with space".to_string()), "{argv:?}");
    // Arguments reach the program as they are.
    let context = RunContext { args: vec!["a b".into(), "-x".into(), "; ls".into()], ..RunContext::default() };
    let p = catalog().resolve_with(None, &named(&["it's; a \"name\".py"]), None, &context).unwrap();
    assert_eq!(p.run.argv, ["python3", "-B", "it's; a \"name\".py", "a b", "-x", "; ls"]);
    let p = catalog().resolve_with(None, &named(&["-c.py"]), None, &context).unwrap();
    assert_eq!(p.run.argv[2], "./-c.py");
}

fn java(path: &'static str, text: &'static str) -> ProjectFile<'static> {
    ProjectFile::new(path, text.as_bytes())
}

const MAIN: &str = "public class Main { public static void main(String[] args) {} }";

#[test]
fn java_runs_the_entry_class_with_its_package() {
    let files = [
        java(
            "com/example/app/Main.java",
            "// Copyright\n/* package wrong.one; */\npackage com.example.app;\n\nimport com.example.util.Greeter;\n\npublic class Main {\n  public static void main(String[] args) { Greeter.greet(); }\n}\n",
        ),
        java("com/example/util/Greeter.java", "package com.example.util;\npublic class Greeter { public static void greet() {} }\n"),
    ];
    let p = plan(None, &files, None);
    assert_eq!(p.runtime_id, "java");
    assert_eq!(p.entry.as_deref(), Some("com/example/app/Main.java"));
    let argv = compile_argv(&p);
    assert_eq!(argv[0], "javac");
    assert_eq!(
        argv[argv.len() - 4..],
        ["-d", "/tmp/build", "com/example/app/Main.java", "com/example/util/Greeter.java"]
    );
    assert_eq!(p.run.argv[0], "java");
    assert_eq!(p.run.argv[p.run.argv.len() - 3..], ["-cp", "/tmp/build", "com.example.app.Main"]);
}

#[test]
fn java_without_a_package_runs_the_bare_class() {
    let p = plan(None, &[java("Main.java", MAIN)], None);
    assert_eq!(p.run.argv.last().map(String::as_str), Some("Main"));
    // Nested folders do not imply a package: the declaration decides.
    let p = plan(None, &[java("src/deep/Main.java", MAIN)], None);
    assert_eq!(p.run.argv.last().map(String::as_str), Some("Main"));
    let p = plan(None, &[java("App.java", "package a.b.c.d;\nclass App { static void main(String[] a) {} }")], None);
    assert_eq!(p.run.argv.last().map(String::as_str), Some("a.b.c.d.App"));
}

#[test]
fn java_picks_the_file_with_a_main_when_there_is_no_main_java() {
    let files = [
        java("Util.java", "class Util { static int twice(int x) { return 2 * x; } /* void main( */ }"),
        java("Program.java", "public class Program {\n  public static void main(String... args) {}\n}"),
    ];
    let p = plan(None, &files, None);
    assert_eq!(p.entry.as_deref(), Some("Program.java"));
    assert_eq!(p.run.argv.last().map(String::as_str), Some("Program"));
    let err = error(None, &[java("A.java", MAIN), java("B.java", MAIN)], None);
    assert!(err.to_string().contains("among A.java, B.java"), "{err}");
}

#[test]
fn java_entries_without_a_main_class_are_explained() {
    let err = error(None, &[java("Main.java", "public class Other { public static void main(String[] a) {} }")], None);
    assert_eq!(
        err.to_string(),
        "`Main.java` cannot be run: it declares no class Main (the main class must be named after its file)"
    );
    assert_eq!(err.code(), "no_entry_file");
    let err = error(None, &[java("Main.java", "public class Main { void run() {} }")], None);
    assert!(err.to_string().contains("class Main has no main method"), "{err}");
    let err = error(None, &[java("my-app.java", MAIN)], None);
    assert!(err.to_string().contains("`my-app` is not a valid class name"), "{err}");
    let err = error(
        None,
        &[java("Main.java", "package com.;\npublic class Main { public static void main(String[] a) {} }")],
        None,
    );
    assert!(err.to_string().contains("package declaration is malformed"), "{err}");
}

#[test]
fn java_flags_follow_the_run_limits() {
    let limits = RunLimits { memory_bytes: 256 * MIB, cpu_millicores: 2500, ..RunLimits::default() };
    let p = catalog().resolve_with(None, &[java("Main.java", MAIN)], None, &RunContext::new(&limits, vec![])).unwrap();
    assert!(p.run.argv.contains(&"-XX:MaxRAM=256m".to_string()), "{:?}", p.run.argv);
    assert!(p.run.argv.contains(&"-XX:ActiveProcessorCount=3".to_string()), "{:?}", p.run.argv);
    assert!(compile_argv(&p).contains(&"-J-XX:MaxRAM=256m".to_string()));
    let p = plan(None, &[java("Main.java", MAIN)], None);
    assert!(p.run.argv.contains(&"-XX:MaxRAM=128m".to_string()), "defaults: {:?}", p.run.argv);
    assert!(p.run.argv.contains(&"-XX:ActiveProcessorCount=1".to_string()), "half a CPU rounds up to one");
    assert!(p.run.argv.contains(&"-XX:+UseSerialGC".to_string()));
}

#[test]
fn c_and_cpp_compile_every_source_in_subfolders_but_no_header() {
    let files = named(&[
        "src/main.cpp",
        "src/lib/math.cpp",
        "include/math.h",
        "include/detail/impl.hpp",
        "src/lib/local.hh",
        "README.md",
    ]);
    let p = plan(None, &files, None);
    assert_eq!(p.runtime_id, "cpp");
    assert_eq!(p.entry.as_deref(), Some("src/main.cpp"));
    let argv = compile_argv(&p);
    assert_eq!(
        argv,
        [
            "g++",
            "-std=gnu++17",
            "-O2",
            "-Wall",
            "--param",
            "ggc-min-expand=30",
            "--param",
            "ggc-min-heapsize=32768",
            "-iquoteinclude",
            "-iquoteinclude/detail",
            "-iquotesrc/lib",
            "-o",
            "/tmp/build/main",
            "src/lib/math.cpp",
            "src/main.cpp"
        ]
    );
    assert_eq!(p.run.argv, ["/tmp/build/main"]);
    let compile = p.compile.as_ref().unwrap();
    assert_eq!(compile.limits.memory_bytes, 256 * MIB, "C++ compiles get their minimum");
    assert_eq!(p.run.limits.memory_bytes, 128 * MIB);
    assert_eq!(compile.run_spec().limits.memory_bytes, 256 * MIB);

    let files = named(&["main.c", "util/strings.c", "util/strings.h", "vendor/x/y.c"]);
    let p = plan(None, &files, None);
    assert_eq!(
        compile_argv(&p),
        [
            "gcc",
            "-std=gnu17",
            "-O2",
            "-Wall",
            "--param",
            "ggc-min-expand=30",
            "--param",
            "ggc-min-heapsize=32768",
            "-iquoteutil",
            "-o",
            "/tmp/build/main",
            "main.c",
            "util/strings.c",
            "vendor/x/y.c",
            "-lm"
        ]
    );
    assert_eq!(p.compile.as_ref().unwrap().limits.memory_bytes, 128 * MIB);
    // Root headers give `-iquote.`; no header at all gives no flag.
    assert!(compile_argv(&plan(None, &named(&["main.c", "x.h"]), None)).contains(&"-iquote.".to_string()));
    assert!(!compile_argv(&plan(None, &named(&["main.c"]), None)).iter().any(|a| a.starts_with("-iquote")));
}

#[test]
fn c_projects_need_no_single_entry() {
    let files =
        [ProjectFile::new("a.c", b"int main(void){return 0;}"), ProjectFile::new("b.c", b"int main(void){return 1;}")];
    let p = plan(None, &files, None);
    assert_eq!(p.entry, None, "every source is compiled; the compiler reports two mains");
    assert!(compile_argv(&p).ends_with(&["a.c".to_string(), "b.c".to_string(), "-lm".to_string()]));
    let files = [
        ProjectFile::new("helper.c", b"int twice(int x){return 2*x;}"),
        ProjectFile::new("prog.c", b"int main (void) {}"),
    ];
    assert_eq!(plan(None, &files, None).entry.as_deref(), Some("prog.c"), "the file with main");
}

/// The state every run keeps: each database of the catalog's runtimes.
const EVERY_STATE: [&str; 3] = [".bytesbox/mysql", ".bytesbox/postgresql", ".bytesbox/session.sqlite3"];

#[test]
fn sqlite_runs_against_a_database_kept_across_runs() {
    let p = plan(None, &named(&["main.sql", "seed.sql"]), None);
    assert_eq!(p.runtime_id, "sqlite");
    assert_eq!(p.keep, EVERY_STATE);
    assert!(p.compile.is_none());
    let script = &p.run.argv[2];
    assert!(script.ends_with("exec sqlite3 -bail -batch \"$1\" < \"$2\"\n"), "{script}");
    let wall_ms = RunLimits::default().wall_time_ms.to_string();
    assert_eq!(p.run.argv[3..], ["sqlite", ".bytesbox/session.sqlite3", "main.sql", "run", &wall_ms]);
    // Structured results: the same script, in the results mode.
    let results = p.results.as_ref().expect("SQLite gives structured results");
    assert_eq!((&results.argv[2], &results.argv[6]), (script, &"results".to_string()));
    // The file name is a positional parameter, never part of the script.
    let named_badly = plan(None, &named(&["x\"; rm -rf / #.sql"]), None);
    assert_eq!(&named_badly.run.argv[2], script);
    assert_eq!(named_badly.run.argv[5], "x\"; rm -rf / #.sql");
    // Other languages keep the databases too (a session's Python run must
    // not remove them), and have no server.
    assert_eq!(plan(None, &named(&["main.py"]), None).keep, EVERY_STATE);
    assert!(plan(None, &named(&["main.sql"]), None).server.is_none());
}

#[test]
fn plans_build_from_sandbox_file_entries() {
    let entries = [FileEntry::new("main.py", "print(1)"), FileEntry::new("lib/util.py", "")];
    let files: Vec<ProjectFile<'_>> = entries.iter().map(ProjectFile::from).collect();
    let p = plan(None, &files, None);
    assert_eq!(p.run.argv, ["python3", "-B", "main.py"]);
    assert_eq!(p.run.env, [("PYTHONUNBUFFERED".to_string(), "1".to_string())]);
    let spec = p.run.run_spec();
    assert_eq!(spec.cwd, "", "the workspace");
    assert!(spec.close_stdin);
}

#[test]
fn typescript_and_go_templates_expand() {
    let p = plan(None, &named(&["src/index.ts", "src/util.ts"]), None);
    assert_eq!(p.run.argv, ["node", "/tmp/build/src/index.js"]);
    let p = plan(None, &named(&["cmd/tool/main.go", "cmd/tool/flags.go"]), None);
    assert_eq!(compile_argv(&p), ["go", "build", "-o", "/tmp/build/main", "./cmd/tool"]);
    assert!(p.compile.as_ref().unwrap().env.contains(&("GOMAXPROCS".to_string(), "1".to_string())));
}

#[test]
fn sql_servers_are_picked_by_name_and_keep_a_data_directory() {
    // `.sql` alone picks SQLite, also in projects where a server would fit.
    assert_eq!(plan(None, &named(&["main.sql"]), None).runtime_id, "sqlite");
    assert_eq!(plan(None, &named(&["a.sql", "b.sql"]), Some("b.sql")).runtime_id, "sqlite");
    for (name, id) in [("mysql", "mysql"), ("mariadb", "mysql"), ("postgresql", "postgresql"), ("psql", "postgresql")] {
        let p = plan(Some(name), &named(&["schema.sql", "main.sql"]), None);
        assert_eq!(p.runtime_id, id);
        assert_eq!(p.entry.as_deref(), Some("main.sql"));
        let state = format!(".bytesbox/{id}");
        assert_eq!(p.keep, EVERY_STATE);
        assert_eq!(p.state.as_ref(), Some(&state));
        // The script is fixed; the state directory and the file are its parameters.
        assert_eq!(p.run.argv[..2], ["sh", "-c"]);
        let wall_ms = RunLimits::default().wall_time_ms.to_string();
        assert_eq!(p.run.argv[3..], [id, &state, "run", "main.sql", &wall_ms]);
        // The session's server: the same script in its serving mode.
        let server = p.server.as_ref().expect("a session server");
        assert_eq!(server.argv[..3], p.run.argv[..3]);
        assert_eq!(server.argv[3..], [id, &state, "serve", "main.sql", &wall_ms]);
        let template = p.template.as_ref().expect("a template command");
        assert_eq!(template.argv[3..], [id, &state, "template", "main.sql", &wall_ms]);
        let script = &p.run.argv[2];
        assert!(!script.contains("main.sql"), "{id}: the file name never enters the script");
        // The server listens on a socket in the box only.
        let no_tcp = if id == "mysql" { "skip-networking" } else { "listen_addresses=" };
        assert!(script.contains(no_tcp), "{id}: no TCP listener");
    }
}

#[test]
fn a_run_with_less_memory_than_its_runtime_needs_is_refused() {
    let catalog = catalog();
    let files = named(&["main.sql"]);
    for id in ["mysql", "postgresql"] {
        let needed = catalog.get(id).and_then(|r| r.min_memory_mb).expect("a minimum memory");
        let limits = RunLimits { memory_bytes: (needed - 1) * MIB, ..RunLimits::default() };
        let err = catalog.resolve_with(Some(id), &files, None, &RunContext::new(&limits, Vec::new())).unwrap_err();
        assert_eq!(err.code(), "limit_exceeded");
        let message = err.to_string();
        assert!(message.contains(&format!("at least {needed} MiB")), "{message}");
        assert!(message.contains(&format!("may use {} MiB", needed - 1)), "{message}");
        let limits = RunLimits { memory_bytes: needed * MIB, ..RunLimits::default() };
        let plan = catalog.resolve_with(Some(id), &files, None, &RunContext::new(&limits, Vec::new())).unwrap();
        assert_eq!(plan.run.limits.memory_bytes, needed * MIB, "the minimum itself is enough");
    }
}

#[test]
fn python_c_cpp_javascript_and_typescript_have_language_servers_with_their_options() {
    let catalog = Catalog::builtin();
    let server = |id: &str| catalog.get(id).and_then(|r| r.language_server.clone()).expect(id);
    let python = server("python");
    assert_eq!(
        (python.argv[0].as_str(), python.argv[1].as_str(), python.language_id.as_str()),
        ("python3", "-c", "python")
    );
    let start = &python.argv[2];
    assert!(start.contains("min(interval_s, 0.1)"), "pylsp's lint debounce is capped: {start}");
    assert!(
        start.find("utils.debounce =").expect("wrapped")
            < start.find("from pylsp.__main__ import main").expect("started"),
        "before pylsp loads: {start}"
    );
    assert_eq!(python.settings()["pylsp"]["plugins"]["pycodestyle"]["enabled"], false);
    let cpp = server("cpp");
    assert_eq!((cpp.argv[0].as_str(), cpp.language_id.as_str()), ("clangd", "cpp"));
    assert_eq!(cpp.initialization_options()["fallbackFlags"][0], "-std=gnu++17");
    assert_eq!(server("c").initialization_options()["fallbackFlags"][0], "-std=gnu17");
    for (id, language_id) in [("javascript", "javascript"), ("typescript", "typescript")] {
        let typescript = server(id);
        assert_eq!(
            (typescript.argv[0].as_str(), typescript.language_id.as_str()),
            ("typescript-language-server", language_id)
        );
        assert_eq!(typescript.initialization_options()["disableAutomaticTypingAcquisition"], true, "nothing fetched");
    }
    assert!(catalog.get("bash").is_some_and(|r| r.language_server.is_none()));
    let bad = BUILTIN_CATALOG.replacen("settings = '{\"pylsp\"", "settings = '[\"pylsp\"", 1);
    let err = Catalog::parse(&bad).expect_err("settings must be an object").to_string();
    assert!(err.contains("language_server.settings"), "{err}");
}
