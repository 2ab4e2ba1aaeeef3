// Classify a photo or drawing of a digit with a checkpoint trained by
// `mnist train`, through the installed library (find_package(mnist)).
//
//   classify MODEL.safetensors IMAGE
#include <cstdio>
#include <exception>

#include "checkpoint/checkpoint.h"
#include "io/image.h"
#include "train/predict.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: classify MODEL.safetensors IMAGE\n");
    return 2;
  }
  try {
    const mnist::SavedModel model = mnist::load_model(argv[1]);
    mnist::ImageClassifier classifier(model, argv[1]);
    const mnist::Prediction p = classifier.classify(mnist::read_image(argv[2]), argv[2]);
    std::printf("%s: %d (p = %.3f)\n", argv[2], p.digit, p.probabilities[p.digit]);
    return 0;
  } catch (const std::exception& e) {  // mnist::Error names the file and the reason
    std::fprintf(stderr, "classify: %s\n", e.what());
    return 1;
  }
}
