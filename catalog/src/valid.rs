//! Validation: gives the parsed input its meaning (which component, which parameters, which
//! constants) and checks it, collecting every error with the span of the offending node
//! (the macro's tokens, the run-time parser's byte range). The messages are written here
//! only, so `gdf!` and `gdf::dynamic` say the same thing about the same mistake.
//!
//! Every mistake is replaced by a default (the slot's fallback component, the parameter's
//! default value), so the result is always a complete framework type: the macro emits it
//! next to the errors and one mistake does not cascade into errors at every use (the
//! run-time parser returns the errors instead).

use std::fmt::Display;

use crate::ast::{Arg, Args, Slots, Value};
use crate::catalog::{self, Check, Component, Def, Kind, Param, RangeCheck, Role, Special};
use crate::num::{self, Decimal};

/// The largest whole number a count parameter takes (`buckets`, `total_steps`, `steps`,
/// `discrete_steps`): `buckets` and `total_steps` size tables built at run time.
pub const MAX_COUNT: u64 = 1 << 20;

/// What the declaration becomes, which decides what it may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A type (`gdf!`): constants only; a path of the user's is a type of theirs.
    Type,
    /// A run-time value (`gdf::dynamic`): also tables (`PiecewiseLinear(xs = …, ys = …)`)
    /// and a stretched scaler's limits (`Vp.stretched([…])`); built-in components only.
    Value,
}

/// A validated framework: the five components and the offset-noise constant.
#[derive(Clone, Debug)]
pub struct Framework<S> {
    /// Schedule, scaler, target, noise cond, loss weight (in `Role::ALL` order).
    pub slots: Vec<Ty<S>>,
    /// The offset-noise strength.
    pub offset_noise: Decimal,
}

/// A component, as the type `gdf!` writes for it.
#[derive(Clone, Debug)]
pub enum Ty<S> {
    /// `::gdf::<path><args…>` (`path` as `schedule::Cosine`).
    Builtin {
        /// The type's path inside `gdf`.
        path: &'static str,
        /// Its generic arguments (defaults filled in).
        args: Vec<GArg<S>>,
    },
    /// A type of the user's, used as written (its path's span).
    User(S),
}

/// A generic argument of a built-in component.
#[derive(Clone, Debug)]
pub enum GArg<S> {
    /// An exact decimal constant.
    Dec(Decimal),
    /// A whole number.
    Count(u64),
    /// A flag.
    Bool(bool),
    /// A nested component.
    Ty(Ty<S>),
    /// A tuple of components (`Composed`'s factors).
    Tuple(Vec<Ty<S>>),
    /// Run-time numbers (a table, stretched limits; [`Mode::Value`] only) and where they
    /// are written.
    Floats(Vec<f64>, S),
}

/// Where a component is being declared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Plain,
    /// A factor of `Composed`, which uses its parts' raw formulas.
    ComposedFactor,
}

/// The validator: collects errors and the user types whose role the compiler must check.
#[derive(Debug)]
pub struct Validator<S> {
    mode: Mode,
    errors: Vec<(S, String)>,
    /// User types with the role they fill ([`Mode::Type`]), checked against the role's
    /// trait in the expansion (so a wrong one is reported by
    /// `#[diagnostic::on_unimplemented]`).
    pub user_types: Vec<(Role, S)>,
}

const ZERO: Decimal = Decimal {
    neg: false,
    m: 0,
    e: 0,
};

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn default_decimal(s: &str) -> Decimal {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    num::parse(neg, digits).unwrap_or_else(|e| panic!("bad default {s}: {e}"))
}

impl<S: Clone> Validator<S> {
    /// A validator for `mode`, with no errors yet.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            errors: Vec::new(),
            user_types: Vec::new(),
        }
    }

    /// The errors so far, each with where it is, in the order found; empties the list.
    pub fn take_errors(&mut self) -> Vec<(S, String)> {
        std::mem::take(&mut self.errors)
    }

    /// Records an error at `span`.
    fn err(&mut self, span: &S, msg: impl Display) {
        self.errors.push((span.clone(), msg.to_string()));
    }

    /// Validates the slots of one framework. `at` is where a missing slot is reported (the
    /// declared name, or the whole declaration).
    pub fn framework(&mut self, slots: &Slots<S>, at: &S) -> Framework<S> {
        const OFFSET: usize = 5;
        let mut found: [Option<&crate::ast::Slot<S>>; 6] = [None; 6];
        // Slots an unknown slot name was probably meant as: not reported missing as well.
        let mut meant: Vec<&str> = Vec::new();
        for slot in &slots.list {
            let key = slot.name.clone();
            let idx = match key.as_str() {
                "schedule" => 0,
                "scaler" | "input_scaler" => 1,
                "target" => 2,
                "noise_cond" => 3,
                "loss_weight" => 4,
                "offset_noise" => OFFSET,
                _ => {
                    let known = [
                        "schedule",
                        "scaler",
                        "input_scaler",
                        "target",
                        "noise_cond",
                        "loss_weight",
                        "offset_noise",
                    ];
                    let hint = match catalog::suggest(&key, known) {
                        Some(s) => {
                            meant.push(if s == "input_scaler" { "scaler" } else { s });
                            format!("did you mean `{s}`?")
                        }
                        None => "the slots are schedule, scaler (or input_scaler), target, \
                                 noise_cond, loss_weight and the optional offset_noise"
                            .to_string(),
                    };
                    self.err(&slot.name_span, format!("unknown slot `{key}`: {hint}"));
                    continue;
                }
            };
            if let Some(first) = found[idx] {
                let msg = format!(
                    "duplicate slot `{key}`: the framework already has its {} (`{}: …`)",
                    match idx {
                        OFFSET => "offset noise",
                        i => Role::ALL[i].name(),
                    },
                    first.name
                );
                self.err(&slot.name_span, msg);
                continue;
            }
            found[idx] = Some(slot);
        }
        let missing: Vec<String> = Role::ALL
            .iter()
            .zip(&found)
            .filter(|(r, f)| f.is_none() && !meant.contains(&r.slot()))
            .map(|(r, _)| format!("`{}`", r.slot()))
            .collect();
        if !missing.is_empty() {
            let msg = format!(
                "missing slot{} {}: a framework needs `schedule`, `scaler`, `target`, \
                 `noise_cond` and `loss_weight` (`offset_noise` is optional)",
                if missing.len() > 1 { "s" } else { "" },
                join_or(&missing).replace(" or ", " and "),
            );
            self.err(at, msg);
        }
        let slots_ty = Role::ALL
            .iter()
            .zip(&found)
            .map(|(&role, f)| match f {
                Some(slot) => self.component(&slot.value, role, Ctx::Plain),
                None => self.fallback(role),
            })
            .collect();
        let offset_noise = match found[OFFSET] {
            Some(slot) => self
                .float(&slot.value, "offset_noise", Check::NonNegative)
                .unwrap_or(ZERO),
            None => ZERO,
        };
        Framework {
            slots: slots_ty,
            offset_noise,
        }
    }

    /// Validates one component of `role` (a slot's value on its own).
    pub fn component_of(&mut self, v: &Value<S>, role: Role) -> Ty<S> {
        self.component(v, role, Ctx::Plain)
    }

    /// The component a slot falls back to after an error.
    fn fallback(&mut self, role: Role) -> Ty<S> {
        let def = catalog::find(role, role.fallback()).expect("fallback is a built-in");
        let args = def
            .params
            .iter()
            .flat_map(|p| self.default_args(p))
            .collect();
        Ty::Builtin {
            path: def.path,
            args,
        }
    }

    /// A component of `role`.
    fn component(&mut self, v: &Value<S>, role: Role, ctx: Ctx) -> Ty<S> {
        let comp = match v {
            Value::Comp(c) => c,
            other => {
                self.err(
                    other.span(),
                    format!("expected {} here, found {}", role.noun(), other.describe()),
                );
                return self.fallback(role);
            }
        };
        if let Some(limits) = &comp.stretched {
            return self.stretched(comp, limits, role, ctx);
        }
        let Some(key) = comp.builtin.clone() else {
            if let Some(args) = &comp.args {
                let msg = "parameters in parentheses are for built-in components only; a type \
                           of your own is used as written, with any parameters as generic \
                           arguments (`my::Cond<…>`)";
                self.err(&args.span, msg);
                return self.fallback(role);
            }
            if self.mode == Mode::Value {
                let msg = format!(
                    "`{}` is not a built-in {}: run-time text names built-in components \
                     only (a type of your own goes into `gdf!` or `gdf::framework::Gdf::new`)",
                    comp.path_text,
                    role.name()
                );
                self.err(&comp.path, msg);
                return self.fallback(role);
            }
            self.user_types.push((role, comp.path.clone()));
            return Ty::User(comp.path.clone());
        };
        let name = &comp.path;
        let Some(def) = catalog::find(role, &key) else {
            let roles = catalog::roles_of(&key);
            if !roles.is_empty() {
                let nouns: Vec<String> = roles.iter().map(|r| r.noun().to_string()).collect();
                self.err(
                    name,
                    format!("`{key}` is {}, not {}", join_or(&nouns), role.noun()),
                );
            } else {
                let candidates: Vec<&str> = catalog::COMPONENTS
                    .iter()
                    .filter(|c| c.role == role)
                    .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
                    .collect();
                let hint = match catalog::suggest(&key, candidates) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "the built-in {}s are {}",
                        role.name(),
                        catalog::names(role).join(", ")
                    ),
                };
                self.err(
                    name,
                    format!(
                        "unknown {} `{key}`: {hint} (a type of your own is written as a \
                         path, e.g. `self::{key}`)",
                        role.name()
                    ),
                );
            }
            return self.fallback(role);
        };
        if let Special::Unsupported(msg) = def.special {
            // Run-time text may give the tables; a type cannot hold them.
            if self.mode == Mode::Type || !has_tables(comp.args.as_ref()) {
                self.err(name, msg);
                return self.fallback(role);
            }
        }
        self.builtin(def, &key, name, comp.args.as_ref(), ctx)
    }

    /// `scaler.stretched([min_a, max_a, min_b, max_b])` (run-time text only).
    fn stretched(
        &mut self,
        comp: &crate::ast::Comp<S>,
        limits: &Value<S>,
        role: Role,
        ctx: Ctx,
    ) -> Ty<S> {
        if self.mode == Mode::Type || role != Role::Scaler {
            self.err(
                limits.span(),
                format!(
                    "`.stretched(…)` is for a scaler in run-time text only (the limits that \
                     `setup_limits` measured); {} cannot be stretched here",
                    role.noun()
                ),
            );
            return self.fallback(role);
        }
        let mut plain = comp.clone();
        plain.stretched = None;
        let inner = self.component(&Value::Comp(plain), role, ctx);
        match self.floats(limits, "stretched", Some(4)) {
            Some(args) => Ty::Builtin {
                path: "scaler::Stretched",
                args: vec![GArg::Ty(inner), args],
            },
            None => inner,
        }
    }

    /// A list of run-time numbers (exactly `len` of them when given).
    fn floats(&mut self, v: &Value<S>, what: &str, len: Option<usize>) -> Option<GArg<S>> {
        let Value::List(items, span) = v else {
            self.err(
                v.span(),
                format!(
                    "`{what}` takes a list of numbers `[…]`, found {}",
                    v.describe()
                ),
            );
            return None;
        };
        if let Some(n) = len {
            if items.len() != n {
                self.err(
                    span,
                    format!("`{what}` takes {n} numbers, found {}", items.len()),
                );
                return None;
            }
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let Value::Num(n) = item else {
                self.err(
                    item.span(),
                    format!("`{what}` takes numbers, found {}", item.describe()),
                );
                ok = false;
                continue;
            };
            if !n.suffix.is_empty() && n.suffix != "f64" {
                self.err(
                    &n.span,
                    format!(
                        "`{what}`: write the number without the `{}` suffix (constants are f64)",
                        n.suffix
                    ),
                );
                ok = false;
                continue;
            }
            let shown = format!("{}{}", if n.neg { "-" } else { "" }, n.digits);
            match shown.parse::<f64>() {
                Ok(x) if x.is_finite() => out.push(x),
                _ => {
                    self.err(
                        &n.span,
                        format!("`{what}` takes finite numbers, found `{shown}`"),
                    );
                    ok = false;
                }
            }
        }
        ok.then(|| GArg::Floats(out, span.clone()))
    }

    /// A built-in component with its arguments and role wrappers.
    fn builtin(
        &mut self,
        def: &'static Component,
        name: &str,
        name_span: &S,
        args: Option<&Args<S>>,
        ctx: Ctx,
    ) -> Ty<S> {
        let wrappers = catalog::wrapper_params(def.role);
        let all: Vec<&'static Param> = def.params.iter().chain(wrappers).collect();
        let mut given: Vec<Option<&Value<S>>> = vec![None; all.len()];
        let mut positional = 0;
        for arg in args.iter().flat_map(|a| a.list.iter()) {
            match arg {
                Arg::Pos(v) => {
                    if positional >= def.positional {
                        let msg = if def.positional == 0 {
                            match def.params.first() {
                                Some(p) => format!(
                                    "`{name}` takes named parameters, e.g. `{name}({} = …)`",
                                    p.name
                                ),
                                None => format!(
                                    "`{name}` takes no positional arguments{}",
                                    wrappers
                                        .first()
                                        .map(|w| format!(
                                            " (only named ones, e.g. `{} = …`)",
                                            w.name
                                        ))
                                        .unwrap_or_default()
                                ),
                            }
                        } else {
                            format!(
                                "`{name}` takes {} positional argument{}; name the others \
                                 (`{} = …`)",
                                def.positional,
                                if def.positional > 1 { "s" } else { "" },
                                all.get(def.positional).map_or("…", |p| p.name)
                            )
                        };
                        self.err(v.span(), msg);
                        continue;
                    }
                    given[positional] = Some(v);
                    positional += 1;
                }
                Arg::Named {
                    name: key,
                    name_span: pname,
                    value,
                } => {
                    let key = key.clone();
                    let Some(i) = all
                        .iter()
                        .position(|p| p.name == key || p.aliases.contains(&key.as_str()))
                    else {
                        let names: Vec<&str> = all.iter().map(|p| p.name).collect();
                        let hint = match catalog::suggest(&key, names.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None if names.is_empty() => format!("`{name}` takes none"),
                            None => format!("`{name}` takes {}", names.join(", ")),
                        };
                        self.err(
                            pname,
                            format!("unknown parameter `{key}` of `{name}`: {hint}"),
                        );
                        continue;
                    };
                    if given[i].is_some() {
                        let how = if i < positional {
                            " (it is already given as a positional argument)"
                        } else {
                            ""
                        };
                        self.err(pname, format!("duplicate parameter `{key}`{how}"));
                        continue;
                    }
                    let p = all[i];
                    if p.name == "clamp_range" && i >= def.params.len() {
                        if def.special == Special::IgnoresClampRange {
                            let msg = format!(
                                "`{name}` takes no `clamp_range`: the original GDF ignores \
                                 it on CosineTNoiseCond and always clamps to [0, 1]; remove \
                                 it (for another range, wrap the type by hand: \
                                 `gdf::noise_cond::Clamped<gdf::noise_cond::CosineT, Lo, Hi>`)"
                            );
                            self.err(pname, msg);
                            continue;
                        }
                        if ctx == Ctx::ComposedFactor {
                            self.err(
                                pname,
                                "`clamp_range` has no effect on a factor of `Composed`, which \
                                 multiplies its parts' raw formulas; clamp the `Composed` \
                                 loss weight itself",
                            );
                            continue;
                        }
                    }
                    given[i] = Some(value);
                }
            }
        }

        let mut gargs = Vec::new();
        for (p, v) in def.params.iter().zip(&given) {
            let args = match v {
                Some(v) => self.value(v, p),
                None if p.default == Def::Required => {
                    self.err(
                        name_span,
                        format!("`{name}` needs `{}` ({})", p.name, describe_kind(p.kind)),
                    );
                    None
                }
                None => None,
            };
            gargs.extend(args.unwrap_or_else(|| self.default_args(p)));
        }
        let mut ty = Ty::Builtin {
            path: def.path,
            args: gargs,
        };

        // The role's wrapper parameters, innermost first (the order `Display` prints them).
        let n = def.params.len();
        let wrapped = |path: &'static str, inner: Ty<S>, mut rest: Vec<GArg<S>>| {
            rest.insert(0, GArg::Ty(inner));
            Ty::Builtin { path, args: rest }
        };
        match def.role {
            Role::Schedule => {
                if let Some(k) = given[n].and_then(|v| self.float(v, "shift", Check::Positive)) {
                    if k.f64() != 1.0 {
                        ty = wrapped("schedule::Shifted", ty, vec![GArg::Dec(k)]);
                    }
                }
                if let Some(d) = given[n + 1].and_then(|v| self.count(v, "discrete_steps", 2)) {
                    ty = wrapped("schedule::DiscreteSteps", ty, vec![GArg::Count(d)]);
                }
                if let Some(false) = given[n + 2].and_then(|v| self.bool(v, "force_limits")) {
                    ty = wrapped("schedule::NoLimits", ty, vec![]);
                }
            }
            Role::NoiseCond => {
                if let Some(k) = given[n].and_then(|v| self.float(v, "shift", Check::Positive)) {
                    if k.f64() != 1.0 {
                        ty = wrapped("noise_cond::Shifted", ty, vec![GArg::Dec(k)]);
                    }
                }
                if let Some(r) = given[n + 1].and_then(|v| self.clamp(v)) {
                    ty = wrapped("noise_cond::Clamped", ty, r);
                }
            }
            Role::LossWeight => {
                if let Some(r) = given[n].and_then(|v| self.clamp(v)) {
                    ty = wrapped("loss_weight::Clamped", ty, r);
                }
            }
            Role::Scaler | Role::Target => {}
        }
        ty
    }

    /// A `clamp_range` wrapper's bounds, `None` when invalid or the default `[-1e9, 1e9]`.
    fn clamp(&mut self, v: &Value<S>) -> Option<Vec<GArg<S>>> {
        let [lo, hi] = self.range(v, "clamp_range", RangeCheck::Ordered)?;
        if lo.f64() == -1e9 && hi.f64() == 1e9 {
            None
        } else {
            Some(vec![GArg::Dec(lo), GArg::Dec(hi)])
        }
    }

    /// The generic arguments of a parameter's default.
    fn default_args(&mut self, p: &Param) -> Vec<GArg<S>> {
        match p.default {
            Def::Float(s) => vec![GArg::Dec(default_decimal(s))],
            Def::Count(n) => vec![GArg::Count(n)],
            Def::Bool(b) => vec![GArg::Bool(b)],
            Def::Range(a, b) => vec![GArg::Dec(default_decimal(a)), GArg::Dec(default_decimal(b))],
            Def::Empty => vec![GArg::Tuple(Vec::new())],
            Def::Comp(path) => vec![GArg::Ty(Ty::Builtin {
                path,
                args: Vec::new(),
            })],
            Def::Required | Def::Off => match p.kind {
                Kind::Component(role) => vec![GArg::Ty(self.fallback(role))],
                _ => Vec::new(),
            },
        }
    }

    /// The generic arguments of a given parameter value, `None` after an error.
    fn value(&mut self, v: &Value<S>, p: &Param) -> Option<Vec<GArg<S>>> {
        Some(match p.kind {
            Kind::Float(check) => vec![GArg::Dec(self.float(v, p.name, check)?)],
            Kind::Count(min) => vec![GArg::Count(self.count(v, p.name, min)?)],
            Kind::Bool => vec![GArg::Bool(self.bool(v, p.name)?)],
            Kind::Range(check) => {
                let [lo, hi] = self.range(v, p.name, check)?;
                vec![GArg::Dec(lo), GArg::Dec(hi)]
            }
            Kind::Component(role) => vec![GArg::Ty(self.component(v, role, Ctx::Plain))],
            Kind::Floats => vec![self.floats(v, p.name, None)?],
            Kind::List(role) => {
                let items: Vec<&Value<S>> = match v {
                    Value::List(l, _) => l.iter().collect(),
                    one @ Value::Comp(_) => vec![one],
                    other => {
                        self.wrong_kind(other, p.name, p.kind);
                        return None;
                    }
                };
                if items.len() > 4 {
                    self.err(
                        v.span(),
                        format!(
                            "`{}` takes at most 4 factors, found {}",
                            p.name,
                            items.len()
                        ),
                    );
                    return None;
                }
                let tys = items
                    .into_iter()
                    .map(|v| self.component(v, role, Ctx::ComposedFactor))
                    .collect();
                vec![GArg::Tuple(tys)]
            }
        })
    }

    fn wrong_kind(&mut self, v: &Value<S>, what: &str, kind: Kind) {
        self.err(
            v.span(),
            format!(
                "`{what}` takes {}, found {}",
                describe_kind(kind),
                v.describe()
            ),
        );
    }

    /// A number as an exact constant.
    fn float(&mut self, v: &Value<S>, what: &str, check: Check) -> Option<Decimal> {
        let Value::Num(n) = v else {
            self.wrong_kind(v, what, Kind::Float(check));
            return None;
        };
        let (digits, suffix) = (&n.digits, &n.suffix);
        if !suffix.is_empty() && suffix != "f64" {
            self.err(
                &n.span,
                format!(
                    "`{what}`: write the number without the `{suffix}` suffix (constants are f64)"
                ),
            );
            return None;
        }
        let d = match num::parse(n.neg, digits) {
            Ok(d) => d,
            Err(msg) => {
                self.err(&n.span, msg);
                return None;
            }
        };
        let x = d.f64();
        let bad = match check {
            Check::Any => None,
            Check::Positive if x <= 0.0 => Some("positive"),
            Check::NonNegative if x < 0.0 => Some("zero or positive"),
            Check::ModeScale if !(-1.0..=2.0 / (core::f64::consts::PI - 2.0)).contains(&x) => {
                Some("within [-1, 2/(π−2) ≈ 1.752] (where the mode-sampling map is monotone)")
            }
            _ => None,
        };
        if let Some(must) = bad {
            self.err(&n.span, format!("`{what}` must be {must}, found `{x:?}`"));
            return None;
        }
        Some(d)
    }

    /// A whole number of at least `min`.
    fn count(&mut self, v: &Value<S>, what: &str, min: u64) -> Option<u64> {
        let n = match v {
            Value::Num(n) => n,
            other => {
                self.wrong_kind(other, what, Kind::Count(min));
                return None;
            }
        };
        if !n.int {
            self.err(
                &n.span,
                format!("`{what}` takes a whole number, found `{}`", n.text),
            );
            return None;
        }
        let value = match n.digits.parse::<u64>() {
            Ok(v) if !n.neg => v,
            _ => {
                self.err(
                    &n.span,
                    format!("`{what}` takes a whole number of at least {min}"),
                );
                return None;
            }
        };
        if value < min {
            let why = if what == "discrete_steps" {
                " (t is snapped to `discrete_steps` points including both ends)"
            } else {
                ""
            };
            self.err(
                &n.span,
                format!("`{what}` must be at least {min}, found {value}{why}"),
            );
            return None;
        }
        if value > MAX_COUNT {
            self.err(
                &n.span,
                format!("`{what}` must be at most {MAX_COUNT}, found {value}"),
            );
            return None;
        }
        Some(value)
    }

    /// `true` / `false` (also Python's `True` / `False`).
    fn bool(&mut self, v: &Value<S>, what: &str) -> Option<bool> {
        match v {
            Value::Bool(b, _) => Some(*b),
            Value::Comp(c) if c.args.is_none() && c.stretched.is_none() => {
                match c.builtin.as_deref() {
                    Some("True") => Some(true),
                    Some("False") => Some(false),
                    _ => {
                        self.wrong_kind(v, what, Kind::Bool);
                        None
                    }
                }
            }
            other => {
                self.wrong_kind(other, what, Kind::Bool);
                None
            }
        }
    }

    /// `[lo, hi]` with its checks.
    fn range(&mut self, v: &Value<S>, what: &str, check: RangeCheck) -> Option<[Decimal; 2]> {
        let Value::List(l, _) = v else {
            self.wrong_kind(v, what, Kind::Range(check));
            return None;
        };
        if l.len() != 2 {
            self.err(
                v.span(),
                format!(
                    "`{what}` takes a range `[lo, hi]` of two numbers, found {} value{}",
                    l.len(),
                    if l.len() == 1 { "" } else { "s" }
                ),
            );
            return None;
        }
        let lo = self.float(&l[0], what, Check::Any);
        let hi = self.float(&l[1], what, Check::Any);
        let (lo, hi) = (lo?, hi?);
        let mut ok = true;
        for (d, item) in [(lo, &l[0]), (hi, &l[1])] {
            let x = d.f64();
            let why = match check {
                RangeCheck::Unit if !(0.0..=1.0).contains(&x) => {
                    Some("within [0, 1] (it bounds a variance)")
                }
                RangeCheck::OpenUnit if !(x > 0.0 && x < 1.0) => {
                    Some("within (0, 1) (β values are probabilities)")
                }
                RangeCheck::Positive if x <= 0.0 => Some("positive (σ > 0)"),
                RangeCheck::PositivePair if x <= 0.0 => Some("positive"),
                _ => None,
            };
            if let Some(why) = why {
                self.err(
                    item.span(),
                    format!("`{what}` must be {why}, found `{x:?}`"),
                );
                ok = false;
            }
        }
        if ok && check != RangeCheck::PositivePair && lo.f64() >= hi.f64() {
            self.err(
                v.span(),
                format!(
                    "`{what}` must be `[lo, hi]` with lo < hi, found [{:?}, {:?}]",
                    lo.f64(),
                    hi.f64()
                ),
            );
            ok = false;
        }
        ok.then_some([lo, hi])
    }
}

/// What a kind of parameter takes, for messages.
fn describe_kind(kind: Kind) -> String {
    match kind {
        Kind::Float(_) => "a number".into(),
        Kind::Count(_) => "a whole number".into(),
        Kind::Bool => "`true` or `false`".into(),
        Kind::Range(_) => "a range `[lo, hi]`".into(),
        Kind::Component(role) => role.noun().into(),
        Kind::List(role) => format!("a list of {}s `[…]`", role.name()),
        Kind::Floats => "a list of numbers `[…]`".into(),
    }
}

/// Whether a `PiecewiseLinear`'s arguments give its tables (`xs = …` or `ys = …`).
fn has_tables<S>(args: Option<&Args<S>>) -> bool {
    args.is_some_and(|a| {
        a.list.iter().any(|arg| {
            matches!(arg, Arg::Named { name, .. }
                    if name == "xs" || name == "ys" || name == "log_sigmas")
        })
    })
}
