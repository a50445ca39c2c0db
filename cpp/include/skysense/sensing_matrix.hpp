// Cooperative-ISAC imaging forward model (Huang et al., IEEE TWC 2026, eqs. 10-14).
//
//   link      h(a, p, f) = exp(-j k_f |a - p|) / (sqrt(4 pi) |a - p|)            (eq. 11)
//   row       A[(f, q, r, t), v] = g * h(tx_t, p_v, f) * h(rx_r, p_v, f)        (eqs. 10, 12)
//
// with k_f = 2 pi / lambda_f, g the real amplitude factor (transmit amplitude and
// lambda_0 sqrt(G_s) / sqrt(4 pi)), q the BS pair (tx BS, rx BS) and r, t the rx and
// tx antennas of that pair.  Row index = ((f * n_pairs + q) * n_per_bs + r) * n_per_bs + t.
//
// The phase k d is thousands of radians, so a double-precision k d already carries
// ~1e-12 absolute error.  Distances and phases are therefore formed in long double
// from the exact inputs (positions, frequency, c), reduced modulo 2 pi, and only
// then rounded: link coefficients are accurate to ~1e-16 relative to their inputs,
// and the product is rounded once to T.
#pragma once
#include <cmath>
#include <complex>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "skysense/cancel.hpp"
#include "skysense/parallel.hpp"
#include "skysense/views.hpp"

namespace skysense {

namespace detail {

constexpr double kInvSqrt4Pi = 0.28209479177387814;  // 1 / sqrt(4 pi)

constexpr long double kTwoPiL = 6.283185307179586476925286766559005768L;

// Link coefficients of `n_ant` antennas to `n_pts` points at one frequency (cycles
// per metre `inv_wavelength = f / c`, passed as the exact pair f, c), written as
// split real/imag rows: re[a * n_pts + p], im[...].
inline void link_rows(const double* ant, std::ptrdiff_t n_ant, const double* pts,
                      std::ptrdiff_t n_pts, double frequency, double speed, double* re,
                      double* im) {
  const long double cycles_per_m = static_cast<long double>(frequency) / speed;
  for (std::ptrdiff_t a = 0; a < n_ant; ++a) {
    const long double ax = ant[3 * a], ay = ant[3 * a + 1], az = ant[3 * a + 2];
    for (std::ptrdiff_t p = 0; p < n_pts; ++p) {
      const long double dx = pts[3 * p] - ax, dy = pts[3 * p + 1] - ay, dz = pts[3 * p + 2] - az;
      const long double d = std::sqrt(dx * dx + dy * dy + dz * dz);
      if (!(d > 0.0L)) throw std::domain_error("an antenna coincides with a point (zero distance)");
      // Phase in turns, keep the fractional part, then radians: exact to ~1e-16 rad.
      const long double turns = d * cycles_per_m;
      const double ph = static_cast<double>(kTwoPiL * (turns - std::floor(turns)));
      const double amp = kInvSqrt4Pi / static_cast<double>(d);
      re[a * n_pts + p] = amp * std::cos(ph);
      im[a * n_pts + p] = -amp * std::sin(ph);
    }
  }
}

}  // namespace detail

// out[f, a, p] = h(antennas[a], points[p], f).  Shapes: antennas (n_ant, 3),
// points (n_pts, 3), frequencies (n_f,) [Hz], out (n_f, n_ant, n_pts); speed [m/s].
template <class T>
void link_matrix(ConstView<double, 2> antennas, ConstView<double, 2> points,
                 ConstView<double, 1> frequencies, double speed, View<std::complex<T>, 3> out, int n_threads) {
  const std::ptrdiff_t n_f = frequencies.shape[0], n_ant = antennas.shape[0],
                       n_pts = points.shape[0];
  parallel_for(n_f * n_ant, n_threads, [&](std::ptrdiff_t i) {
    const std::ptrdiff_t f = i / n_ant, a = i % n_ant;
    std::vector<double> re(static_cast<std::size_t>(n_pts)), im(static_cast<std::size_t>(n_pts));
    detail::link_rows(antennas.data + 3 * a, 1, points.data, n_pts, frequencies.data[f], speed, re.data(),
                      im.data());
    std::complex<T>* row = out.data + i * n_pts;
    for (std::ptrdiff_t p = 0; p < n_pts; ++p)
      row[p] = std::complex<T>(static_cast<T>(re[p]), static_cast<T>(im[p]));
  });
}

// Dense sensing matrix.  antennas (n_bs * n_per_bs, 3) grouped by BS; pairs
// (n_pairs, 2) of (tx BS, rx BS); out (n_f * n_pairs * n_per_bs^2, n_pts).
template <class T>
void sensing_matrix(ConstView<double, 2> antennas, std::ptrdiff_t n_per_bs,
                    ConstView<double, 2> points, ConstView<double, 1> frequencies, double speed,
                    ConstView<std::int64_t, 2> pairs, double amplitude,
                    View<std::complex<T>, 2> out, int n_threads) {
  const std::ptrdiff_t n_f = frequencies.shape[0], n_ant = antennas.shape[0],
                       n_pts = points.shape[0], n_pairs = pairs.shape[0];
  // Links for every (f, antenna) in double, split real/imag: small (n_f * n_ant * n_pts).
  std::vector<double> re(static_cast<std::size_t>(n_f * n_ant * n_pts)), im(re.size());
  parallel_for(n_f * n_ant, n_threads, [&](std::ptrdiff_t i) {
    const std::ptrdiff_t f = i / n_ant, a = i % n_ant;
    detail::link_rows(antennas.data + 3 * a, 1, points.data, n_pts, frequencies.data[f], speed,
                      re.data() + i * n_pts, im.data() + i * n_pts);
  });
  const std::ptrdiff_t block = n_per_bs * n_per_bs;
  parallel_for(n_f * n_pairs * block, n_threads, [&](std::ptrdiff_t row) {
    const std::ptrdiff_t t = row % n_per_bs, r = (row / n_per_bs) % n_per_bs;
    const std::ptrdiff_t q = (row / block) % n_pairs, f = row / (block * n_pairs);
    const std::ptrdiff_t it = (f * n_ant + pairs.data[2 * q] * n_per_bs + t) * n_pts;
    const std::ptrdiff_t ir = (f * n_ant + pairs.data[2 * q + 1] * n_per_bs + r) * n_pts;
    const double *tre = re.data() + it, *tim = im.data() + it;
    const double *rre = re.data() + ir, *rim = im.data() + ir;
    T* o = reinterpret_cast<T*>(out.data + row * n_pts);
    for (std::ptrdiff_t p = 0; p < n_pts; ++p) {
      // Written out: std::complex operator* goes through the NaN-recovering __muldc3.
      o[2 * p] = static_cast<T>(amplitude * (tre[p] * rre[p] - tim[p] * rim[p]));
      o[2 * p + 1] = static_cast<T>(amplitude * (tre[p] * rim[p] + tim[p] * rre[p]));
    }
  });
}

// Noise-free CSI of point scatterers at arbitrary (off-grid) positions, one
// frame per row: out[n, :] = sum_m coeffs[n, m] * (column of A for points[n, m]).
// points (n_frames, n_targets, 3), coeffs (n_frames, n_targets) complex,
// out (n_frames, n_f * n_pairs * n_per_bs^2).
template <class T>
void point_target_csi(ConstView<double, 2> antennas, std::ptrdiff_t n_per_bs,
                      ConstView<double, 1> frequencies, double speed, ConstView<std::int64_t, 2> pairs,
                      double amplitude, ConstView<double, 3> points,
                      ConstView<std::complex<double>, 2> coeffs, View<std::complex<T>, 2> out,
                      int n_threads) {
  const std::ptrdiff_t n_frames = points.shape[0], n_tg = points.shape[1];
  const std::ptrdiff_t n_f = frequencies.shape[0], n_ant = antennas.shape[0],
                       n_pairs = pairs.shape[0], m = out.shape[1];
  parallel_for_chunks(n_frames, n_threads, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) {
    std::vector<double> re(static_cast<std::size_t>(n_f * n_ant * n_tg)), im(re.size());
    // Per (f, antenna): coefficient-weighted tx links, so a row is a dot product.
    std::vector<double> wre(re.size()), wim(re.size());
    for (std::ptrdiff_t n = lo; n < hi; ++n) {
      cancellation_point();
      const double* pts = points.data + 3 * n * n_tg;
      const std::complex<double>* c = coeffs.data + n * n_tg;
      for (std::ptrdiff_t f = 0; f < n_f; ++f)
        detail::link_rows(antennas.data, n_ant, pts, n_tg, frequencies.data[f], speed,
                          re.data() + f * n_ant * n_tg, im.data() + f * n_ant * n_tg);
      for (std::size_t i = 0; i < re.size(); ++i) {
        const std::complex<double> cm = c[static_cast<std::ptrdiff_t>(i) % n_tg];
        wre[i] = amplitude * (re[i] * cm.real() - im[i] * cm.imag());
        wim[i] = amplitude * (re[i] * cm.imag() + im[i] * cm.real());
      }
      std::complex<T>* o = out.data + n * m;
      std::ptrdiff_t row = 0;
      for (std::ptrdiff_t f = 0; f < n_f; ++f)
        for (std::ptrdiff_t q = 0; q < n_pairs; ++q)
          for (std::ptrdiff_t r = 0; r < n_per_bs; ++r)
            for (std::ptrdiff_t t = 0; t < n_per_bs; ++t, ++row) {
              const std::ptrdiff_t it = (f * n_ant + pairs.data[2 * q] * n_per_bs + t) * n_tg;
              const std::ptrdiff_t ir = (f * n_ant + pairs.data[2 * q + 1] * n_per_bs + r) * n_tg;
              if ((row & 1023) == 0) cancellation_point();
              double sr = 0.0, si = 0.0;
              for (std::ptrdiff_t k = 0; k < n_tg; ++k) {
                sr += wre[it + k] * re[ir + k] - wim[it + k] * im[ir + k];
                si += wre[it + k] * im[ir + k] + wim[it + k] * re[ir + k];
              }
              o[row] = std::complex<T>(static_cast<T>(sr), static_cast<T>(si));
            }
    }
  });
}

}  // namespace skysense
