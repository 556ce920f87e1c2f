//! A Piston request (the `execute` body, or the WebSocket `init`) checked
//! with Piston's error messages and turned into an engine job.
//!
//! Piston's bodies are loosely typed, so they are read from JSON values
//! field by field: that is how its messages ("files[0].content is
//! required as a string") can be given exactly.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytesbox_engine::{Job, StageKind};
use bytesbox_sandbox::RunLimits;
use serde_json::Value;

use super::version::{piston_runtimes, select, PistonRuntime};
use crate::accounts::Caller;
use crate::api_error::{ApiError, ServerFault};
use crate::app::AppState;
use crate::limits::LimitOverrides;
use crate::protocol::{EncodedBytes, Encoding, RunRequest, WireFile};
use crate::runs::{plan_run, stage_slot, PlannedRun, RunPolicy, Workspace};

/// A failure, shaped as Piston shapes it: a status and `{"message"}`.
#[derive(Debug)]
pub(crate) struct PistonError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    /// The server's own failure behind it, tracked (`crate::monitoring`)
    /// but not shown in Piston's body.
    pub fault: Option<ServerFault>,
}

impl PistonError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PistonError {
        PistonError { status, message: message.into(), retry_after_secs: None, fault: None }
    }

    pub fn bad_request(message: impl Into<String>) -> PistonError {
        PistonError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<ApiError> for PistonError {
    fn from(error: ApiError) -> PistonError {
        let fault = error.fault.map(|detail| ServerFault::new(&error.code, detail));
        PistonError { status: error.status, message: error.message, retry_after_secs: error.retry_after_secs, fault }
    }
}

impl IntoResponse for PistonError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(serde_json::json!({ "message": self.message }))).into_response();
        if let Some(fault) = self.fault {
            response.extensions_mut().insert(fault);
        }
        if let Some(secs) = self.retry_after_secs {
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// A checked request: the runtime it chose and the job to submit.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The chosen runtime (its `language` and `version` go back to the
    /// client).
    pub runtime: PistonRuntime,
    /// What the engine runs.
    pub job: Job,
    /// Per-stream output limit of the compile and run stages.
    pub output_caps: [u64; 2],
}

/// Limits Piston lets a request set, per stage.
#[derive(Clone, Copy, Debug)]
enum Constraint {
    Timeout,
    CpuTime,
    MemoryLimit,
}

impl Constraint {
    const ALL: [Constraint; 3] = [Constraint::MemoryLimit, Constraint::Timeout, Constraint::CpuTime];

    fn suffix(self) -> &'static str {
        match self {
            Constraint::Timeout => "timeout",
            Constraint::CpuTime => "cpu_time",
            Constraint::MemoryLimit => "memory_limit",
        }
    }

    fn get(self, limits: &RunLimits) -> u64 {
        match self {
            Constraint::Timeout => limits.wall_time_ms,
            Constraint::CpuTime => limits.cpu_time_ms,
            Constraint::MemoryLimit => limits.memory_bytes,
        }
    }

    fn field(self, overrides: &mut LimitOverrides) -> &mut Option<u64> {
        match self {
            Constraint::Timeout => &mut overrides.wall_time_ms,
            Constraint::CpuTime => &mut overrides.cpu_time_ms,
            Constraint::MemoryLimit => &mut overrides.memory_bytes,
        }
    }
}

/// Checks a request and plans it. `batch` is `execute` (all input given
/// at once, then closed) as opposed to the WebSocket (input keeps coming).
pub(crate) async fn prepare(
    state: &AppState,
    caller: &Caller,
    policy: &RunPolicy,
    body: &Value,
    batch: bool,
) -> Result<Prepared, PistonError> {
    let language = required_string(body, "language")?;
    let version = required_string(body, "version")?;
    let Some(files) = body.get("files").and_then(Value::as_array) else {
        return Err(PistonError::bad_request("files is required as an array"));
    };
    for (i, file) in files.iter().enumerate() {
        if !file.get("content").is_some_and(Value::is_string) {
            return Err(PistonError::bad_request(format!("files[{i}].content is required as a string")));
        }
    }
    let infos = state.planner.runtimes();
    let runtime = select(&piston_runtimes(&infos), language, version)
        .ok_or_else(|| PistonError::bad_request(format!("{language}-{version} runtime is unknown")))?;
    let extension = infos
        .into_iter()
        .find(|info| info.id == runtime.language)
        .and_then(|info| info.extensions.first().cloned())
        .unwrap_or_else(|| "code".into());
    let files = wire_files(files, &extension)?;
    // Piston's rule: the first UTF-8 file is the one that runs.
    let Some(entry) = files.iter().find(|f| f.encoding == Encoding::Utf8).map(|f| f.path.clone()) else {
        return Err(PistonError::bad_request("files must include at least one utf8 encoded file"));
    };
    let [compile_overrides, run_overrides] = constraints(body, &policy.max_limits)?;
    let mut stdin = optional_string(body, "stdin")?.unwrap_or_default();
    // Piston ends a batch run's input with a newline when it has none.
    if batch && !stdin.ends_with('\n') {
        stdin.push('\n');
    }
    let run = RunRequest {
        id: "piston".into(),
        language: Some(runtime.language.clone()),
        files,
        project: None,
        entry: Some(entry),
        args: args(body)?,
        stdin: Some(stdin),
        tty: None,
        limits: Some(run_overrides.into()),
        sql_results: false,
        scratch: false,
    };
    let PlannedRun { mut job, limits, .. } = plan_run(state, caller, policy, run, Workspace::Fresh, batch).await?;
    let mut output_caps = [limits.output_bytes; 2];
    for stage in &mut job.stages {
        if stage.kind == StageKind::Compile {
            stage.spec.limits = compile_overrides.over(&stage.spec.limits);
        }
        output_caps[stage_slot(stage.kind)] = stage.spec.limits.output_bytes;
    }
    Ok(Prepared { runtime, job, output_caps })
}

fn required_string<'a>(body: &'a Value, name: &str) -> Result<&'a str, PistonError> {
    match body.get(name).and_then(Value::as_str) {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(PistonError::bad_request(format!("{name} is required as a string"))),
    }
}

fn optional_string(body: &Value, name: &str) -> Result<Option<String>, PistonError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(PistonError::bad_request(format!("If specified, {name} must be a string"))),
    }
}

fn args(body: &Value) -> Result<Vec<String>, PistonError> {
    let invalid = || PistonError::bad_request("If specified, args must be an array of strings");
    match body.get("args") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_string).ok_or_else(invalid)).collect()
        }
        Some(_) => Err(invalid()),
    }
}

/// Files as protocol v1 takes them. A file without a name is called
/// `file<i>.<extension of the language>` (Piston: `file<i>.code`, which
/// our compilers would not recognise as a source), or for Java after the
/// class it declares, since Java runs the class named after its file.
fn wire_files(files: &[Value], extension: &str) -> Result<Vec<WireFile>, PistonError> {
    let mut wire = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let content = file.get("content").and_then(Value::as_str).unwrap_or_default();
        let (content, encoding) = match file.get("encoding") {
            None | Some(Value::Null) => (content.to_string(), Encoding::Utf8),
            Some(Value::String(name)) if name == "utf8" => (content.to_string(), Encoding::Utf8),
            Some(Value::String(name)) if name == "base64" => (content.to_string(), Encoding::Base64),
            Some(Value::String(name)) if name == "hex" => {
                let bytes = decode_hex(content)
                    .ok_or_else(|| PistonError::bad_request(format!("files[{i}].content is not valid hex")))?;
                (EncodedBytes::encode_base64(&bytes), Encoding::Base64)
            }
            Some(_) => {
                return Err(PistonError::bad_request(format!("files[{i}].encoding must be one of utf8, base64 or hex")))
            }
        };
        let path = match file.get("name") {
            None | Some(Value::Null) => generated_name(i, extension, &content, encoding),
            Some(Value::String(name)) if name.is_empty() => generated_name(i, extension, &content, encoding),
            Some(Value::String(name)) => name.clone(),
            Some(_) => return Err(PistonError::bad_request(format!("If specified, files[{i}].name must be a string"))),
        };
        wire.push(WireFile { path, content, encoding });
    }
    Ok(wire)
}

fn generated_name(index: usize, extension: &str, content: &str, encoding: Encoding) -> String {
    if extension == "java" && encoding == Encoding::Utf8 {
        if let Some(class) = java_public_class(content) {
            return format!("{class}.java");
        }
    }
    format!("file{index}.{extension}")
}

/// The class a Java source declares `public` (else its first class).
fn java_public_class(source: &str) -> Option<String> {
    let words: Vec<&str> =
        source.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).filter(|w| !w.is_empty()).collect();
    let classes: Vec<(bool, &str)> = (1..words.len())
        .filter(|&i| words[i - 1] == "class")
        .map(|i| (i >= 2 && words[i - 2] == "public", words[i]))
        .collect();
    let public = classes.iter().find(|(public, _)| *public);
    public.or(classes.first()).map(|(_, name)| name.to_string())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let pairs = text.trim().as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    let nibble = |d: u8| (d as char).to_digit(16).map(|v| v as u8);
    pairs.map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

/// `[compile, run]` limits asked for. Piston's rules: absent, `null` or
/// `0` means the default; anything else must be a number, not negative,
/// and within the server's maximum. A memory limit of `-1` is Piston's
/// "no limit": here, the server's maximum (never unlimited).
fn constraints(body: &Value, max: &RunLimits) -> Result<[LimitOverrides; 2], PistonError> {
    let mut stages = [LimitOverrides::default(); 2];
    for (slot, stage) in ["compile", "run"].into_iter().enumerate() {
        for constraint in Constraint::ALL {
            let name = format!("{stage}_{}", constraint.suffix());
            let maximum = constraint.get(max);
            let value = match body.get(&name) {
                None | Some(Value::Null) => continue,
                Some(Value::Number(number)) => number.as_f64().unwrap_or(f64::MAX),
                Some(_) => return Err(PistonError::bad_request(format!("If specified, {name} must be a number"))),
            };
            if value == 0.0 {
                continue;
            }
            if value == -1.0 && matches!(constraint, Constraint::MemoryLimit) {
                *constraint.field(&mut stages[slot]) = Some(maximum);
                continue;
            }
            if value > maximum as f64 {
                return Err(PistonError::bad_request(format!(
                    "{name} cannot exceed the configured limit of {maximum}"
                )));
            }
            if value < 0.0 {
                return Err(PistonError::bad_request(format!("{name} must be non-negative")));
            }
            *constraint.field(&mut stages[slot]) = Some(value.ceil() as u64);
        }
    }
    Ok(stages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_follow_piston_s_rules() {
        let max = RunLimits::default();
        let body = json!({"run_timeout": 2500, "compile_memory_limit": -1, "run_cpu_time": 0, "compile_timeout": null});
        let [compile, run] = constraints(&body, &max).unwrap();
        assert_eq!(run, LimitOverrides { wall_time_ms: Some(2500), ..LimitOverrides::default() });
        assert_eq!(compile, LimitOverrides { memory_bytes: Some(max.memory_bytes), ..LimitOverrides::default() });
        for (bad, message) in [
            (json!({"run_timeout": "3s"}), "If specified, run_timeout must be a number"),
            (json!({"run_timeout": 30_001}), "run_timeout cannot exceed the configured limit of 30000"),
            (json!({"compile_cpu_time": -5}), "compile_cpu_time must be non-negative"),
            (json!({"run_timeout": -1}), "run_timeout must be non-negative"),
        ] {
            assert_eq!(constraints(&bad, &max).unwrap_err().message, message, "{bad}");
        }
    }

    #[test]
    fn files_get_names_and_decoded_contents() {
        let files = [
            json!({"content": "print(1)"}),
            json!({"name": "data.bin", "content": "AAE=", "encoding": "base64"}),
            json!({"name": "raw", "content": "00ff10", "encoding": "hex"}),
        ];
        let wire = wire_files(&files, "py").unwrap();
        assert_eq!(wire[0].path, "file0.py");
        assert_eq!(wire[1].encoding, Encoding::Base64);
        assert_eq!(EncodedBytes::decode(&wire[2].content, wire[2].encoding).unwrap().0.as_ref(), [0, 255, 16]);
        assert!(wire_files(&[json!({"content": "zz", "encoding": "hex"})], "py").is_err());
        assert!(wire_files(&[json!({"content": "x", "encoding": "latin1"})], "py").is_err());
        let java = wire_files(&[json!({"content": "class Helper {}\npublic class Solution { }"})], "java").unwrap();
        assert_eq!(java[0].path, "Solution.java");
    }
}
