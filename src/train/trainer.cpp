#include "train/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>

#include "kernels/layers.h"
#include "data/augment.h"
#include "optim/passes.h"
#include "util/rng.h"
#include "util/error.h"

namespace mnist {

Trainer::Trainer(Network<float>& network, Optimizer& optimizer, const DataSplits& data, const TrainConfig& config,
                 ThreadPool& pool, TrainOptions options)
    : network_(network), optimizer_(optimizer), data_(data), config_(config), pool_(pool), options_(options) {
  // No batch is larger than the data set, whatever --batch-size says.
  const int batch = std::max(1, std::min(config.batch_size, data.train.count));
  capacity_ = batch;
  const int chunk = (batch + kGradChunks - 1) / kGradChunks;
  for (int w = 0; w < pool.size(); ++w) workspaces_.emplace_back(network, chunk);
  augment_scratch_.resize(static_cast<size_t>(pool.size()));
  if (config.ema > 0) {
    average_ = WeightAverage{{network.params().begin(), network.params().end()},
                             {network.buffers().begin(), network.buffers().end()}};
  }
  // Each chunk's gradient, then the batch statistics of its BatchNorm
  // layers: the exchange between processes carries both.
  chunk_grads_.assign(kGradChunks, std::vector<float>(network.num_params() + network.batch_stats_size()));
  chunk_losses_.assign(kGradChunks, 0.0);
  grad_.assign(network.num_params(), 0.0f);
  inputs_.resize(static_cast<size_t>(batch) * network.input_shape().size());
  labels_.resize(static_cast<size_t>(batch));
  dlogits_.resize(static_cast<size_t>(batch) * network.classes());
}

// Chunk c of a batch of n: samples [n c / kGradChunks, n (c + 1) / kGradChunks).
static std::pair<int, int> chunk_range(int n, int c) { return {n * c / kGradChunks, n * (c + 1) / kGradChunks}; }

int Trainer::batches_per_epoch() const { return mnist::batches_per_epoch(data_.train.count, config_.batch_size); }

double Trainer::step(std::span<const uint32_t> indices, double lr) {
  const int n = static_cast<int>(indices.size());
  MNIST_ASSERT(n >= 1 && n <= capacity_);
  batch_ = indices;
  batch_gathered_ = false;
  // Dropout and augmentation draw from this step's own stream.
  step_seed_ = mix_seed(mix_seed(config_.seed, /*stream=*/3), static_cast<uint64_t>(optimizer_.steps()));
  const double loss = gradient(n);
  // Optimizers that search along a direction evaluate the batch again.
  const Closure closure{loss, [this, n] { return gradient(n); }};
  optimizer_.step(network_.params(), grad_, lr, &closure);
  if (average_) {
    // Warmed up as TensorFlow's ExponentialMovingAverage with num_updates:
    // early on the average follows the weights, instead of holding on to
    // the random start (0.999^300 of it after 300 steps).
    const double t = static_cast<double>(optimizer_.steps() - 1);  // steps before this one
    const float d = static_cast<float>(std::min(config_.ema, (1 + t) / (10 + t))), rest = 1 - d;
    auto blend = [d, rest](std::vector<float>& avg, std::span<const float> now) {
      for (size_t i = 0; i < avg.size(); ++i) avg[i] = d * avg[i] + rest * now[i];
    };
    blend(average_->params, network_.params());
    blend(average_->buffers, network_.buffers());
  }
  test_result_.reset();
  return loss;
}

double Trainer::gradient(int n) {
  const size_t image = network_.input_shape().size();
  const int classes = network_.classes();
  GradientExchange* exchange = options_.exchange;
  pool_.run(kGradChunks, [&](int c, int w) {
    if (exchange && !exchange->owns(c, kGradChunks)) return;  // another process computes it
    const auto [begin, end] = chunk_range(n, c);
    std::vector<float>& g = chunk_grads_[c];
    std::fill(g.begin(), g.end(), 0.0f);
    chunk_losses_[c] = 0;
    if (begin == end) return;
    float* x = inputs_.data() + begin * image;
    // An optimizer's further evaluations of the batch (L-BFGS) find its images in place.
    if (!batch_gathered_) gather_chunk(begin, end, w);
    Workspace<float>& ws = workspaces_[w];
    ws.set_noise(step_seed_, begin);
    const float* logits = ws.forward(network_, x, end - begin);
    float* dlogits = dlogits_.data() + static_cast<size_t>(begin) * classes;
    // The loss is the mean over the whole batch, so each chunk scales by 1/n.
    chunk_losses_[c] = softmax_cross_entropy<float>(logits, labels_.data() + begin, end - begin, classes,
                                                    1.0f / static_cast<float>(n), dlogits,
                                                    static_cast<float>(config_.label_smoothing));
    ws.backward(network_, dlogits, end - begin, g.data());
    std::copy(ws.batch_stats().begin(), ws.batch_stats().end(), g.begin() + static_cast<std::ptrdiff_t>(grad_.size()));
  });
  batch_gathered_ = true;
  if (exchange) exchange->exchange(chunk_grads_, chunk_losses_);
  // Sum the chunks in a fixed order.
  std::copy_n(chunk_grads_[0].begin(), grad_.size(), grad_.begin());
  double loss = chunk_losses_[0];
  for (int c = 1; c < kGradChunks; ++c) {
    const float* g = chunk_grads_[c].data();
    for (size_t i = 0; i < grad_.size(); ++i) grad_[i] += g[i];
    loss += chunk_losses_[c];
  }
  // Each chunk's BatchNorm statistics update the running ones in chunk
  // order, as PyTorch's would after forward passes over the chunks one by
  // one ("ghost" batch normalisation; docs/design.md). A chunk of one
  // sample has no variance to give and is left out.
  if (network_.batch_stats_size() > 0) {
    for (int c = 0; c < kGradChunks; ++c) {
      const auto [begin, end] = chunk_range(n, c);
      if (end - begin >= 2) network_.update_running_stats(chunk_grads_[c].data() + grad_.size());
    }
  }
  if (config_.clip_norm) clip_grad_norm(grad_, *config_.clip_norm);
  return loss / n;
}

void Trainer::gather_chunk(int begin, int end, int worker) {
  const size_t image = network_.input_shape().size();
  float* x = inputs_.data() + begin * image;
  const auto samples = batch_.subspan(begin, end - begin);
  if (!config_.augment.any()) {
    data_.train.gather(samples, data_.scaling, x, labels_.data() + begin);
    return;
  }
  // Gathered into the worker's scratch, distorted into place.
  std::vector<float>& original = augment_scratch_[worker];
  original.resize(samples.size() * image);
  data_.train.gather(samples, data_.scaling, original.data(), labels_.data() + begin);
  const Shape shape = network_.input_shape();
  const size_t plane = static_cast<size_t>(shape.height) * shape.width;
  for (size_t i = 0; i < samples.size(); ++i) {
    const uint64_t seed = mix_seed(step_seed_, static_cast<uint64_t>(begin) + i);  // the sample's batch position
    for (size_t at = i * image; at < (i + 1) * image; at += plane) {  // each channel alike
      augment_image(original.data() + at, x + at, shape.height, shape.width, data_.scaling.apply(0), config_.augment,
                    seed);
    }
  }
}

EvalResult Trainer::test_result() {
  if (!test_result_) test_result_ = evaluate_weights(data_.test);
  return *test_result_;
}

EvalResult Trainer::evaluate_weights(const ImageSet& images) {
  if (average_) {
    // The average swapped in for the weights, and swapped back.
    auto swap = [this] {
      std::swap_ranges(average_->params.begin(), average_->params.end(), network_.params().begin());
      std::swap_ranges(average_->buffers.begin(), average_->buffers.end(), network_.buffers().begin());
    };
    return evaluate_in_place_of_weights(images, swap, swap);
  }
  if (!optimizer_.has_eval_point()) return evaluate(network_, images, data_.scaling, pool_);
  // The optimizer's average in place of the training point, which is then
  // copied back.
  const std::span<float> params = network_.params();
  return evaluate_in_place_of_weights(
      images,
      [&] {
        training_point_.assign(params.begin(), params.end());
        optimizer_.eval_point(training_point_, params);
      },
      [&] { std::copy(training_point_.begin(), training_point_.end(), params.begin()); });
}

EvalResult Trainer::evaluate_in_place_of_weights(const ImageSet& images, const std::function<void()>& put,
                                                 const std::function<void()>& restore) {
  put();
  std::optional<EvalResult> result;
  std::exception_ptr error;
  try {
    result = evaluate(network_, images, data_.scaling, pool_);
  } catch (...) {
    error = std::current_exception();
  }
  restore();  // the training weights back, to the bit, whatever happened
  if (error) std::rethrow_exception(error);
  return *result;
}

bool Trainer::run(Schedule& schedule, const TrainCallbacks& callbacks) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const double before = state_.seconds;  // training time of earlier sessions
  auto elapsed = [&] { return before + std::chrono::duration<double>(Clock::now() - start).count(); };
  const ImageSet& train = data_.train;
  const bool has_valid = !data_.valid.empty();
  const ImageSet& held_out = has_valid ? data_.valid : data_.test;
  const int batches = batches_per_epoch();
  const int64_t total = total_steps();
  const double diverged_above = kDivergedLossFactor * std::log(static_cast<double>(network_.classes()));
  while (steps() < total) {
    const auto epoch_start = Clock::now();
    const int first_batch = state_.batch;
    const auto order = epoch_order(train.count, config_.seed, state_.epoch, config_.shuffle);
    while (state_.batch < batches && steps() < total) {
      const auto [begin, end] = batch_range(train.count, config_.batch_size, state_.batch);
      const int64_t step_index = steps();
      const double lr = schedule.lr(step_index);
      const double loss = step(std::span(order).subspan(begin, end - begin), lr);
      state_.high_loss_steps = loss > diverged_above ? state_.high_loss_steps + 1 : 0;
      // A run shorter than kDivergedSteps ends diverged if its loss has stayed
      // above the line since its first step.
      const bool ends_above = step_index + 1 >= total && state_.high_loss_steps > 0 &&
                              state_.high_loss_steps >= std::min<int64_t>(kDivergedSteps, total - 1);
      if (options_.stop_on_divergence &&
          (!std::isfinite(loss) || state_.high_loss_steps >= kDivergedSteps || ends_above)) {
        state_.seconds = elapsed();
        const std::string where = fmt::format("training diverged at step {} (epoch {}, batch {})", step_index,
                                              state_.epoch, state_.batch);
        throw Diverged(std::isfinite(loss) ? fmt::format("{}: the loss has stayed above {:.3g} for {} steps, now {:.4g}",
                                                         where, diverged_above, state_.high_loss_steps, loss)
                                           : fmt::format("{}: the loss is {}", where, loss),
                       step_index, loss);
      }
      const StepEvent event{state_.epoch, state_.batch, batches, step_index, loss, lr, elapsed()};
      state_.epoch_loss_sum += loss;
      ++state_.batch;
      if (callbacks.on_step && event.batch % config_.log_every == 0) callbacks.on_step(event);
      if (callbacks.on_batch) callbacks.on_batch(event);
      if (steps() >= total) {
        if (state_.batch < batches) break;  // a run of steps ends inside an epoch
        continue;  // the last step: on to the epoch's end, whatever should_stop says
      }
      if (callbacks.should_stop && callbacks.should_stop()) {
        state_.seconds = elapsed();
        return false;
      }
    }
    if (state_.batch < batches) break;
    const double train_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    EpochEvent event{state_.epoch,
                     state_.epoch_loss_sum / batches,
                     options_.evaluate_epochs ? evaluate_weights(held_out) : EvalResult{},
                     has_valid ? "valid" : "test",
                     schedule.lr(steps() - 1),
                     (train.count - static_cast<double>(first_batch) * config_.batch_size) / train_seconds,
                     train_seconds};
    if (!has_valid && options_.evaluate_epochs) test_result_ = event.eval;
    if (options_.evaluate_epochs) schedule.epoch_end(event.eval.loss);
    ++state_.epoch;
    state_.batch = 0;
    state_.epoch_loss_sum = 0;
    state_.seconds = elapsed();
    if (callbacks.on_epoch) callbacks.on_epoch(event);
  }
  state_.seconds = elapsed();
  return true;
}

}  // namespace mnist
