//! The near cache: a typed in-process tier (L1) in front of a remote store,
//! kept coherent by the store's invalidation messages.
//!
//! A hit is the memory store's hit: the value kept as a Rust value, cloned
//! in place, with no I/O, no decoding and no key text. What makes it safe
//! to serve is [`Coherence`]:
//!
//! - L1 is filled only from a remote read (or left empty), and only while
//!   the invalidation channel is up: a fill is admitted if no invalidation
//!   of its key (of its *stripe* of keys, to stay small) and no flush
//!   happened between the moment its read was sent and the moment the
//!   value is inserted. This is the placeholder technique of Redis's
//!   client-side caching documentation, with counters instead of
//!   placeholders: an invalidation that arrives while the read is in
//!   flight prevents the fill.
//! - An invalidation bumps its stripe, then evicts the key; a fill inserts,
//!   then checks its token again and evicts what it inserted if the token
//!   is stale. Whichever order the two take, the old value does not stay.
//! - Losing the channel (connection closed, silent, server restarted,
//!   master switched) marks L1 unusable, bumps the epoch and flushes it;
//!   it fills again only once tracking is re-established.
//! - The process's own writes evict the key locally once they return, so a
//!   process reads its own writes; the invalidation the server sends for
//!   them (to the tracking connection, which is not the writing one)
//!   arrives too.
//!
//! An entry expires no later than the remote one: its time to live is the
//! remaining TTL read with the value, counted from when the read was sent.

// Only a Redis store builds a near cache.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

#[cfg(feature = "redis")]
pub(crate) mod tracking;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use crate::backend::{MemoryBackend, Ttl};
use crate::cache::CacheValue;
use crate::codec::Format;
use crate::local::LocalTier;
use crate::Result;

/// The invalidation stripes: a key's invalidation refuses the in-flight
/// fills of the keys of its stripe (1 in `STRIPES`).
const STRIPES: usize = 4096;

/// The value under a key with its remaining time to live, as the remote
/// store gives them in one round trip.
pub(crate) struct Remote {
    /// The stored bytes, if the key holds a value.
    pub(crate) bytes: Option<Bytes>,
    /// The remaining time to live (`None`: the key does not expire).
    pub(crate) ttl: Option<Duration>,
}

/// The remote store's side of a near cache: reads with their TTL.
#[async_trait]
pub(crate) trait NearRemote: Send + Sync + 'static {
    /// The value under `key` and its remaining TTL.
    async fn get_with_ttl(&self, key: &str) -> Result<Remote>;
}

/// When and why L1 may be filled: the state of the invalidation channel,
/// and the counters the fills check.
pub(crate) struct Coherence {
    store: MemoryBackend,
    /// Whether the invalidation channel is up and tracking is on.
    healthy: AtomicBool,
    /// Bumped by every flush.
    epoch: AtomicU64,
    /// Bumped by every invalidation of a key of the stripe.
    stripes: Box<[AtomicU64]>,
    /// The connection whose loss flushes L1 (an older one's late
    /// disconnection does not).
    generation: AtomicU64,
    /// Invalidations and flushes, for the tests and the report.
    invalidations: AtomicU64,
    flushes: AtomicU64,
}

/// What a fill carries from before its read was sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    epoch: u64,
    stripe: usize,
    count: u64,
    sent: Instant,
}

fn stripe_of(key: &[u8]) -> usize {
    usize::try_from(xxh3_64(key) % STRIPES as u64).unwrap_or(0)
}

impl Coherence {
    fn new(store: MemoryBackend) -> Self {
        Self {
            store,
            healthy: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            generation: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        }
    }

    /// A token for a read of `full` about to be sent, if L1 may be filled.
    pub(crate) fn token(&self, full: &str) -> Option<Token> {
        if !self.healthy.load(Ordering::SeqCst) {
            return None;
        }
        let stripe = stripe_of(full.as_bytes());
        Some(Token {
            epoch: self.epoch.load(Ordering::SeqCst),
            stripe,
            count: self.stripes[stripe].load(Ordering::SeqCst),
            sent: Instant::now(),
        })
    }

    /// Whether nothing happened since `token` that forbids a fill.
    fn admits(&self, token: &Token) -> bool {
        self.healthy.load(Ordering::SeqCst)
            && self.epoch.load(Ordering::SeqCst) == token.epoch
            && self.stripes[token.stripe].load(Ordering::SeqCst) == token.count
    }

    /// Evicts `key` (an invalidation from the store, or this process's own
    /// write): in-flight fills of its stripe are refused.
    pub(crate) fn invalidate(&self, key: &[u8]) {
        self.stripes[stripe_of(key)].fetch_add(1, Ordering::SeqCst);
        if let Ok(text) = std::str::from_utf8(key) {
            self.store.remove(text);
        }
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// Evicts everything; in-flight fills are refused.
    pub(crate) fn flush(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.store.clear_all();
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// The invalidation channel `generation` is up, with tracking on: L1
    /// may fill from reads sent from now on.
    pub(crate) fn established(&self, generation: u64) {
        self.generation.store(generation, Ordering::SeqCst);
        // Fills of reads sent before this (none were admitted while down)
        // stay refused.
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.healthy.store(true, Ordering::SeqCst);
    }

    /// The invalidation channel `generation` is lost (closed, silent, or
    /// its server replaced): L1 is flushed and not filled until tracking
    /// is re-established. A late loss of an older channel does nothing.
    pub(crate) fn lost(&self, generation: u64) {
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        self.healthy.store(false, Ordering::SeqCst);
        self.flush();
    }

    /// Reads may go to another server than the tracked one from now on:
    /// L1 is flushed and unused until tracking is on there.
    pub(crate) fn switched(&self) {
        self.healthy.store(false, Ordering::SeqCst);
        self.flush();
    }

    /// Whether L1 is in use (tracking is on).
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }
}

/// A near cache: L1 and its coherence state, in front of a remote store.
pub(crate) struct Near {
    tier: LocalTier,
    coherence: Arc<Coherence>,
    remote: Arc<dyn NearRemote>,
    /// Dropped with the cache: ends the tracking task.
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Near {
    /// A near cache of at most `max_bytes` over `remote`, for the keys of
    /// `keys`. `track` starts the invalidation channel, given the state it
    /// keeps up to date, and returns what stops it.
    pub(crate) fn new(
        max_bytes: u64,
        keys: &crate::key::Namespace,
        remote: Arc<dyn NearRemote>,
        track: impl FnOnce(Arc<Coherence>) -> Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Self {
        let store = MemoryBackend::with_capacity(max_bytes);
        let coherence = Arc::new(Coherence::new(store.clone()));
        let stop = track(Arc::clone(&coherence));
        Self {
            tier: LocalTier::new(store, keys),
            coherence,
            remote,
            _stop: stop,
        }
    }

    /// The typed tier (for hits).
    #[inline]
    pub(crate) fn tier(&self) -> &LocalTier {
        &self.tier
    }

    pub(crate) fn coherence(&self) -> &Coherence {
        &self.coherence
    }

    pub(crate) fn remote(&self) -> &dyn NearRemote {
        &*self.remote
    }

    /// The bytes L1 holds, and its bound.
    pub(crate) fn store(&self) -> &MemoryBackend {
        &self.coherence.store
    }

    /// Keeps `value`, read under `full` with `token` and `ttl` left, if
    /// nothing invalidated it since the read was sent.
    pub(crate) fn fill<T: CacheValue>(
        &self,
        full: &str,
        value: &T,
        ttl: Option<Duration>,
        token: Token,
        format: &Format,
    ) {
        let ttl = match ttl {
            None => Ttl::Never,
            // Counted from when the read was sent: never past the remote
            // entry's expiry.
            Some(left) => match left.checked_sub(token.sent.elapsed()) {
                Some(left) if !left.is_zero() => Ttl::After(left),
                _ => return,
            },
        };
        if !self.coherence.admits(&token) {
            return;
        }
        if self.tier.insert(full, value, format, ttl).is_err() {
            return; // too large for L1: served from the store
        }
        if !self.coherence.admits(&token) {
            self.coherence.store.remove(full);
        }
    }

    /// Counts of invalidations and flushes so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.coherence.invalidations.load(Ordering::Relaxed),
            self.coherence.flushes.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    #[async_trait]
    impl NearRemote for Nothing {
        async fn get_with_ttl(&self, _key: &str) -> Result<Remote> {
            Ok(Remote {
                bytes: None,
                ttl: None,
            })
        }
    }

    fn near() -> Near {
        let keys = crate::key::Namespace::new("t");
        Near::new(1 << 20, &keys, Arc::new(Nothing), |_| None)
    }

    fn held(near: &Near, key: &str) -> Option<u32> {
        near.tier().peek_text::<u32>(key)
    }

    #[test]
    fn fills_only_while_tracking_is_on() {
        let near = near();
        let format = Format::new(crate::Codec::default());
        assert!(near.coherence().token("t|a").is_none(), "not established");
        near.coherence().established(1);
        let token = near.coherence().token("t|a").unwrap();
        near.fill("t|a", &1u32, None, token, &format);
        assert_eq!(held(&near, "t|a"), Some(1));
        near.coherence().lost(1);
        assert_eq!(held(&near, "t|a"), None, "a lost channel flushes");
        assert!(near.coherence().token("t|a").is_none());
    }

    #[test]
    fn an_invalidation_during_the_read_refuses_the_fill() {
        let near = near();
        let format = Format::new(crate::Codec::default());
        near.coherence().established(1);
        let token = near.coherence().token("t|a").unwrap();
        near.coherence().invalidate(b"t|a");
        near.fill("t|a", &1u32, None, token, &format);
        assert_eq!(held(&near, "t|a"), None);
        // Another key's invalidation (most likely of another stripe) does not.
        let token = near.coherence().token("t|a").unwrap();
        near.fill("t|a", &2u32, None, token, &format);
        assert_eq!(held(&near, "t|a"), Some(2));
        near.coherence().invalidate(b"t|a");
        assert_eq!(held(&near, "t|a"), None, "an invalidation evicts");
    }

    #[test]
    fn a_flush_or_a_reconnection_during_the_read_refuses_the_fill() {
        let near = near();
        let format = Format::new(crate::Codec::default());
        near.coherence().established(1);
        let token = near.coherence().token("t|a").unwrap();
        near.coherence().flush();
        near.fill("t|a", &1u32, None, token, &format);
        assert_eq!(held(&near, "t|a"), None);
        let token = near.coherence().token("t|a").unwrap();
        near.coherence().lost(1);
        near.coherence().established(2);
        near.fill("t|a", &1u32, None, token, &format);
        assert_eq!(held(&near, "t|a"), None);
        // A late loss of the first channel leaves the second one's L1.
        let token = near.coherence().token("t|a").unwrap();
        near.fill("t|a", &3u32, None, token, &format);
        near.coherence().lost(1);
        assert_eq!(held(&near, "t|a"), Some(3));
    }

    #[test]
    fn entries_expire_no_later_than_the_remote_ones() {
        let near = near();
        let format = Format::new(crate::Codec::default());
        near.coherence().established(1);
        let token = near.coherence().token("t|a").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        near.fill(
            "t|a",
            &1u32,
            Some(Duration::from_millis(10)),
            token,
            &format,
        );
        assert_eq!(held(&near, "t|a"), None, "already expired remotely");
        let token = near.coherence().token("t|a").unwrap();
        near.fill(
            "t|a",
            &1u32,
            Some(Duration::from_millis(50)),
            token,
            &format,
        );
        assert_eq!(held(&near, "t|a"), Some(1));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(held(&near, "t|a"), None);
    }
}
