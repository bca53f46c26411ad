#include <stdexcept>

#include "ugs/model/attention_unet.h"
#include "ugs/model/channel_unet.h"
#include "ugs/model/fcn.h"
#include "ugs/model/nested_unet.h"
#include "ugs/model/network.h"
#include "ugs/model/r2unet.h"
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

// Every network make_network knows, in the order of the paper's Table I, then Table II. Adding a
// network is adding its line here.
const NetworkEntry kNetworks[] = {
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
  for (const auto& entry : kNetworks) {
    if (config.name == entry.name) return entry.build(config);
  }
  std::string known;
  for (const auto& name : network_names()) known += (known.empty() ? "" : ", ") + name;
  throw std::invalid_argument("unknown network '" + config.name + "'; known networks: " + known);
}

std::vector<std::string> network_names() {
  std::vector<std::string> names;
  for (const auto& entry : kNetworks) names.emplace_back(entry.name);
  return names;
}

}  // namespace ugs::model
