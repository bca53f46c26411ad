#include "ugs/storage/png_io.h"

#include <png.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>

#include "ugs/storage/atomic_file.h"

namespace ugs::storage {

namespace fs = std::filesystem;

namespace {

// png_image owns libpng state until png_image_free; this frees it on every path out.
struct PngImage {
  png_image image;
  PngImage() {
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
  }
  ~PngImage() { png_image_free(&image); }
  PngImage(const PngImage&) = delete;
  PngImage& operator=(const PngImage&) = delete;
};

void write_png(const fs::path& file, int height, int width, const std::vector<std::uint8_t>& pixels,
               png_uint_32 format, int channels) {
  if (height <= 0 || width <= 0) {
    throw std::runtime_error(file.string() + ": cannot write a " + std::to_string(height) + "x" +
                             std::to_string(width) + " PNG");
  }
  const std::size_t expected = static_cast<std::size_t>(height) * width * channels;
  if (pixels.size() != expected) {
    throw std::runtime_error(file.string() + ": " + std::to_string(pixels.size()) + " bytes for a " +
                             std::to_string(height) + "x" + std::to_string(width) + "x" +
                             std::to_string(channels) + " PNG, expected " + std::to_string(expected));
  }
  write_file_atomically(file, [&](const fs::path& temporary) {
    PngImage png;
    png.image.width = static_cast<png_uint_32>(width);
    png.image.height = static_cast<png_uint_32>(height);
    png.image.format = format;
    if (!png_image_write_to_file(&png.image, temporary.c_str(), 0, pixels.data(), 0, nullptr)) {
      throw std::runtime_error(file.string() + ": cannot write PNG: " + png.image.message);
    }
  });
}

std::uint32_t big_endian_32(const unsigned char* bytes) {
  return std::uint32_t(bytes[0]) << 24 | std::uint32_t(bytes[1]) << 16 | std::uint32_t(bytes[2]) << 8 | bytes[3];
}

// The gAMA value (gamma x 100000) of a PNG, if it has one before its image data. libpng's simplified
// API converts 8-bit pixels whose gamma differs from sRGB's, which would change a CT window's values.
std::optional<std::uint32_t> png_gamma(const std::vector<unsigned char>& bytes) {
  std::size_t at = 8;  // after the signature
  while (at + 8 <= bytes.size()) {
    const std::uint32_t length = big_endian_32(&bytes[at]);
    const std::string type(reinterpret_cast<const char*>(&bytes[at + 4]), 4);
    if (type == "IDAT") break;
    if (type == "gAMA" && length == 4 && at + 12 <= bytes.size()) return big_endian_32(&bytes[at + 8]);
    at += 12 + static_cast<std::size_t>(length);  // length, type, data, CRC
  }
  return std::nullopt;
}

// Decodes `file` to 8-bit pixels of `format` (PNG_FORMAT_GRAY or PNG_FORMAT_RGB) once `check_format`
// has accepted the file's own format; fills height and width.
template <class CheckFormat>
std::vector<std::uint8_t> decode_png(const fs::path& file, png_uint_32 format, int& height, int& width,
                                     CheckFormat check_format) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file.string() + ": missing or unreadable");
  const std::vector<unsigned char> bytes(std::istreambuf_iterator<char>(in), {});
  constexpr std::uint32_t kSrgbGamma = 45455;  // 1/2.2, which libpng leaves alone
  if (auto gamma = png_gamma(bytes); gamma && std::abs(long(*gamma) - long(kSrgbGamma)) > kSrgbGamma / 20) {
    throw std::runtime_error(file.string() + ": has gamma " + std::to_string(*gamma / 100000.0) +
                             " (gAMA chunk); reading would convert its pixel values");
  }
  PngImage png;
  if (!png_image_begin_read_from_memory(&png.image, bytes.data(), bytes.size())) {
    throw std::runtime_error(file.string() + ": not a readable PNG: " + png.image.message);
  }
  check_format(png.image.format);
  if (png.image.format & PNG_FORMAT_FLAG_LINEAR) {
    throw std::runtime_error(file.string() + ": a 16-bit PNG, expected 8 bits per channel");
  }
  png.image.format = format;
  height = static_cast<int>(png.image.height);
  width = static_cast<int>(png.image.width);
  std::vector<std::uint8_t> pixels(PNG_IMAGE_SIZE(png.image));
  if (!png_image_finish_read(&png.image, nullptr, pixels.data(), 0, nullptr)) {
    throw std::runtime_error(file.string() + ": cannot read PNG: " + png.image.message);
  }
  return pixels;
}

}  // namespace

GrayImage read_png_gray8(const fs::path& file) {
  GrayImage result;
  result.pixels = decode_png(file, PNG_FORMAT_GRAY, result.height, result.width, [&](png_uint_32 format) {
    if (format & (PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_COLORMAP)) {
      throw std::runtime_error(file.string() + ": not a grayscale PNG (it has colour, alpha or a palette)");
    }
  });
  return result;
}

RgbImage read_png_rgb8(const fs::path& file) {
  RgbImage result;
  result.pixels = decode_png(file, PNG_FORMAT_RGB, result.height, result.width, [&](png_uint_32 format) {
    if (!(format & PNG_FORMAT_FLAG_COLOR) || (format & (PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_COLORMAP))) {
      throw std::runtime_error(file.string() + ": not an RGB PNG (it is grayscale, or has alpha or a palette)");
    }
  });
  return result;
}

void write_png_gray8(const fs::path& file, int height, int width, const std::vector<std::uint8_t>& pixels) {
  write_png(file, height, width, pixels, PNG_FORMAT_GRAY, 1);
}

void write_png_rgb8(const fs::path& file, int height, int width, const std::vector<std::uint8_t>& rgb) {
  write_png(file, height, width, rgb, PNG_FORMAT_RGB, 3);
}

}  // namespace ugs::storage
