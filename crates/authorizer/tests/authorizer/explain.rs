use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::*;

/// Runs `authorizer explain`, the token as argument or (None) on stdin.
fn explain(auth: &[(&str, String)], argument: Option<&str>, stdin: &str) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authorizer"));
    command
        .env_clear()
        .arg("explain")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(token) = argument {
        command.arg(token);
    }
    for (k, v) in auth {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status.code().unwrap(), String::from_utf8(output.stdout).unwrap())
}

async fn pairs(extra: &[(&'static str, &str)]) -> (KeyServer, Vec<(&'static str, String)>) {
    let server = KeyServer::start(Reply::Json(jwks(&[keys()[0].jwk()]))).await;
    let mut pairs = entra_pairs(&server);
    for (k, v) in extra {
        pairs = with(pairs, k, v);
    }
    (server, pairs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_token_passes_every_check() {
    let (_server, auth) = pairs(&[("AUTH_REQUIRED_ROLES", "SageMaker.Invoke")]).await;
    let token = keys()[0].token(&claims());
    let (code, out) = tokio::task::spawn_blocking(move || explain(&auth, Some(&token), ""))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}");
    for step in [
        "decoding",
        "header",
        "issuer",
        "key lookup",
        "signature",
        "lifetime",
        "audience",
        "tenant",
        "roles/scopes",
        "client",
    ] {
        assert!(out.contains(&format!("pass  {step}\n")), "{step}: {out}");
    }
    assert!(
        out.contains(&format!(
            "decision: ALLOW (principal {})",
            claims()["oid"].as_str().unwrap()
        )),
        "{out}"
    );
    assert!(
        out.contains("claim.aud                 api://sagemaker-bridge"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_check_the_reason_and_the_fix() {
    let (_server, auth) = pairs(&[
        ("AUTH_TOKEN_VERSIONS", "2"),
        ("AUTH_REQUIRED_ROLES", "SageMaker.Invoke"),
    ])
    .await;
    let key = &keys()[0];
    let graph = {
        let mut header = key.header();
        header["nonce"] = json!("abc");
        key.sign(&header, &claims())
    };
    let cases = [
        (
            key.token(&claims_with(json!({"iss": v1_issuer(TENANT), "ver": "1.0"}))),
            "FAIL  issuer",
            "fix: token is v1; set AUTH_TOKEN_VERSIONS to include 1 or set accessTokenAcceptedVersion: 2 in the API's app manifest",
            "decision: UNAUTHORIZED: API Gateway answers 401",
        ),
        (
            key.token(&claims_with(json!({"aud": CLIENT}))),
            "FAIL  audience",
            "fix: audience is the GUID form; add it to AUTH_AUDIENCES",
            "decision: UNAUTHORIZED",
        ),
        (
            graph,
            "FAIL  header",
            "fix: this is a Microsoft Graph token; request a token for your API's scope",
            "decision: UNAUTHORIZED",
        ),
        (
            key.token(&claims_with(json!({"roles": ["Reader"]}))),
            "FAIL  roles/scopes  caller has roles [Reader] scopes []; required any of roles [SageMaker.Invoke] scopes []",
            "fix: assign the app role",
            "decision: DENY: API Gateway answers 403",
        ),
        ("not-a-token".to_owned(), "FAIL  decoding", "", "decision: UNAUTHORIZED"),
    ];
    for (token, fail, fix, decision) in cases {
        let auth = auth.clone();
        // The token on stdin, as a header value.
        let stdin = format!("Bearer {token}\n");
        let (code, out) = tokio::task::spawn_blocking(move || explain(&auth, None, &stdin))
            .await
            .unwrap();
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(fail), "{fail}: {out}");
        assert!(out.contains(fix), "{fix}: {out}");
        assert!(out.contains(decision), "{decision}: {out}");
    }
}

#[test]
fn a_bad_configuration_is_exit_code_2() {
    let (code, out) = explain(&[("AUTH_TENANT_ID", "nope".to_owned())], Some("x"), "");
    assert_eq!(code, 2);
    assert!(out.is_empty());
}
