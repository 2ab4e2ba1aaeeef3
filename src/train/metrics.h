#pragma once
// The JSONL metrics file of `train --metrics`, one object a line:
//   {"event":"step","step":S,"epoch":E,"batch":B,"loss":L,"lr":R,"seconds":T}
//   {"event":"epoch","epoch":E,"train_loss":L,"accuracy":A,"eval_loss":V,
//    "split":"test","lr":R,"images_per_second":I,"seconds":T}
//   {"event":"final","split":"test","accuracy":A,"eval_loss":V,"steps":S,"seconds":T}
//     (with "train_loss":L, the mean over the steps of a last, partial
//     epoch, when a run of --steps ends inside one)
//   {"event":"final","diverged":true,"steps":S,"loss":L,"seconds":T}
// The final record ends a finished run: its test-set result, or the step at
// which training diverged (loss null when it was not a number).
// Lines are flushed as they are written. The path may be a file, a link, a
// device, a FIFO or "-" for standard output (io/file.h). A resumed run keeps the records
// from before its resume point and drops any written after it, so the file
// ends up as if the run had never stopped.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/file.h"
#include "train/trainer.h"

namespace mnist {

// What a metrics file says (read back by compare and its summaries).
struct RunRecord {
  struct Point {
    int64_t step;
    double loss;
  };
  struct Epoch {
    int epoch;
    double train_loss, accuracy, eval_loss, seconds;
  };
  std::vector<Point> losses;  // the logged steps
  std::vector<Epoch> epochs;
  bool finished = false;  // has its "final" record
  bool diverged = false;
  double test_accuracy = 0, test_loss = 0, seconds = 0;
  int64_t steps = 0;  // optimizer steps taken
  std::optional<double> partial_epoch_loss;  // the final record's train_loss, if any

  // The run's closing training loss: its partial last epoch's mean if it
  // ended inside one, else its last epoch's; none for a run without either.
  std::optional<double> final_train_loss() const;
};

// Parses a metrics file. Error naming the file and line for a line that is
// not a metrics record.
RunRecord read_run(const std::string& path);

class MetricsLog {
 public:
  // A resumed run (resume_step > 0) keeps the records before its position.
  MetricsLog(const std::string& path, int resume_epoch, int64_t resume_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  void step(const StepEvent& e);
  void epoch(const EpochEvent& e);
  void final(const EvalResult& test, int64_t steps, double seconds,
             std::optional<double> partial_epoch_loss = std::nullopt);
  void diverged(int64_t steps, double loss, double seconds);
  // Flushes the file to disk and closes it; Error naming the file on failure.
  void close();

 private:
  void write(const std::string& line);
  std::string path_;
  std::unique_ptr<OutputFile> out_;
};

}  // namespace mnist
