//! Diffusion forcing on the device: [`DeviceForcing`], the device form of
//! [`Forcing`](crate::solver::Forcing) (one [`DeviceRun`] per group, one model call per row).

use cubecl::prelude::*;
use cubecl::server::Handle;

use super::solver::{DeviceNoise, DeviceRun};
use super::{check_buffers, check_index_range, launch_dims, upload, KernelError, Launches};
use crate::error::{check_nonempty, GdfError};
use crate::pipeline::Threshold;
use crate::solver::{ForcingPlan, Grid, GroupLevel, Solver};
use crate::target::{CubeTarget, Target};

/// What the model must evaluate next on the device ([`DeviceForcing::next_eval`]).
#[derive(Debug)]
pub struct DeviceForcingRequest<'r> {
    /// The model's input, `[batch][groups][group_len]` values.
    pub x: &'r Handle,
    /// Every group's level and role in this call (as the host's).
    pub groups: &'r [GroupLevel],
    /// The row (model call) number, 0-based.
    pub row: usize,
}

/// A batch of groups at their own noise levels on the device, one [`DeviceRun`] per group,
/// driven by a [`ForcingPlan`]: the device form of [`Forcing`](crate::solver::Forcing), with the
/// same layout (`[batch][groups][group_len]`) and the same requests.
///
/// Each row gathers the advancing groups' inputs into the model buffer and, once the model's
/// output is fed, each advancing group's part out of it (one launch each way per group) around
/// the group's own fused update, so every group keeps its own solver history and noise
/// (`noise(g)`: the host's `CounterNoise::new(seed)` is `DeviceNoise::Counter(seed)`).
///
/// ```
/// use gdf::kernel::cubecl::prelude::*;
/// use gdf::kernel::forcing::DeviceForcing;
/// use gdf::kernel::solver::DeviceNoise;
/// use gdf::scaler::Vp;
/// use gdf::solver::{ForcingPlan, Grid, UniPc};
/// use gdf::target::X0;
/// # let Some(client) = gdf::kernel::doc_client() else { return Ok(()) };
/// let grid = Grid::new(&Vp, &[-4.0, -1.0, 1.0, 4.0, f64::INFINITY])?;
/// let plan = ForcingPlan::staggered(3, 4, 1, 1, 0)?; // 3 frames, lag 1
/// let x_init: Vec<f32> = (0..3 * 8).map(|i| (i as f32 * 0.3).sin()).collect();
/// let x = client.create_from_slice(f32::as_bytes(&x_init));
/// let mut run =
///     DeviceForcing::<f32, _>::new(&client, UniPc::new(), grid, plan, &x, 1, |_| DeviceNoise::None)?;
/// while let Some(req) = run.next_eval()? {
///     let d = req.x.clone(); // the model's x0-prediction (here: its input)
///     run.feed::<X0>(&d)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DeviceForcing<'c, F, S: Solver> {
    client: &'c Client,
    runs: Vec<Option<DeviceRun<'c, F, S>>>,
    grids: Vec<Grid>,
    plan: ForcingPlan,
    batch: usize,
    len: usize,
    x: Handle,
    scratch: Handle,
    /// A group's part of the unconditional output ([`DeviceForcing::feed_guided`]), made on
    /// first use.
    scratch_u: Option<Handle>,
    states: Vec<GroupLevel>,
    row: usize,
    prepared: bool,
}

impl<'c, F: Float + CubeElement, S: Solver + Clone> DeviceForcing<'c, F, S> {
    /// Starts `plan.groups()` device runs of `solver` on `grid` from `x_init`
    /// (`[batch][groups][len]` values; `len` = `x_init`'s values / (`batch` · groups)), group
    /// `g` drawing from `noise(g)`.
    ///
    /// Errors: as [`DeviceRun::new`] and [`Forcing::new`](crate::solver::Forcing::new).
    pub fn new(
        client: &'c Client,
        solver: S,
        grid: Grid,
        plan: ForcingPlan,
        x_init: &Handle,
        batch: usize,
        noise: impl FnMut(usize) -> DeviceNoise,
    ) -> Result<Self, KernelError> {
        let grids = vec![grid; plan.groups()];
        Self::with_grids(client, solver, grids, plan, x_init, batch, noise)
    }

    /// As [`new`](Self::new), group `g` on `grids[g]`.
    pub fn with_grids(
        client: &'c Client,
        solver: S,
        grids: Vec<Grid>,
        plan: ForcingPlan,
        x_init: &Handle,
        batch: usize,
        mut noise: impl FnMut(usize) -> DeviceNoise,
    ) -> Result<Self, KernelError> {
        let groups = plan.groups();
        check_nonempty("batch", batch)?;
        let totals: Vec<usize> = grids.iter().map(|g| solver.nfe(g)).collect();
        let ready = plan.check_totals(&totals)?;
        let values = x_init.size_in_used() as usize / core::mem::size_of::<F>();
        let len = plan.group_len(values, batch)?;
        let n = batch * groups * len;
        check_index_range("batch × groups × group_len", n)?;
        let x = client.empty(n * core::mem::size_of::<F>());
        super::step::copy::<F>(client, x_init, &x, n)?;
        let scratch = upload(client, &vec![F::new(0.0); batch * len]);
        let mut runs = Vec::with_capacity(groups);
        let mut states = Vec::with_capacity(groups);
        for (g, grid) in grids.iter().enumerate() {
            let level = grid.level(if ready[g] { grid.steps() } else { 0 });
            runs.push(if ready[g] {
                None
            } else {
                group_copy::<F>(client, &x, &scratch, batch, groups, len, g, false)?;
                let r = DeviceRun::new(
                    client,
                    solver.clone(),
                    grid.clone(),
                    &scratch,
                    batch,
                    len,
                    noise(g),
                )?;
                Some(r)
            });
            states.push(GroupLevel {
                level,
                advances: false,
                evals_done: plan.start()[g],
                done: ready[g],
            });
        }
        Ok(Self {
            client,
            runs,
            grids,
            plan,
            batch,
            len,
            x,
            scratch,
            scratch_u: None,
            states,
            row: 0,
            prepared: false,
        })
    }
}

impl<'c, F: Float + CubeElement, S: Solver> DeviceForcing<'c, F, S> {
    /// The current latents, `[batch][groups][group_len]`.
    pub fn x(&self) -> &Handle {
        &self.x
    }

    /// The plan.
    pub fn plan(&self) -> &ForcingPlan {
        &self.plan
    }

    /// Rows (model calls) fed so far.
    pub fn rows_done(&self) -> usize {
        self.row
    }

    /// Sets every group's x0 thresholding ([`DeviceRun::set_threshold`]).
    pub fn set_threshold(&mut self, threshold: Threshold) -> Result<(), KernelError> {
        for r in self.runs.iter_mut().flatten() {
            r.set_threshold(threshold)?;
        }
        Ok(())
    }

    /// The next model call, or `None` once every row is fed. Calling it again before a feed
    /// returns the same request.
    pub fn next_eval(&mut self) -> Result<Option<DeviceForcingRequest<'_>>, KernelError> {
        if self.row == self.plan.rows() {
            return Ok(None);
        }
        if !self.prepared {
            let adv = self.plan.advancing(self.row).expect("row < rows");
            let groups = self.plan.groups();
            for (g, &a) in adv.iter().enumerate() {
                self.states[g].advances = a;
                if !a {
                    continue;
                }
                let run = self.runs[g].as_mut().expect("an advancing group has a run");
                let req = run
                    .next_eval()?
                    .expect("the plan's totals were checked against the runs");
                self.states[g].level = req.level;
                group_copy::<F>(
                    self.client,
                    &self.x,
                    &req.x,
                    self.batch,
                    groups,
                    self.len,
                    g,
                    true,
                )?;
            }
            self.prepared = true;
        }
        Ok(Some(DeviceForcingRequest {
            x: &self.x,
            groups: &self.states,
            row: self.row,
        }))
    }

    /// Feeds the model's raw prediction of `T` (`[batch][groups][group_len]`; the parts of
    /// groups that do not advance are ignored). Returns `true` once the plan is complete.
    pub fn feed<T: CubeTarget + Target + Default>(
        &mut self,
        pred: &Handle,
    ) -> Result<bool, KernelError> {
        self.feed_each(pred, |run, _, p| run.feed::<T>(p))
    }

    /// Feeds the model's x0-prediction.
    pub fn feed_x0(&mut self, d: &Handle) -> Result<bool, KernelError> {
        self.feed_each(d, |run, _, p| run.feed_x0(p))
    }

    /// Feeds a conditional and an (optional) unconditional raw prediction of `T` through each
    /// advancing group's own guider ([`DeviceRun::feed_guided`]; `layout` describes one group's
    /// `[batch][group_len]` part), as the host's
    /// [`Forcing::feed_guided`](crate::solver::Forcing::feed_guided).
    ///
    /// Errors: `guiders` not one per group; as [`DeviceRun::feed_guided`].
    pub fn feed_guided<G: crate::guidance::Guidance, T: CubeTarget + Target + Default>(
        &mut self,
        guiders: &[G],
        layout: &crate::guidance::Layout,
        cond: &Handle,
        uncond: Option<&Handle>,
    ) -> Result<bool, KernelError> {
        crate::error::check_len("guiders", self.plan.groups(), guiders.len())?;
        let groups = self.plan.groups();
        let n = self.batch * groups * self.len;
        if let Some(u) = uncond {
            check_buffers::<F>(&[("unconditional output (bytes)", Some(u), n)])?;
        }
        let (client, batch, len) = (self.client, self.batch, self.len);
        if uncond.is_some() && self.scratch_u.is_none() {
            self.scratch_u = Some(upload(client, &vec![F::new(0.0); batch * len]));
        }
        let scratch_u = uncond.and(self.scratch_u.clone());
        self.feed_each(cond, |run, g, c| {
            if let (Some(u), Some(su)) = (uncond, scratch_u.as_ref()) {
                group_copy::<F>(client, u, su, batch, groups, len, g, false)?;
            }
            run.feed_guided::<G, T>(&guiders[g], layout, c, scratch_u.as_ref())
        })
    }

    fn feed_each(
        &mut self,
        pred: &Handle,
        mut f: impl FnMut(
            &mut DeviceRun<'c, F, S>,
            usize,
            &Handle,
        ) -> Result<Option<usize>, KernelError>,
    ) -> Result<bool, KernelError> {
        if !self.prepared {
            return Err(GdfError::Invalid {
                message: "no pending model call: call next_eval before feeding".into(),
            }
            .into());
        }
        let groups = self.plan.groups();
        let n = self.batch * groups * self.len;
        check_buffers::<F>(&[("model output (bytes)", Some(pred), n)])?;
        for g in 0..groups {
            if !self.states[g].advances {
                continue;
            }
            let (client, batch, len) = (self.client, self.batch, self.len);
            group_copy::<F>(client, pred, &self.scratch, batch, groups, len, g, false)?;
            let run = self.runs[g].as_mut().expect("an advancing group has a run");
            f(run, g, &self.scratch)?;
            group_copy::<F>(client, &self.x, run.x(), batch, groups, len, g, true)?;
            let level = self.grids[g].level(run.steps_done());
            self.states[g].advanced(run.remaining_evals() == 0, level);
        }
        self.row += 1;
        self.prepared = false;
        Ok(self.row == self.plan.rows())
    }
}

/// Copies group `g` between `big` (`[batch][groups][len]`) and `small` (`[batch][len]`): into
/// `big` when `to_big`, out of it otherwise (one launch).
#[allow(clippy::too_many_arguments)]
fn group_copy<F: Float + CubeElement>(
    client: &Client,
    big: &Handle,
    small: &Handle,
    batch: usize,
    groups: usize,
    len: usize,
    g: usize,
    to_big: bool,
) -> Result<(), KernelError> {
    let m = batch * len;
    check_buffers::<F>(&[
        ("group buffer (bytes)", Some(small), m),
        ("batch buffer (bytes)", Some(big), m * groups),
    ])?;
    let (count, dim) = launch_dims(client, m);
    Launches::record();
    // SAFETY: `small` holds `batch · len` values and `big` `batch · groups · len` (checked);
    // the kernel guards its index and writes `(s·groups + g)·len + e < batch·groups·len`.
    unsafe {
        group_kernel::launch_unchecked::<F>(
            client,
            count,
            dim,
            BufferArg::from_raw_parts(big.clone(), m * groups),
            BufferArg::from_raw_parts(small.clone(), m),
            len as u32,
            groups as u32,
            g as u32,
            m as u32,
            to_big,
        )
    };
    Ok(())
}

#[cube(launch_unchecked)]
fn group_kernel<F: Float>(
    big: &mut [F],
    small: &mut [F],
    len: u32,
    groups: u32,
    g: u32,
    m: u32,
    #[comptime] to_big: bool,
) {
    let i = ABSOLUTE_POS;
    if i < m as usize {
        let s = i / len as usize;
        let e = i % len as usize;
        let j = (s * groups as usize + g as usize) * len as usize + e;
        if to_big {
            big[j] = small[i];
        } else {
            small[i] = big[j];
        }
    }
}
