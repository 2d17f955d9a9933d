//! A declaration as written, before any meaning is given to names: the common form both
//! front ends parse into. `S` is what a node's position is to its front end (the macro's
//! tokens, the run-time parser's byte range).
//!
//! ```text
//! slots     := slot (',' slot)* ','?
//! slot      := IDENT ':' value
//! value     := '-'? (INT | FLOAT) | 'true' | 'false' | '[' (value (',' value)* ','?)? ']'
//!            | component
//! component := path ('(' (arg (',' arg)* ','?)? ')')? ('.' 'stretched' '(' value ')')?
//! arg       := IDENT '=' value | value
//! ```
//!
//! The `.stretched(…)` suffix is run-time text only (a stretched scaler's measured limits).

/// `name: value, …`.
#[derive(Clone, Debug)]
pub struct Slots<S> {
    /// The slots in the order written.
    pub list: Vec<Slot<S>>,
}

/// `name: value`.
#[derive(Clone, Debug)]
pub struct Slot<S> {
    /// The slot's name as written.
    pub name: String,
    /// Where the name is.
    pub name_span: S,
    /// The value.
    pub value: Value<S>,
}

/// A parameter or slot value.
#[derive(Clone, Debug)]
pub enum Value<S> {
    /// A number.
    Num(Num<S>),
    /// `true` / `false`.
    Bool(bool, S),
    /// `[a, b, …]` with the span of the whole list.
    List(Vec<Value<S>>, S),
    /// A component.
    Comp(Comp<S>),
}

/// A number literal with an optional minus sign.
#[derive(Clone, Debug)]
pub struct Num<S> {
    /// A minus sign was written before it.
    pub neg: bool,
    /// The literal's decimal digits without `_` and suffix (`0.008`, `1e-9`, `1000`).
    pub digits: String,
    /// The type suffix (`f32`), empty when none.
    pub suffix: String,
    /// Whether the literal is an integer literal (no `.`, no exponent, no float suffix).
    pub int: bool,
    /// The number as the macro prints its tokens (`- 1000.0`), for messages.
    pub text: String,
    /// Where it is (sign included).
    pub span: S,
}

/// A component: a path with optional parenthesised arguments.
#[derive(Clone, Debug)]
pub struct Comp<S> {
    /// The name when the path is a single identifier without generic arguments (a built-in
    /// name), `None` for a path of the user's (`my::Cond`, `Cond<U3>`).
    pub builtin: Option<String>,
    /// The path as text (for messages).
    pub path_text: String,
    /// Where the path is (a user's path: its type, as written).
    pub path: S,
    /// `( arg, … )`.
    pub args: Option<Args<S>>,
    /// `.stretched(limits)` (run-time text only): the limits' value.
    pub stretched: Option<Box<Value<S>>>,
    /// Where the whole component is.
    pub span: S,
}

/// `( arg, … )`.
#[derive(Clone, Debug)]
pub struct Args<S> {
    /// The arguments in the order written.
    pub list: Vec<Arg<S>>,
    /// Where the parenthesised list is (parentheses included).
    pub span: S,
}

/// `name = value` or a positional `value`.
#[derive(Clone, Debug)]
pub enum Arg<S> {
    /// `name = value`.
    Named {
        /// The parameter's name as written.
        name: String,
        /// Where the name is.
        name_span: S,
        /// The value.
        value: Value<S>,
    },
    /// A positional value.
    Pos(Value<S>),
}

impl<S> Value<S> {
    /// Where the value is.
    pub fn span(&self) -> &S {
        match self {
            Value::Num(n) => &n.span,
            Value::Bool(_, s) | Value::List(_, s) => s,
            Value::Comp(c) => &c.span,
        }
    }

    /// What the value is, for messages ("a number", "a list").
    pub fn describe(&self) -> String {
        match self {
            Value::Num(_) => "a number".into(),
            Value::Bool(..) => "a bool".into(),
            Value::List(l, _) if l.len() == 2 => "a range `[…, …]`".into(),
            Value::List(..) => "a list".into(),
            Value::Comp(c) => match &c.builtin {
                Some(n) => format!("the component `{n}`"),
                None => "a type path".into(),
            },
        }
    }
}
