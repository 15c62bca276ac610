// Tests of runner/shard: --shard I/N parsing, --shard auto from the SLURM
// job-array variables (ids with a minimum and a step), and the shard split:
// shards tile the rows on Partition units, so every shard's blocks are whole.
#include "runner/shard.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>

namespace mm {
namespace {

std::map<std::string, std::string>& FakeEnv() {
  static std::map<std::string, std::string> env;
  return env;
}

const char* GetFake(const char* name) {
  auto it = FakeEnv().find(name);
  return it == FakeEnv().end() ? nullptr : it->second.c_str();
}

Result<ShardSpec> FromSlurm(std::map<std::string, std::string> env) {
  FakeEnv() = std::move(env);
  return ShardFromSlurm(&GetFake);
}

TEST_CASE("Shard: parses I/N and rejects bad specs with a usage error") {
  Result<ShardSpec> s = ParseShard("2/5");
  REQUIRE(s.ok());
  CHECK(s->index == 2);
  CHECK(s->count == 5);
  for (const char* bad :
       {"5/5", "1", "/2", "1/", "a/2", "-1/2", "1/0", "1/2/3", " 1/2", "99999999999/2"}) {
    INFO(bad);
    Result<ShardSpec> r = ParseShard(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kUsage);
  }
}

TEST_CASE("Shard: auto maps SLURM array task ids to 0..N-1") {
  // --array=3-5: ids 3, 4, 5 with MIN 3.
  for (int id = 3; id <= 5; ++id) {
    Result<ShardSpec> s = FromSlurm({{"SLURM_ARRAY_TASK_ID", std::to_string(id)},
                                     {"SLURM_ARRAY_TASK_MIN", "3"},
                                     {"SLURM_ARRAY_TASK_STEP", "1"},
                                     {"SLURM_ARRAY_TASK_COUNT", "3"}});
    REQUIRE(s.ok());
    CHECK(s->index == id - 3);
    CHECK(s->count == 3);
  }
  // --array=0-4:2: ids 0, 2, 4.
  for (int id : {0, 2, 4}) {
    Result<ShardSpec> s = FromSlurm({{"SLURM_ARRAY_TASK_ID", std::to_string(id)},
                                     {"SLURM_ARRAY_TASK_MIN", "0"},
                                     {"SLURM_ARRAY_TASK_STEP", "2"},
                                     {"SLURM_ARRAY_TASK_COUNT", "3"}});
    REQUIRE(s.ok());
    CHECK(s->index == id / 2);
  }
  // MIN and STEP default to 0 and 1.
  Result<ShardSpec> s = FromSlurm({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "2"}});
  REQUIRE(s.ok());
  CHECK(s->index == 1);
}

TEST_CASE("Shard: auto refuses missing or inconsistent SLURM variables") {
  const std::map<std::string, std::string> bad[] = {
      {},                                                               // not in an array
      {{"SLURM_ARRAY_TASK_ID", "1"}},                                   // no COUNT
      {{"SLURM_ARRAY_TASK_ID", "x"}, {"SLURM_ARRAY_TASK_COUNT", "2"}},  // not a number
      {{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "3"}},  // id past COUNT
      {{"SLURM_ARRAY_TASK_ID", "3"},
       {"SLURM_ARRAY_TASK_MIN", "0"},  // off the step
       {"SLURM_ARRAY_TASK_STEP", "2"},
       {"SLURM_ARRAY_TASK_COUNT", "3"}},
      {{"SLURM_ARRAY_TASK_ID", "1"},
       {"SLURM_ARRAY_TASK_MIN", "2"},
       {"SLURM_ARRAY_TASK_COUNT", "3"}},
      {{"SLURM_ARRAY_TASK_ID", "1"},
       {"SLURM_ARRAY_TASK_STEP", "0"},
       {"SLURM_ARRAY_TASK_COUNT", "3"}},
  };
  for (const auto& env : bad) {
    Result<ShardSpec> r = FromSlurm(env);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kUsage);
    CHECK(r.status().message().find("--shard auto") != std::string::npos);
  }
}

}  // namespace
}  // namespace mm
