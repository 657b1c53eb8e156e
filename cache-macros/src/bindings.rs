//! The names an argument pattern binds, and their types.
//!
//! An argument written as a pattern, such as axum's `Path(id): Path<u64>`
//! or `(a, b): (u64, String)`, is keyed by the names it binds, in order.
//! The generated helpers (`f_invalidate(id)`) take those names as
//! parameters, so each needs a type. The macro reads it from the
//! argument's type where the syntax says it:
//!
//! - `name: T` binds a `T`; `_` binds nothing;
//! - a tuple pattern over a tuple type binds the element types (`..`
//!   skips some);
//! - a one-field tuple-struct pattern over a type of the same name with one
//!   type argument, `Wrapper(p): Wrapper<T>`, is read as a wrapper of `T`,
//!   as axum's extractors are (`Path`, `Query`, `State`, `Json`,
//!   `Extension`, `Form`). The expansion checks it at compile time (see
//!   `assert_binds` in cache-core), so a wrapper of another shape is an
//!   error, never a key that `f_invalidate` would spell differently;
//! - `&p` over `&T` reads `T`; a pattern over `&T` (match ergonomics)
//!   binds references.
//!
//! Anything else (struct patterns, slices, or-patterns) binds names whose
//! types are unknown: fine for names left out of the key, an error for the
//! others.
//!
//! To borrow the bound values before the arguments move into the body, the
//! expansion matches a *by-reference* copy of the pattern against a
//! reference to the argument ([`by_ref_pattern`]): `let Path(id) = &arg0;`
//! binds `id: &u64` through match ergonomics, in every edition.

use syn::ext::IdentExt as _;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{GenericArgument, Ident, Pat, PathArguments, Type, TypeReference};

/// One name bound by a pattern.
pub(crate) struct PatBinding {
    /// As written in the pattern.
    pub(crate) ident: Ident,
    /// Its type, when the syntax says it.
    pub(crate) ty: Option<Type>,
    /// The type was read through a `Wrapper(p): Wrapper<T>` pattern: the
    /// expansion checks it.
    pub(crate) through_wrapper: bool,
}

/// The names `pat` binds, in order, each with its type read from `ty`.
pub(crate) fn bindings(pat: &Pat, ty: &Type) -> Vec<PatBinding> {
    let mut out = Vec::new();
    bind(pat, Some(ty), false, &mut out);
    // An or-pattern binds each name once per alternative.
    let mut seen = std::collections::HashSet::new();
    out.retain(|b| seen.insert(b.ident.unraw().to_string()));
    out
}

fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => strip(&p.elem),
        Type::Group(g) => strip(&g.elem),
        ty => ty,
    }
}

fn bind(pat: &Pat, ty: Option<&Type>, through_wrapper: bool, out: &mut Vec<PatBinding>) {
    let ty = ty.map(strip);
    // A pattern that is neither a name nor `&p` over a reference type binds
    // references to the parts (match ergonomics).
    if let Some(Type::Reference(reference)) = ty {
        if !matches!(
            pat,
            Pat::Ident(_) | Pat::Wild(_) | Pat::Reference(_) | Pat::Paren(_)
        ) {
            let start = out.len();
            bind(pat, Some(&reference.elem), through_wrapper, out);
            for binding in &mut out[start..] {
                binding.ty = binding.ty.take().map(|elem| {
                    Type::Reference(TypeReference {
                        and_token: reference.and_token,
                        lifetime: reference.lifetime.clone(),
                        mutability: None,
                        elem: Box::new(elem),
                    })
                });
            }
            return;
        }
    }
    match pat {
        Pat::Ident(p) => {
            out.push(PatBinding {
                ident: p.ident.clone(),
                ty: ty.cloned(),
                through_wrapper,
            });
            if let Some((_, sub)) = &p.subpat {
                bind(sub, ty, through_wrapper, out);
            }
        }
        Pat::Wild(_) | Pat::Rest(_) => {}
        Pat::Paren(p) => bind(&p.pat, ty, through_wrapper, out),
        Pat::Reference(r) => {
            let elem = match ty {
                Some(Type::Reference(reference)) => Some(&*reference.elem),
                _ => None,
            };
            bind(&r.pat, elem, through_wrapper, out);
        }
        Pat::Tuple(t) => {
            let elems: Vec<&Pat> = t.elems.iter().collect();
            let types: Option<Vec<&Type>> = match ty {
                Some(Type::Tuple(tuple)) => Some(tuple.elems.iter().collect()),
                _ => None,
            };
            let rest = elems.iter().position(|p| matches!(p, Pat::Rest(_)));
            for (i, elem) in elems.iter().enumerate() {
                let elem_ty = types.as_ref().and_then(|types| match rest {
                    None if types.len() == elems.len() => types.get(i).copied(),
                    None => None,
                    Some(r) if i < r => types.get(i).copied(),
                    Some(_) => (types.len() + i)
                        .checked_sub(elems.len())
                        .and_then(|j| types.get(j).copied()),
                });
                bind(elem, elem_ty, through_wrapper, out);
            }
        }
        Pat::TupleStruct(ts) => {
            let inner = match (ts.elems.len(), ts.elems.first(), ty) {
                (1, Some(elem), Some(Type::Path(tp))) if !matches!(elem, Pat::Rest(_)) => {
                    wrapped_type(&ts.path, tp).map(|inner| (elem, inner))
                }
                _ => None,
            };
            match inner {
                Some((elem, inner)) => bind(elem, Some(inner), true, out),
                None => unknown(pat, out),
            }
        }
        _ => unknown(pat, out),
    }
}

/// `T` in `Wrapper<T>`, when the pattern's path ends with the type's name
/// and the type has exactly one type argument.
fn wrapped_type<'t>(pat_path: &syn::Path, ty: &'t syn::TypePath) -> Option<&'t Type> {
    if ty.qself.is_some() {
        return None;
    }
    let segment = ty.path.segments.last()?;
    if Some(&segment.ident) != pat_path.segments.last().map(|s| &s.ident) {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (types.next(), types.next()) {
        (Some(ty), None) => Some(ty),
        _ => None,
    }
}

/// Every name a pattern binds, with no type.
fn unknown(pat: &Pat, out: &mut Vec<PatBinding>) {
    struct Names<'o>(&'o mut Vec<PatBinding>);
    impl Visit<'_> for Names<'_> {
        fn visit_pat_ident(&mut self, p: &syn::PatIdent) {
            self.0.push(PatBinding {
                ident: p.ident.clone(),
                ty: None,
                through_wrapper: false,
            });
            syn::visit::visit_pat_ident(self, p);
        }
        // Constants and expressions in patterns (`1..=5`) bind nothing.
        fn visit_expr(&mut self, _: &syn::Expr) {}
    }
    Names(out).visit_pat(pat);
}

/// `pat` made to bind references when matched against a reference to the
/// argument: `ref`, `mut` and `&` patterns removed (match ergonomics then
/// binds every name by reference), and names renamed by `rename` (a
/// `_name` binding gets a hygienic name: using it would trip lints).
pub(crate) fn by_ref_pattern(pat: &Pat, rename: impl FnMut(&Ident) -> Option<Ident>) -> Pat {
    struct ByRef<F>(F);
    impl<F: FnMut(&Ident) -> Option<Ident>> VisitMut for ByRef<F> {
        fn visit_pat_mut(&mut self, pat: &mut Pat) {
            while let Pat::Reference(r) = pat {
                *pat = (*r.pat).clone();
            }
            if let Pat::Ident(p) = pat {
                p.by_ref = None;
                p.mutability = None;
                if let Some(name) = (self.0)(&p.ident) {
                    p.ident = name;
                }
            }
            syn::visit_mut::visit_pat_mut(self, pat);
        }
        fn visit_expr_mut(&mut self, _: &mut syn::Expr) {}
    }
    let mut pat = pat.clone();
    ByRef(rename).visit_pat_mut(&mut pat);
    pat
}

#[cfg(test)]
mod tests {
    use quote::ToTokens as _;

    use super::*;

    fn typed(pat: &str, ty: &str) -> Vec<(String, Option<String>, bool)> {
        let pat = Pat::parse_single.parse_str(pat).unwrap();
        let ty: Type = syn::parse_str(ty).unwrap();
        bindings(&pat, &ty)
            .into_iter()
            .map(|b| {
                (
                    b.ident.to_string(),
                    b.ty.map(|t| t.to_token_stream().to_string()),
                    b.through_wrapper,
                )
            })
            .collect()
    }

    use syn::parse::Parser as _;

    fn some(name: &str, ty: &str, wrapper: bool) -> (String, Option<String>, bool) {
        (name.to_owned(), Some(ty.to_owned()), wrapper)
    }

    #[test]
    fn extractor_patterns_bind_the_wrapped_type() {
        assert_eq!(typed("Path(id)", "Path<u64>"), [some("id", "u64", true)]);
        assert_eq!(
            typed("axum::extract::State(state)", "State<AppState>"),
            [some("state", "AppState", true)]
        );
        assert_eq!(
            typed("Path((a, b))", "axum::extract::Path<(u64, String)>"),
            [some("a", "u64", true), some("b", "String", true)]
        );
        assert_eq!(typed("Path(_)", "Path<u64>"), []);
    }

    #[test]
    fn tuples_names_and_references() {
        assert_eq!(
            typed("(mut a, _, b)", "(u8, u16, u32)"),
            [some("a", "u8", false), some("b", "u32", false)]
        );
        assert_eq!(
            typed("(a, .., z)", "(u8, u16, u32, u64)"),
            [some("a", "u8", false), some("z", "u64", false)]
        );
        assert_eq!(
            typed("&(a, b)", "&(u8, String)"),
            [some("a", "u8", false), some("b", "String", false)]
        );
        assert_eq!(
            typed("(a, b)", "&'x (u8, String)"),
            [some("a", "& 'x u8", false), some("b", "& 'x String", false)]
        );
        assert_eq!(typed("x @ (a, _)", "(u8, u8)")[1], some("a", "u8", false));
    }

    #[test]
    fn other_shapes_bind_names_of_unknown_type() {
        for (pat, ty) in [
            ("Params { page, per_page: pp }", "Params"),
            ("UserId(id)", "UserId"),
            ("Pair(a)", "Pair<u8, u8>"),
            ("Other(a)", "Wrapper<u8>"),
            ("(a, b)", "(u8, u8, u8)"),
        ] {
            let found = typed(pat, ty);
            assert!(!found.is_empty(), "{pat}");
            assert!(
                found.iter().all(|(_, ty, _)| ty.is_none()),
                "{pat}: {found:?}"
            );
        }
        assert_eq!(typed("(A(x) | B(x))", "E").len(), 1);
    }

    #[test]
    fn by_ref_patterns_drop_binding_modes() {
        let pat = Pat::parse_single
            .parse_str("&(mut a, ref b, Path(&c), _d)")
            .unwrap();
        let out = by_ref_pattern(&pat, |ident| {
            (ident == "_d").then(|| Ident::new("renamed", ident.span()))
        });
        assert_eq!(
            out.to_token_stream().to_string(),
            "(a , b , Path (c) , renamed)"
        );
    }
}
