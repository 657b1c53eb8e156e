//! What a Redis store is built from: where the data is ([`Target`]) and
//! how to reach it, resolved once by the builder (its settings over the
//! URL's over the defaults) into one [`Settings`] value that every
//! topology reads.

use std::num::NonZeroUsize;
use std::time::Duration;

use ::redis::{ConnectionInfo, RedisError};

use super::connections::ConnectionRuntime;
use crate::{Error, ErrorKind};

/// Connect and response timeouts, as configured.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub(super) connect: Duration,
    pub(super) response: Duration,
}

/// How many connections to a server, and which runtime drives them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pooling {
    /// Per runtime that uses the server.
    pub(super) connections: NonZeroUsize,
    pub(super) runtime: ConnectionRuntime,
}

/// Where the data is.
pub(super) enum Target {
    /// One server: its address and database, and the URL's credentials
    /// and protocol.
    Standalone(ConnectionInfo),
    /// A Redis Cluster, through its seed nodes (`host:port`).
    Cluster { nodes: Vec<String> },
    /// The master that `sentinels` (`host:port`) monitor as `service`.
    Sentinel {
        sentinels: Vec<String>,
        service: String,
        db: i64,
    },
}

/// Everything a store is built from, resolved: what the builder was told,
/// over what the URL says, over the defaults.
pub(super) struct Settings {
    pub(super) target: Target,
    /// The URL with its password redacted, or the builder's node list
    /// written as a URL: what messages quote.
    pub(super) shown: String,
    /// TLS to every node (and to the sentinels).
    pub(super) tls: bool,
    /// The credentials of the data nodes: a standalone server, every node
    /// of a cluster, a Sentinel master.
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    /// The credentials of the sentinels.
    pub(super) sentinel_username: Option<String>,
    pub(super) sentinel_password: Option<String>,
    /// `resp2` or `resp3` as the URL gives it, for the nodes whose URLs
    /// are built here (a standalone server's is in its [`Target`]).
    pub(super) protocol: Option<String>,
    /// The root certificates to trust instead of the system's.
    pub(super) certificates: Option<::redis::TlsCertificates>,
    pub(super) timeouts: Timeouts,
    pub(super) pooling: Pooling,
    /// The near cache bound the URL asks for (`near_cache=32MiB`).
    pub(super) near_cache: Option<u64>,
}

impl Settings {
    /// `rediss` with TLS, `redis` without.
    pub(super) fn scheme(&self) -> &'static str {
        if self.tls {
            "rediss"
        } else {
            "redis"
        }
    }

    /// `?protocol=…` to append to a node's URL, or nothing.
    pub(super) fn node_query(&self) -> String {
        self.protocol
            .as_deref()
            .map_or_else(String::new, |p| format!("?protocol={p}"))
    }

    /// The URL of the data node at `address` (`host:port`), database
    /// `db`, without credentials.
    pub(super) fn node_url(&self, address: &str, db: i64) -> String {
        format!("{}://{address}/{db}{}", self.scheme(), self.node_query())
    }

    /// The error for settings redis-rs refuses.
    pub(super) fn invalid(&self, e: RedisError) -> Error {
        Error::with_source(
            ErrorKind::Config,
            format!("`{}`: invalid Redis URL or TLS certificates", self.shown),
            e,
        )
    }
}

/// `info` with `username` and `password` where given (what is not given
/// is kept).
pub(super) fn with_credentials(
    info: ConnectionInfo,
    username: Option<&str>,
    password: Option<&str>,
) -> ConnectionInfo {
    let mut redis = info.redis_settings().clone();
    if let Some(username) = username {
        redis = redis.set_username(username);
    }
    if let Some(password) = password {
        redis = redis.set_password(password);
    }
    info.set_redis_settings(redis)
}
