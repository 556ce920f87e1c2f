//! Errors of loading a catalog and of planning a run.

/// A catalog file that cannot be used (an operator's problem).
#[derive(Debug, Clone, PartialEq, Eq, displaydoc::Display, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogLoadError {
    /// cannot read the runtime catalog {path}: {reason}
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// the runtime catalog is not valid TOML for its format: {0}
    Syntax(String),
    /// invalid runtime catalog: {0}
    Invalid(String),
}

/// A project that cannot be planned (the caller's problem). Messages are
/// meant for the person who sent the project.
#[derive(Debug, Clone, PartialEq, Eq, displaydoc::Display, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// unknown language `{language}`; known languages: {known}
    UnknownLanguage {
        /// What was asked for.
        language: String,
        /// Every id, comma-separated.
        known: String,
    },
    /// cannot tell the language of `{entry}` from its extension; name the language, or use one of: {known}
    UnknownExtension {
        /// The entry file.
        entry: String,
        /// Known extensions.
        known: String,
    },
    /// the project has no source file of a known language ({known}); name the language and the entry file
    NoSources {
        /// Known extensions.
        known: String,
    },
    /// the project holds sources of several languages ({candidates}); name the language or the entry file
    AmbiguousLanguage {
        /// Ids of the candidates, comma-separated.
        candidates: String,
    },
    /// invalid path `{path}`: {reason}
    InvalidPath {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// the entry file `{entry}` is not in the project
    EntryNotFound {
        /// The entry asked for.
        entry: String,
    },
    /// `{entry}` is not a {language} source file (expected {extensions})
    NotASource {
        /// The entry.
        entry: String,
        /// Runtime id.
        language: String,
        /// Its extensions.
        extensions: String,
    },
    /// no {language} entry file: the project has no {extensions} file
    NoEntry {
        /// Runtime id.
        language: String,
        /// Its extensions.
        extensions: String,
    },
    /// cannot choose the {language} entry file among {candidates}; name the entry file (or call it {preferred})
    AmbiguousEntry {
        /// Runtime id.
        language: String,
        /// The candidates, comma-separated.
        candidates: String,
        /// The preferred names.
        preferred: String,
    },
    /// {language} needs at least {needed_mb} MiB of memory per run, and this run may use {limit_mb} MiB; ask for more memory (limits.memory_bytes) within your plan, or a plan that allows it
    NotEnoughMemory {
        /// Runtime id.
        language: String,
        /// The runtime's minimum, MiB.
        needed_mb: u64,
        /// The run's memory limit, MiB.
        limit_mb: u64,
    },
    /// `{entry}` cannot be run: {reason}
    NoMainClass {
        /// The entry.
        entry: String,
        /// What is missing.
        reason: String,
    },
}

impl CatalogError {
    /// The stable protocol error code (`docs/protocol.md`).
    pub fn code(&self) -> &'static str {
        match self {
            CatalogError::UnknownLanguage { .. }
            | CatalogError::UnknownExtension { .. }
            | CatalogError::NoSources { .. }
            | CatalogError::AmbiguousLanguage { .. } => "unknown_language",
            CatalogError::InvalidPath { .. } => "invalid_path",
            CatalogError::EntryNotFound { .. }
            | CatalogError::NotASource { .. }
            | CatalogError::NoEntry { .. }
            | CatalogError::AmbiguousEntry { .. }
            | CatalogError::NoMainClass { .. } => "no_entry_file",
            CatalogError::NotEnoughMemory { .. } => "limit_exceeded",
        }
    }
}
