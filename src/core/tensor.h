/* tensor.h — float32 strided tensors of up to 4 dimensions on the CPU or a CUDA device.
 *
 * A tensor is a view (shape, strides in elements, offset in elements) onto a reference-counted
 * storage. Storage is heap memory (64-byte aligned), a read-only-mapped file region that is
 * copied on write (npy), device memory, or external memory the tensor does not own (arena).
 * C indices are 0-based; the Lua layer converts from 1-based.
 *
 * Ownership: every function that hands out a tensor (`lctw_tensor **out`) hands out one
 * reference; release it with lctw_tensor_release. Views share storage.
 */
#ifndef LCTW_TENSOR_H
#define LCTW_TENSOR_H

#include <stdint.h>
#include <stddef.h>

#include "status.h"

#define LCTW_MAX_DIMS 4

typedef enum { LCTW_DEV_CPU = 0, LCTW_DEV_CUDA = 1 } lctw_device;

typedef enum {
    LCTW_MEM_HEAP = 0, /* owned host memory */
    LCTW_MEM_MMAP,     /* owned private file mapping (map_base/map_len) */
    LCTW_MEM_CUDA,     /* owned device memory */
    LCTW_MEM_EXTERNAL, /* not owned: arena or caller memory */
} lctw_mem_kind;

typedef struct lctw_storage {
    float *data;     /* first element (host or device pointer) */
    size_t nbytes;   /* bytes usable from data */
    lctw_device dev;
    lctw_mem_kind kind;
    void *map_base;  /* LCTW_MEM_MMAP: what to munmap */
    size_t map_len;
    int refcount;
} lctw_storage;

typedef struct lctw_tensor {
    lctw_storage *st;
    int64_t offset; /* elements from st->data */
    int ndim;       /* 0..LCTW_MAX_DIMS (0 = scalar, numel 1) */
    int64_t shape[LCTW_MAX_DIMS];
    int64_t stride[LCTW_MAX_DIMS];
    int refcount;
    /* autodiff (src/core/autograd.h): the gradient buffer of this tensor once backward reached
     * it (parameters: a view into the model's one gradient buffer), whether gradients flow to
     * it, and whether the header lives in an arena (then release is a no-op: the arena reset
     * ends its life). */
    struct lctw_tensor *grad;
    unsigned char requires_grad;
    unsigned char in_arena;
} lctw_tensor;

#ifdef __cplusplus
extern "C" {
#endif

/* ---- memory accounting (mem.c) ----
 * Host allocations beyond the limit fail with LCTW_ENOMEM and a message naming the request,
 * the bytes in use and the limit. Default limit: physical memory minus 1 GiB (min 256 MiB);
 * LCTW_MEMORY_LIMIT (bytes, or with K/M/G suffix) overrides it. */
lctw_status lctw_mem_alloc(void **out, size_t nbytes, lctw_device dev, int zero);
void lctw_mem_free(void *p, size_t nbytes, lctw_device dev);
size_t lctw_mem_in_use(lctw_device dev);
size_t lctw_mem_peak(lctw_device dev);
size_t lctw_mem_limit(void);
void lctw_mem_set_limit(size_t nbytes);
/* Formats bytes as "1.50 GiB" into buf (returns buf). */
char *lctw_fmt_bytes(char *buf, size_t n, double bytes);

/* ---- storage ---- */
lctw_status lctw_storage_new(lctw_storage **out, size_t nbytes, lctw_device dev, int zero);
/* Takes ownership of a private mapping; data = base + data_off. */
lctw_status lctw_storage_from_mmap(lctw_storage **out, void *base, size_t map_len,
                                   size_t data_off, size_t nbytes);
lctw_status lctw_storage_wrap(lctw_storage **out, float *data, size_t nbytes, lctw_device dev);
void lctw_storage_release(lctw_storage *st);

/* ---- creation ---- */
/* Checks ndim in 0..4, every size >= 0, and that numel*4 does not overflow. */
lctw_status lctw_shape_check(int ndim, const int64_t *shape);
int64_t lctw_shape_numel(int ndim, const int64_t *shape);
/* "4×32×32" into buf (returns buf). */
char *lctw_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

lctw_status lctw_tensor_empty(lctw_tensor **out, int ndim, const int64_t *shape, lctw_device dev);
lctw_status lctw_tensor_zeros(lctw_tensor **out, int ndim, const int64_t *shape, lctw_device dev);
lctw_status lctw_tensor_full(lctw_tensor **out, int ndim, const int64_t *shape, lctw_device dev,
                             float value);
/* A contiguous tensor over an existing storage (retains it), starting at element offset. */
lctw_status lctw_tensor_on_storage(lctw_tensor **out, lctw_storage *st, int64_t offset, int ndim,
                                   const int64_t *shape);

void lctw_tensor_retain(lctw_tensor *t);
void lctw_tensor_release(lctw_tensor *t);

/* ---- properties ---- */
int64_t lctw_tensor_numel(const lctw_tensor *t);
int lctw_tensor_is_contiguous(const lctw_tensor *t);
static inline float *lctw_tensor_data(const lctw_tensor *t) { return t->st->data + t->offset; }
static inline lctw_device lctw_tensor_device(const lctw_tensor *t) { return t->st->dev; }
int lctw_tensor_same_shape(const lctw_tensor *a, const lctw_tensor *b);
/* "4×32×32" */
char *lctw_tensor_shape_str(char *buf, size_t n, const lctw_tensor *t);

/* ---- views (share storage) ---- */
/* New shape with the same numel; one entry may be -1 (inferred). Fails with ESHAPE if the tensor
 * is not contiguous (use lctw_tensor_reshape, which copies then). */
lctw_status lctw_tensor_view(lctw_tensor **out, lctw_tensor *t, int ndim, const int64_t *shape);
/* Like view, but copies when the tensor is not contiguous. */
lctw_status lctw_tensor_reshape(lctw_tensor **out, lctw_tensor *t, int ndim,
                                const int64_t *shape);
lctw_status lctw_tensor_narrow(lctw_tensor **out, lctw_tensor *t, int dim, int64_t start,
                               int64_t len);
/* Removes dimension dim (index 0-based). */
lctw_status lctw_tensor_select(lctw_tensor **out, lctw_tensor *t, int dim, int64_t index);
lctw_status lctw_tensor_transpose(lctw_tensor **out, lctw_tensor *t, int d0, int d1);

/* ---- copies ---- */
/* A new contiguous tensor on the same device with the same values. */
lctw_status lctw_tensor_clone(lctw_tensor **out, const lctw_tensor *t);
/* t itself (retained) if contiguous, else a contiguous clone. */
lctw_status lctw_tensor_contiguous(lctw_tensor **out, lctw_tensor *t);
/* Copies values between same-numel tensors (any strides, any devices). */
lctw_status lctw_tensor_copy(lctw_tensor *dst, const lctw_tensor *src);
/* t on device dev: t itself (retained) if already there. */
lctw_status lctw_tensor_to(lctw_tensor **out, lctw_tensor *t, lctw_device dev);
/* Element at a flat row-major position of the logical shape (CPU or CUDA; slow, for printing). */
lctw_status lctw_tensor_get_flat(const lctw_tensor *t, int64_t i, float *v);
lctw_status lctw_tensor_set_flat(lctw_tensor *t, int64_t i, float v);

/* Strided element offset (from lctw_tensor_data) of flat logical index i. */
static inline int64_t lctw_tensor_flat_offset(const lctw_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t n = t->shape[d];
        off += (i % n) * t->stride[d];
        i /= n;
    }
    return off;
}

#ifdef __cplusplus
}
#endif

#endif
