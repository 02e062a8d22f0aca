// Reference harness: real Vivado/Vitis HLS ap_fixed conversions, for testing models/fixedpoint.py.
//
// Compiled with g++ against the ap_types headers that hls4ml ships (firmware/apharness.py).
// The type table comes from a generated header, HARNESS_TYPES (default "harness_types.h"), with
//   #define HARNESS_N_TYPES <n>
//   TYPE(<index>, <C++ type>)            one line per type, e.g. TYPE(3, ap_fixed<8,3,AP_RND,AP_SAT>)
//   PAIR(<src index>, <dst index>)       one line per (source, target) pair for fixed -> fixed casts
//
// Reads commands from stdin, one per line, and prints one line each (a decimal integer):
//   d <type> <value as C99 hex float>   the code (raw bits, read as signed or unsigned per the type)
//                                       of  T v = (double)value;   (ap_fixed_base(double))
//   q <src> <dst> <src code>            the code of  D v = s;  where s of type S holds the code
//                                       (D v = s; is the HLS assignment between fixed types)
// Unknown types or pairs print "error".
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ap_fixed.h"
#include "ap_int.h"

#ifndef HARNESS_TYPES
#define HARNESS_TYPES "harness_types.h"
#endif

// raw bits of a W-bit storage, sign-extended for signed types
static long long extend(unsigned long long bits, int w, bool sign) {
    if (w < 64) bits &= (~0ULL) >> (64 - w);
    if (sign && w < 64 && ((bits >> (w - 1)) & 1ULL)) bits |= (~0ULL) << w;
    return (long long)bits;
}

template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
long long signed_code(const ap_fixed_base<W, I, S, Q, O, N> &v) {
    return extend(v.bits_to_uint64(), W, S);
}

template <int W, bool S> long long signed_code(const ap_int_base<W, S> &v) {
    return extend(v.to_uint64(), W, S);
}

template <class T> T from_code(long long code) {
    T v;
    v.setBits((ap_ulong)code);
    return v;
}

template <class T> void convert_double(double x) {
    T v = x;
    std::printf("%lld\n", signed_code(v));
}

template <class S, class D> void convert_fixed(long long code) {
    S s = from_code<S>(code);
    D d = s;
    std::printf("%lld\n", signed_code(d));
}

#define TYPE(i, ...) typedef __VA_ARGS__ type_##i;
#define PAIR(s, d)
#include HARNESS_TYPES
#undef TYPE
#undef PAIR

static bool dispatch_double(int idx, double x) {
    switch (idx) {
#define TYPE(i, ...) case i: convert_double<type_##i>(x); return true;
#define PAIR(s, d)
#include HARNESS_TYPES
#undef TYPE
#undef PAIR
    default: return false;
    }
}

static bool dispatch_fixed(int src, int dst, long long code) {
    const long long key = (long long)src * HARNESS_N_TYPES + dst;
    switch (key) {
#define TYPE(i, ...)
#define PAIR(s, d) case (long long)(s) * HARNESS_N_TYPES + (d): convert_fixed<type_##s, type_##d>(code); return true;
#include HARNESS_TYPES
#undef TYPE
#undef PAIR
    default: return false;
    }
}

int main() {
    char line[512];
    while (std::fgets(line, sizeof line, stdin)) {
        char op = 0;
        bool ok = false;
        if (std::sscanf(line, " %c", &op) != 1) continue;
        if (op == 'd') {
            int t; char num[128];
            if (std::sscanf(line, " d %d %127s", &t, num) == 2) ok = dispatch_double(t, std::strtod(num, nullptr));
        } else if (op == 'q') {
            int s, d; long long code;
            if (std::sscanf(line, " q %d %d %lld", &s, &d, &code) == 3) ok = dispatch_fixed(s, d, code);
        }
        if (!ok) std::printf("error\n");
        std::fflush(stdout);
    }
    return 0;
}
