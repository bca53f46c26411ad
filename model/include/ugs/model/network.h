// The common face of every segmentation network in ugs, and the factory that builds one by name.
//
//   ModelConfig config;                  // usually parsed from a sweep's or job's [model] table
//   config.name = "ugsnet";
//   std::shared_ptr<Network> net = make_network(config);
//   NetworkOutput out = net->forward(images);        // images: [B, in_channels, H, W]
//   torch::Tensor logits = out.segmentation;         // [B, 1, H, W], every network has it
//
// Errors: make_network throws std::invalid_argument naming the unknown network or the bad option.
// Thread safety: make_network and network_names only read constant tables and may be called
// concurrently; a Network is a torch::nn::Module, one forward at a time per instance.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace ugs::model {

// What a forward pass produces. All tensors are logits of shape [B, 1, H, W]. Networks of the
// UGS-Net family fill the Uncertainty-Aware Module's heads too; the others leave them undefined.
struct NetworkOutput {
  torch::Tensor segmentation;   // X_S: the final segmentation, scored against Label_1
  torch::Tensor union_mask;     // U': predicted union of the annotators (LC guidance)
  torch::Tensor intersection;   // I': predicted intersection (HC guidance)
  torch::Tensor annotation;     // GT'_Uni: the prediction supervised by every annotator

  bool has_uncertainty_heads() const { return union_mask.defined(); }
};

// A segmentation network: a torch::nn::Module whose forward gives a NetworkOutput.
class Network : public torch::nn::Module {
 public:
  virtual NetworkOutput forward(const torch::Tensor& images) = 0;
};

// The [model] table of a configuration. Every field has the default of the network's reference
// implementation; tests shrink `base_width` to run tiny models.
struct ModelConfig {
  std::string name = "ugsnet";  // one of network_names()
  int in_channels = 1;          // 1 (one HU window) or 3 (the published three windows)
  int base_width = 64;          // scales the reference widths by base_width/64 (64: the reference)
  int depth = 5;                // levels of the U-Net backbone; H and W must divide by 2^(depth-1)
  int gabor_kernel_size = 0;    // UGS-Net family: 0 = the variant's own (1 published V1, 3 journal)
};

// Builds the network `config.name` with freshly initialised weights (PyTorch's default init).
std::shared_ptr<Network> make_network(const ModelConfig& config);

// Every name make_network accepts, in the order of the paper's Table I and Table II.
std::vector<std::string> network_names();

}  // namespace ugs::model
