/* layout.c — panel rectangles from the terminal size (see layout.h). Pure; no curses. */
#include "dash/layout.h"

#include <stdio.h>
#include <string.h>

int lctw_dash_layout_compute(int cols, int rows, lctw_dash_layout *l) {
    memset(l, 0, sizeof *l);
    l->cols = cols;
    l->rows = rows;
    if (cols < LCTW_DASH_MIN_COLS || rows < LCTW_DASH_MIN_ROWS) {
        snprintf(l->msg, sizeof l->msg, "terminal too small: %dx%d, need at least %dx%d", cols,
                 rows, LCTW_DASH_MIN_COLS, LCTW_DASH_MIN_ROWS);
        return 0;
    }
    int body = rows - 2;      /* between the status line and the key hints */
    int top = (body + 1) / 2; /* the loss panel gets the larger half */
    int left = cols / 2;
    l->status = (lctw_dash_rect){0, 0, 1, cols};
    l->loss = (lctw_dash_rect){1, 0, top, cols};
    l->c = (lctw_dash_rect){1 + top, 0, body - top, left};
    l->hist = (lctw_dash_rect){1 + top, left, body - top, cols - left};
    l->keys = (lctw_dash_rect){rows - 1, 0, 1, cols};
    /* the help overlay: centred, 60×14 at most */
    int hw = cols < 64 ? cols - 4 : 60, hh = rows < 18 ? rows - 4 : 14;
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
