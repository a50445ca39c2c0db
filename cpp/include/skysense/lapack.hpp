// The few LAPACK/OpenBLAS entry points the kernels use, from the PyPI wheel scipy-openblas32
// (the OpenBLAS build NumPy and SciPy ship): LP64 (32-bit lapack_int), every exported symbol
// prefixed `scipy_`.  Kernels call these wrappers, never the prefixed names.
#pragma once
#include <algorithm>
#include <complex>
#include <mutex>

#ifndef lapack_complex_float
#define lapack_complex_float std::complex<float>
#endif
#ifndef lapack_complex_double
#define lapack_complex_double std::complex<double>
#endif
#include <cblas.h>
#include <lapacke.h>

namespace skysense::lapack {

// Eigen-decomposition of a Hermitian n x n matrix (column-major, lower triangle referenced):
// on return `a` holds the eigenvectors and `w` the eigenvalues in ascending order.  `work` has
// `lwork` entries (see heev_lwork), `rwork` at least max(1, 3n - 2).  Returns LAPACK's info.
inline int heev(int n, std::complex<double>* a, double* w, std::complex<double>* work, int lwork,
                double* rwork) {
  return scipy_LAPACKE_zheev_work(LAPACK_COL_MAJOR, 'V', 'L', n, a, n, w, work, lwork, rwork);
}

// Optimal workspace length of heev for order n (a workspace query: nothing is computed).
inline int heev_lwork(int n) {
  std::complex<double> a(0.0), query(0.0);
  double w = 0.0, rwork = 0.0;
  const int info =
      scipy_LAPACKE_zheev_work(LAPACK_COL_MAJOR, 'V', 'L', n, &a, n > 0 ? n : 1, &w, &query, -1, &rwork);
  const int minimum = 2 * n > 1 ? 2 * n - 1 : 1;
  const int optimal = info == 0 ? static_cast<int>(query.real()) : minimum;
  return optimal > minimum ? optimal : minimum;
}

// Thin SVD of an m x n column-major matrix (destroyed): s (min(m, n)), u (m x min), vt (min x n).
// `work`/`rwork`/`iwork` sized by gesdd_lwork / gesdd_rwork / 8 min(m, n).  Returns LAPACK's info.
inline int gesdd(int m, int n, std::complex<double>* a, double* s, std::complex<double>* u,
                 std::complex<double>* vt, std::complex<double>* work, int lwork, double* rwork,
                 int* iwork) {
  const int k = m < n ? m : n;
  return scipy_LAPACKE_zgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, a, m, s, u, m, vt, k, work, lwork,
                                   rwork, iwork);
}
inline int gesdd(int m, int n, std::complex<float>* a, float* s, std::complex<float>* u,
                 std::complex<float>* vt, std::complex<float>* work, int lwork, float* rwork,
                 int* iwork) {
  const int k = m < n ? m : n;
  return scipy_LAPACKE_cgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, a, m, s, u, m, vt, k, work, lwork,
                                   rwork, iwork);
}

// Optimal workspace length of gesdd (jobz = 'S') for an m x n matrix of complex<T>.
template <class T>
int gesdd_lwork(int m, int n) {
  std::complex<T> a(0), u(0), vt(0), query(0);
  T s = 0, rwork = 0;
  int iwork = 0;
  const int k = m < n ? m : n;
  const int info = gesdd(m, n, &a, &s, &u, &vt, &query, -1, &rwork, &iwork);
  const int minimum = 2 * k + (m > n ? m : n);
  const int optimal = info == 0 ? static_cast<int>(query.real()) : minimum;
  return optimal > minimum ? optimal : minimum;
}

// rwork length of gesdd (jobz = 'S'), LAPACK's bound.
inline int gesdd_rwork(int m, int n) {
  const long k = m < n ? m : n, mx = m > n ? m : n;
  const long a = 5 * k * k + 5 * k, b = 2 * mx * k + 2 * k * k + k;
  return static_cast<int>(a > b ? a : b);
}

// Eigenvalues of a general n x n column-major matrix (destroyed).  `work` >= 2n, `rwork` >= 2n.
inline int geev(int n, std::complex<double>* a, std::complex<double>* w,
                std::complex<double>* work, int lwork, double* rwork) {
  return scipy_LAPACKE_zgeev_work(LAPACK_COL_MAJOR, 'N', 'N', n, a, n, w, nullptr, 1, nullptr, 1,
                                  work, lwork, rwork);
}

// Eigenvalues w and right eigenvectors vr (n x n, column-major, unit 2-norm columns) of a
// general n x n column-major matrix (destroyed).  `work` >= 2n, `rwork` >= 2n.
inline int geev_right(int n, std::complex<double>* a, std::complex<double>* w,
                      std::complex<double>* vr, std::complex<double>* work, int lwork,
                      double* rwork) {
  return scipy_LAPACKE_zgeev_work(LAPACK_COL_MAJOR, 'N', 'V', n, a, n, w, nullptr, 1, vr, n, work,
                                  lwork, rwork);
}

// C = A A^H (lower triangle), A n x k column-major, C n x n column-major.
inline void herk(int n, int k, const std::complex<double>* a, std::complex<double>* c) {
  scipy_cblas_zherk(CblasColMajor, CblasLower, CblasNoTrans, n, k, 1.0, a, n, 0.0, c, n);
}

// C = alpha op(A) op(B) + beta C, column-major, op = 'N' or 'C' (conjugate transpose).
inline void gemm(char ta, char tb, int m, int n, int k, std::complex<double> alpha,
                 const std::complex<double>* a, int lda, const std::complex<double>* b, int ldb,
                 std::complex<double> beta, std::complex<double>* c, int ldc) {
  scipy_cblas_zgemm(CblasColMajor, ta == 'C' ? CblasConjTrans : CblasNoTrans,
                    tb == 'C' ? CblasConjTrans : CblasNoTrans, m, n, k, &alpha, a, lda, b, ldb,
                    &beta, c, ldc);
}

// Eigenvalues (jobz = 'N', all) or the eigenpairs il..iu (1-based, ascending; jobz = 'V') of a
// Hermitian n x n column-major matrix (lower triangle; destroyed), by MRRR.  `m` returns the
// number found; z is n x (iu - il + 1).  Workspace from heevr_sizes.  Returns LAPACK's info.
struct HeevrSizes {
  int lwork = 1, lrwork = 1, liwork = 1;
};
inline int heevr(char jobz, int n, std::complex<double>* a, int il, int iu, int* m, double* w,
                 std::complex<double>* z, int* isuppz, std::complex<double>* work, double* rwork,
                 int* iwork, const HeevrSizes& sz) {
  const char range = jobz == 'N' ? 'A' : 'I';
  return scipy_LAPACKE_zheevr_work(LAPACK_COL_MAJOR, jobz, range, 'L', n, a, n, 0.0, 0.0, il, iu,
                                   0.0, m, w, z, n, isuppz, work, sz.lwork, rwork, sz.lrwork,
                                   iwork, sz.liwork);
}
inline HeevrSizes heevr_sizes(int n) {
  std::complex<double> a(0.0), z(0.0), work(0.0);
  double w = 0.0, rwork = 0.0;
  int m = 0, isuppz[2] = {0, 0}, iwork = 0;
  HeevrSizes q{-1, -1, -1};
  const int info = heevr('V', n, &a, 1, n > 0 ? n : 1, &m, &w, &z, isuppz, &work, &rwork, &iwork, q);
  HeevrSizes s;
  s.lwork = std::max(info == 0 ? static_cast<int>(work.real()) : 0, 2 * n + 1);
  s.lrwork = std::max(info == 0 ? static_cast<int>(rwork) : 0, 24 * n + 1);
  s.liwork = std::max(info == 0 ? iwork : 0, 10 * n + 1);
  return s;
}

// Keeps this process's scipy-openblas single-threaded while alive.  OpenBLAS threads even tiny
// level-2 calls (zhemv inside zheev has no size threshold), and a threaded BLAS call inside a
// thread that is already one of our workers oversubscribes the cores (a small least-squares
// solve ran ~50x slower so in the spec's measurements).  NumPy and SciPy ship their own renamed
// OpenBLAS copies, so this changes nothing they see; the previous setting is restored when the
// last concurrent scope ends.  OpenBLAS has no per-thread setting (openblas_set_num_threads_local
// sets the global count too).
class SingleThreadScope {
 public:
  SingleThreadScope() {
    std::lock_guard<std::mutex> lock(mutex());
    if (depth()++ == 0) {
      saved() = scipy_openblas_get_num_threads();
      if (saved() != 1) scipy_openblas_set_num_threads(1);
    }
  }
  ~SingleThreadScope() {
    std::lock_guard<std::mutex> lock(mutex());
    if (--depth() == 0 && saved() != 1) scipy_openblas_set_num_threads(saved());
  }
  SingleThreadScope(const SingleThreadScope&) = delete;
  SingleThreadScope& operator=(const SingleThreadScope&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static int& depth() {
    static int d = 0;
    return d;
  }
  static int& saved() {
    static int s = 1;
    return s;
  }
};

}  // namespace skysense::lapack
