// 8-bit PNG files: reading grayscale images (the UGS-Net authors' PNG layout) and RGB images (figures,
// checked by tests), writing grayscale or RGB images (imports, previews, figures). Thin wrappers over
// libpng's simplified API.
//
//   GrayImage mask = read_png_gray8("data/LIDC-IDRI-0002_1_3000522_union.png");  // 50x50, 0/255
//   write_png_rgb8("out/preview.png", height, width, rgb);  // rgb: height*width*3 bytes, R,G,B per pixel
//   RgbImage figure = read_png_rgb8("out/preview.png");     // the same bytes back
//
// Errors: std::runtime_error with one line naming the file (missing, not a PNG, not grayscale / not
// RGB, 16-bit, a gAMA chunk far from sRGB that libpng would apply, wrong buffer size, cannot write).
// Writes go through a temporary file and a rename, so a reader never sees half a PNG. Thread safety: the functions share no state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace ugs::storage {

// A row-major 8-bit grayscale image.
struct GrayImage {
  int height = 0;
  int width = 0;
  std::vector<std::uint8_t> pixels;  // height*width
};

// Reads a grayscale PNG of bit depth 1..8 (lower depths are scaled to 0..255). Colour, alpha,
// palette and 16-bit images are refused rather than converted, since a converted mask or CT window
// would silently change its values.
GrayImage read_png_gray8(const std::filesystem::path& file);

// A row-major 8-bit RGB image.
struct RgbImage {
  int height = 0;
  int width = 0;
  std::vector<std::uint8_t> pixels;  // height*width*3, interleaved R,G,B
};

// Reads an 8-bit RGB PNG. Grayscale, alpha, palette and 16-bit images are refused, like
// read_png_gray8 refuses colour.
RgbImage read_png_rgb8(const std::filesystem::path& file);

// Writes `pixels` (height*width bytes, row-major) as an 8-bit grayscale PNG.
void write_png_gray8(const std::filesystem::path& file, int height, int width,
                     const std::vector<std::uint8_t>& pixels);

// Writes `rgb` (height*width*3 bytes, row-major, interleaved R,G,B) as an 8-bit RGB PNG.
void write_png_rgb8(const std::filesystem::path& file, int height, int width,
                    const std::vector<std::uint8_t>& rgb);

}  // namespace ugs::storage
