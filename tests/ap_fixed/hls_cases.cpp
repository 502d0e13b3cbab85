// Generates ap_fixed cases and their results under Vitis HLS's own
// `ap_fixed.h` (the C-simulation model, as shipped in the hls4ml wheel), for
// tests/ap_fixed_hls.rs to compare with hetbench's emulation bit for bit.
// Built and run by that test: one object per format size (g++ -std=c++14
// -I<ap_types> -DPART=k -c, k < NSIZES) and one without PART for main.
//
// Output, one case a line (raw values are signed decimal integers of the
// format's W bits; F lines name a format before its cases):
//   F idx W I Q O              a format (Q, O as ap_fixed spells them)
//   G sidx W I                 a cast source format
//   D idx bits raw             T x = <double with these hex bits>
//   M idx a b raw              T r = a * b
//   A idx a b raw              T r = a + b
//   B idx a b raw              T r = a - b
//   R idx a raw                T r = T(1) / a
//   C idx sidx hi lo raw       T r = s (s raw = hi:lo, 128-bit hex halves)
//   P idx fits k a1 b1 .. raw  acc += a_i * b_i in an exact accumulator, T r = acc
//   E idx fits c a b raw       T r = c + a * b
// `fits`: 1 when every exact intermediate fits a signed 128-bit integer.
#include <ap_fixed.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

static uint64_t rng_state = 0x853c49e6748fea9bull;

// splitmix64: deterministic across platforms.
static uint64_t next_u64() {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t below(uint64_t n) { return next_u64() % n; }

// The low w bits of v, sign-extended.
static int64_t sext(uint64_t v, int w) {
  if (w >= 64) return (int64_t)v;
  uint64_t m = 1ull << (w - 1);
  v &= (m << 1) - 1;
  return (int64_t)((v ^ m) - m);
}

static int64_t raw_min(int w) { return w >= 64 ? INT64_MIN : -(int64_t(1) << (w - 1)); }
static int64_t raw_max(int w) { return w >= 64 ? INT64_MAX : (int64_t(1) << (w - 1)) - 1; }

// A raw value of a W-bit format: edges, full range, small magnitudes.
static int64_t rand_raw(int w) {
  switch (below(10)) {
    case 0: {
      const int64_t edges[] = {raw_min(w), raw_min(w) + 1, -1, 0, 1, raw_max(w) - 1, raw_max(w)};
      return sext((uint64_t)edges[below(7)], w);
    }
    case 1:
    case 2:
    case 3:
    case 4:
      return sext(next_u64(), w);
    default: {
      int bits = 1 + (int)below((uint64_t)w);
      return sext(next_u64() >> (64 - bits), w) >> (bits > 1 ? below(2) : 0);
    }
  }
}

template <class T>
T from_raw(int64_t raw) {
  ap_int<T::width> r = (ap_slong)raw;
  T x;
  x.V = r.V;
  return x;
}

template <class T>
long long raw_of(const T& x) {
  ap_int<T::width> r;
  r.V = x.V;
  return (long long)r.to_int64();
}

static const char* q_name(ap_q_mode q) {
  switch (q) {
    case AP_TRN: return "AP_TRN";
    case AP_TRN_ZERO: return "AP_TRN_ZERO";
    case AP_RND: return "AP_RND";
    case AP_RND_ZERO: return "AP_RND_ZERO";
    case AP_RND_MIN_INF: return "AP_RND_MIN_INF";
    case AP_RND_INF: return "AP_RND_INF";
    default: return "AP_RND_CONV";
  }
}

static const char* o_name(ap_o_mode o) {
  switch (o) {
    case AP_WRAP: return "AP_WRAP";
    case AP_SAT: return "AP_SAT";
    case AP_SAT_ZERO: return "AP_SAT_ZERO";
    default: return "AP_SAT_SYM";
  }
}

static double from_bits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}

static uint64_t to_bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}

// The doubles a format of W bits and F fraction bits is converted from.
static int doubles(int w, int f, double* out) {
  int n = 0;
  const uint64_t specials[] = {
      0x0000000000000000ull, 0x8000000000000000ull,  // +-0
      0x7ff0000000000000ull, 0xfff0000000000000ull,  // +-inf
      0x7ff8000000000000ull, 0xfff8000000000000ull,  // quiet NaN, both signs
      0x7ff0000000000001ull, 0xfff4000000000123ull,  // NaN payloads
      0x0000000000000001ull, 0x8000000000000001ull,  // smallest subnormals
      0x000fffffffffffffull, 0x800abcdef0123456ull,  // larger subnormals
      0x7fefffffffffffffull, 0xffefffffffffffffull,  // +-DBL_MAX
  };
  for (uint64_t b : specials) out[n++] = from_bits(b);
  // Powers of two across the format and far beyond it (2^126 and up).
  for (int e = -f - 3; e <= w - f + 3; e++) {
    out[n++] = std::ldexp(1.0, e);
    out[n++] = -std::ldexp(1.0, e);
  }
  const int far[] = {60, 63, 64, 73, 74, 100, 125, 126, 127, 128, 129, 200, 1000, 1023};
  for (int e : far) {
    out[n++] = std::ldexp(1.0, e);
    out[n++] = -std::ldexp(1.0, e);
    out[n++] = std::ldexp(1.0 + std::ldexp((double)(next_u64() >> 12), -52), e);
    out[n++] = -std::ldexp(1.0 + std::ldexp((double)(next_u64() >> 12), -52), e);
  }
  // The range's edges, one LSB and half an LSB beyond.
  const double mn = (double)raw_min(w), mx = (double)raw_max(w);
  const double edges[] = {mn, mn - 1, mn - 0.5, mn + 0.5, mn - 2, mx, mx + 1, mx + 0.5, mx - 0.5, mx + 2};
  for (double v : edges) out[n++] = std::ldexp(v, -f);
  // Ties: (k + 1/2) LSB, exact in a double for |k| < 2^51.
  for (int i = 0; i < 48; i++) {
    int64_t k = rand_raw(w < 52 ? w + 2 : 52);
    out[n++] = std::ldexp(2.0 * (double)k + 1.0, -f - 1);
  }
  // Random doubles around the format's range.
  for (int i = 0; i < 160; i++) {
    double m = 1.0 + std::ldexp((double)(next_u64() >> 12), -52);
    int e = -f - 60 + (int)below((uint64_t)(w + 70));
    double v = std::ldexp(m, e);
    out[n++] = (next_u64() & 1) ? -v : v;
  }
  return n;
}

template <class T>
void print_cast(int idx, int sidx, ap_int<128> s, const T& r) {
  ap_uint<64> hi = s(127, 64), lo = s(63, 0);
  printf("C %d %d %016llx %016llx %lld\n", idx, sidx, (unsigned long long)hi.to_uint64(),
         (unsigned long long)lo.to_uint64(), raw_of(r));
}

// A random raw value of an SW-bit cast source, as 128 bits.
static ap_int<128> rand_wide(int sw) {
  ap_int<128> v = (ap_slong)next_u64();
  v <<= 64;
  v |= ap_uint<128>((ap_ulong)next_u64());
  if (below(4) == 0) v >>= (int)below(128);
  ap_int<128> m = 1;
  m <<= (sw - 1);
  // Sign-extend from SW bits.
  ap_int<128> low = v & ((m << 1) - 1);
  return (low ^ m) - m;
}

// Cast sources: modes do not matter for a cast, only W and I.
typedef ap_fixed<64, 32> S0;
typedef ap_fixed<100, 60> S1;
typedef ap_fixed<20, 2> S2;
typedef ap_fixed<12, 14> S3;
typedef ap_fixed<128, 40> S4;

template <class S, class T>
void casts(int idx, int sidx) {
  for (int i = 0; i < 24; i++) {
    ap_int<128> raw = rand_wide(S::width);
    S s;
    ap_int<S::width> narrow = raw;
    s.V = narrow.V;
    T r = s;
    print_cast(idx, sidx, raw, r);
  }
}

template <int W, int I, ap_q_mode Q, ap_o_mode O>
void run(int idx) {
  typedef ap_fixed<W, I, Q, O> T;
  const int f = W - I;
  rng_state = 0x853c49e6748fea9bull ^ ((uint64_t)idx * 0x9e3779b97f4a7c15ull);
  printf("F %d %d %d %s %s\n", idx, W, I, q_name(Q), o_name(O));
  static double ds[1024];
  int n = doubles(W, f, ds);
  for (int i = 0; i < n; i++) {
    T x = ds[i];
    printf("D %d %016llx %lld\n", idx, (unsigned long long)to_bits(ds[i]), raw_of(x));
  }
  for (int i = 0; i < 48; i++) {
    int64_t a = rand_raw(W), b = rand_raw(W);
    T r = from_raw<T>(a) * from_raw<T>(b);
    printf("M %d %lld %lld %lld\n", idx, (long long)a, (long long)b, raw_of(r));
  }
  for (int i = 0; i < 32; i++) {
    int64_t a = rand_raw(W), b = rand_raw(W);
    T r = from_raw<T>(a) + from_raw<T>(b);
    printf("A %d %lld %lld %lld\n", idx, (long long)a, (long long)b, raw_of(r));
    T d = from_raw<T>(a) - from_raw<T>(b);
    printf("B %d %lld %lld %lld\n", idx, (long long)a, (long long)b, raw_of(d));
  }
  for (int i = 0; i < 48; i++) {
    int64_t a = rand_raw(W);
    if (a == 0) continue;  // HLS's C-simulation traps on division by zero
    T r = T(1) / from_raw<T>(a);
    printf("R %d %lld %lld\n", idx, (long long)a, raw_of(r));
  }
  casts<S0, T>(idx, 0);
  casts<S1, T>(idx, 1);
  casts<S2, T>(idx, 2);
  casts<S3, T>(idx, 3);
  casts<S4, T>(idx, 4);
  // Dot products in an exact accumulator (2W + 16 bits, 2F fraction bits).
  typedef ap_fixed<2 * W + 16, 2 * I + 16> Acc;
  typedef ap_int<2 * W + 16> AccRaw;
  for (int i = 0; i < 24; i++) {
    int k = 1 + (int)below(8);
    Acc acc = 0;
    bool fits = true;
    int64_t as[8], bs[8];
    // At W = 64, sums at the edge of 128 bits: k products MIN * MIN
    // (2^126 each: 2 and more overflow), two MIN * MAX (-2^127 + 2^64: fits),
    // three (overflows).
    const bool edge = W == 64 && i < 6;
    if (edge) k = i < 4 ? 2 + i : i - 2;
    for (int j = 0; j < k; j++) {
      as[j] = edge ? raw_min(W) : rand_raw(W);
      bs[j] = edge ? (i < 4 ? raw_min(W) : raw_max(W)) : rand_raw(W);
      acc += from_raw<T>(as[j]) * from_raw<T>(bs[j]);
      if (2 * W + 16 > 128) {
        AccRaw r;
        r.V = acc.V;
        AccRaw hi = r >> 127;
        fits = fits && (hi == 0 || hi == -1);
      }
    }
    T r = acc;
    printf("P %d %d %d", idx, fits ? 1 : 0, k);
    for (int j = 0; j < k; j++) printf(" %lld %lld", (long long)as[j], (long long)bs[j]);
    printf(" %lld\n", raw_of(r));
  }
  for (int i = 0; i < 24; i++) {
    int64_t c = rand_raw(W), a = rand_raw(W), b = rand_raw(W);
    Acc acc = from_raw<T>(c);
    acc += from_raw<T>(a) * from_raw<T>(b);
    bool fits = true;
    if (2 * W + 16 > 128) {
      AccRaw r;
      r.V = acc.V;
      AccRaw hi = r >> 127;
      fits = hi == 0 || hi == -1;
    }
    T r = from_raw<T>(c) + from_raw<T>(a) * from_raw<T>(b);
    printf("E %d %d %lld %lld %lld %lld\n", idx, fits ? 1 : 0, (long long)c, (long long)a,
           (long long)b, raw_of(r));
  }
}

#define RUN_O(W, I, Q)              \
  run<W, I, Q, AP_WRAP>(idx++);     \
  run<W, I, Q, AP_SAT>(idx++);      \
  run<W, I, Q, AP_SAT_ZERO>(idx++); \
  run<W, I, Q, AP_SAT_SYM>(idx++);

// The formats' (W, I): every mode of each is compared. Each size is one
// translation unit (-DPART=k), so that the test compiles them in parallel.
#define NSIZES 17
constexpr int SIZE_W[NSIZES] = {1, 4, 5, 7, 8, 8, 10, 16, 18, 24, 32, 33, 48, 53, 64, 64, 64};
constexpr int SIZE_I[NSIZES] = {1, 2, -2, 9, 1, 3, 0, 6, 8, 12, 16, 1, 8, 20, 18, 2, 64};

template <int K>
void run_size();

#ifdef PART
template <int K>
void run_size() {
  const int W = SIZE_W[K], I = SIZE_I[K];
  int idx = K * 28;
  RUN_O(W, I, AP_TRN)
  RUN_O(W, I, AP_TRN_ZERO)
  RUN_O(W, I, AP_RND)
  RUN_O(W, I, AP_RND_ZERO)
  RUN_O(W, I, AP_RND_MIN_INF)
  RUN_O(W, I, AP_RND_INF)
  RUN_O(W, I, AP_RND_CONV)
}
template void run_size<PART>();
#else
template <int... K>
void run_sizes(std::integer_sequence<int, K...>) {
  int order[] = {(run_size<K>(), 0)...};
  (void)order;
}

int main() {
  printf("G 0 64 32\nG 1 100 60\nG 2 20 2\nG 3 12 14\nG 4 128 40\n");
  run_sizes(std::make_integer_sequence<int, NSIZES>());
  return 0;
}
#endif
