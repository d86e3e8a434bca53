/* prompt.c — the REPL inside the dashboard (see prompt.h): GNU Readline in callback mode fed one
 * curses key at a time, drawn into the curses screen, and an output pane with a scrollback ring.
 *
 * Readline is shared with the plain REPL (src/repl/repl.c), which only uses it between runs of
 * Lua code — so it is free while the dashboard runs. Open saves every readline setting it changes
 * and close puts them back: input comes from a small key queue (rl_getc_function, and
 * rl_input_available_hook so readline never looks at the real terminal), the line is drawn by our
 * rl_redisplay_function (which only marks it for dash.c's next batched redraw), readline's own
 * output goes to /dev/null, and its terminal preparation is a no-op because curses owns the tty.
 * Readline's signal handlers stay off (rl_catch_signals = 0): Ctrl-C keeps going to the REPL's
 * handler, which stops training or the typed command at a step boundary.
 *
 * History, completion and the word-break characters are the plain REPL's (one history file, Tab
 * completion through metatables). Curses keys become the byte sequences readline binds (arrows,
 * Home/End, Delete: ESC [ x; Backspace: DEL; Enter: CR).
 *
 * The output pane keeps the last LCTW_DASH_PROMPT_KEEP lines (tabs expanded, escape sequences and
 * other control characters dropped, each at most MAX_LINE bytes) and wraps them to the pane's
 * width at draw time, at character boundaries; PgUp/PgDn scroll it.
 */
#include "dash/prompt.h"

#include <ncursesw/curses.h>
#include <ncursesw/term.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "repl/repl.h"

#define MAX_LINE 4096  /* bytes kept of one output line */
#define MAX_PENDING 64 /* complete lines waiting to be taken */
#define MAX_LISTED 120 /* completion candidates listed in the pane */
#define TAB_STOP 8

typedef struct {
    rl_getc_func_t *getc;
    rl_voidfunc_t *redisplay;
    rl_vintfunc_t *prep;
    rl_voidfunc_t *deprep;
    rl_hook_func_t *avail;
    rl_completion_func_t *attempted;
    rl_compdisp_func_t *display;
    const char *basic_breaks, *completer_breaks, *name;
    FILE *out;
    int catch_signals, catch_sigwinch, change_env;
    char *bell_style;
} rl_saved;

static struct {
    int open, dirty;
    char *prompt; /* given to open */
    char *cur;    /* shown now (prompt, or ">> " while a chunk continues) */
    rl_saved saved;
    FILE *devnull;
    /* keys not yet read by readline; a UTF-8 character waits in mb until it is complete */
    unsigned char q[64], mb[4];
    int qhead, qlen, mb_have, mb_need;
    /* complete lines, oldest first */
    char *done[MAX_PENDING];
    int ndone;
    /* the output pane: ring of finished lines, and the line being printed */
    char *ring[LCTW_DASH_PROMPT_KEEP];
    int ring_first, ring_n;
    char *part;
    size_t part_len;
    int part_cols, part_cut; /* part_cut: the line was too long, the rest is dropped */
    int scroll;              /* rows scrolled back from the newest */
    /* the last draw */
    lctw_dash_rect out;
    int hscroll, cur_on, cur_y, cur_x;
} P = {.out = {0, 0, 0, 80}};

/* ---- characters --------------------------------------------------------------------------- */

/* The character at s (n > 0 bytes left): returns its length in bytes, its columns in *cols and
 * what to draw for it in g (a NUL-terminated string): itself when printable, "^X" for a control
 * character, "?" for an invalid byte or a character the locale cannot print. */
static int glyph(const char *s, size_t n, int *cols, char g[8]) {
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) {
        if (c >= 32 && c != 127) {
            g[0] = (char)c, g[1] = 0, *cols = 1;
        } else {
            g[0] = '^', g[1] = c == 127 ? '?' : (char)(c + 64), g[2] = 0, *cols = 2;
        }
        return 1;
    }
    mbstate_t st;
    memset(&st, 0, sizeof st);
    wchar_t wc;
    size_t k = mbrtowc(&wc, s, n, &st);
    int w = (k == (size_t)-1 || k == (size_t)-2 || k == 0) ? -1 : wcwidth(wc);
    if (w < 0 || k > 6) {
        g[0] = '?', g[1] = 0, *cols = 1;
        return (k == (size_t)-1 || k == (size_t)-2 || k == 0) ? 1 : (int)k;
    }
    memcpy(g, s, k);
    g[k] = 0;
    *cols = w;
    return (int)k;
}

/* Columns of the n bytes at s. */
static int text_cols(const char *s, size_t n) {
    int total = 0, c;
    char g[8];
    for (size_t i = 0; i < n;) {
        i += (size_t)glyph(s + i, n - i, &c, g);
        total += c;
    }
    return total;
}

/* Bytes of s (n bytes) that fit in w columns, at least one character. */
static size_t fit_bytes(const char *s, size_t n, int w) {
    int used = 0, c;
    char g[8];
    size_t i = 0;
    while (i < n) {
        int k = glyph(s + i, n - i, &c, g);
        if (used + c > w && i > 0) break;
        used += c;
        i += (size_t)k;
    }
    return i;
}

/* Draws the n bytes at s from (y, x), at most w columns. */
static void put_text(int y, int x, const char *s, size_t n, int w) {
    int c;
    char g[8];
    move(y, x);
    for (size_t i = 0; i < n;) {
        i += (size_t)glyph(s + i, n - i, &c, g);
        if (c > w) break;
        addstr(g);
        w -= c;
    }
}

/* ---- the output pane ---------------------------------------------------------------------- */

static int part_add(const char *s, size_t n) {
    char *p = realloc(P.part, P.part_len + n + 1);
    if (!p) return 0;
    P.part = p;
    memcpy(P.part + P.part_len, s, n);
    P.part_len += n;
    P.part[P.part_len] = 0;
    P.part_cols += text_cols(s, n);
    return 1;
}

/* Adds to the unfinished line; past MAX_LINE bytes it ends in "…" and the rest is dropped. */
static void part_append(const char *s, size_t n) {
    if (P.part_cut) return;
    if (P.part_len + n > MAX_LINE) {
        n = MAX_LINE - P.part_len;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) /* whole characters */
            n--;
        part_add(s, n);
        part_add("\xe2\x80\xa6", 3);
        P.part_cut = 1;
        return;
    }
    part_add(s, n);
}

static void part_commit(void) {
    char *line = P.part ? P.part : strdup("");
    P.part = NULL;
    P.part_len = 0;
    P.part_cols = 0;
    P.part_cut = 0;
    if (!line) return;
    if (P.ring_n == LCTW_DASH_PROMPT_KEEP) {
        free(P.ring[P.ring_first]);
        P.ring[P.ring_first] = line;
        P.ring_first = (P.ring_first + 1) % LCTW_DASH_PROMPT_KEEP;
    } else {
        P.ring[(P.ring_first + P.ring_n) % LCTW_DASH_PROMPT_KEEP] = line;
        P.ring_n++;
    }
}

void lctw_dash_prompt_print(const char *text) {
    if (!text) return;
    const char *s = text;
    while (*s) {
        size_t run = strcspn(s, "\n\r\t\033\177\001\002\003\004\005\006\007\010\013\014\016\017"
                                "\020\021\022\023\024\025\026\027\030\031\032\034\035\036\037");
        if (run) {
            part_append(s, run);
            s += run;
            continue;
        }
        unsigned char c = (unsigned char)*s++;
        if (c == '\n') {
            part_commit();
        } else if (c == '\r') { /* a progress line rewriting itself: keep the newest text */
            if (*s != '\n') {
                P.part_len = 0;
                P.part_cols = 0;
                P.part_cut = 0;
                if (P.part) P.part[0] = 0;
            }
        } else if (c == '\t') {
            static const char spaces[TAB_STOP] = "        ";
            part_append(spaces, (size_t)(TAB_STOP - P.part_cols % TAB_STOP));
        } else if (c == 033) { /* an escape sequence (colours): dropped */
            if (*s == '[') {
                s++;
                while (*s && !(*s >= 0x40 && *s <= 0x7e))
                    s++;
                if (*s) s++;
            } else if (*s) {
                s++;
            }
        } /* other control characters are dropped */
    }
    P.dirty = 1;
}

/* Line i of the pane (0 oldest); the unfinished line counts as the newest when it is not empty. */
static int pane_lines(void) { return P.ring_n + (P.part_len > 0); }
static const char *pane_line(int i) {
    if (i < P.ring_n) return P.ring[(P.ring_first + i) % LCTW_DASH_PROMPT_KEEP];
    return P.part;
}

char *lctw_dash_prompt_scrollback(int n) {
    int total = pane_lines(), first = n > 0 && n < total ? total - n : 0;
    size_t len = 0;
    for (int i = first; i < total; i++)
        len += strlen(pane_line(i)) + 1;
    char *text = malloc(len + 1), *p = text;
    if (!text) return NULL;
    for (int i = first; i < total; i++) {
        size_t k = strlen(pane_line(i));
        memcpy(p, pane_line(i), k);
        p += k;
        if (i < P.ring_n) *p++ = '\n';
    }
    *p = 0;
    return text;
}

/* Rows line s takes at width w. */
static int line_rows(const char *s, int w) {
    size_t n = strlen(s), i = 0;
    int rows = 0;
    while (i < n) {
        i += fit_bytes(s + i, n - i, w);
        rows++;
    }
    return rows ? rows : 1;
}

static void draw_pane(lctw_dash_rect r) {
    static size_t off[MAX_LINE + 2]; /* row starts of one line (a row holds at least one byte) */
    for (int y = 0; y < r.h; y++)
        mvhline(r.y + y, r.x, ' ', r.w);
    int n = pane_lines();
    if (P.scroll > 0) { /* scrolled back: at most to the oldest row */
        int total = 0;
        for (int i = 0; i < n && total < P.scroll + r.h; i++)
            total += line_rows(pane_line(n - 1 - i), r.w);
        if (P.scroll > total - r.h) P.scroll = total - r.h > 0 ? total - r.h : 0;
    }
    int skip = P.scroll; /* rows below the window */
    int y = r.y + r.h - 1;
    for (int i = n - 1; i >= 0 && y >= r.y; i--) {
        const char *s = pane_line(i);
        size_t len = strlen(s);
        int rows = 0;
        off[0] = 0;
        do {
            off[rows + 1] = off[rows] + fit_bytes(s + off[rows], len - off[rows], r.w);
            rows++;
        } while (off[rows] < len && rows <= MAX_LINE);
        for (int k = rows - 1; k >= 0 && y >= r.y; k--) {
            if (skip > 0) {
                skip--;
                continue;
            }
            put_text(y--, r.x, s + off[k], off[k + 1] - off[k], r.w);
        }
    }
    if (P.scroll > 0 && r.w > 30) {
        char tag[64];
        int len = snprintf(tag, sizeof tag, " %d rows below: PgDn ", P.scroll);
        attron(A_REVERSE);
        mvaddnstr(r.y + r.h - 1, r.x + r.w - len, tag, len);
        attroff(A_REVERSE);
    }
}

/* ---- readline glue ------------------------------------------------------------------------ */

static int getc_cb(FILE *f) {
    (void)f;
    if (P.qlen == 0) return 0; /* never asked for: avail_cb says when there is input */
    int c = P.q[P.qhead];
    P.qhead = (P.qhead + 1) % (int)sizeof P.q;
    P.qlen--;
    return c;
}

static int avail_cb(void) { return P.qlen > 0; }
static void redisplay_cb(void) { P.dirty = 1; }
static void prep_cb(int meta) { (void)meta; }
static void deprep_cb(void) {}

static void on_line(char *line) {
    if (!line) return; /* Ctrl-D on an empty line: nothing to stop here (F10 stops training) */
    lctw_dash_prompt_print(P.cur);
    lctw_dash_prompt_print(line);
    lctw_dash_prompt_print("\n");
    P.scroll = 0;
    if (P.ndone == MAX_PENDING) { /* nobody takes lines: drop the oldest */
        free(P.done[0]);
        memmove(P.done, P.done + 1, (MAX_PENDING - 1) * sizeof *P.done);
        P.ndone--;
    }
    P.done[P.ndone++] = line;
}

/* Tab twice: the candidates, by their last component, in columns across the pane. */
static void matches_cb(char **matches, int num, int max_length) {
    (void)max_length;
    int w = P.out.w > 0 ? P.out.w : 80, shown = num < MAX_LISTED ? num : MAX_LISTED, colw = 0;
    for (int i = 1; i <= shown; i++) {
        int l = (int)strlen(lctw_repl_match_tail(matches[i]));
        if (l + 2 > colw) colw = l + 2;
    }
    int per = colw > 0 && w / colw > 0 ? w / colw : 1;
    char *row = malloc((size_t)per * (size_t)colw + 2);
    if (!row) return;
    for (int i = 0; i < shown; i += per) {
        size_t len = 0;
        for (int j = i; j < i + per && j < shown; j++)
            len += (size_t)sprintf(row + len, "%-*s", colw, lctw_repl_match_tail(matches[j + 1]));
        while (len && row[len - 1] == ' ')
            len--;
        row[len++] = '\n';
        row[len] = 0;
        lctw_dash_prompt_print(row);
    }
    free(row);
    if (num > shown) {
        char more[64];
        snprintf(more, sizeof more, "... (%d more)\n", num - shown);
        lctw_dash_prompt_print(more);
    }
}

static void save_readline(rl_saved *s) {
    s->getc = rl_getc_function;
    s->redisplay = rl_redisplay_function;
    s->prep = rl_prep_term_function;
    s->deprep = rl_deprep_term_function;
    s->avail = rl_input_available_hook;
    s->attempted = rl_attempted_completion_function;
    s->display = rl_completion_display_matches_hook;
    s->basic_breaks = rl_basic_word_break_characters;
    s->completer_breaks = rl_completer_word_break_characters;
    s->name = rl_readline_name;
    /* NULL means stdout to readline's first initialisation, which may happen under us */
    s->out = rl_outstream ? rl_outstream : stdout;
    s->catch_signals = rl_catch_signals;
    s->catch_sigwinch = rl_catch_sigwinch;
    s->change_env = rl_change_environment;
}

static void restore_readline(rl_saved *s) {
    rl_getc_function = s->getc;
    rl_redisplay_function = s->redisplay;
    rl_prep_term_function = s->prep;
    rl_deprep_term_function = s->deprep;
    rl_input_available_hook = s->avail;
    rl_attempted_completion_function = s->attempted;
    rl_completion_display_matches_hook = s->display;
    rl_basic_word_break_characters = s->basic_breaks;
    rl_completer_word_break_characters = s->completer_breaks;
    rl_readline_name = s->name;
    rl_outstream = s->out;
    rl_catch_signals = s->catch_signals;
    rl_catch_sigwinch = s->catch_sigwinch;
    rl_change_environment = s->change_env;
    if (s->bell_style) rl_variable_bind("bell-style", s->bell_style);
    free(s->bell_style);
    s->bell_style = NULL;
}

static char *dup_or_keep(char *old, const char *s) {
    char *n = strdup(s);
    if (!n) return old;
    free(old);
    return n;
}

lctw_status lctw_dash_prompt_open(const char *prompt) {
    if (!prompt) prompt = "lctw> ";
    if (P.open) {
        P.prompt = dup_or_keep(P.prompt, prompt);
        lctw_dash_prompt_set(NULL);
        return LCTW_OK;
    }
    if (!P.devnull && !(P.devnull = fopen("/dev/null", "w")))
        return LCTW_FAIL(LCTW_EIO, "lctw.dash: cannot open /dev/null for readline's output");
    char *p = strdup(prompt), *c = strdup(prompt);
    if (!p || !c) {
        free(p);
        free(c);
        return LCTW_FAIL(LCTW_ENOMEM, "lctw.dash: no memory for the prompt");
    }
    free(P.prompt);
    free(P.cur);
    P.prompt = p;
    P.cur = c;
    while (P.ndone > 0) /* lines typed after the last session took its last line */
        free(lctw_dash_prompt_take());
    save_readline(&P.saved);
    rl_getc_function = getc_cb;
    rl_redisplay_function = redisplay_cb;
    rl_prep_term_function = prep_cb;
    rl_deprep_term_function = deprep_cb;
    rl_input_available_hook = avail_cb;
    rl_attempted_completion_function = lctw_repl_completion;
    rl_completion_display_matches_hook = matches_cb;
    rl_basic_word_break_characters = lctw_repl_word_breaks;
    rl_completer_word_break_characters = lctw_repl_word_breaks;
    rl_readline_name = "lctw";
    rl_outstream = P.devnull;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0; /* LINES/COLUMNS in the environment would pin curses' size */
    lctw_repl_history_load();
    P.qlen = P.qhead = P.mb_have = 0;
    /* readline's first initialisation calls tgetent, which may make its own terminal current:
     * curses keeps its own */
    TERMINAL *term = cur_term;
    rl_callback_handler_install(P.cur, on_line);
    if (cur_term != term) set_curterm(term);
    const char *style = rl_variable_value("bell-style"); /* after the inputrc was read */
    P.saved.bell_style = style ? strdup(style) : NULL;
    rl_variable_bind("bell-style", "none");          /* a bell would go to the real terminal */
    rl_bind_keyseq_if_unbound("\033[3~", rl_delete); /* what KEY_DC becomes */
    using_history();
    P.hscroll = 0;
    P.open = 1;
    P.dirty = 1;
    return LCTW_OK;
}

void lctw_dash_prompt_close(void) {
    if (!P.open) return;
    P.open = 0;
    P.cur_on = 0;
    rl_callback_sigcleanup(); /* an unfinished search or key sequence */
    rl_free_line_state();
    rl_replace_line("", 1);
    rl_point = rl_end = 0;
    rl_callback_handler_remove();
    using_history();
    restore_readline(&P.saved);
    P.qlen = P.qhead = P.mb_have = 0;
}

int lctw_dash_prompt_is_open(void) { return P.open; }

void lctw_dash_prompt_set(const char *prompt) {
    if (!P.prompt) return;
    P.cur = dup_or_keep(P.cur, prompt ? prompt : P.prompt);
    if (P.open) rl_set_prompt(P.cur);
    P.dirty = 1;
}

static void queue_bytes(const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n && P.qlen < (int)sizeof P.q; i++) {
        P.q[(P.qhead + P.qlen) % (int)sizeof P.q] = b[i];
        P.qlen++;
    }
}

int lctw_dash_prompt_feed(int ch) {
    if (!P.open) return P.ndone > 0;
    const char *seq;
    char one = (char)ch;
    switch (ch) {
    case KEY_UP: seq = "\033[A"; break;
    case KEY_DOWN: seq = "\033[B"; break;
    case KEY_RIGHT: seq = "\033[C"; break;
    case KEY_LEFT: seq = "\033[D"; break;
    case KEY_HOME: seq = "\033[H"; break;
    case KEY_END: seq = "\033[F"; break;
    case KEY_DC: seq = "\033[3~"; break;
    case KEY_BACKSPACE: seq = "\177"; break;
    case KEY_ENTER: seq = "\r"; break;
    case KEY_PPAGE:
    case KEY_NPAGE: {
        int page = P.out.h > 1 ? P.out.h - 1 : 1;
        P.scroll += ch == KEY_PPAGE ? page : -page;
        if (P.scroll < 0) P.scroll = 0; /* the upper bound is the pane's content: at draw */
        P.dirty = 1;
        return P.ndone > 0;
    }
    default:
        if (ch < 0 || ch > 255) return P.ndone > 0; /* other function keys: not for the line */
        seq = NULL;                                 /* the byte itself (NUL included) */
    }
    size_t n = seq ? strlen(seq) : 1;
    if ((size_t)P.qlen + n + sizeof P.mb > sizeof P.q) return P.ndone > 0;
    /* readline reads the rest of a multibyte character at once (in a search, for example), so
     * a character goes in whole: curses hands it over one byte per key */
    unsigned char b = (unsigned char)one;
    if (!seq && P.mb_have > 0 && b >= 0x80 && b < 0xc0) {
        P.mb[P.mb_have++] = b;
        if (P.mb_have < P.mb_need) return P.ndone > 0;
        queue_bytes(P.mb, (size_t)P.mb_have);
        P.mb_have = 0;
    } else {
        if (P.mb_have > 0) { /* an incomplete character: readline gets what came */
            queue_bytes(P.mb, (size_t)P.mb_have);
            P.mb_have = 0;
        }
        if (!seq && b >= 0xc2 && b < 0xf5 && MB_CUR_MAX > 1) {
            P.mb[0] = b;
            P.mb_have = 1;
            P.mb_need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
            if (P.qlen == 0) return P.ndone > 0;
        } else {
            queue_bytes(seq ? (const unsigned char *)seq : &b, n);
        }
    }
    while (P.qlen > 0 && P.open) {
        int before = P.qlen;
        rl_callback_read_char();
        if (P.qlen == before) break; /* readline took nothing: do not spin */
    }
    P.dirty = 1;
    return P.ndone > 0;
}

char *lctw_dash_prompt_take(void) {
    if (P.ndone == 0) return NULL;
    char *s = P.done[0];
    memmove(P.done, P.done + 1, (size_t)(P.ndone - 1) * sizeof *P.done);
    P.ndone--;
    return s;
}

/* ---- drawing ------------------------------------------------------------------------------ */

/* The prompt (without readline's invisible-text markers) and the line, scrolled horizontally so
 * the cursor shows; "<" and ">" mark text cut off on either side. */
static void draw_line(lctw_dash_rect r) {
    mvhline(r.y, r.x, ' ', r.w);
    if (!P.open) return;
    const char *pr = rl_display_prompt ? rl_display_prompt : P.cur ? P.cur : "";
    char shown[256];
    size_t pn = 0;
    for (const char *s = pr; *s && pn + 1 < sizeof shown; s++)
        if (*s != RL_PROMPT_START_IGNORE && *s != RL_PROMPT_END_IGNORE) shown[pn++] = *s;
    shown[pn] = 0;
    int pw = text_cols(shown, pn);
    const char *line = rl_line_buffer ? rl_line_buffer : "";
    size_t len = (size_t)(rl_end > 0 ? rl_end : 0), point = (size_t)(rl_point > 0 ? rl_point : 0);
    if (point > len) point = len;
    int avail = r.w - pw;
    if (avail < 10) { /* too narrow for the prompt: the line alone */
        pw = 0;
        avail = r.w;
    } else {
        put_text(r.y, r.x, shown, pn, pw);
    }
    int cc = text_cols(line, point), tw = text_cols(line, len);
    /* scroll horizontally so the cursor stays visible, leaving room for the < > marks */
    if (tw < avail) {
        P.hscroll = 0;
    } else if (cc < P.hscroll + (P.hscroll > 0) || cc > P.hscroll + avail - 2) {
        P.hscroll = cc - avail / 2 > 0 ? cc - avail / 2 : 0;
    }
    int col = 0, c, x0 = r.x + pw;
    int lo = P.hscroll + (P.hscroll > 0), hi = P.hscroll + avail - (tw > P.hscroll + avail);
    char g[8];
    for (size_t i = 0; i < len;) { /* only whole characters between the marks */
        i += (size_t)glyph(line + i, len - i, &c, g);
        if (col >= lo && col + c <= hi) mvaddstr(r.y, x0 + col - P.hscroll, g);
        col += c;
    }
    if (P.hscroll > 0) mvaddch(r.y, x0, '<');
    if (tw > P.hscroll + avail) mvaddch(r.y, x0 + avail - 1, '>');
    P.cur_on = P.open;
    P.cur_y = r.y;
    P.cur_x = x0 + cc - P.hscroll;
    if (P.cur_x >= r.x + r.w) P.cur_x = r.x + r.w - 1;
}

void lctw_dash_prompt_draw(lctw_dash_rect out, lctw_dash_rect line) {
    P.dirty = 0;
    P.cur_on = 0;
    if (out.h > 0 && out.w > 0) {
        P.out = out;
        draw_pane(out);
    }
    if (line.h > 0 && line.w > 0) draw_line(line);
}

int lctw_dash_prompt_cursor(int *y, int *x) {
    *y = P.cur_y;
    *x = P.cur_x;
    if (!P.cur_on) *y = *x = 0;
    return P.cur_on;
}

int lctw_dash_prompt_dirty(void) { return P.dirty; }

int lctw_dash_prompt_pane_width(void) { return P.out.w > 0 ? P.out.w : 80; }
