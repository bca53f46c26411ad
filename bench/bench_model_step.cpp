// Training-step time and peak memory of UGS-Net-V1 and UGS-Net: forward, the published V1 loss,
// backward and an Adam step (betas 0.5, 0.999 as published), on random 64x64 inputs.
//
//   bench_model_step                                  # ugsnet-v1 and ugsnet, batch 2, 2 threads, CPU
//   bench_model_step --device cuda --batch 32 --dtype bf16 --network ugsnet --markdown-row
//
// Step time: the median and the minimum over the timed steps (the minimum is the least disturbed by
// other processes on a shared machine), and the process's CPU time per step over all threads.
// On the CPU each network runs in its own child process, so that its peak memory is its own: on the CPU the
// peak resident set (VmHWM, reset just before the first step) and that peak minus the resident set
// before the first step (the step's working set: activations, gradients, Adam state, allocator
// slack); on CUDA the caching allocator's peak of allocated bytes.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#ifdef UGS_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "ugs/model/losses.h"
#include "ugs/model/ugsnet.h"

namespace {

struct BenchOptions {
  std::vector<std::string> networks = {"ugsnet-v1", "ugsnet"};
  int batch = 2;
  int threads = 2;
  int size = 64;
  int in_channels = 3;
  std::string device = "cpu";
  std::string dtype = "fp32";
  int warmup = 2;
  int iterations = 5;
  bool markdown_row = false;
};

void print_usage() {
  std::cout <<
      "bench_model_step: time one training step (forward, the published V1 loss, backward, Adam)\n"
      "of UGS-Net-V1 and UGS-Net on random inputs, and report its peak memory.\n\n"
      "  --network NAME   a ugsnet* variant; repeat for several (default: ugsnet-v1 and ugsnet)\n"
      "  --batch N        samples per step (default 2)\n"
      "  --threads N      intra-op CPU threads, torch::set_num_threads (default 2)\n"
      "  --size N         input height and width (default 64, the published resize)\n"
      "  --in-channels N  input channels (default 3, the published HU windows)\n"
      "  --device D       cpu or cuda (default cpu)\n"
      "  --dtype T        fp32, or bf16 (autocast of the forward; default fp32)\n"
      "  --warmup N       untimed steps first (default 2)\n"
      "  --iterations N   timed steps; the median is reported (default 5)\n"
      "  --markdown-row   print only '| C++ (ugs) | network | batch | dtype | step ms | samples/s |\n"
      "                   peak GB |' rows (deploy/gpu/check.sh)\n";
}

BenchOptions parse(int argc, char** argv) {
  BenchOptions options;
  bool networks_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      print_usage();
      std::exit(0);
    } else if (flag == "--network") {
      if (!networks_given) options.networks.clear();
      networks_given = true;
      options.networks.push_back(value());
    } else if (flag == "--batch") {
      options.batch = std::stoi(value());
    } else if (flag == "--threads") {
      options.threads = std::stoi(value());
    } else if (flag == "--size") {
      options.size = std::stoi(value());
    } else if (flag == "--in-channels") {
      options.in_channels = std::stoi(value());
    } else if (flag == "--device") {
      options.device = value();
    } else if (flag == "--dtype") {
      options.dtype = value();
    } else if (flag == "--warmup") {
      options.warmup = std::stoi(value());
    } else if (flag == "--iterations") {
      options.iterations = std::stoi(value());
    } else if (flag == "--markdown-row") {
      options.markdown_row = true;
    } else {
      throw std::invalid_argument("unknown option " + flag + " (see --help)");
    }
  }
  if (options.dtype != "fp32" && options.dtype != "bf16") {
    throw std::invalid_argument("--dtype must be fp32 or bf16, got " + options.dtype);
  }
  if (options.batch < 1 || options.iterations < 1 || options.threads < 1) {
    throw std::invalid_argument("--batch, --iterations and --threads must be >= 1");
  }
  for (const auto& name : options.networks) ugs::model::ugsnet_variant(name);  // throws if unknown
  return options;
}

// A field of /proc/self/status in MiB (kB there).
double proc_status_mib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream numbers(line.substr(field.size() + 1));
      double kib = 0;
      numbers >> kib;
      return kib / 1024.0;
    }
  }
  return -1.0;
}

// Writing 5 to clear_refs resets VmHWM to the current resident set (Linux >= 4.0).
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Autocast of the forward pass to bfloat16, through the API of the LibTorch in use.
void set_bf16_autocast(torch::DeviceType device, bool enabled) {
#if TORCH_VERSION_MAJOR >= 2
  at::autocast::set_autocast_dtype(device, at::kBFloat16);
  at::autocast::set_autocast_enabled(device, enabled);
#else
  if (device == torch::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
  if (!enabled) at::autocast::clear_cache();
}

std::string attention_implementation(const torch::Device& device) {
#if TORCH_VERSION_MAJOR >= 2
  return "at::scaled_dot_product_attention on " + device.str();
#else
  return device.is_cpu() ? "fused CPU kernel (ugs)" : "none";
#endif
}

// User + system CPU time of this process (all its threads) in seconds.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct StepResult {
  double median_ms;
  double min_ms;
  double cpu_seconds;   // CPU time per step, all threads: robust to other processes' load
  double peak_mib;      // CPU: peak RSS; CUDA: peak allocated
  double baseline_mib;  // CPU: RSS before the first step; CUDA: allocated before the first step
};

StepResult run_network(const BenchOptions& options, const std::string& name) {
  torch::set_num_threads(options.threads);
  torch::manual_seed(0);
  const torch::Device device(options.device);
  const bool bf16 = options.dtype == "bf16";

  ugs::model::ModelConfig config;
  config.name = name;
  config.in_channels = options.in_channels;
  auto net = ugs::model::make_ugsnet(config);
  net->to(device);
  net->train();
  torch::optim::Adam optimizer(net->parameters(),
                               torch::optim::AdamOptions(1e-4).betas(std::make_tuple(0.5, 0.999)));
  const auto loss = ugs::model::make_loss("ugsnet-v1");  // the published combination, for both nets

  auto images = torch::randn({options.batch, options.in_channels, options.size, options.size}, device);
  ugs::model::AnnotationTargets targets{
      (torch::rand({options.batch, 4, options.size, options.size}, device) > 0.7).to(torch::kFloat),
      torch::randint(1, 5, {options.batch}, torch::TensorOptions().dtype(torch::kLong))};
  targets.annotator_count = targets.annotator_count.to(device);

  auto step = [&] {
    // Zeroed, not freed: gradients allocated once and kept fragment the heap less than ones freed
    // and re-allocated every step (measured: 860 vs 915 MiB peak RSS for ugsnet-v1 at batch 2).
    optimizer.zero_grad();
    if (bf16) set_bf16_autocast(device.type(), true);
    auto output = net->forward(images);
    auto total = loss->compute(output, targets).total;
    if (bf16) set_bf16_autocast(device.type(), false);
    total.backward();
    optimizer.step();
  };
  auto synchronize = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };

  double baseline = 0.0;
#ifdef UGS_WITH_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
    baseline = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index())
                   .allocated_bytes[0].current / 1048576.0;
  }
#endif
  if (device.is_cpu()) {
    baseline = proc_status_mib("VmRSS");
    reset_peak_rss();
  }
  for (int i = 0; i < options.warmup; ++i) step();
  synchronize();
  std::vector<double> times;
  const double cpu_start = process_cpu_seconds();
  for (int i = 0; i < options.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    synchronize();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  const double cpu_per_step = (process_cpu_seconds() - cpu_start) / options.iterations;
  std::sort(times.begin(), times.end());
  double peak = -1.0;
  if (device.is_cpu()) peak = proc_status_mib("VmHWM");
#ifdef UGS_WITH_CUDA
  if (device.is_cuda()) {
    peak = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index())
               .allocated_bytes[0].peak / 1048576.0;
  }
#endif
  return {times[times.size() / 2], times.front(), cpu_per_step, peak, baseline};
}

// Times one network and prints its result line; false if it failed.
bool run_and_report(const BenchOptions& options, const std::string& name) {
  try {
    const StepResult r = run_network(options, name);
    const double samples_per_s = options.batch * 1000.0 / r.median_ms;
    if (options.markdown_row) {
      std::printf("| C++ (ugs) | %s | %d | %s | %.1f | %.1f | %.2f |\n", name.c_str(), options.batch,
                  options.dtype.c_str(), r.median_ms, samples_per_s, r.peak_mib / 1024.0);
    } else {
      std::printf("| %-16s | %-4s | %-5s | %5d | %7d | %9.1f | %9.1f | %10.2f | %9.2f | %12.0f | %8.0f |\n",
                  name.c_str(), options.device.c_str(), options.dtype.c_str(), options.batch,
                  options.threads, r.median_ms, r.min_ms, r.cpu_seconds, samples_per_s, r.peak_mib,
                  r.peak_mib - r.baseline_mib);
    }
    std::fflush(stdout);
    return true;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_model_step: %s: %s\n", name.c_str(), error.what());
    return false;
  }
}

// On the CPU each network runs in a child process, so that the peak resident set is its own. (On
// CUDA the allocator's peak is reset per network instead: a child forked after CUDA is initialised
// cannot use it.)
bool run_in_child(const BenchOptions& options, const std::string& name) {
  std::cout.flush();
  const pid_t child = fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) std::_Exit(run_and_report(options, name) ? 0 : 1);
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions options;
  try {
    options = parse(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "bench_model_step: " << error.what() << "\n";
    return 1;
  }
  const torch::Device device(options.device);
  if (options.dtype == "bf16" && TORCH_VERSION_MAJOR < 2 && device.is_cpu()) {
    std::cout << "bench_model_step: skipped: bf16 on the CPU needs LibTorch 2.x (LibTorch " TORCH_VERSION
                 "'s fused CPU attention is float32 only)\n";
    return 0;
  }
  if (device.is_cuda() && !torch::cuda::is_available()) {
    std::cerr << "bench_model_step: no CUDA device (or a CPU-only LibTorch)\n";
    return 1;
  }
  if (!options.markdown_row) {
    std::cout << "LibTorch " TORCH_VERSION ", attention: " << attention_implementation(device) << ", input "
              << options.in_channels << "x" << options.size << "x" << options.size << ", median of "
              << options.iterations << " steps after " << options.warmup << " warm-up\n"
              << (device.is_cpu() ? "memory: peak RSS, and peak RSS minus the RSS before the first step\n"
                                  : "memory: peak bytes allocated by the CUDA caching allocator\n")
              << "| network          | dev  | dtype | batch | threads | median ms |    min ms | CPU s/step | samples/s |"
              << (device.is_cpu() ? " peak RSS MiB | step MiB |\n" : "     peak MiB | step MiB |\n")
              << "|---|---|---|---|---|---|---|---|---|---|---|\n";
  }
  bool ok = true;
  for (const auto& name : options.networks) {
    ok = (device.is_cpu() ? run_in_child(options, name) : run_and_report(options, name)) && ok;
  }
  return ok ? 0 : 1;
}
