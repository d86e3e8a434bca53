/* main.c — the lctw command line: lctw [options] [script [args]].
 *
 * Follows the standalone lua program (lua.c 5.4): options run in order (-e, -l), then the script
 * with its arguments, then the REPL (-i, or no script and stdin a terminal); with no script and
 * stdin not a terminal, stdin is the script. The global `arg` holds the script at arg[0], its
 * arguments at 1.., the interpreter and options at negative indices. An uncaught error prints
 * "lctw: message" and a traceback on stderr and the exit status is 1 (130 after Ctrl-C).
 * lctw's own additions: -e runs a file when its argument names one (`lctw -e train.lua`), -h,
 * --dash/--ascii, and --attach RUN_DIR (the dashboard of a run in another process, instead of a
 * script or the REPL: lua/lctw/attach.lua).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua/lctw_lua.h"
#include "repl/repl.h"

#define PROGNAME "lctw"

enum { HAS_E = 1, HAS_I = 2, HAS_V = 4, HAS_H = 8, HAS_DASH = 16, HAS_ASCII = 32, HAS_ATTACH = 64 };

static int g_interrupted;        /* an error came from Ctrl-C: exit status 130 */
static const char *g_attach_dir; /* --attach DIR */

static void print_usage(FILE *f, const char *bad) {
    if (bad) {
        if (((bad[1] == 'e' || bad[1] == 'l') && bad[2] == 0) || !strcmp(bad, "--attach"))
            fprintf(f, "%s: '%s' needs an argument\n", PROGNAME, bad);
        else
            fprintf(f, "%s: unrecognized option '%s'\n", PROGNAME, bad);
    }
    fprintf(f,
            "usage: %s [options] [script [args]]\n"
            "Available options are:\n"
            "  -e stat|file  run a Lua file, or the string stat as Lua code if no such file\n"
            "  -i            enter the REPL after running script (and -e)\n"
            "  -l mod        require library 'mod' into global 'mod'\n"
            "  -l g=mod      require library 'mod' into global 'g'\n"
            "  -v            show version information\n"
            "  -h, --help    show this help\n"
            "  --dash        tr:run shows the live dashboard (lctw.dash.default = true)\n"
            "  --ascii       the dashboard uses ASCII glyphs only (lctw.dash.ascii = true)\n"
            "  --attach DIR  show the dashboard of the run writing DIR/metrics.jsonl (another\n"
            "                process; read-only; q/F10/Ctrl-C detach); progress lines if stdout\n"
            "                is not a terminal\n"
            "  --            stop handling options\n"
            "  -             run stdin as the script and stop handling options\n"
            "Commands:\n"
            "  encode DIR out.npy [--encoder PATH]   encode a folder of images into latents\n"
            "With no script and no -e or -v: the REPL when stdin is a terminal, else stdin runs as "
            "a script.\n"
            "Environment: LCTW_HISTORY  REPL history file (default ~/.lctw_history; empty: none)\n"
            "             LCTW_RC       run when the REPL starts (default ~/.lctwrc.lua; empty: "
            "none)\n"
            "             LCTW_MEMORY_LIMIT  host tensor memory limit (e.g. 8G)\n",
            PROGNAME);
    fflush(f);
}

/* Scans the options. Returns the HAS_* flags, or -1 with *bad set to the offending argument.
 * *script: index of the script name (argc if none). */
static int collect_args(int argc, char **argv, int *script, int *bad) {
    int flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        *script = i;
        if (a[0] != '-') return flags; /* the script name */
        switch (a[1]) {
        case '\0': /* "-": stdin */ return flags;
        case '-':
            if (!strcmp(a, "--help")) {
                flags |= HAS_H;
                break;
            }
            if (!strcmp(a, "--dash") || !strcmp(a, "--ascii")) {
                flags |= a[2] == 'd' ? HAS_DASH : HAS_ASCII;
                break;
            }
            if (!strcmp(a, "--attach") || !strncmp(a, "--attach=", 9)) {
                if (a[8] == '=') {
                    g_attach_dir = a + 9;
                } else {
                    if (i + 1 >= argc) return *bad = i, -1;
                    g_attach_dir = argv[++i];
                }
                flags |= HAS_ATTACH;
                break;
            }
            if (a[2]) return *bad = i, -1;
            *script = i + 1;
            return flags;
        case 'i':
        case 'v':
        case 'h':
            if (a[2]) return *bad = i, -1;
            flags |= a[1] == 'i' ? HAS_I : a[1] == 'v' ? HAS_V : HAS_H;
            break;
        case 'e':
            flags |= HAS_E;
            /* fall through */
        case 'l':
            if (a[2] == 0) {
                i++;
                if (i >= argc || argv[i][0] == '-') return *bad = i - 1, -1;
            }
            break;
        default: return *bad = i, -1;
        }
    }
    *script = argc;
    return flags;
}

/* `lctw -e train.lua`: an argument that names an existing regular file is run as that file. */
static int is_file(const char *s) {
    struct stat st;
    return stat(s, &st) == 0 && S_ISREG(st.st_mode);
}

/* A missing "x.lua" is a missing file, not Lua code to run. */
static int looks_like_path(const char *s) {
    size_t n = strlen(s);
    return n > 4 && !strcmp(s + n - 4, ".lua") && !strpbrk(s, " \t\n()=\"'");
}

/* arg[0] = the script (or, with none, the first -e FILE), options at negative indices. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
    if (script == argc) {
        script = 0;
        for (int i = 1; i < argc; i++) {
            const char *a = argv[i];
            if (!strcmp(a, "-e") && i + 1 < argc && is_file(argv[i + 1])) {
                script = i + 1;
                break;
            }
            if (!strcmp(a, "-e") || !strcmp(a, "-l")) i++;
        }
    }
    lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int docall(lua_State *L, int narg, int nres) {
    int st = lctw_repl_docall(L, narg, nres);
    if (st != LUA_OK && lctw_repl_was_interrupted()) g_interrupted = 1;
    return st;
}

static int report(lua_State *L, int st) { return lctw_repl_report(L, st, PROGNAME) == LUA_OK; }

static int run_e(lua_State *L, const char *s) {
    int st;
    if (is_file(s)) {
        st = luaL_loadfile(L, s);
    } else if (looks_like_path(s)) {
        lua_pushfstring(L, "cannot open %s (no such file)", s);
        st = LUA_ERRFILE;
    } else {
        st = luaL_loadbuffer(L, s, strlen(s), "=(command line)");
    }
    if (st == LUA_OK) st = docall(L, 0, 0);
    return report(L, st);
}

/* -l mod: mod = require "mod";  -l g=mod: g = require "mod". */
static int run_l(lua_State *L, const char *spec) {
    const char *eq = strchr(spec, '=');
    const char *mod = eq ? eq + 1 : spec;
    lua_getglobal(L, "require");
    lua_pushstring(L, mod);
    int st = docall(L, 1, 1);
    if (st == LUA_OK) {
        if (eq)
            lua_pushlstring(L, spec, (size_t)(eq - spec));
        else
            lua_pushstring(L, spec);
        lua_insert(L, -2);
        lua_setglobal(L, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    return report(L, st);
}

/* Runs -e and -l in the order given (the options before the script). */
static int run_args(lua_State *L, char **argv, int script) {
    for (int i = 1; i < script; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || (a[1] != 'e' && a[1] != 'l')) continue;
        const char *v = a[2] ? a + 2 : argv[++i];
        if (!(a[1] == 'e' ? run_e(L, v) : run_l(L, v))) return 0;
    }
    return 1;
}

static int run_script(lua_State *L, char **argv) {
    const char *fname = argv[0];
    if (!strcmp(fname, "-") && strcmp(argv[-1], "--")) fname = NULL; /* stdin */
    int st = luaL_loadfile(L, fname);
    if (st == LUA_OK) {
        lua_getglobal(L, "arg");
        int n = lua_istable(L, -1) ? (int)luaL_len(L, -1) : 0;
        luaL_checkstack(L, n + 3, "too many arguments to script");
        for (int i = 1; i <= n; i++)
            lua_rawgeti(L, -i, i);
        lua_remove(L, -n - 1);
        st = docall(L, n, 0);
    }
    return report(L, st);
}

/* --attach DIR: lctw.attach.main(dir, ascii) -> true | nil, message (a plain "lctw: message",
 * exit status 1, for a missing directory). Ctrl-C and q detach with status 0. */
static int run_attach(lua_State *L, const char *script, int flags) {
    if (script) {
        fprintf(stderr, "%s: --attach takes no script (got '%s')\n", PROGNAME, script);
        return 0;
    }
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lctw.attach");
    int st = docall(L, 1, 1);
    if (st == LUA_OK) {
        lua_getfield(L, -1, "main");
        lua_pushstring(L, g_attach_dir);
        lua_pushboolean(L, flags & HAS_ASCII);
        st = docall(L, 2, 2);
    }
    if (!report(L, st)) return 0;
    if (!lua_toboolean(L, -2)) {
        fflush(stdout);
        fprintf(stderr, "%s: %s\n", PROGNAME, luaL_optstring(L, -1, "--attach failed"));
        return 0;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int pmain(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    int script = argc, bad = 0;
    int flags = collect_args(argc, argv, &script, &bad);
    if (flags < 0) {
        print_usage(stderr, argv[bad]);
        return 0;
    }
    if (flags & HAS_H) {
        print_usage(stdout, NULL);
        lua_pushboolean(L, 1);
        return 1;
    }
    luaL_checkversion(L);
    lctw_lua_open(L);
    lctw_repl_init(L);
    create_arg_table(L, argv, argc, script);
    if (flags & (HAS_DASH | HAS_ASCII)) { /* --dash, --ascii: defaults for tr:run's dashboard */
        lua_getglobal(L, "lctw");
        lua_getfield(L, -1, "dash");
        if (flags & HAS_DASH) lua_pushboolean(L, 1), lua_setfield(L, -2, "default");
        if (flags & HAS_ASCII) lua_pushboolean(L, 1), lua_setfield(L, -2, "ascii");
        lua_pop(L, 2);
    }
    if (flags & HAS_V) {
        lctw_repl_push_version(L);
        printf("%s\n", lua_tostring(L, -1));
        fflush(stdout);
        lua_pop(L, 1);
    }
    /* `lctw encode DIR out.npy`: the image-folder encoder (lua/lctw/encode.lua), unless a script
     * file named "encode" exists */
    if (script < argc && !strcmp(argv[script], "encode") && access(argv[script], F_OK) != 0) {
        lua_getglobal(L, "require");
        lua_pushliteral(L, "lctw.encode");
        int st = docall(L, 1, 1);
        if (st == LUA_OK) {
            lua_getfield(L, -1, "main");
            lua_getglobal(L, "arg");
            st = docall(L, 1, 0);
        }
        if (!report(L, st)) return 0;
        lua_pushboolean(L, 1);
        return 1;
    }
    if (!run_args(L, argv, script)) return 0;
    if (flags & HAS_ATTACH) return run_attach(L, script < argc ? argv[script] : NULL, flags);
    if (script < argc && !run_script(L, argv + script)) return 0;
    if (flags & HAS_I) {
        lctw_repl_run(L, flags & HAS_V);
    } else if (script == argc && !(flags & (HAS_E | HAS_V))) {
        if (isatty(STDIN_FILENO)) {
            lctw_repl_run(L, 0);
        } else { /* stdin is the script */
            int st = luaL_loadfile(L, NULL);
            if (st == LUA_OK) st = docall(L, 0, 0);
            if (!report(L, st)) return 0;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "%s: cannot create the Lua state: not enough memory\n", PROGNAME);
        return 1;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int st = lua_pcall(L, 2, 1, 0);
    int ok = st == LUA_OK && lua_toboolean(L, -1);
    lctw_repl_report(L, st, PROGNAME);
    lua_close(L);
    fflush(stdout);
    return ok ? 0 : g_interrupted ? 130 : 1;
}
