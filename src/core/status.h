/* status.h — errors are values.
 *
 * Every fallible core function returns an lctw_status and, on failure, records one message
 * (thread-local) with LCTW_FAIL. The Lua boundary (src/lua) turns a non-OK status into a Lua
 * error carrying that message. Nothing user-triggerable aborts the process; assert() is only for
 * internal invariants.
 */
#ifndef LCTW_STATUS_H
#define LCTW_STATUS_H

#include <stddef.h>

typedef enum {
    LCTW_OK = 0,
    LCTW_EINVAL,  /* bad argument value or type */
    LCTW_ESHAPE,  /* shapes do not match / not supported */
    LCTW_EINDEX,  /* index out of range */
    LCTW_ENOMEM,  /* host or device memory exhausted (or over the configured limit) */
    LCTW_EIO,     /* file could not be opened, read or written */
    LCTW_EFORMAT, /* malformed file contents */
    LCTW_EDEVICE, /* device not available / wrong device */
    LCTW_EINTR,   /* interrupted by the user (SIGINT) */
    LCTW_ECUDA,   /* CUDA runtime or cuBLAS error */
} lctw_status;

#ifdef __cplusplus
extern "C" {
#endif

/* Records "text" as the last error (printf format) and returns code. file/line are kept for
 * debugging (lctw_error_where) but are not part of the user-facing message. */
lctw_status lctw_error_set(lctw_status code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefixes the recorded message with "prefix: " (e.g. a file name added by an outer layer). */
void lctw_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *lctw_error_message(void);
const char *lctw_error_where(void); /* "file.c:123" of the LCTW_FAIL that recorded the message */
lctw_status lctw_error_code(void);
const char *lctw_status_name(lctw_status s);
void lctw_error_clear(void);

#ifdef __cplusplus
}
#endif

#define LCTW_FAIL(code, ...) lctw_error_set((code), __FILE__, __LINE__, __VA_ARGS__)
/* Propagate a failure: `LCTW_TRY(f(x));` returns the status of f if it is not OK. */
#define LCTW_TRY(expr)                                                                             \
    do {                                                                                           \
        lctw_status s_ = (expr);                                                                   \
        if (s_ != LCTW_OK) return s_;                                                              \
    } while (0)

#endif
