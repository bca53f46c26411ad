#include "ugs/worker/training_curve.h"

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "ugs/worker/plot.h"

namespace ugs::plot {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kPictureWidth = 1000;
constexpr int kPanelHeight = 300;
constexpr const char* kValidationColor = "#000000";

class LineError {
 public:
  LineError(const fs::path& file, std::size_t line)
      : where_(file.string() + ":" + std::to_string(line) + ": ") {}
  [[noreturn]] void operator()(const std::string& problem) const {
    throw std::runtime_error(where_ + problem);
  }

 private:
  std::string where_;
};

double number_or_nan(const nlohmann::json& value, const std::string& name, const LineError& fail) {
  if (value.is_null()) return kNaN;
  if (!value.is_number()) fail("\"" + name + "\" must be a number, got " + value.dump());
  return value.get<double>();
}

double optional_number(const nlohmann::json& object, const char* key, const LineError& fail) {
  auto it = object.find(key);
  return it == object.end() ? kNaN : number_or_nan(*it, key, fail);
}

std::map<std::string, double> numbers_of(const nlohmann::json& object, const std::string& name,
                                         const LineError& fail) {
  if (!object.is_object()) {
    fail("\"" + name + "\" must be an object of numbers, got " + object.dump());
  }
  std::map<std::string, double> numbers;
  for (const auto& [key, value] : object.items()) {
    numbers[key] = number_or_nan(value, name + "." + key, fail);
  }
  return numbers;
}

EpochRecord parse_record(const std::string& text, const LineError& fail) {
  nlohmann::json line;
  try {
    line = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(std::string("not a JSON object: ") + e.what());
  }
  if (!line.is_object()) fail("not a JSON object: " + line.dump());
  EpochRecord record;
  auto epoch = line.find("epoch");
  if (epoch == line.end()) fail("no \"epoch\"");
  if (!epoch->is_number_integer() || epoch->get<long long>() < 0 ||
      epoch->get<long long>() > std::numeric_limits<int>::max()) {
    fail("\"epoch\" must be an integer >= 0, got " + epoch->dump());
  }
  record.epoch = epoch->get<int>();
  auto loss = line.find("loss");
  if (loss == line.end()) fail("no \"loss\"");
  record.loss = numbers_of(*loss, "loss", fail);
  record.lr = optional_number(line, "lr", fail);
  record.seconds = optional_number(line, "seconds", fail);
  record.samples_per_second = optional_number(line, "samples_per_second", fail);
  if (auto validation = line.find("validation"); validation != line.end()) {
    record.validation = numbers_of(*validation, "validation", fail);
  }
  return record;
}

// One value per epoch of `records`, NaN where `value` has none.
Series series_of(const std::vector<EpochRecord>& records, std::string title,
                 const std::function<double(const EpochRecord&)>& value, std::string color = "",
                 Dash dash = Dash::kSolid) {
  Series series{std::move(title), {}, {}, std::move(color), dash};
  for (const EpochRecord& record : records) {
    series.x.push_back(record.epoch);
    series.y.push_back(value(record));
  }
  return series;
}

std::function<double(const EpochRecord&)> table_value(
    std::map<std::string, double> EpochRecord::*table, const std::string& key) {
  return [table, key](const EpochRecord& record) {
    auto it = (record.*table).find(key);
    return it == (record.*table).end() ? kNaN : it->second;
  };
}

bool any_finite(const Series& series) {
  for (double y : series.y) {
    if (std::isfinite(y)) return true;
  }
  return false;
}

}  // namespace

std::vector<EpochRecord> read_training_log(const fs::path& training_log_jsonl) {
  std::ifstream in(training_log_jsonl);
  if (!in) throw std::runtime_error(training_log_jsonl.string() + ": cannot open the training log");
  std::map<int, EpochRecord> by_epoch;
  std::size_t line_number = 0;
  for (std::string text; std::getline(in, text);) {
    ++line_number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    EpochRecord record = parse_record(text, LineError(training_log_jsonl, line_number));
    by_epoch[record.epoch] = std::move(record);
  }
  if (in.bad()) throw std::runtime_error(training_log_jsonl.string() + ": read failed");
  if (by_epoch.empty()) throw std::runtime_error(training_log_jsonl.string() + ": no epoch logged");
  std::vector<EpochRecord> records;
  for (auto& [epoch, record] : by_epoch) records.push_back(std::move(record));
  return records;
}

void plot_training_curve(const fs::path& training_log_jsonl, const fs::path& out_png) {
  const std::vector<EpochRecord> records = read_training_log(training_log_jsonl);
  std::set<std::string> parts, validation_metrics;
  for (const EpochRecord& record : records) {
    for (const auto& entry : record.loss) parts.insert(entry.first);
    for (const auto& entry : record.validation) validation_metrics.insert(entry.first);
  }
  // Loss parts in a fixed order: the total first, then the parts by name.
  std::vector<std::string> ordered_parts;
  if (parts.erase("total")) ordered_parts.push_back("total");
  ordered_parts.insert(ordered_parts.end(), parts.begin(), parts.end());

  Panel loss{"Loss", "epoch", "loss", Scale::kLog, {}};
  for (const std::string& part : ordered_parts) {
    loss.series.push_back(series_of(records, part, table_value(&EpochRecord::loss, part)));
  }
  if (validation_metrics.erase("loss")) {
    loss.series.push_back(series_of(records, "validation loss",
                                    table_value(&EpochRecord::validation, "loss"),
                                    kValidationColor, Dash::kDashed));
  }
  Panel validation{"Validation", "epoch", "score", Scale::kLinear, {}};
  for (const std::string& metric : validation_metrics) {
    validation.series.push_back(
        series_of(records, metric, table_value(&EpochRecord::validation, metric)));
  }
  const Series lr = series_of(records, "lr", [](const EpochRecord& r) { return r.lr; });
  const Series seconds =
      series_of(records, "seconds", [](const EpochRecord& r) { return r.seconds; });

  Figure figure;
  figure.title = training_log_jsonl.parent_path().filename().string();
  figure.width = kPictureWidth;
  figure.height_per_row = kPanelHeight;
  figure.panels.push_back(loss);
  if (!validation.series.empty()) figure.panels.push_back(validation);
  if (any_finite(lr)) {
    figure.panels.push_back({"Learning rate", "epoch", "learning rate", Scale::kLinear, {lr}});
  }
  if (any_finite(seconds)) {
    figure.panels.push_back({"Epoch time", "epoch", "seconds", Scale::kLinear, {seconds}});
  }
  write_png(out_png, figure);
}

}  // namespace ugs::plot
