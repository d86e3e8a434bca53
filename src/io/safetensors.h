/* safetensors.h — read and write .safetensors files (https://github.com/huggingface/safetensors),
 * the weight/checkpoint format lctw shares with PyTorch.
 *
 * Layout: u64 little-endian N, N bytes of UTF-8 JSON (may end in spaces), then the data section.
 * The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte
 * offsets into the data section, little-endian values, row-major), plus an optional
 * "__metadata__" object of string -> string.
 *
 * Reading maps the file and validates the whole header up front, like the reference
 * implementation: header length within the file and at most 100 MB, strict JSON, known dtypes,
 * non-negative integer shapes, end - begin == numel * dtype size, and the tensors' byte ranges
 * tile the data section exactly (no overlaps, no gaps, nothing left over). Every error is
 * LCTW_EFORMAT with a message that starts with the file path. Loading converts F32, F16, BF16
 * and F64 to a new float32 CPU tensor; other dtypes are listed but not loadable.
 *
 * Writing produces float32 tensors sorted by name, the header padded with spaces to a multiple
 * of 8 bytes (so the data section, and every tensor in it, is 8-byte/4-byte aligned), and
 * replaces the target atomically: temp file in the same directory, fsync, rename. A failed save
 * leaves an existing file untouched and no temp file behind.
 */
#ifndef LCTW_SAFETENSORS_H
#define LCTW_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define LCTW_ST_MAX_HEADER 100000000ULL /* bytes, as in the reference implementation */

typedef enum {
    LCTW_ST_BOOL = 0,
    LCTW_ST_U8,
    LCTW_ST_I8,
    LCTW_ST_F8_E5M2,
    LCTW_ST_F8_E4M3,
    LCTW_ST_I16,
    LCTW_ST_U16,
    LCTW_ST_F16,
    LCTW_ST_BF16,
    LCTW_ST_I32,
    LCTW_ST_U32,
    LCTW_ST_F32,
    LCTW_ST_F64,
    LCTW_ST_I64,
    LCTW_ST_U64,
    LCTW_ST_DTYPE_COUNT
} lctw_st_dtype;

/* One tensor of a file (plain data, owned by the file). */
typedef struct lctw_st_entry {
    const char *name;
    lctw_st_dtype dtype;
    int ndim;             /* any number: open() accepts > 4, load fails for them */
    const int64_t *shape; /* ndim sizes */
    int64_t numel;
    uint64_t begin, end; /* "data_offsets": bytes [begin, end) of the data section */
} lctw_st_entry;

typedef struct lctw_st_file lctw_st_file;

#ifdef __cplusplus
extern "C" {
#endif

const char *lctw_st_dtype_name(lctw_st_dtype dt); /* "F32" */
size_t lctw_st_dtype_size(lctw_st_dtype dt);      /* bytes per element */
/* 1 and *out set if name is a dtype this reader knows, else 0. */
int lctw_st_dtype_from_name(const char *name, lctw_st_dtype *out);
/* 1 for the dtypes load converts to float32 (F32, F16, BF16, F64). */
int lctw_st_dtype_loadable(lctw_st_dtype dt);

/* Maps and validates path. */
lctw_status lctw_st_open(lctw_st_file **out, const char *path);
/* Validates a file image in memory (not copied: buf must outlive the file). label names it in
 * error messages (as the path does for lctw_st_open). */
lctw_status lctw_st_open_buffer(lctw_st_file **out, const void *buf, size_t len, const char *label);
void lctw_st_close(lctw_st_file *f);

const char *lctw_st_path(const lctw_st_file *f);
uint64_t lctw_st_header_size(const lctw_st_file *f); /* N: JSON bytes after the length field */
uint64_t lctw_st_data_size(const lctw_st_file *f);   /* bytes of the data section */

/* Tensors, sorted by name (byte order). */
int lctw_st_count(const lctw_st_file *f);
const lctw_st_entry *lctw_st_entry_at(const lctw_st_file *f, int i); /* NULL if out of range */
const lctw_st_entry *lctw_st_find(const lctw_st_file *f, const char *name); /* NULL if absent */
/* Raw little-endian bytes of an entry (end - begin of them), inside the mapping. */
const void *lctw_st_entry_data(const lctw_st_file *f, const lctw_st_entry *e);

/* "__metadata__", in file order. */
int lctw_st_metadata_count(const lctw_st_file *f);
const char *lctw_st_metadata_key(const lctw_st_file *f, int i);
const char *lctw_st_metadata_value(const lctw_st_file *f, int i);
const char *lctw_st_metadata_get(const lctw_st_file *f, const char *key); /* NULL if absent */

/* A new contiguous float32 CPU tensor with the values of tensor `name`. */
lctw_status lctw_st_load_tensor(lctw_tensor **out, const lctw_st_file *f, const char *name);
/* Copies tensor `name` into dst (any strides, any device), whose shape must match exactly. */
lctw_status lctw_st_load_into(const lctw_st_file *f, const char *name, lctw_tensor *dst);

/* Writes n float32 tensors (any strides, CPU or CUDA) and n_meta metadata strings to path. */
lctw_status lctw_st_save(const char *path, int n, const char *const *names,
                         lctw_tensor *const *tensors, int n_meta, const char *const *meta_keys,
                         const char *const *meta_vals);

/* IEEE half / bfloat16 bits to float (exact: every value is representable). */
float lctw_f16_to_f32(uint16_t h);
float lctw_bf16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif

#endif
