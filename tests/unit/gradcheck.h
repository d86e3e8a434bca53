/* gradcheck.h — central finite differences against the tape's backward, for op tests.
 *
 * gradcheck(fn, ud, n_in, inputs, opts): runs y = fn(ctx, inputs) with gradients, seeds the
 * backward with a fixed random R (so L = Σ y·R), then for a sample of elements of every input
 * that requires grad compares ∂L/∂x from the tape with (L(x+ε) − L(x−ε)) / 2ε, where L is
 * accumulated in double. Inputs are CPU heap tensors; fn must only use ops on ctx.
 */
#ifndef LCTW_GRADCHECK_H
#define LCTW_GRADCHECK_H

#include <stdlib.h>

#include "core/autograd.h"
#include "core/rng.h"
#include "core/tmath.h"

typedef lctw_status (*gc_fn)(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y);

typedef struct {
    double eps, atol, rtol;
    int max_elems; /* per input; 0 = all */
    double max_err; /* out: worst |analytic − numeric| / (atol + rtol·|numeric|) */
} gc_opts;

static double gc_loss(lctw_ctx *c, gc_fn fn, lctw_tensor **in, void *ud, const lctw_tensor *R,
                      lctw_status *st) {
    lctw_tensor *y;
    *st = lctw_ctx_reset(c);
    if (*st == LCTW_OK) *st = fn(c, in, ud, &y);
    if (*st != LCTW_OK) return 0.0;
    const float *yp = lctw_tensor_data(y), *rp = lctw_tensor_data(R);
    double L = 0.0;
    for (int64_t i = 0; i < lctw_tensor_numel(y); i++) L += (double)yp[i] * rp[i];
    return L;
}

/* Returns 0 when all sampled gradients agree; else 1 and a message in *why. */
static int gradcheck(gc_fn fn, void *ud, int n_in, lctw_tensor **in, gc_opts *o, char *why,
                     size_t why_n) {
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 1 << 20);
    lctw_tensor *y, *R = NULL, *ana[8] = {0};
    int bad = 0;
    o->max_err = 0.0;
    lctw_status st = fn(&c, in, ud, &y);
    if (st != LCTW_OK) {
        snprintf(why, why_n, "forward failed: %s", lctw_error_message());
        bad = 1;
        goto done;
    }
    lctw_tensor_empty(&R, y->ndim, y->shape, LCTW_DEV_CPU);
    for (int64_t k = 0; k < lctw_tensor_numel(R); k++)
        lctw_tensor_data(R)[k] = lctw_rng_normal_at(1234, 7, 0, (uint64_t)k);
    st = lctw_backward(&c, y, R);
    if (st != LCTW_OK) {
        snprintf(why, why_n, "backward failed: %s", lctw_error_message());
        bad = 1;
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        if (!in[i] || !in[i]->requires_grad) continue;
        if (!in[i]->grad) {
            lctw_tensor_zeros(&ana[i], in[i]->ndim, in[i]->shape, LCTW_DEV_CPU);
        } else {
            lctw_tensor_clone(&ana[i], in[i]->grad);
        }
        in[i]->grad = NULL; /* arena grads die at the next reset */
    }
    lctw_ctx_set_grad(&c, 0);
    for (int i = 0; i < n_in && !bad; i++) {
        if (!ana[i]) continue;
        int64_t n = lctw_tensor_numel(in[i]);
        int64_t step = (o->max_elems && n > o->max_elems) ? n / o->max_elems : 1;
        float *x = lctw_tensor_data(in[i]);
        for (int64_t k = (step > 1 ? step / 2 : 0); k < n; k += step) {
            float x0 = x[k];
            x[k] = (float)(x0 + o->eps);
            double lp = gc_loss(&c, fn, in, ud, R, &st);
            x[k] = (float)(x0 - o->eps);
            double lm = gc_loss(&c, fn, in, ud, R, &st);
            double h = ((double)(float)(x0 + o->eps) - (double)(float)(x0 - o->eps));
            x[k] = x0;
            if (st != LCTW_OK) {
                snprintf(why, why_n, "forward failed: %s", lctw_error_message());
                bad = 1;
                break;
            }
            double num = (lp - lm) / h, a = lctw_tensor_data(ana[i])[k];
            double err = fabs(a - num) / (o->atol + o->rtol * fabs(num));
            if (err > o->max_err) o->max_err = err;
            if (err > 1.0) {
                snprintf(why, why_n, "input %d element %lld: backward %.6g, finite difference %.6g",
                         i + 1, (long long)k, a, num);
                bad = 1;
                break;
            }
        }
    }
done:
    for (int i = 0; i < 8; i++) lctw_tensor_release(ana[i]);
    lctw_tensor_release(R);
    for (int i = 0; i < n_in; i++)
        if (in[i]) in[i]->grad = NULL;
    lctw_ctx_release(&c);
    return bad;
}

/* A CPU tensor with N(0,1)·scale + shift values that requires grad. */
static lctw_tensor *gc_input(int ndim, const int64_t *shape, uint64_t seed, float scale,
                             float shift) {
    lctw_tensor *t;
    if (lctw_tensor_empty(&t, ndim, shape, LCTW_DEV_CPU) != LCTW_OK) return NULL;
    float *p = lctw_tensor_data(t);
    for (int64_t i = 0; i < lctw_tensor_numel(t); i++)
        p[i] = lctw_rng_normal_at(seed, 1, 0, (uint64_t)i) * scale + shift;
    t->requires_grad = 1;
    return t;
}

/* For test files (after test.h): runs gradcheck as a test check, records op coverage in the
 * file named by $LCTW_OP_COVERAGE (tests/check/test_op_coverage.sh reads it) and puts the worst
 * error in the PASS detail. */
#ifdef LCTW_TEST_H
#include "core/ops/ops.h"
static void check_grad(int op, gc_fn fn, void *ud, int n, lctw_tensor **in, gc_opts o) {
    char why[512] = "";
    const char *log = getenv("LCTW_OP_COVERAGE");
    if (log && *log) {
        FILE *f = fopen(log, "a");
        if (f) {
            fprintf(f, "%s\n", lctw_op_name(op));
            fclose(f);
        }
    }
    if (gradcheck(fn, ud, n, in, &o, why, sizeof why)) test_fail_(__FILE__, __LINE__, "%s", why);
    test_detail("max err %.3f of tolerance", o.max_err);
}
#endif

#endif
