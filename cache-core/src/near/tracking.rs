//! The invalidation channel on Redis: one RESP3 connection per near cache
//! with `CLIENT TRACKING ON BCAST PREFIX <ns>| PREFIX <ns>#`, whose
//! `invalidate` pushes evict from L1.
//!
//! The connection is made on the crate's I/O runtime by a task that keeps
//! it up: L1 is usable from the `CLIENT TRACKING` reply on, and flushed
//! (and unused) from the moment the connection closes, fails its
//! heartbeat `PING`, or its server is no longer the one reads go to, until
//! a new connection has tracking on again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ::redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, Notify};

use super::Coherence;
use crate::runtime::io_handle;

/// How often the channel is checked with a `PING`: with the response
/// timeout, the longest a silent (not closed) channel goes unnoticed.
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(500);

/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The servers reads may go to, as RESP3 clients with their addresses, and
/// a fingerprint of that view (which servers, and for a cluster which
/// slots each serves).
pub(crate) struct View {
    pub(crate) nodes: Vec<(::redis::Client, String)>,
    pub(crate) fingerprint: String,
}

/// Where the channel connects: every server reads may go to; and whether
/// that is still so (a Sentinel master switch, a cluster slot moving say
/// no).
pub(crate) trait Target: Send + Sync + 'static {
    /// The servers reads may go to now.
    fn view(&self) -> BoxFuture<'_, crate::Result<View>>;
    /// Whether the view with `fingerprint` still holds.
    fn is_current<'a>(&'a self, fingerprint: &'a str) -> BoxFuture<'a, bool>;
    /// Calls `changed` whenever reads may go to another server from now
    /// on (a Sentinel master switch).
    fn on_change(&self, changed: Box<dyn Fn() + Send + Sync>) {
        let _ = changed;
    }
}

/// The settings of one channel.
pub(crate) struct Channel {
    pub(crate) target: Box<dyn Target>,
    /// The `PREFIX`es of `CLIENT TRACKING … BCAST`.
    pub(crate) prefixes: Vec<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
}

/// Starts the channel for `coherence`; dropping the returned sender stops it.
pub(crate) fn start(channel: Channel, coherence: &Arc<Coherence>) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel();
    let weak = Arc::downgrade(coherence);
    let switched = Arc::new(Notify::new());
    let (state, wake) = (weak.clone(), Arc::clone(&switched));
    channel.target.on_change(Box::new(move || {
        if let Some(state) = state.upgrade() {
            state.switched();
        }
        wake.notify_one();
    }));
    drop(io_handle().spawn(run(channel, weak, switched, stopped)));
    stop
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

async fn run(
    channel: Channel,
    coherence: Weak<Coherence>,
    switched: Arc<Notify>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut backoff = Duration::from_millis(20);
    loop {
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        let session = session(&channel, &coherence, &switched, generation);
        let started = tokio::time::Instant::now();
        let outcome = tokio::select! {
            _ = &mut stopped => return,
            outcome = session => outcome,
        };
        let Some(state) = coherence.upgrade() else {
            return;
        };
        state.lost(generation);
        drop(state);
        if let Err(e) = outcome {
            tracing::debug!(error = %e, "near cache: no invalidation channel; L1 unused until there is one");
        } else {
            tracing::debug!("near cache: invalidation channel lost; L1 flushed until it is back");
        }
        if started.elapsed() > MAX_BACKOFF * 2 {
            backoff = Duration::from_millis(20);
        }
        tokio::select! {
            _ = &mut stopped => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection per server, from connecting to the loss of any: `Ok`
/// once they were up and one is lost (or the view changed), `Err` if they
/// could not be set up.
async fn session(
    channel: &Channel,
    coherence: &Weak<Coherence>,
    switched: &Notify,
    generation: u64,
) -> crate::Result<()> {
    let view = channel.target.view().await?;
    let (dead, mut died) = mpsc::unbounded_channel::<()>();
    let mut connections = Vec::with_capacity(view.nodes.len());
    for (client, address) in &view.nodes {
        let pushed = coherence.clone();
        let dead = dead.clone();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(channel.connect_timeout))
            .set_response_timeout(Some(channel.response_timeout))
            .set_push_sender(move |info: PushInfo| {
                on_push(&pushed, generation, info, &dead);
                Ok::<(), ()>(())
            });
        let failed = |e: ::redis::RedisError| {
            crate::Error::with_source(
                crate::ErrorKind::Connection,
                format!("near cache: invalidation channel to {address}"),
                e,
            )
        };
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(failed)?;
        let mut tracking = ::redis::cmd("CLIENT");
        tracking.arg("TRACKING").arg("ON").arg("BCAST");
        for prefix in &channel.prefixes {
            tracking.arg("PREFIX").arg(prefix);
        }
        let () = tracking.query_async(&mut conn).await.map_err(failed)?;
        connections.push(conn);
    }
    if !channel.target.is_current(&view.fingerprint).await {
        return Ok(()); // reads go elsewhere already: connect there
    }
    {
        let Some(state) = coherence.upgrade() else {
            return Ok(());
        };
        state.established(generation);
    }
    loop {
        tokio::select! {
            _ = died.recv() => return Ok(()),
            () = switched.notified() => return Ok(()),
            () = tokio::time::sleep(HEARTBEAT) => {
                if !channel.target.is_current(&view.fingerprint).await {
                    return Ok(());
                }
                for conn in &mut connections {
                    let ping = ::redis::cmd("PING");
                    let alive = tokio::time::timeout(
                        channel.response_timeout,
                        ping.query_async::<Value>(conn),
                    )
                    .await;
                    if !matches!(alive, Ok(Ok(_))) {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Handles one push of the channel `generation`, on its connection's task:
/// evictions at once, the loss of the connection at once too.
fn on_push(
    coherence: &Weak<Coherence>,
    generation: u64,
    info: PushInfo,
    dead: &mpsc::UnboundedSender<()>,
) {
    let Some(state) = coherence.upgrade() else {
        return;
    };
    match info.kind {
        PushKind::Invalidate => {
            for data in info.data {
                match data {
                    Value::Array(keys) => {
                        for key in keys {
                            match key {
                                Value::BulkString(key) => state.invalidate(&key),
                                Value::SimpleString(key) => state.invalidate(key.as_bytes()),
                                // Not a key: evict everything rather than
                                // keep what it may have meant.
                                _ => state.flush(),
                            }
                        }
                    }
                    // `FLUSHALL`, `FLUSHDB`: every key.
                    _ => state.flush(),
                }
            }
        }
        PushKind::Disconnection => {
            state.lost(generation);
            let _ = dead.send(());
        }
        _ => {}
    }
}
