// Per-epoch particle sum-product module for VA mapping (shared/specs/mapping.md, section 3).
//
// One call = one BS and one stage: prediction of the legacy PMFs (survival, process noise),
// births from the measurements of the birth links, T iterations of the measurement-oriented
// (one-to-many) data-association messages in log form, beliefs and existence log-odds, MMSE
// estimates, systematic resampling with jitter.  Particles are flat arrays [K][P][3]; the
// visibility-generalised form of section 3.7 is used throughout (p_v = 1 is the paper model).
// Randomness comes from an explicit 64-bit seed: every PMF draws from its own counter-derived
// stream, so the result does not depend on the number of threads.  No pybind11 here.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "skysense/fastmath.hpp"
#include "skysense/parallel.hpp"

namespace skysense::mapping {

constexpr double kLogFloor = -700.0;  // floor of every log-message (spec 3.3)
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846;
constexpr double kLog2Pi = 1.8378770664093454836;

enum LinkKind : int { kBistatic = 0, kMonostatic = 1 };

// Model and algorithm constants (spec table 1.5); the Python layer fills and validates them.
struct SpaParams {
  int n_iter = 2;            // T
  double sig_r = 0.3;        // bistatic pseudo-range std [m]
  double lam_e = 0.5;        // rate of the exponential diffuse excess [1/m]
  double mu_s = 0.95;        // mean specular MPCs per facade (bistatic)
  double mu_d = 3.0;         // mean diffuse MPCs per facade (bistatic)
  double log_clutter_b = 0;  // log(mu_fa,b / R_max)
  double sig_z = 0.1;        // monostatic pseudo-position std [m]
  double mu_m = 4.0;         // mean MPCs per facade (monostatic)
  double log_area = 0;       // log A_f
  double log_clutter_m = 0;  // log(mu_fa,m / V_m)
  double log_mu_n = 0;       // log mean births per epoch and link
  double roi_c[3] = {0, 0, 0};
  double roi_r = 200.0;      // birth ball radius [m]
  double cone_cos = 0.17;    // cos of the monostatic proposal half-angle
  double p_s = 0.999;        // survival
  double sig_q = 0.02;       // process noise std per epoch [m]
  double sig_reg = 0.1;      // post-resampling jitter std [m]
  double gate_log = -23.0;   // an edge with max_i LL < gate_log is not connected (not first edges)
  double gate_range = 1e300; // bistatic new PMF j ignores measurements with |z_m - z_j| > gate_range [m]
  double gate_distance = 1e300;  // monostatic new PMF j ignores measurements with ||z_m - z_j|| > this [m]
  double log_prune = kNegInf;    // PMFs with posterior log-odds below this are not resampled
};

struct Link {
  int kind = kBistatic;
  bool births = false;
  bool diffuse = true;       // bistatic: specular + diffuse (EMG) likelihood, else specular only
  double pv = 1.0;           // visibility probability of a non-owned PMF on this link (3.7)
  const double* z = nullptr; // bistatic (M,), monostatic (M,3)
  std::ptrdiff_t m = 0;
  double sensor[3] = {0, 0, 0};  // UAV (bistatic) or BS (monostatic) position
};

// ---------------------------------------------------------------------------- scalar helpers
inline double softplus(double y) { return std::max(y, 0.0) + std::log1p(std::exp(-std::abs(y))); }

inline double logaddexp(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double mx = std::max(a, b);
  return mx + std::log1p(std::exp(-std::abs(a - b)));
}

inline double log_norm(double x, double var) { return -0.5 * (kLog2Pi + std::log(var) + x * x / var); }

inline double log_erfcx_pos(double t) {  // t > 0
  if (t < 25.0) return t * t + std::log(std::erfc(t));
  const double t2 = t * t;
  const double series = 1.0 - 1.0 / (2 * t2) + 3.0 / (4 * t2 * t2) - 15.0 / (8 * t2 * t2 * t2);
  return -std::log(t * std::sqrt(kPi)) + std::log(series);
}

// log density of z = h + D + e, D ~ Exp(lam), e ~ N(0, sig^2) (exponentially modified Gaussian).
inline double log_emg(double z, double h, double sig, double lam) {
  const double t = (h + lam * sig * sig - z) / (std::sqrt(2.0) * sig);
  if (t > 0) return std::log(lam / 2) - (z - h) * (z - h) / (2 * sig * sig) + log_erfcx_pos(t);
  return std::log(lam / 2) + lam * (h - z) + 0.5 * lam * lam * sig * sig + std::log(std::erfc(t));
}

// Per-link constants of the log-likelihood ratio, hoisted out of the particle loops.
struct LinkModel {
  int kind = kBistatic;
  bool diffuse = true;
  double sensor[3] = {0, 0, 0};
  const double* z = nullptr;
  double c_s = 0, c_d = 0, inv2var = 0;     // bistatic: log mu_s - log sqrt(2 pi) sig - log clutter, ...
  double sig = 1, lam = 1, lam_sig2 = 0, inv_sqrt2_sig = 0, half_lam2_sig2 = 0;
  double c_m = 0;                            // monostatic: log mu_m - log sqrt(2 pi) sig_z - log A_f - log clutter

  LinkModel(const SpaParams& p, const Link& l) : kind(l.kind), diffuse(l.diffuse), z(l.z) {
    for (int d = 0; d < 3; ++d) sensor[d] = l.sensor[d];
    if (kind == kBistatic) {
      sig = p.sig_r;
      lam = p.lam_e;
      inv2var = 1.0 / (2 * sig * sig);
      c_s = std::log(p.mu_s) - 0.5 * (kLog2Pi + std::log(sig * sig)) - p.log_clutter_b;
      c_d = std::log(p.mu_d) + std::log(lam / 2) - p.log_clutter_b;
      lam_sig2 = lam * sig * sig;
      inv_sqrt2_sig = 1.0 / (std::sqrt(2.0) * sig);
      half_lam2_sig2 = 0.5 * lam * lam * sig * sig;
    } else {
      inv2var = 1.0 / (2 * p.sig_z * p.sig_z);
      c_m = std::log(p.mu_m) - 0.5 * (kLog2Pi + std::log(p.sig_z * p.sig_z)) - p.log_area -
            p.log_clutter_m;
    }
  }

  // Upper bound of log L(z_m | x) over the ball ||x - c|| <= R (rigorous; +inf if unknown).
  // Used to skip legacy edges whose likelihood is below the gate everywhere, which the
  // max-LL gate would drop anyway, so results are unchanged.
  double upper_bound(std::ptrdiff_t m, const double* c, double R) const {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    double v[3], dist = 0;
    for (int d = 0; d < 3; ++d) {
      v[d] = c[d] - sensor[d];
      dist += v[d] * v[d];
    }
    dist = std::sqrt(dist);
    if (kind == kBistatic) {
      const double r_lo = z[m] - (dist + R), r_hi = z[m] - (dist - R);  // r = z - h
      if (r_hi < 0) {  // every r < 0: both terms <= const - r^2 / (2 sig^2) (erfcx <= 1)
        const double top = diffuse ? logaddexp(c_s, c_d) : c_s;
        return top - r_hi * r_hi * inv2var;
      }
      if (r_lo > 0) {  // every r > 0: Gaussian tail, and EMG <= c_d - lam r + lam^2 sig^2/2 + log 2
        const double spec = c_s - r_lo * r_lo * inv2var;
        if (!diffuse) return spec;
        return logaddexp(spec, c_d - lam * r_lo + half_lam2_sig2 + 0.6931471805599453);
      }
      return kInf;
    }
    if (!(dist > R) || !(dist > 0)) return kInf;
    // d(x) = n(x).(z - pB) - |x - pB| / 2; |n(x) - n(c)| <= 2 R / |c - pB|
    const double* zt = z + 3 * m;
    double w[3], nw = 0, ndotw = 0;
    for (int d = 0; d < 3; ++d) {
      w[d] = zt[d] - sensor[d];
      nw += w[d] * w[d];
      ndotw += v[d] / dist * w[d];
    }
    nw = std::sqrt(nw);
    const double d_c = ndotw - 0.5 * dist;
    const double d_min = std::abs(d_c) - 0.5 * R - 2 * R * nw / dist;
    if (d_min <= 0) return c_m;
    return c_m - d_min * d_min * inv2var;
  }

  // log L = log[mu f(z_m|x)] - log[mu_fa f_fa(z_m)] of one particle (spec 2.1, 2.2).
  double operator()(std::ptrdiff_t m, const double* x) const {
    if (kind == kBistatic) {
      const double dx = x[0] - sensor[0], dy = x[1] - sensor[1], dz = x[2] - sensor[2];
      const double h = std::sqrt(dx * dx + dy * dy + dz * dz), r = z[m] - h;
      const double ls = c_s - r * r * inv2var;
      if (!diffuse) return ls;
      const double t = (lam_sig2 - r) * inv_sqrt2_sig;
      const double ld = t > 0 ? c_d - r * r * inv2var + log_erfcx_pos(t)
                              : c_d - lam * r + half_lam2_sig2 + std::log(std::erfc(t));
      return logaddexp(ls, ld);
    }
    const double* zt = z + 3 * m;
    double v[3], nrm2 = 0, dist = 0;
    for (int d = 0; d < 3; ++d) {
      v[d] = x[d] - sensor[d];
      nrm2 += v[d] * v[d];
    }
    if (!(nrm2 > 0)) return kNegInf;
    for (int d = 0; d < 3; ++d) dist += v[d] * (zt[d] - 0.5 * (x[d] + sensor[d]));
    dist /= std::sqrt(nrm2);  // signed distance of z~ to the VA-induced plane
    return c_m - dist * dist * inv2var;
  }
};

// Poisson mean of MPCs per feature on a link (enters the pseudo-prior e^{-mu}).
inline double link_mu(const SpaParams& p, const Link& l) {
  if (l.kind == kMonostatic) return p.mu_m;
  return l.diffuse ? p.mu_s + p.mu_d : p.mu_s;
}

// ---------------------------------------------------------------------------- random numbers
// splitmix64-seeded xoshiro256**; one independent stream per (seed, purpose, index).
class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index) {
    std::uint64_t x = seed ^ (0x9E3779B97F4A7C15ULL * (purpose + 1)) ^ (0xD1B54A32D192ED03ULL * (index + 1));
    for (auto& si : s_) si = splitmix(x);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  double normal() {  // Marsaglia's polar method, both variates used
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, q;
    do {
      u = 2 * uniform() - 1;
      v = 2 * uniform() - 1;
      q = u * u + v * v;
    } while (q >= 1.0 || q == 0.0);
    const double f = std::sqrt(-2.0 * std::log(q) / q);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

enum Purpose : std::uint64_t { kPredict = 1, kBirth = 2, kResample = 3 };

// ---------------------------------------------------------------------------- births (spec 3.4)
inline double log_birth_pdf(const SpaParams& p, const double* x, double log_volume) {
  double r2 = 0;
  for (int d = 0; d < 3; ++d) r2 += (x[d] - p.roi_c[d]) * (x[d] - p.roi_c[d]);
  return r2 > p.roi_r * p.roi_r ? kNegInf : -log_volume;
}

inline void unit_vector(Rng& rng, double* v) {
  double n = 0;
  do {
    n = 0;
    for (int d = 0; d < 3; ++d) {
      v[d] = rng.normal();
      n += v[d] * v[d];
    }
  } while (!(n > 1e-300));
  n = std::sqrt(n);
  for (int d = 0; d < 3; ++d) v[d] /= n;
}

// Draws P particles of the new PMF of measurement m; returns the number with finite weight.
inline std::ptrdiff_t draw_birth(const SpaParams& p, const Link& l, std::ptrdiff_t m, std::ptrdiff_t n_p,
                                 Rng& rng, double* X, double* lam) {
  std::ptrdiff_t n_ok = 0;
  const double log_volume = std::log(4.0 / 3.0 * kPi * p.roi_r * p.roi_r * p.roi_r);
  const double log4pi = std::log(4 * kPi), log8 = std::log(8.0);
  if (l.kind == kBistatic) {
    // VA on a sphere around the UAV: r ~ N(m0, s^2) folded at 0, direction uniform.
    const double mexc = l.diffuse ? (p.mu_d / (p.mu_s + p.mu_d)) / p.lam_e : 0.0;
    const double m0 = l.z[m] - 0.5 * mexc;
    const double var = 4 * p.sig_r * p.sig_r + mexc * mexc, s = std::sqrt(var);
    const double c_norm = -0.5 * (kLog2Pi + std::log(var)), inv2var = 1.0 / (2 * var);
    for (std::ptrdiff_t i = 0; i < n_p; ++i) {
      const double r = std::abs(m0 + s * rng.normal());
      double v[3];
      unit_vector(rng, v);
      double* x = X + 3 * i;
      for (int d = 0; d < 3; ++d) x[d] = l.sensor[d] + r * v[d];
      const double a = -(r - m0) * (r - m0) * inv2var, b = -(r + m0) * (r + m0) * inv2var;
      const double logq = c_norm + logaddexp(a, b) - log4pi - 2 * std::log(r);
      lam[i] = log_birth_pdf(p, x, log_volume) - logq;
    }
  } else {
    // VA = mirror of the BS over a plane through z~: normal in a cone around z~ - pB.
    const double* zt = l.z + 3 * m;
    double w[3], u0[3], nw = 0;
    for (int d = 0; d < 3; ++d) {
      w[d] = zt[d] - l.sensor[d];
      nw += w[d] * w[d];
    }
    nw = std::sqrt(nw);
    if (!(nw > 0)) {
      for (std::ptrdiff_t i = 0; i < n_p; ++i) {
        for (int d = 0; d < 3; ++d) X[3 * i + d] = l.sensor[d];
        lam[i] = kNegInf;
      }
      return 0;
    }
    for (int d = 0; d < 3; ++d) u0[d] = w[d] / nw;
    const double a[3] = {std::abs(u0[0]) < 0.9 ? 1.0 : 0.0, std::abs(u0[0]) < 0.9 ? 0.0 : 1.0, 0.0};
    double e1[3] = {u0[1] * a[2] - u0[2] * a[1], u0[2] * a[0] - u0[0] * a[2], u0[0] * a[1] - u0[1] * a[0]};
    const double n1 = std::sqrt(e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2]);
    for (double& e : e1) e /= n1;
    const double e2[3] = {u0[1] * e1[2] - u0[2] * e1[1], u0[2] * e1[0] - u0[0] * e1[2],
                          u0[0] * e1[1] - u0[1] * e1[0]};
    const double cmax = p.cone_cos, s = 2 * p.sig_z;
    const double log_qn = -std::log(2 * kPi * (1 - cmax));
    const double c_norm = -0.5 * (kLog2Pi + std::log(s * s)), inv2var = 1.0 / (2 * s * s);
    for (std::ptrdiff_t i = 0; i < n_p; ++i) {
      const double ct = cmax + (1 - cmax) * rng.uniform(), st = std::sqrt(std::max(0.0, 1 - ct * ct));
      const double ph = 2 * kPi * rng.uniform();
      double n[3], rho0 = 0;
      for (int d = 0; d < 3; ++d) {
        n[d] = ct * u0[d] + st * std::cos(ph) * e1[d] + st * std::sin(ph) * e2[d];
        rho0 += n[d] * w[d];
      }
      const double rho = rho0 + s * rng.normal();
      double* x = X + 3 * i;
      for (int d = 0; d < 3; ++d) x[d] = l.sensor[d] + 2 * rho * n[d];
      if (!(rho > 0)) {
        lam[i] = kNegInf;
      } else {
        const double logq = log_qn + c_norm - (rho - rho0) * (rho - rho0) * inv2var - log8 - 2 * std::log(rho);
        lam[i] = log_birth_pdf(p, x, log_volume) - logq;
      }
    }
  }
  for (std::ptrdiff_t i = 0; i < n_p; ++i) {
    if (lam[i] > kNegInf) ++n_ok;
    lam[i] = std::max(lam[i], kLogFloor);
  }
  return n_ok;
}

// ---------------------------------------------------------------------------- log-sum-exp
// log sum_i exp(a_i); overwrites a with exp(a_i - max) (vectorised pass, then a serial sum).
inline double lse(double* a, std::ptrdiff_t n) {
  double m4[4] = {kNegInf, kNegInf, kNegInf, kNegInf};
  std::ptrdiff_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) m4[j] = a[i + j] > m4[j] ? a[i + j] : m4[j];
  double mx = std::max(std::max(m4[0], m4[1]), std::max(m4[2], m4[3]));
  for (; i < n; ++i) mx = std::max(mx, a[i]);
  if (mx == kNegInf) return kNegInf;
  for (i = 0; i < n; ++i) a[i] = fastmath::exp(a[i] - mx);
  double s4[4] = {0, 0, 0, 0};
  for (i = 0; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) s4[j] += a[i + j];
  double s = (s4[0] + s4[1]) + (s4[2] + s4[3]);
  for (; i < n; ++i) s += a[i];
  return mx + std::log(s);
}

// Systematic resampling of normalised weights w (n) with offset u0 in (0,1); idx (n).
inline void systematic_resample(const double* w, std::ptrdiff_t n, double u0, std::ptrdiff_t* idx) {
  double c = w[0];
  std::ptrdiff_t j = 0;
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const double t = (static_cast<double>(i) + u0) / static_cast<double>(n);
    while (t > c && j < n - 1) c += w[++j];
    idx[i] = j;
  }
}

// ---------------------------------------------------------------------------- the module
struct SpaOutput {
  double* X_out;    // (Kt, P, 3) resampled + jittered particles
  double* eta_out;  // (Kt,) posterior existence log-odds (-inf: new PMF without birth support)
  double* x_hat;    // (Kt, 3) MMSE positions before resampling
  double* X_in;     // optional (Kt, P, 3): particles the messages were computed on
  double* lam_in;   // optional (Kt, P): their log prior weights
  double* eta_in;   // optional (Kt,): their prior log-odds
  double* S;        // optional (Kt, P): posterior log weights
};

// X_leg (K,P,3), lam_leg (K,P), eta_leg (K,).  Kt = K + sum over birth links of M_l.
inline void spa_update(const SpaParams& p, const double* X_leg, const double* lam_leg,
                       const double* eta_leg, std::ptrdiff_t K, std::ptrdiff_t P,
                       const std::vector<Link>& links, bool predict, std::uint64_t seed,
                       const SpaOutput& out, int n_threads) {
  const std::ptrdiff_t nL = static_cast<std::ptrdiff_t>(links.size());
  // PMF bookkeeping: owner link (-1 legacy) and first measurement of new PMFs.
  std::vector<int> owner(static_cast<std::size_t>(K), -1);
  std::vector<std::ptrdiff_t> first_m(static_cast<std::size_t>(K), -1);
  for (std::ptrdiff_t l = 0; l < nL; ++l)
    if (links[l].births)
      for (std::ptrdiff_t m = 0; m < links[l].m; ++m) {
        owner.push_back(static_cast<int>(l));
        first_m.push_back(m);
      }
  const std::ptrdiff_t Kt = static_cast<std::ptrdiff_t>(owner.size());
  std::vector<double> X(static_cast<std::size_t>(Kt * P * 3)), lam(static_cast<std::size_t>(Kt * P));
  std::vector<double> eta0(static_cast<std::size_t>(Kt));
  std::vector<char> alive(static_cast<std::size_t>(Kt), 1);

  // 1. prediction (1.2) and births (3.4)
  parallel_for(Kt, n_threads, [&](std::ptrdiff_t k) {
    double* x = X.data() + k * P * 3;
    double* lw = lam.data() + k * P;
    if (k < K) {
      std::copy(X_leg + k * P * 3, X_leg + (k + 1) * P * 3, x);
      std::copy(lam_leg + k * P, lam_leg + (k + 1) * P, lw);
      double eta = eta_leg[k];
      if (predict) {
        // eta' = logit(p_s sigmoid(eta)) without overflow
        eta = std::log(p.p_s) - softplus(-eta) - std::log((1 - p.p_s) + p.p_s / (1 + std::exp(eta)));
        if (p.sig_q > 0) {
          Rng rng(seed, kPredict, static_cast<std::uint64_t>(k));
          for (std::ptrdiff_t i = 0; i < P * 3; ++i) x[i] += p.sig_q * rng.normal();
        }
      }
      for (std::ptrdiff_t i = 0; i < P; ++i) lw[i] = std::max(lw[i], kLogFloor);
      eta0[k] = eta;
    } else {
      const Link& l = links[owner[k]];
      Rng rng(seed, kBirth, static_cast<std::uint64_t>(k));
      const std::ptrdiff_t n_ok = draw_birth(p, l, first_m[k], P, rng, x, lw);
      eta0[k] = p.log_mu_n - link_mu(p, l);  // (1.4) prior odds of a new PMF
      if (n_ok == 0) alive[k] = 0;          // no birth support: drop (3.3 B)
    }
  });

  // 2. edges and log-likelihood ratios (3.3 C)
  struct Edge {
    std::ptrdiff_t k, l, m;
    bool first;
    double logkappa;
  };
  std::vector<LinkModel> models;
  for (const auto& l : links) models.emplace_back(p, l);
  // bounding sphere (centre = mean, radius = max distance) of each legacy PMF's particles
  std::vector<double> centre(static_cast<std::size_t>(3 * K), 0.0), radius(static_cast<std::size_t>(K), 0.0);
  parallel_for(K, n_threads, [&](std::ptrdiff_t k) {
    const double* x = X.data() + k * P * 3;
    double c[3] = {0, 0, 0}, r2 = 0;
    for (std::ptrdiff_t i = 0; i < P; ++i)
      for (int d = 0; d < 3; ++d) c[d] += x[3 * i + d];
    for (int d = 0; d < 3; ++d) c[d] /= static_cast<double>(P);
    for (std::ptrdiff_t i = 0; i < P; ++i) {
      double q = 0;
      for (int d = 0; d < 3; ++d) q += (x[3 * i + d] - c[d]) * (x[3 * i + d] - c[d]);
      r2 = std::max(r2, q);
    }
    for (int d = 0; d < 3; ++d) centre[3 * k + d] = c[d];
    radius[k] = std::sqrt(r2) * (1 + 1e-12) + 1e-12;
  });
  std::vector<Edge> cand;
  for (std::ptrdiff_t l = 0; l < nL; ++l)
    for (std::ptrdiff_t k = 0; k < Kt; ++k) {
      if (!alive[k]) continue;
      if (k >= K && owner[k] != l) continue;
      for (std::ptrdiff_t m = (k < K ? 0 : first_m[k]); m < links[l].m; ++m) {
        if (k >= K && links[l].kind == kBistatic &&
            std::abs(links[l].z[m] - links[l].z[first_m[k]]) > p.gate_range)
          continue;
        if (k >= K && links[l].kind == kMonostatic) {
          const double* a = links[l].z + 3 * m;
          const double* b = links[l].z + 3 * first_m[k];
          const double d2 = (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]);
          if (d2 > p.gate_distance * p.gate_distance) continue;
        }
        if (k < K && models[static_cast<std::size_t>(l)].upper_bound(m, centre.data() + 3 * k, radius[k]) < p.gate_log)
          continue;
        cand.push_back({k, l, m, k >= K && m == first_m[k], 0.0});
      }
    }
  const std::ptrdiff_t nC = static_cast<std::ptrdiff_t>(cand.size());
  std::vector<double> LLc(static_cast<std::size_t>(nC * P));
  std::vector<char> keep(static_cast<std::size_t>(nC), 0);
  parallel_for(nC, n_threads, [&](std::ptrdiff_t e) {
    const Edge& ed = cand[e];
    const LinkModel& model = models[static_cast<std::size_t>(ed.l)];
    double* ll = LLc.data() + e * P;
    double mx = kNegInf;
    for (std::ptrdiff_t i = 0; i < P; ++i) {
      ll[i] = std::max(model(ed.m, X.data() + (ed.k * P + i) * 3), kLogFloor);
      mx = std::max(mx, ll[i]);
    }
    keep[e] = ed.first || mx >= p.gate_log;
  });
  std::vector<Edge> edges;
  std::vector<std::ptrdiff_t> src;
  for (std::ptrdiff_t e = 0; e < nC; ++e)
    if (keep[e]) {
      edges.push_back(cand[e]);
      src.push_back(e);
    }
  const std::ptrdiff_t nE = static_cast<std::ptrdiff_t>(edges.size());
  // compact LL in place (src[e] >= e)
  for (std::ptrdiff_t e = 0; e < nE; ++e)
    if (src[e] != e) std::copy(LLc.begin() + src[e] * P, LLc.begin() + (src[e] + 1) * P, LLc.begin() + e * P);
  LLc.resize(static_cast<std::size_t>(nE * P));
  const double* LL = LLc.data();

  // connectivity: per (k, l) list of edges; per (l, m) list of edges
  std::vector<char> conn(static_cast<std::size_t>(Kt * nL), 0);
  for (std::ptrdiff_t k = 0; k < Kt; ++k)
    for (std::ptrdiff_t l = 0; l < nL; ++l)
      conn[k * nL + l] = alive[k] && (k < K || owner[k] == l);
  std::vector<std::vector<std::ptrdiff_t>> by_kl(static_cast<std::size_t>(Kt * nL));
  std::vector<std::ptrdiff_t> m_off(static_cast<std::size_t>(nL + 1), 0);
  for (std::ptrdiff_t l = 0; l < nL; ++l) m_off[l + 1] = m_off[l] + links[l].m;
  std::vector<std::vector<std::ptrdiff_t>> by_lm(static_cast<std::size_t>(m_off[nL]));
  for (std::ptrdiff_t e = 0; e < nE; ++e) {
    by_kl[edges[e].k * nL + edges[e].l].push_back(e);
    by_lm[m_off[edges[e].l] + edges[e].m].push_back(e);
  }
  // per-(k,l) constants (3.7): log p_v, log(1 - p_v), mu
  auto consts = [&](std::ptrdiff_t k, std::ptrdiff_t l, double& lpv, double& l1pv, double& mu) {
    if (k >= K) {  // owner link: visible by construction, e^{-mu} already in the prior
      lpv = 0;
      l1pv = kNegInf;
      mu = 0;
      return;
    }
    const double pv = links[l].pv;
    lpv = std::log(pv);
    l1pv = pv < 1 ? std::log1p(-pv) : kNegInf;
    mu = link_mu(p, links[l]);
  };
  // log gamma_{m->k}(x_i) per edge, refreshed after every D3 (all zeros before the first)
  std::vector<double> gE(static_cast<std::size_t>(nE * P), 0.0);
  auto refresh_g = [&]() {
    parallel_for(nE, n_threads, [&](std::ptrdiff_t e) {
      const double lk = edges[e].logkappa;
      const double* ll = LL + e * P;
      double* g = gE.data() + e * P;
      if (edges[e].first)
        for (std::ptrdiff_t i = 0; i < P; ++i) g[i] = std::max(lk + ll[i], kLogFloor);
      else
        for (std::ptrdiff_t i = 0; i < P; ++i) g[i] = fastmath::softplus(lk + ll[i]);
    });
  };

  // G[k][l] = sum_m g (P) and logPhi[k][l] (P)
  std::vector<double> G(static_cast<std::size_t>(Kt * nL * P), 0.0);
  std::vector<double> Phi(static_cast<std::size_t>(Kt * nL * P), 0.0);
  auto compute_G = [&]() {
    parallel_for(Kt * nL, n_threads, [&](std::ptrdiff_t kl) {
      const std::ptrdiff_t k = kl / nL, l = kl % nL;
      if (!conn[kl]) return;
      double lpv, l1pv, mu;
      consts(k, l, lpv, l1pv, mu);
      double* g = G.data() + kl * P;
      double* ph = Phi.data() + kl * P;
      std::fill(g, g + P, 0.0);
      for (std::ptrdiff_t e : by_kl[kl]) {
        const double* ge = gE.data() + e * P;
        for (std::ptrdiff_t i = 0; i < P; ++i) g[i] += ge[i];
      }
      if (l1pv == kNegInf)
        for (std::ptrdiff_t i = 0; i < P; ++i) ph[i] = lpv - mu + g[i];
      else
        for (std::ptrdiff_t i = 0; i < P; ++i) ph[i] = logaddexp(l1pv, lpv - mu + g[i]);
    });
  };

  std::vector<double> logrho(static_cast<std::size_t>(nE), kNegInf);
  const double logP = std::log(static_cast<double>(P));
  for (int t = 0; t < p.n_iter; ++t) {
    if (t > 0) refresh_g();
    compute_G();
    // D2: PMF -> association messages, per edge
    parallel_for_chunks(nE, n_threads, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) {
      std::vector<double> w1(static_cast<std::size_t>(P)), w0(static_cast<std::size_t>(P));
      for (std::ptrdiff_t e = lo; e < hi; ++e) {
        const Edge& ed = edges[e];
        double lpv, l1pv, mu;
        consts(ed.k, ed.l, lpv, l1pv, mu);
        const double* lw = lam.data() + ed.k * P;
        const double* g = G.data() + (ed.k * nL + ed.l) * P;
        const double* ge = gE.data() + e * P;
        const double* ll = LL + e * P;
        for (std::ptrdiff_t i = 0; i < P; ++i) w0[i] = lw[i];
        for (std::ptrdiff_t l2 = 0; l2 < nL; ++l2)
          if (l2 != ed.l && conn[ed.k * nL + l2]) {
            const double* ph = Phi.data() + (ed.k * nL + l2) * P;
            for (std::ptrdiff_t i = 0; i < P; ++i) w0[i] += ph[i];
          }
        // w0 holds "other" = lam + sum_{l' != l} logPhi; gm = G - g_e (extrinsic)
        const double c = lpv - mu;
        if (ed.first || l1pv == kNegInf) {
          for (std::ptrdiff_t i = 0; i < P; ++i) {
            const double a = c + (g[i] - ge[i]);
            w1[i] = w0[i] + a + ll[i];
            w0[i] += a;
          }
        } else {
          for (std::ptrdiff_t i = 0; i < P; ++i) {
            const double a = c + (g[i] - ge[i]);
            w1[i] = w0[i] + a + ll[i];
            w0[i] += logaddexp(l1pv, a);
          }
        }
        const double logZ1 = lse(w1.data(), P) - logP;
        if (ed.first) {
          logrho[e] = eta0[ed.k] + logZ1;
        } else {
          const double logZ0 = lse(w0.data(), P) - logP;
          logrho[e] = eta0[ed.k] + logZ1 - softplus(eta0[ed.k] + logZ0);
        }
      }
    });
    // D3: association -> PMF, leave-one-out per measurement via prefix/suffix LSE
    parallel_for(m_off[nL], n_threads, [&](std::ptrdiff_t lm) {
      const auto& es = by_lm[lm];
      const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(es.size());
      std::vector<double> pre(static_cast<std::size_t>(n + 1), kNegInf), suf(static_cast<std::size_t>(n + 1), kNegInf);
      for (std::ptrdiff_t a = 0; a < n; ++a) pre[a + 1] = logaddexp(pre[a], logrho[es[a]]);
      for (std::ptrdiff_t a = n - 1; a >= 0; --a) suf[a] = logaddexp(suf[a + 1], logrho[es[a]]);
      for (std::ptrdiff_t a = 0; a < n; ++a) {
        const double loo = logaddexp(0.0, logaddexp(pre[a], suf[a + 1]));
        edges[es[a]].logkappa = std::max(-loo, kLogFloor);
      }
    });
  }
  if (p.n_iter > 0) refresh_g();
  compute_G();

  // E. beliefs, existence, MMSE, resampling
  parallel_for_chunks(Kt, n_threads, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) {
    std::vector<double> S(static_cast<std::size_t>(P)), w(static_cast<std::size_t>(P));
    std::vector<std::ptrdiff_t> idx(static_cast<std::size_t>(P));
    for (std::ptrdiff_t k = lo; k < hi; ++k) {
      const double* x = X.data() + k * P * 3;
      const double* lw = lam.data() + k * P;
      if (out.X_in) std::copy(x, x + P * 3, out.X_in + k * P * 3);
      if (out.lam_in) std::copy(lw, lw + P, out.lam_in + k * P);
      if (out.eta_in) out.eta_in[k] = eta0[k];
      double* xo = out.X_out + k * P * 3;
      if (!alive[k]) {
        std::copy(x, x + P * 3, xo);
        out.eta_out[k] = kNegInf;
        for (int d = 0; d < 3; ++d) out.x_hat[3 * k + d] = std::numeric_limits<double>::quiet_NaN();
        if (out.S) std::fill(out.S + k * P, out.S + (k + 1) * P, kNegInf);
        continue;
      }
      for (std::ptrdiff_t i = 0; i < P; ++i) {
        S[i] = lw[i];
        for (std::ptrdiff_t l = 0; l < nL; ++l)
          if (conn[k * nL + l]) S[i] += Phi[(k * nL + l) * P + i];
      }
      if (out.S) std::copy(S.begin(), S.end(), out.S + k * P);
      std::copy(S.begin(), S.end(), w.begin());
      const double A = lse(w.data(), P);
      out.eta_out[k] = eta0[k] + A - std::log(static_cast<double>(P));
      double xh[3] = {0, 0, 0};
      const double scale = std::exp(-(A - *std::max_element(S.begin(), S.end())));
      for (std::ptrdiff_t i = 0; i < P; ++i) {
        w[i] *= scale;  // exp(S_i - A)
        for (int d = 0; d < 3; ++d) xh[d] += w[i] * x[3 * i + d];
      }
      for (int d = 0; d < 3; ++d) out.x_hat[3 * k + d] = xh[d];
      if (out.eta_out[k] < p.log_prune) {  // pruned by the caller: not resampled
        std::copy(x, x + P * 3, xo);
        continue;
      }
      Rng rng(seed, kResample, static_cast<std::uint64_t>(k));
      systematic_resample(w.data(), P, rng.uniform(), idx.data());
      for (std::ptrdiff_t i = 0; i < P; ++i)
        for (int d = 0; d < 3; ++d) xo[3 * i + d] = x[3 * idx[i] + d] + p.sig_reg * rng.normal();
    }
  });
}

}  // namespace skysense::mapping
