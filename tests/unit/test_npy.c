/* test_npy.c — .npy reading and writing (src/io/npy.c).
 *
 * Files are built byte by byte here from the format description (magic, version, little-endian
 * header length, dict text, raw data), never by the code under test; expected values come from
 * independent double-precision formulas (e.g. binary16: (-1)^s 2^(e-15) (1 + m/1024)).
 * Also: every half value, mmap vs read, copy-on-write, one case per malformed input, a seeded
 * corruption loop (must never crash; run it under ASan), and the real UTKFace latents if present.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/npy.h"
#include "lctw_cuda.h"
#include "test.h"

static char tmpdir[256];

static const char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static int write_file(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(buf, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* A .npy file from its parts: magic, version major.0, header length (u16 for 1, u32 otherwise)
 * = strlen(hdr), the header text verbatim, then data. Returns the file size. */
static size_t make_npy_buf(unsigned char **out, int major, const char *hdr, const void *data,
                           size_t nbytes) {
    size_t hl = strlen(hdr), pre = major == 1 ? 10 : 12, n = pre + hl + nbytes;
    unsigned char *b = malloc(n + 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    b[8] = (unsigned char)(hl & 0xff);
    b[9] = (unsigned char)((hl >> 8) & 0xff);
    if (major != 1) {
        b[10] = (unsigned char)((hl >> 16) & 0xff);
        b[11] = (unsigned char)(hl >> 24);
    }
    memcpy(b + pre, hdr, hl);
    if (nbytes) memcpy(b + pre + hl, data, nbytes);
    *out = b;
    return n;
}

static int make_npy(const char *path, int major, const char *hdr, const void *data, size_t nbytes) {
    unsigned char *b;
    size_t n = make_npy_buf(&b, major, hdr, data, nbytes);
    int r = write_file(path, b, n);
    free(b);
    return r;
}

/* NumPy-like header: dict + spaces + '\n', total prefix+header a multiple of 64. */
static void padded_header(char *buf, size_t n, int major, const char *dict) {
    size_t pre = major == 1 ? 10 : 12, len = strlen(dict);
    size_t total = pre + len + 1, pad = (64 - total % 64) % 64;
    snprintf(buf, n, "%s%*s\n", dict, (int)pad, "");
}

/* Independent binary16 decoding in double precision. */
static double ref_half(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double sign = s ? -1.0 : 1.0;
    if (e == 31) return m ? NAN : sign * INFINITY;
    if (e == 0) return sign * ldexp(1.0, -14) * (m / 1024.0);
    return sign * ldexp(1.0, e - 15) * (1.0 + m / 1024.0);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static const lctw_npy_opts O_READ = {LCTW_NPY_MMAP_NEVER, 0};
static const lctw_npy_opts O_MAP = {LCTW_NPY_MMAP_ALWAYS, 0};

/* Message starts with "path:" and contains k1 and k2 (if given). */
static int msg_ok(const char *path, const char *k1, const char *k2) {
    const char *m = lctw_error_message();
    size_t pl = strlen(path);
    return !strncmp(m, path, pl) && m[pl] == ':' && (!k1 || strstr(m, k1)) &&
           (!k2 || strstr(m, k2));
}

/* ---- binary16 ---- */

static void t_half_all_65536(void) {
    int bad = 0, first = -1;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lctw_half_to_float((uint16_t)h);
        double r = ref_half((uint16_t)h);
        int ok;
        if (isnan(r))
            ok = isnan(f) && !!signbit(f) == !!(h >> 15);
        else
            ok = (double)f == r && !!signbit(f) == !!(h >> 15);
        if (!ok && !bad++) first = (int)h;
    }
    CHECK(!bad, "%d of 65536 half values wrong, first 0x%04x -> %.9g, expected %.9g", bad, first,
          first >= 0 ? lctw_half_to_float((uint16_t)first) : 0.0,
          first >= 0 ? ref_half((uint16_t)first) : 0.0);
    /* a few landmarks by value */
    CHECK(lctw_half_to_float(0x3c00) == 1.0f, "0x3c00 != 1");
    CHECK(lctw_half_to_float(0x0001) == 5.9604644775390625e-08f, "smallest subnormal");
    CHECK(lctw_half_to_float(0x7bff) == 65504.0f, "max half");
    test_detail("(65536 values exact)");
}

/* ---- round trips ---- */

static void fill_special(float *p, int64_t n) {
    static const uint32_t specials[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000,
                                        0x7fc00000, 0x00000001, 0x807fffff, 0x7f7fffff};
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = i < 8 ? specials[i] : (uint32_t)rnd();
        if (i >= 8 && ((u >> 23) & 0xff) == 0xff) u &= ~0x00800000u; /* keep NaNs rare */
        memcpy(p + i, &u, 4);
    }
}

static void t_roundtrip_shapes(void) {
    const int64_t shapes[][5] = {/* ndim, dims */
                                 {0},       {1, 5}, {2, 3, 4},       {3, 2, 3, 4}, {4, 2, 3, 4, 5},
                                 {2, 0, 3}, {1, 1}, {4, 1, 1, 1, 1}, {2, 7, 300}};
    int n = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int ndim = (int)shapes[k][0];
        lctw_tensor *t, *a, *b;
        CHECK_OK(lctw_tensor_empty(&t, ndim, shapes[k] + 1, LCTW_DEV_CPU));
        if (case_failed) return;
        int64_t numel = lctw_tensor_numel(t);
        fill_special(lctw_tensor_data(t), numel);
        const char *p = tpath("rt.npy");
        CHECK_OK(lctw_npy_save(p, t));
        CHECK_OK(lctw_npy_load(&a, p, &O_READ));
        CHECK_OK(lctw_npy_load(&b, p, &O_MAP));
        if (case_failed) return;
        for (lctw_tensor *x = a; x; x = x == a ? b : NULL) {
            CHECK(x->ndim == ndim, "case %zu: ndim %d, expected %d", k, x->ndim, ndim);
            for (int i = 0; i < ndim && i < x->ndim; i++)
                CHECK(x->shape[i] == shapes[k][i + 1], "case %zu: dim %d", k, i);
            CHECK(!memcmp(lctw_tensor_data(x), lctw_tensor_data(t), (size_t)numel * 4),
                  "case %zu: values differ after the round trip", k);
        }
        CHECK(numel == 0 || b->st->kind == LCTW_MEM_MMAP, "case %zu: mmap=always not mapped", k);
        CHECK(a->st->kind == LCTW_MEM_HEAP, "case %zu: mmap=never mapped", k);
        lctw_tensor_release(a);
        lctw_tensor_release(b);
        lctw_tensor_release(t);
        n++;
    }
    test_detail("(%d shapes bit-exact incl. ±0, ±inf, NaN, subnormals; read and mmap)", n);
}

/* The bytes NumPy would write: independent construction of the expected header. */
static void t_save_format(void) {
    int64_t sh[3] = {2, 3, 4};
    lctw_tensor *t;
    CHECK_OK(lctw_tensor_empty(&t, 3, sh, LCTW_DEV_CPU));
    if (case_failed) return;
    for (int i = 0; i < 24; i++)
        lctw_tensor_data(t)[i] = (float)i * 0.5f - 3.0f;
    const char *p = tpath("fmt.npy");
    CHECK_OK(lctw_npy_save(p, t));
    size_t n;
    unsigned char *b = read_file(p, &n);
    CHECK(b != NULL, "cannot read back %s", p);
    if (!b) return;
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }";
    char hdr[256];
    padded_header(hdr, sizeof hdr, 1, dict);
    size_t hl = strlen(hdr);
    CHECK(n == 10 + hl + 96, "file size %zu, expected %zu", n, 10 + hl + 96);
    CHECK(!memcmp(b, "\x93NUMPY\x01\x00", 8), "magic/version");
    CHECK(b[8] == (hl & 0xff) && b[9] == (hl >> 8), "header length %d, expected %zu",
          b[8] | b[9] << 8, hl);
    CHECK((10 + hl) % 64 == 0, "header not 64-aligned");
    if (n == 10 + hl + 96) {
        CHECK(!memcmp(b + 10, hdr, hl), "header text differs: %.*s", (int)hl, (char *)b + 10);
        for (int i = 0; i < 24; i++) {
            float v;
            memcpy(&v, b + 10 + hl + 4 * i, 4);
            CHECK(v == (float)i * 0.5f - 3.0f, "element %d = %g", i, v);
        }
    }
    free(b);
    /* 1-d and 0-d headers */
    int64_t s1 = 5;
    lctw_tensor *t1, *t0;
    CHECK_OK(lctw_tensor_zeros(&t1, 1, &s1, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_zeros(&t0, 0, NULL, LCTW_DEV_CPU));
    if (case_failed) return;
    CHECK_OK(lctw_npy_save(p, t1));
    b = read_file(p, &n);
    CHECK(b && strstr((char *)b + 10, "'shape': (5,), }") != NULL, "1-d header is not (5,)");
    free(b);
    CHECK_OK(lctw_npy_save(p, t0));
    b = read_file(p, &n);
    CHECK(b && strstr((char *)b + 10, "'shape': (), }") != NULL, "0-d header is not ()");
    padded_header(hdr, sizeof hdr, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
    CHECK(b && n == 10 + strlen(hdr) + 4, "0-d file size %zu, expected %zu", n,
          10 + strlen(hdr) + 4);
    free(b);
    lctw_tensor_release(t);
    lctw_tensor_release(t1);
    lctw_tensor_release(t0);
    /* no temp files left behind */
    DIR *d = opendir(tmpdir);
    int left = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) left++;
    if (d) closedir(d);
    CHECK(!left, "%d temporary files left in %s", left, tmpdir);
}

static void t_save_noncontiguous(void) {
    int64_t sh[2] = {3, 5};
    lctw_tensor *t, *tt, *back;
    CHECK_OK(lctw_tensor_empty(&t, 2, sh, LCTW_DEV_CPU));
    if (case_failed) return;
    for (int i = 0; i < 15; i++)
        lctw_tensor_data(t)[i] = (float)(i * i);
    CHECK_OK(lctw_tensor_transpose(&tt, t, 0, 1));
    if (case_failed) return;
    const char *p = tpath("nc.npy");
    CHECK_OK(lctw_npy_save(p, tt));
    CHECK_OK(lctw_npy_load(&back, p, NULL));
    if (case_failed) return;
    CHECK(back->ndim == 2 && back->shape[0] == 5 && back->shape[1] == 3, "shape");
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++) {
            float want = (float)((c * 5 + r) * (c * 5 + r));
            CHECK(lctw_tensor_data(back)[r * 3 + c] == want, "[%d,%d] = %g, expected %g", r, c,
                  lctw_tensor_data(back)[r * 3 + c], want);
        }
    lctw_tensor_release(back);
    lctw_tensor_release(tt);
    lctw_tensor_release(t);
}

/* A CUDA tensor (transposed, so also non-contiguous) is copied to the host before writing. */
static void t_save_from_cuda(void) {
    if (lctw_cuda_device_count() <= 0) SKIP("no CUDA device: %s", lctw_cuda_describe());
    int64_t sh[2] = {4, 6};
    lctw_tensor *h, *d, *dt, *back;
    CHECK_OK(lctw_tensor_empty(&h, 2, sh, LCTW_DEV_CPU));
    if (case_failed) return;
    for (int i = 0; i < 24; i++)
        lctw_tensor_data(h)[i] = (float)i - 11.5f;
    CHECK_OK(lctw_tensor_to(&d, h, LCTW_DEV_CUDA));
    if (case_failed) return;
    CHECK_OK(lctw_tensor_transpose(&dt, d, 0, 1));
    if (case_failed) return;
    const char *p = tpath("cuda.npy");
    CHECK_OK(lctw_npy_save(p, dt));
    CHECK_OK(lctw_npy_load(&back, p, &O_READ));
    if (case_failed) return;
    CHECK(back->ndim == 2 && back->shape[0] == 6 && back->shape[1] == 4, "shape");
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 4; c++)
            CHECK(lctw_tensor_data(back)[r * 4 + c] == (float)(c * 6 + r) - 11.5f, "[%d,%d]", r, c);
    lctw_tensor_release(back);
    lctw_tensor_release(dt);
    lctw_tensor_release(d);
    lctw_tensor_release(h);
}

/* ---- handwritten files ---- */

static void t_handwritten_dtypes_versions(void) {
    static const uint16_t halves[6] = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555, 0x8000};
    static const double doubles[6] = {1.0, -2.5, 1e-3, 3.14159265358979, 1e300, -1e-50};
    static const float floats[6] = {1.5f, -0.25f, 3e-39f, 1e30f, -7.0f, 0.1f};
    const char *descr[3] = {"<f2", "<f4", "<f8"};
    const void *data[3] = {halves, floats, doubles};
    const size_t es[3] = {2, 4, 8};
    int n = 0;
    for (int v = 1; v <= 3; v++)
        for (int k = 0; k < 3; k++) {
            char dict[128], hdr[256];
            snprintf(dict, sizeof dict,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }", descr[k]);
            padded_header(hdr, sizeof hdr, v, dict);
            const char *p = tpath("hw.npy");
            CHECK(!make_npy(p, v, hdr, data[k], 6 * es[k]), "write %s", p);
            lctw_npy_info info;
            CHECK_OK(lctw_npy_read_header(p, &info));
            CHECK(info.version_major == v && info.ndim == 2 && info.shape[0] == 2 &&
                      info.shape[1] == 3 && info.elem_size == (int)es[k] &&
                      info.data_offset == (v == 1 ? 10 : 12) + strlen(hdr) &&
                      info.data_offset % 64 == 0 && !strcmp(info.descr, descr[k]),
                  "v%d %s: info wrong (offset %zu)", v, descr[k], info.data_offset);
            for (int m = 0; m < 2; m++) {
                lctw_tensor *t;
                CHECK_OK(lctw_npy_load(&t, p, m ? &O_MAP : &O_READ));
                if (case_failed) return;
                for (int i = 0; i < 6; i++) {
                    double want = k == 0   ? ref_half(halves[i])
                                  : k == 1 ? floats[i]
                                           : (float)doubles[i];
                    float got = lctw_tensor_data(t)[i];
                    CHECK((double)got == want, "v%d %s elem %d = %.9g, expected %.9g", v, descr[k],
                          i, got, want);
                }
                lctw_tensor_release(t);
                n++;
            }
        }
    test_detail("(%d loads: 3 versions x f2/f4/f8 x read/mmap)", n);
}

/* Header spellings NumPy (or Python) accept: spacing, order, quotes, 3L, byte-order chars. */
static void t_header_variants(void) {
    static const struct {
        const char *dict;
        int ndim;
        int64_t d0, d1;
    } v[] = {
        {"{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", 2, 2, 3},
        {"{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,3)}", 2, 2, 3},
        {"  {\n 'descr' : '|f4' ,\t'fortran_order':False,'shape':( 6 , ) , }  \n", 1, 6, 0},
        {"{'descr': '=f4', 'fortran_order': False, 'shape': (2L, 3L), }", 2, 2, 3},
        {"{'descr': 'f4', 'fortran_order': False, 'shape': (6,)}\n", 1, 6, 0},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (6,), }", 1, 6, 0},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (1, 6, 1), }", 3, 1, 6},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 6, 1,), }", 4, 1, 1},
    };
    float data[6] = {1, 2, 3, 4, 5, 6};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        const char *p = tpath("var.npy");
        CHECK(!make_npy(p, 1, v[k].dict, data, sizeof data), "write");
        lctw_tensor *t;
        lctw_status s = lctw_npy_load(&t, p, &O_READ);
        CHECK(s == LCTW_OK, "variant %zu rejected: %s", k, lctw_error_message());
        if (s != LCTW_OK) continue;
        CHECK(t->ndim == v[k].ndim && t->shape[0] == v[k].d0 &&
                  (t->ndim < 2 || t->shape[1] == v[k].d1),
              "variant %zu: wrong shape", k);
        CHECK(!memcmp(lctw_tensor_data(t), data, sizeof data), "variant %zu: wrong data", k);
        lctw_tensor_release(t);
    }
    /* scalar: shape () holds one element */
    const char *p = tpath("scalar.npy");
    float x = 42.5f;
    CHECK(!make_npy(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &x, 4), "w");
    lctw_tensor *t;
    CHECK_OK(lctw_npy_load(&t, p, NULL));
    if (case_failed) return;
    CHECK(t->ndim == 0 && lctw_tensor_data(t)[0] == 42.5f, "scalar");
    lctw_tensor_release(t);
}

/* Above and below the conversion chunk (1 MiB of input): halves and doubles over a long run. */
static void t_chunked_conversion(void) {
    size_t n = 700001;
    uint16_t *h = malloc(n * 2);
    double *d = malloc(200003 * 8);
    for (size_t i = 0; i < n; i++)
        h[i] = (uint16_t)(i * 40503u);
    for (size_t i = 0; i < 200003; i++)
        d[i] = (double)i * 1.000001 - 1e5;
    char dict[128], hdr[256];
    snprintf(dict, sizeof dict, "{'descr': '<f2', 'fortran_order': False, 'shape': (%zu,), }", n);
    padded_header(hdr, sizeof hdr, 1, dict);
    const char *p = tpath("big16.npy");
    CHECK(!make_npy(p, 1, hdr, h, n * 2), "write");
    lctw_tensor *t;
    CHECK_OK(lctw_npy_load(&t, p, NULL));
    if (!case_failed) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            double r = ref_half(h[i]);
            float g = lctw_tensor_data(t)[i];
            if (isnan(r) ? !isnan(g) : (double)g != r) bad++;
        }
        CHECK(!bad, "%zu of %zu halves wrong", bad, n);
        lctw_tensor_release(t);
    }
    snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (200003,), }");
    padded_header(hdr, sizeof hdr, 2, dict);
    p = tpath("big64.npy");
    CHECK(!make_npy(p, 2, hdr, d, 200003 * 8), "write");
    CHECK_OK(lctw_npy_load(&t, p, NULL));
    if (!case_failed) {
        size_t bad = 0;
        for (size_t i = 0; i < 200003; i++)
            if (lctw_tensor_data(t)[i] != (float)d[i]) bad++;
        CHECK(!bad, "%zu of 200003 doubles wrong", bad);
        lctw_tensor_release(t);
    }
    free(h);
    free(d);
}

/* ---- mmap ---- */

static void t_mmap_vs_read_and_cow(void) {
    size_t n = 300000; /* 1.2 MB: above the 1 MiB default threshold */
    float *x = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        x[i] = sinf((float)i * 0.001f) * 3.0f;
    char dict[128], hdr[256];
    snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, %zu), }",
             n / 3);
    padded_header(hdr, sizeof hdr, 1, dict);
    const char *p = tpath("map.npy");
    CHECK(!make_npy(p, 1, hdr, x, n * 4), "write");
    size_t n0;
    unsigned char *before = read_file(p, &n0);
    lctw_tensor *a, *b, *c;
    CHECK_OK(lctw_npy_load(&a, p, NULL)); /* default: mapped (large) */
    CHECK_OK(lctw_npy_load(&b, p, &O_READ));
    lctw_npy_opts hi = {LCTW_NPY_MMAP_AUTO, (size_t)4 << 20};
    CHECK_OK(lctw_npy_load(&c, p, &hi)); /* threshold above the size: read */
    if (case_failed) return;
    CHECK(a->st->kind == LCTW_MEM_MMAP, "default load of a 1.2 MB <f4 file is not mapped");
    CHECK(b->st->kind == LCTW_MEM_HEAP && c->st->kind == LCTW_MEM_HEAP, "read path mapped");
    CHECK(!memcmp(lctw_tensor_data(a), x, n * 4), "mapped values differ from the file data");
    CHECK(!memcmp(lctw_tensor_data(b), x, n * 4), "read values differ from the file data");
    size_t acc0 = lctw_mem_in_use(LCTW_DEV_CPU);
    /* write through the mapping: must stay private */
    for (size_t i = 0; i < n; i += 1000)
        lctw_tensor_data(a)[i] = -1234.5f;
    CHECK(lctw_tensor_data(a)[0] == -1234.5f, "write to the mapped tensor lost");
    lctw_tensor_release(a);
    size_t n1;
    unsigned char *after = read_file(p, &n1);
    CHECK(n0 == n1 && !memcmp(before, after, n0), "writing to the mapped tensor changed the file");
    CHECK(lctw_mem_in_use(LCTW_DEV_CPU) == acc0, "accounting changed by a mapped tensor");
    /* the same file under another tensor still sees the original values */
    CHECK_OK(lctw_npy_load(&a, p, &O_MAP));
    if (!case_failed) {
        CHECK(!memcmp(lctw_tensor_data(a), x, n * 4), "a fresh mapping sees modified data");
        lctw_tensor_release(a);
    }
    lctw_tensor_release(b);
    lctw_tensor_release(c);
    free(before);
    free(after);
    free(x);
}

/* Data offset not a multiple of 4: mapping is impossible, reading must still work. */
static void t_mmap_unaligned_falls_back(void) {
    float x[5] = {1, -2, 3, -4, 5};
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,)} "; /* 57+10 */
    const char *p = tpath("unal.npy");
    CHECK(!make_npy(p, 1, dict, x, sizeof x), "write");
    lctw_npy_info info;
    CHECK_OK(lctw_npy_read_header(p, &info));
    CHECK(info.data_offset % 4 != 0, "test file is aligned (offset %zu)", info.data_offset);
    lctw_tensor *t;
    CHECK_OK(lctw_npy_load(&t, p, &O_MAP));
    if (case_failed) return;
    CHECK(t->st->kind == LCTW_MEM_HEAP, "unaligned data was mapped");
    CHECK(!memcmp(lctw_tensor_data(t), x, sizeof x), "values");
    lctw_tensor_release(t);
}

/* ---- malformed inputs ---- */

typedef struct {
    const char *name;
    const char *raw; /* whole file when set (raw_len bytes) */
    size_t raw_len;
    int major;
    const char *hdr;
    size_t data_bytes;
    lctw_status code;
    const char *k1, *k2;
} bad_case;

#define D(shape) "{'descr': '<f4', 'fortran_order': False, 'shape': " shape ", }"

static const bad_case bad_cases[] = {
    {"empty file", "", 0, 0, NULL, 0, LCTW_EFORMAT, "empty file", NULL},
    {"bad magic (zip)", "PK\x03\x04\x14\x00\x00\x00\x08\x00", 10, 0, NULL, 0, LCTW_EFORMAT,
     "not a .npy file", "PK\\x03\\x04"},
    {"bad magic (text)", "hello world, this is text", 25, 0, NULL, 0, LCTW_EFORMAT, "bad magic",
     "hello wo"},
    {"truncated magic", "\x93NUM", 4, 0, NULL, 0, LCTW_EFORMAT, "truncated", "4 bytes"},
    {"truncated prefix v2", "\x93NUMPY\x02\x00\x10\x00", 10, 0, NULL, 0, LCTW_EFORMAT, "truncated",
     "2.0"},
    {"version 4.0", "\x93NUMPY\x04\x00\x10\x00{}", 12, 0, NULL, 0, LCTW_EFORMAT, "version 4.0",
     "1.0, 2.0 and 3.0"},
    {"version 1.1", "\x93NUMPY\x01\x01\x02\x00{}", 12, 0, NULL, 0, LCTW_EFORMAT, "version 1.1",
     NULL},
    {"header length beyond file", "\x93NUMPY\x01\x00\xff\x7f{'descr': '<f4'", 25, 0, NULL, 0,
     LCTW_EFORMAT, "header length 32767", "beyond the end"},
    {"header not a dict", NULL, 0, 1, "['descr', '<f4']", 0, LCTW_EFORMAT,
     "not a valid Python dict", "expected '{'"},
    {"truncated dict", NULL, 0, 1, "{'descr': '<f4', 'fortran_order': ", 0, LCTW_EFORMAT,
     "truncated header", "True or False"},
    {"unterminated string", NULL, 0, 1, "{'descr': '<f4", 0, LCTW_EFORMAT, "unterminated string",
     NULL},
    {"missing descr", NULL, 0, 1, "{'fortran_order': False, 'shape': (3,), }", 12, LCTW_EFORMAT,
     "no 'descr' key", NULL},
    {"missing fortran_order", NULL, 0, 1, "{'descr': '<f4', 'shape': (3,), }", 12, LCTW_EFORMAT,
     "no 'fortran_order' key", NULL},
    {"missing shape", NULL, 0, 1, "{'descr': '<f4', 'fortran_order': False}", 12, LCTW_EFORMAT,
     "no 'shape' key", NULL},
    {"unexpected key", NULL, 0, 1,
     "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}", 12, LCTW_EFORMAT,
     "unexpected key 'extra'", NULL},
    {"shape not integers", NULL, 0, 1, D("(3, x)"), 12, LCTW_EFORMAT, "expected an integer", "x)"},
    {"shape a list", NULL, 0, 1, D("[3, 4]"), 48, LCTW_EFORMAT, "not a list", NULL},
    {"shape (5) not a tuple", NULL, 0, 1, D("(5)"), 20, LCTW_EFORMAT, "(5,)", "not a tuple"},
    {"shape double comma", NULL, 0, 1, D("(3,,4)"), 48, LCTW_EFORMAT, "expected an integer", NULL},
    {"shape missing comma", NULL, 0, 1, D("(3 4)"), 48, LCTW_EFORMAT, "expected ',' or ')'", NULL},
    {"dtype big-endian", NULL, 0, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }",
     12, LCTW_EFORMAT, "unsupported dtype '>f4' (lctw reads little-endian float16/32/64)", NULL},
    {"dtype int32", NULL, 0, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 12,
     LCTW_EFORMAT, "unsupported dtype '<i4'", NULL},
    {"dtype complex", NULL, 0, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", 24,
     LCTW_EFORMAT, "unsupported dtype '<c8'", NULL},
    {"dtype structured", NULL, 0, 1,
     "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", 12, LCTW_EFORMAT,
     "unsupported dtype", "structured"},
    {"fortran order", NULL, 0, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", 48,
     LCTW_EFORMAT, "Fortran order", "np.ascontiguousarray"},
    {"fortran_order not a bool", NULL, 0, 1,
     "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", 12, LCTW_EFORMAT, "True or False",
     NULL},
    {"data too short", NULL, 0, 1, D("(4, 64, 64)"), 1000, LCTW_EFORMAT,
     "expected 65536 bytes of data for shape (4, 64, 64) float32, file has 1000", NULL},
    {"data too long", NULL, 0, 1, D("(2, 2)"), 20, LCTW_EFORMAT,
     "expected 16 bytes of data for shape (2, 2) float32, file has 20", "extra bytes"},
    {"too many dimensions", NULL, 0, 1, D("(1, 2, 3, 4, 5)"), 480, LCTW_EFORMAT,
     "shape (1, 2, 3, 4, 5) has 5 dimensions", "at most 4"},
    {"negative size", NULL, 0, 1, D("(-1, 3)"), 12, LCTW_EFORMAT, "negative size -1", "(-1, 3)"},
    {"element count overflows", NULL, 0, 1, D("(4294967296, 4294967296)"), 16, LCTW_EFORMAT,
     "(4294967296, 4294967296)", "overflows"},
    {"dimension overflows int64", NULL, 0, 1, D("(99999999999999999999,)"), 16, LCTW_EFORMAT,
     "too large", NULL},
    {"text after the dict", NULL, 0, 1, D("(3,)") " extra", 12, LCTW_EFORMAT,
     "unexpected text after the header dict", NULL},
    {"empty dict", NULL, 0, 1, "{}", 0, LCTW_EFORMAT, "no 'descr' key", NULL},
    {"control byte in header", NULL, 0, 1, "{'descr': '<f4',\x01 'fortran_order': False}", 0,
     LCTW_EFORMAT, "\\x01", NULL},
};

static const bad_case *cur_bad;

static void t_bad_one(void) {
    const bad_case *c = cur_bad;
    const char *p = tpath("bad.npy");
    if (c->raw) {
        CHECK(!write_file(p, c->raw, c->raw_len), "write");
    } else {
        unsigned char *zeros = calloc(1, c->data_bytes + 1);
        CHECK(!make_npy(p, c->major, c->hdr, zeros, c->data_bytes), "write");
        free(zeros);
    }
    for (int m = 0; m < 3; m++) {
        lctw_tensor *t = (lctw_tensor *)1;
        lctw_npy_info info;
        lctw_error_clear();
        lctw_status s =
            m == 2 ? lctw_npy_read_header(p, &info) : lctw_npy_load(&t, p, m ? &O_MAP : &O_READ);
        CHECK(s == c->code, "status %s, expected %s (%s)", lctw_status_name(s),
              lctw_status_name(c->code), lctw_error_message());
        CHECK(m == 2 || t == NULL, "*out not NULL after a failure");
        CHECK(msg_ok(p, c->k1, c->k2), "message \"%s\" lacks the path or \"%s\"/\"%s\"",
              lctw_error_message(), c->k1, c->k2 ? c->k2 : "");
    }
    test_detail("-> %s", lctw_error_message() + strlen(p) + 2);
}

#define RUN_NAMED(label, fn)                                                                       \
    do {                                                                                           \
        case_failed = case_skipped = 0;                                                            \
        case_detail[0] = case_msg[0] = 0;                                                          \
        fn();                                                                                      \
        if (case_failed) {                                                                         \
            test_failed++;                                                                         \
            printf("FAIL %s: %s: %s\n", test_base_(test_file_name), label, case_msg);              \
        } else if (case_skipped) {                                                                 \
            test_skipped++;                                                                        \
            printf("SKIP %s: %s: %s\n", test_base_(test_file_name), label, case_msg);              \
        } else {                                                                                   \
            test_passed++;                                                                         \
            printf("PASS %s: %s%s%s\n", test_base_(test_file_name), label,                         \
                   case_detail[0] ? " " : "", case_detail);                                        \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

static void t_missing_file(void) {
    const char *p = tpath("does-not-exist.npy");
    lctw_tensor *t;
    lctw_status s = lctw_npy_load(&t, p, NULL);
    CHECK(s == LCTW_EIO, "status %s", lctw_status_name(s));
    CHECK(msg_ok(p, "cannot open", strerror(ENOENT)), "message \"%s\"", lctw_error_message());
    lctw_npy_info info;
    s = lctw_npy_read_header(p, &info);
    CHECK(s == LCTW_EIO && msg_ok(p, strerror(ENOENT), NULL), "read_header: %s",
          lctw_error_message());
    s = lctw_npy_load(&t, tmpdir, NULL);
    CHECK(s == LCTW_EIO && msg_ok(tmpdir, "is a directory", NULL), "directory: %s",
          lctw_error_message());
    test_detail("-> %s", lctw_error_message());
}

/* Allocation goes through the accounted allocator: over the limit is a clean ENOMEM. */
static void t_memory_limit(void) {
    size_t n = 600000;
    uint16_t *h = calloc(n, 2);
    char dict[128], hdr[256];
    snprintf(dict, sizeof dict, "{'descr': '<f2', 'fortran_order': False, 'shape': (%zu,), }", n);
    padded_header(hdr, sizeof hdr, 1, dict);
    const char *p = tpath("lim.npy");
    CHECK(!make_npy(p, 1, hdr, h, n * 2), "write");
    free(h);
    size_t old = lctw_mem_limit();
    lctw_mem_set_limit(lctw_mem_in_use(LCTW_DEV_CPU) + ((size_t)1 << 20));
    lctw_tensor *t;
    lctw_status s = lctw_npy_load(&t, p, NULL);
    lctw_mem_set_limit(old);
    CHECK(s == LCTW_ENOMEM, "status %s", lctw_status_name(s));
    CHECK(msg_ok(p, "out of memory", "600000"), "message \"%s\"", lctw_error_message());
    test_detail("-> %s", lctw_error_message());
}

/* A save that fails half-way (file size limit) leaves the old file and no temp file. */
static void t_save_atomic(void) {
    const char *p = tpath("atomic.npy");
    float old[3] = {7, 8, 9};
    CHECK(!make_npy(p, 1, D("(3,)"), old, sizeof old), "write");
    size_t n0;
    unsigned char *before = read_file(p, &n0);
    int64_t sh = 100000;
    lctw_tensor *t;
    CHECK_OK(lctw_tensor_zeros(&t, 1, &sh, LCTW_DEV_CPU));
    if (case_failed) return;
    struct rlimit rl, small;
    getrlimit(RLIMIT_FSIZE, &rl);
    small = rl;
    small.rlim_cur = 64 * 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small);
    lctw_status s = lctw_npy_save(p, t);
    setrlimit(RLIMIT_FSIZE, &rl);
    signal(SIGXFSZ, prev);
    CHECK(s == LCTW_EIO, "status %s (%s)", lctw_status_name(s), lctw_error_message());
    CHECK(msg_ok(p, "write to", strerror(EFBIG)), "message \"%s\"", lctw_error_message());
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", lctw_error_message());
    size_t n1;
    unsigned char *after = read_file(p, &n1);
    CHECK(after && n0 == n1 && !memcmp(before, after, n0), "the existing file was changed");
    DIR *d = opendir(tmpdir);
    int left = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) left++;
    if (d) closedir(d);
    CHECK(!left, "%d temporary files left", left);
    /* directory does not exist */
    const char *q = tpath("no/such/dir/x.npy");
    s = lctw_npy_save(q, t);
    CHECK(s == LCTW_EIO && msg_ok(q, "temporary file", strerror(ENOENT)), "missing dir: %s",
          lctw_error_message());
    /* target is a directory: rename fails, temp removed */
    const char *dp = tpath("adir");
    mkdir(dp, 0755);
    s = lctw_npy_save(dp, t);
    CHECK(s == LCTW_EIO && msg_ok(dp, "rename", NULL), "dir target: %s", lctw_error_message());
    rmdir(dp);
    lctw_tensor_release(t);
    free(before);
    free(after);
    test_detail("-> %s", msg);
}

/* ---- corruption loop ---- */

static void t_random_corruptions(void) {
    /* three valid bases: v1 <f4 (3, 4), v2 <f2 (2, 3), v3 <f8 (5,) */
    float f4[12];
    uint16_t f2[6] = {0x3c00, 0x4000, 0x7c00, 0xfc00, 0x0001, 0x7e00};
    double f8[5] = {1, 2, 3, 4, 5};
    for (int i = 0; i < 12; i++)
        f4[i] = (float)i;
    unsigned char *base[3];
    size_t blen[3];
    char hdr[256];
    padded_header(hdr, sizeof hdr, 1, D("(3, 4)"));
    blen[0] = make_npy_buf(&base[0], 1, hdr, f4, sizeof f4);
    padded_header(hdr, sizeof hdr, 2,
                  "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }");
    blen[1] = make_npy_buf(&base[1], 2, hdr, f2, sizeof f2);
    padded_header(hdr, sizeof hdr, 3, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }");
    blen[2] = make_npy_buf(&base[2], 3, hdr, f8, sizeof f8);

    static const char alpha[] = "{}()[]',:\" -0123456789<>|=fiTrueFalsL\n\x93\xff";
    const char *p = tpath("fuzz.npy");
    unsigned char buf[512];
    int iters = 4000, ok = 0, errs = 0;
    rng_state = 12345;
    for (int it = 0; it < iters; it++) {
        int b = (int)(rnd() % 3);
        size_t n = blen[b];
        memcpy(buf, base[b], n);
        int kind = (int)(rnd() % 5);
        size_t hend = n - (b == 0 ? 48 : b == 1 ? 12 : 40); /* end of the header */
        if (kind == 0) { /* byte replacements in the header region */
            int k = 1 + (int)(rnd() % 4);
            for (int j = 0; j < k; j++) {
                size_t at = rnd() % hend;
                buf[at] = rnd() % 2 ? (unsigned char)alpha[rnd() % (sizeof alpha - 1)]
                                    : (unsigned char)rnd();
            }
        } else if (kind == 1) { /* truncation */
            n = rnd() % (n + 1);
        } else if (kind == 2) { /* delete a header byte (shifts everything) */
            size_t at = rnd() % hend;
            memmove(buf + at, buf + at + 1, n - at - 1);
            n--;
        } else if (kind == 3) { /* insert a byte */
            size_t at = rnd() % hend;
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = (unsigned char)alpha[rnd() % (sizeof alpha - 1)];
            n++;
        } else { /* header length bytes */
            buf[8 + rnd() % (b == 0 ? 2 : 4)] = (unsigned char)rnd();
        }
        if (write_file(p, buf, n)) {
            CHECK(0, "cannot write %s", p);
            break;
        }
        for (int m = 0; m < 3; m++) {
            lctw_tensor *t = NULL;
            lctw_npy_info info;
            lctw_status s = m == 2 ? lctw_npy_read_header(p, &info)
                                   : lctw_npy_load(&t, p, m ? &O_MAP : &O_READ);
            if (s == LCTW_OK) {
                ok++;
                if (t) {
                    /* a file that loads is self-consistent: header + data = file size */
                    CHECK(lctw_npy_read_header(p, &info) == LCTW_OK &&
                              info.data_offset + info.data_bytes == n &&
                              lctw_tensor_numel(t) == info.numel,
                          "iteration %d: inconsistent accepted file", it);
                    volatile float sum = 0;
                    for (int64_t i = 0; i < lctw_tensor_numel(t); i++)
                        sum += lctw_tensor_data(t)[i];
                    (void)sum;
                    lctw_tensor_release(t);
                }
            } else {
                errs++;
                CHECK(s == LCTW_EFORMAT || s == LCTW_EIO, "iteration %d: status %s", it,
                      lctw_status_name(s));
                CHECK(msg_ok(p, NULL, NULL), "iteration %d: message without path: %s", it,
                      lctw_error_message());
            }
        }
    }
    for (int i = 0; i < 3; i++)
        free(base[i]);
    test_detail("(%d corrupted files x 3 readers: %d accepted, %d errors, no crash)", iters, ok,
                errs);
}

/* ---- the real data ---- */

#define REAL_NPY "../shared/data/utkface_sd1_latents_4x32x32.npy"
#define REAL_JSON "../shared/data/utkface_latents_stats.json"

/* The number after "key": at or after position from. */
static const char *json_num(const char *from, const char *key, double *v) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *q = strstr(from, k);
    if (!q) return NULL;
    char *end;
    *v = strtod(q + strlen(k), &end);
    return end;
}

static void t_real_latents(void) {
    if (access(REAL_NPY, R_OK) != 0) SKIP("%s not found (run from the project root)", REAL_NPY);
    size_t jn;
    char *json = (char *)read_file(REAL_JSON, &jn);
    if (!json) SKIP("%s not found", REAL_JSON);
    json = realloc(json, jn + 1);
    json[jn] = 0;
    lctw_npy_info info;
    CHECK_OK(lctw_npy_read_header(REAL_NPY, &info));
    CHECK(info.dtype == LCTW_NPY_F16 && !strcmp(info.descr, "<f2"), "dtype %s", info.descr);
    lctw_tensor *t;
    CHECK_OK(lctw_npy_load(&t, REAL_NPY, NULL));
    if (case_failed) {
        free(json);
        return;
    }
    CHECK(t->ndim == 4 && t->shape[0] == 3000 && t->shape[1] == 4 && t->shape[2] == 32 &&
              t->shape[3] == 32,
          "shape %lldx%lldx%lldx%lld", (long long)t->shape[0], (long long)t->shape[1],
          (long long)t->shape[2], (long long)t->shape[3]);
    const float *x = lctw_tensor_data(t);
    double maxabs = 0, worst = 0;
    const char *pc = strstr(json, "\"per_channel\"");
    CHECK(pc != NULL, "no per_channel in %s", REAL_JSON);
    for (int c = 0; c < 4 && pc && !case_failed; c++) {
        double s = 0, s2 = 0;
        int64_t cnt = 0;
        for (int64_t nidx = 0; nidx < 3000; nidx++) {
            const float *p = x + (nidx * 4 + c) * 1024;
            for (int i = 0; i < 1024; i++) {
                s += p[i];
                s2 += (double)p[i] * p[i];
                if (fabs(p[i]) > maxabs) maxabs = fabs(p[i]);
            }
            cnt += 1024;
        }
        double mean = s / (double)cnt, sd = sqrt(s2 / (double)cnt - mean * mean);
        double jm, js, jc;
        const char *q = json_num(pc, "ch", &jc);
        CHECK(q && (int)jc == c, "channel %d entry not found", c);
        if (!q) break;
        q = json_num(q, "mean", &jm);
        q = q ? json_num(q, "std", &js) : NULL;
        CHECK(q != NULL, "channel %d mean/std not found", c);
        if (!q) break;
        /* float16 rounding (relative <= 5e-4 per value) moves the moments by less than 1e-3 */
        CHECK_NEAR(mean, jm, 1e-3);
        CHECK_NEAR(sd, js, 1e-3);
        if (fabs(mean - jm) > worst) worst = fabs(mean - jm);
        if (fabs(sd - js) > worst) worst = fabs(sd - js);
        pc = q;
    }
    double jmax = 0.0;
    CHECK(json_num(json, "max_abs_z", &jmax) != NULL, "no max_abs_z");
    CHECK_NEAR(maxabs, jmax, 0.02); /* 16.0025 in float32 is 16.0 in float16 */
    CHECK(maxabs == 16.0, "max |x| = %.9g, expected 16 (float16)", maxabs);
    test_detail("(3000x4x32x32 float16; per-channel mean/std within %.1e of the json; max|x| %g)",
                worst, maxabs);
    lctw_tensor_release(t);
    free(json);
}

static void cleanup_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[800];
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

int main(void) {
    const char *td = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lctw_test_npy_XXXXXX", td && *td ? td : "/tmp");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL test_npy.c: setup: cannot create a temporary directory: %s\n",
               strerror(errno));
        return 1;
    }
    RUN(t_half_all_65536);
    RUN(t_roundtrip_shapes);
    RUN(t_save_format);
    RUN(t_save_noncontiguous);
    RUN(t_save_from_cuda);
    RUN(t_handwritten_dtypes_versions);
    RUN(t_header_variants);
    RUN(t_chunked_conversion);
    RUN(t_mmap_vs_read_and_cow);
    RUN(t_mmap_unaligned_falls_back);
    RUN(t_missing_file);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        char label[128];
        snprintf(label, sizeof label, "malformed: %s", bad_cases[i].name);
        cur_bad = &bad_cases[i];
        RUN_NAMED(label, t_bad_one);
    }
    RUN(t_memory_limit);
    RUN(t_save_atomic);
    RUN(t_random_corruptions);
    RUN(t_real_latents);
    cleanup_tmpdir();
    return test_summary();
}
