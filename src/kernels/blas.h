#pragma once
// Row-major GEMM over the system BLAS (OpenBLAS), for float and double.
// C (m x n) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C
namespace mnist {

template <class T>
void gemm(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta,
          T* c, int ldc);

// BLAS must not start threads of its own: the trainer splits work across
// threads itself, and a fixed single-threaded BLAS keeps results independent
// of the thread count. Called once at start-up.
void use_single_threaded_blas();

}  // namespace mnist
