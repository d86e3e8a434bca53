/* arena.c — see arena.h. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#include "tmath.h"

#define HBLOCK_N 512
#define ALIGN 256 /* bytes: keeps every tensor 256-byte aligned (vector loads, coalescing) */

struct lctw_arena_hblock {
    lctw_tensor h[HBLOCK_N];
    lctw_arena_hblock *next;
};

lctw_status lctw_arena_init(lctw_arena *a, lctw_device dev, size_t initial_bytes) {
    memset(a, 0, sizeof *a);
    a->dev = dev;
    a->chunk_min = initial_bytes ? initial_bytes : ((size_t)16 << 20);
    return LCTW_OK;
}

static void free_chunks(lctw_arena *a) {
    for (int i = 0; i < a->n_chunks; i++) lctw_storage_release(a->chunks[i].st);
    a->n_chunks = 0;
}

void lctw_arena_release(lctw_arena *a) {
    free_chunks(a);
    free(a->chunks);
    for (lctw_arena_hblock *b = a->hblocks, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    memset(a, 0, sizeof *a);
}

static lctw_status add_chunk(lctw_arena *a, size_t nbytes) {
    if (a->n_chunks == a->cap_chunks) {
        int cap = a->cap_chunks ? 2 * a->cap_chunks : 4;
        lctw_arena_chunk *c = realloc(a->chunks, (size_t)cap * sizeof *c);
        if (!c) return LCTW_FAIL(LCTW_ENOMEM, "arena: out of memory for the chunk list");
        a->chunks = c;
        a->cap_chunks = cap;
    }
    lctw_storage *st;
    lctw_status s = lctw_storage_new(&st, nbytes, a->dev, 0);
    if (s != LCTW_OK) {
        lctw_error_prefix("activation arena");
        return s;
    }
    a->chunks[a->n_chunks].st = st;
    a->chunks[a->n_chunks].used = 0;
    a->n_chunks++;
    a->n_allocs++;
    return LCTW_OK;
}

lctw_status lctw_arena_reset(lctw_arena *a) {
    a->hcur = a->hblocks;
    a->hcur_used = 0;
    if (a->used > a->peak) a->peak = a->used;
    a->used = 0;
    if (a->n_chunks > 1) {
        size_t total = 0;
        for (int i = 0; i < a->n_chunks; i++) total += a->chunks[i].st->nbytes;
        free_chunks(a);
        size_t want = a->peak > total ? a->peak : total;
        LCTW_TRY(add_chunk(a, want + want / 16));
    }
    for (int i = 0; i < a->n_chunks; i++) a->chunks[i].used = 0;
    return LCTW_OK;
}

static lctw_status new_header(lctw_arena *a, lctw_tensor **out) {
    if (!a->hcur || a->hcur_used == HBLOCK_N) {
        lctw_arena_hblock *next = a->hcur ? a->hcur->next : a->hblocks;
        if (!next) {
            next = calloc(1, sizeof *next);
            if (!next) return LCTW_FAIL(LCTW_ENOMEM, "arena: out of memory for tensor headers");
            if (a->hcur)
                a->hcur->next = next;
            else
                a->hblocks = next;
        }
        a->hcur = next;
        a->hcur_used = 0;
    }
    lctw_tensor *t = &a->hcur->h[a->hcur_used++];
    memset(t, 0, sizeof *t);
    t->in_arena = 1;
    t->refcount = 1;
    *out = t;
    return LCTW_OK;
}

static void contiguous_strides(lctw_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->stride[d] = s;
        s *= t->shape[d];
    }
}

lctw_status lctw_arena_tensor(lctw_arena *a, lctw_tensor **out, int ndim, const int64_t *shape) {
    *out = NULL;
    LCTW_TRY(lctw_shape_check(ndim, shape));
    size_t nbytes = (size_t)lctw_shape_numel(ndim, shape) * sizeof(float);
    size_t need = (nbytes + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    lctw_arena_chunk *c = a->n_chunks ? &a->chunks[a->n_chunks - 1] : NULL;
    if (!c || c->used + need > c->st->nbytes) {
        size_t sz = need > a->chunk_min ? need : a->chunk_min;
        if (a->n_chunks) {
            size_t last = a->chunks[a->n_chunks - 1].st->nbytes;
            if (sz < last) sz = last; /* grow geometrically-ish: at least the last size */
        }
        LCTW_TRY(add_chunk(a, sz));
        c = &a->chunks[a->n_chunks - 1];
    }
    lctw_tensor *t = NULL;
    LCTW_TRY(new_header(a, &t));
    t->st = c->st;
    t->offset = (int64_t)(c->used / sizeof(float));
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    contiguous_strides(t);
    c->used += need;
    a->used += need;
    *out = t;
    return LCTW_OK;
}

lctw_status lctw_arena_zeros(lctw_arena *a, lctw_tensor **out, int ndim, const int64_t *shape) {
    LCTW_TRY(lctw_arena_tensor(a, out, ndim, shape));
    return lctw_fill(*out, 0.0f);
}

lctw_status lctw_arena_strided(lctw_arena *a, lctw_tensor **out, const lctw_tensor *src, int ndim,
                               const int64_t *shape, const int64_t *stride, int64_t offset) {
    *out = NULL;
    LCTW_TRY(lctw_shape_check(ndim, shape));
    lctw_tensor *t = NULL;
    LCTW_TRY(new_header(a, &t));
    t->st = src->st;
    t->offset = offset;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->stride[i] = stride[i];
    }
    *out = t;
    return LCTW_OK;
}

lctw_status lctw_arena_view(lctw_arena *a, lctw_tensor **out, const lctw_tensor *src, int ndim,
                            const int64_t *shape) {
    *out = NULL;
    LCTW_TRY(lctw_shape_check(ndim, shape));
    if (!lctw_tensor_is_contiguous(src) ||
        lctw_shape_numel(ndim, shape) != lctw_tensor_numel(src)) {
        char x[96], y[96];
        return LCTW_FAIL(LCTW_ESHAPE, "view: cannot view a %s tensor as %s",
                         lctw_tensor_shape_str(x, sizeof x, src),
                         lctw_shape_str(y, sizeof y, ndim, shape));
    }
    int64_t st[LCTW_MAX_DIMS], s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        st[d] = s;
        s *= shape[d];
    }
    return lctw_arena_strided(a, out, src, ndim, shape, st, src->offset);
}
