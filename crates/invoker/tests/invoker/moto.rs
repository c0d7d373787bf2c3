use lambda_http::Body;
use serde_json::json;

use e2e::Moto;

use crate::support::*;

const ROLE: &str = "arn:aws:iam::123456789012:role/model-invoke";

fn body_text(body: &Body) -> String {
    match body {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn invoke_endpoint_reaches_moto_and_returns_the_queued_result() {
    let moto = Moto::start().await.unwrap();
    moto.queue_results(
        "eu-west-1",
        &[json!({
            "Body": "{\"label\": \"positive\"}",
            "ContentType": "application/json",
            "InvokedProductionVariant": "blue",
            "CustomAttributes": "model=v7"
        })],
    )
    .await
    .unwrap();
    let invoker = invoker(&[("INVOKER_ENDPOINTS", "my-model")], &moto.url(), None).await;
    let response = invoker::handle(&invoker, rest(|_| ())).await;
    assert_eq!(response.status(), 200, "{}", body_text(response.body()));
    assert_eq!(body_text(response.body()), "{\"label\": \"positive\"}");
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    assert_eq!(header("x-amzn-invoked-production-variant").as_deref(), Some("blue"));
    assert_eq!(
        header("x-amzn-sagemaker-custom-attributes").as_deref(),
        Some("model=v7")
    );
}

/// The access key id a SigV4 `Authorization` header names.
fn access_key(seen: &Seen) -> String {
    let auth = seen.header("authorization").unwrap();
    auth.split("Credential=")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

fn with_token(token: &str) -> lambda_http::Request {
    rest(|e| {
        e["headers"]["Authorization"] = json!(format!("Bearer {token}"));
        e["multiValueHeaders"] = json!({});
    })
}

/// An invoker in federation mode: STS is moto, SageMaker the local model server.
async fn federated() -> (Moto, ModelServer, invoker::Invoker) {
    let moto = Moto::start().await.unwrap();
    let server = ModelServer::start().await;
    let invoker = invoker(
        &[("INVOKER_ENDPOINTS", "my-model"), ("INVOKER_ROLE_ARN", ROLE)],
        &server.url,
        Some(&moto.url()),
    )
    .await;
    (moto, server, invoker)
}

#[tokio::test]
async fn federation_signs_with_the_callers_sts_credentials_cached_per_token() {
    let (_moto, server, invoker) = federated().await;
    for _ in 0..3 {
        server.reply(ModelReply::ok("text/plain", b"ok", &[]));
    }
    assert_eq!(
        invoker::handle(&invoker, with_token("token-of-caller-a"))
            .await
            .status(),
        200
    );
    assert_eq!(
        invoker::handle(&invoker, with_token("token-of-caller-a"))
            .await
            .status(),
        200
    );
    assert_eq!(
        invoker::handle(&invoker, with_token("token-of-caller-b"))
            .await
            .status(),
        200
    );

    let seen = server.seen();
    let keys: Vec<String> = seen.iter().map(access_key).collect();
    // STS (moto) issues ASIA… temporary keys; the static key is never used.
    for (key, call) in keys.iter().zip(&seen) {
        assert!(key.starts_with("ASIA"), "{key}");
        assert_ne!(key, STATIC_KEY);
        assert!(call.header("x-amz-security-token").is_some_and(|t| !t.is_empty()));
    }
    assert_eq!(
        keys[0], keys[1],
        "the same token reuses its credentials (no second STS call)"
    );
    assert_ne!(keys[0], keys[2], "another token gets its own credentials");
}

#[tokio::test]
async fn federation_without_a_bearer_token_is_refused() {
    let (_moto, server, invoker) = federated().await;
    let request = rest(|e| {
        e["headers"].as_object_mut().unwrap().remove("Authorization");
        e["multiValueHeaders"] = json!({});
    });
    let response = invoker::handle(&invoker, request).await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = serde_json::from_str(&body_text(response.body())).unwrap();
    assert_eq!(body["error"]["code"], "FederationDenied");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn sts_refusing_the_token_is_federation_denied() {
    // moto never reads the token, so a local server answers as STS does for a bad one.
    let sts = ModelServer::start().await;
    let server = ModelServer::start().await;
    let invoker = invoker(
        &[("INVOKER_ENDPOINTS", "my-model"), ("INVOKER_ROLE_ARN", ROLE)],
        &server.url,
        Some(&sts.url),
    )
    .await;
    let refusal = |code: &str| {
        ModelReply::Answer {
        status: 400,
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>Couldn't retrieve verification key from your identity provider, account 123456789012</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
        )
        .into_bytes(),
    }
    };
    for (code, status, error_code) in [
        ("InvalidIdentityToken", 403, "FederationDenied"),
        ("ExpiredTokenException", 403, "FederationDenied"),
        ("AccessDenied", 403, "FederationDenied"),
        ("IDPCommunicationError", 502, "UpstreamFailure"),
    ] {
        sts.reply(refusal(code));
        let response = invoker::handle(&invoker, with_token("some-token")).await;
        assert_eq!(response.status(), status, "{code}");
        let text = body_text(response.body());
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["code"], error_code, "{code}");
        assert!(!text.contains("123456789012"), "{text}");
    }
    assert!(server.seen().is_empty(), "no SageMaker call without credentials");
    let sts_call = &sts.seen()[0];
    let form = String::from_utf8_lossy(&sts_call.body).into_owned();
    assert!(form.contains("Action=AssumeRoleWithWebIdentity"), "{form}");
    assert!(
        form.contains("RoleSessionName=5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11"),
        "{form}"
    );
    assert!(form.contains("DurationSeconds=900"), "{form}");
    assert!(form.contains("WebIdentityToken=some-token"), "{form}");
}
