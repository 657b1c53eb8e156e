//! The generated helpers next to the cached function: `<fn>_refresh`,
//! `<fn>_invalidate`, `<fn>_invalidate_all` and `<fn>_uncached`, their
//! documentation and the attributes they inherit.
//!
//! `_refresh` and `_uncached` take the function's arguments. `_invalidate`
//! takes, in the function's order, the names the key reads (by their
//! type) and the names `cache = …` reads (by reference: they only select
//! the cache), and `&self` in a method; `_invalidate_all` takes the latter
//! two only. So with `cache = state.cache` and `State(state):
//! State<AppState>, Path(id): Path<u64>`, the helpers are
//! `f_invalidate(state: &AppState, id: u64)` and
//! `f_invalidate_all(state: &AppState)`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens as _};
use syn::{Attribute, GenericParam, Generics, Ident, Meta, Type};

use crate::analyze::{local, Binding, Func};
use crate::expand::SelfUse;
use crate::key::Site;
use crate::walk::lifetimes_used;

/// A parameter of `_invalidate` or `_invalidate_all`.
struct Param<'f> {
    binding: &'f Binding,
    attrs: &'f [Attribute],
    ty: Type,
}

impl Func<'_> {
    /// Everything of `f_refresh` but its body: docs, attributes and
    /// signature (shared with its stub, see `fallback.rs`).
    pub(crate) fn refresh_head(&self) -> TokenStream {
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
        quote! {
            #doc
            #(#attrs)*
            #[allow(dead_code)]
            #vis #sig
        }
    }

    pub(crate) fn refresh_fn(&self) -> TokenStream {
        let head = self.refresh_head();
        let destructure = self.destructure();
        let bypass = self.bypass();
        let prelude = self.prelude(SelfUse::Moved);
        let key = self.key_ref(Site::Call);
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
        let target = self.target_call(&cache, &memo, &key);
        quote! {
            #head {
                #destructure
                #bypass
                #prelude
                let #full = #target;
                let #call = #body;
                let #result = #run;
                #unwrap
            }
        }
    }

    /// The parameters of `f_invalidate` (`with_key`) or
    /// `f_invalidate_all`: the names the key reads, by their type, and the
    /// names `cache = …` reads, by reference, in the function's order. A
    /// name of unknown type is left out (an error says so).
    fn helper_params(&self, with_key: bool) -> Vec<Param<'_>> {
        let mut params = Vec::new();
        for arg in &self.args {
            let attrs = if arg.pat.is_none() { arg.attrs } else { &[] };
            for binding in &arg.bindings {
                let Some(ty) = &binding.ty else { continue };
                let ty = if with_key && binding.in_key {
                    ty.clone()
                } else if binding.cache_source {
                    match ty {
                        Type::Reference(_) => ty.clone(),
                        ty => syn::parse_quote!(&#ty),
                    }
                } else {
                    continue;
                };
                params.push(Param { binding, attrs, ty });
            }
        }
        params
    }

    /// `&self` (in a method) and the parameters, as a signature lists them.
    fn helper_inputs(&self, params: &[Param<'_>]) -> Vec<TokenStream> {
        let mut inputs = Vec::new();
        if let Some(r) = &self.receiver {
            let self_token = r.receiver.self_token;
            inputs.push(quote!(&#self_token));
        }
        for Param { binding, attrs, ty } in params {
            let name = &binding.ident;
            inputs.push(quote!(#(#attrs)* #name: #ty));
        }
        inputs
    }

    /// The sentence of a helper's docs about the parameters that select the cache.
    fn cache_params_doc(params: &[Param<'_>]) -> String {
        let names: Vec<String> = params
            .iter()
            .filter(|p| p.binding.cache_source && !p.binding.in_key)
            .map(|p| format!("`{}`", p.binding.user))
            .collect();
        if names.is_empty() {
            String::new()
        } else {
            format!(
                " {} selects the cache, as in the function's `cache = …`.",
                names.join(", ")
            )
        }
    }

    /// The docs, attributes and signature of `f_invalidate`.
    pub(crate) fn invalidate_head(&self) -> TokenStream {
        let name = self.helper_name("invalidate");
        let vis = &self.item.vis;
        let attrs = self.helper_attrs(false);
        let asyncness = &self.sig().asyncness;
        let params = self.helper_params(true);
        let inputs = self.helper_inputs(&params);
        let private = self.private();
        let output = quote!(#private::Result<bool>);
        let generics = prune_lifetimes(&self.sig().generics, params.iter().map(|p| &p.ty));
        let where_clause = &generics.where_clause;
        let keyed = params.iter().any(|p| p.binding.in_key)
            || self.receiver.as_ref().is_some_and(|r| r.in_key);
        let scope = if keyed {
            " for these arguments only"
        } else {
            ""
        };
        let doc = self.doc(
            &format!(
                "Removes the cached result of `{}`{scope}, for every process that shares the cache: the next call runs the function again. Returns whether there was an entry.{}",
                self.fn_name(),
                Self::cache_params_doc(&params),
            ),
            Some("When the cache's store fails; the entry may still be there."),
        );
        quote! {
            #doc
            #(#attrs)*
            #[allow(dead_code, clippy::needless_pass_by_value)]
            #vis #asyncness fn #name #generics (#(#inputs),*) -> #output #where_clause
        }
    }

    pub(crate) fn invalidate_fn(&self) -> TokenStream {
        let private = self.private();
        let head = self.invalidate_head();
        let prelude = self.prelude(SelfUse::Borrowed);
        let (cache, memo) = (local("cache"), local("memo"));
        // The key is built before any `.await`: the future holds no
        // reference to the arguments.
        let key = self.key_ref(Site::Helper);
        let full = local("full");
        let run = if self.is_async() {
            quote!(#private::invalidate_async(#cache, #full).await)
        } else {
            quote!(#private::invalidate_sync(#cache, #full))
        };
        quote! {
            #head {
                #prelude
                let #full = #private::full_key(#cache, &#memo, #key);
                #run
            }
        }
    }

    /// The docs, attributes and signature of `f_invalidate_all`.
    pub(crate) fn invalidate_all_head(&self) -> TokenStream {
        let name = self.helper_name("invalidate_all");
        let vis = &self.item.vis;
        let attrs = self.helper_attrs(false);
        let asyncness = &self.sig().asyncness;
        let private = self.private();
        let params = self.helper_params(false);
        let inputs = self.helper_inputs(&params);
        let doc = self.doc(
            &format!(
                "Removes every cached result of `{}`: all argument lists, written by any process that shares the cache. Returns how many entries were removed.{}",
                self.fn_name(),
                Self::cache_params_doc(&params),
            ),
            Some("When the cache's store fails; entries may still be there."),
        );
        // The function's own type and const parameters are left out: every
        // instantiation's entries share the prefix this removes.
        let mut generics = self.sig().generics.clone();
        generics.params = generics
            .params
            .into_iter()
            .filter(|p| matches!(p, GenericParam::Lifetime(_)))
            .collect();
        generics.where_clause = None;
        let generics = prune_lifetimes(&generics, params.iter().map(|p| &p.ty));
        let generics = generics.to_token_stream();
        quote! {
            #doc
            #(#attrs)*
            #[allow(dead_code)]
            #vis #asyncness fn #name #generics (#(#inputs),*) -> #private::Result<u64>
        }
    }

    pub(crate) fn invalidate_all_fn(&self) -> TokenStream {
        let private = self.private();
        let head = self.invalidate_all_head();
        let prelude = self.prelude(SelfUse::Borrowed);
        let (cache, memo) = (local("cache"), local("memo"));
        let run = if self.is_async() {
            quote!(#private::invalidate_all_async(#cache, &#memo).await)
        } else {
            quote!(#private::invalidate_all_sync(#cache, &#memo))
        };
        quote! {
            #head {
                #prelude
                #run
            }
        }
    }

    /// The docs, attributes and signature of `f_stats`: the parameters of
    /// `f_invalidate_all`, always a plain `fn`.
    pub(crate) fn stats_head(&self) -> TokenStream {
        let name = self.helper_name("stats");
        let vis = &self.item.vis;
        let attrs = self.helper_attrs(false);
        let private = self.private();
        let params = self.helper_params(false);
        let inputs = self.helper_inputs(&params);
        let doc = self.doc(
            &format!(
                "The statistics of `{}` in its cache: hits, misses, coalesced waits, stale values served, errors, and how long its computations took. All zero until it first runs with that cache.{}",
                self.fn_name(),
                Self::cache_params_doc(&params),
            ),
            None,
        );
        let mut generics = self.sig().generics.clone();
        generics.params = generics
            .params
            .into_iter()
            .filter(|p| matches!(p, GenericParam::Lifetime(_)))
            .collect();
        generics.where_clause = None;
        let generics = prune_lifetimes(&generics, params.iter().map(|p| &p.ty));
        let generics = generics.to_token_stream();
        quote! {
            #doc
            #(#attrs)*
            #[allow(dead_code)]
            #vis fn #name #generics (#(#inputs),*) -> #private::Stats
        }
    }

    pub(crate) fn stats_fn(&self) -> TokenStream {
        let private = self.private();
        let head = self.stats_head();
        let prelude = self.prelude(SelfUse::Borrowed);
        let (cache, memo) = (local("cache"), local("memo"));
        quote! {
            #head {
                #prelude
                #private::function_stats(#cache, &#memo)
            }
        }
    }

    /// The docs of `f_uncached`.
    pub(crate) fn uncached_doc(&self) -> TokenStream {
        self.doc(
            &format!(
                "Runs the body of `{}` without reading or writing the cache.",
                self.fn_name()
            ),
            None,
        )
    }

    pub(crate) fn uncached_fn(&self) -> TokenStream {
        let mut sig = self.sig().clone();
        sig.ident = self.helper_name("uncached");
        let vis = &self.item.vis;
        let attrs = self.helper_attrs(true);
        let block = &self.item.block;
        let doc = self.uncached_doc();
        // A name only `cache = …` reads is unused in the body.
        let allow = self
            .bindings()
            .any(|b| b.cache_source && !b.read_by_body)
            .then(|| quote!(#[allow(unused_variables)]));
        quote! {
            #doc
            #(#attrs)*
            #allow
            #vis #sig #block
        }
    }

    /// A generated helper's documentation: what it does, where it comes
    /// from, and (for the fallible helpers) when it fails.
    pub(crate) fn doc(&self, text: &str, errors: Option<&str>) -> TokenStream {
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
    pub(crate) fn helper_attrs(&self, keep_expect: bool) -> Vec<Attribute> {
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
pub(crate) fn expect_to_allow(attr: &Attribute) -> Attribute {
    let mut attr = attr.clone();
    if let Meta::List(list) = &mut attr.meta {
        if list.path.is_ident("expect") {
            let span = list.path.segments[0].ident.span();
            list.path = Ident::new("allow", span).into();
        }
    }
    attr
}

/// `generics` without the lifetime parameters that a helper taking only
/// the arguments of types `types` no longer uses (they would be unused
/// parameters).
fn prune_lifetimes<'a>(generics: &Generics, types: impl IntoIterator<Item = &'a Type>) -> Generics {
    let Some(used) = lifetimes_used(generics, types) else {
        return generics.clone();
    };
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
    use quote::ToTokens as _;

    use super::*;

    #[test]
    fn unused_lifetimes_are_pruned_from_helpers() {
        let generics: Generics = syn::parse_str("<'a, 'b, T: 'b>").unwrap();
        let ty: Type = syn::parse_str("&'a str").unwrap();
        let pruned = prune_lifetimes(&generics, [&ty]);
        assert_eq!(pruned.to_token_stream().to_string(), "< 'a , 'b , T : 'b >");
        let generics: Generics = syn::parse_str("<'a>").unwrap();
        let pruned = prune_lifetimes(&generics, []);
        assert!(pruned.to_token_stream().is_empty());
        let ty: Type = syn::parse_str("my_type!('a)").unwrap();
        let kept = prune_lifetimes(&generics, [&ty]);
        assert_eq!(
            kept.to_token_stream().to_string(),
            "< 'a >",
            "a macro may name it"
        );
    }
}
