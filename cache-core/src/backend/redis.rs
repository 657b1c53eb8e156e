//! The Redis store, on [redis-rs](https://docs.rs/redis): one multiplexed
//! connection per backend, reconnected automatically, with connect and
//! response timeouts.
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
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Cmd, ConnectionAddr, FromRedisValue, Pipeline, RedisError};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt, Shared};

use crate::backend::memory::key_for_message;
use crate::backend::{Backend, Ttl};
use crate::runtime::{io_handle, on_io};
use crate::{Error, ErrorKind, Result};

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

/// Keys asked for per `SCAN` call by [`Backend::clear_prefix`].
const SCAN_COUNT: usize = 500;

/// A store on a Redis server (standalone), through one shared, multiplexed
/// connection.
///
/// - **URL**: `redis://[[user]:password@]host[:port][/db][?options]`, or
///   `rediss://…` for TLS (rustls; the server's certificate is checked
///   against the system's root certificates, or against the CA given to
///   [`RedisBackendBuilder::tls_root_certificates`]). Options:
///   `connect_timeout` and `response_timeout` (`2s`, `500ms`, `1m`, or a
///   number of milliseconds) and `protocol` (`resp2`, the default, or
///   `resp3`). User names and passwords are percent-decoded.
/// - **Connection**: a redis-rs `ConnectionManager`, shared by all clones
///   of the backend: one socket, requests pipelined on it. Nothing is
///   connected until the first operation; if that connection attempt
///   fails, the error is returned and the next operation tries again.
///   A lost connection is re-established in the background, and
///   operations that are safe to repeat (everything but `add` and `incr`)
///   are retried once on a fresh connection before giving up.
/// - **Timeouts**: connecting may take [`connect_timeout`](Self::connect_timeout)
///   (default 2 s), each command [`response_timeout`](Self::response_timeout)
///   (default 1 s); past that an operation fails with
///   [`ErrorKind::Timeout`] instead of waiting. While Redis is down, an
///   operation fails with [`ErrorKind::Connection`] after at most one
///   connection attempt.
/// - **Runtime**: the connection and its background tasks live on a small
///   runtime owned by this crate, so the backend works from any tokio
///   runtime (either flavour, even one that is shut down later), from
///   the blocking API, and from no runtime at all.
/// - **Commands**: `GET`, `MGET`, `SET … PX`, a pipeline of `SET`s,
///   `SET … NX PX`, `UNLINK`, `EXISTS`, `MULTI`/`SET NX`/`INCRBY`/`EXEC`,
///   and `SCAN MATCH` + `UNLINK` for [`clear_prefix`](Backend::clear_prefix),
///   which never calls `FLUSHDB` or `FLUSHALL`.
///
/// Errors name the server as `host:port/db`, never the password.
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
    client: ::redis::Client,
    /// `host:port/db`, for messages.
    address: Box<str>,
    tls: bool,
    connect_timeout: Duration,
    response_timeout: Duration,
    /// Set once the first connection is established; from then on the
    /// manager reconnects by itself.
    manager: OnceLock<ConnectionManager>,
    /// The first connection attempt in progress, shared by every caller
    /// that waits for it; cleared when it settles, so a failure is not kept.
    connecting: Mutex<Option<Connecting>>,
}

type Connecting = Shared<BoxFuture<'static, Result<ConnectionManager, RedisError>>>;

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.inner.client.get_connection_info().redis_settings();
        f.debug_struct("RedisBackend")
            .field("address", &self.inner.address)
            .field("tls", &self.inner.tls)
            .field("username", &info.username())
            .field("password", &info.password().map(|_| "<hidden>"))
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("response_timeout", &self.inner.response_timeout)
            .field("connected", &self.inner.manager.get().is_some())
            .finish()
    }
}

impl RedisBackend {
    /// A backend for the server named by `url` (see the [type-level
    /// docs](RedisBackend) for the format). Does not connect.
    ///
    /// ```
    /// use cache_core::backend::RedisBackend;
    ///
    /// let backend = RedisBackend::from_url("redis://cache.internal:6380/3?response_timeout=250ms")?;
    /// assert_eq!(backend.address(), "cache.internal:6380/3");
    /// assert_eq!(backend.response_timeout().as_millis(), 250);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        Self::builder().url(url).build()
    }

    /// A builder, to set timeouts in code rather than in the URL.
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

    /// The server, as `host:port/db`: what error messages name.
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::from_url("redis://user:pw@10.0.0.5/1")?;
    /// assert_eq!(backend.address(), "10.0.0.5:6379/1");
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
        self.inner.connect_timeout
    }

    /// How long one command may wait for its answer.
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::from_url("redis://localhost?response_timeout=2s")?;
    /// assert_eq!(backend.response_timeout(), std::time::Duration::from_secs(2));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn response_timeout(&self) -> Duration {
        self.inner.response_timeout
    }

    /// The shared connection manager, connecting first if needed.
    async fn connection(&self) -> std::result::Result<ConnectionManager, RedisError> {
        if let Some(manager) = self.inner.manager.get() {
            return Ok(manager.clone());
        }
        let attempt = {
            let mut slot = self
                .inner
                .connecting
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(manager) = self.inner.manager.get() {
                return Ok(manager.clone());
            }
            slot.get_or_insert_with(|| self.start_connecting()).clone()
        };
        let result = attempt.clone().await;
        let mut slot = self
            .inner
            .connecting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Ok(manager) = &result {
            // Every waiter of this attempt gets the same manager; setting
            // it twice is a no-op.
            let _ = self.inner.manager.set(manager.clone());
        }
        // Forget a settled attempt (a failure in particular, so that the
        // next call connects afresh), unless a newer one replaced it.
        if slot
            .as_ref()
            .is_some_and(|current| current.ptr_eq(&attempt))
        {
            *slot = None;
        }
        result
    }

    /// Starts connecting on the crate's I/O runtime, so the connection's
    /// driver and the manager's tasks never live on a caller's runtime.
    fn start_connecting(&self) -> Connecting {
        let client = self.inner.client.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.inner.connect_timeout))
            .set_response_timeout(Some(self.inner.response_timeout))
            // One attempt per (re)connection: while Redis is down an
            // operation fails after one connect timeout at most, and the
            // next operation tries again.
            .set_number_of_retries(0);
        let task = io_handle().spawn(ConnectionManager::new_with_config(client, config));
        async move {
            task.await.unwrap_or_else(|join| {
                Err(RedisError::from(std::io::Error::other(format!(
                    "the Redis connection task failed: {join}"
                ))))
            })
        }
        .boxed()
        .shared()
    }

    /// Sends `request` and parses its reply, with the connection and every
    /// task and timer it creates on the crate's I/O runtime.
    async fn query<T: FromRedisValue>(&self, request: Request<'_>, retry: Retry) -> Result<T> {
        on_io(async {
            let mut retried = false;
            loop {
                // A failed first connection was a fresh attempt: no retry.
                let mut conn = self
                    .connection()
                    .await
                    .map_err(|e| self.error(e, Phase::Connect))?;
                let result = match request {
                    Request::Cmd(cmd) => cmd.query_async(&mut conn).await,
                    Request::Pipe(pipe) => pipe.query_async(&mut conn).await,
                };
                match result {
                    Ok(value) => return Ok(value),
                    // The manager has started reconnecting: try once more
                    // on the new connection.
                    Err(e) if !retried && retry.allows(&e) => retried = true,
                    Err(e) => return Err(self.error(e, Phase::Command)),
                }
            }
        })
        .await
    }

    /// Turns a redis-rs error into ours, naming the server but never the
    /// password.
    fn error(&self, e: RedisError, phase: Phase) -> Error {
        let address = &self.inner.address;
        let (kind, message) = if e.is_timeout() {
            let message = match phase {
                Phase::Connect => format!(
                    "cannot connect to Redis at {address}: no answer within the connect timeout ({:?})",
                    self.inner.connect_timeout
                ),
                Phase::Command => format!(
                    "Redis at {address} did not answer in time (response timeout {:?}, connect timeout {:?})",
                    self.inner.response_timeout, self.inner.connect_timeout
                ),
            };
            (ErrorKind::Timeout, message)
        } else if e.is_io_error() {
            let lost = matches!(phase, Phase::Command)
                && e.is_connection_dropped()
                && !e.is_connection_refusal();
            let message = if lost {
                format!("lost the connection to Redis at {address}")
            } else {
                format!("cannot connect to Redis at {address}")
            };
            (ErrorKind::Connection, message)
        } else if e.code() == Some("NOAUTH") {
            (
                ErrorKind::Connection,
                format!("Redis at {address} requires a password, and the URL gives none"),
            )
        } else {
            match e.kind() {
                ::redis::ErrorKind::AuthenticationFailed => (
                    ErrorKind::Connection,
                    format!("Redis at {address} refused the credentials"),
                ),
                ::redis::ErrorKind::InvalidClientConfig => (
                    ErrorKind::Config,
                    format!("invalid configuration for Redis at {address}"),
                ),
                ::redis::ErrorKind::Parse | ::redis::ErrorKind::UnexpectedReturnType => (
                    ErrorKind::Backend,
                    format!("unexpected reply from Redis at {address}"),
                ),
                _ => (
                    ErrorKind::Backend,
                    format!("Redis at {address} answered with an error"),
                ),
            }
        };
        Error::with_source(kind, message, e)
    }
}

#[derive(Clone, Copy)]
enum Request<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

/// Whether a failed request may be sent again on a new connection.
#[derive(Clone, Copy)]
enum Retry {
    /// Idempotent: retry once when the connection was lost or refused.
    Idempotent,
    /// Not idempotent (`SET NX`, `INCRBY`): retry once only when the
    /// connection was refused, so the request cannot have reached Redis.
    IfNotSent,
}

impl Retry {
    fn allows(self, e: &RedisError) -> bool {
        match self {
            Self::Idempotent => e.is_io_error() && e.is_connection_dropped(),
            Self::IfNotSent => e.is_connection_refusal(),
        }
    }
}

#[derive(Clone, Copy)]
enum Phase {
    Connect,
    Command,
}

/// `SET key value [NX] [PX ms]`.
fn set_cmd(key: &str, value: &[u8], ttl: Ttl, only_if_absent: bool) -> Cmd {
    let mut cmd = ::redis::cmd("SET");
    cmd.arg(key).arg(value);
    if only_if_absent {
        cmd.arg("NX");
    }
    if let Some(ms) = ttl.as_millis() {
        cmd.arg("PX").arg(ms);
    }
    cmd
}

/// `prefix` as a `SCAN MATCH` pattern: glob characters escaped, then `*`.
fn match_pattern(prefix: &str) -> Vec<u8> {
    let mut pattern = Vec::with_capacity(prefix.len() + 8);
    for &byte in prefix.as_bytes() {
        if matches!(byte, b'*' | b'?' | b'[' | b']' | b'\\') {
            pattern.push(b'\\');
        }
        pattern.push(byte);
    }
    pattern.push(b'*');
    pattern
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
        let mut cmd = ::redis::cmd("MGET");
        cmd.arg(keys);
        let values: Vec<Option<Bytes>> = self.query(Request::Cmd(&cmd), Retry::Idempotent).await?;
        if values.len() == keys.len() {
            Ok(values)
        } else {
            Err(Error::new(
                ErrorKind::Backend,
                format!(
                    "Redis at {} answered MGET of {} keys with {} values",
                    self.inner.address,
                    keys.len(),
                    values.len()
                ),
            ))
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let cmd = set_cmd(key, &value, ttl, false);
        self.query(Request::Cmd(&cmd), Retry::Idempotent).await
    }

    async fn set_many(&self, items: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        if items.is_empty() {
            return Ok(());
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
        let result = if let Some(ms) = ttl.as_millis() {
            // Create the key at 0 with the TTL only if it is missing, then
            // add: one transaction, so a new key never lives without TTL
            // and an existing key keeps its own.
            let mut pipe = ::redis::pipe();
            pipe.atomic()
                .cmd("SET")
                .arg(key)
                .arg(0)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .ignore()
                .cmd("INCRBY")
                .arg(key)
                .arg(delta);
            self.query::<(i64,)>(Request::Pipe(&pipe), Retry::IfNotSent)
                .await
                .map(|(n,)| n)
        } else {
            let mut cmd = ::redis::cmd("INCRBY");
            cmd.arg(key).arg(delta);
            self.query(Request::Cmd(&cmd), Retry::IfNotSent).await
        };
        result.map_err(|e| {
            if e.kind() == ErrorKind::Backend {
                e.context(format_args!("INCRBY `{}` by {delta}", key_for_message(key)))
            } else {
                e
            }
        })
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        let pattern = match_pattern(prefix);
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let mut scan = ::redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let (next, mut keys): (u64, Vec<Vec<u8>>) =
                self.query(Request::Cmd(&scan), Retry::Idempotent).await?;
            // The pattern is exact; this guards against a server that reads
            // escapes differently.
            keys.retain(|key| key.starts_with(prefix.as_bytes()));
            if !keys.is_empty() {
                let mut unlink = ::redis::cmd("UNLINK");
                unlink.arg(&keys);
                let n: u64 = self.query(Request::Cmd(&unlink), Retry::Idempotent).await?;
                removed += n;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    async fn ping(&self) -> Result<()> {
        let cmd = ::redis::cmd("PING");
        let _: ::redis::Value = self.query(Request::Cmd(&cmd), Retry::Idempotent).await?;
        Ok(())
    }
}

/// Configures a [`RedisBackend`]; from [`RedisBackend::builder`].
///
/// Timeouts set here take precedence over the same options in the URL.
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
    connect_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    tls_root_certificates: Option<Vec<u8>>,
}

impl fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackendBuilder")
            .field("url", &self.url.as_deref().map(crate::config::redact))
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
    /// The server to use (default [`DEFAULT_URL`]); see [`RedisBackend`]
    /// for the format. Parsed by [`build`](Self::build).
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
    /// the server of a `rediss://` URL: for servers with a certificate from
    /// a private CA. Certificate verification cannot be turned off.
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
    /// URL, a zero timeout, or TLS certificates given for a URL without
    /// TLS or that are not PEM certificates. Does not connect.
    ///
    /// ```
    /// use cache_core::backend::RedisBackend;
    /// let err = RedisBackend::builder().url("redis://localhost?timeout=1s").build().unwrap_err();
    /// assert_eq!(err.kind(), cache_core::ErrorKind::Config);
    /// ```
    pub fn build(self) -> Result<RedisBackend> {
        let url = self.url.as_deref().unwrap_or(DEFAULT_URL);
        let shown = crate::config::redact(url);
        let parsed = ::redis::parse_redis_url(url)
            .filter(|u| matches!(u.scheme(), "redis" | "rediss" | "valkey" | "valkeys"))
            .ok_or_else(|| {
                Error::config(format!(
                    "`{shown}` is not a Redis URL: expected `redis://[[user]:password@]host[:port][/db]` or `rediss://…`"
                ))
            })?;
        let mut connect_timeout = DEFAULT_CONNECT_TIMEOUT;
        let mut response_timeout = DEFAULT_RESPONSE_TIMEOUT;
        for (name, value) in parsed.query_pairs() {
            match &*name {
                "connect_timeout" => connect_timeout = parse_timeout(&shown, &name, &value)?,
                "response_timeout" => response_timeout = parse_timeout(&shown, &name, &value)?,
                "protocol" => {} // read by redis-rs
                other => {
                    return Err(Error::config(format!(
                        "`{shown}`: unknown option `{other}` for Redis (known: connect_timeout, response_timeout, protocol)"
                    )))
                }
            }
        }
        if let Some(timeout) = nonzero("connect_timeout", self.connect_timeout)? {
            connect_timeout = timeout;
        }
        if let Some(timeout) = nonzero("response_timeout", self.response_timeout)? {
            response_timeout = timeout;
        }
        let tls = matches!(parsed.scheme(), "rediss" | "valkeys");
        if tls {
            if parsed.fragment().is_some() {
                return Err(Error::config(format!(
                    "`{shown}`: URL fragments such as `#insecure` are not supported; \
                     to trust a private CA, use RedisBackend::builder().tls_root_certificates(…)"
                )));
            }
            install_crypto_provider();
        }
        let client = match self.tls_root_certificates {
            None => ::redis::Client::open(parsed),
            Some(_) if !tls => {
                return Err(Error::config(format!(
                    "`{shown}`: TLS root certificates were given for a URL without TLS; use `rediss://`"
                )))
            }
            Some(pem) if !contains(&pem, b"-----BEGIN CERTIFICATE-----") => {
                return Err(Error::config(format!(
                    "`{shown}`: the TLS root certificates hold no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
                )))
            }
            Some(pem) => ::redis::Client::build_with_tls(
                parsed,
                ::redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            ),
        }
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Config,
                format!("`{shown}`: invalid Redis URL or TLS certificates"),
                e,
            )
        })?;
        let info = client.get_connection_info();
        let host_port = match info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }
            }
            other => other.to_string(),
        };
        let address = format!("{host_port}/{}", info.redis_settings().db());
        Ok(RedisBackend {
            inner: Arc::new(Inner {
                client,
                address: address.into_boxed_str(),
                tls,
                connect_timeout,
                response_timeout,
                manager: OnceLock::new(),
                connecting: Mutex::new(None),
            }),
        })
    }
}

/// redis-rs builds its rustls configuration with the process-wide crypto
/// provider. When the application has not installed one, install ring
/// (the provider this crate enables), so that `rediss://` works even when
/// another crate in the build also enables rustls's aws-lc-rs provider.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn nonzero(name: &str, timeout: Option<Duration>) -> Result<Option<Duration>> {
    match timeout {
        Some(t) if t.is_zero() => Err(Error::config(format!(
            "the Redis {name} must be greater than zero"
        ))),
        other => Ok(other),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `2s`, `500ms`, `1m`, or a bare number of milliseconds; not zero.
fn parse_timeout(url: &str, name: &str, value: &str) -> Result<Duration> {
    parse_duration(value).ok_or_else(|| {
        Error::config(format!(
            "`{url}`: {name} `{value}` is not a timeout (examples: 2s, 500ms, 1m, 250)"
        ))
    })
}

pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let duration = match unit.trim() {
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (!duration.is_zero()).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_the_usual_spellings() {
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        for bad in [
            "",
            "0",
            "0s",
            "1.5s",
            "-1s",
            "2h",
            "s",
            "99999999999999999999",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn glob_characters_are_escaped_in_the_pattern() {
        assert_eq!(match_pattern("app:"), b"app:*");
        assert_eq!(match_pattern(r"a*b?[c]\"), br"a\*b\?\[c\]\\*");
        assert_eq!(match_pattern(""), b"*");
    }

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
