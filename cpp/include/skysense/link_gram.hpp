// Gram matrix A^H A of the imaging sensing matrix from its link matrices, without A
// (imaging paper, eqs. (10)-(14)).
//
// With H_{f,b} (n_ant x n_voxels) the links of BS b on subcarrier f and P_{f,b} = H_{f,b}^H H_{f,b}
// its link Gram, the rows of a pair (tx t, rx r) are g h_r(r') h_t(t') (a row-wise Khatri-Rao
// product), whose Gram is the element-wise product P_{f,t} o P_{f,r}:
//
//   A^H A = g^2 sum_f sum_{(t, r) in pairs} P_{f,t} o P_{f,r}.
//
// For the three sensing modes the pair sum folds into S_f = sum_b P_{f,b} and
// Q_f = sum_b P_{f,b} o P_{f,b}:  mode A (t <= r) (S o S + Q) / 2,  mode B (t < r)
// (S o S - Q) / 2,  mode C (t == r) Q;  in general alpha S o S + beta Q.  An entry costs
// n_bs n_ant complex MACs per subcarrier (the P_{f,b}, as small GEMMs over tiles of the result)
// plus O(n_bs) element-wise work in cache, against n_pairs n_ant^2 for A^H A, and the scratch is
// a few tiles per thread instead of n_voxels^2-sized intermediates.
//
// Tiles are (rows R) x (columns W); a thread takes row blocks from an atomic counter (the first
// blocks of the upper triangle are the longest, so this also balances the triangle), and every
// tile is a cancellation point.  S, Q and the result accumulate in double for either T.
#pragma once
#include <algorithm>
#include <atomic>
#include <complex>
#include <cstdint>
#include <vector>

#include "skysense/blas_ops.hpp"
#include "skysense/cancel.hpp"
#include "skysense/lapack.hpp"
#include "skysense/parallel.hpp"
#include "skysense/views.hpp"

namespace skysense {

namespace gram_detail {

constexpr std::ptrdiff_t kRows = 64;   // R: rows of G per tile
constexpr std::ptrdiff_t kCols = 256;  // W: columns of G per tile

struct Weights {
  double alpha, beta, scale;  // G = scale * sum_f (alpha S o S + beta Q)
};

// G[c_i, w] for the rows c_i = rows[0..nr) and w in [w0, w0 + nw): into acc (nr x nw, row-major,
// split re/im).  hrow holds H_{f,b}[:, c_i] gathered as (n_f, n_bs, n_ant, nr).
template <class T>
void tile(ConstView<std::complex<T>, 4> links, const Weights& wt, const std::complex<T>* hrow,
          std::ptrdiff_t nr, std::ptrdiff_t w0, std::ptrdiff_t nw, std::complex<T>* p,
          double* s_re, double* s_im, double* q_re, double* q_im, double* acc_re,
          double* acc_im) {
  const std::ptrdiff_t n_f = links.shape[0], n_bs = links.shape[1], na = links.shape[2],
                       nv = links.shape[3], n = nr * nw;
  std::fill(acc_re, acc_re + n, 0.0);
  std::fill(acc_im, acc_im + n, 0.0);
  for (std::ptrdiff_t f = 0; f < n_f; ++f) {
    std::fill(s_re, s_re + n, 0.0);
    std::fill(s_im, s_im + n, 0.0);
    std::fill(q_re, q_re + n, 0.0);
    std::fill(q_im, q_im + n, 0.0);
    for (std::ptrdiff_t b = 0; b < n_bs; ++b) {
      cancellation_point();
      // P = H[:, rows]^H H[:, w0:w0+nw]  (nr x nw)
      const std::complex<T>* a = hrow + (f * n_bs + b) * na * nr;
      const std::complex<T>* h = links.data + (f * n_bs + b) * na * nv + w0;
      blas::gemm(true, static_cast<int>(nr), static_cast<int>(nw), static_cast<int>(na), a,
                 static_cast<int>(nr), h, static_cast<int>(nv), p, static_cast<int>(nw));
      const T* pp = reinterpret_cast<const T*>(p);
      for (std::ptrdiff_t e = 0; e < n; ++e) {
        const double pr = static_cast<double>(pp[2 * e]), pi = static_cast<double>(pp[2 * e + 1]);
        s_re[e] += pr;
        s_im[e] += pi;
        q_re[e] += pr * pr - pi * pi;
        q_im[e] += 2.0 * pr * pi;
      }
    }
    const double alpha = wt.alpha, beta = wt.beta;
    for (std::ptrdiff_t e = 0; e < n; ++e) {
      const double sr = s_re[e], si = s_im[e];
      acc_re[e] += alpha * (sr * sr - si * si) + beta * q_re[e];
      acc_im[e] += alpha * (2.0 * sr * si) + beta * q_im[e];
    }
  }
}

// Gathers H_{f,b}[:, rows[0..nr)] into hrow (n_f, n_bs, n_ant, nr).
template <class T>
void gather_rows(ConstView<std::complex<T>, 4> links, const std::int64_t* rows, std::ptrdiff_t nr,
                 std::complex<T>* hrow) {
  const std::ptrdiff_t n_lines = links.shape[0] * links.shape[1] * links.shape[2],
                       nv = links.shape[3];
  for (std::ptrdiff_t l = 0; l < n_lines; ++l)
    for (std::ptrdiff_t i = 0; i < nr; ++i) hrow[l * nr + i] = links.data[l * nv + rows[i]];
}

// Scratch of one thread.
template <class T>
struct TileWorkspace {
  std::vector<std::complex<T>> hrow, p;
  std::vector<double> s_re, s_im, q_re, q_im, acc_re, acc_im;
  explicit TileWorkspace(std::ptrdiff_t n_lines)
      : hrow(static_cast<std::size_t>(n_lines * kRows)),
        p(static_cast<std::size_t>(kRows * kCols)),
        s_re(p.size()), s_im(p.size()), q_re(p.size()), q_im(p.size()), acc_re(p.size()),
        acc_im(p.size()) {}
};

}  // namespace gram_detail

// Full Gram: out (nv, nv) = scale * sum_f (alpha S_f o S_f + beta Q_f), Hermitian, real diagonal.
// links (n_f, n_bs, n_ant, nv).  The upper triangle is computed tile by tile, then mirrored.
template <class T>
void link_gram(ConstView<std::complex<T>, 4> links, double alpha, double beta, double scale,
               View<std::complex<T>, 2> out, int n_threads) {
  using namespace gram_detail;
  const std::ptrdiff_t nv = links.shape[3];
  const std::ptrdiff_t n_lines = links.shape[0] * links.shape[1] * links.shape[2];
  const std::ptrdiff_t n_blocks = (nv + kRows - 1) / kRows;
  const Weights wt{alpha, beta, scale};
  lapack::SingleThreadScope single_threaded_blas;
  std::vector<std::int64_t> all(static_cast<std::size_t>(nv));
  for (std::ptrdiff_t v = 0; v < nv; ++v) all[v] = v;
  const int t = static_cast<int>(std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(n_threads, n_blocks)));
  std::atomic<std::ptrdiff_t> next{0};
  parallel_for(t, t, [&](std::ptrdiff_t) {
    TileWorkspace<T> ws(n_lines);
    for (std::ptrdiff_t blk; (blk = next.fetch_add(1)) < n_blocks;) {
      const std::ptrdiff_t r0 = blk * kRows, nr = std::min(kRows, nv - r0);
      gather_rows(links, all.data() + r0, nr, ws.hrow.data());
      for (std::ptrdiff_t w0 = r0; w0 < nv; w0 += kCols) {
        const std::ptrdiff_t nw = std::min(kCols, nv - w0);
        tile(links, wt, ws.hrow.data(), nr, w0, nw, ws.p.data(), ws.s_re.data(), ws.s_im.data(),
             ws.q_re.data(), ws.q_im.data(), ws.acc_re.data(), ws.acc_im.data());
        for (std::ptrdiff_t i = 0; i < nr; ++i) {
          const std::ptrdiff_t c = r0 + i;
          std::complex<T>* row = out.data + c * nv;
          for (std::ptrdiff_t j = std::max<std::ptrdiff_t>(0, c - w0); j < nw; ++j)
            row[w0 + j] = std::complex<T>(static_cast<T>(scale * ws.acc_re[i * nw + j]),
                                          static_cast<T>(scale * ws.acc_im[i * nw + j]));
        }
      }
    }
  });
  // Lower triangle = conj(upper)^T, in cache-sized blocks; the diagonal is real.
  parallel_for(n_blocks, t, [&](std::ptrdiff_t blk) {
    const std::ptrdiff_t r0 = blk * kRows, r1 = std::min(nv, r0 + kRows);
    for (std::ptrdiff_t c0 = 0; c0 < r1; c0 += kRows) {
      const std::ptrdiff_t c1 = std::min(r1, c0 + kRows);
      for (std::ptrdiff_t r = r0; r < r1; ++r)
        for (std::ptrdiff_t c = c0; c < std::min(c1, r); ++c)
          out.data[r * nv + c] = std::conj(out.data[c * nv + r]);
    }
    for (std::ptrdiff_t r = r0; r < r1; ++r)
      out.data[r * nv + r] = std::complex<T>(out.data[r * nv + r].real(), T(0));
  });
}

// Columns of the Gram: out (nv, k) with out[w, j] = G[w, cols[j]] = conj(G[cols[j], w]).
template <class T>
void link_gram_columns(ConstView<std::complex<T>, 4> links, double alpha, double beta,
                       double scale, ConstView<std::int64_t, 1> cols, View<std::complex<T>, 2> out,
                       int n_threads) {
  using namespace gram_detail;
  const std::ptrdiff_t nv = links.shape[3], k = cols.shape[0];
  const std::ptrdiff_t n_lines = links.shape[0] * links.shape[1] * links.shape[2];
  const std::ptrdiff_t n_blocks = (k + kRows - 1) / kRows;
  const Weights wt{alpha, beta, scale};
  lapack::SingleThreadScope single_threaded_blas;
  const int t = static_cast<int>(std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(n_threads, n_blocks)));
  std::atomic<std::ptrdiff_t> next{0};
  parallel_for(t, t, [&](std::ptrdiff_t) {
    TileWorkspace<T> ws(n_lines);
    for (std::ptrdiff_t blk; (blk = next.fetch_add(1)) < n_blocks;) {
      const std::ptrdiff_t j0 = blk * kRows, nr = std::min(kRows, k - j0);
      gather_rows(links, cols.data + j0, nr, ws.hrow.data());
      for (std::ptrdiff_t w0 = 0; w0 < nv; w0 += kCols) {
        const std::ptrdiff_t nw = std::min(kCols, nv - w0);
        tile(links, wt, ws.hrow.data(), nr, w0, nw, ws.p.data(), ws.s_re.data(), ws.s_im.data(),
             ws.q_re.data(), ws.q_im.data(), ws.acc_re.data(), ws.acc_im.data());
        for (std::ptrdiff_t j = 0; j < nw; ++j) {
          std::complex<T>* dst = out.data + (w0 + j) * k + j0;
          for (std::ptrdiff_t i = 0; i < nr; ++i) {
            const std::ptrdiff_t w = w0 + j;
            const double im = w == cols.data[j0 + i] ? 0.0 : -scale * ws.acc_im[i * nw + j];
            dst[i] = std::complex<T>(static_cast<T>(scale * ws.acc_re[i * nw + j]),
                                     static_cast<T>(im));
          }
        }
      }
    }
  });
}

}  // namespace skysense
