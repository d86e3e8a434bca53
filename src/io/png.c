/* png.c — PNG write/read with libpng, JPEG read with libjpeg, image grids (see png.h).
 * libpng and libjpeg report errors by longjmp; both are caught here and turned into status
 * values with the file name, so a corrupt or truncated file never aborts the process.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "io/png.h"

/* ---- PNG writing ---- */

typedef struct {
    char msg[200];
} png_err_ctx;

static void png_on_error(png_structp p, png_const_charp msg) {
    png_err_ctx *e = png_get_error_ptr(p);
    if (e) snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void png_on_warning(png_structp p, png_const_charp msg) {
    (void)p;
    (void)msg;
}

/* The libpng part of writing; returns 0 on success (message in e on failure). */
static int png_write_file(FILE *fp, const uint8_t *rgb, int64_t h, int64_t w, png_err_ctx *e) {
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, png_on_error, png_on_warning);
    if (!p) {
        snprintf(e->msg, sizeof e->msg, "out of memory");
        return -1;
    }
    png_infop info = png_create_info_struct(p);
    if (!info || setjmp(png_jmpbuf(p))) {
        if (!info) snprintf(e->msg, sizeof e->msg, "out of memory");
        png_destroy_write_struct(&p, &info);
        return -1;
    }
    png_init_io(p, fp);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int64_t y = 0; y < h; y++)
        png_write_row(p, rgb + y * w * 3);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    return 0;
}

lctw_status lctw_png_write_rgb8(const char *path, const uint8_t *rgb, int64_t h, int64_t w) {
    if (h < 1 || w < 1 || h > 0x7fffffff || w > 0x7fffffff)
        return LCTW_FAIL(LCTW_EINVAL, "%s: cannot write a %lld×%lld PNG", path, (long long)h,
                         (long long)w);
    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    if (!tmp) return LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        lctw_status s = LCTW_FAIL(LCTW_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return s;
    }
    png_err_ctx e = {{0}};
    int bad = png_write_file(fp, rgb, h, w, &e);
    if (!bad && fflush(fp) != 0) {
        bad = 1;
        snprintf(e.msg, sizeof e.msg, "%s", strerror(errno));
    }
    if (!bad && fsync(fileno(fp)) != 0) {
        bad = 1;
        snprintf(e.msg, sizeof e.msg, "%s", strerror(errno));
    }
    if (fclose(fp) != 0 && !bad) {
        bad = 1;
        snprintf(e.msg, sizeof e.msg, "%s", strerror(errno));
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        snprintf(e.msg, sizeof e.msg, "rename: %s", strerror(errno));
    }
    if (bad) {
        unlink(tmp);
        free(tmp);
        return LCTW_FAIL(LCTW_EIO, "%s: writing the PNG failed: %s", path, e.msg);
    }
    free(tmp);
    return LCTW_OK;
}

/* ---- reading ---- */

/* Fills a 3×h×w tensor from an interleaved RGB8 buffer. */
static lctw_status rgb8_to_tensor(lctw_tensor **out, const uint8_t *rgb, int64_t h, int64_t w) {
    int64_t sh[3] = {3, h, w};
    LCTW_TRY(lctw_tensor_empty(out, 3, sh, LCTW_DEV_CPU));
    float *d = lctw_tensor_data(*out);
    for (int64_t i = 0; i < h * w; i++)
        for (int c = 0; c < 3; c++)
            d[c * h * w + i] = (float)rgb[i * 3 + c] / 255.0f;
    return LCTW_OK;
}

static lctw_status png_read(lctw_tensor **out, const char *path, FILE *fp) {
    png_err_ctx e = {{0}};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &e, png_on_error, png_on_warning);
    if (!p) return LCTW_FAIL(LCTW_ENOMEM, "%s: out of memory", path);
    png_infop info = png_create_info_struct(p);
    uint8_t *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(p))) {
        png_destroy_read_struct(&p, &info, NULL);
        free(buf);
        free(rows);
        return LCTW_FAIL(LCTW_EFORMAT, "%s: invalid or truncated PNG: %s", path,
                         info ? e.msg : "out of memory");
    }
    png_init_io(p, fp);
    png_read_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    int ct = png_get_color_type(p, info), bd = png_get_bit_depth(p, info);
    if (bd == 16) png_set_strip_16(p);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if ((ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) && bd < 8)
        png_set_expand_gray_1_2_4_to_8(p);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(p);
    if (ct & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(p);
    if (png_get_valid(p, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(p), png_set_strip_alpha(p);
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    if (png_get_rowbytes(p, info) != (size_t)w * 3) png_error(p, "unsupported pixel layout");
    buf = malloc((size_t)w * h * 3);
    rows = malloc(sizeof *rows * (h ? h : 1));
    if (!buf || !rows) png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = buf + (size_t)y * w * 3;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    png_destroy_read_struct(&p, &info, NULL);
    lctw_status s = rgb8_to_tensor(out, buf, h, w);
    free(buf);
    free(rows);
    return s;
}

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->pub.format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level) {
    (void)cinfo;
    (void)level; /* warnings (e.g. premature end of data) are ignored; errors longjmp */
}

static lctw_status jpeg_read(lctw_tensor **out, const char *path, FILE *fp) {
    struct jpeg_decompress_struct ci;
    jpeg_err e;
    memset(&e, 0, sizeof e);
    ci.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_on_error;
    e.pub.emit_message = jpeg_on_message;
    uint8_t *volatile buf = NULL;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&ci);
        free(buf);
        return LCTW_FAIL(LCTW_EFORMAT, "%s: invalid or truncated JPEG: %s", path, e.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, fp);
    jpeg_read_header(&ci, TRUE);
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    if (ci.output_components != 3) {
        snprintf(e.msg, sizeof e.msg, "%d output components, expected 3", ci.output_components);
        longjmp(e.jb, 1);
    }
    size_t w = ci.output_width, h = ci.output_height;
    buf = malloc(w * h * 3);
    if (!buf) {
        snprintf(e.msg, sizeof e.msg, "out of memory for %zu×%zu", h, w);
        longjmp(e.jb, 1);
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = buf + (size_t)ci.output_scanline * w * 3;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    lctw_status s = rgb8_to_tensor(out, buf, (int64_t)h, (int64_t)w);
    free(buf);
    return s;
}

lctw_status lctw_image_load(lctw_tensor **out, const char *path) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return LCTW_FAIL(LCTW_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[8] = {0};
    size_t n = fread(sig, 1, sizeof sig, fp);
    rewind(fp);
    lctw_status s;
    if (n == 8 && !png_sig_cmp(sig, 0, 8))
        s = png_read(out, path, fp);
    else if (n >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF)
        s = jpeg_read(out, path, fp);
    else
        s = LCTW_FAIL(
            LCTW_EFORMAT,
            "%s: not a PNG or JPEG image (first bytes %02x %02x %02x %02x; %zu bytes read)", path,
            sig[0], sig[1], sig[2], sig[3], n);
    fclose(fp);
    return s;
}

/* ---- grids ---- */

lctw_status lctw_image_save_grid(lctw_tensor *images, const char *path, int nrow, float lo,
                                 float hi, int pad) {
    char a[96];
    int nd = images->ndim;
    if ((nd != 3 && nd != 4) || images->shape[nd - 3] != 3 || images->shape[nd - 1] < 1 ||
        images->shape[nd - 2] < 1 || (nd == 4 && images->shape[0] < 1))
        return LCTW_FAIL(LCTW_ESHAPE, "save_grid %s: images must be N×3×H×W or 3×H×W, got %s", path,
                         lctw_tensor_shape_str(a, sizeof a, images));
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi))
        return LCTW_FAIL(LCTW_EINVAL, "save_grid %s: range {%g, %g} must have lo < hi", path,
                         (double)lo, (double)hi);
    if (pad < 0 || pad > 64)
        return LCTW_FAIL(LCTW_EINVAL, "save_grid %s: border %d must be in 0..64", path, pad);
    int64_t N = nd == 4 ? images->shape[0] : 1, H = images->shape[nd - 2],
            W = images->shape[nd - 1];
    if (nrow < 1) nrow = (int)ceil(sqrt((double)N));
    if (nrow > N) nrow = (int)N;
    int64_t rows = (N + nrow - 1) / nrow;
    int64_t GH = rows * (H + pad) + pad, GW = nrow * (W + pad) + pad;
    if (GH > 16384 || GW > 16384)
        return LCTW_FAIL(
            LCTW_EINVAL,
            "save_grid %s: a %lld×%lld grid is too large (16384 pixels per side at most)", path,
            (long long)GH, (long long)GW);
    lctw_tensor *x = NULL, *xc = NULL;
    LCTW_TRY(lctw_tensor_to(&x, images, LCTW_DEV_CPU));
    lctw_status s = lctw_tensor_contiguous(&xc, x);
    lctw_tensor_release(x);
    if (s != LCTW_OK) return s;
    uint8_t *g = calloc((size_t)(GH * GW * 3), 1);
    if (!g) {
        lctw_tensor_release(xc);
        return LCTW_FAIL(LCTW_ENOMEM, "save_grid %s: out of memory for %lld×%lld", path,
                         (long long)GH, (long long)GW);
    }
    const float *d = lctw_tensor_data(xc);
    double sc = 255.0 / ((double)hi - (double)lo);
    for (int64_t n = 0; n < N; n++) {
        int64_t oy = (n / nrow) * (H + pad) + pad, ox = (n % nrow) * (W + pad) + pad;
        for (int c = 0; c < 3; c++)
            for (int64_t y = 0; y < H; y++)
                for (int64_t xx = 0; xx < W; xx++) {
                    float v = d[((n * 3 + c) * H + y) * W + xx];
                    v = v != v ? lo : v; /* NaN shows as lo */
                    v = v < lo ? lo : v > hi ? hi : v;
                    g[((oy + y) * GW + ox + xx) * 3 + c] =
                        (uint8_t)floor(((double)v - (double)lo) * sc + 0.5);
                }
    }
    lctw_tensor_release(xc);
    s = lctw_png_write_rgb8(path, g, GH, GW);
    free(g);
    return s;
}
