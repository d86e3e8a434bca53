/* npy.c — reading and writing NumPy .npy files (see npy.h for the contract).
 *
 * Layout of a .npy file (NumPy's format.py, NEP 1):
 *   "\x93NUMPY" major minor | header length (u16 LE for 1.0, u32 LE for 2.0/3.0) | header text |
 *   raw data, C order (or Fortran order if the header says so)
 * The header text is a Python dict literal with exactly the keys 'descr', 'fortran_order' and
 * 'shape', padded with spaces and ended by '\n' so that the data starts 16- or 64-byte aligned.
 *
 * The parser below reads only that literal: strings in '…' or "…", True/False, tuples of
 * non-negative integers (old Python 2 files may write 3L), arbitrary whitespace, any key order,
 * trailing commas. It never reads past the header length and reports the byte where it stopped.
 * Sizes are validated against the file size before anything is allocated, so a hostile header
 * cannot make us allocate more than the file could hold.
 */
#include "io/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/interrupt.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "npy.c maps little-endian float32 data directly; port it for big-endian hosts");

#define NPY_FAIL(code, path, fmt, ...) LCTW_FAIL((code), "%s: " fmt, (path), ##__VA_ARGS__)

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER ((size_t)1 << 20)  /* NumPy itself refuses headers over 10000 bytes */
#define NPY_PARSE_DIMS 64                 /* NumPy's NPY_MAXDIMS */
#define NPY_CHUNK ((size_t)1 << 20)       /* conversion buffer for float16/float64 */
#define NPY_READ_CHUNK ((size_t)64 << 20) /* interrupt check granularity of plain reads */

/* ---- small helpers ---- */

const char *lctw_npy_dtype_name(lctw_npy_dtype d) {
    switch (d) {
    case LCTW_NPY_F16: return "float16";
    case LCTW_NPY_F32: return "float32";
    case LCTW_NPY_F64: return "float64";
    }
    return "?";
}

/* Printable ASCII as is (quote and backslash escaped), everything else as \xNN. */
static char *escape_bytes(char *buf, size_t n, const void *src, size_t len) {
    const unsigned char *s = src;
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < len && k + 5 < n; i++) {
        unsigned c = s[i];
        if (c == '"' || c == '\\')
            k += (size_t)snprintf(buf + k, n - k, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            buf[k++] = (char)c, buf[k] = 0;
        else
            k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
    }
    return buf;
}

/* Python-style shape: "()", "(5,)", "(3, 4)". */
static char *py_shape(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, ndim == 1 ? ",)" : ")");
    return buf;
}

float lctw_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf, or NaN keeping its payload */
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign; /* ±0 */
        } else {
            /* subnormal 2^-14 · m/1024: shift the leading 1 up to bit 10 (the implicit bit) */
            uint32_t e = 113; /* biased float32 exponent of 2^-14 */
            while (!(man & 0x400u)) {
                man <<= 1;
                e--;
            }
            bits = sign | (e << 23) | ((man & 0x3ffu) << 13);
        }
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13); /* rebias 15 -> 127 */
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---- file access ---- */

/* Reads up to n bytes at off; *got < n only at the end of the file. */
static lctw_status pread_full(int fd, void *buf, size_t n, size_t off, size_t *got,
                              const char *path) {
    size_t k = 0;
    while (k < n) {
        ssize_t r = pread(fd, (char *)buf + k, n - k, (off_t)(off + k));
        if (r < 0) {
            if (errno == EINTR) continue;
            return NPY_FAIL(LCTW_EIO, path, "read error at byte %zu: %s", off + k, strerror(errno));
        }
        if (r == 0) break;
        k += (size_t)r;
    }
    *got = k;
    return LCTW_OK;
}

/* Exactly n bytes at off, or an error saying the file changed under us. */
static lctw_status pread_exact(int fd, void *buf, size_t n, size_t off, const char *path) {
    size_t got = 0;
    LCTW_TRY(pread_full(fd, buf, n, off, &got, path));
    if (got != n)
        return NPY_FAIL(LCTW_EIO, path,
                        "file ended at byte %zu while reading %zu bytes at %zu (was it truncated "
                        "while being read?)",
                        off + got, n, off);
    return LCTW_OK;
}

static lctw_status open_regular(const char *path, int *fd_out, size_t *size) {
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NPY_FAIL(LCTW_EIO, path, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return NPY_FAIL(LCTW_EIO, path, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return NPY_FAIL(LCTW_EIO, path, "%s, not a .npy file",
                        S_ISDIR(sb.st_mode) ? "is a directory" : "is not a regular file");
    }
    *fd_out = fd;
    *size = (size_t)sb.st_size;
    return LCTW_OK;
}

/* ---- header text parser ---- */

typedef struct {
    const char *path;
    const char *s;
    size_t n, i;
} hparser;

static lctw_status perr(hparser *P, const char *what) {
    if (P->i >= P->n)
        return NPY_FAIL(LCTW_EFORMAT, P->path,
                        "header is not a valid Python dict literal: %s, but the header text ends "
                        "at byte %zu (truncated header?)",
                        what, P->n);
    char ctx[80];
    size_t len = P->n - P->i < 16 ? P->n - P->i : 16;
    return NPY_FAIL(LCTW_EFORMAT, P->path,
                    "header is not a valid Python dict literal: %s at byte %zu of the header, "
                    "found \"%s\"",
                    what, P->i, escape_bytes(ctx, sizeof ctx, P->s + P->i, len));
}

static void skip_ws(hparser *P) {
    while (P->i < P->n && P->s[P->i] && strchr(" \t\n\r\f\v", P->s[P->i]))
        P->i++;
}

static int peek(hparser *P) { return P->i < P->n ? (unsigned char)P->s[P->i] : -1; }

/* A '…' or "…" literal into buf (truncated to n-1 bytes; *len = full length). */
static lctw_status parse_string(hparser *P, char *buf, size_t n, size_t *len, const char *what) {
    int q = peek(P);
    if (q != '\'' && q != '"') return perr(P, what);
    P->i++;
    size_t k = 0;
    for (;;) {
        int c = peek(P);
        if (c < 0) return perr(P, "unterminated string");
        if (c == '\n') return perr(P, "line break inside a string");
        P->i++;
        if (c == q) break;
        if (c == '\\') {
            c = peek(P);
            if (c < 0) return perr(P, "unterminated string");
            P->i++;
        }
        if (k + 1 < n) buf[k] = (char)c;
        k++;
    }
    buf[k + 1 < n ? k : n - 1] = 0;
    *len = k;
    return LCTW_OK;
}

static lctw_status parse_bool(hparser *P, int *v) {
    size_t start = P->i;
    while (P->i < P->n &&
           (P->s[P->i] == '_' || (P->s[P->i] >= 'a' && P->s[P->i] <= 'z') ||
            (P->s[P->i] >= 'A' && P->s[P->i] <= 'Z') || (P->s[P->i] >= '0' && P->s[P->i] <= '9')))
        P->i++;
    size_t len = P->i - start;
    if (len == 4 && !memcmp(P->s + start, "True", 4)) {
        *v = 1;
        return LCTW_OK;
    }
    if (len == 5 && !memcmp(P->s + start, "False", 5)) {
        *v = 0;
        return LCTW_OK;
    }
    P->i = start;
    return perr(P, "'fortran_order' must be True or False");
}

/* A tuple of integers; sizes may be negative here (reported later, with the whole shape). */
static lctw_status parse_shape(hparser *P, int *ndim, int64_t *shape) {
    if (peek(P) == '[') return perr(P, "'shape' must be a tuple like (3, 4), not a list");
    if (peek(P) != '(') return perr(P, "'shape' must be a tuple like (3, 4)");
    P->i++;
    int n = 0, comma = 0;
    for (;;) {
        skip_ws(P);
        if (peek(P) == ')') {
            if (n == 1 && !comma) {
                char m[128];
                snprintf(m, sizeof m,
                         "'shape' (%lld) is a number, not a tuple: write a 1-tuple as (%lld,)",
                         (long long)shape[0], (long long)shape[0]);
                return perr(P, m);
            }
            P->i++;
            break;
        }
        if (n > 0 && !comma) return perr(P, "expected ',' or ')' in the shape tuple");
        int neg = 0;
        if (peek(P) == '-') {
            neg = 1;
            P->i++;
        }
        int c = peek(P);
        if (c < '0' || c > '9') return perr(P, "expected an integer in the shape tuple");
        int64_t v = 0;
        while ((c = peek(P)) >= '0' && c <= '9') {
            if (v > (INT64_MAX - (c - '0')) / 10)
                return perr(P, "shape dimension too large (overflows 64 bits)");
            v = v * 10 + (c - '0');
            P->i++;
        }
        if (peek(P) == 'L' || peek(P) == 'l') P->i++; /* Python 2 long literal */
        if (n == NPY_PARSE_DIMS) return perr(P, "shape has more than 64 dimensions");
        shape[n++] = neg ? -v : v;
        skip_ws(P);
        comma = 0;
        if (peek(P) == ',') {
            comma = 1;
            P->i++;
        }
    }
    *ndim = n;
    return LCTW_OK;
}

typedef struct {
    char descr[64];
    size_t descr_len;
    int fortran;
    int ndim;
    int64_t shape[NPY_PARSE_DIMS];
} header_dict;

static lctw_status parse_header_text(const char *path, const char *s, size_t n, header_dict *d) {
    hparser P = {path, s, n, 0};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    skip_ws(&P);
    if (peek(&P) != '{') return perr(&P, "expected '{'");
    P.i++;
    for (;;) {
        skip_ws(&P);
        if (peek(&P) == '}') break;
        char key[32];
        size_t klen;
        LCTW_TRY(parse_string(&P, key, sizeof key, &klen, "expected a quoted key or '}'"));
        skip_ws(&P);
        if (peek(&P) != ':') return perr(&P, "expected ':' after a key");
        P.i++;
        skip_ws(&P);
        if (klen == 5 && !strcmp(key, "descr")) {
            if (peek(&P) == '[')
                return NPY_FAIL(LCTW_EFORMAT, path,
                                "unsupported dtype: a structured (record) array (lctw reads "
                                "little-endian float16/32/64)");
            LCTW_TRY(parse_string(&P, d->descr, sizeof d->descr, &d->descr_len,
                                  "'descr' must be a dtype string like '<f4'"));
            have_descr = 1;
        } else if (klen == 13 && !strcmp(key, "fortran_order")) {
            LCTW_TRY(parse_bool(&P, &d->fortran));
            have_fortran = 1;
        } else if (klen == 5 && !strcmp(key, "shape")) {
            LCTW_TRY(parse_shape(&P, &d->ndim, d->shape));
            have_shape = 1;
        } else {
            char e[80];
            return NPY_FAIL(LCTW_EFORMAT, path,
                            "unexpected key '%s' in the header (a .npy header has exactly "
                            "'descr', 'fortran_order' and 'shape')",
                            escape_bytes(e, sizeof e, key, klen < sizeof key ? klen : 31));
        }
        skip_ws(&P);
        if (peek(&P) == ',') {
            P.i++;
            continue;
        }
        if (peek(&P) == '}') break;
        return perr(&P, "expected ',' or '}' after a value");
    }
    P.i++; /* '}' */
    skip_ws(&P);
    if (P.i < P.n) return perr(&P, "unexpected text after the header dict");
    const char *missing = !have_descr     ? "descr"
                          : !have_fortran ? "fortran_order"
                          : !have_shape   ? "shape"
                                          : NULL;
    if (missing)
        return NPY_FAIL(LCTW_EFORMAT, path,
                        "header has no '%s' key (a .npy header needs 'descr', 'fortran_order' "
                        "and 'shape')",
                        missing);
    return LCTW_OK;
}

/* '<f4' (also '|f4', '=f4', 'f4': native is little-endian here) -> dtype. */
static lctw_status parse_descr(const char *path, const header_dict *d, lctw_npy_info *info) {
    const char *s = d->descr;
    size_t len = d->descr_len;
    if (len == 3 && (s[0] == '<' || s[0] == '|' || s[0] == '=')) {
        s++;
        len--;
    }
    int ok = len == 2 && s[0] == 'f' && (s[1] == '2' || s[1] == '4' || s[1] == '8');
    if (!ok) {
        char e[96];
        escape_bytes(e, sizeof e, d->descr, d->descr_len < 63 ? d->descr_len : 63);
        return NPY_FAIL(LCTW_EFORMAT, path,
                        "unsupported dtype '%s' (lctw reads little-endian float16/32/64); "
                        "convert it with a.astype('<f4')",
                        e);
    }
    info->dtype = s[1] == '2' ? LCTW_NPY_F16 : s[1] == '4' ? LCTW_NPY_F32 : LCTW_NPY_F64;
    info->elem_size = s[1] - '0';
    memcpy(info->descr, d->descr, d->descr_len); /* at most 3 bytes here */
    info->descr[d->descr_len] = 0;
    return LCTW_OK;
}

/* Parses and validates everything before the data; fd stays open for the caller. */
static lctw_status read_header_fd(const char *path, int fd, size_t size, lctw_npy_info *info) {
    memset(info, 0, sizeof *info);
    info->file_size = size;
    unsigned char pre[12];
    char e[64];
    size_t got = 0;
    if (size == 0) return NPY_FAIL(LCTW_EFORMAT, path, "empty file (0 bytes), not a .npy file");
    LCTW_TRY(pread_full(fd, pre, size < sizeof pre ? size : sizeof pre, 0, &got, path));
    size_t m = got < NPY_MAGIC_LEN ? got : NPY_MAGIC_LEN;
    if (memcmp(pre, NPY_MAGIC, m) != 0) {
        escape_bytes(e, sizeof e, pre, got < 8 ? got : 8);
        const char *hint = !memcmp(pre, "PK\x03\x04", got < 4 ? got : 4) && got >= 4
                               ? " — this looks like a zip (.npz) archive: extract its arrays"
                               : "";
        return NPY_FAIL(LCTW_EFORMAT, path,
                        "not a .npy file: bad magic, it starts with \"%s\", expected "
                        "\"\\x93NUMPY\"%s",
                        e, hint);
    }
    if (got < 8)
        return NPY_FAIL(LCTW_EFORMAT, path,
                        "truncated header: the file has only %zu bytes, not even the version", got);
    int major = pre[6], minor = pre[7];
    if (!((major == 1 || major == 2 || major == 3) && minor == 0))
        return NPY_FAIL(LCTW_EFORMAT, path,
                        "unsupported .npy format version %d.%d (lctw reads 1.0, 2.0 and 3.0)",
                        major, minor);
    size_t prefix = major == 1 ? 10 : 12;
    if (got < prefix)
        return NPY_FAIL(LCTW_EFORMAT, path,
                        "truncated header: the file has only %zu bytes, a version %d.0 header "
                        "needs %zu before the header text",
                        got, major, prefix);
    size_t hlen = major == 1 ? (size_t)pre[8] | (size_t)pre[9] << 8
                             : (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
                                   (size_t)pre[11] << 24;
    if (hlen > size - prefix)
        return NPY_FAIL(LCTW_EFORMAT, path,
                        "header length %zu goes beyond the end of the file (%zu bytes: at most "
                        "%zu after the %zu-byte prefix) — truncated file?",
                        hlen, size, size - prefix, prefix);
    if (hlen > NPY_MAX_HEADER)
        return NPY_FAIL(LCTW_EFORMAT, path, "header length %zu is implausibly large (limit %zu)",
                        hlen, NPY_MAX_HEADER);
    info->version_major = major;
    info->version_minor = minor;
    info->data_offset = prefix + hlen;

    char *text = malloc(hlen ? hlen : 1);
    if (!text) return NPY_FAIL(LCTW_ENOMEM, path, "out of memory reading a %zu-byte header", hlen);
    lctw_status s = pread_exact(fd, text, hlen, prefix, path);
    header_dict *d = NULL;
    if (s == LCTW_OK) {
        d = calloc(1, sizeof *d);
        if (!d) s = NPY_FAIL(LCTW_ENOMEM, path, "out of memory parsing the header");
    }
    if (s == LCTW_OK) s = parse_header_text(path, text, hlen, d);
    free(text);
    if (s == LCTW_OK) s = parse_descr(path, d, info);
    if (s != LCTW_OK) {
        free(d);
        return s;
    }

    char sh[256];
    py_shape(sh, sizeof sh, d->ndim, d->shape);
    int64_t numel = 1;
    int ones = 0, zero = 0;
    for (int i = 0; i < d->ndim; i++) {
        if (d->shape[i] < 0) {
            s = NPY_FAIL(LCTW_EFORMAT, path, "negative size %lld in shape %s",
                         (long long)d->shape[i], sh);
            goto done;
        }
        if (d->shape[i] == 0) zero = 1;
        if (d->shape[i] > 1) ones++;
    }
    /* Element count, overflow-checked unless some dimension is 0 (then numel is 0). */
    for (int i = 0; i < d->ndim && !zero; i++) {
        if (numel > (INT64_MAX / 8) / d->shape[i]) {
            s = NPY_FAIL(LCTW_EFORMAT, path, "shape %s is too large: its element count overflows",
                         sh);
            goto done;
        }
        numel *= d->shape[i];
    }
    if (zero) numel = 0;
    if (d->ndim > LCTW_MAX_DIMS) {
        s = NPY_FAIL(LCTW_EFORMAT, path,
                     "shape %s has %d dimensions; lctw tensors have at most %d (reshape it in "
                     "NumPy first)",
                     sh, d->ndim, LCTW_MAX_DIMS);
        goto done;
    }
    /* Fortran order only differs from C order when two or more dimensions exceed 1. */
    if (d->fortran && ones > 1) {
        s = NPY_FAIL(LCTW_EFORMAT, path,
                     "array of shape %s is stored in Fortran order (fortran_order: True); lctw "
                     "reads C order only: save np.ascontiguousarray(a) instead",
                     sh);
        goto done;
    }
    info->fortran_order = d->fortran;
    info->ndim = d->ndim;
    for (int i = 0; i < d->ndim; i++)
        info->shape[i] = d->shape[i];
    info->numel = numel;
    info->data_bytes = (size_t)numel * (size_t)info->elem_size;
    size_t have = size - info->data_offset;
    if (have != info->data_bytes)
        s = NPY_FAIL(
            LCTW_EFORMAT, path, "expected %zu bytes of data for shape %s %s, file has %zu%s",
            info->data_bytes, sh, lctw_npy_dtype_name(info->dtype), have,
            have > info->data_bytes ? " (extra bytes after the array: several arrays in one file?)"
                                    : " (truncated file?)");
done:
    free(d);
    return s;
}

lctw_status lctw_npy_read_header(const char *path, lctw_npy_info *info) {
    int fd;
    size_t size = 0;
    memset(info, 0, sizeof *info);
    LCTW_TRY(open_regular(path, &fd, &size));
    lctw_status s = read_header_fd(path, fd, size, info);
    close(fd);
    return s;
}

/* ---- load ---- */

/* Copy-on-write mapping of the whole file; *out = NULL (and OK) when mapping is not possible. */
static lctw_status load_mmap(lctw_tensor **out, int fd, const lctw_npy_info *info,
                             const char *path) {
    *out = NULL;
    void *base = mmap(NULL, info->file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED) return LCTW_OK; /* e.g. a file system without mmap: read instead */
    lctw_storage *st;
    lctw_status s =
        lctw_storage_from_mmap(&st, base, info->file_size, info->data_offset, info->data_bytes);
    if (s != LCTW_OK) {
        munmap(base, info->file_size);
        lctw_error_prefix("%s", path);
        return s;
    }
    s = lctw_tensor_on_storage(out, st, 0, info->ndim, info->shape);
    lctw_storage_release(st);
    if (s != LCTW_OK) lctw_error_prefix("%s", path);
    return s;
}

static lctw_status read_f32(float *dst, int fd, const lctw_npy_info *info, const char *path) {
    size_t off = 0, n = info->data_bytes;
    while (off < n) {
        size_t k = n - off < NPY_READ_CHUNK ? n - off : NPY_READ_CHUNK;
        LCTW_TRY(pread_exact(fd, (char *)dst + off, k, info->data_offset + off, path));
        off += k;
        if (lctw_interrupted()) return lctw_check_interrupt();
    }
    return LCTW_OK;
}

/* float16/float64 -> float32 through a small buffer, so only the float32 copy is ever whole. */
static lctw_status read_convert(float *dst, int fd, const lctw_npy_info *info, const char *path) {
    size_t es = (size_t)info->elem_size, total = (size_t)info->numel;
    size_t per = NPY_CHUNK / es;
    unsigned char *buf = malloc(per * es);
    if (!buf) return NPY_FAIL(LCTW_ENOMEM, path, "out of memory for a conversion buffer");
    lctw_status s = LCTW_OK;
    for (size_t i = 0; i < total && s == LCTW_OK; i += per) {
        size_t k = total - i < per ? total - i : per;
        s = pread_exact(fd, buf, k * es, info->data_offset + i * es, path);
        if (s != LCTW_OK) break;
        if (info->dtype == LCTW_NPY_F16) {
            for (size_t j = 0; j < k; j++)
                dst[i + j] = lctw_half_to_float((uint16_t)(buf[2 * j] | buf[2 * j + 1] << 8));
        } else {
            for (size_t j = 0; j < k; j++) {
                double v;
                memcpy(&v, buf + 8 * j, sizeof v);
                dst[i + j] = (float)v;
            }
        }
        if (lctw_interrupted()) s = lctw_check_interrupt();
    }
    free(buf);
    return s;
}

lctw_status lctw_npy_load(lctw_tensor **out, const char *path, const lctw_npy_opts *opts) {
    *out = NULL;
    lctw_npy_opts o = opts ? *opts : (lctw_npy_opts){0};
    if (!o.mmap_min_bytes) o.mmap_min_bytes = LCTW_NPY_MMAP_MIN_DEFAULT;
    int fd;
    size_t size = 0;
    lctw_npy_info info;
    LCTW_TRY(open_regular(path, &fd, &size));
    lctw_status s = read_header_fd(path, fd, size, &info);
    if (s != LCTW_OK) goto done;

    int can_map = info.dtype == LCTW_NPY_F32 && info.data_bytes > 0 && info.data_offset % 4 == 0;
    int want_map = o.mmap == LCTW_NPY_MMAP_ALWAYS ||
                   (o.mmap == LCTW_NPY_MMAP_AUTO && info.data_bytes >= o.mmap_min_bytes);
    if (can_map && want_map) {
        s = load_mmap(out, fd, &info, path);
        if (s != LCTW_OK || *out) goto done;
    }

    lctw_tensor *t;
    s = lctw_tensor_empty(&t, info.ndim, info.shape, LCTW_DEV_CPU);
    if (s != LCTW_OK) {
        lctw_error_prefix("%s", path);
        goto done;
    }
    if (info.dtype == LCTW_NPY_F32)
        s = read_f32(lctw_tensor_data(t), fd, &info, path);
    else
        s = read_convert(lctw_tensor_data(t), fd, &info, path);
    if (s != LCTW_OK)
        lctw_tensor_release(t);
    else
        *out = t;
done:
    close(fd);
    return s;
}

/* ---- save ---- */

static lctw_status write_all(int fd, const void *buf, size_t n, const char *path, const char *tmp) {
    size_t k = 0;
    while (k < n) {
        ssize_t r = write(fd, (const char *)buf + k, n - k);
        if (r < 0) {
            if (errno == EINTR) continue;
            return NPY_FAIL(LCTW_EIO, path, "write to %s failed: %s", tmp, strerror(errno));
        }
        k += (size_t)r;
    }
    return LCTW_OK;
}

/* Header bytes (prefix + dict + padding + '\n') into buf; returns the total length. */
static size_t build_header(char *buf, size_t n, int ndim, const int64_t *shape) {
    char dims[160];
    size_t k = 0;
    dims[0] = 0;
    for (int i = 0; i < ndim; i++)
        k +=
            (size_t)snprintf(dims + k, sizeof dims - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (ndim == 1) snprintf(dims + k, sizeof dims - k, ",");
    memcpy(buf, NPY_MAGIC "\x01\x00", 8);
    int len = snprintf(buf + 10, n - 10,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
    size_t total = 10 + (size_t)len + 1; /* + '\n' */
    size_t pad = (64 - total % 64) % 64;
    memset(buf + 10 + len, ' ', pad);
    buf[10 + len + pad] = '\n';
    total += pad;
    size_t hlen = total - 10;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    return total;
}

lctw_status lctw_npy_save(const char *path, const lctw_tensor *t) {
    lctw_tensor *cpu = NULL, *c = NULL;
    /* to/contiguous only retain their argument when they return it; the const is honoured. */
    lctw_status s = lctw_tensor_to(&cpu, (lctw_tensor *)t, LCTW_DEV_CPU);
    if (s == LCTW_OK) s = lctw_tensor_contiguous(&c, cpu);
    lctw_tensor_release(cpu);
    if (s != LCTW_OK) {
        lctw_error_prefix("%s", path);
        return s;
    }

    char hdr[320];
    size_t hlen = build_header(hdr, sizeof hdr, c->ndim, c->shape);
    size_t tlen = strlen(path) + 12;
    char *tmp = malloc(tlen);
    if (!tmp) {
        lctw_tensor_release(c);
        return NPY_FAIL(LCTW_ENOMEM, path, "out of memory");
    }
    snprintf(tmp, tlen, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        s = NPY_FAIL(LCTW_EIO, path, "cannot create the temporary file %s: %s", tmp,
                     strerror(errno));
        free(tmp);
        lctw_tensor_release(c);
        return s;
    }
    /* mkstemp creates 0600; give the file the mode a plain fopen would (0666 & ~umask). */
    mode_t um = umask(0);
    umask(um);
    if (fchmod(fd, 0666 & ~um) != 0) {
        /* not fatal: the data is what matters */
    }
    s = write_all(fd, hdr, hlen, path, tmp);
    if (s == LCTW_OK)
        s = write_all(fd, lctw_tensor_data(c), (size_t)lctw_tensor_numel(c) * sizeof(float), path,
                      tmp);
    if (s == LCTW_OK && fsync(fd) != 0)
        s = NPY_FAIL(LCTW_EIO, path, "fsync of %s failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == LCTW_OK)
        s = NPY_FAIL(LCTW_EIO, path, "close of %s failed: %s", tmp, strerror(errno));
    if (s == LCTW_OK && rename(tmp, path) != 0)
        s = NPY_FAIL(LCTW_EIO, path, "cannot rename %s to it: %s", tmp, strerror(errno));
    if (s != LCTW_OK) {
        unlink(tmp);
    } else {
        /* Make the rename itself durable (best effort: some file systems refuse this). */
        char *slash = strrchr(tmp, '/');
        const char *dir = ".";
        if (slash) {
            *slash = 0;
            dir = slash == tmp ? "/" : tmp;
        }
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (fsync(dfd) != 0) {
                /* best effort */
            }
            close(dfd);
        }
    }
    free(tmp);
    lctw_tensor_release(c);
    return s;
}
