// The device the model tests run on: cpu unless UGS_TEST_DEVICE names another (deploy/gpu/check.sh
// sets it to cuda on the GPU machine).
#pragma once

#include <cstdlib>
#include <string>

#include <torch/torch.h>

namespace ugs::model::testing {

inline torch::Device test_device() {
  const char* name = std::getenv("UGS_TEST_DEVICE");
  return torch::Device(name != nullptr && *name != '\0' ? std::string(name) : std::string("cpu"));
}

}  // namespace ugs::model::testing
