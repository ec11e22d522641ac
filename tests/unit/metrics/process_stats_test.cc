// The memory limit that WAL_MEMORY_THRESHOLD is measured against: the cgroup limit (v2
// memory.max, v1 memory.limit_in_bytes) when there is one, else the machine's RAM. Each test
// writes sample cgroup files into a temp dir and points CgroupPaths at it.
#include "metrics/process_stats.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace chroma_ha {
namespace {

namespace fs = std::filesystem;

class CgroupDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "chroma-ha-cgroup.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    paths_.root = (dir_ / "cgroup").string();
    paths_.self_cgroup = (dir_ / "self_cgroup").string();
    fs::create_directories(paths_.root);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `text` to `rel` under the temp dir, creating its directories.
  void Write(const std::string& rel, const std::string& text) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }

  fs::path dir_;
  CgroupPaths paths_;
};

TEST_F(CgroupDir, V2WithANumber) {
  Write("self_cgroup", "0::/\n");
  Write("cgroup/memory.max", "536870912\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), 536870912);
}

TEST_F(CgroupDir, V2WithMaxIsNoLimit) {
  Write("self_cgroup", "0::/\n");
  Write("cgroup/memory.max", "max\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), std::nullopt);
}

TEST_F(CgroupDir, V2OwnCgroupAndParentsTheSmallestWins) {
  // A host (no cgroup namespace): /proc/self/cgroup names the process's own directory.
  Write("self_cgroup", "0::/system.slice/app.service\n");
  Write("cgroup/system.slice/app.service/memory.max", "max\n");
  Write("cgroup/system.slice/memory.max", "1073741824\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), 1073741824);
  Write("cgroup/system.slice/app.service/memory.max", "268435456\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), 268435456);
}

TEST_F(CgroupDir, V2PathNotMountedFallsBackToTheContainersRoot) {
  // A container without a cgroup namespace: its own path is not under the mounted root.
  Write("self_cgroup", "0::/docker/abc123\n");
  Write("cgroup/memory.max", "805306368\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), 805306368);
}

TEST_F(CgroupDir, V1) {
  Write("self_cgroup", "5:cpu,cpuacct:/\n4:memory:/\n0::/\n");
  Write("cgroup/memory/memory.limit_in_bytes", "2147483648\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), 2147483648);
}

TEST_F(CgroupDir, V1UnlimitedIsNoLimit) {
  Write("self_cgroup", "4:memory:/\n");
  Write("cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), std::nullopt);
}

TEST_F(CgroupDir, V1OwnCgroupDirectory) {
  Write("self_cgroup", "4:memory:/process_api/abc\n0::/\n");
  Write("cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  Write("cgroup/memory/process_api/abc/memory.limit_in_bytes", "4294967296\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), 4294967296);
}

TEST_F(CgroupDir, NoneWhenNoFileExists) {
  Write("self_cgroup", "0::/\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), std::nullopt);
  fs::remove(dir_ / "self_cgroup");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), std::nullopt);
}

TEST_F(CgroupDir, GarbageIsNoLimit) {
  Write("self_cgroup", "0::/\n");
  Write("cgroup/memory.max", "lots\n");
  EXPECT_EQ(ReadCgroupMemoryLimit(paths_), std::nullopt);
}

TEST_F(CgroupDir, ProcessStatsUseTheCgroupLimitWhenThereIsOne) {
  Write("self_cgroup", "0::/\n");
  ProcessStats host = ReadProcessStats(paths_);
  ASSERT_GT(host.total_memory_bytes, 0);
  EXPECT_FALSE(host.memory_limit_is_cgroup);
  EXPECT_EQ(host.memory_limit_bytes, host.total_memory_bytes);

  Write("cgroup/memory.max", "536870912\n");
  ProcessStats limited = ReadProcessStats(paths_);
  EXPECT_TRUE(limited.memory_limit_is_cgroup);
  EXPECT_EQ(limited.memory_limit_bytes, 536870912);

  // A limit above the machine's RAM limits nothing: the RAM is what counts.
  Write("cgroup/memory.max", std::to_string(host.total_memory_bytes * 2) + "\n");
  ProcessStats roomy = ReadProcessStats(paths_);
  EXPECT_FALSE(roomy.memory_limit_is_cgroup);
  EXPECT_EQ(roomy.memory_limit_bytes, host.total_memory_bytes);
}

TEST_F(CgroupDir, PressureGaugeMeasuresResidentMemoryAgainstTheCgroupLimit) {
  Write("self_cgroup", "0::/\n");
  const int64_t rss = ReadProcessStats(paths_).resident_bytes;
  ASSERT_GT(rss, 0);
  // A limit of twice this process's resident memory: about 50 % used. Against the machine's RAM
  // the same process is far below 40 %, so the gauge must be reading the cgroup file.
  Write("cgroup/memory.max", std::to_string(rss * 2) + "\n");
  PressureGauge limited(40, 100000, paths_, std::chrono::milliseconds(0));
  EXPECT_TRUE(limited.UnderPressure());
  EXPECT_GT(limited.last_memory_percent(), 40);
  EXPECT_LT(limited.last_memory_percent(), 80);

  Write("cgroup/memory.max", "max\n");
  EXPECT_FALSE(limited.UnderPressure());
  EXPECT_LT(limited.last_memory_percent(), 40);
}

TEST_F(CgroupDir, PressureGaugeReusesAReadingYoungerThanItsInterval) {
  Write("self_cgroup", "0::/\n");
  const int64_t rss = ReadProcessStats(paths_).resident_bytes;
  ASSERT_GT(rss, 0);
  Write("cgroup/memory.max", std::to_string(rss * 2) + "\n");
  PressureGauge gauge(40, 100000, paths_, std::chrono::hours(1));
  EXPECT_TRUE(gauge.UnderPressure());
  const double percent = gauge.last_memory_percent();
  // The limit is lifted, but the first reading is younger than the interval: not read again.
  Write("cgroup/memory.max", "max\n");
  EXPECT_TRUE(gauge.UnderPressure());
  EXPECT_EQ(gauge.last_memory_percent(), percent);
}

}  // namespace
}  // namespace chroma_ha
