// Bindings of the sparse-recovery kernels (skysense/subspace_pursuit.hpp).
#include "common.hpp"
#include "skysense/subspace_pursuit.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace skysense::bind;

namespace {
void subspace_pursuit(const py::array& gram, const py::array& z, const py::array& y,
                      std::ptrdiff_t sparsity, double tol, std::ptrdiff_t max_iter,
                      bool keep_last, double threshold, py::array x, py::array support,
                      py::array n_iter, py::array residual_norm, int n_threads) {
  auto s = view<std::int64_t, 2>(support, "support", true);
  auto it = view<std::int64_t, 1>(n_iter, "n_iter", true);
  auto res = view<double, 1>(residual_norm, "residual_norm", true);
  skysense::PursuitOptions opt;
  opt.sparsity = sparsity;
  opt.tol = tol;
  opt.max_iter = max_iter;
  opt.keep_last = keep_last;
  opt.threshold = threshold;
  require(max_iter >= 0, "max_iter must be >= 0");
  require(tol >= 0.0 && threshold >= 0.0, "tol and threshold must be >= 0");
  dispatch_complex(x, [&](auto tag) {
    using T = decltype(tag);
    auto g = view<const std::complex<T>, 2>(gram, "gram");
    auto zz = view<const std::complex<T>, 2>(z, "z");
    auto yy = view<const std::complex<T>, 2>(y, "y");
    auto xx = view<std::complex<T>, 2>(x, "x", true);
    const std::ptrdiff_t n = zz.shape[0], nv = zz.shape[1];
    require(g.shape[0] == nv && g.shape[1] == nv, "gram: expected shape (n_voxels, n_voxels)");
    require(yy.shape[0] == n, "y: expected shape (n_frames, n_measurements)");
    require(sparsity >= 1 && sparsity <= nv, "sparsity must lie in [1, n_voxels]");
    require(xx.shape[0] == n && xx.shape[1] == nv, "x: expected shape (n_frames, n_voxels)");
    require(s.shape[0] == n && s.shape[1] == sparsity, "support: expected shape (n_frames, sparsity)");
    require(it.shape[0] == n && res.shape[0] == n, "n_iter, residual_norm: expected shape (n_frames,)");
    py::gil_scoped_release release;
    skysense::subspace_pursuit<T>(g, zz, yy, opt, xx, s, it, res, n_threads);
  });
}
}  // namespace

void register_pursuit(py::module_& m) {
  m.def("subspace_pursuit", &subspace_pursuit, "gram"_a, "z"_a, "y"_a, "sparsity"_a, "tol"_a,
        "max_iter"_a, "keep_last"_a, "threshold"_a, "x"_a, "support"_a, "n_iter"_a,
        "residual_norm"_a, "n_threads"_a = 1);
}
