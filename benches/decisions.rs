//! Micro-benchmarks of the decisions every request reaches: the session codec beside the
//! primitives it is built on, the canonical path and the `next` check.
//!
//! Run with `cargo bench --bench decisions`. Names sort in the order they build on each
//! other: `codec/0x` are the floors (one keyed BLAKE3 of the same input, the base64 work),
//! `codec/1x` the codec itself.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use studio_gate::{
    canonical_path, safe_next, Session, SessionId, SessionKey, SessionPolicy, COOKIE_NAME,
};

const POLICY: SessionPolicy = SessionPolicy {
    idle_secs: 86_400,
    lifetime_secs: 604_800,
};
const NOW: u64 = 1_780_000_000;

/// The bytes the codec's MAC covers: name length, name, and the 33-byte payload.
const MAC_INPUT_LEN: usize = 8 + 7 + 33;

fn codec(c: &mut Criterion) {
    let key = SessionKey::derive(&[7u8; 64], &[9u8; 32]);
    let session = Session::new(SessionId::from_bytes([0x42; 16]), NOW);
    let value = key.seal(COOKIE_NAME, &session);
    let raw = URL_SAFE_NO_PAD.decode(&value).unwrap();
    let mac_key = [3u8; 32];
    let mac_input = [5u8; MAC_INPUT_LEN];

    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("01_blake3_keyed_mac_input", |b| {
        b.iter(|| blake3::keyed_hash(black_box(&mac_key), black_box(&mac_input)))
    });
    group.bench_function("02_base64_decode_cookie", |b| {
        let mut buffer = [0u8; 65];
        b.iter(|| URL_SAFE_NO_PAD.decode_slice(black_box(&value), &mut buffer))
    });
    group.bench_function("03_base64_encode_cookie", |b| {
        b.iter(|| URL_SAFE_NO_PAD.encode(black_box(&raw)))
    });
    group.bench_function("11_seal", |b| {
        b.iter(|| key.seal(COOKIE_NAME, black_box(&session)))
    });
    group.bench_function("12_open", |b| {
        b.iter(|| key.open(COOKIE_NAME, black_box(&value), POLICY, NOW))
    });
    group.bench_function("13_open_and_reseal", |b| {
        b.iter(|| {
            let opened = key
                .open(COOKIE_NAME, black_box(&value), POLICY, NOW + 10)
                .unwrap();
            key.seal(COOKIE_NAME, &opened.renewed(NOW + 10))
        })
    });
    let mut tampered = value.clone().into_bytes();
    tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    group.bench_function("14_open_hostile_tampered", |b| {
        b.iter(|| key.open(COOKIE_NAME, black_box(&tampered), POLICY, NOW))
    });
    let oversized = "A".repeat(4096);
    group.bench_function("15_open_hostile_oversized", |b| {
        b.iter(|| key.open(COOKIE_NAME, black_box(&oversized), POLICY, NOW))
    });
    let bad_alphabet = "+".repeat(value.len());
    group.bench_function("16_open_hostile_bad_alphabet", |b| {
        b.iter(|| key.open(COOKIE_NAME, black_box(&bad_alphabet), POLICY, NOW))
    });
    group.finish();
}

fn paths(c: &mut Criterion) {
    let typical = "/api/admin/system/status";
    let long = format!(
        "/static/{}/app.css",
        "segment/".repeat(100).trim_end_matches('/')
    );
    let hostile = "/static/%2E%2E/%2e%2e/..%2F..%5Cetc/passwd";

    let mut group = c.benchmark_group("path");
    group.throughput(Throughput::Bytes(typical.len() as u64));
    group.bench_function("01_canonical_typical", |b| {
        b.iter(|| canonical_path(black_box(typical)).is_ok())
    });
    group.throughput(Throughput::Bytes(long.len() as u64));
    group.bench_function("02_canonical_long", |b| {
        b.iter(|| canonical_path(black_box(&long)).is_ok())
    });
    group.throughput(Throughput::Bytes(hostile.len() as u64));
    group.bench_function("03_canonical_hostile", |b| {
        b.iter(|| canonical_path(black_box(hostile)).is_ok())
    });
    group.finish();

    let mut group = c.benchmark_group("next");
    group.throughput(Throughput::Elements(1));
    group.bench_function("01_typical", |b| {
        b.iter(|| safe_next(black_box(Some("/home?tab=models"))))
    });
    group.bench_function("02_hostile", |b| {
        b.iter(|| safe_next(black_box(Some("/%2E%2E//%5Cevil.example/%0D%0A"))))
    });
    group.finish();
}

criterion_group!(benches, codec, paths);
criterion_main!(benches);
