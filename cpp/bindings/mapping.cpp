// Bindings of the per-epoch particle SPA module (skysense/mapping_spa.hpp).
#include <pybind11/stl.h>

#include <cstdlib>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "interrupt.hpp"
#include "mapping_args.hpp"
#include "skysense/fastmath.hpp"
#include "skysense/mapping_types.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace skysense::bind;

namespace {
// Kernel build for this call: SKYSENSE_ISA = "generic" | "avx2" | "avx512" | "auto" (default:
// the best this CPU runs).  Asking for a build the CPU cannot run is an error, not a silent fallback.
std::string mapping_isa() {
  const char* env = std::getenv("SKYSENSE_ISA");
  const std::string want = env ? env : "";
  const bool avx2 = skysense::mapping::cpu_has_avx2_fma();
  const bool avx512 = skysense::mapping::cpu_has_avx512();
  if (want.empty() || want == "auto") return avx512 ? "avx512" : avx2 ? "avx2" : "generic";
  if (want == "generic") return want;
  if (want == "avx2") {
    require(avx2, "SKYSENSE_ISA=avx2, but this CPU (or this build) has no AVX2/FMA kernel");
    return want;
  }
  if (want == "avx512") {
    require(avx512, "SKYSENSE_ISA=avx512, but this CPU (or this build) has no AVX-512 kernel");
    return want;
  }
  throw std::invalid_argument("SKYSENSE_ISA must be one of auto, generic, avx2, avx512; got '" +
                              want + "'");
}

double* optional_out(const std::optional<py::array>& a, const char* name, std::ptrdiff_t n0,
                     std::ptrdiff_t n1, std::ptrdiff_t n2) {
  if (!a) return nullptr;
  if (n2 > 0) {
    auto v = view<double, 3>(*a, name, true);
    require(v.shape[0] == n0 && v.shape[1] == n1 && v.shape[2] == n2, std::string(name) + ": wrong shape");
    return v.data;
  }
  if (n1 > 0) {
    auto v = view<double, 2>(*a, name, true);
    require(v.shape[0] == n0 && v.shape[1] == n1, std::string(name) + ": wrong shape");
    return v.data;
  }
  auto v = view<double, 1>(*a, name, true);
  require(v.shape[0] == n0, std::string(name) + ": wrong shape");
  return v.data;
}

void spa_update(const py::dict& params, const py::array& positions_m, const py::array& log_weights,
                const py::array& logodds, const std::vector<int>& link_kinds,
                const std::vector<py::array>& measurements, const py::array& sensors_m,
                const std::vector<bool>& births, const std::vector<bool>& diffuse,
                const std::vector<double>& visibility, bool predict, std::uint64_t seed,
                py::array out_positions_m, py::array out_logodds, py::array out_estimates_m,
                std::optional<py::array> out_input_positions_m,
                std::optional<py::array> out_input_log_weights,
                std::optional<py::array> out_input_logodds,
                std::optional<py::array> out_posterior_log_weights, int n_threads, bool prune,
                const std::vector<py::object>& angles, const std::optional<py::array>& angle_geometry) {
  const skysense::mapping::SpaParams p = spa_params(params);
  const skysense::mapping::LegacyPmfs legacy = legacy_pmfs(positions_m, log_weights, logodds);
  auto links = spa_links(link_kinds, measurements, sensors_m, births, diffuse, visibility);
  if (!angles.empty()) {
    require(angle_geometry.has_value(), "angles need angle_geometry");
    set_link_angles(links, angles, *angle_geometry);
  }
  const std::ptrdiff_t Kt = n_output_pmfs(legacy, links), P = legacy.n_particles;
  require(n_threads >= 1, "n_threads must be >= 1");
  skysense::mapping::SpaOutput out{};
  out.positions_m = optional_out(out_positions_m, "out_positions_m", Kt, P, 3);
  out.logodds = optional_out(out_logodds, "out_logodds", Kt, 0, 0);
  out.estimates_m = optional_out(out_estimates_m, "out_estimates_m", Kt, 3, 0);
  out.input_positions_m = optional_out(out_input_positions_m, "out_input_positions_m", Kt, P, 3);
  out.input_log_weights = optional_out(out_input_log_weights, "out_input_log_weights", Kt, P, 0);
  out.input_logodds = optional_out(out_input_logodds, "out_input_logodds", Kt, 0, 0);
  out.posterior_log_weights =
      optional_out(out_posterior_log_weights, "out_posterior_log_weights", Kt, P, 0);
  out.prune = prune;
  const std::string isa = mapping_isa();
  // GIL released; Ctrl-C stops the update between PMFs (KeyboardInterrupt, buffers freed)
  skysense::bind::call_interruptible([&] {
#if defined(SKYSENSE_HAVE_AVX2_KERNEL)
    if (isa == "avx512") {
      skysense::mapping::spa_update_avx512(p, legacy, links, predict, seed, out, n_threads);
      return;
    }
    if (isa == "avx2") {
      skysense::mapping::spa_update_avx2(p, legacy, links, predict, seed, out, n_threads);
      return;
    }
#endif
    skysense::mapping::spa_update_generic(p, legacy, links, predict, seed, out, n_threads);
  });
}
}  // namespace

namespace {
// The kernel's vectorisable special functions (portable build), for tests against SciPy.
py::array fastmath_eval(const std::string& name, const py::array& x) {
  auto xv = view<const double, 1>(x, "x");
  py::array_t<double> out(xv.shape[0]);
  double* o = out.mutable_data();
  namespace fm = skysense::fastmath;
  for (std::ptrdiff_t i = 0; i < xv.shape[0]; ++i) {
    const double v = xv.data[i];
    if (name == "exp") o[i] = fm::exp(v);
    else if (name == "log") o[i] = fm::log(v);
    else if (name == "softplus") o[i] = fm::softplus(v);
    else if (name == "erfcx") o[i] = fm::erfcx_pos(v);
    else if (name == "sin_2pi" || name == "cos_2pi") {
      double sv, cv;
      fm::sincos_2pi(v, sv, cv);
      o[i] = name == "sin_2pi" ? sv : cv;
    } else {
      throw std::invalid_argument("unknown function " + name);
    }
  }
  return std::move(out);
}
}  // namespace

void register_mapping_stages(py::module_& m);  // mapping_stages.cpp

void register_mapping(py::module_& m) {
  m.def("_fastmath", &fastmath_eval, "name"_a, "x"_a);
  m.def("spa_update", &spa_update, "params"_a, "positions_m"_a, "log_weights"_a, "logodds"_a,
        "link_kinds"_a, "measurements"_a, "sensors_m"_a, "births"_a, "diffuse"_a, "visibility"_a,
        "predict"_a, "seed"_a, "out_positions_m"_a, "out_logodds"_a, "out_estimates_m"_a,
        "out_input_positions_m"_a = py::none(), "out_input_log_weights"_a = py::none(),
        "out_input_logodds"_a = py::none(), "out_posterior_log_weights"_a = py::none(),
        "n_threads"_a = 1, "prune"_a = false, "angles"_a = std::vector<py::object>{},
        "angle_geometry"_a = py::none(),
        "One mapping module call (skysense.mapping.spa_update); writes the out_* arrays.");
  register_mapping_stages(m);
  m.def("mapping_isa", &mapping_isa,
        "Kernel build spa_update uses now ('generic', 'avx2' or 'avx512'; env SKYSENSE_ISA).");
}
