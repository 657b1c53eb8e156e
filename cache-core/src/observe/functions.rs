//! Per-function statistics: one entry per memoized function that ran with
//! a cache, found by the function's path in a table without locks. The
//! in-memory hit path does not look here: the cache's group of the
//! function's keys keeps its entry (see `local::groups`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::memo::Memo;
use crate::stats::Counters;

const SLOTS: usize = 256;
const PROBES: usize = 8;

/// One memoized function in one cache: its path and counters (and metric
/// handles, registered at its first event).
pub(crate) struct Function {
    owner: &'static str,
    name: &'static str,
    path: Box<str>,
    pub(crate) stats: Counters,
    #[cfg(feature = "metrics")]
    pub(super) metrics: OnceLock<super::metrics::Handles>,
}

impl Function {
    fn new(memo: &Memo) -> Self {
        Self {
            owner: memo.owner,
            name: memo.name,
            path: format!("{}::{}", memo.owner, memo.name).into_boxed_str(),
            stats: Counters::default(),
            #[cfg(feature = "metrics")]
            metrics: OnceLock::new(),
        }
    }

    /// `module::function` (for methods, `Type::method`).
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    #[inline]
    fn is(&self, memo: &Memo) -> bool {
        (std::ptr::eq(self.name, memo.name) || self.name == memo.name)
            && (std::ptr::eq(self.owner, memo.owner) || self.owner == memo.owner)
    }
}

/// The functions of one cache: a table probed by address, and a map for
/// the functions that find their probe sequence full.
pub(crate) struct Functions {
    slots: Box<[OnceLock<Arc<Function>>]>,
    overflow: Mutex<HashMap<Box<str>, Arc<Function>>>,
}

impl Default for Functions {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
            overflow: Mutex::default(),
        }
    }
}

impl Functions {
    /// The entry of `memo`'s function, made at its first call.
    #[inline]
    pub(crate) fn of(&self, memo: &Memo) -> Arc<Function> {
        let start = slot_of(memo);
        for probe in 0..PROBES {
            let slot = &self.slots[(start + probe) % SLOTS];
            let function = slot.get_or_init(|| Arc::new(Function::new(memo)));
            if function.is(memo) {
                return Arc::clone(function);
            }
        }
        let path = format!("{}::{}", memo.owner, memo.name).into_boxed_str();
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            overflow
                .entry(path)
                .or_insert_with(|| Arc::new(Function::new(memo))),
        )
    }

    /// The entry of `memo`'s function if it ran with this cache.
    pub(crate) fn find(&self, memo: &Memo) -> Option<Arc<Function>> {
        let start = slot_of(memo);
        for probe in 0..PROBES {
            match self.slots[(start + probe) % SLOTS].get() {
                Some(function) if function.is(memo) => return Some(Arc::clone(function)),
                Some(_) => {}
                None => return None,
            }
        }
        let path = format!("{}::{}", memo.owner, memo.name);
        let overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        overflow.get(path.as_str()).cloned()
    }

    /// Every function.
    pub(crate) fn all(&self) -> Vec<Arc<Function>> {
        let overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        self.slots
            .iter()
            .filter_map(OnceLock::get)
            .chain(overflow.values())
            .cloned()
            .collect()
    }
}

/// The first slot of a function: by its path's text, as the same function
/// reaches here through several copies of its names (the function, its
/// generated helpers).
#[inline]
fn slot_of(memo: &Memo) -> usize {
    let hash = xxhash_rust::xxh3::xxh3_64(memo.owner.as_bytes())
        ^ xxhash_rust::xxh3::xxh3_64(memo.name.as_bytes()).rotate_left(17);
    usize::try_from(hash >> 56).unwrap_or(0) % SLOTS
}
