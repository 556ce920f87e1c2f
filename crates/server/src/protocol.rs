//! WebSocket protocol v1 (`docs/protocol.md`): the messages, as types.
//!
//! Parsing is strict (`deny_unknown_fields`), so a typo in a client is an
//! `invalid_message` error instead of a silently ignored field.

use base64::Engine as _;
use bytes::Bytes;
use bytesbox_sandbox::{ExitReport, RunLimits};
use serde::{Deserialize, Serialize};

use crate::limits::RequestedLimits;

/// Protocol version spoken by this server.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame a client may send (also of Piston's WebSocket).
pub const MAX_FRAME_BYTES: usize = 12 * 1024 * 1024;

/// How bytes are written in a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 text.
    #[default]
    Utf8,
    /// Base64 (standard alphabet, padded).
    Base64,
}

/// Bytes with their encoding, as they appear in frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedBytes(pub Bytes);

impl EncodedBytes {
    /// Decodes `data` written in `encoding`.
    pub fn decode(data: &str, encoding: Encoding) -> Result<EncodedBytes, String> {
        match encoding {
            Encoding::Utf8 => Ok(EncodedBytes(Bytes::copy_from_slice(data.as_bytes()))),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map(|v| EncodedBytes(Bytes::from(v)))
                .map_err(|e| format!("invalid base64: {e}")),
        }
    }

    /// Base64 of any bytes.
    pub fn encode_base64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Text when the bytes are valid UTF-8, else base64.
    pub fn encode(bytes: &[u8]) -> (String, Encoding) {
        match std::str::from_utf8(bytes) {
            Ok(text) => (text.to_string(), Encoding::Utf8),
            Err(_) => (base64::engine::general_purpose::STANDARD.encode(bytes), Encoding::Base64),
        }
    }
}

/// A file sent with a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFile {
    /// Workspace-relative path.
    pub path: String,
    /// Content, in `encoding`.
    pub content: String,
    /// How `content` is written.
    #[serde(default)]
    pub encoding: Encoding,
}

/// Terminal size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtySize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// A `run` request.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Client-chosen run id.
    pub id: String,
    /// Language id or alias; inferred from the entry when absent.
    #[serde(default)]
    pub language: Option<String>,
    /// The project's files (none when `project` names a saved one).
    #[serde(default)]
    pub files: Vec<WireFile>,
    /// A saved project of the caller's to run instead of `files`; its
    /// language and entry file are the defaults.
    #[serde(default)]
    pub project: Option<String>,
    /// The entry file.
    #[serde(default)]
    pub entry: Option<String>,
    /// Program arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Initial input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// A terminal, or pipes when absent.
    #[serde(default)]
    pub tty: Option<TtySize>,
    /// Limit overrides, within the caller's plan's maxima.
    #[serde(default)]
    pub limits: Option<RequestedLimits>,
}

/// Client → server (read only: the server never writes these).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Start a run.
    Run(Box<RunRequest>),
    /// Input.
    Stdin {
        /// Run id.
        id: String,
        /// Data in `encoding`.
        data: String,
        /// How `data` is written.
        #[serde(default)]
        encoding: Encoding,
    },
    /// End of input.
    Eof {
        /// Run id.
        id: String,
    },
    /// Terminal resize.
    Resize {
        /// Run id.
        id: String,
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// A signal for the current stage.
    Signal {
        /// Run id.
        id: String,
        /// Signal name (`SIGINT`, …).
        signal: String,
    },
    /// Stop.
    Kill {
        /// Run id.
        id: String,
    },
    /// Keep-alive.
    Ping {
        /// Echoed in `pong`.
        #[serde(default)]
        nonce: Option<String>,
    },
}

/// Server → client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame of a session.
    Hello {
        /// Session id.
        session: String,
        /// Token to resume the session after a disconnect.
        resume: String,
        /// Always [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Default limits of a run.
        default_limits: Box<RunLimits>,
        /// Maxima a run may ask for.
        max_limits: Box<RunLimits>,
    },
    /// The run passed validation.
    Accepted {
        /// Run id.
        id: String,
        /// Resolved language id.
        language: String,
        /// Its version.
        version: String,
    },
    /// Waiting for a slot.
    Queued {
        /// Run id.
        id: String,
        /// Place in the queue.
        position: usize,
    },
    /// A stage began.
    Stage {
        /// Run id.
        id: String,
        /// `compile` or `run`.
        stage: String,
    },
    /// Output.
    Output {
        /// Run id.
        id: String,
        /// Stage.
        stage: String,
        /// `stdout` or `stderr`.
        stream: String,
        /// Data in `encoding`.
        data: String,
        /// `utf8` or `base64`.
        encoding: Encoding,
    },
    /// A stage ended.
    Exit {
        /// Run id.
        id: String,
        /// Stage.
        stage: String,
        /// Exit code.
        code: Option<i32>,
        /// Signal number.
        signal: Option<i32>,
        /// Status name.
        status: String,
        /// Wall time.
        wall_ms: u64,
        /// CPU time.
        cpu_ms: u64,
        /// Peak memory.
        memory_bytes: u64,
    },
    /// The run is over.
    Done {
        /// Run id.
        id: String,
    },
    /// A refusal or failure.
    Error {
        /// Run id, when about a run.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Stable code.
        code: String,
        /// Human message.
        message: String,
    },
    /// Keep-alive answer.
    Pong {
        /// The ping's nonce.
        nonce: Option<String>,
    },
}

impl ServerMessage {
    /// An `exit` frame from a stage's report.
    pub fn exit(id: &str, stage: &str, report: &ExitReport) -> ServerMessage {
        ServerMessage::Exit {
            id: id.to_string(),
            stage: stage.to_string(),
            code: report.exit_code,
            signal: report.signal,
            status: report.status.as_str().to_string(),
            wall_ms: report.wall_ms,
            cpu_ms: report.cpu_ms,
            memory_bytes: report.peak_memory_bytes,
        }
    }

    /// An `output` frame, text when possible and base64 otherwise.
    pub fn output(id: &str, stage: &str, stream: &str, bytes: &[u8]) -> ServerMessage {
        let (data, encoding) = EncodedBytes::encode(bytes);
        ServerMessage::Output {
            id: id.to_string(),
            stage: stage.to_string(),
            stream: stream.to_string(),
            data,
            encoding,
        }
    }
}

/// Checks a client-chosen run id: 1–64 of `[A-Za-z0-9_.-]`.
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_run_message_parses() {
        let text = r#"{"type":"run","id":"r1","language":"python","files":[{"path":"main.py","content":"print(1)"}],"tty":{"rows":24,"cols":80}}"#;
        let ClientMessage::Run(run) = serde_json::from_str(text).unwrap() else { panic!("not a run") };
        assert_eq!(run.id, "r1");
        assert_eq!(run.files[0].encoding, Encoding::Utf8);
        assert_eq!(run.tty, Some(TtySize { rows: 24, cols: 80 }));
        assert!(run.limits.is_none());
    }

    #[test]
    fn unknown_fields_and_types_are_rejected() {
        for bad in [
            r#"{"type":"run","id":"r1","files":[],"langauge":"python"}"#,
            r#"{"type":"launch","id":"r1"}"#,
            r#"{"type":"stdin","id":"r1"}"#,
            r#"{"id":"r1"}"#,
            r#"{"type":"run","id":"r1","files":[{"path":"a","content":"b","mode":1}]}"#,
        ] {
            assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn output_is_text_when_it_can_be_and_base64_otherwise() {
        let text = serde_json::to_value(ServerMessage::output("r1", "run", "stdout", b"hi\n")).unwrap();
        assert_eq!(text["data"], "hi\n");
        assert_eq!(text["encoding"], "utf8");
        let binary = serde_json::to_value(ServerMessage::output("r1", "run", "stdout", b"\x00\xff")).unwrap();
        assert_eq!(binary["encoding"], "base64");
        let decoded = EncodedBytes::decode(binary["data"].as_str().unwrap(), Encoding::Base64).unwrap();
        assert_eq!(&decoded.0[..], b"\x00\xff");
        assert!(EncodedBytes::decode("!!!", Encoding::Base64).is_err());
    }

    #[test]
    fn errors_omit_a_missing_run_id() {
        let frame = ServerMessage::Error { id: None, code: "invalid_message".into(), message: "bad".into() };
        let value = serde_json::to_value(frame).unwrap();
        assert!(value.get("id").is_none());
        assert_eq!(value["type"], "error");
    }

    #[test]
    fn run_ids_are_checked() {
        assert!(valid_run_id("r1"));
        assert!(valid_run_id("build-2.final_x"));
        for bad in ["", "a b", "a/b", &"x".repeat(65), "é"] {
            assert!(!valid_run_id(bad), "{bad:?}");
        }
    }
}
