use serde_json::json;
use token::{Decision, Denial, Refusal};

use crate::support::*;

async fn standard(extra: &[(&'static str, &str)]) -> (KeyServer, token::Verifier) {
    let server = KeyServer::start(Reply::Json(jwks(&[keys()[0].jwk()]))).await;
    let mut pairs = entra_pairs(&server);
    for (name, value) in extra {
        pairs = with(pairs, name, value);
    }
    let verifier = verifier(&pairs).await;
    (server, verifier)
}

fn token(changes: serde_json::Value) -> String {
    keys()[0].token(&claims_with(changes))
}

#[tokio::test]
async fn expiry_edges_honour_the_skew() {
    let (_server, v) = standard(&[("AUTH_CLOCK_SKEW_SECONDS", "60")]).await;
    let exp = 2_000_000_000u64;
    let t = token(json!({"exp": exp, "nbf": 1_000_000_000u64}));
    // Valid while now < exp + skew.
    assert!(matches!(v.verify_at(&t, exp + 59).await, Decision::Allow(_)));
    assert_eq!(
        v.verify_at(&t, exp + 60).await.reason().unwrap(),
        format!("token expired at {exp} (now {}, skew 60s)", exp + 60)
    );
    // A fresh token that was never cached, checked at the edge directly.
    let t2 = token(json!({"exp": exp, "nbf": 1_000_000_000u64, "uti": "edge"}));
    assert!(matches!(
        v.verify_at(&t2, exp + 60).await,
        Decision::Refuse(Refusal::Expired { .. })
    ));
    // Fractional NumericDates are accepted and truncated.
    let t3 = token(json!({"exp": 2_000_000_000.75, "nbf": 1_000_000_000u64}));
    assert!(matches!(v.verify_at(&t3, exp + 59).await, Decision::Allow(_)));
}

#[tokio::test]
async fn not_before_edges_honour_the_skew() {
    let (_server, v) = standard(&[("AUTH_CLOCK_SKEW_SECONDS", "30")]).await;
    let nbf = 1_900_000_000u64;
    let t = token(json!({"nbf": nbf, "exp": nbf + 3600}));
    assert_eq!(
        v.verify_at(&t, nbf - 31).await,
        Decision::Refuse(Refusal::NotYetValid {
            nbf,
            now: nbf - 31,
            skew: 30
        })
    );
    assert!(matches!(v.verify_at(&t, nbf - 30).await, Decision::Allow(_)));
}

#[tokio::test]
async fn zero_skew_is_exact() {
    let (_server, v) = standard(&[("AUTH_CLOCK_SKEW_SECONDS", "0")]).await;
    let t = token(json!({"exp": 1_900_000_000u64, "nbf": 1_899_999_000u64}));
    assert!(matches!(v.verify_at(&t, 1_899_999_999).await, Decision::Allow(_)));
    assert!(matches!(
        v.verify_at(&t, 1_900_000_000).await,
        Decision::Refuse(Refusal::Expired { .. })
    ));
    assert!(matches!(
        v.verify_at(&t, 1_899_998_999).await,
        Decision::Refuse(Refusal::NotYetValid { .. })
    ));
}

#[tokio::test]
async fn audience_forms() {
    let (_server, v) = standard(&[("AUTH_AUDIENCES", &format!("{AUDIENCE},{CLIENT}"))]).await;
    // api:// form, GUID form, and an array holding one accepted value.
    for aud in [json!(AUDIENCE), json!(CLIENT), json!(["api://other", CLIENT])] {
        let decision = v.verify(&token(json!({ "aud": aud.clone() }))).await;
        assert!(matches!(decision, Decision::Allow(_)), "{aud}: {decision:?}");
    }
    let decision = v.verify(&token(json!({"aud": 42}))).await;
    assert!(matches!(decision, Decision::Refuse(Refusal::Claims(_))), "{decision:?}");
}

#[tokio::test]
async fn roles_scopes_and_clients_are_any_of() {
    let (_server, v) = standard(&[
        ("AUTH_REQUIRED_ROLES", "SageMaker.Invoke,SageMaker.Admin"),
        ("AUTH_REQUIRED_SCOPES", "invoke"),
        (
            "AUTH_ALLOWED_CLIENT_IDS",
            &format!("{CLIENT},11111111-0000-0000-0000-000000000000"),
        ),
    ])
    .await;
    let allow = [
        json!({"roles": ["Reader", "SageMaker.Admin"]}),
        json!({"roles": null, "scp": "read invoke"}),
        json!({"roles": ["Reader"], "scp": "invoke"}),
        json!({"azp": null, "appid": "11111111-0000-0000-0000-000000000000"}),
    ];
    for changes in allow {
        let decision = v.verify(&token(changes.clone())).await;
        assert!(matches!(decision, Decision::Allow(_)), "{changes}: {decision:?}");
    }
    let decision = v.verify(&token(json!({"roles": null, "scp": "read invoked"}))).await;
    assert_eq!(
        decision.reason().unwrap(),
        "caller has roles [] scopes [read, invoked]; required any of roles [SageMaker.Invoke, SageMaker.Admin] scopes [invoke]"
    );
    assert_eq!(decision.label(), "deny");
    let decision = v
        .verify(&token(
            json!({"azp": null, "appid": "22222222-0000-0000-0000-000000000000"}),
        ))
        .await;
    assert!(matches!(
        decision,
        Decision::Deny {
            reason: Denial::ClientNotAllowed { .. },
            ..
        }
    ));
}

#[tokio::test]
async fn no_requirements_admit_any_authenticated_caller() {
    let (_server, v) = standard(&[]).await;
    let decision = v.verify(&token(json!({"roles": null, "azp": null}))).await;
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
}

#[tokio::test]
async fn identity_and_context_from_a_v2_app_token() {
    let (_server, v) = standard(&[]).await;
    let Decision::Allow(identity) = v.verify(&token(json!({}))).await else {
        panic!()
    };
    let exp = claims()["exp"].as_u64().unwrap();
    assert_eq!(identity.principal_id, "5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11");
    let context: Vec<(&str, String)> = identity
        .context()
        .into_iter()
        .map(|(k, v)| (k, v.into_owned()))
        .collect();
    assert_eq!(
        context,
        vec![
            ("sub", "5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11".to_owned()),
            ("oid", "5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11".to_owned()),
            ("tid", TENANT.to_owned()),
            ("client_id", CLIENT.to_owned()),
            ("idtyp", "app".to_owned()),
            ("roles", "SageMaker.Invoke".to_owned()),
            ("iss", v2_issuer(TENANT)),
            ("exp", exp.to_string()),
        ]
    );
}

#[tokio::test]
async fn identity_from_a_v1_user_token() {
    let (_server, v) = standard(&[]).await;
    let t = token(json!({
        "iss": v1_issuer(TENANT), "ver": "1.0", "azp": null, "appid": CLIENT, "idtyp": null,
        "roles": null, "scp": "user_impersonation invoke", "oid": null, "sub": "pairwise-sub",
        "upn": "ada@contoso.com", "unique_name": "ada@contoso.com"
    }));
    let Decision::Allow(identity) = v.verify(&t).await else {
        panic!()
    };
    assert_eq!(identity.principal_id, "pairwise-sub", "no oid: sub");
    assert_eq!(identity.client_id.as_deref(), Some(CLIENT), "appid when no azp");
    assert_eq!(identity.username.as_deref(), Some("ada@contoso.com"));
    assert_eq!(identity.scopes().collect::<Vec<_>>(), ["user_impersonation", "invoke"]);
    let keys: Vec<_> = identity.context().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["sub", "tid", "client_id", "scp", "username", "iss", "exp"]);
}

#[tokio::test]
async fn repeated_tokens_come_from_the_cache_but_expire() {
    let (_server, v) = standard(&[("AUTH_CLOCK_SKEW_SECONDS", "0")]).await;
    let t = token(json!({"exp": 1_900_000_000u64, "nbf": 1_000_000_000u64}));
    assert!(matches!(v.verify_at(&t, 1_899_999_000).await, Decision::Allow(_)));
    assert!(matches!(v.verify_at(&t, 1_899_999_999).await, Decision::Allow(_)));
    assert!(matches!(
        v.verify_at(&t, 1_900_000_000).await,
        Decision::Refuse(Refusal::Expired { .. })
    ));
}

#[tokio::test]
async fn es256_when_allowed() {
    let ec = EcKey::generate("ec-1");
    let server = KeyServer::start(Reply::Json(jwks(&[ec.jwk(), keys()[0].jwk()]))).await;
    let v = verifier(&with(entra_pairs(&server), "AUTH_ALLOWED_ALGORITHMS", "ES256,RS256")).await;
    assert!(matches!(v.verify(&ec.token(&claims())).await, Decision::Allow(_)));
    assert!(matches!(v.verify(&token(json!({}))).await, Decision::Allow(_)));
    // An RS256 header on the EC key: the key cannot verify that algorithm.
    let mut header = keys()[0].header();
    header["kid"] = json!("ec-1");
    let forged = keys()[0].sign(&header, &claims());
    assert_eq!(
        v.verify(&forged).await.reason().unwrap(),
        "key ec-1 is for another algorithm family, token says RS256"
    );
}

#[tokio::test]
async fn escaped_json_strings_in_claims_are_understood() {
    // Some issuers escape slashes ("https:\/\/…"); the value is the same.
    let (_server, v) = standard(&[]).await;
    let now = now();
    let payload = format!(
        r#"{{"aud":"api:\/\/sagemaker-bridge","iss":"https:\/\/login.microsoftonline.com\/{TENANT}\/v2.0","exp":{},"tid":"{TENANT}","oid":"o\u0031","roles":["SageMaker\u002eInvoke"]}}"#,
        now + 600
    );
    let token = keys()[0].sign_segments(&b64(keys()[0].header().to_string()), &b64(payload));
    let Decision::Allow(identity) = v.verify(&token).await else {
        panic!()
    };
    assert_eq!(identity.iss, v2_issuer(TENANT));
    assert_eq!(identity.principal_id, "o1");
    assert_eq!(identity.roles, ["SageMaker.Invoke"]);
}
