/* arena.h — step-scoped memory for activations, gradients of activations and temporaries.
 *
 * A training step allocates the same sequence of buffers every time, so a bump allocator that is
 * reset at the start of each step serves them with no malloc in the steady state: data comes
 * from device chunks (each one lctw_storage, so tensors are ordinary strided tensors on it) and
 * tensor headers from a host pool of fixed blocks (pointers stay valid until reset). When a step
 * needs more than the current chunk, another chunk is added; at the next reset the chunks are
 * merged into one of the peak size. Arena tensors have in_arena = 1: retain/release are no-ops
 * and they die at lctw_arena_reset. Never hand an arena tensor to Lua: clone it.
 */
#ifndef LCTW_ARENA_H
#define LCTW_ARENA_H

#include "tensor.h"

typedef struct lctw_arena_chunk {
    lctw_storage *st;
    size_t used; /* bytes */
} lctw_arena_chunk;

typedef struct lctw_arena_hblock lctw_arena_hblock;

typedef struct lctw_arena {
    lctw_device dev;
    lctw_arena_chunk *chunks;
    int n_chunks, cap_chunks;
    size_t used, peak;         /* bytes over all chunks in this step / the largest step */
    size_t chunk_min;          /* smallest chunk to allocate */
    lctw_arena_hblock *hblocks; /* header pool */
    lctw_arena_hblock *hcur;
    int hcur_used;
    int64_t n_allocs;          /* chunk allocations ever made (steady state: stops growing) */
} lctw_arena;

lctw_status lctw_arena_init(lctw_arena *a, lctw_device dev, size_t initial_bytes);
void lctw_arena_release(lctw_arena *a);
/* Ends the life of every arena tensor; merges chunks into one of the peak size. */
lctw_status lctw_arena_reset(lctw_arena *a);

/* A contiguous arena tensor (uninitialised / zeroed). */
lctw_status lctw_arena_tensor(lctw_arena *a, lctw_tensor **out, int ndim, const int64_t *shape);
lctw_status lctw_arena_zeros(lctw_arena *a, lctw_tensor **out, int ndim, const int64_t *shape);
/* An arena header viewing src's data with a new contiguous shape (same numel; src contiguous). */
lctw_status lctw_arena_view(lctw_arena *a, lctw_tensor **out, const lctw_tensor *src, int ndim,
                            const int64_t *shape);
/* An arena header for any strided view of src (shape/stride/offset given, in elements). */
lctw_status lctw_arena_strided(lctw_arena *a, lctw_tensor **out, const lctw_tensor *src, int ndim,
                               const int64_t *shape, const int64_t *stride, int64_t offset);

#endif
