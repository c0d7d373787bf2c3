//! The handler on the real event fixtures, and the real binary under a Lambda Runtime API.
#![allow(clippy::unwrap_used)]

#[path = "../../token/tests/support/mod.rs"]
mod support;

// The handler on each event form, with tokens from a real key server.
#[path = "authorizer/handler.rs"]
mod handler;
// The `authorizer` binary, run as Lambda runs it, against a Runtime API in the test.
#[path = "authorizer/runtime.rs"]
mod runtime;
// `authorizer explain`, run as an operator would.
#[path = "authorizer/explain.rs"]
mod explain;
