// Multitarget tracking by belief propagation (Meyer et al., "Message passing algorithms for
// scalable multitarget tracking", Proc. IEEE 106 (2018), Sec. VIII: unknown number of targets,
// legacy and new potential targets (PTs), probabilistic data association by loopy BP).
//
// One function per stage of a time step, on flat C-ordered arrays, so that every stage can be
// checked against its NumPy twin (python/skysense/tracking/_bp_numpy.py):
//
//   predict_*      prediction message alpha: motion model and survival     (docs/tracking.md, T1)
//   evaluate_*     measurement evaluation: beta_k(m), beta_k(0)            (T2, T3)
//   associate      iterative data association phi / nu, outputs kappa, iota (T4 - T6)
//   update_*       legacy PT beliefs and existence probabilities           (T7, T8)
//   birth_particles  states of the new PTs (one per measurement)           (T9)
//
// Two belief representations share evaluate -> associate -> update: Gaussian (one Kalman
// mean/covariance per PT, the measurement-mixture of T7 collapsed by moment matching) and
// particles (equally weighted after systematic resampling).  The state is
// [position (D), velocity (D)], S = 2 D, D = 2 or 3; a measurement is a position with its own
// D x D covariance.  Randomness (particles only): the mapping kernel's 8-lane xoshiro256++
// generator seeded by (seed, purpose, PT index), so results do not depend on the threads.
// Likelihood ratios are kept in linear form: every particle weight of T7 is >= 1 - p_d > 0, so
// nothing underflows to an all-zero weight vector.  No pybind11 here.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "skysense/mapping_spa.hpp"  // Rng (8-lane xoshiro256++), systematic_resample
#include "skysense/parallel.hpp"

namespace skysense::tracking {

using Index = std::ptrdiff_t;
using mapping::Rng;

constexpr int kMaxDims = 3;
constexpr int kMaxState = 2 * kMaxDims;
constexpr double kTwoPi = 6.283185307179586476925;

// Seeds of the particle stages are derived from (seed, purpose, PT index).
enum Purpose : std::uint64_t { kPredict = 101, kBirth = 102, kResample = 103 };

// ------------------------------------------------------------------------ small dense algebra
// Cholesky factor L (lower, row-major n x n) of a symmetric positive-definite A; false if A is
// not numerically positive definite.
inline bool cholesky(const double* A, int n, double* L) {
  for (int i = 0; i < n * n; ++i) L[i] = 0.0;
  for (int j = 0; j < n; ++j) {
    double d = A[j * n + j];
    for (int k = 0; k < j; ++k) d -= L[j * n + k] * L[j * n + k];
    if (!(d > 0.0)) return false;
    const double ljj = std::sqrt(d);
    L[j * n + j] = ljj;
    for (int i = j + 1; i < n; ++i) {
      double s = A[i * n + j];
      for (int k = 0; k < j; ++k) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / ljj;
    }
  }
  return true;
}

// Solves L y = b (forward substitution) in place.
inline void forward_solve(const double* L, int n, double* b) {
  for (int i = 0; i < n; ++i) {
    double s = b[i];
    for (int k = 0; k < i; ++k) s -= L[i * n + k] * b[k];
    b[i] = s / L[i * n + i];
  }
}

// Solves L^T x = b (back substitution) in place.
inline void backward_solve(const double* L, int n, double* b) {
  for (int i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int k = i + 1; k < n; ++k) s -= L[k * n + i] * b[k];
    b[i] = s / L[i * n + i];
  }
}

// Gaussian density constant and squared Mahalanobis distance of the innovation v under the
// covariance with Cholesky factor L: returns log det(2 pi C) / 2 in log_norm.
inline double mahalanobis2(const double* L, int n, const double* v, double& log_norm) {
  double w[kMaxState];
  for (int i = 0; i < n; ++i) w[i] = v[i];
  forward_solve(L, n, w);
  double d2 = 0.0, ld = 0.0;
  for (int i = 0; i < n; ++i) {
    d2 += w[i] * w[i];
    ld += std::log(L[i * n + i]);
  }
  log_norm = ld + 0.5 * n * std::log(kTwoPi);
  return d2;
}

// ------------------------------------------------------------------------ problem sizes
struct Sizes {
  Index K = 0;  // potential targets
  Index M = 0;  // measurements of this step
  int D = 2;    // position dimensions (2 or 3)
  int S() const { return 2 * D; }
};

inline void check_sizes(const Sizes& n) {
  if (n.D != 2 && n.D != 3) throw std::invalid_argument("n_dims must be 2 or 3");
  if (n.K < 0 || n.M < 0) throw std::invalid_argument("negative array size");
}

// ------------------------------------------------------------------------ T1: prediction
// Gaussian PTs: x' = F x, P' = F P F^T + Q; existence r' = p_s r.
// mean (K, S), cov (K, S, S), F and Q (S, S).
inline void predict_gaussian(const Sizes& n, const double* mean, const double* cov,
                             const double* existence, const double* F, const double* Q,
                             double survival, double* mean_out, double* cov_out,
                             double* existence_out) {
  check_sizes(n);
  const int S = n.S();
  for (Index k = 0; k < n.K; ++k) {
    const double* x = mean + k * S;
    const double* P = cov + k * S * S;
    double* xo = mean_out + k * S;
    double* Po = cov_out + k * S * S;
    double FP[kMaxState * kMaxState];
    for (int i = 0; i < S; ++i) {
      double s = 0.0;
      for (int j = 0; j < S; ++j) s += F[i * S + j] * x[j];
      xo[i] = s;
      for (int j = 0; j < S; ++j) {
        double t = 0.0;
        for (int l = 0; l < S; ++l) t += F[i * S + l] * P[l * S + j];
        FP[i * S + j] = t;
      }
    }
    for (int i = 0; i < S; ++i)
      for (int j = 0; j <= i; ++j) {
        double t = Q[i * S + j];
        for (int l = 0; l < S; ++l) t += FP[i * S + l] * F[j * S + l];
        Po[i * S + j] = t;
        Po[j * S + i] = t;
      }
    existence_out[k] = survival * existence[k];
  }
}

// Particle PTs: x' = F x + L_Q w, w ~ N(0, I) (L_Q lower Cholesky factor of Q, zero rows
// allowed for singular Q); existence r' = p_s r.  particles (K, P, S).
inline void predict_particles(const Sizes& n, Index P, const double* particles,
                              const double* existence, const double* F, const double* LQ,
                              double survival, std::uint64_t seed, double* particles_out,
                              double* existence_out, int n_threads) {
  check_sizes(n);
  const int S = n.S();
  parallel_for_chunks(n.K, n_threads, [&](Index lo, Index hi) {
    std::vector<double> w(static_cast<std::size_t>(P * S));
    for (Index k = lo; k < hi; ++k) {
      Rng rng(seed, kPredict, static_cast<std::uint64_t>(k));
      rng.normals(w.data(), P * S);
      const double* X = particles + k * P * S;
      double* Xo = particles_out + k * P * S;
      for (Index i = 0; i < P; ++i) {
        const double* x = X + i * S;
        const double* wi = w.data() + i * S;
        double* xo = Xo + i * S;
        for (int a = 0; a < S; ++a) {
          double s = 0.0;
          for (int b = 0; b < S; ++b) s += F[a * S + b] * x[b];
          for (int b = 0; b <= a; ++b) s += LQ[a * S + b] * wi[b];
          xo[a] = s;
        }
      }
      existence_out[k] = survival * existence[k];
    }
  });
}

// ------------------------------------------------------------------------ T2, T3: evaluation
// ratio[k, m] = p_d N(z_m; H x, C) / lambda_c(z_m): the likelihood ratio of measurement m
// against clutter, averaged over PT k's predicted belief (C = H P H^T + R_m for a Gaussian
// PT; the mean over the particles of N(z_m; H x_i, R_m) for particle PTs), and 0 where the
// squared Mahalanobis distance under H P H^T + R_m exceeds gate_d2 (P the particles' sample
// covariance for particle PTs).  beta[k, 0] = 1 - r_k + r_k (1 - p_d) (T3),
// beta[k, 1 + m] = r_k ratio[k, m] (T2).  z (M, D), zcov (M, D, D), clutter (M,) > 0.
inline void beta_rows(const Sizes& n, const double* existence, double p_d, const double* ratio,
                      double* beta) {
  for (Index k = 0; k < n.K; ++k) {
    const double r = existence[k];
    double* b = beta + k * (n.M + 1);
    b[0] = (1.0 - r) + r * (1.0 - p_d);
    for (Index m = 0; m < n.M; ++m) b[1 + m] = r * ratio[k * n.M + m];
  }
}

inline void evaluate_gaussian(const Sizes& n, const double* mean, const double* cov,
                              const double* existence, const double* z, const double* zcov,
                              const double* clutter, double p_d, double gate_d2, double* beta,
                              double* ratio) {
  check_sizes(n);
  const int S = n.S(), D = n.D;
  for (Index k = 0; k < n.K; ++k) {
    const double* x = mean + k * S;
    const double* P = cov + k * S * S;
    for (Index m = 0; m < n.M; ++m) {
      double C[kMaxDims * kMaxDims], L[kMaxDims * kMaxDims], v[kMaxDims];
      for (int i = 0; i < D; ++i) {
        v[i] = z[m * D + i] - x[i];
        for (int j = 0; j < D; ++j) C[i * D + j] = P[i * S + j] + zcov[(m * D + i) * D + j];
      }
      double out = 0.0;
      if (cholesky(C, D, L)) {
        double log_norm;
        const double d2 = mahalanobis2(L, D, v, log_norm);
        if (d2 <= gate_d2) out = p_d * std::exp(-0.5 * d2 - log_norm) / clutter[m];
      }
      ratio[k * n.M + m] = out;
    }
  }
  beta_rows(n, existence, p_d, ratio, beta);
}

// lik (K, M, P): per-particle ratio p_d N(z_m; H x_i, R_m) / lambda_c(z_m) of connected pairs
// (connected[k, m] = 1); rows of pairs outside the gate are left unwritten.
inline void evaluate_particles(const Sizes& n, Index P, const double* particles,
                               const double* existence, const double* z, const double* zcov,
                               const double* clutter, double p_d, double gate_d2, double* beta,
                               double* ratio, double* lik, std::uint8_t* connected,
                               int n_threads) {
  check_sizes(n);
  const int S = n.S(), D = n.D;
  // Cholesky factors and density constants of the measurement covariances, once per step
  std::vector<double> LR(static_cast<std::size_t>(n.M * D * D));
  std::vector<double> LRinv(static_cast<std::size_t>(n.M * D * D), 0.0);
  std::vector<double> log_norm_R(static_cast<std::size_t>(n.M));
  for (Index m = 0; m < n.M; ++m) {
    double* L = LR.data() + m * D * D;
    if (!cholesky(zcov + m * D * D, D, L))
      throw std::invalid_argument("zcov: a measurement covariance is not positive definite");
    double ld = 0.0;
    for (int i = 0; i < D; ++i) ld += std::log(L[i * D + i]);
    log_norm_R[m] = ld + 0.5 * D * std::log(kTwoPi);
    for (int c = 0; c < D; ++c) {  // column c of L^-1: forward solve of e_c
      double e[kMaxDims] = {0, 0, 0};
      e[c] = 1.0;
      forward_solve(L, D, e);
      for (int r = 0; r < D; ++r) LRinv[m * D * D + r * D + c] = e[r];
    }
  }
  parallel_for(n.K, n_threads, [&](Index k) {
    const double* X = particles + k * P * S;
    // sample mean and covariance of the positions (for the gate)
    double mu[kMaxDims] = {0, 0, 0}, Cp[kMaxDims * kMaxDims] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (Index i = 0; i < P; ++i)
      for (int a = 0; a < D; ++a) mu[a] += X[i * S + a];
    for (int a = 0; a < D; ++a) mu[a] /= static_cast<double>(P);
    for (Index i = 0; i < P; ++i)
      for (int a = 0; a < D; ++a)
        for (int b = 0; b <= a; ++b) Cp[a * D + b] += (X[i * S + a] - mu[a]) * (X[i * S + b] - mu[b]);
    for (int a = 0; a < D; ++a)
      for (int b = 0; b <= a; ++b) {
        Cp[a * D + b] /= static_cast<double>(P);
        Cp[b * D + a] = Cp[a * D + b];
      }
    for (Index m = 0; m < n.M; ++m) {
      const double* zm = z + m * D;
      double C[kMaxDims * kMaxDims], L[kMaxDims * kMaxDims], v[kMaxDims];
      for (int a = 0; a < D; ++a) {
        v[a] = zm[a] - mu[a];
        for (int b = 0; b < D; ++b) C[a * D + b] = Cp[a * D + b] + zcov[(m * D + a) * D + b];
      }
      double ln;
      const bool in_gate = cholesky(C, D, L) && mahalanobis2(L, D, v, ln) <= gate_d2;
      connected[k * n.M + m] = in_gate ? 1 : 0;
      if (!in_gate) {
        ratio[k * n.M + m] = 0.0;
        continue;
      }
      const double* Li = LRinv.data() + m * D * D;
      const double c = p_d / clutter[m] * std::exp(-log_norm_R[m]);
      double* l = lik + (k * n.M + m) * P;
      double sum = 0.0;
      for (Index i = 0; i < P; ++i) {
        // |L^-1 (z - x)|^2 with the inverse factor formed once per measurement
        double d2 = 0.0;
        for (int a = 0; a < D; ++a) {
          double w = 0.0;
          for (int b = 0; b <= a; ++b) w += Li[a * D + b] * (zm[b] - X[i * S + b]);
          d2 += w * w;
        }
        l[i] = c * fastmath::exp(-0.5 * d2);
        sum += l[i];
      }
      ratio[k * n.M + m] = sum / static_cast<double>(P);
    }
  });
  beta_rows(n, existence, p_d, ratio, beta);
}

// ------------------------------------------------------------------------ T4 - T6: association
// Loopy BP for the probabilistic data association of K legacy PTs and M measurements (each
// measurement also has a new PT).  beta (K, M + 1) from evaluate_*, xi (M,) = 1 + (new-PT
// ratio).  Iterates, from nu = 1,
//   phi_{k->m} = beta_k(m) / (beta_k(0) + sum_{m' != m} beta_k(m') nu_{m'->k})     (T4)
//   nu_{m->k}  = 1 / (xi_m + sum_{k' != k} phi_{k'->m})                           (T5)
// until max |log nu - log nu_old| <= tol or max_iter iterations; writes kappa[k, m] = nu_{m->k}
// and iota[m] = 1 / (1 + sum_k phi_{k->m}) (T6).  The exclusive sums are formed from prefix
// and suffix sums (no cancellation when one term dominates).  Returns the iterations run.
inline Index associate(const Sizes& n, const double* beta, const double* xi, Index max_iter,
                       double tol, double* kappa, double* iota) {
  check_sizes(n);
  const Index K = n.K, M = n.M;
  for (Index i = 0; i < K * M; ++i) kappa[i] = 1.0;
  if (M == 0) return 0;
  if (K == 0) {
    for (Index m = 0; m < M; ++m) iota[m] = 1.0;
    return 0;
  }
  std::vector<double> nu(static_cast<std::size_t>(K * M), 1.0), phi(static_cast<std::size_t>(K * M));
  std::vector<double> term(static_cast<std::size_t>(std::max(K, M))),
      suffix(static_cast<std::size_t>(std::max(K, M) + 1));
  Index it = 0;
  for (; it < max_iter; ++it) {
    // (T4) PT k -> measurement m
    for (Index k = 0; k < K; ++k) {
      const double* b = beta + k * (M + 1);
      for (Index m = 0; m < M; ++m) term[m] = b[1 + m] * nu[k * M + m];
      suffix[M] = 0.0;
      for (Index m = M - 1; m >= 0; --m) suffix[m] = suffix[m + 1] + term[m];
      double prefix = b[0];
      for (Index m = 0; m < M; ++m) {
        phi[k * M + m] = b[1 + m] / (prefix + suffix[m + 1]);
        prefix += term[m];
      }
    }
    // (T5) measurement m -> PT k
    double change = 0.0;
    for (Index m = 0; m < M; ++m) {
      suffix[K] = 0.0;
      for (Index k = K - 1; k >= 0; --k) suffix[k] = suffix[k + 1] + phi[k * M + m];
      double prefix = xi[m];
      for (Index k = 0; k < K; ++k) {
        const double v = 1.0 / (prefix + suffix[k + 1]);
        change = std::max(change, std::abs(std::log(v / nu[k * M + m])));
        nu[k * M + m] = v;
        prefix += phi[k * M + m];
      }
    }
    if (change <= tol) {
      ++it;
      break;
    }
  }
  for (Index i = 0; i < K * M; ++i) kappa[i] = nu[i];
  // (T6) measurement m -> its new PT (phi of the last iteration)
  for (Index m = 0; m < M; ++m) {
    double s = 1.0;
    for (Index k = 0; k < K; ++k) s += phi[k * M + m];
    iota[m] = 1.0 / s;
  }
  return it;
}

// ------------------------------------------------------------------------ T7, T8: update
// Legacy PT k: the belief is the prior times (1 - p_d) + sum_m kappa_{k,m} p_d f(z_m|x) /
// lambda_c(z_m) (T7) and the existence r' = r W / (r W + 1 - r), W the integral of that factor
// against the prior: W = (1 - p_d) + sum_m kappa_{k,m} ratio[k, m] (T8).
// Gaussian: the mixture of the prior (weight 1 - p_d) and one Kalman update per measurement
// (weight kappa ratio) collapsed to its mean and covariance.
inline void update_gaussian(const Sizes& n, const double* mean, const double* cov,
                            const double* existence, const double* z, const double* zcov,
                            const double* ratio, const double* kappa, double p_d,
                            double* mean_out, double* cov_out, double* existence_out) {
  check_sizes(n);
  const int S = n.S(), D = n.D;
  for (Index k = 0; k < n.K; ++k) {
    const double* x = mean + k * S;
    const double* P = cov + k * S * S;
    double* xo = mean_out + k * S;
    double* Po = cov_out + k * S * S;
    double W = 1.0 - p_d;
    // running sums of w_j mu_j and w_j (P_j + mu_j mu_j^T) over the mixture components
    double sx[kMaxState], sP[kMaxState * kMaxState];
    for (int a = 0; a < S; ++a) {
      sx[a] = W * x[a];
      for (int b = 0; b < S; ++b) sP[a * S + b] = W * (P[a * S + b] + x[a] * x[b]);
    }
    for (Index m = 0; m < n.M; ++m) {
      const double w = kappa[k * n.M + m] * ratio[k * n.M + m];
      if (!(w > 0.0)) continue;
      // Kalman update with z_m: C = H P H^T + R, G = P H^T C^-1
      double C[kMaxDims * kMaxDims], L[kMaxDims * kMaxDims];
      for (int a = 0; a < D; ++a)
        for (int b = 0; b < D; ++b) C[a * D + b] = P[a * S + b] + zcov[(m * D + a) * D + b];
      if (!cholesky(C, D, L)) continue;
      // G^T = C^-1 (H P): solve column by column of H P (D x S)
      double GT[kMaxDims * kMaxState];
      for (int c = 0; c < S; ++c) {
        double col[kMaxDims];
        for (int a = 0; a < D; ++a) col[a] = P[a * S + c];
        forward_solve(L, D, col);
        backward_solve(L, D, col);
        for (int a = 0; a < D; ++a) GT[a * S + c] = col[a];
      }
      double xm[kMaxState];
      for (int a = 0; a < S; ++a) {
        double s = x[a];
        for (int b = 0; b < D; ++b) s += GT[b * S + a] * (z[m * D + b] - x[b]);
        xm[a] = s;
      }
      // P_m = P - G H P = P - (H P)^T C^-1 (H P)
      for (int a = 0; a < S; ++a)
        for (int b = 0; b < S; ++b) {
          double t = P[a * S + b];
          for (int c = 0; c < D; ++c) t -= P[c * S + a] * GT[c * S + b];
          sP[a * S + b] += w * (t + xm[a] * xm[b]);
        }
      for (int a = 0; a < S; ++a) sx[a] += w * xm[a];
      W += w;
    }
    for (int a = 0; a < S; ++a) xo[a] = sx[a] / W;
    for (int a = 0; a < S; ++a)
      for (int b = 0; b <= a; ++b) {
        const double v = 0.5 * (sP[a * S + b] + sP[b * S + a]) / W - xo[a] * xo[b];
        Po[a * S + b] = v;
        Po[b * S + a] = v;
      }
    const double r = existence[k];
    existence_out[k] = r * W / (r * W + (1.0 - r));  // (T8)
  }
}

// Particles: weights w_i = (1 - p_d) + sum_m kappa_{k,m} lik[k, m, i] (connected pairs), the
// existence from their mean (T8), then systematic resampling to P equally weighted particles.
inline void update_particles(const Sizes& n, Index P, const double* particles,
                             const double* existence, const double* lik,
                             const std::uint8_t* connected, const double* kappa, double p_d,
                             std::uint64_t seed, double* particles_out, double* existence_out,
                             int n_threads) {
  check_sizes(n);
  const int S = n.S();
  parallel_for_chunks(n.K, n_threads, [&](Index lo, Index hi) {
    std::vector<double> w(static_cast<std::size_t>(P));
    std::vector<Index> idx(static_cast<std::size_t>(P));
    for (Index k = lo; k < hi; ++k) {
      std::fill(w.begin(), w.end(), 1.0 - p_d);
      for (Index m = 0; m < n.M; ++m) {
        if (!connected[k * n.M + m]) continue;
        const double kap = kappa[k * n.M + m];
        const double* l = lik + (k * n.M + m) * P;
        for (Index i = 0; i < P; ++i) w[i] += kap * l[i];
      }
      double sum = 0.0;
      for (Index i = 0; i < P; ++i) sum += w[i];
      const double Wk = sum / static_cast<double>(P);
      const double r = existence[k];
      existence_out[k] = r * Wk / (r * Wk + (1.0 - r));  // (T8)
      for (Index i = 0; i < P; ++i) w[i] /= sum;
      Rng rng(seed, kResample, static_cast<std::uint64_t>(k));
      mapping::systematic_resample(w.data(), P, P, rng.uniform(), idx.data());
      const double* X = particles + k * P * S;
      double* Xo = particles_out + k * P * S;
      for (Index i = 0; i < P; ++i)
        for (int a = 0; a < S; ++a) Xo[i * S + a] = X[idx[i] * S + a];
    }
  });
}

// ------------------------------------------------------------------------ T9: new PTs
// Particles of the new PT of measurement m: position ~ N(z_m, R_m), velocity ~ N(0,
// velocity_std^2 I).  particles_out (M, P, S).
inline void birth_particles(const Sizes& n, Index P, const double* z, const double* zcov,
                            double velocity_std, std::uint64_t seed, double* particles_out,
                            int n_threads) {
  check_sizes(n);
  const int S = n.S(), D = n.D;
  parallel_for_chunks(n.M, n_threads, [&](Index lo, Index hi) {
    std::vector<double> w(static_cast<std::size_t>(P * S));
    for (Index m = lo; m < hi; ++m) {
      double L[kMaxDims * kMaxDims];
      if (!cholesky(zcov + m * D * D, D, L))
        throw std::invalid_argument("zcov: a measurement covariance is not positive definite");
      Rng rng(seed, kBirth, static_cast<std::uint64_t>(m));
      rng.normals(w.data(), P * S);
      double* Xo = particles_out + m * P * S;
      for (Index i = 0; i < P; ++i) {
        const double* wi = w.data() + i * S;
        for (int a = 0; a < D; ++a) {
          double s = z[m * D + a];
          for (int b = 0; b <= a; ++b) s += L[a * D + b] * wi[b];
          Xo[i * S + a] = s;
          Xo[i * S + D + a] = velocity_std * wi[D + a];
        }
      }
    }
  });
}

}  // namespace skysense::tracking
