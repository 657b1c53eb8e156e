//! The commands the store sends.

use ::redis::{Cmd, Pipeline};

use crate::backend::Ttl;
use crate::{Error, ErrorKind, Result};

/// One request: a command, or a pipeline (possibly a transaction).
#[derive(Clone, Copy)]
pub(super) enum Request<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

/// Whether a `SET` replaces what the key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetMode {
    /// `SET`: store whatever the key holds.
    Always,
    /// `SET … NX`: store only if the key holds nothing (`add`).
    IfAbsent,
}

/// `SET key value [NX] [PX ms]`.
pub(super) fn set_cmd(key: &str, value: &[u8], ttl: Ttl, mode: SetMode) -> Cmd {
    let mut cmd = ::redis::cmd("SET");
    cmd.arg(key).arg(value);
    if mode == SetMode::IfAbsent {
        cmd.arg("NX");
    }
    if let Some(ms) = ttl.as_millis() {
        cmd.arg("PX").arg(ms);
    }
    cmd
}

/// Creates a missing counter at 0 with its TTL (`SET NX PX`), then adds
/// to it: one command, atomic on the server, about one key. Unlike a
/// `MULTI`/`EXEC` transaction, it is routed and redirected like any
/// single-key command on a cluster (`MOVED`, `ASK` while its slot moves),
/// and an error reaches the caller as itself, not as an aborted `EXEC`.
const INCR_WITH_TTL: &str = "redis.call('SET', KEYS[1], '0', 'NX', 'PX', ARGV[2]) \
return redis.call('INCRBY', KEYS[1], ARGV[1])";

/// The command behind `incr`: the [`INCR_WITH_TTL`] script, so that a new
/// counter never lives without its TTL and an existing one keeps its own;
/// a plain `INCRBY` when the counter never expires.
pub(super) fn incr_cmd(key: &str, delta: i64, ttl: Ttl) -> Cmd {
    if let Some(ms) = ttl.as_millis() {
        let mut cmd = ::redis::cmd("EVAL");
        cmd.arg(INCR_WITH_TTL).arg(1).arg(key).arg(delta).arg(ms);
        cmd
    } else {
        let mut cmd = ::redis::cmd("INCRBY");
        cmd.arg(key).arg(delta);
        cmd
    }
}

/// Lists a key in a tag's index, a sorted set whose scores say until when
/// (the server's clock, in milliseconds) each key must stay listed: its
/// entry's TTL from now, plus [`TAG_SLACK_MS`] (added by
/// [`tag_add_cmd`]), or `inf` for an entry that never expires. Before adding, drops the keys whose time has passed, so
/// an index that is written to stays the size of its live entries; after,
/// makes the index itself expire with its last key (or never). One
/// script, about one key: atomic, and routed by that key on a cluster.
///
/// `KEYS[1]`: the index; `ARGV[1]`: the key listed; `ARGV[2]`: how long
/// to keep it listed, in milliseconds, `0` for ever.
const TAG_ADD: &str = "local t=redis.call('TIME') local now=t[1]*1000+math.floor(t[2]/1000) \
redis.call('ZREMRANGEBYSCORE',KEYS[1],'-inf','('..now) \
local ms=tonumber(ARGV[2]) \
if ms==0 then redis.call('ZADD',KEYS[1],'inf',ARGV[1]) return redis.call('PERSIST',KEYS[1]) end \
redis.call('ZADD',KEYS[1],now+ms,ARGV[1]) \
local last=redis.call('ZRANGE',KEYS[1],-1,-1,'WITHSCORES') \
if last[2]=='inf' then return 0 end \
return redis.call('PEXPIREAT',KEYS[1],last[2])";

/// How much longer than its entry a key stays listed: a clock step on the
/// index's node smaller than this does not unlist a live entry. (The
/// index's node counts the entry's TTL from after the entry was written,
/// so no slack is needed otherwise, even across the nodes of a cluster.)
const TAG_SLACK_MS: u64 = 1_000;

/// Takes a tag's index: returns the keys still listed (those whose time
/// has not passed) and removes the index, atomically. `KEYS[1]`: the index.
const TAG_TAKE: &str = "local t=redis.call('TIME') local now=t[1]*1000+math.floor(t[2]/1000) \
local keys=redis.call('ZRANGEBYSCORE',KEYS[1],now,'+inf') \
redis.call('UNLINK',KEYS[1]) return keys";

/// The command that lists `key` in the index `tag` for an entry of `ttl`
/// (see [`TAG_ADD`]).
pub(super) fn tag_add_cmd(tag: &str, key: &str, ttl: Ttl) -> Cmd {
    let mut cmd = ::redis::cmd("EVAL");
    cmd.arg(TAG_ADD).arg(1).arg(tag).arg(key).arg(
        ttl.as_millis()
            .map_or(0, |ms| ms.saturating_add(TAG_SLACK_MS)),
    );
    cmd
}

/// The command that takes the index `tag` (see [`TAG_TAKE`]).
pub(super) fn tag_take_cmd(tag: &str) -> Cmd {
    let mut cmd = ::redis::cmd("EVAL");
    cmd.arg(TAG_TAKE).arg(1).arg(tag);
    cmd
}

/// Removes a key only if it holds `ARGV[1]`: releases a distributed lock
/// without removing one that expired and was taken by another process.
const DELETE_IF_EQUALS: &str = "if redis.call('GET',KEYS[1])==ARGV[1] then \
return redis.call('DEL',KEYS[1]) end return 0";

/// The command behind `delete_if_equals` (see [`DELETE_IF_EQUALS`]).
pub(super) fn delete_if_equals_cmd(key: &str, expected: &[u8]) -> Cmd {
    let mut cmd = ::redis::cmd("EVAL");
    cmd.arg(DELETE_IF_EQUALS).arg(1).arg(key).arg(expected);
    cmd
}

/// `<name> <key>`.
pub(super) fn key_cmd(name: &str, key: &str) -> Cmd {
    let mut cmd = ::redis::cmd(name);
    cmd.arg(key);
    cmd
}

/// An `MGET` reply must hold one value per key.
pub(super) fn check_mget<T>(peer: &str, keys: usize, values: Vec<T>) -> Result<Vec<T>> {
    if values.len() == keys {
        Ok(values)
    } else {
        Err(Error::new(
            ErrorKind::Backend,
            format!(
                "{peer} answered MGET of {keys} keys with {} values",
                values.len()
            ),
        ))
    }
}
