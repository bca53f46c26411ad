// The monitoring files under deploy/ name only metrics that `ugs run` exports: every ugs_* name in
// the Grafana dashboard's queries (panels and template variables) and in the alert rules'
// expressions is a family of metric_family_names(), a histogram's _bucket/_sum/_count series by
// their family's name. A renamed or dropped metric fails here instead of leaving a panel empty or an
// alert that can never fire. (promtool checks the PromQL itself: the Monitoring.* ctest entries.)
#include "ugs/orchestrator/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ugs::orchestrator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kDashboard = fs::path(UGS_SOURCE_DIR) / "deploy" / "grafana" / "dashboards" / "ugs-sweep.json";
const fs::path kAlertRules = fs::path(UGS_SOURCE_DIR) / "deploy" / "prometheus" / "alerts.yml";

// The series a histogram family exposes besides its name.
const std::array<std::string, 3> kHistogramSuffixes = {"_bucket", "_sum", "_count"};

// A PromQL query and where it was found, for the failure message.
struct Query {
  std::string where;
  std::string promql;
};

// The ugs_* metric names in `promql` that are not among `families`; a name ending in a histogram
// suffix counts as its family's when the family is known.
std::set<std::string> unknown_metrics(const std::string& promql, const std::set<std::string>& families) {
  static const std::regex kMetricName(R"(\bugs_[a-z0-9_]+)");
  std::set<std::string> unknown;
  for (auto it = std::sregex_iterator(promql.begin(), promql.end(), kMetricName); it != std::sregex_iterator(); ++it) {
    const std::string name = it->str();
    if (families.count(name)) continue;
    bool histogram_series = false;
    for (const std::string& suffix : kHistogramSuffixes) {
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          families.count(name.substr(0, name.size() - suffix.size()))) {
        histogram_series = true;
      }
    }
    if (!histogram_series) unknown.insert(name);
  }
  return unknown;
}

void collect_panel_queries(const json& panels, std::vector<Query>& queries) {
  for (const json& panel : panels) {
    for (const json& target : panel.value("targets", json::array())) {
      if (!target.contains("expr")) continue;
      queries.push_back({"panel \"" + panel.value("title", "") + "\" query " + target.value("refId", ""),
                         target["expr"].get<std::string>()});
    }
    collect_panel_queries(panel.value("panels", json::array()), queries);  // a collapsed row's panels
  }
}

// Every query of a Grafana dashboard: its panels' targets (rows included) and its query variables
// (whose query is a string, or an object holding it under "query" since Grafana 10).
std::vector<Query> dashboard_queries(const json& dashboard) {
  std::vector<Query> queries;
  collect_panel_queries(dashboard.value("panels", json::array()), queries);
  for (const json& variable : dashboard.value("templating", json::object()).value("list", json::array())) {
    if (variable.value("type", "") != "query") continue;
    const json& query = variable["query"];
    queries.push_back({"variable \"" + variable.value("name", "") + "\"",
                       query.is_object() ? query.value("query", "") : query.get<std::string>()});
  }
  return queries;
}

std::size_t indentation(const std::string& line) { return line.find_first_not_of(' '); }

// The `expr:` values of a Prometheus rules file in the forms alerts.yml uses: a plain or quoted
// scalar on the key's line, or a block scalar (`|`, `|-`, `>`, `>-`) whose lines are indented deeper
// than the key. Not a YAML parser: the tests below count the expressions against the rules.
std::vector<Query> rule_expressions(std::istream& in) {
  static const std::regex kExprKey(R"(^(\s*(?:-\s+)?)expr:\s*(.*?)\s*$)");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<Query> expressions;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::smatch match;
    if (!std::regex_match(lines[i], match, kExprKey)) continue;
    const std::string where = "line " + std::to_string(i + 1);
    const std::string value = match[2];
    if (!value.empty() && (value[0] == '|' || value[0] == '>')) {
      const std::size_t key_indentation = match[1].length();
      std::size_t block_indentation = std::string::npos;  // its first non-blank line's
      std::string block;
      for (; i + 1 < lines.size(); ++i) {
        const std::string& next = lines[i + 1];
        const std::size_t indent = indentation(next);
        if (indent != std::string::npos && indent <= key_indentation) break;
        if (indent != std::string::npos) {
          if (block_indentation == std::string::npos) block_indentation = indent;
          block += next.substr(std::min(indent, block_indentation));
        }
        block += "\n";
      }
      expressions.push_back({where, block});
    } else if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
      expressions.push_back({where, value.substr(1, value.find(value[0], 1) - 1)});
    } else {
      const std::string plain = value.substr(0, value.find(" #"));  // a plain scalar ends at a comment
      expressions.push_back({where, plain.substr(0, plain.find_last_not_of(' ') + 1)});
    }
  }
  return expressions;
}

std::set<std::string> exported_families() {
  const std::vector<std::string> names = metric_family_names();
  return {names.begin(), names.end()};
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path.string() + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::parse_error& error) {
    throw std::runtime_error(path.string() + ": not JSON: " + error.what());
  }
}

// ----------------------------------------------------------------------------------------------------
// The helpers on made-up input, so that a broken helper cannot pass the real checks vacuously.

TEST(MonitoringNames, AnUnknownNameIsReportedAndAHistogramSeriesCountsAsItsFamily) {
  const std::set<std::string> families = {"ugs_jobs", "ugs_step_seconds"};
  EXPECT_EQ(unknown_metrics("sum by (state) (ugs_jobs{sweep=\"s\"}) / rate(ugs_made_up_total[5m])", families),
            std::set<std::string>{"ugs_made_up_total"});
  EXPECT_TRUE(unknown_metrics("histogram_quantile(0.5, sum by (le) (rate(ugs_step_seconds_bucket[1m])))"
                              " + rate(ugs_step_seconds_sum[1m]) / rate(ugs_step_seconds_count[1m])",
                              families)
                  .empty());
  EXPECT_EQ(unknown_metrics("rate(ugs_other_seconds_bucket[1m]) + ugs_jobs_total", families),
            (std::set<std::string>{"ugs_jobs_total", "ugs_other_seconds_bucket"}));
  EXPECT_TRUE(unknown_metrics("up{job=\"ugs\"} == 0", families).empty());
}

TEST(MonitoringNames, RuleExpressionsAreReadInEveryScalarForm) {
  std::istringstream rules(
      "groups:\n"
      "  - name: g\n"
      "    rules:\n"
      "      - alert: A\n"
      "        expr: ugs_a > 0  # comment\n"
      "      - alert: B\n"
      "        expr: |\n"
      "          time() - ugs_b > 600\n"
      "\n"
      "            and ugs_c == 1\n"
      "        for: 2m\n"
      "      - expr: \"ugs_d\"\n"
      "        record: r\n"
      "      - alert: E\n"
      "        expr: >-\n"
      "          ugs_e\n"
      "        labels:\n"
      "          severity: warning\n");
  const std::vector<Query> expressions = rule_expressions(rules);
  ASSERT_EQ(expressions.size(), 4u);
  EXPECT_EQ(expressions[0].promql, "ugs_a > 0");
  EXPECT_EQ(expressions[1].promql, "time() - ugs_b > 600\n\n  and ugs_c == 1\n");
  EXPECT_EQ(expressions[1].where, "line 7");
  EXPECT_EQ(expressions[2].promql, "ugs_d");
  EXPECT_EQ(expressions[3].promql, "ugs_e\n");
}

TEST(MonitoringNames, DashboardQueriesIncludeCollapsedRowsAndVariables) {
  const json dashboard = json::parse(R"json({
    "panels": [
      {"type": "timeseries", "title": "p", "targets": [{"refId": "A", "expr": "ugs_a"}]},
      {"type": "row", "title": "r", "collapsed": true,
       "panels": [{"type": "stat", "title": "q", "targets": [{"refId": "B", "expr": "ugs_b"}]}]}],
    "templating": {"list": [
      {"type": "datasource", "name": "ds", "query": "prometheus"},
      {"type": "query", "name": "v", "query": "label_values(ugs_c, sweep)"},
      {"type": "query", "name": "w", "query": {"query": "label_values(ugs_d, fold)", "refId": "X"}}]}})json");
  std::vector<std::string> promql;
  for (const Query& query : dashboard_queries(dashboard)) promql.push_back(query.promql);
  EXPECT_EQ(promql, (std::vector<std::string>{"ugs_a", "ugs_b", "label_values(ugs_c, sweep)",
                                              "label_values(ugs_d, fold)"}));
}

// ----------------------------------------------------------------------------------------------------
// The real files against the real exporter.

TEST(MonitoringNames, TheDashboardNamesOnlyExportedMetrics) {
  const std::set<std::string> families = exported_families();
  ASSERT_FALSE(families.empty()) << "metric_family_names() lists no metric";
  const json dashboard = read_json(kDashboard);
  const std::vector<Query> queries = dashboard_queries(dashboard);
  ASSERT_FALSE(queries.empty()) << kDashboard << ": no query found";
  for (const Query& query : queries) {
    // Every query shows something of the sweep: one naming no ugs_* metric would also slip past here.
    EXPECT_FALSE(unknown_metrics(query.promql, {}).empty()) << query.where << " names no ugs_* metric";
    for (const std::string& name : unknown_metrics(query.promql, families)) {
      ADD_FAILURE() << kDashboard.string() << ": " << query.where << " names " << name
                    << ", which `ugs run` does not export:\n" << query.promql;
    }
  }
}

TEST(MonitoringNames, TheAlertRulesNameOnlyExportedMetrics) {
  const std::set<std::string> families = exported_families();
  ASSERT_FALSE(families.empty()) << "metric_family_names() lists no metric";
  std::ifstream in(kAlertRules);
  ASSERT_TRUE(in) << kAlertRules << ": cannot open";
  const std::vector<Query> expressions = rule_expressions(in);

  // One expression per rule: the reader missed none.
  std::ifstream again(kAlertRules);
  std::size_t rules = 0;
  static const std::regex kRule(R"(^\s*-\s+(alert|record):)");
  for (std::string line; std::getline(again, line);) rules += std::regex_search(line, kRule);
  ASSERT_GT(rules, 0u) << kAlertRules << ": no rule found";
  ASSERT_EQ(expressions.size(), rules) << kAlertRules << ": an expression per rule";

  for (const Query& expression : expressions) {
    for (const std::string& name : unknown_metrics(expression.promql, families)) {
      ADD_FAILURE() << kAlertRules.string() << ": " << expression.where << " names " << name
                    << ", which `ugs run` does not export:\n" << expression.promql;
    }
  }
}

// Imported into a site's Grafana or provisioned with deploy/grafana/provisioning, the dashboard
// finds its Prometheus through the DS_PROMETHEUS variable: a panel tied to one data source uid would
// show "data source not found" everywhere else.
TEST(MonitoringNames, EveryPanelQueriesThroughTheDataSourceVariable) {
  const json dashboard = read_json(kDashboard);
  const json kVariable = {{"type", "prometheus"}, {"uid", "${DS_PROMETHEUS}"}};
  std::size_t panels = 0;
  for (const json& panel : dashboard.at("panels")) {
    if (panel.value("type", "") == "row") continue;
    ++panels;
    EXPECT_EQ(panel.value("datasource", json()), kVariable) << "panel \"" << panel.value("title", "") << "\"";
    for (const json& target : panel.value("targets", json::array())) {
      EXPECT_EQ(target.value("datasource", json()), kVariable)
          << "panel \"" << panel.value("title", "") << "\" query " << target.value("refId", "");
    }
  }
  EXPECT_GT(panels, 0u);
}

}  // namespace
}  // namespace ugs::orchestrator
