// Bindings of the bistatic kernels: CORDIC phases (skysense/cordic.hpp) and PARAMING
// (skysense/paraming.hpp).  Shapes and dtypes are checked here, values by the Python layer.
#include <cmath>

#include "common.hpp"
#include "skysense/cordic.hpp"
#include "skysense/paraming.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace skysense::bind;

namespace {

void cordic_atan2(const py::array& y, const py::array& x, py::array out, int iterations,
                  int word_bits, int frac_bits, int n_threads) {
  require(iterations >= 1 && iterations <= 64, "iterations must lie in [1, 64]");
  require(frac_bits == 0 || (word_bits <= 62 && frac_bits >= 1 && word_bits - frac_bits >= 3),
          "fixed point needs 1 <= frac_bits <= word_bits - 3 and word_bits <= 62");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    auto yy = view<const T, 1>(y, "y");
    auto xx = view<const T, 1>(x, "x");
    auto oo = view<T, 1>(out, "out", true);
    require(yy.shape[0] == oo.shape[0] && xx.shape[0] == oo.shape[0],
            "x, y, out: lengths differ");
    py::gil_scoped_release release;
    skysense::cordic::atan2_array<T>(yy, xx, oo, iterations, frac_bits, n_threads);
  };
  if (py::dtype::of<float>().is(out.dtype()))
    run(float{});
  else if (py::dtype::of<double>().is(out.dtype()))
    run(double{});
  else
    throw std::invalid_argument("out: dtype must be float32 or float64");
}

void paraming(const py::array& h, int sub_tx, int sub_rx, int sub_sc, int n_paths, int max_paths,
              int criterion, double subcarrier_spacing_hz, double spacing_tx, double spacing_rx,
              int cordic_iterations, double min_delay, int phase_fit, int method,
              double krylov_rtol, double krylov_noise_rtol, int krylov_max_steps, int krylov_oversampling, py::array toa, py::array aoa, py::array aod, py::array gain,
              py::array singular_values, py::array n_paths_out, py::array status, int n_threads) {
  require(h.ndim() == 4, "h: expected shape (batch, n_tx, n_rx, n_subcarriers)");
  skysense::ParamingConfig c;
  c.n_tx = static_cast<int>(h.shape(1));
  c.n_rx = static_cast<int>(h.shape(2));
  c.n_sub = static_cast<int>(h.shape(3));
  c.sub_tx = sub_tx;
  c.sub_rx = sub_rx;
  c.sub_sc = sub_sc;
  c.n_paths = n_paths;
  c.max_paths = max_paths;
  c.criterion = criterion;
  c.subcarrier_spacing_hz = subcarrier_spacing_hz;
  c.spacing_tx = spacing_tx;
  c.spacing_rx = spacing_rx;
  c.cordic_iterations = cordic_iterations;
  c.min_delay = min_delay;
  c.phase_fit = phase_fit;
  c.method = method;
  c.krylov_rtol = krylov_rtol;
  c.krylov_noise_rtol = krylov_noise_rtol;
  c.krylov_max_steps = krylov_max_steps;
  c.krylov_oversampling = krylov_oversampling;
  require(method >= 0 && method <= 2, "method must be 0 (gram), 1 (svd) or 2 (krylov)");
  require(krylov_rtol > 0.0 && krylov_rtol < 1.0, "krylov_rtol must lie in (0, 1)");
  require(krylov_noise_rtol >= 0.0 && krylov_noise_rtol < 1.0,
          "krylov_noise_rtol must lie in [0, 1)");
  require(krylov_max_steps >= 1, "krylov_max_steps must be >= 1");
  require(krylov_oversampling >= 0 && krylov_oversampling <= 64,
          "krylov_oversampling must lie in [0, 64]");
  require(phase_fit == 0 || phase_fit == 1, "phase_fit must be 0 (demodulate) or 1 (unwrap)");
  require(std::isfinite(min_delay), "min_delay must be finite");
  require(sub_tx >= 1 && sub_tx <= c.n_tx && sub_rx >= 1 && sub_rx <= c.n_rx,
          "sub-array sizes must lie in [1, n_tx] and [1, n_rx]");
  require(sub_sc >= 1 && sub_sc < c.n_sub, "sub_sc must lie in [1, n_subcarriers - 1]");
  const int kt = c.n_tx - sub_tx + 1, kr = c.n_rx - sub_rx + 1, kn = c.n_sub - sub_sc + 1;
  const int rows = sub_tx * sub_sc * sub_rx, cols = kt * (kn - 1) * kr;
  const int k = std::min(rows, cols);
  require(max_paths >= 1 && max_paths <= std::min(k, c.n_sub),
          "max_paths must lie in [1, min(rows, cols of X1, n_subcarriers)]");
  require(n_paths >= 0 && n_paths <= max_paths, "n_paths must lie in [0, max_paths]");
  require(criterion == 0 || criterion == 1, "criterion must be 0 (MDL) or 1 (AIC)");
  require(cordic_iterations >= 1 && cordic_iterations <= 64,
          "cordic_iterations must lie in [1, 64]");
  auto t = view<double, 2>(toa, "toa", true);
  auto a = view<double, 2>(aoa, "aoa", true);
  auto d = view<double, 2>(aod, "aod", true);
  auto g = view<std::complex<double>, 2>(gain, "gain", true);
  auto s = view<double, 2>(singular_values, "singular_values", true);
  auto np = view<std::int64_t, 1>(n_paths_out, "n_paths", true);
  auto st = view<std::int64_t, 1>(status, "status", true);
  const std::ptrdiff_t batch = h.shape(0);
  for (const auto* v : {&t.shape, &a.shape, &d.shape})
    require((*v)[0] == batch && (*v)[1] == max_paths, "toa, aoa, aod: expected (batch, max_paths)");
  require(g.shape[0] == batch && g.shape[1] == max_paths, "gain: expected (batch, max_paths)");
  require(s.shape[0] == batch && s.shape[1] == k, "singular_values: expected (batch, min(L, P))");
  require(np.shape[0] == batch && st.shape[0] == batch, "n_paths, status: expected (batch,)");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    auto hh = view<const std::complex<T>, 4>(h, "h");
    py::gil_scoped_release release;
    skysense::paraming<T>(hh, c, t, a, d, g, s, np, st, n_threads);
  };
  if (py::dtype::of<std::complex<float>>().is(h.dtype()))
    run(float{});
  else if (py::dtype::of<std::complex<double>>().is(h.dtype()))
    run(double{});
  else
    throw std::invalid_argument("h: dtype must be complex64 or complex128");
}

// Dominant triplets of X1 by the block Krylov iteration alone (tests and bench):
// u (q, L), s (q,), v (q, P) are rows of the column-major U_q, V_q.
py::tuple hankel_svd(const py::array& h, int sub_tx, int sub_rx, int sub_sc, int n_paths,
                     int oversampling, double rtol, double noise_rtol, int max_steps, py::array u,
                     py::array s,
                     py::array v) {
  require(h.ndim() == 3, "h: expected shape (n_tx, n_rx, n_subcarriers)");
  require(py::dtype::of<std::complex<double>>().is(h.dtype()), "h: dtype must be complex128");
  const int nt = static_cast<int>(h.shape(0)), nr = static_cast<int>(h.shape(1)),
            n = static_cast<int>(h.shape(2));
  require(sub_tx >= 1 && sub_tx <= nt && sub_rx >= 1 && sub_rx <= nr && sub_sc >= 1 && sub_sc < n,
          "sub-array sizes do not fit");
  require(rtol > 0.0 && rtol < 1.0 && noise_rtol >= 0.0 && noise_rtol < 1.0 && max_steps >= 1 &&
              oversampling >= 0,
          "bad Krylov settings");
  const int rows = sub_tx * sub_sc * sub_rx, cols = (nt - sub_tx + 1) * (n - sub_sc) * (nr - sub_rx + 1);
  const int bs = n_paths + oversampling;
  require(n_paths >= 1 && std::min(rows, cols) >= (skysense::kKrylovBlocks + 1) * bs,
          "X1 too small for the Krylov iteration at this n_paths");
  auto hh = view<const std::complex<double>, 3>(h, "h");
  auto uu = view<std::complex<double>, 2>(u, "u", true);
  auto ss = view<double, 1>(s, "s", true);
  auto vv = view<std::complex<double>, 2>(v, "v", true);
  require(uu.shape[0] == n_paths && uu.shape[1] == rows, "u: expected (n_paths, L)");
  require(vv.shape[0] == n_paths && vv.shape[1] == cols, "v: expected (n_paths, P)");
  require(ss.shape[0] == n_paths, "s: expected (n_paths,)");
  skysense::hankel_svd::KrylovResult r;
  {
    py::gil_scoped_release release;
    skysense::lapack::SingleThreadScope single_thread;
    skysense::hankel_svd::HankelOperator op(nt, nr, n, sub_tx, sub_rx, sub_sc);
    const double frob2 = op.set(hh.data);
    if (frob2 > 0.0) {
      skysense::hankel_svd::KrylovWorkspace ws(rows, cols, bs, skysense::kKrylovBlocks * bs);
      r = skysense::hankel_svd::partial_svd(op, std::sqrt(frob2), n_paths, bs,
                                            skysense::kKrylovBlocks * bs, rtol, noise_rtol, max_steps, ws,
                                            uu.data, ss.data, vv.data);
    }
  }
  return py::make_tuple(r.steps, r.restarts, r.converged, r.residual);
}

}  // namespace

void register_cordic(py::module_& m) {
  m.def("cordic_atan2", &cordic_atan2, "y"_a, "x"_a, "out"_a, "iterations"_a, "word_bits"_a,
        "frac_bits"_a, "n_threads"_a = 1);
}

void register_bistatic(py::module_& m) {
  m.def("paraming", &paraming, "h"_a, "sub_tx"_a, "sub_rx"_a, "sub_sc"_a, "n_paths"_a,
        "max_paths"_a, "criterion"_a, "subcarrier_spacing_hz"_a, "spacing_tx"_a, "spacing_rx"_a,
        "cordic_iterations"_a, "min_delay"_a, "phase_fit"_a, "method"_a, "krylov_rtol"_a, "krylov_noise_rtol"_a,
        "krylov_max_steps"_a, "krylov_oversampling"_a, "toa"_a, "aoa"_a, "aod"_a, "gain"_a, "singular_values"_a,
        "n_paths_out"_a, "status"_a, "n_threads"_a = 1);
  m.def("hankel_svd", &hankel_svd, "h"_a, "sub_tx"_a, "sub_rx"_a, "sub_sc"_a, "n_paths"_a,
        "oversampling"_a, "rtol"_a, "noise_rtol"_a, "max_steps"_a, "u"_a, "s"_a, "v"_a);
}
