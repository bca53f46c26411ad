#include "ugs/worker/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ugs/storage/atomic_file.h"
#include "ugs/storage/files.h"

extern char** environ;

namespace ugs::plot {

namespace fs = std::filesystem;

namespace {

constexpr int kMinimumPixels = 100;
// Margins in character widths: the y tick labels on the left, the legend on the right.
constexpr int kLeftMargin = 12;
constexpr int kRightMargin = 24;
// gnuplot's stderr quoted in an error message at most, in characters.
constexpr std::size_t kMaxQuotedStderr = 600;

// A folder of its own under the system temporary directory, removed with its content at scope end.
class ScratchFolder {
 public:
  ScratchFolder() {
    std::string pattern = (fs::temp_directory_path() / "ugs-plot-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error(
          pattern + ": cannot create a temporary folder for gnuplot: " + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~ScratchFolder() {
    std::error_code ignored;
    storage::remove_tree(path_, ignored);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A gnuplot double-quoted string: backslash and double quote escaped, so that no text closes it
// early; control characters would end the command, so they become spaces. (Single-quoted strings
// mis-scan a text that starts with a quote.)
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (std::iscntrl(static_cast<unsigned char>(c))) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool is_hex_color(const std::string& color) {
  if (color.size() != 7 || color[0] != '#') return false;
  for (std::size_t i = 1; i < color.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(color[i]))) return false;
  }
  return true;
}

void validate(const Figure& figure) {
  if (figure.panels.empty()) throw std::invalid_argument("plot: a figure needs at least one panel");
  if (figure.columns < 1) {
    throw std::invalid_argument("plot: columns must be >= 1, got " +
                                std::to_string(figure.columns));
  }
  if (figure.width < kMinimumPixels || figure.height_per_row < kMinimumPixels) {
    throw std::invalid_argument("plot: the picture must be at least " +
                                std::to_string(kMinimumPixels) + " px wide and per row, got " +
                                std::to_string(figure.width) + " and " +
                                std::to_string(figure.height_per_row));
  }
  for (const Panel& panel : figure.panels) {
    for (const Series& series : panel.series) {
      if (series.x.size() != series.y.size()) {
        throw std::invalid_argument("plot: series '" + series.title + "' of panel '" + panel.title +
                                    "' has " + std::to_string(series.x.size()) + " x and " +
                                    std::to_string(series.y.size()) + " y values");
      }
      if (!series.color.empty() && !is_hex_color(series.color)) {
        throw std::invalid_argument("plot: series '" + series.title + "' has colour '" +
                                    series.color + "', expected #rrggbb");
      }
    }
  }
}

// The points gnuplot can draw on this panel's axes.
std::vector<std::pair<double, double>> drawable_points(const Series& series, Scale y_scale) {
  std::vector<std::pair<double, double>> points;
  for (std::size_t i = 0; i < series.x.size(); ++i) {
    const double x = series.x[i], y = series.y[i];
    if (!std::isfinite(x) || !std::isfinite(y) || (y_scale == Scale::kLog && y <= 0)) continue;
    points.emplace_back(x, y);
  }
  return points;
}

// Writes the panel's drawable series as blocks of one data file (gnuplot's `index`) and returns the
// plot command for them; "no data" when nothing is drawable.
std::string panel_commands(const Panel& panel, const fs::path& data_file) {
  std::ofstream data(data_file);
  std::ostringstream plot;
  int block = 0;
  for (const Series& series : panel.series) {
    auto points = drawable_points(series, panel.y_scale);
    if (points.empty()) continue;
    if (block > 0) data << "\n\n";
    char line[64];
    for (const auto& [x, y] : points) {
      std::snprintf(line, sizeof line, "%.17g %.17g\n", x, y);
      data << line;
    }
    plot << (block == 0 ? "plot " + quoted(data_file.string()) : ", ''") << " index " << block
         << " using 1:2";
    plot << (points.size() == 1 ? " with points pt 7 ps 1" : " with lines lw 2");
    if (series.dash == Dash::kDashed) plot << " dt 2";
    if (!series.color.empty()) plot << " lc rgb " << quoted(series.color);
    plot << " title " << quoted(series.title);
    ++block;
  }
  data.close();
  if (!data) throw std::runtime_error(data_file.string() + ": cannot write gnuplot's data");

  std::ostringstream out;
  out << "unset logscale\nunset label\nset autoscale\n"
      << "set title " << quoted(panel.title) << "\nset xlabel " << quoted(panel.x_label)
      << "\nset ylabel " << quoted(panel.y_label) << "\n";
  if (block == 0) {
    out << "set xrange [0:1]\nset yrange [0:1]\nset label 1 'no data' at graph 0.5,0.5 center\n"
        << "plot NaN notitle\n";
    return out.str();
  }
  if (panel.y_scale == Scale::kLog) out << "set logscale y\n";
  out << plot.str() << "\n";
  return out.str();
}

std::string script(const Figure& figure, const fs::path& output, const fs::path& scratch) {
  const int rows = (static_cast<int>(figure.panels.size()) + figure.columns - 1) / figure.columns;
  std::ostringstream out;
  out << "set terminal pngcairo noenhanced size " << figure.width << ","
      << figure.height_per_row * rows << " font 'sans,10'\n"
      << "set output " << quoted(output.string()) << "\n"
      // The legend right of the axes, never over a curve, in a margin of the same width on every
      // panel so that stacked panels share their x axis.
      << "set grid\nset key outside right top\nset lmargin " << kLeftMargin << "\nset rmargin "
      << kRightMargin << "\n"
      << "set multiplot layout " << rows << "," << figure.columns;
  if (!figure.title.empty()) out << " title " << quoted(figure.title);
  out << "\n";
  for (std::size_t p = 0; p < figure.panels.size(); ++p) {
    out << panel_commands(figure.panels[p], scratch / ("panel-" + std::to_string(p) + ".dat"));
  }
  out << "unset multiplot\nunset output\n";
  return out.str();
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// gnuplot's messages on one line. Its own lines start with the script's quoted name ("figure.gp"
// line 9: x range is invalid); those are kept without the name, and the echoed command and caret
// lines dropped. Anything else (a library's complaint) is kept whole.
std::string one_line(const std::string& stderr_text, const fs::path& script_file) {
  const std::string location = "\"" + script_file.string() + "\" ";
  std::vector<std::string> located, other;
  std::istringstream lines(stderr_text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(location, 0) == 0) {
      located.push_back(line.substr(location.size()));
    } else if (line.find_first_not_of(" \t\r") != std::string::npos) {
      other.push_back(line);
    }
  }
  std::string out;
  for (const std::string& line : located.empty() ? other : located) {
    out += (out.empty() ? "" : "; ") + line;
  }
  if (out.empty()) out = "no message";
  if (out.size() > kMaxQuotedStderr) out = out.substr(0, kMaxQuotedStderr) + "...";
  return out;
}

// Runs `gnuplot script` with stdin and stdout on /dev/null and stderr into `stderr_file`.
void run_gnuplot(const fs::path& script_file, const fs::path& stderr_file, const fs::path& png) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::string program = "gnuplot", script_argument = script_file.string();
  char* argv[] = {program.data(), script_argument.data(), nullptr};
  pid_t pid = 0;
  const int spawn_error = ::posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error == ENOENT) {
    throw std::runtime_error("gnuplot not found: install gnuplot-nox (deploy/setup.sh does)");
  }
  if (spawn_error != 0) {
    throw std::runtime_error(png.string() +
                             ": cannot start gnuplot: " + std::strerror(spawn_error));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      throw std::runtime_error(png.string() +
                               ": waiting for gnuplot failed: " + std::strerror(errno));
    }
  }
  if (WIFSIGNALED(status)) {
    throw std::runtime_error(png.string() + ": gnuplot was killed by signal " +
                             std::to_string(WTERMSIG(status)));
  }
  if (WEXITSTATUS(status) != 0) {
    throw std::runtime_error(png.string() + ": gnuplot failed (exit status " +
                             std::to_string(WEXITSTATUS(status)) +
                             "): " + one_line(read_text(stderr_file), script_file));
  }
}

}  // namespace

void write_png(const fs::path& png, const Figure& figure) {
  validate(figure);
  ScratchFolder scratch;
  storage::write_file_atomically(png, [&](const fs::path& temporary) {
    const fs::path script_file = scratch.path() / "figure.gp";
    {
      std::ofstream out(script_file);
      out << script(figure, fs::absolute(temporary), scratch.path());
      out.close();
      if (!out) {
        throw std::runtime_error(script_file.string() + ": cannot write the gnuplot script");
      }
    }
    run_gnuplot(script_file, scratch.path() / "stderr.txt", png);
    std::error_code error;
    if (fs::file_size(temporary, error) == 0 || error) {
      throw std::runtime_error(png.string() + ": gnuplot exited without writing the picture: " +
                               one_line(read_text(scratch.path() / "stderr.txt"), script_file));
    }
  });
}

}  // namespace ugs::plot
