#include "ugs/orchestrator/ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "ugs/storage/files.h"

#include "this_machine.h"

namespace ugs::orchestrator {

namespace fs = std::filesystem;
using nlohmann::json;
// Events are written with their keys in a fixed, readable order ("event" and "time" first).
using Event = nlohmann::ordered_json;

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what);
}

[[noreturn]] void fail_errno(const fs::path& file, const std::string& what) {
  fail(file.string(), what + ": " + std::strerror(errno));
}

// ISO 8601 in UTC to the millisecond: sorts as text, reads in jq (`sub("\\.[0-9]+Z$";"Z") | fromdate`).
std::string format_time(Clock::time_point time) {
  const auto milliseconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(milliseconds / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  std::ostringstream text;
  text << std::put_time(&utc, "%Y-%m-%dT%H:%M:%S") << '.' << std::setfill('0') << std::setw(3)
       << milliseconds % 1000 << 'Z';
  return text.str();
}

std::optional<Clock::time_point> parse_time(const std::string& text) {
  std::tm utc{};
  int milliseconds = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                  &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &milliseconds, &consumed) != 7 ||
      consumed != static_cast<int>(text.size())) {
    return std::nullopt;
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return Clock::from_time_t(::timegm(&utc)) + std::chrono::milliseconds(milliseconds);
}

Event new_event(const char* name) {
  Event event;
  event["event"] = name;
  event["time"] = format_time(Clock::now());
  return event;
}

// Invalid UTF-8 (say, in an exception's text) becomes U+FFFD rather than an unwritable event.
std::string serialised(const Event& event) { return event.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Folding one event. Replay and append share it, so that what append accepts replay accepts too.

// The state an event leaves behind: its job's record and the run-level fields.
struct Change {
  std::optional<JobRecord> job;
  bool new_job = false;
  int runs = 0;
  std::string code_version;
  std::string sweep_sha1;
  bool finished = false;
};

class EventReader {
 public:
  EventReader(const json& event, std::string where) : event_(event), where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& what) const { orchestrator::fail(where_, what); }

  const json& field(const char* name) const {
    auto it = event_.find(name);
    if (it == event_.end()) fail(name_ + " has no \"" + name + "\"");
    return *it;
  }
  std::string text(const char* name) const {
    const json& value = field(name);
    if (!value.is_string()) fail(name_ + ": \"" + name + "\" is not a string");
    return value.get<std::string>();
  }
  int integer(const char* name) const {
    const json& value = field(name);
    if (!value.is_number_integer()) fail(name_ + ": \"" + name + "\" is not an integer");
    return value.get<int>();
  }
  std::vector<std::string> texts(const char* name) const {
    const json& value = field(name);
    if (!value.is_array() || !std::all_of(value.begin(), value.end(), [](const json& e) { return e.is_string(); })) {
      fail(name_ + ": \"" + name + "\" is not a list of strings");
    }
    return value.get<std::vector<std::string>>();
  }
  Clock::time_point time() const {
    const std::string written = text("time");
    const auto time = parse_time(written);
    if (!time) fail(name_ + ": \"time\" is not YYYY-MM-DDTHH:MM:SS.mmmZ: " + written);
    return *time;
  }
  const std::string& name() const { return name_; }
  void read_name() {
    if (!event_.is_object()) fail("not a JSON object");
    name_ = text("event");
  }

 private:
  const json& event_;
  std::string where_;
  std::string name_ = "the event";  // its "event" once read
};

Change fold(const LedgerState& state, const json& event, const std::string& where) {
  EventReader reader(event, where);
  reader.read_name();
  const std::string& name = reader.name();
  static const char* const kEvents[] = {"run_started",   "run_resumed", "run_finished", "job_registered",
                                        "job_started",   "job_completed", "job_failed", "job_preempted"};
  if (std::find(std::begin(kEvents), std::end(kEvents), name) == std::end(kEvents)) {
    reader.fail("unknown event \"" + name + "\"");
  }
  const Clock::time_point time = reader.time();
  Change change;
  change.runs = state.runs;
  change.code_version = state.code_version;
  change.sweep_sha1 = state.sweep_sha1;
  change.finished = state.finished;

  if (name == "run_started" || name == "run_resumed") {
    reader.text("host");
    reader.integer("pid");
    change.runs += 1;
    change.code_version = reader.text("code_version");
    change.sweep_sha1 = reader.text("sweep_sha1");
    change.finished = false;
    return change;
  }
  if (name == "run_finished") {
    if (!reader.field("jobs").is_object()) reader.fail("run_finished: \"jobs\" is not an object");
    change.finished = true;
    return change;
  }

  const std::string id = reader.text("id");
  const auto known = state.jobs.find(id);
  if (name == "job_registered") {
    JobDescription description{id, reader.text("folder"), reader.text("config_hash"), reader.texts("experiments")};
    if (known == state.jobs.end()) {
      change.job = JobRecord{};
      change.new_job = true;
    } else {
      if (known->second.description.config_hash != description.config_hash) {
        reader.fail("job " + id + " is registered with config hash " + known->second.description.config_hash +
                    ", not " + description.config_hash + " (a changed configuration must be a new job id)");
      }
      change.job = known->second;
    }
    change.job->description = std::move(description);
    return change;
  }

  if (known == state.jobs.end()) reader.fail(name + " for job " + id + ", which is not registered");
  JobRecord job = known->second;
  const auto end_attempt = [&](JobState state_after) {
    if (job.state != JobState::kRunning) {
      reader.fail(name + " for job " + id + ", which is " + std::string(to_string(job.state)) + ", not running");
    }
    job.state = state_after;
    job.last_ended = time;
    job.seconds += std::max(0.0, std::chrono::duration<double>(time - *job.last_started).count());
  };
  if (name == "job_started") {
    if (job.state == JobState::kCompleted) reader.fail("job_started for job " + id + ", which is completed");
    const int attempt = reader.integer("attempt");
    if (attempt != job.attempts + 1) {
      reader.fail("job_started for job " + id + " says attempt " + std::to_string(attempt) + ", but it started " +
                  std::to_string(job.attempts) + " times before");
    }
    job.placement = Placement{reader.integer("rank"), reader.integer("gang"), reader.text("host")};
    job.state = JobState::kRunning;
    job.attempts = attempt;
    job.last_started = time;
  } else if (name == "job_completed") {
    end_attempt(JobState::kCompleted);
    reader.text("folder");
    job.summary = reader.text("summary");
    job.completions += 1;
  } else if (name == "job_failed") {
    end_attempt(JobState::kFailed);
    job.reason = reader.text("reason");
    job.failures += 1;
  } else {  // job_preempted
    end_attempt(JobState::kPreempted);
    job.reason = reader.text("reason");
    job.preemptions += 1;
  }
  change.job = std::move(job);
  return change;
}

void commit(LedgerState& state, Change&& change) {
  state.runs = change.runs;
  state.code_version = std::move(change.code_version);
  state.sweep_sha1 = std::move(change.sweep_sha1);
  state.finished = change.finished;
  if (change.job) {
    const std::string id = change.job->description.id;
    if (change.new_job) state.order.push_back(id);
    state.jobs[id] = std::move(*change.job);
  }
  state.events += 1;
}

// ---------------------------------------------------------------------------------------------------
// Replay of a whole file.

struct Replay {
  LedgerState state;
  std::size_t good_size = 0;  // bytes of whole, valid lines; less than the file when the last is torn
};

Replay replay(const std::string& content, const fs::path& file) {
  Replay result;
  std::size_t begin = 0;
  for (std::size_t line = 1; begin < content.size(); ++line) {
    const std::string where = file.string() + ":" + std::to_string(line);
    const std::size_t end = content.find('\n', begin);
    if (end == std::string::npos) {
      result.state.notes.push_back(where + ": dropped a torn last line (" + std::to_string(content.size() - begin) +
                                   " bytes without a line end: a write cut short by a crash, never acknowledged)");
      break;
    }
    const bool last = end + 1 == content.size();
    json event;
    try {
      event = json::parse(content.begin() + static_cast<std::ptrdiff_t>(begin),
                          content.begin() + static_cast<std::ptrdiff_t>(end));
    } catch (const json::parse_error& error) {
      if (!last) fail(where, std::string("not valid JSON: ") + error.what());
      result.state.notes.push_back(where + ": dropped a torn last line (" + std::to_string(end - begin) +
                                   " bytes, not JSON: a write cut short by a crash, never acknowledged)");
      break;
    }
    commit(result.state, fold(result.state, event, where));
    begin = end + 1;
    result.good_size = begin;
  }
  return result;
}

std::string read_all(int fd, const fs::path& file) {
  std::string content;
  char buffer[1 << 16];
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(file, "cannot read");
    if (n == 0) return content;
    content.append(buffer, static_cast<std::size_t>(n));
    offset += n;
  }
}

void sync_folder(const fs::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_errno(folder, "cannot open the folder to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail_errno(folder, "fsync of the folder failed");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------

std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::kPending: return "pending";
    case JobState::kRunning: return "running";
    case JobState::kCompleted: return "completed";
    case JobState::kFailed: return "failed";
    case JobState::kPreempted: return "preempted";
  }
  return "unknown";
}

const JobRecord& LedgerState::job(const std::string& id) const {
  auto it = jobs.find(id);
  if (it == jobs.end()) throw std::runtime_error("the ledger has no job " + id);
  return it->second;
}

std::map<JobState, int> LedgerState::count_by_state() const {
  std::map<JobState, int> counts;
  for (JobState state : {JobState::kPending, JobState::kRunning, JobState::kCompleted, JobState::kFailed,
                         JobState::kPreempted}) {
    counts[state] = 0;
  }
  for (const auto& [id, job] : jobs) counts[job.state] += 1;
  return counts;
}

ResumeAction resume_action(const JobRecord& job, int max_retries) {
  switch (job.state) {
    case JobState::kPending: return ResumeAction::kStart;
    case JobState::kRunning:
    case JobState::kPreempted: return ResumeAction::kContinueFromCheckpoint;
    case JobState::kCompleted: return ResumeAction::kKeepCompleted;
    case JobState::kFailed: return job.failures <= max_retries ? ResumeAction::kRetry : ResumeAction::kKeepFailed;
  }
  return ResumeAction::kKeepFailed;
}

LedgerState read_ledger(const fs::path& run_dir) {
  const fs::path file = run_dir / Ledger::kFileName;
  if (!fs::exists(file)) return {};
  return replay(storage::read_text_file(file, "ledger"), file).state;
}

Ledger::Ledger(const fs::path& run_dir) : file_(run_dir / kFileName) {
  if (!fs::is_directory(run_dir)) fail(run_dir.string(), "no such run folder");
  const fs::path lock_file = run_dir / kLockFileName;
  try {
    lock_fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) fail_errno(lock_file, "cannot open");
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) fail_errno(lock_file, "cannot lock");
      std::string holder = one_line(read_all(lock_fd_, lock_file));
      while (!holder.empty() && holder.back() == ' ') holder.pop_back();
      fail(run_dir.string(), "another coordinator is running on this run folder (" +
                                 (holder.empty() ? std::string("it has not written its name yet") : holder) +
                                 " holds " + kLockFileName + "); wait for it to end or stop it");
    }
    const std::string holder = "host " + host_name() + " pid " + std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_fd_, 0) != 0 ||
        ::pwrite(lock_fd_, holder.data(), holder.size(), 0) != static_cast<ssize_t>(holder.size())) {
      fail_errno(lock_file, "cannot write the holder's name");
    }

    const bool created = !fs::exists(file_);
    ledger_fd_ = ::open(file_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (ledger_fd_ < 0) fail_errno(file_, "cannot open");
    if (created) sync_folder(run_dir);  // the file's name must survive a crash too

    const std::string content = read_all(ledger_fd_, file_);
    Replay replayed = replay(content, file_);
    state_ = std::move(replayed.state);
    good_size_ = static_cast<long long>(replayed.good_size);
    if (replayed.good_size < content.size()) {
      if (::ftruncate(ledger_fd_, static_cast<off_t>(good_size_)) != 0 || ::fdatasync(ledger_fd_) != 0) {
        fail_errno(file_, "cannot truncate the torn last line away");
      }
      state_.notes.back() += "; truncated away";
    }
  } catch (...) {
    if (ledger_fd_ >= 0) ::close(ledger_fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw;
  }
}

Ledger::~Ledger() {
  ::close(ledger_fd_);
  ::close(lock_fd_);  // releases the flock
}

void Ledger::append(const std::string& event) {
  if (broken_) fail(file_.string(), "an earlier append failed; reopen the run to continue");
  Change change = fold(state_, json::parse(event), file_.string() + " (refused, nothing written)");
  const std::string line = event + "\n";
  ssize_t written;
  do {
    written = ::write(ledger_fd_, line.data(), line.size());
  } while (written < 0 && errno == EINTR);
  if (written != static_cast<ssize_t>(line.size())) {
    const int write_errno = written < 0 ? errno : ENOSPC;
    broken_ = ::ftruncate(ledger_fd_, static_cast<off_t>(good_size_)) != 0;
    errno = write_errno;
    fail_errno(file_, "append failed");
  }
  if (::fdatasync(ledger_fd_) != 0) {
    broken_ = true;
    fail_errno(file_, "fdatasync failed; the ledger cannot be trusted until the run is reopened");
  }
  good_size_ += static_cast<long long>(line.size());
  commit(state_, std::move(change));
}

void Ledger::run_started(const RunStart& start) {
  Event event = new_event(start.resumed ? "run_resumed" : "run_started");
  event["code_version"] = start.code_version;
  event["sweep_sha1"] = start.sweep_sha1;
  event["host"] = host_name();
  event["pid"] = static_cast<int>(::getpid());
  append(serialised(event));
}

bool Ledger::register_job(const JobDescription& job) {
  const auto known = state_.jobs.find(job.id);
  if (known != state_.jobs.end() && known->second.description.config_hash == job.config_hash &&
      known->second.description.folder == job.folder && known->second.description.experiments == job.experiments) {
    return false;
  }
  Event event = new_event("job_registered");
  event["id"] = job.id;
  event["folder"] = job.folder;
  event["config_hash"] = job.config_hash;
  event["experiments"] = job.experiments;
  append(serialised(event));
  return true;
}

void Ledger::job_started(const std::string& id, const Placement& placement) {
  const auto known = state_.jobs.find(id);
  Event event = new_event("job_started");
  event["id"] = id;
  event["attempt"] = known == state_.jobs.end() ? 1 : known->second.attempts + 1;
  event["rank"] = placement.rank;
  event["gang"] = placement.gang;
  event["host"] = placement.host;
  append(serialised(event));
}

void Ledger::job_completed(const std::string& id, const std::string& summary) {
  const auto known = state_.jobs.find(id);
  Event event = new_event("job_completed");
  event["id"] = id;
  event["folder"] = known == state_.jobs.end() ? "" : known->second.description.folder;
  event["summary"] = summary;
  append(serialised(event));
}

void Ledger::job_failed(const std::string& id, const std::string& reason) {
  Event event = new_event("job_failed");
  event["id"] = id;
  event["reason"] = one_line(reason);
  append(serialised(event));
}

void Ledger::job_preempted(const std::string& id, const std::string& reason) {
  Event event = new_event("job_preempted");
  event["id"] = id;
  event["reason"] = one_line(reason);
  append(serialised(event));
}

void Ledger::run_finished() {
  Event counts = Event::object();
  for (const auto& [state, count] : state_.count_by_state()) counts[std::string(to_string(state))] = count;
  Event event = new_event("run_finished");
  event["jobs"] = counts;
  append(serialised(event));
}

}  // namespace ugs::orchestrator
