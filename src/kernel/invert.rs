//! DDIM inversion on the device: [`DeviceInversion`] runs the steps of a
//! [`pipeline::invert`](crate::pipeline::invert) inversion over a device buffer, **one launch
//! per step** (the prediction's `x0` and `ε` at the step's start, the clip, the update), the
//! same `#[cube]` formulas as the host.

use core::marker::PhantomData;

use cubecl::prelude::*;
use cubecl::server::Handle;

use super::{check_buffers, check_index_range, launch_dims, upload, vector_width};
use super::{KernelError, Launches};
use crate::error::per_sample;
use crate::pipeline::formula::cube as pipe;
use crate::pipeline::invert::{check_conversions, check_steps, InvertStep};
use crate::pipeline::Threshold;
use crate::solver::Grid;
use crate::target::{CubeTarget, Target};

/// Coefficients per step in the kernel's table: `a, b` (from), `a, b` (to), clip range.
const PER_STEP: usize = 5;

/// One inversion step over the batch: unit `u` updates vector `u` of `x` in place from the
/// prediction, with the step's [`PER_STEP`] coefficients `coefs[row .. row + PER_STEP]`
/// (`row = k·PER_STEP` for step `k`, computed by the host).
#[cube(launch_unchecked)]
fn invert_kernel<F: Float, W: Size, T: CubeTarget>(
    x: &mut [Vector<F, W>],
    pred: &[Vector<F, W>],
    coefs: &[F],
    row: u32,
    #[comptime] clip: bool,
) {
    if ABSOLUTE_POS < x.len() {
        let c = row as usize;
        let (a, b, a_to, b_to, range) = (
            coefs[c],
            coefs[c + 1],
            coefs[c + 2],
            coefs[c + 3],
            coefs[c + 4],
        );
        let xv = x[ABSOLUTE_POS];
        let pv = pred[ABSOLUTE_POS];
        let mut out = Vector::<F, W>::empty();
        #[unroll]
        for k in 0..W::value() {
            let (xe, pe) = (xv.extract(k), pv.extract(k));
            let mut x0 = T::x0::<F>(xe, pe, a, b);
            if comptime!(clip) {
                x0 = pipe::clip::<F>(x0, range);
            }
            let e = T::eps::<F>(xe, pe, a, b);
            out.insert(k, pipe::renoise::<F>(x0, e, a_to, b_to));
        }
        x[ABSOLUTE_POS] = out;
    }
}

/// The evaluation a [`DeviceInversion`] asks for: the sample on the device and the step.
#[derive(Debug)]
pub struct DeviceInvertRequest<'r> {
    /// The model's input (`batch · per` values, the sample at `step.from`).
    pub x: &'r Handle,
    /// The step this evaluation belongs to (levels, and diffusers' model timestep).
    pub step: InvertStep,
    /// The step's number (0-based).
    pub index: usize,
}

/// [`Inversion`](crate::pipeline::invert::Inversion) over device buffers: the same steps and
/// stages, one launch per step, results within f32 rounding of the host's.
///
/// ```
/// use gdf::interop::diffusers::load_inverse;
/// use gdf::kernel::cubecl::prelude::*;
/// use gdf::kernel::invert::DeviceInversion;
/// use gdf::target::Epsilon;
/// # let Some(client) = gdf::kernel::doc_client() else { return Ok(()) };
/// let (batch, per) = (2, 16);
/// let latents: Vec<f32> = (0..batch * per).map(|i| (i as f32 * 0.3).sin()).collect();
/// let inv = load_inverse(r#"{"beta_schedule": "scaled_linear", "beta_start": 0.00085,
///                           "beta_end": 0.012, "clip_sample": false}"#)?;
/// let x = client.create_from_slice(f32::as_bytes(&latents));
/// let mut dev = DeviceInversion::<f32>::new(&client, inv.steps(10)?, &x, batch, per)?;
/// dev.set_threshold(inv.threshold)?;
/// while let Some(req) = dev.next_eval() {
///     let eps = req.x.clone(); // the network's ε at `req.step.timestep`, on the device
///     dev.feed::<Epsilon>(&eps)?; // one launch
/// }
///
/// // The host inversion of the same latents, with the same model.
/// let host = inv.inversion(10, latents, batch)?.run(&Epsilon, |x, _step, eps| {
///     eps.copy_from_slice(x);
///     Ok(())
/// })?;
/// let bytes = client.read_one(dev.x().clone()).expect("reading the device buffer");
/// for (d, h) in f32::from_bytes(&bytes).iter().zip(&host) {
///     assert!((d - h).abs() <= 1e-4 * h.abs().max(1.0), "device {d}, host {h}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DeviceInversion<'c, F> {
    client: &'c Client,
    steps: Vec<InvertStep>,
    coefs: Handle,
    x: Handle,
    batch: usize,
    n: usize,
    done: usize,
    threshold: Threshold,
    _f: PhantomData<F>,
}

impl<'c, F: Float + CubeElement> DeviceInversion<'c, F> {
    /// An inversion of `x_init` (clean latents, `batch` samples of `per` values, copied)
    /// through `steps` (see [`InvertStep`], e.g.
    /// [`LoadedInverse::steps`](crate::interop::diffusers::LoadedInverse::steps)).
    ///
    /// Errors: as [`Inversion::from_steps`](crate::pipeline::invert::Inversion::from_steps)
    /// for the steps and the batch, and `x_init` shorter than `batch · per` values.
    pub fn new(
        client: &'c Client,
        steps: Vec<InvertStep>,
        x_init: &Handle,
        batch: usize,
        per: usize,
    ) -> Result<Self, KernelError> {
        check_steps(&steps)?;
        let n = per_sample("batch × per", batch * per, batch)? * batch;
        check_index_range("batch × per", n)?;
        check_buffers::<F>(&[("x_init (bytes)", Some(x_init), n)])?;
        let x = client.empty(n * core::mem::size_of::<F>());
        super::step::copy::<F>(client, x_init, &x, n)?;
        let coefs = Self::table(client, &steps, 0.0);
        Ok(Self {
            client,
            steps,
            coefs,
            x,
            batch,
            n,
            done: 0,
            threshold: Threshold::None,
            _f: PhantomData,
        })
    }

    /// The inversion of a sampling grid, as
    /// [`Inversion::new`](crate::pipeline::invert::Inversion::new).
    ///
    /// Errors: as [`DeviceInversion::new`].
    pub fn from_grid(
        client: &'c Client,
        grid: &Grid,
        x_init: &Handle,
        batch: usize,
        per: usize,
    ) -> Result<Self, KernelError> {
        Self::new(
            client,
            crate::pipeline::invert::grid_steps(grid),
            x_init,
            batch,
            per,
        )
    }

    fn table(client: &Client, steps: &[InvertStep], range: f64) -> Handle {
        let v: Vec<F> = steps
            .iter()
            .flat_map(|s| [s.from.a, s.from.b, s.to.a, s.to.b, range])
            .map(|c| F::new(c as f32))
            .collect();
        debug_assert_eq!(v.len(), PER_STEP * steps.len());
        upload(client, &v)
    }

    /// Clips `x0` before each update, inside the step's launch (diffusers'
    /// `DDIMInverseScheduler` `clip_sample`).
    ///
    /// Errors: an invalid threshold; dynamic thresholding, which has no device form here
    /// ([`KernelError::HostOnly`]; diffusers' inverse scheduler has no such option).
    pub fn set_threshold(&mut self, threshold: Threshold) -> Result<(), KernelError> {
        threshold.validate()?;
        let range = match threshold {
            Threshold::None => 0.0,
            Threshold::Clip { range } => range,
            Threshold::Dynamic { .. } => {
                return Err(KernelError::HostOnly {
                    component: "dynamic thresholding in a DDIM inversion",
                })
            }
        };
        self.coefs = Self::table(self.client, &self.steps, range);
        self.threshold = threshold;
        Ok(())
    }

    /// The steps, in the order they run.
    pub fn steps(&self) -> &[InvertStep] {
        &self.steps
    }

    /// The number of steps done.
    pub fn steps_done(&self) -> usize {
        self.done
    }

    /// The sample on the device (`batch · per` values).
    pub fn x(&self) -> &Handle {
        &self.x
    }

    /// The next model evaluation, or `None` when every step is done.
    pub fn next_eval(&self) -> Option<DeviceInvertRequest<'_>> {
        self.steps.get(self.done).map(|&step| DeviceInvertRequest {
            x: &self.x,
            step,
            index: self.done,
        })
    }

    /// Feeds the raw output of target `T` (ε, v, x0) for the pending step and takes it: one
    /// launch.
    ///
    /// Errors: no step left; `pred` shorter than `batch · per` values; a target whose
    /// prediction holds no `x0` or `ε` at the step's start (as on the host).
    ///
    /// The buffers' values are not checked (a read back would stall the queue): a NaN
    /// prediction, or a conversion that overflows `F` at an extreme level, leaves NaN in `x`
    /// where the host's [`Inversion::feed`](crate::pipeline::invert::Inversion::feed)
    /// refuses it.
    pub fn feed<T: CubeTarget + Target + Default>(
        &mut self,
        pred: &Handle,
    ) -> Result<(), KernelError> {
        let step = *self
            .steps
            .get(self.done)
            .ok_or_else(|| crate::pipeline::invert::done_error(self.steps.len()))?;
        check_buffers::<F>(&[("pred (bytes)", Some(pred), self.n)])?;
        check_conversions(&T::default(), &step, self.done)?;
        let w = vector_width::<F>(self.client, self.n / self.batch, &[&self.x, pred]);
        let nv = self.n / w;
        let (count, dim) = launch_dims(self.client, nv);
        Launches::record();
        // SAFETY: `x` and `pred` hold `n` values (`n / w` vectors) and the table `PER_STEP`
        // per step; the kernel guards its index against `x`'s length and reads step `done`'s
        // row.
        unsafe {
            invert_kernel::launch_unchecked::<F, T>(
                self.client,
                count,
                dim,
                w,
                BufferArg::from_raw_parts(self.x.clone(), nv),
                BufferArg::from_raw_parts(pred.clone(), nv),
                BufferArg::from_raw_parts(self.coefs.clone(), PER_STEP * self.steps.len()),
                (self.done * PER_STEP) as u32,
                matches!(self.threshold, Threshold::Clip { .. }),
            )
        };
        self.done += 1;
        Ok(())
    }
}
