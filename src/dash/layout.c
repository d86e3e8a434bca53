/* layout.c — panel rectangles from the terminal size (see layout.h). Pure; no curses. */
#include "dash/layout.h"

#include <stdio.h>
#include <string.h>

int lctw_dash_layout_compute(int cols, int rows, int has_prompt, lctw_dash_layout *l) {
    memset(l, 0, sizeof *l);
    l->cols = cols;
    l->rows = rows;
    l->has_prompt = has_prompt != 0;
    if (cols < LCTW_DASH_MIN_COLS || rows < LCTW_DASH_MIN_ROWS) {
        snprintf(l->msg, sizeof l->msg, "terminal too small: %dx%d, need at least %dx%d", cols,
                 rows, LCTW_DASH_MIN_COLS, LCTW_DASH_MIN_ROWS);
        return 0;
    }
    /* the output pane grows by one row for every 4 rows above the minimum (a quarter of the
     * extra height), the panels get the rest */
    int out = has_prompt ? LCTW_DASH_MIN_OUTPUT + (rows - LCTW_DASH_MIN_ROWS) / 4 : 0;
    int below = has_prompt ? out + 2 : 1; /* output + prompt + keys, or keys */
    int body = rows - 1 - below;          /* between the status line and the rows below */
    int top = (body + 1) / 2;             /* the loss panel gets the larger half */
    int left = cols / 2;
    l->status = (lctw_dash_rect){0, 0, 1, cols};
    l->loss = (lctw_dash_rect){1, 0, top, cols};
    l->c = (lctw_dash_rect){1 + top, 0, body - top, left};
    l->hist = (lctw_dash_rect){1 + top, left, body - top, cols - left};
    if (has_prompt) {
        l->output = (lctw_dash_rect){1 + body, 0, out, cols};
        l->prompt = (lctw_dash_rect){rows - 2, 0, 1, cols};
    } else {
        l->output = (lctw_dash_rect){1 + body, 0, 0, cols};
        l->prompt = (lctw_dash_rect){rows - 1, 0, 0, cols};
    }
    l->keys = (lctw_dash_rect){rows - 1, 0, 1, cols};
    /* the help overlay: centred, 66×20 at most */
    int hw = cols < 70 ? cols - 4 : 66, hh = rows < 24 ? rows - 4 : 20;
    l->help = (lctw_dash_rect){(rows - hh) / 2, (cols - hw) / 2, hh, hw};
    l->ok = 1;
    return 1;
}

lctw_dash_rect lctw_dash_rect_inner(lctw_dash_rect r, int label_w) {
    lctw_dash_rect in = {r.y + 1, r.x + 1 + label_w, r.h - 2, r.w - 2 - label_w};
    if (in.h < 0) in.h = 0;
    if (in.w < 0) in.w = 0;
    return in;
}

lctw_dash_rect lctw_dash_rect_split_h(lctw_dash_rect r, int n, int i, int gap) {
    if (n < 1) n = 1;
    int avail = r.w - (n - 1) * gap;
    if (avail < 0) avail = 0;
    int base = avail / n, extra = avail % n;
    int x = r.x;
    for (int k = 0; k < i; k++)
        x += base + (k < extra) + gap;
    lctw_dash_rect p = {r.y, x, r.h, base + (i < extra)};
    return p;
}
