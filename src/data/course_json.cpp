#include "data/course_json.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "io/file.h"
#include "io/gzip.h"
#include "util/error.h"

namespace mnist {

namespace {

using simdjson::ondemand::array;
namespace od = simdjson::ondemand;

// The value, or Error("WHAT: WHERE[: DETAIL]: reason"). The message is only
// built on failure: this runs once for every pixel.
template <class V>
V check(simdjson::simdjson_result<V> result, const std::string& what, const std::string& where,
        const char* detail = nullptr) {
  V value;
  if (auto err = std::move(result).get(value); err) {
    throw Error(detail ? fmt::format("{}: {}: {}: {}", what, where, detail, simdjson::error_message(err))
                       : fmt::format("{}: {}: {}", what, where, simdjson::error_message(err)));
  }
  return value;
}

// One split, [images, labels]: appends into set.
void parse_split(od::value split_value, const std::string& what, const char* name, ImageSet& set) {
  const std::string where = fmt::format("split '{}'", name);
  auto split = check(split_value.get_array(), what, where, "is not a list [images, labels]");
  int part = 0;
  for (auto element : split) {
    auto value = check(std::move(element), what, where);
    if (part == 0) {
      auto images = check(value.get_array(), what, where, "images are not a list");
      // Count first so the pixels are allocated once, not grown by doubling.
      const size_t count = check(images.count_elements(), what, where, "images are not a list");
      for (auto image_element : images) {
        auto image = check(check(std::move(image_element), what, where).get_array(), what,
                           where, "an image is not a list of numbers");
        size_t length = 0;
        for (auto px : image) {
          const double v = check(check(std::move(px), what, where).get_double(), what,
                                 where, "a pixel is not a number");
          if (!std::isfinite(v)) throw Error(fmt::format("{}: {}: a pixel is not finite", what, where));
          set.values.push_back(static_cast<float>(v));
          ++length;
        }
        if (set.count == 0 && set.rows == 0) {
          const auto side = static_cast<int>(std::lround(std::sqrt(static_cast<double>(length))));
          if (length == 0 || static_cast<size_t>(side) * side != length) {
            throw Error(fmt::format("{}: {}: image length {} is not a square number of pixels",
                                    what, where, length));
          }
          set.rows = set.cols = side;
          set.values.reserve(count * length);
        } else if (length != set.image_size()) {
          throw Error(fmt::format("{}: {}: image {} has {} pixels, expected {}", what, where,
                                  set.count, length, set.image_size()));
        }
        ++set.count;
      }
    } else if (part == 1) {
      auto labels = check(value.get_array(), what, where, "labels are not a list");
      for (auto label_element : labels) {
        const int64_t label = check(check(std::move(label_element), what, where).get_int64(), what,
                                    where, "a label is not an integer");
        if (label < 0 || label >= kNumClasses) {
          throw Error(fmt::format("{}: {}: label {} at index {} is out of range 0..{}", what, where,
                                  label, set.labels.size(), kNumClasses - 1));
        }
        set.labels.push_back(static_cast<uint8_t>(label));
      }
    }
    ++part;
  }
  if (part != 2) {
    throw Error(fmt::format("{}: {} has {} parts, expected 2 [images, labels]", what, where, part));
  }
  if (set.labels.size() != static_cast<size_t>(set.count)) {
    throw Error(fmt::format("{}: {} has {} images but {} labels", what, where, set.count,
                            set.labels.size()));
  }
}

}  // namespace

DataSplits parse_course_json(std::string_view json, const std::string& what) {
  return parse_course_json(json, json.size(), what);
}

DataSplits parse_course_json(std::string_view json, size_t capacity, const std::string& what) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse in place
  // when the buffer has that much to spare, else from a padded copy.
  simdjson::padded_string copy;
  simdjson::padded_string_view view;
  if (capacity >= json.size() + simdjson::SIMDJSON_PADDING) {
    view = simdjson::padded_string_view(json.data(), json.size(), capacity);
  } else {
    copy = simdjson::padded_string(json);
    view = copy;
  }
  od::parser parser;
  auto doc = check(parser.iterate(view), what, "invalid JSON");
  auto root = check(doc.get_array(), what, "expected a list [train, valid, eval]");
  DataSplits splits;
  static constexpr std::array<const char*, 3> kNames = {"train", "valid", "eval"};
  std::array<ImageSet*, 3> sets = {&splits.train, &splits.valid, &splits.test};
  size_t index = 0;
  for (auto element : root) {
    if (index >= 3) throw Error(what + ": has more than 3 splits, expected [train, valid, eval]");
    parse_split(check(std::move(element), what, "invalid JSON"), what, kNames[index], *sets[index]);
    ++index;
  }
  if (index != 3) {
    throw Error(fmt::format("{}: has {} splits, expected 3 [train, valid, eval]", what, index));
  }
  for (size_t s = 0; s < 3; ++s) {
    if (sets[s]->empty()) throw Error(fmt::format("{}: split '{}' is empty", what, kNames[s]));
    if (sets[s]->rows != splits.train.rows) {
      throw Error(fmt::format("{}: split '{}' has {}x{} images, train has {}x{}", what, kNames[s],
                              sets[s]->rows, sets[s]->cols, splits.train.rows, splits.train.cols));
    }
  }
  // The floats arrive already scaled. Record how pixels map onto them, so a
  // photo given to predict is scaled the same way: [-1, 1] data was made
  // with pixel/127.5 - 1, [0, 1] data with pixel/255.
  const float lowest = *std::min_element(splits.train.values.begin(), splits.train.values.end());
  splits.scaling = lowest < 0 ? InputScaling{1.0f / 127.5f, -1.0f} : InputScaling{};
  return splits;
}

DataSplits read_course_json(const std::string& path) {
  const std::string text = read_maybe_gzip(path);
  return parse_course_json(text, text.capacity(), path);
}

std::string course_json_text(const ImageSet& train, const ImageSet& valid, const ImageSet& eval,
                             const InputScaling& scaling) {
  // Each pixel value has one text form; make the 256 once.
  std::array<std::string, 256> text;
  for (int p = 0; p < 256; ++p) {
    text[p] = fmt::format("{}", scaling.apply(static_cast<float>(p)));
  }
  std::string out;
  out.reserve((train.pixels.size() + valid.pixels.size() + eval.pixels.size()) * 4);
  auto write_split = [&](const ImageSet& set) {
    out += "[[";
    for (int i = 0; i < set.count; ++i) {
      out += i ? ",[" : "[";
      const uint8_t* px = set.pixels.data() + static_cast<size_t>(i) * set.image_size();
      for (size_t j = 0; j < set.image_size(); ++j) {
        if (j) out += ',';
        out += text[px[j]];
      }
      out += ']';
    }
    out += "],[";
    for (int i = 0; i < set.count; ++i) {
      if (i) out += ',';
      out += std::to_string(set.labels[i]);
    }
    out += "]]";
  };
  out += '[';
  write_split(train);
  out += ',';
  write_split(valid);
  out += ',';
  write_split(eval);
  out += ']';
  return out;
}

}  // namespace mnist
