/* status.c — the one recorded error message (thread-local), see status.h. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[1024];
static _Thread_local char err_where[128];
static _Thread_local lctw_status err_code;

lctw_status lctw_error_set(lctw_status code, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    snprintf(err_where, sizeof err_where, "%s:%d", base ? base + 1 : file, line);
    err_code = code;
    return code;
}

void lctw_error_prefix(const char *fmt, ...) {
    char pre[512], old[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof old);
    size_t k = strlen(pre);
    if (k > sizeof err_msg - 3) k = sizeof err_msg - 3;
    memcpy(err_msg, pre, k);
    memcpy(err_msg + k, ": ", 2);
    size_t rest = sizeof err_msg - k - 3;
    size_t ol = strnlen(old, rest);
    memcpy(err_msg + k + 2, old, ol);
    err_msg[k + 2 + ol] = 0;
}

const char *lctw_error_message(void) { return err_msg[0] ? err_msg : "unknown error"; }
const char *lctw_error_where(void) { return err_where; }
lctw_status lctw_error_code(void) { return err_code; }

void lctw_error_clear(void) {
    err_msg[0] = 0;
    err_where[0] = 0;
    err_code = LCTW_OK;
}

const char *lctw_status_name(lctw_status s) {
    switch (s) {
    case LCTW_OK: return "ok";
    case LCTW_EINVAL: return "invalid argument";
    case LCTW_ESHAPE: return "shape mismatch";
    case LCTW_EINDEX: return "index out of range";
    case LCTW_ENOMEM: return "out of memory";
    case LCTW_EIO: return "i/o error";
    case LCTW_EFORMAT: return "malformed file";
    case LCTW_EDEVICE: return "device error";
    case LCTW_EINTR: return "interrupted";
    case LCTW_ECUDA: return "cuda error";
    }
    return "unknown status";
}
