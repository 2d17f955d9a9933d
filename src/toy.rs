//! A toy data distribution with an exact denoiser: a 2-D Gaussian mixture.
//!
//! Noising a Gaussian mixture with `x_t = a·x0 + b·ε` gives again a Gaussian mixture
//! (component `k` becomes `N(a·μ_k, a²·Σ_k + b²·I)`), so the ideal denoiser `E[x0 | x_t]` has a
//! closed form. That makes it a model with known answers: a correct sampler started from
//! noise must reproduce the mixture's weights, means and covariances.
//!
//! ```
//! use gdf::toy::GaussianMixture2;
//! let gm = GaussianMixture2::new(vec![0.5, 0.5], vec![[-2.0, 0.0], [2.0, 0.0]], vec![[[0.1, 0.0], [0.0, 0.1]]; 2])?;
//! // Without noise the denoiser is the identity…
//! let x = gm.denoise([1.9, 0.1], 1.0, 0.0);
//! assert!((x[0] - 1.9).abs() < 1e-12 && (x[1] - 0.1).abs() < 1e-12);
//! // …and with only noise it is the mixture mean.
//! let m = gm.denoise([5.0, 5.0], 0.0, 1.0);
//! assert!(m[0].abs() < 1e-12 && m[1].abs() < 1e-12);
//! # Ok::<(), gdf::GdfError>(())
//! ```

use crate::error::{GdfError, Result};
use crate::float::Real;
use rand::Rng;

use crate::noise::{normal, CounterRng, Purpose};
use crate::scaler::{Scaler, Vp};

type M2 = [[f64; 2]; 2];

/// A mixture of 2-D Gaussians.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture2 {
    weights: Vec<f64>,
    means: Vec<[f64; 2]>,
    covs: Vec<M2>,
}

/// Statistics of a set of 2-D points split by mixture component.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureStats {
    /// Fraction of points per component.
    pub weights: Vec<f64>,
    /// Mean per component.
    pub means: Vec<[f64; 2]>,
    /// Covariance per component (unbiased).
    pub covs: Vec<M2>,
}

fn det(m: &M2) -> f64 {
    m[0][0] * m[1][1] - m[0][1] * m[1][0]
}

fn inv(m: &M2) -> M2 {
    let d = det(m);
    [[m[1][1] / d, -m[0][1] / d], [-m[1][0] / d, m[0][0] / d]]
}

fn mul_v(m: &M2, v: [f64; 2]) -> [f64; 2] {
    [
        m[0][0] * v[0] + m[0][1] * v[1],
        m[1][0] * v[0] + m[1][1] * v[1],
    ]
}

fn log_normal(x: [f64; 2], mean: [f64; 2], cov: &M2) -> f64 {
    let d = [x[0] - mean[0], x[1] - mean[1]];
    let q = mul_v(&inv(cov), d);
    -0.5 * (d[0] * q[0] + d[1] * q[1]) - 0.5 * det(cov).ln() - (2.0 * core::f64::consts::PI).ln()
}

impl GaussianMixture2 {
    /// A mixture with `weights` (positive, normalised here), `means` and symmetric
    /// positive-definite `covs`.
    ///
    /// Errors: lengths differ or are zero, a weight is not positive, a covariance is not
    /// symmetric positive definite.
    pub fn new(weights: Vec<f64>, means: Vec<[f64; 2]>, covs: Vec<M2>) -> Result<Self> {
        let bad = |m: String| Err(GdfError::Invalid { message: m });
        if weights.is_empty() || weights.len() != means.len() || weights.len() != covs.len() {
            return bad(format!(
                "mixture: {} weights, {} means, {} covariances; expected the same non-zero count",
                weights.len(),
                means.len(),
                covs.len()
            ));
        }
        if weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            return bad("mixture: every weight must be a positive finite number".into());
        }
        for (k, c) in covs.iter().enumerate() {
            if c[0][1] != c[1][0] || c[0][0] <= 0.0 || det(c) <= 0.0 {
                return bad(format!(
                    "mixture: covariance {k} is not symmetric positive definite"
                ));
            }
        }
        let total: f64 = weights.iter().sum();
        Ok(Self {
            weights: weights.iter().map(|w| w / total).collect(),
            means,
            covs,
        })
    }

    /// The normalised weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The component means.
    pub fn means(&self) -> &[[f64; 2]] {
        &self.means
    }

    /// The component covariances.
    pub fn covs(&self) -> &[M2] {
        &self.covs
    }

    /// `E[x0 | a·x0 + b·ε = x]`, the ideal denoiser.
    pub fn denoise(&self, x: [f64; 2], a: f64, b: f64) -> [f64; 2] {
        let b2 = b * b;
        let parts: Vec<(f64, [f64; 2])> = self
            .weights
            .iter()
            .zip(&self.means)
            .zip(&self.covs)
            .map(|((w, m), s)| {
                let c = [
                    [a * a * s[0][0] + b2, a * a * s[0][1]],
                    [a * a * s[1][0], a * a * s[1][1] + b2],
                ];
                let am = [a * m[0], a * m[1]];
                let logp = w.ln() + log_normal(x, am, &c);
                let g = mul_v(&inv(&c), [x[0] - am[0], x[1] - am[1]]);
                let sg = mul_v(s, g);
                (logp, [m[0] + a * sg[0], m[1] + a * sg[1]])
            })
            .collect();
        let top = parts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = parts.iter().map(|p| (p.0 - top).exp()).sum();
        let mut out = [0.0; 2];
        for (lp, m) in &parts {
            let g = (lp - top).exp() / z;
            out[0] += g * m[0];
            out[1] += g * m[1];
        }
        out
    }

    /// The exact ε-prediction model of a VP process whose noise cond is logSNR itself
    /// (`noise_cond::LogSnr`): for each point `ε̂ = (x − a·x̂0)/b`. Batches of 2-D points,
    /// `x.len() = 2·noise_cond.len()`.
    /// Works in `f32` or `f64` buffers; the denoiser runs in `f64`.
    pub fn vp_epsilon<F: Real>(&self, x: &[F], noise_cond: &[F], pred: &mut [F]) {
        for ((x, &l), p) in x.chunks(2).zip(noise_cond).zip(pred.chunks_mut(2)) {
            let (a, b) = Vp.ab(l.as_f64());
            let (x0_, x1_) = (x[0].as_f64(), x[1].as_f64());
            let x0 = self.denoise([x0_, x1_], a, b);
            p[0] = F::of((x0_ - a * x0[0]) / b);
            p[1] = F::of((x1_ - a * x0[1]) / b);
        }
    }

    /// [`draw`](Self::draw) into `f32` or `f64` (each point rounded once from its f64 draw).
    ///
    /// ```
    /// use gdf::toy::GaussianMixture2;
    /// let m = GaussianMixture2::new(vec![1.0], vec![[1.0, -1.0]], vec![[[0.5, 0.0], [0.0, 0.5]]])?;
    /// let p32: Vec<f32> = m.draw_as(1000, 3);
    /// let p64 = m.draw(1000, 3);
    /// assert!(p32.iter().zip(&p64).all(|(a, b)| *a == *b as f32));
    /// let (e32, e64) = (m.errors(&m.stats(&p32)), m.errors(&m.stats(&p64)));
    /// assert!((e32.1 - e64.1).abs() < 1e-5);
    /// # Ok::<(), gdf::GdfError>(())
    /// ```
    pub fn draw_as<F: Real>(&self, n: usize, seed: u64) -> Vec<F> {
        self.draw(n, seed).into_iter().map(F::of).collect()
    }

    /// `n` exact draws (component by weight, then `μ + L·z` with the Cholesky factor `L`),
    /// from the counter-based generator.
    pub fn draw(&self, n: usize, seed: u64) -> Vec<f64> {
        let mut out = Vec::with_capacity(2 * n);
        for i in 0..n {
            let u: f64 = CounterRng::new(seed, Purpose::Init, i as u32, 1).random();
            let k = self.pick(u);
            let (z0, z1) = (
                normal(seed, Purpose::Init, i as u32, 0, 0) as f64,
                normal(seed, Purpose::Init, i as u32, 0, 1) as f64,
            );
            let s = &self.covs[k];
            let l00 = s[0][0].sqrt();
            let l10 = s[1][0] / l00;
            let l11 = (s[1][1] - l10 * l10).sqrt();
            out.push(self.means[k][0] + l00 * z0);
            out.push(self.means[k][1] + l10 * z0 + l11 * z1);
        }
        out
    }

    fn pick(&self, u: f64) -> usize {
        let mut acc = 0.0;
        for (k, w) in self.weights.iter().enumerate() {
            acc += w;
            if u < acc {
                return k;
            }
        }
        self.weights.len() - 1
    }

    /// Splits 2-D points by their most likely component and measures each part.
    /// Components that receive fewer than two points get NaN statistics. `f32` or `f64`
    /// points; the statistics are computed in `f64`.
    pub fn stats<F: Real>(&self, points: &[F]) -> MixtureStats {
        let k = self.weights.len();
        let mut parts: Vec<Vec<[f64; 2]>> = vec![Vec::new(); k];
        for p in points.chunks(2) {
            let x = [p[0].as_f64(), p[1].as_f64()];
            let best = (0..k)
                .map(|j| {
                    (
                        j,
                        self.weights[j].ln() + log_normal(x, self.means[j], &self.covs[j]),
                    )
                })
                .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a })
                .0;
            parts[best].push(x);
        }
        let n = (points.len() / 2) as f64;
        let mut st = MixtureStats {
            weights: vec![],
            means: vec![],
            covs: vec![],
        };
        for part in &parts {
            let m = part.len() as f64;
            st.weights.push(m / n);
            let mean = [
                part.iter().map(|p| p[0]).sum::<f64>() / m,
                part.iter().map(|p| p[1]).sum::<f64>() / m,
            ];
            let mut c = [[0.0; 2]; 2];
            for p in part {
                let d = [p[0] - mean[0], p[1] - mean[1]];
                for (r, row) in c.iter_mut().enumerate() {
                    for (s, v) in row.iter_mut().enumerate() {
                        *v += d[r] * d[s] / (m - 1.0);
                    }
                }
            }
            st.means.push(mean);
            st.covs.push(c);
        }
        st
    }

    /// The largest absolute difference between `stats` and this mixture's weights, means
    /// and covariances: `(weights, means, covariances)`.
    pub fn errors(&self, stats: &MixtureStats) -> (f64, f64, f64) {
        let mut e = (0.0f64, 0.0f64, 0.0f64);
        for j in 0..self.weights.len() {
            e.0 = e.0.max((stats.weights[j] - self.weights[j]).abs());
            for r in 0..2 {
                e.1 = e.1.max((stats.means[j][r] - self.means[j][r]).abs());
                for s in 0..2 {
                    e.2 = e.2.max((stats.covs[j][r][s] - self.covs[j][r][s]).abs());
                }
            }
        }
        e
    }
}
