//! A Redis Cluster through one redis-rs `ClusterConnection`: a multiplexed
//! connection per node, slots followed through `MOVED`/`ASK`.

use std::collections::HashSet;

use ::redis::cluster::{ClusterClient, ClusterClientBuilder};
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use ::redis::{Cmd, FromRedisValue, RedisError, Value};
use bytes::Bytes;
use futures_util::future::{try_join_all, BoxFuture, FutureExt};

use super::commands::{key_cmd, set_cmd, tag_add_cmd, Request, SetMode};
use super::error::{map_error, task_failed, timed_out, Failure};
use super::lazy::Lazy;
use super::scan::clear_server;
use super::settings::{Settings, Timeouts};
use crate::backend::Ttl;
use crate::runtime::{io_handle, on_io};
use crate::{Error, ErrorKind, Result};

pub(super) struct Cluster {
    client: ClusterClient,
    /// `Redis Cluster at host:port,host:port`: what messages call it.
    peer: Box<str>,
    /// The seed nodes, `host:port,host:port`.
    seeds: Box<str>,
    timeouts: Timeouts,
    connection: Lazy<ClusterConnection, RedisError>,
    /// How to reach one node by itself (the near cache's invalidation
    /// channels): `rediss` or `redis`, credentials, certificates.
    scheme: &'static str,
    username: Option<String>,
    password: Option<String>,
    certificates: Option<::redis::TlsCertificates>,
}

impl Cluster {
    /// A client for the cluster of the seed `nodes` (`host:port`); does
    /// not connect.
    pub(super) fn new(
        nodes: &[String],
        settings: &Settings,
    ) -> std::result::Result<Self, RedisError> {
        let urls: Vec<String> = nodes
            .iter()
            .map(|node| settings.node_url(node, 0))
            .collect();
        let mut builder = ClusterClientBuilder::new(urls)
            .connection_timeout(settings.timeouts.connect)
            .response_timeout(settings.timeouts.response);
        if let Some(username) = &settings.username {
            builder = builder.username(username);
        }
        if let Some(password) = &settings.password {
            builder = builder.password(password);
        }
        if let Some(certificates) = &settings.certificates {
            builder = builder.certs(certificates.clone());
        }
        let seeds = nodes.join(",");
        Ok(Self {
            client: builder.build()?,
            peer: format!("Redis Cluster at {seeds}").into_boxed_str(),
            seeds: seeds.into_boxed_str(),
            timeouts: settings.timeouts,
            connection: Lazy::new(),
            scheme: settings.scheme(),
            username: settings.username.clone(),
            password: settings.password.clone(),
            certificates: settings.certificates.clone(),
        })
    }

    /// A RESP3 client for the node at `address` (`host:port`) by itself.
    pub(super) fn node_resp3_client(&self, address: &str) -> Result<::redis::Client> {
        use ::redis::IntoConnectionInfo;
        let invalid = |e| super::error::config_error(address, e);
        let info = format!("{}://{address}/0", self.scheme)
            .into_connection_info()
            .map_err(invalid)?;
        let info = super::settings::with_credentials(
            info,
            self.username.as_deref(),
            self.password.as_deref(),
        );
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(::redis::ProtocolVersion::RESP3);
        super::tls::client(info.set_redis_settings(redis), self.certificates.clone())
            .map_err(invalid)
    }

    /// The seed nodes, `host:port,host:port`.
    pub(super) fn seeds(&self) -> &str {
        &self.seeds
    }

    pub(super) fn peer(&self) -> &str {
        &self.peer
    }

    pub(super) fn is_connected(&self) -> bool {
        self.connection.current().is_some()
    }

    /// The shared cluster connection, connecting first if needed. Must run
    /// inside [`on_io`].
    async fn connection(&self) -> Result<ClusterConnection> {
        self.connection
            .get(|| self.start_connecting())
            .await
            .map_err(|e| self.error(Failure::connect(e)))
    }

    /// Connects on the crate's I/O runtime (redis-rs spawns the cluster's
    /// task on the runtime it is created on). Connecting means reaching a
    /// seed, reading the slot map and reaching every node: it may take
    /// twice the connect timeout plus the response timeout.
    fn start_connecting(
        &self,
    ) -> BoxFuture<'static, std::result::Result<ClusterConnection, RedisError>> {
        let client = self.client.clone();
        let limit = self.timeouts.connect * 2 + self.timeouts.response;
        let task = io_handle().spawn(async move {
            tokio::time::timeout(limit, client.get_async_connection())
                .await
                .unwrap_or_else(|_| Err(timed_out("connecting to the cluster", limit)))
        });
        async move { task.await.unwrap_or_else(|join| Err(task_failed(&join))) }.boxed()
    }

    fn error(&self, failure: Failure) -> Error {
        map_error(&self.peer, self.timeouts, failure)
    }

    /// Sends `request` to the node of its key's slot (or, for `MGET`,
    /// `UNLINK`, `EXISTS`, to the node of each slot, one sub-command per
    /// slot, replies put back in the caller's order by redis-rs). redis-rs
    /// follows `MOVED`/`ASK` and retries on lost connections within the
    /// response timeout.
    pub(super) async fn query<T: FromRedisValue>(&self, request: Request<'_>) -> Result<T> {
        on_io(async {
            let mut conn = self.connection().await?;
            match request {
                Request::Cmd(cmd) => cmd.query_async(&mut conn).await,
                Request::Pipe(pipe) => pipe.query_async(&mut conn).await,
            }
            .map_err(|e| self.error(Failure::command(e)))
        })
        .await
    }

    /// One command per key, all sent at once on the multiplexed
    /// connections: each follows its own key's `MOVED` or `ASK`, so a batch
    /// never lands whole on a node that owns only part of it (redis-rs
    /// re-sends a redirected pipeline or multi-key command entire, which
    /// copies keys the source still owns to an importing node and makes
    /// the operator's next `MIGRATE` fail with `BUSYKEY`), and a key whose
    /// node does not answer fails the call instead of being skipped.
    async fn per_key<T: FromRedisValue>(&self, cmds: Vec<Cmd>) -> Result<Vec<T>> {
        try_join_all(cmds.iter().map(|cmd| self.query::<T>(Request::Cmd(cmd)))).await
    }

    /// `GET` per key (see [`per_key`](Self::per_key)).
    pub(super) async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.per_key(keys.iter().map(|key| key_cmd("GET", key)).collect())
            .await
    }

    /// `SET … PX` per key (see [`per_key`](Self::per_key)).
    pub(super) async fn set_many(&self, items: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        let cmds = items
            .iter()
            .map(|(key, value)| set_cmd(key, value, ttl, SetMode::Always))
            .collect();
        self.per_key::<()>(cmds).await?;
        Ok(())
    }

    /// Lists `key` in each tag's index: one script per index, all sent at
    /// once, each to the node of its index's slot.
    pub(super) async fn add_to_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        let cmds = tags.iter().map(|tag| tag_add_cmd(tag, key, ttl)).collect();
        self.per_key::<()>(cmds).await?;
        Ok(())
    }

    /// `UNLINK` per key (see [`per_key`](Self::per_key)).
    pub(super) async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let counts: Vec<u64> = self
            .per_key(keys.iter().map(|key| key_cmd("UNLINK", key)).collect())
            .await?;
        Ok(counts.into_iter().sum())
    }

    /// Every primary answers `PING`, and as many answer as `CLUSTER SLOTS`
    /// names: a dead primary fails the ping, which redis-rs alone would
    /// report as healthy.
    pub(super) async fn ping(&self) -> Result<()> {
        on_io(async {
            let mut conn = self.connection().await?;
            self.primaries(&mut conn).await.map(drop)
        })
        .await
    }

    /// `SCAN` on every primary at once, each page `UNLINK`ed (redis-rs
    /// splits the `UNLINK` per slot).
    pub(super) async fn clear_prefixes(&self, prefixes: &[&str]) -> Result<u64> {
        on_io(async {
            let mut conn = self.connection().await?;
            let primaries = self.primaries(&mut conn).await?;
            let removed = try_join_all(primaries.iter().map(|(host, port)| {
                let conn = conn.clone();
                clear_server(
                    prefixes,
                    move |scan| {
                        let mut conn = conn.clone();
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        });
                        async move {
                            let reply = conn.route_command(scan, route).await;
                            reply
                                .and_then(Value::extract_error)
                                .and_then(|v| Ok(FromRedisValue::from_redis_value(v)?))
                                .map_err(|e| self.node_error(host, *port, e))
                        }
                        .boxed()
                    },
                    |unlink: Cmd| async move { self.query(Request::Cmd(&unlink)).await }.boxed(),
                )
            }))
            .await?;
            Ok(removed.into_iter().sum())
        })
        .await
    }

    fn node_error(&self, host: &str, port: u16, e: RedisError) -> Error {
        map_error(
            &format!("Redis Cluster node {host}:{port} (of {})", self.seeds),
            self.timeouts,
            Failure::command(e),
        )
    }

    /// The primaries as redis-rs routes to them (`PING` to all primaries,
    /// which answers per node), checked against the cluster's own count
    /// (`CLUSTER SLOTS`), so that a primary redis-rs cannot reach fails
    /// the call instead of being skipped.
    async fn primaries(&self, conn: &mut ClusterConnection) -> Result<Vec<(String, u16)>> {
        let everywhere = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
        let pongs = conn
            .route_command(::redis::cmd("PING"), everywhere)
            .await
            .map_err(|e| self.error(Failure::command(e)))?;
        let reached: Vec<(String, u16)> = match pongs {
            Value::Map(pairs) => pairs
                .into_iter()
                .filter_map(|(address, _)| match address {
                    Value::BulkString(address) => split_address(&String::from_utf8_lossy(&address)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut slots = ::redis::cmd("CLUSTER");
        slots.arg("SLOTS");
        let slots: Value = slots
            .query_async(conn)
            .await
            .map_err(|e| self.error(Failure::command(e)))?;
        let expected = primary_ids(&slots);
        if reached.is_empty() || reached.len() < expected.len() {
            return Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "{}: {} of the {} primaries are reachable ({}); this call needs every primary",
                    self.peer,
                    reached.len(),
                    expected.len(),
                    reached
                        .iter()
                        .map(|(host, port)| format!("{host}:{port}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Ok(reached)
    }
}

/// `host:port` (the host may be an IPv6 address, without brackets) into
/// its parts.
fn split_address(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

/// The node ids of the primaries in a `CLUSTER SLOTS` reply: each entry is
/// `[start, end, [host, port, id, …], replicas…]`.
fn primary_ids(slots: &Value) -> HashSet<Vec<u8>> {
    let Value::Array(ranges) = slots else {
        return HashSet::new();
    };
    ranges
        .iter()
        .filter_map(|range| match range {
            Value::Array(fields) => match fields.get(2) {
                Some(Value::Array(primary)) => match (primary.get(2), primary.get(1)) {
                    (Some(Value::BulkString(id)), _) => Some(id.clone()),
                    // Servers before 4.0 give no id: tell primaries by port.
                    (None, Some(Value::Int(port))) => Some(port.to_string().into_bytes()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_at_the_last_colon() {
        assert_eq!(
            split_address("127.0.0.1:7000"),
            Some(("127.0.0.1".to_owned(), 7000))
        );
        assert_eq!(split_address("::1:7000"), Some(("::1".to_owned(), 7000)));
        assert_eq!(split_address("nohost"), None);
    }

    #[test]
    fn primaries_are_counted_once_per_node() {
        let node = |port: i64, id: &str| {
            Value::Array(vec![
                Value::BulkString(b"127.0.0.1".to_vec()),
                Value::Int(port),
                Value::BulkString(id.as_bytes().to_vec()),
            ])
        };
        let range = |start: i64, end: i64, primary: Value| {
            Value::Array(vec![Value::Int(start), Value::Int(end), primary])
        };
        let slots = Value::Array(vec![
            range(0, 100, node(7000, "a")),
            range(101, 200, node(7001, "b")),
            range(201, 16383, node(7000, "a")),
        ]);
        assert_eq!(primary_ids(&slots).len(), 2);
    }
}
