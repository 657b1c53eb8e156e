//! The first step of a memoized call, before its arguments move into the
//! body: the in-process (memory or near cache) lookup, whose hit needs no
//! allocation, no future and no decoding, or the call's target.

use std::sync::Arc;

use super::{full_key, KeyArgs, Memo, Target, Template, Value};
use crate::key::{EncodedArgs, KeyOut as _, StackKey};
use crate::local::Ident;
use crate::observe::{spans, Emit, Function, Outcome};
use crate::{Cache, CacheValue, Result};

/// The in-memory lookup: on a hit no allocation, no future, no decoding,
/// no key text; on a miss the key it built, for the computation. `None`
/// when the store is not in memory.
#[inline]
fn local_lookup<T>(cache: &Cache, memo: &Memo, args: &impl KeyArgs) -> Option<Lookup<T>>
where
    T: CacheValue,
{
    let local = cache.local()?;
    let mut encoded = EncodedArgs::new();
    match args.encode(&mut encoded) {
        Some(Ok(())) => {}
        Some(Err(e)) => return Some(Lookup::Miss(Err(e))),
        None => {
            let span = spans::call(cache, memo.name, memo.owner);
            return Some(text_lookup(cache, local, memo, args, span));
        }
    }
    let memo_group = group_of(cache, local, memo);
    let group = memo_group.as_ref();
    let (form, tail) = encoded.tail();
    // Only a value kept as a `T` is a hit here; anything else (a miss,
    // bytes, another type) is read, decoded, logged and counted once by
    // the read that follows in `compute`.
    // A counted read: a value kept as a `T` is cloned, anything else (bytes,
    // another type of the same shape) is decoded, and what cannot be read
    // is logged; the computation that follows a miss does not read again.
    // The miss is counted by the computation that follows, as a miss or as
    // a coalesced wait.
    let ident = Ident::new(group, form, tail);
    let found = if cache.reads_timed(memo.policy) {
        cache.read_local_fresh::<T>(local, &ident)
    } else {
        cache.read_local_uncounted::<T>(local, &ident)
    };
    if let Some(value) = found {
        // The span exists only for a subscriber that enables it: a hit
        // with none builds nothing.
        let span = spans::call(cache, memo.name, memo.owner);
        hit(cache, memo_group.function(), &span, || ident.text());
        return Some(Lookup::Hit(value));
    }
    let span = spans::call(cache, memo.name, memo.owner);
    let mut full = String::with_capacity(group.text().len() + 2 * tail.len() + 1);
    full.push_str(group.text());
    encoded.write_to(&mut full);
    let function = Arc::clone(memo_group.function());
    Some(Lookup::Missed(Box::new(Target::of_call(
        full, function, span,
    ))))
}

/// The group of `memo`'s keys in `tier` (the memory store or the near
/// cache), made on first use with the function's key prefix and its
/// statistics.
#[inline]
fn group_of<'a>(
    cache: &Cache,
    tier: &'a crate::local::LocalTier,
    memo: &Memo,
) -> crate::local::groups::MemoGroup<'a> {
    tier.memo_group(
        memo,
        || {
            let mut text = String::from(cache.memo_prefix());
            memo.write_prefix(&mut text);
            text
        },
        || cache.observer().functions.of(memo),
    )
}

/// Reports an in-process hit; `key` renders the key, only for a listener
/// or a `trace` subscriber.
#[inline]
fn hit(cache: &Cache, function: &Function, span: &tracing::Span, key: impl Fn() -> String) {
    spans::outcome(span, Outcome::Hit);
    spans::key(span, &key);
    if cache.observer().has_listener() {
        heard_hit(cache, function, &key);
    } else {
        cache.function_hit(function);
    }
}

/// [`hit`] with a listener, which gets the key.
#[cold]
#[inline(never)]
fn heard_hit(cache: &Cache, function: &Function, key: &dyn Fn() -> String) {
    cache.outcome(Some(function), Some(&key()), Outcome::Hit);
}

/// The near cache's first look: on a hit (a value kept as a `T`) no
/// allocation, no future, no decoding, no key text; otherwise the key, for
/// the read of the store that follows. `None` without a near cache, or for
/// a key not written as hex (a template: the read that follows looks in
/// the near cache by the key's text).
#[inline]
fn near_lookup<T>(cache: &Cache, memo: &Memo, args: &impl KeyArgs) -> Option<Lookup<T>>
where
    T: CacheValue,
{
    let tier = cache.near()?.tier();
    if cache.reads_timed(memo.policy) {
        // Kept with a logical expiry: read through the policy's path.
        return None;
    }
    let mut encoded = EncodedArgs::new();
    match args.encode(&mut encoded)? {
        Ok(()) => {}
        Err(e) => return Some(Lookup::Miss(Err(e))),
    }
    let span = spans::call(cache, memo.name, memo.owner);
    let memo_group = group_of(cache, tier, memo);
    let group = memo_group.as_ref();
    let (form, tail) = encoded.tail();
    let ident = Ident::new(group, form, tail);
    if let Some(value) = tier.peek::<T>(&ident) {
        hit(cache, memo_group.function(), &span, || ident.text());
        return Some(Lookup::Hit(value));
    }
    let mut full = String::with_capacity(group.text().len() + 2 * tail.len() + 1);
    full.push_str(group.text());
    encoded.write_to(&mut full);
    let function = Arc::clone(memo_group.function());
    Some(Lookup::Miss(Ok(Box::new(Target::of_call(
        full, function, span,
    )))))
}

/// [`local_lookup`] of a key that is not written as hex (a template): by
/// the key's text.
fn text_lookup<T: CacheValue>(
    cache: &Cache,
    local: &crate::local::LocalTier,
    memo: &Memo,
    args: &impl KeyArgs,
    span: tracing::Span,
) -> Lookup<T> {
    let mut full = StackKey::new();
    full.push_str(cache.memo_prefix());
    memo.write_prefix(&mut full);
    if let Err(e) = args.write(&mut full) {
        return Lookup::Miss(Err(e));
    }
    let function = cache.observer().functions.of(memo);
    let Ok(text) = std::str::from_utf8(full.as_bytes()) else {
        return Lookup::Miss(Ok(Box::new(Target::of_call(
            full.into_string(),
            function,
            span,
        ))));
    };
    let mut buf = crate::local::TailBuf::new();
    match cache.read_local_uncounted::<T>(local, &crate::local::ident::parse(text, &mut buf)) {
        Some(value) => {
            hit(cache, &function, &span, || text.to_owned());
            Lookup::Hit(value)
        }
        None => Lookup::Missed(Box::new(Target::of_call(text.to_owned(), function, span))),
    }
}

pub(crate) fn key_error(cache: &Cache, memo: &Memo, e: &crate::Error) {
    let function = cache.observer().functions.of(memo);
    cache.emit(
        Some(&function),
        None,
        Emit::Error {
            kind: e.kind(),
            op: "key",
        },
    );
    tracing::warn!(function = memo.name, owner = memo.owner, error = %e, "cannot build the cache key; calling the function uncached");
}

/// One call looked up before its arguments move into the function body
/// (the key borrows them; the body may consume them): the value of an
/// in-process hit, or where to compute and store it.
#[derive(Debug)]
pub enum Lookup<T> {
    /// An in-process hit: no allocation, no future, no decoding.
    Hit(T),
    /// Not looked up yet (a remote store, read by the computation): the
    /// full key (and tags), or why it could not be built.
    Miss(Result<Box<Target>>),
    /// Looked up in process and not found (the miss is counted): the full
    /// key (and tags).
    Missed(Box<Target>),
}

/// Looks a call up; pass the result to [`call_sync`](super::call_sync) or
/// [`call_async`](super::call_async).
#[inline]
pub fn lookup<T: Value>(cache: &Cache, memo: &Memo, args: &impl KeyArgs) -> Lookup<T> {
    if let Some(found) = local_lookup(cache, memo, args) {
        return found;
    }
    near_lookup(cache, memo, args).unwrap_or_else(|| {
        Lookup::Miss(full_key(cache, memo, args).map(|full| {
            let span = spans::call(cache, memo.name, memo.owner);
            Box::new(Target::of_call(
                full,
                cache.observer().functions.of(memo),
                span,
            ))
        }))
    })
}

/// The full index keys of a function's `tags = [...]`, rendered for one
/// call with the key templates' escaping.
pub(super) fn render_tags(cache: &Cache, tags: &[Template<'_>]) -> Result<Vec<String>> {
    tags.iter()
        .map(|tag| {
            let mut key = String::from(cache.tag_prefix());
            tag.write(&mut key)?;
            Ok(key)
        })
        .collect()
}

/// [`lookup`] for a function with `tags = [...]`: the tags are rendered
/// on a miss only (a hit needs none), before the arguments move.
#[inline]
pub fn lookup_tagged<T: Value>(
    cache: &Cache,
    memo: &Memo,
    args: &impl KeyArgs,
    tags: &[Template<'_>],
) -> Lookup<T> {
    match lookup(cache, memo, args) {
        Lookup::Miss(Ok(mut target)) => Lookup::Miss(render_tags(cache, tags).map(|tags| {
            target.tags = tags;
            target
        })),
        Lookup::Missed(mut target) => match render_tags(cache, tags) {
            Ok(tags) => {
                target.tags = tags;
                Lookup::Missed(target)
            }
            Err(e) => Lookup::Miss(Err(e)),
        },
        other => other,
    }
}
