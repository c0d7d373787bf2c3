//! `authorizer explain`: every check on one token, pass or fail, with the reason and
//! the fix. Same `AUTH_*` configuration and keys as the function; no AWS needed.

use std::fmt::Write as _;

use serde_json::Value;
use token::{Decision, Step, Verifier, inspect};

use crate::handler::bearer_token;

/// The report's text and the process exit code: 0 allowed, 1 refused (401) or denied (403).
pub async fn explain(verifier: &Verifier, credential: &str, now: u64) -> (String, i32) {
    let credential = credential.trim();
    // Accept the header value as well as the bare token.
    let token = match bearer_token(Some(credential)) {
        Ok(token) => token,
        Err(_) => credential,
    };
    let mut out = String::new();
    summarize(&mut out, token, now);
    let decision = verifier.verify_at(token, now).await;
    let failed = match &decision {
        Decision::Allow(_) => None,
        Decision::Refuse(r) => Some((r.step(), r.to_string(), r.fix())),
        Decision::Deny { reason, .. } => Some((reason.step(), reason.to_string(), Some(reason.fix()))),
    };
    for step in Step::ALL {
        let label = step.label();
        match &failed {
            Some((at, reason, fix)) if *at == step => {
                let _ = writeln!(out, "FAIL  {label:<13} {reason}");
                if let Some(fix) = fix {
                    let _ = writeln!(out, "      {:<13} fix: {fix}", "");
                }
            }
            Some((at, ..)) if *at < step => {
                let _ = writeln!(out, "----  {label:<13} not checked");
            }
            _ => {
                let _ = writeln!(out, "pass  {label}");
            }
        }
    }
    let (verdict, code) = match &decision {
        Decision::Allow(identity) => (format!("ALLOW (principal {})", identity.principal_id), 0),
        Decision::Deny { identity, .. } => (
            format!("DENY: API Gateway answers 403 (principal {})", identity.principal_id),
            1,
        ),
        Decision::Refuse(_) => ("UNAUTHORIZED: API Gateway answers 401".to_owned(), 1),
    };
    let _ = writeln!(out, "decision: {verdict}");
    (out, code)
}

/// What the token says about itself (unverified), to read the checks against.
fn summarize(out: &mut String, token: &str, now: u64) {
    let (header, claims) = inspect(token);
    let field = |value: &Option<Value>, key: &str| -> Option<String> {
        let v = value.as_ref()?.get(key)?;
        Some(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let _ = writeln!(out, "token: {} bytes", token.len());
    for key in ["alg", "kid", "typ"] {
        if let Some(v) = field(&header, key) {
            let _ = writeln!(out, "  header.{key:<18} {v}");
        }
    }
    for key in [
        "iss", "aud", "tid", "ver", "azp", "appid", "idtyp", "roles", "scp", "oid", "sub",
    ] {
        if let Some(v) = field(&claims, key) {
            let _ = writeln!(out, "  claim.{key:<19} {v}");
        }
    }
    if let Some(exp) = claims.as_ref().and_then(|c| c.get("exp")).and_then(Value::as_u64) {
        let relative = if exp > now {
            format!("in {} s", exp - now)
        } else {
            format!("{} s ago", now - exp)
        };
        let _ = writeln!(out, "  claim.{:<19} {exp} ({relative})", "exp");
    }
}
