// Shared helpers of the binding layer: array -> view conversion with dtype,
// ndim and contiguity checks, and complex dtype dispatch.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <complex>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "skysense/views.hpp"

namespace skysense::bind {
namespace py = pybind11;


template <class T, std::size_t N>
skysense::View<T, N> view(const py::array& a, const char* name, bool writable = false) {
  using V = std::remove_const_t<T>;
  // Compare by equivalence, not identity: an unpickled (or copied from an unpickled) array
  // carries its own dtype object, equal to but not the same as NumPy's canonical one.
  const auto want = py::dtype::of<V>();
  const auto got = a.dtype();
  if (!got.is(want) && !got.equal(want)) {
    const bool swapped = got.kind() == want.kind() && got.itemsize() == want.itemsize();
    throw std::invalid_argument(std::string(name) + ": wrong dtype " + std::string(py::str(got)) +
                                (swapped ? " (non-native byte order)" : "") + ", expected " +
                                std::string(py::str(want)) + " in native byte order");
  }
  if (a.ndim() != static_cast<py::ssize_t>(N))
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(N) +
                                " dimensions, got " + std::to_string(a.ndim()));
  if (!(a.flags() & py::array::c_style))
    throw std::invalid_argument(std::string(name) + ": array must be C-contiguous");
  if (writable && !a.writeable())
    throw std::invalid_argument(std::string(name) + ": array must be writeable");
  skysense::View<T, N> v;
  v.data = static_cast<T*>(const_cast<void*>(a.data()));
  for (std::size_t d = 0; d < N; ++d) v.shape[d] = a.shape(static_cast<py::ssize_t>(d));
  return v;
}

inline void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

inline void check_geometry(const skysense::ConstView<double, 2>& antenna_positions_m,
                           std::ptrdiff_t n_antennas_per_bs,
                           const skysense::ConstView<std::int64_t, 2>& pairs) {
  require(antenna_positions_m.shape[1] == 3, "antenna_positions_m: expected shape (n_antennas, 3)");
  require(n_antennas_per_bs > 0 && antenna_positions_m.shape[0] % n_antennas_per_bs == 0,
          "n_antennas_per_bs must divide the number of antennas");
  require(pairs.shape[1] == 2, "pairs: expected shape (n_pairs, 2)");
  const std::int64_t n_bs = antenna_positions_m.shape[0] / n_antennas_per_bs;
  for (std::ptrdiff_t i = 0; i < pairs.size(); ++i)
    require(pairs.data[i] >= 0 && pairs.data[i] < n_bs, "pairs: BS index out of range");
}

// Calls fn.template operator()<T>() with T = float for a complex64 output array, double for
// complex128; `name` is the argument's name in the error message.
template <class Fn>
void dispatch_complex(const py::array& out, Fn&& fn, const char* name = "out") {
  if (py::dtype::of<std::complex<float>>().is(out.dtype()))
    fn(float{});
  else if (py::dtype::of<std::complex<double>>().is(out.dtype()))
    fn(double{});
  else
    throw std::invalid_argument(std::string(name) + ": dtype must be complex64 or complex128, got " +
                                std::string(py::str(out.dtype())));
}

}  // namespace skysense::bind
