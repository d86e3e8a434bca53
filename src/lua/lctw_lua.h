/* lctw_lua.h — helpers shared by the Lua bindings (src/lua/l_*.c), the only code that includes
 * lua.h and raises Lua errors.
 *
 * Pattern of a binding: check arguments (luaL_check*, l_checktensor), call core functions that
 * return lctw_status, on failure free temporaries and `return l_fail(L, s)`, which raises the
 * recorded message as a Lua error. Every public function is registered with a help text
 * (l_register), reachable from help(fn) in the REPL.
 */
#ifndef LCTW_LUA_H
#define LCTW_LUA_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "core/tensor.h"

#define LCTW_TENSOR_MT "lctw.Tensor"

/* One entry of a registration table: name, function, help text ("sig\n\ndescription"). */
typedef struct l_reg {
    const char *name;
    lua_CFunction fn;
    const char *help;
} l_reg;

/* Sets fields of the table at index idx from regs (until a NULL name) and records each help
 * text in the registry help table (weak keys: function -> text). */
void l_register(lua_State *L, int idx, const l_reg *regs);
/* Records help text for the value at index idx (a function, table or metatable name). */
void l_sethelp(lua_State *L, int idx, const char *help);
/* Pushes the help text recorded for the value at idx and returns 1, or pushes nothing and
 * returns 0. */
int l_gethelp(lua_State *L, int idx);
/* Records help text for a type by metatable name, e.g. ("lctw.Tensor", "..."). */
void l_settypehelp(lua_State *L, const char *tname, const char *help);

/* Raises the recorded core error (status s) as a Lua error. Never returns. */
int l_fail(lua_State *L, lctw_status s);
/* `L_TRY(L, expr)`: raise if expr fails. Use only when nothing needs freeing. */
#define L_TRY(L, expr)                                                                             \
    do {                                                                                           \
        lctw_status s_ = (expr);                                                                   \
        if (s_ != LCTW_OK) l_fail((L), s_);                                                        \
    } while (0)

/* Tensors in Lua: a full userdata holding one reference (lctw_tensor *). */
lctw_tensor *l_checktensor(lua_State *L, int idx);
lctw_tensor *l_totensor(lua_State *L, int idx); /* NULL if not a tensor */
/* Pushes t, taking over the caller's reference (t may not be NULL). Lets the GC know about
 * the tensor's bytes so large temporaries are collected promptly. */
void l_pushtensor(lua_State *L, lctw_tensor *t);
/* Runs a full GC cycle if the last allocation failed for memory, so a retry may succeed.
 * Returns 1 if it collected (and the caller should retry once). */
int l_gc_on_nomem(lua_State *L, lctw_status s);
/* (s) = (expr), and if that failed for memory: full GC, then (s) = (expr) once more. */
#define L_ALLOC(L, s, expr)                                                                        \
    do {                                                                                           \
        (s) = (expr);                                                                              \
        if ((s) == LCTW_ENOMEM && l_gc_on_nomem((L), (s))) (s) = (expr);                           \
    } while (0)
/* Pushes {counts={...}, edges={...} (bins+1), below=, above=} for a histogram over [lo, hi]. */
void l_pushhistogram(lua_State *L, const int64_t *counts, int64_t bins, double lo, double hi,
                     int64_t below, int64_t above);

/* Metatable of data sets (src/lua/l_data.c; l_checkdata below). */
#define LCTW_DATA_MT "lctw.Data"

/* Reads a shape: either a table {d1, d2, ...} at idx, or integers from idx to the top (stopping
 * at the first non-integer). Returns ndim; *next = index after the shape. Raises on bad input. */
int l_checkshape(lua_State *L, int idx, int64_t *shape, int *next);
/* Pushes {d1, d2, ...}. */
void l_pushshape(lua_State *L, int ndim, const int64_t *shape);

/* Options table helpers: field `k` of the table at idx (absent or nil -> default). Raise with
 * "option 'k': expected ..." on a wrong type. */
lua_Integer l_optfield_int(lua_State *L, int idx, const char *k, lua_Integer dflt);
lua_Number l_optfield_num(lua_State *L, int idx, const char *k, lua_Number dflt);
int l_optfield_bool(lua_State *L, int idx, const char *k, int dflt);
const char *l_optfield_str(lua_State *L, int idx, const char *k, const char *dflt);
/* Raises if the table at idx has a key not in the NULL-terminated list (catches typos). */
void l_checkoptions(lua_State *L, int idx, const char *fn, const char *const *known);

/* Device from a string or nil ("cpu" | "cuda"). */
lctw_device l_checkdevice(lua_State *L, int idx, lctw_device dflt);

/* Module openers (each adds its functions to the table on top of the stack). */
void l_tensor_open(lua_State *L); /* lctw.tensor + Tensor methods */
void l_npy_open(lua_State *L);    /* lctw.npy */
void l_cuda_open(lua_State *L);   /* lctw.cuda */
void l_safetensors_open(lua_State *L); /* lctw.safetensors */
void l_ct_open(lua_State *L);          /* lctw.ct: schedules, losses, OT */
void l_ot_register(lua_State *L);      /* adds ot_assign, ot_couple to the table on top (l_ot.c) */
void l_optim_open(lua_State *L);       /* lctw.optim: RAdam, Adam(W), EMA, clipping */
void l_data_open(lua_State *L);        /* lctw.data */
void l_metrics_open(lua_State *L);     /* lctw.metrics */
void l_model_open(lua_State *L);       /* lctw.model */
void l_trainer_open(lua_State *L);     /* lctw.trainer (C core; lua/lctw/trainer.lua wraps it) */
void l_vae_open(lua_State *L);         /* lctw.vae: decoders/encoders */
void l_image_open(lua_State *L);       /* lctw.image: PNG/JPEG, grids */
void l_dash_open(lua_State *L);        /* lctw.dash: the ncurses dashboard */
void l_dash_prompt_open(lua_State *L); /* lctw.dash: the prompt's primitives */
void l_json_open(lua_State *L);        /* lctw.json: decode/encode */

/* Objects of other modules, for bindings that take them as arguments. */
struct lctw_model;
struct lctw_data;
struct lctw_model *l_checkmodel(lua_State *L, int idx); /* "lctw.Model" (l_model.c) */
struct lctw_data *l_checkdata(lua_State *L, int idx);   /* "lctw.Data" (l_data.c) */

/* Creates the global `lctw` with every module, loads the embedded Lua library (lua/lctw/NAME.lua:
 * `require "lctw.x"` works for each) and runs lctw.init. Returns 0 or raises. */
int lctw_lua_open(lua_State *L);

#endif
