//! The roofline: the float32 flop rate these cores reach at most, measured with a loop of
//! independent fused multiply–adds that never leaves the registers. `benches/compare.py`
//! prints every case as a fraction of it, so the distance to the physical limit is visible
//! (a library's 1024³ product, the usual stand-in, runs below it).

use std::time::Instant;

/// Independent accumulators: more than the FMA latency × throughput of current x86 cores, so
/// the loop is bound by the FMA units alone.
const CHAINS: usize = 12;

/// GFLOP/s of `threads` threads, each running `rounds` rounds of [`CHAINS`] 8-wide fused
/// multiply–adds (2 flops a lane) at the same time; AVX2 + FMA when the CPU has them, else
/// plain f32 multiply–adds (which the compiler may not fuse: a lower bound then).
pub fn peak_gflops(threads: usize, rounds: usize) -> f64 {
    let threads = threads.max(1);
    let start = Instant::now();
    let sums: Vec<f32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(move || fma_loop(rounds)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(0.0))
            .collect()
    });
    std::hint::black_box(sums);
    let flops = (threads * rounds * CHAINS * 8 * 2) as f64;
    flops / start.elapsed().as_secs_f64() / 1e9
}

fn fma_loop(rounds: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { fma_loop_avx2(rounds) };
    }
    let mut acc = [[0.0f32; 8]; CHAINS];
    let (x, y) = (
        std::hint::black_box(0.999_9f32),
        std::hint::black_box(1e-5f32),
    );
    for _ in 0..rounds {
        for chain in acc.iter_mut() {
            for v in chain.iter_mut() {
                *v = *v * x + y;
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop_avx2(rounds: usize) -> f32 {
    use std::arch::x86_64::*;
    let x = _mm256_set1_ps(std::hint::black_box(0.999_9));
    let y = _mm256_set1_ps(std::hint::black_box(1e-5));
    let mut acc = [_mm256_setzero_ps(); CHAINS];
    for _ in 0..rounds {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let mut out = [0.0f32; 8];
    let mut total = 0.0;
    for a in acc {
        _mm256_storeu_ps(out.as_mut_ptr(), a);
        total += out.iter().sum::<f32>();
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_a_positive_rate() {
        let one = peak_gflops(1, 10_000);
        assert!(one.is_finite() && one > 0.0, "{one}");
    }
}
