//! The function's shape and return type: what can be wrapped, and how the
//! returned value maps to the stored one and back (the closure that runs
//! the body, the unwrapping of the runtime's result, the early return of
//! an in-process hit).
//!
//! The macro sees types by name only, so it reads the last path segment:
//! `Result<T, E>` stores `T`, `Option<T>` stores `Some`'s `T`, and
//! `Json<T>` / `Html<T>` (axum's response wrappers, or any one-field tuple
//! struct of that name) store the `T` they wrap, alone or as `Result`'s or
//! `Option`'s `T`. An HTTP response is no value to store: `impl
//! IntoResponse` is refused here, and a type named `Response` gets a
//! compile-time check with a message that says what to do instead.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens as _};
use syn::{GenericArgument, Ident, PathArguments, ReturnType, Signature, Type, TypeImplTrait};

use crate::analyze::{local, Func};
use crate::attr::{Errors, Kind, Options};
use crate::walk::has_impl_trait;

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

/// A response wrapper around the stored value: `Json<T>`, `Html<T>`.
pub(crate) struct Wrapper {
    /// Its constructor: the type's path without generic arguments (`axum::Json`).
    pub(crate) path: syn::Path,
}

/// The names of the one-field wrappers whose `T` is stored.
const WRAPPERS: [&str; 2] = ["Json", "Html"];

/// Where an HTTP response to a cached value belongs, for messages.
pub(crate) const RESPONSE_HINT: &str = "memoize the function that computes the data and build the response from its value in the handler (a `Json<T>` return type is fine: the `T` is cached), or cache whole responses with the HTTP layer `cache_core::http::CacheLayer` (feature `tower`)";

fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => strip(&p.elem),
        Type::Group(g) => strip(&g.elem),
        ty => ty,
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match strip(ty) {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

/// The first type argument of a type's last segment: `T` in `Result<T, E>`.
fn first_type_arg(ty: &Type) -> Option<&Type> {
    let PathArguments::AngleBracketed(args) = &last_segment(ty)?.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// The type the function stores, as written: the return type, or the `T`
/// of its `Result<T, E>` / `Option<T>`. `None` when the syntax does not
/// say (an alias given `result` or `option`, say).
pub(crate) fn stored_type(output: &ReturnType, ret: Ret) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    match ret {
        Ret::Plain => Some(ty),
        Ret::Result | Ret::Option => {
            let name = last_segment(ty)?.ident.to_string();
            matches!(name.as_str(), "Result" | "Option")
                .then(|| first_type_arg(ty))
                .flatten()
        }
    }
}

/// Whether `ty`'s last segment is named `name`.
pub(crate) fn is_named(ty: &Type, name: &str) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == name)
}

/// `Result<…>` and `Option<…>` by their last path segment, or as forced by
/// the `result` / `option` options (for aliases); and the wrapper around
/// the stored value, if any.
pub(crate) fn classify_return(
    output: &ReturnType,
    options: &Options,
    errors: &mut Errors,
) -> (Ret, Option<Wrapper>) {
    let last = match output {
        ReturnType::Type(_, ty) => last_segment(ty).map(|s| s.ident.to_string()),
        ReturnType::Default => None,
    };
    let is_option =
        options.option.is_some() || (options.result.is_none() && last.as_deref() == Some("Option"));
    let ret = if options.result.is_some() || last.as_deref() == Some("Result") {
        Ret::Result
    } else if is_option {
        Ret::Option
    } else {
        Ret::Plain
    };
    let ret = match (&options.cache_none, ret) {
        (Some(_), Ret::Option) => Ret::Plain,
        (Some(flag), _) => {
            errors.error_spanned_by(
                flag,
                "`cache_none` applies to functions returning `Option` (add `option` if the return type is an alias of `Option`)",
            );
            ret
        }
        (None, ret) => ret,
    };
    let wrapper = stored_type(output, ret).and_then(|ty| {
        let segment = last_segment(ty)?;
        if !WRAPPERS.iter().any(|w| segment.ident == w) || first_type_arg(ty).is_none() {
            return None;
        }
        let Type::Path(p) = strip(ty) else {
            return None;
        };
        let mut path = p.path.clone();
        if let Some(last) = path.segments.last_mut() {
            last.arguments = PathArguments::None;
        }
        Some(Wrapper { path })
    });
    (ret, wrapper)
}

/// Rejects function shapes the cache cannot wrap.
pub(crate) fn check_signature(kind: Kind, sig: &Signature, errors: &mut Errors) {
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
        if let Some(response) = into_response(ty) {
            errors.error_spanned_by(
                response,
                format_args!("a #[{name}] function cannot return `impl IntoResponse`: the cache stores a value, and a response is not one; {RESPONSE_HINT}"),
            );
        } else if has_impl_trait(ty) {
            errors.error_spanned_by(
                ty,
                format_args!("a #[{name}] function must return a concrete type: its value is stored in the cache"),
            );
        }
    }
}

/// The `impl IntoResponse` in a return type (alone, or as a `Result`'s or
/// `Option`'s type argument).
fn into_response(ty: &Type) -> Option<&TypeImplTrait> {
    let is_response = |t: &TypeImplTrait| {
        t.bounds.iter().any(|bound| {
            matches!(bound, syn::TypeParamBound::Trait(t)
                if t.path.segments.last().is_some_and(|s| s.ident == "IntoResponse"))
        })
    };
    match strip(ty) {
        Type::ImplTrait(t) if is_response(t) => Some(t),
        ty @ Type::Path(_) => {
            let PathArguments::AngleBracketed(args) = &last_segment(ty)?.arguments else {
                return None;
            };
            args.args.iter().find_map(|arg| match arg {
                GenericArgument::Type(ty) => into_response(ty),
                _ => None,
            })
        }
        _ => None,
    }
}

impl Func<'_> {
    /// The closure handed to the runtime: runs the body and maps its value
    /// to `Result<stored value, _>` (taking the `T` out of a `Json<T>`).
    /// It owns the arguments.
    ///
    /// The stored type is inferred from this closure, so it is spanned on
    /// the return type: that is where the compiler points when the type
    /// cannot be cached.
    pub(crate) fn body_closure(&self) -> TokenStream {
        self.body_closure_of(self.call_uncached())
    }

    /// [`body_closure`](Self::body_closure) around the call `call`.
    pub(crate) fn body_closure_of(&self, call: TokenStream) -> TokenStream {
        let span = self.value_span();
        if self.ret == Ret::Result && self.wrapper.is_none() {
            return quote_spanned!(span=> move || #call);
        }
        let out = if self.is_async() {
            quote_spanned!(span=> #call.await)
        } else {
            call
        };
        let ok = quote_spanned!(span=> ::core::result::Result::Ok);
        let err = quote_spanned!(span=> ::core::result::Result::Err);
        let private = self.private_at(span);
        let not_cached = quote_spanned!(span=> #private::NotCached);
        let (wrapped, error) = (local("wrapped"), local("error"));
        let mapped = match (self.ret, self.wrapper.is_some()) {
            (Ret::Plain, false) => {
                quote_spanned!(span=> #ok::<_, ::core::convert::Infallible>(#out))
            }
            (Ret::Plain, true) => {
                quote_spanned!(span=> #ok::<_, ::core::convert::Infallible>(#out.0))
            }
            (Ret::Option, false) => {
                quote_spanned!(span=> ::core::option::Option::ok_or(#out, #not_cached))
            }
            (Ret::Option, true) => quote_spanned! {span=>
                match #out {
                    ::core::option::Option::Some(#wrapped) => #ok(#wrapped.0),
                    ::core::option::Option::None => #err(#not_cached),
                }
            },
            (Ret::Result, _) => quote_spanned! {span=>
                match #out {
                    #ok(#wrapped) => #ok(#wrapped.0),
                    #err(#error) => #err(#error),
                }
            },
        };
        if self.is_async() {
            quote_spanned!(span=> move || async move { #mapped })
        } else {
            quote_spanned!(span=> move || #mapped)
        }
    }

    /// Maps the runtime's `Result<stored value, _>` back to the return
    /// type (putting a `Json<T>`'s `T` back in its `Json`).
    pub(crate) fn unwrap_result(&self, result: &Ident) -> TokenStream {
        let value = local("value");
        let never = local("never");
        let error = local("error");
        let private = self.private();
        let returned = self.rewrap(&value);
        match (self.ret, self.wrapper.is_some()) {
            (Ret::Result, false) => quote!(#result),
            (Ret::Result, true) => quote! {
                match #result {
                    ::core::result::Result::Ok(#value) => ::core::result::Result::Ok(#returned),
                    ::core::result::Result::Err(#error) => ::core::result::Result::Err(#error),
                }
            },
            (Ret::Plain, _) => quote! {
                match #result {
                    ::core::result::Result::Ok(#value) => #returned,
                    ::core::result::Result::Err(#never) => match #never {},
                }
            },
            (Ret::Option, _) => quote! {
                match #result {
                    ::core::result::Result::Ok(#value) => ::core::option::Option::Some(#returned),
                    ::core::result::Result::Err(#private::NotCached) => ::core::option::Option::None,
                }
            },
        }
    }

    /// A check, spanned on the return type, that a type named `Response`
    /// can be stored: an HTTP response cannot, and the message says what
    /// to do instead. (A value type of that name passes.)
    pub(crate) fn response_check(&self) -> TokenStream {
        let Some(ty) = stored_type(&self.sig().output, self.ret) else {
            return TokenStream::new();
        };
        if !is_named(ty, "Response") {
            return TokenStream::new();
        }
        let span = self.value_span();
        let private = self.private_at(span);
        quote_spanned!(span=> #private::assert_response_value::<#ty>();)
    }

    /// In `f`, when the cache must be detached from the arguments: an
    /// in-process hit returns at once, so that only a miss pays for the
    /// clone.
    pub(crate) fn return_on_hit(&self, lookup: &Ident) -> TokenStream {
        if !self.cache_borrows_moved() {
            return TokenStream::new();
        }
        let (value, miss) = (local("value"), local("miss"));
        let private = self.private();
        let returned = self.rewrap(&value);
        let returned = match self.ret {
            Ret::Plain => returned,
            Ret::Result => quote!(::core::result::Result::Ok(#returned)),
            Ret::Option => quote!(::core::option::Option::Some(#returned)),
        };
        quote! {
            let #lookup = match #lookup {
                #private::Lookup::Hit(#value) => return #returned,
                #miss => #miss,
            };
        }
    }

    /// A stored value as the function returns it: in its `Json` again.
    fn rewrap(&self, value: &Ident) -> TokenStream {
        match &self.wrapper {
            Some(wrapper) => {
                let path = &wrapper.path;
                quote!(#path(#value))
            }
            None => value.to_token_stream(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(ret: &str) -> (bool, Option<String>) {
        let output: ReturnType = syn::parse_str(&format!("-> {ret}")).unwrap();
        let mut errors = Errors::default();
        let (ret, wrapper) = classify_return(&output, &Options::default(), &mut errors);
        assert!(errors.finish().is_ok());
        let path = wrapper.map(|w| quote::ToTokens::to_token_stream(&w.path).to_string());
        (ret == Ret::Plain, path)
    }

    #[test]
    fn json_and_html_wrap_the_stored_value() {
        assert_eq!(classify("Json<Profile>"), (true, Some("Json".into())));
        assert_eq!(
            classify("axum::Json<Vec<u8>>"),
            (true, Some("axum :: Json".into()))
        );
        assert_eq!(
            classify("Result<Html<String>, StatusCode>"),
            (false, Some("Html".into()))
        );
        assert_eq!(classify("Option<Json<u8>>"), (false, Some("Json".into())));
        assert_eq!(classify("Json"), (true, None));
        assert_eq!(classify("Vec<Json<u8>>"), (true, None));
    }

    #[test]
    fn impl_into_response_is_found_where_a_handler_writes_it() {
        for (ty, found) in [
            ("impl IntoResponse", true),
            ("impl axum::response::IntoResponse + Send", true),
            ("Result<impl IntoResponse, Error>", true),
            ("impl Display", false),
            ("Json<u8>", false),
        ] {
            let ty: Type = syn::parse_str(ty).unwrap();
            assert_eq!(into_response(&ty).is_some(), found);
        }
    }
}
