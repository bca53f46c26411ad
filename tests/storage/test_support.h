// Test helpers: temporary folders, random but valid nodules, running the `ugs` binary.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <random>
#include <string>
#include <vector>

#include "ugs/storage/files.h"
#include "ugs/storage/store.h"

namespace ugs::storage::testing {

// A folder under the system temporary directory, removed with everything in it at the end of scope.
class TemporaryFolder {
 public:
  TemporaryFolder() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("ugs-test-" + std::string(test->test_suite_name()) + "-" + test->name() + "-" +
             std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path_);
  }
  ~TemporaryFolder() {
    std::error_code ignored;
    ugs::storage::remove_tree(path_, ignored);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A valid nodule: `readers` disks of jittered centre and radius (0 readers: a union/intersection
// pair), random HU values. Everything follows from `seed`.
inline Nodule random_nodule(const StoreAttributes& attributes, const std::string& nodule_id,
                            const std::string& patient_id, int readers, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const int h = attributes.height, w = attributes.width;
  const std::size_t pixels = attributes.pixel_count();
  Nodule nodule;
  nodule.info.nodule_id = nodule_id;
  nodule.info.patient_id = patient_id;
  nodule.info.annotator_count = readers;
  nodule.info.spacing_mm = {0.5 + unit(rng), 0.5 + unit(rng)};
  nodule.info.diameter_mm = 3 + 20 * unit(rng);
  nodule.info.kind = readers % 2 ? "solid" : "";
  nodule.image.resize(pixels);
  for (float& v : nodule.image) v = static_cast<float>(-1000 + 1400 * unit(rng));
  const double cy = h / 2.0 + 3 * (unit(rng) - 0.5), cx = w / 2.0 + 3 * (unit(rng) - 0.5);
  const double radius = 3 + 0.3 * std::min(h, w) * unit(rng);
  const int disks = readers == 0 ? 2 : readers;
  std::vector<std::uint8_t> masks(disks * pixels);
  for (int j = 0; j < disks; ++j) {
    const double r = radius + 2 * unit(rng), dy = unit(rng) - 0.5, dx = unit(rng) - 0.5;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        masks[j * pixels + y * w + x] = (y - cy - dy) * (y - cy - dy) + (x - cx - dx) * (x - cx - dx) <= r * r;
      }
    }
  }
  nodule.union_mask.assign(pixels, 0);
  nodule.intersection_mask.assign(pixels, 1);
  for (int j = 0; j < disks; ++j) {
    for (std::size_t p = 0; p < pixels; ++p) {
      nodule.union_mask[p] |= masks[j * pixels + p];
      nodule.intersection_mask[p] &= masks[j * pixels + p];
    }
  }
  if (readers > 0) nodule.annotators = std::move(masks);
  return nodule;
}

// `count` valid nodules "n<i>" of patients "p<i/2>" with 1..4 readers (0 for union-intersection-only).
inline std::vector<Nodule> random_nodules(const StoreAttributes& attributes, int count, unsigned seed = 1) {
  std::vector<Nodule> nodules;
  for (int i = 0; i < count; ++i) {
    const int readers = attributes.reader_masks == ReaderMasks::kPerReader ? 1 + i % kMaxAnnotators : 0;
    nodules.push_back(random_nodule(attributes, "n" + std::to_string(i), "p" + std::to_string(i / 2),
                                    readers, seed * 1000003u + i));
  }
  return nodules;
}

inline void write_store(const std::filesystem::path& dir, const StoreAttributes& attributes,
                        const std::vector<Nodule>& nodules, int nodules_per_shard = 512) {
  NoduleStoreWriter writer(dir, attributes, nodules_per_shard);
  for (const Nodule& nodule : nodules) writer.add(nodule);
  writer.finish();
}

inline void expect_same_nodule(const Nodule& expected, const Nodule& actual) {
  EXPECT_EQ(expected.info.nodule_id, actual.info.nodule_id);
  EXPECT_EQ(expected.info.patient_id, actual.info.patient_id);
  EXPECT_EQ(expected.info.kind, actual.info.kind);
  EXPECT_EQ(expected.info.annotator_count, actual.info.annotator_count);
  EXPECT_EQ(expected.info.spacing_mm, actual.info.spacing_mm);
  EXPECT_EQ(expected.info.diameter_mm, actual.info.diameter_mm);
  EXPECT_EQ(expected.image, actual.image);
  EXPECT_EQ(expected.annotators, actual.annotators);
  EXPECT_EQ(expected.union_mask, actual.union_mask);
  EXPECT_EQ(expected.intersection_mask, actual.intersection_mask);
}

// `action` throws std::runtime_error with one line that starts with "<file>: " and contains `problem`:
// the project's rule for every error about a file.
inline void expect_error(const std::function<void()>& action, const std::filesystem::path& file,
                         const std::string& problem) {
  try {
    action();
    ADD_FAILURE() << "no error; expected one naming " << file << " with '" << problem << "'";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(file.string() + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(problem), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

// Runs a shell command line, its stderr with its stdout.
inline CommandResult run_command(const std::string& command_line) {
  FILE* pipe = popen((command_line + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// Runs `ugs <arguments>` (the binary under test, UGS_BINARY) through the shell.
inline CommandResult run_ugs(const std::string& arguments) {
  return run_command(std::string("'") + UGS_BINARY + "' " + arguments);
}

// The folder of the 12 real LIDC-IDRI nodules (6 patients) in the UGS-Net authors' layout (LIDC-IDRI:
// Armato III et al., Med. Phys. 38(2), 2011; TCIA, CC BY 3.0). Tests that need it fail without it:
//   ASSERT_TRUE(fs::is_directory(ugsnet_png_samples())) << kMissingSamples;
inline std::filesystem::path ugsnet_png_samples() {
  return std::filesystem::path(UGS_SHARED_DIR) / "data" / "ugsnet-png";
}
inline const std::string kMissingSamples =
    std::string(UGS_SHARED_DIR) + "/data/ugsnet-png is missing: configure with -DUGS_SHARED_DIR=<the shared "
    "folder holding data/ugsnet-png> (CI has it at ../shared)";

}  // namespace ugs::storage::testing
