/* chart.c — line charts and histograms into a character grid (see chart.h). Pure: no curses,
 * no terminal; tested by tests/unit/test_dash_layout.c and test_dash_chart.c against hand-derived
 * grids. */
#include "dash/chart.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Braille dot bits by (column 0..1, row 0..3) within a cell (Unicode braille patterns). */
static const unsigned char braille_bit[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};

lctw_status lctw_chart_grid_init(lctw_chart_grid *g, int w, int h, lctw_chart_glyphs glyphs) {
    memset(g, 0, sizeof *g);
    if (w < 1 || h < 1) return LCTW_FAIL(LCTW_EINVAL, "chart: size %dx%d, need at least 1x1", w, h);
    g->cell = calloc((size_t)w * (size_t)h, 1);
    if (!g->cell) return LCTW_FAIL(LCTW_ENOMEM, "chart: cannot allocate a %dx%d grid", w, h);
    g->w = w;
    g->h = h;
    g->glyphs = glyphs;
    return LCTW_OK;
}

void lctw_chart_grid_release(lctw_chart_grid *g) {
    free(g->cell);
    memset(g, 0, sizeof *g);
}

void lctw_chart_grid_clear(lctw_chart_grid *g) {
    if (g->cell) memset(g->cell, 0, (size_t)g->w * (size_t)g->h);
}

/* The plotted value of v: log10 on a log chart; NAN when it cannot be shown. */
static double plot_value(double v, int logy) {
    if (!isfinite(v)) return NAN;
    if (logy) return v > 0 ? log10(v) : NAN;
    return v;
}

int lctw_chart_range(const double *y, size_t n, int logy, double *lo, double *hi) {
    double a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = plot_value(y[i], logy);
        if (isnan(v)) continue;
        if (v < a) a = v;
        if (v > b) b = v;
    }
    if (a > b) {
        *lo = *hi = 0;
        return 0;
    }
    if (a == b) {
        double d = logy ? 1.0 : a != 0 ? 0.5 * fabs(a) : 0.5;
        a -= d;
        b += d;
    }
    *lo = a;
    *hi = b;
    return 1;
}

void lctw_chart_line(lctw_chart_grid *g, const double *y, size_t n, double lo, double hi, int logy,
                     char ascii_mark) {
    int braille = g->glyphs == LCTW_CHART_BRAILLE;
    int dw = braille ? 2 * g->w : g->w, dh = braille ? 4 * g->h : g->h;
    g->kind = LCTW_CHART_LINE;
    if (n == 0) return;
    size_t cols = n < (size_t)dw ? n : (size_t)dw;
    for (size_t j = 0; j < cols; j++) {
        /* bucket [j*n/cols, (j+1)*n/cols): one point per column when n <= dw */
        size_t a = j * n / cols, b = (j + 1) * n / cols;
        double sum = 0;
        size_t cnt = 0;
        for (size_t i = a; i < b; i++) {
            double v = plot_value(y[i], logy);
            if (isnan(v)) continue;
            sum += v;
            cnt++;
        }
        if (!cnt) continue; /* a gap */
        double v = sum / (double)cnt;
        int r = dh / 2;
        if (hi > lo) {
            double t = (hi - v) / (hi - lo) * (dh - 1);
            r = t <= 0 ? 0 : t >= dh - 1 ? dh - 1 : (int)lround(t);
        }
        int x = (int)j;
        if (braille) {
            g->cell[(r / 4) * g->w + x / 2] |= braille_bit[x % 2][r % 4];
        } else {
            g->cell[r * g->w + x] = (unsigned char)ascii_mark;
        }
    }
}

size_t lctw_chart_hist(lctw_chart_grid *g, const double *v, size_t n, double *lo, double *hi) {
    g->kind = LCTW_CHART_BARS;
    lctw_chart_grid_clear(g);
    if (!lctw_chart_range(v, n, 0, lo, hi)) return 0;
    size_t *count = calloc((size_t)g->w, sizeof *count);
    if (!count) return 0;
    size_t maxc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        int b = (int)((v[i] - *lo) / (*hi - *lo) * g->w);
        if (b < 0) b = 0;
        if (b >= g->w) b = g->w - 1;
        if (++count[b] > maxc) maxc = count[b];
    }
    int eighths = g->glyphs == LCTW_CHART_BRAILLE;
    long units = eighths ? 8L * g->h : g->h;
    for (int x = 0; x < g->w; x++) {
        if (!count[x]) continue;
        long height = lround((double)count[x] / (double)maxc * (double)units);
        if (height < 1) height = 1;
        for (int k = 0; k < g->h; k++) { /* k: cell rows from the bottom */
            long fill = eighths ? height - 8L * k : (height > k ? 8 : 0);
            if (fill <= 0) break;
            g->cell[(g->h - 1 - k) * g->w + x] = (unsigned char)(fill > 8 ? 8 : fill);
        }
    }
    free(count);
    return maxc;
}

const char *lctw_chart_glyph(const lctw_chart_grid *g, int x, int y, char buf[8]) {
    unsigned c = g->cell[y * g->w + x];
    if (!c) {
        strcpy(buf, " ");
    } else if (g->kind == LCTW_CHART_MARKS) {
        buf[0] = (char)c;
        buf[1] = 0;
    } else if (g->glyphs == LCTW_CHART_ASCII) {
        buf[0] = g->kind == LCTW_CHART_BARS ? '#' : (char)c;
        buf[1] = 0;
    } else if (g->kind == LCTW_CHART_BARS) { /* U+2580 + eighths: ▁ … █ */
        buf[0] = (char)0xE2;
        buf[1] = (char)0x96;
        buf[2] = (char)(0x80 + c);
        buf[3] = 0;
    } else { /* U+2800 + dot bits */
        buf[0] = (char)0xE2;
        buf[1] = (char)(0xA0 | (c >> 6));
        buf[2] = (char)(0x80 | (c & 0x3F));
        buf[3] = 0;
    }
    return buf;
}

char *lctw_chart_row(const lctw_chart_grid *g, int y, char *buf, size_t cap) {
    size_t k = 0;
    char cell[8];
    if (!cap) return buf;
    for (int x = 0; x < g->w; x++) {
        const char *s = lctw_chart_glyph(g, x, y, cell);
        size_t l = strlen(s);
        if (k + l + 1 > cap) break;
        memcpy(buf + k, s, l);
        k += l;
    }
    buf[k] = 0;
    return buf;
}

/* ---- marks ---- */

/* Dots per cell across and down for g's glyphs (braille 2×4, ASCII 1×1). */
static void dots_of(const lctw_chart_grid *g, int *dw, int *dh) {
    int braille = g->glyphs == LCTW_CHART_BRAILLE;
    *dw = braille ? 2 * g->w : g->w;
    *dh = braille ? 4 * g->h : g->h;
}

/* Dot row of plotted value v on [lo, hi] with dh dot rows (the middle for an empty range). */
static int dot_row(double v, double lo, double hi, int dh) {
    if (!(hi > lo)) return dh / 2;
    double t = (hi - v) / (hi - lo) * (dh - 1);
    return t <= 0 ? 0 : t >= dh - 1 ? dh - 1 : (int)lround(t);
}

void lctw_chart_marks(lctw_chart_grid *g, const double *y, size_t n, double lo, double hi, int logy,
                      char mark) {
    int dw, dh;
    dots_of(g, &dw, &dh);
    int sx = dw / g->w, sy = dh / g->h; /* dots per cell */
    g->kind = LCTW_CHART_MARKS;
    if (n == 0) return;
    size_t cols = n < (size_t)dw ? n : (size_t)dw;
    for (size_t j = 0; j < cols; j++) {
        size_t a = j * n / cols, b = (j + 1) * n / cols;
        double best = NAN;
        for (size_t i = a; i < b; i++) {
            double v = plot_value(y[i], logy);
            if (!isnan(v) && !(v <= best)) best = v;
        }
        if (isnan(best)) continue;
        int r = dot_row(best, lo, hi, dh);
        g->cell[(r / sy) * g->w + (int)j / sx] = (unsigned char)mark;
    }
}

void lctw_chart_vline(lctw_chart_grid *g, int x, char mark) {
    g->kind = LCTW_CHART_MARKS;
    if (x < 0 || x >= g->w) return;
    for (int r = 0; r < g->h; r++)
        g->cell[r * g->w + x] = (unsigned char)mark;
}

int lctw_chart_col(double v, double lo, double hi, int w) {
    if (!isfinite(v) || !(hi > lo) || !isfinite(lo) || !isfinite(hi)) return -2;
    if (v < lo) return -1;
    if (v > hi) return w;
    int x = (int)floor((v - lo) / (hi - lo) * w);
    return x >= w ? w - 1 : x;
}

int lctw_chart_is_spike(double raw, double smooth, double k) {
    return isfinite(raw) && isfinite(smooth) && smooth > 0 && raw > k * smooth;
}

/* ---- step curve ---- */

void lctw_chart_steps(lctw_chart_grid *g, const double *start, const double *y, int n, double x_lo,
                      double x_hi, double lo, double hi, int logy) {
    int dw, dh;
    dots_of(g, &dw, &dh);
    int braille = g->glyphs == LCTW_CHART_BRAILLE;
    g->kind = LCTW_CHART_LINE;
    if (n < 1 || !(x_hi > x_lo)) return;
    int prev = -1, prev_i = -1;
    for (int j = 0; j < dw; j++) {
        double x = x_lo + (j + 0.5) * (x_hi - x_lo) / dw;
        int i = 0;
        while (i + 1 < n && start[i + 1] <= x)
            i++;
        double v = plot_value(y[i], logy);
        if (isnan(v)) {
            prev = -1;
            prev_i = i;
            continue;
        }
        int r = dot_row(v, lo, hi, dh);
        int a = r, b = r;
        if (prev >= 0 && i != prev_i) { /* a jump: join it in this column */
            a = prev < r ? prev : r;
            b = prev < r ? r : prev;
        }
        for (int rr = a; rr <= b; rr++) {
            if (braille)
                g->cell[(rr / 4) * g->w + j / 2] |= braille_bit[j % 2][rr % 4];
            else
                g->cell[rr * g->w + j] = '*';
        }
        prev = r;
        prev_i = i;
    }
}

/* ---- binned histograms ---- */

void lctw_chart_col_bins(int x, int w, int nb, int *b0, int *b1) {
    if (w >= nb) {
        *b0 = (int)((long)x * nb / w);
        *b1 = *b0 + 1;
    } else { /* the bins b with x ≤ b·w/nb < x + 1 */
        *b0 = (int)(((long)x * nb + w - 1) / w);
        *b1 = (int)(((long)(x + 1) * nb + w - 1) / w);
    }
}

int lctw_chart_bin_col(double v, double lo, double hi, int nb, int w) {
    int b = lctw_chart_col(v, lo, hi, nb);
    if (b < 0 || b >= nb) return b == nb ? w : b;
    if (w >= nb) return (int)(((long)b * w + nb - 1) / nb);
    return (int)((long)b * w / nb);
}

static double count_level(double c, int logc) { return logc ? log10(1.0 + c) : c; }

double lctw_chart_bins(lctw_chart_grid *g, const double *counts, int nb, int logc) {
    g->kind = LCTW_CHART_BARS;
    lctw_chart_grid_clear(g);
    double *col = calloc((size_t)g->w, sizeof *col);
    if (!col || nb < 1) {
        free(col);
        return 0;
    }
    double top = 0;
    for (int x = 0; x < g->w; x++) {
        int b0, b1;
        lctw_chart_col_bins(x, g->w, nb, &b0, &b1);
        for (int b = b0; b < b1 && b < nb; b++)
            if (isfinite(counts[b]) && counts[b] > 0) col[x] += counts[b];
        col[x] = count_level(col[x], logc);
        if (col[x] > top) top = col[x];
    }
    int eighths = g->glyphs == LCTW_CHART_BRAILLE;
    long units = eighths ? 8L * g->h : g->h;
    for (int x = 0; x < g->w && top > 0; x++) {
        if (!(col[x] > 0)) continue;
        long height = lround(col[x] / top * (double)units);
        if (height < 1) height = 1;
        for (int k = 0; k < g->h; k++) { /* k: cell rows from the bottom */
            long fill = eighths ? height - 8L * k : (height > k ? 8 : 0);
            if (fill <= 0) break;
            g->cell[(g->h - 1 - k) * g->w + x] = (unsigned char)(fill > 8 ? 8 : fill);
        }
    }
    free(col);
    return top;
}

static double norm_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

void lctw_chart_gauss_counts(double lo, double hi, int nb, double mu, double sigma, double total,
                             int w, double *out) {
    for (int x = 0; x < w; x++) {
        out[x] = 0;
        if (!(sigma > 0) || !(hi > lo) || nb < 1 || !isfinite(mu)) continue;
        int b0, b1;
        lctw_chart_col_bins(x, w, nb, &b0, &b1);
        if (b1 <= b0) continue;
        double a = lo + (hi - lo) * b0 / nb, b = lo + (hi - lo) * b1 / nb;
        out[x] = total * (norm_cdf((b - mu) / sigma) - norm_cdf((a - mu) / sigma));
    }
}

int lctw_chart_col_tail(int x, int w, int nb, double lo, double hi, double mu, double sigma,
                        double k) {
    int b0, b1;
    lctw_chart_col_bins(x, w, nb, &b0, &b1);
    if (b1 <= b0 || !(sigma > 0) || !(hi > lo)) return 0;
    double c = lo + (hi - lo) * 0.5 * (b0 + b1) / nb;
    return fabs(c - mu) > k * sigma;
}

void lctw_chart_levels(lctw_chart_grid *g, const double *v, double top, int logc, char mark) {
    g->kind = LCTW_CHART_MARKS;
    if (!(top > 0)) return;
    for (int x = 0; x < g->w; x++) {
        if (!isfinite(v[x]) || v[x] < 0) continue;
        double L = count_level(v[x], logc) / top * g->h;
        if (!(L >= 1.0 / 16)) continue;
        int k = (int)ceil(L) - 1;
        if (k >= g->h) k = g->h - 1;
        if (k < 0) k = 0;
        g->cell[(g->h - 1 - k) * g->w + x] = (unsigned char)mark;
    }
}
