// Dominant singular triplets of PARAMING's three-level Hankel matrix X1 (and products with X2)
// without forming it: the Hankel operator is a correlation along each level, applied through
// FFTs along the subcarrier level, and the triplets come from a block Golub-Kahan-Lanczos
// bidiagonalisation with full reorthogonalisation and thick restarts.
//
// Operator (bistatic paper, eqs. 26-32), CSI h[(nt Nr + nr) N + n]:
//   (X1 v)[r + Mr (m + M at)] = sum_{ct, cn < Kc, cr} h[at + ct, r + cr, m + cn] v[cr + Kr (cn + Kc ct)]
// with Kc = N - M (the J1 columns); X2 reads h one subcarrier later.  Along subcarriers this
// is y[m] = sum_c h[m + c] v[c] with m + c <= N - 1, so a cyclic correlation of any length
// nf >= N is exact on the kept outputs: with the forward DFT H^ of h (zero padded to nf, a
// power of two),
//   X1 v:    y = (1/nf) IDFT( sum_{ct,cr} H^[at + ct, r + cr] . IDFT(v[ct, :, cr]) )[m < M]
//   X1^H u:  z = (1/nf) DFT( sum_{at,r} conj(H^[at + ct, r + cr]) . DFT(u[at, :, r]) )[c < Kc]
//   X2:      H^[f] exp(+j 2 pi f / nf) in place of H^[f]   (IDFT unnormalised, exponent +)
// which costs Mt Mr Kt Kr nf + (Mt Mr + Kt Kr) nf log2 nf complex operations per vector
// against L P for the dense product (about 12x fewer at the default 640 x 960).
//
// Block GKL (Golub, Luk and Overton 1981; thick restart as in Baglama and Reichel 2005):
// V_1 is a fixed pseudo-random orthonormal P x b block, then per step
//   U_j R_j = X1 V_j - U_{<j} C            (C = U_{<j}^H X1 V_j, two Gram-Schmidt passes)
//   V_{j+1} L_j = X1^H U_j - V_{<=j} C'    (idem)
// so X1 V = U B with B = U^H X1 V (k b x k b) assembled from the coefficients, and
// X1^H U = V B^H + V_{j+1} L_j E_j^H.  With B = Y S Z^H the Ritz triplets
// (U y_i, s_i, V z_i) satisfy X1 v_i = s_i u_i exactly and ||X1^H u_i - s_i v_i|| =
// ||L_j Y[last block, i]||: the iteration stops when that residual is, for the q wanted
// triplets, <= max(rtol s_1, noise_rtol theta_{q+1}), theta_{q+1} the (q+1)-th Ritz value.
// The second term is the noise-relative rule: theta_{q+1} <= s_{q+1} (Ritz values of a
// projection are lower bounds), and s_{q+1} is the noise level of X1 when q paths are present,
// so the error the iteration leaves in the wanted singular subspaces (residual / gap) stays
// noise_rtol times below the perturbation the noise itself causes there (s_{q+1} / gap); on
// noise-free data theta_{q+1} ~ 0 and rtol s_1 applies.  When the basis would exceed `max_basis` columns, it restarts from its
// best Ritz vectors (B becomes diagonal and the pending block V_{j+1} is kept).  A column whose
// norm vanishes after orthogonalisation (an invariant subspace, e.g. rank(X1) < b) is
// replaced by a pseudo-random vector orthogonal to the basis, so the iteration continues and
// the missing singular values come out as ~0 (the rank test of paraming.hpp then applies).
#pragma once
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "skysense/cancel.hpp"
#include "skysense/lapack.hpp"

namespace skysense::hankel_svd {

using cd = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;

inline cd cmul(cd a, cd b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
inline cd cmulc(cd a, cd b) {  // conj(a) * b
  return {a.real() * b.real() + a.imag() * b.imag(), a.real() * b.imag() - a.imag() * b.real()};
}

// Radix-2 complex FFT of a fixed power-of-two length, in place, unnormalised.
struct Fft {
  int n = 1;
  std::vector<cd> twiddle;  // exp(-j 2 pi k / n), k < n / 2
  std::vector<int> bitrev;

  explicit Fft(int length = 1) : n(length), twiddle(static_cast<std::size_t>(std::max(length / 2, 1))),
                                 bitrev(static_cast<std::size_t>(length)) {
    for (int k = 0; k < n / 2; ++k)
      twiddle[static_cast<std::size_t>(k)] = std::polar(1.0, -2.0 * kPi * k / n);
    int bits = 0;
    while ((1 << bits) < n) ++bits;
    for (int i = 0; i < n; ++i) {
      int r = 0;
      for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
      bitrev[static_cast<std::size_t>(i)] = r;
    }
  }

  // x[k] <- sum_t x[t] exp(-+j 2 pi t k / n): forward (sign -) or backward (sign +).
  void run(cd* x, bool backward) const {
    for (int i = 0; i < n; ++i) {
      const int r = bitrev[static_cast<std::size_t>(i)];
      if (r > i) std::swap(x[i], x[r]);
    }
    for (int len = 2; len <= n; len <<= 1) {
      const int half = len >> 1, step = n / len;
      for (int start = 0; start < n; start += len)
        for (int k = 0; k < half; ++k) {
          cd w = twiddle[static_cast<std::size_t>(k * step)];
          if (backward) w = std::conj(w);
          const cd t = cmul(w, x[start + k + half]);
          x[start + k + half] = x[start + k] - t;
          x[start + k] += t;
        }
    }
  }
};

inline int next_pow2(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

// X1 (or X2) of one CSI as an operator; sizes as in ParamingConfig.
class HankelOperator {
 public:
  HankelOperator(int n_tx, int n_rx, int n_sub, int sub_tx, int sub_rx, int sub_sc)
      : nt_(n_tx), nr_(n_rx), n_(n_sub), mt_(sub_tx), mr_(sub_rx), m_(sub_sc),
        kt_(n_tx - sub_tx + 1), kr_(n_rx - sub_rx + 1), kc_(n_sub - sub_sc),
        nf_(next_pow2(n_sub)), fft_(nf_) {
    const std::size_t nf = static_cast<std::size_t>(nf_);
    hre_.resize(static_cast<std::size_t>(nt_) * nr_ * nf);
    him_.resize(hre_.size());
    sre_.resize(hre_.size());
    sim_.resize(hre_.size());
    const std::size_t wide = static_cast<std::size_t>(std::max(kt_ * kr_, mt_ * mr_)) * nf;
    are_.resize(wide);
    aim_.resize(wide);
    bre_.resize(nf);
    bim_.resize(nf);
    tmp_.resize(nf);
    ramp_.resize(nf);
    for (std::size_t f = 0; f < nf; ++f)
      ramp_[f] = std::polar(1.0, 2.0 * kPi * static_cast<double>(f) / nf_);
  }

  int rows() const { return mt_ * m_ * mr_; }
  int cols() const { return kt_ * kc_ * kr_; }

  // Spectra of the CSI along subcarriers; returns ||X1||_F^2 (each h entry counted as often
  // as it appears in X1).
  template <class T>
  double set(const std::complex<T>* h) {
    const std::size_t nf = static_cast<std::size_t>(nf_);
    double frob2 = 0.0;
    for (int a = 0; a < nt_; ++a)
      for (int c = 0; c < nr_; ++c) {
        const std::complex<T>* hp = h + (static_cast<std::size_t>(a) * nr_ + c) * n_;
        std::fill(tmp_.begin(), tmp_.end(), cd(0.0));
        for (int k = 0; k < n_; ++k) tmp_[static_cast<std::size_t>(k)] = cd(hp[k]);
        const double ca = overlap(a, mt_, kt_), cc = overlap(c, mr_, kr_);
        for (int k = 0; k < n_; ++k)
          frob2 += ca * cc * overlap_sc(k) * std::norm(tmp_[static_cast<std::size_t>(k)]);
        fft_.run(tmp_.data(), false);
        const std::size_t off = (static_cast<std::size_t>(a) * nr_ + c) * nf;
        for (std::size_t f = 0; f < nf; ++f) {
          hre_[off + f] = tmp_[f].real();
          him_[off + f] = tmp_[f].imag();
          const cd s = cmul(tmp_[f], ramp_[f]);
          sre_[off + f] = s.real();
          sim_[off + f] = s.imag();
        }
      }
    return frob2;
  }

  // Y (rows x nvec, leading dimension ldy) = X1 V (or X2 V with `shifted`), V cols x nvec.
  void apply(const cd* v, int ldv, cd* y, int ldy, int nvec, bool shifted) {
    const std::size_t nf = static_cast<std::size_t>(nf_);
    const double* hr = shifted ? sre_.data() : hre_.data();
    const double* hi = shifted ? sim_.data() : him_.data();
    const double scale = 1.0 / nf_;
    for (int j = 0; j < nvec; ++j) {
      const cd* vj = v + static_cast<std::size_t>(j) * ldv;
      cd* yj = y + static_cast<std::size_t>(j) * ldy;
      for (int ct = 0; ct < kt_; ++ct)
        for (int cr = 0; cr < kr_; ++cr) {
          std::fill(tmp_.begin(), tmp_.end(), cd(0.0));
          for (int cn = 0; cn < kc_; ++cn)
            tmp_[static_cast<std::size_t>(cn)] = vj[cr + kr_ * (cn + kc_ * ct)];
          fft_.run(tmp_.data(), true);
          split(tmp_.data(), (static_cast<std::size_t>(ct) * kr_ + cr) * nf);
        }
      for (int at = 0; at < mt_; ++at)
        for (int r = 0; r < mr_; ++r) {
          std::fill(bre_.begin(), bre_.end(), 0.0);
          std::fill(bim_.begin(), bim_.end(), 0.0);
          for (int ct = 0; ct < kt_; ++ct)
            for (int cr = 0; cr < kr_; ++cr) {
              const std::size_t ho = (static_cast<std::size_t>(at + ct) * nr_ + r + cr) * nf;
              const std::size_t vo = (static_cast<std::size_t>(ct) * kr_ + cr) * nf;
              mac(hr + ho, hi + ho, are_.data() + vo, aim_.data() + vo, false);
            }
          for (std::size_t f = 0; f < nf; ++f) tmp_[f] = cd(bre_[f], bim_[f]);
          fft_.run(tmp_.data(), true);
          for (int mm = 0; mm < m_; ++mm)
            yj[r + mr_ * (mm + m_ * at)] = tmp_[static_cast<std::size_t>(mm)] * scale;
        }
    }
  }

  // Z (cols x nvec, leading dimension ldz) = X1^H U, U rows x nvec.
  void apply_adjoint(const cd* u, int ldu, cd* z, int ldz, int nvec) {
    const std::size_t nf = static_cast<std::size_t>(nf_);
    const double scale = 1.0 / nf_;
    for (int j = 0; j < nvec; ++j) {
      const cd* uj = u + static_cast<std::size_t>(j) * ldu;
      cd* zj = z + static_cast<std::size_t>(j) * ldz;
      for (int at = 0; at < mt_; ++at)
        for (int r = 0; r < mr_; ++r) {
          std::fill(tmp_.begin(), tmp_.end(), cd(0.0));
          for (int mm = 0; mm < m_; ++mm) tmp_[static_cast<std::size_t>(mm)] = uj[r + mr_ * (mm + m_ * at)];
          fft_.run(tmp_.data(), false);
          split(tmp_.data(), (static_cast<std::size_t>(at) * mr_ + r) * nf);
        }
      for (int ct = 0; ct < kt_; ++ct)
        for (int cr = 0; cr < kr_; ++cr) {
          std::fill(bre_.begin(), bre_.end(), 0.0);
          std::fill(bim_.begin(), bim_.end(), 0.0);
          for (int at = 0; at < mt_; ++at)
            for (int r = 0; r < mr_; ++r) {
              const std::size_t ho = (static_cast<std::size_t>(at + ct) * nr_ + r + cr) * nf;
              const std::size_t uo = (static_cast<std::size_t>(at) * mr_ + r) * nf;
              mac(hre_.data() + ho, him_.data() + ho, are_.data() + uo, aim_.data() + uo, true);
            }
          for (std::size_t f = 0; f < nf; ++f) tmp_[f] = cd(bre_[f], bim_[f]);
          fft_.run(tmp_.data(), false);
          for (int cn = 0; cn < kc_; ++cn)
            zj[cr + kr_ * (cn + kc_ * ct)] = tmp_[static_cast<std::size_t>(cn)] * scale;
        }
    }
  }

 private:
  // How often index i of a level of size n = sub + k - 1 appears in a Hankel of sub x k.
  static double overlap(int i, int sub, int k) {
    return std::min({i + 1, sub, k, sub + k - 1 - i});
  }
  double overlap_sc(int i) const {  // X1 keeps Kc = N - M of the K_N subcarrier shifts
    const int lo = std::max(0, i - (kc_ - 1)), hi = std::min(i, m_ - 1);
    return hi >= lo ? hi - lo + 1 : 0;
  }
  void split(const cd* x, std::size_t off) {
    for (int f = 0; f < nf_; ++f) {
      are_[off + static_cast<std::size_t>(f)] = x[f].real();
      aim_[off + static_cast<std::size_t>(f)] = x[f].imag();
    }
  }
  // b += h . a (or conj(h) . a), split real/imaginary, length nf: the vectorised inner loop.
  void mac(const double* hr, const double* hi, const double* ar, const double* ai, bool conj_h) {
    double* br = bre_.data();
    double* bi = bim_.data();
    const double sgn = conj_h ? -1.0 : 1.0;
    for (int f = 0; f < nf_; ++f) {
      const double hrf = hr[f], hif = sgn * hi[f];
      br[f] += hrf * ar[f] - hif * ai[f];
      bi[f] += hrf * ai[f] + hif * ar[f];
    }
  }

  int nt_, nr_, n_, mt_, mr_, m_, kt_, kr_, kc_, nf_;
  Fft fft_;
  std::vector<double> hre_, him_, sre_, sim_, are_, aim_, bre_, bim_;
  std::vector<cd> tmp_;
  std::vector<cd> ramp_;  // exp(+j 2 pi f / nf): X2 reads h one subcarrier later
};

// Deterministic pseudo-random numbers in [-1, 1) (splitmix64): start block and replacements of
// deflated columns; seeded per call, so results do not depend on threads or call order.
struct SplitMix {
  std::uint64_t state;
  double next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
  }
};

struct KrylovResult {
  int steps = 0;
  int restarts = 0;
  bool converged = false;
  double residual = 0.0;  // max_i<q ||X1^H u_i - s_i v_i|| / s_1 at the end
};

// An array of trivially copyable T left uninitialised: the Krylov bases are written before
// they are read, and zero-filling them (a std::vector) costs more than a block step at the
// default size.
template <class T>
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(std::size_t n)
      : p_(static_cast<T*>(::operator new[](n * sizeof(T)))), n_(n) {}
  T* data() { return p_.get(); }
  const T* data() const { return p_.get(); }
  T* begin() { return p_.get(); }
  T* end() { return p_.get() + n_; }
  std::size_t size() const { return n_; }
  T& operator[](std::size_t i) { return p_[i]; }

 private:
  struct Free {
    void operator()(T* p) const { ::operator delete[](p); }
  };
  std::unique_ptr<T[], Free> p_;
  std::size_t n_ = 0;
};

// Scratch space of the block GKL for an L x P operator, block size b, basis <= max_basis.
struct KrylovWorkspace {
  int rows = 0, cols = 0, block = 0, max_basis = 0;
  Scratch<cd> u, v, vn, w, tmp;
  std::vector<cd> coef, r, lfac, b, bcopy, y, zt, svd_work;
  std::vector<double> s, svd_rwork;
  std::vector<int> svd_iwork;
  int lwork = 1;

  KrylovWorkspace() = default;
  KrylovWorkspace(int l, int p, int bsize, int basis)
      : rows(l), cols(p), block(bsize), max_basis(basis) {
    const std::size_t m = static_cast<std::size_t>(basis), bs = static_cast<std::size_t>(bsize);
    u = Scratch<cd>(static_cast<std::size_t>(l) * m);
    v = Scratch<cd>(static_cast<std::size_t>(p) * m);
    vn = Scratch<cd>(static_cast<std::size_t>(p) * bs);
    w = Scratch<cd>(static_cast<std::size_t>(std::max(l, p)) * bs);
    coef.resize(m * bs);
    r.resize(bs * bs);
    lfac.resize(bs * bs);
    b.resize(m * m);
    bcopy.resize(m * m);
    y.resize(m * m);
    zt.resize(m * m);
    tmp = Scratch<cd>(static_cast<std::size_t>(std::max(l, p)) * m);
    s.resize(m);
    lwork = lapack::gesdd_lwork<double>(basis, basis);
    svd_work.resize(static_cast<std::size_t>(lwork));
    svd_rwork.resize(static_cast<std::size_t>(lapack::gesdd_rwork(basis, basis)));
    svd_iwork.resize(8 * m);
  }
};

namespace detail {

inline double norm2(const cd* x, int n) {
  double acc = 0.0;
  for (int i = 0; i < n; ++i) acc += std::norm(x[i]);
  return std::sqrt(acc);
}

// x -= Q (Q^H x) for Q n x k, coefficients added to c (k); one classical Gram-Schmidt pass.
inline void project_out(const cd* q, int n, int k, cd* x, cd* c, cd* scratch) {
  if (k == 0) return;
  lapack::gemm('C', 'N', k, 1, n, 1.0, q, n, x, n, 0.0, scratch, k);
  lapack::gemm('N', 'N', n, 1, k, -1.0, q, n, scratch, k, 1.0, x, n);
  for (int i = 0; i < k; ++i) c[i] += scratch[i];
}

// W (n x b) <- orthonormal block with W_in = Q C + W_out R: Q is n x k orthonormal,
// C (k x b, leading dimension k) and R (b x b, upper triangular) are overwritten.  Two
// block Gram-Schmidt passes against Q, then column-wise Gram-Schmidt inside the block (twice),
// with an extra pass against Q for a column that lost more than half its norm.  Columns whose
// norm falls to <= drop are replaced by pseudo-random unit vectors orthogonal to Q and the
// block (their R diagonal is 0).
inline void orthonormalize(const cd* q, int n, int k, cd* w, int bsize, cd* c, cd* r,
                           double drop, SplitMix& rng, std::vector<cd>& scratch) {
  std::fill(r, r + static_cast<std::ptrdiff_t>(bsize) * bsize, cd(0.0));
  if (k > 0) {
    cd* c2 = scratch.data();  // k x b
    lapack::gemm('C', 'N', k, bsize, n, 1.0, q, n, w, n, 0.0, c, k);
    lapack::gemm('N', 'N', n, bsize, k, -1.0, q, n, c, k, 1.0, w, n);
    lapack::gemm('C', 'N', k, bsize, n, 1.0, q, n, w, n, 0.0, c2, k);
    lapack::gemm('N', 'N', n, bsize, k, -1.0, q, n, c2, k, 1.0, w, n);
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(k) * bsize; ++i) c[i] += c2[i];
  }
  cd* proj = scratch.data() + static_cast<std::ptrdiff_t>(k) * bsize;  // >= k entries
  for (int j = 0; j < bsize; ++j) {
    cd* wj = w + static_cast<std::size_t>(j) * n;
    const double before = norm2(wj, n);
    for (int pass = 0; pass < 2; ++pass)
      for (int i = 0; i < j; ++i) {
        const cd* wi = w + static_cast<std::size_t>(i) * n;
        cd acc(0.0);
        for (int t = 0; t < n; ++t) acc += cmulc(wi[t], wj[t]);
        for (int t = 0; t < n; ++t) wj[t] -= cmul(acc, wi[t]);
        r[i + static_cast<std::ptrdiff_t>(bsize) * j] += acc;
      }
    double nrm = norm2(wj, n);
    const bool replace = !(nrm > drop);
    if (replace) {
      for (int t = 0; t < n; ++t) wj[t] = cd(rng.next(), rng.next());
      nrm = norm2(wj, n);
    }
    if (replace || nrm < 0.5 * before) {
      std::vector<cd> dummy(static_cast<std::size_t>(std::max(k, 1)));
      for (int pass = 0; pass < 2; ++pass) {
        project_out(q, n, k, wj, replace ? dummy.data() : c + static_cast<std::ptrdiff_t>(k) * j,
                    proj);
        for (int i = 0; i < j; ++i) {
          const cd* wi = w + static_cast<std::size_t>(i) * n;
          cd acc(0.0);
          for (int t = 0; t < n; ++t) acc += cmulc(wi[t], wj[t]);
          for (int t = 0; t < n; ++t) wj[t] -= cmul(acc, wi[t]);
          if (!replace) r[i + static_cast<std::ptrdiff_t>(bsize) * j] += acc;
        }
      }
      nrm = norm2(wj, n);
    }
    const double inv = 1.0 / nrm;
    for (int t = 0; t < n; ++t) wj[t] *= inv;
    r[j + static_cast<std::ptrdiff_t>(bsize) * j] = replace ? 0.0 : nrm;
  }
}

}  // namespace detail

// The q dominant singular triplets of the operator X1 (rows x cols): uq (rows x q), s (q),
// vq (cols x q), column-major, s descending; block size bs (q <= bs <= ws.block) and basis
// of at most mb <= ws.max_basis columns (2 bs <= mb, q <= mb / 2, mb + bs <= min(rows, cols)).
// frob is ||X1||_F (> 0).  Stops when every wanted residual ||X1^H u_i - s_i v_i|| is
// <= max(rtol s_1, noise_rtol theta_{q+1}) (see the top of this file), or after max_steps block steps
// (converged = false; the outputs hold the last Ritz triplets).
inline KrylovResult partial_svd(HankelOperator& op, double frob, int q, int bs, int mb,
                                double rtol, double noise_rtol, int max_steps,
                                KrylovWorkspace& ws, cd* uq, double* s, cd* vq) {
  const int l = ws.rows, p = ws.cols;
  const double drop = std::max(l, p) * std::numeric_limits<double>::epsilon() * frob;
  SplitMix rng{0x5EED5EED12345678ULL};
  std::vector<cd> scratch(static_cast<std::size_t>(mb + 1) * bs + static_cast<std::size_t>(mb) + 1);
  KrylovResult res;
  // Pending right block V_1: pseudo-random, orthonormal.
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(p) * bs; ++i)
    ws.vn[static_cast<std::size_t>(i)] = cd(rng.next(), rng.next());
  detail::orthonormalize(ws.v.data(), p, 0, ws.vn.data(), bs, ws.coef.data(), ws.r.data(), drop,
                         rng, scratch);
  int nu = 0;  // columns in U, V (and order of B)
  std::fill(ws.b.begin(), ws.b.end(), cd(0.0));
  auto bat = [&](int i, int j) -> cd& { return ws.b[static_cast<std::size_t>(i) + static_cast<std::size_t>(mb) * j]; };
  while (res.steps < max_steps) {
    cancellation_point();
    ++res.steps;
    // U block: X1 V_j, orthogonalised against U; column block j of B.
    op.apply(ws.vn.data(), p, ws.w.data(), l, bs, false);
    detail::orthonormalize(ws.u.data(), l, nu, ws.w.data(), bs, ws.coef.data(), ws.r.data(),
                           drop, rng, scratch);
    for (int j = 0; j < bs; ++j) {
      for (int i = 0; i < nu; ++i) bat(i, nu + j) = ws.coef[static_cast<std::size_t>(i + nu * j)];
      for (int i = 0; i < bs; ++i) bat(nu + i, nu + j) = ws.r[static_cast<std::size_t>(i + bs * j)];
      for (int i = 0; i < nu; ++i) bat(nu + j, i) = cd(0.0);
    }
    std::copy(ws.w.begin(), ws.w.begin() + static_cast<std::ptrdiff_t>(l) * bs,
              ws.u.begin() + static_cast<std::ptrdiff_t>(l) * nu);
    std::copy(ws.vn.begin(), ws.vn.begin() + static_cast<std::ptrdiff_t>(p) * bs,
              ws.v.begin() + static_cast<std::ptrdiff_t>(p) * nu);
    nu += bs;
    // Next V block: X1^H U_j orthogonalised against V; its R factor L_j couples the residual.
    op.apply_adjoint(ws.u.data() + static_cast<std::ptrdiff_t>(l) * (nu - bs), l, ws.vn.data(), p, bs);
    detail::orthonormalize(ws.v.data(), p, nu, ws.vn.data(), bs, ws.coef.data(), ws.lfac.data(),
                           drop, rng, scratch);
    // Ritz triplets: B = Y S Z^H.
    for (int j = 0; j < nu; ++j)
      for (int i = 0; i < nu; ++i) ws.bcopy[static_cast<std::size_t>(i + nu * j)] = bat(i, j);
    if (lapack::gesdd(nu, nu, ws.bcopy.data(), ws.s.data(), ws.y.data(), ws.zt.data(),
                      ws.svd_work.data(), ws.lwork, ws.svd_rwork.data(), ws.svd_iwork.data()) != 0)
      break;
    // Residuals ||L_j Y[nu - b:nu, i]||, i < q.
    double worst = 0.0;
    for (int i = 0; i < q; ++i) {
      double acc = 0.0;
      for (int a = 0; a < bs; ++a) {
        cd t(0.0);
        for (int c = a; c < bs; ++c)  // L_j upper triangular
          t += cmul(ws.lfac[static_cast<std::size_t>(a + bs * c)],
                    ws.y[static_cast<std::size_t>(nu - bs + c + nu * i)]);
        acc += std::norm(t);
      }
      worst = std::max(worst, std::sqrt(acc));
    }
    res.residual = ws.s[0] > 0.0 ? worst / ws.s[0] : 0.0;
    const double noise_level = nu > q ? ws.s[static_cast<std::size_t>(q)] : 0.0;
    res.converged = worst <= std::max(rtol * ws.s[0], noise_rtol * noise_level);
    if (res.converged || res.steps >= max_steps) break;
    if (nu + bs > mb) {
      // Thick restart from the best `keep` Ritz triplets: U <- U Y_keep, V <- V Z_keep,
      // B <- diag(s_keep); the pending block V_{j+1} stays (it is orthogonal to V).
      const int keep = std::min(nu, std::max(q, mb / 2));
      lapack::gemm('N', 'N', l, keep, nu, 1.0, ws.u.data(), l, ws.y.data(), nu, 0.0, ws.tmp.data(), l);
      std::copy(ws.tmp.begin(), ws.tmp.begin() + static_cast<std::ptrdiff_t>(l) * keep, ws.u.begin());
      lapack::gemm('N', 'C', p, keep, nu, 1.0, ws.v.data(), p, ws.zt.data(), nu, 0.0, ws.tmp.data(), p);
      std::copy(ws.tmp.begin(), ws.tmp.begin() + static_cast<std::ptrdiff_t>(p) * keep, ws.v.begin());
      std::fill(ws.b.begin(), ws.b.end(), cd(0.0));
      for (int i = 0; i < keep; ++i) bat(i, i) = ws.s[static_cast<std::size_t>(i)];
      nu = keep;
      ++res.restarts;
    }
  }
  // Wanted triplets.
  lapack::gemm('N', 'N', l, q, nu, 1.0, ws.u.data(), l, ws.y.data(), nu, 0.0, uq, l);
  lapack::gemm('N', 'C', p, q, nu, 1.0, ws.v.data(), p, ws.zt.data(), nu, 0.0, vq, p);
  for (int i = 0; i < q; ++i) s[i] = ws.s[static_cast<std::size_t>(i)];
  return res;
}

}  // namespace skysense::hankel_svd
