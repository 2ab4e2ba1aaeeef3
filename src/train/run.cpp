#include "train/run.h"

#include <fmt/format.h>

#include <cmath>

#include "io/file.h"
#include "nn/models.h"
#include "train/resume.h"
#include "util/error.h"

namespace mnist {

RunPlan plan_new_run(const TrainConfig& config, const std::string& save, int threads, int64_t stop_at) {
  RunPlan plan;
  plan.config = config.resolved();
  plan.save = save;
  plan.threads = threads;
  plan.stop_at = stop_at;
  if (save == "-") throw UsageError("--save: a checkpoint cannot go to standard output; give a file name");
  if (!save.empty()) check_output(save, OutputUse::File);
  if (!plan.config.metrics.empty()) check_output(plan.config.metrics, OutputUse::Stream);
  if (stop_at < 0) throw UsageError(fmt::format("--stop-at: must be >= 0, got {}", stop_at));
  resolve_threads(threads);  // UsageError for a count out of range
  return plan;
}

RunPlan plan_resume(const std::string& checkpoint, const ResumeChanges& changes) {
  return plan_resume(std::make_shared<SavedModel>(load_model(checkpoint)), changes);
}

RunPlan plan_resume(std::shared_ptr<SavedModel> saved, const ResumeChanges& changes) {
  const std::string checkpoint = saved->path;
  ResumePoint point = read_resume_point(*saved);
  TrainConfig& config = point.config;
  if (changes.data) config.data = *changes.data;
  if (changes.log_every) config.log_every = *changes.log_every;
  if (changes.checkpoint_every) config.checkpoint_every = *changes.checkpoint_every;
  if (changes.metrics) config.metrics = *changes.metrics;
  RunPlan plan = plan_new_run(config, changes.save.value_or(checkpoint), changes.threads, changes.stop_at);
  plan.position = point.state;
  plan.position_step = point.step;
  plan.plateau = point.plateau;
  plan.resumed_from = checkpoint;
  const auto accuracy = saved->metadata.find("test.accuracy");  // saved with the final weights only
  if (accuracy != saved->metadata.end()) {
    try {
      plan.finished_accuracy = std::stod(accuracy->second);
    } catch (const std::exception&) {
      throw Error(fmt::format("{}: metadata 'test.accuracy' is not a number: '{}'", checkpoint, accuracy->second));
    }
  }
  plan.checkpoint = std::move(saved);
  return plan;
}

std::string data_fingerprint(const ImageSet& test) {
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a, 64 bits
  auto mix = [&](uint64_t byte) {
    hash ^= byte;
    hash *= 1099511628211ULL;
  };
  for (int v : {test.count, test.rows, test.cols}) {
    for (int k = 0; k < 4; ++k) mix((static_cast<uint32_t>(v) >> (8 * k)) & 0xff);
  }
  for (uint8_t label : test.labels) mix(label);
  return fmt::format("{:016x}", hash);
}

std::shared_ptr<const DataSplits> borrow(const DataSplits& data) {
  return std::shared_ptr<const DataSplits>(std::shared_ptr<const DataSplits>(), &data);
}

DataSplits load_data_for(const std::string& path, const InputScaling& model_scaling, Splits which) {
  DataSplits data = load_data(path, which);
  if (!data.test.values.empty() && !(data.scaling == model_scaling)) {
    // Back to the pixel in the data's scaling, then into the model's.
    for (ImageSet* set : {&data.train, &data.valid, &data.test}) {
      for (float& v : set->values) v = model_scaling.apply(data.scaling.pixel_of(v));
    }
  }
  data.scaling = model_scaling;
  return data;
}

DataSplits load_run_data(const std::string& path, int train_samples, const InputScaling* scaling) {
  if (train_samples < 0) {
    throw UsageError(fmt::format("--train-samples: must be 0 (all) or a count, got {}", train_samples));
  }
  DataSplits data = scaling ? load_data_for(path, *scaling) : load_data(path);
  if (train_samples > data.train.count) {
    throw UsageError(fmt::format("--train-samples: the data has {} training samples, asked for {}", data.train.count,
                                 train_samples));
  }
  if (train_samples > 0) data.train = data.train.head(train_samples);
  return data;
}

ModelData data_for_model(const SavedModel& saved, const std::string& path, bool any_data,
                         const std::string& fallback) {
  std::string chosen = path, recorded;
  const auto config = saved.metadata.find("config");
  if (config != saved.metadata.end()) {
    try {
      recorded = TrainConfig::from_json(config->second).data;
    } catch (const Error&) {
      // Not ours to judge here: resume reports a damaged configuration.
    }
  }
  if (chosen.empty()) chosen = recorded.empty() ? fallback : recorded;
  if (path.empty() && !recorded.empty() && !file_exists(recorded) && !is_directory(recorded)) {
    throw UsageError(fmt::format("--data: {} records its data set as {}, which is not here; give --data", saved.path,
                                 recorded));
  }
  DataSplits data = load_data_for(chosen, saved.scaling, Splits::TestOnly);
  const auto trained_on = saved.metadata.find("data.fingerprint");
  if (!any_data && trained_on != saved.metadata.end() && trained_on->second != data_fingerprint(data.test)) {
    throw UsageError(fmt::format("--data {}: not the data set {} was trained on ({}: another test set); its "
                                 "accuracy there would mean nothing. Give --any-data to evaluate it anyway",
                                 chosen, saved.path, recorded.empty() ? "recorded by its fingerprint" : recorded));
  }
  return {std::move(data), chosen};
}

void require_input_shape(const Network<float>& network, const ImageSet& images, const std::string& model,
                         const std::string& data) {
  const Shape got = network.input_shape(), want{1, images.rows, images.cols};
  if (!(got == want)) {
    throw Error(fmt::format("{}: the model takes {}x{} images, {} has {}x{}", model, got.height, got.width, data,
                            want.height, want.width));
  }
}

Network<float> new_network(const std::string& model, uint64_t seed, const DataSplits& data,
                           const std::string& data_path) {
  try {
    Network<float> network = make_network<float>(model, {1, data.train.rows, data.train.cols}, kNumClasses);
    network.init(seed);
    return network;
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}x{} images do not fit the {} model ({})", data_path, data.train.rows,
                            data.train.cols, model, e.what()));
  }
}

namespace {

// The weights a run starts from, and the data fed to them.
struct Start {
  std::shared_ptr<const DataSplits> data;
  Network<float> network;
};

// The caller's data as it is, or the plan's, loaded.
std::shared_ptr<const DataSplits> data_for(const RunPlan& plan, std::shared_ptr<const DataSplits> given,
                                           const InputScaling* scaling) {
  if (given) return given;
  return std::make_shared<const DataSplits>(load_run_data(plan.config.data, plan.config.train_samples, scaling));
}

Start starting_point(const RunPlan& plan, std::shared_ptr<const DataSplits> given,
                     std::optional<Network<float>> weights) {
  const TrainConfig& config = plan.config;
  if (plan.checkpoint) {
    auto data = data_for(plan, std::move(given), &plan.checkpoint->scaling);
    require_input_shape(plan.checkpoint->network, data->train, plan.resumed_from, config.data);
    return {std::move(data), plan.checkpoint->network};
  }
  if (weights) {
    auto data = data_for(plan, std::move(given), nullptr);
    require_input_shape(*weights, data->train, config.model, config.data);
    return {std::move(data), std::move(*weights)};
  }
  if (!config.init.empty()) {
    SavedModel init = load_model(config.init);
    if (init.network.model() != config.model) {
      throw Error(
          fmt::format("{}: holds a {} model, but --model is {}", config.init, init.network.model(), config.model));
    }
    auto data = data_for(plan, std::move(given), &init.scaling);
    require_input_shape(init.network, data->train, config.init, config.data);
    return {std::move(data), std::move(init.network)};
  }
  auto data = data_for(plan, std::move(given), nullptr);
  Network<float> network = new_network(config.model, config.seed, *data, config.data);
  return {std::move(data), std::move(network)};
}

}  // namespace

TrainingRun::TrainingRun(RunPlan plan, std::shared_ptr<const DataSplits> data, std::optional<Network<float>> weights)
    : plan_(std::move(plan)) {
  if (plan_.finished_accuracy) {
    throw UsageError(fmt::format("--resume {}: this run has finished; nothing to resume", plan_.resumed_from));
  }
  const TrainConfig& config = plan_.config;
  Start start = starting_point(plan_, std::move(data), std::move(weights));
  data_ = std::move(start.data);
  network_ = std::make_unique<Network<float>>(std::move(start.network));
  if (config.dropout) network_->set_dropout(*config.dropout);
  optimizer_ = make_optimizer(config.optimizer, network_->tensors());
  if (plan_.checkpoint) restore_optimizer(*plan_.checkpoint, *optimizer_, network_->params());
  const int batches = batches_per_epoch(data_->train.count, config.batch_size);
  const int64_t total = config.total_steps(batches);
  const TrainState& at = plan_.position;
  if (plan_.checkpoint && (at.epoch > config.epochs_touched(batches) || at.batch > batches ||
                           plan_.position_step > total || optimizer_->steps() != plan_.position_step)) {
    throw Error(fmt::format(
        "{}: the saved position (epoch {}, batch {}, step {}) does not fit the run ({} epochs of {} batches)",
        plan_.resumed_from, at.epoch, at.batch, plan_.position_step, config.epochs, batches));
  }
  // A stop point at or before the current step would still train one step.
  if (plan_.stop_at > 0 && plan_.stop_at <= optimizer_->steps()) {
    throw UsageError(
        fmt::format("--stop-at: the run is already at step {}; give a later stop point", optimizer_->steps()));
  }
  schedule_ = make_schedule(config.schedule, *config.optimizer.lr, batches, total);
  if (plan_.checkpoint) schedule_->set_plateau(plan_.plateau);
  pool_ = std::make_unique<ThreadPool>(resolve_threads(plan_.threads));
  if (config.ema > 0 && optimizer_->has_eval_point()) {
    throw UsageError(fmt::format("--ema: {} averages its iterates already; use --ema with another optimizer",
                                 config.optimizer.name));
  }
  trainer_ = std::make_unique<Trainer>(*network_, *optimizer_, *data_, config, *pool_, plan_.options);
  trainer_->state() = at;
  // The checkpoint's model is the average (the trainer starts its average
  // from it); the weights trained go on from its live ones.
  if (plan_.checkpoint && config.ema > 0) restore_live_weights(*plan_.checkpoint, *network_);
  if (!config.metrics.empty()) metrics_ = std::make_unique<MetricsLog>(config.metrics, at.epoch, optimizer_->steps());
}

TrainingRun::~TrainingRun() = default;

void TrainingRun::stop() {
  stop_requested_ = true;
  if (plan_.options.exchange) plan_.options.exchange->request_stop();
}

void TrainingRun::require_finite_weights() const {
  for (float v : network_->params()) {
    if (!std::isfinite(v)) {
      throw Diverged(fmt::format("training diverged by step {}: the weights are not finite", steps()), steps(), NAN);
    }
  }
}

void TrainingRun::save(const std::string& path) {
  require_finite_weights();
  auto metadata = training_metadata(plan_.config, trainer_->state(), steps(), *schedule_);
  metadata["data.fingerprint"] = data_fingerprint(data_->test);
  if (final_test_) {
    metadata["test.accuracy"] = fmt::format("{:.17g}", final_test_->accuracy());
    metadata["test.loss"] = fmt::format("{:.17g}", final_test_->loss);
  }
  std::optional<ReportedWeights> reported;  // --ema's average, saved as the model
  if (const auto& average = trainer_->average()) reported = ReportedWeights{average->params, average->buffers};
  save_checkpoint(path, *network_, data_->scaling, metadata, optimizer_.get(), reported ? &*reported : nullptr);
}

RunResult TrainingRun::run(const RunEvents& events) {
  const TrainConfig& config = plan_.config;
  auto checkpoint = [&] {
    if (plan_.save.empty()) return;
    if (plan_.keep_existing && !kept_ && !(plan_.checkpoint && same_file(plan_.save, plan_.resumed_from))) {
      require_finite_weights();  // a diverged run keeps nothing and replaces nothing
      const std::string kept = keep_earlier_version(plan_.save);
      if (!kept.empty() && events.on_kept) events.on_kept(plan_.save, kept);
    }
    kept_ = true;
    save(plan_.save);
    if (events.on_checkpoint) events.on_checkpoint(plan_.save);
  };
  TrainCallbacks callbacks;
  callbacks.on_step = [&](const StepEvent& e) {
    if (events.on_step) events.on_step(e);
    if (metrics_) metrics_->step(e);
  };
  callbacks.on_batch = [&](const StepEvent& e) {
    if (events.on_batch) events.on_batch(e);
    if (config.checkpoint_every > 0 && (e.step + 1) % config.checkpoint_every == 0) checkpoint();
  };
  callbacks.on_epoch = [&](const EpochEvent& e) {
    if (events.on_epoch) events.on_epoch(e);
    if (metrics_) metrics_->epoch(e);
    if (config.checkpoint_every > 0) checkpoint();
  };
  GradientExchange* exchange = plan_.options.exchange;
  callbacks.should_stop = [&] {
    const bool asked = exchange ? exchange->stop_agreed() : stop_requested_.load();
    return asked || (plan_.stop_at > 0 && steps() >= plan_.stop_at);
  };

  RunResult result;
  bool finished = false;
  try {
    finished = trainer_->run(*schedule_, callbacks);
    require_finite_weights();  // the last update may overflow: then nothing is reported finished or saved
  } catch (const Diverged& e) {
    if (metrics_) {
      metrics_->diverged(e.step, e.loss, trainer_->state().seconds);
      metrics_->close();
    }
    result.status = RunStatus::Diverged;
    result.steps = steps();
    result.position = trainer_->state();
    result.message = e.what();
    result.loss = e.loss;
    result.checkpoint_kept = !plan_.save.empty() && file_exists(plan_.save);
    if (events.on_diverged) events.on_diverged(result);
    return result;
  }
  result.steps = steps();
  result.position = trainer_->state();
  if (!finished) {
    checkpoint();
    if (metrics_) metrics_->close();
    result.status = RunStatus::Stopped;
    if (events.on_interrupted) events.on_interrupted(result);
    return result;
  }
  result.test = trainer_->test_result();
  final_test_ = result.test;
  if (metrics_) {
    const TrainState& s = trainer_->state();
    metrics_->final(*result.test, steps(), s.seconds,
                    s.batch > 0 ? std::optional(s.epoch_loss_sum / s.batch) : std::nullopt);
    metrics_->close();
  }
  checkpoint();
  if (events.on_finished) events.on_finished(result);
  return result;
}

}  // namespace mnist
