//! The behavioural suite every [`Backend`] must pass.
//!
//! Framework authors run it against their own store in a test:
//!
//! ```no_run
//! # async fn example() {
//! use std::sync::Arc;
//! use cache_core::{testing, MemoryBackend};
//!
//! // In a #[tokio::test(flavor = "multi_thread")]:
//! testing::conformance(Arc::new(MemoryBackend::new())).await;
//! # }
//! ```
//!
//! A store that supports tags (see [`crate::tags`]) also runs
//! [`tag_conformance`]; one that leaves the tag methods of [`Backend`] out
//! skips it.
//!
//! It panics with a message naming the broken rule, like an `assert!`.
//! Every key it writes is under a fresh namespace (`conformance:<random>:`),
//! which it removes at the end with `clear_prefix`; it never touches other
//! keys, so it is safe to point at a store that holds other data. It takes a
//! few seconds, most of it waiting for TTLs to expire.

mod down;
mod tags;

pub use down::DownBackend;
pub use tags::tag_conformance;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::{Backend, ErrorKind, Ttl};

/// What a store is expected to do with what it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expect {
    /// A real store: it keeps values until they expire or are removed.
    Stores,
    /// A store that keeps nothing, like [`NullBackend`](crate::NullBackend):
    /// every read misses and every write succeeds.
    Forgets,
}

/// Runs the whole suite against a store that keeps values. Use a
/// multi-thread runtime so that the concurrency checks are really concurrent.
///
/// # Panics
///
/// On the first rule the store breaks, with a message naming it.
///
/// ```no_run
/// # async fn example() {
/// cache_core::testing::conformance(std::sync::Arc::new(cache_core::MemoryBackend::new())).await;
/// # }
/// ```
pub async fn conformance(backend: Arc<dyn Backend>) {
    conformance_with(backend, Expect::Stores).await;
}

/// Runs the suite with the given expectation.
///
/// # Panics
///
/// On the first rule the store breaks, with a message naming it.
///
/// ```no_run
/// # async fn example() {
/// use cache_core::testing::{conformance_with, Expect};
/// conformance_with(std::sync::Arc::new(cache_core::NullBackend), Expect::Forgets).await;
/// # }
/// ```
pub async fn conformance_with(backend: Arc<dyn Backend>, expect: Expect) {
    let seed = RandomState::new().hash_one(SystemTime::now());
    let ns = format!("conformance:{seed:016x}:");
    let suite = Suite {
        backend: backend.clone(),
        ns: ns.clone(),
    };
    backend
        .ping()
        .await
        .expect("ping must succeed on a reachable store");
    match expect {
        Expect::Stores => {
            suite.get_set_overwrite().await;
            suite.binary_values().await;
            suite.binary_keys().await;
            suite.large_values().await;
            suite.add_if_absent().await;
            suite.add_is_atomic().await;
            suite.delete().await;
            suite.delete_if_equals().await;
            suite.many().await;
            suite.incr().await;
            suite.incr_is_atomic().await;
            suite.clear_prefix_is_literal_and_scoped().await;
            suite
                .clear_prefixes_removes_each_prefix_and_nothing_else()
                .await;
            suite.ttl().await;
        }
        Expect::Forgets => suite.forgets().await,
    }
    backend
        .clear_prefix(&ns)
        .await
        .expect("clear_prefix of the suite's namespace must succeed");
}

struct Suite {
    backend: Arc<dyn Backend>,
    ns: String,
}

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

const LONG: Ttl = Ttl::After(Duration::from_secs(600));

impl Suite {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.ns)
    }

    async fn get(&self, key: &str) -> Option<Bytes> {
        self.backend
            .get(key)
            .await
            .unwrap_or_else(|e| panic!("get `{key}` failed: {e}"))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) {
        self.backend
            .set(key, value, ttl)
            .await
            .unwrap_or_else(|e| panic!("set `{key}` failed: {e}"));
    }

    async fn delete_if_equals(&self) {
        let k = self.key("lock");
        self.set(&k, b(b"token-1"), LONG).await;
        assert!(
            !self.backend.delete_if_equals(&k, b"token-2").await.unwrap(),
            "delete_if_equals must leave a key holding another value"
        );
        assert_eq!(self.get(&k).await, Some(b(b"token-1")));
        assert!(
            self.backend.delete_if_equals(&k, b"token-1").await.unwrap(),
            "delete_if_equals must remove a key holding the value"
        );
        assert_eq!(self.get(&k).await, None);
        assert!(
            !self.backend.delete_if_equals(&k, b"token-1").await.unwrap(),
            "delete_if_equals of a missing key removes nothing"
        );
    }

    async fn get_set_overwrite(&self) {
        let k = self.key("plain");
        assert_eq!(
            self.get(&k).await,
            None,
            "a key never written must be a miss"
        );
        self.set(&k, b(b"one"), LONG).await;
        assert_eq!(
            self.get(&k).await,
            Some(b(b"one")),
            "get must return what set stored"
        );
        self.set(&k, b(b"two"), LONG).await;
        assert_eq!(self.get(&k).await, Some(b(b"two")), "set must overwrite");
        assert!(
            self.backend.contains(&k).await.unwrap(),
            "contains must see a live key"
        );
        assert!(
            !self.backend.contains(&self.key("nope")).await.unwrap(),
            "contains must not see a missing key"
        );
    }

    async fn binary_values(&self) {
        let all: Vec<u8> = (0..=255u8).collect();
        let k = self.key("binary-value");
        self.set(&k, Bytes::from(all.clone()), LONG).await;
        assert_eq!(
            self.get(&k).await.as_deref(),
            Some(&all[..]),
            "every byte value must round-trip"
        );
        let k = self.key("empty-value");
        self.set(&k, Bytes::new(), LONG).await;
        assert_eq!(
            self.get(&k).await,
            Some(Bytes::new()),
            "an empty value is a value, not a miss"
        );
    }

    async fn binary_keys(&self) {
        let names = [
            "star*",
            "question?",
            "[set]",
            "back\\slash",
            "new\nline",
            "nul\0byte",
            "space key",
            "ünïcødé",
            "colon:colon",
            "^$.|+(){}",
            "*",
            "",
        ];
        for (i, name) in names.iter().enumerate() {
            self.set(&self.key(name), Bytes::from(i.to_string()), LONG)
                .await;
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                self.get(&self.key(name)).await,
                Some(Bytes::from(i.to_string())),
                "key {name:?} must be stored literally and distinctly"
            );
        }
    }

    async fn large_values(&self) {
        let big: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
        let k = self.key("one-mib");
        self.set(&k, Bytes::from(big.clone()), LONG).await;
        assert_eq!(
            self.get(&k).await.as_deref(),
            Some(&big[..]),
            "a 1 MiB value must round-trip intact"
        );
    }

    async fn add_if_absent(&self) {
        let k = self.key("add");
        assert!(
            self.backend.add(&k, b(b"first"), LONG).await.unwrap(),
            "add on a missing key must store"
        );
        assert!(
            !self.backend.add(&k, b(b"second"), LONG).await.unwrap(),
            "add on a present key must not store"
        );
        assert_eq!(
            self.get(&k).await,
            Some(b(b"first")),
            "a refused add must leave the value alone"
        );
    }

    async fn add_is_atomic(&self) {
        /// Tasks racing on each key, keys per round, rounds.
        const RACERS: usize = 32;
        const KEYS: usize = 4;
        const ROUNDS: usize = 5;
        for round in 0..ROUNDS {
            let keys: Vec<String> = (0..KEYS)
                .map(|k| self.key(&format!("add-race:{round}:{k}")))
                .collect();
            // Every task waits for all the others before its `add`, so that
            // they overlap however the runtime schedules them.
            let start = Arc::new(tokio::sync::Barrier::new(RACERS * KEYS));
            let tasks: Vec<_> = keys
                .iter()
                .flat_map(|key| (0..RACERS).map(move |racer| (key.clone(), racer)))
                .map(|(key, racer)| {
                    let backend = self.backend.clone();
                    let start = Arc::clone(&start);
                    tokio::spawn(async move {
                        start.wait().await;
                        let stored = backend
                            .add(&key, Bytes::from(racer.to_string()), LONG)
                            .await
                            .unwrap_or_else(|e| panic!("add `{key}` failed: {e}"));
                        (key, racer, stored)
                    })
                })
                .collect();
            let mut winners: Vec<(String, usize)> = Vec::new();
            for task in tasks {
                let (key, racer, stored) = task.await.expect("add task panicked");
                if stored {
                    winners.push((key, racer));
                }
            }
            for key in &keys {
                let won: Vec<usize> = winners
                    .iter()
                    .filter(|(k, _)| k == key)
                    .map(|&(_, racer)| racer)
                    .collect();
                assert_eq!(
                    won.len(),
                    1,
                    "add must be atomic: of {RACERS} concurrent adds of the absent key {key:?}, exactly one must store, but {} reported storing",
                    won.len()
                );
                assert_eq!(
                    self.get(key).await,
                    Some(Bytes::from(won[0].to_string())),
                    "the value under {key:?} must be the one of the add that reported storing"
                );
            }
        }
    }

    async fn delete(&self) {
        let (k1, k2, k3) = (self.key("del1"), self.key("del2"), self.key("del3"));
        self.set(&k1, b(b"x"), LONG).await;
        assert!(
            self.backend.delete(&k1).await.unwrap(),
            "delete of a present key must report it"
        );
        assert_eq!(self.get(&k1).await, None, "a deleted key must be a miss");
        assert!(
            !self.backend.delete(&k1).await.unwrap(),
            "delete of a missing key must report false"
        );
        self.set(&k2, b(b"x"), LONG).await;
        self.set(&k3, b(b"x"), LONG).await;
        let n = self.backend.delete_many(&[&k1, &k2, &k3]).await.unwrap();
        assert_eq!(
            n, 2,
            "delete_many must count only the keys that were present"
        );
        assert_eq!(
            self.backend.delete_many(&[]).await.unwrap(),
            0,
            "delete_many of nothing is 0"
        );
    }

    async fn many(&self) {
        let keys: Vec<String> = (0..20).map(|i| self.key(&format!("many{i}"))).collect();
        let items: Vec<(&str, Bytes)> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(i, k)| (k.as_str(), Bytes::from(format!("v{i}"))))
            .collect();
        self.backend.set_many(&items, LONG).await.unwrap();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let got = self.backend.get_many(&refs).await.unwrap();
        assert_eq!(
            got.len(),
            keys.len(),
            "get_many must return one slot per key"
        );
        for (i, value) in got.iter().enumerate() {
            let want = (i % 3 != 0).then(|| Bytes::from(format!("v{i}")));
            assert_eq!(
                value, &want,
                "get_many slot {i} must hold that key's value, in the caller's order"
            );
        }
        assert!(
            self.backend.get_many(&[]).await.unwrap().is_empty(),
            "get_many of nothing is empty"
        );
        self.backend.set_many(&[], LONG).await.unwrap();
    }

    async fn incr(&self) {
        let k = self.key("counter");
        assert_eq!(
            self.backend.incr(&k, 5, LONG).await.unwrap(),
            5,
            "incr of a missing key starts at 0"
        );
        assert_eq!(
            self.backend.incr(&k, -7, LONG).await.unwrap(),
            -2,
            "incr must add negative deltas"
        );
        assert_eq!(
            self.get(&k).await,
            Some(b(b"-2")),
            "counters must be stored as ASCII decimal"
        );
        let k = self.key("preset");
        self.set(&k, b(b"41"), LONG).await;
        assert_eq!(
            self.backend.incr(&k, 1, LONG).await.unwrap(),
            42,
            "incr must work on a decimal value written by set"
        );
        let k = self.key("not-a-number");
        self.set(&k, b(b"abc"), LONG).await;
        let err = self
            .backend
            .incr(&k, 1, LONG)
            .await
            .expect_err("incr of a non-integer must fail");
        assert!(
            matches!(err.kind(), ErrorKind::Backend | ErrorKind::InvalidInput),
            "incr of a non-integer must be a Backend error, got {err}"
        );
        assert_eq!(
            self.get(&k).await,
            Some(b(b"abc")),
            "a failed incr must leave the value alone"
        );
    }

    async fn incr_is_atomic(&self) {
        let k = self.key("contended");
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let backend = self.backend.clone();
                let k = k.clone();
                tokio::spawn(async move {
                    for _ in 0..100 {
                        backend.incr(&k, 1, LONG).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("incr task panicked");
        }
        assert_eq!(
            self.get(&k).await,
            Some(b(b"800")),
            "800 concurrent incr by 1 must add up to 800"
        );
    }

    async fn clear_prefix_is_literal_and_scoped(&self) {
        let glob = self.key("g*[ab]?\\:");
        let mine = [format!("{glob}1"), format!("{glob}2"), glob.clone()];
        // Keys a glob reading of the prefix would match, and neighbours.
        let others = [
            self.key("gX[ab]?\\:1"),
            self.key("g*a?\\:1"),
            self.key("g*[ab]x\\:1"),
            self.key("g*[ab]?\\"),
            self.key("g"),
            self.key("other:1"),
        ];
        for k in mine.iter().chain(&others) {
            self.set(k, b(b"v"), LONG).await;
        }
        let removed = self.backend.clear_prefix(&glob).await.unwrap();
        assert_eq!(removed, 3, "clear_prefix must report the keys it removed");
        for k in &mine {
            assert_eq!(self.get(k).await, None, "clear_prefix must remove {k:?}");
        }
        for k in &others {
            assert!(
                self.get(k).await.is_some(),
                "clear_prefix must not remove {k:?}, which is not under the prefix"
            );
        }
    }

    async fn clear_prefixes_removes_each_prefix_and_nothing_else(&self) {
        // A cache's two prefixes, and prefixes whose last bytes are special
        // in a glob character class.
        let groups: [[&str; 2]; 3] = [["ns|", "ns#"], ["c-|", "c-]"], ["p^", "p\\"]];
        for [a, b_] in groups {
            let (a, b_) = (self.key(a), self.key(b_));
            let mine = [format!("{a}1"), format!("{b_}2"), a.clone()];
            let stem = &a[..a.len() - 1];
            let others = [format!("{stem}x1"), stem.to_owned(), format!("{stem}|")]
                .into_iter()
                .filter(|k| !k.starts_with(&a) && !k.starts_with(&b_))
                .collect::<Vec<_>>();
            for k in mine.iter().chain(&others) {
                self.set(k, b(b"v"), LONG).await;
            }
            let removed = self.backend.clear_prefixes(&[&a, &b_]).await.unwrap();
            assert_eq!(
                removed, 3,
                "clear_prefixes({a:?}, {b_:?}) must report what it removed"
            );
            for k in &mine {
                assert_eq!(self.get(k).await, None, "clear_prefixes must remove {k:?}");
            }
            for k in &others {
                assert!(
                    self.get(k).await.is_some(),
                    "clear_prefixes({a:?}, {b_:?}) must not remove {k:?}"
                );
                self.backend.delete(k).await.unwrap();
            }
        }
    }

    async fn ttl(&self) {
        let short = Ttl::After(Duration::from_millis(300));
        let (k1, k2, k3, k4, k5) = (
            self.key("ttl-short"),
            self.key("ttl-never"),
            self.key("ttl-add"),
            self.key("ttl-incr-new"),
            self.key("ttl-incr-kept"),
        );
        self.set(&k1, b(b"v"), short).await;
        self.set(&k2, b(b"v"), Ttl::Never).await;
        assert!(self.backend.add(&k3, b(b"v"), short).await.unwrap());
        self.backend.incr(&k4, 1, short).await.unwrap();
        self.set(&k5, b(b"1"), short).await;
        self.backend.incr(&k5, 1, LONG).await.unwrap();
        assert!(
            self.get(&k1).await.is_some(),
            "a value must live until its TTL"
        );
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        assert_eq!(
            self.get(&k1).await,
            None,
            "a value must be gone after its TTL"
        );
        assert!(self.get(&k2).await.is_some(), "Ttl::Never must not expire");
        assert_eq!(self.get(&k3).await, None, "add must apply its TTL");
        assert_eq!(
            self.get(&k4).await,
            None,
            "incr of a new key must apply the TTL"
        );
        assert_eq!(
            self.get(&k5).await,
            None,
            "incr of an existing key must keep its TTL"
        );
        assert!(
            self.backend.add(&k1, b(b"again"), LONG).await.unwrap(),
            "add must store over an expired value"
        );
    }

    async fn forgets(&self) {
        let k = self.key("forgotten");
        self.set(&k, b(b"v"), LONG).await;
        assert_eq!(
            self.get(&k).await,
            None,
            "a forgetting store must miss after set"
        );
        assert!(
            self.backend.add(&k, b(b"v"), LONG).await.unwrap(),
            "add must report success"
        );
        assert_eq!(
            self.backend.get_many(&[&k, &k]).await.unwrap(),
            vec![None, None]
        );
        assert_eq!(self.backend.delete_many(&[&k]).await.unwrap(), 0);
        assert_eq!(self.backend.incr(&k, 3, LONG).await.unwrap(), 3);
        assert_eq!(self.backend.clear_prefix(&self.ns).await.unwrap(), 0);
    }
}
