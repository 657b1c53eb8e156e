//! The Redis store, on [redis-rs](https://docs.rs/redis): a standalone
//! server, a Redis Cluster, or a master found through Redis Sentinel,
//! chosen by the URL. Connections are shared, multiplexed and
//! re-established automatically, with connect and response timeouts.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use cache_core::Cache;
//!
//! // Needs a Redis server on 127.0.0.1:6379.
//! let cache = Cache::builder()
//!     .url("redis://127.0.0.1:6379/0?connect_timeout=2s&response_timeout=500ms")
//!     .key_prefix("shop:")
//!     .build()?;
//! cache.ping().await?;
//! cache.set("greeting", &"hello".to_string(), None).await?;
//!
//! // The same cache on a cluster, or behind sentinels: only the URL changes.
//! let on_cluster = Cache::from_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")?;
//! let failing_over = Cache::from_url("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster/0")?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use self::commands::{incr_cmd, key_cmd, set_cmd, Request, SetMode};
use self::retry::Retry;
use self::settings::{Pooling, Settings, Timeouts};
use self::topology::Topology;
use crate::backend::{Backend, Ttl};
use crate::key::key_for_message;
use crate::{ErrorKind, Result};

mod builder;
mod cluster;
mod commands;
mod connections;
mod error;
mod lazy;
mod near;
mod options;
mod retry;
mod scan;
mod sentinel;
mod settings;
mod standalone;
mod tls;
mod topology;
mod url;

pub use self::builder::RedisBackendBuilder;
pub use self::connections::ConnectionRuntime;

/// How long establishing a connection (TCP, TLS, `AUTH`, `SELECT`) may take
/// before it fails with [`ErrorKind::Timeout`]: 2 seconds.
///
/// ```
/// assert_eq!(cache_core::backend::redis::DEFAULT_CONNECT_TIMEOUT.as_secs(), 2);
/// ```
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long Redis may take to answer one command (or one pipeline) before
/// it fails with [`ErrorKind::Timeout`]: 1 second.
///
/// ```
/// assert_eq!(cache_core::backend::redis::DEFAULT_RESPONSE_TIMEOUT.as_secs(), 1);
/// ```
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The server used when [`RedisBackendBuilder::url`] is not called.
///
/// ```
/// assert_eq!(cache_core::backend::redis::DEFAULT_URL, "redis://127.0.0.1:6379/0");
/// ```
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379/0";

/// A store on Redis: a standalone server, a Redis Cluster, or the master
/// of a Redis Sentinel deployment.
///
/// # URLs
///
/// - **Standalone**: `redis://[[user]:password@]host[:port][/db][?options]`,
///   or `rediss://…` for TLS; `valkey://…` and `valkeys://…` are the same.
/// - **Cluster**: `redis+cluster://[[user]:password@]host[:port],host[:port]…[?options]`,
///   or `rediss+cluster://…`. The hosts are seed nodes: a few are enough,
///   the others are discovered. Only database 0 exists on a cluster (a
///   path other than empty or `/0` is an error).
/// - **Sentinel**: `redis+sentinel://[[user]:password@]host[:port],host[:port]…/<service name>[/<db>][?options]`,
///   or `rediss+sentinel://…` (TLS to the sentinels and to the master).
///   The hosts are sentinels (port 26379 if not given); the credentials
///   and the database are the master's. Sentinels that require a password
///   are configured with [`RedisBackendBuilder::sentinel_password`] (and
///   [`sentinel_username`](RedisBackendBuilder::sentinel_username)), not
///   in the URL.
///
/// Options, for every form: `connect_timeout` and `response_timeout`
/// (`2s`, `500ms`, `1m`, or a number of milliseconds), `protocol`
/// (`resp2`, the default, or `resp3`), `connection_runtime` (`caller`,
/// the default, or `shared`: see [`ConnectionRuntime`]) and `connections`
/// (per runtime, 1 by default: see [`RedisBackendBuilder::connections`]).
/// User names and passwords are
/// percent-decoded. With TLS, the server's certificate is checked against
/// the system's root certificates, or against the CA given to
/// [`RedisBackendBuilder::tls_root_certificates`].
///
/// # Behaviour
///
/// - **Connection**: nothing is connected until the first operation; if
///   that connection attempt fails, the error is returned and the next
///   operation tries again. A standalone server or a master is reached
///   through a redis-rs multiplexed connection (one socket, concurrent
///   requests pipelined on it): one per tokio runtime that calls the
///   store, and one for blocking calls (see **Runtime**); or a few, used
///   in turn, with [`connections`](RedisBackendBuilder::connections). A cluster is
///   reached through one redis-rs cluster connection (one socket per
///   node). All clones of the backend share them. A connection found
///   lost is replaced by the next operation.
/// - **Retries**: operations that are safe to repeat (everything but
///   `add` and `incr`) are retried once on a fresh connection before
///   giving up. On a cluster, redis-rs follows `MOVED`/`ASK` redirections
///   and retries on lost connections by itself, within the response
///   timeout; note that this includes `INCRBY` (an `incr` whose node fails
///   mid-request may be applied twice).
/// - **Failover (Sentinel)**: the master is asked of the sentinels, and
///   asked again when a sentinel announces a new master (`+switch-master`,
///   watched on every sentinel in the background) or when a request fails
///   as after a failover (connection refused, lost or silent; `READONLY`).
///   Such a request is sent once more to the new master if it is safe to
///   repeat (for `add` and `incr`: only if it was refused unsent or with
///   `READONLY`). The same backend keeps working across failovers.
/// - **Timeouts**: connecting may take [`connect_timeout`](Self::connect_timeout)
///   (default 2 s), each command [`response_timeout`](Self::response_timeout)
///   (default 1 s); past that an operation fails with
///   [`ErrorKind::Timeout`] instead of waiting. While Redis is down, an
///   operation fails with [`ErrorKind::Connection`] after at most one
///   connection attempt (a cluster: connecting reaches a seed, reads the
///   slot map and reaches every node, within twice the connect timeout
///   plus the response timeout).
/// - **Runtime**: an async call made on a tokio runtime (either flavour)
///   uses a connection made and driven by that runtime, so that a request
///   costs no switch to another thread; it closes when that runtime shuts
///   down, without disturbing other runtimes' connections. Blocking
///   calls, calls made outside any runtime, cluster connections, and
///   every call under [`ConnectionRuntime::Shared`] use connections that
///   live on a small runtime owned by this crate, which outlives any
///   caller's. Timeouts are timed by that runtime too, so a caller's
///   runtime needs no time driver. The backend works from any tokio
///   runtime, from the blocking API, and from no runtime at all.
/// - **Commands**: `GET`, `MGET`, `SET … PX`, a pipeline of `SET`s,
///   `SET … NX PX`, `UNLINK`, `EXISTS`, `EVAL` of a script running
///   `SET NX PX` and `INCRBY` (`incr` with a TTL; `INCRBY` without), and
///   `SCAN MATCH` + `UNLINK` for [`clear_prefix`](Backend::clear_prefix),
///   an `EVAL` of a compare-and-delete script (`GET`, `DEL`) for
///   [`delete_if_equals`](Backend::delete_if_equals) (a distributed lock's
///   release),
///   which never calls `FLUSHDB` or `FLUSHALL`. Tags (see [`crate::tags`]):
///   an `EVAL` per tag of a script that lists the key in the tag's sorted
///   set (`TIME`, `ZREMRANGEBYSCORE`, `ZADD`, `ZRANGE`, `PEXPIREAT` or
///   `PERSIST`), pipelined after the `SET` on one server and sent after it
///   on a cluster; `invalidate_tag` is an `EVAL` of a script taking the
///   set (`TIME`, `ZRANGEBYSCORE`, `UNLINK`), then `UNLINK` of its keys.
///   Taking a tag is sent again only if it could not be sent. On a cluster, `get_many`,
///   `set_many` and `delete_many` send one command per key, all at once,
///   so that each key follows its own redirection while a slot moves and a
///   dead primary fails the call; `ping` and `clear_prefix` check that
///   every primary answers, and `clear_prefix` scans every primary.
///
/// Errors name the server (`host:port/db`), the cluster's seed nodes or
/// the node concerned, or the Sentinel service, its sentinels and its
/// current master; never a password.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// use std::time::Duration;
/// use cache_core::backend::RedisBackend;
/// use cache_core::Cache;
///
/// let backend = RedisBackend::builder()
///     .url("redis://:secret@127.0.0.1:6379/2")
///     .response_timeout(Duration::from_millis(250))
///     .build()?;
/// let cache = Cache::builder().backend(backend).key_prefix("app:").build()?;
/// cache.ping().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    topology: Topology,
    /// What [`RedisBackend::address`] returns.
    address: Box<str>,
    tls: bool,
    username: Option<Box<str>>,
    has_password: bool,
    timeouts: Timeouts,
    pooling: Pooling,
    /// The URL's `near_cache` bound.
    near_cache: Option<u64>,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("RedisBackend");
        d.field("topology", &inner.topology.name())
            .field("address", &inner.address)
            .field("tls", &inner.tls)
            .field("username", &inner.username)
            .field("password", &inner.has_password.then_some("<hidden>"))
            .field("connect_timeout", &inner.timeouts.connect)
            .field("response_timeout", &inner.timeouts.response)
            .field("connections", &inner.pooling.connections)
            .field("connection_runtime", &inner.pooling.runtime);
        if let Topology::Sentinel(sentinel) = &inner.topology {
            d.field("master", &sentinel.master_address());
        }
        d.field("connected", &inner.topology.is_connected())
            .finish()
    }
}

impl RedisBackend {
    /// The store `settings` describe. Does not connect.
    fn new(settings: &Settings) -> Result<Self> {
        let topology = Topology::new(settings)?;
        Ok(Self {
            inner: Arc::new(Inner {
                address: topology.address().into_boxed_str(),
                topology,
                tls: settings.tls,
                username: settings.username.as_deref().map(Box::from),
                has_password: settings.password.is_some(),
                timeouts: settings.timeouts,
                pooling: settings.pooling,
                near_cache: settings.near_cache,
            }),
        })
    }

    /// Whether the store is a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.inner.topology, Topology::Cluster(_))
    }

    /// A backend for the server, cluster or Sentinel deployment named by
    /// `url` (see the [type-level docs](RedisBackend) for the formats).
    /// Does not connect.
    ///
    /// ```
    /// use cache_core::backend::RedisBackend;
    ///
    /// let backend = RedisBackend::from_url("redis://cache.internal:6380/3?response_timeout=250ms")?;
    /// assert_eq!(backend.address(), "cache.internal:6380/3");
    /// assert_eq!(backend.response_timeout().as_millis(), 250);
    ///
    /// let cluster = RedisBackend::from_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")?;
    /// assert_eq!(cluster.address(), "10.0.0.1:7000,10.0.0.2:7000");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        Self::builder().url(url).build()
    }

    /// A builder, to set timeouts, credentials and certificates in code
    /// rather than in the URL, or to list cluster nodes or sentinels.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::backend::RedisBackend;
    ///
    /// let backend = RedisBackend::builder()
    ///     .url("redis://127.0.0.1:6379/0")
    ///     .connect_timeout(Duration::from_millis(500))
    ///     .build()?;
    /// assert_eq!(backend.connect_timeout(), Duration::from_millis(500));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn builder() -> RedisBackendBuilder {
        RedisBackendBuilder::default()
    }

    /// Where the data is, as messages name it: `host:port/db` for a
    /// standalone server, the seed nodes `host:port,host:port` for a
    /// cluster, `<service>/<db> via host:port,host:port` (the sentinels)
    /// for Sentinel.
    ///
    /// ```
    /// use cache_core::backend::RedisBackend;
    ///
    /// let backend = RedisBackend::from_url("redis://user:pw@10.0.0.5/1")?;
    /// assert_eq!(backend.address(), "10.0.0.5:6379/1");
    /// let sentinel = RedisBackend::from_url("redis+sentinel://10.0.0.5,10.0.0.6:26380/mymaster")?;
    /// assert_eq!(sentinel.address(), "mymaster/0 via 10.0.0.5:26379,10.0.0.6:26380");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// How long a connection attempt may take.
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::from_url("redis://localhost")?;
    /// assert_eq!(backend.connect_timeout(), cache_core::backend::redis::DEFAULT_CONNECT_TIMEOUT);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn connect_timeout(&self) -> Duration {
        self.inner.timeouts.connect
    }

    /// How long one command may wait for its answer.
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::from_url("redis://localhost?response_timeout=2s")?;
    /// assert_eq!(backend.response_timeout(), std::time::Duration::from_secs(2));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn response_timeout(&self) -> Duration {
        self.inner.timeouts.response
    }

    /// How many connections each runtime keeps to the server (see
    /// [`RedisBackendBuilder::connections`]).
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::from_url("redis://localhost?connections=2")?;
    /// assert_eq!(backend.connections(), 2);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn connections(&self) -> usize {
        self.inner.pooling.connections.get()
    }

    /// Which runtime drives the connections of async calls (see
    /// [`ConnectionRuntime`]).
    ///
    /// ```
    /// use cache_core::backend::redis::ConnectionRuntime;
    ///
    /// let backend = cache_core::backend::RedisBackend::from_url("redis://localhost")?;
    /// assert_eq!(backend.connection_runtime(), ConnectionRuntime::Caller);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn connection_runtime(&self) -> ConnectionRuntime {
        self.inner.pooling.runtime
    }

    fn topology(&self) -> &Topology {
        &self.inner.topology
    }
}

// Each operation as the commands it sends; `Topology` sends them to the
// right server, and splits the many-key ones per key on a cluster.
#[async_trait]
impl Backend for RedisBackend {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let cmd = key_cmd("GET", key);
        // Read as a `Vec` and moved into `Bytes`: redis-rs's own `Bytes`
        // conversion takes a longer road to the same bytes.
        let value: Option<Vec<u8>> = self
            .topology()
            .query(Request::Cmd(&cmd), Retry::Idempotent)
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.topology().get_many(keys).await
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let cmd = set_cmd(key, &value, ttl, SetMode::Always);
        self.topology()
            .query(Request::Cmd(&cmd), Retry::Idempotent)
            .await
    }

    async fn set_many(&self, items: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.topology().set_many(items, ttl).await
    }

    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        let cmd = set_cmd(key, &value, ttl, SetMode::IfAbsent);
        // `OK` when stored, nil when the key exists.
        let reply: ::redis::Value = self
            .topology()
            .query(Request::Cmd(&cmd), Retry::IfNotSent)
            .await?;
        Ok(!matches!(reply, ::redis::Value::Nil))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.delete_many(&[key]).await? > 0)
    }

    async fn delete_if_equals(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let cmd = commands::delete_if_equals_cmd(key, expected);
        let removed: u64 = self
            .topology()
            .query(Request::Cmd(&cmd), Retry::Idempotent)
            .await?;
        Ok(removed > 0)
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.topology().delete_many(keys).await
    }

    async fn contains(&self, key: &str) -> Result<bool> {
        let cmd = key_cmd("EXISTS", key);
        let n: u64 = self
            .topology()
            .query(Request::Cmd(&cmd), Retry::Idempotent)
            .await?;
        Ok(n > 0)
    }

    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        let cmd = incr_cmd(key, delta, ttl);
        let result: Result<i64> = self
            .topology()
            .query(Request::Cmd(&cmd), Retry::IfNotSent)
            .await;
        result.map_err(|e| {
            if e.kind() == ErrorKind::Backend {
                e.context(format_args!("INCRBY `{}` by {delta}", key_for_message(key)))
            } else {
                e
            }
        })
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        self.clear_prefixes(&[prefix]).await
    }

    /// One `SCAN` pass per server for all `prefixes` (see
    /// [`Backend::clear_prefixes`]).
    async fn clear_prefixes(&self, prefixes: &[&str]) -> Result<u64> {
        self.topology().clear_prefixes(prefixes).await
    }

    async fn ping(&self) -> Result<()> {
        self.topology().ping().await
    }

    async fn set_tagged(&self, key: &str, value: Bytes, ttl: Ttl, tags: &[&str]) -> Result<()> {
        self.topology().set_tagged(key, &value, ttl, tags).await
    }

    async fn add_to_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        if tags.is_empty() {
            return Ok(());
        }
        self.topology().add_to_tags(key, tags, ttl).await
    }

    async fn take_tag(&self, tag: &str) -> Result<Vec<String>> {
        self.topology().take_tag(tag).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_address_and_timeouts() {
        let backend = RedisBackend::from_url(
            "redis://app:s3cret@10.1.2.3:6390/4?connect_timeout=3s&response_timeout=150",
        )
        .unwrap();
        assert_eq!(backend.address(), "10.1.2.3:6390/4");
        assert_eq!(backend.connect_timeout(), Duration::from_secs(3));
        assert_eq!(backend.response_timeout(), Duration::from_millis(150));
        let backend = RedisBackend::builder().build().unwrap();
        assert_eq!(backend.address(), "127.0.0.1:6379/0");
        assert_eq!(backend.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(backend.response_timeout(), DEFAULT_RESPONSE_TIMEOUT);
        let backend = RedisBackend::from_url("redis://[::1]:7000").unwrap();
        assert_eq!(backend.address(), "[::1]:7000/0");
    }

    #[test]
    fn builder_timeouts_override_the_url() {
        let backend = RedisBackend::builder()
            .url("redis://h?connect_timeout=3s&response_timeout=3s")
            .response_timeout(Duration::from_millis(20))
            .build()
            .unwrap();
        assert_eq!(backend.connect_timeout(), Duration::from_secs(3));
        assert_eq!(backend.response_timeout(), Duration::from_millis(20));
    }

    #[test]
    fn debug_hides_the_password() {
        let backend = RedisBackend::from_url("redis://app:s3cret@host/1").unwrap();
        let shown = format!("{backend:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("host:6379/1"), "{shown}");
        assert!(shown.contains("<hidden>"), "{shown}");
        let builder = RedisBackend::builder().url("redis://app:s3cret@host/1");
        assert!(!format!("{builder:?}").contains("s3cret"));
    }

    #[test]
    fn bad_urls_are_config_errors_without_the_password() {
        for url in [
            "redis://:s3cret@host/0?timeout=1s",
            "redis://:s3cret@host/0?connect_timeout=fast",
            "redis://:s3cret@host/0?response_timeout=0",
            "redis://:s3cret@host/db",
            "http://:s3cret@host/0",
            "redis://:s3cret@0.0.0.0/0",
        ] {
            let err = RedisBackend::from_url(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
        let err = RedisBackend::builder()
            .connect_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[test]
    fn tls_urls_build() {
        let backend = RedisBackend::from_url("rediss://cache.example.com:6380/0").unwrap();
        assert!(format!("{backend:?}").contains("tls: true"));
    }

    #[test]
    fn tls_options_are_checked() {
        let insecure = RedisBackend::from_url("rediss://h:6380/0#insecure").unwrap_err();
        assert_eq!(insecure.kind(), ErrorKind::Config, "{insecure}");
        let plain = RedisBackend::builder()
            .url("redis://h:6379/0")
            .tls_root_certificates(b"-----BEGIN CERTIFICATE-----".to_vec())
            .build()
            .unwrap_err();
        assert_eq!(plain.kind(), ErrorKind::Config, "{plain}");
        let garbage = RedisBackend::builder()
            .url("rediss://h:6380/0")
            .tls_root_certificates(b"not a certificate".to_vec())
            .build()
            .unwrap_err();
        assert_eq!(garbage.kind(), ErrorKind::Config, "{garbage}");
    }

    #[test]
    fn cluster_and_sentinel_urls_give_addresses_and_timeouts() {
        let cluster = RedisBackend::from_url(
            "redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2,[::1]:7002?response_timeout=300ms",
        )
        .unwrap();
        assert_eq!(cluster.address(), "10.0.0.1:7000,10.0.0.2:6379,[::1]:7002");
        assert_eq!(cluster.response_timeout(), Duration::from_millis(300));
        assert!(format!("{cluster:?}").contains("topology: \"cluster\""));
        let cluster = RedisBackend::from_url("rediss+cluster://h1:7000/0").unwrap();
        assert!(format!("{cluster:?}").contains("tls: true"));

        let sentinel = RedisBackend::from_url(
            "redis+sentinel://app:s3cret@s1,s2:26380/mymaster/3?connect_timeout=1s",
        )
        .unwrap();
        assert_eq!(sentinel.address(), "mymaster/3 via s1:26379,s2:26380");
        assert_eq!(sentinel.connect_timeout(), Duration::from_secs(1));
        let shown = format!("{sentinel:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("\"app\""),
            "{shown}"
        );
    }

    #[test]
    fn builder_node_lists_match_the_urls() {
        let cluster = RedisBackend::builder()
            .cluster_nodes(["10.0.0.1:7000", "10.0.0.2"])
            .password("s3cret")
            .build()
            .unwrap();
        assert_eq!(cluster.address(), "10.0.0.1:7000,10.0.0.2:6379");
        assert!(!format!("{cluster:?}").contains("s3cret"));
        let sentinel = RedisBackend::builder()
            .sentinel(["s1", "s2:26380"], "mymaster")
            .sentinel_password("s3cret")
            .build()
            .unwrap();
        assert_eq!(sentinel.address(), "mymaster/0 via s1:26379,s2:26380");
        let builder = RedisBackend::builder()
            .sentinel(["s1"], "m")
            .password("pw-1")
            .sentinel_password("pw-2");
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("pw-1") && !shown.contains("pw-2"),
            "{shown}"
        );
    }

    #[test]
    fn bad_cluster_and_sentinel_settings_are_config_errors_without_the_password() {
        for url in [
            "redis+cluster://:s3cret@h1:7000/1",
            "redis+cluster://:s3cret@h1:7000,,h2",
            "redis+cluster://:s3cret@h1:0",
            "redis+cluster://:s3cret@h1?timeout=1s",
            "redis+cluster://:s3cret@h1#frag",
            "redis+sentinel://:s3cret@s1",
            "redis+sentinel://:s3cret@s1/",
            "redis+sentinel://:s3cret@s1/mymaster/x",
            "redis+sentinel://:s3cret@s1/mymaster/0/extra",
            "redis+sentinel://:s3cret@s1:port/mymaster",
        ] {
            let err = RedisBackend::from_url(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
        let builders = [
            RedisBackend::builder()
                .url("redis://h")
                .cluster_nodes(["h:7000"]),
            RedisBackend::builder()
                .cluster_nodes(["h:7000"])
                .sentinel(["h"], "m"),
            RedisBackend::builder().sentinel(["h"], ""),
            RedisBackend::builder().cluster_nodes(["h:x"]),
            RedisBackend::builder()
                .url("redis://h")
                .sentinel_password("pw"),
            RedisBackend::builder()
                .cluster_nodes(["h:7000"])
                .tls_root_certificates(b"-----BEGIN CERTIFICATE-----".to_vec()),
        ];
        for builder in builders {
            let shown = format!("{builder:?}");
            let err = builder.build().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{shown}: {err}");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        // Bind then drop a listener: nothing listens on that port now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let backend = RedisBackend::from_url(&format!("redis://127.0.0.1:{port}/0")).unwrap();
        let err = backend.ping().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
        assert!(
            err.to_string()
                .contains(&format!("cannot connect to Redis at 127.0.0.1:{port}/0")),
            "{err}"
        );
        // The failure is not kept: the next call tries again.
        let again = backend.get("k").await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::Connection);
    }
}
