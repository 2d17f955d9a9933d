//! Half-precision latents: f16/bf16 buffers in and out of a run whose arithmetic stays f32.
//!
//! Storage only: a [`HalfRun`] keeps the sample in the half type between steps (rounded to
//! nearest, ties to even, after every step) and hands the model half-precision inputs and
//! takes half-precision outputs, while the solver's coefficients (f64, rounded once to f32),
//! its history of x0-predictions and the fused update run in f32, as diffusers does with
//! `torch_dtype=float16` pipelines whose schedulers upcast. The conversions are bit
//! operations written once ([`formula`]) for the host and the kernels (the device has no
//! f16/bf16 storage on every backend; see `kernel::half`).
//!
//! ```
//! use gdf::pipeline::HalfRun;
//! use gdf::scaler::Vp;
//! use gdf::solver::{DpmPP2M, Grid, NoNoise};
//! use half::bf16;
//!
//! let grid = Grid::new(&Vp, &[-6.0, -2.0, 2.0, f64::INFINITY])?;
//! let x_init: Vec<bf16> = [0.3f32, -1.2].iter().map(|&v| bf16::from_f32(v)).collect();
//! let run = HalfRun::new(DpmPP2M::new(), grid, &x_init, 1, NoNoise)?;
//! let x = run.run(|x: &[bf16], _level, d: &mut [bf16]| {
//!     for (d, x) in d.iter_mut().zip(x) {
//!         *d = bf16::from_f32(0.5 * x.to_f32());
//!     }
//!     Ok(())
//! })?;
//! assert_eq!(x.len(), 2);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use crate::error::{check_len, Result};
use crate::solver::{Level, NoiseSource, Run, Solver};
use crate::target::Target;

pub use ::half::{bf16, f16};

/// The bit conversions between f32 and the 16-bit formats, host and `#[cube]` from one
/// source: round to nearest, ties to even; NaN stays NaN (quiet), overflow goes to ±∞, f16
/// subnormals are produced and read exactly.
#[crate::formulas]
pub mod formula {
    /// The bf16 bits (low 16 bits of the result) of the f32 with bits `b`.
    pub fn bf16_from_f32_bits(b: u32) -> u32 {
        let nan = (b & 0x7FFF_FFFFu32) > 0x7F80_0000u32;
        let rounded = wrapping_add(b, 0x7FFFu32 + ((b >> 16u32) & 1u32)) >> 16u32;
        select(nan, (b >> 16u32) | 0x40u32, rounded)
    }
    /// The f32 bits of the bf16 with bits `h` (low 16 bits).
    pub fn f32_bits_from_bf16(h: u32) -> u32 {
        (h & 0xFFFFu32) << 16u32
    }
    /// The f16 bits (low 16 bits of the result) of the f32 with bits `b`.
    pub fn f16_from_f32_bits(b: u32) -> u32 {
        let sign = (b >> 16u32) & 0x8000u32;
        let a = b & 0x7FFF_FFFFu32;
        // Normal range: round the 13 dropped bits, then rebias the exponent (127 → 15:
        // − 112·2¹⁰, written as a wrapping add).
        let normal = wrapping_add(
            (a + 0xFFFu32 + ((a >> 13u32) & 1u32)) >> 13u32,
            0xFFFE_4000u32,
        );
        // Below 2⁻¹⁴: adding ½ puts the f16 subnormal unit 2⁻²⁴ at the f32 ulp, so the FPU's
        // own rounding (to nearest even) produces the subnormal's bits.
        let sub = f32_to_bits(f32_from_bits(a) + 0.5f32) - 0x3F00_0000u32;
        let finite = select(a < 0x3880_0000u32, sub, normal);
        let big = select(a > 0x7F80_0000u32, 0x7E00u32, 0x7C00u32);
        sign | select(a >= 0x477F_F000u32, big, finite)
    }
    /// The f32 bits of the f16 with bits `h` (low 16 bits).
    pub fn f32_bits_from_f16(h: u32) -> u32 {
        let sign = (h & 0x8000u32) << 16u32;
        let e = (h >> 10u32) & 0x1Fu32;
        let m = h & 0x3FFu32;
        // Subnormals: m·2⁻²⁴ is exact in f32.
        let sub = f32_to_bits(u32_to_f32(m) * 5.960_464_5e-8f32);
        let inf_nan = 0x7F80_0000u32 | (m << 13u32);
        let normal = ((e + 112u32) << 23u32) | (m << 13u32);
        sign | select(e == 0u32, sub, select(e == 31u32, inf_nan, normal))
    }
}

/// A 16-bit float storage type: [`f16`](struct@f16) or [`bf16`].
pub trait Half: Copy + Default + Send + Sync + core::fmt::Debug + 'static {
    /// The type's name (`"f16"`, `"bf16"`).
    const NAME: &'static str;
    /// Whether it is bf16 (else f16).
    const BF16: bool;
    /// The value's bits.
    fn bits(self) -> u16;
    /// The value with these bits.
    fn from_bits16(b: u16) -> Self;
    /// To f32 (exact).
    #[inline(always)]
    fn to_f32(self) -> f32 {
        let h = self.bits() as u32;
        f32::from_bits(if Self::BF16 {
            formula::f32_bits_from_bf16(h)
        } else {
            formula::f32_bits_from_f16(h)
        })
    }
    /// From f32, rounded to nearest (ties to even).
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        let b = x.to_bits();
        let h = if Self::BF16 {
            formula::bf16_from_f32_bits(b)
        } else {
            formula::f16_from_f32_bits(b)
        };
        Self::from_bits16(h as u16)
    }
}

impl Half for f16 {
    const NAME: &'static str = "f16";
    const BF16: bool = false;
    fn bits(self) -> u16 {
        self.to_bits()
    }
    fn from_bits16(b: u16) -> Self {
        f16::from_bits(b)
    }
}

impl Half for bf16 {
    const NAME: &'static str = "bf16";
    const BF16: bool = true;
    fn bits(self) -> u16 {
        self.to_bits()
    }
    fn from_bits16(b: u16) -> Self {
        bf16::from_bits(b)
    }
}

/// Half values to f32 (`out` resized).
pub fn widen<H: Half>(xs: &[H], out: &mut Vec<f32>) {
    out.clear();
    out.extend(xs.iter().map(|h| h.to_f32()));
}

/// f32 values to the half type, rounded to nearest (`out` resized).
pub fn narrow<H: Half>(xs: &[f32], out: &mut Vec<H>) {
    out.clear();
    out.extend(xs.iter().map(|&x| H::from_f32(x)));
}

/// What the model must evaluate next, in half precision.
#[derive(Debug)]
pub struct HalfEvalRequest<'r, H> {
    /// The model's input, batch-major.
    pub x: &'r [H],
    /// The level to evaluate at.
    pub level: Level,
    /// The step this evaluation belongs to.
    pub step: usize,
}

/// A [`Run`] with half-precision latents (see the [module](self) docs): the sample is stored
/// in `H` between steps, the model sees and returns `H`, the update runs in f32.
pub struct HalfRun<H: Half, S: Solver, N: NoiseSource<f32>> {
    run: Run<f32, S, N>,
    input: Vec<H>,
    wide: Vec<f32>,
}

impl<H: Half, S: Solver, N: NoiseSource<f32>> HalfRun<H, S, N> {
    /// Starts a run from the half-precision `x_init` (`batch` samples).
    pub fn new(
        solver: S,
        grid: crate::solver::Grid,
        x_init: &[H],
        batch: usize,
        noise: N,
    ) -> Result<Self> {
        let mut wide = Vec::new();
        widen(x_init, &mut wide);
        Ok(Self {
            run: Run::new(solver, grid, wide.clone(), batch, noise)?,
            input: Vec::new(),
            wide,
        })
    }

    /// The f32 run inside (its settings: [`Run::set_threshold`], [`Run::set_inpaint`]).
    pub fn inner_mut(&mut self) -> &mut Run<f32, S, N> {
        &mut self.run
    }

    /// The f32 run inside.
    pub fn inner(&self) -> &Run<f32, S, N> {
        &self.run
    }

    /// The current sample in `H`.
    pub fn x(&self) -> Vec<H> {
        let mut out = Vec::new();
        narrow(self.run.x(), &mut out);
        out
    }

    /// The next evaluation (the model's input converted to `H`), or `None` when done.
    pub fn next_eval(&mut self) -> Result<Option<HalfEvalRequest<'_, H>>> {
        let (level, step) = match self.run.next_eval()? {
            None => return Ok(None),
            Some(r) => {
                narrow(r.x, &mut self.input);
                (r.level, r.step)
            }
        };
        Ok(Some(HalfEvalRequest {
            x: &self.input,
            level,
            step,
        }))
    }

    /// Feeds the model's x0-prediction in `H`.
    pub fn feed_x0(&mut self, d: &[H]) -> Result<Option<usize>> {
        check_len("model output", self.run.x().len(), d.len())?;
        widen(d, &mut self.wide);
        let r = self.run.feed_x0(&self.wide)?;
        self.store(r)
    }

    /// Feeds a raw prediction of `target` in `H`.
    pub fn feed<T: Target + Sync>(&mut self, target: &T, pred: &[H]) -> Result<Option<usize>> {
        check_len("model output", self.run.x().len(), pred.len())?;
        widen(pred, &mut self.wide);
        let r = self.run.feed(target, &self.wide)?;
        self.store(r)
    }

    /// After a finished step the sample is stored in `H` (rounded). A value past `H`'s range
    /// (f16's ±65504) would round to ±inf and poison the next model call: an error naming it.
    fn store(&mut self, r: Option<usize>) -> Result<Option<usize>> {
        if r.is_some() {
            for (i, v) in self.run.x_mut().iter_mut().enumerate() {
                let h = H::from_f32(*v).to_f32();
                if h.is_infinite() && v.is_finite() {
                    return Err(crate::GdfError::NonFinite {
                        what: "x rounded to the half format (the sample left its range)",
                        index: i,
                        value: *v as f64,
                    });
                }
                *v = h;
            }
        }
        Ok(r)
    }

    /// Runs the whole loop with `model(x, level, d)` writing the x0-prediction into `d`;
    /// returns the sample in `H`.
    pub fn run(
        mut self,
        mut model: impl FnMut(&[H], Level, &mut [H]) -> Result<()>,
    ) -> Result<Vec<H>> {
        let mut d = vec![H::default(); self.run.x().len()];
        while let Some(r) = self.next_eval()? {
            model(r.x, r.level, &mut d)?;
            self.feed_x0(&d)?;
        }
        Ok(self.x())
    }
}
