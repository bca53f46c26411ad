// A model's weights by name, in and out of the two files that hold them:
//   * PyTorch's torch.save files, to exchange weights with the published PyTorch code (and anything
//     else that calls `model.state_dict()`): read_pytorch_state_dict / write_pytorch_state_dict;
//   * the ugs weights file (a LibTorch archive, what `ugs weights import --out` writes):
//     save_weights / load_weights.
// Names are PyTorch's state-dict keys ("Conv1.conv.0.weight", "Conv1.conv.1.running_mean"), which
// the networks of ugs register exactly.
//
//   ModelConfig config;
//   config.name = "ugsnet-v1";
//   config.in_channels = 3;
//   std::shared_ptr<Network> net = make_ugsnet(config);          // ugs/model/ugsnet.h
//   load_pytorch_state_dict(*net, "mymodel_fold1.pth.tar");       // the published trainer's file
//   storage::write_file_atomically("v1.pt", [&](const auto& tmp) { save_weights(*net, tmp); });
//
// Loading is all or nothing: load_state_dict checks the whole state against the module (every name
// present, no other, same shapes, same dtypes) before it copies anything, so a failed load leaves the
// module as it was. Errors are std::runtime_error with one line, "<file>: <first problem>".
// Writers write the file in place: wrap them in storage::write_file_atomically (model/ does not
// depend on storage/). Thread safety: as for the module itself; nothing here keeps state.
// docs/weights.md explains the formats and why the PyTorch reader is ugs's own.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace ugs::model {

// Tensors by state-dict name, in order.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// The module's parameters and buffers in the order PyTorch's state_dict() lists them: module by
// module in pre-order, each module's parameters before its buffers. The tensors are the module's own
// (no copy): detach() or clone() before changing them.
StateDict state_dict(const torch::nn::Module& module);

// Sets every parameter and buffer of `module` from `state` (copying, without autograd), after
// checking that `state` names exactly the tensors of state_dict(module), with the same shapes and
// dtypes. `source` names where `state` came from in error messages. On error the module is unchanged.
void load_state_dict(torch::nn::Module& module, const StateDict& state, const std::string& source);

// Reads a file written by Python's torch.save (the zip format of PyTorch >= 1.6) that holds a state
// dict: the OrderedDict that model.state_dict() returns, any dict of tensors, or a checkpoint dict
// holding one under "state_dict" or "model" (the key the published UGS-Net trainer uses). Other
// entries (epoch, optimiser state, numpy scalars) are skipped without reading their tensors.
// Tensors come back contiguous, on the CPU, in the file's order.
StateDict read_pytorch_state_dict(const std::filesystem::path& file);

// Writes `state` as torch.save(model.state_dict()) does: torch.load(file, weights_only=True) gives
// an OrderedDict of CPU tensors that load_state_dict(strict=True) accepts (PyTorch 1.13 and 2.x).
void write_pytorch_state_dict(const StateDict& state, const std::filesystem::path& file);

// load_state_dict(module, read_pytorch_state_dict(file), file).
void load_pytorch_state_dict(torch::nn::Module& module, const std::filesystem::path& file);

// write_pytorch_state_dict(state_dict(module), file).
void save_pytorch_state_dict(const torch::nn::Module& module, const std::filesystem::path& file);

// The ugs weights file: a LibTorch archive (torch::serialize::OutputArchive) whose entry
// "model_state" is a Dict[str, Tensor] in state-dict order. Checkpoints of training add entries
// beside it, so load_weights reads the model's weights out of them too.
void save_weights(const torch::nn::Module& module, const std::filesystem::path& file);
void load_weights(torch::nn::Module& module, const std::filesystem::path& file);

}  // namespace ugs::model
