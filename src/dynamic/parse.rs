//! Frameworks and components from text: exactly the text `gdf!` accepts and `Display`
//! prints, checked by the same validator with the same messages (`gdf-catalog`).
//!
//! See [`DynGdf`] for the grammar.

use core::fmt;
use core::ops::Range;
use core::str::FromStr;

use gdf_catalog::ast::{Arg, Args, Comp, Num, Slot, Slots, Value};
use gdf_catalog::catalog::Role;
use gdf_catalog::valid::{GArg, Mode, Ty, Validator};

use super::{
    CondKind, DynLossWeight, DynNoiseCond, DynScaler, DynSchedule, DynTarget, ScheduleKind,
    WeightKind,
};
use crate::dynamic::{DynDensity, DynWeighting};
use crate::error::GdfError;
use crate::framework::Gdf;
use crate::scaler::Stretched;
use crate::schedule::{Table, VarParams};

/// A framework configured at run time: `Gdf` over the [`dynamic`](super) components with
/// an `f64` offset noise. Parse it from the text `gdf!` accepts ([`FromStr`]); its
/// `Display` prints that text back, with every default explicit.
///
/// **serde:** a `DynGdf` (de)serialises as that text, one string, so a TOML/JSON config
/// holds `framework = "schedule: Cosine, scaler: Vp, …"`; a mistake in it is a serde error
/// carrying the parser's message and line:column within the string. There is no structured
/// (map) form: the text is the one format both `gdf!` and configs share. The components
/// ([`DynSchedule`], [`DynScaler`], [`DynTarget`], [`DynNoiseCond`], [`DynLossWeight`])
/// parse and (de)serialise the same way, as one component's text (`"Cosine(shift = 2)"`).
/// Adaptive state is not text: save it with the state types' own serde.
///
/// # Grammar
///
/// ```text
/// slots     := slot (',' slot)* ','?
/// slot      := IDENT ':' value                 schedule, scaler (input_scaler), target,
///                                              noise_cond, loss_weight, offset_noise
/// value     := '-'? NUMBER | 'true' | 'false' | '[' (value (',' value)* ','?)? ']'
///            | component
/// component := IDENT ('(' (arg (',' arg)* ','?)? ')')? ('.' 'stretched' '(' value ')')?
/// arg       := IDENT '=' value | value
/// NUMBER    := a Rust integer or float literal (`1000`, `0.008`, `1e-9`, `1_000.5`)
/// ```
///
/// Run-time text holds two things a type cannot, both of which `Display` prints:
/// `PiecewiseLinear(xs = […], ys = […])` tables and a stretched scaler's measured limits
/// (`Vp.stretched([min_a, max_a, min_b, max_b])`); their numbers are any finite `f64`.
/// Every other number must be a decimal that `gdf!` encodes exactly (at most about 15
/// significant digits, `1e±22`), as in the macro. A path of the user's (`my::Cond`) is
/// refused: run-time text builds built-in components only. Adaptive state (bucket weights)
/// is not part of the text: a parsed `AdaptiveTrain`/`Adaptive` starts fresh.
///
/// # Example
///
/// ```
/// use gdf::dynamic::DynGdf;
///
/// let text = "schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, \
///             target: Epsilon, noise_cond: CosineT, loss_weight: P2";
/// let g: DynGdf = text.parse()?;
/// // Display prints every default explicitly; that text parses to the same framework.
/// let full = g.to_string();
/// assert_eq!(full.parse::<DynGdf>()?, g);
/// assert_eq!(full.parse::<DynGdf>()?.to_string(), full);
///
/// // The same text in `gdf!` declares the zero-sized twin, with identical numbers.
/// gdf::gdf!(StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
///           target: Epsilon, noise_cond: CosineT, loss_weight: P2);
/// assert_eq!(StageC::default().to_string(), full);
///
/// // Mistakes are reported with the macro's messages, at their place in the text.
/// let err = "schedule: Cosin, scaler: Vp, target: Epsilon, noise_cond: CosineT, \
///            loss_weight: P2".parse::<DynGdf>().unwrap_err();
/// assert_eq!(err.issues[0].text, "Cosin");
/// assert!(err.issues[0].message.starts_with("unknown schedule `Cosin`: did you mean `Cosine`?"));
/// # Ok::<(), gdf::dynamic::ParseError>(())
/// ```
pub type DynGdf = Gdf<DynSchedule, DynScaler, DynTarget, DynNoiseCond, DynLossWeight, f64>;

/// One mistake in a text: where it is and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseIssue {
    /// Byte range of the offending text (empty at the end of the input).
    pub span: Range<usize>,
    /// 1-based line of its start.
    pub line: usize,
    /// 1-based column (in characters) of its start.
    pub column: usize,
    /// The offending text (empty at the end of the input).
    pub text: String,
    /// What is wrong and what was expected: the message `gdf!` gives for the same mistake.
    pub message: String,
}

impl fmt::Display for ParseIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        } else {
            write!(
                f,
                "{}:{}: {} (at `{}`)",
                self.line, self.column, self.message, self.text
            )
        }
    }
}

/// Why a text is not a framework (or component): every mistake found, in order.
///
/// A syntax error stops parsing (one issue); validation collects every mistake, as `gdf!`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The mistakes (at least one).
    pub issues: Vec<ParseIssue>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for GdfError {
    fn from(e: ParseError) -> Self {
        GdfError::Invalid {
            message: e.to_string(),
        }
    }
}

type Sp = Range<usize>;

/// How deep values may nest (components in components, lists in lists).
const MAX_DEPTH: usize = 32;

// ---------------------------------------------------------------------------------------
// Lexing.

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Num {
        digits: String,
        suffix: String,
        int: bool,
    },
    /// A string or char literal (never valid here).
    Lit,
    Punct(char),
    /// `::`.
    PathSep,
}

struct Lexed {
    toks: Vec<(Tok, Sp)>,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn lex(text: &str) -> Result<Lexed, (Sp, String)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |c| c.0);
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_ident_start(c) {
            let mut j = i + 1;
            while j < chars.len() && is_ident_char(chars[j].1) {
                j += 1;
            }
            toks.push((Tok::Ident(text[start..end_of(j)].into()), start..end_of(j)));
            i = j;
            continue;
        }
        if c.is_ascii_digit() {
            let digit = |j: usize| chars.get(j).is_some_and(|c| c.1.is_ascii_digit());
            let digit_or_us = |j: usize| {
                chars
                    .get(j)
                    .is_some_and(|c| c.1.is_ascii_digit() || c.1 == '_')
            };
            let mut j = i;
            while digit_or_us(j) {
                j += 1;
            }
            let mut int = true;
            if chars.get(j).is_some_and(|c| c.1 == '.') {
                let next = chars.get(j + 1).map(|c| c.1);
                if next.is_some_and(|n| n.is_ascii_digit()) {
                    int = false;
                    j += 1;
                    while digit_or_us(j) {
                        j += 1;
                    }
                } else if !next.is_some_and(|n| is_ident_start(n) || n == '.') {
                    // `1.` is a float literal, `1.x` a field access (as in Rust).
                    int = false;
                    j += 1;
                }
            }
            if chars.get(j).is_some_and(|c| c.1 == 'e' || c.1 == 'E') {
                let mut k = j + 1;
                if chars.get(k).is_some_and(|c| c.1 == '+' || c.1 == '-') {
                    k += 1;
                }
                while chars.get(k).is_some_and(|c| c.1 == '_') {
                    k += 1;
                }
                if digit(k) {
                    int = false;
                    j = k;
                    while digit_or_us(j) {
                        j += 1;
                    }
                }
            }
            let body_end = j;
            while j < chars.len() && is_ident_char(chars[j].1) {
                j += 1;
            }
            let suffix = text[end_of(body_end)..end_of(j)].to_string();
            if suffix == "f32" || suffix == "f64" {
                int = false;
            }
            let digits: String = text[start..end_of(body_end)]
                .chars()
                .filter(|&c| c != '_')
                .collect();
            toks.push((
                Tok::Num {
                    digits,
                    suffix,
                    int,
                },
                start..end_of(j),
            ));
            i = j;
            continue;
        }
        if c == '"' || c == '\'' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1 != c {
                j += if chars[j].1 == '\\' { 2 } else { 1 };
            }
            let j = (j + 1).min(chars.len());
            toks.push((Tok::Lit, start..end_of(j)));
            i = j;
            continue;
        }
        if c == ':' && chars.get(i + 1).is_some_and(|c| c.1 == ':') {
            toks.push((Tok::PathSep, start..end_of(i + 2)));
            i += 2;
            continue;
        }
        if ":,=()[]-.<>;".contains(c) {
            toks.push((Tok::Punct(c), start..end_of(i + 1)));
            i += 1;
            continue;
        }
        return Err((start..end_of(i + 1), format!("unexpected character `{c}`")));
    }
    Ok(Lexed { toks })
}

// ---------------------------------------------------------------------------------------
// Parsing into the shared form.

struct Parser<'t> {
    text: &'t str,
    toks: Vec<(Tok, Sp)>,
    pos: usize,
}

type PResult<T> = Result<T, (Sp, String)>;

const EXPECTED_VALUE: &str = "expected a number, a range `[lo, hi]`, `true`/`false` or a component";

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn peek2(&self) -> Option<&Tok> {
        self.toks.get(self.pos + 1).map(|t| &t.0)
    }
    fn span(&self) -> Sp {
        match self.toks.get(self.pos) {
            Some((_, s)) => s.clone(),
            None => self.text.len()..self.text.len(),
        }
    }
    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|p| self.toks.get(p))
            .map_or(0, |t| t.1.end)
    }
    fn error<T>(&self, what: &str) -> PResult<T> {
        let msg = if self.pos >= self.toks.len() {
            format!("unexpected end of input, {what}")
        } else {
            what.to_string()
        };
        Err((self.span(), msg))
    }
    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }
    fn expect(&mut self, c: char) -> PResult<Sp> {
        if self.is_punct(c) {
            self.pos += 1;
            Ok(self.toks[self.pos - 1].1.clone())
        } else {
            self.error(&format!("expected `{c}`"))
        }
    }
    /// The `,` between items of a list closed by `close`.
    fn expect_sep(&mut self, close: char) -> PResult<Sp> {
        if self.is_punct(',') {
            self.pos += 1;
            Ok(self.toks[self.pos - 1].1.clone())
        } else {
            self.error(&format!("expected `,` or `{close}`"))
        }
    }
    fn ident(&mut self) -> PResult<(String, Sp)> {
        match self.toks.get(self.pos) {
            Some((Tok::Ident(s), sp)) => {
                let r = (s.clone(), sp.clone());
                self.pos += 1;
                Ok(r)
            }
            _ => self.error("expected identifier"),
        }
    }

    fn slots(&mut self) -> PResult<Slots<Sp>> {
        let mut list = Vec::new();
        while self.peek().is_some() {
            let (name, name_span) = self.ident()?;
            self.expect(':')?;
            let value = self.value(0)?;
            list.push(Slot {
                name,
                name_span,
                value,
            });
            if self.peek().is_none() {
                break;
            }
            self.expect(',')?;
        }
        Ok(Slots { list })
    }

    fn value(&mut self, depth: usize) -> PResult<Value<Sp>> {
        if depth > MAX_DEPTH {
            return Err((
                self.span(),
                format!("values nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        let start = self.span().start;
        match self.peek().cloned() {
            Some(Tok::Punct('-')) => {
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Tok::Num { .. }) => self.num(true, start),
                    Some(Tok::Lit) => self.error("expected a number after `-`"),
                    _ => self.error("expected literal"),
                }
            }
            Some(Tok::Num { .. }) => self.num(false, start),
            Some(Tok::Ident(s)) if s == "true" || s == "false" => {
                let sp = self.span();
                self.pos += 1;
                Ok(Value::Bool(s == "true", sp))
            }
            Some(Tok::Punct('[')) => {
                self.pos += 1;
                let mut items = Vec::new();
                while !self.is_punct(']') {
                    items.push(self.value(depth + 1)?);
                    if self.is_punct(']') {
                        break;
                    }
                    self.expect_sep(']')?;
                }
                self.expect(']')?;
                Ok(Value::List(items, start..self.prev_end()))
            }
            Some(Tok::Ident(_)) | Some(Tok::PathSep) => self.component(depth, start),
            _ => self.error(EXPECTED_VALUE),
        }
    }

    fn num(&mut self, neg: bool, start: usize) -> PResult<Value<Sp>> {
        let Some((
            Tok::Num {
                digits,
                suffix,
                int,
            },
            sp,
        )) = self.toks.get(self.pos).cloned()
        else {
            return self.error("expected literal");
        };
        self.pos += 1;
        let lit = &self.text[sp.clone()];
        Ok(Value::Num(Num {
            neg,
            digits,
            suffix,
            int,
            text: format!("{}{lit}", if neg { "- " } else { "" }),
            span: start..sp.end,
        }))
    }

    fn component(&mut self, depth: usize, start: usize) -> PResult<Value<Sp>> {
        let mut segments = 0;
        let mut generic = false;
        let mut leading = false;
        if self.peek() == Some(&Tok::PathSep) {
            leading = true;
            self.pos += 1;
        }
        let mut single;
        loop {
            let (name, _) = self.ident()?;
            segments += 1;
            single = name;
            if self.is_punct('<') {
                generic = true;
                self.skip_generics()?;
            }
            if self.peek() == Some(&Tok::PathSep) {
                self.pos += 1;
                continue;
            }
            break;
        }
        let path = start..self.prev_end();
        let path_text: String = self.text[path.clone()]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let builtin = (!leading && segments == 1 && !generic).then_some(single);
        let args = if self.is_punct('(') {
            let open = self.span().start;
            self.pos += 1;
            let mut list = Vec::new();
            while !self.is_punct(')') {
                let named = matches!(self.peek(), Some(Tok::Ident(_)))
                    && self.peek2() == Some(&Tok::Punct('='));
                if named {
                    let (name, name_span) = self.ident()?;
                    self.pos += 1;
                    let value = self.value(depth + 1)?;
                    list.push(Arg::Named {
                        name,
                        name_span,
                        value,
                    });
                } else {
                    list.push(Arg::Pos(self.value(depth + 1)?));
                }
                if self.is_punct(')') {
                    break;
                }
                self.expect_sep(')')?;
            }
            self.expect(')')?;
            Some(Args {
                list,
                span: open..self.prev_end(),
            })
        } else {
            None
        };
        let stretched = if self.is_punct('.') {
            self.pos += 1;
            match self.ident()? {
                (m, _) if m == "stretched" => {}
                (_, sp) => return Err((sp, "expected `stretched`".into())),
            }
            self.expect('(')?;
            let limits = self.value(depth + 1)?;
            self.expect(')')?;
            Some(Box::new(limits))
        } else {
            None
        };
        Ok(Value::Comp(Comp {
            builtin,
            path_text,
            path,
            args,
            stretched,
            span: start..self.prev_end(),
        }))
    }

    /// Skips `<…>` (balanced) after a path segment.
    fn skip_generics(&mut self) -> PResult<()> {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return self.error("expected `>`"),
                Some(Tok::Punct('<')) => depth += 1,
                Some(Tok::Punct('>')) => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }
}

fn issue(text: &str, span: Sp, message: String) -> ParseIssue {
    let span = span.start.min(text.len())..span.end.min(text.len());
    let before = text.get(..span.start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    ParseIssue {
        text: text.get(span.clone()).unwrap_or("").to_string(),
        span,
        line,
        column,
        message,
    }
}

fn fail<T>(text: &str, errors: Vec<(Sp, String)>) -> Result<T, ParseError> {
    Err(ParseError {
        issues: errors.into_iter().map(|(s, m)| issue(text, s, m)).collect(),
    })
}

fn parser(text: &str) -> Result<Parser<'_>, ParseError> {
    match lex(text) {
        Ok(l) => Ok(Parser {
            text,
            toks: l.toks,
            pos: 0,
        }),
        Err(e) => fail(text, vec![e]),
    }
}

// ---------------------------------------------------------------------------------------
// Building the dynamic components from the validated form.

/// Collects the mistakes only the built values reveal (a table's knots).
struct Builder {
    errors: Vec<(Sp, String)>,
}

/// The validator's form did not have the expected shape: a bug, reported as an error
/// rather than a panic.
fn shape(path: &str) -> String {
    format!("internal error: unexpected arguments for `{path}` (please report this)")
}

impl Builder {
    fn fail<T>(&mut self, at: Sp, msg: String) -> Option<T> {
        self.errors.push((at, msg));
        None
    }

    fn schedule(&mut self, ty: &Ty<Sp>, at: &Sp) -> Option<DynSchedule> {
        let Ty::Builtin { path, args } = ty else {
            return self.fail(at.clone(), shape("a user schedule"));
        };
        let var = |s: f64, lo: f64, hi: f64, n: bool| VarParams {
            s,
            clamp_range: [lo, hi],
            norm_instead: n,
        };
        let kind = match (*path, &args[..]) {
            ("schedule::Cosine", [GArg::Dec(s), GArg::Dec(lo), GArg::Dec(hi), GArg::Bool(n)]) => {
                ScheduleKind::Cosine(var(s.f64(), lo.f64(), hi.f64(), *n))
            }
            ("schedule::Sqrt", [GArg::Dec(s), GArg::Dec(lo), GArg::Dec(hi), GArg::Bool(n)]) => {
                ScheduleKind::Sqrt(var(s.f64(), lo.f64(), hi.f64(), *n))
            }
            ("schedule::Cosine2", [GArg::Dec(lo), GArg::Dec(hi)]) => {
                ScheduleKind::Cosine2([lo.f64(), hi.f64()])
            }
            ("schedule::RectifiedFlows", [GArg::Dec(lo), GArg::Dec(hi)]) => {
                ScheduleKind::RectifiedFlows([lo.f64(), hi.f64()])
            }
            ("schedule::Linear", [GArg::Dec(lo), GArg::Dec(hi)]) => {
                ScheduleKind::Linear([lo.f64(), hi.f64()])
            }
            ("schedule::EdmSample", [GArg::Dec(lo), GArg::Dec(hi), GArg::Dec(p)]) => {
                ScheduleKind::EdmSample {
                    sigma_range: [lo.f64(), hi.f64()],
                    p: p.f64(),
                }
            }
            ("schedule::EdmTrain", [GArg::Dec(mu), GArg::Dec(std)]) => ScheduleKind::EdmTrain {
                mu: mu.f64(),
                std: std.f64(),
            },
            ("schedule::StableDiffusion", [GArg::Dec(lo), GArg::Dec(hi), GArg::Count(n)]) => {
                match DynSchedule::stable_diffusion([lo.f64(), hi.f64()], *n) {
                    Ok(s) => s.kind,
                    Err(e) => return self.fail(at.clone(), e.to_string()),
                }
            }
            (
                "schedule::AdaptiveTrain",
                [GArg::Dec(lo), GArg::Dec(hi), GArg::Count(n), GArg::Dec(m)],
            ) => match DynSchedule::adaptive_train([lo.f64(), hi.f64()], *n as usize, m.f64()) {
                Ok(s) => s.kind,
                Err(e) => return self.fail(at.clone(), e.to_string()),
            },
            (
                "schedule::Interpolated",
                [GArg::Ty(s1), GArg::Ty(s2), GArg::Dec(k1), GArg::Dec(k2)],
            ) => {
                let s1 = self.schedule(s1, at);
                let s2 = self.schedule(s2, at);
                ScheduleKind::Interpolated(Box::new(s1?), Box::new(s2?), [k1.f64(), k2.f64()])
            }
            ("schedule::PiecewiseLinear", [GArg::Floats(xs, sp), GArg::Floats(ys, _)]) => {
                match Table::new(xs.clone(), ys.clone()) {
                    Ok(t) => ScheduleKind::PiecewiseLinear(t),
                    Err(e) => return self.fail(sp.clone(), e.to_string()),
                }
            }
            ("density::LogitNormal", [GArg::Dec(m), GArg::Dec(sd)]) => {
                self.density(DynDensity::logit_normal(m.f64(), sd.f64()), at)?
            }
            ("density::ModeSampling", [GArg::Dec(scale)]) => {
                self.density(DynDensity::mode_sampling(scale.f64()), at)?
            }
            ("density::EdmLogNormal", [GArg::Dec(m), GArg::Dec(sd)]) => {
                self.density(DynDensity::edm_lognormal(m.f64(), sd.f64()), at)?
            }
            ("density::CosMap", []) => ScheduleKind::Density(DynDensity::CosMap),
            ("schedule::Shifted", [GArg::Ty(inner), GArg::Dec(k)]) => {
                let mut s = self.schedule(inner, at)?;
                s.shift = k.f64();
                return Some(s);
            }
            ("schedule::DiscreteSteps", [GArg::Ty(inner), GArg::Count(n)]) => {
                let mut s = self.schedule(inner, at)?;
                s.discrete_steps = Some(*n);
                return Some(s);
            }
            ("schedule::NoLimits", [GArg::Ty(inner)]) => {
                let mut s = self.schedule(inner, at)?;
                s.force_limits = false;
                return Some(s);
            }
            _ => return self.fail(at.clone(), shape(path)),
        };
        Some(DynSchedule::new(kind))
    }

    fn scaler(&mut self, ty: &Ty<Sp>, at: &Sp) -> Option<DynScaler> {
        match ty {
            Ty::Builtin { path, args } => match (*path, &args[..]) {
                ("scaler::Vp", []) => Some(DynScaler::Vp),
                ("scaler::Lerp", []) => Some(DynScaler::Lerp),
                ("scaler::Stretched", [GArg::Ty(inner), GArg::Floats(l, _)]) if l.len() == 4 => {
                    let inner = self.scaler(inner, at)?;
                    Some(DynScaler::Stretched(Box::new(Stretched {
                        inner,
                        limits: [l[0], l[1], l[2], l[3]],
                    })))
                }
                _ => self.fail(at.clone(), shape(path)),
            },
            Ty::User(_) => self.fail(at.clone(), shape("a user scaler")),
        }
    }

    fn target(&mut self, ty: &Ty<Sp>, at: &Sp) -> Option<DynTarget> {
        match ty {
            Ty::Builtin {
                path: "target::Consistency",
                args,
            } => match &args[..] {
                [GArg::Dec(e)] => Some(DynTarget::Consistency(e.f64())),
                _ => self.fail(at.clone(), shape("target::Consistency")),
            },
            Ty::Builtin { path, args } if args.is_empty() => match *path {
                "target::Epsilon" => Some(DynTarget::Epsilon),
                "target::X0" => Some(DynTarget::X0),
                "target::V" => Some(DynTarget::V),
                "target::RectifiedFlows" => Some(DynTarget::RectifiedFlows),
                "target::NegV" => Some(DynTarget::NegV),
                "target::NegRectifiedFlows" => Some(DynTarget::NegRectifiedFlows),
                other => self.fail(at.clone(), shape(other)),
            },
            _ => self.fail(at.clone(), shape("a target")),
        }
    }

    fn noise_cond(&mut self, ty: &Ty<Sp>, at: &Sp) -> Option<DynNoiseCond> {
        let Ty::Builtin { path, args } = ty else {
            return self.fail(at.clone(), shape("a user noise cond"));
        };
        let kind = match (*path, &args[..]) {
            ("noise_cond::CosineT", [GArg::Dec(s)]) => CondKind::CosineT(s.f64()),
            ("noise_cond::Edm", []) => CondKind::Edm,
            ("noise_cond::Sigmoid", []) => CondKind::Sigmoid,
            ("noise_cond::LogSnr", []) => CondKind::LogSnr,
            ("noise_cond::EdmSigma", [GArg::Dec(sd)]) => CondKind::EdmSigma(sd.f64()),
            ("noise_cond::RectifiedFlows", []) => CondKind::RectifiedFlows,
            ("noise_cond::FlowSigma", [GArg::Dec(s)]) => CondKind::FlowSigma(s.f64()),
            ("noise_cond::LogSigma", [GArg::Dec(s)]) => CondKind::LogSigma(s.f64()),
            ("noise_cond::FlowAlpha", [GArg::Dec(s)]) => CondKind::FlowAlpha(s.f64()),
            ("noise_cond::StableDiffusion", [GArg::Dec(lo), GArg::Dec(hi), GArg::Count(n)]) => {
                match DynNoiseCond::stable_diffusion([lo.f64(), hi.f64()], *n) {
                    Ok(c) => c.kind,
                    Err(e) => return self.fail(at.clone(), e.to_string()),
                }
            }
            (
                "noise_cond::Discrete",
                [GArg::Ty(inner), GArg::Count(n), GArg::Dec(lo), GArg::Dec(hi)],
            ) => CondKind::Discrete {
                inner: Box::new(self.noise_cond(inner, at)?),
                steps: *n,
                continuous_range: [lo.f64(), hi.f64()],
            },
            ("noise_cond::PiecewiseLinear", [GArg::Floats(xs, sp), GArg::Floats(ys, _)]) => {
                match Table::new(xs.clone(), ys.clone()) {
                    Ok(t) => CondKind::PiecewiseLinear(t),
                    Err(e) => return self.fail(sp.clone(), e.to_string()),
                }
            }
            ("noise_cond::TableTimestep", [GArg::Floats(ls, sp), GArg::Bool(r)]) => {
                match crate::noise_cond::TableTimestep::new(ls.clone(), *r) {
                    Ok(t) => CondKind::TableTimestep(t),
                    Err(e) => return self.fail(sp.clone(), e.to_string()),
                }
            }
            ("noise_cond::Shifted", [GArg::Ty(inner), GArg::Dec(k)]) => {
                let mut c = self.noise_cond(inner, at)?;
                c.shift = k.f64();
                return Some(c);
            }
            ("noise_cond::Clamped", [GArg::Ty(inner), GArg::Dec(lo), GArg::Dec(hi)]) => {
                let mut c = self.noise_cond(inner, at)?;
                c.clamp_range = [lo.f64(), hi.f64()];
                return Some(c);
            }
            _ => return self.fail(at.clone(), shape(path)),
        };
        Some(DynNoiseCond::new(kind))
    }

    /// A training density, or its constructor's error at `at`.
    fn density(&mut self, d: crate::Result<DynDensity>, at: &Sp) -> Option<ScheduleKind> {
        match d {
            Ok(d) => Some(ScheduleKind::Density(d)),
            Err(e) => self.fail(at.clone(), e.to_string()),
        }
    }

    /// A modern weight, or its constructor's error at `at`.
    fn modern(&mut self, w: crate::Result<DynWeighting>, at: &Sp) -> Option<WeightKind> {
        match w {
            Ok(w) => Some(WeightKind::Modern(w)),
            Err(e) => self.fail(at.clone(), e.to_string()),
        }
    }

    fn loss_weight(&mut self, ty: &Ty<Sp>, at: &Sp) -> Option<DynLossWeight> {
        let Ty::Builtin { path, args } = ty else {
            return self.fail(at.clone(), shape("a user loss weight"));
        };
        let kind = match (*path, &args[..]) {
            ("loss_weight::Constant", [GArg::Dec(v)]) => WeightKind::Constant(v.f64()),
            ("loss_weight::Snr", []) => WeightKind::Snr,
            ("loss_weight::P2", [GArg::Dec(k), GArg::Dec(g), GArg::Dec(s)]) => WeightKind::P2 {
                k: k.f64(),
                gamma: g.f64(),
                s: s.f64(),
            },
            ("loss_weight::SnrPlusOne", []) => WeightKind::SnrPlusOne,
            ("loss_weight::MinSnr", [GArg::Dec(m)]) => WeightKind::MinSnr(m.f64()),
            ("loss_weight::MinSnrPlusOne", [GArg::Dec(m)]) => WeightKind::MinSnrPlusOne(m.f64()),
            ("loss_weight::TruncatedSnr", [GArg::Dec(m)]) => WeightKind::TruncatedSnr(m.f64()),
            ("loss_weight::Sech", [GArg::Dec(d)]) => WeightKind::Sech(d.f64()),
            ("loss_weight::Debiased", []) => WeightKind::Debiased,
            ("loss_weight::Sigmoid", [GArg::Dec(s)]) => WeightKind::Sigmoid(s.f64()),
            ("loss_weight::Composed", [GArg::Tuple(mul), GArg::Tuple(div)]) => {
                let mul: Vec<_> = mul.iter().map(|t| self.loss_weight(t, at)).collect();
                let div: Vec<_> = div.iter().map(|t| self.loss_weight(t, at)).collect();
                WeightKind::Composed {
                    mul: mul.into_iter().collect::<Option<_>>()?,
                    div: div.into_iter().collect::<Option<_>>()?,
                }
            }
            (
                "loss_weight::Adaptive",
                [GArg::Dec(lo), GArg::Dec(hi), GArg::Count(n), GArg::Dec(wlo), GArg::Dec(whi)],
            ) => {
                match DynLossWeight::adaptive(
                    [lo.f64(), hi.f64()],
                    *n as usize,
                    [wlo.f64(), whi.f64()],
                ) {
                    Ok(w) => w.kind,
                    Err(e) => return self.fail(at.clone(), e.to_string()),
                }
            }
            ("loss_weight::EdmWeight", [GArg::Ty(t), GArg::Dec(sd)]) => {
                let t = self.target(t, at)?;
                self.modern(DynWeighting::edm(t, sd.f64()), at)?
            }
            ("loss_weight::SoftMinSnr", [GArg::Ty(t), GArg::Dec(sd)]) => {
                let t = self.target(t, at)?;
                self.modern(DynWeighting::soft_min_snr(t, sd.f64()), at)?
            }
            ("loss_weight::MinSnrGamma", [GArg::Ty(t), GArg::Dec(g)]) => {
                let t = self.target(t, at)?;
                self.modern(DynWeighting::min_snr_gamma(t, g.f64()), at)?
            }
            ("loss_weight::SigmaSqrt", []) => WeightKind::Modern(DynWeighting::SigmaSqrt),
            ("loss_weight::CosMapWeight", []) => WeightKind::Modern(DynWeighting::CosMap),
            ("loss_weight::Clamped", [GArg::Ty(inner), GArg::Dec(lo), GArg::Dec(hi)]) => {
                let mut w = self.loss_weight(inner, at)?;
                w.clamp_range = [lo.f64(), hi.f64()];
                return Some(w);
            }
            _ => return self.fail(at.clone(), shape(path)),
        };
        Some(DynLossWeight::new(kind))
    }
}

/// Parses and validates a framework's slots.
fn parse_framework(text: &str) -> Result<DynGdf, ParseError> {
    let mut p = parser(text)?;
    let slots = match p.slots() {
        Ok(s) => s,
        Err(e) => return fail(text, vec![e]),
    };
    let mut v = Validator::new(Mode::Value);
    let fw = v.framework(&slots, &(0..text.len()));
    let errors = v.take_errors();
    if !errors.is_empty() {
        return fail(text, errors);
    }
    let span_of = |name: &[&str]| -> Sp {
        slots
            .list
            .iter()
            .find(|s| name.contains(&s.name.as_str()))
            .map_or(0..text.len(), |s| s.value.span().clone())
    };
    let mut b = Builder { errors: Vec::new() };
    let [s, sc, t, n, l] = &fw.slots[..] else {
        return fail(text, vec![(0..text.len(), shape("a framework"))]);
    };
    let schedule = b.schedule(s, &span_of(&["schedule"]));
    let scaler = b.scaler(sc, &span_of(&["scaler", "input_scaler"]));
    let target = b.target(t, &span_of(&["target"]));
    let noise_cond = b.noise_cond(n, &span_of(&["noise_cond"]));
    let loss_weight = b.loss_weight(l, &span_of(&["loss_weight"]));
    match (schedule, scaler, target, noise_cond, loss_weight) {
        (Some(s), Some(sc), Some(t), Some(n), Some(l)) if b.errors.is_empty() => {
            Ok(DynGdf::new(s, sc, t, n, l).with_offset_noise(fw.offset_noise.f64()))
        }
        _ => fail(text, b.errors),
    }
}

/// Parses and validates one component of `role` (the whole text).
fn parse_component<C>(
    text: &str,
    role: Role,
    build: impl FnOnce(&mut Builder, &Ty<Sp>, &Sp) -> Option<C>,
) -> Result<C, ParseError> {
    let mut p = parser(text)?;
    let value = match p.value(0) {
        Ok(v) if p.peek().is_none() => v,
        Ok(_) => return fail(text, vec![(p.span(), "expected end of input".into())]),
        Err(e) => return fail(text, vec![e]),
    };
    let mut v = Validator::new(Mode::Value);
    let ty = v.component_of(&value, role);
    let errors = v.take_errors();
    if !errors.is_empty() {
        return fail(text, errors);
    }
    let mut b = Builder { errors: Vec::new() };
    match build(&mut b, &ty, value.span()) {
        Some(c) if b.errors.is_empty() => Ok(c),
        _ => fail(text, b.errors),
    }
}

impl FromStr for DynGdf {
    type Err = ParseError;
    /// Parses `schedule: …, scaler: …, target: …, noise_cond: …, loss_weight: …[,
    /// offset_noise: …]` (see [`DynGdf`] for the grammar).
    fn from_str(text: &str) -> Result<Self, ParseError> {
        parse_framework(text)
    }
}

macro_rules! component_text {
    ($ty:ty, $role:expr, $build:ident, $example:literal) => {
        impl FromStr for $ty {
            type Err = ParseError;
            /// Parses one component in `gdf!` syntax, e.g.
            #[doc = concat!("`", $example, "`.")]
            fn from_str(text: &str) -> Result<Self, ParseError> {
                parse_component(text, $role, |b, ty, at| b.$build(ty, at))
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
                s.serialize_str(&crate::component::LogSnrFn::decl(self))
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

component_text!(
    DynSchedule,
    Role::Schedule,
    schedule,
    "Cosine(s = 0.008, shift = 2)"
);
component_text!(DynScaler, Role::Scaler, scaler, "Vp");
component_text!(DynTarget, Role::Target, target, "Epsilon");
component_text!(
    DynNoiseCond,
    Role::NoiseCond,
    noise_cond,
    "Discrete(CosineT, steps = 50)"
);
component_text!(
    DynLossWeight,
    Role::LossWeight,
    loss_weight,
    "Composed(mul = [MinSnr(max_snr = 5)], div = [SnrPlusOne])"
);

impl serde::Serialize for DynGdf {
    /// The framework's `Display` text (a string).
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DynGdf {
    /// A string in `gdf!` syntax, parsed as [`FromStr`] does.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
