/* npy.h — NumPy .npy files: read (float16/32/64, format 1.0/2.0/3.0) and write (float32, 1.0).
 *
 * Latent data sets arrive as .npy files written by NumPy/PyTorch scripts, usually float16
 * N×C×H×W. Loading always yields a float32 CPU tensor of 0..4 dimensions:
 *   <f4  large files are memory-mapped copy-on-write (MAP_PRIVATE): pages are read on demand,
 *        writes to the tensor never reach the file; small files are read into heap memory.
 *   <f2  converted exactly (subnormals, ±inf, NaN) to float32, reading the file in chunks.
 *   <f8  rounded to nearest float32, reading in chunks.
 * The header is parsed by a small, strict parser of the Python dict literal NumPy writes
 * ({'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }); every malformed input is an
 * LCTW_EFORMAT (or LCTW_EIO for the file system) error whose message starts with the path.
 *
 * Saving writes '<f4', C order, format 1.0 with the header padded to a multiple of 64 bytes,
 * as numpy.save does. The file is replaced atomically (temp file in the same directory, fsync,
 * rename), so a failed save never leaves a partial file and never touches an existing one.
 *
 * Caveat of the mapping: if another program truncates the file while a mapped tensor is alive,
 * reading the missing pages raises SIGBUS. lctw_npy_save itself is safe (it renames a new file
 * into place; the old mapping keeps the old contents).
 */
#ifndef LCTW_NPY_H
#define LCTW_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

typedef enum { LCTW_NPY_F16 = 0, LCTW_NPY_F32, LCTW_NPY_F64 } lctw_npy_dtype;

typedef enum {
    LCTW_NPY_MMAP_AUTO = 0, /* map <f4 data of at least mmap_min_bytes (default) */
    LCTW_NPY_MMAP_NEVER,    /* always read into heap memory */
    LCTW_NPY_MMAP_ALWAYS,   /* map whenever possible (<f4, 4-byte aligned data, not empty) */
} lctw_npy_mmap_mode;

/* Load options; all-zero (or a NULL pointer) means the defaults. */
typedef struct lctw_npy_opts {
    lctw_npy_mmap_mode mmap;
    size_t mmap_min_bytes; /* threshold of LCTW_NPY_MMAP_AUTO; 0 = LCTW_NPY_MMAP_MIN_DEFAULT */
} lctw_npy_opts;

#define LCTW_NPY_MMAP_MIN_DEFAULT ((size_t)1 << 20)

/* What a header says (only headers lctw can load pass lctw_npy_read_header). */
typedef struct lctw_npy_info {
    int version_major, version_minor; /* 1.0, 2.0 or 3.0 */
    char descr[16];                   /* the dtype string as written, e.g. "<f2" */
    lctw_npy_dtype dtype;
    int elem_size; /* bytes per element in the file: 2, 4 or 8 */
    int fortran_order;
    int ndim;
    int64_t shape[LCTW_MAX_DIMS];
    int64_t numel;
    size_t data_offset; /* bytes from the start of the file to the first element */
    size_t data_bytes;  /* numel * elem_size */
    size_t file_size;
} lctw_npy_info;

#ifdef __cplusplus
extern "C" {
#endif

/* Reads and validates the header of path: succeeds exactly when lctw_npy_load could read the
 * file (memory permitting), including that the file holds exactly data_bytes after the header. */
lctw_status lctw_npy_read_header(const char *path, lctw_npy_info *info);

/* Loads path as a float32 CPU tensor (one reference in *out). opts may be NULL. */
lctw_status lctw_npy_load(lctw_tensor **out, const char *path, const lctw_npy_opts *opts);

/* Writes t (any device, any strides) as '<f4' C-order .npy format 1.0, atomically. */
lctw_status lctw_npy_save(const char *path, const lctw_tensor *t);

/* IEEE binary16 bits -> float32, exact for every value (subnormals, ±0, ±inf, NaN payloads). */
float lctw_half_to_float(uint16_t h);

/* "float16" / "float32" / "float64" */
const char *lctw_npy_dtype_name(lctw_npy_dtype d);

#ifdef __cplusplus
}
#endif

#endif
