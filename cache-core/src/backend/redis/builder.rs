//! [`RedisBackendBuilder`]: where the data is and how to reach it, in code
//! or from a URL, resolved into the [`Settings`] a store is built from.

use std::fmt;
use std::time::Duration;

use super::connections::ConnectionRuntime;
use super::settings::{Settings, Target};
use super::tls::{install_crypto_provider, tls_certificates};
use super::url::{self, ParsedUrl};
use super::{RedisBackend, DEFAULT_URL};
use crate::config::redact;
use crate::{Error, Result};

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
    connections: Option<usize>,
    connection_runtime: Option<ConnectionRuntime>,
    tls_root_certificates: Option<Vec<u8>>,
    /// Whether the application installs rustls's crypto provider itself
    /// ([`keep_crypto_provider`](Self::keep_crypto_provider)).
    keep_crypto_provider: bool,
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
            .field("connections", &self.connections)
            .field("connection_runtime", &self.connection_runtime)
            .field(
                "tls_root_certificates",
                &self.tls_root_certificates.as_ref().map(Vec::len),
            )
            .field("keep_crypto_provider", &self.keep_crypto_provider)
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

    /// How many connections to the server each runtime keeps (default 1,
    /// at most 64; the URL option `connections=N`), used in turn by its
    /// requests. Applies to a standalone server and a Sentinel master (a
    /// cluster keeps one connection per node).
    ///
    /// One multiplexed connection carries any number of concurrent
    /// requests, pipelined, and is the fastest for small values: on the
    /// bench machine (2 cores, Redis on the same host), 50 tasks reading
    /// 100-byte values took 30 to 40% longer on 4 connections. Replies
    /// come back in order on a connection and are read by one task, so
    /// with values of 100 KiB or more read concurrently on a multi-thread
    /// runtime a few connections can help: 4 saved about 5% there for
    /// 100 KiB and 1 MiB values (the medians of two series of runs ranged
    /// from 0.88 to 0.99 times the time of one connection). Measure with
    /// your values and machine before raising it.
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .url("redis://127.0.0.1:6379/0")
    ///     .connections(4)
    ///     .build()?;
    /// assert_eq!(backend.connections(), 4);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = Some(connections);
        self
    }

    /// Which runtime drives the connections of async calls (default
    /// [`ConnectionRuntime::Caller`]; the URL option
    /// `connection_runtime=caller|shared`): see [`ConnectionRuntime`].
    ///
    /// ```
    /// use cache_core::backend::redis::ConnectionRuntime;
    ///
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .url("redis://127.0.0.1:6379/0")
    ///     .connection_runtime(ConnectionRuntime::Shared)
    ///     .build()?;
    /// assert_eq!(backend.connection_runtime(), ConnectionRuntime::Shared);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn connection_runtime(mut self, runtime: ConnectionRuntime) -> Self {
        self.connection_runtime = Some(runtime);
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

    /// Leaves the process-wide rustls crypto provider to the application.
    ///
    /// redis-rs builds its TLS configuration with rustls's process-wide
    /// default provider. By default, building a TLS backend installs
    /// rustls's `ring` provider as that default **when none is installed
    /// yet**, so that `rediss://` works out of the box (and in a build where
    /// another crate also enables the `aws-lc-rs` provider, which would
    /// leave rustls unable to pick one). That is a process-wide change: an
    /// application that configures rustls itself, or installs its provider
    /// after building the cache, should call this and install its own
    /// provider (`CryptoProvider::install_default`) before the first
    /// `rediss://` connection.
    ///
    /// ```
    /// let backend = cache_core::backend::RedisBackend::builder()
    ///     .url("rediss://cache.internal:6380/0")
    ///     .keep_crypto_provider()
    ///     .build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn keep_crypto_provider(mut self) -> Self {
        self.keep_crypto_provider = true;
        self
    }

    /// Builds the backend. Fails with [`ErrorKind::Config`](crate::ErrorKind::Config) on an invalid
    /// URL or node list, more than one of `url`/`cluster_nodes`/`sentinel`,
    /// a zero timeout, a number of connections out of range, sentinel credentials without Sentinel, or TLS
    /// certificates given without TLS or that are not PEM certificates.
    /// Does not connect.
    ///
    /// ```
    /// use cache_core::backend::RedisBackend;
    /// let err = RedisBackend::builder().url("redis://localhost?timeout=1s").build().unwrap_err();
    /// assert_eq!(err.kind(), cache_core::ErrorKind::Config);
    /// ```
    pub fn build(self) -> Result<RedisBackend> {
        let keep_provider = self.keep_crypto_provider;
        let settings = self.resolve()?;
        if settings.tls && !keep_provider {
            install_crypto_provider();
        }
        RedisBackend::new(&settings)
    }

    /// The settings: those given here, over the URL's, over the defaults.
    fn resolve(self) -> Result<Settings> {
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
        let (shown, parsed) = self.parse_target()?;
        let timeouts = parsed
            .options
            .timeouts(self.connect_timeout, self.response_timeout)?;
        let pooling = parsed
            .options
            .pooling(self.connections, self.connection_runtime)?;
        if !matches!(parsed.target, Target::Sentinel { .. })
            && (self.sentinel_username.is_some() || self.sentinel_password.is_some())
        {
            return Err(Error::config(format!(
                "`{shown}`: sentinel credentials were given, but this is not a Sentinel URL"
            )));
        }
        let certificates = tls_certificates(&shown, parsed.tls, self.tls_root_certificates)?;
        Ok(Settings {
            target: parsed.target,
            shown,
            tls: parsed.tls,
            username: self.username.or(parsed.username),
            password: self.password.or(parsed.password),
            sentinel_username: self.sentinel_username,
            sentinel_password: self.sentinel_password,
            protocol: parsed.options.protocol,
            certificates,
            timeouts,
            pooling,
            near_cache: parsed.options.near_cache,
        })
    }

    /// Where the data is, from the URL or the node lists, with the URL
    /// (password redacted) or its equivalent for messages.
    fn parse_target(&self) -> Result<(String, ParsedUrl)> {
        if let Some(nodes) = &self.cluster_nodes {
            let shown = format!("redis+cluster://{}", nodes.join(","));
            let nodes = nodes
                .iter()
                .map(|node| url::host_port(&shown, node, url::DEFAULT_PORT))
                .collect::<Result<_>>()?;
            let target = ParsedUrl::plain(Target::Cluster { nodes });
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
            let target = ParsedUrl::plain(Target::Sentinel {
                sentinels,
                service: service.clone(),
                db: 0,
            });
            return Ok((shown, target));
        }
        let url = self.url.as_deref().unwrap_or(DEFAULT_URL);
        let shown = redact(url);
        let target = ParsedUrl::parse(url, &shown)?;
        Ok((shown, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_given_to_the_builder_win_over_the_url() {
        let settings = RedisBackend::builder()
            .url("rediss+cluster://u1:p1@h1:7000,h2?protocol=resp3&connect_timeout=3s")
            .password("p2")
            .response_timeout(Duration::from_millis(20))
            .resolve()
            .unwrap();
        assert!(settings.tls);
        assert_eq!(settings.username.as_deref(), Some("u1"));
        assert_eq!(settings.password.as_deref(), Some("p2"));
        assert_eq!(settings.timeouts.connect, Duration::from_secs(3));
        assert_eq!(settings.timeouts.response, Duration::from_millis(20));
        assert!(
            matches!(&settings.target, Target::Cluster { nodes } if nodes == &["h1:7000", "h2:6379"])
        );
        assert_eq!(
            settings.node_url("h1:7000", 0),
            "rediss://h1:7000/0?protocol=resp3"
        );
        assert!(!settings.shown.contains("p1"), "{}", settings.shown);
    }

    #[test]
    fn node_lists_resolve_to_plain_settings() {
        let settings = RedisBackend::builder()
            .sentinel(["s1", "[::1]:26380"], "mymaster")
            .sentinel_password("pw")
            .resolve()
            .unwrap();
        assert!(!settings.tls);
        assert_eq!(settings.sentinel_password.as_deref(), Some("pw"));
        assert_eq!(settings.password, None);
        assert!(matches!(
            &settings.target,
            Target::Sentinel { sentinels, service, db: 0 }
                if sentinels == &["s1:26379", "[::1]:26380"] && service == "mymaster"
        ));
        assert_eq!(
            settings.node_url("10.0.0.1:6379", 2),
            "redis://10.0.0.1:6379/2"
        );
    }
}
