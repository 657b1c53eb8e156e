//! Parsing and validating the options of `#[memoize(…)]` and `#[cached(…)]`.
//!
//! Options are parsed with [`syn::meta::parser`]. Mistakes that do not stop
//! the parser (an unknown or repeated option, a literal of the wrong type)
//! are collected in [`Errors`] and reported together, so one compile shows
//! every problem, as serde_derive's `Ctxt` does.

use proc_macro2::TokenStream;
use syn::ext::IdentExt as _;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::{parenthesized, Expr, Ident, Lit, LitStr, Path, Token};

/// Which attribute is being expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[memoize]`: one entry per distinct argument list.
    Memoize,
    /// `#[cached]`: one entry for the whole function (or per rendered `key`).
    Cached,
}

impl Kind {
    /// The attribute's name, for messages and generated docs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Memoize => "memoize",
            Self::Cached => "cached",
        }
    }
}

/// Errors collected while parsing and validating, reported together.
#[derive(Default)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    /// Records an error spanned on `tokens`.
    pub(crate) fn error_spanned_by(
        &mut self,
        tokens: impl quote::ToTokens,
        message: impl std::fmt::Display,
    ) {
        self.errors
            .push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records a `syn` error (a parse error, say).
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// `Ok` when nothing was recorded, otherwise all the errors combined.
    pub(crate) fn finish(self) -> syn::Result<()> {
        let mut errors = self.errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for e in errors {
            combined.combine(e);
        }
        Err(combined)
    }
}

/// A flag option such as `result`, with where it was written.
pub(crate) type Flag = Option<Ident>;

/// The options of one attribute, as written.
#[derive(Default)]
pub(crate) struct Options {
    /// `timeout = N`: seconds (`0` = never expires); `None` = the cache's default.
    pub(crate) timeout: Option<Expr>,
    /// `cache = <expr>`: the cache to use; `None` = `cache_core::global()`.
    pub(crate) cache: Option<Expr>,
    /// `key = "…{arg}…"`: a readable key template.
    pub(crate) key: Option<LitStr>,
    /// `ignore(a, b)`: arguments left out of the key (`self` included).
    pub(crate) ignore: Option<(Ident, Vec<Ident>)>,
    /// `unless = <expr>`: a `bool` expression over the arguments, evaluated
    /// before the lookup; `true` = run the body uncached (no read, no write).
    pub(crate) unless: Option<Expr>,
    /// `store_if = <expr>`: a predicate on the value; `false` = do not store it.
    pub(crate) store_if: Option<Expr>,
    /// `version = N` (u32): bump it to orphan the entries of older code.
    pub(crate) version: Option<Expr>,
    /// `result`: the return type is a `Result` (an alias, say): store `Ok` only.
    pub(crate) result: Flag,
    /// `option`: the return type is an `Option`: do not store `None`.
    pub(crate) option: Flag,
    /// `cache_none`: with an `Option` return type, store `None` too.
    pub(crate) cache_none: Flag,
    /// `method`: the function is in an `impl` block; key it under `Self`.
    pub(crate) method: Flag,
    /// `crate = path`: where the generated code finds cache-core (a crate
    /// that re-exports it); `None` = `::cache_core`.
    pub(crate) krate: Option<Path>,
    /// `tags = ["user:{id}", …]`: templates of the tags every entry carries.
    pub(crate) tags: Option<Vec<LitStr>>,
}

const OPTIONS: &str = "`timeout`, `cache`, `key`, `ignore`, `unless`, `store_if`, `version`, `result`, `option`, `cache_none`, `method`, `tags` and `crate`";

impl Options {
    /// Parses the attribute's arguments, recording every problem in `errors`.
    pub(crate) fn parse(kind: Kind, args: TokenStream, errors: &mut Errors) -> Self {
        let mut options = Self::default();
        let parser = syn::meta::parser(|meta| options.parse_one(kind, &meta, errors));
        if let Err(e) = parser.parse2(args) {
            errors.push(e);
        }
        options
    }

    fn parse_one(
        &mut self,
        kind: Kind,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let Some(name) = meta.path.get_ident().cloned() else {
            let path: Vec<String> = meta
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            errors.error_spanned_by(
                &meta.path,
                format_args!(
                    "unknown option `{}` for #[{}]: expected one of {OPTIONS}",
                    path.join("::"),
                    kind.name()
                ),
            );
            return skip_value(meta);
        };
        match name.to_string().as_str() {
            "timeout" => {
                let value = parse_count(meta, &name, "u64", "timeout = 60", errors)?;
                set_once(&mut self.timeout, &name, value, errors);
            }
            "version" => {
                let value = parse_count(meta, &name, "u32", "version = 2", errors)?;
                set_once(&mut self.version, &name, value, errors);
            }
            "cache" => {
                let value = parse_expr(meta, &name, "cache = MY_CACHE")?;
                set_once(&mut self.cache, &name, value, errors);
            }
            "unless" => {
                let value = parse_expr(meta, &name, "unless = user_id == 0")?;
                let value = value.filter(|expr| !unless_is_a_result_filter(expr, errors));
                set_once(&mut self.unless, &name, value, errors);
            }
            "store_if" => {
                let value = parse_expr(meta, &name, "store_if = |v: &Value| !v.is_empty()")?;
                set_once(&mut self.store_if, &name, value, errors);
            }
            "key" => {
                let value = parse_key(meta, &name, errors)?;
                set_once(&mut self.key, &name, value, errors);
            }
            "ignore" => {
                let names = parse_ignore(meta, &name)?;
                if self.ignore.is_some() {
                    duplicate(&name, errors);
                } else {
                    self.ignore = Some((name, names));
                }
            }
            "result" => self.flag(meta, Field::Result, &name, errors)?,
            "option" => self.flag(meta, Field::Option, &name, errors)?,
            "cache_none" => self.flag(meta, Field::CacheNone, &name, errors)?,
            "method" => self.flag(meta, Field::Method, &name, errors)?,
            "crate" => {
                let value = parse_crate(meta, &name, errors)?;
                set_once(&mut self.krate, &name, value, errors);
            }
            "tags" => {
                let value =
                    crate::tags::parse_tags(value(meta, &name, crate::tags::EXAMPLE)?, errors)?;
                set_once(&mut self.tags, &name, value, errors);
            }
            _ => {
                errors.error_spanned_by(
                    &name,
                    format_args!(
                        "unknown option `{name}` for #[{}]: expected one of {OPTIONS}",
                        kind.name()
                    ),
                );
                skip_value(meta)?;
            }
        }
        Ok(())
    }

    fn flag(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        field: Field,
        name: &Ident,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
            errors.error_spanned_by(
                name,
                format_args!("`{name}` takes no value: write just `{name}`"),
            );
            skip_value(meta)?;
        }
        let slot = match field {
            Field::Result => &mut self.result,
            Field::Option => &mut self.option,
            Field::CacheNone => &mut self.cache_none,
            Field::Method => &mut self.method,
        };
        set_once(slot, name, Some(name.clone()), errors);
        Ok(())
    }

    /// The options' expressions, evaluated in the function's scope.
    pub(crate) fn expressions(&self) -> impl Iterator<Item = &Expr> {
        [
            &self.timeout,
            &self.cache,
            &self.unless,
            &self.store_if,
            &self.version,
        ]
        .into_iter()
        .flatten()
    }

    /// Checks the options against each other (not against the function).
    pub(crate) fn check(&self, errors: &mut Errors) {
        if let (Some(result), Some(_)) = (&self.result, &self.option) {
            errors.error_spanned_by(
                result,
                "`result` and `option` cannot be combined: a function returns one or the other",
            );
        }
        if let (Some(_), Some((ignore, _))) = (&self.key, &self.ignore) {
            errors.error_spanned_by(
                ignore,
                "`ignore` has no effect with `key = \"…\"`: the template alone decides what is in the key",
            );
        }
    }
}

#[derive(Clone, Copy)]
enum Field {
    Result,
    Option,
    CacheNone,
    Method,
}

fn set_once<T>(slot: &mut Option<T>, name: &Ident, value: Option<T>, errors: &mut Errors) {
    let Some(value) = value else { return };
    if slot.is_some() {
        duplicate(name, errors);
    } else {
        *slot = Some(value);
    }
}

fn duplicate(name: &Ident, errors: &mut Errors) {
    errors.error_spanned_by(
        name,
        format_args!("duplicate option `{name}`: give it once"),
    );
}

/// Consumes the value of an option we report an error for, so parsing can
/// go on and report the next problem too.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

pub(crate) fn value<'a>(
    meta: &ParseNestedMeta<'a>,
    name: &Ident,
    example: &str,
) -> syn::Result<ParseStream<'a>> {
    if meta.input.peek(Token![=]) {
        meta.value()
    } else {
        Err(syn::Error::new_spanned(
            name,
            format_args!("`{name}` needs a value: `{example}`"),
        ))
    }
}

/// `unless = |v| …` is the old meaning of `unless` (and the shape of
/// `store_if`): a closure is reported, spanned on it, with what to write.
fn unless_is_a_result_filter(expr: &Expr, errors: &mut Errors) -> bool {
    let mut inner = expr;
    while let Expr::Paren(syn::ExprParen { expr, .. }) | Expr::Group(syn::ExprGroup { expr, .. }) =
        inner
    {
        inner = expr;
    }
    if !matches!(inner, Expr::Closure(_)) {
        return false;
    }
    errors.error_spanned_by(
        expr,
        "`unless` is checked before the call, on the arguments: write a `bool` expression, e.g. `unless = user_id == 0`, and when it is true the body runs without the cache (no read, no write). To keep some results out of the cache, use `store_if = |v| …`: the result is stored only when it returns true",
    );
    true
}

fn parse_expr(
    meta: &ParseNestedMeta<'_>,
    name: &Ident,
    example: &str,
) -> syn::Result<Option<Expr>> {
    Ok(Some(value(meta, name, example)?.parse()?))
}

/// `timeout` and `version`: an integer literal that fits `ty` (checked
/// here, so the error is ours), or any other expression of type `ty` (a
/// constant, say: the compiler checks its type).
fn parse_count(
    meta: &ParseNestedMeta<'_>,
    name: &Ident,
    ty: &str,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<Expr>> {
    let expr: Expr = value(meta, name, example)?.parse()?;
    let Expr::Lit(lit) = &expr else {
        return Ok(Some(expr));
    };
    let what = match name.to_string().as_str() {
        "timeout" => "a number of seconds (0 = never expires)",
        _ => "a version number",
    };
    let Lit::Int(int) = &lit.lit else {
        errors.error_spanned_by(
            &lit.lit,
            format_args!("`{name}` expects {what} as an integer literal, e.g. `{example}`"),
        );
        return Ok(None);
    };
    let suffix_ok = int.suffix().is_empty() || int.suffix() == ty;
    let fits = match ty {
        "u32" => int.base10_parse::<u32>().is_ok(),
        _ => int.base10_parse::<u64>().is_ok(),
    };
    if suffix_ok && fits {
        Ok(Some(expr))
    } else {
        errors.error_spanned_by(
            int,
            format_args!("`{name}` expects {what} that fits in `{ty}`, e.g. `{example}`"),
        );
        Ok(None)
    }
}

fn parse_key(
    meta: &ParseNestedMeta<'_>,
    name: &Ident,
    errors: &mut Errors,
) -> syn::Result<Option<LitStr>> {
    let expr: Expr = value(meta, name, "key = \"user:{user_id}\"")?.parse()?;
    if let Expr::Lit(syn::ExprLit {
        lit: Lit::Str(s), ..
    }) = expr
    {
        Ok(Some(s))
    } else {
        errors.error_spanned_by(
            &expr,
            "`key` expects a string literal template, e.g. `key = \"user:{user_id}\"`",
        );
        Ok(None)
    }
}

/// `crate = path` (or `crate = "path"`, as serde and tokio write it): a
/// path without generic arguments, such as `my_framework::cache` or
/// `crate::cache`.
fn parse_crate(
    meta: &ParseNestedMeta<'_>,
    name: &Ident,
    errors: &mut Errors,
) -> syn::Result<Option<Path>> {
    const EXAMPLE: &str = "crate = my_framework::cache";
    let expr: Expr = value(meta, name, EXAMPLE)?.parse()?;
    let path = match &expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Some(p.path.clone()),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse_with(Path::parse_mod_style).ok(),
        _ => None,
    };
    let Some(path) = path else {
        errors.error_spanned_by(
            &expr,
            format_args!(
                "`crate` expects the path of cache-core, or of a module that re-exports it (its `__private` module included), e.g. `{EXAMPLE}`"
            ),
        );
        return Ok(None);
    };
    if let Some(segment) = path.segments.iter().find(|s| !s.arguments.is_none()) {
        errors.error_spanned_by(
            &segment.arguments,
            "the `crate` path names a module and takes no generic arguments",
        );
        return Ok(None);
    }
    Ok(Some(path))
}

fn parse_ignore(meta: &ParseNestedMeta<'_>, name: &Ident) -> syn::Result<Vec<Ident>> {
    if !meta.input.peek(syn::token::Paren) {
        return Err(syn::Error::new_spanned(
            name,
            "`ignore` lists the arguments to leave out of the key: `ignore(self, db)`",
        ));
    }
    let content;
    parenthesized!(content in meta.input);
    let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(&content, Ident::parse_any)?;
    Ok(names.into_iter().collect())
}

/// One piece of a `key = "…"` template.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text.
    Text(String),
    /// `{name}`: an argument rendered with `Display`.
    Arg(String),
}

/// Splits a key template into text and `{arg}` placeholders (`{{` and `}}`
/// are literal braces). The error says what is wrong with the template.
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
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(format!(
                                "unclosed `{{{name}` in the key template (write `{{{{` for a literal brace)"
                            ))
                        }
                    }
                }
                let trimmed = name.trim();
                if syn::parse_str::<Ident>(trimmed).is_err() {
                    return Err(format!(
                        "`{{{name}}}` in the key template must name an argument, e.g. `{{user_id}}` (write `{{{{` for a literal brace)"
                    ));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Arg(trimmed.to_owned()));
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
        Piece::Arg(name) => format!("{{{name}}}"),
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
            Piece::Arg(name) => {
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
                let neighbour = if joined(before, true) {
                    before.map(|p| format!("`{}{{{name}}}`", shown(p)))
                } else if joined(after, false) {
                    after.map(|p| format!("`{{{name}}}{}`", shown(p)))
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

    #[test]
    fn template_splits_text_and_arguments() {
        assert_eq!(
            parse_template("user:{user_id}/{ lang }").unwrap(),
            vec![
                Piece::Text("user:".into()),
                Piece::Arg("user_id".into()),
                Piece::Text("/".into()),
                Piece::Arg("lang".into()),
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
        assert!(parse_template("{").is_err());
        assert!(parse_template("}").is_err());
        assert!(parse_template("{}").is_err());
        assert!(parse_template("{a b}").is_err());
        assert!(parse_template("{0}").is_err());
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
    }

    #[test]
    fn template_text_cannot_hold_the_escape_character() {
        assert!(text_rule("100%:{x}").unwrap_err().contains("`%`"));
        assert!(text_rule("a%3A:{x}").is_err());
    }

    #[test]
    fn options_report_every_problem_at_once() {
        let mut errors = Errors::default();
        let options = Options::parse(
            Kind::Memoize,
            quote::quote!(
                timeout = "x",
                frobnicate = 3,
                version = 1,
                version = 2,
                result,
                unless = |v: &u64| *v == 0,
                store_if = |v: &u64| *v > 0,
            ),
            &mut errors,
        );
        let message = errors.finish().unwrap_err().into_iter().count();
        assert_eq!(
            message, 4,
            "the three mistakes and the closure given to `unless`"
        );
        assert!(options.result.is_some());
        assert!(options.unless.is_none());
        assert!(options.store_if.is_some());
    }
}
