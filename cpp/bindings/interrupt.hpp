// Ctrl-C for long kernel calls: run a kernel with the GIL released and Python's signal handlers
// polled (cancel.hpp), so SIGINT raises KeyboardInterrupt within ~20 ms plus one work item.
#pragma once
#include <pybind11/pybind11.h>

#include <utility>

#include "skysense/cancel.hpp"

namespace skysense::bind {
namespace py = pybind11;

// Poll function of the Cancellation: runs the Python signal handlers (main thread only; a no-op
// elsewhere, as in Python itself).  True when a handler raised; the exception stays set.
inline bool python_signal_raised(void*) {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

// Calls fn() with the GIL released inside a cancellation scope.  If a signal handler raised
// (KeyboardInterrupt), fn is stopped at its next cancellation point and that exception is
// re-raised in Python; all C++ work buffers are freed by unwinding.
template <class Fn>
decltype(auto) call_interruptible(Fn&& fn) {
  Cancellation cancel(&python_signal_raised);
  const CancellationScope scope(&cancel);
  try {
    py::gil_scoped_release release;
    return std::forward<Fn>(fn)();
  } catch (const Interrupted&) {
    throw py::error_already_set();  // the handler's exception (GIL held again here)
  }
}

}  // namespace skysense::bind
