//! k-diffusion's `sample_dpm_adaptive` (A1111's and ComfyUI's "DPM adaptive"): DPM-Solver-12
//! or -23 with the step size chosen as it goes by an embedded error estimate and a PID
//! controller. The levels depend on the model's outputs, so it is a driver of its own (like
//! [`Forcing`](super::Forcing)), not a [`Solver`](super::Solver) over a grid fixed in advance.

use crate::error::{GdfError, Result};
use crate::float::Real;
use crate::scaler::Scaler;
use crate::target::Target;

use super::dpm_fast::dpm;
use super::runner::{DrawInfo, EvalRequest, NoiseSource};
use super::{anc_split, check_eta_noise, Level, Span};

/// k-diffusion's `sample_dpm_adaptive` settings (its defaults from [`DpmAdaptive::new`]).
///
/// The run keeps its state in f64 whatever the model's precision (the error estimate is a
/// difference of nearly equal samples). The tolerances act on k-diffusion's `x`, the VE
/// sample `x0 + σ·ε` (gdf's `x/a`): the
/// error of a step is the RMS over the whole batch of `(x_low − x_high)/δ` with
/// `δ = max(atol, rtol·max(|x_low|, |x_prev|))`, where `x_high` is the step of the higher
/// order, `x_low` the embedded lower-order one and `x_prev` the last accepted `x_low`.
///
/// ```
/// use gdf::solver::DpmAdaptive;
/// let s = DpmAdaptive::new(0.03, 14.6)?;
/// assert_eq!((s.order, s.rtol, s.atol, s.h_init), (3, 0.05, 0.0078, 0.05));
/// let s = s.with_order(2)?.with_tolerances(0.01, 0.001)?;
/// assert!(DpmAdaptive::new(0.03, 14.6)?.with_order(4).is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DpmAdaptive {
    /// The last VE noise level (the run ends there; k-diffusion refuses 0).
    pub sigma_min: f64,
    /// The first VE noise level.
    pub sigma_max: f64,
    /// 3 (DPM-Solver-23: order 3, its error against order 2 with the stage at `r = 1/3`) or
    /// 2 (DPM-Solver-12).
    pub order: usize,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance (in k-diffusion's VE units).
    pub atol: f64,
    /// The first step's size in `t = −ln σ`.
    pub h_init: f64,
    /// The PID controller's proportional coefficient.
    pub pcoeff: f64,
    /// Its integral coefficient.
    pub icoeff: f64,
    /// Its derivative coefficient.
    pub dcoeff: f64,
    /// A step is accepted when the controller's factor is at least this.
    pub accept_safety: f64,
    /// The ancestral `η` (0: deterministic).
    pub eta: f64,
    /// The noise scale of the ancestral draws.
    pub s_noise: f64,
}

impl DpmAdaptive {
    /// The most attempted steps one run makes before it gives up (k-diffusion has no bound).
    pub const MAX_ATTEMPTS: usize = 100_000;

    /// k-diffusion's defaults between `sigma_min` and `sigma_max`: order 3, `rtol = 0.05`,
    /// `atol = 0.0078`, `h_init = 0.05`, PID `(0, 1, 0)`, `accept_safety = 0.81`, `eta = 0`,
    /// `s_noise = 1`.
    ///
    /// Errors: [`GdfError::OutOfRange`] unless `0 < sigma_min < sigma_max`, both finite.
    pub fn new(sigma_min: f64, sigma_max: f64) -> Result<Self> {
        crate::grid::check_sigma_range(sigma_min, sigma_max)?;
        Ok(Self {
            sigma_min,
            sigma_max,
            order: 3,
            rtol: 0.05,
            atol: 0.0078,
            h_init: 0.05,
            pcoeff: 0.0,
            icoeff: 1.0,
            dcoeff: 0.0,
            accept_safety: 0.81,
            eta: 0.0,
            s_noise: 1.0,
        })
    }

    /// With order 2 or 3. Errors: [`GdfError::OutOfRange`] naming `order`.
    pub fn with_order(mut self, order: usize) -> Result<Self> {
        self.order = order;
        self.check()?;
        Ok(self)
    }

    /// With the tolerances. Errors: [`GdfError::OutOfRange`] naming `rtol` or `atol` (each
    /// finite and ≥ 0, not both 0).
    pub fn with_tolerances(mut self, rtol: f64, atol: f64) -> Result<Self> {
        self.rtol = rtol;
        self.atol = atol;
        self.check()?;
        Ok(self)
    }

    /// With the step controller: the first step `h_init`, the PID coefficients and the
    /// acceptance threshold. Errors: [`GdfError::OutOfRange`] naming the value (`h_init` and
    /// `accept_safety` positive, the coefficients finite).
    pub fn with_controller(
        mut self,
        h_init: f64,
        [pcoeff, icoeff, dcoeff]: [f64; 3],
        accept_safety: f64,
    ) -> Result<Self> {
        self.h_init = h_init;
        (self.pcoeff, self.icoeff, self.dcoeff) = (pcoeff, icoeff, dcoeff);
        self.accept_safety = accept_safety;
        self.check()?;
        Ok(self)
    }

    /// With ancestral noise. Errors: [`GdfError::OutOfRange`] naming `eta` or `s_noise`.
    pub fn with_eta(mut self, eta: f64, s_noise: f64) -> Result<Self> {
        self.eta = eta;
        self.s_noise = s_noise;
        self.check()?;
        Ok(self)
    }

    /// Checks every field (the public fields may have been set directly).
    pub fn check(&self) -> Result<()> {
        let bad = |what: &'static str, value: f64, expected: &'static str| {
            Err(GdfError::OutOfRange {
                what,
                value,
                expected,
            })
        };
        crate::grid::check_sigma_range(self.sigma_min, self.sigma_max)?;
        if !matches!(self.order, 2 | 3) {
            return bad("order", self.order as f64, "2 or 3 (k-diffusion's orders)");
        }
        for (what, v) in [("rtol", self.rtol), ("atol", self.atol)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(what, v, "a finite tolerance ≥ 0");
            }
        }
        if self.rtol == 0.0 && self.atol == 0.0 {
            return bad("atol", 0.0, "a positive tolerance where rtol is 0");
        }
        for (what, v) in [
            ("h_init", self.h_init),
            ("accept_safety", self.accept_safety),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(what, v, "a positive finite number");
            }
        }
        for (what, v) in [
            ("pcoeff", self.pcoeff),
            ("icoeff", self.icoeff),
            ("dcoeff", self.dcoeff),
        ] {
            if !v.is_finite() {
                return bad(what, v, "a finite coefficient");
            }
        }
        check_eta_noise(self.eta, self.s_noise)
    }

    /// Starts a run from `x` (gdf's sample at `σ_max`, `batch` samples) through `scaler`
    /// (the framework's: gdf's `x` at logSNR `λ` is `a(λ)` times k-diffusion's), drawing its
    /// ancestral noise (with `eta > 0`) from `noise`: draw `k` is the `k`-th accepted step's.
    ///
    /// Errors: the settings' ([`DpmAdaptive::check`]), an empty or ragged batch, a non-finite
    /// value in `x`.
    pub fn start<S: Scaler, F: Real, N: NoiseSource<F>>(
        &self,
        scaler: S,
        x: Vec<F>,
        batch: usize,
        noise: N,
    ) -> Result<AdaptiveRun<S, F, N>> {
        self.check()?;
        let per = crate::error::per_sample("x", x.len(), batch)?;
        crate::error::check_finite("x", &x)?;
        let t_start = -self.sigma_max.ln();
        let level = level_at(&scaler, t_start);
        let ve: Vec<f64> = x.iter().map(|&v| v.as_f64() / level.a).collect();
        let n = ve.len();
        Ok(AdaptiveRun {
            set: *self,
            scaler,
            noise,
            batch,
            per,
            s: t_start,
            t_end: -self.sigma_min.ln(),
            x_prev: ve.clone(),
            x: ve,
            input: vec![F::zero(); n],
            eps: [vec![0.0; n], vec![0.0; n], vec![0.0; n]],
            have_eps0: false,
            attempt: None,
            stage: 0,
            pid: Pid::new(self),
            info: AdaptiveInfo::default(),
            log: Vec::new(),
        })
    }
}

/// The level at `t = −ln σ` (`λ = 2t`) through `scaler`.
fn level_at<S: Scaler>(scaler: &S, t: f64) -> Level {
    let lam = 2.0 * t;
    let (a, b) = scaler.ab(lam);
    Level { a, b, lam }
}

/// k-diffusion's `PIDStepSizeController`.
#[derive(Clone, Debug)]
struct Pid {
    h: f64,
    b: [f64; 3],
    accept_safety: f64,
    errs: Option<[f64; 3]>,
}

impl Pid {
    fn new(s: &DpmAdaptive) -> Self {
        // With ancestral noise the controller takes order 1.5.
        let order = if s.eta > 0.0 { 1.5 } else { s.order as f64 };
        Self {
            h: s.h_init,
            b: [
                (s.pcoeff + s.icoeff + s.dcoeff) / order,
                -(s.pcoeff + 2.0 * s.dcoeff) / order,
                s.dcoeff / order,
            ],
            accept_safety: s.accept_safety,
            errs: None,
        }
    }

    /// Scales `h` by the controller's factor for `error`; whether the step is accepted.
    fn propose(&mut self, error: f64) -> bool {
        let inv = 1.0 / (error + 1e-8);
        let e = self.errs.get_or_insert([inv; 3]);
        e[0] = inv;
        let f = e[0].powf(self.b[0]) * e[1].powf(self.b[1]) * e[2].powf(self.b[2]);
        // The limiter 1 + atan(f − 1).
        let f = 1.0 + (f - 1.0).atan();
        let accept = f >= self.accept_safety;
        if accept {
            e[2] = e[1];
            e[1] = e[0];
        }
        self.h *= f;
        accept
    }
}

/// The counts k-diffusion's `return_info` gives, for a gdf run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdaptiveInfo {
    /// Attempted steps.
    pub steps: usize,
    /// Accepted steps.
    pub n_accept: usize,
    /// Rejected steps.
    pub n_reject: usize,
    /// Model evaluations made. k-diffusion's `nfe` counts `order` per attempt: after a
    /// rejection it evaluates the model again at the same sample and level, which gdf does
    /// not (the output is the same), so gdf's count is `nfe − n_reject` of k-diffusion's
    /// (`k_diffusion_nfe` gives that).
    pub evals: usize,
}

impl AdaptiveInfo {
    /// k-diffusion's `nfe` for the same run: `order` per attempted step.
    pub fn k_diffusion_nfe(&self, order: usize) -> usize {
        self.steps * order
    }
}

/// One attempted step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attempt {
    /// Its start, `t = −ln σ`.
    pub t: f64,
    /// Where it was to go (before the ancestral split).
    pub t_next: f64,
    /// The scaled error estimate (accepted when the controller's factor ≥ `accept_safety`).
    pub error: f64,
    /// Whether it was accepted.
    pub accepted: bool,
    /// The controller's step size after it.
    pub h: f64,
}

/// The current attempt's levels.
#[derive(Clone, Copy, Debug)]
struct Levels {
    t: f64,
    /// The step's start (the level of `t`).
    from: Level,
    /// The step's end before the ancestral split, and its level.
    next: Level,
    /// The deterministic part's end `t_` (σ_down, not past the end).
    to: Level,
    /// `h = t_ − s`.
    h: f64,
    s1: Level,
    s2: Level,
    r1: f64,
    /// `σ_up` of the step (0 without eta).
    su: f64,
}

/// A run of [`DpmAdaptive`]: the caller evaluates the model at each request and feeds its
/// output, as with [`Run`](super::Run).
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{DpmAdaptive, NoNoise};
/// // A point mass at 0.5: every order is exact, so each step is accepted and grows.
/// let s = DpmAdaptive::new(0.03, 14.6)?;
/// let mut run = s.start(Vp, vec![0.1f64, -0.3], 2, NoNoise)?;
/// let x = loop {
///     match run.next_eval()? {
///         Some(_) => {
///             run.feed_x0(&[0.5, 0.5])?;
///         }
///         None => break run.x(),
///     }
/// };
/// let info = run.info();
/// assert_eq!(info.n_reject, 0);
/// assert_eq!(info.evals, 3 * info.n_accept);
/// // At σ_min: x0 plus the initial noise, rescaled (DPM-Solver is exact here).
/// let (l0, l1) = (run.start_level(), run.level());
/// let eps = (0.1 - l0.a * 0.5) / l0.b;
/// assert!((x[0] - (l1.a * 0.5 + l1.b * eps)).abs() < 1e-12);
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub struct AdaptiveRun<S, F, N> {
    set: DpmAdaptive,
    scaler: S,
    noise: N,
    batch: usize,
    per: usize,
    /// The current `t = −ln σ` and the end.
    s: f64,
    t_end: f64,
    /// k-diffusion's `x` (VE) and `x_prev` (the last accepted `x_low`), in f64 whatever `F`
    /// (the error estimate is a difference of nearly equal samples).
    x: Vec<f64>,
    x_prev: Vec<f64>,
    /// The pending request's input (gdf's frame).
    input: Vec<F>,
    /// ε at the step's start and at its stages.
    eps: [Vec<f64>; 3],
    /// Whether `eps[0]` holds ε at `(x, s)` (kept across a rejection).
    have_eps0: bool,
    attempt: Option<Levels>,
    stage: usize,
    pid: Pid,
    info: AdaptiveInfo,
    log: Vec<Attempt>,
}

impl<S: Scaler, F: Real, N: NoiseSource<F>> AdaptiveRun<S, F, N> {
    /// Whether the run has reached `σ_min` (k-diffusion's `s ≥ t_end − 1e-5`).
    fn done(&self) -> bool {
        self.s >= self.t_end - 1e-5
    }

    /// The next model evaluation: its input (gdf's sample) and level, or `None` when the
    /// run has reached `σ_min`.
    ///
    /// Errors: more than [`DpmAdaptive::MAX_ATTEMPTS`] attempted steps (the error estimate
    /// keeps every step rejected: a model whose output is not smooth in its input).
    pub fn next_eval(&mut self) -> Result<Option<EvalRequest<'_, F>>> {
        if self.attempt.is_none() {
            if self.done() {
                return Ok(None);
            }
            if self.info.steps >= DpmAdaptive::MAX_ATTEMPTS {
                return Err(GdfError::Invalid {
                    message: format!(
                        "dpm_adaptive: {} steps attempted without reaching \
                         sigma_min (at σ = {}, h = {}); loosen rtol / atol",
                        DpmAdaptive::MAX_ATTEMPTS,
                        (-self.s).exp(),
                        self.pid.h
                    ),
                });
            }
            self.attempt = Some(self.plan());
            self.stage = usize::from(self.have_eps0);
        }
        let (lv, level) = self.pending()?;
        let c = match self.stage {
            0 => None,
            1 => Some([dpm::u1(lv.s1.sigma(), lv.r1 * lv.h), 0.0]),
            _ => Some(dpm::u2(lv.s2.sigma(), 2.0 / 3.0 * lv.h, 2.0)),
        };
        // The stage's VE sample x̃ + Σ c_k·ε_k, as gdf's sample at its level.
        let a = level.a;
        match c {
            None => {
                for (o, &x) in self.input.iter_mut().zip(&self.x) {
                    *o = F::of(x * a);
                }
            }
            Some([c0, c1]) => {
                for (j, o) in self.input.iter_mut().enumerate() {
                    *o = F::of((self.x[j] + c0 * self.eps[0][j] + c1 * self.eps[1][j]) * a);
                }
            }
        }
        Ok(Some(EvalRequest {
            x: &self.input,
            level,
            step: self.info.steps,
            index: self.info.evals,
        }))
    }

    /// The pending attempt and the level of its pending evaluation (the step's start, then
    /// its stages). Errors when no evaluation is pending.
    fn pending(&self) -> Result<(Levels, Level)> {
        let lv = self.attempt.ok_or_else(|| GdfError::Invalid {
            message: "dpm_adaptive: no pending evaluation (call next_eval first)".into(),
        })?;
        Ok((lv, [lv.from, lv.s1, lv.s2][self.stage.min(2)]))
    }

    /// The attempt from `s`: k-diffusion's `t = min(t_end, s + h)`, the ancestral split, the
    /// stages.
    fn plan(&self) -> Levels {
        let t = self.t_end.min(self.s + self.pid.h);
        let from = level_at(&self.scaler, self.s);
        let next = level_at(&self.scaler, t);
        let (to, su) = if self.set.eta > 0.0 {
            let (dn, _) = anc_split(&from, &next, self.set.eta);
            let t_ = self.t_end.min(0.5 * next.lam - dn.ln());
            let to = level_at(&self.scaler, t_);
            let su = (next.sigma().powi(2) - to.sigma().powi(2)).max(0.0).sqrt();
            (to, su)
        } else {
            (next, 0.0)
        };
        let h = 0.5 * to.lam - self.s;
        // Order 3: stages at 1/3 and 2/3 (the order-2 estimate shares the first); order 2:
        // the stage at 1/2.
        let r1 = if self.set.order == 3 { 1.0 / 3.0 } else { 0.5 };
        Levels {
            t: self.s,
            from,
            next,
            to,
            h,
            s1: level_at(&self.scaler, self.s + r1 * h),
            s2: level_at(&self.scaler, self.s + 2.0 / 3.0 * h),
            r1,
            su,
        }
    }

    /// Feeds the model's clean estimate `d` (gdf's x0) at the pending request; returns the
    /// attempt when this evaluation completes one.
    ///
    /// Errors: no pending request, a length that is not the batch's, a non-finite value in
    /// `d`, a non-finite error estimate.
    pub fn feed_x0(&mut self, d: &[F]) -> Result<Option<Attempt>> {
        crate::error::check_len("model output", self.x.len(), d.len())?;
        crate::error::check_finite("model output", d)?;
        let (lv, level) = self.pending()?;
        // ε = (x̃ − D)/σ of the stage's VE input.
        let (a, sigma) = (level.a, level.sigma());
        let slot = self.stage.min(2);
        for ((e, &x), &d) in self.eps[slot].iter_mut().zip(&self.input).zip(d) {
            *e = (x.as_f64() / a - d.as_f64()) / sigma;
        }
        self.info.evals += 1;
        if self.stage == 0 {
            self.have_eps0 = true;
        }
        self.stage += 1;
        if self.stage < self.set.order {
            return Ok(None);
        }
        self.finish_attempt(lv).map(Some)
    }

    /// Feeds a raw prediction of `target`, converted to x0 at the pending level.
    ///
    /// Errors: as [`AdaptiveRun::feed_x0`], and a target that gives no x0 at the level.
    pub fn feed<T: Target>(&mut self, target: &T, pred: &[F]) -> Result<Option<Attempt>> {
        crate::error::check_len("model output", self.x.len(), pred.len())?;
        let (_, level) = self.pending()?;
        crate::target::check_converts(target, level.a, level.b, level.lam)?;
        let (a, b) = (F::of(level.a), F::of(level.b));
        let d: Vec<F> = self
            .input
            .iter()
            .zip(pred)
            .map(|(&x, &p)| target.x0(x, p, a, b))
            .collect();
        self.feed_x0(&d)
    }

    /// Feeds a conditional and an unconditional raw prediction of `target` with
    /// classifier-free guidance `u + w·(c − u)` (k-diffusion's CFG wrapper around the model it
    /// hands `sample_dpm_adaptive`; linear, so the same on the raw output and on x0). Every
    /// evaluation, a rejected attempt's too, is guided the same way: the guiders with a
    /// window or a schedule over steps (`gdf::guidance`) need a fixed step count, which an
    /// adaptive run does not have.
    ///
    /// ```
    /// use gdf::scaler::Vp;
    /// use gdf::solver::{DpmAdaptive, NoNoise};
    /// use gdf::target::X0;
    /// let settings = DpmAdaptive::new(0.01, 10.0)?;
    /// let mut run = settings.start(Vp, vec![0.3f64; 4], 2, NoNoise)?;
    /// while run.next_eval()?.is_some() {
    ///     // The conditional branch knows the data is 1, the unconditional one 0.5.
    ///     run.feed_cfg(&X0, &[1.0; 4], &[0.5; 4], 3.0)?;
    /// }
    /// // x0 = 0.5 + 3·(1 − 0.5) = 2, reached up to the solver's tolerance at σ_min.
    /// assert!(run.x().iter().all(|&v| (v - 2.0).abs() < 0.05));
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    ///
    /// Errors: a non-finite `w`, lengths that are not the batch's; as [`AdaptiveRun::feed`].
    pub fn feed_cfg<T: Target>(
        &mut self,
        target: &T,
        cond: &[F],
        uncond: &[F],
        w: f64,
    ) -> Result<Option<Attempt>> {
        super::runner::check_guidance_scale(w)?;
        crate::error::check_len("conditional output", self.x.len(), cond.len())?;
        crate::error::check_len("unconditional output", self.x.len(), uncond.len())?;
        let w = F::of(w);
        let guided: Vec<F> = cond
            .iter()
            .zip(uncond)
            .map(|(&c, &u)| crate::guide::formula::cfg(c, u, w))
            .collect();
        self.feed(target, &guided)
    }

    /// The error estimate, the controller's decision and, when accepted, the new sample.
    fn finish_attempt(&mut self, lv: Levels) -> Result<Attempt> {
        let sig = lv.to.sigma();
        let ([l0, l1], [h0, h2]) = if self.set.order == 3 {
            // x_low: DPM-Solver-2 with r1 = 1/3 (ε, ε_1); x_high: DPM-Solver-3 (ε, ε_2).
            (dpm::step2(sig, lv.h, 1.5), dpm::step3(sig, lv.h, 1.5))
        } else {
            // x_low: DPM-Solver-1; x_high: DPM-Solver-2 with r1 = 1/2 (ε, ε_1).
            ([dpm::step1(sig, lv.h), 0.0], dpm::step2(sig, lv.h, 1.0))
        };
        let hi_slot = if self.set.order == 3 { 2 } else { 1 };
        let (atol, rtol) = (self.set.atol, self.set.rtol);
        let mut sum = 0.0f64;
        let mut x_low = vec![0.0; self.x.len()];
        let mut x_high = vec![0.0; self.x.len()];
        for j in 0..self.x.len() {
            let x = self.x[j];
            let e0 = self.eps[0][j];
            let lo = x + l0 * e0 + l1 * self.eps[1][j];
            let hi = x + h0 * e0 + h2 * self.eps[hi_slot][j];
            let delta = atol.max(rtol * lo.abs().max(self.x_prev[j].abs()));
            let r = (lo - hi) / delta;
            sum += r * r;
            x_low[j] = lo;
            x_high[j] = hi;
        }
        let error = sum.sqrt() / (self.x.len() as f64).sqrt();
        if !error.is_finite() {
            return Err(GdfError::Invalid {
                message: format!(
                    "dpm_adaptive: the error estimate of the step from σ = {} is {error}",
                    (-lv.t).exp()
                ),
            });
        }
        let accepted = self.pid.propose(error);
        let t_next = 0.5 * lv.next.lam;
        if accepted {
            if lv.su > 0.0 {
                self.add_noise(&mut x_high, &lv)?;
            }
            self.x_prev = x_low;
            self.x = x_high;
            self.s = t_next;
            self.have_eps0 = false;
            self.info.n_accept += 1;
        } else {
            self.info.n_reject += 1;
        }
        self.info.steps += 1;
        self.attempt = None;
        let a = Attempt {
            t: lv.t,
            t_next,
            error,
            accepted,
            h: self.pid.h,
        };
        self.log.push(a);
        Ok(a)
    }

    /// `x += σ_up·s_noise·z` with draw number `n_accept` (the accepted step's).
    fn add_noise(&mut self, x: &mut [f64], lv: &Levels) -> Result<()> {
        let draw = self.info.n_accept;
        self.noise.on_draw(DrawInfo {
            draw,
            step: self.info.steps,
            used: true,
            span: Some(Span {
                from: lv.from,
                to: lv.next,
            }),
        })?;
        let c = lv.su * self.set.s_noise;
        let mut z = vec![F::zero(); self.per];
        for (b, xs) in x.chunks_mut(self.per).enumerate().take(self.batch) {
            self.noise.fill(draw, self.info.steps, b, 0, &mut z)?;
            for (v, &z) in xs.iter_mut().zip(&z) {
                *v += c * z.as_f64();
            }
        }
        Ok(())
    }

    /// Evaluates `model(x, level, d)` (it writes the clean estimate into `d`) until the run
    /// is done; returns gdf's sample at `σ_min`.
    ///
    /// Errors: the model's, and as [`AdaptiveRun::next_eval`] / [`AdaptiveRun::feed_x0`].
    pub fn run(
        mut self,
        mut model: impl FnMut(&[F], Level, &mut [F]) -> Result<()>,
    ) -> Result<Vec<F>> {
        let mut d = vec![F::zero(); self.x.len()];
        while let Some(r) = self.next_eval()? {
            model(r.x, r.level, &mut d)?;
            self.feed_x0(&d)?;
        }
        Ok(self.x())
    }

    /// gdf's sample at the current level ([`AdaptiveRun::level`]).
    pub fn x(&self) -> Vec<F> {
        let a = self.level().a;
        self.x.iter().map(|&v| F::of(v * a)).collect()
    }

    /// The current level (`σ_max` at the start, `σ_min` at the end).
    pub fn level(&self) -> Level {
        level_at(&self.scaler, self.s)
    }

    /// The first level (`σ_max`).
    pub fn start_level(&self) -> Level {
        level_at(&self.scaler, -self.set.sigma_max.ln())
    }

    /// The counts so far.
    pub fn info(&self) -> AdaptiveInfo {
        self.info
    }

    /// Every attempted step so far, in order.
    pub fn attempts(&self) -> &[Attempt] {
        &self.log
    }
}
