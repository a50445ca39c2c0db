// Subspace pursuit (Dai & Milenkovic, IEEE Trans. IT 2009; Algorithm 1 of Huang et al., IEEE
// TWC 2026, as coded in the authors' CS_SP.m), in two forms that share one driver.
//
// Per frame:  S0 = K largest |z| (z = A^H y), x = LS(S0).  Each iteration:
//   T = K largest |A^H r|;  U = S u T;  b = LS(U);  S' = K largest |b|;  x' = LS(S');
//   stop when ||r'||/||y|| is not smaller than the previous ratio ("divergent"), or <= tol, or
//   after max_iter iterations.
// keep_last = true reproduces CS_SP.m: the "previous" ratio starts at 1 and a divergent last
// iterate is returned anyway.  keep_last = false is the original SP: the previous ratio starts
// at that of S0 and a divergent iterate is discarded, so the returned one has the smallest ratio.
//
// Where A^H A and the residual come from is a Source:
//
// * Gram form (GramSource): with G = A^H A given, A is never touched:
//     correlations   A^H r = z - G[:, S] x_S                     (K rows of G, G Hermitian)
//     LS on S        G[S, S] x_S = z[S]
//     residual       ||r||^2 = ||y||^2 - 2 Re(x_S^H z_S) + x_S^H G[S, S] x_S
//   Per iteration O(K n_voxels); the residual identity cancels when ||r|| << ||y||: the ratio
//   bottoms out near sqrt(eps_T) (~1e-8 for double, ~1e-3 for float), so a tol below that acts
//   as "stop when the support is stable" (equal supports give bit-identical solves).
// * Residual form (MatrixSource: a dense row-major A; LinkSource: the link matrices of the
//   matrix-free operator): the columns of the supports are gathered (or generated from the links)
//   once, G[S, S] comes from them, the residual r = y - A_S x_S is formed exactly, and the
//   correlations are one adjoint product A^H r per iteration (a GEMV over A, or small GEMMs over
//   the links).  No O(n_voxels^2) Gram is formed: one frame costs about (1 + n_iter) products.
//
// Precision: G blocks, correlations and every small system are handled in double.  Scale: the
// residual forms scale the gathered columns by an exact power of two per frame (from the first
// support's columns) and the residual by its own, so |A|^2 and |r| never over- or underflow;
// the Gram form is scaled by the caller.
//
// Non-finite data never read as a fit: a NaN/Inf in y, z, the Gram entries or columns read, the
// correlations or a solution stops the frame with status kPursuitNonFinite, a NaN image, NaN
// ratio and support -1.  Cancellation (cancel.hpp): every iteration and every product slab is a
// cancellation point; frames are taken from an atomic counter, so the polling caller thread
// keeps working until the last frame is handed out.
//
// The small dense linear algebra (order <= 2K) is done by hand in the hot path: calling LAPACK
// per 12 x 12 solve costs more in overhead than the O(K^3 / 3) flops, and a Cholesky with a
// pivot test is all a well-posed step needs.  Ill-posed steps (nearly collinear columns, as
// adjacent voxels of fine grids where cond(A) ~ 1e14, or 2K > n_measurements) fall back to
// LAPACK zheev: the pseudo-inverse solution on the eigenvalues above the rounding level of the
// Gram, i.e. the minimum-norm least-squares solution.  BLAS/LAPACK run single-threaded inside.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <type_traits>
#include <functional>
#include <vector>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "skysense/blas_ops.hpp"
#include "skysense/cancel.hpp"
#include "skysense/lapack.hpp"
#include "skysense/parallel.hpp"
#include "skysense/views.hpp"

namespace skysense {

struct PursuitOptions {
  std::ptrdiff_t sparsity = 1;  // K: support size, 1 <= K <= n_voxels
  double tol = 1e-10;           // stop when ||r|| / ||y|| <= tol
  std::ptrdiff_t max_iter = 100;
  bool keep_last = false;  // true: CS_SP.m (return the last iterate even when worse)
  double threshold = 0.0;  // zero entries with |x| < threshold * max|x| (0: none)
};

// Per-frame outcome.
enum PursuitStatus : std::int64_t {
  kPursuitOk = 0,
  kPursuitNonFinite = 1,  // NaN/Inf met in the data SP read (image NaN, ratio NaN, support -1)
};

namespace pursuit_detail {

using cd = std::complex<double>;

// Voxels per slab of a link adjoint product: a fixed partition (independent of the thread count, so
// results are too) and a cancellation point per slab.
constexpr std::ptrdiff_t kSlab = 256;
// Rows per block of a dense adjoint product (at most kMaxRowBlocks blocks: the partials of a
// tall A stay small).
constexpr std::ptrdiff_t kRowBlock = 512;
constexpr std::ptrdiff_t kMaxRowBlocks = 64;

// Plain complex products (no C99 Annex G inf/nan recovery: inputs are finite).
inline cd mul(cd a, cd b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
inline cd mulc(cd a, cd b) {  // conj(a) * b
  return {a.real() * b.real() + a.imag() * b.imag(), a.real() * b.imag() - a.imag() * b.real()};
}
inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}
inline double abs2(cd a) { return a.real() * a.real() + a.imag() * a.imag(); }
inline bool finite(cd a) { return std::isfinite(a.real()) && std::isfinite(a.imag()); }
// 1 for NaN/Inf, else 0, branch-free (v - v is 0 for finite v, NaN otherwise), so that scans
// of n_voxels entries OR it into a flag and vectorise.
inline int not_finite(double v) { return static_cast<int>(!((v - v) == 0.0)); }

// v * 2^e exactly as std::ldexp(v, e): one multiplication by the power of two where 2^e is a
// normal double (IEEE rounds the product once, as ldexp does), ldexp itself otherwise.
struct Pow2 {
  int e;
  double factor;
  explicit Pow2(int exponent)
      : e(exponent), factor(exponent >= -1022 && exponent <= 1023 ? std::ldexp(1.0, exponent)
                                                                  : 0.0) {}
  double operator()(double v) const { return factor != 0.0 ? v * factor : std::ldexp(v, e); }
};

// Binary exponent e with 2^(e-1) <= |v| < 2^e (0 for 0 or non-finite v).
inline int exponent_of(double v) {
  if (!(v > 0.0) || !std::isfinite(v)) return 0;
  int e = 0;
  std::frexp(v, &e);
  return e;
}

// Scratch space of one worker for the driver and the small solves, sized once.
struct Workspace {
  std::ptrdiff_t nv, k, kmax;
  std::vector<double> score;                   // (nv,)
  std::vector<std::ptrdiff_t> order;           // (nv,)
  std::vector<std::ptrdiff_t> s, t, u, s_new;  // supports
  std::vector<cd> x, x_new, b;                 // coefficients on s, s_new, u
  std::vector<cd> h, l, rhs;                   // Gram block, its factor, right-hand side
  std::vector<double> w, rwork;                // heev
  std::vector<cd> work;
  int lwork = 1;
  double tau = 0.0;  // relative pivot / eigenvalue floor of a Gram stored in T

  Workspace(std::ptrdiff_t n_voxels, std::ptrdiff_t sparsity, double eps)
      : nv(n_voxels), k(sparsity), kmax(std::min(2 * sparsity, n_voxels)) {
    const auto m = static_cast<std::size_t>(kmax);
    score.resize(static_cast<std::size_t>(nv));
    order.resize(static_cast<std::size_t>(nv));
    s.resize(m), t.resize(m), u.resize(m), s_new.resize(m);
    x.resize(m), x_new.resize(m), b.resize(m), rhs.resize(m);
    h.resize(m * m), l.resize(m * m);
    w.resize(m), rwork.resize(std::max<std::size_t>(1, 3 * m));
    lwork = lapack::heev_lwork(static_cast<int>(kmax));
    work.resize(static_cast<std::size_t>(lwork));
    // Pivots (and eigenvalues) below tau * (diagonal scale) are at the rounding level of a
    // Gram stored in T: treat the block as singular there.
    tau = 16.0 * static_cast<double>(kmax) * eps;
  }
};
// order[0..k) = the positions of the k largest score[0..n), ties to the smaller position,
// sorted ascending (order is scratch of length n).  Deterministic: the ordering is total, so the
// selected set does not depend on the selection algorithm.
inline void top_k(const double* score, std::ptrdiff_t n, std::ptrdiff_t k, std::ptrdiff_t* order) {
  auto before = [score](std::ptrdiff_t a, std::ptrdiff_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  };
  if (k <= 32 && k < n) {
    // Small K: one scan keeping order[0..k) sorted by `before`.  A later index never wins a
    // tie, so a candidate enters only when strictly above the current k-th score.
    std::iota(order, order + k, std::ptrdiff_t{0});
    std::sort(order, order + k, before);
    double floor = score[order[k - 1]];  // the k-th score so far
    std::ptrdiff_t v = k;
    while (v < n) {
      // skip runs at or below the floor, 8 at a time (most voxels); the max of 8 scores is
      // above the floor iff one of them is
      for (; v + 8 <= n; v += 8) {
        const double* p = score + v;
        const double m = std::max(std::max(std::max(p[0], p[1]), std::max(p[2], p[3])),
                                  std::max(std::max(p[4], p[5]), std::max(p[6], p[7])));
        if (m > floor) break;
      }
      const std::ptrdiff_t end = std::min(n, v + 8);
      for (; v < end; ++v) {
        if (!(score[v] > floor)) continue;
        std::ptrdiff_t i = k - 1;
        for (; i > 0 && score[v] > score[order[i - 1]]; --i) order[i] = order[i - 1];
        order[i] = v;
        floor = score[order[k - 1]];
      }
    }
  } else {
    std::iota(order, order + n, std::ptrdiff_t{0});
    if (k < n) std::nth_element(order, order + k, order + n, before);
  }
  std::sort(order, order + k);
}

// NaN-safe score (a NaN would break the strict weak ordering of top_k).
inline double safe(double v) { return v == v ? v : -1.0; }

// Sorted union of two sorted index lists; returns its length.
inline std::ptrdiff_t merge_unique(const std::ptrdiff_t* a, std::ptrdiff_t na,
                                   const std::ptrdiff_t* b, std::ptrdiff_t nb, std::ptrdiff_t* out) {
  std::ptrdiff_t i = 0, j = 0, n = 0;
  while (i < na || j < nb) {
    std::ptrdiff_t v;
    if (j >= nb || (i < na && a[i] < b[j]))
      v = a[i++];
    else if (i >= na || b[j] < a[i])
      v = b[j++];
    else
      v = a[i++], ++j;
    out[n++] = v;
  }
  return n;
}

// Cholesky G_SS = L L^H with a relative pivot test, then two triangular solves.
inline bool cholesky_solve(const cd* h, cd* l, const cd* rhs, std::ptrdiff_t n, double tau,
                           cd* x) {
  for (std::ptrdiff_t j = 0; j < n; ++j) {
    double d = h[j + j * n].real();
    for (std::ptrdiff_t k = 0; k < j; ++k) d -= abs2(l[j + k * n]);
    if (!(d > tau * h[j + j * n].real())) return false;  // also catches NaN
    const double ljj = std::sqrt(d);
    l[j + j * n] = ljj;
    for (std::ptrdiff_t i = j + 1; i < n; ++i) {
      cd v = h[i + j * n];
      for (std::ptrdiff_t k = 0; k < j; ++k) v -= mul(l[i + k * n], std::conj(l[j + k * n]));
      l[i + j * n] = v / ljj;
    }
  }
  for (std::ptrdiff_t i = 0; i < n; ++i) {  // L w = rhs
    cd v = rhs[i];
    for (std::ptrdiff_t k = 0; k < i; ++k) v -= mul(l[i + k * n], x[k]);
    x[i] = v / l[i + i * n].real();
  }
  for (std::ptrdiff_t i = n - 1; i >= 0; --i) {  // L^H x = w
    cd v = x[i];
    for (std::ptrdiff_t k = i + 1; k < n; ++k) v -= mulc(l[k + i * n], x[k]);
    x[i] = v / l[i + i * n].real();
  }
  for (std::ptrdiff_t i = 0; i < n; ++i)
    if (!finite(x[i])) return false;
  return true;
}

// Minimum-norm LS through the eigen-decomposition of G_SS: x = V_r diag(1/lambda_r) V_r^H z_S
// over the eigenvalues lambda_r > tau * lambda_max.
inline void eigen_solve(Workspace& ws, const cd* h, const cd* rhs, std::ptrdiff_t n, cd* x) {
  cd* v = ws.l.data();
  std::copy(h, h + n * n, v);
  double* w = ws.w.data();
  const int info =
      lapack::heev(static_cast<int>(n), v, w, ws.work.data(), ws.lwork, ws.rwork.data());
  std::fill(x, x + n, cd(0.0));
  if (info != 0 || !(w[n - 1] > 0.0)) return;  // zero (or failed) Gram block: x = 0
  const double cut = ws.tau * w[n - 1];
  for (std::ptrdiff_t e = 0; e < n; ++e) {
    if (!(w[e] > cut)) continue;
    const cd* col = v + e * n;
    cd proj(0.0);
    for (std::ptrdiff_t i = 0; i < n; ++i) proj += mulc(col[i], rhs[i]);
    proj /= w[e];
    for (std::ptrdiff_t i = 0; i < n; ++i) x[i] += mul(col[i], proj);
  }
}

// Least squares on the Gram block ws.h (lower triangle, n x n) with right-hand side ws.rhs
// (both filled by the source); false if the solution is not finite.
inline bool least_squares(Workspace& ws, std::ptrdiff_t n, cd* x) {
  if (!cholesky_solve(ws.h.data(), ws.l.data(), ws.rhs.data(), n, ws.tau, x))
    eigen_solve(ws, ws.h.data(), ws.rhs.data(), n, x);
  for (std::ptrdiff_t i = 0; i < n; ++i)
    if (!finite(x[i])) return false;
  return true;
}

// ---- correlation kernel of the Gram form ----------------------------------------------------
// re[j] -= Re(conj(g_j) x), im[j] -= Im(conj(g_j) x) for j0 <= j < w, g interleaved complex
// T, in double.  The AVX2 build (correlate_rows_avx2, chosen at run time) does the same
// multiplications and additions in the same order per voxel, without FMA contraction, so both
// give bit-identical results.
template <class T>
inline void subtract_conj_product_portable(const T* g, double xr, double xi, double* re,
                                           double* im, std::ptrdiff_t j0, std::ptrdiff_t w) {
  for (std::ptrdiff_t j = j0; j < w; ++j) {
    const double gr = static_cast<double>(g[2 * j]), gi = static_cast<double>(g[2 * j + 1]);
    re[j] -= gr * xr + gi * xi;
    im[j] -= gr * xi - gi * xr;
  }
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define SKYSENSE_SP_AVX2 1
// AVX2 where the CPU has it, unless SKYSENSE_ISA=generic (the portable loop, for tests).
inline bool has_avx2() {
  static const bool cpu = __builtin_cpu_supports("avx2");
  const char* env = std::getenv("SKYSENSE_ISA");
  return cpu && !(env != nullptr && std::string(env) == "generic");
}
// (re, im) of 4 interleaved complex values, in double.
__attribute__((target("avx2"))) inline void split4(const float* p, __m256d& re, __m256d& im) {
  const __m128 lo = _mm_loadu_ps(p), hi = _mm_loadu_ps(p + 4);
  re = _mm256_cvtps_pd(_mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)));
  im = _mm256_cvtps_pd(_mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
}
__attribute__((target("avx2"))) inline void split4(const double* p, __m256d& re, __m256d& im) {
  const __m256d a = _mm256_loadu_pd(p), b = _mm256_loadu_pd(p + 4);
  // unpack gives (0, 2, 1, 3); permute back to (0, 1, 2, 3)
  re = _mm256_permute4x64_pd(_mm256_unpacklo_pd(a, b), 0xD8);
  im = _mm256_permute4x64_pd(_mm256_unpackhi_pd(a, b), 0xD8);
}
// score[j] = safe(|z_j - sum_k conj(g_k[j]) x_k|^2) for j < (w rounded down to 4), bad |= 1 on
// a NaN/Inf: per voxel the operations of subtract_conj_product_portable over k = 0..n-1 and
// the scalar score, with the voxel's value kept in registers across the n rows.
template <class T>
__attribute__((target("avx2"))) inline std::ptrdiff_t correlate_rows_avx2(
    const T* z, const T* const* g, const double* xr, const double* xi, std::ptrdiff_t n,
    double* score, std::ptrdiff_t w, int& bad) {
  const __m256d zero = _mm256_setzero_pd(), minus_one = _mm256_set1_pd(-1.0);
  __m256d finite = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
  std::ptrdiff_t j = 0;
  for (; j + 4 <= w; j += 4) {
    __m256d r, i;
    split4(z + 2 * j, r, i);
    for (std::ptrdiff_t k = 0; k < n; ++k) {
      __m256d gr, gi;
      split4(g[k] + 2 * j, gr, gi);
      const __m256d vxr = _mm256_set1_pd(xr[k]), vxi = _mm256_set1_pd(xi[k]);
      r = _mm256_sub_pd(r, _mm256_add_pd(_mm256_mul_pd(gr, vxr), _mm256_mul_pd(gi, vxi)));
      i = _mm256_sub_pd(i, _mm256_sub_pd(_mm256_mul_pd(gr, vxi), _mm256_mul_pd(gi, vxr)));
    }
    finite = _mm256_and_pd(finite, _mm256_cmp_pd(_mm256_sub_pd(r, r), zero, _CMP_EQ_OQ));
    finite = _mm256_and_pd(finite, _mm256_cmp_pd(_mm256_sub_pd(i, i), zero, _CMP_EQ_OQ));
    const __m256d m = _mm256_add_pd(_mm256_mul_pd(r, r), _mm256_mul_pd(i, i));
    _mm256_storeu_pd(score + j, _mm256_blendv_pd(minus_one, m, _mm256_cmp_pd(m, m, _CMP_EQ_OQ)));
  }
  if (_mm256_movemask_pd(finite) != 0xF) bad |= 1;
  return j;
}
#else
inline bool has_avx2() { return false; }
#endif

// ---- half-precision copy of a dense complex128 A (residual form) ----------------------------
// The residual form's cost is its passes over A (one per correlation).  With a copy of A in
// IEEE half precision each pass moves a quarter of the bytes; the selection stays that of the
// double-precision algorithm by certification (see MatrixAccess::certified_scores): the
// correlations from the copy come with a rigorous error bound, and the voxels whose rank the
// bound cannot settle are recomputed from A in double.
//
// Row i is stored as fl16(fl32(A[i, :] 2^-e_i)), e_i from the row's peak, so every entry is at
// most 1 in modulus whatever the scale of A; col_norm[v] bounds the 2-norm of column v of the
// row-scaled A from above.  ok is false when A holds a NaN/Inf (the callers then use A itself).
//
// Its memory: one block of at most kMaxRetainedBytes is kept for the process between calls and
// handed to one call at a time (a concurrent call, or a larger copy, allocates its own and frees
// it on return).  A fresh block costs a page fault and a zero-fill per page, which took as long
// as building the copy itself; a block already mapped costs neither.  The cap bounds what a
// long-running process keeps after one large call (64 MiB: the copy of a 256 MiB A).
class CopyMemory {
 public:
  static constexpr std::size_t kMaxRetainedBytes = std::size_t{64} << 20;

  CopyMemory() = default;
  CopyMemory(const CopyMemory&) = delete;
  CopyMemory& operator=(const CopyMemory&) = delete;
  ~CopyMemory() { std::free(own_); }

  // At least `bytes` of memory, or null.
  std::uint16_t* get(std::size_t bytes) {
    if (bytes > kMaxRetainedBytes) {
      own_ = allocate(bytes);
      return static_cast<std::uint16_t*>(own_);
    }
    Retained& r = retained();
    lock_ = std::unique_lock<std::mutex>(r.m, std::try_to_lock);
    if (lock_.owns_lock()) {
      if (r.size < bytes) {
        std::free(r.p);
        r.p = allocate(bytes), r.size = r.p != nullptr ? bytes : 0;
      }
      return static_cast<std::uint16_t*>(r.p);
    }
    own_ = allocate(bytes);
    return static_cast<std::uint16_t*>(own_);
  }

 private:
  struct Retained {
    std::mutex m;
    void* p = nullptr;
    std::size_t size = 0;
    ~Retained() { std::free(p); }
  };
  static Retained& retained() {
    static Retained r;
    return r;
  }
  // Aligned to 2 MiB and advised to use transparent huge pages (fewer faults).
  static void* allocate(std::size_t bytes) {
    constexpr std::size_t kHuge = std::size_t{2} << 20;
    const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = std::aligned_alloc(kHuge, rounded);
#if defined(MADV_HUGEPAGE)
    if (p != nullptr) madvise(p, rounded, MADV_HUGEPAGE);  // advice only
#endif
    return p;
  }
  std::unique_lock<std::mutex> lock_;
  void* own_ = nullptr;
};

// Rows of one f32 partial sum in the products from the copy (then added into double).
constexpr std::ptrdiff_t kHalfChunk = 16;

struct HalfCopy {
  std::ptrdiff_t m = 0, nv = 0, n_blocks = 1, rows = 1;  // row blocks of the products
  CopyMemory memory;
  std::uint16_t* data = nullptr;  // (m, 2 nv) interleaved half bits
  std::vector<int> row_exp;
  std::vector<double> col_norm;
  bool ok = false;
};

// IEEE half <-> float, round to nearest even (as F16C's vcvtps2ph with _MM_FROUND_TO_NEAREST_INT).
inline std::uint16_t half_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN
  if (u >= 0x47800000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow: Inf
  if (u >= 0x38800000u) {  // normal half: drop 13 bits with rounding to even, rebias
    u += 0xfffu + ((u >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | ((u - (112u << 23)) >> 13));
  }
  float a;  // subnormal half: |x| 2^24 rounded to an integer (exact scaling; 1024 = 2^-14)
  std::memcpy(&a, &u, 4);
  return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(std::nearbyint(a * 0x1p24f)));
}
inline float half_value(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  std::uint32_t u;
  if (e == 0) {
    float v = static_cast<float>(mant) * 0x1p-24f;  // exact
    std::memcpy(&u, &v, 4);
    u |= sign;
  } else if (e == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((e + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- building the copy ----
// Largest |row[j]| over j < n (NaN entries may be skipped: the norms catch them).
inline double row_peak_portable(const double* row, std::ptrdiff_t j0, std::ptrdiff_t n,
                                double peak) {
  for (std::ptrdiff_t j = j0; j < n; ++j) {
    const double v = std::abs(row[j]);
    peak = v > peak ? v : peak;
  }
  return peak;
}
// dst[j] = half(float(f(row[j]))), nrm[v] += re^2 + im^2 of the scaled pair v, for v >= v0.
inline void convert_row_portable(const double* row, const Pow2& f, std::uint16_t* dst,
                                 double* nrm, std::ptrdiff_t v0, std::ptrdiff_t nv) {
  for (std::ptrdiff_t v = v0; v < nv; ++v) {
    const double re = f(row[2 * v]), im = f(row[2 * v + 1]);
    dst[2 * v] = half_bits(static_cast<float>(re));
    dst[2 * v + 1] = half_bits(static_cast<float>(im));
    nrm[v] += re * re + im * im;
  }
}

#if defined(SKYSENSE_SP_AVX2)
// AVX2 with F16C where the CPU has both (and SKYSENSE_ISA is not "generic").
inline bool has_avx2_f16c() {
  static const bool cpu = __builtin_cpu_supports("f16c");
  return cpu && has_avx2();
}
__attribute__((target("avx2"))) inline double row_peak_avx2(const double* row, std::ptrdiff_t n,
                                                            std::ptrdiff_t& done) {
  const __m256d sign = _mm256_set1_pd(-0.0);
  __m256d p0 = _mm256_setzero_pd(), p1 = _mm256_setzero_pd();
  std::ptrdiff_t j = 0;
  for (; j + 8 <= n; j += 8) {
    p0 = _mm256_max_pd(_mm256_andnot_pd(sign, _mm256_loadu_pd(row + j)), p0);
    p1 = _mm256_max_pd(_mm256_andnot_pd(sign, _mm256_loadu_pd(row + j + 4)), p1);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_max_pd(p0, p1));
  done = j;
  return std::max({lanes[0], lanes[1], lanes[2], lanes[3]});
}
// The portable loop's operations (a power-of-two factor that is a normal double), 4 voxels at
// a time; returns the count done.  kStream (dst 16-byte aligned): non-temporal stores (the copy
// is read back only after the whole of A has been streamed: no read-for-ownership).
// next: the row after (its lines are fetched meanwhile: the peak scan of a row is the pass
// that waits on memory, the conversion works from L1), or null.
template <bool kStream>
__attribute__((target("avx2,f16c"))) inline std::ptrdiff_t convert_row_avx2(
    const double* row, double factor, std::uint16_t* dst, double* nrm, std::ptrdiff_t nv,
    const double* next) {
  const __m256d fv = _mm256_set1_pd(factor);
  std::ptrdiff_t v = 0;
  for (; v + 4 <= nv; v += 4) {
    if (next != nullptr) _mm_prefetch(reinterpret_cast<const char*>(next + 2 * v), _MM_HINT_T0);
    const __m256d lo = _mm256_mul_pd(_mm256_loadu_pd(row + 2 * v), fv);
    const __m256d hi = _mm256_mul_pd(_mm256_loadu_pd(row + 2 * v + 4), fv);
    const __m256 f = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)),
                                          _mm256_cvtpd_ps(hi), 1);
    const __m128i h = _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT);
    if constexpr (kStream)
      _mm_stream_si128(reinterpret_cast<__m128i*>(dst + 2 * v), h);
    else
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * v), h);
    // hadd: (re0^2 + im0^2, re2^2 + im2^2, re1^2 + im1^2, re3^2 + im3^2)
    const __m256d sq = _mm256_permute4x64_pd(
        _mm256_hadd_pd(_mm256_mul_pd(lo, lo), _mm256_mul_pd(hi, hi)), 0xD8);
    _mm256_storeu_pd(nrm + v, _mm256_add_pd(_mm256_loadu_pd(nrm + v), sq));
  }
  return v;
}
#else
inline bool has_avx2_f16c() { return false; }
#endif

// The copy of a (m, nv) complex128 A; rows in blocks as MatrixAccess's products.
inline void build_half_copy(const cd* a, std::ptrdiff_t m, std::ptrdiff_t nv, HalfCopy& c,
                            int n_threads) {
  c.m = m, c.nv = nv;
  c.n_blocks = std::max<std::ptrdiff_t>(
      1, std::min<std::ptrdiff_t>(kMaxRowBlocks, (m + kRowBlock - 1) / kRowBlock));
  c.rows = (m + c.n_blocks - 1) / c.n_blocks;
  c.ok = false;
  c.data = c.memory.get(static_cast<std::size_t>(m * 2 * nv) * sizeof(std::uint16_t));
  if (c.data == nullptr) return;
  c.row_exp.assign(static_cast<std::size_t>(m), 0);
  c.col_norm.assign(static_cast<std::size_t>(nv), 0.0);
  const bool avx2 = has_avx2_f16c();
  std::vector<double> part(static_cast<std::size_t>(c.n_blocks * nv));
  parallel_for(c.n_blocks, n_threads, [&](std::ptrdiff_t b) {
    cancellation_point();
    double* nrm = part.data() + b * nv;
    std::fill(nrm, nrm + nv, 0.0);
    const std::ptrdiff_t r0 = b * c.rows, r1 = std::min(m, r0 + c.rows);
    for (std::ptrdiff_t i = r0; i < r1; ++i) {
      const double* row = reinterpret_cast<const double*>(a + i * nv);
      std::ptrdiff_t j0 = 0, v0 = 0;
      double peak = 0.0;
#if defined(SKYSENSE_SP_AVX2)
      if (avx2) peak = row_peak_avx2(row, 2 * nv, j0);
#endif
      peak = row_peak_portable(row, j0, 2 * nv, peak);  // exact: any order gives the same max
      const int e = std::isfinite(peak) ? exponent_of(peak) : 0;
      c.row_exp[i] = e;
      const Pow2 down(-e);
      std::uint16_t* dst = c.data + i * 2 * nv;
#if defined(SKYSENSE_SP_AVX2)
      if (avx2 && down.factor != 0.0) {
        const double* next = i + 1 < r1 ? row + 2 * nv : nullptr;
        if ((reinterpret_cast<std::uintptr_t>(dst) & 15) == 0)
          v0 = convert_row_avx2<true>(row, down.factor, dst, nrm, nv, next);
        else
          v0 = convert_row_avx2<false>(row, down.factor, dst, nrm, nv, next);
      }
#endif
      convert_row_portable(row, down, dst, nrm, v0, nv);
    }
#if defined(SKYSENSE_SP_AVX2)
    if (avx2) _mm_sfence();  // the streamed stores before the block is reported done
#endif
  });
  // Upper bound: the sums (m terms <= 1) are within (m + 2) eps of the exact ones.
  const double up = 1.0 + static_cast<double>(m + 8) * std::numeric_limits<double>::epsilon();
  bool finite_norms = true;
  for (std::ptrdiff_t v = 0; v < nv; ++v) {
    double s = 0.0;
    for (std::ptrdiff_t b = 0; b < c.n_blocks; ++b) s += part[b * nv + v];
    c.col_norm[v] = std::sqrt(s * up) * up;
    finite_norms = finite_norms && std::isfinite(c.col_norm[v]);
  }
  c.ok = finite_norms;
}

// ---- products with the copy ----
// acc[v] += conj(h[q][v]) s[q] over rows q < n_rows, in float (acc interleaved, holding the
// conjugate of the sum: acc_re += hr sr + hi si, acc_im += hi sr + hr (-si)), rows one after
// the other.  s holds (sr, si) per row as floats.
inline void accumulate_half_rows_portable(const std::uint16_t* const* h, const float* s,
                                          int n_rows, float* acc, std::ptrdiff_t j0,
                                          std::ptrdiff_t nv) {
  for (std::ptrdiff_t v = j0; v < nv; ++v) {
    float re = acc[2 * v], im = acc[2 * v + 1];
    for (int q = 0; q < n_rows; ++q) {
      const float hr = half_value(h[q][2 * v]), hi = half_value(h[q][2 * v + 1]);
      const float sr = s[2 * q], si = s[2 * q + 1];
      re += hr * sr + hi * si;
      im += hi * sr + hr * (-si);
    }
    acc[2 * v] = re, acc[2 * v + 1] = im;
  }
}

#if defined(SKYSENSE_SP_AVX2)
// The portable loop's operations in the same order, 8 voxels at a time; returns the count done.
__attribute__((target("avx2,f16c"))) inline std::ptrdiff_t accumulate_half_rows_avx2(
    const std::uint16_t* const* h, const float* s, int n_rows, float* acc, std::ptrdiff_t nv) {
  __m256 sr[4], sn[4];
  for (int q = 0; q < n_rows; ++q) {
    sr[q] = _mm256_set1_ps(s[2 * q]);
    const float si = s[2 * q + 1];
    sn[q] = _mm256_setr_ps(si, -si, si, -si, si, -si, si, -si);
  }
  std::ptrdiff_t v = 0;
  for (; v + 8 <= nv; v += 8) {
    __m256 lo = _mm256_loadu_ps(acc + 2 * v), hi = _mm256_loadu_ps(acc + 2 * v + 8);
    for (int q = 0; q < n_rows; ++q) {
      const __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h[q] + 2 * v)));
      const __m256 a1 =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h[q] + 2 * v + 8)));
      // (hr sr, hi sr) + (hi si, hr (-si))
      lo = _mm256_add_ps(lo, _mm256_add_ps(_mm256_mul_ps(a0, sr[q]),
                                           _mm256_mul_ps(_mm256_permute_ps(a0, 0xB1), sn[q])));
      hi = _mm256_add_ps(hi, _mm256_add_ps(_mm256_mul_ps(a1, sr[q]),
                                           _mm256_mul_ps(_mm256_permute_ps(a1, 0xB1), sn[q])));
    }
    _mm256_storeu_ps(acc + 2 * v, lo);
    _mm256_storeu_ps(acc + 2 * v + 8, hi);
  }
  return v;
}
#endif

// out[v] = conj(sum_i conj(copy[i, v]) s_i) for s (m,) given as float pairs: float sums over
// kHalfChunk rows, added into double, over the copy's fixed row blocks (partials summed in
// block order: independent of n_inner), four rows at a time.
inline void adjoint_half(const HalfCopy& c, const float* s, cd* out, std::vector<double>& part,
                         std::vector<float>& part32, int n_inner, bool avx2) {
  const std::ptrdiff_t m = c.m, nv = c.nv;
  part.resize(static_cast<std::size_t>(c.n_blocks * 2 * nv));
  part32.resize(static_cast<std::size_t>(c.n_blocks * 2 * nv));
  parallel_for(c.n_blocks, n_inner, [&](std::ptrdiff_t b) {
    cancellation_point();
    double* acc = part.data() + b * 2 * nv;
    float* acc32 = part32.data() + b * 2 * nv;
    std::fill(acc, acc + 2 * nv, 0.0);
    const std::ptrdiff_t r0 = b * c.rows, r1 = std::min(m, r0 + c.rows);
    for (std::ptrdiff_t k0 = r0; k0 < r1; k0 += kHalfChunk) {
      const std::ptrdiff_t k1 = std::min(r1, k0 + kHalfChunk);
      std::fill(acc32, acc32 + 2 * nv, 0.0f);
      for (std::ptrdiff_t i = k0; i < k1; i += 4) {
        const int n_rows = static_cast<int>(std::min<std::ptrdiff_t>(4, k1 - i));
        const std::uint16_t* rows[4];
        for (int q = 0; q < n_rows; ++q) rows[q] = c.data + (i + q) * 2 * nv;
        std::ptrdiff_t j0 = 0;
#if defined(SKYSENSE_SP_AVX2)
        if (avx2) j0 = accumulate_half_rows_avx2(rows, s + 2 * i, n_rows, acc32, nv);
#else
        (void)avx2;
#endif
        accumulate_half_rows_portable(rows, s + 2 * i, n_rows, acc32, j0, nv);
      }
      for (std::ptrdiff_t j = 0; j < 2 * nv; ++j) acc[j] += static_cast<double>(acc32[j]);
    }
  });
  for (std::ptrdiff_t v = 0; v < nv; ++v) {
    double re = 0.0, im = 0.0;
    for (std::ptrdiff_t b = 0; b < c.n_blocks; ++b) {
      re += part[b * 2 * nv + 2 * v];
      im += part[b * 2 * nv + 2 * v + 1];
    }
    out[v] = cd(re, im);
  }
}

// Per-worker scratch of the certified selection.
struct CertifyScratch {
  std::vector<cd> c, exact;
  std::vector<float> s32, part32;
  std::vector<double> part, lo, hi, tmp;
  std::vector<std::ptrdiff_t> cand;
  std::ptrdiff_t n_certified = 0, n_fallback = 0;  // counts (diagnostics)
};

// ---- Gram form ------------------------------------------------------------------------------
// G (nv, nv) Hermitian; z (n, nv) = A^H y per frame; y (n, m).
template <class T>
class GramSource {
 public:
  GramSource(ConstView<std::complex<T>, 2> gram, ConstView<std::complex<T>, 2> z,
             ConstView<std::complex<T>, 2> y, Workspace& ws)
      : g_(gram.data), nv_(gram.shape[1]), zall_(z.data), y_(y), ws_(ws), avx2_(has_avx2()),
        rows_(static_cast<std::size_t>(ws.kmax)), xr_(static_cast<std::size_t>(ws.kmax)),
        xi_(static_cast<std::size_t>(ws.kmax)) {}

  // Prepares frame f; returns ||y||^2 (non-finite when y is).
  double start(std::ptrdiff_t f) {
    z_ = zall_ + f * nv_;
    // ||y||^2 in 8 interleaved partial sums (a fixed order: one serial chain of additions cost
    // as much as the rest of a batch frame's set-up)
    const T* yf = reinterpret_cast<const T*>(y_.data + f * y_.shape[1]);
    const std::ptrdiff_t n2 = 2 * y_.shape[1];
    double part[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    std::ptrdiff_t i = 0;
    for (; i + 8 <= n2; i += 8)
      for (int q = 0; q < 8; ++q) {
        const double v = static_cast<double>(yf[i + q]);
        part[q] += v * v;
      }
    for (; i < n2; ++i) {
      const double v = static_cast<double>(yf[i]);
      part[0] += v * v;
    }
    const double y2 = ((part[0] + part[1]) + (part[2] + part[3])) +
                      ((part[4] + part[5]) + (part[6] + part[7]));
    y_norm2_ = y2;
    return y2;
  }

  // score = |z|^2; false if z has a NaN/Inf.
  bool initial_scores(double* score) const {
    const T* z = reinterpret_cast<const T*>(z_);
    int bad = 0;
    std::ptrdiff_t v0 = 0;
#if defined(SKYSENSE_SP_AVX2)
    if (avx2_) v0 = correlate_rows_avx2(z, rows_.data(), xr_.data(), xi_.data(), 0, score, nv_, bad);
#endif
    for (std::ptrdiff_t v = v0; v < nv_; ++v) {
      const double re = static_cast<double>(z[2 * v]), im = static_cast<double>(z[2 * v + 1]);
      bad |= not_finite(re) | not_finite(im);
      score[v] = safe(re * re + im * im);
    }
    return bad == 0;
  }

  // ws.h (lower) = G[s, s], ws.rhs = z[s]; false on a NaN/Inf.
  bool block(const std::ptrdiff_t* s, std::ptrdiff_t n) {
    cd* h = ws_.h.data();
    bool ok = true;
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      const std::complex<T>* row = g_ + s[j] * nv_;  // G[s_j, :]; lower column j = G[s_i, s_j]
      for (std::ptrdiff_t i = j; i < n; ++i) {
        h[i + j * n] = std::conj(cd(row[s[i]]));
        ok = ok && finite(h[i + j * n]);
      }
      ws_.rhs[j] = cd(z_[s[j]]);
      ok = ok && finite(ws_.rhs[j]);
    }
    return ok;
  }

  // ||r|| / ||y|| from the Gram identity on the block of the last solve (NaN if not finite).
  double ratio(const std::ptrdiff_t*, std::ptrdiff_t n, const cd* x) const {
    const cd* h = ws_.h.data();
    const cd* rhs = ws_.rhs.data();
    double xz = 0.0, xgx = 0.0;
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      xz += mulc(x[i], rhs[i]).real();
      cd hx = h[i + i * n].real() * x[i];
      for (std::ptrdiff_t j = 0; j < i; ++j) hx += mul(h[i + j * n], x[j]);
      for (std::ptrdiff_t j = i + 1; j < n; ++j) hx += mulc(h[j + i * n], x[j]);
      xgx += mulc(x[i], hx).real();
    }
    const double r2 = y_norm2_ - 2.0 * xz + xgx;
    if (std::isnan(r2)) return r2;
    return r2 > 0.0 ? std::sqrt(r2 / y_norm2_) : 0.0;
  }

  // score = |z - G[:, s] x|^2 (= |A^H r|^2), accumulated in double; false on a NaN/Inf.  One
  // pass over the voxels in chunks that stay in L1 (the K rows of G streamed side by side);
  // per voxel the same operations in the same order as row by row.
  bool correlate(const std::ptrdiff_t* s, std::ptrdiff_t n, const cd* x, double* score) {
    constexpr std::ptrdiff_t kChunk = 256;
    double re[kChunk], im[kChunk];  // split real / imaginary parts: the loops vectorise
    const T* z = reinterpret_cast<const T*>(z_);
    int bad = 0;
    for (std::ptrdiff_t v0 = 0; v0 < nv_; v0 += kChunk) {
      const std::ptrdiff_t w = std::min(kChunk, nv_ - v0);
      // The K rows are read in pieces of kChunk entries, too short for the hardware
      // prefetchers to follow K streams from memory (a large Gram): fetch the next pieces now.
      const std::ptrdiff_t next = v0 + kChunk, w_next = std::min(kChunk, nv_ - next);
      for (std::ptrdiff_t k = 0; k < n && w_next > 0; ++k) {
        const char* p = reinterpret_cast<const char*>(g_ + s[k] * nv_ + next);
        for (std::ptrdiff_t b = 0; b < w_next * static_cast<std::ptrdiff_t>(sizeof(std::complex<T>));
             b += 64)
          prefetch(p + b);
      }
      // G[v, s_k] = conj(G[s_k, v]): read row s_k contiguously.
      for (std::ptrdiff_t k = 0; k < n; ++k)
        rows_[k] = reinterpret_cast<const T*>(g_ + s[k] * nv_) + 2 * v0;
      std::ptrdiff_t j0 = 0;
#if defined(SKYSENSE_SP_AVX2)
      if (avx2_) {
        for (std::ptrdiff_t k = 0; k < n; ++k) xr_[k] = x[k].real(), xi_[k] = x[k].imag();
        j0 = correlate_rows_avx2(z + 2 * v0, rows_.data(), xr_.data(), xi_.data(), n, score + v0,
                                 w, bad);
        if (j0 == w) continue;
      }
#endif
      for (std::ptrdiff_t j = j0; j < w; ++j) {
        re[j] = static_cast<double>(z[2 * (v0 + j)]);
        im[j] = static_cast<double>(z[2 * (v0 + j) + 1]);
      }
      for (std::ptrdiff_t k = 0; k < n; ++k)
        subtract_conj_product_portable(rows_[k], x[k].real(), x[k].imag(), re, im, j0, w);
      for (std::ptrdiff_t j = j0; j < w; ++j) {
        bad |= not_finite(re[j]) | not_finite(im[j]);
        score[v0 + j] = safe(re[j] * re[j] + im[j] * im[j]);
      }
    }
    return bad == 0;
  }

  int exponent() const { return 0; }  // the caller scales the Gram form
  std::int64_t n_certified() const { return 0; }

 private:
  const std::complex<T>* g_;
  std::ptrdiff_t nv_;
  const std::complex<T>* zall_;
  ConstView<std::complex<T>, 2> y_;
  Workspace& ws_;
  const std::complex<T>* z_ = nullptr;
  double y_norm2_ = 0.0;
  bool avx2_;
  std::vector<const T*> rows_;  // the K rows of G in the current chunk
  std::vector<double> xr_, xi_;
};

// ---- Residual form --------------------------------------------------------------------------
// The columns of A that the supports touch, gathered (exactly scaled by 2^-e) into slots, with
// their pairwise inner products cached, the exact residual of the last ratio, and the adjoint
// products.  `Access` supplies the matrix: MatrixAccess (dense A) or LinkAccess (links).
template <class T, class Access>
class ResidualSource {
 public:
  ResidualSource(const Access& access, ConstView<std::complex<T>, 2> y, Workspace& ws,
                 int n_inner)
      : a_(access), y_(y), m_(y.shape[1]), nv_(access.n_voxels()), ws_(ws), n_inner_(n_inner) {
    cap_ = std::min<std::ptrdiff_t>(nv_, 2 * ws.k + 2);  // U (<= 2K columns) and two spare
    const auto mc = static_cast<std::size_t>(m_);
    cols_.reset(new cd[mc * static_cast<std::size_t>(cap_)]);  // filled slot by slot
    slot_voxel_.assign(static_cast<std::size_t>(cap_), -1);
    slot_used_.assign(static_cast<std::size_t>(cap_), 0);
    gslot_.resize(static_cast<std::size_t>(cap_ * cap_));
    gcol_.resize(static_cast<std::size_t>(cap_ * 8));
    fresh_cols_.resize(mc * 8);
    zslot_.resize(static_cast<std::size_t>(cap_));
    slot_of_.assign(static_cast<std::size_t>(nv_), -1);
    yd_.resize(mc), r_.resize(mc), rt_.resize(mc);
    zscore_.resize(static_cast<std::size_t>(nv_)), out_.resize(static_cast<std::size_t>(nv_));
  }

  double start(std::ptrdiff_t f) {
    for (std::ptrdiff_t i = 0; i < cap_; ++i) {
      if (slot_voxel_[i] >= 0) slot_of_[slot_voxel_[i]] = -1;
      slot_voxel_[i] = -1;
      slot_used_[i] = 0;
    }
    n_filled_ = 0;
    clock_ = 0;
    e_ = 0;
    scaled_ = false;
    const std::complex<T>* yf = y_.data + f * m_;
    double y2 = 0.0;
    for (std::ptrdiff_t i = 0; i < m_; ++i) {
      yd_[i] = cd(yf[i]);
      y2 += abs2(yd_[i]);
    }
    y_norm2_ = y2;
    if (!std::isfinite(y2) || !(y2 > 0.0)) return y2;
    // scores of z = A^H y (only their ranking is used: the right-hand sides of the solves come
    // from the gathered columns)
    z_bad_ = 0;
    if (a_.certified_scores(yd_.data(), 0, ws_.k, zscore_.data(), cert_, n_inner_)) return y2;
    a_.adjoint(yf, out_.data(), n_inner_);
    const T* c = reinterpret_cast<const T*>(out_.data());
    for (std::ptrdiff_t v = 0; v < nv_; ++v) {
      const double re = static_cast<double>(c[2 * v]), im = static_cast<double>(c[2 * v + 1]);
      z_bad_ |= not_finite(re) | not_finite(im);
      zscore_[v] = safe(re * re + im * im);
    }
    return y2;
  }

  bool initial_scores(double* score) const {
    std::copy(zscore_.begin(), zscore_.end(), score);
    return z_bad_ == 0;
  }

  bool block(const std::ptrdiff_t* s, std::ptrdiff_t n) {
    if (!gather(s, n)) return false;
    cd* h = ws_.h.data();
    bool ok = true;
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      const std::ptrdiff_t sj = slot_of_[s[j]];
      for (std::ptrdiff_t i = j; i < n; ++i) {
        h[i + j * n] = gslot_[slot_of_[s[i]] + sj * cap_];  // <col_si, col_sj>
        ok = ok && finite(h[i + j * n]);
      }
      ws_.rhs[j] = zslot_[sj];  // <col_sj, y>
      ok = ok && finite(ws_.rhs[j]);
    }
    return ok;
  }

  // Exact ||y - A_s x|| / ||y|| (x in the scaled units); keeps r for the next correlate.
  double ratio(const std::ptrdiff_t* s, std::ptrdiff_t n, const cd* x) {
    std::copy(yd_.begin(), yd_.end(), r_.begin());
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      const cd* col = cols_.get() + slot_of_[s[j]] * m_;
      const cd xj = x[j];
      for (std::ptrdiff_t i = 0; i < m_; ++i) r_[i] -= mul(col[i], xj);
    }
    double r2 = 0.0, peak = 0.0;
    for (std::ptrdiff_t i = 0; i < m_; ++i) {
      r2 += abs2(r_[i]);
      peak = std::max({peak, std::abs(r_[i].real()), std::abs(r_[i].imag())});
    }
    r_exponent_ = exponent_of(peak);
    if (std::isnan(r2)) return r2;
    return std::sqrt(r2 / y_norm2_);
  }

  // score = |A^H r|^2 up to a positive factor (r scaled to unit peak and by 2^-e), or, where
  // the source certifies the selection, that score on the voxels that can enter the K largest
  // and -1 elsewhere.
  bool correlate(const std::ptrdiff_t*, std::ptrdiff_t, const cd*, double* score) {
    if (a_.certified_scores(r_.data(), -r_exponent_, ws_.k, score, cert_, n_inner_)) return true;
    const Pow2 shift(-r_exponent_ - e_);
    for (std::ptrdiff_t i = 0; i < m_; ++i)
      rt_[i] = std::complex<T>(static_cast<T>(shift(r_[i].real())),
                               static_cast<T>(shift(r_[i].imag())));
    a_.adjoint(rt_.data(), out_.data(), n_inner_);
    const T* c = reinterpret_cast<const T*>(out_.data());
    int bad = 0;
    for (std::ptrdiff_t v = 0; v < nv_; ++v) {
      const double re = static_cast<double>(c[2 * v]), im = static_cast<double>(c[2 * v + 1]);
      bad |= not_finite(re) | not_finite(im);
      score[v] = safe(re * re + im * im);
    }
    return bad == 0;
  }

  int exponent() const { return e_; }  // x = 2^-e x_scaled
  std::int64_t n_certified() const { return cert_.n_certified; }

 private:
  // Makes the columns of s resident in slots (scaled by 2^-e, e fixed by the first gather) and
  // their pairwise products cached; false on a NaN/Inf column.
  bool gather(const std::ptrdiff_t* s, std::ptrdiff_t n) {
    ++clock_;
    for (std::ptrdiff_t j = 0; j < n; ++j)
      if (slot_of_[s[j]] >= 0) slot_used_[slot_of_[s[j]]] = clock_;
    fresh_.clear();
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      if (slot_of_[s[j]] >= 0) continue;
      std::ptrdiff_t best = 0;  // least recently used slot not needed now
      for (std::ptrdiff_t i = 1; i < cap_; ++i)
        if (slot_used_[i] < slot_used_[best]) best = i;
      if (slot_voxel_[best] >= 0) slot_of_[slot_voxel_[best]] = -1;
      n_filled_ = std::max(n_filled_, best + 1);  // slots fill in order 0, 1, ... (LRU ties)
      slot_voxel_[best] = s[j];
      slot_of_[s[j]] = best;
      slot_used_[best] = clock_;
      fresh_.push_back(best);
    }
    if (fresh_.empty()) return true;
    voxels_.clear();
    for (auto slot : fresh_) voxels_.push_back(slot_voxel_[slot]);
    a_.columns(voxels_.data(), static_cast<std::ptrdiff_t>(voxels_.size()), cols_.get(), m_,
               fresh_.data());
    if (!scaled_) {  // e from the first support's columns
      double peak = 0.0;
      for (auto slot : fresh_) {
        const cd* col = cols_.get() + slot * m_;
        for (std::ptrdiff_t i = 0; i < m_; ++i)
          peak = std::max({peak, std::abs(col[i].real()), std::abs(col[i].imag())});
      }
      if (!std::isfinite(peak)) return false;
      e_ = exponent_of(peak);
      scaled_ = true;
    }
    const Pow2 down(-e_);
    int bad = 0;
    for (auto slot : fresh_) {
      double* col = reinterpret_cast<double*>(cols_.get() + slot * m_);
      for (std::ptrdiff_t i = 0; i < 2 * m_; ++i) {
        col[i] = down(col[i]);
        bad |= not_finite(col[i]);
      }
    }
    if (bad != 0) return false;
    for (auto slot : fresh_) {  // right-hand sides <col, y>
      const cd* col = cols_.get() + slot * m_;
      double re = 0.0, im = 0.0;
      for (std::ptrdiff_t i = 0; i < m_; ++i) {
        const cd p = mulc(col[i], yd_[i]);
        re += p.real(), im += p.imag();
      }
      zslot_[slot] = cd(re, im);
    }
    // Inner products of the fresh columns with every filled slot, G[:, fresh] = C^H F, in
    // GEMMs over a few fresh columns at a time (gathered contiguously; a cancellation point
    // between them).
    const std::ptrdiff_t step = 8;
    for (std::size_t f0 = 0; f0 < fresh_.size(); f0 += step) {
      cancellation_point();
      const std::ptrdiff_t nf =
          std::min<std::ptrdiff_t>(step, static_cast<std::ptrdiff_t>(fresh_.size() - f0));
      for (std::ptrdiff_t j = 0; j < nf; ++j)
        std::copy(cols_.get() + fresh_[f0 + j] * m_, cols_.get() + (fresh_[f0 + j] + 1) * m_,
                  fresh_cols_.begin() + j * m_);
      blas::inner_products(static_cast<int>(m_), static_cast<int>(n_filled_),
                           static_cast<int>(nf), cols_.get(), fresh_cols_.data(), gcol_.data());
      for (std::ptrdiff_t j = 0; j < nf; ++j) {
        const std::ptrdiff_t slot = fresh_[f0 + j];
        const cd* g = gcol_.data() + j * n_filled_;
        for (std::ptrdiff_t i = 0; i < n_filled_; ++i) {
          gslot_[i + slot * cap_] = g[i];             // <col_i, col_slot>
          gslot_[slot + i * cap_] = std::conj(g[i]);  // <col_slot, col_i>
        }
        gslot_[slot + slot * cap_] = cd(g[slot].real(), 0.0);
      }
    }
    return true;
  }

  const Access& a_;
  ConstView<std::complex<T>, 2> y_;
  std::ptrdiff_t m_, nv_;
  Workspace& ws_;
  int n_inner_;
  std::ptrdiff_t cap_ = 0;
  std::unique_ptr<cd[]> cols_;  // (cap, m): slot i holds column slot_voxel_[i] (scaled)
  std::ptrdiff_t n_filled_ = 0;  // slots 0..n_filled_-1 have held a column this frame
  std::vector<std::ptrdiff_t> slot_voxel_, slot_of_;
  std::vector<std::int64_t> slot_used_;
  std::vector<cd> gslot_;  // (cap, cap): gslot_[i + j cap] = <col_i, col_j> (resident slots)
  std::vector<std::ptrdiff_t> fresh_, voxels_;
  std::vector<cd> gcol_, fresh_cols_;  // (n_filled, 8) products, (m, 8) fresh columns
  std::vector<cd> zslot_;              // (cap,): <col_i, y>
  std::vector<cd> yd_, r_;
  std::vector<double> zscore_;  // |A^H y|^2 (or the certified scores)
  int z_bad_ = 0;
  CertifyScratch cert_;
  std::vector<std::complex<T>> rt_, out_;
  std::int64_t clock_ = 0;
  int e_ = 0, r_exponent_ = 0;
  bool scaled_ = false;
  double y_norm2_ = 0.0;
};

// Dense row-major A (m, nv).
template <class T>
class MatrixAccess {
 public:
  // copy: A in half precision (complex128 A only), or null.
  explicit MatrixAccess(ConstView<std::complex<T>, 2> a, const HalfCopy* copy = nullptr)
      : a_(a), copy_(copy != nullptr && copy->ok ? copy : nullptr), avx2_(has_avx2_f16c()) {}
  std::ptrdiff_t n_voxels() const { return a_.shape[1]; }
  std::ptrdiff_t n_measurements() const { return a_.shape[0]; }

  // Certified selection from the half-precision copy.  With r' = 2^shift r, c = A^H r' and k
  // the support size: score[v] = |c_v|^2 (times a common power of two) computed from A in
  // double for every voxel v that can be among the k largest |c_v|, and -1 for every voxel
  // that the error bound rules out.  The k largest scores are then those of the
  // double-precision correlations.  False (score untouched) without a copy, for r = 0, on a
  // non-finite value, or when too many voxels stay undecided: the caller then forms c from A.
  //
  // The bound.  Let A~[i, v] = A[i, v] 2^-e_i (|Re|, |Im| < 1), s_i = 2^(e_i - E) r'_i with E
  // the exponent of max_i 2^(e_i) |r'_i| (so |s_i| <= 1: no overflow whatever the scales of A
  // and r), and c~_v the estimate of 2^-E c_v = sum_i conj(A~_iv) s_i from the copy.  The copy
  // holds h = fl16(fl32(A~)) (relative error <= 2^-11 + 2^-23, absolute <= 2^-24 where
  // subnormal), the products take t = fl32(s) (2^-24, 2^-149), sums of kHalfChunk = R rows run
  // in float (error <= 1.5 (R + 2) 2^-24 sum |h| |t|) and are added in double (2 (m + 8) eps
  // sum |h| |t|).  With sum_i |A~_iv| |s_i| <= ||A~_v|| ||s|| (Cauchy-Schwarz), collecting terms:
  //   |c~_v - 2^-E c_v| <= (2^-11 + 2^-22 + 1.01 (1.5 (R + 2) 2^-24 + 2 (m + 8) eps))
  //                         ||A~_v|| ||s|| + 2^-23 ||s||_1 + m 2^-145 =: b_v.
  // With lo_v = |c~_v| - b_v, hi_v = |c~_v| + b_v (rounding margins added) and L the k-th
  // largest lo_v, a voxel with hi_v < L has k voxels certainly above it, so only the voxels
  // with hi_v >= L are recomputed (from A in double, scaled by 2^-E as well).
  bool certified_scores(const cd* r, int shift, std::ptrdiff_t k, double* score,
                        CertifyScratch& sc, int n_inner) const {
    if (copy_ == nullptr) return false;
    const std::ptrdiff_t m = a_.shape[0], nv = a_.shape[1];
    constexpr double eps = std::numeric_limits<double>::epsilon();
    sc.s32.resize(static_cast<std::size_t>(2 * m));
    sc.c.resize(static_cast<std::size_t>(nv));
    int top = std::numeric_limits<int>::min();
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      const double p = std::max(std::abs(r[i].real()), std::abs(r[i].imag()));
      if (!std::isfinite(p)) return false;
      if (p > 0.0) top = std::max(top, copy_->row_exp[i] + exponent_of(p));
    }
    if (top == std::numeric_limits<int>::min()) return false;  // r = 0: nothing to rank
    shift -= top;  // r' 2^-E
    double s2 = 0.0, s1 = 0.0;
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      const Pow2 f(copy_->row_exp[i] + shift);
      const double re = f(r[i].real()), im = f(r[i].imag());
      sc.s32[2 * i] = static_cast<float>(re);
      sc.s32[2 * i + 1] = static_cast<float>(im);
      s2 += re * re + im * im;
      s1 += std::abs(re) + std::abs(im);
    }
    adjoint_half(*copy_, sc.s32.data(), sc.c.data(), sc.part, sc.part32, n_inner, avx2_);
    const double md = static_cast<double>(m);
    const double slack = 1.0 + 1e-6;  // covers the rounding of the bound's own arithmetic
    const double s_norm = std::sqrt(s2 * (1.0 + (md + 4.0) * eps)) * (1.0 + 4.0 * eps);
    const double chunk = static_cast<double>(kHalfChunk);
    const double rel =
        (0x1p-11 + 0x1p-22 + 1.01 * (1.5 * (chunk + 2.0) * 0x1p-24 + 2.0 * (md + 8.0) * eps)) *
        s_norm * slack;
    // (+ m 2^-1070: subnormal doubles in the scaling of A and r)
    const double absolute = (0x1p-23 * s1 + md * 0x1p-145 + md * 0x1p-1070) * slack;
    sc.lo.resize(static_cast<std::size_t>(nv));
    sc.hi.resize(static_cast<std::size_t>(nv));
    for (std::ptrdiff_t v = 0; v < nv; ++v) {
      const double mag = std::sqrt(abs2(sc.c[v]));
      if (!std::isfinite(mag)) return false;
      const double b = rel * copy_->col_norm[v] + absolute;
      sc.lo[v] = mag * (1.0 - 4.0 * eps) - b;
      sc.hi[v] = mag * (1.0 + 4.0 * eps) + b;
    }
    sc.tmp.assign(sc.lo.begin(), sc.lo.end());
    std::nth_element(sc.tmp.begin(), sc.tmp.begin() + (k - 1), sc.tmp.end(), std::greater<>());
    const double level = sc.tmp[k - 1];
    // at most this many recomputed (each costs m scattered reads; a small A: all of them)
    const std::ptrdiff_t cap = std::max(std::min<std::ptrdiff_t>(nv, k + 16),
                                        std::min<std::ptrdiff_t>(nv / 4, 4 * k + 32));
    sc.cand.clear();
    for (std::ptrdiff_t v = 0; v < nv; ++v) {
      if (sc.hi[v] >= level) {
        if (static_cast<std::ptrdiff_t>(sc.cand.size()) == cap) {
          ++sc.n_fallback;
          return false;
        }
        sc.cand.push_back(v);
      }
    }
    // the candidates' correlations from A in double: one pass over the rows (prefetched)
    const std::ptrdiff_t nc = static_cast<std::ptrdiff_t>(sc.cand.size());
    sc.exact.assign(static_cast<std::size_t>(nc), cd(0.0));
    const Pow2 f(shift);
    constexpr std::ptrdiff_t kAhead = 16;
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      if ((i & 1023) == 0) cancellation_point();
      if (i + kAhead < m) {
        const std::complex<T>* ahead = a_.data + (i + kAhead) * nv;
        for (std::ptrdiff_t c = 0; c < nc; ++c) prefetch(ahead + sc.cand[c]);
      }
      const cd ri(f(r[i].real()), f(r[i].imag()));
      const std::complex<T>* row = a_.data + i * nv;
      for (std::ptrdiff_t c = 0; c < nc; ++c) sc.exact[c] += mulc(cd(row[sc.cand[c]]), ri);
    }
    std::fill(score, score + nv, -1.0);
    for (std::ptrdiff_t c = 0; c < nc; ++c) {
      const double v = abs2(sc.exact[c]);
      if (!std::isfinite(v)) return false;
      score[sc.cand[c]] = v;
    }
    ++sc.n_certified;
    return true;
  }

  // out = A^H r = conj(sum_b A_b^T conj(r_b)) over fixed blocks b of whole rows: each block is
  // one GEMV over contiguous memory (column slabs of a row-major A stream 2-4 KiB pieces, which
  // the hardware prefetchers restart at every page: ~15% slower than one contiguous GEMV), its
  // partial product written once, and the partials are summed in block order in double.  The
  // partition depends on m only, so results do not depend on n_inner (blocks in parallel).
  void adjoint(const std::complex<T>* r, std::complex<T>* out, int n_inner) const {
    const std::ptrdiff_t m = a_.shape[0], nv = a_.shape[1];
    const std::ptrdiff_t n_blocks = std::min<std::ptrdiff_t>(kMaxRowBlocks, (m + kRowBlock - 1) / kRowBlock);
    const std::ptrdiff_t rows = (m + n_blocks - 1) / n_blocks;
    std::vector<std::complex<T>> rc(static_cast<std::size_t>(m));
    for (std::ptrdiff_t i = 0; i < m; ++i) rc[i] = std::conj(r[i]);
    std::vector<std::complex<T>> part(static_cast<std::size_t>(n_blocks * nv));
    parallel_for(n_blocks, n_inner, [&](std::ptrdiff_t b) {
      cancellation_point();
      const std::ptrdiff_t r0 = b * rows, nr = std::min(rows, m - r0);
      if (nr <= 0) {
        std::fill(part.begin() + b * nv, part.begin() + (b + 1) * nv, std::complex<T>(0));
        return;
      }
      blas::gemv_transpose(static_cast<int>(nr), static_cast<int>(nv), a_.data + r0 * nv,
                           static_cast<int>(nv), rc.data() + r0, part.data() + b * nv);
    });
    if (n_blocks == 1) {
      for (std::ptrdiff_t v = 0; v < nv; ++v) out[v] = std::conj(part[v]);
      return;
    }
    const T* p = reinterpret_cast<const T*>(part.data());
    T* o = reinterpret_cast<T*>(out);
    constexpr std::ptrdiff_t kChunk = 512;
    double acc[2 * kChunk];
    for (std::ptrdiff_t v0 = 0; v0 < nv; v0 += kChunk) {
      const std::ptrdiff_t w = std::min(kChunk, nv - v0);
      std::fill(acc, acc + 2 * w, 0.0);
      for (std::ptrdiff_t b = 0; b < n_blocks; ++b) {
        const T* pb = p + 2 * (b * nv + v0);
        for (std::ptrdiff_t j = 0; j < 2 * w; ++j) acc[j] += static_cast<double>(pb[j]);
      }
      for (std::ptrdiff_t j = 0; j < w; ++j) {
        o[2 * (v0 + j)] = static_cast<T>(acc[2 * j]);
        o[2 * (v0 + j) + 1] = static_cast<T>(-acc[2 * j + 1]);
      }
    }
  }

  // cols[slots[c] * m + i] = A[i, voxels[c]]: one pass over the rows for all new columns.
  void columns(const std::ptrdiff_t* voxels, std::ptrdiff_t nc, cd* cols, std::ptrdiff_t m,
               const std::ptrdiff_t* slots) const {
    // One scattered read per row and column, a page apart: latency-bound, so the rows kAhead
    // ahead are prefetched (~2x faster gathers).
    constexpr std::ptrdiff_t kAhead = 16;
    const std::ptrdiff_t nv = a_.shape[1];
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      if ((i & 1023) == 0) cancellation_point();
      if (i + kAhead < m) {
        const std::complex<T>* ahead = a_.data + (i + kAhead) * nv;
        for (std::ptrdiff_t c = 0; c < nc; ++c) prefetch(ahead + voxels[c]);
      }
      const std::complex<T>* row = a_.data + i * nv;
      for (std::ptrdiff_t c = 0; c < nc; ++c) cols[slots[c] * m + i] = cd(row[voxels[c]]);
    }
  }

 private:
  ConstView<std::complex<T>, 2> a_;
  const HalfCopy* copy_;
  bool avx2_;
};

// The matrix-free sensing matrix: A[((f n_pairs + q) n_ant + r) n_ant + t, v] =
// g H[f, rx_q, r, v] H[f, tx_q, t, v] (imaging paper, eqs. (10)-(14)); links (n_f, n_bs, n_ant,
// nv), pairs (n_pairs, 2) of (tx BS, rx BS).
template <class T>
class LinkAccess {
 public:
  LinkAccess(ConstView<std::complex<T>, 4> links, ConstView<std::int64_t, 2> pairs,
             double amplitude)
      : h_(links), pairs_(pairs), g_(amplitude) {
    const std::ptrdiff_t n_bs = links.shape[1];
    by_tx_.resize(static_cast<std::size_t>(n_bs));
    for (std::ptrdiff_t q = 0; q < pairs.shape[0]; ++q) by_tx_[pairs.data[2 * q]].push_back(q);
    for (const auto& g : by_tx_) max_group_ = std::max<std::ptrdiff_t>(max_group_, g.size());
  }
  std::ptrdiff_t n_voxels() const { return h_.shape[3]; }
  std::ptrdiff_t n_measurements() const {
    return h_.shape[0] * pairs_.shape[0] * h_.shape[2] * h_.shape[2];
  }
  // No half-precision copy here: the correlations come from adjoint().
  bool certified_scores(const cd*, int, std::ptrdiff_t, double*, CertifyScratch&, int) const {
    return false;
  }

  // out = A^H r.  Per subcarrier and tx BS b: V = conj(R_Q) H_b (one GEMM over the pairs Q of
  // b), then A^H r = g conj(sum_(q, r) H_rx[r, :] o V[(q, r), :]); per fixed voxel slab.
  void adjoint(const std::complex<T>* rvec, std::complex<T>* out, int n_inner) const {
    const std::ptrdiff_t n_f = h_.shape[0], n_bs = h_.shape[1], na = h_.shape[2],
                         nv = h_.shape[3], n_pairs = pairs_.shape[0];
    const std::ptrdiff_t n_slabs = (nv + kSlab - 1) / kSlab;
    parallel_for(n_slabs, n_inner, [&](std::ptrdiff_t sl) {
      cancellation_point();
      const std::ptrdiff_t v0 = sl * kSlab, w = std::min(kSlab, nv - v0);
      std::vector<std::complex<T>> rc(static_cast<std::size_t>(max_group_ * na * na));
      std::vector<std::complex<T>> vbuf(static_cast<std::size_t>(max_group_ * na * w));
      std::vector<cd> acc(static_cast<std::size_t>(w), cd(0.0));
      for (std::ptrdiff_t f = 0; f < n_f; ++f) {
        for (std::ptrdiff_t b = 0; b < n_bs; ++b) {
          const auto& qs = by_tx_[b];
          if (qs.empty()) continue;
          const std::ptrdiff_t mq = static_cast<std::ptrdiff_t>(qs.size()) * na;
          for (std::size_t gi = 0; gi < qs.size(); ++gi) {
            const std::complex<T>* blk = rvec + (f * n_pairs + qs[gi]) * na * na;
            std::complex<T>* dst = rc.data() + static_cast<std::ptrdiff_t>(gi) * na * na;
            for (std::ptrdiff_t e = 0; e < na * na; ++e) dst[e] = std::conj(blk[e]);
          }
          blas::gemm(false, static_cast<int>(mq), static_cast<int>(w), static_cast<int>(na),
                     rc.data(), static_cast<int>(na), h_.data + (f * n_bs + b) * na * nv + v0,
                     static_cast<int>(nv), vbuf.data(), static_cast<int>(w));
          for (std::size_t gi = 0; gi < qs.size(); ++gi) {
            const std::ptrdiff_t rx = pairs_.data[2 * qs[gi] + 1];
            for (std::ptrdiff_t r = 0; r < na; ++r) {
              const T* hr = reinterpret_cast<const T*>(h_.data + ((f * n_bs + rx) * na + r) * nv + v0);
              const T* vr = reinterpret_cast<const T*>(
                  vbuf.data() + (static_cast<std::ptrdiff_t>(gi) * na + r) * w);
              double* ac = reinterpret_cast<double*>(acc.data());
              for (std::ptrdiff_t j = 0; j < w; ++j) {
                const double ar = hr[2 * j], ai = hr[2 * j + 1], br = vr[2 * j], bi = vr[2 * j + 1];
                ac[2 * j] += ar * br - ai * bi;
                ac[2 * j + 1] += ar * bi + ai * br;
              }
            }
          }
        }
      }
      for (std::ptrdiff_t j = 0; j < w; ++j)
        out[v0 + j] = std::complex<T>(static_cast<T>(g_ * acc[j].real()),
                                      static_cast<T>(-g_ * acc[j].imag()));
    });
  }

  // cols[slots[c] * m + row] = A[row, voxels[c]], generated from the links (in double).
  void columns(const std::ptrdiff_t* voxels, std::ptrdiff_t nc, cd* cols, std::ptrdiff_t m,
               const std::ptrdiff_t* slots) const {
    const std::ptrdiff_t n_f = h_.shape[0], n_bs = h_.shape[1], na = h_.shape[2],
                         nv = h_.shape[3], n_pairs = pairs_.shape[0];
    std::vector<cd> hv(static_cast<std::size_t>(n_f * n_bs * na));
    for (std::ptrdiff_t c = 0; c < nc; ++c) {
      cancellation_point();
      for (std::ptrdiff_t l = 0; l < n_f * n_bs * na; ++l) hv[l] = cd(h_.data[l * nv + voxels[c]]);
      cd* col = cols + slots[c] * m;
      std::ptrdiff_t row = 0;
      for (std::ptrdiff_t f = 0; f < n_f; ++f)
        for (std::ptrdiff_t q = 0; q < n_pairs; ++q) {
          const cd* tx = hv.data() + (f * n_bs + pairs_.data[2 * q]) * na;
          const cd* rx = hv.data() + (f * n_bs + pairs_.data[2 * q + 1]) * na;
          for (std::ptrdiff_t r = 0; r < na; ++r) {
            const cd gr = g_ * rx[r];
            for (std::ptrdiff_t t = 0; t < na; ++t) col[row++] = mul(gr, tx[t]);
          }
        }
    }
  }

 private:
  ConstView<std::complex<T>, 4> h_;
  ConstView<std::int64_t, 2> pairs_;
  double g_;
  std::vector<std::vector<std::ptrdiff_t>> by_tx_;
  std::ptrdiff_t max_group_ = 0;
};

// ---- driver ---------------------------------------------------------------------------------
// One frame f.  Writes x (nv,), support (K,) sorted, n_iter and status; returns the ratio.
template <class T, class Source>
double run_frame(Source& src, std::ptrdiff_t f, const PursuitOptions& opt, Workspace& ws,
                 std::complex<T>* x, std::int64_t* support, std::int64_t* n_iter,
                 std::int64_t* status) {
  const std::ptrdiff_t nv = ws.nv, k = opt.sparsity;
  std::fill(x, x + nv, std::complex<T>(0));
  *n_iter = 0;
  *status = kPursuitOk;
  std::int64_t it = 0;
  auto fail = [&]() {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    std::fill(x, x + nv, std::complex<T>(nan, nan));
    std::fill(support, support + k, std::int64_t{-1});
    *n_iter = it;
    *status = kPursuitNonFinite;
    return std::numeric_limits<double>::quiet_NaN();
  };
  const double y_norm2 = src.start(f);
  if (!std::isfinite(y_norm2)) return fail();
  if (!(y_norm2 > 0.0)) {  // all-zero frame: x = 0, ratio 0, support = first K voxels (all tie)
    for (std::ptrdiff_t i = 0; i < k; ++i) support[i] = i;
    return 0.0;
  }
  std::ptrdiff_t* s = ws.s.data();
  cd* xs = ws.x.data();

  // S0 = K largest |z|.
  if (!src.initial_scores(ws.score.data())) return fail();
  top_k(ws.score.data(), nv, k, ws.order.data());
  std::copy(ws.order.begin(), ws.order.begin() + k, s);
  if (!src.block(s, k) || !least_squares(ws, k, xs)) return fail();
  double ratio = src.ratio(s, k, xs);
  if (std::isnan(ratio)) return fail();
  double previous = opt.keep_last ? 1.0 : ratio;

  while (it < opt.max_iter) {
    cancellation_point();
    ++it;
    // T = K largest |A^H r|; U = S u T; b = LS(U).
    if (!src.correlate(s, k, xs, ws.score.data())) return fail();
    top_k(ws.score.data(), nv, k, ws.order.data());
    std::copy(ws.order.begin(), ws.order.begin() + k, ws.t.begin());
    const std::ptrdiff_t nu = merge_unique(s, k, ws.t.data(), k, ws.u.data());
    if (!src.block(ws.u.data(), nu) || !least_squares(ws, nu, ws.b.data())) return fail();
    // S' = K largest |b| (within U); x' = LS(S').
    for (std::ptrdiff_t i = 0; i < nu; ++i) ws.score[i] = safe(abs2(ws.b[i]));
    top_k(ws.score.data(), nu, k, ws.order.data());  // u is sorted: ties as above
    for (std::ptrdiff_t i = 0; i < k; ++i) ws.s_new[i] = ws.u[ws.order[i]];
    if (!src.block(ws.s_new.data(), k) || !least_squares(ws, k, ws.x_new.data())) return fail();
    const double ratio_new = src.ratio(ws.s_new.data(), k, ws.x_new.data());
    if (std::isnan(ratio_new)) return fail();
    const bool divergent = !(ratio_new < previous);
    if (!divergent || opt.keep_last) {
      std::swap(ws.s, ws.s_new);
      std::swap(ws.x, ws.x_new);
      s = ws.s.data(), xs = ws.x.data();
      ratio = ratio_new;
    }
    if (divergent || ratio_new <= opt.tol) break;
    previous = ratio_new;
  }
  *n_iter = it;

  const int e = src.exponent();
  double xmax = 0.0;
  for (std::ptrdiff_t i = 0; i < k; ++i) xmax = std::max(xmax, std::abs(xs[i]));
  const double cut = opt.threshold * xmax;
  for (std::ptrdiff_t i = 0; i < k; ++i) {
    support[i] = s[i];
    if (!(std::abs(xs[i]) < cut))
      x[s[i]] = std::complex<T>(static_cast<T>(std::ldexp(xs[i].real(), -e)),
                                static_cast<T>(std::ldexp(xs[i].imag(), -e)));
  }
  return ratio;
}

// Frames 0..n-1 over n_threads: frames are handed out by an atomic counter (independent frames:
// results do not depend on n_threads); a single frame gets the threads for its products instead.
// make_source(ws, n_inner) builds one worker's source.
// Returns the number of certified selections (MatrixAccess::certified_scores) over all frames.
template <class T, class MakeSource>
std::int64_t run_frames(std::ptrdiff_t n, std::ptrdiff_t nv, const PursuitOptions& opt,
                        int n_threads, MakeSource&& make_source, View<std::complex<T>, 2> x,
                        View<std::int64_t, 2> support, View<std::int64_t, 1> n_iter,
                        View<double, 1> ratio, View<std::int64_t, 1> status) {
  lapack::SingleThreadScope single_threaded_blas;
  const int outer = static_cast<int>(std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(n_threads, n)));
  const int inner = std::max(1, n_threads / outer);
  std::atomic<std::ptrdiff_t> next{0};
  std::atomic<std::int64_t> certified{0};
  parallel_for(outer, outer, [&](std::ptrdiff_t) {
    Workspace ws(nv, opt.sparsity, std::numeric_limits<T>::epsilon());
    auto src = make_source(ws, inner);
    for (std::ptrdiff_t f; (f = next.fetch_add(1)) < n;) {
      cancellation_point();
      ratio.data[f] = run_frame<T>(src, f, opt, ws, x.data + f * nv,
                                   support.data + f * opt.sparsity, n_iter.data + f,
                                   status.data + f);
    }
    certified += src.n_certified();
  });
  return certified.load();
}

}  // namespace pursuit_detail

// Gram form.  gram (nv, nv); z (n, nv) = A^H y per frame; y (n, m); outputs x (n, nv),
// support (n, K), n_iter (n,), ratio (n,) = ||y - A x_LS|| / ||y|| before thresholding,
// status (n,) (PursuitStatus).
template <class T>
void subspace_pursuit(ConstView<std::complex<T>, 2> gram, ConstView<std::complex<T>, 2> z,
                      ConstView<std::complex<T>, 2> y, const PursuitOptions& opt,
                      View<std::complex<T>, 2> x, View<std::int64_t, 2> support,
                      View<std::int64_t, 1> n_iter, View<double, 1> ratio,
                      View<std::int64_t, 1> status, int n_threads) {
  using namespace pursuit_detail;
  run_frames<T>(
      z.shape[0], z.shape[1], opt, n_threads,
      [&](Workspace& ws, int) { return GramSource<T>(gram, z, y, ws); }, x, support, n_iter,
      ratio, status);
}

// Residual form on a dense row-major A (m, nv); y (n, m); outputs as above.
// half_copy (complex128 only): correlate on a half-precision copy of A with a certified
// selection (HalfCopy): every output as without it; the copy takes m n_voxels 4 bytes.
template <class T>
void subspace_pursuit_matrix(ConstView<std::complex<T>, 2> a, ConstView<std::complex<T>, 2> y,
                             const PursuitOptions& opt, View<std::complex<T>, 2> x,
                             View<std::int64_t, 2> support, View<std::int64_t, 1> n_iter,
                             View<double, 1> ratio, View<std::int64_t, 1> status, int n_threads,
                             bool half_copy = false, std::int64_t* n_certified = nullptr) {
  using namespace pursuit_detail;
  HalfCopy copy;
  if constexpr (std::is_same_v<T, double>) {
    if (half_copy && y.shape[0] > 0) build_half_copy(a.data, a.shape[0], a.shape[1], copy, n_threads);
  } else {
    (void)half_copy;
  }
  const MatrixAccess<T> access(a, &copy);
  const std::int64_t certified = run_frames<T>(
      y.shape[0], a.shape[1], opt, n_threads,
      [&](Workspace& ws, int inner) {
        return ResidualSource<T, MatrixAccess<T>>(access, y, ws, inner);
      },
      x, support, n_iter, ratio, status);
  if (n_certified != nullptr) *n_certified = certified;
}

// Residual form on the link matrices of the matrix-free operator (see LinkAccess).
template <class T>
void subspace_pursuit_links(ConstView<std::complex<T>, 4> links, ConstView<std::int64_t, 2> pairs,
                            double amplitude, ConstView<std::complex<T>, 2> y,
                            const PursuitOptions& opt, View<std::complex<T>, 2> x,
                            View<std::int64_t, 2> support, View<std::int64_t, 1> n_iter,
                            View<double, 1> ratio, View<std::int64_t, 1> status, int n_threads) {
  using namespace pursuit_detail;
  const LinkAccess<T> access(links, pairs, amplitude);
  run_frames<T>(
      y.shape[0], links.shape[3], opt, n_threads,
      [&](Workspace& ws, int inner) {
        return ResidualSource<T, LinkAccess<T>>(access, y, ws, inner);
      },
      x, support, n_iter, ratio, status);
}

}  // namespace skysense
