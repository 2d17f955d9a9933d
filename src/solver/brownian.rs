//! Brownian-tree noise: one Brownian path per seed, whatever the step count (SPEC-solvers
//! §0.6, k-diffusion's `BrownianTreeNoiseSampler`).
//!
//! The path `W(σ)` over `[σ_min, σ_max]` is built by dyadic bisection: `W(σ_min) = 0`,
//! `W(σ_max) = sqrt(σ_max − σ_min)·z_0`, and each tree node's midpoint is the Brownian bridge
//! between its ends, `(W(l) + W(r))/2 + sqrt(r − l)/2·z_node`, down to depth [`BrownianNoise::DEPTH`]; inside
//! the leaf the queried point takes its own bridge sample. Every `z` is a counter-based normal
//! ([`crate::noise`], keyed by node number or by the point's bits), so `W(σ)` is a fixed
//! function of `σ`, seed, sample and element: not of the step count, the chunking or the
//! threads. Since every value along a point's path is linear in the `z`'s, a draw
//! `(W(σ') − W(σ))/sqrt|σ' − σ|` is a linear combination of about 60 counter normals whose
//! coefficients are computed once per draw, not per element.
//!
//! The joint law is exact for points in different leaves (the Markov property of the
//! bridge); two points closer than `(σ_max − σ_min)·2⁻³⁰` may share a leaf, where their
//! increment is approximate.

use crate::error::{GdfError, Result};
use crate::float::Real;
use crate::noise::Purpose;

use super::runner::{DrawInfo, NoiseSource};
use super::{Grid, Span};

/// Depth of the bisection (node numbers stay below 2³¹).
const DEPTH: u32 = BrownianNoise::DEPTH;

/// One counter normal of a combination: (purpose, the counter's step word, coefficient).
pub(crate) type Term = (Purpose, u32, f64);

/// Brownian-tree noise for the SDE solvers (DPM++ 2M SDE, 3M SDE, DPM++ SDE, diffusers'
/// SDE-DPM-Solver++): a draw is the normalised increment of one fixed Brownian path in the
/// VE noise level `σ = e^(−λ/2)` over the interval the solver declares ([`Span`]), as
/// k-diffusion's default noise sampler for those solvers.
///
/// With plain [`CounterNoise`](super::CounterNoise) every step draws fresh normals, so the
/// same seed gives an unrelated sample at another step count; with a Brownian tree the
/// samples at 25, 50 and 100 steps are discretisations of the same SDE path and converge to
/// one another as the steps shrink. DPM++ SDE's two overlapping draws per step come out
/// correlated as the tree correlates them. Each draw is still exactly `N(0, 1)`; the numbers
/// differ from k-diffusion's (torch's generator and torchsde's tree are not reproduced).
///
/// A draw that is not a Brownian increment (ancestral and churn noise, LCM, TCD) is refused
/// when the solver makes it, with a message naming the step.
///
/// ```
/// use gdf::scaler::Vp;
/// use gdf::solver::{BrownianNoise, DpmPP2MSde, Grid, Run};
///
/// let (mu, s2) = (0.5, 0.25); // N(0.5, 0.5²) data: the exact denoiser is affine in x
/// let model = |x: &[f64], l: gdf::solver::Level, d: &mut [f64]| {
///     for (d, &x) in d.iter_mut().zip(x) {
///         *d = (s2 * l.a * x + l.b * l.b * mu) / (s2 * l.a * l.a + l.b * l.b);
///     }
///     Ok(())
/// };
/// let sample = |steps: usize| -> gdf::Result<Vec<f64>> {
///     let lams: Vec<f64> = (0..=steps).map(|i| -6.0 + 12.0 * i as f64 / steps as f64).collect();
///     let grid = Grid::new(&Vp, &lams)?;
///     let noise = BrownianNoise::for_grid(7, &grid)?;
///     Run::new(DpmPP2MSde::new(), grid, vec![0.3; 64], 1, noise)?.run(model)
/// };
/// // One path: 100 and 200 steps land close together, and closer than 25 and 50 do.
/// let (a, b, c, d) = (sample(25)?, sample(50)?, sample(100)?, sample(200)?);
/// let dist = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
/// assert!(dist(&c, &d) < 0.5 * dist(&a, &b));
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BrownianNoise {
    /// The seed.
    pub seed: u64,
    /// Counter index of the batch's first sample (as [`CounterNoise`](super::CounterNoise)'s).
    pub first_sample: u32,
    lo: f64,
    hi: f64,
    /// The combinations of the last two announced draws (a pass makes at most two).
    draws: [(usize, Vec<Term>); 2],
}

impl BrownianNoise {
    /// Depth of the tree: its leaves are `(sigma_max − sigma_min)·2⁻³⁰` wide.
    pub const DEPTH: u32 = 30;

    /// A tree over `σ ∈ [sigma_min, sigma_max]` (VE noise levels, `0 < sigma_min ≤
    /// sigma_max < ∞`); every interval a solver asks for must lie inside it, or reach past it
    /// to `σ = 0` or `σ = ∞` (such an interval gets an independent normal, exact in law since it
    /// shares no time with the tree).
    ///
    /// Errors: [`GdfError::OutOfRange`] naming `sigma_min` or `sigma_max`.
    pub fn new(seed: u64, sigma_min: f64, sigma_max: f64) -> Result<Self> {
        if !(sigma_min > 0.0 && sigma_min.is_finite()) {
            return Err(GdfError::OutOfRange {
                what: "sigma_min",
                value: sigma_min,
                expected: "a finite noise level > 0",
            });
        }
        if !(sigma_max >= sigma_min && sigma_max.is_finite()) {
            return Err(GdfError::OutOfRange {
                what: "sigma_max",
                value: sigma_max,
                expected: "a finite noise level ≥ sigma_min",
            });
        }
        Ok(Self {
            seed,
            first_sample: 0,
            lo: sigma_min,
            hi: sigma_max,
            draws: [(usize::MAX, Vec::new()), (usize::MAX, Vec::new())],
        })
    }

    /// A tree over the grid's finite nonzero noise levels, as k-diffusion takes
    /// `sigma_min, sigma_max` from the sampler's sigmas: the path then depends on the seed and
    /// the grid's two ends, not on the step count.
    ///
    /// Errors: [`GdfError::Invalid`] for a grid with no finite nonzero level.
    pub fn for_grid(seed: u64, grid: &Grid) -> Result<Self> {
        let mut range: Option<(f64, f64)> = None;
        for i in 0..=grid.steps() {
            let s = grid.level(i).sigma();
            if s > 0.0 && s.is_finite() {
                range = Some(match range {
                    None => (s, s),
                    Some((lo, hi)) => (lo.min(s), hi.max(s)),
                });
            }
        }
        let (lo, hi) = range.ok_or_else(|| GdfError::Invalid {
            message: "BrownianNoise::for_grid: the grid has no level with a finite nonzero \
                      noise level σ to span a Brownian tree"
                .into(),
        })?;
        Self::new(seed, lo, hi)
    }

    /// The same noise for a batch that starts at sample `first_sample` of a larger one.
    pub fn first_sample(mut self, first_sample: u32) -> Self {
        self.first_sample = first_sample;
        self
    }

    /// The tree's `(sigma_min, sigma_max)`.
    pub fn range(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }

    /// The combination a used draw stands for (`None` for a skipped draw); an error for a
    /// draw that is not a Brownian increment or leaves the tree. Shared by the host fill and
    /// the device kernel.
    pub(crate) fn draw_terms(&self, info: DrawInfo) -> Result<Option<Vec<Term>>> {
        if !info.used {
            return Ok(None);
        }
        let Some(Span { from, to }) = info.span else {
            return Err(GdfError::Invalid {
                message: format!(
                    "BrownianNoise: draw {} at step {} is fresh noise, not a Brownian \
                     increment (ancestral, churn or consistency-model noise); Brownian noise \
                     serves the SDE solvers (dpmpp_2m_sde, dpmpp_3m_sde, dpmpp_sde, \
                     sde-dpmsolver++); give this solver a CounterNoise",
                    info.draw, info.step
                ),
            });
        };
        self.increment(from.sigma(), to.sigma()).map(Some)
    }

    /// The counter normals and coefficients whose sum is the normalised increment from
    /// `sigma_from` to `sigma_to`.
    fn increment(&self, sigma_from: f64, sigma_to: f64) -> Result<Vec<Term>> {
        let open = |s: f64| s == 0.0 || s == f64::INFINITY;
        for s in [sigma_from, sigma_to] {
            let inside = s >= self.lo && s <= self.hi;
            if !(inside || open(s)) {
                return Err(GdfError::OutOfRange {
                    what: "Brownian span",
                    value: s,
                    expected: "a noise level σ inside the tree's [sigma_min, sigma_max] (or 0 \
                               or ∞); build the noise with BrownianNoise::for_grid of the \
                               run's grid",
                });
            }
        }
        if open(sigma_from) || open(sigma_to) || sigma_from == sigma_to {
            // Outside the tree (or an empty interval, whose increment is 0/0): an independent
            // normal keyed by the interval's finite end.
            let key = if open(sigma_from) {
                sigma_to
            } else {
                sigma_from
            };
            let side = u64::from(open(sigma_from));
            return Ok(vec![(
                Purpose::BrownianOpen,
                fold(key.to_bits() ^ side.rotate_right(1)),
                1.0,
            )]);
        }
        let mut v = self.point(sigma_to);
        for (p, k, c) in self.point(sigma_from) {
            add(&mut v, (p, k, -c));
        }
        let norm = (sigma_to - sigma_from).abs().sqrt().recip();
        v.retain(|t| t.2 != 0.0);
        for t in &mut v {
            t.2 *= norm;
        }
        Ok(v)
    }

    /// `W(σ)` as a combination of counter normals.
    fn point(&self, s: f64) -> Vec<Term> {
        let (mut l, mut r) = (self.lo, self.hi);
        let mut vl: Vec<Term> = Vec::new();
        let mut vr: Vec<Term> = vec![(Purpose::Brownian, 0, (r - l).sqrt())];
        let mut node = 1u32;
        for _ in 0..DEPTH {
            if s == l {
                return vl;
            }
            if s == r {
                return vr;
            }
            let mid = l + 0.5 * (r - l);
            if !(mid > l && mid < r) {
                break; // the interval cannot be split further in f64
            }
            let mut vm = lerp(&vl, &vr, 0.5);
            add(&mut vm, (Purpose::Brownian, node, 0.5 * (r - l).sqrt()));
            if s < mid {
                (r, vr) = (mid, vm);
                node *= 2;
            } else {
                (l, vl) = (mid, vm);
                node = 2 * node + 1;
            }
        }
        if s == l {
            return vl;
        }
        if s == r {
            return vr;
        }
        // The leaf's bridge at s, keyed by s itself.
        let t = (s - l) / (r - l);
        let mut v = lerp(&vl, &vr, t);
        let sd = ((s - l) * (r - s) / (r - l)).sqrt();
        add(&mut v, (Purpose::BrownianPoint, fold(s.to_bits()), sd));
        v
    }
}

/// `(1 − t)·a + t·b` of two combinations.
fn lerp(a: &[Term], b: &[Term], t: f64) -> Vec<Term> {
    let mut v: Vec<Term> = a.iter().map(|&(p, k, c)| (p, k, (1.0 - t) * c)).collect();
    for &(p, k, c) in b {
        add(&mut v, (p, k, t * c));
    }
    v
}

/// Adds one term to a combination.
fn add(v: &mut Vec<Term>, (p, k, c): Term) {
    match v.iter_mut().find(|t| t.0 == p && t.1 == k) {
        Some(t) => t.2 += c,
        None => v.push((p, k, c)),
    }
}

/// A 64-bit key folded to a counter word (splitmix64's finaliser).
fn fold(x: u64) -> u32 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

impl<F: Real> NoiseSource<F> for BrownianNoise {
    fn fill(
        &self,
        draw: usize,
        _step: usize,
        sample: usize,
        offset: usize,
        out: &mut [F],
    ) -> Result<()> {
        crate::noise::check_sample_counters(self.first_sample, sample + 1)?;
        let terms = match self.draws.iter().find(|d| d.0 == draw) {
            Some(d) => &d.1,
            None => {
                return Err(GdfError::Invalid {
                    message: format!(
                        "BrownianNoise: draw {draw} was filled before it was announced"
                    ),
                })
            }
        };
        let sample = self.first_sample.wrapping_add(sample as u32);
        let mut z = [F::zero(); 256];
        let mut start = offset as u64;
        for chunk in out.chunks_mut(z.len()) {
            chunk.fill(F::zero());
            let z = &mut z[..chunk.len()];
            for &(p, k, c) in terms {
                F::fill_normal(self.seed, p, sample, k, start, z);
                let c = F::of(c);
                for (o, &z) in chunk.iter_mut().zip(z.iter()) {
                    *o = *o + c * z;
                }
            }
            start += chunk.len() as u64;
        }
        Ok(())
    }

    fn on_draw(&mut self, info: DrawInfo) -> Result<()> {
        if let Some(terms) = self.draw_terms(info)? {
            self.draws[info.draw % 2] = (info.draw, terms);
        }
        Ok(())
    }
}
