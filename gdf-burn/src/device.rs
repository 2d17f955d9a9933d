//! The no-copy kernel path on burn's cubecl backends (feature `wgpu`): gdf's fused kernels
//! read and write the buffers of burn's tensors themselves.
//!
//! A burn tensor on the wgpu backend (burn built without its `fusion` feature, see the
//! [crate docs](crate#burns-fusion-feature)) is a `CubeTensor`: a cubecl client, a buffer
//! handle and its layout. Those are the types gdf's kernels take, so [`cube`] moves a tensor
//! into its primitive (no copy), the kernel runs on its handle, and [`wrap`] makes a buffer
//! gdf wrote into a burn tensor again (no copy).
//!
//! * [`diffuse`]: gdf's one-launch device `diffuse` on a burn batch;
//! * [`BurnDeviceModel`]: a burn model as gdf's [`DeviceModel`] (for
//!   [`DeviceSampling`](gdf::kernel::step::DeviceSampling)), its output read in place;
//! * [`sample`]: any of gdf's solvers on the device ([`DeviceRun`]) with a burn model whose
//!   output buffer is fed to the solver as it is.

use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::tensor::{DType, Shape, Tensor};
use gdf::framework::Gdf;
use gdf::kernel::component::{
    CubeLossWeight, CubeNoiseCond, CubeScaler, CubeSchedule, CubeTarget, DeviceState,
};
use gdf::kernel::cubecl::prelude::Client;
use gdf::kernel::cubecl::server::Handle;
use gdf::kernel::framework::{self as kf, DiffuseIo, DiffuseSettings};
use gdf::kernel::solver::{DeviceNoise, DeviceRun};
use gdf::kernel::step::{DeviceModel, DeviceOutput};
use gdf::konst::Param;
use gdf::loss_weight::LossWeight;
use gdf::noise::Purpose;
use gdf::noise_cond::NoiseCond;
use gdf::scaler::Scaler;
use gdf::schedule::Schedule;
use gdf::solver::Grid;
use gdf::target::Target;
use gdf::Real;

use crate::{Error, Result, SolverSpec};

/// Moves a float tensor into its cubecl primitive (client, buffer handle, layout). No copy.
///
/// Errors: [`Error::NotCube`] when the tensor is not on burn's cubecl backend without
/// fusion, or is not a contiguous f32 tensor.
pub fn cube<const D: usize>(t: Tensor<D>, what: &'static str) -> Result<CubeTensor> {
    let p = t
        .try_into_primitive::<CubeBackend>()
        .map_err(|e| Error::NotCube {
            what,
            message: format!(
                "{e:?}; gdf's kernels need burn's wgpu backend built without the `fusion` \
                 feature (use the host path `gdf_burn::diffuse` otherwise)"
            ),
        })?;
    if !p.is_contiguous() || p.dtype != DType::F32 {
        return Err(Error::NotCube {
            what,
            message: format!(
                "dtype {:?}, contiguous {}; gdf's kernels need a contiguous f32 buffer",
                p.dtype,
                p.is_contiguous()
            ),
        });
    }
    Ok(p)
}

/// A buffer holding `shape`'s f32 values, row-major, as a burn tensor on `like`'s client
/// and device. No copy.
pub fn wrap<const D: usize>(like: &CubeTensor, handle: Handle, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_primitive::<CubeBackend>(CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        Shape::new(shape),
        handle,
        DType::F32,
    ))
}

/// [`diffuse`]'s result: burn tensors over the buffers gdf's kernel wrote.
#[derive(Clone, Debug)]
pub struct DeviceDiffused<const D: usize> {
    /// `a·x0 + b·ε`, `x0`'s shape.
    pub noised: Tensor<D>,
    /// The framework's target, `x0`'s shape (ε itself for an ε target).
    pub target: Tensor<D>,
    /// The logSNR, `[B, 1, …]`.
    pub logsnr: Tensor<D>,
    /// The noise cond, `[B, 1, …]`.
    pub noise_cond: Tensor<D>,
    /// The loss weight, `[B, 1, …]`.
    pub loss_weight: Tensor<D>,
    /// The handle of `x0`'s buffer the kernel read (kept so callers can check identity).
    pub x0_handle: Handle,
}

/// gdf's device `diffuse` on a burn batch `x0` (`[B, …]`, f32, on burn's wgpu backend):
/// one kernel launch reads `x0`'s own buffer and writes the outputs into fresh buffers that
/// become burn tensors; each sample's λ and ε are drawn on the device from `seed` as the host
/// `diffuse` draws them, so the numbers match the host [`crate::diffuse`] with the same seed
/// up to float rounding.
///
/// Errors: [`Error::NotCube`] (see [`cube`]), an empty batch, and what the kernel refuses
/// (a component without a device form).
pub fn diffuse<S, Sc, T, N, L, O, const D: usize>(
    g: &Gdf<S, Sc, T, N, L, O>,
    x0: Tensor<D>,
    seed: u64,
) -> Result<DeviceDiffused<D>>
where
    S: Schedule + CubeSchedule + DeviceState,
    Sc: Scaler + CubeScaler + DeviceState,
    T: Target + CubeTarget,
    N: NoiseCond + CubeNoiseCond + DeviceState,
    L: LossWeight + CubeLossWeight + DeviceState,
    O: Param,
{
    let dims = x0.dims();
    let b = crate::batch_of(&dims, "x0")?;
    let per = dims[1..].iter().product::<usize>();
    let x0 = cube(x0, "x0")?;
    let c: &Client = &x0.client;
    let n = b * per;
    let target = if g.target.is_epsilon() {
        None
    } else {
        Some(c.empty(4 * n))
    };
    let io = DiffuseIo {
        x0: x0.handle.clone(),
        eps: None,
        tl: None,
        tl_is_logsnr: false,
        offset: None,
        noised: c.empty(4 * n),
        eps_out: if target.is_none() {
            Some(c.empty(4 * n))
        } else {
            None
        },
        target,
        per_sample: c.empty(12 * b),
    };
    let set = DiffuseSettings {
        batch: b,
        per,
        seed,
        ..Default::default()
    };
    kf::diffuse::<f32, _, _, _, _, _, _>(c, g, &io, &set)?;
    let mut col = [1usize; D];
    col[0] = b;
    let ps: Tensor<2> = wrap(&x0, io.per_sample.clone(), [3, b]);
    let row = |k: usize| ps.clone().slice([k..k + 1, 0..b]).reshape(col);
    Ok(DeviceDiffused {
        noised: wrap(&x0, io.noised.clone(), dims),
        target: wrap(
            &x0,
            io.target
                .clone()
                .or(io.eps_out.clone())
                .expect("one written"),
            dims,
        ),
        logsnr: row(0),
        noise_cond: row(1),
        loss_weight: row(2),
        x0_handle: x0.handle.clone(),
    })
}

fn f32_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8.
    unsafe { core::slice::from_raw_parts(v.as_ptr().cast::<u8>(), core::mem::size_of_val(v)) }
}

/// A burn model as gdf's [`DeviceModel`]: `forward(x, noise_cond)` over burn tensors made
/// from gdf's buffers without copies (`x` shaped `[B, sample_shape…]`, the noise cond
/// `[B, 1, …]`), its output copied into gdf's `out` buffer on the device.
pub struct BurnDeviceModel<M, const D: usize> {
    forward: M,
    like: CubeTensor,
    device: burn::tensor::Device,
    sample_shape: Vec<usize>,
}

impl<M: FnMut(Tensor<D>, Tensor<D>) -> Tensor<D>, const D: usize> BurnDeviceModel<M, D> {
    /// `forward` for samples of `sample_shape` (`D − 1` dimensions); `like` is any tensor on
    /// the device the run uses (it gives the client and device).
    ///
    /// Errors: the shape's rank, [`Error::NotCube`] for `like`.
    pub fn new<const E: usize>(
        forward: M,
        like: Tensor<E>,
        sample_shape: &[usize],
    ) -> Result<Self> {
        if sample_shape.len() + 1 != D || sample_shape.contains(&0) {
            return Err(Error::Shape {
                what: "sample_shape",
                got: sample_shape.to_vec(),
                expected: format!("{} non-empty dimensions", D - 1),
            });
        }
        let device = like.device();
        Ok(Self {
            forward,
            like: cube(like, "like")?,
            device,
            sample_shape: sample_shape.to_vec(),
        })
    }

    /// The cubecl client of the model's device (what gdf's device runs take).
    pub fn client(&self) -> &Client {
        &self.like.client
    }

    fn shape(&self, b: usize) -> [usize; D] {
        let mut s = [1usize; D];
        s[0] = b;
        s[1..].copy_from_slice(&self.sample_shape);
        s
    }

    /// Runs the model on device buffers `x` and `noise_cond` (`b` samples); returns its
    /// output's buffer (no copy).
    pub fn forward_handles(&mut self, x: &Handle, noise_cond: &Handle, b: usize) -> Result<Handle> {
        let shape = self.shape(b);
        let mut col = [1usize; D];
        col[0] = b;
        let xt = wrap(&self.like, x.clone(), shape);
        let ct = wrap(&self.like, noise_cond.clone(), col);
        let out = (self.forward)(xt, ct);
        if out.dims() != shape {
            return Err(Error::Shape {
                what: "model output",
                got: out.dims().to_vec(),
                expected: format!("{shape:?} (the input's shape)"),
            });
        }
        Ok(cube(out, "model output")?.handle)
    }

    /// Runs the model at one level for the whole batch `x` (`b` samples): the noise cond
    /// `c` is filled on the device. Returns the output's buffer (no copy).
    pub fn forward_level(&mut self, x: &Handle, c: f32, b: usize) -> Result<Handle> {
        let mut col = [1usize; D];
        col[0] = b;
        let ct = Tensor::<D>::full(col, c, &self.device);
        let ct = cube(ct, "noise cond")?;
        self.forward_handles(x, &ct.handle, b)
    }
}

/// gdf's device sampling calls the burn model on its buffers (no copy in) and reads the
/// model's output buffer in place (no copy out); a burn failure stops the run with
/// [`gdf::GdfError::Model`].
impl<M: FnMut(Tensor<D>, Tensor<D>) -> Tensor<D>, const D: usize> DeviceModel
    for BurnDeviceModel<M, D>
{
    type Error = Error;
    fn predict(
        &mut self,
        _client: &Client,
        x: &Handle,
        noise_cond: &Handle,
        model_batch: usize,
        _guided: bool,
        _out: &Handle,
    ) -> Result<DeviceOutput> {
        Ok(DeviceOutput::Own(self.forward_handles(
            x,
            noise_cond,
            model_batch,
        )?))
    }
}

/// gdf's sampling builder ([`SolverSpec::sampling`](crate::SolverSpec::sampling)) on the
/// device: the solver of `spec` as a [`DeviceRun`] on the same grid (`spec.steps` over the
/// framework's schedule, `t` from 1 to 0), from the same counter-based initial noise and with
/// the same solver noise, so it gives the host run's samples up to float rounding. The
/// model's output buffer is fed to the solver as it is (one launch per evaluation converts
/// and updates). Returns the samples' buffer (`batch · per` f32 values).
///
/// Errors: the solver's name, the grid, [`Error::NotCube`], the model's shape.
pub fn sample<S, Sc, T, N, L, O, M, P, const D: usize>(
    g: &Gdf<S, Sc, T, N, L, O>,
    spec: &SolverSpec,
    batch: usize,
    model: &mut BurnDeviceModel<M, D>,
    mut progress: P,
) -> Result<Handle>
where
    S: Schedule,
    Sc: Scaler,
    T: Target + CubeTarget + Default,
    N: NoiseCond,
    L: LossWeight,
    O: Param,
    M: FnMut(Tensor<D>, Tensor<D>) -> Tensor<D>,
    P: FnMut(usize, usize),
{
    let per: usize = model.sample_shape.iter().product();
    let grid = Grid::from_schedule(&g.schedule, &g.scaler, spec.steps, 1.0, 0.0, 1.0)?;
    let mut x0 = vec![0.0f32; batch * per];
    for (b, xs) in x0.chunks_mut(per).enumerate() {
        f32::fill_normal(spec.seed, Purpose::Init, b as u32, 0, 0, xs);
    }
    let client = model.like.client.clone();
    let x_init = client.create_from_slice(f32_bytes(&x0));
    let mut run = DeviceRun::<f32, _>::new(
        &client,
        spec.solver()?,
        grid,
        &x_init,
        batch,
        per,
        DeviceNoise::Counter(spec.seed),
    )?;
    let total = run.total_evals();
    let mut done = 0;
    while let Some(req) = run.next_eval()? {
        let c = g.noise_cond.noise_cond(req.level.lam) as f32;
        let y = model.forward_level(&req.x, c, batch)?;
        run.feed::<T>(&y)?;
        done += 1;
        progress(done, total);
    }
    Ok(run.x().clone())
}
