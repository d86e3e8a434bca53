/* ct_step.cu — the CUDA side of a training step (kernels/lctw_cuda_ct.h): consistency-loss
 * statistics and gradient (src/ct/loss.c), OT cost parts (src/ct/ot.c), noisy inputs and
 * sampler noise (src/ct/trainer.c, src/ct/sample.c), the gradient scan, RAdam/Adam/AdamW and
 * EMA over the flat buffers (src/ct/optim.c).
 *
 * Each kernel mirrors the CPU loop it replaces. Where the CPU result is a float rounded from a
 * few float or double operations (optimizer, EMA, x + σ·n), the kernel spells the operations
 * with the _rn intrinsics so nvcc cannot fuse them into FMAs: the same inputs give the same bits
 * as on the CPU. Per-sample reductions are one block per sample (fixed-order trees in double);
 * whole-buffer reductions write one partial per block, summed in order on the host.
 */
#include <math.h>
#include <math_constants.h>

#include "ct/loss.h"
#include "ct/loss_rho.h"
#include "core/rng.h"
#include "lctw_cuda_ct.h"
#include "ops_common.cuh"

#define CT_SCAN_BLOCKS 1024 /* partials of a whole-buffer reduction */

/* ---- device scratch for the small per-sample arrays ---- */

static void *g_scr;
static size_t g_scr_cap;

static lctw_status scratch(size_t nbytes, void **p) {
    *p = NULL;
    if (nbytes > g_scr_cap) {
        if (g_scr) lctw_cuda_free(g_scr);
        g_scr = NULL;
        g_scr_cap = 0;
        size_t want = nbytes < ((size_t)1 << 20) ? ((size_t)1 << 20) : nbytes;
        lctw_status s = lctw_cuda_malloc(&g_scr, want);
        if (s != LCTW_OK) {
            lctw_error_prefix("training-step scratch");
            return s;
        }
        g_scr_cap = want;
    }
    *p = g_scr;
    return LCTW_OK;
}

/* ---- block reductions beside ops_block_sum ---- */

__device__ __forceinline__ double ct_nanmax(double a, double b) {
    if (a != a) return a;
    if (b != b) return b;
    return a > b ? a : b;
}

/* max (NaN wins) or min over the block, every thread gets it; sh: 32 doubles. */
template <int IS_MIN>
__device__ double ct_block_ext(double v, double *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (int)(blockDim.x >> 5);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        double u = __shfl_xor_sync(0xffffffffu, v, o);
        v = IS_MIN ? (u < v ? u : v) : ct_nanmax(v, u);
    }
    if (lane == 0) sh[w] = v;
    __syncthreads();
    if (w == 0) {
        double t = lane < nw ? sh[lane] : sh[0];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            double u = __shfl_xor_sync(0xffffffffu, t, o);
            t = IS_MIN ? (u < t ? u : t) : ct_nanmax(t, u);
        }
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    double r = sh[0];
    __syncthreads();
    return r;
}

/* ---- losses (ρ, ρ': src/ct/loss_rho.h, shared with loss.c) ---- */

/* One block per sample j: out[j·5 + {0..4}] = Σδ², Σρ(δ²), max|δ|, #|δ|>c, Σ(D_s − x)². */
__global__ void k_loss_stats(int kind, double c, int elem, const float *ds, const float *dt,
                             const float *x, int64_t b, int64_t d, double *out) {
    __shared__ double sh[32];
    for (int64_t j = blockIdx.x; j < b; j += gridDim.x) {
        const float *s = ds + j * d, *t = dt + j * d, *xj = x ? x + j * d : NULL;
        double m = 0, r = 0, am = 0, eo = 0, dm = 0;
        for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
            double de = (double)s[e] - (double)t[e], u = de * de, a = fabs(de);
            m += u;
            if (elem) r += lctw_loss_rho_of(kind, u, c);
            am = ct_nanmax(am, a);
            eo += a > c ? 1.0 : 0.0;
            if (xj) {
                double q = (double)s[e] - (double)xj[e];
                dm += q * q;
            }
        }
        m = ops_block_sum(m, sh);
        r = ops_block_sum(r, sh);
        eo = ops_block_sum(eo, sh);
        dm = ops_block_sum(dm, sh);
        am = ct_block_ext<0>(am, sh);
        if (threadIdx.x == 0) {
            double *o = out + j * 5;
            o[0] = m;
            o[1] = r;
            o[2] = am;
            o[3] = eo;
            o[4] = dm;
        }
    }
}

extern "C" lctw_status lctw_cuda_ct_loss_stats(int kind, double c, const float *ds,
                                               const float *dt, const float *x, int64_t b,
                                               int64_t d, double *stats_host) {
    if (b <= 0) return LCTW_OK;
    size_t nb = (size_t)b * 5 * sizeof(double);
    void *p;
    LCTW_TRY(scratch(nb, &p));
    unsigned blocks = (unsigned)(b < OPS_GRID_CAP ? b : OPS_GRID_CAP);
    k_loss_stats<<<blocks, 256>>>(kind, c, lctw_loss_kind_is_elem((lctw_loss_kind)kind), ds, dt, x,
                                  b, d, (double *)p);
    LCTW_CU_LAUNCH("loss statistics kernel");
    LCTW_CU(cudaMemcpy(stats_host, p, nb, cudaMemcpyDeviceToHost), "loss statistics copy");
    return LCTW_OK;
}

__global__ void k_loss_grad(int kind, double c, int elem, const float *ds, const float *dt,
                            const float *x, const double *coef, int64_t b, int64_t d, float *g,
                            int *bad) {
    int mybad = 0;
    OPS_FOR(i, b * d) {
        int64_t j = i / d;
        double k = coef[2 * j], cd = coef[2 * j + 1];
        double de = (double)ds[i] - (double)dt[i], v;
        if (!elem)
            v = k * de;
        else if (kind == LCTW_LOSS_L1)
            v = k * (de > 0 ? 1.0 : de < 0 ? -1.0 : (de == de ? 0.0 : de));
        else
            v = k * 2.0 * lctw_loss_drho_of(kind, de * de, c) * de;
        if (cd != 0) v += cd * ((double)ds[i] - (double)x[i]);
        float f = (float)v;
        g[i] = f;
        mybad |= !isfinite(f);
    }
    if (mybad) atomicOr(bad, 1);
}

extern "C" lctw_status lctw_cuda_ct_loss_grad(int kind, double c, const float *ds,
                                              const float *dt, const float *x,
                                              const double *coef_host, int64_t b, int64_t d,
                                              float *grad, int *bad_host) {
    *bad_host = 0;
    if (b <= 0 || d <= 0) return LCTW_OK;
    size_t nc = (size_t)b * 2 * sizeof(double);
    void *p;
    LCTW_TRY(scratch(nc + 256, &p));
    double *coef = (double *)p;
    int *bad = (int *)((char *)p + nc);
    LCTW_CU(cudaMemcpy(coef, coef_host, nc, cudaMemcpyHostToDevice), "loss coefficient copy");
    LCTW_CU(cudaMemset(bad, 0, sizeof(int)), "loss flag reset");
    k_loss_grad<<<OPS_GRID(b * d)>>>(kind, c, lctw_loss_kind_is_elem((lctw_loss_kind)kind), ds,
                                     dt, x, coef, b, d, grad, bad);
    LCTW_CU_LAUNCH("loss gradient kernel");
    LCTW_CU(cudaMemcpy(bad_host, bad, sizeof(int), cudaMemcpyDeviceToHost), "loss flag copy");
    return LCTW_OK;
}

/* ---- OT cost parts, row gather, noisy inputs, sampler noise ---- */

/* out[r] = Σ_e x[r·d + e]² in double, one block per row */
__global__ void k_row_sumsq(const float *x, int64_t rows, int64_t d, double *out) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        double s = 0;
        for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
            double v = x[r * d + e];
            s += v * v;
        }
        s = ops_block_sum(s, sh);
        if (threadIdx.x == 0) out[r] = s;
    }
}

extern "C" lctw_status lctw_cuda_ct_ot_parts(const float *x, const float *n, int64_t b, int64_t d,
                                             float *dot_host, double *xx_host, double *nn_host) {
    if (b <= 0) return LCTW_OK;
    size_t ndot = ((size_t)b * (size_t)b * sizeof(float) + 255) & ~(size_t)255;
    size_t nrm = (size_t)b * sizeof(double);
    void *p;
    LCTW_TRY(scratch(ndot + 2 * nrm, &p));
    float *dot = (float *)p;
    double *xx = (double *)((char *)p + ndot), *nn = xx + b;
    /* dot (b, b) = X (b, d) · Nᵀ (d, b) */
    LCTW_TRY(lctw_cuda_sgemm(0, 1, b, b, d, 1.0f, x, d, n, d, 0.0f, dot, b));
    unsigned blocks = (unsigned)(b < OPS_GRID_CAP ? b : OPS_GRID_CAP);
    k_row_sumsq<<<blocks, 256>>>(x, b, d, xx);
    LCTW_CU_LAUNCH("OT norm kernel");
    k_row_sumsq<<<blocks, 256>>>(n, b, d, nn);
    LCTW_CU_LAUNCH("OT norm kernel");
    LCTW_CU(cudaMemcpy(dot_host, dot, (size_t)b * (size_t)b * sizeof(float),
                       cudaMemcpyDeviceToHost),
            "OT cost copy");
    LCTW_CU(cudaMemcpy(xx_host, xx, nrm, cudaMemcpyDeviceToHost), "OT norm copy");
    LCTW_CU(cudaMemcpy(nn_host, nn, nrm, cudaMemcpyDeviceToHost), "OT norm copy");
    return LCTW_OK;
}

__global__ void k_gather_rows(float *out, const float *src, const int64_t *perm, int64_t b,
                              int64_t d) {
    OPS_FOR(i, b * d) out[i] = src[perm[i / d] * d + i % d];
}

extern "C" lctw_status lctw_cuda_ct_gather_rows(float *out, const float *src,
                                                const int64_t *perm_host, int64_t b, int64_t d) {
    if (b <= 0 || d <= 0) return LCTW_OK;
    void *p;
    LCTW_TRY(scratch((size_t)b * sizeof(int64_t), &p));
    LCTW_CU(cudaMemcpy(p, perm_host, (size_t)b * sizeof(int64_t), cudaMemcpyHostToDevice),
            "permutation copy");
    k_gather_rows<<<OPS_GRID(b * d)>>>(out, src, (const int64_t *)p, b, d);
    LCTW_CU_LAUNCH("row gather kernel");
    return LCTW_OK;
}

__global__ void k_perturb(const float *x, const float *n, const double *sig, int64_t b, int64_t d,
                          float *xs, float *xt) {
    OPS_FOR(i, b * d) {
        int64_t j = i / d;
        double xi = x[i], ni = n[i];
        xs[i] = (float)__dadd_rn(xi, __dmul_rn(sig[j], ni));
        xt[i] = (float)__dadd_rn(xi, __dmul_rn(sig[b + j], ni));
    }
}

extern "C" lctw_status lctw_cuda_ct_perturb(const float *x, const float *n, const double *sig_host,
                                            int64_t b, int64_t d, float *xs, float *xt) {
    if (b <= 0 || d <= 0) return LCTW_OK;
    void *p;
    LCTW_TRY(scratch((size_t)b * 2 * sizeof(double), &p));
    LCTW_CU(cudaMemcpy(p, sig_host, (size_t)b * 2 * sizeof(double), cudaMemcpyHostToDevice),
            "noise level copy");
    k_perturb<<<OPS_GRID(b * d)>>>(x, n, (const double *)p, b, d, xs, xt);
    LCTW_CU_LAUNCH("noisy input kernel");
    return LCTW_OK;
}

__global__ void k_add_normal(float *y, const float *base, double amp, uint64_t seed,
                             uint32_t stream, uint64_t offset, uint64_t j0, int64_t n) {
    OPS_FOR(i, n) {
        double z = (double)lctw_rng_normal_at(seed, stream, offset, j0 + (uint64_t)i);
        double v = __dmul_rn(amp, z);
        y[i] = (float)(base ? __dadd_rn((double)base[i], v) : v);
    }
}

extern "C" lctw_status lctw_cuda_ct_add_normal(float *y, const float *base, double amp,
                                               uint64_t seed, uint32_t stream, uint64_t offset,
                                               uint64_t j0, int64_t n) {
    if (n <= 0) return LCTW_OK;
    k_add_normal<<<OPS_GRID(n)>>>(y, base, amp, seed, stream, offset, j0, n);
    LCTW_CU_LAUNCH("sampler noise kernel");
    return LCTW_OK;
}

/* ---- gradient scan ---- */

/* per block: out[blk·3 + {0,1,2}] = Σ g², #non-finite, first non-finite index (or +inf) */
__global__ void k_grad_scan(const float *g, int64_t n, double *out) {
    __shared__ double sh[32];
    double s = 0, cnt = 0, first = CUDART_INF;
    OPS_FOR(i, n) {
        float v = g[i];
        if (isfinite(v)) {
            s += (double)v * v;
        } else {
            cnt += 1;
            if ((double)i < first) first = (double)i;
            s += (double)v * v; /* the norm of a non-finite gradient is non-finite, as on the CPU */
        }
    }
    s = ops_block_sum(s, sh);
    cnt = ops_block_sum(cnt, sh);
    first = ct_block_ext<1>(first, sh);
    if (threadIdx.x == 0) {
        out[blockIdx.x * 3 + 0] = s;
        out[blockIdx.x * 3 + 1] = cnt;
        out[blockIdx.x * 3 + 2] = first;
    }
}

extern "C" lctw_status lctw_cuda_ct_grad_scan(const float *g, int64_t n, double *sumsq,
                                              int64_t *count, int64_t *first) {
    *sumsq = 0;
    *count = 0;
    *first = -1;
    if (n <= 0) return LCTW_OK;
    unsigned blocks = lctw_cu_blocks(n, CT_SCAN_BLOCKS);
    double part[CT_SCAN_BLOCKS * 3];
    void *p;
    LCTW_TRY(scratch(sizeof part, &p));
    k_grad_scan<<<blocks, LCTW_CU_THREADS>>>(g, n, (double *)p);
    LCTW_CU_LAUNCH("gradient scan kernel");
    LCTW_CU(cudaMemcpy(part, p, (size_t)blocks * 3 * sizeof(double), cudaMemcpyDeviceToHost),
            "gradient scan copy");
    double s = 0, c = 0, f = INFINITY;
    for (unsigned k = 0; k < blocks; k++) {
        s += part[k * 3];
        c += part[k * 3 + 1];
        if (part[k * 3 + 2] < f) f = part[k * 3 + 2];
    }
    *sumsq = s;
    *count = (int64_t)c;
    *first = c > 0 ? (int64_t)f : -1;
    return LCTW_OK;
}

/* ---- optimizer and EMA (optim.c update_range / lctw_ema_update) ---- */

__global__ void k_adam(lctw_cu_adam k, int64_t n, float *th, const float *g, float *m, float *v) {
    OPS_FOR(i, n) {
        if (!k.adaptive) { /* RAdam, ρ_t ≤ 5 */
            float t = th[i];
            float gi = __fadd_rn(g[i], __fmul_rn(k.wd, t));
            float mi = __fadd_rn(__fmul_rn(k.b1, m[i]), __fmul_rn(k.omb1, gi));
            m[i] = mi;
            v[i] = __fadd_rn(__fmul_rn(k.b2, v[i]), __fmul_rn(__fmul_rn(k.omb2, gi), gi));
            th[i] = __fsub_rn(t, __fmul_rn(k.a, mi));
        } else {
            float t = __fmul_rn(th[i], k.decay);
            float gi = __fadd_rn(g[i], __fmul_rn(k.wd, t));
            float mi = __fadd_rn(__fmul_rn(k.b1, m[i]), __fmul_rn(k.omb1, gi));
            float vi = __fadd_rn(__fmul_rn(k.b2, v[i]), __fmul_rn(__fmul_rn(k.omb2, gi), gi));
            m[i] = mi;
            v[i] = vi;
            float den = __fadd_rn(__fmul_rn(__fsqrt_rn(vi), k.s), k.e);
            th[i] = __fsub_rn(t, __fdiv_rn(__fmul_rn(k.a, mi), den));
        }
    }
}

extern "C" lctw_status lctw_cuda_ct_adam(const lctw_cu_adam *k, int64_t n, float *th,
                                         const float *g, float *m, float *v) {
    if (n <= 0) return LCTW_OK;
    k_adam<<<OPS_GRID(n)>>>(*k, n, th, g, m, v);
    LCTW_CU_LAUNCH("optimizer kernel");
    return LCTW_OK;
}

__global__ void k_ema(float *avg, const float *th, float w, int64_t n) {
    OPS_FOR(i, n) avg[i] = __fadd_rn(avg[i], __fmul_rn(w, __fsub_rn(th[i], avg[i])));
}

extern "C" lctw_status lctw_cuda_ct_ema(float *avg, const float *th, float w, int64_t n) {
    if (n <= 0) return LCTW_OK;
    k_ema<<<OPS_GRID(n)>>>(avg, th, w, n);
    LCTW_CU_LAUNCH("EMA kernel");
    return LCTW_OK;
}

/* ---- batch statistics, queued without a synchronisation ----
 * trainer.c's latent_stats (lctw_moments_all, lctw_tail_fraction at 3σ and 5σ, a histogram over
 * [min, max]) as six launches that read each other's scalars from device memory, then an async
 * copy into pinned host memory and an event. Dedicated buffers (not the scratch above), so the
 * calls after it in the same step cannot overwrite them. */

struct ct_stats_dev {
    double mean, m2, m3, m4, min, max, nan, tail3, tail5;
};

static double *g_st_part;          /* CT_SCAN_BLOCKS × 4 partials */
static ct_stats_dev *g_st_dev;     /* the scalars between passes */
static unsigned long long *g_st_hist; /* LCTW_CU_STATS_BINS counters */
static lctw_cu_batch_stats *g_st_res;  /* the result on the device */
static lctw_cu_batch_stats *g_st_host; /* pinned copy of it */
static cudaEvent_t g_st_event;
static int g_st_pending;

static lctw_status stats_buffers(void) {
    if (g_st_host) return LCTW_OK;
    void *p;
    LCTW_TRY(lctw_cuda_malloc(&p, CT_SCAN_BLOCKS * 4 * sizeof(double)));
    g_st_part = (double *)p;
    LCTW_TRY(lctw_cuda_malloc(&p, sizeof(ct_stats_dev)));
    g_st_dev = (ct_stats_dev *)p;
    LCTW_TRY(lctw_cuda_malloc(&p, LCTW_CU_STATS_BINS * sizeof(unsigned long long)));
    g_st_hist = (unsigned long long *)p;
    LCTW_TRY(lctw_cuda_malloc(&p, sizeof(lctw_cu_batch_stats)));
    g_st_res = (lctw_cu_batch_stats *)p;
    LCTW_CU(cudaEventCreateWithFlags(&g_st_event, cudaEventDisableTiming), "cudaEventCreate");
    LCTW_CU(cudaMallocHost(&p, sizeof(lctw_cu_batch_stats)), "cudaMallocHost (statistics)");
    g_st_host = (lctw_cu_batch_stats *)p;
    return LCTW_OK;
}

/* pass 1: per block Σx, min, max, NaN seen */
__global__ void k_st_sum(const float *x, int64_t n, double *part) {
    __shared__ double sh[32];
    double s = 0, lo = CUDART_INF, hi = -CUDART_INF, nan = 0;
    OPS_FOR(i, n) {
        double v = x[i];
        s += v;
        if (v != v) nan = 1;
        else {
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    s = ops_block_sum(s, sh);
    nan = ops_block_sum(nan, sh);
    lo = ct_block_ext<1>(lo, sh);
    hi = -ct_block_ext<1>(-hi, sh);
    if (threadIdx.x == 0) {
        double *o = part + blockIdx.x * 4;
        o[0] = s;
        o[1] = lo;
        o[2] = hi;
        o[3] = nan;
    }
}

/* one block: Σ of the per-block partials k (stride 4), in a fixed order */
__device__ double ct_sum_parts(const double *part, unsigned blocks, int k, double *sh) {
    double s = 0;
    for (unsigned b = threadIdx.x; b < blocks; b += blockDim.x) s += part[b * 4 + k];
    return ops_block_sum(s, sh);
}

__global__ void k_st_mean(const double *part, unsigned blocks, int64_t n, ct_stats_dev *st,
                          unsigned long long *hist) {
    __shared__ double sh[32];
    double s = ct_sum_parts(part, blocks, 0, sh), nan = ct_sum_parts(part, blocks, 3, sh);
    double lo = CUDART_INF, hi = -CUDART_INF;
    for (unsigned b = threadIdx.x; b < blocks; b += blockDim.x) {
        lo = fmin(lo, part[b * 4 + 1]);
        hi = fmax(hi, part[b * 4 + 2]);
    }
    lo = ct_block_ext<1>(lo, sh);
    hi = -ct_block_ext<1>(-hi, sh);
    if (threadIdx.x < LCTW_CU_STATS_BINS) hist[threadIdx.x] = 0;
    if (threadIdx.x == 0) {
        st->mean = s / (double)n;
        st->nan = nan;
        st->min = nan > 0 ? CUDART_NAN : lo;
        st->max = nan > 0 ? CUDART_NAN : hi;
    }
}

/* pass 2: per block Σd², Σd³, Σd⁴ with d = x − mean */
__global__ void k_st_powers(const float *x, int64_t n, const ct_stats_dev *st, double *part) {
    __shared__ double sh[32];
    const double mean = st->mean;
    double s2 = 0, s3 = 0, s4 = 0;
    OPS_FOR(i, n) {
        double d = (double)x[i] - mean, d2 = d * d;
        s2 += d2;
        s3 += d2 * d;
        s4 += d2 * d2;
    }
    s2 = ops_block_sum(s2, sh);
    s3 = ops_block_sum(s3, sh);
    s4 = ops_block_sum(s4, sh);
    if (threadIdx.x == 0) {
        double *o = part + blockIdx.x * 4;
        o[0] = s2;
        o[1] = s3;
        o[2] = s4;
        o[3] = 0;
    }
}

__global__ void k_st_moments(const double *part, unsigned blocks, int64_t n, ct_stats_dev *st) {
    __shared__ double sh[32];
    double s2 = ct_sum_parts(part, blocks, 0, sh), s3 = ct_sum_parts(part, blocks, 1, sh),
           s4 = ct_sum_parts(part, blocks, 2, sh);
    if (threadIdx.x == 0) {
        st->m2 = s2 / (double)n;
        st->m3 = s3 / (double)n;
        st->m4 = s4 / (double)n;
    }
}

/* pass 3: per block #|x − mean| > 3σ and > 5σ; the histogram over [min, max] by shared-memory
 * counters added into hist (integer atomics: the counts do not depend on the order) */
__global__ void k_st_tails(const float *x, int64_t n, const ct_stats_dev *st, double *part,
                           unsigned long long *hist) {
    __shared__ double sh[32];
    __shared__ unsigned int bins[LCTW_CU_STATS_BINS];
    const double mean = st->mean, sd = sqrt(st->m2), lo = st->min, hi = st->max;
    const int do_hist = isfinite(mean) && isfinite(sd) && hi > lo;
    for (int b = threadIdx.x; b < LCTW_CU_STATS_BINS; b += blockDim.x) bins[b] = 0;
    __syncthreads();
    double c3 = 0, c5 = 0;
    const double range = hi - lo;
    OPS_FOR(i, n) {
        double v = x[i], a = fabs(v - mean);
        c3 += a > 3.0 * sd ? 1.0 : 0.0;
        c5 += a > 5.0 * sd ? 1.0 : 0.0;
        if (do_hist && v == v && v >= lo && v <= hi) {
            int64_t b = (int64_t)((v - lo) / range * LCTW_CU_STATS_BINS);
            atomicAdd(&bins[b < LCTW_CU_STATS_BINS ? b : LCTW_CU_STATS_BINS - 1], 1u);
        }
    }
    c3 = ops_block_sum(c3, sh);
    c5 = ops_block_sum(c5, sh);
    __syncthreads();
    if (do_hist)
        for (int b = threadIdx.x; b < LCTW_CU_STATS_BINS; b += blockDim.x)
            if (bins[b]) atomicAdd(&hist[b], (unsigned long long)bins[b]);
    if (threadIdx.x == 0) {
        double *o = part + blockIdx.x * 4;
        o[0] = c3;
        o[1] = c5;
    }
}

/* the result as the host wants it (trainer.c latent_stats' conventions) */
__global__ void k_st_final(const double *part, unsigned blocks, int64_t n, const ct_stats_dev *st,
                           const unsigned long long *hist, lctw_cu_batch_stats *out) {
    __shared__ double sh[32];
    double c3 = ct_sum_parts(part, blocks, 0, sh), c5 = ct_sum_parts(part, blocks, 1, sh);
    if (threadIdx.x < LCTW_CU_STATS_BINS) out->hist[threadIdx.x] = (int64_t)hist[threadIdx.x];
    if (threadIdx.x == 0) {
        double m2 = st->m2, sd = sqrt(m2);
        out->n = n;
        out->mean = st->mean;
        out->std = sd;
        out->kurtosis = m2 > 0 ? st->m4 / (m2 * m2) - 3.0 : CUDART_NAN;
        out->min = st->min;
        out->max = st->max;
        int fin = isfinite(st->mean) && isfinite(sd);
        out->tail3 = fin ? c3 / (double)n : CUDART_NAN;
        out->tail5 = fin ? c5 / (double)n : CUDART_NAN;
    }
}

extern "C" lctw_status lctw_cuda_ct_stats_launch(const float *x, int64_t n) {
    if (n <= 0) return LCTW_FAIL(LCTW_EINVAL, "statistics of an empty batch");
    LCTW_TRY(stats_buffers());
    unsigned blocks = lctw_cu_blocks(n, CT_SCAN_BLOCKS);
    k_st_sum<<<blocks, LCTW_CU_THREADS>>>(x, n, g_st_part);
    LCTW_CU_LAUNCH("statistics kernel (sum)");
    k_st_mean<<<1, LCTW_CU_THREADS>>>(g_st_part, blocks, n, g_st_dev, g_st_hist);
    LCTW_CU_LAUNCH("statistics kernel (mean)");
    k_st_powers<<<blocks, LCTW_CU_THREADS>>>(x, n, g_st_dev, g_st_part);
    LCTW_CU_LAUNCH("statistics kernel (moments)");
    k_st_moments<<<1, LCTW_CU_THREADS>>>(g_st_part, blocks, n, g_st_dev);
    LCTW_CU_LAUNCH("statistics kernel (moments)");
    k_st_tails<<<blocks, LCTW_CU_THREADS>>>(x, n, g_st_dev, g_st_part, g_st_hist);
    LCTW_CU_LAUNCH("statistics kernel (tails, histogram)");
    k_st_final<<<1, LCTW_CU_THREADS>>>(g_st_part, blocks, n, g_st_dev, g_st_hist, g_st_res);
    LCTW_CU_LAUNCH("statistics kernel (result)");
    LCTW_CU(cudaMemcpyAsync(g_st_host, g_st_res, sizeof *g_st_host, cudaMemcpyDeviceToHost, 0),
            "statistics copy");
    LCTW_CU(cudaEventRecord(g_st_event, 0), "cudaEventRecord");
    g_st_pending = 1;
    return LCTW_OK;
}

extern "C" lctw_status lctw_cuda_ct_stats_read(lctw_cu_batch_stats *out) {
    if (!g_st_pending) return LCTW_FAIL(LCTW_EINVAL, "batch statistics: none queued");
    LCTW_CU(cudaEventSynchronize(g_st_event), "cudaEventSynchronize (statistics)");
    *out = *g_st_host;
    g_st_pending = 0;
    return LCTW_OK;
}
