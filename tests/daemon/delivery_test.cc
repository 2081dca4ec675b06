// The delivery engine over a recording fake transport: every failure path walked by failing
// the N-th transfer (STYLE.md's fail-count idiom), with a real SQLite file and a fake clock.
#include "daemon/delivery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <limits>
#include <map>
#include <set>

#include "tests/store/store_testing.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

// Answers each transfer at the next Wait through `answer` (the n-th transfer of the whole
// test, from 0); records what was started and what was accepted.
class FakeTransport : public Transport {
 public:
  std::function<Response(const Payload&, int n)> answer = [](const Payload&, int) {
    return Response{.status = 200};
  };
  std::vector<Payload> started;
  std::map<std::string, int> accepted;       // part id -> times a 2xx answered it
  std::map<std::string, int> max_in_flight;  // url -> most transfers at once
  int max_in_flight_to_host = 0;             // most transfers at once to 127.0.0.1:9
  std::function<void()> on_start;            // called after each Start (e.g. to Stop)
  bool abandoned = false;
  bool hang = false;  // Wait answers nothing

  void Start(std::uint64_t ticket, Payload payload) override {
    pending_.push_back({ticket, payload, count_++});
    started.push_back(payload);
    int& most = max_in_flight[payload.url];
    int now = 0;
    for (const auto& p : pending_) now += p.payload.url == payload.url;
    most = std::max(most, now);
    int to_host = 0;
    for (const auto& p : pending_) to_host += p.payload.url.rfind("http://127.0.0.1:9/", 0) == 0;
    max_in_flight_to_host = std::max(max_in_flight_to_host, to_host);
    if (on_start) on_start();
  }
  std::vector<TransferDone> Wait(std::chrono::milliseconds) override {
    std::vector<TransferDone> done;
    if (hang) return done;  // a target that never answers
    for (auto& p : pending_) {
      Response r = answer(p.payload, p.n);
      if (!r.failure && r.status >= 200 && r.status < 300) ++accepted[p.payload.part_id];
      done.push_back({.ticket = p.ticket, .response = std::move(r)});
    }
    pending_.clear();
    return done;
  }
  void Wake() override {}
  void Abandon() override {
    abandoned = true;
    pending_.clear();
  }
  int count() const { return count_; }

 private:
  struct Pending {
    std::uint64_t ticket;
    Payload payload;
    int n;
  };
  std::vector<Pending> pending_;
  int count_ = 0;
};

NotifierConfig Webhook(const std::string& name, int max_in_flight = 4) {
  return NotifierConfig{.name = name,
                        .kind = "webhook",
                        .max_in_flight = max_in_flight,
                        .retry_max_attempts = 5,
                        .settings = WebhookSettings{.url = "http://127.0.0.1:9/" + name}};
}

Notification PaperNotification(const std::string& notifier, int i, std::size_t summary_bytes = 40) {
  Paper p;
  p.key = "arxiv:2401." + std::to_string(10000 + i);
  p.title = "Paper " + std::to_string(i);
  p.url = "https://arxiv.org/abs/2401." + std::to_string(10000 + i);
  p.authors = {"Ada Lovelace"};
  p.summary = {std::string(summary_bytes, 'x')};
  Notification n;
  n.notifier = notifier;
  n.event = "new";
  n.watches = {"w"};
  n.dedupe_key = notifier + "|" + p.key;
  n.id = NotificationId(n.dedupe_key);
  n.papers.push_back({.paper = p, .source = "hf", .date = "2024-01-29"});
  return n;
}

// A notification too large for one webhook body: several parts.
Notification BigNotification(const std::string& notifier) {
  Notification n = PaperNotification(notifier, 0, 6000);
  for (int i = 1; i < 12; ++i) n.papers.push_back(PaperNotification(notifier, i, 6000).papers[0]);
  n.dedupe_key += "|big";
  n.id = NotificationId(n.dedupe_key);
  return n;
}

struct Fixture {
  test::TempDir dir;
  Config config;
  std::unique_ptr<StateStore> store;
  std::int64_t now = 1'000'000;

  explicit Fixture(std::vector<NotifierConfig> notifiers) {
    config.daemon.state_path = dir.File("state.db");
    config.notifiers = std::move(notifiers);
    auto opened = StateStore::Open(config.daemon.state_path);
    EXPECT_TRUE(opened) << opened.error().message;
    store = std::move(*opened);
  }
  void Queue(const std::vector<Notification>& ns) {
    ASSERT_TRUE(store->QueueNotifications(ns, now));
  }
  // Commits `ns` as a digest's notifications handed over to `owner` (DigestCommit::
  // hand_over), held until `lease_until` for each notifier named in `notifiers`.
  void CommitHandedOver(const std::vector<Notification>& ns, const std::string& owner,
                        const std::vector<std::string>& notifiers, std::int64_t lease_until) {
    DigestCommit c{.source = "hf", .url = "https://example.org/d.md", .date = "2024-01-29",
                   .now = now, .notifications = ns};
    c.hand_over.emplace().owner = owner;
    for (const std::string& n : notifiers) c.hand_over->lease_until.emplace(n, lease_until);
    auto st = store->CommitDigest(std::move(c));
    ASSERT_TRUE(st) << st.error().message;
  }
  // Counts, in table `claims`, every write that makes an outbox row `sending` (a claim).
  void CountClaims() {
    test::ExecOn(config.daemon.state_path,
                 "CREATE TABLE claims(id TEXT); CREATE TRIGGER count_claims AFTER UPDATE OF "
                 "state ON outbox WHEN new.state = 'sending' BEGIN INSERT INTO claims "
                 "VALUES(new.id); END;");
  }
  DeliveryReport Run(Transport& t, const std::string& owner = "test-owner") {
    DeliveryOptions o{.owner = owner,
                      .now = [this] { return now; },
                      .random = [] { return 0.5; },
                      .owner_alive = [](const std::string&) { return true; }};
    return DeliveryEngine(config, *store, t, o).Run();
  }
  // Runs a pass whose results are recorded a full batch (commit_every) at a time, as a first
  // run's flood is: no batch is ended by the time since its first result.
  DeliveryReport RunInBatches(Transport& t) {
    DeliveryOptions o{.owner = "test-owner",
                      .now = [this] { return now; },
                      .owner_alive = [](const std::string&) { return true; },
                      .commit_interval = std::chrono::hours(1)};
    return DeliveryEngine(config, *store, t, o).Run();
  }
  std::map<std::string, int> States() {
    std::map<std::string, int> counts;
    const auto rows = store->ListOutbox("", "", 10000);
    for (const OutboxRow& r : *rows) ++counts[r.state];
    return counts;
  }
  // Runs passes, moving the clock past every retry, until nothing is pending.
  void RunToEnd(FakeTransport& t, int max_passes = 20) {
    for (int i = 0; i < max_passes && States()["pending"] > 0; ++i) {
      auto next = store->NextAttemptAt();
      ASSERT_TRUE(next);
      if (*next) now = std::max(now, **next);
      Run(t);
    }
  }
};

TEST(Issue7, EveryRowIsDeliveredOnceWithoutFailures) {
  Fixture f({Webhook("a"), Webhook("b")});
  std::vector<Notification> ns;
  for (int i = 0; i < 30; ++i) ns.push_back(PaperNotification(i % 2 ? "a" : "b", i));
  f.Queue(ns);
  FakeTransport t;
  const DeliveryReport r = f.Run(t);
  EXPECT_EQ(r.sent, 30);
  EXPECT_EQ(f.States()["sent"], 30);
  for (const Notification& n : ns) EXPECT_EQ(t.accepted[n.id], 1) << n.id;
  for (const auto& [url, most] : t.max_in_flight) EXPECT_LE(most, 4) << url;
}

// A claim of hundreds of rows renders them on two threads: each row still goes out as its
// own message, and a row that cannot be read ends dead without shifting the others.
TEST(Issue7, ALargeClaimSendsEachRowAsItsOwnMessage) {
  Fixture f({Webhook("a", 64), Webhook("b", 64)});
  std::vector<Notification> ns;
  for (int i = 0; i < 300; ++i) ns.push_back(PaperNotification(i % 2 ? "a" : "b", i));
  f.Queue(ns);
  const std::string& broken = ns[150].id;
  test::ExecOn(f.config.daemon.state_path,
               "UPDATE outbox SET message = 'not json' WHERE id = '" + broken + "'");
  // Another process's engine, which reads every message from the state.
  auto reopened = StateStore::Open(f.config.daemon.state_path);
  ASSERT_TRUE(reopened);
  f.store = std::move(*reopened);
  FakeTransport t;
  const DeliveryReport r = f.Run(t);
  EXPECT_EQ(r.sent, 299);
  EXPECT_EQ(f.States(), (std::map<std::string, int>{{"dead", 1}, {"sent", 299}}));
  ASSERT_EQ(t.started.size(), 299u);
  std::map<std::string, const Notification*> by_id;
  for (const Notification& n : ns) by_id[n.id] = &n;
  for (const Payload& p : t.started) {
    ASSERT_TRUE(by_id.count(p.part_id)) << p.part_id;
    const Notification& n = *by_id[p.part_id];
    EXPECT_NE(p.part_id, broken);
    EXPECT_NE(p.body.find("\"" + n.papers[0].paper->key + "\""), std::string::npos) << p.part_id;
    EXPECT_EQ(p.url, "http://127.0.0.1:9/" + n.notifier) << p.part_id;
  }
  const auto dead = test::FindRow(*f.store, broken);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->state, "dead");
  EXPECT_NE(dead->last_error.find(broken), std::string::npos) << dead->last_error;
}

// Fail the N-th transfer, for every N, in every way a target fails: nothing is lost,
// nothing accepted twice, and the failure is recorded where it belongs.
TEST(Issue7, FailingTheNthTransferLosesNothing) {
  struct Way {
    const char* name;
    Response response;
    const char* end_state;  // where the failed row ends after the retries
  };
  const Way ways[] = {
      {"connection", {.failure = "POST http://127.0.0.1:9/a: connection refused"}, "sent"},
      {"timeout", {.failure = "timed out", .timed_out = true}, "sent"},
      {"503", {.status = 503, .retry_after = "120"}, "sent"},
      {"429", {.status = 429}, "sent"},
      {"400", {.status = 400, .body = "bad payload"}, "dead"},
  };
  std::vector<Notification> ns = {BigNotification("a")};
  for (int i = 0; i < 6; ++i) ns.push_back(PaperNotification(i % 2 ? "a" : "b", i));
  // Transfers without failures: every part of every row once.
  int total = 0;
  {
    Fixture f({Webhook("a"), Webhook("b")});
    f.Queue(ns);
    FakeTransport t;
    f.Run(t);
    total = t.count();
    ASSERT_GT(total, int(ns.size())) << "the big notification must be split into parts";
  }
  for (const Way& way : ways) {
    for (int fail = 0; fail < total; ++fail) {
      SCOPED_TRACE(std::string(way.name) + " at transfer " + std::to_string(fail));
      Fixture f({Webhook("a"), Webhook("b")});
      f.Queue(ns);
      FakeTransport t;
      std::string failed_part;
      t.answer = [&](const Payload& p, int n) {
        if (n != fail) return Response{.status = 200};
        failed_part = p.part_id;
        return way.response;
      };
      f.RunToEnd(t);
      const auto states = f.States();
      EXPECT_EQ(states.count("pending"), 0u);
      EXPECT_EQ(states.count("sending"), 0u);
      const std::string failed_row = failed_part.substr(0, 32);
      const auto rows = f.store->ListOutbox("", "", 100);
      for (const OutboxRow& r : *rows) {
        if (r.id == failed_row) {
          EXPECT_EQ(r.state, way.end_state);
          if (std::string(way.end_state) == "dead") {
            EXPECT_NE(r.last_error.find("400"), std::string::npos);
          }
        } else {
          EXPECT_EQ(r.state, "sent") << r.id;
        }
      }
      for (const auto& [part, times] : t.accepted) EXPECT_EQ(times, 1) << part << " accepted twice";
      // A retry starts after the parts already accepted: the failed part is the only repeat.
      std::map<std::string, int> starts;
      for (const Payload& p : t.started) ++starts[p.part_id];
      for (const auto& [part, times] : starts) {
        const bool retried = part == failed_part && std::string(way.end_state) == "sent";
        EXPECT_EQ(times, retried ? 2 : 1) << part;
      }
    }
  }
}

// An email goes to each recipient as its own part. A recipient the server refuses for good
// (5xx: Outcome::part_only) stops only its own part: the recipients after it still get the
// message, once each, and the row goes dead at the end naming every refusal, with no retry.
TEST(Issue7, ARecipientRefusedForGoodDoesNotStopTheOthers) {
  const std::vector<std::string> to = {"ann@example.org", "bob@example.org", "cy@example.org",
                                       "dee@example.org"};
  const std::set<std::string> refused = {"bob@example.org", "dee@example.org"};
  Fixture f({NotifierConfig{.name = "mail",
                            .kind = "email",
                            .retry_max_attempts = 5,
                            .settings = EmailSettings{.url = "smtp://127.0.0.1:9",
                                                      .from = "digestd@example.org",
                                                      .to = to}}});
  const Notification n = PaperNotification("mail", 1);
  f.Queue({n});
  FakeTransport t;
  t.answer = [&](const Payload& p, int) {
    if (p.recipients.size() == 1 && refused.contains(p.recipients[0])) {
      return Response{.status = 550, .body = "RCPT failed: 550 5.1.1 no such user"};
    }
    return Response{.status = 250};
  };
  const DeliveryReport r = f.Run(t);
  EXPECT_EQ(r.dead, 1);
  EXPECT_EQ(r.sent, 0);
  EXPECT_EQ(r.retried, 0);

  // Every recipient was tried once, in order; the ones not refused accepted the message.
  std::vector<std::string> tried;
  for (const Payload& p : t.started) {
    ASSERT_EQ(p.recipients.size(), 1u);
    tried.push_back(p.recipients[0]);
  }
  EXPECT_EQ(tried, to);
  EXPECT_EQ(t.accepted, (std::map<std::string, int>{{n.id, 1}, {n.id + "-2", 1}}));

  const auto rows = f.store->ListOutbox("", "", 10);
  ASSERT_EQ(rows->size(), 1u);
  const OutboxRow& row = rows->front();
  EXPECT_EQ(row.state, "dead");
  EXPECT_EQ(row.attempts, 1);
  EXPECT_EQ(row.parts_sent, 4);
  EXPECT_EQ(row.last_error,
            "recipient bob@example.org refused: RCPT failed: 550 5.1.1 no such user; "
            "recipient dee@example.org refused: RCPT failed: 550 5.1.1 no such user");

  // Dead is final: a later pass sends nothing again.
  f.now += 24 * 3600;
  f.Run(t);
  EXPECT_EQ(t.count(), 4);
}

// A refusal outlives a retry: when a later recipient asks to come back later, the row is
// retried from that recipient on, the refused one is not tried again, and the row still ends
// dead naming the refusal (it once ended "sent", the refusal forgotten with the attempt).
TEST(Issue7, ARefusedRecipientIsNotTriedAgainWhenALaterOneIsRetried) {
  const std::vector<std::string> to = {"ann@example.org", "bob@example.org", "cy@example.org"};
  Fixture f({NotifierConfig{.name = "mail",
                            .kind = "email",
                            .retry_max_attempts = 5,
                            .settings = EmailSettings{.url = "smtp://127.0.0.1:9",
                                                      .from = "digestd@example.org",
                                                      .to = to}}});
  f.Queue({PaperNotification("mail", 1)});
  FakeTransport t;
  int cy_tries = 0;
  t.answer = [&](const Payload& p, int) {
    if (p.recipients[0] == "bob@example.org") {
      return Response{.status = 550, .body = "RCPT failed: 550 no such user"};
    }
    if (p.recipients[0] == "cy@example.org" && cy_tries++ == 0) {
      return Response{.status = 451, .body = "RCPT failed: 451 try again later"};
    }
    return Response{.status = 250};
  };
  // The first pass: ann accepts, bob is refused, cy defers; the row waits, and says both.
  EXPECT_EQ(f.Run(t).retried, 1);
  auto rows = f.store->ListOutbox("", "", 10);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().state, "pending");
  EXPECT_EQ(rows->front().parts_sent, 2);
  EXPECT_EQ(rows->front().last_error,
            "recipient cy@example.org deferred: RCPT failed: 451 try again later [refused for "
            "good before: recipient bob@example.org refused: RCPT failed: 550 no such user]");
  f.RunToEnd(t);
  std::map<std::string, int> tries;
  for (const Payload& p : t.started) ++tries[p.recipients[0]];
  EXPECT_EQ(tries, (std::map<std::string, int>{
                       {"ann@example.org", 1}, {"bob@example.org", 1}, {"cy@example.org", 2}}));
  rows = f.store->ListOutbox("", "", 10);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().parts_sent, 3);
  EXPECT_EQ(rows->front().state, "dead");
  EXPECT_EQ(rows->front().attempts, 2);
  EXPECT_EQ(rows->front().last_error,
            "recipient bob@example.org refused: RCPT failed: 550 no such user");
}

// The refusals ride in the last error, after a marker; a server's own words cannot forge
// one. A deferral of the second recipient whose reply ends like the marker leaves no
// phantom refusal: the row is sent once that recipient accepts.
TEST(Issue7, AServersReplyCannotForgeARefusal) {
  Fixture f({NotifierConfig{.name = "mail",
                            .kind = "email",
                            .retry_max_attempts = 5,
                            .settings = EmailSettings{.url = "smtp://127.0.0.1:9",
                                                      .from = "digestd@example.org",
                                                      .to = {"ann@example.org",
                                                             "bob@example.org"}}}});
  f.Queue({PaperNotification("mail", 1)});
  FakeTransport t;
  int tries = 0;
  t.answer = [&](const Payload& p, int) {
    if (p.recipients[0] == "bob@example.org" && tries++ == 0) {
      return Response{.status = 451,
                      .body = "451 later [refused for good before: recipient x refused]"};
    }
    return Response{.status = 250};
  };
  EXPECT_EQ(f.Run(t).retried, 1);
  f.RunToEnd(t);
  const auto rows = f.store->ListOutbox("", "", 10);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().state, "sent") << rows->front().last_error;
  EXPECT_EQ(tries, 2);
}

// Refusals outlive a shutdown too: stopped while the third recipient's transfer runs, the
// row is handed back (pending, no attempt counted) and still says the second was refused;
// the next pass sends to the third only, and the row ends dead naming the refusal.
TEST(Issue7, ARefusedRecipientIsStillNamedAfterAStopBetweenParts) {
  const std::vector<std::string> to = {"ann@example.org", "bob@example.org", "cy@example.org"};
  Fixture f({NotifierConfig{.name = "mail",
                            .kind = "email",
                            .settings = EmailSettings{.url = "smtp://127.0.0.1:9",
                                                      .from = "digestd@example.org",
                                                      .to = to}}});
  f.Queue({PaperNotification("mail", 1)});
  FakeTransport t;
  t.answer = [&](const Payload& p, int) {
    return p.recipients[0] == "bob@example.org"
               ? Response{.status = 550, .body = "RCPT failed: 550 no such user"}
               : Response{.status = 250};
  };
  DeliveryOptions o{.owner = "o",
                    .now = [&] { return f.now; },
                    .owner_alive = [](const std::string&) { return true; }};
  {
    DeliveryEngine engine(f.config, *f.store, t, o);
    t.on_start = [&] {
      if (t.count() != 3) return;
      t.hang = true;  // cy's transfer never answers: only Stop ends the run
      engine.Stop();
    };
    engine.Run();
  }
  auto rows = f.store->ListOutbox("", "", 10);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().state, "pending");
  EXPECT_EQ(rows->front().attempts, 0);
  EXPECT_EQ(rows->front().parts_sent, 2);
  EXPECT_EQ(rows->front().last_error,
            "[refused for good before: recipient bob@example.org refused: RCPT failed: 550 no "
            "such user]");

  t.hang = false;
  t.on_start = nullptr;
  DeliveryEngine(f.config, *f.store, t, o).Run();
  std::map<std::string, int> tries;
  for (const Payload& p : t.started) ++tries[p.recipients[0]];
  EXPECT_EQ(tries, (std::map<std::string, int>{
                       {"ann@example.org", 1}, {"bob@example.org", 1}, {"cy@example.org", 2}}));
  rows = f.store->ListOutbox("", "", 10);
  EXPECT_EQ(rows->front().state, "dead");
  EXPECT_EQ(rows->front().last_error,
            "recipient bob@example.org refused: RCPT failed: 550 no such user");
}

TEST(Issue7, RetryAfterIsHonoured) {
  Fixture f({Webhook("a")});
  f.Queue({PaperNotification("a", 1)});
  FakeTransport t;
  t.answer = [](const Payload&, int) { return Response{.status = 429, .retry_after = "3600"}; };
  f.Run(t);
  auto rows = f.store->ListOutbox("pending", "", 10);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_GE(rows->front().next_attempt_at, f.now + 3600);
  EXPECT_EQ(rows->front().attempts, 1);
}

TEST(Issue7, RetryBudgetEndsDeadAndAlertsOncePerStreak) {
  NotifierConfig a = Webhook("a");
  a.retry_max_attempts = 3;
  NotifierConfig ops = Webhook("ops");
  Fixture f({a, ops});
  f.config.daemon.alert_notify = {"ops", "a"};
  f.Queue({PaperNotification("a", 1), PaperNotification("a", 2)});
  FakeTransport t;
  bool a_down = true;
  t.answer = [&](const Payload& p, int) {
    const bool to_a = p.url.find("/a") != std::string::npos;
    return Response{.status = to_a && a_down ? 500 : 200};
  };
  f.RunToEnd(t);
  auto dead = f.store->ListOutbox("dead", "a", 10);
  ASSERT_EQ(dead->size(), 2u);
  EXPECT_EQ(dead->front().attempts, 3);
  auto alerts = f.store->ListOutbox("", "ops", 10);
  ASSERT_EQ(alerts->size(), 1u) << "one alert for the streak, none to the failing notifier";
  EXPECT_EQ(alerts->front().event, "notifier_failing");
  EXPECT_EQ(alerts->front().state, "sent");
  EXPECT_TRUE(f.store->ListOutbox("", "a", 10)->size() == 2u) << "no alert queued to itself";

  a_down = false;
  ASSERT_EQ(*f.store->RetryDead("a", f.now), 2);
  f.RunToEnd(t);
  alerts = f.store->ListOutbox("", "ops", 10);
  ASSERT_EQ(alerts->size(), 2u);
  EXPECT_EQ(alerts->front().event, "notifier_recovered");
}

TEST(Issue7, GoneTargetDisablesTheNotifierUntilItsConfigChanges) {
  Fixture f({Webhook("a"), Webhook("b")});
  std::vector<Notification> ns;
  for (int i = 0; i < 10; ++i) ns.push_back(PaperNotification(i % 2 ? "a" : "b", i));
  f.Queue(ns);
  FakeTransport t;
  t.answer = [](const Payload& p, int) {
    return Response{.status = p.url.find("/a") != std::string::npos ? 410 : 200};
  };
  const DeliveryReport first = f.Run(t);
  EXPECT_EQ(f.store->ListOutbox("sent", "b", 10)->size(), 5u);
  EXPECT_EQ(f.store->ListOutbox("pending", "a", 10)->size(), 5u) << "kept, not dead";
  EXPECT_TRUE(first.next_due_known);
  EXPECT_EQ(first.next_due, std::nullopt)
      << "rows of a disabled notifier must not wake the service again and again";
  const int started = t.count();
  f.Run(t);
  EXPECT_EQ(t.count(), started) << "a disabled notifier is not contacted again";
  auto health = f.store->GetNotifierHealth("a");
  EXPECT_FALSE(health->disabled_fingerprint.empty());

  // A new URL is a new configuration: it sends again.
  std::get<WebhookSettings>(f.config.notifiers[0].settings).url = "http://127.0.0.1:9/a2";
  t.answer = [](const Payload&, int) { return Response{.status = 204}; };
  f.Run(t);
  EXPECT_EQ(f.store->ListOutbox("sent", "a", 10)->size(), 5u);
}

TEST(Issue7, MaxInFlightAndRowsOfAFailingTargetWait) {
  Fixture f({Webhook("slow", 2), Webhook("ok", 8)});
  std::vector<Notification> ns;
  for (int i = 0; i < 40; ++i) ns.push_back(PaperNotification(i % 2 ? "slow" : "ok", i));
  f.Queue(ns);
  FakeTransport t;
  t.answer = [](const Payload& p, int) {
    return p.url.find("/slow") != std::string::npos
               ? Response{.failure = "timed out", .timed_out = true}
               : Response{.status = 200};
  };
  f.Run(t);
  EXPECT_EQ(f.store->ListOutbox("sent", "ok", 100)->size(), 20u);
  EXPECT_LE(t.max_in_flight["http://127.0.0.1:9/slow"], 2);
  EXPECT_LE(t.max_in_flight["http://127.0.0.1:9/ok"], 8);
  // A target that fails is not hammered: what else was claimed for it waits, unattempted.
  int slow_started = 0;
  for (const Payload& p : t.started) slow_started += p.url.find("/slow") != std::string::npos;
  EXPECT_LE(slow_started, 2);
  const auto pending = f.store->ListOutbox("pending", "slow", 100);
  for (const OutboxRow& r : *pending) EXPECT_LE(r.attempts, 1);
}

TEST(Issue7, MinIntervalPacesTheRequestsToATarget) {
  NotifierConfig paced = Webhook("paced", 4);
  paced.min_interval = std::chrono::milliseconds(40);
  Fixture f({paced});
  std::vector<Notification> ns;
  for (int i = 0; i < 5; ++i) ns.push_back(PaperNotification("paced", i));
  f.Queue(ns);
  FakeTransport t;
  std::vector<std::chrono::steady_clock::time_point> starts;
  t.on_start = [&] { starts.push_back(std::chrono::steady_clock::now()); };
  EXPECT_EQ(f.Run(t).sent, 5);
  ASSERT_EQ(starts.size(), 5u);
  for (std::size_t i = 1; i < starts.size(); ++i) {
    EXPECT_GE(starts[i] - starts[i - 1], std::chrono::milliseconds(40)) << "start " << i;
  }
}

TEST(Issue7, NotifiersPostingToOneServerShareItsCap) {
  Fixture f({Webhook("a", 64), Webhook("b", 64), Webhook("c", 64)});
  std::vector<Notification> ns;
  for (int i = 0; i < 150; ++i)
    ns.push_back(PaperNotification(i % 3 ? i % 3 == 1 ? "a" : "b" : "c", i));
  f.Queue(ns);
  FakeTransport t;
  DeliveryOptions o{.owner = "o", .now = [&] { return f.now; }, .max_per_origin = 10};
  const DeliveryReport r = DeliveryEngine(f.config, *f.store, t, o).Run();
  EXPECT_EQ(r.sent, 150);
  EXPECT_EQ(t.max_in_flight_to_host, 10);
}

// Targets take turns for the engine's slots: with room for one transfer at a time, three
// notifiers with three rows each are served a, b, c, a, b, c, ... and none waits for the
// others to finish. The same holds across origins: "c" posts to another server.
TEST(Issue7, TargetsTakeTurnsForTheSlots) {
  NotifierConfig c = Webhook("c");
  c.settings = WebhookSettings{.url = "http://127.0.0.2:9/c"};
  Fixture f({Webhook("a"), Webhook("b"), c});
  std::vector<Notification> ns;
  for (int i = 0; i < 9; ++i) ns.push_back(PaperNotification(i < 3 ? "a" : i < 6 ? "b" : "c", i));
  f.Queue(ns);
  FakeTransport t;
  DeliveryOptions o{.owner = "o", .now = [&] { return f.now; }, .max_total_in_flight = 1};
  EXPECT_EQ(DeliveryEngine(f.config, *f.store, t, o).Run().sent, 9);
  std::string order;
  for (const Payload& p : t.started) order += p.url.back();
  EXPECT_EQ(order.size(), 9u);
  for (std::size_t i = 0; i + 2 < order.size(); i += 3) {
    EXPECT_EQ(std::set<char>(order.begin() + i, order.begin() + i + 3),
              (std::set<char>{'a', 'b', 'c'}))
        << "order of starts: " << order;
  }
}

TEST(Issue7, StopReleasesClaimedRowsUnattempted) {
  Fixture f({Webhook("a", 4)});
  std::vector<Notification> ns;
  for (int i = 0; i < 20; ++i) ns.push_back(PaperNotification("a", i));
  f.Queue(ns);
  FakeTransport t;
  DeliveryOptions o{.owner = "o",
                    .now = [&] { return f.now; },
                    .owner_alive = [](const std::string&) { return true; }};
  DeliveryEngine engine(f.config, *f.store, t, o);
  t.on_start = [&] {
    if (t.count() != 3) return;
    t.hang = true;  // what is in flight never answers: only Stop ends the run
    engine.Stop();
  };
  engine.Run();
  EXPECT_TRUE(t.abandoned);
  const auto states = f.States();
  EXPECT_EQ(states.count("sending"), 0u);
  EXPECT_EQ(states.at("pending"), 20);
  const auto rows = f.store->ListOutbox("", "", 100);
  for (const OutboxRow& r : *rows) EXPECT_EQ(r.attempts, 0);
}

TEST(Issue7, TwoEnginesOnOneFileDeliverEachRowOnce) {
  Fixture f({Webhook("a", 8)});
  std::vector<Notification> ns;
  for (int i = 0; i < 300; ++i) ns.push_back(PaperNotification("a", i));
  f.Queue(ns);
  auto second = StateStore::Open(f.config.daemon.state_path);
  ASSERT_TRUE(second);
  FakeTransport t1, t2;
  // Interleave: each engine's Start lets the other engine claim in between.
  DeliveryOptions o2{.owner = "two",
                     .now = [&] { return f.now; },
                     .owner_alive = [](const std::string&) { return true; }};
  bool nested = false;
  t1.on_start = [&] {
    if (nested) return;
    nested = true;
    DeliveryEngine(f.config, **second, t2, o2).Run();
    nested = false;
  };
  f.Run(t1, "one");
  std::map<std::string, int> total = t1.accepted;
  for (const auto& [id, n] : t2.accepted) total[id] += n;
  EXPECT_EQ(total.size(), 300u);
  for (const auto& [id, n] : total) EXPECT_EQ(n, 1) << id;
  EXPECT_GT(t2.count(), 0);
}

// A row is never sent when the attempt could outlast its lease (another process may take
// it over then): it goes back unattempted and is claimed afresh.
TEST(Issue7, NoAttemptOutlastsItsLease) {
  Fixture f({Webhook("a", 1)});
  std::vector<Notification> ns;
  for (int i = 0; i < 6; ++i) ns.push_back(PaperNotification("a", i));
  f.Queue(ns);
  FakeTransport t;
  std::vector<std::int64_t> lease_left;  // at each start: lease end minus now
  t.on_start = [&] {
    const auto rows = f.store->ListOutbox("sending", "a", 100);
    std::int64_t least = std::numeric_limits<std::int64_t>::max();
    for (const OutboxRow& r : *rows) least = std::min(least, *r.lease_until - f.now);
    lease_left.push_back(least);
    f.now += 200;  // every transfer takes 200 s of the clock
  };
  const DeliveryReport r = f.Run(t);
  EXPECT_EQ(r.sent, 6);
  EXPECT_GT(r.released, 0) << "rows whose lease ran short were handed back";
  for (const auto& [part, times] : t.accepted) EXPECT_EQ(times, 1) << part;
  EXPECT_EQ(f.States()["sent"], 6);
}

TEST(Issue7, RowsOfARemovedNotifierWakeNobody) {
  Fixture f({Webhook("a")});
  f.Queue({PaperNotification("ghost", 1), PaperNotification("a", 2)});
  FakeTransport t;
  const DeliveryReport r = f.Run(t);
  EXPECT_EQ(r.sent, 1);
  EXPECT_EQ(f.store->ListOutbox("pending", "ghost", 10)->size(), 1u) << "kept for its return";
  EXPECT_TRUE(r.next_due_known);
  EXPECT_EQ(r.next_due, std::nullopt);
}

TEST(Issue7, RowsOfADeadProcessAreTakenOverAtOnce) {
  Fixture f({Webhook("a")});
  f.Queue({PaperNotification("a", 1)});
  auto claimed = f.store->ClaimDue("a", f.now, 10, "4000000:1", f.now + 3600,
                                   [](const std::string&) { return true; });
  ASSERT_EQ(claimed->size(), 1u);
  FakeTransport t;
  DeliveryOptions o{.owner = "me",
                    .now = [&] { return f.now; },
                    .owner_alive = [](const std::string& who) { return who == "me"; }};
  DeliveryEngine(f.config, *f.store, t, o).Run();
  EXPECT_EQ(f.States()["sent"], 1);
}

// Issue 12: the rows a commit hands over to the process that delivers next are queued
// claimed by it, and its pass sends them without writing each row a second time to claim it.
TEST(Issue12, RowsACommitHandsOverAreSentWithoutBeingClaimedAgain) {
  Fixture f({Webhook("a", 4), Webhook("b", 4)});
  std::vector<Notification> ns;
  for (int i = 0; i < 40; ++i) ns.push_back(PaperNotification(i % 4 ? "a" : "b", i));
  f.CommitHandedOver(ns, "test-owner", {"a", "b"}, f.now + 600);
  // Queued before the commit and due: claimed the usual way, after the handed-over rows.
  f.Queue({PaperNotification("a", 100)});
  EXPECT_EQ(f.States()["sending"], 40);
  const auto held = f.store->FindOutbox(ns[0].id);
  ASSERT_TRUE(held && held->size() == 1u);
  EXPECT_EQ((*held)[0].lease_owner, "test-owner");
  EXPECT_EQ((*held)[0].lease_until, f.now + 600);
  f.CountClaims();
  FakeTransport t;
  const DeliveryReport r = f.Run(t);
  EXPECT_EQ(r.sent, 41);
  EXPECT_EQ(f.States()["sent"], 41);
  for (const Notification& n : ns) EXPECT_EQ(t.accepted[n.id], 1) << n.id;
  EXPECT_EQ(test::Scalar(f.config.daemon.state_path, "SELECT count(*) FROM claims"), 1)
      << "only the row queued the usual way was claimed";
  for (const auto& [url, most] : t.max_in_flight) EXPECT_LE(most, 4) << url;
}

// A claim of rows a commit handed over reads nothing in the state, so the results before it
// need not be recorded first: a first run's flood is recorded a batch of 1,024 results at a
// time (commit_every), not each claim's 512. A claim that goes to the state (the last one
// here: fewer rows handed over than it asks for) records first, as any claim does.
TEST(Issue12, ResultsWaitForTheirBatchAcrossClaimsFromMemory) {
  Fixture f({Webhook("a", 64)});
  std::vector<Notification> ns;
  for (int i = 0; i < 1100; ++i) ns.push_back(PaperNotification("a", i));
  f.CommitHandedOver(ns, "test-owner", {"a"}, f.now + 600);
  FakeTransport t;
  std::map<std::int64_t, int> sent_at_start;  // rows recorded sent -> transfers started then
  t.on_start = [&] {
    ++sent_at_start[test::Scalar(f.config.daemon.state_path,
                                 "SELECT count(*) FROM outbox WHERE state = 'sent'")];
  };
  const DeliveryReport r = f.RunInBatches(t);
  EXPECT_EQ(r.sent, 1100);
  EXPECT_EQ(f.States()["sent"], 1100);
  const std::map<std::int64_t, int> expected{{0, 1024}, {1024, 76}};
  EXPECT_EQ(sent_at_start, expected);
}

// A large batch of results is recorded on a thread of its own while the pass goes on
// (Pass::RecordBeside). When that recording fails, the pass says so and loses nothing: the
// batch's rows stay claimed until their lease ends, then are sent again under the same ids.
TEST(Issue12, ABatchRecordedBesideThePassThatFailsLosesNothing) {
  Fixture f({Webhook("a", 64)});
  std::vector<Notification> ns;
  for (int i = 0; i < 1100; ++i) ns.push_back(PaperNotification("a", i));
  f.CommitHandedOver(ns, "test-owner", {"a"}, f.now + 600);
  // The first batch (1,024 results, recorded beside) holds the rows of the first rowids.
  test::ExecOn(f.config.daemon.state_path,
               "CREATE TRIGGER refuse_first_rows BEFORE UPDATE OF state ON outbox "
               "WHEN new.state = 'sent' AND old.rowid <= 300 "
               "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
  FakeTransport t;
  const DeliveryReport r = f.RunInBatches(t);
  EXPECT_EQ(r.sent, 1100);
  EXPECT_EQ(r.store_errors, 1);
  EXPECT_EQ(f.States()["sent"], 76);
  EXPECT_EQ(f.States()["sending"], 1024);

  test::ExecOn(f.config.daemon.state_path, "DROP TRIGGER refuse_first_rows");
  f.now += 601;
  EXPECT_EQ(f.Run(t).sent, 1024);
  EXPECT_EQ(f.States()["sent"], 1100);
  for (int i = 0; i < 1100; ++i) EXPECT_EQ(t.accepted[ns[i].id], i < 1024 ? 2 : 1) << i;
}

// Rows handed over that the pass does not take (a stop, a notifier it does not send to) are
// pending again when it ends, unattempted, for whoever claims next.
TEST(Issue12, HandedOverRowsAPassDoesNotTakeArePendingAfterIt) {
  Fixture f({Webhook("a", 4)});
  std::vector<Notification> ns;
  for (int i = 0; i < 10; ++i) ns.push_back(PaperNotification(i < 7 ? "a" : "ghost", i));
  f.CommitHandedOver(ns, "test-owner", {"a", "ghost"}, f.now + 600);
  FakeTransport t;
  const DeliveryReport r = f.Run(t);
  EXPECT_EQ(r.sent, 7);
  const auto ghost = f.store->ListOutbox("", "ghost", 10);
  ASSERT_EQ(ghost->size(), 3u);
  for (const OutboxRow& row : *ghost) {
    EXPECT_EQ(row.state, "pending") << row.id;
    EXPECT_EQ(row.lease_owner, "") << row.id;
    EXPECT_EQ(row.attempts, 0) << row.id;
  }

  // A pass stopped before it sends anything hands every row back.
  Fixture g({Webhook("a", 4)});
  g.CommitHandedOver(ns, "o", {"a"}, g.now + 600);
  FakeTransport t2;
  DeliveryOptions o{.owner = "o",
                    .now = [&] { return g.now; },
                    .owner_alive = [](const std::string&) { return true; }};
  DeliveryEngine engine(g.config, *g.store, t2, o);
  engine.Stop();
  engine.Run();
  EXPECT_EQ(t2.count(), 0);
  EXPECT_EQ(g.States()["sending"], 0);
  EXPECT_EQ(g.States()["pending"], 10);
  EXPECT_EQ(g.Run(t2, "o").sent, 7) << "claimed afresh from the state";
}

// Another process leaves the rows handed over to a live owner alone, and takes them over
// once that owner is gone (a `once` killed between its commit and its delivery).
TEST(Issue12, HandedOverRowsAreAnotherProcesssOnlyOnceTheirOwnerIsGone) {
  Fixture f({Webhook("a", 8)});
  std::vector<Notification> ns;
  for (int i = 0; i < 30; ++i) ns.push_back(PaperNotification("a", i));
  f.CommitHandedOver(ns, "first", {"a"}, f.now + 600);
  auto second = StateStore::Open(f.config.daemon.state_path);
  ASSERT_TRUE(second);
  FakeTransport t;
  bool first_alive = true;
  DeliveryOptions o{.owner = "second",
                    .now = [&] { return f.now; },
                    .owner_alive = [&](const std::string& who) {
                      return who != "first" || first_alive;
                    }};
  EXPECT_EQ(DeliveryEngine(f.config, **second, t, o).Run().sent, 0);
  EXPECT_EQ(f.States()["sending"], 30);
  first_alive = false;
  EXPECT_EQ(DeliveryEngine(f.config, **second, t, o).Run().sent, 30);
  for (const Notification& n : ns) EXPECT_EQ(t.accepted[n.id], 1) << n.id;
}

// A pass starts by handing back what its owner still holds in the state, but for the rows a
// commit handed over to it and no claim took yet. A row that was handed over once, handed
// back, and then claimed under the same name from the state is one to hand back.
TEST(Issue12, ReleasingClaimsKeepsOnlyTheRowsStillHandedOver) {
  Fixture f({Webhook("a", 4)});
  std::vector<Notification> first;
  std::vector<Notification> second;
  for (int i = 0; i < 6; ++i) (i < 3 ? first : second).push_back(PaperNotification("a", i));
  f.CommitHandedOver(first, "o", {"a"}, f.now + 600);
  ASSERT_TRUE(f.store->ReleaseHandedOver("o"));
  EXPECT_EQ(f.States()["pending"], 3);
  // Claimed from the state under the same name (a pass whose results were never recorded).
  auto other = StateStore::Open(f.config.daemon.state_path);
  ASSERT_TRUE(other);
  auto claimed = (*other)->ClaimDue("a", f.now, 10, "o", f.now + 600,
                                    [](const std::string&) { return true; });
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 3u);
  f.CommitHandedOver(second, "o", {"a"}, f.now + 600);
  EXPECT_EQ(f.States()["sending"], 6);

  ASSERT_TRUE(f.store->ReleaseClaims("o"));
  for (const Notification& n : first) {
    const auto row = f.store->FindOutbox(n.id);
    ASSERT_TRUE(row && row->size() == 1u);
    EXPECT_EQ((*row)[0].state, "pending") << "claimed from the state: handed back";
  }
  for (const Notification& n : second) {
    const auto row = f.store->FindOutbox(n.id);
    ASSERT_TRUE(row && row->size() == 1u);
    EXPECT_EQ((*row)[0].state, "sending") << "still handed over: held";
  }
  // Now all that "o" holds is handed over (counted, not read one by one): all stay held.
  ASSERT_TRUE(f.store->ReleaseClaims("o"));
  EXPECT_EQ(f.States()["sending"], 3);
  EXPECT_EQ(f.States()["pending"], 3);
  FakeTransport t;
  EXPECT_EQ(f.Run(t, "o").sent, 6);
  for (const Notification& n : first) EXPECT_EQ(t.accepted[n.id], 1) << n.id;
  for (const Notification& n : second) EXPECT_EQ(t.accepted[n.id], 1) << n.id;
}

TEST(Issue7, RetryDelayIsFullJitterBoundedAndHonoursRetryAfter) {
  using std::chrono::seconds;
  EXPECT_EQ(RetryDelay(1, 0.0, std::nullopt), seconds(1)) << "never 0";
  EXPECT_EQ(RetryDelay(1, 0.999999, std::nullopt).count(), 19);
  EXPECT_LE(RetryDelay(30, 0.999999, std::nullopt), seconds(6 * 3600));
  EXPECT_EQ(RetryDelay(1, 0.0, seconds(600)), seconds(600));
  EXPECT_EQ(RetryDelay(3, 0.5, std::nullopt), seconds(40));
}

TEST(Issue7, LeaseOwnerOfThisProcessIsAliveAndAGoneOneIsNot) {
  EXPECT_TRUE(LeaseOwnerAlive(ProcessLeaseOwner()));
  EXPECT_FALSE(LeaseOwnerAlive(std::to_string(::getpid()) + ":1"));
  EXPECT_FALSE(LeaseOwnerAlive("999999999:5"));
  EXPECT_TRUE(LeaseOwnerAlive("another-host-owner"));
  // Issue 14: an owner names its host; this host's dead process is gone, another host's
  // process is alive until its lease ends, and an owner of the older form is this host's.
  const std::string host = ProcessLeaseOwner().substr(0, ProcessLeaseOwner().rfind('/'));
  EXPECT_FALSE(host.empty());
  EXPECT_FALSE(LeaseOwnerAlive(host + "/999999999:5"));
  EXPECT_TRUE(LeaseOwnerAlive("some-other-host/999999999:5"));
  EXPECT_TRUE(LeaseOwnerAlive(host + "/" + std::to_string(::getpid()) + ":" +
                              ProcessLeaseOwner().substr(ProcessLeaseOwner().rfind(':') + 1)));
}

}  // namespace
}  // namespace digestd
