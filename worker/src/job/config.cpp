// The one place where a training configuration is read and written.
//
// Every table has one visit function listing its keys. The same function drives three visitors: the
// reader (TOML -> struct, with type and range checks that point at the line and column), the writer
// (struct -> TOML) and the key collector (all names, for "did you mean" suggestions). A key added to a
// visit function is therefore read, written, checked and suggested at once.
#include "ugs/worker/config.h"

#include "ugs/storage/files.h"
#include "ugs/worker/suggest.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ugs::worker {

bool is_device_name(const std::string& name) {
  if (name == "cpu" || name == "cuda") return true;
  const std::string prefix = "cuda:";
  return name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         std::all_of(name.begin() + prefix.size(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------------
// Names of the enums in TOML

template <class E>
struct Choice {
  E value;
  const char* name;
};

constexpr Choice<Recipe> kRecipes[] = {{Recipe::kPaper, "paper"}, {Recipe::kPublished, "published"}};
constexpr Choice<SingleTarget> kSingleTargets[] = {{SingleTarget::kLabel1, "label1"},
                                                   {SingleTarget::kUnion, "union"},
                                                   {SingleTarget::kIntersection, "intersection"}};
constexpr Choice<SingleMaskLoss> kSingleMaskLosses[] = {
    {SingleMaskLoss::kBce, "bce"}, {SingleMaskLoss::kDice, "dice"}, {SingleMaskLoss::kBceDice, "bce+dice"}};
constexpr Choice<OptimizerKind> kOptimizers[] = {{OptimizerKind::kSgd, "sgd"}, {OptimizerKind::kAdam, "adam"}};
constexpr Choice<ScheduleKind> kSchedules[] = {{ScheduleKind::kConstant, "constant"},
                                               {ScheduleKind::kCosineRestarts, "cosine_restarts"}};
constexpr Choice<ScheduleUpdate> kScheduleUpdates[] = {{ScheduleUpdate::kEpoch, "epoch"},
                                                       {ScheduleUpdate::kStep, "step"}};
constexpr Choice<ModelSelection> kModelSelections[] = {{ModelSelection::kFinal, "final"},
                                                      {ModelSelection::kBestValidationDsc, "best_validation_dsc"}};
constexpr Choice<BatchNormMode> kBatchNormModes[] = {{BatchNormMode::kBatch, "batch"},
                                                    {BatchNormMode::kFrozen, "frozen"}};
constexpr Choice<LastBatch> kLastBatches[] = {{LastBatch::kKeep, "keep"}, {LastBatch::kDrop, "drop"}};

template <class E, std::size_t N>
const char* name_of(const Choice<E> (&choices)[N], E value) {
  for (const auto& choice : choices) {
    if (choice.value == value) return choice.name;
  }
  throw std::logic_error("config: an enum value without a TOML name");
}

template <class E, std::size_t N>
std::string quoted_names(const Choice<E> (&choices)[N]) {
  std::string text;
  for (std::size_t i = 0; i < N; ++i) {
    text += (i == 0 ? "\"" : i + 1 == N ? " or \"" : ", \"") + std::string(choices[i].name) + "\"";
  }
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Value rules

// An interval of allowed numbers, closed unless `min_open`.
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false;
  bool max_open = false;

  bool contains(double x) const {
    return (min_open ? x > min : x >= min) && (max_open ? x < max : x <= max);
  }
  std::string text() const {
    auto number = [](double x) {
      std::ostringstream out;
      out << x;
      return out.str();
    };
    const bool has_min = std::isfinite(min), has_max = std::isfinite(max);
    if (has_min && has_max) {
      return std::string("in ") + (min_open ? "(" : "[") + number(min) + ", " + number(max) +
             (max_open ? ")" : "]");
    }
    if (has_min) return (min_open ? "> " : ">= ") + number(min);
    if (has_max) return (max_open ? "< " : "<= ") + number(max);
    return "any number";
  }
};

Range at_least(double min) { return Range{min}; }
Range positive() { return Range{0.0, std::numeric_limits<double>::infinity(), true}; }
Range between(double min, double max) { return Range{min, max}; }

// A string key whose value must pass a check, described in words for the error message.
struct StringRule {
  bool (*valid)(const std::string&);
  const char* expected;
};

bool is_not_empty(const std::string& s) { return !s.empty(); }

constexpr StringRule kNetworkName{is_not_empty, "a network name"};
constexpr StringRule kDevice{is_device_name, "\"cpu\", \"cuda\" or \"cuda:N\""};

// Named window sets accepted for [preprocess] windows.
const std::map<std::string, std::vector<HuWindow>>& window_presets() {
  static const std::map<std::string, std::vector<HuWindow>> presets = {
      {"published3", kPublishedWindows}, {"published1", {kPublishedWindows.front()}}};
  return presets;
}

// ---------------------------------------------------------------------------------------------------
// The tables and their keys. The order here is the order of docs/training-config.md.

template <class V>
void visit(V& v, DataConfig& c) {
  v.field("store", c.store);
  v.field("split", c.split);
  v.field("fold", c.fold, at_least(0));
  v.field("single_target", c.single_target, kSingleTargets);
  v.field("min_annotators", c.min_annotators, between(1, 4));
  v.field("limit", c.limit, at_least(0));
}

// [model] fills model::ModelConfig: a new network option is one line here (and a row in the docs).
template <class V>
void visit(V& v, model::ModelConfig& c) {
  v.field("name", c.name, kNetworkName);
  v.field("in_channels", c.in_channels, at_least(0));
  v.field("base_width", c.base_width, at_least(1));
}

template <class V>
void visit(V& v, LossConfig& c) {
  v.field("a1", c.a1, at_least(0));
  v.field("a2", c.a2, at_least(0));
  v.field("a3", c.a3, at_least(0));
  v.field("phi_a_over_set", c.phi_a_over_set);
  v.field("phi_b_over_set", c.phi_b_over_set);
  v.field("single_mask", c.single_mask, kSingleMaskLosses);
}

template <class V>
void visit(V& v, OptimizerConfig& c) {
  v.field("kind", c.kind, kOptimizers);
  v.field("lr", c.lr, positive());
  v.field("momentum", c.momentum, between(0, 1));
  v.field("weight_decay", c.weight_decay, at_least(0));
  v.field("betas", c.betas, Range{0, 1, false, true});
}

template <class V>
void visit(V& v, ScheduleConfig& c) {
  v.field("kind", c.kind, kSchedules);
  v.field("t0", c.t0, at_least(1));
  v.field("t_mult", c.t_mult, at_least(1));
  v.field("eta_min", c.eta_min, at_least(0));
  v.field("update", c.update, kScheduleUpdates);
}

template <class V>
void visit(V& v, TrainingConfig& c) {
  v.field("recipe", c.recipe, kRecipes);
  v.field("epochs", c.epochs, at_least(1));
  v.field("batch_size", c.batch_size, at_least(1));
  v.field("seed", c.seed);
  v.field("device", c.device, kDevice);
  v.field("deterministic", c.deterministic);
  v.field("checkpoint_every", c.checkpoint_every, at_least(1));
  v.field("validation_fraction", c.validation_fraction, Range{0, 1, false, true});
  v.field("model_selection", c.model_selection, kModelSelections);
  v.field("shuffle", c.shuffle);
  v.field("last_batch", c.last_batch, kLastBatches);
  v.field("prefetch_batches", c.prefetch_batches, between(1, 64));
  v.field("batch_norm", c.batch_norm, kBatchNormModes);
}

template <class V>
void visit(V& v, PreprocessConfig& c) {
  v.field("size", c.size, between(8, 4096));
  v.field("windows", c.windows);
  v.field("mask_threshold", c.mask_threshold, Range{0, 1, true, false});
}

template <class V>
void visit(V& v, AugmentConfig& c) {
  v.field("flips", c.flips);
  v.field("rot90", c.rot90);
}

template <class V>
void visit_tables(V& v, Config& c) {
  v.table("data", c.data);
  v.table("model", c.model);
  v.table("loss", c.loss);
  v.table("optimizer", c.optimizer);
  v.table("schedule", c.schedule);
  v.table("training", c.training);
  v.table("preprocess", c.preprocess);
  v.table("augment", c.augment);
}

// ---------------------------------------------------------------------------------------------------
// Key collector: every table and key name, for suggestions.

class KeyCollector {
 public:
  using Keys = std::map<std::string, std::vector<std::string>>;  // table -> its keys

  template <class T, class... Rule>
  void field(std::string_view key, T&, const Rule&...) {
    keys_[table_].emplace_back(key);
  }
  template <class Section>
  void table(const char* name, Section& section) {
    table_ = name;
    visit(*this, section);
  }
  static const Keys& all() {
    static const Keys keys = [] {
      KeyCollector collector;
      Config config;
      visit_tables(collector, config);
      return collector.keys_;
    }();
    return keys;
  }

 private:
  std::string table_;
  Keys keys_;
};

// The table that has a key named `key`, or "" if none has.
std::string table_with_key(std::string_view key) {
  for (const auto& [table, keys] : KeyCollector::all()) {
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) return table;
  }
  return "";
}

// ---------------------------------------------------------------------------------------------------
// Reader: a TOML document onto a Config.

// Where a document came from: a file (errors name file:line:column) or one override (errors quote it).
// `prefix` is the dotted path of the job tables within the file ("defaults." in a sweep file, whose
// [defaults.training] is a job's [training]), so that errors name the tables as the file spells them.
struct Source {
  std::string name;
  bool is_override = false;
  std::string prefix = "";

  std::string at(const toml::source_region& region) const {
    if (is_override) return "override '" + name + "'";
    return name + ":" + std::to_string(region.begin.line) + ":" + std::to_string(region.begin.column);
  }
};

[[noreturn]] void fail(const Source& source, const toml::source_region& region, const std::string& what) {
  throw std::runtime_error(source.at(region) + ": " + what);
}

class TableReader {
 public:
  TableReader(const toml::table* table, std::string name, const Source& source)
      : table_(table), name_(std::move(name)), source_(source) {}

  void field(std::string_view key, int& out, Range range) {
    if (const toml::node* node = get(key)) {
      const auto value = node->value_exact<std::int64_t>();
      if (!value || !range.contains(static_cast<double>(*value)) ||
          *value > std::numeric_limits<int>::max()) {
        bad_value(*node, key, "an integer " + range.text());
      }
      out = static_cast<int>(*value);
    }
  }
  void field(std::string_view key, std::uint64_t& out) {
    if (const toml::node* node = get(key)) {
      const auto value = node->value_exact<std::int64_t>();
      if (!value || *value < 0) bad_value(*node, key, "an integer >= 0");
      out = static_cast<std::uint64_t>(*value);
    }
  }
  void field(std::string_view key, double& out, Range range) {
    if (const toml::node* node = get(key)) {
      const std::optional<double> value = number(*node);
      if (!value || !range.contains(*value)) bad_value(*node, key, "a number " + range.text());
      out = *value;
    }
  }
  void field(std::string_view key, bool& out) {
    if (const toml::node* node = get(key)) {
      const auto value = node->value_exact<bool>();
      if (!value) bad_value(*node, key, "true or false");
      out = *value;
    }
  }
  void field(std::string_view key, std::string& out, const StringRule& rule) {
    if (const toml::node* node = get(key)) {
      const auto value = node->value_exact<std::string>();
      if (!value || !rule.valid(*value)) bad_value(*node, key, rule.expected);
      out = *value;
    }
  }
  void field(std::string_view key, fs::path& out) {
    if (const toml::node* node = get(key)) {
      const auto value = node->value_exact<std::string>();
      if (!value) bad_value(*node, key, "a path (a string)");
      out = *value;
    }
  }
  template <class E, std::size_t N>
  void field(std::string_view key, E& out, const Choice<E> (&choices)[N]) {
    if (const toml::node* node = get(key)) {
      const auto value = node->value_exact<std::string>();
      if (value) {
        for (const auto& choice : choices) {
          if (*value == choice.name) {
            out = choice.value;
            return;
          }
        }
      }
      bad_value(*node, key, quoted_names(choices));
    }
  }
  void field(std::string_view key, std::array<double, 2>& out, Range range) {
    if (const toml::node* node = get(key)) {
      const toml::array* array = node->as_array();
      const std::string expected = "two numbers " + range.text();
      if (!array || array->size() != 2) bad_value(*node, key, expected);
      for (std::size_t i = 0; i < 2; ++i) {
        const std::optional<double> value = number(*array->get(i));
        if (!value || !range.contains(*value)) bad_value(*array->get(i), key, expected);
        out[i] = *value;
      }
    }
  }
  void field(std::string_view key, std::vector<HuWindow>& out) {
    const toml::node* node = get(key);
    if (!node) return;
    std::string presets;
    for (const auto& [name, windows] : window_presets()) presets += (presets.empty() ? "\"" : ", \"") + name + "\"";
    const std::string expected = "a list of [lo, hi] HU pairs with lo < hi, or one of " + presets;
    if (const auto name = node->value_exact<std::string>()) {
      const auto preset = window_presets().find(*name);
      if (preset == window_presets().end()) bad_value(*node, key, expected);
      out = preset->second;
      return;
    }
    const toml::array* array = node->as_array();
    if (!array || array->empty()) bad_value(*node, key, expected);
    std::vector<HuWindow> windows;
    for (const toml::node& element : *array) {
      const toml::array* pair = element.as_array();
      if (!pair || pair->size() != 2) bad_value(element, key, expected);
      const std::optional<double> lo = number(*pair->get(0)), hi = number(*pair->get(1));
      if (!lo || !hi || !(*lo < *hi)) bad_value(element, key, expected);
      windows.push_back({*lo, *hi});
    }
    out = std::move(windows);
  }

  // Nothing but the keys read so far may be in the table.
  void finish() const {
    if (!table_) return;
    for (const auto& [key, node] : *table_) {
      if (std::find(read_.begin(), read_.end(), key.str()) != read_.end()) continue;
      std::string message = "unknown key '" + std::string(key.str()) + "' in [" + source_.prefix + name_ + "]";
      const std::string suggestion = closest_name(key.str(), read_);
      if (!suggestion.empty()) {
        message += "; did you mean '" + suggestion + "'?";
      } else if (const std::string table = table_with_key(key.str()); !table.empty()) {
        message += "; '" + std::string(key.str()) + "' belongs in [" + source_.prefix + table + "]";
      }
      fail(source_, key.source(), message);
    }
  }

 private:
  // The node of `key`, or null when the table does not set it. Either way the key is known.
  const toml::node* get(std::string_view key) {
    read_.emplace_back(key);
    return table_ ? table_->get(key) : nullptr;
  }
  // An integer is a fine number: `lr = 1` means 1.0.
  static std::optional<double> number(const toml::node& node) {
    if (const auto f = node.value_exact<double>()) return *f;
    if (const auto i = node.value_exact<std::int64_t>()) return static_cast<double>(*i);
    return std::nullopt;
  }
  [[noreturn]] void bad_value(const toml::node& node, std::string_view key, const std::string& expected) const {
    std::ostringstream got;
    if (node.is_table()) {
      got << "a table";
    } else {
      node.visit([&](const auto& value) { got << value; });
    }
    fail(source_, node.source(),
         "[" + source_.prefix + name_ + "] " + std::string(key) + " must be " + expected + ", got " + got.str());
  }

  const toml::table* table_;
  std::string name_;
  const Source& source_;
  std::vector<std::string> read_;
};

class DocumentReader {
 public:
  DocumentReader(const toml::table& document, const Source& source) : document_(document), source_(source) {}

  template <class Section>
  void table(const char* name, Section& section) {
    read_.emplace_back(name);
    const toml::node* node = document_.get(name);
    if (node && !node->is_table()) {
      fail(source_, node->source(), "'" + std::string(name) + "' must be a table ([" + source_.prefix + name + "])");
    }
    TableReader reader(node ? node->as_table() : nullptr, name, source_);
    visit(reader, section);
    reader.finish();
  }

  void finish() const {
    for (const auto& [key, node] : document_) {
      if (std::find(read_.begin(), read_.end(), key.str()) != read_.end()) continue;
      const std::string& prefix = source_.prefix;
      std::string message;
      if (node.is_table()) {
        message = "unknown table [" + prefix + std::string(key.str()) + "]";
      } else if (prefix.empty()) {
        message = "unknown top-level key '" + std::string(key.str()) + "'";
      } else {
        message = "unknown key '" + std::string(key.str()) + "' in [" + prefix.substr(0, prefix.size() - 1) + "]";
      }
      const std::string suggestion = closest_name(key.str(), read_);
      const std::string table = node.is_table() ? "" : table_with_key(key.str());
      if (!suggestion.empty()) {
        message += "; did you mean [" + prefix + suggestion + "]?";
      } else if (!table.empty()) {
        message += "; did you mean '" + std::string(key.str()) + "' in [" + prefix + table + "]?";
      }
      fail(source_, key.source(), message);
    }
  }

 private:
  const toml::table& document_;
  const Source& source_;
  std::vector<std::string> read_;
};

void read_document(const toml::table& document, const Source& source, Config& config) {
  DocumentReader reader(document, source);
  visit_tables(reader, config);
  reader.finish();
}

// The recipe a document names, if it names one.
std::optional<Recipe> recipe_of(const toml::table& document, const Source& source) {
  const toml::node* training = document.get("training");
  if (!training || !training->is_table()) return std::nullopt;
  if (!training->as_table()->get("recipe")) return std::nullopt;
  TrainingConfig section;
  TableReader reader(training->as_table(), "training", source);
  reader.field("recipe", section.recipe, kRecipes);
  return section.recipe;
}

toml::table parse_toml(std::string_view text, const Source& source) {
  try {
    return toml::parse(text, source.name);
  } catch (const toml::parse_error& e) {
    fail(source, e.source(), std::string(e.description()));
  }
}

toml::table parse_override(const std::string& text) { return parse_toml(override_toml(text), Source{text, true}); }

// Cross-table rules and derived values, once everything is layered.
void resolve(Config& config, const std::string& source_name) {
  auto refuse = [&](const std::string& what) { throw std::runtime_error(source_name + ": " + what); };
  if (config.data.store.empty()) refuse("[data] store is required: the nodule store to train on");
  if (config.training.model_selection == ModelSelection::kBestValidationDsc &&
      config.training.validation_fraction <= 0) {
    refuse("[training] model_selection = \"best_validation_dsc\" needs [training] validation_fraction > 0");
  }
  if (config.data.split.empty() && config.data.fold != 0) {
    refuse("[data] fold = " + std::to_string(config.data.fold) + " needs a [data] split file");
  }
  config.data.store = fs::absolute(config.data.store).lexically_normal();
  if (!config.data.split.empty()) config.data.split = fs::absolute(config.data.split).lexically_normal();

  const int channels = static_cast<int>(config.preprocess.windows.size());
  if (config.model.in_channels == 0) config.model.in_channels = channels;
  if (config.model.in_channels != channels) {
    refuse("[model] in_channels = " + std::to_string(config.model.in_channels) + " but [preprocess] windows " +
           "makes " + std::to_string(channels) + " channel(s); set in_channels = 0 to follow the windows");
  }
  if (config.schedule.kind == ScheduleKind::kCosineRestarts && config.schedule.eta_min > config.optimizer.lr) {
    std::ostringstream what;
    what << "[schedule] eta_min = " << config.schedule.eta_min << " exceeds [optimizer] lr = "
         << config.optimizer.lr << ", the top of each cycle";
    refuse(what.str());
  }
}

// ---------------------------------------------------------------------------------------------------
// Writer: a Config as TOML.

class TableWriter {
 public:
  void field(std::string_view key, const int& value, Range) { put(key, static_cast<std::int64_t>(value)); }
  void field(std::string_view key, const std::uint64_t& value) { put(key, static_cast<std::int64_t>(value)); }
  void field(std::string_view key, const double& value, Range) { put(key, value); }
  void field(std::string_view key, const bool& value) { put(key, value); }
  void field(std::string_view key, const std::string& value, const StringRule&) { put(key, value); }
  void field(std::string_view key, const fs::path& value) { put(key, value.string()); }
  template <class E, std::size_t N>
  void field(std::string_view key, const E& value, const Choice<E> (&choices)[N]) {
    put(key, std::string(name_of(choices, value)));
  }
  void field(std::string_view key, const std::array<double, 2>& value, Range) {
    put(key, toml::array{value[0], value[1]});
  }
  void field(std::string_view key, const std::vector<HuWindow>& windows) {
    toml::array array;
    for (const HuWindow& w : windows) array.push_back(toml::array{w.lo, w.hi});
    put(key, std::move(array));
  }

  toml::table table;

 private:
  template <class T>
  void put(std::string_view key, T&& value) {
    table.insert_or_assign(key, std::forward<T>(value));
  }
};

class DocumentWriter {
 public:
  template <class Section>
  void table(const char* name, Section& section) {
    TableWriter writer;
    visit(writer, section);
    document.insert_or_assign(name, std::move(writer.table));
  }
  toml::table document;
};

toml::table as_document(const Config& config) {
  Config copy = config;  // the visitors take mutable sections; the writer only reads them
  DocumentWriter writer;
  visit_tables(writer, copy);
  return std::move(writer.document);
}

// One document of job tables on the way to a Config, and where it came from.
struct Layer {
  Source source;
  const toml::table* tables;
};

// Layers `layers` in order over the defaults and resolves. The recipe the last of them names is applied
// before any key, so that every key set anywhere wins over the preset.
Config layered_config(const std::vector<Layer>& layers, const std::string& source_name) {
  // The recipe is applied first, so that it must be known before the keys are layered on it.
  Recipe recipe = Recipe::kPaper;
  for (const Layer& layer : layers) {
    if (const auto named = recipe_of(*layer.tables, layer.source)) recipe = *named;
  }
  Config config;
  config.model.in_channels = 0;  // "one per window" unless the file says otherwise
  apply_recipe(config, recipe);
  for (const Layer& layer : layers) read_document(*layer.tables, layer.source, config);
  resolve(config, source_name);
  return config;
}

// The file's layers followed by one per override. The overrides' documents are kept in `storage`.
std::vector<Layer> with_overrides(std::vector<Layer> layers, const std::vector<std::string>& overrides,
                                  std::vector<toml::table>& storage) {
  storage.reserve(overrides.size());
  for (const std::string& text : overrides) {
    storage.push_back(parse_override(text));
    layers.push_back({Source{text, true}, &storage.back()});
  }
  return layers;
}

}  // namespace

void apply_recipe(Config& config, Recipe recipe) {
  config.training.recipe = recipe;
  switch (recipe) {
    case Recipe::kPaper: {
      const Config defaults;
      config.optimizer = defaults.optimizer;
      config.schedule = defaults.schedule;
      config.training.epochs = defaults.training.epochs;
      config.training.batch_size = defaults.training.batch_size;
      config.training.shuffle = defaults.training.shuffle;
      config.preprocess.windows = defaults.preprocess.windows;
      break;
    }
    case Recipe::kPublished:
      config.optimizer.kind = OptimizerKind::kAdam;
      config.optimizer.lr = 1e-4;
      config.optimizer.betas = {0.5, 0.999};
      config.optimizer.weight_decay = 0.0;
      config.schedule.kind = ScheduleKind::kCosineRestarts;
      config.schedule.t0 = 50;
      config.schedule.t_mult = 2;
      config.schedule.eta_min = 0.0;
      config.schedule.update = ScheduleUpdate::kEpoch;
      config.training.epochs = 150;
      config.training.batch_size = 8;
      config.training.shuffle = false;
      config.preprocess.windows = kPublishedWindows;
      break;
  }
}

Config parse_config(std::string_view toml_text, std::string_view source_name,
                    const std::vector<std::string>& overrides) {
  const Source file{std::string(source_name), false};
  const toml::table document = parse_toml(toml_text, file);
  std::vector<toml::table> override_documents;
  return layered_config(with_overrides({{file, &document}}, overrides, override_documents), file.name);
}

Config parse_config_tables(std::string_view toml_text, std::string_view source_name,
                           const std::vector<std::string>& tables, const std::vector<std::string>& overrides) {
  const Source file{std::string(source_name), false};
  const toml::table document = parse_toml(toml_text, file);
  std::vector<Layer> layers;
  for (const std::string& path : tables) {
    const toml::node* node = document.at_path(path).node();
    if (!node) continue;
    if (!node->is_table()) fail(file, node->source(), "'" + path + "' must be a table ([" + path + "])");
    layers.push_back({Source{file.name, false, path + "."}, node->as_table()});
  }
  std::vector<toml::table> override_documents;
  return layered_config(with_overrides(std::move(layers), overrides, override_documents), file.name);
}

Config load_config(const fs::path& file, const std::vector<std::string>& overrides) {
  return parse_config(storage::read_text_file(file, "configuration file"), file.string(), overrides);
}

std::string override_toml(const std::string& text) {
  const std::size_t equals = text.find('=');
  const std::string path = text.substr(0, equals);
  const std::size_t dot = path.find('.');
  auto is_name = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
  };
  if (equals == std::string::npos || dot == std::string::npos || !is_name(path.substr(0, dot)) ||
      !is_name(path.substr(dot + 1))) {
    throw std::runtime_error("override '" + text + "': expected section.key=value, e.g. training.epochs=3");
  }
  const std::string value = text.substr(equals + 1);
  const std::string header = "[" + path.substr(0, dot) + "]\n" + path.substr(dot + 1) + " = ";
  try {
    static_cast<void>(toml::parse(header + value));  // only: is it TOML?
    return header + value;
  } catch (const toml::parse_error&) {
    std::string escaped;
    for (char c : value) {
      if (c == '"' || c == '\\') escaped += '\\';
      escaped += c;
    }
    return header + "\"" + escaped + "\"";
  }
}

bool is_runtime_key(std::string_view key) {
  return key == "training.device" || key == "training.prefetch_batches" || key == "training.checkpoint_every";
}

std::string to_toml(const Config& config) {
  std::ostringstream out;
  out << as_document(config) << "\n";
  return out.str();
}

std::string identity_toml(const Config& config) {
  toml::table document = as_document(config);
  for (auto& [section, table] : document) {
    std::vector<std::string> runtime;
    for (const auto& [key, value] : *table.as_table()) {
      if (is_runtime_key(std::string(section.str()) + "." + std::string(key.str()))) runtime.emplace_back(key.str());
    }
    for (const std::string& key : runtime) table.as_table()->erase(key);
  }
  std::ostringstream out;
  out << document << "\n";
  return out.str();
}

}  // namespace ugs::worker
