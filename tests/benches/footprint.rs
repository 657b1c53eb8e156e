//! Memory footprint and hit ratio of the in-memory store, against the bare
//! quick_cache it is built on:
//!
//! - a 64 MiB store filled with 10 times that in 1 KiB values: the
//!   process's resident size after filling, against the bound;
//! - then reads under a Zipf(1.0) key distribution over those keys (a miss
//!   stores the value, as a memoized function does): the hit ratio.
//!
//! Each contender runs in its own process (this binary runs itself), so
//! that one's freed memory does not count against the other.
//!
//! ```text
//! cargo bench --bench footprint
//! ```

// Sizes and ratios are display values.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]

use cache_tests::zipf::Zipf;
use std::process::Command;

use cache_core::{Cache, MemoryBackend};

const BOUND: u64 = 64 * 1024 * 1024;
const VALUE: usize = 1024;
/// Keys written: ten times the bound in values.
const KEYS: u64 = 10 * BOUND / VALUE as u64;
const READS: u64 = 2_000_000;

/// The process's resident set, in bytes (Linux; `None` elsewhere).
fn resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn value(key: u64) -> Vec<u8> {
    vec![key as u8; VALUE]
}

/// What one contender needs: `get`, and `set` on a miss.
trait Store {
    fn get(&self, key: &str) -> bool;
    fn set(&self, key: &str, value: Vec<u8>);
}

impl Store for Cache {
    fn get(&self, key: &str) -> bool {
        self.blocking().get::<Vec<u8>>(key).unwrap().is_some()
    }
    fn set(&self, key: &str, value: Vec<u8>) {
        self.blocking().set(key, &value, None).unwrap();
    }
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<String, Vec<u8>> for Weight {
    fn weight(&self, key: &String, value: &Vec<u8>) -> u64 {
        (key.len() + value.len()) as u64
    }
}

type Bare = quick_cache::sync::Cache<String, Vec<u8>, Weight>;

impl Store for Bare {
    fn get(&self, key: &str) -> bool {
        Bare::get(self, key).is_some()
    }
    fn set(&self, key: &str, value: Vec<u8>) {
        self.insert(key.to_owned(), value);
    }
}

/// Fills, measures, reads; prints one JSON line.
fn run(store: &dyn Store, before: u64) {
    for k in 0..KEYS {
        store.set(&format!("k{k}"), value(k));
    }
    let after_fill = resident().unwrap_or(0).saturating_sub(before);
    let zipf = Zipf::new(KEYS);
    let mut state = 42;
    let mut hits = 0u64;
    for _ in 0..READS {
        let k = zipf.sample(&mut state);
        let key = format!("k{k}");
        if store.get(&key) {
            hits += 1;
        } else {
            store.set(&key, value(k));
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "resident_after_fill": after_fill,
            "hit_ratio": hits as f64 / READS as f64,
        })
    );
}

fn child(which: &str) {
    let before = resident().unwrap_or(0);
    if which == "ours" {
        let cache = Cache::builder()
            .backend(MemoryBackend::with_capacity(BOUND))
            .build()
            .unwrap();
        run(&cache, before);
    } else {
        let bare: Bare =
            quick_cache::sync::Cache::with_weighter((BOUND / VALUE as u64) as usize, BOUND, Weight);
        run(&bare, before);
    }
}

fn measure(which: &str) -> serde_json::Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("FOOTPRINT_CHILD", which)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).unwrap()
}

fn main() {
    if let Ok(which) = std::env::var("FOOTPRINT_CHILD") {
        child(&which);
        return;
    }
    // `cargo bench -- <filter>` passes arguments; this bench has no parts.
    let ours = measure("ours");
    let bare = measure("bare");
    let mib =
        |v: &serde_json::Value| v["resident_after_fill"].as_f64().unwrap_or(0.0) / 1_048_576.0;
    let json = serde_json::json!({
        "bound_mib": BOUND / 1024 / 1024,
        "keys": KEYS,
        "reads": READS,
        "ours_resident_mib": mib(&ours),
        "bare_resident_mib": mib(&bare),
        "ours_hit_ratio": ours["hit_ratio"],
        "bare_hit_ratio": bare["hit_ratio"],
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("footprint.json"), json.to_string()).unwrap();
    println!("footprint: {json}");
}
