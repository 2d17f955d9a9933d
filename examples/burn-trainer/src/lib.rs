//! An example trainer: an MLP denoiser for gdf's 2-D Gaussian mixture ([`gdf::toy`]),
//! trained in burn (ndarray backend) with gdf's `diffuse` through [`gdf_burn`], the
//! framework read from a config file, checkpoint and resume, and sampling with one of gdf's
//! solvers beside the mixture's exact denoiser.
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
use gdf::dynamic::{CondKind, DynGdf, DynNoiseCond, ScheduleKind, WeightKind};
use gdf::toy::GaussianMixture2;
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
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
        toml::from_str(&text).map_err(|e| io_err(path, e))
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
        Self {
            gdf: config.framework.clone(),
            model,
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
    /// loss, update the framework's adaptive state (if any) with the per-sample loss.
    pub fn step(&mut self) -> Result<StepReport> {
        let s = self.steps.next();
        let b = self.config.train.batch;
        let x0: Vec<f32> = self.mixture.draw_as(b, s.data_seed);
        let x0 = Tensor::<2>::from_data(TensorData::new(x0, [b, 2]), &self.device);
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
        let lv = gdf_burn::to_vec(loss.weighted.clone(), "loss")?[0];
        let grads = GradientsParams::from_grads(loss.weighted.backward(), &self.model);
        let model = core::mem::replace(&mut self.model, Denoiser::new(1, 1, &self.device));
        self.model = self.optim.step(self.lr(s.step), model, grads);
        Ok(StepReport {
            step: s.step,
            loss: lv,
        })
    }

    /// Saves a checkpoint into `dir`: `model.bpk` and `optim.bpk` (burn's records) and
    /// `state.toml` (framework text, step counter, adaptive state).
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
        let state = CheckpointState {
            framework: self.gdf.to_string(),
            steps: self.steps,
            adaptive: AdaptiveSnapshot::of(&self.gdf),
        };
        let sp = dir.join("state.toml");
        let text = toml::to_string(&state).map_err(|e| io_err(&sp, e))?;
        std::fs::write(&sp, text).map_err(|e| io_err(&sp, e))
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
        Ok(t)
    }

    /// Every parameter of the model (weights then bias of each layer, in order), for
    /// bit-for-bit comparisons.
    pub fn parameter_values(&self) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for l in [
            &self.model.l1,
            &self.model.l2,
            &self.model.l3,
            &self.model.out,
        ] {
            out.extend(gdf_burn::to_vec(l.weight.val(), "weight")?);
            if let Some(b) = &l.bias {
                out.extend(gdf_burn::to_vec(b.val(), "bias")?);
            }
        }
        Ok(out)
    }

    /// Samples `config.sample.points` points with the trained model (inference copy on the
    /// plain ndarray device) through gdf's sampling builder; `progress(done, total)` after
    /// every model evaluation.
    pub fn sample<'s>(&'s self, mut progress: impl FnMut(usize, usize) + 's) -> Result<Vec<f32>> {
        let infer = self.model.valid();
        let emb = &self.embedding;
        let model = gdf_burn::HostModel::new(
            move |x: Tensor<2>, c: Tensor<2>| infer.forward(emb, x, c),
            host_device(),
            &[2],
        )?;
        let sc = &self.config.sample;
        let x = sc
            .spec
            .sampling(&self.gdf, sc.points, 2)?
            .on_eval(move |p| progress(p.evals, p.total_evals))
            .run(model)?;
        Ok(x)
    }
}

/// Samples with the mixture's exact denoiser through the same solver, steps, grid and seed:
/// the run is `g`'s with a `LogSnr` noise cond (the grid does not depend on the noise cond),
/// so the model sees λ and hands the solver the exact prediction of `g`'s target.
pub fn sample_exact(g: &DynGdf, sc: &SampleConfig, mixture: &GaussianMixture2) -> Result<Vec<f32>> {
    use gdf::prelude::{Scaler, Target};
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
    let x = sc.spec.sampling(&twin, sc.points, 2)?.run(exact)?;
    Ok(x)
}
