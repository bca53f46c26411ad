// Weights in and out of PyTorch's files (model/include/ugs/model/weights.h): ugsnet-v1 on weights
// imported from PyTorch gives PyTorch's outputs, PyTorch accepts what ugs exports, and bad files
// fail with one line naming the file and the problem. The PyTorch side is
// tests/fixtures/ugsnet_v1_reference.py (see tests/fixtures/pytorch_fixture.h).
#include <gtest/gtest.h>

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "fixtures/pytorch_fixture.h"
#include "ugs/model/ugsnet.h"
#include "ugs/model/weights.h"

namespace {

using namespace ugs::model;
namespace fs = std::filesystem;

// The parity bound of the model issue: C++ and PyTorch outputs on the same weights and input.
constexpr double kParityTolerance = 1e-4;
// The cases of the fixture's io.pt (PARITY_CASES in the reference script).
const std::vector<std::string> kParityCases = {"single", "pair"};

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "(no error)";
}

torch::Tensor tensor_named(const StateDict& state, const std::string& name) {
  for (const auto& [key, tensor] : state)
    if (key == name) return tensor;
  ADD_FAILURE() << "no tensor '" << name << "'";
  return {};
}

std::vector<std::string> names_of(const StateDict& state) {
  std::vector<std::string> names;
  for (const auto& entry : state) names.push_back(entry.first);
  return names;
}

// A state copied out of a module, to see that a failed load left it alone.
StateDict snapshot(const torch::nn::Module& module) {
  StateDict copy;
  for (const auto& [name, tensor] : state_dict(module)) copy.emplace_back(name, tensor.clone());
  return copy;
}

void expect_same_state(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(names_of(a), names_of(b));
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
}

// The small model of the error cases: its names are those of the reference script's small_model().
torch::nn::Sequential small_model() {
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)),
                               torch::nn::BatchNorm2d(4));
}

std::shared_ptr<Network> make_v1() {
  ModelConfig config;
  config.name = "ugsnet-v1";
  config.in_channels = 3;
  return make_ugsnet(config);
}

// The largest absolute difference between the network's four outputs and PyTorch's, over the
// fixture's cases, in eval mode.
double largest_difference_to_pytorch(Network& network, const StateDict& io) {
  torch::NoGradGuard no_grad;
  network.eval();
  double largest = 0;
  for (const std::string& name : kParityCases) {
    const NetworkOutput out = network.forward(tensor_named(io, name + ".input"));
    // pred1 is supervised by the intersection, pred2 by the union, pred3 by one annotation.
    const std::vector<std::pair<std::string, torch::Tensor>> outputs = {
        {"pred1", out.intersection}, {"pred2", out.union_mask}, {"pred3", out.annotation},
        {"pred", out.segmentation}};
    for (const auto& [output, tensor] : outputs) {
      const torch::Tensor expected = tensor_named(io, name + "." + output);
      EXPECT_EQ(tensor.sizes(), expected.sizes()) << name << "." << output;
      largest = std::max(largest, (tensor - expected).abs().max().item<double>());
    }
  }
  return largest;
}

fs::path temporary_path(const std::string& name) {
  return fs::temp_directory_path() / ("ugs-weights-test-" + std::to_string(::getpid()) + "-" + name);
}

class PyTorchFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto why = ugs::test::pytorch_unavailable()) GTEST_SKIP() << *why;
    fixture_ = ugs::test::pytorch_fixture_dir();
  }
  fs::path fixture_;
};

// ------------------------------------------------------------------------------------------------
// Parity with PyTorch

TEST_F(PyTorchFiles, ImportedV1GivesPyTorchsOutputs) {
  const auto network = make_v1();
  load_pytorch_state_dict(*network, fixture_ / "state_dict.pt");
  const double largest =
      largest_difference_to_pytorch(*network, read_pytorch_state_dict(fixture_ / "io.pt"));
  EXPECT_LE(largest, kParityTolerance);
  std::printf("largest |C++ - PyTorch| over the four outputs: %.3g\n", largest);
}

TEST_F(PyTorchFiles, CheckpointFormsHoldTheSameState) {
  // {"state_dict": ..., "epoch": 7}, and the published trainer's {"model": ..., "dice":
  // numpy.float64, "epoch", "optimizer": Adam's state} give what model.state_dict() itself gives.
  const StateDict plain = read_pytorch_state_dict(fixture_ / "state_dict.pt");
  expect_same_state(read_pytorch_state_dict(fixture_ / "checkpoint.pt"), plain);
  expect_same_state(read_pytorch_state_dict(fixture_ / "published_checkpoint.pt"), plain);
}

TEST_F(PyTorchFiles, ExportReadsBackAsTheImport) {
  // That PyTorch accepts the export is checked end to end by the `ugs weights` tests.
  const auto network = make_v1();
  load_pytorch_state_dict(*network, fixture_ / "state_dict.pt");
  const fs::path exported = temporary_path("export.pt");
  save_pytorch_state_dict(*network, exported);
  expect_same_state(read_pytorch_state_dict(exported),
                    read_pytorch_state_dict(fixture_ / "state_dict.pt"));
  fs::remove(exported);
}

TEST_F(PyTorchFiles, StateDictOrderIsPyTorchs) {
  auto model = small_model();
  EXPECT_EQ(names_of(state_dict(*model)),
            names_of(read_pytorch_state_dict(fixture_ / "small_state_dict.pt")));
}

// ------------------------------------------------------------------------------------------------
// Bad files: one line naming the file and the first problem, and the module left as it was

TEST_F(PyTorchFiles, WrongShapeNamesTensorAndBothShapes) {
  auto model = small_model();
  const StateDict before = snapshot(*model);
  const fs::path file = fixture_ / "small_wrong_shape.pt";
  EXPECT_EQ(error_of([&] { load_pytorch_state_dict(*model, file); }),
            file.string() + ": '0.weight' has shape [4, 1, 3, 3], the model's is [4, 3, 3, 3]");
  expect_same_state(state_dict(*model), before);
}

TEST_F(PyTorchFiles, MissingKeyIsNamed) {
  auto model = small_model();
  const StateDict before = snapshot(*model);
  const fs::path file = fixture_ / "small_missing_key.pt";
  EXPECT_EQ(error_of([&] { load_pytorch_state_dict(*model, file); }),
            file.string() + ": lacks '1.running_var' (6 tensors given, the model has 7)");
  expect_same_state(state_dict(*model), before);
}

TEST_F(PyTorchFiles, CorruptFilesFailWithOneLine) {
  const fs::path good = fixture_ / "small_state_dict.pt";
  const fs::path truncated = temporary_path("truncated.pt");
  fs::copy_file(good, truncated);
  fs::resize_file(truncated, fs::file_size(good) / 2);
  const fs::path garbage = temporary_path("garbage.pt");
  std::ofstream(garbage) << "not a checkpoint at all";

  auto model = small_model();
  const StateDict before = snapshot(*model);
  for (const fs::path& file : {truncated, garbage, temporary_path("absent.pt")}) {
    const std::string message = error_of([&] { load_pytorch_state_dict(*model, file); });
    EXPECT_EQ(message.rfind(file.string() + ": ", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message, "(no error)");
  }
  EXPECT_NE(error_of([&] { load_pytorch_state_dict(*model, garbage); })
                .find("not a file written by torch.save"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_pytorch_state_dict(*model, temporary_path("absent.pt")); })
                .find("cannot open"),
            std::string::npos);
  expect_same_state(state_dict(*model), before);
  fs::remove(truncated);
  fs::remove(garbage);
}

// ------------------------------------------------------------------------------------------------
// Without PyTorch: ugs's own writer and reader, the checks of load_state_dict, the weights file

TEST(Weights, WriterAndReaderKeepNamesOrderDtypesAndValues) {
  const StateDict state = {
      {"b.transposed", torch::arange(12, torch::kFloat).view({3, 4}).t()},  // not contiguous
      {"a.scalar", torch::tensor(7, torch::kLong)},
      {"c.empty", torch::empty({0, 5})},
      {"d.double", torch::rand({2, 2}, torch::kDouble)},
      {"e.bool", torch::tensor({true, false, true})},
      {"f.large_int", torch::tensor({int64_t{1} << 40, int64_t{-3}}, torch::kLong)},
  };
  const fs::path file = temporary_path("roundtrip.pt");
  write_pytorch_state_dict(state, file);
  const StateDict read = read_pytorch_state_dict(file);
  ASSERT_EQ(names_of(read), names_of(state));
  for (size_t i = 0; i < state.size(); ++i) {
    EXPECT_EQ(read[i].second.scalar_type(), state[i].second.scalar_type()) << state[i].first;
    EXPECT_TRUE(torch::equal(read[i].second, state[i].second)) << state[i].first;
    EXPECT_TRUE(read[i].second.is_contiguous()) << state[i].first;
  }
  fs::remove(file);
}

TEST(Weights, LoadStateDictRejectsUnknownNamesAndOtherDtypes) {
  auto model = small_model();
  const StateDict before = snapshot(*model);

  StateDict extra = snapshot(*model);
  extra.emplace_back("2.weight", torch::zeros({1}));
  EXPECT_EQ(error_of([&] { load_state_dict(*model, extra, "extra.pt"); }),
            "extra.pt: has '2.weight' unknown to the model (8 tensors given, the model has 7)");

  StateDict doubled = snapshot(*model);
  doubled[0].second = doubled[0].second.to(torch::kDouble);
  EXPECT_EQ(error_of([&] { load_state_dict(*model, doubled, "doubled.pt"); }),
            "doubled.pt: '0.weight' is Double, the model's is Float");
  expect_same_state(state_dict(*model), before);

  StateDict other = snapshot(*model);
  for (auto& entry : other) entry.second = entry.second + 1;
  load_state_dict(*model, other, "other.pt");
  expect_same_state(state_dict(*model), other);
}

TEST(Weights, WeightsFileRoundTripsAndRefusesOtherFiles) {
  auto saved = small_model();
  torch::NoGradGuard no_grad;
  for (auto& parameter : saved->parameters()) parameter.uniform_(-1, 1);
  const fs::path file = temporary_path("weights.ugs");
  save_weights(*saved, file);
  auto loaded = small_model();
  load_weights(*loaded, file);
  expect_same_state(state_dict(*loaded), state_dict(*saved));

  const fs::path pytorch_file = temporary_path("pytorch.pt");
  save_pytorch_state_dict(*saved, pytorch_file);
  const std::string message = error_of([&] { load_weights(*loaded, pytorch_file); });
  EXPECT_EQ(message.rfind(pytorch_file.string() + ": not a ugs weights file", 0), 0u) << message;
  EXPECT_NE(message.find("ugs weights import"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  fs::remove(file);
  fs::remove(pytorch_file);
}

TEST(Weights, MalformedPickleFailsWithOneLine) {
  // A zip archive as torch.save makes one, whose data.pkl stops in the middle of a dict.
  const fs::path file = temporary_path("bad-pickle.pt");
  {
    std::ofstream out(file, std::ios::binary);
    caffe2::serialize::PyTorchStreamWriter archive([&out](const void* data, size_t size) {
      out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
      return size;
    });
    const std::string program("\x80\x02}q\x00(X\x05\x00\x00\x00", 11);
    archive.writeRecord("data.pkl", program.data(), program.size());
    archive.writeEndOfFile();
  }
  EXPECT_EQ(error_of([&] { read_pytorch_state_dict(file); }),
            file.string() + ": data.pkl: truncated pickle (an opcode needs 5 bytes, 0 are left) "
                            "at byte 6 of the pickle");
  fs::remove(file);
}

TEST(Weights, StorageRecordOfTheWrongSizeFailsWithOneLine) {
  // A file written by ugs, copied record by record except the first tensor's storage, cut short.
  const fs::path good = temporary_path("good.pt");
  write_pytorch_state_dict({{"w", torch::ones({2, 3})}}, good);
  const fs::path bad = temporary_path("short-record.pt");
  {
    caffe2::serialize::PyTorchStreamReader in(good.string());
    std::ofstream out(bad, std::ios::binary);
    caffe2::serialize::PyTorchStreamWriter archive([&out](const void* data, size_t size) {
      out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
      return size;
    });
    for (const char* name : {"data.pkl", "data/0"}) {
      auto [data, size] = in.getRecord(name);
      archive.writeRecord(name, data.get(), std::string(name) == "data/0" ? size - 4 : size);
    }
    archive.writeEndOfFile();
  }
  EXPECT_EQ(error_of([&] { read_pytorch_state_dict(bad); }),
            bad.string() + ": record data/0 holds 20 bytes, not the 6 Float elements that tensor "
                           "'w' says");
  fs::remove(good);
  fs::remove(bad);
}

}  // namespace
