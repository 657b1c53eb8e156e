//! The options every Redis URL takes (`connect_timeout`,
//! `response_timeout`, `protocol`, `connections`, `connection_runtime`),
//! and the settings they resolve to.

use std::borrow::Cow;
use std::num::NonZeroUsize;
use std::time::Duration;

use super::connections::ConnectionRuntime;
use super::settings::{Pooling, Timeouts};
use crate::{Error, Result};

/// The most connections per runtime that `connections` accepts.
pub(super) const MAX_CONNECTIONS: usize = 64;

/// The options every Redis URL takes, and the timeouts they give.
#[derive(Debug, Clone, Default)]
pub(super) struct UrlOptions {
    pub(super) connect_timeout: Option<Duration>,
    pub(super) response_timeout: Option<Duration>,
    /// `resp2` or `resp3`, passed on to redis-rs as written.
    pub(super) protocol: Option<String>,
    pub(super) connections: Option<NonZeroUsize>,
    pub(super) connection_runtime: Option<ConnectionRuntime>,
    /// The bound of the near cache (L1) of the caches built on this URL.
    pub(super) near_cache: Option<u64>,
}

impl UrlOptions {
    /// Reads the options; any other name is an error quoting `shown` (the
    /// redacted URL).
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
                "connections" => {
                    options.connections = Some(parse_connections(&value).ok_or_else(|| {
                        Error::config(format!(
                            "`{shown}`: connections `{value}` is not a number of connections from 1 to {MAX_CONNECTIONS}"
                        ))
                    })?);
                }
                "connection_runtime" => {
                    options.connection_runtime =
                        Some(ConnectionRuntime::parse(&value).ok_or_else(|| {
                            Error::config(format!(
                                "`{shown}`: connection_runtime `{value}` is neither `caller` nor `shared`"
                            ))
                        })?);
                }
                "near_cache" => {
                    options.near_cache = Some(crate::config::parse_size(&value).ok_or_else(|| {
                        Error::config(format!(
                            "`{shown}`: near_cache `{value}` is not a size (examples: 32MiB, 512KiB, 1GiB)"
                        ))
                    })?);
                }
                other => {
                    return Err(Error::config(format!(
                        "`{shown}`: unknown option `{other}` for Redis (known: connect_timeout, \
                         response_timeout, protocol, connections, connection_runtime, near_cache)"
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

    /// How many connections and where: the builder's over the URL's over
    /// the defaults (one connection, on the caller's runtime).
    pub(super) fn pooling(
        &self,
        connections: Option<usize>,
        runtime: Option<ConnectionRuntime>,
    ) -> Result<Pooling> {
        let connections = match connections {
            Some(n) => Some(
                NonZeroUsize::new(n)
                    .filter(|n| n.get() <= MAX_CONNECTIONS)
                    .ok_or_else(|| {
                        Error::config(format!(
                            "Redis connections must be from 1 to {MAX_CONNECTIONS}, not {n}"
                        ))
                    })?,
            ),
            None => self.connections,
        };
        Ok(Pooling {
            connections: connections.unwrap_or(NonZeroUsize::MIN),
            runtime: runtime.or(self.connection_runtime).unwrap_or_default(),
        })
    }
}

/// A whole number from 1 to [`MAX_CONNECTIONS`].
fn parse_connections(text: &str) -> Option<NonZeroUsize> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse()
        .ok()
        .filter(|n: &NonZeroUsize| n.get() <= MAX_CONNECTIONS)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<UrlOptions> {
        UrlOptions::parse(
            "redis://h",
            query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (Cow::Borrowed(name), Cow::Borrowed(value))
                }),
        )
    }

    #[test]
    fn connections_take_a_whole_number_up_to_the_maximum() {
        let pooling = |query: &str| parse(query).unwrap().pooling(None, None).unwrap();
        assert_eq!(pooling("connections=4").connections.get(), 4);
        assert_eq!(pooling("connections=64").connections.get(), 64);
        assert_eq!(pooling("protocol=resp2").connections.get(), 1);
        for bad in [
            "0",
            "65",
            "-1",
            "+2",
            "2.0",
            "two",
            "",
            "99999999999999999999999",
        ] {
            let err = parse(&format!("connections={bad}")).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config);
            assert!(
                err.to_string().contains(&format!("connections `{bad}`")),
                "{err}"
            );
        }
        let builder = parse("connections=4").unwrap();
        assert_eq!(builder.pooling(Some(2), None).unwrap().connections.get(), 2);
        for bad in [0, 65] {
            let err = builder.pooling(Some(bad), None).unwrap_err();
            assert!(err.to_string().contains("from 1 to 64"), "{err}");
        }
    }

    #[test]
    fn the_connection_runtime_is_caller_or_shared() {
        let runtime = |query: &str| parse(query).unwrap().pooling(None, None).unwrap().runtime;
        assert_eq!(runtime(""), ConnectionRuntime::Caller);
        assert_eq!(
            runtime("connection_runtime=caller"),
            ConnectionRuntime::Caller
        );
        assert_eq!(
            runtime("connection_runtime=shared"),
            ConnectionRuntime::Shared
        );
        let err = parse("connection_runtime=io").unwrap_err();
        assert!(
            err.to_string().contains("neither `caller` nor `shared`"),
            "{err}"
        );
        let url = parse("connection_runtime=shared").unwrap();
        assert_eq!(
            url.pooling(None, Some(ConnectionRuntime::Caller))
                .unwrap()
                .runtime,
            ConnectionRuntime::Caller,
            "the builder's setting wins"
        );
    }

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
}
