#pragma once
// The page's files, compiled into the binary (cmake/embed_assets.cmake
// writes them from web/ and Debian's libjs-chart.js at build time).
#include <string_view>
#include <vector>

namespace mnist {

struct WebAsset {
  std::string_view path;          // "/", "/app.js", ...
  std::string_view content_type;
  std::string_view bytes;
};

const std::vector<WebAsset>& web_assets();

}  // namespace mnist
