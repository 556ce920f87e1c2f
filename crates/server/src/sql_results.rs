//! Structured results of a SQL run (`docs/sql.md`, "Structured results").
//!
//! A run that asks for them (`sql_results` in the run request) runs the
//! catalog's `results` mode, whose client (`crates/runtimes/sql_results.py`)
//! prints one JSON object per line for each statement's result. Those
//! bytes come from the box, where the user's SQL runs as a superuser that
//! can start programs: they are read here as hostile input. A line is
//! buffered up to [`MAX_LINE_BYTES`] (the rest of a longer one is skipped),
//! parsed into fixed types, and every text, list and count is capped again
//! whatever the client claimed; a line that does not parse becomes an
//! error result that says so.

use serde::{Deserialize, Serialize};

/// Rows kept per result set; the rest are counted (`row_count`) and the
/// result is marked `truncated`.
pub const MAX_ROWS: usize = 1000;
/// Bytes of a cell's text kept (hex digits: twice the bytes shown).
pub const MAX_CELL_BYTES: usize = 4096;
/// Columns kept per result set.
pub const MAX_COLUMNS: usize = 256;
/// Results of one run; later ones are dropped and counted in a last
/// error result.
pub const MAX_RESULTS: usize = 1000;
/// The longest line read; a longer one is skipped and reported.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// Bytes kept of a statement's text, an error message, a notice.
const MAX_TEXT_BYTES: usize = 1024;
/// Bytes kept of a name: a column's, a type's, a command tag.
const MAX_NAME_BYTES: usize = 256;
/// Notices kept per result.
const MAX_NOTICES: usize = 20;

/// One result of one statement: a result set, a command's row count, or
/// an error. A statement that returns several result sets (a procedure)
/// has one result per set, with the same `statement`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementResult {
    /// The statement's index in the file, from 0.
    pub statement: u32,
    /// The file's line where the statement starts, from 1.
    pub line: u32,
    /// The file's line where it ends.
    pub end_line: u32,
    /// The statement's text, shortened.
    pub text: String,
    /// The server's command tag (`INSERT 0 3`, `SELECT 2`; PostgreSQL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The result set's columns, when the statement returned rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<Column>>,
    /// Its rows, at most [`MAX_ROWS`], each with one cell per column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Vec<Cell>>>,
    /// How many rows the statement returned in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
    /// Rows (or columns) were left out.
    #[serde(default)]
    pub truncated: bool,
    /// Rows a command changed, when the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_rows: Option<u64>,
    /// The server's notices while the statement ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    /// Why the statement failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StatementError>,
}

/// A column of a result set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// The server's name of its type (`int4`, `text`, `long`, `var_string`).
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A value: `null` for SQL NULL, a string, or an object for a value that
/// was cut or is not UTF-8.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// The whole value, as the server writes it in text.
    Text(String),
    /// The first [`MAX_CELL_BYTES`] bytes of a value of `bytes` bytes.
    Cut {
        /// The start of the value.
        text: String,
        /// The whole value's size.
        bytes: u64,
    },
    /// A value that is not UTF-8: the hex of its first bytes.
    Binary {
        /// Lower-case hex digits.
        hex: String,
        /// The whole value's size.
        bytes: u64,
    },
}

/// A cell: `None` is SQL NULL.
pub type Cell = Option<Value>;

/// A statement's error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementError {
    /// The server's message.
    pub message: String,
    /// The server's code (PostgreSQL's SQLSTATE, MariaDB's error number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The file's line the error points at.
    pub line: u32,
    /// Its column there, when the server gave a position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// Reads the results' client's stdout as it arrives, chunk by chunk.
#[derive(Debug, Default)]
pub struct ResultsReader {
    /// The current line's bytes so far.
    line: Vec<u8>,
    /// The current line passed [`MAX_LINE_BYTES`]: its bytes up to the
    /// next newline are skipped.
    skipping: Option<usize>,
    /// Results given out.
    given: usize,
    /// Results dropped past [`MAX_RESULTS`].
    dropped: usize,
    /// The last result's statement and line, for an error about a line
    /// that is not a result.
    last: (u32, u32),
}

impl ResultsReader {
    /// A reader at the start of the output.
    pub fn new() -> Self {
        ResultsReader::default()
    }

    /// Takes a chunk of output; returns the results its complete lines hold.
    pub fn push(&mut self, mut data: &[u8]) -> Vec<StatementResult> {
        let mut results = Vec::new();
        while !data.is_empty() {
            let (part, rest, ended) = match data.iter().position(|&b| b == b'\n') {
                Some(at) => (&data[..at], &data[at + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            data = rest;
            match &mut self.skipping {
                Some(skipped) => *skipped += part.len(),
                None if self.line.len() + part.len() > MAX_LINE_BYTES => {
                    self.skipping = Some(self.line.len() + part.len());
                    self.line = Vec::new();
                }
                None => self.line.extend_from_slice(part),
            }
            if ended {
                let line = std::mem::take(&mut self.line);
                let outcome = match self.skipping.take() {
                    Some(bytes) => Some(self.unreadable(format!("a result line of {bytes} bytes was too long"))),
                    None => self.parse(&line),
                };
                results.extend(outcome.and_then(|result| self.give(result)));
            }
        }
        results
    }

    /// The output ended: a last line without a newline, and the count of
    /// results dropped past [`MAX_RESULTS`].
    pub fn finish(mut self) -> Vec<StatementResult> {
        let mut results = self.push(b"\n");
        if self.dropped > 0 {
            let message = format!("{} more results were left out (at most {MAX_RESULTS} per run)", self.dropped);
            results.push(self.unreadable(message));
        }
        results
    }

    /// Reads a whole output at once (the execute API).
    pub fn read_all(output: &[u8]) -> Vec<StatementResult> {
        let mut reader = ResultsReader::new();
        let mut results = reader.push(output);
        results.extend(reader.finish());
        results
    }

    fn give(&mut self, result: StatementResult) -> Option<StatementResult> {
        if self.given >= MAX_RESULTS {
            self.dropped += 1;
            return None;
        }
        self.given += 1;
        self.last = (result.statement, result.line);
        Some(result)
    }

    fn parse(&self, line: &[u8]) -> Option<StatementResult> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        match serde_json::from_slice::<StatementResult>(line) {
            Ok(result) => Some(bounded(result).unwrap_or_else(|why| self.unreadable(why))),
            Err(e) => Some(self.unreadable(format!("a result line ({} bytes) did not parse: {e}", line.len()))),
        }
    }

    /// An error result about output that is not a result, placed after the
    /// last good one.
    fn unreadable(&self, message: String) -> StatementResult {
        let (statement, line) = self.last;
        StatementResult {
            statement,
            line,
            end_line: line,
            error: Some(StatementError { message, code: None, line, column: None }),
            ..StatementResult::default()
        }
    }
}

/// A parsed result within the caps, or why it cannot be shown.
fn bounded(mut result: StatementResult) -> Result<StatementResult, String> {
    cap_text(&mut result.text, MAX_TEXT_BYTES);
    if let Some(command) = &mut result.command {
        cap_text(command, MAX_NAME_BYTES);
    }
    result.notices.truncate(MAX_NOTICES);
    result.notices.iter_mut().for_each(|notice| cap_text(notice, MAX_TEXT_BYTES));
    if let Some(error) = &mut result.error {
        cap_text(&mut error.message, MAX_TEXT_BYTES);
        if let Some(code) = &mut error.code {
            cap_text(code, MAX_NAME_BYTES);
        }
    }
    match (&mut result.columns, &mut result.rows) {
        (None, None) => {}
        (Some(columns), Some(rows)) => {
            let width = columns.len();
            if rows.iter().any(|row| row.len() != width) {
                return Err("a result row does not have one value per column".into());
            }
            if width > MAX_COLUMNS || rows.len() > MAX_ROWS {
                result.truncated = true;
            }
            columns.truncate(MAX_COLUMNS);
            rows.truncate(MAX_ROWS);
            for column in columns.iter_mut() {
                cap_text(&mut column.name, MAX_NAME_BYTES);
                cap_text(&mut column.type_name, MAX_NAME_BYTES);
            }
            for row in rows.iter_mut() {
                row.truncate(MAX_COLUMNS);
                for value in row.iter_mut().flatten() {
                    bound_value(value)?;
                }
            }
            // The count is at least the rows shown, whatever was claimed.
            let shown = rows.len() as u64;
            result.row_count = Some(result.row_count.map_or(shown, |count| count.max(shown)));
        }
        _ => return Err("a result has columns without rows or rows without columns".into()),
    }
    Ok(result)
}

fn bound_value(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Text(text) if text.len() > MAX_CELL_BYTES => {
            let bytes = text.len() as u64;
            cap_text(text, MAX_CELL_BYTES);
            *value = Value::Cut { text: std::mem::take(text), bytes };
        }
        Value::Text(_) => {}
        Value::Cut { text, bytes } => {
            cap_text(text, MAX_CELL_BYTES);
            *bytes = (*bytes).max(text.len() as u64);
        }
        Value::Binary { hex, bytes } => {
            if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err("a binary value is not lower-case hex".into());
            }
            hex.truncate(MAX_CELL_BYTES);
            *bytes = (*bytes).max(hex.len() as u64 / 2);
        }
    }
    Ok(())
}

/// Cuts `text` to at most `max` bytes, on a character boundary, marking
/// the cut with an ellipsis (within the limit).
fn cap_text(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    const SELECT: &str = r#"{"statement":2,"line":3,"end_line":4,"text":"select * from t;","command":"SELECT 2","columns":[{"name":"a","type":"int4"},{"name":"b","type":"text"}],"rows":[["1","x,y\n\"}{"],["2",null]],"row_count":2,"truncated":false}"#;

    #[test]
    fn a_result_line_parses_into_columns_rows_and_nulls() {
        let results = ResultsReader::read_all(SELECT.as_bytes());
        assert_eq!(results.len(), 1);
        let result = &results[0];
        assert_eq!((result.statement, result.line, result.end_line), (2, 3, 4));
        let columns = result.columns.as_ref().expect("columns");
        assert_eq!(columns[1], Column { name: "b".into(), type_name: "text".into() });
        let rows = result.rows.as_ref().expect("rows");
        assert_eq!(rows[0][1], Some(Value::Text("x,y\n\"}{".into())));
        assert_eq!(rows[1][1], None);
        assert_eq!(result.row_count, Some(2));
        assert!(!result.truncated);
    }

    #[test]
    fn lines_split_across_chunks_are_joined() {
        let mut reader = ResultsReader::new();
        let bytes = format!("{SELECT}\n{SELECT}\n");
        let mut results = Vec::new();
        for chunk in bytes.as_bytes().chunks(7) {
            results.extend(reader.push(chunk));
        }
        results.extend(reader.finish());
        assert_eq!(results.len(), 2);
        assert_eq!(results[0], results[1]);
    }

    #[test]
    fn what_is_not_a_result_becomes_an_error_after_the_last_result() {
        let output = format!("{SELECT}\nnot json at all\n{{\"statement\":1}}\n");
        let results = ResultsReader::read_all(output.as_bytes());
        assert_eq!(results.len(), 3);
        for unreadable in &results[1..] {
            let error = unreadable.error.as_ref().expect("an error");
            assert!(error.message.contains("did not parse"), "{}", error.message);
            assert_eq!((unreadable.statement, error.line), (2, 3));
        }
    }

    #[test]
    fn rows_that_do_not_match_the_columns_are_refused() {
        let line = r#"{"statement":0,"line":1,"end_line":1,"text":"x","columns":[{"name":"a","type":"t"}],"rows":[["1","2"]]}"#;
        let results = ResultsReader::read_all(line.as_bytes());
        let error = results[0].error.as_ref().expect("an error");
        assert_eq!(error.message, "a result row does not have one value per column");
        assert!(results[0].rows.is_none());
    }

    #[test]
    fn claims_past_the_caps_are_cut_whatever_the_client_said() {
        let rows: Vec<String> = (0..MAX_ROWS + 5).map(|i| format!("[\"{i}\"]")).collect();
        let big = "é".repeat(MAX_CELL_BYTES);
        let line = format!(
            r#"{{"statement":0,"line":1,"end_line":1,"text":"x","columns":[{{"name":"a","type":"t"}}],"rows":[["{big}"],{}],"row_count":3,"truncated":false}}"#,
            rows.join(",")
        );
        let result = &ResultsReader::read_all(line.as_bytes())[0];
        assert!(result.error.is_none(), "{:?}", result.error);
        assert!(result.truncated);
        let kept = result.rows.as_ref().expect("rows");
        assert_eq!(kept.len(), MAX_ROWS);
        assert_eq!(result.row_count, Some(MAX_ROWS as u64));
        let Some(Value::Cut { text, bytes }) = &kept[0][0] else { panic!("not cut: {:?}", kept[0][0]) };
        assert!(text.len() <= MAX_CELL_BYTES && text.ends_with('…'));
        assert_eq!(*bytes, big.len() as u64);
    }

    #[test]
    fn a_line_longer_than_the_cap_is_skipped_without_being_kept() {
        let mut reader = ResultsReader::new();
        let mut results = Vec::new();
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..6 {
            results.extend(reader.push(&chunk));
            assert!(reader.line.len() <= MAX_LINE_BYTES);
        }
        results.extend(reader.push(format!("\n{SELECT}\n").as_bytes()));
        assert_eq!(results.len(), 2);
        let error = results[0].error.as_ref().expect("an error");
        assert_eq!(error.message, format!("a result line of {} bytes was too long", 6 * 1024 * 1024));
        assert!(results[1].error.is_none());
    }

    #[test]
    fn binary_values_must_be_hex_and_results_past_the_cap_are_counted() {
        let binary = r#"{"statement":0,"line":1,"end_line":1,"text":"x","columns":[{"name":"a","type":"blob"}],"rows":[[{"hex":"00ff","bytes":2}],[{"hex":"zz","bytes":1}]]}"#;
        let result = &ResultsReader::read_all(binary.as_bytes())[0];
        assert_eq!(result.error.as_ref().expect("an error").message, "a binary value is not lower-case hex");
        let many = format!("{SELECT}\n").repeat(MAX_RESULTS + 3);
        let results = ResultsReader::read_all(many.as_bytes());
        assert_eq!(results.len(), MAX_RESULTS + 1);
        let last = results.last().and_then(|r| r.error.as_ref()).expect("a last error");
        assert_eq!(last.message, format!("3 more results were left out (at most {MAX_RESULTS} per run)"));
    }
}
