// Crash consistency of authenticated images (pack --integrity): kill -9 at any moment
// during the guest's writes loses at most the writes in flight; the next boot starts and
// agrees on the root.
//
// The guest kernel guest/programs/disk_writer.c writes its free area round after round
// (stamped sectors, then its state block, then a flush) until the host kills it, and in
// verify mode checks that the disk holds a state the writes could have left behind. The
// test kills a writing VM at pseudo-random moments (a fixed seed) and boots the image in
// verify mode after every kill: the boot must start (IMAGE_CERT settles a write the kill
// cut short and the root agrees with the PSP's NV storage) and the guest must find the
// disk consistent.
//
// Every VM runs in a child process (fork), which is what kill -9 needs anyway: the test's
// own process makes no threads (the platform's are the children's), so forking is safe.
// A child reports its run in a file; a writing child also sends its console lines through
// a pipe as they come, so the parent knows when writing started and which rounds ended.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "common/file_io.h"
#include "crypto/sector_tags.h"
#include "image/boot_volume.h"
#include "lab/world.h"
#include "psp/chip_fuses.h"
#include "psp/nv_storage.h"
#include "psp/status.h"
#include "psp/status_detail.h"
#include "support/temp_dir.h"

namespace cvmsim::lab {
namespace {

namespace fs = std::filesystem;
using crypto::SuiteId;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

Bytes guest(const std::string& name) {
  return read_file(std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin");
}

// Threads of this process (from /proc): the parent must have one when it forks.
int thread_count() {
  std::ifstream in("/proc/self/status");
  const std::string status((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = status.find("\nThreads:");
  return at == std::string::npos ? -1 : std::stoi(status.substr(at + 9));
}

// ---- the child: one VM boot ------------------------------------------------------------

// Copies the guest's console lines to a pipe as they come (what any host sees of the
// console). Non-blocking: a full pipe drops lines rather than stalling the VM.
class ConsoleTap final : public vmm::Misbehaviour {
 public:
  explicit ConsoleTap(int fd) : fd_(fd) {}
  void on_exit(vmm::Platform&, vmm::Vmm&, psp::VmHandle, const hw::VmExit& exit) override {
    if (exit.kind != hw::VmExit::Kind::io_out || exit.port != hw::kConsolePort) return;
    line_.push_back(static_cast<char>(exit.value & 0xff));
    if (line_.back() == '\n') {
      (void)!::write(fd_, line_.data(), line_.size());
      line_.clear();
    }
  }

 private:
  int fd_;
  std::string line_;
};

struct BootPlan {
  const World* world = nullptr;
  vmm::LaunchRequest request;  // image_boot with the disk; host_input = the mode
  fs::path result;             // where the child reports the run
  int console_fd = -1;         // a pipe for the console lines, or -1
};

// In the child: boots, runs, writes "FATE STATUS\n" + the console to plan.result, _exits.
[[noreturn]] void run_child(const BootPlan& plan) {
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
  std::string report;
  try {
    vmm::Platform platform(plan.world->chip_dir());
    vmm::Vmm vmm(platform);
    const psp::VmHandle vm = vmm.launch(plan.request);
    if (plan.console_fd >= 0) {
      (void)::fcntl(plan.console_fd, F_SETFL, O_NONBLOCK);
      vmm.set_misbehaviour(std::make_shared<ConsoleTap>(plan.console_fd));
    }
    vmm::RunLimits limits;
    limits.max_sim_ns = 3600ull * 1'000'000'000;  // a writer runs until it is killed
    limits.host_deadline = Clock::now() + std::chrono::seconds(120);
    const vmm::RunResult r = vmm.run(vm, limits);
    report = fmt::format("{} {}\n{}{}", vmm::to_string(r.fate),
                         r.exit_status ? static_cast<std::int64_t>(*r.exit_status) : -1, r.console,
                         r.detail);
  } catch (const std::exception& e) {
    report = fmt::format("error -1\n{}", e.what());
  }
  try {
    write_text_file_atomic(plan.result, report);
  } catch (...) {
  }
  ::_exit(0);
}

struct ChildRun {
  std::string fate;  // exited, time_limit, ..., "error", or "none" (no report: killed)
  std::int64_t exit_status = -1;
  std::string console;
};

ChildRun read_report(const fs::path& path) {
  ChildRun run{"none", -1, {}};
  std::error_code ec;
  if (!fs::exists(path, ec)) return run;
  const std::string text = read_text_file(path);
  const auto eol = text.find('\n');
  const std::string head = text.substr(0, eol);
  const auto space = head.find(' ');
  run.fate = head.substr(0, space);
  run.exit_status = std::stoll(head.substr(space + 1));
  run.console = eol == std::string::npos ? "" : text.substr(eol + 1);
  fs::remove(path, ec);
  return run;
}

// Waits for a child with a deadline (then kills it); returns the wait status.
int wait_child(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return status;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
}

// The console lines a writing child sends, read with deadlines.
class ConsoleLines {
 public:
  explicit ConsoleLines(int fd) : fd_(fd) {}
  ConsoleLines(const ConsoleLines&) = delete;
  ConsoleLines& operator=(const ConsoleLines&) = delete;
  ~ConsoleLines() { ::close(fd_); }

  // Waits for a line (after those already matched) containing `needle`; false when the
  // child closed the pipe (it ended) or the deadline passed.
  bool wait_for(std::string_view needle, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (bool last = false;;) {
      for (; next_ < lines_.size(); ++next_) {
        if (lines_[next_].find(needle) != std::string::npos) {
          ++next_;
          return true;
        }
      }
      if (eof_ || last) return false;
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        last = true;  // one more look at what already arrived
        left = 0;
      }
      read_some(static_cast<int>(left));
    }
  }
  // Reads what is left once the child is gone.
  void drain() {
    while (!eof_) read_some(1000);
  }
  // The last round the guest reported done (0: none).
  [[nodiscard]] std::uint64_t last_round_done() const {
    static const std::regex kDone(R"(disk_writer: round (\d+) done)");
    std::uint64_t last = 0;
    std::smatch m;
    for (const std::string& line : lines_) {
      if (std::regex_search(line, m, kDone))
        last = std::max<std::uint64_t>(last, std::stoull(m[1].str()));
    }
    return last;
  }
  [[nodiscard]] std::string text() const {
    std::string all;
    for (const std::string& line : lines_) all += line + "\n";
    return all;
  }

 private:
  void read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return;
    char buffer[4096];
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n <= 0) {
      if (n == 0 || errno != EINTR) eof_ = true;
      return;
    }
    partial_.append(buffer, static_cast<std::size_t>(n));
    for (auto eol = partial_.find('\n'); eol != std::string::npos; eol = partial_.find('\n')) {
      lines_.push_back(partial_.substr(0, eol));
      partial_.erase(0, eol + 1);
    }
  }

  int fd_;
  std::string partial_;
  std::vector<std::string> lines_;
  std::size_t next_ = 0;
  bool eof_ = false;
};

// ---- the parent's view of the PSP's NV storage ------------------------------------------

struct NvPeek {
  bool loaded = false;          // the storage loads (sealed, not rolled back)
  bool record = false;          // the image has a record
  bool pending = false;         // ... with a write announced and not committed
  bool counter_behind = false;  // storage.bin one ahead of counter.bin (killed in between)
  std::uint64_t version = 0;
  Bytes root;                  // the committed root (empty: no record)
  std::size_t temp_files = 0;  // write_file_atomic's leftovers: killed inside a store
  std::optional<psp::PendingDiskWrite> pending_write;
};

// Reads a copy of the storage (loading repairs a counter left behind; the copy keeps the
// chip's files exactly as the kill left them for the next boot to find).
NvPeek peek_nv(const fs::path& nv_dir, const fs::path& scratch, SuiteId suite, const Bytes& key,
               const std::array<std::uint8_t, 16>& uuid) {
  NvPeek peek;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(nv_dir, ec)) {
    if (entry.path().filename().string().starts_with(".")) ++peek.temp_files;
  }
  fs::remove_all(scratch, ec);
  fs::create_directories(scratch);
  for (const char* name : {"storage.bin", "counter.bin"}) {
    if (fs::exists(nv_dir / name)) fs::copy_file(nv_dir / name, scratch / name);
  }
  const Bytes counter_before =
      fs::exists(scratch / "counter.bin") ? read_file(scratch / "counter.bin") : Bytes{};
  psp::NvStorage nv(scratch, suite, key);
  peek.loaded = nv.load() == psp::NvFault::none;
  if (const psp::DiskRecord* record = nv.find(uuid)) {
    peek.record = true;
    peek.pending = record->pending.has_value();
    peek.pending_write = record->pending;
    peek.version = record->version;
    peek.root = record->root;
  }
  peek.counter_behind =
      fs::exists(scratch / "counter.bin") && read_file(scratch / "counter.bin") != counter_before;
  return peek;
}

Bytes slice(const Bytes& bytes, std::uint64_t offset, std::uint64_t length) {
  return {bytes.begin() + static_cast<std::ptrdiff_t>(offset),
          bytes.begin() + static_cast<std::ptrdiff_t>(offset + length)};
}

void put(Bytes& bytes, std::uint64_t offset, const Bytes& part) {
  std::copy(part.begin(), part.end(), bytes.begin() + static_cast<std::ptrdiff_t>(offset));
}

// What the host sees while a stopped writer stands still.
struct Moment {
  NvPeek nv;
  Bytes image;                     // the image file
  bool disk_ahead = false;         // its tags give another root than the committed one
  std::size_t new_temp_files = 0;  // temporary files of a store in progress
};

// ---- the scenario ----------------------------------------------------------------------

struct Verified {
  std::uint64_t round = 0;     // the state block's round R
  std::uint64_t at_next = 0;   // sectors at R+1
  std::uint64_t done = 0;      // requests of round R+1 complete
  std::uint64_t requests = 0;  // requests a round
  std::uint64_t torn = 0;      // requests found partly written
};

class CrashLab {
 public:
  CrashLab(SuiteId suite, std::uint32_t sector_size, bool integrity)
      : world_(dir_.path(), suite), image_(dir_.path() / "disk.img") {
    ImageSpec spec;
    spec.volume.kernel = guest("disk_writer");
    spec.volume.free_space = 1u << 20;
    spec.sector_size = sector_size;
    spec.integrity = integrity;
    packed_ = world_.make_image(spec, image_);
    sector_size_ = sector_size;
    free_start_ = image::build_boot_volume(spec.volume).size() - spec.volume.free_space;
    firmware_ = guest("image_boot");
    request_ = world_.launch_request(firmware_);
    request_.disk = image_;
    const psp::ChipFuses fuses = psp::load_chip_fuses(world_.chip_dir());
    nv_dir_ = fuses.nv_dir;
    seal_key_ = psp::derive_nv_seal_key(fuses.wrapping_key);
  }

  [[nodiscard]] const fs::path& image() const { return image_; }
  [[nodiscard]] const fs::path& nv_dir() const { return nv_dir_; }
  [[nodiscard]] const image::PackResult& packed() const { return packed_; }
  // Where the guest's free area starts in the image file (the first extent).
  [[nodiscard]] std::uint64_t free_area_offset() const { return packed_.data_offset + free_start_; }

  // Boots in verify mode in a child and returns its run.
  ChildRun verify(bool writable) {
    BootPlan plan{&world_, request_, dir_.path() / "verify.result", -1};
    plan.request.host_input = Bytes{'v'};
    plan.request.disk_writable = writable;
    const pid_t pid = ::fork();
    if (pid == 0) run_child(plan);
    if (pid < 0) return {"fork failed", -1, {}};
    (void)wait_child(pid, std::chrono::seconds(300));
    return read_report(plan.result);
  }

  // Starts a writing child; `until` decides when to kill it (it gets the console lines, the
  // fork time and the child). Returns the child's wait status and console lines.
  struct Killed {
    int status = 0;
    std::uint64_t last_round_done = 0;
    std::string console;   // the lines sent, or the report when the child ended by itself
    bool started = false;  // it printed "writing from round" before the kill
  };
  template <typename Until>
  Killed write_and_kill(Until until) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return {-1, 0, "pipe failed", false};
    BootPlan plan{&world_, request_, dir_.path() / "write.result", fds[1]};
    plan.request.host_input = Bytes{'w'};
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      run_child(plan);
    }
    ::close(fds[1]);
    if (pid < 0) {
      ::close(fds[0]);
      return {-1, 0, "fork failed", false};
    }
    ConsoleLines lines(fds[0]);
    until(lines, Clock::now(), pid);
    ::kill(pid, SIGKILL);
    Killed k;
    k.status = wait_child(pid, std::chrono::seconds(60));
    lines.drain();
    k.last_round_done = lines.last_round_done();
    k.console = lines.text();
    k.started = k.console.find("disk_writer: writing from round") != std::string::npos;
    if (!(WIFSIGNALED(k.status) && WTERMSIG(k.status) == SIGKILL)) {
      const ChildRun r = read_report(plan.result);
      k.console += fmt::format("[ended by itself: {} {}]\n{}", r.fate, r.exit_status, r.console);
    }
    return k;
  }

  NvPeek peek() {
    return peek_nv(nv_dir_, dir_.path() / "nv-copy", world_.suite(), seal_key_, packed_.uuid);
  }

  // The NV storage and the image as they are now (the writer stopped or dead).
  Moment moment(std::size_t temp_files_before) {
    Moment m;
    m.nv = peek();
    m.image = read_file(image_);
    const std::uint64_t tags = packed_.data_length / sector_size_ * crypto::kSectorTagSize;
    const crypto::TagTree tree(world_.suite(), slice(m.image, packed_.integrity->tag_offset, tags));
    const ByteView root = tree.root();
    const Bytes committed =
        m.nv.record ? m.nv.root
                    : Bytes(packed_.integrity->root.begin(), packed_.integrity->root.end());
    m.disk_ahead = !std::equal(root.begin(), root.end(), committed.begin(), committed.end());
    m.new_temp_files =
        m.nv.temp_files > temp_files_before ? m.nv.temp_files - temp_files_before : 0;
    return m;
  }

  // Runs a writer and stops it (SIGSTOP) again and again at random moments after it
  // started writing; while it stands still, `watch` sees the moment and returns true to
  // kill it there (a stopped process dies exactly where it stood). Gives up (and kills it)
  // when the writer reports round `last_round` done. `stops` counts the moments seen.
  template <typename Watch>
  Killed kill_at_a_moment(Watch watch, std::uint64_t last_round, unsigned seed, int& stops) {
    const std::size_t temp_files = peek().temp_files;
    const std::string give_up = fmt::format("disk_writer: round {} done", last_round);
    return write_and_kill([&](ConsoleLines& lines, Clock::time_point, pid_t pid) {
      if (!lines.wait_for("disk_writer: writing from round", milliseconds(120'000))) return;
      std::mt19937 rng(seed);
      std::uniform_int_distribution<int> pause_us(0, 3000);
      for (;;) {
        std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
        ::kill(pid, SIGSTOP);
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, WSTOPPED | WEXITED | WNOWAIT) != 0 ||
            info.si_code != CLD_STOPPED) {
          return;  // it ended
        }
        ++stops;
        if (watch(moment(temp_files))) return;
        ::kill(pid, SIGCONT);
        if (lines.wait_for(give_up, milliseconds(0))) return;
      }
    });
  }

 private:
  test::TempDir dir_;
  World world_;
  fs::path image_;
  image::PackResult packed_;
  std::uint32_t sector_size_ = 0;
  std::uint64_t free_start_ = 0;
  Bytes firmware_;
  vmm::LaunchRequest request_;
  fs::path nv_dir_;
  Bytes seal_key_;
};

std::optional<Verified> consistent(const ChildRun& run) {
  static const std::regex kLine(
      R"(disk_writer: consistent, state round (\d+), sectors at \d+: (\d+), requests done: (\d+) of (\d+), torn requests: (\d+))");
  std::smatch m;
  if (run.fate != "exited" || run.exit_status != 0 || !std::regex_search(run.console, m, kLine)) {
    return std::nullopt;
  }
  return Verified{std::stoull(m[1].str()), std::stoull(m[2].str()), std::stoull(m[3].str()),
                  std::stoull(m[4].str()), std::stoull(m[5].str())};
}

bool killed_by_us(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

struct Param {
  SuiteId suite;
  std::uint32_t sector_size;
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << crypto::to_string(p.suite) << "_" << p.sector_size;
}

class CrashConsistency : public ::testing::TestWithParam<Param> {};

// kill -9 at random moments while the guest writes: every next boot starts (the root
// agrees, a write cut short is settled) and finds every completed write and nothing torn
// but the writes in flight.
TEST_P(CrashConsistency, KillNineAtRandomMomentsLosesOnlyTheWritesInFlight) {
  constexpr int kKills = 12;
  ASSERT_EQ(thread_count(), 1) << "the test forks: its own process must have one thread";
  CrashLab lab(GetParam().suite, GetParam().sector_size, /*integrity=*/true);
  std::mt19937 rng(0x5eed0000u + GetParam().sector_size + static_cast<unsigned>(GetParam().suite));
  // Kills land at a random fraction of a round's time after the guest started writing (the
  // first writer measures a round: the fractions then cover whole rounds, their state block
  // writes and flushes, on a fast or a slow host alike), or, every fourth, at a random time
  // after the fork: while the VM boots, and settles the write the previous kill cut short
  // (the verify boot before it ran read-only and left the write pending).
  std::uniform_real_distribution<double> fraction(0.02, 1.25);
  std::uniform_int_distribution<int> early_ms(0, 150);

  int with_pending = 0, mid_round = 0, torn = 0, counter_behind = 0, in_store = 0, early = 0;
  std::uint64_t round = 0;  // the state block's round after the last verify
  std::size_t temp_files = 0;
  double round_ms = 0;  // a round's time, measured by the first writer
  std::string log;
  for (int i = 0; i < kKills; ++i) {
    const bool kill_early = i % 4 == 3;
    const double f = fraction(rng);
    const int early_delay = early_ms(rng);
    int delay = 0;
    bool on_time = true;
    const auto killed =
        lab.write_and_kill([&](ConsoleLines& lines, Clock::time_point forked, pid_t) {
          if (kill_early) {
            delay = early_delay;
            std::this_thread::sleep_until(forked + milliseconds(delay));
            return;
          }
          on_time = lines.wait_for("disk_writer: writing from round", milliseconds(120'000));
          if (on_time && i == 0) {
            // The first writer completes a round (the rounds must progress) and times it.
            const auto started = Clock::now();
            on_time = lines.wait_for("done", milliseconds(120'000));
            round_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
          }
          delay = std::max(5, static_cast<int>(f * round_ms));
          std::this_thread::sleep_for(milliseconds(delay));
        });
    SCOPED_TRACE(fmt::format("kill {} ({} ms {})", i, delay,
                             kill_early ? "after the fork" : "after writing started"));
    ASSERT_TRUE(killed_by_us(killed.status)) << "the writer ended before the kill:\n"
                                             << killed.console;
    ASSERT_TRUE(on_time) << "the writer did not start writing:\n" << killed.console;
    early += killed.started ? 0 : 1;

    const NvPeek nv = lab.peek();
    ASSERT_TRUE(nv.loaded) << "the kill left an NV storage that does not load";
    const bool killed_in_store = nv.temp_files > temp_files;
    temp_files = nv.temp_files;
    with_pending += nv.pending ? 1 : 0;
    counter_behind += nv.counter_behind ? 1 : 0;
    in_store += killed_in_store ? 1 : 0;

    const bool writable = i % 2 == 1;
    const ChildRun run = lab.verify(writable);
    const auto v = consistent(run);
    ASSERT_TRUE(v.has_value()) << "the boot after kill " << i << " (NV: record " << nv.record
                               << ", pending " << nv.pending << ") failed: " << run.fate << " "
                               << run.exit_status << "\n"
                               << run.console << "\nthe writer's console:\n"
                               << killed.console;
    // A completed round is never lost (its state block was written and flushed), the state
    // never moves back, and it is at most one round (the one in flight) ahead of the last
    // round the writer reported.
    EXPECT_GE(v->round, killed.last_round_done) << run.console;
    EXPECT_GE(v->round, round) << run.console;
    EXPECT_LE(v->round, std::max(round, killed.last_round_done) + 1) << run.console;
    EXPECT_LE(v->torn, 1u);
    round = v->round;
    mid_round += v->at_next > 0 ? 1 : 0;
    torn += v->torn > 0 ? 1 : 0;
    log += fmt::format(
        "  kill {:2}: {:4} ms{} | NV {:>7}{}{} | state round {:3}, requests of the "
        "next done {:2}/{}, sectors at R+1 {:3}{}\n",
        i, delay, kill_early ? " after fork " : " after start", nv.pending ? "pending" : "clean",
        nv.counter_behind ? ", counter behind" : "", killed_in_store ? ", in a store" : "",
        v->round, v->done, v->requests, v->at_next, v->torn > 0 ? ", torn request" : "");
  }
  EXPECT_GE(round, 1u) << "no round completed across the kills";
  std::printf(
      "crash consistency (%s, %u-byte sectors): %d kills, %d with a write pending in the "
      "NV storage, %d mid-round, %d with a torn request, %d between storage and counter, "
      "%d inside an NV store, %d during boot; a round took %.0f ms; final round %llu\n%s",
      std::string(crypto::to_string(GetParam().suite)).c_str(), GetParam().sector_size, kKills,
      with_pending, mid_round, torn, counter_behind, in_store, early, round_ms,
      static_cast<unsigned long long>(round), log.c_str());
  RecordProperty("kills", kKills);
  RecordProperty("kills_with_pending_write", with_pending);
  RecordProperty("kills_mid_round", mid_round);
  RecordProperty("kills_torn_request", torn);
  RecordProperty("final_round", static_cast<int>(round));
  RecordProperty("round_ms", static_cast<int>(round_ms));
}

INSTANTIATE_TEST_SUITE_P(SuitesAndSectors, CrashConsistency,
                         ::testing::Values(Param{SuiteId::sm, 4096}, Param{SuiteId::sm, 512},
                                           Param{SuiteId::nist, 4096}),
                         [](const auto& param_info) {
                           return fmt::format("{}_{}", crypto::to_string(param_info.param.suite),
                                              param_info.param.sector_size);
                         });

bool refused_with(const ChildRun& run, std::uint32_t status, psp::DiskRootDetail detail) {
  return run.exit_status == 12 &&
         run.console.find(fmt::format("IMAGE_CERT failed: PSP status {} (detail {})", status,
                                      static_cast<std::uint64_t>(detail))) != std::string::npos;
}

// The verify boot is not trivially passing: after a kill, a host that puts back the tag
// area, the whole image or the NV storage of an earlier moment is refused with
// disk_rolled_back (23), and with everything as the kill left it the boot starts again.
TEST(CrashConsistencyControls, RollingBackTagsImageOrStorageAfterAKillIsRefused) {
  ASSERT_EQ(thread_count(), 1);
  CrashLab lab(SuiteId::sm, 4096, /*integrity=*/true);
  const auto after_round = [](std::uint64_t n) {
    return [n](ConsoleLines& lines, Clock::time_point, pid_t) {
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!lines.wait_for("done", milliseconds(120'000))) return;
      }
      std::this_thread::sleep_for(milliseconds(30));  // into the next round
    };
  };
  const auto first = lab.write_and_kill(after_round(1));
  ASSERT_TRUE(killed_by_us(first.status)) << first.console;
  ASSERT_TRUE(consistent(lab.verify(true)).has_value());
  const Bytes old_image = read_file(lab.image());
  const Bytes old_storage = read_file(lab.nv_dir() / "storage.bin");

  const auto second = lab.write_and_kill(after_round(1));
  ASSERT_TRUE(killed_by_us(second.status)) << second.console;
  const Bytes image = read_file(lab.image());
  const Bytes storage = read_file(lab.nv_dir() / "storage.bin");
  const auto rolled_back = static_cast<std::uint32_t>(psp::Status::disk_rolled_back);

  // The tag area of the earlier moment: the tags give another root than the PSP's record
  // (and a write still pending cannot be settled against them either).
  Bytes tags_back = image;
  const std::uint64_t tag_offset = lab.packed().integrity->tag_offset;
  std::copy(old_image.begin() + static_cast<std::ptrdiff_t>(tag_offset), old_image.end(),
            tags_back.begin() + static_cast<std::ptrdiff_t>(tag_offset));
  write_file_atomic(lab.image(), tags_back);
  const ChildRun tags_run = lab.verify(false);
  EXPECT_TRUE(refused_with(tags_run, rolled_back, psp::DiskRootDetail::root_mismatch) ||
              refused_with(tags_run, rolled_back, psp::DiskRootDetail::unsettled_write))
      << tags_run.exit_status << "\n"
      << tags_run.console;

  // The whole image (data and tags, consistent with each other) of the earlier moment.
  write_file_atomic(lab.image(), old_image);
  const ChildRun image_run = lab.verify(false);
  EXPECT_TRUE(refused_with(image_run, rolled_back, psp::DiskRootDetail::root_mismatch))
      << image_run.exit_status << "\n"
      << image_run.console;

  // The image as the kill left it, with the NV storage of the earlier moment: older than
  // the PSP's counter.
  write_file_atomic(lab.image(), image);
  write_file_atomic(lab.nv_dir() / "storage.bin", old_storage, 0600);
  const ChildRun storage_run = lab.verify(false);
  EXPECT_TRUE(refused_with(storage_run, rolled_back, psp::DiskRootDetail::storage_refused))
      << storage_run.exit_status << "\n"
      << storage_run.console;

  // Everything as the kill left it: the boot starts and the disk is consistent.
  write_file_atomic(lab.nv_dir() / "storage.bin", storage, 0600);
  const ChildRun run = lab.verify(true);
  const auto v = consistent(run);
  ASSERT_TRUE(v.has_value()) << run.console;
  EXPECT_GE(v->round, second.last_round_done);
}

// Random kills hit the short windows of the write protocol by chance only, so the writer is
// also stopped (SIGSTOP) at random moments until the host sees it in each window, and
// killed there: a write announced in the NV storage with the disk still at the committed
// root (sectors being written, or not yet); the disk's tags ahead of the committed root
// (the commit not yet stored); a store of the NV storage in progress; storage.bin one ahead
// of counter.bin. At every moment seen, the disk is ahead of the committed root only while
// a write is announced. After each kill the next boot starts and the disk is consistent.
TEST(CrashConsistencyWindows, AKillInEachWindowOfTheWriteProtocolIsSettled) {
  ASSERT_EQ(thread_count(), 1);
  CrashLab lab(SuiteId::sm, 4096, /*integrity=*/true);
  struct Window {
    const char* name;
    bool (*in)(const Moment&);
  };
  const Window windows[] = {
      {"a write announced, the disk at the committed root",
       [](const Moment& m) { return m.nv.pending && !m.disk_ahead; }},
      {"the disk ahead of the committed root", [](const Moment& m) { return m.disk_ahead; }},
      {"inside a store of the NV storage", [](const Moment& m) { return m.new_temp_files > 0; }},
      {"storage.bin one ahead of counter.bin", [](const Moment& m) { return m.nv.counter_behind; }},
  };
  std::uint64_t round = 0;
  unsigned seed = 11;
  std::string log;
  for (const Window& window : windows) {
    SCOPED_TRACE(window.name);
    int stops = 0;
    int unannounced = 0;  // moments with the disk ahead and no write announced
    bool caught = false;
    const auto killed = lab.kill_at_a_moment(
        [&](const Moment& m) {
          if (m.disk_ahead && !m.nv.pending) ++unannounced;
          caught = window.in(m);
          return caught;
        },
        round + 2, seed++, stops);
    ASSERT_TRUE(killed_by_us(killed.status)) << killed.console;
    EXPECT_EQ(unannounced, 0) << "the disk's tags were ahead of the committed root with no "
                                 "write announced in the NV storage";
    ASSERT_TRUE(caught) << "never seen in " << stops << " moments (through round " << round + 2
                        << ")\n"
                        << killed.console;
    const ChildRun run = lab.verify(true);
    const auto v = consistent(run);
    ASSERT_TRUE(v.has_value()) << "the boot after a kill " << window.name
                               << " failed: " << run.exit_status << "\n"
                               << run.console;
    EXPECT_GE(v->round, killed.last_round_done);
    EXPECT_GE(v->round, round);
    round = v->round;
    log += fmt::format("  {}: after {} moments; state round {}, requests of the next done {}/{}\n",
                       window.name, stops, v->round, v->done, v->requests);
  }
  std::printf("kills in the windows of the write protocol:\n%s", log.c_str());
}

// A kill inside the controller's write of a request's sectors (the page cache takes a
// pwrite page by page, and kill -9 may stop it between two), which random kills almost
// never hit: the test stops the writer (SIGSTOP) at random moments of its first round until
// the NV storage holds a pending multi-sector write whose sectors and tags are all on disk,
// kills it there, and puts back the old ciphertext of the second half of the sectors and
// the old tags: the disk a kill after half the sectors leaves. The next boot must settle
// each sector on its own tag (the guest sees one torn request); with one sector that
// matches neither tag, the boot is refused (unsettled_write).
TEST(CrashConsistencyTorn, AWriteCutShortInsideItsSectorsSettlesSectorBySector) {
  ASSERT_EQ(thread_count(), 1);
  constexpr std::uint32_t kSector = 4096;
  constexpr std::uint64_t kTag = crypto::kSectorTagSize;
  CrashLab lab(SuiteId::sm, kSector, /*integrity=*/true);
  const Bytes fresh = read_file(lab.image());
  const std::uint64_t data_offset = lab.packed().data_offset;
  const std::uint64_t tag_offset = lab.packed().integrity->tag_offset;
  std::optional<psp::PendingDiskWrite> caught;
  int stops = 0;
  const auto killed = lab.kill_at_a_moment(
      [&](const Moment& m) {
        if (!m.nv.pending_write || m.nv.pending_write->old_tags.size() < 2 * kTag) return false;
        const psp::PendingDiskWrite& w = *m.nv.pending_write;
        const std::uint64_t tags_at = tag_offset + w.first_sector * kTag;
        // Round 1 writes every sector for the first time: the packed image holds the old.
        if (slice(m.image, tags_at, w.new_tags.size()) != w.new_tags ||
            slice(fresh, tags_at, w.old_tags.size()) != w.old_tags) {
          return false;
        }
        caught = w;
        return true;
      },
      /*last_round=*/1, /*seed=*/7, stops);
  ASSERT_TRUE(killed_by_us(killed.status)) << killed.console;
  ASSERT_TRUE(caught.has_value()) << "no pending multi-sector write caught in round 1 (" << stops
                                  << " stops)\n"
                                  << killed.console;
  const std::uint64_t count = caught->old_tags.size() / kTag;
  const std::uint64_t kept = count / 2;  // sectors the cut-short write reached
  Bytes torn = read_file(lab.image());
  for (std::uint64_t k = kept; k < count; ++k) {
    const std::uint64_t at = data_offset + (caught->first_sector + k) * kSector;
    put(torn, at, slice(fresh, at, kSector));
  }
  const std::uint64_t tags_at = tag_offset + caught->first_sector * kTag;
  put(torn, tags_at, slice(fresh, tags_at, count * kTag));

  // One sector matching neither tag (another sector's ciphertext): refused, read-only.
  Bytes garbled = torn;
  const std::uint64_t bad = data_offset + (caught->first_sector + kept) * kSector;
  put(garbled, bad, slice(fresh, bad + kSector, kSector));
  write_file_atomic(lab.image(), garbled);
  const ChildRun refused = lab.verify(false);
  EXPECT_TRUE(refused_with(refused, static_cast<std::uint32_t>(psp::Status::disk_rolled_back),
                           psp::DiskRootDetail::unsettled_write))
      << refused.exit_status << "\n"
      << refused.console;

  // The torn write itself: settled sector by sector.
  write_file_atomic(lab.image(), torn);
  const ChildRun run = lab.verify(true);
  const auto v = consistent(run);
  ASSERT_TRUE(v.has_value()) << run.console;
  EXPECT_EQ(v->round, 0u);
  EXPECT_EQ(v->torn, 1u) << run.console;
  EXPECT_FALSE(lab.peek().pending) << "the settled write is committed";
  // The settled tags are in the file: the next boot finds the same, with nothing pending.
  const auto again = consistent(lab.verify(true));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->at_next, v->at_next);
  EXPECT_EQ(again->torn, 1u);
  std::printf("torn write: caught after %d stops, %llu sectors from sector %llu, %llu kept\n",
              stops, static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(caught->first_sector),
              static_cast<unsigned long long>(kept));
}

// The guest's own check is not vacuous either: on an image without integrity (nothing
// stops the host), putting back the packed image's first extent after two rounds leaves
// sectors of round 0 under a state block of round >= 2, which verify reports (exit 31).
TEST(CrashConsistencyControls, TheGuestFindsStaleSectorsTheHostPutBackOnAPlainImage) {
  ASSERT_EQ(thread_count(), 1);
  CrashLab lab(SuiteId::sm, 4096, /*integrity=*/false);
  const Bytes fresh = read_file(lab.image());
  const auto killed = lab.write_and_kill([](ConsoleLines& lines, Clock::time_point, pid_t) {
    (void)lines.wait_for("round 2 done", milliseconds(120'000));
  });
  ASSERT_TRUE(killed_by_us(killed.status)) << killed.console;
  ASSERT_GE(killed.last_round_done, 2u) << killed.console;
  const auto before = consistent(lab.verify(true));
  ASSERT_TRUE(before.has_value());
  ASSERT_GE(before->round, 2u);

  Bytes image = read_file(lab.image());
  const auto extent = static_cast<std::ptrdiff_t>(lab.free_area_offset());
  std::copy(fresh.begin() + extent, fresh.begin() + extent + 0x10000, image.begin() + extent);
  write_file_atomic(lab.image(), image);
  const ChildRun run = lab.verify(true);
  EXPECT_EQ(run.exit_status, 31) << run.console;
  EXPECT_NE(run.console.find("disk_writer: INCONSISTENT sector"), std::string::npos) << run.console;
}

}  // namespace
}  // namespace cvmsim::lab
