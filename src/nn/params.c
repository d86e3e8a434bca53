/* params.c — see params.h. */
#include "params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tmath.h"

void lctw_params_init(lctw_params *ps) { memset(ps, 0, sizeof *ps); }

void lctw_params_release(lctw_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        lctw_tensor *t = ps->p[i].t;
        if (t) {
            lctw_tensor *g = t->grad;
            t->grad = NULL;
            lctw_tensor_release(g);
            lctw_tensor_release(t);
        }
    }
    free(ps->p);
    lctw_tensor_release(ps->data);
    lctw_tensor_release(ps->grad);
    memset(ps, 0, sizeof *ps);
}

lctw_status lctw_params_add(lctw_params *ps, const char *name, int ndim, const int64_t *shape,
                            int trainable, int *index) {
    if (ps->data) return LCTW_FAIL(LCTW_EINVAL, "params: cannot add '%s' after finalize", name);
    LCTW_TRY(lctw_shape_check(ndim, shape));
    if (strlen(name) >= LCTW_PARAM_NAME)
        return LCTW_FAIL(LCTW_EINVAL, "params: name too long: %s", name);
    if (lctw_params_find(ps, name) >= 0)
        return LCTW_FAIL(LCTW_EINVAL, "params: duplicate parameter name '%s'", name);
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 64;
        lctw_param *np = realloc(ps->p, (size_t)cap * sizeof *np);
        if (!np) return LCTW_FAIL(LCTW_ENOMEM, "params: out of memory");
        ps->p = np;
        ps->cap = cap;
    }
    lctw_param *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    for (int i = 0; i < ndim; i++) p->shape[i] = shape[i];
    p->numel = lctw_shape_numel(ndim, shape);
    p->offset = ps->total;
    p->trainable = trainable;
    ps->total += p->numel;
    if (trainable) ps->trainable += p->numel;
    if (index) *index = ps->n;
    ps->n++;
    return LCTW_OK;
}

lctw_status lctw_params_addf(lctw_params *ps, int *index, int trainable, int ndim,
                             const int64_t *shape, const char *fmt, ...) {
    char name[LCTW_PARAM_NAME + 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return lctw_params_add(ps, name, ndim, shape, trainable, index);
}

lctw_status lctw_params_finalize(lctw_params *ps, lctw_device dev) {
    int64_t n = ps->total;
    ps->dev = dev;
    LCTW_TRY(lctw_tensor_zeros(&ps->data, 1, &n, dev));
    LCTW_TRY(lctw_tensor_zeros(&ps->grad, 1, &n, dev));
    for (int i = 0; i < ps->n; i++) {
        lctw_param *p = &ps->p[i];
        LCTW_TRY(lctw_tensor_on_storage(&p->t, ps->data->st, p->offset, p->ndim, p->shape));
        LCTW_TRY(lctw_tensor_on_storage(&p->t->grad, ps->grad->st, p->offset, p->ndim, p->shape));
        p->t->requires_grad = (unsigned char)p->trainable;
    }
    return LCTW_OK;
}

int lctw_params_find(const lctw_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, name)) return i;
    return -1;
}

lctw_tensor *lctw_params_get(const lctw_params *ps, int index) {
    return index >= 0 && index < ps->n ? ps->p[index].t : NULL;
}

lctw_status lctw_params_zero_grad(lctw_params *ps) {
    return ps->grad ? lctw_fill(ps->grad, 0.0f) : LCTW_OK;
}

/* Points every view of p at the same offset of storage st (one reference each). */
static void repoint(lctw_tensor *t, lctw_storage *st) {
    lctw_storage *old = t->st;
    st->refcount++;
    t->st = st;
    lctw_storage_release(old);
}

lctw_status lctw_params_to(lctw_params *ps, lctw_device dev) {
    if (!ps->data) return LCTW_FAIL(LCTW_EINVAL, "params: not finalized (no flat buffers)");
    if (ps->dev == dev) return LCTW_OK;
    int64_t n = ps->total;
    lctw_tensor *nd = NULL, *ng = NULL;
    lctw_status s = lctw_tensor_empty(&nd, 1, &n, dev);
    if (s == LCTW_OK) s = lctw_tensor_copy(nd, ps->data);
    if (s == LCTW_OK) s = lctw_tensor_zeros(&ng, 1, &n, dev);
    if (s != LCTW_OK) { /* nothing changed: the parameters stay where they were */
        lctw_tensor_release(nd);
        lctw_tensor_release(ng);
        lctw_error_prefix("moving %lld parameters to %s", (long long)n,
                          dev == LCTW_DEV_CUDA ? "cuda" : "cpu");
        return s;
    }
    for (int i = 0; i < ps->n; i++) {
        repoint(ps->p[i].t, nd->st);
        repoint(ps->p[i].t->grad, ng->st);
    }
    lctw_tensor_release(ps->data);
    lctw_tensor_release(ps->grad);
    ps->data = nd;
    ps->grad = ng;
    ps->dev = dev;
    return LCTW_OK;
}
