//! Expansion: the validated framework as Rust types.
//!
//! Everything is named by absolute path through `::gdf` (components, `konst::Dec`) and its
//! hidden re-export `::gdf::__private::typenum`, so a crate using the macro needs only `gdf`.
//! Constants are written as typenum's binary integers (`UInt<UInt<UTerm, B1>, B0>` = 2),
//! which are the very types typenum's aliases (`U2`, `P8`, `N4`) stand for.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Ident, LitStr};

use crate::ast::{Arg, Input, Item, Slots, Value};
use crate::catalog::Role;
use crate::num::Decimal;
use crate::valid::{Framework, GArg, Ty, Validator};

type Fw = Framework<TokenStream>;

/// The whole expansion: the declared items (or the value), the role checks of user types,
/// and every error as a `compile_error!` under its token.
pub fn expand(input: &Input) -> TokenStream {
    let mut v = Validator::default();
    let body = match input {
        Input::Items(items) => {
            let mut out = TokenStream::new();
            for item in items {
                let fw = v.framework(&item.slots, Some(&item.name));
                out.extend(type_alias(item, &fw));
            }
            out.extend(role_checks(&v));
            out
        }
        Input::Expr(slots) => {
            let fw = v.framework(slots, None);
            let ty = framework(&fw);
            let checks = role_checks(&v);
            let errors = v.take_error().map(|e| e.to_compile_error());
            return quote! {{
                #errors
                #checks
                <#ty as ::core::default::Default>::default()
            }};
        }
    };
    let errors = v.take_error().map(|e| e.to_compile_error());
    quote! {
        #errors
        #body
    }
}

fn type_alias(item: &Item, fw: &Fw) -> TokenStream {
    let Item {
        attrs, vis, name, ..
    } = item;
    let ty = framework(fw);
    let has_doc = attrs.iter().any(|a| a.path().is_ident("doc"));
    let doc = (!has_doc).then(|| {
        let text = format!(
            " A diffusion framework declared with `gdf!`:\n\n ```text\n {}\n ```\n\n \
             Its `Display` prints the declaration with every default explicit.",
            pretty_slots(&item.slots)
        );
        let lit = LitStr::new(&text, Span::call_site());
        quote!(#[doc = #lit])
    });
    quote! {
        #(#attrs)*
        #doc
        #vis type #name = #ty;
    }
}

/// `const _: () = { … };` asserting each user type implements its role's trait: a wrong
/// one gets the role trait's `on_unimplemented` message under the type in the input.
fn role_checks(v: &Validator) -> TokenStream {
    if v.user_types().is_empty() {
        return TokenStream::new();
    }
    let mut fns = TokenStream::new();
    for role in Role::ALL {
        let f = check_fn(role);
        let module = format_ident!("{}", role.module());
        let tr = format_ident!("{}", role.trait_name());
        fns.extend(quote! {
            #[allow(dead_code)]
            fn #f<T: ::gdf::#module::#tr>() {}
        });
    }
    let uses = v.user_types().iter().map(|(role, path)| {
        let f = check_fn(*role);
        quote!(let _ = #f::<#path>;)
    });
    quote! {
        const _: () = {
            #fns
            #(#uses)*
        };
    }
}

fn check_fn(role: Role) -> Ident {
    format_ident!("__gdf_{}_check", role.slot())
}

/// `::gdf::framework::Gdf<S, Sc, T, N, L, O>`.
fn framework(fw: &Fw) -> TokenStream {
    let slots = fw.slots.iter().map(ty);
    let o = dec(fw.offset_noise);
    quote!(::gdf::framework::Gdf<#(#slots,)* #o>)
}

fn ty(t: &Ty<TokenStream>) -> TokenStream {
    match t {
        Ty::User(path) => quote!(#path),
        Ty::Builtin { path, args } => {
            let segs = path.split("::").map(|s| format_ident!("{}", s));
            if args.is_empty() {
                quote!(::gdf #(::#segs)*)
            } else {
                let args = args.iter().map(garg);
                quote!(::gdf #(::#segs)* < #(#args),* >)
            }
        }
    }
}

fn garg(a: &GArg<TokenStream>) -> TokenStream {
    let tn = quote!(::gdf::__private::typenum);
    match a {
        GArg::Dec(d) => dec(*d),
        GArg::Count(n) => uint(u128::from(*n)),
        GArg::Bool(true) => quote!(#tn::B1),
        GArg::Bool(false) => quote!(#tn::B0),
        GArg::Ty(t) => ty(t),
        GArg::Tuple(ts) => {
            let ts = ts.iter().map(ty);
            quote!((#(#ts,)*))
        }
        // Run-time numbers exist in `Mode::Value` only, never in the macro's `Mode::Type`.
        GArg::Floats(..) => quote!(()),
    }
}

/// `Dec<M, E>`.
fn dec(d: Decimal) -> TokenStream {
    let m = int(d.mantissa());
    let e = int(i128::from(d.e));
    quote!(::gdf::konst::Dec<#m, #e>)
}

/// A typenum signed integer: `Z0`, `PInt<U>`, `NInt<U>`.
fn int(i: i128) -> TokenStream {
    let tn = quote!(::gdf::__private::typenum);
    match i {
        0 => quote!(#tn::Z0),
        i if i > 0 => {
            let u = uint(i.unsigned_abs());
            quote!(#tn::PInt<#u>)
        }
        i => {
            let u = uint(i.unsigned_abs());
            quote!(#tn::NInt<#u>)
        }
    }
}

/// A typenum unsigned integer in binary, most significant bit innermost.
fn uint(n: u128) -> TokenStream {
    let tn = quote!(::gdf::__private::typenum);
    if n == 0 {
        return quote!(#tn::UTerm);
    }
    let high = uint(n >> 1);
    let bit = if n & 1 == 1 {
        quote!(#tn::B1)
    } else {
        quote!(#tn::B0)
    };
    quote!(#tn::UInt<#high, #bit>)
}

/// The slots as the user wrote them, in the macro's usual spacing (for the alias's doc).
fn pretty_slots(slots: &Slots) -> String {
    slots
        .list
        .iter()
        .map(|s| format!("{}: {}", s.name, pretty(&s.value)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pretty(v: &Value) -> String {
    match v {
        Value::Num(n) => {
            let lit = &n.lit;
            format!("{}{}", if n.neg.is_some() { "-" } else { "" }, quote!(#lit))
        }
        Value::Bool(b) => b.value.to_string(),
        Value::List(l) => format!(
            "[{}]",
            l.items.iter().map(pretty).collect::<Vec<_>>().join(", ")
        ),
        Value::Comp(c) => {
            let path = &c.path;
            let mut s: String = quote!(#path).to_string();
            s.retain(|ch| ch != ' ');
            if let Some(args) = &c.args {
                let parts: Vec<String> = args
                    .list
                    .iter()
                    .map(|a| match a {
                        Arg::Named { name, value, .. } => format!("{name} = {}", pretty(value)),
                        Arg::Pos(value) => pretty(value),
                    })
                    .collect();
                s = format!("{s}({})", parts.join(", "));
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_slots_read_like_the_input() {
        let slots: Slots = syn::parse_str(
            "schedule: Cosine(clamp_range = [0.0001, 0.9999], shift = -2), scaler : my :: Cond<U3>, \
             noise_cond: Discrete(CosineT, steps = 50), offset_noise: 1e-3",
        )
        .unwrap();
        assert_eq!(
            pretty_slots(&slots),
            "schedule: Cosine(clamp_range = [0.0001, 0.9999], shift = -2), scaler: my::Cond<U3>, \
             noise_cond: Discrete(CosineT, steps = 50), offset_noise: 1e-3"
        );
    }

    #[test]
    fn integers_are_typenum_binary() {
        let s = |t: TokenStream| t.to_string().replace(' ', "");
        assert_eq!(s(uint(0)), "::gdf::__private::typenum::UTerm");
        assert_eq!(
            s(int(-2)),
            "::gdf::__private::typenum::NInt<::gdf::__private::typenum::UInt<\
             ::gdf::__private::typenum::UInt<::gdf::__private::typenum::UTerm,\
             ::gdf::__private::typenum::B1>,::gdf::__private::typenum::B0>>"
        );
    }
}
