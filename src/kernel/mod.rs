//! Fused GPU kernels on [cubecl](https://github.com/tracel-ai/cubecl) 0.11.
//!
//! Enabled by the `wgpu`, `cuda` or `hip` feature (none is on by default). The host path
//! stays the reference; these kernels compute the same formulas on device buffers.
//!
//! - [`component`]: the `#[cube]` form of every component role, implemented for the same
//!   zero-sized types as the host traits. Hyperparameters are read at kernel expansion time
//!   from the type-level constants, so a framework compiles to straight-line arithmetic;
//!   runtime state (schedule limits, stretched scaler limits, piecewise tables, adaptive
//!   buckets) travels in a state buffer.
//! - [`framework::diffuse`] (**one launch**: per-sample λ, `(a, b)`, ε given or drawn with the
//!   counter-based Philox noise of [`crate::noise`], offset noise, noised / ε / target and the
//!   per-sample λ, noise cond, loss weight) and [`framework::undiffuse`] (one launch).
//! - [`step::step`]: the sampling step (guidance, rescale, undiffuse, sampler step with
//!   in-kernel noise), **two launches** with rescale (a reduction, then the fused pass) and
//!   **one** without; [`step::DeviceSampling`] runs a whole sampling loop on device buffers
//!   with a model given as a function over device handles.
//! - [`eval`]: one kernel per component role, and the device noise.
//! - [`half`]: f32 ↔ packed f16/bf16 buffers (the pipeline's half-precision latents).
//! - [`invert`]: DDIM inversion ([`invert::DeviceInversion`], one launch per step).
//!
//! The element-wise kernels read and write vectors of four values (16-byte accesses) when a
//! sample's length is a multiple of 4 and every buffer starts on a 16-byte boundary, and one
//! value at a time otherwise (decided on the host at each launch). A vector is one Philox
//! block of the noise: elements `4k .. 4k + 4` of a sample are block `k`'s four normals, on
//! the host as on the device ([`crate::noise`]).
//!
//! Every entry point takes a raw cubecl [`Client`] and [`Handle`]s, so any cubecl-based
//! stack (burn's cubecl backends included) can hand its buffers over without a copy. The
//! kernels are launched unchecked, so each entry point first checks that every buffer it is
//! given holds what the call reads or writes, and refuses a short one with
//! [`crate::GdfError::LengthMismatch`] naming it (in bytes), before any launch. Kernels
//! are generic over the float type `F: Float + CubeElement`; they are tested in `f32`
//! (`F = f16`/`bf16` compile but are untested, and wgpu on lavapipe has no 16-bit storage;
//! 16-bit *latents* are served instead by f32 buffers rounded to bf16/f16 inside the solver's
//! pass, [`solver::DeviceRun::set_half_storage`], and packed two per `u32` for the model by
//! [`half`]). Hyperparameters are rounded through `f32`.
//! Every launch is counted by [`Launches`].
//!
//! Host-only (refused with [`KernelError::HostOnly`] or by the type system):
//! training-only schedules given `t` (`EdmTrain`, `AdaptiveTrain`: draw λ on the host and
//! pass it with [`framework::DiffuseIo::tl_is_logsnr`]), a stateful loss weight inside
//! `Composed`, and the runtime-configured [`crate::dynamic`] types (no `#[cube]` form).
//!
//! Numerics: the device noise uses the host's operations (Philox4x32-10 with `mul_hi`,
//! the same `ln`/`sincos` polynomials in f32); on lavapipe 87–89% of the values are
//! bit-identical and the rest differ by float contraction (within 2e-6; the kernel test
//! `device_noise_equals_host_noise` prints the count). The Adaptive loss
//! weight finds its bucket by comparing λ with the edges in `F` (the host compares in f64),
//! which can differ for λ within an ulp of an edge.
pub use cubecl;

// `#[cube]` expands every kernel function into a module and every `#[cube]` trait into an
// `…Expand` companion whose items carry no docs; the items written here are documented.
/// The `#[cube]` traits and device wrappers of every role, gathered in one place (each is
/// defined beside its host form, in its role's module).
pub mod component {
    pub use super::state::{schedule_state, DeviceState, ProductState};
    pub use crate::interp::{table_inverse, table_value};
    pub use crate::loss_weight::composed::CubeWeightProduct;
    pub use crate::loss_weight::{loss_weight, CubeLossWeight, LossWeightConsts};
    pub use crate::noise_cond::{noise_cond, CubeNoiseCond, NoiseCondConsts};
    pub use crate::sampler::{sampler_apply, CubeSampler, SamplerConsts};
    pub use crate::scaler::CubeScaler;
    pub use crate::schedule::{schedule_logsnr, CubeSchedule, ScheduleConsts};
    pub use crate::target::CubeTarget;
}
#[allow(missing_docs)]
pub mod eval;
#[allow(missing_docs)]
pub mod forcing;
#[allow(missing_docs)]
pub mod framework;
#[allow(missing_docs)]
pub mod half;
#[allow(missing_docs)]
pub mod invert;
#[allow(missing_docs)]
pub mod prim;
#[allow(missing_docs)]
pub mod solver;
#[allow(missing_docs)]
pub mod state;
#[allow(missing_docs)]
pub mod step;

use core::cell::Cell;

use cubecl::prelude::*;

#[allow(unused_imports)]
use crate::konst::Const;
use cubecl::server::Handle;

std::thread_local! {
    static LAUNCHES: Cell<u64> = const { Cell::new(0) };
}

/// The count of kernel launches this module made from the current thread: every launch goes
/// through one place that records it, so the difference of two readings around a call is the
/// number of kernels the call dispatched.
#[derive(Clone, Copy, Debug)]
pub struct Launches;

impl Launches {
    /// Launches so far.
    pub fn count() -> u64 {
        LAUNCHES.with(|c| c.get())
    }
    pub(crate) fn record() {
        LAUNCHES.with(|c| c.set(c.get() + 1));
    }
}

/// Units per cube of the kernels with a shared-memory tree (the rescale reduction and the
/// step that merges its partials), and the most an element-wise kernel uses.
pub(crate) const CUBE: u32 = 256;

/// Cube count and dim for `units` units (one per vector of elements): cubes of
/// [`CUBE`] units, or of the device's limit on units per cube if that is lower (rounded down
/// to whole planes), laid out by cubecl within the device's limits on cube counts.
pub(crate) fn launch_dims(client: &Client, units: usize) -> (CubeCount, CubeDim) {
    let hw = &client.properties().hardware;
    let plane = hw.plane_size_max.max(1);
    let cap = hw.max_units_per_cube.min(CUBE);
    let size = if cap >= plane {
        cap / plane * plane
    } else {
        cap.max(1)
    };
    let dim = CubeDim::new_1d(size);
    (
        cubecl::calculate_cube_count_elemwise(client, units.max(1), dim),
        dim,
    )
}

/// The most vectors one unit of a noise-drawing element-wise kernel handles (see
/// [`units_per_sample`]).
pub(crate) const MAX_VECTORS_PER_UNIT: usize = 16;

/// Units that keep a large GPU busy when the runtime does not say how many multiprocessors it
/// has (eight cubes of 256 units on each of 128).
pub(crate) const BUSY_UNITS: usize = 8 * 128 * CUBE as usize;

/// Where diffuse and the fused step load a vector's inputs, relative to drawing its noise
/// (hidden, with [`Tuning`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Loads {
    /// After the noise (the default).
    #[default]
    AfterNoise,
    /// Before the noise, so the loads are in flight while the noise is computed.
    BeforeNoise,
    /// One vector ahead: a unit loads its next vector's inputs before drawing this vector's
    /// noise (software pipelining across the vectors a unit strides over).
    OneAhead,
}

/// Launch choices a test or a tuning bench may force on the current thread (hidden: the
/// defaults are what the README's GPU figures measure).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Vectors each unit of the noise-drawing launches (diffuse, the batch noise, the fused
    /// step) handles; `0`: [`units_per_sample`]'s choice (and, for the rescaled step, as few
    /// cubes as keep the device busy).
    pub vectors_per_unit: usize,
    /// Where diffuse and the step load a vector's inputs.
    pub loads: Loads,
    /// Vectors the rescale reduction loads per loop turn: 1 (also for `0`), 2 or 4 (the same
    /// sums in the same order; more loads in flight).
    pub reduce_vectors: usize,
    /// Diffuse and the batch noise draw two vectors' noise per loop turn: two independent
    /// Philox and Box–Muller chains the compiler can interleave, for a device that waits on
    /// the latency of one chain (the same numbers; diffuse ignores it with
    /// [`Loads::OneAhead`]).
    pub draw_pairs: bool,
    /// The rescaled step merges the reduction's partials once, in a third launch of one cube
    /// per std (one for the whole-batch std, one per sample for the per-sample std), instead
    /// of in every cube of its fused pass; the fused pass then takes the plain step's
    /// geometry ([`units_per_sample`]) unless `vectors_per_unit` forces a count (the same
    /// numbers: the one merge is the per-cube merge's arithmetic).
    pub merge_once: bool,
}

impl Tuning {
    /// The library's launch choices: what a thread starts with, and what the README's GPU
    /// figures measure (the one place to change one).
    pub const DEFAULT: Tuning = Tuning {
        vectors_per_unit: 0,
        loads: Loads::AfterNoise,
        reduce_vectors: 0,
        draw_pairs: false,
        merge_once: false,
    };
}

impl Default for Tuning {
    /// [`Tuning::DEFAULT`].
    fn default() -> Self {
        Self::DEFAULT
    }
}

std::thread_local! {
    static TUNING: Cell<Tuning> = const { Cell::new(Tuning::DEFAULT) };
}

/// Forces this thread's launch choices (see [`Tuning`]); `Tuning::default()` restores the
/// defaults.
#[doc(hidden)]
pub fn set_tuning(t: Tuning) {
    TUNING.with(|c| c.set(t));
}

/// This thread's launch choices (see [`set_tuning`]).
#[doc(hidden)]
pub fn tuning() -> Tuning {
    TUNING.with(|c| c.get())
}

/// How many units share each sample of a noise-drawing element-wise kernel, each striding
/// over the sample's vectors by that count, when `total` vectors of `per_sample` each are
/// drawn: so that each unit handles as many vectors as leave the device busy (eight cubes per
/// multiprocessor, or per CPU core; [`BUSY_UNITS`] where the runtime reports neither, as wgpu
/// does), at most [`MAX_VECTORS_PER_UNIT`] and never more than a sample holds. A unit
/// computes its sample's coefficients (the schedule, the scaler) once for all its vectors, so
/// on a large batch that per-sample arithmetic no longer rivals the noise itself.
pub(crate) fn units_per_sample(client: &Client, per_sample: usize, total: usize) -> usize {
    let forced = tuning().vectors_per_unit;
    let r = if forced > 0 {
        forced
    } else {
        (total / busy_units(client)).clamp(1, MAX_VECTORS_PER_UNIT)
    };
    per_sample.div_ceil(r.min(per_sample.max(1)))
}

/// Units that keep the device busy: eight cubes of [`CUBE`] units per multiprocessor (or per
/// CPU core), [`BUSY_UNITS`] where the runtime reports neither.
pub(crate) fn busy_units(client: &Client) -> usize {
    let hw = &client.properties().hardware;
    hw.num_streaming_multiprocessors
        .or(hw.num_cpu_cores)
        .map_or(BUSY_UNITS, |m| (8 * CUBE as usize * m as usize).max(1))
}

/// The widest vector the element-wise kernels load and store: four values (16 bytes in f32).
pub(crate) const VECTOR: usize = 4;

std::thread_local! {
    static WIDTH_CAP: Cell<usize> = const { Cell::new(VECTOR) };
    static LAST_WIDTH: Cell<usize> = const { Cell::new(0) };
}

/// The vector width this thread's last element-wise launch chose (0 before any), so tests
/// can tell which path ran.
#[doc(hidden)]
pub fn last_vector_width() -> usize {
    LAST_WIDTH.with(|c| c.get())
}

/// Caps the vector width of this thread's element-wise launches (for tests of the scalar
/// path on shapes the vectorised one would take); `1` forces one value per load and store,
/// [`VECTOR`]-or-more restores the default.
#[doc(hidden)]
pub fn cap_vector_width(width: usize) {
    WIDTH_CAP.with(|c| c.set(width.max(1)));
}

/// The vector width of an element-wise launch whose samples hold `per` values of `F` each,
/// over the buffers `handles`: [`VECTOR`] when `per` is a multiple of it (so no vector
/// straddles two samples and each is one Philox block of the noise), the runtime loads
/// vectors of that width, and every buffer starts on a whole vector (a view whose offset is
/// not a multiple of 16 bytes could not be read with aligned vector loads); else 1.
pub(crate) fn vector_width<F>(client: &Client, per: usize, handles: &[&Handle]) -> usize {
    let size = core::mem::size_of::<F>();
    let aligned = handles
        .iter()
        .all(|h| h.offset_start.unwrap_or(0) % (VECTOR * size) as u64 == 0);
    let takes = client.io_optimized_vector_sizes(size).any(|v| v == VECTOR);
    let w = if per % VECTOR == 0 && aligned && takes && WIDTH_CAP.with(|c| c.get()) >= VECTOR {
        VECTOR
    } else {
        1
    };
    LAST_WIDTH.with(|c| c.set(w));
    w
}

/// `Ok` when `h` holds at least `need` bytes, else [`crate::GdfError::LengthMismatch`] naming
/// `what`.
pub(crate) fn check_bytes(
    what: &'static str,
    h: &Handle,
    need: usize,
) -> Result<(), crate::GdfError> {
    let got = h.size_in_used() as usize;
    if got < need {
        return Err(crate::GdfError::LengthMismatch {
            what,
            expected: need,
            got,
        });
    }
    Ok(())
}

/// `Ok` when each buffer given holds at least its count of `F` values, else
/// [`crate::GdfError::LengthMismatch`] naming the first that does not (`what`, in bytes);
/// `None` (a buffer left out) passes. The kernels are launched unchecked, so a short buffer
/// would otherwise be read past its end (zeros or another buffer's values, by runtime) or
/// written past it.
pub(crate) fn check_buffers<F>(
    bufs: &[(&'static str, Option<&Handle>, usize)],
) -> Result<(), crate::GdfError> {
    for &(what, h, values) in bufs {
        if let Some(h) = h {
            check_bytes(what, h, values * core::mem::size_of::<F>())?;
        }
    }
    Ok(())
}

/// `Ok` when `n` elements can be indexed in the kernels' 32-bit arithmetic, else
/// [`crate::GdfError::OutOfRange`] naming `what`.
pub(crate) fn check_index_range(what: &'static str, n: usize) -> Result<(), crate::GdfError> {
    if n > u32::MAX as usize {
        return Err(crate::GdfError::OutOfRange {
            what,
            value: n as f64,
            expected: "at most 2³² − 1 elements per launch (the kernels index in 32 bits)",
        });
    }
    Ok(())
}

/// The default device's client for the doc examples, or `None` when there is no compute
/// adapter (a panic instead under `GDF_REQUIRE_GPU=1`, as in the kernel tests), so
/// `cargo test --features wgpu --doc` runs them where a device exists.
#[doc(hidden)]
pub fn doc_client() -> Option<Client> {
    match std::panic::catch_unwind(|| cubecl::Device::default().client()) {
        Ok(c) => Some(c),
        Err(_) if std::env::var("GDF_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("GDF_REQUIRE_GPU=1 but no compute adapter was found")
        }
        Err(_) => None,
    }
}

/// Uploads a host slice.
pub(crate) fn upload<F: CubeElement>(client: &Client, x: &[F]) -> Handle {
    if x.is_empty() {
        client.empty(core::mem::size_of::<F>())
    } else {
        client.create_from_slice(F::as_bytes(x))
    }
}

/// Uploads a state vector (at least one element, so the binding is never empty).
pub(crate) fn upload_state<F: Float + CubeElement>(client: &Client, st: &[f64]) -> Handle {
    let mut v: Vec<F> = st.iter().map(|&x| F::new(x as f32)).collect();
    if v.is_empty() {
        v.push(F::new(0.0));
    }
    client.create_from_slice(F::as_bytes(&v))
}

/// Reads a buffer back (blocking).
pub(crate) fn read_vec<F: CubeElement>(client: &Client, h: Handle) -> Vec<F> {
    let bytes = client.read_one(h).expect("reading a device buffer");
    F::from_bytes(&bytes).to_vec()
}

/// Why a kernel call was refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum KernelError {
    /// The component has no device form (it only runs on the host).
    HostOnly {
        /// Which component, and why.
        component: &'static str,
    },
    /// An argument was invalid (lengths, ranges); the host error says which.
    Gdf(crate::GdfError),
}

impl core::fmt::Display for KernelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KernelError::HostOnly { component } => {
                write!(f, "{component} has no device form; use the host path")
            }
            KernelError::Gdf(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KernelError {}

impl From<crate::GdfError> for KernelError {
    fn from(e: crate::GdfError) -> Self {
        KernelError::Gdf(e)
    }
}

#[cfg(all(test, feature = "wgpu"))]
mod tests {
    use super::*;

    /// The width rule on handles (no launch: wgpu would refuse to bind an offset of 4 bytes).
    #[test]
    fn unaligned_views_take_one_value() {
        let Ok(client) = std::panic::catch_unwind(|| cubecl::Device::default().client()) else {
            eprintln!("skipped: no compute adapter");
            return;
        };
        let h = client.empty(256);
        assert_eq!(vector_width::<f32>(&client, 8, &[&h]), VECTOR);
        assert_eq!(
            vector_width::<f32>(&client, 6, &[&h]),
            1,
            "per not a multiple of 4"
        );
        let at = |bytes: u64| h.clone().offset_start(bytes);
        assert_eq!(vector_width::<f32>(&client, 8, &[&h, &at(32)]), VECTOR);
        assert_eq!(vector_width::<f32>(&client, 8, &[&h, &at(16)]), VECTOR);
        assert_eq!(
            vector_width::<f32>(&client, 8, &[&h, &at(4)]),
            1,
            "4-byte offset"
        );
        assert_eq!(
            vector_width::<f32>(&client, 8, &[&at(8), &h]),
            1,
            "8-byte offset"
        );
        cap_vector_width(1);
        assert_eq!(vector_width::<f32>(&client, 8, &[&h]), 1, "capped");
        cap_vector_width(VECTOR);
        assert_eq!(vector_width::<f32>(&client, 8, &[&h]), VECTOR);
        assert_eq!(last_vector_width(), VECTOR);
    }
}
