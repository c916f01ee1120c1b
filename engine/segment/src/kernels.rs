//! Distance kernels. AVX2+FMA on x86_64 when the CPU has it (checked once), otherwise a portable
//! version written in 8 independent lanes so the compiler vectorises it.

use std::sync::OnceLock;

/// A distance function over two slices of equal length.
pub type Kernel = fn(&[f32], &[f32]) -> f32;

struct Kernels {
    dot: Kernel,
    l2sq: Kernel,
    l1: Kernel,
}

fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                let wide = std::arch::is_x86_feature_detected!("avx512f");
                return Kernels {
                    dot: if wide { avx::dot512 } else { avx::dot },
                    l2sq: avx::l2sq,
                    l1: avx::l1,
                };
            }
        }
        Kernels {
            dot: portable::dot,
            l2sq: portable::l2sq,
            l1: portable::l1,
        }
    })
}

/// The kernel behind [`dot`], for loops that call it millions of times (no dispatch per call).
pub fn dot_kernel() -> Kernel {
    kernels().dot
}

/// The kernel behind [`l2sq`].
pub fn l2sq_kernel() -> Kernel {
    kernels().l2sq
}

/// The kernel behind [`l1`].
pub fn l1_kernel() -> Kernel {
    kernels().l1
}

/// Inner product. Both slices must have the same length (callers check dimensions on input).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    (kernels().dot)(a, b)
}

/// Squared Euclidean distance.
#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    (kernels().l2sq)(a, b)
}

/// Manhattan distance.
#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    (kernels().l1)(a, b)
}

/// How much of a vector is prefetched: its head. Prefetching every line of a 1.5 KB vector for
/// each neighbour filled the line-fill buffers and stalled the search (a fifth of build time);
/// the hardware streamer follows the rest once the head is read.
const PREFETCH_BYTES: usize = 128;

/// Asks the CPU to start loading `v` into cache: graph search scores vectors in an order the
/// hardware prefetcher cannot guess, so it is bound by memory latency unless told ahead.
#[inline]
pub fn prefetch(v: &[f32]) {
    prefetch_bytes(v);
}

/// [`prefetch`] for any row (int8 codes too).
#[inline]
pub fn prefetch_bytes<T>(v: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = v.as_ptr().cast::<i8>();
        let bytes = std::mem::size_of_val(v).min(PREFETCH_BYTES);
        let mut off = 0;
        while off < bytes {
            // SAFETY: a prefetch never faults, and the address is inside `v`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(off)) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Scales `v` to unit length in place (a zero vector stays zero).
/// Scales `v` to unit length. A vector already within 2e-6 of unit length is left as it is:
/// normalizing is then idempotent, so a stored vector copied to another replica (and stored
/// again) keeps its exact bits, and replicas stay bit-identical.
pub fn normalize(v: &mut [f32]) {
    let norm = portable::dot(v, v).sqrt();
    if norm > f32::EPSILON && (norm - 1.0).abs() > 2e-6 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

mod portable {
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        lanes(a, b, |x, y| x * y)
    }
    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        lanes(a, b, |x, y| (x - y) * (x - y))
    }
    pub fn l1(a: &[f32], b: &[f32]) -> f32 {
        lanes(a, b, |x, y| (x - y).abs())
    }

    #[inline(always)]
    fn lanes(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0.0f32; 8];
        let chunks = n / 8;
        for c in 0..chunks {
            for l in 0..8 {
                acc[l] += f(a[c * 8 + l], b[c * 8 + l]);
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for i in chunks * 8..n {
            sum += f(a[i], b[i]);
        }
        sum
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: chosen only after runtime detection of avx2 and fma.
        unsafe { dot_avx(a, b) }
    }
    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: chosen only after runtime detection of avx2 and fma.
        unsafe { l2sq_avx(a, b) }
    }
    pub fn l1(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: chosen only after runtime detection of avx2 and fma.
        unsafe { l1_avx(a, b) }
    }

    pub fn dot512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: chosen only after runtime detection of avx512f (and avx2, fma).
        unsafe { dot_avx512(a, b) }
    }

    /// 16 lanes a step, two accumulators: half the instructions of the AVX2 loop per vector.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        // SAFETY: every load reads 16 floats at i <= n - 16 (32 for the pair), inside both slices.
        unsafe {
            while i + 32 <= n {
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
                acc1 = _mm512_fmadd_ps(
                    _mm512_loadu_ps(pa.add(i + 16)),
                    _mm512_loadu_ps(pb.add(i + 16)),
                    acc1,
                );
                i += 32;
            }
            while i + 16 <= n {
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
                i += 16;
            }
            let mut sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
            while i < n {
                sum += *pa.add(i) * *pb.add(i);
                i += 1;
            }
            sum
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let hi = _mm256_extractf128_ps(v, 1);
        let lo = _mm256_castps256_ps128(v);
        let s = _mm_add_ps(hi, lo);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY: every load reads 8 floats at i < n - 15 (or n - 7), inside both slices.
        unsafe {
            while i + 16 <= n {
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
                acc1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 8)),
                    _mm256_loadu_ps(pb.add(i + 8)),
                    acc1,
                );
                i += 16;
            }
            while i + 8 <= n {
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
                i += 8;
            }
            let mut sum = hsum(_mm256_add_ps(acc0, acc1));
            while i < n {
                sum += *pa.add(i) * *pb.add(i);
                i += 1;
            }
            sum
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2sq_avx(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY: every load reads 8 floats at i <= n - 8, inside both slices.
        unsafe {
            while i + 8 <= n {
                let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                acc = _mm256_fmadd_ps(d, d, acc);
                i += 8;
            }
            let mut sum = hsum(acc);
            while i < n {
                let d = *pa.add(i) - *pb.add(i);
                sum += d * d;
                i += 1;
            }
            sum
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn l1_avx(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let sign = _mm256_set1_ps(-0.0);
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY: every load reads 8 floats at i <= n - 8, inside both slices.
        unsafe {
            while i + 8 <= n {
                let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                acc = _mm256_add_ps(acc, _mm256_andnot_ps(sign, d));
                i += 8;
            }
            let mut sum = hsum(acc);
            while i < n {
                sum += (*pa.add(i) - *pb.add(i)).abs();
                i += 1;
            }
            sum
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        let d = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let l2 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        let l1 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
        (d, l2, l1)
    }

    #[test]
    fn kernels_agree_with_naive_for_every_length() {
        for n in 0..70 {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 2.0).collect();
            let (d, l2, l1v) = naive(&a, &b);
            assert!((dot(&a, &b) - d).abs() < 1e-3, "dot n={n}");
            assert!((l2sq(&a, &b) - l2).abs() < 1e-3, "l2 n={n}");
            assert!((l1(&a, &b) - l1v).abs() < 1e-3, "l1 n={n}");
            assert!((portable::dot(&a, &b) - d).abs() < 1e-3);
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx2") && has!("fma") {
                    assert!((avx::dot(&a, &b) - d).abs() < 1e-3, "avx2 dot n={n}");
                }
                if has!("avx512f") && has!("avx2") && has!("fma") {
                    assert!((avx::dot512(&a, &b) - d).abs() < 1e-3, "avx512 dot n={n}");
                }
            }
        }
    }

    #[test]
    fn normalize_makes_unit_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0; 3];
        normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
        // Idempotent to the bit: a normalized vector normalized again is unchanged.
        let mut w: Vec<f32> = (0..384).map(|i| ((i * 7919) % 101) as f32 - 50.0).collect();
        normalize(&mut w);
        let once = w.clone();
        normalize(&mut w);
        assert_eq!(w, once);
    }
}
