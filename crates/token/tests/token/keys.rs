use std::time::Duration;

use serde_json::json;
use token::{Decision, Refusal};

use crate::support::*;

fn allowed(decision: &Decision) -> bool {
    matches!(decision, Decision::Allow(_))
}

fn refusal(decision: Decision) -> Refusal {
    match decision {
        Decision::Refuse(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn keys_are_fetched_once_at_init_and_reused() {
    let [a, ..] = keys();
    let server = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
    let verifier = verifier(&entra_pairs(&server)).await;
    assert_eq!(server.hits("/keys"), 1);
    for i in 0..20 {
        let token = a.token(&claims_with(json!({ "uti": format!("t{i}") })));
        assert!(allowed(&verifier.verify(&token).await));
    }
    assert_eq!(server.hits("/keys"), 1);
    assert_eq!(verifier.fetch_count(), 1);
}

#[tokio::test]
async fn rotation_new_kid_after_exactly_one_refetch_and_removed_key_refused() {
    let [a, b, _] = keys();
    let server = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
    let verifier = verifier(&entra_pairs(&server)).await;
    let old = a.token(&claims());
    assert!(allowed(&verifier.verify(&old).await));

    // The issuer rotates: b is published and a withdrawn.
    server.set(Reply::Json(jwks(&[b.jwk()])));
    let new = b.token(&claims());
    assert!(allowed(&verifier.verify(&new).await));
    assert_eq!(server.hits("/keys"), 2, "one refetch for the new kid");
    assert!(allowed(&verifier.verify(&new).await));
    assert_eq!(server.hits("/keys"), 2);

    // A cached verdict for the withdrawn key is dropped, and the key refused.
    let refused = refusal(verifier.verify(&old).await);
    assert_eq!(
        refused,
        Refusal::UnknownKey {
            kid: "key-a".into(),
            detail: "not in the keys just refetched".into()
        }
    );
    let fresh_old = a.token(&claims_with(json!({"uti": "another"})));
    assert!(matches!(
        refusal(verifier.verify(&fresh_old).await),
        Refusal::UnknownKey { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_is_bounded_by_the_refresh_period() {
    let [a, ..] = keys();
    let server = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
    let pairs = with(entra_pairs(&server), "AUTH_JWKS_MIN_REFRESH_SECONDS", "30");
    let verifier = std::sync::Arc::new(verifier(&pairs).await);
    assert_eq!(server.hits("/keys"), 1);

    let mut tasks = Vec::new();
    for i in 0..200 {
        let verifier = verifier.clone();
        let mut header = a.header();
        header["kid"] = json!(format!("attacker-{i}"));
        let token = a.sign(&header, &claims());
        tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }
    for task in tasks {
        let refused = refusal(task.await.unwrap());
        assert!(
            matches!(&refused, Refusal::UnknownKey { detail, .. } if detail.starts_with("not refetched: last fetch 0s ago, AUTH_JWKS_MIN_REFRESH_SECONDS is 30")),
            "{refused:?}"
        );
    }
    assert_eq!(server.hits("/keys"), 1, "no refetch inside the refresh period");
    // Good tokens are unaffected.
    assert!(allowed(&verifier.verify(&a.token(&claims())).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unknown_kids_share_one_refetch() {
    let [a, b, _] = keys();
    let server = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
    let pairs = with(entra_pairs(&server), "AUTH_JWKS_MIN_REFRESH_SECONDS", "30");
    // No prewarm: the first requests find no keys and must coalesce on one fetch.
    let verifier = std::sync::Arc::new(token::Verifier::with_settings(config(&pairs), settings()).unwrap());
    server.set(Reply::Json(jwks(&[a.jwk(), b.jwk()])));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let verifier = verifier.clone();
        let key = if i % 2 == 0 { a } else { b };
        let token = key.token(&claims_with(json!({ "uti": format!("c{i}") })));
        tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }
    for task in tasks {
        assert!(allowed(&task.await.unwrap()));
    }
    assert_eq!(server.hits("/keys"), 1);
}

#[tokio::test]
async fn key_endpoint_failures_before_any_key_was_cached() {
    let [a, ..] = keys();
    let token = a.token(&claims());
    let cases = [
        (Reply::Status(500), "HTTP status 500".to_owned()),
        (Reply::Hang, "no answer within 600ms".to_owned()),
        (
            Reply::Garbage,
            "not a valid document: not a JWKS: expected value".to_owned(),
        ),
        (
            Reply::Oversized(300 * 1024),
            "response larger than 262144 bytes".to_owned(),
        ),
        (
            Reply::Json(jwks(&[])),
            "not a valid document: no usable signing key in the JWKS".to_owned(),
        ),
    ];
    for (reply, problem) in cases {
        let server = KeyServer::start(reply).await;
        let verifier = token::Verifier::with_settings(config(&entra_pairs(&server)), settings()).unwrap();
        let prewarm = verifier.prewarm().await.unwrap_err().to_string();
        let expected = format!("fetching {}: {problem}", server.keys_url());
        assert!(prewarm.starts_with(&expected), "{prewarm} vs {expected}");
        let refused = refusal(verifier.verify(&token).await);
        match refused {
            Refusal::NoKeys(detail) => assert!(detail.starts_with(&expected), "{detail}"),
            other => panic!("{problem}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unreachable_key_endpoint_is_a_refusal_not_a_hang() {
    // Bind then drop a listener: its port refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pairs = vec![
        ("AUTH_TENANT_ID", TENANT.to_owned()),
        ("AUTH_AUDIENCES", AUDIENCE.to_owned()),
        ("AUTH_JWKS_URL", format!("http://127.0.0.1:{port}/keys")),
    ];
    let verifier = token::Verifier::with_settings(config(&pairs), settings()).unwrap();
    assert!(
        verifier
            .prewarm()
            .await
            .unwrap_err()
            .to_string()
            .contains("connection failed")
    );
    let refused = refusal(verifier.verify(&keys()[0].token(&claims())).await);
    assert!(
        matches!(&refused, Refusal::NoKeys(d) if d.contains("connection failed")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn key_endpoint_failures_after_keys_were_cached_keep_last_known_good() {
    let [a, b, _] = keys();
    for (reply, problem) in [
        (Reply::Status(500), "HTTP status 500"),
        (Reply::Hang, "no answer within 600ms"),
        (Reply::Garbage, "not a valid document"),
        (Reply::Oversized(300 * 1024), "response larger than 262144 bytes"),
    ] {
        let server = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
        let verifier = verifier(&entra_pairs(&server)).await;
        server.set(reply);
        // An unknown kid forces a refetch, which fails: refused, with the cause.
        let refused = refusal(verifier.verify(&b.token(&claims())).await);
        let expected = format!("refetch failed: fetching {}: {problem}", server.keys_url());
        assert!(
            matches!(&refused, Refusal::UnknownKey { kid, detail } if kid == "key-b" && detail.starts_with(&expected)),
            "{refused:?}"
        );
        // The cached key still serves.
        assert!(
            allowed(&verifier.verify(&a.token(&claims_with(json!({"uti": problem})))).await),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn stale_keys_are_refreshed_and_kept_when_the_refresh_fails() {
    let [a, ..] = keys();
    let server = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
    let pairs = with(entra_pairs(&server), "AUTH_JWKS_CACHE_SECONDS", "1");
    let verifier = verifier(&pairs).await;
    // Time must pass for keys to go stale; there is nothing to wait on but the clock.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(allowed(
        &verifier.verify(&a.token(&claims_with(json!({"uti": "1"})))).await
    ));
    assert_eq!(server.hits("/keys"), 2, "stale keys refetched");
    server.set(Reply::Status(503));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(allowed(
        &verifier.verify(&a.token(&claims_with(json!({"uti": "2"})))).await
    ));
    assert_eq!(
        server.hits("/keys"),
        3,
        "refetch attempted, failed, last-known-good kept"
    );
}

#[tokio::test]
async fn discovery_finds_the_jwks_and_checks_the_issuer() {
    let [a, ..] = keys();
    let server = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
    let issuer = format!("{}/realms/bridge", server.url());
    server.serve_discovery(&issuer);
    let pairs = vec![
        ("AUTH_ISSUERS", issuer.clone()),
        ("AUTH_AUDIENCES", AUDIENCE.to_owned()),
    ];
    let verifier = verifier(&pairs).await;
    assert_eq!(server.hits("/realms/bridge/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits("/keys"), 1);
    let token = a.token(&claims_with(json!({ "iss": issuer, "tid": null })));
    let decision = verifier.verify(&token).await;
    assert!(allowed(&decision), "{decision:?}");

    // A discovery document naming another issuer is not trusted.
    let liar = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
    liar.serve_discovery("https://login.microsoftonline.com/evil/v2.0");
    let claimed = format!("{}/", liar.url());
    let pairs = vec![
        ("AUTH_ISSUERS", claimed.clone()),
        ("AUTH_AUDIENCES", AUDIENCE.to_owned()),
    ];
    let fooled = crate::support::verifier(&pairs).await;
    assert_eq!(liar.hits("/keys"), 0);
    let refused = refusal(fooled.verify(&a.token(&claims_with(json!({ "iss": claimed })))).await);
    assert!(
        matches!(&refused, Refusal::NoKeys(d) if d.contains("discovery issuer \"https://login.microsoftonline.com/evil/v2.0\" differs")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn entra_key_issuer_template_is_filled_with_the_token_tenant() {
    let [a, ..] = keys();
    let mut jwk = a.jwk();
    jwk["issuer"] = json!("https://login.microsoftonline.com/{tenantid}/v2.0");
    let server = KeyServer::start(Reply::Json(jwks(&[jwk]))).await;
    let multi = with(
        with(entra_pairs(&server), "AUTH_TENANT_ID", "common"),
        "AUTH_ALLOWED_TENANTS",
        &format!("{TENANT},{OTHER_TENANT}"),
    );
    let verifier = verifier(&multi).await;
    for tid in [TENANT, OTHER_TENANT] {
        let v2 = a.token(&claims_with(json!({"iss": v2_issuer(tid), "tid": tid})));
        assert!(allowed(&verifier.verify(&v2).await), "v2 {tid}");
        // v1 tokens carry sts.windows.net issuers while keys name the v2 one.
        let v1 = a.token(&claims_with(json!({"iss": v1_issuer(tid), "tid": tid, "ver": "1.0"})));
        assert!(allowed(&verifier.verify(&v1).await), "v1 {tid}");
    }
}
