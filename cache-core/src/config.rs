//! Building a backend from a URL.

use std::sync::Arc;

use crate::backend::{Backend, MemoryBackend, NullBackend};
use crate::{Error, Result};

/// Parses `url` into a backend (and the typed view of it when it is the
/// memory store).
pub(crate) fn backend_from_url(url: &str) -> Result<(Arc<dyn Backend>, Option<MemoryBackend>)> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(Error::config(format!(
            "`{url}` is not a cache URL: expected `memory://`, `null://` or `redis://host:port/db`"
        )));
    };
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "memory" | "mem" => {
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
            Ok((Arc::new(memory.clone()), Some(memory)))
        }
        "null" => Ok((Arc::new(NullBackend), None)),
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" | "redis+sentinel" | "rediss+sentinel" => {
            redis_backend(url)
        }
        other => Err(Error::config(format!(
            "`{url}`: unknown cache URL scheme `{other}` (known: memory, null, redis, rediss, redis+cluster, redis+sentinel)"
        ))),
    }
}

#[allow(clippy::unnecessary_wraps)]
fn redis_backend(url: &str) -> Result<(Arc<dyn Backend>, Option<MemoryBackend>)> {
    Err(Error::config(format!(
        "`{url}` needs Redis support, which is not built in: enable the `redis` feature of cache-core"
    )))
}

fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Parses `64MiB`, `64MB`, `64M`, `512KiB`, `1GiB`, `1048576`: K, M and G are
/// powers of 1024, whatever the spelling.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
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
    fn bad_urls_are_config_errors_that_quote_the_url() {
        for url in [
            "localhost:6379",
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
