//! The hostile-load suite: attacks from outside, as an anonymous client
//! would make them, against a real `bytesbox serve` process, each with a
//! victim client measuring what a normal user sees at the same time. Each
//! attack is a module of `hostile/`; the figures they measure go to the
//! suite's report (`hostile/report.rs`), which the test command prints.
//! Needs root for the native backend: fails in CI without it, skips loudly
//! elsewhere.

// Tests may panic on a broken set-up; that is how they fail.
#![allow(clippy::unwrap_used)]

#[path = "common/docker_engine.rs"]
mod docker_engine;
#[path = "common/served.rs"]
mod served;

#[path = "hostile/report.rs"]
mod report;

#[path = "hostile/cancellation.rs"]
mod cancellation;
#[path = "hostile/connections.rs"]
mod connections;
#[path = "hostile/egress.rs"]
mod egress;
#[path = "hostile/fairness.rs"]
mod fairness;
#[path = "hostile/files.rs"]
mod files;
#[path = "hostile/git.rs"]
mod git;
#[path = "hostile/kernel_gateway.rs"]
mod kernel_gateway;
#[path = "hostile/kernel_memory.rs"]
mod kernel_memory;
#[path = "hostile/language_servers.rs"]
mod language_servers;
#[path = "hostile/projects_memory.rs"]
mod projects_memory;
#[path = "hostile/rebinding.rs"]
mod rebinding;
#[path = "hostile/sign_in.rs"]
mod sign_in;
#[path = "hostile/terminals.rs"]
mod terminals;
