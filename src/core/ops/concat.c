/* concat.c — y = [a, b] along the channel axis of NCHW images, forward and backward: the U-Net
 * decoder concatenates each popped skip onto its input (ALGORITHM.md §2A). Per sample the
 * channels of a and of b are contiguous runs of y, so both directions are row copies/adds.
 * On a CUDA context: kernels/ops_conv.cu. */
#include <string.h>

#include "ops.h"

#define D(t) lctw_tensor_data(t)

/* y[n] = [a[n] (na floats), b[n] (nb floats)] */
static void concat_fwd(const float *a, const float *b, float *y, int64_t N, int64_t na,
                       int64_t nb) {
    for (int64_t n = 0; n < N; n++) {
        memcpy(y + n * (na + nb), a + n * na, (size_t)na * sizeof(float));
        memcpy(y + n * (na + nb) + na, b + n * nb, (size_t)nb * sizeof(float));
    }
}

/* g[n] += gy[n][off … off + len − 1], rows of gy are `row` floats */
static void slice_add(float *g, const float *gy, int64_t N, int64_t row, int64_t off, int64_t len) {
    for (int64_t n = 0; n < N; n++) {
        float *d = g + n * len;
        const float *s = gy + n * row + off;
        for (int64_t i = 0; i < len; i++)
            d[i] += s[i];
    }
}

static lctw_status concat_bwd(lctw_ctx *c, lctw_node *nd) {
    lctw_tensor *a = nd->in[0], *b = nd->in[1], *g;
    int64_t N = a->shape[0], na = a->shape[1] * a->shape[2] * a->shape[3],
            nb = b->shape[1] * b->shape[2] * b->shape[3];
    const float *gy = D(nd->out->grad);
    if (lctw_op_cuda(c)) {
        float *ga = NULL, *gb = NULL;
        if (a->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, a, &g));
            ga = D(g);
        }
        if (b->requires_grad) {
            LCTW_TRY(lctw_grad_of(c, b, &g));
            gb = D(g);
        }
        return lctw_cuda_op_concat_bwd(gy, ga, gb, N, na, nb);
    }
    if (a->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, a, &g));
        slice_add(D(g), gy, N, na + nb, 0, na);
    }
    if (b->requires_grad) {
        LCTW_TRY(lctw_grad_of(c, b, &g));
        slice_add(D(g), gy, N, na + nb, na, nb);
    }
    return LCTW_OK;
}

lctw_status lctw_op_concat_channels(lctw_ctx *c, lctw_tensor *a, lctw_tensor *b, lctw_tensor **y) {
    lctw_tensor *in[2] = {a, b};
    LCTW_TRY(lctw_op_check(c, LCTW_OP_concat_channels, 2, in));
    if (a->ndim != 4 || b->ndim != 4 || a->shape[0] != b->shape[0] || a->shape[2] != b->shape[2] ||
        a->shape[3] != b->shape[3]) {
        char s1[96], s2[96];
        return LCTW_FAIL(LCTW_ESHAPE,
                         "concat_channels: %s and %s must be N×C×H×W with the same "
                         "N, H and W",
                         lctw_tensor_shape_str(s1, sizeof s1, a),
                         lctw_tensor_shape_str(s2, sizeof s2, b));
    }
    int64_t N = a->shape[0];
    int64_t shape[4] = {N, a->shape[1] + b->shape[1], a->shape[2], a->shape[3]};
    LCTW_TRY(lctw_arena_tensor(&c->arena, y, 4, shape));
    int64_t na = a->shape[1] * a->shape[2] * a->shape[3];
    int64_t nb = b->shape[1] * b->shape[2] * b->shape[3];
    if (lctw_op_cuda(c))
        LCTW_TRY(lctw_cuda_op_concat_fwd(D(a), D(b), D(*y), N, na, nb));
    else
        concat_fwd(D(a), D(b), D(*y), N, na, nb);
    if (lctw_needs_grad(c, 2, in))
        LCTW_TRY(lctw_tape_push(c, LCTW_OP_concat_channels, concat_bwd, 2, in, *y, NULL));
    return LCTW_OK;
}
