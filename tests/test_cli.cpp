// The mnist binary as a user meets it: exit codes (0 ok, 1 runtime, 2 usage),
// one-line errors naming the flag or file, and the full train/eval/predict
// flow on a small synthetic IDX data set.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include <random>
#include <sstream>

#include "data/idx.h"
#include "checkpoint/checkpoint.h"
#include "io/safetensors.h"
#include "train/resume.h"
#include "helpers.h"
#include "io/file.h"
#include "io/gzip.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace mnist {
namespace {

using test::TempDir;

constexpr int kGradChunksForTest = 8;  // train/trainer.h's kGradChunks

struct Result {
  int code;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs the binary in dir; shell_prefix (e.g. "ulimit -f 2; ") runs first.
Result run(const std::string& args, const TempDir& dir, const std::string& shell_prefix = "") {
  const std::string cmd = shell_prefix + "cd " + quote(dir.path().string()) + " && MNIST_DATA=data " + MNIST_BINARY +
                          " " + args + " > stdout.txt 2> stderr.txt < /dev/null";
  const int status = std::system(cmd.c_str());
  Result r{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), read_file(dir.file("stdout.txt")),
           read_file(dir.file("stderr.txt"))};
  std::filesystem::remove(dir.file("stdout.txt"));
  std::filesystem::remove(dir.file("stderr.txt"));
  return r;
}

// Synthetic digits: class k has a bright bar at row 2k+4. Learnable by any model.
ImageSet synthetic(int count) {
  ImageSet s;
  s.count = count, s.rows = 28, s.cols = 28;
  s.pixels.assign(static_cast<size_t>(count) * 784, 0);
  for (int i = 0; i < count; ++i) {
    const int label = i % 10;
    s.labels.push_back(static_cast<uint8_t>(label));
    for (int x = 4; x < 24; ++x) s.pixels[static_cast<size_t>(i) * 784 + (2 * label + 4) * 28 + x] = 255;
  }
  return s;
}

void write_data(const TempDir& dir, int train_count = 400) {
  std::filesystem::create_directory(dir.file("data"));
  const ImageSet train = synthetic(train_count), test = synthetic(100);
  write_file_atomic(dir.file("data/train-images-idx3-ubyte"), idx_images_bytes(train));
  write_file_atomic(dir.file("data/train-labels-idx1-ubyte"), idx_labels_bytes(train.labels));
  write_file_atomic(dir.file("data/t10k-images-idx3-ubyte"), idx_images_bytes(test));
  write_file_atomic(dir.file("data/t10k-labels-idx1-ubyte"), idx_labels_bytes(test.labels));
}

void expect_usage_error(const std::string& args, const std::string& fragment) {
  TempDir dir;
  write_data(dir);
  const Result r = run(args, dir);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << args << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("mnist.safetensors")));
}

void expect_runtime_error(const std::string& args, const std::string& fragment, const TempDir& dir) {
  const Result r = run(args, dir);
  EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << args << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
}

TEST(Cli, HelpListsSubcommandsAndFlagsWithDefaults) {
  TempDir dir;
  const Result top = run("--help", dir);
  EXPECT_EQ(top.code, 0);
  for (const char* sub : {"train", "eval", "predict", "convert"}) EXPECT_NE(top.out.find(sub), std::string::npos) << sub;
  const Result train = run("train --help", dir);
  EXPECT_EQ(train.code, 0);
  for (const char* flag : {"--data", "--model", "--optimizer", "--lr", "--epochs", "--batch-size", "--seed",
                           "--threads", "--log-every", "--save", "Example"}) {
    EXPECT_NE(train.out.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(train.out.find("0.01"), std::string::npos) << "the default learning rate is shown";
}

TEST(Cli, UsageErrorsExitTwoWithOneLine) {
  expect_usage_error("", "subcommand");
  expect_usage_error("train --bogus", "--bogus");
  expect_usage_error("train --lr abc", "--lr");
  expect_usage_error("train --lr -1", "--lr");
  expect_usage_error("train --lr nan", "--lr");
  expect_usage_error("train --lr inf", "--lr");
  expect_usage_error("train --epochs 0", "--epochs");
  expect_usage_error("train --batch-size 0", "--batch-size");
  expect_usage_error("train --batch-size -5", "--batch-size");
  expect_usage_error("train --threads -1", "--threads");
  expect_usage_error("train --log-every 0", "--log-every");
  expect_usage_error("train --model resnet", "--model");
  expect_usage_error("train --optimizer shampoo", "--optimizer");
  expect_usage_error("train --nesterov", "--nesterov");
  expect_usage_error("train --momentum -0.1", "--momentum");
  expect_usage_error("eval", "MODEL");
  expect_usage_error("predict model.safetensors", "IMAGE");
  expect_usage_error("convert --valid 400", "--valid");
}

TEST(Cli, RuntimeErrorsExitOneNamingTheFile) {
  TempDir dir;
  write_data(dir);
  expect_runtime_error("train --data nowhere", "nowhere: no such file or folder", dir);
  std::ofstream(dir.file("data/t10k-labels-idx1-ubyte"), std::ios::binary) << "junk";
  expect_runtime_error("train --epochs 1", "t10k-labels-idx1-ubyte: bad magic number", dir);
  expect_runtime_error("eval absent.safetensors", "absent.safetensors: cannot open", dir);
  std::ofstream(dir.file("bad.safetensors"), std::ios::binary) << "\x10\x00\x00\x00\x00\x00\x00\x00{oops";
  expect_runtime_error("eval bad.safetensors", "bad.safetensors:", dir);
  EXPECT_FALSE(std::filesystem::exists(dir.file("mnist.safetensors")));
}

TEST(Cli, TrainEvalPredictConvertFlow) {
  TempDir dir;
  write_data(dir);
  const Result train = run("train --model linear --lr 0.5 --epochs 2 --batch-size 20 --log-every 10 --save m.safetensors", dir);
  ASSERT_EQ(train.code, 0) << train.err;
  EXPECT_NE(train.out.find("epoch: 0, batch: 0, loss is: 2.3"), std::string::npos) << train.out;
  EXPECT_NE(train.out.find("epoch: 1, batch: 10, loss is: "), std::string::npos) << train.out;
  EXPECT_NE(train.out.find("epoch: 1 done"), std::string::npos) << train.out;
  EXPECT_NE(train.out.find("model saved to m.safetensors"), std::string::npos) << train.out;

  const Result eval = run("eval m.safetensors --json --confusion", dir);
  ASSERT_EQ(eval.code, 0) << eval.err;
  const auto e = nlohmann::json::parse(eval.out);
  EXPECT_EQ(e["samples"], 100);
  EXPECT_DOUBLE_EQ(e["accuracy"].get<double>(), 1.0) << "synthetic bars are trivially separable";
  EXPECT_EQ(e["confusion"].size(), 10u);

  // A drawing of class 3's bar, large, dark on white, off-centre.
  std::vector<unsigned char> img(200 * 150, 255);
  for (int y = 60; y < 64; ++y) for (int x = 10; x < 110; ++x) img[y * 200 + x] = 0;
  ASSERT_TRUE(stbi_write_png(dir.file("bar.png").c_str(), 200, 150, 1, img.data(), 200));
  const Result predict = run("predict m.safetensors bar.png --json", dir);
  ASSERT_EQ(predict.code, 0) << predict.err;
  const auto p = nlohmann::json::parse(predict.out);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0]["file"], "bar.png");
  EXPECT_EQ(p[0]["probabilities"].size(), 10u);
  double sum = 0;
  for (double v : p[0]["probabilities"]) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-5);
  const Result text = run("predict m.safetensors bar.png", dir);
  EXPECT_EQ(text.out.rfind("bar.png: ", 0), 0u) << text.out;
  expect_runtime_error("predict m.safetensors nothing.png", "nothing.png: cannot open", dir);
  std::ofstream(dir.file("fake.png")) << "not a png";
  expect_runtime_error("predict m.safetensors fake.png", "fake.png: not a readable", dir);

  const Result convert = run("convert --valid 100 --out course.json.gz", dir);
  ASSERT_EQ(convert.code, 0) << convert.err;
  const Result json_train = run("train --data course.json.gz --model linear --epochs 1 --save j.safetensors", dir);
  ASSERT_EQ(json_train.code, 0) << json_train.err;
  EXPECT_EQ(json_train.out.rfind("loading mnist dataset from course.json.gz ......", 0), 0u) << json_train.out;
  EXPECT_NE(json_train.out.find("valid accuracy"), std::string::npos) << json_train.out;
}

TEST(Cli, UnwritableSaveFailsBeforeLeavingAnything) {
  TempDir dir;
  write_data(dir);
  expect_runtime_error("train --model linear --epochs 1 --save no/such/dir/m.safetensors", "no/such/dir/m.safetensors", dir);
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

std::vector<float> weights(const std::string& path) {
  const SavedModel m = load_model(path);
  return {m.network.params().begin(), m.network.params().end()};
}

// A run stopped (at any step, mid-epoch or at an epoch's end) and resumed
// ends bit-identical to the run that never stopped, metrics file included.
TEST(Resume, StoppedAndResumedRunsEndBitIdentical) {
  TempDir dir;
  write_data(dir);
  const std::string run_flags =
      "train --model mlp --optimizer adam --schedule cosine --warmup-steps 5 --epochs 3 --batch-size 30 --log-every 1";
  ASSERT_EQ(run(run_flags + " --save full.safetensors --metrics full.jsonl", dir).code, 0);
  const auto full = weights(dir.file("full.safetensors"));
  const std::string full_metrics = read_file(dir.file("full.jsonl"));
  auto strip_seconds = [](std::string text) {
    std::string out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line);
      j.erase("seconds");
      j.erase("images_per_second");
      out += j.dump() + "\n";
    }
    return out;
  };
  // 14 batches an epoch: stop mid-epoch, at an epoch's end, and twice.
  for (const std::string stops : {"5", "14", "9,30"}) {
    SCOPED_TRACE("stops at " + stops);
    std::filesystem::remove(dir.file("r.safetensors"));
    std::istringstream list(stops);
    std::string first;
    std::getline(list, first, ',');
    const Result start = run(run_flags + " --save r.safetensors --metrics r.jsonl --stop-at " + first, dir);
    ASSERT_EQ(start.code, 0) << start.err;
    EXPECT_NE(start.out.find("continue with: mnist train --resume r.safetensors"), std::string::npos) << start.out;
    for (std::string next; std::getline(list, next, ',');) {
      ASSERT_EQ(run("train --resume r.safetensors --stop-at " + next, dir).code, 0);
    }
    const Result end = run("train --resume r.safetensors", dir);
    ASSERT_EQ(end.code, 0) << end.err;
    EXPECT_NE(end.out.find("resuming r.safetensors"), std::string::npos) << end.out;
    const auto resumed = weights(dir.file("r.safetensors"));
    ASSERT_EQ(resumed.size(), full.size());
    EXPECT_EQ(std::memcmp(resumed.data(), full.data(), full.size() * sizeof(float)), 0);
    EXPECT_EQ(strip_seconds(read_file(dir.file("r.jsonl"))), strip_seconds(full_metrics));
  }
}

TEST(Resume, CheckpointEveryWritesResumableState) {
  TempDir dir;
  write_data(dir);
  ASSERT_EQ(run("train --model linear --optimizer momentum --epochs 2 --batch-size 40 --checkpoint-every 4 --save c.safetensors --stop-at 6", dir).code, 0);
  const SavedModel m = load_model(dir.file("c.safetensors"));
  EXPECT_EQ(m.metadata.at("train.step"), "6");
  EXPECT_EQ(m.metadata.at("optim.name"), "momentum");
  EXPECT_TRUE(m.file->contains("optim.momentum_buffer.fc.weight"));
}

TEST(Resume, RefusesChangesToTheRunsArithmetic) {
  TempDir dir;
  write_data(dir);
  ASSERT_EQ(run("train --model linear --epochs 2 --save c.safetensors --stop-at 3", dir).code, 0);
  for (const char* flag : {"--lr 0.5", "--optimizer adam", "--epochs 4", "--seed 3", "--batch-size 7", "--model mlp"}) {
    const Result r = run(std::string("train --resume c.safetensors ") + flag, dir);
    EXPECT_EQ(r.code, 2) << flag;
    EXPECT_NE(r.err.find("cannot be changed when resuming"), std::string::npos) << r.err;
  }
  ASSERT_EQ(run("train --model linear --epochs 1 --save plain.safetensors", dir).code, 0);
  const SavedModel m = load_model(dir.file("plain.safetensors"));
  EXPECT_EQ(m.metadata.at("train.epoch"), "1");
  // A finished run resumes to nothing more than its final evaluation.
  const Result done = run("train --resume plain.safetensors", dir);
  EXPECT_EQ(done.code, 0) << done.err;
  EXPECT_EQ(weights(dir.file("plain.safetensors")), std::vector<float>(m.network.params().begin(), m.network.params().end()));
  // Weights without training state cannot be resumed.
  write_file_atomic(dir.file("bare.safetensors"),
                    safetensors_bytes({}, {{"fc.weight", {10, 784}, m.network.params().subspan(0, 7840)},
                                           {"fc.bias", {10}, m.network.params().subspan(7840, 10)}}));
  const Result bare = run("train --resume bare.safetensors", dir);
  EXPECT_EQ(bare.code, 1);
  EXPECT_NE(bare.err.find("cannot resume"), std::string::npos) << bare.err;
}

TEST(Init, StartsFromGivenWeightsAndChecksTheModel) {
  TempDir dir;
  write_data(dir);
  ASSERT_EQ(run("train --model linear --epochs 1 --save a.safetensors", dir).code, 0);
  // Zero learning rate: the weights stay exactly the --init weights.
  ASSERT_EQ(run("train --model linear --epochs 1 --lr 0 --init a.safetensors --save b.safetensors", dir).code, 0);
  EXPECT_EQ(weights(dir.file("a.safetensors")), weights(dir.file("b.safetensors")));
  const Result wrong = run("train --model mlp --init a.safetensors", dir);
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("holds a linear model, but --model is mlp"), std::string::npos) << wrong.err;
}

TEST(Cli, OptimizerAndScheduleFlagsAreValidated) {
  expect_usage_error("train --optimizer adam --momentum 0.9", "--momentum: does not apply to --optimizer adam");
  expect_usage_error("train --optimizer adam --beta1 1", "--beta1");
  expect_usage_error("train --optimizer sgd --amsgrad", "--amsgrad");
  expect_usage_error("train --schedule sawtooth", "--schedule");
  expect_usage_error("train --schedule multistep", "--milestones");
  expect_usage_error("train --gamma 0.5", "--gamma: does not apply to --schedule constant");
  expect_usage_error("train --clip-norm 0", "--clip-norm");
  expect_usage_error("train --clip-norm nan", "--clip-norm");
  expect_usage_error("train --steps -1", "--steps");
  expect_usage_error("train --stop-at -1", "--stop-at");
  expect_usage_error("train --threads 300", "--threads: must be 0 (every core) or a count up to 256, got 300");
  expect_usage_error("train --threads -1", "--threads");
  expect_usage_error("train --model resnet", "--model: unknown model 'resnet'");
  expect_usage_error("train --seed 9007199254740993", "--seed: must be at most 2^53");
  expect_usage_error("convert --valid 0", "--valid: must be at least 1");
  expect_usage_error("train --checkpoint-every -2", "--checkpoint-every");
}

TEST(Cli, EveryOptimizerAndScheduleTrains) {
  TempDir dir;
  write_data(dir);
  for (const std::string& optimizer : optimizer_names()) {
    const Result r = run("train --model linear --epochs 1 --batch-size 50 --optimizer " + optimizer +
                             " --save o.safetensors",
                         dir);
    EXPECT_EQ(r.code, 0) << optimizer << ": " << r.err;
  }
  // The flags some schedules need to be interesting (or to stay finite).
  const std::map<std::string, std::string> extra = {
      {"multistep", " --milestones 1"}, {"plateau", " --patience 0"}, {"exp-range", " --end-lr 0.1"}};
  for (const std::string& schedule : schedule_names()) {
    const std::string flags = extra.count(schedule) ? extra.at(schedule) : "";
    const Result r = run("train --model linear --epochs 2 --batch-size 50 --clip-norm 1 --schedule " + schedule +
                             flags + " --metrics m.jsonl --save s.safetensors",
                         dir);
    EXPECT_EQ(r.code, 0) << schedule << ": " << r.err;
    EXPECT_NE(r.out.find("lr: "), std::string::npos) << "the epoch line shows the learning rate";
  }
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

// Starts the binary in dir and returns its pid.
pid_t spawn(const std::vector<std::string>& args, const TempDir& dir) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir.path().c_str()) != 0) _exit(127);
    freopen("/dev/null", "w", stdout);
    freopen("stderr.txt", "w", stderr);
    std::vector<char*> argv = {const_cast<char*>(MNIST_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    setenv("MNIST_DATA", "data", 1);
    execv(MNIST_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

size_t count_lines(const std::string& path) {
  if (!file_exists(path)) return 0;
  const std::string text = read_file(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Ctrl-C finishes the step, saves, says how to resume and exits 130; the
// resumed run ends where the uninterrupted one does, to the bit.
TEST(Interrupt, SigintSavesAndResumesToTheSameWeights) {
  TempDir dir;
  write_data(dir, 3000);
  const std::vector<std::string> flags = {"train", "--model", "cnn", "--epochs", "3", "--batch-size", "20",
                                          "--optimizer", "adam", "--log-every", "1", "--threads", "1"};
  auto with = [&](std::vector<std::string> extra) {
    auto all = flags;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  };
  const pid_t pid = spawn(with({"--save", "int.safetensors", "--metrics", "int.jsonl"}), dir);
  // Interrupt once it is well into the first epoch.
  for (int i = 0; i < 3000 && count_lines(dir.file("int.jsonl")) < 20; ++i) usleep(10000);
  ASSERT_GE(count_lines(dir.file("int.jsonl")), 20u) << "training did not start";
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const SavedModel stopped = load_model(dir.file("int.safetensors"));
  const int64_t step = std::stoll(stopped.metadata.at("train.step"));
  EXPECT_GT(step, 0);
  EXPECT_LT(step, 450) << "interrupted before the end";
  ASSERT_EQ(run("train --resume int.safetensors", dir).code, 0);
  std::string args;
  for (const auto& a : with({"--save", "full.safetensors"})) args += a + " ";
  ASSERT_EQ(run(args, dir).code, 0);
  EXPECT_EQ(weights(dir.file("int.safetensors")), weights(dir.file("full.safetensors")));
}

// A learning rate far too large is caught: a one-line message naming the
// step and the likely cause, exit 1, and the good checkpoint untouched.
TEST(Divergence, StopsNamesTheStepAndKeepsTheGoodCheckpoint) {
  TempDir dir;
  write_data(dir);
  ASSERT_EQ(run("train --model linear --epochs 1 --save good.safetensors", dir).code, 0);
  const Result r = run("train --model mlp --lr 1000 --epochs 8 --checkpoint-every 1 --save good.safetensors", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("training diverged at step "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("probably too large for sgd"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // Every checkpoint written before the divergence was finite; the file
  // holds finite weights (the load refuses NaN).
  EXPECT_NO_THROW(load_model(dir.file("good.safetensors")));
  // A run too short to hold the loss above the line for 20 steps diverges
  // when it holds it there from its second step to its end.
  const Result short_run = run("train --model mlp --lr 1000 --steps 6 --save short.safetensors", dir);
  EXPECT_EQ(short_run.code, 1) << short_run.out;
  EXPECT_NE(short_run.err.find("training diverged at step 5"), std::string::npos) << short_run.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("short.safetensors")));
  // Without periodic checkpoints, the previous file is not touched at all.
  ASSERT_EQ(run("train --model linear --epochs 1 --save good.safetensors", dir).code, 0);
  const std::string good = read_file(dir.file("good.safetensors"));
  EXPECT_EQ(run("train --model mlp --lr 1000 --epochs 8 --save good.safetensors", dir).code, 1);
  EXPECT_EQ(read_file(dir.file("good.safetensors")), good);
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

// kill -9 at random moments, checkpointing every step so that kills land in
// the middle of writes too: the last checkpoint always loads and resumes,
// and the run ends bit-identical to one never killed.
TEST(Kill, SigkillAtRandomMomentsNeverCorruptsTheCheckpoint) {
  TempDir dir;
  write_data(dir, 3000);
  const std::vector<std::string> flags = {"train", "--model", "cnn", "--epochs", "2", "--batch-size", "25",
                                          "--optimizer", "adam", "--threads", "1", "--checkpoint-every", "1",
                                          "--save", "k.safetensors"};
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_ms(20, 400);
  int kills = 0;
  for (int round = 0; round < 6; ++round) {
    std::vector<std::string> args = flags;
    if (file_exists(dir.file("k.safetensors"))) args = {"train", "--resume", "k.safetensors", "--threads", "1"};
    const pid_t pid = spawn(args, dir);
    // Until a first checkpoint exists, the random moment is counted from
    // its appearance: a slow machine (or a sanitizer build) must not have
    // every kill land before the first write.
    for (int waited = 0; !file_exists(dir.file("k.safetensors")) && waited < 60000; waited += 5) usleep(5000);
    usleep(static_cast<useconds_t>(delay_ms(rng)) * 1000);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++kills;
    if (!file_exists(dir.file("k.safetensors"))) continue;  // the run ended before writing (it cannot here)
    const SavedModel saved = load_model(dir.file("k.safetensors"));  // throws if corrupt
    EXPECT_NO_THROW(read_resume_point(saved));
  }
  EXPECT_GE(kills, 4) << "most rounds should have been killed mid-run";
  ASSERT_TRUE(file_exists(dir.file("k.safetensors"))) << "no checkpoint was ever written";
  const Result finish = run("train --resume k.safetensors", dir);
  ASSERT_EQ(finish.code, 0) << finish.err;
  std::string whole;
  for (const auto& a : flags) whole += (a == "k.safetensors" ? std::string("whole.safetensors") : a) + " ";
  ASSERT_EQ(run(whole, dir).code, 0);
  EXPECT_EQ(weights(dir.file("k.safetensors")), weights(dir.file("whole.safetensors")));
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos)
        << "temporary file left behind: " << entry.path();
  }
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

// A disk that fills up mid-write (simulated with a file-size limit: writes
// beyond it fail with EFBIG, as they would with ENOSPC): a clear one-line
// error, exit 1, and neither the output nor a temporary file left behind.
TEST(DiskFull, WriteFailuresLeaveNothingBehind) {
  TempDir dir;
  write_data(dir);
  const std::string limited = "trap '' XFSZ; ulimit -f 2; ";  // 2 KiB; a linear checkpoint is ~32 KiB
  const Result train = run("train --model linear --epochs 1 --save m.safetensors", dir, limited);
  EXPECT_EQ(train.code, 1) << train.err;
  EXPECT_NE(train.err.find("m.safetensors: write failed: File too large"), std::string::npos) << train.err;
  EXPECT_EQ(std::count(train.err.begin(), train.err.end(), '\n'), 1) << train.err;
  const Result convert = run("convert --valid 100 --out c.json.gz", dir, limited);
  EXPECT_EQ(convert.code, 1) << convert.err;
  EXPECT_NE(convert.err.find("c.json.gz: write failed"), std::string::npos) << convert.err;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(name == "data") << "left behind: " << name;
  }
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

TEST(Cli, AbsurdValuesAndStopPointsAreRefused) {
  expect_usage_error("train --batch-size 2147483647", "--batch-size");
  expect_usage_error("train --schedule onecycle --pct-start 0.01 --epochs 1 --batch-size 400", "--pct-start");
  TempDir dir;
  write_data(dir);
  ASSERT_EQ(run("train --model linear --epochs 2 --save c.safetensors --stop-at 3", dir).code, 0);
  const Result early = run("train --resume c.safetensors --stop-at 2", dir);
  EXPECT_EQ(early.code, 2) << early.err;
  EXPECT_NE(early.err.find("--stop-at: the run is already at step 3"), std::string::npos) << early.err;
  // A batch larger than the data set is one batch of all of it.
  EXPECT_EQ(run("train --model linear --epochs 1 --batch-size 100000 --save big.safetensors", dir).code, 0);
}

// --recipe presets a run; flags given with it adjust the preset, whatever
// their order; bad ingredients are refused naming the flag.
TEST(Cli, RecipesArePresetsThatFlagsAdjust) {
  expect_usage_error("train --recipe fastest", "--recipe: unknown recipe 'fastest' (choose speedrun, best, fashion)");
  expect_usage_error("train --rotate -5", "--rotate");
  expect_usage_error("train --rotate 200", "--rotate");
  expect_usage_error("train --zoom 1", "--zoom");
  expect_usage_error("train --shift nan", "--shift");
  expect_usage_error("train --cutout -1", "--cutout");
  expect_usage_error("train --cutout 65", "--cutout");
  expect_usage_error("train --cutout 2.5", "--cutout");
  expect_usage_error("train --label-smoothing 1", "--label-smoothing");
  expect_usage_error("train --ema 1", "--ema");
  expect_usage_error("train --model best --dropout 1", "--dropout: must be at least 0 and below 1, got 1");
  expect_usage_error("train --model best --dropout -0.5", "--dropout");
  expect_usage_error("train --dropout 0.2", "--dropout: model cnn has no dropout layer");
  expect_usage_error("train --recipe speedrun --dropout 0.2", "--dropout: model speed has no dropout layer");
  expect_usage_error("train --ema 0.99 --optimizer asgd", "--ema: asgd averages its iterates already");
  TempDir dir;
  write_data(dir);
  ASSERT_EQ(run("train --epochs 2 --recipe speedrun --batch-size 50 --save s.safetensors", dir).code, 0);
  const SavedModel saved = load_model(dir.file("s.safetensors"));
  const auto config = nlohmann::json::parse(saved.metadata.at("config"));
  EXPECT_EQ(config.at("model"), "speed");
  EXPECT_EQ(config.at("epochs"), 2) << "--epochs given before --recipe still wins";
  EXPECT_EQ(config.at("batch_size"), 50);
  EXPECT_EQ(config.at("optimizer").at("name"), "adam");
  EXPECT_EQ(config.at("optimizer").at("betas"), nlohmann::json::array({0.7, 0.9}));
  EXPECT_EQ(config.at("schedule").at("name"), "onecycle");
  EXPECT_TRUE(saved.file->contains("bn1.running_mean"));
  EXPECT_EQ(saved.file->int64_scalar("bn3.num_batches_tracked"), 2 * 8 * kGradChunksForTest);
  // The recipe is part of the run's arithmetic: not changeable on resume.
  const Result resumed = run("train --resume s.safetensors --recipe best", dir);
  EXPECT_EQ(resumed.code, 2);
  EXPECT_NE(resumed.err.find("--recipe: cannot be changed when resuming"), std::string::npos) << resumed.err;
}

// --steps sets the run's length (fixed, like --epochs), --stop-at a break
// in it: a run stopped at 2 and resumed ends where one whole run of 5 does.
TEST(Cli, StepsIsTheRunLengthAndStopAtABreak) {
  TempDir dir;
  write_data(dir);
  const std::string flags = "train --model linear --optimizer adam --schedule cosine --steps 5";
  ASSERT_EQ(run(flags + " --save whole.safetensors", dir).code, 0);
  ASSERT_EQ(run(flags + " --save part.safetensors --stop-at 2", dir).code, 0);
  const Result resumed = run("train --resume part.safetensors", dir);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(load_model(dir.file("part.safetensors")).metadata.at("train.step"), "5");
  EXPECT_EQ(weights(dir.file("part.safetensors")), weights(dir.file("whole.safetensors")));
  // A stop point at the run's last step is no stop: the run finishes, its
  // last epoch reported, instead of asking to be resumed for nothing.
  const Result at_end = run("train --model linear --epochs 1 --stop-at 4 --save e.safetensors", dir);
  ASSERT_EQ(at_end.code, 0) << at_end.err;
  EXPECT_NE(at_end.out.find("epoch: 0 done"), std::string::npos) << at_end.out;
  EXPECT_NE(at_end.out.find("test accuracy:"), std::string::npos) << at_end.out;
  EXPECT_EQ(at_end.out.find("continue with"), std::string::npos) << at_end.out;
  expect_usage_error("train --epochs 2 --steps 5", "excludes");  // one length or the other
  const Result changed = run("train --resume part.safetensors --steps 9", dir);
  EXPECT_EQ(changed.code, 2);
  EXPECT_NE(changed.err.find("--steps: cannot be changed when resuming"), std::string::npos) << changed.err;
}

// Resuming a run that has finished says so, and trains and evaluates nothing.
TEST(Cli, ResumingAFinishedRunSaysSo) {
  TempDir dir;
  write_data(dir);
  ASSERT_EQ(run("train --model linear --steps 3 --save done.safetensors", dir).code, 0);
  const std::string before = read_file(dir.file("done.safetensors"));
  const Result r = run("train --resume done.safetensors", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("done.safetensors: this run has finished (3 steps, test accuracy "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("test accuracy:"), std::string::npos) << r.out;  // no evaluation redone
  EXPECT_EQ(read_file(dir.file("done.safetensors")), before);
}

// Training again onto a file that holds a model keeps that model beside it,
// numbered, and says so; a run that fails before its first checkpoint
// touches nothing.
TEST(Cli, ANewRunKeepsTheModelItsSaveHeld) {
  TempDir dir;
  write_data(dir);
  ASSERT_EQ(run("train --model linear --steps 3 --save m.safetensors", dir).code, 0);
  const std::string first = read_file(dir.file("m.safetensors"));
  const Result again = run("train --model linear --steps 2 --lr 0.001 --save m.safetensors", dir);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("m.safetensors held an earlier model: kept as m.1.safetensors"), std::string::npos)
      << again.out;
  EXPECT_EQ(read_file(dir.file("m.1.safetensors")), first);
  EXPECT_NE(read_file(dir.file("m.safetensors")), first);
  ASSERT_EQ(run("train --model linear --steps 2 --seed 4 --save m.safetensors", dir).code, 0);
  EXPECT_TRUE(std::filesystem::exists(dir.file("m.2.safetensors")));
  // Resuming into the same file continues that model: nothing to keep,
  // however the path is spelt.
  ASSERT_EQ(run("train --model linear --steps 4 --save r.safetensors --stop-at 2", dir).code, 0);
  const Result resumed = run("train --resume ./r.safetensors --save r.safetensors", dir);
  EXPECT_EQ(resumed.out.find("kept as"), std::string::npos) << resumed.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("r.1.safetensors")));
}

// A mistyped subcommand gets the nearest one suggested.
TEST(Cli, AMistypedSubcommandSuggestsTheRightOne) {
  TempDir dir;
  const Result r = run("trian --epochs 1", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'trian' is not a command; did you mean 'train'?"), std::string::npos) << r.err;
  const Result far = run("xyzzy", dir);
  EXPECT_EQ(far.code, 2);
  EXPECT_EQ(far.err.find("did you mean"), std::string::npos) << far.err;
}

}  // namespace
}  // namespace mnist

// compare and lr-find, as a user runs them.
namespace mnist {
namespace {

std::vector<double> csv_numbers(const std::string& line) {
  std::vector<double> out;
  std::stringstream cells(line);
  for (std::string cell; std::getline(cells, cell, ',');) out.push_back(cell.empty() ? NAN : std::atof(cell.c_str()));
  return out;
}

std::pair<int, int> png_size(const std::string& path) {
  int w = 0, h = 0, channels = 0;
  if (!stbi_info(path.c_str(), &w, &h, &channels)) return {0, 0};
  return {w, h};
}

// The loss of every logged step of a run file.
std::vector<double> step_losses(const std::string& path) {
  std::vector<double> losses;
  std::istringstream lines(read_file(path));
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["event"] == "step") losses.push_back(j["loss"]);
  }
  return losses;
}

TEST(Compare, WritesRunsSummaryAndPlotsThenSkipsWhatIsDone) {
  TempDir dir;
  write_data(dir);
  const std::string args = "compare --model linear --optimizers sgd,adam --lrs 0.1,0.01 --seeds 2 --epochs 2 --out cmp";
  const Result r = run(args, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("run 8/8"), std::string::npos) << r.out;
  const std::vector<std::string> names = {"sgd_lr0.1", "sgd_lr0.01", "adam_lr0.1", "adam_lr0.01"};
  // Every summary row is the mean and sample sd of its two run files.
  std::istringstream csv(read_file(dir.file("cmp/summary.csv")));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line.rfind("optimizer,lr,runs,diverged,test_accuracy_percent_mean,test_accuracy_percent_sd", 0), 0u);
  for (const std::string& name : names) {
    ASSERT_TRUE(std::getline(csv, line));
    std::vector<double> accuracy;
    for (int seed = 0; seed < 2; ++seed) {
      std::istringstream lines(read_file(dir.file(fmt::format("cmp/runs/{}_seed{}.jsonl", name, seed))));
      for (std::string record; std::getline(lines, record);) {
        const auto j = nlohmann::json::parse(record);
        if (j["event"] == "final") accuracy.push_back(100 * j["accuracy"].get<double>());
      }
    }
    ASSERT_EQ(accuracy.size(), 2u) << name;
    const auto cells = csv_numbers(line.substr(line.find(',') + 1));
    EXPECT_EQ(line.substr(0, line.find(',')), name.substr(0, name.find('_')));
    EXPECT_NEAR(cells[3], (accuracy[0] + accuracy[1]) / 2, 5e-5) << line;
    EXPECT_NEAR(cells[4], std::abs(accuracy[0] - accuracy[1]) / std::sqrt(2.0), 5e-5) << line;
  }
  EXPECT_NE(read_file(dir.file("cmp/summary.md")).find("| adam | 0.01 |"), std::string::npos);
  // Two panels (one per learning rate) side by side; accuracy: all, and a close-up.
  EXPECT_EQ(png_size(dir.file("cmp/loss.png")), (std::pair{1120, 528}));
  EXPECT_EQ(png_size(dir.file("cmp/sensitivity.png")), (std::pair{1400, 624}));
  EXPECT_NE(read_file(dir.file("cmp/summary.md")).find("](sensitivity.png)"), std::string::npos);
  EXPECT_NE(read_file(dir.file("cmp/loss.svg")).find("<svg"), std::string::npos);

  // Run again: nothing is retrained. Remove one run: only it is.
  const auto written = std::filesystem::last_write_time(dir.file("cmp/runs/adam_lr0.1_seed1.jsonl"));
  const Result again = run(args, dir);
  ASSERT_EQ(again.code, 0) << again.err;
  size_t skipped = 0;
  for (size_t at = again.out.find("(already done)"); at != std::string::npos; at = again.out.find("(already done)", at + 1)) {
    ++skipped;
  }
  EXPECT_EQ(skipped, 8u) << again.out;
  EXPECT_EQ(std::filesystem::last_write_time(dir.file("cmp/runs/adam_lr0.1_seed1.jsonl")), written);
  const auto kept = step_losses(dir.file("cmp/runs/sgd_lr0.1_seed0.jsonl"));
  std::filesystem::remove(dir.file("cmp/runs/sgd_lr0.1_seed0.jsonl"));
  const Result one = run(args, dir);
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_NE(one.out.find("sgd_lr0.1_seed0: test accuracy"), std::string::npos) << one.out;
  EXPECT_EQ(step_losses(dir.file("cmp/runs/sgd_lr0.1_seed0.jsonl")), kept);
  // Other settings in the same folder are refused, not mixed in.
  std::string changed = args;
  changed.replace(changed.find("--epochs 2"), 10, "--epochs 3");
  const Result other = run(changed, dir);
  EXPECT_EQ(other.code, 2);
  EXPECT_NE(other.err.find("--out cmp: holds runs made with other settings: epochs (2 before, 3 now)"),
            std::string::npos)
      << other.err;
  // A run file cut short (no final record) is trained again, not summarised.
  const std::string cut = dir.file("cmp/runs/adam_lr0.01_seed1.jsonl");
  write_file_atomic(cut, read_file(cut).substr(0, 40));
  const Result retrained = run(args, dir);
  ASSERT_EQ(retrained.code, 0) << retrained.err;
  EXPECT_NE(retrained.out.find("adam_lr0.01_seed1: test accuracy"), std::string::npos) << retrained.out;
  EXPECT_NE(read_file(cut).find("\"final\""), std::string::npos);
}

TEST(Compare, BadGridsAndOutputsFailBeforeAnyRun) {
  expect_usage_error("compare --optimizers ''", "--optimizers: the list is empty");
  expect_usage_error("compare --optimizers sgd,adamm", "--optimizers: unknown optimizer 'adamm'");
  expect_usage_error("compare --optimizers sgd,sgd", "'sgd' is listed twice");
  expect_usage_error("compare --lrs ''", "--lrs: the list is empty");
  expect_usage_error("compare --lrs 0.1,fast", "--lrs: 'fast' is not a number");
  expect_usage_error("compare --lrs 0.1,-0.1", "--lrs: a learning rate must be a finite number > 0");
  expect_usage_error("compare --seeds 0", "--seeds");
  expect_usage_error("compare --train-samples 100000", "--train-samples");
  expect_usage_error("compare --optimizers sgd,adam --momentum 0.5", "--momentum");
  expect_usage_error("compare --lrs 0.1,0.1000001", "look the same to 6 significant digits");
  expect_usage_error("compare --lrs 1,2,3,4,5,6,7,8,9,10,11,12,13", "--lrs: at most 12 values");
  expect_usage_error("compare --jobs 1000", "--jobs");
  expect_usage_error("compare --train-samples -5", "--train-samples");
  expect_usage_error("compare --out ''", "--out: must name a folder");
  expect_usage_error("compare --seed -1", "--seed");
  expect_usage_error("lr-find --out ''", "--out: must name a folder");
  expect_usage_error("lr-find --init m.safetensors --model mlp", "--model: not with --init");
  TempDir dir;
  write_data(dir);
  write_file_atomic(dir.file("blocker"), "a file");
  expect_runtime_error("compare --out blocker/sub", "--out blocker/sub: cannot create the folder", dir);
  const Result r = run("compare --out /proc/cmp", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("/proc/cmp"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("run 1/"), std::string::npos) << r.out;
  // PLplot without its cairo drivers (a separate Debian package): refused
  // before any training, in one line, with the package to install.
  TempDir drivers;
  const std::string installed = "/usr/lib/x86_64-linux-gnu/plplot5.15.0/drivers/";
  if (file_exists(installed + "ps.so")) {
    std::filesystem::copy_file(installed + "ps.so", drivers.file("ps.so"));
    std::filesystem::copy_file(installed + "ps.driver_info", drivers.file("ps.driver_info"));
    for (const char* command : {"compare --model linear --out nd", "lr-find --model linear --out nd"}) {
      const Result r = run(command, dir, "export PLPLOT_DRV_DIR=" + drivers.path().string() + "; ");
      EXPECT_EQ(r.code, 1) << command << ": " << r.err;
      EXPECT_NE(r.err.find("plplot-driver-cairo"), std::string::npos) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_FALSE(std::filesystem::exists(dir.file("nd")));
    }
  }
}

// Ctrl-C stops the grid; running the command again finishes it, with the
// same losses as a grid that was never interrupted.
TEST(Compare, InterruptedGridFinishesOnRerunWithTheSameResults) {
  TempDir dir;
  write_data(dir, 3000);
  const std::vector<std::string> flags = {"compare", "--optimizers", "sgd,adam", "--lrs",    "0.01", "--epochs",
                                          "2",       "--batch-size", "20",       "--jobs",   "1",    "--threads",
                                          "1",       "--log-every",  "1"};
  auto with_out = [&](const std::string& out) {
    auto all = flags;
    all.insert(all.end(), {"--out", out});
    std::string line;
    for (const auto& a : all) line += a + " ";
    return std::pair{all, line};
  };
  const pid_t pid = spawn(with_out("a").first, dir);
  const std::string partial = dir.file("a/runs/sgd_lr0.01_seed0.jsonl.partial");
  for (int i = 0; i < 3000 && count_lines(partial) < 20; ++i) usleep(10000);
  ASSERT_GE(count_lines(partial), 20u) << "training did not start";
  // A second comparison in the same folder is refused while this one runs.
  const Result second = run(with_out("a").second, dir);
  EXPECT_EQ(second.code, 1);
  EXPECT_NE(second.err.find("--out a: another mnist compare is using this folder"), std::string::npos) << second.err;
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_FALSE(file_exists(dir.file("a/runs/sgd_lr0.01_seed0.jsonl")));
  EXPECT_FALSE(file_exists(dir.file("a/summary.csv")));
  ASSERT_EQ(run(with_out("a").second, dir).code, 0);
  ASSERT_EQ(run(with_out("b").second, dir).code, 0);
  for (const std::string name : {"sgd_lr0.01_seed0", "adam_lr0.01_seed0"}) {
    const auto a = step_losses(dir.file("a/runs/" + name + ".jsonl"));
    EXPECT_EQ(a.size(), 300u);
    EXPECT_EQ(a, step_losses(dir.file("b/runs/" + name + ".jsonl"))) << name;
  }
  EXPECT_FALSE(file_exists(partial));
}

TEST(LrFind, PrintsJsonAPlotAndLeavesTheModelUntouched) {
  TempDir dir;
  write_data(dir, 2000);
  ASSERT_EQ(run("train --model linear --epochs 1 --save m.safetensors", dir).code, 0);
  const std::string model = read_file(dir.file("m.safetensors"));
  const std::string args = "lr-find --init m.safetensors --steps 100 --start-lr 1e-5 --end-lr 100 --json --out lf";
  const Result r = run(args, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const double suggested = j["suggested_lr"];
  EXPECT_GT(suggested, 1e-5);
  EXPECT_LT(suggested, 100);
  EXPECT_GT(j["min_loss_lr_div10"].get<double>(), 0);
  EXPECT_GE(j["points"].size(), 12u);
  EXPECT_LE(j["points"].size(), 100u);
  EXPECT_EQ(j["points"][0]["lr"].get<double>(), 1e-5);
  EXPECT_EQ(png_size(dir.file("lf/lr_find.png")), (std::pair{900, 648}));  // the legend above the panel
  EXPECT_EQ(read_file(dir.file("m.safetensors")), model);
  const Result again = run(args, dir);
  EXPECT_EQ(nlohmann::json::parse(again.out)["suggested_lr"].get<double>(), suggested);
  const Result text = run("lr-find --model linear --steps 50 --out lf2", dir);
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("suggested lr: "), std::string::npos) << text.out;
  // The command to run next, and any warning before the plot's line (the last thing read).
  EXPECT_NE(text.out.find("next: mnist train --model linear --optimizer sgd --lr "), std::string::npos) << text.out;
  const size_t warning = text.out.find("warning:");
  if (warning != std::string::npos) {
    EXPECT_LT(warning, text.out.find("plot: ")) << text.out;
  }

  expect_usage_error("lr-find --start-lr 0", "--start-lr");
  expect_usage_error("lr-find --end-lr 1e-9", "--end-lr");
  expect_usage_error("lr-find --steps 3", "--steps");
  expect_usage_error("lr-find --optimizer adam --momentum 0.9", "--momentum");
  expect_runtime_error("lr-find --init missing.safetensors", "missing.safetensors", dir);
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

// Outputs pointed at devices, FIFOs, symbolic links and "-" (docs/reliability.md,
// "Where outputs go"). The device is a null device made here with mknod, never
// the machine's own /dev entries.

bool is_char_device(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}
bool is_fifo(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}
bool is_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// Reads a FIFO until its writer is gone and the command has ended. The
// reader is open before the command starts, so the writer never waits.
class FifoReader {
 public:
  explicit FifoReader(const std::string& path) {
    EXPECT_EQ(::mkfifo(path.c_str(), 0644), 0) << std::strerror(errno);
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    thread_ = std::thread([this] {
      char buf[65536];
      for (;;) {
        const ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n > 0) {
          data_.append(buf, static_cast<size_t>(n));
        } else if (n == 0 && done_) {
          break;
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      }
    });
  }
  // What the FIFO carried, once the command has ended.
  std::string finish() {
    done_ = true;
    thread_.join();
    ::close(fd_);
    return data_;
  }

 private:
  int fd_ = -1;
  std::atomic<bool> done_{false};
  std::string data_;
  std::thread thread_;
};

constexpr const char* kQuickTrain = "train --model linear --epochs 1 --batch-size 50 --log-every 1";

TEST(Outputs, DevicesAreWrittenThroughAndStayDevices) {
  TempDir dir;
  write_data(dir);
  const std::string null = dir.file("null");
  if (::mknod(null.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod needs root (CAP_MKNOD): " << std::strerror(errno);
  }
  for (const std::string& args : {std::string(kQuickTrain) + " --save null", std::string(kQuickTrain) +
                                      " --save m.safetensors --metrics null", std::string("convert --valid 100 --out null")}) {
    SCOPED_TRACE(args);
    const Result r = run(args, dir);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(is_char_device(null)) << "the device node was replaced";
  }
  // compare and lr-find write folders: a device there is a usage error.
  const Result c = run("compare --optimizers sgd --train-samples 100 --model linear --epochs 1 --out null", dir);
  EXPECT_EQ(c.code, 2) << c.err;
  EXPECT_NE(c.err.find("--out null: is not a folder"), std::string::npos) << c.err;
  EXPECT_TRUE(is_char_device(null));
}

TEST(Outputs, FifosGiveTheirReaderTheWholeOutput) {
  TempDir dir;
  write_data(dir);
  {
    FifoReader reader(dir.file("metrics.fifo"));
    const Result r = run(std::string(kQuickTrain) + " --save m.safetensors --metrics metrics.fifo", dir);
    const std::string got = reader.finish();
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(is_fifo(dir.file("metrics.fifo")));
    EXPECT_NE(got.find(R"("event":"step")"), std::string::npos) << got;
    EXPECT_NE(got.find(R"("event":"final")"), std::string::npos) << got;
  }
  {
    FifoReader reader(dir.file("model.fifo"));
    const Result r = run(std::string(kQuickTrain) + " --save model.fifo", dir);
    const std::string got = reader.finish();
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(is_fifo(dir.file("model.fifo")));
    const SavedModel model = parse_model(got, "the FIFO's bytes");  // a whole, valid checkpoint
    EXPECT_EQ(model.network.model(), "linear");
  }
  {
    FifoReader reader(dir.file("data.fifo"));
    const Result r = run("convert --valid 100 --out data.fifo", dir);
    const std::string got = reader.finish();
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(is_fifo(dir.file("data.fifo")));
    ASSERT_GE(got.size(), 2u);
    EXPECT_TRUE(is_gzip(got));
  }
}

TEST(Outputs, SymlinksStayLinksAndTheirTargetsHoldTheOutput) {
  TempDir dir;
  write_data(dir);
  std::filesystem::create_directory(dir.file("real"));
  write_file_atomic(dir.file("real/old.safetensors"), "stale");
  std::filesystem::create_symlink("real/old.safetensors", dir.file("link.safetensors"));
  std::filesystem::create_symlink("real/metrics.jsonl", dir.file("metrics.jsonl"));  // dangling: created
  std::filesystem::create_symlink("real/data.json.gz", dir.file("data.json.gz"));
  Result r = run(std::string(kQuickTrain) + " --save link.safetensors --metrics metrics.jsonl", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  r = run("convert --valid 100 --out data.json.gz", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* link : {"link.safetensors", "metrics.jsonl", "data.json.gz"}) {
    EXPECT_TRUE(is_symlink(dir.file(link))) << link << " was replaced by a file";
  }
  EXPECT_EQ(load_model(dir.file("real/old.safetensors")).network.model(), "linear");
  EXPECT_NE(read_file(dir.file("real/metrics.jsonl")).find(R"("event":"final")"), std::string::npos);
  EXPECT_TRUE(is_gzip(read_file(dir.file("real/data.json.gz"))));
  // Resuming through the link reads and writes the target, and keeps the link.
  r = run(std::string(kQuickTrain) + " --save link.safetensors --stop-at 3", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  r = run("train --resume link.safetensors", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(is_symlink(dir.file("link.safetensors")));
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

TEST(Outputs, DashIsStandardOutputForStreamsAndRefusedForCheckpoints) {
  TempDir dir;
  write_data(dir);
  Result r = run(std::string(kQuickTrain) + " --save m.safetensors --metrics -", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("-")));
  // Standard output holds only the records; the course's lines went to stderr.
  std::istringstream lines(r.out);
  int records = 0;
  for (std::string line; std::getline(lines, line);) {
    EXPECT_TRUE(nlohmann::json::parse(line, nullptr, false).is_object()) << line;
    ++records;
  }
  EXPECT_GT(records, 2);
  EXPECT_NE(r.err.find("epoch: 0, batch: 0, loss is:"), std::string::npos) << r.err;

  r = run("convert --valid 100 --out -", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(is_gzip(r.out));
  EXPECT_FALSE(std::filesystem::exists(dir.file("-")));

  r = run(std::string(kQuickTrain) + " --save -", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--save: a checkpoint cannot go to standard output"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("-")));
  r = run("lr-find --model linear --out -", dir);
  EXPECT_EQ(r.code, 2) << r.err;
}

}  // namespace
}  // namespace mnist
