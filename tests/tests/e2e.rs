//! The whole chain against real peers: tokens minted by oidc-provider, the real
//! `authorizer` and `invoker` binaries under a Lambda Runtime API, moto behind them.
//! Each test starts its own stack; its guard stops every process, pass or fail.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::{
    AUDIENCE, Authorization, CALLER, EXPIRED, NO_ROLE, OTHER_AUDIENCE, ROLE_ARN, STATIC_KEY, Stack, TokenVersion,
};
use serde_json::{Value, json};

const INVOKE: &str = "/endpoints/my-model/invocations";
const WHOLE_STAGE: &str = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/*/*";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn answer(body: &str) -> Value {
    json!({"Body": body, "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic", "CustomAttributes": "trace=e2e"})
}

/// The SageMaker InvokeEndpoint calls moto received.
async fn model_calls(stack: &Stack) -> Vec<Value> {
    let requests = stack.moto.requests().await.expect("moto's recording");
    requests
        .into_iter()
        .filter(|r| r["url"].as_str().unwrap_or("").contains("/endpoints/"))
        .collect()
}

fn header<'a>(request: &'a Value, name: &str) -> &'a str {
    request["headers"]
        .as_object()
        .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The access key in a SigV4 `Authorization` header.
fn signing_key(request: &Value) -> String {
    let authorization = header(request, "authorization");
    let credential = authorization.split("Credential=").nth(1).unwrap_or("");
    credential.split('/').next().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_with_the_role_gets_the_models_answer_and_is_named_in_the_audit() {
    let mut stack = Stack::start(false).await.unwrap();
    let v2 = stack.token(&CALLER).await.unwrap();
    let v1 = stack.oidc.token(&CALLER, TokenVersion::V1, AUDIENCE).await.unwrap();
    stack
        .model_answers(&[answer(r#"{"predictions":[0.93]}"#), answer(r#"{"predictions":[0.07]}"#)])
        .await
        .unwrap();

    let reply = stack
        .gateway()
        .post(
            INVOKE,
            &[
                ("Authorization", &bearer(&v2)),
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
                ("X-Correlation-Id", "e2e-correlation-1"),
            ],
            br#"{"inputs":"What is the capital of France?"}"#,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), r#"{"predictions":[0.93]}"#);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-amzn-invoked-production-variant"), Some("AllTraffic"));
    assert_eq!(reply.header("x-amzn-sagemaker-custom-attributes"), Some("trace=e2e"));
    assert_eq!(reply.header("x-correlation-id"), Some("e2e-correlation-1"));

    // The policy: the caller's oid as principal, Allow on the whole stage, the context.
    let Authorization::Allowed(policy) = &reply.authorization else {
        panic!("expected an allow, got {:?}", reply.authorization);
    };
    assert_eq!(policy["principalId"], CALLER.oid);
    assert_eq!(policy["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(policy["policyDocument"]["Statement"][0]["Resource"], WHOLE_STAGE);
    assert_eq!(policy["context"]["client_id"], CALLER.id);
    assert_eq!(policy["context"]["tid"], e2e::TENANT);
    assert_eq!(policy["context"]["roles"], "Model.Invoke");
    assert_eq!(policy["context"]["idtyp"], "app");

    // Both logs name the caller; neither holds the token.
    let decision = stack
        .authorizer
        .log(|l| l["fields"]["event"] == "authorization")
        .await
        .unwrap();
    assert_eq!(decision["fields"]["decision"], "allow");
    assert_eq!(decision["fields"]["principal"], CALLER.oid);
    assert_eq!(decision["fields"]["client"], CALLER.id);
    let audit = stack
        .invoker
        .log(|l| l["fields"]["event"] == "invocation")
        .await
        .unwrap();
    let audit = &audit["fields"];
    assert_eq!(audit["principal"], CALLER.oid);
    assert_eq!(audit["client_id"], CALLER.id);
    assert_eq!(audit["tid"], e2e::TENANT);
    assert_eq!(audit["endpoint"], "my-model");
    assert_eq!(audit["variant"], "AllTraffic");
    assert_eq!(audit["status"], 200);
    assert_eq!(audit["correlation_id"], "e2e-correlation-1");
    for line in stack
        .authorizer
        .peer()
        .lines()
        .iter()
        .chain(&stack.invoker.peer().lines())
    {
        assert!(!line.contains(&v2), "a token reached the log: {line}");
    }

    // A v1 token (sts.windows.net issuer, appid) of the same app works as well.
    let reply = stack
        .gateway()
        .post(
            INVOKE,
            &[("Authorization", &bearer(&v1)), ("Content-Type", "application/json")],
            b"{}",
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), r#"{"predictions":[0.07]}"#);

    // Without federation, the function's own credentials sign the SageMaker calls.
    let calls = model_calls(&stack).await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0]["url"]
            .as_str()
            .unwrap()
            .ends_with("/endpoints/my-model/invocations")
    );
    assert_eq!(calls[0]["body"], r#"{"inputs":"What is the capital of France?"}"#);
    assert_eq!(signing_key(&calls[0]), STATIC_KEY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_and_every_unpermitted_call_is_refused_before_the_model() {
    let mut stack = Stack::start(false).await.unwrap();
    let good = stack.token(&CALLER).await.unwrap();
    let no_role = stack.token(&NO_ROLE).await.unwrap();
    let expired = stack.token(&EXPIRED).await.unwrap();
    let wrong_audience = stack
        .oidc
        .token(&CALLER, TokenVersion::V2, OTHER_AUDIENCE)
        .await
        .unwrap();
    // The caller tries to grant itself Model.Admin: same header and signature, new claims.
    let [header, payload, signature]: [&str; 3] = good.split('.').collect::<Vec<_>>().try_into().unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert!(claims.contains("\"Model.Invoke\""), "{claims}");
    let forged = URL_SAFE_NO_PAD.encode(claims.replace("\"Model.Invoke\"", "\"Model.Admin\""));
    let tampered = format!("{header}.{forged}.{signature}");

    let gateway = stack.gateway();
    let post = |path: &'static str, authorization: Option<String>| {
        let gateway = &gateway;
        async move {
            let mut headers = vec![("Content-Type", "application/json".to_owned())];
            headers.extend(authorization.map(|a| ("Authorization", a)));
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            gateway.post(path, &headers, b"{\"inputs\":1}").await.unwrap()
        }
    };

    // Authenticated, not permitted: the authorizer's Deny, API Gateway's 403.
    let reply = post(INVOKE, Some(bearer(&no_role))).await;
    assert_eq!(reply.status, 403);
    let Authorization::Denied(policy) = &reply.authorization else {
        panic!("expected a deny, got {:?}", reply.authorization);
    };
    assert_eq!(policy["principalId"], NO_ROLE.oid);
    assert_eq!(policy["policyDocument"]["Statement"][0]["Effect"], "Deny");

    // Not authenticated: `Unauthorized`, API Gateway's 401.
    for (what, token) in [
        ("tampered", &tampered),
        ("expired", &expired),
        ("wrong audience", &wrong_audience),
    ] {
        let reply = post(INVOKE, Some(bearer(token))).await;
        assert_eq!((what, reply.status), (what, 401));
        assert_eq!(reply.authorization, Authorization::Unauthorized, "{what}");
        assert_eq!(reply.json(), json!({"message": "Unauthorized"}), "{what}");
    }
    let reply = post(INVOKE, None).await;
    assert_eq!((reply.status, reply.authorization), (401, Authorization::NotCalled));

    // Through the authorizer, but the endpoint needs a role the caller lacks: the invoker's 403.
    let reply = post("/endpoints/restricted-model/invocations", Some(bearer(&good))).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(matches!(reply.authorization, Authorization::Allowed(_)));
    assert_eq!(reply.json()["error"]["code"], "AccessDenied");
    // An endpoint outside INVOKER_ENDPOINTS.
    let reply = post("/endpoints/not-listed/invocations", Some(bearer(&good))).await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "UnknownEndpoint");

    // Each refusal is explained in the log, to the operator only.
    let last_refusal = |l: &Value| l["fields"]["reason"].as_str().is_some_and(|r| r.contains("audience"));
    stack.authorizer.log(last_refusal).await.unwrap();
    let reasons: Vec<String> = stack
        .authorizer
        .peer()
        .json_lines()
        .iter()
        .filter(|l| l["fields"]["decision"].is_string() && l["fields"]["decision"] != "allow")
        .map(|l| l["fields"]["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].contains("role"), "{reasons:?}");
    assert!(reasons[1].contains("signature"), "{reasons:?}");
    assert!(reasons[2].contains("expired"), "{reasons:?}");
    assert!(reasons[3].contains("audience"), "{reasons:?}");
    let audit = stack
        .invoker
        .log(|l| l["fields"]["event"] == "invocation" && l["fields"]["status"] == 403)
        .await
        .unwrap();
    assert_eq!(audit["fields"]["error_code"], "AccessDenied");
    assert_eq!(audit["fields"]["principal"], CALLER.oid);

    // No refusal ever reached the model.
    assert_eq!(model_calls(&stack).await, Vec::<Value>::new());

    // The provider itself refuses what Entra refuses.
    let wrong = stack.oidc.token(&CALLER, TokenVersion::V2, "api://unknown").await;
    assert!(wrong.unwrap_err().to_string().contains("invalid_target"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_signs_the_model_call_with_the_credentials_sts_issued_for_that_token() {
    let mut stack = Stack::start(true).await.unwrap();
    let token = stack.token(&CALLER).await.unwrap();
    let other = stack.oidc.token(&CALLER, TokenVersion::V1, AUDIENCE).await.unwrap();
    stack
        .model_answers(&[answer("\"first\""), answer("\"second\""), answer("\"third\"")])
        .await
        .unwrap();
    let gateway = stack.gateway();
    let mut bodies = Vec::new();
    // Distinct request bodies: moto answers a repeated request with its earlier result.
    for (n, token) in [&token, &token, &other].into_iter().enumerate() {
        let body = format!("{{\"call\":{n}}}");
        let reply = gateway
            .post(
                INVOKE,
                &[("Authorization", &bearer(token)), ("Content-Type", "application/json")],
                body.as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        bodies.push(reply.text());
    }
    assert_eq!(bodies, ["\"first\"", "\"second\"", "\"third\""]);

    let requests = stack.moto.requests().await.expect("moto's recording");
    let sts: Vec<&Value> = requests
        .iter()
        .filter(|r| {
            r["body"]
                .as_str()
                .unwrap_or("")
                .contains("Action=AssumeRoleWithWebIdentity")
        })
        .collect();
    // One STS call per distinct token: the second call reused the cached session.
    assert_eq!(sts.len(), 2, "{sts:?}");
    let sts_body = sts[0]["body"].as_str().unwrap();
    assert!(sts_body.contains(&format!("WebIdentityToken={token}")), "{sts_body}");
    assert!(
        sts_body.contains(&format!("RoleSessionName={}", CALLER.oid)),
        "{sts_body}"
    );
    assert!(
        sts_body.contains(&format!("RoleArn={}", ROLE_ARN.replace(':', "%3A").replace('/', "%2F"))),
        "{sts_body}"
    );
    assert!(
        sts[1]["body"]
            .as_str()
            .unwrap()
            .contains(&format!("WebIdentityToken={other}"))
    );

    // Which session signed which model call: moto's record of what STS issued.
    let sessions = stack.moto.assumed_roles().await.unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let calls = model_calls(&stack).await;
    assert_eq!(calls.len(), 3);
    let keys: Vec<String> = calls.iter().map(signing_key).collect();
    for (key, call) in keys.iter().zip(&calls) {
        assert!(key.starts_with("ASIA"), "{key}");
        assert_ne!(key, STATIC_KEY);
        let session = sessions
            .iter()
            .find(|s| s["access_key_id"] == key.as_str())
            .unwrap_or_else(|| panic!("{key} was not issued by STS: {sessions:?}"));
        assert_eq!(session["session_name"], CALLER.oid);
        assert_eq!(session["role_arn"], ROLE_ARN);
        assert_eq!(
            header(call, "x-amz-security-token"),
            session["session_token"].as_str().unwrap()
        );
    }
    // STS issued the sessions in token order: the first token's session signed calls 1 and 2.
    assert_eq!(sessions[0]["access_key_id"], keys[0].as_str());
    assert_eq!(keys[0], keys[1]);
    assert_ne!(keys[1], keys[2]);

    let audit = stack
        .invoker
        .log(|l| l["fields"]["event"] == "invocation")
        .await
        .unwrap();
    assert_eq!(audit["fields"]["principal"], CALLER.oid);
    assert_eq!(audit["fields"]["status"], 200);
}
