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
  double accuracy() const { return samples ? static_cast<double>(correct) / samples : 0.0; }
};

// Accuracy and mean loss of the network on a whole set, split across the
// pool in fixed blocks (the result does not depend on the thread count).
EvalResult evaluate(const Network<float>& network, const ImageSet& set, const InputScaling& scaling,
                    ThreadPool& pool);

// Class probabilities (n, classes) for n inputs already scaled.
std::vector<float> predict_probabilities(const Network<float>& network, const float* inputs, int n);

}  // namespace mnist
