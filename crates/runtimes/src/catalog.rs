//! The catalog: data types, loading and validation.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::template::{Item, Var};
use crate::CatalogLoadError;

/// The catalog built into the binary (`crates/runtimes/catalog.toml`).
pub const BUILTIN_CATALOG: &str = include_str!("../catalog.toml");

/// The language runtimes, as loaded from a catalog file and validated.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub(crate) out_dir: String,
    pub(crate) search_path: String,
    pub(crate) runtimes: Vec<Runtime>,
    /// Lower-cased id or alias → index.
    pub(crate) by_name: HashMap<String, usize>,
    /// Source extension → index.
    pub(crate) by_extension: HashMap<String, usize>,
}

/// One language.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Runtime {
    /// Stable id used in the API (`python`, `cpp`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Other accepted names.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Source extensions, without dot.
    pub extensions: Vec<String>,
    /// Picked only when a run names it: its extensions neither pick it nor
    /// clash with the runtime that owns them (SQL dialects share `.sql`).
    #[serde(default)]
    pub named_only: bool,
    /// Header extensions: never compiled; their directories are `{header_dirs}`.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Container image that serves this language with the Docker backend;
    /// `None` when no image holds it.
    #[serde(default)]
    pub image: Option<String>,
    /// Programs that must exist for the language to be available.
    pub requires: Vec<String>,
    /// argv printing the version.
    pub version_command: Vec<String>,
    /// Label shown before the version number.
    #[serde(default)]
    pub version_name: Option<String>,
    /// Workspace-relative file (or directory) that keeps state across runs.
    #[serde(default)]
    pub state_file: Option<String>,
    /// Memory a run needs at least, MiB: a run allowed less is refused
    /// before it starts (a database server would die or fail to start).
    #[serde(default)]
    pub min_memory_mb: Option<u64>,
    /// The run command also serves a session: with `{mode}` = `serve` it
    /// starts the session's server in the box and stays in the foreground;
    /// runs (`{mode}` = `run`) use that server when it answers, else start
    /// one of their own.
    #[serde(default)]
    pub session_server: bool,
    /// Runs can give structured SQL results: with `{mode}` = `results`
    /// the run command runs the project with the structured results'
    /// client (`resolve::SQL_RESULTS_CLIENT`) instead of the dialect's own.
    #[serde(default)]
    pub sql_results: bool,
    /// The language's Jupyter kernel, when it has one (notebooks).
    #[serde(default)]
    pub kernel: Option<KernelTemplate>,
    /// The language's server of the Language Server Protocol, when it has
    /// one (completion, diagnostics, … in the IDE).
    #[serde(default)]
    pub language_server: Option<LanguageServerTemplate>,
    /// How the entry file is chosen.
    #[serde(rename = "entry")]
    pub entry_rule: EntryRule,
    /// The build step.
    #[serde(default)]
    pub compile: Option<CommandTemplate>,
    /// The program.
    pub run: CommandTemplate,
    /// A hello-world program printing `Hello, World!`.
    pub example: Example,
}

/// How a runtime's entry file is chosen when the caller names none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EntryRule {
    /// Preferred names: at the root first, then a single one anywhere.
    #[serde(default)]
    pub names: Vec<String>,
    /// Token sequence marking a file with a main function.
    #[serde(default)]
    pub main_marker: Option<String>,
    /// How the main class is derived from the entry file.
    #[serde(default)]
    pub main_class: Option<MainClass>,
}

/// Languages whose run command names a class rather than a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MainClass {
    /// The entry file's stem, qualified with the file's `package`; the file
    /// must declare that class with a `main` method.
    Java,
}

/// A command with placeholders (see the catalog file's header).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CommandTemplate {
    /// argv items.
    pub argv: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Empty and recreate `{out}` before the command.
    #[serde(default)]
    pub clean_out: bool,
    /// Memory the command needs at least, MiB.
    #[serde(default)]
    pub min_memory_mb: Option<u64>,
    #[serde(skip)]
    pub(crate) parsed_argv: Vec<Item>,
    #[serde(skip)]
    pub(crate) parsed_env: Vec<(String, Item)>,
}

/// How a language's Jupyter kernel starts in a box (`docs/notebooks.md`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KernelTemplate {
    /// The kernel's argv; exactly one item is [`KernelTemplate::CONNECTION_FILE`],
    /// which becomes the in-box path of its connection file.
    pub argv: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The language as Jupyter names it (`language_info.name`, kernelspec
    /// `language`).
    pub language: String,
    /// Memory the kernel needs at least, MiB: a kernel allowed less is
    /// refused before it starts.
    pub min_memory_mb: u64,
}

impl KernelTemplate {
    /// The argv item replaced by the connection file's path.
    pub const CONNECTION_FILE: &'static str = "{connection_file}";

    /// The argv with `connection_file` in place of the placeholder.
    pub fn argv_with(&self, connection_file: &str) -> Vec<String> {
        self.argv
            .iter()
            .map(|item| if item == Self::CONNECTION_FILE { connection_file.to_string() } else { item.clone() })
            .collect()
    }

    fn validate(&self) -> Result<(), String> {
        if self.argv.first().is_none_or(|p| p.is_empty() || p == Self::CONNECTION_FILE) {
            return Err("kernel.argv must name a program".into());
        }
        if self.argv.iter().filter(|item| *item == Self::CONNECTION_FILE).count() != 1 {
            return Err(format!("kernel.argv must hold {} as one whole item, once", Self::CONNECTION_FILE));
        }
        if self.language.is_empty() || self.min_memory_mb == 0 {
            return Err("kernel.language must be set and kernel.min_memory_mb positive".into());
        }
        Ok(())
    }
}

/// How a language's LSP server starts in a box (`docs/language-servers.md`):
/// a long-lived run speaking `Content-Length`-framed JSON-RPC on its stdin
/// and stdout.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LanguageServerTemplate {
    /// The server's argv (no placeholders).
    pub argv: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The LSP `languageId` of the language's documents (`python`, `cpp`).
    pub language_id: String,
    /// Memory the server needs, MiB: it gets at least this, even above
    /// the caller's run limit (the box's memory still holds).
    pub min_memory_mb: u64,
    /// What the client sends as `initializationOptions` in `initialize`,
    /// as JSON text (`{}` when absent): clangd's `fallbackFlags`.
    #[serde(default)]
    pub initialization_options: Option<String>,
    /// Settings the client sends in `workspace/didChangeConfiguration`
    /// once the server is initialised, as JSON text: pylsp's plugins.
    #[serde(default)]
    pub settings: Option<String>,
}

impl LanguageServerTemplate {
    /// A server started by `argv` for documents of `language_id`, with no
    /// options (the catalog's entries come from its file; this is for
    /// tests and embedders).
    pub fn new(argv: Vec<String>, language_id: &str, min_memory_mb: u64) -> LanguageServerTemplate {
        LanguageServerTemplate {
            argv,
            env: BTreeMap::new(),
            language_id: language_id.to_string(),
            min_memory_mb,
            initialization_options: None,
            settings: None,
        }
    }

    /// The client's `initializationOptions`, as JSON (`{}` when none).
    pub fn initialization_options(&self) -> serde_json::Value {
        json_object(self.initialization_options.as_deref())
    }

    /// The settings the client sends once the server is initialised, as
    /// JSON (`{}` when none).
    pub fn settings(&self) -> serde_json::Value {
        json_object(self.settings.as_deref())
    }

    fn validate(&self) -> Result<(), String> {
        if self.argv.first().is_none_or(|program| program.is_empty()) {
            return Err("language_server.argv must name a program".into());
        }
        if self.language_id.is_empty() || self.min_memory_mb == 0 {
            return Err("language_server.language_id must be set and language_server.min_memory_mb positive".into());
        }
        for (name, text) in [("initialization_options", &self.initialization_options), ("settings", &self.settings)] {
            let Some(text) = text else { continue };
            let parsed: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("language_server.{name} is not JSON: {e}"))?;
            if !parsed.is_object() {
                return Err(format!("language_server.{name} must be a JSON object"));
            }
        }
        Ok(())
    }
}

/// JSON text checked when the catalog loaded, or `{}`.
fn json_object(text: Option<&str>) -> serde_json::Value {
    text.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_else(|| serde_json::json!({}))
}

/// A hello-world program.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Example {
    /// Workspace-relative path.
    pub path: String,
    /// Source text.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    out_dir: String,
    search_path: String,
    #[serde(rename = "runtime")]
    runtimes: Vec<Runtime>,
}

impl Catalog {
    /// The catalog built into the binary.
    pub fn builtin() -> Catalog {
        // The built-in file is checked by this crate's tests.
        match Catalog::parse(BUILTIN_CATALOG) {
            Ok(catalog) => catalog,
            Err(e) => panic!("the built-in runtime catalog is invalid: {e}"),
        }
    }

    /// Loads an operator's catalog file.
    pub fn load(path: &Path) -> Result<Catalog, CatalogLoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CatalogLoadError::Read { path: path.display().to_string(), reason: e.to_string() })?;
        Catalog::parse(&text)
    }

    /// Parses and validates catalog text.
    pub fn parse(text: &str) -> Result<Catalog, CatalogLoadError> {
        let file: CatalogFile = toml::from_str(text).map_err(|e| CatalogLoadError::Syntax(e.to_string()))?;
        let invalid = |what: String| CatalogLoadError::Invalid(what);
        validate_absolute_dir(&file.out_dir).map_err(|e| invalid(format!("out_dir: {e}")))?;
        if file.search_path.split(':').any(|dir| !dir.starts_with('/')) {
            return Err(invalid("search_path: every directory must be absolute".into()));
        }
        if file.runtimes.is_empty() {
            return Err(invalid("the catalog has no runtime".into()));
        }
        let mut by_name = HashMap::new();
        let mut by_extension = HashMap::new();
        let mut runtimes = Vec::with_capacity(file.runtimes.len());
        for (index, mut runtime) in file.runtimes.into_iter().enumerate() {
            let id = runtime.id.clone();
            runtime.validate().map_err(|e| invalid(format!("runtime {id:?}: {e}")))?;
            for name in std::iter::once(&runtime.id).chain(&runtime.aliases) {
                if let Some(other) = by_name.insert(name.to_lowercase(), index) {
                    let other: &Runtime = &runtimes[other];
                    return Err(invalid(format!("name {name:?} is used by both {:?} and {id:?}", other.id)));
                }
            }
            let claimed = if runtime.named_only { &[][..] } else { &runtime.extensions[..] };
            for ext in claimed {
                if let Some(other) = by_extension.insert(ext.clone(), index) {
                    let other: &Runtime = &runtimes[other];
                    return Err(invalid(format!("extension .{ext} is claimed by both {:?} and {id:?}", other.id)));
                }
            }
            runtimes.push(runtime);
        }
        Ok(Catalog { out_dir: file.out_dir, search_path: file.search_path, runtimes, by_name, by_extension })
    }

    /// Every runtime, in catalog order.
    pub fn runtimes(&self) -> &[Runtime] {
        &self.runtimes
    }

    /// The runtime with this id or alias (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Runtime> {
        self.by_name.get(&name.to_lowercase()).map(|&i| &self.runtimes[i])
    }

    /// The runtime whose sources have this extension (without dot).
    pub fn by_extension(&self, extension: &str) -> Option<&Runtime> {
        self.by_extension.get(extension).map(|&i| &self.runtimes[i])
    }

    /// Every runtime id, comma-separated, for messages.
    pub fn ids(&self) -> String {
        self.runtimes.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// In-box build output directory (`{out}`).
    pub fn out_dir(&self) -> &str {
        &self.out_dir
    }

    /// The `PATH` of a box, used to find programs.
    pub fn search_path(&self) -> &str {
        &self.search_path
    }
}

impl Runtime {
    /// Whether a plan of this runtime needs a chosen entry file.
    pub fn needs_entry(&self) -> bool {
        self.entry_rule.main_class.is_some() || self.templates().any(|t| t.vars().any(Var::needs_entry))
    }

    /// Whether the commands take every source file (`{sources}`).
    pub(crate) fn uses_sources(&self) -> bool {
        self.templates().any(|t| t.vars().any(|v| v == Var::Sources))
    }

    fn templates(&self) -> impl Iterator<Item = &CommandTemplate> {
        self.compile.iter().chain(std::iter::once(&self.run))
    }

    fn validate(&mut self) -> Result<(), String> {
        let name_ok = |s: &str| {
            !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-_.#".contains(c))
        };
        if !name_ok(&self.id) || self.id != self.id.to_lowercase() {
            return Err("id must be 1-32 lowercase characters of [a-z0-9+-_.#]".into());
        }
        if let Some(bad) = self.aliases.iter().find(|a| !name_ok(a)) {
            return Err(format!("alias {bad:?} must be 1-32 characters of [A-Za-z0-9+-_.#]"));
        }
        if self.extensions.is_empty() {
            return Err("extensions must not be empty".into());
        }
        for ext in self.extensions.iter().chain(&self.headers) {
            if ext.is_empty() || ext.contains(['.', '/']) || ext.chars().any(char::is_whitespace) {
                return Err(format!("extension {ext:?} must be a bare suffix such as \"py\""));
            }
        }
        if let Some(ext) = self.headers.iter().find(|h| self.extensions.contains(h)) {
            return Err(format!(".{ext} cannot be both a source and a header extension"));
        }
        if let Some(image) = &self.image {
            if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("image {image:?} must name a container image (or be left out)"));
            }
        }
        if self.requires.is_empty() || self.requires.iter().any(|p| p.is_empty()) {
            return Err("requires must list the programs the runtime needs".into());
        }
        if self.version_command.first().is_none_or(|p| p.is_empty()) {
            return Err("version_command must name a program".into());
        }
        if let Some(state) = &self.state_file {
            bytesbox_sandbox::paths::validate_relative(state).map_err(|e| format!("state_file: {e}"))?;
        }
        for name in &self.entry_rule.names {
            if name.is_empty() || name.contains('/') {
                return Err(format!("entry name {name:?} must be a bare file name"));
            }
        }
        if let Some(marker) = &self.entry_rule.main_marker {
            if crate::lexer::tokens(marker).is_empty() {
                return Err("entry.main_marker must hold at least one token".into());
            }
        }
        if let Some(compile) = &mut self.compile {
            compile.prepare().map_err(|e| format!("compile: {e}"))?;
        }
        if self.min_memory_mb == Some(0) {
            return Err("min_memory_mb must be positive".into());
        }
        if let Some(kernel) = &self.kernel {
            kernel.validate()?;
        }
        if let Some(server) = &self.language_server {
            server.validate()?;
        }
        if self.run.clean_out || self.run.min_memory_mb.is_some() {
            return Err("run: clean_out and min_memory_mb apply to compile only (a runtime's own min_memory_mb covers its runs)".into());
        }
        self.run.prepare().map_err(|e| format!("run: {e}"))?;
        let vars: Vec<Var> = self.templates().flat_map(|t| t.vars()).collect();
        if vars.contains(&Var::Class) && self.entry_rule.main_class.is_none() {
            return Err("{class} needs entry.main_class".into());
        }
        if (self.session_server || self.sql_results) != vars.contains(&Var::Mode) {
            return Err("session_server or sql_results and a {mode} placeholder in run go together".into());
        }
        if vars.contains(&Var::StateFile) && self.state_file.is_none() {
            return Err("{state_file} needs state_file".into());
        }
        if vars.contains(&Var::HeaderDirs) && self.headers.is_empty() {
            return Err("{header_dirs} needs headers".into());
        }
        let example_ext = self.example.path.rsplit_once('.').map(|(_, ext)| ext);
        if example_ext.is_none_or(|ext| !self.extensions.iter().any(|e| e == ext)) {
            return Err(format!("example.path {:?} must have a source extension", self.example.path));
        }
        Ok(())
    }
}

impl CommandTemplate {
    fn prepare(&mut self) -> Result<(), String> {
        if self.argv.is_empty() {
            return Err("argv must not be empty".into());
        }
        self.parsed_argv = self.argv.iter().map(|a| Item::parse(a)).collect::<Result<_, _>>()?;
        if self.parsed_argv[0].vars().any(Var::is_list) {
            return Err("argv[0] must name the program, not a list".into());
        }
        self.parsed_env = Vec::new();
        for (key, value) in &self.env {
            if key.is_empty() || key.contains(['=', '\0']) {
                return Err(format!("bad environment variable name {key:?}"));
            }
            let item = Item::parse(value)?;
            if item.vars().any(Var::is_list) {
                return Err(format!("env {key}: list placeholders are not allowed in env values"));
            }
            self.parsed_env.push((key.clone(), item));
        }
        if self.min_memory_mb == Some(0) {
            return Err("min_memory_mb must be positive".into());
        }
        Ok(())
    }

    fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        self.parsed_argv.iter().flat_map(Item::vars).chain(self.parsed_env.iter().flat_map(|(_, v)| v.vars()))
    }
}

fn validate_absolute_dir(dir: &str) -> Result<(), String> {
    let relative = dir.strip_prefix('/').ok_or("must be absolute")?;
    let parts = bytesbox_sandbox::paths::validate_relative(relative).map_err(|e| e.to_string())?;
    if parts.len() < 2 {
        return Err("must be at least two levels deep (it is emptied before builds)".into());
    }
    Ok(())
}
