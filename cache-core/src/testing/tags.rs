//! The tag checks of the suite, for stores that implement tags.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{b, Suite, LONG};
use crate::{Backend, Ttl};

/// Runs the tag checks against a store that implements the tag methods of
/// [`Backend`] ([`set_tagged`](Backend::set_tagged),
/// [`add_to_tags`](Backend::add_to_tags), [`take_tag`](Backend::take_tag)):
/// what is listed is taken, once and atomically, under tags and keys
/// holding any characters; indexes outlive their entries and are removed
/// by `clear_prefix`. Opt in by calling it after [`conformance`](super::conformance). Use a
/// multi-thread runtime. Like [`conformance`](super::conformance), it writes under a fresh
/// namespace only, which it removes at the end.
///
/// # Panics
///
/// On the first rule the store breaks, with a message naming it.
///
/// ```no_run
/// # async fn example() {
/// let store = std::sync::Arc::new(cache_core::MemoryBackend::new());
/// cache_core::testing::conformance(store.clone()).await;
/// cache_core::testing::tag_conformance(store).await;
/// # }
/// ```
pub async fn tag_conformance(backend: Arc<dyn Backend>) {
    let seed = RandomState::new().hash_one(SystemTime::now());
    let ns = format!("conformance-tags:{seed:016x}:");
    let suite = Suite {
        backend: backend.clone(),
        ns: ns.clone(),
    };
    suite.tagged_values_are_taken_once().await;
    suite.tags_and_keys_are_literal().await;
    suite.take_is_atomic().await;
    suite.indexes_outlive_their_entries().await;
    suite.clear_prefix_removes_indexes().await;
    backend
        .clear_prefix(&ns)
        .await
        .expect("clear_prefix of the suite's namespace must succeed");
}

impl Suite {
    async fn take(&self, tag: &str) -> Vec<String> {
        let mut keys = self
            .backend
            .take_tag(tag)
            .await
            .unwrap_or_else(|e| panic!("take_tag `{tag}` failed: {e}"));
        keys.sort();
        keys
    }

    async fn tagged_values_are_taken_once(&self) {
        let (k1, k2) = (self.key("tagged1"), self.key("tagged2"));
        let (t1, t2) = (self.key("!t1"), self.key("!t2"));
        self.backend
            .set_tagged(&k1, b(b"v1"), LONG, &[&t1, &t2])
            .await
            .unwrap_or_else(|e| panic!("set_tagged `{k1}` failed: {e}"));
        assert_eq!(
            self.get(&k1).await,
            Some(b(b"v1")),
            "set_tagged must store the value"
        );
        self.set(&k2, b(b"v2"), LONG).await;
        self.backend
            .add_to_tags(&k2, &[&t1], LONG)
            .await
            .unwrap_or_else(|e| panic!("add_to_tags `{k2}` failed: {e}"));
        self.backend.add_to_tags(&k2, &[&t1], LONG).await.unwrap();
        assert_eq!(
            self.take(&t1).await,
            vec![k1.clone(), k2.clone()],
            "take_tag must return each key listed under the tag, once"
        );
        assert!(
            self.take(&t1).await.is_empty(),
            "a taken tag must be empty until a key is listed again"
        );
        assert_eq!(
            self.take(&t2).await,
            vec![k1.clone()],
            "a key set with two tags must be listed under both"
        );
        assert!(
            self.take(&self.key("!never-written")).await.is_empty(),
            "a tag never written must be empty"
        );
        assert_eq!(
            self.get(&k1).await,
            Some(b(b"v1")),
            "take_tag must not remove the values (the caller does)"
        );
        self.backend.add_to_tags(&k1, &[], LONG).await.unwrap();
        self.backend.add_to_tags(&k1, &[&t1], LONG).await.unwrap();
        assert_eq!(
            self.take(&t1).await,
            vec![k1],
            "a taken tag must list keys added after it was taken"
        );
    }

    async fn tags_and_keys_are_literal(&self) {
        let odd = ["*", "?", "[ab]", "t*", "nul\0byte", "new\nline", "ünï", ""];
        let tags: Vec<String> = odd.iter().map(|t| self.key(&format!("!{t}"))).collect();
        let keys: Vec<String> = odd.iter().map(|k| self.key(&format!("k{k}"))).collect();
        for (tag, key) in tags.iter().zip(&keys) {
            self.set(key, b(b"v"), LONG).await;
            self.backend
                .add_to_tags(key, &[tag.as_str()], LONG)
                .await
                .unwrap_or_else(|e| panic!("add_to_tags `{key}` under `{tag}` failed: {e}"));
        }
        // Tags a glob reading of the others would match, never written.
        for absent in ["a", "t", "b", "nul"] {
            assert!(
                self.take(&self.key(&format!("!{absent}"))).await.is_empty(),
                "take_tag `{absent}` must not match other tags as a pattern or a prefix"
            );
        }
        for (tag, key) in tags.iter().zip(&keys) {
            assert_eq!(
                self.take(tag).await,
                vec![key.clone()],
                "tag {tag:?} must list exactly its own key"
            );
        }
    }

    async fn take_is_atomic(&self) {
        /// Writers, and keys each lists.
        const WRITERS: usize = 4;
        const KEYS: usize = 100;
        let tag = self.key("!contended");
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let backend = self.backend.clone();
                let (tag, ns) = (tag.clone(), self.ns.clone());
                tokio::spawn(async move {
                    for i in 0..KEYS {
                        let key = format!("{ns}w{w}:{i}");
                        backend
                            .set_tagged(&key, b(b"v"), LONG, &[&tag])
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut taken = Vec::new();
        while !writers.iter().all(tokio::task::JoinHandle::is_finished) {
            taken.extend(self.take(&tag).await);
            tokio::task::yield_now().await;
        }
        for writer in writers {
            writer.await.expect("writer panicked");
        }
        taken.extend(self.take(&tag).await);
        let listed = taken.len();
        taken.sort();
        taken.dedup();
        assert_eq!(
            (listed, taken.len()),
            (WRITERS * KEYS, WRITERS * KEYS),
            "takes racing with writers must return every key listed, each once"
        );
    }

    async fn indexes_outlive_their_entries(&self) {
        let short = Ttl::After(Duration::from_millis(300));
        let tag = self.key("!lifetimes");
        let (gone, long, never) = (
            self.key("life-short"),
            self.key("life-long"),
            self.key("life-never"),
        );
        self.backend
            .add_to_tags(&long, &[&tag], LONG)
            .await
            .unwrap();
        self.backend
            .add_to_tags(&gone, &[&tag], short)
            .await
            .unwrap();
        let tag_never = self.key("!lifetimes-never");
        self.backend
            .add_to_tags(&never, &[&tag_never], Ttl::Never)
            .await
            .unwrap();
        self.backend
            .add_to_tags(&gone, &[&tag_never], short)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let listed = self.take(&tag).await;
        assert!(
            listed.contains(&long),
            "a key must stay listed for its TTL, whatever shorter-lived keys share its tag: {listed:?}"
        );
        let listed = self.take(&tag_never).await;
        assert!(
            listed.contains(&never),
            "a key listed with Ttl::Never must stay listed: {listed:?}"
        );
    }

    async fn clear_prefix_removes_indexes(&self) {
        let (mine, other) = (self.key("idx!a"), self.key("idy!a"));
        let key = self.key("indexed");
        self.backend
            .add_to_tags(&key, &[&mine, &other], LONG)
            .await
            .unwrap();
        self.backend.clear_prefix(&self.key("idx!")).await.unwrap();
        assert!(
            self.take(&mine).await.is_empty(),
            "clear_prefix must remove the tag indexes under the prefix"
        );
        assert_eq!(
            self.take(&other).await,
            vec![key],
            "clear_prefix must keep the tag indexes outside the prefix"
        );
    }
}
