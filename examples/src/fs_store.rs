//! A file-system store for [`Cache`](cache_core::Cache), in the spirit of
//! Flask-Caching's `FileSystemCache`, written only against the public
//! [`Backend`] trait: what a framework author writes to plug in a store of
//! their own. `examples/custom_backend.rs` walks through using it, and
//! `tests/tests/custom_backend.rs` checks it with
//! `cache_core::testing::conformance`.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> cache_core::Result<()> {
//! use cache_core::Cache;
//! use cache_examples::fs_store::FileSystemStore;
//!
//! let store = FileSystemStore::open("/var/cache/my-app")?;
//! let cache = Cache::builder().backend(store).key_prefix("my-app:").build()?;
//! cache.set("greeting", &"hello".to_string(), None).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # On disk
//!
//! One file per key, named by the lowercase hex SHA-256 of the full key
//! (prefix included): any key, with `/`, `..`, `*`, newlines or NUL in it,
//! and of any length, makes a safe 64-character file name. A file holds a
//! small header, then the value's bytes as the [`Cache`](cache_core::Cache)
//! gave them:
//!
//! | bytes | content |
//! |---|---|
//! | 4 | magic `cfs1` (files without it are not entries, and are left alone) |
//! | 8 | expiry, unix time in milliseconds, little-endian; `0` = never |
//! | 4 | length of the key, little-endian |
//! | n | the key, UTF-8: `clear_prefix` reads it back to match the prefix |
//! | rest | the value |
//!
//! # Guarantees
//!
//! - A reader sees a whole value or no value, never a half-written one,
//!   even across processes: a write goes to a temporary file in the same
//!   directory, which is then renamed over the entry (rename is atomic on
//!   POSIX file systems).
//! - `add` and `incr` are atomic **within one process**: every write takes
//!   the store's mutex, which the clones of a [`FileSystemStore`] share.
//!   Open a directory once and clone the store (a `Cache` holding it is
//!   itself cheap to clone). Two processes, or two stores opened
//!   separately on one directory, can race on `add` and `incr`; when
//!   several processes must agree, use Redis.
//! - An expired entry is never returned. It is deleted by the read that
//!   finds it, or by `delete`, `clear_prefix` or the next write of its key.
//! - Files are not `fsync`ed: after a power loss an entry may be missing
//!   or unreadable, which reads as a miss. A cache may forget; it may not
//!   lie.
//! - Nothing bounds the directory's size; choose timeouts that let entries
//!   expire, and call `clear` when needed.
//!
//! File operations block, so each call runs them on tokio's blocking pool
//! (`spawn_blocking`), as `tokio::fs` does, and never stalls the async
//! worker threads.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use cache_core::bytes::Bytes;
use cache_core::{async_trait, Backend, Error, ErrorKind, Result, Ttl};
use sha2::{Digest, Sha256};

/// The first bytes of every entry file.
const MAGIC: &[u8; 4] = b"cfs1";
/// Magic, expiry and key length.
const HEADER_LEN: usize = 4 + 8 + 4;
/// An entry file's name: the hex SHA-256 of its key.
const NAME_LEN: usize = 64;

/// A [`Backend`] that keeps each entry in its own file under a directory.
///
/// Cheap to clone: clones share the directory and the write lock. See the
/// [module documentation](self) for the file format and the guarantees.
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use cache_core::{Backend, Ttl};
/// use cache_examples::fs_store::FileSystemStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = FileSystemStore::open(dir.path())?;
/// store.set("k", "v".into(), Ttl::Never).await?;
/// assert_eq!(store.get("k").await?.as_deref(), Some(&b"v"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FileSystemStore {
    inner: Arc<Dir>,
}

/// The directory and the lock that serializes writes to it.
#[derive(Debug)]
struct Dir {
    path: PathBuf,
    /// Held by every write, so that read-modify-write operations (`add`,
    /// `incr`, removing an expired entry) are atomic in this process.
    write_lock: Mutex<()>,
}

/// An entry file's content.
struct Entry {
    /// Unix milliseconds; `0` = never.
    expires_at: u64,
    key: String,
    value: Bytes,
}

impl Entry {
    fn is_live(&self, now: u64) -> bool {
        is_live(self.expires_at, now)
    }
}

impl FileSystemStore {
    /// A store over `dir`, created (with its parents) if it does not exist.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = cache_examples::fs_store::FileSystemStore::open(dir.path().join("cache"))?;
    /// assert!(store.dir().is_dir());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let path = dir.into();
        fs::create_dir_all(&path).map_err(|e| io_error("create the directory", &path, e))?;
        Ok(Self {
            inner: Arc::new(Dir {
                path,
                write_lock: Mutex::new(()),
            }),
        })
    }

    /// The directory the entries live in.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = cache_examples::fs_store::FileSystemStore::open(dir.path())?;
    /// assert_eq!(store.dir(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.inner.path
    }

    /// Runs blocking file work on tokio's blocking pool.
    async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Dir) -> Result<T> + Send + 'static,
    {
        let dir = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&dir))
            .await
            .map_err(|e| {
                Error::with_source(ErrorKind::Backend, "file-system store: task failed", e)
            })?
    }
}

#[async_trait]
impl Backend for FileSystemStore {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let key = key.to_owned();
        self.run(move |dir| dir.get(&key)).await
    }

    /// All keys in one trip to the blocking pool.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let keys = owned(keys);
        self.run(move |dir| keys.iter().map(|key| dir.get(key)).collect())
            .await
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let key = key.to_owned();
        self.run(move |dir| {
            let _guard = dir.lock();
            dir.write(&key, &value, expiry(ttl))
        })
        .await
    }

    /// All items in one trip to the blocking pool, under one lock.
    async fn set_many(&self, items: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        let items: Vec<(String, Bytes)> = items
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect();
        self.run(move |dir| {
            let _guard = dir.lock();
            let expires_at = expiry(ttl);
            items
                .iter()
                .try_for_each(|(key, value)| dir.write(key, value, expires_at))
        })
        .await
    }

    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        let key = key.to_owned();
        self.run(move |dir| {
            // Check and write under one lock: two `add`s in this process
            // cannot both see the key absent.
            let _guard = dir.lock();
            if dir.read(&key)?.is_some_and(|e| e.is_live(now_millis())) {
                return Ok(false);
            }
            dir.write(&key, &value, expiry(ttl))?;
            Ok(true)
        })
        .await
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let keys = owned(keys);
        self.run(move |dir| {
            let _guard = dir.lock();
            let now = now_millis();
            let mut removed = 0;
            for key in &keys {
                // An expired entry is removed too, but was not "present".
                let live = dir.read(key)?.is_some_and(|e| e.is_live(now));
                remove(&dir.path_for(key))?;
                removed += u64::from(live);
            }
            Ok(removed)
        })
        .await
    }

    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        let key = key.to_owned();
        self.run(move |dir| {
            let _guard = dir.lock();
            let (current, expires_at) = match dir.read(&key)? {
                // An existing counter keeps its expiry.
                Some(entry) if entry.is_live(now_millis()) => {
                    (parse_integer(&key, &entry.value)?, entry.expires_at)
                }
                _ => (0, expiry(ttl)),
            };
            let new = current.checked_add(delta).ok_or_else(|| {
                Error::new(
                    ErrorKind::Backend,
                    format!("file-system store: incr `{key}` by {delta} overflows i64"),
                )
            })?;
            // Decimal ASCII, as `Cache::get::<i64>` and Redis expect.
            dir.write(&key, new.to_string().as_bytes(), expires_at)?;
            Ok(new)
        })
        .await
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        let prefix = prefix.to_owned();
        self.run(move |dir| dir.clear_prefix(&prefix)).await
    }

    async fn ping(&self) -> Result<()> {
        let path = self.inner.path.clone();
        self.run(move |_| match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(Error::new(
                ErrorKind::Backend,
                format!("file-system store: {} is not a directory", path.display()),
            )),
            Err(e) => Err(io_error("reach", &path, e)),
        })
        .await
    }
}

impl Dir {
    fn lock(&self) -> MutexGuard<'_, ()> {
        // The lock guards no data, only the order of file operations: a
        // panic while holding it leaves nothing inconsistent.
        self.write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `<dir>/<hex sha256(key)>`.
    fn path_for(&self, key: &str) -> PathBuf {
        self.path.join(hex(&Sha256::digest(key.as_bytes())))
    }

    /// The live value under `key`. An expired entry is deleted on the way.
    fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let Some(entry) = self.read(key)? else {
            return Ok(None);
        };
        if entry.is_live(now_millis()) {
            return Ok(Some(entry.value));
        }
        let _guard = self.lock();
        // Look again under the lock: a writer may have replaced the entry
        // since we read it, and its fresh value must stay.
        if self.read(key)?.is_some_and(|e| !e.is_live(now_millis())) {
            remove(&self.path_for(key))?;
        }
        Ok(None)
    }

    /// The entry file of `key`, live or expired. A file that is missing,
    /// unreadable as an entry, or (in theory) another key's is `None`.
    fn read(&self, key: &str) -> Result<Option<Entry>> {
        let path = self.path_for(key);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &path, e)),
        };
        Ok(decode(bytes).filter(|entry| entry.key == key))
    }

    /// Writes the entry to a temporary file, then renames it over the old
    /// one. The caller holds the lock.
    fn write(&self, key: &str, value: &[u8], expires_at: u64) -> Result<()> {
        let path = self.path_for(key);
        let header = header(key, expires_at)?;
        let mut file = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.path)
            .map_err(|e| io_error("create a temporary file in", &self.path, e))?;
        file.write_all(&header)
            .and_then(|()| file.write_all(value))
            .map_err(|e| io_error("write", file.path(), e))?;
        file.persist(&path)
            .map_err(|e| io_error("rename a temporary file to", &path, e.error))?;
        Ok(())
    }

    /// Removes every entry whose key starts with `prefix`; counts the live ones.
    fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        let _guard = self.lock();
        let now = now_millis();
        let mut removed = 0;
        let entries = fs::read_dir(&self.path).map_err(|e| io_error("list", &self.path, e))?;
        for entry in entries {
            let path = entry.map_err(|e| io_error("list", &self.path, e))?.path();
            // Temporary files and foreign files are not entries.
            let is_entry_name = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.len() == NAME_LEN && name.bytes().all(is_lower_hex));
            if !is_entry_name {
                continue;
            }
            // Only the header is read: the key, not the value.
            match read_header(&path) {
                Ok(Some((expires_at, key))) if key.starts_with(prefix) => {
                    remove(&path)?;
                    removed += u64::from(is_live(expires_at, now));
                }
                Ok(_) => {}
                // Removed by another process since we listed it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("read", &path, e)),
            }
        }
        Ok(removed)
    }
}

/// Removes a file; a file already gone is not an error.
fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("remove", path, e)),
        _ => Ok(()),
    }
}

/// The header of an entry file: magic, expiry, key length, key.
fn header(key: &str, expires_at: u64) -> Result<Vec<u8>> {
    let key_len = u32::try_from(key.len()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidInput,
            "file-system store: a key must be shorter than 4 GiB",
        )
    })?;
    let mut out = Vec::with_capacity(HEADER_LEN + key.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&expires_at.to_le_bytes());
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    Ok(out)
}

/// Splits a fixed header into (expiry, key length), or `None` without the magic.
fn parse_fixed(fixed: &[u8; HEADER_LEN]) -> Option<(u64, usize)> {
    let (magic, rest) = fixed.split_at(4);
    let (expires_at, key_len) = rest.split_at(8);
    if magic != MAGIC {
        return None;
    }
    let expires_at = u64::from_le_bytes(expires_at.try_into().ok()?);
    let key_len = u32::from_le_bytes(key_len.try_into().ok()?);
    Some((expires_at, usize::try_from(key_len).ok()?))
}

/// A whole entry file, or `None` if it is not one.
fn decode(bytes: Vec<u8>) -> Option<Entry> {
    let fixed: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
    let (expires_at, key_len) = parse_fixed(fixed)?;
    let key_end = HEADER_LEN.checked_add(key_len)?;
    let key = std::str::from_utf8(bytes.get(HEADER_LEN..key_end)?)
        .ok()?
        .to_owned();
    // The value is a view into the file's bytes: no copy.
    let value = Bytes::from(bytes).slice(key_end..);
    Some(Entry {
        expires_at,
        key,
        value,
    })
}

/// The expiry and key of an entry file, reading only its header.
fn read_header(path: &Path) -> io::Result<Option<(u64, String)>> {
    let mut file = File::open(path)?;
    let mut fixed = [0; HEADER_LEN];
    match file.read_exact(&mut fixed) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let Some((expires_at, key_len)) = parse_fixed(&fixed) else {
        return Ok(None);
    };
    let mut key = Vec::new();
    file.take(key_len as u64).read_to_end(&mut key)?;
    Ok((key.len() == key_len)
        .then(|| String::from_utf8(key).ok())
        .flatten()
        .map(|key| (expires_at, key)))
}

fn parse_integer(key: &str, value: &[u8]) -> Result<i64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Backend,
                format!("file-system store: the value under `{key}` is not a decimal integer"),
            )
        })
}

/// The unix-millisecond expiry of an entry written now with `ttl`; `0` = never.
fn expiry(ttl: Ttl) -> u64 {
    ttl.as_millis()
        .map_or(0, |ms| now_millis().saturating_add(ms))
}

fn is_live(expires_at: u64, now: u64) -> bool {
    expires_at == 0 || now < expires_at
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn owned(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|&key| key.to_owned()).collect()
}

fn io_error(action: &str, path: &Path, e: io::Error) -> Error {
    Error::with_source(
        ErrorKind::Backend,
        format!("file-system store: cannot {action} {}", path.display()),
        e,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_foreign_bytes_are_not_entries() {
        let mut file = header("app:ключ\n*", 42).unwrap();
        file.extend_from_slice(b"value");
        let entry = decode(file).expect("a written entry decodes");
        assert_eq!(
            (entry.expires_at, entry.key.as_str(), &entry.value[..]),
            (42, "app:ключ\n*", &b"value"[..])
        );
        assert!(decode(b"not an entry at all".to_vec()).is_none());
        assert!(decode(b"cfs1".to_vec()).is_none(), "a truncated header");
        let mut lying = header("k", 0).unwrap();
        lying[12] = 200; // a key length past the end of the file
        assert!(decode(lying).is_none());
    }

    #[test]
    fn file_names_are_hex_sha256_whatever_the_key() {
        let dir = Dir {
            path: PathBuf::from("/cache"),
            write_lock: Mutex::new(()),
        };
        let name = |key: &str| dir.path_for(key).file_name().unwrap().to_owned();
        assert_eq!(
            name(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for key in ["../../etc/passwd", "a/b", "nul\0", &"x".repeat(10_000)] {
            let name = name(key).into_string().unwrap();
            assert_eq!(name.len(), NAME_LEN);
            assert!(name.bytes().all(is_lower_hex), "{name}");
        }
    }
}
