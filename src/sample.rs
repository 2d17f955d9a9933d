//! Sampling: the guided sampling loop as a step-by-step driver (SPEC §7).

use crate::error::{check_finite, GdfError, Result};
use crate::float::Real;
use crate::schedule::Schedule;

/// The sampling grid: `r = linspace(t_start, t_end, timesteps + 1)` and
/// `λ_i = schedule(r_i, shift)` (limits apply). Returns `(r, λ)`, both of length
/// `timesteps + 1`.
///
/// Errors: `timesteps == 0`, non-finite `t_start`/`t_end`/`shift`, `t_start < t_end` (a grid
/// running towards noise: the samplers' steps are only defined from a noisier level to a
/// cleaner one), a training-only schedule.
///
/// ```
/// use gdf::schedule::Cosine;
/// let (r, l) = gdf::sample::sampling_grid(&<Cosine>::new(), 4, 1.0f64, 0.0, 1.0)?;
/// assert_eq!(r, vec![1.0, 0.75, 0.5, 0.25, 0.0]);
/// assert_eq!(l[0], -9.21024036697585);
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub fn sampling_grid<S: Schedule, F: Real>(
    schedule: &S,
    timesteps: usize,
    t_start: F,
    t_end: F,
    shift: F,
) -> Result<(Vec<F>, Vec<F>)> {
    crate::grid::check_count("timesteps", timesteps)?;
    schedule.check()?;
    check_finite("t_start", &[t_start])?;
    check_finite("t_end", &[t_end])?;
    if t_start < t_end {
        return Err(GdfError::OutOfRange {
            what: "t_start",
            value: t_start.as_f64(),
            expected: "at least t_end: sampling runs from noise (t_start, default 1) towards \
                       data (t_end, default 0), and the samplers' steps are not defined towards \
                       more noise; to noise data use `Gdf::diffuse`",
        });
    }
    let r = crate::float::linspace(t_start, t_end, timesteps + 1);
    let mut l = vec![F::zero(); r.len()];
    schedule.logsnr_into(&r, shift, &mut l)?;
    Ok((r, l))
}

use crate::error::{check_len, per_sample};
use crate::guide::formula as guide;

/// Refuses a rescale strength outside `[0, 1]` (and NaN or infinity).
/// A rescale (`cfg_rho > 0`) divides by an unbiased std, `Σ(x − mean)²/(count − 1)`: over
/// one value (`batch × per = 1`, or `per = 1` per sample) that is 0/0, and every sample would
/// be NaN (the original gives NaN there too). An error naming `cfg_rho` instead.
pub(crate) fn check_rescale_count(rho: f64, batch: usize, per: usize, how: Rescale) -> Result<()> {
    let count = match how {
        Rescale::Batch => batch.saturating_mul(per),
        Rescale::PerSample => per,
    };
    if count < 2 {
        return Err(GdfError::OutOfRange {
            what: "cfg_rho",
            value: rho,
            expected: "0 when the rescale's standard deviation covers one value \
                       (batch × per = 1, or per = 1 with Rescale::PerSample): the \
                       unbiased std of one value is 0/0",
        });
    }
    Ok(())
}

pub(crate) fn check_cfg_rho(rho: f64) -> Result<()> {
    if !rho.is_finite() {
        return Err(GdfError::NonFinite {
            what: "cfg_rho",
            index: 0,
            value: rho,
        });
    }
    if !(0.0..=1.0).contains(&rho) {
        return Err(GdfError::OutOfRange {
            what: "cfg_rho",
            value: rho,
            expected: "a rescale strength in [0, 1] (0 = off, 1 = fully rescaled)",
        });
    }
    Ok(())
}
use crate::framework::Gdf;
use crate::konst::Param;
use crate::loss_weight::LossWeight;
use crate::noise::Purpose;
use crate::noise_cond::NoiseCond;
use crate::par::{Jobs, RawMut};
use crate::sampler::Sampler;
use crate::scaler::Scaler;
use crate::target::Target;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// The classifier-free guidance scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cfg<F> {
    /// No guidance: the model sees the conditional inputs only.
    Off,
    /// A constant scale `g`.
    Scale(F),
    /// A scale moving with `t`: `g = start·t + end·(1 − t)` (the original's pair form).
    Ramp(F, F),
}

/// How `cfg_rho` measures the standard deviations it rescales with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Rescale {
    /// The unbiased standard deviation over the whole batch tensor (the original).
    #[default]
    Batch,
    /// The unbiased standard deviation of each sample separately.
    PerSample,
}

/// Options of [`Gdf::sample`] (the original's keyword arguments).
#[derive(Clone, Copy, Debug)]
pub struct SampleOpts<'a, F> {
    /// Number of steps. Default 20.
    pub timesteps: usize,
    /// First `t` of the grid. Default 1.
    pub t_start: F,
    /// Last `t` of the grid. Default 0.
    pub t_end: F,
    /// Schedule shift. Default 1.
    pub shift: F,
    /// The initial `x` (copied); standard normal noise (`Purpose::Init`) if `None`.
    pub x_init: Option<&'a [F]>,
    /// Guidance scale. Default `Scale(3)`.
    pub cfg: Cfg<F>,
    /// Guidance only while `t ≤ cfg_t_start`.
    pub cfg_t_start: Option<F>,
    /// Guidance only while `t ≥ cfg_t_stop`.
    pub cfg_t_stop: Option<F>,
    /// Rescale strength ρ (0 = off). Default 0.7.
    pub cfg_rho: F,
    /// How the rescale measures standard deviations. Default [`Rescale::Batch`].
    pub rescale: Rescale,
    /// Seed of the initial noise and the samplers' noise.
    pub seed: u64,
    /// Counter index of the batch's first sample (see [`crate::framework::DiffuseArgs`]).
    pub first_sample: u32,
    /// Recorded sampler noise, `[timesteps, B, …]`, used instead of the counter noise (to
    /// replay a run of another implementation).
    pub noise: Option<&'a [F]>,
    /// Check every model prediction for NaN or infinity and stop with
    /// [`GdfError::ModelOutput`] (naming the step, the branch and the first bad sample)
    /// instead of carrying NaN into the samples. Costs one extra read of the model's output
    /// per step (`2·B·per` values with guidance), about a fifth of a step's memory traffic.
    /// Default `false`.
    pub check_predictions: bool,
}

impl<F: Real> Default for SampleOpts<'_, F> {
    fn default() -> Self {
        Self {
            timesteps: 20,
            t_start: F::one(),
            t_end: F::zero(),
            shift: F::one(),
            x_init: None,
            cfg: Cfg::Scale(F::of(3.0)),
            cfg_t_start: None,
            cfg_t_stop: None,
            cfg_rho: F::of(0.7),
            rescale: Rescale::Batch,
            seed: 0,
            first_sample: 0,
            noise: None,
            check_predictions: false,
        }
    }
}

/// The denoising model, over plain slices: given the noised `x` (`n·k` elements for a batch
/// of `n`), the per-sample noise cond (`n` values) and the model inputs (`n·m` elements),
/// write the prediction (same length as `x`), or fail.
///
/// With guidance the batch is doubled: `x = [x; x]`, noise cond `[c; c]`, inputs
/// `[cond; uncond]`, and the first half of the prediction is the conditional one.
///
/// Any closure `FnMut(&[F], &[F], &[F], &mut [F])` is a model that cannot fail, and any
/// closure of the same arguments returning `Result<(), E>` (`E: std::error::Error`) is one
/// that can: a burn or candle forward pass that returns an error, a model behind a channel.
/// A sampling loop stops at the first error and returns [`GdfError::Model`] naming the step
/// and the error's message; the model never has to panic. A type of yours implements the
/// trait directly (`type Error = core::convert::Infallible` if it cannot fail).
///
/// ```
/// use gdf::prelude::*;
/// use gdf::framework::Gdf;
/// use gdf::sample::{Cfg, SampleOpts};
/// use gdf::{loss_weight::P2, noise_cond::CosineT, scaler::Vp, schedule::Cosine, target::Epsilon};
///
/// let gdf: Gdf<Cosine, Vp, Epsilon, CosineT, P2> = Gdf::default();
/// let opts = SampleOpts { timesteps: 10, cfg: Cfg::Off, ..Default::default() };
///
/// // A model that cannot fail: predicts zero noise.
/// let zero = |_x: &[f32], _c: &[f32], _i: &[f32], pred: &mut [f32]| pred.fill(0.0);
/// assert_eq!(gdf.sample(zero, <sampler::Ddim>::new(), &[], None, 2, 4, opts)?.run()?.len(), 8);
///
/// // A model that fails on its third call.
/// let mut calls = 0;
/// let flaky = |_x: &[f32], _c: &[f32], _i: &[f32], pred: &mut [f32]| {
///     calls += 1;
///     if calls == 3 {
///         return Err(std::io::Error::other("device lost"));
///     }
///     pred.fill(0.0);
///     Ok(())
/// };
/// let err = gdf.sample(flaky, <sampler::Ddim>::new(), &[], None, 2, 4, opts)?.run().unwrap_err();
/// assert_eq!(err.to_string(), "the model failed at step 2: device lost");
/// # Ok::<(), gdf::GdfError>(())
/// ```
pub trait Model<F> {
    /// The model's error ([`core::convert::Infallible`] for a model that cannot fail).
    type Error: std::error::Error;
    /// Writes the prediction into `pred`, or fails.
    fn predict(
        &mut self,
        x: &[F],
        noise_cond: &[F],
        inputs: &[F],
        pred: &mut [F],
    ) -> core::result::Result<(), Self::Error>;
}

/// What a model closure returns: `()` (it cannot fail) or `Result<(), E>`.
pub trait ModelOutcome {
    /// The error (`Infallible` for `()`).
    type Error: std::error::Error;
    /// As a `Result`.
    fn into_result(self) -> core::result::Result<(), Self::Error>;
}

impl ModelOutcome for () {
    type Error = core::convert::Infallible;
    fn into_result(self) -> core::result::Result<(), Self::Error> {
        Ok(())
    }
}

impl<E: std::error::Error> ModelOutcome for core::result::Result<(), E> {
    type Error = E;
    fn into_result(self) -> core::result::Result<(), E> {
        self
    }
}

impl<F, R: ModelOutcome, M: FnMut(&[F], &[F], &[F], &mut [F]) -> R> Model<F> for M {
    type Error = R::Error;
    fn predict(
        &mut self,
        x: &[F],
        noise_cond: &[F],
        inputs: &[F],
        pred: &mut [F],
    ) -> core::result::Result<(), R::Error> {
        self(x, noise_cond, inputs, pred).into_result()
    }
}

/// Calls `model` for sampling step `step`, turning its error into [`GdfError::Model`].
pub(crate) fn call_model<F, M: Model<F>>(
    model: &mut M,
    step: usize,
    x: &[F],
    noise_cond: &[F],
    inputs: &[F],
    pred: &mut [F],
) -> Result<()> {
    model
        .predict(x, noise_cond, inputs, pred)
        .map_err(|e| GdfError::Model {
            step,
            message: e.to_string(),
        })
}

/// Batches of fewer elements than this take a sampling step's memory-bound passes (the
/// rescale statistics, the fused update) on the calling thread alone: their data is in that
/// core's cache after the model call, and on the 2-vCPU VM of `docs/speed-host.md` moving
/// half of it to a second core cost more than the second core saved (8×16×24×24 without
/// noise: 56 µs on one core, 73 µs on two; at 131 072 elements the two are even).
const ONE_CORE: usize = 1 << 17;

/// Batches of fewer elements than this, with the noise drawn ahead, start the fused pass as
/// soon as the model is done, alongside the helpers still drawing (see [`Ahead`]): the
/// caller's memory-bound pass then runs beside the helpers' compute-bound noise. Larger
/// ones let everyone finish the noise first, then share the fused pass in contiguous
/// shares: once the step's data (about 20 bytes per element) no longer sits in the cache,
/// one core alone cannot stream it fast enough. On the VM of `docs/speed-host.md` (32 MiB
/// L3), per guided DDPM step with rescale, pipelined against not, tenth percentiles of
/// blocks of 50 steps: 8×49 152 elements 310 against 328 µs, 8×65 536 416 against 433 µs,
/// 8×98 304 658 against 670 µs, 8×114 688 796–829 against 789–803 µs, 8×131 072 940–984
/// against 905–986 µs, 8×196 608 2.5 against 1.8–2.2 ms. With a helper on a slowed core
/// the pipelined step also degrades less (8×81 920: 880 against 1 180–1 230 µs).
const PIPELINE: usize = 3 << 18;

/// Where a job's noise stands in a step whose noise the helper threads draw ahead into the
/// run's `z`, while the caller runs the model.
///
/// Helpers take jobs from the front, in order (`FREE` → `DRAWING` → `DRAWN`). Once the
/// model output and the rescale factors are written, the caller (below [`PIPELINE`]
/// elements) goes through the jobs from the front, passing over each one the helpers have
/// drawn; when the next one is not drawn yet, it takes the last job no helper has taken
/// (`FREE` → `MINE`) and passes over that one instead, drawing its noise itself. Once they
/// have met, a job still being drawn is drawn by the caller too rather than waited for (the
/// noise is a function of its counter, so both get the same numbers). Every transition is
/// one compare-exchange on the job's state, so each job is passed over once, and which
/// thread draws its noise does not change a bit of the result.
struct Ahead;

impl Ahead {
    /// Not taken yet.
    const FREE: u8 = 0;
    /// A helper is drawing it.
    const DRAWING: u8 = 1;
    /// Drawn into `z`.
    const DRAWN: u8 = 2;
    /// The caller took it, to draw its noise inside the fused pass.
    const MINE: u8 = 3;

    /// Takes a free job for `who`; `false` when someone else has it.
    fn claim(state: &AtomicU8, who: u8) -> bool {
        state
            .compare_exchange(Self::FREE, who, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }
}

/// The rescale factors `rho·std(pc)/std(cfg)` from the step's partial moments (one per job
/// of `jobs`, as [`Real::moments`] sums them), over the whole batch or per sample: the
/// framework's sampling step and the solvers' `feed_cfg_rescaled` both take them from here.
pub(crate) fn rescale_factors<F: Real>(
    partials: &[[f64; 4]],
    factor: &mut [F],
    kind: Rescale,
    rho: F,
    jobs: Jobs,
) {
    let std = |s: f64, s2: f64, cnt: f64| ((s2 - s * s / cnt) / (cnt - 1.0)).max(0.0).sqrt();
    let ratio = |acc: [f64; 4], cnt: f64| {
        F::of(std(acc[0], acc[1], cnt)) / (F::of(std(acc[2], acc[3], cnt)) + F::of(1e-9))
    };
    let total = |part: &[[f64; 4]]| {
        part.iter().fold([0.0; 4], |a, p| {
            [a[0] + p[0], a[1] + p[1], a[2] + p[2], a[3] + p[3]]
        })
    };
    match kind {
        Rescale::Batch => {
            let n = (jobs.batch * jobs.per) as f64;
            factor.fill(rho * ratio(total(partials), n));
        }
        Rescale::PerSample => {
            for (s, f) in factor.iter_mut().enumerate() {
                let part = &partials[s * jobs.per_sample..(s + 1) * jobs.per_sample];
                *f = rho * ratio(total(part), jobs.per as f64);
            }
        }
    }
}

/// What one sampling step yields: the original's `(x0, x, pred)` plus where it was.
#[derive(Debug)]
pub struct Step<'s, F> {
    /// Step index (0-based).
    pub index: usize,
    /// `t` of the step (the grid point the step started from).
    pub t: F,
    /// logSNR the step started from.
    pub logsnr: F,
    /// The noise cond the model got (one value, the same for every sample).
    pub noise_cond: F,
    /// Whether guidance was applied.
    pub guided: bool,
    /// The batch size the model was called with (2B with guidance, B without).
    pub model_batch: usize,
    /// The predicted clean sample.
    pub x0: &'s [F],
    /// The new `x` (after the sampler step).
    pub x: &'s [F],
    /// The (guided, rescaled) prediction.
    pub pred: &'s [F],
}

/// A sampling run in progress: call [`Sampling::next_step`] until it returns `None`.
/// Between steps the public fields (guidance, sampler) and the buffers behind
/// [`Sampling::x_mut`], [`Sampling::cond_mut`], [`Sampling::uncond_mut`] may be changed,
/// like values sent into the original's generator. All buffers are allocated when the run
/// is created; steps do not allocate.
pub struct Sampling<'a, F, Sc, T, N, Sm, M> {
    scaler: Sc,
    target: T,
    noise_cond: N,
    /// The sampler of the next steps.
    pub sampler: Sm,
    model: M,
    /// Guidance scale of the next steps.
    pub cfg: Cfg<F>,
    /// Guidance only while `t ≤ cfg_t_start`.
    pub cfg_t_start: Option<F>,
    /// Guidance only while `t ≥ cfg_t_stop`.
    pub cfg_t_stop: Option<F>,
    /// Rescale strength of the next steps.
    pub cfg_rho: F,
    /// How the rescale measures standard deviations.
    pub rescale: Rescale,
    /// Whether each model prediction is checked for NaN/inf (see
    /// [`SampleOpts::check_predictions`]).
    pub check_predictions: bool,
    batch: usize,
    per: usize,
    cond_per: usize,
    r: Vec<F>,
    logsnr: Vec<F>,
    step: usize,
    seed: u64,
    first_sample: u32,
    noise: Option<&'a [F]>,
    /// `x` in the first half; the second half holds a copy when `mirror` is set, so a guided
    /// step hands the model `[x; x]` without copying.
    xx: Vec<F>,
    mirror: bool,
    x0: Vec<F>,
    pred: Vec<F>,
    out: Vec<F>,
    nc: Vec<F>,
    inputs: Vec<F>,
    partials: Vec<[f64; 4]>,
    factor: Vec<F>,
    /// A step's noise drawn ahead by the helper threads, and where each job's noise stands
    /// (both empty without helpers).
    z: Vec<F>,
    ahead: Vec<AtomicU8>,
}

impl<S, Sc, T, N, L, O> Gdf<S, Sc, T, N, L, O>
where
    S: Schedule,
    Sc: Scaler,
    T: Target,
    N: NoiseCond,
    L: LossWeight,
    O: Param,
{
    /// Starts a sampling run over the training schedule (the original's `sample`): a batch
    /// of `batch` samples of `per` elements each, conditional model inputs `cond` (`batch·m`
    /// elements, `m` may be 0) and unconditional inputs `uncond` (same length; zeros if
    /// `None`).
    ///
    /// Errors: an empty batch, `per == 0`, a `batch × per` (or, with recorded noise,
    /// `timesteps × batch × per`) past `usize`, `cond`/`uncond`/`x_init`/`noise` lengths that
    /// do not match, a NaN or infinite value in `x_init` or `noise`, `timesteps == 0`, a
    /// non-finite guidance scale, `t_start`, `t_end` or `cfg_rho`, a sampler setting out of
    /// range ([`Sampler::check`]: DDIM's η negative or not finite), a `cfg_rho > 0` whose
    /// rescale std would cover one value (`batch × per = 1`, or `per = 1` with
    /// [`Rescale::PerSample`]), a training-only schedule. A `cfg_t_stop` above `cfg_t_start`
    /// is a window that guides no step, as in the original: the run is unguided.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// use gdf::framework::Gdf;
    /// use gdf::sample::{Cfg, SampleOpts};
    /// use gdf::{loss_weight::P2, noise_cond::CosineT, scaler::Vp, schedule::Cosine, target::Epsilon};
    ///
    /// let gdf: Gdf<Cosine, Vp, Epsilon, CosineT, P2> = Gdf::default();
    /// // A "model" predicting zero noise, so x0 = x / a.
    /// let model = |_x: &[f32], _c: &[f32], _inp: &[f32], pred: &mut [f32]| pred.fill(0.0);
    /// let opts = SampleOpts { timesteps: 10, cfg: Cfg::Off, seed: 1, ..Default::default() };
    /// let mut run = gdf.sample(model, <sampler::Ddim>::new(), &[], None, 4, 8, opts)?;
    /// while let Some(step) = run.next_step()? {
    ///     assert_eq!(step.x.len(), 32);
    /// }
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn sample<'a, F: Real, Sm: Sampler, M: Model<F>>(
        &self,
        model: M,
        sampler: Sm,
        cond: &'a [F],
        uncond: Option<&'a [F]>,
        batch: usize,
        per: usize,
        opts: SampleOpts<'a, F>,
    ) -> Result<Sampling<'a, F, Sc, T, N, Sm, M>> {
        self.sample_with(
            &self.schedule,
            model,
            sampler,
            cond,
            uncond,
            batch,
            per,
            opts,
        )
    }

    /// [`sample`](Gdf::sample) over another sampling schedule.
    #[allow(clippy::too_many_arguments)]
    pub fn sample_with<'a, F: Real, Ss: Schedule, Sm: Sampler, M: Model<F>>(
        &self,
        schedule: &Ss,
        model: M,
        sampler: Sm,
        cond: &'a [F],
        uncond: Option<&'a [F]>,
        batch: usize,
        per: usize,
        opts: SampleOpts<'a, F>,
    ) -> Result<Sampling<'a, F, Sc, T, N, Sm, M>> {
        let total = batch.checked_mul(per).ok_or(GdfError::OutOfRange {
            what: "batch × per",
            value: batch as f64 * per as f64,
            expected: "a sample count that fits in memory (usize)",
        })?;
        let n = batch * per_sample("batch × per", total, batch)?;
        let cond_per = if cond.is_empty() {
            0
        } else {
            per_sample("cond", cond.len(), batch)?
        };
        if let Some(u) = uncond {
            check_len("uncond", cond.len(), u.len())?;
        }
        crate::noise::check_sample_counters(opts.first_sample, batch)?;
        if let Some(x) = opts.x_init {
            check_len("x_init", n, x.len())?;
            check_finite("x_init", x)?;
        }
        if let Some(z) = opts.noise {
            let want = opts.timesteps.checked_mul(n).ok_or(GdfError::OutOfRange {
                what: "timesteps × batch × per (recorded noise)",
                value: opts.timesteps as f64 * n as f64,
                expected: "a noise length that fits in memory (usize)",
            })?;
            check_len("noise", want, z.len())?;
            check_finite("noise", z)?;
        }
        let (r, logsnr) = sampling_grid(
            schedule,
            opts.timesteps,
            opts.t_start,
            opts.t_end,
            opts.shift,
        )?;
        self.noise_cond.check()?;
        self.target.check()?;
        let mut inputs = Vec::with_capacity(2 * cond.len());
        inputs.extend_from_slice(cond);
        match uncond {
            Some(u) => inputs.extend_from_slice(u),
            None => inputs.resize(2 * cond.len(), F::zero()),
        }
        let mut xx = vec![F::zero(); 2 * n];
        match opts.x_init {
            Some(init) => xx[..n].copy_from_slice(init),
            None => {
                for (b, xs) in xx[..n].chunks_mut(per).enumerate() {
                    F::fill_normal(
                        opts.seed,
                        Purpose::Init,
                        opts.first_sample.wrapping_add(b as u32),
                        0,
                        0,
                        xs,
                    );
                }
            }
        }
        let jobs = Jobs::new(batch, per);
        // The buffers of the noise drawn ahead, only where there are helpers to draw it.
        let helpers = crate::team::helpers() > 0;
        let run = Sampling {
            scaler: self.scaler.clone(),
            target: self.target.clone(),
            noise_cond: self.noise_cond.clone(),
            sampler,
            model,
            cfg: opts.cfg,
            cfg_t_start: opts.cfg_t_start,
            cfg_t_stop: opts.cfg_t_stop,
            cfg_rho: opts.cfg_rho,
            rescale: opts.rescale,
            check_predictions: opts.check_predictions,
            batch,
            per,
            cond_per,
            r,
            logsnr,
            step: 0,
            seed: opts.seed,
            first_sample: opts.first_sample,
            noise: opts.noise,
            xx,
            mirror: false,
            x0: vec![F::zero(); n],
            pred: vec![F::zero(); n],
            out: vec![F::zero(); 2 * n],
            nc: vec![F::zero(); 2 * batch],
            inputs,
            partials: vec![[0.0; 4]; jobs.count()],
            factor: vec![F::zero(); batch],
            z: vec![F::zero(); if helpers { n } else { 0 }],
            ahead: (0..if helpers { jobs.count() } else { 0 })
                .map(|_| AtomicU8::new(Ahead::FREE))
                .collect(),
        };
        run.check_settings()?;
        Ok(run)
    }
}

impl<'a, F, Sc, T, N, Sm, M> Sampling<'a, F, Sc, T, N, Sm, M>
where
    F: Real,
    Sc: Scaler,
    T: Target,
    N: NoiseCond,
    Sm: Sampler,
    M: Model<F>,
{
    fn check_settings(&self) -> Result<()> {
        self.sampler.check()?;
        match self.cfg {
            Cfg::Off => {}
            Cfg::Scale(g) => check_finite("cfg", &[g])?,
            Cfg::Ramp(a, b) => check_finite("cfg", &[a, b])?,
        }
        check_cfg_rho(self.cfg_rho.as_f64())?;
        if !matches!(self.cfg, Cfg::Off) && self.cfg_rho > F::zero() {
            check_rescale_count(self.cfg_rho.as_f64(), self.batch, self.per, self.rescale)?;
        }
        for v in [self.cfg_t_start, self.cfg_t_stop].into_iter().flatten() {
            check_finite("cfg_t_start / cfg_t_stop", &[v])?;
        }
        Ok(())
    }

    /// The `t` grid (`timesteps + 1` values).
    pub fn t_grid(&self) -> &[F] {
        &self.r
    }

    /// The logSNR grid (`timesteps + 1` values).
    pub fn logsnr_grid(&self) -> &[F] {
        &self.logsnr
    }

    /// The current `x` (the initial noise before the first step).
    pub fn x(&self) -> &[F] {
        &self.xx[..self.batch * self.per]
    }

    /// The current `x`, to change before the next step.
    pub fn x_mut(&mut self) -> &mut [F] {
        self.mirror = false;
        let n = self.batch * self.per;
        &mut self.xx[..n]
    }

    /// The conditional model inputs, to change before the next step.
    pub fn cond_mut(&mut self) -> &mut [F] {
        let m = self.batch * self.cond_per;
        &mut self.inputs[..m]
    }

    /// The unconditional model inputs, to change before the next step.
    pub fn uncond_mut(&mut self) -> &mut [F] {
        let m = self.batch * self.cond_per;
        &mut self.inputs[m..]
    }

    /// The number of steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Continues the run with another sampler.
    pub fn with_sampler<Sm2: Sampler>(self, sampler: Sm2) -> Sampling<'a, F, Sc, T, N, Sm2, M> {
        Sampling {
            scaler: self.scaler,
            target: self.target,
            noise_cond: self.noise_cond,
            sampler,
            model: self.model,
            cfg: self.cfg,
            cfg_t_start: self.cfg_t_start,
            cfg_t_stop: self.cfg_t_stop,
            cfg_rho: self.cfg_rho,
            rescale: self.rescale,
            check_predictions: self.check_predictions,
            batch: self.batch,
            per: self.per,
            cond_per: self.cond_per,
            r: self.r,
            logsnr: self.logsnr,
            step: self.step,
            seed: self.seed,
            first_sample: self.first_sample,
            noise: self.noise,
            xx: self.xx,
            mirror: self.mirror,
            x0: self.x0,
            pred: self.pred,
            out: self.out,
            nc: self.nc,
            inputs: self.inputs,
            partials: self.partials,
            factor: self.factor,
            z: self.z,
            ahead: self.ahead,
        }
    }

    /// Runs every remaining step and returns the final `x`.
    pub fn run(mut self) -> Result<Vec<F>> {
        while self.advance()? {}
        let mut x = self.xx;
        x.truncate(self.batch * self.per);
        Ok(x)
    }

    /// Takes one step; `None` once all steps are done.
    ///
    /// Errors: a guidance setting changed to a non-finite value, a sampler setting out of
    /// range ([`Sampler::check`]), a `cfg_rho` out of `[0, 1]`
    /// or above 0 where the rescale's std covers one value.
    pub fn next_step(&mut self) -> Result<Option<Step<'_, F>>> {
        self.step_with(true)
    }

    /// Takes one step without writing `x0` and the prediction (what [`Sampling::run`] does):
    /// the same new `x` as [`Sampling::next_step`], bit for bit, with two fewer writes per
    /// element. Returns `false` once all steps are done; [`Sampling::x`] is the new `x`.
    ///
    /// Errors: as [`Sampling::next_step`].
    ///
    /// ```
    /// use gdf::framework::Gdf;
    /// use gdf::sample::SampleOpts;
    /// use gdf::{loss_weight::P2, noise_cond::CosineT, scaler::Vp, schedule::Cosine, target::Epsilon};
    ///
    /// let g: Gdf<Cosine, Vp, Epsilon, CosineT, P2> = Gdf::default();
    /// let model = |x: &[f32], _c: &[f32], _i: &[f32], p: &mut [f32]| p.copy_from_slice(x);
    /// let opts = SampleOpts { timesteps: 4, ..Default::default() };
    /// let mut run = g.sample(model, <gdf::sampler::Ddim>::new(), &[], None, 2, 8, opts)?;
    /// let mut steps = 0;
    /// while run.advance()? {
    ///     steps += 1;
    ///     assert!(run.x().iter().all(|v| v.is_finite()));
    /// }
    /// assert_eq!(steps, 4);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn advance(&mut self) -> Result<bool> {
        Ok(self.step_with(false)?.is_some())
    }

    /// One step, writing `x0` and the prediction when `with_outputs` (else the returned
    /// step's `x0` and `pred` are whatever an earlier step left there).
    fn step_with(&mut self, with_outputs: bool) -> Result<Option<Step<'_, F>>> {
        let i = self.step;
        if i + 1 >= self.r.len() {
            return Ok(None);
        }
        self.check_settings()?;
        let (b, per) = (self.batch, self.per);
        let n = b * per;
        let (r, l, lp) = (self.r[i], self.logsnr[i], self.logsnr[i + 1]);
        let c = self.noise_cond.noise_cond(l);
        let guided = !matches!(self.cfg, Cfg::Off)
            && self.cfg_t_stop.is_none_or(|s| r >= s)
            && self.cfg_t_start.is_none_or(|s| r <= s);
        let m = b * self.cond_per;
        let jobs = Jobs::new(b, per);
        let model_batch = if guided { 2 * b } else { b };
        self.nc[..model_batch].fill(c);
        if guided && !self.mirror {
            let (x, copy) = self.xx.split_at_mut(n);
            copy.copy_from_slice(x);
        }
        let g = match self.cfg {
            Cfg::Off => F::one(),
            Cfg::Scale(g) => g,
            Cfg::Ramp(a, z) => a * r + z * (F::one() - r),
        };
        let rho = self.cfg_rho;
        let rescale = guided && rho > F::zero();
        let uses_noise = self.sampler.uses_noise();
        let recorded = self.noise.map(|z| &z[i * n..(i + 1) * n]);
        let (seed, first) = (self.seed, self.first_sample);
        // The step's noise does not depend on the model: with helper threads, they draw it
        // into `z` while the caller runs the model (see `crate::team::overlap`, and `Ahead`
        // for how the caller and the helpers then share the fused pass).
        let drawn_ahead = uses_noise && recorded.is_none() && !self.z.is_empty();
        // Below `ONE_CORE` elements the memory-bound passes run on the caller alone; see
        // `PIPELINE` for how the noise drawn ahead meets the fused pass.
        let one_core = n < ONE_CORE;
        let pipelined = drawn_ahead && n < PIPELINE;
        let (a, bb) = self.scaler.ab(l);
        let (ap, bp) = self.scaler.ab(lp);
        let coef = self.sampler.coefficients(a, bb, ap, bp);
        let guide = Guide {
            guided,
            rescale,
            g,
            keep: F::one() - rho,
        };
        let count = jobs.count();
        let ahead = &self.ahead[..];
        if drawn_ahead {
            for f in ahead {
                f.store(Ahead::FREE, Ordering::Relaxed);
            }
        }
        let front = AtomicUsize::new(0);
        let zr = RawMut::new(&mut self.z);
        // The new x goes to the first half of `xx`, and to the second half too after a guided
        // step (the next one is likely guided as well, and then needs no copy).
        let xr = RawMut::new(&mut self.xx);
        let x0r = RawMut::new(&mut self.x0);
        let pr = RawMut::new(&mut self.pred);
        let outr = RawMut::new(&mut self.out);
        let factorr = RawMut::new(&mut self.factor);
        let (target, sampler) = (&self.target, &self.sampler);
        // The step's noise of sample `s` from its element `at` on (global index).
        let fill = |s: usize, at: usize, out: &mut [F]| {
            let stream = first.wrapping_add(s as u32);
            F::fill_normal(
                seed,
                Purpose::Sampler,
                stream,
                i as u32,
                (at - s * per) as u64,
                out,
            )
        };
        // The fused pass over job `j`, its noise given (that job's range) or drawn here; run
        // once per job, after the model output and the factors are written.
        let pass = |j: usize, zj: Option<&[F]>| {
            let (s, start, end) = jobs.job(j);
            // SAFETY: jobs cover disjoint element ranges (and `n + range` of `xx` is disjoint
            // from every `range`); `out` and `factor` are no longer written.
            let (x, mut outputs, out) = unsafe {
                (
                    xr.range(start, end),
                    with_outputs.then(|| (x0r.range(start, end), pr.range(start, end))),
                    outr.view(0, model_batch * per),
                )
            };
            let mut copy = guided.then(|| unsafe { xr.range(n + start, n + end) });
            let f = if rescale {
                unsafe { factorr.view(s, s + 1)[0] }
            } else {
                F::zero()
            };
            // Noise drawn here goes through a stack buffer, 256 values at a time; noise given
            // (drawn ahead, or recorded) is read where it lies, the job in one block.
            let given = zj.filter(|_| uses_noise);
            let mut z = [F::zero(); 256];
            let mut k = start;
            while k < end {
                let len = if given.is_some() {
                    end - k
                } else {
                    (end - k).min(256)
                };
                let zs: &[F] = match given {
                    Some(zj) => &zj[k - start..k - start + len],
                    None => {
                        let zs = &mut z[..len];
                        if uses_noise {
                            fill(s, k, zs);
                        }
                        zs
                    }
                };
                let pu = if guided {
                    &out[n + k..n + k + len]
                } else {
                    &out[k..k + len]
                };
                let o = k - start;
                let block = Block {
                    pc: &out[k..k + len],
                    pu,
                    z: zs,
                    x: &mut x[o..o + len],
                    outputs: outputs
                        .as_mut()
                        .map(|(x0o, po)| (&mut x0o[o..o + len], &mut po[o..o + len])),
                    copy: copy.as_deref_mut().map(|c| &mut c[o..o + len]),
                };
                step_block(target, sampler, [a, bb], coef, guide, f, block);
                k += len;
            }
        };
        // SAFETY: job `j` is drawn and no one writes its noise any more.
        let drawn_z = |j: usize| {
            let (_, start, end) = jobs.job(j);
            unsafe { zr.view(start, end) }
        };
        let draw = |_: usize| {
            let j = front.fetch_add(1, Ordering::Relaxed);
            if j >= count {
                return;
            }
            if Ahead::claim(&ahead[j], Ahead::DRAWING) {
                let (s, start, end) = jobs.job(j);
                // SAFETY: jobs cover disjoint element ranges, and job `j` is this thread's
                // alone until it is marked drawn.
                fill(s, start, unsafe { zr.range(start, end) });
                ahead[j].store(Ahead::DRAWN, Ordering::Release);
            }
        };
        let (model, nc, inputs) = (&mut self.model, &self.nc, &self.inputs);
        let (partials, check) = (&mut self.partials, self.check_predictions);
        let rescale_kind = self.rescale;
        let mut main = || -> Result<()> {
            {
                // SAFETY: nothing else reads `out` or `factor` or writes `xx` until the model
                // and the factors are done (these slices end with this block).
                let (xx, out, factor) = unsafe {
                    (
                        xr.view(0, model_batch * per),
                        outr.range(0, model_batch * per),
                        factorr.range(0, b),
                    )
                };
                call_model(
                    model,
                    i,
                    xx,
                    &nc[..model_batch],
                    &inputs[..if guided { 2 * m } else { m }],
                    out,
                )?;
                if check {
                    check_predictions(out, i, b, per)?;
                }
                if rescale {
                    let out = &*out;
                    let moments =
                        |_, s: usize, e: usize| F::moments(&out[s..e], &out[n + s..n + e], g);
                    if drawn_ahead || one_core {
                        // The caller sums alone (while the helpers draw the noise, or because
                        // the data is in its cache).
                        for (j, p) in partials.iter_mut().enumerate() {
                            let (s, start, end) = jobs.job(j);
                            *p = moments(s, start, end);
                        }
                    } else {
                        jobs.map(partials, moments);
                    }
                    rescale_factors(partials, factor, rescale_kind, rho, jobs);
                }
            }
            if pipelined {
                // From the front, the jobs the helpers have drawn; from the back, those no
                // helper has taken, drawn here (`Ahead`).
                let (mut p, mut q) = (0, count);
                while p < q {
                    match ahead[p].load(Ordering::Acquire) {
                        Ahead::DRAWN => {
                            pass(p, Some(drawn_z(p)));
                            p += 1;
                        }
                        _ if Ahead::claim(&ahead[q - 1], Ahead::MINE) => {
                            q -= 1;
                            pass(q, None);
                        }
                        // The helpers hold every job from `p` to `q` and `p` is not drawn
                        // yet: rather than wait, draw its noise here too (the same numbers).
                        _ => {
                            Ahead::claim(&ahead[p], Ahead::MINE);
                            pass(p, None);
                            p += 1;
                        }
                    }
                }
            }
            Ok(())
        };
        if drawn_ahead {
            crate::team::overlap(count, &draw, main)?;
        } else {
            main()?;
        }
        if !pipelined {
            let each = |j: usize| {
                let (_, start, end) = jobs.job(j);
                let zj = match recorded {
                    Some(rec) => Some(&rec[start..end]),
                    // Every job is drawn and the helpers have left.
                    None if drawn_ahead => Some(drawn_z(j)),
                    None => None,
                };
                pass(j, zj)
            };
            if one_core {
                (0..count).for_each(each);
            } else {
                jobs.run_indexed(each);
            }
        }
        self.step += 1;
        self.mirror = guided;
        Ok(Some(Step {
            index: i,
            t: r,
            logsnr: l,
            noise_cond: c,
            guided,
            model_batch,
            x0: &self.x0,
            x: &self.xx[..n],
            pred: &self.pred,
        }))
    }
}

/// The opt-in check of a model's output: the first non-finite value, as a typed error.
pub(crate) fn check_predictions<F: Real>(
    out: &[F],
    step: usize,
    batch: usize,
    per: usize,
) -> Result<()> {
    let Some(at) = out.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let n = batch * per;
    let guided = out.len() > n;
    let (branch, at_half) = match (guided, at < n) {
        (false, _) => ("unguided", at),
        (true, true) => ("conditional", at),
        (true, false) => ("unconditional", at - n),
    };
    Err(GdfError::ModelOutput {
        step,
        branch,
        sample: at_half / per,
        index: at_half % per,
        value: out[at].as_f64(),
    })
}

/// The per-step guidance settings of the fused pass.
#[derive(Clone, Copy)]
struct Guide<F> {
    guided: bool,
    rescale: bool,
    g: F,
    keep: F,
}

/// The slices of one block of the fused pass.
struct Block<'b, F> {
    pc: &'b [F],
    pu: &'b [F],
    z: &'b [F],
    x: &'b mut [F],
    /// Where `x0` and the prediction go, when the step yields them.
    outputs: Option<(&'b mut [F], &'b mut [F])>,
    /// Where the new `x` also goes (the mirror half the next guided step hands the model).
    copy: Option<&'b mut [F]>,
}

/// The fused pass over one block: guided (and rescaled) prediction, x0 and ε from the
/// target, the sampler step.
#[inline(always)]
fn step_block_body<F: Real, T: Target, Sm: Sampler>(
    target: &T,
    sampler: &Sm,
    [a, b]: [F; 2],
    coef: [F; 3],
    guide: Guide<F>,
    f: F,
    blk: Block<'_, F>,
) {
    let Guide {
        guided,
        rescale,
        g,
        keep,
    } = guide;
    match (guided, rescale) {
        (true, true) => block_loop(target, sampler, [a, b], coef, blk, |c, u| {
            guide::rescaled(guide::cfg(c, u, g), f, keep)
        }),
        (true, false) => block_loop(target, sampler, [a, b], coef, blk, |c, u| {
            guide::cfg(c, u, g)
        }),
        (false, _) => block_loop(target, sampler, [a, b], coef, blk, |c, _| c),
    }
}

#[inline(always)]
fn block_loop<F: Real, T: Target, Sm: Sampler>(
    target: &T,
    sampler: &Sm,
    [a, b]: [F; 2],
    coef: [F; 3],
    blk: Block<'_, F>,
    pred: impl Fn(F, F) -> F,
) {
    let n = blk.x.len();
    let (pc, pu, z, x) = (&blk.pc[..n], &blk.pu[..n], &blk.z[..n], blk.x);
    let one = |xv: F, c: F, u: F, zv: F| {
        let pv = pred(c, u);
        let x0v = target.x0(xv, pv, a, b);
        let ev = target.eps(xv, pv, a, b);
        (sampler.apply(coef, x0v, ev, zv), x0v, pv)
    };
    // One loop per combination of outputs, each without a branch per element.
    match (blk.copy, blk.outputs) {
        // The mirror written in the same loop, not copied after it.
        (Some(copy), Some((x0, po))) => {
            let (copy, x0, po) = (&mut copy[..n], &mut x0[..n], &mut po[..n]);
            for j in 0..n {
                let (xn, x0v, pv) = one(x[j], pc[j], pu[j], z[j]);
                x[j] = xn;
                copy[j] = xn;
                x0[j] = x0v;
                po[j] = pv;
            }
        }
        (None, Some((x0, po))) => {
            let (x0, po) = (&mut x0[..n], &mut po[..n]);
            for j in 0..n {
                let (xn, x0v, pv) = one(x[j], pc[j], pu[j], z[j]);
                x[j] = xn;
                x0[j] = x0v;
                po[j] = pv;
            }
        }
        (Some(copy), None) => {
            let copy = &mut copy[..n];
            for j in 0..n {
                let xn = one(x[j], pc[j], pu[j], z[j]).0;
                x[j] = xn;
                copy[j] = xn;
            }
        }
        (None, None) => {
            for j in 0..n {
                x[j] = one(x[j], pc[j], pu[j], z[j]).0;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn step_block_avx2<F: Real, T: Target, Sm: Sampler>(
    target: &T,
    sampler: &Sm,
    ab: [F; 2],
    coef: [F; 3],
    guide: Guide<F>,
    f: F,
    blk: Block<'_, F>,
) {
    step_block_body(target, sampler, ab, coef, guide, f, blk)
}

/// [`step_block_body`] compiled for AVX-512 (16 lanes; the same operations, so the same
/// bits).
#[cfg(all(target_arch = "x86_64", gdf_avx512))]
#[allow(clippy::incompatible_msrv)] // compiled only by Rust 1.89+ (see build.rs)
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn step_block_avx512<F: Real, T: Target, Sm: Sampler>(
    target: &T,
    sampler: &Sm,
    ab: [F; 2],
    coef: [F; 3],
    guide: Guide<F>,
    f: F,
    blk: Block<'_, F>,
) {
    step_block_body(target, sampler, ab, coef, guide, f, blk)
}

fn step_block<F: Real, T: Target, Sm: Sampler>(
    target: &T,
    sampler: &Sm,
    ab: [F; 2],
    coef: [F; 3],
    guide: Guide<F>,
    f: F,
    blk: Block<'_, F>,
) {
    #[cfg(all(target_arch = "x86_64", gdf_avx512))]
    if crate::par::has_avx512() {
        // SAFETY: the CPU has the features the function was compiled for.
        return unsafe { step_block_avx512(target, sampler, ab, coef, guide, f, blk) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::par::has_avx2() {
        // SAFETY: the CPU has the features the function was compiled for.
        return unsafe { step_block_avx2(target, sampler, ab, coef, guide, f, blk) };
    }
    step_block_body(target, sampler, ab, coef, guide, f, blk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::{DynSampler, DynTarget};

    /// The fused step pass on every path the CPU has (portable, AVX2, AVX-512), for each
    /// target, sampler and guidance setting, over block lengths around the vector widths:
    /// the same bits in `x`, `x0` and `pred`.
    #[test]
    fn step_block_paths_agree_bitwise() {
        let avx2 = cfg!(target_arch = "x86_64") && crate::par::has_avx2();
        let avx512 = cfg!(all(target_arch = "x86_64", gdf_avx512)) && crate::par::has_avx512();
        if !avx2 {
            eprintln!("skipped: this CPU has no AVX2 (with FMA)");
        }
        if !avx512 {
            eprintln!("skipped: this CPU has no AVX-512 (F, BW, DQ, VL)");
        }
        let len = 300;
        let draw = |seed: u64| -> Vec<f32> {
            (0..len as u64)
                .map(|i| crate::noise::normal(seed, Purpose::Init, 0, 0, i))
                .collect()
        };
        let (pc, pu, z, x_in) = (draw(1), draw(2), draw(3), draw(4));
        let (a, b) = (0.8f32, 0.6f32);
        let targets = [
            DynTarget::Epsilon,
            DynTarget::X0,
            DynTarget::V,
            DynTarget::RectifiedFlows,
        ];
        let samplers = [
            DynSampler::Ddim { eta: 1.0 },
            DynSampler::Ddim { eta: 0.0 },
            DynSampler::Lcm,
        ];
        let guides = [(true, true), (true, false), (false, false)];
        type Pass =
            fn(&DynTarget, &DynSampler, [f32; 2], [f32; 3], Guide<f32>, f32, Block<'_, f32>);
        let mut paths: Vec<(&str, Pass)> = vec![("portable", step_block_body)];
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: the CPU has AVX2 and FMA.
            paths.push(("AVX2", |t, s, ab, c, g, f, blk| unsafe {
                step_block_avx2(t, s, ab, c, g, f, blk)
            }));
        }
        #[cfg(all(target_arch = "x86_64", gdf_avx512))]
        if avx512 {
            // SAFETY: the CPU has AVX-512.
            paths.push(("AVX-512", |t, s, ab, c, g, f, blk| unsafe {
                step_block_avx512(t, s, ab, c, g, f, blk)
            }));
        }
        paths.push(("dispatched", step_block));
        for target in &targets {
            for sampler in &samplers {
                let coef = sampler.coefficients(a, b, 0.9f32, 0.43f32);
                for &(guided, rescale) in &guides {
                    let guide = Guide {
                        guided,
                        rescale,
                        g: 4.0f32,
                        keep: 0.3,
                    };
                    for n in [0usize, 1, 7, 8, 15, 16, 17, 31, 64, 100, 255, 256, 300] {
                        let mut results = Vec::new();
                        for (name, pass) in &paths {
                            let mut x = x_in[..n].to_vec();
                            let (mut x0, mut pred) = (vec![0f32; n], vec![0f32; n]);
                            let mut copy = vec![0f32; n];
                            let blk = Block {
                                pc: &pc[..n],
                                pu: &pu[..n],
                                z: &z[..n],
                                x: &mut x,
                                outputs: Some((&mut x0, &mut pred)),
                                copy: guided.then_some(&mut copy[..]),
                            };
                            pass(target, sampler, [a, b], coef, guide, 1.3, blk);
                            let bits =
                                |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                            if guided {
                                assert_eq!(bits(&copy), bits(&x), "{name}: the mirror is x");
                            }
                            // Without the outputs, the same new x.
                            let mut lean = x_in[..n].to_vec();
                            let mut lean_copy = vec![0f32; n];
                            let blk = Block {
                                pc: &pc[..n],
                                pu: &pu[..n],
                                z: &z[..n],
                                x: &mut lean,
                                outputs: None,
                                copy: guided.then_some(&mut lean_copy[..]),
                            };
                            pass(target, sampler, [a, b], coef, guide, 1.3, blk);
                            assert_eq!(bits(&lean), bits(&x), "{name}: x without the outputs");
                            if guided {
                                assert_eq!(bits(&lean_copy), bits(&x), "{name}: its mirror");
                            }
                            results.push((*name, [bits(&x), bits(&x0), bits(&pred)]));
                        }
                        for (name, r) in &results[1..] {
                            assert_eq!(
                                r, &results[0].1,
                                "{name} vs portable: {target:?} {sampler:?} guided {guided} \
                                 rescale {rescale} n {n}"
                            );
                        }
                    }
                }
            }
        }
    }
}
