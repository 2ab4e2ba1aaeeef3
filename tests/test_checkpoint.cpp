// Checkpoints: the round trip, and every kind of malformed safetensors file.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "helpers.h"
#include "checkpoint/checkpoint.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "nn/models.h"
#include "util/error.h"

namespace mnist {
namespace {

using test::TempDir;

std::string header_file(const std::string& header, const std::string& data) {
  std::string out;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + data;
}

void expect_refused(const std::string& bytes, const std::string& fragment) {
  try {
    SafeTensorsFile file(bytes, "m.safetensors");
    ADD_FAILURE() << "accepted; expected: " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("m.safetensors: ", 0), 0u) << e.what();
  }
}

TEST(SafeTensors, WritesTheStandardLayout) {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {7};
  const std::string bytes = safetensors_bytes({{"k", "v"}}, {{"a", {2, 3}, a}, {"b", {1}, b}});
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  EXPECT_EQ((8 + n) % 8, 0u) << "data must start 8-byte aligned";
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["__metadata__"]["k"], "v");
  EXPECT_EQ(header["a"]["dtype"], "F32");
  EXPECT_EQ(header["a"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(header["a"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(header["b"]["data_offsets"], nlohmann::json({24, 28}));
  EXPECT_EQ(bytes.size(), 8 + n + 28);
  float first = 0;
  std::memcpy(&first, bytes.data() + 8 + n, 4);
  EXPECT_EQ(first, 1.0f);
}

TEST(SafeTensors, RefusesMalformedFiles) {
  const std::string data(8, '\0');
  expect_refused("abc", "too short");
  expect_refused(header_file("{}", "").substr(0, 8) + "{", "header size");
  std::string huge = header_file("{}", "");
  huge[7] = 0x10;
  expect_refused(huge, "exceeds the file");
  expect_refused(header_file("not json", ""), "not valid JSON");
  expect_refused(header_file("[1,2]", ""), "not a JSON object");
  expect_refused(header_file(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", data), "dtype \"F16\"");
  expect_refused(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", data), "outside the data");
  expect_refused(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,0]}})", data), "outside the data");
  expect_refused(header_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data), "shape needs 12");
  expect_refused(header_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data), "invalid shape");
  expect_refused(header_file(R"({"a":{"dtype":"F32","shape":[2]}})", data), "lacks");
  expect_refused(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", data), "overlap");
  expect_refused(header_file(R"({"__metadata__":{"k":1}})", data), "not a string");
}

TEST(Checkpoint, RoundTripsWeightsScalingAndOptimizerState) {
  TempDir dir;
  Network<float> net = make_network<float>("cnn", {1, 28, 28}, 10);
  net.init(5);
  OptimizerConfig oc;
  oc.set("momentum", 0.9);
  auto opt = make_optimizer(oc, net.tensors());
  std::vector<float> grad(net.num_params(), 0.01f);
  opt->step(net.params(), grad, 0.1);
  save_checkpoint(dir.file("m.safetensors"), net, InputScaling{0.5f, -1.0f}, {{"config", R"({"seed":5})"}}, opt.get());
  const SavedModel back = load_model(dir.file("m.safetensors"));
  EXPECT_EQ(back.network.model(), "cnn");
  EXPECT_TRUE(std::equal(net.params().begin(), net.params().end(), back.network.params().begin()));
  EXPECT_EQ(back.scaling, (InputScaling{0.5f, -1.0f}));
  EXPECT_EQ(back.metadata.at("config"), R"({"seed":5})");
  EXPECT_EQ(back.metadata.at("optim.steps"), "1");
  const auto file = SafeTensorsFile::read(dir.file("m.safetensors"));
  EXPECT_EQ(file.shape("conv1.weight"), (std::vector<int64_t>{20, 1, 5, 5}));
  EXPECT_EQ(file.shape("conv2.weight"), (std::vector<int64_t>{20, 20, 5, 5}));
  EXPECT_EQ(file.shape("fc.weight"), (std::vector<int64_t>{10, 980}));
  EXPECT_EQ(file.shape("fc.bias"), (std::vector<int64_t>{10}));
  EXPECT_TRUE(file.contains("optim.momentum_buffer.conv1.weight"));
}

TEST(Checkpoint, RefusesTensorsThatDoNotFitTheModel) {
  TempDir dir;
  const std::vector<float> w(10 * 784, 0.0f), b(10, 0.0f), small(5, 0.0f);
  auto save = [&](const std::string& name, std::map<std::string, std::string> meta, std::vector<TensorRef> t) {
    write_file_atomic(dir.file(name), safetensors_bytes(meta, t));
    return dir.file(name);
  };
  auto expect_load_error = [](const std::string& path, const std::string& fragment) {
    try {
      load_model(path);
      ADD_FAILURE() << "loaded " << path;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  // A linear model written by another tool, without metadata, loads.
  EXPECT_EQ(load_model(save("ok", {}, {{"fc.weight", {10, 784}, w}, {"fc.bias", {10}, b}})).network.model(), "linear");
  expect_load_error(save("missing", {{"model", "linear"}}, {{"fc.weight", {10, 784}, w}}), "missing tensor 'fc.bias'");
  expect_load_error(save("shape", {{"model", "linear"}}, {{"fc.weight", {784, 10}, w}, {"fc.bias", {10}, b}}),
                    "has shape [784, 10], the model needs [10, 784]");
  expect_load_error(save("extra", {{"model", "linear"}},
                         {{"fc.weight", {10, 784}, w}, {"fc.bias", {10}, b}, {"x", {5}, small}}),
                    "unexpected tensor 'x'");
  expect_load_error(save("model", {{"model", "resnet"}}, {}), "unknown model 'resnet'");
  expect_load_error(save("fmt", {{"format", "other/9"}}, {}), "unsupported checkpoint format");
  expect_load_error(save("scale", {{"model", "linear"}, {"input_scale", "abc"}},
                         {{"fc.weight", {10, 784}, w}, {"fc.bias", {10}, b}}),
                    "'input_scale' is not a number");
  const std::vector<float> nan_b(10, std::nanf(""));
  expect_load_error(save("nan", {{"model", "linear"}}, {{"fc.weight", {10, 784}, w}, {"fc.bias", {10}, nan_b}}),
                    "NaN");
  expect_load_error(dir.file("absent.safetensors"), "cannot open");
}

TEST(AtomicWrite, LeavesNoTemporaryFileAndRefusesMissingFolders) {
  TempDir dir;
  write_file_atomic(dir.file("a.bin"), "first");
  write_file_atomic(dir.file("a.bin"), "second");
  EXPECT_EQ(read_file(dir.file("a.bin")), "second");
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
  EXPECT_THROW(write_file_atomic(dir.file("no/such/folder/a.bin"), "x"), Error);
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

// Models saved by PyTorch (tools/make_model_fixtures.py) give PyTorch's
// logits here: the layouts and the flattening order agree.
TEST(PyTorchCompatibility, LoadsTorchStateDictsAndReproducesTheirLogits) {
  std::ifstream in(std::string(MNIST_FIXTURES) + "/torch_logits.json");
  const auto fixture = nlohmann::json::parse(in);
  const auto inputs = fixture["inputs"].get<std::vector<float>>();
  for (const char* model : {"cnn", "linear"}) {
    SCOPED_TRACE(model);
    const SavedModel saved = load_model(std::string(MNIST_FIXTURES) + "/torch_" + model + ".safetensors");
    EXPECT_EQ(saved.network.model(), model);
    Workspace<float> ws(saved.network, 3);
    const float* logits = ws.forward(saved.network, inputs.data(), 3);
    const auto want = fixture["logits"][model];
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 10; ++j) {
        const double w = want[i][j].get<double>();
        EXPECT_NEAR(logits[i * 10 + j], w, 1e-5 * std::max(1.0, std::abs(w))) << i << "," << j;
      }
    }
  }
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

// Metadata must not make the loader allocate what the file cannot hold.
TEST(Checkpoint, RefusesMetadataThatWouldNeedHugeMemory) {
  const std::string bytes = safetensors_bytes({{"model", "linear"}, {"input_shape", "[4096, 4096, 4096]"}}, {});
  try {
    parse_model(bytes, "tiny.safetensors");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tiny.safetensors: a linear model for 4096x4096x4096 inputs"), std::string::npos)
        << e.what();
  }
}

TEST(SafeTensors, RefusesShapesWhoseSizeOverflows) {
  EXPECT_THROW(SafeTensorsFile(
                   header_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", ""),
                   "o.safetensors"),
               Error);
  const std::string deep = R"({"a":{"dtype":)" + std::string(100000, '[') + std::string(100000, ']') +
                           R"(,"shape":[1],"data_offsets":[0,4]}})";
  try {
    SafeTensorsFile(header_file(deep, "xxxx"), "deep.safetensors");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dtype of JSON type array"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mnist
