//! The groups of one cache's keys, hashed once: `<ns>|` for the keys given
//! to the `Cache` API, and `<ns>#<fn path>:<version>:` for each memoized
//! function, found again on every call by the addresses of the function's
//! constant names.

use std::sync::OnceLock;

use std::sync::Arc;

use super::ident::{Group, GroupRef, Interner};
use crate::key::Namespace;
use crate::memo::Memo;
use crate::observe::Function;

/// Slots for memoized functions; a function that finds its probe sequence
/// full builds its group on each call instead (correct, a little slower).
const SITES: usize = 128;
const PROBES: usize = 4;

/// One memoized function's group in one cache.
struct Site {
    owner: &'static str,
    name: &'static str,
    version: u32,
    group: Group,
    /// The function's statistics in this cache.
    function: Arc<Function>,
}

impl Site {
    #[inline]
    fn is(&self, memo: &Memo) -> bool {
        std::ptr::eq(self.name, memo.name)
            && std::ptr::eq(self.owner, memo.owner)
            && self.version == memo.version
    }
}

pub(crate) struct Groups {
    plain: Group,
    sites: Box<[OnceLock<Site>]>,
}

/// A memoized function's group and statistics: kept by the cache, or
/// built for this call.
pub(crate) enum MemoGroup<'a> {
    Kept(GroupRef<'a>, &'a Arc<Function>),
    Built(Group, Arc<Function>),
}

impl MemoGroup<'_> {
    #[inline]
    pub(crate) fn as_ref(&self) -> GroupRef<'_> {
        match self {
            Self::Kept(group, _) => *group,
            Self::Built(group, _) => group.as_ref(),
        }
    }

    /// The function's statistics in this cache.
    #[inline]
    pub(crate) fn function(&self) -> &Arc<Function> {
        match self {
            Self::Kept(_, function) => function,
            Self::Built(_, function) => function,
        }
    }
}

impl Groups {
    pub(crate) fn new(keys: &Namespace, interner: &Interner) -> Self {
        Self {
            plain: Group::new(keys.plain(), interner),
            sites: (0..SITES).map(|_| OnceLock::new()).collect(),
        }
    }

    /// `<ns>|`.
    #[inline]
    pub(crate) fn plain(&self) -> GroupRef<'_> {
        self.plain.as_ref()
    }

    /// The group of `memo`'s keys; `text` writes it, `function` finds the
    /// function's statistics.
    #[inline]
    pub(crate) fn memoized(
        &self,
        memo: &Memo,
        interner: &Interner,
        text: impl Fn() -> String,
        function: impl Fn() -> Arc<Function>,
    ) -> MemoGroup<'_> {
        let start = slot_of(memo);
        for probe in 0..PROBES {
            let slot = &self.sites[(start + probe) % SITES];
            let site = match slot.get() {
                Some(site) => site,
                None => slot.get_or_init(|| Site {
                    owner: memo.owner,
                    name: memo.name,
                    version: memo.version,
                    group: Group::new(&text(), interner),
                    function: function(),
                }),
            };
            if site.is(memo) {
                return MemoGroup::Kept(site.group.as_ref(), &site.function);
            }
        }
        MemoGroup::Built(Group::new(&text(), interner), function())
    }
}

#[inline]
fn slot_of(memo: &Memo) -> usize {
    let address = (memo.name.as_ptr() as usize) ^ (memo.owner.as_ptr() as usize).rotate_left(17);
    // The top seven bits of a multiplicative hash: one of the 128 slots.
    let mixed = (address as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    usize::try_from(mixed >> 57).unwrap_or(0) % SITES
}
