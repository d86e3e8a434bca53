/* test_dash_chart.c — the chart functions behind the dashboard's newer panels, without a
 * terminal: spike and "now" marks, the c schedule's step curve, binned histograms (bins to
 * columns, log counts), the Gaussian reference counts, 3σ tail columns and level marks. Each
 * case is a small grid or value derived by hand in its comment. */
#include <math.h>
#include <stdlib.h>

#include "dash/chart.h"
#include "test.h"

/* Compares the rows of g with want[]. */
static void check_rows(const lctw_chart_grid *g, const char *const *want, const char *what) {
    char row[256];
    for (int r = 0; r < g->h; r++) {
        lctw_chart_row(g, r, row, sizeof row);
        CHECK(!strcmp(row, want[r]), "%s row %d: got '%s', expected '%s'", what, r, row, want[r]);
    }
}

static void t_marks(void) {
    lctw_chart_grid g;
    /* 4×4 ASCII over [0, 3]: v = 3 at column 1 → row 0, v = 0 at column 3 → row 3 */
    CHECK_OK(lctw_chart_grid_init(&g, 4, 4, LCTW_CHART_ASCII));
    double y[] = {NAN, 3, NAN, 0};
    lctw_chart_marks(&g, y, 4, 0, 3, 0, '!');
    const char *want[] = {" !  ", "    ", "    ", "   !"};
    check_rows(&g, want, "marks");
    /* 8 values into 4 columns, each bucket marked at its largest: 3 → row 0, (none),
     * 2 → round((3−2)/3·3) = row 1, 1 → row 2 */
    lctw_chart_grid_clear(&g);
    double z[] = {1, 3, NAN, NAN, 0, 2, NAN, 1};
    lctw_chart_marks(&g, z, 8, 0, 3, 0, '*');
    const char *want2[] = {"*   ", "  * ", "   *", "    "};
    check_rows(&g, want2, "bucket max");
    lctw_chart_grid_release(&g);
    /* braille 2×1 (4×4 dots): the marks land in the cells of the dots the line would use, and
     * print as themselves: v = 0 → dot row 3 (cell row 0), v = 4 → dot row 0 */
    CHECK_OK(lctw_chart_grid_init(&g, 2, 1, LCTW_CHART_BRAILLE));
    double b[] = {NAN, NAN, NAN, 4};
    lctw_chart_marks(&g, b, 4, 0, 4, 0, '!');
    const char *want3[] = {" !"};
    check_rows(&g, want3, "braille marks");
    /* log-y: a non-positive value is no mark */
    lctw_chart_grid_clear(&g);
    double lg[] = {-1, 0};
    lctw_chart_marks(&g, lg, 2, 0, 1, 1, '!');
    const char *want4[] = {"  "};
    check_rows(&g, want4, "log-y non-positive");
    lctw_chart_grid_release(&g);
}

static void t_vline_col_spike(void) {
    lctw_chart_grid g;
    CHECK_OK(lctw_chart_grid_init(&g, 3, 2, LCTW_CHART_BRAILLE));
    lctw_chart_vline(&g, 1, '|');
    lctw_chart_vline(&g, 5, '|'); /* outside: nothing */
    lctw_chart_vline(&g, -1, '|');
    const char *want[] = {" | ", " | "};
    check_rows(&g, want, "vline");
    lctw_chart_grid_release(&g);
    /* ⌊(v − lo)/(hi − lo)·w⌋, the last column for hi, −1/w outside, −2 undefined */
    CHECK(lctw_chart_col(0.5, 0, 1, 4) == 2, "col 0.5");
    CHECK(lctw_chart_col(0.24, 0, 1, 4) == 0, "col 0.24");
    CHECK(lctw_chart_col(1, 0, 1, 4) == 3, "col hi");
    CHECK(lctw_chart_col(0, 0, 1, 4) == 0, "col lo");
    CHECK(lctw_chart_col(-0.1, 0, 1, 4) == -1, "col below");
    CHECK(lctw_chart_col(1.1, 0, 1, 4) == 4, "col above");
    CHECK(lctw_chart_col(NAN, 0, 1, 4) == -2, "col NaN");
    CHECK(lctw_chart_col(1, 1, 1, 4) == -2, "col of an empty range");
    /* raw > k·smooth, both finite, smooth > 0 */
    CHECK(lctw_chart_is_spike(7, 2, 3), "7 > 3·2");
    CHECK(!lctw_chart_is_spike(6, 2, 3), "6 is not > 6");
    CHECK(!lctw_chart_is_spike(NAN, 2, 3) && !lctw_chart_is_spike(INFINITY, 2, 3),
          "non-finite raw");
    CHECK(!lctw_chart_is_spike(5, 0, 3) && !lctw_chart_is_spike(5, -1, 3), "smooth <= 0");
    CHECK(!lctw_chart_is_spike(5, NAN, 3), "no smoothed value yet");
}

static void t_steps(void) {
    lctw_chart_grid g;
    /* 10×4 ASCII, log-y over [1, 3] decades: c = 1000 for x in [0, 5), 10 from 5 on.
     * Dot column j is at x = j + ½: j 0..4 → row 0, j 5..9 → row 3, joined in column 5. */
    CHECK_OK(lctw_chart_grid_init(&g, 10, 4, LCTW_CHART_ASCII));
    double st[] = {0, 5}, c[] = {1000, 10};
    lctw_chart_steps(&g, st, c, 2, 0, 10, 1, 3, 1);
    const char *want[] = {"******    ", "     *    ", "     *    ", "     *****"};
    check_rows(&g, want, "two stages");
    lctw_chart_grid_release(&g);
    /* a NaN stage is a gap and is not joined to its neighbours (6×3, linear [1, 2]) */
    CHECK_OK(lctw_chart_grid_init(&g, 6, 3, LCTW_CHART_ASCII));
    double st2[] = {0, 2, 4}, c2[] = {2, NAN, 1};
    lctw_chart_steps(&g, st2, c2, 3, 0, 6, 1, 2, 0);
    const char *want2[] = {"**    ", "      ", "    **"};
    check_rows(&g, want2, "NaN stage");
    lctw_chart_grid_release(&g);
    /* braille 2×2 cells = 4×8 dots, linear [1, 8]: 8 → dot row 0 (j 0, 1), 1 → dot row 7
     * (j 2, 3), the jump filled in j = 2 (rows 0..7). Cell (0,0): dots (0,0)+(1,0) = 0x09;
     * cell (1,0): column 0 rows 0..3 = 0x47; cell (1,1): 0x47 + (1,3) = 0xC7. */
    CHECK_OK(lctw_chart_grid_init(&g, 2, 2, LCTW_CHART_BRAILLE));
    double st3[] = {0, 2}, c3[] = {8, 1};
    lctw_chart_steps(&g, st3, c3, 2, 0, 4, 1, 8, 0);
    const char *want3[] = {"\u2809\u2847", " \u28c7"};
    check_rows(&g, want3, "braille steps");
    lctw_chart_grid_release(&g);
}

static void t_col_bins(void) {
    int b0, b1;
    /* more columns than bins: column x shows bin ⌊x·64/128⌋ */
    lctw_chart_col_bins(0, 128, 64, &b0, &b1);
    CHECK(b0 == 0 && b1 == 1, "x 0: [%d,%d)", b0, b1);
    lctw_chart_col_bins(1, 128, 64, &b0, &b1);
    CHECK(b0 == 0 && b1 == 1, "x 1: [%d,%d)", b0, b1);
    lctw_chart_col_bins(127, 128, 64, &b0, &b1);
    CHECK(b0 == 63 && b1 == 64, "x 127: [%d,%d)", b0, b1);
    /* fewer: 8 bins in 5 columns, ⌊b·5/8⌋ = 0 0 1 1 2 3 3 4 */
    int want[5][2] = {{0, 2}, {2, 4}, {4, 5}, {5, 7}, {7, 8}};
    for (int x = 0; x < 5; x++) {
        lctw_chart_col_bins(x, 5, 8, &b0, &b1);
        CHECK(b0 == want[x][0] && b1 == want[x][1], "5 of 8, x %d: [%d,%d)", x, b0, b1);
    }
    /* the column of a value: 8 bins over [0, 8]; 3.5 is bin 3, shown first in column
     * ⌈3·16/8⌉ = 6 of 16 and in column ⌊3·4/8⌋ = 1 of 4 */
    CHECK(lctw_chart_bin_col(3.5, 0, 8, 8, 16) == 6, "3.5 of 16");
    CHECK(lctw_chart_bin_col(3.5, 0, 8, 8, 4) == 1, "3.5 of 4");
    CHECK(lctw_chart_bin_col(8, 0, 8, 8, 16) == 14, "hi of 16");
    CHECK(lctw_chart_bin_col(-1, 0, 8, 8, 16) == -1, "below");
    CHECK(lctw_chart_bin_col(9, 0, 8, 8, 16) == 16, "above");
    CHECK(lctw_chart_bin_col(NAN, 0, 8, 8, 16) == -2, "NaN");
}

static void t_bins(void) {
    lctw_chart_grid g;
    double counts[] = {4, 0, 1, 9};
    /* linear, 3 cells: heights round(c/9·3) = 1, —, 0 → 1 (a count shows), 3 */
    CHECK_OK(lctw_chart_grid_init(&g, 4, 3, LCTW_CHART_ASCII));
    double top = lctw_chart_bins(&g, counts, 4, 0);
    CHECK(top == 9, "top %g", top);
    const char *lin[] = {"   #", "   #", "# ##"};
    check_rows(&g, lin, "linear");
    /* log: log10(1 + c)/1·3 = 2.10 → 2, 0.90 → 1, 3 */
    top = lctw_chart_bins(&g, counts, 4, 1);
    CHECK_NEAR(top, 1.0, 1e-12);
    const char *lg[] = {"   #", "#  #", "# ##"};
    check_rows(&g, lg, "log");
    lctw_chart_grid_release(&g);
    /* 4 bins into 2 block columns: sums 3 and 7 → round(3/7·8) = 3 eighths, 8 → ▃█ */
    CHECK_OK(lctw_chart_grid_init(&g, 2, 1, LCTW_CHART_BRAILLE));
    double c2[] = {1, 2, 3, 4};
    top = lctw_chart_bins(&g, c2, 4, 0);
    const char *bl[] = {"\u2583\u2588"};
    CHECK(top == 7, "top %g", top);
    check_rows(&g, bl, "blocks");
    /* all zero (or NaN): nothing */
    double z[] = {0, NAN, 0, 0};
    CHECK(lctw_chart_bins(&g, z, 4, 1) == 0, "empty histogram has a scale");
    const char *none[] = {"  "};
    check_rows(&g, none, "empty");
    lctw_chart_grid_release(&g);
}

static void t_gauss_tail_levels(void) {
    /* N(0, 1), 100 samples, 2 bins over [−1, 1]: each 100·(Φ(0) − Φ(−1)) = 34.1344746 */
    double out[2];
    lctw_chart_gauss_counts(-1, 1, 2, 0, 1, 100, 2, out);
    CHECK_NEAR(out[0], 34.1344746, 1e-6);
    CHECK_NEAR(out[1], 34.1344746, 1e-6);
    lctw_chart_gauss_counts(-1, 1, 2, 0, 1, 100, 1, out); /* one column: both bins */
    CHECK_NEAR(out[0], 68.2689492, 1e-6);
    lctw_chart_gauss_counts(-1, 1, 2, 0, 0, 100, 2, out);
    CHECK(out[0] == 0 && out[1] == 0, "sigma 0: %g %g", out[0], out[1]);
    /* 10 columns over [−5, 5], centres −4.5 … 4.5: beyond ±3 for x = 0, 1, 8, 9 */
    int want[10] = {1, 1, 0, 0, 0, 0, 0, 0, 1, 1};
    for (int x = 0; x < 10; x++)
        CHECK(lctw_chart_col_tail(x, 10, 10, -5, 5, 0, 1, 3) == want[x], "tail column %d", x);
    CHECK(!lctw_chart_col_tail(0, 10, 10, -5, 5, 0, 0, 3), "sigma 0 has no tails");
    /* levels on a 4-row grid, scale 8: 8 → L 4 → top cell; 3 → L 1.5 → cell 1 from the
     * bottom; 0.1 → L 0.05 < 1/16 → none; 16 → L 8 → clamped to the top */
    lctw_chart_grid g;
    CHECK_OK(lctw_chart_grid_init(&g, 4, 4, LCTW_CHART_ASCII));
    double v[] = {8, 3, 0.1, 16};
    lctw_chart_levels(&g, v, 8, 0, '*');
    const char *lv[] = {"*  *", "    ", " *  ", "    "};
    check_rows(&g, lv, "levels");
    /* log: log10(1 + 9)/log10(1 + 99)·4 = 2 → cell 1 from the bottom */
    lctw_chart_grid_clear(&g);
    double v2[] = {9, NAN, -1, 0};
    lctw_chart_levels(&g, v2, 2, 1, 'o');
    const char *lv2[] = {"    ", "    ", "o   ", "    "};
    check_rows(&g, lv2, "log levels");
    lctw_chart_grid_release(&g);
}

int main(void) {
    RUN(t_marks);
    RUN(t_vline_col_spike);
    RUN(t_steps);
    RUN(t_col_bins);
    RUN(t_bins);
    RUN(t_gauss_tail_levels);
    return test_summary();
}
