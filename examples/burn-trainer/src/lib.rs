//! An example trainer: an MLP denoiser for gdf's 2-D Gaussian mixture ([`gdf::toy`]),
//! trained in burn (ndarray backend) with gdf's `diffuse` through [`gdf_burn`], the
//! framework read from a config file, checkpoint and resume, and sampling with one of gdf's
//! solvers beside the mixture's exact denoiser.
//!
//! With a `[consistency]` section (`consistency.toml`) it trains a consistency model instead:
//! the improved consistency-training recipe ([`gdf::consistency::ImprovedCt`] through
//! [`gdf_burn::consistency_batch`]), sampled in one or a few steps with `lcm` and the
//! consistency models' renoise. With `[distillation]` (`distillation.toml`) it distils the
//! mixture's exact denoiser into a consistency model ([`gdf::consistency::Distillation`]
//! through [`gdf_burn::distillation_batch`]): the teacher a pretrained diffusion model would
//! be, without its error, and the target a moving average of the student's weights
//! (`target_ema`, 0.95 as published).
//!
//! The binary (`src/main.rs`) is the command line; this library holds the parts the resume
//! test drives: [`Config`], [`Denoiser`], [`Trainer`].

#![warn(missing_docs)]

use std::path::Path;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor, TensorData};
use gdf::consistency::{CtStep, Distillation, ImprovedCt};
use gdf::dynamic::{CondKind, DynGdf, DynNoiseCond, ScheduleKind, WeightKind};
use gdf::sampling::SamplingBuilder;
use gdf::solver::AnySolver;
use gdf::toy::GaussianMixture2;
use gdf::LogSnrFn;
use gdf_burn::{Embedding, SolverSpec, Steps};
use serde::{Deserialize, Serialize};

/// The trainer's errors: gdf's and the adapter's, burn's records, files and config text.
#[derive(Debug)]
pub enum Error {
    /// From gdf or the adapter.
    Adapter(gdf_burn::Error),
    /// A file could not be read or written, or a config or checkpoint did not parse.
    Io {
        /// Which file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Adapter(e) => e.fmt(f),
            Error::Io { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<gdf_burn::Error> for Error {
    fn from(e: gdf_burn::Error) -> Self {
        Error::Adapter(e)
    }
}

impl From<gdf::GdfError> for Error {
    fn from(e: gdf::GdfError) -> Self {
        Error::Adapter(e.into())
    }
}

fn io_err(path: &Path, e: impl core::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The trainer's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The config file (TOML): the framework as `gdf!` text, training and sampling settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// The framework, exactly the text `gdf!` takes.
    pub framework: DynGdf,
    /// Training.
    pub train: TrainConfig,
    /// Sampling.
    pub sample: SampleConfig,
    /// `[consistency]`: consistency training with the improved recipe instead of the
    /// framework's regression, when present (its settings, [`ImprovedCt`]'s fields; a missing
    /// key takes the paper's value). The framework must be its frame: the `Vp` scaler and
    /// `target: Consistency(sigma_min = σ_min/σ_d)` ([`Config::check`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<ImprovedCt>,
    /// `[distillation]`: consistency distillation of the mixture's exact denoiser instead of
    /// the framework's regression, when present ([`Distillation`]'s fields; the same frame
    /// as `[consistency]`, which it excludes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distillation: Option<Distillation>,
}

/// `[train]` of the config.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Total optimiser steps.
    pub steps: u64,
    /// Points per step.
    pub batch: usize,
    /// Adam's learning rate at step 0; it decays on a cosine to `lr_min` at `steps`.
    pub lr: f64,
    /// The learning rate at the last step.
    pub lr_min: f64,
    /// Width of the MLP's hidden layers.
    pub hidden: usize,
    /// Octaves of the noise-cond embedding (`f = base·2^k`).
    pub octaves: usize,
    /// The embedding's first frequency.
    pub base_freq: f32,
    /// The run's seed (model init and every step's draws, through [`Steps`]).
    pub seed: u64,
    /// Save a checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
    /// β of the adaptive loss weight / schedule updates, when the framework has one.
    pub adaptive_beta: f64,
    /// The decay of an exponential moving average of the weights, updated after every step
    /// and used for sampling (`0.999`: a half-life of about 700 steps); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ema: Option<f64>,
}

/// `[sample]` of the config.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SampleConfig {
    /// Points to sample.
    pub points: usize,
    /// Solver, steps and seed.
    #[serde(flatten)]
    pub spec: SolverSpec,
}

impl Config {
    /// Reads a config file and checks it ([`Config::check`]).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
        let config: Self = toml::from_str(&text).map_err(|e| io_err(path, e))?;
        config.check().map_err(|e| io_err(path, e))?;
        Ok(config)
    }

    /// Checks what the types do not: the sampler's name, an EMA decay in `[0, 1)`; with
    /// `[consistency]` or `[distillation]` (not both), the recipe's settings, a framework
    /// that is its frame ([`ImprovedCt::check_framework`]: the error names the target it
    /// needs) with a `Constant` loss weight (the recipe weighs the pairs itself), and `lcm` as
    /// the sampler (a consistency model maps noise to data: its multistep sampler is `lcm`
    /// with the renoise above σ_min).
    pub fn check(&self) -> Result<()> {
        self.sample.spec.solver()?;
        if let Some(beta) = self.train.ema {
            if !(0.0..1.0).contains(&beta) {
                return Err(gdf::GdfError::OutOfRange {
                    what: "train.ema",
                    value: beta,
                    expected: "a decay in [0, 1) (0.999: a half-life of about 700 steps)",
                }
                .into());
            }
        }
        if self.consistency.is_some() && self.distillation.is_some() {
            return Err(gdf::GdfError::Config {
                field: "distillation".into(),
                value: "a [distillation] section beside [consistency]".into(),
                expected: "one of consistency training and consistency distillation".into(),
            }
            .into());
        }
        if let Some(c) = &self.consistency {
            c.check_framework(&self.framework)?;
        }
        if let Some(d) = &self.distillation {
            d.check_framework(&self.framework)?;
        }
        if self.student().is_some() {
            if !matches!(self.framework.loss_weight.kind, WeightKind::Constant(_)) {
                return Err(gdf::GdfError::Config {
                    field: "framework.loss_weight".into(),
                    value: self.framework.loss_weight.decl(),
                    expected: "`Constant`: the consistency recipes weigh each pair \
                               themselves (1/(σ_{i+1} − σ_i) in training, 1 in distillation) \
                               and use no loss weight of the framework"
                        .into(),
                }
                .into());
            }
            if self.sample.spec.solver != "lcm" {
                return Err(gdf::GdfError::Config {
                    field: "sample.solver".into(),
                    value: self.sample.spec.solver.clone(),
                    expected: "`lcm`: a consistency model samples with one evaluation per \
                               step, renoised above σ_min"
                        .into(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// A consistency model's `(σ_min, σ_d)` (data units), from `[consistency]` or
    /// `[distillation]`; `None` for a diffusion model.
    pub fn student(&self) -> Option<(f64, f64)> {
        match (&self.consistency, &self.distillation) {
            (Some(c), _) => Some((c.sigma_min, c.sigma_data)),
            (None, Some(d)) => Some((d.sigma_min, d.sigma_data)),
            (None, None) => None,
        }
    }

    /// The unit of the framework's frame in data units: σ_d for a consistency model (its
    /// frame is over `x0/σ_d`), else 1.
    pub fn frame_scale(&self) -> f64 {
        self.student().map_or(1.0, |(_, sd)| sd)
    }

    /// The sampler of `spec` for this config: for a consistency model, `lcm` with the
    /// consistency models' renoise (no noise at or below the target's `σ_min/σ_d`).
    pub fn solver(&self, spec: &SolverSpec) -> Result<AnySolver> {
        let solver = spec.solver()?;
        Ok(match (self.student(), solver) {
            (Some((smin, sd)), AnySolver::Lcm(l)) => {
                AnySolver::Lcm(l.with_noise_floor(smin / sd, 1.0)?)
            }
            (_, s) => s,
        })
    }

    /// gdf's sampling builder for `spec` on `g` ([`Config::solver`]'s sampler).
    pub fn sampling<'a>(
        &self,
        g: &'a DynGdf,
        spec: &SolverSpec,
    ) -> Result<SamplingBuilder<'a, DynGdf, f32>> {
        Ok(spec
            .sampling(g, self.sample.points, 2)?
            .solver(self.solver(spec)?))
    }
}

/// The mixture the example learns (the quickstart's).
pub fn mixture() -> GaussianMixture2 {
    GaussianMixture2::new(
        vec![0.5, 0.3, 0.2],
        vec![[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]],
        vec![
            [[0.30, 0.10], [0.10, 0.20]],
            [[0.20, -0.05], [-0.05, 0.25]],
            [[0.15, 0.0], [0.0, 0.15]],
        ],
    )
    .expect("a valid mixture")
}

/// The denoiser: `[x (2), embedding(c)]` → 3 × (Linear, SiLU) → Linear 2.
#[derive(Module, Debug)]
pub struct Denoiser {
    l1: Linear,
    l2: Linear,
    l3: Linear,
    out: Linear,
}

impl Denoiser {
    /// A fresh model (burn's init, from the device's seed).
    pub fn new(embedding_width: usize, hidden: usize, device: &Device) -> Self {
        Self {
            l1: LinearConfig::new(2 + embedding_width, hidden).init(device),
            l2: LinearConfig::new(hidden, hidden).init(device),
            l3: LinearConfig::new(hidden, hidden).init(device),
            out: LinearConfig::new(hidden, 2).init(device),
        }
    }

    /// Initialises every (lazily initialised) parameter now.
    pub fn init_now(&self) {
        for l in [&self.l1, &self.l2, &self.l3, &self.out] {
            let _ = l.weight.val();
            if let Some(b) = &l.bias {
                let _ = b.val();
            }
        }
    }

    /// Every parameter (weights then bias of each layer, in order).
    pub fn parameter_values(&self) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for l in [&self.l1, &self.l2, &self.l3, &self.out] {
            out.extend(gdf_burn::to_vec(l.weight.val(), "weight")?);
            if let Some(b) = &l.bias {
                out.extend(gdf_burn::to_vec(b.val(), "bias")?);
            }
        }
        Ok(out)
    }

    /// `x`: `[B, 2]` noised points; `c`: `[B, 1]` noise cond. Returns the prediction of the
    /// framework's target, `[B, 2]`.
    pub fn forward(&self, emb: &Embedding, x: Tensor<2>, c: Tensor<2>) -> Tensor<2> {
        let h = Tensor::cat(vec![x, emb.forward(c)], 1);
        let h = silu(self.l1.forward(h));
        let h = silu(self.l2.forward(h));
        let h = silu(self.l3.forward(h));
        self.out.forward(h)
    }
}

/// A trained diffusion model as consistency distillation's teacher: EDM's denoiser `D(x; σ)`
/// in data units from its own framework (over `x0`, σ_d = 1) and weights
/// ([`Teacher::denoise`]).
pub struct Teacher {
    gdf: DynGdf,
    model: Denoiser,
    embedding: Embedding,
}

impl Teacher {
    /// The teacher of a trained run: its framework, embedding and weights (the moving average
    /// if it kept one), on the plain device.
    pub fn of(run: &Trainer) -> Self {
        Self {
            gdf: run.gdf.clone(),
            model: run.inference_model(),
            embedding: run.embedding.clone(),
        }
    }

    /// The clean estimates of the points `x` (`[x, y]` pairs, data units) at each point's
    /// `sigma`: the model evaluated at `λ = −2·ln σ` on `a·x` (its VP frame), its prediction
    /// turned into x0 through its target.
    ///
    /// Errors: a read-back failure.
    pub fn denoise(&self, x: &[f32], sigma: &[f64], d: &mut [f32]) -> gdf::Result<()> {
        use gdf::prelude::{NoiseCond, Scaler, Target};
        let n = sigma.len();
        let lam: Vec<f64> = sigma.iter().map(|&s| gdf::grid::ve_logsnr(s)).collect();
        let ab: Vec<(f64, f64)> = lam.iter().map(|&l| self.gdf.scaler.ab(l)).collect();
        let xs: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(j, &v)| (ab[j / 2].0 * f64::from(v)) as f32)
            .collect();
        let cond: Vec<f32> = lam
            .iter()
            .map(|&l| self.gdf.noise_cond.noise_cond(l) as f32)
            .collect();
        let dev = host_device();
        let xt = Tensor::<2>::from_data(TensorData::new(xs.clone(), [n, 2]), &dev);
        let ct = Tensor::<2>::from_data(TensorData::new(cond, [n, 1]), &dev);
        let pred = gdf_burn::to_vec(self.model.forward(&self.embedding, xt, ct), "teacher")
            .map_err(|e| gdf::GdfError::Invalid {
                message: e.to_string(),
            })?;
        for (j, (o, (&xv, &p))) in d.iter_mut().zip(xs.iter().zip(&pred)).enumerate() {
            let (a, b) = ab[j / 2];
            *o = self.gdf.target.x0(f64::from(xv), f64::from(p), a, b) as f32;
        }
        Ok(())
    }
}

/// The framework's adaptive state (what a checkpoint must hold besides burn's records).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveSnapshot {
    /// An `Adaptive` loss weight's running bucket losses.
    pub loss_weight: Option<Vec<f64>>,
    /// An `AdaptiveTrain` schedule's bucket weights.
    pub schedule: Option<Vec<f64>>,
}

impl AdaptiveSnapshot {
    /// The framework's current adaptive state.
    pub fn of(g: &DynGdf) -> Self {
        Self {
            loss_weight: g.loss_weight.buckets().map(|(_, l)| l.to_vec()),
            schedule: g.schedule.bucket_probs().map(<[f64]>::to_vec),
        }
    }

    /// Puts this state back into `g`. Errors when `g` has a different adaptive layout.
    pub fn restore(&self, g: &mut DynGdf) -> Result<(), gdf::GdfError> {
        let name = g.to_string();
        let bad = |what: &str| gdf::GdfError::Invalid {
            message: format!("the checkpoint's {what} state does not fit the framework {name}"),
        };
        match (&mut g.loss_weight.kind, &self.loss_weight) {
            (WeightKind::Adaptive { state, .. }, Some(v))
                if v.len() == state.bucket_losses.len() =>
            {
                state.bucket_losses.clone_from(v)
            }
            (WeightKind::Adaptive { .. }, _) | (_, Some(_)) => return Err(bad("loss weight")),
            _ => {}
        }
        match (&mut g.schedule.kind, &self.schedule) {
            (ScheduleKind::AdaptiveTrain { state, .. }, Some(v))
                if v.len() == state.bucket_probs.len() =>
            {
                state.bucket_probs.clone_from(v)
            }
            (ScheduleKind::AdaptiveTrain { .. }, _) | (_, Some(_)) => return Err(bad("schedule")),
            _ => {}
        }
        Ok(())
    }
}

/// What a checkpoint holds besides the model's and the optimiser's burn records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The framework it was trained with (text).
    pub framework: String,
    /// The step counter.
    pub steps: Steps,
    /// The framework's adaptive state.
    pub adaptive: AdaptiveSnapshot,
}

/// A training run: the model, Adam, the framework (with its adaptive state) and the step
/// counter.
pub struct Trainer {
    /// The config.
    pub config: Config,
    /// The framework (its adaptive state evolves as training goes).
    pub gdf: DynGdf,
    /// The model (on the autodiff ndarray device).
    pub model: Denoiser,
    /// The weights' moving average (`[train] ema`), on the plain device.
    pub ema: Option<Denoiser>,
    /// Consistency distillation's target network (`[distillation] target_ema > 0`): the
    /// moving average of the student's weights that evaluates the teacher's input, on the
    /// plain device; `None` evaluates it with the stopped student.
    pub target_net: Option<Denoiser>,
    /// Consistency distillation's teacher: a trained diffusion model
    /// ([`Trainer::distil_from`]); the mixture's exact denoiser when `None`.
    pub teacher: Option<Teacher>,
    /// Adam.
    pub optim: ModuleOptimizer,
    /// The step counter.
    pub steps: Steps,
    /// The embedding.
    pub embedding: Embedding,
    mixture: GaussianMixture2,
    device: Device,
}

/// One training step's report.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    /// The step's index.
    pub step: u64,
    /// Its weighted loss.
    pub loss: f32,
}

/// The ndarray device the trainer uses (burn deprecates ndarray in favour of `flex`; the
/// example keeps the backend the timings were measured on).
#[allow(deprecated)]
pub fn host_device() -> Device {
    Device::ndarray()
}

impl Trainer {
    /// A fresh run.
    pub fn new(config: Config) -> Self {
        let device = host_device().autodiff();
        // The backend's generator is global: no other thread may seed or draw in between.
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = INIT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        device.seed(config.train.seed);
        let embedding = Embedding::octaves(config.train.octaves, config.train.base_freq);
        // burn initialises parameters lazily, from the backend's global generator: draw them
        // now, right after seeding, so they do not depend on what else draws first.
        let model = Denoiser::new(embedding.width(), config.train.hidden, &device);
        model.init_now();
        drop(guard);
        let ema = config.train.ema.map(|_| model.valid());
        let target_net = config
            .distillation
            .filter(|d| d.target_ema > 0.0)
            .map(|_| model.valid());
        Self {
            gdf: config.framework.clone(),
            model,
            ema,
            target_net,
            teacher: None,
            optim: AdamConfig::new().init(),
            steps: Steps::new(config.train.seed),
            embedding,
            mixture: mixture(),
            device,
            config,
        }
    }

    /// The learning rate of step `k`: a cosine from `lr` to `lr_min` over `steps`.
    pub fn lr(&self, k: u64) -> f64 {
        let t = &self.config.train;
        let f = (k as f64 / t.steps.max(1) as f64).min(1.0);
        t.lr_min + (t.lr - t.lr_min) * 0.5 * (1.0 + (std::f64::consts::PI * f).cos())
    }

    /// One step: draw a batch, diffuse it with gdf, regress the target with the weighted
    /// loss, update the framework's adaptive state (if any) with the per-sample loss. With
    /// `[consistency]` or `[distillation]`, a consistency-training or -distillation step
    /// instead.
    pub fn step(&mut self) -> Result<StepReport> {
        let s = self.steps.next();
        let b = self.config.train.batch;
        let x0: Vec<f32> = self.mixture.draw_as(b, s.data_seed);
        let x0 = Tensor::<2>::from_data(TensorData::new(x0, [b, 2]), &self.device);
        if let Some(c) = self.config.consistency {
            return self.consistency_step(&c, x0, s);
        }
        if let Some(d) = self.config.distillation {
            return self.distillation_step(&d, x0, s);
        }
        let d = gdf_burn::diffuse(&self.gdf, x0, &s.diffuse_args())?;
        let pred = self.model.forward(&self.embedding, d.noised, d.noise_cond);
        let loss = gdf_burn::weighted_loss(pred, d.target, d.loss_weight);
        let adaptive =
            self.gdf.loss_weight.buckets().is_some() || self.gdf.schedule.bucket_probs().is_some();
        if adaptive {
            let mse: Vec<f64> = gdf_burn::to_vec(loss.per_sample.clone(), "per-sample loss")?
                .into_iter()
                .map(f64::from)
                .collect();
            let lam: Vec<f64> = d.logsnr.iter().map(|&l| f64::from(l)).collect();
            let beta = self.config.train.adaptive_beta;
            if self.gdf.loss_weight.buckets().is_some() {
                self.gdf.loss_weight.update(&lam, &mse, beta)?;
            }
            if self.gdf.schedule.bucket_probs().is_some() {
                self.gdf.schedule.update(&lam, &mse, beta)?;
            }
        }
        self.descend(loss.weighted, s.step)
    }

    /// The improved consistency-training step: the batch's pair of levels and shared noise
    /// from gdf, the same model on the student's and the teacher's inputs, the weighted
    /// pseudo-Huber of their x0 estimates with the teacher stopped.
    fn consistency_step(
        &mut self,
        recipe: &ImprovedCt,
        x0: Tensor<2>,
        s: gdf_burn::StepSeeds,
    ) -> Result<StepReport> {
        let at = CtStep {
            step: usize::try_from(s.step).unwrap_or(usize::MAX),
            total: usize::try_from(self.config.train.steps).unwrap_or(usize::MAX),
            seed: s.diffuse_seed,
            first_sample: 0,
        };
        let cb = gdf_burn::consistency_batch(&self.gdf, recipe, x0, at)?;
        self.consistency_descend(cb, s.step)
    }

    /// The consistency-distillation step: the student on the noised batch, the target network
    /// (or the stopped student) on the teacher's Heun (or Euler) step from it.
    fn distillation_step(
        &mut self,
        recipe: &Distillation,
        x0: Tensor<2>,
        s: gdf_burn::StepSeeds,
    ) -> Result<StepReport> {
        let (mixture, trained) = (&self.mixture, &self.teacher);
        let teacher = |x: &[f32], sigma: &[f64], d: &mut [f32]| -> gdf::Result<()> {
            if let Some(t) = trained {
                return t.denoise(x, sigma, d);
            }
            for ((p, o), &sg) in x.chunks(2).zip(d.chunks_mut(2)).zip(sigma) {
                let e = mixture.denoise([f64::from(p[0]), f64::from(p[1])], 1.0, sg);
                o[0] = e[0] as f32;
                o[1] = e[1] as f32;
            }
            Ok(())
        };
        let cb = gdf_burn::distillation_batch(&self.gdf, recipe, x0, s.diffuse_seed, 0, teacher)?;
        self.consistency_descend(cb, s.step)
    }

    /// The student on its input, the stopped network (the target network, if the recipe keeps
    /// one) on the teacher's, the batch's loss.
    fn consistency_descend(
        &mut self,
        cb: gdf_burn::ConsistencyBatch<2>,
        k: u64,
    ) -> Result<StepReport> {
        let emb = &self.embedding;
        let student = self
            .model
            .forward(emb, cb.student.clone(), cb.student_cond.clone());
        // The teacher is the same network, stopped (or its moving average): run it without
        // autodiff (no graph is recorded for it; the loss treats its output as a constant).
        let (x, c) = (cb.teacher.clone().inner(), cb.teacher_cond.clone().inner());
        let teacher = match &self.target_net {
            Some(net) => net.forward(emb, x, c),
            None => self.model.valid().forward(emb, x, c),
        };
        let loss = cb.loss(student, teacher)?;
        self.descend(loss, k)
    }

    /// Back-propagates `loss` and takes Adam's step at step `k`'s learning rate.
    fn descend(&mut self, loss: Tensor<1>, k: u64) -> Result<StepReport> {
        let lv = gdf_burn::to_vec(loss.clone(), "loss")?[0];
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let model = core::mem::replace(&mut self.model, Denoiser::new(1, 1, &self.device));
        self.model = self.optim.step(self.lr(k), model, grads);
        if let (Some(ema), Some(beta)) = (self.ema.take(), self.config.train.ema) {
            self.ema = Some(gdf_burn::ema_update(ema, &self.model, beta)?);
        }
        if let (Some(net), Some(d)) = (self.target_net.take(), self.config.distillation) {
            self.target_net = Some(gdf_burn::ema_update(net, &self.model, d.target_ema)?);
        }
        Ok(StepReport { step: k, loss: lv })
    }

    /// Saves a checkpoint into `dir`: `model.bpk` and `optim.bpk` (burn's records; `ema.bpk`
    /// with `[train] ema`, `target.bpk` with distillation's target network), `state.toml` (framework text, step counter, adaptive state) and
    /// `config.toml` (the run's config, for [`Trainer::open`]).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let mp = dir.join("model.bpk");
        self.model
            .clone()
            .into_record()
            .save(&mp)
            .map_err(|e| io_err(&mp, format!("{e:?}")))?;
        let op = dir.join("optim.bpk");
        self.optim
            .save(&op)
            .map_err(|e| io_err(&op, format!("{e:?}")))?;
        for (net, file) in [(&self.ema, "ema.bpk"), (&self.target_net, "target.bpk")] {
            if let Some(net) = net {
                let p = dir.join(file);
                net.clone()
                    .into_record()
                    .save(&p)
                    .map_err(|e| io_err(&p, format!("{e:?}")))?;
            }
        }
        let state = CheckpointState {
            framework: self.gdf.to_string(),
            steps: self.steps,
            adaptive: AdaptiveSnapshot::of(&self.gdf),
        };
        let sp = dir.join("state.toml");
        let text = toml::to_string(&state).map_err(|e| io_err(&sp, e))?;
        std::fs::write(&sp, text).map_err(|e| io_err(&sp, e))?;
        let cp = dir.join("config.toml");
        let text = toml::to_string(&self.config).map_err(|e| io_err(&cp, e))?;
        std::fs::write(&cp, text).map_err(|e| io_err(&cp, e))
    }

    /// The run saved in `dir` with the config saved beside it (`config.toml`).
    pub fn open(dir: &Path) -> Result<Self> {
        let config = Config::load(&dir.join("config.toml"))?;
        Self::load(config, dir)
    }

    /// Distils from the diffusion model trained in `dir` ([`Trainer::open`]) instead of the
    /// mixture's exact denoiser.
    ///
    /// Errors: a config without `[distillation]`; a teacher that is itself a consistency
    /// model; the checkpoint's.
    pub fn distil_from(&mut self, dir: &Path) -> Result<()> {
        if self.config.distillation.is_none() {
            return Err(io_err(
                dir,
                "a teacher is for consistency distillation: the config has no [distillation]",
            ));
        }
        let run = Self::open(dir)?;
        if run.config.student().is_some() {
            return Err(io_err(
                dir,
                "the teacher must be a diffusion model; this checkpoint is a consistency model",
            ));
        }
        self.teacher = Some(Teacher::of(&run));
        Ok(())
    }

    /// Resumes the run saved in `dir` with `config` (whose framework must be the saved one).
    pub fn load(config: Config, dir: &Path) -> Result<Self> {
        let mut t = Self::new(config);
        let sp = dir.join("state.toml");
        let text = std::fs::read_to_string(&sp).map_err(|e| io_err(&sp, e))?;
        let state: CheckpointState = toml::from_str(&text).map_err(|e| io_err(&sp, e))?;
        if state.framework != t.gdf.to_string() {
            return Err(io_err(
                &sp,
                format!(
                    "the checkpoint was trained with `{}`, the config says `{}`",
                    state.framework, t.gdf
                ),
            ));
        }
        state.adaptive.restore(&mut t.gdf)?;
        t.steps = state.steps;
        let mp = dir.join("model.bpk");
        let record = ModuleRecord::load(&mp).map_err(|e| io_err(&mp, format!("{e:?}")))?;
        let model = core::mem::replace(&mut t.model, Denoiser::new(1, 1, &t.device));
        t.model = model
            .try_load_record(record)
            .map_err(|e| io_err(&mp, format!("{e:?}")))?;
        let op = dir.join("optim.bpk");
        let optim = core::mem::replace(&mut t.optim, AdamConfig::new().init());
        t.optim = optim.load(&op).map_err(|e| io_err(&op, format!("{e:?}")))?;
        for (net, file) in [(&mut t.ema, "ema.bpk"), (&mut t.target_net, "target.bpk")] {
            if let Some(fresh) = net.take() {
                let p = dir.join(file);
                let record = ModuleRecord::load(&p).map_err(|e| io_err(&p, format!("{e:?}")))?;
                *net = Some(
                    fresh
                        .try_load_record(record)
                        .map_err(|e| io_err(&p, format!("{e:?}")))?,
                );
            }
        }
        Ok(t)
    }

    /// The weights that sample (and teach): the moving average with `[train] ema`, else the
    /// model's, on the plain device.
    pub fn inference_model(&self) -> Denoiser {
        match &self.ema {
            Some(ema) => ema.clone(),
            None => self.model.valid(),
        }
    }

    /// Every parameter of the model (weights then bias of each layer, in order), for
    /// bit-for-bit comparisons.
    pub fn parameter_values(&self) -> Result<Vec<f32>> {
        self.model.parameter_values()
    }

    /// Samples `config.sample.points` points with the trained model (inference copy on the
    /// plain ndarray device; the moving average of its weights with `[train] ema`) through
    /// gdf's sampling builder; `progress(done, total)` after every model evaluation.
    pub fn sample<'s>(&'s self, progress: impl FnMut(usize, usize) + 's) -> Result<Vec<f32>> {
        self.sample_with(&self.config.sample.spec, progress)
    }

    /// [`Trainer::sample`] with another solver, step count or seed ([`Config::solver`]'s
    /// sampler: `lcm` with the renoise for a consistency model, whose samples, drawn in the
    /// frame over `x0/σ_d`, come back times σ_d: in data units).
    pub fn sample_with<'s>(
        &'s self,
        spec: &SolverSpec,
        mut progress: impl FnMut(usize, usize) + 's,
    ) -> Result<Vec<f32>> {
        let infer = self.inference_model();
        let emb = &self.embedding;
        let model = gdf_burn::HostModel::new(
            move |x: Tensor<2>, c: Tensor<2>| infer.forward(emb, x, c),
            host_device(),
            &[2],
        )?;
        let mut x = self
            .config
            .sampling(&self.gdf, spec)?
            .on_eval(move |p| progress(p.evals, p.total_evals))
            .run(model)?;
        // A consistency model's frame is over x0/σ_d: back to data units.
        let scale = self.config.frame_scale() as f32;
        x.iter_mut().for_each(|v| *v *= scale);
        Ok(x)
    }
}

/// Samples with the mixture's exact denoiser through the same solver, steps, grid and seed:
/// the run is `g`'s with a `LogSnr` noise cond (the grid does not depend on the noise cond),
/// so the model sees λ and hands the solver the exact prediction of `g`'s target. The data
/// are `mixture` over `scale` (a consistency model's frame is over `x0/σ_d`: pass σ_d, else
/// 1), and the samples come back times `scale`, in data units.
///
/// Errors: a `scale` that is not positive and finite; the sampler's.
pub fn sample_exact(
    g: &DynGdf,
    sc: &SampleConfig,
    mixture: &GaussianMixture2,
    scale: f64,
) -> Result<Vec<f32>> {
    use gdf::prelude::{Scaler, Target};
    let mixture = scaled_mixture(mixture, scale)?;
    let mut twin = g.clone();
    twin.noise_cond = DynNoiseCond::new(CondKind::LogSnr);
    let (scaler, target) = (g.scaler.clone(), g.target);
    let exact = |x: &[f32], lam: &[f32], _: &[f32], pred: &mut [f32]| {
        for ((xi, &l), p) in x.chunks(2).zip(lam).zip(pred.chunks_mut(2)) {
            let (a, b) = scaler.ab(f64::from(l));
            let xd = [f64::from(xi[0]), f64::from(xi[1])];
            let x0 = mixture.denoise(xd, a, b);
            for k in 0..2 {
                let eps = (xd[k] - a * x0[k]) / b;
                p[k] = target.target(x0[k], eps, a, b) as f32;
            }
        }
    };
    let mut x = sc.spec.sampling(&twin, sc.points, 2)?.run(exact)?;
    let s = scale as f32;
    x.iter_mut().for_each(|v| *v *= s);
    Ok(x)
}

/// `mixture` over `scale`: its means divided by `scale`, its covariances by `scale²`.
///
/// Errors: a `scale` that is not positive and finite.
pub fn scaled_mixture(mixture: &GaussianMixture2, scale: f64) -> Result<GaussianMixture2> {
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(gdf::GdfError::OutOfRange {
            what: "scale",
            value: scale,
            expected: "a positive, finite unit of the frame (σ_d)",
        }
        .into());
    }
    let means = mixture
        .means()
        .iter()
        .map(|m| [m[0] / scale, m[1] / scale])
        .collect();
    let s2 = scale * scale;
    let covs = mixture
        .covs()
        .iter()
        .map(|c| [[c[0][0] / s2, c[0][1] / s2], [c[1][0] / s2, c[1][1] / s2]])
        .collect();
    Ok(GaussianMixture2::new(
        mixture.weights().to_vec(),
        means,
        covs,
    )?)
}
