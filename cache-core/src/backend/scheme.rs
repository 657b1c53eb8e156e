//! The URL schemes of the stores that ship with the crate, in one table:
//! [`Cache::from_url`](crate::Cache::from_url) reads it to pick the store,
//! and [`RedisBackend`](crate::backend::RedisBackend) to pick the Redis
//! topology and whether to use TLS, so that both accept the same URLs.
//!
//! Compiled with or without the `redis` feature: without it, a Redis URL
//! is still recognized, and refused with a message that names the feature.

/// One scheme of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scheme {
    /// As written before `://`, in lower case (URLs may use any case).
    pub(crate) name: &'static str,
    pub(crate) store: Store,
}

/// The store a scheme names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    Memory,
    Null,
    Redis { topology: Topology, tls: bool },
}

/// How a Redis URL's hosts are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topology {
    /// `scheme://host[:port][/db]`: one server.
    Standalone,
    /// `scheme://host:port,host:port…`: the seed nodes of a Redis Cluster.
    Cluster,
    /// `scheme://host:port,host:port…/<service>[/<db>]`: sentinels, and the
    /// name of the master they monitor.
    Sentinel,
}

const fn redis(name: &'static str, topology: Topology, tls: bool) -> Scheme {
    Scheme {
        name,
        store: Store::Redis { topology, tls },
    }
}

/// Every scheme, in the order messages list them.
pub(crate) const SCHEMES: &[Scheme] = &[
    Scheme {
        name: "memory",
        store: Store::Memory,
    },
    Scheme {
        name: "mem",
        store: Store::Memory,
    },
    Scheme {
        name: "null",
        store: Store::Null,
    },
    redis("redis", Topology::Standalone, false),
    redis("rediss", Topology::Standalone, true),
    redis("valkey", Topology::Standalone, false),
    redis("valkeys", Topology::Standalone, true),
    redis("redis+cluster", Topology::Cluster, false),
    redis("rediss+cluster", Topology::Cluster, true),
    redis("redis+sentinel", Topology::Sentinel, false),
    redis("rediss+sentinel", Topology::Sentinel, true),
];

/// The scheme called `name` (any case), if the table has it.
pub(crate) fn find(name: &str) -> Option<Scheme> {
    SCHEMES
        .iter()
        .find(|scheme| scheme.name.eq_ignore_ascii_case(name))
        .copied()
}

/// The scheme of `url` (the text before `://`), if the table has it.
#[cfg(any(feature = "redis", test))]
pub(crate) fn of_url(url: &str) -> Option<Scheme> {
    url.split_once("://").and_then(|(name, _)| find(name))
}

/// The names of the schemes `keep` accepts, `, `-separated, for messages.
pub(crate) fn names(keep: impl Fn(Store) -> bool) -> String {
    SCHEMES
        .iter()
        .filter(|scheme| keep(scheme.store))
        .map(|scheme| scheme.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_found_in_any_case_and_named_once() {
        assert_eq!(find("VALKEYS").map(|s| s.name), Some("valkeys"));
        assert_eq!(
            of_url("Rediss+Cluster://h:7000").map(|s| s.store),
            Some(Store::Redis {
                topology: Topology::Cluster,
                tls: true
            })
        );
        assert_eq!(of_url("redis+unix:///tmp/redis.sock"), None);
        assert_eq!(of_url("redis:/h"), None);
        for (i, scheme) in SCHEMES.iter().enumerate() {
            assert_eq!(scheme.name, scheme.name.to_ascii_lowercase());
            assert!(
                SCHEMES[..i].iter().all(|other| other.name != scheme.name),
                "{} twice",
                scheme.name
            );
        }
    }

    #[test]
    fn every_redis_scheme_has_its_tls_twin() {
        for scheme in SCHEMES {
            let Store::Redis { topology, tls } = scheme.store else {
                continue;
            };
            // `redis+cluster` and `rediss+cluster`, `valkey` and `valkeys`.
            let base = scheme.name.split('+').next().unwrap_or_default();
            let twin = if tls {
                scheme.name.replacen(base, &base[..base.len() - 1], 1)
            } else {
                scheme.name.replacen(base, &format!("{base}s"), 1)
            };
            assert_eq!(
                find(&twin).map(|s| s.store),
                Some(Store::Redis {
                    topology,
                    tls: !tls
                }),
                "{}",
                scheme.name
            );
        }
    }
}
