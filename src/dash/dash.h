/* dash.h — the live training dashboard's curses front end (ncursesw).
 *
 * One owner of curses: only this file calls it (prompt.c draws into the screen dash.c owns, when
 * dash.c asks). The training loop (lua/lctw/dash.lua) or the metrics-log viewer (lctw --attach)
 * pushes each step's metrics, asks for a redraw at most every ~200 ms and polls keys between
 * steps; there is no thread. lctw_dash_close always restores the terminal; it is also registered
 * with atexit so an error that unwinds past the loop (or exit) cannot leave the terminal in curses
 * mode.
 *
 * Panels: loss (loss_ct and loss_diff, raw and EMA, spikes marked, log-y), c (the planned c of
 * every curriculum stage with the current step marked; frac_over_c), and a histogram panel that
 * cycles between the batch's latent values (log counts, the Gaussian of the same mean and std,
 * tails beyond 3σ highlighted) and the per-sample residuals √m_j with c marked.
 *
 * Keys never collide with typing at the prompt: F1 help, F2 save, F3 log-y, F4 histogram, F5
 * pause, F10 stop, or Esc followed by 1, 2, 3, 4, 5, 0. Every other key goes to the prompt
 * (lctw_dash_prompt_feed). Without a prompt (a viewer) plain q also quits.
 */
#ifndef LCTW_DASH_DASH_H
#define LCTW_DASH_DASH_H

#include <stdint.h>

#include "core/status.h"

typedef enum {
    LCTW_DASH_KEY_NONE = 0,
    LCTW_DASH_KEY_QUIT,   /* F10, Esc 0 (q without a prompt) */
    LCTW_DASH_KEY_PAUSE,  /* F5, Esc 5: pause / resume */
    LCTW_DASH_KEY_LOGY,   /* F3, Esc 3: log-y on the loss chart (toggled here) */
    LCTW_DASH_KEY_HELP,   /* F1, Esc 1: help overlay (toggled here; any key closes it) */
    LCTW_DASH_KEY_RESIZE, /* the terminal changed size */
    LCTW_DASH_KEY_OTHER,  /* a key went to the prompt (its line changed) or was ignored */
    LCTW_DASH_KEY_SAVE,   /* F2, Esc 2: save a checkpoint (the caller does it) */
    LCTW_DASH_KEY_HIST,   /* F4, Esc 4: the histogram panel cycles (toggled here) */
    LCTW_DASH_KEY_LINE,   /* a complete prompt line is waiting: lctw_dash_prompt_take */
} lctw_dash_key;

/* The histograms the trainer reports per step (at most this many bins are kept). */
#define LCTW_DASH_HIST_MAX 256
typedef struct lctw_dash_hist {
    double lo, hi;
    int n; /* bins; 0: none */
    double counts[LCTW_DASH_HIST_MAX];
} lctw_dash_hist;

/* One step's values, as tr:step() and metrics.jsonl name them; NaN (or n = 0) where missing. */
typedef struct lctw_dash_point {
    int64_t step; /* completed steps; < 0 unknown */
    double loss_ct, loss_diff, c, frac_over_c;
    int skipped; /* a non-finite step: its losses are drawn as gaps */
    double latent_mean, latent_std, latent_kurtosis, latent_tail3, latent_tail5;
    lctw_dash_hist latent, resid;
} lctw_dash_point;

/* The run's plan: c for each curriculum stage. */
#define LCTW_DASH_MAX_STAGES 64
typedef struct lctw_dash_schedule {
    int64_t total_steps; /* ≤ 0: no plan */
    int n;
    int stage[LCTW_DASH_MAX_STAGES];
    int64_t N[LCTW_DASH_MAX_STAGES], start_step[LCTW_DASH_MAX_STAGES];
    double c[LCTW_DASH_MAX_STAGES];
} lctw_dash_schedule;

/* 1 when a dashboard can be shown: stdout is a terminal and TERM is set and not "dumb". */
int lctw_dash_usable(void);
/* Enters curses mode. ascii: ASCII glyphs (also chosen when the locale's character set is not
 * UTF-8). prompt: the output pane and prompt line are shown and keys go to the prompt (opened
 * here with "lctw> "); 0 for a viewer. The series are kept (lctw_dash_reset clears them). */
lctw_status lctw_dash_open(int ascii, int prompt);
int lctw_dash_is_open(void);
/* The terminal's width in columns while open (0 when closed). */
int lctw_dash_cols(void);
/* Restores the terminal (safe to call twice or when not open). */
void lctw_dash_close(void);

/* Sets every field of *p to "missing". */
void lctw_dash_point_init(lctw_dash_point *p);
/* One step's values (works whether or not the screen is open). */
void lctw_dash_push_point(const lctw_dash_point *p);
/* Only loss (as loss_ct), c and frac_over_c: the first interface, kept for callers of it. */
void lctw_dash_push(double loss, double c, double frac_over_c);
/* The plan shown in the c panel (copied). */
void lctw_dash_set_schedule(const lctw_dash_schedule *s);
/* Clears the series, histograms and statistics (the plan stays). */
void lctw_dash_reset(void);

/* Redraws every panel, the output pane and the prompt. status: the status line; paused: shows
 * [PAUSED]. */
void lctw_dash_draw(const char *status, int paused);
/* Reads one key, waiting up to timeout_ms (0: no wait). Toggles log-y, the histogram and help
 * itself (and redraws nothing); returns what the key was. */
lctw_dash_key lctw_dash_poll(int timeout_ms);
int lctw_dash_logy(void);
/* 0: latent histogram, 1: residual histogram. */
int lctw_dash_hist_mode(void);

#endif
