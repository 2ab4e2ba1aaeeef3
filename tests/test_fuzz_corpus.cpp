// Replays every committed fuzz input (fuzz/corpus/<target>/ seeds and
// fuzz/regressions/<target>/ crashes found earlier) through its reader. Under
// the sanitizer build in CI this catches memory errors, not just crashes.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/file.h"
#include "targets.h"

namespace mnist {
namespace {

TEST(FuzzCorpus, EverySeedAndPastCrashIsHandled) {
  const std::filesystem::path root = std::filesystem::path(MNIST_SOURCE_DIR) / "fuzz";
  size_t replayed = 0;
  for (const auto& target : fuzz::kTargets) {
    size_t seeds = 0;
    for (const char* kind : {"corpus", "regressions"}) {
      const auto dir = root / kind / target.name;
      if (!std::filesystem::exists(dir)) continue;
      for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        SCOPED_TRACE(entry.path().string());
        target.run(read_file(entry.path().string()));
        ++replayed;
        seeds += std::string(kind) == "corpus";
      }
    }
    EXPECT_GT(seeds, 0u) << "no seed corpus for fuzz target " << target.name;
  }
  EXPECT_GE(replayed, 5u);
}

}  // namespace
}  // namespace mnist
