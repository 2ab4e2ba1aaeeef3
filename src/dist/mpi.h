#pragma once
// MPI (Debian's OpenMPI) for the launcher: `mpirun -n N mnist train ...`
// trains one run data-parallel with weights bit-identical to one process;
// `mpirun -n N mnist compare ...` spreads a grid's runs over the ranks.
// docs/mpi.md describes the communication and its cost.
//
// MPI is initialised only when an MPI process manager started the process
// (mpirun, or srun under Slurm): without one, mnist runs as a single
// process and never touches MPI.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "experiments/grid.h"
#include "experiments/runner.h"
#include "train/exchange.h"

namespace mnist {

// Whether mpirun or srun started this process (their environment is set).
bool launched_by_mpi();

// MPI for the life of the process: initialised on construction when
// launched_by_mpi(), finalised on destruction.
class MpiSession {
 public:
  MpiSession() = default;  // inactive: one process
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  bool active() const { return active_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }

  // After an error on this rank: ends the whole job (MPI_Abort). mpirun then
  // stops the other ranks, whose signal handler names the rank that died.
  [[noreturn]] void abort(int code);

  // SIGTERM and SIGINT under mpirun: print one line naming the rank that
  // died (a rank on this host whose process is gone), or saying mpirun
  // stopped the job, and exit at once. Files are written atomically, so the
  // last checkpoint stays whole.
  void catch_signals();

 private:
  bool active_ = false;
  int rank_ = 0, size_ = 1;
};

// Refuses to start, on every rank, when the ranks do not run the same
// binary with the same arguments on the same data: Error naming the ranks
// that differ from rank 0 and in what.
void require_same_everywhere(const MpiSession& mpi, const std::vector<std::string>& arguments,
                             const DataSplits& data);

// A file as rank 0 reads it, on every rank (a checkpoint to resume, without
// a shared file system). Error on every rank if rank 0 cannot read it.
std::string broadcast_file(const MpiSession& mpi, const std::string& path);

// The gradient exchange of data-parallel training (train/exchange.h): rank r
// owns the chunks [r * chunks / N, (r + 1) * chunks / N); one all-gather a
// gradient evaluation brings every rank every chunk.
std::unique_ptr<GradientExchange> make_mpi_exchange(const MpiSession& mpi);

// A comparison's grid over the ranks: rank 0 hands out the runs not yet
// done as ranks become free (training runs itself between messages), the
// others train them and send rank 0 their metrics, which it writes to
// out_dir as a single process would. No shared file system is needed.
// on_run_done is called on rank 0. Returns true on every rank when the
// grid is complete.
bool run_grid_mpi(const MpiSession& mpi, const std::vector<RunSpec>& runs, const DataSplits& data,
                  const std::string& out_dir, int threads,
                  const std::function<void(const RunSpec&, const RunRecord&, bool skipped)>& on_run_done);

// A decision of rank 0 on every rank (whether to go on after its checks).
int broadcast_status(const MpiSession& mpi, int status);

}  // namespace mnist
