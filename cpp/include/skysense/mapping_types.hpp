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

// Floor of every log-message and log-likelihood ratio (docs/mapping_model.md, section 5.2).
constexpr double kLogFloor = -700.0;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

enum LinkKind : int { kBistatic = 0, kMonostatic = 1 };

// Model and algorithm constants (docs/mapping_model.md); the Python layer
// (MappingParams._kernel_constants) fills and validates them, under the same names.
struct SpaParams {
  int n_iterations = 2;                        // T, message-passing iterations (paper Sec. V-A)
  double range_std_m = 0.3;                    // bistatic pseudo-range std, eq. (4)
  double excess_rate_per_m = 0.5;              // rate of the exponential diffuse excess range, eq. (19)
  double specular_mpc_mean = 0.95;             // mean specular MPCs per facade (bistatic)
  double diffuse_mpc_mean = 3.0;               // mean diffuse MPCs per facade (bistatic)
  double log_clutter_density_bistatic = 0;     // log(clutter mean / range_max_m)
  double position_std_m = 0.1;                 // monostatic pseudo-position std per axis, eq. (8)
  double monostatic_mpc_mean = 4.0;            // mean monostatic MPCs per facade
  double log_facade_area = 0;                  // log A_f [log m^2] (docs section 2.2)
  double log_clutter_density_monostatic = 0;   // log(clutter mean / clutter box volume)
  double log_birth_mean = 0;                   // log mean births per epoch and birth link, eq. (27)
  double roi_center_m[3] = {0, 0, 0};          // birth pdf: uniform on this ball, eq. (27)
  double roi_radius_m = 200.0;
  double birth_height_m = 0.0;                 // vertical-facade birth pdf: VA height (docs section 4.2)
  double birth_height_std_m = 0.0;             // its std; 0 = the paper's uniform ball
  double cos_cone_half_angle = 0.17;           // monostatic birth proposal cone (docs section 4.3)
  double survival_probability = 0.999;         // p_s, eq. (12)
  double process_std_m = 0.02;                 // position random walk per epoch, eq. (12)
  double jitter_std_m = 0.1;                   // post-resampling jitter (docs section 5.5)
  double gate_log_ratio = -23.0;               // an edge whose largest log ratio is below this is not connected
  double gate_range_m = 1e300;                 // bistatic new PMF j ignores |z_m - z_j| > this
  double gate_distance_m = 1e300;              // monostatic new PMF j ignores ||z_m - z_j|| > this
  double log_prune_odds = kNegInf;             // PMFs with posterior log-odds below this are not resampled
  std::ptrdiff_t n_birth_particles = 0;        // particles of a new PMF (0 or >= P: P), resampled to P
  double censor_logodds = std::numeric_limits<double>::infinity();  // censoring threshold (docs
      // section 5.3) on the legacy-association log-odds of a birth measurement (+inf: never)
  double confirm_logodds = std::numeric_limits<double>::infinity();  // a new PMF on fewer than
      // P particles whose posterior log-odds reaches this is redrawn on P and the messages run
      // again (docs section 4.5; +inf: never, it is resampled from its own particles)
};

// One link of a module call: its measurements and how they enter the factor graph.
struct Link {
  int kind = kBistatic;
  bool births = false;                  // one new PMF per measurement (eq. (21) with new labels)
  bool diffuse = true;                  // bistatic: specular + diffuse likelihood, eqs. (18)-(19)
  double visibility = 1.0;              // p_v of a legacy PMF on this link (docs section 3.4)
  const double* measurements = nullptr; // bistatic ranges (M,), monostatic positions (M, 3) [m]
  std::ptrdiff_t n_measurements = 0;
  double sensor_m[3] = {0, 0, 0};       // UAV (bistatic) or BS (monostatic) position
  // Angle-aided bistatic link (ours, not the mapping paper's; docs/pipeline.md): per
  // measurement (sin AoA, its std, sin AoD, its std), shape (M, 4), or nullptr (range only,
  // the paper).  sin AoA = uav_axis . (VA - UAV) / |VA - UAV| (ULA at the UAV), sin AoD =
  // bs_axis . (direction BS -> mirror image of the UAV in the facade) (ULA at the BS).
  const double* angles = nullptr;
  double uav_axis[3] = {1, 0, 0};       // unit axis of the UAV's (receive) ULA
  double bs_axis[3] = {1, 0, 0};        // unit axis of the BS's (transmit) ULA
  double bs_m[3] = {0, 0, 0};           // BS position [m]
};

// The legacy PMFs a module call starts from (row-major, as NumPy passes them).
struct LegacyPmfs {
  const double* positions_m = nullptr;  // (K, P, 3)
  const double* log_weights = nullptr;  // (K, P)
  const double* logodds = nullptr;      // (K,) existence log-odds
  std::ptrdiff_t n_pmfs = 0;            // K
  std::ptrdiff_t n_particles = 0;       // P
};

// Where a module call writes; Kt = K + the measurements of the birth links.
struct SpaOutput {
  double* positions_m = nullptr;            // (Kt, P, 3) resampled and jittered particles
  double* logodds = nullptr;                // (Kt,) posterior existence log-odds (-inf: dropped new PMF)
  double* estimates_m = nullptr;            // (Kt, 3) MMSE positions before resampling
  double* input_positions_m = nullptr;      // optional (Kt, P, 3): particles the messages used
  double* input_log_weights = nullptr;      // optional (Kt, P): their log prior weights
  double* input_logodds = nullptr;          // optional (Kt,): their prior log-odds
  double* posterior_log_weights = nullptr;  // optional (Kt, P)
  bool prune = false;  // write only PMFs with logodds >= log_prune_odds, in order, to the first rows
};

// One module call (docs/mapping_model.md, section 5).  Same results (to rounding) from every
// build; the portable build runs everywhere, the AVX2/FMA build only where cpu_has_avx2_fma(),
// the AVX-512 build only where cpu_has_avx512().
#define SKYSENSE_SPA_SIGNATURE                                                            \
  (const SpaParams& params, const LegacyPmfs& legacy, const std::vector<Link>& links,      \
   bool predict, std::uint64_t seed, const SpaOutput& out, int n_threads)
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
