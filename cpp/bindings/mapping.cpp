// Bindings of the per-epoch particle SPA module (skysense/mapping_spa.hpp).
#include <pybind11/stl.h>

#include <cstdlib>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
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

void spa_update(const py::dict& params, const py::array& x_leg, const py::array& lam_leg,
                const py::array& eta_leg, const std::vector<int>& kinds,
                const std::vector<py::array>& zs, const py::array& sensors,
                const std::vector<bool>& births, const std::vector<bool>& diffuse,
                const std::vector<double>& pv, bool predict, std::uint64_t seed, py::array x_out,
                py::array eta_out, py::array x_hat, std::optional<py::array> x_in,
                std::optional<py::array> lam_in, std::optional<py::array> eta_in,
                std::optional<py::array> log_weights, int n_threads, bool prune) {
  skysense::mapping::SpaParams p;
  p.n_iter = params["n_iter"].cast<int>();
  p.sig_r = params["sig_r"].cast<double>();
  p.lam_e = params["lam_e"].cast<double>();
  p.mu_s = params["mu_s"].cast<double>();
  p.mu_d = params["mu_d"].cast<double>();
  p.log_clutter_b = params["log_clutter_b"].cast<double>();
  p.sig_z = params["sig_z"].cast<double>();
  p.mu_m = params["mu_m"].cast<double>();
  p.log_area = params["log_area"].cast<double>();
  p.log_clutter_m = params["log_clutter_m"].cast<double>();
  p.log_mu_n = params["log_mu_n"].cast<double>();
  const auto roi_c = params["roi_c"].cast<std::vector<double>>();
  require(roi_c.size() == 3, "roi_c: expected 3 values");
  for (int d = 0; d < 3; ++d) p.roi_c[d] = roi_c[static_cast<std::size_t>(d)];
  p.roi_r = params["roi_r"].cast<double>();
  p.birth_z = params["birth_z"].cast<double>();
  p.birth_z_std = params["birth_z_std"].cast<double>();
  require(p.birth_z_std >= 0, "birth_z_std must be >= 0");
  require(p.birth_z_std == 0 || std::isfinite(p.birth_z), "birth_z must be finite");
  p.cone_cos = params["cone_cos"].cast<double>();
  p.p_s = params["p_s"].cast<double>();
  p.sig_q = params["sig_q"].cast<double>();
  p.sig_reg = params["sig_reg"].cast<double>();
  p.gate_log = params["gate_log"].cast<double>();
  p.gate_range = params["gate_range"].cast<double>();
  p.gate_distance = params["gate_distance"].cast<double>();
  p.log_prune = params["log_prune"].cast<double>();
  p.n_birth = params["n_birth"].cast<std::ptrdiff_t>();
  require(p.n_birth >= 0, "n_birth must be >= 0");
  p.censor_logit = params["censor_logit"].cast<double>();
  require(!std::isnan(p.censor_logit), "censor_logit must not be NaN");
  require(p.n_iter >= 0, "n_iter must be >= 0");

  auto xl = view<const double, 3>(x_leg, "x_leg");
  auto ll = view<const double, 2>(lam_leg, "lam_leg");
  auto el = view<const double, 1>(eta_leg, "eta_leg");
  const std::ptrdiff_t K = xl.shape[0], P = xl.shape[1];
  require(P >= 1, "the number of particles must be >= 1");
  require(xl.shape[2] == 3, "x_leg: expected shape (n_pmfs, n_particles, 3)");
  require(ll.shape[0] == K && ll.shape[1] == P, "lam_leg: expected shape (n_pmfs, n_particles)");
  require(el.shape[0] == K, "eta_leg: expected shape (n_pmfs,)");
  const std::size_t nL = kinds.size();
  require(zs.size() == nL && births.size() == nL && diffuse.size() == nL && pv.size() == nL,
          "kinds, zs, births, diffuse and pv must have one entry per link");
  auto sv = view<const double, 2>(sensors, "sensors");
  require(sv.shape[0] == static_cast<std::ptrdiff_t>(nL) && sv.shape[1] == 3,
          "sensors: expected shape (n_links, 3)");
  std::vector<skysense::mapping::Link> links(nL);
  std::ptrdiff_t Kt = K;
  for (std::size_t l = 0; l < nL; ++l) {
    auto& lk = links[l];
    lk.kind = kinds[l];
    require(lk.kind == 0 || lk.kind == 1, "kinds: 0 (bistatic) or 1 (monostatic)");
    lk.births = births[l];
    lk.diffuse = diffuse[l];
    lk.pv = pv[l];
    require(lk.pv > 0 && lk.pv <= 1, "pv must lie in (0, 1]");
    if (lk.kind == 0) {
      auto z = view<const double, 1>(zs[l], "zs[l]");
      lk.z = z.data;
      lk.m = z.shape[0];
    } else {
      auto z = view<const double, 2>(zs[l], "zs[l]");
      require(z.shape[1] == 3, "zs[l]: monostatic measurements need shape (n, 3)");
      lk.z = z.data;
      lk.m = z.shape[0];
    }
    for (int d = 0; d < 3; ++d) lk.sensor[d] = sv(static_cast<std::ptrdiff_t>(l), d);
    if (lk.births) Kt += lk.m;
  }
  skysense::mapping::SpaOutput out{};
  out.X_out = optional_out(x_out, "x_out", Kt, P, 3);
  out.eta_out = optional_out(eta_out, "eta_out", Kt, 0, 0);
  out.x_hat = optional_out(x_hat, "x_hat", Kt, 3, 0);
  out.X_in = optional_out(x_in, "x_in", Kt, P, 3);
  out.lam_in = optional_out(lam_in, "lam_in", Kt, P, 0);
  out.eta_in = optional_out(eta_in, "eta_in", Kt, 0, 0);
  out.S = optional_out(log_weights, "log_weights", Kt, P, 0);
  out.prune = prune;
  const std::string isa = mapping_isa();
  py::gil_scoped_release release;
#if defined(SKYSENSE_HAVE_AVX2_KERNEL)
  if (isa == "avx512") {
    skysense::mapping::spa_update_avx512(p, xl.data, ll.data, el.data, K, P, links, predict,
                                         seed, out, n_threads);
    return;
  }
  if (isa == "avx2") {
    skysense::mapping::spa_update_avx2(p, xl.data, ll.data, el.data, K, P, links, predict, seed,
                                       out, n_threads);
    return;
  }
#endif
  skysense::mapping::spa_update_generic(p, xl.data, ll.data, el.data, K, P, links, predict, seed,
                                        out, n_threads);
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

void register_mapping(py::module_& m) {
  m.def("_fastmath", &fastmath_eval, "name"_a, "x"_a);
  m.def("spa_update", &spa_update, "params"_a, "x_leg"_a, "lam_leg"_a, "eta_leg"_a, "kinds"_a,
        "zs"_a, "sensors"_a, "births"_a, "diffuse"_a, "pv"_a, "predict"_a, "seed"_a, "x_out"_a,
        "eta_out"_a, "x_hat"_a, "x_in"_a = py::none(), "lam_in"_a = py::none(),
        "eta_in"_a = py::none(), "log_weights"_a = py::none(), "n_threads"_a = 1, "prune"_a = false);
  m.def("mapping_isa", &mapping_isa,
        "Kernel build spa_update uses now ('generic', 'avx2' or 'avx512'; env SKYSENSE_ISA).");
}
