// Reading a sweep file and expanding it into jobs. The job tables are read by worker/config.cpp
// (parse_config_tables); this file reads only the sweep's own keys, with the same habits: every key
// known, exact types, errors at file:line:column with the closest known name.
#include "ugs/orchestrator/sweep.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <iomanip>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <c10/util/hash.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "ugs/model/network.h"
#include "ugs/storage/files.h"
#include "ugs/worker/suggest.h"

namespace ugs::orchestrator {
namespace {

namespace fs = std::filesystem;

// The job tables a sweep keeps under [defaults] and an experiment's overrides, and the keys the
// expansion sets per job (so that setting them anywhere else would be silently overwritten).
const char* const kJobTables[] = {"data",     "model",    "loss",       "optimizer",
                                  "schedule", "training", "preprocess", "augment"};
struct PerJobKey {
  const char* table;
  const char* key;
  const char* chosen_by;
};
const PerJobKey kPerJobKeys[] = {{"model", "name", "the experiment's networks"},
                                 {"data", "fold", "[sweep] folds"},
                                 {"training", "seed", "[sweep] seeds"}};

// Source names of override documents start with this, so that errors quote the override instead of
// a line and column.
constexpr std::string_view kOverrideSource = "override '";

// Hex digits of a job id and of the configuration id in a folder name.
constexpr std::size_t kJobIdDigits = 12;
constexpr std::size_t kConfigurationIdDigits = 8;

// The Complex-Nodule Validation's groups: U-Net DSC <= 60%, 70%, 80% (the paper's Table III).
const std::vector<double> kPaperDscThresholds = {0.6, 0.7, 0.8};

// ---------------------------------------------------------------------------------------------------
// Where things are, and failing there

std::string at(const toml::source_region& region) {
  const std::string path = region.path ? *region.path : std::string("<sweep>");
  if (std::string_view(path).substr(0, kOverrideSource.size()) == kOverrideSource) return path;
  return path + ":" + std::to_string(region.begin.line) + ":" + std::to_string(region.begin.column);
}

[[noreturn]] void fail(const toml::source_region& region, const std::string& what) {
  throw std::runtime_error(at(region) + ": " + what);
}

std::string text_of(const toml::node& node) {
  if (node.is_table()) return "a table";
  std::ostringstream text;
  node.visit([&](const auto& value) { text << value; });
  return text.str();
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "'" : ", '") + name + "'";
  return text;
}

// A name that is safe as a folder name and as one key of a dotted TOML path.
bool is_plain_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

// ---------------------------------------------------------------------------------------------------
// Reading the keys of one table: typed, range-checked, every key accounted for.

class KeyReader {
 public:
  // `title` names the table in messages, e.g. "[sweep]" or "[experiments.table1]".
  KeyReader(const toml::table& table, std::string title) : table_(table), title_(std::move(title)) {}

  // The node of `key`, or null when the table does not set it. Either way the key is known.
  const toml::node* get(std::string_view key) {
    known_.emplace_back(key);
    return table_.get(key);
  }

  std::optional<std::string> string(std::string_view key, bool (*valid)(std::string_view), const char* expected) {
    const toml::node* node = get(key);
    if (!node) return std::nullopt;
    const auto value = node->value_exact<std::string>();
    if (!value || !valid(*value)) bad_value(*node, key, expected);
    return *value;
  }
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max) {
    const toml::node* node = get(key);
    if (!node) return std::nullopt;
    const auto value = node->value_exact<std::int64_t>();
    if (!value || *value < min || *value > max) {
      bad_value(*node, key, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return *value;
  }
  std::optional<bool> boolean(std::string_view key) {
    const toml::node* node = get(key);
    if (!node) return std::nullopt;
    const auto value = node->value_exact<bool>();
    if (!value) bad_value(*node, key, "true or false");
    return *value;
  }
  // A non-empty list of distinct elements, each read by `element` (which returns nullopt when it does
  // not fit). Also returns each element's node, for errors about a single element later.
  template <class T, class Element>
  std::optional<std::vector<std::pair<T, const toml::node*>>> list(std::string_view key, const std::string& expected,
                                                                   Element element) {
    const toml::node* node = get(key);
    if (!node) return std::nullopt;
    const toml::array* array = node->as_array();
    if (!array || array->empty()) bad_value(*node, key, "a non-empty list of " + expected);
    std::vector<std::pair<T, const toml::node*>> values;
    for (const toml::node& item : *array) {
      const std::optional<T> value = element(item);
      if (!value) bad_value(item, key, "a list of " + expected);
      for (const auto& [seen, seen_node] : values) {
        if (seen == *value) fail(item.source(), title_ + " " + std::string(key) + " names " + text_of(item) + " twice");
      }
      values.emplace_back(*value, &item);
    }
    return values;
  }

  // Nothing but the keys read so far may be in the table. `elsewhere` maps keys that belong to
  // another kind of table to where they belong, for a better hint than the closest name.
  void finish(const std::map<std::string, std::string>& elsewhere = {}) const {
    for (const auto& [key, node] : table_) {
      const std::string name(key.str());
      if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
      std::string message = "unknown key '" + name + "' in " + title_;
      if (const auto hint = elsewhere.find(name); hint != elsewhere.end()) {
        message += "; " + hint->second;
      } else if (const std::string suggestion = worker::closest_name(name, known_); !suggestion.empty()) {
        message += "; did you mean '" + suggestion + "'?";
      }
      fail(key.source(), message);
    }
  }

  [[noreturn]] void bad_value(const toml::node& node, std::string_view key, const std::string& expected) const {
    fail(node.source(), title_ + " " + std::string(key) + " must be " + expected + ", got " + text_of(node));
  }

 private:
  const toml::table& table_;
  std::string title_;
  std::vector<std::string> known_;
};

std::optional<std::int64_t> exact_integer(const toml::node& node, std::int64_t min) {
  const auto value = node.value_exact<std::int64_t>();
  if (!value || *value < min) return std::nullopt;
  return *value;
}

std::optional<std::string> exact_string(const toml::node& node) { return node.value_exact<std::string>(); }

std::optional<double> fraction(const toml::node& node) {
  std::optional<double> value = node.value_exact<double>();
  if (!value) {
    if (const auto i = node.value_exact<std::int64_t>()) value = static_cast<double>(*i);
  }
  if (!value || !(*value > 0.0 && *value <= 1.0)) return std::nullopt;
  return value;
}

template <class T>
std::vector<T> values_of(const std::vector<std::pair<T, const toml::node*>>& list) {
  std::vector<T> values;
  for (const auto& [value, node] : list) values.push_back(value);
  return values;
}

// ---------------------------------------------------------------------------------------------------
// The document and its overrides

toml::table parse_document(std::string_view text, const std::string& source_name) {
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    fail(e.source(), std::string(e.description()));
  }
}

// `sweep.key=value` as the document {sweep = {key = value}}, read as worker::parse_config reads its
// overrides.
toml::table parse_sweep_override(const std::string& text) {
  return parse_document(worker::override_toml(text), std::string(kOverrideSource) + text + "'");
}

// The path part of `section.key=value`.
std::string override_key(const std::string& text) { return text.substr(0, text.find('=')); }

// ---------------------------------------------------------------------------------------------------
// [sweep]

struct SettingsRead {
  SweepSettings settings;
  std::string folds_where;  // where the folds were set, for errors about a fold
};

void read_settings(const toml::table& document, SettingsRead& read) {
  const toml::node* node = document.get("sweep");
  if (!node) return;
  if (!node->is_table()) fail(node->source(), "'sweep' must be a table ([sweep])");
  SweepSettings& s = read.settings;
  KeyReader keys(*node->as_table(), "[sweep]");
  if (auto name = keys.string("name", is_plain_name, "a name of letters, digits, '_', '-' and '.'")) s.name = *name;
  if (auto folds = keys.list<int>("folds", "distinct fold numbers >= 0", [](const toml::node& item) {
        const auto value = exact_integer(item, 0);
        return value && *value <= std::numeric_limits<int>::max() ? std::optional<int>(static_cast<int>(*value))
                                                                  : std::nullopt;
      })) {
    s.folds = values_of(*folds);
    read.folds_where = at(node->as_table()->get("folds")->source()) + ": [sweep] folds";
  }
  if (auto seeds = keys.list<std::uint64_t>("seeds", "distinct seeds >= 0", [](const toml::node& item) {
        const auto value = exact_integer(item, 0);
        return value ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(*value)) : std::nullopt;
      })) {
    s.seeds = values_of(*seeds);
  }
  if (auto ranks = keys.integer("ranks_per_job", 1, 1 << 20)) s.ranks_per_job = static_cast<int>(*ranks);
  if (auto retries = keys.integer("max_retries", 0, 1000)) s.max_retries = static_cast<int>(*retries);
  if (auto fail_fast = keys.boolean("fail_fast")) s.fail_fast = *fail_fast;
  keys.finish();
}

// ---------------------------------------------------------------------------------------------------
// [experiments.NAME]

// An experiment as read, with the nodes that later checks point at.
struct ExperimentRead {
  Experiment experiment;
  const toml::node* table = nullptr;
  std::vector<const toml::node*> after_nodes;
  bool has_overrides = false;
};

// The keys of each kind, for the hint when a key of one kind is used in the other.
const std::map<std::string, std::string>& keys_of_other_kinds(ExperimentKind kind) {
  static const std::map<std::string, std::string> not_training = {
      {"reference", "'reference' is a key of kind = \"complex_nodules\" experiments"},
      {"dsc_thresholds", "'dsc_thresholds' is a key of kind = \"complex_nodules\" experiments"}};
  static const std::map<std::string, std::string> not_analysis = {
      {"overrides", "an analysis trains nothing: 'overrides' is a key of kind = \"training\" experiments"},
      {"baseline", "an analysis compares with its 'reference': 'baseline' is a key of kind = \"training\" "
                   "experiments"}};
  return kind == ExperimentKind::kTraining ? not_training : not_analysis;
}

// Refuses, in a layer of job tables, the keys the expansion sets per job.
void refuse_per_job_keys(const toml::table& layer, const std::string& layer_name) {
  for (const PerJobKey& per_job : kPerJobKeys) {
    const toml::node* table = layer.get(per_job.table);
    if (!table || !table->is_table()) continue;
    if (const toml::node* node = table->as_table()->get(per_job.key)) {
      fail(node->source(), "[" + layer_name + "." + per_job.table + "] " + per_job.key + " is chosen per job by " +
                               per_job.chosen_by + "; remove it here");
    }
  }
}

ExperimentRead read_experiment(const std::string& name, const toml::node& node) {
  const std::string title = "[experiments." + name + "]";
  if (!is_plain_name(name) || name.find('.') != std::string::npos) {
    fail(node.source(), "experiment name '" + name + "' must be letters, digits, '_' and '-'");
  }
  if (!node.is_table()) fail(node.source(), "'" + name + "' must be a table (" + title + ")");
  ExperimentRead read;
  read.table = &node;
  Experiment& e = read.experiment;
  e.name = name;
  KeyReader keys(*node.as_table(), title);
  auto any = [](std::string_view) { return true; };

  // Every key is read (and so known) before any is judged, so that a misspelt key is reported as
  // such rather than as the key it should have been missing.
  const toml::node* kind_node = keys.get("kind");
  if (kind_node) {
    const auto kind = kind_node->value_exact<std::string>();
    if (kind && *kind == to_string(ExperimentKind::kTraining)) {
      e.kind = ExperimentKind::kTraining;
    } else if (kind && *kind == to_string(ExperimentKind::kComplexNodules)) {
      e.kind = ExperimentKind::kComplexNodules;
    } else {
      keys.bad_value(*kind_node, "kind", "\"training\" or \"complex_nodules\"");
    }
  }
  if (auto description = keys.string("description", any, "a string")) e.description = *description;
  if (auto table = keys.string(
          "paper_table", [](std::string_view t) { return t == "I" || t == "II" || t == "III"; },
          "\"I\", \"II\" or \"III\"")) {
    e.paper_table = *table;
  }
  const auto networks = keys.list<std::string>("networks", "distinct network names", exact_string);
  if (auto after = keys.list<std::string>("after", "distinct experiment names", exact_string)) {
    e.after = values_of(*after);
    for (const auto& [name_after, after_node] : *after) read.after_nodes.push_back(after_node);
  }
  const toml::node* overrides = nullptr;
  const toml::node* reference_node = nullptr;
  const toml::node* baseline_node = nullptr;
  if (e.kind == ExperimentKind::kTraining) {
    if (auto baseline = keys.string("baseline", any, "a network name")) e.baseline = *baseline;
    baseline_node = keys.get("baseline");
    overrides = keys.get("overrides");
    if (overrides && !overrides->is_table()) {
      keys.bad_value(*overrides, "overrides",
                     "a table of job tables ([experiments." + name + ".overrides.training] ...)");
    }
  } else {
    if (auto reference = keys.string("reference", any, "a network name")) e.reference = *reference;
    reference_node = keys.get("reference");
    e.dsc_thresholds = kPaperDscThresholds;
    if (auto thresholds = keys.list<double>("dsc_thresholds", "distinct DSC values in (0, 1]", fraction)) {
      e.dsc_thresholds = values_of(*thresholds);
    }
  }
  keys.finish(keys_of_other_kinds(e.kind));

  const std::vector<std::string> known_networks = model::network_names();
  if (!networks) fail(node.source(), title + " needs networks = [...], some of " + quoted_list(known_networks));
  for (const auto& [network, network_node] : *networks) {
    if (std::find(known_networks.begin(), known_networks.end(), network) == known_networks.end()) {
      std::string message = "unknown network '" + network + "' in " + title + " networks";
      const std::string suggestion = worker::closest_name(network, known_networks);
      message += suggestion.empty() ? "; known networks: " + quoted_list(known_networks)
                                    : "; did you mean '" + suggestion + "'?";
      fail(network_node->source(), message);
    }
    e.networks.push_back(network);
  }
  if (overrides) {
    refuse_per_job_keys(*overrides->as_table(), "experiments." + name + ".overrides");
    read.has_overrides = true;
  }
  if (baseline_node && std::find(e.networks.begin(), e.networks.end(), e.baseline) == e.networks.end()) {
    keys.bad_value(*baseline_node, "baseline", "one of its networks (" + quoted_list(e.networks) + ")");
  }
  if (e.kind == ExperimentKind::kComplexNodules) {
    if (!reference_node) {
      fail(node.source(), title + " needs reference = \"...\": the network whose DSC picks the nodules");
    }
    if (std::find(e.networks.begin(), e.networks.end(), e.reference) == e.networks.end()) {
      keys.bad_value(*reference_node, "reference", "one of its networks (" + quoted_list(e.networks) + ")");
    }
    if (e.after.empty()) {
      fail(node.source(), title + " needs after = [...]: the experiments that train " + quoted_list(e.networks));
    }
  }
  return read;
}

// The experiments in file order (toml++ keeps a table's keys sorted by name).
std::vector<ExperimentRead> read_experiments(const toml::table& document, const std::string& source_name) {
  const toml::node* node = document.get("experiments");
  if (!node) throw std::runtime_error(source_name + ": no experiments: add [experiments.NAME] tables");
  if (!node->is_table()) fail(node->source(), "'experiments' must be a table of [experiments.NAME] tables");
  std::vector<ExperimentRead> experiments;
  for (const auto& [key, value] : *node->as_table()) {
    experiments.push_back(read_experiment(std::string(key.str()), value));
  }
  if (experiments.empty()) fail(node->source(), "no experiments: add [experiments.NAME] tables");
  std::stable_sort(experiments.begin(), experiments.end(), [](const ExperimentRead& a, const ExperimentRead& b) {
    const auto& x = a.table->source().begin;
    const auto& y = b.table->source().begin;
    return std::pair(x.line, x.column) < std::pair(y.line, y.column);
  });

  std::vector<std::string> names;
  for (const ExperimentRead& read : experiments) names.push_back(read.experiment.name);
  std::map<std::string, const ExperimentRead*> paper_tables;
  for (const ExperimentRead& read : experiments) {
    const Experiment& e = read.experiment;
    for (std::size_t i = 0; i < e.after.size(); ++i) {
      if (std::find(names.begin(), names.end(), e.after[i]) != names.end()) continue;
      std::string message = "[experiments." + e.name + "] after names an unknown experiment '" + e.after[i] + "'";
      const std::string suggestion = worker::closest_name(e.after[i], names);
      message += suggestion.empty() ? "; experiments: " + quoted_list(names) : "; did you mean '" + suggestion + "'?";
      fail(read.after_nodes[i]->source(), message);
    }
    if (!e.paper_table.empty()) {
      const auto [other, inserted] = paper_tables.emplace(e.paper_table, &read);
      if (!inserted) {
        const std::string taken_by = "[experiments." + other->second->experiment.name + "]";
        fail(read.table->as_table()->get("paper_table")->source(),
             "[experiments." + e.name + "] paper_table = \"" + e.paper_table + "\" is taken by " + taken_by);
      }
    }
  }
  return experiments;
}

// Experiment indices with every experiment after the ones it names; a cycle is an error naming it.
std::vector<std::size_t> experiment_order(const std::vector<ExperimentRead>& experiments) {
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < experiments.size(); ++i) index[experiments[i].experiment.name] = i;
  enum class Mark { kNew, kVisiting, kDone };
  std::vector<Mark> marks(experiments.size(), Mark::kNew);
  std::vector<std::size_t> order, path;
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    if (marks[i] == Mark::kDone) return;
    if (marks[i] == Mark::kVisiting) {
      std::string cycle;
      for (auto it = std::find(path.begin(), path.end(), i); it != path.end(); ++it) {
        cycle += experiments[*it].experiment.name + " -> ";
      }
      const ExperimentRead& read = experiments[i];
      fail(read.table->as_table()->get("after")->source(),
           "a cycle of `after`s: " + cycle + read.experiment.name + " (each must run after the next)");
    }
    marks[i] = Mark::kVisiting;
    path.push_back(i);
    for (const std::string& after : experiments[i].experiment.after) visit(index.at(after));
    path.pop_back();
    marks[i] = Mark::kDone;
    order.push_back(i);
  };
  for (std::size_t i = 0; i < experiments.size(); ++i) visit(i);
  return order;
}

// ---------------------------------------------------------------------------------------------------
// Expansion

std::string sha1_hex(const std::string& text) { return c10::sha1(text).str(); }

// Training nodules per fold of each split file (cached), or nothing when the file does not exist.
class NoduleCounts {
 public:
  std::optional<std::size_t> training_nodules(const fs::path& split, int fold, const std::string& folds_where) {
    auto cached = folds_.find(split);
    if (cached == folds_.end()) cached = folds_.emplace(split, read(split)).first;
    if (!cached->second) return std::nullopt;
    const std::vector<std::size_t>& counts = *cached->second;
    if (fold >= static_cast<int>(counts.size())) {
      throw std::runtime_error(folds_where + ": fold " + std::to_string(fold) + " is not in " + split.string() +
                               ", which has " + std::to_string(counts.size()) + " folds (0-" +
                               std::to_string(counts.size() - 1) + ")");
    }
    return counts[fold];
  }

 private:
  static std::optional<std::vector<std::size_t>> read(const fs::path& split) {
    std::ifstream in(split, std::ios::binary);
    if (!in) return std::nullopt;
    nlohmann::json folds;
    try {
      in >> folds;
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(split.string() + ": not JSON: " + e.what());
    }
    if (!folds.is_array() || folds.empty()) {
      throw std::runtime_error(split.string() + ": not a splits_final.json (a list of {\"train\", \"val\"} folds)");
    }
    std::vector<std::size_t> counts;
    for (const nlohmann::json& fold : folds) {
      if (!fold.is_object() || !fold.contains("train") || !fold["train"].is_array()) {
        throw std::runtime_error(split.string() + ": fold " + std::to_string(counts.size()) +
                                 " has no \"train\" list of nodule ids");
      }
      counts.push_back(fold["train"].size());
    }
    return counts;
  }

  std::map<fs::path, std::optional<std::vector<std::size_t>>> folds_;
};

std::string fold_folder(int fold, std::uint64_t seed) {
  std::string name = "fold_" + std::to_string(fold);
  if (seed != 0) name += "_seed" + std::to_string(seed);
  return name;
}

class Expander {
 public:
  Expander(std::string_view text, std::string source_name, const SettingsRead& settings,
           std::vector<std::string> job_overrides)
      : text_(text),
        source_name_(std::move(source_name)),
        settings_(settings),
        job_overrides_(std::move(job_overrides)),
        folds_where_(settings.folds_where) {}

  void expand_training(ExperimentRead& read) {
    Experiment& e = read.experiment;
    std::vector<std::string> tables = {"defaults"};
    if (read.has_overrides) tables.push_back("experiments." + e.name + ".overrides");
    for (const std::string& network : e.networks) {
      for (const int fold : settings_.settings.folds) {
        std::vector<std::string> overrides = job_overrides_;
        overrides.push_back("model.name=\"" + network + "\"");
        overrides.push_back("data.fold=" + std::to_string(fold));
        // Parsed once per fold, not per seed: parsing reads the whole file, [sweep] seeds included,
        // so per seed it would cost seeds^2. No rule of the configuration reads the seed.
        const worker::Config config = worker::parse_config_tables(text_, source_name_, tables, overrides);
        for (const std::uint64_t seed : settings_.settings.seeds) {
          worker::Config seeded = config;
          seeded.training.seed = seed;
          add(e, training_job(std::move(seeded)));
        }
      }
    }
  }

  void expand_analysis(Experiment& e, const std::vector<ExperimentRead>& experiments) {
    Job job;
    job.kind = JobKind::kAnalysis;
    std::set<std::string> trained;
    for (const std::string& after : e.after) {
      const Experiment& before = find(experiments, after);
      for (const std::string& id : before.job_ids) {
        const Job& dependency = jobs_[index_.at(id)];
        if (dependency.kind == JobKind::kAnalysis ||
            std::find(e.networks.begin(), e.networks.end(), dependency.network) != e.networks.end()) {
          job.depends_on.push_back(id);
          trained.insert(dependency.network);
        }
      }
    }
    for (const std::string& network : e.networks) {
      if (trained.count(network)) continue;
      throw std::runtime_error(source_name_ + ": [experiments." + e.name + "] compares '" + network +
                               "', but none of the experiments it runs after (" + quoted_list(e.after) + ") trains it");
    }
    std::sort(job.depends_on.begin(), job.depends_on.end());
    job.depends_on.erase(std::unique(job.depends_on.begin(), job.depends_on.end()), job.depends_on.end());
    std::ostringstream identity;
    identity << "analysis " << to_string(e.kind) << "\nreference " << e.reference << "\nnetworks";
    for (const std::string& network : e.networks) identity << " " << network;
    identity << "\ndsc_thresholds";
    for (const double t : e.dsc_thresholds) identity << " " << std::setprecision(17) << t;
    identity << "\nreads";
    for (const std::string& id : job.depends_on) identity << " " << id;
    job.id = sha1_hex(identity.str()).substr(0, kJobIdDigits);
    job.folder =
        fs::path("analysis") / (std::string(to_string(e.kind)) + "-" + job.id.substr(0, kConfigurationIdDigits));
    add(e, std::move(job));
  }

  // Every job of a training experiment waits for every job of the experiments it runs after.
  void add_training_dependencies(const std::vector<ExperimentRead>& experiments) {
    for (const ExperimentRead& read : experiments) {
      const Experiment& e = read.experiment;
      if (e.kind != ExperimentKind::kTraining) continue;
      for (const std::string& id : e.job_ids) {
        Job& job = jobs_[index_.at(id)];
        for (const std::string& after : e.after) {
          for (const std::string& dependency : find(experiments, after).job_ids) {
            if (std::find(job.depends_on.begin(), job.depends_on.end(), dependency) == job.depends_on.end()) {
              job.depends_on.push_back(dependency);
            }
          }
        }
      }
    }
  }

  std::vector<Job>& jobs() { return jobs_; }
  bool nodule_counts_known() const { return nodule_counts_known_; }

 private:
  static const Experiment& find(const std::vector<ExperimentRead>& experiments, const std::string& name) {
    for (const ExperimentRead& read : experiments) {
      if (read.experiment.name == name) return read.experiment;
    }
    throw std::logic_error("sweep: experiment '" + name + "' vanished");
  }

  Job training_job(worker::Config config) {
    Job job;
    job.network = config.model.name;
    job.fold = config.data.fold;
    job.seed = config.training.seed;
    job.id = sha1_hex(worker::identity_toml(config)).substr(0, kJobIdDigits);
    // The prefix keeps a configuration id from reading like the id of its fold 0 job.
    worker::Config configuration = config;
    configuration.data.fold = 0;
    configuration.training.seed = 0;
    const std::string configuration_id =
        sha1_hex("configuration\n" + worker::identity_toml(configuration)).substr(0, kConfigurationIdDigits);
    job.folder = fs::path("jobs") / (job.network + "-" + configuration_id) / fold_folder(job.fold, job.seed);

    double nodules = 1;
    if (config.data.split.empty()) {
      nodule_counts_known_ = false;
    } else if (const auto counted = nodule_counts_.training_nodules(config.data.split, job.fold, folds_where_)) {
      nodules = static_cast<double>(*counted);
      if (config.data.limit > 0) nodules = std::min(nodules, static_cast<double>(config.data.limit));
      nodules *= 1.0 - config.training.validation_fraction;
    } else {
      nodule_counts_known_ = false;
    }
    job.estimated_cost = config.training.epochs * nodules * relative_cost(job.network);
    job.config = std::move(config);
    return job;
  }

  void add(Experiment& e, Job job) {
    const auto [found, inserted] = index_.emplace(job.id, jobs_.size());
    if (inserted) jobs_.push_back(std::move(job));
    Job& kept = jobs_[found->second];
    if (std::find(kept.experiments.begin(), kept.experiments.end(), e.name) == kept.experiments.end()) {
      kept.experiments.push_back(e.name);
    }
    e.job_ids.push_back(kept.id);
  }

  std::string_view text_;
  std::string source_name_;
  const SettingsRead& settings_;
  std::vector<std::string> job_overrides_;
  std::string folds_where_;
  NoduleCounts nodule_counts_;
  bool nodule_counts_known_ = true;
  std::vector<Job> jobs_;                     // in expansion order
  std::map<std::string, std::size_t> index_;  // id -> position in jobs_
};

// Priorities (the costliest chain of work each job starts) and the dispatch order.
std::vector<Job> dispatch_order(std::vector<Job> jobs) {
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < jobs.size(); ++i) index[jobs[i].id] = i;
  std::vector<std::vector<std::size_t>> dependents(jobs.size());
  std::vector<std::size_t> waiting_for(jobs.size(), 0);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    for (const std::string& id : jobs[i].depends_on) {
      const std::size_t dependency = index.at(id);
      if (dependency == i) {
        throw std::runtime_error("job " + jobs[i].id + " (" + jobs[i].network + " fold " +
                                 std::to_string(jobs[i].fold) + ") would wait for itself: experiments " +
                                 quoted_list(jobs[i].experiments) + " share it, and one runs after another");
      }
      dependents[dependency].push_back(i);
      ++waiting_for[i];
    }
  }
  // Kahn's algorithm twice: once from the end to compute priorities, once from the start to order.
  std::vector<std::size_t> pending(jobs.size(), 0), ready;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    pending[i] = dependents[i].size();
    if (pending[i] == 0) ready.push_back(i);
  }
  std::size_t finished = 0;
  while (!ready.empty()) {
    const std::size_t i = ready.back();
    ready.pop_back();
    ++finished;
    double longest_after = 0;
    for (const std::size_t d : dependents[i]) longest_after = std::max(longest_after, jobs[d].priority);
    jobs[i].priority = jobs[i].estimated_cost + longest_after;
    for (const std::string& id : jobs[i].depends_on) {
      if (--pending[index.at(id)] == 0) ready.push_back(index.at(id));
    }
  }
  if (finished != jobs.size()) {
    std::set<std::string> involved;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (pending[i] != 0) involved.insert(jobs[i].experiments.begin(), jobs[i].experiments.end());
    }
    throw std::runtime_error("a cycle of dependencies between jobs shared by experiments " +
                             quoted_list({involved.begin(), involved.end()}) +
                             ": a job they share would wait for itself");
  }

  auto later = [&](std::size_t a, std::size_t b) {  // for a max-heap: highest priority, then first expanded
    return jobs[a].priority < jobs[b].priority || (jobs[a].priority == jobs[b].priority && a > b);
  };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> queue(later);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (waiting_for[i] == 0) queue.push(i);
  }
  std::vector<Job> ordered;
  while (!queue.empty()) {
    const std::size_t i = queue.top();
    queue.pop();
    for (const std::size_t d : dependents[i]) {
      if (--waiting_for[d] == 0) queue.push(d);
    }
    ordered.push_back(std::move(jobs[i]));
  }
  return ordered;
}

// ---------------------------------------------------------------------------------------------------
// Output

// Whole numbers from 100 up, three significant digits below.
std::string number(double value) {
  std::ostringstream out;
  if (value >= 100) {
    out << std::fixed << std::setprecision(0) << value;
  } else {
    out << std::setprecision(3) << value;
  }
  return out.str();
}

std::string count(std::size_t n, const std::string& singular, const std::string& plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

std::string joined(const std::vector<std::string>& items, const std::string& separator = ", ") {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : separator) + item;
  return text;
}

template <class T>
std::vector<std::string> as_strings(const std::vector<T>& values) {
  std::vector<std::string> strings;
  for (const T& value : values) {
    std::ostringstream text;
    text << value;
    strings.push_back(text.str());
  }
  return strings;
}

}  // namespace

const char* to_string(ExperimentKind kind) {
  switch (kind) {
    case ExperimentKind::kTraining:
      return "training";
    case ExperimentKind::kComplexNodules:
      return "complex_nodules";
  }
  throw std::logic_error("sweep: an experiment kind without a name");
}

const Job& Sweep::job(std::string_view id) const {
  for (const Job& job : jobs) {
    if (job.id == id) return job;
  }
  throw std::out_of_range("sweep " + settings.name + " has no job " + std::string(id));
}

const Experiment& Sweep::experiment(std::string_view name) const {
  for (const Experiment& experiment : experiments) {
    if (experiment.name == name) return experiment;
  }
  throw std::out_of_range("sweep " + settings.name + " has no experiment " + std::string(name));
}

double Sweep::estimated_work() const {
  double work = 0;
  for (const Job& job : jobs) work += job.estimated_cost;
  return work;
}

double relative_cost(std::string_view network) {
  // Time of a training step (forward, loss, backward; batch 8, 1x64x64, base_width 64) of each network
  // over U-Net's, on the development CPU with LibTorch 1.13: bench_baselines, bench/RESULTS.md and
  // bench/RESULTS.md (the UGS-Net family section). Rough (the shared machine moved single ratios by 10-20% between runs):
  // they order the jobs and size the estimate, nothing else depends on them. The loss variants of
  // V1 have V1's network; ugsnet-v1-iucm has UGS-Net's.
  static const std::map<std::string, double, std::less<>> kRelativeCost = {{"fcn32s", 5.0},
                                                                           {"unet", 1.0},
                                                                           {"r2unet", 2.5},
                                                                           {"r2aunet", 3.3},
                                                                           {"attunet", 1.1},
                                                                           {"nested-unet", 0.45},
                                                                           {"channel-unet", 3.7},
                                                                           {"ugsnet-v1", 1.9},
                                                                           {"ugsnet-v1-phi-a", 1.9},
                                                                           {"ugsnet-v1-phi-b", 1.9},
                                                                           {"ugsnet-v1-phi-ab", 1.9},
                                                                           {"ugsnet-v1-iucm", 2.1},
                                                                           {"ugsnet", 2.1}};
  const auto found = kRelativeCost.find(network);
  if (found == kRelativeCost.end()) {
    throw std::invalid_argument("no relative cost for network '" + std::string(network) +
                                "': add it to relative_cost() in orchestrator/src/core/sweep.cpp");
  }
  return found->second;
}

Sweep parse_sweep(std::string_view toml_text, std::string_view source_name, const std::vector<std::string>& overrides) {
  const std::string source(source_name);
  const toml::table document = parse_document(toml_text, source);

  for (const auto& [key, node] : document) {
    const std::string name(key.str());
    if (name == "sweep" || name == "defaults" || name == "experiments") continue;
    std::string message =
        "unknown " + std::string(node.is_table() ? "table [" + name + "]" : "top-level key '" + name + "'");
    if (std::find(std::begin(kJobTables), std::end(kJobTables), name) != std::end(kJobTables)) {
      message += "; job tables go under [defaults] ([defaults." + name + "]) or an experiment's overrides";
    } else if (const std::string suggestion = worker::closest_name(name, {"sweep", "defaults", "experiments"});
               !suggestion.empty()) {
      message += "; did you mean [" + suggestion + "]?";
    }
    fail(key.source(), message);
  }

  SettingsRead settings;
  settings.settings.name = fs::path(source).stem().string();
  settings.folds_where = source + ": [sweep] folds (by default)";
  read_settings(document, settings);
  std::vector<std::string> job_overrides;
  for (const std::string& text : overrides) {
    const std::string key = override_key(text);
    if (key.rfind("sweep.", 0) == 0) {
      const toml::table override_document = parse_sweep_override(text);
      read_settings(parse_sweep_override(text), settings);
      continue;
    }
    for (const PerJobKey& per_job : kPerJobKeys) {
      if (key == std::string(per_job.table) + "." + per_job.key) {
        throw std::runtime_error("override '" + text + "': " + key + " is chosen per job by " + per_job.chosen_by);
      }
    }
    job_overrides.push_back(text);
  }

  if (const toml::node* defaults = document.get("defaults")) {
    if (!defaults->is_table())
      fail(defaults->source(), "'defaults' must be a table of job tables ([defaults.data], ...)");
    refuse_per_job_keys(*defaults->as_table(), "defaults");
  }
  std::vector<ExperimentRead> experiments = read_experiments(document, source);
  const std::vector<std::size_t> order = experiment_order(experiments);

  Expander expander(toml_text, source, settings, job_overrides);
  for (ExperimentRead& read : experiments) {
    if (read.experiment.kind == ExperimentKind::kTraining) expander.expand_training(read);
  }
  for (const std::size_t i : order) {
    if (experiments[i].experiment.kind != ExperimentKind::kTraining) {
      expander.expand_analysis(experiments[i].experiment, experiments);
    }
  }
  expander.add_training_dependencies(experiments);

  Sweep sweep;
  sweep.source = source;
  sweep.settings = settings.settings;
  for (ExperimentRead& read : experiments) sweep.experiments.push_back(std::move(read.experiment));
  sweep.nodule_counts_known = expander.nodule_counts_known();
  std::map<std::string, std::size_t> file_order;
  for (std::size_t i = 0; i < sweep.experiments.size(); ++i) file_order[sweep.experiments[i].name] = i;
  for (Job& job : expander.jobs()) {
    std::sort(job.experiments.begin(), job.experiments.end(),
              [&](const std::string& a, const std::string& b) { return file_order.at(a) < file_order.at(b); });
  }
  sweep.jobs = dispatch_order(std::move(expander.jobs()));
  return sweep;
}

Sweep load_sweep(const fs::path& file, const std::vector<std::string>& overrides) {
  return parse_sweep(storage::read_text_file(file, "sweep file"), file.string(), overrides);
}

std::string plan_text(const Sweep& sweep) {
  const SweepSettings& s = sweep.settings;
  const auto training_jobs = static_cast<std::size_t>(std::count_if(
      sweep.jobs.begin(), sweep.jobs.end(), [](const Job& job) { return job.kind == JobKind::kTraining; }));
  std::ostringstream out;
  out << "sweep " << s.name << " (" << sweep.source
      << "): " << count(sweep.experiments.size(), "experiment", "experiments") << ", " << sweep.jobs.size()
      << " unique jobs (" << training_jobs << " training, " << sweep.jobs.size() - training_jobs << " analysis)\n";
  out << "  folds " << joined(as_strings(s.folds)) << "; seeds " << joined(as_strings(s.seeds)) << "; "
      << count(s.ranks_per_job, "rank", "ranks") << " per job; up to " << count(s.max_retries, "retry", "retries")
      << " per job; fail_fast " << (s.fail_fast ? "true" : "false") << "\n\nexperiments\n";

  std::map<std::string, std::size_t> shared_by;  // job id -> experiments listing it
  for (const Job& job : sweep.jobs) shared_by[job.id] = job.experiments.size();
  for (const Experiment& e : sweep.experiments) {
    out << "  " << e.name << (e.paper_table.empty() ? "" : " (Table " + e.paper_table + ")") << ": "
        << to_string(e.kind);
    if (!e.after.empty()) out << ", after " << joined(e.after);
    if (!e.description.empty()) out << " - " << e.description;
    out << "\n    networks: " << joined(e.networks) << "\n";
    if (e.kind == ExperimentKind::kTraining) {
      std::size_t shared = 0;
      for (const std::string& id : e.job_ids) shared += shared_by.at(id) > 1;
      out << "    " << count(e.networks.size(), "network", "networks") << " x "
          << count(s.folds.size(), "fold", "folds") << " x " << count(s.seeds.size(), "seed", "seeds") << " = "
          << count(e.job_ids.size(), "job", "jobs");
      if (shared > 0) out << ", " << shared << " shared with other experiments";
      out << "\n";
    } else {
      out << "    nodules whose " << e.reference << " DSC <= " << joined(as_strings(e.dsc_thresholds))
          << "; 1 analysis job\n";
    }
  }

  out << "\njobs in dispatch order (cost = epochs x training nodules x network factor";
  if (!sweep.nodule_counts_known) out << "; no split file found for some jobs, counted as 1 nodule";
  out << ")\n";
  out << "  " << std::left << std::setw(14) << "id" << std::setw(18) << "network" << std::setw(6) << "fold"
      << std::setw(6) << "seed" << std::setw(10) << "cost" << std::setw(44) << "folder"
      << "experiments\n";
  for (const Job& job : sweep.jobs) {
    out << "  " << std::left << std::setw(14) << job.id;
    if (job.kind == JobKind::kTraining) {
      out << std::setw(18) << job.network << std::setw(6) << job.fold << std::setw(6) << job.seed;
    } else {
      out << std::setw(30) << "analysis";
    }
    out << std::setw(10) << number(job.estimated_cost) << std::setw(44) << job.folder.generic_string()
        << joined(job.experiments) << "\n";
    if (!job.depends_on.empty()) {
      out << "    after " << count(job.depends_on.size(), "job", "jobs") << ": " << joined(job.depends_on, " ") << "\n";
    }
  }
  out << "\nestimated work: " << number(sweep.estimated_work()) << (sweep.nodule_counts_known ? " U-Net nodule-epochs" : " U-Net epochs")
      << " (the sum of the costs; relative units, docs/sweeps.md)\nnothing was run.\n";
  return out.str();
}

std::string plan_json(const Sweep& sweep) {
  using json = nlohmann::ordered_json;
  const SweepSettings& s = sweep.settings;
  json plan;
  plan["schema"] = "ugs.plan";
  plan["version"] = 1;
  plan["source"] = sweep.source;
  plan["sweep"] = {{"name", s.name},
                   {"folds", s.folds},
                   {"seeds", s.seeds},
                   {"ranks_per_job", s.ranks_per_job},
                   {"max_retries", s.max_retries},
                   {"fail_fast", s.fail_fast}};
  plan["nodule_counts_known"] = sweep.nodule_counts_known;
  json experiments = json::array();
  for (const Experiment& e : sweep.experiments) {
    json entry = {{"name", e.name},
                  {"kind", to_string(e.kind)},
                  {"description", e.description},
                  {"paper_table", e.paper_table},
                  {"networks", e.networks},
                  {"after", e.after}};
    if (!e.baseline.empty()) entry["baseline"] = e.baseline;
    if (e.kind == ExperimentKind::kComplexNodules) {
      entry["reference"] = e.reference;
      entry["dsc_thresholds"] = e.dsc_thresholds;
    }
    entry["jobs"] = e.job_ids;
    experiments.push_back(std::move(entry));
  }
  plan["experiments"] = std::move(experiments);
  json jobs = json::array();
  for (const Job& job : sweep.jobs) {
    json entry = {{"id", job.id},
                  {"kind", job.kind == JobKind::kTraining ? "training" : "analysis"},
                  {"experiments", job.experiments},
                  {"folder", job.folder.generic_string()},
                  {"depends_on", job.depends_on},
                  {"estimated_cost", job.estimated_cost},
                  {"priority", job.priority}};
    if (job.kind == JobKind::kTraining) {
      entry["network"] = job.network;
      entry["fold"] = job.fold;
      entry["seed"] = job.seed;
      entry["config"] = worker::to_toml(job.config);
    }
    jobs.push_back(std::move(entry));
  }
  plan["estimated_work"] = sweep.estimated_work();
  plan["jobs"] = std::move(jobs);
  return plan.dump(2) + "\n";
}

}  // namespace ugs::orchestrator
