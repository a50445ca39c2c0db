// Typed wrappers of the level-2/3 complex BLAS calls of the imaging kernels (scipy-openblas32,
// every symbol prefixed `scipy_`; see lapack.hpp).  Row-major throughout, as NumPy stores arrays.
#pragma once
#include <complex>

#include "skysense/lapack.hpp"  // cblas.h with the complex types

namespace skysense::blas {

// y = A^T x for a row-major m x n block of A with leading dimension lda (OpenBLAS's streaming
// "N" kernel on A's rows; the conjugating variant of A^H x is a slower generic kernel on some
// CPUs, so adjoints are formed as conj(A^T conj(x))).
inline void gemv_transpose(int m, int n, const std::complex<double>* a, int lda,
                           const std::complex<double>* x, std::complex<double>* y) {
  const std::complex<double> one(1.0), zero(0.0);
  scipy_cblas_zgemv(CblasRowMajor, CblasTrans, m, n, &one, a, lda, x, 1, &zero, y, 1);
}
inline void gemv_transpose(int m, int n, const std::complex<float>* a, int lda,
                           const std::complex<float>* x, std::complex<float>* y) {
  const std::complex<float> one(1.0f), zero(0.0f);
  scipy_cblas_cgemv(CblasRowMajor, CblasTrans, m, n, &one, a, lda, x, 1, &zero, y, 1);
}

// C (m x n, ldc) = op(A) B, row-major; op(A) = A^H of a k x m block (lda) when adjoint_a,
// else the m x k block A itself; B is k x n (ldb).
inline void gemm(bool adjoint_a, int m, int n, int k, const std::complex<double>* a, int lda,
                 const std::complex<double>* b, int ldb, std::complex<double>* c, int ldc) {
  const std::complex<double> one(1.0), zero(0.0);
  scipy_cblas_zgemm(CblasRowMajor, adjoint_a ? CblasConjTrans : CblasNoTrans, CblasNoTrans, m, n,
                    k, &one, a, lda, b, ldb, &zero, c, ldc);
}
inline void gemm(bool adjoint_a, int m, int n, int k, const std::complex<float>* a, int lda,
                 const std::complex<float>* b, int ldb, std::complex<float>* c, int ldc) {
  const std::complex<float> one(1.0f), zero(0.0f);
  scipy_cblas_cgemm(CblasRowMajor, adjoint_a ? CblasConjTrans : CblasNoTrans, CblasNoTrans, m, n,
                    k, &one, a, lda, b, ldb, &zero, c, ldc);
}

// out (n x k, column-major) = C^H B: the inner products of the columns of the column-major
// m x n matrix C with those of the m x k matrix B (both lda = m).
inline void inner_products(int m, int n, int k, const std::complex<double>* c_cols,
                           const std::complex<double>* b_cols, std::complex<double>* out) {
  const std::complex<double> one(1.0), zero(0.0);
  scipy_cblas_zgemm(CblasColMajor, CblasConjTrans, CblasNoTrans, n, k, m, &one, c_cols, m, b_cols,
                    m, &zero, out, n);
}

}  // namespace skysense::blas
