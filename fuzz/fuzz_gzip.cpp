// libFuzzer entry for mnist::fuzz::gzip (see targets.h).
#include <cstddef>
#include <cstdint>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnist::fuzz::gzip({reinterpret_cast<const char*>(data), size});
  return 0;
}
