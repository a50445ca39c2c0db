// Binding of the monostatic echo estimator (skysense/echo_pencil.hpp): shapes, dtypes and
// sizes are checked here, values (finite CSI, orders) by the Python layer
// (skysense.pipeline.monostatic_front_end).  Keyword-only arguments; the GIL is released and
// Ctrl-C raises KeyboardInterrupt at the next cancellation point.
#include <cmath>

#include "common.hpp"
#include "interrupt.hpp"
#include "skysense/echo_pencil.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace skysense::bind;

namespace {

void echo_pencil(const py::array& csi, const py::array& n_paths, int subarray_x, int subarray_y,
                 int subarray_subcarriers, int max_paths, double min_delay_normalized,
                 bool refine, int max_iter, double refine_rtol, double krylov_rtol,
                 double krylov_noise_rtol, int krylov_max_steps, py::array nu, py::array mu_x,
                 py::array mu_y, py::array gain, py::array n_paths_used, py::array status,
                 py::array iterations, int n_threads) {
  require(csi.ndim() == 4, "csi: expected shape (batch, n_x, n_y, n_subcarriers)");
  skysense::echo::EchoConfig c;
  c.n_x = static_cast<int>(csi.shape(1));
  c.n_y = static_cast<int>(csi.shape(2));
  c.n_sub = static_cast<int>(csi.shape(3));
  c.sub_x = subarray_x;
  c.sub_y = subarray_y;
  c.sub_sc = subarray_subcarriers;
  c.max_paths = max_paths;
  c.min_delay = min_delay_normalized;
  c.refine = refine ? 1 : 0;
  c.max_iter = max_iter;
  c.refine_rtol = refine_rtol;
  c.krylov_rtol = krylov_rtol;
  c.krylov_noise_rtol = krylov_noise_rtol;
  c.krylov_max_steps = krylov_max_steps;
  require(c.n_x >= 2 && c.n_y >= 2 && c.n_sub >= 3,
          "csi: needs n_x >= 2, n_y >= 2 and n_subcarriers >= 3");
  require(subarray_x >= 2 && subarray_x <= c.n_x && subarray_y >= 2 && subarray_y <= c.n_y,
          "subarray_x, subarray_y must lie in [2, n_x] and [2, n_y]");
  require(subarray_subcarriers >= 2 && subarray_subcarriers < c.n_sub,
          "subarray_subcarriers must lie in [2, n_subcarriers - 1]");
  const int rows = subarray_x * subarray_subcarriers * subarray_y;
  const int cols = (c.n_x - subarray_x + 1) * (c.n_sub - subarray_subcarriers) *
                   (c.n_y - subarray_y + 1);
  require(max_paths >= 1 && max_paths <= std::min(rows, cols),
          "max_paths must lie in [1, min(rows, cols) of the Hankel matrix]");
  require(std::isfinite(min_delay_normalized), "min_delay_normalized must be finite");
  require(max_iter >= 1, "max_iter must be >= 1");
  require(refine_rtol > 0.0 && refine_rtol < 1.0, "refine_rtol must lie in (0, 1)");
  require(krylov_rtol > 0.0 && krylov_rtol < 1.0, "krylov_rtol must lie in (0, 1)");
  require(krylov_noise_rtol >= 0.0 && krylov_noise_rtol < 1.0,
          "krylov_noise_rtol must lie in [0, 1)");
  require(krylov_max_steps >= 1, "krylov_max_steps must be >= 1");
  auto q = view<const std::int64_t, 1>(n_paths, "n_paths");
  auto f = view<double, 2>(nu, "nu", true);
  auto x = view<double, 2>(mu_x, "mu_x", true);
  auto y = view<double, 2>(mu_y, "mu_y", true);
  auto g = view<std::complex<double>, 2>(gain, "gain", true);
  auto nq = view<std::int64_t, 1>(n_paths_used, "n_paths_used", true);
  auto st = view<std::int64_t, 1>(status, "status", true);
  auto it = view<std::int64_t, 1>(iterations, "iterations", true);
  const std::ptrdiff_t batch = csi.shape(0);
  for (const auto* v : {&f.shape, &x.shape, &y.shape})
    require((*v)[0] == batch && (*v)[1] == max_paths, "nu, mu_x, mu_y: expected (batch, max_paths)");
  require(g.shape[0] == batch && g.shape[1] == max_paths, "gain: expected (batch, max_paths)");
  require(q.shape[0] == batch && nq.shape[0] == batch && st.shape[0] == batch &&
              it.shape[0] == batch,
          "n_paths, n_paths_used, status, iterations: expected (batch,)");
  for (std::ptrdiff_t b = 0; b < batch; ++b)
    require(q(b) >= -1 && q(b) <= max_paths,
            "n_paths: each must lie in [-1, max_paths] (-1: MDL order)");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    auto hh = view<const std::complex<T>, 4>(csi, "csi");
    skysense::bind::call_interruptible(
        [&] { skysense::echo::estimate<T>(hh, q, c, f, x, y, g, nq, st, it, n_threads); });
  };
  dispatch_complex(csi, run, "csi");
}

}  // namespace

void register_echo(py::module_& m) {
  m.def("echo_pencil", &echo_pencil, py::kw_only(), "csi"_a, "n_paths"_a, "subarray_x"_a,
        "subarray_y"_a, "subarray_subcarriers"_a, "max_paths"_a, "min_delay_normalized"_a,
        "refine"_a, "max_iter"_a, "refine_rtol"_a, "krylov_rtol"_a, "krylov_noise_rtol"_a,
        "krylov_max_steps"_a, "nu"_a, "mu_x"_a, "mu_y"_a, "gain"_a, "n_paths_used"_a, "status"_a,
        "iterations"_a, "n_threads"_a = 1);
}
