//! The framework kernels: `diffuse` (one launch) and `undiffuse` (one launch), generic over
//! the framework's component types and the float type, over raw cubecl handles.

use cubecl::prelude::*;

#[allow(unused_imports)]
use crate::konst::Const;
use cubecl::server::Handle;

use super::component::*;
use super::prim;
use super::{
    check_buffers, check_index_range, launch_dims, units_per_sample, upload_state, vector_width,
    KernelError, Launches, Loads,
};
use crate::error::{per_sample, GdfError};
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

/// One element of diffuse (element `j` of sample `b`): ε (`e`, given or drawn, plus the
/// offset), then `(noised, target)`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn diffuse_elem<F: Float, T: CubeTarget>(
    offset_in: &[F],
    x: F,
    e: F,
    b: u32,
    j: u32,
    a: F,
    bb: F,
    args: &DiffuseScalars,
    #[comptime] flags: DiffuseFlags,
) -> (F, F, F) {
    let mut e = e;
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
    let mut t = e;
    if comptime!(flags.target_out) {
        t = T::target::<F>(x, e, a, bb);
    }
    (x * a + e * bb, e, t)
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
    /// Units per sample (each strides over the sample's vectors by this count).
    pub units: u32,
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
    /// Where a vector's inputs are loaded ([`super::Tuning::loads`]).
    pub loads: Loads,
    /// Two vectors per loop turn ([`super::Tuning::draw_pairs`]; never with
    /// [`Loads::OneAhead`]).
    pub pairs: bool,
}

/// Unit `g` handles sample `b = g / units` (`units` units per sample, `args.units`) and in it
/// the vectors `v = g mod units, v + units, …` of `W` elements (`W` divides `per`, so a
/// vector lies in one sample): with `W = 4` vector `v` is Philox block `v` of sample `b`
/// (elements `4v .. 4v + 4`, the host's block-major layout), loaded and stored as one 16-byte
/// vector; with `W = 1` one element, which takes its output of its block. The sample's λ and
/// `(a, b)` are computed once per unit, for all its vectors.
#[cube(launch_unchecked)]
// A comptime branch cannot be joined with a run-time condition in one `if`.
#[allow(clippy::too_many_arguments, clippy::collapsible_if)]
fn diffuse_kernel<
    F: Float,
    W: Size,
    S: CubeSchedule,
    Sc: CubeScaler,
    T: CubeTarget,
    N: CubeNoiseCond,
    L: CubeLossWeight,
>(
    x0: &[Vector<F, W>],
    eps_in: &[Vector<F, W>],
    tl: &[F],
    offset_in: &[F],
    state: &[F],
    noised: &mut [Vector<F, W>],
    eps_out: &mut [Vector<F, W>],
    target_out: &mut [Vector<F, W>],
    per_out: &mut [F],
    args: DiffuseScalars,
    #[comptime] flags: DiffuseFlags,
) {
    let w = W::value();
    let g = ABSOLUTE_POS as u32;
    if g < args.units * args.batch {
        let b = g / args.units;
        let pv = args.per / u32::cast_from(w);
        let mut l = tl[b as usize];
        if comptime!(!flags.logsnr_given) {
            l = schedule_logsnr::<F, S>(l, F::cast_from(args.shift), section::<F>(state, 0usize));
        }
        let (a, bb) = Sc::ab::<F>(l, section::<F>(state, 1usize));
        let mut v = g - b * args.units;
        if v == 0 {
            let nb = args.batch as usize;
            per_out[b as usize] = l;
            per_out[nb + b as usize] = noise_cond::<F, N>(l, section::<F>(state, 2usize));
            per_out[2 * nb + b as usize] = loss_weight::<F, L>(
                l,
                F::cast_from(args.loss_shift),
                section::<F>(state, 3usize),
            );
        }
        // Two vectors per turn: both blocks' noise drawn together (independent chains), then
        // both vectors' inputs loaded where `flags.loads` says (before or after the noise).
        if comptime!(flags.pairs) {
            while v + args.units < pv {
                let u = v + args.units;
                let (i, k) = ((b * pv + v) as usize, (b * pv + u) as usize);
                let (j0, j1) = (v * u32::cast_from(w), u * u32::cast_from(w));
                let mut inputs = (Vector::<F, W>::empty(), Vector::<F, W>::empty());
                let mut other = inputs;
                if comptime!(flags.loads == Loads::BeforeNoise) {
                    inputs = load_diffuse_inputs::<F, W>(x0, eps_in, i, flags);
                    other = load_diffuse_inputs::<F, W>(x0, eps_in, k, flags);
                }
                let z = diffuse_noise(&args, b, j0, flags);
                let zk = diffuse_noise(&args, b, j1, flags);
                if comptime!(flags.loads == Loads::AfterNoise) {
                    inputs = load_diffuse_inputs::<F, W>(x0, eps_in, i, flags);
                    other = load_diffuse_inputs::<F, W>(x0, eps_in, k, flags);
                }
                let outs =
                    diffuse_vector::<F, W, T>(offset_in, inputs, z, b, j0, a, bb, &args, flags);
                let outk =
                    diffuse_vector::<F, W, T>(offset_in, other, zk, b, j1, a, bb, &args, flags);
                store_diffuse::<F, W>(noised, eps_out, target_out, i, outs, flags);
                store_diffuse::<F, W>(noised, eps_out, target_out, k, outk, flags);
                v += 2u32 * args.units;
            }
        }
        // With `Loads::OneAhead` the unit's next vector is loaded before this one's noise.
        let mut next = (Vector::<F, W>::empty(), Vector::<F, W>::empty());
        if comptime!(flags.loads == Loads::OneAhead) {
            if v < pv {
                next = load_diffuse_inputs::<F, W>(x0, eps_in, (b * pv + v) as usize, flags);
            }
        }
        while v < pv {
            let j0 = v * u32::cast_from(w);
            let i = (b * pv + v) as usize;
            // `(x0, given ε)` of this vector, loaded where `flags.loads` says.
            let mut inputs = next;
            if comptime!(flags.loads == Loads::OneAhead) {
                let later = v + args.units;
                if later < pv {
                    next =
                        load_diffuse_inputs::<F, W>(x0, eps_in, (b * pv + later) as usize, flags);
                }
            }
            if comptime!(flags.loads == Loads::BeforeNoise) {
                inputs = load_diffuse_inputs::<F, W>(x0, eps_in, i, flags);
            }
            let z = diffuse_noise(&args, b, j0, flags);
            if comptime!(flags.loads == Loads::AfterNoise) {
                inputs = load_diffuse_inputs::<F, W>(x0, eps_in, i, flags);
            }
            let outs = diffuse_vector::<F, W, T>(offset_in, inputs, z, b, j0, a, bb, &args, flags);
            store_diffuse::<F, W>(noised, eps_out, target_out, i, outs, flags);
            v += args.units;
        }
    }
}

/// Stores diffuse's `(noised, ε, target)` of vector `i` (ε and the target where asked).
#[cube]
fn store_diffuse<F: Float, W: Size>(
    noised: &mut [Vector<F, W>],
    eps_out: &mut [Vector<F, W>],
    target_out: &mut [Vector<F, W>],
    i: usize,
    outs: (Vector<F, W>, Vector<F, W>, Vector<F, W>),
    #[comptime] flags: DiffuseFlags,
) {
    let (nv, eo, to) = outs;
    noised[i] = nv;
    if comptime!(flags.eps_out) {
        eps_out[i] = eo;
    }
    if comptime!(flags.target_out) {
        target_out[i] = to;
    }
}

/// The four normals of the Philox block holding element `j0` of sample `b` (ε), or zeros
/// when ε is given.
#[cube]
fn diffuse_noise(
    args: &DiffuseScalars,
    b: u32,
    j0: u32,
    #[comptime] flags: DiffuseFlags,
) -> (f32, f32, f32, f32) {
    prim::normals_or_zero(
        comptime!(!flags.eps_given),
        args.seed_lo,
        args.seed_hi,
        0u32,
        args.first_sample + b,
        0u32,
        j0 / 4u32,
    )
}

/// Diffuse's `(noised, ε, target)` of the vector at element `j0` of sample `b`, from its
/// inputs `(x0, given ε)` and its block's normals `z` (used when ε is not given).
#[cube]
#[allow(clippy::too_many_arguments)]
fn diffuse_vector<F: Float, W: Size, T: CubeTarget>(
    offset_in: &[F],
    inputs: (Vector<F, W>, Vector<F, W>),
    z: (f32, f32, f32, f32),
    b: u32,
    j0: u32,
    a: F,
    bb: F,
    args: &DiffuseScalars,
    #[comptime] flags: DiffuseFlags,
) -> (Vector<F, W>, Vector<F, W>, Vector<F, W>) {
    let w = W::value();
    let (xv, ev) = inputs;
    let (z0, z1, z2, z3) = z;
    let mut nv = Vector::<F, W>::empty();
    let mut eo = Vector::<F, W>::empty();
    let mut to = Vector::<F, W>::empty();
    #[unroll]
    for k in 0..w {
        let mut e = F::cast_from(prim::lane_normal(z0, z1, z2, z3, j0, k, w));
        if comptime!(flags.eps_given) {
            e = ev.extract(k);
        }
        let j = j0 + u32::cast_from(k);
        let (n, e, t) = diffuse_elem::<F, T>(offset_in, xv.extract(k), e, b, j, a, bb, args, flags);
        nv.insert(k, n);
        eo.insert(k, e);
        to.insert(k, t);
    }
    (nv, eo, to)
}

/// Diffuse's inputs at vector `i`: `x0`, and ε when it is given (else `x0` again, unused).
#[cube]
fn load_diffuse_inputs<F: Float, W: Size>(
    x0: &[Vector<F, W>],
    eps_in: &[Vector<F, W>],
    i: usize,
    #[comptime] flags: DiffuseFlags,
) -> (Vector<F, W>, Vector<F, W>) {
    let xv = x0[i];
    let mut ev = xv;
    if comptime!(flags.eps_given) {
        ev = eps_in[i];
    }
    (xv, ev)
}

/// Unit `u` handles vector `u` of `W` elements (in one sample, `W` dividing `per`).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn undiffuse_kernel<F: Float, W: Size, Sc: CubeScaler, T: CubeTarget>(
    x: &[Vector<F, W>],
    logsnr: &[F],
    pred: &[Vector<F, W>],
    state: &[F],
    x0_out: &mut [Vector<F, W>],
    eps_out: &mut [Vector<F, W>],
    per: u32,
    batch: u32,
    #[comptime] want_x0: bool,
    #[comptime] want_eps: bool,
) {
    let w = W::value();
    let u = ABSOLUTE_POS as u32;
    if u < per / u32::cast_from(w) * batch {
        let b = u * u32::cast_from(w) / per;
        let (a, bb) = Sc::ab::<F>(logsnr[b as usize], section::<F>(state, 1usize));
        let i = u as usize;
        let xv = x[i];
        let pv = pred[i];
        let mut x0v = Vector::<F, W>::empty();
        let mut ev = Vector::<F, W>::empty();
        #[unroll]
        for k in 0..w {
            x0v.insert(k, T::x0::<F>(xv.extract(k), pv.extract(k), a, bb));
            ev.insert(k, T::eps::<F>(xv.extract(k), pv.extract(k), a, bb));
        }
        if comptime!(want_x0) {
            x0_out[i] = x0v;
        }
        if comptime!(want_eps) {
            eps_out[i] = ev;
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

/// A placeholder for an unused binding (one vector of up to four 16-byte values).
pub(crate) fn dummy(client: &Client) -> Handle {
    client.empty(64)
}

/// `diffuse` of a whole batch in **one kernel launch** (SPEC §7): per-sample λ from `t`
/// (schedule wrapper, shift, limits) or given λ, `(a, b)` from the scaler, ε given or drawn
/// with the counter noise (bit-compatible with the host up to float rounding), offset noise,
/// and the outputs. The target is not written when it is ε itself.
///
/// Errors: lengths (`per` must be a multiple of `channels`), a buffer shorter than the call
/// reads or writes (named, in bytes), a non-positive or non-finite shift, a training-only
/// schedule given `t`, a component without a device form.
///
/// The device buffers' values are not checked: a NaN or infinite `x0`, `eps` or `t` gives
/// NaN outputs without an error (finding it would need a read back to the host, which
/// would stall the queue). The host's [`Gdf::diffuse_into`](crate::framework::Gdf::diffuse_into)
/// names it; run a batch through it to locate bad data.
///
/// ```
/// use gdf::framework::DiffuseArgs;
/// use gdf::kernel::cubecl::prelude::*;
/// use gdf::kernel::framework::{diffuse, DiffuseIo, DiffuseSettings};
/// gdf::gdf!(StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
///           target: Epsilon, noise_cond: CosineT, loss_weight: P2);
/// # let Some(client) = gdf::kernel::doc_client() else { return Ok(()) };
/// let (batch, per) = (2, 8);
/// let (x0, t) = (vec![0.5f32; batch * per], [0.25f32, 0.75]);
/// let io = DiffuseIo {
///     x0: client.create_from_slice(f32::as_bytes(&x0)),
///     eps: None, // drawn in the kernel, as the host draws it
///     tl: Some(client.create_from_slice(f32::as_bytes(&t))),
///     tl_is_logsnr: false,
///     offset: None,
///     noised: client.empty(4 * batch * per),
///     eps_out: None,
///     target: None,
///     per_sample: client.empty(4 * 3 * batch), // [logSNR; noise cond; loss weight]
/// };
/// let set = DiffuseSettings { batch, per, seed: 7, ..Default::default() };
/// diffuse::<f32, _, _, _, _, _, _>(&client, &StageC::default(), &io, &set)?;
///
/// // The host's numbers, up to float rounding.
/// let args = DiffuseArgs { t: Some(&t[..]), seed: 7, ..Default::default() };
/// let host = StageC::default().diffuse(&x0, batch, &args)?;
/// let bytes = client.read_one(io.noised.clone()).expect("reading the device buffer");
/// for (d, h) in f32::from_bytes(&bytes).iter().zip(&host.noised) {
///     assert!((d - h).abs() < 1e-5);
/// }
///
/// // A buffer too short for the call is refused before any launch, by name.
/// let short = DiffuseIo { noised: client.empty(4 * batch * per - 4), ..io };
/// let err = diffuse::<f32, _, _, _, _, _, _>(&client, &StageC::default(), &short, &set);
/// assert!(err.unwrap_err().to_string().contains("noised"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    crate::noise::check_sample_counters(set.first_sample, batch)?;
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
    check_index_range("x0 (batch × per)", n)?;
    // The offset noise's strength (given offsets are read only when it is positive), and
    // whether the target is written (not when it is ε itself).
    let k = crate::framework::check_offset_noise(gdf.offset_noise.get())?;
    let target_out = io.target.is_some() && !gdf.target.is_epsilon();
    check_buffers::<F>(&[
        ("x0 (bytes)", Some(&io.x0), n),
        ("eps (bytes)", io.eps.as_ref(), n),
        ("tl (bytes)", io.tl.as_ref(), batch),
        (
            "offset (bytes)",
            io.offset.as_ref().filter(|_| k > 0.0),
            batch * channels,
        ),
        ("noised (bytes)", Some(&io.noised), n),
        ("eps_out (bytes)", io.eps_out.as_ref(), n),
        (
            "target (bytes)",
            io.target.as_ref().filter(|_| target_out),
            n,
        ),
        ("per_sample (bytes)", Some(&io.per_sample), 3 * batch),
    ])?;
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
    let tuning = super::tuning();
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
        target_out,
        loads: tuning.loads,
        pairs: tuning.draw_pairs && tuning.loads != Loads::OneAhead,
    };
    let st = framework_state(gdf)?;
    let state = upload_state::<F>(client, &st);
    let d = dummy(client);
    let or_d = |h: &Option<Handle>| h.clone().unwrap_or_else(|| d.clone());
    let vectors = [&io.x0, &io.noised]
        .into_iter()
        .chain(io.eps.as_ref())
        .chain(io.eps_out.as_ref())
        .chain(io.target.as_ref());
    let w = vector_width::<F>(client, per, &vectors.collect::<Vec<_>>());
    let nv = n / w;
    let units = units_per_sample(client, per / w, nv);
    let (count, dim) = launch_dims(client, units * batch);
    let sz = |len: usize| len.max(1);
    Launches::record();
    // SAFETY: every element buffer holds `n` values (`n / w` vectors; the unused ones are
    // never touched, their one-vector placeholders are 64 bytes), the per-sample ones `batch`,
    // and the kernel guards its units against `units · batch` and its vectors against the
    // sample's, so it indexes below `n / w`.
    unsafe {
        diffuse_kernel::launch_unchecked::<F, S, Sc, T, N, L>(
            client,
            count,
            dim,
            w,
            BufferArg::from_raw_parts(io.x0.clone(), nv),
            BufferArg::from_raw_parts(or_d(&io.eps), sz(if flags.eps_given { nv } else { 1 })),
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
            BufferArg::from_raw_parts(io.noised.clone(), nv),
            BufferArg::from_raw_parts(or_d(&io.eps_out), sz(if flags.eps_out { nv } else { 1 })),
            BufferArg::from_raw_parts(or_d(&io.target), sz(if flags.target_out { nv } else { 1 })),
            BufferArg::from_raw_parts(io.per_sample.clone(), 3 * batch),
            DiffuseScalarsLaunch::new(
                per as u32,
                (per / channels) as u32,
                channels as u32,
                batch as u32,
                units as u32,
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
/// Errors: `batch` or `per` zero, both outputs left out, a buffer shorter than the call reads
/// or writes (named, in bytes).
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
    check_index_range("x (batch × per)", n)?;
    check_buffers::<F>(&[
        ("x (bytes)", Some(x), n),
        ("logsnr (bytes)", Some(logsnr), batch),
        ("pred (bytes)", Some(pred), n),
        ("x0_out (bytes)", x0_out, n),
        ("eps_out (bytes)", eps_out, n),
    ])?;
    let st = framework_state(gdf)?;
    let state = upload_state::<F>(client, &st);
    let d = dummy(client);
    let vectors = [x, pred].into_iter().chain(x0_out).chain(eps_out);
    let w = vector_width::<F>(client, per, &vectors.collect::<Vec<_>>());
    let nv = n / w;
    let (count, dim) = launch_dims(client, nv);
    Launches::record();
    // SAFETY: the element buffers hold `n` values (`n / w` vectors), `logsnr` `batch`; the
    // kernel guards its index against `n / w`.
    unsafe {
        undiffuse_kernel::launch_unchecked::<F, Sc, T>(
            client,
            count,
            dim,
            w,
            BufferArg::from_raw_parts(x.clone(), nv),
            BufferArg::from_raw_parts(logsnr.clone(), batch),
            BufferArg::from_raw_parts(pred.clone(), nv),
            BufferArg::from_raw_parts(state, st.len()),
            BufferArg::from_raw_parts(x0_out.cloned().unwrap_or_else(|| d.clone()), nv),
            BufferArg::from_raw_parts(eps_out.cloned().unwrap_or_else(|| d.clone()), nv),
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
/// index `j` — the same numbers as [`crate::noise::fill_normal`] per sample. One launch; unit
/// `g` handles the vectors `g mod units, + units, …` of sample `g / units`, two per loop turn
/// with `pairs` ([`super::Tuning::draw_pairs`]).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn batch_noise_kernel<F: Float, W: Size>(
    out: &mut [Vector<F, W>],
    per: u32,
    batch: u32,
    units: u32,
    seed_lo: u32,
    seed_hi: u32,
    purpose: u32,
    first_sample: u32,
    step: u32,
    #[comptime] pairs: bool,
) {
    let g = ABSOLUTE_POS as u32;
    if g < units * batch {
        let b = g / units;
        let pv = per / u32::cast_from(W::value());
        let mut v = g - b * units;
        let counter = (seed_lo, seed_hi, purpose, first_sample + b, step);
        if comptime!(pairs) {
            while v + units < pv {
                let u = v + units;
                let zv = noise_vector::<F, W>(counter, v);
                let zu = noise_vector::<F, W>(counter, u);
                out[(b * pv + v) as usize] = zv;
                out[(b * pv + u) as usize] = zu;
                v += 2u32 * units;
            }
        }
        while v < pv {
            out[(b * pv + v) as usize] = noise_vector::<F, W>(counter, v);
            v += units;
        }
    }
}

/// Vector `v` of a sample's counter noise; `counter` is `(seed_lo, seed_hi, purpose, sample,
/// step)`.
#[cube]
fn noise_vector<F: Float, W: Size>(counter: (u32, u32, u32, u32, u32), v: u32) -> Vector<F, W> {
    let (seed_lo, seed_hi, purpose, sample, step) = counter;
    let j0 = v * u32::cast_from(W::value());
    let z = prim::normal_block(seed_lo, seed_hi, purpose, sample, step, j0 / 4u32);
    prim::block_vector::<F, W>(z, j0)
}

/// Fills `out` (`batch · per` values of `F`) with the counter noise of a batch (see the
/// kernel's docs); one launch.
///
/// Errors: `batch` or `per` zero, `out` shorter than `batch · per` values.
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
) -> Result<(), KernelError> {
    let n = per_sample("out", batch * per, batch)? * batch;
    crate::noise::check_sample_counters(first_sample, batch)?;
    check_index_range("out (batch × per)", n)?;
    check_buffers::<F>(&[("out (bytes)", Some(out), n)])?;
    let w = vector_width::<F>(client, per, &[out]);
    let nv = batch * per / w;
    let units = units_per_sample(client, per / w, nv);
    let (count, dim) = launch_dims(client, units * batch);
    Launches::record();
    // SAFETY: `out` holds `batch · per` values (`nv` vectors); the kernel guards its units
    // against `units · batch` and its vectors against the sample's.
    unsafe {
        batch_noise_kernel::launch_unchecked::<F>(
            client,
            count,
            dim,
            w,
            BufferArg::from_raw_parts(out.clone(), nv),
            per as u32,
            batch as u32,
            units as u32,
            seed as u32,
            (seed >> 32) as u32,
            purpose as u32,
            first_sample,
            step,
            super::tuning().draw_pairs,
        )
    };
    Ok(())
}
