#pragma once
// The benchmarks' common subject: the course CNN with Adam (lr 0.001) at
// batch 100, ready to step on the given data.
#include "nn/models.h"
#include "train/trainer.h"

namespace mnist::bench {

struct CourseTrainer {
  CourseTrainer(const DataSplits& data, int threads)
      : config(adam_config()),
        network(initialised_cnn()),
        optimizer(make_optimizer(config.optimizer, network.tensors())),
        pool(threads),
        trainer(network, *optimizer, data, config, pool) {}

  static Network<float> initialised_cnn() {
    Network<float> net = make_network<float>("cnn", {1, 28, 28}, 10);
    net.init(0);
    return net;
  }

  static TrainConfig adam_config() {
    TrainConfig c;
    c.optimizer.name = "adam";
    return c.resolved();
  }

  TrainConfig config;
  Network<float> network;
  std::unique_ptr<Optimizer> optimizer;
  ThreadPool pool;
  Trainer trainer;
};

}  // namespace mnist::bench
