//! What the near cache needs of a Redis store: reads with their remaining
//! TTL (`GET` and `PTTL` pipelined, one round trip) and the server its
//! invalidation channel tracks.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt};

use super::cluster::Cluster;
use super::retry::Retry;
use super::sentinel::Sentinel;
use super::standalone::Server;
use super::topology::Topology;
use super::{RedisBackend, Request};
use crate::near::tracking::{Channel, Target, View};
use crate::near::{NearRemote, Remote};
use crate::{Error, Result};

impl RedisBackend {
    /// The near cache bound given by the URL (`near_cache=32MiB`), if any.
    pub(crate) fn near_cache_size(&self) -> Option<u64> {
        self.inner.near_cache
    }

    /// The invalidation channel of a near cache over this store, tracking
    /// the keys under `prefixes`.
    pub(crate) fn near_channel(&self, prefixes: Vec<String>) -> Channel {
        let target: Box<dyn Target> = match self.topology() {
            Topology::Standalone(_) => Box::new(Standalone(self.clone())),
            Topology::Sentinel(_) => Box::new(SentinelMaster(self.clone())),
            Topology::Cluster(_) => Box::new(ClusterMasters(self.clone())),
        };
        Channel {
            target,
            prefixes,
            connect_timeout: self.inner.timeouts.connect,
            response_timeout: self.inner.timeouts.response,
        }
    }
}

#[async_trait]
impl NearRemote for RedisBackend {
    async fn get_with_ttl(&self, key: &str) -> Result<Remote> {
        let mut pipe = ::redis::pipe();
        pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
        let (value, pttl): (Option<Vec<u8>>, i64) = self
            .topology()
            .query(Request::Pipe(&pipe), Retry::Idempotent)
            .await?;
        let ttl = match pttl {
            // No expiry.
            -1 => None,
            // Gone between the two commands (a write's invalidation
            // refuses the fill): nothing to keep.
            ms if ms < 0 => Some(Duration::ZERO),
            ms => Some(Duration::from_millis(ms.unsigned_abs())),
        };
        Ok(Remote {
            bytes: value.map(Bytes::from),
            ttl,
        })
    }
}

/// A view of one server.
fn one(server: &Server) -> Result<View> {
    let client = server.resp3_client().map_err(|e| {
        Error::with_source(
            crate::ErrorKind::Config,
            format!("near cache: no RESP3 client for {}", server.address()),
            e,
        )
    })?;
    Ok(View {
        nodes: vec![(client, server.address().to_owned())],
        fingerprint: server.address().to_owned(),
    })
}

/// The one server of a standalone store.
struct Standalone(RedisBackend);

impl Standalone {
    fn server(&self) -> &Server {
        match self.0.topology() {
            Topology::Standalone(server) => server,
            _ => unreachable!("built for a standalone store only"),
        }
    }
}

impl Target for Standalone {
    fn view(&self) -> BoxFuture<'_, Result<View>> {
        let view = one(self.server());
        async move { view }.boxed()
    }

    fn is_current<'a>(&'a self, _fingerprint: &'a str) -> BoxFuture<'a, bool> {
        async { true }.boxed()
    }
}

/// The current master of a Sentinel store.
struct SentinelMaster(RedisBackend);

impl SentinelMaster {
    fn sentinel(&self) -> &Sentinel {
        match self.0.topology() {
            Topology::Sentinel(sentinel) => sentinel,
            _ => unreachable!("built for a Sentinel store only"),
        }
    }
}

impl Target for SentinelMaster {
    fn view(&self) -> BoxFuture<'_, Result<View>> {
        async move { one(&*self.sentinel().current_master().await?) }.boxed()
    }

    fn is_current<'a>(&'a self, fingerprint: &'a str) -> BoxFuture<'a, bool> {
        let current = self.sentinel().master_address().as_deref() == Some(fingerprint);
        async move { current }.boxed()
    }

    fn on_change(&self, changed: Box<dyn Fn() + Send + Sync>) {
        self.sentinel().on_forget(changed);
    }
}

/// Every master of a cluster, with the slots each serves.
struct ClusterMasters(RedisBackend);

impl ClusterMasters {
    fn cluster(&self) -> &Cluster {
        match self.0.topology() {
            Topology::Cluster(cluster) => cluster,
            _ => unreachable!("built for a cluster only"),
        }
    }

    /// The masters (`host:port`) and the fingerprint of who serves which
    /// slots (migrations included), from `CLUSTER NODES`.
    async fn masters(&self) -> Result<(Vec<String>, String)> {
        let cmd = ::redis::cmd("CLUSTER").arg("NODES").to_owned();
        let nodes: String = self.cluster().query(Request::Cmd(&cmd)).await?;
        let mut masters: Vec<(String, String)> = nodes
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let flags = fields.get(2)?;
                let serving = flags.split(',').any(|f| f == "master")
                    && !flags
                        .split(',')
                        .any(|f| matches!(f, "fail" | "noaddr" | "handshake"));
                if !serving {
                    return None;
                }
                // `ip:port@cport[,hostname]`
                let address = fields.get(1)?.split('@').next()?.to_owned();
                let slots = fields.get(8..).map(|s| s.join(" ")).unwrap_or_default();
                Some((address, slots))
            })
            .collect();
        masters.sort();
        let fingerprint = masters
            .iter()
            .map(|(address, slots)| format!("{address} {slots}"))
            .collect::<Vec<_>>()
            .join("\n");
        Ok((masters.into_iter().map(|(a, _)| a).collect(), fingerprint))
    }
}

impl Target for ClusterMasters {
    fn view(&self) -> BoxFuture<'_, Result<View>> {
        async move {
            let (masters, fingerprint) = self.masters().await?;
            if masters.is_empty() {
                return Err(Error::new(
                    crate::ErrorKind::Connection,
                    "near cache: the cluster names no master",
                ));
            }
            let nodes = masters
                .into_iter()
                .map(|address| Ok((self.cluster().node_resp3_client(&address)?, address)))
                .collect::<Result<_>>()?;
            Ok(View { nodes, fingerprint })
        }
        .boxed()
    }

    fn is_current<'a>(&'a self, fingerprint: &'a str) -> BoxFuture<'a, bool> {
        async move {
            self.masters()
                .await
                .is_ok_and(|(_, current)| current == fingerprint)
        }
        .boxed()
    }
}
