// Portable build of the SPA kernel (baseline x86-64 / any target); see mapping_types.hpp.
#define SKYSENSE_ISA_NS generic
#include "skysense/mapping_spa.hpp"

namespace skysense::mapping {
void spa_update_generic(const SpaParams& params, const LegacyPmfs& legacy,
                     const std::vector<Link>& links, bool predict, std::uint64_t seed,
                     const SpaOutput& out, int n_threads) {
  generic::spa_update(params, legacy, links, predict, seed, out, n_threads);
}
}  // namespace skysense::mapping
