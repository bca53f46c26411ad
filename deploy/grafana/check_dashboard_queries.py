#!/usr/bin/env python3
"""Checks that every PromQL query of a Grafana dashboard parses, with promtool.

    deploy/grafana/check_dashboard_queries.py deploy/grafana/dashboards/ugs-sweep.json

Grafana queries are PromQL with template variables ($sweep, $__rate_interval, ...) that Prometheus
never sees, so each query gets them replaced by a value of the same kind (a duration for the interval
variables, a word for the others, which only ever appear inside label matchers' quotes), and becomes
a recording rule of a temporary rules file; `promtool check rules` then parses every expression. A
variable's query label_values(SELECTOR, label) is checked through its SELECTOR. Each rule group is
named after the panel and query it came from, so promtool's message names the panel.

Exit status 0 when every query parses; 1 otherwise, or when promtool (Debian: prometheus) is missing.
The environment variable PROMTOOL names a promtool other than the one on PATH.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Grafana's interval variables stand where PromQL wants a duration.
DURATION_VARIABLES = {"__rate_interval", "__interval", "__range"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.S)


def as_promql(query):
    def value(match):
        name = match.group(1) or match.group(2)
        return "5m" if name in DURATION_VARIABLES else "variable_" + name
    return VARIABLE.sub(value, query)


def panels(panel_list):
    for panel in panel_list:
        yield panel
        yield from panels(panel.get("panels", []))  # the panels of a collapsed row


def queries(dashboard):
    """(where, PromQL) for every query of the dashboard: panel targets and variable selectors."""
    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield f'panel {panel["id"]} "{panel.get("title", "")}" query {target["refId"]}', target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = LABEL_VALUES.match(query)
        yield f'variable "{variable["name"]}"', match.group(1) if match else query


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: check_dashboard_queries.py DASHBOARD.json...", file=sys.stderr)
        return 1
    promtool = shutil.which(os.environ.get("PROMTOOL", "promtool"))
    if not promtool:
        print("check_dashboard_queries: promtool not found (PROMTOOL, or on PATH): install Debian's "
              "prometheus package (deploy/setup.sh does)", file=sys.stderr)
        return 1
    groups = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as file:
                dashboard = json.load(file)
        except (OSError, json.JSONDecodeError) as error:
            print(f"check_dashboard_queries: {path}: {error}", file=sys.stderr)
            return 1
        for where, query in queries(dashboard):
            groups.append({"name": f"{os.path.basename(path)}: {where}",
                           "rules": [{"record": "dashboard_query", "expr": as_promql(query)}]})
    if not groups:
        print(f"check_dashboard_queries: no PromQL query found in {' '.join(paths)}", file=sys.stderr)
        return 1
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="dashboard-queries-") as rules:
        json.dump({"groups": groups}, rules, indent=1)  # JSON is YAML: promtool reads it as a rules file
        rules.flush()
        result = subprocess.run([promtool, "check", "rules", rules.name], capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr, end="")
        return 1
    print(f"check_dashboard_queries: {len(groups)} queries parse ({' '.join(paths)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
