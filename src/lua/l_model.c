/* l_model.c — lctw.model: build the paper's U-Net or a DiT from an options table, run the
 * consistency-parameterised forward f(x, σ), list parameters, save/load by reference names.
 * Userdata "lctw.Model" owns the model and a context (arena) for forwards without gradients. */
#include <stdlib.h>
#include <string.h>

#include "core/tmath.h"
#include "lctw_cuda.h"
#include "lctw_lua.h"
#include "nn/config.h"

#define MODEL_MT "lctw.Model"

typedef struct {
    lctw_model *m;
    lctw_ctx *ctx; /* created on first forward */
} l_model;

static l_model *check_model(lua_State *L, int idx) {
    l_model *u = luaL_checkudata(L, idx, MODEL_MT);
    if (!u->m) luaL_argerror(L, idx, "model has been closed");
    return u;
}

struct lctw_model *l_checkmodel(lua_State *L, int idx) { return check_model(L, idx)->m; }

static void push_model(lua_State *L, lctw_model *m) {
    l_model *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->m = m;
    u->ctx = NULL;
    luaL_setmetatable(L, MODEL_MT);
    lua_gc(L, LUA_GCSTEP, (int)((m->params.total * 8) >> 10 > (1 << 30) ? 1 << 30 : (m->params.total * 8) >> 10));
}

/* ---- options ---- */

static int read_int_list(lua_State *L, int opts, const char *k, int *v, int max) {
    if (lua_getfield(L, opts, k) == LUA_TNIL) {
        lua_pop(L, 1);
        return -1;
    }
    if (!lua_istable(L, -1)) luaL_error(L, "option '%s': expected a table of integers", k);
    int n = (int)luaL_len(L, -1);
    if (n > max) luaL_error(L, "option '%s': at most %d entries, got %d", k, max, n);
    for (int i = 0; i < n; i++) {
        lua_geti(L, -1, i + 1);
        int ok;
        lua_Integer x = lua_tointegerx(L, -1, &ok);
        if (!ok || x < 0 || x > 1 << 24)
            luaL_error(L, "option '%s': entry %d is not a non-negative integer", k, i + 1);
        v[i] = (int)x;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

static void read_in_shape(lua_State *L, int opts, int *c, int *h, int *w) {
    int s[3];
    int n = read_int_list(L, opts, "in_shape", s, 3);
    if (n < 0) return;
    if (n != 3) luaL_error(L, "option 'in_shape': expected {C, H, W}, got %d entries", n);
    *c = s[0], *h = s[1], *w = s[2];
}

static int opt_int(lua_State *L, int opts, const char *k, int dflt) {
    lua_Integer v = l_optfield_int(L, opts, k, dflt);
    if (v < 0 || v > 1 << 24) luaL_error(L, "option '%s': %d is out of range", k, (int)v);
    return (int)v;
}

static lctw_norm_kind opt_norm(lua_State *L, int opts, const char *k, lctw_norm_kind dflt) {
    const char *s = l_optfield_str(L, opts, k, NULL);
    if (!s) return dflt;
    if (!strcmp(s, "nsln")) return LCTW_NORM_NSLN;
    if (!strcmp(s, "groupnorm")) return LCTW_NORM_GROUPNORM;
    if (!strcmp(s, "layernorm")) return LCTW_NORM_LAYERNORM;
    luaL_error(L, "option '%s': unknown norm '%s' (expected \"nsln\", \"groupnorm\" or \"layernorm\")",
               k, s);
    return dflt;
}

/* 1 when the default device (lctw.device(), kept by lctw.tensor.default_device) is "cuda". */
static int default_is_cuda(lua_State *L) {
    int top = lua_gettop(L), cuda = 0;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "lctw") == LUA_TTABLE && lua_getfield(L, -1, "tensor") == LUA_TTABLE &&
        lua_getfield(L, -1, "default_device") == LUA_TFUNCTION && lua_pcall(L, 0, 1, 0) == LUA_OK)
        cuda = lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "cuda");
    lua_settop(L, top);
    return cuda;
}

/* "cpu" / "cuda" to a device; "cuda" needs a usable device (a clear error otherwise). */
static lctw_device parse_device(lua_State *L, const char *d, const char *what) {
    if (!strcmp(d, "cpu")) return LCTW_DEV_CPU;
    if (strcmp(d, "cuda")) luaL_error(L, "%s: unknown device '%s' (\"cpu\" or \"cuda\")", what, d);
    if (!lctw_cuda_built())
        luaL_error(L, "%s: device \"cuda\": lctw was built without CUDA (rebuild with make CUDA=1)",
                   what);
    if (lctw_cuda_device_count() <= 0) luaL_error(L, "%s: device \"cuda\": %s", what, lctw_cuda_describe());
    return LCTW_DEV_CUDA;
}

/* The device= option, else lctw.device()'s default. */
static lctw_device opt_device(lua_State *L, int opts) {
    const char *d = opts && lua_istable(L, opts) ? l_optfield_str(L, opts, "device", NULL) : NULL;
    if (!d) d = default_is_cuda(L) ? "cuda" : "cpu";
    return parse_device(L, d, "option 'device'");
}

static int l_model_unet(lua_State *L) {
    static const char *const known[] = {"channels", "channel_mult", "num_blocks",
                                        "attn_resolutions", "emb_dim", "emb_mult", "in_shape",
                                        "norm", "last_norm", "channels_per_head", "seed",
                                        "device", NULL};
    lua_settop(L, 1);
    if (!lua_isnil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
    l_checkoptions(L, 1, "lctw.model.unet", known);
    lctw_unet_config c;
    lctw_unet_config_paper(&c);
    if (!lua_isnil(L, 1)) {
        read_in_shape(L, 1, &c.in_ch, &c.height, &c.width);
        c.model_channels = opt_int(L, 1, "channels", c.model_channels);
        int n = read_int_list(L, 1, "channel_mult", c.channel_mult, LCTW_UNET_MAX_LEVELS);
        if (n >= 0) c.n_levels = n;
        c.num_blocks = opt_int(L, 1, "num_blocks", c.num_blocks);
        n = read_int_list(L, 1, "attn_resolutions", c.attn_res, LCTW_UNET_MAX_LEVELS);
        if (n >= 0) c.n_attn = n;
        c.channel_mult_emb = opt_int(L, 1, "emb_mult", c.channel_mult_emb);
        int emb_dim = opt_int(L, 1, "emb_dim", 0);
        if (emb_dim) {
            if (c.model_channels == 0 || emb_dim % c.model_channels)
                luaL_error(L, "option 'emb_dim': %d is not a multiple of channels (%d)", emb_dim,
                           c.model_channels);
            c.channel_mult_emb = emb_dim / c.model_channels;
        }
        c.channels_per_head = opt_int(L, 1, "channels_per_head", c.channels_per_head);
        c.norm = opt_norm(L, 1, "norm", c.norm);
        c.last_norm = opt_norm(L, 1, "last_norm", c.norm);
    }
    uint64_t seed = (uint64_t)l_optfield_int(L, 1, "seed", 0);
    lctw_device dev = opt_device(L, 1);
    L_TRY(L, lctw_unet_config_check(&c));
    lctw_model *m = NULL;
    lctw_status s = lctw_unet_new(&m, &c, dev, seed);
    if (s != LCTW_OK) return l_fail(L, s);
    push_model(L, m);
    return 1;
}

static int l_model_dit(lua_State *L) {
    static const char *const known[] = {"size", "patch", "in_shape", "act", "qk_norm", "hidden",
                                        "depth", "heads", "mlp_ratio", "seed", "device", NULL};
    lua_settop(L, 1);
    if (!lua_isnil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
    l_checkoptions(L, 1, "lctw.model.dit", known);
    int ch = 4, h = 32, w = 32;
    if (!lua_isnil(L, 1)) read_in_shape(L, 1, &ch, &h, &w);
    const char *size = l_optfield_str(L, 1, "size", "S");
    int patch = opt_int(L, 1, "patch", 2);
    lctw_dit_config c;
    L_TRY(L, lctw_dit_config_size(&c, size, patch, ch, h, w));
    c.hidden = opt_int(L, 1, "hidden", c.hidden);
    c.depth = opt_int(L, 1, "depth", c.depth);
    c.heads = opt_int(L, 1, "heads", c.heads);
    c.mlp_ratio = l_optfield_num(L, 1, "mlp_ratio", c.mlp_ratio);
    c.qk_norm = l_optfield_bool(L, 1, "qk_norm", c.qk_norm);
    const char *act = l_optfield_str(L, 1, "act", c.act == LCTW_ACT_RELU ? "relu" : "gelu");
    if (!strcmp(act, "gelu"))
        c.act = LCTW_ACT_GELU;
    else if (!strcmp(act, "relu"))
        c.act = LCTW_ACT_RELU;
    else
        luaL_error(L, "option 'act': unknown activation '%s' (expected \"gelu\" or \"relu\")", act);
    uint64_t seed = (uint64_t)l_optfield_int(L, 1, "seed", 0);
    lctw_device dev = opt_device(L, 1);
    L_TRY(L, lctw_dit_config_check(&c));
    lctw_model *m = NULL;
    lctw_status s = lctw_dit_new(&m, &c, dev, seed);
    if (s != LCTW_OK) return l_fail(L, s);
    push_model(L, m);
    return 1;
}

static int l_model_load_file(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    lctw_device dev = opt_device(L, lua_isnoneornil(L, 2) ? 0 : 2);
    lctw_model *m;
    L_TRY(L, lctw_model_from_file(&m, path, dev));
    push_model(L, m);
    return 1;
}

/* ---- methods ---- */

static int m_num_params(lua_State *L) {
    l_model *u = check_model(L, 1);
    lua_pushinteger(L, (lua_Integer)u->m->params.trainable);
    lua_pushinteger(L, (lua_Integer)(u->m->params.total - u->m->params.trainable));
    return 2;
}

static int m_params(lua_State *L) {
    l_model *u = check_model(L, 1);
    const lctw_params *ps = &u->m->params;
    lua_createtable(L, ps->n, 0);
    for (int i = 0; i < ps->n; i++) {
        const lctw_param *p = &ps->p[i];
        lua_createtable(L, 0, 4);
        lua_pushstring(L, p->name);
        lua_setfield(L, -2, "name");
        l_pushshape(L, p->ndim, p->shape);
        lua_setfield(L, -2, "shape");
        lua_pushinteger(L, (lua_Integer)p->numel);
        lua_setfield(L, -2, "numel");
        lua_pushboolean(L, p->trainable);
        lua_setfield(L, -2, "trainable");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* model:param(name) -> Tensor viewing the parameter (writes change the model) */
static int m_param(lua_State *L) {
    l_model *u = check_model(L, 1);
    const char *name = luaL_checkstring(L, 2);
    int i = lctw_params_find(&u->m->params, name);
    if (i < 0) return luaL_error(L, "model has no parameter '%s' (see model:params())", name);
    const lctw_param *p = &u->m->params.p[i];
    lctw_tensor *t;
    L_TRY(L, lctw_tensor_on_storage(&t, u->m->params.data->st, p->offset, p->ndim, p->shape));
    l_pushtensor(L, t);
    return 1;
}

/* sigma from a number (same for every sample), a table, or a 1-D tensor -> CPU tensor (B) */
static lctw_tensor *sigma_arg(lua_State *L, int idx, int64_t B) {
    lctw_tensor *s;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        L_TRY(L, lctw_tensor_full(&s, 1, &B, LCTW_DEV_CPU, (float)lua_tonumber(L, idx)));
        return s;
    }
    if (lua_istable(L, idx)) {
        int64_t n = (int64_t)luaL_len(L, idx);
        if (n != B) luaL_error(L, "sigma: %d values for a batch of %d", (int)n, (int)B);
        L_TRY(L, lctw_tensor_empty(&s, 1, &B, LCTW_DEV_CPU));
        for (int64_t i = 0; i < B; i++) {
            lua_geti(L, idx, i + 1);
            int ok;
            lua_Number v = lua_tonumberx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok) {
                lctw_tensor_release(s);
                luaL_error(L, "sigma[%d] is not a number", (int)i + 1);
            }
            lctw_tensor_data(s)[i] = (float)v;
        }
        return s;
    }
    lctw_tensor *t = l_totensor(L, idx);
    if (!t) luaL_typeerror(L, idx, "number, table or Tensor");
    if (lctw_tensor_numel(t) != B)
        luaL_error(L, "sigma: %d values for a batch of %d", (int)lctw_tensor_numel(t), (int)B);
    L_TRY(L, lctw_tensor_empty(&s, 1, &B, LCTW_DEV_CPU));
    lctw_tensor *flat = NULL;
    lctw_status st = lctw_tensor_reshape(&flat, t, 1, &B);
    if (st == LCTW_OK) st = lctw_tensor_copy(s, flat);
    lctw_tensor_release(flat);
    if (st != LCTW_OK) {
        lctw_tensor_release(s);
        l_fail(L, st);
    }
    return s;
}

/* model:forward(x, sigma) -> f(x, σ) (a new tensor); no gradients are recorded */
static int m_forward(lua_State *L) {
    l_model *u = check_model(L, 1);
    lctw_tensor *x = l_checktensor(L, 2);
    lctw_model *m = u->m;
    if (x->ndim != 4) {
        char a[96];
        return luaL_error(L, "forward: x is %s, expected B×%d×%d×%d",
                          lctw_tensor_shape_str(a, sizeof a, x), m->in_ch, m->height, m->width);
    }
    lctw_tensor *sigma = sigma_arg(L, 3, x->shape[0]);
    if (u->ctx && u->ctx->dev != m->params.dev) { /* the model moved (model:to) */
        lctw_ctx_release(u->ctx);
        free(u->ctx);
        u->ctx = NULL;
    }
    if (!u->ctx) {
        u->ctx = malloc(sizeof *u->ctx);
        if (!u->ctx) {
            lctw_tensor_release(sigma);
            return luaL_error(L, "out of memory");
        }
        lctw_ctx_init(u->ctx, m->params.dev, (size_t)64 << 20);
    }
    lctw_ctx *c = u->ctx;
    lctw_tensor *xc = NULL, *y = NULL, *out = NULL;
    lctw_status s = lctw_ctx_reset(c);
    int grad = lctw_ctx_set_grad(c, 0);
    if (s == LCTW_OK) s = lctw_tensor_to(&xc, x, m->params.dev);
    if (s == LCTW_OK && !lctw_tensor_is_contiguous(xc)) {
        lctw_tensor *tmp = xc;
        s = lctw_tensor_contiguous(&xc, tmp);
        lctw_tensor_release(tmp);
    }
    if (s == LCTW_OK) s = lctw_model_forward(m, c, xc, sigma, &y, NULL);
    if (s == LCTW_OK) s = lctw_tensor_clone(&out, y);
    lctw_ctx_set_grad(c, grad);
    lctw_tensor_release(xc);
    lctw_tensor_release(sigma);
    if (s != LCTW_OK) return l_fail(L, s);
    l_pushtensor(L, out);
    return 1;
}

static int m_save(lua_State *L) {
    l_model *u = check_model(L, 1);
    L_TRY(L, lctw_model_save(u->m, luaL_checkstring(L, 2)));
    return 0;
}

static int m_load(lua_State *L) {
    l_model *u = check_model(L, 1);
    L_TRY(L, lctw_model_load(u->m, luaL_checkstring(L, 2), lua_toboolean(L, 3)));
    lua_settop(L, 1);
    return 1;
}

/* model:to(device) -> model: parameters moved (copied) to "cpu" or "cuda" */
static int m_to(lua_State *L) {
    l_model *u = check_model(L, 1);
    lctw_device dev = parse_device(L, luaL_checkstring(L, 2), "model:to");
    if (u->ctx && u->ctx->dev != dev) {
        lctw_ctx_release(u->ctx);
        free(u->ctx);
        u->ctx = NULL;
    }
    L_TRY(L, lctw_params_to(&u->m->params, dev));
    lua_settop(L, 1);
    return 1;
}

static int m_device(lua_State *L) {
    lua_pushstring(L, check_model(L, 1)->m->params.dev == LCTW_DEV_CUDA ? "cuda" : "cpu");
    return 1;
}

static int m_kind(lua_State *L) {
    lua_pushstring(L, check_model(L, 1)->m->vt->kind);
    return 1;
}

static int m_config(lua_State *L) {
    l_model *u = check_model(L, 1);
    lua_pushstring(L, u->m->config_json ? u->m->config_json : "{}");
    return 1;
}

static int m_tostring(lua_State *L) {
    l_model *u = luaL_checkudata(L, 1, MODEL_MT);
    if (!u->m) {
        lua_pushliteral(L, "<lctw.Model (closed)>");
        return 1;
    }
    char desc[512] = "";
    if (u->m->vt->describe) u->m->vt->describe(u->m, desc, sizeof desc);
    char a[32];
    const lctw_params *ps = &u->m->params;
    lua_pushfstring(L, "<lctw.Model %s | %s of parameters | %s>", desc,
                    lctw_fmt_bytes(a, sizeof a, (double)ps->total * 4.0),
                    ps->dev == LCTW_DEV_CUDA ? "cuda" : "cpu");
    return 1;
}

static int m_gc(lua_State *L) {
    l_model *u = luaL_checkudata(L, 1, MODEL_MT);
    if (u->ctx) {
        lctw_ctx_release(u->ctx);
        free(u->ctx);
        u->ctx = NULL;
    }
    lctw_model_free(u->m);
    u->m = NULL;
    return 0;
}

static const l_reg model_methods[] = {
    {"num_params", m_num_params,
     "model:num_params() -> trainable, frozen\n\nParameter counts (frozen: NsLN's γ = 1, DiT's "
     "fixed positional embedding)."},
    {"params", m_params,
     "model:params() -> {{name=, shape=, numel=, trainable=}, ...}\n\nThe parameters under their "
     "PyTorch reference names, in buffer order."},
    {"param", m_param,
     "model:param(name) -> Tensor\n\nA tensor viewing one parameter (writing to it changes the "
     "model)."},
    {"forward", m_forward,
     "model:forward(x, sigma) -> Tensor\n\nThe consistency function f(x, σ) = c_skip(σ)·x + "
     "c_out(σ)·F(c_in(σ)·x, 250·ln σ) (ALGORITHM.md §3) for x of shape B×C×H×W; sigma is a "
     "number (every sample), a table or a tensor of B values. No gradients are recorded."},
    {"save", m_save,
     "model:save(path)\n\nWrites the weights as safetensors under the PyTorch reference names, "
     "with the configuration in the metadata (atomically: an existing file is never left "
     "half-written)."},
    {"load", m_load,
     "model:load(path [, allow_extra]) -> model\n\nLoads weights by name; every parameter must be "
     "present with the same shape (checked before anything is changed). Unknown tensors are an "
     "error unless allow_extra."},
    {"kind", m_kind, "model:kind() -> \"unet\" | \"dit\""},
    {"to", m_to,
     "model:to(\"cpu\"|\"cuda\") -> model\n\nMoves the parameters to the device (copied; the "
     "gradient buffer starts at zero). A trainer made earlier keeps the device it was made on: "
     "move the model first, or pass device= to lctw.trainer. Tensors from model:param() taken "
     "before the move keep the old memory."},
    {"device", m_device, "model:device() -> \"cpu\" | \"cuda\""},
    {"config", m_config, "model:config() -> string\n\nThe configuration as JSON."},
    {"free", m_gc, "model:free()\n\nReleases the model's memory now (also on <close> and GC)."},
    {NULL, NULL, NULL},
};

static const l_reg model_funcs[] = {
    {"unet", l_model_unet,
     "lctw.model.unet{channels=128, channel_mult={1,2,3,4}, num_blocks=4, "
     "attn_resolutions={16,8}, emb_dim=512, in_shape={4,32,32}, norm=\"nsln\", last_norm=, "
     "channels_per_head=64, seed=0, device=\"cpu\"} -> Model\n\nThe paper's network (EDM "
     "DhariwalUNet; ALGORITHM.md §2A). norm: \"nsln\" (non-scaling LayerNorm, default), "
     "\"groupnorm\" or \"layernorm\"; last_norm defaults to norm. The defaults are the paper "
     "configuration (158,355,972 trainable parameters)."},
    {"dit", l_model_dit,
     "lctw.model.dit{size=\"S\"|\"B\"|\"L\"|\"XL\", patch=2, in_shape={4,32,32}, act=\"gelu\"|\"relu\", "
     "qk_norm=true, hidden=, depth=, heads=, mlp_ratio=4, seed=0, device=\"cpu\"} -> Model\n\nAn "
     "unconditional DiT with adaLN-Zero (ALGORITHM.md §2B)."},
    {"load", l_model_load_file,
     "lctw.model.load(path [, {device=}]) -> Model\n\nRebuilds a model saved by model:save (or a "
     "reference fixture) from the configuration in its metadata and loads its weights."},
    {NULL, NULL, NULL},
};

void l_model_open(lua_State *L) {
    l_register(L, -1, model_funcs);
    if (luaL_newmetatable(L, MODEL_MT)) {
        lua_newtable(L);
        l_register(L, -1, model_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, m_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, m_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, m_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    l_settypehelp(L, MODEL_MT,
                  "lctw.Model — a network with the consistency parameterisation.\n\nmethods: "
                  "forward(x, sigma), num_params(), params(), param(name), save(path), "
                  "load(path), kind(), config(), to(device), device(), free()");
}
