/* repl.h — the interactive front end: protected calls with Ctrl-C, the GNU Readline REPL, Tab
 * completion, persistent history, ~/.lctwrc.lua.
 *
 * Semantics follow the standalone `lua` program (lua.c 5.4): tracebacks through a message
 * handler, SIGINT stops Lua code through a debug hook, `return <line>` is tried first, a chunk
 * whose parse error ends in <eof> continues on a second prompt. Ctrl-C also sets
 * lctw_interrupt_flag (core/interrupt.h) so long C loops stop cleanly. src/main.c parses the
 * command line and calls in here.
 */
#ifndef LCTW_REPL_H
#define LCTW_REPL_H

#include <lua.h>

/* Installs the SIGINT handler (never kills the process: it sets flags and a Lua hook while code
 * runs) and loads the Lua side (lua/lctw/repl.lua, with `complete` added). Call once, after
 * lctw_lua_open. Raises on failure. */
void lctw_repl_init(lua_State *L);

/* lua_pcall of the function below the narg arguments on top, with the traceback message handler
 * and Ctrl-C armed (flag and hook cleared first). On error the stack holds one string: the
 * message and a traceback without the frames of the caller. */
int lctw_repl_docall(lua_State *L, int narg, int nres);

/* 1 if Ctrl-C was pressed during the last lctw_repl_docall. */
int lctw_repl_was_interrupted(void);

/* If status is not LUA_OK, prints "progname: message" (no prefix when progname is NULL) on
 * stderr and pops the message. Returns status. */
int lctw_repl_report(lua_State *L, int status, const char *progname);

/* Pushes the version line ("lctw 0.1.0 — Lua 5.4.4 — cpu (…) — cuda: …"). */
void lctw_repl_push_version(lua_State *L);

/* Runs the read-eval-print loop until end of input (Ctrl-D): readline with prompts, completion
 * and history when stdin is a terminal, plain lines without prompts otherwise. Runs the rc file
 * first (LCTW_RC, default ~/.lctwrc.lua). On a terminal it prints the banner first (without the
 * version line when version_shown). */
void lctw_repl_run(lua_State *L, int version_shown);

#endif
