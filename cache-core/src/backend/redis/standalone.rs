//! One Redis server through one shared `ConnectionManager`: the
//! standalone store, and the current master of the Sentinel store.

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{ConnectionAddr, ConnectionInfo, FromRedisValue, RedisError};
use futures_util::future::{BoxFuture, FutureExt};

use super::commands::Request;
use super::error::{map_error, task_failed, Failure};
use super::lazy::Lazy;
use super::retry::Retry;
use super::scan::clear_server;
use super::settings::Timeouts;
use super::tls::client;
use crate::runtime::{io_handle, on_io};
use crate::{Error, Result};

pub(super) struct Server {
    client: ::redis::Client,
    /// `host:port/db`.
    address: Box<str>,
    /// What messages call it: `Redis at host:port/db`.
    peer: Box<str>,
    timeouts: Timeouts,
    manager: Lazy<ConnectionManager, RedisError>,
}

impl Server {
    /// A server for `info`; `describe` turns `host:port/db` into what
    /// messages call it. Does not connect.
    pub(super) fn new(
        info: ConnectionInfo,
        certificates: Option<::redis::TlsCertificates>,
        timeouts: Timeouts,
        describe: impl FnOnce(&str) -> String,
    ) -> std::result::Result<Self, RedisError> {
        let client = client(info, certificates)?;
        let info = client.get_connection_info();
        let address = format!("{}/{}", host_port(info.addr()), info.redis_settings().db());
        Ok(Self {
            peer: describe(&address).into_boxed_str(),
            address: address.into_boxed_str(),
            client,
            timeouts,
            manager: Lazy::new(),
        })
    }

    pub(super) fn address(&self) -> &str {
        &self.address
    }

    /// What messages call it: `Redis at host:port/db`.
    pub(super) fn peer(&self) -> &str {
        &self.peer
    }

    pub(super) fn is_connected(&self) -> bool {
        self.manager.current().is_some()
    }

    /// Sends `request` once (connecting first if needed) and parses the
    /// reply. Must run inside [`on_io`].
    pub(super) async fn attempt<T: FromRedisValue>(
        &self,
        request: Request<'_>,
    ) -> std::result::Result<T, Failure> {
        let mut conn = self
            .manager
            .get(|| self.start_connecting())
            .await
            .map_err(Failure::connect)?;
        match request {
            Request::Cmd(cmd) => cmd.query_async(&mut conn).await,
            Request::Pipe(pipe) => pipe.query_async(&mut conn).await,
        }
        .map_err(Failure::command)
    }

    /// Sends `request`, retrying once on a fresh connection when `retry`
    /// allows, with the connection and every task and timer it creates on
    /// the crate's I/O runtime.
    pub(super) async fn query<T: FromRedisValue>(
        &self,
        request: Request<'_>,
        retry: Retry,
    ) -> Result<T> {
        on_io(async {
            let mut retried = false;
            loop {
                match self.attempt(request).await {
                    Ok(value) => return Ok(value),
                    // A failed first connection was a fresh attempt: no
                    // retry. Otherwise the manager has started
                    // reconnecting: try once more on the new connection.
                    Err(f) if !retried && f.is_command() && retry.allows(&f.error) => {
                        retried = true;
                    }
                    Err(f) => return Err(self.error(f)),
                }
            }
        })
        .await
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

    /// Starts connecting on the crate's I/O runtime, so the connection's
    /// driver and the manager's tasks never live on a caller's runtime.
    fn start_connecting(
        &self,
    ) -> BoxFuture<'static, std::result::Result<ConnectionManager, RedisError>> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeouts.connect))
            .set_response_timeout(Some(self.timeouts.response))
            // One attempt per (re)connection: while Redis is down an
            // operation fails after one connect timeout at most, and the
            // next operation tries again.
            .set_number_of_retries(0);
        let task = io_handle().spawn(ConnectionManager::new_with_config(
            self.client.clone(),
            config,
        ));
        async move { task.await.unwrap_or_else(|join| Err(task_failed(&join))) }.boxed()
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
