/* tensor.c — storage, creation, views and copies of strided float32 tensors (see tensor.h). */
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../kernels/lctw_cuda.h"

/* ---- storage ---- */

static lctw_status storage_alloc_struct(lctw_storage **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return LCTW_FAIL(LCTW_ENOMEM, "out of memory allocating a storage header");
    (*out)->refcount = 1;
    return LCTW_OK;
}

lctw_status lctw_storage_new(lctw_storage **out, size_t nbytes, lctw_device dev, int zero) {
    *out = NULL;
    lctw_storage *st;
    LCTW_TRY(storage_alloc_struct(&st));
    void *p;
    lctw_status s = lctw_mem_alloc(&p, nbytes, dev, zero);
    if (s != LCTW_OK) {
        free(st);
        return s;
    }
    st->data = p;
    st->nbytes = nbytes;
    st->dev = dev;
    st->kind = dev == LCTW_DEV_CUDA ? LCTW_MEM_CUDA : LCTW_MEM_HEAP;
    *out = st;
    return LCTW_OK;
}

lctw_status lctw_storage_from_mmap(lctw_storage **out, void *base, size_t map_len,
                                   size_t data_off, size_t nbytes) {
    *out = NULL;
    lctw_storage *st;
    LCTW_TRY(storage_alloc_struct(&st));
    st->data = (float *)((char *)base + data_off);
    st->nbytes = nbytes;
    st->dev = LCTW_DEV_CPU;
    st->kind = LCTW_MEM_MMAP;
    st->map_base = base;
    st->map_len = map_len;
    *out = st;
    return LCTW_OK;
}

lctw_status lctw_storage_wrap(lctw_storage **out, float *data, size_t nbytes, lctw_device dev) {
    *out = NULL;
    lctw_storage *st;
    LCTW_TRY(storage_alloc_struct(&st));
    st->data = data;
    st->nbytes = nbytes;
    st->dev = dev;
    st->kind = LCTW_MEM_EXTERNAL;
    *out = st;
    return LCTW_OK;
}

void lctw_storage_release(lctw_storage *st) {
    if (!st || --st->refcount > 0) return;
    switch (st->kind) {
    case LCTW_MEM_HEAP: lctw_mem_free(st->data, st->nbytes, LCTW_DEV_CPU); break;
    case LCTW_MEM_CUDA: lctw_mem_free(st->data, st->nbytes, LCTW_DEV_CUDA); break;
    case LCTW_MEM_MMAP: munmap(st->map_base, st->map_len); break;
    case LCTW_MEM_EXTERNAL: break;
    }
    free(st);
}

/* ---- shapes ---- */

int64_t lctw_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

char *lctw_shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = 0;
    buf[0] = 0;
    if (ndim == 0) {
        snprintf(buf, n, "scalar");
        return buf;
    }
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? "×%lld" : "%lld", (long long)shape[i]);
    return buf;
}

lctw_status lctw_shape_check(int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > LCTW_MAX_DIMS)
        return LCTW_FAIL(LCTW_ESHAPE, "tensors have at most %d dimensions, got %d", LCTW_MAX_DIMS,
                         ndim);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return LCTW_FAIL(LCTW_ESHAPE, "size of dimension %d is negative (%lld)", i + 1,
                             (long long)shape[i]);
        if (shape[i] && n > (INT64_MAX / 8) / shape[i])
            return LCTW_FAIL(LCTW_ENOMEM, "tensor too large: the element count overflows");
        n *= shape[i];
    }
    return LCTW_OK;
}

static void set_contiguous_strides(lctw_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->stride[d] = s;
        s *= t->shape[d];
    }
}

/* ---- creation ---- */

static lctw_status tensor_header(lctw_tensor **out, lctw_storage *st, int64_t offset, int ndim,
                                 const int64_t *shape) {
    lctw_tensor *t = calloc(1, sizeof *t);
    if (!t) return LCTW_FAIL(LCTW_ENOMEM, "out of memory allocating a tensor header");
    t->st = st;
    st->refcount++;
    t->offset = offset;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    set_contiguous_strides(t);
    t->refcount = 1;
    *out = t;
    return LCTW_OK;
}

lctw_status lctw_tensor_on_storage(lctw_tensor **out, lctw_storage *st, int64_t offset, int ndim,
                                   const int64_t *shape) {
    *out = NULL;
    LCTW_TRY(lctw_shape_check(ndim, shape));
    int64_t n = lctw_shape_numel(ndim, shape);
    if (offset < 0 || (size_t)(offset + n) * sizeof(float) > st->nbytes)
        return LCTW_FAIL(LCTW_ESHAPE, "tensor of %lld elements at offset %lld exceeds its storage",
                         (long long)n, (long long)offset);
    return tensor_header(out, st, offset, ndim, shape);
}

static lctw_status tensor_alloc(lctw_tensor **out, int ndim, const int64_t *shape,
                                lctw_device dev, int zero) {
    *out = NULL;
    LCTW_TRY(lctw_shape_check(ndim, shape));
    if (dev == LCTW_DEV_CUDA && !lctw_cuda_device_count())
        return LCTW_FAIL(LCTW_EDEVICE, "no CUDA device: %s", lctw_cuda_describe());
    size_t nbytes = (size_t)lctw_shape_numel(ndim, shape) * sizeof(float);
    lctw_storage *st;
    lctw_status s = lctw_storage_new(&st, nbytes, dev, zero);
    if (s != LCTW_OK) {
        char sh[96];
        lctw_error_prefix("tensor %s", lctw_shape_str(sh, sizeof sh, ndim, shape));
        return s;
    }
    s = tensor_header(out, st, 0, ndim, shape);
    lctw_storage_release(st);
    return s;
}

lctw_status lctw_tensor_empty(lctw_tensor **out, int ndim, const int64_t *shape, lctw_device dev) {
    return tensor_alloc(out, ndim, shape, dev, 0);
}

lctw_status lctw_tensor_zeros(lctw_tensor **out, int ndim, const int64_t *shape, lctw_device dev) {
    return tensor_alloc(out, ndim, shape, dev, 1);
}

lctw_status lctw_tensor_full(lctw_tensor **out, int ndim, const int64_t *shape, lctw_device dev,
                             float value) {
    int zero = value == 0.0f && !signbit(value); /* full(-0.0) keeps its sign */
    LCTW_TRY(tensor_alloc(out, ndim, shape, dev, zero));
    if (zero) return LCTW_OK;
    lctw_status s = lctw_fill(*out, value);
    if (s != LCTW_OK) {
        lctw_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

void lctw_tensor_retain(lctw_tensor *t) {
    if (t && !t->in_arena) t->refcount++;
}

void lctw_tensor_release(lctw_tensor *t) {
    if (!t || t->in_arena || --t->refcount > 0) return;
    if (t->grad && !t->grad->in_arena) lctw_tensor_release(t->grad);
    lctw_storage_release(t->st);
    free(t);
}

/* ---- properties ---- */

int64_t lctw_tensor_numel(const lctw_tensor *t) { return lctw_shape_numel(t->ndim, t->shape); }

int lctw_tensor_is_contiguous(const lctw_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != s) return 0;
        s *= t->shape[d];
    }
    return 1;
}

int lctw_tensor_same_shape(const lctw_tensor *a, const lctw_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

char *lctw_tensor_shape_str(char *buf, size_t n, const lctw_tensor *t) {
    return lctw_shape_str(buf, n, t->ndim, t->shape);
}

/* ---- views ---- */

static lctw_status view_of(lctw_tensor **out, lctw_tensor *t) {
    LCTW_TRY(tensor_header(out, t->st, t->offset, t->ndim, t->shape));
    for (int i = 0; i < t->ndim; i++) (*out)->stride[i] = t->stride[i];
    return LCTW_OK;
}

static lctw_status infer_shape(int64_t *dst, const lctw_tensor *t, int ndim,
                               const int64_t *shape) {
    if (ndim < 0 || ndim > LCTW_MAX_DIMS)
        return LCTW_FAIL(LCTW_ESHAPE, "tensors have at most %d dimensions, got %d", LCTW_MAX_DIMS,
                         ndim);
    int infer = -1;
    int64_t known = 1, n = lctw_tensor_numel(t);
    for (int i = 0; i < ndim; i++) {
        dst[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) return LCTW_FAIL(LCTW_ESHAPE, "only one dimension can be -1");
            infer = i;
        } else if (shape[i] < 0) {
            return LCTW_FAIL(LCTW_ESHAPE, "size of dimension %d is negative (%lld)", i + 1,
                             (long long)shape[i]);
        } else {
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || n % known != 0) goto bad;
        dst[infer] = n / known;
        known *= dst[infer];
    }
    if (known != n) goto bad;
    return LCTW_OK;
bad:;
    char a[96], b[96];
    return LCTW_FAIL(LCTW_ESHAPE, "cannot view a %s tensor (%lld elements) as %s",
                     lctw_tensor_shape_str(a, sizeof a, t), (long long)n,
                     lctw_shape_str(b, sizeof b, ndim, shape));
}

lctw_status lctw_tensor_view(lctw_tensor **out, lctw_tensor *t, int ndim, const int64_t *shape) {
    *out = NULL;
    int64_t sh[LCTW_MAX_DIMS];
    LCTW_TRY(infer_shape(sh, t, ndim, shape));
    if (!lctw_tensor_is_contiguous(t))
        return LCTW_FAIL(LCTW_ESHAPE,
                         "view needs a contiguous tensor; use reshape (which copies) or "
                         ":contiguous() first");
    return tensor_header(out, t->st, t->offset, ndim, sh);
}

lctw_status lctw_tensor_reshape(lctw_tensor **out, lctw_tensor *t, int ndim,
                                const int64_t *shape) {
    *out = NULL;
    int64_t sh[LCTW_MAX_DIMS];
    LCTW_TRY(infer_shape(sh, t, ndim, shape));
    lctw_tensor *c;
    LCTW_TRY(lctw_tensor_contiguous(&c, t));
    lctw_status s = tensor_header(out, c->st, c->offset, ndim, sh);
    lctw_tensor_release(c);
    return s;
}

/* A 0-based index as the user's 1-based one, for messages (without overflow at INT64_MAX). */
static long long one_based(int64_t i) { return i < INT64_MAX ? (long long)i + 1 : (long long)i; }

static lctw_status check_dim(const lctw_tensor *t, int dim) {
    if (dim < 0 || dim >= t->ndim)
        return LCTW_FAIL(LCTW_EINDEX, "dimension %d out of range for a %d-dimensional tensor",
                         dim + 1, t->ndim);
    return LCTW_OK;
}

lctw_status lctw_tensor_narrow(lctw_tensor **out, lctw_tensor *t, int dim, int64_t start,
                               int64_t len) {
    *out = NULL;
    LCTW_TRY(check_dim(t, dim));
    /* written so that no sum can overflow: start and len come from the user */
    if (start < 0 || len < 0 || start > t->shape[dim] || len > t->shape[dim] - start)
        return LCTW_FAIL(LCTW_EINDEX,
                         "narrow(%d, %lld, %lld) out of range: dimension %d has size %lld",
                         dim + 1, one_based(start), (long long)len, dim + 1,
                         (long long)t->shape[dim]);
    LCTW_TRY(view_of(out, t));
    (*out)->offset += start * t->stride[dim];
    (*out)->shape[dim] = len;
    return LCTW_OK;
}

lctw_status lctw_tensor_select(lctw_tensor **out, lctw_tensor *t, int dim, int64_t index) {
    *out = NULL;
    LCTW_TRY(check_dim(t, dim));
    if (index < 0 || index >= t->shape[dim])
        return LCTW_FAIL(LCTW_EINDEX, "index %lld out of range: dimension %d has size %lld",
                         one_based(index), dim + 1, (long long)t->shape[dim]);
    LCTW_TRY(view_of(out, t));
    lctw_tensor *v = *out;
    v->offset += index * t->stride[dim];
    for (int i = dim; i < t->ndim - 1; i++) {
        v->shape[i] = t->shape[i + 1];
        v->stride[i] = t->stride[i + 1];
    }
    v->ndim--;
    return LCTW_OK;
}

lctw_status lctw_tensor_transpose(lctw_tensor **out, lctw_tensor *t, int d0, int d1) {
    *out = NULL;
    LCTW_TRY(check_dim(t, d0));
    LCTW_TRY(check_dim(t, d1));
    LCTW_TRY(view_of(out, t));
    lctw_tensor *v = *out;
    int64_t a = v->shape[d0], b = v->stride[d0];
    v->shape[d0] = v->shape[d1];
    v->stride[d0] = v->stride[d1];
    v->shape[d1] = a;
    v->stride[d1] = b;
    return LCTW_OK;
}

/* ---- copies ---- */

/* dst[i] = src[i] over the logical flat order, both on the CPU. */
static void copy_cpu(lctw_tensor *dst, const lctw_tensor *src) {
    int64_t n = lctw_tensor_numel(src);
    float *d = lctw_tensor_data(dst);
    const float *s = lctw_tensor_data(src);
    if (lctw_tensor_is_contiguous(dst) && lctw_tensor_is_contiguous(src)) {
        if (d != s) memmove(d, s, (size_t)n * sizeof(float));
        return;
    }
    /* Pad to 4 dims and walk with nested loops: the innermost stride is used directly. */
    int64_t sh[4] = {1, 1, 1, 1}, ss[4] = {0, 0, 0, 0};
    int k = 4 - src->ndim;
    for (int i = 0; i < src->ndim; i++) {
        sh[k + i] = src->shape[i];
        ss[k + i] = src->stride[i];
    }
    if (lctw_tensor_is_contiguous(dst)) {
        int64_t j = 0;
        for (int64_t a = 0; a < sh[0]; a++)
            for (int64_t b = 0; b < sh[1]; b++)
                for (int64_t c = 0; c < sh[2]; c++) {
                    const float *p = s + a * ss[0] + b * ss[1] + c * ss[2];
                    for (int64_t e = 0; e < sh[3]; e++) d[j++] = p[e * ss[3]];
                }
        return;
    }
    for (int64_t i = 0; i < n; i++)
        d[lctw_tensor_flat_offset(dst, i)] = s[lctw_tensor_flat_offset(src, i)];
}

lctw_status lctw_tensor_clone(lctw_tensor **out, const lctw_tensor *t) {
    LCTW_TRY(lctw_tensor_empty(out, t->ndim, t->shape, lctw_tensor_device(t)));
    lctw_status s = lctw_tensor_copy(*out, t);
    if (s != LCTW_OK) {
        lctw_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

lctw_status lctw_tensor_contiguous(lctw_tensor **out, lctw_tensor *t) {
    if (lctw_tensor_is_contiguous(t)) {
        lctw_tensor_retain(t);
        *out = t;
        return LCTW_OK;
    }
    return lctw_tensor_clone(out, t);
}

lctw_status lctw_tensor_copy(lctw_tensor *dst, const lctw_tensor *src) {
    int64_t n = lctw_tensor_numel(src);
    if (n != lctw_tensor_numel(dst)) {
        char a[96], b[96];
        return LCTW_FAIL(LCTW_ESHAPE, "copy: %s source into a %s destination (element counts differ)",
                         lctw_tensor_shape_str(a, sizeof a, src),
                         lctw_tensor_shape_str(b, sizeof b, dst));
    }
    lctw_device sd = lctw_tensor_device(src), dd = lctw_tensor_device(dst);
    if (sd == LCTW_DEV_CPU && dd == LCTW_DEV_CPU) {
        copy_cpu(dst, src);
        return LCTW_OK;
    }
    if (sd == LCTW_DEV_CUDA && dd == LCTW_DEV_CUDA) return lctw_cuda_copy_strided(dst, src);
    /* Across devices: stage through contiguous buffers on each side. */
    lctw_tensor *sc = NULL, *dc = NULL;
    lctw_status s = lctw_tensor_contiguous(&sc, (lctw_tensor *)src);
    if (s != LCTW_OK) return s;
    if (lctw_tensor_is_contiguous(dst)) {
        lctw_tensor_retain(dst);
        dc = dst;
    } else {
        s = lctw_tensor_empty(&dc, dst->ndim, dst->shape, dd);
        if (s != LCTW_OK) goto done;
    }
    size_t nb = (size_t)n * sizeof(float);
    s = sd == LCTW_DEV_CPU ? lctw_cuda_h2d(lctw_tensor_data(dc), lctw_tensor_data(sc), nb)
                           : lctw_cuda_d2h(lctw_tensor_data(dc), lctw_tensor_data(sc), nb);
    if (s == LCTW_OK && dc != dst) s = lctw_tensor_copy(dst, dc);
done:
    lctw_tensor_release(sc);
    lctw_tensor_release(dc);
    return s;
}

lctw_status lctw_tensor_to(lctw_tensor **out, lctw_tensor *t, lctw_device dev) {
    if (lctw_tensor_device(t) == dev) {
        lctw_tensor_retain(t);
        *out = t;
        return LCTW_OK;
    }
    LCTW_TRY(lctw_tensor_empty(out, t->ndim, t->shape, dev));
    lctw_status s = lctw_tensor_copy(*out, t);
    if (s != LCTW_OK) {
        lctw_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

lctw_status lctw_tensor_get_flat(const lctw_tensor *t, int64_t i, float *v) {
    if (i < 0 || i >= lctw_tensor_numel(t))
        return LCTW_FAIL(LCTW_EINDEX, "flat index %lld out of range (numel %lld)",
                         (long long)i + 1, (long long)lctw_tensor_numel(t));
    const float *p = lctw_tensor_data(t) + lctw_tensor_flat_offset(t, i);
    if (lctw_tensor_device(t) == LCTW_DEV_CUDA) return lctw_cuda_d2h(v, p, sizeof(float));
    *v = *p;
    return LCTW_OK;
}

lctw_status lctw_tensor_set_flat(lctw_tensor *t, int64_t i, float v) {
    if (i < 0 || i >= lctw_tensor_numel(t))
        return LCTW_FAIL(LCTW_EINDEX, "flat index %lld out of range (numel %lld)",
                         (long long)i + 1, (long long)lctw_tensor_numel(t));
    float *p = lctw_tensor_data(t) + lctw_tensor_flat_offset(t, i);
    if (lctw_tensor_device(t) == LCTW_DEV_CUDA) return lctw_cuda_h2d(p, &v, sizeof(float));
    *p = v;
    return LCTW_OK;
}
