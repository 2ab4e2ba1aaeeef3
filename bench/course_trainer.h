#pragma once
// The benchmarks' common subject: the course CNN with Adam (lr 0.001) at
// batch 100, set up by the run layer and ready to step on the given data.
#include <memory>

#include "train/run.h"

namespace mnist::bench {

struct CourseTrainer {
  CourseTrainer(const DataSplits& data, int threads) : run(plan(threads), borrow(data)), trainer(run.trainer()) {}

  static RunPlan plan(int threads) {
    TrainConfig c;
    c.optimizer.name = "adam";
    return plan_new_run(c, /*save=*/"", threads);
  }

  TrainingRun run;
  Trainer& trainer;
  Network<float>& network = run.network();
  ThreadPool& pool = run.pool();
};

}  // namespace mnist::bench
