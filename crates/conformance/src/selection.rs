//! Which corpus cases a backend's test runs: every one, or the ones a
//! developer names in `BYTESBOX_CONFORMANCE_CASES` to rerun a few. A
//! selection that names a case the corpus does not have, or names none,
//! is an error: a typo must not turn into a run of zero cases that passes.

use crate::case::{Case, CorpusError};

/// The environment variable `load_selected_corpus` reads.
pub const CASES_ENV: &str = "BYTESBOX_CONFORMANCE_CASES";

/// Keeps the cases named in `selection` (comma-separated), in corpus
/// order; all of them when there is no selection. Every name must be a
/// case, and a selection must name at least one.
pub fn select_cases(cases: Vec<Case>, selection: Option<&str>) -> Result<Vec<Case>, CorpusError> {
    let Some(selection) = selection else {
        return Ok(cases);
    };
    let wanted: Vec<&str> = selection.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if wanted.is_empty() {
        return Err(CorpusError::EmptySelection { variable: CASES_ENV });
    }
    let unknown: Vec<&str> = wanted.iter().copied().filter(|name| !cases.iter().any(|c| c.name == *name)).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        return Err(CorpusError::UnknownCases {
            variable: CASES_ENV,
            unknown: unknown.join(", "),
            known: known.join(", "),
        });
    }
    Ok(cases.into_iter().filter(|c| wanted.contains(&c.name.as_str())).collect())
}
