#include "web/lab.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "experiments/compare.h"
#include "experiments/trajectories.h"
#include "io/file.h"
#include "io/image.h"
#include "nn/models.h"
#include "train/predict.h"
#include "train/run.h"
#include "util/base64.h"

namespace mnist {

namespace fs = std::filesystem;
using nlohmann::json;

// A checkpoint the lab can predict with, reloaded when its file changes.
struct Lab::Model {
  std::string id, path, source;  // source: "file" or "run"
  int64_t mtime = -1;
  std::shared_ptr<const SavedModel> saved;
  std::optional<EvalResult> test;  // its mistakes, once asked for
};

// A run started from the page.
struct Lab::Run {
  std::string id, folder;
  json request;
  TrainConfig config;
  int train_samples = 0;
  int64_t total_steps = 0;
  std::string state = "running", error;
  int64_t step = 0;
  int epoch = 0;
  std::optional<double> loss, accuracy;
  std::vector<std::string> events;
  std::atomic<bool> stop{false};
  std::thread thread;
};

namespace {

int64_t modified(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec
                                        : -1;
}

// The JSON of a hyperparameter list, for /api/info.
json hypers_json(const std::vector<Hyper>& hypers) {
  static const char* const kinds[] = {"real", "integer", "switch", "tuple", "list", "choice"};
  json out = json::array();
  for (const Hyper& h : hypers) {
    json j = {{"key", h.key}, {"flag", flag_of(h.key)}, {"kind", kinds[static_cast<int>(h.kind)]},
              {"default", h.fallback}, {"help", h.help}};
    if (h.kind == Hyper::Kind::Choice) j["choices"] = h.choices;
    out.push_back(std::move(j));
  }
  return out;
}

// A field of a run request, when given: a string, a number, or a whole
// number within [lo, hi] (never rounded or wrapped).
std::optional<std::string> text_field(const json& request, const char* key) {
  if (!request.contains(key) || request.at(key).is_null()) return std::nullopt;
  if (!request.at(key).is_string()) throw LabError(400, fmt::format("{}: must be a string", key));
  return request.at(key).get<std::string>();
}
std::optional<double> number_field(const json& request, const char* key) {
  if (!request.contains(key) || request.at(key).is_null()) return std::nullopt;
  if (!request.at(key).is_number()) throw LabError(400, fmt::format("{}: must be a number", key));
  return request.at(key).get<double>();
}
std::optional<int64_t> whole_field(const json& request, const char* key, int64_t lo, int64_t hi) {
  if (!request.contains(key) || request.at(key).is_null()) return std::nullopt;
  const json& v = request.at(key);
  if (!v.is_number_integer()) throw LabError(400, fmt::format("{}: must be a whole number", key));
  const bool huge = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
  if (huge || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    throw LabError(400, fmt::format("{}: must be {} to {}, got {}", key, lo, hi, v.dump()));
  }
  return v.get<int64_t>();
}

// A name from a request, fit to quote in a message.
std::string printable(const std::string& name) {
  std::string out;
  for (char c : name.substr(0, 100)) out += static_cast<unsigned char>(c) < 32 ? '?' : c;
  return out;
}

// The registries' messages name flags (--beta1); the API's fields (beta1).
std::string as_fields(std::string message) {
  if (message.rfind("--", 0) == 0) {
    message.erase(0, 2);
    for (char& c : message) {
      if (c == ':' || c == ' ') break;
      if (c == '-') c = '_';
    }
  }
  return message;
}

// Whether path resolves (links followed) to somewhere inside root.
bool inside(const fs::path& root, const fs::path& path) {
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec), base = fs::canonical(root, ec);
  if (ec || real.empty()) return false;
  return std::mismatch(base.begin(), base.end(), real.begin(), real.end()).first == base.end();
}

// A checkpoint id is a file name in the runs folder, the --model file, or a
// run's id: never a path.
bool plain_name(const std::string& name) {
  return !name.empty() && name.size() < 256 && name.find('/') == std::string::npos && name != "." && name != ".." &&
         name.find('\0') == std::string::npos;
}

std::string event_text(const std::string& type, const json& body) {
  return fmt::format("event: {}\ndata: {}\n\n", type, body.dump());
}

}  // namespace

Lab::Lab(LabOptions options) : options_(std::move(options)) {
  std::error_code ec;
  fs::create_directories(options_.runs, ec);
  if (ec || !is_directory(options_.runs)) {
    throw Error(fmt::format("--runs {}: cannot create the folder: {}", options_.runs, ec.message()));
  }
  if (!options_.model.empty()) {
    auto model = std::make_shared<Model>();
    model->id = fs::path(options_.model).filename().string();
    model->path = options_.model;
    model->source = "file";
    model->saved = std::make_shared<SavedModel>(load_model(options_.model));  // Error now, not at the first request
    model->mtime = modified(options_.model);
    models_[model->id] = model;
  }
}

Lab::~Lab() {
  std::vector<std::shared_ptr<Run>> runs;
  {
    std::lock_guard lock(mutex_);
    runs = runs_;
  }
  for (auto& run : runs) run->stop = true;
  for (auto& run : runs) {
    if (run->thread.joinable()) run->thread.join();
  }
}

json Lab::info() const {
  json optimizers = json::array(), schedules = json::array(), functions = json::array();
  for (const OptimizerRow& row : optimizer_registry()) {
    optimizers.push_back({{"name", row.name},
                          {"lr", row.lr},
                          {"summary", row.summary},
                          {"learning_rate_free", row.multiplier != nullptr},
                          {"hypers", hypers_json(row.hypers)}});
  }
  for (const ScheduleRow& row : schedule_registry()) {
    schedules.push_back({{"name", row.name}, {"summary", row.summary}, {"hypers", hypers_json(row.hypers)}});
  }
  for (const TestFunction& f : test_functions()) {
    functions.push_back({{"name", f.name}, {"summary", f.summary}, {"start", f.start}, {"minimum", f.minimum}});
  }
  return {{"version", "2.0.0"},
          {"limits", {{"max_runs", options_.max_runs}, {"max_upload_bytes", options_.max_upload}}},
          {"optimizers", optimizers},
          {"schedules", schedules},
          {"models", model_names()},
          {"functions", functions},
          {"default_train_samples", options_.default_train_samples}};
}

std::shared_ptr<const DataSplits> Lab::data() {
  std::lock_guard lock(mutex_);
  if (!data_) data_ = std::make_shared<const DataSplits>(load_data(options_.data));
  return data_;
}

// --- models -----------------------------------------------------------

json Lab::models() {
  std::lock_guard lock(mutex_);
  // Checkpoints in the runs folder, and those the runs have written so far.
  std::vector<std::tuple<std::string, std::string, std::string>> found;  // id, path, source
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.runs, ec)) {
    if (entry.path().extension() == ".safetensors" && entry.is_regular_file()) {
      found.emplace_back(entry.path().filename().string(), entry.path().string(), "file");
    }
  }
  for (const auto& run : runs_) {
    const std::string path = (fs::path(run->folder) / "model.safetensors").string();
    if (file_exists(path)) found.emplace_back(run->id, path, "run");
  }
  for (const auto& [id, path, source] : found) {
    auto& model = models_[id];
    if (!model) {
      model = std::make_shared<Model>();
      model->id = id, model->path = path, model->source = source;
    }
  }
  json out = json::array();
  for (auto& [id, model] : models_) {
    const int64_t mtime = modified(model->path);
    if (mtime < 0) continue;  // deleted since
    if (mtime != model->mtime) {
      try {
        model->saved = std::make_shared<SavedModel>(load_model(model->path));
        model->mtime = mtime;
        model->test.reset();
      } catch (const Error&) {
        continue;  // a file that is not a checkpoint: not offered
      }
    }
    const auto& meta = model->saved->metadata;
    json entry = {{"id", id}, {"model", model->saved->network.model()}, {"source", model->source},
                  {"accuracy", nullptr}, {"optimizer", nullptr}, {"lr", nullptr}};
    if (meta.count("test.accuracy")) entry["accuracy"] = std::stod(meta.at("test.accuracy"));
    if (meta.count("config")) {
      const json config = json::parse(meta.at("config"), nullptr, false);
      if (config.is_object() && config.contains("optimizer")) {
        entry["optimizer"] = config["optimizer"].value("name", "");
        if (config["optimizer"].contains("lr")) entry["lr"] = config["optimizer"]["lr"];
      }
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::shared_ptr<Lab::Model> Lab::find_model(const std::string& id) {
  const json list = models();  // refreshes
  std::lock_guard lock(mutex_);
  if (id.empty()) {
    // The --model file first, else the newest listed.
    if (!options_.model.empty()) {
      const auto it = models_.find(fs::path(options_.model).filename().string());
      if (it != models_.end() && it->second->saved) return it->second;
    }
    if (list.empty()) throw LabError(404, "no model yet: start the server with --model, or train one");
    return models_.at(list.back()["id"].get<std::string>());
  }
  const auto it = models_.find(id);
  if (it == models_.end() || !it->second->saved) {
    throw LabError(404, fmt::format("model '{}': not found", printable(id)));
  }
  return it->second;
}

json Lab::predict(const std::string& model_id, std::string_view bytes, int top) {
  if (bytes.size() > options_.max_upload) {
    throw LabError(413, fmt::format("the image is {} bytes; the limit is {}", bytes.size(), options_.max_upload));
  }
  if (top < 0 || top > 10) throw LabError(400, fmt::format("top_k: must be 0 to 10, got {}", top));
  const auto model = find_model(model_id);
  Prediction p;
  try {
    ImageClassifier classifier(*model->saved, model->id);
    p = classifier.classify(decode_image(bytes, "the uploaded image"), "the uploaded image");
  } catch (const Error& e) {
    throw LabError(400, e.what());
  }
  json top_list = json::array();
  for (const auto& [digit, probability] : top_k(p.probabilities, top)) {
    top_list.push_back({{"digit", digit}, {"probability", probability}});
  }
  std::vector<int> input(p.input.size());
  std::transform(p.input.begin(), p.input.end(), input.begin(),
                 [](float v) { return static_cast<int>(std::lround(std::clamp(v, 0.0f, 255.0f))); });
  return {{"file", "upload"}, {"digit", p.digit}, {"probabilities", p.probabilities}, {"top_k", top_list},
          {"input", input},   {"model", model->id}};
}

json Lab::mistakes(const std::string& model_id, int limit) {
  if (limit < 0 || limit > 10000) throw LabError(400, fmt::format("limit: must be 0 to 10000, got {}", limit));
  const auto model = find_model(model_id);
  const auto splits = data();
  const SavedModel& saved = *model->saved;
  const ImageSet& test = splits->test;
  if (!(saved.network.input_shape() == Shape{1, test.rows, test.cols})) {
    throw LabError(409, fmt::format("model '{}' takes other images than the server's data", model->id));
  }
  std::optional<EvalResult> result;
  {
    std::lock_guard lock(mutex_);
    result = model->test;
  }
  if (!result) {
    // The data mapped onto the model's scaling, as eval does.
    DataSplits mapped;
    mapped.test = test;
    mapped.scaling = splits->scaling;
    if (!test.values.empty() && !(splits->scaling == saved.scaling)) {
      for (float& v : mapped.test.values) v = saved.scaling.apply(splits->scaling.pixel_of(v));
      mapped.scaling = saved.scaling;
    }
    ThreadPool pool(resolve_threads(options_.threads));
    result = evaluate(saved.network, mapped.test, mapped.scaling, pool);
    std::lock_guard lock(mutex_);
    model->test = result;
  }
  const int classes = saved.network.classes();
  json confusion = json::array();
  for (int t = 0; t < classes; ++t) {
    confusion.push_back(std::vector<int>(result->confusion.begin() + t * classes,
                                         result->confusion.begin() + (t + 1) * classes));
  }
  json list = json::array();
  const size_t image = test.image_size();
  for (int i = 0; i < test.count && static_cast<int>(list.size()) < limit; ++i) {
    if (result->predicted[i] == test.labels[i]) continue;
    std::string pixels(image, '\0');
    for (size_t k = 0; k < image; ++k) {
      const size_t at = static_cast<size_t>(i) * image + k;
      const float v = test.pixels.empty() ? splits->scaling.pixel_of(test.values[at]) : test.pixels[at];
      pixels[k] = static_cast<char>(std::lround(std::clamp(v, 0.0f, 255.0f)));
    }
    list.push_back({{"index", i},
                    {"label", test.labels[i]},
                    {"predicted", result->predicted[i]},
                    {"probability", result->confidence[i]},
                    {"pixels", base64_encode(pixels)}});
  }
  return {{"model", model->id}, {"accuracy", result->accuracy()}, {"samples", result->samples},
          {"rows", test.rows},  {"cols", test.cols},               {"confusion", confusion},
          {"mistakes", list},   {"total_mistakes", result->samples - result->correct}};
}

// --- runs -------------------------------------------------------------

json Lab::run_entry(const Run& run) const {
  return {{"id", run.id},
          {"state", run.state},
          {"optimizer", run.config.optimizer.name},
          {"lr", *run.config.optimizer.lr},
          {"schedule", run.config.schedule.name},
          {"epochs", run.config.epochs},
          {"train_samples", run.train_samples},
          {"architecture", run.config.model},
          {"step", run.step},
          {"total_steps", run.total_steps},
          {"epoch", run.epoch},
          {"loss", run.loss ? json(*run.loss) : json()},
          {"accuracy", run.accuracy ? json(*run.accuracy) : json()},
          {"model", run.id},
          {"error", run.error.empty() ? json() : json(run.error)}};
}

json Lab::start_run(const json& request) {
  if (!request.is_object()) throw LabError(400, "the body must be a JSON object");
  static const std::vector<std::string> known = {"optimizer", "lr",   "schedule", "epochs", "train_samples",
                                                 "model",     "batch_size", "seed", "hypers", "schedule_hypers",
                                                 "warmup_steps"};
  for (const auto& [key, value] : request.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw LabError(400, fmt::format("unknown field '{}' (known: {})", key, fmt::format("{}", fmt::join(known, ", "))));
    }
  }
  auto run = std::make_shared<Run>();
  run->request = request;
  TrainConfig& c = run->config;
  c.data = options_.data;
  try {
    c.model = text_field(request, "model").value_or("cnn");
    c.optimizer.name = text_field(request, "optimizer").value_or(OptimizerConfig{}.name);
    c.optimizer.lr = number_field(request, "lr");
    c.schedule.name = text_field(request, "schedule").value_or("constant");
    c.schedule.warmup_steps = static_cast<int>(whole_field(request, "warmup_steps", 0, 1 << 30).value_or(0));
    c.epochs = static_cast<int>(whole_field(request, "epochs", 1, 1000).value_or(1));
    c.batch_size = static_cast<int>(whole_field(request, "batch_size", 1, 1 << 20).value_or(100));
    c.seed = static_cast<uint64_t>(whole_field(request, "seed", 0, int64_t{1} << 53).value_or(0));
    run->train_samples = static_cast<int>(
        whole_field(request, "train_samples", 1, 1 << 30).value_or(options_.default_train_samples));
    const OptimizerRow& row = optimizer_row(c.optimizer.name);
    if (request.contains("hypers")) c.optimizer.hypers = hypers_from_json(request["hypers"], row.hypers, {});
    if (request.contains("schedule_hypers")) {
      c.schedule.hypers = hypers_from_json(request["schedule_hypers"], schedule_row(c.schedule.name).hypers, {});
    }
    const auto model_names_list = model_names();
    if (std::find(model_names_list.begin(), model_names_list.end(), c.model) == model_names_list.end()) {
      throw UsageError(fmt::format("model: unknown model '{}' (choose {})", printable(c.model), fmt::join(model_names_list, ", ")));
    }
    c = c.resolved();
  } catch (const LabError&) {
    throw;
  } catch (const std::exception& e) {  // UsageError from the registries, or a malformed hyperparameter
    throw LabError(400, as_fields(e.what()));
  }
  const auto splits = data();
  run->train_samples = std::min(run->train_samples, splits->train.count);
  const int batches = batches_per_epoch(run->train_samples, c.batch_size);
  run->total_steps = c.total_steps(batches);
  c.log_every = static_cast<int>(std::max<int64_t>(1, run->total_steps / 200));
  c.checkpoint_every = batches;  // a model to draw with after each epoch
  {
    std::lock_guard lock(mutex_);
    // Threads of runs that have ended are joined here, not left behind.
    for (auto& r : runs_) {
      if (r->state != "running" && r->thread.joinable()) r->thread.join();
    }
    const auto running = std::count_if(runs_.begin(), runs_.end(), [](const auto& r) { return r->state == "running"; });
    if (running >= options_.max_runs) {
      throw LabError(429, fmt::format("{} runs are training, the most this server runs at once; stop one or wait",
                                      running));
    }
    run->id = fmt::format("run-{}", next_run_++);
    run->folder = (fs::path(options_.runs) / run->id).string();
    runs_.push_back(run);
  }
  std::error_code ec;
  fs::create_directories(run->folder, ec);
  c.metrics = (fs::path(run->folder) / "metrics.jsonl").string();
  run->thread = std::thread([this, run] { train(run); });
  std::lock_guard lock(mutex_);
  return run_entry(*run);
}

void Lab::add_event(Run& run, const std::string& type, const json& body) {
  {
    std::lock_guard lock(mutex_);
    run.events.push_back(event_text(type, body));
  }
  changed_.notify_all();
}

void Lab::train(std::shared_ptr<Run> run) {
  const std::string save = (fs::path(run->folder) / "model.safetensors").string();
  auto finish = [&](const std::string& state, const std::string& type, const json& body) {
    {
      std::lock_guard lock(mutex_);
      run->state = state;
    }
    add_event(*run, type, body);
  };
  try {
    auto all = data();
    auto splits = std::make_shared<DataSplits>(*all);
    splits->train = all->train.head(run->train_samples);
    TrainingRun training(plan_new_run(run->config, save, options_.threads), splits);
    RunEvents events;
    events.on_step = [&](const StepEvent& e) {
      {
        std::lock_guard lock(mutex_);
        run->step = e.step + 1, run->epoch = e.epoch, run->loss = e.loss;
      }
      add_event(*run, "step", {{"step", e.step}, {"epoch", e.epoch}, {"batch", e.batch}, {"loss", e.loss},
                               {"lr", e.lr}, {"seconds", e.seconds}});
    };
    events.on_batch = [&](const StepEvent& e) {
      {
        std::lock_guard lock(mutex_);
        run->step = e.step + 1;
      }
      if (run->stop) training.stop();
    };
    events.on_epoch = [&](const EpochEvent& e) {
      {
        std::lock_guard lock(mutex_);
        run->accuracy = e.eval.accuracy();
        run->epoch = e.epoch + 1;
      }
      add_event(*run, "epoch", {{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"accuracy", e.eval.accuracy()},
                                {"loss", e.eval.loss}, {"lr", e.lr}, {"seconds", e.seconds}});
    };
    const RunResult result = training.run(events);
    if (result.status == RunStatus::Finished) {
      {
        std::lock_guard lock(mutex_);
        run->accuracy = result.test->accuracy();
      }
      finish("finished", "finished",
             {{"accuracy", result.test->accuracy()}, {"loss", result.test->loss}, {"steps", result.steps}});
    } else if (result.status == RunStatus::Stopped) {
      finish("stopped", "stopped", {{"steps", result.steps}});
    } else {
      finish("diverged", "diverged", {{"message", result.message}, {"steps", result.steps}});
    }
  } catch (const std::exception& e) {
    {
      std::lock_guard lock(mutex_);
      run->error = e.what();
    }
    finish("failed", "failed", {{"message", e.what()}});
  }
}

json Lab::runs() {
  std::lock_guard lock(mutex_);
  json out = json::array();
  for (const auto& run : runs_) out.push_back(run_entry(*run));
  return out;
}

json Lab::stop_run(const std::string& id) {
  std::lock_guard lock(mutex_);
  for (const auto& run : runs_) {
    if (run->id != id) continue;
    if (run->state != "running") throw LabError(409, fmt::format("{} is not running (it is {})", id, run->state));
    run->stop = true;
    return run_entry(*run);
  }
  throw LabError(404, fmt::format("run '{}': not found", printable(id)));
}

Lab::Events Lab::events(const std::string& id, size_t from, std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  const auto it = std::find_if(runs_.begin(), runs_.end(), [&](const auto& r) { return r->id == id; });
  if (it == runs_.end()) throw LabError(404, fmt::format("run '{}': not found", printable(id)));
  const std::shared_ptr<Run> run = *it;
  auto ended = [&] { return run->state != "running"; };
  changed_.wait_for(lock, wait, [&] { return run->events.size() > from || ended(); });
  Events out;
  for (size_t i = from; i < run->events.size(); ++i) out.events.push_back(run->events[i]);
  // The state changes after the last event is added: all of them are here.
  out.ended = ended() && from + out.events.size() >= run->events.size();
  return out;
}

// --- experiments ------------------------------------------------------

json Lab::experiments() {
  json out = json::array();
  std::error_code ec;
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(options_.runs, ec)) {
    if (entry.is_directory() && file_exists((entry.path() / "compare.json").string())) folders.push_back(entry.path());
  }
  std::sort(folders.begin(), folders.end());
  for (const fs::path& folder : folders) {
    json figures = json::array();
    for (const std::string& file : compare_output_files()) {
      if (file.find(".svg") != std::string::npos && file_exists((folder / file).string())) figures.push_back(file);
    }
    int runs = 0;
    for (const auto& entry : fs::directory_iterator(folder / "runs", ec)) runs += entry.path().extension() == ".jsonl";
    out.push_back({{"name", folder.filename().string()},
                   {"runs", runs},
                   {"finished", file_exists((folder / "summary.csv").string())},
                   {"figures", figures}});
  }
  return out;
}

json Lab::experiment(const std::string& name) {
  const fs::path folder = fs::path(options_.runs) / name;
  if (!plain_name(name) || !file_exists((folder / "compare.json").string()) || !inside(options_.runs, folder)) {
    throw LabError(404, fmt::format("experiment '{}': not found", printable(name)));
  }
  // Only files that stay inside the runs folder once links are followed.
  auto readable = [&](const char* file) {
    return file_exists((folder / file).string()) && inside(options_.runs, folder / file);
  };
  json rows = json::array(), figures = json::array();
  std::string summary;
  if (readable("summary.md")) summary = read_file((folder / "summary.md").string());
  if (readable("summary.csv")) {
    std::istringstream lines(read_file((folder / "summary.csv").string()));
    std::string header, line;
    std::getline(lines, header);
    std::vector<std::string> keys;
    for (std::istringstream h(header); std::getline(h, line, ',');) keys.push_back(line);
    while (std::getline(lines, line)) {
      json row = json::object();
      std::istringstream cells(line);
      std::string cell;
      for (size_t k = 0; k < keys.size() && std::getline(cells, cell, ','); ++k) {
        char* end = nullptr;
        const double v = std::strtod(cell.c_str(), &end);
        row[keys[k]] = !cell.empty() && end == cell.c_str() + cell.size() ? json(v) : json(cell);
      }
      rows.push_back(std::move(row));
    }
  }
  for (const std::string& file : compare_output_files()) {
    if ((file.ends_with(".svg") || file.ends_with(".png")) && readable(file.c_str())) {
      figures.push_back(file);
    }
  }
  return {{"name", name}, {"summary_markdown", summary}, {"rows", rows}, {"figures", figures}};
}

std::string Lab::experiment_file(const std::string& name, const std::string& file, std::string& content_type) {
  const auto& allowed = compare_output_files();
  if (!plain_name(name) || std::find(allowed.begin(), allowed.end(), file) == allowed.end()) {
    throw LabError(404, fmt::format("{}/{}: not found", printable(name), printable(file)));
  }
  const fs::path path = fs::path(options_.runs) / name / file;
  // Links inside the folder could still point out of it.
  if (!file_exists(path.string()) || !inside(options_.runs, path)) {
    throw LabError(404, fmt::format("{}/{}: not found", printable(name), printable(file)));
  }
  const fs::path real = fs::canonical(path);
  content_type = file.ends_with(".svg")   ? "image/svg+xml"
                 : file.ends_with(".png") ? "image/png"
                 : file.ends_with(".csv") ? "text/csv; charset=utf-8"
                                          : "text/markdown; charset=utf-8";
  return read_file(real.string());
}

std::string Lab::trajectories(const std::string& function, const std::string& optimizers, int steps) {
  try {
    const TestFunction& f = test_function(function);
    std::vector<std::string> names;
    std::istringstream list(optimizers);
    for (std::string name; std::getline(list, name, ',');) {
      if (!name.empty()) names.push_back(name);
    }
    if (names.size() > 24) throw UsageError("optimizers: at most 24");
    TrajectoryOptions options;
    options.steps = steps;
    if (steps > 2000) throw UsageError(fmt::format("steps: at most 2000, got {}", steps));
    return trajectories_json(f, function_grid(f), run_trajectories(f, names, options));
  } catch (const UsageError& e) {
    throw LabError(400, as_fields(e.what()));
  }
}

}  // namespace mnist
