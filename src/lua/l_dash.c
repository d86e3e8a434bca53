/* l_dash.c — lctw.dash: the live training dashboard's Lua surface.
 *
 * lctw.dash.run(tr, opts) is the loop (lua/lctw/dash.lua, loaded on first use); it drives the
 * curses front end (src/dash/dash.c) through the primitives below, and so can a metrics-log
 * viewer (lctw --attach), which pushes decoded metrics.jsonl lines: the tables tr:step() returns
 * and the lines of metrics.jsonl have the same keys. Missing or non-numeric fields are gaps, never
 * errors. The primitives never leave curses open on an error: the loop closes it in its error
 * path and dash.c also closes it at exit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dash/dash.h"
#include "dash/prompt.h"
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

static int l_dash_cols(lua_State *L) {
    lua_pushinteger(L, lctw_dash_cols());
    return 1;
}

static int l_dash_usable(lua_State *L) {
    lua_pushboolean(L, lctw_dash_usable());
    return 1;
}

/* lctw.dash._open(ascii [, {prompt=true}]) */
static int l_dash_open_screen(lua_State *L) {
    int prompt = 1;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        static const char *const known[] = {"prompt", NULL};
        l_checkoptions(L, 2, "lctw.dash._open", known);
        prompt = l_optfield_bool(L, 2, "prompt", 1);
    }
    if (lctw_dash_open(lua_toboolean(L, 1), prompt) != LCTW_OK) return l_fail(L, LCTW_EDEVICE);
    return 0;
}

static int l_dash_close(lua_State *L) {
    (void)L;
    lctw_dash_close();
    return 0;
}

/* t[k] as a number; NaN when absent or not a number (JSON null, a string, …). */
static double field(lua_State *L, int t, const char *k) {
    lua_getfield(L, t, k);
    double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    return v;
}

/* t[k] = {lo=, hi=, counts={...}} into h (h->n = 0 when absent or malformed). */
static void hist_field(lua_State *L, int t, const char *k, lctw_dash_hist *h) {
    h->n = 0;
    h->lo = h->hi = NAN;
    if (lua_getfield(L, t, k) == LUA_TTABLE) {
        int ht = lua_gettop(L);
        h->lo = field(L, ht, "lo");
        h->hi = field(L, ht, "hi");
        if (lua_getfield(L, ht, "counts") == LUA_TTABLE) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            if (n > LCTW_DASH_HIST_MAX) n = LCTW_DASH_HIST_MAX;
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
                h->counts[i - 1] = isfinite(v) && v > 0 ? v : 0;
                lua_pop(L, 1);
            }
            h->n = (int)n;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static int l_dash_push(lua_State *L) {
    if (!lua_istable(L, 1))
        return luaL_error(L,
                          "lctw.dash._push: expected the metrics table of tr:step() or a decoded "
                          "metrics.jsonl line, got %s",
                          luaL_typename(L, 1));
    lctw_dash_point p;
    lctw_dash_point_init(&p);
    double step = field(L, 1, "step");
    p.step = isfinite(step) ? (int64_t)step : -1;
    p.loss_ct = field(L, 1, "loss_ct");
    if (isnan(p.loss_ct)) p.loss_ct = field(L, 1, "loss"); /* the first interface's key */
    p.loss_diff = field(L, 1, "loss_diff");
    /* no diffusion subset this step: L_diff was not measured (reported as 0), a gap */
    if (field(L, 1, "diff_count") == 0) p.loss_diff = NAN;
    p.c = field(L, 1, "c");
    p.frac_over_c = field(L, 1, "frac_over_c");
    lua_getfield(L, 1, "skipped");
    p.skipped = lua_toboolean(L, -1);
    lua_pop(L, 1);
    p.latent_mean = field(L, 1, "latent_mean");
    p.latent_std = field(L, 1, "latent_std");
    p.latent_kurtosis = field(L, 1, "latent_kurtosis");
    p.latent_tail3 = field(L, 1, "latent_tail3");
    p.latent_tail5 = field(L, 1, "latent_tail5");
    hist_field(L, 1, "latent_hist", &p.latent);
    hist_field(L, 1, "resid_hist", &p.resid);
    lctw_dash_push_point(&p);
    return 0;
}

/* lctw.dash._schedule{total_steps=, stages={{stage=, N=, start_step=, c=}, ...}} */
static int l_dash_schedule(lua_State *L) {
    if (!lua_istable(L, 1))
        return luaL_error(L,
                          "lctw.dash._schedule: expected tr:schedule() or run.json's object "
                          "({total_steps=, stages={...}}), got %s",
                          luaL_typename(L, 1));
    lctw_dash_schedule s;
    memset(&s, 0, sizeof s);
    double total = field(L, 1, "total_steps");
    s.total_steps = isfinite(total) && total > 0 ? (int64_t)total : 0;
    /* tr:schedule() says stages, run.json says schedule */
    if (lua_getfield(L, 1, "stages") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_getfield(L, 1, "schedule");
    }
    if (lua_istable(L, -1)) {
        int st = lua_gettop(L);
        lua_Integer n = (lua_Integer)lua_rawlen(L, st);
        for (lua_Integer i = 1; i <= n && s.n < LCTW_DASH_MAX_STAGES; i++) {
            if (lua_rawgeti(L, st, i) != LUA_TTABLE)
                return luaL_error(L,
                                  "lctw.dash._schedule: stage %d is a %s, expected "
                                  "{stage=, N=, start_step=, c=}",
                                  (int)i, luaL_typename(L, -1));
            int e = lua_gettop(L);
            double stage = field(L, e, "stage"), N = field(L, e, "N"),
                   start = field(L, e, "start_step");
            if (!isfinite(start) || start < 0 || (s.n > 0 && start < s.start_step[s.n - 1]))
                return luaL_error(L,
                                  "lctw.dash._schedule: stage %d: start_step must be a number "
                                  ">= 0 and not below the previous stage's",
                                  (int)i);
            s.stage[s.n] = isfinite(stage) ? (int)stage : (int)i;
            s.N[s.n] = isfinite(N) ? (int64_t)N : 0;
            s.start_step[s.n] = (int64_t)start;
            s.c[s.n] = field(L, e, "c");
            s.n++;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    lctw_dash_set_schedule(&s);
    return 0;
}

static int l_dash_reset(lua_State *L) {
    (void)L;
    lctw_dash_reset();
    return 0;
}

static int l_dash_draw(lua_State *L) {
    lctw_dash_draw(luaL_optstring(L, 1, ""), lua_toboolean(L, 2));
    return 0;
}

static int l_dash_poll(lua_State *L) {
    static const char *names[] = {NULL,     "quit",  "pause", "logy", "help",
                                  "resize", "other", "save",  "hist", "line"};
    lctw_dash_key k = lctw_dash_poll((int)luaL_optinteger(L, 1, 0));
    if (k == LCTW_DASH_KEY_NONE) return 0;
    if (k == LCTW_DASH_KEY_LINE) {
        char *line = lctw_dash_prompt_take();
        if (!line) return 0;
        lua_pushliteral(L, "line");
        lua_pushstring(L, line);
        free(line);
        return 2;
    }
    lua_pushstring(L, names[k]);
    return 1;
}

static const l_reg funcs[] = {
    {"run", l_dash_run,
     "lctw.dash.run(tr, {steps=, checkpoint=, checkpoint_every=, on_step=, ascii=}) -> metrics [, "
     "\"interrupted\"]\n\nTrains like tr:run with a live terminal dashboard: loss_ct and "
     "loss_diff (raw, EMA, spikes), the planned c over the curriculum with the current step and "
     "frac_over_c, a histogram of the batch's latents (log counts, Gaussian reference, 3-sigma "
     "tails) or of the per-sample residuals with c, a status line and a prompt. Keys: F1 help, "
     "F2 save a checkpoint, F3 log-y, F4 histogram, F5 pause, F10 stop (or Esc then 1 2 3 4 5 "
     "0); Ctrl-C stops as in tr:run; other keys go to the prompt. Without a terminal (or with "
     "TERM=dumb) it prints progress lines instead. tr:run{dash=true} calls it; lctw --dash sets "
     "lctw.dash.default = true (dashboard unless dash=false), --ascii sets lctw.dash.ascii."},
    {"_cols", l_dash_cols, "lctw.dash._cols() -> the terminal's width (0 when not open)"},
    {"_usable", l_dash_usable, "lctw.dash._usable() -> bool: stdout and stdin are terminals"},
    {"_open", l_dash_open_screen,
     "lctw.dash._open(ascii [, {prompt=true}]): enters curses mode (ASCII glyphs when ascii). "
     "prompt=false (a viewer such as lctw --attach): no output pane and prompt line, and plain q "
     "also quits. The series are kept; lctw.dash._reset() clears them."},
    {"_close", l_dash_close, "lctw.dash._close(): restores the terminal"},
    {"_push", l_dash_push,
     "lctw.dash._push(m): adds one step: m is the table tr:step() returns or a decoded "
     "metrics.jsonl line (step, loss_ct, loss_diff, diff_count, c, frac_over_c, skipped, "
     "latent_mean, latent_std, latent_kurtosis, latent_tail3, latent_tail5, latent_hist={lo=, "
     "hi=, counts=}, resid_hist={lo=, hi=, counts=}; loss stands in for a missing loss_ct). "
     "Missing values are gaps; skipped steps and steps with diff_count = 0 leave gaps in the "
     "loss charts."},
    {"_schedule", l_dash_schedule,
     "lctw.dash._schedule(s): the plan shown in the c panel: s = tr:schedule() ({total_steps=, "
     "stages={{stage=, N=, start_step=, c=}, ...}}) or run.json's object (schedule= instead of "
     "stages=)."},
    {"_reset", l_dash_reset,
     "lctw.dash._reset(): clears the series, histograms and statistics (the plan stays)"},
    {"_draw", l_dash_draw,
     "lctw.dash._draw(status_line, paused): redraws the panels, the output pane and the prompt"},
    {"_poll", l_dash_poll,
     "lctw.dash._poll([timeout_ms]) -> nil | \"quit\" | \"pause\" | \"save\" | \"logy\" | "
     "\"hist\" | \"help\" | \"resize\" | \"other\" | \"line\", text\n\nOne key: F1/Esc 1 help, "
     "F2/Esc 2 save, F3/Esc 3 logy, F4/Esc 4 hist, F5/Esc 5 pause, F10/Esc 0 quit (and q "
     "without a prompt). Any other key goes to the prompt: \"other\" (its line changed: redraw) "
     "or \"line\" with a complete line. log-y, the histogram and help toggle inside."},
    {NULL, NULL, NULL},
};

void l_dash_open(lua_State *L) {
    l_register(L, -1, funcs);
    l_dash_prompt_open(L); /* the prompt's primitives: _call, _print, ... (l_dash_prompt.c) */
}
