//! Language servers in a session's box (`docs/language-servers.md`):
//! started from the catalog's `[runtime.language_server]` as a run of the
//! box with pipes, spoken to in LSP's base protocol (JSON-RPC bodies
//! framed by `Content-Length`), whose messages from the box are read with a
//! bound on each.

mod framing;
mod server;

pub use framing::{encode, FramingError, MessageReader, MAX_HEADER_BYTES};
pub use server::{
    language_server_limits, LanguageServer, LanguageServerStart, LspEvent, SendRefused, MAX_QUEUED_INPUT_BYTES,
};

/// Largest message a language server may send by default: a completion
/// list of a big module is a few hundred KiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The status of a server ended for a message over the bound.
pub const MESSAGE_TOO_LARGE: &str = "message_too_large";
/// The status of a server ended for breaking the framing or sending a
/// body that is not JSON.
pub const PROTOCOL_ERROR: &str = "protocol_error";
