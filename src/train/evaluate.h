#pragma once
#include <vector>

#include "data/dataset.h"
#include "nn/network.h"
#include "util/thread_pool.h"

namespace mnist {

struct EvalResult {
  double loss = 0;             // mean cross-entropy
  int correct = 0, samples = 0;
  std::vector<int> confusion;  // classes x classes, [true][predicted]
  std::vector<uint8_t> predicted;  // each sample's predicted class
  std::vector<float> confidence;   // ... and its probability
  std::vector<float> logits;       // samples x classes, when asked for
  double accuracy() const { return samples ? static_cast<double>(correct) / samples : 0.0; }
};

// Accuracy and mean loss of the network on a whole set, split across the
// pool in fixed blocks (the result does not depend on the thread count).
EvalResult evaluate(const Network<float>& network, const ImageSet& set, const InputScaling& scaling,
                    ThreadPool& pool, bool keep_logits = false);

// Per class, from the confusion matrix: of the samples predicted as the
// class, the share that are it (precision); of those that are it, the share
// predicted as it (recall). NaN where there is nothing to divide by.
struct ClassMetrics {
  int label = 0, support = 0;  // support: samples of the class
  double precision = 0, recall = 0;
};
std::vector<ClassMetrics> class_metrics(const EvalResult& r, int classes);

// Class probabilities of one image at a time, with the workspace kept from
// call to call: nothing is allocated per image.
class Predictor {
 public:
  explicit Predictor(const Network<float>& network);
  // input: one image, already scaled. The probabilities stay valid until
  // the next call.
  std::span<const float> operator()(const float* input);

 private:
  const Network<float>& network_;
  Workspace<float> workspace_;
  std::vector<float> probs_;
};

}  // namespace mnist
