#include "train/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "kernels/layers.h"
#include "util/error.h"

namespace mnist {

std::string TrainConfig::to_json() const {
  nlohmann::json j = {
      {"model", model},
      {"optimizer", optimizer.name},
      {"lr", optimizer.lr},
      {"momentum", optimizer.momentum},
      {"dampening", optimizer.dampening},
      {"nesterov", optimizer.nesterov},
      {"weight_decay", optimizer.weight_decay},
      {"epochs", epochs},
      {"batch_size", batch_size},
      {"seed", seed},
      {"shuffle", shuffle},
  };
  return j.dump();
}

void TrainConfig::validate() const {
  mnist::validate(optimizer);
  if (epochs < 1) throw UsageError(fmt::format("--epochs: must be at least 1, got {}", epochs));
  if (batch_size < 1) throw UsageError(fmt::format("--batch-size: must be at least 1, got {}", batch_size));
  if (threads < 0) throw UsageError(fmt::format("--threads: must be at least 1 (or 0 for all cores), got {}", threads));
  if (log_every < 1) throw UsageError(fmt::format("--log-every: must be at least 1, got {}", log_every));
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

Trainer::Trainer(Network<float>& network, Optimizer& optimizer, const DataSplits& data,
                 const TrainConfig& config, ThreadPool& pool)
    : network_(network), optimizer_(optimizer), data_(data), config_(config), pool_(pool) {
  const int batch = config.batch_size;
  const int chunk = (batch + kGradChunks - 1) / kGradChunks;
  for (int w = 0; w < pool.size(); ++w) workspaces_.emplace_back(network, chunk);
  chunk_grads_.assign(kGradChunks, std::vector<float>(network.num_params()));
  chunk_losses_.assign(kGradChunks, 0.0);
  grad_.assign(network.num_params(), 0.0f);
  inputs_.resize(static_cast<size_t>(batch) * network.input_shape().size());
  labels_.resize(static_cast<size_t>(batch));
  dlogits_.resize(static_cast<size_t>(batch) * network.classes());
}

double Trainer::step(std::span<const uint32_t> indices) {
  const int n = static_cast<int>(indices.size());
  const size_t image = network_.input_shape().size();
  const int classes = network_.classes();
  data_.train.gather(indices, data_.scaling, inputs_.data(), labels_.data());
  pool_.run(kGradChunks, [&](int c, int w) {
    const int begin = n * c / kGradChunks, end = n * (c + 1) / kGradChunks;
    std::vector<float>& g = chunk_grads_[c];
    std::fill(g.begin(), g.end(), 0.0f);
    chunk_losses_[c] = 0;
    if (begin == end) return;
    const float* logits = workspaces_[w].forward(network_, inputs_.data() + begin * image, end - begin);
    float* dlogits = dlogits_.data() + static_cast<size_t>(begin) * classes;
    // The loss is the mean over the whole batch, so each chunk scales by 1/n.
    chunk_losses_[c] = softmax_cross_entropy<float>(logits, labels_.data() + begin, end - begin,
                                                    classes, 1.0f / static_cast<float>(n), dlogits);
    workspaces_[w].backward(network_, dlogits, end - begin, g.data());
  });
  // Sum the chunks in a fixed order.
  std::copy(chunk_grads_[0].begin(), chunk_grads_[0].end(), grad_.begin());
  double loss = chunk_losses_[0];
  for (int c = 1; c < kGradChunks; ++c) {
    const float* g = chunk_grads_[c].data();
    for (size_t i = 0; i < grad_.size(); ++i) grad_[i] += g[i];
    loss += chunk_losses_[c];
  }
  optimizer_.step(network_.params(), grad_, config_.optimizer.lr);
  return loss / n;
}

void Trainer::run(const TrainCallbacks& callbacks) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const ImageSet& train = data_.train;
  const bool has_valid = !data_.valid.empty();
  const ImageSet& held_out = has_valid ? data_.valid : data_.test;
  const int batches = batches_per_epoch(train.count, config_.batch_size);
  for (int epoch = 0; epoch < config_.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    const auto order = epoch_order(train.count, config_.seed, epoch, config_.shuffle);
    double loss_sum = 0;
    for (int b = 0; b < batches; ++b) {
      const auto [begin, end] = batch_range(train.count, config_.batch_size, b);
      const int64_t before = optimizer_.steps();
      const double loss = step(std::span(order).subspan(begin, end - begin));
      loss_sum += loss;
      if (callbacks.on_step || callbacks.on_batch) {
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        const StepEvent event{epoch, b, batches, before, loss, config_.optimizer.lr, seconds};
        if (callbacks.on_step && b % config_.log_every == 0) callbacks.on_step(event);
        if (callbacks.on_batch) callbacks.on_batch(event);
      }
    }
    const double train_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    EpochEvent event{epoch, loss_sum / batches, evaluate(network_, held_out, data_.scaling, pool_),
                     has_valid ? "valid" : "test", train.count / train_seconds, train_seconds};
    if (callbacks.on_epoch) callbacks.on_epoch(event);
  }
}

}  // namespace mnist
