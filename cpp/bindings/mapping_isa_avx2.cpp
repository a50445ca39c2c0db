// AVX2 + FMA build of the SPA kernel, chosen at run time (cpu_has_avx2_fma, SKYSENSE_ISA).
//
// Only the kernel is compiled for AVX2: the standard-library and shared headers are included
// before the target pragma (their inline functions and template instantiations keep the
// baseline target), and the kernel and fastmath live in the inline namespace `avx2`, so no
// AVX2 code can be picked by the linker for the portable build.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "skysense/mapping_types.hpp"
#include "skysense/parallel.hpp"

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define SKYSENSE_ISA_NS avx2
#include "skysense/mapping_spa.hpp"

namespace skysense::mapping {
void spa_update_avx2(const SpaParams& params, const LegacyPmfs& legacy,
                     const std::vector<Link>& links, bool predict, std::uint64_t seed,
                     const SpaOutput& out, int n_threads) {
  avx2::spa_update(params, legacy, links, predict, seed, out, n_threads);
}
}  // namespace skysense::mapping
#pragma GCC pop_options
