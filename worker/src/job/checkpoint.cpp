#include "ugs/worker/checkpoint.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "ugs/model/weights.h"
#include "ugs/storage/atomic_file.h"

namespace ugs::worker {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

std::string first_line(const std::exception& error) {
  std::string text = error.what();
  return text.substr(0, text.find('\n'));
}

// The generators whose draws a training step may consume: the CPU one, and the GPU's on CUDA builds.
at::Generator cpu_generator() { return at::globalContext().defaultGenerator(c10::DeviceType::CPU); }

bool uses_cuda_generator(const model::Network& network) {
  const auto parameters = network.parameters();
  return !parameters.empty() && parameters.front().is_cuda();
}

at::Generator cuda_generator(const model::Network& network) {
  return at::globalContext().defaultGenerator(network.parameters().front().device());
}

// An archive opened for reading, with its entries read by name; every failure names the file.
class CheckpointReader {
 public:
  CheckpointReader(const fs::path& file, const torch::Device& device) : file_(file) {
    if (!fs::exists(file)) fail(file, "no such checkpoint");
    try {
      archive_.load_from(file.string(), device);
    } catch (const c10::Error& error) {
      fail(file, "not a readable checkpoint (" + first_line(error) + "); truncated or not a ugs checkpoint?");
    }
    if (value("schema").toStringRef() != kCheckpointSchema) fail(file, "not a ugs checkpoint");
    const auto version = value("version").toInt();
    if (version != kCheckpointVersion) {
      fail(file, "checkpoint version " + std::to_string(version) + ", this ugs reads version " +
                     std::to_string(kCheckpointVersion));
    }
  }

  c10::IValue value(const char* key) {
    c10::IValue result;
    bool found = false;
    try {
      found = archive_.try_read(key, result);
    } catch (const c10::Error& error) {
      fail(file_, std::string("entry '") + key + "' is unreadable (" + first_line(error) + ")");
    }
    if (!found) fail(file_, std::string("not a ugs checkpoint: no '") + key + "' entry");
    return result;
  }

  CheckpointInfo info() {
    CheckpointInfo info;
    info.config_toml = string("config");
    info.next.epoch = static_cast<int>(integer("next_epoch"));
    info.next.step = static_cast<int>(integer("next_step"));
    info.finished = value("finished").toBool();
    info.code_version = string("code_version");
    const c10::IValue totals = value("epoch_totals");
    if (!totals.isGenericDict()) fail(file_, "'epoch_totals' is not a dictionary");
    for (const auto& entry : totals.toGenericDict()) {
      if (!entry.key().isString() || !entry.value().isDouble()) fail(file_, "'epoch_totals' holds non-numbers");
      info.epoch_totals.emplace_back(entry.key().toStringRef(), entry.value().toDouble());
    }
    return info;
  }

  model::StateDict model_state() {
    const c10::IValue state = value("model_state");
    if (!state.isGenericDict()) fail(file_, "'model_state' is not a dictionary of tensors");
    model::StateDict tensors;
    for (const auto& entry : state.toGenericDict()) {
      if (!entry.key().isString() || !entry.value().isTensor()) fail(file_, "'model_state' holds non-tensors");
      tensors.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
    }
    return tensors;
  }

  torch::Tensor tensor(const char* key) {
    const c10::IValue v = value(key);
    if (!v.isTensor()) fail(file_, std::string("'") + key + "' is not a tensor");
    return v.toTensor();
  }

  torch::serialize::InputArchive& archive() { return archive_; }

 private:
  std::string string(const char* key) {
    const c10::IValue v = value(key);
    if (!v.isString()) fail(file_, std::string("'") + key + "' is not a string");
    return v.toStringRef();
  }
  std::int64_t integer(const char* key) {
    const c10::IValue v = value(key);
    if (!v.isInt()) fail(file_, std::string("'") + key + "' is not an integer");
    return v.toInt();
  }

  fs::path file_;
  torch::serialize::InputArchive archive_;
};

// set_state refuses a state of another size or type; check that first, so that loading cannot stop
// half way.
void check_generator_state(const fs::path& file, const char* key, const torch::Tensor& state,
                           const at::Generator& generator) {
  const torch::Tensor current = generator.get_state();
  if (state.scalar_type() != current.scalar_type() || !state.sizes().equals(current.sizes())) {
    fail(file, std::string("'") + key + "' is not a random generator state of this LibTorch");
  }
}

torch::Device device_of(const model::Network& network) {
  const auto parameters = network.parameters();
  return parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& config, model::Network& network) {
  const OptimizerConfig& o = config.optimizer;
  switch (o.kind) {
    case OptimizerKind::kSgd:
      return std::make_unique<torch::optim::SGD>(
          network.parameters(),
          torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
    case OptimizerKind::kAdam:
      return std::make_unique<torch::optim::Adam>(
          network.parameters(), torch::optim::AdamOptions(o.lr)
                                    .betas(std::make_tuple(o.betas[0], o.betas[1]))
                                    .weight_decay(o.weight_decay));
  }
  throw std::logic_error("make_optimizer: an optimizer kind without a case");
}

void save_checkpoint(const fs::path& file, const CheckpointInfo& info, const model::Network& network,
                     const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write("schema", c10::IValue(std::string(kCheckpointSchema)));
  archive.write("version", c10::IValue(static_cast<std::int64_t>(kCheckpointVersion)));
  archive.write("config", c10::IValue(info.config_toml));
  archive.write("next_epoch", c10::IValue(static_cast<std::int64_t>(info.next.epoch)));
  archive.write("next_step", c10::IValue(static_cast<std::int64_t>(info.next.step)));
  archive.write("finished", c10::IValue(info.finished));
  archive.write("code_version", c10::IValue(info.code_version));
  c10::Dict<std::string, double> totals;
  for (const auto& [name, value] : info.epoch_totals) totals.insert(name, value);
  archive.write("epoch_totals", c10::IValue(totals));

  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& [name, tensor] : model::state_dict(network)) tensors.insert(name, tensor.detach().to(torch::kCPU));
  archive.write("model_state", c10::IValue(tensors));

  torch::serialize::OutputArchive optimizer_archive;
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);

  archive.write("rng_cpu", cpu_generator().get_state());
  if (uses_cuda_generator(network)) archive.write("rng_cuda", cuda_generator(network).get_state());

  storage::write_file_atomically(file, [&](const fs::path& temporary) {
    try {
      archive.save_to(temporary.string());
    } catch (const c10::Error& error) {
      fail(file, "cannot write the checkpoint (" + first_line(error) + ")");
    }
  });
}

CheckpointInfo read_checkpoint_info(const fs::path& file) {
  return CheckpointReader(file, torch::kCPU).info();
}

CheckpointInfo load_checkpoint(const fs::path& file, model::Network& network, torch::optim::Optimizer& optimizer) {
  const torch::Device device = device_of(network);
  CheckpointReader reader(file, device);
  CheckpointInfo info = reader.info();
  const Config config = parse_config(info.config_toml, file.string() + " (its configuration)");
  const model::StateDict state = reader.model_state();
  const torch::Tensor rng_cpu = reader.tensor("rng_cpu").cpu();
  torch::Tensor rng_cuda;
  if (uses_cuda_generator(network)) rng_cuda = reader.tensor("rng_cuda").cpu();

  // Everything that can be refused is read and checked before the caller's objects change.
  std::unique_ptr<torch::optim::Optimizer> loaded = make_optimizer(config, network);
  if (loaded->param_groups().size() != optimizer.param_groups().size()) {
    fail(file, "the optimizer of this checkpoint has another parameter layout");
  }
  try {
    torch::serialize::InputArchive optimizer_archive;
    reader.archive().read("optimizer", optimizer_archive);
    loaded->load(optimizer_archive);
  } catch (const c10::Error& error) {
    fail(file, "the optimizer state does not load (" + first_line(error) + ")");
  }
  check_generator_state(file, "rng_cpu", rng_cpu, cpu_generator());
  if (rng_cuda.defined()) check_generator_state(file, "rng_cuda", rng_cuda, cuda_generator(network));
  model::load_state_dict(network, state, file.string());  // checks every tensor before it copies one
  cpu_generator().set_state(rng_cpu);
  if (rng_cuda.defined()) cuda_generator(network).set_state(rng_cuda);
  optimizer.state() = std::move(loaded->state());
  for (std::size_t i = 0; i < optimizer.param_groups().size(); ++i) {
    optimizer.param_groups()[i].set_options(loaded->param_groups()[i].options().clone());
  }
  return info;
}

LoadedModel load_model(const fs::path& checkpoint, const torch::Device& device) {
  LoadedModel loaded;
  loaded.info = read_checkpoint_info(checkpoint);
  loaded.config = parse_config(loaded.info.config_toml, checkpoint.string() + " (its configuration)");
  loaded.network = model::make_network(loaded.config.model);
  model::load_weights(*loaded.network, checkpoint);
  loaded.network->to(device);
  loaded.network->eval();
  return loaded;
}

}  // namespace ugs::worker
