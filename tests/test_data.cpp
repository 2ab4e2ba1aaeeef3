// Loaders on good and malformed files: every fault gives an Error that names
// the file and the reason.
#include <gtest/gtest.h>

#include <fstream>

#include "data/course_json.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "helpers.h"
#include "io/file.h"
#include "io/gzip.h"
#include "util/error.h"

namespace mnist {
namespace {

using test::TempDir;

ImageSet tiny_set(int count, int rows, int cols) {
  ImageSet s;
  s.count = count, s.rows = rows, s.cols = cols;
  for (int i = 0; i < count * rows * cols; ++i) s.pixels.push_back(static_cast<uint8_t>(i * 37 % 256));
  for (int i = 0; i < count; ++i) s.labels.push_back(static_cast<uint8_t>(i % 10));
  return s;
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Expects an Error whose message contains each of the fragments.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  }
}

TEST(Idx, RoundTripsImagesAndLabels) {
  const ImageSet s = tiny_set(3, 4, 5);
  const ImageSet back = parse_idx_images(idx_images_bytes(s), "x");
  EXPECT_EQ(back.count, 3);
  EXPECT_EQ(back.rows, 4);
  EXPECT_EQ(back.cols, 5);
  EXPECT_EQ(back.pixels, s.pixels);
  EXPECT_EQ(parse_idx_labels(idx_labels_bytes(s.labels), "y", 10), s.labels);
}

TEST(Idx, RefusesMalformedImageFiles) {
  const std::string good = idx_images_bytes(tiny_set(3, 4, 5));
  std::string bad_magic = good;
  bad_magic[3] = 0x01;
  expect_error([&] { parse_idx_images(bad_magic, "f.idx"); }, {"f.idx", "bad magic number"});
  expect_error([&] { parse_idx_images(good.substr(0, 2), "f.idx"); }, {"f.idx", "too short"});
  expect_error([&] { parse_idx_images(good.substr(0, 10), "f.idx"); }, {"f.idx", "truncated IDX header"});
  expect_error([&] { parse_idx_images(good.substr(0, good.size() - 1), "f.idx"); }, {"f.idx", "truncated"});
  expect_error([&] { parse_idx_images(good + "x", "f.idx"); }, {"f.idx", "trailing bytes"});
  std::string zero_dim = good;
  zero_dim[11] = 0;  // rows = 0
  expect_error([&] { parse_idx_images(zero_dim, "f.idx"); }, {"f.idx", "dimension 1 is zero"});
  std::string huge = good;
  huge[4] = 0x7f;  // count ~ 2^31
  expect_error([&] { parse_idx_images(huge, "f.idx"); }, {"f.idx"});
  const std::string labels_as_images = idx_labels_bytes({1, 2, 3});
  expect_error([&] { parse_idx_images(labels_as_images, "f.idx"); }, {"bad magic number"});
}

TEST(Idx, RefusesLabelsOutOfRange) {
  expect_error([&] { parse_idx_labels(idx_labels_bytes({1, 2, 10}), "l.idx", 10); },
               {"l.idx", "label 10 at index 2 is out of range 0..9"});
}

TEST(Gzip, ReadsCompressedAndRefusesDamagedStreams) {
  TempDir dir;
  const std::string raw = idx_images_bytes(tiny_set(2, 3, 3));
  const std::string gz = gzip_compress(raw);
  write(dir.file("a.gz"), gz);
  EXPECT_EQ(read_maybe_gzip(dir.file("a.gz")), raw);
  write(dir.file("b.gz"), gz + gz);  // two members, like `cat a.gz a.gz`
  EXPECT_EQ(read_maybe_gzip(dir.file("b.gz")), raw + raw);
  // Zero padding after the last member (tape blocks) is accepted, as gzip -d
  // does; anything else after it is not.
  write(dir.file("z.gz"), gz + std::string(512, '\0'));
  EXPECT_EQ(read_maybe_gzip(dir.file("z.gz")), raw);
  write(dir.file("g.gz"), gz + "junk");
  expect_error([&] { read_maybe_gzip(dir.file("g.gz")); }, {"g.gz", "gzip"});
  // A large first member and a tiny last one: the last trailer's size is a
  // poor guess, and the buffer must grow.
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  write(dir.file("m.gz"), gzip_compress(big) + gzip_compress("end"));
  EXPECT_EQ(read_maybe_gzip(dir.file("m.gz")), big + "end");
  write(dir.file("t.gz"), gz.substr(0, gz.size() / 2));
  expect_error([&] { read_maybe_gzip(dir.file("t.gz")); }, {"t.gz", "truncated gzip"});
  std::string corrupt = gz;
  for (size_t i = 12; i < corrupt.size() - 8; ++i) corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
  write(dir.file("c.gz"), corrupt);
  expect_error([&] { read_maybe_gzip(dir.file("c.gz")); }, {"c.gz", "gzip"});
  expect_error([&] { read_maybe_gzip(dir.file("missing.gz")); }, {"missing.gz", "cannot open"});
}

TEST(Gzip, RefusesOutputBeyondTheLimit) {
  const std::string zeros(1 << 20, '\0');
  expect_error([&] { gunzip_if_compressed(gzip_compress(zeros), "bomb.gz", 1 << 16); },
               {"bomb.gz", "larger than"});
}

void write_idx_folder(const TempDir& dir, const ImageSet& train, const ImageSet& test, bool gz) {
  auto put = [&](const std::string& name, const std::string& bytes) {
    write(dir.file(name + (gz ? ".gz" : "")), gz ? gzip_compress(bytes) : bytes);
  };
  put("train-images-idx3-ubyte", idx_images_bytes(train));
  put("train-labels-idx1-ubyte", idx_labels_bytes(train.labels));
  put("t10k-images-idx3-ubyte", idx_images_bytes(test));
  put("t10k-labels-idx1-ubyte", idx_labels_bytes(test.labels));
}

TEST(LoadData, ReadsRawAndGzippedIdxFolders) {
  for (bool gz : {false, true}) {
    TempDir dir;
    write_idx_folder(dir, tiny_set(12, 6, 6), tiny_set(5, 6, 6), gz);
    const DataSplits d = load_data(dir.path().string());
    EXPECT_EQ(d.train.count, 12);
    EXPECT_EQ(d.test.count, 5);
    EXPECT_TRUE(d.valid.empty());
    EXPECT_EQ(d.train.pixels, tiny_set(12, 6, 6).pixels);
  }
}

// Evaluation needs only the test files: a folder without training files
// (or with damaged ones) still evaluates, and they are not read.
TEST(LoadData, TestOnlyReadsNoTrainingFiles) {
  TempDir dir;
  write_idx_folder(dir, tiny_set(12, 6, 6), tiny_set(5, 6, 6), false);
  write(dir.file("train-images-idx3-ubyte"), "damaged");
  std::filesystem::remove(dir.path() / "train-labels-idx1-ubyte");
  const DataSplits d = load_data(dir.path().string(), Splits::TestOnly);
  EXPECT_EQ(d.test.count, 5);
  EXPECT_TRUE(d.train.empty());
  expect_error([&] { load_data(dir.path().string()); }, {"train-"});
}

TEST(LoadData, RefusesCountMismatchAndMissingFiles) {
  TempDir dir;
  ImageSet train = tiny_set(12, 6, 6);
  write_idx_folder(dir, train, tiny_set(5, 6, 6), false);
  train.labels.pop_back();
  write(dir.file("train-labels-idx1-ubyte"), idx_labels_bytes(train.labels));
  expect_error([&] { load_data(dir.path().string()); }, {"train-labels-idx1-ubyte", "11 labels", "12 images"});
  train.labels.push_back(1);
  write(dir.file("train-labels-idx1-ubyte"), idx_labels_bytes(train.labels));
  std::filesystem::remove(dir.path() / "t10k-images-idx3-ubyte");
  expect_error([&] { load_data(dir.path().string()); }, {"t10k-images-idx3-ubyte"});
  expect_error([&] { load_data(dir.file("nowhere")); }, {"nowhere", "no such file or folder"});
}

TEST(LoadData, RefusesTestImagesOfAnotherSize) {
  TempDir dir;
  write_idx_folder(dir, tiny_set(4, 6, 6), tiny_set(4, 5, 5), false);
  expect_error([&] { load_data(dir.path().string()); }, {"test images are 5x5"});
}

TEST(CourseJson, RoundTripsThroughTheWriter) {
  const ImageSet a = tiny_set(3, 2, 2), b = tiny_set(2, 2, 2), c = tiny_set(1, 2, 2);
  const DataSplits d = parse_course_json(course_json_text(a, b, c, InputScaling{}), "m.json");
  EXPECT_EQ(d.train.count, 3);
  EXPECT_EQ(d.valid.count, 2);
  EXPECT_EQ(d.test.count, 1);
  EXPECT_EQ(d.train.rows, 2);
  EXPECT_EQ(d.train.labels, a.labels);
  ASSERT_EQ(d.train.values.size(), a.pixels.size());
  for (size_t i = 0; i < a.pixels.size(); ++i) EXPECT_EQ(d.train.values[i], a.pixels[i] * (1.0f / 255.0f));
  EXPECT_EQ(d.scaling, InputScaling{});
}

TEST(CourseJson, DetectsMinusOneToOneScaling) {
  const DataSplits d = parse_course_json("[[[[-1,1,0,0.5]],[3]],[[[0,0,0,0]],[1]],[[[0,0,0,0]],[2]]]", "m");
  EXPECT_EQ(d.scaling.offset, -1.0f);
  EXPECT_FLOAT_EQ(d.scaling.scale, 1.0f / 127.5f);
}

TEST(CourseJson, RefusesWrongStructure) {
  const std::string one = "[[[0,0,0,0]],[1]]";
  expect_error([&] { parse_course_json("{}", "m.json"); }, {"m.json", "expected a list"});
  expect_error([&] { parse_course_json("[" + one + "," + one + "]", "m.json"); }, {"m.json", "2 splits"});
  expect_error([&] { parse_course_json("[" + one + "," + one + "," + one + "," + one + "]", "m.json"); },
               {"more than 3 splits"});
  expect_error([&] { parse_course_json("[[[[0,0,0,0]]]," + one + "," + one + "]", "m.json"); },
               {"split 'train'", "1 parts"});
  expect_error([&] { parse_course_json("[[[[0,0,0]],[1]]," + one + "," + one + "]", "m.json"); },
               {"not a square number"});
  expect_error([&] { parse_course_json("[[[[0,0,0,0],[0,0,0]],[1,2]]," + one + "," + one + "]", "m.json"); },
               {"image 1 has 3 pixels, expected 4"});
  expect_error([&] { parse_course_json("[[[[0,0,0,0]],[11]]," + one + "," + one + "]", "m.json"); },
               {"label 11", "out of range"});
  expect_error([&] { parse_course_json("[[[[0,0,0,0]],[1,2]]," + one + "," + one + "]", "m.json"); },
               {"1 images but 2 labels"});
  expect_error([&] { parse_course_json("[[[[0,\"a\",0,0]],[1]]," + one + "," + one + "]", "m.json"); },
               {"not a number"});
  expect_error([&] { parse_course_json("[[[0,0,0,0],[1]]," + one + "," + one + "]", "m.json"); },
               {"not a list"});
  expect_error([&] { parse_course_json("[[[],[]]," + one + "," + one + "]", "m.json"); },
               {"split 'train' is empty"});
  expect_error([&] { parse_course_json("[[[[0,0,0,0]],[1]]," + one + ",[[[0]],[1]]]", "m.json"); },
               {"split 'eval' has 1x1 images"});
  expect_error([&] { parse_course_json("[[[[0,0", "m.json"); }, {"m.json"});
}

TEST(Batches, CoverEverySampleOnceAndKeepThePartialBatch) {
  EXPECT_EQ(batches_per_epoch(250, 100), 3);
  EXPECT_EQ(batch_range(250, 100, 2).begin, 200);
  EXPECT_EQ(batch_range(250, 100, 2).end, 250);
  const auto order = epoch_order(250, 42, 3, true);
  std::vector<uint32_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (uint32_t i = 0; i < 250; ++i) ASSERT_EQ(sorted[i], i);
}

TEST(Batches, ShuffleDependsOnSeedAndEpochOnly) {
  EXPECT_EQ(epoch_order(1000, 42, 3, true), epoch_order(1000, 42, 3, true));
  EXPECT_NE(epoch_order(1000, 42, 3, true), epoch_order(1000, 42, 4, true));
  EXPECT_NE(epoch_order(1000, 42, 3, true), epoch_order(1000, 43, 3, true));
  const auto plain = epoch_order(5, 42, 3, false);
  EXPECT_EQ(plain, (std::vector<uint32_t>{0, 1, 2, 3, 4}));
}

TEST(Gather, ScalesPixelsPerBatch) {
  const ImageSet s = tiny_set(3, 2, 2);
  std::vector<float> out(8);
  std::vector<uint8_t> labels(2);
  const std::vector<uint32_t> idx = {2, 0};
  s.gather(idx, InputScaling{0.5f, -1.0f}, out.data(), labels.data());
  EXPECT_EQ(out[0], s.pixels[8] * 0.5f - 1.0f);
  EXPECT_EQ(out[4], s.pixels[0] * 0.5f - 1.0f);
  EXPECT_EQ(labels, (std::vector<uint8_t>{2, 0}));
}

}  // namespace
}  // namespace mnist
