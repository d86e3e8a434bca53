/* l_vae.c — Lua bindings of the latent decoders/encoders (src/nn/vae.h): lctw.vae.load(path)
 * returns an lctw.VAE object with :decode(latents), :encode(images) and the read-only fields
 * kind, range, latent_channels, latent_scale, path.
 */
#include <string.h>

#include "lctw_lua.h"
#include "nn/vae.h"

#define VAE_MT "lctw.VAE"

typedef struct {
    lctw_vae *v;
} l_vae_box;

static lctw_vae *check_vae(lua_State *L, int idx) {
    l_vae_box *b = luaL_checkudata(L, idx, VAE_MT);
    if (!b->v) luaL_error(L, "lctw.VAE: the object was freed");
    return b->v;
}

static int l_vae_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    l_vae_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->v = NULL;
    luaL_setmetatable(L, VAE_MT);
    L_TRY(L, lctw_vae_load(&b->v, path));
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "device");
        lctw_device dev = l_checkdevice(L, -1, LCTW_DEV_CPU);
        lua_pop(L, 1);
        L_TRY(L, lctw_vae_to(b->v, dev));
    }
    return 1;
}

static int l_vae_to(lua_State *L) {
    lctw_vae *v = check_vae(L, 1);
    L_TRY(L, lctw_vae_to(v, l_checkdevice(L, 2, LCTW_DEV_CPU)));
    lua_settop(L, 1);
    return 1;
}

static int l_vae_decode(lua_State *L) {
    lctw_vae *v = check_vae(L, 1);
    lctw_tensor *z = l_checktensor(L, 2), *img = NULL;
    lctw_status s = lctw_vae_decode(v, z, &img);
    if (s != LCTW_OK && l_gc_on_nomem(L, s)) s = lctw_vae_decode(v, z, &img);
    if (s != LCTW_OK) return l_fail(L, s);
    l_pushtensor(L, img);
    return 1;
}

static int l_vae_encode(lua_State *L) {
    lctw_vae *v = check_vae(L, 1);
    lctw_tensor *x = l_checktensor(L, 2), *z = NULL;
    lctw_status s = lctw_vae_encode(v, x, &z);
    if (s != LCTW_OK && l_gc_on_nomem(L, s)) s = lctw_vae_encode(v, x, &z);
    if (s != LCTW_OK) return l_fail(L, s);
    l_pushtensor(L, z);
    return 1;
}

static int l_vae_free(lua_State *L) {
    l_vae_box *b = luaL_checkudata(L, 1, VAE_MT);
    lctw_vae_free(b->v);
    b->v = NULL;
    return 0;
}

static int l_vae_tostring(lua_State *L) {
    l_vae_box *b = luaL_checkudata(L, 1, VAE_MT);
    if (!b->v) {
        lua_pushliteral(L, "<lctw.VAE (freed)>");
        return 1;
    }
    lua_pushfstring(L, "<lctw.VAE %s | %d latent channels | images in [%f, %f] | %s | %s>",
                    lctw_vae_kind_name(b->v->kind), b->v->latent_channels, (double)b->v->range_lo,
                    (double)b->v->range_hi, b->v->dev == LCTW_DEV_CUDA ? "cuda" : "cpu",
                    b->v->path);
    return 1;
}

/* methods from the upvalue table, then the read-only fields */
static int l_vae_index(lua_State *L) {
    lctw_vae *v = check_vae(L, 1);
    const char *k = luaL_checkstring(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    if (!strcmp(k, "kind")) {
        lua_pushstring(L, lctw_vae_kind_name(v->kind));
    } else if (!strcmp(k, "range")) {
        lua_createtable(L, 2, 0);
        lua_pushnumber(L, v->range_lo);
        lua_rawseti(L, -2, 1);
        lua_pushnumber(L, v->range_hi);
        lua_rawseti(L, -2, 2);
    } else if (!strcmp(k, "latent_channels")) {
        lua_pushinteger(L, v->latent_channels);
    } else if (!strcmp(k, "latent_scale")) {
        lua_pushnumber(L, v->latent_scale);
    } else if (!strcmp(k, "path")) {
        lua_pushstring(L, v->path);
    } else if (!strcmp(k, "device")) {
        lua_pushstring(L, v->dev == LCTW_DEV_CUDA ? "cuda" : "cpu");
    } else if (!strcmp(k, "is_decoder")) {
        lua_pushboolean(L, lctw_vae_is_decoder(v));
    } else {
        lua_pushnil(L);
    }
    return 1;
}

static const l_reg vae_funcs[] = {
    {"load", l_vae_load,
     "lctw.vae.load(path [, {device=\"cpu\"|\"cuda\"}]) -> vae\n\nLoads a latent decoder or "
     "encoder from safetensors weights "
     "and detects its kind from the tensor names: VAElight decoder/encoder (SD1, 4 latent "
     "channels, images in [-1, 1]) or TAESD decoder/encoder (any latent channel count, e.g. "
     "TAEF2's 32; images in [0, 1]). Example: "
     "lctw.vae.load(\"../shared/data/taesd/sd1_vaelight_decoder.safetensors\")."},
    {NULL, NULL, NULL},
};

static const l_reg vae_methods[] = {
    {"decode", l_vae_decode,
     "vae:decode(latents) -> images\n\nN×C×h×w (or C×h×w) latents in the space of the data files "
     "(SD1 latents ×0.18215: the decoder divides by it itself) -> N×3×8h×8w images in vae.range "
     "([-1, 1] for VAElight, ≈[0, 1] for TAESD; clamp for display), float32 on the CPU; runs on "
     "vae.device (chunks of latents are copied there)."},
    {"encode", l_vae_encode,
     "vae:encode(images) -> latents\n\nN×3×H×W (or 3×H×W) images in vae.range, H and W multiples "
     "of 8 -> N×C×H/8×W/8 latents in the space of the data files (SD1: ×0.18215)."},
    {"to", l_vae_to,
     "vae:to(\"cpu\"|\"cuda\") -> vae\n\nMoves the weights (all or none); decode/encode then "
     "run on that device. vae.device says where they are."},
    {"free", l_vae_free, "vae:free()\n\nReleases the weights now."},
    {NULL, NULL, NULL},
};

static const l_reg vae_meta[] = {
    {"__tostring", l_vae_tostring, NULL},
    {"__gc", l_vae_free, NULL},
    {"__close", l_vae_free, NULL},
    {NULL, NULL, NULL},
};

void l_vae_open(lua_State *L) {
    int mod = lua_gettop(L);
    l_register(L, mod, vae_funcs);
    l_sethelp(L, mod,
              "lctw.vae — latent decoders/encoders: load(path) -> vae with "
              "vae:decode(z), vae:encode(x), vae.kind, vae.range, vae.latent_channels.");
    luaL_newmetatable(L, VAE_MT);
    int mt = lua_gettop(L);
    l_register(L, mt, vae_meta);
    lua_newtable(L);
    l_register(L, -1, vae_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, mt, "__methods");
    lua_pushcclosure(L, l_vae_index, 1);
    lua_setfield(L, mt, "__index");
    lua_settop(L, mod);
    l_settypehelp(L, VAE_MT,
                  "lctw.VAE — a latent decoder or encoder (lctw.vae.load(path))\n\n"
                  "  vae:decode(z)  vae:encode(x)  vae:free()\n"
                  "  fields: kind (\"vaelight_decoder\", \"taesd_decoder\", ...), range {lo, hi} "
                  "of the images, latent_channels, latent_scale (data-space latent = scale · "
                  "network latent: 0.18215 for SD1), path, is_decoder");
}
