//! The Bytesbox server. Built in steps: the protocol types are here; the
//! sessions, HTTP and WebSocket handlers follow (see `docs/protocol.md`).

pub mod protocol;
