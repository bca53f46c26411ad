// "Did you mean ...?": the known name closest to a misspelt one, for the error messages about unknown
// keys, tables and names in configuration and sweep files.
//
//   closest_name("lrr", {"lr", "momentum"})  == "lr"
//   closest_name("xyz", {"lr", "momentum"})  == ""    (nothing close enough to be a typo)
//
// Close enough: a Levenshtein distance of at most max(2, unknown.size() / 3); the first of equally
// close names wins. Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ugs::worker {

// The name of `names` closest to `unknown`, or "" if none is close enough to be a typo of it.
std::string closest_name(std::string_view unknown, const std::vector<std::string>& names);

}  // namespace ugs::worker
