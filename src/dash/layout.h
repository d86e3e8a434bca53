/* layout.h — the dashboard's panel rectangles as a pure function of the terminal size (tested
 * without a terminal; the nvtop/htop approach). Below the minimum size there are no panels, only
 * a message that names the size needed.
 *
 *   row 0            status line (step/total, N, lr, samples/s, ETA, checkpoint)
 *   rows 1 .. k      loss panel (full width): raw loss and its EMA
 *   rows k+1 .. H-2  c panel (left half): c and frac_over_c | histogram panel (right half)
 *   row H-1          key hints
 */
#ifndef LCTW_DASH_LAYOUT_H
#define LCTW_DASH_LAYOUT_H

#define LCTW_DASH_MIN_COLS 80
#define LCTW_DASH_MIN_ROWS 24

typedef struct lctw_dash_rect {
    int y, x, h, w;
} lctw_dash_rect;

typedef struct lctw_dash_layout {
    int ok; /* 0: too small; msg says what is needed */
    int cols, rows;
    lctw_dash_rect status, loss, c, hist, keys, help;
    char msg[96];
} lctw_dash_layout;

/* Fills *l for a cols×rows terminal; returns l->ok. */
int lctw_dash_layout_compute(int cols, int rows, lctw_dash_layout *l);

/* The chart area inside a panel rectangle: without the border (1 cell) and an axis label
 * column of label_w cells on the left. */
lctw_dash_rect lctw_dash_rect_inner(lctw_dash_rect r, int label_w);

#endif
