//! A sampler step as a Gaussian transition, for policy-gradient training (DDPO, Flow-GRPO).

use crate::error::{check_len, per_sample, GdfError, Result};
use crate::float::Real;
use crate::target::Target;

use super::{Buf, Draw, Dst, Grid, Level, Solver, Src};

/// One step of a stochastic sampler as a Gaussian transition, per element:
/// `x' ~ N(c_x·x + c_d·D, std²)` with `D` the model's x0-prediction at `level`. These are the
/// coefficients of the very pass the sampler runs ([`gaussian_steps`] reads them from the
/// solver's plan), so a rollout made with [`Run`](super::Run) and the log-probabilities a
/// trainer computes from them cannot disagree.
///
/// A policy-gradient trainer (DDPO, Flow-GRPO) needs `log p(x' | x)` under the *current*
/// model for transitions recorded during a rollout, each sample at its own step:
/// [`log_prob`](Self::log_prob) computes it on the host, and [`for_prediction`](Self::for_prediction)
/// gives the coefficients on the model's raw output for a trainer that computes it on its own
/// (differentiable) tensors: `−(x' − c_x·x − c_p·pred)²/(2·std²) − ln std − ½ ln 2π`, averaged
/// over a sample's elements.
///
/// ```
/// use gdf::scaler::Lerp;
/// use gdf::solver::{gaussian_steps, FlowSde, Grid};
/// use gdf::target::RectifiedFlows;
///
/// let grid = Grid::new(&Lerp, &[f64::NEG_INFINITY, 0.0, f64::INFINITY])?;
/// let steps = gaussian_steps(&FlowSde::new(0.7)?, &grid)?;
/// assert_eq!(steps.len(), 2);
/// // Per-sample log-probabilities of x' under a model predicting x0 = 0.1 everywhere.
/// let (x, x_next, d) = (vec![0.3f64, -0.2, 1.0, 0.5], vec![0.2f64, -0.1, 0.6, 0.4], vec![0.1f64; 4]);
/// let lp = steps[0].log_prob(&x_next, &x, &d, 2)?;
/// assert_eq!(lp.len(), 2);
/// // The same on the flow transformer's velocity: x0 = x − s·v at the step's level.
/// let [c_x, c_v] = steps[1].for_prediction(&RectifiedFlows)?;
/// assert!(c_x.is_finite() && c_v.is_finite());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianStep {
    /// The step (0-based).
    pub step: usize,
    /// The level the model is evaluated at (the step's start).
    pub level: Level,
    /// The level the step goes to.
    pub to: Level,
    /// The coefficient of `x`.
    pub c_x: f64,
    /// The coefficient of the x0-prediction `D`.
    pub c_d: f64,
    /// The standard deviation of the step's noise.
    pub std: f64,
}

/// Every step of `solver` on `grid` as a [`GaussianStep`], in order.
///
/// A deterministic step (an ancestral solver's last step to σ = 0, which returns `D`) comes
/// with `std = 0`: it has no density, and [`log_prob`](GaussianStep::log_prob) refuses it.
///
/// Errors: as the solver's `start`; [`GdfError::Invalid`] naming the step when a step is not
/// one Gaussian transition of `x` and the step's own prediction: two evaluations per step
/// (Heun), earlier predictions in the update (multistep solvers), a pass before the model
/// call (churn).
pub fn gaussian_steps<S: Solver + Clone>(solver: &S, grid: &Grid) -> Result<Vec<GaussianStep>> {
    let mut s = solver.clone();
    super::start_on(&mut s, grid)?;
    let mut out: Vec<GaussianStep> = Vec::with_capacity(grid.steps());
    let not = |step: usize, why: &str| GdfError::Invalid {
        message: format!(
            "step {step} of `{}` is not one Gaussian transition of x and its own prediction \
             ({why}); log-probabilities exist for single-draw one-evaluation steps \
             (euler_ancestral = DDIM(η)/DDPM, flow_sde, lcm, …)",
            solver.name()
        ),
    };
    while let Some(e) = s.plan(grid) {
        if !e.completes_step || out.last().is_some_and(|g| g.step == e.step) {
            return Err(not(e.step, "it takes more than one model evaluation"));
        }
        if e.pre.is_some() || e.input != Buf::X {
            return Err(not(e.step, "a pass runs before the model call"));
        }
        let rows = e.post.rows();
        if rows.len() != 1 || rows[0].dst != Dst::Buf(Buf::X) {
            return Err(not(e.step, "its update has more than one row"));
        }
        let used: Vec<usize> = e
            .post
            .draws()
            .iter()
            .enumerate()
            .filter(|(_, d)| **d == Draw::Use)
            .map(|(k, _)| k)
            .collect();
        let (mut c_x, mut c_d, mut std) = (0.0, 0.0, 0.0);
        for &(src, c) in rows[0].terms() {
            match src {
                Src::Buf(Buf::X) => c_x += c,
                Src::D(0) => c_d += c,
                Src::Noise(0) if used.len() == 1 => std += c,
                _ => return Err(not(e.step, "it reads earlier predictions or other buffers")),
            }
        }
        out.push(GaussianStep {
            step: e.step,
            level: e.level,
            to: grid.level(e.step + 1),
            c_x,
            c_d,
            std: std.abs(),
        });
    }
    Ok(out)
}

impl GaussianStep {
    /// The step's mean `c_x·x + c_d·D` into `out`.
    ///
    /// Errors: lengths that differ.
    pub fn mean<F: Real>(&self, x: &[F], d: &[F], out: &mut [F]) -> Result<()> {
        check_len("d", x.len(), d.len())?;
        check_len("out", x.len(), out.len())?;
        let (cx, cd) = (F::of(self.c_x), F::of(self.c_d));
        for ((o, &x), &d) in out.iter_mut().zip(x).zip(d) {
            *o = cx * x + cd * d;
        }
        Ok(())
    }

    /// `log p(x_next | x)` per sample (`batch` samples, batch-major), averaged over each
    /// sample's elements as DDPO and Flow-GRPO average it, given the model's x0-prediction
    /// `d` at [`level`](Self::level); accumulated in f64.
    ///
    /// Errors: lengths that differ or do not split into `batch` samples; a non-finite value;
    /// a deterministic step (`std = 0`).
    pub fn log_prob<F: Real>(
        &self,
        x_next: &[F],
        x: &[F],
        d: &[F],
        batch: usize,
    ) -> Result<Vec<f64>> {
        self.check_density()?;
        let per = per_sample("x", x.len(), batch)?;
        check_len("x_next", x.len(), x_next.len())?;
        check_len("d", x.len(), d.len())?;
        let half_ln_2pi = 0.5 * (2.0 * core::f64::consts::PI).ln();
        let (inv2v, ln_std) = (0.5 / (self.std * self.std), self.std.ln());
        let mut out = Vec::with_capacity(batch);
        for s in 0..batch {
            let r = s * per..(s + 1) * per;
            let mut acc = 0.0f64;
            for ((&xn, &x), &d) in x_next[r.clone()].iter().zip(&x[r.clone()]).zip(&d[r]) {
                let m = self.c_x * x.as_f64() + self.c_d * d.as_f64();
                let z = xn.as_f64() - m;
                acc += z * z;
            }
            let lp = -acc * inv2v / per as f64 - ln_std - half_ln_2pi;
            if !lp.is_finite() {
                return Err(GdfError::NonFinite {
                    what: "log-probability (x, x_next or d)",
                    index: s,
                    value: lp,
                });
            }
            out.push(lp);
        }
        Ok(out)
    }

    /// `Ok` unless the step is deterministic (`std = 0`: it draws no noise, so `x'` has no
    /// density), which is an error naming the step.
    pub fn check_density(&self) -> Result<()> {
        if self.std != 0.0 {
            Ok(())
        } else {
            Err(GdfError::Invalid {
                message: format!(
                    "step {} is deterministic (it draws no noise): x' has no density",
                    self.step
                ),
            })
        }
    }

    /// `[c_x, c_p]` with the mean `c_x·x + c_p·pred` on the model's raw prediction of `target`
    /// (ε, v, flow velocity, …) at [`level`](Self::level): the x0 conversion is linear,
    /// `D = α·x + β·pred`, so `c_x = self.c_x + c_d·α`, `c_p = c_d·β`.
    ///
    /// Errors: a target that gives no x0 at the level (ε at pure noise).
    pub fn for_prediction<T: Target>(&self, target: &T) -> Result<[f64; 2]> {
        let (a, b) = (self.level.a, self.level.b);
        crate::target::check_converts(target, a, b, self.level.lam)?;
        let alpha = target.x0(1.0f64, 0.0, a, b);
        let beta = target.x0(0.0f64, 1.0, a, b);
        Ok([self.c_x + self.c_d * alpha, self.c_d * beta])
    }
}
