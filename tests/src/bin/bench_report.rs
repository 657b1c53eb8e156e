//! Reads criterion's results and prints the side-by-side table with ratios
//! against their targets. Run by `scripts/bench.sh` after the benches.
//!
//! ```text
//! cargo run --release --bin bench_report -- target/criterion [redis-benchmark results file]
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cache_tests::paired::{median, spread};

/// One comparison: ours against what a user would pick instead.
struct Row {
    what: &'static str,
    ours: &'static str,
    theirs: &'static str,
    /// The ratio of ours/theirs times must not exceed this (infinite:
    /// reported only).
    target: f64,
}

const ROWS: &[Row] = &[
    Row {
        what: "memory hit fn(u64)->u64, sync",
        ours: "hit_u64/memoize_sync",
        theirs: "hit_u64/cached_sync",
        target: 1.0,
    },
    Row {
        what: "memory hit fn(u64)->u64, sync vs quick_cache get",
        ours: "hit_u64/memoize_sync",
        theirs: "hit_u64/quick_cache_get",
        target: 4.0,
    },
    Row {
        what: "memory hit fn(u64)->u64, async",
        ours: "hit_u64/memoize_async",
        theirs: "hit_u64/cached_async",
        target: 1.0,
    },
    Row {
        what: "memory hit fn(u64)->String(100), sync",
        ours: "hit_string100/memoize_sync",
        theirs: "hit_string100/cached_sync",
        target: 1.2,
    },
    Row {
        what: "memory hit fn(u64)->String(100), async",
        ours: "hit_string100/memoize_async",
        theirs: "hit_string100/cached_async",
        target: 1.0,
    },
    Row {
        what: "memory hit vs moka get",
        ours: "hit_u64/memoize_sync",
        theirs: "hit_u64/moka_get",
        target: 1.0,
    },
    Row {
        what: "memory miss + store",
        ours: "miss_and_store/memoize_sync",
        theirs: "miss_and_store/cached_sync",
        target: 1.5,
    },
    Row {
        what: "Redis hit 100 B, c=1, current-thread runtime",
        ours: "redis_hit_100B_ct/memoize_async",
        theirs: "redis_hit_100B_ct/raw_redis_get",
        target: 1.10,
    },
    Row {
        what: "Redis hit 100 B, c=1, multi-thread runtime",
        ours: "redis_hit_100B_mt/memoize_async",
        theirs: "redis_hit_100B_mt/raw_redis_get",
        target: 1.10,
    },
    Row {
        what: "Redis hit 10 KiB, c=1, current-thread runtime",
        ours: "redis_hit_10KiB_ct/memoize_async",
        theirs: "redis_hit_10KiB_ct/raw_redis_get",
        target: 1.10,
    },
    Row {
        what: "Redis hit 10 KiB, c=1, multi-thread runtime",
        ours: "redis_hit_10KiB_mt/memoize_async",
        theirs: "redis_hit_10KiB_mt/raw_redis_get",
        target: 1.10,
    },
    Row {
        what: "Redis hit 100 B vs cached AsyncRedisCache, multi-thread",
        ours: "redis_hit_100B_mt/memoize_async",
        theirs: "redis_hit_100B_mt/cached_async_redis",
        target: 1.0,
    },
    Row {
        what: "Redis hit 10 KiB vs cached AsyncRedisCache, multi-thread",
        ours: "redis_hit_10KiB_mt/memoize_async",
        theirs: "redis_hit_10KiB_mt/cached_async_redis",
        target: 1.0,
    },
    Row {
        what: "Redis throughput, 50 tasks, current-thread (time per 5000 GETs)",
        ours: "redis_throughput_50_tasks_ct/cache_get",
        theirs: "redis_throughput_50_tasks_ct/raw_redis_get",
        target: 1.0 / 0.95,
    },
    Row {
        what: "Redis throughput, 50 tasks, multi-thread (time per 5000 GETs)",
        ours: "redis_throughput_50_tasks_mt/cache_get",
        theirs: "redis_throughput_50_tasks_mt/raw_redis_get",
        target: 1.0 / 0.95,
    },
    Row {
        what: "Redis throughput, 50 tasks, 100 KiB values",
        ours: "redis_throughput_50_tasks_100KiB/cache_get",
        theirs: "redis_throughput_50_tasks_100KiB/raw_redis_get",
        target: f64::INFINITY,
    },
    Row {
        what: "Redis throughput, 50 tasks, 100 KiB values, 4 connections vs 1",
        ours: "redis_throughput_50_tasks_100KiB/cache_get_4_connections",
        theirs: "redis_throughput_50_tasks_100KiB/cache_get",
        target: f64::INFINITY,
    },
    Row {
        what: "Redis throughput, 50 tasks, 100 KiB values, raw: 4 connections vs 1",
        ours: "redis_throughput_50_tasks_100KiB/raw_redis_get_4_connections",
        theirs: "redis_throughput_50_tasks_100KiB/raw_redis_get",
        target: f64::INFINITY,
    },
    Row {
        what: "Redis throughput, 50 tasks, 1 MiB values",
        ours: "redis_throughput_50_tasks_1MiB/cache_get",
        theirs: "redis_throughput_50_tasks_1MiB/raw_redis_get",
        target: f64::INFINITY,
    },
    Row {
        what: "Redis throughput, 50 tasks, 1 MiB values, 4 connections vs 1",
        ours: "redis_throughput_50_tasks_1MiB/cache_get_4_connections",
        theirs: "redis_throughput_50_tasks_1MiB/cache_get",
        target: f64::INFINITY,
    },
    Row {
        what: "Redis throughput, 50 tasks, 1 MiB values, raw: 4 connections vs 1",
        ours: "redis_throughput_50_tasks_1MiB/raw_redis_get_4_connections",
        theirs: "redis_throughput_50_tasks_1MiB/raw_redis_get",
        target: f64::INFINITY,
    },
    Row {
        what: "HTTP: cached 1 KiB through CacheLayer vs a trivial handler (axum, no network)",
        ours: "http_1KiB/layer_hit",
        theirs: "http_1KiB/direct",
        target: f64::INFINITY,
    },
];

/// The same comparisons measured interleaved (see `cache_tests::paired`): `(what, id under target/criterion/paired, theirs, target)`.
const PAIRED: &[(&str, &str, &str, f64)] = &[
    (
        "Redis memoized hit served from the near cache (L1) vs the memory-store hit, fn(u64)->String(100), async",
        "near_hit_vs_memory_hit",
        "memory_store_hit",
        1.5,
    ),
    (
        "Redis `Cache::get` hit served from the near cache (L1) vs the memory store's `get`, String(100)",
        "near_get_vs_memory_get",
        "memory_store_get",
        1.5,
    ),
    (
        "memory hit fn(u64)->u64, sync",
        "hit_u64_sync_vs_cached",
        "cached_sync",
        1.0,
    ),
    (
        "memory hit fn(u64)->u64, sync vs quick_cache get",
        "hit_u64_sync_vs_quick_cache",
        "quick_cache_get",
        4.0,
    ),
    (
        "memory hit vs moka get",
        "hit_u64_sync_vs_moka",
        "moka_get",
        1.0,
    ),
    (
        "memory hit fn(u64)->u64, async",
        "hit_u64_async_vs_cached",
        "cached_async",
        1.0,
    ),
    (
        "memory hit fn(u64)->String(100), sync",
        "hit_string100_sync_vs_cached",
        "cached_sync",
        1.2,
    ),
    (
        "memory hit fn(u64, &str)->u64, sync",
        "hit_two_args_sync_vs_cached",
        "cached_sync",
        1.2,
    ),
    (
        "memory hit fn(u64)->String(100), async",
        "hit_string100_async_vs_cached",
        "cached_async",
        1.0,
    ),
    (
        "memory miss + store",
        "miss_and_store_vs_cached",
        "cached_sync",
        1.5,
    ),
    (
        "Cache API get (String key, u64), memory",
        "api_get_vs_quick_cache",
        "quick_cache_get",
        f64::INFINITY,
    ),
    (
        "Cache API get (String key, u64), memory",
        "api_get_vs_moka",
        "moka_get",
        f64::INFINITY,
    ),
    (
        "Cache API set (String key, u64), memory",
        "api_set_vs_quick_cache",
        "quick_cache_insert",
        f64::INFINITY,
    ),
    (
        "Cache API set (String key, u64), memory",
        "api_set_vs_moka",
        "moka_insert",
        f64::INFINITY,
    ),
    (
        "Redis hit 100 B, c=1, current-thread runtime",
        "redis_hit_100B_ct_vs_raw",
        "raw_redis_get",
        1.10,
    ),
    (
        "Redis hit 100 B, c=1, multi-thread runtime",
        "redis_hit_100B_mt_vs_raw",
        "raw_redis_get",
        1.10,
    ),
    (
        "Redis hit 10 KiB, c=1, current-thread runtime",
        "redis_hit_10KiB_ct_vs_raw",
        "raw_redis_get",
        1.10,
    ),
    (
        "Redis hit 10 KiB, c=1, multi-thread runtime",
        "redis_hit_10KiB_mt_vs_raw",
        "raw_redis_get",
        1.10,
    ),
    (
        "Redis hit 100 B vs cached AsyncRedisCache, current-thread",
        "redis_hit_100B_ct_vs_cached",
        "cached_async_redis",
        1.0,
    ),
    (
        "Redis hit 100 B vs cached AsyncRedisCache, multi-thread",
        "redis_hit_100B_mt_vs_cached",
        "cached_async_redis",
        1.0,
    ),
    (
        "Redis hit 10 KiB vs cached AsyncRedisCache, current-thread",
        "redis_hit_10KiB_ct_vs_cached",
        "cached_async_redis",
        1.0,
    ),
    (
        "Redis hit 10 KiB vs cached AsyncRedisCache, multi-thread",
        "redis_hit_10KiB_mt_vs_cached",
        "cached_async_redis",
        1.0,
    ),
    (
        "Redis throughput, 50 tasks, current-thread (time per 5000 GETs)",
        "redis_throughput_50_tasks_ct_vs_raw",
        "raw_redis_get",
        1.0 / 0.95,
    ),
    (
        "Redis throughput, 50 tasks, multi-thread (time per 5000 GETs)",
        "redis_throughput_50_tasks_mt_vs_raw",
        "raw_redis_get",
        1.0 / 0.95,
    ),
    (
        "Redis throughput, 50 tasks, 100 KiB values",
        "redis_throughput_50_tasks_100KiB_vs_raw",
        "raw_redis_get",
        f64::INFINITY,
    ),
    (
        "Redis throughput, 50 tasks, 100 KiB values, 4 connections vs 1",
        "redis_throughput_50_tasks_100KiB_4_connections_vs_1",
        "1 connection",
        f64::INFINITY,
    ),
    (
        "Redis throughput, 50 tasks, 100 KiB values, raw: 4 connections vs 1",
        "redis_throughput_50_tasks_100KiB_raw_4_connections_vs_1",
        "raw, 1 connection",
        f64::INFINITY,
    ),
    (
        "Redis throughput, 50 tasks, 1 MiB values",
        "redis_throughput_50_tasks_1MiB_vs_raw",
        "raw_redis_get",
        f64::INFINITY,
    ),
    (
        "Redis throughput, 50 tasks, 1 MiB values, 4 connections vs 1",
        "redis_throughput_50_tasks_1MiB_4_connections_vs_1",
        "1 connection",
        f64::INFINITY,
    ),
    (
        "Redis throughput, 50 tasks, 1 MiB values, raw: 4 connections vs 1",
        "redis_throughput_50_tasks_1MiB_raw_4_connections_vs_1",
        "raw, 1 connection",
        f64::INFINITY,
    ),
    (
        "HTTP: cached 1 KiB through CacheLayer vs a trivial handler (axum, no network)",
        "http_hit_1KiB_vs_direct",
        "direct",
        f64::INFINITY,
    ),
];

const ALONE: &[(&str, &str)] = &[
    ("key building, u64", "key_building/u64"),
    ("key building, (u64, &str)", "key_building/u64_and_str"),
    (
        "key building, 10-field struct",
        "key_building/struct_10_fields",
    ),
    (
        "Redis: 100 concurrent misses of one key (body sleeps 20 ms)",
        "redis_single_flight_100_misses/memoize_async",
    ),
];

fn mean_ns(root: &Path, id: &str) -> Option<f64> {
    let path: PathBuf = root.join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The runs of one interleaved comparison, summed up: the medians over
/// the runs of ours, theirs and the ratio (each run's ratio is the median
/// of its per-round ratios), the lowest and highest run ratios, how many
/// runs, and rounds per run.
struct Paired {
    ours: f64,
    theirs: f64,
    ratio: f64,
    low: f64,
    high: f64,
    runs: usize,
    rounds: u64,
}

fn paired(root: &Path, id: &str) -> Option<Paired> {
    let text = std::fs::read_to_string(root.join("paired").join(format!("{id}.json"))).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let runs = json["runs"].as_array()?;
    let field =
        |name: &str| -> Option<Vec<f64>> { runs.iter().map(|run| run[name].as_f64()).collect() };
    let (ratio, low, high) = spread(field("ratio")?);
    Some(Paired {
        ours: median(field("ours_ns")?),
        theirs: median(field("theirs_ns")?),
        ratio,
        low,
        high,
        runs: runs.len(),
        rounds: runs.first()?["rounds"].as_u64()?,
    })
}

/// One table line: `ratio` of ours/theirs times against `target`
/// (infinite: reported only).
fn line(out: &mut String, what: &str, ours: f64, theirs: f64, name: &str, ratio: f64, target: f64) {
    let (target_text, verdict) = if target.is_finite() {
        (
            format!("≤ {target:.2}×"),
            if ratio <= target { "met" } else { "missed" },
        )
    } else {
        ("(report)".to_owned(), "")
    };
    let _ = writeln!(
        out,
        "| {what} | {} | {} (`{name}`) | {ratio:.2}× | {target_text} | {verdict} |",
        human(ours),
        human(theirs),
    );
}

/// The near cache's lag and Zipf figures (`near.json`, written by the
/// `near` bench).
fn near_section(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("near.json")).ok()?;
    let n: serde_json::Value = serde_json::from_str(&text).ok()?;
    let num = |k: &str| n[k].as_f64().unwrap_or(f64::NAN);
    let ms = |k: &str| num(k) / 1000.0;
    let t = |k: &str| human(num(k) * 1000.0);
    let mut out = String::new();
    let _ = write!(
        out,
        "| near cache: invalidation lag, {} updates each, loopback | p50 | p99 | max | target | |\n|---|---|---|---|---|---|\n\
         | `set` returned in A → B's L1 no longer holds the old value | {} | {} | {} | p99 ≤ 5 ms | {} |\n\
         | `set` called in A → B's L1 no longer holds the old value | {} | {} | {} | (report) | |\n\
         | `<fn>_invalidate` returned in A → B's L1 no longer holds the old value | {} | {} | {} | p99 ≤ 5 ms | {} |\n\
         | Redis memoized hit without a near cache (one round trip), for scale | {} | | | | |\n\n\
         | near cache: {} tasks, Zipf(1.0) over {} keys, 1% writes, {} s each | ops/s | reads served without a `GET` |\n|---|---|---|\n\
         | L1 off | {:.0} | {:.1}% |\n\
         | L1 on ({} MiB) | {:.0} ({:.2}× off) | {:.1}% |\n",
        n["updates"],
        t("lag_set_p50_us"),
        t("lag_set_p99_us"),
        t("lag_set_max_us"),
        if ms("lag_set_p99_us") <= 5.0 { "met" } else { "missed" },
        t("lag_set_from_call_p50_us"),
        t("lag_set_from_call_p99_us"),
        t("lag_set_from_call_max_us"),
        t("lag_invalidate_p50_us"),
        t("lag_invalidate_p99_us"),
        t("lag_invalidate_max_us"),
        if ms("lag_invalidate_p99_us") <= 5.0 { "met" } else { "missed" },
        human(num("remote_hit_ns")),
        n["zipf_tasks"],
        n["zipf_keys"],
        n["zipf_seconds"],
        num("zipf_off_ops"),
        num("zipf_off_local") * 100.0,
        n["zipf_on_bound_mib"],
        num("zipf_on_ops"),
        num("zipf_on_ops") / num("zipf_off_ops"),
        num("zipf_on_local") * 100.0,
    );
    Some(out)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().unwrap_or_else(|| "target/criterion".into()));
    let extra = args.next().and_then(|p| std::fs::read_to_string(p).ok());
    let mut out = String::new();
    out.push_str("| comparison | ours | theirs | ratio | target | |\n|---|---|---|---|---|---|\n");
    for row in ROWS {
        let (Some(ours), Some(theirs)) = (mean_ns(&root, row.ours), mean_ns(&root, row.theirs))
        else {
            let _ = writeln!(out, "| {} | not measured | | | | |", row.what);
            continue;
        };
        let name = row.theirs.split('/').nth(1).unwrap_or(row.theirs);
        line(
            &mut out,
            row.what,
            ours,
            theirs,
            name,
            ours / theirs,
            row.target,
        );
    }
    let rounds = PAIRED
        .iter()
        .find_map(|(_, id, _, _)| paired(&root, id))
        .map_or(0, |p| p.rounds);
    let _ = write!(
        out,
        "\nInterleaved: each of {rounds} rounds times ours and theirs back to back; \
         a run's ratio is the median of its per-round ratios, so that drift in the \
         machine's loopback latency between two criterion runs cancels out. \
         Comparisons run several times are given as the median run, with the \
         lowest and highest run ratios and the number of runs.\n\n\
         | comparison (interleaved) | ours | theirs | ratio | target | |\n|---|---|---|---|---|---|\n"
    );
    for (what, id, name, target) in PAIRED {
        match paired(&root, id) {
            Some(p) => {
                let what = if p.runs > 1 {
                    format!("{what} [{:.2}–{:.2}×, {} runs]", p.low, p.high, p.runs)
                } else {
                    (*what).to_owned()
                };
                line(&mut out, &what, p.ours, p.theirs, name, p.ratio, *target);
            }
            None => {
                let _ = writeln!(out, "| {what} | not measured | | | | |");
            }
        }
    }
    out.push_str("\n| measured alone | mean |\n|---|---|\n");
    for (what, id) in ALONE {
        let shown = mean_ns(&root, id).map_or_else(|| "not measured".into(), human);
        let _ = writeln!(out, "| {what} | {shown} |");
    }
    if let Some(f) = std::fs::read_to_string(root.join("footprint.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    {
        let num = |k: &str| f[k].as_f64().unwrap_or(f64::NAN);
        let bound = num("bound_mib");
        let ours = num("ours_resident_mib");
        let _ = write!(
            out,
            "\n| memory store, {bound} MiB bound, filled with {} keys of 1 KiB | ours | bare quick_cache | target | |\n|---|---|---|---|---|\n\
             | resident after filling | {ours:.1} MiB ({:.2}× the bound) | {:.1} MiB | ≤ 1.30× + fixed | {} |\n\
             | hit ratio, {} Zipf(1.0) reads over those keys | {:.3} | {:.3} | (report) | |\n",
            f["keys"],
            ours / bound,
            num("bare_resident_mib"),
            if ours / bound <= 1.3 { "met" } else { "missed" },
            f["reads"],
            num("ours_hit_ratio"),
            num("bare_hit_ratio"),
        );
    }
    if let Some(near) = near_section(&root) {
        out.push('\n');
        out.push_str(&near);
    }
    if let Some(extra) = extra {
        out.push('\n');
        out.push_str(&extra);
    }
    print!("{out}");
}
