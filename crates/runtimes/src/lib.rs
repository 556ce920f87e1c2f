//! The language runtime catalog, kept as data (`catalog.toml`), and the
//! logic that turns a project into compile and run stages.
//!
//! ```
//! use bytesbox_runtimes::{Catalog, ProjectFile};
//!
//! let catalog = Catalog::builtin();
//! let files = [ProjectFile::new("main.py", b"print('hi')")];
//! let plan = catalog.resolve(None, &files, None).unwrap();
//! assert_eq!(plan.runtime_id, "python");
//! assert!(plan.compile.is_none());
//! assert_eq!(plan.run.argv, ["python3", "-B", "main.py"]);
//! ```
//!
//! Commands are argv lists built without a shell: every project file name is
//! one argv item, whatever characters it holds, and one that starts with `-`
//! or `@` is written `./-x` so that no tool reads it as an option or a
//! response file. The few commands that need a shell (emptying the build
//! directory, SQLite's `< file`) run a fixed script and receive names as
//! positional parameters.
//!
//! A plan's compile stage is a stage of its own: when it does not end `ok`,
//! its output is the compiler's message and the run stage must not start.

mod catalog;
mod detect;
mod error;
mod lexer;
mod resolve;
mod template;

pub use catalog::{
    Catalog, CommandTemplate, EntryRule, Example, KernelTemplate, LanguageServerTemplate, MainClass, Runtime,
    BUILTIN_CATALOG,
};
pub use detect::{RuntimeStatus, VERSION_TIMEOUT};
pub use error::{CatalogError, CatalogLoadError};
pub use resolve::{
    Plan, ProjectFile, RunContext, Stage, CLEAN_OUT_SCRIPT, SQL_RESULTS_CLIENT, SQL_RESULTS_CLIENT_PATH,
};

#[cfg(test)]
mod tests;
