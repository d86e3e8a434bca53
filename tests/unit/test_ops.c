/* test_ops.c — every differentiable op: forward against a double-precision loop and backward
 * against central finite differences (gradcheck.h). tests/check/test_op_coverage.sh fails for an
 * op of the registry (src/core/ops/ops.h) without a check_grad(LCTW_OP_<name>, ...) call in a
 * tests/unit/test_ops*.c file. */
#include "test.h"

#include "core/ops/ops.h"
#include "gradcheck.h"

static gc_opts default_opts(void) {
    gc_opts o = {.eps = 1e-2, .atol = 2e-3, .rtol = 2e-2, .max_elems = 48};
    return o;
}

static const int64_t SH[3] = {2, 3, 5};

/* ---- element-wise binary ---- */
typedef struct {
    int op;
} op_ud;

static lctw_status f_binary(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    switch (((op_ud *)ud)->op) {
    case LCTW_OP_add: return lctw_op_add(c, in[0], in[1], y);
    case LCTW_OP_sub: return lctw_op_sub(c, in[0], in[1], y);
    default: return lctw_op_mul(c, in[0], in[1], y);
    }
}

static void binary_case(int op) {
    lctw_tensor *in[2] = {gc_input(3, SH, 1, 1.0f, 0.0f), gc_input(3, SH, 2, 1.0f, 0.0f)};
    op_ud ud = {op};
    /* forward vs double */
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_tensor *y;
    CHECK_OK(f_binary(&c, in, &ud, &y));
    if (case_failed) return;
    const float *a = lctw_tensor_data(in[0]), *b = lctw_tensor_data(in[1]);
    for (int64_t i = 0; i < 30; i++) {
        double r = op == LCTW_OP_add ? (double)a[i] + b[i]
                   : op == LCTW_OP_sub ? (double)a[i] - b[i] : (double)a[i] * b[i];
        CHECK_CLOSE(lctw_tensor_data(y)[i], r, 1e-6, 1e-6);
    }
    lctw_ctx_release(&c);
    check_grad(op, f_binary, &ud, 2, in, default_opts());
    lctw_tensor_release(in[0]);
    lctw_tensor_release(in[1]);
}
static void t_add(void) { binary_case(LCTW_OP_add); }
static void t_sub(void) { binary_case(LCTW_OP_sub); }
static void t_mul(void) { binary_case(LCTW_OP_mul); }

static void t_shape_mismatch(void) {
    int64_t s2[2] = {3, 2};
    lctw_tensor *a = gc_input(3, SH, 1, 1, 0), *b = gc_input(2, s2, 1, 1, 0), *y;
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_status s = lctw_op_add(&c, a, b, &y);
    CHECK(s == LCTW_ESHAPE, "status %d", s);
    CHECK(strstr(lctw_error_message(), "2×3×5") && strstr(lctw_error_message(), "3×2"), "message: %s",
          lctw_error_message());
    lctw_ctx_release(&c);
    lctw_tensor_release(a);
    lctw_tensor_release(b);
}

/* ---- unary with a parameter ---- */
typedef struct {
    int op;
    float p;
} un_ud;

static lctw_status f_unary(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    un_ud *u = ud;
    switch (u->op) {
    case LCTW_OP_scale: return lctw_op_scale(c, in[0], u->p, y);
    case LCTW_OP_add_scalar: return lctw_op_add_scalar(c, in[0], u->p, y);
    case LCTW_OP_silu: return lctw_op_silu(c, in[0], y);
    case LCTW_OP_relu: return lctw_op_relu(c, in[0], y);
    case LCTW_OP_leaky_relu: return lctw_op_leaky_relu(c, in[0], u->p, y);
    case LCTW_OP_gelu_tanh: return lctw_op_gelu_tanh(c, in[0], y);
    case LCTW_OP_tanh: return lctw_op_tanh(c, in[0], y);
    case LCTW_OP_sum: return lctw_op_sum(c, in[0], y);
    case LCTW_OP_mean: return lctw_op_mean(c, in[0], y);
    default: {
        int64_t s[2] = {6, 5};
        return lctw_op_view(c, in[0], 2, s, y);
    }
    }
}

static double ref_unary(int op, double x, double p) {
    switch (op) {
    case LCTW_OP_scale: return p * x;
    case LCTW_OP_add_scalar: return x + p;
    case LCTW_OP_silu: return x / (1 + exp(-x));
    case LCTW_OP_relu: return x > 0 ? x : 0;
    case LCTW_OP_leaky_relu: return x > 0 ? x : p * x;
    case LCTW_OP_gelu_tanh:
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case LCTW_OP_tanh: return tanh(x);
    default: return x;
    }
}

static void unary_case(int op, float p) {
    lctw_tensor *x = gc_input(3, SH, 3, 2.0f, 0.0f);
    /* keep kinked activations away from the kink so finite differences are valid */
    if (op == LCTW_OP_relu || op == LCTW_OP_leaky_relu) {
        float *xp = lctw_tensor_data(x);
        for (int i = 0; i < 30; i++)
            if (fabsf(xp[i]) < 0.1f) xp[i] = xp[i] < 0 ? -0.1f - xp[i] : 0.1f + xp[i];
    }
    un_ud ud = {op, p};
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_tensor *y;
    CHECK_OK(f_unary(&c, &x, &ud, &y));
    if (case_failed) return;
    const float *xp = lctw_tensor_data(x);
    if (op == LCTW_OP_sum || op == LCTW_OP_mean) {
        double s = 0;
        for (int i = 0; i < 30; i++) s += xp[i];
        CHECK_CLOSE(lctw_tensor_data(y)[0], op == LCTW_OP_sum ? s : s / 30, 1e-5, 1e-6);
    } else {
        for (int i = 0; i < 30; i++) CHECK_CLOSE(lctw_tensor_data(y)[i], ref_unary(op, xp[i], p), 1e-6, 1e-5);
    }
    lctw_ctx_release(&c);
    check_grad(op, f_unary, &ud, 1, &x, default_opts());
    lctw_tensor_release(x);
}
static void t_scale(void) { unary_case(LCTW_OP_scale, -1.7f); }
static void t_add_scalar(void) { unary_case(LCTW_OP_add_scalar, 0.3f); }
static void t_silu(void) { unary_case(LCTW_OP_silu, 0); }
static void t_relu(void) { unary_case(LCTW_OP_relu, 0); }
static void t_leaky_relu(void) { unary_case(LCTW_OP_leaky_relu, 0.01f); }
static void t_gelu_tanh(void) { unary_case(LCTW_OP_gelu_tanh, 0); }
static void t_tanh(void) { unary_case(LCTW_OP_tanh, 0); }
static void t_sum(void) { unary_case(LCTW_OP_sum, 0); }
static void t_mean(void) { unary_case(LCTW_OP_mean, 0); }
static void t_view(void) { unary_case(LCTW_OP_view, 0); }

/* ---- linear ---- */
static lctw_status f_linear(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_linear(c, in[0], in[1], in[2], y);
}

static void t_linear(void) {
    int64_t xs[3] = {2, 3, 7}, ws[2] = {5, 7}, bs[1] = {5};
    lctw_tensor *in[3] = {gc_input(3, xs, 11, 1, 0), gc_input(2, ws, 12, 0.5f, 0), gc_input(1, bs, 13, 1, 0)};
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_tensor *y;
    CHECK_OK(f_linear(&c, in, NULL, &y));
    if (case_failed) return;
    const float *x = lctw_tensor_data(in[0]), *w = lctw_tensor_data(in[1]), *b = lctw_tensor_data(in[2]);
    for (int i = 0; i < 6; i++)
        for (int o = 0; o < 5; o++) {
            double r = b[o];
            for (int k = 0; k < 7; k++) r += (double)x[i * 7 + k] * w[o * 7 + k];
            CHECK_CLOSE(lctw_tensor_data(y)[i * 5 + o], r, 1e-5, 1e-5);
        }
    lctw_ctx_release(&c);
    check_grad(LCTW_OP_linear, f_linear, NULL, 3, in, default_opts());
    /* without bias */
    lctw_tensor *nb[3] = {in[0], in[1], NULL};
    gc_opts o = default_opts();
    char why[256];
    CHECK(!gradcheck(f_linear, NULL, 3, nb, &o, why, sizeof why), "no bias: %s", why);
    for (int i = 0; i < 3; i++) lctw_tensor_release(in[i]);
}

static lctw_status f_scale_rows(lctw_ctx *c, lctw_tensor **in, void *ud, lctw_tensor **y) {
    return lctw_op_scale_rows(c, in[0], in[1], y);
}

static void t_scale_rows(void) {
    int64_t xs[3] = {3, 2, 5}, ss[1] = {3};
    lctw_tensor *in[2] = {gc_input(3, xs, 21, 1, 0), gc_input(1, ss, 22, 1, 0)};
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_tensor *y;
    CHECK_OK(f_scale_rows(&c, in, NULL, &y));
    if (case_failed) return;
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 10; i++)
            CHECK_CLOSE(lctw_tensor_data(y)[b * 10 + i],
                        (double)lctw_tensor_data(in[1])[b] * lctw_tensor_data(in[0])[b * 10 + i], 1e-7, 1e-6);
    lctw_ctx_release(&c);
    check_grad(LCTW_OP_scale_rows, f_scale_rows, NULL, 2, in, default_opts());
    lctw_tensor_release(in[0]);
    lctw_tensor_release(in[1]);
}

static void t_grad_off_records_nothing(void) {
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 0);
    lctw_tensor *x = gc_input(3, SH, 1, 1, 0), *y;
    lctw_ctx_set_grad(&c, 0);
    CHECK_OK(lctw_op_silu(&c, x, &y));
    CHECK(c.n_nodes == 0, "%d nodes recorded with grad off", c.n_nodes);
    lctw_ctx_set_grad(&c, 1);
    CHECK_OK(lctw_op_silu(&c, x, &y));
    CHECK(c.n_nodes == 1, "%d nodes with grad on", c.n_nodes);
    lctw_ctx_release(&c);
    lctw_tensor_release(x);
}

static void t_arena_steady_state(void) {
    /* the same forward+backward repeated: no new arena chunks after the first steps */
    lctw_ctx c;
    lctw_ctx_init(&c, LCTW_DEV_CPU, 4096);
    int64_t xs[2] = {64, 32}, ws[2] = {48, 32};
    lctw_tensor *x = gc_input(2, xs, 1, 1, 0), *w = gc_input(2, ws, 2, 1, 0);
    int64_t allocs_after_warmup = 0;
    for (int step = 0; step < 6; step++) {
        CHECK_OK(lctw_ctx_reset(&c));
        lctw_tensor *h, *a, *l;
        CHECK_OK(lctw_op_linear(&c, x, w, NULL, &h));
        CHECK_OK(lctw_op_silu(&c, h, &a));
        CHECK_OK(lctw_op_mean(&c, a, &l));
        CHECK_OK(lctw_backward(&c, l, NULL));
        w->grad = x->grad = NULL;
        if (step == 2) allocs_after_warmup = c.arena.n_allocs;
    }
    CHECK(c.arena.n_allocs == allocs_after_warmup, "arena allocated %lld chunks after warm-up",
          (long long)(c.arena.n_allocs - allocs_after_warmup));
    test_detail("%lld chunk allocations in total", (long long)c.arena.n_allocs);
    lctw_ctx_release(&c);
    lctw_tensor_release(x);
    lctw_tensor_release(w);
}


int main(void) {
    RUN(t_add);
    RUN(t_sub);
    RUN(t_mul);
    RUN(t_shape_mismatch);
    RUN(t_scale);
    RUN(t_add_scalar);
    RUN(t_silu);
    RUN(t_relu);
    RUN(t_leaky_relu);
    RUN(t_gelu_tanh);
    RUN(t_tanh);
    RUN(t_sum);
    RUN(t_mean);
    RUN(t_view);
    RUN(t_linear);
    RUN(t_scale_rows);
    RUN(t_grad_off_records_nothing);
    RUN(t_arena_steady_state);
    return test_summary();
}
