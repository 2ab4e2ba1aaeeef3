#pragma once
// Recognising the digit in a user's image: the photo preprocessing of
// io/image (as MNIST was made) and the model, for `mnist predict` and the
// web lab's /api/predict alike.
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "io/image.h"
#include "train/evaluate.h"

namespace mnist {

struct Prediction {
  int digit = 0;
  std::vector<float> probabilities;  // one per class
  std::vector<float> input;          // what the model saw: size x size grey levels 0..255, white ink on black
  int size = 0;
};

class ImageClassifier {
 public:
  // Error naming the model when it does not take square grey images.
  ImageClassifier(const SavedModel& model, const std::string& what);
  // Error naming `what` for an image with no digit in it.
  Prediction classify(const GrayImage& image, const std::string& what);

 private:
  const SavedModel& model_;
  Predictor predict_;
  int size_, box_;
};

// The k most probable classes, most probable first (ties: the lower digit).
std::vector<std::pair<int, float>> top_k(const std::vector<float>& probabilities, int k);

// The input as rows of text, darker characters for more ink (predict --show).
std::vector<std::string> input_as_text(const Prediction& p);

}  // namespace mnist
