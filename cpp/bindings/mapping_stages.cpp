// skysense._core._spa_stages: the stages of the mapping module (ModuleCall in
// skysense/mapping_spa.hpp, portable build) one at a time, for the tests that compare each
// stage with its NumPy twin (tests/mapping/test_spa_stages.py).  Private and test-only: the
// library calls skysense._core.spa_update.  Each method runs one stage or copies out what the
// stages computed; no model code here.
#define SKYSENSE_ISA_NS generic
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "mapping_args.hpp"
#include "skysense/mapping_spa.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace skysense::bind;
namespace mp = skysense::mapping;

namespace {

using Index = std::ptrdiff_t;

// A module call that owns its inputs (references to the caller's arrays), outputs and
// scratch buffers, so stages can be run from Python one by one.
class StageCall {
 public:
  StageCall(const py::dict& params, py::array positions_m, py::array log_weights, py::array logodds,
            const std::vector<int>& link_kinds, std::vector<py::array> measurements,
            const py::array& sensors_m, const std::vector<bool>& births,
            const std::vector<bool>& diffuse, const std::vector<double>& visibility,
            std::uint64_t seed, int n_threads, std::vector<py::object> angles,
            const std::optional<py::array>& angle_geometry)
      : params_(spa_params(params)),
        arrays_{std::move(positions_m), std::move(log_weights), std::move(logodds)},
        measurements_(std::move(measurements)),
        legacy_(legacy_pmfs(arrays_[0], arrays_[1], arrays_[2])),
        links_(spa_links(link_kinds, measurements_, sensors_m, births, diffuse, visibility)),
        angles_(std::move(angles)) {
    require(n_threads >= 1, "n_threads must be >= 1");
    if (!angles_.empty()) {
      require(angle_geometry.has_value(), "angles need angle_geometry");
      set_link_angles(links_, angles_, *angle_geometry);
    }
    const Index kt = n_output_pmfs(legacy_, links_), p = legacy_.n_particles;
    positions_ = py::array_t<double>({kt, p, Index{3}});
    logodds_ = py::array_t<double>(kt);
    estimates_ = py::array_t<double>({kt, Index{3}});
    input_positions_ = py::array_t<double>({kt, p, Index{3}});
    input_log_weights_ = py::array_t<double>({kt, p});
    input_logodds_ = py::array_t<double>(kt);
    posterior_log_weights_ = py::array_t<double>({kt, p});
    out_.positions_m = positions_.mutable_data();
    out_.logodds = logodds_.mutable_data();
    out_.estimates_m = estimates_.mutable_data();
    out_.input_positions_m = input_positions_.mutable_data();
    out_.input_log_weights = input_log_weights_.mutable_data();
    out_.input_logodds = input_logodds_.mutable_data();
    out_.posterior_log_weights = posterior_log_weights_.mutable_data();
    call_ = std::make_unique<mp::generic::ModuleCall>(params_, legacy_, links_, seed, n_threads, ws_);
  }

  mp::generic::ModuleCall& call() { return *call_; }
  bool predicted = false, drawn = false;  // which rows of the PMFs a stage has written
  mp::SpaOutput& out() { return out_; }

  // The PMFs as the stages left them: positions (Kt, P, 3) and log weights (Kt, P), rows of
  // new PMFs padded cyclically beyond their n_used particles (log weights -inf); NaN in rows
  // no stage has written yet (legacy rows before predict_legacy_pmfs, new ones before
  // draw_new_pmfs).
  py::dict pmfs() const {
    const auto& c = *call_;
    const Index kt = c.n_pmfs, p = c.n_particles;
    py::array_t<double> x({kt, p, Index{3}}), lw({kt, p});
    py::array_t<Index> n_used(kt);
    double* xo = x.mutable_data();
    double* lo = lw.mutable_data();
    for (Index k = 0; k < kt; ++k) {
      const Index n = c.n_used(k);
      n_used.mutable_data()[k] = n;
      const bool written = k < c.n_legacy ? predicted : drawn;
      for (Index i = 0, j = 0; i < p; ++i, j = j + 1 == n ? 0 : j + 1) {
        for (int d = 0; d < 3; ++d)
          xo[(k * p + i) * 3 + d] = written ? c.positions[(k * 3 + d) * p + j] : std::nan("");
        lo[k * p + i] = !written ? std::nan("") : i < n ? c.log_weights[k * p + i] : mp::kNegInf;
      }
    }
    return py::dict("positions_m"_a = x, "log_weights"_a = lw, "prior_logodds"_a = as_array(c.prior_logodds),
                    "birth_link"_a = as_array(c.birth_link), "first_measurement"_a = as_array(c.first_measurement),
                    "alive"_a = as_bool_array(c.alive), "censored"_a = as_bool_array(c.censored),
                    "n_used"_a = n_used,
                    "association_logodds"_a = as_array(c.association_logodds));
  }

  // The edges (after add_new_pmf_edges: the factor graph; before: the kept legacy candidates)
  // with their messages and log likelihood ratios (E, P), floored at kLogFloor, -inf beyond
  // the particles their PMF uses.
  py::dict edges() const {
    const auto& c = *call_;
    const bool graph = !c.connected.empty();
    std::vector<mp::generic::ModuleCall::Edge> es;
    if (graph) {
      es = c.edges;
    } else {
      for (Index e = 0; e < c.n_legacy_candidates; ++e)
        if (c.kept[e]) {
          es.push_back(c.candidates[e]);
          es.back().slot = e;
        }
    }
    const Index ne = static_cast<Index>(es.size()), p = c.n_particles;
    py::array_t<Index> pmf(ne), link(ne), measurement(ne);
    py::array_t<bool> first(ne);
    py::array_t<double> log_kappa(ne), log_rho(ne), log_ratios({ne, p});
    double* lr = log_ratios.mutable_data();
    for (Index e = 0; e < ne; ++e) {
      const auto& ed = es[static_cast<std::size_t>(e)];
      pmf.mutable_data()[e] = ed.pmf;
      link.mutable_data()[e] = ed.link;
      measurement.mutable_data()[e] = ed.measurement;
      first.mutable_data()[e] = ed.first;
      log_kappa.mutable_data()[e] = ed.log_kappa;
      log_rho.mutable_data()[e] = graph && e < static_cast<Index>(c.log_rho.size()) ? c.log_rho[e] : mp::kNegInf;
      const Index n = c.n_used(ed.pmf);
      const double* row_log = c.log_ratio_rows + ed.slot * p;
      const double* row_lin = c.ratio_rows + ed.slot * p;
      for (Index i = 0; i < p; ++i) {
        double v = mp::kNegInf;
        if (i < n) {
          v = c.has_log_ratio[ed.slot] ? row_log[i] : c.log_ratio_ref[ed.slot] + std::log(row_lin[i]);
          v = v > mp::kLogFloor ? v : mp::kLogFloor;
        }
        lr[e * p + i] = v;
      }
    }
    return py::dict("pmf"_a = pmf, "link"_a = link, "measurement"_a = measurement, "first"_a = first,
                    "log_kappa"_a = log_kappa, "log_rho"_a = log_rho, "log_ratios"_a = log_ratios);
  }

  py::dict beliefs() const {
    return py::dict("logodds"_a = logodds_, "estimates_m"_a = estimates_,
                    "posterior_log_weights"_a = posterior_log_weights_,
                    "input_positions_m"_a = input_positions_, "input_log_weights"_a = input_log_weights_,
                    "input_logodds"_a = input_logodds_);
  }
  py::array_t<double> resampled() const { return positions_; }

 private:
  template <class T>
  static py::array_t<T> as_array(const std::vector<T>& v) {
    py::array_t<T> a(static_cast<Index>(v.size()));
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
  }
  static py::array_t<bool> as_bool_array(const std::vector<char>& v) {
    py::array_t<bool> a(static_cast<Index>(v.size()));
    for (std::size_t i = 0; i < v.size(); ++i) a.mutable_data()[i] = v[i] != 0;
    return a;
  }

  mp::SpaParams params_;
  py::array arrays_[3];  // keep the legacy arrays alive
  std::vector<py::array> measurements_;
  mp::LegacyPmfs legacy_;
  std::vector<mp::Link> links_;
  std::vector<py::object> angles_;  // keeps the angle arrays alive
  mp::generic::Workspace ws_;
  std::unique_ptr<mp::generic::ModuleCall> call_;
  py::array_t<double> positions_, logodds_, estimates_, input_positions_, input_log_weights_,
      input_logodds_, posterior_log_weights_;
  mp::SpaOutput out_{};
};

mp::generic::Proposal proposal_of(const std::string& name) {
  if (name == "sphere") return mp::generic::Proposal::kSphere;
  if (name == "vertical_circle") return mp::generic::Proposal::kVerticalCircle;
  if (name == "cone") return mp::generic::Proposal::kCone;
  if (name == "angle_cone") return mp::generic::Proposal::kAngleCone;
  if (name == "angle_cone_height") return mp::generic::Proposal::kAngleConeHeight;
  throw std::invalid_argument("proposal must be 'sphere', 'vertical_circle', 'cone', 'angle_cone' or "
                              "'angle_cone_height', got '" + name + "'");
}

}  // namespace

void register_mapping_stages(py::module_& m) {
  auto s = m.def_submodule("_spa_stages", "Stages of the mapping module, for tests (private).");
  using Call = StageCall;
  py::class_<Call>(s, "ModuleCall")
      .def(py::init<const py::dict&, py::array, py::array, py::array, const std::vector<int>&,
                    std::vector<py::array>, const py::array&, const std::vector<bool>&,
                    const std::vector<bool>&, const std::vector<double>&, std::uint64_t, int,
                    std::vector<py::object>, const std::optional<py::array>&>(),
           "params"_a, "positions_m"_a, "log_weights"_a, "logodds"_a, "link_kinds"_a, "measurements"_a,
           "sensors_m"_a, "births"_a, "diffuse"_a, "visibility"_a, "seed"_a, "n_threads"_a = 1,
           "angles"_a = std::vector<py::object>{}, "angle_geometry"_a = py::none())
      .def("predict_legacy_pmfs", [](Call& c, bool predict) {
             c.call().predict_legacy_pmfs(predict);
             c.predicted = true;
           }, "predict"_a, py::call_guard<py::gil_scoped_release>())
      .def("add_legacy_edges", [](Call& c) { c.call().add_legacy_edges(); },
           py::call_guard<py::gil_scoped_release>())
      .def("censor_new_pmfs", [](Call& c) { c.call().censor_new_pmfs(); },
           py::call_guard<py::gil_scoped_release>())
      .def("draw_new_pmfs", [](Call& c) {
             c.call().draw_new_pmfs();
             c.drawn = true;
           }, py::call_guard<py::gil_scoped_release>())
      .def("add_new_pmf_edges", [](Call& c) { c.call().add_new_pmf_edges(); },
           py::call_guard<py::gil_scoped_release>())
      .def("iterate_messages", [](Call& c) { c.call().iterate_messages(); },
           py::call_guard<py::gil_scoped_release>())
      .def("beliefs_and_estimates", [](Call& c) { c.call().beliefs_and_estimates(c.out()); },
           py::call_guard<py::gil_scoped_release>())
      .def("confirm_new_pmfs", [](Call& c) { return c.call().confirm_new_pmfs(c.out()); },
           py::call_guard<py::gil_scoped_release>())
      .def("resample_pmfs", [](Call& c) { c.call().resample_pmfs(c.out()); },
           py::call_guard<py::gil_scoped_release>())
      .def("pmfs", &Call::pmfs)
      .def("edges", &Call::edges)
      .def("beliefs", &Call::beliefs)
      .def("resampled", &Call::resampled);

  // The module's random streams: Rng(seed, purpose, index) with purpose PREDICT, BIRTH or
  // RESAMPLE and index the PMF.
  py::class_<mp::generic::Rng>(s, "Rng")
      .def(py::init<std::uint64_t, std::uint64_t, std::uint64_t>(), "seed"_a, "purpose"_a, "index"_a)
      .def("uniform", &mp::generic::Rng::uniform)
      .def("uniforms", [](mp::generic::Rng& r, Index n) {
        require(n >= 0, "n must be >= 0");
        py::array_t<double> a(n);
        r.uniforms(a.mutable_data(), n);
        return a;
      }, "n"_a)
      .def("normals", [](mp::generic::Rng& r, Index n) {
        require(n >= 0, "n must be >= 0");
        py::array_t<double> a(n);
        r.normals(a.mutable_data(), n);
        return a;
      }, "n"_a);
  s.attr("PREDICT") = static_cast<std::uint64_t>(mp::generic::kPredict);
  s.attr("BIRTH") = static_cast<std::uint64_t>(mp::generic::kBirth);
  s.attr("RESAMPLE") = static_cast<std::uint64_t>(mp::generic::kResample);

  s.def("birth_randoms", [](std::uint64_t seed, Index pmf_index, const std::string& proposal, Index n) {
    require(n >= 0, "n must be >= 0");
    mp::generic::Rng rng(seed, mp::generic::kBirth, static_cast<std::uint64_t>(pmf_index));
    py::array_t<double> draws({Index{3}, n});
    mp::generic::draw_birth_randoms(proposal_of(proposal), n, rng, draws.mutable_data());
    return draws;
  }, "seed"_a, "pmf_index"_a, "proposal"_a, "n"_a,
        "The random numbers (3, n) of new PMF pmf_index's particles, as draw_new_pmfs draws them.");

  s.def("place_new_pmf", [](const py::dict& params, int link_kind, const py::array& measurements,
                            const py::array& sensor_m, bool diffuse, Index measurement_index,
                            const py::array& draws, const py::object& angles,
                            const std::optional<py::array>& angle_geometry) {
    const mp::SpaParams p = spa_params(params);
    py::array_t<double> sensors({Index{1}, Index{3}});
    auto sv = view<const double, 1>(sensor_m, "sensor_m");
    require(sv.shape[0] == 3, "sensor_m: expected shape (3,)");
    std::copy(sv.data, sv.data + 3, sensors.mutable_data());
    auto links = spa_links({link_kind}, {measurements}, sensors, {true}, {diffuse}, {1.0});
    if (!angles.is_none()) {
      require(angle_geometry.has_value(), "angles need angle_geometry");
      set_link_angles(links, {angles}, *angle_geometry);
    }
    const mp::Link& l = links[0];
    require(measurement_index >= 0 && measurement_index < l.n_measurements, "measurement_index out of range");
    auto dv = view<const double, 2>(draws, "draws");
    require(dv.shape[0] == 3, "draws: expected shape (3, n)");
    const Index n = dv.shape[1];
    std::vector<double> soa(static_cast<std::size_t>(3 * n));
    py::array_t<double> x({n, Index{3}}), lw(n), geometry({Index{4}, n});
    Index n_supported = 0;
    {
      py::gil_scoped_release release;
      n_supported = mp::generic::place_new_pmf(p, l, measurement_index, n, dv.data, soa.data(), soa.data() + n,
                                               soa.data() + 2 * n, lw.mutable_data(), geometry.mutable_data(), n);
    }
    for (Index i = 0; i < n; ++i)
      for (int d = 0; d < 3; ++d) x.mutable_data()[3 * i + d] = soa[static_cast<std::size_t>(d * n + i)];
    return py::make_tuple(x, lw, geometry, n_supported);
  }, "params"_a, "link_kind"_a, "measurements"_a, "sensor_m"_a, "diffuse"_a, "measurement_index"_a, "draws"_a,
        "angles"_a = py::none(), "angle_geometry"_a = py::none(),
        "Positions (n, 3), floored log weights (n,), link geometry (4, n) and the number of supported "
        "particles of the new PMF of one measurement, from its random numbers (3, n).");

  s.def("systematic_resample", [](const py::array& weights, Index n_out, double offset) {
    auto w = view<const double, 1>(weights, "weights");
    require(w.shape[0] >= 1 && n_out >= 1, "weights and n_out must be non-empty");
    py::array_t<Index> idx(n_out);
    mp::generic::systematic_resample(w.data, w.shape[0], n_out, offset, idx.mutable_data());
    return idx;
  }, "weights"_a, "n_out"_a, "offset"_a);
}
