//! Keys written from a `key = "…"` template of `#[memoize]` / `#[cached]`.
//!
//! A template is literal text with `{arg}` placeholders. The literal text
//! is the programmer's and is written as is; each substituted value is
//! written with `Display` and then escaped, so that distinct values can
//! never give one key:
//!
//! - ASCII letters, digits, `-`, `.`, `_` and `~` are written as they are
//!   (`user:{id}` with `id = 5` is `user:5`, with `"ada_l"` it is `user:ada_l`);
//! - every other byte of the value's UTF-8 text is written `%XX`, in
//!   uppercase hex (`"1:2"` is `1%3A2`, `"a b"` is `a%20b`, `"é"` is
//!   `%C3%A9`, and `%` itself is `%25`).
//!
//! The encoding is injective (it can be decoded), and its output never holds
//! a *separator*: any character other than the ones kept as they are and
//! `%`. The macros check two rules on the template's text at compile time:
//!
//! 1. each placeholder has a separator (or the start or end of the template)
//!    on both sides: `user:{id}`, `{a}/{b}`, `lang={lang};` are accepted,
//!    `{a}{b}`, `user-{id}` and `v{n}` are not;
//! 2. the text holds no `%`, the escape character.
//!
//! With these rules a key splits at its separators into the literal words
//! and the values, each value one whole piece. So one template gives
//! distinct keys for distinct values (given injective `Display`s, as those
//! of strings and integers are), and two templates of one function (say,
//! before and after a change of its `key`) give one key only for keys that
//! read the same piece by piece: `user:{id}` and `user:{name}` share
//! `user:5`, never `{a}-{b}` and `{a}{b}`-style near misses, because those
//! are rejected. Bump the function's `version` when a new template gives
//! old keys a new meaning.
//!
//! A generic function's template key ends with its type parameters' names
//! (and const parameters' values), escaped in the same way:
//! `<u8,alloc%3A%3Astring%3A%3AString>`.

use std::fmt;

use crate::key::KeyOut;
use crate::memo::KeyArgs;
use crate::{Error, Result};

/// A key rendered from a `key = "…"` template: `text[0]`, `values[0]`,
/// `text[1]`, …, `values[n - 1]`, `text[n]`, the values escaped (see the
/// module docs).
#[derive(Clone, Copy)]
pub struct Template<'a> {
    /// The literal parts, one more than `values` (empty ones included).
    pub text: &'a [&'a str],
    /// The substituted values, written with `Display`.
    pub values: &'a [&'a dyn fmt::Display],
}

impl fmt::Debug for Template<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = String::new();
        match KeyArgs::write(self, &mut key) {
            Ok(()) => f.debug_tuple("Template").field(&key).finish(),
            Err(_) => f.debug_tuple("Template").field(&self.text).finish(),
        }
    }
}

#[expect(
    private_bounds,
    reason = "KeyOut is the crate-private key writer; macros never name it"
)]
impl KeyArgs for Template<'_> {
    fn write(&self, out: &mut impl KeyOut) -> Result<()> {
        let mut values = self.values.iter();
        for (i, text) in self.text.iter().enumerate() {
            if i > 0 {
                let Some(value) = values.next() else { break };
                fmt::write(&mut Escape(out), format_args!("{value}")).map_err(|e| {
                    Error::codec(
                        "cannot write a value into the key template: its `Display` failed",
                        e,
                    )
                })?;
            }
            out.push_str(text);
        }
        Ok(())
    }
}

/// What a `{arg}` placeholder needs: `Display`, with a compile error that
/// says so (spanned by the macros on the template).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be written into the key template: it does not implement `std::fmt::Display`",
    label = "a placeholder of this template names it",
    note = "a `{{arg}}` placeholder writes the argument with `Display`: implement it, or leave `key` out so that #[memoize] keys on the arguments' `Serialize` encoding"
)]
pub trait TemplateValue: fmt::Display {}

impl<T: fmt::Display + ?Sized> TemplateValue for T {}

/// One value of a [`Template`], as the macros pass it.
#[inline]
pub fn template_value<T: TemplateValue>(value: &T) -> &dyn fmt::Display {
    value
}

/// `value` written with `Display` and escaped as a template writes it.
pub(crate) fn escape_value(value: &dyn fmt::Display) -> Result<String> {
    let mut out = String::new();
    Template {
        text: &["", ""],
        values: &[value],
    }
    .write(&mut out)?;
    Ok(out)
}

/// Whether a byte of a value is written as is. cache-macros' `attr.rs` keeps
/// the same list for its compile-time checks of a template's text.
#[inline]
fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// The escaping writer: what `Display` writes goes to the key escaped.
struct Escape<'a, O: KeyOut>(&'a mut O);

impl<O: KeyOut> fmt::Write for Escape<'_, O> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `s` to `out`, every byte that is not plain written `%XX`.
fn push_escaped(out: &mut impl KeyOut, s: &str) {
    let mut plain_from = 0;
    for (i, &byte) in s.as_bytes().iter().enumerate() {
        if is_plain(byte) {
            continue;
        }
        // `plain_from..i` holds plain ASCII bytes only: both ends are char
        // boundaries, so `get` always succeeds.
        if let Some(run) = s.get(plain_from..i) {
            out.push_str(run);
        }
        let escaped = [
            b'%',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0x0f)],
        ];
        out.push_str(std::str::from_utf8(&escaped).unwrap_or_default());
        plain_from = i + 1;
    }
    if let Some(run) = s.get(plain_from..) {
        out.push_str(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render(text: &[&str], values: &[&dyn fmt::Display]) -> String {
        let mut out = String::new();
        Template { text, values }.write(&mut out).unwrap();
        out
    }

    /// The inverse of the value encoding, to show it loses nothing.
    fn unescape(s: &str) -> Option<String> {
        let mut bytes = Vec::new();
        let mut rest = s.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            if b == b'%' {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
            } else {
                bytes.push(b);
                rest = tail;
            }
        }
        String::from_utf8(bytes).ok()
    }

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        push_escaped(&mut out, s);
        out
    }

    #[test]
    fn plain_values_stay_readable() {
        assert_eq!(render(&["user:", ""], &[&5u64]), "user:5");
        assert_eq!(render(&["user:", ""], &[&-5i32]), "user:-5");
        assert_eq!(render(&["", "/", ""], &[&"ada_l", &1.5f64]), "ada_l/1.5");
        assert_eq!(render(&["home"], &[]), "home");
    }

    #[test]
    fn separators_escape_characters_and_non_ascii_are_escaped() {
        assert_eq!(escaped("1:2"), "1%3A2");
        assert_eq!(escaped("100%"), "100%25");
        assert_eq!(escaped("a b/c"), "a%20b%2Fc");
        assert_eq!(escaped("*?[]"), "%2A%3F%5B%5D");
        assert_eq!(escaped("é"), "%C3%A9");
        assert_eq!(escaped("\0\n"), "%00%0A");
        assert_eq!(escaped(""), "");
    }

    #[test]
    fn pinned_keys() {
        // Part of the storage format, like `key::tests::known_keys_are_pinned`.
        assert_eq!(render(&["pair:", ":", ""], &[&"1:2", &"3"]), "pair:1%3A2:3");
        assert_eq!(render(&["pair:", ":", ""], &[&"1", &"2:3"]), "pair:1:2%3A3");
        assert_eq!(
            render(&["page:{", "}<", ">"], &[&"about us", &"u8"]),
            "page:{about%20us}<u8>"
        );
    }

    #[test]
    fn a_failing_display_is_an_error_not_a_panic() {
        struct Fails;
        impl fmt::Display for Fails {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                Err(fmt::Error)
            }
        }
        let mut out = String::new();
        let err = Template {
            text: &["x:", ""],
            values: &[&Fails],
        }
        .write(&mut out)
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Codec);
    }

    /// A template's text between two placeholders, as the macros accept it:
    /// no `%`, and a separator on each side (here, at least one, and at
    /// both ends).
    fn separator() -> impl Strategy<Value = String> {
        const SEPARATOR: &str = "[:/|=,;{}<> é]";
        prop_oneof![
            SEPARATOR,
            (SEPARATOR, "[a-z0-9:/._~-]{0,3}", SEPARATOR)
                .prop_map(|(a, middle, b)| format!("{a}{middle}{b}")),
        ]
    }

    /// Values with plenty of separators and escapes in them, and any
    /// string at all.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof!["[a-c0-1:%/ é._~-]{0,4}", any::<String>()]
    }

    /// The text between the two placeholders, and two argument lists for
    /// them: either independent, or the second made to collide with the
    /// first if values were written as they are (the first's rendering,
    /// `a + middle + b`, split again at another occurrence of `middle`).
    fn two_argument_lists() -> impl Strategy<Value = (String, [String; 2], [String; 2])> {
        (
            separator(),
            [value(), value(), value(), value()],
            any::<prop::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(middle, [a1, b1, a2, b2], at, resplit)| {
                if !resplit {
                    return (middle, [a1, b1], [a2, b2]);
                }
                let joined = format!("{a1}{middle}{b1}");
                let splits: Vec<usize> = joined.match_indices(&middle).map(|(i, _)| i).collect();
                let i = splits[at.index(splits.len())];
                let (a2, b2) = (
                    joined[..i].to_owned(),
                    joined[i + middle.len()..].to_owned(),
                );
                (middle, [a1, b1], [a2, b2])
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn escaping_round_trips(s in any::<String>()) {
            let e = escaped(&s);
            prop_assert!(e.bytes().all(|b| is_plain(b) || b == b'%' || b.is_ascii_hexdigit()));
            prop_assert_eq!(unescape(&e), Some(s));
        }

        /// For a two-placeholder template, distinct argument lists give
        /// distinct keys (and equal ones the same key).
        #[test]
        fn distinct_argument_lists_give_distinct_keys(
            (middle, [a1, b1], [a2, b2]) in two_argument_lists(),
        ) {
            let text = ["pair:", middle.as_str(), ""];
            let k1 = render(&text, &[&a1, &b1]);
            let k2 = render(&text, &[&a2, &b2]);
            if (&a1, &b1) == (&a2, &b2) {
                prop_assert_eq!(k1, k2);
            } else {
                prop_assert_ne!(k1, k2, "({:?}, {:?}) and ({:?}, {:?})", a1, b1, a2, b2);
            }
        }
    }
}
