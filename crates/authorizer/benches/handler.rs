//! The whole handler: event JSON in, response JSON out, keys cached.
#![allow(clippy::unwrap_used)]

#[path = "../../token/tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use authorizer::{AuthorizerEvent, handle};
use criterion::{Criterion, criterion_group, criterion_main};
use support::*;
use token::Verifier;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let BenchSetup {
        key,
        server: _server,
        uncached,
        cached,
    } = bench_setup(&rt);
    let event = serde_json::json!({
        "type": "TOKEN",
        "authorizationToken": format!("Bearer {}", key.token(&claims())),
        "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/POST/endpoints/my-model/invocations"
    })
    .to_string()
    .into_bytes();

    let run = |verifier: &Verifier, bytes: &[u8]| {
        let event: AuthorizerEvent = serde_json::from_slice(bytes).unwrap();
        let response = rt.block_on(handle(verifier, &event)).unwrap();
        serde_json::to_vec(&response).unwrap()
    };
    let out = run(&uncached, &event);
    assert!(String::from_utf8_lossy(&out).contains("\"Effect\":\"Allow\""));

    // Decision lines are formatted as in Lambda (JSON), written to a sink.
    tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .without_time()
        .with_writer(std::io::sink)
        .init();
    let mut group = c.benchmark_group("authorizer");
    group.bench_function("handler_new_token", |b| b.iter(|| run(&uncached, black_box(&event))));
    group.bench_function("handler_repeated_token", |b| b.iter(|| run(&cached, black_box(&event))));
    group.finish();
}

criterion_group! {
    name = benches;
    // Long samples: the figures are compared with `openssl speed`, on a shared machine.
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(10));
    targets = bench
}
criterion_main!(benches);
