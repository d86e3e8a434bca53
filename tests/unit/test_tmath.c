/* test_tmath.c — the CPU tensor math of tmath.h (src/core/tmath_cpu.c) against double-precision
 * loops written here: element-wise ops on contiguous, strided and aliased operands, matmul in
 * every operand layout, reductions, moments, histogram, tail fraction and interrupts.
 *
 * Elements are read through lctw_tensor_get_flat (flat offsets), independently of the
 * iterator under test. */
#include <stdint.h>
#include <stdlib.h>

#include "core/interrupt.h"
#include "core/tmath.h"
#include "test.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double urand(void) { /* xorshift64*, uniform [0, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1p-53;
}

static lctw_tensor *zeros(int nd, const int64_t *sh) {
    lctw_tensor *t = NULL;
    if (lctw_tensor_zeros(&t, nd, sh, LCTW_DEV_CPU) != LCTW_OK) {
        printf("FAIL test_tmath.c: setup: %s\n", lctw_error_message());
        exit(1);
    }
    return t;
}

/* A tensor of uniform values in [lo, hi). */
static lctw_tensor *rnd(int nd, const int64_t *sh, double lo, double hi) {
    lctw_tensor *t = zeros(nd, sh);
    float *d = lctw_tensor_data(t);
    int64_t n = lctw_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) d[i] = (float)(lo + (hi - lo) * urand());
    return t;
}

static double get(const lctw_tensor *t, int64_t i) {
    float v = NAN;
    lctw_tensor_get_flat(t, i, &v);
    return v;
}

static lctw_tensor *transposed(lctw_tensor *t, int d0, int d1) {
    lctw_tensor *v = NULL;
    lctw_tensor_transpose(&v, t, d0, d1);
    return v;
}

static lctw_tensor *narrowed(lctw_tensor *t, int dim, int64_t start, int64_t len) {
    lctw_tensor *v = NULL;
    lctw_tensor_narrow(&v, t, dim, start, len);
    return v;
}

static lctw_tensor *like(const lctw_tensor *t) { return zeros(t->ndim, t->shape); }

static lctw_tensor *clone(const lctw_tensor *t) {
    lctw_tensor *c = NULL;
    lctw_tensor_clone(&c, t);
    return c;
}

/* Relative error of got against a reference (both NaN, or equal infinities, count as exact). */
static double relerr(double got, double ref) {
    if (isnan(ref) || isnan(got)) return isnan(ref) && isnan(got) ? 0 : INFINITY;
    if (isinf(ref) || isinf(got)) return got == ref ? 0 : INFINITY;
    double d = fabs(got - ref);
    return d == 0 ? 0 : d / fmax(fabs(ref), 1e-30);
}

static double ref_unary(int op, double x) {
    switch (op) {
    case LCTW_UN_NEG: return -x;
    case LCTW_UN_EXP: return exp(x);
    case LCTW_UN_LOG: return log(x);
    case LCTW_UN_SQRT: return sqrt(x);
    case LCTW_UN_ABS: return fabs(x);
    case LCTW_UN_TANH: return tanh(x);
    }
    return NAN;
}

static double ref_binary(int op, double x, double y) {
    switch (op) {
    case LCTW_BIN_ADD: return x + y;
    case LCTW_BIN_SUB: return x - y;
    case LCTW_BIN_MUL: return x * y;
    case LCTW_BIN_DIV: return x / y;
    case LCTW_BIN_POW: return pow(x, y);
    }
    return NAN;
}

static const char *un_names[] = {"neg", "exp", "log", "sqrt", "abs", "tanh"};
static const char *bin_names[] = {"add", "sub", "mul", "div", "pow"};

/* float results vs the double reference rounded to float: within 2 ulp */
#define ULP2 2.4e-7

/* ---- element-wise ------------------------------------------------------------------------- */

/* Inputs for unary op `op` in its domain, as a view of the given layout:
 * 0 contiguous 3×5×7, 1 transposed (7×5×3 view), 2 narrowed + transposed 2-D. */
static lctw_tensor *unary_input(int op, int layout, lctw_tensor **base) {
    double lo = (op == LCTW_UN_LOG || op == LCTW_UN_SQRT) ? 0.01 : -4, hi = 4;
    if (layout == 0) {
        *base = rnd(3, (int64_t[]){3, 5, 7}, lo, hi);
        lctw_tensor_retain(*base);
        return *base;
    }
    if (layout == 1) {
        *base = rnd(3, (int64_t[]){3, 5, 7}, lo, hi);
        return transposed(*base, 0, 2);
    }
    *base = rnd(2, (int64_t[]){11, 13}, lo, hi);
    lctw_tensor *n = narrowed(*base, 1, 2, 9);
    lctw_tensor *t = transposed(n, 0, 1); /* 9×11, strides (1, 13) */
    lctw_tensor_release(n);
    return t;
}

static void unary_layout(int layout, int inplace) {
    double worst = 0;
    for (int op = 0; op < LCTW_UN_COUNT; op++) {
        lctw_tensor *base, *a = unary_input(op, layout, &base);
        lctw_tensor *src, *out;
        if (inplace) { /* out is src: one more reference for the release of out below */
            src = clone(a);
            out = src;
        } else {
            src = a;
            out = like(a);
        }
        lctw_tensor_retain(src);
        lctw_tensor *orig = clone(a);
        CHECK_OK(lctw_unary(out, src, (lctw_unary_op)op));
        int64_t n = lctw_tensor_numel(a);
        for (int64_t i = 0; i < n; i++) {
            double e = relerr(get(out, i), (float)ref_unary(op, get(orig, i)));
            CHECK(e <= ULP2, "%s at %lld: got %.9g, expected %.9g", un_names[op], (long long)i,
                  get(out, i), (float)ref_unary(op, get(orig, i)));
            if (e > worst) worst = e;
        }
        lctw_tensor_release(orig);
        lctw_tensor_release(out);
        lctw_tensor_release(src);
        lctw_tensor_release(a);
        lctw_tensor_release(base);
    }
    test_detail("6 ops, max rel err %.2g", worst);
}

static void t_unary_contiguous(void) { unary_layout(0, 0); }
static void t_unary_transposed(void) { unary_layout(1, 0); }
static void t_unary_narrowed_transposed(void) { unary_layout(2, 0); }
static void t_unary_inplace(void) { unary_layout(0, 1); }

/* Binary ops: a and b of shape 6×4×5 in layouts: 0 both contiguous; 1 a transposed, b a narrow;
 * 2 out aliases a; 3 out aliases b; 4 out, a and b are one tensor. */
static void binary_layout(int layout) {
    double worst = 0;
    for (int op = 0; op < LCTW_BIN_COUNT; op++) {
        int pw = op == LCTW_BIN_POW;
        double lo = pw ? 0.1 : -3, hi = 3;
        lctw_tensor *ba = rnd(3, (int64_t[]){5, 4, 6}, lo, hi);
        lctw_tensor *bb = rnd(3, (int64_t[]){6, 4, 8}, pw ? -2 : -3, 3);
        lctw_tensor *a, *b;
        if (layout == 1) {
            a = transposed(ba, 0, 2);       /* 6×4×5, strides (1, 6, 24) */
            b = narrowed(bb, 2, 1, 5);      /* 6×4×5, strides (32, 8, 1) */
        } else {
            lctw_tensor *t = transposed(ba, 0, 2);
            a = clone(t);
            lctw_tensor_release(t);
            b = narrowed(bb, 2, 1, 5);
            t = b;
            b = clone(t);
            lctw_tensor_release(t);
        }
        if (layout == 4) {
            lctw_tensor_release(b);
            b = a;
            lctw_tensor_retain(b);
        }
        lctw_tensor *ra = clone(a), *rb = clone(b);
        lctw_tensor *out = layout == 2 || layout == 4 ? a : layout == 3 ? b : like(a);
        if (layout >= 2) lctw_tensor_retain(out);
        CHECK_OK(lctw_binary(out, a, b, (lctw_binary_op)op));
        int64_t n = lctw_tensor_numel(ra);
        for (int64_t i = 0; i < n; i++) {
            double want = (float)ref_binary(op, get(ra, i), get(rb, i));
            double e = relerr(get(out, i), want);
            CHECK(e <= ULP2, "%s at %lld: got %.9g, expected %.9g", bin_names[op], (long long)i,
                  get(out, i), want);
            if (e > worst) worst = e;
        }
        lctw_tensor *all[] = {out, ra, rb, a, b, ba, bb};
        for (int k = 0; k < 7; k++) lctw_tensor_release(all[k]);
    }
    test_detail("5 ops, max rel err %.2g", worst);
}

static void t_binary_contiguous(void) { binary_layout(0); }
static void t_binary_strided(void) { binary_layout(1); }
static void t_binary_inplace_a(void) { binary_layout(2); }
static void t_binary_inplace_b(void) { binary_layout(3); }
static void t_binary_all_aliased(void) { binary_layout(4); }

static void t_scalar_ops(void) {
    double worst = 0;
    const float scalars[] = {2.5f, -0.75f};
    for (int op = 0; op < LCTW_BIN_COUNT; op++)
        for (int first = 0; first < 2; first++)
            for (int layout = 0; layout < 3; layout++) { /* contiguous, transposed, in place */
                int pw = op == LCTW_BIN_POW;
                lctw_tensor *base = rnd(2, (int64_t[]){7, 9}, pw ? 0.2 : -3, 3);
                lctw_tensor *a = layout == 1 ? transposed(base, 0, 1) : clone(base);
                lctw_tensor *ra = clone(a);
                lctw_tensor *out = layout == 2 ? a : like(a);
                if (layout == 2) lctw_tensor_retain(out);
                /* s ** a with s < 0 and non-integer a is NaN: keep the base positive there */
                float s = pw && first ? 1.7f : scalars[(op + layout) % 2];
                CHECK_OK(lctw_binary_scalar(out, a, s, (lctw_binary_op)op, first));
                for (int64_t i = 0; i < lctw_tensor_numel(ra); i++) {
                    double x = get(ra, i);
                    double want = (float)(first ? ref_binary(op, s, x) : ref_binary(op, x, s));
                    double e = relerr(get(out, i), want);
                    CHECK(e <= ULP2, "%s%s layout %d at %lld: got %.9g, expected %.9g",
                          bin_names[op], first ? " (scalar first)" : "", layout, (long long)i,
                          get(out, i), want);
                    if (e > worst) worst = e;
                }
                lctw_tensor_release(out);
                lctw_tensor_release(ra);
                lctw_tensor_release(a);
                lctw_tensor_release(base);
            }
    test_detail("5 ops × 2 orders × 3 layouts, max rel err %.2g", worst);
}

/* IEEE special cases of div and pow, against C's double pow and division. */
static void t_pow_div_edges(void) {
    const float xs[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.0f, -2.0f, -8.0f, 0.5f, INFINITY, -INFINITY,
                        NAN, 1e-30f, 3e38f};
    const float ys[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.0f, 3.0f, 0.5f, 1.0f / 3.0f, -2.5f, INFINITY,
                        -INFINITY, NAN, 40.0f};
    const int nx = sizeof xs / sizeof *xs, ny = sizeof ys / sizeof *ys;
    int64_t sh[2] = {nx, ny};
    lctw_tensor *a = zeros(2, sh), *b = zeros(2, sh), *o = zeros(2, sh);
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++) {
            lctw_tensor_data(a)[i * ny + j] = xs[i];
            lctw_tensor_data(b)[i * ny + j] = ys[j];
        }
    int ops[2] = {LCTW_BIN_DIV, LCTW_BIN_POW};
    for (int q = 0; q < 2; q++) {
        CHECK_OK(lctw_binary(o, a, b, (lctw_binary_op)ops[q]));
        for (int i = 0; i < nx; i++)
            for (int j = 0; j < ny; j++) {
                double want = (float)ref_binary(ops[q], xs[i], ys[j]);
                double got = lctw_tensor_data(o)[i * ny + j];
                CHECK(relerr(got, want) <= ULP2 && (isnan(want) || signbit(got) == signbit(want)),
                      "%s(%g, %g) = %g, expected %g", bin_names[ops[q]], xs[i], ys[j], got, want);
            }
    }
    /* a few spelled out, in case the reference and the code share a mistake */
    float *d = lctw_tensor_data(o);
    CHECK_OK(lctw_binary(o, a, b, LCTW_BIN_POW));
    CHECK(d[0 * ny + 3] == INFINITY, "pow(0, -1) = %g", d[0 * ny + 3]);
    CHECK(d[1 * ny + 3] == -INFINITY, "pow(-0, -1) = %g", d[1 * ny + 3]);
    CHECK(isnan(d[6 * ny + 7]), "pow(-8, 1/3) = %g", d[6 * ny + 7]);
    CHECK(d[5 * ny + 5] == -8.0f, "pow(-2, 3) = %g", d[5 * ny + 5]);
    CHECK(d[10 * ny + 0] == 1.0f, "pow(nan, 0) = %g", d[10 * ny + 0]);
    CHECK(d[2 * ny + 11] == 1.0f, "pow(1, nan) = %g", d[2 * ny + 11]);
    CHECK_OK(lctw_binary(o, a, b, LCTW_BIN_DIV));
    CHECK(isnan(d[0 * ny + 0]), "0/0 = %g", d[0]);
    CHECK(d[2 * ny + 1] == -INFINITY, "1/-0 = %g", d[2 * ny + 1]);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
    lctw_tensor_release(o);
    test_detail("%d×%d pairs for div and pow", nx, ny);
}

static void t_clamp(void) {
    lctw_tensor *base = rnd(2, (int64_t[]){8, 6}, -3, 3);
    lctw_tensor_data(base)[5] = NAN;
    lctw_tensor *a = transposed(base, 0, 1), *out = like(a);
    CHECK_OK(lctw_clamp(out, a, -1.0f, 0.5f));
    for (int64_t i = 0; i < 48; i++) {
        double x = get(a, i), want = isnan(x) ? NAN : fmin(fmax(x, -1.0), 0.5);
        CHECK(relerr(get(out, i), want) == 0, "clamp(%g) = %g, expected %g", x, get(out, i),
              want);
    }
    lctw_tensor *c = clone(base);
    CHECK_OK(lctw_clamp(c, c, 0.0f, 0.0f));
    for (int64_t i = 0; i < 48; i++)
        CHECK(i == 5 ? isnan(get(c, i)) : get(c, i) == 0.0, "in-place clamp at %lld: %g",
              (long long)i, get(c, i));
    CHECK(lctw_clamp(out, a, 1.0f, 0.0f) == LCTW_EINVAL, "min > max accepted");
    lctw_tensor_release(c);
    lctw_tensor_release(out);
    lctw_tensor_release(a);
    lctw_tensor_release(base);
}

/* fill of a strided view writes exactly the view's elements. */
static void t_fill_strided(void) {
    lctw_tensor *base = zeros(3, (int64_t[]){4, 5, 6});
    lctw_tensor *n = narrowed(base, 2, 1, 3), *v = transposed(n, 0, 2); /* 3×5×4 */
    CHECK_OK(lctw_fill(v, 7.0f));
    int64_t hits = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 6; k++) {
                float x = lctw_tensor_data(base)[(i * 5 + j) * 6 + k];
                float want = k >= 1 && k < 4 ? 7.0f : 0.0f;
                CHECK(x == want, "element (%d,%d,%d) = %g, expected %g", i, j, k, x, want);
                hits += x == 7.0f;
            }
    CHECK(hits == 60, "%lld elements filled, expected 60", (long long)hits);
    lctw_tensor *s = NULL;
    CHECK_OK(lctw_tensor_select(&s, base, 1, 2)); /* 4×6, stride (30, 1) */
    CHECK_OK(lctw_fill(s, -1.0f));
    CHECK(lctw_tensor_data(base)[0 * 30 + 2 * 6 + 0] == -1.0f, "select fill missed");
    CHECK(lctw_tensor_data(base)[3 * 30 + 3 * 6 + 2] == 7.0f, "select fill overran");
    lctw_tensor_release(s);
    lctw_tensor_release(v);
    lctw_tensor_release(n);
    lctw_tensor_release(base);
}

/* Tensors of several million elements: rows longer than the 1M-element chunk, and many rows
 * whose total crosses chunk boundaries. */
static void t_eltwise_large(void) {
    lctw_tensor *base = rnd(2, (int64_t[]){3, 1100003}, -2, 2);
    lctw_tensor *a = narrowed(base, 1, 1, 1100000); /* rows of 1.1M, stride 1100003 */
    lctw_tensor *b = rnd(2, (int64_t[]){3, 1100000}, -2, 2), *o = like(a);
    CHECK_OK(lctw_binary(o, a, b, LCTW_BIN_MUL));
    int64_t n = lctw_tensor_numel(o), bad = 0;
    const float *pb = lctw_tensor_data(b), *po = lctw_tensor_data(o), *pa = lctw_tensor_data(base);
    for (int64_t r = 0; r < 3; r++)
        for (int64_t j = 0; j < 1100000; j++) {
            float want = pa[r * 1100003 + 1 + j] * pb[r * 1100000 + j];
            bad += po[r * 1100000 + j] != want;
        }
    CHECK(bad == 0, "%lld of %lld products wrong", (long long)bad, (long long)n);
    /* transposed: 1100000 rows of 3 */
    lctw_tensor *t = transposed(b, 0, 1), *o2 = like(t);
    CHECK_OK(lctw_unary(o2, t, LCTW_UN_NEG));
    bad = 0;
    for (int64_t j = 0; j < 1100000; j++)
        for (int64_t r = 0; r < 3; r++)
            bad += lctw_tensor_data(o2)[j * 3 + r] != -pb[r * 1100000 + j];
    CHECK(bad == 0, "%lld negations wrong", (long long)bad);
    test_detail("%lld elements", (long long)n);
    lctw_tensor *all[] = {o2, t, o, b, a, base};
    for (int k = 0; k < 6; k++) lctw_tensor_release(all[k]);
}

/* ---- matmul ------------------------------------------------------------------------------- */

/* max over (b,i,j) of |C − Σ a·b| / Σ |a|·|b| (the error bound of a float dot product scales
 * with the latter). */
static double matmul_err(const lctw_tensor *c, const lctw_tensor *a, const lctw_tensor *b) {
    int nd = a->ndim;
    int64_t B = nd == 3 ? a->shape[0] : 1, m = a->shape[nd - 2], k = a->shape[nd - 1],
            n = b->shape[nd - 1];
    double w = 0;
    for (int64_t q = 0; q < B; q++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0, sabs = 0;
                for (int64_t p = 0; p < k; p++) {
                    double x = get(a, (q * m + i) * k + p), y = get(b, (q * k + p) * n + j);
                    s += x * y;
                    sabs += fabs(x * y);
                }
                double e = fabs(get(c, (q * m + i) * n + j) - s) / (sabs > 0 ? sabs : 1);
                if (e > w) w = e;
            }
    return w;
}

/* a (m×k) and b (k×n) in layout la/lb: 0 contiguous, 1 transpose of a contiguous matrix,
 * 2 general strides (a column-narrowed transpose: neither stride is 1, so it is copied), 3 row
 * narrow (row-major with a leading dimension larger than the width). */
static lctw_tensor *mat_in(int64_t r, int64_t c, int layout, lctw_tensor **base) {
    switch (layout) {
    case 0:
        *base = rnd(2, (int64_t[]){r, c}, -1, 1);
        lctw_tensor_retain(*base);
        return *base;
    case 1:
        *base = rnd(2, (int64_t[]){c, r}, -1, 1);
        return transposed(*base, 0, 1);
    case 2: {
        *base = rnd(3, (int64_t[]){c, r, 2}, -1, 1);
        lctw_tensor *s = NULL;
        lctw_tensor_select(&s, *base, 2, 1); /* c×r, strides (2r, 2) */
        lctw_tensor *t = transposed(s, 0, 1); /* r×c, strides (2, 2r) */
        lctw_tensor_release(s);
        return t;
    }
    default:
        *base = rnd(2, (int64_t[]){r, c + 5}, -1, 1);
        return narrowed(*base, 1, 3, c);
    }
}

static void t_matmul_layouts(void) {
    double worst = 0;
    int64_t m = 37, k = 53, n = 29;
    for (int la = 0; la < 4; la++)
        for (int lb = 0; lb < 4; lb++) {
            lctw_tensor *ba, *bb, *a = mat_in(m, k, la, &ba), *b = mat_in(k, n, lb, &bb);
            lctw_tensor *c = zeros(2, (int64_t[]){m, n});
            CHECK_OK(lctw_matmul(c, a, b));
            double e = matmul_err(c, a, b);
            CHECK(e < 1e-5, "layouts a%d b%d: rel err %.3g", la, lb, e);
            if (e > worst) worst = e;
            lctw_tensor *all[] = {c, a, b, ba, bb};
            for (int q = 0; q < 5; q++) lctw_tensor_release(all[q]);
        }
    test_detail("37×53·53×29, 16 layout pairs, max rel err %.2g", worst);
}

static void t_matmul_shapes(void) {
    /* vectors and thin matrices: size-1 dims whose strides are arbitrary */
    const int64_t shapes[][3] = {{1, 1, 1}, {1, 17, 1}, {1, 9, 33}, {40, 7, 1}, {3, 1, 4},
                                 {65, 130, 70}};
    double worst = 0;
    for (int q = 0; q < 6; q++) {
        int64_t m = shapes[q][0], k = shapes[q][1], n = shapes[q][2];
        for (int tr = 0; tr < 2; tr++) {
            lctw_tensor *ba, *bb, *a = mat_in(m, k, tr, &ba), *b = mat_in(k, n, 1 - tr, &bb);
            lctw_tensor *c = zeros(2, (int64_t[]){m, n});
            CHECK_OK(lctw_matmul(c, a, b));
            double e = matmul_err(c, a, b);
            CHECK(e < 1e-5, "%lld×%lld·%lld×%lld: rel err %.3g", (long long)m, (long long)k,
                  (long long)k, (long long)n, e);
            if (e > worst) worst = e;
            lctw_tensor *all[] = {c, a, b, ba, bb};
            for (int r = 0; r < 5; r++) lctw_tensor_release(all[r]);
        }
    }
    /* k = 0: the empty sum */
    lctw_tensor *a = zeros(2, (int64_t[]){3, 0}), *b = zeros(2, (int64_t[]){0, 4});
    lctw_tensor *c = zeros(2, (int64_t[]){3, 4});
    CHECK_OK(lctw_fill(c, 5.0f));
    CHECK_OK(lctw_matmul(c, a, b));
    for (int i = 0; i < 12; i++) CHECK(lctw_tensor_data(c)[i] == 0.0f, "k=0: c[%d] = %g", i,
                                       lctw_tensor_data(c)[i]);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
    lctw_tensor_release(c);
    test_detail("6 shapes × 2 layouts + k=0, max rel err %.2g", worst);
}

static void t_matmul_3d(void) {
    double worst = 0;
    int64_t B = 4, m = 11, k = 19, n = 13;
    for (int layout = 0; layout < 3; layout++) {
        lctw_tensor *ba, *bb, *a, *b;
        if (layout == 0) { /* contiguous */
            ba = rnd(3, (int64_t[]){B, m, k}, -1, 1);
            bb = rnd(3, (int64_t[]){B, k, n}, -1, 1);
            a = ba;
            b = bb;
            lctw_tensor_retain(a);
            lctw_tensor_retain(b);
        } else if (layout == 1) { /* per-batch transposes */
            ba = rnd(3, (int64_t[]){B, k, m}, -1, 1);
            bb = rnd(3, (int64_t[]){B, n, k}, -1, 1);
            a = transposed(ba, 1, 2);
            b = transposed(bb, 1, 2);
        } else { /* batch dim not outermost in memory, and a narrow of the batch */
            ba = rnd(3, (int64_t[]){m, B, k}, -1, 1);
            bb = rnd(3, (int64_t[]){B + 3, k, n}, -1, 1);
            a = transposed(ba, 0, 1);
            b = narrowed(bb, 0, 2, B);
        }
        lctw_tensor *c = zeros(3, (int64_t[]){B, m, n});
        CHECK_OK(lctw_matmul(c, a, b));
        double e = matmul_err(c, a, b);
        CHECK(e < 1e-5, "batched layout %d: rel err %.3g", layout, e);
        if (e > worst) worst = e;
        lctw_tensor *all[] = {c, a, b, ba, bb};
        for (int q = 0; q < 5; q++) lctw_tensor_release(all[q]);
    }
    test_detail("4×(11×19·19×13), 3 layouts, max rel err %.2g", worst);
}

/* Two row blocks (the CPU splits m into blocks of ~2 GFLOP: 1000 rows when n = k = 1000), with a
 * row-major and a transposed a; rows around the block boundary are checked in double. */
static void t_matmul_row_blocks(void) {
    const int64_t m = 1007, k = 1000, n = 1000;
    const int64_t rows[] = {0, 1, 517, 998, 999, 1000, 1001, 1006};
    double worst = 0;
    lctw_tensor *b = rnd(2, (int64_t[]){k, n}, -1, 1), *c = zeros(2, (int64_t[]){m, n});
    const float *pb = lctw_tensor_data(b), *pc = lctw_tensor_data(c);
    for (int tr = 0; tr < 2; tr++) {
        lctw_tensor *base = rnd(2, tr ? (int64_t[]){k, m} : (int64_t[]){m, k}, -1, 1);
        lctw_tensor *a = tr ? transposed(base, 0, 1) : base;
        if (!tr) lctw_tensor_retain(a);
        CHECK_OK(lctw_matmul(c, a, b));
        const float *pa = lctw_tensor_data(a);
        for (int q = 0; q < 8; q++)
            for (int64_t j = 0; j < n; j++) {
                int64_t i = rows[q];
                double s = 0, sabs = 0;
                for (int64_t p = 0; p < k; p++) {
                    double x = pa[i * a->stride[0] + p * a->stride[1]] * (double)pb[p * n + j];
                    s += x;
                    sabs += fabs(x);
                }
                double e = fabs(pc[i * n + j] - s) / sabs;
                CHECK(e < 1e-5, "%s a: c[%lld][%lld] = %g, expected %g",
                      tr ? "transposed" : "row-major", (long long)i, (long long)j, pc[i * n + j],
                      s);
                if (e > worst) worst = e;
            }
        lctw_tensor_release(a);
        lctw_tensor_release(base);
    }
    test_detail("1007×1000·1000×1000, 2 layouts, max rel err %.2g", worst);
    lctw_tensor_release(b);
    lctw_tensor_release(c);
}

static void t_matmul_errors(void) {
    lctw_tensor *a = zeros(2, (int64_t[]){3, 4}), *b = zeros(2, (int64_t[]){5, 2});
    lctw_tensor *c = zeros(2, (int64_t[]){3, 2});
    CHECK(lctw_matmul(c, a, b) == LCTW_ESHAPE, "inner size mismatch accepted");
    lctw_tensor *b2 = zeros(2, (int64_t[]){4, 2}), *c2 = zeros(2, (int64_t[]){2, 3});
    CHECK(lctw_matmul(c2, a, b2) == LCTW_ESHAPE, "wrong output shape accepted");
    lctw_tensor *sq = zeros(2, (int64_t[]){3, 3}), *sq2 = zeros(2, (int64_t[]){3, 3});
    CHECK(lctw_matmul(sq, sq, sq2) == LCTW_EINVAL, "output aliasing an input accepted");
    CHECK_OK(lctw_matmul(c, a, b2));
    lctw_tensor *all[] = {a, b, c, b2, c2, sq, sq2};
    for (int q = 0; q < 7; q++) lctw_tensor_release(all[q]);
}

/* ---- reductions --------------------------------------------------------------------------- */

static void ref_stats(const lctw_tensor *t, double *sum, double *var_b, double *mn, double *mx) {
    int64_t n = lctw_tensor_numel(t);
    double s = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double x = get(t, i);
        s += x;
        lo = fmin(lo, x);
        hi = fmax(hi, x);
    }
    double mean = s / (double)n, ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (get(t, i) - mean) * (get(t, i) - mean);
    *sum = s;
    *var_b = ss / (double)n;
    *mn = lo;
    *mx = hi;
}

static void t_reduce_all(void) {
    lctw_tensor *base = rnd(3, (int64_t[]){5, 7, 9}, 3, 5);
    lctw_tensor *n1 = narrowed(base, 1, 1, 5), *t = transposed(n1, 0, 2); /* 9×5×5 strided */
    const lctw_tensor *ts[2] = {base, t};
    double worst = 0;
    for (int q = 0; q < 2; q++) {
        double sum, vb, mn, mx, r;
        ref_stats(ts[q], &sum, &vb, &mn, &mx);
        double n = (double)lctw_tensor_numel(ts[q]);
        double want[][2] = {{sum, sum},
                            {sum / n, sum / n},
                            {vb, vb * n / (n - 1)},
                            {sqrt(vb), sqrt(vb * n / (n - 1))},
                            {mn, mn},
                            {mx, mx}};
        for (int op = 0; op < LCTW_RED_COUNT; op++)
            for (int unb = 0; unb < 2; unb++) {
                CHECK_OK(lctw_reduce_all(ts[q], (lctw_reduce_op)op, unb, &r));
                double e = relerr(r, want[op][unb]);
                CHECK(e < 1e-12, "tensor %d op %d unbiased %d: %.17g, expected %.17g", q, op, unb,
                      r, want[op][unb]);
                if (e > worst) worst = e;
            }
    }
    double r = -1;
    lctw_tensor *e = zeros(2, (int64_t[]){3, 0});
    CHECK_OK(lctw_reduce_all(e, LCTW_RED_SUM, 0, &r));
    CHECK(r == 0, "sum of empty = %g", r);
    CHECK(lctw_reduce_all(e, LCTW_RED_MEAN, 0, &r) == LCTW_EINVAL, "mean of empty accepted");
    lctw_tensor *one = zeros(1, (int64_t[]){1});
    CHECK(lctw_reduce_all(one, LCTW_RED_VAR, 1, &r) == LCTW_EINVAL, "unbiased var of 1 accepted");
    CHECK_OK(lctw_reduce_all(one, LCTW_RED_VAR, 0, &r));
    CHECK(r == 0, "biased var of one element = %g", r);
    test_detail("contiguous and strided, max rel err %.2g", worst);
    lctw_tensor *all[] = {one, e, t, n1, base};
    for (int k = 0; k < 5; k++) lctw_tensor_release(all[k]);
}

/* reduce_dim of t over dim vs a loop over the logical index; NaN-aware for min/max. */
static double check_reduce_dim(const lctw_tensor *t, int dim, int op, int unb) {
    int nd = t->ndim;
    int64_t osh[LCTW_MAX_DIMS];
    for (int d = 0; d < nd; d++) osh[d] = d == dim ? 1 : t->shape[d];
    lctw_tensor *out = zeros(nd, osh), *idx = zeros(nd, osh);
    CHECK_OK(lctw_reduce_dim(out, idx, t, dim, (lctw_reduce_op)op, unb));
    int64_t nout = lctw_tensor_numel(out), R = t->shape[dim], worst_pos = -1;
    double worst = 0;
    for (int64_t o = 0; o < nout; o++) {
        /* logical index of out element o, then the flat index of t at r along dim */
        int64_t ix[LCTW_MAX_DIMS], rem = o;
        for (int d = nd - 1; d >= 0; d--) {
            ix[d] = rem % osh[d];
            rem /= osh[d];
        }
        double s = 0, best = op == LCTW_RED_MAX ? -INFINITY : INFINITY, vals[64];
        int64_t at = 0;
        for (int64_t r = 0; r < R; r++) {
            ix[dim] = r;
            int64_t f = 0;
            for (int d = 0; d < nd; d++) f = f * t->shape[d] + ix[d];
            double x = get(t, f);
            vals[r] = x;
            s += x;
            if (isnan(best)) continue;
            if (isnan(x) || (op == LCTW_RED_MAX ? x > best : x < best)) {
                best = x;
                at = r;
            }
        }
        double mean = s / (double)R, ss = 0;
        for (int64_t r = 0; r < R; r++) ss += (vals[r] - mean) * (vals[r] - mean);
        double var = ss / (double)(unb ? R - 1 : R), want = 0;
        switch (op) {
        case LCTW_RED_SUM: want = s; break;
        case LCTW_RED_MEAN: want = mean; break;
        case LCTW_RED_VAR: want = var; break;
        case LCTW_RED_STD: want = sqrt(var); break;
        default: want = best; break;
        }
        double e = relerr(get(out, o), (float)want);
        if (e > worst) {
            worst = e;
            worst_pos = o;
        }
        if (op == LCTW_RED_MIN || op == LCTW_RED_MAX)
            CHECK(get(idx, o) == (double)at, "dim %d op %d: index at %lld = %g, expected %lld",
                  dim, op, (long long)o, get(idx, o), (long long)at);
    }
    CHECK(worst <= ULP2, "dim %d op %d unbiased %d: rel err %.3g at output %lld", dim, op, unb,
          worst, (long long)worst_pos);
    lctw_tensor_release(out);
    lctw_tensor_release(idx);
    return worst;
}

static void reduce_dims_of(const lctw_tensor *t, double *worst) {
    for (int dim = 0; dim < t->ndim; dim++)
        for (int op = 0; op < LCTW_RED_COUNT; op++)
            for (int unb = 0; unb < 2; unb++) {
                double e = check_reduce_dim(t, dim, op, unb);
                if (e > *worst) *worst = e;
            }
}

/* planted ties: a repeated minimum and maximum, so first-occurrence matters */
static void plant_ties(lctw_tensor *t) {
    int64_t n = lctw_tensor_numel(t);
    float *d = lctw_tensor_data(t);
    for (int64_t i = 0; i < n; i += 3) d[i] = (i / 3) % 2 ? -5.0f : 5.0f;
}

static void t_reduce_dim_4d(void) {
    lctw_tensor *t = rnd(4, (int64_t[]){3, 5, 7, 9}, -2, 2);
    plant_ties(t);
    double worst = 0;
    reduce_dims_of(t, &worst);
    test_detail("3×5×7×9, 4 dims × 6 ops × 2, max rel err %.2g", worst);
    lctw_tensor_release(t);
}

static void t_reduce_dim_strided(void) {
    lctw_tensor *base = rnd(4, (int64_t[]){5, 3, 9, 8}, -2, 2);
    plant_ties(base);
    lctw_tensor *n = narrowed(base, 3, 1, 7), *t1 = transposed(n, 0, 3); /* 7×3×9×5 */
    lctw_tensor *t = transposed(t1, 1, 2);                                 /* 7×9×3×5 */
    double worst = 0;
    reduce_dims_of(t, &worst);
    test_detail("7×9×3×5 permuted + narrowed, max rel err %.2g", worst);
    lctw_tensor_release(t);
    lctw_tensor_release(t1);
    lctw_tensor_release(n);
    lctw_tensor_release(base);
}

/* More columns than one accumulator tile, reduced over an outer dim; and 1-D / 2-D inputs. */
static void t_reduce_dim_shapes(void) {
    double worst = 0;
    lctw_tensor *w = rnd(2, (int64_t[]){6, 1300}, -2, 2);
    for (int op = 0; op < LCTW_RED_COUNT; op++) {
        double e = check_reduce_dim(w, 0, op, 1);
        if (e > worst) worst = e;
    }
    lctw_tensor *v = rnd(1, (int64_t[]){37}, -2, 2);
    for (int op = 0; op < LCTW_RED_COUNT; op++) {
        double e = check_reduce_dim(v, 0, op, 0);
        if (e > worst) worst = e;
    }
    /* the empty sum over a size-0 dim, and an error for others */
    lctw_tensor *z = zeros(2, (int64_t[]){0, 4}), *o = zeros(2, (int64_t[]){1, 4});
    CHECK_OK(lctw_fill(o, 3.0f));
    CHECK_OK(lctw_reduce_dim(o, NULL, z, 0, LCTW_RED_SUM, 0));
    for (int i = 0; i < 4; i++) CHECK(lctw_tensor_data(o)[i] == 0.0f, "empty sum = %g",
                                      lctw_tensor_data(o)[i]);
    CHECK(lctw_reduce_dim(o, NULL, z, 0, LCTW_RED_MAX, 0) == LCTW_EINVAL, "max of empty accepted");
    CHECK(lctw_reduce_dim(o, NULL, z, 2, LCTW_RED_SUM, 0) == LCTW_EINDEX, "dim 2 of 2-D accepted");
    test_detail("6×1300 and 37 over their first dim, max rel err %.2g", worst);
    lctw_tensor *all[] = {w, v, z, o};
    for (int k = 0; k < 4; k++) lctw_tensor_release(all[k]);
}

static void t_reduce_nan(void) {
    lctw_tensor *t = rnd(2, (int64_t[]){4, 6}, -1, 1);
    float *d = lctw_tensor_data(t);
    d[1 * 6 + 2] = NAN; /* row 1 */
    d[1 * 6 + 4] = NAN;
    d[3 * 6 + 0] = NAN; /* row 3, column 0 */
    double r;
    CHECK_OK(lctw_reduce_all(t, LCTW_RED_MIN, 0, &r));
    CHECK(isnan(r), "min with NaN = %g", r);
    CHECK_OK(lctw_reduce_all(t, LCTW_RED_MAX, 0, &r));
    CHECK(isnan(r), "max with NaN = %g", r);
    for (int dim = 0; dim < 2; dim++)
        for (int op = LCTW_RED_MIN; op <= LCTW_RED_MAX; op++) check_reduce_dim(t, dim, op, 0);
    lctw_tensor_release(t);
}

/* ---- moments, histogram, tails ------------------------------------------------------------ */

static void t_moments(void) {
    /* skewed data with a large mean (a one-pass formula would lose digits) */
    lctw_tensor *base = zeros(2, (int64_t[]){300, 41});
    float *d = lctw_tensor_data(base);
    for (int64_t i = 0; i < 300 * 41; i++) {
        double u = urand();
        d[i] = (float)(1000.0 + u * u * u * 4.0 - urand());
    }
    lctw_tensor *t = narrowed(base, 1, 1, 40), *tt = transposed(t, 0, 1);
    lctw_moments m;
    CHECK_OK(lctw_moments_all(tt, &m));
    int64_t n = lctw_tensor_numel(tt);
    double s = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += get(tt, i);
        lo = fmin(lo, get(tt, i));
        hi = fmax(hi, get(tt, i));
    }
    double mean = s / (double)n, m2 = 0, m3 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = get(tt, i) - mean;
        m2 += x * x;
        m3 += x * x * x;
        m4 += x * x * x * x;
    }
    m2 /= (double)n;
    m3 /= (double)n;
    m4 /= (double)n;
    double skew = m3 / pow(m2, 1.5), kurt = m4 / (m2 * m2) - 3.0;
    CHECK(m.n == n, "n = %lld", (long long)m.n);
    CHECK_CLOSE(m.mean, mean, 0, 1e-12);
    CHECK_CLOSE(m.var, m2, 0, 1e-9);
    CHECK_CLOSE(m.std, sqrt(m2), 0, 1e-9);
    CHECK_CLOSE(m.skew, skew, 1e-9, 1e-9);
    CHECK_CLOSE(m.kurtosis, kurt, 1e-9, 1e-9);
    CHECK(m.min == lo && m.max == hi, "min/max %g %g, expected %g %g", m.min, m.max, lo, hi);
    test_detail("n=%lld mean %.4f var %.4g skew %.4f kurt %.4f", (long long)n, m.mean, m.var,
                m.skew, m.kurtosis);
    lctw_tensor_release(tt);
    lctw_tensor_release(t);
    lctw_tensor_release(base);
}

static void t_moments_special(void) {
    lctw_tensor *c = zeros(1, (int64_t[]){10});
    CHECK_OK(lctw_fill(c, 2.5f));
    lctw_moments m;
    CHECK_OK(lctw_moments_all(c, &m));
    CHECK(m.mean == 2.5 && m.var == 0 && m.std == 0 && m.min == 2.5 && m.max == 2.5,
          "constant: mean %g var %g", m.mean, m.var);
    CHECK(isnan(m.skew) && isnan(m.kurtosis), "constant: skew %g kurtosis %g (undefined: NaN)",
          m.skew, m.kurtosis);
    lctw_tensor_data(c)[3] = NAN;
    CHECK_OK(lctw_moments_all(c, &m));
    CHECK(isnan(m.mean) && isnan(m.min) && isnan(m.max), "NaN input: mean %g min %g max %g",
          m.mean, m.min, m.max);
    lctw_tensor *e = zeros(1, (int64_t[]){0});
    CHECK(lctw_moments_all(e, &m) == LCTW_EINVAL, "moments of empty accepted");
    lctw_tensor_release(e);
    lctw_tensor_release(c);
}

static void t_histogram_edges(void) {
    /* range [-1, 1), 8 bins of width 0.25: every edge is exactly representable */
    const float v[] = {-1.0f, -0.75f, -0.5f, -0.25f, 0.0f,      0.25f,     0.5f,      0.75f,
                       1.0f,  -0.9f,  0.3f,  0.99f,  -1.0001f, 1.0001f, -INFINITY, INFINITY,
                       NAN,   NAN,    -0.0f, 0.7499f};
    const int n = sizeof v / sizeof *v;
    lctw_tensor *t = zeros(1, (int64_t[]){n});
    memcpy(lctw_tensor_data(t), v, sizeof v);
    int64_t counts[8], below = -1, above = -1;
    const int64_t want[8] = {2, 1, 1, 1, 2 /* 0, -0 */, 2 /* .25, .3 */, 2 /* .5, .7499 */,
                             3 /* .75, .99, 1 */};
    memset(counts, 0xff, sizeof counts);
    CHECK_OK(lctw_histogram(t, 8, -1.0, 1.0, counts, &below, &above));
    int64_t total = below + above + 2 /* NaNs */;
    for (int b = 0; b < 8; b++) {
        CHECK(counts[b] == want[b], "bin %d: %lld, expected %lld", b, (long long)counts[b],
              (long long)want[b]);
        total += counts[b];
    }
    CHECK(below == 2 && above == 2, "below %lld above %lld, expected 2 and 2", (long long)below,
          (long long)above);
    CHECK(total == n, "counts + outside + NaN = %lld, expected %d", (long long)total, n);
    CHECK_OK(lctw_histogram(t, 8, -1.0, 1.0, counts, NULL, NULL));
    CHECK(lctw_histogram(t, 0, -1.0, 1.0, counts, NULL, NULL) == LCTW_EINVAL, "0 bins accepted");
    CHECK(lctw_histogram(t, 4, 1.0, 1.0, counts, NULL, NULL) == LCTW_EINVAL,
          "empty range accepted");
    lctw_tensor_release(t);
}

static void t_histogram_random(void) {
    lctw_tensor *base = rnd(2, (int64_t[]){200, 301}, -3.5, 3.5);
    lctw_tensor *t = transposed(base, 0, 1);
    const int bins = 37;
    const double lo = -2.2, hi = 3.1;
    int64_t counts[37], want[37] = {0}, below, above, wb = 0, wa = 0;
    CHECK_OK(lctw_histogram(t, bins, lo, hi, counts, &below, &above));
    for (int64_t i = 0; i < lctw_tensor_numel(t); i++) {
        double x = get(t, i);
        if (x < lo) {
            wb++;
        } else if (x > hi) {
            wa++;
        } else {
            int64_t b = (int64_t)floor((x - lo) / (hi - lo) * bins);
            want[b == bins ? bins - 1 : b]++;
        }
    }
    for (int b = 0; b < bins; b++)
        CHECK(counts[b] == want[b], "bin %d: %lld, expected %lld", b, (long long)counts[b],
              (long long)want[b]);
    CHECK(below == wb && above == wa, "below %lld above %lld, expected %lld %lld",
          (long long)below, (long long)above, (long long)wb, (long long)wa);
    lctw_tensor_release(t);
    lctw_tensor_release(base);
}

static void t_tail_fraction(void) {
    /* 990 zeros and ±10 five times each: mean 0, population std exactly 1 */
    lctw_tensor *t = zeros(1, (int64_t[]){1000});
    float *d = lctw_tensor_data(t);
    for (int i = 0; i < 5; i++) {
        d[100 * i + 7] = 10.0f;
        d[100 * i + 50] = -10.0f;
    }
    double f;
    CHECK_OK(lctw_tail_fraction(t, 3.0, &f));
    CHECK(f == 0.01, "k=3: %g, expected 0.01", f);
    CHECK_OK(lctw_tail_fraction(t, 10.0, &f)); /* |x| > 10 is strict */
    CHECK(f == 0.0, "k=10: %g, expected 0", f);
    CHECK_OK(lctw_tail_fraction(t, 0.0, &f));
    CHECK(f == 0.01, "k=0: %g, expected 0.01", f);
    CHECK(lctw_tail_fraction(t, -1.0, &f) == LCTW_EINVAL, "negative k accepted");
    d[3] = NAN;
    CHECK_OK(lctw_tail_fraction(t, 3.0, &f));
    CHECK(isnan(f), "with a NaN element: %g, expected NaN", f);
    d[3] = INFINITY;
    CHECK_OK(lctw_tail_fraction(t, 3.0, &f));
    CHECK(isnan(f), "with an infinite element: %g, expected NaN", f);
    /* random data, strided, against a direct computation */
    lctw_tensor *base = rnd(2, (int64_t[]){50, 80}, -1, 1), *tt = transposed(base, 0, 1);
    int64_t n = 4000, cnt = 0;
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += get(tt, i);
    for (int64_t i = 0; i < n; i++) ss += (get(tt, i) - s / n) * (get(tt, i) - s / n);
    for (int64_t i = 0; i < n; i++) cnt += fabs(get(tt, i) - s / n) > 1.5 * sqrt(ss / n);
    CHECK_OK(lctw_tail_fraction(tt, 1.5, &f));
    CHECK(f == (double)cnt / n, "k=1.5: %g, expected %g", f, (double)cnt / n);
    test_detail("uniform(-1,1): tail(1.5σ) = %.4f", f);
    lctw_tensor_release(tt);
    lctw_tensor_release(base);
    lctw_tensor_release(t);
}

/* ---- interrupts --------------------------------------------------------------------------- */

static void t_interrupt(void) {
    int64_t sh[1] = {(int64_t)3 << 20};
    lctw_tensor *big = zeros(1, sh), *small = zeros(1, (int64_t[]){1000});
    lctw_tensor *ma = zeros(2, (int64_t[]){1300, 1300}), *mb = zeros(2, (int64_t[]){1300, 1300});
    lctw_tensor *mc = zeros(2, (int64_t[]){1300, 1300}), *od = zeros(1, (int64_t[]){1});
    lctw_rng r = {.seed = 1, .stream = 0, .offset = 0};
    int64_t counts[4];
    double v;
    lctw_interrupt_flag = 1;
    CHECK(lctw_unary(big, big, LCTW_UN_EXP) == LCTW_EINTR, "unary not interrupted");
    CHECK(lctw_error_code() == LCTW_EINTR && !strcmp(lctw_error_message(), "interrupted"),
          "message '%s'", lctw_error_message());
    CHECK(lctw_binary_scalar(big, big, 1.0f, LCTW_BIN_ADD, 0) == LCTW_EINTR, "scalar op");
    CHECK(lctw_fill(big, 1.0f) == LCTW_EINTR, "fill not interrupted");
    CHECK(lctw_fill_normal(big, &r) == LCTW_EINTR && r.offset == 0,
          "fill_normal not interrupted (offset %llu)", (unsigned long long)r.offset);
    CHECK(lctw_reduce_all(big, LCTW_RED_SUM, 0, &v) == LCTW_EINTR, "reduce_all not interrupted");
    CHECK(lctw_reduce_dim(od, NULL, big, 0, LCTW_RED_MAX, 0) == LCTW_EINTR, "reduce_dim");
    CHECK(lctw_histogram(big, 4, 0, 1, counts, NULL, NULL) == LCTW_EINTR, "histogram");
    CHECK(lctw_matmul(mc, ma, mb) == LCTW_EINTR, "matmul (3 row blocks) not interrupted");
    /* below one chunk nothing polls: small ops complete even with the flag set */
    CHECK_OK(lctw_unary(small, small, LCTW_UN_NEG));
    lctw_interrupt_clear();
    CHECK_OK(lctw_unary(big, big, LCTW_UN_EXP));
    lctw_error_clear();
    lctw_tensor *all[] = {big, small, ma, mb, mc, od};
    for (int k = 0; k < 6; k++) lctw_tensor_release(all[k]);
}

int main(void) {
    RUN(t_unary_contiguous);
    RUN(t_unary_transposed);
    RUN(t_unary_narrowed_transposed);
    RUN(t_unary_inplace);
    RUN(t_binary_contiguous);
    RUN(t_binary_strided);
    RUN(t_binary_inplace_a);
    RUN(t_binary_inplace_b);
    RUN(t_binary_all_aliased);
    RUN(t_scalar_ops);
    RUN(t_pow_div_edges);
    RUN(t_clamp);
    RUN(t_fill_strided);
    RUN(t_eltwise_large);
    RUN(t_matmul_layouts);
    RUN(t_matmul_shapes);
    RUN(t_matmul_3d);
    RUN(t_matmul_row_blocks);
    RUN(t_matmul_errors);
    RUN(t_reduce_all);
    RUN(t_reduce_dim_4d);
    RUN(t_reduce_dim_strided);
    RUN(t_reduce_dim_shapes);
    RUN(t_reduce_nan);
    RUN(t_moments);
    RUN(t_moments_special);
    RUN(t_histogram_edges);
    RUN(t_histogram_random);
    RUN(t_tail_fraction);
    RUN(t_interrupt);
    return test_summary();
}
