// Line charts as PNG files, drawn by gnuplot (Debian: gnuplot-nox; deploy/setup.sh installs it).
// The data and a gnuplot script go to a temporary folder, gnuplot runs on them with the pngcairo
// terminal, and the picture lands at its path atomically (storage/atomic_file.h). Nothing here
// draws by hand: this is a thin, typed front end to gnuplot for the project's figures (training
// curves, `ugs analyze hu`).
//
//   plot::Panel loss{"Loss", "epoch", "loss", plot::Scale::kLog, {}};
//   loss.series.push_back({"train", epochs, train_loss});
//   loss.series.push_back({"validation", epochs, validation_loss, "#d62728", plot::Dash::kDashed});
//   plot::Figure figure{"unet fold 0", {loss, learning_rate}};   // panels stacked, one column
//   plot::write_png("runs/unet/fold_0/training_curve.png", figure);
//
// Drawing: each series is a line through its points in the order given (x need not be sorted).
// Non-finite points, and on a log scale points with y <= 0, are left out and the line joins their
// neighbours; a series with a single point is drawn as a dot; a series with no point left is not
// drawn and not in the legend; a panel with none left says "no data". Text is shown literally
// (gnuplot's "noenhanced": `l_mcm` stays `l_mcm`).
//
// Errors: std::invalid_argument for a malformed Figure (no panel, columns < 1, a size below 100 px,
// x and y of different lengths, a colour that is not "#rrggbb"); std::runtime_error with one line
// when gnuplot is not installed ("gnuplot not found: install gnuplot-nox (deploy/setup.sh does)"),
// when it fails (its exit status and what it wrote on stderr), or when the PNG cannot be written.
// On any error the target file is untouched.
// Thread safety: write_png keeps no state and may run on several threads; each call starts one
// gnuplot process and waits for it (the calling thread blocks).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ugs::plot {

enum class Dash { kSolid, kDashed };
enum class Scale { kLinear, kLog };

struct Series {
  std::string title;      // legend entry
  std::vector<double> x;  // same length as y
  std::vector<double> y;
  std::string color = "";  // "#rrggbb"; empty: gnuplot's next default colour
  Dash dash = Dash::kSolid;
};

// One chart: axes, labels and its series.
struct Panel {
  std::string title;
  std::string x_label;
  std::string y_label;
  Scale y_scale = Scale::kLinear;
  std::vector<Series> series;
};

// Panels laid out row by row on a grid of `columns` columns (one column: stacked vertically).
struct Figure {
  std::string title;  // above all panels; empty: none
  std::vector<Panel> panels;
  int columns = 1;
  int width = 1000;          // pixels of the whole picture
  int height_per_row = 320;  // pixels per row of panels
};

// Draws `figure` with gnuplot and writes it to `png` atomically.
void write_png(const std::filesystem::path& png, const Figure& figure);

}  // namespace ugs::plot
