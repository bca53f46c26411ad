// `ugs synth`: write a synthetic LIDC-like nodule store (storage/include/ugs/storage/synth.h).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ugs/storage/png_io.h"
#include "ugs/storage/synth.h"

namespace ugs::cli {

namespace {

struct SynthArguments {
  std::string out;
  std::size_t nodules = 1860;
  std::uint64_t seed = 0;
  std::string annotators;  // empty: the LIDC-IDRI default of SynthOptions
  std::string kinds;       // empty: the default of SynthOptions
  double hard_fraction = storage::SynthOptions{}.hard_fraction;
  int shard_size = storage::SynthWriteOptions{}.nodules_per_shard;
  int threads = 0;
  bool force = false;
  std::string preview;
};

// Preview: one row per kind, [ordinary nodule | its masks | hard nodule | its masks], in the lung
// window (-1000..400 HU), union outline red and intersection outline green, magnified 3x.
constexpr int kPreviewZoom = 3;
constexpr double kWindowLowHu = -1000.0;
constexpr double kWindowHighHu = 400.0;

void write_preview(const storage::SynthGenerator& generator, const std::string& file) {
  const int h = generator.options().height, w = generator.options().width;
  const int tile_h = h * kPreviewZoom, tile_w = w * kPreviewZoom;
  constexpr int kColumns = 4;
  const int height = storage::kNoduleKindCount * tile_h, width = kColumns * tile_w;
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(height) * width * 3, 0);

  auto paint_tile = [&](const storage::Nodule& n, int row, int column, bool outlines) {
    auto outline = [&](const std::vector<std::uint8_t>& mask, int r, int c) {
      // A magnified pixel of the mask whose neighbour across a tile-pixel edge is outside it.
      const int mr = r / kPreviewZoom, mc = c / kPreviewZoom;
      if (!mask[mr * w + mc]) return false;
      auto outside = [&](int rr, int cc) {
        if (rr < 0 || rr >= tile_h || cc < 0 || cc >= tile_w) return true;
        return mask[(rr / kPreviewZoom) * w + cc / kPreviewZoom] == 0;
      };
      return outside(r - 1, c) || outside(r + 1, c) || outside(r, c - 1) || outside(r, c + 1);
    };
    for (int r = 0; r < tile_h; ++r)
      for (int c = 0; c < tile_w; ++c) {
        const double hu = n.image[(r / kPreviewZoom) * w + c / kPreviewZoom];
        const double level = std::clamp((hu - kWindowLowHu) / (kWindowHighHu - kWindowLowHu), 0.0, 1.0);
        std::uint8_t pixel[3] = {0, 0, 0};
        std::fill(pixel, pixel + 3, static_cast<std::uint8_t>(level * 255.0 + 0.5));
        if (outlines && outline(n.union_mask, r, c)) {
          pixel[0] = 255, pixel[1] = 40, pixel[2] = 40;
        }
        if (outlines && outline(n.intersection_mask, r, c)) {
          pixel[0] = 40, pixel[1] = 255, pixel[2] = 40;
        }
        std::uint8_t* out = &rgb[((static_cast<std::size_t>(row) * tile_h + r) * width + column * tile_w + c) * 3];
        std::copy(pixel, pixel + 3, out);
      }
  };

  for (int kind = 0; kind < storage::kNoduleKindCount; ++kind) {
    for (int hard = 0; hard <= 1; ++hard) {
      for (std::size_t i = 0; i < generator.size(); ++i) {
        const auto& plan = generator.plan(i);
        if (static_cast<int>(plan.kind) != kind || plan.hard != (hard == 1)) continue;
        const storage::Nodule n = generator.nodule(i);
        paint_tile(n, kind, 2 * hard, false);
        paint_tile(n, kind, 2 * hard + 1, true);
        break;
      }
    }
  }
  storage::write_png_rgb8(file, height, width, rgb);
}

void print_summary(const storage::SynthGenerator& generator, const std::string& out, double seconds) {
  const storage::SynthSummary s = storage::summarize(generator);
  std::printf("ugs synth: %zu nodules of %d patients written to %s in %.2f s (%.0f nodules/s), seed %llu\n",
              s.nodules, s.patients, out.c_str(), seconds, s.nodules / seconds,
              static_cast<unsigned long long>(generator.options().seed));
  std::printf("  %-14s %8s %7s %6s\n", "kind", "nodules", "share", "hard");
  std::size_t hard_total = 0;
  for (int k = 0; k < storage::kNoduleKindCount; ++k) {
    std::printf("  %-14s %8zu %6.1f%% %6zu\n", storage::nodule_kind_name(static_cast<storage::NoduleKind>(k)),
                s.per_kind[k], 100.0 * s.per_kind[k] / s.nodules, s.hard_per_kind[k]);
    hard_total += s.hard_per_kind[k];
  }
  std::printf("  %-14s %8zu %6.1f%% %6zu (%.1f%%)\n", "all", s.nodules, 100.0, hard_total,
              100.0 * hard_total / s.nodules);
  std::printf("  readers per nodule:");
  for (int readers = 2; readers <= 4; ++readers)
    std::printf("  %d: %zu (%.1f%%)", readers, s.per_annotator_count[readers],
                100.0 * s.per_annotator_count[readers] / s.nodules);
  std::printf("\n  patients with n nodules:");
  for (int n = 1; n <= 6; ++n) std::printf("  %d: %zu", n, s.patients_per_size[n]);
  std::printf("\n");
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// "2:488,3:481,4:911" style text of the defaults, so the manual cannot drift from SynthOptions.
std::string default_annotators_text() {
  const storage::SynthOptions defaults;
  std::string text;
  for (int readers = 2; readers <= 4; ++readers)
    text += (text.empty() ? "" : ",") + std::to_string(readers) + ":" + number(defaults.annotator_weights[readers - 2]);
  return text;
}

std::string default_kinds_text() {
  const storage::SynthOptions defaults;
  std::string text;
  for (int k = 0; k < storage::kNoduleKindCount; ++k)
    text += (text.empty() ? "" : ",") + std::string(storage::nodule_kind_name(static_cast<storage::NoduleKind>(k))) +
            ":" + number(defaults.kind_weights[k]);
  return text;
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto arguments = std::make_shared<SynthArguments>();
  CLI::App* command = add_command(
      app, "synth", "Write a synthetic LIDC-IDRI-like nodule store (HU crops, 2-4 readers' masks)",
      "Each nodule is a 2D CT crop in Hounsfield units (lung parenchyma with correlated noise,\n"
      "vessels, chest wall and ribs in some crops) around a nodule 3-30 mm of one of six kinds\n"
      "(solid, part-solid, ground-glass, spiculated, cavitary, juxta-pleural), with the masks of 2 to 4\n"
      "simulated radiologists who disagree mainly on low-density margins, ground glass and spicules.\n"
      "Patients have 1 to 6 nodules and share one scan (pixel spacing 0.5-0.9 mm). A fraction of\n"
      "nodules is made hard (faint ground glass, broad pleural contact, very small, vessel contact,\n"
      "strong disagreement). The same seed gives the same store, byte for byte, on any machine.\n"
      "The model, its sources and its limits: docs/synthetic-data.md.\n"
      "Prints the nodules per kind (and how many are hard), per reader count and per patient size.\n"
      "Example: ugs synth --out out/synthetic --seed 7 --preview out/synthetic-preview.png");
  command->add_option("--out", arguments->out, "Directory of the new store (required)")->required();
  command->add_option("--nodules", arguments->nodules, "Number of nodules (default 1860, the paper's count)")
      ->check(CLI::PositiveNumber);
  command->add_option("--seed", arguments->seed, "Random seed (default 0)");
  command->add_option("--annotators", arguments->annotators,
                      "Relative frequency of 2, 3 and 4 readers per nodule, e.g. \"2:0.3,3:0.3,4:0.4\"; "
                      "counts not named get 0 (default \"" + default_annotators_text() +
                          "\": LIDC-IDRI nodules >= 3 mm marked by 2, 3 and 4 radiologists)");
  command->add_option("--kinds", arguments->kinds,
                      "Relative frequency of each kind, e.g. \"solid:1,ground-glass:1\"; kinds not named "
                      "get 0 (default \"" + default_kinds_text() + "\")");
  command->add_option("--hard-fraction", arguments->hard_fraction,
                      "Fraction of nodules made hard to segment, 0..1 (default " +
                          number(storage::SynthOptions{}.hard_fraction) + ")");
  command->add_option("--shard-size", arguments->shard_size, "Nodules per HDF5 shard (default 512)")
      ->check(CLI::PositiveNumber);
  command->add_option("--threads", arguments->threads, "Rendering threads; 0 = all cores (default 0)")
      ->check(CLI::NonNegativeNumber);
  command->add_flag("--force", arguments->force, "Replace the store at --out if it exists (default: refuse)");
  command->add_option("--preview", arguments->preview,
                      "Also write a PNG montage: one row per kind, an ordinary and a hard nodule, each "
                      "plain and with the union (red) and intersection (green) outlines, lung window "
                      "-1000..400 HU (default: none)");
  command->callback([arguments] {
    storage::SynthOptions options;
    options.seed = arguments->seed;
    options.nodule_count = arguments->nodules;
    options.hard_fraction = arguments->hard_fraction;
    if (!arguments->annotators.empty())
      options.annotator_weights = storage::parse_annotator_weights(arguments->annotators);
    if (!arguments->kinds.empty()) options.kind_weights = storage::parse_kind_weights(arguments->kinds);
    const storage::SynthGenerator generator(options);

    const auto start = std::chrono::steady_clock::now();
    storage::SynthWriteOptions write_options;
    write_options.nodules_per_shard = arguments->shard_size;
    write_options.overwrite = arguments->force;
    write_options.threads = arguments->threads;
    storage::write_synthetic_store(generator, arguments->out, write_options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    print_summary(generator, arguments->out, seconds);
    if (!arguments->preview.empty()) {
      write_preview(generator, arguments->preview);
      std::printf("wrote %s\n", arguments->preview.c_str());
    }
  });
}

}  // namespace ugs::cli
