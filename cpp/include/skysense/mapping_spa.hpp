// Per-epoch particle sum-product module of the VA mapper (mapping paper, Secs. III-IV;
// docs/mapping_model.md explains the pieces the paper leaves open).
//
// One call = one BS and one stage of a scheme.  It runs the stages of ModuleCall in this
// order; each is mirrored, stage by stage, by a function of
// python/skysense/mapping/_spa_numpy.py (tests/mapping/test_spa_stages.py compares them):
//   1. predict_legacy_pmfs    survival and position noise of the legacy PMFs, eqs. (12)-(17)
//   2. add_legacy_edges       legacy PMF - measurement edges and their likelihood ratios,
//                             eqs. (18)-(20), (24), (29)
//   3. censor_new_pmfs        birth measurements the legacy PMFs explain start no PMF (docs 5.3)
//   4. draw_new_pmfs          one new PMF per birth-link measurement, eq. (27) (docs 4)
//   5. add_new_pmf_edges      gated edges of the new PMFs, eqs. (28)-(29)
//   6. iterate_messages       T iterations of the association messages (Sec. IV-D; docs 5.2)
//   7. beliefs_and_estimates  posterior existence log-odds and MMSE positions (Sec. IV-A)
//   8. resample_pmfs          systematic resampling with jitter (docs 5.5)
// With new PMFs on fewer particles than P (n_birth_particles), confirm_new_pmfs runs between 7
// and 8: new PMFs that may survive are redrawn on P particles and stages 6-7 run again (docs 4.5).
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
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "skysense/cancel.hpp"
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

// Pairwise sum of 8 partial sums (the fixed order every reduction here uses).
inline double sum8(const double* s8) {
  return ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
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

// sum_i a_i, 8 partial sums (vectorisable; the order is fixed, so results are too).
inline double sum_of(const double* a, Index n) {
  double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  Index i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s8[j] += a[i + j];
  for (; i < n; ++i) s8[0] += a[i];
  return sum8(s8);
}

// sum_i a_i b_i, 8 partial sums (vectorisable; the order is fixed, so results are too).
inline double dot_of(const double* a, const double* b, Index n) {
  double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  Index i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s8[j] += a[i + j] * b[i + j];
  for (; i < n; ++i) s8[0] += a[i] * b[i];
  return sum8(s8);
}

// log sum_i exp(a_i) given mx = max_i a_i; overwrites a with exp(a_i - mx).
inline double lse_with_max(double* a, Index n, double mx) {
  if (mx == kNegInf) return kNegInf;
  for (Index i = 0; i < n; ++i) a[i] = fastmath::exp(a[i] - mx);
  return mx + std::log(sum_of(a, n));
}

inline double lse(double* a, Index n) { return lse_with_max(a, n, max_of(a, n)); }

// sum_i a_i b_i / q_i and (in s0) sum_i a_i / q_i with q_i = 1 + kappa b_i, kappa >= 0, 8
// partial sums (vectorisable): the extrinsic sums Z1 and Z0 of a general edge (docs 5.2).
inline double extrinsic_sums(const double* a, const double* b, double kappa, Index n,
                             double& s0) {
  double p1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, p0[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  Index i = 0;
#if defined(SKYSENSE_ISA_AVX512)
  // 1/q from vrcp14pd and two Newton steps (relative error 2^-56: within an ulp of the
  // division, at less than half the cost of vdivpd; q >= 1, so no special cases)
  __m512d v0 = _mm512_setzero_pd(), v1 = _mm512_setzero_pd();
  const __m512d vk = _mm512_set1_pd(kappa), one = _mm512_set1_pd(1.0), two = _mm512_set1_pd(2.0);
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
      const double r = a[i + j] / (1.0 + kappa * b[i + j]);
      p0[j] += r;
      p1[j] += r * b[i + j];
    }
  for (; i < n; ++i) {
    const double r = a[i] / (1.0 + kappa * b[i]);
    p0[0] += r;
    p1[0] += r * b[i];
  }
  s0 = sum8(p0);
  return sum8(p1);
}

// ---------------------------------------------------------------------------- likelihood ratios
// Likelihood ratio of one link against clutter, L(z | x) = mu f(z | x) / (mu_fa f_fa(z))
// (eqs. (18)-(20) over the clutter density of eq. (24); docs/mapping_model.md, section 2),
// with its per-link constants hoisted out of the particle loops.
struct LinkLikelihood {
  int kind = kBistatic;
  bool diffuse = true;
  double sensor_m[3] = {0, 0, 0};
  const double* measurements = nullptr;
  // bistatic: log mu_s - log(sqrt(2 pi) sigma_r) - log clutter density, log mu_d + log(lambda/2)
  // - log clutter density, and the constants of the exponentially modified Gaussian (eq. (19))
  double log_specular_coef = 0, log_diffuse_coef = 0, inv_two_var = 0;
  double range_std = 1, excess_rate = 1, rate_var = 0, inv_sqrt2_std = 0, half_rate2_var = 0;
  // monostatic: log mu_m - log(sqrt(2 pi) sigma_z) - log A_f - log clutter density (eq. (20))
  double log_monostatic_coef = 0;
  // max of the two bistatic coefficients and the three ratios of their exponentials
  double log_coef_max = 0, specular_weight = 1, diffuse_weight = 1, specular_over_diffuse = 1;
  // angle-aided bistatic link (ours; docs/pipeline.md): (sin AoA, std, sin AoD, std) per
  // measurement, the ULA axes, the BS, and per measurement the log of the angle factor's peak
  // over its clutter density, log 4 - log(2 pi s_a s_d) (clutter uniform on [-1, 1]^2 in sines)
  const double* angles = nullptr;
  double uav_axis[3] = {1, 0, 0}, bs_axis[3] = {1, 0, 0}, bs_m[3] = {0, 0, 0};
  std::vector<double> log_angle_coef;

  LinkLikelihood(const SpaParams& p, const Link& l)
      : kind(l.kind), diffuse(l.diffuse), measurements(l.measurements) {
    for (int d = 0; d < 3; ++d) sensor_m[d] = l.sensor_m[d];
    if (kind == kBistatic) {
      range_std = p.range_std_m;
      excess_rate = p.excess_rate_per_m;
      inv_two_var = 1.0 / (2 * range_std * range_std);
      log_specular_coef = std::log(p.specular_mpc_mean) -
                          0.5 * (kLog2Pi + std::log(range_std * range_std)) -
                          p.log_clutter_density_bistatic;  // eq. (18) / clutter
      log_diffuse_coef = std::log(p.diffuse_mpc_mean) + std::log(excess_rate / 2) -
                         p.log_clutter_density_bistatic;  // eq. (19) / clutter
      rate_var = excess_rate * range_std * range_std;
      inv_sqrt2_std = 1.0 / (std::sqrt(2.0) * range_std);
      half_rate2_var = 0.5 * excess_rate * excess_rate * range_std * range_std;
      log_coef_max = std::max(log_specular_coef, log_diffuse_coef);
      specular_weight = std::exp(log_specular_coef - log_coef_max);
      diffuse_weight = std::exp(log_diffuse_coef - log_coef_max);
      specular_over_diffuse = std::exp(std::min(log_specular_coef - log_diffuse_coef, 700.0));
      if (l.angles) {
        angles = l.angles;
        for (int d = 0; d < 3; ++d) {
          uav_axis[d] = l.uav_axis[d];
          bs_axis[d] = l.bs_axis[d];
          bs_m[d] = l.bs_m[d];
        }
        log_angle_coef.resize(static_cast<std::size_t>(l.n_measurements));
        for (Index m = 0; m < l.n_measurements; ++m)
          log_angle_coef[m] = std::log(4.0) - std::log(2 * kPi * angles[4 * m + 1] * angles[4 * m + 3]);
      }
    } else {
      inv_two_var = 1.0 / (2 * p.position_std_m * p.position_std_m);
      log_monostatic_coef = std::log(p.monostatic_mpc_mean) -
                            0.5 * (kLog2Pi + std::log(p.position_std_m * p.position_std_m)) -
                            p.log_facade_area - p.log_clutter_density_monostatic;  // eq. (20)
    }
  }
  // Upper bound of log L(z_m | x) over the ball ||x - centre|| <= radius (rigorous; +inf if
  // unknown).  Used to skip legacy edges whose likelihood is below the gate everywhere, which
  // the max-ratio gate would drop anyway, so results are unchanged.
  double log_ratio_upper_bound(Index m, const double* centre, double radius) const {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    double v[3], dist = 0;
    for (int d = 0; d < 3; ++d) {
      v[d] = centre[d] - sensor_m[d];
      dist += v[d] * v[d];
    }
    dist = std::sqrt(dist);
    if (kind == kBistatic) {
      // residual r = z - h over the ball, h = |x - u| (eq. (9))
      const double r_lo = measurements[m] - (dist + radius), r_hi = measurements[m] - (dist - radius);
      const double ang = angles ? log_angle_coef[m] : 0.0;  // the angle factor is <= its peak
      if (r_hi < 0) {  // every r < 0: both terms <= const - r^2 / (2 sig^2) (erfcx <= 1)
        const double top = diffuse ? logaddexp(log_specular_coef, log_diffuse_coef) : log_specular_coef;
        return top + ang - r_hi * r_hi * inv_two_var;
      }
      if (r_lo > 0) {  // every r > 0: Gaussian tail, and EMG <= c_d - lam r + lam^2 sig^2/2 + log 2
        const double specular = log_specular_coef + ang - r_lo * r_lo * inv_two_var;
        if (!diffuse) return specular;
        return logaddexp(specular, log_diffuse_coef + ang - excess_rate * r_lo + half_rate2_var + 0.6931471805599453);
      }
      return kInf;
    }
    if (!(dist > radius) || !(dist > 0)) return kInf;
    // d(x) = n(x).(z - pB) - |x - pB| / 2 (eq. (11)); |n(x) - n(c)| <= 2 R / |c - pB|
    const double* zt = measurements + 3 * m;
    double w[3], nw = 0, ndotw = 0;
    for (int d = 0; d < 3; ++d) {
      w[d] = zt[d] - sensor_m[d];
      nw += w[d] * w[d];
      ndotw += v[d] / dist * w[d];
    }
    nw = std::sqrt(nw);
    const double d_c = ndotw - 0.5 * dist;
    const double d_min = std::abs(d_c) - 0.5 * radius - 2 * radius * nw / dist;
    if (d_min <= 0) return log_monostatic_coef;
    return log_monostatic_coef - d_min * d_min * inv_two_var;
  }

  // The per-particle bistatic specular + diffuse log ratio of residual r = z - h (floored; see
  // log_ratios) and its linear form relative to log_reference() (see scaled_ratios), shared by
  // the particle and geometry forms.
  [[gnu::always_inline]] double bistatic_log_ratio(double r) const {
    const double v = bistatic_log_ratio_raw(r);
    return v > kLogFloor ? v : kLogFloor;
  }
  // the same without the floor
  [[gnu::always_inline]] double bistatic_log_ratio_raw(double r) const {
    const double t = (rate_var - r) * inv_sqrt2_std;
    const bool pos = t > 0;
    const double ex = fastmath::erfcx_pos(pos ? t : -t);
    const double et = fastmath::exp(-t * t);
    const double arg = pos ? specular_weight + diffuse_weight * ex
                           : specular_over_diffuse * et + (2.0 - ex * et);
    const double base = pos ? log_coef_max - r * r * inv_two_var
                            : log_diffuse_coef - excess_rate * r + half_rate2_var;
    return base + fastmath::log(arg);
  }
  [[gnu::always_inline]] double bistatic_scaled_ratio(double r) const {
    const double t = (rate_var - r) * inv_sqrt2_std;
    const bool pos = t > 0;
    const double ex = fastmath::erfcx_pos(pos ? t : -t);
    const double eq = fastmath::exp(-r * r * inv_two_var);
    const double u = half_rate2_var - excess_rate * r;
    const double el = fastmath::exp(u < 0 ? u : 0.0);  // t <= 0 implies u < 0
    return specular_weight * eq + diffuse_weight * (pos ? ex * eq : 2.0 * el - ex * eq);
  }
  // out[i] = max(log L(z_m | x_i), kLogFloor) for n particles in SoA (xs, ys, zs); returns
  // max_i out[i].  Bistatic specular + diffuse (eqs. (18) + (19)), r = z - h, q = r^2 / (2
  // sig^2), t = (lam sig^2 - r) / (sqrt(2) sig), in one logarithm (the two exponents differ
  // by t^2):
  //   t > 0:  LL = -q + log(e^{c_s} + e^{c_d} erfcx(t))
  //   t <= 0: LL = c_d - lam r + lam^2 sig^2 / 2 + log(e^{c_s - c_d} e^{-t^2} + erfc(t)),
  // with erfc(t) = 2 - erfcx(-t) e^{-t^2} (no cancellation: the subtrahend is <= 1).
  [[gnu::noinline]] double log_ratios(Index m, const double* xs, const double* ys,
                                      const double* zs, Index n, double* out) const {
    return log_ratios_from(m, Particles{xs, ys, zs}, n, out);
  }
  // Reference of scaled_ratios(): log L = log_reference() + log(scaled ratio).
  double log_reference() const {
    return kind == kBistatic ? (diffuse ? log_coef_max : log_specular_coef) : log_monostatic_coef;
  }
  // Reference of measurement m: log_reference() plus, on an angle-aided link, the peak of m's
  // angle factor.
  double log_reference(Index m) const { return log_reference() + (angles ? log_angle_coef[m] : 0.0); }

  // Linear form of log_ratios without its floor: out[i] = e^{log L(z_m | x_i) -
  // log_reference()} (0 where it underflows); returns max_i out[i].  One exp fewer than
  // log_ratios + e^{LL - max} and no log: with q = r^2 / (2 sig^2), e^{-q} = e^{lam^2 sig^2 /
  // 2 - lam r} e^{-t^2}, so
  //   t > 0:  out = e^{-q} (a_s + a_d erfcx(t))
  //   t <= 0: out = a_s e^{-q} + a_d (2 e^{lam^2 sig^2 / 2 - lam r} - erfcx(-t) e^{-q})
  // (the bracket is e^{lam^2 sig^2/2 - lam r} (2 - erfcx(-t) e^{-t^2}) >= its first term / 2:
  // no cancellation).
  [[gnu::noinline]] double scaled_ratios(Index m, const double* xs, const double* ys,
                                         const double* zs, Index n, double* out) const {
    return scaled_ratios_from(m, Particles{xs, ys, zs}, n, out);
  }

  // log_ratios and scaled_ratios from the geometry of a new PMF's particles on its own link
  // (place_new_pmf).
  [[gnu::noinline]] double log_ratios_from_geometry(Index m, const double* g, Index stride,
                                                    Index n, double* out) const {
    return log_ratios_from(m, Geometry{g, stride}, n, out);
  }
  [[gnu::noinline]] double scaled_ratios_from_geometry(Index m, const double* g, Index stride,
                                                       Index n, double* out) const {
    return scaled_ratios_from(m, Geometry{g, stride}, n, out);
  }

 private:
  // Where the per-particle residuals come from: the particles (SoA) or their geometry (rows
  // of stride st, see place_new_pmf).
  struct Particles {
    const double *xs, *ys, *zs;
  };
  struct Geometry {
    const double* g;
    Index st;
  };
  // f(i, r) with the bistatic range residual r = z_m - |x_i - u| (eq. (9)).
  template <class F>
  void each_range(Index m, Particles p, Index n, F f) const {
    const double zm = measurements[m], s0 = sensor_m[0], s1 = sensor_m[1], s2 = sensor_m[2];
    for (Index i = 0; i < n; ++i) {
      const double dx = p.xs[i] - s0, dy = p.ys[i] - s1, dz = p.zs[i] - s2;
      f(i, zm - std::sqrt(dx * dx + dy * dy + dz * dz));
    }
  }
  template <class F>
  void each_range(Index m, Geometry g, Index n, F f) const {
    const double zm = measurements[m];
    for (Index i = 0; i < n; ++i) f(i, zm - g.g[i]);
  }
  // f(i, r, a) on an angle-aided link: r as each_range, a = -(s_a - sin AoA(x_i))^2 / (2
  // std_a^2) - (s_d - sin AoD(x_i))^2 / (2 std_d^2), the log angle factor less its peak (ours;
  // docs/pipeline.md).  With v = x - u, h = |v|: sin AoA = uav_axis . v / h; the wave leaves
  // the BS b towards the mirror image of u in the facade (the perpendicular bisector of b and
  // x), direction M (u - x), M = I - 2 n n^T, n = (b - x) / |b - x|, of length h, so sin AoD =
  // bs_axis . M (u - x) / h.  A particle at u or at b has no angle: a at the floor.
  template <class F>
  void each_range_angle(Index m, Particles p, Index n, F f) const {
    const double zm = measurements[m], s0 = sensor_m[0], s1 = sensor_m[1], s2 = sensor_m[2];
    const double* am = angles + 4 * m;
    const double sa = am[0], ia = 1.0 / (2 * am[1] * am[1]), sd = am[2], id = 1.0 / (2 * am[3] * am[3]);
    const double a0 = uav_axis[0], a1 = uav_axis[1], a2 = uav_axis[2];
    const double c0 = bs_axis[0], c1 = bs_axis[1], c2 = bs_axis[2];
    const double b0 = bs_m[0], b1 = bs_m[1], b2 = bs_m[2];
    for (Index i = 0; i < n; ++i) {
      const double dx = p.xs[i] - s0, dy = p.ys[i] - s1, dz = p.zs[i] - s2;
      const double h2 = dx * dx + dy * dy + dz * dz, h = std::sqrt(h2);
      const double ex = b0 - p.xs[i], ey = b1 - p.ys[i], ez = b2 - p.zs[i];
      const double e2 = ex * ex + ey * ey + ez * ez;
      // w = u - x = -v; M w = w - 2 (w.e / |e|^2) e
      const double k = e2 > 0 ? 2 * (-(dx * ex + dy * ey + dz * ez)) / e2 : 0.0;
      const double ih = h2 > 0 ? 1.0 / h : 0.0;
      const double pa = (a0 * dx + a1 * dy + a2 * dz) * ih;
      const double pd = (c0 * (-dx - k * ex) + c1 * (-dy - k * ey) + c2 * (-dz - k * ez)) * ih;
      const double a = -(sa - pa) * (sa - pa) * ia - (sd - pd) * (sd - pd) * id;
      f(i, zm - h, h2 > 0 && e2 > 0 ? a : 2 * kLogFloor);
    }
  }
  // geometry form: rows h, sin AoA, sin AoD of stride st (place_new_pmf)
  template <class F>
  void each_range_angle(Index m, Geometry g, Index n, F f) const {
    const double zm = measurements[m];
    const double* am = angles + 4 * m;
    const double sa = am[0], ia = 1.0 / (2 * am[1] * am[1]), sd = am[2], id = 1.0 / (2 * am[3] * am[3]);
    const double* ga = g.g + g.st;
    const double* gd = g.g + 2 * g.st;
    for (Index i = 0; i < n; ++i)
      f(i, zm - g.g[i], -(sa - ga[i]) * (sa - ga[i]) * ia - (sd - gd[i]) * (sd - gd[i]) * id);
  }
  // f(i, d, ok) with the monostatic signed distance d of the pseudo-position from the plane
  // of x_i (eqs. (10)-(11)); ok = false at x_i = s, where the particle form has no normal
  // (the geometry form's sentinel makes d huge instead).
  template <class F>
  void each_distance(Index m, Particles p, Index n, F f) const {
    const double s0 = sensor_m[0], s1 = sensor_m[1], s2 = sensor_m[2];
    const double* zt = measurements + 3 * m;
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
    const double* zt = measurements + 3 * m;
    const double w0 = zt[0] - sensor_m[0], w1 = zt[1] - sensor_m[1], w2 = zt[2] - sensor_m[2];
    const Index st = g.st;
    for (Index i = 0; i < n; ++i)
      f(i, g.g[i] * w0 + g.g[st + i] * w1 + g.g[2 * st + i] * w2 - g.g[3 * st + i], true);
  }

  template <class Src>
  double log_ratios_from(Index m, Src src, Index n, double* out) const {
    if (kind == kBistatic && angles) {
      const double ca = log_angle_coef[m];
      if (!diffuse)
        each_range_angle(m, src, n, [&](Index i, double r, double a) {
          const double v = log_specular_coef + ca + a - r * r * inv_two_var;  // eq. (18) x angles
          out[i] = v > kLogFloor ? v : kLogFloor;
        });
      else
        each_range_angle(m, src, n, [&](Index i, double r, double a) {
          const double v = bistatic_log_ratio_raw(r) + ca + a;
          out[i] = v > kLogFloor ? v : kLogFloor;
        });
    } else if (kind == kBistatic) {
      if (!diffuse)
        each_range(m, src, n, [&](Index i, double r) {
          const double v = log_specular_coef - r * r * inv_two_var;  // eq. (18)
          out[i] = v > kLogFloor ? v : kLogFloor;
        });
      else
        each_range(m, src, n, [&](Index i, double r) { out[i] = bistatic_log_ratio(r); });
    } else {
      each_distance(m, src, n, [&](Index i, double d, bool ok) {
        const double v = log_monostatic_coef - d * d * inv_two_var;  // eq. (20)
        out[i] = ok && v > kLogFloor ? v : kLogFloor;
      });
    }
    double mx = kLogFloor;
    for (Index i = 0; i < n; ++i) mx = out[i] > mx ? out[i] : mx;
    return mx;
  }

  template <class Src>
  double scaled_ratios_from(Index m, Src src, Index n, double* out) const {
    if (kind == kBistatic && angles) {  // relative to log_reference(m)
      if (!diffuse)
        each_range_angle(m, src, n, [&](Index i, double r, double a) {
          out[i] = fastmath::exp(a - r * r * inv_two_var);
        });
      else
        each_range_angle(m, src, n, [&](Index i, double r, double a) {
          out[i] = bistatic_scaled_ratio(r) * fastmath::exp(a);
        });
    } else if (kind == kBistatic) {
      if (!diffuse)
        each_range(m, src, n, [&](Index i, double r) { out[i] = fastmath::exp(-r * r * inv_two_var); });
      else
        each_range(m, src, n, [&](Index i, double r) { out[i] = bistatic_scaled_ratio(r); });
    } else {
      each_distance(m, src, n, [&](Index i, double d, bool ok) {
        const double v = fastmath::exp(-d * d * inv_two_var);
        out[i] = ok ? v : 0.0;
      });
    }
    return max_of(out, n, 0.0);
  }
};

// Poisson mean of the MPCs a feature generates on a link (the mu of the pseudo-prior
// e^{-mu}, eq. (26)).
inline double link_mpc_mean(const SpaParams& p, const Link& l) {
  if (l.kind == kMonostatic) return p.monostatic_mpc_mean;
  return l.diffuse ? p.specular_mpc_mean + p.diffuse_mpc_mean : p.specular_mpc_mean;
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

// The generator of each random step of a module call: Rng(seed, purpose, PMF index).
enum Purpose : std::uint64_t { kPredict = 1, kBirth = 2, kResample = 3 };

// ---------------------------------------------------------------------------- births
// Range part of a bistatic birth proposal (docs/mapping_model.md, section 4.1): r ~ N(m0, s^2)
// folded at 0, m0 the measured range less half the mean diffuse excess, s^2 = 4 sig_r^2 +
// excess^2.
struct BistaticRangeProposal {
  double centre, std, log_norm, inv_two_var;
  BistaticRangeProposal(const SpaParams& p, double z, bool diffuse) {
    const double mean_excess =
        diffuse ? (p.diffuse_mpc_mean / (p.specular_mpc_mean + p.diffuse_mpc_mean)) / p.excess_rate_per_m
                : 0.0;
    const double var = 4 * p.range_std_m * p.range_std_m + mean_excess * mean_excess;
    centre = z - 0.5 * mean_excess;
    std = std::sqrt(var);
    log_norm = -0.5 * (kLog2Pi + std::log(var));
    inv_two_var = 1.0 / (2 * var);
  }
  // r from a standard normal draw
  double draw(double normal) const {
    const double rs = centre + std * normal;
    return rs < 0 ? -rs : rs;
  }
  // log density of the folded normal at r >= 0
  double log_pdf(double r) const {
    const double a = -(r - centre) * (r - centre) * inv_two_var, b = -(r + centre) * (r + centre) * inv_two_var;
    return log_norm + logaddexp_v(a, b);
  }
};

// Which of the three birth proposals a link uses (docs/mapping_model.md, sections 4.1-4.3).
// kAngleCone, kAngleConeHeight: angle-aided bistatic births (ours; docs/pipeline.md).
enum class Proposal { kSphere, kVerticalCircle, kCone, kAngleCone, kAngleConeHeight };
inline Proposal birth_proposal(const SpaParams& p, const Link& l) {
  if (l.kind == kMonostatic) return Proposal::kCone;
  if (l.angles)  // the height solves the cone azimuth unless the UAV's ULA is near vertical
    return p.birth_height_std_m > 0 && std::abs(l.uav_axis[2]) < 0.99 ? Proposal::kAngleConeHeight
                                                                       : Proposal::kAngleCone;
  return p.birth_height_std_m > 0 ? Proposal::kVerticalCircle : Proposal::kSphere;
}

// The random numbers of one new PMF's n particles, 3 rows of n in draws: sphere (normal range,
// uniform cos polar angle, uniform azimuth), vertical circle (normal range, normal height,
// uniform azimuth), cone (uniform cos cone angle, uniform azimuth, normal plane offset).
inline void draw_birth_randoms(Proposal proposal, Index n, Rng& rng, double* draws) {
  switch (proposal) {
    case Proposal::kSphere:
      rng.normals(draws, n);
      rng.uniforms(draws + n, n);
      rng.uniforms(draws + 2 * n, n);
      break;
    case Proposal::kVerticalCircle:
      rng.normals(draws, n);
      rng.normals(draws + n, n);
      rng.uniforms(draws + 2 * n, n);
      break;
    case Proposal::kCone:
      rng.uniforms(draws, n);
      rng.uniforms(draws + n, n);
      rng.normals(draws + 2 * n, n);
      break;
    case Proposal::kAngleCone:  // normal range, normal sin AoA, uniform cone azimuth
      rng.normals(draws, n);
      rng.normals(draws + n, n);
      rng.uniforms(draws + 2 * n, n);
      break;
    case Proposal::kAngleConeHeight:  // normal range, normal sin AoA, normal height
      rng.normals(draws, n);
      rng.normals(draws + n, n);
      rng.normals(draws + 2 * n, n);
      break;
  }
}

// Angle-aided bistatic birth proposal (ours, not the mapping paper's; docs/pipeline.md).  The
// VA is x = u + r d with d = c a + s (cos phi e1 + sin phi e2) in spherical coordinates about
// the UAV's ULA axis a (s = sqrt(1 - c^2), e2 = a x z / |a x z| horizontal, e1 = e2 x a), so
// dx = r^2 dr dc dphi and c = sin AoA of x exactly.  r ~ the range proposal, c ~ N(sin AoA,
// (2 std_a)^2); the ULA's cone ambiguity (phi) is sampled: uniform (kAngleCone), or
// (kAngleConeHeight, vertical-facade birth pdf) from the height x_z ~ N(z_B, s_z^2), which
// fixes cos phi = (x_z - u_z - r c a_z) / (r s e1_z), the two roots +-phi alternating over
// the particles; q(phi) = N(x_z) r s |e1_z| |sin phi| / 2.  The AoD and the range (the first
// edge's likelihood, later epochs) tell the two roots apart.  Writes positions, floored log
// weights log f_B - log q and the geometry rows h = r, sin AoA = c, sin AoD (each_range_angle);
// returns the number of supported particles.
inline Index place_angle_pmf(const SpaParams& p, const Link& l, Index m, Index n, bool height,
                             const double* __restrict draws, double* __restrict xs,
                             double* __restrict ys, double* __restrict zs,
                             double* __restrict log_weights, double* __restrict g, Index st) {
  const double roi_r2 = p.roi_radius_m * p.roi_radius_m;
  const double c0 = p.roi_center_m[0], c1 = p.roi_center_m[1], c2 = p.roi_center_m[2];
  const double u0 = l.sensor_m[0], u1 = l.sensor_m[1], u2 = l.sensor_m[2];
  const double* a = l.uav_axis;
  const double* ba = l.bs_axis;
  const double* b = l.bs_m;
  // frame about a: e2 horizontal where a is not vertical, else any
  double e2[3] = {a[1], -a[0], 0.0};
  double n2 = std::sqrt(e2[0] * e2[0] + e2[1] * e2[1]);
  if (!(n2 > 1e-6)) {
    e2[0] = 0.0;
    e2[1] = a[2] > 0 ? 1.0 : -1.0;
    n2 = 1.0;
  }
  for (double& e : e2) e /= n2;
  const double e1[3] = {e2[1] * a[2] - e2[2] * a[1], e2[2] * a[0] - e2[0] * a[2], e2[0] * a[1] - e2[1] * a[0]};
  const BistaticRangeProposal range(p, l.measurements[m], l.diffuse);
  const double sa = l.angles[4 * m], sc = 2 * l.angles[4 * m + 1];
  const double log_qc_norm = -0.5 * (kLog2Pi + std::log(sc * sc)), inv2vc = 1.0 / (2 * sc * sc);
  // birth pdf: uniform on the ROI ball, or the vertical-facade pdf N(x_z; z_B, s_z^2) / A
  const bool vertical = p.birth_height_std_m > 0;
  const double dzc = p.birth_height_m - c2, sz = p.birth_height_std_m;
  const double log_fb = vertical ? -std::log(kPi * (roi_r2 - dzc * dzc - sz * sz))
                                 : -std::log(4.0 / 3.0 * kPi * p.roi_radius_m * roi_r2);
  const double log_nz = vertical ? -0.5 * (kLog2Pi + std::log(sz * sz)) : 0.0;
  const double inv2vz = vertical ? 1.0 / (2 * sz * sz) : 0.0;
  const double log2pi = std::log(2 * kPi), log2 = std::log(2.0), e1z = std::abs(e1[2]);
  const double* nr = draws;
  const double* nc = draws + n;
  const double* w3 = draws + 2 * n;
  for (Index i = 0; i < n; ++i) {
    const double r = range.draw(nr[i]);
    const double c = sa + sc * nc[i], s2 = 1 - c * c, s = std::sqrt(s2 > 0 ? s2 : 0.0);
    double cp, sp, log_phi;  // cos, sin of the cone azimuth and log q(phi) (with f_B's height)
    bool ok = s2 > 0 && r > 0;
    if (height) {
      const double zz = p.birth_height_m + sz * w3[i];
      const double den = r * s * e1[2];
      const double kappa = den != 0 ? (zz - u2 - r * c * a[2]) / den : 2.0;
      const double sk2 = 1 - kappa * kappa;
      ok = ok && sk2 > 0;
      cp = ok ? kappa : 1.0;
      sp = (i % 2 == 0 ? 1.0 : -1.0) * std::sqrt(ok ? sk2 : 0.0);
      // f_B / q: the height densities cancel
      log_phi = ok ? -log2 + fastmath::log(r * s * e1z * std::abs(sp)) : 0.0;
    } else {
      fastmath::sincos_2pi(w3[i], sp, cp);
      log_phi = -log2pi;
    }
    const double d0 = c * a[0] + s * (cp * e1[0] + sp * e2[0]);
    const double d1 = c * a[1] + s * (cp * e1[1] + sp * e2[1]);
    const double d2 = c * a[2] + s * (cp * e1[2] + sp * e2[2]);
    const double x = u0 + r * d0, y = u1 + r * d1, zz = u2 + r * d2;
    xs[i] = x;
    ys[i] = y;
    zs[i] = zz;
    // sin AoD: bs_axis . M (u - x) / r, M the mirror of the bisector plane of b and x
    const double ex = b[0] - x, ey = b[1] - y, ez = b[2] - zz, e2n = ex * ex + ey * ey + ez * ez;
    const double k = e2n > 0 ? -2 * r * (d0 * ex + d1 * ey + d2 * ez) / e2n : 0.0;  // 2 (w.e)/|e|^2, w = -r d
    g[i] = r;
    g[st + i] = c;
    g[2 * st + i] = r > 0 ? (ba[0] * (-r * d0 - k * ex) + ba[1] * (-r * d1 - k * ey) + ba[2] * (-r * d2 - k * ez)) / r : 0.0;
    const double rr = r > 1e-300 ? r : 1e-300;
    double logq = range.log_pdf(r) + log_qc_norm - (c - sa) * (c - sa) * inv2vc + log_phi - 2 * fastmath::log(rr);
    double lfb = log_fb;
    if (vertical && !height) lfb += log_nz - (zz - p.birth_height_m) * (zz - p.birth_height_m) * inv2vz;
    const double dd = (x - c0) * (x - c0) + (y - c1) * (y - c1) + (zz - c2) * (zz - c2);
    log_weights[i] = !ok || !(e2n > 0) || dd > roi_r2 ? kNegInf : lfb - logq;
  }
  Index n_ok = 0;
  for (Index i = 0; i < n; ++i) {
    n_ok += log_weights[i] > kNegInf;
    log_weights[i] = log_weights[i] > kLogFloor ? log_weights[i] : kLogFloor;
  }
  return n_ok;
}

// Places the n particles (SoA xs, ys, zs) of the new PMF of measurement m of link l from its
// random numbers (draw_birth_randoms) and writes their floored log importance weights log f_B
// - log q (eq. (27): f_B uniform on the ROI ball; docs section 4) and their geometry on link l,
// which every further measurement of l reuses (rows of stride st): bistatic g[0] = h = |x -
// s|; monostatic g[0..2] = u = (x - s)/|x - s|, g[3] = |x - s| / 2 (1e150 at x = s: d huge,
// likelihood at the floor), so that d = u.w - |x - s|/2 needs no sqrt or division.  The
// geometry comes from the draw itself (h = the drawn range, u = +-the drawn plane normal), not
// from the rounded positions.  Returns the number of particles with finite weight.
// (__restrict: without it GCC does not vectorise the loops, which store through five pointers
// and load through three.)
inline Index place_new_pmf(const SpaParams& p, const Link& l, Index m, Index n,
                           const double* __restrict draws, double* __restrict xs,
                           double* __restrict ys, double* __restrict zs,
                           double* __restrict log_weights, double* __restrict g, Index st) {
  const double log_volume = std::log(4.0 / 3.0 * kPi * p.roi_radius_m * p.roi_radius_m * p.roi_radius_m);
  const double log4pi = std::log(4 * kPi), log8 = std::log(8.0), roi_r2 = p.roi_radius_m * p.roi_radius_m;
  const double c0 = p.roi_center_m[0], c1 = p.roi_center_m[1], c2 = p.roi_center_m[2];
  const double s0 = l.sensor_m[0], s1 = l.sensor_m[1], s2 = l.sensor_m[2];
  switch (birth_proposal(p, l)) {
    case Proposal::kAngleCone:
    case Proposal::kAngleConeHeight:
      return place_angle_pmf(p, l, m, n, birth_proposal(p, l) == Proposal::kAngleConeHeight, draws, xs, ys, zs,
                             log_weights, g, st);
    case Proposal::kVerticalCircle: {
      // Vertical-facade birth pdf (not in the paper; docs section 4.2): f_B(x) = N(x_z; z_B,
      // s_z^2) / A on the ROI ball, A = pi (R^2 - (z_B - c_z)^2 - s_z^2) (its exact mass for
      // s_z << R).  Proposal: r ~ N(m0, s^2) folded at 0, x_z ~ N(z_B, s_z^2), azimuth uniform;
      // dx = r dr dphi dz, so q(x) = N_fold(r) N(x_z) / (2 pi r) and the height factors cancel.
      const BistaticRangeProposal range(p, l.measurements[m], l.diffuse);
      const double dzc = p.birth_height_m - c2, sz = p.birth_height_std_m;
      const double log_area = std::log(kPi * (roi_r2 - dzc * dzc - sz * sz));
      const double log2pi = std::log(2 * kPi);
      const double* nr = draws;
      const double* nz = draws + n;
      const double* uph = draws + 2 * n;
      for (Index i = 0; i < n; ++i) {
        const double r = range.draw(nr[i]);
        const double zz = p.birth_height_m + sz * nz[i], dz = zz - s2, rho2 = r * r - dz * dz;
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
        log_weights[i] = !(rho2 > 0) || d2 > roi_r2 ? kNegInf
                                            : -log_area + log2pi + fastmath::log(rr) - logq_r;
      }
      break;
    }
    case Proposal::kSphere: {
      // VA on a sphere around the UAV (docs section 4.1): folded-normal range, direction
      // uniform, q(x) = N_fold(r) / (4 pi r^2).
      const BistaticRangeProposal range(p, l.measurements[m], l.diffuse);
      const double* nr = draws;
      const double* uz = draws + n;
      const double* uph = draws + 2 * n;
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
        log_weights[i] = d2 > roi_r2 ? kNegInf : -log_volume - logq;
      }
      break;
    }
    case Proposal::kCone: {
      // VA = mirror of the BS over a plane through z~ (docs section 4.3): normal uniform in a
      // cone around z~ - pB, plane offset rho ~ N(n.(z~ - pB), (2 sig_z)^2), x = pB + 2 rho n,
      // q(x) = q_n N(rho) / (8 rho^2).
      const double* zt = l.measurements + 3 * m;
      double w[3], u0[3], nw = 0;
      for (int d = 0; d < 3; ++d) {
        w[d] = zt[d] - l.sensor_m[d];
        nw += w[d] * w[d];
      }
      nw = std::sqrt(nw);
      if (!(nw > 0)) {  // the measurement is the BS itself: no plane, no birth support
        for (Index i = 0; i < n; ++i) {
          xs[i] = s0;
          ys[i] = s1;
          zs[i] = s2;
          log_weights[i] = kLogFloor;
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
      const double cmax = p.cos_cone_half_angle, s = 2 * p.position_std_m;
      const double log_qn = -std::log(2 * kPi * (1 - cmax));
      const double c_norm = -0.5 * (kLog2Pi + std::log(s * s)), inv2var = 1.0 / (2 * s * s);
      const double* uc = draws;
      const double* uph = draws + n;
      const double* nr = draws + 2 * n;
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
        log_weights[i] = !(rho > 0) || d2 > roi_r2 ? kNegInf : -log_volume - logq;
      }
      break;
    }
  }
  Index n_ok = 0;
  for (Index i = 0; i < n; ++i) {
    n_ok += log_weights[i] > kNegInf;
    log_weights[i] = log_weights[i] > kLogFloor ? log_weights[i] : kLogFloor;
  }
  return n_ok;
}

// Systematic resampling of n normalised weights w to n_out indices idx, offset u0 in (0, 1)
// (docs section 5.5).
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
// One buffer per array of ModuleCall that grows with the particles (named as its member).
struct Workspace {
  Buffer positions, log_weights, log_ratio_rows, ratio_rows, first_edge_log_messages,
      log_message_sum, log_visibility_factor, log_other_factors, extrinsic_weights,
      posterior_weights, birth_geometry, prior_weights;
};
inline Workspace& workspace() {
  static thread_local Workspace ws;
  return ws;
}

// ---------------------------------------------------------------------------- the module
// One module call: the state its stages share, and the stages (see the top of this file).
// Legacy PMFs come first (k < n_legacy), then one new PMF per measurement of each birth link.
// A new PMF carries n_birth_particles = min(params.n_birth_particles, P) particles (rows of P,
// the first n_used(k) used) until confirm_new_pmfs redraws it on P, and is resampled to P;
// legacy PMFs carry P.  Per (PMF,
// link) quantities are indexed by kl = k * n_links + l, per measurement ones by lm =
// measurement_offset[l] + m.
struct ModuleCall {
  // A PMF - measurement edge: the value a_m = k of the association variable of measurement m
  // (eq. (21)).
  struct Edge {
    Index pmf, link, measurement;
    bool first;        // measurement m is new PMF k's own (eq. (28)); otherwise eq. (29)
    double log_kappa;  // log of the association -> PMF message (docs section 5.2)
    Index slot = 0;    // row of its likelihood ratios (log_ratio_rows, ratio_rows)
  };
  // Constants of the visibility factor Phi of a PMF on a link (docs section 3.4): log p_v,
  // log(1 - p_v) and the MPC mean mu of its pseudo-prior e^{-mu} (eq. (26)).
  struct VisibilityTerms {
    double log_visible, log_invisible, mpc_mean;
  };
  // A block of particles of one (PMF, link) pair: the work item of the message products.
  struct ProductItem {
    Index kl, lo, hi;
  };

  const SpaParams& params;
  const LegacyPmfs& legacy;
  const std::vector<Link>& links;
  const std::uint64_t seed;
  const int n_threads;
  Workspace& ws;
  const Index n_links, n_legacy, n_particles, n_birth_particles;

  // PMFs
  std::vector<int> birth_link;           // link of a new PMF's measurement (-1: legacy)
  std::vector<Index> first_measurement;  // a new PMF's own measurement (-1: legacy)
  Index n_pmfs = 0;
  double* positions = nullptr;    // SoA: positions[(k * 3 + d) * P + i]
  double* log_weights = nullptr;  // [k * P + i], floored at kLogFloor
  std::vector<double> prior_logodds;
  std::vector<char> alive;     // false: a new PMF without birth support, or censored
  std::vector<char> censored;  // new PMFs whose measurement the legacy PMFs explain
  std::vector<Index> n_used_;  // particles PMF k uses (the first of its row)
  bool staged_births = false;  // new PMFs start on n_birth_particles < P (docs section 4.5)
  // prior weights e^{lam - max lam} ([k * P + i]), max lam, log of the sum of the weights
  double* prior_weights = nullptr;
  std::vector<double> max_log_weight, log_sum_prior_weight;

  // links
  std::vector<LinkLikelihood> link_likelihoods;
  std::vector<Index> measurement_offset;  // n_links + 1 entries
  std::vector<VisibilityTerms> visibility;  // [kl]
  std::vector<double> log_other_links_unit;  // [kl]: sum of log Phi over the other links of a
                                             // legacy PMF when all messages are 1 (0: new PMF)

  // candidate edges and their likelihood ratios, by slot
  std::vector<double> bounding_centre, bounding_radius;  // of each legacy PMF's particles
  std::vector<Edge> candidates;
  Index n_legacy_candidates = 0, n_candidates_max = 0;
  // Linear-domain ratios e^{log L - log_ratio_ref} of kept candidates (the iterations work on
  // them: a product of (1 + kappa L) and sums instead of softplus and log-sum-exp per edge);
  // log_ratio_ref is the maximum log L, or the link's log_reference() when the raw linear form
  // is kept (no normalising pass over the particles).  The floored log ratios are kept only
  // where has_log_ratio: first edges, and the rare edge whose maximum is too close to the
  // floor for the linear form.
  double* log_ratio_rows = nullptr;  // [slot * P + i]
  double* ratio_rows = nullptr;      // [slot * P + i]
  std::vector<char> kept, has_log_ratio;
  std::vector<double> log_ratio_max, log_ratio_ref;
  // sum_i prior_weights_i ratio_i of each kept slot: with all messages 1 (censoring, the first
  // iteration) the sums over particles an edge needs are this and the constants of its PMF
  std::vector<double> prior_ratio_dot;
  double* birth_geometry = nullptr;  // 4 rows of P per new PMF (place_new_pmf)
  std::vector<double> association_logodds;  // [lm]: censoring statistic (censor_new_pmfs)

  // the factor graph
  std::vector<Edge> edges;  // kept candidates in (link, PMF, measurement) order
  std::vector<char> connected;  // [kl]: PMF k takes part in link l's association
  std::vector<std::vector<Index>> edges_of_pmf_link;     // [kl]
  std::vector<std::vector<Index>> edges_of_measurement;  // [lm]

  // Messages gamma_{m->k}(x_i) per edge: the factor 1 + kappa L of a general edge (linear,
  // not stored: pmf_to_measurement_messages recomputes it from L), log gamma = max(log kappa
  // + log L, floor) of a first edge (stored in first_edge_log_messages at row
  // first_edge_row[e]).  Per (k, l) and particle: log_message_sum G = sum_m log gamma (the
  // product of the factors, taken every `chunk` factors so that it cannot overflow, plus the
  // first edge's log gamma), log_visibility_factor log Phi = logaddexp(log(1 - p_v), log p_v
  // - mu + G), log_other_factors O = lam + sum_{l' != l} log Phi[k][l'].
  std::vector<Index> first_edge_row;
  double* first_edge_log_messages = nullptr;
  double* log_message_sum = nullptr;
  double* log_visibility_factor = nullptr;
  double* log_other_factors = nullptr;
  std::vector<ProductItem> product_items;
  // log rho (PMF -> association), log Z0 with all messages 1, log n_used per PMF
  std::vector<double> log_rho, log_z0_unit, log_n_used;
  // per (k, l): extrinsic_weights B = e^{H - max H}, H = O + log p_v - mu + G (the
  // edge-independent part of the extrinsic weights), its max, and log(1 - p_v) + LSE(O) (the
  // invisible branch of Z0)
  double* extrinsic_weights = nullptr;
  std::vector<double> extrinsic_log_max, log_invisible_mass;

  ModuleCall(const SpaParams& params_, const LegacyPmfs& legacy_, const std::vector<Link>& links_,
             std::uint64_t seed_, int n_threads_, Workspace& ws_)
      : params(params_), legacy(legacy_), links(links_), seed(seed_), n_threads(n_threads_),
        ws(ws_), n_links(static_cast<Index>(links_.size())), n_legacy(legacy_.n_pmfs),
        n_particles(legacy_.n_particles),
        n_birth_particles(params_.n_birth_particles > 0 && params_.n_birth_particles < legacy_.n_particles
                              ? params_.n_birth_particles
                              : legacy_.n_particles) {
    const Index K = n_legacy, P = n_particles;
    birth_link.assign(static_cast<std::size_t>(K), -1);
    first_measurement.assign(static_cast<std::size_t>(K), -1);
    for (Index l = 0; l < n_links; ++l)
      if (links[l].births)
        for (Index m = 0; m < links[l].n_measurements; ++m) {
          birth_link.push_back(static_cast<int>(l));
          first_measurement.push_back(m);
        }
    n_pmfs = static_cast<Index>(birth_link.size());
    positions = ws.positions.get(n_pmfs * 3 * P);
    log_weights = ws.log_weights.get(n_pmfs * P);
    prior_logodds.assign(static_cast<std::size_t>(n_pmfs), 0.0);
    alive.assign(static_cast<std::size_t>(n_pmfs), 1);
    censored.assign(static_cast<std::size_t>(n_pmfs), 0);
    n_used_.assign(static_cast<std::size_t>(n_pmfs), n_birth_particles);
    std::fill(n_used_.begin(), n_used_.begin() + K, P);
    // a new PMF's prior existence: mu_n e^{-mu_l} against 1, i.e. log-odds log mu_n - mu_l
    // (eqs. (26)-(27); docs section 3.3)
    for (Index k = K; k < n_pmfs; ++k)
      prior_logodds[k] = params.log_birth_mean - link_mpc_mean(params, links[birth_link[k]]);
    measurement_offset.assign(static_cast<std::size_t>(n_links + 1), 0);
    for (Index l = 0; l < n_links; ++l)
      measurement_offset[l + 1] = measurement_offset[l] + links[l].n_measurements;
    for (const auto& l : links) link_likelihoods.emplace_back(params, l);
    visibility.resize(static_cast<std::size_t>(n_pmfs * n_links));
    for (Index k = 0; k < n_pmfs; ++k)
      for (Index l = 0; l < n_links; ++l) {
        VisibilityTerms& c = visibility[k * n_links + l];
        if (k >= K) {  // own link: visible by construction, e^{-mu} already in the prior
          c = {0.0, kNegInf, 0.0};
        } else {
          const double pv = links[l].visibility;
          c = {std::log(pv), pv < 1 ? std::log1p(-pv) : kNegInf, link_mpc_mean(params, links[l])};
        }
      }
    // a legacy PMF is connected to every link, a new one to its own link only (sum: 0)
    log_other_links_unit.assign(static_cast<std::size_t>(n_pmfs * n_links), 0.0);
    for (Index k = 0; k < K; ++k)
      for (Index l = 0; l < n_links; ++l)
        for (Index l2 = 0; l2 < n_links; ++l2)
          if (l2 != l) log_other_links_unit[k * n_links + l] += log_visibility_factor_unit(k * n_links + l2);
  }

  Index n_used(Index k) const { return n_used_[static_cast<std::size_t>(k)]; }
  Index n_measurements_total() const { return measurement_offset[n_links]; }

  // log Phi of a legacy PMF on a link when all messages are 1: log((1 - p_v) + p_v e^{-mu})
  // (docs section 3.4; p_v = 1: the pseudo-prior -mu of eq. (26))
  double log_visibility_factor_unit(Index kl) const {
    const VisibilityTerms c = visibility[kl];
    return c.log_invisible == kNegInf ? c.log_visible - c.mpc_mean
                                      : logaddexp(c.log_invisible, c.log_visible - c.mpc_mean);
  }

  // Whether new PMF k takes measurement m >= its own of its link: within the birth gate
  // (docs section 5.1).
  bool in_birth_gate(Index k, Index m) const {
    const Link& lk = links[birth_link[k]];
    if (lk.kind == kBistatic)
      return std::abs(lk.measurements[m] - lk.measurements[first_measurement[k]]) <= params.gate_range_m;
    const double* a = lk.measurements + 3 * m;
    const double* b = lk.measurements + 3 * first_measurement[k];
    const double d2 = (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]);
    return d2 <= params.gate_distance_m * params.gate_distance_m;
  }

  // ------------------------------------------------------------ stage 1: prediction
  // Copies the legacy PMFs into the call (SoA, log weights floored) and, with predict, applies
  // the state transition of eqs. (12)-(13): survival p_s on the existence and a Gaussian
  // random walk on the position.  Without predict it is Scheme II's deterministic cross-link
  // transition (eqs. (16)-(17) with p_cs = 1, p_cb = 0).
  void predict_legacy_pmfs(bool predict) {
    const Index P = n_particles;
    parallel_for_chunks(n_legacy, n_threads, [&](Index lo, Index hi) {
      std::vector<double> noise(static_cast<std::size_t>(3 * P));
      for (Index k = lo; k < hi; ++k) {
        coarse_cancellation_point();  // Ctrl-C between PMFs (cancel.hpp)
        double* xs = positions + k * 3 * P;
        double* lw = log_weights + k * P;
        const double* xl = legacy.positions_m + k * P * 3;
        for (int d = 0; d < 3; ++d)
          for (Index i = 0; i < P; ++i) xs[d * P + i] = xl[3 * i + d];
        const double* ll = legacy.log_weights + k * P;
        for (Index i = 0; i < P; ++i) lw[i] = ll[i] > kLogFloor ? ll[i] : kLogFloor;
        double eta = legacy.logodds[k];
        if (predict) {
          const double ps = params.survival_probability;
          // (eq. 12) p <- p_s p, in log-odds: eta <- logit(p_s sigmoid(eta)) without overflow
          eta = std::log(ps) - softplus(-eta) - std::log((1 - ps) + ps / (1 + std::exp(eta)));
          if (params.process_std_m > 0) {
            // (eq. 12) x <- x + w, w ~ N(0, sigma_q^2 I)
            Rng rng(seed, kPredict, static_cast<std::uint64_t>(k));
            rng.normals(noise.data(), 3 * P);
            for (Index i = 0; i < 3 * P; ++i) xs[i] += params.process_std_m * noise[i];
          }
        }
        prior_logodds[k] = eta;
      }
    });
  }

  // Prior weights of PMF k: e^{lam - max lam}, max lam, log sum.
  void set_prior_weights(Index k) {
    const Index n = n_used(k);
    const double* lw = log_weights + k * n_particles;
    double* el = prior_weights + k * n_particles;
    max_log_weight[k] = max_of(lw, n);
    std::copy(lw, lw + n, el);
    log_sum_prior_weight[k] = lse_with_max(el, n, max_log_weight[k]) - max_log_weight[k];
  }

  // Likelihood ratios of candidate slot e on its PMF's first n particles, and whether the
  // edge is kept (first edges always; others where max_i log L >= gate_log_ratio).
  void compute_ratios(Index e, Index n, bool first) {
    const Index P = n_particles;
    const Edge& ed = candidates[e];
    const double* xs = positions + ed.pmf * 3 * P;
    const LinkLikelihood& lik = link_likelihoods[static_cast<std::size_t>(ed.link)];
    double* lr = ratio_rows + e * P;
    const double* geometry = ed.pmf >= n_legacy ? birth_geometry + (ed.pmf - n_legacy) * 4 * P : nullptr;
    if (!first) {
      const double max_lr = geometry ? lik.scaled_ratios_from_geometry(ed.measurement, geometry, P, n, lr)
                                     : lik.scaled_ratios(ed.measurement, xs, xs + P, xs + 2 * P, n, lr);
      const double mx = max_lr > 1e-300 ? lik.log_reference(ed.measurement) + std::log(max_lr) : kNegInf;
      if (mx > kLogFloor + 50) {  // e^{floor - mx} is below rounding: same as the log form
        kept[e] = mx >= params.gate_log_ratio;
        log_ratio_max[e] = mx;
        log_ratio_ref[e] = lik.log_reference(ed.measurement);
        if (kept[e] && max_lr < 1e-100) {  // normalise only where the raw form is far below 1
          const double s = 1.0 / max_lr;
          for (Index i = 0; i < n; ++i) lr[i] *= s;
          log_ratio_ref[e] = mx;
        }
        if (kept[e]) prior_ratio_dot[e] = dot_of(prior_weights + ed.pmf * P, lr, n);
        return;
      }
    }
    double* ll = log_ratio_rows + e * P;
    const double mx = geometry ? lik.log_ratios_from_geometry(ed.measurement, geometry, P, n, ll)
                               : lik.log_ratios(ed.measurement, xs, xs + P, xs + 2 * P, n, ll);
    has_log_ratio[e] = 1;
    kept[e] = first || mx >= params.gate_log_ratio;
    log_ratio_max[e] = mx;
    log_ratio_ref[e] = mx;
    if (!kept[e]) return;
    for (Index i = 0; i < n; ++i) lr[i] = fastmath::exp(ll[i] - mx);
    prior_ratio_dot[e] = dot_of(prior_weights + ed.pmf * P, lr, n);
  }

  // ------------------------------------------------------------ stage 2: legacy edges
  // Every (link, legacy PMF, measurement) candidate whose likelihood ratio can reach the gate
  // on the PMF's bounding sphere, with its likelihood ratios (eqs. (18)-(20) over the clutter
  // density, eq. (24); the edge factor of eq. (29)); the prior weights of the legacy PMFs.
  void add_legacy_edges() {
    const Index K = n_legacy, P = n_particles;
    bounding_centre.assign(static_cast<std::size_t>(3 * K), 0.0);
    bounding_radius.assign(static_cast<std::size_t>(K), 0.0);
    parallel_for(K, n_threads, [&](Index k) {
      const double* xs = positions + k * 3 * P;
      double c[3];
      for (int d = 0; d < 3; ++d) c[d] = sum_of(xs + d * P, P) / static_cast<double>(P);
      double r2 = 0;
      for (Index i = 0; i < P; ++i) {
        const double a = xs[i] - c[0], b = xs[P + i] - c[1], e = xs[2 * P + i] - c[2];
        const double q = a * a + b * b + e * e;
        r2 = q > r2 ? q : r2;
      }
      for (int d = 0; d < 3; ++d) bounding_centre[3 * k + d] = c[d];
      bounding_radius[k] = std::sqrt(r2) * (1 + 1e-12) + 1e-12;
    });
    for (Index l = 0; l < n_links; ++l)
      for (Index k = 0; k < K; ++k)
        for (Index m = 0; m < links[l].n_measurements; ++m)
          if (link_likelihoods[static_cast<std::size_t>(l)].log_ratio_upper_bound(
                  m, bounding_centre.data() + 3 * k, bounding_radius[k]) >= params.gate_log_ratio)
            candidates.push_back({k, l, m, false, 0.0});
    n_legacy_candidates = static_cast<Index>(candidates.size());
    Index n_new_max = 0;  // new-PMF candidates before censoring and the support check
    for (Index k = K; k < n_pmfs; ++k)
      for (Index m = first_measurement[k]; m < links[birth_link[k]].n_measurements; ++m)
        n_new_max += in_birth_gate(k, m);
    n_candidates_max = n_legacy_candidates + n_new_max;
    const auto n_slots = static_cast<std::size_t>(n_candidates_max);
    log_ratio_rows = ws.log_ratio_rows.get(n_candidates_max * P);
    ratio_rows = ws.ratio_rows.get(n_candidates_max * P);
    kept.assign(n_slots, 0);
    log_ratio_max.assign(n_slots, kNegInf);
    log_ratio_ref.assign(n_slots, kNegInf);
    has_log_ratio.assign(n_slots, 0);
    prior_weights = ws.prior_weights.get(n_pmfs * P);
    max_log_weight.assign(static_cast<std::size_t>(n_pmfs), kNegInf);
    log_sum_prior_weight.assign(static_cast<std::size_t>(n_pmfs), kNegInf);
    prior_ratio_dot.assign(n_slots, 0.0);
    parallel_for(K, n_threads, [&](Index k) { set_prior_weights(k); });
    parallel_for(n_legacy_candidates, n_threads, [&](Index e) { compute_ratios(e, P, false); });
  }

  // ------------------------------------------------------------ stage 3: censoring
  // Censoring of new PMFs (not in the paper; Meyer et al., Proc. IEEE 2018; docs section 5.3):
  // in a legacy-only first iteration (all messages 1) measurement m of a birth link is
  // associated with some legacy PMF with log-odds association_logodds = log sum_k rho_km; above
  // censor_logodds it starts no new PMF.
  void censor_new_pmfs() {
    const Index K = n_legacy, P = n_particles, L = n_links;
    association_logodds.assign(static_cast<std::size_t>(n_measurements_total()), kNegInf);
    if (!(params.censor_logodds < std::numeric_limits<double>::infinity() && K > 0 && n_pmfs > K)) return;
    const double logP = std::log(static_cast<double>(P));
    std::vector<double> log_z0(static_cast<std::size_t>(K * L), 0.0);
    std::vector<char> needed(static_cast<std::size_t>(K * L), 0);
    for (Index e = 0; e < n_legacy_candidates; ++e)
      if (kept[e] && links[candidates[e].link].births) needed[candidates[e].pmf * L + candidates[e].link] = 1;
    // Z0 and Z1 of an edge from the prior weights and prior_ratio_dot (log form only for edges
    // that kept their log ratios, or whose dot product underflows)
    for (Index kl = 0; kl < K * L; ++kl)
      if (needed[kl])
        log_z0[kl] = log_other_links_unit[kl] + log_visibility_factor_unit(kl) + max_log_weight[kl / L] +
                     log_sum_prior_weight[kl / L] - logP;
    std::vector<double> log_rho_legacy(static_cast<std::size_t>(n_legacy_candidates), kNegInf);
    parallel_for_chunks(n_legacy_candidates, n_threads, [&](Index lo, Index hi) {
      std::vector<double> w(static_cast<std::size_t>(P));
      for (Index e = lo; e < hi; ++e) {
        coarse_cancellation_point();  // Ctrl-C between PMFs (cancel.hpp)
        const Edge& ed = candidates[e];
        const Index kl = ed.pmf * L + ed.link;
        if (!kept[e] || !needed[kl]) continue;
        const double a = log_other_links_unit[kl] + (visibility[kl].log_visible - visibility[kl].mpc_mean);
        const double* lw = log_weights + ed.pmf * P;
        double log_z1 = kNegInf;
        if (!has_log_ratio[e] && prior_ratio_dot[e] > 1e-300)
          log_z1 = a + log_ratio_ref[e] + max_log_weight[ed.pmf] + std::log(prior_ratio_dot[e]) - logP;
        if (log_z1 == kNegInf) {  // log form (also when the dot product underflows)
          const double* ll = log_ratio_rows + e * P;
          if (!has_log_ratio[e]) {
            const double* xs = positions + ed.pmf * 3 * P;
            link_likelihoods[static_cast<std::size_t>(ed.link)].log_ratios(ed.measurement, xs, xs + P, xs + 2 * P, P, w.data());
            ll = w.data();
          }
          for (Index i = 0; i < P; ++i) w[i] = lw[i] + a + ll[i];
          log_z1 = lse(w.data(), P) - logP;
        }
        // rho of a general edge (docs section 5.2)
        log_rho_legacy[e] = prior_logodds[ed.pmf] + log_z1 - softplus(prior_logodds[ed.pmf] + log_z0[kl]);
      }
    });
    for (Index e = 0; e < n_legacy_candidates; ++e) {  // legacy order: the same sum as the NumPy twin
      const Index lm = measurement_offset[candidates[e].link] + candidates[e].measurement;
      association_logodds[lm] = logaddexp(association_logodds[lm], log_rho_legacy[e]);
    }
    for (Index k = K; k < n_pmfs; ++k)
      censored[k] = association_logodds[measurement_offset[birth_link[k]] + first_measurement[k]] > params.censor_logodds;
  }

  // ------------------------------------------------------------ stage 4: births
  // New PMFs (eq. (27)): particles from the birth proposal of their measurement (docs section
  // 4) with importance weights f_B / q; censored ones and those without birth support are
  // dropped (not alive).
  void draw_new_pmfs() {
    const Index K = n_legacy, P = n_particles;
    stage_births();
    birth_geometry = ws.birth_geometry.get((n_pmfs - K) * 4 * P);
    parallel_for_chunks(n_pmfs - K, n_threads, [&](Index lo, Index hi) {
      std::vector<double> draws(static_cast<std::size_t>(3 * P));
      for (Index k = K + lo; k < K + hi; ++k) {
        coarse_cancellation_point();  // Ctrl-C between PMFs (cancel.hpp)
        const Index Pb = n_used(k);
        double* xs = positions + k * 3 * P;
        double* lw = log_weights + k * P;
        const Link& l = links[birth_link[k]];
        if (censored[k]) {
          for (int d = 0; d < 3; ++d) std::fill(xs + d * P, xs + d * P + Pb, l.sensor_m[d]);
          std::fill(lw, lw + Pb, kLogFloor);
          alive[k] = 0;
          continue;
        }
        Rng rng(seed, kBirth, static_cast<std::uint64_t>(k));
        draw_birth_randoms(birth_proposal(params, l), Pb, rng, draws.data());
        const Index n_supported = place_new_pmf(params, l, first_measurement[k], Pb, draws.data(), xs, xs + P,
                                                xs + 2 * P, lw, birth_geometry + (k - K) * 4 * P, P);
        if (n_supported == 0) {
          alive[k] = 0;  // no birth support (docs section 4.4)
          continue;
        }
        set_prior_weights(k);
      }
    });
  }

  // Whether the new PMFs of this call start on n_birth_particles < P particles (docs section
  // 4.5).  Without confirmation they always do.  With it, only where that saves work: the
  // edge-particles it saves, W_new (P - P_b) with W_new the own and gated edges of the
  // uncensored new PMFs, must exceed what a confirmation pass may cost, kConfirmPassCost
  // W_leg P with W_leg the kept legacy edges (a second pass recomputes their messages, not
  // their likelihoods); otherwise they start on P (the paper's model, and no second pass).
  static constexpr double kConfirmPassCost = 0.5;
  void stage_births() {
    const Index K = n_legacy, P = n_particles, Pb = n_birth_particles;
    staged_births = Pb < P;
    if (staged_births && params.confirm_logodds < std::numeric_limits<double>::infinity()) {
      Index w_leg = 0, w_new = 0;
      for (Index e = 0; e < n_legacy_candidates; ++e) w_leg += kept[e];
      for (Index k = K; k < n_pmfs; ++k)
        if (!censored[k])
          for (Index m = first_measurement[k]; m < links[birth_link[k]].n_measurements; ++m) w_new += in_birth_gate(k, m);
      staged_births = static_cast<double>(w_new) * static_cast<double>(P - Pb) >
                      kConfirmPassCost * static_cast<double>(w_leg) * static_cast<double>(P);
    }
    std::fill(n_used_.begin() + K, n_used_.end(), staged_births ? Pb : P);
  }

  // ------------------------------------------------------------ stage 5: new-PMF edges
  // Edges of every alive new PMF to its own measurement (the first edge, eq. (28)) and to the
  // later measurements of its link within the birth gate (eq. (29)); then the graph: edges in
  // (link, PMF, measurement) order and their adjacency.
  void add_new_pmf_edges() {
    for (Index k = n_legacy; k < n_pmfs; ++k) {
      if (!alive[k]) continue;
      for (Index m = first_measurement[k]; m < links[birth_link[k]].n_measurements; ++m)
        if (in_birth_gate(k, m))
          candidates.push_back({k, static_cast<Index>(birth_link[k]), m, m == first_measurement[k], 0.0});
    }
    const Index n_candidates = static_cast<Index>(candidates.size());
    parallel_for(n_candidates - n_legacy_candidates, n_threads, [&](Index j) {
      const Index e = n_legacy_candidates + j;
      compute_ratios(e, n_used(candidates[e].pmf), candidates[e].first);
    });
    build_graph();
  }

  // The factor graph from the kept candidates: edges in (link, PMF, measurement) order and
  // their adjacency.
  void build_graph() {
    const Index n_candidates = static_cast<Index>(candidates.size());
    edges.clear();
    for (Index l = 0; l < n_links; ++l)
      for (Index e = 0; e < n_candidates; ++e)
        if (kept[e] && candidates[e].link == l) {
          edges.push_back(candidates[e]);
          edges.back().slot = e;
        }
    const Index L = n_links;
    connected.assign(static_cast<std::size_t>(n_pmfs * L), 0);
    for (Index k = 0; k < n_pmfs; ++k)
      for (Index l = 0; l < L; ++l) connected[k * L + l] = alive[k] && (k < n_legacy || birth_link[k] == l);
    edges_of_pmf_link.assign(static_cast<std::size_t>(n_pmfs * L), {});
    edges_of_measurement.assign(static_cast<std::size_t>(n_measurements_total()), {});
    for (Index e = 0; e < static_cast<Index>(edges.size()); ++e) {
      edges_of_pmf_link[edges[e].pmf * L + edges[e].link].push_back(e);
      edges_of_measurement[measurement_offset[edges[e].link] + edges[e].measurement].push_back(e);
    }
  }

  // ------------------------------------------------------------ stage 6: message passing
  const double* log_ratio_row(Index e) const { return log_ratio_rows + edges[e].slot * n_particles; }
  const double* ratio_row(Index e) const { return ratio_rows + edges[e].slot * n_particles; }

  // Work items and buffers of the messages.
  void prepare_messages() {
    const Index P = n_particles, L = n_links, nE = static_cast<Index>(edges.size());
    first_edge_row.assign(static_cast<std::size_t>(nE), -1);
    Index n_first = 0;
    for (Index e = 0; e < nE; ++e)
      if (edges[e].first) first_edge_row[e] = n_first++;
    first_edge_log_messages = ws.first_edge_log_messages.get(n_first * P);
    log_message_sum = ws.log_message_sum.get(n_pmfs * L * P);
    log_visibility_factor = ws.log_visibility_factor.get(n_pmfs * L * P);
    log_other_factors = ws.log_other_factors.get(n_pmfs * L * P);
    // (kl, particle block) items: per-particle operations only, so any split gives the same
    // results; the split balances the edges x particles of the items over the threads
    product_items.clear();
    for (Index kl = 0; kl < n_pmfs * L; ++kl)
      if (connected[kl])
        for (Index lo = 0, n = n_used(kl / L); lo < n; lo += kProductBlock)
          product_items.push_back({kl, lo, std::min(n, lo + kProductBlock)});
    log_rho.assign(static_cast<std::size_t>(nE), kNegInf);
    log_z0_unit.assign(static_cast<std::size_t>(n_pmfs * L), 0.0);
    log_n_used.resize(static_cast<std::size_t>(n_pmfs));
    for (Index k = 0; k < n_pmfs; ++k) log_n_used[k] = std::log(static_cast<double>(n_used(k)));
    extrinsic_weights = ws.extrinsic_weights.get(n_pmfs * L * P);
    extrinsic_log_max.assign(static_cast<std::size_t>(n_pmfs * L), 0.0);
    log_invisible_mass.assign(static_cast<std::size_t>(n_pmfs * L), kNegInf);
  }

  static constexpr Index kProductBlock = 2048;
  // log of a bound below which kappa L (<= e^{log kappa + max log L}) leaves 1 + kappa L = 1
  // (2^-53 = 1.1e-16, half an ulp of 1; -36.8 < log 2^-53 = -36.74 leaves room for rounding)
  static constexpr double kLogTinyFactor = -36.8;

  // G, log Phi and O of every connected (PMF, link) from the current messages (all 1 with
  // all_messages_one): the belief factors prod_m gamma_{m->k}(x) of docs section 5.2.
  void compute_message_products(bool all_messages_one) {
    const Index P = n_particles, L = n_links;
    parallel_for_weighted(
        static_cast<Index>(product_items.size()), n_threads,
        [&](Index j) {
          const ProductItem& it = product_items[j];
          return static_cast<double>(it.hi - it.lo) *
                 static_cast<double>(all_messages_one ? 1 : 1 + edges_of_pmf_link[it.kl].size());
        },
        [&](Index jlo, Index jhi) {
          double prod_buf[kProductBlock];
          for (Index j = jlo; j < jhi; ++j) {
            coarse_cancellation_point();  // Ctrl-C between PMFs (cancel.hpp)
            const Index kl = product_items[j].kl, i0 = product_items[j].lo, n = product_items[j].hi - i0;
            const VisibilityTerms c = visibility[kl];
            double* g = log_message_sum + kl * P + i0;
            double* ph = log_visibility_factor + kl * P + i0;
            double* prod = prod_buf;
            std::fill(g, g + n, 0.0);
            if (!all_messages_one) {
              double top = 0;  // log of the largest factor 1 + kappa e^{max log L}
              for (Index e : edges_of_pmf_link[kl])
                if (!edges[e].first)
                  top = std::max(top, logaddexp(0.0, edges[e].log_kappa + log_ratio_max[edges[e].slot]));
              const Index chunk = std::max<Index>(1, static_cast<Index>(600.0 / std::max(top, 1.0)));
              Index count = 0;
              std::fill(prod, prod + n, 1.0);
              for (Index e : edges_of_pmf_link[kl]) {
                const double lk = edges[e].log_kappa;
                if (edges[e].first) {
                  // (eq. 28) log gamma = log kappa + log L of a new PMF's own measurement
                  double* ge = first_edge_log_messages + first_edge_row[e] * P + i0;
                  const double* ll = log_ratio_row(e) + i0;
                  for (Index i = 0; i < n; ++i) {
                    const double v = lk + ll[i];
                    ge[i] = v > kLogFloor ? v : kLogFloor;
                    g[i] += ge[i];
                  }
                  continue;
                }
                // every factor 1 + kappa L_i < 1 + 2^-53 rounds to 1: skip the edge (exact;
                // after the first iteration about a third of the edges of contested new PMFs)
                if (lk + log_ratio_max[edges[e].slot] < kLogTinyFactor) continue;
                const double kappa = std::exp(lk + log_ratio_ref[edges[e].slot]);
                const double* lr = ratio_row(e) + i0;
                // (eq. 29) gamma = 1 + kappa L of a general edge
                for (Index i = 0; i < n; ++i) prod[i] *= 1.0 + kappa * lr[i];
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
            // (docs 3.4) log Phi = logaddexp(log(1 - p_v), log p_v - mu + G)
            const double a = c.log_visible - c.mpc_mean;
            if (c.log_invisible == kNegInf)
              for (Index i = 0; i < n; ++i) ph[i] = a + g[i];
            else
              for (Index i = 0; i < n; ++i) ph[i] = logaddexp_v(c.log_invisible, a + g[i]);
          }
        });
    // O[k][l] = lam_k + sum over the other connected links of log Phi
    parallel_for(n_pmfs * L, n_threads, [&](Index kl) {
      if (!connected[kl]) return;
      const Index k = kl / L, l = kl % L, n = n_used(k);
      double* o = log_other_factors + kl * P;
      std::copy(log_weights + k * P, log_weights + k * P + n, o);
      for (Index l2 = 0; l2 < L; ++l2)
        if (l2 != l && connected[k * L + l2]) {
          const double* ph = log_visibility_factor + (k * L + l2) * P;
          for (Index i = 0; i < n; ++i) o[i] += ph[i];
        }
    });
  }

  // PMF -> association messages rho of the first iteration: all messages are 1, so G = 0,
  // log Phi = its unit value, O = lam + log_other_links_unit, B = e^{O - max O} = the prior
  // weights, Z0 of an edge depends on its (k, l) only, and Z1 = sum_i B_i L_i =
  // prior_ratio_dot: no pass over the particles.
  void first_iteration_pmf_to_measurement() {
    const Index L = n_links;
    for (Index kl = 0; kl < n_pmfs * L; ++kl) {
      if (!connected[kl] || edges_of_pmf_link[kl].empty()) continue;
      const Index k = kl / L;
      log_z0_unit[kl] = max_log_weight[k] + log_other_links_unit[kl] + log_visibility_factor_unit(kl) +
                        log_sum_prior_weight[k] - log_n_used[k];
      extrinsic_log_max[kl] = max_log_weight[k] + log_other_links_unit[kl] +
                              (visibility[kl].log_visible - visibility[kl].mpc_mean);
    }
    for (Index e = 0; e < static_cast<Index>(edges.size()); ++e) {
      const Edge& ed = edges[e];
      const Index kl = ed.pmf * L + ed.link;
      const double log_z1 = extrinsic_log_max[kl] + log_ratio_ref[ed.slot] +
                            std::log(prior_ratio_dot[ed.slot]) - log_n_used[ed.pmf];
      // (docs 5.2) first edge: rho = e^eta Z1; general edge: rho = e^eta Z1 / (1 + e^eta Z0)
      const double eta = prior_logodds[ed.pmf];
      log_rho[e] = ed.first ? eta + log_z1 : eta + log_z1 - softplus(eta + log_z0_unit[kl]);
    }
  }

  // PMF -> association messages rho of a later iteration, from the extrinsic beliefs of each
  // edge (the belief of its PMF without the edge's own message; docs section 5.2).
  void pmf_to_measurement_messages() {
    const Index P = n_particles, L = n_links, nE = static_cast<Index>(edges.size());
    // edge-independent parts, per (k, l)
    parallel_for_chunks(n_pmfs * L, n_threads, [&](Index lo, Index hi) {
      std::vector<double> w(static_cast<std::size_t>(P));
      for (Index kl = lo; kl < hi; ++kl) {
        coarse_cancellation_point();  // Ctrl-C between PMFs (cancel.hpp)
        if (!connected[kl] || edges_of_pmf_link[kl].empty()) continue;
        const Index n = n_used(kl / L);
        const VisibilityTerms c = visibility[kl];
        const double* o = log_other_factors + kl * P;
        double* b = extrinsic_weights + kl * P;
        const double* g = log_message_sum + kl * P;
        const double a0 = c.log_visible - c.mpc_mean;
        for (Index i = 0; i < n; ++i) b[i] = o[i] + a0 + g[i];
        const double mx = max_of(b, n);
        for (Index i = 0; i < n; ++i) b[i] = fastmath::exp(b[i] - mx);
        extrinsic_log_max[kl] = mx;
        if (c.log_invisible != kNegInf) {
          std::copy(o, o + n, w.begin());
          log_invisible_mass[kl] = c.log_invisible + lse(w.data(), n);
        }
      }
    });
    parallel_for_chunks(nE, n_threads, [&](Index lo, Index hi) {
      std::vector<double> w1(static_cast<std::size_t>(P));
      for (Index e = lo; e < hi; ++e) {
        coarse_cancellation_point();  // Ctrl-C between PMFs (cancel.hpp)
        const Edge& ed = edges[e];
        const Index kl = ed.pmf * L + ed.link, n = n_used(ed.pmf);
        const VisibilityTerms c = visibility[kl];
        const double* b = extrinsic_weights + kl * P;
        const double ref = log_ratio_ref[ed.slot];
        double log_z1, log_z0 = log_z0_unit[kl], s0 = 0;
        if (ed.first) {
          // extrinsic: G - g_e, in log form (g_e = max(log kappa + log L, floor))
          const double* o = log_other_factors + kl * P;
          const double* g = log_message_sum + kl * P;
          const double* ge = first_edge_log_messages + first_edge_row[e] * P;
          const double* ll = log_ratio_row(e);
          const double a0 = c.log_visible - c.mpc_mean;
          for (Index i = 0; i < n; ++i) w1[i] = o[i] + (a0 + (g[i] - ge[i])) + ll[i];
          log_z1 = lse(w1.data(), n) - log_n_used[ed.pmf];
        } else {
          // extrinsic weights e^{H} / q_e: Z1 = sum B L / q, Z0 = sum B / q (+ the invisible branch)
          const double s1 = extrinsic_sums(b, ratio_row(e), std::exp(ed.log_kappa + ref), n, s0);
          log_z1 = extrinsic_log_max[kl] + ref + std::log(s1) - log_n_used[ed.pmf];
          const double z0v = extrinsic_log_max[kl] + std::log(s0);
          log_z0 = (c.log_invisible == kNegInf ? z0v : logaddexp(log_invisible_mass[kl], z0v)) - log_n_used[ed.pmf];
        }
        // (docs 5.2) first edge: rho = e^eta Z1; general edge: rho = e^eta Z1 / (1 + e^eta Z0)
        const double eta = prior_logodds[ed.pmf];
        if (ed.first)
          log_rho[e] = eta + log_z1;
        else
          log_rho[e] = eta + log_z1 - softplus(eta + log_z0);
      }
    });
  }

  // Association -> PMF messages: kappa_km = 1 / (1 + sum_{k' != k} rho_k'm) (the 1 is the
  // clutter hypothesis a_m = 0 of eq. (21)), leave-one-out per measurement via prefix and
  // suffix log-sum-exps (docs section 5.2).
  void measurement_to_pmf_messages() {
    parallel_for(n_measurements_total(), n_threads, [&](Index lm) {
      const auto& es = edges_of_measurement[lm];
      const Index n = static_cast<Index>(es.size());
      std::vector<double> pre(static_cast<std::size_t>(n + 1), kNegInf), suf(static_cast<std::size_t>(n + 1), kNegInf);
      for (Index a = 0; a < n; ++a) pre[a + 1] = logaddexp(pre[a], log_rho[es[a]]);
      for (Index a = n - 1; a >= 0; --a) suf[a] = logaddexp(suf[a + 1], log_rho[es[a]]);
      for (Index a = 0; a < n; ++a) {
        const double loo = logaddexp(0.0, logaddexp(pre[a], suf[a + 1]));
        edges[es[a]].log_kappa = std::max(-loo, kLogFloor);
      }
    });
  }

  // T iterations of the sum-product messages (Sec. IV-D; the paper uses T = 2), all
  // measurements of all links in parallel (Scheme I's parallel message updates).
  void iterate_messages() {
    prepare_messages();
    for (int t = 0; t < params.n_iterations; ++t) {
      if (t == 0) {
        first_iteration_pmf_to_measurement();
      } else {
        compute_message_products(false);
        pmf_to_measurement_messages();
      }
      measurement_to_pmf_messages();
    }
  }

  // ------------------------------------------------------------ confirmation of new PMFs
  // New PMFs on n_birth_particles < P particles (not in the paper; docs section 4.5): after the
  // beliefs, every alive new PMF whose posterior log-odds reaches confirm_logodds (the pruning
  // threshold less a margin) is redrawn on P particles from its birth proposal (the draw of
  // draw_new_pmfs with P particles: the paper's), its edges' likelihood ratios are recomputed and
  // the graph is rebuilt; the caller then runs the messages and beliefs again.  New PMFs below
  // it keep their n_birth_particles (they are pruned unless the second pass lifts them).
  // Returns whether any PMF was redrawn.
  bool confirm_new_pmfs(const SpaOutput& out) {
    const Index K = n_legacy, P = n_particles;
    if (!staged_births || !(params.confirm_logodds < std::numeric_limits<double>::infinity())) return false;
    std::vector<Index> redraw;
    for (Index k = K; k < n_pmfs; ++k)
      if (alive[k] && out.logodds[k] >= params.confirm_logodds) redraw.push_back(k);
    if (redraw.empty()) return false;
    for (Index k : redraw) n_used_[static_cast<std::size_t>(k)] = P;
    parallel_for(static_cast<Index>(redraw.size()), n_threads, [&](Index j) {
      const Index k = redraw[static_cast<std::size_t>(j)];
      double* xs = positions + k * 3 * P;
      double* lw = log_weights + k * P;
      const Link& l = links[birth_link[k]];
      std::vector<double> draws(static_cast<std::size_t>(3 * P));
      Rng rng(seed, kBirth, static_cast<std::uint64_t>(k));
      draw_birth_randoms(birth_proposal(params, l), P, rng, draws.data());
      if (place_new_pmf(params, l, first_measurement[k], P, draws.data(), xs, xs + P, xs + 2 * P, lw,
                        birth_geometry + (k - K) * 4 * P, P) == 0)
        alive[k] = 0;  // no birth support (docs section 4.4)
      else
        set_prior_weights(k);
    });
    std::vector<Index> slots;
    for (Index e = n_legacy_candidates; e < static_cast<Index>(candidates.size()); ++e)
      if (n_used(candidates[e].pmf) == P) {
        has_log_ratio[e] = 0;
        slots.push_back(e);
      }
    parallel_for(static_cast<Index>(slots.size()), n_threads, [&](Index j) {
      const Index e = slots[static_cast<std::size_t>(j)];
      compute_ratios(e, P, candidates[e].first);
    });
    build_graph();
    return true;
  }

  // ------------------------------------------------------------ stage 7: beliefs
  // Beliefs b_k(x) ~ alpha_k(x) prod_l Phi_l(x) from the final messages: posterior existence
  // log-odds (Sec. IV-A) and MMSE positions (Sec. IV-A), before resampling.  Writes the
  // optional outputs (the particles, prior weights and prior log-odds the messages used, the
  // posterior log weights).  With out.prune, PMFs with posterior log-odds < log_prune_odds get
  // no estimate (NaN).
  double* posterior_weights = nullptr;  // normalised posterior weights e^{S - A}, [k * P + i]
  void beliefs_and_estimates(const SpaOutput& out) {
    const Index P = n_particles, L = n_links;
    compute_message_products(params.n_iterations == 0);
    posterior_weights = ws.posterior_weights.get(n_pmfs * P);
    parallel_for_chunks(n_pmfs, n_threads, [&](Index lo, Index hi) {
      std::vector<double> S(static_cast<std::size_t>(P));
      for (Index k = lo; k < hi; ++k) {
        coarse_cancellation_point();  // Ctrl-C between PMFs (cancel.hpp)
        const Index n = n_used(k);
        const double* xs = positions + k * 3 * P;
        const double* lw = log_weights + k * P;
        double* w = posterior_weights + k * P;
        // rows of new PMFs with n < P are padded cyclically (log weights -inf)
        if (out.input_positions_m)
          for (Index i = 0, j = 0; i < P; ++i, j = j + 1 == n ? 0 : j + 1)
            for (int d = 0; d < 3; ++d) out.input_positions_m[(k * P + i) * 3 + d] = xs[d * P + j];
        if (out.input_log_weights) {
          std::copy(lw, lw + n, out.input_log_weights + k * P);
          std::fill(out.input_log_weights + k * P + n, out.input_log_weights + (k + 1) * P, kNegInf);
        }
        if (out.input_logodds) out.input_logodds[k] = prior_logodds[k];
        if (!alive[k]) {
          out.logodds[k] = kNegInf;
          for (int d = 0; d < 3; ++d) out.estimates_m[3 * k + d] = std::numeric_limits<double>::quiet_NaN();
          if (out.posterior_log_weights)
            std::fill(out.posterior_log_weights + k * P, out.posterior_log_weights + (k + 1) * P, kNegInf);
          continue;
        }
        // S = lam + sum over the connected links of log Phi = O[k][l] + log Phi[k][l], any l
        Index l_any = -1;
        for (Index l = 0; l < L; ++l)
          if (connected[k * L + l]) l_any = l;
        if (l_any < 0) {
          std::copy(lw, lw + n, S.begin());
        } else {
          const double* o = log_other_factors + (k * L + l_any) * P;
          const double* ph = log_visibility_factor + (k * L + l_any) * P;
          for (Index i = 0; i < n; ++i) S[i] = o[i] + ph[i];
        }
        if (out.posterior_log_weights) {
          std::copy(S.begin(), S.begin() + n, out.posterior_log_weights + k * P);
          std::fill(out.posterior_log_weights + k * P + n, out.posterior_log_weights + (k + 1) * P, kNegInf);
        }
        std::copy(S.begin(), S.begin() + n, w);
        const double mxS = max_of(S.data(), n);
        const double A = lse_with_max(w, n, mxS);
        // (Sec. IV-A) posterior existence: eta + log mean_i e^{S_i}
        out.logodds[k] = prior_logodds[k] + A - log_n_used[k];
        if (out.prune && out.logodds[k] < params.log_prune_odds) {  // not returned: no estimate
          for (int d = 0; d < 3; ++d) out.estimates_m[3 * k + d] = std::numeric_limits<double>::quiet_NaN();
          continue;
        }
        const double scale = std::exp(-(A - mxS));
        for (Index i = 0; i < n; ++i) w[i] *= scale;  // exp(S_i - A)
        // (Sec. IV-A) MMSE position: the posterior-weighted particle mean
        for (int d = 0; d < 3; ++d) out.estimates_m[3 * k + d] = dot_of(w, xs + d * P, n);
      }
    });
  }

  // ------------------------------------------------------------ stage 8: resampling
  // Systematic resampling of every PMF that is alive and not pruned to P particles, plus the
  // jitter N(0, jitter_std^2 I) (docs section 5.5); a pruned PMF keeps its particles.  With
  // out.prune only PMFs with log-odds >= log_prune_odds are written, in order, to the first
  // rows of out.positions_m.
  void resample_pmfs(const SpaOutput& out) {
    const Index P = n_particles;
    std::vector<Index> row(static_cast<std::size_t>(n_pmfs));  // output row (-1: not written)
    Index n_rows = 0;
    for (Index k = 0; k < n_pmfs; ++k) row[k] = !out.prune || out.logodds[k] >= params.log_prune_odds ? n_rows++ : -1;
    parallel_for_chunks(n_pmfs, n_threads, [&](Index lo, Index hi) {
      std::vector<double> noise(static_cast<std::size_t>(3 * P));
      std::vector<Index> idx(static_cast<std::size_t>(P));
      for (Index k = lo; k < hi; ++k) {
        coarse_cancellation_point();  // Ctrl-C between PMFs (cancel.hpp)
        if (row[k] < 0) continue;
        const Index n = n_used(k);
        const double* xs = positions + k * 3 * P;
        double* xo = out.positions_m + row[k] * P * 3;
        if (!alive[k] || out.logodds[k] < params.log_prune_odds) {  // pruned by the caller: not resampled
          for (Index i = 0, j = 0; i < P; ++i, j = j + 1 == n ? 0 : j + 1)
            for (int d = 0; d < 3; ++d) xo[3 * i + d] = xs[d * P + j];
          continue;
        }
        Rng rng(seed, kResample, static_cast<std::uint64_t>(k));
        systematic_resample(posterior_weights + k * P, n, P, rng.uniform(), idx.data());
        rng.normals(noise.data(), 3 * P);
        for (Index i = 0; i < P; ++i)
          for (int d = 0; d < 3; ++d) xo[3 * i + d] = xs[d * P + idx[i]] + params.jitter_std_m * noise[3 * i + d];
      }
    });
  }
};

// One module call: the stages of ModuleCall in order.  legacy: (K, P, 3) positions, (K, P)
// log weights, (K,) log-odds; Kt = K + the measurements of the birth links rows of output.
inline void spa_update(const SpaParams& params, const LegacyPmfs& legacy, const std::vector<Link>& links,
                       bool predict, std::uint64_t seed, const SpaOutput& out, int n_threads) {
  ModuleCall call(params, legacy, links, seed, n_threads, workspace());
  call.predict_legacy_pmfs(predict);
  call.add_legacy_edges();
  call.censor_new_pmfs();
  call.draw_new_pmfs();
  call.add_new_pmf_edges();
  call.iterate_messages();
  call.beliefs_and_estimates(out);
  if (call.confirm_new_pmfs(out)) {
    call.iterate_messages();
    call.beliefs_and_estimates(out);
  }
  call.resample_pmfs(out);
}

}  // namespace SKYSENSE_ISA_NS
}  // namespace skysense::mapping
