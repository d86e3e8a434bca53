/* layout.h — the dashboard's panel rectangles as a pure function of the terminal size (tested
 * without a terminal; the nvtop/htop approach). Below the minimum size there are no panels, only
 * a message that names the size needed.
 *
 *   row 0              status line (step/total, stage and N, lr, samples/s, ETA, device and
 *                      memory, last checkpoint)
 *   rows 1 .. a        loss panel (full width): loss_ct and loss_diff, raw and smoothed
 *   rows a+1 .. b      c panel (left half) | histogram panel (right half)
 *   rows b+1 .. H-3    output pane (what prompt lines print; ≥ 3 rows, more on taller screens)
 *   row H-2            prompt line
 *   row H-1            key hints
 * Without a prompt (lctw --attach: a viewer) there are no output and prompt rows; the panels
 * take their space.
 */
#ifndef LCTW_DASH_LAYOUT_H
#define LCTW_DASH_LAYOUT_H

#define LCTW_DASH_MIN_COLS 80
#define LCTW_DASH_MIN_ROWS 24
#define LCTW_DASH_MIN_OUTPUT 3 /* output-pane rows at the minimum size */

typedef struct lctw_dash_rect {
    int y, x, h, w;
} lctw_dash_rect;

typedef struct lctw_dash_layout {
    int ok; /* 0: too small; msg says what is needed */
    int cols, rows, has_prompt;
    /* output and prompt have h == 0 without a prompt */
    lctw_dash_rect status, loss, c, hist, output, prompt, keys, help;
    char msg[96];
} lctw_dash_layout;

/* Fills *l for a cols×rows terminal, with or without the prompt rows; returns l->ok. */
int lctw_dash_layout_compute(int cols, int rows, int has_prompt, lctw_dash_layout *l);

/* The chart area inside a panel rectangle: without the border (1 cell) and an axis label
 * column of label_w cells on the left. */
lctw_dash_rect lctw_dash_rect_inner(lctw_dash_rect r, int label_w);

/* Part i of n side-by-side parts of r with gap columns between them (widths differ by at most
 * one, the first parts get the extra columns). */
lctw_dash_rect lctw_dash_rect_split_h(lctw_dash_rect r, int n, int i, int gap);

#endif
