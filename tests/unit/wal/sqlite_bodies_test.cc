// Large bodies of the SQLite WAL in files of their own (wal/sqlite_bodies.h): where they go,
// that they come back byte-exact (after a reopen too), that pruning deletes the segments no row
// refers to and no other, and that a missing file or one that cannot be written is an error,
// never an empty body or a half-recorded entry.
#include "wal/sqlite_bodies.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "unit/wal/group_commit_fixture.h"  // Entry()
#include "wal/sqlite_store.h"

namespace chroma_ha {
namespace {

namespace fs = std::filesystem;

class SqliteBodiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "chroma-ha-bodies-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/wal.sqlite3";
    bodies_dir_ = path_ + ".bodies";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<SqliteWalStore> OpenStore() {
    auto store = std::make_unique<SqliteWalStore>(path_);
    EXPECT_TRUE(store->Open().ok());
    EXPECT_TRUE(store->RegisterInstances({"primary", "replica"}).ok());
    return store;
  }

  static WalEntry Entry(const std::string& body, EntryState state = EntryState::kCommitted,
                        int64_t created_ms = 0) {
    WalEntry e = group_commit_test::Entry(body);
    e.state = state;
    e.origin = state == EntryState::kPending ? "" : "primary";
    e.created_ms = created_ms;
    return e;
  }

  // Appends one entry with `body`; its seq.
  static int64_t Append(WalStore& store, std::string body,
                        EntryState state = EntryState::kCommitted, int64_t created_ms = 0) {
    std::vector<WalEntry> batch = {Entry(body, state, created_ms)};
    const Status s = store.Append(&batch);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return batch[0].seq;
  }

  // Bytes of every value, NUL included, so nothing text-like passes by luck.
  static std::string Bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(rng() & 0xff);
    return out;
  }

  // The segment files on disk, by number.
  std::vector<std::string> Segments() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(bodies_dir_, ec)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // How the row of `seq` keeps its body: "file" (a reference) or "row" (the bytes), with the
  // length of what the row itself holds.
  std::string RowOf(int64_t seq) const {
    sqlite3* db = nullptr;
    std::string out = "?";
    if (sqlite3_open(path_.c_str(), &db) == SQLITE_OK) {
      sqlite3_stmt* stmt = nullptr;
      const std::string sql =
          "SELECT file_segment IS NOT NULL, length(body) FROM wal_bodies "
          "WHERE seq = " +
          std::to_string(seq);
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
          sqlite3_step(stmt) == SQLITE_ROW) {
        out = std::string(sqlite3_column_int(stmt, 0) ? "file" : "row") + " " +
              std::to_string(sqlite3_column_int64(stmt, 1));
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return out;
  }

  std::string dir_;
  std::string path_;
  std::string bodies_dir_;
};

TEST_F(SqliteBodiesTest, LargeBodyGoesToABodyFileAndComesBackByteExactAfterAReopenToo) {
  const std::string large = Bytes(300000, 1);
  const std::string small = Bytes(1000, 2);
  int64_t large_seq = 0;
  int64_t small_seq = 0;
  {
    auto store = OpenStore();
    large_seq = Append(*store, large);
    small_seq = Append(*store, small);
    EXPECT_EQ(RowOf(large_seq), "file 0");
    EXPECT_EQ(RowOf(small_seq), "row 1000");
    EXPECT_EQ(Segments(), std::vector<std::string>{"1"});
    EXPECT_EQ(fs::file_size(bodies_dir_ + "/1"), large.size());
    Result<WalEntry> got = store->Get(large_seq);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(got->body == large);
    Result<std::vector<WalEntry>> pending = store->PendingFor("replica", 0, 10);
    ASSERT_TRUE(pending.ok()) << pending.status().ToString();
    ASSERT_EQ(pending->size(), 2u);
    EXPECT_TRUE((*pending)[0].body == large);
    EXPECT_TRUE((*pending)[1].body == small);
  }
  auto store = OpenStore();  // a new process's view: the segment is found on disk
  Result<WalEntry> got = store->Get(large_seq);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->body == large);
  // The next body goes after the first, in the same segment.
  const std::string second = Bytes(200000, 3);
  const int64_t second_seq = Append(*store, second);
  EXPECT_EQ(fs::file_size(bodies_dir_ + "/1"), large.size() + second.size());
  got = store->Get(second_seq);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->body == second);
}

TEST_F(SqliteBodiesTest, TheThresholdDecidesWhereABodyGoes) {
  auto store = OpenStore();
  const int64_t below = Append(*store, Bytes(BodyFiles::kMinExternalBytes - 1, 4));
  const int64_t at = Append(*store, Bytes(BodyFiles::kMinExternalBytes, 5));
  EXPECT_EQ(RowOf(below), "row " + std::to_string(BodyFiles::kMinExternalBytes - 1));
  EXPECT_EQ(RowOf(at), "file 0");
}

TEST_F(SqliteBodiesTest, BytesLeftByAnAppendThatNeverCommittedAreSkipped) {
  // What a crash between writing a body and committing its row leaves: bytes no row refers to.
  fs::create_directories(bodies_dir_);
  std::ofstream(bodies_dir_ + "/1", std::ios::binary) << std::string(5000, 'x');
  auto store = OpenStore();
  const std::string body = Bytes(100000, 6);
  const int64_t seq = Append(*store, body);
  EXPECT_EQ(fs::file_size(bodies_dir_ + "/1"), 5000 + body.size());
  Result<WalEntry> got = store->Get(seq);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->body == body);
}

TEST_F(SqliteBodiesTest, PruneDeletesTheSegmentsNoRowRefersToAndKeepsTheNewest) {
  // Segments of 250 KB: three bodies of 100 KB each fill one (it is closed past 250 KB).
  std::shared_ptr<BodyFiles> files = BodyFiles::For(path_, 250000);
  auto store = OpenStore();
  std::vector<int64_t> old_seqs;
  std::vector<int64_t> new_seqs;
  for (int i = 0; i < 3; ++i) {
    old_seqs.push_back(Append(*store, Bytes(100000, 10 + i), EntryState::kRejected, 1000));
  }
  for (int i = 0; i < 3; ++i) {
    new_seqs.push_back(Append(*store, Bytes(100000, 20 + i), EntryState::kRejected, 5000));
  }
  EXPECT_EQ(Segments(), (std::vector<std::string>{"1", "2"}));

  // Rows of segment 1 only: it goes, segment 2's bodies still read.
  Result<int64_t> pruned = store->Prune(2000, {"primary", "replica"});
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 3);
  EXPECT_EQ(Segments(), std::vector<std::string>{"2"});
  for (int i = 0; i < 3; ++i) {
    Result<WalEntry> got = store->Get(new_seqs[i]);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(got->body == Bytes(100000, 20 + i));
  }

  // Every row gone: the newest segment stays (appends go there), the next body starts segment 3
  // (2 is full), and the prune after that deletes 2.
  pruned = store->Prune(10000, {"primary", "replica"});
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(Segments(), std::vector<std::string>{"2"});
  const int64_t seq = Append(*store, Bytes(100000, 30), EntryState::kRejected, 20000);
  EXPECT_EQ(Segments(), (std::vector<std::string>{"2", "3"}));
  pruned = store->Prune(10000, {"primary", "replica"});
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(Segments(), std::vector<std::string>{"3"});
  Result<WalEntry> got = store->Get(seq);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->body == Bytes(100000, 30));

  // Clear leaves nothing referenced either.
  Append(*store, Bytes(300000, 31));
  Append(*store, Bytes(100000, 32));
  EXPECT_EQ(Segments(), (std::vector<std::string>{"3", "4"}));
  ASSERT_TRUE(store->Clear().ok());
  EXPECT_EQ(Segments(), std::vector<std::string>{"4"});
}

TEST_F(SqliteBodiesTest, AMissingOrCutBodyFileIsCorruptionNeverAnEmptyBody) {
  auto store = OpenStore();
  const int64_t seq = Append(*store, Bytes(100000, 7));
  fs::resize_file(bodies_dir_ + "/1", 50000);
  Result<WalEntry> got = store->Get(seq);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << got.status().ToString();
  EXPECT_NE(got.status().message().find("WAL entry " + std::to_string(seq)), std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find("cut short"), std::string::npos) << got.status().message();

  store.reset();
  fs::remove(bodies_dir_ + "/1");
  store = OpenStore();
  Result<std::vector<WalEntry>> pending = store->PendingFor("replica", 0, 10);
  ASSERT_FALSE(pending.ok());
  EXPECT_EQ(pending.status().code(), StatusCode::kCorruption) << pending.status().ToString();
  EXPECT_NE(pending.status().message().find(bodies_dir_ + "/1"), std::string::npos)
      << pending.status().message();
  EXPECT_NE(pending.status().message().find("missing"), std::string::npos)
      << pending.status().message();
}

TEST_F(SqliteBodiesTest, ABodyThatCannotBeWrittenFailsTheAppendAndRecordsNothing) {
  std::ofstream(bodies_dir_) << "not a directory";  // where the directory would go
  auto store = OpenStore();
  std::vector<WalEntry> batch = {Entry("small, first in the batch"), Entry(Bytes(100000, 8))};
  const Status s = store->Append(&batch);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find(bodies_dir_), std::string::npos) << s.message();
  Result<std::map<EntryState, int64_t>> counts = store->CountByState();
  ASSERT_TRUE(counts.ok());
  for (const auto& [state, n] : *counts) EXPECT_EQ(n, 0) << static_cast<int>(state);
  // Small bodies still go into the database.
  Append(*store, "small");
  counts = store->CountByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[EntryState::kCommitted], 1);
}

}  // namespace
}  // namespace chroma_ha
