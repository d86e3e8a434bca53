/* safetensors.c — validate, load and atomically save .safetensors files (see safetensors.h).
 *
 * The whole header is checked at open, so later accessors and loads can trust every entry:
 * offsets inside the data section, sizes consistent with dtype and shape, ranges tiling the
 * data section. The file stays mapped read-only until close; loads copy and convert.
 * All multi-byte values are read byte by byte as little-endian (the mapping need not be aligned
 * and the host need not be little-endian).
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/interrupt.h"
#include "json.h"

struct lctw_st_file {
    char *path;
    const unsigned char *base; /* the whole file image */
    size_t size;
    void *map; /* when mapped by lctw_st_open */
    size_t map_len;
    uint64_t header_len;
    const unsigned char *data;
    uint64_t data_len;
    lctw_json_doc *doc; /* names and metadata strings point into it */
    int n;
    lctw_st_entry *entries; /* sorted by name */
    int64_t *shapes;        /* every entry's sizes, one allocation */
    int n_meta;
    const char **meta_keys, **meta_vals;
};

/* ---- dtypes ---- */

static const struct {
    const char *name;
    size_t size;
} dtypes[LCTW_ST_DTYPE_COUNT] = {
    [LCTW_ST_BOOL] = {"BOOL", 1},       [LCTW_ST_U8] = {"U8", 1},
    [LCTW_ST_I8] = {"I8", 1},           [LCTW_ST_F8_E5M2] = {"F8_E5M2", 1},
    [LCTW_ST_F8_E4M3] = {"F8_E4M3", 1}, [LCTW_ST_I16] = {"I16", 2},
    [LCTW_ST_U16] = {"U16", 2},         [LCTW_ST_F16] = {"F16", 2},
    [LCTW_ST_BF16] = {"BF16", 2},       [LCTW_ST_I32] = {"I32", 4},
    [LCTW_ST_U32] = {"U32", 4},         [LCTW_ST_F32] = {"F32", 4},
    [LCTW_ST_F64] = {"F64", 8},         [LCTW_ST_I64] = {"I64", 8},
    [LCTW_ST_U64] = {"U64", 8},
};

const char *lctw_st_dtype_name(lctw_st_dtype dt) {
    return (unsigned)dt < LCTW_ST_DTYPE_COUNT ? dtypes[dt].name : "?";
}

size_t lctw_st_dtype_size(lctw_st_dtype dt) {
    return (unsigned)dt < LCTW_ST_DTYPE_COUNT ? dtypes[dt].size : 0;
}

int lctw_st_dtype_from_name(const char *name, lctw_st_dtype *out) {
    for (int k = 0; k < LCTW_ST_DTYPE_COUNT; k++)
        if (!strcmp(name, dtypes[k].name)) {
            *out = (lctw_st_dtype)k;
            return 1;
        }
    return 0;
}

int lctw_st_dtype_loadable(lctw_st_dtype dt) {
    return dt == LCTW_ST_F32 || dt == LCTW_ST_F16 || dt == LCTW_ST_BF16 || dt == LCTW_ST_F64;
}

/* ---- little-endian scalars ---- */

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static void wr64(unsigned char *p, uint64_t v) {
    for (int k = 0; k < 8; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static float bits_to_f32(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

float lctw_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | man << 13); /* inf, NaN (payload) */
    if (exp) return bits_to_f32(sign | (exp + 112) << 23 | man << 13);   /* rebias 15 -> 127 */
    if (!man) return bits_to_f32(sign);
    /* subnormal man * 2^-24: shift until the implicit bit appears, lowering the exponent */
    uint32_t e = 113;
    while (!(man & 0x400)) {
        man <<= 1;
        e--;
    }
    return bits_to_f32(sign | e << 23 | (man & 0x3ff) << 13);
}

float lctw_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

static void decode(float *dst, const unsigned char *src, int64_t n, lctw_st_dtype dt) {
    switch (dt) {
    case LCTW_ST_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(dst, src, (size_t)n * 4);
#else
        for (int64_t i = 0; i < n; i++)
            dst[i] = bits_to_f32(rd32(src + 4 * i));
#endif
        break;
    case LCTW_ST_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = lctw_f16_to_f32(rd16(src + 2 * i));
        break;
    case LCTW_ST_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = lctw_bf16_to_f32(rd16(src + 2 * i));
        break;
    case LCTW_ST_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t b = rd64(src + 8 * i);
            double d;
            memcpy(&d, &b, sizeof d);
            dst[i] = (float)d;
        }
        break;
    default: break; /* callers check lctw_st_dtype_loadable */
    }
}

/* ---- open / validate ---- */

#define FORMAT_ERR(f, ...) st_error((f), LCTW_EFORMAT, __VA_ARGS__)

/* Records "path: message". */
static lctw_status st_error(const lctw_st_file *f, lctw_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lctw_status st_error(const lctw_st_file *f, lctw_status code, const char *fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return LCTW_FAIL(code, "%s: %s", f->path, msg);
}

/* A short description of a JSON value for error messages: "-3", "1.5", "a string", ... */
static const char *describe_value(const lctw_json *v, char *buf, size_t n) {
    if (!v) {
        snprintf(buf, n, "missing");
    } else if (v->type == LCTW_JSON_NUMBER) {
        if (v->is_int)
            snprintf(buf, n, "%lld", (long long)v->i);
        else
            snprintf(buf, n, "%.17g", v->num);
    } else if (v->type == LCTW_JSON_STRING) {
        snprintf(buf, n, "the string \"%.40s\"", v->str);
    } else {
        snprintf(buf, n, "%s %s",
                 v->type == LCTW_JSON_ARRAY || v->type == LCTW_JSON_OBJECT ? "an" : "a",
                 lctw_json_type_name(v->type));
    }
    return buf;
}

/* A non-negative integer JSON value, or -1. */
static int64_t as_count(const lctw_json *v) {
    return v && v->type == LCTW_JSON_NUMBER && v->is_int && v->i >= 0 ? v->i : -1;
}

static lctw_status parse_metadata(lctw_st_file *f, const lctw_json *m) {
    char d[80];
    if (m->type == LCTW_JSON_NULL) return LCTW_OK;
    if (m->type != LCTW_JSON_OBJECT)
        return FORMAT_ERR(f, "\"__metadata__\" is %s, expected an object of strings",
                          describe_value(m, d, sizeof d));
    if (!m->len) return LCTW_OK;
    f->meta_keys = calloc(m->len, sizeof *f->meta_keys);
    f->meta_vals = calloc(m->len, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals)
        return st_error(f, LCTW_ENOMEM, "out of memory reading the metadata");
    for (size_t k = 0; k < m->len; k++) {
        const lctw_json *v = m->items[k];
        if (v->type != LCTW_JSON_STRING)
            return FORMAT_ERR(f, "metadata value for key '%.200s' is %s, expected a string", v->key,
                              describe_value(v, d, sizeof d));
        f->meta_keys[k] = v->key;
        f->meta_vals[k] = v->str;
    }
    f->n_meta = (int)m->len;
    return LCTW_OK;
}

static lctw_status parse_entry(lctw_st_file *f, const lctw_json *v, lctw_st_entry *e,
                               int64_t *shape_mem) {
    char d[80], sh[256];
    const char *name = v->key;
    if (strlen(name) != v->key_len)
        return FORMAT_ERR(f, "a tensor name contains a NUL byte ('%.200s...')", name);
    e->name = name;
    if (v->type != LCTW_JSON_OBJECT)
        return FORMAT_ERR(f,
                          "tensor '%.200s': entry is %s, expected an object with dtype, shape "
                          "and data_offsets",
                          name, describe_value(v, d, sizeof d));
    const lctw_json *dt = lctw_json_get(v, "dtype"), *shape = lctw_json_get(v, "shape"),
                    *offs = lctw_json_get(v, "data_offsets");
    if (!dt) return FORMAT_ERR(f, "tensor '%.200s': missing \"dtype\"", name);
    if (!shape) return FORMAT_ERR(f, "tensor '%.200s': missing \"shape\"", name);
    if (!offs) return FORMAT_ERR(f, "tensor '%.200s': missing \"data_offsets\"", name);
    if (dt->type != LCTW_JSON_STRING)
        return FORMAT_ERR(f, "tensor '%.200s': \"dtype\" is %s, expected a string", name,
                          describe_value(dt, d, sizeof d));
    if (!lctw_st_dtype_from_name(dt->str, &e->dtype))
        return FORMAT_ERR(f,
                          "tensor '%.200s': unknown dtype \"%.40s\" (known: BOOL, U8, I8, "
                          "F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)",
                          name, dt->str);
    if (shape->type != LCTW_JSON_ARRAY)
        return FORMAT_ERR(f, "tensor '%.200s': \"shape\" is %s, expected an array of sizes", name,
                          describe_value(shape, d, sizeof d));
    if (shape->len > 1024)
        return FORMAT_ERR(f, "tensor '%.200s': shape has %zu dimensions (at most 1024 allowed)",
                          name, shape->len);
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t k = 0; k < shape->len; k++) {
        int64_t s = as_count(shape->items[k]);
        if (s < 0)
            return FORMAT_ERR(f,
                              "tensor '%.200s': shape entry %zu is %s, expected a "
                              "non-negative integer",
                              name, k + 1, describe_value(shape->items[k], d, sizeof d));
        shape_mem[k] = s;
        if (s && numel > (uint64_t)INT64_MAX / (uint64_t)s) overflow = 1;
        numel *= (uint64_t)s;
    }
    e->ndim = (int)shape->len;
    e->shape = shape_mem;
    lctw_shape_str(sh, sizeof sh, e->ndim, e->shape);
    size_t esz = lctw_st_dtype_size(e->dtype);
    if (overflow || numel > (uint64_t)INT64_MAX / esz)
        return FORMAT_ERR(f, "tensor '%.200s': shape %s has too many elements", name, sh);
    e->numel = (int64_t)numel;
    int64_t b = -1, en = -1;
    if (offs->type == LCTW_JSON_ARRAY && offs->len == 2) {
        b = as_count(offs->items[0]);
        en = as_count(offs->items[1]);
    }
    if (b < 0 || en < 0) {
        char d2[80];
        if (offs->type == LCTW_JSON_ARRAY && offs->len == 2)
            return FORMAT_ERR(f,
                              "tensor '%.200s': \"data_offsets\" must be two non-negative "
                              "integers [begin, end], got [%s, %s]",
                              name, describe_value(offs->items[0], d, sizeof d),
                              describe_value(offs->items[1], d2, sizeof d2));
        if (offs->type == LCTW_JSON_ARRAY)
            return FORMAT_ERR(f,
                              "tensor '%.200s': \"data_offsets\" must be two non-negative "
                              "integers [begin, end], got an array of %zu element%s",
                              name, offs->len, offs->len == 1 ? "" : "s");
        return FORMAT_ERR(f,
                          "tensor '%.200s': \"data_offsets\" must be two non-negative "
                          "integers [begin, end], got %s",
                          name, describe_value(offs, d, sizeof d));
    }
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    if (e->begin > e->end)
        return FORMAT_ERR(f, "tensor '%.200s': data_offsets [%llu, %llu]: begin is after end", name,
                          (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > f->data_len)
        return FORMAT_ERR(f,
                          "tensor '%.200s': data_offsets [%llu, %llu]: end is beyond the data "
                          "section (%llu bytes)",
                          name, (unsigned long long)e->begin, (unsigned long long)e->end,
                          (unsigned long long)f->data_len);
    if (e->end - e->begin != numel * esz)
        return FORMAT_ERR(f,
                          "tensor '%.200s': data_offsets [%llu, %llu] hold %llu bytes, but "
                          "dtype %s with shape %s needs %llu",
                          name, (unsigned long long)e->begin, (unsigned long long)e->end,
                          (unsigned long long)(e->end - e->begin), dtypes[e->dtype].name, sh,
                          (unsigned long long)(numel * esz));
    return LCTW_OK;
}

static int by_offset(const void *x, const void *y) {
    const lctw_st_entry *a = *(const lctw_st_entry *const *)x,
                        *b = *(const lctw_st_entry *const *)y;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return 0;
}

static int by_name(const void *x, const void *y) {
    return strcmp(((const lctw_st_entry *)x)->name, ((const lctw_st_entry *)y)->name);
}

/* The ranges must tile [0, data_len): sorted by offset, each begins where the last ended. */
static lctw_status check_coverage(lctw_st_file *f) {
    lctw_st_entry **ord = malloc((size_t)(f->n ? f->n : 1) * sizeof *ord);
    if (!ord) return st_error(f, LCTW_ENOMEM, "out of memory validating the header");
    for (int i = 0; i < f->n; i++)
        ord[i] = &f->entries[i];
    qsort(ord, (size_t)f->n, sizeof *ord, by_offset);
    uint64_t at = 0;
    lctw_status s = LCTW_OK;
    for (int i = 0; i < f->n && s == LCTW_OK; i++) {
        const lctw_st_entry *e = ord[i];
        if (e->begin < at) {
            const lctw_st_entry *p = ord[i - 1]; /* at > 0, so there is a previous entry */
            s = FORMAT_ERR(f,
                           "tensors '%.200s' (bytes %llu..%llu) and '%.200s' (bytes %llu..%llu) "
                           "overlap in the data section",
                           p->name, (unsigned long long)p->begin, (unsigned long long)p->end,
                           e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        } else if (e->begin > at) {
            s = FORMAT_ERR(f,
                           "bytes %llu..%llu of the data section belong to no tensor (a gap "
                           "before '%.200s'); safetensors requires the tensors to cover it "
                           "contiguously",
                           (unsigned long long)at, (unsigned long long)e->begin, e->name);
        }
        at = e->end;
    }
    free(ord);
    if (s == LCTW_OK && at != f->data_len)
        s = FORMAT_ERR(f,
                       "the data section is %llu bytes but the tensors cover only the first %llu "
                       "(trailing bytes)",
                       (unsigned long long)f->data_len, (unsigned long long)at);
    return s;
}

static lctw_status validate(lctw_st_file *f) {
    char d[80];
    if (f->size < 8)
        return FORMAT_ERR(f,
                          "file is %zu bytes, too short for a safetensors file (it starts with "
                          "an 8-byte header length)",
                          f->size);
    uint64_t n = rd64(f->base);
    if (n == 0) return FORMAT_ERR(f, "header length is 0");
    if (n > LCTW_ST_MAX_HEADER)
        return FORMAT_ERR(f,
                          "header length %llu exceeds the 100 MB limit (not a safetensors "
                          "file?)",
                          (unsigned long long)n);
    if (n > f->size - 8)
        return FORMAT_ERR(f,
                          "header length %llu exceeds the file (%zu bytes, so at most %zu "
                          "after the length field)",
                          (unsigned long long)n, f->size, f->size - 8);
    f->header_len = n;
    f->data = f->base + 8 + n;
    f->data_len = f->size - 8 - n;
    lctw_json_opts jo = {.max_depth = 64};
    lctw_status s = lctw_json_parse(&f->doc, (const char *)f->base + 8, (size_t)n, &jo);
    if (s != LCTW_OK) {
        lctw_error_prefix("%s: header", f->path);
        return s;
    }
    const lctw_json *root = lctw_json_root(f->doc);
    if (root->type != LCTW_JSON_OBJECT)
        return FORMAT_ERR(f,
                          "header is %s, not a JSON object mapping tensor names to {dtype, "
                          "shape, data_offsets}",
                          describe_value(root, d, sizeof d));
    /* count tensors and their dimensions */
    size_t ntensors = 0, ndims = 0;
    for (size_t k = 0; k < root->len; k++) {
        const lctw_json *v = root->items[k];
        if (!strcmp(v->key, "__metadata__") && v->key_len == 12) continue;
        ntensors++;
        const lctw_json *sh = lctw_json_get(v, "shape");
        if (sh && sh->type == LCTW_JSON_ARRAY) ndims += sh->len;
    }
    if (ntensors > (size_t)INT32_MAX) return FORMAT_ERR(f, "too many tensors");
    f->entries = calloc(ntensors ? ntensors : 1, sizeof *f->entries);
    f->shapes = calloc(ndims ? ndims : 1, sizeof *f->shapes);
    if (!f->entries || !f->shapes)
        return st_error(f, LCTW_ENOMEM, "out of memory reading the header (%zu tensors)", ntensors);
    size_t used = 0;
    for (size_t k = 0; k < root->len; k++) {
        const lctw_json *v = root->items[k];
        if (!strcmp(v->key, "__metadata__") && v->key_len == 12) {
            LCTW_TRY(parse_metadata(f, v));
            continue;
        }
        LCTW_TRY(parse_entry(f, v, &f->entries[f->n], f->shapes + used));
        used += (size_t)f->entries[f->n].ndim;
        f->n++;
    }
    LCTW_TRY(check_coverage(f));
    qsort(f->entries, (size_t)f->n, sizeof *f->entries, by_name);
    return LCTW_OK;
}

static lctw_status file_new(lctw_st_file **out, const char *label) {
    lctw_st_file *f = calloc(1, sizeof *f);
    if (f) f->path = strdup(label ? label : "(buffer)");
    if (!f || !f->path) {
        free(f);
        return LCTW_FAIL(LCTW_ENOMEM, "out of memory opening %s", label ? label : "(buffer)");
    }
    *out = f;
    return LCTW_OK;
}

lctw_status lctw_st_open_buffer(lctw_st_file **out, const void *buf, size_t len,
                                const char *label) {
    *out = NULL;
    if (!buf && len) return LCTW_FAIL(LCTW_EINVAL, "lctw_st_open_buffer: NULL buffer");
    lctw_st_file *f = NULL;
    LCTW_TRY(file_new(&f, label));
    f->base = buf;
    f->size = len;
    lctw_status s = validate(f);
    if (s != LCTW_OK) {
        lctw_st_close(f);
        return s;
    }
    *out = f;
    return LCTW_OK;
}

lctw_status lctw_st_open(lctw_st_file **out, const char *path) {
    *out = NULL;
    if (!path) return LCTW_FAIL(LCTW_EINVAL, "safetensors: NULL path");
    lctw_st_file *f = NULL;
    LCTW_TRY(file_new(&f, path));
    lctw_status s = LCTW_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat stt;
    if (fd < 0) {
        s = st_error(f, LCTW_EIO, "cannot open: %s", strerror(errno));
    } else if (fstat(fd, &stt) != 0) {
        s = st_error(f, LCTW_EIO, "cannot stat: %s", strerror(errno));
    } else if (S_ISDIR(stt.st_mode)) {
        s = st_error(f, LCTW_EIO, "is a directory, not a safetensors file");
    } else if (stt.st_size < 8) {
        f->size = (size_t)stt.st_size; /* validate() reports it; nothing to map */
        f->base = (const unsigned char *)"";
    } else {
        void *m = mmap(NULL, (size_t)stt.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            s = st_error(f, LCTW_EIO, "cannot map %lld bytes: %s", (long long)stt.st_size,
                         strerror(errno));
        } else {
            f->map = m;
            f->map_len = (size_t)stt.st_size;
            f->base = m;
            f->size = (size_t)stt.st_size;
        }
    }
    if (fd >= 0) close(fd);
    if (s == LCTW_OK) s = validate(f);
    if (s != LCTW_OK) {
        lctw_st_close(f);
        return s;
    }
    *out = f;
    return LCTW_OK;
}

void lctw_st_close(lctw_st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    lctw_json_free(f->doc);
    free(f->entries);
    free(f->shapes);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->path);
    free(f);
}

/* ---- accessors ---- */

const char *lctw_st_path(const lctw_st_file *f) { return f->path; }
uint64_t lctw_st_header_size(const lctw_st_file *f) { return f->header_len; }
uint64_t lctw_st_data_size(const lctw_st_file *f) { return f->data_len; }
int lctw_st_count(const lctw_st_file *f) { return f->n; }

const lctw_st_entry *lctw_st_entry_at(const lctw_st_file *f, int i) {
    return i >= 0 && i < f->n ? &f->entries[i] : NULL;
}

const lctw_st_entry *lctw_st_find(const lctw_st_file *f, const char *name) {
    if (!name) return NULL;
    lctw_st_entry key = {.name = name};
    return bsearch(&key, f->entries, (size_t)f->n, sizeof *f->entries, by_name);
}

const void *lctw_st_entry_data(const lctw_st_file *f, const lctw_st_entry *e) {
    return f->data + e->begin;
}

int lctw_st_metadata_count(const lctw_st_file *f) { return f->n_meta; }
const char *lctw_st_metadata_key(const lctw_st_file *f, int i) {
    return i >= 0 && i < f->n_meta ? f->meta_keys[i] : NULL;
}
const char *lctw_st_metadata_value(const lctw_st_file *f, int i) {
    return i >= 0 && i < f->n_meta ? f->meta_vals[i] : NULL;
}
const char *lctw_st_metadata_get(const lctw_st_file *f, const char *key) {
    if (!key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_vals[i];
    return NULL;
}

/* ---- loading ---- */

/* The entry `name`, checked to be loadable as an lctw tensor. */
static lctw_status loadable_entry(const lctw_st_file *f, const char *name,
                                  const lctw_st_entry **out) {
    const lctw_st_entry *e = lctw_st_find(f, name);
    if (!e) {
        char list[300];
        size_t k = 0;
        list[0] = 0;
        for (int i = 0; i < f->n && k < sizeof list - 8; i++) {
            int w =
                snprintf(list + k, sizeof list - k, "%s'%s'", i ? ", " : "", f->entries[i].name);
            if (w < 0 || (size_t)w >= sizeof list - k) {
                snprintf(list + k, sizeof list - k, ", ...");
                break;
            }
            k += (size_t)w;
        }
        return st_error(f, LCTW_EINVAL, "no tensor named '%s' (the file has %d: %s)",
                        name ? name : "(null)", f->n, f->n ? list : "none");
    }
    if (!lctw_st_dtype_loadable(e->dtype))
        return FORMAT_ERR(f,
                          "tensor '%s' has dtype %s; lctw loads float tensors (F32, F16, BF16, "
                          "F64)",
                          e->name, dtypes[e->dtype].name);
    if (e->ndim > LCTW_MAX_DIMS) {
        char sh[256];
        return st_error(f, LCTW_ESHAPE,
                        "tensor '%s' has %d dimensions (%s); lctw tensors have at "
                        "most %d",
                        e->name, e->ndim, lctw_shape_str(sh, sizeof sh, e->ndim, e->shape),
                        LCTW_MAX_DIMS);
    }
    *out = e;
    return LCTW_OK;
}

lctw_status lctw_st_load_tensor(lctw_tensor **out, const lctw_st_file *f, const char *name) {
    *out = NULL;
    const lctw_st_entry *e;
    LCTW_TRY(loadable_entry(f, name, &e));
    lctw_tensor *t;
    lctw_status s = lctw_tensor_empty(&t, e->ndim, e->shape, LCTW_DEV_CPU);
    if (s != LCTW_OK) {
        lctw_error_prefix("%s: tensor '%s'", f->path, e->name);
        return s;
    }
    decode(lctw_tensor_data(t), f->data + e->begin, e->numel, e->dtype);
    *out = t;
    return LCTW_OK;
}

lctw_status lctw_st_load_into(const lctw_st_file *f, const char *name, lctw_tensor *dst) {
    const lctw_st_entry *e;
    LCTW_TRY(loadable_entry(f, name, &e));
    int same = e->ndim == dst->ndim;
    for (int i = 0; same && i < e->ndim; i++)
        same = e->shape[i] == dst->shape[i];
    if (!same) {
        char a[256], b[256];
        return st_error(f, LCTW_ESHAPE, "tensor '%s': shape %s in file, model expects %s", e->name,
                        lctw_shape_str(a, sizeof a, e->ndim, e->shape),
                        lctw_tensor_shape_str(b, sizeof b, dst));
    }
    if (lctw_tensor_device(dst) == LCTW_DEV_CPU && lctw_tensor_is_contiguous(dst)) {
        decode(lctw_tensor_data(dst), f->data + e->begin, e->numel, e->dtype);
        return LCTW_OK;
    }
    lctw_tensor *t;
    LCTW_TRY(lctw_st_load_tensor(&t, f, name));
    lctw_status s = lctw_tensor_copy(dst, t);
    lctw_tensor_release(t);
    if (s != LCTW_OK) lctw_error_prefix("%s: tensor '%s'", f->path, e->name);
    return s;
}

/* ---- saving ---- */

static int cmp_str_idx(const void *x, const void *y, void *ctx) {
    const char *const *s = ctx;
    return strcmp(s[*(const int *)x], s[*(const int *)y]);
}

/* Indices 0..n-1 sorted by strs[i]; *dup = index of a duplicated string or -1. */
static int *sorted_order(const char *const *strs, int n, int *dup) {
    int *o = malloc((size_t)(n ? n : 1) * sizeof *o);
    *dup = -1;
    if (!o) return NULL;
    for (int i = 0; i < n; i++)
        o[i] = i;
    qsort_r(o, (size_t)n, sizeof *o, cmp_str_idx, (void *)strs);
    for (int i = 1; i < n && *dup < 0; i++)
        if (!strcmp(strs[o[i - 1]], strs[o[i]])) *dup = o[i];
    return o;
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Float32 values of a contiguous CPU tensor, little-endian. */
static int write_floats(int fd, const float *x, int64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return write_all(fd, x, (size_t)n * 4);
#else
    unsigned char buf[4096];
    for (int64_t i = 0; i < n;) {
        int k = 0;
        for (; k < (int)sizeof buf / 4 && i < n; k++, i++) {
            uint32_t b;
            memcpy(&b, &x[i], 4);
            for (int j = 0; j < 4; j++)
                buf[4 * k + j] = (unsigned char)(b >> (8 * j));
        }
        if (write_all(fd, buf, (size_t)k * 4)) return -1;
    }
    return 0;
#endif
}

static lctw_status check_save_args(const char *path, int n, const char *const *names,
                                   lctw_tensor *const *tensors, int n_meta, const char *const *keys,
                                   const char *const *vals) {
    if (!path || !*path) return LCTW_FAIL(LCTW_EINVAL, "safetensors save: empty path");
    if (n < 0 || (n > 0 && (!names || !tensors)))
        return LCTW_FAIL(LCTW_EINVAL, "%s: save: bad tensor list (n = %d)", path, n);
    if (n_meta < 0 || (n_meta > 0 && (!keys || !vals)))
        return LCTW_FAIL(LCTW_EINVAL, "%s: save: bad metadata list (n_meta = %d)", path, n_meta);
    for (int i = 0; i < n; i++) {
        if (!names[i]) return LCTW_FAIL(LCTW_EINVAL, "%s: save: name %d is NULL", path, i + 1);
        if (!*names[i])
            return LCTW_FAIL(LCTW_EINVAL, "%s: save: tensor %d has an empty name", path, i + 1);
        if (!strcmp(names[i], "__metadata__"))
            return LCTW_FAIL(LCTW_EINVAL,
                             "%s: save: \"__metadata__\" is reserved and cannot "
                             "name a tensor",
                             path);
        if (!tensors[i])
            return LCTW_FAIL(LCTW_EINVAL, "%s: save: tensor '%s' is NULL", path, names[i]);
    }
    for (int i = 0; i < n_meta; i++)
        if (!keys[i] || !vals[i])
            return LCTW_FAIL(LCTW_EINVAL, "%s: save: metadata entry %d has a NULL key or value",
                             path, i + 1);
    return LCTW_OK;
}

/* The header JSON padded with spaces to a multiple of 8 bytes (malloc'ed). */
static lctw_status build_header(char **out, size_t *out_len, const char *path, int n,
                                const char *const *names, lctw_tensor *const *tensors,
                                const int *order, int n_meta, const char *const *keys,
                                const char *const *vals) {
    lctw_json_writer w;
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_object(&w);
    if (n_meta > 0) {
        lctw_json_writer_key(&w, "__metadata__");
        lctw_json_writer_begin_object(&w);
        for (int i = 0; i < n_meta; i++) {
            lctw_json_writer_key(&w, keys[i]);
            lctw_json_writer_string(&w, vals[i]);
        }
        lctw_json_writer_end_object(&w);
    }
    uint64_t at = 0;
    for (int k = 0; k < n; k++) {
        const lctw_tensor *t = tensors[order[k]];
        uint64_t nb = (uint64_t)lctw_tensor_numel(t) * 4;
        lctw_json_writer_key(&w, names[order[k]]);
        lctw_json_writer_begin_object(&w);
        lctw_json_writer_key(&w, "dtype");
        lctw_json_writer_string(&w, "F32");
        lctw_json_writer_key(&w, "shape");
        lctw_json_writer_begin_array(&w);
        for (int d = 0; d < t->ndim; d++)
            lctw_json_writer_int(&w, t->shape[d]);
        lctw_json_writer_end_array(&w);
        lctw_json_writer_key(&w, "data_offsets");
        lctw_json_writer_begin_array(&w);
        lctw_json_writer_int(&w, (int64_t)at);
        lctw_json_writer_int(&w, (int64_t)(at + nb));
        lctw_json_writer_end_array(&w);
        lctw_json_writer_end_object(&w);
        at += nb;
    }
    lctw_json_writer_end_object(&w);
    char *json;
    size_t len;
    lctw_status s = lctw_json_writer_finish(&w, &json, &len);
    if (s != LCTW_OK) {
        lctw_error_prefix("%s: save", path);
        return s;
    }
    size_t padded = (len + 7) / 8 * 8;
    if (padded > LCTW_ST_MAX_HEADER) {
        free(json);
        return LCTW_FAIL(LCTW_EINVAL, "%s: save: header of %zu bytes exceeds the 100 MB limit",
                         path, padded);
    }
    char *h = realloc(json, padded + 1);
    if (!h) {
        free(json);
        return LCTW_FAIL(LCTW_ENOMEM, "%s: save: out of memory", path);
    }
    memset(h + len, ' ', padded - len);
    h[padded] = 0;
    *out = h;
    *out_len = padded;
    return LCTW_OK;
}

/* Creates path.tmp.PID.K exclusively (mode 0666 minus umask). */
static int create_temp(const char *path, char **tmp_out) {
    static unsigned seq;
    size_t n = strlen(path) + 48;
    char *tmp = malloc(n);
    if (!tmp) {
        errno = ENOMEM;
        return -1;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(),
                 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp_out = tmp;
            return fd;
        }
        if (errno != EEXIST) break;
    }
    int e = errno;
    free(tmp);
    errno = e;
    return -1;
}

/* fsync the directory holding path, so the rename itself is durable (best effort). */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

lctw_status lctw_st_save(const char *path, int n, const char *const *names,
                         lctw_tensor *const *tensors, int n_meta, const char *const *meta_keys,
                         const char *const *meta_vals) {
    LCTW_TRY(check_save_args(path, n, names, tensors, n_meta, meta_keys, meta_vals));
    int dup;
    int *order = sorted_order(names, n, &dup);
    if (!order) return LCTW_FAIL(LCTW_ENOMEM, "%s: save: out of memory", path);
    if (dup >= 0) {
        free(order);
        return LCTW_FAIL(LCTW_EINVAL, "%s: save: duplicate tensor name '%s'", path, names[dup]);
    }
    int *mo = sorted_order(meta_keys, n_meta, &dup);
    if (!mo) {
        free(order);
        return LCTW_FAIL(LCTW_ENOMEM, "%s: save: out of memory", path);
    }
    free(mo);
    if (dup >= 0) {
        free(order);
        return LCTW_FAIL(LCTW_EINVAL, "%s: save: duplicate metadata key '%s'", path,
                         meta_keys[dup]);
    }
    char *header = NULL, *tmp = NULL;
    size_t hlen = 0;
    lctw_status s =
        build_header(&header, &hlen, path, n, names, tensors, order, n_meta, meta_keys, meta_vals);
    int fd = -1;
    if (s == LCTW_OK) {
        fd = create_temp(path, &tmp);
        if (fd < 0)
            s = LCTW_FAIL(LCTW_EIO, "%s: cannot create a temporary file next to it: %s", path,
                          strerror(errno));
    }
    if (s == LCTW_OK) {
        unsigned char len8[8];
        wr64(len8, hlen);
        if (write_all(fd, len8, 8) || write_all(fd, header, hlen))
            s = LCTW_FAIL(LCTW_EIO, "%s: write failed (header): %s", path, strerror(errno));
    }
    /* tensors one at a time: at most one CPU copy (from CUDA or strided) alive at once */
    for (int k = 0; k < n && s == LCTW_OK; k++) {
        const char *name = names[order[k]];
        lctw_tensor *cpu = NULL, *c = NULL;
        s = lctw_check_interrupt();
        if (s == LCTW_OK) s = lctw_tensor_to(&cpu, tensors[order[k]], LCTW_DEV_CPU);
        if (s == LCTW_OK) s = lctw_tensor_contiguous(&c, cpu);
        if (s != LCTW_OK) {
            lctw_error_prefix("%s: save: tensor '%s'", path, name);
        } else if (write_floats(fd, lctw_tensor_data(c), lctw_tensor_numel(c))) {
            s = LCTW_FAIL(LCTW_EIO, "%s: write failed (tensor '%s'): %s", path, name,
                          strerror(errno));
        }
        lctw_tensor_release(c);
        lctw_tensor_release(cpu);
    }
    if (s == LCTW_OK && fsync(fd) != 0)
        s = LCTW_FAIL(LCTW_EIO, "%s: fsync failed: %s", path, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && s == LCTW_OK)
        s = LCTW_FAIL(LCTW_EIO, "%s: close failed: %s", path, strerror(errno));
    if (s == LCTW_OK && rename(tmp, path) != 0)
        s = LCTW_FAIL(LCTW_EIO, "%s: cannot replace it with the temporary file '%s': %s", path, tmp,
                      strerror(errno));
    if (s == LCTW_OK)
        sync_parent_dir(path);
    else if (tmp)
        unlink(tmp);
    free(tmp);
    free(header);
    free(order);
    return s;
}
