//! Analysis of the function under `#[memoize]` / `#[cached]`: its options,
//! receiver, arguments, return type and key, each checked, with every
//! problem collected and spanned on the offending token.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::{
    Attribute, FnArg, GenericParam, Ident, ItemFn, LitStr, Pat, Receiver, ReturnType, Signature,
    Type,
};

use crate::attr::{check_template_text, parse_template, Errors, Kind, Options, Piece};
use crate::walk::{has_impl_trait, lends_mut, names_self};

/// How the return value maps to what is stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ret {
    /// Any other type: always stored.
    Plain,
    /// `Result<T, E>`: `Ok(T)` is stored, `Err` returned and not stored.
    Result,
    /// `Option<T>` without `cache_none`: `Some(T)` is stored, `None` not.
    Option,
}

/// What identifies one entry.
pub(crate) enum Key {
    /// The hashed serde encoding of the key arguments.
    Hashed,
    /// A `key = "…"` template rendered with `Display`.
    Template { lit: LitStr, pieces: Vec<Piece> },
}

/// The `self` receiver of a method.
pub(crate) struct SelfArg<'a> {
    pub(crate) receiver: &'a Receiver,
    /// `self` / `mut self` / `self: Self`: the key borrows it as `&self`.
    pub(crate) by_value: bool,
    /// Part of the key (`#[memoize]` without `ignore(self)`).
    pub(crate) in_key: bool,
}

/// A typed argument.
pub(crate) struct Arg<'a> {
    pub(crate) attrs: &'a [Attribute],
    /// The name the generated code uses: the user's identifier, or a
    /// hygienic `argN` for a pattern such as `(a, b): (u32, u32)` and for
    /// `_name` (which the user promised not to use).
    pub(crate) name: Ident,
    /// The user's plain identifier, if any (what `ignore` and key
    /// templates refer to).
    pub(crate) user_name: Option<String>,
    pub(crate) ty: &'a Type,
    /// Part of the hashed key.
    pub(crate) in_key: bool,
}

/// The analysed function: everything code generation needs.
pub(crate) struct Func<'a> {
    pub(crate) kind: Kind,
    pub(crate) options: Options,
    pub(crate) item: &'a ItemFn,
    pub(crate) receiver: Option<SelfArg<'a>>,
    pub(crate) args: Vec<Arg<'a>>,
    pub(crate) ret: Ret,
    /// In an `impl` block: the owner is `Self`'s type name and the body is
    /// called as `Self::f_uncached`.
    pub(crate) in_impl: bool,
    pub(crate) key: Key,
    /// The `tags = [...]` templates.
    pub(crate) tags: Vec<crate::tags::TagTemplate>,
}

/// A local introduced by the expansion, invisible to the user's code.
pub(crate) fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

impl<'a> Func<'a> {
    /// Analyses the function and its options. The `Func` is built even when
    /// something is wrong (with what could be understood), for the stubs
    /// that go with the errors.
    pub(crate) fn analyze(
        kind: Kind,
        args: TokenStream,
        item: &'a ItemFn,
    ) -> (Self, syn::Result<()>) {
        let mut errors = Errors::default();
        let options = Options::parse(kind, args, &mut errors);
        options.check(&mut errors);
        let sig = &item.sig;
        check_signature(kind, sig, &mut errors);

        let ignored = collect_ignored(&options, sig, &mut errors);
        let key = match &options.key {
            Some(lit) => match parse_template(&lit.value()) {
                Ok(pieces) => {
                    if let Err(message) = check_template_text(&pieces) {
                        errors.error_spanned_by(lit, message);
                    }
                    Key::Template {
                        lit: lit.clone(),
                        pieces,
                    }
                }
                Err(message) => {
                    errors.error_spanned_by(lit, message);
                    Key::Hashed
                }
            },
            None => Key::Hashed,
        };
        let hashes_args = kind == Kind::Memoize && matches!(key, Key::Hashed);

        if kind == Kind::Cached && options.key.is_none() {
            check_cached_arguments(sig, &ignored, &mut errors);
        }
        let (receiver, fn_args) = analyze_inputs(kind, sig, hashes_args, &ignored, &mut errors);
        if let Key::Template { lit, pieces } = &key {
            check_template(sig, lit, pieces, &fn_args, &mut errors);
        }

        let tags = crate::tags::analyze_tags(options.tags.as_ref(), sig, &fn_args, &mut errors);
        let ret = classify_return(&sig.output, &options, &mut errors);
        let in_impl = receiver.is_some()
            || options.method.is_some()
            || names_self(item, options.expressions());

        let func = Self {
            kind,
            options,
            item,
            receiver,
            args: fn_args,
            ret,
            in_impl,
            key,
            tags,
        };
        (func, errors.finish())
    }

    pub(crate) fn sig(&self) -> &'a Signature {
        &self.item.sig
    }

    pub(crate) fn is_async(&self) -> bool {
        self.sig().asyncness.is_some()
    }

    /// The fn's own type and const parameters (the impl's are in `Self`).
    pub(crate) fn type_and_const_params(&self) -> (Vec<&'a Ident>, Vec<&'a Ident>) {
        let mut types = Vec::new();
        let mut consts = Vec::new();
        for param in &self.sig().generics.params {
            match param {
                GenericParam::Type(t) => types.push(&t.ident),
                GenericParam::Const(c) => consts.push(&c.ident),
                GenericParam::Lifetime(_) => {}
            }
        }
        (types, consts)
    }

    pub(crate) fn fn_name(&self) -> String {
        self.sig().ident.unraw().to_string()
    }
}

/// The receiver and the typed arguments, each checked.
fn analyze_inputs<'a>(
    kind: Kind,
    sig: &'a Signature,
    hashes_args: bool,
    ignored: &HashSet<String>,
    errors: &mut Errors,
) -> (Option<SelfArg<'a>>, Vec<Arg<'a>>) {
    let mut receiver = None;
    let mut fn_args = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(r) => {
                if r.mutability.is_some() && r.reference.is_some() || lends_mut(&r.ty) {
                    errors.error_spanned_by(
                        r,
                        format_args!(
                            "a #[{}] method cannot take `&mut self`: a cache hit skips the body and whatever it would have changed; take `&self`",
                            kind.name()
                        ),
                    );
                }
                let by_value = r.reference.is_none()
                    && matches!(&*r.ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"));
                receiver = Some(SelfArg {
                    receiver: r,
                    by_value,
                    in_key: hashes_args && !ignored.contains("self"),
                });
            }
            FnArg::Typed(pat_type) => {
                let hygienic = || local(&format!("arg{i}"));
                let (name, user_name) = match &*pat_type.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                        let user = p.ident.unraw().to_string();
                        // Using a `_name` binding would trip lints in the user's crate.
                        let name = if user.starts_with('_') {
                            hygienic()
                        } else {
                            p.ident.clone()
                        };
                        (name, Some(user))
                    }
                    _ => (hygienic(), None),
                };
                let in_key =
                    hashes_args && !user_name.as_ref().is_some_and(|u| ignored.contains(u));
                if lends_mut(&pat_type.ty) {
                    errors.error_spanned_by(
                        &pat_type.ty,
                        format_args!(
                            "a #[{}] function cannot take `&mut` arguments: a cache hit skips the body and whatever it would have changed",
                            kind.name()
                        ),
                    );
                } else if in_key && has_impl_trait(&pat_type.ty) {
                    let hint = if let Some(user) = &user_name {
                        format!("`ignore({user})`")
                    } else {
                        "`ignore(name)` (after giving it a name)".to_owned()
                    };
                    errors.error_spanned_by(
                        &pat_type.ty,
                        format_args!(
                            "an `impl Trait` argument cannot be part of the key: give it a concrete type, or leave it out of the key with {hint}"
                        ),
                    );
                }
                fn_args.push(Arg {
                    attrs: &pat_type.attrs,
                    name,
                    user_name,
                    ty: &pat_type.ty,
                    in_key,
                });
            }
        }
    }

    (receiver, fn_args)
}

/// `#[cached]` keeps one entry whatever the arguments, so without a `key`
/// every argument must be in `ignore(…)`: otherwise the first call's value
/// would be returned for every other argument list. A `self` receiver is an
/// argument like the others (`ignore(self)`: one entry shared by every
/// value of `Self`); a `_` argument cannot change the result and needs no
/// listing.
fn check_cached_arguments(sig: &Signature, ignored: &HashSet<String>, errors: &mut Errors) {
    // The arguments left (for the span), their names, and every named
    // argument (for the `ignore(…)` to suggest).
    let mut keyed = TokenStream::new();
    let mut left = Vec::new();
    let mut named = Vec::new();
    let mut patterns = false;
    for input in &sig.inputs {
        let name = match input {
            FnArg::Receiver(_) => Some("self".to_owned()),
            FnArg::Typed(t) => match &*t.pat {
                Pat::Wild(_) => continue,
                Pat::Ident(p) => Some(p.ident.unraw().to_string()),
                _ => None,
            },
        };
        named.extend(name.clone());
        match name {
            Some(name) if ignored.contains(&name) => continue,
            Some(name) => left.push(format!("`{name}`")),
            None => patterns = true,
        }
        input.to_tokens(&mut keyed);
    }
    if keyed.is_empty() {
        return;
    }
    let fn_name = sig.ident.unraw();
    let whatever = if left.is_empty() {
        "its arguments".to_owned()
    } else {
        left.join(", ")
    };
    let mut ignore = if named.is_empty() {
        "`ignore(…)`".to_owned()
    } else {
        format!("`ignore({})`", named.join(", "))
    };
    if patterns {
        ignore.push_str(" after naming the pattern arguments");
    }
    errors.error_spanned_by(
        keyed,
        format_args!(
            "#[cached] keeps one entry for `{fn_name}` whatever {whatever}: every call would return the first call's result. Use #[memoize] for one entry per argument list, add `key = \"…\"` naming the arguments that select the entry, or, if the arguments cannot change the result, {ignore}"
        ),
    );
}

/// Every placeholder of a key template must name an argument.
fn check_template(
    sig: &Signature,
    lit: &LitStr,
    pieces: &[Piece],
    args: &[Arg<'_>],
    errors: &mut Errors,
) {
    let names: Vec<String> = args.iter().filter_map(|a| a.user_name.clone()).collect();
    for piece in pieces {
        if let Piece::Arg(name) = piece {
            if !names.contains(name) {
                errors.error_spanned_by(
                    lit,
                    format_args!(
                        "unknown placeholder `{{{name}}}` in the key template: {}",
                        describe_args(sig, &names)
                    ),
                );
            }
        }
    }
}

/// Rejects function shapes the cache cannot wrap.
fn check_signature(kind: Kind, sig: &Signature, errors: &mut Errors) {
    let name = kind.name();
    if let Some(token) = &sig.constness {
        errors.error_spanned_by(
            token,
            format_args!("#[{name}] cannot be used on a `const fn`: the cache is read at run time"),
        );
    }
    if let Some(token) = &sig.unsafety {
        errors.error_spanned_by(
            token,
            format_args!(
                "#[{name}] does not support `unsafe fn`: memoize a safe function that wraps it"
            ),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.error_spanned_by(
            abi,
            format_args!("#[{name}] does not support `extern` functions: memoize a Rust function and call it from this one"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.error_spanned_by(
            variadic,
            format_args!("#[{name}] does not support variadic functions"),
        );
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if has_impl_trait(ty) {
            errors.error_spanned_by(
                ty,
                format_args!("a #[{name}] function must return a concrete type: its value is stored in the cache"),
            );
        }
    }
}

/// The names in `ignore(…)`, each checked to be an argument.
fn collect_ignored(options: &Options, sig: &Signature, errors: &mut Errors) -> HashSet<String> {
    let mut ignored = HashSet::new();
    let Some((_, names)) = &options.ignore else {
        return ignored;
    };
    let mut arg_names = Vec::new();
    let mut has_self = false;
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(_) => has_self = true,
            FnArg::Typed(t) => {
                if let Pat::Ident(p) = &*t.pat {
                    arg_names.push(p.ident.unraw().to_string());
                }
            }
        }
    }
    for name in names {
        let text = name.to_string();
        if text == "self" && !has_self {
            errors.error_spanned_by(name, "`ignore(self)`: this function has no `self` receiver");
        } else if text != "self" && !arg_names.contains(&text) {
            errors.error_spanned_by(
                name,
                format_args!("`ignore({text})`: {}", describe_args(sig, &arg_names)),
            );
        } else if !ignored.insert(text) {
            errors.error_spanned_by(name, format_args!("`{name}` is ignored twice"));
        }
    }
    ignored
}

fn describe_args(sig: &Signature, names: &[String]) -> String {
    let fn_name = sig.ident.unraw();
    if names.is_empty() {
        format!("`{fn_name}` has no named arguments")
    } else {
        let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        format!(
            "it must name an argument of `{fn_name}`: {}",
            list.join(", ")
        )
    }
}

/// `Result<…>` and `Option<…>` by their last path segment, or as forced by
/// the `result` / `option` options (for aliases).
fn classify_return(output: &ReturnType, options: &Options, errors: &mut Errors) -> Ret {
    let last_segment = match output {
        ReturnType::Type(_, ty) => {
            let mut ty = &**ty;
            while let Type::Paren(p) = ty {
                ty = &p.elem;
            }
            match ty {
                Type::Path(p) if p.qself.is_none() => {
                    p.path.segments.last().map(|s| s.ident.to_string())
                }
                _ => None,
            }
        }
        ReturnType::Default => None,
    };
    let is_option = options.option.is_some()
        || (options.result.is_none() && last_segment.as_deref() == Some("Option"));
    let ret = if options.result.is_some() || last_segment.as_deref() == Some("Result") {
        Ret::Result
    } else if is_option {
        Ret::Option
    } else {
        Ret::Plain
    };
    match (&options.cache_none, ret) {
        (Some(_), Ret::Option) => Ret::Plain,
        (Some(flag), _) => {
            errors.error_spanned_by(
                flag,
                "`cache_none` applies to functions returning `Option` (add `option` if the return type is an alias of `Option`)",
            );
            ret
        }
        (None, ret) => ret,
    }
}
