//! Interleaved ("paired") comparisons for the benches: each round times
//! every contender back to back, and the result is the median of the
//! per-round ratios. On a machine whose speed drifts by 10-20% over a
//! minute (a shared VM), two contenders that criterion measures one after
//! the other differ by that drift; in a paired round both see the same
//! machine, so the ratio keeps only what differs between them.
//!
//! Results go to `target/criterion/paired/<id>.json`, where `bench_report`
//! reads them.

use std::future::Future;
use std::path::PathBuf;
use std::time::Instant;

/// Rounds per comparison.
pub const ROUNDS: usize = 21;

/// Nanoseconds per call of `ops` sequential calls of `call`.
///
/// ```
/// let ns = cache_tests::paired::per_call(1000, || { std::hint::black_box(2 + 2); });
/// assert!(ns >= 0.0);
/// ```
#[allow(clippy::cast_precision_loss)]
pub fn per_call(ops: u32, mut call: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..ops {
        call();
    }
    start.elapsed().as_nanos() as f64 / f64::from(ops)
}

/// [`per_call`] for an async call.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let ns = cache_tests::paired::per_call_async(10, || async {}).await;
/// assert!(ns >= 0.0);
/// # }
/// ```
#[allow(clippy::cast_precision_loss)]
pub async fn per_call_async<F, Fut>(ops: u32, mut call: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    for _ in 0..ops {
        call().await;
    }
    start.elapsed().as_nanos() as f64 / f64::from(ops)
}

/// The median (the upper one for an even count; `NaN` for none).
///
/// ```
/// assert_eq!(cache_tests::paired::median(vec![3.0, 1.0, 2.0]), 2.0);
/// ```
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Writes one comparison (per-round times of ours and theirs, in ns) for
/// `bench_report`, and prints it.
///
/// # Panics
///
/// If the results directory cannot be written.
pub fn write(id: &str, ours: &[f64], theirs: &[f64]) {
    let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(o, t)| o / t).collect();
    let json = serde_json::json!({
        "ours_ns": median(ours.to_vec()),
        "theirs_ns": median(theirs.to_vec()),
        "ratio": median(ratios),
        "rounds": ours.len(),
    });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion/paired");
    std::fs::create_dir_all(&dir).expect("target/criterion is writable");
    std::fs::write(dir.join(format!("{id}.json")), json.to_string())
        .expect("target/criterion is writable");
    println!("paired {id}: {json}");
}
