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

use ::redis::{FromRedisValue, IntoConnectionInfo};
use async_trait::async_trait;
use bytes::Bytes;

use self::cluster::{Cluster, ClusterSettings};
use self::commands::{check_mget, incr_cmd, set_cmd, Request};
use self::options::UrlOptions;
use self::retry::Retry;
use self::scan::clear_server;
use self::sentinel::{Sentinel, SentinelSettings};
use self::settings::{with_credentials, Timeouts};
use self::standalone::Server;
use self::tls::{install_crypto_provider, tls_certificates};
use crate::backend::memory::key_for_message;
use crate::backend::scheme::{self, Store};
use crate::backend::{Backend, Ttl};
use crate::config::redact;
use crate::{Error, ErrorKind, Result};

mod cluster;
mod commands;
mod error;
mod lazy;
mod options;
mod retry;
mod scan;
mod sentinel;
mod settings;
mod standalone;
mod tls;
mod url;

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
/// (`2s`, `500ms`, `1m`, or a number of milliseconds) and `protocol`
/// (`resp2`, the default, or `resp3`). User names and passwords are
/// percent-decoded. With TLS, the server's certificate is checked against
/// the system's root certificates, or against the CA given to
/// [`RedisBackendBuilder::tls_root_certificates`].
///
/// # Behaviour
///
/// - **Connection**: nothing is connected until the first operation; if
///   that connection attempt fails, the error is returned and the next
///   operation tries again. A standalone server or a master is reached
///   through one redis-rs `ConnectionManager` (one socket, requests
///   pipelined on it), a cluster through one redis-rs cluster connection
///   (one socket per node), shared by all clones of the backend. Lost
///   connections are re-established in the background.
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
/// - **Runtime**: connections and their background tasks live on a small
///   runtime owned by this crate, so the backend works from any tokio
///   runtime (either flavour, even one that is shut down later), from
///   the blocking API, and from no runtime at all.
/// - **Commands**: `GET`, `MGET`, `SET … PX`, a pipeline of `SET`s,
///   `SET … NX PX`, `UNLINK`, `EXISTS`, `EVAL` of a script running
///   `SET NX PX` and `INCRBY` (`incr` with a TTL; `INCRBY` without), and
///   `SCAN MATCH` + `UNLINK` for [`clear_prefix`](Backend::clear_prefix),
///   which never calls `FLUSHDB` or `FLUSHALL`. On a cluster, `get_many`,
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
}

// Built once per backend and kept behind the `Arc`: the variants' sizes
// do not matter.
#[allow(clippy::large_enum_variant)]
enum Topology {
    Standalone(Server),
    Cluster(Cluster),
    Sentinel(Sentinel),
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("RedisBackend");
        let (topology, connected) = match &inner.topology {
            Topology::Standalone(server) => ("standalone", server.is_connected()),
            Topology::Cluster(cluster) => ("cluster", cluster.is_connected()),
            Topology::Sentinel(sentinel) => ("sentinel", sentinel.master_address().is_some()),
        };
        d.field("topology", &topology)
            .field("address", &inner.address)
            .field("tls", &inner.tls)
            .field("username", &inner.username)
            .field("password", &inner.has_password.then_some("<hidden>"))
            .field("connect_timeout", &inner.timeouts.connect)
            .field("response_timeout", &inner.timeouts.response);
        if let Topology::Sentinel(sentinel) = &inner.topology {
            d.field("master", &sentinel.master_address());
        }
        d.field("connected", &connected).finish()
    }
}

impl RedisBackend {
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

    /// Sends `request` to where its key lives, retrying as `retry` allows.
    async fn query<T: FromRedisValue>(&self, request: Request<'_>, retry: Retry) -> Result<T> {
        match &self.inner.topology {
            Topology::Standalone(server) => server.query(request, retry).await,
            Topology::Cluster(cluster) => cluster.query(request).await,
            Topology::Sentinel(sentinel) => sentinel.query(request, retry).await,
        }
    }

    /// `SCAN` + `UNLINK` on the one server of a standalone or Sentinel store.
    async fn clear_server(&self, prefixes: &[&str]) -> Result<u64> {
        clear_server(
            prefixes,
            |scan| {
                Box::pin(async move { self.query(Request::Cmd(&scan), Retry::Idempotent).await })
            },
            |unlink| {
                Box::pin(async move { self.query(Request::Cmd(&unlink), Retry::Idempotent).await })
            },
        )
        .await
    }

    /// What messages call the store as a whole.
    fn peer(&self) -> String {
        match &self.inner.topology {
            Topology::Standalone(server) => server.peer().to_owned(),
            Topology::Cluster(cluster) => cluster.peer().to_owned(),
            Topology::Sentinel(sentinel) => sentinel.peer(),
        }
    }
}

#[async_trait]
impl Backend for RedisBackend {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let mut cmd = ::redis::cmd("GET");
        cmd.arg(key);
        self.query(Request::Cmd(&cmd), Retry::Idempotent).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if let Topology::Cluster(cluster) = &self.inner.topology {
            return cluster.get_many(keys).await;
        }
        let mut cmd = ::redis::cmd("MGET");
        cmd.arg(keys);
        let values = self.query(Request::Cmd(&cmd), Retry::Idempotent).await?;
        check_mget(&self.peer(), keys.len(), values)
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let cmd = set_cmd(key, &value, ttl, false);
        self.query(Request::Cmd(&cmd), Retry::Idempotent).await
    }

    async fn set_many(&self, items: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        if let Topology::Cluster(cluster) = &self.inner.topology {
            return cluster.set_many(items, ttl).await;
        }
        let mut pipe = ::redis::pipe();
        for (key, value) in items {
            pipe.add_command(set_cmd(key, value, ttl, false)).ignore();
        }
        self.query(Request::Pipe(&pipe), Retry::Idempotent).await
    }

    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        let cmd = set_cmd(key, &value, ttl, true);
        // `OK` when stored, nil when the key exists.
        let reply: ::redis::Value = self.query(Request::Cmd(&cmd), Retry::IfNotSent).await?;
        Ok(!matches!(reply, ::redis::Value::Nil))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.delete_many(&[key]).await? > 0)
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        if let Topology::Cluster(cluster) = &self.inner.topology {
            return cluster.delete_many(keys).await;
        }
        let mut cmd = ::redis::cmd("UNLINK");
        cmd.arg(keys);
        self.query(Request::Cmd(&cmd), Retry::Idempotent).await
    }

    async fn contains(&self, key: &str) -> Result<bool> {
        let mut cmd = ::redis::cmd("EXISTS");
        cmd.arg(key);
        let n: u64 = self.query(Request::Cmd(&cmd), Retry::Idempotent).await?;
        Ok(n > 0)
    }

    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        let cmd = incr_cmd(key, delta, ttl);
        let result: Result<i64> = self.query(Request::Cmd(&cmd), Retry::IfNotSent).await;
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
        match &self.inner.topology {
            Topology::Standalone(_) => self.clear_server(prefixes).await,
            Topology::Cluster(cluster) => cluster.clear_prefixes(prefixes).await,
            Topology::Sentinel(sentinel) => {
                // A cursor means nothing to another server: if the master
                // changed during the scan, scan the new one from the start.
                let mut removed = 0;
                for _ in 0..3 {
                    let generation = sentinel.generation();
                    removed += self.clear_server(prefixes).await?;
                    if sentinel.generation() == generation {
                        break;
                    }
                }
                Ok(removed)
            }
        }
    }

    async fn ping(&self) -> Result<()> {
        if let Topology::Cluster(cluster) = &self.inner.topology {
            return cluster.ping().await;
        }
        let cmd = ::redis::cmd("PING");
        let _: ::redis::Value = self.query(Request::Cmd(&cmd), Retry::Idempotent).await?;
        Ok(())
    }
}

/// Configures a [`RedisBackend`]; from [`RedisBackend::builder`].
///
/// Where the data is comes from one of [`url`](Self::url) (any of the
/// forms in [`RedisBackend`]; the default is [`DEFAULT_URL`]),
/// [`cluster_nodes`](Self::cluster_nodes) or [`sentinel`](Self::sentinel).
/// Timeouts and credentials set here take precedence over the same
/// settings in the URL.
///
/// ```
/// use std::time::Duration;
/// use cache_core::backend::RedisBackend;
///
/// let backend = RedisBackend::builder()
///     .url("rediss://cache.example.com:6380/0?connect_timeout=5s")
///     .response_timeout(Duration::from_millis(300))
///     .build()?;
/// assert_eq!(backend.connect_timeout(), Duration::from_secs(5));
/// assert_eq!(backend.response_timeout(), Duration::from_millis(300));
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Default)]
#[must_use]
pub struct RedisBackendBuilder {
    url: Option<String>,
    cluster_nodes: Option<Vec<String>>,
    sentinel: Option<(Vec<String>, String)>,
    username: Option<String>,
    password: Option<String>,
    sentinel_username: Option<String>,
    sentinel_password: Option<String>,
    connect_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    tls_root_certificates: Option<Vec<u8>>,
}

impl fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |password: &Option<String>| password.as_ref().map(|_| "<hidden>");
        f.debug_struct("RedisBackendBuilder")
            .field("url", &self.url.as_deref().map(redact))
            .field("cluster_nodes", &self.cluster_nodes)
            .field("sentinel", &self.sentinel)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("sentinel_username", &self.sentinel_username)
            .field("sentinel_password", &hidden(&self.sentinel_password))
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field(
                "tls_root_certificates",
                &self.tls_root_certificates.as_ref().map(Vec::len),
            )
            .finish()
    }
}

impl RedisBackendBuilder {
    /// Where the data is (default [`DEFAULT_URL`]): a `redis://`,
    /// `redis+cluster://` or `redis+sentinel://` URL, or their TLS forms;
    /// see [`RedisBackend`]. Parsed by [`build`](Self::build).
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::builder().url("redis://db.local:6400/1").build()?;
    /// assert_eq!(backend.address(), "db.local:6400/1");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Uses the Redis Cluster these nodes (`host:port`, or `host` for port
    /// 6379) belong to, over plain TCP: the same as a
    /// `redis+cluster://host:port,host:port` URL. A few seed nodes are
    /// enough; the others are discovered. Not with [`url`](Self::url) or
    /// [`sentinel`](Self::sentinel).
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .cluster_nodes(["10.0.0.1:7000", "10.0.0.2:7000"])
    ///     .password("s3cret")
    ///     .build()?;
    /// assert_eq!(backend.address(), "10.0.0.1:7000,10.0.0.2:7000");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn cluster_nodes<I>(mut self, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.cluster_nodes = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// Uses the master that these sentinels (`host:port`, or `host` for
    /// port 26379) monitor as `service_name`, over plain TCP, database 0:
    /// the same as a `redis+sentinel://host:port,host:port/<service_name>`
    /// URL. Not with [`url`](Self::url) or [`cluster_nodes`](Self::cluster_nodes).
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .sentinel(["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"], "mymaster")
    ///     .build()?;
    /// assert_eq!(backend.address(), "mymaster/0 via 10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn sentinel<I>(mut self, sentinels: I, service_name: impl Into<String>) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.sentinel = Some((
            sentinels.into_iter().map(Into::into).collect(),
            service_name.into(),
        ));
        self
    }

    /// The ACL user to authenticate as on the data nodes (a standalone
    /// server, every node of a cluster, a Sentinel master), instead of the
    /// URL's. Without a [`password`](Self::password) (here or in the URL)
    /// it is not sent.
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .url("redis://10.0.0.1:6379/0")
    ///     .username("app")
    ///     .password("s3cret")
    ///     .build()?;
    /// assert!(!format!("{backend:?}").contains("s3cret"));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password of the data nodes (`AUTH`), instead of the URL's:
    /// keeps it out of URLs that end up in logs.
    ///
    /// ```
    /// let password = std::env::var("REDIS_PASSWORD").unwrap_or_default();
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .url("redis://10.0.0.1:6379/0")
    ///     .password(password)
    ///     .build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The ACL user to authenticate as on the sentinels (Redis 6.2+
    /// sentinels with ACL users). Only for Sentinel.
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .url("redis+sentinel://10.0.0.1:26379/mymaster")
    ///     .sentinel_username("watcher")
    ///     .sentinel_password("sentinel-secret")
    ///     .build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn sentinel_username(mut self, username: impl Into<String>) -> Self {
        self.sentinel_username = Some(username.into());
        self
    }

    /// The password of the sentinels (their `requirepass`), which is
    /// usually not the master's. Only for Sentinel; it has no place in the
    /// URL, whose credentials are the master's.
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .url("redis+sentinel://:master-secret@10.0.0.1:26379,10.0.0.2:26379/mymaster/0")
    ///     .sentinel_password("sentinel-secret")
    ///     .build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_password = Some(password.into());
        self
    }

    /// How long a connection attempt may take (default 2 s). Must not be zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let backend = cache_core::backend::RedisBackend::builder().connect_timeout(Duration::from_secs(1)).build()?;
    /// assert_eq!(backend.connect_timeout(), Duration::from_secs(1));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long one command may wait for its answer (default 1 s). Must
    /// not be zero. Large values need time to travel: raise it if you store
    /// values of many megabytes over a slow network.
    ///
    /// ```
    /// use std::time::Duration;
    /// let backend = cache_core::backend::RedisBackend::builder().response_timeout(Duration::from_millis(200)).build()?;
    /// assert_eq!(backend.response_timeout(), Duration::from_millis(200));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// Trusts the CA certificates in `pem` (PEM text, one or more
    /// certificates), instead of the system's root certificates, to verify
    /// the servers of a `rediss://`, `rediss+cluster://` or
    /// `rediss+sentinel://` URL: for servers with a certificate from a
    /// private CA. Certificate verification cannot be turned off.
    ///
    /// ```no_run
    /// let ca = std::fs::read("/etc/redis/tls/ca.crt")?;
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .url("rediss://redis.internal:6380/0")
    ///     .tls_root_certificates(ca)
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_certificates = Some(pem.into());
        self
    }

    /// Builds the backend. Fails with [`ErrorKind::Config`] on an invalid
    /// URL or node list, more than one of `url`/`cluster_nodes`/`sentinel`,
    /// a zero timeout, sentinel credentials without Sentinel, or TLS
    /// certificates given without TLS or that are not PEM certificates.
    /// Does not connect.
    ///
    /// ```
    /// use cache_core::backend::RedisBackend;
    /// let err = RedisBackend::builder().url("redis://localhost?timeout=1s").build().unwrap_err();
    /// assert_eq!(err.kind(), cache_core::ErrorKind::Config);
    /// ```
    pub fn build(self) -> Result<RedisBackend> {
        let sources = [
            self.url.is_some(),
            self.cluster_nodes.is_some(),
            self.sentinel.is_some(),
        ];
        if sources.iter().filter(|&&set| set).count() > 1 {
            return Err(Error::config(
                "set only one of url, cluster_nodes and sentinel on RedisBackend::builder()",
            ));
        }
        let (shown, target) = self.target()?;
        let timeouts = target
            .options
            .timeouts(self.connect_timeout, self.response_timeout)?;
        if !matches!(target.kind, Kind::Sentinel { .. })
            && (self.sentinel_username.is_some() || self.sentinel_password.is_some())
        {
            return Err(Error::config(format!(
                "`{shown}`: sentinel credentials were given, but this is not a Sentinel URL"
            )));
        }
        let tls = target.tls;
        let certificates = tls_certificates(&shown, tls, self.tls_root_certificates)?;
        if tls {
            install_crypto_provider();
        }
        let username = self.username.or(target.username);
        let password = self.password.or(target.password);
        let credentials = Credentials {
            username: username.as_deref(),
            password: password.as_deref(),
            sentinel_username: self.sentinel_username.as_deref(),
            sentinel_password: self.sentinel_password.as_deref(),
        };
        let query = target.options.node_query();
        let (topology, address) = topology(
            &shown,
            target.kind,
            tls,
            &credentials,
            &query,
            certificates,
            timeouts,
        )?;
        Ok(RedisBackend {
            inner: Arc::new(Inner {
                topology,
                address: address.into_boxed_str(),
                tls,
                has_password: password.is_some(),
                username: username.map(String::into_boxed_str),
                timeouts,
            }),
        })
    }

    /// Where the data is, from the URL or the node lists, with the URL
    /// (password redacted) or its equivalent for messages.
    fn target(&self) -> Result<(String, Target)> {
        if let Some(nodes) = &self.cluster_nodes {
            let shown = format!("redis+cluster://{}", nodes.join(","));
            let nodes = nodes
                .iter()
                .map(|node| url::host_port(&shown, node, url::DEFAULT_PORT))
                .collect::<Result<_>>()?;
            let target = Target::plain(Kind::Cluster { nodes });
            return Ok((shown, target));
        }
        if let Some((sentinels, service)) = &self.sentinel {
            let shown = format!("redis+sentinel://{}/{service}", sentinels.join(","));
            let sentinels = sentinels
                .iter()
                .map(|node| url::host_port(&shown, node, url::DEFAULT_SENTINEL_PORT))
                .collect::<Result<_>>()?;
            if service.is_empty() {
                return Err(Error::config(format!(
                    "`{shown}`: the Sentinel service name is empty"
                )));
            }
            let target = Target::plain(Kind::Sentinel {
                sentinels,
                service: service.clone(),
                db: 0,
            });
            return Ok((shown, target));
        }
        let url = self.url.as_deref().unwrap_or(DEFAULT_URL);
        let shown = redact(url);
        let target = Target::parse(url, &shown)?;
        Ok((shown, target))
    }
}

/// Credentials, as given to the builder or in the URL.
struct Credentials<'a> {
    username: Option<&'a str>,
    password: Option<&'a str>,
    sentinel_username: Option<&'a str>,
    sentinel_password: Option<&'a str>,
}

/// The store for `kind`, and its [`RedisBackend::address`].
fn topology(
    shown: &str,
    kind: Kind,
    tls: bool,
    credentials: &Credentials<'_>,
    query: &str,
    certificates: Option<::redis::TlsCertificates>,
    timeouts: Timeouts,
) -> Result<(Topology, String)> {
    let invalid = |e: ::redis::RedisError| {
        Error::with_source(
            ErrorKind::Config,
            format!("`{shown}`: invalid Redis URL or TLS certificates"),
            e,
        )
    };
    Ok(match kind {
        Kind::Standalone(info) => {
            let info = with_credentials(info, credentials.username, credentials.password);
            let server = Server::new(info, certificates, timeouts, |address| {
                format!("Redis at {address}")
            })
            .map_err(invalid)?;
            let address = server.address().to_owned();
            (Topology::Standalone(server), address)
        }
        Kind::Cluster { nodes } => {
            let cluster = Cluster::new(ClusterSettings {
                nodes: &nodes,
                tls,
                username: credentials.username,
                password: credentials.password,
                query,
                certificates,
                timeouts,
            })
            .map_err(invalid)?;
            let address = cluster.seeds().to_owned();
            (Topology::Cluster(cluster), address)
        }
        Kind::Sentinel {
            sentinels,
            service,
            db,
        } => {
            let sentinel = Sentinel::new(SentinelSettings {
                sentinels: &sentinels,
                service: &service,
                db,
                tls,
                username: credentials.username,
                password: credentials.password,
                sentinel_username: credentials.sentinel_username,
                sentinel_password: credentials.sentinel_password,
                query,
                certificates,
                timeouts,
            })?;
            let address = format!(
                "{}/{} via {}",
                sentinel.service(),
                sentinel.db(),
                sentinel.sentinels()
            );
            (Topology::Sentinel(sentinel), address)
        }
    })
}

/// Where the data is and how to reach it, before connecting.
struct Target {
    kind: Kind,
    tls: bool,
    username: Option<String>,
    password: Option<String>,
    options: UrlOptions,
}

enum Kind {
    Standalone(::redis::ConnectionInfo),
    Cluster {
        nodes: Vec<String>,
    },
    Sentinel {
        sentinels: Vec<String>,
        service: String,
        db: i64,
    },
}

impl Target {
    /// Plain TCP, no credentials, default options: the builder's node lists.
    fn plain(kind: Kind) -> Self {
        Self {
            kind,
            tls: false,
            username: None,
            password: None,
            options: UrlOptions::default(),
        }
    }

    /// Parses a URL of any Redis scheme of the [scheme table](scheme::SCHEMES).
    fn parse(url: &str, shown: &str) -> Result<Self> {
        let Some(Store::Redis { topology, tls }) = scheme::of_url(url).map(|s| s.store) else {
            return Err(Error::config(format!(
                "`{shown}` is not a Redis URL: expected `redis://[[user]:password@]host[:port][/db]`, \
                 `redis+cluster://host:port,host:port…` or \
                 `redis+sentinel://host:port,host:port…/<service name>[/<db>]` (schemes: {})",
                scheme::names(|store| matches!(store, Store::Redis { .. }))
            )));
        };
        match topology {
            scheme::Topology::Standalone => Self::parse_standalone(url, shown, tls),
            scheme::Topology::Cluster => {
                let parsed = url::parse(url, shown, url::DEFAULT_PORT)?;
                if !(parsed.path.is_empty() || parsed.path == ["0"]) {
                    return Err(Error::config(format!(
                        "`{shown}`: a Redis Cluster has only database 0; leave the path empty"
                    )));
                }
                Ok(Self {
                    kind: Kind::Cluster {
                        nodes: parsed.hosts,
                    },
                    tls,
                    username: parsed.username,
                    password: parsed.password,
                    options: parsed.options,
                })
            }
            scheme::Topology::Sentinel => {
                let parsed = url::parse(url, shown, url::DEFAULT_SENTINEL_PORT)?;
                let (service, db) = match parsed.path.as_slice() {
                    [service] => (service.clone(), Some(0)),
                    [service, db] => (service.clone(), db.parse().ok().filter(|&db: &i64| db >= 0)),
                    _ => (String::new(), None),
                };
                let Some(db) = db.filter(|_| !service.is_empty()) else {
                    return Err(Error::config(format!(
                        "`{shown}`: expected `redis+sentinel://host:port[,host:port…]/<service name>[/<db>]`"
                    )));
                };
                Ok(Self {
                    kind: Kind::Sentinel {
                        sentinels: parsed.hosts,
                        service,
                        db,
                    },
                    tls,
                    username: parsed.username,
                    password: parsed.password,
                    options: parsed.options,
                })
            }
        }
    }

    fn parse_standalone(url: &str, shown: &str, tls: bool) -> Result<Self> {
        let parsed = ::redis::parse_redis_url(url).ok_or_else(|| {
            Error::config(format!(
                "`{shown}` is not a Redis URL: expected `redis://[[user]:password@]host[:port][/db]`"
            ))
        })?;
        let options = UrlOptions::parse(shown, parsed.query_pairs())?;
        if tls && parsed.fragment().is_some() {
            return Err(Error::config(format!(
                "`{shown}`: URL fragments such as `#insecure` are not supported; \
                 to trust a private CA, use RedisBackend::builder().tls_root_certificates(…)"
            )));
        }
        let info = parsed.into_connection_info().map_err(|e| {
            Error::with_source(
                ErrorKind::Config,
                format!("`{shown}`: invalid Redis URL"),
                e,
            )
        })?;
        let redis = info.redis_settings();
        Ok(Self {
            username: redis.username().map(str::to_owned),
            password: redis.password().map(str::to_owned),
            kind: Kind::Standalone(info),
            tls,
            options,
        })
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
