//! The hostile-load suite: attacks from outside, as an anonymous client
//! would make them, against a real `bytesbox serve` process, each with a
//! victim client measuring what a normal user sees at the same time. Each
//! attack is a module of `hostile/`; the figures they measure go to the
//! suite's report (`hostile/report.rs`), which the test command prints.
//! Needs root for the native backend: fails in CI without it, skips loudly
//! elsewhere.

// Tests may panic on a broken set-up; that is how they fail.
#![allow(clippy::unwrap_used)]

#[path = "common/served.rs"]
mod served;

#[path = "hostile/report.rs"]
mod report;

#[path = "hostile/connections.rs"]
mod connections;
