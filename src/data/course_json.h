#pragma once
// The course's data file, mnist.json.gz: a gzipped JSON list
//   [train, valid, eval],  each [images, labels],
// each image a list of rows*cols floats (784 for MNIST), each label 0..9.
// The course's own file has 50000/10000/10000 samples.
#include <string>
#include <string_view>

#include "data/dataset.h"

namespace mnist {

// Parses the (inflated) JSON text. what names the source in errors.
DataSplits parse_course_json(std::string_view json, const std::string& what);
// The same, parsing in place when capacity (of the buffer holding json)
// leaves room for the parser's padding.
DataSplits parse_course_json(std::string_view json, size_t capacity, const std::string& what);
DataSplits read_course_json(const std::string& path);

// The JSON text for splits, images written as pixel * scaling.scale + offset.
std::string course_json_text(const ImageSet& train, const ImageSet& valid, const ImageSet& eval,
                             const InputScaling& scaling);

}  // namespace mnist
