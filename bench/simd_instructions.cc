// Instructions per element of one stats vector kernel in one copy (base,
// avx2, avx512), counted, not timed: docs/BENCHMARKS.md "AVX-512 kernels:
// instructions per element".
//
//   mmrun_simd_instructions KERNEL COPY N          runs KERNEL once on N
//       float32 values (made here, cheaply), for
//       valgrind --tool=callgrind --instr-atstart=no (the call alone is
//       instrumented when valgrind/callgrind.h was found at build time)
//   mmrun_simd_instructions --step KERNEL COPY N   counts the instructions
//       of that one call itself by single-stepping it under ptrace (for the
//       avx512 copy, which valgrind cannot run), less the count of an empty
//       call; prints "KERNEL COPY N instructions per-element".
//
// KERNEL: reduce, fused, tile, fused_tile (10 columns), bin_slots,
// bin_slots_f32, bin_pairs, bin_pairs_f32 (100 bins), key_bits,
// key_matches (3 prefixes), co_moments (10 variables), or none. bin_slots,
// bin_pairs, key_bits, key_matches and co_moments take doubles, converted
// beforehand.
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

#include "analysis/histogram.h"
#include "analysis/quantiles.h"
#include "analysis/stats_simd.h"

namespace {

using mm::simd::KernelTable;

struct Job {
  std::string kernel;
  const KernelTable* table = nullptr;
  uint64_t n = 0;
  std::vector<float> f;
  std::vector<double> d, sum, mn, mx, t, q, shift, c;
  std::vector<int64_t> cnt, nan;
  std::vector<uint32_t> slot, pair, at;
  std::vector<uint64_t> keys, prefix;
  mm::simd::BinGrid grid{};
};

constexpr uint64_t kColumns = 10;

// Roughly normal values around 5 (sums of four uniforms), no NaN.
void Make(Job* j) {
  j->f.resize(j->n);
  uint64_t s = 88172645463325252ull;
  for (uint64_t i = 0; i < j->n; ++i) {
    double u = 0;
    for (int k = 0; k < 4; ++k) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      u += static_cast<double>(s >> 11) * 0x1p-53;
    }
    j->f[i] = static_cast<float>(5 + 2 * (u - 2));
  }
  const std::string& k = j->kernel;
  if (k == "bin_slots" || k == "key_bits" || k == "key_matches" || k == "co_moments")
    j->d.assign(j->f.begin(), j->f.end());
  j->d.resize(j->d.size() + mm::simd::kCoMomentPad);
  for (auto* v : {&j->sum, &j->t, &j->q, &j->shift}) v->assign(kColumns, 0.0);
  j->mn.assign(kColumns, 1e300);
  j->mx.assign(kColumns, -1e300);
  j->cnt.assign(kColumns, 0);
  j->nan.assign(kColumns, 0);
  for (uint64_t i = 0; i < kColumns; ++i) j->shift[i] = 5.0 + 0.01 * static_cast<double>(i);
  j->slot.resize(j->n);
  j->pair.resize(j->n / 2);
  j->at.resize(j->n);
  j->keys.resize(j->n);
  j->c.assign(kColumns * 12, 0.0);
  const mm::BinFinder finder(-3.0, 13.0, 100);
  j->grid = finder.Grid();
  for (uint64_t i : {uint64_t{1}, j->n / 2, j->n - 1})
    j->prefix.push_back(mm::OrderedKey(j->f[i]) >> 48);
}

__attribute__((noinline)) uint64_t RunKernel(Job* j) {
  const KernelTable& k = *j->table;
  const char* p = reinterpret_cast<const char*>(j->f.data());
  const std::string& w = j->kernel;
  const uint64_t rows = j->n / kColumns;
  if (w == "reduce") return static_cast<uint64_t>(k.reduce_f32(p, j->n).n);
  if (w == "fused") return static_cast<uint64_t>(k.fused_f32(p, j->n, 5.0).n);
  if (w == "tile")
    k.tile_f32(p, rows, kColumns, j->sum.data(), j->cnt.data(), j->nan.data(), j->mn.data(),
               j->mx.data());
  if (w == "fused_tile")
    k.fused_tile_f32(p, rows, kColumns, j->shift.data(), j->sum.data(), j->cnt.data(),
                     j->nan.data(), j->mn.data(), j->mx.data(), j->t.data(), j->q.data());
  if (w == "bin_slots") return k.bin_slots(j->d.data(), j->n, j->grid, j->slot.data());
  if (w == "bin_slots_f32") return k.bin_slots_f32(j->f.data(), j->n, j->grid, j->slot.data());
  if (w == "bin_pairs")
    return k.bin_pairs(j->d.data(), j->n, j->grid, j->pair.data(), j->slot.data(), j->at.data())
        .pairs;
  if (w == "bin_pairs_f32")
    return k.bin_pairs_f32(j->f.data(), j->n, j->grid, j->pair.data(), j->slot.data(), j->at.data())
        .pairs;
  if (w == "key_bits") return k.key_bits(j->d.data(), j->n, 48, j->keys.data());
  if (w == "key_matches")
    return k.key_matches(j->d.data(), j->n, 48, j->prefix.data(), j->prefix.size(), j->slot.data());
  if (w == "co_moments") k.co_moments(j->d.data(), rows, kColumns, j->c.data(), 12);
  return static_cast<uint64_t>(j->cnt[0]);
}

const KernelTable* TableNamed(const char* name) {
  int count = 0;
  const mm::simd::NamedTable* t = mm::simd::RunnableTables(&count);
  for (int i = 0; i < count; ++i)
    if (std::strcmp(t[i].name, name) == 0) return t[i].table;
  std::fprintf(stderr, "this CPU cannot run the %s copy\n", name);
  std::exit(2);
}

// The steps a traced child takes from its first SIGSTOP to its second.
long long Steps(Job* j) {
  const pid_t child = fork();
  if (child == 0) {
    ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    raise(SIGSTOP);
    RunKernel(j);
    raise(SIGSTOP);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);  // the first stop
  long long steps = 0;
  for (;;) {
    ptrace(PTRACE_SINGLESTEP, child, nullptr, nullptr);
    waitpid(child, &status, 0);
    if (!WIFSTOPPED(status)) break;
    if (WSTOPSIG(status) == SIGSTOP) break;  // the second stop
    ++steps;
  }
  ptrace(PTRACE_CONT, child, nullptr, nullptr);
  waitpid(child, &status, 0);
  return steps;
}

}  // namespace

int main(int argc, char** argv) {
  const bool step = argc > 1 && std::strcmp(argv[1], "--step") == 0;
  if (argc != 4 + step) {
    std::fprintf(stderr, "usage: %s [--step] KERNEL base|avx2|avx512 N\n", argv[0]);
    return 2;
  }
  Job j;
  j.kernel = argv[1 + step];
  j.table = TableNamed(argv[2 + step]);
  j.n = std::strtoull(argv[3 + step], nullptr, 10);
  Make(&j);
  if (!step) {
    CALLGRIND_START_INSTRUMENTATION;
    const uint64_t r = RunKernel(&j);
    CALLGRIND_STOP_INSTRUMENTATION;
    std::printf("%llu\n", static_cast<unsigned long long>(r));
    return 0;
  }
  const std::string kernel = j.kernel;
  j.kernel = "none";
  const long long empty = Steps(&j);
  j.kernel = kernel;
  const long long steps = Steps(&j) - empty;
  std::printf("%s %s %llu %lld %.4f\n", kernel.c_str(), argv[2 + step],
              static_cast<unsigned long long>(j.n), steps,
              static_cast<double>(steps) / static_cast<double>(j.n));
  return 0;
}
