//! PyTorch's CPU generator: `torch.Generator().manual_seed(seed)` and `torch.randn(…,
//! generator=g)` reproduced, so a seed written for a diffusers or ComfyUI pipeline (which draw
//! their latents and their ancestral noise on the CPU generator) gives the same noise here.
//!
//! The generator is MT19937 seeded with the seed's low 32 bits. `randn` of a contiguous tensor
//! of at least 16 values fills it with uniforms (24 bits each in float32, 53 in float64), then
//! turns each block of 16 into normals by Box–Muller (the first 8 values give the radii, the
//! last 8 the angles); a tensor whose length is not a multiple of 16 redraws 16 uniforms for
//! its last 16 values. A tensor of fewer than 16 values draws one double-precision Box–Muller
//! pair per two values and keeps the unused sine for the next such draw, as torch does.
//!
//! float32 follows torch's x86 (AVX2/AVX-512) build, whose Box–Muller uses the Cephes
//! polynomials of `avx_mathfun.h`; ports of those two functions are below, so the numbers are
//! bit for bit torch's on x86 (`tests/torch_randn.rs`). torch's portable build (no AVX2: ARM,
//! `ATEN_CPU_CAPABILITY=default`) computes the same transform with the C library's `logf`,
//! `cosf`, `sinf` and a double-precision angle, a few float32 ulps away. float16 and bfloat16
//! tensors are the float32 numbers rounded; float64 uses the C library's double functions.
//!
//! ```
//! use gdf::interop::torch::TorchGenerator;
//!
//! // torch.randn(4, 16, generator=torch.Generator().manual_seed(42))[0, :3]
//! let mut g = TorchGenerator::new(42);
//! let z = g.randn_f32(64);
//! assert_eq!(&z[..3], &[1.9269153f32, 1.4872841, 0.9007172]);
//! ```

use crate::error::{GdfError, Result};
use crate::float::Real;
use crate::pipeline::half::{bf16, f16, Half};
use crate::solver::{DrawInfo, NoiseSource};

/// MT19937 (`std::mt19937`, torch's `at::mt19937`).
#[derive(Clone)]
struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            let p = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(p ^ (p >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.state[i] = self.state[(i + 397) % 624] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
}

/// A PyTorch CPU generator (`torch.Generator()` after `manual_seed(seed)`): each `randn_*`
/// call continues the stream, as successive `torch.randn(…, generator=g)` calls do.
#[derive(Clone)]
pub struct TorchGenerator {
    mt: Mt19937,
    /// The cached second value of the last double-precision Box–Muller pair (small tensors).
    next_normal: Option<f64>,
}

impl core::fmt::Debug for TorchGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TorchGenerator")
            .field("index", &self.mt.index)
            .field("next_normal", &self.next_normal)
            .finish_non_exhaustive()
    }
}

impl TorchGenerator {
    /// `torch.Generator().manual_seed(seed)` (torch keeps the seed's low 32 bits, as here).
    pub fn new(seed: u64) -> Self {
        Self {
            mt: Mt19937::new(seed as u32),
            next_normal: None,
        }
    }

    /// A float32 uniform in [0, 1): 24 bits of one draw.
    fn uniform_f32(&mut self) -> f32 {
        (self.mt.next_u32() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0)
    }

    /// A float64 uniform in [0, 1): 53 bits of two draws (the first the high word).
    fn uniform_f64(&mut self) -> f64 {
        let hi = self.mt.next_u32() as u64;
        let lo = self.mt.next_u32() as u64;
        (((hi << 32) | lo) & ((1u64 << 53) - 1)) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// One standard normal of the small-tensor path (double Box–Muller, the sine kept).
    fn normal_serial(&mut self) -> f64 {
        if let Some(v) = self.next_normal.take() {
            return v;
        }
        let u1 = self.uniform_f64();
        let u2 = self.uniform_f64();
        let r = (-2.0 * (-u2).ln_1p()).sqrt();
        let theta = 2.0 * core::f64::consts::PI * u1;
        self.next_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    /// `torch.randn(n, generator=g)` in float32 (any shape of `n` values: the draw is over the
    /// flattened contiguous tensor).
    pub fn randn_f32(&mut self, n: usize) -> Vec<f32> {
        self.randn_opmath(n, false)
    }

    /// `torch.randn(n, dtype=torch.float16 or torch.bfloat16, generator=g)`: torch computes
    /// these in float32 but draws each block's uniforms just before its transform (not all of
    /// them first), so past the last whole block of 16 the numbers differ from
    /// [`randn_f32`](Self::randn_f32)'s, then rounds them to `H`.
    ///
    /// ```
    /// use gdf::interop::torch::TorchGenerator;
    /// use gdf::pipeline::half::{f16, Half};
    ///
    /// let h: Vec<f16> = TorchGenerator::new(5).randn_half(40);
    /// let f = TorchGenerator::new(5).randn_f32(40);
    /// assert_eq!(h[0], f16::from_f32(f[0])); // the same while whole blocks last
    /// ```
    pub fn randn_half<H: Half>(&mut self, n: usize) -> Vec<H> {
        self.randn_opmath(n, true)
            .into_iter()
            .map(H::from_f32)
            .collect()
    }

    /// The float32 draw; `blockwise`: each block's uniforms drawn just before its transform
    /// (torch's reduced-precision dtypes).
    fn randn_opmath(&mut self, n: usize, blockwise: bool) -> Vec<f32> {
        self.normal_fill(n, blockwise, Self::uniform_f32, box_muller16_f32, |v| {
            v as f32
        })
    }

    /// `torch.randn(n, dtype=torch.float64, generator=g)`.
    pub fn randn_f64(&mut self, n: usize) -> Vec<f64> {
        self.normal_fill(n, false, Self::uniform_f64, box_muller16_f64, |v| v)
    }

    /// torch's `normal_kernel` layout for `n` values: under 16, one serial double normal each
    /// (`from_serial` rounds it); else uniforms (all first, or each block's just before its
    /// transform when `blockwise`), Box–Muller over each whole block of 16, and for a length
    /// that is not a multiple of 16 the last 16 values drawn and transformed again.
    fn normal_fill<T: Copy + Default>(
        &mut self,
        n: usize,
        blockwise: bool,
        uniform: fn(&mut Self) -> T,
        box_muller16: fn(&mut [T]),
        from_serial: fn(f64) -> T,
    ) -> Vec<T> {
        if n < 16 {
            return (0..n).map(|_| from_serial(self.normal_serial())).collect();
        }
        let mut out = vec![T::default(); n];
        if !blockwise {
            out.iter_mut().for_each(|v| *v = uniform(self));
        }
        for block in out.chunks_exact_mut(16) {
            if blockwise {
                block.iter_mut().for_each(|v| *v = uniform(self));
            }
            box_muller16(block);
        }
        if n % 16 != 0 {
            // The last 16 values are drawn again.
            let tail = &mut out[n - 16..];
            tail.iter_mut().for_each(|v| *v = uniform(self));
            box_muller16(tail);
        }
        out
    }
}

/// The dtype of a `torch.randn` call (what diffusers passes as the latents' dtype).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TorchDtype {
    /// `torch.float32` (the default).
    #[default]
    Float32,
    /// `torch.float16` (fp16 pipelines).
    Float16,
    /// `torch.bfloat16`.
    BFloat16,
    /// `torch.float64`.
    Float64,
}

impl TorchGenerator {
    /// `torch.randn(n, dtype=dtype, generator=g)`, widened to f64 (exactly).
    pub fn randn(&mut self, n: usize, dtype: TorchDtype) -> Vec<f64> {
        match dtype {
            TorchDtype::Float32 => self.randn_f32(n).into_iter().map(f64::from).collect(),
            TorchDtype::Float16 => widen(self.randn_half::<f16>(n)),
            TorchDtype::BFloat16 => widen(self.randn_half::<bf16>(n)),
            TorchDtype::Float64 => self.randn_f64(n),
        }
    }
}

fn widen<H: Half>(v: Vec<H>) -> Vec<f64> {
    v.into_iter().map(|h| f64::from(h.to_f32())).collect()
}

/// A solver run's noise from a PyTorch CPU generator, as a diffusers scheduler draws it: each
/// draw, used or skipped, is one `torch.randn` of the whole batch (`batch · per` values, the
/// tensor `model_output.shape` of `scheduler.step(…, generator=g)`), continuing the
/// generator's stream. Draw the initial latents from the same generator first, as the pipeline
/// does, and the run reproduces the pipeline's seed.
///
/// ```
/// use gdf::interop::torch::{TorchDtype, TorchGenerator, TorchNoise};
/// use gdf::scaler::Vp;
/// use gdf::solver::{Grid, Run, EulerAncestral};
///
/// let (batch, per) = (1, 16);
/// let mut g = TorchGenerator::new(0);
/// // The pipeline's `randn_tensor(shape, generator=g)` (× init_noise_sigma where it has one).
/// let x: Vec<f64> = g.randn(batch * per, TorchDtype::Float32);
/// let grid = Grid::new(&Vp, &[-4.0, 0.0, 4.0, f64::INFINITY])?;
/// let noise = TorchNoise::new(g, batch, per, TorchDtype::Float32);
/// let out = Run::new(EulerAncestral::new(), grid, x, batch, noise)?
///     .run(|_x, _l, d| Ok(d.fill(0.25)))?;
/// assert!(out.iter().all(|&v| v == 0.25)); // the last step returns the prediction
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TorchNoise {
    generator: TorchGenerator,
    per: usize,
    len: usize,
    dtype: TorchDtype,
    /// The current draw's number and values.
    draw: Option<usize>,
    values: Vec<f64>,
}

impl TorchNoise {
    /// Draws of `batch · per` values of `dtype` from `generator`, from its current state on.
    pub fn new(generator: TorchGenerator, batch: usize, per: usize, dtype: TorchDtype) -> Self {
        Self {
            generator,
            per,
            len: batch.saturating_mul(per),
            dtype,
            draw: None,
            values: Vec::new(),
        }
    }

    /// The generator, at the state the draws so far left it in.
    pub fn generator(&self) -> &TorchGenerator {
        &self.generator
    }

    /// The next draw (`batch · per` values), advancing the generator (the device runs'
    /// source).
    pub(crate) fn next_draw(&mut self) -> Vec<f64> {
        self.generator.randn(self.len, self.dtype)
    }
}

impl<F: Real> NoiseSource<F> for TorchNoise {
    fn fill(
        &self,
        draw: usize,
        step: usize,
        sample: usize,
        offset: usize,
        out: &mut [F],
    ) -> Result<()> {
        let start = sample * self.per + offset;
        match self.values.get(start..start + out.len()) {
            Some(v) if self.draw == Some(draw) => {
                for (o, &v) in out.iter_mut().zip(v) {
                    *o = F::of(v);
                }
                Ok(())
            }
            _ => Err(GdfError::Invalid {
                message: format!(
                    "TorchNoise: draw {draw} at step {step} asks for values {start}..{} of a \
                     tensor of {} (give TorchNoise the run's batch and per-sample size)",
                    start + out.len(),
                    self.len
                ),
            }),
        }
    }

    fn on_draw(&mut self, info: DrawInfo) -> Result<()> {
        // Skipped draws advance the generator too, as the scheduler draws and drops them.
        self.values = self.next_draw();
        self.draw = Some(info.draw);
        Ok(())
    }
}

/// Box–Muller over 16 uniforms in float32, as torch's x86 build: radii from the first 8,
/// angles from the last 8.
fn box_muller16_f32(d: &mut [f32]) {
    const TWO_PI: f32 = 6.283_185_5; // (float)(2·π)
    for j in 0..8 {
        let u1 = 1.0 - d[j];
        let u2 = d[j + 8];
        let radius = (-2.0 * cephes_log(u1)).sqrt();
        let (s, c) = cephes_sincos(TWO_PI * u2);
        d[j] = radius * c;
        d[j + 8] = radius * s;
    }
}

/// Box–Muller over 16 uniforms in float64 (torch's scalar transform).
fn box_muller16_f64(d: &mut [f64]) {
    for j in 0..8 {
        let u1 = 1.0 - d[j];
        let u2 = d[j + 8];
        let radius = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * core::f64::consts::PI * u2;
        d[j] = radius * theta.cos();
        d[j + 8] = radius * theta.sin();
    }
}

// The two functions below are scalar ports of `log256_ps` and `sincos256_ps` from PyTorch's
// `aten/src/ATen/native/cpu/avx_mathfun.h` (Copyright (C) 2012 Giovanni Garberoglio, based on
// Julien Pommier's sse_mathfun; zlib license; the polynomials are Cephes'). Altered: one lane,
// Rust, only the paths that inputs in (0, 1] and [0, 2π) take, and the products that GCC
// contracts into the following addition in torch's build (`-mfma`, `-ffp-contract=fast`: the
// first product in statement order of each sum) written as fused multiply-adds, which is what
// makes the results torch's bit for bit.

/// ln(x) for x in (0, 1], as torch's AVX `log256_ps`.
fn cephes_log(x: f32) -> f32 {
    const SQRTHF: f32 = 0.707_106_77;
    const P: [f32; 9] = [
        7.037_683_6E-2,
        -1.151_461_1E-1,
        1.167_699_9E-1,
        -1.242_014_1E-1,
        1.424_932_3E-1,
        -1.666_805_8E-1,
        2.000_071_5E-1,
        -2.499_999_4E-1,
        3.333_333E-1,
    ];
    const Q1: f32 = -2.121_944_4e-4;
    const Q2: f32 = 0.693_359_4;
    let x = x.max(f32::MIN_POSITIVE);
    let bits = x.to_bits();
    let mut e = ((bits >> 23) as i32 - 0x7f) as f32;
    let mut m = f32::from_bits((bits & !0x7f80_0000) | 0.5f32.to_bits());
    e += 1.0;
    let below = m < SQRTHF;
    let tmp = if below { m } else { 0.0 };
    m -= 1.0;
    e -= if below { 1.0 } else { 0.0 };
    m += tmp;
    let z = m * m;
    let mut y = P[0];
    for p in &P[1..] {
        y = y.mul_add(m, *p);
    }
    y *= m;
    y = y.mul_add(z, e * Q1);
    y = (-z).mul_add(0.5, y);
    m += y;
    e.mul_add(Q2, m)
}

/// (sin x, cos x) for x in [0, 2π), as torch's AVX `sincos256_ps`.
fn cephes_sincos(x: f32) -> (f32, f32) {
    const FOPI: f32 = 1.273_239_5; // 4/π
    const DP1: f32 = -0.785_156_25;
    const DP2: f32 = -2.418_756_5e-4;
    const DP3: f32 = -3.774_895e-8;
    const SIN: [f32; 3] = [-1.951_529_6E-4, 8.332_161E-3, -1.666_665_5E-1];
    const COS: [f32; 3] = [2.443_315_7E-5, -1.388_731_6E-3, 4.166_664_6E-2];
    let sign_sin = x.to_bits() & 0x8000_0000;
    let mut x = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    let mut j = (x * FOPI) as i32;
    j = (j + 1) & !1;
    let y = j as f32;
    let swap_sin = ((j & 4) as u32) << 29;
    let poly_cos = j & 2 == 0;
    x = y.mul_add(DP1, x);
    x = y.mul_add(DP2, x);
    x = y.mul_add(DP3, x);
    let sign_cos = ((!(j - 2) & 4) as u32) << 29;
    let sign_sin = sign_sin ^ swap_sin;
    let z = x * x;
    let mut yc = COS[0];
    yc = yc.mul_add(z, COS[1]);
    yc = yc.mul_add(z, COS[2]);
    yc *= z;
    yc = yc.mul_add(z, -(z * 0.5));
    yc += 1.0;
    let mut ys = SIN[0];
    ys = ys.mul_add(z, SIN[1]);
    ys = ys.mul_add(z, SIN[2]);
    ys *= z;
    ys = ys.mul_add(x, x);
    let (sin, cos) = if poly_cos {
        (0.0 + ys, yc + 0.0)
    } else {
        (yc + 0.0, 0.0 + ys)
    };
    (
        f32::from_bits(sin.to_bits() ^ sign_sin),
        f32::from_bits(cos.to_bits() ^ sign_cos),
    )
}
