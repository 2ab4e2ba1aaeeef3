#include "cli/common.h"

#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>

#include "util/error.h"

namespace mnist::cli {

std::string default_data_path() {
  const char* env = std::getenv("MNIST_DATA");
  return env && *env ? env : "data/mnist";
}

CLI::Option* add_data_option(CLI::App* cmd, std::string& path) {
  path = default_data_path();
  return cmd
      ->add_option("--data", path,
                   "Folder of IDX files (train-images-idx3-ubyte, ... raw or .gz) or a course "
                   "mnist.json.gz; $MNIST_DATA overrides the default")
      ->capture_default_str();
}

CLI::Option* add_threads_option(CLI::App* cmd, int& threads) {
  return cmd->add_option("--threads", threads, "Worker threads; 0 uses every core")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
}

DataSplits load_data_for(const std::string& path, const InputScaling& model_scaling) {
  DataSplits data = load_data(path);
  if (!data.train.values.empty() && !(data.scaling == model_scaling)) {
    // pixel = (v - offset) / scale in the data's scaling; then the model's.
    for (ImageSet* set : {&data.train, &data.valid, &data.test}) {
      for (float& v : set->values) {
        v = (v - data.scaling.offset) / data.scaling.scale * model_scaling.scale + model_scaling.offset;
      }
    }
  }
  data.scaling = model_scaling;
  return data;
}

void require_input_shape(const Network<float>& network, const ImageSet& images, const std::string& model,
                         const std::string& data) {
  const Shape got = network.input_shape(), want{1, images.rows, images.cols};
  if (!(got == want)) {
    throw Error(fmt::format("{}: the model takes {}x{} images, {} has {}x{}", model, got.height, got.width, data,
                            want.height, want.width));
  }
}

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

}  // namespace mnist::cli
