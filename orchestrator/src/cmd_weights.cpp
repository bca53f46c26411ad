// `ugs weights import|export`: a model's weights between PyTorch's torch.save files (what the
// published UGS-Net code and any `model.state_dict()` give) and the ugs weights file.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ugs/model/network.h"
#include "ugs/model/weights.h"
#include "ugs/storage/atomic_file.h"

namespace ugs::cli {

namespace {

struct WeightsOptions {
  std::string input;
  std::string output;
  std::string model = "ugsnet-v1";
  int in_channels = 3;  // the published code's three HU windows
};

std::shared_ptr<model::Network> build_network(const WeightsOptions& options) {
  model::ModelConfig config;
  config.name = options.model;
  config.in_channels = options.in_channels;
  return model::make_network(config);
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters()) count += parameter.numel();
  return count;
}

void import_weights(const WeightsOptions& options) {
  const auto network = build_network(options);
  model::load_pytorch_state_dict(*network, options.input);
  storage::write_file_atomically(options.output, [&](const std::filesystem::path& temporary) {
    model::save_weights(*network, temporary);
  });
  std::printf("%s: %zu tensors of %s (%lld parameters, %d input channels) from %s\n",
              options.output.c_str(), model::state_dict(*network).size(), options.model.c_str(),
              static_cast<long long>(parameter_count(*network)), options.in_channels,
              options.input.c_str());
}

void export_weights(const WeightsOptions& options) {
  const auto network = build_network(options);
  model::load_weights(*network, options.input);
  storage::write_file_atomically(options.output, [&](const std::filesystem::path& temporary) {
    model::save_pytorch_state_dict(*network, temporary);
  });
  std::printf("%s: %zu tensors of %s from %s, for torch.load + load_state_dict\n",
              options.output.c_str(), model::state_dict(*network).size(), options.model.c_str(),
              options.input.c_str());
}

void add_model_options(CLI::App& command, WeightsOptions& options) {
  command.add_option("--model", options.model, "The network the weights belong to")
      ->check(CLI::IsMember(model::network_names()))
      ->capture_default_str();
  command.add_option("--in-channels", options.in_channels,
                     "Input channels of the network: 3 (the published three HU windows) or 1")
      ->check(CLI::IsMember({1, 3}))
      ->capture_default_str();
}

}  // namespace

void add_weights_command(CLI::App& app) {
  CLI::App* weights = app.add_subcommand(
      "weights", "Move a model's weights between PyTorch files and ugs weights files");
  weights->require_subcommand(1);
  weights->footer(
      "A PyTorch file is what torch.save writes (PyTorch >= 1.6): the state dict of a model, or a\n"
      "checkpoint dict holding one under 'state_dict' or 'model' (as the published UGS-Net code\n"
      "saves). Names and shapes must be exactly the network's (for ugsnet-v1 those of the\n"
      "published code). A ugs weights file is a LibTorch archive holding the same tensors; see\n"
      "docs/weights.md. Both commands check every tensor before writing anything and write the\n"
      "output atomically.");

  auto import_options = std::make_shared<WeightsOptions>();
  CLI::App* import_command = weights->add_subcommand(
      "import", "Read a PyTorch file into a ugs weights file");
  import_command->add_option("FILE", import_options->input,
                             "The torch.save file (e.g. the published trainer's *.pth.tar)")
      ->required();
  import_command->add_option("--out", import_options->output, "The ugs weights file to write")
      ->required();
  add_model_options(*import_command, *import_options);
  import_command->footer(
      "Fails, writing nothing, when the file lacks a tensor of the network, has one the network\n"
      "does not, or has one of another shape or dtype; the message names the first.\n"
      "Example: ugs weights import mymodel_fold1.pth.tar --model ugsnet-v1 --out v1_fold1.pt");
  import_command->callback([import_options] { import_weights(*import_options); });

  auto export_options = std::make_shared<WeightsOptions>();
  CLI::App* export_command = weights->add_subcommand(
      "export", "Write a ugs weights file as a PyTorch file");
  export_command->add_option("CKPT", export_options->input, "The ugs weights file")->required();
  export_command->add_option("--out", export_options->output,
                             "The PyTorch file to write: torch.load(FILE) gives an OrderedDict "
                             "that model.load_state_dict(..., strict=True) accepts")
      ->required();
  add_model_options(*export_command, *export_options);
  export_command->footer("Example: ugs weights export v1_fold1.pt --model ugsnet-v1 --out v1.pth");
  export_command->callback([export_options] { export_weights(*export_options); });
}

}  // namespace ugs::cli
