#include "ugs/worker/inference.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "ugs/worker/preprocess.h"

namespace ugs::worker {
namespace {

using storage::Predictions;

// Inference needs only the images, but preprocessing makes a target too: the union exists in every
// kind of store (a Label_1 target would refuse union-intersection-only stores).
constexpr SingleTarget kAnyTarget = SingleTarget::kUnion;

void check_arguments(model::Network& net, const std::vector<std::string>& ids, const torch::Device& device,
                     int batch_size, const std::string& source) {
  if (ids.empty()) throw std::invalid_argument(source + ": no nodules to predict");
  if (batch_size < 1) {
    throw std::invalid_argument("predict_nodules: batch_size must be >= 1, got " + std::to_string(batch_size));
  }
  std::unordered_set<std::string> seen;
  for (const std::string& id : ids) {
    if (!seen.insert(id).second) {
      throw std::invalid_argument(source + ": nodule '" + id + "' is asked for twice; predictions need unique ids");
    }
  }
  for (const torch::Tensor& parameter : net.parameters()) {
    const torch::Device at = parameter.device();
    if (at.type() != device.type() || (device.has_index() && at.index() != device.index())) {
      throw std::invalid_argument("predict_nodules: the network is on " + at.str() + ", not on " + device.str() +
                                  "; move it there first");
    }
  }
}

// Probabilities of one head at the store's resolution, [n, H, W] float32 on the CPU.
torch::Tensor probabilities(const torch::Tensor& logits, int height, int width) {
  return resize_bilinear(torch::sigmoid(logits), height, width)
      .clamp(0.0, 1.0)
      .squeeze(1)
      .to(torch::kCPU, torch::kFloat32)
      .contiguous();
}

void append(std::vector<float>& maps, const torch::Tensor& probabilities) {
  const float* begin = probabilities.data_ptr<float>();
  maps.insert(maps.end(), begin, begin + probabilities.numel());
}

void append(std::optional<std::vector<float>>& maps, const torch::Tensor& logits, int height, int width) {
  if (!logits.defined()) return;
  if (!maps) maps.emplace();
  append(*maps, probabilities(logits, height, width));
}

// Runs the network over nodules [0, ids.size()) in batches; images_of(begin, end) gives the
// preprocessed images of nodules [begin, end).
template <class ImagesOf>
Predictions run(model::Network& net, std::vector<std::string> ids, const storage::StoreAttributes& attributes,
                const torch::Device& device, int batch_size, const std::string& source, ImagesOf images_of) {
  check_arguments(net, ids, device, batch_size, source);
  Predictions predictions;
  predictions.height = attributes.height;
  predictions.width = attributes.width;
  const std::size_t pixels = predictions.pixels();
  predictions.segmentation.reserve(ids.size() * pixels);

  torch::NoGradGuard no_grad;
  net.eval();
  const auto batch = static_cast<std::size_t>(batch_size);
  for (std::size_t begin = 0; begin < ids.size(); begin += batch) {
    const std::size_t end = std::min(ids.size(), begin + batch);
    const model::NetworkOutput out = net.forward(images_of(begin, end).to(device));
    append(predictions.segmentation, probabilities(out.segmentation, attributes.height, attributes.width));
    append(predictions.union_map, out.union_mask, attributes.height, attributes.width);
    append(predictions.intersection_map, out.intersection, attributes.height, attributes.width);
    append(predictions.annotation_map, out.annotation, attributes.height, attributes.width);
  }
  predictions.nodule_ids = std::move(ids);
  return predictions;
}

}  // namespace

Predictions predict_nodules(model::Network& net, const storage::NoduleStore& store,
                            const std::vector<std::size_t>& indices, const PreprocessConfig& preprocess,
                            const torch::Device& device, int batch_size) {
  std::vector<std::string> ids;
  for (std::size_t index : indices) ids.push_back(store.info(index).nodule_id);
  return run(net, std::move(ids), store.attributes(), device, batch_size, store.path().string(),
             [&](std::size_t begin, std::size_t end) {
               const std::vector<std::size_t> chunk(indices.begin() + begin, indices.begin() + end);
               return preprocess_store(store, chunk, preprocess, kAnyTarget).images;
             });
}

Predictions predict_nodules(model::Network& net, const std::vector<storage::Nodule>& nodules,
                            const storage::StoreAttributes& attributes, const PreprocessConfig& preprocess,
                            const torch::Device& device, int batch_size) {
  std::vector<std::string> ids;
  for (const storage::Nodule& nodule : nodules) ids.push_back(nodule.info.nodule_id);
  return run(net, std::move(ids), attributes, device, batch_size, "predict_nodules",
             [&](std::size_t begin, std::size_t end) {
               const std::vector<storage::Nodule> chunk(nodules.begin() + begin, nodules.begin() + end);
               return worker::preprocess(chunk, attributes, preprocess, kAnyTarget).images;
             });
}

}  // namespace ugs::worker
