/* conv2d.c — 2-D convolution and transposed convolution (NCHW), forward and backward, by
 * im2col + GEMM (ALGORITHM.md §2A: the U-Net's 3×3 and 1×1 convs; VAElight's 2×2 stride-2 convs
 * and 2×2 stride-2 transposed convs).
 *
 * Both ops share one geometry: an "image" (C, H, W) and a "grid" (Ho, Wo) of kernel positions,
 * Ho = (H + 2p − kh)/s + 1. im2col turns the image into cols (C·kh·kw, Ho·Wo); col2im adds cols
 * back into the image. With K = C·kh·kw:
 *   conv2d            image = x, grid = y, W (Cout, K):
 *       y = W·cols(x) + b;   dW += dy·cols(x)ᵀ;   dx += col2im(Wᵀ·dy);   db += Σ dy
 *   conv_transpose2d  image = y, grid = x, W (Cin, K) (PyTorch layout (Cin, Cout, kh, kw)):
 *       y = col2im(Wᵀ·x) + b;  dx += W·cols(dy);  dW += x·cols(dy)ᵀ;       db += Σ dy
 * The grid columns are processed in blocks so that the cols scratch (from the arena) stays near
 * lctw_conv_scratch_floats: a block is either some output rows of one sample (large images), or
 * several whole samples side by side (small images — wider GEMMs; the grid operand is then
 * gathered into a (channels, columns) scratch). 1×1 stride-1 unpadded convs skip im2col.
 * On a CUDA context the same algebra runs in kernels/ops_conv.cu, always in the several-samples
 * form (blocks of whole samples, scratch from the arena, budget 64 × lctw_conv_scratch_floats).
 */
#include <string.h>

#include "../gemm.h"
#include "ops.h"

#define D(t) lctw_tensor_data(t)
#define SCRATCH_DEFAULT ((int64_t)1 << 19)
#define MIN_COLS 32

int64_t lctw_conv_scratch_floats = SCRATCH_DEFAULT;

typedef struct {
    int64_t C, H, W;      /* image: channels, height, width */
    int64_t kh, kw, s, p; /* kernel, stride, padding */
    int64_t Ho, Wo;       /* grid of kernel positions */
    int direct;           /* 1×1, stride 1, no padding: cols = image */
} geom;

typedef struct {
    int64_t G, R;     /* samples per block (G > 1: R = Ho) / grid rows per block (G = 1) */
    int64_t max_cols; /* columns of the widest block */
} plan;

static int64_t geom_k(const geom *g) { return g->C * g->kh * g->kw; }

static plan make_plan(const geom *g, int64_t N) {
    int64_t K = geom_k(g), L = g->Ho * g->Wo;
    int64_t budget = lctw_conv_scratch_floats >= 1 ? lctw_conv_scratch_floats : SCRATCH_DEFAULT;
    int64_t cols = budget / (K > 0 ? K : 1);
    if (cols < MIN_COLS) cols = MIN_COLS;
    plan pl;
    if (cols >= L) {
        pl.G = cols / (L > 0 ? L : 1);
        if (pl.G > N) pl.G = N;
        if (pl.G < 1) pl.G = 1;
        pl.R = g->Ho;
    } else {
        pl.G = 1;
        pl.R = cols / g->Wo;
        if (pl.R < 1) pl.R = 1;
        int64_t nb = (g->Ho + pl.R - 1) / pl.R; /* blocks per sample: spread the rows evenly */
        pl.R = (g->Ho + nb - 1) / nb;
    }
    pl.max_cols = pl.G * pl.R * g->Wo;
    return pl;
}

/* Grid columns ox whose tap kx falls inside the image: [*lo, *hi). */
static void tap_range(const geom *g, int64_t kx, int64_t *lo, int64_t *hi) {
    int64_t a = g->p - kx, b = g->W + g->p - kx;
    int64_t l = a > 0 ? (a + g->s - 1) / g->s : 0, h = b > 0 ? (b + g->s - 1) / g->s : 0;
    if (h > g->Wo) h = g->Wo;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* cols[r][(oy − oy0)·Wo + ox] = img[c][oy·s − p + ky][ox·s − p + kx] (0 outside), r = (c, ky, kx);
 * rows of cols are ld apart. */
static void im2col(const float *img, const geom *g, int64_t oy0, int64_t oy1, float *cols,
                   int64_t ld) {
    const int64_t Wo = g->Wo, s = g->s;
    for (int64_t ci = 0; ci < g->C; ci++)
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++) {
                float *d = cols + ((ci * g->kh + ky) * g->kw + kx) * ld;
                int64_t lo, hi;
                tap_range(g, kx, &lo, &hi);
                for (int64_t oy = oy0; oy < oy1; oy++, d += Wo) {
                    int64_t iy = oy * s - g->p + ky;
                    if (iy < 0 || iy >= g->H || lo == hi) {
                        memset(d, 0, (size_t)Wo * sizeof(float));
                        continue;
                    }
                    const float *row = img + (ci * g->H + iy) * g->W;
                    for (int64_t ox = 0; ox < lo; ox++)
                        d[ox] = 0.0f;
                    if (s == 1) {
                        memcpy(d + lo, row + lo - g->p + kx, (size_t)(hi - lo) * sizeof(float));
                    } else {
                        const float *r = row + lo * s - g->p + kx;
                        for (int64_t ox = lo; ox < hi; ox++, r += s)
                            d[ox] = *r;
                    }
                    for (int64_t ox = hi; ox < Wo; ox++)
                        d[ox] = 0.0f;
                }
            }
}

/* The adjoint of im2col: img[c][oy·s − p + ky][ox·s − p + kx] += cols[r][…] inside the image. */
static void col2im_add(const float *cols, int64_t ld, const geom *g, int64_t oy0, int64_t oy1,
                       float *img) {
    const int64_t Wo = g->Wo, s = g->s;
    for (int64_t ci = 0; ci < g->C; ci++)
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++) {
                const float *d = cols + ((ci * g->kh + ky) * g->kw + kx) * ld;
                int64_t lo, hi;
                tap_range(g, kx, &lo, &hi);
                for (int64_t oy = oy0; oy < oy1; oy++, d += Wo) {
                    int64_t iy = oy * s - g->p + ky;
                    if (iy < 0 || iy >= g->H) continue;
                    float *r = img + (ci * g->H + iy) * g->W + lo * s - g->p + kx;
                    if (s == 1) {
                        for (int64_t ox = lo; ox < hi; ox++)
                            r[ox - lo] += d[ox];
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++, r += s)
                            *r += d[ox];
                    }
                }
            }
}

/* The block of a grid tensor t (N, Cg, L) for samples n0 … n0+gn−1, grid columns off … off+len−1
 * as a (Cg, gn·len) matrix: a pointer into t when gn = 1, else gathered into tmp. */
static const float *grid_block(const float *t, int64_t Cg, int64_t L, int64_t n0, int64_t gn,
                               int64_t off, int64_t len, float *tmp, int64_t *ld) {
    if (gn == 1) {
        *ld = L;
        return t + n0 * Cg * L + off;
    }
    int64_t nc = gn * len;
    for (int64_t gi = 0; gi < gn; gi++)
        for (int64_t ch = 0; ch < Cg; ch++)
            memcpy(tmp + ch * nc + gi * len, t + ((n0 + gi) * Cg + ch) * L + off,
                   (size_t)len * sizeof(float));
    *ld = nc;
    return tmp;
}

/* The inverse of a gathered grid_block: t[n0+gi][ch][off + j] (+)= tmp[ch][gi·len + j] + bias[ch].
 */
static void grid_scatter(float *t, int64_t Cg, int64_t L, int64_t n0, int64_t gn, int64_t off,
                         int64_t len, const float *tmp, const float *bias, int add) {
    int64_t nc = gn * len;
    for (int64_t gi = 0; gi < gn; gi++)
        for (int64_t ch = 0; ch < Cg; ch++) {
            float *d = t + ((n0 + gi) * Cg + ch) * L + off;
            const float *sp = tmp + ch * nc + gi * len;
            float bv = bias ? bias[ch] : 0.0f;
            if (add)
                for (int64_t j = 0; j < len; j++)
                    d[j] += sp[j];
            else
                for (int64_t j = 0; j < len; j++)
                    d[j] = sp[j] + bv;
        }
}

/* db[ch] += Σ_n Σ_l g[n][ch][l] */
static void bias_grad(float *db, const float *g, int64_t N, int64_t C, int64_t L) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            const float *r = g + (n * C + ch) * L;
            float acc = 0.0f;
            for (int64_t l = 0; l < L; l++)
                acc += r[l];
            db[ch] += acc;
        }
}

static lctw_status scratch(lctw_ctx *c, int64_t n, float **p) {
    lctw_tensor *t;
    LCTW_TRY(lctw_arena_tensor(&c->arena, &t, 1, &n));
    *p = D(t);
    return LCTW_OK;
}

/* ---- CUDA ---- */

#define CUDA_SCRATCH_FACTOR 64

static lctw_cu_conv cu_geom(const geom *g) {
    lctw_cu_conv cg = {g->C, g->H, g->W, g->kh, g->kw, g->s, g->p, g->Ho, g->Wo};
    return cg;
}

/* Samples per block for the twins (as many as fit the budget, at least 1) and their scratch:
 * cols (K, gn·L) and the gathered grid operand (Cg, gn·L). */
static lctw_status cuda_scratch(lctw_ctx *c, const geom *g, int64_t N, int64_t Cg, int64_t *gn,
                                float **cols, float **tmp) {
    int64_t base = lctw_conv_scratch_floats >= 1 ? lctw_conv_scratch_floats : SCRATCH_DEFAULT;
    int64_t budget = base * CUDA_SCRATCH_FACTOR, L = g->Ho * g->Wo, per = (geom_k(g) + Cg) * L;
    int64_t n = per > 0 ? budget / per : N;
    if (n > N) n = N;
    if (n < 1) n = 1;
    *gn = n;
    *cols = *tmp = NULL;
    if (N < 1) return LCTW_OK;
    LCTW_TRY(scratch(c, geom_k(g) * n * L, cols));
    return scratch(c, Cg * n * L, tmp);
}

/* The twins' forward: conv2d (transposed = 0: image x, grid y) or conv_transpose2d (image y,
 * grid x). */
static lctw_status conv_fwd_cuda(lctw_ctx *c, const geom *g, const lctw_tensor *x,
                                 const lctw_tensor *w, const lctw_tensor *b, lctw_tensor *y,
                                 int transposed) {
    int64_t N = x->shape[0], Cg = transposed ? x->shape[1] : w->shape[0], gn;
    float *cols, *tmp;
    LCTW_TRY(cuda_scratch(c, g, N, Cg, &gn, &cols, &tmp));
    lctw_cu_conv cg = cu_geom(g);
    const float *bp = b ? D(b) : NULL;
    if (transposed) return lctw_cuda_op_convt_fwd(&cg, D(x), D(w), bp, D(y), N, Cg, gn, cols, tmp);
    return lctw_cuda_op_conv2d_fwd(&cg, D(x), D(w), bp, D(y), N, Cg, gn, cols, tmp);
}

static lctw_status conv_bwd_cuda(lctw_ctx *c, lctw_node *nd, int transposed);

/* One block of grid columns: samples n0 … n0+gn−1, grid rows oy0 … oy1−1. */
typedef struct {
    int64_t n0, gn, oy0, oy1;
} block;

/* Advances *b (zero-initialised before the first call) to the next block; 0 after the last. */
static int next_block(const plan *pl, int64_t N, int64_t Ho, block *b) {
    if (b->gn == 0) {
        b->n0 = b->oy0 = 0;
    } else if ((b->oy0 = b->oy1) >= Ho) {
        b->n0 += b->gn;
        b->oy0 = 0;
    }
    if (b->n0 >= N || Ho < 1) return 0;
    b->gn = N - b->n0 < pl->G ? N - b->n0 : pl->G;
    b->oy1 = b->oy0 + pl->R < Ho ? b->oy0 + pl->R : Ho;
    return 1;
}

/* ---- conv2d ---- */

static geom conv_geom(const lctw_tensor *x, const lctw_tensor *w, int64_t s, int64_t p) {
    geom g = {.C = x->shape[1],
              .H = x->shape[2],
              .W = x->shape[3],
              .kh = w->shape[2],
              .kw = w->shape[3],
              .s = s,
              .p = p};
    g.Ho = (g.H + 2 * p - g.kh) / s + 1;
    g.Wo = (g.W + 2 * p - g.kw) / s + 1;
    g.direct = g.kh == 1 && g.kw == 1 && s == 1 && p == 0;
    return g;
}

static lctw_status conv2d_bwd(lctw_ctx *c, lctw_node *nd) {
    if (lctw_op_cuda(c)) return conv_bwd_cuda(c, nd, 0);
    lctw_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *gy = nd->out->grad, *g;
    geom ge = conv_geom(x, w, nd->ip[0], nd->ip[1]);
    int64_t N = x->shape[0], Cout = w->shape[0], K = geom_k(&ge), L = ge.Ho * ge.Wo;
    int64_t img = ge.C * ge.H * ge.W;
    const float *gyp = D(gy), *xp = D(x), *wp = D(w);
    if (b && b->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, b, &g));
        bias_grad(D(g), gyp, N, Cout, L);
    }
    if (!x->requires_grad && !w->requires_grad) return LCTW_OK;
    float *gx = NULL, *gw = NULL, *cols = NULL, *tmp = NULL;
    if (x->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, x, &g));
        gx = D(g);
    }
    if (w->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, w, &g));
        gw = D(g);
    }
    plan pl = make_plan(&ge, N);
    if (!ge.direct || pl.G > 1) LCTW_TRY(scratch(c, K * pl.max_cols, &cols));
    if (pl.G > 1) LCTW_TRY(scratch(c, Cout * pl.max_cols, &tmp));
    for (block bk = {0}; next_block(&pl, N, ge.Ho, &bk);) {
        int64_t n0 = bk.n0, gn = bk.gn, oy0 = bk.oy0, oy1 = bk.oy1;
        int64_t off = oy0 * ge.Wo, len = (oy1 - oy0) * ge.Wo, nc = gn * len, ldd;
        const float *dy = grid_block(gyp, Cout, L, n0, gn, off, len, tmp, &ldd);
        if (gw) {
            const float *B = cols;
            int64_t ldb = nc;
            if (ge.direct && gn == 1) {
                B = xp + n0 * img + off;
                ldb = L;
            } else {
                for (int64_t gi = 0; gi < gn; gi++)
                    im2col(xp + (n0 + gi) * img, &ge, oy0, oy1, cols + gi * len, nc);
            }
            lctw_sgemm(0, 1, Cout, K, nc, 1.0f, dy, ldd, B, ldb, 1.0f, gw, K);
        }
        if (gx) {
            if (ge.direct && gn == 1) {
                lctw_sgemm(1, 0, K, nc, Cout, 1.0f, wp, K, dy, ldd, 1.0f, gx + n0 * img + off, L);
            } else {
                lctw_sgemm(1, 0, K, nc, Cout, 1.0f, wp, K, dy, ldd, 0.0f, cols, nc);
                for (int64_t gi = 0; gi < gn; gi++)
                    col2im_add(cols + gi * len, nc, &ge, oy0, oy1, gx + (n0 + gi) * img);
            }
        }
    }
    return LCTW_OK;
}

lctw_status lctw_op_conv2d(lctw_ctx *c, lctw_tensor *x, lctw_tensor *w, lctw_tensor *b, int stride,
                           int padding, lctw_tensor **y) {
    lctw_tensor *in[3] = {x, w, b};
    LCTW_TRY(lctw_op_check(c, LCTW_OP_conv2d, 3, in));
    char s1[96], s2[96];
    lctw_tensor_shape_str(s1, sizeof s1, x);
    lctw_tensor_shape_str(s2, sizeof s2, w);
    if (x->ndim != 4 || w->ndim != 4)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "conv2d: input %s must be N×C×H×W and weight %s "
                         "Cout×Cin×kh×kw",
                         s1, s2);
    if (x->shape[1] != w->shape[1])
        return LCTW_FAIL(LCTW_ESHAPE,
                         "conv2d: input %s has %lld channels, weight %s "
                         "(Cout×Cin×kh×kw) expects %lld",
                         s1, (long long)x->shape[1], s2, (long long)w->shape[1]);
    if (stride < 1 || padding < 0)
        return LCTW_FAIL(LCTW_EINVAL, "conv2d: stride %d must be >= 1 and padding %d >= 0", stride,
                         padding);
    if (w->shape[2] < 1 || w->shape[3] < 1 || x->shape[2] + 2 * padding < w->shape[2] ||
        x->shape[3] + 2 * padding < w->shape[3])
        return LCTW_FAIL(LCTW_ESHAPE, "conv2d: weight %s does not fit input %s with padding %d", s2,
                         s1, padding);
    int64_t Cout = w->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != Cout))
        return LCTW_FAIL(LCTW_ESHAPE, "conv2d: bias %s, expected %lld (weight %s)",
                         lctw_tensor_shape_str(s1, sizeof s1, b), (long long)Cout, s2);
    geom ge = conv_geom(x, w, stride, padding);
    int64_t N = x->shape[0], K = geom_k(&ge), L = ge.Ho * ge.Wo, img = ge.C * ge.H * ge.W;
    int64_t shape[4] = {N, Cout, ge.Ho, ge.Wo};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 4, shape));
    const float *xp = D(x), *wp = D(w), *bp = b ? D(b) : NULL;
    float *yp = D(*y), *cols = NULL, *tmp = NULL;
    if (lctw_op_cuda(c)) {
        LCTW_TRY(conv_fwd_cuda(c, &ge, x, w, b, *y, 0));
    } else {
        plan pl = make_plan(&ge, N);
        if (!ge.direct || pl.G > 1) LCTW_TRY(scratch(c, K * pl.max_cols, &cols));
        if (pl.G > 1) LCTW_TRY(scratch(c, Cout * pl.max_cols, &tmp));
        for (block bk = {0}; next_block(&pl, N, ge.Ho, &bk);) {
            int64_t n0 = bk.n0, gn = bk.gn, oy0 = bk.oy0, oy1 = bk.oy1;
            int64_t off = oy0 * ge.Wo, len = (oy1 - oy0) * ge.Wo, nc = gn * len;
            const float *B = cols;
            int64_t ldb = nc;
            if (ge.direct && gn == 1) {
                B = xp + n0 * img + off;
                ldb = L;
            } else {
                for (int64_t gi = 0; gi < gn; gi++)
                    im2col(xp + (n0 + gi) * img, &ge, oy0, oy1, cols + gi * len, nc);
            }
            if (gn == 1) {
                float *Y = yp + n0 * Cout * L + off;
                if (bp)
                    for (int64_t co = 0; co < Cout; co++)
                        for (int64_t j = 0; j < len; j++)
                            Y[co * L + j] = bp[co];
                lctw_sgemm(0, 0, Cout, nc, K, 1.0f, wp, K, B, ldb, bp ? 1.0f : 0.0f, Y, L);
            } else {
                lctw_sgemm(0, 0, Cout, nc, K, 1.0f, wp, K, B, ldb, 0.0f, tmp, nc);
                grid_scatter(yp, Cout, L, n0, gn, off, len, tmp, bp, 0);
            }
        }
    }
    if (lctw_needs_grad(c, 3, in)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_conv2d, conv2d_bwd, 3, in, *y, &nd));
        nd->ip[0] = stride;
        nd->ip[1] = padding;
    }
    return LCTW_OK;
}

/* ---- conv_transpose2d ---- */

/* The geometry seen from the output y (the image) with x as the grid. */
static geom convt_geom(const lctw_tensor *x, const lctw_tensor *w, int64_t s, int64_t p) {
    geom g = {.C = w->shape[1],
              .kh = w->shape[2],
              .kw = w->shape[3],
              .s = s,
              .p = p,
              .Ho = x->shape[2],
              .Wo = x->shape[3]};
    g.H = (g.Ho - 1) * s - 2 * p + g.kh;
    g.W = (g.Wo - 1) * s - 2 * p + g.kw;
    g.direct = g.kh == 1 && g.kw == 1 && s == 1 && p == 0;
    return g;
}

/* The twins' backward of conv2d (transposed = 0) and conv_transpose2d (1). */
static lctw_status conv_bwd_cuda(lctw_ctx *c, lctw_node *nd, int transposed) {
    lctw_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *g;
    geom ge = transposed ? convt_geom(x, w, nd->ip[0], nd->ip[1])
                         : conv_geom(x, w, nd->ip[0], nd->ip[1]);
    float *gx = NULL, *gw = NULL, *gb = NULL, *cols = NULL, *tmp = NULL;
    if (x->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, x, &g));
        gx = D(g);
    }
    if (w->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, w, &g));
        gw = D(g);
    }
    if (b && b->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, b, &g));
        gb = D(g);
    }
    int64_t N = x->shape[0], Cg = transposed ? x->shape[1] : w->shape[0], gn = 1;
    if (gx || gw) LCTW_TRY(cuda_scratch(c, &ge, N, Cg, &gn, &cols, &tmp));
    lctw_cu_conv cg = cu_geom(&ge);
    const float *gy = D(nd->out->grad);
    if (transposed)
        return lctw_cuda_op_convt_bwd(&cg, D(x), D(w), gy, gx, gw, gb, N, Cg, gn, cols, tmp);
    return lctw_cuda_op_conv2d_bwd(&cg, D(x), D(w), gy, gx, gw, gb, N, Cg, gn, cols, tmp);
}

static lctw_status convt_bwd(lctw_ctx *c, lctw_node *nd) {
    if (lctw_op_cuda(c)) return conv_bwd_cuda(c, nd, 1);
    lctw_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *gy = nd->out->grad, *g;
    geom ge = convt_geom(x, w, nd->ip[0], nd->ip[1]);
    int64_t N = x->shape[0], Cin = x->shape[1], K = geom_k(&ge), L = ge.Ho * ge.Wo;
    int64_t img = ge.C * ge.H * ge.W;
    const float *gyp = D(gy), *xp = D(x), *wp = D(w);
    if (b && b->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, b, &g));
        bias_grad(D(g), gyp, N, ge.C, ge.H * ge.W);
    }
    if (!x->requires_grad && !w->requires_grad) return LCTW_OK;
    float *gx = NULL, *gw = NULL, *cols = NULL, *tmp = NULL;
    if (x->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, x, &g));
        gx = D(g);
    }
    if (w->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, w, &g));
        gw = D(g);
    }
    plan pl = make_plan(&ge, N);
    if (!ge.direct || pl.G > 1) LCTW_TRY(scratch(c, K * pl.max_cols, &cols));
    if (pl.G > 1) LCTW_TRY(scratch(c, Cin * pl.max_cols, &tmp));
    for (block bk = {0}; next_block(&pl, N, ge.Ho, &bk);) {
        int64_t n0 = bk.n0, gn = bk.gn, oy0 = bk.oy0, oy1 = bk.oy1;
        int64_t off = oy0 * ge.Wo, len = (oy1 - oy0) * ge.Wo, nc = gn * len;
        const float *dc = cols; /* cols(dy) of the block, (K, nc) */
        int64_t ldc = nc;
        if (ge.direct && gn == 1) {
            dc = gyp + n0 * img + off;
            ldc = L;
        } else {
            for (int64_t gi = 0; gi < gn; gi++)
                im2col(gyp + (n0 + gi) * img, &ge, oy0, oy1, cols + gi * len, nc);
        }
        if (gx) {
            if (gn == 1) {
                lctw_sgemm(0, 0, Cin, nc, K, 1.0f, wp, K, dc, ldc, 1.0f, gx + n0 * Cin * L + off,
                           L);
            } else {
                lctw_sgemm(0, 0, Cin, nc, K, 1.0f, wp, K, dc, ldc, 0.0f, tmp, nc);
                grid_scatter(gx, Cin, L, n0, gn, off, len, tmp, NULL, 1);
            }
        }
        if (gw) {
            int64_t ldx;
            const float *X = grid_block(xp, Cin, L, n0, gn, off, len, tmp, &ldx);
            lctw_sgemm(0, 1, Cin, K, nc, 1.0f, X, ldx, dc, ldc, 1.0f, gw, K);
        }
    }
    return LCTW_OK;
}

lctw_status lctw_op_conv_transpose2d(lctw_ctx *c, lctw_tensor *x, lctw_tensor *w, lctw_tensor *b,
                                     int stride, int padding, lctw_tensor **y) {
    lctw_tensor *in[3] = {x, w, b};
    LCTW_TRY(lctw_op_check(c, LCTW_OP_conv_transpose2d, 3, in));
    char s1[96], s2[96];
    lctw_tensor_shape_str(s1, sizeof s1, x);
    lctw_tensor_shape_str(s2, sizeof s2, w);
    if (x->ndim != 4 || w->ndim != 4)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "conv_transpose2d: input %s must be N×C×H×W and weight %s "
                         "Cin×Cout×kh×kw",
                         s1, s2);
    if (x->shape[1] != w->shape[0])
        return LCTW_FAIL(LCTW_ESHAPE,
                         "conv_transpose2d: input %s has %lld channels, weight %s "
                         "(Cin×Cout×kh×kw) expects %lld",
                         s1, (long long)x->shape[1], s2, (long long)w->shape[0]);
    if (stride < 1 || padding < 0)
        return LCTW_FAIL(LCTW_EINVAL,
                         "conv_transpose2d: stride %d must be >= 1 and padding %d "
                         ">= 0",
                         stride, padding);
    geom ge = convt_geom(x, w, stride, padding);
    if (w->shape[2] < 1 || w->shape[3] < 1 || ge.H < 1 || ge.W < 1)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "conv_transpose2d: input %s with weight %s, stride %d and "
                         "padding %d gives an empty output (%lld×%lld)",
                         s1, s2, stride, padding, (long long)ge.H, (long long)ge.W);
    int64_t Cout = ge.C;
    if (b && (b->ndim != 1 || b->shape[0] != Cout))
        return LCTW_FAIL(LCTW_ESHAPE, "conv_transpose2d: bias %s, expected %lld (weight %s)",
                         lctw_tensor_shape_str(s1, sizeof s1, b), (long long)Cout, s2);
    int64_t N = x->shape[0], Cin = x->shape[1], K = geom_k(&ge), L = ge.Ho * ge.Wo;
    int64_t HW = ge.H * ge.W, img = Cout * HW;
    int64_t shape[4] = {N, Cout, ge.H, ge.W};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 4, shape));
    const float *xp = D(x), *wp = D(w), *bp = b ? D(b) : NULL;
    float *yp = D(*y), *cols = NULL, *tmp = NULL;
    if (lctw_op_cuda(c)) {
        LCTW_TRY(conv_fwd_cuda(c, &ge, x, w, b, *y, 1));
    } else {
        for (int64_t n = 0; n < N; n++)
            for (int64_t co = 0; co < Cout; co++) {
                float *r = yp + (n * Cout + co) * HW, bv = bp ? bp[co] : 0.0f;
                for (int64_t j = 0; j < HW; j++)
                    r[j] = bv;
            }
        plan pl = make_plan(&ge, N);
        if (!ge.direct || pl.G > 1) LCTW_TRY(scratch(c, K * pl.max_cols, &cols));
        if (pl.G > 1) LCTW_TRY(scratch(c, Cin * pl.max_cols, &tmp));
        for (block bk = {0}; next_block(&pl, N, ge.Ho, &bk);) {
            int64_t n0 = bk.n0, gn = bk.gn, oy0 = bk.oy0, oy1 = bk.oy1;
            int64_t off = oy0 * ge.Wo, len = (oy1 - oy0) * ge.Wo, nc = gn * len, ldx;
            const float *X = grid_block(xp, Cin, L, n0, gn, off, len, tmp, &ldx);
            if (ge.direct && gn == 1) {
                lctw_sgemm(1, 0, K, nc, Cin, 1.0f, wp, K, X, ldx, 1.0f, yp + n0 * img + off, L);
            } else {
                lctw_sgemm(1, 0, K, nc, Cin, 1.0f, wp, K, X, ldx, 0.0f, cols, nc);
                for (int64_t gi = 0; gi < gn; gi++)
                    col2im_add(cols + gi * len, nc, &ge, oy0, oy1, yp + (n0 + gi) * img);
            }
        }
    }
    if (lctw_needs_grad(c, 3, in)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_conv_transpose2d, convt_bwd, 3, in, *y, &nd));
        nd->ip[0] = stride;
        nd->ip[1] = padding;
    }
    return LCTW_OK;
}
