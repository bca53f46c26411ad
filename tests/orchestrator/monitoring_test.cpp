// The coordinator's Prometheus metrics: RunMetrics on its own (counting, labels, serving, the
// linger), and a real Prometheus server (Debian's `prometheus`) that finds two `ugs run` sweeps through
// their file-SD target files, one alone and one under `mpirun -np 3` with a gang of two ranks, and
// holds their job totals, losses and every step's duration afterwards.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "storage/test_support.h"
#include "ugs/orchestrator/metrics.h"

namespace ugs::orchestrator {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using storage::testing::CommandResult;
using storage::testing::run_command;
using storage::testing::run_ugs;
using storage::testing::TemporaryFolder;

// The sample of `series` (exactly as exposed: name{label="value",...}, labels sorted) in a /metrics
// text; NaN when absent.
double sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nan("");
}

std::string scrape(const std::string& address) {
  const CommandResult result = run_command("curl -sf http://" + address + "/metrics");
  EXPECT_EQ(result.exit_code, 0) << "curl http://" << address << "/metrics: " << result.output;
  return result.output;
}

Job training_job(const std::string& id, const std::string& network, int fold) {
  Job job;
  job.id = id;
  job.network = network;
  job.fold = fold;
  job.config.training.epochs = 3;
  job.folder = fs::path("jobs") / (network + "-0123abcd") / ("fold_" + std::to_string(fold));
  return job;
}

TEST(RunMetrics, RegistersEveryFamilyOfTheMetricsContract) {
  // The names /work/METRICS.md promises the dashboard and the alert rules (docs/monitoring.md).
  const std::vector<std::string> contract = {
      "ugs_run_info", "ugs_run_start_timestamp_seconds", "ugs_jobs", "ugs_jobs_completed_total",
      "ugs_jobs_failed_total", "ugs_jobs_retried_total", "ugs_jobs_preempted_total", "ugs_gangs",
      "ugs_gang_last_heard_timestamp_seconds", "ugs_job_state", "ugs_job_epoch", "ugs_job_epochs", "ugs_job_loss",
      "ugs_job_learning_rate", "ugs_job_samples_per_second", "ugs_job_step_duration_seconds",
      "ugs_job_allreduce_duration_seconds", "ugs_job_loader_wait_seconds_total",
      "ugs_job_last_progress_timestamp_seconds", "ugs_job_checkpoint_write_duration_seconds",
      "ugs_job_checkpoint_timestamp_seconds", "ugs_job_validation_dsc", "ugs_job_test_dsc", "ugs_job_test_iou",
      "ugs_job_test_nsd"};
  EXPECT_EQ(metric_family_names(), contract);
}

TEST(RunMetrics, CountsJobsByStateOnceEachAndARetryAfterAFailure) {
  RunMetrics metrics("unit", "test-version");
  const Job unet = training_job("a1", "unet", 0), ugsnet = training_job("b2", "ugsnet", 1);
  Job analysis;
  analysis.id = "c3";
  analysis.kind = JobKind::kAnalysis;
  analysis.folder = "analysis/complex_nodules-0123abcd";
  metrics.add_job(unet, JobState::kPending);
  metrics.add_job(ugsnet, JobState::kRunning);  // running when an earlier coordinator died: pending now
  metrics.add_job(analysis, JobState::kPending);
  metrics.job_state(unet, JobState::kRunning);
  metrics.job_state(unet, JobState::kFailed);
  metrics.job_state(unet, JobState::kRunning);
  metrics.job_state(unet, JobState::kCompleted);
  metrics.job_state(ugsnet, JobState::kRunning);
  metrics.job_state(ugsnet, JobState::kPreempted);
  metrics.job_state(analysis, JobState::kRunning);
  metrics.job_state(analysis, JobState::kCompleted);
  EXPECT_THROW(metrics.job_state(training_job("never-added", "unet", 2), JobState::kRunning), std::logic_error);

  const std::string text = metrics.text();
  EXPECT_EQ(sample(text, R"(ugs_jobs{state="completed",sweep="unit"})"), 2);
  EXPECT_EQ(sample(text, R"(ugs_jobs{state="preempted",sweep="unit"})"), 1);
  EXPECT_EQ(sample(text, R"(ugs_jobs{state="pending",sweep="unit"})"), 0);
  EXPECT_EQ(sample(text, R"(ugs_jobs{state="running",sweep="unit"})"), 0);
  EXPECT_EQ(sample(text, R"(ugs_jobs_completed_total{network="unet",sweep="unit"})"), 1);
  EXPECT_EQ(sample(text, R"(ugs_jobs_completed_total{network="analysis",sweep="unit"})"), 1);
  EXPECT_EQ(sample(text, R"(ugs_jobs_failed_total{network="unet",sweep="unit"})"), 1);
  EXPECT_EQ(sample(text, R"(ugs_jobs_retried_total{network="unet",sweep="unit"})"), 1);
  EXPECT_EQ(sample(text, R"(ugs_jobs_preempted_total{network="ugsnet",sweep="unit"})"), 1);
  const std::string unet_labels = R"(config="unet-0123abcd",fold="0",network="unet")";
  for (const char* state : {"pending", "running", "completed", "failed", "preempted"}) {
    EXPECT_EQ(sample(text, "ugs_job_state{" + unet_labels + ",state=\"" + state + "\",sweep=\"unit\"}"),
              std::string(state) == "completed" ? 1 : 0)
        << state;
  }
  EXPECT_EQ(sample(text, "ugs_job_epochs{" + unet_labels + R"(,sweep="unit"})"), 3);
  EXPECT_GT(sample(text, "ugs_job_last_progress_timestamp_seconds{" + unet_labels + R"(,sweep="unit"})"), 1.5e9);
  EXPECT_NE(text.find(R"(torch=")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(version="test-version")"), std::string::npos) << text;
}

TEST(RunMetrics, TakesEveryStepOfAProgressReportAndTheEpochEnds) {
  RunMetrics metrics("unit", "test");
  const Job job = training_job("a1", "ugsnet", 2);
  metrics.add_job(job, JobState::kRunning);
  ProgressReport report;
  for (int step = 0; step < 3; ++step) {
    worker::StepReport s{1, step, {{"loss", 0.5 - step * 0.1}, {"mcm", 0.2}}, 1e-3, 8};
    s.seconds = 0.002 * (step + 1);  // 2, 4, 6 ms
    s.allreduce_seconds = 0.001;
    s.loader_wait_seconds = 0.0005;
    report.add(s);
  }
  EXPECT_DOUBLE_EQ(report.samples_per_second(), 24 / 0.012);
  metrics.job_progress(job, report);
  metrics.job_epoch_end(job, {1, 0.75, 0.25}, 1.7e9);
  const std::string labels = R"(config="ugsnet-0123abcd",fold="2",network="ugsnet",sweep="unit")";
  const std::string text = metrics.text();
  EXPECT_EQ(sample(text, "ugs_job_epoch{" + labels + "}"), 2);
  EXPECT_DOUBLE_EQ(sample(text, R"(ugs_job_loss{config="ugsnet-0123abcd",fold="2",network="ugsnet",part="total",sweep="unit"})"),
                   0.3);
  EXPECT_DOUBLE_EQ(sample(text, R"(ugs_job_loss{config="ugsnet-0123abcd",fold="2",network="ugsnet",part="mcm",sweep="unit"})"),
                   0.2);
  EXPECT_EQ(sample(text, "ugs_job_step_duration_seconds_count{" + labels + "}"), 3);
  EXPECT_NEAR(sample(text, "ugs_job_step_duration_seconds_sum{" + labels + "}"), 0.012, 1e-12);
  EXPECT_EQ(sample(text, "ugs_job_step_duration_seconds_bucket{" + labels + R"(,le="0.005"})"),
            2);
  EXPECT_EQ(sample(text, "ugs_job_allreduce_duration_seconds_count{" + labels + "}"), 3);
  EXPECT_NEAR(sample(text, "ugs_job_loader_wait_seconds_total{" + labels + "}"), 0.0015, 1e-12);
  EXPECT_NEAR(sample(text, "ugs_job_samples_per_second{" + labels + "}"), 2000, 1e-9);
  EXPECT_EQ(sample(text, "ugs_job_validation_dsc{" + labels + "}"), 0.75);
  EXPECT_EQ(sample(text, "ugs_job_checkpoint_write_duration_seconds{" + labels + "}"), 0.25);
  EXPECT_EQ(sample(text, "ugs_job_checkpoint_timestamp_seconds{" + labels + "}"), 1.7e9);
}

TEST(RunMetrics, ReadsTheTestScoresOfASummaryAndRefusesABrokenOne) {
  TemporaryFolder folder;
  RunMetrics metrics("unit", "test");
  const Job job = training_job("a1", "unet", 0);
  metrics.add_job(job, JobState::kCompleted);
  std::ofstream(folder / "summary.json")
      << R"({"mean": {"label_1": {"dsc": 0.8, "iou": 0.7, "nsd": 0.9}, "union": {"dsc": null, "iou": 0.5, "nsd": 0.6}}})";
  metrics.job_scores(job, folder / "summary.json");
  std::ofstream(folder / "broken.json") << "{\"mean\": ";
  storage::testing::expect_error([&] { metrics.job_scores(job, folder / "broken.json"); }, folder / "broken.json",
                                 "not a score summary");
  const std::string text = metrics.text();
  const std::string labels = R"(config="unet-0123abcd",fold="0",mask="label_1",network="unet",sweep="unit")";
  EXPECT_EQ(sample(text, "ugs_job_test_dsc{" + labels + "}"), 0.8);
  EXPECT_EQ(sample(text, "ugs_job_test_iou{" + labels + "}"), 0.7);
  EXPECT_EQ(sample(text, "ugs_job_test_nsd{" + labels + "}"), 0.9);
  EXPECT_TRUE(std::isnan(
      sample(text, R"(ugs_job_test_dsc{config="unet-0123abcd",fold="0",mask="union",network="unet",sweep="unit"})")));
  EXPECT_NE(text.find(R"(ugs_job_test_dsc{config="unet-0123abcd",fold="0",mask="union")"), std::string::npos);
}

TEST(RunMetrics, RefusesABadOrBusyAddressAndWaitsForAScrapeAfterTheEnd) {
  RunMetrics first("unit", "test"), second("unit", "test"), third("unit", "test");
  const std::string address = first.serve("127.0.0.1:0");
  EXPECT_EQ(address.rfind("127.0.0.1:", 0), 0u) << address;
  EXPECT_NE(address, "127.0.0.1:0");
  try {
    second.serve(address);
    ADD_FAILURE() << "a second exporter listened on " << address;
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(address), std::string::npos) << error.what();
  }
  EXPECT_THROW(third.serve("localhost"), std::runtime_error);
  EXPECT_THROW(third.serve("127.0.0.1:99999"), std::runtime_error);

  EXPECT_NE(scrape(address).find("ugs_run_info{"), std::string::npos);

  const std::atomic<bool> no_stop{false};
  EXPECT_FALSE(first.wait_for_scrape(0.2, no_stop)) << "no scrape came in 0.2 s";
  std::thread scraper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    scrape(address);
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(first.wait_for_scrape(30, no_stop));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  scraper.join();
  EXPECT_GE(first.scrapes(), 1u);
}

TEST(RunMetrics, TargetFileNamesAReachableAddressAndTheSweep) {
  const json local = json::parse(target_file_json("127.0.0.1:40123", "paper"));
  EXPECT_EQ(local, json::parse(R"([{"targets": ["127.0.0.1:40123"], "labels": {"sweep": "paper"}}])"));
  const json wildcard = json::parse(target_file_json("0.0.0.0:40123", "paper"));
  const std::string target = wildcard[0]["targets"][0];
  EXPECT_EQ(target.find("0.0.0.0"), std::string::npos) << target;
  EXPECT_EQ(target.substr(target.size() - 6), ":40123");
  EXPECT_EQ(metrics_url("127.0.0.1:40123"), "http://127.0.0.1:40123/metrics");
}

// ---------------------------------------------------------------------------------------------------
// A real Prometheus.

// A port that was free a moment ago on 127.0.0.1.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  bind(fd, reinterpret_cast<sockaddr*>(&address), size);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

// Debian's prometheus on 127.0.0.1, scraping every second the targets of the file-SD files in
// `targets`; stopped (SIGTERM, then waited for) however the test ends.
class PrometheusServer {
 public:
  PrometheusServer(const fs::path& folder, const fs::path& targets) : port_(free_port()) {
    std::ofstream(folder / "prometheus.yml") << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                             << "scrape_configs:\n  - job_name: ugs\n    honor_labels: true\n"
                                             << "    file_sd_configs:\n      - files: ['" << (targets / "*.json").string()
                                             << "']\n";
    const std::string config = "--config.file=" + (folder / "prometheus.yml").string();
    const std::string storage = "--storage.tsdb.path=" + (folder / "tsdb").string();
    const std::string listen = "--web.listen-address=" + address();
    const std::string log = (folder / "prometheus.log").string();
    pid_ = fork();
    if (pid_ == 0) {
      const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      dup2(out, 2);
      execlp("prometheus", "prometheus", config.c_str(), storage.c_str(), listen.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~PrometheusServer() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool ready(int seconds) const {
    for (int i = 0; i < seconds * 10; ++i) {
      if (run_command("curl -sf http://" + address() + "/-/ready").exit_code == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // The value of an instant PromQL query that gives one number; NaN when it gives none.
  double query(const std::string& promql) const {
    const CommandResult result =
        run_command("curl -sf --data-urlencode 'query=" + promql + "' http://" + address() + "/api/v1/query");
    const json answer = json::parse(result.output, nullptr, false);
    if (answer.is_discarded() || answer["status"] != "success" || answer["data"]["result"].empty()) return std::nan("");
    return std::stod(answer["data"]["result"][0]["value"][1].get<std::string>());
  }
  // query() once it equals `expected` (Prometheus commits a scrape a moment after it is taken), or
  // its last value after `seconds`.
  double query_until(const std::string& promql, double expected, int seconds) const {
    double value = query(promql);
    for (int i = 0; i < seconds * 10 && value != expected; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      value = query(promql);
    }
    return value;
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

// Training steps a finished run took, from its job folders: epochs x steps per epoch (batches of 8,
// the last one kept) over the training nodules left after the validation carve-out.
int steps_of_run(const fs::path& run, int epochs, int batch_size) {
  int steps = 0;
  for (const auto& entry : fs::recursive_directory_iterator(run / "jobs")) {
    if (entry.path().filename() != "job.json") continue;
    std::ifstream in(entry.path());
    const int train = json::parse(in)["nodules"]["train"];
    steps += epochs * ((train + batch_size - 1) / batch_size);
  }
  return steps;
}

// "last_over_time": the run has ended, and Prometheus marked its series stale when the target left.
std::string last(const std::string& selector) { return "last_over_time(" + selector + "[10m])"; }

TEST(Monitoring, ARealPrometheusScrapesASweepAloneAndUnderMpirunThroughFileDiscovery) {
  ASSERT_EQ(run_command("command -v prometheus").exit_code, 0)
      << "Debian's `prometheus` is not installed: this test runs a real Prometheus server "
         "(deploy/setup.sh installs the package)";
  ASSERT_EQ(run_command("command -v curl").exit_code, 0) << "curl is not installed (deploy/setup.sh installs it)";

  TemporaryFolder folder;
  const fs::path store = folder / "store", targets = folder / "targets", sweep = folder / "tiny.toml";
  ASSERT_EQ(run_ugs("synth --out '" + store.string() + "' --nodules 48").exit_code, 0);
  ASSERT_EQ(run_ugs("split '" + store.string() + "' --folds 2 --out '" + store.string() + "/splits.json'").exit_code, 0);
  constexpr int kEpochs = 2, kBatch = 8, kJobs = 4;
  std::ofstream(sweep) << "[sweep]\nname = \"tiny\"\nfolds = [0, 1]\n"
                       << "[defaults.data]\nstore = \"" << store.string() << "\"\nsplit = \"" << store.string()
                       << "/splits.json\"\n"
                       << "[defaults.model]\nbase_width = 8\n[defaults.preprocess]\nsize = 32\n"
                       << "[defaults.training]\nepochs = " << kEpochs << "\nbatch_size = " << kBatch
                       << "\nvalidation_fraction = 0.2\n"
                       << "[experiments.table1]\nnetworks = [\"unet\", \"ugsnet\"]\n";

  fs::create_directories(targets);  // Prometheus watches the folder from its start: it must exist then
  PrometheusServer prometheus(folder.path(), targets);
  ASSERT_TRUE(prometheus.ready(20)) << "prometheus did not start: "
                                    << run_command("cat '" + (folder / "prometheus.log").string() + "'").output;

  // Both sweeps at once; each waits after its end until Prometheus has scraped its final numbers
  // (--metrics-linger defaults to 60 s with a target file and ends at that scrape).
  const std::string mpi = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 ";
  const auto command = [&](const std::string& name, const std::string& launcher, const std::string& extra) {
    return mpi + launcher + "'" + UGS_BINARY + "' run '" + sweep.string() + "' --out '" + (folder / name).string() +
           "' --set sweep.name=" + name + extra + " --metrics-sd-file '" + (targets / (name + ".json")).string() + "'";
  };
  CommandResult alone, gang;
  std::thread alone_thread([&] { alone = run_command(command("tiny-alone", "", "")); });
  std::thread gang_thread(
      [&] { gang = run_command(command("tiny-mpi", "mpirun -np 3 --oversubscribe ", " --set sweep.ranks_per_job=2")); });
  alone_thread.join();
  gang_thread.join();
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  ASSERT_EQ(gang.exit_code, 0) << gang.output;

  for (const auto& [name, output] : {std::pair{std::string("tiny-alone"), alone.output},
                                     std::pair{std::string("tiny-mpi"), gang.output}}) {
    SCOPED_TRACE(name);
    EXPECT_NE(output.find("metrics: http://127.0.0.1:"), std::string::npos) << output;
    EXPECT_NE(output.find("until the next scrape"), std::string::npos) << output;
    EXPECT_FALSE(fs::exists(folder / name / "metrics.json")) << "left behind after the run";
    EXPECT_FALSE(fs::exists(targets / (name + ".json"))) << "left behind after the run";
    const std::string run = "{sweep=\"" + name + "\"}";
    EXPECT_EQ(prometheus.query_until("sum(" + last("ugs_jobs_completed_total" + run) + ")", kJobs, 10), kJobs);
    EXPECT_EQ(prometheus.query("sum(" + last("ugs_jobs{sweep=\"" + name + "\",state=\"completed\"}") + ")"), kJobs);
    EXPECT_EQ(prometheus.query("count(" + last("ugs_job_loss{sweep=\"" + name + "\",part=\"total\"}") + ")"), kJobs);
    EXPECT_EQ(prometheus.query("count(" + last("ugs_job_validation_dsc" + run) + ")"), kJobs);
    EXPECT_EQ(prometheus.query("count(" + last("ugs_job_test_dsc{sweep=\"" + name + "\",mask=\"label_1\"}") + ")"),
              kJobs);
    // Every step of every job, including those that crossed MPI in the gang root's batches.
    EXPECT_EQ(prometheus.query("sum(" + last("ugs_job_step_duration_seconds_count" + run) + ")"),
              steps_of_run(folder / name, kEpochs, kBatch));
  }
  // The gang of two ranks spent time in all-reduces; alone there are none.
  EXPECT_GT(prometheus.query("sum(" + last(R"(ugs_job_allreduce_duration_seconds_sum{sweep="tiny-mpi"})") + ")"), 0);
  EXPECT_EQ(prometheus.query("sum(" + last(R"(ugs_job_allreduce_duration_seconds_sum{sweep="tiny-alone"})") + ")"), 0);
  // The gang: ranks 1 and 2, rooted at rank 1.
  EXPECT_GT(prometheus.query(last(R"(ugs_gang_last_heard_timestamp_seconds{sweep="tiny-mpi",gang="0",rank="1"})")),
            1.5e9);
}

}  // namespace
}  // namespace ugs::orchestrator
