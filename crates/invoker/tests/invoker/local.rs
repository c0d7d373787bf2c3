use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::Body;
use serde_json::{Value, json};

use crate::support::*;

const ENDPOINTS: (&str, &str) = ("INVOKER_ENDPOINTS", "my-model,private-model:SageMaker.Admin");

fn body_bytes(body: &Body) -> Vec<u8> {
    match body {
        Body::Text(t) => t.clone().into_bytes(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    }
}

fn json_body(response: &lambda_http::Response<Body>) -> Value {
    serde_json::from_slice(&body_bytes(response.body())).unwrap()
}

fn header<'a>(response: &'a lambda_http::Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_call_maps_body_and_headers_both_ways_and_is_audited() {
    let (logs, _guard) = Logs::capture();
    let server = ModelServer::start().await;
    let invoker = invoker(&[ENDPOINTS], &server.url, None).await;
    server.reply(ModelReply::ok(
        "application/json",
        br#"{"generated_text":"Paris"}"#,
        &[
            ("X-Amzn-Invoked-Production-Variant", "variant-b"),
            ("X-Amzn-SageMaker-Custom-Attributes", "trace=1"),
            (
                "X-Amzn-SageMaker-New-Session-Id",
                "sess-2; Expires=2026-12-04T00:00:00Z",
            ),
            ("X-Amzn-SageMaker-Closed-Session-Id", "sess-1"),
        ],
    ));
    let request = rest(|e| {
        let headers = e["headers"].as_object_mut().unwrap();
        for (k, v) in [
            ("X-Amzn-SageMaker-Custom-Attributes", "c=1"),
            ("X-Amzn-SageMaker-Target-Model", "model-a.tar.gz"),
            ("X-Amzn-SageMaker-Target-Variant", "variant-b"),
            ("X-Amzn-SageMaker-Target-Container-Hostname", "container-1"),
            ("X-Amzn-SageMaker-Inference-Id", "inf-1"),
            ("X-Amzn-SageMaker-Enable-Explanations", "`true`"),
            ("X-Amzn-SageMaker-Inference-Component", "ic-1"),
            ("X-Amzn-SageMaker-Session-Id", "NEW_SESSION"),
        ] {
            headers.insert(k.into(), json!(v));
        }
        e["multiValueHeaders"] = json!({});
    });
    let response = invoker::handle(&invoker, request).await;

    assert_eq!(response.status(), 200);
    assert_eq!(body_bytes(response.body()), br#"{"generated_text":"Paris"}"#);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(
        header(&response, "x-amzn-invoked-production-variant"),
        Some("variant-b")
    );
    assert_eq!(header(&response, "x-amzn-sagemaker-custom-attributes"), Some("trace=1"));
    assert_eq!(
        header(&response, "x-amzn-sagemaker-new-session-id"),
        Some("sess-2; Expires=2026-12-04T00:00:00Z")
    );
    assert_eq!(header(&response, "x-amzn-sagemaker-closed-session-id"), Some("sess-1"));
    assert_eq!(
        header(&response, "x-correlation-id"),
        Some("0f8fad5b-d9cb-469f-a165-70867728950e")
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let call = &seen[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/endpoints/my-model/invocations")
    );
    assert_eq!(call.body, br#"{"inputs": "What is the capital of France?"}"#);
    for (name, value) in [
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("x-amzn-sagemaker-custom-attributes", "c=1"),
        ("x-amzn-sagemaker-target-model", "model-a.tar.gz"),
        ("x-amzn-sagemaker-target-variant", "variant-b"),
        ("x-amzn-sagemaker-target-container-hostname", "container-1"),
        ("x-amzn-sagemaker-inference-id", "inf-1"),
        ("x-amzn-sagemaker-enable-explanations", "`true`"),
        ("x-amzn-sagemaker-inference-component", "ic-1"),
        ("x-amzn-sagemaker-session-id", "NEW_SESSION"),
    ] {
        assert_eq!(call.header(name), Some(value), "{name}");
    }
    assert!(
        call.header("authorization")
            .unwrap()
            .contains(&format!("Credential={STATIC_KEY}/"))
    );
    assert_eq!(
        call.header("x-correlation-id"),
        None,
        "client headers are not forwarded blindly"
    );

    let audits = logs.audits();
    assert_eq!(audits.len(), 1);
    let audit = &audits[0];
    assert_eq!(audit["principal"], "5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11");
    assert_eq!(audit["tid"], "72f988bf-86f1-41af-91ab-2d7cd011db47");
    assert_eq!(audit["client_id"], "6e74172b-be56-4843-9ff4-e66a39bb12e3");
    assert_eq!(audit["endpoint"], "my-model");
    assert_eq!(audit["variant"], "variant-b");
    assert_eq!(audit["status"], 200);
    assert_eq!(audit["error_code"], "");
    assert!(audit["latency_ms"].is_u64());
    assert_eq!(audit["bytes_in"], 44);
    assert_eq!(audit["bytes_out"], 26);
    assert_eq!(audit["request_id"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    assert_eq!(audit["correlation_id"], "0f8fad5b-d9cb-469f-a165-70867728950e");
    let text = logs.text();
    assert!(!text.contains("capital of France"), "payload logged");
    assert!(!text.contains("Paris"), "answer logged");
    assert!(!text.contains("eyJ0eXAi"), "token logged");
}

#[tokio::test]
async fn http_api_events_work_and_correlation_defaults_to_the_request_id() {
    let server = ModelServer::start().await;
    let invoker = invoker(&[ENDPOINTS], &server.url, None).await;
    server.reply(ModelReply::ok("text/plain", b"ok", &[]));
    let request = request("invoker-http-api-v2.json", |e| {
        e["headers"].as_object_mut().unwrap().remove("x-correlation-id");
    });
    let response = invoker::handle(&invoker, request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-correlation-id"), Some("Kd3Z7jYhjoEEMSg="));
    assert_eq!(server.seen()[0].path, "/endpoints/my-model/invocations");
}

#[tokio::test]
async fn binary_bodies_pass_byte_for_byte() {
    let server = ModelServer::start().await;
    let invoker = invoker(&[ENDPOINTS], &server.url, None).await;
    let input: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let output: Vec<u8> = (0..=255u8).rev().cycle().take(3000).collect();
    server.reply(ModelReply::ok("application/x-npy", &output, &[]));
    let request = rest(|e| {
        e["body"] = json!(STANDARD.encode(&input));
        e["isBase64Encoded"] = json!(true);
        e["headers"]["Content-Type"] = json!("application/x-npy");
        e["multiValueHeaders"] = json!({});
    });
    let response = invoker::handle(&invoker, request).await;
    assert_eq!(response.status(), 200);
    assert!(matches!(response.body(), Body::Binary(_)));
    assert_eq!(body_bytes(response.body()), output);
    assert_eq!(server.seen()[0].body, input);
    assert_eq!(server.seen()[0].header("content-type"), Some("application/x-npy"));
}

#[tokio::test]
async fn the_six_mib_edge() {
    let server = ModelServer::start().await;
    let invoker = invoker(&[ENDPOINTS], &server.url, None).await;
    server.reply(ModelReply::ok("text/plain", b"ok", &[]));
    let exact = "a".repeat(6_291_456);
    let response = invoker::handle(&invoker, rest(|e| e["body"] = json!(exact))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(server.seen()[0].body.len(), 6_291_456);

    let over = "a".repeat(6_291_457);
    let response = invoker::handle(&invoker, rest(|e| e["body"] = json!(over))).await;
    assert_eq!(response.status(), 413);
    assert_eq!(json_body(&response)["error"]["code"], "PayloadTooLarge");
    assert_eq!(server.seen().len(), 1, "no call for an oversized body");
}

#[tokio::test]
async fn refusals_before_any_call() {
    let (logs, _guard) = Logs::capture();
    let server = ModelServer::start().await;
    let invoker = invoker(&[ENDPOINTS], &server.url, None).await;
    let cases: Vec<(&str, lambda_http::Request, u16, &str)> = vec![
        (
            "no authorizer identity",
            rest(|e| e["requestContext"]["authorizer"] = json!(null)),
            401,
            "Unauthenticated",
        ),
        (
            "unknown endpoint",
            rest(|e| e["path"] = json!("/endpoints/other-model/invocations")),
            404,
            "UnknownEndpoint",
        ),
        (
            "caller lacks the role",
            rest(|e| e["path"] = json!("/endpoints/private-model/invocations")),
            403,
            "AccessDenied",
        ),
        (
            "unknown route",
            rest(|e| e["path"] = json!("/models/my-model")),
            404,
            "NotFound",
        ),
        (
            "wrong method",
            rest(|e| e["httpMethod"] = json!("GET")),
            405,
            "MethodNotAllowed",
        ),
    ];
    for (name, request, status, code) in cases {
        let response = invoker::handle(&invoker, request).await;
        assert_eq!(response.status(), status, "{name}");
        let body = json_body(&response);
        assert_eq!(body["error"]["code"], code, "{name}");
        assert_eq!(body["requestId"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "{name}");
        assert_eq!(header(&response, "content-type"), Some("application/json"));
    }
    assert!(server.seen().is_empty());
    let audits = logs.audits();
    assert_eq!(audits.len(), 5);
    assert_eq!(audits[0]["principal"], "");
    assert_eq!(audits[0]["error_code"], "Unauthenticated");
    assert_eq!(audits[2]["status"], 403);

    // The admin role opens the private endpoint.
    server.reply(ModelReply::ok("text/plain", b"ok", &[]));
    let admin = rest(|e| {
        e["path"] = json!("/endpoints/private-model/invocations");
        e["requestContext"]["authorizer"]["roles"] = json!("Reader SageMaker.Admin");
    });
    assert_eq!(invoker::handle(&invoker, admin).await.status(), 200);
}

#[tokio::test]
async fn every_sagemaker_error_row() {
    let server = ModelServer::start().await;
    let invoker = invoker(&[ENDPOINTS], &server.url, None).await;
    let leaky = "Endpoint my-model of account 123456789012 not found. See arn:aws:sagemaker:eu-west-1:123456789012:endpoint/my-model";
    // The reply, the status and code the caller gets, and a header that must come with them.
    type Row<'a> = (ModelReply, u16, &'a str, Option<(&'a str, &'a str)>);
    let rows: Vec<Row<'_>> = vec![
        (
            ModelReply::error(400, "ValidationError", json!({"message": leaky})),
            400,
            "ValidationError",
            None,
        ),
        (
            ModelReply::error(
                424,
                "ModelError",
                json!({
                    "message": "Received server error (500) from primary with message \"CUDA out of memory\". See https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEventViewer:group=/aws/sagemaker/Endpoints/my-model in account 123456789012 for more information.",
                    "OriginalStatusCode": 500,
                    "OriginalMessage": "CUDA out of memory",
                    "LogStreamArn": "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/my-model"
                }),
            ),
            424,
            "ModelError",
            Some(("x-amzn-sagemaker-original-status-code", "500")),
        ),
        (
            ModelReply::error(
                400,
                "ThrottlingException",
                json!({"message": "Rate exceeded for account 123456789012"}),
            ),
            429,
            "Throttled",
            Some(("retry-after", "1")),
        ),
        (
            ModelReply::error(429, "ModelNotReadyException", json!({"message": "model loading"})),
            429,
            "ModelNotReady",
            Some(("retry-after", "5")),
        ),
        (
            ModelReply::error(503, "ServiceUnavailable", json!({"message": "try later"})),
            503,
            "ServiceUnavailable",
            None,
        ),
        (
            ModelReply::error(500, "InternalFailure", json!({"message": "boom in 123456789012"})),
            502,
            "UpstreamFailure",
            None,
        ),
        (
            ModelReply::error(424, "InternalDependencyException", json!({"message": "dependency"})),
            502,
            "UpstreamFailure",
            None,
        ),
        (
            ModelReply::error(
                400,
                "AccessDeniedException",
                json!({"message": "User: arn:aws:sts::123456789012:assumed-role/invoker-role/invoker is not authorized to perform: sagemaker:InvokeEndpoint"}),
            ),
            502,
            "UpstreamFailure",
            None,
        ),
        (
            ModelReply::Answer {
                status: 200,
                headers: vec![],
                body: b"".to_vec(),
            },
            200,
            "",
            None,
        ),
    ];
    for (reply, status, code, extra) in rows {
        server.reply(reply);
        let response = invoker::handle(&invoker, rest(|_| ())).await;
        assert_eq!(response.status(), status, "{code}");
        if status == 200 {
            continue;
        }
        let body = json_body(&response);
        assert_eq!(body["error"]["code"], code);
        let message = body["error"]["message"].as_str().unwrap();
        for secret in ["123456789012", "arn:aws", "/aws/sagemaker", "invoker-role"] {
            assert!(!message.contains(secret), "{code} leaks {secret}: {message}");
        }
        if let Some((name, value)) = extra {
            assert_eq!(header(&response, name), Some(value), "{code}");
        }
        if code == "ValidationError" {
            assert_eq!(message, "Endpoint my-model of account <account> not found. See <arn>");
        }
        if code == "ModelError" {
            assert_eq!(message, "CUDA out of memory");
        }
    }
}

#[tokio::test]
async fn a_hanging_model_is_a_504_within_the_budget() {
    let server = ModelServer::start().await;
    let invoker = invoker(&[ENDPOINTS, ("INVOKER_TIMEOUT_MS", "500")], &server.url, None).await;
    server.reply(ModelReply::Hang);
    let started = std::time::Instant::now();
    let response = invoker::handle(&invoker, rest(|_| ())).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 504);
    assert_eq!(json_body(&response)["error"]["code"], "Timeout");
    assert_eq!(
        json_body(&response)["error"]["message"],
        "the model did not answer within 500 ms"
    );
    // Bounded by the budget, not by the model: generous slack for a loaded machine.
    assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
}

fn stream_request() -> lambda_http::Request {
    rest(|e| {
        e["path"] = json!("/endpoints/my-model/invocations-response-stream");
        e["headers"]["X-Amzn-SageMaker-Accept"] = json!("text/event-stream");
        e["multiValueHeaders"] = json!({});
    })
}

#[tokio::test]
async fn streams_are_joined_with_the_stream_content_type() {
    let server = ModelServer::start().await;
    let invoker = invoker(&[ENDPOINTS], &server.url, None).await;
    server.reply(ModelReply::stream(
        "text/event-stream",
        &[
            payload_part(b"data: Par"),
            payload_part(b"is\n\n"),
            payload_part(b"data: [DONE]\n\n"),
        ],
    ));
    let response = invoker::handle(&invoker, stream_request()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_bytes(response.body()), b"data: Paris\n\ndata: [DONE]\n\n");
    assert_eq!(header(&response, "content-type"), Some("text/event-stream"));
    assert_eq!(
        header(&response, "x-amzn-sagemaker-content-type"),
        Some("text/event-stream")
    );
    assert_eq!(
        header(&response, "x-amzn-invoked-production-variant"),
        Some("AllTraffic")
    );
    let call = &server.seen()[0];
    assert_eq!(call.path, "/endpoints/my-model/invocations-response-stream");
    assert_eq!(call.header("x-amzn-sagemaker-accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn a_mid_stream_error_is_never_a_truncated_200() {
    let server = ModelServer::start().await;
    let invoker = invoker(&[ENDPOINTS], &server.url, None).await;
    server.reply(ModelReply::stream(
        "text/event-stream",
        &[
            payload_part(b"data: Par"),
            stream_exception(
                "ModelStreamError",
                json!({"Message": "model crashed", "ErrorCode": "StreamBroken"}),
            ),
        ],
    ));
    let response = invoker::handle(&invoker, stream_request()).await;
    assert_eq!(response.status(), 424);
    let body = json_body(&response);
    assert_eq!(body["error"]["code"], "ModelError");
    assert_eq!(body["error"]["message"], "StreamBroken: model crashed");

    server.reply(ModelReply::stream(
        "text/event-stream",
        &[
            payload_part(b"data: x"),
            stream_exception("InternalStreamFailure", json!({"Message": "internal"})),
        ],
    ));
    let response = invoker::handle(&invoker, stream_request()).await;
    assert_eq!(response.status(), 502);
    assert_eq!(json_body(&response)["error"]["code"], "UpstreamFailure");

    // An error before the stream starts maps like the plain route.
    server.reply(ModelReply::error(400, "ValidationError", json!({"message": "bad"})));
    let response = invoker::handle(&invoker, stream_request()).await;
    assert_eq!(response.status(), 400);
}
