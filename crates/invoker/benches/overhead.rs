//! The invoker's added latency: the whole handler (event parse, identity, access,
//! SDK call, response, audit line) against a direct SDK `invoke_endpoint`, both to
//! the same local SageMaker-shaped server. Prints p50 and p99 of each.
#![allow(clippy::unwrap_used)]

#[path = "../tests/invoker/support.rs"]
mod support;

use std::time::{Duration, Instant};

use support::*;

const ROUNDS: usize = 4000;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .without_time()
        .with_writer(std::io::sink)
        .init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = ModelServer::start().await;
        let direct = aws_sdk_sagemakerruntime::Client::new(&sdk(&server.url).await);
        let invoker = invoker(&[("INVOKER_ENDPOINTS", "my-model")], &server.url, None).await;
        let event = fixture("invoker-rest-proxy.json").to_string();
        let body = br#"{"inputs": "What is the capital of France?"}"#;

        let (mut via_direct, mut via_invoker) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
        for round in 0..ROUNDS + 500 {
            server.reply(ModelReply::ok(
                "application/json",
                br#"{"generated_text":"Paris"}"#,
                &[],
            ));
            server.reply(ModelReply::ok(
                "application/json",
                br#"{"generated_text":"Paris"}"#,
                &[],
            ));
            let started = Instant::now();
            let output = direct
                .invoke_endpoint()
                .endpoint_name("my-model")
                .content_type("application/json")
                .accept("application/json")
                .body(body.to_vec().into())
                .send()
                .await
                .unwrap();
            let direct_time = started.elapsed();
            assert_eq!(output.body.unwrap().as_ref(), br#"{"generated_text":"Paris"}"#);

            let started = Instant::now();
            let request = lambda_http::request::from_str(&event).unwrap();
            let response = invoker::handle(&invoker, request).await;
            let invoker_time = started.elapsed();
            assert_eq!(response.status(), 200);
            if round >= 500 {
                via_direct.push(direct_time);
                via_invoker.push(invoker_time);
            }
        }
        let (d50, d99) = (percentile(&mut via_direct, 0.50), percentile(&mut via_direct, 0.99));
        let (i50, i99) = (percentile(&mut via_invoker, 0.50), percentile(&mut via_invoker, 0.99));
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!("{ROUNDS} calls each to a local SageMaker-shaped server");
        println!(
            "direct SDK invoke_endpoint: p50 {:8.1} µs  p99 {:8.1} µs",
            us(d50),
            us(d99)
        );
        println!(
            "through the invoker:        p50 {:8.1} µs  p99 {:8.1} µs",
            us(i50),
            us(i99)
        );
        println!(
            "added by the invoker:       p50 {:8.1} µs  p99 {:8.1} µs  (target p50 <= 500 µs)",
            us(i50) - us(d50),
            us(i99) - us(d99)
        );
    });
}
