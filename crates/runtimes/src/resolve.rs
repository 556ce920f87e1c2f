//! Turning a project into stages: choosing the runtime and the entry file,
//! then filling the runtime's command templates.

use std::collections::BTreeSet;

use bytesbox_sandbox::{FileEntry, RunLimits, RunSpec, SandboxError};

use crate::catalog::{Catalog, CommandTemplate, MainClass, Runtime};
use crate::lexer;
use crate::template::Values;
use crate::CatalogError;

const MIB: u64 = 1024 * 1024;

/// `{mode}` of a stage that runs the project.
const RUN_MODE: &str = "run";
/// `{mode}` of the command that starts a session's server.
const SERVE_MODE: &str = "serve";
/// `{mode}` of the command that makes the host's template of the state.
const TEMPLATE_MODE: &str = "template";
/// `{mode}` of a run with structured results (`Plan::results`).
const RESULTS_MODE: &str = "results";

/// Where the structured results' client of the SQL runtimes goes in the
/// workspace: the `results` mode of their command runs it from there.
pub const SQL_RESULTS_CLIENT_PATH: &str = ".bytesbox/sql_results.py";
/// The structured results' client (`docs/sql.md`, "Structured results"):
/// runs a `.sql` file statement by statement and prints one JSON object
/// per result.
pub const SQL_RESULTS_CLIENT: &str = include_str!("../sql_results.py");

/// At most this many candidates are named in an error message.
const MAX_LISTED: usize = 10;

/// The fixed script that empties and recreates the build directory ("$1")
/// before running the compiler (the remaining arguments). Names reach it
/// only as positional parameters.
pub const CLEAN_OUT_SCRIPT: &str = r#"rm -rf -- "$1" && mkdir -p -- "$1" && shift && exec "$@""#;

/// One file of the project: a workspace-relative path and its bytes. The
/// bytes are read only for the entry file (Java's package and class) and,
/// when several files could be the entry, to find the one with a `main`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectFile<'a> {
    /// Workspace-relative path (`src/main.c`).
    pub path: &'a str,
    /// Contents.
    pub content: &'a [u8],
}

impl<'a> ProjectFile<'a> {
    /// A file with its contents.
    pub fn new(path: &'a str, content: &'a [u8]) -> Self {
        ProjectFile { path, content }
    }
}

impl<'a> From<&'a FileEntry> for ProjectFile<'a> {
    fn from(entry: &'a FileEntry) -> Self {
        ProjectFile { path: &entry.path, content: &entry.content }
    }
}

/// What a plan's commands are built for: the program's arguments and the
/// run's limits, already checked by whoever took them in; the stages run
/// with them, and command lines mention some (`{memory_mb}`, `{cpus}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunContext {
    /// Arguments for the program (`{args}`).
    pub args: Vec<String>,
    /// Limits of the run stage.
    pub limits: RunLimits,
}

impl Default for RunContext {
    /// No arguments, the default run limits.
    fn default() -> Self {
        RunContext::new(&RunLimits::default(), Vec::new())
    }
}

impl RunContext {
    /// A context for runs with these limits and arguments.
    pub fn new(limits: &RunLimits, args: Vec<String>) -> Self {
        RunContext { args, limits: limits.clone() }
    }
}

/// One program to start in the box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Program and arguments; each project file name is one item.
    pub argv: Vec<String>,
    /// Environment variables to add.
    pub env: Vec<(String, String)>,
    /// Absolute in-box working directory; empty means the workspace.
    pub cwd: String,
    /// The limits the stage runs with and its command line was built
    /// for: the run's, with a compiler's minimum memory (`min_memory_mb`)
    /// when that is larger.
    pub limits: RunLimits,
}

impl Stage {
    /// A batch [`RunSpec`] for this stage, with its limits.
    pub fn run_spec(&self) -> RunSpec {
        RunSpec {
            argv: self.argv.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            limits: self.limits.clone(),
            ..RunSpec::default()
        }
    }
}

/// How to build and run a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The runtime's id.
    pub runtime_id: String,
    /// The entry file, when the runtime uses one (C and C++ compile every
    /// source, and may have none).
    pub entry: Option<String>,
    /// The build stage; when it does not end `ok`, the run stage must not
    /// start, and its output is the compiler's message.
    pub compile: Option<Stage>,
    /// The program.
    pub run: Stage,
    /// For a runtime with a session server (`session_server`): the
    /// command that starts it and stays in the foreground, printing
    /// `ready` once it answers. Built with the run's limits; whoever
    /// starts it gives it its own.
    pub server: Option<Stage>,
    /// With `server`: the command that makes the host's template of the
    /// state, `{state_file}/template.tar.zst`, which the server command
    /// starts from when it finds it there (`catalog.toml`).
    pub template: Option<Stage>,
    /// For a runtime with `sql_results`: the run stage with structured
    /// results, which needs [`SQL_RESULTS_CLIENT`] at
    /// [`SQL_RESULTS_CLIENT_PATH`].
    pub results: Option<Stage>,
    /// The language's own state in the workspace (its SQLite file, its
    /// server's data directory), if it keeps any.
    pub state: Option<String>,
    /// Workspace-relative paths that hold state across runs: pass them as
    /// `PutMode::Replace { keep }` when replacing the workspace's files.
    /// Every runtime's state, whatever the run's language: a Python run in
    /// a session must not remove its SQLite file, or the data directory a
    /// running MariaDB of the session works on.
    pub keep: Vec<String>,
}

impl Catalog {
    /// Plans a run with no arguments and the default run limits. See
    /// [`Catalog::resolve_with`].
    pub fn resolve(
        &self,
        language: Option<&str>,
        files: &[ProjectFile<'_>],
        entry: Option<&str>,
    ) -> Result<Plan, CatalogError> {
        self.resolve_with(language, files, entry, &RunContext::default())
    }

    /// Plans a run: picks the runtime (by id or alias, else by the entry's
    /// extension, else by the project's sources), picks the entry file by
    /// the runtime's rule, and fills the runtime's commands.
    pub fn resolve_with(
        &self,
        language: Option<&str>,
        files: &[ProjectFile<'_>],
        entry: Option<&str>,
        context: &RunContext,
    ) -> Result<Plan, CatalogError> {
        bytesbox_sandbox::paths::validate_unique(files.iter().map(|f| f.path)).map_err(path_error)?;
        if let Some(entry) = entry {
            bytesbox_sandbox::paths::validate_relative(entry).map_err(path_error)?;
            if !files.iter().any(|f| f.path == entry) {
                return Err(CatalogError::EntryNotFound { entry: entry.into() });
            }
        }
        let runtime = self.pick_runtime(language, files, entry)?;
        if let Some(needed_mb) = runtime.min_memory_mb.filter(|mb| context.limits.memory_bytes < mb * MIB) {
            return Err(CatalogError::NotEnoughMemory {
                language: runtime.id.clone(),
                needed_mb,
                limit_mb: context.limits.memory_bytes / MIB,
            });
        }
        let mut sources: Vec<&ProjectFile<'_>> =
            files.iter().filter(|f| has_extension(f.path, &runtime.extensions)).collect();
        sources.sort_by_key(|f| f.path);
        let chosen = choose_entry(runtime, files, &sources, entry)?;

        let mut values = Values {
            out: self.out_dir.clone(),
            state_file: runtime.state_file.clone().unwrap_or_default(),
            cpus: context.limits.cpu_millicores.div_ceil(1000).max(1),
            sources: sources.iter().map(|f| f.path.to_string()).collect(),
            header_dirs: header_dirs(files, &runtime.headers),
            args: context.args.clone(),
            ..Values::default()
        };
        if let Some(file) = chosen {
            values.entry = file.path.to_string();
            values.entry_stem = file_stem(file.path).to_string();
            values.entry_noext = without_extension(file.path).to_string();
            values.entry_dir = file.path.rsplit_once('/').map_or(".", |(dir, _)| dir).to_string();
            if runtime.entry_rule.main_class == Some(MainClass::Java) {
                values.class = java_main_class(runtime, file)?;
            }
        }

        let compile = runtime.compile.as_ref().map(|template| {
            let floor = template.min_memory_mb.map_or(0, |mb| mb * MIB);
            let memory_bytes = context.limits.memory_bytes.max(floor);
            self.stage(template, &values, RunLimits { memory_bytes, ..context.limits.clone() }, RUN_MODE)
        });
        let run = self.stage(&runtime.run, &values, context.limits.clone(), RUN_MODE);
        let mode_stage = |mode| self.stage(&runtime.run, &values, context.limits.clone(), mode);
        let server = runtime.session_server.then(|| mode_stage(SERVE_MODE));
        let template = runtime.session_server.then(|| mode_stage(TEMPLATE_MODE));
        let results = runtime.sql_results.then(|| mode_stage(RESULTS_MODE));
        Ok(Plan {
            runtime_id: runtime.id.clone(),
            entry: chosen.map(|f| f.path.to_string()),
            compile,
            run,
            server,
            template,
            results,
            state: runtime.state_file.clone(),
            keep: self.state_files(),
        })
    }

    /// Every runtime's state file or directory, each once.
    fn state_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self.runtimes().iter().filter_map(|runtime| runtime.state_file.clone()).collect();
        files.sort();
        files.dedup();
        files
    }

    fn stage(&self, template: &CommandTemplate, values: &Values, limits: RunLimits, mode: &'static str) -> Stage {
        let values = Values {
            memory_mb: limits.memory_bytes.div_ceil(MIB),
            wall_time_ms: limits.wall_time_ms,
            mode,
            ..values.clone()
        };
        let mut argv = Vec::new();
        if template.clean_out {
            argv.extend(["sh", "-c", CLEAN_OUT_SCRIPT, "bytesbox-build", &self.out_dir].map(String::from));
        }
        for item in &template.parsed_argv {
            item.expand(&values, &mut argv);
        }
        let env = template.parsed_env.iter().map(|(key, value)| (key.clone(), value.expand_scalar(&values))).collect();
        Stage { argv, env, cwd: String::new(), limits }
    }

    fn pick_runtime(
        &self,
        language: Option<&str>,
        files: &[ProjectFile<'_>],
        entry: Option<&str>,
    ) -> Result<&Runtime, CatalogError> {
        if let Some(language) = language {
            return self
                .get(language)
                .ok_or_else(|| CatalogError::UnknownLanguage { language: language.into(), known: self.ids() });
        }
        if let Some(entry) = entry {
            return extension(entry)
                .and_then(|ext| self.by_extension(ext))
                .ok_or_else(|| CatalogError::UnknownExtension { entry: entry.into(), known: self.extensions() });
        }
        let present: Vec<&Runtime> = self
            .runtimes
            .iter()
            .filter(|rt| !rt.named_only && files.iter().any(|f| has_extension(f.path, &rt.extensions)))
            .collect();
        match present.as_slice() {
            [] => return Err(CatalogError::NoSources { known: self.extensions() }),
            [only] => return Ok(only),
            _ => {}
        }
        // Several languages: the one whose preferred entry name is there
        // (main.py next to a helper script), at the root first.
        let at_root = |rt: &&Runtime| rt.entry_rule.names.iter().any(|n| files.iter().any(|f| f.path == n));
        let anywhere = |rt: &&Runtime| rt.entry_rule.names.iter().any(|n| files.iter().any(|f| file_name(f.path) == n));
        for test in [&at_root as &dyn Fn(&&Runtime) -> bool, &anywhere] {
            if let [only] = present.iter().copied().filter(test).collect::<Vec<_>>().as_slice() {
                return Ok(only);
            }
        }
        Err(CatalogError::AmbiguousLanguage {
            candidates: present.iter().map(|rt| rt.id.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Every source extension, for messages.
    fn extensions(&self) -> String {
        let mut all: Vec<String> = Vec::new();
        for ext in self.runtimes.iter().flat_map(|rt| rt.extensions.iter().map(|e| format!(".{e}"))) {
            if !all.contains(&ext) {
                all.push(ext);
            }
        }
        all.join(" ")
    }
}

/// The entry file by the runtime's rule; `None` only for runtimes whose
/// commands do not use an entry (C, C++) when no single one stands out.
fn choose_entry<'p, 'a>(
    runtime: &Runtime,
    files: &'p [ProjectFile<'a>],
    sources: &[&'p ProjectFile<'a>],
    explicit: Option<&str>,
) -> Result<Option<&'p ProjectFile<'a>>, CatalogError> {
    let rule = &runtime.entry_rule;
    if let Some(explicit) = explicit {
        let file = files
            .iter()
            .find(|f| f.path == explicit)
            .ok_or_else(|| CatalogError::EntryNotFound { entry: explicit.into() })?;
        let must_be_source = runtime.uses_sources() || rule.main_class.is_some();
        if must_be_source && !has_extension(file.path, &runtime.extensions) {
            return Err(CatalogError::NotASource {
                entry: explicit.into(),
                language: runtime.id.clone(),
                extensions: dotted(&runtime.extensions),
            });
        }
        return Ok(Some(file));
    }
    let ambiguous = |candidates: Vec<&str>| {
        if !runtime.needs_entry() {
            return Ok(None);
        }
        Err(CatalogError::AmbiguousEntry {
            language: runtime.id.clone(),
            candidates: listing(candidates),
            preferred: rule.names.first().cloned().unwrap_or_else(|| "main".into()),
        })
    };
    if let Some(file) = rule.names.iter().find_map(|name| files.iter().find(|f| f.path == name)) {
        return Ok(Some(file));
    }
    for name in &rule.names {
        let named: Vec<&ProjectFile<'a>> = files.iter().filter(|f| file_name(f.path) == name).collect();
        match named.as_slice() {
            [] => {}
            [only] => return Ok(Some(only)),
            many => return ambiguous(many.iter().map(|f| f.path).collect()),
        }
    }
    match sources {
        [] => {
            return Err(CatalogError::NoEntry { language: runtime.id.clone(), extensions: dotted(&runtime.extensions) })
        }
        [only] => return Ok(Some(only)),
        _ => {}
    }
    if let Some(marker) = &rule.main_marker {
        let marker = lexer::tokens(marker);
        let with_main: Vec<&&ProjectFile<'a>> = sources
            .iter()
            .filter(|f| lexer::contains_sequence(&lexer::tokens(&String::from_utf8_lossy(f.content)), &marker))
            .collect();
        match with_main.as_slice() {
            [only] => return Ok(Some(only)),
            [] => {}
            many => return ambiguous(many.iter().map(|f| f.path).collect()),
        }
    }
    ambiguous(sources.iter().map(|f| f.path).collect())
}

/// The Java class to run: the entry's stem, qualified with its package.
fn java_main_class(runtime: &Runtime, file: &ProjectFile<'_>) -> Result<String, CatalogError> {
    let stem = file_stem(file.path);
    let fail = |reason: String| CatalogError::NoMainClass { entry: file.path.into(), reason };
    if !lexer::is_java_identifier(stem) {
        return Err(fail(format!("Java runs the class named after the file, and `{stem}` is not a valid class name")));
    }
    let text = String::from_utf8_lossy(file.content);
    let tokens = lexer::tokens(&text);
    let package =
        lexer::java_package(&tokens).map_err(|e| fail(format!("its package declaration is malformed: {e}")))?;
    if !lexer::java_declares_type(&tokens, stem) {
        return Err(fail(format!("it declares no class {stem} (the main class must be named after its file)")));
    }
    let marker = lexer::tokens(runtime.entry_rule.main_marker.as_deref().unwrap_or("void main ("));
    if !lexer::contains_sequence(&tokens, &marker) {
        return Err(fail(format!("class {stem} has no main method (public static void main(String[] args))")));
    }
    Ok(match package {
        Some(package) => format!("{package}.{stem}"),
        None => stem.to_string(),
    })
}

/// Directories that hold files with these extensions (`.` for the root).
fn header_dirs(files: &[ProjectFile<'_>], headers: &[String]) -> Vec<String> {
    let dirs: BTreeSet<&str> = files
        .iter()
        .filter(|f| has_extension(f.path, headers))
        .map(|f| f.path.rsplit_once('/').map_or(".", |(dir, _)| dir))
        .collect();
    dirs.into_iter().map(String::from).collect()
}

fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// The path without its file name's extension.
fn without_extension(path: &str) -> &str {
    extension(path).map_or(path, |ext| &path[..path.len() - ext.len() - 1])
}

/// The file name without its extension.
fn file_stem(path: &str) -> &str {
    file_name(without_extension(path))
}

/// The extension of a path's file name; none for `.bashrc` or `Makefile`.
pub(crate) fn extension(path: &str) -> Option<&str> {
    match file_name(path).rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext),
        _ => None,
    }
}

fn has_extension(path: &str, extensions: &[String]) -> bool {
    extension(path).is_some_and(|ext| extensions.iter().any(|e| e == ext))
}

fn dotted(extensions: &[String]) -> String {
    extensions.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(" ")
}

fn listing(mut names: Vec<&str>) -> String {
    names.sort_unstable();
    let more = names.len().saturating_sub(MAX_LISTED);
    let mut text = names.into_iter().take(MAX_LISTED).collect::<Vec<_>>().join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

fn path_error(e: SandboxError) -> CatalogError {
    match e {
        SandboxError::InvalidPath { path, reason } => CatalogError::InvalidPath { path, reason: reason.into() },
        other => CatalogError::InvalidPath { path: String::new(), reason: other.to_string() },
    }
}
