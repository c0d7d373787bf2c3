//! The whole flow locally, once: provider, moto and both functions start, a token is
//! minted, one request goes through API Gateway's chain, and what each part decided is
//! printed. Everything stops at the end. `scripts/local-run` installs the peers and
//! builds first; `--federation` runs the invoker in federation mode.

use std::process::ExitCode;
use std::time::Instant;

use e2e::{AUDIENCE, Authorization, CALLER, Stack, TokenVersion};
use serde_json::{Value, json};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let federation = std::env::args().any(|a| a == "--federation");
    match run(federation).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("local run failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(federation: bool) -> e2e::Result<bool> {
    let started = Instant::now();
    let mut stack = Stack::start(federation).await?;
    println!(
        "stack up in {} ms: oidc-provider (Entra-shaped, tenant {}), moto (SageMaker Runtime + STS), \
         authorizer and invoker under a local Lambda Runtime API{}",
        started.elapsed().as_millis(),
        e2e::TENANT,
        if federation { ", invoker in federation mode" } else { "" }
    );

    let token = stack.oidc.token(&CALLER, TokenVersion::V2, AUDIENCE).await?;
    println!("\n1. token from oidc-provider (client_credentials, resource {AUDIENCE}), claims:");
    println!("{}", pretty(&claims(&token)));

    let model_answer = json!({"predictions": [{"label": "Paris", "score": 0.97}]}).to_string();
    stack
        .model_answers(&[
            json!({"Body": model_answer, "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic"}),
        ])
        .await?;
    let request = r#"{"inputs":"What is the capital of France?"}"#;
    println!("\n2. POST /prod/endpoints/my-model/invocations {request}");
    let reply = stack
        .gateway()
        .post(
            "/endpoints/my-model/invocations",
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("Content-Type", "application/json"),
                ("X-Correlation-Id", "local-run-1"),
            ],
            request.as_bytes(),
        )
        .await?;

    println!("\n3. authorizer decision:");
    match &reply.authorization {
        Authorization::Allowed(policy) | Authorization::Denied(policy) => println!("{}", pretty(policy)),
        other => println!("{other:?}"),
    }
    let decision = stack
        .authorizer
        .log(|l| l["fields"]["event"] == "authorization")
        .await?;
    println!("   log line: {decision}");

    if matches!(reply.authorization, Authorization::Allowed(_)) {
        let audit = stack.invoker.log(|l| l["fields"]["event"] == "invocation").await?;
        println!("\n4. invoker audit line:\n   {audit}");
    }

    println!("\n5. answer to the caller: HTTP {}", reply.status);
    for (name, value) in &reply.headers {
        println!("   {name}: {}", value.as_str().unwrap_or_default());
    }
    println!("   {}", reply.text());
    drop(stack);
    println!("\nstopped everything; whole run {} ms", started.elapsed().as_millis());
    Ok(reply.status == 200)
}

/// The token's claims, for display (the token itself is a credential: not printed).
fn claims(token: &str) -> Value {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice(&p).ok())
        .unwrap_or(Value::Null)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
