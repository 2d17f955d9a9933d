//! [`Framework`]: one bound for code generic over any framework.

use core::fmt;

use super::{DiffuseArgs, DiffuseOut, Diffused, Gdf};
use crate::error::Result;
use crate::float::Real;
use crate::konst::Param;
use crate::loss_weight::LossWeight;
use crate::noise_cond::NoiseCond;
use crate::sample::{Model, SampleOpts, Sampling};
use crate::sampler::Sampler;
use crate::scaler::Scaler;
use crate::schedule::Schedule;
use crate::target::Target;

/// Any diffusion framework: what generic trainer code names instead of six type parameters
/// and six bounds. Implemented by every [`Gdf`] whose parts are components (the types
/// `gdf!` declares, hand-written `Gdf<…>`, and the run-time
/// [`DynGdf`](crate::dynamic::DynGdf)); a type of yours that holds a framework implements it
/// by naming its parts and returning the framework from [`as_gdf`](Framework::as_gdf).
///
/// The methods are those of [`Gdf`], so `G: Framework` code reads like code on a concrete
/// framework:
///
/// ```
/// use gdf::framework::{DiffuseArgs, Framework};
/// use gdf::dynamic::DynGdf;
///
/// /// One training step's weighted loss for a model that predicts zeros.
/// fn weighted_loss<G: Framework>(g: &G, x0: &[f32], batch: usize, seed: u64) -> gdf::Result<f32> {
///     let d = g.diffuse(x0, batch, &DiffuseArgs { seed, ..Default::default() })?;
///     let per = x0.len() / batch;
///     let mut loss = 0.0;
///     for b in 0..batch {
///         let mse: f32 = d.target[b * per..(b + 1) * per].iter().map(|t| t * t).sum::<f32>()
///             / per as f32;
///         loss += d.loss_weight[b] * mse;
///     }
///     Ok(loss / batch as f32)
/// }
///
/// gdf::gdf!(StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
///           target: Epsilon, noise_cond: CosineT, loss_weight: P2);
/// let declared = StageC::default();
/// let parsed: DynGdf = declared.to_string().parse()?;
/// let x0 = vec![0.25f32; 4 * 16];
/// assert_eq!(weighted_loss(&declared, &x0, 4, 7)?, weighted_loss(&parsed, &x0, 4, 7)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Framework: Clone + fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// `t → logSNR`.
    type Schedule: Schedule;
    /// `logSNR → (a, b)`.
    type Scaler: Scaler;
    /// What the model predicts.
    type Target: Target;
    /// `logSNR →` the model's noise input.
    type NoiseCond: NoiseCond;
    /// `logSNR →` the loss weight.
    type LossWeight: LossWeight;
    /// The offset-noise strength (a type-level constant or an `f64`).
    type OffsetNoise: Param;

    /// The framework itself.
    #[allow(clippy::type_complexity)]
    fn as_gdf(
        &self,
    ) -> &Gdf<
        Self::Schedule,
        Self::Scaler,
        Self::Target,
        Self::NoiseCond,
        Self::LossWeight,
        Self::OffsetNoise,
    >;

    /// The schedule.
    fn schedule(&self) -> &Self::Schedule {
        &self.as_gdf().schedule
    }
    /// The input scaler.
    fn scaler(&self) -> &Self::Scaler {
        &self.as_gdf().scaler
    }
    /// The target.
    fn target(&self) -> &Self::Target {
        &self.as_gdf().target
    }
    /// The noise cond.
    fn noise_cond(&self) -> &Self::NoiseCond {
        &self.as_gdf().noise_cond
    }
    /// The loss weight.
    fn loss_weight(&self) -> &Self::LossWeight {
        &self.as_gdf().loss_weight
    }
    /// The offset-noise strength.
    fn offset_noise(&self) -> f64 {
        self.as_gdf().offset_noise.get()
    }

    /// [`Gdf::logsnr_into`].
    fn logsnr_into<F: Real>(
        &self,
        t: Option<&[F]>,
        shift: F,
        seed: u64,
        first_sample: u32,
        out: &mut [F],
    ) -> Result<()> {
        self.as_gdf().logsnr_into(t, shift, seed, first_sample, out)
    }
    /// [`Gdf::diffuse_into`].
    fn diffuse_into<F: Real>(
        &self,
        x0: &[F],
        batch: usize,
        args: &DiffuseArgs<'_, F>,
        out: DiffuseOut<'_, F>,
    ) -> Result<()> {
        self.as_gdf().diffuse_into(x0, batch, args, out)
    }
    /// [`Gdf::diffuse`].
    fn diffuse<F: Real>(
        &self,
        x0: &[F],
        batch: usize,
        args: &DiffuseArgs<'_, F>,
    ) -> Result<Diffused<F>> {
        self.as_gdf().diffuse(x0, batch, args)
    }
    /// [`Gdf::undiffuse_into`].
    fn undiffuse_into<F: Real>(
        &self,
        x: &[F],
        logsnr: &[F],
        pred: &[F],
        x0_out: Option<&mut [F]>,
        eps_out: Option<&mut [F]>,
    ) -> Result<()> {
        self.as_gdf()
            .undiffuse_into(x, logsnr, pred, x0_out, eps_out)
    }
    /// Starts a [sampling builder](crate::sampling): `batch` samples of `per` elements,
    /// DPM++ 2M over 20 steps of this framework's schedule unless told otherwise.
    ///
    /// ```
    /// use gdf::prelude::*;
    /// gdf::gdf!(StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
    ///           target: Epsilon, noise_cond: CosineT, loss_weight: P2);
    /// // A zero-noise ε model: the samples are the start scaled to x0.
    /// let zero = |_x: &[f32], _c: &[f32], _i: &[f32], p: &mut [f32]| p.fill(0.0);
    /// let x = StageC::default().sampling(4, 8).steps(10).seed(3).run(zero)?;
    /// assert_eq!(x.len(), 32);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    fn sampling<F: Real>(
        &self,
        batch: usize,
        per: usize,
    ) -> crate::sampling::SamplingBuilder<'_, Self, F> {
        crate::sampling::SamplingBuilder::new(self, batch, per)
    }
    /// [`Gdf::sample`].
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn sample<'a, F: Real, Sm: Sampler, M: Model<F>>(
        &self,
        model: M,
        sampler: Sm,
        cond: &'a [F],
        uncond: Option<&'a [F]>,
        batch: usize,
        per: usize,
        opts: SampleOpts<'a, F>,
    ) -> Result<Sampling<'a, F, Self::Scaler, Self::Target, Self::NoiseCond, Sm, M>> {
        self.as_gdf()
            .sample(model, sampler, cond, uncond, batch, per, opts)
    }
    /// [`Gdf::sample_with`].
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn sample_with<'a, F: Real, Ss: Schedule, Sm: Sampler, M: Model<F>>(
        &self,
        schedule: &Ss,
        model: M,
        sampler: Sm,
        cond: &'a [F],
        uncond: Option<&'a [F]>,
        batch: usize,
        per: usize,
        opts: SampleOpts<'a, F>,
    ) -> Result<Sampling<'a, F, Self::Scaler, Self::Target, Self::NoiseCond, Sm, M>> {
        self.as_gdf()
            .sample_with(schedule, model, sampler, cond, uncond, batch, per, opts)
    }
}

impl<S, Sc, T, N, L, O> Framework for Gdf<S, Sc, T, N, L, O>
where
    S: Schedule,
    Sc: Scaler,
    T: Target,
    N: NoiseCond,
    L: LossWeight,
    O: Param,
{
    type Schedule = S;
    type Scaler = Sc;
    type Target = T;
    type NoiseCond = N;
    type LossWeight = L;
    type OffsetNoise = O;

    fn as_gdf(&self) -> &Self {
        self
    }
}
