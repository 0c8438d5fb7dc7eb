// The crash lab shared by the crash-consistency tests (crash_consistency_test.cc,
// crash_windows_test.cc): authenticated images (pack --integrity) must lose at most the
// writes in flight when kill -9 stops a writing VM, and the next boot must start and agree
// on the root.
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
#pragma once

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

namespace cvmsim::lab::crash_test {

namespace fs = std::filesystem;
using crypto::SuiteId;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

inline Bytes guest(const std::string& name) {
  return read_file(std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin");
}

// Threads of this process (from /proc): the parent must have one when it forks.
inline int thread_count() {
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
[[noreturn]] inline void run_child(const BootPlan& plan) {
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

inline ChildRun read_report(const fs::path& path) {
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
inline int wait_child(pid_t pid, std::chrono::seconds limit) {
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
inline NvPeek peek_nv(const fs::path& nv_dir, const fs::path& scratch, SuiteId suite,
                      const Bytes& key, const std::array<std::uint8_t, 16>& uuid) {
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

inline Bytes slice(const Bytes& bytes, std::uint64_t offset, std::uint64_t length) {
  return {bytes.begin() + static_cast<std::ptrdiff_t>(offset),
          bytes.begin() + static_cast<std::ptrdiff_t>(offset + length)};
}

inline void put(Bytes& bytes, std::uint64_t offset, const Bytes& part) {
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

inline std::optional<Verified> consistent(const ChildRun& run) {
  static const std::regex kLine(
      R"(disk_writer: consistent, state round (\d+), sectors at \d+: (\d+), requests done: (\d+) of (\d+), torn requests: (\d+))");
  std::smatch m;
  if (run.fate != "exited" || run.exit_status != 0 || !std::regex_search(run.console, m, kLine)) {
    return std::nullopt;
  }
  return Verified{std::stoull(m[1].str()), std::stoull(m[2].str()), std::stoull(m[3].str()),
                  std::stoull(m[4].str()), std::stoull(m[5].str())};
}

inline bool killed_by_us(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// A verify boot refused at IMAGE_CERT with `status` and `detail`.
inline bool refused_with(const ChildRun& run, std::uint32_t status, psp::DiskRootDetail detail) {
  return run.exit_status == 12 &&
         run.console.find(fmt::format("IMAGE_CERT failed: PSP status {} (detail {})", status,
                                      static_cast<std::uint64_t>(detail))) != std::string::npos;
}

}  // namespace cvmsim::lab::crash_test
