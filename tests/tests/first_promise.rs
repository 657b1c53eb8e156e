//! The first promise, checked against a plain model: over random
//! operations, value types, keys, prefixes and memoized argument lists, a
//! read returns the value that the same type and the same key (or the same
//! arguments) wrote, or a miss; never another type's value, another
//! argument list's value, or another cache's data.
//!
//! The same random programs run on the memory store and on a real
//! redis-server; `CACHE_SOAK_CASES` raises the number of programs.

use std::collections::HashMap;
use std::sync::Mutex;

use cache_core::{memoize, Cache, MemoryBackend};
use cache_tests::look_alike::{A, B};
use cache_tests::redis_server::RedisServer;
use proptest::prelude::*;

/// A value of one of several types whose encodings line up byte for byte.
#[derive(Debug, Clone, PartialEq)]
enum V {
    U(u64),
    F(f64),
    S(String),
    Bytes(Vec<u64>),
    A(A),
    B(B),
    T((u32, u32)),
}

/// Which type a read asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    U,
    F,
    S,
    Bytes,
    A,
    B,
    T,
}

impl V {
    fn ty(&self) -> Ty {
        match self {
            V::U(_) => Ty::U,
            V::F(_) => Ty::F,
            V::S(_) => Ty::S,
            V::Bytes(_) => Ty::Bytes,
            V::A(_) => Ty::A,
            V::B(_) => Ty::B,
            V::T(_) => Ty::T,
        }
    }
}

/// Prefixes that extend each other or hold delimiter and glob characters.
const PREFIXES: &[&str] = &["p", "p:", "pp", "p|", "p#x", "p*"];
const KEYS: &[&str] = &["k0", "k1", "k|2", "#k", "k*"];

#[derive(Debug, Clone)]
enum Op {
    Set(usize, usize, V),
    Add(usize, usize, V),
    Get(usize, usize, Ty),
    Delete(usize, usize),
    Clear(usize),
    Memo(usize, u8, String),
    InvalidateMemo(usize, u8, String),
    /// A read-through with a fail-safe policy (its entries carry a logical
    /// expiry): the value under the key if it is of this type, or `V`,
    /// stored.
    ReadThrough(usize, usize, V),
}

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        (0u64..4).prop_map(V::U),
        (0u32..4).prop_map(|n| V::F(f64::from(n))),
        "[a-c]{0,3}".prop_map(V::S),
        proptest::collection::vec(0u64..3, 0..3).prop_map(V::Bytes),
        (0u32..3, 0u32..3).prop_map(|(a, b)| V::A(A { a, b })),
        (0u32..3, 0u32..3).prop_map(|(a, b)| V::B(B { a, b })),
        (0u32..3, 0u32..3).prop_map(V::T),
    ]
}

fn ty() -> impl Strategy<Value = Ty> {
    prop_oneof![
        Just(Ty::U),
        Just(Ty::F),
        Just(Ty::S),
        Just(Ty::Bytes),
        Just(Ty::A),
        Just(Ty::B),
        Just(Ty::T),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..PREFIXES.len();
    let k = 0..KEYS.len();
    prop_oneof![
        4 => (c.clone(), k.clone(), value()).prop_map(|(c, k, v)| Op::Set(c, k, v)),
        1 => (c.clone(), k.clone(), value()).prop_map(|(c, k, v)| Op::Add(c, k, v)),
        5 => (c.clone(), k.clone(), ty()).prop_map(|(c, k, t)| Op::Get(c, k, t)),
        1 => (c.clone(), k.clone()).prop_map(|(c, k)| Op::Delete(c, k)),
        1 => c.clone().prop_map(Op::Clear),
        3 => (c.clone(), 0u8..4, "[:a]{0,3}").prop_map(|(c, a, s)| Op::Memo(c, a, s)),
        1 => (c.clone(), 0u8..4, "[:a]{0,3}").prop_map(|(c, a, s)| Op::InvalidateMemo(c, a, s)),
        2 => (c, k, value()).prop_map(|(c, k, v)| Op::ReadThrough(c, k, v)),
    ]
}

async fn set(cache: &Cache, key: &str, v: &V) {
    match v {
        V::U(x) => cache.set(key, x, None).await,
        V::F(x) => cache.set(key, x, None).await,
        V::S(x) => cache.set(key, x, None).await,
        V::Bytes(x) => cache.set(key, x, None).await,
        V::A(x) => cache.set(key, x, None).await,
        V::B(x) => cache.set(key, x, None).await,
        V::T(x) => cache.set(key, x, None).await,
    }
    .unwrap();
}

async fn add(cache: &Cache, key: &str, v: &V) -> bool {
    match v {
        V::U(x) => cache.add(key, x, None).await,
        V::F(x) => cache.add(key, x, None).await,
        V::S(x) => cache.add(key, x, None).await,
        V::Bytes(x) => cache.add(key, x, None).await,
        V::A(x) => cache.add(key, x, None).await,
        V::B(x) => cache.add(key, x, None).await,
        V::T(x) => cache.add(key, x, None).await,
    }
    .unwrap()
}

async fn get(cache: &Cache, key: &str, ty: Ty) -> Option<V> {
    match ty {
        Ty::U => cache.get(key).await.unwrap().map(V::U),
        Ty::F => cache.get(key).await.unwrap().map(V::F),
        Ty::S => cache.get(key).await.unwrap().map(V::S),
        Ty::Bytes => cache.get(key).await.unwrap().map(V::Bytes),
        Ty::A => cache.get(key).await.unwrap().map(V::A),
        Ty::B => cache.get(key).await.unwrap().map(V::B),
        Ty::T => cache.get(key).await.unwrap().map(V::T),
    }
}

async fn read_through(cache: &Cache, key: &str, v: &V) -> V {
    let policy = cache_core::Policy::new()
        .timeout(std::time::Duration::from_secs(600))
        .fail_safe(std::time::Duration::from_secs(600));
    macro_rules! read {
        ($x:expr, $variant:path) => {{
            let x = $x.clone();
            $variant(
                cache
                    .get_or_set_with_policy(key, &policy, move || async move { x })
                    .await,
            )
        }};
    }
    match v {
        V::U(x) => read!(x, V::U),
        V::F(x) => read!(x, V::F),
        V::S(x) => read!(x, V::S),
        V::Bytes(x) => read!(x, V::Bytes),
        V::A(x) => read!(x, V::A),
        V::B(x) => read!(x, V::B),
        V::T(x) => read!(x, V::T),
    }
}

/// The cache the memoized function uses, switched per operation.
static MEMO_CACHE: Mutex<Option<Cache>> = Mutex::new(None);

fn memo_cache() -> Cache {
    MEMO_CACHE.lock().unwrap().clone().expect("set by the test")
}

/// The memoized function: its result names its arguments, so a value
/// computed for another argument list is seen at once.
#[memoize(timeout = 600, cache = memo_cache())]
async fn describe(a: u8, s: String) -> String {
    tokio::task::yield_now().await;
    format!("{a}/{s}")
}

async fn run(caches: &[Cache], ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model: HashMap<(usize, usize), V> = HashMap::new();
    for c in caches {
        c.clear().await.unwrap();
    }
    for op in ops {
        match op {
            Op::Set(c, k, v) => {
                set(&caches[*c], KEYS[*k], v).await;
                model.insert((*c, *k), v.clone());
            }
            Op::Add(c, k, v) => {
                let stored = add(&caches[*c], KEYS[*k], v).await;
                prop_assert_eq!(stored, !model.contains_key(&(*c, *k)), "{:?}", op);
                model.entry((*c, *k)).or_insert_with(|| v.clone());
            }
            Op::Get(c, k, ty) => {
                let got = get(&caches[*c], KEYS[*k], *ty).await;
                let want = model.get(&(*c, *k)).filter(|v| v.ty() == *ty).cloned();
                prop_assert_eq!(got, want, "{:?} in {:?}", op, PREFIXES[*c]);
            }
            Op::Delete(c, k) => {
                let existed = caches[*c].delete(KEYS[*k]).await.unwrap();
                prop_assert_eq!(existed, model.remove(&(*c, *k)).is_some(), "{:?}", op);
            }
            Op::Clear(c) => {
                caches[*c].clear().await.unwrap();
                model.retain(|(mc, _), _| mc != c);
            }
            Op::Memo(c, a, s) => {
                *MEMO_CACHE.lock().unwrap() = Some(caches[*c].clone());
                let got = describe(*a, s.clone()).await;
                prop_assert_eq!(got, format!("{a}/{s}"));
            }
            Op::InvalidateMemo(c, a, s) => {
                *MEMO_CACHE.lock().unwrap() = Some(caches[*c].clone());
                describe_invalidate(*a, s.clone()).await.unwrap();
            }
            Op::ReadThrough(c, k, v) => {
                let got = read_through(&caches[*c], KEYS[*k], v).await;
                let want = match model.get(&(*c, *k)) {
                    Some(held) if held.ty() == v.ty() => held.clone(),
                    _ => v.clone(),
                };
                prop_assert_eq!(&got, &want, "{:?} in {:?}", op, PREFIXES[*c]);
                model.insert((*c, *k), want);
            }
        }
    }
    // Every key the model holds reads back, as its own type only.
    for ((c, k), v) in &model {
        for ty in [Ty::U, Ty::F, Ty::S, Ty::Bytes, Ty::A, Ty::B, Ty::T] {
            let got = get(&caches[*c], KEYS[*k], ty).await;
            let want = (v.ty() == ty).then(|| v.clone());
            prop_assert_eq!(
                got,
                want,
                "final read of {:?} in {:?}",
                KEYS[*k],
                PREFIXES[*c]
            );
        }
    }
    Ok(())
}

fn cases(default: u32) -> u32 {
    std::env::var("CACHE_SOAK_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One test at a time uses the memoized function's cache switch.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `cases` random programs over `caches` (one per prefix, in the
/// order of `PREFIXES`) against the model.
fn check_against_the_model(caches: &[Cache], cases: u32) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let rt = runtime();
    let config = ProptestConfig::with_cases(cases);
    proptest!(config, |(ops in proptest::collection::vec(op(), 1..60))| {
        rt.block_on(run(caches, &ops))?;
    });
}

#[test]
fn memory_store_matches_the_model() {
    let store = MemoryBackend::new();
    let caches: Vec<Cache> = PREFIXES
        .iter()
        .map(|p| {
            Cache::builder()
                .backend(store.clone())
                .key_prefix(*p)
                .build()
                .unwrap()
        })
        .collect();
    check_against_the_model(&caches, cases(256));
}

#[test]
fn redis_matches_the_model() {
    let server = RedisServer::start();
    let caches: Vec<Cache> = PREFIXES.iter().map(|p| server.cache(p)).collect();
    check_against_the_model(&caches, cases(48));
    // Nothing but the caches' own keys was ever written.
    let keys = server.cli(&["KEYS", "*"]);
    for key in keys.lines().filter(|k| !k.is_empty()) {
        assert!(
            PREFIXES.iter().any(|p| {
                let ns = cache_core::key::Namespace::new(p);
                key.starts_with(ns.plain())
                    || key.starts_with(ns.memoized())
                    || key.starts_with(ns.tags())
            }),
            "{key:?} belongs to no cache"
        );
    }
}
