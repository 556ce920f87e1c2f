//! Real programs, planned by the catalog, run through the native sandbox
//! backend with the default run limits (128 MiB, half a CPU, 128 pids).
//!
//! Needs root (namespaces, cgroups, mounts): in CI (`CI` set) a missing root
//! is a failure; elsewhere each test says loudly that it was skipped.
//!
//! Needs the workspace build: the jailer helper `bytesbox-jail` is a binary
//! of `bytesbox-native`, and cargo builds binaries of workspace members, not
//! of dependencies. `cargo test --workspace` (what `scripts/test` runs)
//! puts it in the target directory next to this test's `deps/`; after
//! `cargo test -p bytesbox-runtimes` alone, build it first with
//! `cargo build -p bytesbox-jail`.
//!
//! Every language the issue requires (`REQUIRED`) must be available, and a
//! missing one fails in CI; `scripts/test` installs their tools. Optional
//! languages whose tools are missing are reported and skipped.

use bytesbox_testkit::require_root;

use bytesbox_native::{NativeBackend, NativeConfig};
use bytesbox_runtimes::{Catalog, Plan, ProjectFile, RunContext, RuntimeStatus};
use bytesbox_sandbox::{Backend, BoxId, BoxSpec, CollectedRun, FileEntry, PutMode, RunLimits, RunStatus};

/// A backend with one box; each gets its own uid range, so concurrent tests
/// (and other crates' test binaries) never share box users.
struct Harness {
    backend: NativeBackend,
    id: BoxId,
    catalog: Catalog,
    /// Every run's limits.
    limits: RunLimits,
}

/// What happened to one project.
struct Outcome {
    plan: Plan,
    compile: Option<CollectedRun>,
    run: Option<CollectedRun>,
}

impl Outcome {
    /// The run stage, after asserting that the build (if any) succeeded.
    fn run(&self) -> &CollectedRun {
        if let Some(compile) = &self.compile {
            assert_eq!(
                compile.report.status,
                RunStatus::Ok,
                "compile of {} failed: {:?}\n{}{}",
                self.plan.runtime_id,
                compile.report,
                compile.stdout_text(),
                compile.stderr_text()
            );
        }
        self.run.as_ref().expect("the run stage ran")
    }

    /// Asserts a successful run whose output holds these rows of result
    /// tables, each row on a line of its own, cells between `|`.
    fn assert_result_rows(&self, rows: &[&[&str]]) {
        let run = self.run();
        let stdout = run.stdout_text();
        assert_eq!(
            run.report.status,
            RunStatus::Ok,
            "{}: {:?}\n{stdout}{}",
            self.plan.runtime_id,
            run.report,
            run.stderr_text()
        );
        for row in rows {
            assert!(has_row(&stdout, row), "{}: no row {row:?} in\n{stdout}", self.plan.runtime_id);
        }
    }

    /// Asserts a clean, successful run with exactly this output.
    fn assert_prints(&self, expected: &str) {
        let run = self.run();
        assert_eq!(
            (run.report.status, run.stdout_text().as_str(), run.stderr_text().as_str()),
            (RunStatus::Ok, expected, ""),
            "{}: {:?}",
            self.plan.runtime_id,
            run.report
        );
    }
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(RunLimits::default()).await
    }

    /// A harness whose runs have `limits`.
    async fn start_with(limits: RunLimits) -> Harness {
        let (uid_base, uid_count) = bytesbox_testkit::box_uid_range();
        let backend = NativeBackend::start(NativeConfig {
            jail_binary: Some(bytesbox_testkit::jail_binary()),
            uid_base,
            uid_count,
            ..NativeConfig::default()
        })
        .await
        .expect("the native backend starts");
        let id = backend.create(BoxSpec::default()).await.expect("a box");
        Harness { backend, id, catalog: Catalog::builtin(), limits }
    }

    /// Replaces the workspace with `files` (keeping the plan's state), then
    /// runs the compile stage and, if it succeeded, the run stage.
    async fn run(
        &self,
        language: Option<&str>,
        files: &[(&str, &str)],
        entry: Option<&str>,
        args: &[&str],
        stdin: &str,
    ) -> Outcome {
        let project: Vec<ProjectFile<'_>> = files.iter().map(|(p, c)| ProjectFile::new(p, c.as_bytes())).collect();
        let context = RunContext::new(&self.limits, args.iter().map(|a| a.to_string()).collect());
        let plan = self.catalog.resolve_with(language, &project, entry, &context).expect("a plan");
        let entries = files.iter().map(|(p, c)| FileEntry::new(*p, c.to_string())).collect();
        self.backend.put_files(&self.id, entries, PutMode::Replace { keep: plan.keep.clone() }).await.expect("files");
        let mut outcome = Outcome { plan, compile: None, run: None };
        if let Some(stage) = &outcome.plan.compile {
            let done = self.execute(stage.run_spec()).await;
            let failed = done.report.status != RunStatus::Ok;
            outcome.compile = Some(done);
            if failed {
                return outcome;
            }
        }
        let mut spec = outcome.plan.run.run_spec();
        spec.stdin = stdin.as_bytes().to_vec();
        outcome.run = Some(self.execute(spec).await);
        outcome
    }

    async fn execute(&self, spec: bytesbox_sandbox::RunSpec) -> CollectedRun {
        let handle = self.backend.run(&self.id, spec).await.expect("the stage starts");
        handle.collect().await.expect("the stage ends with a report")
    }

    async fn finish(self) {
        self.backend.destroy(&self.id).await.expect("destroy");
        self.backend.shutdown().await;
        let leftovers = self.backend.leftovers();
        assert!(leftovers.is_empty(), "leaked: {leftovers:#?}");
    }
}

/// The runtimes this host can serve, detected once per test binary.
fn statuses() -> &'static [RuntimeStatus] {
    static STATUSES: std::sync::OnceLock<Vec<RuntimeStatus>> = std::sync::OnceLock::new();
    STATUSES.get_or_init(|| Catalog::builtin().detect_versions())
}

/// The languages the server must offer; `scripts/test` installs their tools.
const REQUIRED: &[&str] = &["python", "javascript", "java", "c", "cpp", "bash", "sqlite"];

/// Whether `id` can run here. A missing required language fails in CI (a
/// broken install must not pass as a skip); otherwise the test says loudly
/// that it was skipped.
fn available(id: &str, test: &str) -> bool {
    let status = statuses().iter().find(|s| s.id == id).expect("a catalog runtime");
    if !status.available {
        let reason = status.reason.as_deref().unwrap_or("?");
        if REQUIRED.contains(&id) && std::env::var_os("CI").is_some() {
            panic!("{test}: the required language {id} is unavailable in CI: {reason}");
        }
        eprintln!("SKIPPED {test}: {id} is unavailable: {reason}");
    }
    status.available
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_world_in_every_available_language() {
    if !require_root("hello_world_in_every_available_language") {
        return;
    }
    let harness = Harness::start().await;
    let mut table = String::from(
        "\nhello world through the native sandbox, default limits (0.5 CPU, 128 MiB), median of 3 after a warm-up\n\
         (first ms: the first round, which warms the page cache and, for the SQL servers, makes the data directory)\n\
         runtime     version          first ms  compile ms  run ms  end-to-end ms  run peak MiB\n",
    );
    for status in statuses() {
        let runtime = harness.catalog.get(&status.id).expect("listed runtimes exist");
        if !status.available {
            let reason = status.reason.as_deref().unwrap_or_default();
            assert!(!reason.is_empty(), "{}: an unavailable runtime says why", status.id);
            table.push_str(&format!("{:<11} unavailable: {reason}\n", status.id));
            continue;
        }
        let example = &runtime.example;
        let named = runtime.named_only.then_some(runtime.id.as_str());
        let mut samples = Vec::new();
        let mut first_ms = 0;
        for round in 0..4 {
            let started = std::time::Instant::now();
            let outcome = harness.run(named, &[(&example.path, &example.source)], None, &[], "").await;
            let total = started.elapsed().as_millis();
            if runtime.named_only {
                // The SQL servers' clients print the greeting as a result set.
                outcome.assert_result_rows(&[&["Hello, World!"]]);
            } else {
                outcome.assert_prints("Hello, World!\n");
            }
            let run = outcome.run();
            // The first round warms the host's page cache.
            if round == 0 {
                first_ms = total;
            } else {
                let compile = outcome.compile.as_ref().map(|c| c.report.wall_ms);
                samples.push((compile, run.report.wall_ms, total, run.report.peak_memory_bytes));
            }
        }
        let median = |mut v: Vec<u128>| {
            v.sort_unstable();
            v[v.len() / 2]
        };
        let compile = samples[0].0.map_or("-".to_string(), |_| {
            median(samples.iter().map(|s| u128::from(s.0.unwrap_or(0))).collect()).to_string()
        });
        table.push_str(&format!(
            "{:<11} {:<16} {:>8} {:>10} {:>7} {:>14} {:>13.1}\n",
            status.id,
            status.version.as_deref().unwrap_or("?"),
            first_ms,
            compile,
            median(samples.iter().map(|s| u128::from(s.1)).collect()),
            median(samples.iter().map(|s| s.2).collect()),
            median(samples.iter().map(|s| u128::from(s.3)).collect()) as f64 / (1024.0 * 1024.0),
        ));
    }
    eprintln!("{table}");
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_detected_along_the_box_path() {
    for status in statuses() {
        if status.available {
            let version = status.version.as_deref().unwrap_or_default();
            assert!(version.chars().any(|c| c.is_ascii_digit()), "{}: version {version:?}", status.id);
            assert!(status.reason.is_none());
        } else {
            let reason = status.reason.as_deref().unwrap_or_default();
            assert!(reason.contains("not installed") || reason.contains("failed"), "{}: {reason}", status.id);
        }
    }
    // Every required language is served by a tool on a standard path here.
    for id in REQUIRED {
        let status = statuses().iter().find(|s| s.id == *id).unwrap();
        assert!(status.available, "{id}: {:?} (scripts/test installs every required toolchain)", status.reason);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imports_a_package_of_the_project() {
    if !require_root("python_imports_a_package_of_the_project") || !available("python", "python package") {
        return;
    }
    let harness = Harness::start().await;
    let files = [
        ("pkg/__init__.py", "from .util import shout\n"),
        ("pkg/util.py", "def shout(text):\n    return text.upper() + '!'\n"),
        ("main.py", "import sys\nfrom pkg import shout\nprint(shout('hello'), sys.argv[1:])\n"),
    ];
    let outcome = harness.run(None, &files, None, &["a b", "-c", "$HOME"], "").await;
    outcome.assert_prints("HELLO! ['a b', '-c', '$HOME']\n");
    // -B: importing left no __pycache__ in the workspace.
    let snapshot = harness.backend.get_files(&harness.id, vec![], 1 << 20).await.unwrap();
    let paths: Vec<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["main.py", "pkg/__init__.py", "pkg/util.py"]);
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_file_names_run_as_they_are() {
    if !require_root("odd_file_names_run_as_they_are") || !available("python", "odd names") {
        return;
    }
    let harness = Harness::start().await;
    let name = "it's a \"prog\"; rm -rf ~ $(id).py";
    let outcome = harness.run(None, &[(name, "import sys\nprint(sys.argv[0])\n")], None, &[], "").await;
    outcome.assert_prints(&format!("{name}\n"));
    let outcome = harness.run(None, &[("-c.py", "print('not an option')\n")], None, &[], "").await;
    outcome.assert_prints("not an option\n");
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_with_packages() {
    if !require_root("java_with_packages") || !available("java", "java packages") {
        return;
    }
    let harness = Harness::start().await;
    let files = [
        (
            "com/example/app/Main.java",
            "// The entry.\npackage com.example.app;\n\nimport com.example.util.Greeter;\n\npublic class Main {\n    public static void main(String[] args) {\n        System.out.println(new Greeter(\"packages\").greet());\n        System.out.println(Main.class.getName() + \" \" + String.join(\",\", args));\n    }\n}\n",
        ),
        (
            "com/example/util/Greeter.java",
            "package com.example.util;\n\npublic class Greeter {\n    private final String who;\n    public Greeter(String who) { this.who = who; }\n    public String greet() { return \"Hello, \" + who + \" from \" + getClass().getName(); }\n}\n",
        ),
    ];
    let outcome = harness.run(None, &files, None, &["x", "y z"], "").await;
    outcome.assert_prints("Hello, packages from com.example.util.Greeter\ncom.example.app.Main x,y z\n");
    // The JVM fits the default 128 MiB / 128-pid run: a program that starts
    // many threads and allocates still runs.
    let busy = "public class Main {\n    public static void main(String[] args) throws Exception {\n        Thread[] threads = new Thread[50];\n        long[] sums = new long[threads.length];\n        for (int i = 0; i < threads.length; i++) {\n            final int n = i;\n            threads[i] = new Thread(() -> { byte[] b = new byte[512 * 1024]; sums[n] = b.length; });\n            threads[i].start();\n        }\n        long total = 0;\n        for (int i = 0; i < threads.length; i++) { threads[i].join(); total += sums[i]; }\n        int[][] grid = new int[2000][2000];\n        System.out.println(total + \" \" + grid.length * grid[0].length);\n    }\n}\n";
    let outcome = harness.run(None, &[("Main.java", busy)], None, &[], "").await;
    outcome.assert_prints("26214400 4000000\n");
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpp_with_headers_in_subfolders() {
    if !require_root("cpp_with_headers_in_subfolders") || !available("cpp", "c++ headers") {
        return;
    }
    let harness = Harness::start().await;
    // include/math.h is found by `#include "math.h"` (-iquote include) and
    // does not shadow the system <math.h> that <cmath> uses.
    let files = [
        (
            "src/main.cpp",
            "#include <cmath>\n#include <iostream>\n#include \"math.h\"\n#include \"lib/version.hpp\"\n\nint main() {\n    std::cout << bb::add(2, 3) << ' ' << bb::square(7) << ' ' << std::sqrt(16.0) << ' ' << BB_VERSION << std::endl;\n}\n",
        ),
        ("src/lib/math.cpp", "#include \"math.h\"\n\nnamespace bb {\nint add(int a, int b) { return a + b; }\nint square(int x) { return x * x; }\n}\n"),
        ("src/lib/version.hpp", "#pragma once\n#define BB_VERSION \"v1\"\n"),
        ("include/math.h", "#pragma once\nnamespace bb {\nint add(int a, int b);\nint square(int x);\n}\n"),
    ];
    let outcome = harness.run(None, &files, None, &[], "").await;
    assert_eq!(outcome.plan.runtime_id, "cpp");
    outcome.assert_prints("5 49 4 v1\n");
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_links_the_math_library() {
    if !require_root("c_links_the_math_library") || !available("c", "c -lm") {
        return;
    }
    let harness = Harness::start().await;
    // The argument is only known at run time, so sqrt and cbrt are real
    // calls into libm; M_PI needs the GNU dialect.
    let files = [(
        "main.c",
        "#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n\nint main(int argc, char **argv) {\n    double x = atof(argv[1]);\n    printf(\"%.4f %.4f %.5f\\n\", sqrt(x), cbrt(x), M_PI);\n    return 0;\n}\n",
    )];
    let outcome = harness.run(Some("c"), &files, None, &["2"], "").await;
    outcome.assert_prints("1.4142 1.2599 3.14159\n");
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compile_errors_are_a_failed_compile_stage() {
    if !require_root("compile_errors_are_a_failed_compile_stage") || !available("c", "compile errors") {
        return;
    }
    let harness = Harness::start().await;
    let files = [("main.c", "#include <stdio.h>\nint main(void) {\n    printf(\"%d\\n\", x);\n}\n")];
    let outcome = harness.run(None, &files, None, &[], "").await;
    let compile = outcome.compile.as_ref().expect("a compile stage");
    assert_eq!(compile.report.status, RunStatus::Nonzero);
    assert_eq!(compile.report.exit_code, Some(1));
    let message = compile.stderr_text();
    // The box's LANG is C.UTF-8, so GCC quotes with ‘’.
    assert!(message.contains("main.c:3:20: error: ‘x’ undeclared"), "{message}");
    assert!(outcome.run.is_none(), "the run stage does not start");

    if available("java", "java compile errors") {
        let files = [(
            "Main.java",
            "public class Main {\n    public static void main(String[] a) {\n        int n = \"text\";\n    }\n}\n",
        )];
        let outcome = harness.run(None, &files, None, &[], "").await;
        let compile = outcome.compile.as_ref().expect("a compile stage");
        assert_eq!(compile.report.status, RunStatus::Nonzero, "{}", compile.stderr_text());
        let message = compile.stderr_text();
        assert!(
            message.contains("Main.java:3: error: incompatible types: String cannot be converted to int"),
            "{message}"
        );
        assert!(outcome.run.is_none());
    }
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programs_read_stdin() {
    if !require_root("programs_read_stdin") {
        return;
    }
    let harness = Harness::start().await;
    let input = "3\n10 20 30\n";
    let cases: [(&str, &str, &str); 4] = [
        ("python", "main.py", "n = int(input())\nprint(sum(map(int, input().split())) // n)\n"),
        ("c", "main.c", "#include <stdio.h>\nint main(void) { int n, s = 0, x; scanf(\"%d\", &n); for (int i = 0; i < n; i++) { scanf(\"%d\", &x); s += x; } printf(\"%d\\n\", s / n); }\n"),
        ("javascript", "index.js", "const lines = require('fs').readFileSync(0, 'utf8').trim().split('\\n');\nconst n = Number(lines[0]);\nconsole.log(lines[1].split(' ').map(Number).reduce((a, b) => a + b) / n);\n"),
        ("java", "Main.java", "import java.util.Scanner;\npublic class Main { public static void main(String[] a) { Scanner in = new Scanner(System.in); int n = in.nextInt(), s = 0; for (int i = 0; i < n; i++) s += in.nextInt(); System.out.println(s / n); } }\n"),
    ];
    for (id, path, source) in cases {
        if !available(id, "stdin") {
            continue;
        }
        let outcome = harness.run(None, &[(path, source)], None, &[], input).await;
        assert_eq!(outcome.plan.runtime_id, id);
        outcome.assert_prints("20\n");
    }
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_state_persists_across_runs_in_a_box() {
    if !require_root("sqlite_state_persists_across_runs_in_a_box") || !available("sqlite", "sqlite state") {
        return;
    }
    let harness = Harness::start().await;
    let first = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\nINSERT INTO notes (body) VALUES ('first');\nSELECT count(*) FROM notes;\n";
    harness.run(None, &[("main.sql", first)], None, &[], "").await.assert_prints("1\n");
    // The next run replaces the workspace's files; the database is kept.
    let second = "INSERT INTO notes (body) VALUES ('second');\nSELECT id, body FROM notes ORDER BY id;\n";
    harness.run(None, &[("main.sql", second)], None, &[], "").await.assert_prints("1|first\n2|second\n");
    let snapshot = harness.backend.get_files(&harness.id, vec![], 1 << 20).await.unwrap();
    let paths: Vec<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, [".bytesbox/session.sqlite3", "main.sql"]);
    // An SQL error stops the script (-bail) and is the run's failure.
    let bad = "SELECT 1;\nSELECT * FROM missing;\nSELECT 2;\n";
    let outcome = harness.run(None, &[("main.sql", bad)], None, &[], "").await;
    let run = outcome.run();
    assert_eq!((run.report.status, run.stdout_text().as_str()), (RunStatus::Nonzero, "1\n"));
    assert!(run.stderr_text().contains("no such table: missing"), "{}", run.stderr_text());
    // Without `keep`, replacing the files would drop the state: it is the
    // plan's `keep` that preserves it.
    harness
        .backend
        .put_files(&harness.id, vec![FileEntry::new("main.sql", "SELECT 1;")], PutMode::Replace { keep: vec![] })
        .await
        .unwrap();
    let outcome = harness.run(None, &[("main.sql", "SELECT count(*) FROM notes;\n")], None, &[], "").await;
    assert!(outcome.run().stderr_text().contains("no such table: notes"), "{}", outcome.run().stderr_text());
    harness.finish().await;
}

/// Whether a line of `output` is a result row with exactly these cells:
/// psql's ` a | b ` and MariaDB's `| a | b |` alike.
fn has_row(output: &str, cells: &[&str]) -> bool {
    output.lines().any(|line| {
        let found: Vec<&str> = line.split('|').map(str::trim).filter(|cell| !cell.is_empty()).collect();
        found == cells
    })
}

/// The SQL servers the catalog runs in a box, by id.
const SQL_SERVERS: &[&str] = &["mysql", "postgresql"];

/// The SQL servers `test` can run on: none without root; each one that is
/// installed. `scripts/test` installs both (`ensure_sql_servers`), so a
/// missing one is a recorded skip, and a failure in CI.
fn sql_servers_here(test: &str) -> Vec<&'static str> {
    if !require_root(test) {
        return Vec::new();
    }
    let installed = |id: &&str| {
        let status = statuses().iter().find(|s| s.id == *id).expect("a catalog runtime");
        let problem = (!status.available).then(|| status.reason.clone().unwrap_or_default());
        bytesbox_testkit::require_prerequisite(
            test,
            "MariaDB and PostgreSQL (scripts/lib.sh: ensure_sql_servers)",
            problem,
        )
    };
    SQL_SERVERS.iter().copied().filter(installed).collect()
}

/// A course exercise that both dialects run as it is: tables, rows, a join
/// with GROUP BY through a view, a transaction rolled back, then a failed
/// statement (line 12) that the file goes on after.
const COURSE_EXERCISE: &str = "\
CREATE TABLE students (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL);
CREATE TABLE grades (student_id INT NOT NULL REFERENCES students (id), course VARCHAR(40) NOT NULL, grade INT NOT NULL);
INSERT INTO students VALUES (1, 'Ada'), (2, 'Alan'), (3, 'Grace');
INSERT INTO grades VALUES (1, 'math', 90), (1, 'logic', 95), (2, 'math', 80), (3, 'logic', 70);
CREATE VIEW averages AS SELECT s.name, ROUND(AVG(g.grade), 1) AS average, COUNT(*) AS courses FROM students s JOIN grades g ON g.student_id = s.id GROUP BY s.name;
SELECT name, average, courses FROM averages ORDER BY name;
BEGIN;
DELETE FROM grades;
SELECT COUNT(*) AS during_the_transaction FROM grades;
ROLLBACK;
SELECT COUNT(*) AS after_the_rollback FROM grades;
SELECT missing_column FROM students;
SELECT 'went on' AS after_the_error;
";

/// Whether the run's output names the failed statement's line: psql says
/// `main.sql:12:`, MariaDB's client `at line 12`.
fn reports_error_on_line(output: &str, line: u32, needle: &str) -> bool {
    output.lines().any(|l| {
        l.contains(needle) && (l.contains(&format!("main.sql:{line}:")) || l.contains(&format!("at line {line}")))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_course_exercise_and_state_across_runs_on_each_server() {
    for id in sql_servers_here("sql_course_exercise_and_state_across_runs_on_each_server") {
        let harness = Harness::start().await;
        let outcome = harness.run(Some(id), &[("main.sql", COURSE_EXERCISE)], None, &[], "").await;
        let run = outcome.run();
        let output = run.stdout_text();
        for row in
            [&["Ada", "92.5", "2"][..], &["Alan", "80.0", "1"], &["Grace", "70.0", "1"], &["0"], &["4"], &["went on"]]
        {
            assert!(has_row(&output, row), "{id}: no row {row:?} in\n{output}{}\n{:?}", run.stderr_text(), run.report);
        }
        let during = output.find("during_the_transaction").expect("the count inside the transaction");
        let after = output.find("after_the_rollback").expect("the count after the rollback");
        assert!(
            during < after && after < output.find("went on").unwrap(),
            "{id}: results in statement order\n{output}"
        );
        assert!(reports_error_on_line(&output, 12, "missing_column"), "{id}: the error and its line\n{output}");
        assert_eq!(run.report.status, RunStatus::Nonzero, "{id}: a failed statement fails the run\n{output}");

        // The next run replaces the files; the database is kept.
        let next = "INSERT INTO students VALUES (4, 'Edsger');\nSELECT COUNT(*) AS students FROM students;\n";
        harness.run(Some(id), &[("main.sql", next)], None, &[], "").await.assert_result_rows(&[&["4"]]);
        let view = "SELECT name, courses FROM averages WHERE name = 'Ada';\n";
        harness.run(Some(id), &[("main.sql", view)], None, &[], "").await.assert_result_rows(&[&["Ada", "2"]]);

        // A second box (another session) has a database of its own.
        let other = Harness::start().await;
        let outcome = other.run(Some(id), &[("main.sql", "SELECT COUNT(*) FROM students;\n")], None, &[], "").await;
        let output = outcome.run().stdout_text();
        assert!(output.contains("students"), "{id}: the other box's server says the table is missing\n{output}");
        assert_eq!(outcome.run().report.status, RunStatus::Nonzero, "{id}: {output}");
        other.finish().await;
        harness.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_sql_query_stops_at_the_time_limit_and_the_next_run_works() {
    // A cross join of ten million rows per table pair, counted: far past any limit.
    let setup = "CREATE TABLE digits (d INT);\nINSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);\n";
    let runaway = "SELECT COUNT(*) FROM digits a, digits b, digits c, digits d, digits e, digits f, digits g, digits h, digits i, digits j;\n";
    for id in sql_servers_here("a_runaway_sql_query_stops_at_the_time_limit_and_the_next_run_works") {
        // Every run of this box ends within 5 s; the setup takes far less.
        let harness = Harness::start_with(RunLimits { wall_time_ms: 5_000, ..RunLimits::default() }).await;
        harness.run(Some(id), &[("main.sql", setup)], None, &[], "").await;
        let outcome = harness.run(Some(id), &[("main.sql", runaway)], None, &[], "").await;
        assert_eq!(outcome.run().report.status, RunStatus::Timeout, "{id}: {:?}", outcome.run().report);
        // The server died with the run; the next one recovers the data.
        let after = "SELECT COUNT(*) AS digits FROM digits;\n";
        harness.run(Some(id), &[("main.sql", after)], None, &[], "").await.assert_result_rows(&[&["10"]]);
        harness.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_servers_start_and_answer_within_their_minimum_memory() {
    for id in sql_servers_here("sql_servers_start_and_answer_within_their_minimum_memory") {
        let runtime = Catalog::builtin().get(id).cloned().expect("a catalog runtime");
        let needed_mb = runtime.min_memory_mb.expect("the SQL servers say what they need");
        let limits = RunLimits { memory_bytes: needed_mb * 1024 * 1024, ..RunLimits::default() };
        let harness = Harness::start_with(limits).await;
        // The first run makes the data directory, the second starts on it.
        for round in ["cold", "warm"] {
            let outcome = harness.run(Some(id), &[("main.sql", COURSE_EXERCISE)], None, &[], "").await;
            let run = outcome.run();
            let output = run.stdout_text();
            assert!(
                has_row(&output, &["went on"]),
                "{id} ({round}, {needed_mb} MiB): {:?}\n{output}{}",
                run.report,
                run.stderr_text()
            );
            eprintln!("{id} {round} at {needed_mb} MiB: peak {} MiB", run.report.peak_memory_bytes >> 20);
            // The tables exist from the cold round on; start afresh.
            let drop = "DROP VIEW averages;\nDROP TABLE grades;\nDROP TABLE students;\n";
            harness.run(Some(id), &[("main.sql", drop)], None, &[], "").await.assert_result_rows(&[]);
        }
        harness.finish().await;
    }
}
