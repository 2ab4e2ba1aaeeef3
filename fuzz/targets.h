#pragma once
// One entry per reader: parse arbitrary bytes the way a user's file would be
// parsed, accepting an Error (a clear refusal) and nothing worse. The
// libFuzzer targets (fuzz_<name>.cpp) and the unit test that replays the
// committed corpus and every past crash (tests/test_fuzz_corpus.cpp) both
// call these.
#include <string_view>

namespace mnist::fuzz {

void idx(std::string_view bytes);          // IDX images and labels
void gzip(std::string_view bytes);         // gzip inflation, then IDX
void course_json(std::string_view bytes);  // the course's JSON data
void safetensors(std::string_view bytes);  // checkpoints: model, resume state, optimizer state
void image(std::string_view bytes);        // PNG/JPEG/BMP decoding and predict's preprocessing

using Target = void (*)(std::string_view);
struct NamedTarget {
  const char* name;
  Target run;
};
inline constexpr NamedTarget kTargets[] = {
    {"idx", idx}, {"gzip", gzip}, {"course_json", course_json}, {"safetensors", safetensors}, {"image", image}};

}  // namespace mnist::fuzz
