//! Dense linear algebra the numerical layers share ([`crate::solve`],
//! [`crate::smooth`], [`crate::diff`]): one home per factorisation, and the
//! vector kernels they are written with (`dot`, `vectorised`), below all
//! of them (this module imports nothing of the crate).

use faer::traits::pulp::Arch;

mod dot2;
pub mod lblt;
pub mod llt;
pub mod qr;

pub(crate) use dot2::Dot2;

/// Relative tolerance of the `sym` and `psd` checks: |X − Xᵀ| ≤ tol·max(1, max|X|),
/// λ_min ≥ −tol·max(1, max|λ|) (`runtime::inputs` decides the latter by a shifted
/// Cholesky); `eigh` checks its matrix with the same tolerance.
pub const SYM_TOL: f64 = 1e-9;

/// faer's scratch memory (a `MemStack`'s buffer), kept across calls and grown
/// to the largest request seen: what faer's convenience types allocate per
/// factorisation, sized once.
#[derive(Default)]
pub(crate) struct Scratch {
    buf: Option<faer::dyn_stack::MemBuffer>,
    bytes: usize,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch({} bytes)", self.bytes)
    }
}

impl Scratch {
    /// A stack that holds `req`, in the kept buffer (grown first if `req` may
    /// not fit: its unaligned size covers any start address's padding).
    pub(crate) fn stack(&mut self, req: faer::dyn_stack::StackReq) -> &mut faer::dyn_stack::MemStack {
        let need = req.unaligned_bytes_required();
        let buf = match self.buf.take() {
            Some(buf) if need <= self.bytes => buf,
            _ => {
                self.bytes = need;
                faer::dyn_stack::MemBuffer::new(faer::dyn_stack::StackReq::new::<u8>(need))
            }
        };
        faer::dyn_stack::MemStack::new(self.buf.insert(buf))
    }
}

/// Runs `f` on this thread's kept `T` (factorisation buffers reused across
/// calls, so a size already seen allocates nothing), or on a fresh one when
/// the kept one is in use further up this thread's stack (a problem whose
/// evaluation itself solved one): never a panic, never shared.
pub(crate) fn with_kept<T: Default + 'static, R>(
    kept: &'static std::thread::LocalKey<std::cell::RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    kept.with(|cell| match cell.try_borrow_mut() {
        Ok(mut t) => f(&mut t),
        Err(_) => f(&mut T::default()),
    })
}

/// Whether every entry is finite: `0·x` is ±0 for a finite `x` and NaN for ±∞
/// and NaN, so a sum over lanes is 0 exactly when all are. Branch-free, so the
/// scan vectorises; a caller that names the bad entry looks for it only after
/// this fails. The one finiteness scan of inputs, right-hand sides and solutions.
pub(crate) fn all_finite(data: &[f64]) -> bool {
    let mut lanes = [0.0f64; 8];
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0.0, |s, x| s + 0.0 * x);
    for c in chunks {
        lanes.iter_mut().zip(c).for_each(|(s, x)| *s += 0.0 * x);
    }
    lanes.iter().sum::<f64>() + tail == 0.0
}

/// `Σ aᵢ bᵢ` in sixteen interleaved partial sums: independent chains (a single
/// running sum waits on each add's latency), added up in order at the end.
#[inline(always)]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    const LANES: usize = 16;
    let len = a.len().min(b.len());
    let split = len - len % LANES;
    let mut acc = [0.0; LANES];
    for (x, y) in a[..split].chunks_exact(LANES).zip(b[..split].chunks_exact(LANES)) {
        // Fixed-size views (chunks_exact yields exactly LANES entries, so these
        // conversions cannot fail): the compiler then keeps acc in vector registers.
        let x: &[f64; LANES] = x.try_into().expect("a chunk of LANES");
        let y: &[f64; LANES] = y.try_into().expect("a chunk of LANES");
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    let mut total = 0.0;
    for lane in acc {
        total += lane;
    }
    total + a[split..len].iter().zip(&b[split..len]).map(|(x, y)| x * y).sum::<f64>()
}

/// `‖x‖∞` (0 for an empty vector), in eight lanes (a fold over `f64::max` is
/// not vectorised; the maximum is exact in any order).
#[inline(always)]
pub(crate) fn norm_inf(x: &[f64]) -> f64 {
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0.0, |m: f64, v| m.max(v.abs()));
    let mut acc = [0.0f64; 8];
    for c in chunks {
        for k in 0..8 {
            acc[k] = acc[k].max(c[k].abs());
        }
    }
    acc.iter().fold(tail, |m, &v| m.max(v))
}

/// `y ← y + αx` (over the shorter of the two).
#[inline(always)]
pub(crate) fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += alpha * x);
}

/// Runs `f` compiled for the widest vector instructions the CPU has: AVX-512
/// where present (pulp, faer's SIMD layer, stops at AVX2 unless built with its
/// `x86-v4` feature), else pulp's choice. The loops run this way use separate
/// multiplies and adds in an order fixed by the source (no fused multiply–add,
/// no reassociation), so every instruction set computes the same bits. Pass a
/// closure marked `#[inline(always)]`: only code inlined into the AVX-512
/// function is compiled for it, and LLVM declines to inline large closures.
#[inline(always)]
pub(crate) fn vectorised<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { avx512(f) };
    }
    Arch::new().dispatch(f)
}

/// `f` inlined into a function compiled with AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::all_finite;

    /// Against the entry-by-entry test, a bad entry at every position of
    /// lengths around the 8 lanes (in a lane and in the tail).
    #[test]
    fn all_finite_agrees_with_the_scan() {
        for len in 0..27 {
            let mut data: Vec<f64> = (0..len).map(|i| (i as f64 - 9.5) * 1e300).collect();
            assert!(all_finite(&data), "len {len}");
            for at in 0..len {
                for bad in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
                    let keep = std::mem::replace(&mut data[at], bad);
                    assert!(!all_finite(&data), "len {len}, {bad} at {at}");
                    data[at] = keep;
                }
            }
        }
    }
}
