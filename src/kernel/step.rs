//! The sampling step and the device-side sampling driver.
//!
//! A guided step with rescale is **two launches**: `rescale_reduce_kernel` (the mean and
//! the squared deviations of the conditional and the guided prediction, per cube, merged
//! with Chan's formula) and the fused step (each cube first merges the partials it needs,
//! then: guidance combine, rescale, undiffuse, sampler step with in-kernel noise). Without
//! rescale (or without guidance) a step is **one launch**. (The hidden
//! [`super::Tuning::merge_once`] makes a rescaled step three: the merge gets a launch of its
//! own, `rescale_merge_kernel`, and the fused pass reads the stds it wrote.)

use cubecl::prelude::*;

#[allow(unused_imports)]
use crate::konst::Const;
use cubecl::server::Handle;

use super::component::*;
use super::framework::{fill_batch_noise, framework_state, section};
use super::prim;
use super::{
    busy_units, check_buffers, check_bytes, check_index_range, units_per_sample, upload,
    upload_state, vector_width, KernelError, Launches, Loads, CUBE,
};
use crate::error::{check_finite, per_sample, GdfError};
use crate::framework::Gdf;
use crate::guide::formula as guide;
use crate::konst::Param;
use crate::loss_weight::LossWeight;
use crate::noise::Purpose;
use crate::noise_cond::NoiseCond;
use crate::sample::{sampling_grid, Cfg, Rescale};
use crate::sampler::Sampler;
use crate::scaler::Scaler;
use crate::schedule::Schedule;
use crate::target::Target;

/// Partials per sample are capped so the fused pass merges at most this many per cube.
/// (1024 for a whole-batch std: at 16 samples, 64 cubes of 256 units per sample, so the
/// reduction fills a large GPU; the step's cubes merge them at four per unit.)
const MAX_PARTIALS: usize = 1024;

/// Chan's merge of two `(count, mean_c, m2_c, mean_p, m2_p)` summaries.
#[cube]
fn merge(a: (f32, f32, f32, f32, f32), b: (f32, f32, f32, f32, f32)) -> (f32, f32, f32, f32, f32) {
    let (na, mca, m2ca, mpa, m2pa) = a;
    let (nb, mcb, m2cb, mpb, m2pb) = b;
    let n = na + nb;
    let w = select(n > 0.0f32, nb / n, 0.0f32);
    let cross = select(n > 0.0f32, na * nb / n, 0.0f32);
    let dc = mcb - mca;
    let dp = mpb - mpa;
    (
        n,
        mca + dc * w,
        m2ca + m2cb + dc * dc * cross,
        mpa + dp * w,
        m2pa + m2pb + dp * dp * cross,
    )
}

/// One level of the shared-memory tree: unit `u < half` merges `u + half` into `u`.
#[cube]
fn tree_level(
    sn: &mut [f32],
    smc: &mut [f32],
    sm2c: &mut [f32],
    smp: &mut [f32],
    sm2p: &mut [f32],
    #[comptime] half: usize,
) {
    let u = UNIT_POS as usize;
    if u < half {
        let a0 = sn[u];
        let a1 = smc[u];
        let a2 = sm2c[u];
        let a3 = smp[u];
        let a4 = sm2p[u];
        let b0 = sn[u + half];
        let b1 = smc[u + half];
        let b2 = sm2c[u + half];
        let b3 = smp[u + half];
        let b4 = sm2p[u + half];
        let (n, mc, m2c, mp, m2p) = merge((a0, a1, a2, a3, a4), (b0, b1, b2, b3, b4));
        sn[u] = n;
        smc[u] = mc;
        sm2c[u] = m2c;
        smp[u] = mp;
        sm2p[u] = m2p;
    }
    sync_cube();
}

/// Tree-merges the per-unit summaries in shared memory; every unit gets the cube's total.
#[cube]
fn cube_merge(s: (f32, f32, f32, f32, f32)) -> (f32, f32, f32, f32, f32) {
    let mut sn = Shared::<[f32]>::new_slice(256usize);
    let mut smc = Shared::<[f32]>::new_slice(256usize);
    let mut sm2c = Shared::<[f32]>::new_slice(256usize);
    let mut smp = Shared::<[f32]>::new_slice(256usize);
    let mut sm2p = Shared::<[f32]>::new_slice(256usize);
    let u = UNIT_POS as usize;
    let (n, mc, m2c, mp, m2p) = s;
    sn[u] = n;
    smc[u] = mc;
    sm2c[u] = m2c;
    smp[u] = mp;
    sm2p[u] = m2p;
    sync_cube();
    tree_level(&mut sn, &mut smc, &mut sm2c, &mut smp, &mut sm2p, 128usize);
    tree_level(&mut sn, &mut smc, &mut sm2c, &mut smp, &mut sm2p, 64usize);
    tree_level(&mut sn, &mut smc, &mut sm2c, &mut smp, &mut sm2p, 32usize);
    tree_level(&mut sn, &mut smc, &mut sm2c, &mut smp, &mut sm2p, 16usize);
    tree_level(&mut sn, &mut smc, &mut sm2c, &mut smp, &mut sm2p, 8usize);
    tree_level(&mut sn, &mut smc, &mut sm2c, &mut smp, &mut sm2p, 4usize);
    tree_level(&mut sn, &mut smc, &mut sm2c, &mut smp, &mut sm2p, 2usize);
    tree_level(&mut sn, &mut smc, &mut sm2c, &mut smp, &mut sm2p, 1usize);
    let t0 = sn[0];
    let t1 = smc[0];
    let t2 = sm2c[0];
    let t3 = smp[0];
    let t4 = sm2p[0];
    sync_cube();
    (t0, t1, t2, t3, t4)
}

/// The conditional prediction `p_c` and the guided prediction `p_u + g·(p_c − p_u)` of one
/// element, in f32.
#[cube]
fn cond_and_guided<F: Float>(pc: F, pu: F, g: f32) -> (f32, f32) {
    let pc = f32::cast_from(pc);
    let pu = f32::cast_from(pu);
    (pc, guide::cube::cfg::<f32>(pc, pu, g))
}

/// The sums of the deviations `(Σ dc, Σ dc², Σ dp, Σ dp²)` of one vector of `p_c` and `p_u`
/// from `(kc, kp)` (`dp` of the guided prediction), added to `s` lane by lane.
#[cube]
fn deviation_sums<F: Float, W: Size>(
    vc: Vector<F, W>,
    vu: Vector<F, W>,
    g: f32,
    kc: f32,
    kp: f32,
    s: (f32, f32, f32, f32),
) -> (f32, f32, f32, f32) {
    let (mut sc, mut s2c, mut sp, mut s2p) = s;
    #[unroll]
    for k in 0..W::value() {
        let (pc, p) = cond_and_guided::<F>(vc.extract(k), vu.extract(k), g);
        let dc = pc - kc;
        let dp = p - kp;
        sc += dc;
        s2c += dc * dc;
        sp += dp;
        s2p += dp * dp;
    }
    (sc, s2c, sp, s2p)
}

/// Pass 1 of a rescaled guided step, over vectors of `W` values (`W` dividing `per`). Cube
/// `(c, b)` summarises the vectors `c·CUBE + u + k·chunks·CUBE` of sample `b`; unit 0
/// writes the summary to `partials[5·(b·chunks + c) ..]`. `nv` is the vectors of one half
/// of the model output `[p_c; p_u]`, `per` the values per sample.
///
/// A unit sums its elements' deviations from its first element (plain sums: no division in
/// the loop, so loads of successive vectors overlap), then turns them into a
/// `(count, mean, m2)` summary for Chan's merge. It loads `at_once` vectors (1, 2 or 4) per
/// loop turn ([`super::Tuning::reduce_vectors`]).
#[cube(launch_unchecked)]
fn rescale_reduce_kernel<F: Float, W: Size>(
    out: &[Vector<F, W>],
    partials: &mut [f32],
    nv: u32,
    per: u32,
    g: f32,
    #[comptime] at_once: u32,
) {
    let w = W::value();
    let pv = per / u32::cast_from(w);
    let chunks = CUBE_COUNT_X;
    let b = CUBE_POS_Y;
    let stride = chunks * CUBE_DIM_X;
    let mut j = CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X;
    let mut kc = 0.0f32;
    let mut kp = 0.0f32;
    if j < pv {
        let i = (b * pv + j) as usize;
        let (pc, p) = cond_and_guided::<F>(
            out[i].extract(0usize),
            out[nv as usize + i].extract(0usize),
            g,
        );
        kc = pc;
        kp = p;
    }
    let mut cnt = 0.0f32;
    let mut sc = 0.0f32;
    let mut s2c = 0.0f32;
    let mut sp = 0.0f32;
    let mut s2p = 0.0f32;
    if comptime!(at_once >= 2) {
        // The loads of `at_once` vectors (twice that with the unconditional half) issued
        // together; the sums take them in the same order as the loop below (the same
        // arithmetic).
        let span = stride * comptime!(at_once);
        while j + span - stride < pv {
            let i = (b * pv + j) as usize;
            let s1 = stride as usize;
            let vc = out[i];
            let vu = out[nv as usize + i];
            let vc2 = out[i + s1];
            let vu2 = out[nv as usize + i + s1];
            let mut vc3 = vc;
            let mut vu3 = vu;
            let mut vc4 = vc;
            let mut vu4 = vu;
            if comptime!(at_once == 4) {
                vc3 = out[i + 2 * s1];
                vu3 = out[nv as usize + i + 2 * s1];
                vc4 = out[i + 3 * s1];
                vu4 = out[nv as usize + i + 3 * s1];
            }
            let mut acc = deviation_sums::<F, W>(vc, vu, g, kc, kp, (sc, s2c, sp, s2p));
            acc = deviation_sums::<F, W>(vc2, vu2, g, kc, kp, acc);
            if comptime!(at_once == 4) {
                acc = deviation_sums::<F, W>(vc3, vu3, g, kc, kp, acc);
                acc = deviation_sums::<F, W>(vc4, vu4, g, kc, kp, acc);
            }
            let (a0, a1, a2, a3) = acc;
            sc = a0;
            s2c = a1;
            sp = a2;
            s2p = a3;
            cnt += f32::cast_from(comptime!(at_once as usize) * w);
            j += span;
        }
    }
    while j < pv {
        let i = (b * pv + j) as usize;
        let (a0, a1, a2, a3) =
            deviation_sums::<F, W>(out[i], out[nv as usize + i], g, kc, kp, (sc, s2c, sp, s2p));
        sc = a0;
        s2c = a1;
        sp = a2;
        s2p = a3;
        cnt += f32::cast_from(w);
        j += stride;
    }
    let inv = select(cnt > 0.0f32, 1.0f32 / cnt, 0.0f32);
    let mc = kc + sc * inv;
    let m2c = f32::max(s2c - sc * sc * inv, 0.0f32);
    let mp = kp + sp * inv;
    let m2p = f32::max(s2p - sp * sp * inv, 0.0f32);
    let (tn, tmc, tm2c, tmp, tm2p) = cube_merge((cnt, mc, m2c, mp, m2p));
    if UNIT_POS == 0 {
        let o = (5 * (b * chunks + CUBE_POS_X)) as usize;
        partials[o] = tn;
        partials[o + 1] = tmc;
        partials[o + 2] = tm2c;
        partials[o + 3] = tmp;
        partials[o + 4] = tm2p;
    }
}

/// The partials `lo..hi` sample `b`'s std is merged from: all of them for the whole-batch
/// std (`rescale` 1), sample `b`'s `chunks` for its own (`rescale` 2).
#[cube]
fn partials_of(b: u32, chunks: u32, batch: u32, #[comptime] rescale: u8) -> (u32, u32) {
    let mut lo = 0u32;
    let mut hi = chunks * batch;
    if comptime!(rescale == 2) {
        lo = b * chunks;
        hi = lo + chunks;
    }
    (lo, hi)
}

/// The unbiased stds `(std_c, std_p)` of the conditional and the guided prediction from the
/// partials `lo..hi`: each unit merges every `CUBE_DIM_X`-th from `lo + UNIT_POS`, then the
/// cube's tree merges the units' (every unit gets the result).
#[cube]
fn merged_stds(partials: &mut [f32], lo: u32, hi: u32) -> (f32, f32) {
    let mut cnt = 0.0f32;
    let mut mc = 0.0f32;
    let mut m2c = 0.0f32;
    let mut mp = 0.0f32;
    let mut m2p = 0.0f32;
    let mut q = lo + UNIT_POS;
    while q < hi {
        let o = (5 * q) as usize;
        let q0 = partials[o];
        let q1 = partials[o + 1];
        let q2 = partials[o + 2];
        let q3 = partials[o + 3];
        let q4 = partials[o + 4];
        let (n1, mc1, m2c1, mp1, m2p1) = merge((cnt, mc, m2c, mp, m2p), (q0, q1, q2, q3, q4));
        cnt = n1;
        mc = mc1;
        m2c = m2c1;
        mp = mp1;
        m2p = m2p1;
        q += CUBE_DIM_X;
    }
    let (cnt, _mc, m2c, _mp, m2p) = cube_merge((cnt, mc, m2c, mp, m2p));
    let std_c = f32::sqrt(f32::max(m2c / (cnt - 1.0f32), 0.0f32));
    let std_p = f32::sqrt(f32::max(m2p / (cnt - 1.0f32), 0.0f32));
    (std_c, std_p)
}

/// Where the merged `(std_c, std_p)` of std `g` (a sample's, or `0` for the whole batch's)
/// lie in the rescale scratch: after the `5·batch·chunks` values of the partials
/// ([`partials_len`]).
#[cube]
fn stds_at(chunks: u32, batch: u32, g: u32) -> usize {
    (5 * chunks * batch + 2 * g) as usize
}

/// The rescaled step's merge done once ([`super::Tuning::merge_once`]): cube `(0, b)` merges
/// the partials of sample `b` (`rescale` 2) or all of them (`rescale` 1, one cube) with
/// [`merged_stds()`], as every cube of the fused pass otherwise does, and unit 0 writes
/// `(std_c, std_p)` to `partials[5·batch·chunks + 2·b ..]`, after the partials (no cube
/// reads what another writes).
#[cube(launch_unchecked)]
fn rescale_merge_kernel(partials: &mut [f32], chunks: u32, batch: u32, #[comptime] rescale: u8) {
    let b = CUBE_POS_Y;
    let (lo, hi) = partials_of(b, chunks, batch, rescale);
    let (std_c, std_p) = merged_stds(partials, lo, hi);
    if UNIT_POS == 0 {
        let o = stds_at(chunks, batch, b);
        partials[o] = std_c;
        partials[o + 1] = std_p;
    }
}

/// Per-call scalars of the fused step.
#[derive(CubeType, CubeLaunch, Clone, Copy, Debug)]
pub struct StepScalars {
    /// Elements per sample.
    pub per: u32,
    /// `batch · per`.
    pub n: u32,
    /// Partials per sample (pass 1's chunks).
    pub chunks: u32,
    /// Samples.
    pub batch: u32,
    /// Low word of the seed.
    pub seed_lo: u32,
    /// High word of the seed.
    pub seed_hi: u32,
    /// Counter index of the first sample.
    pub first_sample: u32,
    /// Step index (the noise counter's step word).
    pub step: u32,
    /// logSNR the step starts from.
    pub l: f32,
    /// logSNR it goes to.
    pub l_prev: f32,
    /// Guidance scale.
    pub g: f32,
    /// Rescale strength.
    pub rho: f32,
}

/// Comptime switches of the fused step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StepFlags {
    /// The model output is `[p_c; p_u]`.
    pub guided: bool,
    /// 0 off, 1 whole-batch std, 2 per-sample std.
    pub rescale: u8,
    /// Sampler noise read from a buffer (a recorded run) instead of drawn.
    pub noise_given: bool,
    /// Write `x0`.
    pub want_x0: bool,
    /// Write the prediction used.
    pub want_pred: bool,
    /// Also write the new `x` twice into the doubled model input `[x; x]`.
    pub want_xx: bool,
    /// Where a vector's inputs are loaded ([`super::Tuning::loads`]).
    pub loads: Loads,
    /// The rescale's stds were merged once by `rescale_merge_kernel`
    /// ([`super::Tuning::merge_once`]): read them instead of merging the partials.
    pub merged: bool,
}

/// One element of the fused step: from the model output (`pc`, and `pu` when guided), `x`
/// and the noise `z`, returns `(x_new, x0, pred)`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn step_elem<F: Float, T: CubeTarget, Smp: CubeSampler>(
    pc: F,
    pu: F,
    xv: F,
    z: F,
    factor: F,
    a: F,
    bb: F,
    c: (F, F, F),
    args: &StepScalars,
    #[comptime] flags: StepFlags,
) -> (F, F, F) {
    let p = if comptime!(flags.guided) {
        let pcfg = guide::cube::cfg::<F>(pc, pu, F::cast_from(args.g));
        if comptime!(flags.rescale > 0) {
            guide::cube::rescaled::<F>(pcfg, factor, F::new(1.0) - F::cast_from(args.rho))
        } else {
            pcfg
        }
    } else {
        pc
    };
    let x0v = T::x0::<F>(xv, p, a, bb);
    let ev = T::eps::<F>(xv, p, a, bb);
    let xn = sampler_apply::<F, Smp>(c, x0v, ev, z);
    (xn, x0v, p)
}

/// Pass 2 (or the only pass): cube `(c, b)`, unit `u` handles the vectors
/// `k = c·CUBE + u + r·cubes·CUBE` (`r = 0, 1, …`) of `W` values of sample `b` (`W` dividing
/// `per`); with `W = 4` vector `k` is Philox block `k`, whose four normals are its four lanes
/// (the host's block-major layout). Without rescale there are enough cubes for
/// [`units_per_sample`] units per sample; with rescale every cube first merges the partials,
/// so fewer cubes, each striding over several vectors, cover a sample.
#[cube(launch_unchecked)]
// A comptime branch cannot be joined with a run-time condition in one `if`.
#[allow(clippy::too_many_arguments, clippy::collapsible_if)]
fn step_kernel<F: Float, W: Size, Sc: CubeScaler, T: CubeTarget, Smp: CubeSampler>(
    out: &[Vector<F, W>],
    x: &mut [Vector<F, W>],
    noise_in: &[Vector<F, W>],
    state: &[F],
    partials: &mut [f32],
    x0_out: &mut [Vector<F, W>],
    pred_out: &mut [Vector<F, W>],
    xx_out: &mut [Vector<F, W>],
    args: StepScalars,
    #[comptime] flags: StepFlags,
) {
    let w = W::value();
    let b = CUBE_POS_Y;
    let mut factor = F::new(0.0);
    if comptime!(flags.rescale > 0) {
        let (std_c, std_p) = if comptime!(flags.merged) {
            // `rescale_merge_kernel` left the stds after the partials (the whole batch's
            // first, where a per-sample std puts sample 0's).
            let mut g = 0u32;
            if comptime!(flags.rescale == 2) {
                g = b;
            }
            let o = stds_at(args.chunks, args.batch, g);
            (partials[o], partials[o + 1])
        } else {
            // Merge the partials this sample needs (all of them for the whole-batch std).
            let (lo, hi) = partials_of(b, args.chunks, args.batch, flags.rescale);
            merged_stds(partials, lo, hi)
        };
        factor =
            F::cast_from(args.rho) * (F::cast_from(std_c) / (F::cast_from(std_p) + F::new(1e-9)));
    }
    let pv = args.per / u32::cast_from(w);
    let nv = (args.n / u32::cast_from(w)) as usize;
    let (a, bb) = Sc::ab::<F>(F::cast_from(args.l), section::<F>(state, 1usize));
    let (ap, bp) = Sc::ab::<F>(F::cast_from(args.l_prev), section::<F>(state, 1usize));
    let c = Smp::coefficients::<F>(a, bb, ap, bp);
    let mut k = CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X;
    let stride = CUBE_COUNT_X * CUBE_DIM_X;
    // With `Loads::OneAhead` the unit's next vector is loaded before this one's noise.
    let mut next = (
        Vector::<F, W>::empty(),
        Vector::<F, W>::empty(),
        Vector::<F, W>::empty(),
        Vector::<F, W>::empty(),
    );
    if comptime!(flags.loads == Loads::OneAhead) {
        if k < pv {
            next = load_step_inputs::<F, W>(out, x, noise_in, (b * pv + k) as usize, nv, flags);
        }
    }
    while k < pv {
        let j0 = k * u32::cast_from(w);
        let i = (b * pv + k) as usize;
        // `(p_c, p_u, x, given noise)` of this vector, loaded where `flags.loads` says.
        let mut inputs = next;
        if comptime!(flags.loads == Loads::OneAhead) {
            let later = k + stride;
            if later < pv {
                next = load_step_inputs::<F, W>(
                    out,
                    x,
                    noise_in,
                    (b * pv + later) as usize,
                    nv,
                    flags,
                );
            }
        }
        if comptime!(flags.loads == Loads::BeforeNoise) {
            inputs = load_step_inputs::<F, W>(out, x, noise_in, i, nv, flags);
        }
        let (z0, z1, z2, z3) = prim::normals_or_zero(
            comptime!(Smp::USES_NOISE && !flags.noise_given),
            args.seed_lo,
            args.seed_hi,
            3u32,
            args.first_sample + b,
            args.step,
            j0 / 4u32,
        );
        if comptime!(flags.loads == Loads::AfterNoise) {
            inputs = load_step_inputs::<F, W>(out, x, noise_in, i, nv, flags);
        }
        let (vc, vu, vx, vn) = inputs;
        let mut xn = Vector::<F, W>::empty();
        let mut x0v = Vector::<F, W>::empty();
        let mut pr = Vector::<F, W>::empty();
        #[unroll]
        for m in 0..w {
            let mut z = F::cast_from(prim::lane_normal(z0, z1, z2, z3, j0, m, w));
            if comptime!(flags.noise_given) {
                z = vn.extract(m);
            }
            let (xe, x0e, pe) = step_elem::<F, T, Smp>(
                vc.extract(m),
                vu.extract(m),
                vx.extract(m),
                z,
                factor,
                a,
                bb,
                c,
                &args,
                flags,
            );
            xn.insert(m, xe);
            x0v.insert(m, x0e);
            pr.insert(m, pe);
        }
        x[i] = xn;
        if comptime!(flags.want_x0) {
            x0_out[i] = x0v;
        }
        if comptime!(flags.want_pred) {
            pred_out[i] = pr;
        }
        if comptime!(flags.want_xx) {
            xx_out[i] = xn;
            xx_out[nv + i] = xn;
        }
        k += stride;
    }
}

/// The step's inputs at vector `i`: the prediction `(p_c, p_u)` (`p_u = p_c` unguided), `x`,
/// and the given noise when the step reads it (else `x` again, unused).
#[cube]
#[allow(clippy::type_complexity)]
fn load_step_inputs<F: Float, W: Size>(
    out: &[Vector<F, W>],
    x: &mut [Vector<F, W>],
    noise_in: &[Vector<F, W>],
    i: usize,
    nv: usize,
    #[comptime] flags: StepFlags,
) -> (Vector<F, W>, Vector<F, W>, Vector<F, W>, Vector<F, W>) {
    let vc = out[i];
    let mut vu = vc;
    if comptime!(flags.guided) {
        vu = out[nv + i];
    }
    let vx = x[i];
    let mut vn = vx;
    if comptime!(flags.noise_given) {
        vn = noise_in[i];
    }
    (vc, vu, vx, vn)
}

/// Copies `x` (`n` values, `nv` vectors) twice into `xx` (`2n`): the doubled model input of a
/// guided step.
#[cube(launch_unchecked)]
fn duplicate_kernel<F: Float, W: Size>(x: &[Vector<F, W>], xx: &mut [Vector<F, W>], nv: u32) {
    let i = ABSOLUTE_POS;
    if i < nv as usize {
        let v = x[i];
        xx[i] = v;
        xx[nv as usize + i] = v;
    }
}

/// The device buffers of one step. Element buffers hold `batch · per` values of the kernel
/// float type, the model output `2·batch·per` when guided.
#[derive(Clone, Debug)]
pub struct StepIo {
    /// The model output: `[p_c; p_u]` when guided, else `p`.
    pub model_out: Handle,
    /// `x`, updated in place.
    pub x: Handle,
    /// Recorded sampler noise for this step (replaces the counter noise), if any.
    pub noise: Option<Handle>,
    /// Output `x0`, if wanted.
    pub x0: Option<Handle>,
    /// Output prediction (after guidance and rescale), if wanted.
    pub pred: Option<Handle>,
    /// Output doubled `[x; x]` for the next guided model call, if wanted.
    pub xx: Option<Handle>,
    /// Scratch for the rescale partials ([`partials_len`] `f32`s); needed when rescaling.
    pub partials: Option<Handle>,
}

/// Scalars of one step.
#[derive(Clone, Copy, Debug)]
pub struct StepSettings {
    /// Samples.
    pub batch: usize,
    /// Elements per sample.
    pub per: usize,
    /// Step index (noise counter).
    pub step: u32,
    /// logSNR the step starts from.
    pub logsnr: f64,
    /// logSNR it goes to.
    pub logsnr_prev: f64,
    /// Guidance scale, or `None` for an unguided step.
    pub guidance: Option<f64>,
    /// Rescale strength (0 = off; only with guidance).
    pub rho: f64,
    /// How the rescale measures the std.
    pub rescale: Rescale,
    /// Seed of the sampler noise.
    pub seed: u64,
    /// Counter index of the first sample.
    pub first_sample: u32,
}

/// The rescale reduction's vectors per loop turn for [`super::Tuning::reduce_vectors`]: 1, 2
/// or 4 (other counts round down to one of these).
fn reduce_at_once(vectors: usize) -> u32 {
    match vectors {
        0..=1 => 1,
        2..=3 => 2,
        _ => 4,
    }
}

fn chunks_per_sample(batch: usize, per: usize, rescale: Rescale) -> usize {
    let need = per.div_ceil(CUBE as usize * 8).max(1);
    let cap = match rescale {
        Rescale::Batch => (MAX_PARTIALS / batch).max(1),
        Rescale::PerSample => MAX_PARTIALS,
    };
    need.min(cap)
}

/// Cubes per sample of the fused step over `vectors` vectors per sample. Without rescale a
/// sample has [`units_per_sample`] units (one per vector unless the batch is large enough to
/// keep the device busy with fewer), so a unit computes its sample's coefficients once for
/// several vectors. When each cube first merges the reduction's partials (`merges`: a
/// rescaled step without [`super::Tuning::merge_once`]), as few cubes as keep the device
/// busy ([`busy_units`]), each unit striding over several vectors, unless
/// [`super::Tuning::vectors_per_unit`] forces a count.
fn step_cubes(client: &Client, batch: usize, vectors: usize, merges: bool) -> u32 {
    if !merges || super::tuning().vectors_per_unit > 0 {
        return units_per_sample(client, vectors, batch * vectors)
            .div_ceil(CUBE as usize)
            .max(1) as u32;
    }
    let need = vectors.div_ceil(CUBE as usize).max(1);
    let busy = busy_units(client) / CUBE as usize;
    need.min(busy.div_ceil(batch).max(1)) as u32
}

/// `f32`s of rescale scratch a step over `batch × per` needs: five per partial, then two per
/// sample for the merged stds ([`super::Tuning::merge_once`]).
pub fn partials_len(batch: usize, per: usize, rescale: Rescale) -> usize {
    5 * batch * chunks_per_sample(batch, per, rescale) + 2 * batch
}

/// One sampling step on device buffers (SPEC §7): guidance combine, rescale (whole-batch or
/// per-sample unbiased std), undiffuse, sampler step with in-kernel noise
/// (`Purpose::Sampler`, sample `first_sample + b`, step `step`, as the host). **Two
/// launches** with guidance and `rho > 0`, **one** otherwise. Returns the launches made.
///
/// Errors: `batch` or `per` zero, non-finite settings, rescale without a partials buffer,
/// a buffer shorter than the step reads or writes (named, in bytes), more than 65535
/// samples, a component without a device form.
///
/// With `p_u = 0`, guidance 3 makes the prediction `3·p_c`, whose std is three times
/// `p_c`'s; the rescale at `ρ = 0.7` then scales it by `0.7/3 + 0.3`, so the prediction used
/// is `1.6·p_c`:
///
/// ```
/// use gdf::kernel::cubecl::prelude::*;
/// use gdf::kernel::step::{partials_len, step, StepIo, StepSettings};
/// use gdf::sample::Rescale;
/// gdf::gdf!(StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
///           target: Epsilon, noise_cond: CosineT, loss_weight: P2);
/// # let Some(client) = gdf::kernel::doc_client() else { return Ok(()) };
/// let (batch, per) = (2, 128);
/// let n = batch * per;
/// let p_c: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
/// let mut model_out = p_c.clone();
/// model_out.extend(vec![0.0f32; n]); // [p_c; p_u]
/// let up = |v: &[f32]| client.create_from_slice(f32::as_bytes(v));
/// let io = StepIo {
///     model_out: up(&model_out),
///     x: up(&vec![0.1f32; n]),
///     noise: None,
///     x0: None,
///     pred: Some(client.empty(4 * n)),
///     xx: None,
///     partials: Some(client.empty(4 * partials_len(batch, per, Rescale::PerSample))),
/// };
/// let set = StepSettings {
///     batch, per, step: 0, logsnr: -2.0, logsnr_prev: 0.0,
///     guidance: Some(3.0), rho: 0.7, rescale: Rescale::PerSample,
///     seed: 7, first_sample: 0,
/// };
/// let launches = step::<f32, _, _, _, _, _, _, _>(
///     &client, &StageC::default(), &gdf::sampler::Ddpm, &io, &set,
/// )?;
/// assert_eq!(launches, 2); // the reduction, then the fused step
/// let pred = client.read_one(io.pred.unwrap()).expect("reading the device buffer");
/// for (p, c) in f32::from_bytes(&pred).iter().zip(&p_c) {
///     assert!((p - 1.6 * c).abs() < 1e-5);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn step<F, S, Sc, T, N, L, O, Smp>(
    client: &Client,
    gdf: &Gdf<S, Sc, T, N, L, O>,
    _sampler: &Smp,
    io: &StepIo,
    set: &StepSettings,
) -> Result<u32, KernelError>
where
    F: Float + CubeElement,
    S: Schedule + DeviceState,
    Sc: Scaler + CubeScaler + DeviceState,
    T: Target + CubeTarget,
    N: DeviceState,
    L: DeviceState,
    Smp: Sampler + CubeSampler,
{
    let st = framework_state(gdf)?;
    let state = upload_state::<F>(client, &st);
    step_with_state::<F, Sc, T, Smp>(client, &state, st.len(), io, set)
}

pub(crate) fn step_with_state<F, Sc, T, Smp>(
    client: &Client,
    state: &Handle,
    state_len: usize,
    io: &StepIo,
    set: &StepSettings,
) -> Result<u32, KernelError>
where
    F: Float + CubeElement,
    Sc: CubeScaler,
    T: CubeTarget,
    Smp: CubeSampler,
{
    let (batch, per) = (set.batch, set.per);
    let n = per_sample("x", batch * per, batch)? * batch;
    if batch > 65535 {
        return Err(GdfError::OutOfRange {
            what: "batch",
            value: batch as f64,
            expected: "at most 65535 samples per kernel step",
        }
        .into());
    }
    check_finite("logsnr", &[set.logsnr, set.logsnr_prev])?;
    crate::sample::check_cfg_rho(set.rho)?;
    if let Some(g) = set.guidance {
        check_finite("cfg", &[g])?;
    }
    let guided = set.guidance.is_some();
    let rescale = guided && set.rho > 0.0;
    if rescale {
        crate::sample::check_rescale_count(set.rho, batch, per, set.rescale)?;
    }
    let chunks = chunks_per_sample(batch, per, set.rescale);
    let d = super::framework::dummy(client);
    let partials = match (&io.partials, rescale) {
        (Some(p), _) => p.clone(),
        (None, false) => d.clone(),
        (None, true) => {
            return Err(GdfError::Invalid {
                message: "a rescaled step needs a partials buffer (see partials_len)".into(),
            }
            .into())
        }
    };
    let g = set.guidance.unwrap_or(1.0) as f32;
    let mut launches = 0;
    let plen = partials_len(batch, per, set.rescale);
    // `[p_c; p_u]` and `[x; x]` hold 2n values, indexed in 32 bits too.
    let largest = if guided || io.xx.is_some() { 2 * n } else { n };
    check_index_range("the step's largest buffer (values)", largest)?;
    check_buffers::<F>(&[
        (
            "model_out (bytes)",
            Some(&io.model_out),
            if guided { 2 * n } else { n },
        ),
        ("x (bytes)", Some(&io.x), n),
        ("noise (bytes)", io.noise.as_ref(), n),
        ("x0 (bytes)", io.x0.as_ref(), n),
        ("pred (bytes)", io.pred.as_ref(), n),
        ("xx (bytes)", io.xx.as_ref(), 2 * n),
    ])?;
    if rescale {
        check_bytes("partials (bytes)", &partials, 4 * plen)?;
    }
    let vectors = [&io.model_out, &io.x]
        .into_iter()
        .chain(io.noise.as_ref())
        .chain(io.x0.as_ref())
        .chain(io.pred.as_ref())
        .chain(io.xx.as_ref());
    let w = vector_width::<F>(client, per, &vectors.collect::<Vec<_>>());
    let nv = n / w;
    let tuning = super::tuning();
    let merged = rescale && tuning.merge_once;
    if rescale {
        launches += 1;
        launch_reduce::<F>(client, &io.model_out, &partials, batch, per, w, chunks, g);
    }
    let flags = StepFlags {
        guided,
        rescale: match (rescale, set.rescale) {
            (false, _) => 0,
            (true, Rescale::Batch) => 1,
            (true, Rescale::PerSample) => 2,
        },
        noise_given: io.noise.is_some(),
        want_x0: io.x0.is_some(),
        want_pred: io.pred.is_some(),
        want_xx: io.xx.is_some(),
        loads: tuning.loads,
        merged,
    };
    if merged {
        launches += 1;
        launch_merge(client, &partials, plen, batch, chunks, flags.rescale);
    }
    let or_d = |h: &Option<Handle>, len: usize| {
        let h = h.clone().unwrap_or_else(|| d.clone());
        unsafe { BufferArg::from_raw_parts(h, len) }
    };
    let cubes_x = step_cubes(client, batch, per / w, rescale && !merged);
    Launches::record();
    launches += 1;
    // SAFETY: the element buffers hold `n` values (`nv` vectors; the model output and `xx`
    // twice that), the unused ones are never touched; the kernel guards its indices.
    unsafe {
        step_kernel::launch_unchecked::<F, Sc, T, Smp>(
            client,
            CubeCount::Static(cubes_x, batch as u32, 1),
            CubeDim::new_1d(CUBE),
            w,
            BufferArg::from_raw_parts(io.model_out.clone(), if guided { 2 * nv } else { nv }),
            BufferArg::from_raw_parts(io.x.clone(), nv),
            or_d(&io.noise, if flags.noise_given { nv } else { 1 }),
            BufferArg::from_raw_parts(state.clone(), state_len.max(1)),
            BufferArg::from_raw_parts(partials, if rescale { plen } else { 1 }),
            or_d(&io.x0, if flags.want_x0 { nv } else { 1 }),
            or_d(&io.pred, if flags.want_pred { nv } else { 1 }),
            or_d(&io.xx, if flags.want_xx { 2 * nv } else { 1 }),
            StepScalarsLaunch::new(
                per as u32,
                n as u32,
                chunks as u32,
                batch as u32,
                set.seed as u32,
                (set.seed >> 32) as u32,
                set.first_sample,
                set.step,
                set.logsnr as f32,
                set.logsnr_prev as f32,
                g,
                set.rho as f32,
            ),
            flags,
        )
    };
    Ok(launches)
}

/// Launches pass 1 of a rescaled step: `chunks` partials per sample of the model output
/// `[p_c; p_u]` (`2·batch·per` values, vectors of `w`) into `partials`.
#[allow(clippy::too_many_arguments)]
fn launch_reduce<F: Float + CubeElement>(
    client: &Client,
    model_out: &Handle,
    partials: &Handle,
    batch: usize,
    per: usize,
    w: usize,
    chunks: usize,
    g: f32,
) {
    let nv = batch * per / w;
    Launches::record();
    // SAFETY: the model output holds `2·batch·per` values (`2·nv` vectors), the partials
    // `5·batch·chunks` (`rescale_reduce` and `step` check both); the kernel guards its
    // indices.
    unsafe {
        rescale_reduce_kernel::launch_unchecked::<F>(
            client,
            CubeCount::Static(chunks as u32, batch as u32, 1),
            CubeDim::new_1d(CUBE),
            w,
            BufferArg::from_raw_parts(model_out.clone(), 2 * nv),
            BufferArg::from_raw_parts(partials.clone(), 5 * batch * chunks),
            nv as u32,
            per as u32,
            g,
            reduce_at_once(super::tuning().reduce_vectors),
        )
    };
}

/// Launches the one merge of a rescaled step's partials ([`super::Tuning::merge_once`]):
/// one cube for the whole-batch std (`rescale` 1), one per sample for the per-sample std
/// (`rescale` 2), each writing its `(std_c, std_p)` after the partials.
fn launch_merge(
    client: &Client,
    partials: &Handle,
    plen: usize,
    batch: usize,
    chunks: usize,
    rescale: u8,
) {
    let cubes = if rescale == 2 { batch as u32 } else { 1 };
    Launches::record();
    // SAFETY: the partials buffer holds `plen = 5·batch·chunks + 2·batch` values (`step`
    // checks it); the kernel reads the partials of its cube's std and writes two values per
    // cube after them.
    unsafe {
        rescale_merge_kernel::launch_unchecked(
            client,
            CubeCount::Static(1, cubes, 1),
            CubeDim::new_1d(CUBE),
            BufferArg::from_raw_parts(partials.clone(), plen),
            chunks as u32,
            batch as u32,
            rescale,
        )
    };
}

/// Pass 1 of a rescaled guided step alone, for the kernel bench (what the reduction over
/// `[p_c; p_u]` costs by itself): the partial moments of the `2·batch·per` model outputs
/// into `partials` ([`partials_len`] `f32`s) at guidance scale `g`. Returns the vector width
/// it took. Errors: `batch` or `per` zero, a non-finite `g`, buffers too short.
#[doc(hidden)]
pub fn rescale_reduce<F: Float + CubeElement>(
    client: &Client,
    model_out: &Handle,
    partials: &Handle,
    batch: usize,
    per: usize,
    rescale: Rescale,
    g: f64,
) -> Result<usize, KernelError> {
    let n = per_sample("model output", batch * per, batch)? * batch;
    check_finite("cfg", &[g])?;
    let plen = partials_len(batch, per, rescale);
    check_bytes(
        "model output (bytes)",
        model_out,
        2 * n * core::mem::size_of::<F>(),
    )?;
    check_bytes("partials (bytes)", partials, 4 * plen)?;
    let w = vector_width::<F>(client, per, &[model_out]);
    let chunks = chunks_per_sample(batch, per, rescale);
    launch_reduce::<F>(client, model_out, partials, batch, per, w, chunks, g as f32);
    Ok(w)
}

/// Copies `x` (`n` values) into both halves of `xx` (one launch).
///
/// Errors: `x` shorter than `n` values, `xx` shorter than `2n`.
pub fn duplicate<F: Float + CubeElement>(
    client: &Client,
    x: &Handle,
    xx: &Handle,
    n: usize,
) -> Result<(), KernelError> {
    check_index_range("n", 2 * n)?;
    check_buffers::<F>(&[("x (bytes)", Some(x), n), ("xx (bytes)", Some(xx), 2 * n)])?;
    let w = vector_width::<F>(client, n, &[x, xx]);
    let (count, dim) = super::launch_dims(client, n / w);
    Launches::record();
    // SAFETY: `x` holds `n` values (`n / w` vectors), `xx` twice that; the kernel guards its
    // index.
    unsafe {
        duplicate_kernel::launch_unchecked::<F>(
            client,
            count,
            dim,
            w,
            BufferArg::from_raw_parts(x.clone(), n / w),
            BufferArg::from_raw_parts(xx.clone(), 2 * n / w),
            (n / w) as u32,
        )
    };
    Ok(())
}

/// The denoising model of a device sampling run, over device handles: given the noised
/// `x` (`model_batch · per` values), the noise cond (`model_batch` values) and whether the
/// call is guided (then `x = [x; x]` and the model should use `[cond; uncond]` inputs,
/// which it owns), produce the prediction (same length as `x`): either written into `out`
/// (gdf's buffer), or in a buffer of the model's own that it returns (a framework's output
/// tensor, read by the step kernel in place: no device copy), or fail.
///
/// Any closure `FnMut(&Client, &Handle, &Handle, usize, bool, &Handle) -> R` is a model,
/// where `R` is `()` (wrote into `out`), a [`Handle`] (its own output), a [`DeviceOutput`],
/// or a `Result<_, E>` of one of these (`E: std::error::Error`); an error stops the run with
/// [`GdfError::Model`] naming the step.
pub trait DeviceModel {
    /// The model's error ([`core::convert::Infallible`] if it cannot fail).
    type Error: std::error::Error;
    /// Produces the prediction.
    fn predict(
        &mut self,
        client: &Client,
        x: &Handle,
        noise_cond: &Handle,
        model_batch: usize,
        guided: bool,
        out: &Handle,
    ) -> Result<DeviceOutput, Self::Error>;
}

/// Where a [`DeviceModel`] put its prediction.
#[derive(Clone, Debug)]
pub enum DeviceOutput {
    /// Into the `out` buffer it was given.
    Written,
    /// Into this buffer of its own (at least `model_batch · per` values of the run's float
    /// type, from its start), which the step reads in place.
    Own(Handle),
}

/// What a [`DeviceModel`] closure returns (see there).
pub trait DeviceOutcome {
    /// The error (`Infallible` unless the closure returns a `Result`).
    type Error: std::error::Error;
    /// As a `Result<DeviceOutput, _>`.
    fn into_output(self) -> Result<DeviceOutput, Self::Error>;
}

impl DeviceOutcome for () {
    type Error = core::convert::Infallible;
    fn into_output(self) -> Result<DeviceOutput, Self::Error> {
        Ok(DeviceOutput::Written)
    }
}

impl DeviceOutcome for Handle {
    type Error = core::convert::Infallible;
    fn into_output(self) -> Result<DeviceOutput, Self::Error> {
        Ok(DeviceOutput::Own(self))
    }
}

impl DeviceOutcome for DeviceOutput {
    type Error = core::convert::Infallible;
    fn into_output(self) -> Result<DeviceOutput, Self::Error> {
        Ok(self)
    }
}

impl<E: std::error::Error> DeviceOutcome for Result<(), E> {
    type Error = E;
    fn into_output(self) -> Result<DeviceOutput, E> {
        self.map(|()| DeviceOutput::Written)
    }
}

impl<E: std::error::Error> DeviceOutcome for Result<Handle, E> {
    type Error = E;
    fn into_output(self) -> Result<DeviceOutput, E> {
        self.map(DeviceOutput::Own)
    }
}

impl<E: std::error::Error> DeviceOutcome for Result<DeviceOutput, E> {
    type Error = E;
    fn into_output(self) -> Result<DeviceOutput, E> {
        self
    }
}

impl<R, M> DeviceModel for M
where
    R: DeviceOutcome,
    M: FnMut(&Client, &Handle, &Handle, usize, bool, &Handle) -> R,
{
    type Error = R::Error;
    fn predict(
        &mut self,
        client: &Client,
        x: &Handle,
        noise_cond: &Handle,
        model_batch: usize,
        guided: bool,
        out: &Handle,
    ) -> Result<DeviceOutput, R::Error> {
        self(client, x, noise_cond, model_batch, guided, out).into_output()
    }
}

/// Options of [`DeviceSampling::new`] (as [`SampleOpts`](crate::sample::SampleOpts), minus
/// the host-side inputs: the model owns its conditioning on the device).
#[derive(Clone, Debug)]
pub struct DeviceSampleOpts {
    /// Steps. Default 20.
    pub timesteps: usize,
    /// First `t`. Default 1.
    pub t_start: f64,
    /// Last `t`. Default 0.
    pub t_end: f64,
    /// Schedule shift. Default 1.
    pub shift: f64,
    /// The initial `x` (copied on the device); counter noise (`Purpose::Init`) if `None`.
    pub x_init: Option<Handle>,
    /// Guidance. Default `Scale(3)`.
    pub cfg: Cfg<f64>,
    /// Guidance only while `t ≤ cfg_t_start`.
    pub cfg_t_start: Option<f64>,
    /// Guidance only while `t ≥ cfg_t_stop`.
    pub cfg_t_stop: Option<f64>,
    /// Rescale strength. Default 0.7.
    pub cfg_rho: f64,
    /// How the rescale measures the std.
    pub rescale: Rescale,
    /// Seed.
    pub seed: u64,
    /// Counter index of the first sample.
    pub first_sample: u32,
    /// Recorded sampler noise `[timesteps, B, …]` replacing the counter noise, if any.
    pub noise: Option<Handle>,
}

impl Default for DeviceSampleOpts {
    fn default() -> Self {
        Self {
            timesteps: 20,
            t_start: 1.0,
            t_end: 0.0,
            shift: 1.0,
            x_init: None,
            cfg: Cfg::Scale(3.0),
            cfg_t_start: None,
            cfg_t_stop: None,
            cfg_rho: 0.7,
            rescale: Rescale::Batch,
            seed: 0,
            first_sample: 0,
            noise: None,
        }
    }
}

/// What one device step reports (the buffers stay on the device).
#[derive(Clone, Copy, Debug)]
pub struct DeviceStep {
    /// Step index.
    pub index: usize,
    /// `t` the step started from.
    pub t: f64,
    /// logSNR it started from.
    pub logsnr: f64,
    /// The noise cond the model got.
    pub noise_cond: f64,
    /// Whether guidance was applied.
    pub guided: bool,
    /// Kernel launches of the step itself (the model's not counted).
    pub launches: u32,
}

/// A sampling run on device buffers (the framework's `sample`, SPEC §7): the grid and the
/// noise conds are computed on the host once, every step runs on the device, and nothing is
/// read back between steps. Per step: the caller's model, then [`step`] (one or two
/// launches), which also writes the doubled input of the next guided model call.
///
/// A guided, rescaled DDPM run with a stand-in model (its conditional ε prediction is its
/// input and its unconditional one zero, copied into gdf's output buffer; a real model is a
/// forward pass over the same handles), against the host's run of the same model:
///
/// ```
/// use gdf::kernel::cubecl::prelude::*;
/// use gdf::kernel::cubecl::server::Handle;
/// use gdf::kernel::step::{copy, DeviceSampleOpts, DeviceSampling};
/// use gdf::sample::{Cfg, SampleOpts};
/// use gdf::sampler::Ddpm;
/// gdf::gdf!(StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
///           target: Epsilon, noise_cond: CosineT, loss_weight: P2);
/// # let Some(client) = gdf::kernel::doc_client() else { return Ok(()) };
/// let (batch, per) = (2, 64);
/// let n = batch * per;
/// let x_init: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
/// let zeros = client.create_from_slice(f32::as_bytes(&vec![0.0f32; n]));
/// // On guided steps the model gets `[x; x]` and answers `[p_c; p_u]` (2n values).
/// let model = |c: &Client, x: &Handle, _cond: &Handle, _model_batch: usize, guided: bool,
///              out: &Handle| {
///     copy::<f32>(c, x, out, n)?;
///     if guided {
///         copy::<f32>(c, &zeros, &out.clone().offset_start(4 * n as u64), n)?;
///     }
///     Ok::<(), gdf::kernel::KernelError>(())
/// };
/// let opts = DeviceSampleOpts {
///     timesteps: 8,
///     x_init: Some(client.create_from_slice(f32::as_bytes(&x_init))),
///     cfg: Cfg::Scale(3.0),
///     cfg_rho: 0.7,
///     seed: 7,
///     ..Default::default()
/// };
/// let run = DeviceSampling::<f32, _, _, _, _>::new(
///     &client, &StageC::default(), Ddpm, model, batch, per, opts,
/// )?;
/// let x = run.run()?; // eight steps, nothing read back in between
///
/// let host_model = |x: &[f32], _c: &[f32], _i: &[f32], p: &mut [f32]| {
///     p[..n].copy_from_slice(&x[..n]);
///     p[n..].fill(0.0);
/// };
/// let host_opts = SampleOpts {
///     timesteps: 8,
///     x_init: Some(&x_init[..]),
///     cfg: Cfg::Scale(3.0),
///     cfg_rho: 0.7,
///     seed: 7,
///     ..Default::default()
/// };
/// let host = StageC::default()
///     .sample(host_model, Ddpm, &[], None, batch, per, host_opts)?
///     .run()?;
/// let bytes = client.read_one(x).expect("reading the device buffer");
/// for (d, h) in f32::from_bytes(&bytes).iter().zip(&host) {
///     assert!((d - h).abs() <= 1e-3 * h.abs().max(1.0), "device {d}, host {h}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DeviceSampling<'c, F, Sc, T, Smp, M> {
    client: &'c Client,
    model: M,
    /// Guidance of the next steps.
    pub cfg: Cfg<f64>,
    /// Guidance only while `t ≤ cfg_t_start`.
    pub cfg_t_start: Option<f64>,
    /// Guidance only while `t ≥ cfg_t_stop`.
    pub cfg_t_stop: Option<f64>,
    /// Rescale strength of the next steps.
    pub cfg_rho: f64,
    /// How the rescale measures the std.
    pub rescale: Rescale,
    batch: usize,
    per: usize,
    r: Vec<f64>,
    logsnr: Vec<f64>,
    cond: Vec<f64>,
    step: usize,
    seed: u64,
    first_sample: u32,
    /// The recorded noise, each step's `n` values on the binding alignment
    /// ([`aligned_steps`]), `noise_stride` values apart.
    noise: Option<Handle>,
    noise_stride: usize,
    state: Handle,
    state_len: usize,
    x: Handle,
    xx: Handle,
    xx_fresh: bool,
    out: Handle,
    x0: Handle,
    pred: Handle,
    nc: Handle,
    partials: Handle,
    _p: core::marker::PhantomData<(F, Sc, T, Smp)>,
}

impl<'c, F, Sc, T, Smp, M> DeviceSampling<'c, F, Sc, T, Smp, M>
where
    F: Float + CubeElement,
    Sc: Scaler + CubeScaler + DeviceState,
    T: Target + CubeTarget,
    Smp: Sampler + CubeSampler,
    M: DeviceModel,
{
    /// Starts a run of `batch` samples of `per` elements over the framework's schedule.
    ///
    /// Errors: as [`Gdf::sample`](crate::framework::Gdf::sample) and [`step`].
    #[allow(clippy::too_many_arguments)]
    pub fn new<S, N, L, O>(
        client: &'c Client,
        gdf: &Gdf<S, Sc, T, N, L, O>,
        sampler: Smp,
        model: M,
        batch: usize,
        per: usize,
        opts: DeviceSampleOpts,
    ) -> Result<Self, KernelError>
    where
        S: Schedule + DeviceState,
        N: NoiseCond + DeviceState,
        L: LossWeight + DeviceState,
        O: Param,
    {
        let n = per_sample("batch × per", batch * per, batch)? * batch;
        sampler.check()?;
        crate::noise::check_sample_counters(opts.first_sample, batch)?;
        let (r, logsnr) = sampling_grid(
            &gdf.schedule,
            opts.timesteps,
            opts.t_start,
            opts.t_end,
            opts.shift,
        )?;
        // The noise cond the host gives the model, computed in F's precision on the host.
        let cond = logsnr
            .iter()
            .map(|&l| gdf.noise_cond.noise_cond(l as f32) as f64)
            .collect();
        // `[x; x]` and the model output hold 2n values, indexed in 32 bits.
        check_index_range("2 × batch × per", 2 * n)?;
        check_buffers::<F>(&[
            ("x_init (bytes)", opts.x_init.as_ref(), n),
            ("noise (bytes)", opts.noise.as_ref(), opts.timesteps * n),
        ])?;
        let st = framework_state(gdf)?;
        let state = upload_state::<F>(client, &st);
        let bytes = core::mem::size_of::<F>();
        let (noise, noise_stride) = match opts.noise {
            Some(h) => {
                let (h, stride) = aligned_steps::<F>(client, h, opts.timesteps, n)?;
                (Some(h), stride)
            }
            None => (None, n),
        };
        let x = client.empty(n * bytes);
        match &opts.x_init {
            // Copied: the caller's buffer is not modified.
            Some(h) => copy::<F>(client, h, &x, n)?,
            None => fill_batch_noise::<F>(
                client,
                &x,
                batch,
                per,
                opts.seed,
                Purpose::Init,
                opts.first_sample,
                0,
            )?,
        }
        let run = Self {
            client,
            model,
            cfg: opts.cfg,
            cfg_t_start: opts.cfg_t_start,
            cfg_t_stop: opts.cfg_t_stop,
            cfg_rho: opts.cfg_rho,
            rescale: opts.rescale,
            batch,
            per,
            r,
            logsnr,
            cond,
            step: 0,
            seed: opts.seed,
            first_sample: opts.first_sample,
            noise,
            noise_stride,
            state,
            state_len: st.len(),
            x,
            xx: client.empty(2 * n * bytes),
            xx_fresh: false,
            out: client.empty(2 * n * bytes),
            x0: client.empty(n * bytes),
            pred: client.empty(n * bytes),
            nc: client.empty(2 * batch * bytes),
            partials: client.empty(
                partials_len(batch, per, Rescale::Batch).max(partials_len(
                    batch,
                    per,
                    Rescale::PerSample,
                )) * 4,
            ),
            _p: core::marker::PhantomData,
        };
        Ok(run)
    }

    /// The current `x` (device buffer, `batch · per` values).
    pub fn x(&self) -> &Handle {
        &self.x
    }
    /// Replaces `x` before the next step (the caller's edit between steps).
    pub fn set_x(&mut self, x: Handle) {
        self.x = x;
        self.xx_fresh = false;
    }
    /// The last step's `x0`.
    pub fn x0(&self) -> &Handle {
        &self.x0
    }
    /// The last step's prediction (after guidance and rescale).
    pub fn pred(&self) -> &Handle {
        &self.pred
    }
    /// The `t` grid.
    pub fn t_grid(&self) -> &[f64] {
        &self.r
    }
    /// The logSNR grid.
    pub fn logsnr_grid(&self) -> &[f64] {
        &self.logsnr
    }
    /// Steps taken.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    fn guided_at(&self, i: usize) -> bool {
        let r = self.r[i];
        !matches!(self.cfg, Cfg::Off)
            && self.cfg_t_stop.is_none_or(|s| r >= s)
            && self.cfg_t_start.is_none_or(|s| r <= s)
    }

    /// Takes one step; `None` once all steps are done.
    pub fn next_step(&mut self) -> Result<Option<DeviceStep>, KernelError> {
        let i = self.step;
        if i + 1 >= self.r.len() {
            return Ok(None);
        }
        let (b, per) = (self.batch, self.per);
        let n = b * per;
        let r = self.r[i];
        let guided = self.guided_at(i);
        let c = self.cond[i];
        let model_batch = if guided { 2 * b } else { b };
        let ncs = vec![F::new(c as f32); model_batch];
        self.nc = upload(self.client, &ncs);
        let mut launches = 0;
        if guided && !self.xx_fresh {
            duplicate::<F>(self.client, &self.x, &self.xx, n)?;
            launches += 1;
        }
        let input = if guided { &self.xx } else { &self.x };
        let output = self
            .model
            .predict(self.client, input, &self.nc, model_batch, guided, &self.out)
            .map_err(|e| crate::GdfError::Model {
                step: i,
                message: e.to_string(),
            })?;
        let model_out = match output {
            DeviceOutput::Written => self.out.clone(),
            DeviceOutput::Own(h) => {
                check_bytes(
                    "the device model's own output (bytes)",
                    &h,
                    model_batch * per * core::mem::size_of::<F>(),
                )?;
                h
            }
        };
        let g = match self.cfg {
            Cfg::Off => 1.0,
            Cfg::Scale(g) => g,
            Cfg::Ramp(a, z) => a * r + z * (1.0 - r),
        };
        let next_guided = i + 2 < self.r.len() && self.guided_at(i + 1);
        let noise = self
            .noise
            .as_ref()
            .map(|h| slice_of::<F>(h, i * self.noise_stride, n));
        let io = StepIo {
            model_out,
            x: self.x.clone(),
            noise,
            x0: Some(self.x0.clone()),
            pred: Some(self.pred.clone()),
            xx: next_guided.then(|| self.xx.clone()),
            partials: Some(self.partials.clone()),
        };
        let set = StepSettings {
            batch: b,
            per,
            step: i as u32,
            logsnr: self.logsnr[i],
            logsnr_prev: self.logsnr[i + 1],
            guidance: guided.then_some(g),
            rho: self.cfg_rho,
            rescale: self.rescale,
            seed: self.seed,
            first_sample: self.first_sample,
        };
        launches +=
            step_with_state::<F, Sc, T, Smp>(self.client, &self.state, self.state_len, &io, &set)?;
        self.xx_fresh = next_guided;
        self.step += 1;
        Ok(Some(DeviceStep {
            index: i,
            t: r,
            logsnr: self.logsnr[i],
            noise_cond: c,
            guided,
            launches,
        }))
    }

    /// Runs every remaining step and returns the final `x` handle.
    pub fn run(mut self) -> Result<Handle, KernelError> {
        while self.next_step()?.is_some() {}
        Ok(self.x)
    }
}

/// `steps` runs of `n` values laid end to end in `h`, each run starting on the device's
/// binding alignment, and the distance between runs in values: `h` itself when `n` values
/// span a multiple of the alignment, else a copy whose runs are padded to the next multiple
/// (one launch). A view of a buffer must start on that alignment (wgpu's
/// `min_storage_buffer_offset_alignment`, 32 bytes on lavapipe, up to 256 elsewhere), so a
/// recorded noise of `n = 36` values per step could not be viewed step by step.
fn aligned_steps<F: Float + CubeElement>(
    client: &Client,
    h: Handle,
    steps: usize,
    n: usize,
) -> Result<(Handle, usize), KernelError> {
    let sz = core::mem::size_of::<F>();
    let align = (client.properties().memory.alignment as usize).max(sz);
    let stride = (n * sz).div_ceil(align) * align / sz;
    if stride == n || steps <= 1 {
        return Ok((h, n));
    }
    check_index_range("timesteps × padded batch × per", steps * stride)?;
    let dst = client.empty(steps * stride * sz);
    let total = steps * n;
    let (count, dim) = super::launch_dims(client, total);
    Launches::record();
    // SAFETY: `h` holds `steps · n` values (checked by the caller), `dst` `steps · stride`;
    // the kernel guards its index and writes `k·stride + j` with `j < n ≤ stride`.
    unsafe {
        strided_copy_kernel::launch_unchecked::<F>(
            client,
            count,
            dim,
            BufferArg::from_raw_parts(h, total),
            BufferArg::from_raw_parts(dst.clone(), steps * stride),
            n as u32,
            stride as u32,
            total as u32,
        )
    };
    Ok((dst, stride))
}

#[cube(launch_unchecked)]
fn strided_copy_kernel<F: Float>(src: &[F], dst: &mut [F], n: u32, stride: u32, total: u32) {
    let i = ABSOLUTE_POS;
    if i < total as usize {
        let k = i / n as usize;
        let j = i % n as usize;
        dst[k * stride as usize + j] = src[i];
    }
}

/// A view of `len` values of `F` starting at value `offset` of `h`.
fn slice_of<F: CubeElement>(h: &Handle, offset: usize, len: usize) -> Handle {
    let sz = core::mem::size_of::<F>() as u64;
    h.clone()
        .offset_start(offset as u64 * sz)
        .offset_end(h.size() - (offset + len) as u64 * sz)
}

/// Copies the first `n` values of `src` into `dst` (one launch).
///
/// Errors: `src` or `dst` shorter than `n` values.
pub fn copy<F: Float + CubeElement>(
    client: &Client,
    src: &Handle,
    dst: &Handle,
    n: usize,
) -> Result<(), KernelError> {
    check_index_range("n", n)?;
    check_buffers::<F>(&[("src (bytes)", Some(src), n), ("dst (bytes)", Some(dst), n)])?;
    let w = vector_width::<F>(client, n, &[src, dst]);
    let (count, dim) = super::launch_dims(client, n / w);
    Launches::record();
    // SAFETY: both buffers hold `n` values (`n / w` vectors); the kernel guards its index.
    unsafe {
        copy_kernel::launch_unchecked::<F>(
            client,
            count,
            dim,
            w,
            BufferArg::from_raw_parts(src.clone(), n / w),
            BufferArg::from_raw_parts(dst.clone(), n / w),
        )
    };
    Ok(())
}

#[cube(launch_unchecked)]
fn copy_kernel<F: Float, W: Size>(src: &[Vector<F, W>], dst: &mut [Vector<F, W>]) {
    if ABSOLUTE_POS < dst.len() {
        dst[ABSOLUTE_POS] = src[ABSOLUTE_POS];
    }
}
