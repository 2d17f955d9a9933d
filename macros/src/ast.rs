//! Parsing: the macro's input as written, before any meaning is given to names.
//!
//! ```text
//! input     := item (';' item)* ';'?                      declares type aliases
//!            | slots                                      an expression: the framework value
//! item      := attribute* visibility IDENT '=' slots
//! slots     := slot (',' slot)* ','?
//! slot      := IDENT ':' value
//! value     := '-'? (INT | FLOAT) | 'true' | 'false' | '[' (value (',' value)* ','?)? ']'
//!            | component
//! component := path ('(' (arg (',' arg)* ','?)? ')')?
//! arg       := IDENT '=' value | value
//! ```

use proc_macro2::TokenStream;
use quote::{ToTokens, TokenStreamExt};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    bracketed, parenthesized, token, Attribute, Ident, Lit, LitBool, Path, Token, Visibility,
};

/// The whole input.
pub enum Input {
    /// `vis Name = slots; …`: type aliases.
    Items(Vec<Item>),
    /// `slots`: an expression.
    Expr(Slots),
}

/// `#[attrs] vis Name = slots`.
pub struct Item {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub slots: Slots,
}

/// `name: value, …`.
pub struct Slots {
    pub list: Vec<Slot>,
}

/// `name: value`.
pub struct Slot {
    pub name: Ident,
    pub colon: Token![:],
    pub value: Value,
}

/// A parameter or slot value.
pub enum Value {
    Num(Num),
    Bool(LitBool),
    List(List),
    Comp(Comp),
}

/// A number with an optional minus sign.
pub struct Num {
    pub neg: Option<Token![-]>,
    pub lit: Lit,
}

/// `[a, b, …]`.
pub struct List {
    pub bracket: token::Bracket,
    pub items: Punctuated<Value, Token![,]>,
}

/// A component: a path with optional parenthesized arguments.
pub struct Comp {
    pub path: Path,
    pub args: Option<Args>,
}

/// `( arg, … )`.
pub struct Args {
    pub paren: token::Paren,
    pub list: Punctuated<Arg, Token![,]>,
}

/// `name = value` or a positional `value`.
pub enum Arg {
    Named {
        name: Ident,
        eq: Token![=],
        value: Value,
    },
    Pos(Value),
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let fork = input.fork();
        let _ = fork.call(Attribute::parse_outer);
        let _: Visibility = fork.parse()?;
        let is_item = fork.peek(Ident) && fork.peek2(Token![=]) && !fork.peek2(Token![==]);
        if !is_item {
            return Ok(Input::Expr(input.parse()?));
        }
        let mut items = Vec::new();
        while !input.is_empty() {
            items.push(Item {
                attrs: input.call(Attribute::parse_outer)?,
                vis: input.parse()?,
                name: input.parse()?,
                slots: {
                    input.parse::<Token![=]>()?;
                    input.parse()?
                },
            });
            if input.is_empty() {
                break;
            }
            input.parse::<Token![;]>()?;
        }
        Ok(Input::Items(items))
    }
}

impl Parse for Slots {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut list = Vec::new();
        while !input.is_empty() && !input.peek(Token![;]) {
            list.push(Slot {
                name: input.parse()?,
                colon: input.parse()?,
                value: input.parse()?,
            });
            if input.is_empty() || input.peek(Token![;]) {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(Slots { list })
    }
}

impl Parse for Value {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Token![-]) {
            let neg = Some(input.parse()?);
            let lit: Lit = input.parse()?;
            return match lit {
                Lit::Int(_) | Lit::Float(_) => Ok(Value::Num(Num { neg, lit })),
                other => Err(syn::Error::new_spanned(
                    other,
                    "expected a number after `-`",
                )),
            };
        }
        if input.peek(Lit) {
            return match input.parse::<Lit>()? {
                Lit::Bool(b) => Ok(Value::Bool(b)),
                lit @ (Lit::Int(_) | Lit::Float(_)) => Ok(Value::Num(Num { neg: None, lit })),
                other => Err(syn::Error::new_spanned(
                    other,
                    "expected a number, a range `[lo, hi]`, `true`/`false` or a component",
                )),
            };
        }
        if input.peek(token::Bracket) {
            let content;
            let bracket = bracketed!(content in input);
            let items = content.parse_terminated(Value::parse, Token![,])?;
            return Ok(Value::List(List { bracket, items }));
        }
        if input.peek(Ident)
            || input.peek(Token![::])
            || input.peek(Token![crate])
            || input.peek(Token![self])
            || input.peek(Token![super])
            || input.peek(Token![Self])
        {
            let path: Path = input.parse()?;
            let args = if input.peek(token::Paren) {
                let content;
                let paren = parenthesized!(content in input);
                Some(Args {
                    paren,
                    list: content.parse_terminated(Arg::parse, Token![,])?,
                })
            } else {
                None
            };
            return Ok(Value::Comp(Comp { path, args }));
        }
        Err(input.error("expected a number, a range `[lo, hi]`, `true`/`false` or a component"))
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            Ok(Arg::Named {
                name: input.parse()?,
                eq: input.parse()?,
                value: input.parse()?,
            })
        } else {
            Ok(Arg::Pos(input.parse()?))
        }
    }
}

impl Comp {
    /// The name when the component is a single identifier without generic arguments (a
    /// built-in name), `None` for a path of the user's (`my::Cond`, `Cond<U3>`).
    pub fn builtin_name(&self) -> Option<&Ident> {
        if self.path.leading_colon.is_none() && self.path.segments.len() == 1 {
            let seg = &self.path.segments[0];
            if seg.arguments.is_none() {
                return Some(&seg.ident);
            }
        }
        None
    }
}

// Tokens of each node, so errors can span exactly the offending part of the input.

impl ToTokens for Value {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Value::Num(n) => n.to_tokens(tokens),
            Value::Bool(b) => b.to_tokens(tokens),
            Value::List(l) => l.to_tokens(tokens),
            Value::Comp(c) => c.to_tokens(tokens),
        }
    }
}

impl ToTokens for Num {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.neg.to_tokens(tokens);
        self.lit.to_tokens(tokens);
    }
}

impl ToTokens for List {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.bracket.surround(tokens, |t| self.items.to_tokens(t));
    }
}

impl ToTokens for Comp {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.path.to_tokens(tokens);
        if let Some(a) = &self.args {
            a.paren.surround(tokens, |t| a.list.to_tokens(t));
        }
    }
}

impl ToTokens for Arg {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Arg::Named { name, eq, value } => {
                name.to_tokens(tokens);
                eq.to_tokens(tokens);
                value.to_tokens(tokens);
            }
            Arg::Pos(v) => v.to_tokens(tokens),
        }
    }
}

impl ToTokens for Slot {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.name.to_tokens(tokens);
        self.colon.to_tokens(tokens);
        self.value.to_tokens(tokens);
    }
}

impl ToTokens for Slots {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for (i, s) in self.list.iter().enumerate() {
            if i > 0 {
                tokens.append(proc_macro2::Punct::new(',', proc_macro2::Spacing::Alone));
            }
            s.to_tokens(tokens);
        }
    }
}
