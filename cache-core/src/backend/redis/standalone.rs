//! One Redis server through shared multiplexed connections (per runtime,
//! see [`Connections`]): the standalone store, and the current master of
//! the Sentinel store.

use ::redis::{ConnectionAddr, ConnectionInfo, FromRedisValue, RedisError};

use super::commands::Request;
use super::connections::Connections;
use super::error::{map_error, Failure};
use super::retry::Retry;
use super::scan::clear_server;
use super::settings::{Pooling, Timeouts};
use super::tls::client;
use crate::{Error, Result};

pub(super) struct Server {
    /// `host:port/db`.
    address: Box<str>,
    /// What messages call it: `Redis at host:port/db`.
    peer: Box<str>,
    timeouts: Timeouts,
    connections: Connections,
    /// What the near cache's invalidation channel connects with.
    info: ConnectionInfo,
    certificates: Option<::redis::TlsCertificates>,
}

impl Server {
    /// A server for `info`; `describe` turns `host:port/db` into what
    /// messages call it. Does not connect.
    pub(super) fn new(
        info: ConnectionInfo,
        certificates: Option<::redis::TlsCertificates>,
        timeouts: Timeouts,
        pooling: Pooling,
        describe: impl FnOnce(&str) -> String,
    ) -> std::result::Result<Self, RedisError> {
        let client = client(info, certificates.clone())?;
        let info = client.get_connection_info().clone();
        let address = format!("{}/{}", host_port(info.addr()), info.redis_settings().db());
        Ok(Self {
            info,
            certificates,
            peer: describe(&address).into_boxed_str(),
            address: address.into_boxed_str(),
            connections: Connections::new(client, timeouts, pooling.connections, pooling.runtime),
            timeouts,
        })
    }

    pub(super) fn address(&self) -> &str {
        &self.address
    }

    /// What messages call it: `Redis at host:port/db`.
    pub(super) fn peer(&self) -> &str {
        &self.peer
    }

    /// A RESP3 client for this server (the near cache's invalidation
    /// channel: push messages need RESP3).
    pub(super) fn resp3_client(&self) -> std::result::Result<::redis::Client, RedisError> {
        let redis = self
            .info
            .redis_settings()
            .clone()
            .set_protocol(::redis::ProtocolVersion::RESP3);
        client(
            self.info.clone().set_redis_settings(redis),
            self.certificates.clone(),
        )
    }

    pub(super) fn is_connected(&self) -> bool {
        self.connections.is_connected()
    }

    /// Sends `request` once (connecting first if needed) and parses the
    /// reply.
    pub(super) async fn attempt<T: FromRedisValue>(
        &self,
        request: Request<'_>,
    ) -> std::result::Result<T, Failure> {
        let lease = match self.connections.ready() {
            Ok(lease) => lease,
            // Boxed: the connecting path does not weigh on every request's
            // future.
            Err(unready) => Box::pin(self.connections.lease(unready))
                .await
                .map_err(Failure::connect)?,
        };
        lease
            .send(request, self.timeouts.response)
            .await
            .map_err(Failure::command)
    }

    /// Sends `request`, retrying once on a fresh connection when `retry`
    /// allows.
    pub(super) async fn query<T: FromRedisValue>(
        &self,
        request: Request<'_>,
        retry: Retry,
    ) -> Result<T> {
        let mut retried = false;
        loop {
            match self.attempt(request).await {
                Ok(value) => return Ok(value),
                // A failed first connection was a fresh attempt: no
                // retry. Otherwise the broken connection was forgotten:
                // try once more on a new one.
                Err(f) if !retried && f.is_command() && retry.allows(&f.error) => {
                    retried = true;
                }
                Err(f) => return Err(self.error(f)),
            }
        }
    }

    /// Removes the keys under any of `prefixes`: one `SCAN` pass, each
    /// page `UNLINK`ed.
    pub(super) async fn clear_prefixes(&self, prefixes: &[&str]) -> Result<u64> {
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

    /// Our error for a failure of this server, naming it.
    pub(super) fn error(&self, failure: Failure) -> Error {
        map_error(&self.peer, self.timeouts, failure)
    }
}

/// `host:port`, with IPv6 hosts in brackets.
pub(super) fn host_port(addr: &ConnectionAddr) -> String {
    match addr {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        }
        other => other.to_string(),
    }
}
