// Bindings of the imaging forward-model kernels (skysense/sensing_matrix.hpp).
// Argument names match the Python call sites (skysense/imaging/sensing.py, simulate.py),
// which pass every argument by keyword.
#include <pybind11/stl.h>

#include <cmath>
#include <optional>

#include "common.hpp"
#include "interrupt.hpp"
#include "skysense/link_gram.hpp"
#include "skysense/sensing_matrix.hpp"

namespace py = pybind11;
using namespace skysense::bind;

namespace {
void link_matrix(const py::array& antenna_positions_m, const py::array& points_m,
                 const py::array& frequencies_hz, double speed_of_light_mps, py::array out,
                 int n_threads) {
  auto a = view<const double, 2>(antenna_positions_m, "antenna_positions_m");
  auto p = view<const double, 2>(points_m, "points_m");
  auto k = view<const double, 1>(frequencies_hz, "frequencies_hz");
  require(speed_of_light_mps > 0, "speed_of_light_mps must be > 0");
  require(a.shape[1] == 3 && p.shape[1] == 3,
          "antenna_positions_m and points_m must have shape (n, 3)");
  dispatch_complex(out, [&](auto tag) {
    using T = decltype(tag);
    auto o = view<std::complex<T>, 3>(out, "out", true);
    require(o.shape[0] == k.shape[0] && o.shape[1] == a.shape[0] && o.shape[2] == p.shape[0],
            "out: expected shape (n_subcarriers, n_antennas, n_points)");
    call_interruptible([&] { skysense::link_matrix<T>(a, p, k, speed_of_light_mps, o, n_threads); });
  });
}

void sensing_matrix(const py::array& antenna_positions_m, std::ptrdiff_t n_antennas_per_bs,
                    const py::array& points_m, const py::array& frequencies_hz,
                    double speed_of_light_mps, const py::array& pairs, double amplitude,
                    py::array out, int n_threads) {
  auto a = view<const double, 2>(antenna_positions_m, "antenna_positions_m");
  auto p = view<const double, 2>(points_m, "points_m");
  auto k = view<const double, 1>(frequencies_hz, "frequencies_hz");
  require(speed_of_light_mps > 0, "speed_of_light_mps must be > 0");
  auto q = view<const std::int64_t, 2>(pairs, "pairs");
  check_geometry(a, n_antennas_per_bs, q);
  require(p.shape[1] == 3, "points_m: expected shape (n_points, 3)");
  dispatch_complex(out, [&](auto tag) {
    using T = decltype(tag);
    auto o = view<std::complex<T>, 2>(out, "out", true);
    require(o.shape[0] == k.shape[0] * q.shape[0] * n_antennas_per_bs * n_antennas_per_bs &&
                o.shape[1] == p.shape[0],
            "out: expected shape (n_subcarriers * n_pairs * n_antennas_per_bs**2, n_points)");
    call_interruptible([&] {
      skysense::sensing_matrix<T>(a, n_antennas_per_bs, p, k, speed_of_light_mps, q, amplitude, o,
                                  n_threads);
    });
  });
}

void point_target_csi(const py::array& antenna_positions_m, std::ptrdiff_t n_antennas_per_bs,
                      const py::array& frequencies_hz, double speed_of_light_mps,
                      const py::array& pairs, double amplitude, const py::array& positions_m,
                      const py::array& coefficients, py::array out, int n_threads) {
  auto a = view<const double, 2>(antenna_positions_m, "antenna_positions_m");
  auto k = view<const double, 1>(frequencies_hz, "frequencies_hz");
  require(speed_of_light_mps > 0, "speed_of_light_mps must be > 0");
  auto q = view<const std::int64_t, 2>(pairs, "pairs");
  auto p = view<const double, 3>(positions_m, "positions_m");
  auto c = view<const std::complex<double>, 2>(coefficients, "coefficients");
  check_geometry(a, n_antennas_per_bs, q);
  require(p.shape[2] == 3, "positions_m: expected shape (n_frames, n_targets, 3)");
  require(c.shape[0] == p.shape[0] && c.shape[1] == p.shape[1],
          "coefficients: expected shape (n_frames, n_targets)");
  dispatch_complex(out, [&](auto tag) {
    using T = decltype(tag);
    auto o = view<std::complex<T>, 2>(out, "out", true);
    require(o.shape[0] == p.shape[0] &&
                o.shape[1] == k.shape[0] * q.shape[0] * n_antennas_per_bs * n_antennas_per_bs,
            "out: expected shape (n_frames, n_measurements)");
    call_interruptible([&] {
      skysense::point_target_csi<T>(a, n_antennas_per_bs, k, speed_of_light_mps, q, amplitude, p,
                                    c, o, n_threads);
    });
  });
}

// links (n_subcarriers, n_bs, n_antennas, n_voxels); out (n_voxels, n_voxels), or (n_voxels, k)
// for the Gram columns `columns` (k,).
void link_gram(const py::array& links, double alpha, double beta, double scale,
               const std::optional<py::array>& columns, py::array out, int n_threads) {
  require(std::isfinite(alpha) && std::isfinite(beta) && std::isfinite(scale),
          "alpha, beta and scale must be finite");
  dispatch_complex(out, [&](auto tag) {
    using T = decltype(tag);
    auto h = view<const std::complex<T>, 4>(links, "links");
    auto o = view<std::complex<T>, 2>(out, "out", true);
    const std::ptrdiff_t nv = h.shape[3];
    if (!columns) {
      require(o.shape[0] == nv && o.shape[1] == nv, "out: expected shape (n_voxels, n_voxels)");
      call_interruptible([&] { skysense::link_gram<T>(h, alpha, beta, scale, o, n_threads); });
      return;
    }
    auto c = view<const std::int64_t, 1>(*columns, "columns");
    require(o.shape[0] == nv && o.shape[1] == c.shape[0], "out: expected shape (n_voxels, k)");
    for (std::ptrdiff_t j = 0; j < c.shape[0]; ++j)
      require(c.data[j] >= 0 && c.data[j] < nv, "columns: voxel index out of range");
    call_interruptible(
        [&] { skysense::link_gram_columns<T>(h, alpha, beta, scale, c, o, n_threads); });
  });
}

}  // namespace

void register_sensing(py::module_& m) {
  m.def("link_matrix", &link_matrix, py::arg("antenna_positions_m"), py::arg("points_m"),
        py::arg("frequencies_hz"), py::arg("speed_of_light_mps"), py::arg("out"),
        py::arg("n_threads") = 1);
  m.def("sensing_matrix", &sensing_matrix, py::arg("antenna_positions_m"),
        py::arg("n_antennas_per_bs"), py::arg("points_m"), py::arg("frequencies_hz"),
        py::arg("speed_of_light_mps"), py::arg("pairs"), py::arg("amplitude"), py::arg("out"),
        py::arg("n_threads") = 1);
  m.def("point_target_csi", &point_target_csi, py::arg("antenna_positions_m"),
        py::arg("n_antennas_per_bs"), py::arg("frequencies_hz"), py::arg("speed_of_light_mps"),
        py::arg("pairs"), py::arg("amplitude"), py::arg("positions_m"), py::arg("coefficients"),
        py::arg("out"), py::arg("n_threads") = 1);
  m.def("link_gram", &link_gram, py::arg("links"), py::arg("alpha"), py::arg("beta"),
        py::arg("scale"), py::arg("columns"), py::arg("out"), py::arg("n_threads") = 1);
}
