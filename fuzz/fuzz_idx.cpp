// libFuzzer entry for mnist::fuzz::idx (see targets.h).
#include <cstddef>
#include <cstdint>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnist::fuzz::idx({reinterpret_cast<const char*>(data), size});
  return 0;
}
