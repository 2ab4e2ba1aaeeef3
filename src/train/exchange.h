#pragma once
// Data-parallel training across processes (the MPI launcher, dist/mpi.h),
// as seen by the trainer. A batch is cut into kGradChunks fixed chunks in
// every case; each process computes the chunks it owns, and exchange()
// brings every process every chunk, so that each sums all of them in chunk
// order, exactly as one process does: the weights stay bit-identical to a
// single process whatever the number of processes or threads.
#include <vector>

namespace mnist {

class GradientExchange {
 public:
  virtual ~GradientExchange() = default;
  // Whether this process computes the chunk (of `chunks`).
  virtual bool owns(int chunk, int chunks) const = 0;
  // Fills the chunks other processes computed (gradients and summed
  // losses). It also carries each process's request to stop, so that all
  // agree on the step they stop after.
  virtual void exchange(std::vector<std::vector<float>>& grads, std::vector<double>& losses) = 0;
  // This process asks to stop (from any thread); stop_agreed() turns true
  // on every process at the same exchange.
  virtual void request_stop() = 0;
  virtual bool stop_agreed() const = 0;
};

}  // namespace mnist
