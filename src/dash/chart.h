/* chart.h — terminal charts as pure functions: a series into a character grid (no curses).
 *
 * Line charts use braille cells (U+2800 + dot bits, 2×4 dots per cell, as nvtop/btop do) or, in
 * the ASCII fallback, one mark per cell. Bars (histograms) use the eighth blocks U+2581..U+2588
 * or '#'. Non-finite values (and values ≤ 0 on a log-y chart) leave a gap. When a series is longer
 * than the chart is wide, each dot column shows the mean of the finite values of its bucket, so the
 * whole history stays visible. The dashboard (dash.c) prints the rows; tests compare them.
 */
#ifndef LCTW_DASH_CHART_H
#define LCTW_DASH_CHART_H

#include <stddef.h>

#include "core/status.h"

typedef enum { LCTW_CHART_BRAILLE = 0, LCTW_CHART_ASCII = 1 } lctw_chart_glyphs;
typedef enum { LCTW_CHART_LINE = 0, LCTW_CHART_BARS = 1 } lctw_chart_kind;

typedef struct lctw_chart_grid {
    int w, h; /* cells */
    lctw_chart_glyphs glyphs;
    lctw_chart_kind kind;
    /* w*h, row-major from the top. LINE braille: dot bits; LINE ascii: the mark or 0;
     * BARS: filled eighths of the cell 0..8 */
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

/* The UTF-8 (or ASCII) text of cell (x, y): at most 3 bytes + NUL in buf[8]. Empty cells are
 * a space. Returns buf. */
const char *lctw_chart_glyph(const lctw_chart_grid *g, int x, int y, char buf[8]);
/* Row y as one NUL-terminated string into buf[cap] (needs at most 3*w+1 bytes); returns buf. */
char *lctw_chart_row(const lctw_chart_grid *g, int y, char *buf, size_t cap);

#endif
