// Tests of the coordinator's worker logic (runner/coordinator.h) through a
// fake launcher (fake_launcher.h): retries, timeouts, fatal exits, stop
// signals and the merge of what the workers committed, without forking.
#include "runner/coordinator.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "fake_launcher.h"
#include "io/segment.h"

namespace mm {
namespace {

using Fate = FakeLauncher::Fate;

// 3 rows of 140000 float64 values: each row (1.1 MB) is cut into two
// blocks, and workers get whole rows, so up to 3 workers get work.
constexpr int64_t kRows = 3, kCols = 140000;

class Dataset3Rows {
 public:
  Dataset3Rows() {
    const char* base = std::getenv("TMPDIR");
    dir_ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/mmcoordXXXXXX";
    REQUIRE(::mkdtemp(dir_.data()) != nullptr);
    std::vector<double> v(static_cast<size_t>(kRows * kCols));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i % 1000) - 250.0;
    const std::string path = dir_ + "/data.f8";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(PwriteFull(fd, v.data(), v.size() * sizeof(double), 0, path).ok());
    ::close(fd);
  }
  ~Dataset3Rows() {
    std::remove((dir_ + "/data.f8").c_str());
    ::rmdir(dir_.c_str());
  }

  std::unique_ptr<Plan> NewPlan() const {
    const Json config = {
        {"dataset", {{"path", "data.f8"}, {"dtype", "<f8"}, {"shape", {kRows, kCols}}}},
        {"analyses", {{{"op", "stats"}}}}};
    Result<std::unique_ptr<Plan>> plan = Plan::Build(config, dir_);
    REQUIRE(plan.ok());
    return std::move(*plan);
  }

 private:
  std::string dir_;
};

struct Outcome {
  Result<Json> results = Error(Code::kWorkerFailed, "not run");
  FakeLauncher launcher;
};

// Runs every pass of a fresh plan with `workers` workers and the fake.
void RunWith(const Dataset3Rows& data, int workers, Outcome* out, double timeout_s = 0,
             int retries = 1) {
  std::unique_ptr<Plan> plan = data.NewPlan();
  Result<Segment> segment = Segment::Create(static_cast<uint32_t>(workers));
  REQUIRE(segment.ok());
  RunSettings settings;
  settings.workers = workers;
  settings.timeout_s = timeout_s;
  settings.retries = retries;
  out->results = RunPasses(*plan, settings, *segment, out->launcher);
  CHECK_FALSE(out->launcher.AnyRunning());  // every started worker was waited for
}

TEST_CASE("Coordinator: workers that succeed give the results of one worker") {
  Dataset3Rows data;
  Outcome one, three;
  RunWith(data, 1, &one);
  RunWith(data, 3, &three);
  REQUIRE(one.results.ok());
  REQUIRE(three.results.ok());
  CHECK(three.launcher.started.size() == 3);
  for (uint32_t s = 0; s < 3; ++s) {
    REQUIRE(three.launcher.StartsOf(s).size() == 1);
    CHECK(three.launcher.StartsOf(s)[0].attempt == 1);
    CHECK(three.launcher.StartsOf(s)[0].row_begin == s);
    CHECK(three.launcher.StartsOf(s)[0].row_end == s + 1);
  }
  CHECK(three.launcher.killed.empty());
  CHECK(one.results->dump() == three.results->dump());
  const Json& stats = (*three.results)["stats"];
  CHECK(stats["count"] == kRows * kCols);
  CHECK(stats["min"] == -250.0);
  CHECK(stats["max"] == 749.0);
}

TEST_CASE("Coordinator: a failed worker's rows run again in a new attempt") {
  Dataset3Rows data;
  Outcome clean, retried;
  RunWith(data, 3, &clean);
  retried.launcher.script = [](const WorkerTask& t) {
    if (t.slot == 1 && t.attempt == 1) return Fate{Fate::kExit, 3, "transient"};
    return Fate{};
  };
  RunWith(data, 3, &retried);
  REQUIRE(retried.results.ok());
  const auto starts = retried.launcher.StartsOf(1);
  REQUIRE(starts.size() == 2);
  CHECK(starts[1].attempt == 2);
  CHECK(starts[1].row_begin == starts[0].row_begin);
  CHECK(starts[1].row_end == starts[0].row_end);
  CHECK(retried.launcher.StartsOf(0).size() == 1);
  CHECK(retried.results->dump() == clean.results->dump());
}

TEST_CASE("Coordinator: a worker that exits 0 without a committed slot is retried") {
  Dataset3Rows data;
  Outcome o;
  o.launcher.script = [](const WorkerTask& t) {
    if (t.slot == 0 && t.attempt == 1) return Fate{Fate::kExit, 0, ""};
    return Fate{};
  };
  RunWith(data, 2, &o);
  REQUIRE(o.results.ok());
  CHECK(o.launcher.StartsOf(0).size() == 2);
}

TEST_CASE("Coordinator: a worker failing every attempt fails the run with exit 70") {
  Dataset3Rows data;
  for (int retries : {0, 1, 2}) {
    Outcome o;
    o.launcher.script = [](const WorkerTask& t) {
      if (t.slot == 2) return Fate{Fate::kExit, 3, "still broken"};
      if (t.slot == 0) return Fate{Fate::kHang, 0, ""};
      return Fate{};
    };
    RunWith(data, 3, &o, 0, retries);
    REQUIRE_FALSE(o.results.ok());
    CHECK(o.results.status().code() == Code::kWorkerFailed);
    const std::string& msg = o.results.status().message();
    CHECK(msg.find("worker 2 (rows [2, 3)) exited with status 3: still broken after " +
                   std::to_string(retries + 1) + " attempt") != std::string::npos);
    CHECK(o.launcher.StartsOf(2).size() == static_cast<size_t>(retries + 1));
    // The hanging worker was stopped before the run returned.
    REQUIRE(!o.launcher.StartsOf(0).empty());
    CHECK(std::count(o.launcher.killed.begin(), o.launcher.killed.end(),
                     o.launcher.StartsOf(0)[0].pid) >= 1);
  }
}

TEST_CASE("Coordinator: an exit that a retry cannot fix fails at once with its own code") {
  Dataset3Rows data;
  for (int code : {65, 66, 73, 74, 77}) {
    Outcome o;
    o.launcher.script = [code](const WorkerTask& t) {
      if (t.slot == 1) return Fate{Fate::kExit, code, "data.f8: the reason"};
      if (t.slot == 2) return Fate{Fate::kHang, 0, ""};
      return Fate{};
    };
    RunWith(data, 3, &o, 0, 5);
    REQUIRE_FALSE(o.results.ok());
    CHECK(o.results.status().exit_code() == code);
    CHECK(o.results.status().message() == "data.f8: the reason (worker 1, rows [1, 2))");
    CHECK(o.launcher.StartsOf(1).size() == 1);  // no retry
    CHECK(o.launcher.killed.size() >= 1);
  }
}

TEST_CASE("Coordinator: a worker past the timeout is killed and its rows retried") {
  Dataset3Rows data;
  Outcome clean, o;
  RunWith(data, 2, &clean);
  o.launcher.script = [](const WorkerTask& t) {
    if (t.slot == 1 && t.attempt == 1) return Fate{Fate::kHang, 0, ""};
    return Fate{};
  };
  RunWith(data, 2, &o, 0.02);
  REQUIRE(o.results.ok());
  const auto starts = o.launcher.StartsOf(1);
  REQUIRE(starts.size() == 2);
  REQUIRE(o.launcher.killed.size() == 1);
  CHECK(o.launcher.killed[0] == starts[0].pid);
  CHECK(o.results->dump() == clean.results->dump());
}

TEST_CASE("Coordinator: a worker timing out on every attempt fails the run saying so") {
  Dataset3Rows data;
  Outcome o;
  o.launcher.script = [](const WorkerTask& t) {
    return t.slot == 0 ? Fate{Fate::kHang, 0, ""} : Fate{};
  };
  RunWith(data, 2, &o, 0.02, 1);
  REQUIRE_FALSE(o.results.ok());
  CHECK(o.results.status().code() == Code::kWorkerFailed);
  CHECK(o.results.status().message().find("timed out after") != std::string::npos);
  CHECK(o.results.status().message().find("after 2 attempts") != std::string::npos);
  CHECK(o.launcher.StartsOf(0).size() == 2);
}

TEST_CASE("Coordinator: a stop signal stops every worker and exits 128 + n") {
  Dataset3Rows data;
  for (int signo : {SIGINT, SIGTERM}) {
    Outcome o;
    o.launcher.script = [](const WorkerTask&) { return Fate{Fate::kHang, 0, ""}; };
    o.launcher.signal_at_wait = 3;
    o.launcher.signo = signo;
    RunWith(data, 3, &o);
    REQUIRE_FALSE(o.results.ok());
    CHECK(o.results.status().exit_code() == 128 + signo);
    CHECK(o.results.status().message() ==
          "interrupted by " + SignalName(signo) + ": workers stopped");
    CHECK(o.launcher.killed.size() == 3);
  }
}

}  // namespace
}  // namespace mm
