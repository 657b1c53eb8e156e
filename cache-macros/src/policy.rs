//! The resilience options (`fail_safe`, `hard_timeout`, `lock`,
//! `refresh_ahead`, …): each becomes a call of `cache_core::Policy`'s
//! builder in the function's static policy.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprLit, Ident, Lit};

use crate::attr::{duplicate, value, Errors, Options};

impl Options {
    /// Parses `name` if it is a policy option; whether it was one.
    pub(crate) fn parse_policy(
        &mut self,
        name: &Ident,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<bool> {
        let name = name.clone();
        match name.to_string().as_str() {
            "fail_safe" | "fail_safe_throttle" | "hard_timeout" | "lock_expiry" => {
                let value = value(meta, &name, "fail_safe = 3600")?.parse::<Expr>()?;
                if let Some(millis) = parse_duration(&name, &value, errors) {
                    self.policy_option(
                        &name,
                        quote::quote!(::core::time::Duration::from_millis(#millis)),
                        errors,
                    );
                }
            }
            "lock" => {
                let value = value(meta, &name, "lock = distributed")?.parse::<Expr>()?;
                let variant = match &value {
                    Expr::Path(p) if p.path.is_ident("distributed") => {
                        Some(quote::quote!(Distributed))
                    }
                    Expr::Path(p) if p.path.is_ident("local") => Some(quote::quote!(Local)),
                    _ => None,
                };
                match variant {
                        Some(v) => self.policy_option(&name, quote::quote!(__LOCK::#v), errors),
                        None => errors.error_spanned_by(
                            &value,
                                "`lock` is `local` (one computation per key in each process, the default) or `distributed` (one across every process sharing the store)",
                        ),
                    }
            }
            "stale_while_revalidate" | "soft_timeout" => {
                let value = value(meta, &name, "soft_timeout = \"100ms\"")?.parse::<Expr>()?;
                if let Some(millis) = parse_duration(&name, &value, errors) {
                    self.policy_option(
                        &name,
                        quote::quote!(::core::time::Duration::from_millis(#millis)),
                        errors,
                    );
                    self.background.get_or_insert(name);
                }
            }
            "refresh_ahead" => {
                let value = value(meta, &name, "refresh_ahead = 0.8")?.parse::<Expr>()?;
                let fraction = match &value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Float(f), ..
                    }) => f.base10_parse::<f64>().ok(),
                    _ => None,
                };
                match fraction {
                        Some(f) if f > 0.0 && f < 1.0 => {
                            let lit = syn::LitFloat::new(&format!("{f}f64"), value_span(&value));
                            self.policy_option(&name, quote::quote!(#lit), errors);
                            self.background.get_or_insert(name);
                        }
                        _ => errors.error_spanned_by(
                            &value,
                                "`refresh_ahead` is the fraction of the timeout after which a hit refreshes the value in the background: a number strictly between 0 and 1, e.g. `refresh_ahead = 0.8`",
                        ),
                    }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn policy_option(&mut self, name: &Ident, arg: TokenStream, errors: &mut Errors) {
        if self.policy.iter().any(|(n, _)| n == name) {
            duplicate(name, errors);
        } else {
            self.policy.push((name.clone(), arg));
        }
    }
}

fn value_span(expr: &Expr) -> proc_macro2::Span {
    syn::spanned::Spanned::span(expr)
}

/// A duration option: an integer number of seconds, or a string with a
/// unit (`"250ms"`, `"2s"`, `"5m"`, `"1h"`); its milliseconds.
fn parse_duration(name: &Ident, expr: &Expr, errors: &mut Errors) -> Option<u64> {
    let complain = |errors: &mut Errors| {
        errors.error_spanned_by(
            expr,
            format_args!("`{name}` expects a number of seconds (`{name} = 30`) or a string with a unit: `{name} = \"250ms\"`, `\"2s\"`, `\"5m\"`, `\"1h\"`"),
        );
        None
    };
    let Expr::Lit(ExprLit { lit, .. }) = expr else {
        return complain(errors);
    };
    let millis = match lit {
        Lit::Int(int) => int
            .base10_parse::<u64>()
            .ok()
            .and_then(|s| s.checked_mul(1000)),
        Lit::Str(s) => {
            let text = s.value();
            let text = text.trim();
            let split = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            let (n, unit) = text.split_at(split);
            let scale = match unit.trim() {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => return complain(errors),
            };
            n.parse::<u64>().ok().and_then(|n| n.checked_mul(scale))
        }
        _ => None,
    };
    match millis {
        Some(0) if name != "fail_safe_throttle" => {
            errors.error_spanned_by(expr, format_args!("`{name}` must be longer than zero"));
            None
        }
        Some(ms) => Some(ms),
        None => complain(errors),
    }
}
