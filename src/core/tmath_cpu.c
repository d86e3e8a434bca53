/* tmath_cpu.c — the CPU side of tmath.h: element-wise maps, random fills, matmul, reductions,
 * moments, tail fraction and histogram (arguments were checked by tmath.c).
 *
 * Element-wise ops walk their operands with one iterator: size-1 dims are dropped and adjacent
 * dims merged wherever every operand's strides allow it, so a contiguous tensor (or a narrow of
 * the first dim) becomes one long row and the inner loops are unit-stride loops that the
 * compiler vectorises. `out` may alias an input exactly: iteration i reads element i of every
 * input before it writes element i and no iteration depends on another, which is what GCC's
 * ivdep asserts (so the loops vectorise without a runtime overlap test).
 *
 * Reductions accumulate in double. Variance and the higher moments take two passes (the mean,
 * then centred powers) so that a large mean does not cancel the spread. NaN handling: min/max
 * propagate NaN (as numpy and torch do) and argmin/argmax give the first extreme, or the first
 * NaN; moments are NaN; tail_fraction is NaN when the data hold NaN or ±inf; histogram skips
 * NaN (tmath.h). Skew and kurtosis of constant data (variance 0) are NaN.
 *
 * Interrupts: work is cut into chunks of CHUNK elements (matmul: row blocks of ~2 GFLOP) and
 * lctw_check_interrupt() is polled between chunks, never before the first: an op on at most
 * CHUNK elements always completes; a larger one returns LCTW_EINTR with `out` partly written.
 */

/* GCC 12 at -O2 vectorises only loops whose trip count is a multiple of the vector width (the
 * "very cheap" cost model); element-wise rows have arbitrary lengths, so ask for the "cheap"
 * model (vector loop + scalar epilogue) in this file. Set before the includes so that inline
 * helpers from the headers are compiled with the same options and still inline. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=cheap")
#endif

#include "tmath_cpu.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interrupt.h"

#ifdef LCTW_OPENBLAS
#include <cblas.h>
#endif

#define CHUNK ((int64_t)1 << 20)
#define MAXOP 3

#if defined(__GNUC__) && !defined(__clang__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

/* ---- the strided iterator ---------------------------------------------------------------- */

/* Operands of one shape; operand k's element at index (i0..i3) is base[k] + Σ i_d·stride[k][d].
 * A scalar operand has all strides 0. */
typedef struct {
    int nop, nd;
    int64_t shape[LCTW_MAX_DIMS];
    int64_t stride[MAXOP][LCTW_MAX_DIMS];
    float *base[MAXOP];
} iter;

/* Called on rows of n elements: operand k starts at p[k] with stride s[k]. */
typedef void (*row_fn)(void *ctx, float *const *p, const int64_t *s, int64_t n);

static void iter_begin(iter *it, const lctw_tensor *shape_of) {
    it->nop = 0;
    it->nd = shape_of->ndim;
    for (int d = 0; d < it->nd; d++) it->shape[d] = shape_of->shape[d];
}

static void iter_tensor(iter *it, const lctw_tensor *t) {
    int k = it->nop++;
    it->base[k] = lctw_tensor_data(t);
    for (int d = 0; d < it->nd; d++) it->stride[k][d] = t->stride[d];
}

static void iter_scalar(iter *it, const float *p) {
    int k = it->nop++;
    it->base[k] = (float *)p; /* read only: scalar operands are inputs */
    for (int d = 0; d < it->nd; d++) it->stride[k][d] = 0;
}

/* Drops size-1 dims and merges dim d into d-1 when, for every operand, stepping once in d-1 is
 * the same as stepping through all of d. Leaves at least one dim. */
static void iter_coalesce(iter *it) {
    int nd = 0;
    for (int d = 0; d < it->nd; d++) {
        if (it->shape[d] == 1) continue;
        if (nd > 0) {
            int merge = 1;
            for (int k = 0; k < it->nop; k++)
                if (it->stride[k][nd - 1] != it->stride[k][d] * it->shape[d]) merge = 0;
            if (merge) {
                it->shape[nd - 1] *= it->shape[d];
                for (int k = 0; k < it->nop; k++) it->stride[k][nd - 1] = it->stride[k][d];
                continue;
            }
        }
        it->shape[nd] = it->shape[d];
        for (int k = 0; k < it->nop; k++) it->stride[k][nd] = it->stride[k][d];
        nd++;
    }
    if (nd == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < it->nop; k++) it->stride[k][0] = 0;
        nd = 1;
    }
    it->nd = nd;
}

/* Runs f over every row (the innermost dim, cut into CHUNK pieces), polling for an interrupt
 * once CHUNK elements have been processed since the last poll. */
static lctw_status iter_run(iter *it, row_fn f, void *ctx) {
    iter_coalesce(it);
    int nd = it->nd, nop = it->nop;
    for (int d = 0; d < nd; d++)
        if (it->shape[d] == 0) return LCTW_OK;
    int64_t n = it->shape[nd - 1], rows = 1, idx[LCTW_MAX_DIMS] = {0}, s[MAXOP];
    for (int d = 0; d < nd - 1; d++) rows *= it->shape[d];
    for (int k = 0; k < nop; k++) s[k] = it->stride[k][nd - 1];
    int64_t since = 0;
    for (int64_t r = 0; r < rows; r++) {
        float *p[MAXOP];
        for (int k = 0; k < nop; k++) {
            int64_t off = 0;
            for (int d = 0; d < nd - 1; d++) off += idx[d] * it->stride[k][d];
            p[k] = it->base[k] + off;
        }
        for (int64_t j = 0; j < n; j += CHUNK) {
            int64_t len = n - j < CHUNK ? n - j : CHUNK;
            if (since >= CHUNK) {
                LCTW_TRY(lctw_check_interrupt());
                since = 0;
            }
            float *q[MAXOP];
            for (int k = 0; k < nop; k++) q[k] = p[k] + j * s[k];
            f(ctx, q, s, len);
            since += len;
        }
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < it->shape[d]) break;
            idx[d] = 0;
        }
    }
    return LCTW_OK;
}

/* ---- element-wise maps -------------------------------------------------------------------- */

/* o[i] = EXPR of x = a[i] (o = p[0], a = p[1]). */
#define MAP1(EXPR)                                                                                 \
    do {                                                                                           \
        float *o = p[0];                                                                           \
        const float *a = p[1];                                                                     \
        int64_t so = s[0], sa = s[1];                                                              \
        if (so == 1 && sa == 1) {                                                                  \
            IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                float x = a[i];                                                                    \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                float x = a[i * sa];                                                               \
                o[i * so] = (EXPR);                                                                \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* o[i] = EXPR of x = a[i], y = b[i]; a scalar operand (stride 0) is read once. */
#define MAP2(EXPR)                                                                                 \
    do {                                                                                           \
        float *o = p[0];                                                                           \
        const float *a = p[1], *b = p[2];                                                          \
        int64_t so = s[0], sa = s[1], sb = s[2];                                                   \
        if (so == 1 && sa == 1 && sb == 1) {                                                       \
            IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                float x = a[i], y = b[i];                                                          \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (so == 1 && sa == 1 && sb == 0) {                                                \
            const float y = b[0];                                                                  \
            IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                float x = a[i];                                                                    \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (so == 1 && sa == 0 && sb == 1) {                                                \
            const float x = a[0];                                                                  \
            IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                float y = b[i];                                                                    \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                float x = a[i * sa], y = b[i * sb];                                                \
                o[i * so] = (EXPR);                                                                \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void row_unary(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    switch (*(const lctw_unary_op *)ctx) {
    case LCTW_UN_NEG: MAP1(-x); break;
    case LCTW_UN_EXP: MAP1(expf(x)); break;
    case LCTW_UN_LOG: MAP1(logf(x)); break;
    case LCTW_UN_SQRT: MAP1(sqrtf(x)); break;
    case LCTW_UN_ABS: MAP1(fabsf(x)); break;
    case LCTW_UN_TANH: MAP1(tanhf(x)); break;
    default: break;
    }
}

static void row_binary(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    switch (*(const lctw_binary_op *)ctx) {
    case LCTW_BIN_ADD: MAP2(x + y); break;
    case LCTW_BIN_SUB: MAP2(x - y); break;
    case LCTW_BIN_MUL: MAP2(x * y); break;
    case LCTW_BIN_DIV: MAP2(x / y); break;
    case LCTW_BIN_POW: MAP2(powf(x, y)); break;
    default: break;
    }
}

typedef struct {
    float lo, hi;
} clamp_ctx;

/* NaN passes through (both comparisons are false), as in torch.clamp. */
static void row_clamp(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    const clamp_ctx *c = ctx;
    const float lo = c->lo, hi = c->hi;
    MAP1(x < lo ? lo : (x > hi ? hi : x));
}

static void row_fill(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    const float v = *(const float *)ctx;
    float *o = p[0];
    if (s[0] == 1) {
        for (int64_t i = 0; i < n; i++) o[i] = v;
    } else {
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = v;
    }
}

static lctw_status check_unary_op(int op) {
    if (op < 0 || op >= LCTW_UN_COUNT)
        return LCTW_FAIL(LCTW_EINVAL, "unary op: unknown operation %d", op);
    return LCTW_OK;
}

static lctw_status check_binary_op(int op) {
    if (op < 0 || op >= LCTW_BIN_COUNT)
        return LCTW_FAIL(LCTW_EINVAL, "binary op: unknown operation %d", op);
    return LCTW_OK;
}

lctw_status lctw_cpu_unary(lctw_tensor *out, const lctw_tensor *a, lctw_unary_op op) {
    LCTW_TRY(check_unary_op((int)op));
    iter it;
    iter_begin(&it, out);
    iter_tensor(&it, out);
    iter_tensor(&it, a);
    return iter_run(&it, row_unary, &op);
}

lctw_status lctw_cpu_binary(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b,
                            lctw_binary_op op) {
    LCTW_TRY(check_binary_op((int)op));
    iter it;
    iter_begin(&it, out);
    iter_tensor(&it, out);
    iter_tensor(&it, a);
    iter_tensor(&it, b);
    return iter_run(&it, row_binary, &op);
}

lctw_status lctw_cpu_binary_scalar(lctw_tensor *out, const lctw_tensor *a, float s,
                                   lctw_binary_op op, int scalar_first) {
    LCTW_TRY(check_binary_op((int)op));
    iter it;
    iter_begin(&it, out);
    iter_tensor(&it, out);
    if (scalar_first) {
        iter_scalar(&it, &s);
        iter_tensor(&it, a);
    } else {
        iter_tensor(&it, a);
        iter_scalar(&it, &s);
    }
    return iter_run(&it, row_binary, &op);
}

lctw_status lctw_cpu_clamp(lctw_tensor *out, const lctw_tensor *a, float lo, float hi) {
    clamp_ctx c = {lo, hi};
    iter it;
    iter_begin(&it, out);
    iter_tensor(&it, out);
    iter_tensor(&it, a);
    return iter_run(&it, row_clamp, &c);
}

lctw_status lctw_cpu_fill(lctw_tensor *t, float v) {
    iter it;
    iter_begin(&it, t);
    iter_tensor(&it, t);
    return iter_run(&it, row_fill, &v);
}

/* ---- random fills ------------------------------------------------------------------------- */

/* One Philox block gives four outputs; the results equal lctw_rng_uniform_at/normal_at(j) bit
 * for bit (same block, same lane, same double-precision Box–Muller on lane pairs). */
static void normal_block(const uint32_t x[4], float z[4]) {
    for (int h = 0; h < 4; h += 2) {
        double u0 = (double)lctw_rng_u01(x[h]), u1 = (double)lctw_rng_u01(x[h + 1]);
        double r = sqrt(-2.0 * log(u0));
        double a = 6.283185307179586476925 * u1;
        z[h] = (float)(r * cos(a));
        z[h + 1] = (float)(r * sin(a));
    }
}

static lctw_status rng_fill_cpu(lctw_tensor *t, const lctw_rng *r, int normal) {
    float *o = lctw_tensor_data(t);
    uint64_t n = (uint64_t)lctw_tensor_numel(t), nb = lctw_rng_blocks(n);
    const uint64_t poll = (uint64_t)CHUNK / 4;
    for (uint64_t b = 0; b < nb; b++) {
        if (b && b % poll == 0) LCTW_TRY(lctw_check_interrupt());
        uint32_t x[4];
        float z[4];
        lctw_rng_block(r->seed, r->stream, r->offset + b, x);
        if (normal) {
            normal_block(x, z);
        } else {
            for (int l = 0; l < 4; l++) z[l] = lctw_rng_u01(x[l]);
        }
        uint64_t j = 4 * b, m = n - j < 4 ? n - j : 4;
        for (uint64_t l = 0; l < m; l++) o[j + l] = z[l];
    }
    return LCTW_OK;
}

lctw_status lctw_cpu_fill_uniform(lctw_tensor *t, const lctw_rng *r) {
    return rng_fill_cpu(t, r, 0);
}

lctw_status lctw_cpu_fill_normal(lctw_tensor *t, const lctw_rng *r) {
    return rng_fill_cpu(t, r, 1);
}

/* ---- matmul ------------------------------------------------------------------------------- */

#ifdef LCTW_OPENBLAS
typedef blasint gemm_int;
#else
typedef int gemm_int;
#endif
#define GEMM_INT_MAX (sizeof(gemm_int) >= 8 ? (int64_t)INT64_MAX : (int64_t)INT_MAX)

/* Whether a rows×cols matrix with element strides (rs, cs) can go to GEMM as it is: row-major
 * with leading dimension ld (trans = 0), or the transpose of a row-major cols×rows matrix
 * (trans = 1; element (i, j) at i + j·ld). Strides of size-1 dims do not matter. */
static int mat_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, int *trans,
                      int64_t *ld) {
    if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) {
        *trans = 0;
        *ld = rows == 1 ? cols : rs;
    } else if ((rows == 1 || rs == 1) && (cols == 1 || cs >= rows)) {
        *trans = 1;
        *ld = cols == 1 ? rows : cs;
    } else {
        return 0;
    }
    return *ld <= GEMM_INT_MAX;
}

#ifndef LCTW_OPENBLAS
/* Reference GEMM, C (m×n, row stride n) = op(A)·op(B): B is packed block by block (KB×NB) into
 * a row-major buffer, then each row of C gains a·(row of the packed block), a unit-stride loop
 * the compiler vectorises. */
#define REF_KB 128
#define REF_NB 512

static void axpy_row(float *restrict c, float a, const float *restrict b, int64_t n) {
    for (int64_t j = 0; j < n; j++) c[j] += a * b[j];
}

static void ref_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float *C, float *pack) {
    for (int64_t i = 0; i < m; i++) memset(C + i * n, 0, (size_t)n * sizeof(float));
    for (int64_t j0 = 0; j0 < n; j0 += REF_NB) {
        int64_t nb = n - j0 < REF_NB ? n - j0 : REF_NB;
        for (int64_t p0 = 0; p0 < k; p0 += REF_KB) {
            int64_t kb = k - p0 < REF_KB ? k - p0 : REF_KB;
            for (int64_t p = 0; p < kb; p++)
                for (int64_t j = 0; j < nb; j++)
                    pack[p * nb + j] = tb ? B[(p0 + p) + (j0 + j) * ldb]
                                          : B[(p0 + p) * ldb + (j0 + j)];
            for (int64_t i = 0; i < m; i++) {
                float *c = C + i * n + j0;
                for (int64_t p = 0; p < kb; p++) {
                    float av = ta ? A[i + (p0 + p) * lda] : A[i * lda + (p0 + p)];
                    axpy_row(c, av, pack + p * nb, nb);
                }
            }
        }
    }
}
#endif

lctw_status lctw_cpu_matmul(lctw_tensor *out, const lctw_tensor *a, const lctw_tensor *b) {
    int nd = a->ndim;
    int64_t B = nd == 3 ? a->shape[0] : 1;
    int64_t m = a->shape[nd - 2], k = a->shape[nd - 1], n = b->shape[nd - 1];
    float *C = lctw_tensor_data(out);
    if (B == 0 || m == 0 || n == 0) return LCTW_OK;
    if (k == 0) {
        memset(C, 0, (size_t)(B * m * n) * sizeof(float));
        return LCTW_OK;
    }
    if (m > GEMM_INT_MAX || n > GEMM_INT_MAX || k > GEMM_INT_MAX)
        return LCTW_FAIL(LCTW_EINVAL, "matmul: sizes %lld×%lld times %lld×%lld exceed the BLAS "
                         "integer range", (long long)m, (long long)k, (long long)k, (long long)n);

    /* Operands that GEMM cannot take as they are (general strides) are copied first. */
    const lctw_tensor *op[2] = {a, b};
    lctw_tensor *copy[2] = {NULL, NULL};
    int trans[2];
    int64_t ld[2];
    lctw_status s = LCTW_OK;
    for (int q = 0; q < 2; q++) {
        const lctw_tensor *t = op[q];
        int64_t rows = t->shape[nd - 2], cols = t->shape[nd - 1];
        if (!mat_layout(rows, cols, t->stride[nd - 2], t->stride[nd - 1], &trans[q], &ld[q])) {
            s = lctw_tensor_clone(&copy[q], t);
            if (s != LCTW_OK) goto done;
            op[q] = copy[q];
            mat_layout(rows, cols, cols, 1, &trans[q], &ld[q]);
        }
    }

#ifndef LCTW_OPENBLAS
    float *pack = NULL;
    s = lctw_mem_alloc((void **)&pack, REF_KB * REF_NB * sizeof(float), LCTW_DEV_CPU, 0);
    if (s != LCTW_OK) goto done;
#endif
    /* Row blocks of about 2 GFLOP each, with an interrupt poll between blocks. */
    int64_t rb = (int64_t)(2e9 / (2.0 * (double)n * (double)k));
    if (rb < 1) rb = 1;
    if (rb > m) rb = m;
    const float *Ab = lctw_tensor_data(op[0]), *Bb = lctw_tensor_data(op[1]);
    int64_t sa = nd == 3 ? op[0]->stride[0] : 0, sb = nd == 3 ? op[1]->stride[0] : 0;
    for (int64_t bi = 0; bi < B && s == LCTW_OK; bi++) {
        const float *A = Ab + bi * sa, *Bm = Bb + bi * sb;
        float *Cb = C + bi * m * n;
        for (int64_t r0 = 0; r0 < m; r0 += rb) {
            if ((bi || r0) && (s = lctw_check_interrupt()) != LCTW_OK) break;
            int64_t rows = m - r0 < rb ? m - r0 : rb;
            const float *Ar = trans[0] ? A + r0 : A + r0 * ld[0];
#ifdef LCTW_OPENBLAS
            cblas_sgemm(CblasRowMajor, trans[0] ? CblasTrans : CblasNoTrans,
                        trans[1] ? CblasTrans : CblasNoTrans, (gemm_int)rows, (gemm_int)n,
                        (gemm_int)k, 1.0f, Ar, (gemm_int)ld[0], Bm, (gemm_int)ld[1], 0.0f,
                        Cb + r0 * n, (gemm_int)n);
#else
            ref_gemm(trans[0], trans[1], rows, n, k, Ar, ld[0], Bm, ld[1], Cb + r0 * n, pack);
#endif
        }
    }
#ifndef LCTW_OPENBLAS
    lctw_mem_free(pack, REF_KB * REF_NB * sizeof(float), LCTW_DEV_CPU);
#endif
done:
    lctw_tensor_release(copy[0]);
    lctw_tensor_release(copy[1]);
    return s;
}

/* ---- reductions over all elements --------------------------------------------------------- */

/* Σ x over a row, in double with eight partial sums (independent chains the compiler can keep
 * in vector registers). */
static double seg_sum(const float *a, int64_t s, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    if (s == 1) {
        for (; i + 8 <= n; i += 8)
            for (int u = 0; u < 8; u++) acc[u] += (double)a[i + u];
    }
    for (; i < n; i++) acc[0] += (double)a[i * s];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Σ (x − mean)² over a row. */
static double seg_sqdev(const float *a, int64_t s, int64_t n, double mean) {
    double acc[4] = {0, 0, 0, 0};
    int64_t i = 0;
    if (s == 1) {
        for (; i + 4 <= n; i += 4)
            for (int u = 0; u < 4; u++) {
                double d = (double)a[i + u] - mean;
                acc[u] += d * d;
            }
    }
    for (; i < n; i++) {
        double d = (double)a[i * s] - mean;
        acc[0] += d * d;
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* Smallest (want_max = 0) or largest value of a row and the position of its first occurrence;
 * the first NaN wins over everything. *best and *pos carry the state across calls: start with
 * *best = ±INFINITY (+ for min) and *pos = 0; `base` is the position of a[0]. */
static void seg_extreme(const float *a, int64_t s, int64_t n, int want_max, int64_t base,
                        float *best, int64_t *pos) {
    float b = *best;
    int64_t at = *pos;
    if (b != b) return; /* already NaN */
    for (int64_t i = 0; i < n; i++) {
        float x = a[i * s];
        if (want_max ? x > b : x < b) {
            b = x;
            at = base + i;
        } else if (x != x) {
            b = x;
            at = base + i;
            break;
        }
    }
    *best = b;
    *pos = at;
}

typedef struct {
    double sum, mean;
    float best;
    int64_t pos;
    int want_max;
} all_ctx;

static void row_sum(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    ((all_ctx *)ctx)->sum += seg_sum(p[0], s[0], n);
}

static void row_sqdev(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    all_ctx *c = ctx;
    c->sum += seg_sqdev(p[0], s[0], n, c->mean);
}

static void row_extreme(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    all_ctx *c = ctx;
    seg_extreme(p[0], s[0], n, c->want_max, 0, &c->best, &c->pos);
}

/* Runs one pass of a row function over every element of t. */
static lctw_status pass_all(const lctw_tensor *t, row_fn f, void *ctx) {
    iter it;
    iter_begin(&it, t);
    iter_tensor(&it, t);
    return iter_run(&it, f, ctx);
}

/* Mean and Σ (x − mean)² of all elements (two passes). */
static lctw_status mean_sqdev_all(const lctw_tensor *t, double *mean, double *ssd) {
    int64_t n = lctw_tensor_numel(t);
    all_ctx c = {0};
    LCTW_TRY(pass_all(t, row_sum, &c));
    c.mean = c.sum / (double)n;
    c.sum = 0;
    LCTW_TRY(pass_all(t, row_sqdev, &c));
    *mean = c.mean;
    *ssd = c.sum;
    return LCTW_OK;
}

lctw_status lctw_cpu_reduce_all(const lctw_tensor *t, lctw_reduce_op op, int unbiased,
                                double *res) {
    int64_t n = lctw_tensor_numel(t);
    all_ctx c = {0};
    switch (op) {
    case LCTW_RED_SUM:
    case LCTW_RED_MEAN:
        LCTW_TRY(pass_all(t, row_sum, &c));
        *res = op == LCTW_RED_SUM ? c.sum : c.sum / (double)n;
        return LCTW_OK;
    case LCTW_RED_VAR:
    case LCTW_RED_STD: {
        double mean, ssd;
        LCTW_TRY(mean_sqdev_all(t, &mean, &ssd));
        double var = ssd / (double)(unbiased ? n - 1 : n);
        *res = op == LCTW_RED_VAR ? var : sqrt(var);
        return LCTW_OK;
    }
    case LCTW_RED_MIN:
    case LCTW_RED_MAX:
        c.want_max = op == LCTW_RED_MAX;
        c.best = c.want_max ? -INFINITY : INFINITY;
        LCTW_TRY(pass_all(t, row_extreme, &c));
        *res = (double)c.best;
        return LCTW_OK;
    default: break;
    }
    return LCTW_FAIL(LCTW_EINVAL, "reduction: unknown operation %d", (int)op);
}

/* ---- reductions over one dimension -------------------------------------------------------- */

/* The kept dims of t (all but dim) padded on the left to three: (K0, K1, W), W innermost. out
 * is contiguous with shape[dim] = 1, i.e. laid out row-major over (K0, K1, W).
 *
 * Two loop orders, chosen by strides so the innermost loop walks memory with the smaller step:
 *  - along: each output is a reduction of a strided segment of R elements (good when the
 *    reduced dim is the innermost in memory, e.g. the last dim of a contiguous tensor);
 *  - across: a tile of up to TILE outputs along W accumulates R rows of W-neighbours (good when
 *    the reduced dim is an outer one), with per-column double accumulators. */
#define TILE 512

typedef struct {
    lctw_reduce_op op;
    int unbiased;
    int64_t R, rs;  /* reduced size and stride */
    float *o, *ix;  /* out, idx (may be NULL) */
    int64_t since;  /* elements since the last interrupt poll */
} dim_ctx;

/* Call before each piece of n elements: polls once CHUNK elements were done since the last
 * poll (so never before the first piece). */
static lctw_status poll_before(dim_ctx *c, int64_t n) {
    if (c->since >= CHUNK) {
        c->since = 0;
        LCTW_TRY(lctw_check_interrupt());
    }
    c->since += n;
    return LCTW_OK;
}

static float finish(const dim_ctx *c, double sum, double ssd) {
    switch (c->op) {
    case LCTW_RED_SUM: return (float)sum;
    case LCTW_RED_MEAN: return (float)(sum / (double)c->R);
    case LCTW_RED_VAR: return (float)(ssd / (double)(c->unbiased ? c->R - 1 : c->R));
    case LCTW_RED_STD: return (float)sqrt(ssd / (double)(c->unbiased ? c->R - 1 : c->R));
    default: return 0.0f;
    }
}

/* Reduces R elements from a with stride rs into output position j, in pieces of CHUNK. */
static lctw_status reduce_along(dim_ctx *c, const float *a, int64_t j) {
    const int64_t R = c->R, rs = c->rs;
    if (c->op == LCTW_RED_MIN || c->op == LCTW_RED_MAX) {
        int want_max = c->op == LCTW_RED_MAX;
        float best = want_max ? -INFINITY : INFINITY;
        int64_t pos = 0;
        for (int64_t r0 = 0; r0 < R; r0 += CHUNK) {
            int64_t len = R - r0 < CHUNK ? R - r0 : CHUNK;
            LCTW_TRY(poll_before(c, len));
            seg_extreme(a + r0 * rs, rs, len, want_max, r0, &best, &pos);
        }
        c->o[j] = best;
        if (c->ix) c->ix[j] = (float)pos;
        return LCTW_OK;
    }
    double sum = 0, ssd = 0;
    for (int64_t r0 = 0; r0 < R; r0 += CHUNK) {
        int64_t len = R - r0 < CHUNK ? R - r0 : CHUNK;
        LCTW_TRY(poll_before(c, len));
        sum += seg_sum(a + r0 * rs, rs, len);
    }
    if (c->op == LCTW_RED_VAR || c->op == LCTW_RED_STD) {
        for (int64_t r0 = 0; r0 < R; r0 += CHUNK) {
            int64_t len = R - r0 < CHUNK ? R - r0 : CHUNK;
            LCTW_TRY(poll_before(c, len));
            ssd += seg_sqdev(a + r0 * rs, rs, len, sum / (double)R);
        }
    }
    c->o[j] = finish(c, sum, ssd);
    return LCTW_OK;
}

/* Reduces the w ≤ TILE columns a[0], a[ws], … (each over R rows of stride rs) into outputs
 * j..j+w−1, in pieces of about CHUNK elements (whole rows of the tile). */
static lctw_status reduce_across(dim_ctx *c, const float *a, int64_t ws, int64_t w, int64_t j) {
    const int64_t R = c->R, rs = c->rs, rows = CHUNK / w;
    if (c->op == LCTW_RED_MIN || c->op == LCTW_RED_MAX) {
        int want_max = c->op == LCTW_RED_MAX;
        float best[TILE];
        int64_t pos[TILE];
        for (int64_t q = 0; q < w; q++) {
            best[q] = want_max ? -INFINITY : INFINITY;
            pos[q] = 0;
        }
        for (int64_t r = 0; r < R; r++) {
            if (r % rows == 0) LCTW_TRY(poll_before(c, w * rows));
            const float *row = a + r * rs;
            for (int64_t q = 0; q < w; q++) {
                float x = row[q * ws], b = best[q];
                /* the first extreme wins ties; the first NaN wins over everything */
                if ((want_max ? x > b : x < b) || (x != x && b == b)) {
                    best[q] = x;
                    pos[q] = r;
                }
            }
        }
        for (int64_t q = 0; q < w; q++) {
            c->o[j + q] = best[q];
            if (c->ix) c->ix[j + q] = (float)pos[q];
        }
        return LCTW_OK;
    }
    double sum[TILE], ssd[TILE];
    for (int64_t q = 0; q < w; q++) sum[q] = ssd[q] = 0;
    for (int64_t r = 0; r < R; r++) {
        if (r % rows == 0) LCTW_TRY(poll_before(c, w * rows));
        const float *row = a + r * rs;
        if (ws == 1) {
            for (int64_t q = 0; q < w; q++) sum[q] += (double)row[q];
        } else {
            for (int64_t q = 0; q < w; q++) sum[q] += (double)row[q * ws];
        }
    }
    if (c->op == LCTW_RED_VAR || c->op == LCTW_RED_STD) {
        double mean[TILE];
        for (int64_t q = 0; q < w; q++) mean[q] = sum[q] / (double)R;
        for (int64_t r = 0; r < R; r++) {
            if (r % rows == 0) LCTW_TRY(poll_before(c, w * rows));
            const float *row = a + r * rs;
            for (int64_t q = 0; q < w; q++) {
                double d = (double)row[q * ws] - mean[q];
                ssd[q] += d * d;
            }
        }
    }
    for (int64_t q = 0; q < w; q++) c->o[j + q] = finish(c, sum[q], ssd[q]);
    return LCTW_OK;
}

lctw_status lctw_cpu_reduce_dim(lctw_tensor *out, lctw_tensor *idx, const lctw_tensor *t, int dim,
                                lctw_reduce_op op, int unbiased) {
    if ((int)op < 0 || op >= LCTW_RED_COUNT)
        return LCTW_FAIL(LCTW_EINVAL, "reduction: unknown operation %d", (int)op);
    int nd = t->ndim;
    int64_t ksh[3] = {1, 1, 1}, kst[3] = {0, 0, 0};
    for (int d = nd - 1, q = 2; d >= 0; d--) {
        if (d == dim) continue;
        ksh[q] = t->shape[d];
        kst[q] = t->stride[d];
        q--;
    }
    int64_t nout = ksh[0] * ksh[1] * ksh[2];
    if (nout == 0) return LCTW_OK;
    int is_minmax = op == LCTW_RED_MIN || op == LCTW_RED_MAX;
    dim_ctx c = {op, unbiased, t->shape[dim], t->stride[dim], lctw_tensor_data(out),
                 is_minmax && idx ? lctw_tensor_data(idx) : NULL, 0};
    if (c.R == 0) { /* only a sum gets here (tmath.c): the empty sum */
        memset(c.o, 0, (size_t)nout * sizeof(float));
        return LCTW_OK;
    }
    const float *base = lctw_tensor_data(t);
    int64_t W = ksh[2], ws = kst[2], j = 0;
    int along = W == 1 || c.R == 1 || llabs(c.rs) <= llabs(ws);
    for (int64_t i0 = 0; i0 < ksh[0]; i0++)
        for (int64_t i1 = 0; i1 < ksh[1]; i1++) {
            const float *p = base + i0 * kst[0] + i1 * kst[1];
            if (along) {
                for (int64_t q = 0; q < W; q++, j++) LCTW_TRY(reduce_along(&c, p + q * ws, j));
            } else {
                for (int64_t w0 = 0; w0 < W; w0 += TILE) {
                    int64_t w = W - w0 < TILE ? W - w0 : TILE;
                    LCTW_TRY(reduce_across(&c, p + w0 * ws, ws, w, j));
                    j += w;
                }
            }
        }
    return LCTW_OK;
}

/* ---- moments, tails, histogram ------------------------------------------------------------ */

typedef struct {
    double sum, mean, s2, s3, s4, lo, hi;
    int nan;
} mom_ctx;

static void row_sum_minmax(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    mom_ctx *c = ctx;
    const float *a = p[0];
    float lo = (float)c->lo, hi = (float)c->hi;
    int nan = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = a[i * s[0]];
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        nan |= x != x;
    }
    c->sum += seg_sum(a, s[0], n);
    c->lo = lo;
    c->hi = hi;
    c->nan |= nan;
}

/* Σ d², Σ d³, Σ d⁴ with d = x − mean. */
static void row_powers(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    mom_ctx *c = ctx;
    const float *a = p[0];
    const double mean = c->mean;
    double s2 = 0, s3 = 0, s4 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i * s[0]] - mean, d2 = d * d;
        s2 += d2;
        s3 += d2 * d;
        s4 += d2 * d2;
    }
    c->s2 += s2;
    c->s3 += s3;
    c->s4 += s4;
}

/* Population moments; skew and kurtosis are NaN when the variance is 0 (undefined). NaN in the
 * data makes every field NaN (min/max included). */
lctw_status lctw_cpu_moments_all(const lctw_tensor *t, lctw_moments *m) {
    int64_t n = lctw_tensor_numel(t);
    mom_ctx c = {0};
    c.lo = INFINITY;
    c.hi = -INFINITY;
    LCTW_TRY(pass_all(t, row_sum_minmax, &c));
    c.mean = c.sum / (double)n;
    LCTW_TRY(pass_all(t, row_powers, &c));
    double m2 = c.s2 / (double)n, m3 = c.s3 / (double)n, m4 = c.s4 / (double)n;
    m->n = n;
    m->mean = c.mean;
    m->var = m2;
    m->std = sqrt(m2);
    m->skew = m2 > 0 ? m3 / (m2 * sqrt(m2)) : NAN;
    m->kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : NAN;
    m->min = c.nan ? NAN : c.lo;
    m->max = c.nan ? NAN : c.hi;
    return LCTW_OK;
}

typedef struct {
    double mean, thr;
    int64_t count;
} tail_ctx;

static void row_tail(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    tail_ctx *c = ctx;
    const float *a = p[0];
    int64_t cnt = 0;
    const double mean = c->mean, thr = c->thr;
    for (int64_t i = 0; i < n; i++) cnt += fabs((double)a[i * s[0]] - mean) > thr;
    c->count += cnt;
}

lctw_status lctw_cpu_tail_fraction(const lctw_tensor *t, double k, double *frac) {
    int64_t n = lctw_tensor_numel(t);
    double mean, ssd;
    LCTW_TRY(mean_sqdev_all(t, &mean, &ssd));
    double std = sqrt(ssd / (double)n);
    if (!isfinite(mean) || !isfinite(std)) { /* NaN or ±inf in the data: no meaningful answer */
        *frac = NAN;
        return LCTW_OK;
    }
    tail_ctx c = {mean, k * std, 0};
    LCTW_TRY(pass_all(t, row_tail, &c));
    *frac = (double)c.count / (double)n;
    return LCTW_OK;
}

typedef struct {
    double lo, hi, range;
    int bins;
    int64_t *counts, below, above;
} hist_ctx;

static void row_hist(void *ctx, float *const *p, const int64_t *s, int64_t n) {
    hist_ctx *c = ctx;
    const float *a = p[0];
    for (int64_t i = 0; i < n; i++) {
        double x = (double)a[i * s[0]];
        if (x != x) continue;
        if (x < c->lo) {
            c->below++;
        } else if (x > c->hi) {
            c->above++;
        } else {
            int64_t b = (int64_t)((x - c->lo) / c->range * c->bins);
            c->counts[b < c->bins ? b : c->bins - 1]++;
        }
    }
}

lctw_status lctw_cpu_histogram(const lctw_tensor *t, int bins, double lo, double hi,
                               int64_t *counts, int64_t *below, int64_t *above) {
    memset(counts, 0, (size_t)bins * sizeof *counts);
    hist_ctx c = {lo, hi, hi - lo, bins, counts, 0, 0};
    LCTW_TRY(pass_all(t, row_hist, &c));
    if (below) *below = c.below;
    if (above) *above = c.above;
    return LCTW_OK;
}
