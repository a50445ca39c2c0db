// Bindings of the imaging forward-model kernels (skysense/sensing_matrix.hpp).
#include "common.hpp"
#include "skysense/sensing_matrix.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace skysense::bind;

namespace {
void link_matrix(const py::array& antennas, const py::array& points, const py::array& frequencies, double speed,
                 py::array out, int n_threads) {
  auto a = view<const double, 2>(antennas, "antennas");
  auto p = view<const double, 2>(points, "points");
  auto k = view<const double, 1>(frequencies, "frequencies");
  require(speed > 0, "speed must be > 0");
  require(a.shape[1] == 3 && p.shape[1] == 3, "antennas and points must have shape (n, 3)");
  dispatch_complex(out, [&](auto tag) {
    using T = decltype(tag);
    auto o = view<std::complex<T>, 3>(out, "out", true);
    require(o.shape[0] == k.shape[0] && o.shape[1] == a.shape[0] && o.shape[2] == p.shape[0],
            "out: expected shape (n_f, n_antennas, n_points)");
    py::gil_scoped_release release;
    skysense::link_matrix<T>(a, p, k, speed, o, n_threads);
  });
}

void sensing_matrix(const py::array& antennas, std::ptrdiff_t n_per_bs, const py::array& points,
                    const py::array& frequencies, double speed, const py::array& pairs, double amplitude,
                    py::array out, int n_threads) {
  auto a = view<const double, 2>(antennas, "antennas");
  auto p = view<const double, 2>(points, "points");
  auto k = view<const double, 1>(frequencies, "frequencies");
  require(speed > 0, "speed must be > 0");
  auto q = view<const std::int64_t, 2>(pairs, "pairs");
  check_geometry(a, n_per_bs, q);
  require(p.shape[1] == 3, "points: expected shape (n_points, 3)");
  dispatch_complex(out, [&](auto tag) {
    using T = decltype(tag);
    auto o = view<std::complex<T>, 2>(out, "out", true);
    require(o.shape[0] == k.shape[0] * q.shape[0] * n_per_bs * n_per_bs && o.shape[1] == p.shape[0],
            "out: expected shape (n_f * n_pairs * n_per_bs**2, n_points)");
    py::gil_scoped_release release;
    skysense::sensing_matrix<T>(a, n_per_bs, p, k, speed, q, amplitude, o, n_threads);
  });
}

void point_target_csi(const py::array& antennas, std::ptrdiff_t n_per_bs,
                      const py::array& frequencies, double speed, const py::array& pairs, double amplitude,
                      const py::array& points, const py::array& coeffs, py::array out,
                      int n_threads) {
  auto a = view<const double, 2>(antennas, "antennas");
  auto k = view<const double, 1>(frequencies, "frequencies");
  require(speed > 0, "speed must be > 0");
  auto q = view<const std::int64_t, 2>(pairs, "pairs");
  auto p = view<const double, 3>(points, "points");
  auto c = view<const std::complex<double>, 2>(coeffs, "coeffs");
  check_geometry(a, n_per_bs, q);
  require(p.shape[2] == 3, "points: expected shape (n_frames, n_targets, 3)");
  require(c.shape[0] == p.shape[0] && c.shape[1] == p.shape[1],
          "coeffs: expected shape (n_frames, n_targets)");
  dispatch_complex(out, [&](auto tag) {
    using T = decltype(tag);
    auto o = view<std::complex<T>, 2>(out, "out", true);
    require(o.shape[0] == p.shape[0] && o.shape[1] == k.shape[0] * q.shape[0] * n_per_bs * n_per_bs,
            "out: expected shape (n_frames, n_measurements)");
    py::gil_scoped_release release;
    skysense::point_target_csi<T>(a, n_per_bs, k, speed, q, amplitude, p, c, o, n_threads);
  });
}

}  // namespace

void register_sensing(py::module_& m) {
  m.def("link_matrix", &link_matrix, "antennas"_a, "points"_a, "frequencies"_a, "speed"_a, "out"_a,
        "n_threads"_a = 1);
  m.def("sensing_matrix", &sensing_matrix, "antennas"_a, "n_per_bs"_a, "points"_a,
        "frequencies"_a, "speed"_a, "pairs"_a, "amplitude"_a, "out"_a, "n_threads"_a = 1);
  m.def("point_target_csi", &point_target_csi, "antennas"_a, "n_per_bs"_a, "frequencies"_a, "speed"_a,
        "pairs"_a, "amplitude"_a, "points"_a, "coeffs"_a, "out"_a, "n_threads"_a = 1);
}
