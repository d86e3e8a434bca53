/* repl.c — the interactive front end (see repl.h).
 *
 * Ctrl-C. The SIGINT handler never does more than lua.c's does: it sets flags and, while Lua code
 * runs, installs a debug hook (lua_sethook is safe to call from a signal handler) that raises
 * "interrupted" at the next instruction, and sets lctw_interrupt_flag so C loops return
 * LCTW_EINTR. At the prompt it only sets a flag: readline runs through its callback interface
 * (rl_callback_handler_install + pselect), so the line is reset in the main loop, not in the
 * handler. The handler stays installed, so a second Ctrl-C never kills the process.
 *
 * Reading a line installs the readline handler, feeds it characters until the line is complete,
 * and removes it again: code always runs with the terminal in its normal (cooked) mode, so
 * io.read, os.exit and Ctrl-C behave as in a plain program.
 *
 * Completion walks tables with lua_rawget/lua_next and follows a metatable's __index only when it
 * is a table (or its __methods table): completing never runs user code.
 *
 * The dashboard's prompt (src/dash/prompt.c, lua/lctw/dash_repl.lua) shares the pieces that are
 * not about the terminal: the completion function, the history, compiling a typed chunk, and
 * lctw_repl_docall_isolated for a line typed while training runs under lctw_repl_docall.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "core/interrupt.h"
#include "lua/lctw_lua.h"
#include "repl/repl.h"

#define CHUNKNAME "=stdin"
#define PROMPT1 "> "
#define PROMPT2 ">> "
#define HISTORY_MAX 1000
#define MAX_HOPS 16 /* __index tables followed when completing */

#ifdef LCTW_OPENBLAS
int openblas_get_num_threads(void);
#endif

static lua_State *g_L;
static pthread_t g_main_thread;
static volatile sig_atomic_t g_running;  /* Lua code runs under lctw_repl_docall */
static volatile sig_atomic_t g_sigint;   /* Ctrl-C not yet handled by the reader */
static volatile sig_atomic_t g_int_seen; /* Ctrl-C during the current docall */
static volatile sig_atomic_t g_int_hard; /* a second one: stop whatever the code catches */
static volatile sig_atomic_t g_sigwinch; /* terminal resized */
static volatile sig_atomic_t g_term_sig; /* SIGTSTP, SIGTERM or SIGHUP at the prompt */
static volatile sig_atomic_t g_last_int; /* Ctrl-C stopped the last lctw_repl_docall* */
static lua_State *volatile g_hook_L;     /* the thread Ctrl-C's hook goes to (NULL: g_L) */
static char *g_hist_path;                /* NULL: no history file */
static int g_hist_loaded;

static const char REPL_KEY = 'r'; /* registry key (its address) of the lctw.repl module */

static void push_repl_field(lua_State *L, const char *name);
static int l_compile(lua_State *L);

/* ---- signals and protected calls ------------------------------------------------------------ */

static int msgh(lua_State *L);

/* The hook of the first Ctrl-C raises "interrupted" once, like lua.c's. Code can catch that (a
 * loop around pcall); a second Ctrl-C makes the hook raise at every instruction until the error
 * reaches lctw_repl_docall, whose message handler switches it off. */
static void hook_stop(lua_State *L, lua_Debug *ar) {
    if (g_int_hard) {
        if (ar->event == LUA_HOOKCALL && lua_getinfo(L, "f", ar)) {
            int is_msgh = lua_tocfunction(L, -1) == msgh;
            lua_pop(L, 1);
            if (is_msgh) {
                lua_sethook(L, NULL, 0, 0);
                return;
            }
        }
    } else {
        lua_sethook(L, NULL, 0, 0);
    }
    luaL_where(L, 0); /* the interrupted function: "stdin:3: interrupted" */
    lua_pushliteral(L, "interrupted");
    lua_concat(L, 2);
    lua_error(L);
}

static void on_sigint(int sig) {
    /* A process-wide signal may land on any thread that does not block it (OpenBLAS workers):
     * send it on to the main thread, whose pselect must wake up. */
    if (!pthread_equal(pthread_self(), g_main_thread)) {
        pthread_kill(g_main_thread, sig);
        return;
    }
    g_sigint = 1;
    if (g_running) {
        if (g_int_seen) g_int_hard = 1;
        g_int_seen = 1;
        lctw_interrupt_flag = 1;
        lua_sethook(g_hook_L ? g_hook_L : g_L, hook_stop,
                    LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
    }
}

static void on_sigwinch(int sig) {
    (void)sig;
    g_sigwinch = 1;
}

static void on_term_sig(int sig) {
    if (!pthread_equal(pthread_self(), g_main_thread))
        pthread_kill(g_main_thread, sig);
    else
        g_term_sig = sig;
}

static int tolstring_cf(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

/* Drops the frames of whoever called lctw_repl_docall ("[C]: in ?") from the traceback on top,
 * and the "stack traceback:" header if nothing is left under it. */
static void trim_traceback(lua_State *L) {
    static const char tail[] = "\n\t[C]: in ?", head[] = "\nstack traceback:";
    size_t n, k;
    const char *s = lua_tolstring(L, -1, &n);
    k = n;
    while (k >= sizeof tail - 1 && !memcmp(s + k - (sizeof tail - 1), tail, sizeof tail - 1))
        k -= sizeof tail - 1;
    if (k >= sizeof head - 1 && !memcmp(s + k - (sizeof head - 1), head, sizeof head - 1))
        k -= sizeof head - 1;
    if (k != n) {
        lua_pushlstring(L, s, k);
        lua_remove(L, -2);
    }
}

/* Pushes the text of the error object at idx: itself if it is a string, else its __tostring, else
 * a description of its type. */
static const char *push_error_text(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    const char *msg = lua_tostring(L, idx);
    if (msg) {
        lua_pushvalue(L, idx);
        return lua_tostring(L, -1);
    }
    if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushcfunction(L, tolstring_cf);
        lua_pushvalue(L, idx);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
            return lua_tostring(L, -1);
        lua_pop(L, 1);
        return lua_pushfstring(L, "(error object is a %s value; its __tostring failed)",
                               luaL_typename(L, idx));
    }
    return lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
}

/* Message handler: any error object becomes a string, with a traceback. An object whose
 * __tostring fails (or returns no string) is described by its type instead. */
static int msgh(lua_State *L) {
    const char *msg = push_error_text(L, 1);
    luaL_traceback(L, L, msg, 1);
    trim_traceback(L);
    return 1;
}

int lctw_repl_docall(lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg; /* the function */
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    if (lua_gethook(L) == hook_stop) lua_sethook(L, NULL, 0, 0);
    lctw_interrupt_clear();
    g_int_seen = 0;
    g_int_hard = 0;
    g_running = 1;
    int status = lua_pcall(L, narg, nres, base);
    g_running = 0;
    /* a Ctrl-C that came after the code finished must not hit the next thing we run */
    if (lua_gethook(L) == hook_stop) lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    g_last_int = g_int_seen;
    return status;
}

int lctw_repl_docall_isolated(lua_State *L, int narg) {
    int base = lua_gettop(L) - narg; /* the function */
    lua_State *co = lua_newthread(L);
    lua_insert(L, base); /* keeps co alive under the function */
    if (!lua_checkstack(co, narg + 1)) {
        lua_settop(L, base - 1);
        lua_pushliteral(L, "too many arguments");
        g_last_int = 0;
        return LUA_ERRRUN;
    }
    lua_xmove(L, co, narg + 1);
    /* the outer call's state, put back afterwards: its Ctrl-C is not this one's */
    sig_atomic_t o_running = g_running, o_seen = g_int_seen, o_hard = g_int_hard;
    sig_atomic_t o_flag = lctw_interrupt_flag;
    lua_State *o_hook = g_hook_L;
    lctw_interrupt_clear();
    g_int_seen = 0;
    g_int_hard = 0;
    g_hook_L = co;
    g_running = 1;
    int nres = 0;
    int status = lua_resume(co, L, narg, &nres);
    g_running = o_running;
    g_hook_L = o_hook;
    int seen = g_int_seen;
    g_int_seen = o_seen;
    g_int_hard = o_hard;
    lctw_interrupt_flag = o_flag; /* this code's Ctrl-C stopped only this code */
    lua_sethook(co, NULL, 0, 0);
    if (status == LUA_OK && !lua_checkstack(L, nres + 1)) {
        lua_settop(L, base);
        lua_pushliteral(L, "too many results");
        status = LUA_ERRRUN;
    } else if (status == LUA_OK) {
        lua_xmove(co, L, nres);
    } else {
        if (status == LUA_YIELD) {
            lua_pushliteral(L, "attempt to yield from outside a coroutine");
        } else {
            /* co's stack is not unwound: its frames give the traceback */
            lua_xmove(co, L, 1); /* the error object */
            const char *msg = push_error_text(L, -1);
            luaL_traceback(L, co, msg, 0);
            trim_traceback(L);
            lua_replace(L, -3);
            lua_pop(L, 1);
        }
        lua_resetthread(co); /* closes its pending to-be-closed variables */
    }
    lua_remove(L, base); /* co */
    g_last_int = seen;
    return status == LUA_YIELD ? LUA_ERRRUN : status;
}

int lctw_repl_was_interrupted(void) { return g_last_int != 0; }

int lctw_repl_report(lua_State *L, int status, const char *progname) {
    if (status == LUA_OK) return status;
    const char *msg = lua_tostring(L, -1);
    fflush(stdout);
    if (progname) fprintf(stderr, "%s: ", progname);
    if (msg)
        fprintf(stderr, "%s\n", msg);
    else
        fprintf(stderr, "(error object is a %s value)\n", luaL_typename(L, -1));
    fflush(stderr);
    lua_pop(L, 1);
    return status;
}

/* ---- completion ----------------------------------------------------------------------------- */

static const char *const KEYWORDS[] = {
    "and",      "break",  "do",   "else", "elseif", "end",   "false", "for",
    "function", "goto",   "if",   "in",   "local",  "nil",   "not",   "or",
    "repeat",   "return", "then", "true", "until",  "while", NULL,
};

static int is_ident(const char *s, size_t n) {
    if (n == 0 || !(s[0] == '_' || ((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z'))) return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'))) return 0;
    }
    return 1;
}

/* Replaces the value on top with its metatable's __index when that is a table, or else with the
 * metatable's __methods table (a type whose __index is a function, like lctw.Tensor, lists its
 * methods there); otherwise pops it and returns 0. Never runs code: lua_getmetatable and
 * lua_rawget trigger no metamethods. */
static int next_index_table(lua_State *L) {
    if (!lua_getmetatable(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushliteral(L, "__index");
    int t = lua_rawget(L, -2);
    if (t != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_pushliteral(L, "__methods");
        t = lua_rawget(L, -2);
    }
    lua_remove(L, -2); /* the metatable */
    lua_remove(L, -2); /* the value */
    if (t != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Replaces the value on top with its field k, found in the value itself (a table) or in the
 * chain of __index tables. Returns 0 (value popped) if not found that way. */
static int raw_lookup(lua_State *L, const char *k, size_t kl) {
    for (int hop = 0; hop < MAX_HOPS; hop++) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushlstring(L, k, kl);
            if (lua_rawget(L, -2) != LUA_TNIL) {
                lua_remove(L, -2);
                return 1;
            }
            lua_pop(L, 1);
        }
        if (!next_index_table(L)) return 0;
    }
    lua_pop(L, 1);
    return 0;
}

static int has_call(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return 0;
    lua_pushliteral(L, "__call");
    int t = lua_rawget(L, -2);
    lua_pop(L, 2);
    return t != LUA_TNIL;
}

/* Adds to the set at index `set` (name -> suffix) the identifier keys starting with pre of the
 * value on top and of its __index tables; pops the value. methods: callable values only.
 * Names starting with "_" are left out unless pre starts with "_". */
static void add_names(lua_State *L, int set, const char *pre, size_t pl, int methods) {
    for (int hop = 0; hop < MAX_HOPS; hop++) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                if (lua_type(L, -2) == LUA_TSTRING) {
                    size_t kl;
                    const char *k = lua_tolstring(L, -2, &kl);
                    int vt = lua_type(L, -1);
                    int callable = vt == LUA_TFUNCTION || has_call(L, -1);
                    if (kl >= pl && !memcmp(k, pre, pl) && is_ident(k, kl) &&
                        (k[0] != '_' || (pl > 0 && pre[0] == '_')) && (!methods || callable)) {
                        lua_pushvalue(L, -2);
                        if (lua_rawget(L, set) == LUA_TNIL) {
                            lua_pushvalue(L, -3);
                            lua_pushstring(L, callable ? "(" : vt == LUA_TTABLE ? "." : "");
                            lua_rawset(L, set);
                        }
                        lua_pop(L, 1);
                    }
                }
                lua_pop(L, 1);
            }
        }
        if (!next_index_table(L)) return;
    }
    lua_pop(L, 1);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* complete(text) -> {candidates}: what Tab offers for the word `text` ("lctw.tensor.ze",
 * "t:su", "pri"), each the whole word with the end added, and a suffix: "(" for a function,
 * "." for a table. Sorted. */
static int l_complete(lua_State *L) {
    size_t n;
    const char *text = luaL_checklstring(L, 1, &n);
    lua_settop(L, 1);
    lua_newtable(L); /* 2: set name -> suffix */
    const char *sep = NULL;
    for (size_t i = 0; i < n; i++)
        if (text[i] == '.' || text[i] == ':') sep = text + i;
    const char *pre = sep ? sep + 1 : text;
    size_t pl = (size_t)(text + n - pre);
    push_repl_field(L, "scope"); /* the dashboard's names (tr, m) over the globals */
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_pushglobaltable(L);
    }
    if (sep) {
        /* resolve the path before sep: identifiers joined by '.' */
        const char *p = text;
        for (;;) {
            const char *e = p;
            while (e < sep && *e != '.' && *e != ':')
                e++;
            if (!is_ident(p, (size_t)(e - p)) || (e < sep && *e == ':')) {
                lua_pop(L, 1);
                lua_newtable(L);
                return 1;
            }
            if (!raw_lookup(L, p, (size_t)(e - p))) {
                lua_newtable(L);
                return 1;
            }
            if (e == sep) break;
            p = e + 1;
        }
        add_names(L, 2, pre, pl, *sep == ':');
    } else {
        add_names(L, 2, pre, pl, 0);
        for (const char *const *kw = KEYWORDS; *kw; kw++) {
            if (strncmp(*kw, pre, pl)) continue;
            lua_pushstring(L, *kw);
            lua_pushliteral(L, "");
            lua_rawset(L, 2);
        }
    }
    /* sort the names (pointers into the keys of the set, which stays on the stack) */
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        count++;
    }
    const char **names = lua_newuserdatauv(L, (count ? count : 1) * sizeof *names, 0); /* 3 */
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        names[i++] = lua_tostring(L, -1);
    }
    qsort(names, count, sizeof *names, cmp_str);
    lua_createtable(L, (int)count, 0); /* 4 */
    for (i = 0; i < count; i++) {
        lua_pushlstring(L, text, (size_t)(pre - text));
        lua_pushstring(L, names[i]);
        lua_pushstring(L, names[i]);
        lua_rawget(L, 2);
        lua_concat(L, 3);
        lua_rawseti(L, 4, (lua_Integer)i + 1);
    }
    return 1;
}

/* lua_pcall target for readline: the word is a C string in a light userdata, so nothing that
 * can fail runs outside the protected call. */
static int complete_protected(lua_State *L) {
    const char *text = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_pushcfunction(L, l_complete);
    lua_pushstring(L, text);
    lua_call(L, 1, 1);
    return 1;
}

char **lctw_repl_completion(const char *text, int start, int end) {
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    rl_completion_append_character = '\0';
    rl_completion_suppress_append = 1;
    lua_State *L = g_L;
    if (!L) return NULL; /* lctw_repl_init not called */
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 8)) return NULL;
    lua_pushcfunction(L, complete_protected);
    lua_pushlightuserdata(L, (void *)text);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        lua_settop(L, top);
        return NULL;
    }
    int n = (int)lua_rawlen(L, -1);
    char **m = n ? calloc((size_t)n + 2, sizeof *m) : NULL;
    if (!m) {
        lua_settop(L, top);
        return NULL;
    }
    int ok = 1;
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        ok = ok && (m[i] = strdup(lua_tostring(L, -1))) != NULL;
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    if (!ok) {
        for (int i = 1; i <= n; i++)
            free(m[i]);
        free(m);
        return NULL;
    }
    if (n == 1) {
        m[0] = m[1];
        m[1] = NULL;
        return m;
    }
    /* m[0]: the longest common prefix, which readline puts in the line */
    size_t l = strlen(m[1]);
    for (int i = 2; i <= n; i++) {
        size_t k = 0;
        while (k < l && m[i][k] == m[1][k])
            k++;
        l = k;
    }
    if (!(m[0] = strndup(m[1], l))) {
        for (int i = 1; i <= n; i++)
            free(m[i]);
        free(m);
        return NULL;
    }
    return m;
}

const char lctw_repl_word_breaks[] = " \t\n\"'`@$><=;|&{}()[],+-*/%^~#!?";

const char *lctw_repl_match_tail(const char *match) {
    const char *t = match;
    for (const char *p = match; *p && p[1]; p++) /* a table's own trailing '.' stays in its name */
        if (*p == '.' || *p == ':') t = p + 1;
    return t;
}

/* Lists matches by their last component ("zeros(" rather than "lctw.tensor.zeros("). */
static void display_cb(char **matches, int num, int max_length) {
    (void)max_length;
    char **tails = calloc((size_t)num + 2, sizeof *tails);
    if (!tails) return;
    int maxl = 0;
    for (int i = 0; i <= num; i++) {
        tails[i] = (char *)lctw_repl_match_tail(matches[i]);
        int l = (int)strlen(tails[i]);
        if (i > 0 && l > maxl) maxl = l;
    }
    rl_display_match_list(tails, num, maxl);
    rl_forced_update_display();
    free(tails);
}

/* ---- start-up ------------------------------------------------------------------------------- */

void lctw_repl_init(lua_State *L) {
    g_L = L;
    g_main_thread = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking read returns, then the hook fires */
    sigaction(SIGINT, &sa, NULL);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "lctw.repl");
    lua_call(L, 1, 1);
    lua_pushcfunction(L, l_complete);
    l_sethelp(L, -1,
              "repl.complete(text) -> {candidates}\n\nWhat Tab offers for the word text "
              "(\"lctw.tensor.ze\", \"t:su\"): globals, fields and methods through __index "
              "tables (never calling code), and keywords. A function ends in \"(\", a table in "
              "\".\".");
    lua_setfield(L, -2, "complete");
    lua_pushcfunction(L, l_compile);
    l_sethelp(L, -1,
              "repl.compile(chunk) -> f | nil, message | false\n\nCompiles typed input as the "
              "REPL does: `return <chunk>` first, then the statement; \"=expr\"; \"?x\" for "
              "help(x). false: the chunk is incomplete (its syntax error is at <eof>) and "
              "continues on the next line.");
    lua_setfield(L, -2, "compile");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &REPL_KEY);
}

static void push_repl_field(lua_State *L, const char *name) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &REPL_KEY);
    if (lua_type(L, -1) == LUA_TTABLE)
        lua_getfield(L, -1, name);
    else
        lua_pushnil(L);
    lua_remove(L, -2);
}

static int cpu_threads(void) {
#ifdef LCTW_OPENBLAS
    int n = openblas_get_num_threads();
#else
    int n = (int)sysconf(_SC_NPROCESSORS_ONLN);
#endif
    return n > 0 ? n : 1;
}

void lctw_repl_push_version(lua_State *L) {
    push_repl_field(L, "version_line");
    lua_pushinteger(L, cpu_threads());
    lua_call(L, 1, 1);
}

/* ---- reading lines -------------------------------------------------------------------------- */

typedef struct {
    lua_State *L;
    int tty;   /* stdin is a terminal: readline, prompts, history */
    char *buf; /* the chunk typed so far */
    size_t len, cap;
    int pending; /* buf holds an incomplete chunk */
} repl;

static char *g_line;
static int g_line_done;

static void line_handler(char *line) {
    g_line = line;
    g_line_done = 1;
    rl_callback_handler_remove();
}

/* One line from readline; NULL at end of input. *cancelled: Ctrl-C threw the line away. */
static char *read_tty(const char *prompt, int *cancelled) {
    static const int term_sigs[] = {SIGTSTP, SIGTERM, SIGHUP};
    enum { NTERM = sizeof term_sigs / sizeof term_sigs[0] };
    struct sigaction sa, saved[NTERM];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term_sig;
    sigemptyset(&sa.sa_mask);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGWINCH);
    for (int i = 0; i < NTERM; i++)
        sigaddset(&block, term_sigs[i]);
    pthread_sigmask(SIG_BLOCK, &block, &old); /* delivered only inside pselect: no lost wake-up */
    for (int i = 0; i < NTERM; i++)
        sigaction(term_sigs[i], &sa, &saved[i]);
    /* SIGWINCH is ours only at the prompt: a dashboard run from a line needs curses' handler,
     * which curses installs only over the default one */
    struct sigaction wa, saved_winch;
    memset(&wa, 0, sizeof wa);
    wa.sa_handler = on_sigwinch;
    sigemptyset(&wa.sa_mask);
    wa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &wa, &saved_winch);
    if (rl_instream) rl_reset_screen_size(); /* readline is set up; code may have resized */
    g_term_sig = 0;
    g_sigint = 0;
    g_line = NULL;
    g_line_done = 0;
    int fd = fileno(rl_instream ? rl_instream : stdin);
    rl_callback_handler_install(prompt, line_handler);
    while (!g_line_done) {
        if (g_sigint) {
            g_sigint = 0;
            rl_point = rl_end; /* leave what was typed visible, move below it */
            rl_redisplay();
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_callback_handler_remove();
            using_history();
            fputc('\n', rl_outstream ? rl_outstream : stdout);
            *cancelled = 1;
            break;
        }
        if (g_sigwinch) {
            g_sigwinch = 0;
            rl_resize_terminal();
        }
        if (g_term_sig) { /* Ctrl-Z, kill, hang-up: give the terminal back first */
            int sig = g_term_sig;
            g_term_sig = 0;
            rl_deprep_terminal();
            if (sig != SIGTSTP) fputc('\n', rl_outstream ? rl_outstream : stdout);
            sigaction(sig, &saved[sig == SIGTSTP ? 0 : sig == SIGTERM ? 1 : 2], NULL);
            sigset_t one;
            sigemptyset(&one);
            sigaddset(&one, sig);
            raise(sig);
            pthread_sigmask(SIG_UNBLOCK, &one, NULL); /* stops (or ends) the process here */
            pthread_sigmask(SIG_BLOCK, &one, NULL);
            sigaction(sig, &sa, NULL);
            rl_prep_terminal(1); /* continued after Ctrl-Z */
            rl_forced_update_display();
        }
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = pselect(fd + 1, &fds, NULL, NULL, NULL, &old);
        if (r < 0 && errno != EINTR) {
            rl_callback_handler_remove();
            break; /* input is gone: end of input */
        }
        if (r > 0) rl_callback_read_char();
    }
    for (int i = 0; i < NTERM; i++)
        sigaction(term_sigs[i], &saved[i], NULL);
    sigaction(SIGWINCH, &saved_winch, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return g_line;
}

/* One line of stdin without prompts (not a terminal). */
static char *read_plain(int *cancelled) {
    char *line = NULL;
    size_t cap = 0;
    g_sigint = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        if (g_sigint && ferror(stdin)) {
            clearerr(stdin);
            *cancelled = 1;
        }
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
    if (n > 0 && line[n - 1] == '\r') line[--n] = 0;
    return line;
}

/* ---- history -------------------------------------------------------------------------------- */

static char *path_from_env(const char *var, const char *file) {
    const char *v = getenv(var);
    if (v) return *v ? strdup(v) : NULL; /* set but empty: disabled */
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    char *p = malloc(strlen(home) + strlen(file) + 2);
    if (p) sprintf(p, "%s/%s", home, file);
    return p;
}

void lctw_repl_history_load(void) {
    if (g_hist_loaded) return;
    g_hist_loaded = 1;
    /* each entry is written after a "#<time>" line, so a multi-line chunk reads back as one */
    history_comment_char = '#';
    history_write_timestamps = 1;
    history_multiline_entries = 1;
    stifle_history(HISTORY_MAX);
    g_hist_path = path_from_env("LCTW_HISTORY", ".lctw_history");
    if (!g_hist_path) return;
    if (read_history(g_hist_path) == 0 && history_base > 1)
        write_history(g_hist_path); /* it held more than HISTORY_MAX entries: keep the newest */
}

void lctw_repl_history_add(const char *chunk) {
    if (!chunk[strspn(chunk, " \t\r\n")]) return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && !strcmp(last->line, chunk)) return;
    add_history(chunk);
    using_history(); /* Up starts from this entry (a prompt may already be waiting) */
    if (!g_hist_path) return;
    int fd = open(g_hist_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        close(fd);
        append_history(1, g_hist_path); /* now, so a killed session keeps its history */
    }
}

/* ---- evaluating ----------------------------------------------------------------------------- */

static int buf_append(repl *r, const char *s, size_t n) {
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (r->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(r->buf, cap);
        if (!b) return 0;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    r->buf[r->len] = 0;
    return 1;
}

/* The chunk is incomplete when its syntax error is at the end of the input. */
static int is_incomplete(lua_State *L) {
    size_t n;
    const char *msg = lua_tolstring(L, -1, &n);
    return msg && n >= 5 && !strcmp(msg + n - 5, "<eof>");
}

static int load_with_prefix(lua_State *L, const char *prefix, const char *s, size_t n) {
    size_t pl = strlen(prefix);
    char *code = malloc(pl + n + 1);
    if (!code) {
        lua_pushliteral(L, "not enough memory");
        return LUA_ERRMEM;
    }
    memcpy(code, prefix, pl);
    memcpy(code + pl, s, n);
    code[pl + n] = 0;
    int st = luaL_loadbuffer(L, code, pl + n, CHUNKNAME);
    free(code);
    return st;
}

int lctw_repl_compile(lua_State *L, const char *chunk, size_t len) {
    const char *s = chunk + strspn(chunk, " \t");
    size_t n = len - (size_t)(s - chunk);
    if (s[0] == '?') { /* ?x -> help(x) */
        s++;
        n--;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && strchr(" \t\r\n;", s[n - 1]))
            n--;
        char *code = malloc(n + 8);
        if (!code) return lua_pushliteral(L, "not enough memory"), 0;
        int k = sprintf(code, "help(");
        memcpy(code + k, s, n);
        memcpy(code + k + n, ")", 2);
        int st = luaL_loadbuffer(L, code, n + 6, CHUNKNAME);
        free(code);
        if (st == LUA_OK) return 1;
        if (is_incomplete(L)) return lua_pop(L, 1), -1;
        return 0;
    }
    if (s[0] == '=') { /* =expr, as in Lua 5.1-5.3 */
        if (load_with_prefix(L, "return ", s + 1, n - 1) == LUA_OK) return 1;
        if (is_incomplete(L)) return lua_pop(L, 1), -1;
        return 0;
    }
    /* an expression first, so `1+1` prints 2; then a statement */
    if (load_with_prefix(L, "return ", s, n) == LUA_OK) return 1;
    int ret_incomplete = is_incomplete(L);
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, s, n, CHUNKNAME) == LUA_OK) return 1;
    if (is_incomplete(L) || ret_incomplete) return lua_pop(L, 1), -1;
    return 0;
}

/* Compiles the chunk in r->buf (see lctw_repl_compile). */
static int compile(repl *r) { return lctw_repl_compile(r->L, r->buf, r->len); }

/* compile(chunk) -> f | nil, message | false (incomplete) */
static int l_compile(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    int c = lctw_repl_compile(L, s, n);
    if (c > 0) return 1;
    if (c < 0) return lua_pushboolean(L, 0), 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static int ends_with_semicolon(const repl *r) {
    size_t n = r->len;
    while (n && strchr(" \t\r\n", r->buf[n - 1]))
        n--;
    return n && r->buf[n - 1] == ';';
}

static int print_results_fallback(lua_State *L) {
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return 1;
}

/* Runs the function on top; prints its results unless quiet. */
static void run_chunk(repl *r, int quiet) {
    lua_State *L = r->L;
    int base = lua_gettop(L) - 1;
    int st = lctw_repl_docall(L, 0, LUA_MULTRET);
    if (st != LUA_OK) {
        if (r->tty && lctw_repl_was_interrupted()) fputc('\n', stderr); /* after the echoed ^C */
        lctw_repl_report(L, st, NULL);
        lua_settop(L, base);
        return;
    }
    int n = lua_gettop(L) - base;
    if (n > 0 && !quiet) {
        int rows, cols;
        if (r->tty && (rl_get_screen_size(&rows, &cols), cols >= 40)) { /* tables fill the width */
            push_repl_field(L, "options");
            if (lua_istable(L, -1)) {
                lua_pushliteral(L, "width");
                lua_pushinteger(L, cols);
                lua_rawset(L, -3);
            }
            lua_pop(L, 1);
        }
        push_repl_field(L, "format_results");
        if (!lua_isfunction(L, -1)) {
            lua_pop(L, 1);
            lua_pushcfunction(L, print_results_fallback);
        }
        lua_insert(L, base + 1);
        st = lctw_repl_docall(L, n, 1);
        if (st == LUA_OK) {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            if (s) {
                fwrite(s, 1, len, stdout);
                fputc('\n', stdout);
            }
        } else {
            lctw_repl_report(L, st, NULL);
        }
    }
    lua_settop(L, base);
    fflush(stdout);
}

/* Adds a line to the chunk and runs it once it is complete. */
static void handle_line(repl *r, const char *line) {
    if (r->pending) {
        if (!buf_append(r, "\n", 1)) goto oom;
    } else {
        r->len = 0;
    }
    if (!buf_append(r, line, strlen(line))) goto oom;
    int c = compile(r);
    if (c < 0) {
        r->pending = 1;
        return;
    }
    r->pending = 0;
    if (r->tty) lctw_repl_history_add(r->buf);
    if (c == 0) {
        lctw_repl_report(r->L, LUA_ERRSYNTAX, NULL);
        return;
    }
    run_chunk(r, ends_with_semicolon(r));
    return;
oom:
    r->pending = 0;
    r->len = 0;
    fprintf(stderr, "not enough memory for the input line\n");
}

/* handle_line under lua_pcall: whatever fails outside the user's code (memory) is reported and
 * the session goes on. */
static int handle_line_cf(lua_State *L) {
    repl *r = lua_touserdata(L, 1);
    const char *line = lua_touserdata(L, 2);
    lua_settop(L, 0);
    handle_line(r, line);
    return 0;
}

/* ~/.lctwrc.lua (or $LCTW_RC; empty: none). A missing default file is not an error. */
static void run_rc(lua_State *L) {
    int explicit = getenv("LCTW_RC") != NULL;
    char *path = path_from_env("LCTW_RC", ".lctwrc.lua");
    if (!path) return;
    if (explicit || access(path, F_OK) == 0) {
        int st = luaL_loadfile(L, path);
        if (st == LUA_OK) st = lctw_repl_docall(L, 0, 0);
        lctw_repl_report(L, st, "lctw");
    }
    free(path);
}

void lctw_repl_run(lua_State *L, int version_shown) {
    repl r = {.L = L, .tty = isatty(STDIN_FILENO)};
    if (r.tty) {
        if (!version_shown) {
            lctw_repl_push_version(L);
            printf("%s\n", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        printf("help() for help, Ctrl-D to exit\n");
        fflush(stdout);
    }
    run_rc(L);
    if (r.tty) {
        rl_readline_name = "lctw";
        rl_catch_signals = 0;
        rl_catch_sigwinch = 0;
        rl_change_environment = 0; /* no LINES/COLUMNS: they would pin a later dashboard's size */
        rl_attempted_completion_function = lctw_repl_completion;
        rl_completion_display_matches_hook = display_cb;
        rl_basic_word_break_characters = lctw_repl_word_breaks;
        rl_completer_word_break_characters = lctw_repl_word_breaks;
        lctw_repl_history_load();
    }
    for (;;) {
        int cancelled = 0;
        fflush(stdout);
        fflush(stderr);
        char *line =
            r.tty ? read_tty(r.pending ? PROMPT2 : PROMPT1, &cancelled) : read_plain(&cancelled);
        if (cancelled) {
            r.pending = 0;
            r.len = 0;
            continue;
        }
        if (!line) {
            if (r.tty) {
                fputc('\n', stdout);
            } else if (r.pending) { /* input ended inside a chunk: show why it is incomplete */
                const char *s = r.buf + strspn(r.buf, " \t");
                if (luaL_loadbuffer(L, s, strlen(s), CHUNKNAME) != LUA_OK)
                    lctw_repl_report(L, LUA_ERRSYNTAX, NULL);
                else
                    lua_pop(L, 1);
            }
            break;
        }
        lua_pushcfunction(L, handle_line_cf);
        lua_pushlightuserdata(L, &r);
        lua_pushlightuserdata(L, line);
        if (lctw_repl_report(L, lua_pcall(L, 2, 0, 0), "lctw") != LUA_OK) r.pending = 0;
        free(line);
    }
    fflush(stdout);
    free(r.buf);
}
