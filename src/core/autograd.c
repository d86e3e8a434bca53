/* autograd.c — the tape and the backward walk (see autograd.h). */
#include "autograd.h"

#include <stdlib.h>
#include <string.h>

#include "interrupt.h"
#include "ops/ops.h"
#include "tmath.h"

lctw_status lctw_ctx_init(lctw_ctx *c, lctw_device dev, size_t arena_bytes) {
    memset(c, 0, sizeof *c);
    c->dev = dev;
    c->grad_enabled = 1;
    return lctw_arena_init(&c->arena, dev, arena_bytes);
}

void lctw_ctx_release(lctw_ctx *c) {
    lctw_arena_release(&c->arena);
    free(c->nodes);
    memset(c, 0, sizeof *c);
}

lctw_status lctw_ctx_reset(lctw_ctx *c) {
    c->n_nodes = 0;
    return lctw_arena_reset(&c->arena);
}

int lctw_ctx_set_grad(lctw_ctx *c, int enabled) {
    int old = c->grad_enabled;
    c->grad_enabled = enabled;
    return old;
}

int lctw_needs_grad(const lctw_ctx *c, int n, lctw_tensor *const *in) {
    if (!c->grad_enabled) return 0;
    for (int i = 0; i < n; i++)
        if (in[i] && in[i]->requires_grad) return 1;
    return 0;
}

lctw_status lctw_tape_push(lctw_ctx *c, int op, lctw_backward_fn bwd, int n_in,
                           lctw_tensor *const *in, lctw_tensor *out, lctw_node **node) {
    if (n_in > LCTW_NODE_MAX_IN) return LCTW_FAIL(LCTW_EINVAL, "tape: too many op inputs");
    if (c->n_nodes == c->cap_nodes) {
        int cap = c->cap_nodes ? 2 * c->cap_nodes : 256;
        lctw_node *nn = realloc(c->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return LCTW_FAIL(LCTW_ENOMEM, "tape: out of memory");
        c->nodes = nn;
        c->cap_nodes = cap;
    }
    lctw_node *n = &c->nodes[c->n_nodes++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->backward = bwd;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    n->out = out;
    out->requires_grad = 1;
    if (node) *node = n;
    return LCTW_OK;
}

lctw_status lctw_grad_of(lctw_ctx *c, lctw_tensor *t, lctw_tensor **g) {
    if (!t->grad) {
        LCTW_TRY(lctw_arena_zeros(&c->arena, &t->grad, t->ndim, t->shape));
    }
    *g = t->grad;
    return LCTW_OK;
}

lctw_status lctw_backward(lctw_ctx *c, lctw_tensor *loss, const lctw_tensor *seed) {
    if (!loss->requires_grad)
        return LCTW_FAIL(LCTW_EINVAL, "backward: the loss does not depend on any parameter");
    lctw_tensor *g;
    LCTW_TRY(lctw_grad_of(c, loss, &g));
    if (seed) {
        LCTW_TRY(lctw_tensor_copy(g, seed));
    } else {
        if (lctw_tensor_numel(loss) != 1)
            return LCTW_FAIL(LCTW_EINVAL, "backward: the loss must have one element (or pass a seed)");
        LCTW_TRY(lctw_fill(g, 1.0f));
    }
    int grad = lctw_ctx_set_grad(c, 0); /* backward itself records nothing */
    lctw_status s = LCTW_OK;
    for (int i = c->n_nodes - 1; i >= 0 && s == LCTW_OK; i--) {
        lctw_node *n = &c->nodes[i];
        if (!n->out->grad) continue; /* nothing flowed into this node */
        s = n->backward(c, n);
        if (s == LCTW_OK && (i & 63) == 0) s = lctw_check_interrupt();
        if (s != LCTW_OK && s != LCTW_EINTR) lctw_error_prefix("backward of %s", lctw_op_name(n->op));
    }
    lctw_ctx_set_grad(c, grad);
    return s;
}
