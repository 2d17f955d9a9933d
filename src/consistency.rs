//! Consistency training: the pieces a trainer needs besides the model and the
//! [`Consistency`](crate::target::Consistency) target's parameterisation.
//!
//! Consistency training (Song et al. 2023) fits `f(x + σ_{i+1}·z, σ_{i+1})` to the stopped
//! `f(x + σ_i·z, σ_i)`, the same `z` at two adjacent levels of a Karras discretisation
//! (`σ_min … σ_max`, ρ), whose count grows during training. The improved recipe (iCT, Song &
//! Dhariwal 2023) doubles the count in stages ([`ImprovedCt::num_levels`]), draws the pair
//! index from a discretised log-normal ([`ImprovedCt::pair_probabilities`],
//! [`ImprovedCt::draw_pairs`]), weighs the pair by `1/(σ_{i+1} − σ_i)`
//! ([`ImprovedCt::pair_weights`]) and measures the distance with a pseudo-Huber
//! ([`pseudo_huber`]); [`ImprovedCt::pair_inputs`] makes a batch's student and teacher inputs
//! in gdf's frame. The original recipe's count and EMA rate are [`ct_num_levels`] and
//! [`ct_ema_decay`].
//!
//! [`Distillation`] is consistency distillation (Song et al. 2023): the teacher's input is a
//! pretrained model's ODE step instead of the same noise at the lower level.
//!
//! The σ's here are in data units; gdf's frame over `x0/σ_d` (the
//! [`Consistency`](crate::target::Consistency) target's, the VP scaler) has the level
//! `λ = −2·ln(σ/σ_d)` ([`ImprovedCt::logsnr`]).
//!
//! ```
//! use gdf::consistency::{pseudo_huber, ImprovedCt};
//! let ict = ImprovedCt::new();
//! // Halfway through 400 000 steps: 10·2^4 + 1 levels.
//! let sigmas = ict.levels(200_000, 400_000)?;
//! assert_eq!(sigmas.len(), 161);
//! let p = ict.pair_probabilities(&sigmas);
//! assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
//! // Four pairs for a batch of four, each a student level i + 1 and a teacher level i.
//! let pairs = ict.draw_pairs(&sigmas, 7, 0, 4)?;
//! let w = ict.pair_weights(&sigmas);
//! for &i in &pairs {
//!     assert!(sigmas[i] < sigmas[i + 1] && w[i] > 0.0);
//! }
//! // The distance, per sample: √(‖x − y‖² + c²) − c with c = 0.00054·√d.
//! let d = pseudo_huber(&[0.1f32, 0.2, 0.0, 0.0], &[0.0f32; 4], 2)?;
//! let c = 0.00054 * 2f64.sqrt();
//! assert!((d[0] - ((0.05f64 + c * c).sqrt() - c)).abs() < 1e-7 && d[1] == 0.0);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use crate::component::Decl;
use crate::error::{check_len, per_sample, GdfError, Result};
use crate::float::Real;
use crate::framework::Framework;
use crate::noise::{CounterRng, Purpose};
use crate::noise_cond::NoiseCond;
use crate::scaler::Scaler;
use crate::target::Target;
use rand::Rng;

/// The improved consistency training recipe's discretisation, pair distribution and weights
/// (Song & Dhariwal 2023), with its defaults from [`ImprovedCt::new`].
///
/// It (de)serialises with serde (a config file's section): a missing key takes the paper's
/// value, an unknown key is refused. [`ImprovedCt::check`] checks the values.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImprovedCt {
    /// The smallest σ (data units; 0.002).
    pub sigma_min: f64,
    /// The largest σ (80).
    pub sigma_max: f64,
    /// The Karras exponent (7).
    pub rho: f64,
    /// The data's standard deviation (0.5): the frame's unit.
    pub sigma_data: f64,
    /// The discretisation's count at the start, `s_0` (10).
    pub initial_levels: usize,
    /// Its count at the end, `s_1` (1280).
    pub final_levels: usize,
    /// The log-normal's mean of `ln σ` (−1.1).
    pub p_mean: f64,
    /// Its standard deviation (2.0).
    pub p_std: f64,
}

impl Default for ImprovedCt {
    fn default() -> Self {
        Self::new()
    }
}

impl ImprovedCt {
    /// The paper's settings: σ 0.002–80, ρ 7, σ_d 0.5, 10 to 1280 levels, log-normal
    /// (−1.1, 2.0).
    pub const fn new() -> Self {
        Self {
            sigma_min: 0.002,
            sigma_max: 80.0,
            rho: 7.0,
            sigma_data: 0.5,
            initial_levels: 10,
            final_levels: 1280,
            p_mean: -1.1,
            p_std: 2.0,
        }
    }

    /// Checks every field (they are public): a σ range `0 < min < max`, positive `rho`,
    /// `sigma_data` and `p_std`, a finite `p_mean`, `1 ≤ initial_levels ≤ final_levels`.
    pub fn check(&self) -> Result<()> {
        crate::grid::check_sigma_range(self.sigma_min, self.sigma_max)?;
        for (what, v) in [
            ("rho", self.rho),
            ("sigma_data", self.sigma_data),
            ("p_std", self.p_std),
        ] {
            crate::grid::check_pos(what, v)?;
        }
        if !self.p_mean.is_finite() {
            return Err(GdfError::OutOfRange {
                what: "p_mean",
                value: self.p_mean,
                expected: "a finite mean of ln σ",
            });
        }
        if !(1..=self.final_levels).contains(&self.initial_levels) {
            return Err(GdfError::OutOfRange {
                what: "initial_levels",
                value: self.initial_levels as f64,
                expected: "at least 1 and at most final_levels",
            });
        }
        Ok(())
    }

    /// The discretisation's size at training step `step` of `total`: `N(k) = min(s_0·2^⌊k/K'⌋,
    /// s_1) + 1` with `K' = ⌊K/(log₂⌊s_1/s_0⌋ + 1)⌋` (the count of σ's; `N − 1` pairs).
    ///
    /// Errors: the settings' ([`ImprovedCt::check`]); a `total` too small for the stages
    /// (`K' = 0`).
    pub fn num_levels(&self, step: usize, total: usize) -> Result<usize> {
        self.check()?;
        let stages = ((self.final_levels / self.initial_levels) as f64).log2() + 1.0;
        let k_prime = (total as f64 / stages).floor();
        if k_prime < 1.0 {
            return Err(GdfError::OutOfRange {
                what: "total training steps",
                value: total as f64,
                expected: "at least one step per doubling of the discretisation",
            });
        }
        let n = self.initial_levels as f64 * 2f64.powf((step as f64 / k_prime).floor());
        Ok(n.min(self.final_levels as f64) as usize + 1)
    }

    /// The `N(k)` Karras σ's at training step `step` of `total`, ascending from `sigma_min` to
    /// `sigma_max` (data units).
    ///
    /// Errors: as [`ImprovedCt::num_levels`].
    pub fn levels(&self, step: usize, total: usize) -> Result<Vec<f64>> {
        let n = self.num_levels(step, total)?;
        Ok(karras_ascending(
            self.sigma_min,
            self.sigma_max,
            self.rho,
            n,
        ))
    }

    /// The probability of each adjacent pair `(σ_i, σ_{i+1})` of `sigmas` (ascending): the
    /// log-normal `N(p_mean, p_std²)` mass of `ln σ` between them, normalised
    /// (`erf((ln σ_{i+1} − μ)/(√2·s)) − erf((ln σ_i − μ)/(√2·s))`, summed to 1).
    pub fn pair_probabilities(&self, sigmas: &[f64]) -> Vec<f64> {
        let s = core::f64::consts::SQRT_2 * self.p_std;
        let cdf = |v: f64| libm::erf((v.ln() - self.p_mean) / s);
        let mass: Vec<f64> = sigmas.windows(2).map(|w| cdf(w[1]) - cdf(w[0])).collect();
        let total: f64 = mass.iter().sum();
        mass.iter().map(|m| m / total).collect()
    }

    /// Draws a pair index `i` (student at `σ_{i+1}`, teacher at `σ_i`) for each of `batch`
    /// samples from [`ImprovedCt::pair_probabilities`], by inverse CDF on the counter
    /// generator's stream `(seed, Purpose::Time, first_sample + b)`: a sample's draw does not
    /// depend on the batch it sits in.
    ///
    /// Errors: fewer than two σ's, or σ's that do not increase.
    pub fn draw_pairs(
        &self,
        sigmas: &[f64],
        seed: u64,
        first_sample: u32,
        batch: usize,
    ) -> Result<Vec<usize>> {
        check_levels(sigmas)?;
        crate::noise::check_sample_counters(first_sample, batch)?;
        let p = self.pair_probabilities(sigmas);
        let mut cdf = Vec::with_capacity(p.len());
        let mut acc = 0.0;
        for v in &p {
            acc += v;
            cdf.push(acc);
        }
        Ok((0..batch)
            .map(|b| {
                let mut rng =
                    CounterRng::new(seed, Purpose::Time, first_sample.wrapping_add(b as u32), 0);
                let u = rng.random::<f64>() * acc;
                cdf.partition_point(|&c| c <= u).min(p.len() - 1)
            })
            .collect())
    }

    /// Each pair's loss weight `1/(σ_{i+1} − σ_i)` (data units).
    pub fn pair_weights(&self, sigmas: &[f64]) -> Vec<f64> {
        sigmas.windows(2).map(|w| 1.0 / (w[1] - w[0])).collect()
    }

    /// gdf's level of the data-unit `sigma` in the frame over `x0/σ_d`: `−2·ln(σ/σ_d)`.
    pub fn logsnr(&self, sigma: f64) -> f64 {
        crate::grid::ve_logsnr(sigma / self.sigma_data)
    }

    /// The network inputs of a training batch: for sample `b` with pair `pairs[b]`, the
    /// student's `x + σ_{i+1}·z` and the teacher's `x + σ_i·z` (the same `z = eps`, data units)
    /// in gdf's frame over `x0/σ_d`, which is what a consistency model sees
    /// (`(x + σ·z)/√(σ² + σ_d²)`), with both levels and the pair's weight.
    ///
    /// ```
    /// use gdf::consistency::ImprovedCt;
    /// let ict = ImprovedCt::new();
    /// let sigmas = ict.levels(0, 400_000)?; // 11 levels
    /// let p = ict.pair_inputs(&[0.5f64, -0.5], &[1.0, 1.0], 2, &[0, 9], &sigmas)?;
    /// let (s, sd) = (sigmas[10], 0.5);
    /// assert!((p.student[1] - (-0.5 + s) / (s * s + sd * sd).sqrt()).abs() < 1e-12);
    /// assert_eq!(p.student_logsnr[1], ict.logsnr(s));
    /// assert_eq!(p.weight[0], 1.0 / (sigmas[1] - sigmas[0]));
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    ///
    /// Errors: lengths that differ or do not divide into `batch` samples, one pair index per
    /// sample not given, an index without a next level, σ's that do not increase.
    pub fn pair_inputs<F: Real>(
        &self,
        x: &[F],
        eps: &[F],
        batch: usize,
        pairs: &[usize],
        sigmas: &[f64],
    ) -> Result<PairInputs<F>> {
        check_levels(sigmas)?;
        let per = per_sample("x", x.len(), batch)?;
        check_len("eps", x.len(), eps.len())?;
        check_len("pairs", batch, pairs.len())?;
        if let Some(&i) = pairs.iter().find(|&&i| i + 1 >= sigmas.len()) {
            return Err(GdfError::OutOfRange {
                what: "pair index",
                value: i as f64,
                expected: "an index with a next level (below the σ count − 1)",
            });
        }
        let sd = self.sigma_data;
        let noised = |s: f64, xs: &[F], zs: &[F], out: &mut Vec<F>| {
            let k = 1.0 / (s * s + sd * sd).sqrt();
            out.extend(
                xs.iter()
                    .zip(zs)
                    .map(|(&x, &z)| F::of((x.as_f64() + s * z.as_f64()) * k)),
            );
        };
        let mut p = PairInputs {
            student: Vec::with_capacity(x.len()),
            teacher: Vec::with_capacity(x.len()),
            student_logsnr: Vec::with_capacity(batch),
            teacher_logsnr: Vec::with_capacity(batch),
            weight: Vec::with_capacity(batch),
        };
        for ((xs, zs), &i) in x.chunks(per).zip(eps.chunks(per)).zip(pairs) {
            let (lo, hi) = (sigmas[i], sigmas[i + 1]);
            noised(hi, xs, zs, &mut p.student);
            noised(lo, xs, zs, &mut p.teacher);
            p.student_logsnr.push(self.logsnr(hi));
            p.teacher_logsnr.push(self.logsnr(lo));
            p.weight.push(1.0 / (hi - lo));
        }
        Ok(p)
    }
}

impl ImprovedCt {
    /// Errors unless `g` is the frame these inputs are made in: the VP scaler over
    /// `x0/σ_d` (`a = σ_d/√(σ² + σ_d²)`, `b = σ/√(σ² + σ_d²)` at [`ImprovedCt::logsnr`]`(σ)`)
    /// and a target whose x0 at `sigma_min` is `x/a` whatever the model outputs: the boundary
    /// condition `f(x, σ_min) = x` of [`Consistency`](crate::target::Consistency)`(sigma_min =
    /// σ_min/σ_d)`. Any other target (an `X0`, a `V`, a `Consistency` with another boundary)
    /// would train a model without it.
    pub fn check_framework<G: Framework>(&self, g: &G) -> Result<()> {
        self.check()?;
        check_frame(g, self.sigma_min, self.sigma_max, self.sigma_data)
    }

    /// One training step's batch, ready for the model: the step's levels
    /// ([`ImprovedCt::levels`]), each sample's pair ([`ImprovedCt::draw_pairs`] on the stream
    /// `(at.seed, Time, first_sample + b)`), its noise `z` (gdf's normals on
    /// `(at.seed, Epsilon, first_sample + b)`, as `diffuse` draws ε), the student's and
    /// teacher's inputs ([`ImprovedCt::pair_inputs`]) with their noise conds and the
    /// coefficients that turn the model's outputs into `x0/σ_d` through `g`'s target.
    /// [`CtBatch::loss`] is the step's loss from the two outputs.
    ///
    /// `x0` holds `batch` samples in data units, batch-major.
    ///
    /// ```
    /// use gdf::consistency::{CtStep, ImprovedCt};
    /// gdf::gdf!(Ct = schedule: EdmSample(sigma_range = [0.004, 160.0]), scaler: Vp,
    ///     target: Consistency(sigma_min = 0.004), noise_cond: Edm, loss_weight: Constant);
    /// let (g, ict) = (Ct::default(), ImprovedCt::new()); // σ_min/σ_d = 0.002/0.5
    /// let x0 = [0.3f32, -0.2, 0.5, 0.1]; // two samples of two values
    /// let at = CtStep { step: 0, total: 10_000, seed: 7, first_sample: 0 };
    /// let batch = ict.batch(&g, &x0, 2, at)?;
    /// assert_eq!(batch.levels, 11);
    /// // A model that knows the clean sample makes the student and the teacher agree.
    /// let oracle = |x: &[f32], c: &[[f64; 2]]| -> Vec<f32> {
    ///     x.iter().enumerate().map(|(j, &v)| {
    ///         let [cx, cp] = c[j / 2]; // at σ_min, cp = 0: the output does not count
    ///         if cp == 0.0 { 0.0 } else { ((f64::from(x0[j]) / 0.5 - cx * f64::from(v)) / cp) as f32 }
    ///     }).collect()
    /// };
    /// let s = oracle(&batch.inputs.student, &batch.student_x0);
    /// let t = oracle(&batch.inputs.teacher, &batch.teacher_x0);
    /// assert!(batch.loss(&s, &t)?.iter().all(|&l| l < 1e-5));
    /// // A framework without the boundary condition at σ_min is refused by name.
    /// gdf::gdf!(V = schedule: Cosine, scaler: Vp, target: V, noise_cond: Edm, loss_weight: Constant);
    /// let e = ict.batch(&V::default(), &x0, 2, at).unwrap_err();
    /// assert!(e.to_string().contains("Consistency(sigma_min = 0.004)"));
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    ///
    /// Errors: [`ImprovedCt::check_framework`]'s; `x0` not `batch` samples or not finite; the
    /// counters of `first_sample + batch` overflowing; a `total` too small
    /// ([`ImprovedCt::num_levels`]).
    pub fn batch<G: Framework, F: Real>(
        &self,
        g: &G,
        x0: &[F],
        batch: usize,
        at: CtStep,
    ) -> Result<CtBatch<F>> {
        self.check_framework(g)?;
        let per = per_sample("x0", x0.len(), batch)?;
        crate::error::check_finite("x0", x0)?;
        let sigmas = self.levels(at.step, at.total)?;
        let pairs = self.draw_pairs(&sigmas, at.seed, at.first_sample, batch)?;
        let z = draw_noise(at.seed, at.first_sample, per, x0.len());
        let inputs = self.pair_inputs(x0, &z, batch, &pairs, &sigmas)?;
        Ok(in_frame(g, inputs, pairs, sigmas.len(), self.sigma_data))
    }
}

/// Karras' `n` levels from `lo` to `hi` with exponent `rho`, ascending: k-diffusion's
/// ([`crate::grid::kdiffusion::Karras`]) reversed.
fn karras_ascending(lo: f64, hi: f64, rho: f64, n: usize) -> Vec<f64> {
    let mut sigmas = crate::grid::kdiffusion::karras_sigmas(lo, hi, rho, n);
    sigmas.reverse();
    sigmas
}

/// A batch's noise `z`: gdf's normals on `(seed, Epsilon, first_sample + b)`, as `diffuse`
/// draws ε.
fn draw_noise<F: Real>(seed: u64, first_sample: u32, per: usize, len: usize) -> Vec<F> {
    let mut z = vec![F::zero(); len];
    for (b, zs) in z.chunks_mut(per).enumerate() {
        let sample = first_sample.wrapping_add(b as u32);
        F::fill_normal(seed, Purpose::Epsilon, sample, 0, 0, zs);
    }
    z
}

/// The batch with `g`'s noise conds and x0 coefficients at the inputs' levels.
fn in_frame<G: Framework, F: Real>(
    g: &G,
    inputs: PairInputs<F>,
    pairs: Vec<usize>,
    levels: usize,
    sigma_data: f64,
) -> CtBatch<F> {
    let (t, nc) = (g.target(), g.noise_cond());
    let at_level = |lam: &[f64]| -> (Vec<F>, Vec<[f64; 2]>) {
        lam.iter()
            .map(|&l| {
                let (a, b) = g.scaler().ab(l);
                (
                    F::of(nc.noise_cond(l)),
                    [t.x0(1.0, 0.0, a, b), t.x0(0.0, 1.0, a, b)],
                )
            })
            .unzip()
    };
    let (student_cond, student_x0) = at_level(&inputs.student_logsnr);
    let (teacher_cond, teacher_x0) = at_level(&inputs.teacher_logsnr);
    CtBatch {
        levels,
        pairs,
        student_cond,
        teacher_cond,
        student_x0,
        teacher_x0,
        sigma_data,
        inputs,
    }
}

/// Errors unless `g` is the frame of consistency training and distillation with these
/// settings (see [`ImprovedCt::check_framework`]).
fn check_frame<G: Framework>(g: &G, sigma_min: f64, sigma_max: f64, sd: f64) -> Result<()> {
    g.target().check()?;
    g.noise_cond().check()?;
    let logsnr = |sigma: f64| crate::grid::ve_logsnr(sigma / sd);
    for sigma in [sigma_min, sd, sigma_max] {
        let (a, b) = g.scaler().ab(logsnr(sigma));
        let r = (sigma * sigma + sd * sd).sqrt();
        let (wa, wb) = (sd / r, sigma / r);
        if !((a - wa).abs() <= 1e-9 * wa && (b - wb).abs() <= 1e-9 * wb) {
            return Err(GdfError::Invalid {
                message: format!(
                    "consistency training's inputs are VP samples over x0/σ_d (σ_d = {sd}): \
                     at σ = {sigma} they need a = {wa}, b = {wb}, the framework's scaler `{}` \
                     gives a = {a}, b = {b}",
                    Decl(g.scaler())
                ),
            });
        }
    }
    let (a, b) = g.scaler().ab(logsnr(sigma_min));
    let t = g.target();
    let (cx, cp) = (t.x0(1.0, 0.0, a, b), t.x0(0.0, 1.0, a, b));
    if !(cp.abs() <= 1e-9 && (cx * a - 1.0).abs() <= 1e-9) {
        let e = sigma_min / sd;
        return Err(GdfError::Invalid {
            message: format!(
                "consistency training needs the boundary condition f(x, σ_min) = x at \
                 sigma_min = {sigma_min} (σ_min/σ_d = {e}): the target `Consistency(sigma_min = \
                 {e})`; the framework's target `{}` gives x0 = {cx}·x + {cp}·output there",
                Decl(t)
            ),
        });
    }
    Ok(())
}

/// Where a consistency-training batch sits in the run ([`ImprovedCt::batch`]): the step of
/// `total` (the discretisation's stage), the seed of the step's draws, and the counter of its
/// first sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtStep {
    /// The training step (0-based).
    pub step: usize,
    /// The run's total steps.
    pub total: usize,
    /// The seed of the step's pair and noise draws.
    pub seed: u64,
    /// The counter of the batch's first sample (a data-parallel rank's offset).
    pub first_sample: u32,
}

/// One consistency-training batch ([`ImprovedCt::batch`]): the model's inputs at both levels
/// and what turns its outputs into the loss.
#[derive(Clone, Debug, PartialEq)]
pub struct CtBatch<F> {
    /// The student's and teacher's inputs, levels and pair weights.
    pub inputs: PairInputs<F>,
    /// Each sample's pair index (student at `σ_{i+1}`, teacher at `σ_i`).
    pub pairs: Vec<usize>,
    /// The step's count of levels `N(k)`.
    pub levels: usize,
    /// The student's noise cond (the framework's, at its level), one per sample.
    pub student_cond: Vec<F>,
    /// The teacher's noise cond.
    pub teacher_cond: Vec<F>,
    /// Per sample `[c_x, c_p]`: the student's `x0/σ_d = c_x·x + c_p·output` (the framework's
    /// target at its level).
    pub student_x0: Vec<[f64; 2]>,
    /// The same for the teacher.
    pub teacher_x0: Vec<[f64; 2]>,
    /// σ_d, to measure the distance in data units.
    pub sigma_data: f64,
}

impl<F: Real> CtBatch<F> {
    /// The step's per-sample loss from the model's outputs on the student's and teacher's
    /// inputs: `w·d(σ_d·x̂0_student, σ_d·x̂0_teacher)` with `d` the [`pseudo_huber`] distance in
    /// data units and `w` the pair's weight. The trainer averages it and lets the gradient
    /// through the student only (the teacher is the stopped same network).
    ///
    /// Errors: outputs whose lengths are not the inputs'.
    pub fn loss(&self, student: &[F], teacher: &[F]) -> Result<Vec<f64>> {
        check_len("student output", self.inputs.student.len(), student.len())?;
        check_len("teacher output", self.inputs.teacher.len(), teacher.len())?;
        let batch = self.pairs.len();
        let per = per_sample("student output", student.len(), batch)?;
        let x0 = |xs: &[F], ps: &[F], c: &[[f64; 2]]| -> Vec<f64> {
            xs.iter()
                .zip(ps)
                .enumerate()
                .map(|(j, (&x, &p))| {
                    let [cx, cp] = c[j / per];
                    self.sigma_data * (cx * x.as_f64() + cp * p.as_f64())
                })
                .collect()
        };
        let s = x0(&self.inputs.student, student, &self.student_x0);
        let t = x0(&self.inputs.teacher, teacher, &self.teacher_x0);
        Ok(pseudo_huber(&s, &t, batch)?
            .into_iter()
            .zip(&self.inputs.weight)
            .map(|(d, w)| w * d)
            .collect())
    }
}

/// A consistency-training batch's network inputs ([`ImprovedCt::pair_inputs`]), batch-major.
#[derive(Clone, Debug, PartialEq)]
pub struct PairInputs<F> {
    /// The student's inputs, at the noisier level of each pair.
    pub student: Vec<F>,
    /// The teacher's inputs (the same noise), at the cleaner level.
    pub teacher: Vec<F>,
    /// Each sample's student level (gdf's logSNR in the frame over `x0/σ_d`).
    pub student_logsnr: Vec<f64>,
    /// Each sample's teacher level.
    pub teacher_logsnr: Vec<f64>,
    /// Each sample's loss weight `1/(σ_{i+1} − σ_i)`.
    pub weight: Vec<f64>,
}

/// Errors unless `sigmas` holds at least two increasing σ's.
fn check_levels(sigmas: &[f64]) -> Result<()> {
    if sigmas.len() < 2 || !sigmas.windows(2).all(|w| w[0] < w[1]) {
        return Err(GdfError::Invalid {
            message: format!(
                "consistency training needs at least two increasing σ's, got {} of them{}",
                sigmas.len(),
                if sigmas.len() < 2 {
                    ""
                } else {
                    " out of order"
                }
            ),
        });
    }
    Ok(())
}

/// The teacher's ODE step in [`Distillation`]: from the student's level `σ_{i+1}` down to
/// `σ_i` along the teacher's probability-flow ODE `dx/dσ = (x − D(x; σ))/σ`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeacherStep {
    /// Heun's second-order step (two teacher calls; the paper's choice, default).
    #[default]
    Heun,
    /// Euler's first-order step (one teacher call).
    Euler,
}

/// Consistency distillation (Song et al. 2023, Algorithm 2): the student at `σ_{i+1}` on
/// `x + σ_{i+1}·z` is fitted to the target network (a moving average of the student's
/// weights, [`Distillation::target_ema`]) at `σ_i` on the teacher's ODE step from there, over
/// a fixed Karras discretisation of `levels` σ's with the pair drawn uniformly.
/// A pretrained diffusion model is the teacher ([`Distillation::batch`] calls it as EDM's
/// denoiser `D(x; σ)` in data units). Defaults from [`Distillation::new`]; it (de)serialises
/// like [`ImprovedCt`].
///
/// ```
/// use gdf::consistency::{Distillation, TeacherStep};
/// let cd = Distillation::new();
/// assert_eq!((cd.levels, cd.step, cd.target_ema), (18, TeacherStep::Heun, 0.95));
/// let sigmas = cd.sigmas()?;
/// assert_eq!(sigmas.len(), 18);
/// assert!((sigmas[0] - 0.002).abs() < 1e-15 && (sigmas[17] - 80.0).abs() < 1e-12);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Distillation {
    /// The smallest σ (data units; 0.002).
    pub sigma_min: f64,
    /// The largest σ (80).
    pub sigma_max: f64,
    /// The Karras exponent (7).
    pub rho: f64,
    /// The data's standard deviation (0.5): the frame's unit.
    pub sigma_data: f64,
    /// The count of σ's `N` (18, the paper's CIFAR-10 setting; 40 for ImageNet 64).
    pub levels: usize,
    /// The teacher's ODE step (Heun).
    pub step: TeacherStep,
    /// The decay `μ` of the target network: the weights the batch's teacher input is
    /// evaluated with are a moving average of the student's, `θ⁻ ← μ·θ⁻ + (1 − μ)·θ` after
    /// every optimiser step, started at the student's initial weights (0.95, the value of
    /// every distillation run of openai/consistency_models; `0` is the stopped student
    /// itself). The batch does not depend on it: the training loop keeps the average and
    /// evaluates the teacher input's output with it.
    pub target_ema: f64,
}

impl Default for Distillation {
    fn default() -> Self {
        Self::new()
    }
}

impl Distillation {
    /// The paper's CIFAR-10 settings: σ 0.002–80, ρ 7, σ_d 0.5, 18 levels, Heun, and the
    /// target network's decay 0.95.
    pub const fn new() -> Self {
        Self {
            sigma_min: 0.002,
            sigma_max: 80.0,
            rho: 7.0,
            sigma_data: 0.5,
            levels: 18,
            step: TeacherStep::Heun,
            target_ema: 0.95,
        }
    }

    /// Checks every field: a σ range `0 < min < max`, positive `rho` and `sigma_data`, at
    /// least two levels, a `target_ema` in `[0, 1)`.
    pub fn check(&self) -> Result<()> {
        crate::grid::check_sigma_range(self.sigma_min, self.sigma_max)?;
        crate::grid::check_pos("rho", self.rho)?;
        crate::grid::check_pos("sigma_data", self.sigma_data)?;
        if !(0.0..1.0).contains(&self.target_ema) {
            return Err(GdfError::OutOfRange {
                what: "target_ema",
                value: self.target_ema,
                expected: "a decay in [0, 1) (0.95 as published; 0: the stopped student)",
            });
        }
        if self.levels < 2 {
            return Err(GdfError::OutOfRange {
                what: "levels",
                value: self.levels as f64,
                expected: "at least two σ's (one pair)",
            });
        }
        Ok(())
    }

    /// The `levels` Karras σ's, ascending from `sigma_min` to `sigma_max` (data units).
    ///
    /// Errors: the settings' ([`Distillation::check`]).
    pub fn sigmas(&self) -> Result<Vec<f64>> {
        self.check()?;
        Ok(karras_ascending(
            self.sigma_min,
            self.sigma_max,
            self.rho,
            self.levels,
        ))
    }

    /// Draws a pair index `i` (student at `σ_{i+1}`, teacher at `σ_i`), uniform over the
    /// `levels − 1` pairs, for each of `batch` samples, on the counter generator's stream
    /// `(seed, Purpose::Time, first_sample + b)`.
    ///
    /// Errors: the settings', the counters of `first_sample + batch` overflowing.
    pub fn draw_pairs(&self, seed: u64, first_sample: u32, batch: usize) -> Result<Vec<usize>> {
        self.check()?;
        crate::noise::check_sample_counters(first_sample, batch)?;
        let pairs = self.levels - 1;
        Ok((0..batch)
            .map(|b| {
                let mut rng =
                    CounterRng::new(seed, Purpose::Time, first_sample.wrapping_add(b as u32), 0);
                ((rng.random::<f64>() * pairs as f64) as usize).min(pairs - 1)
            })
            .collect())
    }

    /// Errors unless `g` is the frame the student is trained in (as
    /// [`ImprovedCt::check_framework`]: the `Vp` scaler over `x0/σ_d` and the target
    /// `Consistency(sigma_min = σ_min/σ_d)`).
    pub fn check_framework<G: Framework>(&self, g: &G) -> Result<()> {
        self.check()?;
        check_frame(g, self.sigma_min, self.sigma_max, self.sigma_data)
    }

    /// One distillation step's batch: each sample's pair ([`Distillation::draw_pairs`]), its
    /// noise `z` (gdf's normals on `(seed, Epsilon, first_sample + b)`), the student's
    /// `x + σ_{i+1}·z` and, as the teacher's input, the teacher's ODE step from there down
    /// to `σ_i` ([`TeacherStep`]), both in gdf's frame over `x0/σ_d`, with the noise conds and
    /// x0 coefficients of `g` and weight 1 (the paper's `λ(t_n) = 1`). [`CtBatch::loss`] is the
    /// step's loss from the student network's outputs on both inputs (the second stopped).
    ///
    /// `teacher(x, sigma, d)` is the pretrained model as EDM's denoiser in data units: `x` the
    /// batch's noised samples (data plus `σ` times noise), `sigma` each sample's σ, `d` its
    /// clean estimates to write. It is called once (Euler) or twice (Heun) on the whole batch.
    ///
    /// ```
    /// use gdf::consistency::Distillation;
    /// gdf::gdf!(Ct = schedule: EdmSample(sigma_range = [0.004, 160.0]), scaler: Vp,
    ///     target: Consistency(sigma_min = 0.004), noise_cond: Edm, loss_weight: Constant);
    /// let cd = Distillation::new();
    /// // Data that is the point 0.3: the teacher's denoiser knows it exactly, its ODE is a
    /// // straight line to it, and the teacher's input is the same noise at the lower level.
    /// let teacher = |_: &[f64], _: &[f64], d: &mut [f64]| -> gdf::Result<()> {
    ///     d.fill(0.3);
    ///     Ok(())
    /// };
    /// let b = cd.batch(&Ct::default(), &[0.3f64; 4], 2, 5, 0, teacher)?;
    /// let s = cd.sigmas()?;
    /// for k in 0..2 {
    ///     let (i, x) = (b.pairs[k], b.inputs.student[2 * k]);
    ///     let z = (x * (s[i + 1].powi(2) + 0.25).sqrt() - 0.3) / s[i + 1];
    ///     let want = (0.3 + s[i] * z) / (s[i] * s[i] + 0.25).sqrt();
    ///     assert!((b.inputs.teacher[2 * k] - want).abs() < 1e-12);
    /// }
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    ///
    /// Errors: [`Distillation::check_framework`]'s; `x0` not `batch` samples or not finite;
    /// the counters overflowing; the teacher's own errors, and a non-finite value in its output.
    pub fn batch<G: Framework, F: Real>(
        &self,
        g: &G,
        x0: &[F],
        batch: usize,
        seed: u64,
        first_sample: u32,
        mut teacher: impl FnMut(&[F], &[f64], &mut [F]) -> Result<()>,
    ) -> Result<CtBatch<F>> {
        self.check_framework(g)?;
        let per = per_sample("x0", x0.len(), batch)?;
        crate::error::check_finite("x0", x0)?;
        let sigmas = self.sigmas()?;
        let pairs = self.draw_pairs(seed, first_sample, batch)?;
        let z: Vec<F> = draw_noise(seed, first_sample, per, x0.len());
        let (hi, lo): (Vec<f64>, Vec<f64>) =
            pairs.iter().map(|&i| (sigmas[i + 1], sigmas[i])).unzip();
        let sample = |j: usize| j / per;
        // The student's sample x_s = x + σ_{i+1}·z (data units).
        let xs: Vec<f64> = x0
            .iter()
            .zip(&z)
            .enumerate()
            .map(|(j, (&x, &e))| x.as_f64() + hi[sample(j)] * e.as_f64())
            .collect();
        let mut d = vec![F::zero(); x0.len()];
        let mut denoise = |x: &[f64], sig: &[f64], d: &mut [F]| -> Result<Vec<f64>> {
            let xf: Vec<F> = x.iter().map(|&v| F::of(v)).collect();
            teacher(&xf, sig, d)?;
            crate::error::check_finite("teacher output", d)?;
            // The ODE's slope (x − D)/σ.
            Ok(x.iter()
                .zip(d.iter())
                .enumerate()
                .map(|(j, (&x, &dv))| (x - dv.as_f64()) / sig[sample(j)])
                .collect())
        };
        let d1 = denoise(&xs, &hi, &mut d)?;
        let step = |j: usize| lo[sample(j)] - hi[sample(j)];
        let euler: Vec<f64> = xs
            .iter()
            .zip(&d1)
            .enumerate()
            .map(|(j, (&x, &s))| x + step(j) * s)
            .collect();
        let xt = match self.step {
            TeacherStep::Euler => euler,
            TeacherStep::Heun => {
                let d2 = denoise(&euler, &lo, &mut d)?;
                xs.iter()
                    .zip(d1.iter().zip(&d2))
                    .enumerate()
                    .map(|(j, (&x, (&a, &b)))| x + step(j) * 0.5 * (a + b))
                    .collect()
            }
        };
        let sd = self.sigma_data;
        let frame = |v: &[f64], sig: &[f64]| -> Vec<F> {
            v.iter()
                .enumerate()
                .map(|(j, &x)| {
                    let s = sig[sample(j)];
                    F::of(x / (s * s + sd * sd).sqrt())
                })
                .collect()
        };
        let logsnr = |s: &[f64]| s.iter().map(|&v| crate::grid::ve_logsnr(v / sd)).collect();
        let inputs = PairInputs {
            student: frame(&xs, &hi),
            teacher: frame(&xt, &lo),
            student_logsnr: logsnr(&hi),
            teacher_logsnr: logsnr(&lo),
            weight: vec![1.0; batch],
        };
        Ok(in_frame(g, inputs, pairs, sigmas.len(), sd))
    }
}

/// The original recipe's discretisation size at training step `step` of `total` (Song et al.
/// 2023): `N(k) = ⌈√(k/K·((s_1 + 1)² − s_0²) + s_0²) − 1⌉ + 1` (its defaults `s_0 = 2`,
/// `s_1 = 150`).
///
/// Errors: `total = 0`, or `s_0` not in `1..=s_1`.
pub fn ct_num_levels(step: usize, total: usize, s0: usize, s1: usize) -> Result<usize> {
    if total == 0 || !(1..=s1).contains(&s0) {
        return Err(GdfError::OutOfRange {
            what: if total == 0 {
                "total training steps"
            } else {
                "initial_levels"
            },
            value: if total == 0 { 0.0 } else { s0 as f64 },
            expected: "positive, and initial levels at most the final",
        });
    }
    let (s0, s1) = (s0 as f64, s1 as f64);
    let span = (s1 + 1.0).powi(2) - s0 * s0;
    let n = (step as f64 * span / total as f64 + s0 * s0).sqrt() - 1.0;
    Ok(n.ceil() as usize + 1)
}

/// The original recipe's EMA decay of the target network for a discretisation of `n` levels:
/// `μ(k) = exp(s_0·ln μ_0 / N(k))` (its defaults `μ_0 = 0.95`, `s_0 = 2`).
///
/// Errors: `n = 0`, or `mu0` outside `(0, 1)`.
pub fn ct_ema_decay(n: usize, mu0: f64, s0: usize) -> Result<f64> {
    if n == 0 || !(mu0 > 0.0 && mu0 < 1.0) {
        return Err(GdfError::OutOfRange {
            what: if n == 0 { "levels" } else { "mu0" },
            value: if n == 0 { 0.0 } else { mu0 },
            expected: "at least one level, and an initial decay in (0, 1)",
        });
    }
    Ok((s0 as f64 * mu0.ln() / n as f64).exp())
}

/// The pseudo-Huber distance of the improved recipe, per sample: `√(‖x − y‖² + c²) − c` with
/// `c = 0.00054·√d`, `d` the elements per sample (`x`, `y` of `batch` samples, batch-major).
///
/// Errors: lengths that differ or do not divide into `batch` samples.
pub fn pseudo_huber<F: Real>(x: &[F], y: &[F], batch: usize) -> Result<Vec<f64>> {
    let per = per_sample("x", x.len(), batch)?;
    check_len("y", x.len(), y.len())?;
    let c = 0.00054 * (per as f64).sqrt();
    Ok(x.chunks(per)
        .zip(y.chunks(per))
        .map(|(xs, ys)| {
            let s: f64 = xs
                .iter()
                .zip(ys)
                .map(|(&a, &b)| {
                    let d = a.as_f64() - b.as_f64();
                    d * d
                })
                .sum();
            (s + c * c).sqrt() - c
        })
        .collect())
}
