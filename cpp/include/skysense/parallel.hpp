// A minimal static-schedule parallel-for over an index range.  Work items are
// independent, so results never depend on the number of threads.
#pragma once
#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace skysense {

template <class F>
void parallel_for(std::ptrdiff_t n, int n_threads, F&& body) {
  if (n <= 0) return;
  const std::ptrdiff_t t = std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(n_threads, n));
  if (t == 1) {
    for (std::ptrdiff_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(t));
  pool.reserve(static_cast<std::size_t>(t));
  for (std::ptrdiff_t w = 0; w < t; ++w) {
    pool.emplace_back([&, w] {
      try {
        const std::ptrdiff_t lo = n * w / t, hi = n * (w + 1) / t;
        for (std::ptrdiff_t i = lo; i < hi; ++i) body(i);
      } catch (...) {
        errors[static_cast<std::size_t>(w)] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Same, but hands each worker one contiguous chunk [lo, hi), so a worker can
// allocate its scratch space once.
template <class F>
void parallel_for_chunks(std::ptrdiff_t n, int n_threads, F&& body) {
  if (n <= 0) return;
  const std::ptrdiff_t t = std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(n_threads, n));
  parallel_for(t, static_cast<int>(t), [&](std::ptrdiff_t w) { body(n * w / t, n * (w + 1) / t); });
}

}  // namespace skysense
