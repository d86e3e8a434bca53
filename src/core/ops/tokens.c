/* tokens.c — layout and broadcast ops of the DiT and the U-Net blocks, with backward (CPU):
 * split_heads / merge_heads (timm's qkv reshape-permute and its inverse), chunk (torch.chunk of
 * the adaLN / FiLM projections), modulate (adaLN x·(1 + scale) + shift, FiLM h·(scale + 1) +
 * shift), gate_add (adaLN-Zero residual x + gate ⊙ y), patchify / unpatchify (DiT §2B).
 *
 * Permutation ops copy in forward and scatter-add in backward through one static function per
 * op with a direction flag, so both directions share the index arithmetic. On a CUDA context
 * each of those functions has a twin with the same arguments (kernels/ops_attn.cu for the heads
 * copies, kernels/ops_misc.cu for the rest), and modulate / gate_add have forward and backward
 * twins.
 */
#include "ops.h"
#include "vec.h"

#define D(t) ((t) ? lctw_tensor_data(t) : NULL)

/* ---- split_heads / merge_heads ---- */

/* tok (B, T, n, H, dh) part `part` ↔ hd (B, H, T, dh); `to_heads` picks the direction, `add`
 * accumulates instead of assigning. split: forward (1, 0), backward (0, 1);
 * merge (n = 1): forward (0, 0), backward (1, 1). */
static void heads_copy(float *tok, float *hd, int64_t B, int64_t T, int64_t n, int64_t part,
                       int64_t H, int64_t dh, int to_heads, int add) {
    int64_t Dm = H * dh;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                float *tr = tok + (b * T + t) * n * Dm + part * Dm + h * dh;
                float *hr = hd + ((b * H + h) * T + t) * dh;
                float *dst = to_heads ? hr : tr;
                const float *src = to_heads ? tr : hr;
                if (add)
                    for (int64_t d = 0; d < dh; d++)
                        dst[d] += src[d];
                else
                    for (int64_t d = 0; d < dh; d++)
                        dst[d] = src[d];
            }
}

static lctw_status split_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *g, *y = nd->out;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    if (lctw_op_cuda(c))
        return lctw_cuda_op_heads_copy(D(g), D(y->grad), y->shape[0], y->shape[2], nd->ip[0],
                                       nd->ip[1], y->shape[1], y->shape[3], 0, 1);
    heads_copy(D(g), D(y->grad), y->shape[0], y->shape[2], nd->ip[0], nd->ip[1], y->shape[1],
               y->shape[3], 0, 1);
    return LCTW_OK;
}

lctw_status lctw_op_split_heads(lctw_ctx *c, lctw_tensor *x, int64_t n, int64_t part, int64_t heads,
                                lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_split_heads, 1, &x));
    char s1[96];
    if (x->ndim != 3 || n <= 0 || x->shape[2] % n)
        return LCTW_FAIL(LCTW_ESHAPE, "split_heads: input %s, expected (B, T, %lld·D)",
                         lctw_tensor_shape_str(s1, sizeof s1, x), (long long)n);
    int64_t Dm = x->shape[2] / n;
    if (part < 0 || part >= n)
        return LCTW_FAIL(LCTW_EINDEX, "split_heads: part %lld out of range 0..%lld",
                         (long long)part, (long long)(n - 1));
    if (heads <= 0 || Dm % heads)
        return LCTW_FAIL(LCTW_ESHAPE, "split_heads: width %lld does not split into %lld heads",
                         (long long)Dm, (long long)heads);
    int64_t B = x->shape[0], T = x->shape[1], dh = Dm / heads, ys[4] = {B, heads, T, dh};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 4, ys));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_heads_copy(D(x), D(*y), B, T, n, part, heads, dh, 1, 0));
    else
        heads_copy(D(x), D(*y), B, T, n, part, heads, dh, 1, 0);
    if (lctw_needs_grad(c, 1, &x)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_split_heads, split_backward, 1, &x, *y, &nd));
        nd->ip[0] = n;
        nd->ip[1] = part;
    }
    return LCTW_OK;
}

static lctw_status merge_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *g;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    if (lctw_op_cuda(c))
        return lctw_cuda_op_heads_copy(D(nd->out->grad), D(g), x->shape[0], x->shape[2], 1, 0,
                                       x->shape[1], x->shape[3], 1, 1);
    heads_copy(D(nd->out->grad), D(g), x->shape[0], x->shape[2], 1, 0, x->shape[1], x->shape[3], 1,
               1);
    return LCTW_OK;
}

lctw_status lctw_op_merge_heads(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_merge_heads, 1, &x));
    char s1[96];
    if (x->ndim != 4)
        return LCTW_FAIL(LCTW_ESHAPE, "merge_heads: input %s, expected (B, H, T, dh)",
                         lctw_tensor_shape_str(s1, sizeof s1, x));
    int64_t B = x->shape[0], H = x->shape[1], T = x->shape[2], dh = x->shape[3];
    int64_t ys[3] = {B, T, H * dh};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 3, ys));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_heads_copy(D(*y), D(x), B, T, 1, 0, H, dh, 0, 0));
    else
        heads_copy(D(*y), D(x), B, T, 1, 0, H, dh, 0, 0);
    if (lctw_needs_grad(c, 1, &x))
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_merge_heads, merge_backward, 1, &x, *y, NULL));
    return LCTW_OK;
}

/* ---- chunk ---- */

/* x viewed as (O, S, I), part i of n along S (size s = S/n): y (O, s, I). */
static void chunk_copy(float *x, float *y, int64_t O, int64_t S, int64_t I, int64_t s, int64_t i,
                       int to_part) {
    for (int64_t o = 0; o < O; o++) {
        float *xr = x + (o * S + i * s) * I, *yr = y + o * s * I;
        if (to_part)
            for (int64_t k = 0; k < s * I; k++)
                yr[k] = xr[k];
        else
            for (int64_t k = 0; k < s * I; k++)
                xr[k] += yr[k];
    }
}

static void chunk_dims(const lctw_tensor *x, int dim, int64_t *O, int64_t *S, int64_t *I) {
    *O = lctw_shape_numel(dim, x->shape);
    *S = x->shape[dim];
    *I = lctw_shape_numel(x->ndim - dim - 1, x->shape + dim + 1);
}

static lctw_status chunk_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *g;
    int64_t O, S, I;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    chunk_dims(x, (int)nd->ip[0], &O, &S, &I);
    if (lctw_op_cuda(c))
        return lctw_cuda_op_chunk_copy(D(g), D(nd->out->grad), O, S, I, S / nd->ip[1], nd->ip[2], 0);
    chunk_copy(D(g), D(nd->out->grad), O, S, I, S / nd->ip[1], nd->ip[2], 0);
    return LCTW_OK;
}

lctw_status lctw_op_chunk(lctw_ctx *c, lctw_tensor *x, int dim, int64_t n, int64_t i,
                          lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_chunk, 1, &x));
    char s1[96];
    if (dim < 0 || dim >= x->ndim)
        return LCTW_FAIL(LCTW_EINDEX, "chunk: dim %d out of range for input %s (0-based)", dim,
                         lctw_tensor_shape_str(s1, sizeof s1, x));
    if (n <= 0 || x->shape[dim] % n)
        return LCTW_FAIL(LCTW_ESHAPE, "chunk: size %lld of dim %d of %s does not split into %lld",
                         (long long)x->shape[dim], dim, lctw_tensor_shape_str(s1, sizeof s1, x),
                         (long long)n);
    if (i < 0 || i >= n)
        return LCTW_FAIL(LCTW_EINDEX, "chunk: part %lld out of range 0..%lld", (long long)i,
                         (long long)(n - 1));
    int64_t O, S, I, ys[LCTW_MAX_DIMS];
    chunk_dims(x, dim, &O, &S, &I);
    for (int d = 0; d < x->ndim; d++)
        ys[d] = x->shape[d];
    ys[dim] = S / n;
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, x->ndim, ys));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_chunk_copy(D(x), D(*y), O, S, I, S / n, i, 1));
    else
        chunk_copy(D(x), D(*y), O, S, I, S / n, i, 1);
    if (lctw_needs_grad(c, 1, &x)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_chunk, chunk_backward, 1, &x, *y, &nd));
        nd->ip[0] = dim;
        nd->ip[1] = n;
        nd->ip[2] = i;
    }
    return LCTW_OK;
}

/* ---- per-(sample, feature) broadcasts: modulate, gate_add ---- */

/* x viewed as (B, R, F, I) against a (B, F) parameter: tokens (B, T, D) → R = T, I = 1;
 * images (B, C, H, W) → R = 1, I = H·W; (B, D) → R = I = 1. */
typedef struct {
    int64_t B, R, F, I;
} bgeom;

static lctw_status bcast_geom(int op, const lctw_tensor *x, const lctw_tensor *p, const char *pname,
                              bgeom *g) {
    char s1[96], s2[96];
    switch (x->ndim) {
    case 2: *g = (bgeom){x->shape[0], 1, x->shape[1], 1}; break;
    case 3: *g = (bgeom){x->shape[0], x->shape[1], x->shape[2], 1}; break;
    case 4: *g = (bgeom){x->shape[0], 1, x->shape[1], x->shape[2] * x->shape[3]}; break;
    default:
        return LCTW_FAIL(LCTW_ESHAPE, "%s: input %s, expected (B, D), (B, T, D) or (B, C, H, W)",
                         lctw_op_name(op), lctw_tensor_shape_str(s1, sizeof s1, x));
    }
    if (p && (p->ndim != 2 || p->shape[0] != g->B || p->shape[1] != g->F))
        return LCTW_FAIL(LCTW_ESHAPE, "%s: %s has shape %s, expected %lld×%lld for input %s",
                         lctw_op_name(op), pname, lctw_tensor_shape_str(s1, sizeof s1, p),
                         (long long)g->B, (long long)g->F, lctw_tensor_shape_str(s2, sizeof s2, x));
    return LCTW_OK;
}

/* y = x·(1 + sc) + sh; sh or sc may be NULL */
static void modulate_fwd(const float *x, const float *sh, const float *sc, float *y,
                         const bgeom *g) {
    int64_t F = g->F, I = g->I;
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t r = 0; r < g->R; r++) {
            const float *xr = x + (b * g->R + r) * F * I;
            float *yr = y + (b * g->R + r) * F * I;
            const float *shb = sh ? sh + b * F : NULL, *scb = sc ? sc + b * F : NULL;
            if (I == 1 && shb && scb) {
                for (int64_t f = 0; f < F; f++)
                    yr[f] = xr[f] * (1.0f + scb[f]) + shb[f];
                continue;
            }
            for (int64_t f = 0; f < F; f++) {
                float a = scb ? 1.0f + scb[f] : 1.0f, s = shb ? shb[f] : 0.0f;
                for (int64_t i = 0; i < I; i++)
                    yr[f * I + i] = xr[f * I + i] * a + s;
            }
        }
}

/* dx += dy·(1 + sc); dsh += Σ dy; dsc += Σ dy·x (over R, I); outputs may be NULL */
static void modulate_bwd(const float *x, const float *sc, const float *dy, float *dx, float *dsh,
                         float *dsc, const bgeom *g) {
    int64_t F = g->F, I = g->I;
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t r = 0; r < g->R; r++) {
            int64_t o = (b * g->R + r) * F * I;
            const float *xr = x + o, *gr = dy + o, *scb = sc ? sc + b * F : NULL;
            float *dshb = dsh ? dsh + b * F : NULL, *dscb = dsc ? dsc + b * F : NULL;
            if (I == 1) {
                if (dx) {
                    float *dxr = dx + o;
                    if (scb)
                        for (int64_t f = 0; f < F; f++)
                            dxr[f] += gr[f] * (1.0f + scb[f]);
                    else
                        for (int64_t f = 0; f < F; f++)
                            dxr[f] += gr[f];
                }
                if (dshb)
                    for (int64_t f = 0; f < F; f++)
                        dshb[f] += gr[f];
                if (dscb)
                    for (int64_t f = 0; f < F; f++)
                        dscb[f] += gr[f] * xr[f];
                continue;
            }
            for (int64_t f = 0; f < F; f++) {
                const float *xf = xr + f * I, *gf = gr + f * I;
                float a = scb ? 1.0f + scb[f] : 1.0f;
                if (dx) {
                    float *dxf = dx + o + f * I;
                    for (int64_t i = 0; i < I; i++)
                        dxf[i] += gf[i] * a;
                }
                if (dshb) dshb[f] += (float)vec_sum(gf, I);
                if (dscb) dscb[f] += (float)vec_dot(gf, xf, I);
            }
        }
}

static lctw_status grad_ptr(lctw_ctx *c, lctw_tensor *t, float **p) {
    *p = NULL;
    if (!t || !t->requires_grad) return LCTW_OK;
    lctw_tensor *g;
    LCTW_TRY(lctw_grad_of(c, t, &g));
    *p = D(g);
    return LCTW_OK;
}

static lctw_status modulate_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *sh = nd->in[1], *sc = nd->in[2];
    float *dx, *dsh, *dsc;
    LCTW_TRY(grad_ptr(c, x, &dx));
    LCTW_TRY(grad_ptr(c, sh, &dsh));
    LCTW_TRY(grad_ptr(c, sc, &dsc));
    bgeom g = {nd->ip[0], nd->ip[1], nd->ip[2], nd->ip[3]};
    if (lctw_op_cuda(c))
        return lctw_cuda_op_modulate_bwd(D(x), D(sc), D(nd->out->grad), dx, dsh, dsc, g.B, g.R, g.F,
                                         g.I);
    modulate_bwd(D(x), D(sc), D(nd->out->grad), dx, dsh, dsc, &g);
    return LCTW_OK;
}

lctw_status lctw_op_modulate(lctw_ctx *c, lctw_tensor *x, lctw_tensor *shift, lctw_tensor *scale,
                             lctw_tensor **y) {
    lctw_tensor *in[3] = {x, shift, scale};
    LCTW_TRY(lctw_op_check(c, LCTW_OP_modulate, 3, in));
    bgeom g;
    LCTW_TRY(bcast_geom(LCTW_OP_modulate, x, shift, "shift", &g));
    LCTW_TRY(bcast_geom(LCTW_OP_modulate, x, scale, "scale", &g));
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, x->ndim, x->shape));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_modulate_fwd(D(x), D(shift), D(scale), D(*y), g.B, g.R, g.F, g.I));
    else
        modulate_fwd(D(x), D(shift), D(scale), D(*y), &g);
    if (lctw_needs_grad(c, 3, in)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_modulate, modulate_backward, 3, in, *y, &nd));
        nd->ip[0] = g.B;
        nd->ip[1] = g.R;
        nd->ip[2] = g.F;
        nd->ip[3] = g.I;
    }
    return LCTW_OK;
}

/* out = x + gate ⊙ y */
static void gate_fwd(const float *x, const float *gate, const float *y, float *out,
                     const bgeom *g) {
    int64_t F = g->F, I = g->I;
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t r = 0; r < g->R; r++) {
            int64_t o = (b * g->R + r) * F * I;
            const float *gb = gate + b * F;
            if (I == 1) {
                for (int64_t f = 0; f < F; f++)
                    out[o + f] = x[o + f] + gb[f] * y[o + f];
                continue;
            }
            for (int64_t f = 0; f < F; f++)
                for (int64_t i = 0; i < I; i++)
                    out[o + f * I + i] = x[o + f * I + i] + gb[f] * y[o + f * I + i];
        }
}

/* dx += dout; dy += dout·gate; dgate += Σ dout·y */
static void gate_bwd(const float *gate, const float *y, const float *dout, float *dx, float *dgate,
                     float *dy, const bgeom *g) {
    int64_t F = g->F, I = g->I, n = g->B * g->R * F * I;
    if (dx)
        for (int64_t k = 0; k < n; k++)
            dx[k] += dout[k];
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t r = 0; r < g->R; r++) {
            int64_t o = (b * g->R + r) * F * I;
            const float *gb = gate + b * F;
            float *dgb = dgate ? dgate + b * F : NULL;
            if (I == 1) {
                if (dy)
                    for (int64_t f = 0; f < F; f++)
                        dy[o + f] += dout[o + f] * gb[f];
                if (dgb)
                    for (int64_t f = 0; f < F; f++)
                        dgb[f] += dout[o + f] * y[o + f];
                continue;
            }
            for (int64_t f = 0; f < F; f++) {
                const float *df = dout + o + f * I, *yf = y + o + f * I;
                if (dy)
                    for (int64_t i = 0; i < I; i++)
                        dy[o + f * I + i] += df[i] * gb[f];
                if (dgb) dgb[f] += (float)vec_dot(df, yf, I);
            }
        }
}

static lctw_status gate_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *gate = nd->in[1], *y = nd->in[2];
    float *dx, *dg, *dy;
    LCTW_TRY(grad_ptr(c, x, &dx));
    LCTW_TRY(grad_ptr(c, gate, &dg));
    LCTW_TRY(grad_ptr(c, y, &dy));
    bgeom g = {nd->ip[0], nd->ip[1], nd->ip[2], nd->ip[3]};
    if (lctw_op_cuda(c))
        return lctw_cuda_op_gate_bwd(D(gate), D(y), D(nd->out->grad), dx, dg, dy, g.B, g.R, g.F,
                                     g.I);
    gate_bwd(D(gate), D(y), D(nd->out->grad), dx, dg, dy, &g);
    return LCTW_OK;
}

lctw_status lctw_op_gate_add(lctw_ctx *c, lctw_tensor *x, lctw_tensor *gate, lctw_tensor *y,
                             lctw_tensor **out) {
    lctw_tensor *in[3] = {x, gate, y};
    LCTW_TRY(lctw_op_check(c, LCTW_OP_gate_add, 3, in));
    if (!x || !gate || !y)
        return LCTW_FAIL(LCTW_EINVAL, "gate_add: x, gate and y are all required");
    LCTW_TRY(lctw_op_same_shape(LCTW_OP_gate_add, x, y));
    bgeom g;
    LCTW_TRY(bcast_geom(LCTW_OP_gate_add, x, gate, "gate", &g));
    LCTW_TRY(lctw_arena_tensor(&c->arena, out, x->ndim, x->shape));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_gate_fwd(D(x), D(gate), D(y), D(*out), g.B, g.R, g.F, g.I));
    else
        gate_fwd(D(x), D(gate), D(y), D(*out), &g);
    if (lctw_needs_grad(c, 3, in)) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_gate_add, gate_backward, 3, in, *out, &nd));
        nd->ip[0] = g.B;
        nd->ip[1] = g.R;
        nd->ip[2] = g.F;
        nd->ip[3] = g.I;
    }
    return LCTW_OK;
}

/* ---- patchify / unpatchify ---- */

/* img (B, C, gh·p, gw·p) ↔ tok (B, gh·gw, C·p·p). Within a token, element (c, i, j) sits at
 * (c·p + i)·p + j when cpp (patchify, Conv2d weight order), else at (i·p + j)·C + c (DiT's
 * unpatchify einsum). to_tok picks the direction; add accumulates. */
static void patch_copy(float *img, float *tok, int64_t B, int64_t C, int64_t gh, int64_t gw,
                       int64_t p, int cpp, int to_tok, int add) {
    int64_t W = gw * p, H = gh * p, P = C * p * p, T = gh * gw;
    for (int64_t b = 0; b < B; b++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t hh = 0; hh < gh; hh++)
                for (int64_t i = 0; i < p; i++) {
                    float *ir = img + ((b * C + ch) * H + hh * p + i) * W;
                    for (int64_t ww = 0; ww < gw; ww++) {
                        float *tr = tok + (b * T + hh * gw + ww) * P;
                        float *ip = ir + ww * p;
                        if (cpp) {
                            float *tp = tr + (ch * p + i) * p;
                            for (int64_t j = 0; j < p; j++) {
                                float *dst = to_tok ? tp + j : ip + j;
                                float v = to_tok ? ip[j] : tp[j];
                                *dst = add ? *dst + v : v;
                            }
                        } else {
                            float *tp = tr + i * p * C + ch;
                            for (int64_t j = 0; j < p; j++) {
                                float *dst = to_tok ? tp + j * C : ip + j;
                                float v = to_tok ? ip[j] : tp[j * C];
                                *dst = add ? *dst + v : v;
                            }
                        }
                    }
                }
}

/* ip: p, gh, gw, C, cpp */
static lctw_status patch_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *g;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    int patchify = nd->op == LCTW_OP_patchify;
    float *img = patchify ? D(g) : D(nd->out->grad), *tok = patchify ? D(nd->out->grad) : D(g);
    if (lctw_op_cuda(c))
        return lctw_cuda_op_patch_copy(img, tok, x->shape[0], nd->ip[3], nd->ip[1], nd->ip[2],
                                       nd->ip[0], (int)nd->ip[4], !patchify, 1);
    patch_copy(img, tok, x->shape[0], nd->ip[3], nd->ip[1], nd->ip[2], nd->ip[0], (int)nd->ip[4],
               !patchify, 1);
    return LCTW_OK;
}

static lctw_status patch_record(lctw_ctx *c, int op, lctw_tensor *x, lctw_tensor *y, int64_t p,
                                int64_t gh, int64_t gw, int64_t C) {
    if (!lctw_needs_grad(c, 1, &x)) return LCTW_OK;
    lctw_node *nd;
    LCTW_TRY(lctw_tape_push(c, op, patch_backward, 1, &x, y, &nd));
    nd->ip[0] = p;
    nd->ip[1] = gh;
    nd->ip[2] = gw;
    nd->ip[3] = C;
    nd->ip[4] = op == LCTW_OP_patchify;
    return LCTW_OK;
}

lctw_status lctw_op_patchify(lctw_ctx *c, lctw_tensor *x, int64_t p, lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_patchify, 1, &x));
    char s1[96];
    if (x->ndim != 4 || p <= 0 || x->shape[2] % p || x->shape[3] % p)
        return LCTW_FAIL(LCTW_ESHAPE,
                         "patchify: input %s, expected (B, C, H, W) with H and W multiples of the "
                         "patch size %lld",
                         lctw_tensor_shape_str(s1, sizeof s1, x), (long long)p);
    int64_t B = x->shape[0], C = x->shape[1], gh = x->shape[2] / p, gw = x->shape[3] / p;
    int64_t ys[3] = {B, gh * gw, C * p * p};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 3, ys));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_patch_copy(D(x), D(*y), B, C, gh, gw, p, 1, 1, 0));
    else
        patch_copy(D(x), D(*y), B, C, gh, gw, p, 1, 1, 0);
    return patch_record(c, LCTW_OP_patchify, x, *y, p, gh, gw, C);
}

lctw_status lctw_op_unpatchify(lctw_ctx *c, lctw_tensor *x, int64_t p, int64_t gh,
                               lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_unpatchify, 1, &x));
    char s1[96];
    if (x->ndim != 3 || p <= 0 || x->shape[2] % (p * p))
        return LCTW_FAIL(LCTW_ESHAPE,
                         "unpatchify: input %s, expected (B, T, p·p·C) with patch size %lld",
                         lctw_tensor_shape_str(s1, sizeof s1, x), (long long)p);
    int64_t B = x->shape[0], T = x->shape[1], C = x->shape[2] / (p * p);
    if (gh == 0) {
        gh = 1;
        while ((gh + 1) * (gh + 1) <= T)
            gh++;
        if (gh * gh != T)
            return LCTW_FAIL(LCTW_ESHAPE, "unpatchify: %lld tokens do not form a square grid",
                             (long long)T);
    }
    if (gh < 0 || T % gh)
        return LCTW_FAIL(LCTW_ESHAPE, "unpatchify: %lld tokens do not form %lld rows", (long long)T,
                         (long long)gh);
    int64_t gw = T / gh, ys[4] = {B, C, gh * p, gw * p};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 4, ys));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_patch_copy(D(*y), D(x), B, C, gh, gw, p, 0, 0, 0));
    else
        patch_copy(D(*y), D(x), B, C, gh, gw, p, 0, 0, 0);
    return patch_record(c, LCTW_OP_unpatchify, x, *y, p, gh, gw, C);
}
