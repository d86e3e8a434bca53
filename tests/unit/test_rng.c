/* test_rng.c — the Philox4x32-10 generator (src/core/rng.h) and the CPU random fills.
 *
 * Known-answer vectors are those published with Random123 (Salmon et al., SC'11; its
 * tests/kat_vectors file). Distribution checks use 10^6 draws with 5-sigma tolerances (the
 * streams are fixed, so the results are deterministic). */
#include <stdint.h>
#include <stdlib.h>

#include "core/rng.h"
#include "core/tmath.h"
#include "test.h"

static lctw_tensor *vec(int64_t n) {
    lctw_tensor *t = NULL;
    if (lctw_tensor_zeros(&t, 1, (int64_t[]){n}, LCTW_DEV_CPU) != LCTW_OK) {
        printf("FAIL test_rng.c: setup: %s\n", lctw_error_message());
        exit(1);
    }
    return t;
}

static void t_philox_kat(void) {
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t o[4];
        lctw_philox4x32_10(kat[v].ctr, kat[v].key, o);
        for (int l = 0; l < 4; l++)
            CHECK(o[l] == kat[v].out[l], "vector %d word %d: %08x, expected %08x", v, l, o[l],
                  kat[v].out[l]);
    }
    test_detail("3 Random123 vectors");
}

/* lctw_rng_block maps (seed, stream, block) onto counter and key as rng.h documents. */
static void t_block_layout(void) {
    uint64_t seed = 0x0123456789abcdefull, block = 0x0000000500000007ull;
    uint32_t stream = 42, a[4], b[4];
    uint32_t ctr[4] = {7, 5, 42, 0}, key[2] = {0x89abcdef, 0x01234567};
    lctw_rng_block(seed, stream, block, a);
    lctw_philox4x32_10(ctr, key, b);
    CHECK(!memcmp(a, b, sizeof a), "block words %08x.., expected %08x..", a[0], b[0]);
}

/* Every uniform output is (k + 0.5)·2^-23 exactly, k = x >> 9, strictly inside (0, 1): checked
 * for all 2^23 values of k (a 24-bit variant fails here: k + 0.5 stops being a float at 2^23,
 * and the top value rounds to 1.0). */
static void t_u01_exact(void) {
    float lo = lctw_rng_u01(0), hi = lctw_rng_u01(0xffffffffu);
    CHECK(lo == 0x1p-24f, "u01(0) = %a, expected 0x1p-24", lo);
    CHECK(hi == 1.0f - 0x1p-24f, "u01(max) = %a, expected 1 - 2^-24", hi);
    int64_t bad = 0, first = -1;
    for (uint32_t k = 0; k < (1u << 23); k++) {
        double want = ((double)k + 0.5) / 8388608.0;
        float got = lctw_rng_u01((k << 9) | (k & 0x1ffu)); /* low bits are dropped */
        if ((double)got != want || !(got > 0.0f && got < 1.0f)) {
            if (first < 0) first = k;
            bad++;
        }
    }
    CHECK(bad == 0, "%lld values inexact or outside (0, 1), first k = %lld", (long long)bad,
          (long long)first);
    float z = lctw_rng_normal_at(1, 0, 0, 0);
    CHECK(isfinite(z), "normal_at finite: %g", z);
    test_detail("2^23 values");
}

/* The block-wise CPU fills equal the per-element *_at functions bit for bit. */
static void fill_matches_at(int normal) {
    const int64_t sizes[] = {1, 3, 4, 5, 1001, 4096};
    lctw_rng r = {.seed = 0xdeadbeefcafef00dull, .stream = 0, .offset = 0};
    int64_t checked = 0;
    for (int q = 0; q < 6; q++) {
        lctw_tensor *t = vec(sizes[q]);
        r.stream = (uint32_t)q;
        r.offset = (uint64_t)q * 1000003ull + (q == 5 ? 0xfffffff0ull : 0); /* crosses 2^32 */
        uint64_t start = r.offset;
        CHECK_OK(normal ? lctw_fill_normal(t, &r) : lctw_fill_uniform(t, &r));
        CHECK(r.offset == start + (uint64_t)(sizes[q] + 3) / 4, "offset advanced by %llu for %lld",
              (unsigned long long)(r.offset - start), (long long)sizes[q]);
        const float *d = lctw_tensor_data(t);
        for (int64_t j = 0; j < sizes[q]; j++) {
            float want = normal ? lctw_rng_normal_at(r.seed, r.stream, start, (uint64_t)j)
                                : lctw_rng_uniform_at(r.seed, r.stream, start, (uint64_t)j);
            CHECK(!memcmp(&d[j], &want, sizeof want), "size %lld element %lld: %a, expected %a",
                  (long long)sizes[q], (long long)j, d[j], want);
            checked++;
        }
        lctw_tensor_release(t);
    }
    test_detail("%lld elements", (long long)checked);
}

static void t_uniform_matches_at(void) { fill_matches_at(0); }
static void t_normal_matches_at(void) { fill_matches_at(1); }

static void t_uniform_moments(void) {
    const int64_t n = 1000000;
    lctw_tensor *t = vec(n);
    lctw_rng r = {.seed = 12345, .stream = 3, .offset = 0};
    CHECK_OK(lctw_fill_uniform(t, &r));
    const float *d = lctw_tensor_data(t);
    double s = 0, ss = 0, lo = 1, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        s += d[i];
        lo = fmin(lo, d[i]);
        hi = fmax(hi, d[i]);
    }
    double mean = s / n;
    for (int64_t i = 0; i < n; i++) ss += (d[i] - mean) * (d[i] - mean);
    double var = ss / n;
    CHECK(lo > 0 && hi < 1, "range [%g, %g] not inside (0, 1)", lo, hi);
    /* sd of the mean: sqrt(1/12/n) = 2.9e-4; of the variance: sqrt((1/80 − 1/144)/n) = 7.5e-5 */
    CHECK_NEAR(mean, 0.5, 1.5e-3);
    CHECK_NEAR(var, 1.0 / 12.0, 4e-4);
    test_detail("mean %.5f var %.5f (1/12 = %.5f) min %.2g max %.7f", mean, var, 1.0 / 12, lo, hi);
    lctw_tensor_release(t);
}

static void t_normal_moments(void) {
    const int64_t n = 1000000;
    lctw_tensor *t = vec(n);
    lctw_rng r = {.seed = 777, .stream = 1, .offset = 5};
    CHECK_OK(lctw_fill_normal(t, &r));
    const float *d = lctw_tensor_data(t);
    double s = 0;
    int finite = 1;
    for (int64_t i = 0; i < n; i++) {
        s += d[i];
        finite &= isfinite(d[i]) != 0;
    }
    double mean = s / n, m2 = 0, m3 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = d[i] - mean;
        m2 += x * x;
        m3 += x * x * x;
        m4 += x * x * x * x;
    }
    m2 /= n;
    m3 /= n;
    m4 /= n;
    double skew = m3 / pow(m2, 1.5), kurt = m4 / (m2 * m2) - 3;
    CHECK(finite, "non-finite normal draws");
    /* sds: mean 1e-3, var 1.4e-3, skew 2.4e-3, excess kurtosis 4.9e-3 */
    CHECK_NEAR(mean, 0.0, 5e-3);
    CHECK_NEAR(m2, 1.0, 7e-3);
    CHECK_NEAR(skew, 0.0, 1.2e-2);
    CHECK_NEAR(kurt, 0.0, 2.5e-2);
    test_detail("mean %.5f var %.5f skew %.4f kurtosis %.4f", mean, m2, skew, kurt);
    lctw_tensor_release(t);
}

/* Draws of n then m equal one draw of n + m when n is a multiple of 4; otherwise the second
 * draw starts at the next whole block. */
static void t_offsets(void) {
    for (int normal = 0; normal < 2; normal++) {
        const int64_t n = 36, m = 21;
        lctw_tensor *a = vec(n), *b = vec(m), *ab = vec(n + m);
        lctw_rng r1 = {.seed = 99, .stream = 7, .offset = 11}, r2 = r1;
        lctw_status (*fill)(lctw_tensor *, lctw_rng *) = normal ? lctw_fill_normal
                                                                : lctw_fill_uniform;
        CHECK_OK(fill(a, &r1));
        CHECK_OK(fill(b, &r1));
        CHECK_OK(fill(ab, &r2));
        CHECK(r1.offset == r2.offset, "offsets %llu and %llu", (unsigned long long)r1.offset,
              (unsigned long long)r2.offset);
        const float *pa = lctw_tensor_data(a), *pb = lctw_tensor_data(b),
                    *pab = lctw_tensor_data(ab);
        CHECK(!memcmp(pa, pab, n * sizeof(float)), "first part differs");
        CHECK(!memcmp(pb, pab + n, m * sizeof(float)), "second part differs");

        /* n = 5: 2 blocks, the second draw starts at block 13 = 11 + 2 */
        lctw_tensor *c = vec(5), *e = vec(8);
        lctw_rng r3 = {.seed = 99, .stream = 7, .offset = 11}, r4 = r3;
        CHECK_OK(fill(c, &r3));
        CHECK(r3.offset == 13, "offset after 5 draws: %llu, expected 13",
              (unsigned long long)r3.offset);
        CHECK_OK(fill(b, &r3));
        CHECK_OK(fill(e, &r4));
        CHECK(!memcmp(lctw_tensor_data(c), lctw_tensor_data(e), 5 * sizeof(float)),
              "5 draws differ from the start of 8");
        CHECK(!memcmp(pb, pab + 8, m * sizeof(float)), "draw after a partial block");
        lctw_tensor *all[] = {a, b, ab, c, e};
        for (int k = 0; k < 5; k++) lctw_tensor_release(all[k]);
    }
}

static int64_t count_equal(const lctw_rng *x, const lctw_rng *y, int normal) {
    lctw_tensor *a = vec(1000), *b = vec(1000);
    lctw_rng r1 = *x, r2 = *y;
    if (normal) {
        lctw_fill_normal(a, &r1);
        lctw_fill_normal(b, &r2);
    } else {
        lctw_fill_uniform(a, &r1);
        lctw_fill_uniform(b, &r2);
    }
    int64_t eq = 0;
    for (int i = 0; i < 1000; i++) eq += lctw_tensor_data(a)[i] == lctw_tensor_data(b)[i];
    lctw_tensor_release(a);
    lctw_tensor_release(b);
    return eq;
}

static void t_streams_differ(void) {
    const lctw_rng base = {.seed = 2024, .stream = 0, .offset = 0};
    lctw_rng stream = base, seed = base, hiseed = base, off = base;
    stream.stream = 1;
    seed.seed = 2025;
    hiseed.seed += 1ull << 32;
    off.offset = 1;
    const lctw_rng *others[] = {&stream, &seed, &hiseed, &off};
    const char *what[] = {"stream", "seed", "high seed word", "offset"};
    int64_t worst = 0;
    for (int normal = 0; normal < 2; normal++) {
        CHECK(count_equal(&base, &base, normal) == 1000, "same generator differs");
        for (int k = 0; k < 4; k++) {
            /* two independent uniform float streams agree on ~1000·2^-24 elements */
            int64_t eq = count_equal(&base, others[k], normal);
            CHECK(eq <= 2, "%s: %lld of 1000 equal", what[k], (long long)eq);
            if (eq > worst) worst = eq;
        }
    }
    test_detail("at most %lld of 1000 equal", (long long)worst);
}

int main(void) {
    RUN(t_philox_kat);
    RUN(t_block_layout);
    RUN(t_u01_exact);
    RUN(t_uniform_matches_at);
    RUN(t_normal_matches_at);
    RUN(t_uniform_moments);
    RUN(t_normal_moments);
    RUN(t_offsets);
    RUN(t_streams_differ);
    return test_summary();
}
