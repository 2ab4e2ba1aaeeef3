#pragma once
// Base64 (RFC 4648, with padding): how the web lab sends image bytes in JSON.
#include <string>
#include <cstdint>
#include <string_view>

namespace mnist {

std::string base64_encode(std::string_view bytes);

}  // namespace mnist
