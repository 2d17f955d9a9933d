//! UniPC (Zhao et al. 2023; diffusers `UniPCMultistepScheduler`), data prediction (SPEC §3).

use crate::error::Result;

use super::{
    check_finite_start, check_order, half_step, phi, phi_m, solve, Buf, Dst, Eval, Grid, Pass, Row,
    Solver, Src,
};

/// UniPC's `B(h)` variant (`solver_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UniPcVariant {
    /// `B(h) = h`.
    Bh1,
    /// `B(h) = 1 − e^{−h}` (diffusers' default).
    #[default]
    Bh2,
}

/// Settings of [`UniPc`] (diffusers' defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct UniPcSettings {
    /// `solver_order`, 1 to 3 (default 2).
    pub order: usize,
    /// `solver_type` (default bh2).
    pub variant: UniPcVariant,
    /// `lower_order_final` (default true): the order at step i is capped at `N − i`.
    pub lower_order_final: bool,
    /// `disable_corrector`: predictor steps whose output is not corrected.
    pub disable_corrector: Vec<usize>,
}

impl Default for UniPcSettings {
    fn default() -> Self {
        Self {
            order: 2,
            variant: UniPcVariant::Bh2,
            lower_order_final: true,
            disable_corrector: Vec::new(),
        }
    }
}

/// UniPC multistep: predictor UniP-p and the free corrector UniC-p, folded into one pass per
/// evaluation (the corrected sample is kept in [`Buf::Aux`]).
///
/// The step to `λ = +∞` returns `D` exactly, for bh1 too, where diffusers returns NaN
/// (`B(∞)·0`; golden quirk 1), and for bh2 at orders ≥ 2 without `lower_order_final`, where
/// diffusers' final sample is NaN or ±inf as well (seen in a sweep of its runs): this is the
/// finite limit. A zero-length step leaves `x`
/// unchanged without evaluating the (0/0) higher-order coefficients (quirk 2).
#[derive(Clone, Debug, Default)]
pub struct UniPc {
    s: UniPcSettings,
    step: usize,
    prev_order: usize,
}

impl UniPc {
    /// With diffusers' defaults (order 2, bh2).
    pub fn new() -> Self {
        Self::default()
    }
    /// With `settings` (order 1 to 3).
    ///
    /// ```
    /// use gdf::solver::{UniPc, UniPcSettings, UniPcVariant};
    /// let s = UniPc::with(UniPcSettings { order: 3, variant: UniPcVariant::Bh1, ..Default::default() })?;
    /// assert_eq!(s.order_at(0, 10), 1); // warm-up
    /// assert_eq!(s.order_at(5, 10), 3);
    /// assert_eq!(s.order_at(9, 10), 1); // lower_order_final
    /// assert!(UniPc::with(UniPcSettings { order: 4, ..Default::default() }).is_err());
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn with(settings: UniPcSettings) -> Result<Self> {
        check_order("solver_order", settings.order, 3)?;
        Ok(Self {
            s: settings,
            step: 0,
            prev_order: 0,
        })
    }
    /// The predictor order at step `i` of `n`.
    pub fn order_at(&self, i: usize, n: usize) -> usize {
        let mut p = self.s.order.min(i + 1);
        if self.s.lower_order_final {
            p = p.min(n.saturating_sub(i)).max(1);
        }
        p
    }

    fn big_b(&self, h: f64) -> f64 {
        match self.s.variant {
            UniPcVariant::Bh1 => h,
            UniPcVariant::Bh2 => phi(h),
        }
    }

    /// `b_k`, k = 1..=p.
    fn bs(&self, h: f64, p: usize) -> [f64; 3] {
        let mut out = [0.0; 3];
        let mut fact = 1.0;
        let phi1 = phi_m(1, -h);
        for (k, o) in out.iter_mut().enumerate().take(p) {
            fact *= (k + 1) as f64;
            let v = fact * phi_m(k as u32 + 2, -h);
            *o = match self.s.variant {
                UniPcVariant::Bh1 => v,
                UniPcVariant::Bh2 => v / phi1,
            };
        }
        out
    }
}

/// `R[j][k] = r_k^j` for the `m` ratios given (the last one 1).
fn vander(r: &[f64], m: usize) -> [[f64; 3]; 3] {
    let mut out = [[0.0; 3]; 3];
    for (j, row) in out.iter_mut().enumerate().take(m) {
        for (k, v) in row.iter_mut().enumerate().take(m) {
            *v = r[k].powi(j as i32);
        }
    }
    out
}

impl Solver for UniPc {
    fn takes_threshold(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "UniPCMultistepScheduler"
    }
    fn start(&mut self, grid: &Grid) -> Result<()> {
        check_finite_start("UniPCMultistepScheduler", grid)?;
        self.step = 0;
        self.prev_order = 0;
        Ok(())
    }

    fn plan(&mut self, grid: &Grid) -> Option<Eval> {
        let i = self.step;
        let n = grid.steps();
        if i >= n {
            return None;
        }
        let (l, ln) = (grid.level(i), grid.level(i + 1));
        let aux = Src::Buf(Buf::Aux);
        // Row 1: the corrector UniC (order of the previous predictor) into Aux.
        let corr = i > 0 && !self.s.disable_corrector.contains(&(i - 1));
        let mut r1 = Row::new(Dst::Buf(Buf::Aux));
        if corr {
            let p = self.prev_order;
            let l0 = grid.level(i - 1);
            let hc = half_step(&l0, &l);
            r1 = r1.t(aux, l.b / l0.b).t(Src::D(1), l.a * phi(hc));
            let mut r = [1.0f64; 3];
            for (k, rk) in r.iter_mut().enumerate().take(p - 1) {
                *rk = half_step(&l0, &grid.level(i - 2 - k)) / hc;
            }
            r[p - 1] = 1.0;
            let b = self.bs(hc, p);
            let rho = if p == 1 {
                [0.5, 0.0, 0.0]
            } else {
                solve(vander(&r, p), b, p)
            };
            let c = l.a * self.big_b(hc);
            for k in 0..p - 1 {
                let ck = c * rho[k] / r[k];
                r1 = r1.t(Src::D(k as u8 + 2), ck).t(Src::D(1), -ck);
            }
            r1 = r1
                .t(Src::D(0), c * rho[p - 1])
                .t(Src::D(1), -c * rho[p - 1]);
        } else {
            r1 = r1.t(Src::Buf(Buf::X), 1.0);
        }
        // Row 2: the predictor UniP from the corrected sample.
        let p = self.order_at(i, n);
        let h = half_step(&l, &ln);
        let mut r2 = Row::new(Dst::Buf(Buf::X));
        if ln.lam == f64::INFINITY {
            r2 = r2.t(Src::D(0), 1.0);
        } else if h == 0.0 {
            r2 = r2.t(aux, 1.0);
        } else {
            r2 = r2.t(aux, ln.b / l.b).t(Src::D(0), ln.a * phi(h));
            if p >= 2 {
                let mut r = [1.0f64; 3];
                for (k, rk) in r.iter_mut().enumerate().take(p - 1) {
                    *rk = half_step(&l, &grid.level(i - 1 - k)) / h;
                }
                let rho = if p == 2 {
                    [0.5, 0.0, 0.0]
                } else {
                    let b = self.bs(h, p - 1);
                    solve(vander(&r, p - 1), b, p - 1)
                };
                let c = ln.a * self.big_b(h);
                for k in 0..p - 1 {
                    let ck = c * rho[k] / r[k];
                    r2 = r2.t(Src::D(k as u8 + 1), ck).t(Src::D(0), -ck);
                }
            }
        }
        self.prev_order = p;
        self.step += 1;
        Some(Eval::of_order(i, l, Pass::one(r1).row(r2), p))
    }

    fn nfe(&self, grid: &Grid) -> usize {
        grid.steps()
    }

    fn history(&self) -> usize {
        self.s.order + 1
    }
}
