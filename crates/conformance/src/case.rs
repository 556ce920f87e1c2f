//! Corpus cases: `case.toml` parsing, validation, and resolution for one
//! backend (templating plus that backend's documented differences).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytesbox_sandbox::{BoxLimits, RunLimits};
use serde::Deserialize;

use crate::expect::{decode_hex, AfterCheck, Expect, ResolvedAfter};
use crate::template::{self, TemplateVars, PLACEHOLDERS};

/// Backends a `[backend_differences.<name>]` table may name.
pub const KNOWN_BACKENDS: [&str; 2] = ["native", "docker"];

/// Where a C case's binary is built (in the box).
pub const C_BINARY: &str = "/tmp/prog";

/// The corpus directory holding files several cases share. It is not a
/// case; a case lists the files it needs in `shared = [...]`, and they are
/// put into its workspace next to its own files.
pub const SHARED_DIR: &str = "_shared";

/// Why the corpus or one case could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `case.toml` is not valid TOML or does not match the schema.
    #[error("case {case}: invalid case.toml: {message}")]
    Parse {
        /// The case (directory) name.
        case: String,
        /// The parser's message.
        message: String,
    },
    /// The case parses but breaks a corpus rule.
    #[error("case {case}: {message}")]
    Invalid {
        /// The case name.
        case: String,
        /// What is wrong.
        message: String,
    },
    /// Two cases share a name.
    #[error("duplicate case name {0}")]
    Duplicate(String),
    /// The corpus directory holds no case.
    #[error("the corpus at {0} holds no case")]
    Empty(PathBuf),
    /// A selection of cases names cases the corpus does not have.
    #[error("{variable} names cases the corpus does not have: {unknown}; the cases are: {known}")]
    UnknownCases {
        /// Where the selection came from.
        variable: &'static str,
        /// The names not found, comma-separated.
        unknown: String,
        /// Every case name, comma-separated.
        known: String,
    },
    /// A selection of cases is given but names none.
    #[error("{variable} is set but names no case: unset it to run every case, or name cases separated by commas")]
    EmptySelection {
        /// Where the selection came from.
        variable: &'static str,
    },
}

/// The language of a case's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// `python3 -B main.py` (`-B`: modules imported from the workspace,
    /// such as shared ones, leave no `__pycache__` behind).
    Python,
    /// `gcc -O2 -o /tmp/prog main.c` as a separate run, then `/tmp/prog`.
    C,
    /// `/bin/sh main.sh`.
    Shell,
    /// `main.sql` on MariaDB in the box, as the catalog's `mysql` runs it.
    Mysql,
    /// `main.sql` on PostgreSQL in the box, as the catalog's `postgresql`
    /// runs it.
    Postgresql,
}

impl Language {
    /// The source file every case of this language must have.
    pub fn main_file(self) -> &'static str {
        match self {
            Language::Python => "main.py",
            Language::C => "main.c",
            Language::Shell => "main.sh",
            Language::Mysql | Language::Postgresql => "main.sql",
        }
    }

    /// Every language.
    pub const ALL: [Language; 5] =
        [Language::Python, Language::C, Language::Shell, Language::Mysql, Language::Postgresql];

    /// The build run, for compiled languages.
    pub fn compile_argv(self) -> Option<Vec<String>> {
        match self {
            Language::C => Some(["gcc", "-O2", "-o", C_BINARY, "main.c"].map(String::from).to_vec()),
            Language::Python | Language::Shell | Language::Mysql | Language::Postgresql => None,
        }
    }

    /// The argv of the case's main run.
    pub fn run_argv(self, args: &[String]) -> Vec<String> {
        let mut argv: Vec<String> = match self {
            Language::Python => vec!["python3".into(), "-B".into(), "main.py".into()],
            Language::C => vec![C_BINARY.into()],
            Language::Shell => vec!["/bin/sh".into(), "main.sh".into()],
            Language::Mysql => catalog_run_argv("mysql"),
            Language::Postgresql => catalog_run_argv("postgresql"),
        };
        argv.extend(args.iter().cloned());
        argv
    }
}

/// The run command the built-in catalog gives `main.sql` in `language`:
/// the cases attack the database servers exactly as a session runs them.
fn catalog_run_argv(language: &str) -> Vec<String> {
    let files = [bytesbox_runtimes::ProjectFile::new("main.sql", b"")];
    match bytesbox_runtimes::Catalog::builtin().resolve(Some(language), &files, None) {
        Ok(plan) => plan.run.argv,
        Err(e) => panic!("the built-in catalog plans no {language} run: {e}"),
    }
}

/// A backend that cannot give the same result: what it gives instead, and why.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendDifference {
    /// Why the backend differs. Mandatory and non-empty.
    pub reason: String,
    /// `[expect]` keys replaced for this backend.
    #[serde(default)]
    pub expect: Option<toml::Table>,
    /// Replaces the `[[after]]` list for this backend.
    #[serde(default)]
    pub after: Option<Vec<AfterCheck>>,
}

/// The schema of `case.toml`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    /// Unique name; equals the directory name.
    pub name: String,
    /// What the case attacks and what must happen.
    pub description: String,
    /// The program's language.
    pub language: Language,
    /// Files of the corpus's [`SHARED_DIR`] put into the workspace too.
    #[serde(default)]
    pub shared: Vec<String>,
    /// Extra arguments after the program.
    #[serde(default)]
    pub args: Vec<String>,
    /// Text written to stdin (then stdin is closed).
    #[serde(default)]
    pub stdin: Option<String>,
    /// Bytes written to stdin, as hex.
    #[serde(default)]
    pub stdin_hex: Option<String>,
    /// Run limit overrides (unset fields keep their defaults).
    #[serde(default)]
    pub limits: RunLimits,
    /// Box limit overrides.
    #[serde(default)]
    pub box_limits: BoxLimits,
    /// Leave the box alive after the case (the caller destroys it).
    #[serde(default)]
    pub keep_box: bool,
    /// The main run's expectations.
    pub expect: Expect,
    /// Follow-up checks in the same box.
    #[serde(default)]
    pub after: Vec<AfterCheck>,
    /// Per-backend documented differences.
    #[serde(default)]
    pub backend_differences: BTreeMap<String, BackendDifference>,
}

/// One file put into the box's workspace before the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Workspace-relative path.
    pub path: String,
    /// Content (templated when it is UTF-8).
    pub content: Vec<u8>,
}

/// A loaded, validated corpus case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique name.
    pub name: String,
    /// What it attacks.
    pub description: String,
    /// The program's language.
    pub language: Language,
    /// The case directory (empty for in-memory cases).
    pub dir: PathBuf,
    /// Source files, untemplated: the case's own and the shared ones it
    /// lists, sorted by path.
    pub files: Vec<SourceFile>,
    spec: CaseSpec,
    raw: toml::Table,
}

/// A case made concrete for one backend and one host context.
#[derive(Clone, Debug)]
pub struct ResolvedCase {
    /// The templated spec, with the backend's differences applied.
    pub spec: CaseSpec,
    /// Templated source files.
    pub files: Vec<SourceFile>,
    /// Bytes for stdin.
    pub stdin: Vec<u8>,
    /// Follow-up checks, presets expanded.
    pub after: Vec<ResolvedAfter>,
    /// The reason of the applied backend difference, if any.
    pub difference: Option<String>,
    /// Whether the main run is under a terminal ([`ResolvedCase::under_a_terminal`]).
    pub terminal: bool,
}

impl ResolvedCase {
    /// The case with its main run under a terminal, or why it cannot be:
    /// a case that writes to stdin is left out, since a terminal echoes
    /// its input into the output and edits it by line (those paths are the
    /// terminal protocol tests' to check).
    pub fn under_a_terminal(mut self) -> Result<ResolvedCase, &'static str> {
        if !self.stdin.is_empty() {
            return Err("it writes to stdin, which a terminal echoes and edits");
        }
        self.spec.expect = self.spec.expect.under_a_terminal();
        self.terminal = true;
        Ok(self)
    }
}

fn invalid(case: &str, message: impl Into<String>) -> CorpusError {
    CorpusError::Invalid { case: case.to_string(), message: message.into() }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CorpusError {
    let path = path.to_path_buf();
    move |source| CorpusError::Io { path, source }
}

fn parse_table(case: &str, text: &str) -> Result<toml::Table, CorpusError> {
    toml::from_str(text)
        .map_err(|e| CorpusError::Parse { case: case.to_string(), message: e.to_string().trim().to_string() })
}

/// The files of a case directory except `case.toml`; it must be flat.
fn read_flat_dir(dir: &Path, case: &str) -> Result<Vec<SourceFile>, CorpusError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "case.toml" {
            continue;
        }
        if !entry.file_type().map_err(io_error(&path))?.is_file() {
            return Err(invalid(case, format!("{name} is not a regular file; case directories are flat")));
        }
        let content = std::fs::read(&path).map_err(io_error(&path))?;
        files.push(SourceFile { path: name, content });
    }
    Ok(files)
}

/// A shared file is named by its plain file name, and is never a case's
/// `case.toml` or main program.
fn check_shared_name(case: &str, name: &str) -> Result<(), CorpusError> {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0']);
    let reserved = name == "case.toml" || Language::ALL.iter().any(|l| l.main_file() == name);
    if !plain || reserved {
        return Err(invalid(
            case,
            format!("shared = [..]: {name:?} must be a plain file name other than case.toml and main.*"),
        ));
    }
    Ok(())
}

fn parse_spec(case: &str, table: toml::Table) -> Result<CaseSpec, CorpusError> {
    toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| CorpusError::Parse {
        case: case.to_string(),
        message: e.to_string().trim().to_string(),
    })
}

impl Case {
    /// Loads one case directory, with the files it lists in `shared` from
    /// the [`SHARED_DIR`] next to it.
    pub fn from_dir(dir: &Path) -> Result<Case, CorpusError> {
        let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let toml_path = dir.join("case.toml");
        let text = std::fs::read_to_string(&toml_path).map_err(io_error(&toml_path))?;
        let raw = parse_table(&dir_name, &text)?;
        let spec = parse_spec(&dir_name, raw.clone())?;
        let mut files = read_flat_dir(dir, &dir_name)?;
        let own = files.len();
        let shared_dir = dir.parent().unwrap_or(Path::new("")).join(SHARED_DIR);
        for name in &spec.shared {
            check_shared_name(&dir_name, name)?;
            if files[..own].iter().any(|f| &f.path == name) {
                return Err(invalid(&dir_name, format!("{name} is both its own file and a shared one")));
            }
            let path = shared_dir.join(name);
            if !path.symlink_metadata().is_ok_and(|m| m.is_file()) {
                return Err(invalid(
                    &dir_name,
                    format!("shared file {name} is not a regular file in {}", shared_dir.display()),
                ));
            }
            let content = std::fs::read(&path).map_err(io_error(&path))?;
            files.push(SourceFile { path: name.clone(), content });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut case = Case::from_spec(&dir_name, raw, spec, files)?;
        case.dir = dir.to_path_buf();
        Ok(case)
    }

    /// Builds and validates a case from its `case.toml` text and files.
    /// `dir_name` is the name the case must have; `files` must include the
    /// shared files the case lists.
    pub fn from_parts(dir_name: &str, toml_text: &str, files: Vec<SourceFile>) -> Result<Case, CorpusError> {
        let raw = parse_table(dir_name, toml_text)?;
        let spec = parse_spec(dir_name, raw.clone())?;
        Case::from_spec(dir_name, raw, spec, files)
    }

    fn from_spec(
        dir_name: &str,
        raw: toml::Table,
        spec: CaseSpec,
        files: Vec<SourceFile>,
    ) -> Result<Case, CorpusError> {
        let case = Case {
            name: spec.name.clone(),
            description: spec.description.clone(),
            language: spec.language,
            dir: PathBuf::new(),
            files,
            spec,
            raw,
        };
        case.validate(dir_name)?;
        Ok(case)
    }

    fn validate(&self, dir_name: &str) -> Result<(), CorpusError> {
        let spec = &self.spec;
        let name_ok = !spec.name.is_empty()
            && spec.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err(invalid(dir_name, format!("name {:?} must be [a-z0-9_]+", spec.name)));
        }
        if spec.name != dir_name {
            return Err(invalid(dir_name, format!("name {:?} differs from its directory name", spec.name)));
        }
        let case = spec.name.as_str();
        if spec.description.trim().is_empty() {
            return Err(invalid(case, "description is empty"));
        }
        let main = spec.language.main_file();
        if !self.files.iter().any(|f| f.path == main) {
            return Err(invalid(case, format!("a {:?} case needs {main}", spec.language)));
        }
        for (index, name) in spec.shared.iter().enumerate() {
            check_shared_name(case, name)?;
            if spec.shared[..index].contains(name) {
                return Err(invalid(case, format!("shared file {name} is listed twice")));
            }
            if !self.files.iter().any(|f| &f.path == name) {
                return Err(invalid(case, format!("shared file {name} is missing")));
            }
        }
        if spec.stdin.is_some() && spec.stdin_hex.is_some() {
            return Err(invalid(case, "stdin and stdin_hex exclude each other"));
        }
        if let Some(hex) = &spec.stdin_hex {
            decode_hex(hex).map_err(|e| invalid(case, format!("stdin_hex: {e}")))?;
        }
        spec.limits.validate_within(&RunLimits::hard_maximum()).map_err(|e| invalid(case, format!("[limits]: {e}")))?;
        spec.box_limits.validate().map_err(|e| invalid(case, format!("[box_limits]: {e}")))?;
        spec.expect.validate().map_err(|e| invalid(case, e))?;
        for after in &spec.after {
            after.validate().map_err(|e| invalid(case, e))?;
        }
        self.validate_placeholders()?;
        for (backend, difference) in &spec.backend_differences {
            if difference.reason.trim().is_empty() {
                return Err(invalid(case, format!("backend_differences.{backend} has an empty reason")));
            }
            if difference.expect.is_none() && difference.after.is_none() {
                return Err(invalid(case, format!("backend_differences.{backend} changes nothing")));
            }
            for after in difference.after.iter().flatten() {
                after.validate().map_err(|e| invalid(case, format!("backend_differences.{backend}: {e}")))?;
            }
        }
        // Every backend's resolution must parse and still hold expectations.
        let vars = TemplateVars::example();
        for backend in spec.backend_differences.keys().map(String::as_str).chain(["native"]) {
            let resolved = self.resolve(backend, &vars)?;
            resolved.spec.expect.validate().map_err(|e| invalid(case, format!("for backend {backend}: {e}")))?;
        }
        Ok(())
    }

    fn validate_placeholders(&self) -> Result<(), CorpusError> {
        let mut texts: Vec<(String, String)> = Vec::new();
        collect_strings(&toml::Value::Table(self.raw.clone()), &mut texts, "case.toml");
        for file in &self.files {
            if let Ok(text) = std::str::from_utf8(&file.content) {
                texts.push((file.path.clone(), text.to_string()));
            }
        }
        for (origin, text) in &texts {
            for name in template::placeholders(text) {
                if !PLACEHOLDERS.contains(&name) {
                    return Err(invalid(&self.name, format!("{origin}: unknown placeholder {{{{{name}}}}}")));
                }
            }
        }
        Ok(())
    }

    /// The parsed spec, placeholders not substituted.
    pub fn spec(&self) -> &CaseSpec {
        &self.spec
    }

    /// Templates the case and applies `backend`'s differences.
    pub fn resolve(&self, backend: &str, vars: &TemplateVars) -> Result<ResolvedCase, CorpusError> {
        let case = self.name.as_str();
        let mut raw = self.raw.clone();
        let difference = self.spec.backend_differences.get(backend);
        if let Some(difference) = difference {
            if let Some(overrides) = &difference.expect {
                let expect = raw.entry("expect").or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let toml::Value::Table(expect) = expect else {
                    return Err(invalid(case, "[expect] is not a table"));
                };
                for (key, value) in overrides {
                    expect.insert(key.clone(), value.clone());
                }
            }
            if let Some(after) =
                raw.get("backend_differences").and_then(|d| d.get(backend)).and_then(|d| d.get("after")).cloned()
            {
                raw.insert("after".into(), after);
            }
        }
        let mut value = toml::Value::Table(raw);
        template::render_toml(&mut value, vars).map_err(|e| invalid(case, e.to_string()))?;
        let toml::Value::Table(table) = value else {
            return Err(invalid(case, "case.toml is not a table"));
        };
        let spec = parse_spec(case, table)?;
        let mut files = Vec::with_capacity(self.files.len());
        for file in &self.files {
            let content = match std::str::from_utf8(&file.content) {
                Ok(text) => {
                    template::render(text, vars).map_err(|e| invalid(case, format!("{}: {e}", file.path)))?.into_bytes()
                }
                Err(_) => file.content.clone(),
            };
            files.push(SourceFile { path: file.path.clone(), content });
        }
        let stdin = match (&spec.stdin, &spec.stdin_hex) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(hex)) => decode_hex(hex).map_err(|e| invalid(case, format!("stdin_hex: {e}")))?,
            (None, None) => Vec::new(),
        };
        let after = spec.after.iter().map(AfterCheck::resolve).collect();
        Ok(ResolvedCase {
            files,
            stdin,
            after,
            difference: difference.map(|d| d.reason.clone()),
            spec,
            terminal: false,
        })
    }
}

fn collect_strings(value: &toml::Value, out: &mut Vec<(String, String)>, origin: &str) {
    match value {
        toml::Value::String(s) => out.push((origin.to_string(), s.clone())),
        toml::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out, origin)),
        toml::Value::Table(table) => table.values().for_each(|i| collect_strings(i, out, origin)),
        _ => {}
    }
}

/// Loads every case directory under `root` (all but [`SHARED_DIR`]),
/// sorted by name.
pub fn load_corpus_from(root: &Path) -> Result<Vec<Case>, CorpusError> {
    let io = |source| CorpusError::Io { path: root.to_path_buf(), source };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_dir() && entry.file_name() != SHARED_DIR {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    let mut cases: Vec<Case> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let case = Case::from_dir(&dir)?;
        if cases.iter().any(|c| c.name == case.name) {
            return Err(CorpusError::Duplicate(case.name));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err(CorpusError::Empty(root.to_path_buf()));
    }
    Ok(cases)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytesbox_sandbox::RunStatus;

    use super::*;

    fn case(toml_text: &str) -> Result<Case, CorpusError> {
        Case::from_parts(
            "t",
            toml_text,
            vec![SourceFile { path: "main.sh".into(), content: b"echo {{host_port}}".to_vec() }],
        )
    }

    const MINIMAL: &str = "name = 't'\ndescription = 'd'\nlanguage = 'shell'\n[expect]\nstatus = 'ok'\n";

    #[test]
    fn minimal_case_parses_with_defaults() {
        let c = case(MINIMAL).unwrap();
        assert_eq!(c.spec().limits, RunLimits::default());
        assert_eq!(c.spec().expect.status, vec![RunStatus::Ok]);
        assert_eq!(c.spec().expect.expectation_count(), 1);
        let r = c.resolve("native", &TemplateVars::new(77, "s", "/p", "a")).unwrap();
        assert_eq!(r.files[0].content, b"echo 77");
        assert!(r.difference.is_none());
        assert_eq!(Language::Shell.run_argv(&r.spec.args), vec!["/bin/sh", "main.sh"]);
    }

    #[test]
    fn status_lists_limits_and_after_presets_parse() {
        let c = case(&format!(
            "{MINIMAL}signal = [11, 6]\nstdout_contains = ['a', 'b']\n[limits]\nwall_time_ms = 500\n\
             [[after]]\npreset = 'no_survivors'\n[[after]]\nargv = ['cat', 'x']\nstdout_contains = 'y'\ndelay_ms = 5\n"
        ))
        .unwrap();
        assert_eq!(c.spec().limits.wall_time_ms, 500);
        assert_eq!(c.spec().limits.pids, RunLimits::default().pids);
        assert_eq!(c.spec().expect.signal, vec![11, 6]);
        let r = c.resolve("native", &TemplateVars::example()).unwrap();
        assert_eq!(r.after[0].stdout_contains, vec!["survivors=0"]);
        assert_eq!(r.after[1].argv, vec!["cat", "x"]);
        assert_eq!(r.after[1].status, vec![RunStatus::Ok]);
        assert_eq!(r.after[1].delay_ms, 5);
    }

    #[test]
    fn schema_errors_are_reported() {
        for (bad, needle) in [
            ("name = 't'\ndescription = 'd'\nlanguage = 'shell'\n", "expect"),
            (&format!("{MINIMAL}bogus = 1\n"), "bogus"),
            (&MINIMAL.replace("'ok'", "'fine'"), "status"),
            (&MINIMAL.replace("'shell'", "'rust'"), "rust"),
            (&format!("{MINIMAL}[limits]\nmemory = 5\n"), "memory"),
            (&MINIMAL.replace("description = 'd'", "description = ' '"), "description"),
            (&MINIMAL.replace("name = 't'", "name = 'u'"), "directory"),
            (&format!("{MINIMAL}[[after]]\nargv = ['true']\n"), "stdout_contains"),
            (&format!("{MINIMAL}[[after]]\npreset = 'alive'\nargv = ['x']\n"), "both"),
            (&format!("{MINIMAL}stdout_exact_hex = 'abc'\n"), "odd"),
            (&format!("{MINIMAL}stdout_contains = '{{{{host_prot}}}}'\n"), "host_prot"),
            (&format!("{MINIMAL}[limits]\npids = 0\n"), "pids"),
        ] {
            let err = case(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?} -> {err}");
        }
        let err = Case::from_parts("t", MINIMAL, vec![]).unwrap_err().to_string();
        assert!(err.contains("main.sh"), "{err}");
    }

    #[test]
    fn backend_differences_need_a_reason_and_apply_per_backend() {
        let without_reason = format!("{MINIMAL}[backend_differences.docker.expect]\nstatus = 'nonzero'\n");
        let err = case(&without_reason).unwrap_err().to_string();
        assert!(err.contains("reason"), "{err}");
        let empty_reason =
            format!("{MINIMAL}[backend_differences.docker]\nreason = ''\n[backend_differences.docker.expect]\nstatus = 'nonzero'\n");
        assert!(case(&empty_reason).unwrap_err().to_string().contains("empty reason"));
        let no_change = format!("{MINIMAL}[backend_differences.docker]\nreason = 'because'\n");
        assert!(case(&no_change).unwrap_err().to_string().contains("changes nothing"));
        let broken = format!(
            "{MINIMAL}[backend_differences.docker]\nreason = 'r'\n[backend_differences.docker.expect]\nstatus = 'nope'\n"
        );
        assert!(case(&broken).is_err());

        let good = format!(
            "{MINIMAL}stdout_contains = 'x'\n[backend_differences.docker]\nreason = 'docker cannot'\n\
             [backend_differences.docker.expect]\nstatus = ['nonzero', 'ok']\n\
             [[backend_differences.docker.after]]\npreset = 'alive'\n"
        );
        let c = case(&good).unwrap();
        let native = c.resolve("native", &TemplateVars::example()).unwrap();
        assert_eq!(native.spec.expect.status, vec![RunStatus::Ok]);
        assert!(native.after.is_empty());
        assert!(native.difference.is_none());
        let docker = c.resolve("docker", &TemplateVars::example()).unwrap();
        assert_eq!(docker.spec.expect.status, vec![RunStatus::Nonzero, RunStatus::Ok]);
        assert_eq!(docker.spec.expect.stdout_contains, vec!["x"], "untouched keys stay");
        assert_eq!(docker.after.len(), 1);
        assert_eq!(docker.difference.as_deref(), Some("docker cannot"));
    }

    #[test]
    fn stdin_forms() {
        let c = case(&format!("stdin_hex = '00ff41'\n{MINIMAL}")).unwrap();
        assert_eq!(c.resolve("native", &TemplateVars::example()).unwrap().stdin, vec![0, 0xff, 0x41]);
        let c = case(&format!("stdin = 'port {{{{host_port}}}}'\n{MINIMAL}")).unwrap();
        assert_eq!(c.resolve("native", &TemplateVars::new(5, "", "", "")).unwrap().stdin, b"port 5");
        assert!(case(&format!("stdin = 'a'\nstdin_hex = '00'\n{MINIMAL}")).is_err());
    }

    #[test]
    fn shared_files_must_be_listed_plain_once_and_present() {
        let shared = format!("shared = ['lib.sh']\n{MINIMAL}");
        let files = |names: &[&str]| -> Vec<SourceFile> {
            names.iter().map(|n| SourceFile { path: n.to_string(), content: b"true".to_vec() }).collect()
        };
        let c = Case::from_parts("t", &shared, files(&["lib.sh", "main.sh"])).unwrap();
        assert_eq!(c.spec().shared, vec!["lib.sh"]);
        let err = Case::from_parts("t", &shared, files(&["main.sh"])).unwrap_err().to_string();
        assert!(err.contains("shared file lib.sh is missing"), "{err}");
        for bad in ["../x.sh", "a/b.sh", "", ".hidden", "main.sh", "case.toml", "main.py"] {
            let text = format!("shared = ['{bad}']\n{MINIMAL}");
            let err = Case::from_parts("t", &text, files(&["main.sh", bad])).unwrap_err().to_string();
            assert!(err.contains("plain file name"), "{bad:?} -> {err}");
        }
        let twice = format!("shared = ['lib.sh', 'lib.sh']\n{MINIMAL}");
        let err = Case::from_parts("t", &twice, files(&["lib.sh", "main.sh"])).unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn corpus_directories_get_their_shared_files_and_shared_is_no_case() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        write(&root.join(SHARED_DIR).join("lib.sh"), "greet() { echo {{host_port}}; }\n");
        write(&root.join(SHARED_DIR).join("unused.sh"), "exit 1\n");
        write(&root.join("t/case.toml"), &format!("shared = ['lib.sh']\n{MINIMAL}"));
        write(&root.join("t/main.sh"), ". ./lib.sh; greet\n");
        let cases = load_corpus_from(root).unwrap();
        assert_eq!(cases.len(), 1, "{SHARED_DIR} is not a case");
        let paths: Vec<&str> = cases[0].files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["lib.sh", "main.sh"], "only the listed shared files, next to main.sh");
        let resolved = cases[0].resolve("native", &TemplateVars::new(9, "", "", "")).unwrap();
        assert_eq!(resolved.files[0].content, b"greet() { echo 9; }\n", "shared files are templated too");

        write(&root.join("t/lib.sh"), "own\n");
        let err = load_corpus_from(root).unwrap_err().to_string();
        assert!(err.contains("both its own file and a shared one"), "{err}");
        std::fs::remove_file(root.join("t/lib.sh")).unwrap();

        write(&root.join("t/case.toml"), &format!("shared = ['nope.sh']\n{MINIMAL}"));
        let err = load_corpus_from(root).unwrap_err().to_string();
        assert!(err.contains("shared file nope.sh is not a regular file in"), "{err}");
        write(&root.join("t/case.toml"), &format!("shared = ['../t/main.sh']\n{MINIMAL}"));
        let err = load_corpus_from(root).unwrap_err().to_string();
        assert!(err.contains("plain file name"), "{err}");
    }
}
