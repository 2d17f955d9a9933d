//! The modern solvers on the device: [`DeviceRun`] drives any [`Solver`] of [`crate::solver`]
//! over device buffers with **one kernel launch per pass**, i.e. one per model evaluation
//! (two on an EDM-churn step, whose churn is a pass of its own before the evaluation).
//!
//! The solver plans its passes on the host exactly as for [`crate::solver::Run`] (per-step
//! f64 coefficients, rounded once to the kernel's float type); the generic pass kernel reads
//! the buffers the pass names, converts the model's output to its x0-prediction through the
//! framework's target (the same `#[cube]` formula the host uses), draws the pass's noise with
//! the counter-based generator in-kernel (the host's numbers: draw `k` of sample `s` is the
//! stream `(seed, Purpose::Sampler, s, k)`) or reads recorded noise, and writes up to two
//! rows. Brownian-tree noise ([`DeviceNoise::Brownian`]) adds one launch before a drawing
//! pass, which sums the draw's counter normals into a scratch buffer the pass reads. Results
//! match the host run within f32 rounding (the terms are summed in another order).
//!
//! The pipeline stages ride in the same launch: x0 clipping and the DDIM raw-ε mix on the
//! converted prediction, the inpainting blend and the bf16/f16 rounding of the latent after
//! the rows ([`DeviceRun::set_threshold`], [`DeviceRun::set_inpaint`],
//! [`DeviceRun::set_half_storage`]). Dynamic thresholding needs each sample's quantile of
//! `|x0|` before the update, so it takes three launches: the conversion, the per-sample
//! selection (`quantile_kernel`), the update.

use core::marker::PhantomData;

use cubecl::prelude::*;
use cubecl::server::Handle;

use super::{check_buffers, launch_dims, prim, upload, vector_width, KernelError, Launches};
use crate::error::{check_finite, per_sample, GdfError};
use crate::noise::Purpose;
use crate::pipeline::formula::cube as pipe;
use crate::pipeline::half::formula::cube as half;
use crate::pipeline::{Inpaint, Threshold};
use crate::solver::brownian::Term;
use crate::solver::{
    BrownianNoise, Buf, Draw, DrawInfo, Dst, Eval, Grid, Level, Pass, Solver, Src,
};
use crate::target::{CubeTarget, Target};

/// Slots of the pass kernel: the three buffers, four history entries, two noise draws.
const SLOTS: usize = 9;

/// Comptime switches of the pass kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PassFlags {
    /// Bit `k`: slot `k` is read (0 x, 1 stage, 2 aux, 3..=6 the history, newest first).
    pub read: u32,
    /// Rows (0..=2).
    pub nrows: u32,
    /// The slot each row writes (0..=3; 3 is the newest history entry).
    pub dst: [u32; 2],
    /// 0: nothing fed; 5: the raw x0-prediction is already in the newest history entry (a
    /// first launch wrote it; dynamic thresholding); 1: the fed buffer is the x0-prediction; 2: it is the target's raw
    /// output, converted at the evaluated level; 3: two raw outputs `c`, `u` combined as
    /// `α·c + β·u` (a linear guider), then converted; 4: a non-linear guider's per-sample
    /// `α·c + β·u + γ·m + δ·(c − u)` (see [`GuideFlags`]).
    pub fed: u32,
    /// How mode 4 treats its inputs.
    pub guide: GuideFlags,
    /// The evaluated buffer (0..=2), read by the conversion.
    pub in_slot: u32,
    /// Noise draws used (0..=2).
    pub nused: u32,
    /// Noise read from a recorded buffer instead of drawn.
    pub recorded: bool,
    /// The x0 stage on the fed prediction: 0 none, 1 clip to `±clip`, 2 dynamic thresholding
    /// with the per-sample scales buffer (see [`crate::pipeline::Threshold`]).
    pub stage: u32,
    /// Inpainting blend after the rows (the pass finishes a step).
    pub blend: bool,
    /// Round `x` to a 16-bit format after the pass: 0 no, 1 bf16, 2 f16.
    pub round: u32,
}

/// Comptime switches of a non-linear guider's combination (pass mode 4) and its reduction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GuideFlags {
    /// The guider acts on x0: `c` and `u` are converted to x0-predictions first.
    pub x0_space: bool,
    /// The unconditional output is bound (otherwise it counts as zeros).
    pub has_u: bool,
    /// The momentum buffer is read (and, in the pass, updated: `m ← Δ + β_m·m`).
    pub momentum: bool,
}

/// Per-launch scalars of the pass kernel.
#[derive(CubeType, CubeLaunch, Clone, Copy, Debug)]
pub struct PassScalars {
    /// Elements in all.
    pub n: u32,
    /// Elements per sample.
    pub per: u32,
    /// Low word of the seed.
    pub seed_lo: u32,
    /// High word of the seed.
    pub seed_hi: u32,
    /// The noise counter's purpose word.
    pub purpose: u32,
    /// Draw number of the first used noise.
    pub draw0: u32,
    /// Draw number of the second used noise.
    pub draw1: u32,
    /// `a` of the evaluated level.
    pub a: f32,
    /// `b` of the evaluated level.
    pub b: f32,
    /// The linear guider's `α` (fed mode 3).
    pub alpha: f32,
    /// The linear guider's `β` (fed mode 3).
    pub beta: f32,
    /// The momentum `β_m` (fed mode 4 with momentum).
    pub beta_m: f32,
    /// The clip range (stage 1).
    pub clip: f32,
    /// The weight of the thresholded x0 (`pipeline::formula::raw_eps_mix`; 1 but in DDIM).
    pub stage_w: f32,
    /// `a` of the level the blend re-noises the known image to.
    pub blend_a: f32,
    /// `b` of that level.
    pub blend_b: f32,
}

/// The value of slot `k` (a comptime index) among the kernel's locals.
#[cube]
#[allow(clippy::too_many_arguments)]
fn slot<F: Float>(
    #[comptime] k: u32,
    vx: F,
    vs: F,
    va: F,
    v0: F,
    v1: F,
    v2: F,
    v3: F,
    n0: F,
    n1: F,
) -> F {
    if comptime!(k == 0) {
        vx
    } else if comptime!(k == 1) {
        vs
    } else if comptime!(k == 2) {
        va
    } else if comptime!(k == 3) {
        v0
    } else if comptime!(k == 4) {
        v1
    } else if comptime!(k == 5) {
        v2
    } else if comptime!(k == 6) {
        v3
    } else if comptime!(k == 7) {
        n0
    } else {
        n1
    }
}

/// One row's value `Σ_k coefs[base + k]·slot_k` over the nine slots.
#[cube]
#[allow(clippy::too_many_arguments)]
fn row_sum<F: Float>(
    coefs: &[F],
    #[comptime] base: usize,
    vx: F,
    vs: F,
    va: F,
    v0: F,
    v1: F,
    v2: F,
    v3: F,
    n0: F,
    n1: F,
) -> F {
    coefs[base] * vx
        + coefs[base + 1] * vs
        + coefs[base + 2] * va
        + coefs[base + 3] * v0
        + coefs[base + 4] * v1
        + coefs[base + 5] * v2
        + coefs[base + 6] * v3
        + coefs[base + 7] * n0
        + coefs[base + 8] * n1
}

/// One pass over every element: convert the fed prediction, draw the noise, evaluate the rows
/// `dst = Σ_k coefs[row·9 + k]·slot_k` in order (a later row sees an earlier one's result).
///
/// Unit `u` handles vector `u` of `W` values (`W` dividing `per`, so a vector lies in one
/// sample; with `W = 4` it is one Philox block of each draw): every buffer it reads is loaded
/// once as a vector, the formulas run lane by lane, and every buffer it writes is stored once.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn pass_kernel<F: Float, W: Size, T: CubeTarget>(
    x: &mut [Vector<F, W>],
    stage: &mut [Vector<F, W>],
    aux: &mut [Vector<F, W>],
    d0: &mut [Vector<F, W>],
    d1: &[Vector<F, W>],
    d2: &[Vector<F, W>],
    d3: &[Vector<F, W>],
    fed: &[Vector<F, W>],
    fed_u: &[Vector<F, W>],
    rec: &[Vector<F, W>],
    coefs: &[F],
    mom: &mut [Vector<F, W>],
    gcoef: &[F],
    scales: &[F],
    inp: &[Vector<F, W>],
    args: PassScalars,
    #[comptime] flags: PassFlags,
) {
    let w = W::value();
    let wu = u32::cast_from(w);
    let nv = args.n / wu;
    let iv = ABSOLUTE_POS;
    if iv >= nv as usize {
        terminate!();
    }
    // Which slots the rows store to (comptime).
    let rows_to_x =
        comptime!((flags.nrows > 0 && flags.dst[0] == 0) || (flags.nrows > 1 && flags.dst[1] == 0));
    let rows_to_s =
        comptime!((flags.nrows > 0 && flags.dst[0] == 1) || (flags.nrows > 1 && flags.dst[1] == 1));
    let rows_to_a =
        comptime!((flags.nrows > 0 && flags.dst[0] == 2) || (flags.nrows > 1 && flags.dst[1] == 2));
    let rows_to_d =
        comptime!((flags.nrows > 0 && flags.dst[0] == 3) || (flags.nrows > 1 && flags.dst[1] == 3));
    let x_out = comptime!(rows_to_x || flags.blend || flags.round > 0);
    let load_x = comptime!(flags.read & 1 != 0 || flags.blend || flags.round > 0);
    let load_d0 = comptime!(flags.read & 8 != 0 || flags.fed == 5);
    let momentum = comptime!(flags.fed == 4 && flags.guide.momentum);

    let zv = Vector::<F, W>::new(F::new(0.0));
    let mut lx = zv;
    let mut ls = zv;
    let mut la = zv;
    let mut l0 = zv;
    let mut l1 = zv;
    let mut l2 = zv;
    let mut l3 = zv;
    let mut lf = zv;
    let mut lu = zv;
    let mut lm = zv;
    if comptime!(load_x) {
        lx = x[iv];
    }
    if comptime!(flags.read & 2 != 0) {
        ls = stage[iv];
    }
    if comptime!(flags.read & 4 != 0) {
        la = aux[iv];
    }
    if comptime!(load_d0) {
        l0 = d0[iv];
    }
    if comptime!(flags.read & 16 != 0) {
        l1 = d1[iv];
    }
    if comptime!(flags.read & 32 != 0) {
        l2 = d2[iv];
    }
    if comptime!(flags.read & 64 != 0) {
        l3 = d3[iv];
    }
    if comptime!(flags.fed >= 1 && flags.fed <= 4) {
        lf = fed[iv];
    }
    if comptime!(flags.fed == 3 || (flags.fed == 4 && flags.guide.has_u)) {
        lu = fed_u[iv];
    }
    if comptime!(momentum) {
        lm = mom[iv];
    }
    let e0 = iv as u32 * wu;
    let s = e0 / args.per;
    let off0 = e0 % args.per;
    // The noise: recorded vectors, or the Philox block(s) of this vector's elements.
    let mut r0 = zv;
    let mut r1 = zv;
    let mut a0 = 0.0f32;
    let mut a1 = 0.0f32;
    let mut a2 = 0.0f32;
    let mut a3 = 0.0f32;
    let mut b0 = 0.0f32;
    let mut b1 = 0.0f32;
    let mut b2 = 0.0f32;
    let mut b3 = 0.0f32;
    if comptime!(flags.nused > 0) {
        if comptime!(flags.recorded) {
            r0 = rec[(args.draw0 * nv) as usize + iv];
        } else {
            let (z0, z1, z2, z3) = prim::normal_block(
                args.seed_lo,
                args.seed_hi,
                args.purpose,
                s,
                args.draw0,
                off0 / 4u32,
            );
            a0 = z0;
            a1 = z1;
            a2 = z2;
            a3 = z3;
        }
    }
    if comptime!(flags.nused > 1) {
        if comptime!(flags.recorded) {
            r1 = rec[(args.draw1 * nv) as usize + iv];
        } else {
            let (z0, z1, z2, z3) = prim::normal_block(
                args.seed_lo,
                args.seed_hi,
                args.purpose,
                s,
                args.draw1,
                off0 / 4u32,
            );
            b0 = z0;
            b1 = z1;
            b2 = z2;
            b3 = z3;
        }
    }
    let mut i0 = zv;
    let mut i1 = zv;
    let mut i2 = zv;
    if comptime!(flags.blend) {
        i0 = inp[iv];
        i1 = inp[nv as usize + iv];
        i2 = inp[2 * nv as usize + iv];
    }

    let mut ox = Vector::<F, W>::empty();
    let mut os = Vector::<F, W>::empty();
    let mut oa = Vector::<F, W>::empty();
    let mut od = Vector::<F, W>::empty();
    let mut om = Vector::<F, W>::empty();
    #[unroll]
    for k in 0..w {
        let zero = F::new(0.0);
        let mut vx = zero;
        let mut vs = zero;
        let mut va = zero;
        let mut v0 = zero;
        let mut v1 = zero;
        let mut v2 = zero;
        let mut v3 = zero;
        let mut n0 = zero;
        let mut n1 = zero;
        if comptime!(flags.read & 1 != 0) {
            vx = lx.extract(k);
        }
        if comptime!(flags.read & 2 != 0) {
            vs = ls.extract(k);
        }
        if comptime!(flags.read & 4 != 0) {
            va = la.extract(k);
        }
        if comptime!(flags.read & 8 != 0) {
            v0 = l0.extract(k);
        }
        if comptime!(flags.read & 16 != 0) {
            v1 = l1.extract(k);
        }
        if comptime!(flags.read & 32 != 0) {
            v2 = l2.extract(k);
        }
        if comptime!(flags.read & 64 != 0) {
            v3 = l3.extract(k);
        }
        // The values the written buffers end with (memory's, unless a row stores).
        let mut xm = lx.extract(k);
        let mut sm = zero;
        let mut am = zero;
        let mut dm = l0.extract(k);
        if comptime!(flags.fed == 1) {
            v0 = lf.extract(k);
        }
        if comptime!(flags.fed == 2) {
            let xin = slot::<F>(flags.in_slot, vx, vs, va, v0, v1, v2, v3, n0, n1);
            v0 = T::x0::<F>(
                xin,
                lf.extract(k),
                F::cast_from(args.a),
                F::cast_from(args.b),
            );
        }
        if comptime!(flags.fed == 4) {
            let xin = slot::<F>(flags.in_slot, vx, vs, va, v0, v1, v2, v3, n0, n1);
            let (a, b) = (F::cast_from(args.a), F::cast_from(args.b));
            let mut c = lf.extract(k);
            let mut u = F::new(0.0);
            if comptime!(flags.guide.has_u) {
                u = lu.extract(k);
            }
            if comptime!(flags.guide.x0_space) {
                c = T::x0::<F>(xin, c, a, b);
                if comptime!(flags.guide.has_u) {
                    u = T::x0::<F>(xin, u, a, b);
                }
            }
            let s4 = (s * 4u32) as usize;
            let delta = c - u;
            let mut p = gcoef[s4] * c + gcoef[s4 + 1] * u + gcoef[s4 + 3] * delta;
            if comptime!(flags.guide.momentum) {
                let m = lm.extract(k);
                p += gcoef[s4 + 2] * m;
                om.insert(k, delta + F::cast_from(args.beta_m) * m);
            }
            if comptime!(flags.guide.x0_space) {
                v0 = p;
            } else {
                v0 = T::x0::<F>(xin, p, a, b);
            }
        }
        if comptime!(flags.fed == 3) {
            let xin = slot::<F>(flags.in_slot, vx, vs, va, v0, v1, v2, v3, n0, n1);
            let p =
                F::cast_from(args.alpha) * lf.extract(k) + F::cast_from(args.beta) * lu.extract(k);
            v0 = T::x0::<F>(xin, p, F::cast_from(args.a), F::cast_from(args.b));
        }
        if comptime!(flags.fed == 5) {
            v0 = l0.extract(k);
        }
        if comptime!(flags.fed != 0) {
            if comptime!(flags.stage == 1) {
                let c = pipe::clip::<F>(v0, F::cast_from(args.clip));
                v0 = pipe::raw_eps_mix::<F>(c, v0, F::cast_from(args.stage_w));
            }
            if comptime!(flags.stage == 2) {
                let c = pipe::thresholded::<F>(v0, scales[s as usize]);
                v0 = pipe::raw_eps_mix::<F>(c, v0, F::cast_from(args.stage_w));
            }
            dm = v0;
        }
        if comptime!(flags.nused > 0) {
            if comptime!(flags.recorded) {
                n0 = r0.extract(k);
            } else {
                n0 = F::cast_from(prim::lane_normal(a0, a1, a2, a3, off0, k, w));
            }
        }
        if comptime!(flags.nused > 1) {
            if comptime!(flags.recorded) {
                n1 = r1.extract(k);
            } else {
                n1 = F::cast_from(prim::lane_normal(b0, b1, b2, b3, off0, k, w));
            }
        }
        if comptime!(flags.nrows > 0) {
            let out = row_sum::<F>(coefs, 0usize, vx, vs, va, v0, v1, v2, v3, n0, n1);
            let dst = comptime!(flags.dst[0]);
            // A later row reads this row's result.
            if comptime!(dst == 0) {
                vx = out;
                xm = out;
            } else if comptime!(dst == 1) {
                vs = out;
                sm = out;
            } else if comptime!(dst == 2) {
                va = out;
                am = out;
            } else {
                v0 = out;
                dm = out;
            }
        }
        if comptime!(flags.nrows > 1) {
            let out = row_sum::<F>(coefs, 9usize, vx, vs, va, v0, v1, v2, v3, n0, n1);
            let dst = comptime!(flags.dst[1]);
            if comptime!(dst == 0) {
                xm = out;
            } else if comptime!(dst == 1) {
                sm = out;
            } else if comptime!(dst == 2) {
                am = out;
            } else {
                dm = out;
            }
        }
        if comptime!(flags.blend) {
            xm = pipe::blend::<F>(
                xm,
                i0.extract(k),
                i1.extract(k),
                i2.extract(k),
                F::cast_from(args.blend_a),
                F::cast_from(args.blend_b),
            );
        }
        if comptime!(flags.round == 1) {
            let b = half::bf16_from_f32_bits(u32::reinterpret(f32::cast_from(xm)));
            xm = F::cast_from(f32::reinterpret(half::f32_bits_from_bf16(b)));
        }
        if comptime!(flags.round == 2) {
            let b = half::f16_from_f32_bits(u32::reinterpret(f32::cast_from(xm)));
            xm = F::cast_from(f32::reinterpret(half::f32_bits_from_f16(b)));
        }
        ox.insert(k, xm);
        os.insert(k, sm);
        oa.insert(k, am);
        od.insert(k, dm);
    }
    if comptime!(x_out) {
        x[iv] = ox;
    }
    if comptime!(rows_to_s) {
        stage[iv] = os;
    }
    if comptime!(rows_to_a) {
        aux[iv] = oa;
    }
    if comptime!(flags.fed != 0 || rows_to_d) {
        d0[iv] = od;
    }
    if comptime!(momentum) {
        mom[iv] = om;
    }
}

/// Dynamic thresholding's per-sample scale on the device: cube `s` (256 units) finds the two
/// order statistics `klo`, `khi` of `|x0|` around torch's rank `r = ratio·(per − 1)` (computed
/// on the host in f64 with the weight `w = r − ⌊r⌋`, `pipeline::threshold::quantile_rank`,
/// as the host's quantile does) exactly, by a bitwise search on
/// the f32 bit patterns (non-negative floats order as their bits): for each bit from the top,
/// the units count the elements below the candidate, a shared-memory tree sums the counts, and
/// the bit is kept while at most `k` elements lie below. 32 rounds of one read of the sample
/// each, no sort and no scratch buffer. Unit 0 then interpolates as `torch.quantile` does and
/// clamps to `[1, max_value]`, in the same f32 operations as the host, so the scales match the
/// host's bit for bit.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn quantile_kernel<F: Float>(
    x0: &[F],
    scales: &mut [F],
    per: u32,
    klo: u32,
    khi: u32,
    w: f32,
    max_value: f32,
) {
    let s = CUBE_POS_Y;
    let base = s * per;
    let u = UNIT_POS;
    let mut counts = Shared::new_slice(512usize);
    let mut plo = 0u32;
    let mut phi = 0u32;
    for step in 0..32u32 {
        let bit = 1u32 << (31u32 - step);
        let clo = plo | bit;
        let chi = phi | bit;
        let mut nlo = 0u32;
        let mut nhi = 0u32;
        let mut k = u;
        while k < per {
            let key = u32::reinterpret(f32::abs(f32::cast_from(x0[(base + k) as usize])));
            nlo += select(key < clo, 1u32, 0u32);
            nhi += select(key < chi, 1u32, 0u32);
            k += CUBE_DIM;
        }
        counts[u as usize] = nlo;
        counts[(u + 256u32) as usize] = nhi;
        sync_cube();
        for t in 0..8u32 {
            let stride = 128u32 >> t;
            if u < stride {
                let lo_sum = counts[u as usize] + counts[(u + stride) as usize];
                let hi_sum = counts[(u + 256u32) as usize] + counts[(u + 256u32 + stride) as usize];
                counts[u as usize] = lo_sum;
                counts[(u + 256u32) as usize] = hi_sum;
            }
            sync_cube();
        }
        if counts[0] <= klo {
            plo = clo;
        }
        if counts[256] <= khi {
            phi = chi;
        }
        sync_cube();
    }
    if u == 0u32 {
        let vlo = f32::reinterpret(plo);
        let vhi = f32::reinterpret(phi);
        let q = pipe::lerp::<f32>(vlo, vhi, w);
        scales[s as usize] = F::cast_from(pipe::dynamic_scale::<f32>(q, max_value));
    }
}

/// Sums a non-linear guider needs, per sample: unit `UNIT_POS` of cube `(0, s)` adds the
/// vectors `UNIT_POS + k·CUBE_DIM` of `W` values of sample `s` (`W` dividing `per`) and
/// writes 14 partial sums: `Σc, Σu, Σm, ΣΔ` and the products `cc, cu, cm, cΔ, uu, um, uΔ,
/// mm, mΔ, ΔΔ` (`Δ = c − u`), of the x0-predictions when the guider acts on x0.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn guide_reduce_kernel<F: Float, W: Size, T: CubeTarget>(
    xin: &[Vector<F, W>],
    fed: &[Vector<F, W>],
    fed_u: &[Vector<F, W>],
    mom: &[Vector<F, W>],
    partials: &mut [f32],
    per: u32,
    a: f32,
    b: f32,
    #[comptime] g: GuideFlags,
) {
    let w = W::value();
    let pv = per / u32::cast_from(w);
    let s = CUBE_POS_Y;
    let base = s * pv;
    let (af, bf) = (F::cast_from(a), F::cast_from(b));
    let mut acc_c = 0.0f32;
    let mut acc_u = 0.0f32;
    let mut acc_m = 0.0f32;
    let mut acc_d = 0.0f32;
    let mut cc = 0.0f32;
    let mut cu = 0.0f32;
    let mut cm = 0.0f32;
    let mut cd = 0.0f32;
    let mut uu = 0.0f32;
    let mut um = 0.0f32;
    let mut ud = 0.0f32;
    let mut mm = 0.0f32;
    let mut md = 0.0f32;
    let mut dd = 0.0f32;
    let zv = Vector::<F, W>::new(F::new(0.0));
    let mut k = UNIT_POS;
    while k < pv {
        let i = (base + k) as usize;
        let vc = fed[i];
        let mut vu = zv;
        if comptime!(g.has_u) {
            vu = fed_u[i];
        }
        let mut vx = zv;
        if comptime!(g.x0_space) {
            vx = xin[i];
        }
        let mut vm = zv;
        if comptime!(g.momentum) {
            vm = mom[i];
        }
        #[unroll]
        for l in 0..w {
            let mut c = vc.extract(l);
            let mut u = vu.extract(l);
            if comptime!(g.x0_space) {
                c = T::x0::<F>(vx.extract(l), c, af, bf);
                if comptime!(g.has_u) {
                    u = T::x0::<F>(vx.extract(l), u, af, bf);
                }
            }
            let cf = f32::cast_from(c);
            let uf = f32::cast_from(u);
            let mf = f32::cast_from(vm.extract(l));
            let df = cf - uf;
            acc_c += cf;
            acc_u += uf;
            acc_m += mf;
            acc_d += df;
            cc += cf * cf;
            cu += cf * uf;
            cm += cf * mf;
            cd += cf * df;
            uu += uf * uf;
            um += uf * mf;
            ud += uf * df;
            mm += mf * mf;
            md += mf * df;
            dd += df * df;
        }
        k += CUBE_DIM;
    }
    let o = ((s * CUBE_DIM + UNIT_POS) * 14) as usize;
    partials[o] = acc_c;
    partials[o + 1] = acc_u;
    partials[o + 2] = acc_m;
    partials[o + 3] = acc_d;
    partials[o + 4] = cc;
    partials[o + 5] = cu;
    partials[o + 6] = cm;
    partials[o + 7] = cd;
    partials[o + 8] = uu;
    partials[o + 9] = um;
    partials[o + 10] = ud;
    partials[o + 11] = mm;
    partials[o + 12] = md;
    partials[o + 13] = dd;
}

/// The guider's part of a pass.
#[derive(Clone, Debug)]
enum GuideFeed {
    /// `α·c + β·u` (mode 3).
    Linear { u: Handle, alpha: f64, beta: f64 },
    /// Per-sample coefficients `[α, β, γ, δ]` (mode 4).
    Full {
        u: Handle,
        coef: Handle,
        flags: GuideFlags,
        beta_m: f64,
    },
}

/// Where a [`DeviceRun`]'s fresh normals come from.
#[derive(Clone, Debug)]
pub enum DeviceNoise {
    /// None: a solver that draws gets an error.
    None,
    /// The counter-based generator with this seed (the host's [`crate::solver::CounterNoise`]
    /// numbers).
    Counter(u64),
    /// Recorded normals, draw `k` at `[k·n, (k+1)·n)` (as [`crate::solver::RecordedNoise`]);
    /// the number of draws it holds.
    Recorded(Handle, usize),
    /// Brownian-tree noise (the host's [`BrownianNoise`] numbers, within f32 rounding): each
    /// used draw is summed from its counter normals by one extra launch before the pass.
    Brownian(BrownianNoise),
    /// PyTorch's CPU generator (the host's [`TorchNoise`](crate::interop::torch::TorchNoise)
    /// numbers): each draw is made on the host, as diffusers makes it, and the used ones are
    /// copied to the device with the pass (one upload per drawing evaluation).
    Torch(Box<crate::interop::torch::TorchNoise>),
}

/// What the model must evaluate next on the device.
#[derive(Clone, Debug)]
pub struct DeviceEvalRequest {
    /// The model's input (the native sample at `level`), `batch · per` values.
    pub x: Handle,
    /// The level to evaluate at.
    pub level: Level,
    /// The step this evaluation belongs to.
    pub step: usize,
    /// The evaluation's number (0-based).
    pub index: usize,
}

/// A sampling run of a [`Solver`] on the device (see the module docs). `F` is the buffers'
/// float type.
///
/// DPM++ 2M over three steps with a stand-in model whose ε prediction is its input (a real
/// model is a forward pass over the handle), against the host's [`Run`](crate::solver::Run):
///
/// ```
/// use gdf::kernel::cubecl::prelude::*;
/// use gdf::kernel::solver::{DeviceNoise, DeviceRun};
/// use gdf::solver::{AnySolver, CounterNoise, Grid, Run};
/// use gdf::target::Epsilon;
/// # let Some(client) = gdf::kernel::doc_client() else { return Ok(()) };
/// let (batch, per) = (4, 256);
/// let x_init: Vec<f32> = (0..batch * per).map(|i| (i as f32 * 0.37).sin()).collect();
/// let grid = Grid::new(&gdf::scaler::Vp, &[-6.0, -1.0, 3.0, f64::INFINITY])?;
/// let solver = AnySolver::from_name("dpmpp_2m")?;
/// let x0 = client.create_from_slice(f32::as_bytes(&x_init));
/// let mut run =
///     DeviceRun::<f32, _>::new(&client, solver.clone(), grid.clone(), &x0, batch, per,
///                              DeviceNoise::Counter(7))?;
/// while let Some(req) = run.next_eval()? {
///     let eps = req.x.clone();              // the model's output on the device
///     run.feed::<Epsilon>(&eps)?;           // one launch: convert to x0, update
/// }
///
/// let mut host = Run::new(solver, grid, x_init, batch, CounterNoise::new(7))?;
/// while let Some(req) = host.next_eval()? {
///     let eps = req.x.to_vec();
///     host.feed(&Epsilon, &eps)?;
/// }
/// let bytes = client.read_one(run.x().clone()).expect("reading the device buffer");
/// for (d, h) in f32::from_bytes(&bytes).iter().zip(host.x()) {
///     assert!((d - h).abs() <= 1e-4 * h.abs().max(1.0), "device {d}, host {h}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DeviceRun<'c, F, S: Solver> {
    client: &'c Client,
    solver: S,
    grid: Grid,
    noise: DeviceNoise,
    batch: usize,
    per: usize,
    x: Handle,
    stage: Handle,
    aux: Handle,
    hist: Vec<Handle>,
    dummy: Handle,
    pending: Option<Eval>,
    pre_done: bool,
    evals: usize,
    total: usize,
    draws: usize,
    steps_done: usize,
    /// What a guided feed adds to the pass (set for the one launch).
    guided: Option<GuideFeed>,
    /// The device momentum buffer of a guider that keeps one (APG), and the step it last saw.
    mom: Option<Handle>,
    mom_step: Option<usize>,
    /// The x0 stage ([`DeviceRun::set_threshold`]).
    threshold: Threshold,
    /// The per-sample scales of dynamic thresholding.
    scales: Option<Handle>,
    /// The inpainting buffer `[known | ε | mask]` (3·n values).
    inpaint: Option<Handle>,
    /// Latent storage rounding after every step: 0 none, 1 bf16, 2 f16.
    round: u32,
    /// Scratch for Brownian draws (2·n values), made on the first.
    brownian: Option<Handle>,
    _f: PhantomData<F>,
}

/// What a fed pass adds to the solver's rows.
#[derive(Clone, Copy, Debug, Default)]
struct Extras {
    stage: u32,
    blend: Option<(f64, f64)>,
    round: u32,
    stage_w: f64,
}

impl<'c, F: Float + CubeElement, S: Solver> DeviceRun<'c, F, S> {
    /// Starts a run of `solver` on `grid` from `x_init` (copied; `batch · per` values in the
    /// grid's scaler space at `λ_0`).
    ///
    /// Errors: an empty batch, `per == 0`, `x_init` shorter than `batch · per` values, a
    /// solver that cannot run on the grid.
    pub fn new(
        client: &'c Client,
        mut solver: S,
        grid: Grid,
        x_init: &Handle,
        batch: usize,
        per: usize,
        noise: DeviceNoise,
    ) -> Result<Self, KernelError> {
        let n = per_sample("batch × per", batch * per, batch)? * batch;
        if n > u32::MAX as usize / 2 {
            return Err(GdfError::OutOfRange {
                what: "batch × per",
                value: n as f64,
                expected: "at most 2³¹ elements per device run",
            }
            .into());
        }
        check_buffers::<F>(&[("x_init (bytes)", Some(x_init), n)])?;
        crate::solver::start_on(&mut solver, &grid)?;
        let bytes = n * core::mem::size_of::<F>();
        let zeros = vec![F::new(0.0); n];
        let x = client.empty(bytes);
        super::step::copy::<F>(client, x_init, &x, n)?;
        let total = solver.nfe(&grid);
        Ok(Self {
            client,
            solver,
            grid,
            noise,
            batch,
            per,
            x,
            stage: upload(client, &zeros),
            aux: upload(client, &zeros),
            // Four entries always (the kernel binds four); the solver uses the first `depth`.
            hist: (0..4).map(|_| upload(client, &zeros)).collect(),
            dummy: upload(client, &[F::new(0.0); super::VECTOR * 4]),
            pending: None,
            pre_done: false,
            evals: 0,
            total,
            draws: 0,
            steps_done: 0,
            guided: None,
            mom: None,
            mom_step: None,
            threshold: Threshold::None,
            scales: None,
            inpaint: None,
            round: 0,
            brownian: None,
            _f: PhantomData,
        })
    }

    /// Thresholds every x0-prediction before the update (as
    /// [`Run::set_threshold`](crate::solver::Run::set_threshold)): clipping inside the
    /// update's launch; dynamic thresholding as three launches per evaluation (the
    /// x0-predictions, a per-sample exact selection of the quantile of `|x0|` — a bitwise
    /// search over the f32 bit patterns with a shared-memory count per round, see
    /// `quantile_kernel` — then the update reading them), whose scales match the host's bit
    /// for bit.
    ///
    /// Errors: as the host's (a solver without thresholding in diffusers, bad settings).
    pub fn set_threshold(&mut self, threshold: Threshold) -> Result<(), KernelError> {
        threshold.validate()?;
        if !threshold.is_none() && !self.solver.takes_threshold() {
            return Err(
                crate::solver::runner::threshold_refused(self.solver.name(), threshold).into(),
            );
        }
        if matches!(threshold, Threshold::Dynamic { .. }) && self.scales.is_none() {
            self.scales = Some(upload(self.client, &vec![F::new(1.0); self.batch]));
        }
        self.threshold = threshold;
        Ok(())
    }

    /// Inpaints (as [`Run::set_inpaint`](crate::solver::Run::set_inpaint)): uploads the known
    /// image, the fixed ε and the mask (expanded to the batch), blended inside the launch
    /// that finishes each step. `None` turns it off.
    pub fn set_inpaint(&mut self, inpaint: Option<&Inpaint<f32>>) -> Result<(), KernelError> {
        let n = self.batch * self.per;
        self.inpaint = match inpaint {
            None => None,
            Some(p) => {
                crate::error::check_len("inpaint known image", n, p.known().len())?;
                let mut v: Vec<F> = Vec::with_capacity(3 * n);
                v.extend(p.known().iter().map(|&x| F::new(x)));
                v.extend(p.eps().iter().map(|&x| F::new(x)));
                let m = p.mask();
                v.extend((0..n).map(|i| F::new(m[i % m.len()])));
                Some(upload(self.client, &v))
            }
        };
        Ok(())
    }

    /// Stores the latent in a 16-bit format between steps: after each step's launch `x` is
    /// rounded (to nearest, ties to even) to bf16 (`Some(true)`) or f16 (`Some(false)`), in
    /// that launch, by the bit operations of [`crate::pipeline::half::formula`] (wgpu has no
    /// bf16 storage, and f16 storage only with an optional feature, so the buffers stay f32
    /// holding 16-bit values; [`crate::kernel::half`] packs them two per `u32` for the model).
    /// The host twin is [`HalfRun`](crate::pipeline::HalfRun).
    pub fn set_half_storage(&mut self, bf16: Option<bool>) {
        self.round = match bf16 {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        };
    }

    /// The current sample.
    pub fn x(&self) -> &Handle {
        &self.x
    }
    /// UniPC's corrected sample (and other in-step temporaries).
    pub fn aux(&self) -> &Handle {
        &self.aux
    }
    /// Model evaluations of the whole run.
    pub fn total_evals(&self) -> usize {
        self.total
    }
    /// Model evaluations left.
    pub fn remaining_evals(&self) -> usize {
        self.total - self.evals
    }
    /// Steps finished.
    pub fn steps_done(&self) -> usize {
        self.steps_done
    }
    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    fn buf(&self, b: Buf) -> &Handle {
        match b {
            Buf::X => &self.x,
            Buf::Stage => &self.stage,
            Buf::Aux => &self.aux,
        }
    }

    /// Plans the next evaluation (running its churn pass, if any, on the device); `None` once
    /// the run is complete.
    pub fn next_eval(&mut self) -> Result<Option<DeviceEvalRequest>, KernelError> {
        if self.pending.is_none() {
            match self.solver.plan(&self.grid) {
                None => return Ok(None),
                Some(e) => {
                    self.pending = Some(e);
                    self.pre_done = false;
                }
            }
        }
        let e = self.pending.expect("pending eval");
        if !self.pre_done {
            if let Some(pre) = e.pre {
                self.exec::<crate::target::X0>(&pre, None, Extras::default())?;
            }
            self.pre_done = true;
        }
        Ok(Some(DeviceEvalRequest {
            x: self.buf(e.input).clone(),
            level: e.level,
            step: e.step,
            index: self.evals,
        }))
    }

    /// Feeds the model's x0-prediction (`batch · per` values on the device) for the pending
    /// evaluation and runs its update: one launch. Returns `Some(i)` when this finished step
    /// `i`. Errors: no pending evaluation, `d` shorter than `batch · per` values.
    pub fn feed_x0(&mut self, d: &Handle) -> Result<Option<usize>, KernelError> {
        self.feed_with::<crate::target::X0>(d, 1)
    }

    /// Feeds the raw output of target `T` (ε, v, x0, RF velocity), converted to x0 at the
    /// evaluated level inside the same launch. Errors: an ε-prediction at pure noise
    /// (λ = −∞, where it holds no x0), named with the level, as on the host.
    pub fn feed<T: CubeTarget + Target + Default>(
        &mut self,
        pred: &Handle,
    ) -> Result<Option<usize>, KernelError> {
        self.feed_with::<T>(pred, 2)
    }

    /// The guidance context of the pending evaluation (as
    /// [`Run::guidance_ctx`](crate::solver::Run::guidance_ctx)).
    pub fn guidance_ctx(&self) -> Result<crate::guidance::StepCtx, KernelError> {
        let e = self.pending.ok_or_else(|| GdfError::Invalid {
            message: "no pending evaluation (call next_eval first)".into(),
        })?;
        Ok(crate::guidance::StepCtx::new(e.step, self.grid.steps())?.at(e.level.lam)?)
    }

    /// Feeds the conditional output `cond` and the unconditional (or weaker model's) output
    /// `uncond` of target `T` through a guider (see [`crate::guidance`]), as
    /// [`Run::feed_guided`](crate::solver::Run::feed_guided) does on the host. A linear guider
    /// at this evaluation (CFG without rescale, autoguidance, any window or interval) folds into
    /// the update's single launch; a non-linear one (a rescale, APG, CFG-Zero*, tangential
    /// CFG) adds one read-only reduction launch for its per-sample sums, whose coefficients
    /// the host works out (`guidance::coefficient_table`) for the same single update launch.
    /// APG's momentum lives in a device buffer. `uncond` may be `None` where the guider does
    /// not need it at this evaluation. `layout` describes a sample as for the host.
    ///
    /// Errors: as [`Guidance::guide`](crate::guidance::Guidance::guide), and `cond` or
    /// `uncond` shorter than `batch · per` values; norm groups other than one per sample are
    /// refused with [`KernelError::HostOnly`].
    pub fn feed_guided<G: crate::guidance::Guidance, T: CubeTarget + Target + Default>(
        &mut self,
        guider: &G,
        layout: &crate::guidance::Layout,
        cond: &Handle,
        uncond: Option<&Handle>,
    ) -> Result<Option<usize>, KernelError> {
        use crate::guidance::{coefficient_table, Moments, Space};
        let n = self.batch * self.per;
        crate::error::check_len("layout", n, layout.len())?;
        // per-sample norms and moments: the layout's samples must be the run's
        crate::error::check_len("layout batch", self.batch, layout.batch())?;
        check_buffers::<F>(&[
            ("cond (bytes)", Some(cond), n),
            ("uncond (bytes)", uncond, n),
        ])?;
        guider.validate()?;
        let ctx = self.guidance_ctx()?;
        let missing_u = |ctx: &crate::guidance::StepCtx| -> KernelError {
            crate::guidance::missing_uncond(guider.name(), ctx.step).into()
        };
        let cfgpp = guider.renoises_with_uncond(&ctx)?;
        let feed = if let Some([alpha, beta]) = guider.linear(&ctx)? {
            let [alpha, beta] = if cfgpp {
                let e = self
                    .pending
                    .expect("a pending evaluation (checked by guidance_ctx)");
                crate::solver::cfgpp_coefficients(&self.solver, &self.grid, &e, alpha, beta)?
            } else {
                [alpha, beta]
            };
            let u = match (uncond, beta == 0.0) {
                (Some(u), _) => u.clone(),
                // u is unused (β = 0); bind c in its place so every read stays in bounds.
                (None, true) => cond.clone(),
                (None, false) => return Err(missing_u(&ctx)),
            };
            GuideFeed::Linear { u, alpha, beta }
        } else {
            let plan = guider.plan(&ctx, layout)?;
            if plan.cells.per_sample != 1 || plan.cells.index.is_some() || plan.cells.across_batch {
                return Err(KernelError::HostOnly {
                    component: "a guider whose norms group other than one sample (norm_dims) \
                                on the device",
                });
            }
            let u = match (plan.reads_uncond, uncond) {
                (false, _) => None,
                (true, Some(u)) => Some(u.clone()),
                (true, None) => return Err(missing_u(&ctx)),
            };
            // APG's momentum: restarts at step 0 after another step (a new run), like the host.
            if plan.momentum.is_some() || self.mom.is_some() {
                let restart = ctx.step == 0 && self.mom_step != Some(0);
                if restart || self.mom.is_none() {
                    self.mom = Some(upload(self.client, &vec![F::new(0.0); n]));
                }
                self.mom_step = Some(ctx.step);
            }
            let flags = GuideFlags {
                x0_space: guider.space() == Space::X0,
                has_u: u.is_some(),
                momentum: plan.momentum.is_some(),
            };
            let u = u.unwrap_or_else(|| cond.clone());
            let moments = if plan.reduce {
                let e = self
                    .pending
                    .expect("a pending evaluation (checked by guidance_ctx)");
                let units = 256usize;
                let partials = self.client.empty(self.batch * units * 14 * 4);
                let xin = self.buf(e.input).clone();
                let mom = self.mom.clone().unwrap_or_else(|| self.dummy.clone());
                let arg = |h: &Handle, len: usize| {
                    // SAFETY: each handle holds at least `len` values (see below).
                    unsafe { BufferArg::from_raw_parts(h.clone(), len) }
                };
                let w = vector_width::<F>(self.client, self.per, &[&xin, cond, &u, &mom]);
                let nv = n / w;
                Launches::record();
                // SAFETY: x, c, u hold n values (nv vectors), the momentum n (or one vector,
                // unread), the partials batch·256·14; the kernel reads and writes only those.
                unsafe {
                    guide_reduce_kernel::launch_unchecked::<F, T>(
                        self.client,
                        CubeCount::Static(1, self.batch as u32, 1),
                        CubeDim::new_1d(units as u32),
                        w,
                        arg(&xin, nv),
                        arg(cond, nv),
                        arg(&u, nv),
                        arg(&mom, if flags.momentum { nv } else { 1 }),
                        arg(&partials, self.batch * units * 14),
                        self.per as u32,
                        e.level.a as f32,
                        e.level.b as f32,
                        flags,
                    )
                };
                let parts: Vec<f32> = super::read_vec(self.client, partials);
                parts
                    .chunks(units * 14)
                    .map(|sample| {
                        let mut t = [0f64; 14];
                        for unit in sample.chunks(14) {
                            for (t, &v) in t.iter_mut().zip(unit) {
                                *t += v as f64;
                            }
                        }
                        Moments {
                            n: self.per as f64,
                            sum: [t[0], t[1], t[2], t[3]],
                            dot: [
                                [t[4], t[5], t[6], t[7]],
                                [t[5], t[8], t[9], t[10]],
                                [t[6], t[9], t[11], t[12]],
                                [t[7], t[10], t[12], t[13]],
                            ],
                        }
                    })
                    .collect()
            } else {
                vec![Moments::default(); self.batch]
            };
            let table = coefficient_table(guider, &ctx, &plan, layout, &moments)?;
            let coef: Vec<F> = table
                .iter()
                .flat_map(|c| c.iter().map(|&v| F::new(v as f32)))
                .collect();
            GuideFeed::Full {
                u,
                coef: upload(self.client, &coef),
                flags,
                beta_m: plan.momentum.unwrap_or(0.0),
            }
        };
        let mode = match feed {
            GuideFeed::Linear { .. } => 3,
            GuideFeed::Full { .. } => 4,
        };
        self.guided = Some(feed);
        let r = self.feed_with::<T>(cond, mode);
        self.guided = None;
        r
    }

    fn feed_with<T: CubeTarget + Target + Default>(
        &mut self,
        pred: &Handle,
        mode: u32,
    ) -> Result<Option<usize>, KernelError> {
        let e = match (self.pending, self.pre_done) {
            (Some(e), true) => e,
            _ => {
                return Err(GdfError::Invalid {
                    message: "feed called without a pending evaluation (call next_eval first)"
                        .into(),
                }
                .into())
            }
        };
        crate::target::check_converts(&T::default(), e.level.a, e.level.b, e.level.lam)?;
        check_buffers::<F>(&[("prediction (bytes)", Some(pred), self.batch * self.per)])?;
        // The new prediction takes the oldest history slot (newest first afterwards), or
        // overwrites the newest.
        if !e.post.replace_newest {
            let depth = self.solver.history().clamp(1, 4);
            self.hist[..depth].rotate_right(1);
        }
        let stage_w = if self.threshold.is_none() || !self.solver.plain_first_order() {
            1.0
        } else {
            crate::solver::cfgpp_coefficients(&self.solver, &self.grid, &e, 1.0, 0.0)?[0]
        };
        let mut extras = Extras {
            stage_w,
            round: if e.completes_step { self.round } else { 0 },
            ..Extras::default()
        };
        if let (Some(_), true) = (&self.inpaint, e.completes_step) {
            let steps = self.grid.steps();
            let l = self.grid.level((e.step + 1).min(steps));
            extras.blend = Some(if e.step + 1 >= steps {
                (1.0, 0.0)
            } else {
                (l.a, l.b)
            });
        }
        match self.threshold {
            Threshold::None => {}
            Threshold::Clip { .. } => extras.stage = 1,
            Threshold::Dynamic { ratio, max_value } => {
                // The raw x0-predictions into the new history entry, then the scales.
                self.exec::<T>(
                    &Pass::default(),
                    Some((e.input, e.level, pred, mode)),
                    Extras::default(),
                )?;
                let scales = self.scales.clone().expect("scales (set_threshold)");
                let n = self.batch * self.per;
                let (klo, khi, w) =
                    crate::pipeline::threshold::quantile_rank::<f32>(self.per, ratio);
                Launches::record();
                // SAFETY: the history entry holds n values, the scales batch; cube s reads
                // sample s only.
                unsafe {
                    quantile_kernel::launch_unchecked::<F>(
                        self.client,
                        CubeCount::Static(1, self.batch as u32, 1),
                        CubeDim::new_1d(256),
                        BufferArg::from_raw_parts(self.hist[0].clone(), n),
                        BufferArg::from_raw_parts(scales, self.batch),
                        self.per as u32,
                        klo as u32,
                        khi as u32,
                        w,
                        max_value as f32,
                    )
                };
                extras.stage = 2;
                self.exec::<T>(&e.post, Some((e.input, e.level, pred, 5)), extras)?;
                return self.finish(e);
            }
        }
        self.exec::<T>(&e.post, Some((e.input, e.level, pred, mode)), extras)?;
        self.finish(e)
    }

    fn finish(&mut self, e: Eval) -> Result<Option<usize>, KernelError> {
        self.pending = None;
        self.evals += 1;
        if e.completes_step {
            self.steps_done = e.step + 1;
            Ok(Some(e.step))
        } else {
            Ok(None)
        }
    }

    fn exec<T: CubeTarget>(
        &mut self,
        pass: &Pass,
        fed: Option<(Buf, Level, &Handle, u32)>,
        extras: Extras,
    ) -> Result<(), KernelError> {
        let n = self.batch * self.per;
        let mut used = [0u32; 2];
        let mut nused = 0;
        // A Brownian draw's combination of counter normals (computed on the host, summed by
        // `brownian_kernel`).
        let mut terms: [Vec<Term>; 2] = Default::default();
        // PyTorch-generator draws (every draw advances the generator; the used ones are kept).
        let mut torch: Vec<F> = Vec::new();
        for (d, span) in pass.draws().iter().zip(pass.spans()) {
            let k = self.draws;
            self.draws += 1;
            if let DeviceNoise::Torch(t) = &mut self.noise {
                let v = t.next_draw();
                if *d == Draw::Use {
                    torch.extend(v.iter().map(|&x| F::new(x as f32)));
                }
            }
            if let DeviceNoise::Brownian(b) = &self.noise {
                let info = DrawInfo {
                    draw: k,
                    step: self.pending.map_or(self.steps_done, |e| e.step),
                    used: *d == Draw::Use,
                    span: *span,
                };
                if let Some(t) = b.draw_terms(info)? {
                    terms[nused] = t;
                }
            }
            if *d == Draw::Use {
                used[nused] = k as u32;
                nused += 1;
            }
        }
        if pass.rows().is_empty() && fed.is_none() {
            return Ok(());
        }
        let mut coefs = [0f64; 2 * SLOTS];
        let mut read = 0u32;
        let mut written = 0u32;
        let mut dst = [0u32; 2];
        for (r, row) in pass.rows().iter().enumerate() {
            for &(src, c) in row.terms() {
                let k = match src {
                    Src::Buf(b) => buf_slot(b),
                    Src::D(j) => 3 + j as usize,
                    Src::Noise(j) => 7 + j as usize,
                };
                coefs[r * SLOTS + k] += c;
                if k < 7 && written & (1 << k) == 0 {
                    read |= 1 << k;
                }
            }
            dst[r] = match row.dst {
                Dst::Buf(b) => buf_slot(b) as u32,
                Dst::D0 => 3,
            };
            written |= 1 << dst[r];
        }
        check_finite(
            "solver coefficient (the grid's steps are too extreme for this solver)",
            &coefs,
        )?;
        let (fed_mode, in_slot, level, fed_h) = match fed {
            Some((b, lv, h, mode)) => {
                let s = buf_slot(b) as u32;
                read |= 1 << s;
                read &= !(1 << 3); // D0 is the fed prediction, not a read
                (mode, s, lv, h.clone())
            }
            None => (
                0,
                0,
                Level {
                    a: 1.0,
                    b: 0.0,
                    lam: f64::INFINITY,
                },
                self.dummy.clone(),
            ),
        };
        let (seed, rec, recorded) = match (&self.noise, nused) {
            (_, 0) => (0u64, self.dummy.clone(), false),
            (DeviceNoise::Counter(seed), _) => (*seed, self.dummy.clone(), false),
            (DeviceNoise::Brownian(b), _) => {
                // Each used draw summed into its slot of the scratch buffer, read by the pass
                // as recorded draws 0 and 1.
                let (seed, first) = (b.seed, b.first_sample);
                let h = self.brownian_draws(seed, first, &terms[..nused])?;
                used = [0, 1];
                (0, h, true)
            }
            (DeviceNoise::Torch(_), _) => {
                // The used draws, uploaded as recorded draws 0 and 1.
                torch.resize(2 * n, F::new(0.0));
                used = [0, 1];
                (0, upload(self.client, &torch), true)
            }
            (DeviceNoise::Recorded(h, draws), _) => {
                if (used[nused - 1] as usize) >= *draws {
                    return Err(GdfError::Invalid {
                        message: format!(
                            "recorded noise holds {draws} draws; the solver asked for draw {}",
                            used[nused - 1] + 1
                        ),
                    }
                    .into());
                }
                (0, h.clone(), true)
            }
            (DeviceNoise::None, _) => {
                return Err(GdfError::Invalid {
                    message: format!(
                        "{} draws noise, but the run has none: give it DeviceNoise::Counter, \
                         DeviceNoise::Brownian, DeviceNoise::Torch or DeviceNoise::Recorded",
                        self.solver.name()
                    ),
                }
                .into())
            }
        };
        let d = self.dummy.clone();
        let (fed_u, alpha, beta, gcoef, gflags, beta_m) = match &self.guided {
            Some(GuideFeed::Linear { u, alpha, beta }) => (
                u.clone(),
                *alpha,
                *beta,
                d.clone(),
                GuideFlags::default(),
                0.0,
            ),
            Some(GuideFeed::Full {
                u,
                coef,
                flags,
                beta_m,
            }) => (u.clone(), 1.0, 0.0, coef.clone(), *flags, *beta_m),
            None => (d.clone(), 1.0, 0.0, d.clone(), GuideFlags::default(), 0.0),
        };
        let mom = match (&self.mom, gflags.momentum) {
            (Some(m), true) => m.clone(),
            _ => d.clone(),
        };
        let coefs: Vec<F> = coefs.iter().map(|&c| F::new(c as f32)).collect();
        let coefs = upload(self.client, &coefs);
        let flags = PassFlags {
            read,
            nrows: pass.rows().len() as u32,
            dst,
            fed: fed_mode,
            in_slot,
            nused: nused as u32,
            recorded,
            guide: gflags,
            stage: extras.stage,
            blend: extras.blend.is_some(),
            round: extras.round,
        };
        let scales = match (extras.stage, &self.scales) {
            (2, Some(h)) => h.clone(),
            _ => d.clone(),
        };
        let inp = match (extras.blend, &self.inpaint) {
            (Some(_), Some(h)) => h.clone(),
            _ => d.clone(),
        };
        let (blend_a, blend_b) = extras.blend.unwrap_or((1.0, 0.0));
        let clip = match self.threshold {
            Threshold::Clip { range } => range,
            _ => 1.0,
        };
        let vectors = [
            &self.x,
            &self.stage,
            &self.aux,
            &self.hist[0],
            &self.hist[1],
            &self.hist[2],
            &self.hist[3],
            &fed_h,
            &fed_u,
            &rec,
            &mom,
            &inp,
        ];
        let w = vector_width::<F>(self.client, self.per, &vectors);
        let (count, dim) = launch_dims(self.client, n / w);
        // SAFETY: each handle holds at least `len` vectors of `w` values of `F` (see the
        // launch below; the placeholder holds one vector).
        let arg = |h: &Handle, len: usize| unsafe { BufferArg::from_raw_parts(h.clone(), len) };
        let rec_len = match &self.noise {
            DeviceNoise::Recorded(_, draws) if recorded => draws * n / w,
            DeviceNoise::Brownian(_) | DeviceNoise::Torch(_) if recorded => 2 * n / w,
            _ => 1,
        };
        let nv = n / w;
        Launches::record();
        // SAFETY: every buffer holds the length given (`nv` vectors, or 1 for the unused ones the flags
        // never touch); the kernel guards its index against `nv`.
        unsafe {
            pass_kernel::launch_unchecked::<F, T>(
                self.client,
                count,
                dim,
                w,
                arg(&self.x, nv),
                arg(&self.stage, nv),
                arg(&self.aux, nv),
                arg(&self.hist[0], nv),
                arg(&self.hist[1], nv),
                arg(&self.hist[2], nv),
                arg(&self.hist[3], nv),
                arg(&fed_h, if fed_mode > 0 { nv } else { 1 }),
                arg(&fed_u, if fed_mode >= 3 { nv } else { 1 }),
                arg(&rec, rec_len.max(1)),
                arg(&coefs, 2 * SLOTS),
                arg(&mom, if gflags.momentum { nv } else { 1 }),
                arg(&gcoef, if fed_mode == 4 { 4 * self.batch } else { 1 }),
                arg(&scales, if extras.stage == 2 { self.batch } else { 1 }),
                arg(&inp, if extras.blend.is_some() { 3 * nv } else { 1 }),
                PassScalarsLaunch::new(
                    n as u32,
                    self.per as u32,
                    seed as u32,
                    (seed >> 32) as u32,
                    Purpose::Sampler as u32,
                    used[0],
                    used[1],
                    level.a as f32,
                    level.b as f32,
                    alpha as f32,
                    beta as f32,
                    beta_m as f32,
                    clip as f32,
                    extras.stage_w as f32,
                    blend_a as f32,
                    blend_b as f32,
                ),
                flags,
            )
        };
        Ok(())
    }
}

impl<F: Float + CubeElement, S: Solver> DeviceRun<'_, F, S> {
    /// Sums each Brownian draw's counter normals into slot `k` (`[k·n, (k+1)·n)`) of the
    /// scratch buffer (one launch).
    fn brownian_draws(
        &mut self,
        seed: u64,
        first_sample: u32,
        draws: &[Vec<Term>],
    ) -> Result<Handle, KernelError> {
        let n = self.batch * self.per;
        let scratch = self
            .brownian
            .get_or_insert_with(|| self.client.empty(2 * n * core::mem::size_of::<F>()))
            .clone();
        let mut keys = Vec::new();
        let mut coefs = Vec::new();
        for t in draws.iter().flatten() {
            keys.extend([t.0 as u32, t.1]);
            coefs.push(t.2 as f32);
        }
        check_finite("Brownian noise coefficient", &coefs)?;
        let counts = [
            draws.first().map_or(0, Vec::len),
            draws.get(1).map_or(0, Vec::len),
        ];
        let (count, dim) = launch_dims(self.client, n);
        let (keys_h, coefs_h) = (upload(self.client, &keys), upload(self.client, &coefs));
        Launches::record();
        // SAFETY: `keys` holds two words per term, `coefs` one value per term (at least one
        // each, `upload` never binds an empty buffer), the scratch buffer `2n` values; the
        // kernel guards its index against `n`.
        unsafe {
            brownian_kernel::launch_unchecked::<F>(
                self.client,
                count,
                dim,
                BufferArg::from_raw_parts(keys_h, keys.len().max(1)),
                BufferArg::from_raw_parts(coefs_h, coefs.len().max(1)),
                BufferArg::from_raw_parts(scratch.clone(), 2 * n),
                n as u32,
                self.per as u32,
                first_sample,
                seed as u32,
                (seed >> 32) as u32,
                counts[0] as u32,
                counts[1] as u32,
            )
        };
        Ok(scratch)
    }
}

/// Brownian draws: element `i` of slot `k` is `Σ_j coef_j·z_j` over the slot's terms, `z_j`
/// the counter normal `(seed, purpose_j, sample, counter_j)` of the element (as the host's
/// [`BrownianNoise`] fill, in the same order).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn brownian_kernel<F: Float>(
    keys: &[u32],
    coefs: &[f32],
    out: &mut [F],
    n: u32,
    per: u32,
    first: u32,
    seed_lo: u32,
    seed_hi: u32,
    n0: u32,
    n1: u32,
) {
    let i = ABSOLUTE_POS as u32;
    if i < n {
        let s = first + i / per;
        let off = i % per;
        out[i as usize] = F::cast_from(term_sum(keys, coefs, 0u32, n0, seed_lo, seed_hi, s, off));
        if n1 > 0u32 {
            let v = term_sum(keys, coefs, n0, n0 + n1, seed_lo, seed_hi, s, off);
            out[(n + i) as usize] = F::cast_from(v);
        }
    }
}

/// `Σ coef_j·z_j` over terms `j0..j1`, in order, `z_j` element `off` of the counter stream
/// `(seed, keys[2j], s, keys[2j + 1])`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn term_sum(
    keys: &[u32],
    coefs: &[f32],
    j0: u32,
    j1: u32,
    seed_lo: u32,
    seed_hi: u32,
    s: u32,
    off: u32,
) -> f32 {
    let mut acc = 0.0f32;
    let mut j = j0;
    while j < j1 {
        let (p, k) = (keys[(2 * j) as usize], keys[(2 * j + 1) as usize]);
        acc += coefs[j as usize] * prim::normal(seed_lo, seed_hi, p, s, k, off);
        j += 1u32;
    }
    acc
}

fn buf_slot(b: Buf) -> usize {
    match b {
        Buf::X => 0,
        Buf::Stage => 1,
        Buf::Aux => 2,
    }
}
