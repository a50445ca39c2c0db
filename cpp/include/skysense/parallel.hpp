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

// Same, but the chunks hold about equal total cost (cost(i) >= 0 of item i), for items of
// uneven size; worker w gets the items whose cost prefix lies in [C w / t, C (w + 1) / t).
template <class C, class F>
void parallel_for_weighted(std::ptrdiff_t n, int n_threads, C&& cost, F&& body) {
  if (n <= 0) return;
  const std::ptrdiff_t t = std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(n_threads, n));
  if (t == 1) {
    body(std::ptrdiff_t{0}, n);
    return;
  }
  std::vector<double> prefix(static_cast<std::size_t>(n + 1), 0.0);
  for (std::ptrdiff_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + cost(i);
  std::vector<std::ptrdiff_t> cut(static_cast<std::size_t>(t + 1), n);
  cut[0] = 0;
  for (std::ptrdiff_t w = 1; w < t; ++w) {
    const double target = prefix[n] * static_cast<double>(w) / static_cast<double>(t);
    cut[w] = std::lower_bound(prefix.begin(), prefix.end(), target) - prefix.begin();
    cut[w] = std::max(cut[w - 1], std::min(cut[w], n));
  }
  parallel_for(t, static_cast<int>(t), [&](std::ptrdiff_t w) {
    if (cut[w] < cut[w + 1]) body(cut[w], cut[w + 1]);
  });
}

}  // namespace skysense
