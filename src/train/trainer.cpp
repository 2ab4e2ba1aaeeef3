#include "train/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "kernels/layers.h"
#include "util/error.h"

namespace mnist {

using nlohmann::json;

namespace {

template <class T>
void put(json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}
template <class T>
void get(const json& j, const char* key, std::optional<T>& v) {
  if (j.contains(key)) v = j.at(key).get<T>();
}

}  // namespace

TrainConfig TrainConfig::resolved() const {
  TrainConfig c = *this;
  c.optimizer = optimizer.resolved();
  c.schedule = schedule.resolved(*c.optimizer.lr);
  if (epochs < 1) throw UsageError(fmt::format("--epochs: must be at least 1, got {}", epochs));
  if (batch_size < 1 || batch_size > (1 << 20)) {
    throw UsageError(fmt::format("--batch-size: must be between 1 and 1048576, got {}", batch_size));
  }
  if (log_every < 1) throw UsageError(fmt::format("--log-every: must be at least 1, got {}", log_every));
  if (checkpoint_every < 0) {
    throw UsageError(fmt::format("--checkpoint-every: must be >= 0, got {}", checkpoint_every));
  }
  if (clip_norm && !(std::isfinite(*clip_norm) && *clip_norm > 0)) {
    throw UsageError(fmt::format("--clip-norm: must be a finite number > 0, got {}", *clip_norm));
  }
  return c;
}

std::string TrainConfig::to_json() const {
  const OptimizerConfig& o = optimizer;
  json opt = {{"name", o.name}, {"nesterov", o.nesterov}, {"centered", o.centered},
              {"amsgrad", o.amsgrad}, {"decay_biases", o.decay_biases}};
  put(opt, "lr", o.lr);
  put(opt, "weight_decay", o.weight_decay);
  put(opt, "momentum", o.momentum);
  put(opt, "dampening", o.dampening);
  put(opt, "lr_decay", o.lr_decay);
  put(opt, "initial_accumulator", o.initial_accumulator);
  put(opt, "alpha", o.alpha);
  put(opt, "rho", o.rho);
  put(opt, "beta1", o.beta1);
  put(opt, "beta2", o.beta2);
  put(opt, "eps", o.eps);
  const ScheduleConfig& s = schedule;
  json sched = {{"name", s.name}, {"warmup_steps", s.warmup_steps}, {"milestones", s.milestones}};
  put(sched, "gamma", s.gamma);
  put(sched, "step_size", s.step_size);
  put(sched, "min_lr", s.min_lr);
  put(sched, "end_lr", s.end_lr);
  put(sched, "power", s.power);
  put(sched, "pct_start", s.pct_start);
  put(sched, "div_factor", s.div_factor);
  put(sched, "final_div_factor", s.final_div_factor);
  put(sched, "patience", s.patience);
  put(sched, "threshold", s.threshold);
  json j = {{"model", model},     {"optimizer", opt},   {"schedule", sched},
            {"epochs", epochs},   {"batch_size", batch_size}, {"seed", seed},
            {"shuffle", shuffle}, {"data", data},       {"init", init},
            {"log_every", log_every}, {"checkpoint_every", checkpoint_every}, {"metrics", metrics}};
  put(j, "clip_norm", clip_norm);
  return j.dump();
}

TrainConfig TrainConfig::from_json(const std::string& text) {
  try {
    const json j = json::parse(text);
    TrainConfig c;
    c.model = j.at("model");
    const json& o = j.at("optimizer");
    c.optimizer.name = o.at("name");
    c.optimizer.nesterov = o.at("nesterov");
    c.optimizer.centered = o.at("centered");
    c.optimizer.amsgrad = o.at("amsgrad");
    c.optimizer.decay_biases = o.at("decay_biases");
    get(o, "lr", c.optimizer.lr);
    get(o, "weight_decay", c.optimizer.weight_decay);
    get(o, "momentum", c.optimizer.momentum);
    get(o, "dampening", c.optimizer.dampening);
    get(o, "lr_decay", c.optimizer.lr_decay);
    get(o, "initial_accumulator", c.optimizer.initial_accumulator);
    get(o, "alpha", c.optimizer.alpha);
    get(o, "rho", c.optimizer.rho);
    get(o, "beta1", c.optimizer.beta1);
    get(o, "beta2", c.optimizer.beta2);
    get(o, "eps", c.optimizer.eps);
    const json& s = j.at("schedule");
    c.schedule.name = s.at("name");
    c.schedule.warmup_steps = s.at("warmup_steps");
    c.schedule.milestones = s.at("milestones").get<std::vector<int>>();
    get(s, "gamma", c.schedule.gamma);
    get(s, "step_size", c.schedule.step_size);
    get(s, "min_lr", c.schedule.min_lr);
    get(s, "end_lr", c.schedule.end_lr);
    get(s, "power", c.schedule.power);
    get(s, "pct_start", c.schedule.pct_start);
    get(s, "div_factor", c.schedule.div_factor);
    get(s, "final_div_factor", c.schedule.final_div_factor);
    get(s, "patience", c.schedule.patience);
    get(s, "threshold", c.schedule.threshold);
    c.epochs = j.at("epochs");
    c.batch_size = j.at("batch_size");
    c.seed = j.at("seed");
    c.shuffle = j.at("shuffle");
    c.data = j.at("data");
    c.init = j.at("init");
    c.log_every = j.at("log_every");
    c.checkpoint_every = j.at("checkpoint_every");
    c.metrics = j.at("metrics");
    get(j, "clip_norm", c.clip_norm);
    return c;
  } catch (const json::exception& e) {
    throw Error(std::string("the training configuration is malformed (") + e.what() + ")");
  }
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

Trainer::Trainer(Network<float>& network, Optimizer& optimizer, const DataSplits& data, const TrainConfig& config,
                 ThreadPool& pool)
    : network_(network), optimizer_(optimizer), data_(data), config_(config), pool_(pool) {
  // No batch is larger than the data set, whatever --batch-size says.
  const int batch = std::max(1, std::min(config.batch_size, data.train.count));
  const int chunk = (batch + kGradChunks - 1) / kGradChunks;
  for (int w = 0; w < pool.size(); ++w) workspaces_.emplace_back(network, chunk);
  chunk_grads_.assign(kGradChunks, std::vector<float>(network.num_params()));
  chunk_losses_.assign(kGradChunks, 0.0);
  grad_.assign(network.num_params(), 0.0f);
  inputs_.resize(static_cast<size_t>(batch) * network.input_shape().size());
  labels_.resize(static_cast<size_t>(batch));
  dlogits_.resize(static_cast<size_t>(batch) * network.classes());
}

int Trainer::batches_per_epoch() const { return mnist::batches_per_epoch(data_.train.count, config_.batch_size); }

double Trainer::step(std::span<const uint32_t> indices, double lr) {
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
    chunk_losses_[c] = softmax_cross_entropy<float>(logits, labels_.data() + begin, end - begin, classes,
                                                    1.0f / static_cast<float>(n), dlogits);
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
  if (config_.clip_norm) {
    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
    double squares = 0;
    for (float g : grad_) squares += static_cast<double>(g) * g;
    const double coef = *config_.clip_norm / (std::sqrt(squares) + 1e-6);
    if (coef < 1) {
      const auto scale = static_cast<float>(coef);
      for (float& g : grad_) g *= scale;
    }
  }
  optimizer_.step(network_.params(), grad_, lr);
  test_result_.reset();
  return loss / n;
}

EvalResult Trainer::test_result() {
  if (!test_result_) test_result_ = evaluate(network_, data_.test, data_.scaling, pool_);
  return *test_result_;
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
  while (state_.epoch < config_.epochs) {
    const auto epoch_start = Clock::now();
    const int first_batch = state_.batch;
    const auto order = epoch_order(train.count, config_.seed, state_.epoch, config_.shuffle);
    while (state_.batch < batches) {
      const auto [begin, end] = batch_range(train.count, config_.batch_size, state_.batch);
      const double lr = schedule.lr(state_.step);
      const double loss = step(std::span(order).subspan(begin, end - begin), lr);
      if (!std::isfinite(loss) || loss > 10 * std::log(static_cast<double>(network_.classes()))) {
        state_.seconds = elapsed();
        throw Diverged(fmt::format("training diverged at step {} (epoch {}, batch {}): the loss is {}", state_.step,
                                   state_.epoch, state_.batch, loss),
                       state_.step, loss);
      }
      const StepEvent event{state_.epoch, state_.batch, batches, state_.step, loss, lr, elapsed()};
      state_.epoch_loss_sum += loss;
      ++state_.batch;
      ++state_.step;
      if (callbacks.on_step && event.batch % config_.log_every == 0) callbacks.on_step(event);
      if (callbacks.on_batch) callbacks.on_batch(event);
      if (callbacks.should_stop && callbacks.should_stop()) {
        state_.seconds = elapsed();
        return false;
      }
    }
    const double train_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    EpochEvent event{state_.epoch,
                     state_.epoch_loss_sum / batches,
                     evaluate(network_, held_out, data_.scaling, pool_),
                     has_valid ? "valid" : "test",
                     schedule.lr(state_.step - 1),
                     (train.count - static_cast<double>(first_batch) * config_.batch_size) / train_seconds,
                     train_seconds};
    if (!has_valid) test_result_ = event.eval;
    schedule.epoch_end(event.eval.loss);
    ++state_.epoch;
    state_.batch = 0;
    state_.epoch_loss_sum = 0;
    state_.seconds = elapsed();
    if (callbacks.on_epoch) callbacks.on_epoch(event);
  }
  return true;
}

}  // namespace mnist
