//! The Bytesbox server: sessions over WebSocket (protocol v1,
//! `docs/protocol.md`) on top of the engine. The HTTP execute API, Piston
//! compatibility and metrics follow.

pub mod accounts;
pub mod api_docs;
pub mod api_error;
pub mod app;
pub mod box_in_use;
mod box_lease;
pub mod catalog_planner;
pub mod config;
pub mod connections;
pub mod egress;
pub mod fleet;
pub mod fleet_runs;
pub mod gateway;
pub mod git;
pub mod git_save;
pub mod guard;
pub mod health;
pub mod http;
pub mod inbound;
pub mod limits;
pub mod listener;
pub mod memory_budget;
pub mod metrics;
pub mod monitoring;
pub mod piston;
pub mod planner;
pub mod protocol;
pub mod rate_limit;
pub mod routes;
pub mod runs;
pub mod security_headers;
pub mod server_template;
pub mod session;
pub mod session_kernels;
pub mod session_lsp;
pub mod session_server;
pub mod sql_results;
pub mod terminal;
pub mod web;
pub mod workspace_watch;
pub mod ws;
mod ws_lsp;
