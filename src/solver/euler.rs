//! The Euler family (SPEC §1, §5.1): Euler (+EDM churn), Euler ancestral, Heun, DPM-2,
//! DPM-2 ancestral, diffusers' EulerDiscrete (churn after the model call) and flow-matching
//! Euler.

use crate::error::Result;

use super::{
    anc_fo, anc_split, check_eta_noise, check_finite_start, check_nonneg, check_pos, fo, half_step,
    next_step, phi, step_of, x_is_d0, Buf, Draw, Dst, Eval, Grid, Level, Pass, Row, Solver, Src,
};

const X: Src = Src::Buf(Buf::X);
const AUX: Src = Src::Buf(Buf::Aux);

/// EDM's stochastic churn (Karras et al. 2022, Alg. 2): before the evaluation at step `i` of
/// `N`, `σ̂ = σ_i·(1+γ_i)` with `γ_i = min(s_churn/N, √2−1)` when `s_tmin ≤ σ_i ≤ s_tmax`,
/// else 0, and `s_noise`-scaled noise brings the sample up to `σ̂`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Churn {
    /// Total churn (0 = deterministic).
    pub s_churn: f64,
    /// Lowest σ that is churned.
    pub s_tmin: f64,
    /// Highest σ that is churned (may be `+∞`).
    pub s_tmax: f64,
    /// Scale of the added noise.
    pub s_noise: f64,
}

impl Default for Churn {
    fn default() -> Self {
        Self {
            s_churn: 0.0,
            s_tmin: 0.0,
            s_tmax: f64::INFINITY,
            s_noise: 1.0,
        }
    }
}

impl Churn {
    /// Checks the settings: `s_churn, s_tmin ≥ 0` finite, `s_tmax ≥ 0` (may be `+∞`),
    /// `s_noise > 0` finite.
    pub fn validate(&self) -> Result<()> {
        check_nonneg("s_churn", self.s_churn)?;
        check_nonneg("s_tmin", self.s_tmin)?;
        if self.s_tmax.is_nan() || self.s_tmax < 0.0 {
            return Err(crate::GdfError::OutOfRange {
                what: "s_tmax",
                value: self.s_tmax,
                expected: "a number >= 0 (may be +inf)",
            });
        }
        check_pos("s_noise", self.s_noise)
    }

    /// `γ_i` at step `i` of `grid`.
    pub fn gamma(&self, grid: &Grid, i: usize) -> f64 {
        let l = grid.level(i);
        let s = l.sigma();
        if !l.lam.is_finite() || self.s_churn == 0.0 {
            return 0.0;
        }
        if self.s_tmin <= s && s <= self.s_tmax {
            (self.s_churn / grid.steps() as f64).min(std::f64::consts::SQRT_2 - 1.0)
        } else {
            0.0
        }
    }

    /// The churn before the evaluation at step `i`: the pre-pass, the buffer to evaluate and
    /// its level `σ̂`. k-diffusion draws on every step when `s_churn > 0`, churned or not.
    pub(crate) fn plan(&self, grid: &Grid, i: usize) -> (Option<Pass>, Buf, Level) {
        let l = grid.level(i);
        let g = self.gamma(grid, i);
        if g > 0.0 {
            let lh = grid.at(l.lam - 2.0 * g.ln_1p());
            let row = Row::new(Dst::Buf(Buf::Stage)).t(X, lh.a / l.a).t(
                Src::Noise(0),
                lh.a * l.sigma() * (g * (2.0 + g)).sqrt() * self.s_noise,
            );
            (Some(Pass::one(row).draw(Draw::Use)), Buf::Stage, lh)
        } else if self.s_churn > 0.0 {
            (Some(Pass::default().draw(Draw::Skip)), Buf::X, l)
        } else {
            (None, Buf::X, l)
        }
    }
}

/// k-diffusion `sample_euler` with EDM churn (SPEC §1.1). 1 NFE per step.
#[derive(Clone, Debug, Default)]
pub struct Euler {
    churn: Churn,
    step: usize,
}

impl Euler {
    /// Deterministic Euler (= DDIM η=0 = DPM-Solver++(1)).
    pub fn new() -> Self {
        Self::default()
    }
    /// Euler with churn; errors name a bad field.
    ///
    /// ```
    /// use gdf::solver::{Churn, Euler};
    /// let churn = Churn { s_churn: 40.0, s_tmin: 0.05, s_tmax: 50.0, s_noise: 1.003 };
    /// assert!(Euler::with_churn(churn).is_ok());
    /// let bad = Euler::with_churn(Churn { s_noise: 0.0, ..churn }).unwrap_err();
    /// assert!(bad.to_string().contains("s_noise"));
    /// ```
    pub fn with_churn(churn: Churn) -> Result<Self> {
        churn.validate()?;
        Ok(Self { churn, step: 0 })
    }
    /// The churn settings.
    pub fn churn(&self) -> &Churn {
        &self.churn
    }
}

impl Solver for Euler {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "euler"
    }
    fn plain_first_order(&self) -> bool {
        true
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (pre, input, lh) = self.churn.plan(grid, i);
        let (cx, cd) = fo(&lh, &grid.level(i + 1));
        let post = Pass::one(
            Row::new(Dst::Buf(Buf::X))
                .t(Src::Buf(input), cx)
                .t(Src::D(0), cd),
        );
        Some(Eval {
            pre,
            input,
            level: lh,
            post,
            step: i,
            completes_step: true,
            order: 1,
        })
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
}

/// k-diffusion `sample_euler_ancestral` (SPEC §1.2): `η` (default 1) and `s_noise`
/// (default 1). Equals DDIM(η) for η ≤ 1. One draw per step that does not end at `λ = +∞`.
#[derive(Clone, Debug)]
pub struct EulerAncestral {
    eta: f64,
    s_noise: f64,
    step: usize,
}

impl Default for EulerAncestral {
    fn default() -> Self {
        Self {
            eta: 1.0,
            s_noise: 1.0,
            step: 0,
        }
    }
}

impl EulerAncestral {
    /// η = 1, s_noise = 1.
    pub fn new() -> Self {
        Self::default()
    }
    /// With `eta ≥ 0` and `s_noise > 0`.
    pub fn with(eta: f64, s_noise: f64) -> Result<Self> {
        check_eta_noise(eta, s_noise)?;
        Ok(Self {
            eta,
            s_noise,
            step: 0,
        })
    }
}

impl Solver for EulerAncestral {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "euler_ancestral"
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let post = if ln.lam == f64::INFINITY {
            x_is_d0()
        } else {
            let (cx, cd, cn) = anc_fo(&l, &ln, self.eta);
            Pass::one(
                Row::new(Dst::Buf(Buf::X))
                    .t(X, cx)
                    .t(Src::D(0), cd)
                    .t(Src::Noise(0), cn * self.s_noise),
            )
            .draw(Draw::Use)
        };
        Some(Eval::single(i, l, post))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
}

/// Which second-order two-evaluation method.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TwoStage {
    Heun,
    Dpm2,
}

#[derive(Clone, Debug)]
struct TwoStageState {
    kind: TwoStage,
    churn: Churn,
    step: usize,
    stage: u8,
    lh: Level,
    lm: Level,
    input: Buf,
}

impl TwoStageState {
    fn new(kind: TwoStage, churn: Churn) -> Self {
        let z = Level::PURE_NOISE;
        Self {
            kind,
            churn,
            step: 0,
            stage: 0,
            lh: z,
            lm: z,
            input: Buf::X,
        }
    }

    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.step)?;
        let ln = grid.level(i + 1);
        if self.stage == 0 {
            let (pre, input, lh) = self.churn.plan(grid, i);
            self.lh = lh;
            self.input = input;
            if ln.lam == f64::INFINITY {
                self.step += 1;
                return Some(Eval {
                    pre,
                    input,
                    level: lh,
                    post: x_is_d0(),
                    step: i,
                    completes_step: true,
                    order: 1,
                });
            }
            let h = half_step(&lh, &ln);
            let post = match self.kind {
                TwoStage::Heun => {
                    let (cx, cd) = fo(&lh, &ln);
                    self.lm = ln;
                    Row::new(Dst::Buf(Buf::Aux))
                        .t(Src::Buf(input), cx)
                        .t(Src::D(0), cd)
                }
                TwoStage::Dpm2 => {
                    let lm = grid.at(0.5 * (lh.lam + ln.lam));
                    self.lm = lm;
                    Row::new(Dst::Buf(Buf::Aux))
                        .t(Src::Buf(input), lm.b / lh.b)
                        .t(Src::D(0), lm.a * phi(0.5 * h))
                }
            };
            self.stage = 1;
            Some(Eval {
                pre,
                input,
                level: lh,
                post: Pass::one(post),
                step: i,
                completes_step: false,
                order: 2,
            })
        } else {
            let (lh, input) = (self.lh, self.input);
            let h = half_step(&lh, &ln);
            let row = match self.kind {
                // x' = x_e + a'·½(e^h − 1)·(D_2 − D_1)
                TwoStage::Heun => {
                    let c = ln.a * 0.5 * h.exp_m1();
                    Row::new(Dst::Buf(Buf::X))
                        .t(AUX, 1.0)
                        .t(Src::D(0), c)
                        .t(Src::D(1), -c)
                }
                // x' = FO(x̂) + a'·2 sinh(h/2)·(D_2 − D_1)
                TwoStage::Dpm2 => {
                    let (cx, cd) = fo(&lh, &ln);
                    let c = ln.a * 2.0 * (0.5 * h).sinh();
                    Row::new(Dst::Buf(Buf::X))
                        .t(Src::Buf(input), cx)
                        .t(Src::D(1), cd - c)
                        .t(Src::D(0), c)
                }
            };
            self.stage = 0;
            self.step += 1;
            Some(Eval {
                pre: None,
                input: Buf::Aux,
                level: self.lm,
                post: Pass::one(row),
                step: i,
                completes_step: true,
                order: 2,
            })
        }
    }

    fn nfe(grid: &Grid) -> usize {
        2 * grid.steps() - usize::from(grid.ends_clean())
    }
}

/// A two-stage solver with churn (Heun, DPM-2): its type, constructors and `Solver` impl.
macro_rules! two_stage_solver {
    ($(#[$m:meta])* $ty:ident, $kind:expr, $name:literal, $what:literal, $threshold:literal) => {
        $(#[$m])*
        #[derive(Clone, Debug)]
        pub struct $ty(TwoStageState);

        impl Default for $ty {
            fn default() -> Self {
                Self(TwoStageState::new($kind, Churn::default()))
            }
        }

        impl $ty {
            #[doc = concat!("Deterministic ", $what, ".")]
            pub fn new() -> Self {
                Self::default()
            }
            #[doc = concat!($what, " with churn.")]
            pub fn with_churn(churn: Churn) -> Result<Self> {
                churn.validate()?;
                Ok(Self(TwoStageState::new($kind, churn)))
            }
            /// The churn settings.
            pub fn churn(&self) -> &Churn {
                &self.0.churn
            }
        }

        impl Solver for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn start(&mut self, grid: &Grid) -> Result<()> {
                check_finite_start($name, grid)?;
                self.0.step = 0;
                self.0.stage = 0;
                Ok(())
            }
            fn plan(&mut self, grid: &Grid) -> Option<Eval> {
                self.0.plan(grid)
            }
            fn nfe(&self, grid: &Grid) -> usize {
                TwoStageState::nfe(grid)
            }
            fn history(&self) -> usize {
                2
            }
            fn takes_threshold(&self) -> bool {
                $threshold
            }
        }
    };
}

two_stage_solver!(
    /// EDM's Heun (Alg. 2; k-diffusion `sample_heun`) with churn (SPEC §1.3). 2 NFE per step,
    /// 1 on a step to `λ = +∞`. Takes an x0 threshold (diffusers' `HeunDiscreteScheduler`
    /// has `clip_sample`), applied to both evaluations' x0.
    Heun, TwoStage::Heun, "heun", "Heun", true
);

two_stage_solver!(
    /// k-diffusion `sample_dpm_2` with churn (SPEC §1.4): midpoint in λ. 2 NFE per step, 1 on a
    /// step to `λ = +∞`.
    Dpm2, TwoStage::Dpm2, "dpm_2", "DPM-2", false
);

/// k-diffusion `sample_dpm_2_ancestral` (SPEC §1.4): DPM-2 to `σ_down`, then `σ_up` of noise
/// (η default 1, s_noise default 1). A step with `σ_down = 0` is one Euler evaluation and
/// draws nothing.
#[derive(Clone, Debug)]
pub struct Dpm2Ancestral {
    eta: f64,
    s_noise: f64,
    step: usize,
    stage: u8,
    lm: Level,
    h_dn: f64,
    dn_up: (f64, f64),
}

impl Default for Dpm2Ancestral {
    fn default() -> Self {
        Self::with(1.0, 1.0).expect("defaults are valid")
    }
}

impl Dpm2Ancestral {
    /// η = 1, s_noise = 1.
    pub fn new() -> Self {
        Self::default()
    }
    /// With `eta ≥ 0` and `s_noise > 0`.
    pub fn with(eta: f64, s_noise: f64) -> Result<Self> {
        check_eta_noise(eta, s_noise)?;
        Ok(Self {
            eta,
            s_noise,
            step: 0,
            stage: 0,
            lm: Level::PURE_NOISE,
            h_dn: 0.0,
            dn_up: (1.0, 0.0),
        })
    }
}

/// Whether the ancestral step `i` collapses to one Euler evaluation (`σ_down = 0` or `λ' = +∞`).
fn anc_single(grid: &Grid, i: usize, eta: f64) -> bool {
    let (l, ln) = (grid.level(i), grid.level(i + 1));
    ln.lam == f64::INFINITY || anc_split(&l, &ln, eta).0 == 0.0
}

impl Solver for Dpm2Ancestral {
    fn name(&self) -> &'static str {
        "dpm_2_ancestral"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start("dpm_2_ancestral", grid)?;
        self.step = 0;
        self.stage = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        if self.stage == 0 {
            if anc_single(grid, i, self.eta) {
                self.step += 1;
                let c = if ln.lam == f64::INFINITY { 1.0 } else { ln.a };
                return Some(Eval::single(
                    i,
                    l,
                    Pass::one(Row::new(Dst::Buf(Buf::X)).t(Src::D(0), c)),
                ));
            }
            let (dn, up) = anc_split(&l, &ln, self.eta);
            let h_dn = half_step(&l, &ln) - dn.ln();
            let lm = grid.at(l.lam + h_dn);
            self.lm = lm;
            self.h_dn = h_dn;
            self.dn_up = (dn, up);
            self.stage = 1;
            let row = Row::new(Dst::Buf(Buf::Aux))
                .t(X, lm.b / l.b)
                .t(Src::D(0), lm.a * phi(0.5 * h_dn));
            Some(Eval {
                pre: None,
                input: Buf::X,
                level: l,
                post: Pass::one(row),
                step: i,
                completes_step: false,
                order: 2,
            })
        } else {
            let (dn, up) = self.dn_up;
            let h = self.h_dn;
            let c = ln.a * 2.0 * (0.5 * h).sinh();
            let row = Row::new(Dst::Buf(Buf::X))
                .t(X, ln.b * dn / l.b)
                .t(Src::D(1), ln.a * phi(h) - c)
                .t(Src::D(0), c)
                .t(Src::Noise(0), ln.b * up * self.s_noise);
            self.stage = 0;
            self.step += 1;
            Some(Eval {
                pre: None,
                input: Buf::Aux,
                level: self.lm,
                post: Pass::one(row).draw(Draw::Use),
                step: i,
                completes_step: true,
                order: 2,
            })
        }
    }
    fn nfe(&self, grid: &Grid) -> usize {
        (0..grid.steps())
            .map(|i| if anc_single(grid, i, self.eta) { 1 } else { 2 })
            .sum()
    }
    fn history(&self) -> usize {
        2
    }
}

/// diffusers' `EulerDiscreteScheduler` step with its churn (`s_churn, s_tmin, s_tmax,
/// s_noise`): unlike k-diffusion, the model sees the un-churned sample at `σ_i`, and the
/// noise is added after the call (golden quirk 3); it draws only on churned steps.
#[derive(Clone, Debug, Default)]
pub struct EulerDiscrete {
    churn: Churn,
    step: usize,
}

impl EulerDiscrete {
    /// Without churn (= Euler).
    pub fn new() -> Self {
        Self::default()
    }
    /// With churn.
    pub fn with_churn(churn: Churn) -> Result<Self> {
        churn.validate()?;
        Ok(Self { churn, step: 0 })
    }
    /// The churn settings.
    pub fn churn(&self) -> &Churn {
        &self.churn
    }
}

impl Solver for EulerDiscrete {
    fn name(&self) -> &'static str {
        "EulerDiscreteScheduler"
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let g = self.churn.gamma(grid, i);
        let post = if ln.lam == f64::INFINITY {
            let p = x_is_d0();
            if g > 0.0 {
                p.draw(Draw::Skip)
            } else {
                p
            }
        } else if g > 0.0 {
            // x̃' = (σ'/σ̂)(x̃ + σ·sqrt((1+γ)²−1)·s·n) + (1 − σ'/σ̂)·D
            let h = half_step(&l, &ln);
            let row = Row::new(Dst::Buf(Buf::X))
                .t(X, ln.b / (l.b * (1.0 + g)))
                .t(Src::D(0), ln.a * phi(h + g.ln_1p()))
                .t(
                    Src::Noise(0),
                    ln.b * self.churn.s_noise * (g * (2.0 + g)).sqrt() / (1.0 + g),
                );
            Pass::one(row).draw(Draw::Use)
        } else {
            let (cx, cd) = fo(&l, &ln);
            Pass::one(Row::new(Dst::Buf(Buf::X)).t(X, cx).t(Src::D(0), cd))
        };
        Some(Eval::single(i, l, post))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
}

/// diffusers' `FlowMatchEulerDiscreteScheduler` (SPEC §5.1) on any scaler (LERP natively):
/// Euler, or with `stochastic_sampling` the full renoise `x' = a'·D + b'·n` (one draw on every
/// step, the last one multiplied by `b' = 0`).
#[derive(Clone, Debug, Default)]
pub struct FlowMatchEuler {
    stochastic: bool,
    step: usize,
}

impl FlowMatchEuler {
    /// Deterministic (= Euler).
    pub fn new() -> Self {
        Self::default()
    }
    /// With `stochastic_sampling`.
    pub fn stochastic() -> Self {
        Self {
            stochastic: true,
            step: 0,
        }
    }
}

impl Solver for FlowMatchEuler {
    fn name(&self) -> &'static str {
        "FlowMatchEulerDiscreteScheduler"
    }
    fn plain_first_order(&self) -> bool {
        !self.stochastic
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let post = match (self.stochastic, ln.lam == f64::INFINITY) {
            (true, true) => x_is_d0().draw(Draw::Skip),
            (true, false) => Pass::one(
                Row::new(Dst::Buf(Buf::X))
                    .t(Src::D(0), ln.a)
                    .t(Src::Noise(0), ln.b),
            )
            .draw(Draw::Use),
            (false, _) => {
                let (cx, cd) = fo(&l, &ln);
                Pass::one(Row::new(Dst::Buf(Buf::X)).t(X, cx).t(Src::D(0), cd))
            }
        };
        Some(Eval::single(i, l, post))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
}

/// The rectified-flow Euler ancestral step of ComfyUI's `euler_ancestral_RF` and diffusers'
/// `LTXEulerAncestralRFScheduler` (LTX-Video's), in the flow's own coordinates (`x̃ = x/(a+b)`,
/// `s = b/(a+b)`; on the LERP scaler `x̃ = x`, `s = σ`):
///
/// ```text
/// s_d = s'·(1 + (s'/s − 1)·η)                         (the down-step)
/// x̃_d = (s_d/s)·x̃ + (1 − s_d/s)·D                    (exact flow Euler to s_d)
/// x̃'  = (1 − s')/(1 − s_d)·x̃_d + s_noise·r·n,  r² = s'² − s_d²·(1 − s')²/(1 − s_d)²
/// ```
///
/// which puts `x̃'` at `s'` with a fraction of fresh noise set by `η` (`η = 1`: `s_d = s'²/s`;
/// `η = 0`: plain flow Euler, no draw). The last step (to `s' = 0`) returns `D` and draws
/// nothing; as diffusers does, `10⁻¹²` guards the two divisions by `1 − s_d`.
///
/// ```
/// use gdf::scaler::Lerp;
/// use gdf::solver::{EulerAncestralRf, Grid, Run, CounterNoise};
/// let grid = Grid::new(&Lerp, &[f64::NEG_INFINITY, -1.0, 1.0, f64::INFINITY])?;
/// let mut run = Run::new(EulerAncestralRf::new(), grid, vec![0.4f64; 8], 1, CounterNoise::new(3))?;
/// let x = run.run(|_, _, d| { d.fill(-0.5); Ok(()) })?;
/// assert!(x.iter().all(|&v| (v + 0.5).abs() < 1e-12)); // the last step returns D
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct EulerAncestralRf {
    eta: f64,
    s_noise: f64,
    step: usize,
}

impl Default for EulerAncestralRf {
    fn default() -> Self {
        Self {
            eta: 1.0,
            s_noise: 1.0,
            step: 0,
        }
    }
}

impl EulerAncestralRf {
    /// `η = 1`, `s_noise = 1` (diffusers' and ComfyUI's defaults).
    pub fn new() -> Self {
        Self::default()
    }
    /// With `eta ≥ 0` and `s_noise > 0`.
    ///
    /// Errors: [`GdfError::OutOfRange`](crate::GdfError::OutOfRange) naming `eta` or
    /// `s_noise`.
    pub fn with(eta: f64, s_noise: f64) -> Result<Self> {
        super::check_eta_noise(eta, s_noise)?;
        Ok(Self {
            eta,
            s_noise,
            step: 0,
        })
    }
}

impl Solver for EulerAncestralRf {
    fn name(&self) -> &'static str {
        "LTXEulerAncestralRFScheduler"
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let ((s, n), (sn, nn)) = (flow_coords(&l), flow_coords(&ln));
        if sn < 1e-8 {
            // diffusers: the denoised sample (x̃' = D, and x' = (a'+b')·D).
            return Some(Eval::single(
                i,
                l,
                Pass::one(Row::new(Dst::Buf(Buf::X)).t(Src::D(0), nn)),
            ));
        }
        let sd = sn * (1.0 + (sn / s - 1.0) * self.eta);
        let ratio = sd / s;
        let noisy = self.eta > 0.0;
        let (k, r) = if noisy {
            let (an, ad) = (1.0 - sn, 1.0 - sd);
            let r2 = sn * sn - sd * sd * an * an / (ad * ad + 1e-12);
            (an / (ad + 1e-12), r2.max(0.0).sqrt())
        } else {
            (1.0, 0.0)
        };
        let row = Row::new(Dst::Buf(Buf::X))
            .t(X, nn * k * ratio / n)
            .t(Src::D(0), nn * k * (1.0 - ratio))
            .t(Src::Noise(0), nn * r * self.s_noise);
        let post = if noisy {
            Pass::one(row).draw(Draw::Use)
        } else {
            Pass::one(row)
        };
        Some(Eval::single(i, l, post))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
}

/// Flow-GRPO's SDE sampler (`sde_step_with_logprob`, the rollouts of Flow-GRPO and its
/// descendants): in the flow's own coordinates (`x̃ = x/(a+b)`, `s = b/(a+b)`; on the LERP
/// scaler `x̃ = x`, `s = σ`), with the velocity `v = (x̃ − D)/s`, `dt = s' − s` and
/// `σ_t = η·√(s/(1 − s))` (at `s = 1` the grid's second level stands in for `s` under the
/// root, as Flow-GRPO does), each step is the Gaussian
/// `x̃' = x̃·(1 + σ_t²·dt/(2s)) + v·(1 + σ_t²·(1 − s)/(2s))·dt + σ_t·√(−dt)·n`, the last
/// step to σ = 0 included. One draw per step. Every step is a single Gaussian transition, so
/// [`gaussian_steps`](super::gaussian_steps) gives the log-probabilities a policy-gradient
/// trainer needs.
///
/// ```
/// use gdf::scaler::Lerp;
/// use gdf::solver::{CounterNoise, FlowSde, Grid, Run};
/// let grid = Grid::new(&Lerp, &[f64::NEG_INFINITY, -1.0, 1.0, f64::INFINITY])?;
/// let mut run = Run::new(FlowSde::new(0.7)?, grid, vec![0.4f64; 8], 1, CounterNoise::new(3))?;
/// assert_eq!(run.remaining_evals(), 3);
/// let x = run.run(|_, _, d| { d.fill(-0.5); Ok(()) })?;
/// assert!(x.iter().all(|v| v.is_finite()));
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct FlowSde {
    noise_level: f64,
    step: usize,
}

impl FlowSde {
    /// With the noise level `η` (Flow-GRPO's `noise_level`, default 0.7), finite and `≥ 0`.
    ///
    /// Errors: [`GdfError::OutOfRange`](crate::GdfError::OutOfRange) naming `noise_level`.
    pub fn new(noise_level: f64) -> Result<Self> {
        super::check_nonneg("noise_level", noise_level)?;
        Ok(Self {
            noise_level,
            step: 0,
        })
    }

    /// The noise level `η`.
    pub fn noise_level(&self) -> f64 {
        self.noise_level
    }
}

impl Solver for FlowSde {
    fn name(&self) -> &'static str {
        "flow_sde"
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        self.step = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = next_step(grid, &mut self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let ((s, c), (sn, cn)) = (flow_coords(&l), flow_coords(&ln));
        let dt = sn - s;
        // Flow-GRPO's `where(σ == 1, sigmas[1], σ)` under the root.
        let under = if s == 1.0 {
            flow_coords(&grid.level(1)).0
        } else {
            s
        };
        let std = self.noise_level * (s / (1.0 - under)).sqrt();
        let k = 1.0 + std * std * (1.0 - s) / (2.0 * s);
        let cx = 1.0 + std * std * dt / (2.0 * s) + k * dt / s;
        let row = Row::new(Dst::Buf(Buf::X))
            .t(X, cn * cx / c)
            .t(Src::D(0), -cn * k * dt / s)
            .t(Src::Noise(0), cn * std * (-dt).sqrt());
        Some(Eval::single(i, l, Pass::one(row).draw(Draw::Use)))
    }
    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }
}

/// diffusers' `FlowMatchHeunDiscreteScheduler`: Heun's method in the flow's own coordinates
/// (`x̃ = x/(a+b)`, `s = b/(a+b)`; on the LERP scaler `x̃ = x`, `s = σ`), on the velocity
/// `v = (x̃ − D)/s`: `x̃' = x̃ + (s' − s)·½(v₁ + v₂)`, `v₂` at the Euler predictor. Unlike
/// [`Heun`] (k-diffusion's, in VE coordinates) the trapezoid is taken in `s`, so the two differ
/// at second order. 2 NFE per step, 1 on the step to `λ = +∞` (Euler, giving `D`).
///
/// ```
/// use gdf::scaler::Lerp;
/// use gdf::solver::{FlowMatchHeun, Grid, NoNoise, Run};
/// let grid = Grid::new(&Lerp, &[-3.0, 0.0, 3.0, f64::INFINITY])?;
/// let mut run = Run::new(FlowMatchHeun::new(), grid, vec![0.4f64; 2], 1, NoNoise)?;
/// assert_eq!(run.remaining_evals(), 5);
/// let x = run.run(|_, _, d| { d.fill(-0.5); Ok(()) })?;
/// assert!(x.iter().all(|&v| (v + 0.5).abs() < 1e-12)); // a point mass is exact
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct FlowMatchHeun {
    step: usize,
    stage: u8,
}

impl FlowMatchHeun {
    /// Deterministic (diffusers' `s_churn = 0`, what its pipelines use).
    pub fn new() -> Self {
        Self::default()
    }
}

/// The flow coordinates of a level: `(s, c)` with `x̃ = x/c`, `s = b/c`, `c = a + b`.
fn flow_coords(l: &Level) -> (f64, f64) {
    let c = l.a + l.b;
    (l.b / c, c)
}

impl Solver for FlowMatchHeun {
    fn name(&self) -> &'static str {
        "FlowMatchHeunDiscreteScheduler"
    }
    fn start(&mut self, _grid: &Grid) -> Result<()> {
        // Pure noise (λ = −∞) is s = 1 here: every coefficient is finite.
        self.step = 0;
        self.stage = 0;
        Ok(())
    }
    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = step_of(grid, self.step)?;
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let ((s, c), (sn, cn)) = (flow_coords(&l), flow_coords(&ln));
        let dt = sn - s;
        if ln.lam == f64::INFINITY {
            self.step += 1;
            return Some(Eval::single(i, l, x_is_d0()));
        }
        if self.stage == 0 {
            // x_e = c'·(x̃ + Δ·v₁), v₁ = (x̃ − D₁)/s.
            self.stage = 1;
            let post = Row::new(Dst::Buf(Buf::Aux))
                .t(X, cn * (1.0 + dt / s) / c)
                .t(Src::D(0), -cn * dt / s);
            return Some(Eval {
                pre: None,
                input: Buf::X,
                level: l,
                post: Pass::one(post),
                step: i,
                completes_step: false,
                order: 2,
            });
        }
        // x' = c'·(x̃ + ½Δ·((x̃ − D₁)/s + (x̃_e − D₂)/s')), x̃_e = x_e/c'.
        self.stage = 0;
        self.step += 1;
        let row = Row::new(Dst::Buf(Buf::X))
            .t(X, cn * (1.0 + 0.5 * dt / s) / c)
            .t(Src::D(1), -cn * 0.5 * dt / s)
            .t(AUX, 0.5 * dt / sn)
            .t(Src::D(0), -cn * 0.5 * dt / sn);
        Some(Eval {
            pre: None,
            input: Buf::Aux,
            level: ln,
            post: Pass::one(row),
            step: i,
            completes_step: true,
            order: 2,
        })
    }
    fn nfe(&self, grid: &Grid) -> usize {
        TwoStageState::nfe(grid)
    }
    fn history(&self) -> usize {
        2
    }
}
