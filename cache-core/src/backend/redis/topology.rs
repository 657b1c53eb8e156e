//! Which of the three stores a [`RedisBackend`](super::RedisBackend) is, built
//! from its [`Settings`], and where each request goes: to the one server
//! (standalone, or the Sentinel master), or, on a cluster, to the node of
//! each key.

use ::redis::FromRedisValue;
use bytes::Bytes;

use super::cluster::Cluster;
use super::commands::{check_mget, set_cmd, tag_add_cmd, tag_take_cmd, Request, SetMode};
use super::retry::Retry;
use super::sentinel::Sentinel;
use super::settings::{with_credentials, Settings, Target};
use super::standalone::Server;
use crate::backend::Ttl;
use crate::Result;

pub(super) enum Topology {
    Standalone(Server),
    Cluster(Cluster),
    Sentinel(Sentinel),
}

impl Topology {
    /// The store `settings` describe. Does not connect.
    pub(super) fn new(settings: &Settings) -> Result<Self> {
        Ok(match &settings.target {
            Target::Standalone(info) => {
                let info = with_credentials(
                    info.clone(),
                    settings.username.as_deref(),
                    settings.password.as_deref(),
                );
                let server = Server::new(
                    info,
                    settings.certificates.clone(),
                    settings.timeouts,
                    settings.pooling,
                    |address| format!("Redis at {address}"),
                )
                .map_err(|e| settings.invalid(e))?;
                Self::Standalone(server)
            }
            Target::Cluster { nodes } => {
                Self::Cluster(Cluster::new(nodes, settings).map_err(|e| settings.invalid(e))?)
            }
            Target::Sentinel {
                sentinels,
                service,
                db,
            } => Self::Sentinel(Sentinel::new(sentinels, service, *db, settings)?),
        })
    }

    /// `standalone`, `cluster` or `sentinel`.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Standalone(_) => "standalone",
            Self::Cluster(_) => "cluster",
            Self::Sentinel(_) => "sentinel",
        }
    }

    /// Where the data is, as [`RedisBackend::address`](super::RedisBackend::address)
    /// says it.
    pub(super) fn address(&self) -> String {
        match self {
            Self::Standalone(server) => server.address().to_owned(),
            Self::Cluster(cluster) => cluster.seeds().to_owned(),
            Self::Sentinel(sentinel) => sentinel.address(),
        }
    }

    /// Whether a connection is up (for Sentinel: whether a master is known).
    pub(super) fn is_connected(&self) -> bool {
        match self {
            Self::Standalone(server) => server.is_connected(),
            Self::Cluster(cluster) => cluster.is_connected(),
            Self::Sentinel(sentinel) => sentinel.master_address().is_some(),
        }
    }

    /// What messages call the store as a whole.
    fn peer(&self) -> String {
        match self {
            Self::Standalone(server) => server.peer().to_owned(),
            Self::Cluster(cluster) => cluster.peer().to_owned(),
            Self::Sentinel(sentinel) => sentinel.peer(),
        }
    }

    /// Sends `request` to where its key lives, retrying as `retry` allows.
    pub(super) async fn query<T: FromRedisValue>(
        &self,
        request: Request<'_>,
        retry: Retry,
    ) -> Result<T> {
        match self {
            Self::Standalone(server) => server.query(request, retry).await,
            Self::Cluster(cluster) => cluster.query(request).await,
            Self::Sentinel(sentinel) => sentinel.query(request, retry).await,
        }
    }

    /// `MGET` on one server; one `GET` per key on a cluster.
    pub(super) async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        if let Self::Cluster(cluster) = self {
            return cluster.get_many(keys).await;
        }
        let mut cmd = ::redis::cmd("MGET");
        cmd.arg(keys);
        let values = self.query(Request::Cmd(&cmd), Retry::Idempotent).await?;
        check_mget(&self.peer(), keys.len(), values)
    }

    /// A pipeline of `SET … PX` on one server; one `SET` per key on a cluster.
    pub(super) async fn set_many(&self, items: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        if let Self::Cluster(cluster) = self {
            return cluster.set_many(items, ttl).await;
        }
        let mut pipe = ::redis::pipe();
        for (key, value) in items {
            pipe.add_command(set_cmd(key, value, ttl, SetMode::Always))
                .ignore();
        }
        self.query(Request::Pipe(&pipe), Retry::Idempotent).await
    }

    /// `UNLINK` of every key on one server; one per key on a cluster.
    pub(super) async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        if let Self::Cluster(cluster) = self {
            return cluster.delete_many(keys).await;
        }
        let mut cmd = ::redis::cmd("UNLINK");
        cmd.arg(keys);
        self.query(Request::Cmd(&cmd), Retry::Idempotent).await
    }

    /// One `SCAN` pass per server for all `prefixes`.
    pub(super) async fn clear_prefixes(&self, prefixes: &[&str]) -> Result<u64> {
        match self {
            Self::Standalone(server) => server.clear_prefixes(prefixes).await,
            Self::Cluster(cluster) => cluster.clear_prefixes(prefixes).await,
            Self::Sentinel(sentinel) => sentinel.clear_prefixes(prefixes).await,
        }
    }

    /// `SET … PX`, then the listing of the key in each tag's index: one
    /// pipeline on one server; on a cluster, the `SET`, then the listings
    /// at once (each index is on the node of its own slot).
    pub(super) async fn set_tagged(
        &self,
        key: &str,
        value: &[u8],
        ttl: Ttl,
        tags: &[&str],
    ) -> Result<()> {
        let set = set_cmd(key, value, ttl, SetMode::Always);
        if let Self::Cluster(cluster) = self {
            cluster.query::<()>(Request::Cmd(&set)).await?;
            return cluster.add_to_tags(key, tags, ttl).await;
        }
        let mut pipe = ::redis::pipe();
        pipe.add_command(set).ignore();
        for tag in tags {
            pipe.add_command(tag_add_cmd(tag, key, ttl)).ignore();
        }
        self.query(Request::Pipe(&pipe), Retry::Idempotent).await
    }

    /// Lists `key` in each tag's index: one pipeline on one server, one
    /// script per index at once on a cluster.
    pub(super) async fn add_to_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        if let Self::Cluster(cluster) = self {
            return cluster.add_to_tags(key, tags, ttl).await;
        }
        let mut pipe = ::redis::pipe();
        for tag in tags {
            pipe.add_command(tag_add_cmd(tag, key, ttl)).ignore();
        }
        self.query(Request::Pipe(&pipe), Retry::Idempotent).await
    }

    /// Takes a tag's index: one script, about that key. It is not sent
    /// again after a connection lost mid-request (the keys it returned
    /// would be lost with the reply), only when it could not be sent.
    pub(super) async fn take_tag(&self, tag: &str) -> Result<Vec<String>> {
        let cmd = tag_take_cmd(tag);
        let keys: Vec<Vec<u8>> = self.query(Request::Cmd(&cmd), Retry::IfNotSent).await?;
        // Keys are written from `str`s; anything else in the index was
        // not put there by a cache, and is not deleted.
        Ok(keys
            .into_iter()
            .filter_map(|key| String::from_utf8(key).ok())
            .collect())
    }

    /// `PING` on one server; on a cluster, on every primary.
    pub(super) async fn ping(&self) -> Result<()> {
        if let Self::Cluster(cluster) = self {
            return cluster.ping().await;
        }
        let cmd = ::redis::cmd("PING");
        let _: ::redis::Value = self.query(Request::Cmd(&cmd), Retry::Idempotent).await?;
        Ok(())
    }
}
