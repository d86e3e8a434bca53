/* attention.c — softmax over the last dim and scaled dot-product self-attention with backward
 * (CPU reference, GEMM per (batch, head) through lctw_sgemm).
 *
 * Per (batch, head), with Q (Tq×dh), K (Tk×dh), V (Tk×dv) and s = 1/√dh:
 *   P = softmax_rows(s·Q Kᵀ),  O = P V                          (fp32, max-subtracted)
 * backward, given dO:
 *   dP = dO Vᵀ,  dV += Pᵀ dO,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ += s·dS K,  dK += s·dSᵀ Q
 * When the op is recorded, P is saved for backward (B·heads·Tq·Tk floats): backward is four
 * GEMMs per head (twice the forward) with no recomputation. Without recording, P is one head's
 * Tq×Tk scratch.
 *
 * The three front ends differ only in where Q, K, V, O live, described by `mat` (a pointer,
 * a row stride and whether the logical matrix is stored transposed), so no layout is ever
 * copied: the DiT qkv (B, T, 3, heads, dh) has Q rows of stride 3D; the EDM U-Net qkv
 * (B·heads, dc, 3, HW) stores Q as dc×HW, i.e. Qᵀ with row stride 3·HW (ALGORITHM.md §2A/§2B).
 *
 * On a CUDA context (kernels/ops_attn.cu) the products are strided-batched cuBLAS GEMMs over all
 * heads at once, the fused layouts repacked into per-head scratch; P is then always the full
 * (B·heads, Tq, Tk), with or without recording.
 */
#include <math.h>

#include "../gemm.h"
#include "ops.h"
#include "vec.h"

#define D(t) lctw_tensor_data(t)

/* ---- softmax ---- */

/* y (M, L) = softmax of each row of x (M, L); y may be x. An all −∞ row gives a uniform row;
 * a NaN makes its row NaN. */
static void softmax_rows(float *y, const float *x, int64_t M, int64_t L) {
    if (L == 0) return;
    for (int64_t m = 0; m < M; m++) {
        const float *xr = x + m * L;
        float *yr = y + m * L;
        float mx = vec_max(xr, L);
        if (mx == -INFINITY) mx = 0.0f; /* avoid (−∞) − (−∞) */
        float inv = (float)(1.0 / vec_exp_shift_sum(yr, xr, mx, L));
        for (int64_t j = 0; j < L; j++)
            yr[j] *= inv;
    }
}

/* dx (M, L) = y ⊙ (dy − rowsum(dy ⊙ y)); accumulates into dx unless `assign`. dx may be dy
 * when assigning. */
static void softmax_rows_bwd(float *dx, const float *y, const float *dy, int64_t M, int64_t L,
                             int assign) {
    for (int64_t m = 0; m < M; m++) {
        const float *yr = y + m * L, *gr = dy + m * L;
        float *dr = dx + m * L;
        float s = (float)vec_dot(gr, yr, L);
        if (assign)
            for (int64_t j = 0; j < L; j++)
                dr[j] = yr[j] * (gr[j] - s);
        else
            for (int64_t j = 0; j < L; j++)
                dr[j] += yr[j] * (gr[j] - s);
    }
}

static lctw_status softmax_backward(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *x = nd->in[0], *y = nd->out, *g;
    int64_t L = x->shape[x->ndim - 1], M = L ? lctw_tensor_numel(x) / L : 0;
    LCTW_TRY(lctw_grad_of(c, x, &g));
    if (lctw_op_cuda(c)) return lctw_cuda_op_softmax_bwd(D(y), D(y->grad), D(g), M, L, 0);
    softmax_rows_bwd(D(g), D(y), D(y->grad), M, L, 0);
    return LCTW_OK;
}

lctw_status lctw_op_softmax(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_softmax, 1, &x));
    if (x->ndim < 1) return LCTW_FAIL(LCTW_ESHAPE, "softmax: input is a scalar, needs a last dim");
    int64_t L = x->shape[x->ndim - 1], M = L ? lctw_tensor_numel(x) / L : 0;
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, x->ndim, x->shape));
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_softmax_fwd(D(x), D(*y), M, L));
    else
        softmax_rows(D(*y), D(x), M, L);
    if (lctw_needs_grad(c, 1, &x))
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_softmax, softmax_backward, 1, &x, *y, NULL));
    return LCTW_OK;
}

/* ---- attention core ---- */

/* A logical matrix: element (i, j) at p[i·ld + j] (t = 0) or p[j·ld + i] (t = 1). */
typedef struct {
    float *p;
    int64_t ld;
    int t;
} mat;

static mat mat_t(mat a) {
    a.t = !a.t;
    return a;
}

/* C (M×N) = alpha·A (M×K)·B (K×N) + beta·C; a transposed C is written as Cᵀ = Bᵀ Aᵀ. */
static void mm(mat C, int64_t M, int64_t N, int64_t K, float alpha, mat A, mat B, float beta) {
    if (!C.t)
        lctw_sgemm(A.t, B.t, M, N, K, alpha, A.p, A.ld, B.p, B.ld, beta, C.p, C.ld);
    else
        lctw_sgemm(!B.t, !A.t, N, M, K, alpha, B.p, B.ld, A.p, A.ld, beta, C.p, C.ld);
}

/* Where head (b, h) of Q, K, V, O sits, for each layout. */
typedef enum { LAYOUT_HEADS = 0, LAYOUT_TOKENS, LAYOUT_UNET } layout;

typedef struct {
    layout lay;
    int64_t B, H, Tq, Tk, dh, dv;
} geom;

/* base[0..2] = q, k, v data (for fused layouts all three are the qkv data); o = out data.
 * Fills the four matrices of head (b, h). */
static void head_mats(const geom *g, float *const base[3], float *o, int64_t b, int64_t h, mat *Q,
                      mat *K, mat *V, mat *O) {
    int64_t H = g->H, dh = g->dh;
    switch (g->lay) {
    case LAYOUT_HEADS: {
        int64_t bh = b * H + h;
        *Q = (mat){base[0] + bh * g->Tq * dh, dh, 0};
        *K = (mat){base[1] + bh * g->Tk * dh, dh, 0};
        *V = (mat){base[2] + bh * g->Tk * g->dv, g->dv, 0};
        *O = (mat){o + bh * g->Tq * g->dv, g->dv, 0};
        break;
    }
    case LAYOUT_TOKENS: { /* qkv (B, T, 3, H, dh), out (B, T, H, dh) */
        int64_t T = g->Tq, Dm = H * dh;
        float *row = base[0] + b * T * 3 * Dm + h * dh;
        *Q = (mat){row, 3 * Dm, 0};
        *K = (mat){row + Dm, 3 * Dm, 0};
        *V = (mat){row + 2 * Dm, 3 * Dm, 0};
        *O = (mat){o + b * T * Dm + h * dh, Dm, 0};
        break;
    }
    default: { /* LAYOUT_UNET: qkv (B, H, dh, 3, S), out (B, H, dh, S): stored transposed */
        int64_t S = g->Tq;
        float *blk = base[0] + ((b * H + h) * dh * 3) * S;
        *Q = (mat){blk, 3 * S, 1};
        *K = (mat){blk + S, 3 * S, 1};
        *V = (mat){blk + 2 * S, 3 * S, 1};
        *O = (mat){o + (b * H + h) * dh * S, S, 1};
        break;
    }
    }
}

/* P (B·H, Tq, Tk) receives the probabilities of every head, or of one head at a time when
 * p_stride is 0 (no backward). */
static void attn_fwd(const geom *g, float *const base[3], float *o, float *P, int64_t p_stride) {
    float s = 1.0f / sqrtf((float)g->dh);
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t h = 0; h < g->H; h++) {
            mat Q, K, V, O;
            head_mats(g, base, o, b, h, &Q, &K, &V, &O);
            mat Pm = {P + (b * g->H + h) * p_stride, g->Tk, 0};
            mm(Pm, g->Tq, g->Tk, g->dh, s, Q, mat_t(K), 0.0f);
            softmax_rows(Pm.p, Pm.p, g->Tq, g->Tk);
            mm(O, g->Tq, g->dv, g->Tk, 1.0f, Pm, V, 0.0f);
        }
}

/* gbase[0..2]: gradient buffers of q, k, v (NULL: not needed); go: dO; dP: Tq×Tk scratch. */
static void attn_bwd(const geom *g, float *const base[3], float *const gbase[3], float *go,
                     const float *P, float *dP) {
    float s = 1.0f / sqrtf((float)g->dh);
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t h = 0; h < g->H; h++) {
            mat Q, K, V, dO, dQ, dK, dV, unused;
            head_mats(g, base, go, b, h, &Q, &K, &V, &dO);
            float *gb[3] = {gbase[0] ? gbase[0] : base[0], gbase[1] ? gbase[1] : base[1],
                            gbase[2] ? gbase[2] : base[2]};
            head_mats(g, gb, go, b, h, &dQ, &dK, &dV, &unused);
            mat Pm = {(float *)P + (b * g->H + h) * g->Tq * g->Tk, g->Tk, 0};
            mat dPm = {dP, g->Tk, 0};
            mm(dPm, g->Tq, g->Tk, g->dv, 1.0f, dO, mat_t(V), 0.0f);
            if (gbase[2]) mm(dV, g->Tk, g->dv, g->Tq, 1.0f, mat_t(Pm), dO, 1.0f);
            if (!gbase[0] && !gbase[1]) continue;
            softmax_rows_bwd(dP, Pm.p, dP, g->Tq, g->Tk, 1);
            if (gbase[0]) mm(dQ, g->Tq, g->dh, g->Tk, s, dPm, K, 1.0f);
            if (gbase[1]) mm(dK, g->Tk, g->dh, g->Tq, s, mat_t(dPm), Q, 1.0f);
        }
}

static void geom_to_ip(const geom *g, int64_t *ip) {
    ip[0] = g->lay;
    ip[1] = g->B;
    ip[2] = g->H;
    ip[3] = g->Tq;
    ip[4] = g->Tk;
    ip[5] = g->dh;
    ip[6] = g->dv;
}

static geom geom_from_ip(const int64_t *ip) {
    geom g = {(layout)ip[0], ip[1], ip[2], ip[3], ip[4], ip[5], ip[6]};
    return g;
}

static lctw_cu_attn cu_geom(const geom *g) {
    lctw_cu_attn cg = {(int)g->lay, g->B, g->H, g->Tq, g->Tk, g->dh, g->dv};
    return cg;
}

/* Arena scratch of n floats for the twins (NULL when none is needed). */
static lctw_status cu_scratch(lctw_ctx *c, int64_t n, float **p) {
    *p = NULL;
    if (n <= 0) return LCTW_OK;
    lctw_tensor *t;
    LCTW_TRY(lctw_arena_tensor(&c->arena, &t, 1, &n));
    *p = D(t);
    return LCTW_OK;
}

static lctw_status attention_backward(lctw_ctx *c, lctw_node *nd) {
    geom g = geom_from_ip(nd->ip);
    float *base[3], *gbase[3] = {NULL, NULL, NULL};
    lctw_tensor *gt;
    if (g.lay == LAYOUT_HEADS) {
        for (int i = 0; i < 3; i++) {
            base[i] = D(nd->in[i]);
            if (nd->in[i]->requires_grad) {
                LCTW_TRY(lctw_grad_of(c, nd->in[i], &gt));
                gbase[i] = D(gt);
            }
        }
    } else {
        base[0] = base[1] = base[2] = D(nd->in[0]);
        LCTW_TRY(lctw_grad_of(c, nd->in[0], &gt));
        gbase[0] = gbase[1] = gbase[2] = D(gt);
    }
    if (lctw_op_cuda(c)) {
        lctw_cu_attn cg = cu_geom(&g);
        float *scr;
        LCTW_TRY(cu_scratch(c, lctw_cuda_op_attention_scratch(&cg, 1), &scr));
        return lctw_cuda_op_attention_bwd(&cg, base[0], base[1], base[2], D(nd->saved[0]),
                                          D(nd->out->grad), gbase[0], gbase[1], gbase[2], scr);
    }
    lctw_tensor *dP;
    int64_t ps[2] = {g.Tq, g.Tk};
    LCTW_TRY(lctw_arena_tensor(&c->arena, &dP, 2, ps));
    attn_bwd(&g, base, gbase, D(nd->out->grad), D(nd->saved[0]), D(dP));
    return LCTW_OK;
}

/* Allocates the output (shape oshape) and P, runs the forward, records the node. */
static lctw_status attn_run(lctw_ctx *c, int op, const geom *g, int n_in, lctw_tensor *const *in,
                            int ondim, const int64_t *oshape, lctw_tensor **out) {
    LCTW_TRY(lctw_arena_tensor(&c->arena, out, ondim, oshape));
    int rec = lctw_needs_grad(c, n_in, in), cuda = lctw_op_cuda(c);
    int64_t ps[3] = {rec || cuda ? g->B * g->H : 1, g->Tq, g->Tk};
    lctw_tensor *P;
    LCTW_TRY(lctw_arena_tensor(&c->arena, &P, 3, ps));
    float *base[3];
    for (int i = 0; i < 3; i++)
        base[i] = D(in[n_in == 3 ? i : 0]);
    if (cuda) {
        lctw_cu_attn cg = cu_geom(g);
        float *scr;
        LCTW_TRY(cu_scratch(c, lctw_cuda_op_attention_scratch(&cg, 0), &scr));
        LCTW_TRY(lctw_cuda_op_attention_fwd(&cg, base[0], base[1], base[2], D(*out), D(P), scr));
    } else {
        attn_fwd(g, base, D(*out), D(P), rec ? g->Tq * g->Tk : 0);
    }
    if (rec) {
        lctw_node *nd;
        LCTW_TRY(lctw_tape_push(c, op, attention_backward, n_in, in, *out, &nd));
        nd->saved[0] = P;
        geom_to_ip(g, nd->ip);
    }
    return LCTW_OK;
}

lctw_status lctw_op_attention(lctw_ctx *c, lctw_tensor *q, lctw_tensor *k, lctw_tensor *v,
                              lctw_tensor **out) {
    lctw_tensor *in[3] = {q, k, v};
    LCTW_TRY(lctw_op_check(c, LCTW_OP_attention, 3, in));
    char s1[96], s2[96], s3[96];
    if (!q || !k || !v || q->ndim != 4 || k->ndim != 4 || v->ndim != 4 ||
        k->shape[0] != q->shape[0] || v->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] ||
        v->shape[1] != q->shape[1] || k->shape[3] != q->shape[3] || v->shape[2] != k->shape[2])
        return LCTW_FAIL(LCTW_ESHAPE,
                         "attention: q %s, k %s, v %s; expected q (B, H, Tq, dh), k (B, H, Tk, dh),"
                         " v (B, H, Tk, dv)",
                         q ? lctw_tensor_shape_str(s1, sizeof s1, q) : "none",
                         k ? lctw_tensor_shape_str(s2, sizeof s2, k) : "none",
                         v ? lctw_tensor_shape_str(s3, sizeof s3, v) : "none");
    geom g = {LAYOUT_HEADS, q->shape[0], q->shape[1], q->shape[2],
              k->shape[2],  q->shape[3], v->shape[3]};
    int64_t os[4] = {g.B, g.H, g.Tq, g.dv};
    return attn_run(c, LCTW_OP_attention, &g, 3, in, 4, os, out);
}

lctw_status lctw_op_attention_tokens(lctw_ctx *c, lctw_tensor *qkv, int64_t heads,
                                     lctw_tensor **out) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_attention_tokens, 1, &qkv));
    char s1[96];
    if (qkv->ndim != 3 || qkv->shape[2] % 3)
        return LCTW_FAIL(LCTW_ESHAPE, "attention_tokens: qkv %s, expected (B, T, 3·D)",
                         lctw_tensor_shape_str(s1, sizeof s1, qkv));
    int64_t Dm = qkv->shape[2] / 3;
    if (heads <= 0 || Dm % heads)
        return LCTW_FAIL(LCTW_ESHAPE, "attention_tokens: width %lld does not split into %lld heads",
                         (long long)Dm, (long long)heads);
    geom g = {LAYOUT_TOKENS, qkv->shape[0], heads,     qkv->shape[1],
              qkv->shape[1], Dm / heads,    Dm / heads};
    int64_t os[3] = {g.B, g.Tq, Dm};
    return attn_run(c, LCTW_OP_attention_tokens, &g, 1, &qkv, 3, os, out);
}

lctw_status lctw_op_attention_unet(lctw_ctx *c, lctw_tensor *qkv, int64_t heads,
                                   lctw_tensor **out) {
    LCTW_TRY(lctw_op_check(c, LCTW_OP_attention_unet, 1, &qkv));
    char s1[96];
    if (qkv->ndim != 4 || qkv->shape[1] % 3)
        return LCTW_FAIL(LCTW_ESHAPE, "attention_unet: qkv %s, expected (B, 3·C, H, W)",
                         lctw_tensor_shape_str(s1, sizeof s1, qkv));
    int64_t C = qkv->shape[1] / 3, S = qkv->shape[2] * qkv->shape[3];
    if (heads <= 0 || C % heads)
        return LCTW_FAIL(LCTW_ESHAPE, "attention_unet: %lld channels do not split into %lld heads",
                         (long long)C, (long long)heads);
    geom g = {LAYOUT_UNET, qkv->shape[0], heads, S, S, C / heads, C / heads};
    int64_t os[4] = {g.B, C, qkv->shape[2], qkv->shape[3]};
    return attn_run(c, LCTW_OP_attention_unet, &g, 1, &qkv, 4, os, out);
}
