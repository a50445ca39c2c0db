// Inputs, outputs and entry points of the per-epoch particle SPA module (mapping_spa.hpp).
//
// The kernel is compiled once per instruction set (cpp/bindings/mapping_isa_*.cpp, each in
// its own inline namespace); these types are shared by all builds and by the bindings, so
// they live outside the ISA-specific code.  No pybind11 here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace skysense::mapping {

constexpr double kLogFloor = -700.0;  // floor of every log-message (spec 3.3)
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

enum LinkKind : int { kBistatic = 0, kMonostatic = 1 };

// Model and algorithm constants (spec table 1.5); the Python layer fills and validates them.
struct SpaParams {
  int n_iter = 2;            // T
  double sig_r = 0.3;        // bistatic pseudo-range std [m]
  double lam_e = 0.5;        // rate of the exponential diffuse excess [1/m]
  double mu_s = 0.95;        // mean specular MPCs per facade (bistatic)
  double mu_d = 3.0;         // mean diffuse MPCs per facade (bistatic)
  double log_clutter_b = 0;  // log(mu_fa,b / R_max)
  double sig_z = 0.1;        // monostatic pseudo-position std [m]
  double mu_m = 4.0;         // mean MPCs per facade (monostatic)
  double log_area = 0;       // log A_f
  double log_clutter_m = 0;  // log(mu_fa,m / V_m)
  double log_mu_n = 0;       // log mean births per epoch and link
  double roi_c[3] = {0, 0, 0};
  double roi_r = 200.0;      // birth ball radius [m]
  double birth_z = 0.0;      // bistatic birth pdf: VA height (vertical facades: BS height) [m]
  double birth_z_std = 0.0;  // its std [m]; 0 = the paper's uniform ball (spec 3.4)
  double cone_cos = 0.17;    // cos of the monostatic proposal half-angle
  double p_s = 0.999;        // survival
  double sig_q = 0.02;       // process noise std per epoch [m]
  double sig_reg = 0.1;      // post-resampling jitter std [m]
  double gate_log = -23.0;   // an edge with max_i LL < gate_log is not connected (not first edges)
  double gate_range = 1e300; // bistatic new PMF j ignores measurements with |z_m - z_j| > gate_range [m]
  double gate_distance = 1e300;  // monostatic new PMF j ignores measurements with ||z_m - z_j|| > this [m]
  double log_prune = kNegInf;    // PMFs with posterior log-odds below this are not resampled
  std::ptrdiff_t n_birth = 0;    // particles of a new PMF (0 or >= P: P), resampled to P
  double censor_logit = std::numeric_limits<double>::infinity();  // censor a new PMF when the
      // legacy-only association log-odds of its measurement exceed this (+inf: never)
};

struct Link {
  int kind = kBistatic;
  bool births = false;
  bool diffuse = true;       // bistatic: specular + diffuse (EMG) likelihood, else specular only
  double pv = 1.0;           // visibility probability of a non-owned PMF on this link (3.7)
  const double* z = nullptr; // bistatic (M,), monostatic (M,3)
  std::ptrdiff_t m = 0;
  double sensor[3] = {0, 0, 0};  // UAV (bistatic) or BS (monostatic) position
};

struct SpaOutput {
  double* X_out;    // (Kt, P, 3) resampled + jittered particles
  double* eta_out;  // (Kt,) posterior existence log-odds (-inf: new PMF without birth support)
  double* x_hat;    // (Kt, 3) MMSE positions before resampling
  double* X_in;     // optional (Kt, P, 3): particles the messages were computed on
  double* lam_in;   // optional (Kt, P): their log prior weights
  double* eta_in;   // optional (Kt,): their prior log-odds
  double* S;        // optional (Kt, P): posterior log weights
  bool prune = false;  // write only PMFs with eta_out >= log_prune, in order, to X_out's first rows
};

// One module call (spec 3.3): X_leg (K,P,3), lam_leg (K,P), eta_leg (K,); Kt = K + sum over
// birth links of M_l.  Same results (to rounding) from every build; the portable build runs
// everywhere, the AVX2/FMA build only where cpu_has_avx2_fma(), the AVX-512 build only where
// cpu_has_avx512().
#define SKYSENSE_SPA_SIGNATURE                                                              \
  (const SpaParams& p, const double* X_leg, const double* lam_leg, const double* eta_leg,    \
   std::ptrdiff_t K, std::ptrdiff_t P, const std::vector<Link>& links, bool predict,         \
   std::uint64_t seed, const SpaOutput& out, int n_threads)
void spa_update_generic SKYSENSE_SPA_SIGNATURE;
#if defined(SKYSENSE_HAVE_AVX2_KERNEL)
void spa_update_avx2 SKYSENSE_SPA_SIGNATURE;
void spa_update_avx512 SKYSENSE_SPA_SIGNATURE;
#endif
#undef SKYSENSE_SPA_SIGNATURE

// Whether this CPU can run the AVX2/FMA build (false where it was not compiled).
inline bool cpu_has_avx2_fma() {
#if defined(SKYSENSE_HAVE_AVX2_KERNEL)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// Whether this CPU (and OS: __builtin_cpu_supports checks the saved ZMM state) can run the
// AVX-512 build (F, DQ, VL, BW; false where it was not compiled).
inline bool cpu_has_avx512() {
#if defined(SKYSENSE_HAVE_AVX2_KERNEL)
  return cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

}  // namespace skysense::mapping
