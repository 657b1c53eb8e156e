//! Tags: invalidating a group of entries at once, in every process.
//!
//! An entry written with tags, by [`Cache::set_with_tags`](crate::Cache::set_with_tags),
//! [`Cache::get_or_set_with_tags`](crate::Cache::get_or_set_with_tags) or a
//! memoized function's `tags = [...]`, is removed by
//! [`Cache::invalidate_tag`](crate::Cache::invalidate_tag) of any of them:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use cache_core::{memoize, Cache};
//!
//! static CACHE: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(Cache::default);
//!
//! // Every entry of this function carries the tag of its user and team.
//! #[memoize(cache = CACHE, tags = ["user:{user_id}", "team:{team_id}"])]
//! async fn dashboard(user_id: u64, team_id: u64) -> String {
//!     format!("dashboard of {user_id} in {team_id}")
//! }
//!
//! dashboard(5, 2).await;
//! dashboard(6, 2).await;
//! CACHE.set_with_tags("avatar:5", &[0u8; 4], None, &["user:5"]).await?;
//!
//! assert_eq!(CACHE.invalidate_tag("user:5").await?, 2); // dashboard(5, 2) and avatar:5
//! assert_eq!(CACHE.invalidate_tag("team:2").await?, 1); // dashboard(6, 2)
//! # Ok(())
//! # }
//! ```
//!
//! Tags are any strings (`*`, `?`, `[`, NUL: all literal), and belong to a
//! cache prefix: `invalidate_tag("user:5")` on a cache removes that
//! cache's entries only, never those another prefix tagged `user:5` in
//! the same store. In a macro, `tags = ["user:{id}"]` renders each
//! template as `key = "…"` does: placeholders name arguments, and the
//! values are written with `Display` and escaped, every byte but ASCII
//! letters, digits, `-`, `.`, `_` and `~` as `%XX`. An integer or a plain
//! word reads as itself (`user:5`, `lang:en`); to invalidate the tag of
//! any other value, write it with [`escape`]:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use cache_core::{memoize, tags, Cache};
//!
//! static CACHE: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(Cache::default);
//!
//! #[memoize(cache = CACHE, tags = ["author:{name}"])]
//! async fn books_by(name: &str) -> Vec<String> {
//!     vec![format!("a book by {name}")]
//! }
//!
//! books_by("Ursula K. Le Guin").await;
//! let tag = format!("author:{}", tags::escape(&"Ursula K. Le Guin")?);
//! assert_eq!(tag, "author:Ursula%20K.%20Le%20Guin");
//! assert_eq!(CACHE.invalidate_tag(&tag).await?, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # How it works: one index per tag
//!
//! Each tag has an index in the store, under the cache's namespace: the
//! key `<ns>!<tag>` (see [`key::Namespace`](crate::key::Namespace): the
//! third marker after `|` for the API's keys and `#` for memoized keys,
//! so an index is never a user key, and [`Cache::clear`](crate::Cache::clear)
//! removes the indexes with the entries). A tagged write stores the value,
//! then lists its key in the index of each tag. `invalidate_tag` takes the
//! index (reads and removes it in one atomic step) and deletes the keys
//! it listed.
//!
//! - **Cost.** A tagged write adds one index update per tag; a read pays
//!   nothing. An invalidation costs the number of entries under the tag,
//!   whatever the number of keys in the store (`tests/benches/tags.rs`
//!   measures it in a keyspace of 100,000 and of 1,000,000 keys).
//! - **Redis.** An index is a sorted set: its members are the full keys,
//!   its scores the server time until which each must stay listed (the
//!   entry's TTL from the moment it was listed, plus a second; `inf` for
//!   an entry that never expires). One Lua script per index and write
//!   lists the key, first dropping the members whose time has passed
//!   (so an index stays the size of its live entries), and makes the
//!   index expire with its last member. On a standalone server (and
//!   through Sentinel, which is a standalone master found by discovery)
//!   the `SET` and the scripts go in one pipelined round trip. On a
//!   cluster, an entry and its indexes are in different slots in general:
//!   the `SET` goes first, then the scripts, each to the node of its
//!   index. Taking an index is one script about that one key (`ZRANGE` of
//!   the members still listed, then `UNLINK`), so it is atomic on a
//!   cluster too; the keys are then removed with `UNLINK`, one command per
//!   key on a cluster, all sent at once, each to its own slot.
//! - **Memory.** The indexes sit beside the entries of the
//!   [`MemoryBackend`](crate::MemoryBackend), in locked shards, each key
//!   with its entry's expiry. A shard is swept when the keys it lists have
//!   doubled since its last sweep: keys whose entry expired, was evicted
//!   or was deleted are dropped, so the indexes stay within about twice
//!   the tagged entries held, at an amortized constant cost per write.
//!   They are not counted in the store's capacity.
//!
//! # Guarantees
//!
//! - Every entry whose tagged write returned before `invalidate_tag`
//!   started is gone when `invalidate_tag` returns successfully, in every
//!   process sharing the store.
//! - A write racing with the invalidation is either removed or stays
//!   listed under the tag, for the next invalidation: the value is
//!   written before it is listed, so an index taken in between leaves
//!   the value in place, and the listing that follows goes to the new
//!   index. No tagged value escapes its tags: if listing fails, the
//!   value is removed (best effort, and the write reports the error).
//! - As with [`delete`](crate::Cache::delete), a value computed from data
//!   older than the change that prompted the invalidation, and written
//!   after it (a slow read-through racing with an update), survives until
//!   its timeout. Invalidate after the change is committed, and keep
//!   timeouts bounded where this matters.
//! - An index may list more than the tag's live entries (an entry
//!   deleted, or overwritten without the tag, stays listed until its
//!   time passes): invalidating the tag then also removes such a key,
//!   never leaves a tagged one.
//! - `invalidate_tag` is a write whose loss would leave stale data: its
//!   errors are always returned, whatever
//!   [`ignore_errors`](crate::CacheBuilder::ignore_errors) says (as for
//!   the generated `<fn>_invalidate` and for `clear`). If the keys cannot
//!   be removed once the index is taken, they are listed again, so a
//!   retry finishes the job. On a cluster, redis-rs resends a request
//!   whose connection was lost mid-flight; a take resent that way finds
//!   an empty index, and the keys the first reply carried stay until
//!   their timeout.
//!
//! # Compared with FusionCache
//!
//! FusionCache (.NET) invalidates lazily: `RemoveByTag` writes a
//! timestamp for the tag, as a cache entry of its own, and every read of
//! a tagged entry compares the entry's creation time with the timestamps
//! of its tags, treating it as expired when a tag is newer (its `Clear()`
//! is the same trick with a special tag). Removing a tag is O(1) however
//! many entries carry it, and no index is kept; in exchange every read
//! of a tagged entry also reads its tags' timestamps (cached in the
//! memory level, which is why FusionCache pairs it with a backplane to
//! tell other nodes), entries must carry their tags and creation time in
//! their envelope, and invalidated entries keep their memory until they
//! expire or are read.
//!
//! Here reads stay a single `GET` (or an in-process lookup with no
//! decoding): a hit must not pay for tags. Invalidation pays instead,
//! once, in proportion to what it removes, and frees the memory at once.
//! Neither design catches, by itself, a value computed before an update
//! and written after its invalidation: both judge an entry by when it is
//! written.

use std::fmt;

use crate::Result;

/// `value` written with `Display` and escaped as the macros' tag (and key)
/// templates write a placeholder's value: ASCII letters, digits, `-`, `.`,
/// `_` and `~` as they are, every other byte as `%XX`. Use it to build the
/// tag a `tags = ["…{arg}…"]` template gave an entry.
///
/// # Errors
///
/// [`ErrorKind::Codec`](crate::ErrorKind::Codec) if `value`'s `Display`
/// fails.
///
/// ```
/// assert_eq!(cache_core::tags::escape(&42)?, "42");
/// assert_eq!(cache_core::tags::escape(&"a b:c*")?, "a%20b%3Ac%2A");
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn escape(value: &impl fmt::Display) -> Result<String> {
    crate::template::escape_value(value)
}
