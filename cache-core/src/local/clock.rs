//! The clock of the in-process store's hit path.
//!
//! Reading the clock is a tenth or more of a hit (a `clock_gettime` call
//! where the CPU's counter cannot be used, as in many virtual machines).
//! So a thread of this crate publishes a *recent* time every
//! [`TICK`] (ten wake-ups a second, nothing else), and a hit on an entry
//! with more than [`MARGIN`] of life left by that recent time needs no
//! clock read. An entry closer to its expiry reads the real clock, so
//! expiry stays exact unless that thread is kept from running for longer
//! than `MARGIN - TICK`; should it be, an entry is served at most that
//! much past its expiry.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// How often the recent time is published.
const TICK: Duration = Duration::from_millis(100);

/// How much life an entry must have left, by the recent time, to be live
/// without a clock read.
const MARGIN: Duration = Duration::from_secs(1);

struct Shared {
    clock: quanta::Clock,
    /// When the thread started; `recent` counts from here.
    base: quanta::Instant,
}

static SHARED: OnceLock<Shared> = OnceLock::new();
/// Nanoseconds from `base` to the last published time.
static RECENT: AtomicU64 = AtomicU64::new(0);
/// Whether the publishing thread runs (it never stops once started).
static RUNNING: AtomicBool = AtomicBool::new(false);

/// The clock every memory store with the real clock shares, with the
/// publishing thread started (once per process).
pub(crate) fn shared() -> quanta::Clock {
    let shared = SHARED.get_or_init(|| {
        let clock = quanta::Clock::new();
        let base = clock.now();
        let ticker = clock.clone();
        let started = std::thread::Builder::new()
            .name("cache-clock".into())
            .spawn(move || loop {
                let nanos = ticker.now().saturating_duration_since(base).as_nanos();
                RECENT.store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Release);
                RUNNING.store(true, Ordering::Release);
                std::thread::sleep(TICK);
            });
        if let Err(e) = started {
            tracing::debug!(error = %e, "cannot start the clock thread; every hit reads the clock");
        }
        Shared { clock, base }
    });
    shared.clock.clone()
}

/// Whether an entry expiring `at` is certainly live by the recent time
/// (`false` means: read the clock).
#[inline]
pub(crate) fn surely_live(at: quanta::Instant) -> bool {
    if !RUNNING.load(Ordering::Acquire) {
        return false;
    }
    let Some(shared) = SHARED.get() else {
        return false;
    };
    let recent = Duration::from_nanos(RECENT.load(Ordering::Acquire));
    shared
        .base
        .checked_add(recent + MARGIN)
        .is_some_and(|safe| safe < at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_entries_far_from_expiry_skip_the_clock() {
        let clock = shared();
        while !RUNNING.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let now = clock.now();
        let later = |d: Duration| now.checked_add(d).unwrap();
        assert!(surely_live(later(Duration::from_secs(30))));
        assert!(
            !surely_live(later(Duration::from_millis(500))),
            "within the margin: read the clock"
        );
        assert!(!surely_live(now));
        // The published time moves on.
        let first = RECENT.load(Ordering::Acquire);
        std::thread::sleep(TICK * 3);
        assert!(RECENT.load(Ordering::Acquire) > first);
    }
}
