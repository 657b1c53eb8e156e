//! Single-flight: concurrent callers that miss the same key wait for one
//! computation instead of each running their own.

use std::any::Any;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

/// How many counters of ended flights there are; keys share one when
/// their hashes fall in the same stripe.
const STRIPES: usize = 256;

pub(crate) struct Flights {
    /// Hashed like the memory store's keys (quick_cache's randomly seeded
    /// hasher): std's SipHash cost more than the rest of a miss's
    /// bookkeeping.
    running: Mutex<HashMap<String, Arc<Flight>, quick_cache::DefaultHashBuilder>>,
    /// How many flights have ended, per stripe of keys: see [`Mark`].
    ended: [AtomicU64; STRIPES],
    /// Picks a key's stripe.
    stripes: quick_cache::DefaultHashBuilder,
}

impl Default for Flights {
    fn default() -> Self {
        Self {
            running: Mutex::default(),
            ended: std::array::from_fn(|_| AtomicU64::new(0)),
            stripes: quick_cache::DefaultHashBuilder::default(),
        }
    }
}

/// Taken before a read of the store, to tell afterwards whether a flight of
/// that key may have ended since ([`Flights::ended_since`]).
///
/// A caller that misses and then finds no flight to join may have read
/// the store just before a leader's write, and joined just after that
/// leader ended its flight: the value is stored, and computing again would
/// break single-flight. A flight ends only once its value is written, so if
/// no flight of the key ended since the mark, the miss is still true when
/// the caller becomes leader; if one did, the caller reads again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    stripe: usize,
    ended: u64,
}

#[derive(Default)]
pub(crate) struct Flight {
    state: Mutex<State>,
    done: Notify,
}

#[derive(Default)]
enum State {
    #[default]
    Running,
    Done(Shared),
    Abandoned,
}

pub(crate) enum Join<'a> {
    /// This caller computes; the others wait for it.
    Leader(Leader<'a>),
    /// Another caller is computing this key.
    Follower(Arc<Flight>),
}

impl Flights {
    fn stripe(&self, key: &str) -> usize {
        // The low bits of the hash pick the stripe; the cast keeps them.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the low bits of the hash pick the stripe"
        )]
        let low = self.stripes.hash_one(key) as usize;
        low % STRIPES
    }

    /// A [`Mark`] for `key`, to take before reading the store.
    pub(crate) fn mark(&self, key: &str) -> Mark {
        let stripe = self.stripe(key);
        Mark {
            stripe,
            // Acquire: pairs with the release of an ending flight, whose
            // write to the store then precedes the read that follows.
            ended: self.ended[stripe].load(Ordering::Acquire),
        }
    }

    /// Whether a flight of the marked key (or of a key in its stripe) has
    /// ended since `mark` was taken. Exact once the caller has joined: a
    /// flight that ended before [`join`](Self::join) did so under the lock
    /// `join` took next.
    pub(crate) fn ended_since(&self, mark: Mark) -> bool {
        self.ended[mark.stripe].load(Ordering::Acquire) != mark.ended
    }

    /// Whether a computation of `key` is running in this process.
    pub(crate) fn is_running(&self, key: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(key)
    }

    pub(crate) fn join<'a>(&'a self, key: &'a str) -> Join<'a> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = running.get(key) {
            return Join::Follower(Arc::clone(flight));
        }
        let flight = Arc::new(Flight::default());
        running.insert(key.to_owned(), Arc::clone(&flight));
        Join::Leader(Leader {
            flights: self,
            key,
            flight,
            finished: false,
        })
    }
}

impl Flight {
    /// Waits for the leader. `None` when it gave up (its computation failed
    /// or was cancelled): the caller should try again.
    pub(crate) async fn wait(&self) -> Option<Shared> {
        loop {
            let notified = self.done.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
                State::Running => {}
                State::Done(value) => return Some(Arc::clone(value)),
                State::Abandoned => return None,
            }
            notified.await;
        }
    }
}

/// The computing caller's handle. Dropping it without [`Leader::finish`]
/// (an error, a panic, a cancelled future) releases the waiters.
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: &'a str,
    flight: Arc<Flight>,
    finished: bool,
}

impl Leader<'_> {
    /// Hands the value to the waiters; `value` is only called if there are
    /// any (most computations have none, and a shared copy costs a clone).
    pub(crate) fn finish(mut self, value: impl FnOnce() -> Shared) {
        self.release();
        // Followers join under the lock `release` took; once the key is
        // removed no new one can, so this count is final.
        if Arc::strong_count(&self.flight) > 1 {
            self.publish(State::Done(value()));
        }
    }

    /// Ends the flight: no caller joins it from now on. Counted under the
    /// lock, before the key goes: a caller that joins next and leads sees
    /// the count (see [`Mark`]).
    fn release(&mut self) {
        self.finished = true;
        let stripe = self.flights.stripe(self.key);
        let mut running = self
            .flights
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.flights.ended[stripe].fetch_add(1, Ordering::Release);
        running.remove(self.key);
    }

    fn publish(&self, state: State) {
        *self
            .flight
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = state;
        self.flight.done.notify_waiters();
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.release();
            self.publish(State::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Flights, Join};

    fn lead<'a>(flights: &'a Flights, key: &'a str) -> super::Leader<'a> {
        match flights.join(key) {
            Join::Leader(leader) => leader,
            Join::Follower(_) => panic!("no flight of {key} is running"),
        }
    }

    #[test]
    fn a_mark_sees_a_flight_of_its_key_that_ended_after_it() {
        let flights = Flights::default();
        let before = flights.mark("k");
        let leader = lead(&flights, "k");
        assert!(!flights.ended_since(before), "still running");
        leader.finish(|| Arc::new(1u32));
        assert!(flights.ended_since(before), "finished");

        let before = flights.mark("k");
        drop(lead(&flights, "k"));
        assert!(flights.ended_since(before), "abandoned counts too");
    }

    #[test]
    fn a_mark_taken_after_a_flight_ended_does_not_see_it() {
        let flights = Flights::default();
        lead(&flights, "k").finish(|| Arc::new(1u32));
        let after = flights.mark("k");
        assert!(!flights.ended_since(after));
    }
}
