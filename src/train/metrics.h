#pragma once
// The JSONL metrics file of `train --metrics`, one object a line:
//   {"event":"step","step":S,"epoch":E,"batch":B,"loss":L,"lr":R,"seconds":T}
//   {"event":"epoch","epoch":E,"train_loss":L,"accuracy":A,"eval_loss":V,
//    "split":"test","lr":R,"images_per_second":I,"seconds":T}
//   {"event":"final","split":"test","accuracy":A,"eval_loss":V,"steps":S,"seconds":T}
//   {"event":"final","diverged":true,"steps":S,"loss":L,"seconds":T}
// The final record ends a finished run: its test-set result, or the step at
// which training diverged (loss null when it was not a number).
// Lines are flushed as they are written. A resumed run keeps the records
// from before its resume point and drops any written after it, so the file
// ends up as if the run had never stopped.
#include <cstdio>
#include <string>

#include "train/trainer.h"

namespace mnist {

class MetricsLog {
 public:
  MetricsLog(const std::string& path, const TrainState& resume_from);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  void step(const StepEvent& e);
  void epoch(const EpochEvent& e);
  void final(const EvalResult& test, int64_t steps, double seconds);
  void diverged(int64_t steps, double loss, double seconds);
  // Flushes the file to disk and closes it; Error naming the file on failure.
  void close();

 private:
  void write(const std::string& line);
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace mnist
