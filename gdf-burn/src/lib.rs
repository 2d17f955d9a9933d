//! # gdf-burn: gdf inside burn trainers
//!
//! The glue a burn 0.22 trainer needs around [`gdf`]:
//!
//! * [`diffuse`]: gdf's `diffuse` on a burn tensor, on any backend (the host path: `x0` is
//!   read back once, gdf draws `t` and ε, the outputs become tensors on `x0`'s device). With
//!   the `wgpu` feature, [`device::diffuse`] runs gdf's one-launch kernel on the buffers of
//!   burn's cubecl backend itself (no copy).
//! * per-sample values (noise cond, loss weight) shaped `[B, 1, …]` so they broadcast against
//!   `[B, …]` ([`per_sample`]), the weighted loss ([`weighted_loss`]) and a noise-cond
//!   embedding ([`Embedding`]);
//! * a burn model as a gdf sampling model: on the host ([`HostModel`], a fallible
//!   [`gdf::sample::Model`] whose burn errors stop the run with a [`GdfError::Model`] instead
//!   of a panic; [`SolverSpec`] sets up gdf's sampling builder with any of its solvers) and on
//!   the device ([`device::BurnDeviceModel`], a [`gdf::kernel::step::DeviceModel`] whose output
//!   buffer the solver reads in place);
//! * seeds advanced for the user ([`Steps`]: a step counter that derives every step's seeds);
//! * consistency training's and distillation's batches on burn tensors
//!   ([`consistency_batch`], [`distillation_batch`]: the pair's inputs and noise conds, the
//!   weighted pseudo-Huber loss with the teacher detached);
//! * a sampler transition's log-probability on burn tensors, differentiable in the model's
//!   output ([`transition_log_prob`]), for policy-gradient fine-tuning (DDPO, Flow-GRPO);
//! * a moving average of any module's weights ([`ema_update`]: the EMA for sampling,
//!   consistency distillation's target network).
//!
//! ## Core usage
//!
//! ```
//! use burn::tensor::{Device, Tensor, TensorData};
//! use gdf_burn::{diffuse, weighted_loss, Embedding, HostModel, SolverSpec, Steps};
//!
//! let g: gdf::dynamic::DynGdf = "schedule: Cosine, scaler: Vp, target: V, noise_cond: CosineT, \
//!                                loss_weight: Constant".parse()?;   // e.g. from a config file
//! # #[allow(deprecated)]
//! let device = Device::ndarray();
//! let emb = Embedding::octaves(4, 1.0);                        // [c, sin(f·c), cos(f·c)]
//! let model = |x: Tensor<2>, e: Tensor<2>| x * 0.5 + e.sum_dim(1) * 0.0; // your burn model
//! let mut steps = Steps::new(42);                              // derives every step's seeds
//! // A training step:
//! let s = steps.next();
//! let x0 = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 8 * 2], [8, 2]), &device);
//! let d = diffuse(&g, x0, &s.diffuse_args())?;                 // noised, target, cond, weight
//! assert_eq!(d.noise_cond.dims(), [8, 1]);                     // [B, 1]: broadcasts
//! let pred = model(d.noised, emb.forward(d.noise_cond));
//! let loss = weighted_loss(pred, d.target, d.loss_weight);     // loss.weighted.backward()
//! assert!(loss.weighted.into_scalar::<f32>().is_finite());
//! // Sampling with one of gdf's solvers; burn errors stop the run as `GdfError::Model`.
//! let m = HostModel::new(|x, c| model(x, emb.forward(c)), device.clone(), &[2])?;
//! let spec = SolverSpec { solver: "dpmpp_2m".into(), steps: 10, seed: 7 };
//! let x = spec.sampling(&g, 100, 2)?.run(m)?;
//! assert_eq!(x.len(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## burn's `fusion` feature
//!
//! The host path works with any backend, fusion or not. The no-copy kernel path
//! ([`device`], feature `wgpu`) needs the tensor's primitive to be burn's `CubeTensor`,
//! which is the case when burn is built **without** its default `fusion` feature
//! (`burn = { version = "0.22", default-features = false, features = ["std", "wgpu", …] }`).
//! With `fusion` on, the primitive is a `FusionTensor` whose constructor is private to burn:
//! [`device::diffuse`] then returns [`Error::NotCube`] naming the feature, and the host
//! [`diffuse`] is the path to use (or a burn custom op registered with the fusion client).

#![warn(missing_docs)]

use core::fmt;

use burn::tensor::{Device, Tensor, TensorData};
use gdf::framework::{DiffuseArgs, Framework};
use gdf::sampling::SamplingBuilder;
use gdf::solver::AnySolver;
use gdf::GdfError;
use serde::{Deserialize, Serialize};

#[cfg(feature = "wgpu")]
pub mod device;

/// What can go wrong in the adapter: gdf's typed errors, and burn's (a failed read-back, a
/// tensor of the wrong shape or dtype), as values rather than panics.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// gdf refused the call (lengths, ranges, a solver that cannot run on the grid, …).
    Gdf(GdfError),
    /// burn could not read a tensor back to the host (execution error, dtype).
    Read {
        /// Which tensor.
        what: &'static str,
        /// burn's message.
        message: String,
    },
    /// A tensor's shape is not what the call needs.
    Shape {
        /// Which tensor.
        what: &'static str,
        /// Its shape.
        got: Vec<usize>,
        /// What it must be.
        expected: String,
    },
    /// The tensor's primitive is not a plain cubecl tensor (burn's `fusion` feature on, or
    /// another backend), so gdf's kernels cannot use its buffer.
    NotCube {
        /// Which tensor.
        what: &'static str,
        /// Why, and what to do.
        message: String,
    },
    /// A gdf kernel refused the call.
    #[cfg(feature = "wgpu")]
    Kernel(gdf::kernel::KernelError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Gdf(e) => e.fmt(f),
            Error::Read { what, message } => {
                write!(f, "reading `{what}` back from burn failed: {message}")
            }
            Error::Shape {
                what,
                got,
                expected,
            } => write!(f, "`{what}` has shape {got:?}, expected {expected}"),
            Error::NotCube { what, message } => {
                write!(
                    f,
                    "`{what}` is not a cubecl tensor gdf's kernels can use: {message}"
                )
            }
            #[cfg(feature = "wgpu")]
            Error::Kernel(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<GdfError> for Error {
    fn from(e: GdfError) -> Self {
        Error::Gdf(e)
    }
}

#[cfg(feature = "wgpu")]
impl From<gdf::kernel::KernelError> for Error {
    fn from(e: gdf::kernel::KernelError) -> Self {
        Error::Kernel(e)
    }
}

/// The adapter's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// A float tensor's values on the host, row-major (one read-back; burn errors as
/// [`Error::Read`]).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// # #[allow(deprecated)]
/// let t = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &Device::ndarray());
/// assert_eq!(gdf_burn::to_vec(t, "t")?, vec![1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), gdf_burn::Error>(())
/// ```
pub fn to_vec<const D: usize>(t: Tensor<D>, what: &'static str) -> Result<Vec<f32>> {
    t.try_into_vec_as::<f32>().map_err(|e| Error::Read {
        what,
        message: e.to_string(),
    })
}

/// A `[B, 1, …, 1]` tensor (rank `D`) of per-sample values, so they broadcast against a
/// `[B, …]` batch.
///
/// ```
/// use burn::tensor::Device;
/// # #[allow(deprecated)]
/// let w = gdf_burn::per_sample::<3>(vec![1.0, 2.0], &Device::ndarray());
/// assert_eq!(w.dims(), [2, 1, 1]);
/// ```
pub fn per_sample<const D: usize>(values: Vec<f32>, device: &Device) -> Tensor<D> {
    let mut shape = [1usize; D];
    shape[0] = values.len();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A rank-`D` tensor from host values with the given shape.
fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// [`diffuse`]'s result: the model's inputs, its regression target and the per-sample
/// values, as tensors on `x0`'s device.
#[derive(Clone, Debug)]
pub struct Diffused<const D: usize> {
    /// `a·x0 + b·ε`, `x0`'s shape.
    pub noised: Tensor<D>,
    /// The framework's target, `x0`'s shape.
    pub target: Tensor<D>,
    /// The noise cond, `[B, 1, …]`.
    pub noise_cond: Tensor<D>,
    /// The loss weight, `[B, 1, …]`.
    pub loss_weight: Tensor<D>,
    /// The per-sample logSNR on the host (what an adaptive loss weight or schedule is
    /// updated with).
    pub logsnr: Vec<f32>,
}

/// gdf's `diffuse` on a burn tensor `x0` (`[B, …]`, any backend): `t` and ε drawn by gdf
/// from `args.seed` (unless given), the outputs as tensors on `x0`'s device. One read-back
/// of `x0` and one upload of each output.
///
/// Errors: `x0` of rank 0 or an empty batch, a read-back failure, and whatever gdf's
/// `diffuse` refuses (see [`gdf::framework::Gdf::diffuse`]).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gdf::framework::DiffuseArgs;
/// gdf::gdf!(Fw = schedule: Cosine, scaler: Vp, target: Epsilon, noise_cond: LogSnr,
///           loss_weight: Constant);
/// # #[allow(deprecated)]
/// let x0 = Tensor::<3>::zeros([4, 3, 5], &Device::ndarray());
/// let d = gdf_burn::diffuse(&Fw::default(), x0, &DiffuseArgs { seed: 3, ..Default::default() })?;
/// assert_eq!((d.noised.dims(), d.loss_weight.dims()), ([4, 3, 5], [4, 1, 1]));
/// # Ok::<(), gdf_burn::Error>(())
/// ```
pub fn diffuse<G: Framework, const D: usize>(
    g: &G,
    x0: Tensor<D>,
    args: &DiffuseArgs<'_, f32>,
) -> Result<Diffused<D>> {
    let dims = x0.dims();
    let batch = batch_of(&dims, "x0")?;
    let device = x0.device();
    let host = to_vec(x0, "x0")?;
    let d = g.diffuse(&host, batch, args)?;
    Ok(Diffused {
        noised: tensor(d.noised, dims, &device),
        target: tensor(d.target, dims, &device),
        noise_cond: per_sample(d.noise_cond, &device),
        loss_weight: per_sample(d.loss_weight, &device),
        logsnr: d.logsnr,
    })
}

fn batch_of(dims: &[usize], what: &'static str) -> Result<usize> {
    match dims.first() {
        Some(&b) if b > 0 && dims.iter().all(|&d| d > 0) => Ok(b),
        _ => Err(Error::Shape {
            what,
            got: dims.to_vec(),
            expected: "[B, …] with B ≥ 1 and no empty dimension".into(),
        }),
    }
}

/// [`weighted_loss`]'s result.
#[derive(Clone, Debug)]
pub struct Loss {
    /// `mean_b(w_b · mse_b)`, shape `[1]`: what to call `backward` on.
    pub weighted: Tensor<1>,
    /// `mse_b`, the unweighted per-sample mean squared error, `[B]`, detached: what gdf's
    /// adaptive loss weight and adaptive schedule are updated with.
    pub per_sample: Tensor<1>,
}

/// gdf's training loss (the original trainer's `(loss_weight · mse.mean(dims[1:])).mean()`):
/// the per-sample mean squared error between `pred` and `target` (`[B, …]`), weighted by
/// `weight` (`[B, 1, …]` from [`diffuse`]), averaged over the batch.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// # #[allow(deprecated)]
/// let dev = Device::ndarray();
/// let pred = Tensor::<2>::from_floats([[1.0, 1.0], [0.0, 2.0]], &dev);
/// let target = Tensor::<2>::zeros([2, 2], &dev);
/// let w = gdf_burn::per_sample::<2>(vec![1.0, 0.5], &dev);
/// let l = gdf_burn::weighted_loss(pred, target, w);
/// // mse = [1, 2], weighted mean = (1·1 + 0.5·2) / 2 = 1
/// assert_eq!(l.weighted.into_scalar::<f32>(), 1.0);
/// assert_eq!(gdf_burn::to_vec(l.per_sample, "mse")?, vec![1.0, 2.0]);
/// # Ok::<(), gdf_burn::Error>(())
/// ```
pub fn weighted_loss<const D: usize>(
    pred: Tensor<D>,
    target: Tensor<D>,
    weight: Tensor<D>,
) -> Loss {
    let b = pred.dims()[0];
    let d = pred - target;
    let mse: Tensor<2> = (d.clone() * d).reshape([b as i64, -1]).mean_dim(1); // [B, 1]
    let w: Tensor<2> = weight.reshape([b as i64, 1]);
    Loss {
        weighted: (mse.clone() * w).mean(),
        per_sample: mse.detach().reshape([b]),
    }
}

/// `log p(x_next | x)` of one sampler transition ([`gdf::solver::GaussianStep`], from
/// [`gdf::solver::gaussian_steps`]) per sample, `[B]`, averaged over each sample's elements as
/// DDPO and Flow-GRPO average it, on burn tensors and differentiable in `pred`: the model's raw
/// output of `target` (ε, v, flow velocity, …) at the step's level. The mean is
/// `c_x·x + c_p·pred` with `[c_x, c_p]` = [`GaussianStep::for_prediction`](gdf::solver::GaussianStep::for_prediction);
/// `x` and `x_next` are the rollout's recorded latents (detach them).
///
/// A policy-gradient loss is then built from it as the method prescribes (the likelihood
/// ratio `exp(lp − lp_old)`, clipped, times the advantage).
///
/// Errors: [`Error::Gdf`] for a deterministic step (`std = 0`: no density) or a target that
/// gives no x0 at the step's level; [`Error::Shape`] for shapes that differ.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gdf::scaler::Lerp;
/// use gdf::solver::{gaussian_steps, FlowSde, Grid};
/// use gdf::target::RectifiedFlows;
/// # #[allow(deprecated)]
/// let dev = Device::ndarray();
/// let grid = Grid::new(&Lerp, &[f64::NEG_INFINITY, 0.0, f64::INFINITY])?;
/// let step = gaussian_steps(&FlowSde::new(0.7)?, &grid)?[1];
/// let x = Tensor::<2>::from_floats([[0.3, -0.2], [1.0, 0.5]], &dev);
/// let x_next = Tensor::<2>::from_floats([[0.2, -0.1], [0.6, 0.4]], &dev);
/// let pred = Tensor::<2>::from_floats([[0.1, 0.1], [0.4, 0.0]], &dev); // the velocity
/// let lp = gdf_burn::transition_log_prob(&step, &RectifiedFlows, x_next, x, pred)?;
/// assert_eq!(lp.dims(), [2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn transition_log_prob<T: gdf::target::Target, const D: usize>(
    step: &gdf::solver::GaussianStep,
    target: &T,
    x_next: Tensor<D>,
    x: Tensor<D>,
    pred: Tensor<D>,
) -> Result<Tensor<1>> {
    step.check_density()?;
    let shape = x.dims();
    for (what, d) in [("x_next", x_next.dims()), ("pred", pred.dims())] {
        if d != shape {
            return Err(Error::Shape {
                what,
                got: d.to_vec(),
                expected: format!("x's shape {shape:?}"),
            });
        }
    }
    let [c_x, c_p] = step.for_prediction(target)?;
    let b = shape[0];
    let mean = x * (c_x as f32) + pred * (c_p as f32);
    let z = x_next - mean;
    let inv2v = (0.5 / (step.std * step.std)) as f32;
    let c = (-step.std.ln() - 0.5 * (2.0 * core::f64::consts::PI).ln()) as f32;
    let sq: Tensor<2> = (z.clone() * z).reshape([b as i64, -1]).mean_dim(1); // [B, 1]
    Ok((sq * (-inv2v) + c).reshape([b]))
}

/// The improved consistency-training distance ([`gdf::consistency::pseudo_huber`]) per
/// sample, `[B]`, on burn tensors and differentiable: `√(‖x − y‖² + c²) − c` with
/// `c = 0.00054·√d`, `d` the elements per sample. Weigh it by the pair's
/// `1/(σ_{i+1} − σ_i)` ([`gdf::consistency::PairInputs::weight`]) and average for the loss.
///
/// Errors: [`Error::Shape`] for shapes that differ.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// # #[allow(deprecated)]
/// let dev = Device::ndarray();
/// let x = Tensor::<2>::from_floats([[0.3, 0.4], [1.0, 1.0]], &dev);
/// let y = Tensor::<2>::from_floats([[0.0, 0.0], [1.0, 1.0]], &dev);
/// let d = gdf_burn::pseudo_huber(x, y)?;
/// let c = 0.00054f32 * 2f32.sqrt();
/// let v = d.into_data().to_vec::<f32>().unwrap();
/// assert!((v[0] - ((0.25 + c * c).sqrt() - c)).abs() < 1e-6 && v[1] == 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pseudo_huber<const D: usize>(x: Tensor<D>, y: Tensor<D>) -> Result<Tensor<1>> {
    let shape = x.dims();
    if y.dims() != shape {
        return Err(Error::Shape {
            what: "y",
            got: y.dims().to_vec(),
            expected: format!("x's shape {shape:?}"),
        });
    }
    let b = shape[0];
    let per: usize = shape[1..].iter().product();
    let c = (0.00054 * (per as f64).sqrt()) as f32;
    let z = x - y;
    let sq: Tensor<2> = (z.clone() * z).reshape([b as i64, -1]).sum_dim(1); // [B, 1]
    Ok(((sq + c * c).sqrt() - c).reshape([b]))
}

/// An exponential moving average of a module's weights moved toward `model`'s: every float
/// parameter of `average` becomes `decay·average + (1 − decay)·model`, matched by position
/// (the two are the same module type; `average` is typically `model.valid()` taken once and
/// kept on the plain device). The EMA of the weights used for sampling, and consistency
/// distillation's target network ([`gdf::consistency::Distillation::target_ema`]).
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::tensor::Device;
/// # #[allow(deprecated)]
/// let dev = Device::ndarray();
/// let old: Linear = LinearConfig::new(2, 3).init(&dev);   // the average so far
/// let model: Linear = LinearConfig::new(2, 3).init(&dev); // the weights after a step
/// let avg = gdf_burn::ema_update(old.clone(), &model, 0.75)?;
/// let v = |l: &Linear| gdf_burn::to_vec(l.weight.val(), "weight").unwrap();
/// for ((a, o), m) in v(&avg).iter().zip(v(&old)).zip(v(&model)) {
///     assert!((a - (0.75 * o + 0.25 * m)).abs() < 1e-6);
/// }
/// // Another shape is refused.
/// let other: Linear = LinearConfig::new(3, 3).init(&dev);
/// assert!(gdf_burn::ema_update(other, &model, 0.75).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Errors: a `decay` outside `[0, 1)`; modules whose float parameters differ in count or
/// shape.
pub fn ema_update<M: burn::module::Module>(average: M, model: &M, decay: f64) -> Result<M> {
    use burn::module::{ModuleMapper, ModuleVisitor, Param};
    if !(0.0..1.0).contains(&decay) {
        return Err(GdfError::OutOfRange {
            what: "decay",
            value: decay,
            expected: "a decay in [0, 1) (0.999: a half-life of about 700 steps)",
        }
        .into());
    }
    /// The model's float parameters, flattened, in visiting order.
    struct Collect(Vec<(Vec<usize>, Tensor<1>)>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            let dims = t.dims().to_vec();
            let n = dims.iter().product::<usize>() as i64;
            self.0.push((dims, t.reshape([n])));
        }
    }
    /// The average's float parameters moved toward them, in the same order.
    struct Blend {
        from: std::vec::IntoIter<(Vec<usize>, Tensor<1>)>,
        decay: f32,
        mismatch: Option<(Vec<usize>, String)>,
    }
    impl ModuleMapper for Blend {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some((dims, m)) = self.from.next() else {
                self.mismatch
                    .get_or_insert((Vec::new(), "as many float parameters as `model`".into()));
                return param;
            };
            let (b, k) = (self.decay, 1.0 - self.decay);
            param.map(|t| {
                if t.dims().as_slice() != dims.as_slice() {
                    self.mismatch
                        .get_or_insert((t.dims().to_vec(), format!("model's shape {dims:?}")));
                    return t;
                }
                let shape: [i64; D] = core::array::from_fn(|d| dims[d] as i64);
                t * b + m.reshape(shape) * k
            })
        }
    }
    let mut collect = Collect(Vec::new());
    model.valid().visit(&mut collect);
    let count = collect.0.len();
    let mut blend = Blend {
        from: collect.0.into_iter(),
        decay: decay as f32,
        mismatch: None,
    };
    let out = average.map(&mut blend);
    let left = blend.from.len();
    match blend.mismatch {
        Some((got, expected)) => Err(Error::Shape {
            what: "average",
            got,
            expected,
        }),
        None if left > 0 => Err(Error::Shape {
            what: "average",
            got: vec![count - left],
            expected: format!("{count} float parameters, as `model` has"),
        }),
        None => Ok(out),
    }
}

/// One consistency-training or distillation batch on burn tensors ([`consistency_batch`],
/// [`distillation_batch`]): the model's inputs at the pair's two levels and what turns its
/// two outputs into the loss.
#[derive(Clone, Debug)]
pub struct ConsistencyBatch<const D: usize> {
    /// The student's input (the noisier level), `x0`'s shape.
    pub student: Tensor<D>,
    /// Its noise cond, `[B, 1, …]`.
    pub student_cond: Tensor<D>,
    /// The teacher's input (the same noise at the cleaner level).
    pub teacher: Tensor<D>,
    /// Its noise cond, `[B, 1, …]`.
    pub teacher_cond: Tensor<D>,
    /// The host batch (levels, pairs, weights, coefficients).
    pub host: gdf::consistency::CtBatch<f32>,
    student_c: [Tensor<D>; 2],
    teacher_c: [Tensor<D>; 2],
    weight: Tensor<1>,
}

/// gdf's consistency-training batch ([`gdf::consistency::ImprovedCt::batch`]) for a burn
/// tensor `x0` (`[B, …]` in data units, any backend): the step's pairs and noise drawn by
/// gdf, the inputs and per-sample noise conds as tensors on `x0`'s device. Feed both inputs to
/// the same model and hand the outputs to [`ConsistencyBatch::loss`].
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gdf::consistency::{CtStep, ImprovedCt};
/// let g: gdf::dynamic::DynGdf = "schedule: EdmSample(sigma_range = [0.004, 160.0]), scaler: Vp, \
///     target: Consistency(sigma_min = 0.004), noise_cond: Edm, loss_weight: Constant".parse()?;
/// # #[allow(deprecated)]
/// let dev = Device::ndarray().autodiff();
/// let x0 = Tensor::<2>::from_floats([[0.3, -0.2], [0.5, 0.1]], &dev);
/// let at = CtStep { step: 0, total: 10_000, seed: 7, first_sample: 0 };
/// let b = gdf_burn::consistency_batch(&g, &ImprovedCt::new(), x0, at)?;
/// let model = |x: Tensor<2>, c: Tensor<2>| x * 0.5 + c; // your burn model
/// let loss = b.loss(model(b.student.clone(), b.student_cond.clone()),
///                   model(b.teacher.clone(), b.teacher_cond.clone()))?;
/// assert_eq!(loss.dims(), [1]); // loss.backward(): the gradient flows through the student
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Errors: `x0` of rank 0 or an empty batch, a read-back failure, and what
/// [`ImprovedCt::batch`](gdf::consistency::ImprovedCt::batch) refuses (a framework that is not
/// consistency training's frame, named).
pub fn consistency_batch<G: Framework, const D: usize>(
    g: &G,
    ict: &gdf::consistency::ImprovedCt,
    x0: Tensor<D>,
    at: gdf::consistency::CtStep,
) -> Result<ConsistencyBatch<D>> {
    let dims = x0.dims();
    let batch = batch_of(&dims, "x0")?;
    let device = x0.device();
    let host = ict.batch(g, &to_vec(x0, "x0")?, batch, at)?;
    Ok(ConsistencyBatch::on(host, dims, &device))
}

/// Consistency distillation's batch ([`gdf::consistency::Distillation::batch`]) for a burn
/// tensor `x0` (`[B, …]` in data units): the student's noised input and, as the teacher's
/// input, the pretrained model's ODE step from it, as tensors on `x0`'s device, with the
/// same [`ConsistencyBatch::loss`]. `teacher(x, sigma, d)` is the pretrained model as EDM's
/// denoiser in data units on the host (`x` the batch's noised samples, `sigma` each sample's
/// σ, `d` the clean estimates to write).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gdf::consistency::Distillation;
/// let g: gdf::dynamic::DynGdf = "schedule: EdmSample(sigma_range = [0.004, 160.0]), scaler: Vp, \
///     target: Consistency(sigma_min = 0.004), noise_cond: Edm, loss_weight: Constant".parse()?;
/// # #[allow(deprecated)]
/// let dev = Device::ndarray();
/// let x0 = Tensor::<2>::from_floats([[0.3, -0.2], [0.5, 0.1]], &dev);
/// // A teacher that knows the data's mean (your pretrained model, as a denoiser).
/// let teacher = |_: &[f32], _: &[f64], d: &mut [f32]| -> gdf::Result<()> {
///     d.fill(0.2);
///     Ok(())
/// };
/// let b = gdf_burn::distillation_batch(&g, &Distillation::new(), x0, 7, 0, teacher)?;
/// assert_eq!((b.student.dims(), b.teacher_cond.dims()), ([2, 2], [2, 1]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Errors: `x0` of rank 0 or an empty batch, a read-back failure, and what
/// [`Distillation::batch`](gdf::consistency::Distillation::batch) refuses.
pub fn distillation_batch<G: Framework, const D: usize>(
    g: &G,
    cd: &gdf::consistency::Distillation,
    x0: Tensor<D>,
    seed: u64,
    first_sample: u32,
    teacher: impl FnMut(&[f32], &[f64], &mut [f32]) -> gdf::Result<()>,
) -> Result<ConsistencyBatch<D>> {
    let dims = x0.dims();
    let batch = batch_of(&dims, "x0")?;
    let device = x0.device();
    let host = cd.batch(g, &to_vec(x0, "x0")?, batch, seed, first_sample, teacher)?;
    Ok(ConsistencyBatch::on(host, dims, &device))
}

impl<const D: usize> ConsistencyBatch<D> {
    /// The host batch's tensors on `device`.
    fn on(host: gdf::consistency::CtBatch<f32>, dims: [usize; D], device: &Device) -> Self {
        let coef = |c: &[[f64; 2]], k: usize| {
            per_sample::<D>(c.iter().map(|v| v[k] as f32).collect(), device)
        };
        let batch = host.pairs.len();
        Self {
            student: tensor(host.inputs.student.clone(), dims, device),
            student_cond: per_sample(host.student_cond.clone(), device),
            teacher: tensor(host.inputs.teacher.clone(), dims, device),
            teacher_cond: per_sample(host.teacher_cond.clone(), device),
            student_c: [coef(&host.student_x0, 0), coef(&host.student_x0, 1)],
            teacher_c: [coef(&host.teacher_x0, 0), coef(&host.teacher_x0, 1)],
            weight: tensor(
                host.inputs.weight.iter().map(|&w| w as f32).collect(),
                [batch],
                device,
            ),
            host,
        }
    }

    /// The student's `x0/σ_d` from the model's output on [`ConsistencyBatch::student`].
    pub fn student_x0(&self, out: Tensor<D>) -> Tensor<D> {
        self.student.clone() * self.student_c[0].clone() + out * self.student_c[1].clone()
    }

    /// The teacher's `x0/σ_d` from the model's output on [`ConsistencyBatch::teacher`].
    pub fn teacher_x0(&self, out: Tensor<D>) -> Tensor<D> {
        self.teacher.clone() * self.teacher_c[0].clone() + out * self.teacher_c[1].clone()
    }

    /// The step's loss, `[1]`: the mean over the batch of the pair's weight times the
    /// pseudo-Huber distance of the two x0 estimates in data units
    /// ([`CtBatch::loss`](gdf::consistency::CtBatch::loss) on the host), with the teacher's
    /// output detached (the improved recipe's stopped same network).
    ///
    /// Errors: [`Error::Shape`] for outputs not in the inputs' shape.
    pub fn loss(&self, student_out: Tensor<D>, teacher_out: Tensor<D>) -> Result<Tensor<1>> {
        let shape = self.student.dims();
        for (what, d) in [
            ("student output", student_out.dims()),
            ("teacher output", teacher_out.dims()),
        ] {
            if d != shape {
                return Err(Error::Shape {
                    what,
                    got: d.to_vec(),
                    expected: format!("the inputs' shape {shape:?}"),
                });
            }
        }
        let sd = self.host.sigma_data as f32;
        let s = self.student_x0(student_out) * sd;
        let t = self.teacher_x0(teacher_out.detach()).detach() * sd;
        Ok((pseudo_huber(s, t)? * self.weight.clone()).mean())
    }
}

/// A noise-cond embedding: `[c, sin(f_1·c), …, sin(f_K·c), cos(f_1·c), …, cos(f_K·c)]`
/// for a `[B, 1]` noise cond `c`, giving `[B, 1 + 2K]`. gdf hands the model one scalar per
/// sample; an MLP learns far faster from these features.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    freqs: Vec<f32>,
}

impl Embedding {
    /// `K` octaves: `f_k = base·2^k`, `k = 0 … K−1` (Fourier features; for a noise cond in
    /// `[0, 1]` such as `CosineT`, `base = π` puts the first period on the whole range).
    ///
    /// ```
    /// let e = gdf_burn::Embedding::octaves(3, 1.0);
    /// assert_eq!(e.freqs(), &[1.0, 2.0, 4.0]);
    /// assert_eq!(e.width(), 7);
    /// ```
    pub fn octaves(k: usize, base: f32) -> Self {
        Self {
            freqs: (0..k).map(|i| base * (1u64 << i.min(63)) as f32).collect(),
        }
    }

    /// Transformer-style frequencies, `f_k = max_period^(−k/K)`, `k = 0 … K−1` (for a noise
    /// cond of large range such as `LogSnr` or `Edm`, typically scaled first).
    ///
    /// ```
    /// let e = gdf_burn::Embedding::sinusoidal(2, 10_000.0);
    /// assert_eq!(e.freqs(), &[1.0, 0.01]);
    /// ```
    pub fn sinusoidal(k: usize, max_period: f32) -> Self {
        Self {
            freqs: (0..k)
                .map(|i| max_period.powf(-(i as f32) / k as f32))
                .collect(),
        }
    }

    /// The frequencies.
    pub fn freqs(&self) -> &[f32] {
        &self.freqs
    }

    /// The embedding's width, `1 + 2K`.
    pub fn width(&self) -> usize {
        1 + 2 * self.freqs.len()
    }

    /// Embeds `c` (`[B, 1]`) as `[B, 1 + 2K]`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// # #[allow(deprecated)]
    /// let c = Tensor::<2>::from_floats([[0.5]], &Device::ndarray());
    /// let e = gdf_burn::Embedding::octaves(1, 2.0).forward(c);
    /// let v = gdf_burn::to_vec(e, "e")?;
    /// assert_eq!(v[0], 0.5);
    /// assert!((v[1] - 1f32.sin()).abs() < 1e-6 && (v[2] - 1f32.cos()).abs() < 1e-6);
    /// # Ok::<(), gdf_burn::Error>(())
    /// ```
    pub fn forward(&self, c: Tensor<2>) -> Tensor<2> {
        let device = c.device();
        let f = Tensor::<1>::from_data(
            TensorData::new(self.freqs.clone(), [self.freqs.len()]),
            &device,
        )
        .reshape([1, self.freqs.len()]);
        let arg = c.clone() * f;
        Tensor::cat(vec![c, arg.clone().sin(), arg.cos()], 1)
    }
}

/// A step counter that derives each training step's seeds from one run seed, so a trainer
/// never advances a seed by hand and a resumed run draws what an uninterrupted run would.
/// It is plain data (serde): save it with the checkpoint.
///
/// ```
/// let mut a = gdf_burn::Steps::new(7);
/// let (s0, s1) = (a.next(), a.next());
/// assert_ne!(s0.diffuse_seed, s1.diffuse_seed);
/// // Resuming from a saved counter continues the same sequence.
/// let mut b: gdf_burn::Steps = serde_json::from_str(&serde_json::to_string(&gdf_burn::Steps { seed: 7, step: 1 })?)?;
/// assert_eq!(b.next(), s1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Steps {
    /// The run's seed.
    pub seed: u64,
    /// Steps taken so far (the next step's index).
    pub step: u64,
}

/// One step's seeds (from [`Steps::next`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepSeeds {
    /// The step's index.
    pub step: u64,
    /// The seed of gdf's draws (`t`, ε) for this step.
    pub diffuse_seed: u64,
    /// A second independent seed for the step's data (e.g. which examples it draws).
    pub data_seed: u64,
}

impl StepSeeds {
    /// [`DiffuseArgs`] with this step's seed.
    pub fn diffuse_args(&self) -> DiffuseArgs<'static, f32> {
        DiffuseArgs {
            seed: self.diffuse_seed,
            ..Default::default()
        }
    }
}

/// SplitMix64's finaliser: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Steps {
    /// A counter at step 0.
    pub fn new(seed: u64) -> Self {
        Self { seed, step: 0 }
    }

    /// The next step's seeds; advances the counter.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> StepSeeds {
        let step = self.step;
        self.step += 1;
        let base = mix(self.seed ^ mix(step.wrapping_add(0x9e37_79b9_7f4a_7c15)));
        StepSeeds {
            step,
            diffuse_seed: mix(base ^ 1),
            data_seed: mix(base ^ 2),
        }
    }
}

/// A burn model as gdf's host sampling model: `forward(x, noise_cond)` with `x` shaped
/// `[B, sample_shape…]` (rank `D`) and the noise cond `[B, 1, …]`, returning the prediction
/// of the framework's target in `x`'s shape. As a [`gdf::sample::Model`] it moves gdf's slices in
/// and the prediction out, with burn's read-back errors and a wrong output shape as
/// [`Error`] values.
pub struct HostModel<M, const D: usize> {
    forward: M,
    device: Device,
    sample_shape: Vec<usize>,
}

impl<M: FnMut(Tensor<D>, Tensor<D>) -> Tensor<D>, const D: usize> HostModel<M, D> {
    /// `forward` on `device` for samples of `sample_shape` (`D − 1` dimensions).
    ///
    /// Errors: `sample_shape` is not `D − 1` dimensions or has an empty one.
    pub fn new(forward: M, device: Device, sample_shape: &[usize]) -> Result<Self> {
        if sample_shape.len() + 1 != D || sample_shape.contains(&0) {
            return Err(Error::Shape {
                what: "sample_shape",
                got: sample_shape.to_vec(),
                expected: format!(
                    "{} non-empty dimensions (the model's rank {D} minus the batch)",
                    D - 1
                ),
            });
        }
        Ok(Self {
            forward,
            device,
            sample_shape: sample_shape.to_vec(),
        })
    }

    /// Elements per sample.
    pub fn per(&self) -> usize {
        self.sample_shape.iter().product()
    }

    fn run(&mut self, x: &[f32], noise_cond: &[f32], pred: &mut [f32]) -> Result<()> {
        let b = noise_cond.len();
        let per = self.per();
        for (what, len) in [("x", x.len()), ("pred", pred.len())] {
            if len != b * per {
                return Err(GdfError::LengthMismatch {
                    what,
                    expected: b * per,
                    got: len,
                }
                .into());
            }
        }
        let mut shape = [1usize; D];
        shape[0] = b;
        shape[1..].copy_from_slice(&self.sample_shape);
        let xt = tensor(x.to_vec(), shape, &self.device);
        let ct = per_sample(noise_cond.to_vec(), &self.device);
        let out = (self.forward)(xt, ct);
        if out.dims() != shape {
            return Err(Error::Shape {
                what: "model output",
                got: out.dims().to_vec(),
                expected: format!("{shape:?} (the input's shape)"),
            });
        }
        pred.copy_from_slice(&to_vec(out, "model output")?);
        Ok(())
    }
}

/// gdf calls the burn model with `x` (`B · per` values) and the noise cond (`B` values); the
/// prediction is read back into gdf's `pred`. The model's own conditioning inputs are its
/// business (the closure owns them), so `inputs` is ignored.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gdf::sample::Model;
/// # #[allow(deprecated)]
/// let mut m = gdf_burn::HostModel::new(|x: Tensor<2>, c: Tensor<2>| x * c, Device::ndarray(), &[2])?;
/// let mut pred = [0.0f32; 4];
/// m.predict(&[1.0, 2.0, 3.0, 4.0], &[10.0, 0.5], &[], &mut pred)?;
/// assert_eq!(pred, [10.0, 20.0, 1.5, 2.0]);
/// // A wrong length is an error, not a panic.
/// assert!(m.predict(&[1.0], &[10.0, 0.5], &[], &mut pred).is_err());
/// # Ok::<(), gdf_burn::Error>(())
/// ```
impl<M: FnMut(Tensor<D>, Tensor<D>) -> Tensor<D>, const D: usize> gdf::sample::Model<f32>
    for HostModel<M, D>
{
    type Error = Error;
    fn predict(
        &mut self,
        x: &[f32],
        noise_cond: &[f32],
        _inputs: &[f32],
        pred: &mut [f32],
    ) -> Result<()> {
        self.run(x, noise_cond, pred)
    }
}

/// A sampling setup a config file can hold (serde): one of gdf's solvers by name, its
/// steps over the framework's schedule (`t` from 1 to 0) and the seed of the initial noise
/// and of the stochastic solvers' draws. [`SolverSpec::sampling`] turns it into gdf's
/// sampling builder.
///
/// ```
/// use gdf::sample::Model;
/// gdf::gdf!(Fw = schedule: Cosine, scaler: Vp, target: X0, noise_cond: LogSnr, loss_weight: Constant);
/// let spec = gdf_burn::SolverSpec { solver: "dpmpp_2m".into(), steps: 10, seed: 1 };
/// let g = Fw::default();
/// // A model that knows the data is the point 0.25.
/// let x = spec.sampling(&g, 3, 2)?.run(|_: &[f32], _: &[f32], _: &[f32], p: &mut [f32]| p.fill(0.25))?;
/// // The grid ends at t = 0, where the Cosine schedule's clamp leaves b = 0.01 of noise.
/// assert!(x.iter().all(|v| (v - 0.25).abs() < 0.05));
/// # Ok::<(), gdf_burn::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SolverSpec {
    /// A solver name [`AnySolver::from_name`] knows (`"dpmpp_2m"`, `"unipc"`, `"heun"`, …).
    pub solver: String,
    /// Steps.
    pub steps: usize,
    /// Seed.
    pub seed: u64,
}

impl SolverSpec {
    /// The solver. Errors: a name gdf does not know.
    pub fn solver(&self) -> Result<AnySolver> {
        Ok(AnySolver::from_name(&self.solver)?)
    }

    /// gdf's sampling builder for `batch` samples of `per` values with this solver, steps
    /// and seed (add guidance, a progress callback, … to it, then `run` it with a model).
    pub fn sampling<'a, G: Framework>(
        &self,
        g: &'a G,
        batch: usize,
        per: usize,
    ) -> Result<SamplingBuilder<'a, G, f32>> {
        Ok(g.sampling(batch, per)
            .solver(self.solver()?)
            .steps(self.steps)
            .seed(self.seed))
    }
}
