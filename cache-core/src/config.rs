//! Building a backend from a URL.

use std::sync::Arc;

use crate::backend::scheme::{self, Store};
use crate::backend::{Backend, MemoryBackend, NullBackend};
use crate::{Error, Result};

/// A store named by a URL, with the concrete views the cache uses.
pub(crate) struct Parsed {
    pub(crate) backend: Arc<dyn Backend>,
    /// The typed view of the memory store.
    pub(crate) memory: Option<MemoryBackend>,
    /// The Redis store (for a near cache in front of it).
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<crate::backend::RedisBackend>,
}

/// Parses `url` into a backend (and the typed view of it when it is the
/// memory store).
#[cfg(test)]
pub(crate) fn backend_from_url(url: &str) -> Result<(Arc<dyn Backend>, Option<MemoryBackend>)> {
    parse_url(url).map(|parsed| (parsed.backend, parsed.memory))
}

/// Parses `url` into a store.
pub(crate) fn parse_url(url: &str) -> Result<Parsed> {
    let Some((name, rest)) = url.split_once("://") else {
        // Not quoted: without `://` there is no telling where a password is.
        return Err(Error::config(
            "the cache URL has no `scheme://` part: expected `memory://`, `null://` or `redis://host:port/db`",
        ));
    };
    let Some(scheme) = scheme::find(name) else {
        return Err(Error::config(format!(
            "`{}`: unknown cache URL scheme `{}` (known: {})",
            redact(url),
            name.to_ascii_lowercase(),
            scheme::names(|_| true)
        )));
    };
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    match scheme.store {
        Store::Memory => {
            if !location.is_empty() && location != "/" {
                return Err(Error::config(format!(
                    "`{url}`: a memory URL takes no host or path, only `?max_capacity=…`"
                )));
            }
            let mut capacity = crate::backend::memory::DEFAULT_CAPACITY;
            for (name, value) in query_pairs(query) {
                match name {
                    "max_capacity" => capacity = parse_size(value).ok_or_else(|| {
                        Error::config(format!(
                            "`{url}`: max_capacity `{value}` is not a size (examples: 64MiB, 512KiB, 1GiB, 1048576)"
                        ))
                    })?,
                    other => {
                        return Err(Error::config(format!(
                            "`{url}`: unknown option `{other}` for the memory store (known: max_capacity)"
                        )))
                    }
                }
            }
            let memory = MemoryBackend::with_capacity(capacity);
            Ok(Parsed {
                backend: Arc::new(memory.clone()),
                memory: Some(memory),
                #[cfg(feature = "redis")]
                redis: None,
            })
        }
        Store::Null => Ok(Parsed {
            backend: Arc::new(NullBackend),
            memory: None,
            #[cfg(feature = "redis")]
            redis: None,
        }),
        Store::Redis { .. } => redis_backend(url),
    }
}

#[cfg(feature = "redis")]
fn redis_backend(url: &str) -> Result<Parsed> {
    let backend = crate::backend::RedisBackend::from_url(url)?;
    Ok(Parsed {
        backend: Arc::new(backend.clone()),
        memory: None,
        redis: Some(backend),
    })
}

#[cfg(not(feature = "redis"))]
fn redis_backend(url: &str) -> Result<Parsed> {
    Err(Error::config(format!(
        "`{}` needs Redis support, which is not built in: enable the `redis` feature of cache-core",
        redact(url)
    )))
}

/// `url` with its password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end],
        &authority[..colon],
        &url[scheme_end + at..]
    )
}

pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// `64 MiB` as `(64, "MiB")`: the leading decimal number and the unit
/// after it, trimmed; `None` without a number.
pub(crate) fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    Some((digits.parse().ok()?, unit.trim()))
}

/// Parses `64MiB`, `64MB`, `64M`, `512KiB`, `1GiB`, `1048576`: K, M and G are
/// powers of 1024, whatever the spelling.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let (n, unit) = number_and_unit(text)?;
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor).filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("redis://user:pw@host:1/0"),
            "redis://user:***@host:1/0"
        );
        assert_eq!(
            redact("redis://:p@ss@host/0?x=1"),
            "redis://:***@host/0?x=1"
        );
        assert_eq!(redact("redis://user@host"), "redis://user@host");
        assert_eq!(redact("redis://host:6379/0"), "redis://host:6379/0");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn sizes_parse_in_the_usual_spellings() {
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("64mb"), Some(64 << 20));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        for bad in [
            "",
            "0",
            "MiB",
            "-1MiB",
            "12 parsecs",
            "99999999999999999999G",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn memory_url_sets_the_capacity() {
        let (_, local) = backend_from_url("memory://?max_capacity=32MiB").unwrap();
        assert_eq!(local.unwrap().capacity(), 32 << 20);
    }

    #[test]
    fn url_errors_never_show_the_password() {
        for url in [
            "redi://:hunter2@host/0",
            "redis:/:hunter2@host",
            "memcached://u:hunter2@h",
        ] {
            let err = backend_from_url(url).err().unwrap();
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[cfg(feature = "redis")]
    #[test]
    fn cluster_and_sentinel_urls_build_without_connecting() {
        for url in [
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
            "rediss+cluster://:pw@10.0.0.1:7000?connect_timeout=1s",
            "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/1",
            "rediss+sentinel://:pw@10.0.0.1/mymaster",
        ] {
            let (backend, local) = backend_from_url(url).unwrap();
            assert!(local.is_none(), "{url}");
            drop(backend);
        }
    }

    /// A URL of `scheme` for its topology, as both `Cache::from_url` and
    /// `RedisBackend::from_url` take it.
    #[cfg(feature = "redis")]
    fn redis_url(scheme: &str, topology: scheme::Topology) -> String {
        let rest = match topology {
            scheme::Topology::Standalone => ":pw@10.0.0.1:6380/2?response_timeout=250ms",
            scheme::Topology::Cluster => ":pw@10.0.0.1:7000,10.0.0.2:7000?response_timeout=250ms",
            scheme::Topology::Sentinel => ":pw@10.0.0.1,10.0.0.2:26380/mymaster/1",
        };
        format!("{scheme}://{rest}")
    }

    #[cfg(feature = "redis")]
    #[test]
    fn cache_urls_accept_every_redis_scheme_the_backend_accepts() {
        use crate::backend::RedisBackend;
        use crate::Cache;

        let mut redis_schemes = 0;
        for scheme in scheme::SCHEMES {
            let Store::Redis { topology, tls } = scheme.store else {
                continue;
            };
            redis_schemes += 1;
            for name in [scheme.name.to_owned(), scheme.name.to_ascii_uppercase()] {
                let url = redis_url(&name, topology);
                let backend = RedisBackend::from_url(&url)
                    .unwrap_or_else(|e| panic!("RedisBackend::from_url({url}): {e}"));
                assert!(
                    format!("{backend:?}").contains(&format!("tls: {tls}")),
                    "{url}: {backend:?}"
                );
                let cache =
                    Cache::from_url(&url).unwrap_or_else(|e| panic!("Cache::from_url({url}): {e}"));
                assert!(!format!("{cache:?}").contains("in_memory: true"), "{url}");
            }
        }
        assert!(redis_schemes >= 8, "the table lists the Redis schemes");
        // And nothing else: schemes redis-rs knows but the table does not.
        for url in [
            "redis+unix:///tmp/redis.sock",
            "unix:///tmp/redis.sock",
            "valkey+unix:///tmp/valkey.sock",
            "http://10.0.0.1:6379/0",
        ] {
            let backend = RedisBackend::from_url(url).unwrap_err();
            let cache = Cache::from_url(url).unwrap_err();
            assert_eq!(backend.kind(), ErrorKind::Config, "{url}");
            assert_eq!(cache.kind(), ErrorKind::Config, "{url}");
        }
    }

    #[test]
    fn unknown_schemes_are_refused_with_the_whole_table() {
        let err = backend_from_url("memcached://h").err().unwrap();
        for scheme in scheme::SCHEMES {
            assert!(err.message().contains(scheme.name), "{err}");
        }
    }

    #[test]
    fn bad_urls_are_config_errors_that_quote_the_url() {
        let err = backend_from_url("localhost:6379").err().unwrap();
        assert!(err.to_string().contains("scheme://"), "{err}");
        for url in [
            "ftp://x",
            "memory://?max_capacity=lots",
            "memory://?size=1",
            "memory://host",
        ] {
            let err = backend_from_url(url).err().unwrap();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(err.to_string().contains(url), "{err}");
        }
    }
}
