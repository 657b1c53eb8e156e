//! A master found through Redis Sentinel, followed across failovers.
//!
//! The master is asked of the sentinels (`SENTINEL get-master-addr-by-name`,
//! one sentinel after the other until one names a server that answers
//! `ROLE` as a master) and then used as a standalone [`Server`]. It is
//! looked up again
//!
//! - when a sentinel announces a new master (`+switch-master`, watched on
//!   every sentinel by background tasks on the crate's I/O runtime): during
//!   a failover the old master keeps accepting writes until the sentinels
//!   reconfigure it, which can take seconds, so waiting for errors would
//!   lose those writes;
//! - when a request fails in a way a failover explains: the connection is
//!   refused, lost or silent, or a write meets `READONLY`. The request is
//!   then sent once more to the new master, if it is safe to repeat
//!   ([`Retry`]).

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use ::redis::{AsyncConnectionConfig, FromRedisValue, IntoConnectionInfo, Value};
use futures_util::future::FutureExt;
use futures_util::StreamExt;
use tokio::task::AbortHandle;

use super::commands::Request;
use super::error::{config_error, is_read_only, map_error, Failure, Phase};
use super::lazy::Lazy;
use super::retry::Retry;
use super::scan::clear_server;
use super::settings::{with_credentials, Pooling, Settings, Timeouts};
use super::standalone::Server;
use super::tls::client;
use crate::runtime::io_handle;
use crate::{Error, ErrorKind, Result};

/// How long a watcher waits before subscribing again to a sentinel it
/// lost.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

pub(super) struct Sentinel {
    shared: Arc<Shared>,
    /// The `+switch-master` watchers, started with the first lookup and
    /// stopped when the store is dropped.
    watchers: OnceLock<Vec<AbortHandle>>,
}

struct Shared {
    service: Box<str>,
    sentinels: Vec<SentinelNode>,
    /// `host:port,host:port`.
    sentinel_list: Box<str>,
    master: MasterSettings,
    timeouts: Timeouts,
    pooling: Pooling,
    current: Lazy<Arc<Server>, Error>,
    /// Called whenever the master is forgotten (the near caches' flush:
    /// reads may go to another server from now on).
    on_forget: std::sync::Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

struct SentinelNode {
    /// `host:port`.
    address: Box<str>,
    client: ::redis::Client,
}

/// How to reach a master once its address is known.
struct MasterSettings {
    scheme: &'static str,
    db: i64,
    query: String,
    username: Option<String>,
    password: Option<String>,
    certificates: Option<::redis::TlsCertificates>,
}

impl Sentinel {
    /// A store for the master that `sentinels` (`host:port`) know as
    /// `service`, database `db`; does not connect.
    pub(super) fn new(
        sentinels: &[String],
        service: &str,
        db: i64,
        settings: &Settings,
    ) -> Result<Self> {
        let nodes = sentinels
            .iter()
            .map(|address| {
                let info = format!("{}://{address}/", settings.scheme())
                    .into_connection_info()
                    .map_err(|e| config_error(address, e))?;
                let info = with_credentials(
                    info,
                    settings.sentinel_username.as_deref(),
                    settings.sentinel_password.as_deref(),
                );
                let client = client(info, settings.certificates.clone())
                    .map_err(|e| config_error(address, e))?;
                Ok(SentinelNode {
                    address: address.clone().into_boxed_str(),
                    client,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            shared: Arc::new(Shared {
                service: service.into(),
                sentinel_list: sentinels.join(",").into_boxed_str(),
                sentinels: nodes,
                master: MasterSettings {
                    scheme: settings.scheme(),
                    db,
                    query: settings.node_query(),
                    username: settings.username.clone(),
                    password: settings.password.clone(),
                    certificates: settings.certificates.clone(),
                },
                timeouts: settings.timeouts,
                pooling: settings.pooling,
                current: Lazy::new(),
                on_forget: std::sync::Mutex::new(Vec::new()),
            }),
            watchers: OnceLock::new(),
        })
    }

    /// `<service>/<db> via host:port,host:port` (the sentinels).
    pub(super) fn address(&self) -> String {
        format!(
            "{}/{} via {}",
            self.shared.service, self.shared.master.db, self.shared.sentinel_list
        )
    }

    /// The current master's `host:port/db`, once found.
    pub(super) fn master_address(&self) -> Option<String> {
        self.shared
            .current
            .current()
            .map(|server| server.address().to_owned())
    }

    /// What messages call the store as a whole.
    pub(super) fn peer(&self) -> String {
        format!(
            "Redis master `{}` (sentinels {})",
            self.shared.service, self.shared.sentinel_list
        )
    }

    /// The current master, found first if needed.
    pub(super) async fn current_master(&self) -> Result<Arc<Server>> {
        self.master().await
    }

    /// Calls `listener` whenever the master is forgotten (after a
    /// `+switch-master`, or a failure a failover explains), before any
    /// request can reach another server.
    pub(super) fn on_forget(&self, listener: Box<dyn Fn() + Send + Sync>) {
        self.shared
            .on_forget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(listener);
    }

    /// Sends `request` to the current master (found first if needed). On
    /// a failure a failover explains, forgets that master and, if `retry`
    /// allows, sends it once more to the master the sentinels name now.
    pub(super) async fn query<T: FromRedisValue>(
        &self,
        request: Request<'_>,
        retry: Retry,
    ) -> Result<T> {
        let server = self.master().await?;
        let failure = match server.attempt(request).await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        if !self.forget_if_failed_over(&server, &failure) || !retry.allows_elsewhere(&failure) {
            return Err(server.error(failure));
        }
        let server = self.master().await?;
        server.attempt(request).await.map_err(|failure| {
            self.forget_if_failed_over(&server, &failure);
            server.error(failure)
        })
    }

    /// Removes the keys under any of `prefixes` from the master: one
    /// `SCAN` pass, each page `UNLINK`ed. A cursor means nothing to another
    /// server: if the master changed during the pass, the new one is
    /// scanned from the start (up to three passes in all).
    pub(super) async fn clear_prefixes(&self, prefixes: &[&str]) -> Result<u64> {
        let mut removed = 0;
        for _ in 0..3 {
            // How many times the master was forgotten: a change tells that
            // the master may have changed during the pass.
            let generation = self.shared.current.generation();
            removed += clear_server(
                prefixes,
                |scan| {
                    Box::pin(
                        async move { self.query(Request::Cmd(&scan), Retry::Idempotent).await },
                    )
                },
                |unlink| {
                    Box::pin(
                        async move { self.query(Request::Cmd(&unlink), Retry::Idempotent).await },
                    )
                },
            )
            .await?;
            if self.shared.current.generation() == generation {
                break;
            }
        }
        Ok(removed)
    }

    /// The current master, looked up through the sentinels (on the crate's
    /// I/O runtime) if there is none.
    async fn master(&self) -> Result<Arc<Server>> {
        let shared = self.shared.clone();
        let server = self
            .shared
            .current
            .get(move || {
                let task = io_handle().spawn(shared.find_master());
                async move {
                    task.await.unwrap_or_else(|join| {
                        Err(Error::new(
                            ErrorKind::Connection,
                            format!("the Sentinel lookup task failed: {join}"),
                        ))
                    })
                }
                .boxed()
            })
            .await?;
        self.watchers.get_or_init(|| self.shared.watch());
        Ok(server)
    }

    /// Forgets `server` as the master if `failure` is what a failover
    /// looks like from a client; returns whether it is.
    fn forget_if_failed_over(&self, server: &Arc<Server>, failure: &Failure) -> bool {
        let failed_over = matches!(failure.phase, Phase::Connect)
            || failure.error.is_io_error()
            || is_read_only(&failure.error);
        if failed_over
            && self
                .shared
                .current
                .reset_if(|current| Arc::ptr_eq(current, server))
        {
            self.shared.forgotten();
            tracing::info!(
                service = &*self.shared.service,
                master = server.address(),
                "the Redis master failed a request as after a failover; asking the sentinels again"
            );
        }
        failed_over
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        for watcher in self.watchers.get().into_iter().flatten() {
            watcher.abort();
        }
    }
}

impl Shared {
    /// Forgets the master, and tells the listeners.
    fn forget(&self) {
        self.current.reset();
        self.forgotten();
    }

    /// Tells the listeners the master was forgotten.
    fn forgotten(&self) {
        let listeners = self
            .on_forget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for listener in listeners.iter() {
            listener();
        }
    }

    /// Asks the sentinels in turn for the master, until one names a server
    /// that answers `ROLE` as a master.
    async fn find_master(self: Arc<Self>) -> Result<Arc<Server>> {
        let mut problems = Vec::with_capacity(self.sentinels.len());
        let (mut unknown, mut silent) = (0, 0);
        for node in &self.sentinels {
            let (host, port) = match self.ask(node).await {
                Ok(Some(address)) => address,
                Ok(None) => {
                    unknown += 1;
                    problems.push(format!(
                        "{} knows no master named `{}`",
                        node.address, self.service
                    ));
                    continue;
                }
                Err(e) => {
                    if e.kind() == ErrorKind::Timeout {
                        silent += 1;
                    }
                    problems.push(e.message().to_owned());
                    continue;
                }
            };
            let server = Arc::new(self.server(&host, port)?);
            let role = ::redis::cmd("ROLE");
            match server.attempt::<Value>(Request::Cmd(&role)).await {
                Ok(Value::Array(fields)) if matches!(fields.first(), Some(Value::BulkString(r)) if r == b"master") =>
                {
                    return Ok(server);
                }
                Ok(_) => problems.push(format!(
                    "{} names {}, which is not a master (failover under way?)",
                    node.address,
                    server.address()
                )),
                Err(failure) => problems.push(format!(
                    "{} names {}: {}",
                    node.address,
                    server.address(),
                    server.error(failure).message()
                )),
            }
        }
        let kind = if unknown == self.sentinels.len() {
            ErrorKind::Config
        } else if silent == self.sentinels.len() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Connection
        };
        Err(Error::new(
            kind,
            format!(
                "cannot find the Redis master `{}` through the sentinels {}: {}",
                self.service,
                self.sentinel_list,
                problems.join("; ")
            ),
        ))
    }

    /// `SENTINEL get-master-addr-by-name` on one sentinel.
    async fn ask(&self, node: &SentinelNode) -> Result<Option<(String, u16)>> {
        let peer = format!("Redis Sentinel at {}", node.address);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeouts.connect))
            .set_response_timeout(Some(self.timeouts.response));
        let mut conn = node
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| map_error(&peer, self.timeouts, Failure::connect(e)))?;
        let mut ask = ::redis::cmd("SENTINEL");
        ask.arg("get-master-addr-by-name").arg(&*self.service);
        ask.query_async(&mut conn)
            .await
            .map_err(|e| map_error(&peer, self.timeouts, Failure::command(e)))
    }

    /// A standalone server for the master at `host:port`.
    fn server(&self, host: &str, port: u16) -> Result<Server> {
        let master = &self.master;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let address = format!("{host}:{port}");
        let url = format!(
            "{}://{address}/{}{}",
            master.scheme, master.db, master.query
        );
        let info = url
            .into_connection_info()
            .map_err(|e| config_error(&address, e))?;
        let info = with_credentials(info, master.username.as_deref(), master.password.as_deref());
        let service = &self.service;
        Server::new(
            info,
            master.certificates.clone(),
            self.timeouts,
            self.pooling,
            |address| format!("Redis master `{service}` at {address}"),
        )
        .map_err(|e| config_error(&address, e))
    }

    /// Starts one `+switch-master` watcher per sentinel.
    fn watch(self: &Arc<Self>) -> Vec<AbortHandle> {
        (0..self.sentinels.len())
            .map(|index| {
                io_handle()
                    .spawn(watch_sentinel(Arc::downgrade(self), index))
                    .abort_handle()
            })
            .collect()
    }
}

/// Subscribes to `+switch-master` on one sentinel and forgets the master
/// whenever it announces a new one for our service; subscribes again when
/// the sentinel is lost. Ends when the store is dropped.
async fn watch_sentinel(shared: Weak<Shared>, index: usize) {
    let mut subscribed_before = false;
    loop {
        let Some(current) = shared.upgrade() else {
            return;
        };
        let client = current.sentinels[index].client.clone();
        let limit = current.timeouts.connect;
        drop(current);
        let subscribed = tokio::time::timeout(limit, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("+switch-master").await?;
            Ok::<_, ::redis::RedisError>(pubsub)
        })
        .await;
        if let Ok(Ok(pubsub)) = subscribed {
            if subscribed_before {
                // A switch may have happened while we were not listening.
                if let Some(shared) = shared.upgrade() {
                    shared.forget();
                }
            }
            subscribed_before = true;
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let payload: String = message.get_payload().unwrap_or_default();
                // `<name> <old ip> <old port> <new ip> <new port>`
                let mut fields = payload.split(' ');
                if fields.next() == Some(&*shared.service) {
                    tracing::info!(
                        service = &*shared.service,
                        sentinel = &*shared.sentinels[index].address,
                        switch = payload.as_str(),
                        "a sentinel announced a new Redis master"
                    );
                    shared.forget();
                }
            }
        }
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}
