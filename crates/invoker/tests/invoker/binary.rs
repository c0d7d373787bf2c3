use std::path::Path;

use e2e::init_outcome;
use serde_json::Value;

#[test]
fn bad_configuration_fails_init_with_one_clear_line() {
    let cases = [
        (
            vec![],
            "INVOKER_ENDPOINTS: required: a comma list of endpoint names, each optionally name:RoleA|RoleB",
        ),
        (
            vec![("INVOKER_ENDPOINTS", "my_model")],
            "INVOKER_ENDPOINTS: \"my_model\" is not a SageMaker endpoint name (1-63 letters, digits and hyphens, not starting or ending with a hyphen)",
        ),
        (
            vec![("INVOKER_ENDPOINTS", "m"), ("INVOKER_TIMEOUT_MS", "lots")],
            "INVOKER_TIMEOUT_MS: \"lots\" is not a whole number",
        ),
    ];
    for (env, message) in cases {
        let (code, lines) = init_outcome(Path::new(env!("CARGO_BIN_EXE_invoker")), env);
        assert_eq!(code, Some(1), "{message}");
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["fields"]["error"], message);
    }
}

#[test]
fn every_event_fixture_parses_into_its_api_gateway_type() {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayProxyRequest,
        ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
    };
    let dir = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "authorizer-http-api-v2.json",
            "authorizer-request.json",
            "authorizer-token.json",
            "invoker-http-api-v2.json",
            "invoker-rest-proxy.json"
        ],
        "a new fixture needs its type here"
    );
    let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
    let _: ApiGatewayCustomAuthorizerRequest = serde_json::from_str(&read("authorizer-token.json")).unwrap();
    let _: ApiGatewayCustomAuthorizerRequestTypeRequest =
        serde_json::from_str(&read("authorizer-request.json")).unwrap();
    let _: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_str(&read("authorizer-http-api-v2.json")).unwrap();
    let rest: ApiGatewayProxyRequest = serde_json::from_str(&read("invoker-rest-proxy.json")).unwrap();
    assert_eq!(
        rest.request_context.path.as_deref(),
        Some("/prod/endpoints/my-model/invocations")
    );
    assert_eq!(
        rest.request_context.authorizer.fields["principalId"],
        "5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11"
    );
    let v2: ApiGatewayV2httpRequest = serde_json::from_str(&read("invoker-http-api-v2.json")).unwrap();
    assert_eq!(
        v2.request_context.authorizer.unwrap().fields["roles"],
        "SageMaker.Invoke"
    );
}
