//! Parsing and checking `key = "…"` templates at compile time.
//!
//! A template is text with placeholders: `{id}`, a field of an argument
//! `{user.id}` (or of `self`: `{self.tenant}`), and a format spec
//! `{id:04}`, `{mask:x}`, `{name:?}`. cache-core's `template.rs` writes
//! each value escaped, so distinct values never give one key (see its
//! module docs). Two things here keep that true:
//!
//! - the rules on the text (a separator on each side of a placeholder, no
//!   `%`), checked by [`check_template_text`];
//! - the format specs: only those that lose nothing are accepted. A
//!   precision rounds floats and cuts strings (`{x:.2}` writes 1.001 and
//!   1.004 alike), a fill character can pad a number into another
//!   (`{n:0<4}` writes 5 as `5000`), a width taken from an argument varies
//!   and `{p:p}` is an address: all are refused. A width pads numbers
//!   without loss (`{id:04}`: `0005`, `0123`, `12345`), but it makes `"a"`
//!   and `"a   "` one key, so the expansion requires a number there
//!   (`padded_value` in cache-core).

/// One piece of a `key = "…"` template.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text.
    Text(String),
    /// `{…}`: a value written with `Display` (or the spec's trait).
    Arg(Placeholder),
}

/// A `{root.member…:spec}` placeholder.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Placeholder {
    /// The argument (or `self`) it reads.
    pub(crate) root: String,
    /// Fields read from it, in order: `id` in `{user.id}`, `0` in `{pair.0}`.
    pub(crate) members: Vec<String>,
    /// The format spec after `:`, checked to lose nothing.
    pub(crate) spec: Option<Spec>,
    /// As written, braces included, for messages.
    pub(crate) source: String,
}

/// An accepted format spec.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    /// The text after `:`, as written (`04`, `x`, `>8`).
    pub(crate) text: String,
    /// Whether it has a width (or the `0` flag): then the value must be a number.
    pub(crate) padded: bool,
}

/// Splits a key template into text and placeholders (`{{` and `}}` are
/// literal braces). The error says what is wrong with the template.
pub(crate) fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => inner.push(c),
                        None => {
                            return Err(format!(
                                "unclosed `{{{inner}` in the key template (write `{{{{` for a literal brace)"
                            ))
                        }
                    }
                }
                let placeholder = parse_placeholder(&inner)?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Arg(placeholder));
            }
            '}' => {
                return Err(
                    "unmatched `}` in the key template (write `}}` for a literal brace)".to_owned(),
                )
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn parse_placeholder(inner: &str) -> Result<Placeholder, String> {
    let source = format!("{{{inner}}}");
    let (path, spec) = match inner.split_once(':') {
        Some((path, spec)) => (path, Some(spec)),
        None => (inner, None),
    };
    let mut parts = path.trim().split('.');
    let root = parts.next().unwrap_or_default();
    let is_name = |s: &str| syn::parse_str::<syn::Ident>(s).is_ok() || s == "self";
    if !is_name(root) {
        return Err(format!(
            "`{source}` in the key template must name an argument, e.g. `{{user_id}}`, or a field of one, `{{user.id}}` (write `{{{{` for a literal brace)"
        ));
    }
    let mut members = Vec::new();
    for member in parts {
        let is_index = !member.is_empty() && member.bytes().all(|b| b.is_ascii_digit());
        if !(is_index || syn::parse_str::<syn::Ident>(member).is_ok()) {
            return Err(format!(
                "`{source}` in the key template: after `.` comes a field name or a tuple index, as in `{{user.id}}` or `{{pair.0}}`; for anything else (a method call, say), compute the key with `key = |{root}| …`"
            ));
        }
        members.push(member.to_owned());
    }
    let spec = spec
        .map(|spec| {
            check_spec(spec).map_err(|why| format!("`{source}` in the key template: {why}"))
        })
        .transpose()?;
    Ok(Placeholder {
        root: root.to_owned(),
        members,
        spec,
        source,
    })
}

/// Checks a format spec (`[[fill]align][sign]['#']['0'][width]['.'
/// precision][type]`) against what keeps keys distinct.
fn check_spec(spec: &str) -> Result<Spec, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let is_align = |c: Option<&char>| matches!(c, Some('<' | '^' | '>'));
    if is_align(chars.get(1)) {
        if chars[0] != ' ' {
            return Err(format!(
                "the fill character `{}` could pad one value into another (`{{n:0<4}}` writes 5 as `5000`, as 5000 is written): pad with spaces, or not at all",
                chars[0]
            ));
        }
        i = 2;
    } else if is_align(chars.first()) {
        i = 1;
    }
    if matches!(chars.get(i), Some('+' | '-')) {
        i += 1;
    }
    if chars.get(i) == Some(&'#') {
        i += 1;
    }
    let width_start = i;
    while chars.get(i).is_some_and(char::is_ascii_digit) {
        i += 1;
    }
    let mut padded = i > width_start;
    if chars[i..].contains(&'$') {
        return Err(
            "a width taken from another argument changes with it: write a number, as in `{id:04}`"
                .to_owned(),
        );
    }
    if chars.get(i) == Some(&'.') {
        return Err(
            "a precision rounds or cuts the value, so distinct values would share a key (`{x:.2}` writes 1.001 and 1.004 both as `1.00`): write the value whole, or, if sharing entries is what you mean, compute the key with `key = |x| …`"
                .to_owned(),
        );
    }
    let ty: String = chars[i..].iter().collect();
    match ty.as_str() {
        "" | "?" | "x?" | "X?" | "x" | "X" | "o" | "b" | "e" | "E" => {}
        "p" => {
            return Err(
                "`p` writes an address, which changes from run to run and from process to process"
                    .to_owned(),
            )
        }
        _ => {
            return Err(format!(
                "unknown format `{ty}`: a placeholder takes the formats of `format!` that write the whole value: `?`, `x`, `X`, `o`, `b`, `e`, `E`, a width (`{{id:04}}`) and a sign (`{{n:+}}`)"
            ))
        }
    }
    // `{:0}` is the zero flag with no width: it pads nothing, but reads as
    // padding; treat it as such.
    padded |= chars.get(width_start) == Some(&'0');
    Ok(Spec {
        text: spec.to_owned(),
        padded,
    })
}

/// Whether a substituted value may hold `c` as is. cache-core's
/// `template.rs` writes these characters of a value unchanged and every
/// other byte as `%XX`; any other character is a *separator*, which a
/// written value never holds.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// Checks a template's text against the two rules that let a key be read
/// back into its values, so that distinct values, or two templates of one
/// function, cannot give one key by surprise: a separator on each side of
/// every placeholder, and no `%` (the escape character) in the text.
pub(crate) fn check_template_text(pieces: &[Piece]) -> Result<(), String> {
    let shown = |piece: &Piece| match piece {
        Piece::Text(text) => text.replace('{', "{{").replace('}', "}}"),
        Piece::Arg(placeholder) => placeholder.source.clone(),
    };
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Text(text) if text.contains('%') => {
                return Err(format!(
                    "`%` cannot appear in a key template's text (`{}`): it starts the escapes of substituted values (a `:` in a value is written `%3A`), and a `%` in the text could read as one",
                    shown(piece)
                ));
            }
            Piece::Text(_) => {}
            Piece::Arg(placeholder) => {
                let before = i.checked_sub(1).and_then(|j| pieces.get(j));
                let after = pieces.get(i + 1);
                let joined = |piece: Option<&Piece>, last: bool| match piece {
                    None => false,
                    Some(Piece::Arg(_)) => true,
                    Some(Piece::Text(text)) => {
                        let c = if last {
                            text.chars().last()
                        } else {
                            text.chars().next()
                        };
                        c.is_some_and(is_plain)
                    }
                };
                let source = &placeholder.source;
                let neighbour = if joined(before, true) {
                    before.map(|p| format!("`{}{source}`", shown(p)))
                } else if joined(after, false) {
                    after.map(|p| format!("`{source}{}`", shown(p)))
                } else {
                    None
                };
                if let Some(neighbour) = neighbour {
                    return Err(format!(
                        "{neighbour} in the key template: put a separator between a placeholder and its neighbours, as in `user:{{id}}` or `{{a}}/{{b}}`; a separator is any character but an ASCII letter, digit, `-`, `.`, `_` or `~`, which substituted values never hold, so that a value cannot be read as part of its neighbour"
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(root: &str, source: &str) -> Piece {
        Piece::Arg(Placeholder {
            root: root.into(),
            members: Vec::new(),
            spec: None,
            source: source.into(),
        })
    }

    #[test]
    fn template_splits_text_and_arguments() {
        assert_eq!(
            parse_template("user:{user_id}/{ lang }").unwrap(),
            vec![
                Piece::Text("user:".into()),
                arg("user_id", "{user_id}"),
                Piece::Text("/".into()),
                arg("lang", "{ lang }"),
            ]
        );
    }

    #[test]
    fn template_doubled_braces_are_literal() {
        assert_eq!(
            parse_template("{{x}}").unwrap(),
            vec![Piece::Text("{x}".into())]
        );
    }

    #[test]
    fn template_rejects_malformed_placeholders() {
        for bad in [
            "{", "}", "{}", "{a b}", "{0}", "{a.}", "{a.b()}", "{.a}", "{a:}x{",
        ] {
            assert!(parse_template(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn placeholders_read_fields_and_format_specs() {
        let [Piece::Arg(p)] = &parse_template("{user.address.0:>8}").unwrap()[..] else {
            panic!("one placeholder");
        };
        assert_eq!(p.root, "user");
        assert_eq!(p.members, ["address", "0"]);
        assert_eq!(
            p.spec,
            Some(Spec {
                text: ">8".into(),
                padded: true
            })
        );
        let [Piece::Arg(p)] = &parse_template("{self.tenant}").unwrap()[..] else {
            panic!("one placeholder");
        };
        assert_eq!((p.root.as_str(), p.spec.as_ref()), ("self", None));
    }

    #[test]
    fn specs_that_keep_values_apart_are_accepted() {
        for (spec, padded) in [
            ("04", true),
            ("0", true),
            ("8", true),
            (" >8", true),
            ("<8", true),
            ("+", false),
            ("#x", false),
            ("08b", true),
            ("?", false),
            ("#?", false),
            ("x?", false),
            ("e", false),
            ("", false),
        ] {
            assert_eq!(check_spec(spec).map(|s| s.padded), Ok(padded), "{spec:?}");
        }
    }

    #[test]
    fn specs_that_merge_values_are_refused() {
        for (spec, why) in [
            (".2", "precision"),
            ("8.3", "precision"),
            (".*", "precision"),
            ("0<4", "fill character `0`"),
            ("*^6", "fill character `*`"),
            ("1$", "another argument"),
            ("width$", "another argument"),
            ("p", "address"),
            ("z", "unknown format `z`"),
        ] {
            let err = check_spec(spec).unwrap_err();
            assert!(err.contains(why), "{spec:?}: {err}");
        }
    }

    fn text_rule(template: &str) -> Result<(), String> {
        check_template_text(&parse_template(template).unwrap())
    }

    #[test]
    fn template_placeholders_need_separators() {
        for ok in [
            "user:{id}",
            "{a}/{b}",
            "{id}",
            "lang={lang};v2",
            "page:{{{slug}}}",
            "{a} {b}",
            "é{a}é",
            "home",
            "",
            "user:{u.id:04}",
        ] {
            assert_eq!(text_rule(ok), Ok(()), "{ok}");
        }
        for bad in ["{a}{b}", "user-{id}", "v{n}", "{id}x", "{a}_{b}", "{a}.{b}"] {
            assert!(text_rule(bad).is_err(), "{bad}");
        }
        assert!(text_rule("{a}{b}").unwrap_err().starts_with("`{a}{b}`"));
        assert!(text_rule("user-{id}")
            .unwrap_err()
            .starts_with("`user-{id}`"));
        assert!(text_rule("v{u.id:04}")
            .unwrap_err()
            .starts_with("`v{u.id:04}`"));
    }

    #[test]
    fn template_text_cannot_hold_the_escape_character() {
        assert!(text_rule("100%:{x}").unwrap_err().contains("`%`"));
        assert!(text_rule("a%3A:{x}").is_err());
    }
}
