// Bindings of the sparse-recovery kernels (skysense/subspace_pursuit.hpp).
// Argument names match the Python call site (skysense/imaging/pursuit.py), which passes every
// argument by keyword.
#include "common.hpp"
#include "skysense/subspace_pursuit.hpp"

namespace py = pybind11;
using namespace skysense::bind;

namespace {
void subspace_pursuit(const py::array& gram, const py::array& backprojection,
                      const py::array& measurements, std::ptrdiff_t sparsity, double rtol,
                      std::ptrdiff_t max_iter, bool keep_last, double threshold, py::array image,
                      py::array support, py::array n_iter, py::array relative_residual,
                      int n_threads) {
  auto s = view<std::int64_t, 2>(support, "support", true);
  auto it = view<std::int64_t, 1>(n_iter, "n_iter", true);
  auto res = view<double, 1>(relative_residual, "relative_residual", true);
  skysense::PursuitOptions opt;
  opt.sparsity = sparsity;
  opt.tol = rtol;
  opt.max_iter = max_iter;
  opt.keep_last = keep_last;
  opt.threshold = threshold;
  require(max_iter >= 0, "max_iter must be >= 0");
  require(rtol >= 0.0 && threshold >= 0.0, "rtol and threshold must be >= 0");
  dispatch_complex(image, [&](auto tag) {
    using T = decltype(tag);
    auto g = view<const std::complex<T>, 2>(gram, "gram");
    auto z = view<const std::complex<T>, 2>(backprojection, "backprojection");
    auto y = view<const std::complex<T>, 2>(measurements, "measurements");
    auto x = view<std::complex<T>, 2>(image, "image", true);
    const std::ptrdiff_t n = z.shape[0], nv = z.shape[1];
    require(g.shape[0] == nv && g.shape[1] == nv, "gram: expected shape (n_voxels, n_voxels)");
    require(y.shape[0] == n, "measurements: expected shape (n_frames, n_measurements)");
    require(sparsity >= 1 && sparsity <= nv, "sparsity must lie in [1, n_voxels]");
    require(x.shape[0] == n && x.shape[1] == nv, "image: expected shape (n_frames, n_voxels)");
    require(s.shape[0] == n && s.shape[1] == sparsity,
            "support: expected shape (n_frames, sparsity)");
    require(it.shape[0] == n && res.shape[0] == n,
            "n_iter, relative_residual: expected shape (n_frames,)");
    py::gil_scoped_release release;
    skysense::subspace_pursuit<T>(g, z, y, opt, x, s, it, res, n_threads);
  }, "image");
}
}  // namespace

void register_pursuit(py::module_& m) {
  m.def("subspace_pursuit", &subspace_pursuit, py::arg("gram"), py::arg("backprojection"),
        py::arg("measurements"), py::arg("sparsity"), py::arg("rtol"), py::arg("max_iter"),
        py::arg("keep_last"), py::arg("threshold"), py::arg("image"), py::arg("support"),
        py::arg("n_iter"), py::arg("relative_residual"), py::arg("n_threads") = 1);
}
