// Argument conversion shared by the mapping bindings (mapping.cpp, mapping_stages.cpp): the
// kernel constants from a dict, the links and the legacy PMFs from arrays, with the dtype,
// shape and range checks of the binding layer (the Python layer has validated the values).
#pragma once
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <vector>

#include "common.hpp"
#include "skysense/mapping_types.hpp"

namespace skysense::bind {
namespace py = pybind11;

// SpaParams from the dict of MappingParams._kernel_constants (same names).
inline mapping::SpaParams spa_params(const py::dict& d) {
  mapping::SpaParams p;
  auto get = [&](const char* key) -> py::object {
    require(d.contains(key), std::string("params: missing key '") + key + "'");
    return d[key];
  };
  p.n_iterations = get("n_iterations").cast<int>();
  p.range_std_m = get("range_std_m").cast<double>();
  p.excess_rate_per_m = get("excess_rate_per_m").cast<double>();
  p.specular_mpc_mean = get("specular_mpc_mean").cast<double>();
  p.diffuse_mpc_mean = get("diffuse_mpc_mean").cast<double>();
  p.log_clutter_density_bistatic = get("log_clutter_density_bistatic").cast<double>();
  p.position_std_m = get("position_std_m").cast<double>();
  p.monostatic_mpc_mean = get("monostatic_mpc_mean").cast<double>();
  p.log_facade_area = get("log_facade_area").cast<double>();
  p.log_clutter_density_monostatic = get("log_clutter_density_monostatic").cast<double>();
  p.log_birth_mean = get("log_birth_mean").cast<double>();
  const auto centre = get("roi_center_m").cast<std::vector<double>>();
  require(centre.size() == 3, "roi_center_m: expected 3 values, got " + std::to_string(centre.size()));
  for (int d = 0; d < 3; ++d) p.roi_center_m[d] = centre[static_cast<std::size_t>(d)];
  p.roi_radius_m = get("roi_radius_m").cast<double>();
  p.birth_height_m = get("birth_height_m").cast<double>();
  p.birth_height_std_m = get("birth_height_std_m").cast<double>();
  require(p.birth_height_std_m >= 0, "birth_height_std_m must be >= 0");
  require(p.birth_height_std_m == 0 || std::isfinite(p.birth_height_m), "birth_height_m must be finite");
  p.cos_cone_half_angle = get("cos_cone_half_angle").cast<double>();
  p.survival_probability = get("survival_probability").cast<double>();
  p.process_std_m = get("process_std_m").cast<double>();
  p.jitter_std_m = get("jitter_std_m").cast<double>();
  p.gate_log_ratio = get("gate_log_ratio").cast<double>();
  p.gate_range_m = get("gate_range_m").cast<double>();
  p.gate_distance_m = get("gate_distance_m").cast<double>();
  p.log_prune_odds = get("log_prune_odds").cast<double>();
  p.n_birth_particles = get("n_birth_particles").cast<std::ptrdiff_t>();
  require(p.n_birth_particles >= 0, "n_birth_particles must be >= 0");
  p.censor_logodds = get("censor_logodds").cast<double>();
  require(!std::isnan(p.censor_logodds), "censor_logodds must not be NaN");
  p.confirm_logodds = get("confirm_logodds").cast<double>();
  require(!std::isnan(p.confirm_logodds), "confirm_logodds must not be NaN");
  require(p.n_iterations >= 0, "n_iterations must be >= 0");
  return p;
}

// The links of a module call (the measurement arrays stay owned by the caller).
inline std::vector<mapping::Link> spa_links(const std::vector<int>& link_kinds,
                                            const std::vector<py::array>& measurements,
                                            const py::array& sensors_m, const std::vector<bool>& births,
                                            const std::vector<bool>& diffuse,
                                            const std::vector<double>& visibility) {
  const std::size_t n_links = link_kinds.size();
  require(measurements.size() == n_links && births.size() == n_links && diffuse.size() == n_links &&
              visibility.size() == n_links,
          "link_kinds, measurements, births, diffuse and visibility must have one entry per link");
  auto sensors = view<const double, 2>(sensors_m, "sensors_m");
  require(sensors.shape[0] == static_cast<std::ptrdiff_t>(n_links) && sensors.shape[1] == 3,
          "sensors_m: expected shape (n_links, 3)");
  std::vector<mapping::Link> links(n_links);
  for (std::size_t l = 0; l < n_links; ++l) {
    auto& link = links[l];
    link.kind = link_kinds[l];
    require(link.kind == mapping::kBistatic || link.kind == mapping::kMonostatic,
            "link_kinds: 0 (bistatic) or 1 (monostatic)");
    link.births = births[l];
    link.diffuse = diffuse[l];
    link.visibility = visibility[l];
    require(link.visibility > 0 && link.visibility <= 1, "visibility must lie in (0, 1]");
    if (link.kind == mapping::kBistatic) {
      auto z = view<const double, 1>(measurements[l], "measurements[l]");
      link.measurements = z.data;
      link.n_measurements = z.shape[0];
    } else {
      auto z = view<const double, 2>(measurements[l], "measurements[l]");
      require(z.shape[1] == 3, "measurements[l]: monostatic measurements need shape (n, 3)");
      link.measurements = z.data;
      link.n_measurements = z.shape[0];
    }
    for (int d = 0; d < 3; ++d) link.sensor_m[d] = sensors(static_cast<std::ptrdiff_t>(l), d);
  }
  return links;
}

// Angle-aided bistatic links (ours; docs/pipeline.md): angles[l] is None (range only) or, for
// a bistatic link, (n_measurements, 4) rows (sin AoA, std, sin AoD, std); angle_geometry
// (n_links, 9) rows (UAV ULA axis, BS ULA axis, BS position).  The arrays stay owned by the
// caller.
inline void set_link_angles(std::vector<mapping::Link>& links, const std::vector<py::object>& angles,
                            const py::array& angle_geometry) {
  require(angles.size() == links.size(), "angles must have one entry per link");
  auto geo = view<const double, 2>(angle_geometry, "angle_geometry");
  require(geo.shape[0] == static_cast<std::ptrdiff_t>(links.size()) && geo.shape[1] == 9,
          "angle_geometry: expected shape (n_links, 9)");
  for (std::size_t l = 0; l < links.size(); ++l) {
    if (angles[l].is_none()) continue;
    auto& link = links[l];
    require(link.kind == mapping::kBistatic, "angles: only bistatic links carry angles");
    require(py::isinstance<py::array>(angles[l]), "angles[l]: expected a NumPy array or None");
    auto a = view<const double, 2>(angles[l].cast<py::array>(), "angles[l]");
    require(a.shape[0] == link.n_measurements && a.shape[1] == 4,
            "angles[l]: expected shape (n_measurements, 4)");
    for (std::ptrdiff_t m = 0; m < a.shape[0]; ++m)
      require(a(m, 1) > 0 && a(m, 3) > 0 && std::isfinite(a(m, 0)) && std::isfinite(a(m, 2)),
              "angles[l]: sines must be finite and stds > 0");
    link.angles = a.data;
    const auto row = static_cast<std::ptrdiff_t>(l);
    for (int d = 0; d < 3; ++d) {
      link.uav_axis[d] = geo(row, d);
      link.bs_axis[d] = geo(row, 3 + d);
      link.bs_m[d] = geo(row, 6 + d);
    }
  }
}

// The legacy PMFs: positions_m (K, P, 3), log_weights (K, P), logodds (K,).
inline mapping::LegacyPmfs legacy_pmfs(const py::array& positions_m, const py::array& log_weights,
                                       const py::array& logodds) {
  auto x = view<const double, 3>(positions_m, "positions_m");
  auto lw = view<const double, 2>(log_weights, "log_weights");
  auto eta = view<const double, 1>(logodds, "logodds");
  const std::ptrdiff_t K = x.shape[0], P = x.shape[1];
  require(P >= 1, "the number of particles must be >= 1");
  require(x.shape[2] == 3, "positions_m: expected shape (n_pmfs, n_particles, 3)");
  require(lw.shape[0] == K && lw.shape[1] == P, "log_weights: expected shape (n_pmfs, n_particles)");
  require(eta.shape[0] == K, "logodds: expected shape (n_pmfs,)");
  return {x.data, lw.data, eta.data, K, P};
}

// Rows of output of a module call: the legacy PMFs plus one per birth-link measurement.
inline std::ptrdiff_t n_output_pmfs(const mapping::LegacyPmfs& legacy,
                                    const std::vector<mapping::Link>& links) {
  std::ptrdiff_t n = legacy.n_pmfs;
  for (const auto& l : links)
    if (l.births) n += l.n_measurements;
  return n;
}

}  // namespace skysense::bind
