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

/// The `key` option.
pub(crate) enum KeyOption {
    /// `key = "user:{id}"`: a readable key template.
    Template(LitStr),
    /// `key = |id, q| (id, q.page)`: a closure whose parameters name the
    /// arguments it reads (always an `Expr::Closure`).
    Closure(Expr),
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
    /// `key = "…{arg}…"` or `key = |arg| …`: what identifies an entry.
    pub(crate) key: Option<KeyOption>,
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
    /// `fail_safe = 3600`, `hard_timeout = "2s"`, `lock = distributed`, …:
    /// the `Policy` builder calls they stand for, in order.
    pub(crate) policy: Vec<(Ident, TokenStream)>,
    /// The first option that runs the computation in the background
    /// (`refresh_ahead`, `stale_while_revalidate`, `soft_timeout`): the
    /// computation then owns its arguments.
    pub(crate) background: Option<Ident>,
}

const OPTIONS: &str = "`timeout`, `cache`, `key`, `ignore`, `unless`, `store_if`, `version`, `result`, `option`, `cache_none`, `method`, `tags`, `fail_safe`, `fail_safe_throttle`, `refresh_ahead`, `stale_while_revalidate`, `soft_timeout`, `hard_timeout`, `lock`, `lock_expiry` and `crate`";

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
            _ if self.parse_policy(&name, meta, errors)? => {}
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
        .chain(match &self.key {
            Some(KeyOption::Closure(closure)) => Some(closure),
            _ => None,
        })
    }

    /// Checks the options against each other (not against the function).
    pub(crate) fn check(&self, errors: &mut Errors) {
        if let (Some(result), Some(_)) = (&self.result, &self.option) {
            errors.error_spanned_by(
                result,
                "`result` and `option` cannot be combined: a function returns one or the other",
            );
        }
        match (&self.key, &self.ignore) {
            (Some(KeyOption::Template(_)), Some((ignore, _))) => errors.error_spanned_by(
                ignore,
                "`ignore` has no effect with `key = \"…\"`: the template alone decides what is in the key",
            ),
            (Some(KeyOption::Closure(_)), Some((ignore, _))) => errors.error_spanned_by(
                ignore,
                "`ignore` has no effect with `key = |…| …`: the closure's parameters alone decide what is in the key",
            ),
            _ => {}
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

pub(crate) fn duplicate(name: &Ident, errors: &mut Errors) {
    errors.error_spanned_by(
        name,
        format_args!("duplicate option `{name}`: give it once"),
    );
}

/// Consumes the value of an option we report an error for, so parsing can
/// go on and report the next problem too.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
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

/// `key = "template"` or `key = |arg, …| expr`.
fn parse_key(
    meta: &ParseNestedMeta<'_>,
    name: &Ident,
    errors: &mut Errors,
) -> syn::Result<Option<KeyOption>> {
    let expr: Expr = value(meta, name, "key = \"user:{user_id}\"")?.parse()?;
    let mut inner = &expr;
    while let Expr::Paren(syn::ExprParen { expr, .. }) | Expr::Group(syn::ExprGroup { expr, .. }) =
        inner
    {
        inner = expr;
    }
    match inner {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some(KeyOption::Template(s.clone()))),
        Expr::Closure(_) => Ok(Some(KeyOption::Closure(inner.clone()))),
        _ => {
            errors.error_spanned_by(
                &expr,
                "`key` expects a string literal template, e.g. `key = \"user:{user_id}\"`, or a closure whose parameters name the arguments it reads, e.g. `key = |user_id, query| (user_id, query.page)`",
            );
            Ok(None)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
