/* test_cuda.c — the CUDA backend (kernels/lctw_cuda.h) against independent double-precision
 * references computed here, and against the CPU twins (CPU-vs-CUDA parity), through the public
 * tensor and tmath API.
 *
 * Inputs are built on the CPU and uploaded with a plain host-to-device copy; strided inputs are
 * the same view (transpose / narrow / select) applied to the CPU tensor and to its device copy,
 * so the host reference reads exactly the elements the kernel must read. Sizes are not multiples
 * of the block size (1, 3, 1000, 65537, ...). Every output lives in a device buffer with guard
 * regions on both sides (lctw_storage_wrap) that must come back untouched. NaN and ±Inf must
 * appear exactly where the reference has them.
 *
 * Without a device every case but `no_device` prints SKIP "no CUDA device" and the program
 * exits 0; `no_device` checks that the backend reports why and fails cleanly.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"
#include "core/tmath.h"
#include "lctw_cuda.h"
#include "test.h"

#define NEED_DEVICE()                                                                              \
    do {                                                                                           \
        if (lctw_cuda_device_count() <= 0) SKIP("no CUDA device");                                 \
    } while (0)

static char sub[160]; /* the sub-case being checked, quoted in failure messages */

/* ---- host data ---- */

static uint64_t rng_state;
static double urand(void) { /* xorshift64*, (0, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return ((double)((rng_state * 0x2545F4914F6CDD1DULL) >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand()); }

enum { P_NORMAL, P_POS, P_SPECIAL, P_TIES };

static float pattern_value(int pat, int64_t i) {
    switch (pat) {
    case P_POS: return (float)(0.05 + 4.0 * urand());
    case P_TIES: return (float)(floor(nrand() * 2.0) / 2.0);
    case P_SPECIAL:
        if (i % 17 == 5) return NAN;
        if (i % 29 == 3) return INFINITY;
        if (i % 31 == 7) return -INFINITY;
        if (i % 13 == 1) return 0.0f;
        if (i % 11 == 2) return (float)(60.0 * nrand()); /* exp overflows to inf */
        return (float)(3.0 * nrand());
    default: return (float)(1.5 * nrand() + 0.25);
    }
}

/* ---- tensor pairs: the same view on the CPU (c) and on the device (g) ---- */

typedef struct {
    lctw_tensor *c, *g;
} pair;

static void pair_free(pair *p) {
    lctw_tensor_release(p->c);
    lctw_tensor_release(p->g);
    p->c = p->g = NULL;
}

enum { L_CONTIG, L_OFFSET, L_STEP2, L_TRANSPOSED, L_COUNT };
static const char *layout_names[] = {"contiguous", "offset", "stride 2", "transposed"};

/* A tensor of logical shape `shape` laid out as `layout`, filled (whole storage) by pattern. */
static lctw_status pair_make(pair *p, int ndim, const int64_t *shape, int layout, int pat,
                             uint64_t seed) {
    p->c = p->g = NULL;
    int64_t bs[LCTW_MAX_DIMS + 1];
    int bnd = ndim;
    for (int d = 0; d < ndim; d++)
        bs[d] = shape[d];
    if (layout == L_TRANSPOSED && ndim < 2) layout = L_STEP2;
    if (layout == L_STEP2 && ndim >= LCTW_MAX_DIMS) layout = L_OFFSET;
    if (layout == L_OFFSET && ndim == 0) layout = L_CONTIG;
    switch (layout) {
    case L_OFFSET: bs[ndim - 1] += 5; break;
    case L_STEP2: bs[bnd++] = 2; break;
    case L_TRANSPOSED: bs[0] = shape[ndim - 1], bs[ndim - 1] = shape[0]; break;
    default: break;
    }
    lctw_tensor *base;
    LCTW_TRY(lctw_tensor_empty(&base, bnd, bs, LCTW_DEV_CPU));
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    int64_t nb = lctw_tensor_numel(base);
    for (int64_t i = 0; i < nb; i++)
        lctw_tensor_data(base)[i] = pattern_value(pat, i);
    lctw_tensor *gbase = NULL, *c = NULL, *g = NULL;
    lctw_status s = lctw_tensor_to(&gbase, base, LCTW_DEV_CUDA);
    for (int k = 0; k < 2 && s == LCTW_OK; k++) {
        lctw_tensor *b = k ? gbase : base, **o = k ? &g : &c;
        switch (layout) {
        case L_OFFSET: s = lctw_tensor_narrow(o, b, ndim - 1, 3, shape[ndim - 1]); break;
        case L_STEP2: s = lctw_tensor_select(o, b, ndim, 1); break;
        case L_TRANSPOSED: s = lctw_tensor_transpose(o, b, 0, ndim - 1); break;
        default: lctw_tensor_retain(b), *o = b; break;
        }
    }
    lctw_tensor_release(base);
    lctw_tensor_release(gbase);
    if (s != LCTW_OK) {
        lctw_tensor_release(c);
        lctw_tensor_release(g);
        return s;
    }
    p->c = c;
    p->g = g;
    return LCTW_OK;
}

/* Logical (row-major) values of a CPU tensor, read element by element. */
static double *host_values(const lctw_tensor *t) {
    int64_t n = lctw_tensor_numel(t);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        float x = 0;
        lctw_tensor_get_flat(t, i, &x);
        v[i] = x;
    }
    return v;
}

/* ---- guarded device outputs ---- */

#define GUARD 67 /* floats on each side */
static const float SENTINEL = -7.25e33f;

typedef struct {
    float *dev;
    int64_t n;
    lctw_tensor *t; /* contiguous, at element GUARD of dev */
} guarded;

static lctw_status guarded_new(guarded *g, int ndim, const int64_t *shape) {
    g->t = NULL;
    g->n = lctw_shape_numel(ndim, shape);
    size_t total = (size_t)(g->n + 2 * GUARD);
    void *p;
    LCTW_TRY(lctw_cuda_malloc(&p, total * sizeof(float)));
    g->dev = p;
    float *h = malloc(total * sizeof(float));
    for (size_t i = 0; i < total; i++)
        h[i] = SENTINEL;
    lctw_status s = lctw_cuda_h2d(p, h, total * sizeof(float));
    free(h);
    lctw_storage *st = NULL;
    if (s == LCTW_OK) s = lctw_storage_wrap(&st, g->dev, total * sizeof(float), LCTW_DEV_CUDA);
    if (s == LCTW_OK) s = lctw_tensor_on_storage(&g->t, st, GUARD, ndim, shape);
    lctw_storage_release(st);
    if (s != LCTW_OK) {
        lctw_cuda_free(g->dev);
        g->dev = NULL;
    }
    return s;
}

/* Downloads the values (into *vals, may be NULL) and checks the guards; 1 when intact. */
static int guarded_read(guarded *g, float **vals) {
    size_t total = (size_t)(g->n + 2 * GUARD);
    float *h = malloc(total * sizeof(float));
    if (lctw_cuda_d2h(h, g->dev, total * sizeof(float)) != LCTW_OK) {
        test_fail_(__FILE__, __LINE__, "%s: reading the output failed: %s", sub,
                   lctw_error_message());
        free(h);
        return 0;
    }
    int ok = 1;
    for (size_t i = 0; i < total; i++) {
        if (i == GUARD) i += (size_t)g->n;
        if (i < total && memcmp(&h[i], &SENTINEL, sizeof(float)) != 0) {
            test_fail_(__FILE__, __LINE__,
                       "%s: guard element %lld %s the output (n=%lld) was "
                       "overwritten with %g",
                       sub, (long long)(i < GUARD ? GUARD - i : i - GUARD - (size_t)g->n + 1),
                       i < GUARD ? "before" : "after", (long long)g->n, h[i]);
            ok = 0;
            break;
        }
    }
    if (vals) {
        *vals = malloc(sizeof(float) * (size_t)(g->n ? g->n : 1));
        memcpy(*vals, h + GUARD, sizeof(float) * (size_t)g->n);
    }
    free(h);
    return ok;
}

static void guarded_free(guarded *g) {
    lctw_tensor_release(g->t);
    g->t = NULL;
    lctw_cuda_free(g->dev);
    g->dev = NULL;
}

/* ---- comparisons ---- */

static int close_to(double got, double ref, double atol, double rtol) {
    if (isnan(ref)) return isnan(got);
    if (isinf(ref)) return got == ref;
    if (!isfinite(got)) return 0;
    return fabs(got - ref) <= atol + rtol * fabs(ref);
}

/* Element-wise comparison; reports the first mismatch. Returns the largest relative error. */
static double compare(const char *what, const float *got, const double *ref, int64_t n, double atol,
                      double rtol) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!close_to(got[i], ref[i], atol, rtol)) {
            test_fail_(__FILE__, __LINE__, "%s: %s[%lld] = %.9g, expected %.9g (n=%lld)", sub, what,
                       (long long)i, got[i], ref[i], (long long)n);
            return INFINITY;
        }
        if (isfinite(ref[i]) && ref[i] != 0) {
            double e = fabs(got[i] - ref[i]) / fabs(ref[i]);
            if (e > worst) worst = e;
        }
    }
    return worst;
}

static void compare_cpu(const char *what, const float *got, const lctw_tensor *cpu, double atol,
                        double rtol) {
    double *ref = host_values(cpu);
    char w[64];
    snprintf(w, sizeof w, "%s vs CPU", what);
    compare(w, got, ref, lctw_tensor_numel(cpu), atol, rtol);
    free(ref);
}

#define OK_OR_FAIL(expr)                                                                           \
    do {                                                                                           \
        lctw_status st2_ = (expr);                                                                 \
        if (st2_ != LCTW_OK) {                                                                     \
            test_fail_(__FILE__, __LINE__, "%s: %s failed: %s", sub, #expr, lctw_error_message()); \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

static const int64_t sizes[] = {1, 3, 1000, 65537};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

/* Shapes for the layout sweep: 1-D sizes plus 2-, 3- and 4-D shapes. */
static int shape_of(int k, int64_t *shape) {
    if (k < NSIZES) {
        shape[0] = sizes[k];
        return 1;
    }
    switch (k - NSIZES) {
    case 0: shape[0] = 37, shape[1] = 29; return 2;
    case 1: shape[0] = 3, shape[1] = 5, shape[2] = 7; return 3;
    default: shape[0] = 2, shape[1] = 3, shape[2] = 4, shape[3] = 5; return 4;
    }
}
#define NSHAPES (NSIZES + 3)

/* ---- cases ---- */

static void t_no_device(void) {
#ifdef LCTW_CUDA
    CHECK(lctw_cuda_built() == 1, "lctw_cuda_built() = %d in a CUDA build", lctw_cuda_built());
#else
    CHECK(lctw_cuda_built() == 0, "lctw_cuda_built() = %d in a CPU-only build", lctw_cuda_built());
#endif
    const char *d = lctw_cuda_describe();
    CHECK(d && *d, "describe() is empty");
    if (lctw_cuda_device_count() > 0) {
        CHECK(strstr(d, "sm_") && strstr(d, "GiB"), "describe() = \"%s\"", d);
        test_detail("(device present: %s)", d);
        return;
    }
    CHECK(strstr(d, "no CUDA device") || strstr(d, "without CUDA"),
          "describe() does not say why there is no device: \"%s\"", d);
#ifdef LCTW_CUDA
    CHECK(strchr(d, '('), "describe() gives no reason: \"%s\"", d);
#endif
    lctw_tensor *t = NULL;
    int64_t shape[1] = {4};
    lctw_status s = lctw_tensor_zeros(&t, 1, shape, LCTW_DEV_CUDA);
    CHECK(s == LCTW_EDEVICE && t == NULL, "creating a CUDA tensor: %s (%s)", lctw_status_name(s),
          lctw_error_message());
    CHECK(strstr(lctw_error_message(), "CUDA"), "message: %s", lctw_error_message());
    lctw_tensor_release(t);
    void *p = (void *)1;
    s = lctw_cuda_malloc(&p, 16);
    CHECK(s == LCTW_EDEVICE && p == NULL, "cuda_malloc without a device: %s", lctw_status_name(s));
    size_t fr = 1, tot = 1;
    s = lctw_cuda_mem_info(&fr, &tot);
    CHECK(s == LCTW_EDEVICE && fr == 0 && tot == 0, "mem_info without a device: %s",
          lctw_status_name(s));
    CHECK(lctw_cuda_sync() == LCTW_EDEVICE, "sync without a device succeeded");
    test_detail("(%s)", d);
}

static void t_describe(void) {
    NEED_DEVICE();
    const char *d = lctw_cuda_describe();
    CHECK(strstr(d, ", ") && strstr(d, " GiB, sm_"), "describe() = \"%s\"", d);
    size_t fr = 0, tot = 0;
    CHECK_OK(lctw_cuda_mem_info(&fr, &tot));
    CHECK(tot > ((size_t)1 << 28) && fr <= tot, "mem_info: free %zu, total %zu", fr, tot);
    CHECK_OK(lctw_cuda_sync());
    test_detail("(%s)", d);
}

static void t_memory(void) {
    NEED_DEVICE();
    for (int k = 0; k < NSIZES; k++) {
        int64_t n = sizes[k];
        size_t nb = (size_t)n * sizeof(float);
        snprintf(sub, sizeof sub, "%lld floats", (long long)n);
        float *h = malloc(nb), *back = malloc(nb);
        void *a = NULL, *b = NULL;
        for (int64_t i = 0; i < n; i++)
            h[i] = (float)i * 0.5f - 7.0f;
        OK_OR_FAIL(lctw_cuda_malloc(&a, nb));
        OK_OR_FAIL(lctw_cuda_malloc(&b, nb));
        OK_OR_FAIL(lctw_cuda_h2d(a, h, nb));
        OK_OR_FAIL(lctw_cuda_d2d(b, a, nb));
        OK_OR_FAIL(lctw_cuda_d2h(back, b, nb));
        CHECK(!memcmp(back, h, nb), "%s: h2d/d2d/d2h round trip differs", sub);
        OK_OR_FAIL(lctw_cuda_memset0(b, nb));
        OK_OR_FAIL(lctw_cuda_d2h(back, b, nb));
        for (int64_t i = 0; i < n; i++)
            if (back[i] != 0.0f) {
                CHECK(0, "%s: memset0 left %g at %lld", sub, back[i], (long long)i);
                break;
            }
        OK_OR_FAIL(lctw_cuda_sync());
    done:
        lctw_cuda_free(a);
        lctw_cuda_free(b);
        free(h);
        free(back);
    }
}

static void t_oom(void) {
    NEED_DEVICE();
    void *p = NULL;
    lctw_status s = lctw_cuda_malloc(&p, (size_t)1 << 50); /* 1 PiB */
    char m[512];
    snprintf(m, sizeof m, "%s", lctw_error_message());
    CHECK(s == LCTW_ENOMEM && p == NULL, "1 PiB cuda_malloc gave %s (%s)", lctw_status_name(s), m);
    CHECK(strstr(m, "requested") && strstr(m, "free") && strstr(m, "PiB"), "message: %s", m);
    lctw_tensor *t = NULL;
    int64_t huge[2] = {(int64_t)1 << 24, (int64_t)1 << 24};
    s = lctw_tensor_empty(&t, 2, huge, LCTW_DEV_CUDA);
    CHECK(s == LCTW_ENOMEM && t == NULL, "1 PiB tensor gave %s (%s)", lctw_status_name(s),
          lctw_error_message());
    CHECK(strstr(lctw_error_message(), "requested"), "message: %s", lctw_error_message());
    /* the session goes on */
    s = lctw_cuda_malloc(&p, (size_t)1 << 20);
    CHECK(s == LCTW_OK && p, "1 MiB after the OOM: %s", lctw_error_message());
    lctw_cuda_free(p);
    int64_t shape[1] = {1000};
    CHECK_OK(lctw_tensor_full(&t, 1, shape, LCTW_DEV_CUDA, 2.5f));
    float v = 0;
    if (t) CHECK_OK(lctw_tensor_get_flat(t, 999, &v));
    CHECK(v == 2.5f, "fill after the OOM read back %g", v);
    lctw_tensor_release(t);
    test_detail("(%s)", m);
}

static void t_copy_strided(void) {
    NEED_DEVICE();
    for (int k = 0; k < NSHAPES; k++)
        for (int l = 0; l < L_COUNT; l++) {
            int64_t shape[LCTW_MAX_DIMS];
            int nd = shape_of(k, shape);
            pair a = {0}, d = {0};
            guarded o = {0};
            float *got = NULL;
            double *ref = NULL, *dref = NULL;
            snprintf(sub, sizeof sub, "%s %lld-element %d-D source", layout_names[l],
                     (long long)lctw_shape_numel(nd, shape), nd);
            OK_OR_FAIL(pair_make(&a, nd, shape, l, P_SPECIAL, 100 + k));
            OK_OR_FAIL(guarded_new(&o, nd, shape));
            OK_OR_FAIL(lctw_cuda_copy_strided(o.t, a.g));
            ref = host_values(a.c);
            if (guarded_read(&o, &got)) compare("copy", got, ref, o.n, 0, 0);
            free(got);
            got = NULL;
            /* into a strided destination: the view's elements change, the rest of its
             * storage does not */
            OK_OR_FAIL(pair_make(&d, nd, shape, (l + 2) % L_COUNT, P_NORMAL, 200 + k));
            OK_OR_FAIL(lctw_cuda_copy_strided(d.g, a.g));
            OK_OR_FAIL(lctw_tensor_copy(d.c, a.c)); /* the CPU reference copy */
            {
                lctw_storage *gs = d.g->st, *cs = d.c->st;
                size_t nf = gs->nbytes / sizeof(float);
                float *all = malloc(gs->nbytes);
                OK_OR_FAIL(lctw_cuda_d2h(all, gs->data, gs->nbytes));
                dref = malloc(sizeof(double) * nf);
                for (size_t i = 0; i < nf; i++)
                    dref[i] = cs->data[i];
                compare("strided destination storage", all, dref, (int64_t)nf, 0, 0);
                free(all);
            }
        done:
            free(got);
            free(ref);
            free(dref);
            pair_free(&a);
            pair_free(&d);
            guarded_free(&o);
        }
}

/* overlapping views of one storage: shift by one element */
static void t_copy_overlap(void) {
    NEED_DEVICE();
    snprintf(sub, sizeof sub, "overlapping views");
    pair b = {0};
    lctw_tensor *src = NULL, *dst = NULL;
    float *got = NULL;
    double *ref = NULL;
    int64_t n = 65537;
    OK_OR_FAIL(pair_make(&b, 1, &n, L_CONTIG, P_NORMAL, 7));
    ref = host_values(b.c);
    OK_OR_FAIL(lctw_tensor_narrow(&src, b.g, 0, 0, n - 1));
    OK_OR_FAIL(lctw_tensor_narrow(&dst, b.g, 0, 1, n - 1));
    OK_OR_FAIL(lctw_cuda_copy_strided(dst, src));
    got = malloc(sizeof(float) * (size_t)n);
    OK_OR_FAIL(lctw_cuda_d2h(got, lctw_tensor_data(b.g), sizeof(float) * (size_t)n));
    memmove(ref + 1, ref, sizeof(double) * (size_t)(n - 1));
    compare("shifted copy", got, ref, n, 0, 0);
done:
    free(got);
    free(ref);
    lctw_tensor_release(src);
    lctw_tensor_release(dst);
    pair_free(&b);
}

/* ---- elementwise ---- */

static const char *un_names[] = {"neg", "exp", "log", "sqrt", "abs", "tanh"};
static const char *bin_names[] = {"add", "sub", "mul", "div", "pow"};

static double un_ref(int op, double x) {
    switch (op) {
    case LCTW_UN_NEG: return -x;
    case LCTW_UN_EXP: return (float)exp(x);
    case LCTW_UN_LOG: return (float)log(x);
    case LCTW_UN_SQRT: return (float)sqrt(x);
    case LCTW_UN_ABS: return fabs(x);
    default: return (float)tanh(x);
    }
}

/* add/sub/mul/div of floats computed in double and rounded once are the correctly rounded
 * float results, which CUDA must produce exactly */
static double bin_ref(int op, double x, double y) {
    switch (op) {
    case LCTW_BIN_ADD: return (float)(x + y);
    case LCTW_BIN_SUB: return (float)(x - y);
    case LCTW_BIN_MUL: return (float)(x * y);
    case LCTW_BIN_DIV: return (float)(x / y);
    default: return (float)pow(x, y);
    }
}

static double un_rtol(int op) {
    return op == LCTW_UN_NEG || op == LCTW_UN_ABS ? 0 : op == LCTW_UN_SQRT ? 1e-7 : 1e-6;
}

static void t_unary(void) {
    NEED_DEVICE();
    double worst = 0;
    for (int op = 0; op < LCTW_UN_COUNT; op++)
        for (int k = 0; k < NSHAPES; k++)
            for (int l = 0; l < L_COUNT; l++) {
                int64_t shape[LCTW_MAX_DIMS];
                int nd = shape_of(k, shape);
                pair a = {0};
                guarded o = {0};
                lctw_tensor *co = NULL;
                float *got = NULL;
                double *x = NULL;
                int pat = (op == LCTW_UN_EXP || op == LCTW_UN_TANH) ? P_NORMAL : P_SPECIAL;
                if (l == 1) pat = P_SPECIAL;
                snprintf(sub, sizeof sub, "%s of a %s %lld-element %d-D tensor", un_names[op],
                         layout_names[l], (long long)lctw_shape_numel(nd, shape), nd);
                OK_OR_FAIL(pair_make(&a, nd, shape, l, pat, 11 * op + k));
                OK_OR_FAIL(guarded_new(&o, nd, shape));
                OK_OR_FAIL(lctw_unary(o.t, a.g, (lctw_unary_op)op));
                x = host_values(a.c);
                for (int64_t i = 0; i < o.n; i++)
                    x[i] = un_ref(op, x[i]);
                if (guarded_read(&o, &got)) {
                    double e = compare("out", got, x, o.n, 1e-30, un_rtol(op));
                    if (e > worst) worst = e;
                }
                OK_OR_FAIL(lctw_tensor_empty(&co, nd, shape, LCTW_DEV_CPU));
                OK_OR_FAIL(lctw_unary(co, a.c, (lctw_unary_op)op));
                compare_cpu("out", got, co, 1e-30, 2 * un_rtol(op));
            done:
                free(got);
                free(x);
                lctw_tensor_release(co);
                pair_free(&a);
                guarded_free(&o);
            }
    test_detail("(max rel err %.2g)", worst);
}

/* in place: out aliases the input */
static void t_unary_inplace(void) {
    NEED_DEVICE();
    snprintf(sub, sizeof sub, "in-place exp");
    pair a = {0};
    double *x = NULL;
    float *got = NULL;
    int64_t n = 1000;
    OK_OR_FAIL(pair_make(&a, 1, &n, L_CONTIG, P_NORMAL, 3));
    x = host_values(a.c);
    OK_OR_FAIL(lctw_unary(a.g, a.g, LCTW_UN_EXP));
    got = malloc(sizeof(float) * (size_t)n);
    OK_OR_FAIL(lctw_cuda_d2h(got, lctw_tensor_data(a.g), sizeof(float) * (size_t)n));
    for (int64_t i = 0; i < n; i++)
        x[i] = un_ref(LCTW_UN_EXP, x[i]);
    compare("out", got, x, n, 1e-30, 1e-6);
done:
    free(got);
    free(x);
    pair_free(&a);
}

static void t_binary(void) {
    NEED_DEVICE();
    double worst = 0;
    for (int op = 0; op < LCTW_BIN_COUNT; op++)
        for (int k = 0; k < NSHAPES; k++)
            for (int l = 0; l < L_COUNT; l++) {
                int64_t shape[LCTW_MAX_DIMS];
                int nd = shape_of(k, shape);
                pair a = {0}, b = {0};
                guarded o = {0};
                lctw_tensor *co = NULL;
                float *got = NULL;
                double *x = NULL, *y = NULL;
                int pow_op = op == LCTW_BIN_POW;
                snprintf(sub, sizeof sub, "%s of %s and %s %lld-element %d-D tensors",
                         bin_names[op], layout_names[l], layout_names[(l + 1) % L_COUNT],
                         (long long)lctw_shape_numel(nd, shape), nd);
                OK_OR_FAIL(pair_make(&a, nd, shape, l, pow_op ? P_POS : P_SPECIAL, 17 * op + k));
                OK_OR_FAIL(pair_make(&b, nd, shape, (l + 1) % L_COUNT,
                                     pow_op ? P_NORMAL : P_SPECIAL, 1000 + 17 * op + k));
                OK_OR_FAIL(guarded_new(&o, nd, shape));
                OK_OR_FAIL(lctw_binary(o.t, a.g, b.g, (lctw_binary_op)op));
                x = host_values(a.c);
                y = host_values(b.c);
                for (int64_t i = 0; i < o.n; i++)
                    x[i] = bin_ref(op, x[i], y[i]);
                double rt = pow_op ? 2e-6 : 0;
                if (guarded_read(&o, &got)) {
                    double e = compare("out", got, x, o.n, 1e-30, rt);
                    if (e > worst) worst = e;
                }
                OK_OR_FAIL(lctw_tensor_empty(&co, nd, shape, LCTW_DEV_CPU));
                OK_OR_FAIL(lctw_binary(co, a.c, b.c, (lctw_binary_op)op));
                compare_cpu("out", got, co, 1e-30, 2 * rt);
            done:
                free(got);
                free(x);
                free(y);
                lctw_tensor_release(co);
                pair_free(&a);
                pair_free(&b);
                guarded_free(&o);
            }
    test_detail("(max rel err %.2g)", worst);
}

/* pow specials: negative bases, zero, NaN */
static void t_pow_special(void) {
    NEED_DEVICE();
    static const float bx[] = {-2.0f, -2.0f, 0.0f, 0.0f, 2.5f, NAN, 1.0f, -8.0f};
    static const float by[] = {0.5f, 2.0f, -1.0f, 0.0f, NAN, 0.0f, INFINITY, 3.0f};
    int64_t n = 8;
    lctw_tensor *ca = NULL, *cb = NULL, *ga = NULL, *gb = NULL;
    guarded o = {0};
    float *got = NULL;
    double ref[8];
    snprintf(sub, sizeof sub, "pow special values");
    OK_OR_FAIL(lctw_tensor_empty(&ca, 1, &n, LCTW_DEV_CPU));
    OK_OR_FAIL(lctw_tensor_empty(&cb, 1, &n, LCTW_DEV_CPU));
    memcpy(lctw_tensor_data(ca), bx, sizeof bx);
    memcpy(lctw_tensor_data(cb), by, sizeof by);
    OK_OR_FAIL(lctw_tensor_to(&ga, ca, LCTW_DEV_CUDA));
    OK_OR_FAIL(lctw_tensor_to(&gb, cb, LCTW_DEV_CUDA));
    OK_OR_FAIL(guarded_new(&o, 1, &n));
    OK_OR_FAIL(lctw_binary(o.t, ga, gb, LCTW_BIN_POW));
    for (int i = 0; i < 8; i++)
        ref[i] = (float)pow(bx[i], by[i]);
    if (guarded_read(&o, &got)) compare("pow", got, ref, n, 0, 2e-6);
done:
    free(got);
    lctw_tensor_release(ca);
    lctw_tensor_release(cb);
    lctw_tensor_release(ga);
    lctw_tensor_release(gb);
    guarded_free(&o);
}

static void t_binary_scalar(void) {
    NEED_DEVICE();
    static const float scal[] = {2.5f, -0.0f, 3.0f};
    for (int op = 0; op < LCTW_BIN_COUNT; op++)
        for (int first = 0; first < 2; first++)
            for (int k = 0; k < NSHAPES; k++)
                for (int si = 0; si < 3; si++) {
                    int64_t shape[LCTW_MAX_DIMS];
                    int nd = shape_of(k, shape);
                    int l = (k + si) % L_COUNT, pow_op = op == LCTW_BIN_POW;
                    float s = pow_op && first ? fabsf(scal[si]) + 0.5f : scal[si];
                    pair a = {0};
                    guarded o = {0};
                    lctw_tensor *co = NULL;
                    float *got = NULL;
                    double *x = NULL;
                    snprintf(sub, sizeof sub, "%s %s %g on a %s %lld-element tensor", bin_names[op],
                             first ? "scalar first" : "scalar second", s, layout_names[l],
                             (long long)lctw_shape_numel(nd, shape));
                    OK_OR_FAIL(pair_make(&a, nd, shape, l,
                                         pow_op ? (first ? P_NORMAL : P_POS) : P_SPECIAL,
                                         31 * op + k + si));
                    OK_OR_FAIL(guarded_new(&o, nd, shape));
                    OK_OR_FAIL(lctw_binary_scalar(o.t, a.g, s, (lctw_binary_op)op, first));
                    x = host_values(a.c);
                    for (int64_t i = 0; i < o.n; i++)
                        x[i] = first ? bin_ref(op, s, x[i]) : bin_ref(op, x[i], s);
                    double rt = pow_op ? 2e-6 : 0;
                    if (guarded_read(&o, &got)) compare("out", got, x, o.n, 1e-30, rt);
                    OK_OR_FAIL(lctw_tensor_empty(&co, nd, shape, LCTW_DEV_CPU));
                    OK_OR_FAIL(lctw_binary_scalar(co, a.c, s, (lctw_binary_op)op, first));
                    compare_cpu("out", got, co, 1e-30, 2 * rt);
                done:
                    free(got);
                    free(x);
                    lctw_tensor_release(co);
                    pair_free(&a);
                    guarded_free(&o);
                }
}

static void t_clamp(void) {
    NEED_DEVICE();
    for (int k = 0; k < NSHAPES; k++)
        for (int l = 0; l < L_COUNT; l++) {
            int64_t shape[LCTW_MAX_DIMS];
            int nd = shape_of(k, shape);
            float lo = -1.25f, hi = l == 3 ? -1.25f : 2.0f;
            pair a = {0};
            guarded o = {0};
            lctw_tensor *co = NULL;
            float *got = NULL;
            double *x = NULL;
            snprintf(sub, sizeof sub, "clamp [%g, %g] of a %s %lld-element tensor", lo, hi,
                     layout_names[l], (long long)lctw_shape_numel(nd, shape));
            OK_OR_FAIL(pair_make(&a, nd, shape, l, P_SPECIAL, 40 + k));
            OK_OR_FAIL(guarded_new(&o, nd, shape));
            OK_OR_FAIL(lctw_clamp(o.t, a.g, lo, hi));
            x = host_values(a.c);
            for (int64_t i = 0; i < o.n; i++)
                x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
            if (guarded_read(&o, &got)) compare("out", got, x, o.n, 0, 0);
            OK_OR_FAIL(lctw_tensor_empty(&co, nd, shape, LCTW_DEV_CPU));
            OK_OR_FAIL(lctw_clamp(co, a.c, lo, hi));
            compare_cpu("out", got, co, 0, 0);
        done:
            free(got);
            free(x);
            lctw_tensor_release(co);
            pair_free(&a);
            guarded_free(&o);
        }
}

static void t_fill(void) {
    NEED_DEVICE();
    for (int k = 0; k < NSHAPES; k++)
        for (int l = 0; l < L_COUNT; l++) {
            int64_t shape[LCTW_MAX_DIMS];
            int nd = shape_of(k, shape);
            pair a = {0};
            float *all = NULL;
            double *ref = NULL;
            const float v = -3.5f;
            snprintf(sub, sizeof sub, "fill of a %s %lld-element tensor", layout_names[l],
                     (long long)lctw_shape_numel(nd, shape));
            OK_OR_FAIL(pair_make(&a, nd, shape, l, P_NORMAL, 50 + k));
            OK_OR_FAIL(lctw_fill(a.g, v));
            /* the whole storage: the view's elements are v, the others unchanged */
            for (int64_t i = 0; i < lctw_tensor_numel(a.c); i++)
                lctw_tensor_data(a.c)[lctw_tensor_flat_offset(a.c, i)] = v;
            size_t nf = a.g->st->nbytes / sizeof(float);
            all = malloc(a.g->st->nbytes);
            ref = malloc(sizeof(double) * nf);
            OK_OR_FAIL(lctw_cuda_d2h(all, a.g->st->data, a.g->st->nbytes));
            for (size_t i = 0; i < nf; i++)
                ref[i] = a.c->st->data[i];
            compare("storage", all, ref, (int64_t)nf, 0, 0);
        done:
            free(all);
            free(ref);
            pair_free(&a);
        }
}

static void t_fill_random(void) {
    NEED_DEVICE();
    static const int64_t n_list[] = {1, 2, 3, 5, 1000, 65537, 1000003};
    static const uint64_t offsets[] = {0, 5, ((uint64_t)3 << 32) + 7};
    double worst = 0;
    for (int normal = 0; normal < 2; normal++)
        for (int k = 0; k < 7; k++)
            for (int oi = 0; oi < 3; oi++) {
                int64_t n = n_list[k];
                lctw_rng r = {0x0123456789ABCDEFULL + (uint64_t)k, offsets[oi], 7u + (unsigned)oi};
                lctw_rng rc = r, r0 = r;
                guarded o = {0};
                lctw_tensor *co = NULL;
                float *got = NULL;
                double *ref = malloc(sizeof(double) * (size_t)n);
                snprintf(sub, sizeof sub, "%s draw of %lld at offset %llu",
                         normal ? "normal" : "uniform", (long long)n,
                         (unsigned long long)offsets[oi]);
                OK_OR_FAIL(guarded_new(&o, 1, &n));
                OK_OR_FAIL(normal ? lctw_fill_normal(o.t, &r) : lctw_fill_uniform(o.t, &r));
                CHECK(r.offset == r0.offset + (uint64_t)(n + 3) / 4, "%s: offset advanced to %llu",
                      sub, (unsigned long long)r.offset);
                for (int64_t j = 0; j < n; j++)
                    ref[j] = normal
                                 ? lctw_rng_normal_at(r0.seed, r0.stream, r0.offset, (uint64_t)j)
                                 : lctw_rng_uniform_at(r0.seed, r0.stream, r0.offset, (uint64_t)j);
                if (guarded_read(&o, &got)) {
                    double e = compare("draw", got, ref, n, normal ? 1e-7 : 0, normal ? 1e-6 : 0);
                    if (e > worst) worst = e;
                    double s = 0;
                    for (int64_t j = 0; j < n; j++)
                        s += got[j];
                    /* sanity of the distribution on the big draw (the reference could be wrong) */
                    if (n > 100000)
                        CHECK(fabs(s / n - (normal ? 0.0 : 0.5)) < 0.01, "%s: mean %g", sub, s / n);
                }
                OK_OR_FAIL(lctw_tensor_empty(&co, 1, &n, LCTW_DEV_CPU));
                OK_OR_FAIL(normal ? lctw_fill_normal(co, &rc) : lctw_fill_uniform(co, &rc));
                compare_cpu("draw", got, co, normal ? 1e-7 : 0, normal ? 1e-6 : 0);
            done:
                free(got);
                free(ref);
                lctw_tensor_release(co);
                guarded_free(&o);
            }
    test_detail("(normal max rel err %.2g)", worst);
}

/* ---- matmul ---- */

static void matmul_case(int nd, int64_t nb, int64_t m, int64_t kk, int64_t n, int la, int lb,
                        int tf32, double *worst) {
    int64_t sa[3] = {nb, m, kk}, sb[3] = {nb, kk, n}, so[3] = {nb, m, n};
    int off = nd == 3 ? 0 : 1;
    pair a = {0}, b = {0};
    guarded o = {0};
    lctw_tensor *co = NULL;
    float *got = NULL;
    double *x = NULL, *y = NULL, *ref = NULL, *mag = NULL;
    snprintf(sub, sizeof sub, "%s%lld×%lld (%s) times %lld×%lld (%s)%s", nd == 3 ? "batched " : "",
             (long long)m, (long long)kk, layout_names[la], (long long)kk, (long long)n,
             layout_names[lb], tf32 ? " with TF32" : "");
    OK_OR_FAIL(pair_make(&a, nd, sa + off, la, P_NORMAL, (uint64_t)(m + 3 * kk + la)));
    OK_OR_FAIL(pair_make(&b, nd, sb + off, lb, P_NORMAL, (uint64_t)(n + 5 * kk + lb)));
    OK_OR_FAIL(guarded_new(&o, nd, so + off));
    lctw_cuda_set_tf32(tf32);
    lctw_status s = lctw_matmul(o.t, a.g, b.g);
    lctw_cuda_set_tf32(0);
    OK_OR_FAIL(s);
    x = host_values(a.c);
    y = host_values(b.c);
    ref = calloc((size_t)(nb * m * n + 1), sizeof(double));
    mag = calloc((size_t)(nb * m * n + 1), sizeof(double));
    for (int64_t q = 0; q < nb; q++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0, am = 0;
                for (int64_t p = 0; p < kk; p++) {
                    double t = x[(q * m + i) * kk + p] * y[(q * kk + p) * n + j];
                    acc += t;
                    am += fabs(t);
                }
                ref[(q * m + i) * n + j] = acc;
                mag[(q * m + i) * n + j] = am;
            }
    if (guarded_read(&o, &got)) {
        /* fp32 GEMM error is bounded by ~k·eps·Σ|a||b|; 1e-5·Σ|a||b| is ample and still
         * catches any indexing error; TF32 has a 10-bit mantissa */
        double tol = tf32 ? 2e-3 : 1e-5;
        for (int64_t i = 0; i < o.n; i++) {
            double e = fabs(got[i] - ref[i]);
            if (!(e <= tol * mag[i] + 1e-30)) {
                test_fail_(__FILE__, __LINE__, "%s: out[%lld] = %.9g, expected %.9g (Σ|ab| %.3g)",
                           sub, (long long)i, got[i], ref[i], mag[i]);
                break;
            }
            if (!tf32 && mag[i] > 0 && e / mag[i] > *worst) *worst = e / mag[i];
        }
    }
    if (!tf32) {
        OK_OR_FAIL(lctw_tensor_empty(&co, nd, so + off, LCTW_DEV_CPU));
        OK_OR_FAIL(lctw_matmul(co, a.c, b.c));
        double *cv = host_values(co);
        for (int64_t i = 0; i < o.n; i++)
            if (!(fabs(got[i] - cv[i]) <= 2e-5 * mag[i] + 1e-30)) {
                test_fail_(__FILE__, __LINE__, "%s: out[%lld] = %.9g, CPU %.9g", sub, (long long)i,
                           got[i], cv[i]);
                break;
            }
        free(cv);
    }
done:
    free(got);
    free(x);
    free(y);
    free(ref);
    free(mag);
    lctw_tensor_release(co);
    pair_free(&a);
    pair_free(&b);
    guarded_free(&o);
}

static void t_matmul(void) {
    NEED_DEVICE();
    double worst = 0;
    static const int64_t dims[][3] = {{1, 1, 1},      {3, 5, 7},   {64, 65, 67},
                                      {129, 257, 33}, {1, 300, 1}, {200, 150, 300}};
    for (int c = 0; c < 6; c++)
        for (int la = 0; la < L_COUNT; la++)
            matmul_case(2, 1, dims[c][0], dims[c][1], dims[c][2], la, (la + c) % L_COUNT, 0,
                        &worst);
    matmul_case(3, 3, 17, 19, 23, L_CONTIG, L_CONTIG, 0, &worst);
    matmul_case(3, 4, 33, 7, 65, L_TRANSPOSED, L_OFFSET, 0, &worst);
    matmul_case(3, 1, 5, 6, 7, L_STEP2, L_CONTIG, 0, &worst);
    matmul_case(2, 1, 64, 65, 67, L_CONTIG, L_CONTIG, 1, &worst);
    matmul_case(3, 2, 31, 47, 29, L_CONTIG, L_TRANSPOSED, 1, &worst);
    test_detail("(max err / Σ|ab| %.2g)", worst);
}

/* k = 0 gives zeros */
static void t_matmul_k0(void) {
    NEED_DEVICE();
    snprintf(sub, sizeof sub, "matmul with k = 0");
    int64_t sa[2] = {3, 0}, sb[2] = {0, 4}, so[2] = {3, 4};
    lctw_tensor *a = NULL, *b = NULL;
    guarded o = {0};
    float *got = NULL;
    OK_OR_FAIL(lctw_tensor_empty(&a, 2, sa, LCTW_DEV_CUDA));
    OK_OR_FAIL(lctw_tensor_empty(&b, 2, sb, LCTW_DEV_CUDA));
    OK_OR_FAIL(guarded_new(&o, 2, so));
    OK_OR_FAIL(lctw_matmul(o.t, a, b));
    if (guarded_read(&o, &got)) {
        double z[12] = {0};
        compare("out", got, z, 12, 0, 0);
    }
done:
    free(got);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
    guarded_free(&o);
}

/* ---- reductions ---- */

static const char *red_names[] = {"sum", "mean", "var", "std", "min", "max"};

/* double reference of a full reduction; NaN propagates through min/max */
static double red_ref(const double *x, int64_t n, int op, int unbiased) {
    double s = 0, mn = INFINITY, mx = -INFINITY;
    int nan = 0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        if (isnan(x[i])) nan = 1;
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    double mean = s / n, m2 = 0;
    for (int64_t i = 0; i < n; i++)
        m2 += (x[i] - mean) * (x[i] - mean);
    double var = m2 / (double)(n - unbiased);
    switch (op) {
    case LCTW_RED_SUM: return s;
    case LCTW_RED_MEAN: return mean;
    case LCTW_RED_VAR: return var;
    case LCTW_RED_STD: return sqrt(var);
    case LCTW_RED_MIN: return nan ? NAN : mn;
    default: return nan ? NAN : mx;
    }
}

static void t_reduce_all(void) {
    NEED_DEVICE();
    static const int64_t n_list[] = {1, 3, 1000, 65537, 300007};
    for (int k = 0; k < 5 + 3; k++)
        for (int l = 0; l < L_COUNT; l++)
            for (int pat = 0; pat < 3; pat++) {
                int64_t shape[LCTW_MAX_DIMS];
                int nd = k < 5 ? (shape[0] = n_list[k], 1) : shape_of(NSIZES + k - 5, shape);
                int p = pat == 0 ? P_NORMAL : pat == 1 ? P_TIES : P_SPECIAL;
                pair a = {0};
                double *x = NULL;
                snprintf(sub, sizeof sub, "%s %lld-element %d-D tensor (pattern %d)",
                         layout_names[l], (long long)lctw_shape_numel(nd, shape), nd, p);
                OK_OR_FAIL(pair_make(&a, nd, shape, l, p, 60 + k));
                x = host_values(a.c);
                int64_t n = lctw_tensor_numel(a.c);
                double sabs = 0;
                for (int64_t i = 0; i < n; i++)
                    sabs += isfinite(x[i]) ? fabs(x[i]) : 0;
                for (int op = 0; op < LCTW_RED_COUNT; op++)
                    for (int ub = 0; ub < 2; ub++) {
                        if (ub && (op != LCTW_RED_VAR && op != LCTW_RED_STD)) continue;
                        if (ub && n < 2) continue;
                        double got = 0, cpu = 0, ref = red_ref(x, n, op, ub);
                        OK_OR_FAIL(lctw_reduce_all(a.g, (lctw_reduce_op)op, ub, &got));
                        double at = op <= LCTW_RED_MEAN ? 1e-12 * sabs : 0;
                        double rt = op >= LCTW_RED_MIN ? 0 : 1e-9;
                        if (!close_to(got, ref, at, rt))
                            test_fail_(__FILE__, __LINE__, "%s: %s%s = %.17g, expected %.17g", sub,
                                       red_names[op], ub ? " (unbiased)" : "", got, ref);
                        OK_OR_FAIL(lctw_reduce_all(a.c, (lctw_reduce_op)op, ub, &cpu));
                        if (!close_to(got, cpu, at, rt))
                            test_fail_(__FILE__, __LINE__, "%s: %s%s = %.17g, CPU %.17g", sub,
                                       red_names[op], ub ? " (unbiased)" : "", got, cpu);
                    }
            done:
                free(x);
                pair_free(&a);
            }
}

/* flat index in shape `sh` of the multi-index of output o (shape with sh[dim] = 1) with
 * coordinate r along dim */
static int64_t rdim_index(int nd, const int64_t *sh, int dim, int64_t o, int64_t r) {
    int64_t idx[LCTW_MAX_DIMS];
    for (int d = nd - 1; d >= 0; d--) {
        int64_t s = d == dim ? 1 : sh[d];
        idx[d] = o % s;
        o /= s;
    }
    idx[dim] = r;
    int64_t f = 0;
    for (int d = 0; d < nd; d++)
        f = f * sh[d] + idx[d];
    return f;
}

static void t_reduce_dim(void) {
    NEED_DEVICE();
    static const int64_t shapes[][5] = {
        /* ndim, shape: row lengths below and above the block-per-output threshold */
        {2, 37, 1000}, {3, 5, 300, 7}, {4, 3, 4, 5, 6}, {1, 65537}, {2, 1, 3}, {2, 70000, 3}};
    for (int c = 0; c < 6; c++) {
        int nd = (int)shapes[c][0];
        const int64_t *shape = shapes[c] + 1;
        for (int dim = 0; dim < nd; dim++)
            for (int l = 0; l < L_COUNT; l++)
                for (int op = 0; op < LCTW_RED_COUNT; op++) {
                    int ub = op == LCTW_RED_VAR && shape[dim] > 1;
                    int p = (op >= LCTW_RED_MIN) ? (l == 1 ? P_SPECIAL : P_TIES)
                                                 : (l == 1 ? P_SPECIAL : P_NORMAL);
                    pair a = {0};
                    guarded o = {0}, gi = {0};
                    lctw_tensor *co = NULL, *ci = NULL;
                    float *got = NULL, *goti = NULL;
                    double *x = NULL, *ref = NULL, *refi = NULL;
                    int64_t os[LCTW_MAX_DIMS];
                    for (int d = 0; d < nd; d++)
                        os[d] = d == dim ? 1 : shape[d];
                    int64_t len = shape[dim], nout = lctw_shape_numel(nd, os);
                    int arg = op >= LCTW_RED_MIN;
                    snprintf(sub, sizeof sub,
                             "%s%s over dim %d of a %s %d-D tensor (len %lld, "
                             "%lld outputs)",
                             red_names[op], ub ? " (unbiased)" : "", dim, layout_names[l], nd,
                             (long long)len, (long long)nout);
                    OK_OR_FAIL(pair_make(&a, nd, shape, l, p, 70 + 7 * c + dim));
                    OK_OR_FAIL(guarded_new(&o, nd, os));
                    if (arg) OK_OR_FAIL(guarded_new(&gi, nd, os));
                    OK_OR_FAIL(
                        lctw_reduce_dim(o.t, arg ? gi.t : NULL, a.g, dim, (lctw_reduce_op)op, ub));
                    x = host_values(a.c);
                    ref = malloc(sizeof(double) * (size_t)nout);
                    refi = malloc(sizeof(double) * (size_t)nout);
                    double *row = malloc(sizeof(double) * (size_t)len);
                    double sabs = 0;
                    for (int64_t q = 0; q < nout; q++) {
                        int64_t bi = 0;
                        for (int64_t r = 0; r < len; r++) {
                            double v = x[rdim_index(nd, shape, dim, q, r)];
                            row[r] = v;
                            if (isfinite(v)) sabs = fmax(sabs, fabs(v));
                            /* first NaN, else first extreme */
                            if (isnan(row[bi])) continue;
                            if (isnan(v) || (op == LCTW_RED_MIN ? v < row[bi] : v > row[bi]))
                                bi = r;
                        }
                        ref[q] = (float)red_ref(row, len, op, ub);
                        refi[q] = (double)bi;
                    }
                    free(row);
                    double at = op == LCTW_RED_SUM   ? 1e-6 * sabs * (double)len
                                : op <= LCTW_RED_STD ? 1e-6 * sabs
                                                     : 0;
                    double rt = arg ? 0 : 1e-6;
                    if (guarded_read(&o, &got)) compare("out", got, ref, nout, at, rt);
                    if (arg && guarded_read(&gi, &goti)) compare("index", goti, refi, nout, 0, 0);
                    OK_OR_FAIL(lctw_tensor_empty(&co, nd, os, LCTW_DEV_CPU));
                    if (arg) OK_OR_FAIL(lctw_tensor_empty(&ci, nd, os, LCTW_DEV_CPU));
                    OK_OR_FAIL(lctw_reduce_dim(co, ci, a.c, dim, (lctw_reduce_op)op, ub));
                    compare_cpu("out", got, co, at, rt);
                    if (arg) compare_cpu("index", goti, ci, 0, 0);
                done:
                    free(got);
                    free(goti);
                    free(x);
                    free(ref);
                    free(refi);
                    lctw_tensor_release(co);
                    lctw_tensor_release(ci);
                    pair_free(&a);
                    guarded_free(&o);
                    guarded_free(&gi);
                    if (case_failed) return;
                }
    }
}

static void moments_ref(const double *x, int64_t n, lctw_moments *m) {
    double s = 0, mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        mn = isnan(x[i]) || isnan(mn) ? NAN : fmin(mn, x[i]);
        mx = isnan(x[i]) || isnan(mx) ? NAN : fmax(mx, x[i]);
    }
    double mean = s / n, m2 = 0, m3 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    m2 /= n, m3 /= n, m4 /= n;
    m->n = n;
    m->mean = mean;
    m->var = m2;
    m->std = sqrt(m2);
    m->skew = m2 > 0 ? m3 / pow(m2, 1.5) : NAN;
    m->kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : NAN;
    m->min = mn;
    m->max = mx;
}

static void check_moments(const char *who, const lctw_moments *g, const lctw_moments *r) {
    const double *gv = &g->mean, *rv = &r->mean;
    static const char *names[] = {"mean", "var", "std", "skew", "kurtosis", "min", "max"};
    CHECK(g->n == r->n, "%s: n = %lld, %s %lld", sub, (long long)g->n, who, (long long)r->n);
    for (int i = 0; i < 7; i++) {
        double at = i == 0 ? 1e-12 * (fabs(r->std) + 1) : i >= 5 ? 0 : 1e-12;
        if (!close_to(gv[i], rv[i], at, i >= 5 ? 0 : 1e-8)) {
            test_fail_(__FILE__, __LINE__, "%s: %s = %.17g, %s %.17g", sub, names[i], gv[i], who,
                       rv[i]);
            return;
        }
    }
}

static void t_moments(void) {
    NEED_DEVICE();
    static const int64_t n_list[] = {1, 3, 1000, 65537, 300007};
    for (int k = 0; k < 5 + 3; k++)
        for (int l = 0; l < L_COUNT; l++)
            for (int pat = 0; pat < 3; pat++) {
                int64_t shape[LCTW_MAX_DIMS];
                int nd = k < 5 ? (shape[0] = n_list[k], 1) : shape_of(NSIZES + k - 5, shape);
                int p = pat == 0 ? P_NORMAL : pat == 1 ? P_POS : P_SPECIAL;
                pair a = {0};
                double *x = NULL;
                lctw_moments g, c, r;
                snprintf(sub, sizeof sub, "moments of a %s %lld-element tensor (pattern %d)",
                         layout_names[l], (long long)lctw_shape_numel(nd, shape), p);
                OK_OR_FAIL(pair_make(&a, nd, shape, l, p, 80 + k));
                x = host_values(a.c);
                OK_OR_FAIL(lctw_moments_all(a.g, &g));
                moments_ref(x, lctw_tensor_numel(a.c), &r);
                check_moments("expected", &g, &r);
                OK_OR_FAIL(lctw_moments_all(a.c, &c));
                check_moments("CPU", &g, &c);
            done:
                free(x);
                pair_free(&a);
            }
}

static void t_tail_fraction(void) {
    NEED_DEVICE();
    static const double ks[] = {0.0, 1.0, 2.0, 3.5};
    for (int k = 0; k < NSHAPES; k++)
        for (int l = 0; l < L_COUNT; l++)
            for (int ki = 0; ki < 4; ki++) {
                int64_t shape[LCTW_MAX_DIMS];
                int nd = shape_of(k, shape);
                pair a = {0};
                double *x = NULL, got = -1, cpu = -1;
                snprintf(sub, sizeof sub, "tail_fraction(%g) of a %s %lld-element tensor", ks[ki],
                         layout_names[l], (long long)lctw_shape_numel(nd, shape));
                OK_OR_FAIL(pair_make(&a, nd, shape, l, (k + l) % 2 ? P_TIES : P_NORMAL, 90 + k));
                x = host_values(a.c);
                int64_t n = lctw_tensor_numel(a.c);
                lctw_moments r;
                moments_ref(x, n, &r);
                int64_t cnt = 0;
                for (int64_t i = 0; i < n; i++)
                    cnt += fabs(x[i] - r.mean) > ks[ki] * r.std;
                OK_OR_FAIL(lctw_tail_fraction(a.g, ks[ki], &got));
                CHECK(close_to(got, (double)cnt / n, 1e-15, 0), "%s: %.17g, expected %.17g", sub,
                      got, (double)cnt / n);
                OK_OR_FAIL(lctw_tail_fraction(a.c, ks[ki], &cpu));
                CHECK(close_to(got, cpu, 1e-15, 0), "%s: %.17g, CPU %.17g", sub, got, cpu);
            done:
                free(x);
                pair_free(&a);
            }
}

static void t_histogram(void) {
    NEED_DEVICE();
    static const int bins_list[] = {1, 7, 256, 10000};
    static const double ranges[][2] = {{-2.0, 2.0}, {-1.0, 0.5}, {0.0, 1e-3}};
    for (int k = 0; k < NSHAPES; k++)
        for (int bi = 0; bi < 4; bi++)
            for (int ri = 0; ri < 3; ri++) {
                int64_t shape[LCTW_MAX_DIMS];
                int nd = shape_of(k, shape);
                int l = (k + bi + ri) % L_COUNT, bins = bins_list[bi];
                double lo = ranges[ri][0], hi = ranges[ri][1];
                pair a = {0};
                double *x = NULL;
                int64_t *got = calloc((size_t)bins, sizeof(int64_t));
                int64_t *cpu = calloc((size_t)bins, sizeof(int64_t));
                int64_t *ref = calloc((size_t)bins, sizeof(int64_t));
                int64_t gb = -1, ga = -1, cb = -1, ca = -1, rb = 0, ra = 0;
                snprintf(sub, sizeof sub, "%d bins over [%g, %g] of a %s %lld-element tensor", bins,
                         lo, hi, layout_names[l], (long long)lctw_shape_numel(nd, shape));
                OK_OR_FAIL(pair_make(&a, nd, shape, l, (k + bi) % 2 ? P_SPECIAL : P_TIES, 100 + k));
                /* values at the edges: (float)lo and (float)hi */
                if (lctw_tensor_numel(a.c) >= 3) {
                    OK_OR_FAIL(lctw_tensor_set_flat(a.c, 0, (float)lo));
                    OK_OR_FAIL(lctw_tensor_set_flat(a.c, 1, (float)hi));
                    OK_OR_FAIL(lctw_tensor_set_flat(a.g, 0, (float)lo));
                    OK_OR_FAIL(lctw_tensor_set_flat(a.g, 1, (float)hi));
                }
                x = host_values(a.c);
                int64_t n = lctw_tensor_numel(a.c);
                for (int64_t i = 0; i < n; i++) {
                    double v = x[i];
                    if (isnan(v)) continue;
                    if (v < lo)
                        rb++;
                    else if (v > hi)
                        ra++;
                    else {
                        int64_t b = (int64_t)floor((v - lo) / (hi - lo) * bins);
                        ref[b >= bins ? bins - 1 : b]++;
                    }
                }
                OK_OR_FAIL(lctw_histogram(a.g, bins, lo, hi, got, &gb, &ga));
                OK_OR_FAIL(lctw_histogram(a.c, bins, lo, hi, cpu, &cb, &ca));
                CHECK(gb == rb && ga == ra, "%s: below/above %lld/%lld, expected %lld/%lld", sub,
                      (long long)gb, (long long)ga, (long long)rb, (long long)ra);
                CHECK(gb == cb && ga == ca, "%s: below/above %lld/%lld, CPU %lld/%lld", sub,
                      (long long)gb, (long long)ga, (long long)cb, (long long)ca);
                for (int b = 0; b < bins; b++)
                    if (got[b] != ref[b] || got[b] != cpu[b]) {
                        CHECK(0, "%s: bin %d has %lld, expected %lld, CPU %lld", sub, b,
                              (long long)got[b], (long long)ref[b], (long long)cpu[b]);
                        break;
                    }
                /* without below/above */
                OK_OR_FAIL(lctw_histogram(a.g, bins, lo, hi, got, NULL, NULL));
                CHECK(got[0] == ref[0] && got[bins - 1] == ref[bins - 1], "%s: NULL below/above",
                      sub);
            done:
                free(x);
                free(got);
                free(cpu);
                free(ref);
                pair_free(&a);
                if (case_failed) return;
            }
}

int main(void) {
    RUN(t_no_device);
    RUN(t_describe);
    RUN(t_memory);
    RUN(t_oom);
    RUN(t_copy_strided);
    RUN(t_copy_overlap);
    RUN(t_unary);
    RUN(t_unary_inplace);
    RUN(t_binary);
    RUN(t_pow_special);
    RUN(t_binary_scalar);
    RUN(t_clamp);
    RUN(t_fill);
    RUN(t_fill_random);
    RUN(t_matmul);
    RUN(t_matmul_k0);
    RUN(t_reduce_all);
    RUN(t_reduce_dim);
    RUN(t_moments);
    RUN(t_tail_fraction);
    RUN(t_histogram);
    return test_summary();
}
