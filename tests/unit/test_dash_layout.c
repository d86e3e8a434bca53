/* test_dash_layout.c — the dashboard's pure parts without a terminal: panel layout for several
 * terminal sizes, with and without the prompt rows (every cell covered exactly once, the size
 * message below the minimum), and line charts and histograms rendered into small character
 * grids, compared with grids derived by hand from the mapping
 * row = round((hi − v)/(hi − lo)·(dots − 1)) and the braille dot numbering. The panels' newer
 * chart functions are tested in test_dash_chart.c. */
#include <math.h>
#include <stdlib.h>

#include "dash/chart.h"
#include "dash/layout.h"
#include "test.h"

/* Each cell of the cols×rows screen must belong to exactly one of the regions. */
static void check_cover(int cols, int rows, int prompt) {
    lctw_dash_layout l;
    CHECK(lctw_dash_layout_compute(cols, rows, prompt, &l), "%dx%d rejected: %s", cols, rows,
          l.msg);
    if (!l.ok) return;
    unsigned char *cov = calloc((size_t)cols * rows, 1);
    lctw_dash_rect r[7] = {l.status, l.loss, l.c, l.hist, l.output, l.prompt, l.keys};
    for (int k = 0; k < 7; k++) {
        CHECK(r[k].y >= 0 && r[k].x >= 0 && r[k].y + r[k].h <= rows && r[k].x + r[k].w <= cols,
              "%dx%d: region %d (%d,%d %dx%d) outside the screen", cols, rows, k, r[k].y, r[k].x,
              r[k].w, r[k].h);
        for (int y = r[k].y; y < r[k].y + r[k].h && y < rows; y++)
            for (int x = r[k].x; x < r[k].x + r[k].w && x < cols; x++)
                cov[y * cols + x]++;
    }
    int bad = 0;
    for (int i = 0; i < cols * rows; i++)
        bad += cov[i] != 1;
    CHECK(bad == 0, "%dx%d%s: %d cells covered 0 or >1 times", cols, rows,
          prompt ? "" : " (no prompt)", bad);
    /* panels big enough for a chart: border + labels + at least 7 rows/20 columns between them */
    CHECK(l.loss.h >= 9 && l.c.h >= 9 && l.hist.h >= 9, "%dx%d: panel heights %d %d %d", cols, rows,
          l.loss.h, l.c.h, l.hist.h);
    CHECK(l.c.w >= 40 && l.hist.w >= 40, "%dx%d: panel widths %d %d", cols, rows, l.c.w, l.hist.w);
    if (prompt) {
        CHECK(l.output.h >= 3 && l.prompt.h == 1 && l.prompt.y == rows - 2 && l.keys.y == rows - 1,
              "%dx%d: output %d rows, prompt row %d, keys row %d", cols, rows, l.output.h,
              l.prompt.y, l.keys.y);
    } else {
        CHECK(l.output.h == 0 && l.prompt.h == 0 && l.keys.y == rows - 1,
              "%dx%d without prompt: output %d rows, prompt %d rows", cols, rows, l.output.h,
              l.prompt.h);
    }
    CHECK(l.help.y >= 0 && l.help.x >= 0 && l.help.y + l.help.h <= rows &&
              l.help.x + l.help.w <= cols && l.help.h >= 18,
          "%dx%d: help overlay outside or too short (%d rows)", cols, rows, l.help.h);
    free(cov);
}

static void t_layout_80x24(void) {
    check_cover(80, 24, 1);
    lctw_dash_layout l;
    lctw_dash_layout_compute(80, 24, 1, &l);
    /* 24 = status 1 + loss 9 + c|hist 9 + output 3 + prompt 1 + keys 1 */
    CHECK(l.status.y == 0 && l.status.h == 1 && l.keys.y == 23 && l.prompt.y == 22,
          "status row %d, prompt row %d, keys row %d", l.status.y, l.prompt.y, l.keys.y);
    CHECK(l.loss.y == 1 && l.loss.w == 80 && l.loss.h == 9, "loss %d,%d %dx%d", l.loss.y, l.loss.x,
          l.loss.w, l.loss.h);
    CHECK(l.c.x == 0 && l.hist.x == 40 && l.c.y == 10 && l.hist.h == 9,
          "c x %d, hist x %d y %d h %d", l.c.x, l.hist.x, l.hist.y, l.hist.h);
    CHECK(l.output.y == 19 && l.output.h == 3 && l.output.w == 80, "output %d,%d %dx%d", l.output.y,
          l.output.x, l.output.w, l.output.h);
    lctw_dash_rect in = lctw_dash_rect_inner(l.loss, 9);
    CHECK(in.y == 2 && in.x == 10 && in.h == 7 && in.w == 69, "inner %d,%d %dx%d", in.y, in.x, in.w,
          in.h);
}

static void t_layout_80x24_no_prompt(void) {
    check_cover(80, 24, 0);
    lctw_dash_layout l;
    lctw_dash_layout_compute(80, 24, 0, &l);
    /* the panels take the output and prompt rows: 24 = 1 + 11 + 11 + 1 */
    CHECK(l.loss.h == 11 && l.c.y == 12 && l.c.h == 11 && l.keys.y == 23 && !l.has_prompt,
          "loss h %d, c y %d h %d, keys %d", l.loss.h, l.c.y, l.c.h, l.keys.y);
}

static void t_layout_200x50(void) {
    check_cover(200, 50, 1);
    check_cover(200, 50, 0);
    lctw_dash_layout l;
    lctw_dash_layout_compute(200, 50, 1, &l);
    /* output 3 + (50 − 24)/4 = 9 rows; panels 50 − 1 − 11 = 38 = 19 + 19 */
    CHECK(l.output.h == 9 && l.output.y == 39 && l.loss.h == 19 && l.c.h == 19 && l.hist.w == 100,
          "output %d at %d, loss %d, c %d, hist w %d", l.output.h, l.output.y, l.loss.h, l.c.h,
          l.hist.w);
    check_cover(81, 25, 1);
    check_cover(333, 97, 1);
    check_cover(333, 97, 0);
}

static void t_layout_too_small(void) {
    lctw_dash_layout l;
    int sizes[][2] = {{40, 10}, {79, 24}, {80, 23}, {0, 0}, {1000, 5}};
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < 5; i++) {
            int ok = lctw_dash_layout_compute(sizes[i][0], sizes[i][1], p, &l);
            char want[32];
            snprintf(want, sizeof want, "%dx%d", sizes[i][0], sizes[i][1]);
            CHECK(!ok && !l.ok, "%s accepted", want);
            CHECK(strstr(l.msg, "too small") && strstr(l.msg, want) && strstr(l.msg, "80x24"),
                  "message for %s: '%s'", want, l.msg);
        }
    }
    test_detail("'%s'", (lctw_dash_layout_compute(40, 10, 1, &l), l.msg));
}

static void t_layout_split(void) {
    lctw_dash_rect r = {2, 1, 7, 78};
    lctw_dash_rect a = lctw_dash_rect_split_h(r, 2, 0, 1), b = lctw_dash_rect_split_h(r, 2, 1, 1);
    /* 78 − 1 gap = 77 = 39 + 38 */
    CHECK(a.y == 2 && a.x == 1 && a.w == 39 && a.h == 7, "a %d,%d %dx%d", a.y, a.x, a.w, a.h);
    CHECK(b.x == 41 && b.w == 38 && b.h == 7, "b %d,%d %dx%d", b.y, b.x, b.w, b.h);
    lctw_dash_rect c = lctw_dash_rect_split_h(r, 3, 2, 0); /* 26 each */
    CHECK(c.x == 53 && c.w == 26, "c %d %d", c.x, c.w);
    lctw_dash_rect one = lctw_dash_rect_split_h(r, 1, 0, 5);
    CHECK(one.x == 1 && one.w == 78, "one part %d %d", one.x, one.w);
}

/* Renders y into a w×h grid and compares each row with want[]. */
static void check_line(const double *y, size_t n, int w, int h, lctw_chart_glyphs gl, int logy,
                       const char *const *want) {
    lctw_chart_grid g;
    CHECK_OK(lctw_chart_grid_init(&g, w, h, gl));
    double lo, hi;
    CHECK(lctw_chart_range(y, n, logy, &lo, &hi), "no range");
    lctw_chart_line(&g, y, n, lo, hi, logy, '*');
    char row[256];
    for (int r = 0; r < h; r++) {
        lctw_chart_row(&g, r, row, sizeof row);
        CHECK(!strcmp(row, want[r]), "row %d: got '%s', expected '%s'", r, row, want[r]);
    }
    lctw_chart_grid_release(&g);
}

static void t_chart_ascii_line(void) {
    double y[] = {0, 1, 2, 3};
    const char *want[] = {"   *", "  * ", " *  ", "*   "};
    check_line(y, 4, 4, 4, LCTW_CHART_ASCII, 0, want);
    /* 10 wide, 4 high: v = 0, 3 alternating, the rest of the grid blank */
    double z[] = {0, 3, 0, 3, 0};
    const char *want2[] = {" * *      ", "          ", "          ", "* * *     "};
    check_line(z, 5, 10, 4, LCTW_CHART_ASCII, 0, want2);
}

static void t_chart_braille_line(void) {
    /* 8 points in 4×2 cells = 8×8 dots: point i at dot column i, dot row 7 − i.
     * cell (0,1): dots (0,3)=0x40 + (1,2)=0x20 → U+2860; cell (1,1): (0,1)=0x02 + (1,0)=0x08 →
     * U+280A; the same pair again in the top row. */
    double y[] = {0, 1, 2, 3, 4, 5, 6, 7};
    const char *want[] = {"  \u2860\u280a", "\u2860\u280a  "};
    check_line(y, 8, 4, 2, LCTW_CHART_BRAILLE, 0, want);
    /* one point at the top left: dot 1 = U+2801 */
    double c[] = {5, 4};
    const char *want2[] = {"\u2801 ", "\u2880 "};
    check_line(c, 2, 2, 2, LCTW_CHART_BRAILLE, 0, want2);
}

static void t_chart_nan_gap(void) {
    double y[] = {1, NAN, 1, 3, INFINITY, 3};
    const char *want[] = {"   * *", "      ", "* *   "};
    check_line(y, 6, 6, 3, LCTW_CHART_ASCII, 0, want);
}

static void t_chart_log_y(void) {
    double y[] = {1, 10, 100, 1000};
    const char *logw[] = {"   *", "  * ", " *  ", "*   "};
    check_line(y, 4, 4, 4, LCTW_CHART_ASCII, 1, logw);
    /* linear: 1, 10, 100 all round to the bottom row (3·(1000−v)/999 ≥ 2.7) */
    const char *linw[] = {"   *", "    ", "    ", "*** "};
    check_line(y, 4, 4, 4, LCTW_CHART_ASCII, 0, linw);
    /* non-positive values are gaps on a log chart */
    double z[] = {0, 10, -5, 1000};
    const char *zw[] = {"   *", "    ", " *  ", "    "};
    check_line(z, 4, 4, 3, LCTW_CHART_ASCII, 1, zw);
}

static void t_chart_range(void) {
    double lo, hi;
    double c[] = {2, 2, NAN};
    CHECK(lctw_chart_range(c, 3, 0, &lo, &hi) && lo == 1 && hi == 3, "constant: %g %g", lo, hi);
    double zero[] = {0};
    CHECK(lctw_chart_range(zero, 1, 0, &lo, &hi) && lo == -0.5 && hi == 0.5, "zero: %g %g", lo, hi);
    double p[] = {100, 100};
    CHECK(lctw_chart_range(p, 2, 1, &lo, &hi), "log constant");
    CHECK_NEAR(lo, 1.0, 1e-12);
    CHECK_NEAR(hi, 3.0, 1e-12);
    double n[] = {NAN, INFINITY, -INFINITY};
    CHECK(!lctw_chart_range(n, 3, 0, &lo, &hi), "all non-finite gave a range");
    double q[] = {-1, 0};
    CHECK(!lctw_chart_range(q, 2, 1, &lo, &hi), "log of non-positive gave a range");
    double r[] = {3, -2, 7, NAN};
    CHECK(lctw_chart_range(r, 4, 0, &lo, &hi) && lo == -2 && hi == 7, "range %g %g", lo, hi);
}

static void t_chart_bucket_mean(void) {
    /* 8 points into 4 ASCII columns: means of pairs 1, 3, 5, 7 (a NaN is left out of its mean) */
    double y[] = {0, 2, 3, NAN, 4, 6, 6, 8};
    lctw_chart_grid g;
    CHECK_OK(lctw_chart_grid_init(&g, 4, 4, LCTW_CHART_ASCII));
    lctw_chart_line(&g, y, 8, 1, 7, 0, '*');
    const char *want[] = {"   *", "  * ", " *  ", "*   "};
    char row[64];
    for (int r = 0; r < 4; r++)
        CHECK(!strcmp(lctw_chart_row(&g, r, row, sizeof row), want[r]), "row %d: '%s'", r, row);
    /* a second series is drawn into the same grid: v = 4 → round(1.5) = dot row 2, where its
     * ASCII mark replaces the first series' mark; row 1 keeps the first series */
    double flat[] = {4, 4, 4, 4};
    lctw_chart_line(&g, flat, 4, 1, 7, 0, '.');
    CHECK(!strcmp(lctw_chart_row(&g, 2, row, sizeof row), "...."), "overlay row 2: '%s'", row);
    CHECK(!strcmp(lctw_chart_row(&g, 1, row, sizeof row), "  * "), "overlay row 1: '%s'", row);
    lctw_chart_grid_release(&g);
}

static void t_chart_histogram(void) {
    double v[] = {0, 0, 0, 1, 1, 2, NAN};
    lctw_chart_grid g;
    double lo, hi;
    char row[64];
    CHECK_OK(lctw_chart_grid_init(&g, 3, 3, LCTW_CHART_ASCII));
    size_t mx = lctw_chart_hist(&g, v, 7, &lo, &hi);
    CHECK(mx == 3 && lo == 0 && hi == 2, "peak %zu range %g %g", mx, lo, hi);
    const char *want[] = {"#  ", "## ", "###"};
    for (int r = 0; r < 3; r++)
        CHECK(!strcmp(lctw_chart_row(&g, r, row, sizeof row), want[r]), "row %d: '%s'", r, row);
    lctw_chart_grid_release(&g);
    /* blocks: heights 8, round(16/3) = 5, round(8/3) = 3 eighths → █ ▅ ▃ */
    CHECK_OK(lctw_chart_grid_init(&g, 3, 1, LCTW_CHART_BRAILLE));
    lctw_chart_hist(&g, v, 7, &lo, &hi);
    lctw_chart_row(&g, 0, row, sizeof row);
    CHECK(!strcmp(row, "\u2588\u2585\u2583"), "blocks '%s'", row);
    lctw_chart_grid_release(&g);
    /* two cells high: 16 eighths → the tallest bar fills both; round(16·2/3) = 11 = 8 + 3;
     * round(16/3) = 5 */
    CHECK_OK(lctw_chart_grid_init(&g, 3, 2, LCTW_CHART_BRAILLE));
    lctw_chart_hist(&g, v, 7, &lo, &hi);
    CHECK(!strcmp(lctw_chart_row(&g, 0, row, sizeof row), "\u2588\u2583 "), "top '%s'", row);
    CHECK(!strcmp(lctw_chart_row(&g, 1, row, sizeof row), "\u2588\u2588\u2585"), "bottom '%s'",
          row);
    /* nothing finite: empty grid */
    double n[] = {NAN};
    CHECK(lctw_chart_hist(&g, n, 1, &lo, &hi) == 0, "histogram of NaN");
    CHECK(!strcmp(lctw_chart_row(&g, 1, row, sizeof row), "   "), "empty '%s'", row);
    lctw_chart_grid_release(&g);
}

static void t_chart_errors(void) {
    lctw_chart_grid g;
    CHECK(lctw_chart_grid_init(&g, 0, 3, LCTW_CHART_ASCII) == LCTW_EINVAL, "0 wide accepted");
    CHECK(strstr(lctw_error_message(), "0x3") != NULL, "message '%s'", lctw_error_message());
    /* a row string that does not fit is cut at a cell boundary */
    CHECK_OK(lctw_chart_grid_init(&g, 4, 1, LCTW_CHART_BRAILLE));
    double y[] = {1, 1, 1, 1, 1, 1, 1, 1};
    lctw_chart_line(&g, y, 8, 0, 2, 0, '*');
    char row[8];
    lctw_chart_row(&g, 0, row, sizeof row);
    CHECK(strlen(row) == 6, "cut row has %zu bytes", strlen(row));
    lctw_chart_grid_release(&g);
}

int main(void) {
    RUN(t_layout_80x24);
    RUN(t_layout_80x24_no_prompt);
    RUN(t_layout_200x50);
    RUN(t_layout_too_small);
    RUN(t_layout_split);
    RUN(t_chart_ascii_line);
    RUN(t_chart_braille_line);
    RUN(t_chart_nan_gap);
    RUN(t_chart_log_y);
    RUN(t_chart_range);
    RUN(t_chart_bucket_mean);
    RUN(t_chart_histogram);
    RUN(t_chart_errors);
    return test_summary();
}
