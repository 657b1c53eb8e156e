//! The key of one call, as generated code builds it: the encoded key
//! arguments, a rendered `key = "…"` template, or the value of a
//! `key = |…| …` closure; and the borrows of pattern bindings it reads.
//!
//! Two kinds of generated functions build keys. `f` and `f_refresh` take
//! the function's arguments: a plain argument is a value there, and a name
//! bound by a pattern is a reference into its argument (see
//! [`Func::destructure`]). `f_invalidate` takes the names themselves, by
//! value. [`Site`] says which, so both spell the same key.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::{ExprClosure, Ident, LitStr, Pat, Signature};

use crate::analyze::{describe_args, Binding, Bound, Func, Key, SelfArg};
use crate::attr::Errors;
use crate::bindings::by_ref_pattern;
use crate::template::{Piece, Placeholder};
use crate::walk::names_read;

/// Where a key is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// `f`, `f_refresh`: the function's own arguments.
    Call,
    /// `f_invalidate`: the bindings the key reads, by value, and `&self`.
    Helper,
}

impl Binding {
    /// A reference to the bound value.
    fn reference(&self, site: Site) -> TokenStream {
        let ident = &self.ident;
        if site == Site::Call && self.bound != Bound::Argument {
            ident.to_token_stream()
        } else {
            quote!(&#ident)
        }
    }
}

/// The parameters of a `key = |…| …` closure must name arguments, and its
/// body may read no other argument: `f_invalidate` takes exactly the
/// parameters. Returns the names it reads.
pub(crate) fn check_closure(
    sig: &Signature,
    closure: &ExprClosure,
    names: &HashSet<String>,
    errors: &mut Errors,
) -> HashSet<String> {
    if let Some(token) = &closure.asyncness {
        errors.error_spanned_by(
            token,
            "the key closure runs before the lookup and cannot be `async`",
        );
    }
    let mut params = HashSet::new();
    for input in &closure.inputs {
        match param_name(input) {
            Some(name) if names.contains(&name) => {
                params.insert(name);
            }
            _ => errors.error_spanned_by(
                input,
                format_args!(
                    "each parameter of the key closure names an argument, which it receives by reference: {}",
                    describe_args(sig, names)
                ),
            ),
        }
    }
    let others: HashSet<String> = names.difference(&params).cloned().collect();
    let mut read: Vec<String> = names_read(&others, Some(&*closure.body), None)
        .into_iter()
        .collect();
    read.sort();
    if let Some(name) = read.first() {
        let listed: Vec<String> = closure
            .inputs
            .iter()
            .filter_map(param_name)
            .chain(read.iter().cloned())
            .collect();
        errors.error_spanned_by(
            &closure.body,
            format_args!(
                "the key closure reads `{name}` without taking it: add it to the closure's parameters, `|{}| …` (the generated `_invalidate` takes exactly those)",
                listed.join(", ")
            ),
        );
    }
    params
}

/// `name` in a closure parameter `name` or `name: &T`.
fn param_name(pat: &Pat) -> Option<String> {
    match pat {
        Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => {
            Some(syn::ext::IdentExt::unraw(&p.ident).to_string())
        }
        Pat::Type(t) => param_name(&t.pat),
        _ => None,
    }
}

impl Func<'_> {
    /// In `f` and `f_refresh`, before anything reads them: the names the
    /// argument patterns bind, as references into the arguments, which
    /// stay whole for the body (`let Path(id) = &arg0;`). Wrapper types
    /// read by the macro are checked here.
    pub(crate) fn destructure(&self) -> TokenStream {
        let private = self.private();
        let mut out = TokenStream::new();
        for arg in &self.args {
            let Some(pat) = arg.pat else { continue };
            if arg.bindings.is_empty() {
                continue;
            }
            let pat = by_ref_pattern(pat, |ident| {
                arg.bindings
                    .iter()
                    .find(|b| &b.written == ident && b.ident != b.written)
                    .map(|b| b.ident.clone())
            });
            let name = &arg.name;
            out.extend(quote! {
                #[allow(unused_variables)]
                let #pat = &#name;
            });
            for binding in &arg.bindings {
                let (Some(ty), Bound::Wrapped) = (&binding.ty, binding.bound) else {
                    continue;
                };
                if !(binding.in_key || binding.cache_source) {
                    continue;
                }
                let ident = &binding.ident;
                let span = binding.written.span();
                let private = quote_spanned!(span=> #private);
                out.extend(quote_spanned! {span=>
                    #private::assert_binds::<#ty, _>(#ident);
                });
            }
        }
        out
    }

    /// The receiver as a `&Self` expression, for the key.
    pub(crate) fn self_ref(receiver: &SelfArg<'_>, site: Site) -> TokenStream {
        let self_token = receiver.receiver.self_token;
        if site == Site::Helper || receiver.receiver.reference.is_some() {
            quote!(#self_token)
        } else if receiver.by_value {
            quote!(&#self_token)
        } else {
            quote!(&*#self_token)
        }
    }

    /// The type names of the function's type parameters and its const
    /// parameters: one entry per instantiation.
    fn generic_key_parts(&self) -> Vec<TokenStream> {
        let (types, consts) = self.type_and_const_params();
        types
            .iter()
            .map(|t| quote!(::core::any::type_name::<#t>()))
            .chain(consts.iter().map(ToTokens::to_token_stream))
            .collect()
    }

    /// The key arguments (`KeyArgs`) of one call.
    pub(crate) fn key_expr(&self, site: Site) -> TokenStream {
        match &self.key {
            Key::Hashed => {
                let mut elems = Vec::new();
                if let Some(r) = self.receiver.as_ref().filter(|r| r.in_key) {
                    elems.push(Self::self_ref(r, site));
                }
                for binding in self.bindings().filter(|b| b.in_key) {
                    elems.push(binding.reference(site));
                }
                elems.extend(self.generic_key_parts());
                // Spanned on the argument list: if an argument is not
                // `Serialize`, the uses of the key point there too.
                let span = self.sig().paren_token.span.join();
                let private = self.private_at(span);
                quote_spanned!(span=> #private::Hashed(&(#(#elems,)*)))
            }
            Key::Closure(closure) => {
                let span = syn::spanned::Spanned::span(&closure.body);
                let private = self.private_at(span);
                let mut lets = TokenStream::new();
                for input in &closure.inputs {
                    let binding = param_name(input).and_then(|name| self.binding(&name));
                    if let Some(binding) = binding {
                        // Spanned on the parameter: a type annotation that
                        // is not a reference is reported there.
                        let span = syn::spanned::Spanned::span(input);
                        let reference = located_at(binding.reference(site), span);
                        lets.extend(quote_spanned!(span=> let #input = #reference;));
                    }
                }
                let body = &closure.body;
                let value = match &closure.output {
                    syn::ReturnType::Type(_, ty) => {
                        let value = crate::analyze::local("value");
                        quote!({ let #value: #ty = #body; #value })
                    }
                    syn::ReturnType::Default => body.to_token_stream(),
                };
                let generic = self.generic_key_parts();
                quote_spanned! {span=>
                    #private::Hashed(&(#private::key_value(&{ #lets #value }), #(#generic,)*))
                }
            }
            Key::Template { lit, pieces } => self.template_expr(lit, pieces, site, true),
        }
    }

    /// A `key = "…"` template (or a tag template): `text[0] values[0]
    /// text[1] … text[n]`; the runtime writes the text as is and escapes
    /// the values. With `generics`, the function's type parameters end it.
    pub(crate) fn template_expr(
        &self,
        lit: &LitStr,
        pieces: &[Piece],
        site: Site,
        generics: bool,
    ) -> TokenStream {
        let mut text = vec![String::new()];
        let mut values = Vec::new();
        let private = self.private_at(lit.span());
        let value =
            |tokens: TokenStream| quote_spanned!(lit.span()=> #private::template_value(&#tokens));
        for piece in pieces {
            match piece {
                Piece::Text(t) => push_text(&mut text, t),
                Piece::Arg(placeholder) => {
                    // Checked in `check_template`: it names an argument or `self`.
                    if let Some(expr) = self.placeholder_expr(lit, placeholder, site) {
                        values.push(value(expr));
                        text.push(String::new());
                    }
                }
            }
        }
        // Generic functions: one entry per instantiation, `<T,U,N>`.
        let generic = if generics {
            self.generic_key_parts()
        } else {
            Vec::new()
        };
        let generic_count = generic.len();
        for (i, g) in generic.into_iter().enumerate() {
            push_text(&mut text, if i == 0 { "<" } else { "," });
            values.push(value(g));
            text.push(String::new());
        }
        if generic_count > 0 {
            push_text(&mut text, ">");
        }
        let text = text.iter().map(|t| LitStr::new(t, lit.span()));
        quote!(#private::Template {
            text: &[#(#text),*],
            values: &[#(#values),*],
        })
    }

    /// The value of one placeholder: `(id)`, `(user.id)`, or with a spec,
    /// `format_args!("{:04}", …)`. Resolved where the names are, reported
    /// on the template.
    fn placeholder_expr(
        &self,
        lit: &LitStr,
        placeholder: &Placeholder,
        site: Site,
    ) -> Option<TokenStream> {
        let span = lit.span();
        let mut root = if placeholder.root == "self" {
            let r = self.receiver.as_ref()?;
            let self_token = r.receiver.self_token;
            if placeholder.members.is_empty() {
                Self::self_ref(r, site)
            } else {
                quote!(#self_token)
            }
        } else {
            let binding = self.binding(&placeholder.root)?;
            let mut ident = binding.ident.clone();
            ident.set_span(ident.span().located_at(span));
            ident.into_token_stream()
        };
        for member in &placeholder.members {
            let member: syn::Member = if let Ok(index) = member.parse::<u32>() {
                syn::Member::Unnamed(syn::Index { index, span })
            } else {
                syn::Member::Named(Ident::new(member, span))
            };
            root = quote_spanned!(span=> #root.#member);
        }
        let value = quote_spanned!(span=> (#root));
        let Some(spec) = &placeholder.spec else {
            return Some(value);
        };
        let format = LitStr::new(&format!("{{:{}}}", spec.text), span);
        let value = if spec.padded {
            let private = self.private_at(span);
            quote_spanned!(span=> #private::padded_value(&#value))
        } else {
            quote_spanned!(span=> &#value)
        };
        Some(quote_spanned!(span=> (::core::format_args!(#format, #value))))
    }

    /// Spanned checks that the key arguments are serializable, so the
    /// error points at the argument, with a note on `ignore(…)`.
    pub(crate) fn assertions(&self) -> TokenStream {
        if !matches!(self.key, Key::Hashed) {
            return TokenStream::new();
        }
        let mut checks = TokenStream::new();
        if let Some(r) = self.receiver.as_ref().filter(|r| r.in_key) {
            let self_ref = Self::self_ref(r, Site::Call);
            let span = r.receiver.self_token.span;
            let private = self.private_at(span);
            checks.extend(quote_spanned! {span=>
                #private::assert_key_self(#self_ref);
            });
        }
        for binding in self.bindings().filter(|b| b.in_key) {
            let span = binding.written.span();
            let reference = located_at(binding.reference(Site::Call), span);
            let private = self.private_at(span);
            checks.extend(quote_spanned! {span=>
                #private::assert_key_arg(#reference);
            });
        }
        checks
    }

    /// `&key`, spanned like the key.
    pub(crate) fn key_ref(&self, site: Site) -> TokenStream {
        let key = self.key_expr(site);
        let span = match &self.key {
            Key::Hashed => self.sig().paren_token.span.join(),
            Key::Template { lit, .. } => lit.span(),
            Key::Closure(closure) => syn::spanned::Spanned::span(&closure.body),
        };
        quote_spanned!(span=> &#key)
    }
}

/// `tokens` reported at `span` (each resolved where it was).
fn located_at(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            t.set_span(t.span().located_at(span));
            t
        })
        .collect()
}

/// Appends `s` to the last literal part of a template.
fn push_text(text: &mut Vec<String>, s: &str) {
    match text.last_mut() {
        Some(last) => last.push_str(s),
        None => text.push(s.to_owned()),
    }
}
