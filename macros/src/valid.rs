//! Validation: the parsed input in the shared form of `gdf-catalog` (each node spanned by
//! its tokens), validated there, with the errors turned into `syn` errors under their tokens.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use gdf_catalog::ast as c;
pub use gdf_catalog::valid::{Framework, GArg, Mode, Ty};

use crate::ast::{Arg, Slots, Value};

/// The shared validator over token spans.
pub struct Validator {
    inner: gdf_catalog::valid::Validator<TokenStream>,
}

impl Default for Validator {
    fn default() -> Self {
        Self {
            inner: gdf_catalog::valid::Validator::new(Mode::Type),
        }
    }
}

impl Validator {
    /// Validates the slots of one framework; a missing slot is reported on `name` (or the
    /// macro call when there is none).
    pub fn framework(
        &mut self,
        slots: &Slots,
        name: Option<&syn::Ident>,
    ) -> Framework<TokenStream> {
        let at = name.map(ToTokens::to_token_stream).unwrap_or_default();
        self.inner.framework(&slots_of(slots), &at)
    }

    /// User types with the role they fill.
    pub fn user_types(&self) -> &[(gdf_catalog::catalog::Role, TokenStream)] {
        &self.inner.user_types
    }

    /// Every error so far, combined, each under its tokens.
    pub fn take_error(&mut self) -> Option<syn::Error> {
        self.inner
            .take_errors()
            .into_iter()
            .map(|(tokens, msg)| syn::Error::new_spanned(tokens, msg))
            .reduce(|mut all, e| {
                all.combine(e);
                all
            })
    }
}

fn slots_of(slots: &Slots) -> c::Slots<TokenStream> {
    c::Slots {
        list: slots
            .list
            .iter()
            .map(|s| c::Slot {
                name: s.name.to_string(),
                name_span: s.name.to_token_stream(),
                value: value_of(&s.value),
            })
            .collect(),
    }
}

fn value_of(v: &Value) -> c::Value<TokenStream> {
    match v {
        Value::Num(n) => {
            let (digits, suffix, int) = match &n.lit {
                syn::Lit::Int(i) => (i.base10_digits().to_string(), i.suffix().to_string(), true),
                syn::Lit::Float(f) => {
                    (f.base10_digits().to_string(), f.suffix().to_string(), false)
                }
                // The parser only makes numbers of int and float literals.
                other => (quote!(#other).to_string(), String::new(), false),
            };
            c::Value::Num(c::Num {
                neg: n.neg.is_some(),
                digits,
                suffix,
                int,
                text: quote!(#n).to_string(),
                span: n.to_token_stream(),
            })
        }
        Value::Bool(b) => c::Value::Bool(b.value, b.to_token_stream()),
        Value::List(l) => {
            c::Value::List(l.items.iter().map(value_of).collect(), l.to_token_stream())
        }
        Value::Comp(comp) => {
            let path = &comp.path;
            let mut path_text = quote!(#path).to_string();
            path_text.retain(|ch| ch != ' ');
            c::Value::Comp(c::Comp {
                builtin: comp.builtin_name().map(ToString::to_string),
                path_text,
                path: path.to_token_stream(),
                args: comp.args.as_ref().map(|a| c::Args {
                    list: a
                        .list
                        .iter()
                        .map(|arg| match arg {
                            Arg::Named { name, value, .. } => c::Arg::Named {
                                name: name.to_string(),
                                name_span: name.to_token_stream(),
                                value: value_of(value),
                            },
                            Arg::Pos(v) => c::Arg::Pos(value_of(v)),
                        })
                        .collect(),
                    span: {
                        let mut t = TokenStream::new();
                        a.paren.surround(&mut t, |t| a.list.to_tokens(t));
                        t
                    },
                }),
                stretched: None,
                span: comp.to_token_stream(),
            })
        }
    }
}
