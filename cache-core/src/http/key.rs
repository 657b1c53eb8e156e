//! The keys of the HTTP layer, under the cache's namespace like every key
//! given to the [`Cache`] API:
//!
//! | key | holds |
//! |---|---|
//! | `http:path:<path>` | the path's generation (a random token) |
//! | `http:entry:<method>:<path>:<variant>` | a response, or the `Vary` header names it varies on |
//! | `http:entry:<method>:<path>:<variant>:<vary values>` | a response of a resource with a `Vary` header |
//!
//! `<path>` and `<method>` are written as they are, with `%`, `:`,
//! `~`, spaces, control and non-ASCII bytes percent-encoded, so they never
//! contain a `:` and the encoding can be undone; one longer than
//! [`MAX_COMPONENT`] bytes is written as `~` and the hex SHA-256 of the raw
//! text instead. `<variant>` and `<vary values>` are the crate's canonical
//! argument encoding ([`crate::key::write_args`]) of the query string, the
//! configured request headers' values (or the custom key) and of the
//! request's values of the response's `Vary` headers. Each part is
//! injective and none contains `:`, so two different requests never share a
//! key (short of a SHA-256 collision).

use http::request::Parts;
use http::{HeaderMap, HeaderValue};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Cache, Result};

/// Components longer than this many bytes (once escaped) are hashed.
pub(super) const MAX_COMPONENT: usize = 256;

/// A key of `cache`'s namespace starting with `kind`, with room for
/// `more` bytes (one allocation for the whole key, on the hit path).
fn start(cache: &Cache, kind: &str, more: usize) -> String {
    let plain = cache.inner.keys.plain();
    let mut key = String::with_capacity(plain.len() + kind.len() + more);
    key.push_str(plain);
    key.push_str(kind);
    key
}

/// The full key of `path`'s generation.
pub(super) fn path_scope(cache: &Cache, path: &str) -> String {
    let mut key = start(cache, "http:path:", path.len() + 8);
    push_component(&mut key, path);
    key
}

/// What identifies a request within its method and path.
#[derive(Serialize)]
pub(super) struct Variant<'a> {
    pub(super) query: Query<'a>,
    /// The values of the configured request headers, in their order.
    pub(super) headers: Vec<HeaderValues<'a>>,
}

/// The query part of a [`Variant`].
#[derive(Serialize)]
pub(super) enum Query<'a> {
    /// Left out of the key: every query of a path shares its entry.
    Ignored,
    /// The `&`-separated parameters, stably sorted by name ([`sorted_query`]).
    Params(Vec<&'a str>),
    /// What the layer's key function returned.
    Custom(&'a str),
}

/// A request header's name and its values, in order (none when absent).
pub(super) type HeaderValues<'a> = (&'a str, Vec<&'a [u8]>);

/// The values of the headers `names` in `headers`.
pub(super) fn header_values<'a>(
    headers: &'a HeaderMap,
    names: impl IntoIterator<Item = &'a str>,
) -> Vec<HeaderValues<'a>> {
    names
        .into_iter()
        .map(|name| {
            let values = headers
                .get_all(name)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            (name, values)
        })
        .collect()
}

/// The query's parameters, stably sorted by name: `b=2&a=1` and `a=1&b=2`
/// are the same query, but the order of one name's values is kept
/// (`a=2&a=1` is not `a=1&a=2`: handlers see lists in that order). Empty
/// parameters (`a=1&&b=2`) are dropped. Nothing is decoded: two spellings
/// of one value (`%41` and `A`) are two entries, never a wrong one.
pub(super) fn sorted_query(query: Option<&str>) -> Vec<&str> {
    let mut params: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .collect();
    params.sort_by_key(|p| p.split_once('=').map_or(*p, |(name, _)| name));
    params
}

/// The full key of the entry for `parts` with this `variant`.
pub(super) fn entry_key(cache: &Cache, parts: &Parts, variant: &Variant<'_>) -> Result<String> {
    let path = parts.uri.path();
    // The method, the path, two `:` and at most 96 bytes of variant.
    let mut key = start(cache, "http:entry:", 8 + path.len() + 2 + 96);
    push_component(&mut key, parts.method.as_str());
    key.push(':');
    push_component(&mut key, path);
    key.push(':');
    crate::key::write_args(&mut key, variant)?;
    Ok(key)
}

/// The key of a varying resource's entry: its base key and the request's
/// values of the `Vary` headers.
pub(super) fn varied_key(base: &str, values: &[HeaderValues<'_>]) -> Result<String> {
    let mut key = String::with_capacity(base.len() + 66);
    key.push_str(base);
    key.push(':');
    crate::key::write_args(&mut key, values)?;
    Ok(key)
}

/// Appends `raw` escaped (see the module docs), or hashed when long.
fn push_component(out: &mut String, raw: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let start = out.len();
    for &b in raw.as_bytes() {
        if matches!(b, b'%' | b':' | b'~') || !b.is_ascii_graphic() {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        } else {
            out.push(char::from(b));
        }
    }
    if out.len() - start > MAX_COMPONENT {
        out.truncate(start);
        out.push('~');
        for b in Sha256::digest(raw.as_bytes()) {
            out.push(char::from(HEX[usize::from(b >> 4)].to_ascii_lowercase()));
            out.push(char::from(HEX[usize::from(b & 0x0f)].to_ascii_lowercase()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use http::Request;

    use super::*;

    fn parts(uri: &str) -> Parts {
        Request::get(uri).body(()).unwrap().into_parts().0
    }

    fn key(uri: &str, with_query: bool) -> String {
        let parts = parts(uri);
        let query = if with_query {
            Query::Params(sorted_query(parts.uri.query()))
        } else {
            Query::Ignored
        };
        let variant = Variant {
            query,
            headers: Vec::new(),
        };
        entry_key(&Cache::default(), &parts, &variant).unwrap()
    }

    #[test]
    fn parameter_order_does_not_matter_but_values_do() {
        assert_eq!(key("/p?a=1&b=2", true), key("/p?b=2&a=1", true));
        assert_ne!(key("/p?a=1&b=2", true), key("/p?a=1&b=3", true));
        assert_ne!(key("/p?a=1", true), key("/p", true));
        assert_eq!(key("/p?a=1&&b=2&", true), key("/p?b=2&a=1", true));
    }

    #[test]
    fn the_order_of_one_names_values_is_kept() {
        assert_ne!(key("/p?a=1&a=2", true), key("/p?a=2&a=1", true));
        assert_eq!(key("/p?a=1&b=0&a=2", true), key("/p?b=0&a=1&a=2", true));
    }

    #[test]
    fn without_query_string_every_query_shares_the_path_entry() {
        assert_eq!(key("/p?a=1", false), key("/p?b=2", false));
        assert_eq!(key("/p?a=1", false), key("/p", false));
        assert_ne!(
            key("/p", false),
            key("/p", true),
            "a layer that keys on the query never shares with one that does not"
        );
    }

    #[test]
    fn distinct_paths_and_queries_never_share_a_key() {
        let uris = [
            "/",
            "/a",
            "/a/",
            "/a:b",
            "/a%3Ab",
            "/a%253Ab",
            "/a~b",
            "/a%7Eb",
            "/a?b",
            "/a?b=",
            "/a?b=c",
            "/a?b:c",
            "/a?b%3Dc",
            "/a?b=c&d",
            "/a?b=c%26d",
            "/a:?b",
            "/a?:b",
        ];
        let keys: HashSet<String> = uris.iter().map(|u| key(u, true)).collect();
        assert_eq!(keys.len(), uris.len(), "{keys:#?}");
        assert!(
            keys.iter().all(|k| k.matches(':').count() == 4),
            "{keys:#?}"
        );
    }

    #[test]
    fn components_are_escaped_reversibly_and_long_ones_hashed() {
        let mut out = String::new();
        push_component(&mut out, "/a:b%c~d e\u{e9}");
        assert_eq!(out, "/a%3Ab%25c%7Ed%20e%C3%A9");

        let long = format!("/{}", "x".repeat(MAX_COMPONENT));
        let mut hashed = String::new();
        push_component(&mut hashed, &long);
        assert_eq!(hashed.len(), 65);
        assert!(hashed.starts_with('~'));
        let mut other = String::new();
        push_component(&mut other, &format!("{long}y"));
        assert_ne!(hashed, other);
    }

    #[test]
    fn generations_live_under_the_namespace_apart_from_entries() {
        let cache = Cache::builder().key_prefix("app").build().unwrap();
        assert_eq!(path_scope(&cache, "/user/5"), "app|http:path:/user/5");
        assert_eq!(path_scope(&cache, "/a:b"), "app|http:path:/a%3Ab");
        let parts = parts("/user/5");
        let variant = Variant {
            query: Query::Ignored,
            headers: Vec::new(),
        };
        let entry = entry_key(&cache, &parts, &variant).unwrap();
        assert!(entry.starts_with("app|http:entry:GET:/user/5:"), "{entry}");
    }

    #[test]
    fn header_values_tell_absent_from_empty() {
        let none = HeaderMap::new();
        let mut empty = HeaderMap::new();
        empty.insert("accept", HeaderValue::from_static(""));
        let absent = varied_key("b", &header_values(&none, ["accept"])).unwrap();
        let present = varied_key("b", &header_values(&empty, ["accept"])).unwrap();
        assert_ne!(absent, present);
    }
}
