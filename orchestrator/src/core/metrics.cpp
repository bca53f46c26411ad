// The coordinator's Prometheus metrics (metrics.h): the families, what each coordinator event sets,
// and the exporter.
#include "ugs/orchestrator/metrics.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "this_machine.h"

namespace ugs::orchestrator {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;

// Step and all-reduce times, from a small network's step on a fast GPU (~1 ms) to a big one's on a
// CPU (tens of seconds); above a minute something is wrong and +Inf says so.
const Histogram::BucketBoundaries kStepBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25,   0.5,   1,      2.5,   5,    10,    30,    60};

constexpr JobState kStates[] = {JobState::kPending, JobState::kRunning, JobState::kCompleted, JobState::kFailed,
                                JobState::kPreempted};
// The summary.json metrics that become ugs_job_test_<metric>.
constexpr const char* kTestMetrics[] = {"dsc", "iou", "nsd"};

Labels with(Labels labels, const std::string& name, const std::string& value) {
  labels[name] = value;
  return labels;
}

// "host:port" split at the last colon (an IPv6 host keeps its brackets and colons).
std::pair<std::string, std::string> split_address(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return {address, ""};
  return {address.substr(0, colon), address.substr(colon + 1)};
}

bool wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "[::]"; }

// The address another machine reaches a listening address by: a wildcard host becomes this host's name.
std::string reachable(const std::string& listening_address) {
  const auto [host, port] = split_address(listening_address);
  return (wildcard(host) ? host_name() : host) + ":" + port;
}

// Opens and closes a TCP connection to a listening address (this machine's own), ignoring failures.
void knock(const std::string& listening_address) {
  auto [host, port] = split_address(listening_address);
  if (wildcard(host)) host = host == "[::]" ? "::1" : "127.0.0.1";
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return;
  const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (fd >= 0) {
    connect(fd, found->ai_addr, found->ai_addrlen);
    close(fd);
  }
  freeaddrinfo(found);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// The families, in the order of metrics.h. Each is registered by gauge(), counter() or histogram(),
// which also record its name: metric_family_names() reads them from here, so that the list cannot
// drift from what is served.

struct RunMetrics::Families {
  explicit Families(prometheus::Registry& registry) : registry(registry) {}

  prometheus::Registry& registry;
  std::vector<std::string> names;

  template <typename Builder>
  auto& add(Builder builder, const std::string& name, const std::string& help) {
    auto& family = builder.Name(name).Help(help).Register(registry);
    names.push_back(family.GetName());
    return family;
  }
  Family<Gauge>& gauge(const std::string& name, const std::string& help) {
    return add(prometheus::BuildGauge(), name, help);
  }
  Family<Counter>& counter(const std::string& name, const std::string& help) {
    return add(prometheus::BuildCounter(), name, help);
  }
  Family<Histogram>& histogram(const std::string& name, const std::string& help) {
    return add(prometheus::BuildHistogram(), name, help);
  }

  Family<Gauge>& run_info = gauge("ugs_run_info", "Always 1: the versions and the place of this `ugs run` coordinator");
  Family<Gauge>& run_start = gauge("ugs_run_start_timestamp_seconds", "When this `ugs run` started (Unix time)");
  Family<Gauge>& jobs = gauge("ugs_jobs", "The sweep's jobs by state");
  Family<Counter>& completed = counter("ugs_jobs_completed_total", "Jobs completed by this coordinator");
  Family<Counter>& failed = counter("ugs_jobs_failed_total", "Job attempts that failed");
  Family<Counter>& retried = counter("ugs_jobs_retried_total", "Failed jobs started again");
  Family<Counter>& preempted = counter("ugs_jobs_preempted_total",
                                       "Jobs stopped by a signal with their checkpoint written");
  Family<Gauge>& gangs = gauge("ugs_gangs", "Gangs by state: busy, idle, lost");
  Family<Gauge>& gang_heard = gauge("ugs_gang_last_heard_timestamp_seconds",
                                    "The last message from the gang's root (Unix time)");
  Family<Gauge>& job_state = gauge("ugs_job_state", "1 for the job's current state, 0 for the others");
  Family<Gauge>& job_epoch = gauge("ugs_job_epoch", "The epoch in progress, 1-based");
  Family<Gauge>& job_epochs = gauge("ugs_job_epochs", "Epochs configured");
  Family<Gauge>& job_loss = gauge("ugs_job_loss",
                                  "The latest step's training loss: part \"total\" and the loss's parts");
  Family<Gauge>& job_lr = gauge("ugs_job_learning_rate", "The latest step's learning rate");
  Family<Gauge>& job_samples_per_second =
      gauge("ugs_job_samples_per_second",
            "Training samples per second of the whole gang over the latest report's steps");
  Family<Histogram>& job_step = histogram("ugs_job_step_duration_seconds",
                                          "Wall time of each optimiser step on the gang's root");
  Family<Histogram>& job_allreduce =
      histogram("ugs_job_allreduce_duration_seconds",
                "Time in the gradient all-reduce of each step on the gang's root (0 for one-rank jobs)");
  Family<Counter>& job_loader_wait = counter("ugs_job_loader_wait_seconds_total",
                                             "Time the gang root's training loop waited for a batch");
  Family<Gauge>& job_last_progress = gauge("ugs_job_last_progress_timestamp_seconds",
                                           "The job's last progress report, or its start (Unix time)");
  Family<Gauge>& job_checkpoint_duration = gauge("ugs_job_checkpoint_write_duration_seconds",
                                                 "How long the latest epoch's checkpoint writes took");
  Family<Gauge>& job_checkpoint_time = gauge("ugs_job_checkpoint_timestamp_seconds",
                                             "When the latest checkpoint was written (Unix time)");
  Family<Gauge>& job_validation_dsc = gauge("ugs_job_validation_dsc",
                                            "Validation DSC (Label_1) at the latest epoch's end");
  Family<Gauge>& job_test_dsc = gauge("ugs_job_test_dsc", "A completed job's test-fold mean DSC against each mask");
  Family<Gauge>& job_test_iou = gauge("ugs_job_test_iou", "A completed job's test-fold mean IoU against each mask");
  Family<Gauge>& job_test_nsd = gauge("ugs_job_test_nsd", "A completed job's test-fold mean NSD against each mask");

  Family<Gauge>& test(const std::string& metric) {
    return metric == "dsc" ? job_test_dsc : metric == "iou" ? job_test_iou : job_test_nsd;
  }
};

// What the exporter collects on each scrape: the registry, counting the scrapes as they begin.
class RunMetrics::ScrapeCounter : public prometheus::Collectable {
 public:
  explicit ScrapeCounter(std::shared_ptr<prometheus::Registry> registry) : registry_(std::move(registry)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    begun_.fetch_add(1);
    return registry_->Collect();
  }
  std::uint64_t begun() const { return begun_.load(); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::atomic<std::uint64_t> begun_{0};
};

// ---------------------------------------------------------------------------------------------------

void ProgressReport::add(const worker::StepReport& report) {
  epoch = report.epoch;
  step = report.step;
  losses = report.losses;
  lr = report.lr;
  step_seconds.push_back(report.seconds);
  allreduce_seconds.push_back(report.allreduce_seconds);
  loader_wait_seconds += report.loader_wait_seconds;
  samples += report.samples;
}

double ProgressReport::samples_per_second() const {
  double seconds = 0;
  for (const double s : step_seconds) seconds += s;
  return seconds > 0 ? static_cast<double>(samples) / seconds : 0;
}

namespace {

// The JOB labels (metrics.h).
Labels job_labels(const std::string& sweep, const Job& job) {
  std::string config = job.folder.parent_path().filename().string();
  if (job.seed != 0) config += "-seed" + std::to_string(job.seed);
  return {{"sweep", sweep}, {"config", config}, {"network", job.network}, {"fold", std::to_string(job.fold)}};
}

std::string network_label(const Job& job) { return job.kind == JobKind::kAnalysis ? "analysis" : job.network; }

}  // namespace

RunMetrics::RunMetrics(std::string sweep, const std::string& code_version)
    : sweep_(std::move(sweep)),
      registry_(std::make_shared<prometheus::Registry>()),
      families_(std::make_unique<Families>(*registry_)),
      scrape_counter_(std::make_shared<ScrapeCounter>(registry_)) {
  const char* slurm_job = std::getenv("SLURM_JOB_ID");
  const std::size_t cuda_devices = torch::cuda::device_count();
  families_->run_info
      .Add({{"sweep", sweep_},
            {"version", code_version},
            {"torch", TORCH_VERSION},
            {"host", host_name()},
            {"slurm_job_id", slurm_job ? slurm_job : ""},
            {"gpu", cuda_devices == 0 ? "none" : std::to_string(cuda_devices) + " CUDA device(s)"}})
      .Set(1);
  families_->run_start.Add({{"sweep", sweep_}}).Set(unix_now());
  count_states();
}

RunMetrics::~RunMetrics() {
  if (!exposer_) return;
  // civetweb's listener sees the request to stop only when a connection arrives or its poll times out
  // (2 s, after it has served a request): knock until the exporter is gone, so that `ugs run` ends
  // without that pause. An in-flight scrape is completed first.
  std::atomic<bool> stopped{false};
  std::thread knocker([&] {
    while (!stopped.load()) {
      knock(listening_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  exposer_.reset();
  stopped.store(true);
  knocker.join();
}

std::string RunMetrics::serve(const std::string& address) {
  const auto [host, port] = split_address(address);
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    throw std::runtime_error("metrics address '" + address + "': expected HOST:PORT, HOST an IP address "
                             "(127.0.0.1, 0.0.0.0, [::1]) and PORT 0..65535 (0: any free port)");
  }
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& error) {
    throw std::runtime_error("metrics address " + address + ": cannot listen (" + error.what() +
                             "); is the port in use? --metrics-address HOST:0 takes any free port");
  }
  exposer_->RegisterCollectable(scrape_counter_);
  const std::vector<int> ports = exposer_->GetListeningPorts();
  listening_ = host + ":" + std::to_string(ports.empty() ? 0 : ports.front());
  return listening_;
}

std::uint64_t RunMetrics::scrapes() const { return scrape_counter_->begun(); }

std::string RunMetrics::text() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

bool RunMetrics::wait_for_scrape(double seconds, const std::atomic<bool>& stop) const {
  if (!exposer_) return false;
  const std::uint64_t before = scrapes();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline && !stop.load()) {
    // A scrape that began after the last update carries it; the exporter's destructor lets it finish.
    if (scrapes() > before) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void RunMetrics::add_job(const Job& job, JobState state) {
  if (state == JobState::kRunning) state = JobState::kPending;
  states_[job.id] = state;
  if (job.kind == JobKind::kTraining) {
    const Labels labels = job_labels(sweep_, job);
    for (const JobState s : kStates) {
      families_->job_state.Add(with(labels, "state", std::string(to_string(s)))).Set(s == state ? 1 : 0);
    }
    families_->job_epochs.Add(labels).Set(job.config.training.epochs);
  }
  count_states();
}

void RunMetrics::job_state(const Job& job, JobState state) {
  const auto known = states_.find(job.id);
  if (known == states_.end()) throw std::logic_error("metrics: job " + job.id + " was never added");
  const Labels run = {{"sweep", sweep_}, {"network", network_label(job)}};
  switch (state) {
    case JobState::kCompleted: families_->completed.Add(run).Increment(); break;
    case JobState::kFailed: families_->failed.Add(run).Increment(); break;
    case JobState::kPreempted: families_->preempted.Add(run).Increment(); break;
    case JobState::kRunning:
      if (known->second == JobState::kFailed) families_->retried.Add(run).Increment();
      break;
    case JobState::kPending: break;
  }
  known->second = state;
  if (job.kind == JobKind::kTraining) {
    const Labels labels = job_labels(sweep_, job);
    for (const JobState s : kStates) {
      families_->job_state.Add(with(labels, "state", std::string(to_string(s)))).Set(s == state ? 1 : 0);
    }
    if (state == JobState::kRunning) families_->job_last_progress.Add(labels).Set(unix_now());
  }
  count_states();
}

void RunMetrics::job_progress(const Job& job, const ProgressReport& report) {
  if (!states_.count(job.id)) throw std::logic_error("metrics: job " + job.id + " was never added");
  const Labels labels = job_labels(sweep_, job);
  families_->job_epoch.Add(labels).Set(report.epoch + 1);
  for (const auto& [name, value] : report.losses) {
    families_->job_loss.Add(with(labels, "part", name == "loss" ? "total" : name)).Set(value);
  }
  families_->job_lr.Add(labels).Set(report.lr);
  if (!report.empty()) families_->job_samples_per_second.Add(labels).Set(report.samples_per_second());
  Histogram& step = families_->job_step.Add(labels, kStepBuckets);
  for (const double seconds : report.step_seconds) step.Observe(seconds);
  Histogram& allreduce = families_->job_allreduce.Add(labels, kStepBuckets);
  for (const double seconds : report.allreduce_seconds) allreduce.Observe(seconds);
  families_->job_loader_wait.Add(labels).Increment(std::max(0.0, report.loader_wait_seconds));
  families_->job_last_progress.Add(labels).Set(unix_now());
}

void RunMetrics::job_epoch_end(const Job& job, const worker::EpochReport& report, double checkpoint_unix_time) {
  if (!states_.count(job.id)) throw std::logic_error("metrics: job " + job.id + " was never added");
  const Labels labels = job_labels(sweep_, job);
  if (report.validation_dsc) families_->job_validation_dsc.Add(labels).Set(*report.validation_dsc);
  if (report.checkpoint_seconds) {
    families_->job_checkpoint_duration.Add(labels).Set(*report.checkpoint_seconds);
    families_->job_checkpoint_time.Add(labels).Set(checkpoint_unix_time);
  }
}

void RunMetrics::job_scores(const Job& job, const fs::path& summary_json) {
  if (!states_.count(job.id)) throw std::logic_error("metrics: job " + job.id + " was never added");
  std::ifstream in(summary_json);
  const json summary = json::parse(in, nullptr, false);
  if (!in || summary.is_discarded() || !summary.contains("mean") || !summary["mean"].is_object()) {
    throw std::runtime_error(summary_json.string() + ": not a score summary (no \"mean\" object)");
  }
  const Labels labels = job_labels(sweep_, job);
  for (const auto& [mask, metrics] : summary["mean"].items()) {
    for (const char* metric : kTestMetrics) {
      if (!metrics.contains(metric)) continue;
      const json& value = metrics[metric];  // null: NaN (no nodule with a defined score)
      families_->test(metric)
          .Add(with(labels, "mask", mask))
          .Set(value.is_number() ? value.get<double>() : std::nan(""));
    }
  }
}

void RunMetrics::gang_heard(int gang, int root_rank) {
  families_->gang_heard.Add({{"sweep", sweep_}, {"gang", std::to_string(gang)}, {"rank", std::to_string(root_rank)}})
      .Set(unix_now());
}

void RunMetrics::gang_states(int busy, int idle, int lost) {
  families_->gangs.Add({{"sweep", sweep_}, {"state", "busy"}}).Set(busy);
  families_->gangs.Add({{"sweep", sweep_}, {"state", "idle"}}).Set(idle);
  families_->gangs.Add({{"sweep", sweep_}, {"state", "lost"}}).Set(lost);
}

void RunMetrics::count_states() {
  for (const JobState s : kStates) {
    const auto n = std::count_if(states_.begin(), states_.end(), [s](const auto& entry) { return entry.second == s; });
    families_->jobs.Add({{"sweep", sweep_}, {"state", std::string(to_string(s))}}).Set(static_cast<double>(n));
  }
}

std::vector<std::string> metric_family_names() {
  prometheus::Registry throwaway;
  return RunMetrics::Families(throwaway).names;
}

std::string metrics_url(const std::string& listening_address) {
  return "http://" + reachable(listening_address) + "/metrics";
}

std::string target_file_json(const std::string& listening_address, const std::string& sweep) {
  return json::array({{{"targets", {reachable(listening_address)}}, {"labels", {{"sweep", sweep}}}}}).dump(2) + "\n";
}

}  // namespace ugs::orchestrator
