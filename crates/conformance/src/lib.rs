//! The shared conformance suite and hostile-program corpus every Bytesbox
//! isolation backend must pass.
//!
//! Two parts, both backend-neutral (they only use [`bytesbox_sandbox::Backend`]):
//!
//! - **The corpus** (`corpus/<case>/case.toml` + sources, plus helpers in
//!   `corpus/_shared/` that cases list in `shared`): hostile programs
//!   (bombs, floods, escapes, forbidden syscalls) with their expected
//!   outcomes. [`load_corpus`] reads it, [`run_case`] runs one case in a
//!   fresh box and lists every mismatch, [`run_corpus`] runs them all.
//! - **Generic tests** ([`conformance_tests`]): the API contract (streams,
//!   PTYs, signals, files, lifecycle, isolation between boxes).
//!
//! A backend's integration test:
//!
//! ```no_run
//! use bytesbox_conformance::{load_corpus, run_conformance_tests, run_corpus, HostContext};
//! use bytesbox_sandbox::Backend;
//!
//! async fn conformance(backend: &dyn Backend) -> Result<(), Box<dyn std::error::Error>> {
//!     // Start the host bait before the backend, so its processes could inherit the secret.
//!     let ctx = HostContext::start().await?;
//!     let suite = run_conformance_tests(backend).await;
//!     let cases = load_corpus()?;
//!     let corpus = run_corpus(backend, &cases, &ctx).await;
//!     assert!(suite.all_passed() && corpus.all_passed(), "{suite}\n{corpus}");
//!     Ok(())
//! }
//! ```

mod case;
mod expect;
mod host;
mod runner;
mod selection;
mod suite;
mod template;
mod verdict;

use std::path::PathBuf;

pub use case::{
    load_corpus_from, BackendDifference, Case, CaseSpec, CorpusError, Language, ResolvedCase, SourceFile, C_BINARY,
    KNOWN_BACKENDS, SHARED_DIR,
};
pub use expect::{decode_hex, AfterCheck, AfterPreset, Expect, ResolvedAfter, SnapshotExpect};
pub use host::{HostContext, HostError, SECRET_ENV};
pub use runner::{
    run_case, run_case_attached, run_corpus, run_corpus_checking_leaks, Attachment, CaseOutcome, CorpusReport,
    CASE_LABEL, RUNNER_GRACE,
};
pub use selection::{select_cases, CASES_ENV};
pub use suite::{
    conformance_tests, run_conformance_tests, run_conformance_tests_named, BoxFuture, ConformanceTest, SuiteReport,
    TestOutcome, TestResult, TEST_TIMEOUT,
};
pub use template::{placeholders, render, TemplateVars, UnknownPlaceholder, PLACEHOLDERS};
pub use verdict::{check_after, check_consistency, check_run, check_snapshot, describe_report, excerpt, Mismatch};

/// The corpus directory of this crate's source tree.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Loads and validates every corpus case, sorted by name.
pub fn load_corpus() -> Result<Vec<Case>, CorpusError> {
    load_corpus_from(&corpus_dir())
}

/// Every corpus case, or those named in `BYTESBOX_CONFORMANCE_CASES` when
/// it is set ([`select_cases`]). The one selection both backends' tests
/// use.
pub fn load_selected_corpus() -> Result<Vec<Case>, CorpusError> {
    let selection = std::env::var(CASES_ENV).ok();
    select_cases(load_corpus()?, selection.as_deref())
}
