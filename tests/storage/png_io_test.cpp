// PNG I/O: round trips, and refusals of what would silently change values.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <iterator>

#include "storage/test_support.h"
#include "ugs/storage/png_io.h"

namespace ugs::storage {
namespace {

namespace fs = std::filesystem;
using testing::TemporaryFolder;

std::vector<std::uint8_t> ramp(std::size_t size) {
  std::vector<std::uint8_t> values(size);
  for (std::size_t i = 0; i < size; ++i) values[i] = static_cast<std::uint8_t>(i * 7 % 256);
  return values;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(PngIo, GrayRoundTrip) {
  TemporaryFolder folder;
  const std::vector<std::uint8_t> pixels = ramp(13 * 21);
  write_png_gray8(folder / "g.png", 13, 21, pixels);
  const GrayImage image = read_png_gray8(folder / "g.png");
  EXPECT_EQ(image.height, 13);
  EXPECT_EQ(image.width, 21);
  EXPECT_EQ(image.pixels, pixels);
  EXPECT_EQ(std::distance(fs::directory_iterator(folder.path()), {}), 1);  // no temporary left
}

TEST(PngIo, RgbIsWrittenAndRefusedAsGray) {
  TemporaryFolder folder;
  write_png_rgb8(folder / "c.png", 4, 5, ramp(4 * 5 * 3));
  const std::string bytes = read_bytes(folder / "c.png");
  ASSERT_GT(bytes.size(), 26u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  EXPECT_EQ(static_cast<int>(bytes[24]), 8);  // IHDR bit depth
  EXPECT_EQ(static_cast<int>(bytes[25]), 2);  // IHDR colour type: RGB
  testing::expect_error([&] { read_png_gray8(folder / "c.png"); }, folder / "c.png", "not a grayscale PNG");
}

TEST(PngIo, RgbRoundTripAndGrayRefusedAsRgb) {
  TemporaryFolder folder;
  const std::vector<std::uint8_t> rgb = ramp(6 * 5 * 3);
  write_png_rgb8(folder / "c.png", 6, 5, rgb);
  const RgbImage image = read_png_rgb8(folder / "c.png");
  EXPECT_EQ(image.height, 6);
  EXPECT_EQ(image.width, 5);
  EXPECT_EQ(image.pixels, rgb);
  write_png_gray8(folder / "g.png", 6, 5, ramp(6 * 5));
  testing::expect_error([&] { read_png_rgb8(folder / "g.png"); }, folder / "g.png", "not an RGB PNG");
  testing::expect_error([&] { read_png_rgb8(folder / "absent.png"); }, folder / "absent.png", "missing");
}

TEST(PngIo, WrongBufferSizeIsRefused) {
  TemporaryFolder folder;
  testing::expect_error([&] { write_png_gray8(folder / "g.png", 4, 4, ramp(15)); }, folder / "g.png",
               "15 bytes for a 4x4x1 PNG, expected 16");
  testing::expect_error([&] { write_png_rgb8(folder / "c.png", 4, 4, ramp(16)); }, folder / "c.png", "expected 48");
  EXPECT_TRUE(fs::is_empty(folder.path()));
}

TEST(PngIo, MissingOrNotAPng) {
  TemporaryFolder folder;
  testing::expect_error([&] { read_png_gray8(folder / "absent.png"); }, folder / "absent.png", "missing");
  std::ofstream(folder / "text.png") << "hello";
  testing::expect_error([&] { read_png_gray8(folder / "text.png"); }, folder / "text.png", "not a readable PNG");
}

// A gAMA chunk far from sRGB would make libpng convert the values: refused.
TEST(PngIo, NonSrgbGammaIsRefused) {
  TemporaryFolder folder;
  write_png_gray8(folder / "g.png", 3, 3, ramp(9));
  std::string bytes = read_bytes(folder / "g.png");
  const std::size_t after_ihdr = 8 + 8 + 13 + 4;
  auto chunk = [](const std::string& type, std::uint32_t value) {
    std::string data = type;
    for (int shift = 24; shift >= 0; shift -= 8) data += static_cast<char>(value >> shift & 0xff);
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    std::string out = std::string("\0\0\0\4", 4) + data;
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(crc >> shift & 0xff);
    return out;
  };
  std::ofstream(folder / "linear.png", std::ios::binary) << bytes.substr(0, after_ihdr) + chunk("gAMA", 100000) +
                                                                bytes.substr(after_ihdr);
  testing::expect_error([&] { read_png_gray8(folder / "linear.png"); }, folder / "linear.png", "has gamma 1");
  std::ofstream(folder / "srgb.png", std::ios::binary) << bytes.substr(0, after_ihdr) + chunk("gAMA", 45455) +
                                                              bytes.substr(after_ihdr);
  EXPECT_EQ(read_png_gray8(folder / "srgb.png").pixels, ramp(9));
}

}  // namespace
}  // namespace ugs::storage
