/* chart.h — terminal charts as pure functions: a series into a character grid (no curses).
 *
 * Line charts use braille cells (U+2800 + dot bits, 2×4 dots per cell, as nvtop/btop do) or, in
 * the ASCII fallback, one mark per cell. Bars (histograms) use the eighth blocks U+2581..U+2588
 * or '#'. Marks (spikes, the "now" line, the Gaussian reference curve, the c marker) are single
 * ASCII characters in cells of their own grid, drawn over the others. Non-finite values (and values
 * ≤ 0 on a log-y chart) leave a gap. When a series is longer than the chart is wide, each dot
 * column shows the mean of the finite values of its bucket (marks: the largest), so the whole
 * history stays visible. The dashboard (dash.c) prints the rows; tests compare them.
 *
 * Binned histograms (the trainer's 64 bins) map bins to columns: with at least as many columns as
 * bins, column x shows bin ⌊x·nb/w⌋ (a bin spans several columns); with fewer, column x shows
 * the sum of the bins b with ⌊b·w/nb⌋ = x.
 */
#ifndef LCTW_DASH_CHART_H
#define LCTW_DASH_CHART_H

#include <stddef.h>

#include "core/status.h"

typedef enum { LCTW_CHART_BRAILLE = 0, LCTW_CHART_ASCII = 1 } lctw_chart_glyphs;
typedef enum { LCTW_CHART_LINE = 0, LCTW_CHART_BARS = 1, LCTW_CHART_MARKS = 2 } lctw_chart_kind;

typedef struct lctw_chart_grid {
    int w, h; /* cells */
    lctw_chart_glyphs glyphs;
    lctw_chart_kind kind;
    /* w*h, row-major from the top. LINE braille: dot bits; LINE ascii: the mark or 0;
     * BARS: filled eighths of the cell 0..8; MARKS: the ASCII mark or 0 */
    unsigned char *cell;
} lctw_chart_grid;

lctw_status lctw_chart_grid_init(lctw_chart_grid *g, int w, int h, lctw_chart_glyphs glyphs);
void lctw_chart_grid_release(lctw_chart_grid *g);
void lctw_chart_grid_clear(lctw_chart_grid *g);

/* The y range of the finite values of y[0..n) (log10 of the positive ones when logy). A constant
 * series v gets ±|v|/2 around it (±0.5 for 0; ±1 decade when logy). Returns 0 when no value can be
 * shown (lo = hi = 0), else 1. */
int lctw_chart_range(const double *y, size_t n, int logy, double *lo, double *hi);

/* Draws y[0..n) into g (kind LINE) against the range [lo, hi] (log10 units when logy; as returned
 * by lctw_chart_range). ascii_mark is the character used with LCTW_CHART_ASCII. Values outside the
 * range are clamped to the border row. Dots are added to what is already in g. */
void lctw_chart_line(lctw_chart_grid *g, const double *y, size_t n, double lo, double hi, int logy,
                     char ascii_mark);

/* Histogram of the finite values of v[0..n) into g (kind BARS), one bin per column over
 * [*lo, *hi] (the finite min and max, returned); the tallest bin fills the height. Returns the
 * count of the tallest bin (0: nothing to show). */
size_t lctw_chart_hist(lctw_chart_grid *g, const double *v, size_t n, double *lo, double *hi);

/* ---- marks (kind MARKS) ---- */

/* A mark at the cell of each finite value of y[0..n), with the x and y mapping of
 * lctw_chart_line for the same grid size and glyphs (so marks sit on the line); a bucket of
 * several values is marked at its largest. Marks are added to what is already in g. */
void lctw_chart_marks(lctw_chart_grid *g, const double *y, size_t n, double lo, double hi, int logy,
                      char mark);
/* A mark in every row of column x (nothing when x is outside the grid). */
void lctw_chart_vline(lctw_chart_grid *g, int x, char mark);
/* The column of value v on a w-column axis over [lo, hi]: ⌊(v − lo)/(hi − lo)·w⌋, the last column
 * for v = hi; −1 below lo, w above hi, −2 when v is not finite or hi ≤ lo. */
int lctw_chart_col(double v, double lo, double hi, int w);
/* 1 when raw is a spike against the smoothed value: both finite, smooth > 0 and raw > k·smooth. */
int lctw_chart_is_spike(double raw, double smooth, double k);

/* ---- step curve (the c schedule) ---- */

/* A piecewise-constant curve into g (kind LINE): value y[i] from x = start[i] until the next
 * start (start ascending; the first value also before start[0]), over the x axis [x_lo, x_hi]
 * (dot column j at x_lo + (j + ½)·(x_hi − x_lo)/dots) and y range [lo, hi] (log10 units when
 * logy). Jumps are joined by vertical runs of dots in the column of the new value. A non-finite
 * value leaves its stretch empty. */
void lctw_chart_steps(lctw_chart_grid *g, const double *start, const double *y, int n, double x_lo,
                      double x_hi, double lo, double hi, int logy);

/* ---- binned histograms ---- */

/* Bins [*b0, *b1) shown in column x of w (nb bins; see the header comment). */
void lctw_chart_col_bins(int x, int w, int nb, int *b0, int *b1);
/* The column where value v's bin is shown (bins of equal width over [lo, hi]; the first such
 * column when a bin spans several); −1 below lo, w above hi, −2 when not finite or hi ≤ lo. */
int lctw_chart_bin_col(double v, double lo, double hi, int nb, int w);
/* Bars of counts[0..nb) into g (kind BARS), heights ∝ the column's count, or log10(1 + count)
 * when logc; the tallest column fills the height and a non-zero count shows at least one eighth
 * (ASCII: one cell). Returns the scale: the tallest column's (transformed) value, 0 when every
 * count is 0 (nothing drawn). */
double lctw_chart_bins(lctw_chart_grid *g, const double *counts, int nb, int logc);
/* Expected counts per column of a Gaussian N(mu, sigma²) with `total` samples over the bins of
 * [lo, hi] that each of the w columns shows: total·(Φ((b − mu)/σ) − Φ((a − mu)/σ)) for the
 * column's value range [a, b). out[0..w); all 0 when sigma ≤ 0 or hi ≤ lo. */
void lctw_chart_gauss_counts(double lo, double hi, int nb, double mu, double sigma, double total,
                             int w, double *out);
/* 1 when the centre of column x's value range lies beyond mu ± k·sigma. */
int lctw_chart_col_tail(int x, int w, int nb, double lo, double hi, double mu, double sigma,
                        double k);
/* Marks v[0..g->w) (one value per column, on the scale `top` returned by lctw_chart_bins, log10(1 +
 * v) when logc) at the cell holding each value's level: level L = f(v)/top·h cells from the bottom
 * goes into cell ⌈L⌉ − 1 (the top cell when L > h); no mark when L < 1/16 (under half of the
 * smallest bar step) or v is not finite. */
void lctw_chart_levels(lctw_chart_grid *g, const double *v, double top, int logc, char mark);

/* The UTF-8 (or ASCII) text of cell (x, y): at most 3 bytes + NUL in buf[8]. Empty cells are
 * a space. Returns buf. */
const char *lctw_chart_glyph(const lctw_chart_grid *g, int x, int y, char buf[8]);
/* Row y as one NUL-terminated string into buf[cap] (needs at most 3*w+1 bytes); returns buf. */
char *lctw_chart_row(const lctw_chart_grid *g, int y, char *buf, size_t cap);

#endif
