// Bindings of the bistatic kernels: CORDIC phases (skysense/cordic.hpp), PARAMING
// (skysense/paraming.hpp) and its ML refinement (skysense/paraming_ml.hpp).  The long calls run
// through call_interruptible (Ctrl-C raises KeyboardInterrupt at the next cancellation point).
// Shapes and dtypes are checked here, values by the Python layer.
// Every argument is keyword-only (py::kw_only), so a swapped pair of same-typed arguments
// (spacing_tx_wavelengths / spacing_rx_wavelengths, ...) cannot pass silently.
#include <cmath>

#include "common.hpp"
#include "interrupt.hpp"
#include "skysense/cordic.hpp"
#include "skysense/paraming.hpp"
#include "skysense/paraming_ml.hpp"

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
    skysense::bind::call_interruptible(
        [&] { skysense::cordic::atan2_array<T>(yy, xx, oo, iterations, frac_bits, n_threads); });
  };
  if (py::dtype::of<float>().is(out.dtype()))
    run(float{});
  else if (py::dtype::of<double>().is(out.dtype()))
    run(double{});
  else
    throw std::invalid_argument("out: dtype must be float32 or float64");
}

// min_toa_normalized: the lower end of the reported ToA window times df (tau df, unitless).
void paraming(const py::array& csi, int subarray_tx, int subarray_rx, int subarray_subcarriers,
              int n_paths, int max_paths, int criterion, double subcarrier_spacing_hz,
              double spacing_tx_wavelengths, double spacing_rx_wavelengths,
              int cordic_iterations, double min_toa_normalized, int phase_fit, int method,
              double krylov_rtol, double krylov_noise_rtol, int krylov_max_steps,
              int krylov_oversampling, bool refine, int max_iter, double refine_rtol,
              double cluster_cells, double resolve_std, double false_alarm, py::array toa_s,
              py::array aoa_rad, py::array aod_rad, py::array gain, py::array reliable,
              py::array singular_values, py::array n_paths_estimated, py::array status,
              py::array refined, py::array iterations, int n_threads) {
  require(csi.ndim() == 4, "csi: expected shape (batch, n_tx, n_rx, n_subcarriers)");
  skysense::ParamingConfig c;
  c.n_tx = static_cast<int>(csi.shape(1));
  c.n_rx = static_cast<int>(csi.shape(2));
  c.n_sub = static_cast<int>(csi.shape(3));
  c.sub_tx = subarray_tx;
  c.sub_rx = subarray_rx;
  c.sub_sc = subarray_subcarriers;
  c.n_paths = n_paths;
  c.max_paths = max_paths;
  c.criterion = criterion;
  c.subcarrier_spacing_hz = subcarrier_spacing_hz;
  c.spacing_tx = spacing_tx_wavelengths;
  c.spacing_rx = spacing_rx_wavelengths;
  c.cordic_iterations = cordic_iterations;
  c.min_delay = min_toa_normalized;
  c.phase_fit = phase_fit;
  c.method = method;
  c.krylov_rtol = krylov_rtol;
  c.krylov_noise_rtol = krylov_noise_rtol;
  c.krylov_max_steps = krylov_max_steps;
  c.krylov_oversampling = krylov_oversampling;
  c.refine = refine ? 1 : 0;
  c.max_iter = max_iter;
  c.refine_rtol = refine_rtol;
  c.cluster_cells = cluster_cells;
  c.resolve_std = resolve_std;
  c.false_alarm = false_alarm;
  require(max_iter >= 1, "max_iter must be >= 1");
  require(refine_rtol > 0.0 && refine_rtol < 1.0, "refine_rtol must lie in (0, 1)");
  require(cluster_cells >= 0.0 && cluster_cells <= c.n_sub, "cluster_cells must lie in [0, n_subcarriers]");
  require(resolve_std > 0.0 && std::isfinite(resolve_std), "resolve_std must be > 0 and finite");
  require(false_alarm > 0.0 && false_alarm < 1.0, "false_alarm must lie in (0, 1)");
  require(method >= 0 && method <= 2, "method must be 0 (gram), 1 (svd) or 2 (krylov)");
  require(krylov_rtol > 0.0 && krylov_rtol < 1.0, "krylov_rtol must lie in (0, 1)");
  require(krylov_noise_rtol >= 0.0 && krylov_noise_rtol < 1.0,
          "krylov_noise_rtol must lie in [0, 1)");
  require(krylov_max_steps >= 1, "krylov_max_steps must be >= 1");
  require(krylov_oversampling >= 0 && krylov_oversampling <= 64,
          "krylov_oversampling must lie in [0, 64]");
  require(phase_fit == 0 || phase_fit == 1, "phase_fit must be 0 (demodulate) or 1 (unwrap)");
  require(std::isfinite(min_toa_normalized), "min_toa_normalized must be finite");
  require(subarray_tx >= 1 && subarray_tx <= c.n_tx && subarray_rx >= 1 && subarray_rx <= c.n_rx,
          "subarray_tx, subarray_rx must lie in [1, n_tx] and [1, n_rx]");
  require(subarray_subcarriers >= 1 && subarray_subcarriers < c.n_sub,
          "subarray_subcarriers must lie in [1, n_subcarriers - 1]");
  const int kt = c.n_tx - subarray_tx + 1, kr = c.n_rx - subarray_rx + 1;
  const int kn = c.n_sub - subarray_subcarriers + 1;
  const int rows = subarray_tx * subarray_subcarriers * subarray_rx, cols = kt * (kn - 1) * kr;
  const int k = std::min(rows, cols);
  require(max_paths >= 1 && max_paths <= std::min(k, c.n_sub),
          "max_paths must lie in [1, min(rows, cols of X1, n_subcarriers)]");
  require(n_paths >= 0 && n_paths <= max_paths, "n_paths must lie in [0, max_paths]");
  require(criterion >= 0 && criterion <= 2, "criterion must be 0 (MDL), 1 (AIC) or 2 (GLRT)");
  require(criterion != 2 || refine, "criterion 2 (GLRT) needs refine");
  require(cordic_iterations >= 1 && cordic_iterations <= 64,
          "cordic_iterations must lie in [1, 64]");
  auto t = view<double, 2>(toa_s, "toa_s", true);
  auto a = view<double, 2>(aoa_rad, "aoa_rad", true);
  auto d = view<double, 2>(aod_rad, "aod_rad", true);
  auto g = view<std::complex<double>, 2>(gain, "gain", true);
  auto s = view<double, 2>(singular_values, "singular_values", true);
  auto np = view<std::int64_t, 1>(n_paths_estimated, "n_paths_estimated", true);
  auto st = view<std::int64_t, 1>(status, "status", true);
  auto rv = view<bool, 2>(reliable, "reliable", true);
  auto rf = view<bool, 1>(refined, "refined", true);
  auto it = view<std::int64_t, 1>(iterations, "iterations", true);
  const std::ptrdiff_t batch = csi.shape(0);
  for (const auto* v : {&t.shape, &a.shape, &d.shape})
    require((*v)[0] == batch && (*v)[1] == max_paths,
            "toa_s, aoa_rad, aod_rad: expected (batch, max_paths)");
  require(g.shape[0] == batch && g.shape[1] == max_paths, "gain: expected (batch, max_paths)");
  require(s.shape[0] == batch && s.shape[1] == k, "singular_values: expected (batch, min(L, P))");
  require(np.shape[0] == batch && st.shape[0] == batch && rf.shape[0] == batch &&
              it.shape[0] == batch,
          "n_paths_estimated, status, refined, iterations: expected (batch,)");
  require(rv.shape[0] == batch && rv.shape[1] == max_paths, "reliable: expected (batch, max_paths)");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    auto hh = view<const std::complex<T>, 4>(csi, "csi");
    skysense::bind::call_interruptible(
        [&] { skysense::paraming<T>(hh, c, t, a, d, g, rv, s, np, st, rf, it, n_threads); });
  };
  if (py::dtype::of<std::complex<float>>().is(csi.dtype()))
    run(float{});
  else if (py::dtype::of<std::complex<double>>().is(csi.dtype()))
    run(double{});
  else
    throw std::invalid_argument("csi: dtype must be complex64 or complex128");
}

// Dominant triplets of X1 by the block Krylov iteration alone (tests and bench):
// u (q, L), s (q,), v (q, P) are rows of the column-major U_q, V_q.
py::tuple hankel_svd(const py::array& csi, int subarray_tx, int subarray_rx,
                     int subarray_subcarriers, int n_paths, int oversampling, double rtol,
                     double noise_rtol, int max_steps, py::array u, py::array s, py::array v) {
  require(csi.ndim() == 3, "csi: expected shape (n_tx, n_rx, n_subcarriers)");
  require(py::dtype::of<std::complex<double>>().is(csi.dtype()), "csi: dtype must be complex128");
  const int nt = static_cast<int>(csi.shape(0)), nr = static_cast<int>(csi.shape(1)),
            n = static_cast<int>(csi.shape(2));
  require(subarray_tx >= 1 && subarray_tx <= nt && subarray_rx >= 1 && subarray_rx <= nr &&
              subarray_subcarriers >= 1 && subarray_subcarriers < n,
          "subarray_tx, subarray_rx, subarray_subcarriers do not fit the CSI");
  require(rtol > 0.0 && rtol < 1.0 && noise_rtol >= 0.0 && noise_rtol < 1.0 && max_steps >= 1 &&
              oversampling >= 0,
          "bad Krylov settings");
  const int rows = subarray_tx * subarray_subcarriers * subarray_rx;
  const int cols = (nt - subarray_tx + 1) * (n - subarray_subcarriers) * (nr - subarray_rx + 1);
  const int bs = n_paths + oversampling;
  require(n_paths >= 1 && std::min(rows, cols) >= (skysense::kKrylovBlocks + 1) * bs,
          "X1 too small for the Krylov iteration at this n_paths");
  auto hh = view<const std::complex<double>, 3>(csi, "csi");
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
    skysense::hankel_svd::HankelOperator op(nt, nr, n, subarray_tx, subarray_rx,
                                            subarray_subcarriers);
    const double frob2 = op.set(hh.data);
    if (frob2 > 0.0) {
      skysense::hankel_svd::KrylovWorkspace ws(rows, cols, bs, skysense::kKrylovBlocks * bs);
      r = skysense::hankel_svd::partial_svd(op, std::sqrt(frob2), n_paths, bs,
                                            skysense::kKrylovBlocks * bs, rtol, noise_rtol,
                                            max_steps, ws, uu.data, ss.data, vv.data);
    }
  }
  return py::make_tuple(r.steps, r.restarts, r.converged, r.residual);
}

// The ML refinement alone (tests): from eta = [mu_t, mu_r, nu] (3q, updated in place), LS gains
// into gain (q).  Returns (iterations, converged, cost at the start, cost at the end).
py::tuple paraming_refine(const py::array& csi, py::array eta, py::array gain, int max_iter,
                          double rtol) {
  require(csi.ndim() == 3, "csi: expected shape (n_tx, n_rx, n_subcarriers)");
  auto hh = view<const std::complex<double>, 3>(csi, "csi");
  auto ee = view<double, 1>(eta, "eta", true);
  auto gg = view<std::complex<double>, 1>(gain, "gain", true);
  const int q = static_cast<int>(gg.shape[0]);
  require(q >= 1 && ee.shape[0] == 3 * q, "eta: expected (3 n_paths,), gain (n_paths,)");
  require(max_iter >= 1, "max_iter must be >= 1");
  require(rtol > 0.0 && rtol < 1.0, "rtol must lie in (0, 1)");
  int iterations = 0;
  bool converged = false;
  double f0 = 0.0, f = 0.0;
  {
    py::gil_scoped_release release;
    skysense::lapack::SingleThreadScope single_thread;
    skysense::paraming_ml::Model model(static_cast<int>(hh.shape[0]), static_cast<int>(hh.shape[1]),
                                       static_cast<int>(hh.shape[2]), q);
    model.set(hh.data);
    iterations = model.refine(ee.data, gg.data, q, max_iter, rtol, f0, f, converged);
  }
  return py::make_tuple(iterations, converged, f0, f);
}

}  // namespace

void register_cordic(py::module_& m) {
  m.def("cordic_atan2", &cordic_atan2, py::kw_only(), "y"_a, "x"_a, "out"_a, "iterations"_a,
        "word_bits"_a, "frac_bits"_a, "n_threads"_a = 1);
}

void register_bistatic(py::module_& m) {
  m.def("paraming", &paraming, py::kw_only(), "csi"_a, "subarray_tx"_a, "subarray_rx"_a,
        "subarray_subcarriers"_a, "n_paths"_a, "max_paths"_a, "criterion"_a,
        "subcarrier_spacing_hz"_a, "spacing_tx_wavelengths"_a, "spacing_rx_wavelengths"_a,
        "cordic_iterations"_a, "min_toa_normalized"_a, "phase_fit"_a, "method"_a,
        "krylov_rtol"_a, "krylov_noise_rtol"_a, "krylov_max_steps"_a, "krylov_oversampling"_a,
        "refine"_a, "max_iter"_a, "refine_rtol"_a, "cluster_cells"_a, "resolve_std"_a,
        "false_alarm"_a, "toa_s"_a, "aoa_rad"_a, "aod_rad"_a, "gain"_a, "reliable"_a,
        "singular_values"_a, "n_paths_estimated"_a, "status"_a, "refined"_a, "iterations"_a,
        "n_threads"_a = 1);
  m.def("paraming_refine", &paraming_refine, py::kw_only(), "csi"_a, "eta"_a, "gain"_a,
        "max_iter"_a, "rtol"_a);
  m.def("hankel_svd", &hankel_svd, py::kw_only(), "csi"_a, "subarray_tx"_a, "subarray_rx"_a,
        "subarray_subcarriers"_a, "n_paths"_a, "oversampling"_a, "rtol"_a, "noise_rtol"_a,
        "max_steps"_a, "u"_a, "s"_a, "v"_a);
}
