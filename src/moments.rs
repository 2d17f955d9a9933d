//! The guided step's rescale statistics `[Σ c, Σ c², Σ p, Σ p²]` with `p = u + g·(c − u)`, in a
//! fixed summation order (portable and AVX2 paths, bit-identical).

use crate::float::Real;
use crate::guide::formula as guide;

/// The portable form of [`Real::moments`].
pub(crate) fn moments_portable<F: Real>(pc: &[F], pu: &[F], g: F) -> [f64; 4] {
    let mut tot = [0.0f64; 4];
    for (pc, pu) in pc.chunks(256).zip(pu.chunks(256)) {
        let mut acc = [[F::zero(); 8]; 4];
        let mut lanes_c = pc.chunks_exact(8);
        let mut lanes_u = pu.chunks_exact(8);
        for (c, u) in (&mut lanes_c).zip(&mut lanes_u) {
            for l in 0..8 {
                let p = guide::cfg(c[l], u[l], g);
                acc[0][l] = acc[0][l] + c[l];
                acc[1][l] = acc[1][l] + c[l] * c[l];
                acc[2][l] = acc[2][l] + p;
                acc[3][l] = acc[3][l] + p * p;
            }
        }
        for (&c, &u) in lanes_c.remainder().iter().zip(lanes_u.remainder()) {
            let p = guide::cfg(c, u, g);
            acc[0][0] = acc[0][0] + c;
            acc[1][0] = acc[1][0] + c * c;
            acc[2][0] = acc[2][0] + p;
            acc[3][0] = acc[3][0] + p * p;
        }
        for (t, a) in tot.iter_mut().zip(&acc) {
            *t += a.iter().map(|v| v.as_f64()).sum::<f64>();
        }
    }
    tot
}

/// [`moments_portable`] for f32 with AVX2: the same operations in the same order (one
/// register per lane set, no FMA), so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn moments_f32_avx2(pc: &[f32], pu: &[f32], g: f32) -> [f64; 4] {
    use core::arch::x86_64::*;
    let gv = _mm256_set1_ps(g);
    let mut tot = [0.0f64; 4];
    for (pc, pu) in pc.chunks(256).zip(pu.chunks(256)) {
        let n = pc.len().min(pu.len());
        let n8 = n / 8 * 8;
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        let mut i = 0;
        while i < n8 {
            let c = _mm256_loadu_ps(pc.as_ptr().add(i));
            let u = _mm256_loadu_ps(pu.as_ptr().add(i));
            let p = _mm256_add_ps(u, _mm256_mul_ps(gv, _mm256_sub_ps(c, u)));
            a0 = _mm256_add_ps(a0, c);
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(c, c));
            a2 = _mm256_add_ps(a2, p);
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(p, p));
            i += 8;
        }
        let mut acc = [[0f32; 8]; 4];
        for (dst, v) in acc.iter_mut().zip([a0, a1, a2, a3]) {
            _mm256_storeu_ps(dst.as_mut_ptr(), v);
        }
        for (&c, &u) in pc[n8..n].iter().zip(&pu[n8..n]) {
            let p = guide::cfg(c, u, g);
            acc[0][0] += c;
            acc[1][0] += c * c;
            acc[2][0] += p;
            acc[3][0] += p * p;
        }
        for (t, a) in tot.iter_mut().zip(&acc) {
            *t += a.iter().map(|&v| v as f64).sum::<f64>();
        }
    }
    tot
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::Purpose;

    #[test]
    fn moments_paths_agree_bitwise() {
        let c: Vec<f32> = (0..1000)
            .map(|i| crate::noise::normal(1, Purpose::Init, 0, 0, i))
            .collect();
        let u: Vec<f32> = (0..1000)
            .map(|i| crate::noise::normal(2, Purpose::Init, 0, 0, i))
            .collect();
        for len in [0usize, 7, 8, 255, 256, 257, 1000] {
            let want = moments_portable(&c[..len], &u[..len], 3.5);
            assert_eq!(f32::moments(&c[..len], &u[..len], 3.5), want, "len {len}");
            // and the sums are the sums
            let direct: f64 = c[..len].iter().map(|&x| x as f64).sum();
            assert!(
                (want[0] - direct).abs() < 1e-4 * (1.0 + direct.abs()),
                "len {len}"
            );
        }
    }
}
