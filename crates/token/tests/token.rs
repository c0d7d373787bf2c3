//! Integration tests of the verifier against a real key server on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod support;

// A corpus of hostile and broken tokens, each refused with its exact reason.
#[path = "token/hostile.rs"]
mod hostile;
// Key rotation, refetch bounds, and key endpoint failures before and after caching.
#[path = "token/keys.rs"]
mod keys;
// One test per verification rule: skew edges, audience forms, roles/scopes/clients.
#[path = "token/rules.rs"]
mod rules;
