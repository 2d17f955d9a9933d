//! The framework kernels: `diffuse` (one launch) and `undiffuse` (one launch), generic over
//! the framework's component types and the float type, over raw cubecl handles.

use cubecl::prelude::*;

#[allow(unused_imports)]
use crate::konst::Const;
use cubecl::server::Handle;

use super::component::*;
use super::prim;
use super::{launch_dims, upload_state, KernelError, Launches};
use crate::error::{check_len, per_sample, GdfError};
use crate::framework::Gdf;
use crate::konst::Param;
use crate::loss_weight::LossWeight;
use crate::noise::Purpose;
use crate::noise_cond::NoiseCond;
use crate::scaler::Scaler;
use crate::schedule::Schedule;
use crate::schedule::{check_shift, check_shift_named};
use crate::target::Target;

/// The framework's state buffer: `[o_s, o_sc, o_n, o_l, o_end, schedule…, scaler…, cond…,
/// weight…]` (section offsets first, see [`super::component`] for the sections).
pub fn framework_state<S, Sc, T, N, L, O>(
    g: &Gdf<S, Sc, T, N, L, O>,
) -> Result<Vec<f64>, KernelError>
where
    S: Schedule + DeviceState,
    Sc: DeviceState,
    N: DeviceState,
    L: DeviceState,
{
    let mut st = vec![5.0, 0.0, 0.0, 0.0, 0.0];
    schedule_state(&g.schedule, &mut st)?;
    st[1] = st.len() as f64;
    g.scaler.write_state(&mut st)?;
    st[2] = st.len() as f64;
    g.noise_cond.write_state(&mut st)?;
    st[3] = st.len() as f64;
    g.loss_weight.write_state(&mut st)?;
    st[4] = st.len() as f64;
    Ok(st)
}

/// The section `k` (0 schedule, 1 scaler, 2 noise cond, 3 loss weight) of a framework state.
#[cube]
pub fn section<F: Float>(state: &[F], #[comptime] k: usize) -> &[F] {
    state.slice(usize::cast_from(state[k]), usize::cast_from(state[k + 1]))
}

/// One element of diffuse: ε (given or drawn, plus offset), noised, ε and target outputs.
#[cube]
#[allow(clippy::too_many_arguments)]
fn diffuse_elem<F: Float, T: CubeTarget>(
    x0: &[F],
    eps_in: &[F],
    offset_in: &[F],
    noised: &mut [F],
    eps_out: &mut [F],
    target_out: &mut [F],
    z: f32,
    b: u32,
    j: u32,
    a: F,
    bb: F,
    args: &DiffuseScalars,
    #[comptime] flags: DiffuseFlags,
) {
    let i = (b * args.per + j) as usize;
    let x = x0[i];
    let mut e = F::cast_from(z);
    if comptime!(flags.eps_given) {
        e = eps_in[i];
    }
    if comptime!(flags.offset > 0) {
        let c = j / args.per_channel;
        let o = if comptime!(flags.offset == 1) {
            offset_in[(b * args.channels + c) as usize]
        } else {
            F::cast_from(prim::normal(
                args.seed_lo,
                args.seed_hi,
                1u32,
                args.first_sample + b,
                0u32,
                c,
            ))
        };
        e += F::cast_from(args.offset_k) * o;
    }
    noised[i] = x * a + e * bb;
    if comptime!(flags.eps_out) {
        eps_out[i] = e;
    }
    if comptime!(flags.target_out) {
        target_out[i] = T::target::<F>(x, e, a, bb);
    }
}

/// The per-call scalars of `diffuse_kernel`.
#[derive(CubeType, CubeLaunch, Clone, Copy, Debug)]
pub struct DiffuseScalars {
    /// Elements per sample.
    pub per: u32,
    /// Elements per channel.
    pub per_channel: u32,
    /// Channels per sample.
    pub channels: u32,
    /// Samples.
    pub batch: u32,
    /// Low word of the seed.
    pub seed_lo: u32,
    /// High word of the seed.
    pub seed_hi: u32,
    /// Counter index of the first sample.
    pub first_sample: u32,
    /// Schedule shift.
    pub shift: f32,
    /// Loss-weight shift.
    pub loss_shift: f32,
    /// Offset-noise strength.
    pub offset_k: f32,
}

/// Comptime switches of `diffuse_kernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DiffuseFlags {
    /// `tl` holds logSNR (else `t`).
    pub logsnr_given: bool,
    /// ε is read from `eps_in` (else drawn).
    pub eps_given: bool,
    /// 0: no offset noise; 1: offsets read from `offset_in`; 2: drawn.
    pub offset: u8,
    /// Write ε.
    pub eps_out: bool,
    /// Write the target.
    pub target_out: bool,
}

/// Unit `u` is Philox block `k = u mod blocks` of sample `u / blocks` and covers the four
/// elements [`prim::elem_of`]`(k, m)` that block's noise feeds (the host's layout).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn diffuse_kernel<
    F: Float,
    S: CubeSchedule,
    Sc: CubeScaler,
    T: CubeTarget,
    N: CubeNoiseCond,
    L: CubeLossWeight,
>(
    x0: &[F],
    eps_in: &[F],
    tl: &[F],
    offset_in: &[F],
    state: &[F],
    noised: &mut [F],
    eps_out: &mut [F],
    target_out: &mut [F],
    per_out: &mut [F],
    args: DiffuseScalars,
    #[comptime] flags: DiffuseFlags,
) {
    let blocks = args.per.div_ceil(32u32) * 8u32;
    let u = ABSOLUTE_POS as u32;
    if u < blocks * args.batch {
        let b = u / blocks;
        let k = u % blocks;
        let mut l = tl[b as usize];
        if comptime!(!flags.logsnr_given) {
            l = schedule_logsnr::<F, S>(l, F::cast_from(args.shift), section::<F>(state, 0usize));
        }
        let (a, bb) = Sc::ab::<F>(l, section::<F>(state, 1usize));
        if k == 0 {
            let nb = args.batch as usize;
            per_out[b as usize] = l;
            per_out[nb + b as usize] = noise_cond::<F, N>(l, section::<F>(state, 2usize));
            per_out[2 * nb + b as usize] = loss_weight::<F, L>(
                l,
                F::cast_from(args.loss_shift),
                section::<F>(state, 3usize),
            );
        }
        let (z0, z1, z2, z3) = prim::normals_or_zero(
            comptime!(!flags.eps_given),
            args.seed_lo,
            args.seed_hi,
            0u32,
            args.first_sample + b,
            0u32,
            k,
        );
        for m in 0..4u32 {
            let j = prim::elem_of(k, m);
            if j < args.per {
                let z = prim::pick4(z0, z1, z2, z3, m);
                diffuse_elem::<F, T>(
                    x0, eps_in, offset_in, noised, eps_out, target_out, z, b, j, a, bb, &args,
                    flags,
                );
            }
        }
    }
}

/// Unit `u` covers elements `k + m·blocks` (`m < 4`) of sample `u / blocks`, so the units of
/// a warp read and write consecutive elements.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn undiffuse_kernel<F: Float, Sc: CubeScaler, T: CubeTarget>(
    x: &[F],
    logsnr: &[F],
    pred: &[F],
    state: &[F],
    x0_out: &mut [F],
    eps_out: &mut [F],
    per: u32,
    batch: u32,
    #[comptime] want_x0: bool,
    #[comptime] want_eps: bool,
) {
    let blocks = per.div_ceil(4u32);
    let u = ABSOLUTE_POS as u32;
    if u < blocks * batch {
        let b = u / blocks;
        let k = u % blocks;
        let (a, bb) = Sc::ab::<F>(logsnr[b as usize], section::<F>(state, 1usize));
        for m in 0..4u32 {
            let j = k + m * blocks;
            if j < per {
                let i = (b * per + j) as usize;
                if comptime!(want_x0) {
                    x0_out[i] = T::x0::<F>(x[i], pred[i], a, bb);
                }
                if comptime!(want_eps) {
                    eps_out[i] = T::eps::<F>(x[i], pred[i], a, bb);
                }
            }
        }
    }
}

/// Device buffers and settings of [`diffuse`]. Element buffers hold `batch · per` values
/// of the kernel's float type; per-sample buffers `batch`.
#[derive(Clone, Debug)]
pub struct DiffuseIo {
    /// `x0` (read).
    pub x0: Handle,
    /// ε (read); drawn in-kernel (`Purpose::Epsilon`, as the host) when `None`.
    pub eps: Option<Handle>,
    /// Per-sample `t` (or logSNR when [`DiffuseIo::tl_is_logsnr`]); when `None`, each
    /// sample's logSNR is drawn from the schedule's training distribution exactly as the host
    /// [`Gdf::diffuse`](crate::framework::Gdf::diffuse) draws it (`Purpose::Time`, the same
    /// seed and `first_sample`; `B` values computed on the host and uploaded, so every
    /// schedule, training-only and adaptive ones included, draws on the device too).
    pub tl: Option<Handle>,
    /// Whether `tl` holds logSNR (for training-only schedules, whose λ the caller draws).
    pub tl_is_logsnr: bool,
    /// Per-(sample, channel) offsets; drawn in-kernel when `None` and the framework's offset
    /// noise is non-zero.
    pub offset: Option<Handle>,
    /// Output `a·x0 + b·ε`.
    pub noised: Handle,
    /// Output ε (with the offset), if wanted.
    pub eps_out: Option<Handle>,
    /// Output target, if wanted; ignored (not written) when the target is ε itself.
    pub target: Option<Handle>,
    /// Output `[logSNR (B), noise cond (B), loss weight (B)]`.
    pub per_sample: Handle,
}

/// Scalar settings of [`diffuse`] (as [`DiffuseArgs`](crate::framework::DiffuseArgs)).
#[derive(Clone, Copy, Debug)]
pub struct DiffuseSettings {
    /// Samples.
    pub batch: usize,
    /// Elements per sample.
    pub per: usize,
    /// Channels per sample (for offset noise). Default 1.
    pub channels: usize,
    /// Schedule shift.
    pub shift: f64,
    /// Loss-weight shift.
    pub loss_shift: f64,
    /// Seed of every draw.
    pub seed: u64,
    /// Counter index of the batch's first sample.
    pub first_sample: u32,
}

impl Default for DiffuseSettings {
    fn default() -> Self {
        Self {
            batch: 1,
            per: 1,
            channels: 1,
            shift: 1.0,
            loss_shift: 1.0,
            seed: 0,
            first_sample: 0,
        }
    }
}

/// A one-element placeholder for an unused binding.
fn dummy(client: &Client) -> Handle {
    client.empty(16)
}

/// `diffuse` of a whole batch in **one kernel launch** (SPEC §7): per-sample λ from `t`
/// (schedule wrapper, shift, limits) or given λ, `(a, b)` from the scaler, ε given or drawn
/// with the counter noise (bit-compatible with the host up to float rounding), offset noise,
/// and the outputs. The target is not written when it is ε itself.
///
/// Errors: lengths (`per` must be a multiple of `channels`), a non-positive or non-finite
/// shift, a training-only schedule given `t`, a component without a device form.
pub fn diffuse<F, S, Sc, T, N, L, O>(
    client: &Client,
    gdf: &Gdf<S, Sc, T, N, L, O>,
    io: &DiffuseIo,
    set: &DiffuseSettings,
) -> Result<(), KernelError>
where
    F: Float + CubeElement,
    S: Schedule + CubeSchedule + DeviceState,
    Sc: Scaler + CubeScaler + DeviceState,
    T: Target + CubeTarget,
    N: NoiseCond + CubeNoiseCond + DeviceState,
    L: LossWeight + CubeLossWeight + DeviceState,
    O: Param,
{
    let (batch, per) = (set.batch, set.per);
    let n = per_sample("x0", batch * per, batch)? * batch;
    let channels = set.channels.max(1);
    if per % channels != 0 {
        return Err(GdfError::NotDivisible {
            what: "elements per sample",
            len: per,
            batch: channels,
        }
        .into());
    }
    check_shift(set.shift)?;
    check_shift_named("loss_shift", set.loss_shift)?;
    // λ drawn as the host draws it when no t/λ is given.
    let (tl, logsnr_given) = match &io.tl {
        Some(h) => (h.clone(), io.tl_is_logsnr),
        None => {
            let mut l = vec![0.0f64; batch];
            gdf.logsnr_into(None, set.shift, set.seed, set.first_sample, &mut l)?;
            let l: Vec<F> = l.iter().map(|&v| F::new(v as f32)).collect();
            (super::upload(client, &l), true)
        }
    };
    if !logsnr_given && !S::ACCEPTS_T {
        return Err(GdfError::TrainingOnly {
            schedule: gdf.schedule.name(),
        }
        .into());
    }
    let k = gdf.offset_noise.get();
    let flags = DiffuseFlags {
        logsnr_given,
        eps_given: io.eps.is_some(),
        offset: if k > 0.0 {
            if io.offset.is_some() {
                1
            } else {
                2
            }
        } else {
            0
        },
        eps_out: io.eps_out.is_some(),
        target_out: io.target.is_some() && !gdf.target.is_epsilon(),
    };
    let st = framework_state(gdf)?;
    let state = upload_state::<F>(client, &st);
    let d = dummy(client);
    let or_d = |h: &Option<Handle>| h.clone().unwrap_or_else(|| d.clone());
    let blocks = prim::blocks_for(per);
    let (count, dim) = launch_dims(client, blocks * batch);
    let sz = |len: usize| len.max(1);
    Launches::record();
    unsafe {
        diffuse_kernel::launch_unchecked::<F, S, Sc, T, N, L>(
            client,
            count,
            dim,
            BufferArg::from_raw_parts(io.x0.clone(), n),
            BufferArg::from_raw_parts(or_d(&io.eps), sz(if flags.eps_given { n } else { 1 })),
            BufferArg::from_raw_parts(tl, batch),
            BufferArg::from_raw_parts(
                or_d(&io.offset),
                sz(if flags.offset == 1 {
                    batch * channels
                } else {
                    1
                }),
            ),
            BufferArg::from_raw_parts(state, st.len()),
            BufferArg::from_raw_parts(io.noised.clone(), n),
            BufferArg::from_raw_parts(or_d(&io.eps_out), sz(if flags.eps_out { n } else { 1 })),
            BufferArg::from_raw_parts(or_d(&io.target), sz(if flags.target_out { n } else { 1 })),
            BufferArg::from_raw_parts(io.per_sample.clone(), 3 * batch),
            DiffuseScalarsLaunch::new(
                per as u32,
                (per / channels) as u32,
                channels as u32,
                batch as u32,
                set.seed as u32,
                (set.seed >> 32) as u32,
                set.first_sample,
                set.shift as f32,
                set.loss_shift as f32,
                k as f32,
            ),
            flags,
        )
    };
    Ok(())
}

/// `undiffuse` in one launch: `x0` and/or ε from the prediction `pred` at the noised `x`
/// with per-sample `logsnr` (`batch` values); `x`, `pred` and the outputs hold
/// `batch · per` values.
///
/// Errors: `batch` or `per` zero, or both outputs left out.
#[allow(clippy::too_many_arguments)]
pub fn undiffuse<F, S, Sc, T, N, L, O>(
    client: &Client,
    gdf: &Gdf<S, Sc, T, N, L, O>,
    x: &Handle,
    logsnr: &Handle,
    pred: &Handle,
    x0_out: Option<&Handle>,
    eps_out: Option<&Handle>,
    batch: usize,
    per: usize,
) -> Result<(), KernelError>
where
    F: Float + CubeElement,
    S: Schedule + DeviceState,
    Sc: Scaler + CubeScaler + DeviceState,
    T: Target + CubeTarget,
    N: DeviceState,
    L: DeviceState,
{
    let n = per_sample("x", batch * per, batch)? * batch;
    if x0_out.is_none() && eps_out.is_none() {
        return Err(GdfError::Invalid {
            message: "undiffuse: neither x0 nor eps requested".into(),
        }
        .into());
    }
    check_len("logsnr", batch, batch)?;
    let st = framework_state(gdf)?;
    let state = upload_state::<F>(client, &st);
    let d = dummy(client);
    let (count, dim) = launch_dims(client, per.div_ceil(4) * batch);
    Launches::record();
    unsafe {
        undiffuse_kernel::launch_unchecked::<F, Sc, T>(
            client,
            count,
            dim,
            BufferArg::from_raw_parts(x.clone(), n),
            BufferArg::from_raw_parts(logsnr.clone(), batch),
            BufferArg::from_raw_parts(pred.clone(), n),
            BufferArg::from_raw_parts(state, st.len()),
            BufferArg::from_raw_parts(x0_out.cloned().unwrap_or_else(|| d.clone()), n),
            BufferArg::from_raw_parts(eps_out.cloned().unwrap_or_else(|| d.clone()), n),
            per as u32,
            batch as u32,
            x0_out.is_some(),
            eps_out.is_some(),
        )
    };
    Ok(())
}

/// The counter-based noise of the elements of a whole batch into `out` (`batch · per`
/// values): sample `b` draws `(seed, purpose, first_sample + b, step)`, element `j` of it
/// index `j` — the same numbers as [`crate::noise::fill_normal`] per sample. One launch.
#[cube(launch_unchecked)]
fn batch_noise_kernel<F: Float>(
    out: &mut [F],
    per: u32,
    batch: u32,
    seed_lo: u32,
    seed_hi: u32,
    purpose: u32,
    first_sample: u32,
    step: u32,
) {
    let blocks = per.div_ceil(32u32) * 8u32;
    let u = ABSOLUTE_POS as u32;
    if u < blocks * batch {
        let b = u / blocks;
        let k = u % blocks;
        let (z0, z1, z2, z3) =
            prim::normal_block(seed_lo, seed_hi, purpose, first_sample + b, step, k);
        for m in 0..4u32 {
            let j = prim::elem_of(k, m);
            if j < per {
                out[(b * per + j) as usize] = F::cast_from(prim::pick4(z0, z1, z2, z3, m));
            }
        }
    }
}

/// Fills `out` (`batch · per` values of `F`) with the counter noise of a batch (see the
/// kernel's docs); one launch.
#[allow(clippy::too_many_arguments)]
pub fn fill_batch_noise<F: Float + CubeElement>(
    client: &Client,
    out: &Handle,
    batch: usize,
    per: usize,
    seed: u64,
    purpose: Purpose,
    first_sample: u32,
    step: u32,
) {
    let (count, dim) = launch_dims(client, prim::blocks_for(per) * batch);
    Launches::record();
    unsafe {
        batch_noise_kernel::launch_unchecked::<F>(
            client,
            count,
            dim,
            BufferArg::from_raw_parts(out.clone(), batch * per),
            per as u32,
            batch as u32,
            seed as u32,
            (seed >> 32) as u32,
            purpose as u32,
            first_sample,
            step,
        )
    };
}
