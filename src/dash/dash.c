/* dash.c — the curses front end of the live dashboard (see dash.h): loss (raw and EMA), c and
 * frac_over_c, a histogram of the last 200 losses, a status line, key hints and a help overlay.
 * Layout and charts are pure functions (layout.c, chart.c); this file only owns the terminal.
 * Output is batched: the screen is erased and rebuilt in curses' buffer, then sent with
 * wnoutrefresh + doupdate.
 */
#include "dash/dash.h"

#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <ncursesw/curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dash/chart.h"
#include "dash/layout.h"

#define SERIES_CAP 8192 /* points kept per series; halved by pairwise means when full */
#define HIST_N 200      /* the histogram shows the last HIST_N losses */
#define EMA_BETA 0.98
#define LABEL_W 9

enum { SER_LOSS, SER_EMA, SER_C, SER_FRAC, SER_COUNT };
enum { PAIR_RAW = 1, PAIR_EMA, PAIR_C, PAIR_FRAC, PAIR_HIST, PAIR_STATUS, PAIR_WARN };

static struct {
    int open, ascii, logy, help, colors, atexit_done;
    char *saved_ctype;
    /* series: n points, each the mean of `stride` steps; acc: the partial point */
    double ser[SER_COUNT][SERIES_CAP];
    size_t n, stride, acc_n[SER_COUNT], acc_steps;
    double acc[SER_COUNT];
    double ema, ema_w; /* EMA of the finite losses and its weight (bias correction) */
    double hist[HIST_N];
    size_t hist_n, hist_pos, steps;
    lctw_chart_grid g_raw, g_ema, g_c, g_frac, g_hist;
} D;

int lctw_dash_usable(void) {
    const char *t = getenv("TERM");
    return isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) && t && *t && strcmp(t, "dumb") != 0;
}

int lctw_dash_is_open(void) { return D.open; }
int lctw_dash_logy(void) { return D.logy; }

static void release_grids(void) {
    lctw_chart_grid_release(&D.g_raw);
    lctw_chart_grid_release(&D.g_ema);
    lctw_chart_grid_release(&D.g_c);
    lctw_chart_grid_release(&D.g_frac);
    lctw_chart_grid_release(&D.g_hist);
}

void lctw_dash_close(void) {
    if (!D.open) return;
    D.open = 0;
    endwin();
    if (D.saved_ctype) {
        setlocale(LC_CTYPE, D.saved_ctype);
        free(D.saved_ctype);
        D.saved_ctype = NULL;
    }
    release_grids();
    fflush(stdout);
}

static void close_at_exit(void) { lctw_dash_close(); }

lctw_status lctw_dash_open(int ascii) {
    if (D.open) return LCTW_FAIL(LCTW_EINVAL, "lctw.dash: the dashboard is already open");
    if (!lctw_dash_usable())
        return LCTW_FAIL(LCTW_EDEVICE, "lctw.dash: stdout is not a terminal (or TERM is dumb)");
    const char *cur = setlocale(LC_CTYPE, NULL);
    D.saved_ctype = cur ? strdup(cur) : NULL;
    setlocale(LC_CTYPE, ""); /* only the character type: LC_NUMERIC stays "C" for Lua */
    const char *cs = nl_langinfo(CODESET);
    D.ascii = ascii || !cs || strcmp(cs, "UTF-8") != 0;
    if (!D.atexit_done) {
        atexit(close_at_exit);
        D.atexit_done = 1;
    }
    fflush(stdout);
    if (!initscr()) {
        if (D.saved_ctype) setlocale(LC_CTYPE, D.saved_ctype);
        free(D.saved_ctype);
        D.saved_ctype = NULL;
        return LCTW_FAIL(LCTW_EDEVICE, "lctw.dash: cannot initialise the terminal (TERM=%s)",
                         getenv("TERM"));
    }
    D.open = 1;
    cbreak(); /* not raw: Ctrl-C still sends SIGINT, which stops training at a step boundary */
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
    D.colors = has_colors();
    if (D.colors) {
        start_color();
        use_default_colors();
        init_pair(PAIR_RAW, COLOR_BLUE, -1);
        init_pair(PAIR_EMA, COLOR_YELLOW, -1);
        init_pair(PAIR_C, COLOR_GREEN, -1);
        init_pair(PAIR_FRAC, COLOR_MAGENTA, -1);
        init_pair(PAIR_HIST, COLOR_CYAN, -1);
        init_pair(PAIR_STATUS, COLOR_BLACK, COLOR_CYAN);
        init_pair(PAIR_WARN, COLOR_RED, -1);
    }
    D.n = D.acc_steps = D.hist_n = D.hist_pos = D.steps = 0;
    D.stride = 1;
    memset(D.acc, 0, sizeof D.acc);
    memset(D.acc_n, 0, sizeof D.acc_n);
    D.ema = D.ema_w = 0;
    D.help = 0;
    return LCTW_OK;
}

/* ---- series ------------------------------------------------------------------------------- */

static void compact(void) { /* pairwise means: twice the steps per point, half the points */
    for (int s = 0; s < SER_COUNT; s++) {
        for (size_t i = 0; i < D.n / 2; i++) {
            double a = D.ser[s][2 * i], b = D.ser[s][2 * i + 1];
            D.ser[s][i] = isnan(a) ? b : isnan(b) ? a : 0.5 * (a + b);
        }
    }
    D.n /= 2;
    D.stride *= 2;
}

void lctw_dash_push(double loss, double c, double frac_over_c) {
    double ema = NAN;
    if (isfinite(loss)) {
        D.ema = EMA_BETA * D.ema + (1 - EMA_BETA) * loss;
        D.ema_w = EMA_BETA * D.ema_w + (1 - EMA_BETA);
    }
    if (D.ema_w > 0) ema = D.ema / D.ema_w;
    double v[SER_COUNT] = {loss, ema, c, frac_over_c};
    for (int s = 0; s < SER_COUNT; s++) {
        if (isfinite(v[s])) {
            D.acc[s] += v[s];
            D.acc_n[s]++;
        }
    }
    if (++D.acc_steps == D.stride) {
        if (D.n == SERIES_CAP) compact();
        for (int s = 0; s < SER_COUNT; s++) {
            D.ser[s][D.n] = D.acc_n[s] ? D.acc[s] / (double)D.acc_n[s] : NAN;
            D.acc[s] = 0;
            D.acc_n[s] = 0;
        }
        D.n++;
        D.acc_steps = 0;
    }
    D.hist[D.hist_pos] = loss;
    D.hist_pos = (D.hist_pos + 1) % HIST_N;
    if (D.hist_n < HIST_N) D.hist_n++;
    D.steps++;
}

/* ---- drawing ------------------------------------------------------------------------------ */

static void frame(lctw_dash_rect r, const char *title, int pair) {
    if (r.h < 2 || r.w < 2) return;
    chtype hl = D.ascii ? '-' : ACS_HLINE, vl = D.ascii ? '|' : ACS_VLINE;
    mvhline(r.y, r.x + 1, hl, r.w - 2);
    mvhline(r.y + r.h - 1, r.x + 1, hl, r.w - 2);
    mvvline(r.y + 1, r.x, vl, r.h - 2);
    mvvline(r.y + 1, r.x + r.w - 1, vl, r.h - 2);
    mvaddch(r.y, r.x, D.ascii ? '+' : ACS_ULCORNER);
    mvaddch(r.y, r.x + r.w - 1, D.ascii ? '+' : ACS_URCORNER);
    mvaddch(r.y + r.h - 1, r.x, D.ascii ? '+' : ACS_LLCORNER);
    mvaddch(r.y + r.h - 1, r.x + r.w - 1, D.ascii ? '+' : ACS_LRCORNER);
    if (D.colors && pair) attron(COLOR_PAIR(pair) | A_BOLD);
    mvaddnstr(r.y, r.x + 2, title, r.w - 4);
    if (D.colors && pair) attroff(COLOR_PAIR(pair) | A_BOLD);
}

/* Makes g a w×h grid (reallocating on a size change) and clears it. */
static int grid_fit(lctw_chart_grid *g, int w, int h) {
    lctw_chart_glyphs gl = D.ascii ? LCTW_CHART_ASCII : LCTW_CHART_BRAILLE;
    if (w < 1 || h < 1) return 0;
    if (!g->cell || g->w != w || g->h != h || g->glyphs != gl) {
        lctw_chart_grid_release(g);
        if (lctw_chart_grid_init(g, w, h, gl) != LCTW_OK) return 0;
    }
    lctw_chart_grid_clear(g);
    return 1;
}

/* Draws the non-empty cells of g at (y, x); attr for them. */
static void blit(const lctw_chart_grid *g, int y, int x, attr_t attr) {
    char buf[8];
    attron(attr);
    for (int r = 0; r < g->h; r++) {
        for (int c = 0; c < g->w; c++) {
            if (!g->cell[r * g->w + c]) continue;
            mvaddstr(y + r, x + c, lctw_chart_glyph(g, c, r, buf));
        }
    }
    attroff(attr);
}

static attr_t color(int pair, attr_t extra) { return (D.colors ? COLOR_PAIR(pair) : 0) | extra; }

static void fmt_axis(char *buf, size_t n, double v, int logy) {
    snprintf(buf, n, "%8.3g", logy ? pow(10, v) : v);
}

/* One line chart (several series over a shared range) in rectangle in, labels on the left. */
static void line_panel(lctw_dash_rect in, lctw_chart_grid *ga, const double *a, attr_t aa,
                       lctw_chart_grid *gb, const double *b, attr_t ab, int logy, int fixed01) {
    if (in.h < 1 || in.w < 1) return;
    double lo = 0, hi = 1, lo2, hi2; /* fixed01: a fraction, always drawn over [0, 1] */
    int have = fixed01 ? 1 : lctw_chart_range(a, D.n, logy, &lo, &hi);
    if (!fixed01 && b && lctw_chart_range(b, D.n, logy, &lo2, &hi2)) {
        lo = have ? fmin(lo, lo2) : lo2;
        hi = have ? fmax(hi, hi2) : hi2;
        have = 1;
    }
    char lab[32];
    if (!have) {
        mvaddstr(in.y + in.h / 2, in.x,
                 D.n ? "(no finite values)" : "(waiting for the first step)");
        return;
    }
    fmt_axis(lab, sizeof lab, hi, logy);
    mvaddnstr(in.y, in.x - LABEL_W, lab, LABEL_W - 1);
    fmt_axis(lab, sizeof lab, lo, logy);
    mvaddnstr(in.y + in.h - 1, in.x - LABEL_W, lab, LABEL_W - 1);
    if (grid_fit(ga, in.w, in.h)) {
        lctw_chart_line(ga, a, D.n, lo, hi, logy, '.');
        blit(ga, in.y, in.x, aa);
    }
    if (b && grid_fit(gb, in.w, in.h)) {
        lctw_chart_line(gb, b, D.n, lo, hi, logy, '*');
        blit(gb, in.y, in.x, ab);
    }
}

static double last_of(int s) {
    for (size_t i = D.n; i-- > 0;)
        if (!isnan(D.ser[s][i])) return D.ser[s][i];
    return NAN;
}

static void draw_help(const lctw_dash_layout *l) {
    static const char *lines[] = {
        "lctw dashboard - keys",
        "",
        "  q, F10    stop training at the next step boundary",
        "  p, F5     pause / resume",
        "  l         log-y on the loss chart",
        "  ?, F1     this help (any key closes it)",
        "  Ctrl-C    stop (as in tr:run: returns \"interrupted\")",
        "",
        "loss: raw (.) and its EMA (*)",
        "c panel: c (top) and frac>c (bottom)",
        "histogram: the last 200 losses",
    };
    lctw_dash_rect r = l->help;
    for (int y = 0; y < r.h; y++)
        mvhline(r.y + y, r.x, ' ', r.w);
    frame(r, " help ", PAIR_EMA);
    int n = (int)(sizeof lines / sizeof *lines);
    for (int i = 0; i < n && i < r.h - 2; i++)
        mvaddnstr(r.y + 1 + i, r.x + 2, lines[i], r.w - 4);
}

void lctw_dash_draw(const char *status, int paused) {
    if (!D.open) return;
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    lctw_dash_layout l;
    erase();
    if (!lctw_dash_layout_compute(cols, rows, &l)) {
        /* "terminal too small: WxH, need at least 80x24", split at the comma when narrow */
        const char *part[2] = {l.msg, NULL};
        int len[2] = {(int)strlen(l.msg), 0};
        const char *comma = strstr(l.msg, ", ");
        if (len[0] > cols && comma) {
            len[0] = (int)(comma - l.msg);
            part[1] = comma + 2;
            len[1] = (int)strlen(part[1]);
        }
        int y = rows > 3 ? rows / 2 - 1 : 0;
        attron(color(PAIR_WARN, A_BOLD));
        for (int i = 0; i < 2 && part[i] && y + i < rows; i++)
            mvaddnstr(y + i, cols > len[i] ? (cols - len[i]) / 2 : 0, part[i],
                      len[i] < cols ? len[i] : cols);
        attroff(color(PAIR_WARN, A_BOLD));
        if (y + 2 < rows) mvaddnstr(y + 2, 0, "q: stop  p: pause", cols);
        wnoutrefresh(stdscr);
        doupdate();
        return;
    }
    /* status line */
    attron(color(PAIR_STATUS, A_REVERSE * !D.colors));
    mvhline(0, 0, ' ', cols);
    mvaddnstr(0, 0, status ? status : "", cols);
    attroff(color(PAIR_STATUS, A_REVERSE * !D.colors));

    char title[96];
    snprintf(title, sizeof title, " loss: raw . / EMA * (%.4g)%s ", last_of(SER_EMA),
             D.logy ? " [log-y]" : "");
    frame(l.loss, title, PAIR_EMA);
    line_panel(lctw_dash_rect_inner(l.loss, LABEL_W), &D.g_raw, D.ser[SER_LOSS], color(PAIR_RAW, 0),
               &D.g_ema, D.ser[SER_EMA], color(PAIR_EMA, A_BOLD), D.logy, 0);

    snprintf(title, sizeof title, " c (%.3g) / frac>c (%.0f%%) ", last_of(SER_C),
             100 * last_of(SER_FRAC));
    frame(l.c, title, PAIR_C);
    lctw_dash_rect in = lctw_dash_rect_inner(l.c, LABEL_W);
    lctw_dash_rect top = in, bot = in;
    top.h = (in.h + 1) / 2;
    bot.y = in.y + top.h;
    bot.h = in.h - top.h;
    line_panel(top, &D.g_c, D.ser[SER_C], color(PAIR_C, A_BOLD), NULL, NULL, 0, 0, 0);
    line_panel(bot, &D.g_frac, D.ser[SER_FRAC], color(PAIR_FRAC, A_BOLD), NULL, NULL, 0, 0, 1);

    frame(l.hist, " loss histogram (last 200 steps) ", PAIR_HIST);
    in = lctw_dash_rect_inner(l.hist, 0);
    if (in.h >= 2 && grid_fit(&D.g_hist, in.w, in.h - 1)) {
        double lo, hi;
        size_t maxc = lctw_chart_hist(&D.g_hist, D.hist, D.hist_n, &lo, &hi);
        if (maxc) {
            blit(&D.g_hist, in.y, in.x, color(PAIR_HIST, 0));
            char lab[64];
            snprintf(lab, sizeof lab, "%-.4g", lo);
            mvaddnstr(in.y + in.h - 1, in.x, lab, in.w);
            snprintf(lab, sizeof lab, "peak %zu", maxc);
            mvaddnstr(in.y + in.h - 1, in.x + (in.w - (int)strlen(lab)) / 2, lab, in.w);
            snprintf(lab, sizeof lab, "%.4g", hi);
            int len = (int)strlen(lab);
            mvaddnstr(in.y + in.h - 1, in.x + in.w - len, lab, in.w);
        }
    }

    attron(A_BOLD);
    mvaddnstr(l.keys.y, 0, "q/F10 stop  p/F5 pause  l log-y  ?/F1 help", cols);
    attroff(A_BOLD);
    if (paused) {
        attron(color(PAIR_WARN, A_BOLD | A_REVERSE));
        mvaddstr(l.keys.y, cols - 10, " [PAUSED] ");
        attroff(color(PAIR_WARN, A_BOLD | A_REVERSE));
    }
    if (D.help) draw_help(&l);
    wnoutrefresh(stdscr);
    doupdate();
}

lctw_dash_key lctw_dash_poll(int timeout_ms) {
    if (!D.open) return LCTW_DASH_KEY_NONE;
    wtimeout(stdscr, timeout_ms > 0 ? timeout_ms : 0);
    int ch = getch();
    if (ch == ERR) return LCTW_DASH_KEY_NONE;
    if (ch == KEY_RESIZE) return LCTW_DASH_KEY_RESIZE;
    if (D.help) { /* any key closes the help */
        D.help = 0;
        if (ch != 'q' && ch != KEY_F(10)) return LCTW_DASH_KEY_HELP;
    }
    switch (ch) {
    case 'q':
    case 'Q':
    case KEY_F(10): return LCTW_DASH_KEY_QUIT;
    case 'p':
    case 'P':
    case ' ':
    case KEY_F(5): return LCTW_DASH_KEY_PAUSE;
    case 'l':
    case 'L': D.logy = !D.logy; return LCTW_DASH_KEY_LOGY;
    case '?':
    case 'h':
    case KEY_F(1): D.help = 1; return LCTW_DASH_KEY_HELP;
    default: return LCTW_DASH_KEY_OTHER;
    }
}
