//! The invoker's handler against real peers: a SageMaker-shaped HTTP server in the
//! test (errors, event streams, hangs, headers) and moto (InvokeEndpoint, STS).
#![allow(clippy::unwrap_used)]

#[path = "invoker/support.rs"]
mod support;

// Against the local SageMaker-shaped server: every error row, streams, headers, limits.
#[path = "invoker/local.rs"]
mod local;
// Against moto server: InvokeEndpoint, and federation through STS.
#[path = "invoker/moto.rs"]
mod moto;
// The `invoker` binary's start-up.
#[path = "invoker/binary.rs"]
mod binary;
