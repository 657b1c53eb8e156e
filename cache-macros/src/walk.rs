//! What the expansion reads from the function's syntax: whether it names
//! `Self`, whether an argument lends a `&mut`, whether a type is an
//! `impl Trait`, whether an expression uses the `self` receiver, which
//! arguments an expression or the body reads, and which lifetimes a
//! helper's signature still needs.
//!
//! Each question is a [`syn::visit::Visit`] walk of the parsed syntax (as
//! in tracing-attributes' `expand.rs`), so what the walk skips is a node,
//! never a guess about where a run of tokens ends: a scan of the tokens
//! read `let f: fn(u64) -> u64 = …; Self::load(…)` as a nested `fn` item
//! and missed the `Self` after it.
//!
//! A macro's arguments are tokens until the macro runs. They are walked
//! when they read as Rust: expressions (`format!`, `vec!`, `assert_eq!`,
//! `matches!`) or statements (`thread_local!`), or a type for a macro in
//! type position. Each walk says what it assumes of the rest (`json!({…})`,
//! `select! {…}`).

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens as _;
use syn::ext::IdentExt as _;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{
    Block, Expr, Generics, Item, ItemFn, Lifetime, Macro, ParenthesizedGenericArguments, Token,
    Type, TypeBareFn, TypeImplTrait, TypeMacro, TypeReference,
};

/// Walks a macro's arguments with `visitor` when they read as expressions
/// or statements. Returns `false` when they read as neither.
fn visit_macro_args<V>(visitor: &mut V, mac: &Macro) -> bool
where
    V: for<'a> Visit<'a>,
{
    if let Ok(exprs) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
        for expr in &exprs {
            visitor.visit_expr(expr);
        }
        true
    } else if let Ok(stmts) = mac.parse_body_with(Block::parse_within) {
        for stmt in &stmts {
            visitor.visit_stmt(stmt);
        }
        true
    } else {
        false
    }
}

/// Whether the function's signature or body, or an option's expression
/// (`cache = Self::CACHE`), names `Self`: then it is in an `impl` block
/// (only there may a function's own code name `Self`).
pub(crate) fn names_self<'a>(item: &ItemFn, options: impl IntoIterator<Item = &'a Expr>) -> bool {
    let mut walk = SelfMentions::default();
    walk.visit_signature(&item.sig);
    walk.visit_block(&item.block);
    for expr in options {
        walk.visit_expr(expr);
    }
    walk.found
}

#[derive(Default)]
struct SelfMentions {
    found: bool,
}

impl Visit<'_> for SelfMentions {
    fn visit_ident(&mut self, ident: &proc_macro2::Ident) {
        self.found |= ident == "Self";
    }

    /// A nested item (`fn`, `struct`, `impl`, `trait`…) cannot use the
    /// function's `Self`: any `Self` in it is its own.
    fn visit_item(&mut self, _: &Item) {}

    /// Arguments that do not read as Rust are tokens only: a `Self` among
    /// them counts (`json!({ "kind": Self::KIND })` in a method). Wrongly
    /// counting one needs a nested item inside such a macro, in a free
    /// function; missing one would need `method`.
    fn visit_macro(&mut self, mac: &Macro) {
        if !visit_macro_args(self, mac) {
            self.found |= tokens_name_self(mac.tokens.clone());
        }
    }
}

/// Whether opaque macro tokens hold the identifier `Self`.
fn tokens_name_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(ident) => ident == "Self",
        TokenTree::Group(group) => tokens_name_self(group.stream()),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}

/// Whether an argument's type lends a `&mut` to the function: `&mut T`,
/// `&'a mut T`, `Vec<&mut T>`, `Pin<&mut Self>`. The parameters of a
/// function pointer or of an `Fn(…)` bound are the callee's business:
/// `fn(&mut Vec<u8>)` and `&dyn Fn(&mut String)` lend nothing mutable.
pub(crate) fn lends_mut(ty: &Type) -> bool {
    let mut walk = MutBorrows::default();
    walk.visit_type(ty);
    walk.found
}

#[derive(Default)]
struct MutBorrows {
    found: bool,
}

impl Visit<'_> for MutBorrows {
    fn visit_type_reference(&mut self, reference: &TypeReference) {
        self.found |= reference.mutability.is_some();
        visit::visit_type_reference(self, reference);
    }

    fn visit_type_bare_fn(&mut self, _: &TypeBareFn) {}

    fn visit_parenthesized_generic_arguments(&mut self, _: &ParenthesizedGenericArguments) {}

    /// Array lengths and const arguments hold no argument's borrow.
    fn visit_expr(&mut self, _: &Expr) {}

    fn visit_type_macro(&mut self, mac: &TypeMacro) {
        if let Ok(ty) = mac.mac.parse_body::<Type>() {
            self.visit_type(&ty);
        }
    }
}

/// Whether a type is, or holds, an `impl Trait`.
pub(crate) fn has_impl_trait(ty: &Type) -> bool {
    let mut walk = ImplTraits::default();
    walk.visit_type(ty);
    walk.found
}

#[derive(Default)]
struct ImplTraits {
    found: bool,
}

impl Visit<'_> for ImplTraits {
    fn visit_type_impl_trait(&mut self, _: &TypeImplTrait) {
        self.found = true;
    }

    /// An `impl` in an array length or const argument is an item's.
    fn visit_expr(&mut self, _: &Expr) {}

    fn visit_type_macro(&mut self, mac: &TypeMacro) {
        if let Ok(ty) = mac.mac.parse_body::<Type>() {
            self.visit_type(&ty);
        }
    }
}

/// Whether an expression uses the `self` receiver (`self.cache`,
/// `Self::cache_of(&self)`), not a `self::` module path.
pub(crate) fn uses_self_value(expr: &Expr) -> bool {
    let mut walk = SelfValue::default();
    walk.visit_expr(expr);
    walk.found
}

#[derive(Default)]
struct SelfValue {
    found: bool,
}

impl Visit<'_> for SelfValue {
    fn visit_expr_path(&mut self, path: &syn::ExprPath) {
        self.found |= path.qself.is_none() && path.path.is_ident("self");
        visit::visit_expr_path(self, path);
    }

    fn visit_item(&mut self, _: &Item) {}

    /// Arguments that do not read as Rust may use `self`: assume they do
    /// (the answer decides whether the cache is cloned, a reference count).
    fn visit_macro(&mut self, mac: &Macro) {
        if !visit_macro_args(self, mac) {
            self.found = true;
        }
    }
}

/// The plain names (`x`; not the `x` of `a.x` or `x::y`) that an
/// expression or block reads, from `names`: its one-segment paths, the
/// inline arguments of format strings (`"{x}"`), and, in macro arguments
/// that do not read as Rust, every identifier. Nested items cannot read a
/// function's locals and are skipped. A local that shadows a name counts
/// as the name: the answer may say too much, never too little.
pub(crate) fn names_read<'a>(
    names: &HashSet<String>,
    exprs: impl IntoIterator<Item = &'a Expr>,
    block: Option<&Block>,
) -> HashSet<String> {
    let mut walk = NamesRead {
        names,
        found: HashSet::new(),
    };
    for expr in exprs {
        walk.visit_expr(expr);
    }
    if let Some(block) = block {
        walk.visit_block(block);
    }
    walk.found
}

struct NamesRead<'n> {
    names: &'n HashSet<String>,
    found: HashSet<String>,
}

impl NamesRead<'_> {
    fn saw(&mut self, name: &str) {
        if self.names.contains(name) {
            self.found.insert(name.to_owned());
        }
    }

    /// Identifiers and inline format arguments in opaque macro tokens.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        for tt in tokens {
            match tt {
                TokenTree::Ident(ident) => self.saw(&ident.unraw().to_string()),
                TokenTree::Group(group) => self.scan_tokens(group.stream()),
                TokenTree::Literal(lit) => self.scan_format_string(&lit),
                TokenTree::Punct(_) => {}
            }
        }
    }

    /// `{name}`, `{name:?}` in a string literal: what `format!` and co.
    /// read when the literal is their format string.
    fn scan_format_string(&mut self, lit: &proc_macro2::Literal) {
        let Ok(lit) = syn::parse2::<syn::LitStr>(lit.clone().into_token_stream()) else {
            return;
        };
        for name in inline_format_args(&lit.value()) {
            self.saw(&name);
        }
    }
}

/// The names of the inline arguments of a format string: `x` and `y` in
/// `"{x} {y:?} {{z}} {0}"`.
pub(crate) fn inline_format_args(format: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '{' {
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            continue;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '}' || c == ':' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if let Ok(ident) = syn::parse_str::<syn::Ident>(name.trim()) {
            names.push(ident.unraw().to_string());
        }
    }
    names
}

impl Visit<'_> for NamesRead<'_> {
    fn visit_expr_path(&mut self, path: &syn::ExprPath) {
        if path.qself.is_none() {
            if let Some(ident) = path.path.get_ident() {
                self.saw(&ident.unraw().to_string());
            }
        }
        visit::visit_expr_path(self, path);
    }

    fn visit_item(&mut self, _: &Item) {}

    fn visit_macro(&mut self, mac: &Macro) {
        if visit_macro_args(self, mac) {
            // The format string of `format!("{x}")`: its first literal.
            if let Some(TokenTree::Literal(lit)) = mac.tokens.clone().into_iter().next() {
                self.scan_format_string(&lit);
            }
        } else {
            self.scan_tokens(mac.tokens.clone());
        }
    }
}

/// The lifetimes named by `types`, by the where-clause of `generics` and by
/// the bounds of its parameters, or `None` when a macro's tokens hide what
/// they name (then every lifetime is kept).
pub(crate) fn lifetimes_used<'a>(
    generics: &Generics,
    types: impl IntoIterator<Item = &'a Type>,
) -> Option<HashSet<String>> {
    let mut walk = Lifetimes::default();
    for ty in types {
        walk.visit_type(ty);
    }
    if let Some(where_clause) = &generics.where_clause {
        walk.visit_where_clause(where_clause);
    }
    for param in &generics.params {
        match param {
            syn::GenericParam::Type(t) => {
                for bound in &t.bounds {
                    walk.visit_type_param_bound(bound);
                }
            }
            syn::GenericParam::Const(c) => walk.visit_type(&c.ty),
            syn::GenericParam::Lifetime(l) => {
                for bound in &l.bounds {
                    walk.visit_lifetime(bound);
                }
            }
        }
    }
    (!walk.opaque).then_some(walk.names)
}

#[derive(Default)]
struct Lifetimes {
    names: HashSet<String>,
    opaque: bool,
}

impl Visit<'_> for Lifetimes {
    fn visit_lifetime(&mut self, lifetime: &Lifetime) {
        self.names.insert(lifetime.ident.to_string());
    }

    fn visit_macro(&mut self, _: &Macro) {
        self.opaque = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function whose body is `text`.
    fn block(text: &str) -> ItemFn {
        syn::parse_str(&format!("fn f() {text}")).unwrap()
    }

    #[test]
    fn mut_references_are_found_in_any_position() {
        for ty in [
            "&mut u32",
            "&'a mut u32",
            "Vec<&mut u32>",
            "(u32, &mut [u8])",
            "Pin<&mut Self>",
            "Option<&'a mut dyn Fn(&u8)>",
            "wrap!(&mut u32)",
        ] {
            assert!(lends_mut(&syn::parse_str(ty).unwrap()), "{ty}");
        }
        for ty in [
            "&u32",
            "&'a u32",
            "*mut u8",
            "Mutex<u32>",
            "fn(&mut Vec<u8>)",
            "&dyn Fn(&mut String) -> u8",
            "Box<dyn for<'a> FnMut(&'a mut u8)>",
            "[u8; { let x = &mut 1; *x }]",
        ] {
            assert!(!lends_mut(&syn::parse_str(ty).unwrap()), "{ty}");
        }
    }

    #[test]
    fn impl_trait_is_found_in_any_position() {
        for ty in ["impl Display", "Vec<impl Serialize>", "(u8, &impl Fn())"] {
            assert!(has_impl_trait(&syn::parse_str(ty).unwrap()), "{ty}");
        }
        for ty in ["u8", "&dyn Display", "fn(u8) -> u8", "Box<dyn Fn() -> u8>"] {
            assert!(!has_impl_trait(&syn::parse_str(ty).unwrap()), "{ty}");
        }
    }

    #[test]
    fn self_in_nested_items_does_not_count() {
        for counted in [
            "{ Self::load(id) }",
            "{ let f = || Self::X; f() }",
            "{ let double: fn(u64) -> u64 = |x| 2 * x; double(Self::X) }",
            "{ let f: fn() = g; let s: Self = Self::new(); s }",
            "{ format!(\"{}\", Self::NAME) }",
            "{ json!({ \"kind\": Self::KIND }) }",
            "{ thread_local!(static A: u8 = 1); Self::X }",
        ] {
            assert!(names_self(&block(counted), []), "{counted}");
        }
        for not_counted in [
            "{ struct A; impl A { fn new() -> Self { A } } A::new() }",
            "{ fn inner() -> u32 { 1 } inner() }",
            "{ struct Node { next: Option<Box<Self>> } 1 }",
            "{ trait T { fn t(&self) -> Self; } 1 }",
            "{ let f: fn(u64) -> u64 = g; f(1) }",
            "{ self_check!(x) }",
        ] {
            assert!(!names_self(&block(not_counted), []), "{not_counted}");
        }
    }

    #[test]
    fn self_in_the_signature_counts() {
        let item: ItemFn = syn::parse_str("fn f(p: Self) -> u64 { 1 }").unwrap();
        assert!(names_self(&item, []));
        let item: ItemFn = syn::parse_str("fn f(p: fn(u8) -> u8, q: Vec<Self>) {}").unwrap();
        assert!(names_self(&item, []));
    }

    #[test]
    fn self_in_an_option_counts() {
        let item = block("{ 1 }");
        let cache: Expr = syn::parse_str("Self::CACHE").unwrap();
        assert!(names_self(&item, [&cache]));
        let cache: Expr = syn::parse_str("crate::CACHE").unwrap();
        assert!(!names_self(&item, [&cache]));
    }

    #[test]
    fn self_value_is_the_receiver_not_the_module() {
        let uses = |s: &str| uses_self_value(&syn::parse_str(s).unwrap());
        assert!(uses("self.cache"));
        assert!(uses("Self::cache_of(&self)"));
        assert!(uses("pick!(self.cache, 1)"));
        assert!(uses("opaque!(=> self)"));
        assert!(!uses("self::CACHE"));
        assert!(!uses("crate::caches::main()"));
        assert!(!uses("Self::CACHE"));
    }

    #[test]
    fn names_read_are_paths_format_captures_and_opaque_tokens() {
        let names: HashSet<String> = ["state", "id", "q", "cache"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let read = |s: &str| {
            let mut found: Vec<String> =
                names_read(&names, Some(&syn::parse_str(s).unwrap()), None)
                    .into_iter()
                    .collect();
            found.sort();
            found
        };
        assert_eq!(read("state.cache"), ["state"], "a field is not a name");
        assert_eq!(read("pick(&state, q.cache)"), ["q", "state"]);
        assert_eq!(read("format!(\"{id}:{q:?} {{cache}}\")"), ["id", "q"]);
        assert_eq!(read("opaque!(=> cache)"), ["cache"]);
        assert_eq!(read("{ fn id() {} 1 }"), Vec::<String>::new());
        assert_eq!(read("Self::CACHE"), Vec::<String>::new());
        let body: Block = syn::parse_str("{ let x = state.db(); x }").unwrap();
        let found = names_read(&names, None, Some(&body));
        assert_eq!(found, HashSet::from(["state".to_owned()]));
    }

    #[test]
    fn inline_format_args_are_named_arguments_only() {
        assert_eq!(
            inline_format_args("{a} {b:?} {{c}} {0} {} {r#type} {d:>4}"),
            ["a", "b", "type", "d"]
        );
    }

    #[test]
    fn lifetimes_are_read_from_types_and_bounds() {
        let generics: Generics = syn::parse_str("<'a, 'b, 'c, T: 'b>").unwrap();
        let ty: Type = syn::parse_str("&'a str").unwrap();
        let used = lifetimes_used(&generics, [&ty]).unwrap();
        assert_eq!(
            used,
            HashSet::from(["a".to_owned(), "b".to_owned()]),
            "'c is unused"
        );
        let ty: Type = syn::parse_str("my_type!('c)").unwrap();
        assert_eq!(lifetimes_used(&generics, [&ty]), None);
    }
}
