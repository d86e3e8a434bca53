/* autograd.h — tape-based reverse-mode differentiation.
 *
 * An lctw_ctx carries what a forward needs: the device, the activation arena and the tape.
 * With grad enabled, every op whose output depends on a tensor with requires_grad appends one
 * node {backward function, inputs, output, saved tensors, scalar parameters} to the tape;
 * lctw_backward walks the tape in reverse, calling each node's backward with the gradient of its
 * output, which accumulates (+=) into the gradients of its inputs. Teacher forwards and sampling
 * run with grad off and record nothing. Models are written forward-only.
 *
 * Gradients of arena tensors are arena tensors (zeroed on first touch); gradients of parameters
 * are views into the model's one gradient buffer, set by the model (t->grad) before the step,
 * and are accumulated into — zero them before each step (lctw_zero_grad of the buffer).
 */
#ifndef LCTW_AUTOGRAD_H
#define LCTW_AUTOGRAD_H

#include "arena.h"
#include "tensor.h"

#define LCTW_NODE_MAX_IN 4
#define LCTW_NODE_MAX_SAVED 4
#define LCTW_NODE_MAX_P 8

typedef struct lctw_ctx lctw_ctx;
typedef struct lctw_node lctw_node;
typedef lctw_status (*lctw_backward_fn)(lctw_ctx *c, lctw_node *n);

struct lctw_node {
    int op; /* lctw_op_id, for error messages and profiling */
    lctw_backward_fn backward;
    int n_in;
    lctw_tensor *in[LCTW_NODE_MAX_IN]; /* NULL entries allowed (e.g. no bias) */
    lctw_tensor *out;
    lctw_tensor *saved[LCTW_NODE_MAX_SAVED];
    double p[LCTW_NODE_MAX_P];
    int64_t ip[LCTW_NODE_MAX_P];
};

struct lctw_ctx {
    lctw_device dev;
    lctw_arena arena;
    int grad_enabled;
    lctw_node *nodes;
    int n_nodes, cap_nodes;
};

lctw_status lctw_ctx_init(lctw_ctx *c, lctw_device dev, size_t arena_bytes);
void lctw_ctx_release(lctw_ctx *c);
/* Starts a new step: empties the tape and resets the arena (every arena tensor dies). */
lctw_status lctw_ctx_reset(lctw_ctx *c);
/* Returns the previous setting. */
int lctw_ctx_set_grad(lctw_ctx *c, int enabled);

/* 1 if an op with these inputs must be recorded (grad on and some input requires grad). */
int lctw_needs_grad(const lctw_ctx *c, int n, lctw_tensor *const *in);
/* Appends a node for `out` (sets out->requires_grad); *node receives it to fill saved/p. */
lctw_status lctw_tape_push(lctw_ctx *c, int op, lctw_backward_fn bwd, int n_in,
                           lctw_tensor *const *in, lctw_tensor *out, lctw_node **node);

/* The gradient buffer of t, created zeroed in the arena on first use. */
lctw_status lctw_grad_of(lctw_ctx *c, lctw_tensor *t, lctw_tensor **g);
/* Backward from a scalar (numel 1) loss with d loss = 1, or with a given seed gradient. */
lctw_status lctw_backward(lctw_ctx *c, lctw_tensor *loss, const lctw_tensor *seed);

#endif
