//! Redis URLs taken apart: the [scheme table](crate::backend::scheme)
//! says which topology and whether TLS; a standalone URL is read by
//! redis-rs, a URL with several hosts (`redis+cluster://h1:p1,h2:p2`,
//! `redis+sentinel://s1:p1,s2:p2/<service>/<db>`) here.

use std::borrow::Cow;

use ::redis::IntoConnectionInfo;

use super::options::UrlOptions;
use super::settings::Target;
use crate::backend::scheme::{self, Store, Topology};
use crate::{Error, ErrorKind, Result};

/// The port of a cluster node when the URL gives none.
pub(super) const DEFAULT_PORT: u16 = 6379;
/// The port of a sentinel when the URL gives none.
pub(super) const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// A Redis URL, taken apart, before the builder's settings apply.
pub(super) struct ParsedUrl {
    pub(super) target: Target,
    pub(super) tls: bool,
    /// Percent-decoded.
    pub(super) username: Option<String>,
    /// Percent-decoded.
    pub(super) password: Option<String>,
    pub(super) options: UrlOptions,
}

impl ParsedUrl {
    /// Plain TCP, no credentials, default options: the builder's node lists.
    pub(super) fn plain(target: Target) -> Self {
        Self {
            target,
            tls: false,
            username: None,
            password: None,
            options: UrlOptions::default(),
        }
    }

    /// Parses a URL of any Redis scheme of the [scheme table](scheme::SCHEMES);
    /// `shown` is the redacted URL, for messages.
    pub(super) fn parse(url: &str, shown: &str) -> Result<Self> {
        let Some(Store::Redis { topology, tls }) = scheme::of_url(url).map(|s| s.store) else {
            return Err(Error::config(format!(
                "`{shown}` is not a Redis URL: expected `redis://[[user]:password@]host[:port][/db]`, \
                 `redis+cluster://host:port,host:port…` or \
                 `redis+sentinel://host:port,host:port…/<service name>[/<db>]` (schemes: {})",
                scheme::names(|store| matches!(store, Store::Redis { .. }))
            )));
        };
        match topology {
            Topology::Standalone => Self::standalone(url, shown, tls),
            Topology::Cluster => {
                let mut parsed = parse(url, shown, DEFAULT_PORT)?;
                if !(parsed.path.is_empty() || parsed.path == ["0"]) {
                    return Err(Error::config(format!(
                        "`{shown}`: a Redis Cluster has only database 0; leave the path empty"
                    )));
                }
                let nodes = std::mem::take(&mut parsed.hosts);
                Ok(parsed.with_target(Target::Cluster { nodes }, tls))
            }
            Topology::Sentinel => {
                let mut parsed = parse(url, shown, DEFAULT_SENTINEL_PORT)?;
                let (service, db) = match parsed.path.as_slice() {
                    [service] => (service.clone(), Some(0)),
                    [service, db] => (service.clone(), db.parse().ok().filter(|&db: &i64| db >= 0)),
                    _ => (String::new(), None),
                };
                let Some(db) = db.filter(|_| !service.is_empty()) else {
                    return Err(Error::config(format!(
                        "`{shown}`: expected `redis+sentinel://host:port[,host:port…]/<service name>[/<db>]`"
                    )));
                };
                let sentinels = std::mem::take(&mut parsed.hosts);
                let target = Target::Sentinel {
                    sentinels,
                    service,
                    db,
                };
                Ok(parsed.with_target(target, tls))
            }
        }
    }

    /// `redis://[[user]:password@]host[:port][/db][?options]`, read by redis-rs.
    fn standalone(url: &str, shown: &str, tls: bool) -> Result<Self> {
        let parsed = ::redis::parse_redis_url(url).ok_or_else(|| {
            Error::config(format!(
                "`{shown}` is not a Redis URL: expected `redis://[[user]:password@]host[:port][/db]`"
            ))
        })?;
        let options = UrlOptions::parse(shown, parsed.query_pairs())?;
        if tls && parsed.fragment().is_some() {
            return Err(Error::config(format!(
                "`{shown}`: URL fragments such as `#insecure` are not supported; \
                 to trust a private CA, use RedisBackend::builder().tls_root_certificates(…)"
            )));
        }
        let info = parsed.into_connection_info().map_err(|e| {
            Error::with_source(
                ErrorKind::Config,
                format!("`{shown}`: invalid Redis URL"),
                e,
            )
        })?;
        let redis = info.redis_settings();
        Ok(Self {
            username: redis.username().map(str::to_owned),
            password: redis.password().map(str::to_owned),
            target: Target::Standalone(info),
            tls,
            options,
        })
    }
}

/// A URL with several hosts, taken apart.
#[derive(Debug)]
struct MultiHost {
    /// Percent-decoded.
    username: Option<String>,
    /// Percent-decoded.
    password: Option<String>,
    /// `host:port`, IPv6 hosts in brackets.
    hosts: Vec<String>,
    /// The path's non-empty segments.
    path: Vec<String>,
    options: UrlOptions,
}

impl MultiHost {
    fn with_target(self, target: Target, tls: bool) -> ParsedUrl {
        ParsedUrl {
            target,
            tls,
            username: self.username,
            password: self.password,
            options: self.options,
        }
    }
}

/// Parses `scheme://[[user]:password@]host[:port],host[:port]…[/path][?options]`
/// (the scheme is read from the scheme table by the caller).
/// `shown` is the redacted URL, for messages.
fn parse(url: &str, shown: &str, default_port: u16) -> Result<MultiHost> {
    let (_, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::config(format!("`{shown}` has no `scheme://`")))?;
    if rest.contains('#') {
        return Err(Error::config(format!(
            "`{shown}`: URL fragments are not supported"
        )));
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let hosts = hosts
        .split(',')
        .map(|host| host_port(shown, host, default_port))
        .collect::<Result<Vec<_>>>()?;
    let (username, password) = match userinfo {
        Some(userinfo) => credentials(shown, userinfo)?,
        None => (None, None),
    };
    let pairs = crate::config::query_pairs(query).map(|(k, v)| (Cow::from(k), Cow::from(v)));
    Ok(MultiHost {
        username,
        password,
        hosts,
        path: path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        options: UrlOptions::parse(shown, pairs)?,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, as `host:port`.
pub(super) fn host_port(shown: &str, text: &str, default_port: u16) -> Result<String> {
    let text = text.trim();
    let bad = || {
        Error::config(format!(
            "`{shown}`: `{text}` is not a `host:port` (examples: 10.0.0.1:6379, redis-1, [::1]:7000)"
        ))
    };
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after {
            "" => None,
            port => Some(port.strip_prefix(':').ok_or_else(bad)?),
        };
        (format!("[{host}]"), port)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (text.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" || host.contains(['@', '/', '?', '#', ' ']) {
        return Err(bad());
    }
    let port = match port {
        None => default_port,
        Some(port) => port.parse().ok().filter(|&p| p > 0).ok_or_else(bad)?,
    };
    Ok(format!("{host}:{port}"))
}

/// The user name and password of `user:password`, percent-decoded as in
/// a `redis://` URL.
fn credentials(shown: &str, userinfo: &str) -> Result<(Option<String>, Option<String>)> {
    let info = format!("redis://{userinfo}@localhost/")
        .into_connection_info()
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Config,
                format!("`{shown}`: invalid user name or password"),
                e,
            )
        })?;
    let redis = info.redis_settings();
    Ok((
        redis.username().map(str::to_owned),
        redis.password().map(str::to_owned),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_ports_paths_and_credentials_are_taken_apart() {
        let url =
            "redis+sentinel://app:p%40ss@s1,s2:26380,[::1]:26381/mymaster/2?connect_timeout=1s";
        let parsed = parse(url, url, DEFAULT_SENTINEL_PORT).unwrap();
        assert_eq!(parsed.username.as_deref(), Some("app"));
        assert_eq!(parsed.password.as_deref(), Some("p@ss"));
        assert_eq!(parsed.hosts, ["s1:26379", "s2:26380", "[::1]:26381"]);
        assert_eq!(parsed.path, ["mymaster", "2"]);
        assert_eq!(
            parsed.options.connect_timeout,
            Some(std::time::Duration::from_secs(1))
        );
        let parsed = parse("rediss+cluster://:pw@h1:7000", "x", DEFAULT_PORT).unwrap();
        assert_eq!(parsed.username, None);
        assert_eq!(parsed.password.as_deref(), Some("pw"));
        assert!(parsed.path.is_empty());
    }

    #[test]
    fn bad_hosts_are_config_errors() {
        for host in ["", "h:", "h:0", "h:99999", "h:port", "[::1", "[::1]x", "[]"] {
            assert!(host_port("url", host, 1).is_err(), "{host:?}");
        }
        assert_eq!(host_port("url", " h ", 1).unwrap(), "h:1");
    }
}
