#include "ugs/worker/preprocess.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ugs::worker {
namespace {

using storage::ImageUnit;
using storage::Nodule;
using storage::ReaderMasks;
using storage::StoreAttributes;

// Nodules read from the store at a time by preprocess_store.
constexpr std::size_t kReadChunk = 256;
// The largest value of an 8-bit image.
constexpr float kWindow8Max = 255.0f;

// [n, 1, H, W] float32 from the nodules' images.
torch::Tensor raw_images(const std::vector<Nodule>& nodules, const StoreAttributes& attributes) {
  const auto n = static_cast<std::int64_t>(nodules.size());
  torch::Tensor images = torch::empty({n, 1, attributes.height, attributes.width}, torch::kFloat32);
  float* out = images.data_ptr<float>();
  for (const Nodule& nodule : nodules) {
    out = std::copy(nodule.image.begin(), nodule.image.end(), out);
  }
  return images;
}

// One channel per window, values in [0, 1].
torch::Tensor window(const torch::Tensor& raw, const StoreAttributes& attributes, const PreprocessConfig& config) {
  if (attributes.image_unit == ImageUnit::kWindow8) return (raw / kWindow8Max).clamp(0.0, 1.0);
  std::vector<torch::Tensor> channels;
  for (const HuWindow& w : config.windows) {
    channels.push_back((raw.clamp(w.lo, w.hi) - w.lo) / (w.hi - w.lo));
  }
  return torch::cat(channels, 1);
}

// [n, planes, H, W] float32 0/1 from a mask of each nodule chosen by `plane_of`.
template <class PlaneOf>
torch::Tensor mask_planes(const std::vector<Nodule>& nodules, const StoreAttributes& attributes, int planes,
                          PlaneOf plane_of) {
  const auto n = static_cast<std::int64_t>(nodules.size());
  torch::Tensor masks = torch::zeros({n, planes, attributes.height, attributes.width}, torch::kFloat32);
  float* out = masks.data_ptr<float>();
  const std::size_t pixels = attributes.pixel_count();
  for (const Nodule& nodule : nodules) {
    for (int p = 0; p < planes; ++p, out += pixels) {
      if (const std::uint8_t* plane = plane_of(nodule, p)) std::copy(plane, plane + pixels, out);
    }
  }
  return masks;
}

}  // namespace

torch::Tensor resize_bilinear(const torch::Tensor& x, int height, int width) {
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<std::int64_t>{height, width})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

void check_preprocessable(const StoreAttributes& attributes, const PreprocessConfig& config, SingleTarget target,
                          const std::string& store_name) {
  if (target == SingleTarget::kLabel1 && attributes.reader_masks == ReaderMasks::kUnionIntersectionOnly) {
    throw std::runtime_error(store_name + ": the store has no per-reader masks (" +
                             to_string(attributes.reader_masks) + "), so there is no Label_1 to train on; " +
                             "set [data] single_target = \"union\" or \"intersection\"");
  }
  if (attributes.image_unit == ImageUnit::kWindow8 && config.windows.size() != 1) {
    throw std::runtime_error(store_name + ": the store holds 8-bit display images (window8), which make one " +
                             "input channel, but [preprocess] windows has " +
                             std::to_string(config.windows.size()) + "; use windows = \"published1\"");
  }
}

NoduleTensors preprocess(const std::vector<Nodule>& nodules, const StoreAttributes& attributes,
                         const PreprocessConfig& config, SingleTarget target) {
  check_preprocessable(attributes, config, target, "preprocess");
  const std::size_t pixels = attributes.pixel_count();
  for (const Nodule& nodule : nodules) {
    const auto readers = static_cast<std::size_t>(nodule.info.annotator_count);
    if (nodule.image.size() != pixels || nodule.union_mask.size() != pixels ||
        nodule.intersection_mask.size() != pixels || nodule.annotators.size() != readers * pixels) {
      throw std::invalid_argument("preprocess: nodule '" + nodule.info.nodule_id + "' does not have the " +
                                  std::to_string(attributes.height) + "x" + std::to_string(attributes.width) +
                                  " arrays its store's attributes say");
    }
  }

  NoduleTensors result;
  const auto n = static_cast<std::int64_t>(nodules.size());
  result.images =
      resize_bilinear(window(raw_images(nodules, attributes), attributes, config), config.size, config.size)
          .contiguous();
  std::vector<std::int64_t> counts;
  for (const Nodule& nodule : nodules) counts.push_back(nodule.info.annotator_count);
  result.annotator_count = torch::tensor(counts, torch::kInt64);

  auto threshold = [&](const torch::Tensor& planes) {
    return resize_bilinear(planes, config.size, config.size).ge(config.mask_threshold);
  };
  torch::Tensor annotators, union_mask, intersection;  // bool [n, ., S, S]
  if (attributes.reader_masks == ReaderMasks::kPerReader) {
    annotators = threshold(mask_planes(nodules, attributes, storage::kMaxAnnotators,
                                       [&](const Nodule& nodule, int j) {
                                         return j < nodule.info.annotator_count ? nodule.annotator(j, pixels)
                                                                                : nullptr;
                                       }));
    const torch::Tensor present =
        torch::arange(storage::kMaxAnnotators).unsqueeze(0).lt(result.annotator_count.unsqueeze(1)).view(
            {n, storage::kMaxAnnotators, 1, 1});
    union_mask = annotators.logical_and(present).any(1, /*keepdim=*/true);
    intersection = annotators.logical_or(present.logical_not()).all(1, /*keepdim=*/true);
  } else {
    const torch::Tensor both = threshold(mask_planes(nodules, attributes, 2, [](const Nodule& nodule, int p) {
      return p == 0 ? nodule.union_mask.data() : nodule.intersection_mask.data();
    }));
    union_mask = both.narrow(1, 0, 1);
    intersection = both.narrow(1, 1, 1);
    annotators = torch::zeros({n, storage::kMaxAnnotators, config.size, config.size}, torch::kBool);
  }
  const torch::Tensor single = target == SingleTarget::kLabel1  ? annotators.narrow(1, 0, 1)
                               : target == SingleTarget::kUnion ? union_mask
                                                                : intersection;
  result.masks = torch::cat({single, union_mask, intersection, annotators}, 1).to(torch::kUInt8).contiguous();
  result.store_indices.resize(nodules.size());
  std::iota(result.store_indices.begin(), result.store_indices.end(), std::size_t{0});
  return result;
}

NoduleTensors preprocess_store(const storage::NoduleStore& store, const std::vector<std::size_t>& indices,
                               const PreprocessConfig& config, SingleTarget target) {
  check_preprocessable(store.attributes(), config, target, store.path().string());
  if (indices.empty()) throw std::invalid_argument(store.path().string() + ": no nodules to preprocess");
  std::vector<torch::Tensor> images, masks, counts;
  for (std::size_t begin = 0; begin < indices.size(); begin += kReadChunk) {
    const std::vector<std::size_t> chunk(indices.begin() + begin,
                                         indices.begin() + std::min(indices.size(), begin + kReadChunk));
    NoduleTensors part = preprocess(store.read(chunk), store.attributes(), config, target);
    images.push_back(part.images);
    masks.push_back(part.masks);
    counts.push_back(part.annotator_count);
  }
  NoduleTensors result;
  result.images = torch::cat(images);
  result.masks = torch::cat(masks);
  result.annotator_count = torch::cat(counts);
  result.store_indices = indices;
  return result;
}

}  // namespace ugs::worker
