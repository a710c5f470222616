// exp and log on the vectors of transition_kernels.h (32 bytes: 8 floats / 4 doubles, or 64 bytes where
// the observation kernels use AVX-512), so that the Poisson
// likelihood of the SMC window (observation_kernels.h) vectorises: std::exp / std::log are called lane by
// lane and cost as much as the rest of the step together.
//
// Both follow the classic range reductions: exp(x) = 2^n exp(r) with |r| <= ln 2 / 2 and Cephes' rational
// (double) or polynomial (float) approximation of exp(r); log(x) = k ln 2 + log(m) with m in
// [sqrt(2)/2, sqrt(2)) and fdlibm's polynomial in s = (m - 1) / (m + 1) (double) or Cephes' polynomial in
// m - 1 (float: no division, so long chains of them pipeline). Accuracy: about
// 1 ulp in the normal range, so float64 results agree with torch's (SLEEF) to rounding. NaN propagates;
// exp clamps its argument to the normal range (exp(x) for x < -708 / -87 returns a tiny normal number
// instead of a subnormal or 0, which changes nothing that is added to O(1) terms); log expects x > 0
// (x = +inf returns +inf, x <= 0 or subnormal is not supported: the callers add 1e-8 or take 1 + e^-|x|).
// Scalars (the tail lanes) go through std::exp / std::log.
#pragma once

#include <cmath>
#include <cstdint>

#include "transition_kernels.h"

namespace sklearn_lrnn_kernels {

// the integer vector of the same size as S (for bit manipulation)
template <typename I, int BYTES> struct IntVec;
template <> struct IntVec<int32_t, 32> { typedef int32_t type __attribute__((vector_size(32))); };
template <> struct IntVec<int64_t, 32> { typedef int64_t type __attribute__((vector_size(32))); };
template <> struct IntVec<int32_t, 64> { typedef int32_t type __attribute__((vector_size(64))); };
template <> struct IntVec<int64_t, 64> { typedef int64_t type __attribute__((vector_size(64))); };

template <typename S>
inline S exp_s(S x) {
  using T = typename Elem<S>::type;
  if constexpr (!is_vec<S>) {
    return std::exp(x);
  } else if constexpr (std::is_same_v<T, double>) {
    using vi64 = typename IntVec<int64_t, sizeof(S)>::type;
    const S hi = bc<S>(709.0), lo = bc<S>(-708.0);
    S xc = SEL(x > hi, hi, x);
    xc = SEL(xc < lo, lo, xc);  // NaN passes both
    // n = round(x / ln 2) by the 1.5 * 2^52 shifter; its integer sits in the low bits of t
    const S shifter = bc<S>(6755399441055744.0);
    const S t = xc * bc<S>(1.4426950408889634073599) + shifter;
    const S n = t - shifter;
    S r = xc - n * bc<S>(6.93145751953125E-1);
    r = r - n * bc<S>(1.42860682030941723212E-6);
    const S rr = r * r;
    S p = rr * bc<S>(1.26177193074810590878E-4) + bc<S>(3.02994407707441961300E-2);
    p = (rr * p + bc<S>(9.99999999999999999910E-1)) * r;
    S q = rr * bc<S>(3.00198505138664455042E-6) + bc<S>(2.52448340349684104192E-3);
    q = rr * q + bc<S>(2.27265548208155028766E-1);
    q = rr * q + bc<S>(2.00000000000000000009E0);
    S e = bc<S>(1.0) + bc<S>(2.0) * (p / (q - p));
    const vi64 ni = (vi64)t - (vi64)shifter;  // n as an integer
    e = (S)((vi64)e + (ni << 52));            // times 2^n
    return SEL(x != x, x, e);
  } else {
    using vi32 = typename IntVec<int32_t, sizeof(S)>::type;
    const S hi = bc<S>(88.0f), lo = bc<S>(-87.0f);
    S xc = SEL(x > hi, hi, x);
    xc = SEL(xc < lo, lo, xc);
    const S shifter = bc<S>(12582912.0f);  // 1.5 * 2^23
    const S t = xc * bc<S>(1.44269504088896341f) + shifter;
    const S n = t - shifter;
    S r = xc - n * bc<S>(0.693359375f);
    r = r + n * bc<S>(2.12194440e-4f);
    const S rr = r * r;
    S p = r * bc<S>(1.9875691500E-4f) + bc<S>(1.3981999507E-3f);
    p = r * p + bc<S>(8.3334519073E-3f);
    p = r * p + bc<S>(4.1665795894E-2f);
    p = r * p + bc<S>(1.6666665459E-1f);
    p = r * p + bc<S>(5.0000001201E-1f);
    S e = p * rr + r + bc<S>(1.0f);
    const vi32 ni = (vi32)t - (vi32)shifter;
    e = (S)((vi32)e + (ni << 23));
    return SEL(x != x, x, e);
  }
}

// float: log(2^k (1 + f)) for f in [sqrt(1/2) - 1, sqrt(2) - 1] (Cephes logf's polynomial, split ln 2)
template <typename S>
inline S log_poly(S f, S k) {
  const S z = f * f;
  S y = f * bc<S>(7.0376836292E-2f) + bc<S>(-1.1514610310E-1f);
  y = f * y + bc<S>(1.1676998740E-1f);
  y = f * y + bc<S>(-1.2420140846E-1f);
  y = f * y + bc<S>(1.4249322787E-1f);
  y = f * y + bc<S>(-1.6668057665E-1f);
  y = f * y + bc<S>(2.0000714765E-1f);
  y = f * y + bc<S>(-2.4999993993E-1f);
  y = f * y + bc<S>(3.3333331174E-1f);
  y = y * f * z;
  y = y + k * bc<S>(-2.12194440e-4f) - bc<S>(0.5f) * z;
  return f + y + k * bc<S>(0.693359375f);
}

template <typename S>
inline S log_s(S x) {
  using T = typename Elem<S>::type;
  if constexpr (!is_vec<S>) {
    return std::log(x);
  } else if constexpr (std::is_same_v<T, double>) {
    using vi64 = typename IntVec<int64_t, sizeof(S)>::type;
    const vi64 bits = (vi64)x;
    vi64 k = (bits >> 52) - 1023;
    S m = (S)((bits & int64_t(0x000fffffffffffffLL)) | int64_t(0x3ff0000000000000LL));  // [1, 2)
    const auto big = m > bc<S>(1.41421356237309504880);
    m = SEL(big, m * bc<S>(0.5), m);
    k = k + ((vi64)big & 1);  // a true comparison lane is all ones
    const S kd = __builtin_convertvector(k, S);
    const S f = m - bc<S>(1.0);
    const S s = f / (bc<S>(2.0) + f);
    const S z = s * s, w = z * z;
    const S t1 = w * (bc<S>(3.999999999940941908e-01) +
                      w * (bc<S>(2.222219843214978396e-01) + w * bc<S>(1.531383769920937332e-01)));
    const S t2 = z * (bc<S>(6.666666666666735130e-01) +
                      w * (bc<S>(2.857142874366239149e-01) +
                           w * (bc<S>(1.818357216161805012e-01) + w * bc<S>(1.479819860511658591e-01))));
    const S R = t2 + t1;
    const S hfsq = bc<S>(0.5) * f * f;
    const S res = kd * bc<S>(6.93147180369123816490e-01) -
                  ((hfsq - (s * (hfsq + R) + kd * bc<S>(1.90821492927058770002e-10))) - f);
    const S inf = bc<S>(std::numeric_limits<double>::infinity());
    return SEL(x != x, x, SEL(x == inf, inf, res));
  } else {
    // Cephes logf: no division (a polynomial in x = m - 1), so it pipelines well
    using vi32 = typename IntVec<int32_t, sizeof(S)>::type;
    const vi32 bits = (vi32)x;
    vi32 k = (bits >> 23) - 126;
    const S m = (S)((bits & int32_t(0x007fffff)) | int32_t(0x3f000000));  // [0.5, 1)
    const auto small = m < bc<S>(0.707106781186547524f);
    k = k + (vi32)small;  // a true comparison lane is -1
    const S kf = __builtin_convertvector(k, S);
    const S f = m - bc<S>(1.0f) + SEL(small, m, bc<S>(0.0f));
    const S res = log_poly(f, kf);
    const S inf = bc<S>(std::numeric_limits<float>::infinity());
    return SEL(x != x, x, SEL(x == inf, inf, res));
  }
}

// log(1 + e) for e in [0, 1] (the softplus of observation_kernels.h), accurate for small e
template <typename S>
inline S log1p_unit(S e) {
  using T = typename Elem<S>::type;
  if constexpr (!is_vec<S>) {
    return std::log1p(e);
  } else if constexpr (std::is_same_v<T, double>) {
    const S u = bc<S>(1.0) + e;
    return log_s(u) - ((u - bc<S>(1.0)) - e) / u;  // the rounding of 1 + e, corrected
  } else {
    // 1 + e = 2^k (1 + f) with f in [sqrt(1/2) - 1, sqrt(2) - 1]: f = e, or (e - 1) / 2 with k = 1
    const auto big = e > bc<S>(0.41421356237f);
    const S f = SEL(big, (e - bc<S>(1.0f)) * bc<S>(0.5f), e);
    return log_poly(f, SEL(big, bc<S>(1.0f), bc<S>(0.0f)));
  }
}

}  // namespace sklearn_lrnn_kernels
