//! Verification cost with keys cached: a token seen for the first time, the same
//! token again, and one bare RSA-2048 verify as the in-process baseline.
//! `scripts/bench` runs this beside `openssl speed` and prints the ratios.
#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use aws_lc_rs::signature::{self, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use support::*;
use token::Decision;

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
    let token = key.token(&claims());
    assert!(matches!(rt.block_on(uncached.verify(&token)), Decision::Allow(_)));
    assert!(matches!(rt.block_on(cached.verify(&token)), Decision::Allow(_)));

    let mut group = c.benchmark_group("token");
    group.bench_function("rsa2048_verify_baseline", |b| {
        let (n, e) = key.components();
        let public = RsaPublicKeyComponents { n: &n, e: &e }
            .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
            .unwrap();
        let (signed, sig) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        b.iter(|| {
            public
                .verify_sig(black_box(signed.as_bytes()), black_box(&sig))
                .unwrap()
        });
    });
    group.bench_function("verify_new_token", |b| {
        b.iter(|| rt.block_on(uncached.verify(black_box(&token))));
    });
    group.bench_function("verify_repeated_token", |b| {
        b.iter(|| rt.block_on(cached.verify(black_box(&token))));
    });
    group.finish();
    println!(
        "token length: {} bytes; key fetches: {}",
        token.len(),
        uncached.fetch_count()
    );
}

criterion_group! {
    name = benches;
    // Long samples: the figures are compared with `openssl speed`, on a shared machine.
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(10));
    targets = bench
}
criterion_main!(benches);
