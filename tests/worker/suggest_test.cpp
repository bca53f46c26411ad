// "Did you mean": the closest known name, and nothing when no name is close enough to be a typo.
#include "ugs/worker/suggest.h"

#include <gtest/gtest.h>

namespace ugs::worker {
namespace {

TEST(Suggest, TheClosestNameWithinATypo) {
  const std::vector<std::string> names = {"lr", "momentum", "weight_decay", "betas"};
  EXPECT_EQ(closest_name("lrr", names), "lr");
  EXPECT_EQ(closest_name("momentun", names), "momentum");
  EXPECT_EQ(closest_name("weightdecay", names), "weight_decay");
  EXPECT_EQ(closest_name("colour", names), "");
  EXPECT_EQ(closest_name("lr", {}), "");
  // A long name tolerates more edits (a third of its length), a short one two.
  EXPECT_EQ(closest_name("nestedunet", {"nested-unet", "unet"}), "nested-unet");
  EXPECT_EQ(closest_name("ab", {"xy"}), "xy");
  EXPECT_EQ(closest_name("abc", {"xyz"}), "");
  // Ties go to the first name.
  EXPECT_EQ(closest_name("ac", {"ab", "cc"}), "ab");
}

}  // namespace
}  // namespace ugs::worker
