/* l_dash.c — lctw.dash: the live training dashboard's Lua surface.
 *
 * lctw.dash.run(tr, opts) is the loop (lua/lctw/dash.lua, loaded on first use); it drives the
 * curses front end (src/dash/dash.c) through the primitives below. The primitives never leave
 * curses open on an error: the loop closes it in its error path and dash.c also closes it at exit.
 */
#include <math.h>

#include "dash/dash.h"
#include "lctw_lua.h"

static int l_dash_run(lua_State *L) {
    int n = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lctw.dash");
    lua_call(L, 1, 1); /* the module returns the run function */
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

static int l_dash_usable(lua_State *L) {
    lua_pushboolean(L, lctw_dash_usable());
    return 1;
}

static int l_dash_open_screen(lua_State *L) {
    if (lctw_dash_open(lua_toboolean(L, 1)) != LCTW_OK) return l_fail(L, LCTW_EDEVICE);
    return 0;
}

static int l_dash_close(lua_State *L) {
    lctw_dash_close();
    return 0;
}

static double field(lua_State *L, int t, const char *k) {
    lua_getfield(L, t, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    return v;
}

static int l_dash_push(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lctw_dash_push(field(L, 1, "loss"), field(L, 1, "c"), field(L, 1, "frac_over_c"));
    return 0;
}

static int l_dash_draw(lua_State *L) {
    lctw_dash_draw(luaL_optstring(L, 1, ""), lua_toboolean(L, 2));
    return 0;
}

static int l_dash_poll(lua_State *L) {
    static const char *names[] = {NULL, "quit", "pause", "logy", "help", "resize", "other"};
    lctw_dash_key k = lctw_dash_poll((int)luaL_optinteger(L, 1, 0));
    if (k == LCTW_DASH_KEY_NONE) return 0;
    lua_pushstring(L, names[k]);
    return 1;
}

static const l_reg funcs[] = {
    {"run", l_dash_run,
     "lctw.dash.run(tr, {steps=, checkpoint=, checkpoint_every=, on_step=, ascii=}) -> metrics [, "
     "\"interrupted\"]\n\nTrains like tr:run with a live terminal dashboard: loss (raw and EMA), "
     "c and frac_over_c, a histogram of the last 200 losses and a status line. Keys: q/F10 stop, "
     "p/F5 pause, l log-y, ?/F1 help; Ctrl-C stops as in tr:run. Without a terminal (or with "
     "TERM=dumb) it prints progress lines instead. tr:run{dash=true} calls it; lctw --dash sets "
     "lctw.dash.default = true (dashboard unless dash=false), --ascii sets lctw.dash.ascii."},
    {"_usable", l_dash_usable, "lctw.dash._usable() -> bool: stdout and stdin are terminals"},
    {"_open", l_dash_open_screen, "lctw.dash._open(ascii): enters curses mode"},
    {"_close", l_dash_close, "lctw.dash._close(): restores the terminal"},
    {"_push", l_dash_push, "lctw.dash._push(metrics): adds one step's loss, c, frac_over_c"},
    {"_draw", l_dash_draw, "lctw.dash._draw(status_line, paused): redraws the panels"},
    {"_poll", l_dash_poll,
     "lctw.dash._poll([timeout_ms]) -> nil | \"quit\" | \"pause\" | \"logy\" | \"help\" | "
     "\"resize\" | \"other\""},
    {NULL, NULL, NULL},
};

void l_dash_open(lua_State *L) { l_register(L, -1, funcs); }
