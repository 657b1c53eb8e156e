//! The `tags = ["user:{id}", …]` option: parsing, the checks of its
//! templates against the function, and the code that renders them.
//!
//! A tag template is a key template (see `attr.rs`): the same syntax, the
//! same rules on its text, placeholders naming arguments, and the values
//! rendered and escaped at run time by cache-core's `Template`. The tags
//! are rendered on a miss only, before the arguments move into the body,
//! and go with the computed value to the store.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::ParseStream;
use syn::{Expr, Lit, LitStr, Signature};

use crate::analyze::{Arg, Func};
use crate::attr::{check_template_text, parse_template, Errors, Piece};

/// How the option is written, for messages.
pub(crate) const EXAMPLE: &str = "tags = [\"user:{user_id}\", \"team:{team_id}\"]";

/// One tag template, parsed.
pub(crate) struct TagTemplate {
    pub(crate) lit: LitStr,
    pub(crate) pieces: Vec<Piece>,
}

/// `tags = ["…", …]`: an array of string literals (an empty one is allowed).
pub(crate) fn parse_tags(
    input: ParseStream<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<Vec<LitStr>>> {
    let expr: Expr = input.parse()?;
    let Expr::Array(array) = &expr else {
        errors.error_spanned_by(
            &expr,
            format_args!("`tags` expects an array of string literal templates, e.g. `{EXAMPLE}`"),
        );
        return Ok(None);
    };
    let mut tags = Vec::new();
    for elem in &array.elems {
        match elem {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => tags.push(s.clone()),
            other => errors.error_spanned_by(
                other,
                format_args!("each tag is a string literal template, e.g. `{EXAMPLE}`"),
            ),
        }
    }
    Ok(Some(tags))
}

/// Parses and checks each template: the key templates' syntax and rules,
/// and placeholders that name arguments.
pub(crate) fn analyze_tags(
    tags: Option<&Vec<LitStr>>,
    sig: &Signature,
    args: &[Arg<'_>],
    errors: &mut Errors,
) -> Vec<TagTemplate> {
    let names: Vec<&str> = args.iter().filter_map(|a| a.user_name.as_deref()).collect();
    let mut templates = Vec::new();
    for lit in tags.into_iter().flatten() {
        let as_tag = |message: String| message.replace("key template", "tag template");
        let pieces = match parse_template(&lit.value()) {
            Ok(pieces) => pieces,
            Err(message) => {
                errors.error_spanned_by(lit, as_tag(message));
                continue;
            }
        };
        if let Err(message) = check_template_text(&pieces) {
            errors.error_spanned_by(lit, as_tag(message));
        }
        for piece in &pieces {
            if let Piece::Arg(name) = piece {
                if !names.contains(&name.as_str()) {
                    let fn_name = syn::ext::IdentExt::unraw(&sig.ident);
                    let known = if names.is_empty() {
                        format!("`{fn_name}` has no named arguments")
                    } else {
                        let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                        format!(
                            "it must name an argument of `{fn_name}`: {}",
                            list.join(", ")
                        )
                    };
                    errors.error_spanned_by(
                        lit,
                        format_args!(
                            "unknown placeholder `{{{name}}}` in the tag template: {known}"
                        ),
                    );
                }
            }
        }
        templates.push(TagTemplate {
            lit: lit.clone(),
            pieces,
        });
    }
    templates
}

impl Func<'_> {
    /// `&[Template { … }, …]`: the function's tags for one call, borrowing
    /// the arguments. `None` without tags.
    pub(crate) fn tags_expr(&self) -> Option<TokenStream> {
        if self.tags.is_empty() {
            return None;
        }
        let tags = self.tags.iter().map(|TagTemplate { lit, pieces }| {
            let private = self.private_at(lit.span());
            let mut text = vec![String::new()];
            let mut values = Vec::new();
            for piece in pieces {
                match piece {
                    Piece::Text(t) => {
                        if let Some(last) = text.last_mut() {
                            last.push_str(t);
                        }
                    }
                    Piece::Arg(name) => {
                        // Checked in `analyze_tags`: some argument has this name.
                        if let Some(arg) = self
                            .args
                            .iter()
                            .find(|a| a.user_name.as_deref() == Some(name.as_str()))
                        {
                            let mut ident = arg.name.clone();
                            ident.set_span(ident.span().located_at(lit.span()));
                            values.push(
                                quote_spanned!(lit.span()=> #private::template_value(&#ident)),
                            );
                            text.push(String::new());
                        }
                    }
                }
            }
            let text = text.iter().map(|t| LitStr::new(t, lit.span()));
            quote!(#private::Template { text: &[#(#text),*], values: &[#(#values),*] })
        });
        Some(quote!(&[#(#tags),*]))
    }

    /// The lookup of one call: `lookup(cache, &memo, key)`, or with tags
    /// `lookup_tagged(cache, &memo, key, &[…])`, which renders them on a miss.
    pub(crate) fn lookup_call(
        &self,
        cache: &impl quote::ToTokens,
        memo: &impl quote::ToTokens,
        key: &TokenStream,
    ) -> TokenStream {
        // Spanned on the return type, like the statements around it: the
        // stored type is inferred through this call.
        let span = self.value_span();
        match self.tags_expr() {
            None => {
                let lookup = self.value_fn("lookup");
                quote_spanned!(span=> #lookup(#cache, &#memo, #key))
            }
            Some(tags) => {
                let lookup = self.value_fn("lookup_tagged");
                quote_spanned!(span=> #lookup(#cache, &#memo, #key, #tags))
            }
        }
    }

    /// Where `<fn>_refresh` stores: `full_key(…)`, or with tags
    /// `tagged_key(…)`.
    pub(crate) fn target_call(
        &self,
        cache: &impl quote::ToTokens,
        memo: &impl quote::ToTokens,
        key: &TokenStream,
    ) -> TokenStream {
        let private = self.private();
        match self.tags_expr() {
            None => quote!(#private::full_key(#cache, &#memo, #key)),
            Some(tags) => quote!(#private::tagged_key(#cache, &#memo, #key, #tags)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{Kind, Options};

    fn parsed(args: TokenStream) -> (Options, syn::Result<()>) {
        let mut errors = Errors::default();
        let options = Options::parse(Kind::Memoize, args, &mut errors);
        (options, errors.finish())
    }

    #[test]
    fn tags_parse_as_an_array_of_literals() {
        let (options, ok) = parsed(quote!(tags = ["user:{id}", "all"]));
        ok.unwrap();
        let tags: Vec<String> = options.tags.unwrap().iter().map(LitStr::value).collect();
        assert_eq!(tags, ["user:{id}", "all"]);
        let (options, ok) = parsed(quote!(tags = []));
        ok.unwrap();
        assert!(options.tags.unwrap().is_empty());
    }

    #[test]
    fn other_shapes_are_reported_together() {
        let (_, err) = parsed(quote!(tags = "user:{id}", tags = [x], tags = [1, "a"]));
        let messages: Vec<String> = err
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            messages[0].contains("an array of string literal templates"),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .filter(|m| m.contains("each tag is a string literal"))
                .count()
                == 2,
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("duplicate option `tags`")),
            "{messages:?}"
        );
    }
}
