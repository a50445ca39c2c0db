// Per-epoch particle sum-product module for VA mapping (shared/specs/mapping.md, section 3).
//
// One call = one BS and one stage: prediction of the legacy PMFs (survival, process noise),
// births from the measurements of the birth links, T iterations of the measurement-oriented
// (one-to-many) data-association messages in log form, beliefs and existence log-odds, MMSE
// estimates, systematic resampling with jitter.  The visibility-generalised form of section
// 3.7 is used throughout (p_v = 1 is the paper model).
//
// Layout and speed: particles are kept as structure-of-arrays [Kt][3][P] inside the call (the
// interface stays [K][P][3]); every loop over particles is branch-free and calls only the
// vectorisable functions of fastmath.hpp (exp, log, erfcx, sincos), so the compiler vectorises
// it; at t = 0 all messages are 1, so the whole first iteration (and censoring) follows from
// per-PMF constants of the prior weights and one dot product per edge, taken while its
// likelihoods are in cache; per-(PMF, link) sums of the other links' factors are formed once
// per iteration, not per edge; edges whose factors 1 + kappa L all round to 1 are skipped in
// the products; scratch buffers live in a per-thread workspace reused across calls.
// Randomness: 8-lane xoshiro256++ generators derived from (seed, purpose, PMF index), normals
// by Box-Muller in blocks, so results do not depend on the number of threads.
//
// This header is compiled once per instruction set (cpp/bindings/mapping_isa_*.cpp) inside an
// inline namespace named by SKYSENSE_ISA_NS.  No pybind11 here.
#pragma once
#include <algorithm>
#include <memory>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "skysense/fastmath.hpp"
#include "skysense/mapping_types.hpp"
#include "skysense/parallel.hpp"

namespace skysense::mapping {
inline namespace SKYSENSE_ISA_NS {

constexpr double kPi = 3.14159265358979323846;
constexpr double kLog2Pi = 1.8378770664093454836;
using Index = std::ptrdiff_t;

// ---------------------------------------------------------------------------- scalar helpers
inline double softplus(double y) { return std::max(y, 0.0) + std::log1p(std::exp(-std::abs(y))); }

inline double logaddexp(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double mx = std::max(a, b);
  return mx + std::log1p(std::exp(-std::abs(a - b)));
}

// Branch-free logaddexp of finite arguments (vectorisable; absolute error ~1e-16).
[[gnu::always_inline]] inline double logaddexp_v(double a, double b) {
  const double mx = a > b ? a : b, d = a > b ? b - a : a - b;
  return mx + fastmath::log(1.0 + fastmath::exp(d));
}

// max(init, max of a[0..n)) with 8 partial maxima (vectorisable); init for n = 0.
inline double max_of(const double* a, Index n, double init = kNegInf) {
  double m8[8] = {init, init, init, init, init, init, init, init};
  Index i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) m8[j] = a[i + j] > m8[j] ? a[i + j] : m8[j];
  for (; i < n; ++i) m8[0] = a[i] > m8[0] ? a[i] : m8[0];
  double mx = m8[0];
  for (int j = 1; j < 8; ++j) mx = m8[j] > mx ? m8[j] : mx;
  return mx;
}

// sum_i a_i b_i, 8 partial sums (vectorisable; the order is fixed, so results are too).
inline double dot_of(const double* a, const double* b, Index n) {
  double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  Index i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s8[j] += a[i + j] * b[i + j];
  for (; i < n; ++i) s8[0] += a[i] * b[i];
  return ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
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
  double c_max = 0, a_s = 1, a_d = 1, c_sd = 1;  // max(c_s, c_d), e^{c_s - c_max}, e^{c_d - c_max}, e^{c_s - c_d}

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
      c_max = std::max(c_s, c_d);
      a_s = std::exp(c_s - c_max);
      a_d = std::exp(c_d - c_max);
      c_sd = std::exp(std::min(c_s - c_d, 700.0));
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

  // The per-particle bistatic diffuse likelihood of residual r = z - h, in log form (floored;
  // see loglik) and in linear form relative to ref() (see lik), shared by the particle and
  // geometry forms.
  [[gnu::always_inline]] double diffuse_ll(double r) const {
    const double t = (lam_sig2 - r) * inv_sqrt2_sig;
    const bool pos = t > 0;
    const double ex = fastmath::erfcx_pos(pos ? t : -t);
    const double et = fastmath::exp(-t * t);
    const double arg = pos ? a_s + a_d * ex : c_sd * et + (2.0 - ex * et);
    const double base = pos ? c_max - r * r * inv2var : c_d - lam * r + half_lam2_sig2;
    const double v = base + fastmath::log(arg);
    return v > kLogFloor ? v : kLogFloor;
  }
  [[gnu::always_inline]] double diffuse_lr(double r) const {
    const double t = (lam_sig2 - r) * inv_sqrt2_sig;
    const bool pos = t > 0;
    const double ex = fastmath::erfcx_pos(pos ? t : -t);
    const double eq = fastmath::exp(-r * r * inv2var);
    const double u = half_lam2_sig2 - lam * r;
    const double el = fastmath::exp(u < 0 ? u : 0.0);  // t <= 0 implies u < 0
    return a_s * eq + a_d * (pos ? ex * eq : 2.0 * el - ex * eq);
  }
  // ll[i] = max(log L(z_m | x_i), kLogFloor) for n particles in SoA (xs, ys, zs) (spec 2.1,
  // 2.2); returns max_i ll[i].  Bistatic specular + diffuse, r = z - h, q = r^2 / (2 sig^2),
  // t = (lam sig^2 - r) / (sqrt(2) sig), in one logarithm (the two exponents differ by t^2):
  //   t > 0:  LL = -q + log(e^{c_s} + e^{c_d} erfcx(t))
  //   t <= 0: LL = c_d - lam r + lam^2 sig^2 / 2 + log(e^{c_s - c_d} e^{-t^2} + erfc(t)),
  // with erfc(t) = 2 - erfcx(-t) e^{-t^2} (no cancellation: the subtrahend is <= 1).
  [[gnu::noinline]] double loglik(Index m, const double* xs, const double* ys, const double* zs,
                                  Index n, double* ll) const {
    return loglik_from(m, Particles{xs, ys, zs}, n, ll);
  }
  // Reference of lik(): log L = ref() + log lr.
  double ref() const { return kind == kBistatic ? (diffuse ? c_max : c_s) : c_m; }

  // Linear form of loglik without its floor: lr[i] = e^{log L(z_m | x_i) - ref()} (0 where it
  // underflows); returns max_i lr[i].  One exp fewer than loglik + e^{LL - max} and no log:
  // with q = r^2 / (2 sig^2), e^{-q} = e^{lam^2 sig^2 / 2 - lam r} e^{-t^2}, so
  //   t > 0:  lr = e^{-q} (a_s + a_d erfcx(t))
  //   t <= 0: lr = a_s e^{-q} + a_d (2 e^{lam^2 sig^2 / 2 - lam r} - erfcx(-t) e^{-q})
  // (the bracket is e^{lam^2 sig^2/2 - lam r} (2 - erfcx(-t) e^{-t^2}) >= its first term / 2:
  // no cancellation).
  [[gnu::noinline]] double lik(Index m, const double* xs, const double* ys, const double* zs,
                               Index n, double* lr) const {
    return lik_from(m, Particles{xs, ys, zs}, n, lr);
  }

  // loglik and lik from the geometry of a new PMF's particles on its own link (draw_birth).
  [[gnu::noinline]] double loglik_g(Index m, const double* g, Index st, Index n, double* ll) const {
    return loglik_from(m, Geometry{g, st}, n, ll);
  }
  [[gnu::noinline]] double lik_g(Index m, const double* g, Index st, Index n, double* lr) const {
    return lik_from(m, Geometry{g, st}, n, lr);
  }

 private:
  // Where the per-particle residuals come from: the particles (SoA) or their geometry (rows
  // of stride st, see draw_birth).
  struct Particles {
    const double *xs, *ys, *zs;
  };
  struct Geometry {
    const double* g;
    Index st;
  };
  // f(i, r) with the bistatic range residual r = z_m - |x_i - s|.
  template <class F>
  void each_range(Index m, Particles p, Index n, F f) const {
    const double zm = z[m], s0 = sensor[0], s1 = sensor[1], s2 = sensor[2];
    for (Index i = 0; i < n; ++i) {
      const double dx = p.xs[i] - s0, dy = p.ys[i] - s1, dz = p.zs[i] - s2;
      f(i, zm - std::sqrt(dx * dx + dy * dy + dz * dz));
    }
  }
  template <class F>
  void each_range(Index m, Geometry g, Index n, F f) const {
    const double zm = z[m];
    for (Index i = 0; i < n; ++i) f(i, zm - g.g[i]);
  }
  // f(i, d, ok) with the monostatic facade distance d of x_i (ok = false at x_i = s, where
  // the particle form has no normal; the geometry form's sentinel makes d huge instead).
  template <class F>
  void each_distance(Index m, Particles p, Index n, F f) const {
    const double s0 = sensor[0], s1 = sensor[1], s2 = sensor[2];
    const double* zt = z + 3 * m;
    // d = v.(z~ - (x + s)/2)/|v| with v = x - s, i.e. (v.w - |v|^2/2)/|v|, w = z~ - s
    const double w0 = zt[0] - s0, w1 = zt[1] - s1, w2 = zt[2] - s2;
    for (Index i = 0; i < n; ++i) {
      const double v0 = p.xs[i] - s0, v1 = p.ys[i] - s1, v2 = p.zs[i] - s2;
      const double nrm2 = v0 * v0 + v1 * v1 + v2 * v2;
      const double d = (v0 * (w0 - 0.5 * v0) + v1 * (w1 - 0.5 * v1) + v2 * (w2 - 0.5 * v2)) /
                       std::sqrt(nrm2);
      f(i, d, nrm2 > 0);
    }
  }
  template <class F>
  void each_distance(Index m, Geometry g, Index n, F f) const {
    const double* zt = z + 3 * m;
    const double w0 = zt[0] - sensor[0], w1 = zt[1] - sensor[1], w2 = zt[2] - sensor[2];
    const Index st = g.st;
    for (Index i = 0; i < n; ++i)
      f(i, g.g[i] * w0 + g.g[st + i] * w1 + g.g[2 * st + i] * w2 - g.g[3 * st + i], true);
  }

  template <class Src>
  double loglik_from(Index m, Src src, Index n, double* ll) const {
    if (kind == kBistatic) {
      if (!diffuse)
        each_range(m, src, n, [&](Index i, double r) {
          const double v = c_s - r * r * inv2var;
          ll[i] = v > kLogFloor ? v : kLogFloor;
        });
      else
        each_range(m, src, n, [&](Index i, double r) { ll[i] = diffuse_ll(r); });
    } else {
      each_distance(m, src, n, [&](Index i, double d, bool ok) {
        const double v = c_m - d * d * inv2var;
        ll[i] = ok && v > kLogFloor ? v : kLogFloor;
      });
    }
    double mx = kLogFloor;
    for (Index i = 0; i < n; ++i) mx = ll[i] > mx ? ll[i] : mx;
    return mx;
  }

  template <class Src>
  double lik_from(Index m, Src src, Index n, double* lr) const {
    if (kind == kBistatic) {
      if (!diffuse)
        each_range(m, src, n, [&](Index i, double r) { lr[i] = fastmath::exp(-r * r * inv2var); });
      else
        each_range(m, src, n, [&](Index i, double r) { lr[i] = diffuse_lr(r); });
    } else {
      each_distance(m, src, n, [&](Index i, double d, bool ok) {
        const double v = fastmath::exp(-d * d * inv2var);
        lr[i] = ok ? v : 0.0;
      });
    }
    return max_of(lr, n, 0.0);
  }
};

// Poisson mean of MPCs per feature on a link (enters the pseudo-prior e^{-mu}).
inline double link_mu(const SpaParams& p, const Link& l) {
  if (l.kind == kMonostatic) return p.mu_m;
  return l.diffuse ? p.mu_s + p.mu_d : p.mu_s;
}

// ---------------------------------------------------------------------------- random numbers
// xoshiro256++ seeded by splitmix64; one independent generator per (seed, purpose, index),
// made of 8 interleaved xoshiro256++ streams (lanes): uniform j of a block of 8 comes from lane
// j, so the state update and the conversion to double vectorise (a single xoshiro stream is a
// serial dependency chain; it cost as much as the rest of a birth draw).
class Rng {
 public:
  static constexpr int kLanes = 8;
  Rng(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index) {
    std::uint64_t x = seed ^ (0x9E3779B97F4A7C15ULL * (purpose + 1)) ^ (0xD1B54A32D192ED03ULL * (index + 1));
    for (int j = 0; j < kLanes; ++j) {
      s0_[j] = splitmix(x);
      s1_[j] = splitmix(x);
      s2_[j] = splitmix(x);
      s3_[j] = splitmix(x);
    }
  }
  // one uniform in (0, 1) (52 random bits)
  double uniform() {
    if (pos_ == kLanes) {
      block(buf_);
      pos_ = 0;
    }
    return buf_[pos_++];
  }
  // n uniforms in (0, 1), a block of 8 at a time (the unused rest of the last is dropped)
  void uniforms(double* u, Index n) {
    Index i = 0;
    for (; i + kLanes <= n; i += kLanes) block(u + i);
    if (i < n) {
      double last[kLanes];
      block(last);
      std::copy(last, last + (n - i), u + i);
    }
  }
  // n standard normals: Box-Muller on blocks of uniform pairs, both variates used.
  void normals(double* out, Index n) {
    constexpr Index kB = 256;
    double u1[kB], u2[kB], a[kB], b[kB];
    for (Index lo = 0; lo < n; lo += 2 * kB) {
      for (Index j = 0; j < kB; j += kLanes) block(u1 + j);
      for (Index j = 0; j < kB; j += kLanes) block(u2 + j);
      for (Index j = 0; j < kB; ++j) {
        const double r = std::sqrt(-2.0 * fastmath::log(u1[j]));
        double s, c;
        fastmath::sincos_2pi(u2[j], s, c);
        a[j] = r * c;
        b[j] = r * s;
      }
      const Index na = std::min(kB, n - lo), nb = std::min(kB, n - lo - na);
      std::copy(a, a + na, out + lo);
      if (nb > 0) std::copy(b, b + nb, out + lo + na);
    }
  }

 private:
  // GCC/Clang vector extensions: one xoshiro256++ step of all lanes in a few vector
  // instructions (the auto-vectoriser scalarises the 8-lane state of a local generator).
  using U64x8 = std::uint64_t __attribute__((vector_size(64)));
  using F64x8 = double __attribute__((vector_size(64)));
  // the next output of every lane, as (v + 0.5) 2^-52 with v its top 52 bits (exact: v is
  // turned into a double through the exponent bits, no int -> double conversion)
  void block(double* u) {
    // (rotations written out: a function taking or returning U64x8 changes the ABI
    // outside AVX-512 builds, -Wpsabi)
    const U64x8 sum = s0_ + s3_, t = s1_ << 17;
    const U64x8 r = ((sum << 23) | (sum >> 41)) + s0_;
    s2_ ^= s0_;
    s3_ ^= s1_;
    s1_ ^= s2_;
    s0_ ^= s3_;
    s2_ ^= t;
    s3_ = (s3_ << 45) | (s3_ >> 19);
    const U64x8 bits = (r >> 12) | 0x4330000000000000ULL;
    const F64x8 d = ((F64x8)bits - 4503599627370496.0 + 0.5) * 0x1.0p-52;  // (F64x8): the bits
    std::memcpy(u, &d, sizeof d);
  }
  static std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  U64x8 s0_, s1_, s2_, s3_;  // lane j of the 4 state words of stream j
  double buf_[kLanes];
  int pos_ = kLanes;
};

enum Purpose : std::uint64_t { kPredict = 1, kBirth = 2, kResample = 3 };

// ---------------------------------------------------------------------------- births (spec 3.4)
// Range part of a bistatic birth proposal: r ~ N(m0, s^2) folded at 0, m0 the measured range
// less half the mean diffuse excess, s^2 = 4 sig_r^2 + excess^2 (spec 3.4).
struct FoldedRange {
  double m0, s, c_norm, inv2var;
  FoldedRange(const SpaParams& p, double z, bool diffuse) {
    const double mexc = diffuse ? (p.mu_d / (p.mu_s + p.mu_d)) / p.lam_e : 0.0;
    const double var = 4 * p.sig_r * p.sig_r + mexc * mexc;
    m0 = z - 0.5 * mexc;
    s = std::sqrt(var);
    c_norm = -0.5 * (kLog2Pi + std::log(var));
    inv2var = 1.0 / (2 * var);
  }
  // r from a standard normal draw
  double draw(double normal) const {
    const double rs = m0 + s * normal;
    return rs < 0 ? -rs : rs;
  }
  // log density of the folded normal at r >= 0
  double log_pdf(double r) const {
    const double a = -(r - m0) * (r - m0) * inv2var, b = -(r + m0) * (r + m0) * inv2var;
    return c_norm + logaddexp_v(a, b);
  }
};

// Draws n particles (SoA xs, ys, zs) of the new PMF of measurement m with floored log weights
// lam, and their geometry on link l that every further measurement of l reuses (rows of
// stride st): bistatic g[0] = h = |x - s|; monostatic g[0..2] = u = (x - s)/|x - s|, g[3] =
// |x - s| / 2 (1e150 at x = s: d huge, likelihood at the floor), so that d = u.w - |x - s|/2
// needs no sqrt or division.  The geometry comes from the draw itself (h = the drawn range,
// u = +-the drawn plane normal), not from the rounded positions.  tmp holds 3 n doubles.
// Returns the number of particles with finite weight.  (__restrict: without it GCC does not
// vectorise the loops, which store through five pointers and load through three.)
inline Index draw_birth(const SpaParams& p, const Link& l, Index m, Index n, Rng& rng,
                        double* __restrict xs, double* __restrict ys, double* __restrict zs,
                        double* __restrict lam, double* __restrict g, Index st,
                        double* __restrict tmp) {
  const double log_volume = std::log(4.0 / 3.0 * kPi * p.roi_r * p.roi_r * p.roi_r);
  const double log4pi = std::log(4 * kPi), log8 = std::log(8.0), roi_r2 = p.roi_r * p.roi_r;
  const double c0 = p.roi_c[0], c1 = p.roi_c[1], c2 = p.roi_c[2];
  const double s0 = l.sensor[0], s1 = l.sensor[1], s2 = l.sensor[2];
  if (l.kind == kBistatic && p.birth_z_std > 0) {
    // Vertical-facade birth pdf (not in the paper): f_B(x) = N(x_z; z_B, s_z^2) / A on the ROI
    // ball, A = pi (R^2 - (z_B - c_z)^2 - s_z^2) (its exact mass for s_z << R).  Proposal:
    // r ~ N(m0, s^2) folded at 0, x_z ~ N(z_B, s_z^2), azimuth uniform; dx = r dr dphi dz, so
    // q(x) = N_fold(r) N(x_z) / (2 pi r) and the height factors cancel in f_B / q.
    const FoldedRange range(p, l.z[m], l.diffuse);
    const double dzc = p.birth_z - c2, sz = p.birth_z_std;
    const double log_area = std::log(kPi * (roi_r2 - dzc * dzc - sz * sz));
    const double log2pi = std::log(2 * kPi);
    double* nr = tmp;
    double* nz = tmp + n;
    double* uph = tmp + 2 * n;
    rng.normals(nr, n);
    rng.normals(nz, n);
    rng.uniforms(uph, n);
    for (Index i = 0; i < n; ++i) {
      const double r = range.draw(nr[i]);
      const double zz = p.birth_z + sz * nz[i], dz = zz - s2, rho2 = r * r - dz * dz;
      const double rho = std::sqrt(rho2 > 0 ? rho2 : 0.0);
      double sp, cp;
      fastmath::sincos_2pi(uph[i], sp, cp);
      const double x = s0 + rho * cp, y = s1 + rho * sp;
      xs[i] = x;
      ys[i] = y;
      zs[i] = zz;
      g[i] = rho2 > 0 ? r : std::abs(dz);  // |x - s| = sqrt(rho^2 + dz^2)
      const double rr = r > 1e-300 ? r : 1e-300;
      const double logq_r = range.log_pdf(r);
      const double d2 = (x - c0) * (x - c0) + (y - c1) * (y - c1) + (zz - c2) * (zz - c2);
      lam[i] = !(rho2 > 0) || d2 > roi_r2 ? kNegInf
                                          : -log_area + log2pi + fastmath::log(rr) - logq_r;
    }
  } else if (l.kind == kBistatic) {
    // VA on a sphere around the UAV: folded-normal range, direction uniform.
    const FoldedRange range(p, l.z[m], l.diffuse);
    double* nr = tmp;
    double* uz = tmp + n;
    double* uph = tmp + 2 * n;
    rng.normals(nr, n);
    rng.uniforms(uz, n);
    rng.uniforms(uph, n);
    for (Index i = 0; i < n; ++i) {
      const double r = range.draw(nr[i]);
      // direction uniform on the unit sphere: cos(polar angle) uniform in (-1, 1)
      const double cz = 2.0 * uz[i] - 1.0, sz2 = 1.0 - cz * cz;
      const double sz = std::sqrt(sz2 > 0 ? sz2 : 0.0);
      double sp, cp;
      fastmath::sincos_2pi(uph[i], sp, cp);
      const double x = s0 + r * sz * cp, y = s1 + r * sz * sp, zz = s2 + r * cz;
      xs[i] = x;
      ys[i] = y;
      zs[i] = zz;
      g[i] = r;
      const double rr = r > 1e-300 ? r : 1e-300;
      const double logq = range.log_pdf(r) - log4pi - 2 * fastmath::log(rr);
      const double d2 = (x - c0) * (x - c0) + (y - c1) * (y - c1) + (zz - c2) * (zz - c2);
      lam[i] = d2 > roi_r2 ? kNegInf : -log_volume - logq;
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
      for (Index i = 0; i < n; ++i) {
        xs[i] = s0;
        ys[i] = s1;
        zs[i] = s2;
        lam[i] = kLogFloor;
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
    double* uc = tmp;
    double* uph = tmp + n;
    double* nr = tmp + 2 * n;
    rng.uniforms(uc, n);
    rng.uniforms(uph, n);
    rng.normals(nr, n);
    for (Index i = 0; i < n; ++i) {
      const double ct = cmax + (1 - cmax) * uc[i], sn2 = 1 - ct * ct;
      const double sn = std::sqrt(sn2 > 0 ? sn2 : 0.0);  // sin of the cone angle
      double sp, cp;
      fastmath::sincos_2pi(uph[i], sp, cp);
      const double nx = ct * u0[0] + sn * cp * e1[0] + sn * sp * e2[0];
      const double ny = ct * u0[1] + sn * cp * e1[1] + sn * sp * e2[1];
      const double nz = ct * u0[2] + sn * cp * e1[2] + sn * sp * e2[2];
      const double rho0 = nx * w[0] + ny * w[1] + nz * w[2];
      const double rho = rho0 + s * nr[i];
      const double x = s0 + 2 * rho * nx, y = s1 + 2 * rho * ny, zz = s2 + 2 * rho * nz;
      xs[i] = x;
      ys[i] = y;
      zs[i] = zz;
      // x - s = 2 rho n: u = sign(rho) n, |x - s| / 2 = |rho|
      const double sgn = rho > 0 ? 1.0 : rho < 0 ? -1.0 : 0.0;
      g[i] = sgn * nx;
      g[st + i] = sgn * ny;
      g[2 * st + i] = sgn * nz;
      g[3 * st + i] = rho != 0 ? std::abs(rho) : 1e150;
      const double rr = rho > 1e-300 ? rho : 1e-300;
      const double logq = log_qn + c_norm - (rho - rho0) * (rho - rho0) * inv2var - log8 -
                          2 * fastmath::log(rr);
      const double d2 = (x - c0) * (x - c0) + (y - c1) * (y - c1) + (zz - c2) * (zz - c2);
      lam[i] = !(rho > 0) || d2 > roi_r2 ? kNegInf : -log_volume - logq;
    }
  }
  Index n_ok = 0;
  for (Index i = 0; i < n; ++i) {
    n_ok += lam[i] > kNegInf;
    lam[i] = lam[i] > kLogFloor ? lam[i] : kLogFloor;
  }
  return n_ok;
}

// ---------------------------------------------------------------------------- log-sum-exp
// log sum_i exp(a_i) given mx = max_i a_i; overwrites a with exp(a_i - mx).
inline double lse_with_max(double* a, Index n, double mx) {
  if (mx == kNegInf) return kNegInf;
  for (Index i = 0; i < n; ++i) a[i] = fastmath::exp(a[i] - mx);
  double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  Index i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s8[j] += a[i + j];
  for (; i < n; ++i) s8[0] += a[i];
  const double s = ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
  return mx + std::log(s);
}

inline double lse(double* a, Index n) { return lse_with_max(a, n, max_of(a, n)); }

// Systematic resampling of n normalised weights w to n_out indices idx, offset u0 in (0,1).
inline void systematic_resample(const double* w, Index n, Index n_out, double u0, Index* idx) {
  double c = w[0];
  Index j = 0;
  for (Index i = 0; i < n_out; ++i) {
    const double t = (static_cast<double>(i) + u0) / static_cast<double>(n_out);
    while (t > c && j < n - 1) c += w[++j];
    idx[i] = j;
  }
}

// ---------------------------------------------------------------------------- workspace
// Scratch buffers of one calling thread, kept across calls and never initialised (every row
// the module reads is written first in the same call): a 100 MB buffer that is zero-filled
// or freshly faulted in per call costs more than the likelihoods written into it.  A buffer
// grows with 25 % headroom (so that the next slightly larger epoch does not reallocate) and
// is released only after 8 calls in a row that needed less than a quarter of it (Scheme II
// alternates a small and a large call; releasing at once would reallocate every call).
class Buffer {
 public:
  double* get(Index n) {
    const auto need = static_cast<std::size_t>(n);
    if (need > size_) {
      reset(need + need / 4);
    } else if (size_ > 4 * need + 65536) {
      if (++idle_ >= 8) reset(need);
    } else {
      idle_ = 0;
    }
    return data_.get();
  }

 private:
  void reset(std::size_t n) {
    data_.reset();  // release before allocating: the peak stays at one buffer
    data_.reset(new double[n]);
    size_ = n;
    idle_ = 0;
  }
  std::unique_ptr<double[]> data_;
  std::size_t size_ = 0;
  int idle_ = 0;
};
struct Workspace {
  Buffer X, lam, LL, Lr, g, G, Phi, O, B, W, geo, E;
};
inline Workspace& workspace() {
  static thread_local Workspace ws;
  return ws;
}

// ---------------------------------------------------------------------------- the module
// X_leg (K,P,3), lam_leg (K,P), eta_leg (K,).  Kt = K + sum over birth links of M_l.  A new
// PMF carries Pb = min(p.n_birth, P) particles (rows of P, the first Pb used) and is resampled
// to P; legacy PMFs carry P.
inline void spa_update(const SpaParams& p, const double* X_leg, const double* lam_leg,
                       const double* eta_leg, Index K, Index P, const std::vector<Link>& links,
                       bool predict, std::uint64_t seed, const SpaOutput& out, int n_threads) {
  const Index nL = static_cast<Index>(links.size());
  // PMF bookkeeping: owner link (-1 legacy) and first measurement of new PMFs.
  std::vector<int> owner(static_cast<std::size_t>(K), -1);
  std::vector<Index> first_m(static_cast<std::size_t>(K), -1);
  for (Index l = 0; l < nL; ++l)
    if (links[l].births)
      for (Index m = 0; m < links[l].m; ++m) {
        owner.push_back(static_cast<int>(l));
        first_m.push_back(m);
      }
  const Index Kt = static_cast<Index>(owner.size());
  const Index Pb = p.n_birth > 0 && p.n_birth < P ? p.n_birth : P;
  auto n_of = [&](Index k) { return k < K ? P : Pb; };
  Workspace& ws = workspace();
  double* X = ws.X.get(Kt * 3 * P);  // SoA: X[(k * 3 + d) * P + i]
  double* lam = ws.lam.get(Kt * P);
  std::vector<double> eta0(static_cast<std::size_t>(Kt));
  std::vector<char> alive(static_cast<std::size_t>(Kt), 1);
  for (Index k = K; k < Kt; ++k) eta0[k] = p.log_mu_n - link_mu(p, links[owner[k]]);  // (1.4)

  // 1. prediction of the legacy PMFs (1.2)
  parallel_for_chunks(K, n_threads, [&](Index lo, Index hi) {
    std::vector<double> tmp(static_cast<std::size_t>(3 * P));
    for (Index k = lo; k < hi; ++k) {
      double* xs = X + k * 3 * P;
      double* lw = lam + k * P;
      const double* xl = X_leg + k * P * 3;
      for (int d = 0; d < 3; ++d)
        for (Index i = 0; i < P; ++i) xs[d * P + i] = xl[3 * i + d];
      const double* ll = lam_leg + k * P;
      for (Index i = 0; i < P; ++i) lw[i] = ll[i] > kLogFloor ? ll[i] : kLogFloor;
      double eta = eta_leg[k];
      if (predict) {
        // eta' = logit(p_s sigmoid(eta)) without overflow
        eta = std::log(p.p_s) - softplus(-eta) - std::log((1 - p.p_s) + p.p_s / (1 + std::exp(eta)));
        if (p.sig_q > 0) {
          Rng rng(seed, kPredict, static_cast<std::uint64_t>(k));
          rng.normals(tmp.data(), 3 * P);
          for (Index i = 0; i < 3 * P; ++i) xs[i] += p.sig_q * tmp[i];
        }
      }
      eta0[k] = eta;
    }
  });

  // 2. legacy edges and their log-likelihood ratios (3.3 C)
  struct Edge {
    Index k, l, m;
    bool first;
    double logkappa;
    Index c = 0;  // candidate index: LL of the edge at LLc + c * P, Lr at Lrc + c * P
  };
  std::vector<LinkModel> models;
  for (const auto& l : links) models.emplace_back(p, l);
  // bounding sphere (centre = mean, radius = max distance) of each legacy PMF's particles
  std::vector<double> centre(static_cast<std::size_t>(3 * K), 0.0), radius(static_cast<std::size_t>(K), 0.0);
  parallel_for(K, n_threads, [&](Index k) {
    const double* xs = X + k * 3 * P;
    double c[3];
    for (int d = 0; d < 3; ++d) {
      double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      Index i = 0;
      for (; i + 8 <= P; i += 8)
        for (int j = 0; j < 8; ++j) s8[j] += xs[d * P + i + j];
      for (; i < P; ++i) s8[0] += xs[d * P + i];
      c[d] = (((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]))) /
             static_cast<double>(P);
    }
    double r2 = 0;
    for (Index i = 0; i < P; ++i) {
      const double a = xs[i] - c[0], b = xs[P + i] - c[1], e = xs[2 * P + i] - c[2];
      const double q = a * a + b * b + e * e;
      r2 = q > r2 ? q : r2;
    }
    for (int d = 0; d < 3; ++d) centre[3 * k + d] = c[d];
    radius[k] = std::sqrt(r2) * (1 + 1e-12) + 1e-12;
  });
  // new PMF k (measurement first_m[k] of its link) takes measurement m >= first_m[k] of its
  // own link within the birth gate
  auto birth_gate = [&](Index k, Index m) {
    const Link& lk = links[owner[k]];
    if (lk.kind == kBistatic) return std::abs(lk.z[m] - lk.z[first_m[k]]) <= p.gate_range;
    const double* a = lk.z + 3 * m;
    const double* b = lk.z + 3 * first_m[k];
    const double d2 = (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]);
    return d2 <= p.gate_distance * p.gate_distance;
  };
  std::vector<Edge> cand;
  for (Index l = 0; l < nL; ++l)
    for (Index k = 0; k < K; ++k)
      for (Index m = 0; m < links[l].m; ++m)
        if (models[static_cast<std::size_t>(l)].upper_bound(m, centre.data() + 3 * k, radius[k]) >= p.gate_log)
          cand.push_back({k, l, m, false, 0.0});
  const Index nCl = static_cast<Index>(cand.size());
  Index nCb_max = 0;  // birth candidates before censoring and the support check
  for (Index k = K; k < Kt; ++k)
    for (Index m = first_m[k]; m < links[owner[k]].m; ++m) nCb_max += birth_gate(k, m);
  // Linear-domain likelihoods Lr = e^{LL - lref} of kept edges (the iterations work on
  // them: a product of (1 + kappa L) and sums instead of softplus and log-sum-exp per edge).
  double* LLc = ws.LL.get((nCl + nCb_max) * P);
  double* Lrc = ws.Lr.get((nCl + nCb_max) * P);
  std::vector<char> keep(static_cast<std::size_t>(nCl + nCb_max), 0);
  std::vector<double> lmax(static_cast<std::size_t>(nCl + nCb_max), kNegInf);
  // lref[e]: the stored Lr of candidate e is e^{LL - lref[e]} (lref = max LL, or the link's
  // reference ref() when the raw linear form is kept: no normalising pass over the particles)
  std::vector<double> lref(static_cast<std::size_t>(nCl + nCb_max), kNegInf);
  // has_ll[e]: LLc holds the log-likelihoods of candidate e (first edges, and the rare edge
  // whose maximum is too close to the floor for the linear form); the others only need Lr.
  std::vector<char> has_ll(static_cast<std::size_t>(nCl + nCb_max), 0);
  // geometry of the new PMFs on their own link (draw_birth), 4 rows of P per PMF
  double* geo = nullptr;
  // Prior weights of every PMF: elw = e^{lam - mlam} (rows of P), mlam = max lam, slam =
  // log sum elw.  With all messages 1 (censoring, first iteration) the sums over particles
  // an edge needs are the constants of its PMF and d0 = sum_i elw_i Lr_i, which
  // likelihoods() takes while Lr is still in cache: no pass over the particles there.
  double* elw = ws.E.get(Kt * P);
  std::vector<double> mlam(static_cast<std::size_t>(Kt), kNegInf), slam(static_cast<std::size_t>(Kt), kNegInf);
  std::vector<double> d0(static_cast<std::size_t>(nCl + nCb_max), 0.0);
  auto prior_weights = [&](Index k) {
    const Index n = n_of(k);
    const double* lw = lam + k * P;
    double* el = elw + k * P;
    mlam[k] = max_of(lw, n);
    std::copy(lw, lw + n, el);
    slam[k] = lse_with_max(el, n, mlam[k]) - mlam[k];  // el = e^{lam - max}
  };
  parallel_for(K, n_threads, prior_weights);
  auto likelihoods = [&](Index e, Index n, bool first) {
    const Edge& ed = cand[e];
    const double* xs = X + ed.k * 3 * P;
    const LinkModel& md = models[static_cast<std::size_t>(ed.l)];
    double* lr = Lrc + e * P;
    const double* gk = ed.k >= K ? geo + (ed.k - K) * 4 * P : nullptr;
    if (!first) {
      const double mL = gk ? md.lik_g(ed.m, gk, P, n, lr) : md.lik(ed.m, xs, xs + P, xs + 2 * P, n, lr);
      const double mx = mL > 1e-300 ? md.ref() + std::log(mL) : kNegInf;
      if (mx > kLogFloor + 50) {  // e^{floor - mx} is below rounding: same as the log form
        keep[e] = mx >= p.gate_log;
        lmax[e] = mx;
        lref[e] = md.ref();
        if (keep[e] && mL < 1e-100) {  // normalise only where the raw form is far below 1
          const double s = 1.0 / mL;
          for (Index i = 0; i < n; ++i) lr[i] *= s;
          lref[e] = mx;
        }
        if (keep[e]) d0[e] = dot_of(elw + ed.k * P, lr, n);
        return;
      }
    }
    double* ll = LLc + e * P;
    const double mx = gk ? md.loglik_g(ed.m, gk, P, n, ll) : md.loglik(ed.m, xs, xs + P, xs + 2 * P, n, ll);
    has_ll[e] = 1;
    keep[e] = first || mx >= p.gate_log;
    lmax[e] = mx;
    lref[e] = mx;
    if (!keep[e]) return;
    for (Index i = 0; i < n; ++i) lr[i] = fastmath::exp(ll[i] - mx);
    d0[e] = dot_of(elw + ed.k * P, lr, n);
  };
  parallel_for(nCl, n_threads, [&](Index e) { likelihoods(e, P, false); });

  // per-(k,l) constants (3.7): log p_v, log(1 - p_v), mu
  struct KlConst {
    double lpv, l1pv, mu;
  };
  std::vector<KlConst> kc(static_cast<std::size_t>(Kt * nL));
  for (Index k = 0; k < Kt; ++k)
    for (Index l = 0; l < nL; ++l) {
      KlConst& c = kc[k * nL + l];
      if (k >= K) {  // owner link: visible by construction, e^{-mu} already in the prior
        c = {0.0, kNegInf, 0.0};
      } else {
        const double pv = links[l].pv;
        c = {std::log(pv), pv < 1 ? std::log1p(-pv) : kNegInf, link_mu(p, links[l])};
      }
    }
  // log of the visibility factor Phi_l of a legacy PMF when all messages are 1
  auto phi0 = [&](Index kl) {
    const KlConst c = kc[kl];
    return c.l1pv == kNegInf ? c.lpv - c.mu : logaddexp(c.l1pv, c.lpv - c.mu);
  };
  // c_other[k][l]: sum of phi0 over the other links of PMF k (a legacy PMF is connected to
  // every link, a new one to its own link only: 0), for censoring and the first iteration
  std::vector<double> c_other(static_cast<std::size_t>(Kt * nL), 0.0);
  for (Index k = 0; k < K; ++k)
    for (Index l = 0; l < nL; ++l)
      for (Index l2 = 0; l2 < nL; ++l2)
        if (l2 != l) c_other[k * nL + l] += phi0(k * nL + l2);

  // 3. censoring of new PMFs (Meyer et al. 2018): the measurement of a new PMF is associated
  // with the legacy PMFs with probability sum_k rho_km / (1 + sum_k rho_km) in a legacy-only
  // first iteration (all messages 1); above the threshold no new PMF is created.
  std::vector<char> censored(static_cast<std::size_t>(Kt), 0);
  if (p.censor_logit < std::numeric_limits<double>::infinity() && K > 0 && Kt > K) {
    const double logP = std::log(static_cast<double>(P));
    std::vector<double> logZ0(static_cast<std::size_t>(K * nL), 0.0);
    std::vector<char> need(static_cast<std::size_t>(K * nL), 0);
    for (Index e = 0; e < nCl; ++e)
      if (keep[e] && links[cand[e].l].births) need[cand[e].k * nL + cand[e].l] = 1;
    // Z0 and Z1 of an edge from the prior weights and d0 (log form only for edges that kept
    // their LL, or whose d0 underflows)
    for (Index kl = 0; kl < K * nL; ++kl)
      if (need[kl]) logZ0[kl] = c_other[kl] + phi0(kl) + mlam[kl / nL] + slam[kl / nL] - logP;
    std::vector<double> rho(static_cast<std::size_t>(nCl), kNegInf);
    parallel_for_chunks(nCl, n_threads, [&](Index lo, Index hi) {
      std::vector<double> w(static_cast<std::size_t>(P));
      for (Index e = lo; e < hi; ++e) {
        const Edge& ed = cand[e];
        const Index kl = ed.k * nL + ed.l;
        if (!keep[e] || !need[kl]) continue;
        const double a = c_other[kl] + (kc[kl].lpv - kc[kl].mu);
        const double* lw = lam + ed.k * P;
        double logZ1 = kNegInf;
        if (!has_ll[e] && d0[e] > 1e-300) logZ1 = a + lref[e] + mlam[ed.k] + std::log(d0[e]) - logP;
        if (logZ1 == kNegInf) {  // log form (also when the dot product underflows)
          const double* ll = LLc + e * P;
          if (!has_ll[e]) {
            const double* xs = X + ed.k * 3 * P;
            models[static_cast<std::size_t>(ed.l)].loglik(ed.m, xs, xs + P, xs + 2 * P, P, w.data());
            ll = w.data();
          }
          for (Index i = 0; i < P; ++i) w[i] = lw[i] + a + ll[i];
          logZ1 = lse(w.data(), P) - logP;
        }
        rho[e] = eta0[ed.k] + logZ1 - softplus(eta0[ed.k] + logZ0[kl]);
      }
    });
    std::vector<Index> m_off(static_cast<std::size_t>(nL + 1), 0);
    for (Index l = 0; l < nL; ++l) m_off[l + 1] = m_off[l] + links[l].m;
    std::vector<double> S(static_cast<std::size_t>(m_off[nL]), kNegInf);
    for (Index e = 0; e < nCl; ++e) {  // legacy order: the same sum as the NumPy twin
      const Index lm = m_off[cand[e].l] + cand[e].m;
      S[lm] = logaddexp(S[lm], rho[e]);
    }
    for (Index k = K; k < Kt; ++k) censored[k] = S[m_off[owner[k]] + first_m[k]] > p.censor_logit;
  }

  // 4. births (3.4) from the measurements that were not censored
  geo = ws.geo.get((Kt - K) * 4 * P);
  parallel_for_chunks(Kt - K, n_threads, [&](Index lo, Index hi) {
    std::vector<double> tmp(static_cast<std::size_t>(3 * Pb));
    for (Index k = K + lo; k < K + hi; ++k) {
      double* xs = X + k * 3 * P;
      double* lw = lam + k * P;
      const Link& l = links[owner[k]];
      if (censored[k]) {
        for (int d = 0; d < 3; ++d) std::fill(xs + d * P, xs + d * P + Pb, l.sensor[d]);
        std::fill(lw, lw + Pb, kLogFloor);
        alive[k] = 0;
        continue;
      }
      Rng rng(seed, kBirth, static_cast<std::uint64_t>(k));
      const Index n_ok = draw_birth(p, l, first_m[k], Pb, rng, xs, xs + P, xs + 2 * P, lw,
                                    geo + (k - K) * 4 * P, P, tmp.data());
      if (n_ok == 0) {
        alive[k] = 0;  // no birth support: drop (3.3 B)
        continue;
      }
      prior_weights(k);
    }
  });
  for (Index k = K; k < Kt; ++k) {
    if (!alive[k]) continue;
    for (Index m = first_m[k]; m < links[owner[k]].m; ++m)
      if (birth_gate(k, m)) cand.push_back({k, static_cast<Index>(owner[k]), m, m == first_m[k], 0.0});
  }
  const Index nC = static_cast<Index>(cand.size());
  parallel_for(nC - nCl, n_threads, [&](Index j) { likelihoods(nCl + j, Pb, cand[nCl + j].first); });
  std::vector<Edge> edges;
  // edge order (l, k, m), as the NumPy twin
  for (Index l = 0; l < nL; ++l)
    for (Index e = 0; e < nC; ++e)
      if (keep[e] && cand[e].l == l) {
        edges.push_back(cand[e]);
        edges.back().c = e;
      }
  const Index nE = static_cast<Index>(edges.size());
  auto LL_of = [&](Index e) -> const double* { return LLc + edges[e].c * P; };
  auto Lr_of = [&](Index e) -> const double* { return Lrc + edges[e].c * P; };

  // connectivity: per (k, l) list of edges; per (l, m) list of edges
  std::vector<char> conn(static_cast<std::size_t>(Kt * nL), 0);
  for (Index k = 0; k < Kt; ++k)
    for (Index l = 0; l < nL; ++l) conn[k * nL + l] = alive[k] && (k < K || owner[k] == l);
  std::vector<std::vector<Index>> by_kl(static_cast<std::size_t>(Kt * nL));
  std::vector<Index> m_off(static_cast<std::size_t>(nL + 1), 0);
  for (Index l = 0; l < nL; ++l) m_off[l + 1] = m_off[l] + links[l].m;
  std::vector<std::vector<Index>> by_lm(static_cast<std::size_t>(m_off[nL]));
  for (Index e = 0; e < nE; ++e) {
    by_kl[edges[e].k * nL + edges[e].l].push_back(e);
    by_lm[m_off[edges[e].l] + edges[e].m].push_back(e);
  }

  // Messages gamma_{m->k}(x_i) per edge: the factor q = 1 + kappa L of a general edge
  // (linear; not stored, D2 recomputes it from L), log gamma = max(log kappa + LL, floor) of
  // a first edge (log, stored in gE at row fidx[e]);
  // G[k][l] = sum_m log gamma = log of the product of the q (taken every `chunk` factors, so
  // the product cannot overflow) plus the first edge's log gamma; logPhi[k][l] and
  // O[k][l] = lam_k + sum_{l' != l} logPhi[k][l'] (the factors of the other links).
  std::vector<Index> fidx(static_cast<std::size_t>(nE), -1);
  Index nF = 0;
  for (Index e = 0; e < nE; ++e)
    if (edges[e].first) fidx[e] = nF++;
  double* gE = ws.g.get(nF * P);
  double* G = ws.G.get(Kt * nL * P);
  double* Phi = ws.Phi.get(Kt * nL * P);
  double* O = ws.O.get(Kt * nL * P);
  // zero_g: all messages are 1 (before the first iteration)
  // work items (kl, particle block): per-particle operations only, so any split gives the
  // same results; the split balances the edges x particles of the items over the threads
  constexpr Index kBlock = 2048;
  struct GItem {
    Index kl, lo, hi;
  };
  std::vector<GItem> g_items;
  for (Index kl = 0; kl < Kt * nL; ++kl)
    if (conn[kl])
      for (Index lo = 0, n = n_of(kl / nL); lo < n; lo += kBlock) g_items.push_back({kl, lo, std::min(n, lo + kBlock)});
  const Index nG = static_cast<Index>(g_items.size());
  // log of a bound below which kappa L (<= e^{log kappa + max LL}) leaves 1 + kappa L = 1
  // (2^-53 = 1.1e-16, half an ulp of 1; -36.8 < log 2^-53 = -36.74 leaves room for rounding)
  constexpr double kLogTinyFactor = -36.8;
  auto compute_G = [&](bool zero_g) {
    parallel_for_weighted(
        nG, n_threads,
        [&](Index j) {
          const GItem& it = g_items[j];
          return static_cast<double>(it.hi - it.lo) * static_cast<double>(zero_g ? 1 : 1 + by_kl[it.kl].size());
        },
        [&](Index jlo, Index jhi) {
      double prod_buf[kBlock];
      for (Index j = jlo; j < jhi; ++j) {
        const Index kl = g_items[j].kl, i0 = g_items[j].lo, n = g_items[j].hi - i0;
        const KlConst c = kc[kl];
        double* g = G + kl * P + i0;
        double* ph = Phi + kl * P + i0;
        double* prod = prod_buf;
        std::fill(g, g + n, 0.0);
        if (!zero_g) {
          double top = 0;  // log of the largest factor 1 + kappa e^{max LL}
          for (Index e : by_kl[kl])
            if (!edges[e].first) top = std::max(top, logaddexp(0.0, edges[e].logkappa + lmax[edges[e].c]));
          const Index chunk = std::max<Index>(1, static_cast<Index>(600.0 / std::max(top, 1.0)));
          Index count = 0;
          std::fill(prod, prod + n, 1.0);
          for (Index e : by_kl[kl]) {
            const double lk = edges[e].logkappa;
            if (edges[e].first) {
              double* ge = gE + fidx[e] * P + i0;
              const double* ll = LL_of(e) + i0;
              for (Index i = 0; i < n; ++i) {
                const double v = lk + ll[i];
                ge[i] = v > kLogFloor ? v : kLogFloor;
                g[i] += ge[i];
              }
              continue;
            }
            // every factor 1 + kappa L_i < 1 + 2^-53 rounds to 1: skip the edge (exact; after
            // the first iteration about a third of the edges of contested new PMFs)
            if (lk + lmax[edges[e].c] < kLogTinyFactor) continue;
            const double kap = std::exp(lk + lref[edges[e].c]);
            const double* lr = Lr_of(e) + i0;
            for (Index i = 0; i < n; ++i) prod[i] *= 1.0 + kap * lr[i];  // D2 recomputes q
            if (++count == chunk) {
              for (Index i = 0; i < n; ++i) {
                g[i] += fastmath::log(prod[i]);
                prod[i] = 1.0;
              }
              count = 0;
            }
          }
          if (count > 0)
            for (Index i = 0; i < n; ++i) g[i] += fastmath::log(prod[i]);
        }
        const double a = c.lpv - c.mu;
        if (c.l1pv == kNegInf)
          for (Index i = 0; i < n; ++i) ph[i] = a + g[i];
        else
          for (Index i = 0; i < n; ++i) ph[i] = logaddexp_v(c.l1pv, a + g[i]);
      }
    });
    parallel_for(Kt * nL, n_threads, [&](Index kl) {
      if (!conn[kl]) return;
      const Index k = kl / nL, l = kl % nL, n = n_of(k);
      double* o = O + kl * P;
      std::copy(lam + k * P, lam + k * P + n, o);
      for (Index l2 = 0; l2 < nL; ++l2)
        if (l2 != l && conn[k * nL + l2]) {
          const double* ph = Phi + (k * nL + l2) * P;
          for (Index i = 0; i < n; ++i) o[i] += ph[i];
        }
    });
  };

  std::vector<double> logrho(static_cast<std::size_t>(nE), kNegInf);
  std::vector<double> logZ0_init(static_cast<std::size_t>(Kt * nL), 0.0);
  std::vector<double> logn(static_cast<std::size_t>(Kt));
  for (Index k = 0; k < Kt; ++k) logn[k] = std::log(static_cast<double>(n_of(k)));
  // per (k, l): B = e^{H - Mh}, H = O + log p_v - mu + G (the edge-independent part of the
  // extrinsic weights), and logC0 = log(1 - p_v) + LSE(O) (the invisible branch of Z0)
  double* Bk = ws.B.get(Kt * nL * P);
  std::vector<double> Mh(static_cast<std::size_t>(Kt * nL), 0.0), logC0(static_cast<std::size_t>(Kt * nL), kNegInf);
  // sum_i a_i b_i / q_i and sum_i a_i / q_i with q_i = 1 + kap b_i (kap >= 0), 8 partial
  // sums (vectorisable)
  auto dot = [](const double* a, const double* b, double kap, Index n, double& s0) {
    double p1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, p0[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    Index i = 0;
#if defined(SKYSENSE_ISA_AVX512)
    // 1/q from vrcp14pd and two Newton steps (relative error 2^-56: within an ulp of the
    // division, at less than half the cost of vdivpd; q >= 1, so no special cases)
    __m512d v0 = _mm512_setzero_pd(), v1 = _mm512_setzero_pd();
    const __m512d vk = _mm512_set1_pd(kap), one = _mm512_set1_pd(1.0), two = _mm512_set1_pd(2.0);
    for (; i + 8 <= n; i += 8) {
      const __m512d bv = _mm512_loadu_pd(b + i);
      const __m512d q = _mm512_fmadd_pd(vk, bv, one);
      __m512d r = _mm512_maskz_rcp14_pd(0xFF, q);  // (maskz: no -Wmaybe-uninitialized)
      r = _mm512_mul_pd(r, _mm512_fnmadd_pd(q, r, two));
      r = _mm512_mul_pd(r, _mm512_fnmadd_pd(q, r, two));
      const __m512d ar = _mm512_mul_pd(_mm512_loadu_pd(a + i), r);
      v0 = _mm512_add_pd(v0, ar);
      v1 = _mm512_fmadd_pd(ar, bv, v1);
    }
    _mm512_storeu_pd(p0, v0);
    _mm512_storeu_pd(p1, v1);
#endif
    for (; i + 8 <= n; i += 8)
      for (int j = 0; j < 8; ++j) {
        const double r = a[i + j] / (1.0 + kap * b[i + j]);
        p0[j] += r;
        p1[j] += r * b[i + j];
      }
    for (; i < n; ++i) {
      const double r = a[i] / (1.0 + kap * b[i]);
      p0[0] += r;
      p1[0] += r * b[i];
    }
    s0 = ((p0[0] + p0[1]) + (p0[2] + p0[3])) + ((p0[4] + p0[5]) + (p0[6] + p0[7]));
    return ((p1[0] + p1[1]) + (p1[2] + p1[3])) + ((p1[4] + p1[5]) + (p1[6] + p1[7]));
  };
  for (int t = 0; t < p.n_iter; ++t) {
    if (t == 0) {
      // All messages are 1: G = 0, Phi[k][l] = phi0, O[k][l] = lam + c_other[k][l], so B = e^{O - max O} = elw, Z0 of an edge depends on its
      // (k, l) only, and Z1 = sum_i B_i Lr_i = d0: no pass over the particles.
      for (Index kl = 0; kl < Kt * nL; ++kl) {
        if (!conn[kl] || by_kl[kl].empty()) continue;
        const Index k = kl / nL;
        logZ0_init[kl] = mlam[k] + c_other[kl] + phi0(kl) + slam[k] - logn[k];
        Mh[kl] = mlam[k] + c_other[kl] + (kc[kl].lpv - kc[kl].mu);
      }
      for (Index e = 0; e < nE; ++e) {
        const Edge& ed = edges[e];
        const Index kl = ed.k * nL + ed.l;
        const double logZ1 = Mh[kl] + lref[ed.c] + std::log(d0[ed.c]) - logn[ed.k];
        logrho[e] = ed.first ? eta0[ed.k] + logZ1
                             : eta0[ed.k] + logZ1 - softplus(eta0[ed.k] + logZ0_init[kl]);
      }
    } else {
      compute_G(false);
      // edge-independent parts, per (k, l)
      parallel_for_chunks(Kt * nL, n_threads, [&](Index lo, Index hi) {
        std::vector<double> w(static_cast<std::size_t>(P));
        for (Index kl = lo; kl < hi; ++kl) {
          if (!conn[kl] || by_kl[kl].empty()) continue;
          const Index n = n_of(kl / nL);
          const KlConst c = kc[kl];
          const double* o = O + kl * P;
          double* b = Bk + kl * P;
          const double* g = G + kl * P;
          const double a0 = c.lpv - c.mu;
          for (Index i = 0; i < n; ++i) b[i] = o[i] + a0 + g[i];
          const double mx = max_of(b, n);
          for (Index i = 0; i < n; ++i) b[i] = fastmath::exp(b[i] - mx);
          Mh[kl] = mx;
          if (c.l1pv != kNegInf) {
            std::copy(o, o + n, w.begin());
            logC0[kl] = c.l1pv + lse(w.data(), n);
          }
        }
      });
      // D2: PMF -> association messages, per edge
      parallel_for_chunks(nE, n_threads, [&](Index lo, Index hi) {
        std::vector<double> w1(static_cast<std::size_t>(P));
        for (Index e = lo; e < hi; ++e) {
          const Edge& ed = edges[e];
          const Index kl = ed.k * nL + ed.l, n = n_of(ed.k);
          const KlConst c = kc[kl];
          const double* b = Bk + kl * P;
          const double lmx = lref[ed.c];
          double logZ1, logZ0 = logZ0_init[kl], s0 = 0;
          if (ed.first) {
            // extrinsic: G - g_e, in log form (g_e = max(log kappa + LL, floor))
            const double* o = O + kl * P;
            const double* g = G + kl * P;
            const double* ge = gE + fidx[e] * P;
            const double* ll = LL_of(e);
            const double a0 = c.lpv - c.mu;
            for (Index i = 0; i < n; ++i) w1[i] = o[i] + (a0 + (g[i] - ge[i])) + ll[i];
            logZ1 = lse(w1.data(), n) - logn[ed.k];
          } else {
            // extrinsic weights e^{H} / q_e: Z1 = sum B L / q, Z0 = sum B / q (+ the invisible branch)
            const double s1 = dot(b, Lr_of(e), std::exp(ed.logkappa + lmx), n, s0);
            logZ1 = Mh[kl] + lmx + std::log(s1) - logn[ed.k];
            const double z0v = Mh[kl] + std::log(s0);
            logZ0 = (c.l1pv == kNegInf ? z0v : logaddexp(logC0[kl], z0v)) - logn[ed.k];
          }
          if (ed.first)
            logrho[e] = eta0[ed.k] + logZ1;
          else
            logrho[e] = eta0[ed.k] + logZ1 - softplus(eta0[ed.k] + logZ0);
        }
      });
    }
    // D3: association -> PMF, leave-one-out per measurement via prefix/suffix LSE
    parallel_for(m_off[nL], n_threads, [&](Index lm) {
      const auto& es = by_lm[lm];
      const Index n = static_cast<Index>(es.size());
      std::vector<double> pre(static_cast<std::size_t>(n + 1), kNegInf), suf(static_cast<std::size_t>(n + 1), kNegInf);
      for (Index a = 0; a < n; ++a) pre[a + 1] = logaddexp(pre[a], logrho[es[a]]);
      for (Index a = n - 1; a >= 0; --a) suf[a] = logaddexp(suf[a + 1], logrho[es[a]]);
      for (Index a = 0; a < n; ++a) {
        const double loo = logaddexp(0.0, logaddexp(pre[a], suf[a + 1]));
        edges[es[a]].logkappa = std::max(-loo, kLogFloor);
      }
    });
  }
  compute_G(p.n_iter == 0);

  // E. beliefs, existence, MMSE (pass 1), resampling (pass 2: n particles -> P).  With
  // out.prune, PMFs with posterior log-odds < log_prune are not written: the survivors fill
  // the first rows of X_out in order.
  double* W = ws.W.get(Kt * P);  // normalised posterior weights e^{S - A}
  parallel_for_chunks(Kt, n_threads, [&](Index lo, Index hi) {
    std::vector<double> S(static_cast<std::size_t>(P));
    for (Index k = lo; k < hi; ++k) {
      const Index n = n_of(k);
      const double* xs = X + k * 3 * P;
      const double* lw = lam + k * P;
      double* w = W + k * P;
      // rows of new PMFs with n < P are padded cyclically (log weights -inf)
      if (out.X_in)
        for (Index i = 0, j = 0; i < P; ++i, j = j + 1 == n ? 0 : j + 1)
          for (int d = 0; d < 3; ++d) out.X_in[(k * P + i) * 3 + d] = xs[d * P + j];
      if (out.lam_in) {
        std::copy(lw, lw + n, out.lam_in + k * P);
        std::fill(out.lam_in + k * P + n, out.lam_in + (k + 1) * P, kNegInf);
      }
      if (out.eta_in) out.eta_in[k] = eta0[k];
      if (!alive[k]) {
        out.eta_out[k] = kNegInf;
        for (int d = 0; d < 3; ++d) out.x_hat[3 * k + d] = std::numeric_limits<double>::quiet_NaN();
        if (out.S) std::fill(out.S + k * P, out.S + (k + 1) * P, kNegInf);
        continue;
      }
      // O[k][l] + Phi[k][l] = lam + sum over all connected links of logPhi
      Index l_any = -1;
      for (Index l = 0; l < nL; ++l)
        if (conn[k * nL + l]) l_any = l;
      if (l_any < 0) {
        std::copy(lw, lw + n, S.begin());
      } else {
        const double* o = O + (k * nL + l_any) * P;
        const double* ph = Phi + (k * nL + l_any) * P;
        for (Index i = 0; i < n; ++i) S[i] = o[i] + ph[i];
      }
      if (out.S) {
        std::copy(S.begin(), S.begin() + n, out.S + k * P);
        std::fill(out.S + k * P + n, out.S + (k + 1) * P, kNegInf);
      }
      std::copy(S.begin(), S.begin() + n, w);
      const double mxS = max_of(S.data(), n);
      const double A = lse_with_max(w, n, mxS);
      out.eta_out[k] = eta0[k] + A - logn[k];
      if (out.prune && out.eta_out[k] < p.log_prune) {  // not returned: no estimate, no weights
        for (int d = 0; d < 3; ++d) out.x_hat[3 * k + d] = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      const double scale = std::exp(-(A - mxS));
      double xh[3];
      for (Index i = 0; i < n; ++i) w[i] *= scale;  // exp(S_i - A)
      for (int d = 0; d < 3; ++d) {
        double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        Index i = 0;
        for (; i + 8 <= n; i += 8)
          for (int j = 0; j < 8; ++j) s8[j] += w[i + j] * xs[d * P + i + j];
        for (; i < n; ++i) s8[0] += w[i] * xs[d * P + i];
        xh[d] = ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
      }
      for (int d = 0; d < 3; ++d) out.x_hat[3 * k + d] = xh[d];
    }
  });
  // output row of each PMF (-1: not written)
  std::vector<Index> row(static_cast<std::size_t>(Kt));
  Index n_rows = 0;
  for (Index k = 0; k < Kt; ++k) row[k] = !out.prune || out.eta_out[k] >= p.log_prune ? n_rows++ : -1;
  parallel_for_chunks(Kt, n_threads, [&](Index lo, Index hi) {
    std::vector<double> nrm(static_cast<std::size_t>(3 * P));
    std::vector<Index> idx(static_cast<std::size_t>(P));
    for (Index k = lo; k < hi; ++k) {
      if (row[k] < 0) continue;
      const Index n = n_of(k);
      const double* xs = X + k * 3 * P;
      double* xo = out.X_out + row[k] * P * 3;
      if (!alive[k] || out.eta_out[k] < p.log_prune) {  // pruned by the caller: not resampled
        for (Index i = 0, j = 0; i < P; ++i, j = j + 1 == n ? 0 : j + 1)
          for (int d = 0; d < 3; ++d) xo[3 * i + d] = xs[d * P + j];
        continue;
      }
      Rng rng(seed, kResample, static_cast<std::uint64_t>(k));
      systematic_resample(W + k * P, n, P, rng.uniform(), idx.data());
      rng.normals(nrm.data(), 3 * P);
      for (Index i = 0; i < P; ++i)
        for (int d = 0; d < 3; ++d) xo[3 * i + d] = xs[d * P + idx[i]] + p.sig_reg * nrm[3 * i + d];
    }
  });
}

}  // namespace SKYSENSE_ISA_NS
}  // namespace skysense::mapping
