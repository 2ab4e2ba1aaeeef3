#include "data/dataset.h"

#include <fmt/format.h>

#include <numeric>
#include <string_view>

#include "data/course_json.h"
#include "data/idx.h"
#include "io/file.h"
#include "util/error.h"
#include "util/rng.h"

namespace mnist {

void ImageSet::gather(std::span<const uint32_t> indices, const InputScaling& scaling,
                      float* images, uint8_t* labels_out) const {
  const size_t size = image_size();
  for (size_t i = 0; i < indices.size(); ++i) {
    const size_t at = static_cast<size_t>(indices[i]) * size;
    float* dst = images + i * size;
    if (values.empty()) {
      const uint8_t* src = pixels.data() + at;
      for (size_t j = 0; j < size; ++j) dst[j] = scaling.apply(src[j]);
    } else {
      std::copy(values.begin() + at, values.begin() + at + size, dst);
    }
    labels_out[i] = labels[indices[i]];
  }
}

ImageSet ImageSet::head(int n) const {
  ImageSet out;
  out.count = std::min(n, count);
  out.rows = rows;
  out.cols = cols;
  const size_t size = static_cast<size_t>(out.count) * image_size();
  if (!pixels.empty()) out.pixels.assign(pixels.begin(), pixels.begin() + size);
  if (!values.empty()) out.values.assign(values.begin(), values.begin() + size);
  out.labels.assign(labels.begin(), labels.begin() + out.count);
  return out;
}

namespace {

// The first of the usual spellings that exists: "train-images-idx3-ubyte",
// the ".idx3-ubyte" variant, each raw or gzipped.
std::string find_idx_file(const std::string& folder, const std::string& prefix, const char* dims) {
  for (const char* sep : {"-", "."}) {
    for (const char* ext : {"", ".gz"}) {
      const std::string path = fmt::format("{}/{}{}{}-ubyte{}", folder, prefix, sep, dims, ext);
      if (file_exists(path)) return path;
    }
  }
  throw Error(fmt::format("{}: no {}-{}-ubyte file (raw or .gz) in this folder", folder, prefix, dims));
}

ImageSet load_idx_pair(const std::string& folder, const std::string& stem) {
  const std::string images_path = find_idx_file(folder, stem + "-images", "idx3");
  const std::string labels_path = find_idx_file(folder, stem + "-labels", "idx1");
  ImageSet set = read_idx_images(images_path);
  set.labels = read_idx_labels(labels_path, kNumClasses);
  if (set.labels.size() != static_cast<size_t>(set.count)) {
    throw Error(fmt::format("{}: {} labels, but {} has {} images", labels_path, set.labels.size(),
                            images_path, set.count));
  }
  return set;
}

}  // namespace

DataSplits load_data(const std::string& path, Splits which) {
  if (is_directory(path)) {
    DataSplits splits;
    splits.test = load_idx_pair(path, "t10k");
    if (which == Splits::TestOnly) return splits;
    splits.train = load_idx_pair(path, "train");
    if (splits.test.rows != splits.train.rows || splits.test.cols != splits.train.cols) {
      throw Error(fmt::format("{}: test images are {}x{} but training images are {}x{}", path,
                              splits.test.rows, splits.test.cols, splits.train.rows,
                              splits.train.cols));
    }
    return splits;
  }
  if (file_exists(path)) return read_course_json(path);
  // Debian's dataset-NAME packages install /usr/share/datasets/NAME.
  constexpr std::string_view kDebianDatasets = "/usr/share/datasets/";
  if (path.rfind(kDebianDatasets, 0) == 0 && path.size() > kDebianDatasets.size()) {
    const std::string name = path.substr(kDebianDatasets.size(), path.find('/', kDebianDatasets.size()) -
                                                                     kDebianDatasets.size());
    throw Error(fmt::format("{}: no such file or folder (apt-get install dataset-{})", path, name));
  }
  throw Error(fmt::format("{}: no such file or folder (expected a folder of IDX files or a "
                          "mnist.json.gz; scripts/setup.sh downloads MNIST to data/mnist)",
                          path));
}

std::vector<uint32_t> epoch_order(int count, uint64_t seed, int epoch, bool shuffle) {
  std::vector<uint32_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), 0u);
  if (shuffle) {
    Rng rng(mix_seed(seed, /*stream=*/1000 + static_cast<uint64_t>(epoch)));
    mnist::shuffle(order, rng);
  }
  return order;
}

}  // namespace mnist
