use authorizer::{AuthorizerError, AuthorizerEvent, handle};
use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV2Request,
};
use serde_json::{Value, json};

use crate::support::*;

/// The placeholder token in `events/*.json`.
const PLACEHOLDER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6ImV4YW1wbGUta2lkIn0.eyJhdWQiOiJhcGk6Ly9zYWdlbWFrZXItYnJpZGdlIiwiaXNzIjoiaHR0cHM6Ly9sb2dpbi5taWNyb3NvZnRvbmxpbmUuY29tLzcyZjk4OGJmLTg2ZjEtNDFhZi05MWFiLTJkN2NkMDExZGI0Ny92Mi4wIiwiZXhwIjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJl";

pub(crate) fn fixture(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn event(name: &str, token: &str) -> AuthorizerEvent {
    serde_json::from_str(&fixture(name).replace(PLACEHOLDER, token)).unwrap()
}

async fn setup(extra: &[(&'static str, &str)]) -> (KeyServer, token::Verifier) {
    let server = KeyServer::start(Reply::Json(jwks(&[keys()[0].jwk()]))).await;
    let mut pairs = entra_pairs(&server);
    for (k, v) in extra {
        pairs = with(pairs, k, v);
    }
    let verifier = verifier(&pairs).await;
    (server, verifier)
}

fn expected_context() -> Value {
    let c = claims();
    json!({
        "client_id": CLIENT,
        "exp": c["exp"].as_u64().unwrap().to_string(),
        "idtyp": "app",
        "iss": v2_issuer(TENANT),
        "oid": c["oid"],
        "roles": "SageMaker.Invoke",
        "sub": c["sub"],
        "tid": TENANT,
    })
}

fn policy(effect: &str) -> Value {
    json!({
        "principalId": claims()["oid"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": effect,
                "Resource": "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/*/*"
            }]
        },
        "context": expected_context()
    })
}

#[test]
fn fixtures_parse_into_the_api_gateway_types() {
    let token: ApiGatewayCustomAuthorizerRequest = serde_json::from_str(&fixture("authorizer-token.json")).unwrap();
    assert_eq!(token.type_.as_deref(), Some("TOKEN"));
    let request: ApiGatewayCustomAuthorizerRequestTypeRequest =
        serde_json::from_str(&fixture("authorizer-request.json")).unwrap();
    assert_eq!(
        request.request_context.path.as_deref(),
        Some("/prod/endpoints/my-model/invocations")
    );
    let v2: ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_str(&fixture("authorizer-http-api-v2.json")).unwrap();
    assert_eq!(v2.version.as_deref(), Some("2.0"));
}

#[tokio::test]
async fn token_event_allowed_gets_a_whole_stage_allow_policy() {
    let (_s, v) = setup(&[("AUTH_REQUIRED_ROLES", "SageMaker.Invoke")]).await;
    let response = handle(&v, &event("authorizer-token.json", &keys()[0].token(&claims())))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&response).unwrap(), policy("Allow"));
}

#[tokio::test]
async fn request_event_allowed_and_denied() {
    let (_s, v) = setup(&[("AUTH_REQUIRED_ROLES", "SageMaker.Invoke")]).await;
    let allowed = handle(&v, &event("authorizer-request.json", &keys()[0].token(&claims())))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&allowed).unwrap(), policy("Allow"));

    let reader = claims_with(json!({"roles": ["Reader"]}));
    let denied = handle(&v, &event("authorizer-request.json", &keys()[0].token(&reader)))
        .await
        .unwrap();
    let mut want = policy("Deny");
    want["context"]["roles"] = json!("Reader");
    assert_eq!(serde_json::to_value(&denied).unwrap(), want);
}

#[tokio::test]
async fn unauthenticated_is_the_unauthorized_error_for_rest_forms() {
    let (_s, v) = setup(&[]).await;
    let expired = keys()[0].token(&claims_with(json!({"exp": now() - 600})));
    for name in ["authorizer-token.json", "authorizer-request.json"] {
        assert_eq!(
            handle(&v, &event(name, &expired)).await,
            Err(AuthorizerError::Unauthorized),
            "{name}"
        );
        // The placeholder token of the fixture itself is refused too.
        assert_eq!(
            handle(&v, &serde_json::from_str(&fixture(name)).unwrap()).await,
            Err(AuthorizerError::Unauthorized)
        );
    }
    let no_header: AuthorizerEvent = serde_json::from_str(r#"{"type":"REQUEST","methodArn":"arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/POST/x","headers":{"Host":"h"}}"#).unwrap();
    assert_eq!(handle(&v, &no_header).await, Err(AuthorizerError::Unauthorized));
}

#[tokio::test]
async fn http_api_v2_gets_simple_responses() {
    let (_s, v) = setup(&[("AUTH_REQUIRED_ROLES", "SageMaker.Invoke")]).await;
    let allowed = handle(&v, &event("authorizer-http-api-v2.json", &keys()[0].token(&claims())))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&allowed).unwrap(),
        json!({"isAuthorized": true, "context": expected_context()})
    );
    let reader = claims_with(json!({"roles": ["Reader"]}));
    let denied = handle(&v, &event("authorizer-http-api-v2.json", &keys()[0].token(&reader)))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&denied).unwrap()["isAuthorized"], json!(false));
    let garbage = handle(&v, &event("authorizer-http-api-v2.json", "garbage"))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&garbage).unwrap(),
        json!({"isAuthorized": false, "context": {}})
    );
}

#[tokio::test]
async fn bad_events_are_errors_not_allows() {
    let (_s, v) = setup(&[]).await;
    let token = keys()[0].token(&claims());
    let cases = [
        (
            json!({"type": "TOKEN", "authorizationToken": format!("Bearer {token}")}),
            "invalid authorizer event: no methodArn",
        ),
        (
            json!({"type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": "arn:aws:lambda:x"}),
            "invalid authorizer event: methodArn is not an execute-api method ARN: expected arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/...",
        ),
        (
            json!({"authorizationToken": format!("Bearer {token}")}),
            "invalid authorizer event: not an authorizer event: no type and no version 2.0",
        ),
        (
            json!({"type": "WEBSOCKET"}),
            "invalid authorizer event: unsupported authorizer event type \"WEBSOCKET\"",
        ),
    ];
    for (json, message) in cases {
        let event: AuthorizerEvent = serde_json::from_value(json.clone()).unwrap();
        let error = handle(&v, &event).await.unwrap_err();
        assert_eq!(error.to_string(), message, "{json}");
    }
}
