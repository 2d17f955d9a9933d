//! The framework: one type over the five components (the original's `GDF` class).
//!
//! ```
//! use gdf::prelude::*;
//! use gdf::framework::{DiffuseArgs, Gdf};
//! use gdf::{loss_weight::P2, noise_cond::CosineT, scaler::Vp, schedule::Cosine, target::Epsilon};
//!
//! let gdf: Gdf<Cosine, Vp, Epsilon, CosineT, P2> = Gdf::default();
//! assert_eq!(core::mem::size_of_val(&gdf), 0);
//! let x0 = vec![0.5f32; 2 * 3 * 4 * 4];
//! let d = gdf.diffuse(&x0, 2, &DiffuseArgs { seed: 7, ..Default::default() })?;
//! assert_eq!(d.noised.len(), x0.len());
//! assert_eq!(d.logsnr.len(), 2);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::component::LogSnrFn;
use crate::error::{check_finite, check_len, per_sample, GdfError, Result};
use crate::float::Real;
use crate::konst::{Param, Zero};
use crate::loss_weight::LossWeight;
use crate::noise::{normal, CounterRng, Purpose};
use crate::noise_cond::NoiseCond;
use crate::par::{Jobs, RawMut};
use crate::scaler::{Scaler, Stretch, Stretched};
use crate::schedule::{check_shift, check_shift_named, Schedule};
use crate::target::Target;

mod bound;
pub use bound::Framework;

/// A diffusion framework: schedule, input scaler, target, noise conditioning, loss weight
/// and the offset-noise strength `O` (a type-level constant, default 0, or an `f64`).
///
/// Zero-sized when its components are. `Display` prints the declaration in `gdf!` syntax.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Gdf<S, Sc, T, N, L, O = Zero> {
    /// t → logSNR (training distribution and default sampling schedule).
    pub schedule: S,
    /// logSNR → (a, b).
    pub scaler: Sc,
    /// What the model predicts.
    pub target: T,
    /// logSNR → the model's time input.
    pub noise_cond: N,
    /// logSNR → loss weight.
    pub loss_weight: L,
    /// Offset-noise strength.
    pub offset_noise: O,
}

/// The offset-noise strength, checked: finite and `>= 0` (as `gdf!` and the parser require).
pub(crate) fn check_offset_noise(k: f64) -> Result<f64> {
    if k.is_finite() && k >= 0.0 {
        Ok(k)
    } else {
        Err(GdfError::OutOfRange {
            what: "offset_noise",
            value: k,
            expected: "a finite number >= 0",
        })
    }
}

/// The framework [`Gdf::setup_limits`] returns: the same with its scaler stretched.
pub type StretchedGdf<S, Sc, T, N, L, O> = Gdf<S, Stretched<<Sc as Stretch>::Base>, T, N, L, O>;

/// Optional inputs and settings of [`Gdf::diffuse_into`].
#[derive(Clone, Copy, Debug)]
pub struct DiffuseArgs<'a, F> {
    /// The noise ε (same length as x0); drawn from the counter-based generator if `None`.
    pub eps: Option<&'a [F]>,
    /// Per-sample `t` (length B); drawn from the schedule's training distribution if `None`.
    pub t: Option<&'a [F]>,
    /// Per-(sample, channel) offset noise (length B·C); drawn if `None` and the framework's
    /// offset noise is non-zero.
    pub offset: Option<&'a [F]>,
    /// Channels C per sample (only used for offset noise; elements of a sample are laid out
    /// channel-major, `[C, …]`). Default 1.
    pub channels: usize,
    /// Schedule shift (`simple diffusion`; λ ← λ − 2·ln shift). Default 1.
    pub shift: F,
    /// Loss-weight shift. Default 1.
    pub loss_shift: F,
    /// Seed of every draw.
    pub seed: u64,
    /// Counter index of the batch's first sample: sample `b` draws as sample
    /// `first_sample + b`, so a sample's draws do not depend on which batch it is in.
    /// `first_sample + batch` must not pass `2^32` (refused, naming `first_sample`).
    pub first_sample: u32,
}

impl<F: Real> Default for DiffuseArgs<'_, F> {
    fn default() -> Self {
        Self {
            eps: None,
            t: None,
            offset: None,
            channels: 1,
            shift: F::one(),
            loss_shift: F::one(),
            seed: 0,
            first_sample: 0,
        }
    }
}

/// Output buffers of [`Gdf::diffuse_into`]. Element buffers have x0's length, per-sample
/// buffers length B. `eps` and `target` may be left out when the caller does not need them
/// (e.g. ε given without offset noise, or an ε target).
#[derive(Debug)]
pub struct DiffuseOut<'a, F> {
    /// `a·x0 + b·ε`.
    pub noised: &'a mut [F],
    /// ε including the offset noise.
    pub eps: Option<&'a mut [F]>,
    /// The training target.
    pub target: Option<&'a mut [F]>,
    /// logSNR (shifted and clamped).
    pub logsnr: &'a mut [F],
    /// The noise cond of that logSNR.
    pub noise_cond: &'a mut [F],
    /// The loss weight of that logSNR (with `loss_shift`).
    pub loss_weight: &'a mut [F],
}

/// The owned result of [`Gdf::diffuse`], in the original's return order.
#[derive(Clone, Debug, PartialEq)]
pub struct Diffused<F> {
    /// `a·x0 + b·ε`.
    pub noised: Vec<F>,
    /// ε including the offset noise.
    pub eps: Vec<F>,
    /// The training target.
    pub target: Vec<F>,
    /// Per-sample logSNR.
    pub logsnr: Vec<F>,
    /// Per-sample noise cond.
    pub noise_cond: Vec<F>,
    /// Per-sample loss weight.
    pub loss_weight: Vec<F>,
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
    /// A framework from its components (offset noise from `O`'s default: 0 or the type's
    /// constant).
    pub fn new(schedule: S, scaler: Sc, target: T, noise_cond: N, loss_weight: L) -> Self {
        Self {
            schedule,
            scaler,
            target,
            noise_cond,
            loss_weight,
            offset_noise: O::default(),
        }
    }

    /// The same framework with another offset-noise strength (finite and `>= 0`; `diffuse`
    /// refuses another value with [`GdfError::OutOfRange`] naming `offset_noise`).
    pub fn with_offset_noise<O2: Param>(self, offset_noise: O2) -> Gdf<S, Sc, T, N, L, O2> {
        Gdf {
            schedule: self.schedule,
            scaler: self.scaler,
            target: self.target,
            noise_cond: self.noise_cond,
            loss_weight: self.loss_weight,
            offset_noise,
        }
    }

    /// Stretches the scaler to the schedule's ends evaluated with `shift` (the original's
    /// `setup_limits`): afterwards `t = 0` gives exactly `(a, b) = (1, 0)` and `t = 1`
    /// exactly `(0, 1)`. Calling it again re-measures through the stretch (as the
    /// original, which then gives `[0, 1, 0, 1]`).
    ///
    /// Errors: a training-only schedule, a non-positive or non-finite `shift`, or a `shift`
    /// that puts both ends of the schedule on the same level (the stretch would divide by
    /// zero and every `(a, b)` be NaN; [`GdfError::Invalid`] naming the shift).
    pub fn setup_limits(
        self,
        stretch_max: bool,
        stretch_min: bool,
        shift: f64,
    ) -> Result<StretchedGdf<S, Sc, T, N, L, O>>
    where
        Sc: Stretch,
    {
        let scaler = self
            .scaler
            .stretch(&self.schedule, stretch_max, stretch_min, shift)?;
        Ok(Gdf {
            schedule: self.schedule,
            scaler,
            target: self.target,
            noise_cond: self.noise_cond,
            loss_weight: self.loss_weight,
            offset_noise: self.offset_noise,
        })
    }

    /// Per-sample logSNR for a batch: from `t` when given, else drawn from the schedule's
    /// training distribution with the counter-based generator (`Purpose::Time`).
    ///
    /// Errors: a non-positive or non-finite `shift`; with `t`, a length that differs from
    /// `out`'s, a non-finite `t` or a training-only schedule; without it, a `first_sample`
    /// whose last sample (`first_sample + out.len() − 1`) passes `u32::MAX`.
    pub fn logsnr_into<F: Real>(
        &self,
        t: Option<&[F]>,
        shift: F,
        seed: u64,
        first_sample: u32,
        out: &mut [F],
    ) -> Result<()> {
        check_shift(shift)?;
        match t {
            Some(t) => {
                check_len("t", out.len(), t.len())?;
                // Checks the schedule (`Schedule::check`) itself.
                self.schedule.logsnr_into(t, shift, out)
            }
            None => {
                self.schedule.check()?;
                crate::noise::check_sample_counters(first_sample, out.len())?;
                let limits = self.schedule.limits();
                for (b, o) in out.iter_mut().enumerate() {
                    let mut rng = CounterRng::new(
                        seed,
                        Purpose::Time,
                        first_sample.wrapping_add(b as u32),
                        0,
                    );
                    *o = self.schedule.draw_logsnr(&mut rng, shift, limits);
                }
                Ok(())
            }
        }
    }

    /// Noises a batch `x0` of `batch` samples into caller-given buffers, in one parallel
    /// pass over memory (the original's `diffuse`).
    ///
    /// Errors: an empty batch, a buffer whose length does not match (x0 must be `batch·k`
    /// elements, `eps`/outputs the same, `t` and the per-sample outputs `batch`, `offset`
    /// `batch·channels`, `channels` must divide `k`), a non-finite `t`, a non-positive or
    /// non-finite shift, a training-only schedule given `t`, a `first_sample` with
    /// `first_sample + batch > 2^32` (the batch's last samples would repeat the draws of
    /// samples 0, 1, …), and a NaN or infinite value in `x0` or `eps` (`NonFinite`, naming the
    /// first; found in the noising pass itself, so it is reported after the outputs were
    /// written, and they hold garbage then).
    ///
    /// Finite inputs give a non-finite output only where a scaler has no finite `(a, b)` at
    /// the sample's level (a user's scaler; the built-in ones are finite everywhere) or where
    /// `a·x0 + b·ε` overflows; those values are returned as computed, not refused.
    pub fn diffuse_into<F: Real>(
        &self,
        x0: &[F],
        batch: usize,
        args: &DiffuseArgs<'_, F>,
        out: DiffuseOut<'_, F>,
    ) -> Result<()> {
        let per = per_sample("x0", x0.len(), batch)?;
        let n = x0.len();
        check_len("noised", n, out.noised.len())?;
        if let Some(e) = args.eps {
            check_len("eps", n, e.len())?;
        }
        if let Some(e) = &out.eps {
            check_len("eps (output)", n, e.len())?;
        }
        if let Some(t) = &out.target {
            check_len("target", n, t.len())?;
        }
        check_len("logsnr", batch, out.logsnr.len())?;
        check_len("noise_cond", batch, out.noise_cond.len())?;
        check_len("loss_weight", batch, out.loss_weight.len())?;
        check_shift_named("loss_shift", args.loss_shift)?;
        crate::noise::check_sample_counters(args.first_sample, batch)?;
        self.noise_cond.check()?;
        self.target.check()?;
        self.loss_weight.check()?;
        let k = check_offset_noise(self.offset_noise.get())?;
        let channels = args.channels.max(1);
        if per % channels != 0 {
            return Err(GdfError::NotDivisible {
                what: "elements per sample",
                len: per,
                batch: channels,
            });
        }
        if let Some(o) = args.offset {
            check_len("offset", batch * channels, o.len())?;
            check_finite("offset", o)?;
        }
        self.logsnr_into(args.t, args.shift, args.seed, args.first_sample, out.logsnr)?;
        for b in 0..batch {
            let l = out.logsnr[b];
            out.noise_cond[b] = self.noise_cond.noise_cond(l);
            out.loss_weight[b] = self.loss_weight.loss_weight(l, args.loss_shift);
        }
        let logsnr: &[F] = out.logsnr;
        let noised = RawMut::new(out.noised);
        let eps_out = out.eps.map(RawMut::new);
        let target_out = out.target.map(RawMut::new);
        let per_channel = per / channels;
        let offset_of = |b: usize, c: usize| -> F {
            match args.offset {
                Some(o) => o[b * channels + c],
                None => F::of(normal(
                    args.seed,
                    Purpose::Offset,
                    args.first_sample.wrapping_add(b as u32),
                    0,
                    c as u64,
                ) as f64),
            }
        };
        // Set by a job whose noised output has a non-finite value: a non-finite input, or a
        // level the scaler has no finite (a, b) for.
        let nonfinite = AtomicBool::new(false);
        Jobs::new(batch, per).run(|b, start, end| {
            let (a, bb) = self.scaler.ab(logsnr[b]);
            let base = b * per;
            // SAFETY: jobs cover disjoint element ranges.
            let noised = unsafe { noised.range(start, end) };
            let mut eps_o = eps_out.as_ref().map(|r| unsafe { r.range(start, end) });
            let mut tgt_o = target_out.as_ref().map(|r| unsafe { r.range(start, end) });
            if let (Some(src), true) = (args.eps, k == 0.0) {
                // ε given and no offset: one pass over the job's range, ε read in place.
                let (x, e) = (&x0[start..end], &src[start..end]);
                if !axpby(noised, x, e, a, bb) {
                    nonfinite.store(true, Relaxed);
                }
                if let Some(eo) = eps_o.as_deref_mut() {
                    eo.copy_from_slice(e);
                }
                if let Some(to) = tgt_o.as_deref_mut() {
                    for ((t, &x), &ev) in to.iter_mut().zip(x).zip(e) {
                        *t = self.target.target(x, ev, a, bb);
                    }
                }
                return;
            }
            let mut tmp = [F::zero(); 256];
            let mut i = start;
            while i < end {
                let len = (end - i).min(256);
                // ε drawn, or given with an offset to add: through `tmp`.
                let e = &mut tmp[..len];
                match args.eps {
                    Some(src) => e.copy_from_slice(&src[i..i + len]),
                    None => F::fill_normal(
                        args.seed,
                        Purpose::Epsilon,
                        args.first_sample.wrapping_add(b as u32),
                        0,
                        (i - base) as u64,
                        e,
                    ),
                }
                if k > 0.0 {
                    let kf = F::of(k);
                    for (j, v) in e.iter_mut().enumerate() {
                        let c = (i + j - base) / per_channel;
                        *v = *v + kf * offset_of(b, c);
                    }
                }
                let e: &[F] = e;
                let o = i - start;
                if !axpby(&mut noised[o..o + len], &x0[i..i + len], e, a, bb) {
                    nonfinite.store(true, Relaxed);
                }
                if let Some(eo) = eps_o.as_deref_mut() {
                    eo[o..o + len].copy_from_slice(e);
                }
                if let Some(to) = tgt_o.as_deref_mut() {
                    for ((t, &x), &ev) in to[o..o + len].iter_mut().zip(&x0[i..i + len]).zip(e) {
                        *t = self.target.target(x, ev, a, bb);
                    }
                }
                i += len;
            }
        });
        if nonfinite.into_inner() {
            // Rare: find the input. Where every input is finite, the scaler's (a, b) is not
            // (or the sum overflowed): returned as computed.
            check_finite("x0", x0)?;
            if let Some(e) = args.eps {
                check_finite("eps", e)?;
            }
        }
        Ok(())
    }

    /// [`diffuse_into`](Gdf::diffuse_into) with freshly allocated outputs.
    pub fn diffuse<F: Real>(
        &self,
        x0: &[F],
        batch: usize,
        args: &DiffuseArgs<'_, F>,
    ) -> Result<Diffused<F>> {
        let n = x0.len();
        let mut d = Diffused {
            noised: vec![F::zero(); n],
            eps: vec![F::zero(); n],
            target: vec![F::zero(); n],
            logsnr: vec![F::zero(); batch],
            noise_cond: vec![F::zero(); batch],
            loss_weight: vec![F::zero(); batch],
        };
        self.diffuse_into(
            x0,
            batch,
            args,
            DiffuseOut {
                noised: &mut d.noised,
                eps: Some(&mut d.eps),
                target: Some(&mut d.target),
                logsnr: &mut d.logsnr,
                noise_cond: &mut d.noise_cond,
                loss_weight: &mut d.loss_weight,
            },
        )?;
        Ok(d)
    }

    /// Recovers `(x0, ε)` from a prediction `pred` at the noised `x` with per-sample
    /// `logsnr` (the original's `undiffuse`). Either output may be left out.
    ///
    /// Errors: lengths that do not match.
    ///
    /// Where an output has no value it is ±∞ or NaN, as the original records it (golden
    /// targets 008/009): x0 from an ε-prediction where `a = 0` (λ = −∞, or a stretched
    /// scaler's lower end), ε from an x0-prediction where `b = 0`; a NaN `logsnr` gives NaN.
    /// The golden data holds these values, so `undiffuse` returns them rather than an error;
    /// the solver runs refuse such a level by name (`solver::Run::feed`).
    pub fn undiffuse_into<F: Real>(
        &self,
        x: &[F],
        logsnr: &[F],
        pred: &[F],
        x0_out: Option<&mut [F]>,
        eps_out: Option<&mut [F]>,
    ) -> Result<()> {
        let batch = logsnr.len();
        let per = per_sample("x", x.len(), batch)?;
        check_len("pred", x.len(), pred.len())?;
        if let Some(o) = &x0_out {
            check_len("x0 (output)", x.len(), o.len())?;
        }
        if let Some(o) = &eps_out {
            check_len("eps (output)", x.len(), o.len())?;
        }
        let x0o = x0_out.map(RawMut::new);
        let epo = eps_out.map(RawMut::new);
        Jobs::new(batch, per).run(|b, start, end| {
            let (a, bb) = self.scaler.ab(logsnr[b]);
            if let Some(r) = &x0o {
                // SAFETY: jobs cover disjoint element ranges.
                let o = unsafe { r.range(start, end) };
                for (j, o) in o.iter_mut().enumerate() {
                    *o = self.target.x0(x[start + j], pred[start + j], a, bb);
                }
            }
            if let Some(r) = &epo {
                let o = unsafe { r.range(start, end) };
                for (j, o) in o.iter_mut().enumerate() {
                    *o = self.target.eps(x[start + j], pred[start + j], a, bb);
                }
            }
        });
        Ok(())
    }
}

impl<S, Sc, T, N, L, O> fmt::Display for Gdf<S, Sc, T, N, L, O>
where
    S: LogSnrFn,
    Sc: LogSnrFn,
    T: LogSnrFn,
    N: LogSnrFn,
    L: LogSnrFn,
    O: Param,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("schedule: ")?;
        self.schedule.write_decl(f)?;
        f.write_str(", scaler: ")?;
        self.scaler.write_decl(f)?;
        f.write_str(", target: ")?;
        self.target.write_decl(f)?;
        f.write_str(", noise_cond: ")?;
        self.noise_cond.write_decl(f)?;
        f.write_str(", loss_weight: ")?;
        self.loss_weight.write_decl(f)?;
        write!(
            f,
            ", offset_noise: {}",
            crate::konst::lit(self.offset_noise.get())
        )
    }
}

/// `out = a·x + b·y` element by element (the noising of `diffuse`); whether every output is
/// finite (a non-finite `x` or `y` makes its output non-finite, so the inputs are checked in
/// the same pass, as one compare per element).
#[inline(always)]
fn axpby_body<F: Real>(out: &mut [F], x: &[F], y: &[F], a: F, b: F) -> bool {
    let mut finite = true;
    for ((o, &x), &y) in out.iter_mut().zip(x).zip(y) {
        let v = x * a + y * b;
        *o = v;
        finite &= v.is_finite();
    }
    finite
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpby_avx2<F: Real>(out: &mut [F], x: &[F], y: &[F], a: F, b: F) -> bool {
    axpby_body(out, x, y, a, b)
}

#[cfg(all(target_arch = "x86_64", gdf_avx512))]
#[allow(clippy::incompatible_msrv)] // compiled only by Rust 1.89+ (see build.rs)
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn axpby_avx512<F: Real>(out: &mut [F], x: &[F], y: &[F], a: F, b: F) -> bool {
    axpby_body(out, x, y, a, b)
}

/// [`axpby_body`], 8 lanes wide where the CPU has AVX2 and 16 where it has AVX-512 (same
/// operations, same bits). Returns whether every output is finite.
fn axpby<F: Real>(out: &mut [F], x: &[F], y: &[F], a: F, b: F) -> bool {
    #[cfg(all(target_arch = "x86_64", gdf_avx512))]
    if crate::par::has_avx512() {
        // SAFETY: the CPU has the features the function was compiled for.
        return unsafe { axpby_avx512(out, x, y, a, b) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::par::has_avx2() {
        // SAFETY: the CPU has the features the function was compiled for.
        return unsafe { axpby_avx2(out, x, y, a, b) };
    }
    axpby_body(out, x, y, a, b)
}
