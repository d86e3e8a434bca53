/* test_ops_cuda.c — every differentiable op (the registry of src/core/ops/ops.h) on a CUDA
 * context against its CPU reference: forward output and the gradient of every input.
 *
 * Each case builds its inputs on the CPU from Philox normals (fixed seeds, sizes that are not
 * multiples of the kernels' block sizes), runs forward and backward (seeded with a fixed random
 * R, so L = Σ y·R as in tests/unit/gradcheck.h) on a CPU context, uploads the same inputs and
 * runs the op on a CUDA context, and compares with the case's tolerance
 * |cuda − cpu| ≤ atol + rtol·|cpu| (TF32 off). NaN or ±Inf on the device where the CPU is
 * finite fails. Overruns are caught by guards:
 *   - input gradients are preset to device buffers with GUARD sentinel floats on each side;
 *   - the CUDA context's arena chunk is filled with the sentinel first, and a guard tensor is
 *     allocated just before the op: afterwards that guard, the alignment padding after the
 *     op's output, and the unused tail of the chunk must still hold the sentinel.
 * Without a device every case runs only its CPU half (checking the case itself) and prints
 * SKIP "no CUDA device"; `coverage` (no device needed) fails when an op of the registry has no
 * case here, and tests/check/test_op_cuda_coverage.sh does the same from this file's OP(...)
 * entries.
 */
#include "test.h"

#include <stdlib.h>

#include "core/ops/ops.h"
#include "core/rng.h"
#include "core/tmath.h"
#include "lctw_cuda.h"

#define MAX_IN 4
#define GUARD 67                          /* floats on each side of a guarded buffer */
#define ARENA_BYTES ((size_t)64 << 20)    /* the CUDA context's one arena chunk */
#define ALIGN_FLOATS 64                   /* arena alignment (256 bytes) in floats */
static const float SENTINEL = -7.25e33f;

/* ---- the cases ---- */

typedef struct {
    int op;              /* lctw_op_id */
    const char *opname;  /* the registry name (the coverage check greps OP(name) below) */
    const char *variant; /* "" or a suffix of the printed case name */
    int n_in;
    int ndim[MAX_IN]; /* 0: a NULL input (e.g. no bias) */
    int64_t shape[MAX_IN][4];
    float scale[MAX_IN], shift[MAX_IN];
    int nograd;       /* bit i: input i does not require grad */
    int64_t ip[4];    /* integer parameters of the op */
    double fp;        /* float parameter (slope, eps, max_period, scalar) */
    double atol, rtol;
    int64_t conv_scratch; /* > 0: lctw_conv_scratch_floats for this case (CUDA blocking) */
} opcase;

#define OP(name) LCTW_OP_##name, #name
#define S1(a) {a}
#define S2(a, b) {a, b}
#define S3(a, b, c) {a, b, c}
#define S4(a, b, c, d) {a, b, c, d}

/* tolerances: element-wise exact-ish, transcendental, GEMM/reductions */
#define T_EXACT 1e-6, 1e-6
#define T_ACT 1e-5, 1e-5
#define T_RED 1e-4, 1e-4
#define T_GEMM 2e-4, 2e-4

static const opcase cases[] = {
    /* element-wise */
    {OP(add), "", 2, {3, 3}, {S3(2, 37, 945), S3(2, 37, 945)}, {1, 1}, {0, 0}, 0, {0}, 0, T_EXACT, 0},
    {OP(sub), "", 2, {3, 3}, {S3(2, 37, 945), S3(2, 37, 945)}, {1, 1}, {0, 0}, 0, {0}, 0, T_EXACT, 0},
    {OP(mul), "", 2, {3, 3}, {S3(2, 37, 945), S3(2, 37, 945)}, {1, 1}, {0, 0}, 0, {0}, 0, T_EXACT, 0},
    {OP(mul), "_one_grad", 2, {2, 2}, {S2(7, 333), S2(7, 333)}, {1, 1}, {0, 0}, 2, {0}, 0, T_EXACT, 0},
    {OP(scale), "", 1, {3}, {S3(3, 5, 4001)}, {1}, {0}, 0, {0}, -1.7, T_EXACT, 0},
    {OP(add_scalar), "", 1, {3}, {S3(3, 5, 4001)}, {1}, {0}, 0, {0}, 0.3, T_EXACT, 0},
    {OP(scale_rows), "", 2, {3, 1}, {S3(5, 3, 1001), S1(5)}, {1, 1}, {0, 0}, 0, {0}, 0, T_RED, 0},
    {OP(silu), "", 1, {3}, {S3(3, 5, 4001)}, {3}, {0}, 0, {0}, 0, T_ACT, 0},
    {OP(relu), "", 1, {3}, {S3(3, 5, 4001)}, {3}, {0}, 0, {0}, 0, T_EXACT, 0},
    {OP(leaky_relu), "", 1, {3}, {S3(3, 5, 4001)}, {3}, {0}, 0, {0}, 0.01, T_EXACT, 0},
    {OP(gelu_tanh), "", 1, {3}, {S3(3, 5, 4001)}, {3}, {0}, 0, {0}, 0, T_ACT, 0},
    {OP(tanh), "", 1, {3}, {S3(3, 5, 4001)}, {3}, {0}, 0, {0}, 0, T_ACT, 0},
    {OP(sum), "", 1, {1}, {S1(70001)}, {1}, {0.1f}, 0, {0}, 0, T_RED, 0},
    {OP(mean), "", 1, {3}, {S3(3, 7, 999)}, {1}, {0.1f}, 0, {0}, 0, T_RED, 0},
    {OP(view), "", 1, {3}, {S3(6, 5, 7)}, {1}, {0}, 0, {30, 7}, 0, T_EXACT, 0},
    {OP(linear), "", 3, {3, 2, 1}, {S3(3, 17, 67), S2(45, 67), S1(45)}, {1, 0.2f, 1}, {0, 0, 0}, 0, {0}, 0, T_GEMM, 0},
    {OP(linear), "_no_bias", 3, {2, 2, 0}, {S2(33, 67), S2(45, 67)}, {1, 0.2f}, {0, 0}, 0, {0}, 0, T_GEMM, 0},
    /* convolutions and resampling: ip = stride, padding */
    {OP(conv2d), "_3x3_pad1", 3, {4, 4, 1}, {S4(3, 5, 13, 11), S4(7, 5, 3, 3), S1(7)}, {1, 0.3f, 1}, {0, 0, 0}, 0, {1, 1}, 0, T_GEMM, 0},
    {OP(conv2d), "_3x3_stride2_pad1", 3, {4, 4, 1}, {S4(2, 3, 13, 10), S4(5, 3, 3, 3), S1(5)}, {1, 0.3f, 1}, {0, 0, 0}, 0, {2, 1}, 0, T_GEMM, 0},
    {OP(conv2d), "_1x1", 3, {4, 4, 1}, {S4(3, 6, 9, 7), S4(5, 6, 1, 1), S1(5)}, {1, 0.3f, 1}, {0, 0, 0}, 0, {1, 0}, 0, T_GEMM, 0},
    {OP(conv2d), "_2x2_stride2_no_bias", 3, {4, 4, 0}, {S4(3, 3, 9, 11), S4(4, 3, 2, 2)}, {1, 0.3f}, {0, 0}, 0, {2, 0}, 0, T_GEMM, 0},
    {OP(conv2d), "_1x3_pad2_blocked", 3, {4, 4, 1}, {S4(3, 4, 7, 9), S4(6, 4, 1, 3), S1(6)}, {1, 0.3f, 1}, {0, 0, 0}, 0, {1, 2}, 0, T_GEMM, 8},
    {OP(conv2d), "_frozen_input", 3, {4, 4, 1}, {S4(2, 3, 8, 9), S4(4, 3, 3, 3), S1(4)}, {1, 0.3f, 1}, {0, 0, 0}, 1, {1, 1}, 0, T_GEMM, 0},
    {OP(conv_transpose2d), "_2x2_stride2", 3, {4, 4, 1}, {S4(3, 6, 7, 5), S4(6, 4, 2, 2), S1(4)}, {1, 0.3f, 1}, {0, 0, 0}, 0, {2, 0}, 0, T_GEMM, 0},
    {OP(conv_transpose2d), "_3x3_stride2_pad1", 3, {4, 4, 1}, {S4(2, 3, 5, 6), S4(3, 5, 3, 3), S1(5)}, {1, 0.3f, 1}, {0, 0, 0}, 0, {2, 1}, 0, T_GEMM, 0},
    {OP(conv_transpose2d), "_3x3_blocked", 3, {4, 4, 0}, {S4(3, 4, 6, 5), S4(4, 3, 3, 3)}, {1, 0.3f}, {0, 0}, 0, {1, 1}, 0, T_GEMM, 8},
    {OP(avg_pool2d), "_2", 1, {4}, {S4(2, 3, 13, 11)}, {1}, {0}, 0, {2}, 0, T_EXACT, 0},
    {OP(avg_pool2d), "_3", 1, {4}, {S4(2, 3, 17, 20)}, {1}, {0}, 0, {3}, 0, T_EXACT, 0},
    {OP(upsample_nearest2x), "", 1, {4}, {S4(2, 3, 9, 7)}, {1}, {0}, 0, {0}, 0, T_EXACT, 0},
    {OP(upsample_bilinear), "_2", 1, {4}, {S4(2, 3, 9, 7)}, {1}, {0}, 0, {2}, 0, T_EXACT, 0},
    {OP(upsample_bilinear), "_3", 1, {4}, {S4(2, 2, 5, 6)}, {1}, {0}, 0, {3}, 0, T_EXACT, 0},
    {OP(upsample_bilinear), "_8", 1, {4}, {S4(1, 2, 4, 3)}, {1}, {0}, 0, {8}, 0, T_EXACT, 0},
    {OP(concat_channels), "", 2, {4, 4}, {S4(3, 4, 9, 7), S4(3, 5, 9, 7)}, {1, 1}, {0, 0}, 0, {0}, 0, T_EXACT, 0},
    /* normalisation: fp = eps */
    {OP(norm_chw), "_nsln", 3, {4, 0, 3}, {S4(3, 5, 9, 7), {0}, S3(5, 9, 7)}, {1, 1, 1}, {0.5f, 0, 0}, 0, {0}, 1e-5, T_RED, 0},
    {OP(norm_chw), "_affine", 3, {4, 3, 3}, {S4(3, 5, 9, 7), S3(5, 9, 7), S3(5, 9, 7)}, {1, 0.5f, 1}, {0, 1, 0}, 0, {0}, 1e-5, T_RED, 0},
    {OP(norm_chw), "_long_rows", 3, {4, 0, 3}, {S4(2, 8, 33, 33), {0}, S3(8, 33, 33)}, {0.5f, 1, 1}, {100, 0, 0}, 0, {0}, 1e-5, T_RED, 0},
    {OP(layer_norm), "_affine", 3, {3, 1, 1}, {S3(3, 13, 300), S1(300), S1(300)}, {1, 0.5f, 1}, {0, 1, 0}, 0, {0}, 1e-5, T_RED, 0},
    {OP(layer_norm), "_plain", 3, {2, 0, 0}, {S2(5, 77)}, {1}, {0.3f}, 0, {0}, 1e-6, T_RED, 0},
    {OP(group_norm), "_4", 3, {4, 1, 1}, {S4(3, 12, 9, 7), S1(12), S1(12)}, {1, 0.5f, 1}, {0, 1, 0}, 0, {4}, 1e-5, T_RED, 0},
    {OP(group_norm), "_1_plain", 3, {4, 0, 0}, {S4(2, 6, 5, 5)}, {1}, {0}, 0, {1}, 1e-5, T_RED, 0},
    /* softmax and attention: ip = heads */
    {OP(softmax), "", 1, {3}, {S3(3, 7, 1000)}, {2}, {0}, 0, {0}, 0, T_RED, 0},
    {OP(softmax), "_short_rows", 1, {2}, {S2(67, 5)}, {2}, {0}, 0, {0}, 0, T_RED, 0},
    {OP(attention), "", 3, {4, 4, 4}, {S4(2, 3, 37, 16), S4(2, 3, 41, 16), S4(2, 3, 41, 24)}, {1, 1, 1}, {0, 0, 0}, 0, {0}, 0, T_GEMM, 0},
    {OP(attention), "_frozen_kv", 3, {4, 4, 4}, {S4(1, 2, 9, 8), S4(1, 2, 11, 8), S4(1, 2, 11, 5)}, {1, 1, 1}, {0, 0, 0}, 6, {0}, 0, T_GEMM, 0},
    {OP(attention_tokens), "", 1, {3}, {S3(2, 37, 144)}, {1}, {0}, 0, {3}, 0, T_GEMM, 0},
    {OP(attention_unet), "", 1, {4}, {S4(2, 36, 7, 9)}, {1}, {0}, 0, {2}, 0, T_GEMM, 0},
    /* token layout: split ip = n, part, heads; chunk ip = dim, n, i; patches ip = p, gh */
    {OP(split_heads), "", 1, {3}, {S3(2, 37, 144)}, {1}, {0}, 0, {3, 1, 4}, 0, T_EXACT, 0},
    {OP(merge_heads), "", 1, {4}, {S4(2, 4, 37, 12)}, {1}, {0}, 0, {0}, 0, T_EXACT, 0},
    {OP(chunk), "_adaln", 1, {2}, {S2(5, 390)}, {1}, {0}, 0, {1, 6, 4}, 0, T_EXACT, 0},
    {OP(chunk), "_dim1_4d", 1, {4}, {S4(3, 6, 5, 7)}, {1}, {0}, 0, {1, 2, 1}, 0, T_EXACT, 0},
    {OP(timestep_embedding), "", 1, {1}, {S1(7)}, {300}, {0}, 0, {256}, 1e4, 2e-4, 1e-4, 0},
    {OP(modulate), "_tokens", 3, {3, 2, 2}, {S3(3, 37, 48), S2(3, 48), S2(3, 48)}, {1, 0.5f, 0.5f}, {0, 0, 0}, 0, {0}, 0, T_RED, 0},
    {OP(modulate), "_images", 3, {4, 2, 2}, {S4(3, 5, 9, 7), S2(3, 5), S2(3, 5)}, {1, 0.5f, 0.5f}, {0, 0, 0}, 0, {0}, 0, T_RED, 0},
    {OP(modulate), "_shift_only", 3, {3, 2, 0}, {S3(2, 11, 33), S2(2, 33)}, {1, 0.5f}, {0, 0}, 0, {0}, 0, T_RED, 0},
    {OP(gate_add), "_tokens", 3, {3, 2, 3}, {S3(3, 37, 48), S2(3, 48), S3(3, 37, 48)}, {1, 0.5f, 1}, {0, 0, 0}, 0, {0}, 0, T_RED, 0},
    {OP(gate_add), "_images", 3, {4, 2, 4}, {S4(3, 5, 9, 7), S2(3, 5), S4(3, 5, 9, 7)}, {1, 0.5f, 1}, {0, 0, 0}, 0, {0}, 0, T_RED, 0},
    {OP(patchify), "", 1, {4}, {S4(2, 4, 12, 10)}, {1}, {0}, 0, {2}, 0, T_EXACT, 0},
    {OP(unpatchify), "", 1, {3}, {S3(2, 30, 16)}, {1}, {0}, 0, {2, 5}, 0, T_EXACT, 0},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* The op of case k on context c. */
static lctw_status run_op(lctw_ctx *c, lctw_tensor **in, const opcase *k, lctw_tensor **y) {
    lctw_tensor *a = in[0], *b = in[1], *d = in[2];
    const int64_t *ip = k->ip;
    float fp = (float)k->fp;
    switch (k->op) {
    case LCTW_OP_add: return lctw_op_add(c, a, b, y);
    case LCTW_OP_sub: return lctw_op_sub(c, a, b, y);
    case LCTW_OP_mul: return lctw_op_mul(c, a, b, y);
    case LCTW_OP_scale: return lctw_op_scale(c, a, fp, y);
    case LCTW_OP_add_scalar: return lctw_op_add_scalar(c, a, fp, y);
    case LCTW_OP_scale_rows: return lctw_op_scale_rows(c, a, b, y);
    case LCTW_OP_silu: return lctw_op_silu(c, a, y);
    case LCTW_OP_relu: return lctw_op_relu(c, a, y);
    case LCTW_OP_leaky_relu: return lctw_op_leaky_relu(c, a, fp, y);
    case LCTW_OP_gelu_tanh: return lctw_op_gelu_tanh(c, a, y);
    case LCTW_OP_tanh: return lctw_op_tanh(c, a, y);
    case LCTW_OP_sum: return lctw_op_sum(c, a, y);
    case LCTW_OP_mean: return lctw_op_mean(c, a, y);
    case LCTW_OP_view: return lctw_op_view(c, a, 2, ip, y);
    case LCTW_OP_linear: return lctw_op_linear(c, a, b, d, y);
    case LCTW_OP_conv2d: return lctw_op_conv2d(c, a, b, d, (int)ip[0], (int)ip[1], y);
    case LCTW_OP_conv_transpose2d:
        return lctw_op_conv_transpose2d(c, a, b, d, (int)ip[0], (int)ip[1], y);
    case LCTW_OP_avg_pool2d: return lctw_op_avg_pool2d(c, a, (int)ip[0], y);
    case LCTW_OP_upsample_nearest2x: return lctw_op_upsample_nearest2x(c, a, y);
    case LCTW_OP_upsample_bilinear: return lctw_op_upsample_bilinear(c, a, (int)ip[0], y);
    case LCTW_OP_concat_channels: return lctw_op_concat_channels(c, a, b, y);
    case LCTW_OP_norm_chw: return lctw_op_norm_chw(c, a, b, d, fp, y);
    case LCTW_OP_layer_norm: return lctw_op_layer_norm(c, a, b, d, fp, y);
    case LCTW_OP_group_norm: return lctw_op_group_norm(c, a, ip[0], b, d, fp, y);
    case LCTW_OP_softmax: return lctw_op_softmax(c, a, y);
    case LCTW_OP_attention: return lctw_op_attention(c, a, b, d, y);
    case LCTW_OP_attention_tokens: return lctw_op_attention_tokens(c, a, ip[0], y);
    case LCTW_OP_attention_unet: return lctw_op_attention_unet(c, a, ip[0], y);
    case LCTW_OP_split_heads: return lctw_op_split_heads(c, a, ip[0], ip[1], ip[2], y);
    case LCTW_OP_merge_heads: return lctw_op_merge_heads(c, a, y);
    case LCTW_OP_chunk: return lctw_op_chunk(c, a, (int)ip[0], ip[1], ip[2], y);
    case LCTW_OP_timestep_embedding: return lctw_op_timestep_embedding(c, a, ip[0], k->fp, y);
    case LCTW_OP_modulate: return lctw_op_modulate(c, a, b, d, y);
    case LCTW_OP_gate_add: return lctw_op_gate_add(c, a, b, d, y);
    case LCTW_OP_patchify: return lctw_op_patchify(c, a, ip[0], y);
    case LCTW_OP_unpatchify: return lctw_op_unpatchify(c, a, ip[0], ip[1], y);
    default: return LCTW_FAIL(LCTW_EINVAL, "test_ops_cuda: no call for op %s", k->opname);
    }
}

/* ---- host side ---- */

typedef struct {
    float *v; /* host copy */
    int64_t n;
} hostbuf;

static void hb_free(hostbuf *h) {
    free(h->v);
    h->v = NULL;
    h->n = 0;
}

/* Host copy of any tensor (CPU or device, contiguous). */
static lctw_status hb_of(hostbuf *h, const lctw_tensor *t) {
    h->n = lctw_tensor_numel(t);
    h->v = malloc(sizeof(float) * (size_t)(h->n ? h->n : 1));
    if (!h->v) return LCTW_FAIL(LCTW_ENOMEM, "test: out of host memory");
    if (lctw_tensor_device(t) == LCTW_DEV_CUDA)
        return lctw_cuda_d2h(h->v, lctw_tensor_data(t), sizeof(float) * (size_t)h->n);
    memcpy(h->v, lctw_tensor_data(t), sizeof(float) * (size_t)h->n);
    return LCTW_OK;
}

/* The CPU inputs of case k (Philox normals·scale + shift; stream = case·8 + input). */
static lctw_status make_inputs(const opcase *k, int ci, lctw_tensor **in) {
    for (int i = 0; i < MAX_IN; i++)
        in[i] = NULL;
    for (int i = 0; i < k->n_in; i++) {
        if (!k->ndim[i]) continue;
        LCTW_TRY(lctw_tensor_empty(&in[i], k->ndim[i], k->shape[i], LCTW_DEV_CPU));
        float *p = lctw_tensor_data(in[i]);
        for (int64_t j = 0; j < lctw_tensor_numel(in[i]); j++)
            p[j] = lctw_rng_normal_at(20240611, (uint32_t)(ci * 8 + i), 0, (uint64_t)j) *
                       k->scale[i] +
                   k->shift[i];
        in[i]->requires_grad = !(k->nograd >> i & 1);
    }
    return LCTW_OK;
}

/* R: the backward seed, Philox (1234, 7) like gradcheck.h */
static lctw_status make_seed(lctw_tensor **R, const lctw_tensor *y) {
    LCTW_TRY(lctw_tensor_empty(R, y->ndim, y->shape, LCTW_DEV_CPU));
    for (int64_t j = 0; j < lctw_tensor_numel(*R); j++)
        lctw_tensor_data(*R)[j] = lctw_rng_normal_at(1234, 7, 0, (uint64_t)j);
    return LCTW_OK;
}

/* ---- comparisons ---- */

/* Compares got with ref; returns the worst error in units of the tolerance, fails the case at
 * the first element outside it (NaN/Inf on one side only included). */
static double compare(const char *what, const hostbuf *got, const hostbuf *ref, double atol,
                      double rtol) {
    if (got->n != ref->n) {
        test_fail_(__FILE__, __LINE__, "%s: %lld elements on CUDA, %lld on the CPU", what,
                   (long long)got->n, (long long)ref->n);
        return INFINITY;
    }
    double worst = 0;
    for (int64_t i = 0; i < ref->n; i++) {
        double g = got->v[i], r = ref->v[i];
        if (!isfinite(r)) {
            if (!(isnan(r) ? isnan(g) : g == r)) {
                test_fail_(__FILE__, __LINE__, "%s[%lld] = %.9g on CUDA, %.9g on the CPU", what,
                           (long long)i, g, r);
                return INFINITY;
            }
            continue;
        }
        if (!isfinite(g)) {
            test_fail_(__FILE__, __LINE__, "%s[%lld] = %g on CUDA (NaN/Inf), %.9g on the CPU",
                       what, (long long)i, g, r);
            return INFINITY;
        }
        double e = fabs(g - r) / (atol + rtol * fabs(r));
        if (e > worst) worst = e;
        if (e > 1.0) {
            test_fail_(__FILE__, __LINE__,
                       "%s[%lld] = %.9g on CUDA, %.9g on the CPU (|diff| %.3g > %.3g + %.3g·|cpu|, "
                       "n = %lld)",
                       what, (long long)i, g, r, fabs(g - r), atol, rtol, (long long)ref->n);
            return INFINITY;
        }
    }
    return worst;
}

/* Device floats [from, to) of storage data p must all be the sentinel. */
static void check_sentinel(const char *what, const float *p, int64_t from, int64_t to) {
    if (to <= from) return;
    int64_t n = to - from;
    float *h = malloc(sizeof(float) * (size_t)n);
    if (!h || lctw_cuda_d2h(h, p + from, sizeof(float) * (size_t)n) != LCTW_OK) {
        test_fail_(__FILE__, __LINE__, "%s: reading guard memory failed: %s", what,
                   lctw_error_message());
        free(h);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&h[i], &SENTINEL, sizeof(float)) != 0) {
            test_fail_(__FILE__, __LINE__, "%s: guard float %lld of %lld overwritten with %g",
                       what, (long long)i, (long long)n, h[i]);
            break;
        }
    free(h);
}

static int64_t align_up(int64_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

/* A zeroed device gradient buffer for t, with GUARD sentinels on both sides. */
typedef struct {
    float *dev;
    int64_t n;
    lctw_tensor *t;
} guarded;

static lctw_status guarded_new(guarded *g, const lctw_tensor *like) {
    g->t = NULL;
    g->dev = NULL;
    g->n = lctw_tensor_numel(like);
    size_t total = (size_t)(g->n + 2 * GUARD);
    float *h = malloc(total * sizeof(float));
    if (!h) return LCTW_FAIL(LCTW_ENOMEM, "test: out of host memory");
    for (size_t i = 0; i < total; i++)
        h[i] = (i < GUARD || i >= GUARD + (size_t)g->n) ? SENTINEL : 0.0f;
    void *p;
    lctw_status s = lctw_cuda_malloc(&p, total * sizeof(float));
    if (s == LCTW_OK) {
        g->dev = p;
        s = lctw_cuda_h2d(p, h, total * sizeof(float));
    }
    free(h);
    lctw_storage *st = NULL;
    if (s == LCTW_OK) s = lctw_storage_wrap(&st, g->dev, total * sizeof(float), LCTW_DEV_CUDA);
    if (s == LCTW_OK) s = lctw_tensor_on_storage(&g->t, st, GUARD, like->ndim, like->shape);
    lctw_storage_release(st);
    return s;
}

static void guarded_check(guarded *g, const char *what) {
    char w[128];
    snprintf(w, sizeof w, "%.80s (before)", what);
    check_sentinel(w, g->dev, 0, GUARD);
    snprintf(w, sizeof w, "%.80s (after)", what);
    check_sentinel(w, g->dev, GUARD + g->n, 2 * GUARD + g->n);
}

static void guarded_free(guarded *g) {
    lctw_tensor_release(g->t);
    g->t = NULL;
    lctw_cuda_free(g->dev);
    g->dev = NULL;
}

/* ---- one case ---- */

typedef struct {
    hostbuf y, grad[MAX_IN];
} results;

static void results_free(results *r) {
    hb_free(&r->y);
    for (int i = 0; i < MAX_IN; i++)
        hb_free(&r->grad[i]);
}

/* The CPU reference: forward, backward with seed R, host copies of y and the input grads. */
static lctw_status cpu_reference(const opcase *k, lctw_tensor **in, const lctw_tensor *R,
                                 results *res) {
    lctw_ctx c;
    lctw_tensor *y;
    LCTW_TRY(lctw_ctx_init(&c, LCTW_DEV_CPU, 0));
    lctw_status s = run_op(&c, in, k, &y);
    if (s == LCTW_OK) s = lctw_backward(&c, y, R);
    if (s == LCTW_OK) s = hb_of(&res->y, y);
    for (int i = 0; i < k->n_in && s == LCTW_OK; i++)
        if (in[i] && in[i]->requires_grad) {
            if (!in[i]->grad) {
                s = LCTW_FAIL(LCTW_EINVAL, "the CPU backward gave input %d no gradient", i + 1);
                break;
            }
            s = hb_of(&res->grad[i], in[i]->grad);
        }
    for (int i = 0; i < MAX_IN; i++)
        if (in[i]) in[i]->grad = NULL;
    lctw_ctx_release(&c);
    return s;
}

static int64_t saved_conv_scratch;

static void run_case(const opcase *k, int ci) {
    lctw_tensor *in[MAX_IN], *din[MAX_IN] = {0}, *R = NULL, *dR = NULL, *y = NULL, *pre = NULL;
    guarded gg[MAX_IN] = {{0}};
    results cpu = {0}, dev = {0};
    lctw_ctx gc;
    int have_ctx = 0;
    char what[96];
    if (k->conv_scratch > 0) lctw_conv_scratch_floats = k->conv_scratch;

    /* CPU half */
    lctw_status s = make_inputs(k, ci, in);
    if (s == LCTW_OK) {
        lctw_ctx c;
        lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
        lctw_ctx_set_grad(&c, 0);
        lctw_tensor *y0;
        s = run_op(&c, in, k, &y0);
        if (s == LCTW_OK) s = make_seed(&R, y0);
        lctw_ctx_release(&c);
    }
    if (s == LCTW_OK) s = cpu_reference(k, in, R, &cpu);
    if (s != LCTW_OK) {
        test_fail_(__FILE__, __LINE__, "CPU reference: %s", lctw_error_message());
        goto done;
    }
    if (lctw_cuda_device_count() <= 0) {
        case_skipped = 1;
        snprintf(case_msg, sizeof case_msg, "no CUDA device (CPU reference ran: y %lld floats)",
                 (long long)cpu.y.n);
        goto done;
    }

    /* CUDA half: inputs, seed and guarded gradients on the device */
    for (int i = 0; i < k->n_in && s == LCTW_OK; i++) {
        if (!in[i]) continue;
        s = lctw_tensor_to(&din[i], in[i], LCTW_DEV_CUDA);
        if (s == LCTW_OK) din[i]->requires_grad = in[i]->requires_grad;
        if (s == LCTW_OK && din[i]->requires_grad) s = guarded_new(&gg[i], in[i]);
    }
    if (s == LCTW_OK) s = lctw_tensor_to(&dR, R, LCTW_DEV_CUDA);
    if (s == LCTW_OK) s = lctw_ctx_init(&gc, LCTW_DEV_CUDA, ARENA_BYTES);
    have_ctx = s == LCTW_OK;
    /* the arena chunk, all sentinel, then the pre-guard just before the op's allocations */
    int64_t gshape[1] = {GUARD};
    if (s == LCTW_OK) s = lctw_arena_tensor(&gc.arena, &pre, 1, gshape);
    if (s == LCTW_OK) {
        lctw_storage *st = gc.arena.chunks[0].st;
        int64_t all = (int64_t)(st->nbytes / sizeof(float));
        lctw_tensor *whole = NULL;
        s = lctw_tensor_on_storage(&whole, st, 0, 1, &all);
        if (s == LCTW_OK) s = lctw_fill(whole, SENTINEL);
        lctw_tensor_release(whole);
    }
    if (s == LCTW_OK) s = run_op(&gc, din, k, &y);
    for (int i = 0; i < k->n_in && s == LCTW_OK; i++)
        if (din[i] && din[i]->requires_grad) din[i]->grad = gg[i].t;
    if (s == LCTW_OK) s = lctw_backward(&gc, y, dR);
    if (s == LCTW_OK) s = lctw_cuda_sync();
    if (s != LCTW_OK) {
        test_fail_(__FILE__, __LINE__, "on CUDA: %s", lctw_error_message());
        goto done;
    }

    /* results */
    CHECK_OK(hb_of(&dev.y, y));
    double worst = compare("y", &dev.y, &cpu.y, k->atol, k->rtol);
    for (int i = 0; i < k->n_in; i++) {
        if (!gg[i].t) continue;
        snprintf(what, sizeof what, "grad of input %d", i + 1);
        CHECK_OK(hb_of(&dev.grad[i], gg[i].t));
        double e = compare(what, &dev.grad[i], &cpu.grad[i], k->atol, k->rtol);
        if (e > worst) worst = e;
        guarded_check(&gg[i], what);
    }

    /* guards in the arena */
    CHECK(gc.arena.n_chunks == 1, "the arena grew to %d chunks: enlarge ARENA_BYTES",
          gc.arena.n_chunks);
    if (!case_failed) {
        const float *base = gc.arena.chunks[0].st->data;
        int64_t yo = y->offset, yn = lctw_tensor_numel(y);
        check_sentinel("arena guard before the output", base, pre->offset,
                       align_up(pre->offset + GUARD));
        if (y->st == gc.arena.chunks[0].st)
            check_sentinel("arena padding after the output", base, yo + yn, align_up(yo + yn));
        check_sentinel("unused arena tail", base, (int64_t)(gc.arena.chunks[0].used / sizeof(float)),
                       (int64_t)(gc.arena.chunks[0].st->nbytes / sizeof(float)));
    }
    test_detail("max err %.3f of tolerance (atol %.0e, rtol %.0e)", worst, k->atol, k->rtol);

done:
    if (have_ctx) lctw_ctx_release(&gc);
    for (int i = 0; i < MAX_IN; i++) {
        if (din[i]) din[i]->grad = NULL;
        guarded_free(&gg[i]);
        lctw_tensor_release(din[i]);
        lctw_tensor_release(in[i]);
    }
    lctw_tensor_release(R);
    lctw_tensor_release(dR);
    results_free(&cpu);
    results_free(&dev);
    lctw_conv_scratch_floats = saved_conv_scratch;
}

/* Prints one line per case, as test.h's RUN does for a named function. */
static void run_named(const char *name, void (*fn)(const opcase *, int), const opcase *k, int ci) {
    case_failed = case_skipped = 0;
    case_detail[0] = case_msg[0] = 0;
    fn(k, ci);
    if (case_failed) {
        test_failed++;
        printf("FAIL %s: %s: %s\n", test_base_(test_file_name), name, case_msg);
    } else if (case_skipped) {
        test_skipped++;
        printf("SKIP %s: %s: %s\n", test_base_(test_file_name), name, case_msg);
    } else {
        test_passed++;
        printf("PASS %s: %s%s%s\n", test_base_(test_file_name), name, case_detail[0] ? " " : "",
               case_detail);
    }
    fflush(stdout);
}

/* Every op of the registry has at least one case (needs no device). */
static void t_coverage(void) {
    char missing[512] = "";
    int nm = 0;
    for (int op = 0; op < LCTW_OP_COUNT; op++) {
        int found = 0;
        for (int i = 0; i < NCASES && !found; i++)
            found = cases[i].op == op && !strcmp(cases[i].opname, lctw_op_name(op));
        if (!found) {
            size_t l = strlen(missing);
            snprintf(missing + l, sizeof missing - l, "%s%s", nm++ ? ", " : "", lctw_op_name(op));
        }
    }
    CHECK(nm == 0, "no CUDA parity case for: %s", missing);
    test_detail("%d ops, %d cases", LCTW_OP_COUNT, NCASES);
}

int main(void) {
    saved_conv_scratch = lctw_conv_scratch_floats;
    int tf32 = lctw_cuda_tf32();
    lctw_cuda_set_tf32(0); /* parity: strict fp32 GEMMs */
    RUN(t_coverage);
    for (int i = 0; i < NCASES; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s%s", cases[i].opname, cases[i].variant);
        run_named(name, run_case, &cases[i], i);
    }
    lctw_cuda_set_tf32(tf32);
    return test_summary();
}
