// A minimal static-schedule parallel-for over an index range.  Work items are
// independent, so results never depend on the number of threads.
//
// The calling thread does share 0 of the work; shares 1..t-1 go to a process-wide pool of
// parked worker threads (started on first use, never torn down: idle workers cost nothing and
// die with the process).  Starting threads per call cost ~70 us per parallel region on this
// machine, i.e. ~1 ms per mapping module call with ~17 regions.  When the pool is busy (a call
// from another thread, or a parallel_for nested in a job) or the process is a fork of the one
// that started it, the shares get threads of their own as before, so nothing waits on a pool
// it cannot use.
//
// Cancellation (cancel.hpp): the caller's CancellationScope is carried into the worker threads,
// and a cancellation point precedes every item, so Ctrl-C stops a call within one item's time.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "skysense/cancel.hpp"

#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

namespace skysense {
namespace detail {

inline long process_id() {
#if defined(_WIN32)
  return static_cast<long>(_getpid());
#else
  return static_cast<long>(getpid());
#endif
}

// Spin-wait hint (x86 PAUSE), nothing elsewhere.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins up to 250 us for `ready` (not at all if !spin), then blocks on cv (sleepers counts the
// blocked waiters, so the notifying side locks and notifies only when somebody sleeps).  Waking
// a parked thread costs ~35 us each way on this (virtualised) machine, so a worker spins
// through the short serial gaps between the parallel regions of a kernel call and parks when
// the caller is done.  Only threads that have a core of their own spin (spinning with more
// threads than cores takes the cores from the threads doing the work).
template <class Ready>
void spin_then_wait(Ready ready, bool spin, std::mutex& m, std::condition_variable& cv,
                    std::atomic<int>& sleepers) {
  constexpr auto kSpin = std::chrono::microseconds(250);
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; !ready(); ++k) {
    cpu_relax();
    if (!spin || ((k & 255) == 255 && std::chrono::steady_clock::now() - t0 > kSpin)) {
      std::unique_lock<std::mutex> lock(m);
      ++sleepers;
      cv.wait(lock, ready);
      --sleepers;
      return;
    }
  }
}

class WorkerPool {
 public:
  static WorkerPool& instance() {
    static WorkerPool* pool = new WorkerPool;  // leaked on purpose (see above)
    return *pool;
  }

  // Runs job(w) for w = 1..t-1 on the workers and job(0) here; false (nothing run) when the
  // pool is in use or this is a forked child.  Exceptions of the shares are rethrown.
  template <class F>
  bool run(int t, F& job) {
    if (t > static_cast<int>(kMaxShares)) return false;
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock() || process_id() != pid_) return false;
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(t));
    while (static_cast<int>(workers_.size()) < t - 1) {
      const int id = static_cast<int>(workers_.size()) + 1;
      workers_.emplace_back([this, id] { loop(id); });
    }
    ctx_ = &job;
    call_ = [](void* ctx, int w) { (*static_cast<F*>(ctx))(w); };
    errors_ = &errors;
    pending_ = t - 1;
    // publishes the job (seq_cst); the ticket carries its share count, so a worker that is not
    // part of it never reads the job's fields
    ticket_.store((ticket_.load() / kMaxShares + 1) * kMaxShares + static_cast<unsigned long>(t));
    if (worker_sleepers_ > 0) {
      std::lock_guard<std::mutex> lock(m_);
      wake_.notify_all();
    }
    try {
      job(0);
    } catch (...) {
      errors[0] = std::current_exception();
    }
    spin_then_wait([this] { return pending_.load() == 0; }, t <= cores_, m_, done_,
                   caller_sleepers_);
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    return true;
  }

 private:
  WorkerPool()
      : pid_(process_id()), cores_(std::max(1, static_cast<int>(std::thread::hardware_concurrency()))) {}

  void loop(int id) {
    unsigned long seen = 0;
    for (;;) {
      spin_then_wait([&] { return ticket_.load() != seen; }, id < cores_, m_, wake_,
                     worker_sleepers_);
      seen = ticket_.load();
      if (static_cast<unsigned long>(id) >= seen % kMaxShares) continue;  // not part of this job
      try {
        call_(ctx_, id);
      } catch (...) {
        (*errors_)[static_cast<std::size_t>(id)] = std::current_exception();
      }
      if (pending_.fetch_sub(1) == 1 && caller_sleepers_ > 0) {
        std::lock_guard<std::mutex> lock(m_);
        done_.notify_all();
      }
    }
  }

  const long pid_;
  const int cores_;  // threads that may spin: the caller and workers 1..cores_-1
  std::mutex busy_;  // one job at a time
  std::mutex m_;     // for the condition variables only
  std::condition_variable wake_, done_;
  std::atomic<int> worker_sleepers_{0}, caller_sleepers_{0};
  std::vector<std::thread> workers_;  // touched by the caller holding busy_ only
  // the job: written before ticket_ changes, read by its workers after they see the change
  // and before they count themselves off pending_
  static constexpr unsigned long kMaxShares = 1024;
  void* ctx_ = nullptr;
  void (*call_)(void*, int) = nullptr;
  std::vector<std::exception_ptr>* errors_ = nullptr;
  std::atomic<int> pending_{0};
  std::atomic<unsigned long> ticket_{0};  // job number * kMaxShares + its share count
};

}  // namespace detail

template <class F>
void parallel_for(std::ptrdiff_t n, int n_threads, F&& body) {
  if (n <= 0) return;
  Cancellation* const cancel = current_cancellation();
  const std::ptrdiff_t t = std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(n_threads, n));
  if (t == 1) {
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      if (cancel) cancel->check();
      body(i);
    }
    return;
  }
  auto share = [&](int w) {
    const CancellationScope scope(cancel);  // nested kernels on this worker see it too
    const std::ptrdiff_t lo = n * w / t, hi = n * (w + 1) / t;
    for (std::ptrdiff_t i = lo; i < hi; ++i) {
      if (cancel) cancel->check();
      body(i);
    }
  };
  if (detail::WorkerPool::instance().run(static_cast<int>(t), share)) return;
  // pool unavailable: threads of their own for shares 1..t-1, share 0 here
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(t));
  pool.reserve(static_cast<std::size_t>(t - 1));
  for (std::ptrdiff_t w = 1; w < t; ++w) {
    pool.emplace_back([&, w] {
      try {
        share(static_cast<int>(w));
      } catch (...) {
        errors[static_cast<std::size_t>(w)] = std::current_exception();
      }
    });
  }
  try {
    share(0);
  } catch (...) {
    errors[0] = std::current_exception();
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
