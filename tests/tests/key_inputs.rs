//! Keys and arguments a caller does not control (request paths, user
//! names, uploaded bytes) through the public `Cache` API on the memory
//! store: glob characters, separators, control characters, NUL, non-UTF-8
//! bytes and megabyte-long values must round trip, never reach another
//! entry, and be invalidated one by one.
//!
//! Every scenario runs twice: on the memory store's typed path (values kept
//! as Rust values) and through the byte-level `Backend` trait (values
//! encoded, as for Redis), by wrapping the store so the cache cannot see it
//! is a `MemoryBackend`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use cache_core::{
    async_trait, bytes::Bytes, memoize, Backend, Cache, ErrorKind, MemoryBackend, Ttl,
};

/// A memory store seen only through the `Backend` trait: every value is
/// encoded on the way in and decoded on the way out.
struct Encoded(MemoryBackend);

#[async_trait]
impl Backend for Encoded {
    async fn get(&self, key: &str) -> cache_core::Result<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> cache_core::Result<()> {
        self.0.set(key, value, ttl).await
    }
    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> cache_core::Result<bool> {
        self.0.add(key, value, ttl).await
    }
    async fn delete_many(&self, keys: &[&str]) -> cache_core::Result<u64> {
        self.0.delete_many(keys).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> cache_core::Result<i64> {
        self.0.incr(key, delta, ttl).await
    }
    async fn clear_prefix(&self, prefix: &str) -> cache_core::Result<u64> {
        self.0.clear_prefix(prefix).await
    }
}

/// A typed cache and a byte-level cache over one fresh store each.
fn both_paths(prefix: &str) -> [(&'static str, Cache); 2] {
    let typed = Cache::builder()
        .backend(MemoryBackend::new())
        .key_prefix(prefix)
        .build()
        .unwrap();
    let encoded = Cache::builder()
        .backend(Encoded(MemoryBackend::new()))
        .key_prefix(prefix)
        .build()
        .unwrap();
    [("typed", typed), ("encoded", encoded)]
}

/// Keys that look alike, or that a glob, a line protocol or a C string
/// would read differently.
fn hostile_keys() -> Vec<String> {
    let mega = ":*?[".repeat(256 * 1024);
    let mut keys: Vec<String> = [
        "a",
        "ab",
        "a*",
        "a?",
        "a[b]",
        "[ab]",
        "*",
        "?",
        "a:b",
        "a:",
        ":a",
        "::",
        "a\nb",
        "a\rb",
        "a\r\n",
        "a\0b",
        "a\0",
        "\0",
        "",
        " ",
        "a b",
        "\\*",
        "é",
        "\u{202e}ba",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    keys.push(format!("{mega}x"));
    keys.push(mega);
    keys
}

fn shown(key: &str) -> String {
    key.chars().take(12).flat_map(char::escape_debug).collect()
}

#[tokio::test]
async fn hostile_keys_round_trip_and_never_see_each_others_values() {
    let keys = hostile_keys();
    assert!(
        keys.iter().any(|k| k.len() >= 1 << 20),
        "a 1 MiB key is tried"
    );
    for (path, cache) in both_paths("app:") {
        for (i, key) in keys.iter().enumerate() {
            cache.set(key, &format!("value {i}"), None).await.unwrap();
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                cache.get::<String>(key).await.unwrap(),
                Some(format!("value {i}")),
                "{path}: {}",
                shown(key)
            );
        }
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let all = cache.get_many::<String>(&refs).await.unwrap();
        assert!(
            all.iter()
                .enumerate()
                .all(|(i, v)| v.as_deref() == Some(format!("value {i}").as_str())),
            "{path}: get_many"
        );

        // Removing `a*` removes that key only: not `ab`, not `a`, not `a?`.
        assert!(cache.delete("a*").await.unwrap(), "{path}");
        assert_eq!(cache.get::<String>("a*").await.unwrap(), None, "{path}");
        for (i, key) in keys.iter().enumerate().filter(|(_, k)| *k != "a*") {
            assert_eq!(
                cache.get::<String>(key).await.unwrap(),
                Some(format!("value {i}")),
                "{path}: deleting `a*` touched {}",
                shown(key)
            );
        }
        assert!(!cache.delete("a*").await.unwrap(), "{path}: already gone");
        assert!(!cache.has("a*").await.unwrap(), "{path}");
        assert!(cache.has("ab").await.unwrap(), "{path}");

        // `add` on a glob-like key does not see the key it would match.
        assert!(cache.add("a*", &"added".to_string(), None).await.unwrap());
        assert!(!cache.add("ab", &"added".to_string(), None).await.unwrap());
        assert_eq!(
            cache.incr("a?", 1).await.unwrap_err().kind(),
            ErrorKind::Backend,
            "{path}: `a?` holds text"
        );
        assert_eq!(cache.incr("a\0count", 2).await.unwrap(), 2, "{path}");
        assert_eq!(cache.incr("a*count", 5).await.unwrap(), 5, "{path}");
        assert_eq!(cache.get::<i64>("a\0count").await.unwrap(), Some(2));

        assert_eq!(
            cache.clear().await.unwrap(),
            u64::try_from(keys.len() + 2).unwrap(),
            "{path}: every key, however it is spelled, is under the prefix"
        );
        for key in &keys {
            assert!(!cache.has(key).await.unwrap(), "{path}: {}", shown(key));
        }
    }
}

#[tokio::test]
async fn a_megabyte_key_is_its_own_entry_and_so_is_the_same_key_plus_one_character() {
    let long = "k".repeat(1 << 20);
    let longer = format!("{long}k");
    for (path, cache) in both_paths("long:") {
        cache.set(&long, &1u32, None).await.unwrap();
        assert_eq!(cache.get::<u32>(&longer).await.unwrap(), None, "{path}");
        cache.set(&longer, &2u32, None).await.unwrap();
        assert_eq!(cache.get::<u32>(&long).await.unwrap(), Some(1), "{path}");
        assert_eq!(cache.get::<u32>(&longer).await.unwrap(), Some(2), "{path}");
        assert_eq!(cache.get::<u32>(&long[1..]).await.unwrap(), None, "{path}");
    }
}

// --- #[memoize] with hostile arguments ---------------------------------------------

static MEMO: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().key_prefix("memo-inputs:").build().unwrap());
static ECHO_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Returns its argument (so a wrong entry shows) and which run produced it.
#[memoize(cache = MEMO)]
fn echo(text: &str) -> (String, usize) {
    (text.to_owned(), ECHO_RUNS.fetch_add(1, Ordering::SeqCst))
}

#[test]
fn memoized_results_are_per_argument_and_invalidate_removes_only_that_argument() {
    let args = hostile_keys();
    let mut first_runs = Vec::new();
    for arg in &args {
        let (echoed, run) = echo(arg);
        assert_eq!(&echoed, arg, "{}", shown(arg));
        first_runs.push(run);
    }
    let ran = ECHO_RUNS.load(Ordering::SeqCst);
    assert_eq!(ran, args.len(), "each distinct argument runs once");
    for (arg, run) in args.iter().zip(&first_runs) {
        assert_eq!(echo(arg), (arg.clone(), *run), "{} is cached", shown(arg));
    }
    assert_eq!(
        ECHO_RUNS.load(Ordering::SeqCst),
        ran,
        "second calls are hits"
    );

    // Only `a*`'s entry goes; `ab`, `a`, `a?` and the rest stay cached.
    assert!(echo_invalidate("a*").unwrap());
    assert!(!echo_invalidate("a*").unwrap(), "already gone");
    assert!(!echo_invalidate("a*b").unwrap(), "never cached");
    for (arg, run) in args.iter().zip(&first_runs).filter(|(a, _)| *a != "a*") {
        assert_eq!(
            echo(arg),
            (arg.clone(), *run),
            "{} still cached",
            shown(arg)
        );
    }
    assert_eq!(ECHO_RUNS.load(Ordering::SeqCst), ran);
    assert_eq!(echo("a*"), ("a*".to_owned(), ran), "recomputed");

    // The megabyte argument is removed by its own invalidation, and only it.
    let mega = args.last().unwrap();
    assert!(mega.len() >= 1 << 20 && args.contains(&format!("{mega}x")));
    assert!(echo_invalidate(mega).unwrap());
    assert_eq!(echo(mega).1, ran + 1, "recomputed");
    assert_eq!(echo(&format!("{mega}x")).0, format!("{mega}x"));
    assert_eq!(
        ECHO_RUNS.load(Ordering::SeqCst),
        ran + 2,
        "`{{mega}}x` was still cached"
    );
}

static BYTES_MEMO: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .backend(Encoded(MemoryBackend::new()))
        .key_prefix("memo-bytes:")
        .build()
        .unwrap()
});
static LENGTH_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Raw bytes (not UTF-8) and a label as key arguments, on the encoded path.
#[memoize(cache = BYTES_MEMO)]
async fn describe(data: Vec<u8>, label: String) -> String {
    tokio::task::yield_now().await;
    LENGTH_RUNS.fetch_add(1, Ordering::SeqCst);
    format!("{label}: {} bytes, first {:?}", data.len(), data.first())
}

#[tokio::test]
async fn memoized_byte_arguments_are_keyed_by_value_and_invalidated_one_by_one() {
    let calls: Vec<(Vec<u8>, String)> = vec![
        (vec![0xff, 0xfe], "a:b".into()),
        (vec![0xff], "\u{fe}a:b".into()),
        (vec![], "a*".into()),
        (vec![b'*'], "a".into()),
        (vec![0x00], "\n".into()),
        (vec![0x80; 1 << 20], "big".into()),
        (vec![0x80; (1 << 20) + 1], "big".into()),
    ];
    for (data, label) in &calls {
        let want = format!("{label}: {} bytes, first {:?}", data.len(), data.first());
        assert_eq!(describe(data.clone(), label.clone()).await, want);
        assert_eq!(describe(data.clone(), label.clone()).await, want);
    }
    assert_eq!(LENGTH_RUNS.load(Ordering::SeqCst), calls.len());

    assert!(describe_invalidate(vec![], "a*".into()).await.unwrap());
    assert!(!describe_invalidate(vec![b'*'], String::new())
        .await
        .unwrap());
    for (data, label) in &calls[..2] {
        describe(data.clone(), label.clone()).await;
    }
    assert_eq!(
        LENGTH_RUNS.load(Ordering::SeqCst),
        calls.len(),
        "other arguments stay cached"
    );
    describe(vec![], "a*".into()).await;
    assert_eq!(LENGTH_RUNS.load(Ordering::SeqCst), calls.len() + 1);
}

// --- Prefixes with glob characters on one store -------------------------------------

#[tokio::test]
async fn clearing_a_prefix_with_glob_characters_leaves_look_alike_prefixes_alone() {
    for typed in [true, false] {
        let store = MemoryBackend::new();
        let build = |prefix: &str| {
            let builder = Cache::builder().key_prefix(prefix);
            let builder = if typed {
                builder.backend(store.clone())
            } else {
                builder.backend(Encoded(store.clone()))
            };
            builder.build().unwrap()
        };
        let globby = build("app*:");
        let others = [
            "app:", "appx:", "app*x:", "app?:", "app[*]:", "ap*:", "APP*:",
        ]
        .map(|prefix| (prefix, build(prefix)));
        globby.set("k", &"mine".to_string(), None).await.unwrap();
        globby.set("*", &"mine".to_string(), None).await.unwrap();
        for (prefix, cache) in &others {
            cache.set("k", &(*prefix).to_string(), None).await.unwrap();
            cache.set(":k", &(*prefix).to_string(), None).await.unwrap();
        }

        assert_eq!(globby.clear().await.unwrap(), 2, "only its own two keys");
        assert_eq!(globby.get::<String>("k").await.unwrap(), None);
        for (prefix, cache) in &others {
            for key in ["k", ":k"] {
                assert_eq!(
                    cache.get::<String>(key).await.unwrap().as_deref(),
                    Some(*prefix),
                    "clearing `app*:` removed `{prefix}{key}`"
                );
            }
        }
        assert_eq!(store.len(), 2 * others.len());
    }
}
