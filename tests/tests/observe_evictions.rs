//! A listener hears of the memory store's evictions (to stay within its
//! byte bound) and expiries of its own cache's keys, once each, and of no
//! other cache's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::observe::{Event, EventKind};
use cache_core::{Cache, MemoryBackend};

type Heard = Arc<Mutex<Vec<(String, &'static str)>>>;

fn listening(store: &MemoryBackend, prefix: &str) -> (Cache, Heard) {
    let heard: Heard = Arc::default();
    let sink = Arc::clone(&heard);
    let cache = Cache::builder()
        .backend(store.clone())
        .key_prefix(prefix)
        .listener(move |event: &Event<'_>| {
            if matches!(event.kind, EventKind::Evicted | EventKind::Expired) {
                let key = event.key.unwrap_or_default().to_owned();
                sink.lock().unwrap().push((key, event.kind.as_str()));
            }
        })
        .build()
        .unwrap();
    (cache, heard)
}

#[tokio::test]
async fn evictions_of_its_own_keys_reach_the_listener() {
    let store = MemoryBackend::with_capacity(256 * 1024);
    let (ours, heard) = listening(&store, "ours");
    let theirs = Cache::builder()
        .backend(store.clone())
        .key_prefix("theirs")
        .build()
        .unwrap();
    let value = vec![7u8; 1024];
    for i in 0..2000 {
        ours.set(&format!("k{i}"), &value, None).await.unwrap();
        theirs.set(&format!("k{i}"), &value, None).await.unwrap();
    }
    let heard = heard.lock().unwrap().clone();
    assert!(
        heard.len() > 500,
        "a 256 KiB store cannot keep 2000 values of 1 KiB: {}",
        heard.len()
    );
    assert!(
        heard
            .iter()
            .all(|(key, kind)| key.starts_with("ours|") && *kind == "evicted"),
        "{heard:?}"
    );
    let mut keys: Vec<_> = heard.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), heard.len(), "each eviction is heard once");
    for (key, _) in &heard {
        let plain = key.trim_start_matches("ours|");
        assert_eq!(
            ours.get::<Vec<u8>>(plain).await.unwrap(),
            None,
            "{key} was evicted"
        );
    }
}

#[tokio::test]
async fn an_expired_entry_is_heard_once_when_it_is_found() {
    let store = MemoryBackend::new();
    let (cache, heard) = listening(&store, "exp");
    cache
        .set("short", &1u8, Duration::from_millis(30))
        .await
        .unwrap();
    cache.set("long", &2u8, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cache.get::<u8>("short").await.unwrap(), None);
    assert_eq!(cache.get::<u8>("short").await.unwrap(), None);
    assert_eq!(cache.get::<u8>("long").await.unwrap(), Some(2));
    assert_eq!(
        *heard.lock().unwrap(),
        vec![("exp|short".to_owned(), "expired")]
    );
}
