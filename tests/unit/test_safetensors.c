/* test_safetensors.c — src/io/safetensors.c: bit-exact round trips and the byte layout of
 * saved files, F16/BF16/F64 decoding against references computed here with ldexp, every
 * malformed-header case with the words its error must contain, a seeded fuzz loop over header
 * bytes and the length field (never a crash; run under DEBUG=1 too), the shared taesd files
 * (names/shapes from an independent Python parse, values against the raw bytes read with
 * stdio), and atomic saves that leave an existing file untouched when they fail. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tensor.h"
#include "io/safetensors.h"
#include "lctw_cuda.h"
#include "test.h"

static char tmpdir[64];

static const char *tpath(const char *name) {
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

static uint64_t rng_state = 12345;
static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A file image: u64 LE header length `nfield`, the header text, then dlen data bytes. */
static unsigned char *image_n(uint64_t nfield, const char *hdr, size_t dlen, size_t *len) {
    size_t h = strlen(hdr);
    *len = 8 + h + dlen;
    unsigned char *b = malloc(*len);
    for (int k = 0; k < 8; k++)
        b[k] = (unsigned char)(nfield >> (8 * k));
    memcpy(b + 8, hdr, h);
    for (size_t k = 0; k < dlen; k++)
        b[8 + h + k] = (unsigned char)(k * 7 + 1);
    return b;
}

static unsigned char *image(const char *hdr, size_t dlen, size_t *len) {
    return image_n(strlen(hdr), hdr, dlen, len);
}

static int write_file(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t w = fwrite(b, 1, n, fp);
    fclose(fp);
    return w == n ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = fread(b, 1, (size_t)sz, fp);
    fclose(fp);
    return b;
}

/* Number of entries in tmpdir whose name contains `part`. */
static int count_files(const char *part) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, part)) n++;
    if (d) closedir(d);
    return n;
}

static lctw_tensor *random_tensor(int ndim, const int64_t *shape) {
    lctw_tensor *t = NULL;
    if (lctw_tensor_empty(&t, ndim, shape, LCTW_DEV_CPU) != LCTW_OK) return NULL;
    uint32_t *p = (uint32_t *)lctw_tensor_data(t);
    for (int64_t i = 0; i < lctw_tensor_numel(t); i++)
        p[i] = (uint32_t)next_u64();
    /* a few special patterns: -0, inf, a NaN payload, the smallest subnormal */
    static const uint32_t special[] = {0x80000000u, 0x7f800000u, 0x7fc01234u, 0x00000001u};
    for (int64_t i = 0; i < 4 && i < lctw_tensor_numel(t); i++)
        p[i] = special[i];
    return t;
}

/* ---- round trip ---- */

static void t_round_trip_bit_exact(void) {
    const char *names[] = {"z.last", "a.first", "m/mid", "scalar", "empty", "caf\xc3\xa9 \"q\""};
    int64_t shapes[][4] = {{2, 3, 4, 5}, {7}, {3, 1, 2}, {0}, {0, 3}, {2, 2}};
    int ndims[] = {4, 1, 3, 0, 2, 2};
    enum { N = 6 };
    lctw_tensor *ts[N];
    for (int i = 0; i < N; i++)
        ts[i] = random_tensor(ndims[i], shapes[i]);
    const char *mk[] = {"format", "note"}, *mv[] = {"pt", "line1\nline2 \xe2\x82\xac"};
    const char *path = tpath("rt.safetensors");
    CHECK_OK(lctw_st_save(path, N, names, ts, 2, mk, mv));
    lctw_st_file *f = NULL;
    CHECK_OK(lctw_st_open(&f, path));
    if (!f) goto out;
    CHECK(lctw_st_count(f) == N, "count %d", lctw_st_count(f));
    CHECK(lctw_st_metadata_count(f) == 2, "metadata count");
    CHECK(lctw_st_metadata_get(f, "note") && !strcmp(lctw_st_metadata_get(f, "note"), mv[1]),
          "metadata note");
    CHECK(!lctw_st_metadata_get(f, "absent"), "absent metadata");
    /* names come back sorted; data laid out in that order */
    for (int k = 1; k < N; k++)
        CHECK(strcmp(lctw_st_entry_at(f, k - 1)->name, lctw_st_entry_at(f, k)->name) < 0,
              "entries not sorted at %d", k);
    CHECK(!lctw_st_entry_at(f, N) && !lctw_st_entry_at(f, -1), "entry_at out of range");
    size_t flen = 0;
    unsigned char *raw = read_file(path, &flen);
    uint64_t hn = 0;
    for (int k = 0; k < 8; k++)
        hn |= (uint64_t)raw[k] << (8 * k);
    CHECK(hn % 8 == 0 && hn == lctw_st_header_size(f), "header length %llu",
          (unsigned long long)hn);
    CHECK(raw[8] == '{' && raw[8 + hn - 1] != 0, "header start");
    size_t close = 8 + hn - 1;
    while (close > 8 && raw[close] == ' ')
        close--;
    CHECK(raw[close] == '}' && hn - (close - 7) < 8,
          "padding: %llu bytes of header, JSON ends at %zu", (unsigned long long)hn, close);
    uint64_t at = 0;
    for (int k = 0; k < N; k++) {
        const lctw_st_entry *e = lctw_st_entry_at(f, k);
        int i = 0;
        while (i < N && strcmp(names[i], e->name))
            i++;
        if (i == N) {
            CHECK(0, "unexpected name %s", e->name);
            continue;
        }
        size_t nb = (size_t)lctw_tensor_numel(ts[i]) * 4;
        CHECK(e->dtype == LCTW_ST_F32 && e->ndim == ndims[i], "%s: dtype/ndim", e->name);
        for (int d = 0; d < e->ndim; d++)
            CHECK(e->shape[d] == shapes[i][d], "%s: shape", e->name);
        CHECK(e->begin == at && e->end == at + nb, "%s: offsets %llu..%llu, expected %llu..",
              e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
              (unsigned long long)at);
        CHECK(!memcmp(raw + 8 + hn + at, lctw_tensor_data(ts[i]), nb), "%s: raw bytes", e->name);
        lctw_tensor *l = NULL;
        CHECK_OK(lctw_st_load_tensor(&l, f, e->name));
        if (l) {
            CHECK(lctw_tensor_same_shape(l, ts[i]) && lctw_tensor_is_contiguous(l), "%s shape",
                  e->name);
            CHECK(!memcmp(lctw_tensor_data(l), lctw_tensor_data(ts[i]), nb), "%s: bits differ",
                  e->name);
        }
        lctw_tensor_release(l);
        at += nb;
    }
    CHECK(flen == 8 + hn + at, "file size %zu, expected %llu", flen,
          (unsigned long long)(8 + hn + at));
    free(raw);
    test_detail("%d tensors, %llu header bytes", N, (unsigned long long)hn);
out:
    lctw_st_close(f);
    for (int i = 0; i < N; i++)
        lctw_tensor_release(ts[i]);
}

static void t_save_strided_view(void) {
    int64_t sh[2] = {3, 5};
    lctw_tensor *t = random_tensor(2, sh), *v = NULL, *n = NULL;
    CHECK_OK(lctw_tensor_transpose(&v, t, 0, 1)); /* 5×3, not contiguous */
    CHECK_OK(lctw_tensor_narrow(&n, v, 0, 1, 3)); /* rows 1..3 of the transpose: 3×3 */
    const char *names[] = {"t", "n"};
    lctw_tensor *ts[] = {v, n};
    const char *path = tpath("strided.safetensors");
    CHECK_OK(lctw_st_save(path, 2, names, ts, 0, NULL, NULL));
    lctw_st_file *f = NULL;
    CHECK_OK(lctw_st_open(&f, path));
    int bad = 0;
    for (int k = 0; f && k < 2; k++) {
        lctw_tensor *l = NULL;
        CHECK_OK(lctw_st_load_tensor(&l, f, names[k]));
        if (!l) continue;
        CHECK(lctw_tensor_same_shape(l, ts[k]), "%s shape", names[k]);
        const float *src = lctw_tensor_data(ts[k]), *dst = lctw_tensor_data(l);
        for (int64_t i = 0; i < lctw_tensor_numel(l); i++)
            if (memcmp(&dst[i], &src[lctw_tensor_flat_offset(ts[k], i)], 4)) bad++;
        lctw_tensor_release(l);
    }
    CHECK(bad == 0, "%d values differ", bad);
    lctw_st_close(f);
    lctw_tensor_release(n);
    lctw_tensor_release(v);
    lctw_tensor_release(t);
}

/* ---- dtype conversion ---- */

static double ref_f16(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static double ref_bf16(uint16_t h) {
    int s = h >> 15, e = (h >> 7) & 255, m = h & 127;
    double v = e == 255 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
    return s ? -v : v;
}

/* A file with one 65536-element tensor of dtype `dt` holding every 16-bit pattern. */
static lctw_tensor *load_all_u16(const char *dt) {
    char hdr[160];
    snprintf(hdr, sizeof hdr,
             "{\"all\":{\"dtype\":\"%s\",\"shape\":[256,256],\"data_offsets\":[0,131072]}}", dt);
    size_t len;
    unsigned char *b = image(hdr, 131072, &len);
    unsigned char *d = b + 8 + strlen(hdr);
    for (int k = 0; k < 65536; k++) {
        d[2 * k] = (unsigned char)(k & 255);
        d[2 * k + 1] = (unsigned char)(k >> 8);
    }
    lctw_st_file *f = NULL;
    lctw_tensor *t = NULL;
    CHECK_OK(lctw_st_open_buffer(&f, b, len, "u16.safetensors"));
    if (f) CHECK_OK(lctw_st_load_tensor(&t, f, "all"));
    lctw_st_close(f);
    free(b);
    return t;
}

static int same_value(float got, double ref) {
    if (isnan(ref)) return isnan(got) && !signbit(got) == !signbit(ref);
    return (double)got == ref && !signbit(got) == !signbit(ref);
}

static void t_f16_all_values(void) {
    lctw_tensor *t = load_all_u16("F16");
    if (!t) return;
    const float *x = lctw_tensor_data(t);
    int bad = 0, first = -1;
    for (int k = 0; k < 65536; k++)
        if (!same_value(x[k], ref_f16((uint16_t)k)) && bad++ == 0) first = k;
    CHECK(bad == 0, "%d of 65536 differ, first 0x%04x: %.9g vs %.9g", bad, first,
          first >= 0 ? x[first] : 0.0, first >= 0 ? ref_f16((uint16_t)first) : 0.0);
    CHECK(x[0x3c00] == 1.0f && x[0x0001] == ldexpf(1, -24) && x[0x7bff] == 65504.0f, "anchors");
    lctw_tensor_release(t);
    test_detail("65536 patterns");
}

static void t_bf16_all_values(void) {
    lctw_tensor *t = load_all_u16("BF16");
    if (!t) return;
    const float *x = lctw_tensor_data(t);
    int bad = 0, first = -1;
    for (int k = 0; k < 65536; k++)
        if (!same_value(x[k], ref_bf16((uint16_t)k)) && bad++ == 0) first = k;
    CHECK(bad == 0, "%d of 65536 differ, first 0x%04x", bad, first);
    CHECK(x[0x3f80] == 1.0f && x[0xc000] == -2.0f, "anchors");
    lctw_tensor_release(t);
    test_detail("65536 patterns");
}

static void t_f64_rounding(void) {
    double v[] = {0.1,
                  -2.5,
                  3.141592653589793,
                  1e300,
                  -1e300,
                  1e-50,
                  ldexp(1, -148),
                  ldexp(3, -150),
                  ldexp(5, -151),
                  1.0 + ldexp(1, -24),
                  1.0 + ldexp(1, -24) + ldexp(1, -40),
                  65504.0,
                  -0.0,
                  3.4e38,
                  NAN,
                  1e-45,
                  123456789.123};
    enum { N = sizeof v / sizeof v[0] };
    char hdr[160];
    snprintf(hdr, sizeof hdr, "{\"d\":{\"dtype\":\"F64\",\"shape\":[%d],\"data_offsets\":[0,%d]}}",
             N, N * 8);
    size_t len;
    unsigned char *b = image(hdr, N * 8, &len);
    unsigned char *d = b + 8 + strlen(hdr);
    for (int k = 0; k < N; k++) {
        uint64_t bits;
        memcpy(&bits, &v[k], 8);
        for (int j = 0; j < 8; j++)
            d[8 * k + j] = (unsigned char)(bits >> (8 * j));
    }
    lctw_st_file *f = NULL;
    lctw_tensor *t = NULL;
    CHECK_OK(lctw_st_open_buffer(&f, b, len, "f64.safetensors"));
    if (f) CHECK_OK(lctw_st_load_tensor(&t, f, "d"));
    for (int k = 0; t && k < N; k++) {
        float g = lctw_tensor_data(t)[k];
        if (isnan(v[k])) {
            CHECK(isnan(g), "NaN");
            continue;
        }
        if (fabs(v[k]) > 3.40282356779733661637539395458142568448e38) { /* past FLT_MAX + ulp/2 */
            CHECK(isinf(g) && !signbit(g) == !signbit(v[k]), "%g -> %g (expected inf)", v[k], g);
            continue;
        }
        /* round to nearest: no float is closer to v than g (ties go to the even mantissa) */
        double e0 = fabs((double)g - v[k]);
        double up = fabs((double)nextafterf(g, INFINITY) - v[k]);
        double dn = fabs((double)nextafterf(g, -INFINITY) - v[k]);
        CHECK(e0 <= up && e0 <= dn, "%.17g -> %.9g is not the nearest float", v[k], g);
        CHECK(!signbit(g) == !signbit(v[k]), "%.17g: sign", v[k]);
    }
    lctw_tensor_release(t);
    lctw_st_close(f);
    free(b);
}

/* ---- load_into, dtype and dims checks ---- */

static void t_load_into_and_errors(void) {
    const char *hdr =
        "{\"enc.conv.weight\":{\"dtype\":\"F32\",\"shape\":[64,3,3,3],\"data_offsets\":[0,6912]},"
        "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[6912,6928]},"
        "\"five\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[6928,6936]},"
        "\"small\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[6936,6948]}}";
    size_t len;
    unsigned char *b = image(hdr, 6948, &len);
    unsigned char *d = b + 8 + strlen(hdr);
    for (int k = 0; k < 6; k++) { /* small = 1..6 as halves: 1 = 0x3c00, 2 = 0x4000, ... */
        float want = (float)(k + 1);
        int e = 0;
        double m = frexp(want, &e); /* want = m * 2^e, m in [0.5, 1) */
        uint16_t h = (uint16_t)(((e - 1 + 15) << 10) | (uint16_t)((m * 2 - 1) * 1024));
        d[6936 + 2 * k] = (unsigned char)(h & 255);
        d[6936 + 2 * k + 1] = (unsigned char)(h >> 8);
    }
    lctw_st_file *f = NULL;
    CHECK_OK(lctw_st_open_buffer(&f, b, len, "m.safetensors"));
    if (!f) goto out;
    CHECK(lctw_st_count(f) == 4, "open accepts the I64 and 5-D entries");
    const lctw_st_entry *five = lctw_st_find(f, "five");
    CHECK(five && five->ndim == 5 && five->numel == 2, "5-D entry");
    lctw_tensor *t = NULL;
    int64_t want[4] = {64, 4, 3, 3};
    CHECK_OK(lctw_tensor_zeros(&t, 4, want, LCTW_DEV_CPU));
    lctw_status s = lctw_st_load_into(f, "enc.conv.weight", t);
    CHECK(s == LCTW_ESHAPE &&
              strstr(lctw_error_message(), "m.safetensors: tensor 'enc.conv.weight': shape "
                                           "64×3×3×3 in file, model expects 64×4×3×3"),
          "message: %s", lctw_error_message());
    lctw_tensor_release(t);
    s = lctw_st_load_tensor(&t, f, "ids");
    CHECK(s != LCTW_OK && !t &&
              strstr(lctw_error_message(), "tensor 'ids' has dtype I64; lctw loads float tensors"),
          "I64: %s", lctw_error_message());
    s = lctw_st_load_tensor(&t, f, "five");
    CHECK(s == LCTW_ESHAPE && strstr(lctw_error_message(), "5 dimensions") &&
              strstr(lctw_error_message(), "at most 4"),
          "5-D: %s", lctw_error_message());
    s = lctw_st_load_tensor(&t, f, "nope");
    CHECK(s != LCTW_OK && strstr(lctw_error_message(), "no tensor named 'nope'") &&
              strstr(lctw_error_message(), "'enc.conv.weight'"),
          "missing: %s", lctw_error_message());
    /* into a transposed (non-contiguous) view: element (i, j) of the view is small[i][j] */
    int64_t s32[2] = {3, 2};
    lctw_tensor *base = NULL, *view = NULL;
    CHECK_OK(lctw_tensor_zeros(&base, 2, s32, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_transpose(&view, base, 0, 1));
    CHECK_OK(lctw_st_load_into(f, "small", view));
    const float *bb = base ? lctw_tensor_data(base) : NULL;
    for (int i = 0; bb && i < 2; i++)
        for (int j = 0; j < 3; j++)
            CHECK(bb[j * 2 + i] == (float)(i * 3 + j + 1), "view (%d,%d) = %g", i, j,
                  bb[j * 2 + i]);
    /* into a contiguous destination */
    int64_t s23[2] = {2, 3};
    lctw_tensor *c = NULL;
    CHECK_OK(lctw_tensor_zeros(&c, 2, s23, LCTW_DEV_CPU));
    CHECK_OK(lctw_st_load_into(f, "small", c));
    for (int k = 0; c && k < 6; k++)
        CHECK(lctw_tensor_data(c)[k] == (float)(k + 1), "contiguous [%d]", k);
    lctw_tensor_release(c);
    lctw_tensor_release(view);
    lctw_tensor_release(base);
out:
    lctw_st_close(f);
    free(b);
}

/* ---- malformed files ---- */

#define T1 "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

static int check_bad(const unsigned char *b, size_t len, const char *w1, const char *w2) {
    lctw_st_file *f = NULL;
    lctw_status s = lctw_st_open_buffer(&f, b, len, "bad.safetensors");
    const char *m = lctw_error_message();
    int ok = s == LCTW_EFORMAT && !f && !strncmp(m, "bad.safetensors: ", 17) && strstr(m, w1) &&
             (!w2 || strstr(m, w2));
    if (!ok)
        test_fail_(__FILE__, __LINE__, "status %d, message '%s' (want '%s'%s%s)", s, m, w1,
                   w2 ? " and " : "", w2 ? w2 : "");
    lctw_st_close(f);
    return ok;
}

static int bad_header(const char *hdr, size_t dlen, const char *w1, const char *w2) {
    size_t len;
    unsigned char *b = image(hdr, dlen, &len);
    int ok = check_bad(b, len, w1, w2);
    if (!ok) printf("  (header: %s)\n", hdr);
    free(b);
    return ok;
}

static void t_malformed_files(void) {
    int n = 0, ok = 0;
    size_t len;
    unsigned char *b;
    /* framing */
    ok += check_bad((const unsigned char *)"abc", 3, "too short", NULL), n++;
    b = image_n(0, "", 16, &len);
    ok += check_bad(b, len, "header length is 0", NULL), n++;
    free(b);
    b = image_n(100, "{}", 10, &len);
    ok += check_bad(b, len, "header length 100 exceeds the file", NULL), n++;
    free(b);
    b = image_n(100000001, "{}", 10, &len);
    ok += check_bad(b, len, "exceeds the 100 MB limit", NULL), n++;
    free(b);
    b = image_n(UINT64_MAX, "{}", 10, &len);
    ok += check_bad(b, len, "100 MB", NULL), n++;
    free(b);
    /* JSON */
    ok += bad_header("{\"a\":" T1 ",}", 8, "JSON syntax error at byte 54", "expected a string key"),
        n++;
    ok += bad_header("{\"a\":" T1 " junk", 8, "JSON syntax error at byte 54", NULL), n++;
    ok += bad_header("{\"a\":" T1 ",\"a\":" T1 "}", 8, "duplicate key \"a\"", NULL), n++;
    ok += bad_header("{\"\xc3\x28\":" T1 "}", 8, "invalid UTF-8", NULL), n++;
    ok += bad_header("[1,2]", 0, "not a JSON object", NULL), n++;
    ok += bad_header("\"str\"", 0, "not a JSON object", NULL), n++;
    /* entries */
    ok += bad_header("{\"a\":5}", 0, "tensor 'a': entry is 5", "expected an object"), n++;
    ok += bad_header("{\"a\":[1]}", 0, "tensor 'a': entry is an array", NULL), n++;
    ok +=
        bad_header("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing \"dtype\"", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing \"shape\"",
                     NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing \"data_offsets\"",
                     NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                     "unknown dtype \"F31\"", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                     "\"dtype\" is 32", "expected a string"),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                     "shape entry 1 is -2", "non-negative integer"),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2.5],\"data_offsets\":[0,8]}}", 8,
                     "shape entry 2 is 2.5", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
                     "shape entry 1 is the string", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
                     "\"shape\" is 2", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                     "\"data_offsets\":[0,8]}}",
                     8, "too many elements", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
                     "\"data_offsets\" must be two non-negative integers", "1 element"),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 9,
                     "\"data_offsets\" must be two", "3 elements"),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8,
                     "\"data_offsets\" must be two", "[0, the string \"8\"]"),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8,
                     "\"data_offsets\" must be two", "[-8, 0]"),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{}}}", 8,
                     "\"data_offsets\" must be two", "an object"),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
                     "begin is after end", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                     "end is beyond the data section (4 bytes)", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                     "hold 8 bytes", "dtype F32 with shape 3 needs 12"),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4,
                     "dtype F16 with shape 2×2 needs 8", NULL),
        n++;
    ok += bad_header("{\"a\\u0000b\":" T1 "}", 8, "NUL", NULL), n++;
    /* coverage of the data section */
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                     12, "tensors 'a' (bytes 0..8) and 'b' (bytes 4..12) overlap", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                     8, "overlap", NULL),
        n++;
    ok += bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                     20, "bytes 8..12 of the data section belong to no tensor", "gap before 'b'"),
        n++;
    ok += bad_header("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                     "bytes 0..4", "gap"),
        n++;
    ok += bad_header("{\"a\":" T1 "}", 12, "data section is 12 bytes", "trailing"), n++;
    ok += bad_header("{}", 3, "data section is 3 bytes", "trailing"), n++;
    /* metadata */
    ok += bad_header("{\"__metadata__\":{\"k\":1},\"a\":" T1 "}", 8,
                     "metadata value for key 'k' is 1", "expected a string"),
        n++;
    ok += bad_header("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0,
                     "metadata value for key 'k' "
                     "is an object",
                     NULL),
        n++;
    ok += bad_header("{\"__metadata__\":[\"x\"]}", 0, "\"__metadata__\" is an array", NULL), n++;
    ok +=
        bad_header("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "duplicate key \"k\"", NULL),
        n++;
    /* a real file on disk: the message starts with its path */
    b = image("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, &len);
    const char *p = tpath("bad_on_disk.safetensors");
    write_file(p, b, len);
    free(b);
    lctw_st_file *f = NULL;
    lctw_status s = lctw_st_open(&f, p);
    char want[600];
    snprintf(want, sizeof want, "%s: tensor 'a'", p);
    CHECK(s == LCTW_EFORMAT && !strncmp(lctw_error_message(), want, strlen(want)), "on disk: %s",
          lctw_error_message());
    n++, ok += s == LCTW_EFORMAT;
    s = lctw_st_open(&f, tpath("does_not_exist.safetensors"));
    CHECK(s == LCTW_EIO && strstr(lctw_error_message(), "does_not_exist.safetensors: cannot open"),
          "missing file: %s", lctw_error_message());
    write_file(tpath("short.safetensors"), "abcd", 4);
    s = lctw_st_open(&f, tpath("short.safetensors"));
    CHECK(s == LCTW_EFORMAT && strstr(lctw_error_message(), "file is 4 bytes, too short"),
          "short: %s", lctw_error_message());
    write_file(tpath("zero.safetensors"), "", 0);
    s = lctw_st_open(&f, tpath("zero.safetensors"));
    CHECK(s == LCTW_EFORMAT && strstr(lctw_error_message(), "file is 0 bytes"), "empty: %s",
          lctw_error_message());
    s = lctw_st_open(&f, tmpdir);
    CHECK(s == LCTW_EIO && strstr(lctw_error_message(), "directory"), "dir: %s",
          lctw_error_message());
    /* valid corner cases */
    b = image("{}", 0, &len);
    s = lctw_st_open_buffer(&f, b, len, "empty-ok");
    CHECK(s == LCTW_OK && lctw_st_count(f) == 0, "{} with no data: %s", lctw_error_message());
    lctw_st_close(f);
    free(b);
    b = image(
        "{\"__metadata__\":null,\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
        "\"x\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[0,1],\"extra\":1},"
        "\"y\":{\"dtype\":\"U8\",\"shape\":[7],\"data_offsets\":[1,8]}}    ",
        8, &len);
    s = lctw_st_open_buffer(&f, b, len, "corner-ok");
    CHECK(s == LCTW_OK && lctw_st_count(f) == 3 && lctw_st_metadata_count(f) == 0,
          "zero-size/scalar/null metadata: %s", lctw_error_message());
    lctw_st_close(f);
    free(b);
    CHECK(ok == n, "%d of %d malformed cases as expected", ok, n);
    test_detail("%d malformed cases", n);
}

/* ---- fuzz ---- */

static void t_fuzz_header(void) {
    /* a valid file with metadata and mixed dtypes, as the starting point */
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\",\"n\":\"caf\\u00e9\"},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                      "\"c\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[32,36]},"
                      "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[36,44]},"
                      "\"e\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[44,52]}}  ";
    size_t len;
    unsigned char *orig = image(hdr, 52, &len);
    size_t hn = strlen(hdr);
    lctw_st_file *f = NULL;
    CHECK_OK(lctw_st_open_buffer(&f, orig, len, "fuzz"));
    lctw_st_close(f);
    const char dict[] = "{}[]\",:0123456789-.eE \\u\x80\xff\x00";
    int n_ok = 0, n_err = 0, n_loaded = 0;
    rng_state = 20240601;
    for (int it = 0; it < 4000; it++) {
        size_t blen = len;
        unsigned char *b = malloc(len);
        memcpy(b, orig, len);
        int mode = (int)(next_u64() % 6);
        int nmut = 1 + (int)(next_u64() % 4);
        for (int m = 0; m < nmut; m++) {
            size_t pos = 8 + (size_t)(next_u64() % hn);
            switch (mode) {
            case 0: b[pos] = (unsigned char)next_u64(); break;
            case 1: b[pos] = (unsigned char)dict[next_u64() % (sizeof dict - 1)]; break;
            case 2: b[pos] ^= (unsigned char)(1u << (next_u64() % 8)); break;
            case 3: { /* the length field: random, near the true value, or huge */
                uint64_t v = next_u64();
                uint64_t nf = m & 1 ? hn + (v % 17) - 8 : v >> (v % 64);
                for (int k = 0; k < 8; k++)
                    b[k] = (unsigned char)(nf >> (8 * k));
                break;
            }
            case 4: blen = (size_t)(next_u64() % (len + 1)); break; /* truncation */
            default: { /* a digit run inside numbers: shapes and offsets */
                b[pos] = (unsigned char)('0' + next_u64() % 10);
                break;
            }
            }
        }
        unsigned char *exact = malloc(blen ? blen : 1); /* exact size: ASan sees over-reads */
        memcpy(exact, b, blen);
        free(b);
        lctw_status s = lctw_st_open_buffer(&f, exact, blen, "fuzz");
        if (s == LCTW_OK) {
            n_ok++;
            for (int k = 0; k < lctw_st_count(f); k++) {
                const lctw_st_entry *e = lctw_st_entry_at(f, k);
                if (e->end > lctw_st_data_size(f) || e->begin > e->end)
                    CHECK(0, "iteration %d: entry %s outside the data section", it, e->name);
                lctw_tensor *t = NULL;
                if (lctw_st_load_tensor(&t, f, e->name) == LCTW_OK) n_loaded++;
                lctw_tensor_release(t);
            }
            lctw_st_close(f);
        } else if (s == LCTW_EFORMAT) {
            n_err++;
            if (strncmp(lctw_error_message(), "fuzz: ", 6))
                CHECK(0, "iteration %d: message without the path: %s", it, lctw_error_message());
        } else {
            CHECK(0, "iteration %d: status %d (%s)", it, s, lctw_error_message());
        }
        free(exact);
    }
    /* the same through real files, a few times */
    for (int it = 0; it < 40; it++) {
        unsigned char *b = malloc(len);
        memcpy(b, orig, len);
        b[8 + next_u64() % hn] = (unsigned char)dict[next_u64() % (sizeof dict - 1)];
        write_file(tpath("fuzz.safetensors"), b, len);
        free(b);
        lctw_status s = lctw_st_open(&f, tpath("fuzz.safetensors"));
        CHECK(s == LCTW_OK || s == LCTW_EFORMAT, "file iteration %d: %d", it, s);
        lctw_st_close(f);
        f = NULL;
    }
    free(orig);
    test_detail("4000 corruptions: %d opened (%d tensors loaded), %d rejected", n_ok, n_loaded,
                n_err);
}

/* ---- the shared taesd files ---- */

static const struct {
    const char *file;
    uint64_t header;
    int count;
    const char *license;
    struct {
        const char *name;
        int ndim;
        int64_t shape[4];
        uint64_t begin, end;
    } t[3]; /* t[0] is the first name in byte order */
} taesd[] = {
    {"sd1_a1111_vaeapprox_decoder.safetensors",
     1432,
     16,
     "AGPL-3.0 (repository licence)",
     {{"conv1.bias", 1, {8}, 0, 32},
      {"conv5.bias", 1, {32}, 111712, 111840},
      {"conv8.weight", 4, {3, 8, 3, 3}, 208716, 209580}}},
    {"sd1_vaelight_decoder.safetensors",
     4352,
     56,
     "Apache-2.0",
     {{"c2v1.bias", 1, {8}, 0, 32},
      {"c4v6.bias", 1, {64}, 162488, 162744},
      {"cv9.weight", 4, {64, 64, 2, 2}, 1001584, 1067120}}},
    {"sd1_vaelight_encoder.safetensors",
     1848,
     22,
     "Apache-2.0",
     {{"cv1.bias", 1, {16}, 0, 64},
      {"cv18.weight", 4, {4, 128, 3, 3}, 598864, 617296},
      {"cv6.weight", 4, {4, 64, 3, 3}, 792160, 801376}}},
    {"taef2_decoder.safetensors",
     6680,
     79,
     "MIT",
     {{"1.bias", 1, {64}, 0, 256},
      {"3.conv.2.weight", 4, {64, 64, 3, 3}, 2739468, 2886924},
      {"9.conv.4.weight", 4, {64, 64, 3, 3}, 5206540, 5353996}}},
    {"taef2_encoder.safetensors",
     6680,
     79,
     "MIT",
     {{"0.bias", 1, {64}, 0, 256},
      {"14.bias", 1, {32}, 2326528, 2326656},
      {"9.conv.4.weight", 4, {64, 64, 3, 3}, 5206656, 5354112}}},
};

static void t_taesd_files(void) {
    const char *dir = "../shared/data/taesd";
    struct stat sb;
    if (stat(dir, &sb) != 0) SKIP("%s not found", dir);
    int files = 0, tensors = 0;
    for (size_t k = 0; k < sizeof taesd / sizeof *taesd; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, taesd[k].file);
        lctw_st_file *f = NULL;
        lctw_status s = lctw_st_open(&f, path);
        CHECK(s == LCTW_OK, "%s: %s", path, lctw_error_message());
        if (s != LCTW_OK) continue;
        files++;
        CHECK(lctw_st_count(f) == taesd[k].count, "%s: %d tensors, expected %d", taesd[k].file,
              lctw_st_count(f), taesd[k].count);
        CHECK(lctw_st_header_size(f) == taesd[k].header, "%s: header size", taesd[k].file);
        const char *lic = lctw_st_metadata_get(f, "license");
        CHECK(lic && !strcmp(lic, taesd[k].license), "%s: license %s", taesd[k].file,
              lic ? lic : "(none)");
        CHECK(!strcmp(lctw_st_entry_at(f, 0)->name, taesd[k].t[0].name), "%s: first name %s",
              taesd[k].file, lctw_st_entry_at(f, 0)->name);
        size_t flen = 0;
        unsigned char *raw = read_file(path, &flen);
        for (int j = 0; j < 3; j++) {
            const lctw_st_entry *e = lctw_st_find(f, taesd[k].t[j].name);
            CHECK(e != NULL, "%s: no %s", taesd[k].file, taesd[k].t[j].name);
            if (!e) continue;
            CHECK(e->dtype == LCTW_ST_F32 && e->ndim == taesd[k].t[j].ndim &&
                      e->begin == taesd[k].t[j].begin && e->end == taesd[k].t[j].end,
                  "%s: %s entry", taesd[k].file, e->name);
            for (int d = 0; d < e->ndim && d < 4; d++)
                CHECK(e->shape[d] == taesd[k].t[j].shape[d], "%s: %s shape", taesd[k].file,
                      e->name);
            lctw_tensor *t = NULL;
            CHECK_OK(lctw_st_load_tensor(&t, f, e->name));
            size_t off = 8 + (size_t)taesd[k].header + (size_t)taesd[k].t[j].begin;
            size_t nb = (size_t)(taesd[k].t[j].end - taesd[k].t[j].begin);
            if (t && raw && off + nb <= flen)
                CHECK(!memcmp(lctw_tensor_data(t), raw + off, nb),
                      "%s: %s values differ from "
                      "the raw bytes",
                      taesd[k].file, e->name);
            lctw_tensor_release(t);
        }
        free(raw);
        for (int j = 0; j < lctw_st_count(f); j++) { /* every tensor loads */
            lctw_tensor *t = NULL;
            CHECK_OK(lctw_st_load_tensor(&t, f, lctw_st_entry_at(f, j)->name));
            tensors += t != NULL;
            lctw_tensor_release(t);
        }
        lctw_st_close(f);
    }
    test_detail("%d files, %d tensors", files, tensors);
}

/* ---- atomic save ---- */

static int same_file(const char *path, const unsigned char *b, size_t n) {
    size_t m;
    unsigned char *c = read_file(path, &m);
    int same = c && m == n && !memcmp(b, c, n);
    free(c);
    return same;
}

static void t_atomic_save(void) {
    const char *path = tpath("keep.safetensors");
    const char *content = "precious bytes that must survive failed saves";
    size_t clen = strlen(content);
    write_file(path, content, clen);
    int64_t sh[1] = {16384};
    lctw_tensor *big = random_tensor(1, sh);
    const char *nm[] = {"w", "w"};
    lctw_tensor *ts[] = {big, big};
    lctw_status s;
    /* 1. a directory that does not exist */
    s = lctw_st_save(tpath("no_such_dir/x.safetensors"), 1, nm, ts, 0, NULL, NULL);
    CHECK(s == LCTW_EIO && strstr(lctw_error_message(), "no_such_dir/x.safetensors"),
          "missing dir: %s", lctw_error_message());
    /* 2. argument errors before anything is written */
    s = lctw_st_save(path, 2, nm, ts, 0, NULL, NULL);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "duplicate tensor name 'w'"), "dup: %s",
          lctw_error_message());
    const char *mk[] = {"k", "k"}, *mv[] = {"1", "2"};
    s = lctw_st_save(path, 1, nm, ts, 2, mk, mv);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "duplicate metadata key 'k'"),
          "dup meta: %s", lctw_error_message());
    const char *reserved[] = {"__metadata__"};
    s = lctw_st_save(path, 1, reserved, ts, 0, NULL, NULL);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "reserved"), "reserved: %s",
          lctw_error_message());
    const char *badutf[] = {"bad\xff"};
    s = lctw_st_save(path, 1, badutf, ts, 0, NULL, NULL);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "UTF-8"), "utf8: %s",
          lctw_error_message());
    lctw_tensor *nulls[] = {NULL};
    s = lctw_st_save(path, 1, nm, nulls, 0, NULL, NULL);
    CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "tensor 'w' is NULL"), "NULL: %s",
          lctw_error_message());
    CHECK(same_file(path, (const unsigned char *)content, clen), "file changed by argument errors");
    /* 3. a write error after the temp file was created: file size limit (EFBIG) */
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    struct rlimit lim = old;
    lim.rlim_cur = 8192;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        s = lctw_st_save(path, 1, nm, ts, 0, NULL, NULL);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(s == LCTW_EIO && strstr(lctw_error_message(), "write failed (tensor 'w')"),
              "EFBIG: %s", lctw_error_message());
    } else {
        CHECK(0, "setrlimit failed");
    }
    signal(SIGXFSZ, prev);
    CHECK(same_file(path, (const unsigned char *)content, clen), "file changed by a failed write");
    /* 4. a tensor that cannot be copied to the CPU, after the header was written */
    if (lctw_cuda_device_count() == 0) {
        lctw_storage *st = NULL;
        lctw_tensor *fake = NULL;
        float host[4] = {0};
        CHECK_OK(lctw_storage_wrap(&st, host, sizeof host, LCTW_DEV_CUDA));
        if (st) CHECK_OK(lctw_tensor_on_storage(&fake, st, 0, 1, (int64_t[]){4}));
        lctw_storage_release(st);
        const char *nm2[] = {"a_cpu", "b_cuda"};
        lctw_tensor *ts2[] = {big, fake};
        if (fake) {
            s = lctw_st_save(path, 2, nm2, ts2, 0, NULL, NULL);
            CHECK(s != LCTW_OK && strstr(lctw_error_message(), "tensor 'b_cuda'"), "cuda: %s",
                  lctw_error_message());
            CHECK(same_file(path, (const unsigned char *)content, clen),
                  "file changed by a failed tensor copy");
        }
        lctw_tensor_release(fake);
    }
    /* 5. a directory in the way of the rename */
    mkdir(tpath("a_dir.safetensors"), 0777);
    s = lctw_st_save(tpath("a_dir.safetensors"), 1, nm, ts, 0, NULL, NULL);
    CHECK(s == LCTW_EIO && strstr(lctw_error_message(), "cannot replace"), "dir target: %s",
          lctw_error_message());
    rmdir(tpath("a_dir.safetensors"));
    CHECK(count_files(".tmp.") == 0, "%d temp files left behind", count_files(".tmp."));
    /* 6. success replaces the file */
    CHECK_OK(lctw_st_save(path, 1, nm, ts, 0, NULL, NULL));
    lctw_st_file *f = NULL;
    CHECK_OK(lctw_st_open(&f, path));
    CHECK(f && lctw_st_count(f) == 1 && lctw_st_find(f, "w")->numel == 16384, "replaced");
    lctw_st_close(f);
    struct stat sb;
    mode_t um = umask(022);
    umask(um);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == (0666 & ~um), "mode %o",
          (unsigned)(sb.st_mode & 0777));
    CHECK(count_files(".tmp.") == 0, "temp files left after success");
    lctw_tensor_release(big);
}

static void t_save_empty_and_metadata_only(void) {
    const char *path = tpath("empty.safetensors");
    CHECK_OK(lctw_st_save(path, 0, NULL, NULL, 0, NULL, NULL));
    size_t n;
    unsigned char *raw = read_file(path, &n);
    CHECK(raw && n == 16 && !memcmp(raw + 8, "{}      ", 8), "empty file layout (%zu bytes)", n);
    free(raw);
    const char *k[] = {"only"}, *v[] = {"meta"};
    CHECK_OK(lctw_st_save(path, 0, NULL, NULL, 1, k, v));
    lctw_st_file *f = NULL;
    CHECK_OK(lctw_st_open(&f, path));
    CHECK(f && lctw_st_count(f) == 0 && !strcmp(lctw_st_metadata_get(f, "only"), "meta"), "meta");
    lctw_st_close(f);
}

/* ---- CUDA tensors (a device is needed) ---- */

static void t_cuda_tensors(void) {
    if (lctw_cuda_device_count() == 0) SKIP("no CUDA device (%s)", lctw_cuda_describe());
    int64_t sh[2] = {3, 4};
    lctw_tensor *h = NULL, *d = NULL, *dt = NULL, *d2 = NULL, *back = NULL;
    CHECK_OK(lctw_tensor_empty(&h, 2, sh, LCTW_DEV_CPU));
    if (!h) return;
    for (int i = 0; i < 12; i++)
        lctw_tensor_data(h)[i] = (float)i * 0.37f - 3.0f;
    CHECK_OK(lctw_tensor_to(&d, h, LCTW_DEV_CUDA));
    if (d) CHECK_OK(lctw_tensor_transpose(&dt, d, 0, 1)); /* 4×3, strided, on the device */
    const char *names[] = {"d", "dt"};
    lctw_tensor *ts[] = {d, dt};
    const char *path = tpath("cuda.safetensors");
    if (dt) CHECK_OK(lctw_st_save(path, 2, names, ts, 0, NULL, NULL));
    lctw_st_file *f = NULL;
    if (dt) CHECK_OK(lctw_st_open(&f, path));
    if (f) {
        lctw_tensor *l = NULL;
        CHECK_OK(lctw_st_load_tensor(&l, f, "d"));
        if (l) CHECK(!memcmp(lctw_tensor_data(l), lctw_tensor_data(h), 48), "d values");
        lctw_tensor_release(l);
        CHECK_OK(lctw_st_load_tensor(&l, f, "dt"));
        for (int i = 0; l && i < 4; i++)
            for (int j = 0; j < 3; j++)
                CHECK(lctw_tensor_data(l)[i * 3 + j] == lctw_tensor_data(h)[j * 4 + i],
                      "dt (%d,%d)", i, j);
        lctw_tensor_release(l);
        /* into a device tensor */
        CHECK_OK(lctw_tensor_zeros(&d2, 2, sh, LCTW_DEV_CUDA));
        if (d2) CHECK_OK(lctw_st_load_into(f, "d", d2));
        if (d2) CHECK_OK(lctw_tensor_to(&back, d2, LCTW_DEV_CPU));
        if (back) CHECK(!memcmp(lctw_tensor_data(back), lctw_tensor_data(h), 48), "load_into cuda");
    }
    lctw_st_close(f);
    lctw_tensor_release(back);
    lctw_tensor_release(d2);
    lctw_tensor_release(dt);
    lctw_tensor_release(d);
    lctw_tensor_release(h);
    test_detail("%s", lctw_cuda_describe());
}

static void cleanup(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lctw_st_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL test_safetensors.c: cannot create a temporary directory\n");
        return 1;
    }
    RUN(t_round_trip_bit_exact);
    RUN(t_save_strided_view);
    RUN(t_f16_all_values);
    RUN(t_bf16_all_values);
    RUN(t_f64_rounding);
    RUN(t_load_into_and_errors);
    RUN(t_malformed_files);
    RUN(t_fuzz_header);
    RUN(t_taesd_files);
    RUN(t_atomic_save);
    RUN(t_save_empty_and_metadata_only);
    RUN(t_cuda_tensors);
    cleanup();
    return test_summary();
}
