#include "dist/mpi.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "io/file.h"
#include "util/error.h"

namespace mnist {

namespace {

// FNV-1a, 64 bits: a fingerprint, not a defence against forgery.
struct Fingerprint {
  uint64_t hash = 1469598103934665603ULL;
  void add(const void* data, size_t n) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) {
      hash ^= bytes[i];
      hash *= 1099511628211ULL;
    }
  }
  void add(const std::string& s) { add(s.data(), s.size() + 1); }
};

uint64_t fingerprint_of(const ImageSet& set) {
  Fingerprint f;
  for (int v : {set.count, set.rows, set.cols}) f.add(&v, sizeof v);
  f.add(set.pixels.data(), set.pixels.size());
  f.add(set.values.data(), set.values.size() * sizeof(float));
  f.add(set.labels.data(), set.labels.size());
  return f.hash;
}

// --- the signal handler's table of the ranks on this host ---------------
//
// Written once before the handler is installed; the handler only reads it
// and calls async-signal-safe functions (kill, write, _exit).
struct Peer {
  pid_t pid = 0;
  std::array<char, 192> message{};
  size_t length = 0;
};
constexpr int kMaxPeers = 256;
std::array<Peer, kMaxPeers> g_peers;
int g_peer_count = 0;
std::array<char, 256> g_stopped{};  // "mnist: rank R of N: stopped by mpirun ..."
size_t g_stopped_length = 0;

extern "C" void on_mpi_signal(int sig) {
  for (int i = 0; i < g_peer_count; ++i) {
    if (::kill(g_peers[i].pid, 0) != 0 && errno == ESRCH) {
      ssize_t ignored = ::write(STDERR_FILENO, g_peers[i].message.data(), g_peers[i].length);
      (void)ignored;
      ::_exit(1);
    }
  }
  ssize_t ignored = ::write(STDERR_FILENO, g_stopped.data(), g_stopped_length);
  (void)ignored;
  ::_exit(128 + sig);
}

void copy_message(const std::string& text, std::array<char, 192>& out, size_t& length) {
  length = std::min(text.size(), out.size());
  std::memcpy(out.data(), text.data(), length);
}

// --- the exchange of gradient chunks ---------------------------------

class MpiExchange final : public GradientExchange {
 public:
  MpiExchange(int rank, int size) : rank_(rank), size_(size) {}

  bool owns(int chunk, int chunks) const override { return first(rank_, chunks) <= chunk && chunk < first(rank_ + 1, chunks); }

  // Each rank sends its stop request and its chunks (loss, then gradient);
  // one all-gather delivers every rank's to every rank, in rank order,
  // which is chunk order.
  void exchange(std::vector<std::vector<float>>& grads, std::vector<double>& losses) override {
    const int chunks = static_cast<int>(grads.size());
    const size_t params_ = grads.front().size();
    const size_t chunk_bytes = sizeof(double) + params_ * sizeof(float);
    std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
    for (int r = 0, at = 0; r < size_; ++r) {
      counts[r] = static_cast<int>(sizeof(uint64_t) + (first(r + 1, chunks) - first(r, chunks)) * chunk_bytes);
      displs[r] = at;
      at += counts[r];
    }
    send_.resize(static_cast<size_t>(counts[rank_]));
    const uint64_t stop = stop_requested_ ? 1 : 0;
    char* out = send_.data();
    std::memcpy(out, &stop, sizeof stop);
    out += sizeof stop;
    for (int c = first(rank_, chunks); c < first(rank_ + 1, chunks); ++c) {
      std::memcpy(out, &losses[c], sizeof(double));
      std::memcpy(out + sizeof(double), grads[c].data(), params_ * sizeof(float));
      out += chunk_bytes;
    }
    receive_.resize(static_cast<size_t>(displs.back() + counts.back()));
    MPI_Allgatherv(send_.data(), counts[rank_], MPI_BYTE, receive_.data(), counts.data(), displs.data(), MPI_BYTE,
                   MPI_COMM_WORLD);
    for (int r = 0; r < size_; ++r) {
      const char* in = receive_.data() + displs[r];
      uint64_t flag = 0;
      std::memcpy(&flag, in, sizeof flag);
      if (flag != 0) stop_agreed_ = true;
      in += sizeof flag;
      if (r == rank_) continue;
      for (int c = first(r, chunks); c < first(r + 1, chunks); ++c) {
        std::memcpy(&losses[c], in, sizeof(double));
        std::memcpy(grads[c].data(), in + sizeof(double), params_ * sizeof(float));
        in += chunk_bytes;
      }
    }
  }

  void request_stop() override { stop_requested_ = true; }
  bool stop_agreed() const override { return stop_agreed_; }

 private:
  int first(int r, int chunks) const { return r * chunks / size_; }
  int rank_, size_;
  std::vector<char> send_, receive_;
  std::atomic<bool> stop_requested_{false};
  bool stop_agreed_ = false;
};

// --- the grid's messages ------------------------------------------------

constexpr int kRequest = 1;  // worker -> rank 0: [int32 finished run or -1][its metrics]
constexpr int kAssign = 2;   // rank 0 -> worker: int32 run to train, or -1: no more

std::string receive_bytes(int source, int tag, int* from) {
  MPI_Status status;
  MPI_Probe(source, tag, MPI_COMM_WORLD, &status);
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::string bytes(static_cast<size_t>(count), '\0');
  MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (from) *from = status.MPI_SOURCE;
  return bytes;
}

void send_int(int value, int dest, int tag) { MPI_Send(&value, 1, MPI_INT, dest, tag, MPI_COMM_WORLD); }

}  // namespace

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

MpiSession::MpiSession(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);  // only the main thread calls MPI
  active_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  int finalized = 0;
  if (active_ && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();
}

void MpiSession::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void MpiSession::catch_signals() {
  if (!active_) return;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  struct Identity {
    int32_t pid;
    char host[64];
  } me{static_cast<int32_t>(::getpid()), {}};
  std::memcpy(me.host, host, std::min(std::strlen(host), sizeof me.host - 1));
  std::vector<Identity> all(static_cast<size_t>(size_));
  MPI_Allgather(&me, sizeof me, MPI_BYTE, all.data(), sizeof me, MPI_BYTE, MPI_COMM_WORLD);
  g_peer_count = 0;
  for (int r = 0; r < size_ && g_peer_count < kMaxPeers; ++r) {
    if (r == rank_ || std::strncmp(all[r].host, me.host, sizeof me.host) != 0) continue;
    Peer& peer = g_peers[g_peer_count++];
    peer.pid = all[r].pid;
    copy_message(fmt::format("mnist: rank {} of {}: stopping because rank {} (pid {} on {}) has died\n", rank_, size_,
                             r, all[r].pid, me.host),
                 peer.message, peer.length);
  }
  const std::string stopped = fmt::format(
      "mnist: rank {} of {}: stopped by mpirun (when a rank fails, mpirun's message above names it)\n", rank_, size_);
  g_stopped_length = std::min(stopped.size(), g_stopped.size());
  std::memcpy(g_stopped.data(), stopped.data(), g_stopped_length);
  struct sigaction action {};
  action.sa_handler = on_mpi_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

void require_same_everywhere(const MpiSession& mpi, const std::vector<std::string>& arguments,
                             const DataSplits& data) {
  if (!mpi.active()) return;
  std::array<uint64_t, 3> mine{};  // binary, arguments, data
  Fingerprint binary;
  try {
    const std::string bytes = read_file("/proc/self/exe");
    binary.add(bytes.data(), bytes.size());
  } catch (const Error&) {
  }
  mine[0] = binary.hash;
  Fingerprint args;
  for (const std::string& a : arguments) args.add(a);
  mine[1] = args.hash;
  Fingerprint d;
  for (const ImageSet* set : {&data.train, &data.valid, &data.test}) {
    const uint64_t h = fingerprint_of(*set);
    d.add(&h, sizeof h);
  }
  mine[2] = d.hash;
  std::vector<uint64_t> all(static_cast<size_t>(3 * mpi.size()));
  MPI_Allgather(mine.data(), 3, MPI_UINT64_T, all.data(), 3, MPI_UINT64_T, MPI_COMM_WORLD);
  static const char* const what[] = {"the binary", "the arguments", "the data"};
  std::vector<std::string> differences;
  for (int k = 0; k < 3; ++k) {
    std::vector<int> ranks;
    for (int r = 1; r < mpi.size(); ++r) {
      if (all[3 * r + k] != all[k]) ranks.push_back(r);
    }
    if (!ranks.empty()) {
      differences.push_back(fmt::format("{} (rank{} {})", what[k], ranks.size() == 1 ? "" : "s", fmt::join(ranks, ", ")));
    }
  }
  if (!differences.empty()) {
    throw Error(fmt::format("the ranks differ from rank 0 in {}; every rank must run the same mnist with the same "
                            "flags on the same data",
                            fmt::join(differences, ", ")));
  }
}

int broadcast_status(const MpiSession& mpi, int status) {
  if (!mpi.active()) return status;
  int worst = 0;
  MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}

std::string broadcast_file(const MpiSession& mpi, const std::string& path) {
  if (!mpi.active()) return read_file(path);
  std::string bytes, error;
  if (mpi.root()) {
    try {
      bytes = read_file(path);
    } catch (const Error& e) {
      error = e.what();
    }
  }
  // First the error, if any, then the bytes: every rank learns both.
  int64_t sizes[2] = {static_cast<int64_t>(error.size()), static_cast<int64_t>(bytes.size())};
  MPI_Bcast(sizes, 2, MPI_INT64_T, 0, MPI_COMM_WORLD);
  error.resize(static_cast<size_t>(sizes[0]));
  MPI_Bcast(error.data(), static_cast<int>(sizes[0]), MPI_BYTE, 0, MPI_COMM_WORLD);
  if (!error.empty()) throw Error(error);
  bytes.resize(static_cast<size_t>(sizes[1]));
  for (int64_t at = 0; at < sizes[1]; at += 1 << 30) {  // MPI counts are ints: 1 GiB at a time
    const auto n = static_cast<int>(std::min<int64_t>(1 << 30, sizes[1] - at));
    MPI_Bcast(bytes.data() + at, n, MPI_BYTE, 0, MPI_COMM_WORLD);
  }
  return bytes;
}

std::unique_ptr<GradientExchange> make_mpi_exchange(const MpiSession& mpi) {
  return std::make_unique<MpiExchange>(mpi.rank(), mpi.size());
}

bool run_grid_mpi(const MpiSession& mpi, const std::vector<RunSpec>& runs, const DataSplits& data,
                  const std::string& out_dir, int threads,
                  const std::function<void(const RunSpec&, const RunRecord&, bool skipped)>& on_run_done) {
  auto never = [] { return false; };
  if (!mpi.root()) {
    // A worker: ask, train, send the metrics back with the next request.
    const std::string scratch =
        (std::filesystem::temp_directory_path() / fmt::format("mnist-rank{}-{}.jsonl", mpi.rank(), ::getpid())).string();
    std::string request(sizeof(int32_t), '\0');
    int32_t none = -1;
    std::memcpy(request.data(), &none, sizeof none);
    for (;;) {
      MPI_Send(request.data(), static_cast<int>(request.size()), MPI_BYTE, 0, kRequest, MPI_COMM_WORLD);
      int32_t index = -1;
      MPI_Recv(&index, 1, MPI_INT, 0, kAssign, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      if (index < 0) break;
      train_grid_run(runs[index], data, scratch, threads, [](int64_t) {}, never);
      request.assign(reinterpret_cast<const char*>(&index), sizeof index);
      request += read_file(scratch);
      std::filesystem::remove(scratch);
    }
    return true;
  }
  // Rank 0: the runs still to do, handed out in grid order.
  std::vector<int> todo;
  for (size_t i = 0; i < runs.size(); ++i) {
    RunRecord record;
    if (run_finished(out_dir, runs[i], &record)) {
      on_run_done(runs[i], record, true);
    } else {
      todo.push_back(static_cast<int>(i));
    }
  }
  size_t next = 0;
  int retired = 0;
  // Answers one worker's request: stores the run it finished, gives it the next.
  auto serve = [&](bool wait) {
    int flag = 1;
    if (!wait) MPI_Iprobe(MPI_ANY_SOURCE, kRequest, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if (!flag) return false;
    int from = 0;
    const std::string message = receive_bytes(MPI_ANY_SOURCE, kRequest, &from);
    int32_t done = -1;
    std::memcpy(&done, message.data(), sizeof done);
    if (done >= 0) {
      const std::string path = run_path(out_dir, runs[done]);
      write_output(path, std::string_view(message).substr(sizeof done), OutputUse::File);
      on_run_done(runs[done], read_run(path), false);
    }
    const int assign = next < todo.size() ? todo[next++] : -1;
    if (assign < 0) ++retired;
    send_int(assign, from, kAssign);
    return true;
  };
  while (next < todo.size()) {
    const int index = todo[next++];
    const std::string path = run_path(out_dir, runs[index]);
    train_grid_run(runs[index], data, path, threads, [&](int64_t) { while (serve(false)) {} }, never);
    on_run_done(runs[index], read_run(path), false);
  }
  while (retired < mpi.size() - 1) serve(true);
  return true;
}

}  // namespace mnist
