//! Code generation for `#[memoize]` and `#[cached]`.
//!
//! For `fn f(args…) -> R { body }` the expansion is five functions, all
//! with `f`'s visibility, generics and where-clause:
//!
//! - `f_uncached(args…) -> R { body }`: the user's body, untouched, so
//!   `return`, `?` and `.await` inside it mean what they meant;
//! - `f(args…) -> R`: borrows the names argument patterns bind, builds
//!   the key from references to the arguments, evaluates `cache = …`,
//!   looks the key up, and on a miss moves the arguments into a closure
//!   that calls `f_uncached` (through `::cache_core::__private`, or the
//!   `__private` of the `crate = path` option);
//! - `f_stats()`: the function's statistics in its cache (a plain `fn`);
//! - `f_invalidate(key args…)`, `f_invalidate_all()`, `f_refresh(args…)`:
//!   the helpers also take the arguments `cache = …` reads (`helpers.rs`).
//!
//! Everything is named by absolute path, and the locals the expansion
//! introduces have mixed-site hygiene, so they can neither shadow nor be
//! shadowed by the user's names.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt as _;
use syn::{Expr, ExprLit, Ident, ItemFn, Lit, LitStr, Receiver, ReturnType, Signature};

use crate::analyze::{local, Arg, Func};
use crate::attr::Kind;
use crate::helpers::expect_to_allow;
use crate::key::Site;
use crate::walk::uses_self_value;

/// Whether a generated function moves its arguments (and `self`) into the
/// body right after the prelude (`f_refresh`) or only borrows them there
/// (invalidate, key building, and `f`, which looks the key up first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SelfUse {
    /// The arguments move into the body: a cache borrowed from one is cloned first.
    Moved,
    /// The arguments are only borrowed.
    Borrowed,
}

/// Expands one attribute. On any error, the output is the errors, the
/// function unchanged and stubs of the helpers (see `fallback.rs`), so a
/// mistake in the options does not also make every caller fail with
/// "function not found".
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let Ok(func) = syn::parse2::<ItemFn>(item.clone()) else {
        let mut out = syn::Error::new(
            Span::call_site(),
            format_args!(
                "#[{}] applies to a `fn` or `async fn` with a body",
                kind.name()
            ),
        )
        .to_compile_error();
        out.extend(item);
        return out;
    };
    let (analysed, checked) = Func::analyze(kind, args, &func);
    match checked {
        Ok(()) => analysed.generate(),
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(analysed.fallback(item));
            out
        }
    }
}

impl Func<'_> {
    fn generate(&self) -> TokenStream {
        let main = self.main_fn();
        let invalidate = self.invalidate_fn();
        let invalidate_all = self.invalidate_all_fn();
        let stats = self.stats_fn();
        let refresh = self.refresh_fn();
        let uncached = self.uncached_fn();
        quote! {
            #main
            #invalidate
            #invalidate_all
            #stats
            #refresh
            #uncached
        }
    }

    /// The path of cache-core's `__private` module, through which the
    /// generated code names everything: `::cache_core::__private`, or
    /// `<path>::__private` with `crate = <path>`.
    pub(crate) fn private(&self) -> TokenStream {
        let Some(path) = &self.options.krate else {
            return quote!(::cache_core::__private);
        };
        let private = Self::private_segment(path);
        quote!(#path::#private)
    }

    /// [`Self::private`] located at `span`, for a path whose call is
    /// reported there (a value that cannot be cached, on the return type).
    /// The path still resolves where it was written.
    pub(crate) fn private_at(&self, span: Span) -> TokenStream {
        let Some(path) = &self.options.krate else {
            return quote_spanned!(span=> ::cache_core::__private);
        };
        let private = Self::private_segment(path);
        let path = path.to_token_stream().into_iter().map(|mut token| {
            token.set_span(token.span().located_at(span));
            token
        });
        quote_spanned!(span=> #(#path)*::#private)
    }

    /// `__private`, located on the `crate` path: a path that does not
    /// re-export it is reported once, there, not at every use.
    fn private_segment(path: &syn::Path) -> Ident {
        let span = path
            .segments
            .last()
            .map_or_else(Span::call_site, |segment| segment.ident.span());
        Ident::new("__private", span)
    }

    pub(crate) fn helper_name(&self, suffix: &str) -> Ident {
        let ident = &self.sig().ident;
        format_ident!("{}_{}", ident.unraw(), suffix, span = ident.span())
    }

    /// `let cache = …; let memo = …;`: what every generated function starts with.
    /// With [`SelfUse::Moved`] the function moves its arguments into the
    /// body next, so a cache borrowed from `self` or from an argument that
    /// is not a reference is detached first ([`Self::detach_cache`]).
    pub(crate) fn prelude(&self, self_use: SelfUse) -> TokenStream {
        let moves_self = self_use == SelfUse::Moved;
        let cache = local("cache");
        let memo = local("memo");
        let private = self.private();
        let cache_expr = self
            .options
            .cache
            .as_ref()
            .map_or_else(|| quote!(#private::global()), ToTokens::to_token_stream);
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
        let clone = if moves_self {
            self.detach_cache()
        } else {
            TokenStream::new()
        };
        let cache_ref = self.options.cache.as_ref().map_or_else(
            || quote!(&(#cache_expr)),
            |expr| {
                let span = syn::spanned::Spanned::span(expr);
                quote_spanned!(span=> &(#cache_expr))
            },
        );
        let policy = if self.options.policy.is_empty() {
            quote!(::core::option::Option::None)
        } else {
            let (names, args): (Vec<_>, Vec<_>) = self.options.policy.iter().cloned().unzip();
            quote!(::core::option::Option::Some({
                #[allow(unused_imports)]
                use #private::Lock as __LOCK;
                static POLICY: #private::Policy = #private::Policy::new() #(.#names(#args))*;
                &POLICY
            }))
        };
        quote! {
            let #cache: &#private::Cache = #cache_ref;
            #clone
            let #memo = #private::Memo {
                owner: #owner,
                name: #name,
                prefix: #prefix,
                version: #version,
                timeout: #timeout,
                policy: #policy,
            };
        }
    }

    /// Whether `cache = …` borrows from `self` or from an argument that
    /// moves into the body.
    pub(crate) fn cache_borrows_moved(&self) -> bool {
        self.options.cache.as_ref().is_some_and(|expr| {
            let from_self = self
                .receiver
                .as_ref()
                .is_some_and(|r| r.receiver.reference.is_none() && uses_self_value(expr));
            from_self
                || self
                    .args
                    .iter()
                    .any(|a| a.moved() && a.bindings.iter().any(|b| b.cache_source))
        })
    }

    /// `cache` made independent of the arguments before they move into
    /// the body, when it borrows from one: the handle is cloned (a
    /// reference count increment).
    pub(crate) fn detach_cache(&self) -> TokenStream {
        if !self.cache_borrows_moved() {
            return TokenStream::new();
        }
        let (cache, cloned) = (local("cache"), local("cloned"));
        let private = self.private();
        quote! {
            let #cloned: #private::Cache = ::core::clone::Clone::clone(#cache);
            let #cache = &#cloned;
        }
    }

    /// Where errors about the stored value point: the return type.
    pub(crate) fn value_span(&self) -> Span {
        match &self.sig().output {
            ReturnType::Type(_, ty) => syn::spanned::Spanned::span(&**ty),
            ReturnType::Default => Span::call_site(),
        }
    }

    /// A runtime function whose bounds are about the stored value, spanned
    /// on the return type so a value that cannot be cached is reported there.
    pub(crate) fn value_fn(&self, name: &str) -> TokenStream {
        let span = self.value_span();
        let ident = Ident::new(name, span);
        let private = self.private_at(span);
        quote_spanned!(span=> #private::#ident)
    }

    /// A mixed-site local whose uses are reported on the return type: the
    /// stored type is inferred through them, and an error about it belongs
    /// there.
    pub(crate) fn value_local(&self, name: &str) -> Ident {
        Ident::new(name, Span::mixed_site().located_at(self.value_span()))
    }

    /// Decides whether a computed value is stored (`store_if`). The user's
    /// closure is passed as it is, so the runtime's `Fn(&T) -> bool` bound
    /// gives its argument a type: `store_if = |v| !v.is_empty()` needs no
    /// annotation.
    pub(crate) fn store_if(&self) -> TokenStream {
        match &self.options.store_if {
            None => quote_spanned!(self.value_span()=> |_: &_| true),
            Some(store_if) => store_if.to_token_stream(),
        }
    }

    /// `unless`: evaluated first, on the arguments; when true, the body
    /// runs and its value is returned, with no read and no write.
    pub(crate) fn bypass(&self) -> TokenStream {
        let Some(unless) = &self.options.unless else {
            return TokenStream::new();
        };
        let skip = local("skip");
        let call = self.call_uncached();
        let call = if self.is_async() {
            quote!(#call.await)
        } else {
            call
        };
        quote! {
            let #skip: bool = #unless;
            if #skip {
                return #call;
            }
        }
    }

    /// The call of the body: `f_uncached::<T>(a, b)` or `Self::f_uncached(self, a)`.
    pub(crate) fn call_uncached(&self) -> TokenStream {
        self.call_named(&self.helper_name("uncached"))
    }

    /// A call of the function `name` (the body's, or the user's function
    /// itself in a stub) with every argument, by name.
    pub(crate) fn call_named(&self, name: &Ident) -> TokenStream {
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

    /// Statements that give the computation its own copy of every
    /// borrowed argument (`ToOwned`) and of a borrowed `self` (`Clone`),
    /// and the call of `name` with them, for a computation that may
    /// outlive the call.
    pub(crate) fn owned_arguments(&self, name: &Ident) -> (TokenStream, TokenStream) {
        let (types, consts) = self.type_and_const_params();
        let turbofish = if types.is_empty() && consts.is_empty() {
            TokenStream::new()
        } else {
            quote!(::<#(#types,)* #(#consts,)*>)
        };
        let span = self.value_span();
        let mut owned = Vec::new();
        let mut args: Vec<TokenStream> = Vec::new();
        if let Some(r) = &self.receiver {
            let self_token = r.receiver.self_token;
            if r.receiver.reference.is_some() {
                let this = local("this");
                owned.push(quote_spanned!(self_token.span=> let #this = ::core::clone::Clone::clone(#self_token);));
                args.push(quote!(&#this));
            } else {
                args.push(quote!(#self_token));
            }
        }
        for a in &self.args {
            let name = &a.name;
            if matches!(a.ty, syn::Type::Reference(_)) {
                let ty_span = syn::spanned::Spanned::span(a.ty);
                owned.push(
                    quote_spanned!(ty_span=> let #name = ::std::borrow::ToOwned::to_owned(#name);),
                );
                args.push(quote!(&#name));
            } else {
                args.push(name.to_token_stream());
            }
        }
        let call = if self.in_impl {
            quote_spanned!(span=> Self::#name #turbofish (#(#args),*))
        } else {
            quote_spanned!(span=> #name #turbofish (#(#args),*))
        };
        (quote!(#(#owned)*), call)
    }

    /// The signature of `f` and `f_refresh`: the user's, with patterns
    /// replaced by names (the body destructures them in `f_uncached`).
    pub(crate) fn plain_sig(&self, name: &Ident) -> TokenStream {
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
                mutability,
                self_token,
                colon_token,
                ty,
            } = r.receiver;
            // `&mut self` is rejected, but its stub keeps the signature; a
            // `mut self` binding is the body's business, not the caller's.
            let reference = reference
                .as_ref()
                .map(|(and, lifetime)| quote!(#and #lifetime #mutability));
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
        // The arguments move into the body after the lookup: a cache
        // borrowed from one is detached then, on a miss only.
        let prelude = self.prelude(SelfUse::Borrowed);
        let assertions = self.assertions();
        let response = self.response_check();
        let destructure = self.destructure();
        let key = self.key_ref(Site::Call);
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
        let private = self.private_at(span);
        let probe = if self.is_async() {
            quote_spanned!(span=> #private::timeout_probe)
        } else {
            quote_spanned!(span=> #private::timeout_probe_sync)
        };
        let on_timeout = quote_spanned! {span=> {
            #[allow(unused_imports)]
            use #private::{FromTimeout as _, NoTimeoutError as _};
            (&#probe(&#call)).on_timeout()
        }};
        let unwrap = self.unwrap_result(&result);
        let detach = self.detach_cache();
        let compute = if self.options.background.is_some() {
            // The computation owns its arguments: it may run after the
            // call returns (refresh ahead, a soft timeout).
            let run = if self.is_async() {
                let call_detached = self.value_fn("call_detached");
                quote!(#call_detached(#cache, &#memo, #lookup, #store_if, #on_timeout, #call).await)
            } else {
                let call_detached = self.value_fn("call_detached_sync");
                quote!(#call_detached(#cache, &#memo, #lookup, #store_if, #on_timeout, #call))
            };
            let target = self.target_call(&cache, &memo, &key);
            let (owned, call_owned) = self.owned_arguments(&self.helper_name("uncached"));
            let body = self.body_closure_of(call_owned);
            quote_spanned! {span=>
                let #lookup = #target;
                #detach
                #owned
                let #call = #body;
                let #result = #run;
            }
        } else {
            let run = if self.is_async() {
                let call_async = self.value_fn("call_async");
                quote!(#call_async(#cache, &#memo, #lookup, #store_if, #on_timeout, #call).await)
            } else {
                let call_sync = self.value_fn("call_sync");
                quote!(#call_sync(#cache, &#memo, #lookup, #store_if, #on_timeout, #call))
            };
            let lookup_call = self.lookup_call(&cache, &memo, &key);
            // The statements that infer the stored type point at the return type.
            let return_on_hit = self.return_on_hit(&lookup);
            quote_spanned! {span=>
                let #lookup = #lookup_call;
                #return_on_hit
                #detach
                let #call = #body;
                let #result = #run;
            }
        };
        let bypass = self.bypass();
        quote! {
            #(#attrs)*
            #vis #sig {
                #destructure
                #bypass
                #prelude
                #assertions
                #response
                #compute
                #unwrap
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(kind: Kind, args: TokenStream, item: TokenStream) -> String {
        expand(kind, args, item).to_string()
    }

    #[test]
    fn errors_keep_the_function_unchanged_and_stub_the_helpers() {
        let item = quote!(
            fn f(x: u64) -> u64 {
                x
            }
        );
        let out = expand_str(Kind::Memoize, quote!(bogus), item.clone());
        assert!(out.contains("compile_error"));
        assert!(out.contains(&item.to_string()));
        for helper in [
            "f_invalidate",
            "f_invalidate_all",
            "f_stats",
            "f_refresh",
            "f_uncached",
        ] {
            assert!(out.contains(&format!("fn {helper} (")), "{helper}: {out}");
        }
        assert!(!out.contains("lookup"), "the stubs do not cache: {out}");
    }

    #[test]
    fn unsafe_functions_get_no_stubs() {
        let item = quote!(
            unsafe fn f(x: u64) -> u64 {
                x
            }
        );
        let out = expand_str(Kind::Memoize, TokenStream::new(), item.clone());
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

    #[test]
    fn crate_option_replaces_every_cache_core_path() {
        let item = quote!(
            async fn find(&self, id: u64) -> Option<String> {
                self.load(id).await
            }
        );
        for args in [
            quote!(crate = fw::cache),
            quote!(crate = "fw::cache", key = "user:{id}", cache = self.cache),
            quote!(crate = fw::cache, ignore(self), timeout = 60),
            // An error: the stubs name the path too.
            quote!(crate = fw::cache, bogus),
        ] {
            let out = expand_str(Kind::Memoize, args.clone(), item.clone());
            assert!(!out.contains("cache_core"), "{args}: {out}");
            assert!(out.contains("fw :: cache :: __private ::"), "{args}: {out}");
        }
        let out = expand_str(Kind::Memoize, TokenStream::new(), item);
        assert!(out.contains(":: cache_core :: __private :: Memo"), "{out}");
    }

    #[test]
    fn a_cache_from_a_moved_argument_is_cloned_on_a_miss_only() {
        let moved = expand_str(
            Kind::Memoize,
            quote!(cache = state.cache, ignore(state)),
            quote!(
                async fn f(State(state): State<App>, Path(id): Path<u64>) -> u64 {
                    state.load(id).await
                }
            ),
        );
        let hit = moved.find("Lookup :: Hit").expect("a hit returns early");
        let clone = moved.find("Clone :: clone").expect("a miss clones");
        assert!(hit < clone, "{moved}");
        assert!(moved.contains("let State (state) = &"), "{moved}");

        let borrowed = expand_str(
            Kind::Memoize,
            quote!(cache = state.cache, ignore(state)),
            quote!(
                async fn f(state: &App, id: u64) -> u64 {
                    state.load(id).await
                }
            ),
        );
        assert!(!borrowed.contains("Clone :: clone"), "{borrowed}");
        assert!(!borrowed.contains("Lookup :: Hit"), "{borrowed}");
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
