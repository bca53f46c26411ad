#include <stdexcept>

#include "ugs/model/attention_unet.h"
#include "ugs/model/channel_unet.h"
#include "ugs/model/fcn.h"
#include "ugs/model/nested_unet.h"
#include "ugs/model/network.h"
#include "ugs/model/r2unet.h"
#include "ugs/model/ugsnet.h"
#include "ugs/model/unet.h"

namespace ugs::model {

namespace {

using Builder = std::shared_ptr<Network> (*)(const ModelConfig&);

template <typename NetworkImpl>
std::shared_ptr<Network> build(const ModelConfig& config) {
  return std::make_shared<NetworkImpl>(config);
}

struct NetworkEntry {
  const char* name;
  Builder build;
};

// The comparison networks of the paper's Table I, in its order. Adding one is adding its line here;
// the UGS-Net family (Table I's last two rows, Table II) comes from ugsnet_variants().
const NetworkEntry kComparisonNetworks[] = {
    {"fcn32s", build<FCN32sImpl>},
    {"unet", build<UNetImpl>},
    {"r2unet",
     [](const ModelConfig& c) -> std::shared_ptr<Network> {
       return std::make_shared<R2UNetImpl>(c, SkipGating::kNone);
     }},
    {"r2aunet",
     [](const ModelConfig& c) -> std::shared_ptr<Network> {
       return std::make_shared<R2UNetImpl>(c, SkipGating::kAttention);
     }},
    {"attunet", build<AttUNetImpl>},
    {"nested-unet", build<NestedUNetImpl>},
    {"channel-unet", build<ChannelUNetImpl>},
};

}  // namespace

std::shared_ptr<Network> make_network(const ModelConfig& config) {
  for (const auto& entry : kComparisonNetworks) {
    if (config.name == entry.name) return entry.build(config);
  }
  for (const auto& variant : ugsnet_variants()) {
    if (config.name == variant.name) return make_ugsnet(config);
  }
  std::string known;
  for (const auto& name : network_names()) known += (known.empty() ? "" : ", ") + name;
  throw std::invalid_argument("unknown network '" + config.name + "'; known networks: " + known);
}

std::vector<std::string> network_names() {
  std::vector<std::string> names;
  for (const auto& entry : kComparisonNetworks) names.emplace_back(entry.name);
  for (const auto& variant : ugsnet_variants()) names.push_back(variant.name);
  return names;
}

}  // namespace ugs::model
