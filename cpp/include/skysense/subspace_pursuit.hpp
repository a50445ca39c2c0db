// Subspace pursuit (Dai & Milenkovic, IEEE Trans. IT 2009; Algorithm 1 of Huang et al., IEEE
// TWC 2026, as coded in the authors' CS_SP.m) on the Gram form of the least-squares problems.
//
// With z = A^H y and G = A^H A given, A is never touched:
//
//   correlations   A^H r = z - G[:, S] x_S                       (K rows of G, G Hermitian)
//   LS on S        G[S, S] x_S = z[S]                            (Cholesky; eigen fallback)
//   residual       ||r||^2 = ||y||^2 - 2 Re(x_S^H z_S) + x_S^H G[S, S] x_S
//
// Per frame:  S0 = K largest |z|, x = LS(S0).  Each iteration:
//   T = K largest |A^H r|;  U = S u T;  b = LS(U);  S' = K largest |b|;  x' = LS(S');
//   stop when ||r'||/||y|| is not smaller than the previous ratio ("divergent"), or <= tol, or
//   after max_iter iterations.
// keep_last = true reproduces CS_SP.m: the "previous" ratio starts at 1 and a divergent last
// iterate is returned anyway.  keep_last = false is the original SP: the previous ratio starts
// at that of S0 and a divergent iterate is discarded, so the returned one has the smallest ratio.
//
// Precision: G, z, y and x are stored in T (float or double, complex); correlations are
// accumulated, and every small system is solved, in double.  The residual identity cancels
// when ||r|| << ||y||: the ratio bottoms out near sqrt(eps_T) (~1e-8 for double, ~1e-3 for
// float) instead of reaching 0, so a tol below that acts as "stop when the support is stable"
// (an equal ratio: supports are sorted, so equal supports give bit-identical solves).
//
// The small dense linear algebra (order <= 2K) is done by hand in the hot path: calling LAPACK
// per 12 x 12 solve costs more in overhead than the O(K^3 / 3) flops, and a Cholesky with a
// pivot test is all a well-posed step needs.  Ill-posed steps (nearly collinear columns, as
// adjacent voxels of fine grids where cond(A) ~ 1e14, or 2K > n_measurements) fall back to
// LAPACK zheev: the pseudo-inverse solution on the eigenvalues above the rounding level of the
// Gram, i.e. the minimum-norm least-squares solution.  That call runs with this OpenBLAS
// single-threaded.
#pragma once
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

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

namespace pursuit_detail {

using cd = std::complex<double>;

// Plain complex products (no C99 Annex G inf/nan recovery: inputs are finite).
inline cd mul(cd a, cd b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
inline cd mulc(cd a, cd b) {  // conj(a) * b
  return {a.real() * b.real() + a.imag() * b.imag(), a.real() * b.imag() - a.imag() * b.real()};
}
inline double abs2(cd a) { return a.real() * a.real() + a.imag() * a.imag(); }

// Scratch space of one worker, sized once; nothing is allocated per frame.
struct Workspace {
  std::ptrdiff_t nv, k, kmax;
  std::vector<double> score;                  // (nv,)
  std::vector<std::ptrdiff_t> order;          // (nv,)
  std::vector<cd> corr;                       // (nv,)
  std::vector<std::ptrdiff_t> s, t, u, s_new;  // supports
  std::vector<cd> x, x_new, b;                // coefficients on s, s_new, u
  std::vector<cd> h, l, rhs;                  // Gram block, its factor, right-hand side
  std::vector<double> w, rwork;               // heev
  std::vector<cd> work;
  int lwork = 1;

  Workspace(std::ptrdiff_t n_voxels, std::ptrdiff_t sparsity)
      : nv(n_voxels), k(sparsity), kmax(std::min(2 * sparsity, n_voxels)) {
    const auto m = static_cast<std::size_t>(kmax);
    score.resize(static_cast<std::size_t>(nv));
    order.resize(static_cast<std::size_t>(nv));
    corr.resize(static_cast<std::size_t>(nv));
    s.resize(m), t.resize(m), u.resize(m), s_new.resize(m);
    x.resize(m), x_new.resize(m), b.resize(m), rhs.resize(m);
    h.resize(m * m), l.resize(m * m);
    w.resize(m), rwork.resize(std::max<std::size_t>(1, 3 * m));
    lwork = lapack::heev_lwork(static_cast<int>(kmax));
    work.resize(static_cast<std::size_t>(lwork));
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
    for (std::ptrdiff_t v = k; v < n; ++v) {
      if (!(score[v] > score[order[k - 1]])) continue;
      std::ptrdiff_t i = k - 1;
      for (; i > 0 && score[v] > score[order[i - 1]]; --i) order[i] = order[i - 1];
      order[i] = v;
    }
  } else {
    std::iota(order, order + n, std::ptrdiff_t{0});
    if (k < n) std::nth_element(order, order + k, order + n, before);
  }
  std::sort(order, order + k);
}

// NaN-safe score (a NaN would break the strict weak ordering of top_k).
inline double safe(double v) { return v == v ? v : -1.0; }

template <class T>
class Frame {
 public:
  Frame(ConstView<std::complex<T>, 2> gram, const std::complex<T>* z, double y_norm2,
        Workspace& ws)
      : g_(gram.data), nv_(gram.shape[1]), z_(z), y_norm2_(y_norm2), ws_(ws) {
    // Pivots (and eigenvalues) below tau * (diagonal scale) are at the rounding level of a
    // Gram stored in T: treat the block as singular there.
    tau_ = 16.0 * static_cast<double>(ws.kmax) * std::numeric_limits<T>::epsilon();
  }

  // Least squares on the (sorted) support s[0..n): x[0..n) and the residual ratio ||r||/||y||.
  double solve(const std::ptrdiff_t* s, std::ptrdiff_t n, cd* x) {
    cd* h = ws_.h.data();
    cd* l = ws_.l.data();
    cd* rhs = ws_.rhs.data();
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      const std::complex<T>* row = g_ + s[j] * nv_;  // G[s_j, :]; lower column j = G[s_i, s_j]
      for (std::ptrdiff_t i = j; i < n; ++i) h[i + j * n] = std::conj(cd(row[s[i]]));
      rhs[j] = cd(z_[s[j]]);
    }
    if (!cholesky_solve(h, l, rhs, n, x)) eigen_solve(h, rhs, n, x);
    // ||r||^2 = ||y||^2 - 2 Re(x^H z_S) + x^H G_SS x, with G_SS from its lower triangle.
    double xz = 0.0, xgx = 0.0;
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      xz += mulc(x[i], rhs[i]).real();
      cd hx = h[i + i * n].real() * x[i];
      for (std::ptrdiff_t j = 0; j < i; ++j) hx += mul(h[i + j * n], x[j]);
      for (std::ptrdiff_t j = i + 1; j < n; ++j) hx += mulc(h[j + i * n], x[j]);
      xgx += mulc(x[i], hx).real();
    }
    const double r2 = y_norm2_ - 2.0 * xz + xgx;
    return r2 > 0.0 ? std::sqrt(r2 / y_norm2_) : 0.0;
  }

  // corr = z - G[:, s] x  (= A^H r), accumulated in double; score = |corr|^2.
  void correlate(const std::ptrdiff_t* s, std::ptrdiff_t n, const cd* x) {
    cd* c = ws_.corr.data();
    for (std::ptrdiff_t v = 0; v < nv_; ++v) c[v] = cd(z_[v]);
    double* cr = reinterpret_cast<double*>(c);
    for (std::ptrdiff_t k = 0; k < n; ++k) {
      // G[v, s_k] = conj(G[s_k, v]): read row s_k contiguously.
      const T* g = reinterpret_cast<const T*>(g_ + s[k] * nv_);
      const double xr = x[k].real(), xi = x[k].imag();
      for (std::ptrdiff_t v = 0; v < nv_; ++v) {
        const double gr = static_cast<double>(g[2 * v]), gi = static_cast<double>(g[2 * v + 1]);
        cr[2 * v] -= gr * xr + gi * xi;
        cr[2 * v + 1] -= gr * xi - gi * xr;
      }
    }
    double* sc = ws_.score.data();
    for (std::ptrdiff_t v = 0; v < nv_; ++v) sc[v] = safe(abs2(c[v]));
  }

 private:
  // Cholesky G_SS = L L^H with a relative pivot test, then two triangular solves.
  bool cholesky_solve(const cd* h, cd* l, const cd* rhs, std::ptrdiff_t n, cd* x) const {
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      double d = h[j + j * n].real();
      for (std::ptrdiff_t k = 0; k < j; ++k) d -= abs2(l[j + k * n]);
      if (!(d > tau_ * h[j + j * n].real())) return false;  // also catches NaN
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
      if (!std::isfinite(x[i].real()) || !std::isfinite(x[i].imag())) return false;
    return true;
  }

  // Minimum-norm LS through the eigen-decomposition of G_SS: x = V_r diag(1/lambda_r) V_r^H z_S
  // over the eigenvalues lambda_r > tau * lambda_max.
  void eigen_solve(const cd* h, const cd* rhs, std::ptrdiff_t n, cd* x) {
    cd* v = ws_.l.data();
    std::copy(h, h + n * n, v);
    double* w = ws_.w.data();
    const int info = lapack::heev(static_cast<int>(n), v, w, ws_.work.data(), ws_.lwork,
                                  ws_.rwork.data());
    std::fill(x, x + n, cd(0.0));
    if (info != 0 || !(w[n - 1] > 0.0)) return;  // zero (or failed) Gram block: x = 0
    const double cut = tau_ * w[n - 1];
    for (std::ptrdiff_t e = 0; e < n; ++e) {
      if (!(w[e] > cut)) continue;
      const cd* col = v + e * n;
      cd proj(0.0);
      for (std::ptrdiff_t i = 0; i < n; ++i) proj += mulc(col[i], rhs[i]);
      proj /= w[e];
      for (std::ptrdiff_t i = 0; i < n; ++i) x[i] += mul(col[i], proj);
    }
  }

  const std::complex<T>* g_;
  std::ptrdiff_t nv_;
  const std::complex<T>* z_;
  double y_norm2_;
  Workspace& ws_;
  double tau_;
};

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

}  // namespace pursuit_detail

// One frame.  gram (nv, nv) Hermitian; z (nv,) = A^H y; y_norm2 = ||y||^2.  Writes x (nv,),
// support (K,) sorted, and returns the ratio; n_iter receives the iterations run.
template <class T>
double subspace_pursuit_frame(ConstView<std::complex<T>, 2> gram, const std::complex<T>* z,
                              double y_norm2, const PursuitOptions& opt,
                              pursuit_detail::Workspace& ws, std::complex<T>* x,
                              std::int64_t* support, std::int64_t* n_iter) {
  using pursuit_detail::cd;
  const std::ptrdiff_t nv = gram.shape[1], k = opt.sparsity;
  std::fill(x, x + nv, std::complex<T>(0));
  *n_iter = 0;
  if (!(y_norm2 > 0.0)) {  // all-zero frame: x = 0, ratio 0, support = first K voxels (all tie)
    for (std::ptrdiff_t i = 0; i < k; ++i) support[i] = i;
    return 0.0;
  }
  pursuit_detail::Frame<T> frame(gram, z, y_norm2, ws);
  std::ptrdiff_t* s = ws.s.data();
  cd* xs = ws.x.data();

  // S0 = K largest |z|.
  for (std::ptrdiff_t v = 0; v < nv; ++v)
    ws.score[v] = pursuit_detail::safe(pursuit_detail::abs2(cd(z[v])));
  pursuit_detail::top_k(ws.score.data(), nv, k, ws.order.data());
  std::copy(ws.order.begin(), ws.order.begin() + k, s);
  double ratio = frame.solve(s, k, xs);
  double previous = opt.keep_last ? 1.0 : ratio;

  std::int64_t it = 0;
  while (it < opt.max_iter) {
    ++it;
    // T = K largest |A^H r|; U = S u T; b = LS(U).
    frame.correlate(s, k, xs);
    pursuit_detail::top_k(ws.score.data(), nv, k, ws.order.data());
    std::copy(ws.order.begin(), ws.order.begin() + k, ws.t.begin());
    const std::ptrdiff_t nu = pursuit_detail::merge_unique(s, k, ws.t.data(), k, ws.u.data());
    frame.solve(ws.u.data(), nu, ws.b.data());
    // S' = K largest |b| (within U); x' = LS(S').
    for (std::ptrdiff_t i = 0; i < nu; ++i)
      ws.score[i] = pursuit_detail::safe(pursuit_detail::abs2(ws.b[i]));
    pursuit_detail::top_k(ws.score.data(), nu, k, ws.order.data());  // u is sorted: ties as above
    for (std::ptrdiff_t i = 0; i < k; ++i) ws.s_new[i] = ws.u[ws.order[i]];
    const double ratio_new = frame.solve(ws.s_new.data(), k, ws.x_new.data());
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

  double xmax = 0.0;
  for (std::ptrdiff_t i = 0; i < k; ++i) xmax = std::max(xmax, std::abs(xs[i]));
  const double cut = opt.threshold * xmax;
  for (std::ptrdiff_t i = 0; i < k; ++i) {
    support[i] = s[i];
    if (!(std::abs(xs[i]) < cut))
      x[s[i]] = std::complex<T>(static_cast<T>(xs[i].real()), static_cast<T>(xs[i].imag()));
  }
  return ratio;
}

// Batched SP, frames in parallel (each independent: results do not depend on n_threads).
// gram (nv, nv); z (n, nv) = A^H y per frame; y (n, m); outputs x (n, nv), support (n, K),
// n_iter (n,), residual_norm (n,) = ||y - A x_LS|| / ||y|| before thresholding.
template <class T>
void subspace_pursuit(ConstView<std::complex<T>, 2> gram, ConstView<std::complex<T>, 2> z,
                      ConstView<std::complex<T>, 2> y, const PursuitOptions& opt,
                      View<std::complex<T>, 2> x, View<std::int64_t, 2> support,
                      View<std::int64_t, 1> n_iter, View<double, 1> residual_norm, int n_threads) {
  const std::ptrdiff_t n = z.shape[0], nv = z.shape[1], m = y.shape[1];
  lapack::SingleThreadScope single_threaded_blas;
  parallel_for_chunks(n, n_threads, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) {
    pursuit_detail::Workspace ws(nv, opt.sparsity);
    for (std::ptrdiff_t f = lo; f < hi; ++f) {
      const std::complex<T>* yf = y.data + f * m;
      double y2 = 0.0;
      for (std::ptrdiff_t i = 0; i < m; ++i) {
        const double re = static_cast<double>(yf[i].real()), im = static_cast<double>(yf[i].imag());
        y2 += re * re + im * im;
      }
      residual_norm.data[f] = subspace_pursuit_frame<T>(
          gram, z.data + f * nv, y2, opt, ws, x.data + f * nv, support.data + f * opt.sparsity,
          n_iter.data + f);
    }
  });
}

}  // namespace skysense
