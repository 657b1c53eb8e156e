//! What the shape check costs: encoding and decoding through
//! `cache_core::codec` (format byte, shape fingerprint, payload, and the
//! fingerprint of the decoded value compared on every read) against bare
//! bincode 2 and bare `serde_json` on the same values, in interleaved
//! rounds: a 44-byte struct and a 10 KiB value.
//!
//! ```text
//! cargo bench --bench codec
//! ```

use std::hint::black_box;

use cache_core::codec::{decode, encode};
use cache_core::Codec;
use cache_tests::paired;
use criterion::{criterion_group, criterion_main, Criterion};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// 44 bytes in bincode.
#[derive(Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    email: String,
    admin: bool,
    score: u32,
}

fn profile() -> Profile {
    Profile {
        id: 1 << 40,
        name: "Ada Lovelace".into(),
        email: "ada@example.org".into(),
        admin: true,
        score: 1_000_000,
    }
}

/// About 10 KiB in bincode: 128 rows of text and numbers.
#[derive(Clone, Serialize, Deserialize)]
struct Page {
    rows: Vec<Row>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Row {
    id: u64,
    title: String,
    tags: Vec<u16>,
}

fn page() -> Page {
    Page {
        rows: (0..128)
            .map(|i| Row {
                id: i,
                title: format!("row {i:0>60}"),
                tags: vec![1, 2, 3],
            })
            .collect(),
    }
}

const OPS: u32 = 2_000;
const STANDARD: bincode::config::Configuration = bincode::config::standard();

fn bare_encode<T: Serialize>(v: &T, json: bool) -> Vec<u8> {
    if json {
        serde_json::to_vec(v).unwrap()
    } else {
        bincode::serde::encode_to_vec(v, STANDARD).unwrap()
    }
}

fn bare_decode<T: DeserializeOwned>(bytes: &[u8], json: bool) -> T {
    if json {
        serde_json::from_slice(bytes).unwrap()
    } else {
        bincode::serde::decode_from_slice(bytes, STANDARD)
            .unwrap()
            .0
    }
}

/// Interleaved rounds of ours and bare for one value and codec.
fn compare<T: Serialize + DeserializeOwned>(name: &str, value: &T, codec: Codec) {
    let json = codec != Codec::Bincode;
    let ours_bytes = encode(value, codec).unwrap();
    let bare_bytes = bare_encode(value, json);
    println!(
        "{name}: {} bytes stored ({} bare)",
        ours_bytes.len(),
        bare_bytes.len()
    );
    let (mut enc_ours, mut enc_bare, mut dec_ours, mut dec_bare) = (vec![], vec![], vec![], vec![]);
    for _ in 0..paired::ROUNDS {
        enc_ours.push(paired::per_call(OPS, || {
            black_box(encode(black_box(value), codec).unwrap());
        }));
        enc_bare.push(paired::per_call(OPS, || {
            black_box(bare_encode(black_box(value), json));
        }));
        dec_ours.push(paired::per_call(OPS, || {
            black_box(decode::<T>(black_box(&ours_bytes)).unwrap());
        }));
        dec_bare.push(paired::per_call(OPS, || {
            black_box(bare_decode::<T>(black_box(&bare_bytes), json));
        }));
    }
    paired::write(
        &format!("codec_encode_{name}_vs_bare"),
        &enc_ours,
        &enc_bare,
    );
    paired::write(
        &format!("codec_decode_{name}_vs_bare"),
        &dec_ours,
        &dec_bare,
    );
}

fn codec(c: &mut Criterion) {
    compare("struct44_bincode", &profile(), Codec::Bincode);
    compare("page10k_bincode", &page(), Codec::Bincode);
    compare("struct44_json", &profile(), Codec::Json);
    compare("page10k_json", &page(), Codec::Json);

    let mut group = c.benchmark_group("codec");
    let (small, big) = (profile(), page());
    let small_bytes = encode(&small, Codec::Bincode).unwrap();
    let big_bytes = encode(&big, Codec::Bincode).unwrap();
    group.bench_function("encode_struct44", |b| {
        b.iter(|| encode(black_box(&small), Codec::Bincode));
    });
    group.bench_function("decode_struct44", |b| {
        b.iter(|| decode::<Profile>(black_box(&small_bytes)));
    });
    group.bench_function("encode_page10k", |b| {
        b.iter(|| encode(black_box(&big), Codec::Bincode));
    });
    group.bench_function("decode_page10k", |b| {
        b.iter(|| decode::<Page>(black_box(&big_bytes)));
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
