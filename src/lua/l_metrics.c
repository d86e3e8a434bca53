/* l_metrics.c — lctw.metrics: Fréchet distance, sliced Wasserstein-2, tail statistics and a
 * side-by-side report of generated latents against a reference set (core in src/ct/metrics.c;
 * definitions in metrics.h).
 *
 * Wherever a set of latents is expected, an lctw.Data is accepted too and stands for
 * d:reference() (its held-out raw latents if it has any, else all its raw latents).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ct/metrics.h"
#include "lctw_lua.h"

/* The tensor at idx; an lctw.Data is replaced (in place on the stack) by d:reference(). */
static lctw_tensor *check_set(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (luaL_testudata(L, idx, LCTW_DATA_MT)) {
        lua_getfield(L, idx, "reference");
        lua_pushvalue(L, idx);
        lua_call(L, 1, 1);
        lua_replace(L, idx);
    }
    return l_checktensor(L, idx);
}

static int l_fd(lua_State *L) {
    lctw_tensor *a = check_set(L, 1), *b = check_set(L, 2);
    static const char *const known[] = {"pool", NULL};
    l_checkoptions(L, 3, "lctw.metrics.fd", known);
    lua_Integer pool = l_optfield_int(L, 3, "pool", 0);
    if (pool < 0 || pool > 65536) return luaL_error(L, "fd: pool must be >= 1, got %I", pool);
    lctw_fd_result r;
    L_TRY(L, lctw_metrics_fd(a, b, (int)pool, &r));
    lua_pushnumber(L, r.fd);
    lua_createtable(L, 0, 6);
    lua_pushnumber(L, r.mean_term);
    lua_setfield(L, -2, "mean_term");
    lua_pushnumber(L, r.cov_term);
    lua_setfield(L, -2, "cov_term");
    lua_pushinteger(L, r.dims);
    lua_setfield(L, -2, "dims");
    lua_pushinteger(L, r.pool);
    lua_setfield(L, -2, "pool");
    lua_pushinteger(L, (lua_Integer)r.na);
    lua_setfield(L, -2, "n_a");
    lua_pushinteger(L, (lua_Integer)r.nb);
    lua_setfield(L, -2, "n_b");
    return 2;
}

static void read_swd_opts(lua_State *L, int idx, int *proj, uint64_t *seed) {
    lua_Integer p = l_optfield_int(L, idx, "projections", 128);
    if (p < 1 || p > 1 << 20) luaL_error(L, "swd: projections must be in 1..1048576, got %I", p);
    lua_Integer s = l_optfield_int(L, idx, "seed", 0);
    if (s < 0) luaL_error(L, "swd: seed must be >= 0, got %I", s);
    *proj = (int)p;
    *seed = (uint64_t)s;
}

static int l_swd(lua_State *L) {
    lctw_tensor *a = check_set(L, 1), *b = check_set(L, 2);
    static const char *const known[] = {"projections", "seed", NULL};
    l_checkoptions(L, 3, "lctw.metrics.swd", known);
    int proj;
    uint64_t seed;
    read_swd_opts(L, 3, &proj, &seed);
    double v;
    L_TRY(L, lctw_metrics_swd(a, b, proj, seed, &v));
    lua_pushnumber(L, v);
    return 1;
}

static void push_tail_stats(lua_State *L, const lctw_tail_stats *t) {
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)t->n);
    lua_setfield(L, -2, "n");
    lua_pushnumber(L, t->mean);
    lua_setfield(L, -2, "mean");
    lua_pushnumber(L, t->std);
    lua_setfield(L, -2, "std");
    lua_pushnumber(L, t->kurtosis);
    lua_setfield(L, -2, "kurtosis");
    lua_pushnumber(L, t->max_abs_std);
    lua_setfield(L, -2, "max_abs_std");
    lua_createtable(L, 0, LCTW_TAIL_NK);
    for (int k = 0; k < LCTW_TAIL_NK; k++) {
        lua_pushnumber(L, t->tail[k]);
        lua_rawseti(L, -2, LCTW_TAIL_K0 + k);
    }
    lua_setfield(L, -2, "tail");
}

static void push_gaussian(lua_State *L) {
    lua_createtable(L, 0, LCTW_TAIL_NK);
    for (int k = 0; k < LCTW_TAIL_NK; k++) {
        lua_pushnumber(L, lctw_gaussian_tail(LCTW_TAIL_K0 + k));
        lua_rawseti(L, -2, LCTW_TAIL_K0 + k);
    }
}

static int l_tails(lua_State *L) {
    lctw_tensor *a = check_set(L, 1);
    lctw_tensor *ref = lua_isnoneornil(L, 2) ? NULL : check_set(L, 2);
    lctw_tail_stats ta, tr;
    L_TRY(L, lctw_metrics_tails(a, ref, &ta, ref ? &tr : NULL));
    lua_createtable(L, 0, 3);
    push_tail_stats(L, &ta);
    lua_setfield(L, -2, "samples");
    if (ref) {
        push_tail_stats(L, &tr);
        lua_setfield(L, -2, "ref");
    }
    push_gaussian(L);
    lua_setfield(L, -2, "gaussian");
    return 1;
}

/* v formatted into buf; "-" for NaN, "0" for zero. */
static const char *num(char *buf, size_t n, const char *fmt, double v) {
    if (isnan(v))
        snprintf(buf, n, "-");
    else if (v == 0)
        snprintf(buf, n, "0");
    else
        snprintf(buf, n, fmt, v);
    return buf;
}

/* Display width of UTF-8 text (code points; the table uses no wide characters). */
static int text_width(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* One table line: cells padded to widths (0 = last cell, no padding), trailing blanks dropped. */
static void add_row(luaL_Buffer *B, const char *const *cells, const int *widths) {
    char line[256];
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        int w = text_width(cells[i]);
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s", i ? " " : "", cells[i]);
        for (; widths[i] && w < widths[i] && len + 1 < sizeof line; w++)
            line[len++] = ' ';
        line[len] = 0;
    }
    while (len && line[len - 1] == ' ')
        line[--len] = 0;
    luaL_addstring(B, line);
    luaL_addchar(B, '\n');
}

static int l_report(lua_State *L) {
    lctw_tensor *a = check_set(L, 1), *ref = check_set(L, 2);
    static const char *const known[] = {"projections", "seed", "pool", "print", "fd", "swd", NULL};
    l_checkoptions(L, 3, "lctw.metrics.report", known);
    int proj;
    uint64_t seed;
    read_swd_opts(L, 3, &proj, &seed);
    lua_Integer pool = l_optfield_int(L, 3, "pool", 0);
    if (pool < 0 || pool > 65536) return luaL_error(L, "report: pool must be >= 1, got %I", pool);
    int do_print = l_optfield_bool(L, 3, "print", 1);
    int do_fd = l_optfield_bool(L, 3, "fd", 1), do_swd = l_optfield_bool(L, 3, "swd", 1);

    lctw_fd_result fd = {.fd = NAN};
    double swd = NAN;
    lctw_tail_stats ta, tr;
    if (do_fd) L_TRY(L, lctw_metrics_fd(a, ref, (int)pool, &fd));
    if (do_swd) L_TRY(L, lctw_metrics_swd(a, ref, proj, seed, &swd));
    L_TRY(L, lctw_metrics_tails(a, ref, &ta, &tr));

    lua_createtable(L, 0, 5);
    if (do_fd) {
        lua_pushnumber(L, fd.fd);
        lua_setfield(L, -2, "fd");
        lua_pushinteger(L, fd.dims);
        lua_setfield(L, -2, "fd_dims");
    }
    if (do_swd) {
        lua_pushnumber(L, swd);
        lua_setfield(L, -2, "swd");
    }
    push_tail_stats(L, &ta);
    lua_setfield(L, -2, "samples");
    push_tail_stats(L, &tr);
    lua_setfield(L, -2, "ref");
    if (!do_print) return 1;

    char sa[64], sr[64], b1[48], b2[48], b3[48], label[64];
    luaL_Buffer B;
    luaL_buffinit(L, &B);
    const int widths[4] = {24, 18, 18, 0};
#define ROW(c0, c1, c2, c3)                                                                        \
    do {                                                                                           \
        const char *cells_[4] = {(c0), (c1), (c2), (c3)};                                          \
        add_row(&B, cells_, widths);                                                               \
    } while (0)
    ROW("", "samples", "reference", "Gaussian");
    ROW("shape", lctw_tensor_shape_str(sa, sizeof sa, a), lctw_tensor_shape_str(sr, sizeof sr, ref),
        "");
    if (do_fd) {
        snprintf(label, sizeof label, "FD (pool %d, %d dims)", fd.pool, fd.dims);
        ROW(label, num(b1, sizeof b1, "%.5g", fd.fd), "", "");
    }
    if (do_swd) {
        snprintf(label, sizeof label, "SWD (%d projections)", proj);
        ROW(label, num(b1, sizeof b1, "%.5g", swd), "", "");
    }
    snprintf(b1, sizeof b1, "%.4g / %.4g", ta.mean, ta.std);
    snprintf(b2, sizeof b2, "%.4g / %.4g", tr.mean, tr.std);
    ROW("mean / std", b1, b2, "");
    ROW("kurtosis (excess)", num(b1, sizeof b1, "%.3f", ta.kurtosis),
        num(b2, sizeof b2, "%.3f", tr.kurtosis), "0");
    for (int k = 0; k < LCTW_TAIL_NK; k++) {
        snprintf(label, sizeof label, "P(|z−μ| > %dσ)", LCTW_TAIL_K0 + k);
        ROW(label, num(b1, sizeof b1, "%.2e", ta.tail[k]), num(b2, sizeof b2, "%.2e", tr.tail[k]),
            num(b3, sizeof b3, "%.2e", lctw_gaussian_tail(LCTW_TAIL_K0 + k)));
    }
    ROW("max |z−μ|/σ", num(b1, sizeof b1, "%.2f", ta.max_abs_std),
        num(b2, sizeof b2, "%.2f", tr.max_abs_std), "");
    luaL_addstring(&B, "(μ, σ: the reference's per-channel mean and std)");
#undef ROW
    luaL_pushresult(&B);
    lua_getglobal(L, "print");
    lua_insert(L, -2);
    lua_call(L, 1, 0);
    return 1;
}

static const l_reg metrics_funcs[] = {
    {"fd", l_fd,
     "lctw.metrics.fd(a, b [, {pool=}]) -> fd, {mean_term=, cov_term=, dims=, pool=, n_a=, "
     "n_b=}\n\n"
     "Fréchet distance between two sets of latents (n×C×H×W, or n×D features used as they are; "
     "an lctw.Data stands for d:reference()). Features: p×p average pooling, p the smallest "
     "divisor of H and W giving at most 256 features (4×32×32 -> 4×8×8 = 256), or pool=p. "
     "FD = |mu_a − mu_b|² + Tr(Σa + Σb − 2(Σa Σb)^½) in double (unbiased covariances; the matrix "
     "square root via Jacobi eigen-decompositions of Σa and √Σa Σb √Σa). Like FID it is biased "
     "upward for few samples: compare values with equal sample counts (≥ 2×dims recommended)."},
    {"swd", l_swd,
     "lctw.metrics.swd(a, b [, {projections=128, seed=0}]) -> swd\n\nSliced Wasserstein-2 "
     "distance in the flattened space: √(mean over random unit directions θ of W2²(θ·a, θ·b)), "
     "each 1-D W2² exact between the empirical distributions (any sample counts). Units of the "
     "data; a shift of every element by t gives ≈ |t|. Directions from Philox (seed)."},
    {"tails", l_tails,
     "lctw.metrics.tails(a [, ref]) -> {samples={kurtosis=, tail={[3]=,...,[6]=}, "
     "max_abs_std=, mean=, std=, n=}, ref={...}, gaussian={[3]=,...}}\n\n"
     "Tail statistics on the reference's per-channel scale: tail[k] = P(|z − mu_c| > k·σ_c) "
     "(pooled over channels), max |z − mu_c|/σ_c, with mu_c, σ_c the reference's channel mean "
     "and std (a's own without ref); kurtosis = each set's own channel-standardised excess "
     "kurtosis (mean over channels). gaussian[k] = P(|Z| > k)."},
    {"report", l_report,
     "lctw.metrics.report(samples, ref [, {projections=128, seed=0, pool=, fd=true, swd=true, "
     "print=true}]) -> table\n\nPrints FD, SWD and the tail statistics of samples and ref side "
     "by side (ref may be an lctw.Data: its held-out latents, else all) and returns them: "
     "{fd=, fd_dims=, swd=, samples={...}, ref={...}} as in lctw.metrics.tails."},
    {NULL, NULL, NULL},
};

void l_metrics_open(lua_State *L) {
    l_register(L, -1, metrics_funcs);
    l_sethelp(L, -1,
              "lctw.metrics — quality of generated latents against a reference set: fd, swd, "
              "tails, report.");
}
