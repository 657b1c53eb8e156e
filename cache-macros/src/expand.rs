//! Code generation for `#[memoize]` and `#[cached]`.
//!
//! For `fn f(args…) -> R { body }` the expansion is five functions, all
//! with `f`'s visibility, generics and where-clause:
//!
//! - `f_uncached(args…) -> R { body }`: the user's body, untouched, so
//!   `return`, `?` and `.await` inside it mean what they meant;
//! - `f(args…) -> R`: builds the key from references to the arguments,
//!   looks it up, and on a miss moves the arguments into a closure that
//!   calls `f_uncached` (through `::cache_core::__private`);
//! - `f_invalidate(key args…)`, `f_invalidate_all()`, `f_refresh(args…)`.
//!
//! Everything is named by absolute path, and the locals the expansion
//! introduces have mixed-site hygiene, so they can neither shadow nor be
//! shadowed by the user's names.

use std::collections::HashSet;

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt as _;
use syn::{
    Attribute, Expr, ExprLit, FnArg, GenericParam, Generics, Ident, ItemFn, Lit, LitStr, Meta, Pat,
    Receiver, ReturnType, Signature, Type,
};

use crate::attr::{parse_template, Errors, Kind, Options, Piece};

/// Expands one attribute. On any error, the output is the errors followed
/// by the function unchanged, so a mistake in the options does not also
/// make every caller fail with "function not found".
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let result = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => Func::analyze(kind, args, &func).map(|func| func.generate()),
        Err(_) => Err(syn::Error::new(
            Span::call_site(),
            format_args!(
                "#[{}] applies to a `fn` or `async fn` with a body",
                kind.name()
            ),
        )),
    };
    result.unwrap_or_else(|error| {
        let mut out = error.to_compile_error();
        out.extend(item);
        out
    })
}

/// How the return value maps to what is stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ret {
    /// Any other type: always stored.
    Plain,
    /// `Result<T, E>`: `Ok(T)` is stored, `Err` returned and not stored.
    Result,
    /// `Option<T>` without `cache_none`: `Some(T)` is stored, `None` not.
    Option,
}

/// What identifies one entry.
enum Key {
    /// The hashed serde encoding of the key arguments.
    Hashed,
    /// A `key = "…"` template rendered with `Display`.
    Template { lit: LitStr, pieces: Vec<Piece> },
}

/// The `self` receiver of a method.
struct SelfArg<'a> {
    receiver: &'a Receiver,
    /// `self` / `mut self` / `self: Self`: the key borrows it as `&self`.
    by_value: bool,
    /// Part of the key (`#[memoize]` without `ignore(self)`).
    in_key: bool,
}

/// A typed argument.
struct Arg<'a> {
    attrs: &'a [Attribute],
    /// The name the generated code uses: the user's identifier, or a
    /// hygienic `argN` for a pattern such as `(a, b): (u32, u32)` and for
    /// `_name` (which the user promised not to use).
    name: Ident,
    /// The user's plain identifier, if any (what `ignore` and key
    /// templates refer to).
    user_name: Option<String>,
    ty: &'a Type,
    /// Part of the hashed key.
    in_key: bool,
}

/// The analysed function: everything code generation needs.
struct Func<'a> {
    kind: Kind,
    options: Options,
    item: &'a ItemFn,
    receiver: Option<SelfArg<'a>>,
    args: Vec<Arg<'a>>,
    ret: Ret,
    /// In an `impl` block: the owner is `Self`'s type name and the body is
    /// called as `Self::f_uncached`.
    in_impl: bool,
    key: Key,
}

/// A local introduced by the expansion, invisible to the user's code.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

impl<'a> Func<'a> {
    fn analyze(kind: Kind, args: TokenStream, item: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let options = Options::parse(kind, args, &mut errors);
        options.check(kind, &mut errors);
        let sig = &item.sig;
        check_signature(kind, sig, &mut errors);

        let ignored = collect_ignored(&options, sig, &mut errors);
        let key = match &options.key {
            Some(lit) => match parse_template(&lit.value()) {
                Ok(pieces) => Key::Template {
                    lit: lit.clone(),
                    pieces,
                },
                Err(message) => {
                    errors.error_spanned_by(lit, message);
                    Key::Hashed
                }
            },
            None => Key::Hashed,
        };
        let hashes_args = kind == Kind::Memoize && matches!(key, Key::Hashed);

        let (receiver, fn_args) = analyze_inputs(kind, sig, hashes_args, &ignored, &mut errors);
        if let Key::Template { lit, pieces } = &key {
            check_template(sig, lit, pieces, &fn_args, &mut errors);
        }

        let ret = classify_return(&sig.output, &options, &mut errors);
        let in_impl = receiver.is_some()
            || options.method.is_some()
            || has_ident(sig.to_token_stream(), "Self")
            || mentions_self(item.block.to_token_stream());

        errors.finish()?;
        Ok(Self {
            kind,
            options,
            item,
            receiver,
            args: fn_args,
            ret,
            in_impl,
            key,
        })
    }

    fn sig(&self) -> &'a Signature {
        &self.item.sig
    }

    fn is_async(&self) -> bool {
        self.sig().asyncness.is_some()
    }

    fn generate(&self) -> TokenStream {
        let main = self.main_fn();
        let invalidate = self.invalidate_fn();
        let invalidate_all = self.invalidate_all_fn();
        let refresh = self.refresh_fn();
        let uncached = self.uncached_fn();
        quote! {
            #main
            #invalidate
            #invalidate_all
            #refresh
            #uncached
        }
    }

    fn helper_name(&self, suffix: &str) -> Ident {
        let ident = &self.sig().ident;
        format_ident!("{}_{}", ident.unraw(), suffix, span = ident.span())
    }

    /// `let cache = …; let memo = …;`: what every generated function starts with.
    /// `moves_self`: the function moves `self` into the body, so a cache
    /// borrowed from `self` is cloned first (a reference count increment).
    fn prelude(&self, moves_self: bool) -> TokenStream {
        let cache = local("cache");
        let memo = local("memo");
        let cache_expr = self
            .options
            .cache
            .as_ref()
            .map_or_else(|| quote!(::cache_core::global()), ToTokens::to_token_stream);
        let owner = if self.in_impl {
            quote!(::core::any::type_name::<Self>())
        } else {
            quote!(::core::module_path!())
        };
        let ident = &self.sig().ident;
        let name = LitStr::new(&ident.unraw().to_string(), ident.span());
        let version = self
            .options
            .version
            .as_ref()
            .map_or_else(|| quote!(1), ToTokens::to_token_stream);
        // For free functions with a literal version the whole key prefix
        // is a compile-time string: the hit path copies it in one go.
        let version_literal = match &self.options.version {
            None => Some("1".to_owned()),
            Some(Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            })) => Some(int.base10_digits().to_owned()),
            Some(_) => None,
        };
        let prefix = match version_literal {
            Some(v) if !self.in_impl => {
                let tail = LitStr::new(&format!("::{}:{v}:", ident.unraw()), ident.span());
                quote!(::core::option::Option::Some(
                    ::core::concat!(::core::module_path!(), #tail)
                ))
            }
            _ => quote!(::core::option::Option::None),
        };
        let timeout = self.options.timeout.as_ref().map_or_else(
            || quote!(::core::option::Option::None),
            |t| quote!(::core::option::Option::Some(#t)),
        );
        let cloned = local("cloned");
        let clone = match (&self.options.cache, &self.receiver) {
            (Some(expr), Some(r))
                if moves_self
                    && r.receiver.reference.is_none()
                    && has_ident(expr.to_token_stream(), "self") =>
            {
                quote! {
                let #cloned: ::cache_core::Cache = ::core::clone::Clone::clone(#cache);
                let #cache = &#cloned;
                }
            }
            _ => TokenStream::new(),
        };
        let cache_ref = self.options.cache.as_ref().map_or_else(
            || quote!(&(#cache_expr)),
            |expr| {
                let span = syn::spanned::Spanned::span(expr);
                quote_spanned!(span=> &(#cache_expr))
            },
        );
        quote! {
            let #cache: &::cache_core::Cache = #cache_ref;
            #clone
            let #memo = ::cache_core::__private::Memo {
                owner: #owner,
                name: #name,
                prefix: #prefix,
                version: #version,
                timeout: #timeout,
            };
        }
    }

    /// The fn's own type and const parameters (the impl's are in `Self`).
    fn type_and_const_params(&self) -> (Vec<&'a Ident>, Vec<&'a Ident>) {
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

    /// The receiver as a `&Self` expression, for the key. `in_helper`: in
    /// `_invalidate`, whose receiver is always `&self`.
    fn self_ref(receiver: &SelfArg<'_>, in_helper: bool) -> TokenStream {
        let self_token = receiver.receiver.self_token;
        if in_helper || receiver.receiver.reference.is_some() {
            quote!(#self_token)
        } else if receiver.by_value {
            quote!(&#self_token)
        } else {
            quote!(&*#self_token)
        }
    }

    /// The key arguments (`KeyArgs`) of one call.
    fn key_expr(&self, in_helper: bool) -> TokenStream {
        let (types, consts) = self.type_and_const_params();
        match &self.key {
            Key::Hashed => {
                let mut elems = Vec::new();
                if let Some(r) = self.receiver.as_ref().filter(|r| r.in_key) {
                    elems.push(Self::self_ref(r, in_helper));
                }
                for arg in self.args.iter().filter(|a| a.in_key) {
                    let name = &arg.name;
                    elems.push(quote!(&#name));
                }
                for t in &types {
                    elems.push(quote!(::core::any::type_name::<#t>()));
                }
                for c in &consts {
                    elems.push(quote!(#c));
                }
                // Spanned on the argument list: if an argument is not
                // `Serialize`, the uses of the key point there too.
                let span = self.sig().paren_token.span.join();
                quote_spanned!(span=> ::cache_core::__private::Hashed(&(#(#elems,)*)))
            }
            Key::Template { lit, pieces } => {
                let mut format = String::new();
                let mut values = Vec::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => {
                            format.push_str(&text.replace('{', "{{").replace('}', "}}"));
                        }
                        Piece::Arg(name) => {
                            format.push_str("{}");
                            // Checked in `check_template`: some argument has this name.
                            if let Some(arg) = self
                                .args
                                .iter()
                                .find(|a| a.user_name.as_deref() == Some(name.as_str()))
                            {
                                // Resolved as the argument, reported on the template.
                                let mut ident = arg.name.clone();
                                ident.set_span(ident.span().located_at(lit.span()));
                                values.push(ident.into_token_stream());
                            }
                        }
                    }
                }
                if !types.is_empty() || !consts.is_empty() {
                    // Generic functions: one entry per instantiation.
                    let holes = vec!["{}"; types.len() + consts.len()];
                    format.push('<');
                    format.push_str(&holes.join(","));
                    format.push('>');
                    values.extend(types.iter().map(|t| quote!(::core::any::type_name::<#t>())));
                    values.extend(consts.iter().map(|c| quote!(#c)));
                }
                let format = LitStr::new(&format, lit.span());
                quote!(::cache_core::__private::Template(
                    ::std::format!(#format #(, #values)*)
                ))
            }
        }
    }

    /// Spanned checks that the key arguments are serializable, so the
    /// error points at the argument, with a note on `ignore(…)`.
    fn assertions(&self) -> TokenStream {
        if !matches!(self.key, Key::Hashed) {
            return TokenStream::new();
        }
        let mut checks = TokenStream::new();
        if let Some(r) = self.receiver.as_ref().filter(|r| r.in_key) {
            let self_ref = Self::self_ref(r, false);
            let span = r.receiver.self_token.span;
            checks.extend(quote_spanned! {span=>
                ::cache_core::__private::assert_key_self(#self_ref);
            });
        }
        for arg in self.args.iter().filter(|a| a.in_key) {
            let name = &arg.name;
            checks.extend(quote_spanned! {name.span()=>
                ::cache_core::__private::assert_key_arg(&#name);
            });
        }
        checks
    }

    /// `&key`, spanned like the key.
    fn key_ref(&self, in_helper: bool) -> TokenStream {
        let key = self.key_expr(in_helper);
        let span = match self.key {
            Key::Hashed => self.sig().paren_token.span.join(),
            Key::Template { ref lit, .. } => lit.span(),
        };
        quote_spanned!(span=> &#key)
    }

    /// Where errors about the stored value point: the return type.
    fn value_span(&self) -> Span {
        match &self.sig().output {
            ReturnType::Type(_, ty) => syn::spanned::Spanned::span(&**ty),
            ReturnType::Default => Span::call_site(),
        }
    }

    /// A runtime function whose bounds are about the stored value, spanned
    /// on the return type so a value that cannot be cached is reported there.
    fn value_fn(&self, name: &str) -> TokenStream {
        let span = self.value_span();
        let ident = Ident::new(name, span);
        quote_spanned!(span=> ::cache_core::__private::#ident)
    }

    /// A mixed-site local whose uses are reported on the return type: the
    /// stored type is inferred through them, and an error about it belongs
    /// there.
    fn value_local(&self, name: &str) -> Ident {
        Ident::new(name, Span::mixed_site().located_at(self.value_span()))
    }

    /// Decides whether a computed value is stored (`unless`).
    fn store_if(&self) -> TokenStream {
        let value = local("value");
        match &self.options.unless {
            None => quote_spanned!(self.value_span()=> |_: &_| true),
            Some(unless) => quote!(|#value: &_| !(#unless)(#value)),
        }
    }

    /// The call of the body: `f_uncached::<T>(a, b)` or `Self::f_uncached(self, a)`.
    fn call_uncached(&self) -> TokenStream {
        let name = self.helper_name("uncached");
        let (types, consts) = self.type_and_const_params();
        let turbofish = if types.is_empty() && consts.is_empty() {
            TokenStream::new()
        } else {
            quote!(::<#(#types,)* #(#consts,)*>)
        };
        let mut args: Vec<TokenStream> = Vec::new();
        if let Some(r) = &self.receiver {
            let self_token = r.receiver.self_token;
            args.push(quote!(#self_token));
        }
        args.extend(self.args.iter().map(|a| a.name.to_token_stream()));
        // The name keeps the function's span (a missing `method` is
        // reported on it); the rest points at the return type, like the
        // closure around it.
        let span = self.value_span();
        if self.in_impl {
            quote_spanned!(span=> Self::#name #turbofish (#(#args),*))
        } else {
            quote_spanned!(span=> #name #turbofish (#(#args),*))
        }
    }

    /// The closure handed to the runtime: runs the body and maps its value
    /// to `Result<stored value, _>`. It owns the arguments.
    ///
    /// The stored type is inferred from this closure, so it is spanned on
    /// the return type: that is where the compiler points when the type
    /// cannot be cached.
    fn body_closure(&self) -> TokenStream {
        let call = self.call_uncached();
        let span = self.value_span();
        let ok =
            quote_spanned!(span=> ::core::result::Result::Ok::<_, ::core::convert::Infallible>);
        let not_cached = quote_spanned!(span=> ::cache_core::__private::NotCached);
        match (self.is_async(), self.ret) {
            (_, Ret::Result) => quote_spanned!(span=> move || #call),
            (false, Ret::Plain) => quote_spanned!(span=> move || #ok(#call)),
            (false, Ret::Option) => {
                quote_spanned!(span=> move || ::core::option::Option::ok_or(#call, #not_cached))
            }
            (true, Ret::Plain) => quote_spanned!(span=> move || async move { #ok(#call.await) }),
            (true, Ret::Option) => quote_spanned!(span=>
                move || async move { ::core::option::Option::ok_or(#call.await, #not_cached) }
            ),
        }
    }

    /// Maps the runtime's `Result<stored value, _>` back to the return type.
    fn unwrap_result(&self, result: &Ident) -> TokenStream {
        let value = local("value");
        let never = local("never");
        match self.ret {
            Ret::Result => quote!(#result),
            Ret::Plain => quote! {
                match #result {
                    ::core::result::Result::Ok(#value) => #value,
                    ::core::result::Result::Err(#never) => match #never {},
                }
            },
            Ret::Option => quote! {
                match #result {
                    ::core::result::Result::Ok(#value) => ::core::option::Option::Some(#value),
                    ::core::result::Result::Err(::cache_core::__private::NotCached) => ::core::option::Option::None,
                }
            },
        }
    }

    /// The signature of `f` and `f_refresh`: the user's, with patterns
    /// replaced by names (the body destructures them in `f_uncached`).
    fn plain_sig(&self, name: &Ident) -> TokenStream {
        let sig = self.sig();
        let Signature {
            asyncness,
            fn_token,
            generics,
            output,
            ..
        } = sig;
        let where_clause = &generics.where_clause;
        let mut inputs = Vec::new();
        if let Some(r) = &self.receiver {
            let Receiver {
                attrs,
                reference,
                self_token,
                colon_token,
                ty,
                ..
            } = r.receiver;
            let reference = reference
                .as_ref()
                .map(|(and, lifetime)| quote!(#and #lifetime));
            let ty = colon_token.map(|colon| quote!(#colon #ty));
            inputs.push(quote!(#(#attrs)* #reference #self_token #ty));
        }
        for arg in &self.args {
            let Arg {
                attrs, name, ty, ..
            } = arg;
            inputs.push(quote!(#(#attrs)* #name: #ty));
        }
        quote!(#asyncness #fn_token #name #generics (#(#inputs),*) #output #where_clause)
    }

    fn main_fn(&self) -> TokenStream {
        let sig = self.plain_sig(&self.sig().ident);
        let attrs = self.item.attrs.iter().map(expect_to_allow);
        let vis = &self.item.vis;
        let prelude = self.prelude(true);
        let assertions = self.assertions();
        let key = self.key_ref(false);
        let store_if = self.store_if();
        let body = self.body_closure();
        let (cache, memo, lookup, call, result) = (
            self.value_local("cache"),
            self.value_local("memo"),
            self.value_local("lookup"),
            self.value_local("call"),
            local("result"),
        );
        let span = self.value_span();
        let run = if self.is_async() {
            let call_async = self.value_fn("call_async");
            quote!(#call_async(#cache, &#memo, #lookup, #store_if, #call).await)
        } else {
            let call_sync = self.value_fn("call_sync");
            quote!(#call_sync(#cache, &#memo, #lookup, #store_if, #call))
        };
        let lookup_fn = self.value_fn("lookup");
        let unwrap = self.unwrap_result(&result);
        // The statements that infer the stored type point at the return type.
        let compute = quote_spanned! {span=>
            let #lookup = #lookup_fn(#cache, &#memo, #key);
            let #call = #body;
            let #result = #run;
        };
        quote! {
            #(#attrs)*
            #vis #sig {
                #prelude
                #assertions
                #compute
                #unwrap
            }
        }
    }

    fn refresh_fn(&self) -> TokenStream {
        let name = self.helper_name("refresh");
        let sig = self.plain_sig(&name);
        let attrs = self.helper_attrs(false);
        let doc = self.doc(
            &format!(
                "Runs `{}` and stores its result, replacing the cached one (if any).",
                self.fn_name()
            ),
            None,
        );
        let vis = &self.item.vis;
        let prelude = self.prelude(true);
        let key = self.key_ref(false);
        let store_if = self.store_if();
        let body = self.body_closure();
        let (cache, memo, full, call, result) = (
            self.value_local("cache"),
            self.value_local("memo"),
            self.value_local("full"),
            self.value_local("call"),
            local("result"),
        );
        let span = self.value_span();
        let run = if self.is_async() {
            let refresh_async = self.value_fn("refresh_async");
            quote_spanned!(span=> #refresh_async(#cache, &#memo, #full, #store_if, #call).await)
        } else {
            let refresh_sync = self.value_fn("refresh_sync");
            quote_spanned!(span=> #refresh_sync(#cache, &#memo, #full, #store_if, #call))
        };
        let unwrap = self.unwrap_result(&result);
        quote! {
            #doc
            #(#attrs)*
            #[allow(dead_code)]
            #vis #sig {
                #prelude
                let #full = ::cache_core::__private::full_key(#cache, &#memo, #key);
                let #call = #body;
                let #result = #run;
                #unwrap
            }
        }
    }

    fn invalidate_fn(&self) -> TokenStream {
        let name = self.helper_name("invalidate");
        let vis = &self.item.vis;
        let attrs = self.helper_attrs(false);
        let asyncness = &self.sig().asyncness;
        let params: Vec<&Arg<'_>> = match &self.key {
            Key::Hashed => self.args.iter().filter(|a| a.in_key).collect(),
            Key::Template { pieces, .. } => self
                .args
                .iter()
                .filter(|a| {
                    pieces
                        .iter()
                        .any(|p| matches!((p, &a.user_name), (Piece::Arg(n), Some(u)) if n == u))
                })
                .collect(),
        };
        let mut inputs = Vec::new();
        if let Some(r) = &self.receiver {
            let self_token = r.receiver.self_token;
            inputs.push(quote!(&#self_token));
        }
        for arg in &params {
            let Arg {
                attrs, name, ty, ..
            } = arg;
            inputs.push(quote!(#(#attrs)* #name: #ty));
        }
        let output = quote!(::cache_core::Result<bool>);
        let generics = prune_lifetimes(&self.sig().generics, &quote!(#(#inputs)*));
        let where_clause = &generics.where_clause;
        let scope = if params.is_empty() && self.receiver.as_ref().is_none_or(|r| !r.in_key) {
            ""
        } else {
            " for these arguments only"
        };
        let doc = self.doc(
            &format!(
                "Removes the cached result of `{}`{scope}, for every process that shares the cache: the next call runs the function again. Returns whether there was an entry.",
                self.fn_name()
            ),
            Some("When the cache's store fails; the entry may still be there."),
        );
        let prelude = self.prelude(false);
        let (cache, memo) = (local("cache"), local("memo"));
        let run = if self.is_async() {
            let key = self.key_expr(true);
            quote!(::cache_core::__private::invalidate_async(#cache, &#memo, #key).await)
        } else {
            let key = self.key_ref(true);
            quote!(::cache_core::__private::invalidate_sync(#cache, &#memo, #key))
        };
        quote! {
            #doc
            #(#attrs)*
            #[allow(dead_code, clippy::needless_pass_by_value)]
            #vis #asyncness fn #name #generics (#(#inputs),*) -> #output #where_clause {
                #prelude
                #run
            }
        }
    }

    fn invalidate_all_fn(&self) -> TokenStream {
        let name = self.helper_name("invalidate_all");
        let vis = &self.item.vis;
        let attrs = self.helper_attrs(false);
        let asyncness = &self.sig().asyncness;
        let receiver = self.receiver.as_ref().map(|r| {
            let self_token = r.receiver.self_token;
            quote!(&#self_token)
        });
        let doc = self.doc(
            &format!(
                "Removes every cached result of `{}`: all argument lists, written by any process that shares the cache. Returns how many entries were removed.",
                self.fn_name()
            ),
            Some("When the cache's store fails; entries may still be there."),
        );
        let prelude = self.prelude(false);
        let (cache, memo) = (local("cache"), local("memo"));
        let run = if self.is_async() {
            quote!(::cache_core::__private::invalidate_all_async(#cache, &#memo).await)
        } else {
            quote!(::cache_core::__private::invalidate_all_sync(#cache, &#memo))
        };
        // The function's own generics are left out: every instantiation's
        // entries share the prefix this removes.
        quote! {
            #doc
            #(#attrs)*
            #[allow(dead_code)]
            #vis #asyncness fn #name(#receiver) -> ::cache_core::Result<u64> {
                #prelude
                #run
            }
        }
    }

    fn uncached_fn(&self) -> TokenStream {
        let mut sig = self.sig().clone();
        sig.ident = self.helper_name("uncached");
        let vis = &self.item.vis;
        let attrs = self.helper_attrs(true);
        let block = &self.item.block;
        let doc = self.doc(
            &format!(
                "Runs the body of `{}` without reading or writing the cache.",
                self.fn_name()
            ),
            None,
        );
        quote! {
            #doc
            #(#attrs)*
            #vis #sig #block
        }
    }

    fn fn_name(&self) -> String {
        self.sig().ident.unraw().to_string()
    }

    /// A generated helper's documentation: what it does, where it comes
    /// from, and (for the fallible helpers) when it fails.
    fn doc(&self, text: &str, errors: Option<&str>) -> TokenStream {
        let generated = format!("Generated by `#[{}]`.", self.kind.name());
        let errors = errors.map(|errors| {
            quote! {
                #[doc = ""]
                #[doc = "# Errors"]
                #[doc = ""]
                #[doc = #errors]
            }
        });
        quote! {
            #[doc = #text]
            #[doc = ""]
            #[doc = #generated]
            #errors
        }
    }

    /// The attributes a generated helper inherits: `cfg`, lint levels and
    /// `doc(hidden)`-style lists. `#[expect]` becomes `#[allow]` except on
    /// `f_uncached`, which holds the body the expectation is about.
    fn helper_attrs(&self, keep_expect: bool) -> Vec<Attribute> {
        self.item
            .attrs
            .iter()
            .filter(|a| {
                let path = a.path();
                ["cfg", "allow", "warn", "deny", "forbid", "expect"]
                    .iter()
                    .any(|name| path.is_ident(name))
                    || (path.is_ident("doc") && matches!(a.meta, Meta::List(_)))
            })
            .map(|a| {
                if keep_expect {
                    a.clone()
                } else {
                    expect_to_allow(a)
                }
            })
            .collect()
    }
}

/// `#[expect(lint)]` → `#[allow(lint)]`: on a generated function the lint
/// the user expected may not fire, which would itself warn.
fn expect_to_allow(attr: &Attribute) -> Attribute {
    let mut attr = attr.clone();
    if let Meta::List(list) = &mut attr.meta {
        if list.path.is_ident("expect") {
            let span = list.path.segments[0].ident.span();
            list.path = Ident::new("allow", span).into();
        }
    }
    attr
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
                if r.mutability.is_some() && r.reference.is_some() || has_mut_ref(&r.ty) {
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
                if has_mut_ref(&pat_type.ty) {
                    errors.error_spanned_by(
                        &pat_type.ty,
                        format_args!(
                            "a #[{}] function cannot take `&mut` arguments: a cache hit skips the body and whatever it would have changed",
                            kind.name()
                        ),
                    );
                } else if in_key && has_ident(pat_type.ty.to_token_stream(), "impl") {
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
        if has_ident(ty.to_token_stream(), "impl") {
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

/// Whether `tokens` contain the identifier (or keyword) `name`.
fn has_ident(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(ident) => ident == name,
        TokenTree::Group(group) => has_ident(group.stream(), name),
        _ => false,
    })
}

/// Whether a function body mentions `Self`, leaving out nested `impl` and
/// `trait` blocks (their `Self` is another type) and nested `fn` items
/// (which cannot use the outer `Self`).
fn mentions_self(tokens: TokenStream) -> bool {
    let mut skip_next_brace = false;
    for tt in tokens {
        match tt {
            TokenTree::Ident(ident) if ident == "impl" || ident == "trait" || ident == "fn" => {
                skip_next_brace = true;
            }
            TokenTree::Ident(ident) if ident == "Self" && !skip_next_brace => return true,
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace && skip_next_brace => {
                skip_next_brace = false;
            }
            TokenTree::Group(group) if !skip_next_brace && mentions_self(group.stream()) => {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// Whether a type contains `&mut` (or `&'a mut`).
fn has_mut_ref(ty: &Type) -> bool {
    fn scan(tokens: TokenStream) -> bool {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, tt) in tokens.iter().enumerate() {
            match tt {
                TokenTree::Punct(p) if p.as_char() == '&' => {
                    let mut next = i + 1;
                    // Skip a lifetime: `'` `a`.
                    if matches!(tokens.get(next), Some(TokenTree::Punct(q)) if q.as_char() == '\'')
                    {
                        next += 2;
                    }
                    if matches!(tokens.get(next), Some(TokenTree::Ident(m)) if m == "mut") {
                        return true;
                    }
                }
                TokenTree::Group(group) if scan(group.stream()) => return true,
                _ => {}
            }
        }
        false
    }
    scan(ty.to_token_stream())
}

/// The lifetimes named in `tokens`.
fn lifetimes_in(tokens: TokenStream, out: &mut HashSet<String>) {
    let mut after_quote = false;
    for tt in tokens {
        match tt {
            TokenTree::Punct(p) if p.as_char() == '\'' => {
                after_quote = true;
                continue;
            }
            TokenTree::Ident(ident) if after_quote => {
                out.insert(ident.to_string());
            }
            TokenTree::Group(group) => lifetimes_in(group.stream(), out),
            _ => {}
        }
        after_quote = false;
    }
}

/// `generics` without the lifetime parameters that a helper taking only
/// some of the arguments no longer uses (they would be unused parameters).
fn prune_lifetimes(generics: &Generics, inputs: &TokenStream) -> Generics {
    let mut used = HashSet::new();
    lifetimes_in(inputs.clone(), &mut used);
    lifetimes_in(generics.where_clause.to_token_stream(), &mut used);
    for param in &generics.params {
        match param {
            GenericParam::Type(t) => lifetimes_in(t.bounds.to_token_stream(), &mut used),
            GenericParam::Const(c) => lifetimes_in(c.ty.to_token_stream(), &mut used),
            GenericParam::Lifetime(l) => lifetimes_in(l.bounds.to_token_stream(), &mut used),
        }
    }
    let mut pruned = generics.clone();
    pruned.params = generics
        .params
        .iter()
        .filter(|param| match param {
            GenericParam::Lifetime(l) => used.contains(&l.lifetime.ident.to_string()),
            _ => true,
        })
        .cloned()
        .collect();
    if pruned.params.is_empty() {
        pruned.lt_token = None;
        pruned.gt_token = None;
    }
    pruned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(kind: Kind, args: TokenStream, item: TokenStream) -> String {
        expand(kind, args, item).to_string()
    }

    #[test]
    fn mut_references_are_found_in_any_position() {
        for ty in [
            "&mut u32",
            "&'a mut u32",
            "Vec<&mut u32>",
            "(u32, &mut [u8])",
        ] {
            assert!(has_mut_ref(&syn::parse_str(ty).unwrap()), "{ty}");
        }
        for ty in ["&u32", "&'a u32", "*mut u8", "Mutex<u32>"] {
            assert!(!has_mut_ref(&syn::parse_str(ty).unwrap()), "{ty}");
        }
    }

    #[test]
    fn self_in_nested_items_does_not_count() {
        let mentions = |s: &str| mentions_self(s.parse().unwrap());
        assert!(mentions("{ Self::load(id) }"));
        assert!(mentions("{ let f = || Self::X; f() }"));
        assert!(!mentions(
            "{ struct A; impl A { fn new() -> Self { A } } A::new() }"
        ));
        assert!(!mentions("{ fn inner() -> u32 { 1 } inner() }"));
    }

    #[test]
    fn unused_lifetimes_are_pruned_from_helpers() {
        let generics: Generics = syn::parse_str("<'a, 'b, T: 'b>").unwrap();
        let pruned = prune_lifetimes(&generics, &quote!(x: &'a str));
        assert_eq!(pruned.to_token_stream().to_string(), "< 'a , 'b , T : 'b >");
        let generics: Generics = syn::parse_str("<'a>").unwrap();
        let pruned = prune_lifetimes(&generics, &quote!());
        assert!(pruned.to_token_stream().is_empty());
    }

    #[test]
    fn errors_keep_the_function_unchanged() {
        let item = quote!(
            fn f(x: u64) -> u64 {
                x
            }
        );
        let out = expand_str(Kind::Memoize, quote!(bogus), item.clone());
        assert!(out.contains("compile_error"));
        assert!(out.ends_with(&item.to_string()));
        assert!(!out.contains("f_invalidate"));
    }

    #[test]
    fn free_function_is_keyed_by_module_and_calls_its_body() {
        let out = expand_str(
            Kind::Memoize,
            quote!(timeout = 120),
            quote!(
                async fn get_user_profile(user_id: u64) -> Profile {
                    load(user_id).await
                }
            ),
        );
        assert!(out.contains(":: core :: module_path ! ()"), "{out}");
        assert!(out.contains("get_user_profile_uncached (user_id)"), "{out}");
        assert!(out.contains("Some (120)"), "{out}");
    }

    #[test]
    fn methods_are_keyed_by_self_type() {
        let out = expand_str(
            Kind::Memoize,
            quote!(ignore(self)),
            quote!(
                fn find(&self, id: u64) -> String {
                    self.load(id)
                }
            ),
        );
        assert!(out.contains("type_name :: < Self > ()"), "{out}");
        assert!(out.contains("Self :: find_uncached (self , id)"), "{out}");
    }

    /// Prints the expansion of the README example (`cargo test -p
    /// cache-macros -- --nocapture print_expansion`), the stand-in for
    /// `cargo expand` on stable.
    #[test]
    fn print_expansion() {
        let out = expand(
            Kind::Memoize,
            quote!(timeout = 120),
            quote!(
                async fn get_user_profile(user_id: u64) -> Profile {
                    db::load(user_id).await
                }
            ),
        );
        let file: syn::File = syn::parse2(out).unwrap();
        println!("{}", file.to_token_stream());
    }
}
