//! Single-flight: concurrent callers that miss the same key wait for one
//! computation instead of each running their own.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
pub(crate) struct Flights {
    /// Hashed like the memory store's keys (quick_cache's randomly seeded
    /// hasher): std's SipHash cost more than the rest of a miss's
    /// bookkeeping.
    running: Mutex<HashMap<String, Arc<Flight>, quick_cache::DefaultHashBuilder>>,
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

    /// Ends the flight: no caller joins it from now on.
    fn release(&mut self) {
        self.finished = true;
        self.flights
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.key);
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
