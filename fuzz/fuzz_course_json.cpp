// libFuzzer entry for mnist::fuzz::course_json (see targets.h).
#include <cstddef>
#include <cstdint>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnist::fuzz::course_json({reinterpret_cast<const char*>(data), size});
  return 0;
}
