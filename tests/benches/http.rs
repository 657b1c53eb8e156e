//! The HTTP layer's hit against no cache at all, side by side in one run:
//! a cached 1 KiB response served through axum by `CacheLayer` (memory
//! store) against the same axum router calling a trivial handler that
//! returns those 1 KiB directly. Both go through `Router::oneshot` and read
//! the body whole; no network.
//!
//! ```text
//! cargo bench --bench http            # or scripts/bench.sh for the ratio table
//! ```

use std::hint::black_box;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, Request};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cache_core::http::CacheLayer;
use cache_core::Cache;
use cache_tests::paired;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::ServiceExt;

/// The response body: 1 KiB.
static BODY: [u8; 1024] = [b'x'; 1024];

async fn handler() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Bytes::from_static(&BODY),
    )
}

fn direct() -> Router {
    Router::new().route("/", get(handler))
}

fn cached() -> Router {
    let cache = Cache::builder().key_prefix("bench-http").build().unwrap();
    Router::new()
        .route("/", get(handler))
        .route_layer(CacheLayer::new(cache).timeout(Duration::from_secs(600)))
}

/// One request through `router`, its body read whole.
async fn get_one(router: &Router) -> usize {
    let request = Request::get("/").body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    body.len()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn http_1kib(c: &mut Criterion) {
    let rt = runtime();
    let (direct, cached) = (direct(), cached());
    rt.block_on(async {
        assert_eq!(get_one(&cached).await, BODY.len(), "warm the entry");
    });
    let mut group = c.benchmark_group("http_1KiB");
    group.bench_function("layer_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(get_one(&cached).await) });
    });
    group.bench_function("direct", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(get_one(&direct).await) });
    });
    group.finish();
}

/// Calls per contender and round in the interleaved comparison.
const PAIRED_OPS: u32 = 20_000;

/// The same comparison interleaved (see `cache_tests::paired`), with the
/// ratio printed.
fn paired_http_1kib(_: &mut Criterion) {
    let rt = runtime();
    let (direct, cached) = (direct(), cached());
    let (ours, theirs): (Vec<f64>, Vec<f64>) = (0..paired::ROUNDS)
        .map(|_| {
            rt.block_on(async {
                let ours = paired::per_call_async(PAIRED_OPS, || async {
                    black_box(get_one(&cached).await);
                })
                .await;
                let theirs = paired::per_call_async(PAIRED_OPS, || async {
                    black_box(get_one(&direct).await);
                })
                .await;
                (ours, theirs)
            })
        })
        .unzip();
    paired::write("http_hit_1KiB_vs_direct", &ours, &theirs);
    println!(
        "http: cached 1 KiB through CacheLayer {:.0} ns, trivial handler {:.0} ns, ratio {:.2}",
        paired::median(ours.clone()),
        paired::median(theirs.clone()),
        paired::median(ours.iter().zip(&theirs).map(|(o, t)| o / t).collect()),
    );
}

criterion_group!(benches, http_1kib, paired_http_1kib);
criterion_main!(benches);
