/* l_dash_prompt.c — the Lua side of the dashboard's prompt (src/dash/prompt.h): the primitives
 * lua/lctw/dash_repl.lua uses to run a typed line between two training steps. They are added to
 * lctw.dash by l_dash_prompt_open (called from l_dash_open).
 *
 * lctw.dash._call runs typed code the way the plain REPL does (lctw_repl_docall_isolated: a
 * traceback of its own frames, Ctrl-C stops only it) with file descriptors 1 and 2 sent to a
 * temporary file, so that everything it writes — print, io.write, io.stderr, C code's printf —
 * lands in the output pane instead of on top of the curses screen. The descriptors are restored
 * before _call returns, whatever the code did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dash/prompt.h"
#include "lctw_lua.h"
#include "repl/repl.h"

#define CAPTURE_MAX (256 * 1024) /* bytes of captured output kept (the end of it) */

typedef struct {
    FILE *file;
    int out, err; /* the saved descriptors 1 and 2; -1: not captured */
} capture;

static void capture_begin(capture *c) {
    c->out = c->err = -1;
    fflush(stdout);
    fflush(stderr);
    c->file = tmpfile();
    if (!c->file) return; /* no temporary file: the output goes where it went */
    c->out = dup(STDOUT_FILENO);
    c->err = dup(STDERR_FILENO);
    if (c->out < 0 || c->err < 0 || dup2(fileno(c->file), STDOUT_FILENO) < 0) {
        if (c->out >= 0) close(c->out);
        if (c->err >= 0) close(c->err);
        c->out = c->err = -1;
        return;
    }
    dup2(fileno(c->file), STDERR_FILENO);
}

/* Restores the descriptors and returns what was written (malloc'd; NULL when nothing). */
static char *capture_end(capture *c, size_t *len) {
    *len = 0;
    if (c->out < 0) {
        if (c->file) fclose(c->file);
        return NULL;
    }
    fflush(stdout);
    fflush(stderr);
    dup2(c->out, STDOUT_FILENO);
    dup2(c->err, STDERR_FILENO);
    close(c->out);
    close(c->err);
    char *text = NULL;
    long size = fseek(c->file, 0, SEEK_END) == 0 ? ftell(c->file) : -1; /* written via the fd */
    if (size > 0) {
        long keep = size > CAPTURE_MAX ? CAPTURE_MAX : size;
        text = malloc((size_t)keep + 1);
        if (text && fseek(c->file, size - keep, SEEK_SET) == 0) {
            *len = fread(text, 1, (size_t)keep, c->file);
            text[*len] = 0;
        }
    }
    fclose(c->file);
    return text;
}

/* _call(f, ...) -> output, true, results... | output, false, message, interrupted */
static int l_dash_call(lua_State *L) {
    luaL_checkany(L, 1);
    int narg = lua_gettop(L) - 1;
    capture c;
    capture_begin(&c);
    int st = lctw_repl_docall_isolated(L, narg);
    size_t len;
    char *text = capture_end(&c, &len);
    int interrupted = lctw_repl_was_interrupted();
    lua_pushlstring(L, text ? text : "", len);
    free(text);
    lua_insert(L, 1);
    lua_pushboolean(L, st == LUA_OK);
    lua_insert(L, 2);
    if (st != LUA_OK) {
        lua_settop(L, 3);
        lua_pushboolean(L, interrupted);
    }
    return lua_gettop(L);
}

static int l_dash_print(lua_State *L) {
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        lctw_dash_prompt_print(luaL_tolstring(L, i, NULL));
        lua_pop(L, 1); /* the stack only has room for a few more values than the arguments */
    }
    return 0;
}

static int l_dash_prompt(lua_State *L) {
    lctw_dash_prompt_set(luaL_optstring(L, 1, NULL));
    return 0;
}

static int l_dash_prompt_dirty(lua_State *L) {
    lua_pushboolean(L, lctw_dash_prompt_dirty());
    return 1;
}

static int l_dash_pane_width(lua_State *L) {
    lua_pushinteger(L, lctw_dash_prompt_pane_width());
    return 1;
}

static int l_dash_pane_text(lua_State *L) {
    char *text = lctw_dash_prompt_scrollback((int)luaL_optinteger(L, 1, 0));
    if (!text) return luaL_error(L, "lctw.dash._pane_text: not enough memory");
    lua_pushstring(L, text);
    free(text);
    return 1;
}

static int l_dash_history_add(lua_State *L) {
    lctw_repl_history_add(luaL_checkstring(L, 1));
    return 0;
}

static const l_reg funcs[] = {
    {"_call", l_dash_call,
     "lctw.dash._call(f, ...) -> output, true, results... | output, false, message, interrupted"
     "\n\nRuns f as the REPL runs a line (traceback, Ctrl-C stops only f) with stdout and stderr "
     "captured: output is everything f wrote."},
    {"_print", l_dash_print, "lctw.dash._print(text, ...): appends text to the output pane"},
    {"_prompt", l_dash_prompt,
     "lctw.dash._prompt([text]): the prompt text from now on (none: the first one)"},
    {"_prompt_dirty", l_dash_prompt_dirty,
     "lctw.dash._prompt_dirty() -> bool: the prompt line or the output pane changed since the "
     "last draw"},
    {"_pane_width", l_dash_pane_width, "lctw.dash._pane_width() -> columns of the output pane"},
    {"_pane_text", l_dash_pane_text,
     "lctw.dash._pane_text([n]) -> the newest n lines of the output pane (all by default)"},
    {"_history_add", l_dash_history_add,
     "lctw.dash._history_add(chunk): adds a chunk to the REPL's history (and its file)"},
    {NULL, NULL, NULL},
};

void l_dash_prompt_open(lua_State *L) { l_register(L, -1, funcs); }
