// PARAMING (PARAmetric angles and tiMING) of Bazzi et al., "High-Resolution Sensing in
// Communication-Centric ISAC" (IEEE JSAC 2025, Sec. III-C, eqs. 26-41: the bistatic paper).
// One CSI matrix H (Nt Nr x N, row nt Nr + nr, eq. 11) in,
// ToA / AoA / AoD / complex gain of q paths out:
//
//   (26)-(28) X[r + Mr (m + M mt), kr + Kr (kn + KN kt)] = H[(mt + kt) Nr + r + kr, m + kn]
//   (31)-(32) X1 = X[:, J1] (kn <= KN - 2), X2 = X[:, J1 + Kr] (one subcarrier later)
//   (34)      X1 = U S V^H, Psi = S_q^-1 U_q^H X2 V_q, eig(Psi) = exp(-j 2 pi df tau); the q
//             dominant triplets from the full thin SVD (method 1: LAPACK gesdd, in T: the
//             reference), from the Gram X1 X1^H (method 0: zherk, in double) and its q
//             largest eigenpairs (zheevr), V_q = X1^H U_q S_q^-1 (singular values resolved
//             down to ~sqrt(eps) s_1 only), or, by default, by a block Krylov iteration on
//             X1 applied matrix-free through FFTs (method 2, hankel_svd.hpp, in double:
//             triplets to ~1e-12, about 10x faster than the Gram path at 640 x 960).
//   (35)      tau = -phase(z) / (2 pi df) taken into [min_delay, min_delay + 1) / df (default
//             [-T/8, 7T/8): the LoS path at 0 and small negative timing offsets stay near 0),
//             the phase by CORDIC (cordic.hpp)
//   (36)      G = H conj(C) (C^T conj(C))^-1, C[n, i] = exp(-j 2 pi n df tau_i)
//   (38)-(40) |gamma_i| = ||g_i|| / sqrt(Nt Nr), b_i = g_i / ||g_i||
//   (41)      LS fit of the phases of b_i on [nr, nt, 1] -> mu_r, mu_t, psi, the phases made
//             continuous either by a 2-D unwrap (along Rx in each Tx block, then along Tx) or,
//             by default, by demodulating b_i with the lag-1 slopes
//             mu0 = arg sum b[k + 1] conj(b[k]) (per axis) and its mean phase first, so the
//             residual phases are near 0 and need no unwrapping (robust near endfire, where a
//             per-element step close to pi makes unwrapping fail at moderate SNR);
//             AoA = asin(-mu_r / (2 pi d_r)),
//             AoD = asin(-mu_t / (2 pi d_t)), gamma = |gamma| exp(j psi)
//
// Paths come out sorted by ToA.  The SVD runs in the input precision (float or double), every
// later step in double.  The model order q is given, or estimated (MDL or AIC on the singular
// values of X1, with the P columns of X1 as snapshots), capped at the numerical rank.
#pragma once
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "skysense/cordic.hpp"
#include "skysense/hankel_svd.hpp"
#include "skysense/lapack.hpp"
#include "skysense/parallel.hpp"
#include "skysense/views.hpp"

namespace skysense {

struct ParamingConfig {
  int n_tx = 8, n_rx = 10, n_sub = 64;  // Nt, Nr, N
  int sub_tx = 4, sub_rx = 5, sub_sc = 32;  // Mt, Mr, M
  int n_paths = 0;        // q >= 1, or 0: estimate with `criterion`, at most max_paths
  int max_paths = 1;      // width of the outputs
  int criterion = 0;      // 0: MDL, 1: AIC
  double subcarrier_spacing_hz = 960e3;
  double spacing_tx = 0.5, spacing_rx = 0.5;  // element spacings [wavelengths]
  int cordic_iterations = 48;
  double min_delay = -0.125;  // delays are reported in [min_delay, min_delay + 1) / df
  int phase_fit = 0;  // 0: demodulate by the lag-1 phase slopes, then fit; 1: 2-D unwrap, then fit
  int method = 2;  // 0: Gram X1 X1^H (double) + q eigenpairs (MRRR); 1: full thin SVD (gesdd);
                   // 2: block Krylov on the FFT Hankel operator (hankel_svd.hpp), in double
  // Krylov stop: every ||X1^H u_i - s_i v_i|| (i < q) <= max(rtol s_1, noise_rtol theta_{q+1}),
  // theta_{q+1} the (q+1)-th Ritz value (a lower bound of s_{q+1}); see hankel_svd.hpp.
  double krylov_rtol = 1e-12;
  double krylov_noise_rtol = 1e-3;
  int krylov_max_steps = 1000;   // block steps before kParamingNotConverged
  int krylov_oversampling = 0;   // block size q + oversampling
};

// Krylov basis cap in blocks: restarts keep half of it.  X1 with min(L, P) < (cap + 1) block
// sizes is small enough for a dense SVD in double (gesdd), used instead.
constexpr int kKrylovBlocks = 10;

// Per-CSI outcome of paraming().
enum ParamingStatus : std::int64_t {
  kParamingOk = 0,
  kParamingZero = 1,          // X1 is zero (all-zero CSI)
  kParamingRankDeficient = 2, // n_paths exceeds the numerical rank of X1
  kParamingDelays = 3,        // estimated delays not distinct: C^T conj(C) singular
  kParamingLapack = 4,        // gesdd or geev did not converge
  kParamingNotConverged = 5,  // the Krylov iteration hit krylov_max_steps
};

namespace paraming_detail {

using cd = std::complex<double>;
inline cd mul(cd a, cd b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
inline cd mulc(cd a, cd b) {  // conj(a) * b
  return {a.real() * b.real() + a.imag() * b.imag(), a.real() * b.imag() - a.imag() * b.real()};
}
inline double abs2(cd a) { return a.real() * a.real() + a.imag() * a.imag(); }
constexpr double kPi = 3.14159265358979323846;

// numpy.unwrap of n values at stride `stride` (discont = pi, period = 2 pi), in place.
inline void unwrap(double* p, int n, int stride) {
  double correction = 0.0, prev = p[0];
  for (int i = 1; i < n; ++i) {
    const double cur = p[i * stride];
    const double d = cur - prev;
    double dd = std::fmod(d + kPi, 2.0 * kPi);
    if (dd < 0) dd += 2.0 * kPi;
    dd -= kPi;
    if (dd == -kPi && d > 0) dd = kPi;
    if (std::fabs(d) >= kPi) correction += dd - d;
    prev = cur;
    p[i * stride] = cur + correction;
  }
}

// Model order by MDL (criterion 0) or AIC (1) from singular values s (descending, p of them),
// n_snap snapshots; the order lies in [1, k_max].
inline int estimate_order(const double* s, int p, double n_snap, int k_max, int criterion) {
  const double floor = std::max(s[0] * std::numeric_limits<double>::epsilon(),
                                std::numeric_limits<double>::min());
  std::vector<double> lam(static_cast<std::size_t>(p)), log_lam(static_cast<std::size_t>(p));
  for (int k = 0; k < p; ++k) {
    const double v = std::max(s[k], floor);
    lam[static_cast<std::size_t>(k)] = v * v;
    log_lam[static_cast<std::size_t>(k)] = 2.0 * std::log(v);
  }
  // Suffix sums of lambda and log lambda.
  std::vector<double> sum(static_cast<std::size_t>(p) + 1, 0.0), sum_log(sum);
  for (int k = p - 1; k >= 0; --k) {
    sum[static_cast<std::size_t>(k)] = sum[static_cast<std::size_t>(k) + 1] + lam[static_cast<std::size_t>(k)];
    sum_log[static_cast<std::size_t>(k)] =
        sum_log[static_cast<std::size_t>(k) + 1] + log_lam[static_cast<std::size_t>(k)];
  }
  int best = 1;
  double best_score = std::numeric_limits<double>::infinity();
  for (int k = 1; k <= k_max; ++k) {
    const double m = p - k;
    const double log_geo = sum_log[static_cast<std::size_t>(k)] / m;
    const double log_ari = std::log(sum[static_cast<std::size_t>(k)] / m);
    const double fit = -n_snap * m * (log_geo - log_ari);  // >= 0
    const double dof = k * (2.0 * p - k);
    const double score =
        criterion == 0 ? fit + 0.5 * dof * std::log(n_snap) : 2.0 * fit + 2.0 * dof;
    if (score < best_score) {
      best_score = score;
      best = k;
    }
  }
  return best;
}

// Hermitian positive-definite solve A x = b (order q, row-major A, several right-hand sides
// stored as rows of `rhs`, n_rhs of them) by Cholesky; false when a pivot is below
// tol * max diagonal (the system is singular to working accuracy).
inline bool hpd_solve_rows(std::vector<cd>& a, int q, cd* rhs, std::ptrdiff_t n_rhs, double tol) {
  double dmax = 0.0;
  for (int i = 0; i < q; ++i) dmax = std::max(dmax, a[static_cast<std::size_t>(i * q + i)].real());
  // a = L L^H, L lower, stored in a.
  for (int j = 0; j < q; ++j) {
    double d = a[static_cast<std::size_t>(j * q + j)].real();
    for (int k = 0; k < j; ++k) d -= abs2(a[static_cast<std::size_t>(j * q + k)]);
    if (!(d > tol * dmax)) return false;
    const double ljj = std::sqrt(d);
    a[static_cast<std::size_t>(j * q + j)] = ljj;
    for (int i = j + 1; i < q; ++i) {
      cd v = a[static_cast<std::size_t>(i * q + j)];
      for (int k = 0; k < j; ++k)
        v -= mul(a[static_cast<std::size_t>(i * q + k)], std::conj(a[static_cast<std::size_t>(j * q + k)]));
      a[static_cast<std::size_t>(i * q + j)] = v / ljj;
    }
  }
  for (std::ptrdiff_t r = 0; r < n_rhs; ++r) {
    cd* x = rhs + r * q;
    for (int i = 0; i < q; ++i) {  // L y = b
      cd v = x[i];
      for (int k = 0; k < i; ++k) v -= mul(a[static_cast<std::size_t>(i * q + k)], x[k]);
      x[i] = v / a[static_cast<std::size_t>(i * q + i)].real();
    }
    for (int i = q - 1; i >= 0; --i) {  // L^H x = y
      cd v = x[i];
      for (int k = i + 1; k < q; ++k) v -= mulc(a[static_cast<std::size_t>(k * q + i)], x[k]);
      x[i] = v / a[static_cast<std::size_t>(i * q + i)].real();
    }
  }
  return true;
}

// Buffers of a thin complex SVD by LAPACK gesdd of a rows x cols matrix in precision R.
template <class R>
struct DenseSvd {
  std::vector<std::complex<R>> u, vt, work;
  std::vector<R> s, rwork;
  std::vector<int> iwork;
  int lwork = 1;

  void reserve(int rows, int cols) {
    const std::size_t k = static_cast<std::size_t>(std::min(rows, cols));
    u.resize(static_cast<std::size_t>(rows) * k);
    vt.resize(k * static_cast<std::size_t>(cols));
    s.resize(k);
    lwork = lapack::gesdd_lwork<R>(rows, cols);
    work.resize(static_cast<std::size_t>(lwork));
    rwork.resize(static_cast<std::size_t>(lapack::gesdd_rwork(rows, cols)));
    iwork.resize(8 * k);
  }
  // Factorises a (overwritten); returns LAPACK's info.
  int run(int rows, int cols, std::complex<R>* a) {
    return lapack::gesdd(rows, cols, a, s.data(), u.data(), vt.data(), work.data(), lwork,
                         rwork.data(), iwork.data());
  }
};

// Scratch space of one worker, sized once.
template <class T>
struct Workspace {
  using ct = std::complex<T>;
  int rows = 0, cols = 0, k = 0;
  std::vector<ct> x1, x2;  // SVD path (T)
  DenseSvd<T> svd;
  std::vector<cd> x1d, x2d, gram, z, hwork;  // Gram path (double)
  std::vector<double> hw, hrwork;
  std::vector<int> hiwork, isuppz;
  lapack::HeevrSizes hsz;
  std::vector<cd> uq, vq, w, psi, eig, eig_work, g, cgram;
  std::vector<double> eig_rwork, phases, sd;
  hankel_svd::HankelOperator op;  // Krylov path
  hankel_svd::KrylovWorkspace kw;
  std::vector<cd> da;  // small-X1 dense SVD of the Krylov path (double)
  DenseSvd<double> dsvd;

  Workspace(const ParamingConfig& c)
      : op(c.n_tx, c.n_rx, c.n_sub, c.sub_tx, c.sub_rx, c.sub_sc) {
    const int kt = c.n_tx - c.sub_tx + 1, kr = c.n_rx - c.sub_rx + 1, kn = c.n_sub - c.sub_sc + 1;
    rows = c.sub_tx * c.sub_sc * c.sub_rx;
    cols = kt * (kn - 1) * kr;
    k = std::min(rows, cols);
    const std::size_t lp = static_cast<std::size_t>(rows) * cols;
    const std::size_t q = static_cast<std::size_t>(c.max_paths);
    bool gram_path = c.method == 0;
    if (c.method == 2) {
      const int block_min = 1 + c.krylov_oversampling, block_max = c.max_paths + c.krylov_oversampling;
      if (k >= (kKrylovBlocks + 1) * block_min)
        kw = hankel_svd::KrylovWorkspace(rows, cols, block_max, kKrylovBlocks * block_max);
      if (k < (kKrylovBlocks + 1) * block_max) {  // some order needs the dense SVD
        x1d.resize(lp);
        x2d.resize(lp);
        da.resize(lp);
        dsvd.reserve(rows, cols);
      }
      gram_path = c.n_paths == 0;  // the order criterion needs every singular value
    }
    if (c.method == 1) {
      x1.resize(lp);
      x2.resize(lp);
      svd.reserve(rows, cols);
    } else if (gram_path) {
      x1d.resize(lp);
      x2d.resize(lp);
      gram.resize(static_cast<std::size_t>(rows) * rows);
      z.resize(static_cast<std::size_t>(rows) * q);
      hsz = lapack::heevr_sizes(rows);
      hwork.resize(static_cast<std::size_t>(hsz.lwork));
      hrwork.resize(static_cast<std::size_t>(hsz.lrwork));
      hiwork.resize(static_cast<std::size_t>(hsz.liwork));
      hw.resize(static_cast<std::size_t>(rows));
      isuppz.resize(2 * static_cast<std::size_t>(rows));
    }
    uq.resize(static_cast<std::size_t>(rows) * q);
    vq.resize(static_cast<std::size_t>(cols) * q);
    w.resize(static_cast<std::size_t>(rows) * q);
    psi.resize(q * q);
    eig.resize(q);
    eig_work.resize(4 * q + 4);
    eig_rwork.resize(2 * q + 2);
    g.resize(static_cast<std::size_t>(c.n_tx) * c.n_rx * q);
    cgram.resize(q * q);
    phases.resize(static_cast<std::size_t>(c.n_tx) * c.n_rx);
    sd.resize(static_cast<std::size_t>(k));
  }
};

// X1 and X2 of eqs. (26)-(32), column-major rows x cols, in the element type U.
template <class T, class U>
void build_pencil(const std::complex<T>* h, const ParamingConfig& c, int rows, U* x1, U* x2) {
  const int nr = c.n_rx, n = c.n_sub, mt = c.sub_tx, mr = c.sub_rx, m = c.sub_sc;
  const int kt = c.n_tx - mt + 1, kr = nr - mr + 1, kn = n - m + 1;
  for (int ct = 0; ct < kt; ++ct)
    for (int cn = 0; cn < kn - 1; ++cn)
      for (int cr = 0; cr < kr; ++cr) {
        const std::size_t j = static_cast<std::size_t>(cr + kr * (cn + (kn - 1) * ct));
        U* col1 = x1 + j * rows;
        U* col2 = x2 + j * rows;
        for (int at = 0; at < mt; ++at)
          for (int am = 0; am < m; ++am)
            for (int ar = 0; ar < mr; ++ar) {
              const std::size_t row = static_cast<std::size_t>(ar + mr * (am + m * at));
              const std::size_t hrow = static_cast<std::size_t>((at + ct) * nr + ar + cr);
              const std::complex<T>* hp = h + hrow * n + am + cn;
              col1[row] = U(hp[0]);
              col2[row] = U(hp[1]);
            }
      }
}

// W = X2 V_q (rows x q), accumulated in double.
template <class U>
void times_v(const U* x2, const cd* vq, int rows, int cols, int q, cd* w) {
  std::fill(w, w + static_cast<std::ptrdiff_t>(rows) * q, cd(0.0));
  for (int j = 0; j < cols; ++j) {
    const U* col = x2 + static_cast<std::size_t>(j) * rows;
    for (int i = 0; i < q; ++i) {
      const cd v = vq[static_cast<std::size_t>(j) + static_cast<std::size_t>(cols) * i];
      cd* wi = w + static_cast<std::size_t>(i) * rows;
      for (int r = 0; r < rows; ++r) wi[r] += mul(cd(col[r]), v);
    }
  }
}

// Outputs of one CSI (rows of the batch outputs).
struct ParamingOut {
  double* toa;
  double* aoa;
  double* aod;
  cd* gain;
  double* singular_values;
  std::int64_t* n_paths;
  std::int64_t* status;
};

// Krylov path (method 2): U_q, S_q (sd[0..q)), V_q and W = X2 V_q into the workspace; q is
// estimated first when c.n_paths == 0 (from every singular value, by the Gram eigenvalues as
// method 0 does, so the order is the same).  False, with *out.status set, on failure.
template <class T>
bool krylov_triplets(const std::complex<T>* h, const ParamingConfig& c, Workspace<T>& ws,
                     ParamingOut out, int& q) {
  const int rows = ws.rows, cols = ws.cols, kk = ws.k;
  std::vector<double>& sd = ws.sd;
  for (int i = 0; i < kk; ++i) sd[static_cast<std::size_t>(i)] = std::numeric_limits<double>::quiet_NaN();
  const double frob2 = ws.op.set(h);
  auto write_sv = [&] {
    for (int i = 0; i < kk; ++i) out.singular_values[i] = sd[static_cast<std::size_t>(i)];
  };
  if (!(frob2 > 0.0)) {
    sd[0] = 0.0;
    write_sv();
    *out.status = kParamingZero;
    return false;
  }
  bool have_pencil = false;
  q = c.n_paths;
  if (q == 0) {
    build_pencil<T, cd>(h, c, rows, ws.x1d.data(), ws.x2d.data());
    have_pencil = true;
    lapack::herk(rows, cols, ws.x1d.data(), ws.gram.data());
    double lam_max = 0.0;
    for (int i = 0; i < rows; ++i)
      lam_max = std::max(lam_max, ws.gram[static_cast<std::size_t>(i) * (rows + 1)].real());
    int found = 0;
    if (lapack::heevr('N', rows, ws.gram.data(), 1, rows, &found, ws.hw.data(), nullptr,
                      ws.isuppz.data(), ws.hwork.data(), ws.hrwork.data(), ws.hiwork.data(),
                      ws.hsz) != 0) {
      *out.status = kParamingLapack;
      return false;
    }
    for (int i = 0; i < kk; ++i)
      sd[static_cast<std::size_t>(i)] =
          std::sqrt(std::max(ws.hw[static_cast<std::size_t>(rows - 1 - i)], 0.0));
    const double gram_tol = std::sqrt(std::max(rows, cols) * std::numeric_limits<double>::epsilon() *
                                      std::max(lam_max, 0.0) * rows);
    int rank = 0;
    while (rank < kk && sd[static_cast<std::size_t>(rank)] > gram_tol) ++rank;
    q = estimate_order(sd.data(), kk, static_cast<double>(cols), std::min(c.max_paths, kk - 1),
                       c.criterion);
    q = std::min(q, std::max(rank, 1));
  }
  *out.n_paths = q;
  const int bs = q + c.krylov_oversampling;
  const bool dense = kk < (kKrylovBlocks + 1) * bs;
  std::vector<double> sq(static_cast<std::size_t>(q));
  if (dense) {
    if (!have_pencil) build_pencil<T, cd>(h, c, rows, ws.x1d.data(), ws.x2d.data());
    std::copy(ws.x1d.begin(), ws.x1d.end(), ws.da.begin());
    if (ws.dsvd.run(rows, cols, ws.da.data()) != 0) {
      *out.status = kParamingLapack;
      return false;
    }
    for (int i = 0; i < q; ++i) {
      sq[static_cast<std::size_t>(i)] = ws.dsvd.s[static_cast<std::size_t>(i)];
      std::copy(ws.dsvd.u.begin() + static_cast<std::ptrdiff_t>(i) * rows,
                ws.dsvd.u.begin() + static_cast<std::ptrdiff_t>(i + 1) * rows,
                ws.uq.begin() + static_cast<std::ptrdiff_t>(i) * rows);
      for (int j = 0; j < cols; ++j)
        ws.vq[static_cast<std::size_t>(i) * cols + j] =
            std::conj(ws.dsvd.vt[static_cast<std::size_t>(i) + static_cast<std::size_t>(kk) * j]);
    }
  } else {
    const hankel_svd::KrylovResult r =
        hankel_svd::partial_svd(ws.op, std::sqrt(frob2), q, bs, kKrylovBlocks * bs, c.krylov_rtol,
                                c.krylov_noise_rtol, c.krylov_max_steps, ws.kw, ws.uq.data(), sq.data(), ws.vq.data());
    if (!r.converged) {
      write_sv();
      *out.status = kParamingNotConverged;
      return false;
    }
  }
  for (int i = 0; i < q; ++i) sd[static_cast<std::size_t>(i)] = sq[static_cast<std::size_t>(i)];
  write_sv();
  if (!(sd[0] > 0.0)) {
    *out.status = kParamingZero;
    return false;
  }
  // Singular values accurate to ~eps s_1: the rank test of the full SVD.
  const double rank_tol = std::max(rows, cols) * std::numeric_limits<double>::epsilon() * sd[0];
  int rank = 0;
  while (rank < q && sd[static_cast<std::size_t>(rank)] > rank_tol) ++rank;
  if (q > rank) {
    *out.status = kParamingRankDeficient;
    return false;
  }
  // W = X2 V_q.
  if (dense)
    times_v(ws.x2d.data(), ws.vq.data(), rows, cols, q, ws.w.data());
  else
    ws.op.apply(ws.vq.data(), cols, ws.w.data(), rows, q, true);
  return true;
}

template <class T>
void paraming_one(const std::complex<T>* h, const ParamingConfig& c, const double* atan_table,
                  Workspace<T>& ws, ParamingOut out) {
  const int nt = c.n_tx, nr = c.n_rx, n = c.n_sub;
  const int rows = ws.rows, cols = ws.cols, kk = ws.k;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int i = 0; i < c.max_paths; ++i) {
    out.toa[i] = out.aoa[i] = out.aod[i] = nan;
    out.gain[i] = cd(nan, nan);
  }
  *out.n_paths = 0;

  const bool svd = c.method == 1;
  std::vector<double>& sd = ws.sd;
  const double nan_sv = std::numeric_limits<double>::quiet_NaN();
  int q = c.n_paths;
  if (c.method == 2) {
    if (!krylov_triplets(h, c, ws, out, q)) return;
  } else {
    int rank = 0;
    double rank_tol = 0.0;
    if (svd) {
      // (26)-(34): X1, X2 in T, thin SVD of X1.
      build_pencil<T, std::complex<T>>(h, c, rows, ws.x1.data(), ws.x2.data());
      const int info = ws.svd.run(rows, cols, ws.x1.data());
      if (info != 0) {
        *out.status = kParamingLapack;
        return;
      }
      for (int i = 0; i < kk; ++i) sd[static_cast<std::size_t>(i)] = ws.svd.s[static_cast<std::size_t>(i)];
      rank_tol = std::max(rows, cols) * static_cast<double>(std::numeric_limits<T>::epsilon()) * sd[0];
    } else {
      // (26)-(34): X1, X2 in double; Gram X1 X1^H; its eigenvalues when the order is estimated.
      build_pencil<T, cd>(h, c, rows, ws.x1d.data(), ws.x2d.data());
      lapack::herk(rows, cols, ws.x1d.data(), ws.gram.data());
      for (int i = 0; i < kk; ++i) sd[static_cast<std::size_t>(i)] = nan_sv;
      double lam_max = 0.0;
      for (int i = 0; i < rows; ++i)
        lam_max = std::max(lam_max, ws.gram[static_cast<std::size_t>(i) * (rows + 1)].real());
      if (c.n_paths == 0) {
        std::vector<cd> a(ws.gram);
        int found = 0;
        if (lapack::heevr('N', rows, a.data(), 1, rows, &found, ws.hw.data(), nullptr,
                          ws.isuppz.data(), ws.hwork.data(), ws.hrwork.data(), ws.hiwork.data(),
                          ws.hsz) != 0) {
          *out.status = kParamingLapack;
          return;
        }
        for (int i = 0; i < kk; ++i)
          sd[static_cast<std::size_t>(i)] =
              std::sqrt(std::max(ws.hw[static_cast<std::size_t>(rows - 1 - i)], 0.0));
      }
      // Eigenvalues of the Gram carry absolute errors ~ eps s_1^2: the rank is resolved to
      // sqrt(eps) s_1 (the trace bounds s_1^2).
      rank_tol = std::sqrt(std::max(rows, cols) * std::numeric_limits<double>::epsilon() *
                           std::max(lam_max, 0.0) * rows);
    }
    if (!svd && q > 0) {
      // Only the q dominant eigenpairs.
      int found = 0;
      if (lapack::heevr('V', rows, ws.gram.data(), rows - q + 1, rows, &found, ws.hw.data(),
                        ws.z.data(), ws.isuppz.data(), ws.hwork.data(), ws.hrwork.data(),
                        ws.hiwork.data(), ws.hsz) != 0 || found != q) {
        *out.status = kParamingLapack;
        return;
      }
      for (int i = 0; i < q; ++i)
        sd[static_cast<std::size_t>(i)] = std::sqrt(std::max(ws.hw[static_cast<std::size_t>(q - 1 - i)], 0.0));
    }
    for (int i = 0; i < kk; ++i) out.singular_values[i] = sd[static_cast<std::size_t>(i)];
    if (!(sd[0] > 0.0)) {
      *out.status = kParamingZero;
      return;
    }
    if (q == 0) {
      while (rank < kk && sd[static_cast<std::size_t>(rank)] > rank_tol) ++rank;
      q = estimate_order(sd.data(), kk, static_cast<double>(cols), std::min(c.max_paths, kk - 1),
                         c.criterion);
      q = std::min(q, std::max(rank, 1));
      if (!svd) {
        int found = 0;
        if (lapack::heevr('V', rows, ws.gram.data(), rows - q + 1, rows, &found, ws.hw.data(),
                          ws.z.data(), ws.isuppz.data(), ws.hwork.data(), ws.hrwork.data(),
                          ws.hiwork.data(), ws.hsz) != 0 || found != q) {
          *out.status = kParamingLapack;
          return;
        }
      }
    } else {
      while (rank < q && sd[static_cast<std::size_t>(rank)] > rank_tol) ++rank;
    }
    *out.n_paths = q;
    if (q > rank) {
      *out.status = kParamingRankDeficient;
      return;
    }

    // U_q (rows x q) and V_q (cols x q), column-major, descending singular values.
    if (svd) {
      for (int i = 0; i < q; ++i) {
        for (int r = 0; r < rows; ++r)
          ws.uq[static_cast<std::size_t>(i) * rows + r] = cd(ws.svd.u[static_cast<std::size_t>(i) * rows + r]);
        for (int j = 0; j < cols; ++j)
          ws.vq[static_cast<std::size_t>(i) * cols + j] =
              std::conj(cd(ws.svd.vt[static_cast<std::size_t>(i) + static_cast<std::size_t>(kk) * j]));
      }
    } else {
      for (int i = 0; i < q; ++i) {
        const cd* zi = ws.z.data() + static_cast<std::size_t>(q - 1 - i) * rows;  // ascending
        std::copy(zi, zi + rows, ws.uq.begin() + static_cast<std::ptrdiff_t>(i) * rows);
        const double inv = 1.0 / sd[static_cast<std::size_t>(i)];
        for (int j = 0; j < cols; ++j) {  // V_q = X1^H U_q S_q^-1
          const cd* col = ws.x1d.data() + static_cast<std::size_t>(j) * rows;
          cd acc(0.0);
          for (int r = 0; r < rows; ++r) acc += mulc(col[r], zi[r]);
          ws.vq[static_cast<std::size_t>(i) * cols + j] = acc * inv;
        }
      }
    }
    if (svd)
      times_v(ws.x2.data(), ws.vq.data(), rows, cols, q, ws.w.data());
    else
      times_v(ws.x2d.data(), ws.vq.data(), rows, cols, q, ws.w.data());
  }
  // Psi = S_q^-1 U_q^H W, column-major q x q for geev.
  for (int a = 0; a < q; ++a)
    for (int b = 0; b < q; ++b) {
      cd acc(0.0);
      const cd* ua = ws.uq.data() + static_cast<std::size_t>(a) * rows;
      const cd* wb = ws.w.data() + static_cast<std::size_t>(b) * rows;
      for (int r = 0; r < rows; ++r) acc += mulc(ua[r], wb[r]);
      ws.psi[static_cast<std::size_t>(a + q * b)] = acc / sd[static_cast<std::size_t>(a)];
    }
  if (lapack::geev(q, ws.psi.data(), ws.eig.data(), ws.eig_work.data(),
                   static_cast<int>(ws.eig_work.size()), ws.eig_rwork.data()) != 0) {
    *out.status = kParamingLapack;
    return;
  }

  // (35): normalised delays u = tau df in [0, 1), phase by CORDIC; sorted ascending.
  std::vector<double> u(static_cast<std::size_t>(q));
  for (int i = 0; i < q; ++i) {
    const cd z = ws.eig[static_cast<std::size_t>(i)];
    const double ph = cordic::atan2_float<double>(z.imag(), z.real(), atan_table, c.cordic_iterations);
    double v = -ph / (2.0 * kPi);
    v -= std::floor(v - c.min_delay);
    u[static_cast<std::size_t>(i)] = v;
  }
  std::sort(u.begin(), u.end());

  // (36): G = H conj(C) (C^T conj(C))^-1; rows of G solve conj(M) g = b, M[i, j] = sum_n c_ni conj(c_nj).
  const int npair = nt * nr;
  std::vector<cd> cmat(static_cast<std::size_t>(n) * q);  // C[nn, i]
  for (int nn = 0; nn < n; ++nn)
    for (int i = 0; i < q; ++i) {
      const double turns = nn * u[static_cast<std::size_t>(i)];
      const double ang = -2.0 * kPi * (turns - std::floor(turns));
      cmat[static_cast<std::size_t>(nn * q + i)] = cd(std::cos(ang), std::sin(ang));
    }
  for (int i = 0; i < q; ++i)
    for (int j = 0; j < q; ++j) {
      cd acc(0.0);
      for (int nn = 0; nn < n; ++nn)
        acc += mulc(cmat[static_cast<std::size_t>(nn * q + j)], cmat[static_cast<std::size_t>(nn * q + i)]);
      ws.cgram[static_cast<std::size_t>(i * q + j)] = std::conj(acc);  // conj(M)[i, j]
    }
  for (int row = 0; row < npair; ++row) {
    cd* g = ws.g.data() + static_cast<std::size_t>(row) * q;
    for (int i = 0; i < q; ++i) g[i] = cd(0.0);
    const std::complex<T>* hr = h + static_cast<std::size_t>(row) * n;
    for (int nn = 0; nn < n; ++nn) {
      const cd hv(hr[nn]);
      for (int i = 0; i < q; ++i) g[i] += mul(hv, std::conj(cmat[static_cast<std::size_t>(nn * q + i)]));
    }
  }
  if (!hpd_solve_rows(ws.cgram, q, ws.g.data(), npair, 1e-12)) {
    *out.status = kParamingDelays;
    return;
  }

  // (38)-(41) per path.
  double cr_mean = 0.5 * (nr - 1), ct_mean = 0.5 * (nt - 1);
  double sr = 0.0, st = 0.0;
  for (int a = 0; a < nr; ++a) sr += (a - cr_mean) * (a - cr_mean);
  for (int a = 0; a < nt; ++a) st += (a - ct_mean) * (a - ct_mean);
  sr *= nt;
  st *= nr;
  for (int i = 0; i < q; ++i) {
    double norm2 = 0.0;
    for (int row = 0; row < npair; ++row) norm2 += abs2(ws.g[static_cast<std::size_t>(row) * q + i]);
    const double norm = std::sqrt(norm2);
    const cd* gi = ws.g.data() + i;  // g[row * q + i]
    auto gv = [&](int a, int b) { return gi[static_cast<std::size_t>(a * nr + b) * q]; };
    double mu0_r = 0.0, mu0_t = 0.0, psi0 = 0.0;
    if (c.phase_fit == 0) {
      cd acc_r(0.0), acc_t(0.0), acc(0.0);
      for (int a = 0; a < nt; ++a)
        for (int b = 0; b < nr; ++b) {
          if (b + 1 < nr) acc_r += mulc(gv(a, b), gv(a, b + 1));
          if (a + 1 < nt) acc_t += mulc(gv(a, b), gv(a + 1, b));
        }
      mu0_r = std::arg(acc_r);
      mu0_t = std::arg(acc_t);
      for (int a = 0; a < nt; ++a)
        for (int b = 0; b < nr; ++b) acc += mul(gv(a, b), std::polar(1.0, -(mu0_r * b + mu0_t * a)));
      psi0 = std::arg(acc);
      for (int a = 0; a < nt; ++a)
        for (int b = 0; b < nr; ++b)
          ws.phases[static_cast<std::size_t>(a * nr + b)] =
              std::arg(mul(gv(a, b), std::polar(1.0, -(mu0_r * b + mu0_t * a + psi0))));
    } else {
      for (int row = 0; row < npair; ++row)
        ws.phases[static_cast<std::size_t>(row)] = std::arg(ws.g[static_cast<std::size_t>(row) * q + i]);
      for (int a = 0; a < nt; ++a) unwrap(ws.phases.data() + a * nr, nr, 1);  // along Rx
      for (int b = 0; b < nr; ++b) unwrap(ws.phases.data() + b, nt, nr);      // along Tx
    }
    double mean = 0.0, mu_r = 0.0, mu_t = 0.0;
    for (int a = 0; a < nt; ++a)
      for (int b = 0; b < nr; ++b) {
        const double p = ws.phases[static_cast<std::size_t>(a * nr + b)];
        mean += p;
        mu_r += (b - cr_mean) * p;
        mu_t += (a - ct_mean) * p;
      }
    mean /= npair;
    mu_r /= sr;
    mu_t /= st;
    const double psi = psi0 + mean - mu_r * cr_mean - mu_t * ct_mean;
    mu_r += mu0_r;
    mu_t += mu0_t;
    mu_r -= 2.0 * kPi * std::ceil((mu_r - kPi) / (2.0 * kPi));  // principal value (-pi, pi]
    mu_t -= 2.0 * kPi * std::ceil((mu_t - kPi) / (2.0 * kPi));
    const double sin_r = std::clamp(-mu_r / (2.0 * kPi * c.spacing_rx), -1.0, 1.0);
    const double sin_t = std::clamp(-mu_t / (2.0 * kPi * c.spacing_tx), -1.0, 1.0);
    out.toa[i] = u[static_cast<std::size_t>(i)] / c.subcarrier_spacing_hz;
    out.aoa[i] = std::asin(sin_r);
    out.aod[i] = std::asin(sin_t);
    out.gain[i] = std::polar(norm / std::sqrt(static_cast<double>(npair)), psi);
  }
  *out.status = kParamingOk;
}

}  // namespace paraming_detail

// Batch PARAMING: h (batch, Nt, Nr, N) complex<T>; outputs (batch, max_paths) toa [s], aoa, aod
// [rad], gain (complex128), singular_values (batch, min(L, P)), n_paths and status (batch,).
// Entries beyond n_paths (and all of a failed CSI) are NaN.
template <class T>
void paraming(ConstView<std::complex<T>, 4> h, const ParamingConfig& c, View<double, 2> toa,
              View<double, 2> aoa, View<double, 2> aod, View<std::complex<double>, 2> gain,
              View<double, 2> singular_values, View<std::int64_t, 1> n_paths,
              View<std::int64_t, 1> status, int n_threads) {
  const std::ptrdiff_t batch = h.shape[0];
  const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(c.n_tx) * c.n_rx * c.n_sub;
  const std::vector<double> table = cordic::angle_table(c.cordic_iterations);
  lapack::SingleThreadScope single_thread;
  parallel_for_chunks(batch, n_threads, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) {
    paraming_detail::Workspace<T> ws(c);
    for (std::ptrdiff_t b = lo; b < hi; ++b) {
      paraming_detail::ParamingOut out{&toa(b, 0),    &aoa(b, 0),        &aod(b, 0),
                                       &gain(b, 0),   &singular_values(b, 0), &n_paths(b),
                                       &status(b)};
      paraming_detail::paraming_one<T>(h.data + b * stride, c, table.data(), ws, out);
    }
  });
}

}  // namespace skysense
