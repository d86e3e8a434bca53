/* test_tensor.c — src/core/tensor.c and mem.c: shapes, views (view, reshape, narrow, select,
 * transpose) and their errors, copies, flat access, reference counts against the memory
 * accounting, and the host memory limit. */
#include <stdint.h>
#include <stdlib.h>

#include "core/tensor.h"
#include "lctw_cuda.h"
#include "test.h"

/* A contiguous tensor holding 0, 1, 2, … in row-major order. */
static lctw_tensor *iota(int nd, const int64_t *sh) {
    lctw_tensor *t = NULL;
    if (lctw_tensor_empty(&t, nd, sh, LCTW_DEV_CPU) != LCTW_OK) {
        printf("FAIL test_tensor.c: setup: %s\n", lctw_error_message());
        exit(1);
    }
    for (int64_t i = 0; i < lctw_tensor_numel(t); i++) lctw_tensor_data(t)[i] = (float)i;
    return t;
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

#define CHECK_ERR(expr, code, part)                                                                \
    do {                                                                                           \
        lctw_error_clear();                                                                        \
        lctw_status e_ = (expr);                                                                   \
        CHECK(e_ == (code) && has(lctw_error_message(), part),                                     \
              "%s: status %s, message '%s' (expected %s with '%s')", #expr, lctw_status_name(e_),  \
              lctw_error_message(), lctw_status_name(code), part);                                 \
    } while (0)

static void t_shapes(void) {
    char buf[64];
    CHECK(!strcmp(lctw_shape_str(buf, sizeof buf, 3, (int64_t[]){4, 32, 32}), "4×32×32"), "'%s'",
          buf);
    CHECK(!strcmp(lctw_shape_str(buf, sizeof buf, 0, NULL), "scalar"), "'%s'", buf);
    CHECK(lctw_shape_numel(0, NULL) == 1, "0-d numel");
    CHECK(lctw_shape_numel(2, (int64_t[]){5, 0}) == 0, "empty numel");
    CHECK_OK(lctw_shape_check(4, (int64_t[]){2, 3, 4, 5}));
    CHECK_ERR(lctw_shape_check(5, (int64_t[]){1, 1, 1, 1, 1}), LCTW_ESHAPE, "at most 4");
    CHECK_ERR(lctw_shape_check(2, (int64_t[]){3, -2}), LCTW_ESHAPE, "dimension 2 is negative");
    /* 2^80 elements: the count (and its bytes) overflows */
    int64_t huge[4] = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
    CHECK_ERR(lctw_shape_check(4, huge), LCTW_ENOMEM, "overflows");
    int64_t edge[2] = {(int64_t)1 << 30, (int64_t)1 << 29}; /* 2^59 elements: accepted */
    CHECK_OK(lctw_shape_check(2, edge));
    int64_t over[2] = {(int64_t)1 << 31, (int64_t)1 << 30}; /* 2^61 elements, 2^63 bytes */
    CHECK_ERR(lctw_shape_check(2, over), LCTW_ENOMEM, "overflows");
    lctw_tensor *t = (lctw_tensor *)1;
    size_t before = lctw_mem_in_use(LCTW_DEV_CPU);
    CHECK_ERR(lctw_tensor_empty(&t, 4, huge, LCTW_DEV_CPU), LCTW_ENOMEM, "overflows");
    CHECK(t == NULL && lctw_mem_in_use(LCTW_DEV_CPU) == before, "failed creation left state");
}

static void t_creation(void) {
    lctw_tensor *z, *f, *m, *s;
    CHECK_OK(lctw_tensor_zeros(&z, 2, (int64_t[]){3, 5}, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_full(&f, 3, (int64_t[]){2, 1, 3}, LCTW_DEV_CPU, 2.5f));
    CHECK_OK(lctw_tensor_full(&m, 1, (int64_t[]){4}, LCTW_DEV_CPU, -0.0f));
    CHECK_OK(lctw_tensor_zeros(&s, 0, NULL, LCTW_DEV_CPU));
    for (int i = 0; i < 15; i++) CHECK(lctw_tensor_data(z)[i] == 0.0f, "zeros[%d]", i);
    for (int i = 0; i < 6; i++) CHECK(lctw_tensor_data(f)[i] == 2.5f, "full[%d]", i);
    for (int i = 0; i < 4; i++)
        CHECK(lctw_tensor_data(m)[i] == 0.0f && signbit(lctw_tensor_data(m)[i]),
              "full(-0.0)[%d] = %g", i, lctw_tensor_data(m)[i]);
    CHECK(z->stride[0] == 5 && z->stride[1] == 1 && lctw_tensor_is_contiguous(z),
          "strides %lld %lld", (long long)z->stride[0], (long long)z->stride[1]);
    CHECK(s->ndim == 0 && lctw_tensor_numel(s) == 1 && lctw_tensor_is_contiguous(s), "scalar");
    char buf[32];
    CHECK(!strcmp(lctw_tensor_shape_str(buf, sizeof buf, f), "2×1×3"), "'%s'", buf);
    lctw_tensor *cuda = (lctw_tensor *)1;
    if (!lctw_cuda_device_count())
        CHECK_ERR(lctw_tensor_zeros(&cuda, 1, (int64_t[]){4}, LCTW_DEV_CUDA), LCTW_EDEVICE,
                  "CUDA");
    lctw_tensor *all[] = {z, f, m, s};
    for (int i = 0; i < 4; i++) lctw_tensor_release(all[i]);
}

static void t_view(void) {
    lctw_tensor *t = iota(3, (int64_t[]){2, 3, 4}), *v, *w;
    CHECK_OK(lctw_tensor_view(&v, t, 2, (int64_t[]){-1, 4}));
    CHECK(v->ndim == 2 && v->shape[0] == 6 && v->shape[1] == 4, "view -1: %lld×%lld",
          (long long)v->shape[0], (long long)v->shape[1]);
    CHECK(v->st == t->st && lctw_tensor_data(v) == lctw_tensor_data(t), "view copied");
    CHECK_OK(lctw_tensor_view(&w, t, 1, (int64_t[]){-1}));
    CHECK(w->shape[0] == 24, "flatten: %lld", (long long)w->shape[0]);
    lctw_tensor_release(w);
    w = (lctw_tensor *)1;
    CHECK_ERR(lctw_tensor_view(&w, t, 2, (int64_t[]){5, -1}), LCTW_ESHAPE,
              "cannot view a 2×3×4 tensor (24 elements) as 5×-1");
    CHECK(w == NULL, "out not cleared on error");
    CHECK_ERR(lctw_tensor_view(&w, t, 2, (int64_t[]){5, 5}), LCTW_ESHAPE, "as 5×5");
    CHECK_ERR(lctw_tensor_view(&w, t, 3, (int64_t[]){-1, -1, 4}), LCTW_ESHAPE, "only one");
    CHECK_ERR(lctw_tensor_view(&w, t, 2, (int64_t[]){-3, -8}), LCTW_ESHAPE, "negative");
    CHECK_ERR(lctw_tensor_view(&w, t, 5, (int64_t[]){1, 1, 2, 3, 4}), LCTW_ESHAPE, "at most 4");
    /* non-contiguous: view fails, reshape copies */
    lctw_tensor *tr, *r;
    CHECK_OK(lctw_tensor_transpose(&tr, t, 1, 2)); /* 2×4×3 */
    CHECK(!lctw_tensor_is_contiguous(tr), "transpose is contiguous?");
    CHECK_ERR(lctw_tensor_view(&w, tr, 1, (int64_t[]){24}), LCTW_ESHAPE, "contiguous");
    CHECK_OK(lctw_tensor_reshape(&r, tr, 2, (int64_t[]){8, -1}));
    CHECK(r->st != t->st && r->shape[0] == 8 && r->shape[1] == 3 && lctw_tensor_is_contiguous(r),
          "reshape of a transpose did not copy");
    for (int64_t i = 0; i < 24; i++) {
        /* tr(a,b,c) = t(a,c,b) = a*12 + c*4 + b; flat i of tr is (i/12, i/3%4, i%3) */
        float want = (float)((i / 12) * 12 + (i % 3) * 4 + (i / 3) % 4);
        CHECK(lctw_tensor_data(r)[i] == want, "reshape[%lld] = %g, expected %g", (long long)i,
              lctw_tensor_data(r)[i], want);
    }
    lctw_tensor *r2;
    CHECK_OK(lctw_tensor_reshape(&r2, t, 2, (int64_t[]){4, 6}));
    CHECK(r2->st == t->st, "reshape of a contiguous tensor copied");
    lctw_tensor *all[] = {v, tr, r, r2, t};
    for (int i = 0; i < 5; i++) lctw_tensor_release(all[i]);
}

static void t_narrow_select_transpose(void) {
    lctw_tensor *t = iota(3, (int64_t[]){4, 5, 6}), *n, *s, *tr, *x = (lctw_tensor *)1;
    CHECK_OK(lctw_tensor_narrow(&n, t, 1, 2, 3));
    CHECK(n->offset == 12 && n->shape[1] == 3 && n->stride[0] == 30 && n->stride[1] == 6,
          "narrow offset %lld", (long long)n->offset);
    float v;
    CHECK_OK(lctw_tensor_get_flat(n, 1 * 18 + 2 * 6 + 5, &v)); /* n(1,2,5) = t(1,4,5) */
    CHECK(v == 30 + 24 + 5, "narrow element %g", v);
    CHECK_OK(lctw_tensor_select(&s, n, 2, 4)); /* 4×3, t(:, 2..4, 4) */
    CHECK(s->ndim == 2 && s->offset == 16 && s->stride[0] == 30 && s->stride[1] == 6,
          "select: ndim %d offset %lld", s->ndim, (long long)s->offset);
    CHECK_OK(lctw_tensor_get_flat(s, 2 * 3 + 1, &v)); /* t(2,3,4) */
    CHECK(v == 60 + 18 + 4, "select element %g", v);
    CHECK_OK(lctw_tensor_transpose(&tr, s, 0, 1)); /* 3×4 */
    CHECK(tr->offset == 16 && tr->shape[0] == 3 && tr->stride[0] == 6 && tr->stride[1] == 30,
          "transpose strides %lld %lld", (long long)tr->stride[0], (long long)tr->stride[1]);
    CHECK_OK(lctw_tensor_get_flat(tr, 1 * 4 + 3, &v)); /* s(3,1) = t(3,3,4) */
    CHECK(v == 90 + 18 + 4, "transpose element %g", v);

    CHECK_ERR(lctw_tensor_narrow(&x, t, 1, 3, 3), LCTW_EINDEX,
              "narrow(2, 4, 3) out of range: dimension 2 has size 5");
    CHECK(x == NULL, "out not cleared on error");
    CHECK_ERR(lctw_tensor_narrow(&x, t, 0, -1, 2), LCTW_EINDEX, "dimension 1 has size 4");
    CHECK_ERR(lctw_tensor_narrow(&x, t, 0, 1, -1), LCTW_EINDEX, "out of range");
    CHECK_ERR(lctw_tensor_narrow(&x, t, 0, INT64_MAX, INT64_MAX), LCTW_EINDEX, "out of range");
    CHECK_ERR(lctw_tensor_narrow(&x, t, 0, 2, INT64_MAX), LCTW_EINDEX, "out of range");
    CHECK_ERR(lctw_tensor_narrow(&x, t, 3, 0, 1), LCTW_EINDEX,
              "dimension 4 out of range for a 3-dimensional tensor");
    lctw_tensor *e;
    CHECK_OK(lctw_tensor_narrow(&e, t, 2, 6, 0)); /* empty at the end is fine */
    CHECK(lctw_tensor_numel(e) == 0, "empty narrow numel %lld", (long long)lctw_tensor_numel(e));
    lctw_tensor_release(e);
    CHECK_ERR(lctw_tensor_select(&x, t, 1, 5), LCTW_EINDEX,
              "index 6 out of range: dimension 2 has size 5");
    CHECK_ERR(lctw_tensor_select(&x, t, 0, -1), LCTW_EINDEX, "index 0 out of range");
    CHECK_ERR(lctw_tensor_select(&x, t, -1, 0), LCTW_EINDEX, "dimension 0 out of range");
    CHECK_ERR(lctw_tensor_transpose(&x, t, 0, 3), LCTW_EINDEX, "dimension 4 out of range");
    /* select down to a 0-d tensor */
    lctw_tensor *a, *b, *c, *d;
    CHECK_OK(lctw_tensor_select(&a, t, 0, 3));
    CHECK_OK(lctw_tensor_select(&b, a, 0, 4));
    CHECK_OK(lctw_tensor_select(&c, b, 0, 5));
    CHECK(c->ndim == 0 && lctw_tensor_numel(c) == 1 && lctw_tensor_data(c)[0] == 119.0f,
          "0-d select: ndim %d value %g", c->ndim, lctw_tensor_data(c)[0]);
    CHECK_ERR(lctw_tensor_select(&d, c, 0, 0), LCTW_EINDEX, "0-dimensional");
    lctw_tensor *all[] = {a, b, c, tr, s, n, t};
    for (int i = 0; i < 7; i++) lctw_tensor_release(all[i]);
}

static void t_copies(void) {
    lctw_tensor *t = iota(2, (int64_t[]){3, 4}), *tr, *c, *k;
    CHECK_OK(lctw_tensor_transpose(&tr, t, 0, 1));
    CHECK_OK(lctw_tensor_clone(&c, tr));
    CHECK(c->st != t->st && lctw_tensor_is_contiguous(c) && c->shape[0] == 4, "clone layout");
    for (int64_t i = 0; i < 12; i++)
        CHECK(lctw_tensor_data(c)[i] == (float)((i % 3) * 4 + i / 3), "clone[%lld] = %g",
              (long long)i, lctw_tensor_data(c)[i]);
    int rc = t->refcount;
    CHECK_OK(lctw_tensor_contiguous(&k, t));
    CHECK(k == t && t->refcount == rc + 1, "contiguous of contiguous is not the tensor retained");
    lctw_tensor_release(k);
    CHECK_OK(lctw_tensor_contiguous(&k, tr));
    CHECK(k != tr && k->st != t->st && lctw_tensor_is_contiguous(k), "contiguous of transpose");
    lctw_tensor_release(k);
    /* copy between two strided views: column 1 of t ← row 2 of t narrowed to 3 */
    lctw_tensor *col, *row, *rown;
    CHECK_OK(lctw_tensor_select(&col, t, 1, 1)); /* t(:,1): 1, 5, 9 */
    CHECK_OK(lctw_tensor_select(&row, t, 0, 2)); /* t(2,:): 8, 9, 10, 11 */
    CHECK_OK(lctw_tensor_narrow(&rown, row, 0, 1, 3));
    CHECK_OK(lctw_tensor_copy(col, rown));
    const float want[12] = {0, 9, 2, 3, 4, 10, 6, 7, 8, 11, 10, 11};
    for (int i = 0; i < 12; i++)
        CHECK(lctw_tensor_data(t)[i] == want[i], "after copy t[%d] = %g, expected %g", i,
              lctw_tensor_data(t)[i], want[i]);
    CHECK_ERR(lctw_tensor_copy(col, row), LCTW_ESHAPE, "4 source into a 3 destination");
    /* copy into a transposed destination */
    lctw_tensor *src = iota(2, (int64_t[]){4, 3});
    CHECK_OK(lctw_tensor_copy(tr, src));
    for (int64_t i = 0; i < 12; i++) {
        float v;
        lctw_tensor_get_flat(tr, i, &v);
        CHECK(v == (float)i, "copy into transpose [%lld] = %g", (long long)i, v);
    }
    lctw_tensor *to;
    CHECK_OK(lctw_tensor_to(&to, t, LCTW_DEV_CPU));
    CHECK(to == t, "to(cpu) of a CPU tensor is not the tensor");
    lctw_tensor_release(to);
    lctw_tensor *all[] = {src, rown, row, col, c, tr, t};
    for (int i = 0; i < 7; i++) lctw_tensor_release(all[i]);
}

static void t_flat_access(void) {
    lctw_tensor *t = iota(3, (int64_t[]){2, 3, 4}), *tr;
    CHECK_OK(lctw_tensor_transpose(&tr, t, 0, 2)); /* 4×3×2 */
    float v;
    for (int64_t i = 0; i < 24; i++) {
        int64_t a = i / 6, b = (i / 2) % 3, c = i % 2; /* tr(a,b,c) = t(c,b,a) */
        CHECK_OK(lctw_tensor_get_flat(tr, i, &v));
        CHECK(v == (float)(c * 12 + b * 4 + a), "get_flat(%lld) = %g", (long long)i, v);
    }
    CHECK_OK(lctw_tensor_set_flat(tr, 23, -1.0f)); /* tr(3,2,1) = t(1,2,3) */
    CHECK(lctw_tensor_data(t)[23] == -1.0f, "set_flat wrote elsewhere");
    CHECK_ERR(lctw_tensor_get_flat(tr, 24, &v), LCTW_EINDEX,
              "flat index 25 out of range (numel 24)");
    CHECK_ERR(lctw_tensor_set_flat(tr, -1, 0.0f), LCTW_EINDEX, "out of range");
    lctw_tensor_release(tr);
    lctw_tensor_release(t);
}

/* Storage lives until its last view is released; the accounting returns to where it was. */
static void t_refcounts(void) {
    size_t before = lctw_mem_in_use(LCTW_DEV_CPU);
    lctw_tensor *t = iota(2, (int64_t[]){100, 50}), *n, *s, *tr;
    size_t with = lctw_mem_in_use(LCTW_DEV_CPU);
    CHECK(with - before == 100 * 50 * sizeof(float), "accounted %zu bytes for 20000",
          with - before);
    CHECK_OK(lctw_tensor_narrow(&n, t, 0, 10, 20));
    CHECK_OK(lctw_tensor_select(&s, n, 1, 3));
    CHECK_OK(lctw_tensor_transpose(&tr, n, 0, 1));
    CHECK(t->st->refcount == 4, "storage refcount %d with 4 tensors", t->st->refcount);
    CHECK(lctw_mem_in_use(LCTW_DEV_CPU) == with, "views allocated storage");
    lctw_tensor_release(t);
    lctw_tensor_release(n);
    CHECK(lctw_mem_in_use(LCTW_DEV_CPU) == with, "storage freed while views remain");
    float v;
    CHECK_OK(lctw_tensor_get_flat(s, 5, &v));
    CHECK(v == (float)((10 + 5) * 50 + 3), "view after base released: %g", v);
    lctw_tensor_retain(s);
    lctw_tensor_release(s);
    lctw_tensor_release(tr);
    CHECK(lctw_mem_in_use(LCTW_DEV_CPU) == with, "storage freed with one view left");
    lctw_tensor_release(s);
    CHECK(lctw_mem_in_use(LCTW_DEV_CPU) == before, "in use %zu after the last release, was %zu",
          lctw_mem_in_use(LCTW_DEV_CPU), before);
    /* a tensor on an external storage does not own the memory */
    float buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    lctw_storage *st;
    lctw_tensor *w;
    CHECK_OK(lctw_storage_wrap(&st, buf, sizeof buf, LCTW_DEV_CPU));
    CHECK_OK(lctw_tensor_on_storage(&w, st, 2, 2, (int64_t[]){2, 3}));
    CHECK(lctw_tensor_data(w)[0] == 3.0f, "on_storage offset");
    CHECK_ERR(lctw_tensor_on_storage(&n, st, 3, 2, (int64_t[]){2, 3}), LCTW_ESHAPE,
              "exceeds its storage");
    lctw_storage_release(st);
    lctw_tensor_release(w);
    CHECK(lctw_mem_in_use(LCTW_DEV_CPU) == before && buf[7] == 8.0f, "external storage");
}

static void t_memory_limit(void) {
    size_t old = lctw_mem_limit(), in_use = lctw_mem_in_use(LCTW_DEV_CPU);
    lctw_mem_set_limit(in_use + ((size_t)1 << 20));
    lctw_tensor *t = (lctw_tensor *)1, *ok;
    /* 2 MiB over a limit 1 MiB above what is in use */
    CHECK_ERR(lctw_tensor_empty(&t, 2, (int64_t[]){512, 1024}, LCTW_DEV_CPU), LCTW_ENOMEM,
              "requested 2.00 MiB");
    CHECK(has(lctw_error_message(), "tensor 512×1024") && has(lctw_error_message(), "limit"),
          "message '%s' names neither the tensor nor the limit", lctw_error_message());
    CHECK(t == NULL && lctw_mem_in_use(LCTW_DEV_CPU) == in_use, "failed allocation left state");
    CHECK_OK(lctw_tensor_empty(&ok, 2, (int64_t[]){256, 512}, LCTW_DEV_CPU)); /* 0.5 MiB fits */
    lctw_tensor_release(ok);
    void *p;
    CHECK_ERR(lctw_mem_alloc(&p, (size_t)-1, LCTW_DEV_CPU, 0), LCTW_ENOMEM, "out of memory");
    lctw_mem_set_limit(old);
    CHECK(lctw_mem_limit() == old, "limit not restored");
    char b[32];
    CHECK(!strcmp(lctw_fmt_bytes(b, sizeof b, 1536.0), "1.50 KiB"), "fmt_bytes '%s'", b);
    CHECK(!strcmp(lctw_fmt_bytes(b, sizeof b, 12.0), "12 B"), "fmt_bytes '%s'", b);
}

int main(void) {
    RUN(t_shapes);
    RUN(t_creation);
    RUN(t_view);
    RUN(t_narrow_select_transpose);
    RUN(t_copies);
    RUN(t_flat_access);
    RUN(t_refcounts);
    RUN(t_memory_limit);
    return test_summary();
}
