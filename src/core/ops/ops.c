/* ops.c — the op registry (names) and argument checks shared by the op implementations. */
#include "ops.h"

static const char *const op_names[] = {
#define X(name) #name,
    LCTW_OP_LIST(X)
#undef X
};

const char *lctw_op_name(int op) {
    return op >= 0 && op < LCTW_OP_COUNT ? op_names[op] : "unknown op";
}

lctw_status lctw_op_check(lctw_ctx *c, int op, int n, lctw_tensor *const *in) {
    for (int i = 0; i < n; i++) {
        const lctw_tensor *t = in[i];
        if (!t) continue;
        if (lctw_tensor_device(t) != c->dev)
            return LCTW_FAIL(LCTW_EDEVICE, "%s: input %d is on %s, the context on %s",
                             lctw_op_name(op), i + 1,
                             lctw_tensor_device(t) == LCTW_DEV_CUDA ? "cuda" : "cpu",
                             c->dev == LCTW_DEV_CUDA ? "cuda" : "cpu");
        if (!lctw_tensor_is_contiguous(t))
            return LCTW_FAIL(LCTW_EINVAL, "%s: input %d is not contiguous", lctw_op_name(op), i + 1);
    }
    return LCTW_OK;
}

lctw_status lctw_op_same_shape(int op, const lctw_tensor *a, const lctw_tensor *b) {
    if (lctw_tensor_same_shape(a, b)) return LCTW_OK;
    char x[96], y[96];
    return LCTW_FAIL(LCTW_ESHAPE, "%s: shapes %s and %s differ", lctw_op_name(op),
                     lctw_tensor_shape_str(x, sizeof x, a), lctw_tensor_shape_str(y, sizeof y, b));
}
