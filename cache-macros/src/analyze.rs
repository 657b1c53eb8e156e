//! Analysis of the function under `#[memoize]` / `#[cached]`: its options,
//! receiver, arguments, return type and key, each checked, with every
//! problem collected and spanned on the offending token.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::{
    Attribute, ExprClosure, FnArg, GenericParam, Ident, ItemFn, LitStr, Pat, Receiver, Signature,
    Type,
};

use crate::attr::{Errors, KeyOption, Kind, Options};
use crate::bindings::{bindings, PatBinding};
use crate::ret::{classify_return, Ret, Wrapper};
use crate::template::{check_template_text, parse_template, Piece};
use crate::walk::{has_impl_trait, lends_mut, names_read, names_self};

/// What identifies one entry.
pub(crate) enum Key {
    /// The encoded key arguments (`#[memoize]`), or nothing but the
    /// function (`#[cached]` without `key`).
    Hashed,
    /// A `key = "…"` template rendered with `Display`.
    Template { lit: LitStr, pieces: Vec<Piece> },
    /// A `key = |a, b| …` closure: its value, encoded as key arguments are.
    Closure(ExprClosure),
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
    /// hygienic `argN` for a pattern such as `Path(id): Path<u64>` and for
    /// `_name` (which the user promised not to use).
    pub(crate) name: Ident,
    pub(crate) ty: &'a Type,
    /// The pattern, when the argument is not a plain name.
    pub(crate) pat: Option<&'a Pat>,
    /// The names it binds, in order: itself for a plain name.
    pub(crate) bindings: Vec<Binding>,
}

/// A name an argument binds: the argument itself (`id: u64`), or a name
/// in its pattern (`id` in `Path(id): Path<u64>`). Options (`ignore`,
/// `cache`, `key`) refer to arguments by these names.
pub(crate) struct Binding {
    /// The name as options write it.
    pub(crate) user: String,
    /// The identifier the generated code uses: the user's, or a hygienic
    /// one for `_name`.
    pub(crate) ident: Ident,
    /// As written, for spans.
    pub(crate) written: Ident,
    /// Its type, when it can be read (always, for a plain argument).
    pub(crate) ty: Option<Type>,
    /// How it is bound.
    pub(crate) bound: Bound,
    /// Read by the key: `f_invalidate` takes it.
    pub(crate) in_key: bool,
    /// Read by `cache = …`: every helper takes it, by reference.
    pub(crate) cache_source: bool,
    /// Read by the body (as far as the syntax tells).
    pub(crate) read_by_body: bool,
}

/// How a name is bound.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// The argument itself: a value in `f` and `f_refresh`.
    Argument,
    /// By a pattern: a reference to a part of the argument in `f` and
    /// `f_refresh` (the argument itself stays whole, under `Arg::name`).
    Pattern,
    /// By a pattern, with a type read through `Wrapper(p): Wrapper<T>`,
    /// which the expansion checks.
    Wrapped,
}

impl Arg<'_> {
    /// Whether `f` and `f_refresh` move the argument into the body (it is
    /// not a reference): a cache borrowed from it is cloned first.
    pub(crate) fn moved(&self) -> bool {
        !matches!(self.ty, Type::Reference(_))
    }
}

/// The analysed function: everything code generation needs.
pub(crate) struct Func<'a> {
    pub(crate) kind: Kind,
    pub(crate) options: Options,
    pub(crate) item: &'a ItemFn,
    pub(crate) receiver: Option<SelfArg<'a>>,
    pub(crate) args: Vec<Arg<'a>>,
    pub(crate) ret: Ret,
    /// `Json<T>` or `Html<T>` around the stored `T`.
    pub(crate) wrapper: Option<Wrapper>,
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
        crate::ret::check_signature(kind, sig, &mut errors);

        let (mut receiver, mut fn_args) = analyze_inputs(kind, sig, &mut errors);
        let names: HashSet<String> = fn_args
            .iter()
            .flat_map(|a| &a.bindings)
            .map(|b| b.user.clone())
            .collect();
        let ignored = collect_ignored(&options, sig, &fn_args, &mut errors);
        let sources = names_read(&names, options.cache.as_ref(), None);
        let body_reads = names_read(&names, None, Some(&item.block));

        let key = match &options.key {
            Some(KeyOption::Template(lit)) => match parse_template(&lit.value()) {
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
            Some(KeyOption::Closure(syn::Expr::Closure(closure))) => Key::Closure(closure.clone()),
            Some(KeyOption::Closure(_)) | None => Key::Hashed,
        };
        // What `#[memoize]` keys on: every name but the ignored ones and
        // those only `cache = …` reads (the body does not: they select the
        // cache, not the value).
        let arguments: HashSet<String> = names
            .iter()
            .filter(|n| !ignored.contains(*n) && (body_reads.contains(*n) || !sources.contains(*n)))
            .cloned()
            .collect();
        let keyed: HashSet<String> = match &key {
            Key::Hashed if kind == Kind::Memoize => arguments.clone(),
            Key::Hashed => HashSet::new(),
            Key::Template { lit, pieces } => {
                let has_self = receiver.is_some();
                check_template(sig, (lit, "key"), pieces, &names, has_self, &mut errors)
            }
            Key::Closure(closure) => crate::key::check_closure(sig, closure, &names, &mut errors),
        };
        for binding in fn_args.iter_mut().flat_map(|a| &mut a.bindings) {
            binding.in_key = keyed.contains(&binding.user);
            binding.cache_source = sources.contains(&binding.user);
            binding.read_by_body = body_reads.contains(&binding.user);
        }
        if let Some(r) = &mut receiver {
            r.in_key =
                kind == Kind::Memoize && matches!(key, Key::Hashed) && !ignored.contains("self");
        }
        for arg in &fn_args {
            check_arg(kind, &key, arg, &mut errors);
        }
        if kind == Kind::Cached && options.key.is_none() {
            check_cached_arguments(
                sig,
                receiver.as_ref(),
                &fn_args,
                &arguments,
                &ignored,
                &mut errors,
            );
        }

        let tags = crate::tags::analyze_tags(
            options.tags.as_ref(),
            sig,
            &names,
            receiver.is_some(),
            &mut errors,
        );
        let (ret, wrapper) = classify_return(&sig.output, &options, &mut errors);
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
            wrapper,
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

    /// Every binding, in the order of the signature.
    pub(crate) fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.args.iter().flat_map(|a| &a.bindings)
    }

    /// The binding options call `name`.
    pub(crate) fn binding(&self, name: &str) -> Option<&Binding> {
        self.bindings().find(|b| b.user == name)
    }
}

/// The receiver and the typed arguments, each with the names it binds.
fn analyze_inputs<'a>(
    kind: Kind,
    sig: &'a Signature,
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
                    in_key: false,
                });
            }
            FnArg::Typed(pat_type) => {
                if lends_mut(&pat_type.ty) {
                    errors.error_spanned_by(
                        &pat_type.ty,
                        format_args!(
                            "a #[{}] function cannot take `&mut` arguments: a cache hit skips the body and whatever it would have changed",
                            kind.name()
                        ),
                    );
                }
                fn_args.push(typed_arg(i, pat_type));
            }
        }
    }
    (receiver, fn_args)
}

fn typed_arg(i: usize, pat_type: &syn::PatType) -> Arg<'_> {
    let ty = &*pat_type.ty;
    let hygienic = |suffix: &str| local(&format!("arg{i}{suffix}"));
    let binding = |user: String, ident: Ident, written: &Ident, ty: Option<Type>| Binding {
        user,
        ident,
        written: written.clone(),
        ty,
        bound: Bound::Argument,
        in_key: false,
        cache_source: false,
        read_by_body: false,
    };
    match &*pat_type.pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
            let user = p.ident.unraw().to_string();
            // Using a `_name` binding would trip lints in the user's crate.
            let name = if user.starts_with('_') {
                hygienic("")
            } else {
                p.ident.clone()
            };
            let bindings = vec![binding(user, name.clone(), &p.ident, Some(ty.clone()))];
            Arg {
                attrs: &pat_type.attrs,
                name,
                ty,
                pat: None,
                bindings,
            }
        }
        pat => {
            let bindings = bindings(pat, ty)
                .into_iter()
                .enumerate()
                .map(
                    |(
                        j,
                        PatBinding {
                            ident,
                            ty,
                            through_wrapper,
                        },
                    )| {
                        let user = ident.unraw().to_string();
                        let name = if user.starts_with('_') {
                            hygienic(&format!("_{j}"))
                        } else {
                            ident.clone()
                        };
                        let bound = if through_wrapper {
                            Bound::Wrapped
                        } else {
                            Bound::Pattern
                        };
                        Binding {
                            bound,
                            ..binding(user, name, &ident, ty)
                        }
                    },
                )
                .collect();
            Arg {
                attrs: &pat_type.attrs,
                name: hygienic(""),
                ty,
                pat: Some(pat),
                bindings,
            }
        }
    }
}

/// The checks of one argument that need to know what is in the key.
fn check_arg(kind: Kind, key: &Key, arg: &Arg<'_>, errors: &mut Errors) {
    for binding in &arg.bindings {
        if binding.ty.is_some() || !(binding.in_key || binding.cache_source) {
            continue;
        }
        let (Some(pat), name) = (arg.pat, &binding.user) else {
            continue;
        };
        let pattern = pat.to_token_stream();
        let ty = arg.ty.to_token_stream();
        let why = if binding.in_key {
            format!("`{name}` is part of the key, so the generated `_invalidate` takes it")
        } else {
            format!("`cache = …` reads `{name}`, so the generated helpers take it")
        };
        let fix = if binding.in_key && matches!(key, Key::Hashed) {
            format!(", or leave `{name}` out of the key with `ignore({name})`")
        } else {
            String::new()
        };
        errors.error_spanned_by(
            &binding.written,
            format_args!(
                "{why}, with its type, but #[{}] cannot read the type of `{name}` from `{pattern}: {ty}`: it reads names, tuples `(a, b): (u64, String)` and one-field wrappers `Path(id): Path<u64>` (as axum's extractors). Bind the argument to a name, as in `Query(params): Query<Params>`{fix}",
                kind.name()
            ),
        );
    }
    let in_key = arg.bindings.iter().any(|b| b.in_key);
    if in_key && matches!(key, Key::Hashed) && has_impl_trait(arg.ty) {
        let hint = match &arg.bindings[..] {
            [b] if arg.pat.is_none() => format!("`ignore({})`", b.user),
            _ => "`ignore(name)` (after giving it a name)".to_owned(),
        };
        errors.error_spanned_by(
            arg.ty,
            format_args!(
                "an `impl Trait` argument cannot be part of the key: give it a concrete type, or leave it out of the key with {hint}"
            ),
        );
    }
}

/// `#[cached]` keeps one entry whatever the arguments, so without a `key`
/// every name the arguments bind must be in `ignore(…)` (or read only by
/// `cache = …`): otherwise the first call's value would be returned for
/// every other argument list. A `self` receiver is an argument like the
/// others (`ignore(self)`: one entry shared by every value of `Self`); a
/// `_` argument cannot change the result and needs no listing.
fn check_cached_arguments(
    sig: &Signature,
    receiver: Option<&SelfArg<'_>>,
    args: &[Arg<'_>],
    arguments: &HashSet<String>,
    ignored: &HashSet<String>,
    errors: &mut Errors,
) {
    // The arguments left (for the span), their names, and every name (for
    // the `ignore(…)` to suggest).
    let mut keyed = TokenStream::new();
    let mut left = Vec::new();
    let mut named = Vec::new();
    let mut inputs = sig.inputs.iter();
    if let Some(r) = receiver {
        inputs.next();
        named.push("self".to_owned());
        if !ignored.contains("self") {
            left.push("`self`".to_owned());
            r.receiver.to_tokens(&mut keyed);
        }
    }
    for (arg, input) in args.iter().zip(inputs) {
        let mut counts = false;
        for binding in &arg.bindings {
            named.push(binding.user.clone());
            if arguments.contains(&binding.user) {
                left.push(format!("`{}`", binding.user));
                counts = true;
            }
        }
        if counts {
            input.to_tokens(&mut keyed);
        }
    }
    if keyed.is_empty() {
        return;
    }
    let fn_name = sig.ident.unraw();
    let ignore = format!("`ignore({})`", named.join(", "));
    errors.error_spanned_by(
        keyed,
        format_args!(
            "#[cached] keeps one entry for `{fn_name}` whatever {}: every call would return the first call's result. Use #[memoize] for one entry per argument list, add `key = \"…\"` naming the arguments that select the entry, or, if the arguments cannot change the result, {ignore}",
            left.join(", ")
        ),
    );
}

/// Every placeholder of a template (`what`: a key or a tag template) must
/// name an argument (or `self`, in a method). Returns the names it reads.
pub(crate) fn check_template(
    sig: &Signature,
    (lit, what): (&LitStr, &str),
    pieces: &[Piece],
    names: &HashSet<String>,
    has_self: bool,
    errors: &mut Errors,
) -> HashSet<String> {
    let mut read = HashSet::new();
    for piece in pieces {
        let Piece::Arg(placeholder) = piece else {
            continue;
        };
        let root = &placeholder.root;
        if names.contains(root) {
            read.insert(root.clone());
        } else if root == "self" && !has_self {
            errors.error_spanned_by(
                lit,
                format_args!(
                    "`{}` in the {what} template: `{}` has no `self` receiver",
                    placeholder.source,
                    sig.ident.unraw()
                ),
            );
        } else if root != "self" {
            errors.error_spanned_by(
                lit,
                format_args!(
                    "unknown placeholder `{}` in the {what} template: {}",
                    placeholder.source,
                    describe_args(sig, names)
                ),
            );
        }
    }
    read
}

/// The names in `ignore(…)`, each checked to be an argument.
fn collect_ignored(
    options: &Options,
    sig: &Signature,
    args: &[Arg<'_>],
    errors: &mut Errors,
) -> HashSet<String> {
    let mut ignored = HashSet::new();
    let Some((_, names)) = &options.ignore else {
        return ignored;
    };
    let has_self = sig
        .inputs
        .iter()
        .any(|input| matches!(input, FnArg::Receiver(_)));
    let arg_names: HashSet<String> = args
        .iter()
        .flat_map(|a| &a.bindings)
        .map(|b| b.user.clone())
        .collect();
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

/// What a name in an option may be: the names the arguments bind, in the
/// order of the signature.
pub(crate) fn describe_args(sig: &Signature, names: &HashSet<String>) -> String {
    let fn_name = sig.ident.unraw();
    let mut ordered = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(t) = input {
            for binding in bindings(&t.pat, &t.ty) {
                let name = binding.ident.unraw().to_string();
                if names.contains(&name) {
                    ordered.push(format!("`{name}`"));
                }
            }
        }
    }
    if ordered.is_empty() {
        format!("`{fn_name}` has no named arguments")
    } else {
        format!(
            "it must name an argument of `{fn_name}`: {}",
            ordered.join(", ")
        )
    }
}
