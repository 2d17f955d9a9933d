//! The built-in components `gdf!` and the run-time parser know: names (with the original
//! GDF's Python names as aliases), roles, parameters in generic-argument order, defaults and
//! value checks.
//!
//! The defaults here must equal the generic defaults of the types in `gdf`; the round-trip
//! and golden tests (`tests/macro_golden.rs`, `tests/parse.rs`) compare the declared and
//! parsed frameworks with the plain ones. A new component needs its entry here, its type in
//! `gdf`, and (for run-time text) its arm in `gdf::dynamic`'s builder.

/// The role of a component: which slot of the framework it fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `t → logSNR`.
    Schedule,
    /// `logSNR → (a, b)`.
    Scaler,
    /// What the model predicts.
    Target,
    /// `logSNR →` the model's noise input.
    NoiseCond,
    /// `logSNR →` the loss weight.
    LossWeight,
}

impl Role {
    /// Every role, in the framework's slot order.
    pub const ALL: [Role; 5] = [
        Role::Schedule,
        Role::Scaler,
        Role::Target,
        Role::NoiseCond,
        Role::LossWeight,
    ];

    /// The role with its article, as in "`Vp` is an input scaler".
    pub fn noun(self) -> &'static str {
        match self {
            Role::Schedule => "a schedule",
            Role::Scaler => "an input scaler",
            Role::Target => "a target",
            Role::NoiseCond => "a noise cond",
            Role::LossWeight => "a loss weight",
        }
    }

    /// The role's name without article.
    pub fn name(self) -> &'static str {
        &self.noun()[self.noun().find(' ').map_or(0, |i| i + 1)..]
    }

    /// The slot's name in the macro (`schedule: …`).
    pub fn slot(self) -> &'static str {
        match self {
            Role::Schedule => "schedule",
            Role::Scaler => "scaler",
            Role::Target => "target",
            Role::NoiseCond => "noise_cond",
            Role::LossWeight => "loss_weight",
        }
    }

    /// The module of `gdf` holding the role's components and its trait.
    pub fn module(self) -> &'static str {
        self.slot()
    }

    /// The role's trait in its module.
    pub fn trait_name(self) -> &'static str {
        match self {
            Role::Schedule => "Schedule",
            Role::Scaler => "Scaler",
            Role::Target => "Target",
            Role::NoiseCond => "NoiseCond",
            Role::LossWeight => "LossWeight",
        }
    }

    /// The component a slot falls back to when its declaration has an error (so one mistake
    /// does not cascade into errors at every use of the declared type).
    pub fn fallback(self) -> &'static str {
        match self {
            Role::Schedule => "Cosine",
            Role::Scaler => "Vp",
            Role::Target => "Epsilon",
            Role::NoiseCond => "CosineT",
            Role::LossWeight => "Constant",
        }
    }
}

/// A check on a scalar value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Any number.
    Any,
    /// `> 0`.
    Positive,
    /// `>= 0`.
    NonNegative,
    /// Within SD3 mode sampling's monotone range `[−1, 2/(π−2)]`.
    ModeScale,
}

/// A check on a `[lo, hi]` range (every range also needs `lo < hi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeCheck {
    /// Only `lo < hi`.
    Ordered,
    /// Both ends in `[0, 1]` (a variance).
    Unit,
    /// Both ends in `(0, 1)` (a β).
    OpenUnit,
    /// Both ends `> 0` (a σ).
    Positive,
    /// Two factors `> 0`, in any order (Interpolated's `shifts`).
    PositivePair,
}

/// What kind of value a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A number (becomes a `Dec` constant).
    Float(Check),
    /// A whole number of at least the given minimum (becomes a typenum unsigned).
    Count(u64),
    /// `true` / `false` (becomes `True` / `False`).
    Bool,
    /// `[lo, hi]` (two `Dec` constants).
    Range(RangeCheck),
    /// A nested component of a role.
    Component(Role),
    /// A list of up to 4 components of a role (a tuple type).
    List(Role),
    /// A list of run-time numbers (a table; run-time text only).
    Floats,
}

/// A parameter's default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Def {
    /// A number (as its literal).
    Float(&'static str),
    /// A whole number.
    Count(u64),
    /// A flag.
    Bool(bool),
    /// A range (as its two literals).
    Range(&'static str, &'static str),
    /// An empty list.
    Empty,
    /// No default: the parameter must be given.
    Required,
    /// A component (its path inside `gdf`, without parameters), e.g. a weight's target.
    Comp(&'static str),
    /// A wrapper parameter that is off unless given (`discrete_steps`).
    Off,
}

/// A parameter of a component.
#[derive(Debug)]
pub struct Param {
    /// The parameter's name.
    pub name: &'static str,
    /// Other names it is accepted under.
    pub aliases: &'static [&'static str],
    /// What it takes.
    pub kind: Kind,
    /// Its default.
    pub default: Def,
}

/// How a component is special.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// Nothing special.
    None,
    /// Needs run-time data; the message says how to build it by hand.
    Unsupported(&'static str),
    /// The original ignores `clamp_range` on it (CosineT).
    IgnoresClampRange,
}

/// A built-in component.
#[derive(Debug)]
pub struct Component {
    /// The component's name.
    pub name: &'static str,
    /// Other names it is accepted under (the original GDF's Python class names).
    pub aliases: &'static [&'static str],
    /// The slot it fills.
    pub role: Role,
    /// Path of the type inside `gdf` (`schedule::Cosine`).
    pub path: &'static str,
    /// Parameters in the type's generic-argument order.
    pub params: &'static [Param],
    /// How many leading parameters may be given without a name.
    pub positional: usize,
    /// How it is special.
    pub special: Special,
}

const fn p(name: &'static str, kind: Kind, default: Def) -> Param {
    Param {
        name,
        aliases: &[],
        kind,
        default,
    }
}

const fn pa(
    name: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    default: Def,
) -> Param {
    Param {
        name,
        aliases,
        kind,
        default,
    }
}

const fn c(
    name: &'static str,
    aliases: &'static [&'static str],
    role: Role,
    path: &'static str,
    params: &'static [Param],
) -> Component {
    Component {
        name,
        aliases,
        role,
        path,
        params,
        positional: 0,
        special: Special::None,
    }
}

use Check::*;
use Def as D;
use Kind::*;
use Role::*;

const CLAMP_VAR: Param = p(
    "clamp_range",
    Range(RangeCheck::Unit),
    D::Range("0.0001", "0.9999"),
);
const NORM: Param = p("norm_instead", Bool, D::Bool(false));
const LOGSNR_15: Param = p(
    "logsnr_range",
    Range(RangeCheck::Ordered),
    D::Range("-15", "15"),
);
const LOGSNR_10: Param = p(
    "logsnr_range",
    Range(RangeCheck::Ordered),
    D::Range("-10", "10"),
);
const SD: [Param; 2] = [
    p(
        "linear_range",
        Range(RangeCheck::OpenUnit),
        D::Range("0.00085", "0.012"),
    ),
    p("total_steps", Count(1), D::Count(1000)),
];

/// A piecewise-linear table's knots (run-time text only).
const TABLE: [Param; 2] = [p("xs", Floats, D::Required), p("ys", Floats, D::Required)];

const PIECEWISE: &str =
    "`PiecewiseLinear` needs run-time tables (xs, ys), which a type cannot hold; \
build it by hand (`gdf::schedule::PiecewiseLinear::new(xs, ys)?`, \
`gdf::noise_cond::PiecewiseLinear::new(table)`) and pass it to `gdf::framework::Gdf::new`, \
or give them in run-time text (`gdf::dynamic`): `PiecewiseLinear(xs = […], ys = […])`";

const TABLE_TIMESTEP: &str =
    "`TableTimestep` needs a run-time table (log_sigmas), which a type cannot hold; build it by \
hand (`gdf::noise_cond::TableTimestep::new(log_sigmas, round)?`) or give it in run-time text \
(`gdf::dynamic`): `TableTimestep(log_sigmas = […], round = true)`";

/// Every built-in component.
pub static COMPONENTS: &[Component] = &[
    // Schedules.
    c(
        "Cosine",
        &["CosineSchedule"],
        Schedule,
        "schedule::Cosine",
        &[
            p("s", Float(NonNegative), D::Float("0.008")),
            CLAMP_VAR,
            NORM,
        ],
    ),
    c(
        "Cosine2",
        &["CosineSchedule2"],
        Schedule,
        "schedule::Cosine2",
        &[LOGSNR_15],
    ),
    c(
        "Sqrt",
        &["SqrtSchedule"],
        Schedule,
        "schedule::Sqrt",
        &[
            p("s", Float(NonNegative), D::Float("0.0001")),
            CLAMP_VAR,
            NORM,
        ],
    ),
    c(
        "RectifiedFlows",
        &["RectifiedFlowsSchedule"],
        Schedule,
        "schedule::RectifiedFlows",
        &[LOGSNR_15],
    ),
    c(
        "Linear",
        &["LinearSchedule"],
        Schedule,
        "schedule::Linear",
        &[LOGSNR_10],
    ),
    c(
        "EdmSample",
        &["EDMSampleSchedule", "EDMSample"],
        Schedule,
        "schedule::EdmSample",
        &[
            p(
                "sigma_range",
                Range(RangeCheck::Positive),
                D::Range("0.002", "80"),
            ),
            p("p", Float(Positive), D::Float("7")),
        ],
    ),
    c(
        "EdmTrain",
        &["EDMTrainSchedule", "EDMTrain"],
        Schedule,
        "schedule::EdmTrain",
        &[
            p("mu", Float(Any), D::Float("-1.2")),
            p("std", Float(Positive), D::Float("1.2")),
        ],
    ),
    c(
        "StableDiffusion",
        &["StableDiffusionSchedule"],
        Schedule,
        "schedule::StableDiffusion",
        &SD,
    ),
    c(
        "AdaptiveTrain",
        &["AdaptiveTrainSchedule"],
        Schedule,
        "schedule::AdaptiveTrain",
        &[
            LOGSNR_10,
            p("buckets", Count(1), D::Count(100)),
            p("min_probs", Float(NonNegative), D::Float("0")),
        ],
    ),
    // Training densities (`gdf::density`): schedules for training.
    c(
        "LogitNormal",
        &[],
        Schedule,
        "density::LogitNormal",
        &[
            p("m", Float(Any), D::Float("0")),
            p("s", Float(Positive), D::Float("1")),
        ],
    ),
    c(
        "ModeSampling",
        &[],
        Schedule,
        "density::ModeSampling",
        &[p("scale", Float(ModeScale), D::Float("1.29"))],
    ),
    c(
        "EdmLogNormal",
        &[],
        Schedule,
        "density::EdmLogNormal",
        &[
            p("p_mean", Float(Any), D::Float("-1.2")),
            p("p_std", Float(Positive), D::Float("1.2")),
        ],
    ),
    c("CosMap", &[], Schedule, "density::CosMap", &[]),
    Component {
        positional: 2,
        ..c(
            "Interpolated",
            &["InterpolatedSchedule"],
            Schedule,
            "schedule::Interpolated",
            &[
                pa("scheduler1", &["s1"], Component(Schedule), D::Required),
                pa("scheduler2", &["s2"], Component(Schedule), D::Required),
                p(
                    "shifts",
                    Range(RangeCheck::PositivePair),
                    D::Range("1", "1"),
                ),
            ],
        )
    },
    Component {
        special: Special::Unsupported(PIECEWISE),
        ..c(
            "PiecewiseLinear",
            &["PiecewiseLinearSchedule"],
            Schedule,
            "schedule::PiecewiseLinear",
            &TABLE,
        )
    },
    // Input scalers.
    c("Vp", &["VPScaler", "VP"], Scaler, "scaler::Vp", &[]),
    c("Lerp", &["LERPScaler", "LERP"], Scaler, "scaler::Lerp", &[]),
    // Targets.
    c(
        "Epsilon",
        &["EpsilonTarget"],
        Target,
        "target::Epsilon",
        &[],
    ),
    c("X0", &["X0Target"], Target, "target::X0", &[]),
    c("V", &["VTarget"], Target, "target::V", &[]),
    c(
        "RectifiedFlows",
        &["RectifiedFlowsTarget"],
        Target,
        "target::RectifiedFlows",
        &[],
    ),
    c("NegV", &[], Target, "target::NegV", &[]),
    c(
        "NegRectifiedFlows",
        &[],
        Target,
        "target::NegRectifiedFlows",
        &[],
    ),
    c(
        "Consistency",
        &[],
        Target,
        "target::Consistency",
        &[p("sigma_min", Float(NonNegative), D::Float("0.004"))],
    ),
    // Noise conds.
    Component {
        special: Special::IgnoresClampRange,
        ..c(
            "CosineT",
            &["CosineTNoiseCond"],
            NoiseCond,
            "noise_cond::CosineT",
            &[p("s", Float(NonNegative), D::Float("0.008"))],
        )
    },
    c(
        "Edm",
        &["EDMNoiseCond", "EDM"],
        NoiseCond,
        "noise_cond::Edm",
        &[],
    ),
    c(
        "Sigmoid",
        &["SigmoidNoiseCond"],
        NoiseCond,
        "noise_cond::Sigmoid",
        &[],
    ),
    c(
        "LogSnr",
        &["LogSNRNoiseCond", "LogSNR"],
        NoiseCond,
        "noise_cond::LogSnr",
        &[],
    ),
    c(
        "EdmSigma",
        &["EDMSigmaNoiseCond", "EDMSigma"],
        NoiseCond,
        "noise_cond::EdmSigma",
        &[p("sigma_data", Float(Positive), D::Float("1"))],
    ),
    c(
        "RectifiedFlows",
        &["RectifiedFlowsNoiseCond"],
        NoiseCond,
        "noise_cond::RectifiedFlows",
        &[],
    ),
    c(
        "FlowSigma",
        &[],
        NoiseCond,
        "noise_cond::FlowSigma",
        &[p("scale", Float(Positive), D::Float("1"))],
    ),
    c(
        "LogSigma",
        &[],
        NoiseCond,
        "noise_cond::LogSigma",
        &[p("scale", Float(Positive), D::Float("1"))],
    ),
    c(
        "FlowAlpha",
        &[],
        NoiseCond,
        "noise_cond::FlowAlpha",
        &[p("scale", Float(Positive), D::Float("1"))],
    ),
    c(
        "StableDiffusion",
        &["StableDiffusionNoiseCond"],
        NoiseCond,
        "noise_cond::StableDiffusion",
        &SD,
    ),
    Component {
        positional: 1,
        ..c(
            "Discrete",
            &["DiscreteNoiseCond"],
            NoiseCond,
            "noise_cond::Discrete",
            &[
                pa("noise_cond", &["inner"], Component(NoiseCond), D::Required),
                p("steps", Count(1), D::Count(1000)),
                p(
                    "continuous_range",
                    Range(RangeCheck::Ordered),
                    D::Range("0", "1"),
                ),
            ],
        )
    },
    Component {
        special: Special::Unsupported(PIECEWISE),
        ..c(
            "PiecewiseLinear",
            &["PiecewiseLinearNoiseCond"],
            NoiseCond,
            "noise_cond::PiecewiseLinear",
            &TABLE,
        )
    },
    Component {
        special: Special::Unsupported(TABLE_TIMESTEP),
        ..c(
            "TableTimestep",
            &[],
            NoiseCond,
            "noise_cond::TableTimestep",
            &[
                p("log_sigmas", Floats, D::Required),
                p("round", Bool, D::Bool(true)),
            ],
        )
    },
    // Loss weights.
    c(
        "Constant",
        &["ConstantLossWeight"],
        LossWeight,
        "loss_weight::Constant",
        &[p("v", Float(Any), D::Float("1"))],
    ),
    c(
        "Snr",
        &["SNRLossWeight", "SNR"],
        LossWeight,
        "loss_weight::Snr",
        &[],
    ),
    c(
        "P2",
        &["P2LossWeight"],
        LossWeight,
        "loss_weight::P2",
        &[
            p("k", Float(Any), D::Float("1")),
            p("gamma", Float(Any), D::Float("1")),
            p("s", Float(Any), D::Float("1")),
        ],
    ),
    c(
        "SnrPlusOne",
        &["SNRPlusOneLossWeight", "SNRPlusOne"],
        LossWeight,
        "loss_weight::SnrPlusOne",
        &[],
    ),
    c(
        "MinSnr",
        &["MinSNRLossWeight", "MinSNR"],
        LossWeight,
        "loss_weight::MinSnr",
        &[p("max_snr", Float(Positive), D::Float("5"))],
    ),
    c(
        "MinSnrPlusOne",
        &["MinSNRPlusOneLossWeight", "MinSNRPlusOne"],
        LossWeight,
        "loss_weight::MinSnrPlusOne",
        &[p("max_snr", Float(Positive), D::Float("5"))],
    ),
    c(
        "TruncatedSnr",
        &["TruncatedSNRLossWeight", "TruncatedSNR"],
        LossWeight,
        "loss_weight::TruncatedSnr",
        &[p("min_snr", Float(NonNegative), D::Float("1"))],
    ),
    c(
        "Sech",
        &["SechLossWeight"],
        LossWeight,
        "loss_weight::Sech",
        &[p("div", Float(Positive), D::Float("2"))],
    ),
    c(
        "Debiased",
        &["DebiasedLossWeight"],
        LossWeight,
        "loss_weight::Debiased",
        &[],
    ),
    c(
        "Sigmoid",
        &["SigmoidLossWeight"],
        LossWeight,
        "loss_weight::Sigmoid",
        &[p("s", Float(Any), D::Float("1"))],
    ),
    c(
        "Composed",
        &["ComposedLossWeight"],
        LossWeight,
        "loss_weight::Composed",
        &[
            p("mul", List(LossWeight), D::Empty),
            p("div", List(LossWeight), D::Empty),
        ],
    ),
    c(
        "EdmWeight",
        &[],
        LossWeight,
        "loss_weight::EdmWeight",
        &[
            p("target", Component(Target), D::Comp("target::X0")),
            p("sigma_data", Float(Positive), D::Float("0.5")),
        ],
    ),
    c(
        "SoftMinSnr",
        &[],
        LossWeight,
        "loss_weight::SoftMinSnr",
        &[
            p("target", Component(Target), D::Comp("target::X0")),
            p("sigma_data", Float(Positive), D::Float("1")),
        ],
    ),
    c(
        "MinSnrGamma",
        &[],
        LossWeight,
        "loss_weight::MinSnrGamma",
        &[
            p("target", Component(Target), D::Comp("target::Epsilon")),
            p("gamma", Float(Positive), D::Float("5")),
        ],
    ),
    c("SigmaSqrt", &[], LossWeight, "loss_weight::SigmaSqrt", &[]),
    c(
        "CosMapWeight",
        &[],
        LossWeight,
        "loss_weight::CosMapWeight",
        &[],
    ),
    c(
        "Adaptive",
        &["AdaptiveLossWeight"],
        LossWeight,
        "loss_weight::Adaptive",
        &[
            LOGSNR_10,
            p("buckets", Count(2), D::Count(300)),
            p(
                "weight_range",
                Range(RangeCheck::Ordered),
                D::Range("1e-7", "1e7"),
            ),
        ],
    ),
];

/// The parameters every component of a role accepts, which wrap it in a combinator type.
pub fn wrapper_params(role: Role) -> &'static [Param] {
    const SCHEDULE: &[Param] = &[
        p("shift", Float(Positive), D::Float("1")),
        p("discrete_steps", Count(2), D::Off),
        p("force_limits", Bool, D::Bool(true)),
    ];
    const NOISE_COND: &[Param] = &[
        p("shift", Float(Positive), D::Float("1")),
        p(
            "clamp_range",
            Range(RangeCheck::Ordered),
            D::Range("-1e9", "1e9"),
        ),
    ];
    const LOSS_WEIGHT: &[Param] = &[p(
        "clamp_range",
        Range(RangeCheck::Ordered),
        D::Range("-1e9", "1e9"),
    )];
    match role {
        Role::Schedule => SCHEDULE,
        Role::NoiseCond => NOISE_COND,
        Role::LossWeight => LOSS_WEIGHT,
        Role::Scaler | Role::Target => &[],
    }
}

impl Component {
    /// Whether `name` names this component.
    pub fn is(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }
}

/// The component of `role` called `name` (or one of its aliases).
pub fn find(role: Role, name: &str) -> Option<&'static Component> {
    COMPONENTS.iter().find(|c| c.role == role && c.is(name))
}

/// The roles that have a component called `name`.
pub fn roles_of(name: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = Vec::new();
    for c in COMPONENTS.iter().filter(|c| c.is(name)) {
        if !roles.contains(&c.role) {
            roles.push(c.role);
        }
    }
    roles
}

/// The built-in component names of a role (without aliases), for messages.
pub fn names(role: Role) -> Vec<&'static str> {
    COMPONENTS
        .iter()
        .filter(|c| c.role == role)
        .map(|c| c.name)
        .collect()
}

/// The closest of `candidates` to `name`, if it is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let len = lower.chars().count();
    let limit = 1 + name.chars().count() / 3;
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        // The distance is at least the difference in length: skip hopeless candidates
        // (and never build a table for a very long name).
        if len.abs_diff(cand.chars().count()) > limit {
            continue;
        }
        let d = distance(&lower, &cand.to_lowercase());
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.filter(|&(d, _)| d <= limit).map(|(_, c)| c)
}

/// Levenshtein distance (optimal string alignment: a swap of two neighbours counts 1).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("Cosin", names(Role::Schedule)), Some("Cosine"));
        assert_eq!(suggest("cosine", names(Role::Schedule)), Some("Cosine"));
        assert_eq!(suggest("Epsilno", names(Role::Target)), Some("Epsilon"));
        assert_eq!(suggest("Banana", names(Role::Target)), None);
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn lookup() {
        assert_eq!(
            find(Role::Schedule, "CosineSchedule").unwrap().name,
            "Cosine"
        );
        assert_eq!(
            find(Role::Target, "RectifiedFlows").unwrap().path,
            "target::RectifiedFlows"
        );
        assert!(find(Role::Schedule, "Vp").is_none());
        assert_eq!(roles_of("Vp"), vec![Role::Scaler]);
        assert_eq!(
            roles_of("RectifiedFlows"),
            vec![Role::Schedule, Role::Target, Role::NoiseCond]
        );
        assert_eq!(Role::Scaler.name(), "input scaler");
    }
}
