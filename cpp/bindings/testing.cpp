// Test-only entry points of _core (underscore names, not part of the API): they exercise the
// binding-layer mechanisms themselves, e.g. Ctrl-C handling, independently of any kernel.
#include <pybind11/pybind11.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "interrupt.hpp"
#include "skysense/parallel.hpp"

namespace py = pybind11;

namespace {

// Busy work for `seconds` of wall time over `workers` threads, one millisecond-sized item at a
// time, with a 1 MiB buffer per item (freed on interruption); returns the number of items done.
std::int64_t spin(double seconds, int workers) {
  if (!(seconds >= 0.0 && seconds <= 3600.0))
    throw std::invalid_argument("seconds must be in [0, 3600]");
  if (workers < 1) throw std::invalid_argument("workers must be >= 1");
  const auto stop = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  const auto n_items = static_cast<std::ptrdiff_t>(seconds * 1000.0 * workers) + 1;
  std::vector<std::int64_t> done(static_cast<std::size_t>(n_items), 0);
  return skysense::bind::call_interruptible([&] {
    skysense::parallel_for(n_items, workers, [&](std::ptrdiff_t i) {
      std::vector<double> buffer(1 << 17, 1.0);  // work buffer of this item
      const auto item_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
      while (std::chrono::steady_clock::now() < item_end && std::chrono::steady_clock::now() < stop)
        buffer[static_cast<std::size_t>(i) % buffer.size()] += 1.0;
      done[static_cast<std::size_t>(i)] = 1;
    });
    std::int64_t total = 0;
    for (auto d : done) total += d;
    return total;
  });
}

}  // namespace

void register_testing(py::module_& m) {
  m.def("_spin_interruptible", &spin, py::arg("seconds"), py::arg("workers"),
        "Test only: busy-wait `seconds` over `workers` threads, interruptible by Ctrl-C.");
}
