//! The guided step's rescale statistics `[Σ c, Σ c², Σ p, Σ p²]` with `p = u + g·(c − u)`, in a
//! fixed summation order (portable, AVX2 and AVX-512 paths, bit-identical).

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
    moments_f32_avx2_from([0.0; 4], pc, pu, g)
}

/// [`moments_f32_avx2`] continuing the totals `tot` (of the runs before `pc`, `pu`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn moments_f32_avx2_from(mut tot: [f64; 4], pc: &[f32], pu: &[f32], g: f32) -> [f64; 4] {
    use core::arch::x86_64::*;
    let gv = _mm256_set1_ps(g);
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

/// [`moments_portable`] for f32 with AVX-512: two runs of 256 at once, the first run's eight
/// lanes in the low half of each register and the second's in the high half, so every lane
/// adds the same values in the same order as the portable code's, and each run's lanes are
/// added to the totals in the portable order (first run, then second). The last run or two
/// (an odd one out, a short one) go through the AVX2 loop, continuing the totals.
#[cfg(all(target_arch = "x86_64", gdf_avx512))]
#[allow(clippy::incompatible_msrv)] // compiled only by Rust 1.89+ (see build.rs)
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(crate) unsafe fn moments_f32_avx512(pc: &[f32], pu: &[f32], g: f32) -> [f64; 4] {
    use core::arch::x86_64::*;
    let n = pc.len().min(pu.len());
    let (pc, pu) = (&pc[..n], &pu[..n]);
    let gv = _mm512_set1_ps(g);
    let mut tot = [0.0f64; 4];
    let pairs = n / 512;
    for pair in 0..pairs {
        let (a, b) = (512 * pair, 512 * pair + 256);
        let mut acc = [_mm512_setzero_ps(); 4];
        for j in (0..256).step_by(8) {
            // SAFETY: a + j + 8 ≤ b + j + 8 ≤ 512·(pair + 1) ≤ n, the length of both slices.
            let (c, u) = unsafe {
                let two = |p: *const f32| {
                    _mm512_insertf32x8::<1>(
                        _mm512_castps256_ps512(_mm256_loadu_ps(p.add(a + j))),
                        _mm256_loadu_ps(p.add(b + j)),
                    )
                };
                (two(pc.as_ptr()), two(pu.as_ptr()))
            };
            let p = _mm512_add_ps(u, _mm512_mul_ps(gv, _mm512_sub_ps(c, u)));
            acc[0] = _mm512_add_ps(acc[0], c);
            acc[1] = _mm512_add_ps(acc[1], _mm512_mul_ps(c, c));
            acc[2] = _mm512_add_ps(acc[2], p);
            acc[3] = _mm512_add_ps(acc[3], _mm512_mul_ps(p, p));
        }
        let mut lanes = [[0f32; 16]; 4];
        for (dst, v) in lanes.iter_mut().zip(acc) {
            // SAFETY: `dst` is 16 floats, the width of the (unaligned) store.
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), v) };
        }
        for half in 0..2 {
            for (t, l) in tot.iter_mut().zip(&lanes) {
                *t += l[8 * half..8 * half + 8]
                    .iter()
                    .map(|&v| v as f64)
                    .sum::<f64>();
            }
        }
    }
    let rest = 512 * pairs;
    // SAFETY: this function only runs where AVX2 and FMA are available (AVX-512 implies them
    // on every CPU that has it, and the dispatch checks them too).
    unsafe { moments_f32_avx2_from(tot, &pc[rest..], &pu[rest..], g) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::Purpose;

    /// Every path the CPU has (portable, AVX2, AVX-512) over many lengths, offsets and
    /// scales: the same bits (paths the CPU lacks are skipped with a message).
    #[test]
    fn moments_simd_paths_agree_bitwise() {
        let len = 5000;
        let c: Vec<f32> = (0..len as u64)
            .map(|i| 3.0 * crate::noise::normal(5, Purpose::Init, 1, 0, i) + 0.25)
            .collect();
        let u: Vec<f32> = (0..len as u64)
            .map(|i| crate::noise::normal(6, Purpose::Init, 1, 0, i) - 0.5)
            .collect();
        let avx2 = cfg!(target_arch = "x86_64") && crate::par::has_avx2();
        let avx512 = cfg!(all(target_arch = "x86_64", gdf_avx512)) && crate::par::has_avx512();
        if !avx2 {
            eprintln!("skipped: this CPU has no AVX2 (with FMA)");
        }
        if !avx512 {
            eprintln!("skipped: this CPU has no AVX-512 (F, BW, DQ, VL)");
        }
        let lens = [
            0usize, 1, 7, 8, 9, 255, 256, 257, 511, 512, 513, 767, 768, 1023, 1024, 1025, 1536,
            2047, 2048, 4096, 4999,
        ];
        for off in [0usize, 1, 3, 8, 100] {
            for &l in &lens {
                let l = l.min(len - off);
                let (pc, pu) = (&c[off..off + l], &u[off..off + l]);
                for g in [1.0f32, 3.5, -0.75, 7.0] {
                    let want = moments_portable(pc, pu, g);
                    let bits = |m: [f64; 4]| m.map(f64::to_bits);
                    #[cfg(target_arch = "x86_64")]
                    if avx2 {
                        // SAFETY: the CPU has AVX2 and FMA.
                        let got = unsafe { moments_f32_avx2(pc, pu, g) };
                        assert_eq!(bits(got), bits(want), "AVX2, off {off} len {l} g {g}");
                    }
                    #[cfg(all(target_arch = "x86_64", gdf_avx512))]
                    if avx512 {
                        // SAFETY: the CPU has AVX-512.
                        let got = unsafe { moments_f32_avx512(pc, pu, g) };
                        assert_eq!(bits(got), bits(want), "AVX-512, off {off} len {l} g {g}");
                    }
                    let got = f32::moments(pc, pu, g);
                    assert_eq!(bits(got), bits(want), "dispatched, off {off} len {l} g {g}");
                }
            }
        }
    }

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
