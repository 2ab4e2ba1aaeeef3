#pragma once
// Labelled image sets and the batches cut from them. IDX pixels stay uint8 in
// memory and are scaled as each batch is gathered; the course's JSON images
// arrive as floats and stay floats.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mnist {

// The network sees pixel * scale + offset for a pixel in [0, 255].
// How a pixel (0..255, or a grey level of a photo) becomes a network input.
// Training, course-JSON conversion and predict all scale through here.
struct InputScaling {
  float scale = 1.0f / 255.0f;
  float offset = 0.0f;
  float apply(float pixel) const { return pixel * scale + offset; }
  float pixel_of(float input) const { return (input - offset) / scale; }
  bool operator==(const InputScaling&) const = default;
};

struct ImageSet {
  int count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, or empty when values is used
  std::vector<float> values;    // already-scaled floats (course JSON), or empty
  std::vector<uint8_t> labels;  // count

  size_t image_size() const { return static_cast<size_t>(rows) * cols; }
  bool empty() const { return count == 0; }

  // Writes images [indices] as floats (n, 1, rows, cols) and their labels.
  void gather(std::span<const uint32_t> indices, const InputScaling& scaling, float* images,
              uint8_t* labels_out) const;
  // The first n images, as their own set.
  ImageSet head(int n) const;
};

// What a data source provides. valid is empty for IDX folders.
struct DataSplits {
  ImageSet train, valid, test;
  InputScaling scaling;  // what turns the source's pixels into network inputs
};

constexpr int kNumClasses = 10;

// path is a folder of IDX files (train-images-idx3-ubyte, train-labels-idx1-
// ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or .gz) or
// a course-format mnist.json.gz. Throws Error naming the file and the fault.
// With Splits::TestOnly an IDX folder's training files are not read (train
// is left empty; evaluation needs only t10k-*); a course JSON file holds
// its splits in one list and is read whole.
enum class Splits { All, TestOnly };
DataSplits load_data(const std::string& path, Splits which = Splits::All);

// Samples [begin, end) of batch b of an epoch with batch size B.
struct BatchRange {
  int begin, end;
};
inline BatchRange batch_range(int count, int batch_size, int b) {
  const int begin = b * batch_size;
  return {begin, begin + batch_size < count ? begin + batch_size : count};
}
inline int batches_per_epoch(int count, int batch_size) {
  return (count + batch_size - 1) / batch_size;  // the last partial batch is kept
}

// The sample order of an epoch: a permutation that depends only on
// (seed, epoch), so a resumed run sees the same batches.
std::vector<uint32_t> epoch_order(int count, uint64_t seed, int epoch, bool shuffle);

}  // namespace mnist
