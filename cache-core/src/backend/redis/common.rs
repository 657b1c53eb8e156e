//! What the standalone, cluster and sentinel stores share: connecting once
//! for all callers, error mapping, command building, the `clear` scan
//! loop, and the URL options.

use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ::redis::{Cmd, ConnectionInfo, Pipeline, RedisError};
use futures_util::future::{BoxFuture, FutureExt, Shared};

use crate::backend::Ttl;
use crate::{Error, ErrorKind, Result};

/// Keys asked for per `SCAN` call by `clear_prefix`.
const SCAN_COUNT: usize = 500;

/// Connect and response timeouts, as configured.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub(super) connect: Duration,
    pub(super) response: Duration,
}

/// One request: a command, or a pipeline (possibly a transaction).
#[derive(Clone, Copy)]
pub(super) enum Request<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

/// Whether a failed request may be sent again.
#[derive(Clone, Copy)]
pub(super) enum Retry {
    /// Idempotent: retry once when the connection was lost or refused.
    Idempotent,
    /// Not idempotent (`SET NX`, `INCRBY`): retry once only when the
    /// request cannot have been carried out.
    IfNotSent,
}

impl Retry {
    /// After a failure on the same server (standalone: the connection
    /// manager reconnects behind it).
    pub(super) fn allows(self, e: &RedisError) -> bool {
        match self {
            Self::Idempotent => e.is_io_error() && e.is_connection_dropped(),
            Self::IfNotSent => e.is_connection_refusal(),
        }
    }

    /// After a failure that sent us looking for a new master (Sentinel).
    /// A request rejected with `READONLY`, or never sent, was not carried
    /// out.
    pub(super) fn allows_elsewhere(self, failure: &Failure) -> bool {
        match self {
            Self::Idempotent => true,
            Self::IfNotSent => {
                matches!(failure.phase, Phase::Connect)
                    || failure.error.is_connection_refusal()
                    || is_read_only(&failure.error)
            }
        }
    }
}

/// Whether a request was connecting or waiting for its answer.
#[derive(Clone, Copy, Debug)]
pub(super) enum Phase {
    Connect,
    Command,
}

/// A failed request, before it becomes an [`Error`].
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) error: RedisError,
    pub(super) phase: Phase,
}

impl Failure {
    pub(super) fn connect(error: RedisError) -> Self {
        Self {
            error,
            phase: Phase::Connect,
        }
    }

    pub(super) fn command(error: RedisError) -> Self {
        Self {
            error,
            phase: Phase::Command,
        }
    }

    /// Whether the request got as far as being sent.
    pub(super) fn is_command(&self) -> bool {
        matches!(self.phase, Phase::Command)
    }
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

/// `READONLY`: a write reached a replica (a demoted master, after a
/// failover).
pub(super) fn is_read_only(e: &RedisError) -> bool {
    e.code() == Some("READONLY")
}

/// Turns a redis-rs error into ours. `peer` names who we talked to
/// (`Redis at 127.0.0.1:6379/0`, `Redis Cluster at …`); passwords never
/// appear in it.
pub(super) fn map_error(peer: &str, timeouts: Timeouts, failure: Failure) -> Error {
    let Failure { error: e, phase } = failure;
    let (kind, message) = if e.is_timeout() {
        let message = match phase {
            Phase::Connect => format!(
                "cannot connect to {peer}: no answer within the connect timeout ({:?})",
                timeouts.connect
            ),
            Phase::Command => format!(
                "{peer} did not answer in time (response timeout {:?}, connect timeout {:?})",
                timeouts.response, timeouts.connect
            ),
        };
        (ErrorKind::Timeout, message)
    } else if e.is_io_error() {
        let lost = matches!(phase, Phase::Command)
            && e.is_connection_dropped()
            && !e.is_connection_refusal();
        let message = if lost {
            format!("lost the connection to {peer}")
        } else {
            format!("cannot connect to {peer}")
        };
        (ErrorKind::Connection, message)
    } else if e.code() == Some("NOAUTH") {
        (
            ErrorKind::Connection,
            format!("{peer} requires a password, and the URL gives none"),
        )
    } else {
        match e.kind() {
            ::redis::ErrorKind::AuthenticationFailed => (
                ErrorKind::Connection,
                format!("{peer} refused the credentials"),
            ),
            ::redis::ErrorKind::ClusterConnectionNotFound => (
                ErrorKind::Connection,
                format!("cannot reach the node of {peer} that holds the key"),
            ),
            ::redis::ErrorKind::InvalidClientConfig => (
                ErrorKind::Config,
                format!("invalid configuration for {peer}"),
            ),
            ::redis::ErrorKind::Parse | ::redis::ErrorKind::UnexpectedReturnType => {
                (ErrorKind::Backend, format!("unexpected reply from {peer}"))
            }
            _ => (ErrorKind::Backend, format!("{peer} answered with an error")),
        }
    };
    Error::with_source(kind, message, e)
}

/// A connection (or anything costly to set up) made on first use and
/// shared by every caller: callers that arrive while an attempt is under
/// way wait for that attempt; a failed attempt is not kept, so the next
/// caller tries afresh. [`reset`](Self::reset) forgets the value (the
/// Sentinel store does, when the master changes).
pub(super) struct Lazy<C, E> {
    state: Mutex<LazyState<C, E>>,
}

struct LazyState<C, E> {
    current: Option<C>,
    pending: Option<Shared<BoxFuture<'static, std::result::Result<C, E>>>>,
    /// Bumped by every reset, so that an attempt started before a reset
    /// does not install a value the reset meant to forget.
    generation: u64,
}

impl<C, E> Lazy<C, E>
where
    C: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(LazyState {
                current: None,
                pending: None,
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LazyState<C, E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value, if one is set.
    pub(super) fn current(&self) -> Option<C> {
        self.lock().current.clone()
    }

    /// How many times the value was reset.
    pub(super) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The value, made by `start` (or by an attempt already under way) if
    /// there is none.
    pub(super) async fn get(
        &self,
        start: impl FnOnce() -> BoxFuture<'static, std::result::Result<C, E>>,
    ) -> std::result::Result<C, E> {
        let (attempt, generation) = {
            let mut state = self.lock();
            if let Some(current) = &state.current {
                return Ok(current.clone());
            }
            let attempt = state
                .pending
                .get_or_insert_with(|| start().shared())
                .clone();
            (attempt, state.generation)
        };
        let result = attempt.clone().await;
        let mut state = self.lock();
        if state.generation == generation {
            if let Ok(value) = &result {
                // Every waiter of this attempt gets the same value.
                state.current = Some(value.clone());
            }
        }
        // Forget a settled attempt (a failure in particular, so that the
        // next call tries afresh), unless a newer one replaced it.
        if state
            .pending
            .as_ref()
            .is_some_and(|pending| pending.ptr_eq(&attempt))
        {
            state.pending = None;
        }
        result
    }

    /// Forgets the value, and any attempt under way.
    pub(super) fn reset(&self) {
        let mut state = self.lock();
        state.current = None;
        state.pending = None;
        state.generation += 1;
    }

    /// Forgets the value if `is_stale` says it is stale; returns whether it did.
    pub(super) fn reset_if(&self, is_stale: impl FnOnce(&C) -> bool) -> bool {
        let mut state = self.lock();
        if state.current.as_ref().is_some_and(is_stale) {
            state.current = None;
            state.pending = None;
            state.generation += 1;
            true
        } else {
            false
        }
    }
}

/// `SET key value [NX] [PX ms]`.
pub(super) fn set_cmd(key: &str, value: &[u8], ttl: Ttl, only_if_absent: bool) -> Cmd {
    let mut cmd = ::redis::cmd("SET");
    cmd.arg(key).arg(value);
    if only_if_absent {
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

/// A `SCAN MATCH` pattern for keys under any of `prefixes`: their common
/// start with glob characters escaped, then a character class of the
/// bytes that follow it when every prefix is one byte longer than that
/// start (a cache's `<ns>|` and `<ns>#` give `<ns>[|#]*`), then `*`. Every
/// key the pattern returns is checked against the prefixes again, so a
/// pattern wider than them (the common start of unrelated prefixes) only
/// costs transfer, never a wrong removal.
pub(super) fn match_pattern(prefixes: &[&str]) -> Vec<u8> {
    let first = prefixes.first().map_or(&b""[..], |p| p.as_bytes());
    let common = prefixes.iter().fold(first.len(), |n, p| {
        first[..n]
            .iter()
            .zip(p.as_bytes())
            .take_while(|(a, b)| a == b)
            .count()
    });
    let mut pattern = Vec::with_capacity(common + 8);
    escape_into(&mut pattern, &first[..common]);
    if prefixes.len() > 1 && prefixes.iter().all(|p| p.len() == common + 1) {
        pattern.push(b'[');
        escape_into(
            &mut pattern,
            &prefixes
                .iter()
                .map(|p| p.as_bytes()[common])
                .collect::<Vec<_>>(),
        );
        pattern.push(b']');
    }
    pattern.push(b'*');
    pattern
}

/// Appends `bytes` with `*`, `?`, `[`, `]`, `\` and `^` escaped.
fn escape_into(pattern: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        if matches!(byte, b'*' | b'?' | b'[' | b']' | b'\\' | b'^' | b'-') {
            pattern.push(b'\\');
        }
        pattern.push(byte);
    }
}

/// Removes the keys under any of `prefixes` from one server, in one pass:
/// `SCAN MATCH` page by page (`scan` sends one `SCAN` to that server), each
/// page removed with `unlink` (one `UNLINK` of the page's keys). Returns
/// how many it removed.
pub(super) async fn clear_server<'a, S, U>(prefixes: &[&str], scan: S, unlink: U) -> Result<u64>
where
    S: Fn(Cmd) -> BoxFuture<'a, Result<(u64, Vec<Vec<u8>>)>>,
    U: Fn(Cmd) -> BoxFuture<'a, Result<u64>>,
{
    let pattern = match_pattern(prefixes);
    let mut cursor: u64 = 0;
    let mut removed = 0;
    loop {
        let mut page = ::redis::cmd("SCAN");
        page.arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let (next, mut keys) = scan(page).await?;
        // The pattern may be wider than the prefixes, and this guards
        // against a server that reads escapes differently.
        keys.retain(|key| prefixes.iter().any(|p| key.starts_with(p.as_bytes())));
        if !keys.is_empty() {
            let mut cmd = ::redis::cmd("UNLINK");
            cmd.arg(&keys);
            removed += unlink(cmd).await?;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// The options every Redis URL takes, and the timeouts they give.
#[derive(Debug, Clone, Default)]
pub(super) struct UrlOptions {
    pub(super) connect_timeout: Option<Duration>,
    pub(super) response_timeout: Option<Duration>,
    /// `resp2` or `resp3`, passed on to redis-rs as written.
    pub(super) protocol: Option<String>,
}

impl UrlOptions {
    /// Reads `connect_timeout`, `response_timeout` and `protocol`; any
    /// other name is an error quoting `shown` (the redacted URL).
    pub(super) fn parse<'q>(
        shown: &str,
        pairs: impl IntoIterator<Item = (Cow<'q, str>, Cow<'q, str>)>,
    ) -> Result<Self> {
        let mut options = Self::default();
        for (name, value) in pairs {
            match &*name {
                "connect_timeout" => {
                    options.connect_timeout = Some(parse_timeout(shown, &name, &value)?);
                }
                "response_timeout" => {
                    options.response_timeout = Some(parse_timeout(shown, &name, &value)?);
                }
                "protocol" => options.protocol = Some(value.into_owned()),
                other => {
                    return Err(Error::config(format!(
                        "`{shown}`: unknown option `{other}` for Redis (known: connect_timeout, response_timeout, protocol)"
                    )))
                }
            }
        }
        Ok(options)
    }

    /// The timeouts: the builder's (`connect`, `response`) over the URL's
    /// over the defaults. A zero timeout from the builder is an error.
    pub(super) fn timeouts(
        &self,
        connect: Option<Duration>,
        response: Option<Duration>,
    ) -> Result<Timeouts> {
        Ok(Timeouts {
            connect: nonzero("connect_timeout", connect)?
                .or(self.connect_timeout)
                .unwrap_or(super::DEFAULT_CONNECT_TIMEOUT),
            response: nonzero("response_timeout", response)?
                .or(self.response_timeout)
                .unwrap_or(super::DEFAULT_RESPONSE_TIMEOUT),
        })
    }

    /// `?protocol=…` to append to a URL built for one node, or nothing.
    pub(super) fn node_query(&self) -> String {
        self.protocol
            .as_deref()
            .map_or_else(String::new, |p| format!("?protocol={p}"))
    }
}

fn nonzero(name: &str, timeout: Option<Duration>) -> Result<Option<Duration>> {
    match timeout {
        Some(t) if t.is_zero() => Err(Error::config(format!(
            "the Redis {name} must be greater than zero"
        ))),
        other => Ok(other),
    }
}

/// `2s`, `500ms`, `1m`, or a bare number of milliseconds; not zero.
fn parse_timeout(url: &str, name: &str, value: &str) -> Result<Duration> {
    parse_duration(value).ok_or_else(|| {
        Error::config(format!(
            "`{url}`: {name} `{value}` is not a timeout (examples: 2s, 500ms, 1m, 250)"
        ))
    })
}

pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let (n, unit) = crate::config::number_and_unit(text)?;
    let duration = match unit {
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (!duration.is_zero()).then_some(duration)
}

/// The TLS root certificates for redis-rs, after checking they may be
/// used: only with TLS, and only if they hold a PEM certificate.
pub(super) fn tls_certificates(
    shown: &str,
    tls: bool,
    pem: Option<Vec<u8>>,
) -> Result<Option<::redis::TlsCertificates>> {
    match pem {
        None => Ok(None),
        Some(_) if !tls => Err(Error::config(format!(
            "`{shown}`: TLS root certificates were given for a URL without TLS; use `rediss://`"
        ))),
        Some(pem) if !contains(&pem, b"-----BEGIN CERTIFICATE-----") => Err(Error::config(format!(
            "`{shown}`: the TLS root certificates hold no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
        ))),
        Some(pem) => Ok(Some(::redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        })),
    }
}

/// redis-rs builds its rustls configuration with the process-wide crypto
/// provider. When the application has not installed one, install ring
/// (the provider this crate enables), so that `rediss://` works even when
/// another crate in the build also enables rustls's aws-lc-rs provider.
pub(super) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `info` with `username` and `password` where given (what is not given
/// is kept).
pub(super) fn with_credentials(
    info: ConnectionInfo,
    username: Option<&str>,
    password: Option<&str>,
) -> ConnectionInfo {
    let mut redis = info.redis_settings().clone();
    if let Some(username) = username {
        redis = redis.set_username(username);
    }
    if let Some(password) = password {
        redis = redis.set_password(password);
    }
    info.set_redis_settings(redis)
}

/// A redis-rs client for `info`, trusting `certificates` when given.
pub(super) fn client(
    info: ConnectionInfo,
    certificates: Option<::redis::TlsCertificates>,
) -> std::result::Result<::redis::Client, RedisError> {
    match certificates {
        None => ::redis::Client::open(info),
        Some(certificates) => ::redis::Client::build_with_tls(info, certificates),
    }
}

/// A redis-rs error for work that did not finish within `limit`.
pub(super) fn timed_out(what: &str, limit: Duration) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} did not finish within {limit:?}"),
    ))
}

/// A redis-rs error for a task of the I/O runtime that did not complete.
pub(super) fn task_failed(join: &tokio::task::JoinError) -> RedisError {
    RedisError::from(std::io::Error::other(format!(
        "the Redis connection task failed: {join}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_the_usual_spellings() {
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        for bad in [
            "",
            "0",
            "0s",
            "1.5s",
            "-1s",
            "2h",
            "s",
            "99999999999999999999",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn glob_characters_are_escaped_in_the_pattern() {
        assert_eq!(match_pattern(&["app:"]), b"app:*");
        assert_eq!(match_pattern(&[r"a*b?[c]\"]), br"a\*b\?\[c\]\\*");
        assert_eq!(match_pattern(&[""]), b"*");
        // A cache's two prefixes: one pass, a class for the last byte.
        assert_eq!(match_pattern(&["a*|", "a*#"]), br"a\*[|#]*");
        assert_eq!(match_pattern(&["x^]", "x^\\"]), br"x\^[\]\\]*");
        // Unrelated prefixes: their common start, checked again in the client.
        assert_eq!(match_pattern(&["shop|", "sh"]), b"sh*");
        assert_eq!(match_pattern(&["a|", "b|"]), b"*");
        assert_eq!(match_pattern(&["k|", "k-"]), br"k[|\-]*");
    }

    #[tokio::test]
    async fn lazy_shares_one_attempt_and_forgets_failures_and_resets() {
        let lazy: Lazy<u32, String> = Lazy::new();
        let failed = lazy.get(|| async { Err("down".to_owned()) }.boxed()).await;
        assert_eq!(failed, Err("down".to_owned()));
        assert_eq!(lazy.current(), None, "a failure is not kept");
        assert_eq!(lazy.get(|| async { Ok(1) }.boxed()).await, Ok(1));
        assert_eq!(lazy.get(|| async { Ok(2) }.boxed()).await, Ok(1));
        assert!(!lazy.reset_if(|&v| v == 2));
        assert!(lazy.reset_if(|&v| v == 1));
        assert_eq!(lazy.generation(), 1);
        assert_eq!(lazy.get(|| async { Ok(3) }.boxed()).await, Ok(3));
    }
}
