//! Internal: parallel loops over disjoint chunks of output buffers.

use rayon::prelude::*;

/// Elements per parallel job: large enough that claiming a job (one atomic add) is noise,
/// small enough that the last job of a pass leaves no core idle for long (8×16×24×24, the
/// sampling bench's small shape, is 18 jobs).
pub(crate) const CHUNK: usize = 1 << 12;

/// A raw view of a mutable buffer that parallel jobs split into disjoint ranges.
pub(crate) struct RawMut<F> {
    ptr: *mut F,
    len: usize,
}

// SAFETY: jobs only ever touch disjoint ranges (see `range`), and F is Send.
unsafe impl<F: Send> Send for RawMut<F> {}
unsafe impl<F: Send> Sync for RawMut<F> {}

impl<F> RawMut<F> {
    pub fn new(s: &mut [F]) -> Self {
        Self {
            ptr: s.as_mut_ptr(),
            len: s.len(),
        }
    }

    /// The sub-slice `start..end`.
    ///
    /// # Safety
    /// No two live slices obtained from the same `RawMut` may overlap, and the buffer must
    /// outlive them.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, start: usize, end: usize) -> &mut [F] {
        assert!(start <= end && end <= self.len);
        core::slice::from_raw_parts_mut(self.ptr.add(start), end - start)
    }

    /// The sub-slice `start..end`, to read.
    /// # Safety
    /// No live mutable slice obtained from the same `RawMut` may overlap it, and the buffer
    /// must outlive it.
    pub unsafe fn view(&self, start: usize, end: usize) -> &[F] {
        assert!(start <= end && end <= self.len);
        core::slice::from_raw_parts(self.ptr.add(start), end - start)
    }
}

/// The parallel jobs over a batch of `batch` samples of `per` elements: each job covers at
/// most [`CHUNK`] elements of one sample, so per-sample values are constant inside a job.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jobs {
    pub batch: usize,
    pub per: usize,
    pub per_sample: usize,
}

impl Jobs {
    pub fn new(batch: usize, per: usize) -> Self {
        Self {
            batch,
            per,
            per_sample: per.div_ceil(CHUNK).max(1),
        }
    }
    pub fn count(&self) -> usize {
        self.batch * self.per_sample
    }
    /// `(sample, global start, global end)` of job `j`.
    #[inline]
    pub fn job(&self, j: usize) -> (usize, usize, usize) {
        let s = j / self.per_sample;
        let k = j % self.per_sample;
        let base = s * self.per;
        (s, base + k * CHUNK, base + ((k + 1) * CHUNK).min(self.per))
    }
    /// Jobs handed to one parallel task: small samples are grouped so a task still covers
    /// about [`CHUNK`] elements.
    fn group(&self) -> usize {
        if self.per_sample > 1 {
            1
        } else {
            (CHUNK / self.per.max(1)).max(1)
        }
    }

    /// Runs `f(sample, start, end)` for every job, in parallel.
    pub fn run(&self, f: impl Fn(usize, usize, usize) + Sync + Send) {
        self.run_indexed(|j| {
            let (s, a, b) = self.job(j);
            f(s, a, b)
        })
    }

    /// Runs `f(j)` for every job `j`, in parallel.
    pub fn run_indexed(&self, f: impl Fn(usize) + Sync + Send) {
        let n = self.count();
        let g = self.group();
        let task = |t: usize| (t * g..((t + 1) * g).min(n)).for_each(&f);
        for_each_task(n.div_ceil(g), &task);
    }

    /// Runs `f(sample, start, end) -> T` for every job in parallel, results in `out` (length
    /// [`Jobs::count`]).
    pub fn map<T: Send>(&self, out: &mut [T], f: impl Fn(usize, usize, usize) -> T + Sync + Send) {
        let g = self.group();
        let n = out.len();
        let results = RawMut::new(out);
        let task = |t: usize| {
            let (first, last) = (t * g, ((t + 1) * g).min(n));
            // SAFETY: tasks own disjoint ranges of `out`.
            let chunk = unsafe { results.range(first, last) };
            for (k, o) in chunk.iter_mut().enumerate() {
                let (s, a, b) = self.job(first + k);
                *o = f(s, a, b)
            }
        };
        for_each_task(n.div_ceil(g), &task);
    }
}

/// Runs `task(0), …, task(tasks - 1)` in parallel: on the calling thread with the helper
/// team when it can take the loop (see `crate::team`), else on rayon's pool; inline when
/// there is one task.
fn for_each_task(tasks: usize, task: &(dyn Fn(usize) + Sync)) {
    if tasks <= 1 {
        (0..tasks).for_each(task);
    } else if !crate::team::try_run(tasks, task) {
        (0..tasks).into_par_iter().for_each(task);
    }
}

/// The widest host SIMD path the hot loops take: 0 portable, 1 AVX2 (+FMA), 2 AVX-512 (F,
/// BW, DQ, VL, with AVX2 and FMA). It is what the CPU has, capped by the environment
/// variable `GDF_SIMD` (`portable`, `avx2` or `avx512`), read once per process: every path
/// gives the same bits, so the cap changes only the speed (to time a narrower path on a
/// wider CPU, or to rule a path out). An unknown value is ignored, with a warning on stderr.
#[cfg(target_arch = "x86_64")]
#[inline]
fn simd_level() -> u8 {
    let level = SIMD_LEVEL.load(std::sync::atomic::Ordering::Relaxed);
    if level != u8::MAX {
        return level;
    }
    simd_level_init()
}

/// [`simd_level`], once `u8::MAX` (not yet known).
#[cfg(target_arch = "x86_64")]
static SIMD_LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(u8::MAX);

/// The first call of [`simd_level`]: detects the CPU's features, reads `GDF_SIMD`, stores the
/// level (kept out of line, so the calls after it are one load).
#[cfg(target_arch = "x86_64")]
#[cold]
#[inline(never)]
fn simd_level_init() -> u8 {
    let avx2 =
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    let avx512 = avx2
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl");
    let cpu = if avx512 { 2 } else { u8::from(avx2) };
    let cap = match std::env::var("GDF_SIMD").ok().as_deref() {
        None => 2,
        Some(v) => simd_cap(v).unwrap_or_else(|| {
            eprintln!(
                "gdf: GDF_SIMD={v:?} is not one of \"portable\", \"avx2\", \"avx512\"; ignored"
            );
            2
        }),
    };
    let level = cpu.min(cap);
    SIMD_LEVEL.store(level, std::sync::atomic::Ordering::Relaxed);
    level
}

/// The level a `GDF_SIMD` value caps the host SIMD paths at (see [`simd_level`]).
#[cfg(target_arch = "x86_64")]
fn simd_cap(value: &str) -> Option<u8> {
    match value.trim().to_ascii_lowercase().as_str() {
        "portable" | "none" => Some(0),
        "avx2" => Some(1),
        "avx512" | "avx-512" => Some(2),
        _ => None,
    }
}

/// Whether the hot loops take their AVX2 (+FMA) versions (the CPU has them and `GDF_SIMD`
/// does not rule them out). Those versions compute the same operations (no contraction into
/// FMA), so results do not depend on the path.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // the SIMD paths are x86-64 only
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        simd_level() >= 1
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the hot loops take their AVX-512 versions (AVX-512 F, BW, DQ and VL, and AVX2
/// with FMA, which those versions also use; see [`has_avx2`]). Like the AVX2 versions, they
/// compute the same operations as the portable code, so results do not depend on the path.
#[inline(always)]
// No AVX-512 paths before Rust 1.89, nor off x86-64.
#[cfg_attr(any(not(gdf_avx512), not(target_arch = "x86_64")), allow(dead_code))]
pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        simd_level() >= 2
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn gdf_simd_values_cap_the_level() {
        assert_eq!(simd_cap("portable"), Some(0));
        assert_eq!(simd_cap("none"), Some(0));
        assert_eq!(simd_cap("AVX2"), Some(1));
        assert_eq!(simd_cap(" avx512 "), Some(2));
        assert_eq!(simd_cap("avx-512"), Some(2));
        assert_eq!(simd_cap("sse4"), None);
        assert_eq!(simd_cap(""), None);
        // The level never exceeds what the CPU has.
        let cpu_avx2 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        assert!(!has_avx2() || cpu_avx2);
        assert!(!has_avx512() || std::arch::is_x86_feature_detected!("avx512f"));
        assert!(!has_avx512() || has_avx2());
    }
}
