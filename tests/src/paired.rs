//! Interleaved ("paired") comparisons for the benches: each round times
//! every contender back to back, and the result is the median of the
//! per-round ratios. On a machine whose speed drifts by 10-20% over a
//! minute (a shared VM), two contenders that criterion measures one after
//! the other differ by that drift; in a paired round both see the same
//! machine, so the ratio keeps only what differs between them.
//!
//! Results go to `target/criterion/paired/<id>.json`, where `bench_report`
//! reads them. Each run of a comparison adds its result to that file's
//! `runs`, so that a script can repeat the comparisons (at different
//! moments of the machine's drift) and report the median run with the
//! spread; delete the directory to start afresh.

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

/// Adds one run of a comparison (per-round times of ours and theirs, in
/// ns) to its file for `bench_report`, and prints it.
///
/// # Panics
///
/// If the results directory cannot be written.
pub fn write(id: &str, ours: &[f64], theirs: &[f64]) {
    let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(o, t)| o / t).collect();
    let run = serde_json::json!({
        "ours_ns": median(ours.to_vec()),
        "theirs_ns": median(theirs.to_vec()),
        "ratio": median(ratios),
        "rounds": ours.len(),
    });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion/paired");
    std::fs::create_dir_all(&dir).expect("target/criterion is writable");
    let path = dir.join(format!("{id}.json"));
    let mut runs = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["runs"].as_array().cloned())
        .unwrap_or_default();
    runs.push(run.clone());
    let json = serde_json::json!({ "runs": runs });
    std::fs::write(&path, json.to_string()).expect("target/criterion is writable");
    println!("paired {id} (run {}): {run}", runs.len());
}

/// The spread of `xs`: `(median, min, max)` (`NaN`s for none).
///
/// ```
/// assert_eq!(cache_tests::paired::spread(vec![1.2, 1.0, 1.1]), (1.1, 1.0, 1.2));
/// ```
pub fn spread(xs: Vec<f64>) -> (f64, f64, f64) {
    let min = xs.iter().copied().reduce(f64::min).unwrap_or(f64::NAN);
    let max = xs.iter().copied().reduce(f64::max).unwrap_or(f64::NAN);
    (median(xs), min, max)
}
