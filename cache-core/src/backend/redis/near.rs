//! What the near cache needs of a Redis store: reads with their remaining
//! TTL (`GET` and `PTTL` pipelined, one round trip) and the server its
//! invalidation channel tracks.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt};

use super::retry::Retry;
use super::sentinel::Sentinel;
use super::standalone::Server;
use super::topology::Topology;
use super::{RedisBackend, Request};
use crate::near::tracking::{Channel, Target};
use crate::near::{NearRemote, Remote};
use crate::{Error, Result};

impl RedisBackend {
    /// The near cache bound given by the URL (`near_cache=32MiB`), if any.
    pub(crate) fn near_cache_size(&self) -> Option<u64> {
        self.inner.near_cache
    }

    /// The invalidation channel of a near cache over this store, tracking
    /// the keys under `prefixes`.
    pub(crate) fn near_channel(&self, prefixes: Vec<String>) -> Result<Channel> {
        let target: Box<dyn Target> = match self.topology() {
            Topology::Standalone(_) => Box::new(Standalone(self.clone())),
            Topology::Sentinel(_) => Box::new(SentinelMaster(self.clone())),
            Topology::Cluster(_) => {
                return Err(Error::config(format!(
                    "a near cache needs a standalone Redis server or a Sentinel master for now; {} is a {} deployment",
                    self.address(),
                    self.topology().name()
                )))
            }
        };
        Ok(Channel {
            target,
            prefixes,
            connect_timeout: self.inner.timeouts.connect,
            response_timeout: self.inner.timeouts.response,
        })
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
    fn client(&self) -> BoxFuture<'_, Result<(::redis::Client, String)>> {
        let server = self.server();
        let made = server
            .resp3_client()
            .map(|client| (client, server.address().to_owned()))
            .map_err(|e| {
                Error::with_source(
                    crate::ErrorKind::Config,
                    format!("near cache: no RESP3 client for {}", server.address()),
                    e,
                )
            });
        async move { made }.boxed()
    }

    fn is_current(&self, _address: &str) -> bool {
        true
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
    fn client(&self) -> BoxFuture<'_, Result<(::redis::Client, String)>> {
        async move {
            let server = self.sentinel().current_master().await?;
            let client = server.resp3_client().map_err(|e| {
                Error::with_source(
                    crate::ErrorKind::Config,
                    format!("near cache: no RESP3 client for {}", server.address()),
                    e,
                )
            })?;
            Ok((client, server.address().to_owned()))
        }
        .boxed()
    }

    fn is_current(&self, address: &str) -> bool {
        self.sentinel().master_address().as_deref() == Some(address)
    }

    fn on_change(&self, changed: Box<dyn Fn() + Send + Sync>) {
        self.sentinel().on_forget(changed);
    }
}
