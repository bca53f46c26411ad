// The gnuplot driver and the training-curve picture: PNGs of the right size, literal text that
// cannot break the script, clear errors that leave the target alone.
#include "ugs/worker/plot.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/test_support.h"
#include "ugs/worker/training_curve.h"
#include "worker/analysis_test_support.h"

namespace ugs::plot {
namespace {

namespace fs = std::filesystem;
using storage::testing::TemporaryFolder;
using ugs::testing::png_size;

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_text(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }

// PATH set to `value` for the scope, restored after.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    if (const char* old = ::getenv("PATH")) old_ = old;
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (old_) {
      ::setenv("PATH", old_->c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
  }

 private:
  std::optional<std::string> old_;
};

Figure two_by_two() {
  Panel lines{"lines", "x", "y", Scale::kLinear, {}};
  lines.series.push_back({"rising", {0, 1, 2, 3}, {0, 1, 4, 9}});
  lines.series.push_back({"falling, dashed", {0, 1, 2, 3}, {9, 4, 1, 0}, "#1f77b4", Dash::kDashed});
  Panel logarithmic{"log y", "x", "y", Scale::kLog, {}};
  logarithmic.series.push_back({"with zero and NaN", {0, 1, 2, 3}, {0, 0.1, NAN, 10}});
  Panel single{"one point", "x", "y", Scale::kLinear, {{"dot", {1}, {1}}}};
  Panel empty{"nothing drawable", "x", "y", Scale::kLog, {{"negative", {1, 2}, {-1, -2}}}};
  return Figure{"a 2x2 grid", {lines, logarithmic, single, empty}, 2, 640, 240};
}

TEST(Plot, WritesAPngOfTheFiguresSize) {
  TemporaryFolder folder;
  write_png(folder / "grid.png", two_by_two());
  const auto size = png_size(folder / "grid.png");
  ASSERT_TRUE(size.valid);
  EXPECT_EQ(size.width, 640u);
  EXPECT_EQ(size.height, 2u * 240u);
  // Nothing left beside the picture: the temporary was renamed into place.
  EXPECT_EQ(std::distance(fs::directory_iterator(folder.path()), fs::directory_iterator()), 1);
}

TEST(Plot, TextIsTakenLiterally) {
  TemporaryFolder folder;
  const fs::path marker = folder / "pwned";
  // Unescaped, each title would end the plot command and run the shell.
  Panel panel{"it's 'quoted'\nand two lines", "x_1 ^2 @{}", "y\\", Scale::kLinear, {}};
  panel.series.push_back({"x\"; system(\"touch " + marker.string() + "\"); #", {0, 1}, {1, 0}});
  panel.series.push_back({"x'; system('touch " + marker.string() + "'); #", {0, 1}, {0, 1}});
  write_png(folder / "text.png", Figure{"title with ' and \"", {panel}});
  EXPECT_TRUE(png_size(folder / "text.png").valid);
  EXPECT_FALSE(fs::exists(marker));
}

TEST(Plot, RefusesMalformedFiguresAndLeavesTheTargetAlone) {
  TemporaryFolder folder;
  const fs::path target = folder / "old.png";
  write_text(target, "old");
  Figure figure = two_by_two();
  figure.panels[0].series[0].color = "red";
  EXPECT_THROW(write_png(target, figure), std::invalid_argument);
  figure = two_by_two();
  figure.panels[0].series[0].y.pop_back();
  EXPECT_THROW(write_png(target, figure), std::invalid_argument);
  EXPECT_THROW(write_png(target, Figure{}), std::invalid_argument);
  EXPECT_EQ(read_text(target), "old");
}

TEST(Plot, SaysWhenGnuplotIsMissing) {
  TemporaryFolder folder;
  const fs::path target = folder / "old.png";
  write_text(target, "old");
  ScopedPath no_gnuplot(folder.path().string());
  try {
    write_png(target, two_by_two());
    ADD_FAILURE() << "no error without gnuplot on PATH";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "gnuplot not found: install gnuplot-nox (deploy/setup.sh does)");
  }
  EXPECT_EQ(read_text(target), "old");
}

// Three epochs, a blank line, a null, validation on the first two only, a key the reader ignores.
constexpr const char* kLog =
    R"({"epoch":1,"lr":1e-4,"seconds":12.5,"samples_per_second":210,)"
    R"("loss":{"total":0.9,"l_mcm":0.5,"phi_b":0.4},"validation":{"loss":0.8,"dsc":0.41}})"
    "\n"
    R"({"epoch":2,"lr":9e-5,"seconds":12.1,)"
    R"("loss":{"total":0.7,"l_mcm":0.4,"phi_b":0.3},"validation":{"loss":0.75,"dsc":0.55}})"
    "\n\n"
    R"({"epoch":3,"lr":5e-5,"seconds":null,)"
    R"("loss":{"total":0.5,"l_mcm":0.3,"phi_b":0.2},"note":"ignored"})"
    "\n";

TEST(TrainingCurve, ReadsTheLog) {
  TemporaryFolder folder;
  // A resumed run repeats epoch 2 and 3 after them; the later lines win.
  write_text(folder / "log.jsonl", std::string(kLog) +
                                       R"({"epoch":2,"lr":9e-5,"loss":{"total":0.65}})"
                                       "\n" +
                                       R"({"epoch":3,"lr":5e-5,"loss":{"total":0.45}})"
                                       "\n");
  const std::vector<EpochRecord> records = read_training_log(folder / "log.jsonl");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].epoch, 1);
  EXPECT_DOUBLE_EQ(records[0].lr, 1e-4);
  EXPECT_DOUBLE_EQ(records[0].samples_per_second, 210);
  EXPECT_EQ(records[0].loss.size(), 3u);
  EXPECT_DOUBLE_EQ(records[0].validation.at("dsc"), 0.41);
  EXPECT_EQ(records[1].loss, (std::map<std::string, double>{{"total", 0.65}}));
  EXPECT_TRUE(std::isnan(records[1].seconds));
  EXPECT_TRUE(records[2].validation.empty());
  EXPECT_DOUBLE_EQ(records[2].loss.at("total"), 0.45);
}

TEST(TrainingCurve, DrawsThePanels) {
  TemporaryFolder folder;
  write_text(folder / "with_validation.jsonl", kLog);
  plot_training_curve(folder / "with_validation.jsonl", folder / "curve.png");
  const auto size = png_size(folder / "curve.png");
  ASSERT_TRUE(size.valid);
  EXPECT_EQ(size.height, 4u * 300u);  // loss, validation, learning rate, epoch time
  write_text(folder / "plain.jsonl", R"({"epoch":0,"loss":{"phi_b":0.7}})"
                                     "\n");
  plot_training_curve(folder / "plain.jsonl", folder / "plain.png");
  EXPECT_EQ(png_size(folder / "plain.png").height, 300u);  // one epoch, losses only
}

TEST(TrainingCurve, AMalformedLineIsNamedByFileAndLine) {
  TemporaryFolder folder;
  const fs::path log = folder / "log.jsonl";
  const std::string first = R"({"epoch":1,"loss":{"total":0.9}})"
                            "\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"epoch":2,"loss":{"total":0.)", "not a JSON object"},
      {R"([1, 2])", "not a JSON object"},
      {R"({"loss":{"total":0.5}})", "no \"epoch\""},
      {R"({"epoch":2.5,"loss":{"total":0.5}})", "\"epoch\" must be an integer >= 0"},
      {R"({"epoch":2})", "no \"loss\""},
      {R"({"epoch":2,"loss":0.5})", "\"loss\" must be an object of numbers"},
      {R"({"epoch":2,"loss":{"total":"low"}})", "\"loss.total\" must be a number"},
      {R"({"epoch":2,"lr":"1e-5","loss":{"total":0.5}})", "\"lr\" must be a number"},
  };
  for (const auto& [line, problem] : cases) {
    write_text(log, first + "\n" + line + "\n");
    try {
      plot_training_curve(log, folder / "curve.png");
      ADD_FAILURE() << "no error for " << line;
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind(log.string() + ":3: ", 0), 0u) << what;
      EXPECT_NE(what.find(problem), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
  EXPECT_FALSE(fs::exists(folder / "curve.png"));
  write_text(log, "\n");
  EXPECT_THROW(read_training_log(log), std::runtime_error);
  EXPECT_THROW(read_training_log(folder / "missing.jsonl"), std::runtime_error);
}

}  // namespace
}  // namespace ugs::plot
