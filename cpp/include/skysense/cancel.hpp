// Cooperative cancellation of long kernel calls (Ctrl-C).
//
// The binding layer opens a CancellationScope around a kernel call with a Cancellation whose
// poll function asks the host (Python) whether to stop.  Kernels call cancellation_point()
// between chunks of work; parallel_for (parallel.hpp) carries the caller's scope into its worker
// threads and places a cancellation point before every item.  Once a poll says stop, every
// thread's next cancellation point throws Interrupted; RAII frees the work buffers on the way out
// and the binding turns it into the pending Python exception (KeyboardInterrupt).
//
// The poll runs only on the thread that created the Cancellation (the Python caller, where signal
// handlers run), at most every `interval`; other threads only read an atomic flag.  Without a
// scope (C++ tests, nested calls) cancellation_point() is one thread-local load.
#pragma once
#include <atomic>
#include <chrono>
#include <exception>
#include <thread>

namespace skysense {

// Thrown at a cancellation point once cancellation was requested.
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "kernel call interrupted"; }
};

class Cancellation {
 public:
  using PollFn = bool (*)(void* context);  // true: stop

  explicit Cancellation(PollFn poll, void* context = nullptr,
                        std::chrono::milliseconds interval = std::chrono::milliseconds(20))
      : poll_(poll),
        context_(context),
        interval_(interval),
        owner_(std::this_thread::get_id()),
        last_poll_(std::chrono::steady_clock::now()) {}

  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  bool requested() const { return requested_.load(std::memory_order_relaxed); }

  // Throws Interrupted if cancellation was requested; on the owner thread, polls the host at
  // most every `interval` (the clock is read every 64 calls, so a cancellation point costs a
  // few nanoseconds even in tight loops).
  // coarse = true reads the clock at every call: for points between work items of a
  // millisecond or more (one PMF of P particles), where 64 calls could take seconds.
  void check(bool coarse = false) {
    if (requested()) throw Interrupted();
    if (poll_ == nullptr || std::this_thread::get_id() != owner_) return;
    if (!coarse && (++calls_ & 63u) != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_poll_ < interval_) return;
    last_poll_ = now;
    if (poll_(context_)) {
      requested_.store(true, std::memory_order_relaxed);
      throw Interrupted();
    }
  }

 private:
  PollFn poll_;
  void* context_;
  std::chrono::milliseconds interval_;
  std::thread::id owner_;
  std::chrono::steady_clock::time_point last_poll_;  // owner thread only
  unsigned calls_ = 0;                               // owner thread only
  std::atomic<bool> requested_{false};
};

namespace detail {
inline Cancellation*& current_cancellation() {
  thread_local Cancellation* current = nullptr;
  return current;
}
}  // namespace detail

// The cancellation of the call running on this thread (null: none).
inline Cancellation* current_cancellation() { return detail::current_cancellation(); }

// Makes `c` this thread's current cancellation for the scope's lifetime (restores the previous
// one after, so scopes nest).
class CancellationScope {
 public:
  explicit CancellationScope(Cancellation* c) : previous_(detail::current_cancellation()) {
    detail::current_cancellation() = c;
  }
  ~CancellationScope() { detail::current_cancellation() = previous_; }
  CancellationScope(const CancellationScope&) = delete;
  CancellationScope& operator=(const CancellationScope&) = delete;

 private:
  Cancellation* previous_;
};

// Throws Interrupted if the current call was cancelled (no-op outside a scope).
inline void cancellation_point() {
  if (Cancellation* c = detail::current_cancellation()) c->check();
}

// Same, reading the clock at every call (~20 ns): between coarse work items.
inline void coarse_cancellation_point() {
  if (Cancellation* c = detail::current_cancellation()) c->check(true);
}

}  // namespace skysense
