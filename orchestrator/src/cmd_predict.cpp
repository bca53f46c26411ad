// `ugs predict`: a trained network's probability maps for a nodule store or one PNG crop, and the
// paper's Fig. 7 montage of them (worker/include/ugs/worker/inference.h, montage.h).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "ugs/storage/png_io.h"
#include "ugs/storage/predictions.h"
#include "ugs/storage/store.h"
#include "ugs/worker/checkpoint.h"
#include "ugs/worker/config.h"
#include "ugs/worker/inference.h"
#include "ugs/worker/montage.h"

namespace ugs::cli {

namespace {

namespace fs = std::filesystem;

struct PredictArguments {
  std::string checkpoint;
  std::string input;
  std::string out;
  std::string device = "cpu";
  int batch_size = 32;
  int montage = 8;
  std::vector<std::string> nodules;
};

// The heads a predictions file holds, for the report line.
std::string head_names(const storage::Predictions& p) {
  std::string names = "X_S";
  if (p.union_map) names += ", U'";
  if (p.intersection_map) names += ", I'";
  if (p.annotation_map) names += ", GT'_Uni";
  return names;
}

// CLI11 reports the returned text for a device LibTorch would not take.
std::string check_device(const std::string& name) {
  return worker::is_device_name(name) ? "" : "expected cpu, cuda or cuda:N, got '" + name + "'";
}

// The montage rows, which are store indices since every nodule is predicted in store order: the
// nodules named by --nodules, else the first --montage ones.
std::vector<std::size_t> montage_rows(const storage::NoduleStore& store, const PredictArguments& arguments) {
  if (arguments.nodules.empty()) {
    std::vector<std::size_t> rows(std::min(store.size(), static_cast<std::size_t>(arguments.montage)));
    std::iota(rows.begin(), rows.end(), std::size_t{0});
    return rows;
  }
  std::vector<std::size_t> rows;
  for (const std::string& id : arguments.nodules) {
    const std::optional<std::size_t> index = store.find(id);
    if (!index) throw std::runtime_error(store.path().string() + ": has no nodule '" + id + "' (--nodules)");
    rows.push_back(*index);
  }
  return rows;
}

void predict_store(worker::LoadedModel& model, const PredictArguments& arguments, const torch::Device& device) {
  const storage::NoduleStore store = storage::NoduleStore::open(arguments.input);
  const std::vector<std::size_t> rows = montage_rows(store, arguments);  // a bad id stops before any work
  std::vector<std::size_t> indices(store.size());
  std::iota(indices.begin(), indices.end(), std::size_t{0});
  const storage::Predictions p = worker::predict_nodules(*model.network, store, indices, model.config.preprocess,
                                                         device, arguments.batch_size);
  const fs::path out(arguments.out);
  fs::create_directories(out);
  storage::write_predictions(out / "predictions.h5", p);
  std::cout << "wrote " << (out / "predictions.h5").string() << " (" << p.size() << " nodules; " << head_names(p)
            << ")\n";
  if (rows.empty()) return;
  worker::write_montage(out / "montage.png", store, p, rows);
  std::cout << "wrote " << (out / "montage.png").string() << " (" << rows.size() << " nodules)\n";
}

// One 8-bit crop, as the UGS-Net PNG layout stores images: a store of one nodule without masks.
void predict_png(worker::LoadedModel& model, const PredictArguments& arguments, const torch::Device& device) {
  if (!arguments.nodules.empty()) throw std::runtime_error("--nodules applies to a nodule store, not to a PNG");
  const storage::GrayImage image = storage::read_png_gray8(arguments.input);
  storage::StoreAttributes attributes;
  attributes.height = image.height;
  attributes.width = image.width;
  attributes.image_unit = storage::ImageUnit::kWindow8;
  attributes.reader_masks = storage::ReaderMasks::kUnionIntersectionOnly;
  storage::Nodule nodule;
  nodule.info.nodule_id = fs::path(arguments.input).stem().string();
  nodule.image.assign(image.pixels.begin(), image.pixels.end());
  nodule.union_mask.assign(attributes.pixel_count(), 0);
  nodule.intersection_mask.assign(attributes.pixel_count(), 0);
  const storage::Predictions p =
      worker::predict_nodules(*model.network, {nodule}, attributes, model.config.preprocess, device, 1);
  const fs::path out(arguments.out);
  fs::create_directories(out);
  storage::write_predictions(out / "predictions.h5", p);
  std::cout << "wrote " << (out / "predictions.h5").string() << " (" << head_names(p) << ")\n";
  worker::MontageOptions options;
  options.truth = worker::TruthPanel::kHide;
  worker::write_montage(out / "prediction.png", {nodule}, p, {0}, options);
  std::cout << "wrote " << (out / "prediction.png").string() << "\n";
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto arguments = std::make_shared<PredictArguments>();
  CLI::App* command = add_command(
      app, "predict", "Predict nodules with a trained network and draw the paper's Fig. 7",
      "Loads the network and its preprocessing from the --checkpoint file (checkpoint_final.pt or\n"
      "checkpoint_latest.pt of a `ugs train` job folder) and predicts every nodule of the input, a\n"
      "nodule store folder: the images are preprocessed as in training, the network runs in eval mode,\n"
      "and each head's sigmoid is resized back to the store's crop size (bilinear).\n"
      "\n"
      "DIR/predictions.h5 holds X_S for every network, and U', I' and GT'_Uni for the UGS-Net family\n"
      "(docs/predictions-format.md); score it with `ugs score --truth STORE --pred DIR/predictions.h5`.\n"
      "DIR/montage.png is the paper's Fig. 7, one line per nodule: the image (min-max gray), the\n"
      "prediction (red I', blue U' outside I', green contour of X_S; threshold 0.5) and the same from\n"
      "the radiologists (red intersection, blue union, green contour of Label_1), magnified 4x.\n"
      "\n"
      "The input may also be one 8-bit grayscale PNG crop, a file ending in .png (as the UGS-Net\n"
      "authors' layout stores images; pixel values / 255 are the network's input, so the checkpoint\n"
      "must use one window): DIR/predictions.h5 then has that one nodule, named after the file, and\n"
      "DIR/prediction.png shows its image and prediction. docs/predict.md says more.\n"
      "\n"
      "Example: ugs predict --checkpoint runs/ugsnet/fold_0/checkpoint_final.pt out/lidc --out "
      "runs/ugsnet/fold_0/predict --nodules LIDC-IDRI-0001/1,LIDC-IDRI-0002/1");
  command->add_option("--checkpoint", arguments->checkpoint, "The checkpoint to load (required)")->required();
  command->add_option("input", arguments->input, "A nodule store folder, or one 8-bit grayscale PNG (required)")
      ->required();
  command->add_option("--out", arguments->out, "DIR, the folder to write into; made if absent (required)")->required();
  command->add_option("--device", arguments->device, "Where the network runs: cpu, cuda or cuda:N (default cpu)")
      ->check(check_device);
  command->add_option("--batch-size", arguments->batch_size, "Nodules per forward pass (default 32)")
      ->check(CLI::PositiveNumber);
  command->add_option("--montage", arguments->montage,
                      "Draw the first N nodules in montage.png; 0 draws none (default 8)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--nodules", arguments->nodules,
                      "Draw these nodule ids instead, comma-separated, in this order (default: none)")
      ->delimiter(',');
  command->callback([arguments] {
    const torch::Device device(arguments->device);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      throw std::runtime_error("--device " + arguments->device + ": no CUDA device (or a LibTorch without CUDA)");
    }
    worker::LoadedModel model = worker::load_model(arguments->checkpoint, device);
    if (fs::is_regular_file(arguments->input) && fs::path(arguments->input).extension() == ".png") {
      predict_png(model, *arguments, device);
    } else {
      predict_store(model, *arguments, device);
    }
  });
}

}  // namespace ugs::cli
