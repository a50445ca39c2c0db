// Bindings of the BP multitarget-tracking stages (skysense/tracking_bp.hpp): dtype and shape
// checks, output allocation, GIL release, one kernel call each.
#include <cstdint>
#include <string>

#include "common.hpp"
#include "skysense/tracking_bp.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace skysense::bind;
namespace tr = skysense::tracking;

namespace {
using Index = std::ptrdiff_t;

// Sizes from the state arrays: n_dims from the state width S = 2 D.
tr::Sizes sizes(Index K, Index S, Index M) {
  require(S == 4 || S == 6, "state: expected 4 (2-D) or 6 (3-D) components, got " + std::to_string(S));
  tr::Sizes n;
  n.K = K;
  n.M = M;
  n.D = static_cast<int>(S / 2);
  return n;
}

void check_square(const skysense::ConstView<double, 2>& a, Index S, const char* name) {
  require(a.shape[0] == S && a.shape[1] == S,
          std::string(name) + ": expected shape (n_state, n_state)");
}

struct Measurements {
  const double* z;
  const double* zcov;
  const double* clutter;
  Index M;
};

Measurements measurements(const py::array& z, const py::array& zcov, const py::array& clutter,
                          int D) {
  auto zv = view<const double, 2>(z, "z");
  auto cv = view<const double, 3>(zcov, "zcov");
  auto lv = view<const double, 1>(clutter, "clutter");
  const Index M = zv.shape[0];
  require(zv.shape[1] == D, "z: expected shape (n_measurements, n_dims)");
  require(cv.shape[0] == M && cv.shape[1] == D && cv.shape[2] == D,
          "zcov: expected shape (n_measurements, n_dims, n_dims)");
  require(lv.shape[0] == M, "clutter: expected shape (n_measurements,)");
  for (Index m = 0; m < M; ++m) require(lv.data[m] > 0, "clutter: intensities must be > 0");
  return {zv.data, cv.data, lv.data, M};
}

void check_probability(double p, const char* name, bool open) {
  require(open ? (p > 0 && p < 1) : (p >= 0 && p <= 1),
          std::string(name) + (open ? " must lie in (0, 1)" : " must lie in [0, 1]"));
}

py::tuple predict_gaussian(const py::array& mean, const py::array& cov, const py::array& existence,
                           const py::array& transition, const py::array& noise_cov,
                           double survival) {
  auto mv = view<const double, 2>(mean, "mean");
  auto cv = view<const double, 3>(cov, "cov");
  auto ev = view<const double, 1>(existence, "existence");
  auto F = view<const double, 2>(transition, "transition");
  auto Q = view<const double, 2>(noise_cov, "noise_cov");
  const Index K = mv.shape[0], S = mv.shape[1];
  const auto n = sizes(K, S, 0);
  require(cv.shape[0] == K && cv.shape[1] == S && cv.shape[2] == S, "cov: expected shape (K, S, S)");
  require(ev.shape[0] == K, "existence: expected shape (K,)");
  check_square(F, S, "transition");
  check_square(Q, S, "noise_cov");
  check_probability(survival, "survival", false);
  py::array_t<double> mo({K, S}), co({K, S, S}), eo(K);
  double *pm = mo.mutable_data(), *pc = co.mutable_data(), *pe = eo.mutable_data();
  {
    py::gil_scoped_release release;
    tr::predict_gaussian(n, mv.data, cv.data, ev.data, F.data, Q.data, survival, pm, pc, pe);
  }
  return py::make_tuple(mo, co, eo);
}

py::tuple predict_particles(const py::array& particles, const py::array& existence,
                            const py::array& transition, const py::array& noise_chol,
                            double survival, std::uint64_t seed, int n_threads) {
  auto xv = view<const double, 3>(particles, "particles");
  auto ev = view<const double, 1>(existence, "existence");
  auto F = view<const double, 2>(transition, "transition");
  auto L = view<const double, 2>(noise_chol, "noise_chol");
  const Index K = xv.shape[0], P = xv.shape[1], S = xv.shape[2];
  const auto n = sizes(K, S, 0);
  require(P >= 1, "particles: need at least one particle per target");
  require(ev.shape[0] == K, "existence: expected shape (K,)");
  check_square(F, S, "transition");
  check_square(L, S, "noise_chol");
  check_probability(survival, "survival", false);
  require(n_threads >= 1, "n_threads must be >= 1");
  py::array_t<double> xo({K, P, S}), eo(K);
  double *px = xo.mutable_data(), *pe = eo.mutable_data();
  {
    py::gil_scoped_release release;
    tr::predict_particles(n, P, xv.data, ev.data, F.data, L.data, survival, seed, px, pe, n_threads);
  }
  return py::make_tuple(xo, eo);
}

py::tuple evaluate_gaussian(const py::array& mean, const py::array& cov, const py::array& existence,
                            const py::array& z, const py::array& zcov, const py::array& clutter,
                            double detection_probability, double gate) {
  auto mv = view<const double, 2>(mean, "mean");
  auto cv = view<const double, 3>(cov, "cov");
  auto ev = view<const double, 1>(existence, "existence");
  const Index K = mv.shape[0], S = mv.shape[1];
  auto n = sizes(K, S, 0);
  require(cv.shape[0] == K && cv.shape[1] == S && cv.shape[2] == S, "cov: expected shape (K, S, S)");
  require(ev.shape[0] == K, "existence: expected shape (K,)");
  const auto meas = measurements(z, zcov, clutter, n.D);
  n.M = meas.M;
  check_probability(detection_probability, "detection_probability", true);
  require(gate > 0, "gate must be > 0");
  py::array_t<double> beta({K, n.M + 1}), ratio({K, n.M});
  double *pb = beta.mutable_data(), *pr = ratio.mutable_data();
  {
    py::gil_scoped_release release;
    tr::evaluate_gaussian(n, mv.data, cv.data, ev.data, meas.z, meas.zcov, meas.clutter,
                          detection_probability, gate, pb, pr);
  }
  return py::make_tuple(beta, ratio);
}

py::tuple evaluate_particles(const py::array& particles, const py::array& existence,
                             const py::array& z, const py::array& zcov, const py::array& clutter,
                             double detection_probability, double gate, int n_threads) {
  auto xv = view<const double, 3>(particles, "particles");
  auto ev = view<const double, 1>(existence, "existence");
  const Index K = xv.shape[0], P = xv.shape[1], S = xv.shape[2];
  auto n = sizes(K, S, 0);
  require(P >= 1, "particles: need at least one particle per target");
  require(ev.shape[0] == K, "existence: expected shape (K,)");
  const auto meas = measurements(z, zcov, clutter, n.D);
  n.M = meas.M;
  check_probability(detection_probability, "detection_probability", true);
  require(gate > 0, "gate must be > 0");
  require(n_threads >= 1, "n_threads must be >= 1");
  py::array_t<double> beta({K, n.M + 1}), ratio({K, n.M}), lik({K, n.M, P});
  py::array_t<std::uint8_t> connected({K, n.M});
  double *pb = beta.mutable_data(), *pr = ratio.mutable_data(), *pl = lik.mutable_data();
  std::uint8_t* pc = connected.mutable_data();
  {
    py::gil_scoped_release release;
    tr::evaluate_particles(n, P, xv.data, ev.data, meas.z, meas.zcov, meas.clutter,
                           detection_probability, gate, pb, pr, pl, pc, n_threads);
  }
  return py::make_tuple(beta, ratio, lik, connected);
}

py::tuple associate(const py::array& beta, const py::array& xi, Index max_iter, double tol) {
  auto bv = view<const double, 2>(beta, "beta");
  auto xv = view<const double, 1>(xi, "xi");
  tr::Sizes n;
  n.K = bv.shape[0];
  n.M = bv.shape[1] - 1;
  require(n.M >= 0, "beta: expected shape (n_targets, n_measurements + 1)");
  require(xv.shape[0] == n.M, "xi: expected shape (n_measurements,)");
  require(max_iter >= 0, "max_iter must be >= 0");
  require(tol >= 0, "tol must be >= 0");
  for (Index i = 0; i < bv.size(); ++i)
    require(bv.data[i] >= 0 && std::isfinite(bv.data[i]), "beta: entries must be finite and >= 0");
  for (Index k = 0; k < n.K; ++k)
    require(bv.data[k * (n.M + 1)] > 0, "beta: the missed-detection column beta[:, 0] must be > 0");
  for (Index m = 0; m < n.M; ++m)
    require(xv.data[m] >= 1 && std::isfinite(xv.data[m]), "xi: entries must be finite and >= 1");
  py::array_t<double> kappa({n.K, n.M}), iota(n.M);
  double *pk = kappa.mutable_data(), *pi = iota.mutable_data();
  Index it;
  {
    py::gil_scoped_release release;
    it = tr::associate(n, bv.data, xv.data, max_iter, tol, pk, pi);
  }
  return py::make_tuple(kappa, iota, it);
}

py::tuple update_gaussian(const py::array& mean, const py::array& cov, const py::array& existence,
                          const py::array& z, const py::array& zcov, const py::array& ratio,
                          const py::array& kappa, double detection_probability) {
  auto mv = view<const double, 2>(mean, "mean");
  auto cv = view<const double, 3>(cov, "cov");
  auto ev = view<const double, 1>(existence, "existence");
  const Index K = mv.shape[0], S = mv.shape[1];
  auto n = sizes(K, S, 0);
  require(cv.shape[0] == K && cv.shape[1] == S && cv.shape[2] == S, "cov: expected shape (K, S, S)");
  require(ev.shape[0] == K, "existence: expected shape (K,)");
  auto zv = view<const double, 2>(z, "z");
  auto zc = view<const double, 3>(zcov, "zcov");
  n.M = zv.shape[0];
  require(zv.shape[1] == n.D, "z: expected shape (n_measurements, n_dims)");
  require(zc.shape[0] == n.M && zc.shape[1] == n.D && zc.shape[2] == n.D,
          "zcov: expected shape (n_measurements, n_dims, n_dims)");
  auto rv = view<const double, 2>(ratio, "ratio");
  auto kv = view<const double, 2>(kappa, "kappa");
  require(rv.shape[0] == K && rv.shape[1] == n.M, "ratio: expected shape (K, M)");
  require(kv.shape[0] == K && kv.shape[1] == n.M, "kappa: expected shape (K, M)");
  check_probability(detection_probability, "detection_probability", true);
  py::array_t<double> mo({K, S}), co({K, S, S}), eo(K);
  double *pm = mo.mutable_data(), *pc = co.mutable_data(), *pe = eo.mutable_data();
  {
    py::gil_scoped_release release;
    tr::update_gaussian(n, mv.data, cv.data, ev.data, zv.data, zc.data, rv.data, kv.data,
                        detection_probability, pm, pc, pe);
  }
  return py::make_tuple(mo, co, eo);
}

py::tuple update_particles(const py::array& particles, const py::array& existence,
                           const py::array& lik, const py::array& connected,
                           const py::array& kappa, double detection_probability,
                           std::uint64_t seed, int n_threads) {
  auto xv = view<const double, 3>(particles, "particles");
  auto ev = view<const double, 1>(existence, "existence");
  const Index K = xv.shape[0], P = xv.shape[1], S = xv.shape[2];
  auto n = sizes(K, S, 0);
  require(P >= 1, "particles: need at least one particle per target");
  require(ev.shape[0] == K, "existence: expected shape (K,)");
  auto lv = view<const double, 3>(lik, "lik");
  auto cv = view<const std::uint8_t, 2>(connected, "connected");
  auto kv = view<const double, 2>(kappa, "kappa");
  n.M = kv.shape[1];
  require(kv.shape[0] == K, "kappa: expected shape (K, M)");
  require(lv.shape[0] == K && lv.shape[1] == n.M && lv.shape[2] == P, "lik: expected shape (K, M, P)");
  require(cv.shape[0] == K && cv.shape[1] == n.M, "connected: expected shape (K, M)");
  check_probability(detection_probability, "detection_probability", true);
  require(n_threads >= 1, "n_threads must be >= 1");
  py::array_t<double> xo({K, P, S}), eo(K);
  double *px = xo.mutable_data(), *pe = eo.mutable_data();
  {
    py::gil_scoped_release release;
    tr::update_particles(n, P, xv.data, ev.data, lv.data, cv.data, kv.data, detection_probability,
                         seed, px, pe, n_threads);
  }
  return py::make_tuple(xo, eo);
}

py::array birth_particles(const py::array& z, const py::array& zcov, Index n_particles,
                          double velocity_std, std::uint64_t seed, int n_threads) {
  auto zv = view<const double, 2>(z, "z");
  auto cv = view<const double, 3>(zcov, "zcov");
  tr::Sizes n;
  n.M = zv.shape[0];
  n.D = static_cast<int>(zv.shape[1]);
  require(n.D == 2 || n.D == 3, "z: expected shape (n_measurements, 2 or 3)");
  require(cv.shape[0] == n.M && cv.shape[1] == n.D && cv.shape[2] == n.D,
          "zcov: expected shape (n_measurements, n_dims, n_dims)");
  require(n_particles >= 1, "n_particles must be >= 1");
  require(velocity_std >= 0, "velocity_std must be >= 0");
  require(n_threads >= 1, "n_threads must be >= 1");
  const Index S = 2 * n.D;
  py::array_t<double> out({n.M, n_particles, S});
  double* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    tr::birth_particles(n, n_particles, zv.data, cv.data, velocity_std, seed, po, n_threads);
  }
  return std::move(out);
}
}  // namespace

// Every argument is keyword-only (py::kw_only): the stages take several arrays of one dtype, so a
// swapped pair cannot pass silently; the signatures are typed in python/skysense/_core.pyi.
void register_tracking(py::module_& m) {
  m.def("tracking_predict_gaussian", &predict_gaussian, py::kw_only(), "mean"_a, "cov"_a,
        "existence"_a, "transition"_a, "noise_cov"_a, "survival"_a);
  m.def("tracking_predict_particles", &predict_particles, py::kw_only(), "particles"_a,
        "existence"_a, "transition"_a, "noise_chol"_a, "survival"_a, "seed"_a, "n_threads"_a);
  m.def("tracking_evaluate_gaussian", &evaluate_gaussian, py::kw_only(), "mean"_a, "cov"_a,
        "existence"_a, "z"_a, "zcov"_a, "clutter"_a, "detection_probability"_a, "gate"_a);
  m.def("tracking_evaluate_particles", &evaluate_particles, py::kw_only(), "particles"_a,
        "existence"_a, "z"_a, "zcov"_a, "clutter"_a, "detection_probability"_a, "gate"_a,
        "n_threads"_a);
  m.def("tracking_associate", &associate, py::kw_only(), "beta"_a, "xi"_a, "max_iter"_a, "tol"_a);
  m.def("tracking_update_gaussian", &update_gaussian, py::kw_only(), "mean"_a, "cov"_a,
        "existence"_a, "z"_a, "zcov"_a, "ratio"_a, "kappa"_a, "detection_probability"_a);
  m.def("tracking_update_particles", &update_particles, py::kw_only(), "particles"_a,
        "existence"_a, "lik"_a, "connected"_a, "kappa"_a, "detection_probability"_a, "seed"_a,
        "n_threads"_a);
  m.def("tracking_birth_particles", &birth_particles, py::kw_only(), "z"_a, "zcov"_a,
        "n_particles"_a, "velocity_std"_a, "seed"_a, "n_threads"_a);
}
