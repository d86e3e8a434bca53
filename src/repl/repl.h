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

/* Like lctw_repl_docall (narg arguments over the function on top; every result, LUA_MULTRET), for
 * code run while other code is inside lctw_repl_docall — a line typed into the dashboard while
 * training runs. The function runs on a fresh Lua thread, so its traceback shows its own frames
 * only, and Ctrl-C stops only it: the outer call's interrupt state (flag, hook) is kept. A yield
 * at its top level is an error. lctw_repl_was_interrupted() tells whether Ctrl-C stopped it. */
int lctw_repl_docall_isolated(lua_State *L, int narg);

/* Compiles a typed chunk as the REPL does (`return <chunk>` first, "=expr", "?x" -> help(x)).
 * Returns 1 with the function pushed, 0 with the syntax error pushed, -1 (nothing pushed) when
 * the chunk is incomplete (its error is at <eof>: it continues on the next line). Also
 * require("lctw.repl").compile(chunk). */
int lctw_repl_compile(lua_State *L, const char *chunk, size_t len);

/* ---- shared with the dashboard's prompt (src/dash/prompt.c) ---- */

/* Readline's attempted-completion function: globals (or lctw.repl.scope, a table whose __index
 * reaches the globals, when set), fields and methods through __index tables, keywords. Never
 * runs user code. */
char **lctw_repl_completion(const char *text, int start, int end);
/* The characters that end a word for completion. */
extern const char lctw_repl_word_breaks[];
/* What a list of matches shows of one: its last component ("zeros(" for "lctw.tensor.zeros("). */
const char *lctw_repl_match_tail(const char *match);
/* Loads the history file once ($LCTW_HISTORY, default ~/.lctw_history; empty: none) and sets the
 * history options (multi-line entries, at most 1000). */
void lctw_repl_history_load(void);
/* Adds a chunk to the history (not blanks, not a repeat of the last entry) and appends it to the
 * file at once. */
void lctw_repl_history_add(const char *chunk);

/* Runs the read-eval-print loop until end of input (Ctrl-D): readline with prompts, completion
 * and history when stdin is a terminal, plain lines without prompts otherwise. Runs the rc file
 * first (LCTW_RC, default ~/.lctwrc.lua). On a terminal it prints the banner first (without the
 * version line when version_shown). */
void lctw_repl_run(lua_State *L, int version_shown);

#endif
