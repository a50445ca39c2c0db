// AVX-512 (F, DQ, VL, BW) build of the SPA kernel, chosen at run time (cpu_has_avx512, SKYSENSE_ISA).
//
// Only the kernel is compiled for AVX-512: the standard-library and shared headers are included
// before the target pragma (their inline functions and template instantiations keep the
// baseline target), and the kernel and fastmath live in the inline namespace `avx512`, so no
// AVX-512 code can be picked by the linker for the portable build.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include <immintrin.h>

#include "skysense/mapping_types.hpp"
#include "skysense/parallel.hpp"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,prefer-vector-width=512")
#define SKYSENSE_ISA_NS avx512
#define SKYSENSE_ISA_AVX512 1  // explicit AVX-512 intrinsics where auto-vectorisation falls short
#include "skysense/mapping_spa.hpp"

namespace skysense::mapping {
void spa_update_avx512(const SpaParams& params, const LegacyPmfs& legacy,
                     const std::vector<Link>& links, bool predict, std::uint64_t seed,
                     const SpaOutput& out, int n_threads) {
  avx512::spa_update(params, legacy, links, predict, seed, out, n_threads);
}
}  // namespace skysense::mapping
#pragma GCC pop_options
