//! Clearing prefixes on one server: `SCAN MATCH` page by page, each page
//! `UNLINK`ed, in one pass for all the prefixes.

use ::redis::Cmd;
use futures_util::future::BoxFuture;

use crate::Result;

/// Keys asked for per `SCAN` call by `clear_prefix`.
const SCAN_COUNT: usize = 500;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
