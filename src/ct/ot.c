/* ot.c — exact minibatch OT coupling: squared-L2 cost by one GEMM and a shortest-augmenting-path
 * linear assignment solver with dual potentials (see ot.h; ALGORITHM.md §4.3 item 2, §4.6).
 *
 * Solver invariants (the dual of min Σ M_{j,π(j)}: max Σu + Σv s.t. u_j + v_k ≤ M_jk):
 *   reduced cost r_jk = M_jk − u_j − v_k ≥ 0 for every pair, r = 0 on every assigned pair.
 * Column reduction establishes them (u = 0, v_k = min_j M_jk, each column minimum's row assigned
 * if still free); augmenting row reduction keeps them (see lsa_row_reduction) while assigning
 * most of the remaining rows cheaply. Each free row r then grows a shortest-path tree over the
 * reduced costs (Dijkstra, dense: every step scans the columns not yet settled) until it settles a
 * free column; settled columns and visited rows get their potentials shifted by the path lengths,
 * which keeps r ≥ 0 and makes the path's edges tight, and the path is augmented (one more row
 * assigned). When every row is assigned, complementary slackness proves optimality.
 * Ties in the Dijkstra step prefer a free column (ends the search sooner).
 */
#include "ot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"
#include "lctw_cuda_ct.h"

/* Work arrays of one solve: doubles u, v, dist and ints col4row, row4col, pred, rem, rows. */
typedef struct lsa_ws {
    int n;
    double *u, *v, *dist;
    int *col4row, *row4col, *pred, *rem, *rows;
} lsa_ws;

static void lsa_ws_free(lsa_ws *w) {
    free(w->u);
    free(w->col4row);
}

static lctw_status lsa_ws_alloc(lsa_ws *w, int n) {
    memset(w, 0, sizeof *w);
    w->n = n;
    size_t nn = (size_t)(n > 0 ? n : 1);
    w->u = malloc(3 * nn * sizeof(double));
    w->col4row = malloc(5 * nn * sizeof(int));
    if (!w->u || !w->col4row) {
        lsa_ws_free(w);
        return LCTW_FAIL(LCTW_ENOMEM, "ot: out of memory for the work arrays of a %d×%d assignment",
                         n, n);
    }
    w->v = w->u + nn;
    w->dist = w->v + nn;
    w->row4col = w->col4row + nn;
    w->pred = w->row4col + nn;
    w->rem = w->pred + nn;
    w->rows = w->rem + nn;
    return LCTW_OK;
}

/* u = 0, v = column minima; the row of each column minimum is assigned to it if still free. */
static void lsa_column_reduction(lsa_ws *w, const double *C) {
    int n = w->n;
    for (int k = 0; k < n; k++) {
        w->v[k] = C[k];
        w->pred[k] = 0; /* argmin row of column k */
    }
    for (int j = 1; j < n; j++) {
        const double *cj = C + (size_t)j * n;
        for (int k = 0; k < n; k++) {
            if (cj[k] < w->v[k]) {
                w->v[k] = cj[k];
                w->pred[k] = j;
            }
        }
    }
    for (int j = 0; j < n; j++) {
        w->u[j] = 0.0;
        w->col4row[j] = -1;
        w->row4col[j] = -1;
    }
    for (int k = 0; k < n; k++) {
        int j = w->pred[k];
        if (w->col4row[j] < 0) {
            w->col4row[j] = k;
            w->row4col[k] = j;
        }
    }
}

/* Augmenting row reduction (Jonker & Volgenant 1987), two passes: each free row i takes the
 * column j1 minimising M_ij − v_j; if the second-best value u2 is strictly larger, v_j1 is
 * lowered by u2 − u1 (so j1 stays i's best by a tie and the row it displaces, if any, is
 * reconsidered at once), else i takes j1 or, if j1 is assigned, the second-best column, and the
 * displaced row waits for the next pass. Rows only ever hold a column that minimises M_ij − v_j
 * and v only decreases, so u_i = M_i,col(i) − v_col(i) keeps every reduced cost ≥ 0; the work
 * cap guards against long chains of tiny decrements (the augmentation handles what is left). */
static void lsa_row_reduction(lsa_ws *w, const double *C) {
    int n = w->n, *F = w->rows, nfree = 0;
    double *v = w->v;
    for (int j = 0; j < n; j++)
        if (w->col4row[j] < 0) F[nfree++] = j;
    int64_t budget = 8 * (int64_t)n + 64;
    for (int pass = 0; pass < 2 && nfree > 0; pass++) {
        int k = 0, todo = nfree;
        nfree = 0;
        while (k < todo) {
            if (budget-- <= 0) { /* keep the rows not yet processed free */
                while (k < todo)
                    F[nfree++] = F[k++];
                break;
            }
            int i = F[k++];
            const double *ci = C + (size_t)i * n;
            double u1 = ci[0] - v[0], u2 = INFINITY;
            int j1 = 0, j2 = -1;
            for (int j = 1; j < n; j++) {
                double h = ci[j] - v[j];
                if (h < u2) {
                    if (h < u1) {
                        u2 = u1;
                        j2 = j1;
                        u1 = h;
                        j1 = j;
                    } else {
                        u2 = h;
                        j2 = j;
                    }
                }
            }
            int i0 = w->row4col[j1];
            int strict = u1 < u2;
            if (strict)
                v[j1] -= u2 - u1; /* n > 1, so u2 is finite */
            else if (i0 >= 0 && j2 >= 0) {
                j1 = j2;
                i0 = w->row4col[j1];
            }
            if (i0 >= 0) {
                if (strict)
                    F[--k] = i0;
                else
                    F[nfree++] = i0;
                w->col4row[i0] = -1;
            }
            w->row4col[j1] = i;
            w->col4row[i] = j1;
        }
    }
    for (int j = 0; j < n; j++) {
        int k = w->col4row[j];
        w->u[j] = k >= 0 ? C[(size_t)j * n + k] - v[k] : 0.0;
    }
}

/* Assigns free row r by one shortest augmenting path. Returns 0, or −1 if no free column is
 * reachable (cannot happen with finite costs; kept as a guard). */
static int lsa_augment(lsa_ws *w, const double *C, int r) {
    int n = w->n;
    double *u = w->u, *v = w->v, *dist = w->dist;
    int *rem = w->rem, *pred = w->pred, *row4col = w->row4col;
    for (int k = 0; k < n; k++) {
        dist[k] = INFINITY;
        rem[k] = k;
    }
    int nrem = n, nrows = 0, sink = -1, i = r;
    double minv = 0.0;
    while (sink < 0) {
        w->rows[nrows++] = i;
        const double *ci = C + (size_t)i * n;
        double h = minv - u[i], lowest = INFINITY;
        int best = -1;
        for (int q = 0; q < nrem; q++) {
            int k = rem[q];
            double d = h + ci[k] - v[k];
            if (d < dist[k]) {
                dist[k] = d;
                pred[k] = i;
            }
            d = dist[k];
            if (d < lowest || (d == lowest && row4col[k] < 0)) {
                lowest = d;
                best = q;
            }
        }
        if (best < 0 || !isfinite(lowest)) return -1;
        minv = lowest;
        int k = rem[best];
        rem[best] = rem[--nrem]; /* settled columns collect in rem[nrem..n-1] */
        rem[nrem] = k;
        if (row4col[k] < 0)
            sink = k;
        else
            i = row4col[k];
    }
    /* potentials: shift visited rows and settled columns by their distances */
    u[r] += minv;
    for (int s = 1; s < nrows; s++) {
        int j = w->rows[s];
        u[j] += minv - dist[w->col4row[j]];
    }
    for (int q = nrem; q < n; q++) {
        int k = rem[q];
        v[k] -= minv - dist[k];
    }
    /* augment along pred from the sink back to r */
    for (int k = sink;;) {
        int j = pred[k];
        row4col[k] = j;
        int prev = w->col4row[j];
        w->col4row[j] = k;
        k = prev;
        if (j == r) break;
    }
    return 0;
}

lctw_status lctw_lsa_solve(int64_t n, const double *cost, int64_t *perm, double *total, double *u,
                           double *v) {
    if (n < 0)
        return LCTW_FAIL(LCTW_EINVAL, "ot: assignment size must be >= 0, got %lld", (long long)n);
    if (n > 46340) /* n² must fit the int32 indices of the solver (and any sane memory) */
        return LCTW_FAIL(LCTW_EINVAL, "ot: assignment of size %lld is too large (max 46340)",
                         (long long)n);
    if (total) *total = 0.0;
    if (n == 0) return LCTW_OK;
    for (int64_t e = 0; e < n * n; e++)
        if (!isfinite(cost[e]))
            return LCTW_FAIL(LCTW_EINVAL,
                             "ot: cost[%lld, %lld] is not finite (%g); the cost "
                             "matrix must be finite (NaN or Inf in the batch or the noise?)",
                             (long long)(e / n) + 1, (long long)(e % n) + 1, cost[e]);
    lsa_ws w;
    LCTW_TRY(lsa_ws_alloc(&w, (int)n));
    lsa_column_reduction(&w, cost);
    if (w.n > 1) lsa_row_reduction(&w, cost);
    for (int j = 0; j < w.n; j++) {
        if (w.col4row[j] >= 0) continue;
        if (lsa_augment(&w, cost, j) != 0) {
            lsa_ws_free(&w);
            return LCTW_FAIL(LCTW_EINVAL, "ot: assignment infeasible at row %d (internal error)",
                             j + 1);
        }
    }
    double sum = 0.0;
    for (int j = 0; j < w.n; j++) {
        perm[j] = w.col4row[j];
        sum += cost[(size_t)j * w.n + (size_t)w.col4row[j]];
    }
    if (total) *total = sum;
    if (u) memcpy(u, w.u, (size_t)n * sizeof *u);
    if (v) memcpy(v, w.v, (size_t)n * sizeof *v);
    lsa_ws_free(&w);
    return LCTW_OK;
}

/* ---- cost matrix ---------------------------------------------------------------------------- */

/* A contiguous CPU tensor with t's values (t itself, retained, when it already is one). */
static lctw_status host_contiguous(lctw_tensor **out, const lctw_tensor *t) {
    lctw_tensor *h = NULL;
    LCTW_TRY(lctw_tensor_to(&h, (lctw_tensor *)t, LCTW_DEV_CPU));
    lctw_status s = lctw_tensor_contiguous(out, h);
    lctw_tensor_release(h);
    return s;
}

static lctw_status check_pair(const lctw_tensor *x, const lctw_tensor *noise, int64_t *b,
                              int64_t *d) {
    char s1[64], s2[64];
    if (x->ndim < 1)
        return LCTW_FAIL(LCTW_ESHAPE, "ot: x must have a batch dimension (b, ...), got a scalar");
    if (!lctw_tensor_same_shape(x, noise))
        return LCTW_FAIL(
            LCTW_ESHAPE, "ot: x is %s but noise is %s: expected the same shape (b, ...)",
            lctw_tensor_shape_str(s1, sizeof s1, x), lctw_tensor_shape_str(s2, sizeof s2, noise));
    *b = x->shape[0];
    *d = *b ? lctw_tensor_numel(x) / *b : 0;
    return LCTW_OK;
}

/* cost[j·b + k] = xx_j + nn_k − 2·dot_jk in double, clamped at 0 (a squared distance:
 * rounding can dip below 0; NaN stays). */
static void assemble_cost(int64_t b, const double *xx, const double *nn, const float *dot,
                          double *cost) {
    for (int64_t j = 0; j < b; j++) {
        double *cj = cost + j * b;
        const float *dj = dot + j * b;
        for (int64_t k = 0; k < b; k++) {
            double c = xx[j] + nn[k] - 2.0 * (double)dj[k];
            cj[k] = c < 0.0 ? 0.0 : c;
        }
    }
}

/* Contiguous CUDA batches: the GEMM and the norms on the device (cuBLAS, kernels/ct_step.cu),
 * b×b dots and 2b norms copied back, the matrix assembled here as on the CPU. */
static lctw_status cost_matrix_cuda(const lctw_tensor *x, const lctw_tensor *noise, int64_t b,
                                    int64_t d, double *cost) {
    float *dot = NULL;
    size_t dot_bytes = (size_t)b * (size_t)b * sizeof(float);
    double *norms = malloc((size_t)(2 * b) * sizeof *norms);
    lctw_status s = norms ? LCTW_OK
                          : LCTW_FAIL(LCTW_ENOMEM, "ot: out of memory for %lld norms", (long long)b);
    if (s == LCTW_OK) s = lctw_mem_alloc((void **)&dot, dot_bytes, LCTW_DEV_CPU, 0);
    if (s == LCTW_OK)
        s = lctw_cuda_ct_ot_parts(lctw_tensor_data(x), lctw_tensor_data(noise), b, d, dot, norms,
                                  norms + b);
    if (s == LCTW_OK) assemble_cost(b, norms, norms + b, dot, cost);
    free(norms);
    if (dot) lctw_mem_free(dot, dot_bytes, LCTW_DEV_CPU);
    return s;
}

static lctw_status cost_matrix(const lctw_tensor *x, const lctw_tensor *noise, int64_t b, int64_t d,
                               double *cost) {
    if (lctw_tensor_device(x) == LCTW_DEV_CUDA && lctw_tensor_device(noise) == LCTW_DEV_CUDA &&
        lctw_tensor_is_contiguous(x) && lctw_tensor_is_contiguous(noise))
        return cost_matrix_cuda(x, noise, b, d, cost);
    lctw_tensor *xc = NULL, *nc = NULL;
    float *dot = NULL;
    double *nn2 = NULL;
    size_t dot_bytes = (size_t)b * (size_t)b * sizeof(float);
    lctw_status s = host_contiguous(&xc, x);
    if (s == LCTW_OK) s = host_contiguous(&nc, noise);
    if (s == LCTW_OK) s = lctw_mem_alloc((void **)&dot, dot_bytes, LCTW_DEV_CPU, 0);
    if (s == LCTW_OK && !(nn2 = malloc((size_t)b * sizeof *nn2)))
        s = LCTW_FAIL(LCTW_ENOMEM, "ot: out of memory for %lld norms", (long long)b);
    if (s == LCTW_OK) {
        const float *X = lctw_tensor_data(xc), *N = lctw_tensor_data(nc);
        /* dot (b, b) = X (b, d) · Nᵀ (d, b) */
        lctw_sgemm(0, 1, b, b, d, 1.0f, X, d, N, d, 0.0f, dot, b);
        for (int64_t k = 0; k < b; k++) {
            const float *nk = N + k * d;
            double acc = 0.0;
            for (int64_t e = 0; e < d; e++)
                acc += (double)nk[e] * nk[e];
            nn2[k] = acc;
        }
        for (int64_t j = 0; j < b; j++) {
            const float *xj = X + j * d;
            double xx = 0.0;
            for (int64_t e = 0; e < d; e++)
                xx += (double)xj[e] * xj[e];
            double *cj = cost + j * b;
            const float *dj = dot + j * b;
            for (int64_t k = 0; k < b; k++) {
                double c = xx + nn2[k] - 2.0 * (double)dj[k];
                cj[k] = c < 0.0 ? 0.0
                                : c; /* a squared distance: rounding can dip below 0 (NaN stays) */
            }
        }
    }
    free(nn2);
    if (dot) lctw_mem_free(dot, dot_bytes, LCTW_DEV_CPU);
    lctw_tensor_release(xc);
    lctw_tensor_release(nc);
    return s;
}

lctw_status lctw_ot_cost(const lctw_tensor *x, const lctw_tensor *noise, double *cost) {
    int64_t b = 0, d = 0;
    LCTW_TRY(check_pair(x, noise, &b, &d));
    if (b == 0) return LCTW_OK;
    return cost_matrix(x, noise, b, d, cost);
}

lctw_status lctw_ot_assign(const lctw_tensor *x, const lctw_tensor *noise, int64_t *perm,
                           double *total) {
    int64_t b = 0, d = 0;
    LCTW_TRY(check_pair(x, noise, &b, &d));
    if (total) *total = 0.0;
    if (b == 0) return LCTW_OK;
    if (b > 46340)
        return LCTW_FAIL(LCTW_EINVAL,
                         "ot: batch of %lld samples is too large for an exact "
                         "assignment (max 46340)",
                         (long long)b);
    double *cost = NULL;
    size_t bytes = (size_t)b * (size_t)b * sizeof *cost;
    LCTW_TRY(lctw_mem_alloc((void **)&cost, bytes, LCTW_DEV_CPU, 0));
    lctw_status s = cost_matrix(x, noise, b, d, cost);
    if (s == LCTW_OK) s = lctw_lsa_solve(b, cost, perm, total, NULL, NULL);
    lctw_mem_free(cost, bytes, LCTW_DEV_CPU);
    return s;
}

lctw_status lctw_ot_permute_rows(lctw_tensor *out, const lctw_tensor *src, const int64_t *perm) {
    char s1[64], s2[64];
    if (src->ndim < 1 || !lctw_tensor_same_shape(out, src))
        return LCTW_FAIL(LCTW_ESHAPE,
                         "ot: permute_rows: out is %s but src is %s: expected the "
                         "same shape (b, ...)",
                         lctw_tensor_shape_str(s1, sizeof s1, out),
                         lctw_tensor_shape_str(s2, sizeof s2, src));
    int64_t b = src->shape[0];
    unsigned char *seen = calloc((size_t)(b > 0 ? b : 1), 1);
    if (!seen) return LCTW_FAIL(LCTW_ENOMEM, "ot: permute_rows: out of memory");
    for (int64_t j = 0; j < b; j++) {
        if (perm[j] < 0 || perm[j] >= b || seen[perm[j]]) {
            free(seen);
            return LCTW_FAIL(LCTW_EINVAL, "ot: permute_rows: perm[%lld] = %lld is %s (batch %lld)",
                             (long long)j + 1, (long long)perm[j] + 1,
                             perm[j] < 0 || perm[j] >= b ? "out of range" : "repeated",
                             (long long)b);
        }
        seen[perm[j]] = 1;
    }
    free(seen);
    if (lctw_tensor_device(out) == LCTW_DEV_CUDA && lctw_tensor_device(src) == LCTW_DEV_CUDA &&
        lctw_tensor_is_contiguous(out) && lctw_tensor_is_contiguous(src) && b > 0)
        return lctw_cuda_ct_gather_rows(lctw_tensor_data(out), lctw_tensor_data(src), perm, b,
                                        lctw_tensor_numel(src) / b);
    lctw_status s = LCTW_OK;
    for (int64_t j = 0; j < b && s == LCTW_OK; j++) {
        lctw_tensor *o = NULL, *i = NULL;
        s = lctw_tensor_narrow(&o, out, 0, j, 1);
        if (s == LCTW_OK) s = lctw_tensor_narrow(&i, (lctw_tensor *)src, 0, perm[j], 1);
        if (s == LCTW_OK) s = lctw_tensor_copy(o, i);
        lctw_tensor_release(o);
        lctw_tensor_release(i);
    }
    return s;
}
