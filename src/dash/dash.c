/* dash.c — the curses front end of the live dashboard (see dash.h): status line, loss panel
 * (loss_ct | loss_diff, raw and EMA, spike marks, log-y), c panel (plan of c over the curriculum
 * with "now", frac_over_c), histogram panel (batch latents with a Gaussian reference and 3σ tails,
 * or per-sample residuals with c), output pane and prompt line, key hints and a help overlay.
 * Layout and charts are pure functions (layout.c, chart.c); this file only owns the terminal and
 * the series. Output is batched: the screen is rebuilt in curses' buffer, then sent with
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
#include "dash/prompt.h"

#define SERIES_CAP 8192 /* points kept per series; halved by pairwise means when full */
#define EMA_BETA 0.98
#define SPIKE_K 3.0     /* a raw loss above SPIKE_K × its EMA is a spike */
#define SPIKE_WARMUP 10 /* finite values before spikes are looked for */
#define TAIL_K 3.0      /* latent histogram: bins beyond μ ± TAIL_K·σ are highlighted */
#define LABEL_W 9
#define ESC 27

/* series; the SPIKE ones hold the raw value at spikes (NaN elsewhere) and compact by max */
enum {
    SER_CT,
    SER_CT_EMA,
    SER_DIFF,
    SER_DIFF_EMA,
    SER_CT_SPIKE,
    SER_DIFF_SPIKE,
    SER_C,
    SER_FRAC,
    SER_COUNT
};
enum { PAIR_RAW = 1, PAIR_EMA, PAIR_C, PAIR_FRAC, PAIR_HIST, PAIR_STATUS, PAIR_WARN, PAIR_DIM };

typedef struct {
    double ema, w; /* EMA of the finite values and its weight (bias correction) */
    long n;        /* finite values seen */
} smoother;

static struct {
    int open, ascii, logy, help, hist_mode, colors, atexit_done, prompt, esc, cursor;
    char *saved_ctype;
    /* series: n points, each the mean of `stride` steps; acc: the partial point */
    double ser[SER_COUNT][SERIES_CAP];
    size_t n, stride, acc_n[SER_COUNT], acc_steps;
    double acc[SER_COUNT];
    smoother sm_ct, sm_diff;
    long spikes;
    /* the last step */
    lctw_dash_point last;
    int have_last;
    lctw_dash_schedule plan;
    lctw_chart_grid g_a, g_b, g_m; /* scratch grids: two layers and the marks over them */
} D;

int lctw_dash_usable(void) {
    const char *t = getenv("TERM");
    return isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) && t && *t && strcmp(t, "dumb") != 0;
}

int lctw_dash_is_open(void) { return D.open; }
int lctw_dash_cols(void) { return D.open ? COLS : 0; }
int lctw_dash_logy(void) { return D.logy; }
int lctw_dash_hist_mode(void) { return D.hist_mode; }

static void release_grids(void) {
    lctw_chart_grid_release(&D.g_a);
    lctw_chart_grid_release(&D.g_b);
    lctw_chart_grid_release(&D.g_m);
}

void lctw_dash_close(void) {
    if (!D.open) return;
    D.open = 0;
    if (D.prompt) lctw_dash_prompt_close();
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

lctw_status lctw_dash_open(int ascii, int prompt) {
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
    set_escdelay(25); /* a lone Esc is ours quickly (Esc-digit commands, readline's meta keys) */
    curs_set(0);
    D.cursor = 0;
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
        init_pair(PAIR_DIM, COLOR_WHITE, -1);
    }
    D.help = 0;
    D.esc = 0;
    D.prompt = prompt != 0;
    if (D.prompt && lctw_dash_prompt_open("lctw> ") != LCTW_OK) {
        lctw_status s = lctw_error_code();
        D.prompt = 0;
        lctw_dash_close();
        return s ? s : LCTW_EDEVICE;
    }
    return LCTW_OK;
}

/* ---- series ------------------------------------------------------------------------------- */

static int is_spike_series(int s) { return s == SER_CT_SPIKE || s == SER_DIFF_SPIKE; }

static void compact(void) { /* pairwise means (spikes: the larger): twice the steps per point */
    for (int s = 0; s < SER_COUNT; s++) {
        for (size_t i = 0; i < D.n / 2; i++) {
            double a = D.ser[s][2 * i], b = D.ser[s][2 * i + 1];
            D.ser[s][i] = isnan(a)             ? b
                          : isnan(b)           ? a
                          : is_spike_series(s) ? fmax(a, b)
                                               : 0.5 * (a + b);
        }
    }
    D.n /= 2;
    D.stride *= 2;
}

void lctw_dash_reset(void) {
    D.n = D.acc_steps = 0;
    D.stride = 1;
    memset(D.acc, 0, sizeof D.acc);
    memset(D.acc_n, 0, sizeof D.acc_n);
    memset(&D.sm_ct, 0, sizeof D.sm_ct);
    memset(&D.sm_diff, 0, sizeof D.sm_diff);
    D.spikes = 0;
    lctw_dash_point_init(&D.last);
    D.have_last = 0;
}

void lctw_dash_point_init(lctw_dash_point *p) {
    memset(p, 0, sizeof *p);
    p->step = -1;
    p->loss_ct = p->loss_diff = p->c = p->frac_over_c = NAN;
    p->latent_mean = p->latent_std = p->latent_kurtosis = p->latent_tail3 = p->latent_tail5 = NAN;
    p->latent.lo = p->latent.hi = p->resid.lo = p->resid.hi = NAN;
}

void lctw_dash_set_schedule(const lctw_dash_schedule *s) {
    D.plan = *s;
    if (D.plan.n < 0) D.plan.n = 0;
    if (D.plan.n > LCTW_DASH_MAX_STAGES) D.plan.n = LCTW_DASH_MAX_STAGES;
}

/* Updates the smoother with v; *ema = the smoothed value after it, *spike = v when it is a spike
 * against the smoothed value before it. */
static void smooth(smoother *s, double v, double *ema, double *spike) {
    *spike = NAN;
    if (isfinite(v)) {
        if (s->n >= SPIKE_WARMUP && lctw_chart_is_spike(v, s->ema / s->w, SPIKE_K)) {
            *spike = v;
            D.spikes++;
        }
        s->ema = EMA_BETA * s->ema + (1 - EMA_BETA) * v;
        s->w = EMA_BETA * s->w + (1 - EMA_BETA);
        s->n++;
    }
    *ema = s->w > 0 ? s->ema / s->w : NAN;
}

void lctw_dash_push_point(const lctw_dash_point *p) {
    if (!D.stride) lctw_dash_reset(); /* first use */
    double ct = p->skipped ? NAN : p->loss_ct, diff = p->skipped ? NAN : p->loss_diff;
    double v[SER_COUNT];
    smooth(&D.sm_ct, ct, &v[SER_CT_EMA], &v[SER_CT_SPIKE]);
    smooth(&D.sm_diff, diff, &v[SER_DIFF_EMA], &v[SER_DIFF_SPIKE]);
    v[SER_CT] = ct;
    v[SER_DIFF] = diff;
    v[SER_C] = p->c;
    v[SER_FRAC] = p->frac_over_c;
    for (int s = 0; s < SER_COUNT; s++) {
        if (!isfinite(v[s])) continue;
        if (is_spike_series(s)) {
            D.acc[s] = D.acc_n[s] ? fmax(D.acc[s], v[s]) : v[s];
        } else {
            D.acc[s] += v[s];
        }
        D.acc_n[s]++;
    }
    if (++D.acc_steps == D.stride) {
        if (D.n == SERIES_CAP) compact();
        for (int s = 0; s < SER_COUNT; s++) {
            D.ser[s][D.n] = !D.acc_n[s]          ? NAN
                            : is_spike_series(s) ? D.acc[s]
                                                 : D.acc[s] / (double)D.acc_n[s];
            D.acc[s] = 0;
            D.acc_n[s] = 0;
        }
        D.n++;
        D.acc_steps = 0;
    }
    /* the panels show the latest known values: a missing one keeps the previous; a missing
     * latent histogram keeps the previous with its statistics */
    lctw_dash_point keep = D.last;
    D.last = *p;
    if (D.have_last) {
        if (p->step < 0 && keep.step >= 0) D.last.step = keep.step + 1;
        if (isnan(p->c)) D.last.c = keep.c;
        if (isnan(p->frac_over_c)) D.last.frac_over_c = keep.frac_over_c;
        if (p->latent.n <= 0) {
            D.last.latent = keep.latent;
            D.last.latent_mean = keep.latent_mean;
            D.last.latent_std = keep.latent_std;
            D.last.latent_kurtosis = keep.latent_kurtosis;
            D.last.latent_tail3 = keep.latent_tail3;
            D.last.latent_tail5 = keep.latent_tail5;
        }
        if (p->resid.n <= 0) D.last.resid = keep.resid;
    }
    D.have_last = 1;
}

void lctw_dash_push(double loss, double c, double frac_over_c) {
    lctw_dash_point p;
    lctw_dash_point_init(&p);
    p.loss_ct = loss;
    p.c = c;
    p.frac_over_c = frac_over_c;
    lctw_dash_push_point(&p);
}

/* ---- drawing ------------------------------------------------------------------------------ */

static attr_t color(int pair, attr_t extra) { return (D.colors ? COLOR_PAIR(pair) : 0) | extra; }

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
    attron(color(pair, A_BOLD));
    mvaddnstr(r.y, r.x + 2, title, r.w - 4);
    attroff(color(pair, A_BOLD));
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

/* Draws the non-empty cells of g at (y, x); attr for them (col_attr, when set, per column). */
static void blit_cols(const lctw_chart_grid *g, int y, int x, attr_t attr, const attr_t *col_attr) {
    char buf[8];
    for (int c = 0; c < g->w; c++) {
        attr_t a = col_attr ? col_attr[c] : attr;
        attron(a);
        for (int r = 0; r < g->h; r++) {
            if (!g->cell[r * g->w + c]) continue;
            mvaddstr(y + r, x + c, lctw_chart_glyph(g, c, r, buf));
        }
        attroff(a);
    }
}
static void blit(const lctw_chart_grid *g, int y, int x, attr_t attr) {
    blit_cols(g, y, x, attr, NULL);
}

static void put_label(int y, int x, int w, double v, int logy) {
    char lab[32];
    snprintf(lab, sizeof lab, "%8.3g", logy ? pow(10, v) : v);
    mvaddnstr(y, x, lab, w);
}

static void waiting(lctw_dash_rect in) {
    if (in.h > 0 && in.w > 0)
        mvaddnstr(in.y + in.h / 2, in.x,
                  D.n ? "(no finite values)" : "(waiting for the first step)", in.w);
}

/* Merges the range of y[0..n) into [*lo, *hi]; *have says whether there is one yet. */
static void range_merge(const double *y, size_t n, int logy, int *have, double *lo, double *hi) {
    double a, b;
    if (!lctw_chart_range(y, n, logy, &a, &b)) return;
    *lo = *have ? fmin(*lo, a) : a;
    *hi = *have ? fmax(*hi, b) : b;
    *have = 1;
}

/* One loss chart in r (labels on the left, `name` in the middle of them): raw, EMA and spikes. */
static void loss_chart(lctw_dash_rect r, const char *name, int s_raw, int s_ema, int s_spike) {
    lctw_dash_rect in = {r.y, r.x + LABEL_W, r.h, r.w - LABEL_W};
    if (in.h < 1 || in.w < 1) return;
    int have = 0;
    double lo = 0, hi = 1;
    range_merge(D.ser[s_raw], D.n, D.logy, &have, &lo, &hi);
    range_merge(D.ser[s_ema], D.n, D.logy, &have, &lo, &hi);
    range_merge(D.ser[s_spike], D.n, D.logy, &have, &lo, &hi);
    if (in.h >= 3) {
        attron(A_BOLD);
        mvaddnstr(in.y + in.h / 2, r.x + LABEL_W - 1 - (int)strlen(name), name, LABEL_W - 1);
        attroff(A_BOLD);
    }
    if (!have) {
        waiting(in);
        return;
    }
    put_label(in.y, r.x, LABEL_W - 1, hi, D.logy);
    put_label(in.y + in.h - 1, r.x, LABEL_W - 1, lo, D.logy);
    if (grid_fit(&D.g_a, in.w, in.h)) {
        lctw_chart_line(&D.g_a, D.ser[s_raw], D.n, lo, hi, D.logy, '.');
        blit(&D.g_a, in.y, in.x, color(PAIR_RAW, 0));
    }
    if (grid_fit(&D.g_b, in.w, in.h)) {
        lctw_chart_line(&D.g_b, D.ser[s_ema], D.n, lo, hi, D.logy, '*');
        blit(&D.g_b, in.y, in.x, color(PAIR_EMA, A_BOLD));
    }
    if (grid_fit(&D.g_m, in.w, in.h)) {
        lctw_chart_marks(&D.g_m, D.ser[s_spike], D.n, lo, hi, D.logy, '!');
        blit(&D.g_m, in.y, in.x, color(PAIR_WARN, A_BOLD));
    }
}

static int series_has_finite(int s) {
    for (size_t i = 0; i < D.n; i++)
        if (isfinite(D.ser[s][i])) return 1;
    return 0;
}

static void draw_loss(lctw_dash_rect panel) {
    char title[128], diff[48] = "";
    if (D.sm_diff.w > 0)
        snprintf(diff, sizeof diff, " %s diff %.4g", D.ascii ? "|" : "\u2502",
                 D.sm_diff.ema / D.sm_diff.w);
    char ct[32] = "-";
    if (D.sm_ct.w > 0) snprintf(ct, sizeof ct, "%.4g", D.sm_ct.ema / D.sm_ct.w);
    snprintf(title, sizeof title, " loss: ct %s%s  (. raw  * EMA  ! >%gx EMA: %ld)%s ", ct, diff,
             SPIKE_K, D.spikes, D.logy ? " [log-y]" : "");
    frame(panel, title, PAIR_EMA);
    lctw_dash_rect in = lctw_dash_rect_inner(panel, 0);
    if (series_has_finite(SER_DIFF)) {
        loss_chart(lctw_dash_rect_split_h(in, 2, 0, 1), "ct", SER_CT, SER_CT_EMA, SER_CT_SPIKE);
        loss_chart(lctw_dash_rect_split_h(in, 2, 1, 1), "diff", SER_DIFF, SER_DIFF_EMA,
                   SER_DIFF_SPIKE);
    } else {
        loss_chart(in, "ct", SER_CT, SER_CT_EMA, SER_CT_SPIKE);
    }
}

/* The planned c at step k (the stage with the last start ≤ k); NaN without a plan. */
static double plan_c_at(int64_t k) {
    if (D.plan.total_steps <= 0 || D.plan.n < 1) return NAN;
    int i = 0;
    while (i + 1 < D.plan.n && D.plan.start_step[i + 1] <= k)
        i++;
    return D.plan.c[i];
}

static void draw_c(lctw_dash_rect panel) {
    char title[128];
    double c = D.have_last ? D.last.c : NAN, frac = D.have_last ? D.last.frac_over_c : NAN;
    int64_t k = D.have_last && D.last.step > 0 ? D.last.step - 1 : 0; /* the last step's k */
    double pc = plan_c_at(k);
    if (!D.have_last)
        snprintf(title, sizeof title, " c  frac>c ");
    else if (isfinite(pc) && isfinite(c) && fabs(pc - c) > 1e-9 * fabs(pc))
        snprintf(title, sizeof title, " c %.3g (plan %.3g)  frac>c %.0f%% ", c, pc, 100 * frac);
    else
        snprintf(title, sizeof title, " c %.3g  frac>c %.0f%% ", c, 100 * frac);
    frame(panel, title, PAIR_C);
    lctw_dash_rect in = lctw_dash_rect_inner(panel, LABEL_W);
    lctw_dash_rect top = in, bot = in;
    top.h = (in.h + 1) / 2;
    bot.y = in.y + top.h;
    bot.h = in.h - top.h;
    int lx = in.x - LABEL_W;
    if (top.h >= 1 && top.w >= 1) {
        if (D.plan.total_steps > 0 && D.plan.n > 0) {
            /* the plan on a log axis over steps 0..total, "now" as a column, c as a dot on it */
            double st[LCTW_DASH_MAX_STAGES], lo = 0, hi = 1;
            int have = 0;
            for (int i = 0; i < D.plan.n; i++)
                st[i] = (double)D.plan.start_step[i];
            range_merge(D.plan.c, (size_t)D.plan.n, 1, &have, &lo, &hi);
            if (have && isfinite(c) && c > 0) { /* the current c too, without widening */
                lo = fmin(lo, log10(c));
                hi = fmax(hi, log10(c));
            }
            if (!have) {
                mvaddnstr(top.y, top.x, "(no c in the plan)", top.w);
            } else {
                put_label(top.y, lx, LABEL_W - 1, hi, 1);
                put_label(top.y + top.h - 1, lx, LABEL_W - 1, lo, 1);
                int now = lctw_chart_col((double)k, 0, (double)D.plan.total_steps, top.w);
                if (now >= top.w) now = top.w - 1;
                if (grid_fit(&D.g_m, top.w, top.h)) {
                    lctw_chart_vline(&D.g_m, now, D.ascii ? '|' : ':');
                    blit(&D.g_m, top.y, top.x, color(PAIR_DIM, A_DIM));
                }
                if (grid_fit(&D.g_a, top.w, top.h)) {
                    lctw_chart_steps(&D.g_a, st, D.plan.c, D.plan.n, 0, (double)D.plan.total_steps,
                                     lo, hi, 1);
                    blit(&D.g_a, top.y, top.x, color(PAIR_C, A_BOLD));
                }
                if (isfinite(c) && c > 0 && now >= 0 && grid_fit(&D.g_m, top.w, top.h)) {
                    /* the current c as a mark in the "now" column, on the curve's dot rows */
                    lctw_chart_marks(&D.g_m, &c, 1, lo, hi, 1, 'o');
                    int r = 0;
                    while (r < top.h && !D.g_m.cell[r * top.w])
                        r++;
                    attron(color(PAIR_WARN, A_BOLD));
                    if (r < top.h) mvaddch(top.y + r, top.x + now, 'o');
                    attroff(color(PAIR_WARN, A_BOLD));
                }
            }
        } else { /* no plan: the c series */
            int have = 0;
            double lo = 0, hi = 1;
            range_merge(D.ser[SER_C], D.n, 0, &have, &lo, &hi);
            if (!have) {
                waiting(top);
            } else {
                put_label(top.y, lx, LABEL_W - 1, hi, 0);
                put_label(top.y + top.h - 1, lx, LABEL_W - 1, lo, 0);
                if (grid_fit(&D.g_a, top.w, top.h)) {
                    lctw_chart_line(&D.g_a, D.ser[SER_C], D.n, lo, hi, 0, '*');
                    blit(&D.g_a, top.y, top.x, color(PAIR_C, A_BOLD));
                }
            }
        }
    }
    if (bot.h >= 1 && bot.w >= 1) { /* frac_over_c, always over [0, 1] */
        mvaddnstr(bot.y, lx, "   100% ", LABEL_W - 1);
        if (bot.h >= 2) mvaddnstr(bot.y + bot.h - 1, lx, " >c  0% ", LABEL_W - 1);
        if (grid_fit(&D.g_b, bot.w, bot.h)) {
            lctw_chart_line(&D.g_b, D.ser[SER_FRAC], D.n, 0, 1, 0, '*');
            blit(&D.g_b, bot.y, bot.x, color(PAIR_FRAC, A_BOLD));
        }
    }
}

static const char *sigma_s(void) { return D.ascii ? "s" : "\u03c3"; }

/* The bottom label row of a histogram: lo at the left, mid in the middle, hi at the right. */
static void hist_labels(lctw_dash_rect in, int y, double lo, double hi, const char *mid) {
    char a[32], b[32];
    snprintf(a, sizeof a, "%-.4g", lo);
    snprintf(b, sizeof b, "%.4g", hi);
    int la = (int)strlen(a), lb = (int)strlen(b), ml = (int)strlen(mid);
    mvaddnstr(y, in.x, a, in.w);
    if (la + lb + 1 < in.w) mvaddstr(y, in.x + in.w - lb, b);
    int mx = (in.w - ml) / 2; /* the middle text only where it clears both numbers */
    if (mx > la && mx + ml < in.w - lb) mvaddstr(y, in.x + mx, mid);
}

static void draw_hist(lctw_dash_rect panel) {
    char title[128];
    const lctw_dash_point *p = &D.last;
    const lctw_dash_hist *h = D.hist_mode ? &p->resid : &p->latent;
    if (!D.have_last)
        snprintf(title, sizeof title, " %s ", D.hist_mode ? "residuals" : "latents");
    else if (D.hist_mode)
        snprintf(title, sizeof title, " residuals %s  c %.3g  >c %.0f%% ",
                 D.ascii ? "sqrt(m_j)" : "\u221am_j", p->c, 100 * p->frac_over_c);
    else
        snprintf(title, sizeof title, " latents kurt %.2f >3%s %.2g%% >5%s %.2g%% ",
                 p->latent_kurtosis, sigma_s(), 100 * p->latent_tail3, sigma_s(),
                 100 * p->latent_tail5);
    frame(panel, title, PAIR_HIST);
    lctw_dash_rect in = lctw_dash_rect_inner(panel, 0);
    if (in.h < 2 || in.w < 1) return;
    if (!D.have_last || h->n <= 0 || !isfinite(h->lo) || !isfinite(h->hi)) {
        mvaddnstr(in.y + in.h / 2, in.x,
                  D.have_last ? "(no histogram in these metrics)" : "(waiting for the first step)",
                  in.w);
        return;
    }
    int gh = in.h - 1; /* the last row holds the labels */
    if (!grid_fit(&D.g_a, in.w, gh)) return;
    int logc = !D.hist_mode;
    double top = lctw_chart_bins(&D.g_a, h->counts, h->n, logc);
    attr_t *cols = calloc((size_t)in.w, sizeof *cols);
    double *gauss = calloc((size_t)in.w, sizeof *gauss);
    if (!cols || !gauss) {
        free(cols);
        free(gauss);
        return;
    }
    double total = 0, peak = 0;
    for (int b = 0; b < h->n; b++) {
        if (isfinite(h->counts[b]) && h->counts[b] > 0) total += h->counts[b];
        if (h->counts[b] > peak) peak = h->counts[b];
    }
    for (int x = 0; x < in.w; x++) {
        int tail = !D.hist_mode && lctw_chart_col_tail(x, in.w, h->n, h->lo, h->hi, p->latent_mean,
                                                       p->latent_std, TAIL_K);
        cols[x] = tail ? color(PAIR_WARN, A_BOLD) : color(PAIR_HIST, 0);
    }
    if (top > 0) blit_cols(&D.g_a, in.y, in.x, 0, cols);
    char mid[64];
    if (!D.hist_mode) { /* the Gaussian of the batch's mean and std, on the same log scale */
        lctw_chart_gauss_counts(h->lo, h->hi, h->n, p->latent_mean, p->latent_std, total, in.w,
                                gauss);
        if (top > 0 && grid_fit(&D.g_m, in.w, gh)) {
            lctw_chart_levels(&D.g_m, gauss, top, 1, '*');
            blit(&D.g_m, in.y, in.x, color(PAIR_EMA, A_BOLD));
        }
        snprintf(mid, sizeof mid, "log n  * N(%s,%s)", D.ascii ? "m" : "\u03bc", sigma_s());
        hist_labels(in, in.y + gh, h->lo, h->hi, mid);
    } else { /* c as a vertical line (or an arrow at the side it lies beyond) */
        int cx = lctw_chart_bin_col(p->c, h->lo, h->hi, h->n, in.w);
        snprintf(mid, sizeof mid, "peak %.0f  | = c", peak);
        hist_labels(in, in.y + gh, h->lo, h->hi, mid);
        attron(color(PAIR_WARN, A_BOLD));
        if (cx >= 0 && cx < in.w && grid_fit(&D.g_m, in.w, gh)) {
            lctw_chart_vline(&D.g_m, cx, '|');
            blit(&D.g_m, in.y, in.x, color(PAIR_WARN, A_BOLD));
        } else if (cx == -1) {
            mvaddstr(in.y, in.x, "<c");
        } else if (cx == in.w) {
            mvaddstr(in.y, in.x + in.w - 2, "c>");
        }
        attroff(color(PAIR_WARN, A_BOLD));
    }
    free(cols);
    free(gauss);
}

static void draw_help(const lctw_dash_layout *l) {
    static const char *lines[] = {
        "lctw dashboard - keys (Esc then a digit = the F-key)",
        "",
        "  F1  Esc 1   this help (any key closes it)",
        "  F2  Esc 2   save a checkpoint",
        "  F3  Esc 3   log-y on the loss charts",
        "  F4  Esc 4   histogram: batch latents / residuals",
        "  F5  Esc 5   pause / resume",
        "  F10 Esc 0   stop at the next step boundary",
        "  Ctrl-C      stop (as in tr:run: returns \"interrupted\")",
        "  other keys  the prompt (Lua between two steps)",
        "",
        "loss: ct | diff; . raw, * EMA, ! spike (> 3x EMA)",
        "c: the planned c per stage, : now, o current c; frac>c",
        "latents: log counts, * Gaussian of the same mean and",
        "  std, red bins beyond 3 sigma (N: 0.27% >3s, 6e-7 >5s)",
        "residuals: per-sample sqrt(m_j), | marks c",
    };
    lctw_dash_rect r = l->help;
    for (int y = 0; y < r.h; y++)
        mvhline(r.y + y, r.x, ' ', r.w);
    frame(r, " help ", PAIR_EMA);
    int n = (int)(sizeof lines / sizeof *lines);
    for (int i = 0; i < n && i < r.h - 2; i++)
        mvaddnstr(r.y + 1 + i, r.x + 2, lines[i], r.w - 4);
    if (!D.prompt && r.h - 2 > n)
        mvaddnstr(r.y + 1 + n, r.x + 2, "  q           quit (viewer)", r.w - 4);
}

static void set_cursor(int on) {
    if (on != D.cursor) curs_set(on);
    D.cursor = on;
}

void lctw_dash_draw(const char *status, int paused) {
    if (!D.open) return;
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    lctw_dash_layout l;
    erase();
    if (!lctw_dash_layout_compute(cols, rows, D.prompt, &l)) {
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
        if (y + 2 < rows)
            mvaddnstr(y + 2, 0, D.prompt ? "F10 stop  F5 pause" : "q quit  F5 pause", cols);
        set_cursor(0);
        wnoutrefresh(stdscr);
        doupdate();
        return;
    }
    /* status line */
    attron(color(PAIR_STATUS, A_REVERSE * !D.colors));
    mvhline(0, 0, ' ', cols);
    mvaddnstr(0, 0, status ? status : "", cols);
    attroff(color(PAIR_STATUS, A_REVERSE * !D.colors));

    draw_loss(l.loss);
    draw_c(l.c);
    draw_hist(l.hist);
    if (D.prompt) lctw_dash_prompt_draw(l.output, l.prompt);

    attron(A_BOLD);
    mvaddnstr(l.keys.y, 0,
              D.prompt
                  ? "F1 help  F2 save  F3 log-y  F4 hist  F5 pause  F10 stop  (Esc+digit: same)"
                  : "q/F10 quit  F1 help  F2 save  F3 log-y  F4 hist  F5 pause",
              cols);
    attroff(A_BOLD);
    if (paused) {
        attron(color(PAIR_WARN, A_BOLD | A_REVERSE));
        mvaddstr(l.keys.y, cols - 10, " [PAUSED] ");
        attroff(color(PAIR_WARN, A_BOLD | A_REVERSE));
    }
    int cy, cx;
    if (D.help) {
        draw_help(&l);
        set_cursor(0);
    } else if (D.prompt && lctw_dash_prompt_cursor(&cy, &cx)) {
        move(cy, cx);
        set_cursor(1);
    } else {
        set_cursor(0);
    }
    wnoutrefresh(stdscr);
    doupdate();
}

/* The command of an F-key or of the digit after Esc; NONE for anything else. */
static lctw_dash_key command_of(int ch, int after_esc) {
    if (after_esc) {
        switch (ch) {
        case '1': return LCTW_DASH_KEY_HELP;
        case '2': return LCTW_DASH_KEY_SAVE;
        case '3': return LCTW_DASH_KEY_LOGY;
        case '4': return LCTW_DASH_KEY_HIST;
        case '5': return LCTW_DASH_KEY_PAUSE;
        case '0': return LCTW_DASH_KEY_QUIT;
        default: return LCTW_DASH_KEY_NONE;
        }
    }
    if (ch == KEY_F(1)) return LCTW_DASH_KEY_HELP;
    if (ch == KEY_F(2)) return LCTW_DASH_KEY_SAVE;
    if (ch == KEY_F(3)) return LCTW_DASH_KEY_LOGY;
    if (ch == KEY_F(4)) return LCTW_DASH_KEY_HIST;
    if (ch == KEY_F(5)) return LCTW_DASH_KEY_PAUSE;
    if (ch == KEY_F(10)) return LCTW_DASH_KEY_QUIT;
    return LCTW_DASH_KEY_NONE;
}

static lctw_dash_key run_command(lctw_dash_key k) {
    if (k == LCTW_DASH_KEY_HELP) D.help = !D.help;
    if (k == LCTW_DASH_KEY_LOGY) D.logy = !D.logy;
    if (k == LCTW_DASH_KEY_HIST) D.hist_mode = !D.hist_mode;
    return k;
}

/* A key that is not a command: the prompt's, or (viewer) q or nothing. */
static lctw_dash_key to_prompt(int ch) {
    if (!D.prompt) return (ch == 'q' || ch == 'Q') ? LCTW_DASH_KEY_QUIT : LCTW_DASH_KEY_OTHER;
    return lctw_dash_prompt_feed(ch) ? LCTW_DASH_KEY_LINE : LCTW_DASH_KEY_OTHER;
}

lctw_dash_key lctw_dash_poll(int timeout_ms) {
    if (!D.open) return LCTW_DASH_KEY_NONE;
    wtimeout(stdscr, timeout_ms > 0 ? timeout_ms : 0);
    int ch = getch();
    if (ch == ERR) return LCTW_DASH_KEY_NONE;
    if (ch == KEY_RESIZE) return LCTW_DASH_KEY_RESIZE;
    int after_esc = 0;
    if (ch == ESC && !D.esc) { /* Esc: a digit may follow, now or at a later poll */
        wtimeout(stdscr, 0);
        ch = getch();
        if (ch == ERR) {
            D.esc = 1;
            return LCTW_DASH_KEY_NONE;
        }
        if (ch == KEY_RESIZE) {
            D.esc = 1;
            return LCTW_DASH_KEY_RESIZE;
        }
        after_esc = 1;
    } else if (D.esc) {
        D.esc = 0;
        after_esc = 1;
    }
    lctw_dash_key k = command_of(ch, after_esc);
    if (D.help) { /* any key closes the help; commands other than help still act */
        D.help = 0;
        if (k == LCTW_DASH_KEY_NONE || k == LCTW_DASH_KEY_HELP) return LCTW_DASH_KEY_HELP;
        return run_command(k);
    }
    if (k != LCTW_DASH_KEY_NONE) return run_command(k);
    if (after_esc) { /* Esc + another key: both belong to the prompt (readline's meta keys) */
        if (!D.prompt) return to_prompt(ch);
        if (lctw_dash_prompt_feed(ESC)) return LCTW_DASH_KEY_LINE;
        if (ch == ESC) { /* Esc Esc: the second may start a command */
            D.esc = 1;
            return LCTW_DASH_KEY_OTHER;
        }
    }
    return to_prompt(ch);
}
