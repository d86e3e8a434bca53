/* metrics.c — Fréchet distance (pooled latent features, Jacobi eigen-solver), sliced
 * Wasserstein-2 and tail statistics (see metrics.h for the definitions).
 */
#include "ct/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/interrupt.h"

/* A contiguous CPU tensor with x's values (x itself, retained, when it already is one). The
 * const is cast away only to take a reference. */
static lctw_status cpu_contig(const lctw_tensor *x, lctw_tensor **out) {
    lctw_tensor *c = NULL;
    LCTW_TRY(lctw_tensor_to(&c, (lctw_tensor *)x, LCTW_DEV_CPU));
    lctw_status s = lctw_tensor_contiguous(out, c);
    lctw_tensor_release(c);
    return s;
}

/* ---- symmetric eigen-decomposition (cyclic Jacobi) ---------------------------------------- */

lctw_status lctw_metrics_symeig(int n, double *a, double *w, double *v, int *sweeps) {
    if (n < 1) return LCTW_FAIL(LCTW_EINVAL, "symeig: matrix size must be >= 1, got %d", n);
    const size_t nn = (size_t)n * (size_t)n;
    double frob = 0;
    for (size_t k = 0; k < nn; k++) {
        if (!isfinite(a[k]))
            return LCTW_FAIL(LCTW_EINVAL, "symeig: element (%d, %d) is not finite (%g)",
                             (int)(k / (size_t)n), (int)(k % (size_t)n), a[k]);
        frob += a[k] * a[k];
    }
    /* vt: rows are the eigenvectors (contiguous row updates); transposed into v at the end */
    double *vt = v ? malloc(nn * sizeof *vt) : NULL;
    if (v && !vt) return LCTW_FAIL(LCTW_ENOMEM, "symeig: out of memory for a %d×%d matrix", n, n);
    if (vt) {
        memset(vt, 0, nn * sizeof *vt);
        for (int i = 0; i < n; i++)
            vt[(size_t)i * n + i] = 1.0;
    }
    /* Only the upper triangle (i < j at a[i·n + j]) and the diagonal are kept up to date. */
    const double tol = 1e-15 * sqrt(frob);
    int sweep = 0, converged = 0;
    for (sweep = 1; sweep <= 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++)
                off += a[(size_t)p * n + q] * a[(size_t)p * n + q];
        if (off == 0 || sqrt(2 * off) <= tol) {
            converged = 1;
            break;
        }
        /* skip small elements in the first sweeps (Rutishauser's threshold) */
        double thresh = sweep < 4 ? 0.2 * sqrt(2 * off) / ((double)n * n) : 0.0;
        for (int p = 0; p < n - 1; p++) {
            double *rp = a + (size_t)p * n;
            for (int q = p + 1; q < n; q++) {
                double *rq = a + (size_t)q * n;
                double apq = rp[q];
                double g = 100.0 * fabs(apq);
                if (sweep > 4 && fabs(rp[p]) + g == fabs(rp[p]) && fabs(rq[q]) + g == fabs(rq[q])) {
                    rp[q] = 0.0;
                    continue;
                }
                if (fabs(apq) <= thresh || apq == 0.0) continue;
                double theta = (rq[q] - rp[p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                rp[p] -= t * apq;
                rq[q] += t * apq;
                rp[q] = 0.0;
                /* a'[k][p] = c·a[k][p] − s·a[k][q],  a'[k][q] = s·a[k][p] + c·a[k][q] */
                for (int k = 0; k < p; k++) {
                    double *rk = a + (size_t)k * n;
                    double x = rk[p], y = rk[q];
                    rk[p] = c * x - s * y;
                    rk[q] = s * x + c * y;
                }
                for (int k = p + 1; k < q; k++) {
                    double *kq = a + (size_t)k * n + q;
                    double x = rp[k], y = *kq;
                    rp[k] = c * x - s * y;
                    *kq = s * x + c * y;
                }
                for (int k = q + 1; k < n; k++) {
                    double x = rp[k], y = rq[k];
                    rp[k] = c * x - s * y;
                    rq[k] = s * x + c * y;
                }
                if (vt) {
                    double *vp = vt + (size_t)p * n, *vq = vt + (size_t)q * n;
                    for (int k = 0; k < n; k++) {
                        double x = vp[k], y = vq[k];
                        vp[k] = c * x - s * y;
                        vq[k] = s * x + c * y;
                    }
                }
            }
        }
    }
    if (!converged) {
        free(vt);
        return LCTW_FAIL(LCTW_EINVAL, "symeig: Jacobi did not converge in 100 sweeps (n = %d)", n);
    }
    if (sweeps) *sweeps = sweep - 1;
    /* sort ascending (insertion sort on an index; n is small) */
    int *idx = malloc((size_t)n * sizeof *idx);
    if (!idx) {
        free(vt);
        return LCTW_FAIL(LCTW_ENOMEM, "symeig: out of memory");
    }
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 1; i < n; i++) {
        int k = idx[i], j = i - 1;
        double key = a[(size_t)k * n + k];
        while (j >= 0 && a[(size_t)idx[j] * n + idx[j]] > key) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = k;
    }
    for (int i = 0; i < n; i++)
        w[i] = a[(size_t)idx[i] * n + idx[i]];
    if (v)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
                v[(size_t)k * n + i] = vt[(size_t)idx[i] * n + k];
    free(idx);
    free(vt);
    return LCTW_OK;
}

/* ---- Fréchet distance --------------------------------------------------------------------- */

/* c = a·b for n×n row-major matrices. */
static void matmul_nn(int n, const double *a, const double *b, double *c) {
    memset(c, 0, (size_t)n * n * sizeof *c);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double x = a[(size_t)i * n + k];
            if (x == 0.0) continue;
            const double *bk = b + (size_t)k * n;
            double *ci = c + (size_t)i * n;
            for (int j = 0; j < n; j++)
                ci[j] += x * bk[j];
        }
}

/* Eigenvalues of a PSD matrix below d·ε·max|λ| are round-off (a singular covariance, e.g. fewer
 * samples than features, has exact zeros there): set them to 0 so that their square roots, of
 * order √ε, do not add up. A true eigenvalue that small changes the trace of the root by at most
 * √(d·ε·max λ), the accuracy the computation has anyway. */
static void clamp_roundoff(int d, double *lam) {
    double mx = 0;
    for (int i = 0; i < d; i++)
        mx = fmax(mx, fabs(lam[i]));
    const double floor = (double)d * 2.220446049250313e-16 * mx;
    for (int i = 0; i < d; i++)
        if (!(lam[i] > floor)) lam[i] = 0.0;
}

lctw_status lctw_metrics_fd_gauss(int d, const double *mu1, const double *s1, const double *mu2,
                                  const double *s2, double *fd, double *mean_term,
                                  double *cov_term) {
    if (d < 1) return LCTW_FAIL(LCTW_EINVAL, "fd: dimension must be >= 1, got %d", d);
    const size_t dd = (size_t)d * d;
    double *a = malloc(dd * sizeof *a), *v = malloc(dd * sizeof *v), *r = malloc(dd * sizeof *r);
    double *m = malloc(dd * sizeof *m), *lam = malloc((size_t)d * sizeof *lam);
    lctw_status s = LCTW_OK;
    if (!a || !v || !r || !m || !lam) {
        s = LCTW_FAIL(LCTW_ENOMEM, "fd: out of memory for %d×%d matrices", d, d);
        goto done;
    }
    double dm = 0, tr1 = 0, tr2 = 0;
    for (int i = 0; i < d; i++) {
        double x = mu1[i] - mu2[i];
        dm += x * x;
        tr1 += s1[(size_t)i * d + i];
        tr2 += s2[(size_t)i * d + i];
    }
    /* √Σ1 = V diag(√λ⁺) Vᵀ */
    memcpy(a, s1, dd * sizeof *a);
    s = lctw_metrics_symeig(d, a, lam, v, NULL);
    if (s != LCTW_OK) goto done;
    clamp_roundoff(d, lam);
    for (int i = 0; i < d; i++)
        lam[i] = sqrt(lam[i]);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            m[(size_t)i * d + j] = v[(size_t)i * d + j] * lam[j];
    memset(r, 0, dd * sizeof *r); /* r = (V diag) Vᵀ */
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k < d; k++)
                acc += m[(size_t)i * d + k] * v[(size_t)j * d + k];
            r[(size_t)i * d + j] = acc;
        }
    /* M = √Σ1 Σ2 √Σ1, symmetrised */
    matmul_nn(d, r, s2, a);
    matmul_nn(d, a, r, m);
    for (int i = 0; i < d; i++)
        for (int j = i + 1; j < d; j++) {
            double x = 0.5 * (m[(size_t)i * d + j] + m[(size_t)j * d + i]);
            m[(size_t)i * d + j] = m[(size_t)j * d + i] = x;
        }
    s = lctw_metrics_symeig(d, m, lam, NULL, NULL);
    if (s != LCTW_OK) goto done;
    clamp_roundoff(d, lam);
    double trs = 0;
    for (int i = 0; i < d; i++)
        trs += sqrt(lam[i]);
    double cov = tr1 + tr2 - 2.0 * trs;
    *fd = dm + cov;
    if (mean_term) *mean_term = dm;
    if (cov_term) *cov_term = cov;
done:
    free(a);
    free(v);
    free(r);
    free(m);
    free(lam);
    return s;
}

lctw_status lctw_metrics_fd_pool(int64_t c, int64_t h, int64_t w, int *pool) {
    for (int64_t p = 1; p <= h && p <= w; p++) {
        if (h % p || w % p) continue;
        if (c * (h / p) * (w / p) <= LCTW_FD_MAX_DIMS) {
            *pool = (int)p;
            return LCTW_OK;
        }
    }
    return LCTW_FAIL(LCTW_ESHAPE,
                     "fd: latents %lld×%lld×%lld cannot be average-pooled to at most %d features "
                     "(C·(H/p)·(W/p) with p dividing H and W); give pool= explicitly",
                     (long long)c, (long long)h, (long long)w, LCTW_FD_MAX_DIMS);
}

lctw_status lctw_metrics_features(const lctw_tensor *x, int pool, double **feat, int64_t *n,
                                  int *d) {
    *feat = NULL;
    char sb[64];
    if (x->ndim != 2 && x->ndim != 4)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "fd: samples must be (n, C, H, W) latents or (n, D) "
                         "features, got %s",
                         lctw_tensor_shape_str(sb, sizeof sb, x));
    int64_t rows = x->shape[0], dims;
    int64_t C = 1, H = 1, W = 1, ho = 1, wo = 1;
    if (x->ndim == 4) {
        C = x->shape[1], H = x->shape[2], W = x->shape[3];
        if (pool < 1 || H % pool || W % pool)
            return LCTW_FAIL(LCTW_ESHAPE,
                             "fd: pool %d must be >= 1 and divide H = %lld and "
                             "W = %lld",
                             pool, (long long)H, (long long)W);
        ho = H / pool;
        wo = W / pool;
        dims = C * ho * wo;
    } else {
        dims = x->shape[1];
    }
    if (dims < 1 || dims > 4096)
        return LCTW_FAIL(LCTW_ESHAPE, "fd: %lld features per sample; must be in 1..4096 (%s)",
                         (long long)dims, lctw_tensor_shape_str(sb, sizeof sb, x));
    lctw_tensor *t = NULL;
    LCTW_TRY(cpu_contig(x, &t));
    double *f = malloc((size_t)(rows ? rows : 1) * (size_t)dims * sizeof *f);
    if (!f) {
        lctw_tensor_release(t);
        return LCTW_FAIL(LCTW_ENOMEM, "fd: out of memory for %lld×%lld features", (long long)rows,
                         (long long)dims);
    }
    const float *src = lctw_tensor_data(t);
    if (x->ndim == 2) {
        for (int64_t k = 0; k < rows * dims; k++)
            f[k] = src[k];
    } else {
        const double inv = 1.0 / ((double)pool * pool);
        for (int64_t i = 0; i < rows; i++) {
            const float *xi = src + i * C * H * W;
            double *fi = f + i * dims;
            for (int64_t c = 0; c < C; c++)
                for (int64_t y = 0; y < ho; y++)
                    for (int64_t xo = 0; xo < wo; xo++) {
                        double acc = 0;
                        for (int dy = 0; dy < pool; dy++) {
                            const float *r = xi + (c * H + y * pool + dy) * W + xo * pool;
                            for (int dx = 0; dx < pool; dx++)
                                acc += r[dx];
                        }
                        fi[(c * ho + y) * wo + xo] = acc * inv;
                    }
        }
    }
    lctw_tensor_release(t);
    *feat = f;
    *n = rows;
    *d = (int)dims;
    return LCTW_OK;
}

/* Mean (d) and unbiased covariance (d×d) of n×d features, in double. */
static lctw_status mean_cov(const double *f, int64_t n, int d, double *mu, double *cov) {
    memset(mu, 0, (size_t)d * sizeof *mu);
    memset(cov, 0, (size_t)d * d * sizeof *cov);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < d; k++)
            mu[k] += f[i * d + k];
    for (int k = 0; k < d; k++)
        mu[k] /= (double)n;
    double *x = malloc((size_t)d * sizeof *x);
    if (!x) return LCTW_FAIL(LCTW_ENOMEM, "fd: out of memory");
    for (int64_t i = 0; i < n; i++) {
        if ((i & 127) == 127 && lctw_interrupted()) {
            free(x);
            return lctw_check_interrupt();
        }
        for (int k = 0; k < d; k++)
            x[k] = f[i * d + k] - mu[k];
        for (int a = 0; a < d; a++) {
            double xa = x[a];
            double *ca = cov + (size_t)a * d;
            for (int b = a; b < d; b++)
                ca[b] += xa * x[b];
        }
    }
    free(x);
    for (int a = 0; a < d; a++)
        for (int b = a; b < d; b++) {
            double v = cov[(size_t)a * d + b] / (double)(n - 1);
            cov[(size_t)a * d + b] = cov[(size_t)b * d + a] = v;
        }
    return LCTW_OK;
}

lctw_status lctw_metrics_fd(const lctw_tensor *a, const lctw_tensor *b, int pool,
                            lctw_fd_result *res) {
    memset(res, 0, sizeof *res);
    char sa[64], sb[64];
    if (a->ndim != b->ndim ||
        (a->ndim == 4 && (a->shape[1] != b->shape[1] || a->shape[2] != b->shape[2] ||
                          a->shape[3] != b->shape[3])) ||
        (a->ndim == 2 && a->shape[1] != b->shape[1]))
        return LCTW_FAIL(LCTW_ESHAPE,
                         "fd: the two sets must have the same sample shape, got %s "
                         "and %s",
                         lctw_tensor_shape_str(sa, sizeof sa, a),
                         lctw_tensor_shape_str(sb, sizeof sb, b));
    if (a->ndim == 4 && pool == 0)
        LCTW_TRY(lctw_metrics_fd_pool(a->shape[1], a->shape[2], a->shape[3], &pool));
    if (a->ndim == 2) pool = 0;
    for (int i = 0; i < 2; i++) {
        const lctw_tensor *t = i ? b : a;
        if (t->ndim >= 1 && t->shape[0] < 2)
            return LCTW_FAIL(LCTW_ESHAPE,
                             "fd: each set needs at least 2 samples for a "
                             "covariance, got %s",
                             lctw_tensor_shape_str(sa, sizeof sa, t));
    }
    double *fa = NULL, *fb = NULL;
    int64_t na = 0, nb = 0;
    int d = 0, d2 = 0;
    lctw_status s = lctw_metrics_features(a, pool, &fa, &na, &d);
    if (s == LCTW_OK) s = lctw_metrics_features(b, pool, &fb, &nb, &d2);
    double *mu1 = NULL, *mu2 = NULL, *c1 = NULL, *c2 = NULL;
    if (s == LCTW_OK) {
        mu1 = malloc((size_t)d * sizeof *mu1);
        mu2 = malloc((size_t)d * sizeof *mu2);
        c1 = malloc((size_t)d * d * sizeof *c1);
        c2 = malloc((size_t)d * d * sizeof *c2);
        if (!mu1 || !mu2 || !c1 || !c2) s = LCTW_FAIL(LCTW_ENOMEM, "fd: out of memory");
    }
    if (s == LCTW_OK) s = mean_cov(fa, na, d, mu1, c1);
    if (s == LCTW_OK) s = mean_cov(fb, nb, d, mu2, c2);
    if (s == LCTW_OK)
        s = lctw_metrics_fd_gauss(d, mu1, c1, mu2, c2, &res->fd, &res->mean_term, &res->cov_term);
    if (s == LCTW_OK) {
        res->pool = pool;
        res->dims = d;
        res->na = na;
        res->nb = nb;
    }
    free(fa);
    free(fb);
    free(mu1);
    free(mu2);
    free(c1);
    free(c2);
    return s;
}

/* ---- sliced Wasserstein ------------------------------------------------------------------- */

double lctw_metrics_w2_1d(const double *a, int64_t na, const double *b, int64_t nb) {
    /* quantile functions are steps at i/na and j/nb; in units of 1/(na·nb) the breakpoints are
     * the integers (i+1)·nb and (j+1)·na, so the merge is exact */
    int64_t i = 0, j = 0, t = 0;
    double acc = 0;
    while (i < na && j < nb) {
        int64_t ta = (i + 1) * nb, tb = (j + 1) * na, next = ta < tb ? ta : tb;
        double diff = a[i] - b[j];
        acc += (double)(next - t) * diff * diff;
        t = next;
        if (ta == next) i++;
        if (tb == next) j++;
    }
    return acc / ((double)na * (double)nb);
}

lctw_status lctw_metrics_swd_directions(int64_t D, int n_proj, uint64_t seed, lctw_tensor **out) {
    *out = NULL;
    if (D < 1 || n_proj < 1 || n_proj > 1 << 20)
        return LCTW_FAIL(LCTW_EINVAL,
                         "swd: need D >= 1 and projections in 1..1048576, got D = "
                         "%lld, projections = %d",
                         (long long)D, n_proj);
    int64_t shape[2] = {D, n_proj};
    LCTW_TRY(lctw_tensor_empty(out, 2, shape, LCTW_DEV_CPU));
    lctw_rng r = {seed, 0, LCTW_STREAM_SWD};
    lctw_status s = lctw_fill_normal(*out, &r);
    double *nrm = calloc((size_t)n_proj, sizeof *nrm);
    if (s == LCTW_OK && !nrm) s = LCTW_FAIL(LCTW_ENOMEM, "swd: out of memory");
    if (s != LCTW_OK) {
        free(nrm);
        lctw_tensor_release(*out);
        *out = NULL;
        return s;
    }
    float *g = lctw_tensor_data(*out);
    for (int64_t i = 0; i < D; i++)
        for (int p = 0; p < n_proj; p++)
            nrm[p] += (double)g[i * n_proj + p] * g[i * n_proj + p];
    for (int p = 0; p < n_proj; p++)
        nrm[p] = nrm[p] > 0 ? 1.0 / sqrt(nrm[p]) : 0.0;
    for (int64_t i = 0; i < D; i++)
        for (int p = 0; p < n_proj; p++)
            g[i * n_proj + p] = (float)(g[i * n_proj + p] * nrm[p]);
    free(nrm);
    return LCTW_OK;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Projections x (n, D) · dirs (D, P) -> a new CPU tensor (n, P). */
static lctw_status project(const lctw_tensor *x, int64_t D, lctw_tensor *dirs, lctw_tensor **out) {
    *out = NULL;
    int64_t shape2[2] = {x->shape[0], D};
    lctw_tensor *x2 = NULL, *dd = NULL, *pr = NULL;
    lctw_status s = lctw_tensor_reshape(&x2, (lctw_tensor *)x, 2, shape2);
    if (s == LCTW_OK) s = lctw_tensor_to(&dd, dirs, lctw_tensor_device(x));
    int64_t pshape[2] = {x->shape[0], dirs->shape[1]};
    if (s == LCTW_OK) s = lctw_tensor_empty(&pr, 2, pshape, lctw_tensor_device(x));
    if (s == LCTW_OK) s = lctw_matmul(pr, x2, dd);
    if (s == LCTW_OK) s = lctw_tensor_to(out, pr, LCTW_DEV_CPU);
    lctw_tensor_release(x2);
    lctw_tensor_release(dd);
    lctw_tensor_release(pr);
    return s;
}

lctw_status lctw_metrics_swd(const lctw_tensor *a, const lctw_tensor *b, int n_proj, uint64_t seed,
                             double *swd) {
    char sa[64], sb[64];
    if (a->ndim < 1 || b->ndim < 1 || a->shape[0] < 1 || b->shape[0] < 1)
        return LCTW_FAIL(LCTW_ESHAPE, "swd: need non-empty sets of samples, got %s and %s",
                         lctw_tensor_shape_str(sa, sizeof sa, a),
                         lctw_tensor_shape_str(sb, sizeof sb, b));
    int64_t D = lctw_tensor_numel(a) / a->shape[0];
    if (lctw_tensor_numel(b) / b->shape[0] != D || D < 1)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "swd: samples must have the same number of elements, got "
                         "%s and %s",
                         lctw_tensor_shape_str(sa, sizeof sa, a),
                         lctw_tensor_shape_str(sb, sizeof sb, b));
    lctw_tensor *dirs = NULL, *pa = NULL, *pb = NULL;
    LCTW_TRY(lctw_metrics_swd_directions(D, n_proj, seed, &dirs));
    lctw_status s = project(a, D, dirs, &pa);
    if (s == LCTW_OK) s = project(b, D, dirs, &pb);
    lctw_tensor_release(dirs);
    const int64_t na = a->shape[0], nb = b->shape[0];
    double *xa = malloc((size_t)na * sizeof *xa), *xb = malloc((size_t)nb * sizeof *xb);
    if (s == LCTW_OK && (!xa || !xb)) s = LCTW_FAIL(LCTW_ENOMEM, "swd: out of memory");
    double acc = 0;
    for (int p = 0; s == LCTW_OK && p < n_proj; p++) {
        const float *ga = lctw_tensor_data(pa), *gb = lctw_tensor_data(pb);
        for (int64_t i = 0; i < na; i++)
            xa[i] = ga[i * n_proj + p];
        for (int64_t i = 0; i < nb; i++)
            xb[i] = gb[i * n_proj + p];
        qsort(xa, (size_t)na, sizeof *xa, cmp_double);
        qsort(xb, (size_t)nb, sizeof *xb, cmp_double);
        acc += lctw_metrics_w2_1d(xa, na, xb, nb);
    }
    free(xa);
    free(xb);
    lctw_tensor_release(pa);
    lctw_tensor_release(pb);
    if (s == LCTW_OK) *swd = sqrt(acc / n_proj);
    return s;
}

/* ---- tails -------------------------------------------------------------------------------- */

static int n_channels(const lctw_tensor *x) { return x->ndim == 4 ? (int)x->shape[1] : 1; }

static lctw_status channel_view(const lctw_tensor *x, int c, lctw_tensor **v) {
    if (x->ndim == 4) return lctw_tensor_narrow(v, (lctw_tensor *)x, 1, c, 1);
    lctw_tensor_retain((lctw_tensor *)x);
    *v = (lctw_tensor *)x;
    return LCTW_OK;
}

/* Tail statistics of x on the scale (mu[c], sd[c]) per channel. */
static lctw_status tails_on(const lctw_tensor *x, const double *mu, const double *sd,
                            lctw_tail_stats *ts) {
    memset(ts, 0, sizeof *ts);
    const int C = n_channels(x);
    lctw_moments all;
    LCTW_TRY(lctw_moments_all(x, &all));
    ts->n = all.n;
    ts->mean = all.mean;
    ts->std = all.std;
    for (int c = 0; c < C; c++) {
        lctw_tensor *v = NULL;
        LCTW_TRY(channel_view(x, c, &v));
        lctw_moments m;
        lctw_status s = lctw_moments_all(v, &m);
        for (int k = 0; k < LCTW_TAIL_NK && s == LCTW_OK; k++) {
            double half = (LCTW_TAIL_K0 + k) * sd[c];
            int64_t cnt, below = 0, above = 0;
            s = lctw_histogram(v, 1, mu[c] - half, mu[c] + half, &cnt, &below, &above);
            ts->tail[k] += (double)(below + above) / (double)m.n / C;
        }
        lctw_tensor_release(v);
        if (s != LCTW_OK) return s;
        ts->kurtosis += m.kurtosis / C;
        double mx = fmax(fabs(m.min - mu[c]), fabs(m.max - mu[c])) / sd[c];
        ts->max_abs_std = c ? fmax(ts->max_abs_std, mx) : mx;
    }
    return LCTW_OK;
}

lctw_status lctw_metrics_tails(const lctw_tensor *a, const lctw_tensor *ref, lctw_tail_stats *ta,
                               lctw_tail_stats *tr) {
    if (!ref) ref = a;
    char sa[64], sb[64];
    if (lctw_tensor_numel(a) == 0 || lctw_tensor_numel(ref) == 0)
        return LCTW_FAIL(LCTW_ESHAPE, "tails: empty set (%s, reference %s)",
                         lctw_tensor_shape_str(sa, sizeof sa, a),
                         lctw_tensor_shape_str(sb, sizeof sb, ref));
    if (n_channels(a) != n_channels(ref))
        return LCTW_FAIL(LCTW_ESHAPE,
                         "tails: samples %s and reference %s have different channel "
                         "counts (%d vs %d)",
                         lctw_tensor_shape_str(sa, sizeof sa, a),
                         lctw_tensor_shape_str(sb, sizeof sb, ref), n_channels(a), n_channels(ref));
    const int C = n_channels(ref);
    double *mu = malloc((size_t)C * sizeof *mu), *sd = malloc((size_t)C * sizeof *sd);
    lctw_status s = mu && sd ? LCTW_OK : LCTW_FAIL(LCTW_ENOMEM, "tails: out of memory");
    for (int c = 0; c < C && s == LCTW_OK; c++) {
        lctw_tensor *v = NULL;
        lctw_moments m;
        s = channel_view(ref, c, &v);
        if (s == LCTW_OK) s = lctw_moments_all(v, &m);
        lctw_tensor_release(v);
        if (s == LCTW_OK && !(m.std > 0 && isfinite(m.std)))
            s = LCTW_FAIL(LCTW_EINVAL,
                          "tails: reference channel %d has std %g (need a finite "
                          "positive spread)",
                          c + 1, m.std);
        if (s == LCTW_OK) {
            mu[c] = m.mean;
            sd[c] = m.std;
        }
    }
    if (s == LCTW_OK) s = tails_on(a, mu, sd, ta);
    if (s == LCTW_OK && tr) s = tails_on(ref, mu, sd, tr);
    free(mu);
    free(sd);
    return s;
}
