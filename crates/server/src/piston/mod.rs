//! Piston v2 compatibility (`docs/piston.md`): `POST /api/v2/execute`,
//! `GET /api/v2/runtimes` and the WebSocket `/api/v2/connect`, so that
//! clients written for Piston's public API run their code on Bytesbox
//! unchanged. Everything goes through the same planner, engine and
//! admission as protocol v1; this module only translates.

mod outcome;
mod request;
pub mod rest;
pub mod version;
pub mod ws;

use std::time::Duration;

/// Settings of the Piston endpoints. Routes read them from an
/// `axum::Extension<PistonConfig>` layer when there is one, else use the
/// defaults.
#[derive(Clone, Debug)]
pub struct PistonConfig {
    /// How long a `/api/v2/connect` socket may wait for its `init`
    /// before it is closed with 4001 (Piston: 1 s).
    pub init_timeout: Duration,
}

impl Default for PistonConfig {
    fn default() -> Self {
        PistonConfig { init_timeout: Duration::from_secs(1) }
    }
}
