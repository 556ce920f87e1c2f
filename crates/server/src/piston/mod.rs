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
