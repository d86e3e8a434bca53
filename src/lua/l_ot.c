/* l_ot.c — the OT coupling for Lua (src/ct/ot.h; ALGORITHM.md §4.3 item 2): lctw.ct.ot_assign
 * and lctw.ct.ot_couple. l_ot_register adds them to the module table on top of the stack; the
 * lctw.ct opener (l_ct.c) calls it. */
#include <time.h>

#include "ct/ot.h"
#include "lctw_lua.h"

/* A GC-managed int64 buffer of n entries (freed with the userdata, even on error). */
static int64_t *push_perm_buffer(lua_State *L, int64_t n) {
    return lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(int64_t), 0);
}

static void push_perm_table(lua_State *L, const int64_t *perm, int64_t n) {
    lua_createtable(L, (int)n, 0);
    for (int64_t j = 0; j < n; j++) {
        lua_pushinteger(L, (lua_Integer)perm[j] + 1);
        lua_rawseti(L, -2, (lua_Integer)j + 1);
    }
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* lctw_ot_assign in its two parts, timed separately (the third result of ot_assign). */
static int l_ot_assign(lua_State *L) {
    lctw_tensor *x = l_checktensor(L, 1), *n = l_checktensor(L, 2);
    int64_t b = x->ndim > 0 ? x->shape[0] : 0;
    if (b > 46340)
        return luaL_error(L,
                          "ot_assign: batch of %I samples is too large for an exact "
                          "assignment (max 46340)",
                          (lua_Integer)b);
    int64_t *perm = push_perm_buffer(L, b);
    double *cost = lua_newuserdatauv(L, (size_t)(b > 0 ? b * b : 1) * sizeof(double), 0);
    double total = 0.0, t0 = clock_s(CLOCK_MONOTONIC);
    L_TRY(L, lctw_ot_cost(x, n, cost));
    double t1 = clock_s(CLOCK_MONOTONIC), c1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    L_TRY(L, lctw_lsa_solve(b, cost, perm, &total, NULL, NULL));
    double t2 = clock_s(CLOCK_MONOTONIC), c2 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    push_perm_table(L, perm, b);
    lua_pushnumber(L, total);
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, t1 - t0);
    lua_setfield(L, -2, "cost_s");
    lua_pushnumber(L, t2 - t1);
    lua_setfield(L, -2, "solve_s");
    lua_pushnumber(L, c2 - c1); /* the solver is single-threaded: its CPU time is its work */
    lua_setfield(L, -2, "solve_cpu_s");
    return 3;
}

static int l_ot_couple(lua_State *L) {
    lctw_tensor *x = l_checktensor(L, 1), *n = l_checktensor(L, 2);
    int64_t b = x->ndim > 0 ? x->shape[0] : 0;
    int64_t *perm = push_perm_buffer(L, b);
    double total = 0.0;
    L_TRY(L, lctw_ot_assign(x, n, perm, &total));
    lctw_tensor *out = NULL;
    L_TRY(L, lctw_tensor_empty(&out, n->ndim, n->shape, lctw_tensor_device(n)));
    l_pushtensor(L, out); /* owned by Lua from here on */
    L_TRY(L, lctw_ot_permute_rows(out, n, perm));
    push_perm_table(L, perm, b);
    lua_pushnumber(L, total);
    return 3;
}

static const l_reg ot_funcs[] = {
    {"ot_assign", l_ot_assign,
     "lctw.ct.ot_assign(x, noise) -> perm, cost, times\n\n"
     "Minibatch optimal-transport coupling (the paper's exact OT): x and noise of the same "
     "shape (b, ...), each row a flattened sample; minimises Σ_j ‖x_j − noise_perm[j]‖² over "
     "permutations (exact linear assignment on the squared-L2 cost). perm is a Lua table of "
     "1-based noise row indices (noise row perm[j] pairs with x row j); cost is the minimal "
     "total squared distance; times = {cost_s=, solve_s=, solve_cpu_s=} (seconds: wall time of "
     "the cost-matrix GEMM and of the assignment, and the assignment's CPU time). The paper's "
     "random order of the pairs does not change a batch-mean "
     "loss, so the matching is returned as is."},
    {"ot_couple", l_ot_couple,
     "lctw.ct.ot_couple(x, noise) -> paired_noise, perm, cost\n\n"
     "ot_assign, then the noise rows reordered to pair with x: paired_noise[j] = "
     "noise[perm[j]] (a new tensor on noise's device)."},
    {NULL, NULL, NULL},
};

void l_ot_register(lua_State *L) { l_register(L, -1, ot_funcs); }
