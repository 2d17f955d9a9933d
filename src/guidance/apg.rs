//! Adaptive projected guidance (Sadat et al. 2024; diffusers' `AdaptiveProjectedGuidance`).

use super::cfg::{check_rescale, check_scale, is_noop};
use super::{
    out_of_range, Cells, Coef, Gate, Guidance, Layout, Moments, MomentumState, Plan, Space,
    StepCtx, COND,
};
use crate::error::{GdfError, Result};

/// The dimensions APG's norms and inner products run over.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum NormDims {
    /// Every non-batch dimension: one group per sample (the default).
    #[default]
    AllButBatch,
    /// These dimensions of the full tensor `[B, sample_shape…]` (diffusers'
    /// `adaptive_projected_guidance_norm_dim`; negative indices count from the end, 0 is the
    /// batch dimension). Each combination of the other indices is one group.
    Dims(Vec<isize>),
}

/// Adaptive projected guidance. Per group (by default per sample), with `Δ = c − u`:
///
/// 1. momentum `β` (not `None`): `m ← Δ + β·m` (m = 0 at step 0; updated on enabled steps
///    only), then `Δ = m`;
/// 2. norm threshold `r > 0`: `Δ ← Δ·min(1, r/‖Δ‖)`;
/// 3. `ĉ = c/max(‖c‖, 1e-12)`, `Δ∥ = ⟨Δ, ĉ⟩·ĉ`, `Δ⊥ = Δ − Δ∥`;
/// 4. `out = u + w·(Δ⊥ + η·Δ∥)` (diffusers' default form), or with [`Apg::original`]
///    `out = c + w·(Δ⊥ + η·Δ∥)`, which is the paper's form with `w_paper = w + 1`.
///
/// The paper (and ComfyUI) apply it to the x0-prediction D, **which is where it should be
/// used** ([`Space::X0`]); diffusers applies it to the raw output, a different guider unless
/// the target is x0. The host path reads `c`, `u`, `m` once (their sums and pairwise products
/// per group), then writes `out` and the new `m` in one pass.
///
/// ```
/// use gdf::guidance::{Apg, Guidance, Layout, StepCtx};
/// // the paper's form with w_paper = 5 and η = 0 (SPEC §8.2): out = c + 4·Δ⊥
/// let mut g = Apg::new(4.0)?;
/// g.original = true;
/// g.eta = 0.0;
/// g.norm_threshold = 0.0;
/// let mut out = [0.0; 2];
/// g.guide(&StepCtx::new(0, 1)?, &Layout::flat(1, 2)?, &[3.0f64, 4.0], Some(&[1.0, 0.0]), &mut out)?;
/// assert!((out[0] - 0.44).abs() < 1e-12 && (out[1] - 5.92).abs() < 1e-12);
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Apg {
    /// The scale `w`, finite and ≥ 0. Default 7.5.
    pub scale: f64,
    /// The weight η of the parallel part, in `[0, 1]`. Default 1.
    pub eta: f64,
    /// The norm threshold `r ≥ 0` (`adaptive_projected_guidance_rescale`); 0 = off. Default 15.
    pub norm_threshold: f64,
    /// The momentum `β` in `[−1, 1]`, or `None` (no momentum). Default `None`; the paper
    /// recommends a negative one (e.g. −0.5) with η = 0.
    pub momentum: Option<f64>,
    /// The norm dimensions. Default: all non-batch dimensions.
    pub norm_dims: NormDims,
    /// The rescale φ in `[0, 1]` (diffusers' `guidance_rescale`, over whole samples). Default 0.
    pub rescale: f64,
    /// The `c + w·U` form (`use_original_formulation`). Default `false`.
    pub original: bool,
    /// When guidance is on. Default: every step.
    pub gate: Gate,
    state: MomentumState,
}

impl Default for Apg {
    fn default() -> Self {
        Self {
            scale: 7.5,
            eta: 1.0,
            norm_threshold: 15.0,
            momentum: None,
            norm_dims: NormDims::AllButBatch,
            rescale: 0.0,
            original: false,
            gate: Gate::default(),
            state: MomentumState::default(),
        }
    }
}

impl Apg {
    /// APG with scale `w` and diffusers' other defaults (η = 1, r = 15, no momentum).
    pub fn new(scale: f64) -> Result<Self> {
        let g = Self {
            scale,
            ..Self::default()
        };
        g.validate()?;
        Ok(g)
    }

    /// The momentum state (the running average of `Δ`).
    pub fn state(&self) -> &MomentumState {
        &self.state
    }

    /// The reduction groups for `layout`.
    pub fn cells(&self, layout: &Layout) -> Result<Cells> {
        let dims = match &self.norm_dims {
            NormDims::AllButBatch => return Ok(Cells::per_sample()),
            NormDims::Dims(d) => d,
        };
        let shape = layout.sample_shape();
        let rank = shape.len() + 1;
        if dims.is_empty() {
            return Err(GdfError::Invalid {
                message: "`adaptive_projected_guidance_norm_dim` is empty, expected at least \
                          one dimension"
                    .into(),
            });
        }
        let mut reduced = vec![false; rank];
        for &d in dims {
            let r = if d < 0 { d + rank as isize } else { d };
            if r < 0 || r >= rank as isize {
                return Err(GdfError::Invalid {
                    message: format!(
                        "`adaptive_projected_guidance_norm_dim` has {d}, expected a dimension \
                         in [-{rank}, {rank}) of the tensor [B, {shape:?}]"
                    ),
                });
            }
            if reduced[r as usize] {
                return Err(GdfError::Invalid {
                    message: format!(
                        "`adaptive_projected_guidance_norm_dim` names dimension {d} twice"
                    ),
                });
            }
            reduced[r as usize] = true;
        }
        let across_batch = reduced[0];
        let keep: Vec<usize> = (0..shape.len()).filter(|&i| !reduced[i + 1]).collect();
        if keep.is_empty() {
            return Ok(Cells {
                per_sample: 1,
                index: None,
                across_batch,
            });
        }
        let per_sample: usize = keep.iter().map(|&i| shape[i]).product();
        if per_sample > u32::MAX as usize {
            return Err(GdfError::Invalid {
                message: "too many APG norm groups per sample".into(),
            });
        }
        let n = layout.per_sample();
        let mut index = vec![0u32; n];
        let mut coord = vec![0usize; shape.len()];
        for slot in index.iter_mut() {
            let mut cell = 0usize;
            for &i in &keep {
                cell = cell * shape[i] + coord[i];
            }
            *slot = cell as u32;
            for i in (0..shape.len()).rev() {
                coord[i] += 1;
                if coord[i] < shape[i] {
                    break;
                }
                coord[i] = 0;
            }
        }
        Ok(Cells {
            per_sample,
            index: Some(index),
            across_batch,
        })
    }
}

impl Guidance for Apg {
    fn name(&self) -> &'static str {
        "AdaptiveProjectedGuidance"
    }

    fn space(&self) -> Space {
        Space::X0
    }

    fn validate(&self) -> Result<()> {
        check_scale(self.scale)?;
        if !(0.0..=1.0).contains(&self.eta) {
            return Err(out_of_range("eta", self.eta, "0 ≤ η ≤ 1"));
        }
        if self.norm_threshold.is_nan() || self.norm_threshold < 0.0 {
            return Err(out_of_range(
                "adaptive_projected_guidance_rescale",
                self.norm_threshold,
                "a norm threshold r ≥ 0 (0 = off)",
            ));
        }
        if let Some(b) = self.momentum {
            if !(-1.0..=1.0).contains(&b) {
                return Err(out_of_range(
                    "adaptive_projected_guidance_momentum",
                    b,
                    "−1 ≤ β ≤ 1, or None",
                ));
            }
        }
        check_rescale(self.rescale)?;
        self.gate.validate()
    }

    fn enabled(&self, ctx: &StepCtx) -> Result<bool> {
        self.validate()?;
        Ok(self.gate.open(ctx)? && !is_noop(self.scale, self.original))
    }

    fn linear(&self, ctx: &StepCtx) -> Result<Option<[f64; 2]>> {
        Ok(if self.rescale == 0.0 && !self.enabled(ctx)? {
            Some([1.0, 0.0])
        } else {
            None
        })
    }

    fn plan(&self, ctx: &StepCtx, layout: &Layout) -> Result<Plan> {
        let on = self.enabled(ctx)?;
        Ok(Plan {
            enabled: on,
            reads_uncond: on,
            reduce: on || self.rescale > 0.0,
            momentum: if on { self.momentum } else { None },
            rescale: self.rescale,
            cells: if on {
                self.cells(layout)?
            } else {
                Cells::per_sample()
            },
        })
    }

    fn coefficients(&self, _ctx: &StepCtx, plan: &Plan, g: &Moments) -> Coef {
        if !plan.enabled {
            return [1.0, 0.0, 0.0, 0.0];
        }
        let bm = plan.momentum.unwrap_or(0.0);
        // d = (c − u) + β·m, as coefficients on (c, u, m, c − u)
        let d = [0.0, 0.0, bm, 1.0];
        let s = if self.norm_threshold > 0.0 {
            let norm = g.dot_of(d, d).max(0.0).sqrt();
            if norm > self.norm_threshold {
                self.norm_threshold / norm
            } else {
                1.0
            }
        } else {
            1.0
        };
        let nc = g.dot[COND][COND].sqrt().max(1e-12);
        let t = g.dot_of(d, [1.0, 0.0, 0.0, 0.0]) / (nc * nc);
        // out = base + w·s·d − w·s·(1 − η)·t·c
        let w = self.scale;
        let (bc, bu) = if self.original {
            (1.0, 0.0)
        } else {
            (0.0, 1.0)
        };
        [bc - w * s * (1.0 - self.eta) * t, bu, w * s * bm, w * s]
    }

    fn momentum_buffer(&mut self) -> Option<&mut MomentumState> {
        Some(&mut self.state)
    }
}
