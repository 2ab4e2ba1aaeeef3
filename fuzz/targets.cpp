#include "targets.h"

#include <string>

#include "data/course_json.h"
#include "data/idx.h"
#include "checkpoint/checkpoint.h"
#include "io/file.h"
#include "io/gzip.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "train/resume.h"
#include "util/error.h"

namespace mnist::fuzz {

void idx(std::string_view bytes) {
  try {
    parse_idx_images(bytes, "fuzz");
  } catch (const Error&) {
  }
  try {
    parse_idx_labels(bytes, "fuzz", 10);
  } catch (const Error&) {
  }
}

void gzip(std::string_view bytes) {
  try {
    parse_idx_images(gunzip_if_compressed(std::string(bytes), "fuzz", 1 << 24), "fuzz");
  } catch (const Error&) {
  }
}

void course_json(std::string_view bytes) {
  try {
    parse_course_json(bytes, "fuzz");
  } catch (const Error&) {
  }
}

void safetensors(std::string_view bytes) {
  try {
    const SafeTensorsFile file{std::string(bytes), "fuzz"};
    for (const auto& name : file.names()) (void)file.shape(name);
  } catch (const Error&) {
  }
  try {
    const SavedModel model = parse_model(std::string(bytes), "fuzz");
    const ResumePoint point = read_resume_point(model);
    auto optimizer = make_optimizer(point.config.optimizer, model.network.tensors());
    restore_optimizer(model, *optimizer);
  } catch (const Error&) {
  } catch (const UsageError&) {  // a configuration with invalid hyperparameters
  }
}

void image(std::string_view bytes) {
  try {
    const GrayImage img = decode_image(bytes, "fuzz");
    if (static_cast<long>(img.width) * img.height <= (1L << 20)) preprocess_digit(img, "fuzz");
  } catch (const Error&) {
  }
}

}  // namespace mnist::fuzz
