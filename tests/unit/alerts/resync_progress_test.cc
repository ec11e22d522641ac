#include "monitor/resync_progress.h"

#include <gtest/gtest.h>

namespace chroma_ha {
namespace {

using json = nlohmann::json;

ResyncProgress Running() {
  auto p = ParseResyncProgress(json{{"instance", "replica"},
                                    {"source", "primary"},
                                    {"state", "running"},
                                    {"reason", ""},
                                    {"collections_done", 3},
                                    {"collections_total", 7},
                                    {"records_done", 4200},
                                    {"records_total", 10000},
                                    {"records_recopied", 0},
                                    {"records_per_second", 1234.4},
                                    {"eta_seconds", 185},
                                    {"started_at_ms", 1},
                                    {"finished_at_ms", nullptr}});
  EXPECT_TRUE(p.ok());
  return *p;
}

TEST(ResyncProgressTest, ParsesTheStateObject) {
  ResyncProgress p = Running();
  EXPECT_EQ(p.instance, "replica");
  EXPECT_EQ(p.records_total, 10000);
  EXPECT_EQ(*p.eta_seconds, 185);
  EXPECT_FALSE(p.finished_at_ms);
  EXPECT_FALSE(ParseResyncProgress(json{{"records_done", 1}}).ok());
  EXPECT_FALSE(ParseResyncProgress(json::array()).ok());
  auto unknown_eta = ParseResyncProgress(json{{"state", "running"}, {"eta_seconds", nullptr}});
  ASSERT_TRUE(unknown_eta.ok());
  EXPECT_FALSE(unknown_eta->eta_seconds);
}

TEST(ResyncProgressTest, TerminalLineHasBarRateEtaAndFitsTheWidth) {
  const std::string line = RenderTerminal(Running(), 100);
  EXPECT_EQ(line,
            "replica ##########--------------  42%  4,200/10,000 records  1,234 rec/s  "
            "ETA 3m05s  3/7 collections");
  EXPECT_EQ(line.size(), 100u);  // the bar takes what the text leaves (24 cells, 10 filled)
  // A narrow terminal: the bar shrinks to its minimum of 10 cells.
  EXPECT_NE(RenderTerminal(Running(), 40).find("replica ####------  42%"), std::string::npos);
}

TEST(ResyncProgressTest, DoneIsFullAndFailedSaysSo) {
  ResyncProgress p = Running();
  p.state = "done";
  p.eta_seconds = 0;
  EXPECT_NE(RenderTerminal(p, 100).find(std::string(40, '#').substr(0, 20)), std::string::npos);
  EXPECT_NE(RenderTerminal(p, 100).find("100%"), std::string::npos);
  EXPECT_NE(RenderTerminal(p, 100).find("done"), std::string::npos);
  p.state = "failed";
  p.reason = "primary unreachable";
  EXPECT_EQ(RenderPlain(p),
            "resync replica: failed 42% records 4200/10000 collections 3/7 rate 1234 records/s "
            "eta 0 s reason: primary unreachable");
}

TEST(ResyncProgressTest, PlainLine) {
  EXPECT_EQ(RenderPlain(Running()),
            "resync replica: running 42% records 4200/10000 collections 3/7 rate 1234 records/s "
            "eta 185 s");
  ResyncProgress p = Running();
  p.eta_seconds.reset();
  p.records_total = 0;  // not counted yet: percent of collections
  EXPECT_EQ(RenderPlain(p),
            "resync replica: running 42% records 4200/0 collections 3/7 rate 1234 records/s "
            "eta unknown");
}

TEST(ResyncProgressTest, Formats) {
  EXPECT_EQ(GroupThousands(0), "0");
  EXPECT_EQ(GroupThousands(999), "999");
  EXPECT_EQ(GroupThousands(1000), "1,000");
  EXPECT_EQ(GroupThousands(1234567), "1,234,567");
  EXPECT_EQ(FormatEta(std::nullopt), "--");
  EXPECT_EQ(FormatEta(4.4), "4s");
  EXPECT_EQ(FormatEta(185), "3m05s");
  EXPECT_EQ(FormatEta(3720), "1h02m");
  EXPECT_EQ(FormatEta(-1), "--");
}

}  // namespace
}  // namespace chroma_ha
