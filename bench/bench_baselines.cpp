// Training-step cost of Table I's comparison networks on the CPU: forward, BCE-with-logits loss and
// backward for one batch of one-channel 64x64 crops at the reference widths, per network.
//
//   build/bench/bench_baselines [network ...]     (default: every Table I baseline)
//
// Prints, per network, the parameter count and the median and minimum of kTimedSteps steps after
// kWarmupSteps untimed ones. The optimizer update is left out: it is the same for every network
// per parameter and small next to the convolutions.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "ugs/model/network.h"

namespace {

// Batch size of the published UGS-Net code's training runs.
constexpr int64_t kBatch = 8;
constexpr int64_t kImageSize = 64;
constexpr int kWarmupSteps = 1;
constexpr int kTimedSteps = 3;

const std::vector<std::string> kTableOneBaselines = {
    "fcn32s", "unet", "r2unet", "r2aunet", "attunet", "nested-unet", "channel-unet"};

double step_seconds(ugs::model::Network& net, const torch::Tensor& images,
                    const torch::Tensor& masks) {
  const auto start = std::chrono::steady_clock::now();
  net.zero_grad();
  auto logits = net.forward(images).segmentation;
  torch::nn::functional::binary_cross_entropy_with_logits(logits, masks).backward();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> names(argv + 1, argv + argc);
    if (names.empty()) names = kTableOneBaselines;
    torch::manual_seed(0);
    const auto images = torch::randn({kBatch, 1, kImageSize, kImageSize});
    const auto masks = (torch::rand({kBatch, 1, kImageSize, kImageSize}) > 0.8).to(torch::kFloat);
    std::printf("batch %lld x 1 x %lld x %lld, %d torch threads, %d warm-up + %d timed steps\n",
                static_cast<long long>(kBatch), static_cast<long long>(kImageSize),
                static_cast<long long>(kImageSize), torch::get_num_threads(), kWarmupSteps,
                kTimedSteps);
    std::printf("%-14s %12s %12s %12s %12s\n", "network", "parameters", "median ms", "min ms",
                "samples/s");
    for (const auto& name : names) {
      auto net = ugs::model::make_network(ugs::model::ModelConfig{name, 1, 64});
      net->train();
      int64_t parameters = 0;
      for (const auto& p : net->parameters()) parameters += p.numel();
      for (int step = 0; step < kWarmupSteps; ++step) step_seconds(*net, images, masks);
      std::vector<double> seconds;
      for (int step = 0; step < kTimedSteps; ++step) {
        seconds.push_back(step_seconds(*net, images, masks));
      }
      std::sort(seconds.begin(), seconds.end());
      const double median = seconds[seconds.size() / 2];
      std::printf("%-14s %12lld %12.1f %12.1f %12.2f\n", name.c_str(),
                  static_cast<long long>(parameters), 1e3 * median, 1e3 * seconds.front(),
                  kBatch / median);
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_baselines: error: %s\n", error.what());
    return 1;
  }
}
