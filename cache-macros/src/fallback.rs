//! What the expansion emits when the attribute has an error (thiserror's
//! `fallback.rs`): the user's function unchanged, and stubs of the helpers
//! with the signatures they would have had. A mistake in the attribute is
//! one error, not one more at every call site of `f_invalidate` and co.
//!
//! The stubs do not touch the cache: `f_refresh` and `f_uncached` call the
//! function, `f_invalidate` and `f_invalidate_all` return an error. They
//! never run (the crate does not compile); they only have to type-check.

use proc_macro2::TokenStream;
use quote::quote;

use crate::analyze::Func;

impl Func<'_> {
    /// The function unchanged (`item`, as written) and the helper stubs.
    /// An `unsafe` function gets no stubs: calling it needs an `unsafe`
    /// block, and the attribute rejects it anyway.
    pub(crate) fn fallback(&self, item: TokenStream) -> TokenStream {
        let sig = self.sig();
        if sig.unsafety.is_some() || sig.variadic.is_some() {
            return item;
        }
        let allow = quote!(#[allow(unused_variables, clippy::unused_async)]);
        let private = self.private();
        let not_generated = quote!(::core::result::Result::Err(#private::not_generated()));
        let call = {
            let call = self.call_named(&sig.ident);
            if self.is_async() {
                quote!(#call.await)
            } else {
                call
            }
        };
        let invalidate = self.invalidate_head();
        let invalidate_all = self.invalidate_all_head();
        let stats = self.stats_head();
        let refresh = self.refresh_head();
        let uncached = {
            let doc = self.uncached_doc();
            let attrs = self.helper_attrs(false);
            let vis = &self.item.vis;
            let sig = self.plain_sig(&self.helper_name("uncached"));
            quote!(#doc #(#attrs)* #[allow(dead_code)] #vis #sig)
        };
        quote! {
            #item
            #allow #invalidate { #not_generated }
            #allow #invalidate_all { #not_generated }
            #allow #stats { ::core::default::Default::default() }
            #allow #refresh { #call }
            #allow #uncached { #call }
        }
    }
}
