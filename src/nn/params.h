/* params.h — a model's parameters in one contiguous buffer (and their gradients in another).
 *
 * A network declares its parameters by name (the PyTorch reference's state_dict names, so a
 * safetensors checkpoint maps 1:1) and shape, then lctw_params_finalize allocates one data
 * buffer and one gradient buffer and gives every parameter a tensor view into each
 * (p->t, with p->t->grad the gradient view and requires_grad = trainable). Optimizers, EMA,
 * clipping, checkpoints and (later) all-reduce work on the flat buffers in one call.
 * Frozen parameters (NsLN's γ = 1) are stored (they are in the reference state_dict) but have
 * requires_grad = 0; they still occupy the flat buffer, and optimizers skip them by mask.
 */
#ifndef LCTW_PARAMS_H
#define LCTW_PARAMS_H

#include "core/tensor.h"

#define LCTW_PARAM_NAME 96

typedef struct lctw_param {
    char name[LCTW_PARAM_NAME];
    int ndim;
    int64_t shape[LCTW_MAX_DIMS];
    int64_t offset; /* elements into the flat buffers */
    int64_t numel;
    int trainable;
    lctw_tensor *t; /* view into data (t->grad: view into grad) after finalize */
} lctw_param;

typedef struct lctw_params {
    lctw_param *p;
    int n, cap;
    int64_t total;     /* elements in all parameters */
    int64_t trainable; /* elements in trainable parameters */
    lctw_device dev;
    lctw_tensor *data; /* flat (total) */
    lctw_tensor *grad; /* flat (total) */
} lctw_params;

void lctw_params_init(lctw_params *ps);
void lctw_params_release(lctw_params *ps);
/* Declares a parameter; *index receives its position (use it to find p->t after finalize). */
lctw_status lctw_params_add(lctw_params *ps, const char *name, int ndim, const int64_t *shape,
                            int trainable, int *index);
/* printf-style name helper: lctw_params_addf(ps, &i, trainable, ndim, shape, "enc.%s.weight", k) */
lctw_status lctw_params_addf(lctw_params *ps, int *index, int trainable, int ndim,
                             const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Allocates the flat buffers on dev (zeroed) and creates the views. */
lctw_status lctw_params_finalize(lctw_params *ps, lctw_device dev);
/* Index of a parameter by name, or −1. */
int lctw_params_find(const lctw_params *ps, const char *name);
lctw_tensor *lctw_params_get(const lctw_params *ps, int index);
/* Moves both flat buffers to dev (the values are copied, the gradient starts at zero); every
 * parameter view follows. On failure (e.g. out of device memory) nothing changes. Tensors
 * handed out earlier as separate views of the old buffer (model:param) keep the old memory. */
lctw_status lctw_params_to(lctw_params *ps, lctw_device dev);
/* Zeroes the gradient buffer. */
lctw_status lctw_params_zero_grad(lctw_params *ps);

#endif
