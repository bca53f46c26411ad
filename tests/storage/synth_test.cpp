// The synthetic LIDC-like generator: determinism, ranges, mask consistency, and the properties of
// the real data that UGS-Net relies on (LC darker than HC, disagreement at the margins, a hard subset).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ugs/storage/store.h"
#include "ugs/storage/synth.h"
#include "test_support.h"

namespace {

using ugs::storage::kNoduleKindCount;
using ugs::storage::Nodule;
using ugs::storage::NoduleKind;
using ugs::storage::SynthGenerator;
using ugs::storage::SynthOptions;

constexpr int kSide = 50;
constexpr int kPixels = kSide * kSide;

SynthOptions options_with(std::uint64_t seed, std::size_t count) {
  SynthOptions o;
  o.seed = seed;
  o.nodule_count = count;
  return o;
}

// A rendered sample shared by the statistical tests (rendering is the slow part).
struct Sample {
  Sample() : generator(options_with(11, 300)) {
    for (std::size_t i = 0; i < generator.size(); ++i) nodules.push_back(generator.nodule(i));
  }
  SynthGenerator generator;
  std::vector<Nodule> nodules;
};
const Sample& sample() {
  static const Sample s;
  return s;
}

bool same_nodule(const Nodule& a, const Nodule& b) {
  return a.info.nodule_id == b.info.nodule_id && a.info.patient_id == b.info.patient_id &&
         a.info.kind == b.info.kind && a.info.diameter_mm == b.info.diameter_mm &&
         a.info.spacing_mm == b.info.spacing_mm && a.info.annotator_count == b.info.annotator_count &&
         a.image.size() == b.image.size() &&
         std::memcmp(a.image.data(), b.image.data(), a.image.size() * sizeof(float)) == 0 &&
         a.annotators == b.annotators && a.union_mask == b.union_mask && a.intersection_mask == b.intersection_mask;
}

// FNV-1a over every byte a nodule stores.
std::uint64_t fingerprint(const Nodule& n, std::uint64_t h = 0xcbf29ce484222325ull) {
  auto add = [&h](const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
  };
  add(n.info.nodule_id.data(), n.info.nodule_id.size());
  add(n.info.patient_id.data(), n.info.patient_id.size());
  add(n.info.kind.data(), n.info.kind.size());
  add(&n.info.diameter_mm, sizeof n.info.diameter_mm);
  add(n.info.spacing_mm.data(), sizeof n.info.spacing_mm);
  add(n.image.data(), n.image.size() * sizeof(float));
  add(n.annotators.data(), n.annotators.size());
  return h;
}

// Chessboard distance of each mask pixel to the nearest pixel outside the mask (1 on its border;
// the crop's edge counts as outside); 0 outside.
std::vector<int> depth_in(const std::vector<std::uint8_t>& mask) {
  std::vector<int> depth(kPixels, 0);
  for (int i = 0; i < kPixels; ++i) depth[i] = mask[i] ? kPixels : 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (int r = 0; r < kSide; ++r)
      for (int c = 0; c < kSide; ++c) {
        int& d = depth[r * kSide + c];
        if (d == 0) continue;
        int nearest = (r == 0 || c == 0 || r == kSide - 1 || c == kSide - 1) ? 1 : kPixels;
        for (int dr = -1; dr <= 1; ++dr)
          for (int dc = -1; dc <= 1; ++dc) {
            const int rr = r + dr, cc = c + dc;
            if (rr >= 0 && rr < kSide && cc >= 0 && cc < kSide) nearest = std::min(nearest, depth[rr * kSide + cc] + 1);
          }
        if (nearest < d) {
          d = nearest;
          changed = true;
        }
      }
  }
  return depth;
}

// Tolerance for an observed fraction of n draws with probability p: four binomial standard deviations.
double binomial_tolerance(double p, std::size_t n) { return 4.0 * std::sqrt(p * (1.0 - p) / n) + 1e-9; }

TEST(Synth, SameSeedGivesIdenticalNodulesInAnyOrder) {
  const SynthGenerator a(options_with(7, 40));
  const SynthGenerator b(options_with(7, 40));
  std::vector<Nodule> forward;
  for (std::size_t i = 0; i < a.size(); ++i) forward.push_back(a.nodule(i));
  // Backwards and from two threads: each nodule's stream depends only on (seed, index).
  std::vector<Nodule> threaded(b.size());
  std::thread odd([&] {
    for (std::size_t i = b.size(); i-- > 0;)
      if (i % 2) threaded[i] = b.nodule(i);
  });
  for (std::size_t i = b.size(); i-- > 0;)
    if (i % 2 == 0) threaded[i] = b.nodule(i);
  odd.join();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_nodule(forward[i], threaded[i])) << "nodule " << i;
}

TEST(Synth, NodulesDoNotDependOnTheSetSize) {
  const SynthGenerator small(options_with(7, 10));
  const SynthGenerator large(options_with(7, 200));
  for (std::size_t i = 0; i < small.size(); ++i) EXPECT_TRUE(same_nodule(small.nodule(i), large.nodule(i)));
}

TEST(Synth, DifferentSeedsGiveDifferentNodules) {
  const SynthGenerator a(options_with(7, 10));
  const SynthGenerator b(options_with(8, 10));
  for (std::size_t i = 0; i < a.size(); ++i) {
    const Nodule na = a.nodule(i), nb = b.nodule(i);
    EXPECT_NE(0, std::memcmp(na.image.data(), nb.image.data(), kPixels * sizeof(float))) << "nodule " << i;
  }
}

// Same seed, same bytes on every machine and compiler: this fingerprint of seed 0 was computed on
// x86-64 with GCC 12 (Debian 12), and Clang 14 at -O0 to -O3 -march=native gives the same bytes; it
// must not change elsewhere. A deliberate change of the generator changes it: bump kGeneratorVersion
// in storage/src/synth.cpp and update the value here.
TEST(Synth, SeedZeroFingerprintIsTheSameOnEveryMachine) {
  const SynthGenerator generator(options_with(0, 1860));
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < 30; ++i) h = fingerprint(generator.nodule(i * 61), h);
  EXPECT_EQ(h, 0xc24e2a950e6e6f6full) << std::hex << "fingerprint 0x" << h;
}

TEST(Synth, PlansStayInTheirRanges) {
  const SynthGenerator generator(options_with(3, 1860));
  std::map<int, std::vector<std::size_t>> by_patient;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < generator.size(); ++i) {
    const auto& p = generator.plan(i);
    EXPECT_EQ(p.index, i);
    EXPECT_GE(p.spacing_mm, 0.5);
    EXPECT_LE(p.spacing_mm, 0.9);
    EXPECT_GE(p.diameter_mm, 3.0);
    EXPECT_LE(p.diameter_mm, 30.0);
    EXPECT_LE(p.diameter_mm / p.spacing_mm, 0.8 * kSide) << "nodule " << i << " does not fit its crop";
    EXPECT_GE(p.annotator_count, 2);
    EXPECT_LE(p.annotator_count, 4);
    by_patient[p.patient].push_back(i);
  }
  EXPECT_EQ(static_cast<int>(by_patient.size()), generator.patient_count());
  for (const auto& [patient, members] : by_patient) {
    EXPECT_GE(members.size(), 1u);
    EXPECT_LE(members.size(), 6u) << "patient " << patient;
    EXPECT_EQ(members.back() - members.front() + 1, members.size()) << "patient " << patient << " is not contiguous";
    for (std::size_t k = 0; k < members.size(); ++k) {
      const auto& p = generator.plan(members[k]);
      EXPECT_EQ(p.nodule_in_patient, static_cast<int>(k) + 1);
      EXPECT_EQ(p.spacing_mm, generator.plan(members[0]).spacing_mm) << "one scan per patient";
    }
  }
  const auto summary = ugs::storage::summarize(generator);
  for (int size = 1; size <= 6; ++size) EXPECT_GT(summary.patients_per_size[size], 0u) << size << " nodules";
}

TEST(Synth, AnnotatorCountsFollowTheConfiguredDistribution) {
  for (const std::string text : {"2:0.3,3:0.3,4:0.4", "2:1", "3:1,4:3"}) {
    SynthOptions o = options_with(5, 1860);
    o.annotator_weights = ugs::storage::parse_annotator_weights(text);
    const auto summary = ugs::storage::summarize(SynthGenerator(o));
    double total = o.annotator_weights[0] + o.annotator_weights[1] + o.annotator_weights[2];
    for (int readers = 2; readers <= 4; ++readers) {
      const double p = o.annotator_weights[readers - 2] / total;
      const double observed = static_cast<double>(summary.per_annotator_count[readers]) / summary.nodules;
      EXPECT_NEAR(observed, p, binomial_tolerance(p, summary.nodules)) << text << ", " << readers << " readers";
    }
  }
}

TEST(Synth, DefaultAnnotatorDistributionIsLidcLike) {
  // LIDC-IDRI nodules >= 3 mm with >= 2 readers: 488 with two, 481 with three, 911 with four.
  const auto summary = ugs::storage::summarize(SynthGenerator(options_with(1, 1860)));
  EXPECT_NEAR(summary.per_annotator_count[4] / 1860.0, 911.0 / 1880, binomial_tolerance(0.485, 1860));
  EXPECT_NEAR(summary.per_annotator_count[2] / 1860.0, 488.0 / 1880, binomial_tolerance(0.26, 1860));
}

TEST(Synth, KindsFollowTheConfiguredProportions) {
  SynthOptions o = options_with(9, 1860);
  const auto summary = ugs::storage::summarize(SynthGenerator(o));
  double total = 0.0;
  for (double w : o.kind_weights) total += w;
  for (int k = 0; k < kNoduleKindCount; ++k) {
    const double p = o.kind_weights[k] / total;
    EXPECT_NEAR(static_cast<double>(summary.per_kind[k]) / summary.nodules, p, binomial_tolerance(p, summary.nodules))
        << ugs::storage::nodule_kind_name(static_cast<NoduleKind>(k));
  }
  o.kind_weights = ugs::storage::parse_kind_weights("ground-glass:1,cavitary:1");
  const SynthGenerator only_two(o);
  for (std::size_t i = 0; i < only_two.size(); ++i) {
    const NoduleKind kind = only_two.plan(i).kind;
    EXPECT_TRUE(kind == NoduleKind::kGroundGlass || kind == NoduleKind::kCavitary);
  }
}

TEST(Synth, NoduleInfoDescribesThePlan) {
  const auto& s = sample();
  std::set<std::string> ids;
  for (std::size_t i = 0; i < s.nodules.size(); ++i) {
    const auto& plan = s.generator.plan(i);
    const auto& info = s.nodules[i].info;
    EXPECT_EQ(info.kind, ugs::storage::nodule_kind_name(plan.kind));
    EXPECT_EQ(ugs::storage::nodule_kind_from_name(info.kind), plan.kind);
    EXPECT_EQ(info.annotator_count, plan.annotator_count);
    EXPECT_EQ(info.spacing_mm[0], plan.spacing_mm);
    EXPECT_EQ(info.spacing_mm[1], plan.spacing_mm);
    EXPECT_EQ(info.diameter_mm, plan.diameter_mm);
    EXPECT_EQ(info.nodule_id.rfind(info.patient_id + "_", 0), 0u) << info.nodule_id;
    EXPECT_TRUE(ids.insert(info.nodule_id).second) << "duplicate id " << info.nodule_id;
  }
}

TEST(Synth, MasksAreBinaryAndUnionAndIntersectionAreConsistent) {
  for (const Nodule& n : sample().nodules) {
    const int readers = n.info.annotator_count;
    ASSERT_EQ(n.image.size(), static_cast<std::size_t>(kPixels));
    ASSERT_EQ(n.annotators.size(), static_cast<std::size_t>(readers) * kPixels);
    ASSERT_EQ(n.union_mask.size(), static_cast<std::size_t>(kPixels));
    ASSERT_EQ(n.intersection_mask.size(), static_cast<std::size_t>(kPixels));
    int intersection = 0;
    for (int i = 0; i < kPixels; ++i) {
      std::uint8_t any = 0, all = 1;
      for (int j = 0; j < readers; ++j) {
        const std::uint8_t m = n.annotator(j, kPixels)[i];
        ASSERT_LE(m, 1) << n.info.nodule_id;
        any |= m;
        all &= m;
      }
      ASSERT_EQ(n.union_mask[i], any) << n.info.nodule_id << " pixel " << i;
      ASSERT_EQ(n.intersection_mask[i], all) << n.info.nodule_id << " pixel " << i;
      intersection += all;
      ASSERT_TRUE(std::isfinite(n.image[i]));
      ASSERT_GE(n.image[i], -1024.0f);
      ASSERT_LE(n.image[i], 3071.0f);
    }
    EXPECT_GT(intersection, 0) << n.info.nodule_id << ": the readers share no pixel";
  }
}

TEST(Synth, ParenchymaIsLungAndNodulesAreDenser) {
  std::vector<float> background;
  double hc_solid = 0.0;
  int hc_solid_pixels = 0;
  for (const Nodule& n : sample().nodules) {
    std::vector<float> lung;
    for (int i = 0; i < kPixels; ++i)
      if (!n.union_mask[i]) lung.push_back(n.image[i]);
    std::nth_element(lung.begin(), lung.begin() + lung.size() / 4, lung.end());
    background.push_back(lung[lung.size() / 4]);  // lower quartile: parenchyma even beside a chest wall
    if (n.info.kind == "solid")
      for (int i = 0; i < kPixels; ++i)
        if (n.intersection_mask[i]) {
          hc_solid += n.image[i];
          ++hc_solid_pixels;
        }
  }
  std::sort(background.begin(), background.end());
  const float median = background[background.size() / 2];
  EXPECT_GT(median, -950.0f);
  EXPECT_LT(median, -780.0f);
  EXPECT_GT(hc_solid / hc_solid_pixels, -300.0) << "solid nodule cores should be near soft tissue";
}

// Fig. 1B of the paper: HU in the low-confidence region (union minus intersection) is well below
// HU in the high-confidence region (intersection).
TEST(Synth, LowConfidenceRegionIsDarkerThanHighConfidenceRegion) {
  double hc_sum = 0.0, lc_sum = 0.0;
  std::size_t hc_pixels = 0, lc_pixels = 0, nodules_with_lc = 0, darker_lc = 0;
  for (const Nodule& n : sample().nodules) {
    double hc = 0.0, lc = 0.0;
    int hc_n = 0, lc_n = 0;
    for (int i = 0; i < kPixels; ++i) {
      if (n.intersection_mask[i]) {
        hc += n.image[i];
        ++hc_n;
      } else if (n.union_mask[i]) {
        lc += n.image[i];
        ++lc_n;
      }
    }
    hc_sum += hc;
    lc_sum += lc;
    hc_pixels += hc_n;
    lc_pixels += lc_n;
    if (lc_n > 0) {
      ++nodules_with_lc;
      darker_lc += lc / lc_n < hc / hc_n;
    }
  }
  const double hc_mean = hc_sum / hc_pixels, lc_mean = lc_sum / lc_pixels;
  RecordProperty("hc_mean_hu", std::to_string(hc_mean));
  RecordProperty("lc_mean_hu", std::to_string(lc_mean));
  EXPECT_GT(hc_mean - lc_mean, 300.0) << "HC " << hc_mean << " HU, LC " << lc_mean << " HU";
  EXPECT_GT(static_cast<double>(nodules_with_lc) / sample().nodules.size(), 0.95) << "readers nearly always disagree somewhere";
  EXPECT_GT(static_cast<double>(darker_lc) / nodules_with_lc, 0.9);
}

// Readers disagree at the margins, not in the core: LC pixels lie within two pixels of the union's
// outline, and the deep interior of the union is shared by all readers.
TEST(Synth, DisagreementLiesAtTheMargins) {
  std::size_t lc = 0, lc_near_outline = 0, deep = 0, deep_in_lc = 0;
  for (const Nodule& n : sample().nodules) {
    const std::vector<int> depth = depth_in(n.union_mask);
    for (int i = 0; i < kPixels; ++i) {
      const bool in_lc = n.union_mask[i] && !n.intersection_mask[i];
      lc += in_lc;
      lc_near_outline += in_lc && depth[i] <= 2;
      if (depth[i] >= 4) {
        ++deep;
        deep_in_lc += in_lc;
      }
    }
  }
  const double near = static_cast<double>(lc_near_outline) / lc;
  const double deep_disagreement = static_cast<double>(deep_in_lc) / deep;
  RecordProperty("lc_within_2px_of_outline", std::to_string(near));
  RecordProperty("deep_union_pixels_in_lc", std::to_string(deep_disagreement));
  EXPECT_GT(near, 0.8);
  EXPECT_LT(deep_disagreement, 0.1);
}

// Hard nodules exist in the configured fraction and are what makes them hard: readers agree less.
TEST(Synth, HardSubsetHasStrongerDisagreement) {
  const auto& s = sample();
  double agreement[2] = {0.0, 0.0};
  int count[2] = {0, 0};
  for (std::size_t i = 0; i < s.nodules.size(); ++i) {
    const Nodule& n = s.nodules[i];
    int u = 0, in = 0;
    for (int p = 0; p < kPixels; ++p) {
      u += n.union_mask[p];
      in += n.intersection_mask[p];
    }
    const int hard = s.generator.plan(i).hard;
    agreement[hard] += static_cast<double>(in) / u;
    ++count[hard];
  }
  const double p = s.generator.options().hard_fraction;
  EXPECT_NEAR(static_cast<double>(count[1]) / s.nodules.size(), p, binomial_tolerance(p, s.nodules.size()));
  ASSERT_GT(count[1], 0);
  const double easy = agreement[0] / count[0], hard = agreement[1] / count[1];
  RecordProperty("intersection_over_union_easy", std::to_string(easy));
  RecordProperty("intersection_over_union_hard", std::to_string(hard));
  EXPECT_LT(hard, easy - 0.15) << "hard nodules: I/U " << hard << ", others " << easy;

  SynthOptions none = options_with(11, 300);
  none.hard_fraction = 0.0;
  EXPECT_EQ(ugs::storage::summarize(SynthGenerator(none)).hard_per_kind,
            (std::array<std::size_t, kNoduleKindCount>{}));
}

TEST(Synth, HardNodulesLeanToTheDifficultKinds) {
  const auto summary = ugs::storage::summarize(SynthGenerator(options_with(4, 1860)));
  auto rate = [&](NoduleKind k) {
    const auto i = static_cast<std::size_t>(k);
    return static_cast<double>(summary.hard_per_kind[i]) / summary.per_kind[i];
  };
  EXPECT_GT(rate(NoduleKind::kGroundGlass), 2.0 * rate(NoduleKind::kSolid));
  EXPECT_GT(rate(NoduleKind::kPartSolid), 2.0 * rate(NoduleKind::kSolid));
}

TEST(Synth, ParsesDistributions) {
  const auto a = ugs::storage::parse_annotator_weights("2:0.3,3:0.3,4:0.4");
  EXPECT_DOUBLE_EQ(a[0], 0.3);
  EXPECT_DOUBLE_EQ(a[2], 0.4);
  EXPECT_EQ(ugs::storage::parse_annotator_weights("4:2")[0], 0.0);
  for (const char* bad : {"", "2", "1:0.5", "5:1", "2:x", "2:-1", "2:0.5,2:0.5", "2:0,3:0", "2:0.5;3:0.5", "2:nan"})
    EXPECT_THROW(ugs::storage::parse_annotator_weights(bad), std::invalid_argument) << "'" << bad << "'";
  const auto k = ugs::storage::parse_kind_weights("solid:3,juxta-pleural:1");
  EXPECT_EQ(k[static_cast<int>(NoduleKind::kSolid)], 3.0);
  EXPECT_EQ(k[static_cast<int>(NoduleKind::kJuxtaPleural)], 1.0);
  EXPECT_THROW(ugs::storage::parse_kind_weights("round:1"), std::invalid_argument);
}

TEST(Synth, RejectsInvalidOptions) {
  auto rejects = [](auto change) {
    SynthOptions o;
    change(o);
    EXPECT_THROW(SynthGenerator{o}, std::invalid_argument);
  };
  rejects([](SynthOptions& o) { o.nodule_count = 0; });
  rejects([](SynthOptions& o) { o.height = 8; });
  rejects([](SynthOptions& o) { o.hard_fraction = 1.5; });
  rejects([](SynthOptions& o) { o.hard_fraction = std::nan(""); });
  rejects([](SynthOptions& o) { o.min_spacing_mm = 0.0; });
  rejects([](SynthOptions& o) { o.min_diameter_mm = 40.0; });
  rejects([](SynthOptions& o) { o.kind_weights.fill(0.0); });
  rejects([](SynthOptions& o) { o.annotator_weights[1] = -1.0; });
  rejects([](SynthOptions& o) { o.nodules_per_patient_weights.fill(0.0); });
}

TEST(Synth, WritesAStoreThatReadsBackIdenticallyWhateverTheThreads) {
  const SynthGenerator generator(options_with(21, 70));
  const ugs::storage::testing::TemporaryFolder base;
  ugs::storage::SynthWriteOptions one_thread;
  one_thread.threads = 1;
  one_thread.nodules_per_shard = 32;
  ugs::storage::SynthWriteOptions three_threads = one_thread;
  three_threads.threads = 3;
  ugs::storage::write_synthetic_store(generator, base / "a", one_thread);
  ugs::storage::write_synthetic_store(generator, base / "b", three_threads);
  EXPECT_THROW(ugs::storage::write_synthetic_store(generator, base / "b", three_threads), std::exception)
      << "an existing store is replaced only when asked";

  const auto a = ugs::storage::NoduleStore::open(base / "a");
  const auto b = ugs::storage::NoduleStore::open(base / "b");
  EXPECT_EQ(a.attributes().source, "ugs synth v1 seed=21");
  EXPECT_EQ(a.attributes().image_unit, ugs::storage::ImageUnit::kHounsfield);
  EXPECT_EQ(a.attributes().reader_masks, ugs::storage::ReaderMasks::kPerReader);
  EXPECT_EQ(a.shard_count(), 3);
  ASSERT_EQ(a.size(), generator.size());
  ASSERT_EQ(b.size(), generator.size());
  const std::vector<Nodule> from_a = a.read_all(), from_b = b.read_all();
  for (std::size_t i = 0; i < generator.size(); ++i) {
    const Nodule expected = generator.nodule(i);
    EXPECT_TRUE(same_nodule(from_a[i], expected)) << "nodule " << i;
    EXPECT_TRUE(same_nodule(from_b[i], expected)) << "nodule " << i;
  }
}

TEST(Synth, OtherCropSizesWork) {
  SynthOptions o = options_with(2, 20);
  o.height = 64;
  o.width = 40;
  const SynthGenerator generator(o);
  EXPECT_EQ(generator.attributes().height, 64);
  EXPECT_EQ(generator.attributes().width, 40);
  for (std::size_t i = 0; i < generator.size(); ++i) {
    const Nodule n = generator.nodule(i);
    EXPECT_EQ(n.image.size(), 64u * 40u);
    EXPECT_EQ(n.annotators.size(), static_cast<std::size_t>(n.info.annotator_count) * 64 * 40);
  }
}

}  // namespace
