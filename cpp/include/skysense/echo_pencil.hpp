// Monostatic echo estimator: round-trip delay and the two direction cosines of a UPA (azimuth
// and elevation follow in Python) of q echoes from one echo CSI, by a 3-D matrix pencil
// (ESPRIT) with automatic pairing, then the ML refinement of the bistatic pipeline.
//
// Model (docs/pipeline.md, "Monostatic front end"): the CSI of one UPA panel, h[x, y, n]
// (Nx x Ny elements, N subcarriers, subcarriers fastest), is a sum of q separable atoms
//     h[x, y, n] = sum_i gamma_i exp(-j 2 pi (mu_x,i x + mu_y,i y + nu_i n)) + noise,
//     mu_x = d_x u_x, mu_y = d_y u_y (u the direction cosines along the array axes, d the
//     spacings in wavelengths), nu = df tau (tau the round-trip delay),
// the same three-level structure as the bistatic CSI (Tx x Rx x subcarriers, bistatic paper
// eq. (15)), so PARAMING's Hankel machinery applies unchanged:
//   1. X1, the three-level block-Hankel matrix of eqs. (26)-(32) with (Tx, Rx) replaced by the
//      array axes (x, y) and sub-arrays (Mx, My, M); its q dominant left singular vectors U_q
//      by the matrix-free block Krylov iteration (hankel_svd.hpp), or a dense gesdd when X1 is
//      small.  The numerical rank caps q.
//   2. 3-D ESPRIT on U_q = A T (A the Mx M My sub-array manifold): the LS shift-invariance
//      matrices along x, y and subcarriers, Phi_d = T^-1 D_d T, share T; the eigenvectors of a
//      generic combination of the three diagonalise each, which pairs (mu_x, mu_y, nu) per
//      echo (paraming_ml::cluster_esprit, there used for delay clusters only).  PARAMING
//      instead takes the delays from the subcarrier pencil and the angles from a phase fit of
//      the delay-LS gain vectors; here every dimension comes from the subspace, so echoes of
//      equal delay (a facade's diffuse cluster, two facades at equal distance) are separated
//      by their angles as well.
//   3. Optional ML refinement: Levenberg-Marquardt on the concentrated ML cost of all q echoes
//      (paraming_ml::Model, bistatic paper eq. (13)), warm-started by the pencil; LS gains.
#pragma once
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "skysense/cancel.hpp"
#include "skysense/hankel_svd.hpp"
#include "skysense/lapack.hpp"
#include "skysense/parallel.hpp"
#include "skysense/paraming.hpp"
#include "skysense/paraming_ml.hpp"
#include "skysense/views.hpp"

namespace skysense::echo {

using cd = std::complex<double>;

struct EchoConfig {
  int n_x = 8, n_y = 8, n_sub = 64;    // UPA elements along x, y; subcarriers
  int sub_x = 4, sub_y = 4, sub_sc = 32;  // sub-array sizes Mx, My, M (each >= 2)
  int max_paths = 8;                   // width of the outputs
  double min_delay = -0.125;           // nu reported in [min_delay, min_delay + 1)
  int refine = 1;
  int max_iter = 20;
  double refine_rtol = 1e-9;
  double krylov_rtol = 1e-12;
  double krylov_noise_rtol = 1e-3;
  int krylov_max_steps = 1000;
};

enum EchoStatus : std::int64_t {
  kEchoOk = 0,
  kEchoZero = 1,           // all-zero CSI: no echo
  kEchoPairing = 2,        // the shift-invariance equations are singular (pairing failed)
  kEchoNotConverged = 3,   // the Krylov iteration hit krylov_max_steps
  kEchoDependent = 4,      // the atoms of the estimate are linearly dependent (no LS gains)
  kEchoLapack = 5,         // gesdd (dense SVD) or heev (MDL eigenvalues) did not converge
};

// Scratch space of one worker, sized once.
struct EchoWorkspace {
  int rows = 0, cols = 0, k = 0;
  hankel_svd::HankelOperator op;
  hankel_svd::KrylovWorkspace kw;
  std::vector<cd> x1, x2;  // dense path
  paraming_detail::DenseSvd<double> dsvd;
  std::vector<cd> uq, vq;
  std::vector<double> s, eta;
  paraming_ml::Model model;
  std::vector<cd> gram, smoothed, heev_work;  // MDL order
  std::vector<double> lam, heev_rwork;
  int heev_lwork = 1;

  explicit EchoWorkspace(const EchoConfig& c)
      : op(c.n_x, c.n_y, c.n_sub, c.sub_x, c.sub_y, c.sub_sc) {
    rows = c.sub_x * c.sub_sc * c.sub_y;
    cols = (c.n_x - c.sub_x + 1) * (c.n_sub - c.sub_sc) * (c.n_y - c.sub_y + 1);
    k = std::min(rows, cols);
    // Block size q per CSI: the Krylov path for k >= (blocks + 1) q, else a dense SVD.
    const int bs = c.max_paths;
    if (k >= kKrylovBlocks + 1)
      kw = hankel_svd::KrylovWorkspace(rows, cols, bs, kKrylovBlocks * bs);
    if (k < (kKrylovBlocks + 1) * bs) {
      x1.resize(static_cast<std::size_t>(rows) * cols);
      x2.resize(x1.size());
      dsvd.reserve(rows, cols);
    }
    uq.resize(static_cast<std::size_t>(rows) * bs);
    vq.resize(static_cast<std::size_t>(cols) * bs);
    s.resize(static_cast<std::size_t>(std::max(k, bs)));
    eta.resize(3 * static_cast<std::size_t>(bs));
    model = paraming_ml::Model(c.n_x, c.n_y, c.n_sub, c.max_paths);
    const int n = c.n_sub, m = n / 2;
    gram.resize(static_cast<std::size_t>(n) * n);
    smoothed.resize(static_cast<std::size_t>(m) * m);
    lam.resize(static_cast<std::size_t>(m));
    heev_lwork = lapack::heev_lwork(m);
    heev_work.resize(static_cast<std::size_t>(heev_lwork));
    heev_rwork.resize(static_cast<std::size_t>(std::max(1, 3 * m - 2)));
  }
};

// MDL model order of one CSI h (Nx Ny rows of N subcarriers) from its delay-smoothed
// covariance, as skysense.pipeline.mdl_order: the Nx Ny elements and the N - M + 1 windows of
// M = N / 2 subcarriers are the snapshots of the M x M sum of the diagonal blocks of the
// N x N Gram G[n, m] = sum_i h[i, n] conj(h[i, m]); Wax-Kailath MDL on its eigenvalues, in
// [0, min(max_paths, M - 1)].  -1 when the eigen-solver fails.
inline int mdl_order(const cd* h, int n_rows, int n, int max_paths, EchoWorkspace& ws) {
  const int m = n / 2;
  lapack::herk(n, n_rows, h, ws.gram.data());  // lower triangle of A A^H, A = h as N x rows
  for (int b = 0; b < m; ++b)
    for (int a = b; a < m; ++a) {
      cd acc(0.0);
      for (int i = 0; i <= n - m; ++i)
        acc += ws.gram[static_cast<std::size_t>(i + a) + static_cast<std::size_t>(n) * (i + b)];
      ws.smoothed[static_cast<std::size_t>(a) + static_cast<std::size_t>(m) * b] = acc;
    }
  if (lapack::heev(m, ws.smoothed.data(), ws.lam.data(), ws.heev_work.data(), ws.heev_lwork,
                   ws.heev_rwork.data()) != 0)
    return -1;
  std::vector<double> lam(static_cast<std::size_t>(m));
  for (int k = 0; k < m; ++k) lam[static_cast<std::size_t>(k)] = ws.lam[static_cast<std::size_t>(m - 1 - k)];
  const double floor = lam[0] > 0.0 ? lam[0] * 1e-300 : std::numeric_limits<double>::min();
  for (double& v : lam) v = std::max(v, floor);
  const double snapshots = static_cast<double>(n_rows) * (n - m + 1);
  int best_k = 0;
  double best = std::numeric_limits<double>::infinity();
  for (int k = 0; k <= std::min(max_paths, m - 1); ++k) {
    double sum = 0.0, sum_log = 0.0;
    for (int i = k; i < m; ++i) {
      sum += lam[static_cast<std::size_t>(i)];
      sum_log += std::log(lam[static_cast<std::size_t>(i)]);
    }
    const double tail = m - k;
    const double log_ratio = sum_log / tail - std::log(sum / tail);
    const double crit = -snapshots * tail * log_ratio + 0.5 * k * (2.0 * m - k) * std::log(snapshots);
    if (crit < best) {
      best = crit;
      best_k = k;
    }
  }
  return best_k;
}

// Outputs of one CSI: q paths sorted by delay (nu in [min_delay, min_delay + 1)), mu_x, mu_y in
// [-1/2, 1/2), LS (or ML) gains; *n_paths the order used (<= requested, capped at the rank).
struct EchoOut {
  double* nu;
  double* mu_x;
  double* mu_y;
  cd* gain;
  std::int64_t* n_paths;
  std::int64_t* status;
  std::int64_t* iterations;
};

// The ParamingConfig view of the sizes (for the shared pencil builder).
inline ParamingConfig paraming_config(const EchoConfig& c) {
  ParamingConfig p;
  p.n_tx = c.n_x;
  p.n_rx = c.n_y;
  p.n_sub = c.n_sub;
  p.sub_tx = c.sub_x;
  p.sub_rx = c.sub_y;
  p.sub_sc = c.sub_sc;
  return p;
}

// One CSI h (Nx x Ny x N, double, scaled into [1/2, 1)), q >= 1 echoes requested, or q = -1:
// the MDL order (capped at max_paths).
inline void estimate_one(const cd* h, int q, const EchoConfig& c, EchoWorkspace& ws, EchoOut out) {
  *out.status = kEchoOk;
  *out.n_paths = 0;
  *out.iterations = 0;
  const double frob2 = ws.op.set(h);
  if (!(frob2 > 0.0)) {
    *out.status = kEchoZero;
    return;
  }
  if (q < 0) {
    q = mdl_order(h, c.n_x * c.n_y, c.n_sub, c.max_paths, ws);
    if (q < 0) {
      *out.status = kEchoLapack;
      return;
    }
    if (q == 0) return;  // no echo above the noise: a valid epoch without measurements
  }
  // 1. Signal subspace of X1.
  const int rows = ws.rows, cols = ws.cols;
  if (ws.k < (kKrylovBlocks + 1) * q) {
    paraming_detail::build_pencil<double, cd>(h, paraming_config(c), rows, ws.x1.data(),
                                              ws.x2.data());
    if (ws.dsvd.run(rows, cols, ws.x1.data()) != 0) {
      *out.status = kEchoLapack;
      return;
    }
    for (int i = 0; i < q; ++i) {
      ws.s[static_cast<std::size_t>(i)] = ws.dsvd.s[static_cast<std::size_t>(i)];
      std::copy(ws.dsvd.u.begin() + static_cast<std::ptrdiff_t>(i) * rows,
                ws.dsvd.u.begin() + static_cast<std::ptrdiff_t>(i + 1) * rows,
                ws.uq.begin() + static_cast<std::ptrdiff_t>(i) * rows);
    }
  } else {
    const hankel_svd::KrylovResult r = hankel_svd::partial_svd(
        ws.op, std::sqrt(frob2), q, q, kKrylovBlocks * q, c.krylov_rtol,
        c.krylov_noise_rtol, c.krylov_max_steps, ws.kw, ws.uq.data(), ws.s.data(), ws.vq.data());
    if (!r.converged) {
      *out.status = kEchoNotConverged;
      return;
    }
  }
  const double rank_tol = std::max(rows, cols) * std::numeric_limits<double>::epsilon() * ws.s[0];
  int rank = 0;
  while (rank < q && ws.s[static_cast<std::size_t>(rank)] > rank_tol) ++rank;
  q = rank;
  if (q == 0) {
    *out.status = kEchoZero;
    return;
  }
  // 2. Paired frequencies by 3-D ESPRIT.
  double* mx = ws.eta.data();
  double* my = mx + q;
  double* nu = my + q;
  std::vector<double> fallback(static_cast<std::size_t>(q), 0.0);
  if (!paraming_ml::cluster_esprit(ws.uq.data(), q, c.sub_x, c.sub_sc, c.sub_y, fallback.data(),
                                   mx, my, nu)) {
    *out.status = kEchoPairing;
    return;
  }
  // 3. LS gains, or the ML refinement.
  ws.model.set(h);
  std::vector<cd> gain(static_cast<std::size_t>(q));
  double f0 = 0.0, f = 0.0;
  if (c.refine) {
    bool converged = false;
    *out.iterations = ws.model.refine(ws.eta.data(), gain.data(), q, c.max_iter, c.refine_rtol,
                                      f0, f, converged);
  }
  if (!ws.model.evaluate(ws.eta.data(), q, false, f, gain.data())) {
    *out.status = kEchoDependent;
    return;
  }
  // Sort by delay inside the reporting window.
  std::vector<double> nun(static_cast<std::size_t>(q));
  for (int i = 0; i < q; ++i) {
    const double v = nu[i] - c.min_delay;
    nun[static_cast<std::size_t>(i)] = c.min_delay + (v - std::floor(v));
  }
  std::vector<int> order(static_cast<std::size_t>(q));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return nun[static_cast<std::size_t>(a)] < nun[static_cast<std::size_t>(b)];
  });
  for (int j = 0; j < q; ++j) {
    const int i = order[static_cast<std::size_t>(j)];
    out.nu[j] = nun[static_cast<std::size_t>(i)];
    out.mu_x[j] = paraming_ml::wrap_half(mx[i]);
    out.mu_y[j] = paraming_ml::wrap_half(my[i]);
    out.gain[j] = gain[static_cast<std::size_t>(i)];
  }
  *out.n_paths = q;
}

// Batch: h (batch, Nx, Ny, N) complex<T>, n_paths (batch,) requested orders in
// [-1, max_paths] (0: an epoch without echoes; -1: MDL per CSI); outputs (batch, max_paths) nu, mu_x, mu_y, gain
// (NaN beyond the order used), n_paths_used, status, iterations (batch,).  Each CSI is scaled
// by the power of two 2^-e taking its largest |Re|, |Im| into [1/2, 1) (exact), gains scaled
// back.  Threads over the batch; the caller releases the GIL.
template <class T>
void estimate(ConstView<std::complex<T>, 4> h, ConstView<std::int64_t, 1> n_paths,
              const EchoConfig& c, View<double, 2> nu, View<double, 2> mu_x, View<double, 2> mu_y,
              View<std::complex<double>, 2> gain, View<std::int64_t, 1> n_used,
              View<std::int64_t, 1> status, View<std::int64_t, 1> iterations, int n_threads) {
  const std::ptrdiff_t batch = h.shape[0];
  const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(c.n_x) * c.n_y * c.n_sub;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  lapack::SingleThreadScope single_thread;
  parallel_for_chunks(batch, n_threads, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) {
    EchoWorkspace ws(c);
    std::vector<cd> hd(static_cast<std::size_t>(stride));
    for (std::ptrdiff_t b = lo; b < hi; ++b) {
      cancellation_point();
      for (int i = 0; i < c.max_paths; ++i) {
        nu(b, i) = mu_x(b, i) = mu_y(b, i) = nan;
        gain(b, i) = cd(nan, nan);
      }
      const std::complex<T>* hb = h.data + b * stride;
      double big = 0.0;
      for (std::ptrdiff_t i = 0; i < stride; ++i)
        big = std::max({big, std::fabs(static_cast<double>(hb[i].real())),
                        std::fabs(static_cast<double>(hb[i].imag()))});
      int e = 0;
      if (big > 0.0) std::frexp(big, &e);
      for (std::ptrdiff_t i = 0; i < stride; ++i)
        hd[static_cast<std::size_t>(i)] = cd(std::ldexp(static_cast<double>(hb[i].real()), -e),
                                             std::ldexp(static_cast<double>(hb[i].imag()), -e));
      const int q = static_cast<int>(n_paths(b));
      EchoOut out{&nu(b, 0), &mu_x(b, 0), &mu_y(b, 0), &gain(b, 0), &n_used(b), &status(b),
                  &iterations(b)};
      if (q == 0) {
        n_used(b) = 0;
        status(b) = kEchoOk;
        iterations(b) = 0;
        continue;
      }
      estimate_one(hd.data(), q, c, ws, out);
      for (int i = 0; i < n_used(b); ++i) {
        const cd g = gain(b, i);
        gain(b, i) = {std::ldexp(g.real(), e), std::ldexp(g.imag(), e)};
      }
    }
  });
}

}  // namespace skysense::echo
