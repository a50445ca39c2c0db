// Bindings of the sparse-recovery kernels (skysense/subspace_pursuit.hpp).
// Argument names match the Python call site (skysense/imaging/pursuit.py), which passes every
// argument by keyword.  Each call is interruptible (Ctrl-C): interrupt.hpp.
#include <cmath>

#include "common.hpp"
#include "interrupt.hpp"
#include "skysense/subspace_pursuit.hpp"

namespace py = pybind11;
using namespace skysense::bind;

namespace {

struct Outputs {
  py::array image, support, n_iter, relative_residual, status;
};

skysense::PursuitOptions options(std::ptrdiff_t sparsity, double rtol, std::ptrdiff_t max_iter,
                                 bool keep_last, double threshold) {
  require(max_iter >= 0, "max_iter must be >= 0");
  require(rtol >= 0.0 && threshold >= 0.0, "rtol and threshold must be >= 0");
  skysense::PursuitOptions opt;
  opt.sparsity = sparsity;
  opt.tol = rtol;
  opt.max_iter = max_iter;
  opt.keep_last = keep_last;
  opt.threshold = threshold;
  return opt;
}

// Checks the outputs against n frames of nv voxels and calls run(x, s, it, res, st).
template <class T, class Run>
void with_outputs(const Outputs& out, std::ptrdiff_t n, std::ptrdiff_t nv,
                  std::ptrdiff_t sparsity, Run&& run) {
  auto x = view<std::complex<T>, 2>(out.image, "image", true);
  auto s = view<std::int64_t, 2>(out.support, "support", true);
  auto it = view<std::int64_t, 1>(out.n_iter, "n_iter", true);
  auto res = view<double, 1>(out.relative_residual, "relative_residual", true);
  auto st = view<std::int64_t, 1>(out.status, "status", true);
  require(sparsity >= 1 && sparsity <= nv, "sparsity must lie in [1, n_voxels]");
  require(x.shape[0] == n && x.shape[1] == nv, "image: expected shape (n_frames, n_voxels)");
  require(s.shape[0] == n && s.shape[1] == sparsity,
          "support: expected shape (n_frames, sparsity)");
  require(it.shape[0] == n && res.shape[0] == n && st.shape[0] == n,
          "n_iter, relative_residual, status: expected shape (n_frames,)");
  call_interruptible([&] { run(x, s, it, res, st); });
}

void subspace_pursuit_gram(const py::array& gram, const py::array& backprojection,
                           const py::array& measurements, std::ptrdiff_t sparsity, double rtol,
                           std::ptrdiff_t max_iter, bool keep_last, double threshold,
                           py::array image, py::array support, py::array n_iter,
                           py::array relative_residual, py::array status, int n_threads) {
  const auto opt = options(sparsity, rtol, max_iter, keep_last, threshold);
  const Outputs out{image, support, n_iter, relative_residual, status};
  dispatch_complex(image, [&](auto tag) {
    using T = decltype(tag);
    auto g = view<const std::complex<T>, 2>(gram, "gram");
    auto z = view<const std::complex<T>, 2>(backprojection, "backprojection");
    auto y = view<const std::complex<T>, 2>(measurements, "measurements");
    const std::ptrdiff_t n = z.shape[0], nv = z.shape[1];
    require(g.shape[0] == nv && g.shape[1] == nv, "gram: expected shape (n_voxels, n_voxels)");
    require(y.shape[0] == n, "measurements: expected shape (n_frames, n_measurements)");
    with_outputs<T>(out, n, nv, sparsity, [&](auto x, auto s, auto it, auto res, auto st) {
      skysense::subspace_pursuit<T>(g, z, y, opt, x, s, it, res, st, n_threads);
    });
  }, "image");
}

// Returns the number of correlations whose selection was certified on the half-precision copy.
std::int64_t subspace_pursuit_matrix(const py::array& matrix, const py::array& measurements,
                             std::ptrdiff_t sparsity, double rtol, std::ptrdiff_t max_iter,
                             bool keep_last, double threshold, py::array image,
                             py::array support, py::array n_iter, py::array relative_residual,
                             py::array status, int n_threads, bool half_copy) {
  const auto opt = options(sparsity, rtol, max_iter, keep_last, threshold);
  const Outputs out{image, support, n_iter, relative_residual, status};
  std::int64_t certified = 0;
  dispatch_complex(image, [&](auto tag) {
    using T = decltype(tag);
    auto a = view<const std::complex<T>, 2>(matrix, "matrix");
    auto y = view<const std::complex<T>, 2>(measurements, "measurements");
    require(y.shape[1] == a.shape[0], "measurements: expected shape (n_frames, n_measurements)");
    require(a.shape[0] <= 0x7fffffff && a.shape[1] <= 0x7fffffff,
            "matrix: dimensions above 2**31 - 1");
    with_outputs<T>(out, y.shape[0], a.shape[1], sparsity,
                    [&](auto x, auto s, auto it, auto res, auto st) {
                      skysense::subspace_pursuit_matrix<T>(a, y, opt, x, s, it, res, st,
                                                           n_threads, half_copy, &certified);
                    });
  }, "image");
  return certified;
}

void subspace_pursuit_links(const py::array& links, const py::array& pairs, double amplitude,
                            const py::array& measurements, std::ptrdiff_t sparsity, double rtol,
                            std::ptrdiff_t max_iter, bool keep_last, double threshold,
                            py::array image, py::array support, py::array n_iter,
                            py::array relative_residual, py::array status, int n_threads) {
  const auto opt = options(sparsity, rtol, max_iter, keep_last, threshold);
  const Outputs out{image, support, n_iter, relative_residual, status};
  require(std::isfinite(amplitude), "amplitude must be finite");
  auto q = view<const std::int64_t, 2>(pairs, "pairs");
  dispatch_complex(image, [&](auto tag) {
    using T = decltype(tag);
    auto h = view<const std::complex<T>, 4>(links, "links");
    auto y = view<const std::complex<T>, 2>(measurements, "measurements");
    require(q.shape[1] == 2, "pairs: expected shape (n_pairs, 2)");
    for (std::ptrdiff_t i = 0; i < q.size(); ++i)
      require(q.data[i] >= 0 && q.data[i] < h.shape[1], "pairs: BS index out of range");
    require(y.shape[1] == h.shape[0] * q.shape[0] * h.shape[2] * h.shape[2],
            "measurements: expected shape (n_frames, n_subcarriers * n_pairs * n_antennas**2)");
    with_outputs<T>(out, y.shape[0], h.shape[3], sparsity,
                    [&](auto x, auto s, auto it, auto res, auto st) {
                      skysense::subspace_pursuit_links<T>(h, q, amplitude, y, opt, x, s, it, res,
                                                          st, n_threads);
                    });
  }, "image");
}

}  // namespace

void register_pursuit(py::module_& m) {
  m.def("subspace_pursuit_gram", &subspace_pursuit_gram, py::arg("gram"),
        py::arg("backprojection"), py::arg("measurements"), py::arg("sparsity"), py::arg("rtol"),
        py::arg("max_iter"), py::arg("keep_last"), py::arg("threshold"), py::arg("image"),
        py::arg("support"), py::arg("n_iter"), py::arg("relative_residual"), py::arg("status"),
        py::arg("n_threads") = 1);
  m.def("subspace_pursuit_matrix", &subspace_pursuit_matrix, py::arg("matrix"),
        py::arg("measurements"), py::arg("sparsity"), py::arg("rtol"), py::arg("max_iter"),
        py::arg("keep_last"), py::arg("threshold"), py::arg("image"), py::arg("support"),
        py::arg("n_iter"), py::arg("relative_residual"), py::arg("status"),
        py::arg("n_threads") = 1, py::arg("half_copy") = false);
  m.def("subspace_pursuit_links", &subspace_pursuit_links, py::arg("links"), py::arg("pairs"),
        py::arg("amplitude"), py::arg("measurements"), py::arg("sparsity"), py::arg("rtol"),
        py::arg("max_iter"), py::arg("keep_last"), py::arg("threshold"), py::arg("image"),
        py::arg("support"), py::arg("n_iter"), py::arg("relative_residual"), py::arg("status"),
        py::arg("n_threads") = 1);
}
