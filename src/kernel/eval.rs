//! One kernel per component role, evaluating the component element by element on the
//! device (the `#[cube]` forms of [`super::component`]), and the device noise. These are
//! what the component tests compare against the host forms; they are also usable on their
//! own (e.g. λ of a whole batch of `t` on the device).

use cubecl::prelude::*;

#[allow(unused_imports)]
use crate::konst::Const;
use cubecl::server::Handle;

use super::component::*;
use super::prim;
use super::{
    check_buffers, check_index_range, launch_dims, read_vec, upload, upload_state, vector_width,
    KernelError, Launches,
};
use crate::noise::Purpose;

#[cube(launch_unchecked)]
fn schedule_kernel<F: Float, S: CubeSchedule>(t: &[F], shift: f32, state: &[F], out: &mut [F]) {
    if ABSOLUTE_POS < t.len() {
        out[ABSOLUTE_POS] = schedule_logsnr::<F, S>(t[ABSOLUTE_POS], F::cast_from(shift), state);
    }
}

#[cube(launch_unchecked)]
fn scaler_kernel<F: Float, Sc: CubeScaler>(l: &[F], state: &[F], a: &mut [F], b: &mut [F]) {
    if ABSOLUTE_POS < l.len() {
        let (x, y) = Sc::ab::<F>(l[ABSOLUTE_POS], state);
        a[ABSOLUTE_POS] = x;
        b[ABSOLUTE_POS] = y;
    }
}

/// `io = [x0, eps, a, b, x, p]` (each `n`), `out = [target, x0(x, p), eps(x, p)]`.
#[cube(launch_unchecked)]
fn target_kernel<F: Float, T: CubeTarget>(io: &[F], out: &mut [F], n: usize) {
    let i = ABSOLUTE_POS;
    if i < n {
        let a = io[2 * n + i];
        let b = io[3 * n + i];
        out[i] = T::target::<F>(io[i], io[n + i], a, b);
        out[n + i] = T::x0::<F>(io[4 * n + i], io[5 * n + i], a, b);
        out[2 * n + i] = T::eps::<F>(io[4 * n + i], io[5 * n + i], a, b);
    }
}

#[cube(launch_unchecked)]
fn cond_kernel<F: Float, N: CubeNoiseCond>(l: &[F], state: &[F], out: &mut [F]) {
    if ABSOLUTE_POS < l.len() {
        out[ABSOLUTE_POS] = noise_cond::<F, N>(l[ABSOLUTE_POS], state);
    }
}

#[cube(launch_unchecked)]
fn weight_kernel<F: Float, L: CubeLossWeight>(l: &[F], shift: f32, state: &[F], out: &mut [F]) {
    if ABSOLUTE_POS < l.len() {
        out[ABSOLUTE_POS] = loss_weight::<F, L>(l[ABSOLUTE_POS], F::cast_from(shift), state);
    }
}

/// `io = [a, b, a', b']` (each `n`), `out = [c_x0, c_eps, c_n]`.
#[cube(launch_unchecked)]
fn sampler_kernel<F: Float, S: CubeSampler>(io: &[F], out: &mut [F], n: usize) {
    let i = ABSOLUTE_POS;
    if i < n {
        let (c0, c1, c2) = S::coefficients::<F>(io[i], io[n + i], io[2 * n + i], io[3 * n + i]);
        out[i] = c0;
        out[n + i] = c1;
        out[2 * n + i] = c2;
    }
}

/// Unit `u` writes vector `u` of `W` values of `out` (`W` dividing its length): elements
/// `32·group0 + W·u ..` of the stream, from Philox block `8·group0 + W·u / 4`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn noise_kernel<W: Size>(
    out: &mut [Vector<f32, W>],
    seed_lo: u32,
    seed_hi: u32,
    purpose: u32,
    sample: u32,
    step: u32,
    group0: u32,
) {
    let w = W::value();
    let u = ABSOLUTE_POS;
    if u < out.len() {
        let j0 = u as u32 * u32::cast_from(w);
        let z = prim::normal_block(
            seed_lo,
            seed_hi,
            purpose,
            sample,
            step,
            group0 * 8u32 + j0 / 4u32,
        );
        out[u] = prim::block_vector::<f32, W>(z, j0);
    }
}

/// λ of every `t` with the call's `shift` (the schedule's wrapper and limits included).
///
/// Errors: [`KernelError::HostOnly`] for training-only schedules.
pub fn eval_schedule<F, S>(
    client: &Client,
    s: &S,
    t: &[F],
    shift: f32,
) -> Result<Vec<F>, KernelError>
where
    F: Float + CubeElement,
    S: CubeSchedule + crate::schedule::Schedule + DeviceState,
{
    if !S::ACCEPTS_T {
        return Err(KernelError::HostOnly {
            component: "a training-only schedule (it cannot evaluate t)",
        });
    }
    let mut st = Vec::new();
    schedule_state(s, &mut st)?;
    Ok(one_output(
        client,
        &st,
        t,
        |count, dim, input, state, out| unsafe {
            schedule_kernel::launch_unchecked::<F, S>(client, count, dim, input, shift, state, out)
        },
    ))
}

/// Uploads a component's state `st` and `input`, launches one unit per element
/// (`launch(count, dim, input, state, out)`, each buffer as long as the kernel reads it), and
/// reads the output (as long as `input`) back.
fn one_output<F: Float + CubeElement>(
    client: &Client,
    st: &[f64],
    input: &[F],
    launch: impl FnOnce(CubeCount, CubeDim, BufferArg, BufferArg, BufferArg),
) -> Vec<F> {
    let n = input.len();
    let state = upload_state::<F>(client, st);
    let ih = upload(client, input);
    let out = client.empty(core::mem::size_of_val(input));
    let (count, dim) = launch_dims(client, n);
    Launches::record();
    // SAFETY: each handle holds the length it is described with (the state at least one
    // value, as `upload_state` guarantees).
    let (input, state, output) = unsafe {
        (
            BufferArg::from_raw_parts(ih, n),
            BufferArg::from_raw_parts(state, st.len().max(1)),
            BufferArg::from_raw_parts(out.clone(), n),
        )
    };
    launch(count, dim, input, state, output);
    read_vec(client, out)
}

/// `(a, b)` of every λ.
pub fn eval_scaler<F, Sc>(client: &Client, s: &Sc, l: &[F]) -> Result<(Vec<F>, Vec<F>), KernelError>
where
    F: Float + CubeElement,
    Sc: CubeScaler + DeviceState,
{
    let mut st = Vec::new();
    s.write_state(&mut st)?;
    let state = upload_state::<F>(client, &st);
    let lh = upload(client, l);
    let a = client.empty(core::mem::size_of_val(l));
    let b = client.empty(core::mem::size_of_val(l));
    let (count, dim) = launch_dims(client, l.len());
    Launches::record();
    unsafe {
        scaler_kernel::launch_unchecked::<F, Sc>(
            client,
            count,
            dim,
            BufferArg::from_raw_parts(lh, l.len()),
            BufferArg::from_raw_parts(state, st.len().max(1)),
            BufferArg::from_raw_parts(a.clone(), l.len()),
            BufferArg::from_raw_parts(b.clone(), l.len()),
        )
    };
    Ok((read_vec(client, a), read_vec(client, b)))
}

/// `[target(x0, ε, a, b), x0(x, p, a, b), ε(x, p, a, b)]` element by element; every input
/// has the same length.
pub fn eval_target<F, T>(client: &Client, inputs: [&[F]; 6]) -> Result<[Vec<F>; 3], KernelError>
where
    F: Float + CubeElement,
    T: CubeTarget,
{
    three_outputs(
        client,
        "target input",
        &inputs,
        |count, dim, io, out, n| unsafe {
            target_kernel::launch_unchecked::<F, T>(
                client,
                count,
                dim,
                BufferArg::from_raw_parts(io, 6 * n),
                BufferArg::from_raw_parts(out, 3 * n),
                n,
            )
        },
    )
}

/// Uploads equal-length `inputs` back to back, launches one unit per element with room for
/// three outputs each (`launch(count, dim, inputs, outputs, n)`), and splits the result.
fn three_outputs<F: Float + CubeElement>(
    client: &Client,
    what: &'static str,
    inputs: &[&[F]],
    launch: impl FnOnce(CubeCount, CubeDim, Handle, Handle, usize),
) -> Result<[Vec<F>; 3], KernelError> {
    let n = inputs[0].len();
    for x in inputs {
        crate::error::check_len(what, n, x.len())?;
    }
    let io: Vec<F> = inputs.concat();
    let ioh = upload(client, &io);
    let out = client.empty(3 * n * core::mem::size_of::<F>());
    let (count, dim) = launch_dims(client, n);
    Launches::record();
    launch(count, dim, ioh, out.clone(), n);
    let v = read_vec::<F>(client, out);
    Ok([v[..n].to_vec(), v[n..2 * n].to_vec(), v[2 * n..].to_vec()])
}

/// The noise cond of every λ (wrapper included).
pub fn eval_noise_cond<F, N>(client: &Client, c: &N, l: &[F]) -> Result<Vec<F>, KernelError>
where
    F: Float + CubeElement,
    N: CubeNoiseCond + DeviceState,
{
    let mut st = Vec::new();
    c.write_state(&mut st)?;
    Ok(one_output(
        client,
        &st,
        l,
        |count, dim, input, state, out| unsafe {
            cond_kernel::launch_unchecked::<F, N>(client, count, dim, input, state, out)
        },
    ))
}

/// The loss weight of every λ with the call's `shift` (wrapper included).
pub fn eval_loss_weight<F, L>(
    client: &Client,
    w: &L,
    l: &[F],
    shift: f32,
) -> Result<Vec<F>, KernelError>
where
    F: Float + CubeElement,
    L: CubeLossWeight + DeviceState,
{
    let mut st = Vec::new();
    w.write_state(&mut st)?;
    Ok(one_output(
        client,
        &st,
        l,
        |count, dim, input, state, out| unsafe {
            weight_kernel::launch_unchecked::<F, L>(client, count, dim, input, shift, state, out)
        },
    ))
}

/// `[c_x0, c_ε, c_n]` of every `(a, b, a', b')`.
pub fn eval_sampler<F, S>(client: &Client, inputs: [&[F]; 4]) -> Result<[Vec<F>; 3], KernelError>
where
    F: Float + CubeElement,
    S: CubeSampler,
{
    three_outputs(
        client,
        "sampler input",
        &inputs,
        |count, dim, io, out, n| unsafe {
            sampler_kernel::launch_unchecked::<F, S>(
                client,
                count,
                dim,
                BufferArg::from_raw_parts(io, 4 * n),
                BufferArg::from_raw_parts(out, 3 * n),
                n,
            )
        },
    )
}

/// Writes the counter-based normals of elements `32·group0 ..` of the stream
/// `(seed, purpose, sample, step)` into `out` (`len` values), on the device: the same
/// numbers as [`crate::noise::fill_normal`] with `start = 32·group0`.
///
/// Errors: `out` shorter than `len` values.
#[allow(clippy::too_many_arguments)]
pub fn fill_normal_handle(
    client: &Client,
    out: &Handle,
    len: usize,
    seed: u64,
    purpose: Purpose,
    sample: u32,
    step: u32,
    group0: u32,
) -> Result<(), KernelError> {
    check_index_range("len", len)?;
    check_buffers::<f32>(&[("out (bytes)", Some(out), len)])?;
    let w = vector_width::<f32>(client, len, &[out]);
    let (count, dim) = launch_dims(client, len / w);
    Launches::record();
    // SAFETY: `out` holds `len` values (`len / w` vectors); the kernel guards its index.
    unsafe {
        noise_kernel::launch_unchecked(
            client,
            count,
            dim,
            w,
            BufferArg::from_raw_parts(out.clone(), len / w),
            seed as u32,
            (seed >> 32) as u32,
            purpose as u32,
            sample,
            step,
            group0,
        )
    };
    Ok(())
}

/// The normals of elements `32·group0 .. 32·group0 + len` as a host vector (see
/// [`fill_normal_handle`]). Errors: `len` past 32-bit indexing.
pub fn normals(
    client: &Client,
    len: usize,
    seed: u64,
    purpose: Purpose,
    sample: u32,
    step: u32,
    group0: u32,
) -> Result<Vec<f32>, KernelError> {
    check_index_range("len", len)?;
    let out = client.empty(len.max(1) * 4);
    fill_normal_handle(client, &out, len, seed, purpose, sample, step, group0)?;
    let mut v = read_vec::<f32>(client, out);
    v.truncate(len);
    Ok(v)
}
