/* vec.h — row kernels for the normalisation and attention ops, written so that GCC vectorises
 * them at the project's -O2 (private to src/core/ops; static inline, no state).
 *
 * Why this exists: GCC ≥ 12 vectorises at -O2 only with the "very-cheap" cost model, which
 * rejects any loop that needs a scalar remainder, and no compiler vectorises a float reduction
 * without -ffast-math (it may not reassociate). So reductions here keep LCTW_LANES independent
 * partial sums over fixed-length blocks (a constant trip count the vectoriser always takes) and
 * fold them into double every LCTW_CHUNK elements (cascade summation: fp32 speed, near-double
 * accuracy over rows of 10⁵ elements). Including this header (last, after the other includes)
 * also switches the rest of the including file to the dynamic cost model, so its plain
 * element-wise loops vectorise too — before these functions, so that they inline with the same
 * options as their callers.
 *
 * vec_exp is a branch-free expf (Cody–Waite reduction by ln 2, degree-7 polynomial on
 * [−ln2/2, ln2/2] with the Cephes expf coefficients, 2^n built in the exponent bits): relative
 * error ≈ 2e-7 on [−87, 88]; inputs below −87 give exp(−87) ≈ 1.6e-38 instead of a denormal
 * or 0 (harmless in a softmax, whose row sum is ≥ 1); NaN propagates.
 */
#ifndef LCTW_OPS_VEC_H
#define LCTW_OPS_VEC_H

#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#define LCTW_LANES 8
#define LCTW_CHUNK 1024 /* elements per fp32 partial sum before it is folded into double */

typedef union {
    float f;
    uint32_t u; /* unsigned: NaN bit patterns must not overflow a signed shift */
} vec_fi;

/* exp(x) for x in [−87, 88]; callers clamp (vec_exp_shift_sum) */
static inline float vec_exp(float x) {
    vec_fi t = {.f = x * 1.44269504088896341f + 12582912.0f}; /* 1.5·2^23: round to integer */
    float n = t.f - 12582912.0f;
    float r = x - n * 0.693359375f - n * -2.12194440e-4f; /* ln 2 = 0.693359375 − 2.1219444e-4 */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vec_fi s = {.u = (t.u - 0x4B400000u + 127u) << 23}; /* 2^n, n = t.u − bits(1.5·2^23) */
    return p * s.f;
}

/* Σ x */
static inline double vec_sum(const float *x, int64_t n) {
    double s = 0.0;
    int64_t j = 0;
    while (j + LCTW_LANES <= n) {
        float acc[LCTW_LANES] = {0};
        int64_t end = j + LCTW_CHUNK < n ? j + LCTW_CHUNK : n;
        for (; j + LCTW_LANES <= end; j += LCTW_LANES)
            for (int k = 0; k < LCTW_LANES; k++)
                acc[k] += x[j + k];
        for (int k = 0; k < LCTW_LANES; k++)
            s += acc[k];
    }
    for (; j < n; j++)
        s += x[j];
    return s;
}

/* Σ x·y */
static inline double vec_dot(const float *x, const float *y, int64_t n) {
    double s = 0.0;
    int64_t j = 0;
    while (j + LCTW_LANES <= n) {
        float acc[LCTW_LANES] = {0};
        int64_t end = j + LCTW_CHUNK < n ? j + LCTW_CHUNK : n;
        for (; j + LCTW_LANES <= end; j += LCTW_LANES)
            for (int k = 0; k < LCTW_LANES; k++)
                acc[k] += x[j + k] * y[j + k];
        for (int k = 0; k < LCTW_LANES; k++)
            s += acc[k];
    }
    for (; j < n; j++)
        s += (double)x[j] * y[j];
    return s;
}

/* Σ (x − mu)² */
static inline double vec_sumsq_centered(const float *x, float mu, int64_t n) {
    double s = 0.0;
    int64_t j = 0;
    while (j + LCTW_LANES <= n) {
        float acc[LCTW_LANES] = {0};
        int64_t end = j + LCTW_CHUNK < n ? j + LCTW_CHUNK : n;
        for (; j + LCTW_LANES <= end; j += LCTW_LANES)
            for (int k = 0; k < LCTW_LANES; k++) {
                float d = x[j + k] - mu;
                acc[k] += d * d;
            }
        for (int k = 0; k < LCTW_LANES; k++)
            s += acc[k];
    }
    for (; j < n; j++) {
        double d = (double)x[j] - mu;
        s += d * d;
    }
    return s;
}

/* (Σ dy, Σ dy·(x − mu)) in one pass */
static inline void vec_sum_and_centered_dot(const float *dy, const float *x, float mu, int64_t n,
                                            double *s_dy, double *s_dyx) {
    double s1 = 0.0, s2 = 0.0;
    int64_t j = 0;
    while (j + LCTW_LANES <= n) {
        float a1[LCTW_LANES] = {0}, a2[LCTW_LANES] = {0};
        int64_t end = j + LCTW_CHUNK < n ? j + LCTW_CHUNK : n;
        for (; j + LCTW_LANES <= end; j += LCTW_LANES)
            for (int k = 0; k < LCTW_LANES; k++) {
                a1[k] += dy[j + k];
                a2[k] += dy[j + k] * (x[j + k] - mu);
            }
        for (int k = 0; k < LCTW_LANES; k++) {
            s1 += a1[k];
            s2 += a2[k];
        }
    }
    for (; j < n; j++) {
        s1 += dy[j];
        s2 += (double)dy[j] * ((double)x[j] - mu);
    }
    *s_dy = s1;
    *s_dyx = s2;
}

/* (Σ dy·w, Σ dy·w·(x − mu)) in one pass */
static inline void vec_wsum_and_centered_dot(const float *dy, const float *w, const float *x,
                                             float mu, int64_t n, double *s_dy, double *s_dyx) {
    double s1 = 0.0, s2 = 0.0;
    int64_t j = 0;
    while (j + LCTW_LANES <= n) {
        float a1[LCTW_LANES] = {0}, a2[LCTW_LANES] = {0};
        int64_t end = j + LCTW_CHUNK < n ? j + LCTW_CHUNK : n;
        for (; j + LCTW_LANES <= end; j += LCTW_LANES)
            for (int k = 0; k < LCTW_LANES; k++) {
                float g = dy[j + k] * w[j + k];
                a1[k] += g;
                a2[k] += g * (x[j + k] - mu);
            }
        for (int k = 0; k < LCTW_LANES; k++) {
            s1 += a1[k];
            s2 += a2[k];
        }
    }
    for (; j < n; j++) {
        double g = (double)dy[j] * w[j];
        s1 += g;
        s2 += g * ((double)x[j] - mu);
    }
    *s_dy = s1;
    *s_dyx = s2;
}

/* max x (n ≥ 1); NaN entries may be skipped (callers' later arithmetic propagates them) */
static inline float vec_max(const float *x, int64_t n) {
    float acc[LCTW_LANES];
    for (int k = 0; k < LCTW_LANES; k++)
        acc[k] = x[0];
    int64_t j = 0;
    for (; j + LCTW_LANES <= n; j += LCTW_LANES)
        for (int k = 0; k < LCTW_LANES; k++)
            acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
    for (; j < n; j++)
        acc[0] = x[j] > acc[0] ? x[j] : acc[0];
    float m = acc[0];
    for (int k = 1; k < LCTW_LANES; k++)
        m = acc[k] > m ? acc[k] : m;
    return m;
}

/* y = exp(x − m), returns Σ y (y may be x) */
static inline double vec_exp_shift_sum(float *y, const float *x, float m, int64_t n) {
    double s = 0.0;
    int64_t j = 0;
    while (j + LCTW_LANES <= n) {
        float acc[LCTW_LANES] = {0};
        int64_t end = j + LCTW_CHUNK < n ? j + LCTW_CHUNK : n;
        for (; j + LCTW_LANES <= end; j += LCTW_LANES) {
            float v[LCTW_LANES];
            for (int k = 0; k < LCTW_LANES;
                 k++) { /* the clamp apart: keeps the loop vectorisable */
                float d = x[j + k] - m;
                v[k] = d < -87.0f ? -87.0f : d;
            }
            for (int k = 0; k < LCTW_LANES; k++) {
                y[j + k] = vec_exp(v[k]);
                acc[k] += y[j + k];
            }
        }
        for (int k = 0; k < LCTW_LANES; k++)
            s += acc[k];
    }
    for (; j < n; j++) {
        float d = x[j] - m;
        y[j] = vec_exp(d < -87.0f ? -87.0f : d);
        s += y[j];
    }
    return s;
}

#endif
