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
#include <atomic>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "skysense/cancel.hpp"
#include "skysense/cordic.hpp"
#include "skysense/hankel_svd.hpp"
#include "skysense/lapack.hpp"
#include "skysense/parallel.hpp"
#include "skysense/paraming_ml.hpp"
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
  // ML stage (paraming_ml.hpp): refine the estimate (LM on the joint ML cost), at most max_iter
  // Gauss-Newton systems, stopped when the predicted cost decrease is <= refine_rtol f.
  int refine = 1;
  int max_iter = 20;
  double refine_rtol = 1e-9;
  // Estimated ToAs closer than cluster_cells cells 1/(N df) form a delay cluster, separated in
  // the angle domain too; a cluster path is reliable when its estimated standard deviations are
  // <= resolve_std cells (ToA) and 1/Nt, 1/Nr (angles).
  double cluster_cells = 1.0;
  double resolve_std = 0.25;
  // Successive detection (criterion 2) and the significance of each path: false-alarm
  // probability of one test.
  double false_alarm = 1e-3;
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
  kParamingOverflow = 6,      // a gain overflows the range of double at the CSI's scale
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

// One estimate of q paths: PARAMING's own outputs (candidate A: ToA df, angles, eq. 40-41
// gains) and the frequencies eta = [mu_t, mu_r, nu] (3q) with their LS gains and ML cost.
struct Candidate {
  std::vector<double> toa, aoa, aod, eta;
  std::vector<cd> pgain, gain;
  double cost = 0.0;
  bool ok = false;
  void reserve(int q) {
    const std::size_t n = static_cast<std::size_t>(q);
    toa.resize(n);
    aoa.resize(n);
    aod.resize(n);
    pgain.resize(n);
    gain.resize(n);
    eta.resize(3 * n);
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
  std::vector<cd> psi_copy, evec;  // Psi before geev and its eigenvectors (delay clusters)
  Candidate cand[4];               // PARAMING, angle domain, and both refined
  paraming_ml::Model model;        // ML stage
  paraming_ml::Periodogram pgram;  // successive detection (criterion 2)
  std::vector<cd> resid;

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
    psi_copy.resize(q * q);
    evec.resize(q * q);
    for (auto& cnd : cand) cnd.reserve(c.max_paths);
    model = paraming_ml::Model(c.n_tx, c.n_rx, c.n_sub, c.max_paths);
    if (c.criterion == 2) pgram = paraming_ml::Periodogram(c.n_tx, c.n_rx, c.n_sub);
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
        // One point per column: the Gram and SVD paths have no other before their LAPACK
        // call, and the host is polled every 64 points (cancel.hpp).
        cancellation_point();
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
  bool* refined;
  bool* reliable;
  std::int64_t* iterations;
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
                       c.criterion == 1 ? 1 : 0);  // GLRT (2) starts from MDL
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

// tau df of a pencil eigenvalue z = exp(-j 2 pi df tau) (eq. 35, phase by CORDIC), taken into
// [min_delay, min_delay + 1).
inline double eigen_delay(cd z, const ParamingConfig& c, const double* atan_table) {
  const double ph = cordic::atan2_float<double>(z.imag(), z.real(), atan_table, c.cordic_iterations);
  double v = -ph / (2.0 * kPi);
  v -= std::floor(v - c.min_delay);
  return v;
}

// True when two of the sorted delays u (tau df) lie closer than c.cluster_cells resolution
// cells 1/N (cyclically: tau df is defined modulo 1).
inline bool has_cluster(const std::vector<double>& u, int q, const ParamingConfig& c) {
  const double thr = c.cluster_cells / c.n_sub;
  for (int i = 1; i < q; ++i)
    if (u[static_cast<std::size_t>(i)] - u[static_cast<std::size_t>(i - 1)] < thr) return true;
  return q > 1 && u[0] + 1.0 - u[static_cast<std::size_t>(q - 1)] < thr;
}

// Cluster labels of q delays (tau df, any order): single linkage at c.cluster_cells cells,
// cyclic.  Returns the number of clusters; label[i] in [0, n_clusters).
inline int cluster_labels(const double* nu, int q, const ParamingConfig& c, std::vector<int>& label) {
  const double thr = c.cluster_cells / c.n_sub;
  std::vector<int> order(static_cast<std::size_t>(q));
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> v(static_cast<std::size_t>(q));
  for (int i = 0; i < q; ++i) v[static_cast<std::size_t>(i)] = nu[i] - std::floor(nu[i]);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return v[static_cast<std::size_t>(a)] < v[static_cast<std::size_t>(b)]; });
  label.assign(static_cast<std::size_t>(q), 0);
  int n = 0;
  for (int j = 0; j < q; ++j) {
    const int i = order[static_cast<std::size_t>(j)];
    if (j > 0 && v[static_cast<std::size_t>(i)] - v[static_cast<std::size_t>(order[static_cast<std::size_t>(j - 1)])] >= thr) ++n;
    label[static_cast<std::size_t>(i)] = n;
  }
  ++n;
  // the last cluster wraps onto the first
  if (n > 1 && v[static_cast<std::size_t>(order[0])] + 1.0 - v[static_cast<std::size_t>(order[static_cast<std::size_t>(q - 1)])] < thr) {
    for (auto& l : label)
      if (l == n - 1) l = 0;
    --n;
  }
  return n;
}

// (36)-(41): PARAMING's LS gains per ToA and phase-plane fit for the sorted delays u; writes
// candidate A (its own outputs and the frequencies eta).  False when C^T conj(C) is singular.
template <class T>
bool ls_plane_fit(const std::complex<T>* h, const ParamingConfig& c, Workspace<T>& ws,
                  const std::vector<double>& u, int q, Candidate& out) {
  const int nt = c.n_tx, nr = c.n_rx, n = c.n_sub;
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
  if (!hpd_solve_rows(ws.cgram, q, ws.g.data(), npair, 1e-12)) return false;

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
    const std::size_t si = static_cast<std::size_t>(i);
    out.toa[si] = u[si];
    out.aoa[si] = std::asin(sin_r);
    out.aod[si] = std::asin(sin_t);
    out.pgain[si] = std::polar(norm / std::sqrt(static_cast<double>(npair)), psi);
    out.eta[si] = c.spacing_tx * sin_t;
    out.eta[static_cast<std::size_t>(q) + si] = c.spacing_rx * sin_r;
    out.eta[static_cast<std::size_t>(2 * q) + si] = u[si];
  }
  return true;
}

// PARAMING's own outputs of candidate A (ToA [s], angles, gains as eqs. 40-41 give them).
inline void write_paraming(const Candidate& a, const ParamingConfig& c, int q, ParamingOut out,
                           const std::vector<char>* reliable = nullptr) {
  for (int i = 0; i < q; ++i) {
    const std::size_t si = static_cast<std::size_t>(i);
    out.toa[i] = a.toa[si] / c.subcarrier_spacing_hz;
    out.aoa[i] = a.aoa[si];
    out.aod[i] = a.aod[si];
    out.gain[i] = a.pgain[si];
    out.reliable[i] = reliable == nullptr || (*reliable)[si] != 0;
  }
  *out.n_paths = q;
}

// The angles of frequencies eta (3q) are visible (|mu / d| <= 1: the ML fit left no path
// outside the arrays' field of view).
inline bool visible(const double* eta, int q, const ParamingConfig& c) {
  for (int i = 0; i < q; ++i) {
    if (std::fabs(paraming_ml::wrap_half(eta[i])) > c.spacing_tx * (1.0 + 1e-12)) return false;
    if (std::fabs(paraming_ml::wrap_half(eta[q + i])) > c.spacing_rx * (1.0 + 1e-12)) return false;
  }
  return true;
}

// Outputs from frequencies eta (3q) and gains, sorted by ToA (then AoA); `reliable` (q, in
// eta order) is permuted alongside.
inline void write_eta(const double* eta, const cd* gain, const std::vector<char>& reliable, int q,
                      const ParamingConfig& c, ParamingOut out) {
  std::vector<double> u(static_cast<std::size_t>(q)), aoa(u), aod(u);
  for (int i = 0; i < q; ++i) {
    const std::size_t si = static_cast<std::size_t>(i);
    const double v = eta[2 * q + i];
    u[si] = v - std::floor(v - c.min_delay);
    aod[si] = std::asin(std::clamp(paraming_ml::wrap_half(eta[i]) / c.spacing_tx, -1.0, 1.0));
    aoa[si] = std::asin(std::clamp(paraming_ml::wrap_half(eta[q + i]) / c.spacing_rx, -1.0, 1.0));
  }
  std::vector<int> order(static_cast<std::size_t>(q));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const std::size_t sa = static_cast<std::size_t>(a), sb = static_cast<std::size_t>(b);
    return u[sa] < u[sb] || (u[sa] == u[sb] && aoa[sa] < aoa[sb]);
  });
  for (int j = 0; j < q; ++j) {
    const std::size_t i = static_cast<std::size_t>(order[static_cast<std::size_t>(j)]);
    out.toa[j] = u[i] / c.subcarrier_spacing_hz;
    out.aoa[j] = aoa[i];
    out.aod[j] = aod[i];
    out.gain[j] = gain[i];
    out.reliable[j] = reliable[i] != 0;
  }
  *out.n_paths = q;
}

// Candidate B: the pencil's eigenvectors split into delay clusters, each separated in the angle
// domain (paraming_ml::cluster_esprit); singletons are the one-path case of the same step.
template <class T>
bool angle_domain(Workspace<T>& ws, const ParamingConfig& c, int q, const double* atan_table,
                  Candidate& b) {
  const int rows = ws.rows;
  std::copy(ws.psi_copy.begin(), ws.psi_copy.begin() + static_cast<std::ptrdiff_t>(q) * q, ws.psi.begin());
  if (lapack::geev_right(q, ws.psi.data(), ws.eig.data(), ws.evec.data(), ws.eig_work.data(),
                         static_cast<int>(ws.eig_work.size()), ws.eig_rwork.data()) != 0)
    return false;
  std::vector<double> u2(static_cast<std::size_t>(q));
  for (int i = 0; i < q; ++i) u2[static_cast<std::size_t>(i)] = eigen_delay(ws.eig[static_cast<std::size_t>(i)], c, atan_table);
  std::vector<int> label;
  const int n_clusters = cluster_labels(u2.data(), q, c, label);
  std::vector<cd> s;
  std::vector<double> nu_fb, mt(static_cast<std::size_t>(q)), mr(mt), nu(mt);
  int filled = 0;
  for (int g = 0; g < n_clusters; ++g) {
    std::vector<int> idx;
    for (int i = 0; i < q; ++i)
      if (label[static_cast<std::size_t>(i)] == g) idx.push_back(i);
    const int k = static_cast<int>(idx.size());
    // S = U_q S_q E_C: spans the cluster's left-manifold columns.
    s.assign(static_cast<std::size_t>(rows) * k, cd(0.0));
    nu_fb.assign(static_cast<std::size_t>(k), 0.0);
    for (int j = 0; j < k; ++j) {
      const int e = idx[static_cast<std::size_t>(j)];
      nu_fb[static_cast<std::size_t>(j)] = u2[static_cast<std::size_t>(e)];
      for (int a = 0; a < q; ++a) {
        const cd w = ws.sd[static_cast<std::size_t>(a)] * ws.evec[static_cast<std::size_t>(a + q * e)];
        const cd* ua = ws.uq.data() + static_cast<std::size_t>(a) * rows;
        cd* sj = s.data() + static_cast<std::size_t>(j) * rows;
        for (int r = 0; r < rows; ++r) sj[r] += mul(w, ua[r]);
      }
    }
    if (!paraming_ml::cluster_esprit(s.data(), k, c.sub_tx, c.sub_sc, c.sub_rx, nu_fb.data(),
                                     mt.data() + filled, mr.data() + filled, nu.data() + filled))
      return false;
    filled += k;
  }
  for (int i = 0; i < q; ++i) {
    const std::size_t si = static_cast<std::size_t>(i);
    b.eta[si] = mt[si];
    b.eta[static_cast<std::size_t>(q) + si] = mr[si];
    b.eta[static_cast<std::size_t>(2 * q) + si] = nu[si] - std::floor(nu[si] - c.min_delay);
  }
  return visible(b.eta.data(), q, c);
}

// Detection threshold on the cost decrease that one more path brings, in units of the noise
// variance: L + 2 log L with L = log(M / false_alarm), M = Nt Nr N samples.  Noise alone gives
// a decrease of about the maximum of the periodogram over M cells, exp(1)-distributed per cell,
// and the continuous 3-D maximisation and the joint refinement add the log L term (the tail of
// the maximum of a chi-square field); calibrated on noise-only residuals (2,000 draws each at
// 8 x 10 x 64 and 5 x 7 x 33: 0.55 % false alarms for 1 %, 0.05-0.1 % for 0.1 %).
inline double detection_threshold(int m_samples, const ParamingConfig& c) {
  const double l = std::log(m_samples / c.false_alarm);
  return l + 2.0 * std::log(l);
}

// Per-path reliability of an estimate eta (3q) with ML cost f.  Path i is reliable when
//   (a) it is significant: dropping it (the others refitted) raises the cost by more than the
//       detection threshold times the noise variance estimated from the residual, and
//   (b) if two estimated ToAs lie within c.cluster_cells cells (a delay cluster) and path i is
//       one of them, the standard deviations of its frequencies from the Fisher information at
//       the estimate are at most c.resolve_std cells 1/N (delay) and 1/Nt, 1/Nr (angles).
template <class T>
void reliability(Workspace<T>& ws, const ParamingConfig& c, const double* eta, int q, double f,
                 std::vector<char>& reliable) {
  reliable.assign(static_cast<std::size_t>(q), 1);
  const double dof = ws.model.n_samples() - 2.5 * q;
  if (!(dof > 1.0)) return;  // too few samples for a noise estimate: nothing to judge by
  const double noise = f / dof;
  const int np = 5 * q;
  std::vector<double> jtj(static_cast<std::size_t>(np) * np), drop(static_cast<std::size_t>(q));
  if (!ws.model.information(eta, q, jtj.data(), drop.data())) {
    reliable.assign(static_cast<std::size_t>(q), 0);  // dependent atoms: paths not separable
    return;
  }
  const double threshold = detection_threshold(ws.model.n_samples(), c);
  for (int i = 0; i < q; ++i)
    if (!(drop[static_cast<std::size_t>(i)] > threshold * noise)) reliable[static_cast<std::size_t>(i)] = 0;
  std::vector<int> label;
  const int n_clusters = cluster_labels(eta + 2 * q, q, c, label);
  if (n_clusters == q) return;
  std::vector<int> size(static_cast<std::size_t>(n_clusters), 0);
  for (int l : label) ++size[static_cast<std::size_t>(l)];
  std::vector<double> scale(static_cast<std::size_t>(np));
  bool ok = true;
  for (int a = 0; ok && a < np; ++a) {
    const double d = jtj[static_cast<std::size_t>(a * np + a)];
    ok = d > 0.0;
    if (ok) scale[static_cast<std::size_t>(a)] = 1.0 / std::sqrt(d);
  }
  std::vector<double> a(jtj.size()), e(static_cast<std::size_t>(np));
  const double unit[3] = {static_cast<double>(c.n_tx), static_cast<double>(c.n_rx), static_cast<double>(c.n_sub)};
  for (int i = 0; i < q; ++i) {
    if (size[static_cast<std::size_t>(label[static_cast<std::size_t>(i)])] < 2) continue;
    bool good = ok;
    for (int d = 0; good && d < 3; ++d) {
      const int idx = d * q + i;
      for (int r = 0; r < np; ++r)
        for (int s = 0; s < np; ++s)
          a[static_cast<std::size_t>(r * np + s)] = jtj[static_cast<std::size_t>(r * np + s)] *
                                                    scale[static_cast<std::size_t>(r)] * scale[static_cast<std::size_t>(s)];
      std::fill(e.begin(), e.end(), 0.0);
      e[static_cast<std::size_t>(idx)] = 1.0;
      if (!paraming_ml::spd_solve(a.data(), np, e.data(), 1e-15)) {
        good = false;
        break;
      }
      // var = (sigma^2 / 2) [JtJ^-1]_aa, JtJ^-1 = S (S JtJ S)^-1 S
      const double var = 0.5 * noise * e[static_cast<std::size_t>(idx)] * scale[static_cast<std::size_t>(idx)] * scale[static_cast<std::size_t>(idx)];
      good = std::sqrt(std::max(var, 0.0)) * unit[d] <= c.resolve_std;
    }
    if (!good) reliable[static_cast<std::size_t>(i)] = 0;
  }
}

// Residual h - sum_i gamma_i b_i (Nt Nr N) of frequencies eta and gains into r.
inline void residual(const cd* h, const double* eta, const cd* gain, int q, const ParamingConfig& c,
                     std::vector<cd>& r) {
  const int nt = c.n_tx, nr = c.n_rx, n = c.n_sub;
  r.assign(h, h + static_cast<std::ptrdiff_t>(nt) * nr * n);
  std::vector<cd> at(static_cast<std::size_t>(nt)), ar(static_cast<std::size_t>(nr)), cn(static_cast<std::size_t>(n));
  for (int i = 0; i < q; ++i) {
    paraming_ml::steering(nt, eta[i], at.data());
    paraming_ml::steering(nr, eta[q + i], ar.data());
    paraming_ml::steering(n, eta[2 * q + i], cn.data());
    for (int t = 0; t < nt; ++t)
      for (int a = 0; a < nr; ++a) {
        const cd w = mul(gain[i], mul(at[static_cast<std::size_t>(t)], ar[static_cast<std::size_t>(a)]));
        cd* rp = r.data() + (static_cast<std::size_t>(t) * nr + a) * n;
        for (int k = 0; k < n; ++k) rp[k] -= mul(w, cn[static_cast<std::size_t>(k)]);
      }
  }
}

// The ML stage: candidates A (PARAMING) and B (angle domain: with a delay cluster, or with the
// refinement when B fits better than A from the start); the refinement of each; the lowest ML
// cost wins (a refined candidate only if it converged); then successive detection
// (criterion 2) and the per-path reliability.
template <class T>
void ml_stage(const std::complex<T>* hs, const cd* hd, const ParamingConfig& c,
              const double* atan_table, Workspace<T>& ws, ParamingOut out, int q, bool cluster) {
  (void)hs;
  paraming_ml::Model& model = ws.model;
  model.set(hd);
  Candidate& ca = ws.cand[0];
  Candidate& cb = ws.cand[1];
  const double inf = std::numeric_limits<double>::infinity();
  ca.cost = cb.cost = inf;
  if (ca.ok && !model.evaluate(ca.eta.data(), q, false, ca.cost, ca.gain.data())) ca.cost = inf;
  // B: with a delay cluster, or as a second start of the refinement (it recovers the angles
  // where the phase-plane fit of eq. 41 failed, e.g. an unwrap error near endfire).
  cb.ok = (cluster || c.refine) && angle_domain(ws, c, q, atan_table, cb) &&
          model.evaluate(cb.eta.data(), q, false, cb.cost, cb.gain.data());
  if (!cb.ok) cb.cost = inf;
  // Without a cluster, B competes only when it fits better than A from the start.
  const bool use_b = cb.ok && (cluster || !(ca.ok && ca.cost <= cb.cost));
  int iterations = 0;
  Candidate* best = nullptr;
  if (ca.ok && std::isfinite(ca.cost)) best = &ca;
  if (use_b && (best == nullptr || cb.cost < best->cost)) best = &cb;
  bool refined = false;
  if (c.refine) {
    for (int k = 0; k < 2; ++k) {
      Candidate& start = ws.cand[static_cast<std::size_t>(k)];
      if (!start.ok || !std::isfinite(start.cost) || (k == 1 && !use_b)) continue;
      Candidate& r = ws.cand[static_cast<std::size_t>(2 + k)];
      std::copy(start.eta.begin(), start.eta.begin() + 3 * q, r.eta.begin());
      double f0 = 0.0, f = 0.0;
      bool converged = false;
      iterations += model.refine(r.eta.data(), r.gain.data(), q, c.max_iter, c.refine_rtol, f0, f, converged);
      r.ok = converged && visible(r.eta.data(), q, c);
      r.cost = f;
      if (r.ok && (best == nullptr || r.cost <= best->cost)) {
        best = &r;
        refined = true;
      }
    }
  }
  *out.iterations = iterations;
  if (best == nullptr) {
    if (ca.ok) {  // PARAMING's estimate, its ML cost not evaluable: dependent atoms
      const std::vector<char> none(static_cast<std::size_t>(q), 0);
      write_paraming(ca, c, q, out, &none);
      *out.status = kParamingOk;
      return;
    }
    *out.n_paths = q;
    *out.status = kParamingDelays;
    return;
  }
  std::vector<double> eta(best->eta.begin(), best->eta.begin() + 3 * q);
  std::vector<cd> gain(best->gain.begin(), best->gain.begin() + q);
  double f = best->cost;
  const bool paraming_own = best == &ca;
  bool added = false;
  if (c.criterion == 2) {
    // Successive detection.  Forward: the largest peak of the residual's periodogram starts one
    // more path, refined jointly with the others, and kept while it is significant: dropping it
    // again (the others refitted) raises the cost by more than the detection threshold times
    // the residual noise variance (the GLRT of one more path against noise).  Backward: the
    // least significant path is removed, and the rest refined, while it fails that test (a path
    // of the start order that the new ones explain better, or that is noise).
    const int m_samples = model.n_samples();
    const double threshold = detection_threshold(m_samples, c);
    std::vector<double> eta2, jtj, drop;
    std::vector<cd> gain2;
    auto significance = [&](const std::vector<double>& e, int qq, double ff, int& weakest) {
      jtj.assign(static_cast<std::size_t>(25 * qq * qq), 0.0);
      drop.assign(static_cast<std::size_t>(qq), 0.0);
      weakest = 0;
      const double noise = ff / (m_samples - 2.5 * qq);
      if (!model.information(e.data(), qq, jtj.data(), drop.data()) || !(noise > 0.0)) return 0.0;
      for (int i = 1; i < qq; ++i)
        if (drop[static_cast<std::size_t>(i)] < drop[static_cast<std::size_t>(weakest)]) weakest = i;
      return drop[static_cast<std::size_t>(weakest)] / noise;
    };
    while (q < c.max_paths && m_samples - 2.5 * (q + 1) > 1.0) {
      cancellation_point();
      residual(hd, eta.data(), gain.data(), q, c, ws.resid);
      double mt = 0.0, mr = 0.0, nu = 0.0;
      ws.pgram.peak(ws.resid.data(), mt, mr, nu);
      const int q1 = q + 1;
      eta2.assign(static_cast<std::size_t>(3 * q1), 0.0);
      for (int d = 0; d < 3; ++d)
        std::copy(eta.begin() + d * q, eta.begin() + (d + 1) * q, eta2.begin() + d * q1);
      eta2[static_cast<std::size_t>(q)] = mt;
      eta2[static_cast<std::size_t>(q1 + q)] = mr;
      eta2[static_cast<std::size_t>(2 * q1 + q)] = nu - std::floor(nu - c.min_delay);
      gain2.assign(static_cast<std::size_t>(q1), cd(0.0));
      double f0 = 0.0, f1 = 0.0;
      bool converged = false;
      iterations += model.refine(eta2.data(), gain2.data(), q1, c.max_iter, c.refine_rtol, f0, f1, converged);
      if (!converged || !visible(eta2.data(), q1, c)) break;
      int weakest = 0;
      if (!(significance(eta2, q1, f1, weakest) > threshold)) break;  // every path significant
      q = q1;
      eta.swap(eta2);
      gain.swap(gain2);
      f = f1;
      added = true;
      refined = true;
    }
    while (q > 1) {
      cancellation_point();
      int weakest = 0;
      if (significance(eta, q, f, weakest) > threshold) break;
      const int q1 = q - 1;
      eta2.assign(static_cast<std::size_t>(3 * q1), 0.0);
      for (int d = 0; d < 3; ++d)
        for (int i = 0, j = 0; i < q; ++i)
          if (i != weakest) eta2[static_cast<std::size_t>(d * q1 + j++)] = eta[static_cast<std::size_t>(d * q + i)];
      gain2.assign(static_cast<std::size_t>(q1), cd(0.0));
      double f0 = 0.0, f1 = 0.0;
      bool converged = false;
      iterations += model.refine(eta2.data(), gain2.data(), q1, c.max_iter, c.refine_rtol, f0, f1, converged);
      if (!converged || !visible(eta2.data(), q1, c)) break;
      q = q1;
      eta.swap(eta2);
      gain.swap(gain2);
      f = f1;
      added = true;  // the estimate is no longer PARAMING's own
      refined = true;
    }
    *out.iterations = iterations;
  }
  *out.refined = refined;
  std::vector<char> reliable;
  reliability(ws, c, eta.data(), q, f, reliable);
  if (paraming_own && !added)
    write_paraming(ca, c, q, out, &reliable);
  else
    write_eta(eta.data(), gain.data(), reliable, q, c, out);
  *out.status = kParamingOk;
}

template <class T>
void paraming_one(const std::complex<T>* hs, const cd* hd, const ParamingConfig& c,
                  const double* atan_table, Workspace<T>& ws, ParamingOut out) {
  const std::complex<T>* h = hs;
  const int rows = ws.rows, cols = ws.cols, kk = ws.k;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int i = 0; i < c.max_paths; ++i) {
    out.toa[i] = out.aoa[i] = out.aod[i] = nan;
    out.gain[i] = cd(nan, nan);
    out.reliable[i] = true;
  }
  *out.n_paths = 0;
  *out.refined = false;
  *out.iterations = 0;

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
                         c.criterion == 1 ? 1 : 0);  // GLRT (2) starts from MDL
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
  std::copy(ws.psi.begin(), ws.psi.begin() + static_cast<std::ptrdiff_t>(q) * q, ws.psi_copy.begin());
  if (lapack::geev(q, ws.psi.data(), ws.eig.data(), ws.eig_work.data(),
                   static_cast<int>(ws.eig_work.size()), ws.eig_rwork.data()) != 0) {
    *out.status = kParamingLapack;
    return;
  }

  // (35): normalised delays u = tau df in [min_delay, min_delay + 1), phase by CORDIC; sorted.
  std::vector<double> u(static_cast<std::size_t>(q));
  for (int i = 0; i < q; ++i)
    u[static_cast<std::size_t>(i)] = eigen_delay(ws.eig[static_cast<std::size_t>(i)], c, atan_table);
  std::sort(u.begin(), u.end());

  // Candidate A, PARAMING as published: (36) LS gains per ToA, (38)-(41) phase-plane fit.
  Candidate& ca = ws.cand[0];
  ca.ok = ls_plane_fit(hs, c, ws, u, q, ca);
  ml_stage(hs, hd, c, atan_table, ws, out, q, has_cluster(u, q, c));
}

}  // namespace paraming_detail

// Batch PARAMING: h (batch, Nt, Nr, N) complex<T>; outputs (batch, max_paths) toa [s], aoa, aod
// [rad], gain (complex128), reliable, singular_values (batch, min(L, P)), n_paths, status,
// refined and iterations (batch,).  Entries beyond n_paths (and all of a failed CSI) are NaN.
// Each CSI is scaled by a power of two 2^-e that takes its largest |Re|, |Im| into [1/2, 1)
// (exact), so every step is free of overflow and underflow at any input scale; gains and
// singular values are scaled back by 2^e (a gain beyond the range of double: kParamingOverflow).
template <class T>
void paraming(ConstView<std::complex<T>, 4> h, const ParamingConfig& c, View<double, 2> toa,
              View<double, 2> aoa, View<double, 2> aod, View<std::complex<double>, 2> gain,
              View<bool, 2> reliable, View<double, 2> singular_values,
              View<std::int64_t, 1> n_paths, View<std::int64_t, 1> status, View<bool, 1> refined,
              View<std::int64_t, 1> iterations, int n_threads) {
  const std::ptrdiff_t batch = h.shape[0];
  const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(c.n_tx) * c.n_rx * c.n_sub;
  const std::vector<double> table = cordic::angle_table(c.cordic_iterations);
  // BLAS/LAPACK on one thread inside the region (each worker runs its own small products);
  // CSIs are handed out one at a time by an atomic counter, since their cost varies (Krylov
  // restarts, ML iterations): a static split left one thread ~10% longer on 64 CSIs.  Each CSI
  // is independent, so results do not depend on n_threads.
  lapack::SingleThreadScope single_thread;
  const int workers =
      static_cast<int>(std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(n_threads, batch)));
  std::atomic<std::ptrdiff_t> next{0};
  parallel_for(workers, workers, [&](std::ptrdiff_t) {
    paraming_detail::Workspace<T> ws(c);
    std::vector<std::complex<T>> hs(static_cast<std::size_t>(stride));
    std::vector<std::complex<double>> hd(static_cast<std::size_t>(stride));
    for (std::ptrdiff_t b; (b = next.fetch_add(1)) < batch;) {
      cancellation_point();
      paraming_detail::ParamingOut out{&toa(b, 0),   &aoa(b, 0),       &aod(b, 0),
                                       &gain(b, 0),  &singular_values(b, 0), &n_paths(b),
                                       &status(b),   &refined(b),      &reliable(b, 0),
                                       &iterations(b)};
      const std::complex<T>* hb = h.data + b * stride;
      T big = T(0);
      for (std::ptrdiff_t i = 0; i < stride; ++i)
        big = std::max({big, std::fabs(hb[i].real()), std::fabs(hb[i].imag())});
      int e = 0;
      if (big > T(0)) std::frexp(big, &e);
      for (std::ptrdiff_t i = 0; i < stride; ++i) {
        const std::complex<T> v(std::ldexp(hb[i].real(), -e), std::ldexp(hb[i].imag(), -e));
        hs[static_cast<std::size_t>(i)] = v;
        hd[static_cast<std::size_t>(i)] = std::complex<double>(v);
      }
      paraming_detail::paraming_one<T>(hs.data(), hd.data(), c, table.data(), ws, out);
      for (std::ptrdiff_t i = 0; i < singular_values.shape[1]; ++i)
        singular_values(b, i) = std::ldexp(singular_values(b, i), e);
      bool overflow = false;
      for (int i = 0; i < c.max_paths; ++i) {
        const std::complex<double> g = gain(b, i);
        gain(b, i) = {std::ldexp(g.real(), e), std::ldexp(g.imag(), e)};
        overflow = overflow || (std::isfinite(g.real()) && !std::isfinite(gain(b, i).real())) ||
                   (std::isfinite(g.imag()) && !std::isfinite(gain(b, i).imag()));
      }
      if (overflow && status(b) == kParamingOk) status(b) = kParamingOverflow;
    }
  });
}

}  // namespace skysense
