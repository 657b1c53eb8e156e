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
