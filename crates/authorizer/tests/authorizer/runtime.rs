//! The real `authorizer` binary under a Lambda Runtime API (the `e2e` harness's).

use std::path::Path;

use e2e::{Function, Outcome, init_outcome};
use serde_json::{Value, json};

use crate::handler::fixture;
use crate::support::*;

#[test]
fn bad_configuration_fails_init_with_one_clear_line() {
    let cases = [
        (
            vec![],
            "AUTH_TENANT_ID: required (a tenant GUID, organizations or common) unless AUTH_ISSUERS is set",
        ),
        (
            vec![
                ("AUTH_TENANT_ID", "contoso".to_owned()),
                ("AUTH_AUDIENCES", "a".to_owned()),
            ],
            "AUTH_TENANT_ID: \"contoso\" is neither a tenant GUID nor organizations/common",
        ),
        (
            vec![("AUTH_TENANT_ID", TENANT.to_owned())],
            "AUTH_AUDIENCES: required: a comma list of accepted audiences (e.g. api://<app-id>,<app-id>)",
        ),
    ];
    for (env, message) in cases {
        let (code, lines) = init_outcome(Path::new(env!("CARGO_BIN_EXE_authorizer")), env);
        assert_eq!(code, Some(1), "{message}");
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["fields"]["message"], "invalid configuration");
        assert_eq!(line["fields"]["error"], message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_each_form_and_survives_garbage() {
    let [a, ..] = keys();
    let keys = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
    let good = a.token(&claims());
    let placeholder = serde_json::from_str::<Value>(&fixture("authorizer-token.json")).unwrap()["authorizationToken"]
        .as_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_owned();
    let auth = with(entra_pairs(&keys), "AUTH_REQUIRED_ROLES", "SageMaker.Invoke");
    let auth = with(auth, "AUTH_JWKS_MIN_REFRESH_SECONDS", "30");
    // The binary cargo built for this test, run by the e2e harness's Runtime API.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_authorizer")).parent().unwrap();
    let mut function = Function::start(bin_dir, "authorizer", &auth).await.unwrap();
    let invoke = |payload: String| function.invoke_raw(payload);

    let Outcome::Response(allow) = invoke(fixture("authorizer-token.json").replace(&placeholder, &good))
        .await
        .unwrap()
    else {
        panic!("a valid token is answered with a policy");
    };
    assert_eq!(allow["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(allow["principalId"], claims()["oid"]);

    let refused = invoke(fixture("authorizer-token.json")).await.unwrap();
    assert!(
        matches!(&refused, Outcome::Error { message, .. } if message == "Unauthorized"),
        "{refused:?}"
    );

    let method_arn_garbage =
        json!({"type": "TOKEN", "authorizationToken": format!("Bearer {good}"), "methodArn": "nope"});
    for garbage in [
        "\"just a string\"".to_owned(),
        "{not json".to_owned(),
        method_arn_garbage.to_string(),
    ] {
        let bad = invoke(garbage.clone()).await.unwrap();
        assert!(
            matches!(&bad, Outcome::Error { message, .. } if message != "Unauthorized"),
            "{garbage}: {bad:?}"
        );
    }

    let simple = invoke(fixture("authorizer-http-api-v2.json").replace(&placeholder, &good))
        .await
        .unwrap();
    assert!(
        matches!(&simple, Outcome::Response(r) if r["isAuthorized"] == true),
        "{simple:?}"
    );

    // Keys were fetched once, at init.
    assert_eq!(keys.hits("/keys"), 1);

    // Output is read on another thread: wait for the last decision's line.
    function.log(|l| l["fields"]["form"] == "HTTP_API_2.0").await.unwrap();
    let logs = function.peer().lines();
    let decisions: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["event"] == "authorization")
        .collect();
    assert_eq!(decisions.len(), 3, "{logs:#?}");
    assert_eq!(decisions[0]["fields"]["decision"], "allow");
    assert_eq!(decisions[0]["fields"]["principal"], claims()["oid"]);
    assert_eq!(decisions[0]["fields"]["client"], CLIENT);
    assert_eq!(decisions[0]["fields"]["tenant"], TENANT);
    assert_eq!(decisions[1]["fields"]["decision"], "unauthorized");
    let reason = decisions[1]["fields"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("no signing key with kid example-kid (not refetched: last fetch 0s ago"),
        "{reason}"
    );
    assert_eq!(decisions[2]["fields"]["decision"], "allow");
    assert_eq!(decisions[2]["fields"]["form"], "HTTP_API_2.0");
    for line in &logs {
        assert!(!line.contains(&good), "a log line holds the token: {line}");
        assert!(
            !line.contains(good.rsplit('.').next().unwrap()),
            "a log line holds the signature"
        );
    }
}
