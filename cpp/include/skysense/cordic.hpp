// CORDIC in vectoring mode: the phase atan2(y, x) of a vector by shift-and-add micro-rotations,
// the way the bistatic PARAMING paper counts its cost for the eigenvalue phases (eq. 35).
//
//   1. block scaling: (x, y) *= 2^-e with e the exponent of max(|x|, |y|) (a leading-zero count in
//      hardware; exact in floating point), so the iterations never overflow nor underflow;
//   2. quadrant pre-rotation into the right half-plane: x < 0 -> rotate by -pi/2 (y >= 0) or
//      +pi/2 (y < 0, sign bit set), acc = +-pi/2;
//   3. for i = 0 .. n-1, d = +1 when y < 0 else -1:
//        x' = x - d y 2^-i,  y' = y + d x 2^-i,  acc -= d atan(2^-i).
//
// After n iterations |acc - atan2(y, x)| <= atan(2^-(n-1)) (plus rounding): the residual angle is
// bounded by the last micro-rotation.  The CORDIC gain prod sqrt(1 + 2^-2i) only scales x and is
// never applied (the magnitude is not an output).  An exact zero input returns 0.
//
// Fixed point (bit-true): the scaled x, y and the angle accumulator are two's-complement integers
// with `frac_bits` fractional bits in a `word_bits` word (word_bits - frac_bits >= 3: sign plus
// the range |x| < sqrt(2) * 1.65 < 4 and |acc| <= pi < 4); inputs and the atan table are rounded
// to nearest (ties to even), the shifts are arithmetic (floor), as a hardware datapath does.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "skysense/cancel.hpp"
#include "skysense/parallel.hpp"
#include "skysense/views.hpp"

namespace skysense::cordic {

// atan(2^-i), i = 0 .. n-1, in double.
inline std::vector<double> angle_table(int n) {
  std::vector<double> t(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<std::size_t>(i)] = std::atan(std::ldexp(1.0, -i));
  return t;
}

// Floating-point CORDIC in arithmetic T (float or double); `table` from angle_table(n).
template <class T>
T atan2_float(T y, T x, const double* table, int n) {
  if (x == T(0) && y == T(0)) return T(0);
  int e = 0;
  std::frexp(std::fmax(std::fabs(x), std::fabs(y)), &e);
  x = std::ldexp(x, -e);
  y = std::ldexp(y, -e);
  const T half_pi = static_cast<T>(1.5707963267948966);
  T acc = T(0);
  if (x < T(0)) {
    if (!std::signbit(y)) {  // rotate by -pi/2: (x, y) -> (y, -x)
      const T t = x;
      x = y;
      y = -t;
      acc = half_pi;
    } else {  // rotate by +pi/2: (x, y) -> (-y, x)
      const T t = x;
      x = -y;
      y = t;
      acc = -half_pi;
    }
  }
  for (int i = 0; i < n; ++i) {
    const T xs = std::ldexp(x, -i), ys = std::ldexp(y, -i);
    const T a = static_cast<T>(table[i]);
    if (y < T(0)) {  // d = +1
      x -= ys;
      y += xs;
      acc -= a;
    } else {  // d = -1
      x += ys;
      y -= xs;
      acc += a;
    }
  }
  return acc;
}

// Fixed-point tables: atan(2^-i) rounded to `frac_bits` fractional bits, and pi/2.
struct FixedTable {
  std::vector<std::int64_t> atan;
  std::int64_t half_pi = 0;
  int frac_bits = 0;
};

inline std::int64_t round_fixed(double v, int frac_bits) {
  return static_cast<std::int64_t>(std::nearbyint(std::ldexp(v, frac_bits)));
}

inline FixedTable fixed_table(int n, int frac_bits) {
  FixedTable t;
  t.frac_bits = frac_bits;
  t.atan.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    t.atan[static_cast<std::size_t>(i)] = round_fixed(std::atan(std::ldexp(1.0, -i)), frac_bits);
  t.half_pi = round_fixed(1.5707963267948966, frac_bits);
  return t;
}

// Bit-true fixed-point CORDIC; returns the accumulator as a real number (acc * 2^-frac_bits).
inline double atan2_fixed(double y, double x, const FixedTable& t) {
  if (x == 0.0 && y == 0.0) return 0.0;
  int e = 0;
  std::frexp(std::fmax(std::fabs(x), std::fabs(y)), &e);
  std::int64_t xi = round_fixed(std::ldexp(x, -e), t.frac_bits);
  std::int64_t yi = round_fixed(std::ldexp(y, -e), t.frac_bits);
  std::int64_t acc = 0;
  if (xi < 0) {
    const std::int64_t tmp = xi;
    if (!std::signbit(y)) {
      xi = yi;
      yi = -tmp;
      acc = t.half_pi;
    } else {
      xi = -yi;
      yi = tmp;
      acc = -t.half_pi;
    }
  }
  const int n = static_cast<int>(t.atan.size());
  for (int i = 0; i < n; ++i) {
    const std::int64_t xs = xi >> i, ys = yi >> i;  // arithmetic shifts (floor)
    if (yi < 0) {
      xi -= ys;
      yi += xs;
      acc -= t.atan[static_cast<std::size_t>(i)];
    } else {
      xi += ys;
      yi -= xs;
      acc += t.atan[static_cast<std::size_t>(i)];
    }
  }
  return std::ldexp(static_cast<double>(acc), -t.frac_bits);
}

// Element-wise CORDIC phase of (y, x) into out (all of length n_elements); fixed point when
// frac_bits > 0 (word_bits checked by the caller), else floating point in T.  A cancellation
// point every 512 elements (Ctrl-C, cancel.hpp: the host is polled every 64 points).
template <class T>
void atan2_array(ConstView<T, 1> y, ConstView<T, 1> x, View<T, 1> out, int iterations,
                 int frac_bits, int n_threads) {
  const std::ptrdiff_t n = out.shape[0];
  if (frac_bits > 0) {
    const FixedTable table = fixed_table(iterations, frac_bits);
    parallel_for_chunks(n, n_threads, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) {
      for (std::ptrdiff_t i = lo; i < hi; ++i) {
        if ((i & 511) == 0) cancellation_point();
        out.data[i] = static_cast<T>(atan2_fixed(y.data[i], x.data[i], table));
      }
    });
  } else {
    const std::vector<double> table = angle_table(iterations);
    parallel_for_chunks(n, n_threads, [&](std::ptrdiff_t lo, std::ptrdiff_t hi) {
      for (std::ptrdiff_t i = lo; i < hi; ++i) {
        if ((i & 511) == 0) cancellation_point();
        out.data[i] = atan2_float<T>(y.data[i], x.data[i], table.data(), iterations);
      }
    });
  }
}

}  // namespace skysense::cordic
