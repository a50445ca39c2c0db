// Maximum-likelihood stages after PARAMING's pencil (bistatic paper, Sec. III-A and III-C):
//
// 1. refine(): Levenberg-Marquardt on the deterministic ML cost of all q paths jointly (eq. 13:
//    white Gaussian noise on the CSI, gains unknown), warm-started by PARAMING.  The CSI model
//    (eq. 15) is a sum of separable atoms
//        h[t, r, n] = sum_i gamma_i x(mu_t,i)[t] x(mu_r,i)[r] x(nu_i)[n],  x(mu)[k] = exp(-j 2 pi mu k)
//    with the spatial and delay frequencies mu_t = d_t sin(AoD), mu_r = d_r sin(AoA), nu = df ToA.
//    The cost concentrated over the gains is f(eta) = ||h||^2 - y^H G^-1 y, y = B^H h,
//    G = B^H B.  Every inner product of two atoms (or of their derivatives) is a product of
//    three 1-D sums (Tx, Rx, subcarriers), so G and the Gauss-Newton matrix Re(J^H J) cost
//    O(q^2 (Nt + Nr + N)); the passes over the CSI are GEMMs (Nt Nr x N by N x q or 2q:
//    H conj(C) and R conj([C, D C])), from which y and Re(J^H r) follow in O(q Nt Nr).  No Jacobian over
//    the Nt Nr N CSI entries is ever formed (the residual r = h - B gamma is formed, by one more
//    GEMM, and contracted like h, so f and Re(J^H r) keep their digits on noise-free data).  The step solves the joint (angles, delay, gains)
//    normal equations at the LS gains, where the gain gradient vanishes, so its angle/delay part
//    is the variable-projection step of Kaufman (1975); Marquardt damping on the Jacobi-scaled
//    system, a step accepted only when it lowers f (formed from the explicit residual, one more
//    GEMM, so it keeps its digits down to eps^2 ||h||^2).  Converged when the Gauss-Newton model
//    predicts a decrease below rtol f + 1e4 eps^2 ||h||^2 (the rounding floor): noise-free
//    data come out to rounding accuracy.
// 2. cluster_esprit(): ToAs the delay pencil cannot separate (a delay cluster) are separated in
//    the angle domain: the left singular subspace of the cluster, U_q S_q E_C (E_C its
//    eigenvectors of Psi, eq. 34), spans the cluster's columns of the left manifold
//    A_t^(Mt) (x) C^(M) (x) A_r^(Mr) (eq. 30), so shifts along Rx, Tx and subcarriers inside
//    the sub-arrays give Phi_x = M^-1 D_x M (LS ESPRIT) with one M for the three; the
//    eigenvectors of a generic combination of the three diagonalise each, which pairs the
//    frequencies of every path (a 3-D ESPRIT restricted to the cluster).
// 3. residual_peak(): the largest peak of the 3-D periodogram of the residual (zero-padded
//    FFTs), the start of a successive (path-cancelling) detection step.
#pragma once
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <vector>

#include "skysense/cancel.hpp"
#include "skysense/hankel_svd.hpp"
#include "skysense/lapack.hpp"

namespace skysense::paraming_ml {

using cd = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;
constexpr double kTwoPi = 2.0 * kPi;
// LM damping: start, factor and the largest damping tried before giving up.
constexpr double kLambda0 = 1e-3;
constexpr double kLambdaMax = 1e8;
// Rounding floor of the cost and of the predicted decrease, in units of eps^2 ||h||^2.
constexpr double kFloor = 1e4;

inline cd cmul(cd a, cd b) { return hankel_svd::cmul(a, b); }
inline cd cmulc(cd a, cd b) { return hankel_svd::cmulc(a, b); }

// x[k] = exp(-j 2 pi mu k), k < n; the phase mu k is reduced modulo 1 first (exact for the
// large k of the subcarrier axis).
inline void steering(int n, double mu, cd* x) {
  for (int k = 0; k < n; ++k) {
    const double turns = mu * k;
    const double frac = turns - std::floor(turns);
    x[k] = cd(std::cos(kTwoPi * frac), -std::sin(kTwoPi * frac));
  }
}

// mu taken to [-1/2, 1/2) (the period of x(mu) in mu).
inline double wrap_half(double mu) { return mu - std::floor(mu + 0.5); }

// Real symmetric positive-definite solve A x = b (n x n, row-major, overwritten by its
// Cholesky factor) with Jacobi scaling; false if a scaled pivot is <= tol.
inline bool spd_solve(double* a, int n, double* b, double tol = 1e-14) {
  for (int j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > tol)) return false;
    const double l = std::sqrt(d);
    a[j * n + j] = l;
    for (int i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (int k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / l;
    }
  }
  for (int i = 0; i < n; ++i) {
    double v = b[i];
    for (int k = 0; k < i; ++k) v -= a[i * n + k] * b[k];
    b[i] = v / a[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {
    double v = b[i];
    for (int k = i + 1; k < n; ++k) v -= a[k * n + i] * b[k];
    b[i] = v / a[i * n + i];
  }
  return true;
}

// Hermitian positive-definite solve G x = y (n x n row-major, overwritten), Cholesky; false
// when a pivot is <= tol times the largest diagonal entry.
inline bool hpd_solve(cd* a, int n, cd* x, double tol) {
  double dmax = 0.0;
  for (int i = 0; i < n; ++i) dmax = std::max(dmax, a[i * n + i].real());
  for (int j = 0; j < n; ++j) {
    double d = a[j * n + j].real();
    for (int k = 0; k < j; ++k) d -= std::norm(a[j * n + k]);
    if (!(d > tol * dmax)) return false;
    const double l = std::sqrt(d);
    a[j * n + j] = l;
    for (int i = j + 1; i < n; ++i) {
      cd v = a[i * n + j];
      for (int k = 0; k < j; ++k) v -= cmul(a[i * n + k], std::conj(a[j * n + k]));
      a[i * n + j] = v / l;
    }
  }
  for (int i = 0; i < n; ++i) {
    cd v = x[i];
    for (int k = 0; k < i; ++k) v -= cmul(a[i * n + k], x[k]);
    x[i] = v / a[i * n + i].real();
  }
  for (int i = n - 1; i >= 0; --i) {
    cd v = x[i];
    for (int k = i + 1; k < n; ++k) v -= cmulc(a[k * n + i], x[k]);
    x[i] = v / a[i * n + i].real();
  }
  return true;
}

// General complex solve A X = B (n x n row-major A, overwritten; B n x m row-major) by LU with
// partial pivoting; false when a pivot is below tol times the largest |A| entry.
inline bool lu_solve(cd* a, int n, cd* b, int m, double tol = 1e-12) {
  double amax = 0.0;
  for (int i = 0; i < n * n; ++i) amax = std::max(amax, std::abs(a[i]));
  if (!(amax > 0.0)) return false;
  for (int j = 0; j < n; ++j) {
    int p = j;
    for (int i = j + 1; i < n; ++i)
      if (std::abs(a[i * n + j]) > std::abs(a[p * n + j])) p = i;
    if (!(std::abs(a[p * n + j]) > tol * amax)) return false;
    if (p != j) {
      for (int k = 0; k < n; ++k) std::swap(a[j * n + k], a[p * n + k]);
      for (int k = 0; k < m; ++k) std::swap(b[j * m + k], b[p * m + k]);
    }
    for (int i = j + 1; i < n; ++i) {
      const cd f = a[i * n + j] / a[j * n + j];
      for (int k = j; k < n; ++k) a[i * n + k] -= cmul(f, a[j * n + k]);
      for (int k = 0; k < m; ++k) b[i * m + k] -= cmul(f, b[j * m + k]);
    }
  }
  for (int i = n - 1; i >= 0; --i)
    for (int k = 0; k < m; ++k) {
      cd v = b[i * m + k];
      for (int c = i + 1; c < n; ++c) v -= cmul(a[i * n + c], b[c * m + k]);
      b[i * m + k] = v / a[i * n + i];
    }
  return true;
}

// The separable CSI model of one CSI (nt x nr x n, subcarriers fastest) and the concentrated
// ML cost with its Gauss-Newton normal equations.  Parameters eta (3q) are ordered
// [mu_t (q), mu_r (q), nu (q)]; the real Jacobian columns [mu_t, mu_r, nu, Re gamma, Im gamma].
class Model {
 public:
  Model() = default;
  Model(int nt, int nr, int n, int qmax)
      : nt_(nt), nr_(nr), n_(n), qmax_(qmax) {
    const std::size_t q = static_cast<std::size_t>(qmax);
    at_.resize(static_cast<std::size_t>(nt) * q);
    ar_.resize(static_cast<std::size_t>(nr) * q);
    c2_.resize(static_cast<std::size_t>(n) * 2 * q);
    pq_.resize(2 * q * static_cast<std::size_t>(nt) * nr);
    w_.resize(static_cast<std::size_t>(nt) * nr * q);
    r_.resize(static_cast<std::size_t>(nt) * nr * n);
    y_.resize(q);
    gram_.resize(q * q);
    sums_.resize(4 * q);
    for (auto& d : mom_) d.resize(3 * q * q);
    jtj_.resize(25 * q * q);
    g_.resize(5 * q);
    a_.resize(25 * q * q);
    step_.resize(5 * q);
    scale_.resize(5 * q);
    trial_.resize(3 * q);
    trial_gain_.resize(q);
  }

  int n_samples() const { return nt_ * nr_ * n_; }
  int max_paths() const { return qmax_; }

  // The CSI (n x nt nr column-major: subcarriers fastest), kept by pointer.
  void set(const cd* h) {
    h_ = h;
    double e = 0.0;
    for (int i = 0; i < n_samples(); ++i) e += std::norm(h[i]);
    energy_ = e;
  }
  double energy() const { return energy_; }

  // f at eta with the LS gains (written to gain, q entries); with `derivative`, also the pass
  // that normal_equations() needs.  False when the atoms are linearly dependent (G singular).
  bool evaluate(const double* eta, int q, bool derivative, double& f, cd* gain) {
    const int npair = nt_ * nr_;
    for (int i = 0; i < q; ++i) {
      steering(nt_, eta[i], at_.data() + static_cast<std::size_t>(i) * nt_);
      steering(nr_, eta[q + i], ar_.data() + static_cast<std::size_t>(i) * nr_);
      cd* ci = c2_.data() + static_cast<std::size_t>(i) * n_;
      steering(n_, eta[2 * q + i], ci);
      if (derivative) {
        cd* di = c2_.data() + static_cast<std::size_t>(q + i) * n_;
        for (int k = 0; k < n_; ++k) di[k] = cmul(cd(0.0, -kTwoPi * k), ci[k]);
      }
    }
    // y_i = <b_i, h>: rows conj(c_i)^T h_pair (q x npair), then the Tx and Rx sums.
    lapack::gemm('C', 'N', q, npair, n_, 1.0, c2_.data(), n_, h_, n_, 0.0, pq_.data(), q);
    contract(q, q, false);
    for (int i = 0; i < q; ++i) gain[i] = y_[static_cast<std::size_t>(i)] = sums_[static_cast<std::size_t>(4 * i)];
    // Moments S_m(i, k) = sum_x x^m conj(v_i[x]) v_k[x] per dimension (Tx, Rx, subcarriers).
    moments(at_.data(), nt_, q, mom_[0].data());
    moments(ar_.data(), nr_, q, mom_[1].data());
    moments(c2_.data(), n_, q, mom_[2].data());
    for (int i = 0; i < q; ++i)
      for (int k = 0; k < q; ++k) gram_[static_cast<std::size_t>(i * q + k)] = gram_entry(i, k, q);
    if (!hpd_solve(gram_.data(), q, gain, 1e-13)) return false;
    // r = h - C W with W[i, pair] = gamma_i a_t,i[t] a_r,i[r] (q x npair): the residual formed
    // explicitly (||h||^2 - y^H gamma, or <J, h> - <J, B gamma>, would lose every digit below
    // eps ||h||^2, resp. eps ||J|| ||h||, and noise-free data their last digits).
    for (int t = 0; t < nt_; ++t)
      for (int r = 0; r < nr_; ++r)
        for (int i = 0; i < q; ++i)
          w_[(static_cast<std::size_t>(t) * nr_ + r) * q + i] =
              cmul(gain[i], cmul(at_[static_cast<std::size_t>(i) * nt_ + t], ar_[static_cast<std::size_t>(i) * nr_ + r]));
    std::copy(h_, h_ + n_samples(), r_.begin());
    lapack::gemm('N', 'N', n_, npair, q, -1.0, c2_.data(), n_, w_.data(), q, 1.0, r_.data(), n_);
    double e = 0.0;
    for (const cd& v : r_) e += std::norm(v);
    f = e;
    if (derivative) {
      // <b_i, r> with the Tx / Rx / subcarrier weights: rows conj([C, D C])^T r_pair.
      lapack::gemm('C', 'N', 2 * q, npair, n_, 1.0, c2_.data(), n_, r_.data(), n_, 0.0, pq_.data(),
                   2 * q);
      contract(q, 2 * q, true);
    }
    return true;
  }

  // Re(J^H J) (5q x 5q row-major) and Re(J^H r) (5q) at the last evaluate(derivative = true)
  // and its LS gains `gain` (r = h - B gain is the residual that evaluate formed).
  void normal_equations(int q, const cd* gain, double* jtj, double* g) const {
    const int np = 5 * q;
    for (int a = 0; a < np; ++a) {
      const int alpha = a / q, i = a % q;
      for (int b = a; b < np; ++b) {
        const int beta = b / q, k = b % q;
        const cd v = inner(alpha, i, beta, k, q, gain);
        jtj[a * np + b] = jtj[b * np + a] = v.real();
      }
    }
    for (int a = 0; a < np; ++a) {
      const int alpha = a / q, i = a % q;
      const cd* s = sums_.data() + 4 * i;  // <b_i, r>, weighted by t, r, D (evaluate)
      cd jr;                               // <J_a, r>
      switch (alpha) {
        case 0: jr = std::conj(gain[i]) * cd(0.0, kTwoPi) * s[1]; break;
        case 1: jr = std::conj(gain[i]) * cd(0.0, kTwoPi) * s[2]; break;
        case 2: jr = std::conj(gain[i]) * s[3]; break;
        case 3: jr = s[0]; break;
        default: jr = cd(0.0, -1.0) * s[0]; break;
      }
      g[a] = jr.real();
    }
  }

  // Levenberg-Marquardt from eta (3q, updated) to the local minimum of f; gain (q) returns the
  // LS gains.  f0 returns the cost at the start (with LS gains).  Returns the number of
  // Gauss-Newton systems solved; converged tells whether the stopping rule was met (else the
  // cost stalled with damping kLambdaMax, the atoms became dependent or max_iter was hit; eta
  // and gain then hold the last accepted point, whose cost is never above f0).
  int refine(double* eta, cd* gain, int q, int max_iter, double rtol, double& f0, double& f,
             bool& converged) {
    converged = false;
    f0 = f = std::numeric_limits<double>::infinity();
    if (!evaluate(eta, q, true, f, gain)) return 0;
    f0 = f;
    const double eps = std::numeric_limits<double>::epsilon();
    const double floor = kFloor * eps * eps * energy_;
    const int np = 5 * q;
    double lambda = kLambda0;
    int it = 0;
    for (; it < max_iter; ++it) {
      cancellation_point();
      normal_equations(q, gain, jtj_.data(), g_.data());
      for (int a = 0; a < np; ++a) {
        const double d = jtj_[static_cast<std::size_t>(a * np + a)];
        if (!(d > 0.0)) return it;  // a path without gain: its angles do not enter the model
        scale_[static_cast<std::size_t>(a)] = 1.0 / std::sqrt(d);
      }
      // Predicted decrease of the undamped Gauss-Newton step.
      double pred = 0.0;
      if (scaled_solve(np, 1e-12, q)) {
        for (int a = 0; a < np; ++a) pred += 0.5 * g_[static_cast<std::size_t>(a)] * step_[static_cast<std::size_t>(a)];
      } else {
        pred = std::numeric_limits<double>::infinity();
      }
      if (pred <= rtol * f + floor) {
        converged = true;
        return it;
      }
      bool accepted = false;
      while (!accepted) {
        if (scaled_solve(np, lambda, q)) {
          for (int a = 0; a < 3 * q; ++a)
            trial_[static_cast<std::size_t>(a)] = eta[a] + step_[static_cast<std::size_t>(a)];
          double f_new = 0.0;
          if (evaluate(trial_.data(), q, true, f_new, trial_gain_.data()) && f_new < f) {
            std::copy(trial_.begin(), trial_.begin() + 3 * q, eta);
            std::copy(trial_gain_.begin(), trial_gain_.begin() + q, gain);
            f = f_new;
            accepted = true;
            break;
          }
        }
        lambda *= 10.0;
        if (lambda > kLambdaMax) {
          evaluate(eta, q, true, f, gain);  // restore the pass of the accepted point
          return it + 1;
        }
      }
      lambda = std::max(lambda / 10.0, 1e-12);
    }
    return it;
  }

  // At eta with its LS gains: the Fisher information up to 2 / sigma^2, Re(J^H J) (5q x 5q,
  // row-major), and the cost increase when path i is dropped (the others refitted),
  // drop[i] = |gamma_i|^2 / [G^-1]_ii.  False when the atoms are dependent.
  bool information(const double* eta, int q, double* jtj, double* drop) {
    double f = 0.0;
    std::vector<cd> g(static_cast<std::size_t>(q)), x(g);
    if (!evaluate(eta, q, true, f, g.data())) return false;
    std::vector<double> grad(static_cast<std::size_t>(5 * q));
    normal_equations(q, g.data(), jtj, grad.data());
    // gram_ holds the Cholesky factor L (G = L L^H): [G^-1]_ii = ||L^-1 e_i||^2.
    for (int i = 0; i < q; ++i) {
      std::fill(x.begin(), x.end(), cd(0.0));
      x[static_cast<std::size_t>(i)] = 1.0;
      double norm2 = 0.0;
      for (int r = 0; r < q; ++r) {
        cd v = x[static_cast<std::size_t>(r)];
        for (int k = 0; k < r; ++k) v -= cmul(gram_[static_cast<std::size_t>(r * q + k)], x[static_cast<std::size_t>(k)]);
        x[static_cast<std::size_t>(r)] = v / gram_[static_cast<std::size_t>(r * q + r)].real();
        norm2 += std::norm(x[static_cast<std::size_t>(r)]);
      }
      drop[i] = std::norm(g[static_cast<std::size_t>(i)]) / norm2;
    }
    return true;
  }

 private:
  // From pq_ (rows x npair, leading dimension ld): per path i the sums over (t, r) of
  // conj(a_t,i[t] a_r,i[r]) pq_[i, pair] weighted by 1, t and r, and (with `delay`) of
  // pq_[q + i, pair]: sums_[4 i .. 4 i + 3].
  void contract(int q, int ld, bool delay) {
    for (int i = 0; i < q; ++i) {
      const cd* ati = at_.data() + static_cast<std::size_t>(i) * nt_;
      const cd* ari = ar_.data() + static_cast<std::size_t>(i) * nr_;
      cd s0(0.0), st(0.0), sr(0.0), sn(0.0);
      for (int t = 0; t < nt_; ++t)
        for (int r = 0; r < nr_; ++r) {
          const std::size_t pair = static_cast<std::size_t>(t) * nr_ + r;
          const cd w = std::conj(cmul(ati[t], ari[r]));
          const cd p = cmul(w, pq_[static_cast<std::size_t>(i) + static_cast<std::size_t>(ld) * pair]);
          s0 += p;
          st += static_cast<double>(t) * p;
          sr += static_cast<double>(r) * p;
          if (delay) sn += cmul(w, pq_[static_cast<std::size_t>(q + i) + static_cast<std::size_t>(ld) * pair]);
        }
      sums_[static_cast<std::size_t>(4 * i)] = s0;
      sums_[static_cast<std::size_t>(4 * i + 1)] = st;
      sums_[static_cast<std::size_t>(4 * i + 2)] = sr;
      sums_[static_cast<std::size_t>(4 * i + 3)] = sn;
    }
  }
  static void moments(const cd* v, int n, int q, cd* out) {
    const std::size_t qq = static_cast<std::size_t>(q) * q;
    for (int i = 0; i < q; ++i)
      for (int k = 0; k < q; ++k) {
        cd s0(0.0), s1(0.0), s2(0.0);
        const cd* vi = v + static_cast<std::size_t>(i) * n;
        const cd* vk = v + static_cast<std::size_t>(k) * n;
        for (int x = 0; x < n; ++x) {
          const cd p = cmulc(vi[x], vk[x]);
          s0 += p;
          s1 += static_cast<double>(x) * p;
          s2 += static_cast<double>(x) * x * p;
        }
        const std::size_t e = static_cast<std::size_t>(i * q + k);
        out[e] = s0;
        out[qq + e] = s1;
        out[2 * qq + e] = s2;
      }
  }
  cd gram_entry(int i, int k, int q) const {
    const std::size_t e = static_cast<std::size_t>(i * q + k);
    return cmul(cmul(mom_[0][e], mom_[1][e]), mom_[2][e]);
  }
  // <J_a, J_b> for a = (alpha, i), b = (beta, k): a product of one 1-D sum per dimension.
  cd inner(int alpha, int i, int beta, int k, int q, const cd* gain) const {
    const std::size_t qq = static_cast<std::size_t>(q) * q, e = static_cast<std::size_t>(i * q + k);
    cd prod(1.0);
    for (int d = 0; d < 3; ++d) {
      const bool fa = alpha == d, fb = beta == d;
      cd v;
      if (fa && fb)
        v = 4.0 * kPi * kPi * mom_[static_cast<std::size_t>(d)][2 * qq + e];
      else if (fa)
        v = cd(0.0, kTwoPi) * mom_[static_cast<std::size_t>(d)][qq + e];
      else if (fb)
        v = cd(0.0, -kTwoPi) * mom_[static_cast<std::size_t>(d)][qq + e];
      else
        v = mom_[static_cast<std::size_t>(d)][e];
      prod = cmul(prod, v);
    }
    auto weight = [&](int kind, int path) -> cd {
      return kind < 3 ? gain[path] : (kind == 3 ? cd(1.0) : cd(0.0, 1.0));
    };
    return cmul(cmulc(weight(alpha, i), weight(beta, k)), prod);
  }
  // step = (S JtJ S + lambda I)^-1 S g scaled back (S = diag(scale)); false if singular.
  bool scaled_solve(int np, double lambda, int /*q*/) {
    for (int a = 0; a < np; ++a) {
      for (int b = 0; b < np; ++b)
        a_[static_cast<std::size_t>(a * np + b)] =
            jtj_[static_cast<std::size_t>(a * np + b)] * scale_[static_cast<std::size_t>(a)] *
            scale_[static_cast<std::size_t>(b)];
      a_[static_cast<std::size_t>(a * np + a)] += lambda;
      step_[static_cast<std::size_t>(a)] = g_[static_cast<std::size_t>(a)] * scale_[static_cast<std::size_t>(a)];
    }
    if (!spd_solve(a_.data(), np, step_.data(), 1e-13)) return false;
    for (int a = 0; a < np; ++a) step_[static_cast<std::size_t>(a)] *= scale_[static_cast<std::size_t>(a)];
    return true;
  }

  int nt_ = 0, nr_ = 0, n_ = 0, qmax_ = 0;
  const cd* h_ = nullptr;
  double energy_ = 0.0;
  std::vector<cd> at_, ar_, c2_, pq_, y_, gram_, sums_, w_, r_;
  std::vector<cd> mom_[3];
  std::vector<double> jtj_, g_, a_, step_, scale_, trial_;
  std::vector<cd> trial_gain_;
};

// Angle-domain separation of one delay cluster (see the top of this file).  s (rows x k,
// column-major, rows = Mt M Mr ordered r + Mr (m + M t)) spans the cluster's left-manifold
// columns.  Writes the k frequency triples (mu_t, mu_r, nu) (nu in [0, 1)); false when a
// sub-array of one element leaves a dimension without a shift (Mt or Mr = 1; with M = 1 the
// delays come from `nu_fallback`) or the separation is singular (two paths of the cluster
// share every frequency).
inline bool cluster_esprit(const cd* s, int k, int mt, int m, int mr, const double* nu_fallback,
                           double* mu_t, double* mu_r, double* nu) {
  if (mt < 2 || mr < 2) return false;
  const int rows = mt * m * mr;
  // Orthonormal basis of span(s): modified Gram-Schmidt, twice.
  std::vector<cd> qb(s, s + static_cast<std::ptrdiff_t>(rows) * k);
  for (int j = 0; j < k; ++j) {
    cd* qj = qb.data() + static_cast<std::size_t>(j) * rows;
    for (int pass = 0; pass < 2; ++pass)
      for (int i = 0; i < j; ++i) {
        const cd* qi = qb.data() + static_cast<std::size_t>(i) * rows;
        cd acc(0.0);
        for (int r = 0; r < rows; ++r) acc += cmulc(qi[r], qj[r]);
        for (int r = 0; r < rows; ++r) qj[r] -= cmul(acc, qi[r]);
      }
    double nrm = 0.0;
    for (int r = 0; r < rows; ++r) nrm += std::norm(qj[r]);
    nrm = std::sqrt(nrm);
    if (!(nrm > 0.0)) return false;
    for (int r = 0; r < rows; ++r) qj[r] /= nrm;
  }
  // Phi_d = (Q1^H Q1)^-1 Q1^H Q2 for the shift along dimension d (0: Tx, 1: Rx, 2: subcarrier).
  const int sizes[3] = {mt, mr, m};
  std::vector<cd> phi(3 * static_cast<std::size_t>(k) * k, cd(0.0));
  bool have[3] = {true, true, m >= 2};
  for (int d = 0; d < 3; ++d) {
    if (!have[d]) continue;
    std::vector<cd> g1(static_cast<std::size_t>(k) * k, cd(0.0)), c12(g1);
    for (int at = 0; at < mt; ++at)
      for (int am = 0; am < m; ++am)
        for (int ar = 0; ar < mr; ++ar) {
          const int idx[3] = {at, ar, am};
          if (idx[d] + 1 >= sizes[d]) continue;
          const int r1 = ar + mr * (am + m * at);
          const int r2 = d == 0 ? r1 + mr * m : (d == 1 ? r1 + 1 : r1 + mr);
          for (int i = 0; i < k; ++i) {
            const cd a = qb[static_cast<std::size_t>(i) * rows + r1];
            for (int j = 0; j < k; ++j) {
              g1[static_cast<std::size_t>(i * k + j)] += cmulc(a, qb[static_cast<std::size_t>(j) * rows + r1]);
              c12[static_cast<std::size_t>(i * k + j)] += cmulc(a, qb[static_cast<std::size_t>(j) * rows + r2]);
            }
          }
        }
    if (!lu_solve(g1.data(), k, c12.data(), k)) return false;
    std::copy(c12.begin(), c12.end(), phi.begin() + static_cast<std::ptrdiff_t>(d) * k * k);
  }
  // Eigenvectors W of a generic combination (column-major for LAPACK).
  const double beta[3] = {0.7548776662466927, 1.0, 0.5698402909980532};
  std::vector<cd> comb(static_cast<std::size_t>(k) * k), w(static_cast<std::size_t>(k) * k),
      lam(static_cast<std::size_t>(k)), work(4 * static_cast<std::size_t>(k) + 4);
  std::vector<double> rwork(2 * static_cast<std::size_t>(k) + 2);
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j) {
      cd v(0.0);
      for (int d = 0; d < 3; ++d)
        if (have[d]) v += beta[d] * phi[static_cast<std::size_t>(d * k * k + i * k + j)];
      comb[static_cast<std::size_t>(i + k * j)] = v;
    }
  if (lapack::geev_right(k, comb.data(), lam.data(), w.data(), work.data(),
                         static_cast<int>(work.size()), rwork.data()) != 0)
    return false;
  // W^-1 (row-major): solve W X = I with W taken row-major.
  std::vector<cd> wr(static_cast<std::size_t>(k) * k), winv(static_cast<std::size_t>(k) * k, cd(0.0));
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) wr[static_cast<std::size_t>(i * k + j)] = w[static_cast<std::size_t>(i + k * j)];
    winv[static_cast<std::size_t>(i * k + i)] = 1.0;
  }
  if (!lu_solve(wr.data(), k, winv.data(), k, 1e-10)) return false;
  for (int p = 0; p < k; ++p) {
    double f[3] = {0.0, 0.0, nu_fallback[p]};
    for (int d = 0; d < 3; ++d) {
      if (!have[d]) continue;
      cd z(0.0);  // (W^-1 Phi_d W)_pp
      for (int a = 0; a < k; ++a) {
        cd row(0.0);
        for (int b = 0; b < k; ++b)
          row += cmul(phi[static_cast<std::size_t>(d * k * k + a * k + b)], w[static_cast<std::size_t>(b + k * p)]);
        z += cmul(winv[static_cast<std::size_t>(p * k + a)], row);
      }
      if (!(std::abs(z) > 0.0)) return false;
      f[d] = -std::arg(z) / kTwoPi;
    }
    mu_t[p] = wrap_half(f[0]);
    mu_r[p] = wrap_half(f[1]);
    nu[p] = f[2] - std::floor(f[2]);
  }
  return true;
}

// Largest peak of the 3-D periodogram |sum r[t, r, n] exp(+j 2 pi (mu_t t + mu_r r + nu n))|^2
// of r (nt x nr x n, subcarriers fastest) on the grid of zero-padded FFTs (at least twice each
// size, powers of two); writes its frequencies (mu_t, mu_r in [-1/2, 1/2), nu in [0, 1)).
class Periodogram {
 public:
  Periodogram() = default;
  Periodogram(int nt, int nr, int n)
      : nt_(nt), nr_(nr), n_(n), ft_(hankel_svd::next_pow2(2 * nt)), fr_(hankel_svd::next_pow2(2 * nr)),
        fn_(hankel_svd::next_pow2(2 * n)), fft_t_(ft_), fft_r_(fr_), fft_n_(fn_) {
    grid_.resize(static_cast<std::size_t>(ft_) * fr_ * fn_);
    line_.resize(static_cast<std::size_t>(std::max({ft_, fr_, fn_})));
  }

  void peak(const cd* r, double& mu_t, double& mu_r, double& nu) {
    // grid[(ft * fr_ + fr) * fn_ + fn]
    std::fill(grid_.begin(), grid_.end(), cd(0.0));
    for (int t = 0; t < nt_; ++t)
      for (int a = 0; a < nr_; ++a) {
        cd* g = grid_.data() + (static_cast<std::size_t>(t) * fr_ + a) * fn_;
        std::copy(r + (static_cast<std::size_t>(t) * nr_ + a) * n_,
                  r + (static_cast<std::size_t>(t) * nr_ + a + 1) * n_, g);
        fft_n_.run(g, false);
      }
    for (int t = 0; t < nt_; ++t)
      for (int f = 0; f < fn_; ++f) {
        for (int a = 0; a < fr_; ++a) line_[static_cast<std::size_t>(a)] = at(t, a, f);
        fft_r_.run(line_.data(), false);
        for (int a = 0; a < fr_; ++a) at(t, a, f) = line_[static_cast<std::size_t>(a)];
      }
    double best = -1.0;
    int bt = 0, br = 0, bn = 0;
    for (int a = 0; a < fr_; ++a)
      for (int f = 0; f < fn_; ++f) {
        for (int t = 0; t < ft_; ++t) line_[static_cast<std::size_t>(t)] = t < nt_ ? at(t, a, f) : cd(0.0);
        fft_t_.run(line_.data(), false);
        for (int t = 0; t < ft_; ++t) {
          const double v = std::norm(line_[static_cast<std::size_t>(t)]);
          if (v > best) {
            best = v;
            bt = t;
            br = a;
            bn = f;
          }
        }
      }
    // forward FFT bin f is exp(-j 2 pi f k / F): mu = -f / F
    mu_t = wrap_half(-static_cast<double>(bt) / ft_);
    mu_r = wrap_half(-static_cast<double>(br) / fr_);
    const double v = -static_cast<double>(bn) / fn_;
    nu = v - std::floor(v);
  }

 private:
  cd& at(int t, int a, int f) { return grid_[(static_cast<std::size_t>(t) * fr_ + a) * fn_ + f]; }
  int nt_ = 0, nr_ = 0, n_ = 0, ft_ = 1, fr_ = 1, fn_ = 1;
  hankel_svd::Fft fft_t_, fft_r_, fft_n_;
  std::vector<cd> grid_, line_;
};

}  // namespace skysense::paraming_ml
