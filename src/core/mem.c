/* mem.c — host/device allocation with accounting and a host memory limit.
 *
 * Linux overcommits: a huge malloc can succeed and the process is killed later when the pages
 * are touched. So host allocations are checked against a limit first (physical memory minus
 * 1 GiB by default, LCTW_MEMORY_LIMIT to override) and fail with a message that names the
 * request, what is in use and the limit. Device allocations go through the CUDA backend, whose
 * out-of-memory error names the request and the free device memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../kernels/lctw_cuda.h"
#include "tensor.h"

static size_t in_use[2], peak[2], limit_bytes;

char *lctw_fmt_bytes(char *buf, size_t n, double b) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int i = 0;
    while (b >= 1024.0 && i < 5) {
        b /= 1024.0;
        i++;
    }
    if (i == 0)
        snprintf(buf, n, "%.0f B", b);
    else
        snprintf(buf, n, "%.2f %s", b, u[i]);
    return buf;
}

static size_t parse_size(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v <= 0) return 0;
    switch (*end) {
    case 'k': case 'K': v *= 1024.0; break;
    case 'm': case 'M': v *= 1024.0 * 1024; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
    case 't': case 'T': v *= 1024.0 * 1024 * 1024 * 1024; break;
    default: break;
    }
    return (size_t)v;
}

size_t lctw_mem_limit(void) {
    if (limit_bytes) return limit_bytes;
    const char *env = getenv("LCTW_MEMORY_LIMIT");
    size_t lim = env ? parse_size(env) : 0;
    if (!lim) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        size_t phys = (pages > 0 && psz > 0) ? (size_t)pages * (size_t)psz : ((size_t)8 << 30);
        size_t gib = (size_t)1 << 30;
        lim = phys > 2 * gib ? phys - gib : phys / 2;
        if (lim < ((size_t)256 << 20)) lim = (size_t)256 << 20;
    }
    limit_bytes = lim;
    return lim;
}

void lctw_mem_set_limit(size_t nbytes) { limit_bytes = nbytes; }
size_t lctw_mem_in_use(lctw_device dev) { return in_use[dev]; }
size_t lctw_mem_peak(lctw_device dev) { return peak[dev]; }

static void account(lctw_device dev, size_t n, int add) {
    if (add) {
        in_use[dev] += n;
        if (in_use[dev] > peak[dev]) peak[dev] = in_use[dev];
    } else {
        in_use[dev] = in_use[dev] >= n ? in_use[dev] - n : 0;
    }
}

lctw_status lctw_mem_alloc(void **out, size_t nbytes, lctw_device dev, int zero) {
    *out = NULL;
    size_t n = nbytes ? nbytes : 1;
    if (dev == LCTW_DEV_CUDA) {
        LCTW_TRY(lctw_cuda_malloc(out, n));
        if (zero) {
            lctw_status s = lctw_cuda_memset0(*out, n);
            if (s != LCTW_OK) {
                lctw_cuda_free(*out);
                *out = NULL;
                return s;
            }
        }
        account(dev, n, 1);
        return LCTW_OK;
    }
    char a[32], b[32], c[32];
    size_t lim = lctw_mem_limit();
    if (n > lim || in_use[dev] > lim - n)
        return LCTW_FAIL(LCTW_ENOMEM,
                         "out of memory: requested %s with %s in use, limit %s "
                         "(set LCTW_MEMORY_LIMIT to change it)",
                         lctw_fmt_bytes(a, sizeof a, (double)n),
                         lctw_fmt_bytes(b, sizeof b, (double)in_use[dev]),
                         lctw_fmt_bytes(c, sizeof c, (double)lim));
    size_t rounded = (n + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (!p)
        return LCTW_FAIL(LCTW_ENOMEM, "out of memory: the system refused %s",
                         lctw_fmt_bytes(a, sizeof a, (double)n));
    if (zero) memset(p, 0, rounded);
    account(dev, n, 1);
    *out = p;
    return LCTW_OK;
}

void lctw_mem_free(void *p, size_t nbytes, lctw_device dev) {
    if (!p) return;
    account(dev, nbytes ? nbytes : 1, 0);
    if (dev == LCTW_DEV_CUDA)
        lctw_cuda_free(p);
    else
        free(p);
}
