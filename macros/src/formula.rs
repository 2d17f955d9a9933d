//! `#[formulas]`: one body, compiled as host code and as `#[cube]` code.
//!
//! Applied to an inline module of generic functions written against the shared vocabulary
//! (`F::ln(x)`, `F::new(1.0)`, `konst::<F>(c)`, `clamp::<F>(…)`, `select(…)`, `sigmoid`,
//! `logit`, `comptime!(…)`), it emits:
//! - the module with every function as plain Rust: each `F: Float` bound becomes
//!   `F: ::gdf::Real`, `#[comptime]` parameter markers are dropped, and
//!   `::gdf::formula::host::*` (the host vocabulary) is in scope;
//! - inside it, `pub mod cube` (only when `gdf` is built with a kernel runtime) with the same
//!   functions under `#[cube]`, the device vocabulary `::gdf::formula::device::*` in scope.
//!
//! Calls between functions of the same module resolve to the host or the device form on each
//! side, so a module is the unit of sharing. Items other than functions (`use`, `const`) are
//! copied to both sides; `use super::…` in the device copy is rewritten to `use super::super::…`
//! so that it names the same module.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::visit_mut::VisitMut;
use syn::{parse_quote, Item, ItemFn, ItemMod};

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new_spanned(attr, "`#[formulas]` takes no arguments")
            .to_compile_error();
    }
    let mut module: ItemMod = match syn::parse2(item) {
        Ok(m) => m,
        Err(e) => {
            return syn::Error::new(
                e.span(),
                "`#[formulas]` goes on an inline module: `#[formulas] pub mod formula { … }`",
            )
            .to_compile_error()
        }
    };
    let Some((_, items)) = module.content.take() else {
        return syn::Error::new_spanned(
            &module,
            "`#[formulas]` needs an inline module body (`mod name { … }`), not `mod name;`",
        )
        .to_compile_error();
    };
    let mut host = Vec::new();
    let mut device = Vec::new();
    for item in items {
        match item {
            Item::Fn(f) => {
                host.push(host_fn(f.clone()).into_token_stream());
                device.push(device_fn(f).into_token_stream());
            }
            Item::Use(mut u) => {
                // `#[formulas] use path::to::formula as name;` names another formulas module:
                // the device copy imports its `cube` submodule under the same name.
                let shared = u.attrs.iter().any(|a| a.path().is_ident("formulas"));
                u.attrs.retain(|a| !a.path().is_ident("formulas"));
                host.push(u.to_token_stream());
                let mut d = u.clone();
                SuperPaths.visit_item_use_mut(&mut d);
                if shared {
                    if let Err(e) = to_cube(&mut d.tree) {
                        return e.to_compile_error();
                    }
                }
                device.push(d.into_token_stream());
            }
            Item::Const(c) => {
                host.push(c.to_token_stream());
                let name = &c.ident;
                device.push(quote!(#[allow(unused_imports)] use super::#name;));
            }
            other => {
                return syn::Error::new_spanned(
                    other,
                    "a `#[formulas]` module holds functions, `use` items and constants only",
                )
                .to_compile_error()
            }
        }
    }
    let attrs = &module.attrs;
    let vis = &module.vis;
    let ident = &module.ident;
    quote! {
        #(#attrs)*
        #vis mod #ident {
            #![allow(unused_imports, clippy::too_many_arguments, clippy::let_and_return, clippy::assign_op_pattern)]
            use ::gdf::formula::host::*;
            #(#host)*

            ::gdf::__private::with_kernel! {
                /// The `#[cube]` forms of this module's formulas (same names, same bodies).
                pub mod cube {
                    #![allow(unused_imports, clippy::too_many_arguments, clippy::let_and_return, clippy::assign_op_pattern, missing_docs)]
                    use ::gdf::__private::cubecl;
                    use ::gdf::formula::device::*;
                    #(#device)*
                }
            }
        }
    }
}

/// The host form: `F: Float` → `F: ::gdf::Real`, no `#[comptime]` markers, no `#[unroll]`
/// hints, always inlined.
fn host_fn(mut f: ItemFn) -> ItemFn {
    NoUnroll.visit_block_mut(&mut f.block);
    for p in f.sig.generics.type_params_mut() {
        for b in p.bounds.iter_mut() {
            if let syn::TypeParamBound::Trait(t) = b {
                if t.path.is_ident("Float") {
                    *b = parse_quote!(::gdf::Real);
                }
            }
        }
    }
    for input in f.sig.inputs.iter_mut() {
        if let syn::FnArg::Typed(pt) = input {
            pt.attrs.retain(|a| !a.path().is_ident("comptime"));
        }
    }
    f.attrs.push(parse_quote!(#[inline(always)]));
    f
}

/// The device form: the function under `#[cube]`, docs dropped (the host form has them).
fn device_fn(mut f: ItemFn) -> ItemFn {
    f.attrs.retain(|a| !a.path().is_ident("doc"));
    f.attrs.insert(0, parse_quote!(#[cubecl::cube]));
    f
}

/// `use a::b::formula as f` → `use a::b::formula::cube as f` (one path, renamed or not).
fn to_cube(tree: &mut syn::UseTree) -> syn::Result<()> {
    match tree {
        syn::UseTree::Path(p) => to_cube(&mut p.tree),
        syn::UseTree::Name(n) => {
            let name = n.ident.clone();
            *tree = parse_quote!(#name::cube as #name);
            Ok(())
        }
        syn::UseTree::Rename(r) => {
            let (name, rename) = (r.ident.clone(), r.rename.clone());
            *tree = parse_quote!(#name::cube as #rename);
            Ok(())
        }
        other => Err(syn::Error::new_spanned(
            other,
            "`#[formulas] use` imports one formulas module: `#[formulas] use path::formula as name;`",
        )),
    }
}

/// Drops `#[unroll]` (a device-only loop hint) from the host copy.
struct NoUnroll;

impl VisitMut for NoUnroll {
    fn visit_expr_for_loop_mut(&mut self, e: &mut syn::ExprForLoop) {
        e.attrs.retain(|a| !a.path().is_ident("unroll"));
        syn::visit_mut::visit_expr_for_loop_mut(self, e);
    }
}

/// `use super::x` → `use super::super::x` (the device copy sits one module deeper).
struct SuperPaths;

impl VisitMut for SuperPaths {
    fn visit_use_tree_mut(&mut self, tree: &mut syn::UseTree) {
        if let syn::UseTree::Path(p) = tree {
            if p.ident == "super" {
                let inner = (*p.tree).clone();
                *p.tree = parse_quote!(super::#inner);
                return;
            }
        }
        syn::visit_mut::visit_use_tree_mut(self, tree);
    }
}
