//! The file-system store of `examples/custom_backend.rs`
//! (`cache_examples::fs_store`) passes the backend conformance suite, and
//! behaves as a file store should where the suite cannot look: the
//! directory itself.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{testing, Backend, Cache, Ttl};
use cache_examples::fs_store::FileSystemStore;

fn store() -> (tempfile::TempDir, FileSystemStore) {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let store = FileSystemStore::open(dir.path().join("cache")).expect("the store opens");
    (dir, store)
}

fn entry_files(store: &FileSystemStore) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_system_store_passes_the_conformance_suite() {
    let (_dir, store) = store();
    testing::conformance(Arc::new(store.clone())).await;
    assert_eq!(
        entry_files(&store),
        Vec::<String>::new(),
        "the suite clears what it wrote, and no temporary file is left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_survive_reopening_the_directory() {
    let (_dir, store) = store();
    let cache = Cache::builder()
        .backend(store.clone())
        .key_prefix("app:")
        .build()
        .unwrap();
    cache
        .set("user:1", &"Ada".to_string(), Duration::from_secs(60))
        .await
        .unwrap();

    let reopened = Cache::builder()
        .backend(FileSystemStore::open(store.dir()).unwrap())
        .key_prefix("app:")
        .build()
        .unwrap();
    assert_eq!(
        reopened.get::<String>("user:1").await.unwrap().as_deref(),
        Some("Ada")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_is_one_file_named_by_its_sha256_and_expired_files_are_removed_on_read() {
    let (_dir, store) = store();
    store
        .set("../../etc/passwd", "v".into(), Ttl::Never)
        .await
        .unwrap();
    store
        .set("short", "v".into(), Ttl::After(Duration::from_millis(50)))
        .await
        .unwrap();
    let files = entry_files(&store);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.len() == 64 && f.bytes().all(|b| b.is_ascii_hexdigit())),
        "{files:?}"
    );

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.get("short").await.unwrap(), None);
    assert_eq!(
        entry_files(&store).len(),
        1,
        "the read that found the entry expired removed its file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_prefix_leaves_files_that_are_not_entries_alone() {
    let (_dir, store) = store();
    std::fs::write(store.dir().join("README"), "not a cache entry").unwrap();
    std::fs::write(store.dir().join("a".repeat(64)), "not an entry either").unwrap();
    store.set("app:1", "v".into(), Ttl::Never).await.unwrap();

    assert_eq!(store.clear_prefix("").await.unwrap(), 1);
    assert_eq!(
        entry_files(&store),
        vec!["README".to_owned(), "a".repeat(64)]
    );
}
