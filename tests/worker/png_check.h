// Reading back the header of a PNG file that gnuplot drew: its signature and its size.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ugs::testing {

struct PngSize {
  bool valid = false;  // the PNG signature followed by an IHDR chunk
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

inline PngSize png_size(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  static const std::array<unsigned char, 8> kSignature = {0x89, 'P',  'N',  'G',
                                                          '\r', '\n', 0x1a, '\n'};
  PngSize size;
  if (bytes.size() < 24 || !std::equal(kSignature.begin(), kSignature.end(), bytes.begin()) ||
      std::string(bytes.begin() + 12, bytes.begin() + 16) != "IHDR") {
    return size;
  }
  auto big_endian = [&](std::size_t at) {
    return std::uint32_t(bytes[at]) << 24 | std::uint32_t(bytes[at + 1]) << 16 |
           std::uint32_t(bytes[at + 2]) << 8 | std::uint32_t(bytes[at + 3]);
  };
  size.valid = true;
  size.width = big_endian(16);
  size.height = big_endian(20);
  return size;
}

}  // namespace ugs::testing
