// Non-owning views over C-contiguous arrays.  Kernels take views; the binding
// layer builds them from validated NumPy arrays.  No pybind11 here.
#pragma once
#include <array>
#include <cstddef>

namespace skysense {

template <class T, std::size_t N>
struct View {
  T* data = nullptr;
  std::array<std::ptrdiff_t, N> shape{};

  std::ptrdiff_t size() const {
    std::ptrdiff_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  // Row-major offset of a multi-index.
  template <class... I>
  T& operator()(I... idx) const {
    static_assert(sizeof...(I) == N, "wrong number of indices");
    const std::array<std::ptrdiff_t, N> ix{static_cast<std::ptrdiff_t>(idx)...};
    std::ptrdiff_t off = 0;
    for (std::size_t d = 0; d < N; ++d) off = off * shape[d] + ix[d];
    return data[off];
  }
};

template <class T, std::size_t N>
using ConstView = View<const T, N>;

}  // namespace skysense
