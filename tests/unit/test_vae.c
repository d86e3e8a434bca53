/* test_vae.c — VAElight and TAEF2 decoders/encoders (src/nn/vae.c) against the float64 PyTorch
 * reference of scripts/make_vae_fixture.py (tests/fixtures/vae_ref.safetensors), on the real
 * weights in ../shared/data/taesd (SKIP when absent); image grids written as PNG and read back
 * (src/io/png.c); clear errors for bad files and mismatched latents.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

#include "core/tensor.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "nn/vae.h"
#include "test.h"

#define FIX "tests/fixtures/vae_ref.safetensors"
#define DATA "../shared/data/taesd/"
#define VL_DEC DATA "sd1_vaelight_decoder.safetensors"
#define VL_ENC DATA "sd1_vaelight_encoder.safetensors"
#define TF_DEC DATA "taef2_decoder.safetensors"
#define TF_ENC DATA "taef2_encoder.safetensors"

static int have(const char *p) { return access(p, R_OK) == 0; }

static lctw_tensor *fix(const char *name) {
    lctw_st_file *f = NULL;
    lctw_tensor *t = NULL;
    if (lctw_st_open(&f, FIX) != LCTW_OK) return NULL;
    if (lctw_st_load_tensor(&t, f, name) != LCTW_OK) t = NULL;
    lctw_st_close(f);
    return t;
}

/* max |a - b| over same-shape contiguous CPU tensors (-1 if shapes differ). */
static double max_err(const lctw_tensor *a, const lctw_tensor *b) {
    if (!a || !b || !lctw_tensor_same_shape(a, b)) return -1;
    const float *x = lctw_tensor_data(a), *y = lctw_tensor_data(b);
    double m = 0;
    for (int64_t i = 0; i < lctw_tensor_numel(a); i++) {
        double d = fabs((double)x[i] - (double)y[i]);
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

/* Clamped copy of t (the encoders' inputs in the fixture are clamp(decoded, lo, hi)). */
static lctw_tensor *clamped(const lctw_tensor *t, float lo, float hi) {
    lctw_tensor *c = NULL;
    if (lctw_tensor_clone(&c, t) != LCTW_OK) return NULL;
    float *d = lctw_tensor_data(c);
    for (int64_t i = 0; i < lctw_tensor_numel(c); i++)
        d[i] = d[i] < lo ? lo : d[i] > hi ? hi : d[i];
    return c;
}

static void check_model(const char *path, int decode, const char *in_name, const char *ref_name,
                        float clo, float chi) {
    if (!have(path)) SKIP("%s absent", path);
    lctw_vae *v = NULL;
    CHECK_OK(lctw_vae_load(&v, path));
    if (!v) return;
    lctw_tensor *in = fix(in_name), *ref = fix(ref_name), *out = NULL;
    CHECK(in && ref, "fixture %s: %s/%s missing", FIX, in_name, ref_name);
    if (in && ref) {
        lctw_tensor *x = decode ? in : clamped(in, clo, chi);
        CHECK_OK(decode ? lctw_vae_decode(v, x, &out) : lctw_vae_encode(v, x, &out));
        double e = max_err(out, ref);
        CHECK(e >= 0 && e < 1e-4, "%s: max abs error %.3g vs PyTorch (limit 1e-4)", path, e);
        test_detail("%s, max abs error %.2e", lctw_vae_kind_name(v->kind), e);
        if (!decode) lctw_tensor_release(x);
    }
    lctw_tensor_release(out);
    lctw_tensor_release(in);
    lctw_tensor_release(ref);
    lctw_vae_free(v);
}

static void t_vaelight_decoder_vs_torch(void) {
    check_model(VL_DEC, 1, "vaelight.z", "vaelight.img", 0, 0);
}
static void t_vaelight_encoder_vs_torch(void) {
    check_model(VL_ENC, 0, "vaelight.img", "vaelight.enc", -1, 1);
}
static void t_taef2_decoder_vs_torch(void) { check_model(TF_DEC, 1, "taef2.z", "taef2.img", 0, 0); }
static void t_taef2_encoder_vs_torch(void) {
    check_model(TF_ENC, 0, "taef2.img", "taef2.enc", 0, 1);
}

static void t_detection_and_ranges(void) {
    if (!have(VL_DEC) || !have(TF_DEC)) SKIP("../shared/data/taesd absent");
    lctw_vae *a = NULL, *b = NULL;
    CHECK_OK(lctw_vae_load(&a, VL_DEC));
    CHECK_OK(lctw_vae_load(&b, TF_DEC));
    if (a && b) {
        CHECK(a->kind == LCTW_VAE_VAELIGHT_DECODER && a->latent_channels == 4, "vaelight: %s %d",
              lctw_vae_kind_name(a->kind), a->latent_channels);
        CHECK(a->range_lo == -1.0f && a->range_hi == 1.0f, "vaelight range");
        CHECK(b->kind == LCTW_VAE_TAESD_DECODER && b->latent_channels == 32, "taef2: %s %d",
              lctw_vae_kind_name(b->kind), b->latent_channels);
        CHECK(b->range_lo == 0.0f && b->range_hi == 1.0f, "taef2 range");
    }
    lctw_vae_free(a);
    lctw_vae_free(b);
}

/* A 3-dim latent decodes to a 3-dim image equal to the batched one, and chunking (a batch larger
 * than one chunk) gives the same result per sample. */
static void t_unbatched_and_chunks(void) {
    if (!have(VL_DEC)) SKIP("%s absent", VL_DEC);
    lctw_vae *v = NULL;
    CHECK_OK(lctw_vae_load(&v, VL_DEC));
    lctw_tensor *z = fix("vaelight.z"), *ref = fix("vaelight.img"), *z1 = NULL, *o1 = NULL;
    if (v && z && ref) {
        CHECK_OK(lctw_tensor_select(&z1, z, 0, 1));
        if (z1) CHECK_OK(lctw_vae_decode(v, z1, &o1));
        CHECK(o1 && o1->ndim == 3 && o1->shape[1] == 24 && o1->shape[2] == 32, "unbatched shape");
        if (o1 && o1->ndim == 3) {
            const float *a = lctw_tensor_data(o1), *b = lctw_tensor_data(ref) + 3 * 24 * 32;
            double m = 0;
            for (int i = 0; i < 3 * 24 * 32; i++)
                m = fmax(m, fabs(a[i] - b[i]));
            CHECK(m < 1e-4, "sample 2 alone: max error %.3g", m);
        }
    }
    /* 40 samples of 4×32×32 (256×256 outputs: several chunks) are each the same as alone */
    lctw_tensor *zz = NULL, *oo = NULL, *zs = NULL, *os = NULL;
    int64_t sh[4] = {5, 4, 32, 32};
    if (v && lctw_tensor_empty(&zz, 4, sh, LCTW_DEV_CPU) == LCTW_OK) {
        float *d = lctw_tensor_data(zz);
        for (int64_t i = 0; i < lctw_tensor_numel(zz); i++)
            d[i] = (float)((i * 7919) % 997) / 997.0f - 0.5f;
        CHECK_OK(lctw_vae_decode(v, zz, &oo));
        CHECK_OK(lctw_tensor_narrow(&zs, zz, 0, 4, 1));
        if (zs) CHECK_OK(lctw_vae_decode(v, zs, &os));
        if (oo && os) {
            const float *a = lctw_tensor_data(oo) + 4 * 3 * 256 * 256, *b = lctw_tensor_data(os);
            double m = 0;
            for (int i = 0; i < 3 * 256 * 256; i++)
                m = fmax(m, fabs(a[i] - b[i]));
            CHECK(m < 1e-5, "sample 5 of a chunked batch vs alone: %.3g", m);
        }
    }
    lctw_tensor_release(zz);
    lctw_tensor_release(oo);
    lctw_tensor_release(zs);
    lctw_tensor_release(os);
    lctw_tensor_release(z1);
    lctw_tensor_release(o1);
    lctw_tensor_release(z);
    lctw_tensor_release(ref);
    lctw_vae_free(v);
}

static void t_wrong_latents_error(void) {
    if (!have(VL_DEC) || !have(TF_DEC)) SKIP("../shared/data/taesd absent");
    lctw_vae *a = NULL, *b = NULL;
    CHECK_OK(lctw_vae_load(&a, VL_DEC));
    CHECK_OK(lctw_vae_load(&b, TF_DEC));
    lctw_tensor *z32 = fix("taef2.z"), *z4 = fix("vaelight.z"), *out = NULL;
    if (a && b && z32 && z4) {
        lctw_status s = lctw_vae_decode(a, z32, &out);
        CHECK(s == LCTW_ESHAPE && strstr(lctw_error_message(), "expects 4-channel latents") &&
                  strstr(lctw_error_message(), "got 2×32×2×3"),
              "VAElight on 32-channel latents: %s", lctw_error_message());
        s = lctw_vae_decode(b, z4, &out);
        CHECK(s == LCTW_ESHAPE && strstr(lctw_error_message(), "expects 32-channel latents"),
              "TAEF2 on 4-channel latents: %s", lctw_error_message());
        s = lctw_vae_encode(a, z4, &out);
        CHECK(s == LCTW_EINVAL && strstr(lctw_error_message(), "no encode"),
              "encode on decoder: %s", lctw_error_message());
        CHECK(out == NULL, "no output on failure");
    }
    lctw_tensor_release(z32);
    lctw_tensor_release(z4);
    lctw_vae_free(a);
    lctw_vae_free(b);
}

static void t_unknown_file_error(void) {
    lctw_vae *v = NULL;
    /* a valid safetensors file of another model */
    lctw_status s = lctw_vae_load(&v, "tests/fixtures/metrics_fd.safetensors");
    CHECK(s == LCTW_EFORMAT && v == NULL && strstr(lctw_error_message(), "not a known VAE"),
          "unknown file: %s", lctw_error_message());
    s = lctw_vae_load(&v, "tests/fixtures/does_not_exist.safetensors");
    CHECK(s != LCTW_OK && strstr(lctw_error_message(), "does_not_exist"), "missing: %s",
          lctw_error_message());
    /* a VAElight decoder with one weight of the wrong shape */
    if (!have(VL_DEC)) return;
    lctw_st_file *f = NULL;
    CHECK_OK(lctw_st_open(&f, VL_DEC));
    if (!f) return;
    int n = lctw_st_count(f);
    const char **names = calloc((size_t)n, sizeof *names);
    lctw_tensor **ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        names[i] = lctw_st_entry_at(f, i)->name;
        CHECK_OK(lctw_st_load_tensor(&ts[i], f, names[i]));
        if (!strcmp(names[i], "c4v5.weight")) { /* 64×32×3×3 → 64×16×3×3 */
            lctw_tensor *t = NULL;
            CHECK_OK(lctw_tensor_narrow(&t, ts[i], 1, 0, 16));
            lctw_tensor_release(ts[i]);
            ts[i] = t;
        }
    }
    char path[256];
    snprintf(path, sizeof path, "/tmp/lctw_test_vae_%d.safetensors", (int)getpid());
    CHECK_OK(lctw_st_save(path, n, names, ts, 0, NULL, NULL));
    s = lctw_vae_load(&v, path);
    CHECK(s == LCTW_EFORMAT &&
              strstr(lctw_error_message(), "c4v5.weight has shape 64×16×3×3, expected 64×32×3×3"),
          "bad shape: %s", lctw_error_message());
    unlink(path);
    for (int i = 0; i < n; i++)
        lctw_tensor_release(ts[i]);
    free(ts);
    free(names);
    lctw_st_close(f);
}

/* A grid of known pixel values written as PNG reads back with exactly the expected 8-bit values
 * (computed here independently: border black, clamp, round(255·(v − lo)/(hi − lo))). */
static void t_grid_png_roundtrip(void) {
    int64_t sh[4] = {5, 3, 6, 7};
    lctw_tensor *im = NULL, *back = NULL;
    CHECK_OK(lctw_tensor_empty(&im, 4, sh, LCTW_DEV_CPU));
    if (!im) return;
    float *d = lctw_tensor_data(im);
    for (int64_t i = 0; i < lctw_tensor_numel(im); i++)
        d[i] = (float)((i * 37) % 101) / 40.0f - 1.3f;
    char path[256];
    snprintf(path, sizeof path, "/tmp/lctw_test_grid_%d.png", (int)getpid());
    CHECK_OK(lctw_image_save_grid(im, path, 2, -1.0f, 1.0f, 2));
    CHECK_OK(lctw_image_load(&back, path));
    int64_t GH = 3 * (6 + 2) + 2, GW = 2 * (7 + 2) + 2;
    CHECK(back && back->ndim == 3 && back->shape[0] == 3 && back->shape[1] == GH &&
              back->shape[2] == GW,
          "grid shape");
    if (back && back->shape[1] == GH && back->shape[2] == GW) {
        const float *g = lctw_tensor_data(back);
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int64_t y = 0; y < GH; y++)
                for (int64_t x = 0; x < GW; x++) {
                    double want = 0;
                    int64_t ry = y - 2, rx = x - 2;
                    int64_t n = (ry / 8) * 2 + rx / 9, iy = ry % 8, ix = rx % 9;
                    if (ry >= 0 && rx >= 0 && iy < 6 && ix < 7 && n < 5) {
                        double v = d[((n * 3 + c) * 6 + iy) * 7 + ix];
                        v = v < -1 ? -1 : v > 1 ? 1 : v;
                        want = floor((v + 1) * (255.0 / 2.0) + 0.5) / 255;
                    }
                    if (fabs(g[(c * GH + y) * GW + x] - want) > 1e-6) bad++;
                }
        CHECK(bad == 0, "%d of %lld values differ", bad, (long long)(3 * GH * GW));
    }
    unlink(path);
    lctw_tensor_release(im);
    lctw_tensor_release(back);
}

static void t_decoded_grid_png(void) {
    if (!have(TF_DEC)) SKIP("%s absent", TF_DEC);
    lctw_vae *v = NULL;
    lctw_tensor *z = fix("taef2.z"), *img = NULL, *back = NULL;
    CHECK_OK(lctw_vae_load(&v, TF_DEC));
    if (v && z) CHECK_OK(lctw_vae_decode(v, z, &img));
    char path[256];
    snprintf(path, sizeof path, "/tmp/lctw_test_dgrid_%d.png", (int)getpid());
    if (img) CHECK_OK(lctw_image_save_grid(img, path, 0, 0.0f, 1.0f, 2));
    if (img) CHECK_OK(lctw_image_load(&back, path));
    if (back) {
        /* nrow = ceil(sqrt(2)) = 2: images side by side; compare image 2's pixels */
        CHECK(back->shape[1] == 16 + 4 && back->shape[2] == 2 * 24 + 6, "grid shape");
        const float *g = lctw_tensor_data(back), *s = lctw_tensor_data(img);
        double m = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 24; x++) {
                    double sv = s[((3 + c) * 16 + y) * 24 + x];
                    sv = sv < 0 ? 0 : sv > 1 ? 1 : sv;
                    m = fmax(m, fabs(g[(c * 20 + 2 + y) * 54 + 28 + x] - sv));
                }
        CHECK(m <= 0.5 / 255 + 1e-6, "quantisation error %.4g > half a level", m);
        test_detail("max |png - decoded| %.4f", m);
    }
    unlink(path);
    lctw_tensor_release(z);
    lctw_tensor_release(img);
    lctw_tensor_release(back);
    lctw_vae_free(v);
}

static void t_bad_images_error(void) {
    lctw_tensor *t = NULL;
    char path[256], png[256];
    snprintf(path, sizeof path, "/tmp/lctw_test_img_%d.txt", (int)getpid());
    FILE *f = fopen(path, "wb");
    fputs("hello, not an image\n", f);
    fclose(f);
    lctw_status s = lctw_image_load(&t, path);
    CHECK(s == LCTW_EFORMAT && strstr(lctw_error_message(), "not a PNG or JPEG"), "text: %s",
          lctw_error_message());
    /* truncated PNG: the first half of a valid one */
    snprintf(png, sizeof png, "/tmp/lctw_test_img_%d.png", (int)getpid());
    uint8_t rgb[16 * 16 * 3];
    for (int i = 0; i < (int)sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 131 + (i >> 5));
    CHECK_OK(lctw_png_write_rgb8(png, rgb, 16, 16));
    f = fopen(png, "rb");
    unsigned char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    f = fopen(path, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    s = lctw_image_load(&t, path);
    CHECK(s == LCTW_EFORMAT && strstr(lctw_error_message(), "truncated PNG") && t == NULL,
          "truncated: %s", lctw_error_message());
    /* the full file reads back exactly */
    CHECK_OK(lctw_image_load(&t, png));
    if (t) {
        const float *d = lctw_tensor_data(t);
        int bad = 0;
        for (int i = 0; i < 256; i++)
            for (int c = 0; c < 3; c++)
                bad += fabs(d[c * 256 + i] - rgb[i * 3 + c] / 255.0) > 1e-7;
        CHECK(bad == 0, "%d values differ", bad);
    }
    lctw_tensor_release(t);
    t = NULL;
    s = lctw_image_load(&t, "/tmp/lctw_no_such_image.png");
    CHECK(s == LCTW_EIO && strstr(lctw_error_message(), "lctw_no_such_image.png"), "missing: %s",
          lctw_error_message());
    /* a truncated JPEG header */
    f = fopen(path, "wb");
    const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'};
    fwrite(jpg, 1, sizeof jpg, f);
    fclose(f);
    s = lctw_image_load(&t, path);
    CHECK(s == LCTW_EFORMAT && strstr(lctw_error_message(), "JPEG"), "bad jpeg: %s",
          lctw_error_message());
    /* an unwritable destination leaves no file behind and says why */
    s = lctw_png_write_rgb8("/tmp/lctw_no_such_dir/x.png", rgb, 16, 16);
    CHECK(s == LCTW_EIO && strstr(lctw_error_message(), "lctw_no_such_dir"), "unwritable: %s",
          lctw_error_message());
    unlink(path);
    unlink(png);
}

/* A smooth 24×40 RGB image compressed by libjpeg at quality 100 (written here) reads back as
 * 3×24×40 within a few levels of the original pixels. */
static void t_jpeg_load(void) {
    enum { H = 24, W = 40 };
    static uint8_t rgb[H * W * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            rgb[(y * W + x) * 3 + 0] = (uint8_t)(40 + 4 * x);
            rgb[(y * W + x) * 3 + 1] = (uint8_t)(200 - 5 * y);
            rgb[(y * W + x) * 3 + 2] = (uint8_t)(100 + 2 * x + 2 * y);
        }
    char path[256];
    snprintf(path, sizeof path, "/tmp/lctw_test_jpeg_%d.jpg", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) SKIP("cannot create %s", path);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = W;
    ci.image_height = H;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = rgb + ci.next_scanline * W * 3;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
    lctw_tensor *t = NULL;
    CHECK_OK(lctw_image_load(&t, path));
    CHECK(t && t->ndim == 3 && t->shape[0] == 3 && t->shape[1] == H && t->shape[2] == W,
          "JPEG shape");
    if (t && t->shape[1] == H && t->shape[2] == W) {
        const float *d = lctw_tensor_data(t);
        double m = 0;
        for (int i = 0; i < H * W; i++)
            for (int c = 0; c < 3; c++)
                m = fmax(m, fabs(d[c * H * W + i] * 255.0 - rgb[i * 3 + c]));
        CHECK(m <= 6.01, "JPEG max error %.1f levels (limit 6: chroma subsampling)", m);
        test_detail("max error %.0f levels", m);
    }
    lctw_tensor_release(t);
    unlink(path);
}

int main(void) {
    RUN(t_vaelight_decoder_vs_torch);
    RUN(t_taef2_decoder_vs_torch);
    RUN(t_vaelight_encoder_vs_torch);
    RUN(t_taef2_encoder_vs_torch);
    RUN(t_detection_and_ranges);
    RUN(t_unbatched_and_chunks);
    RUN(t_wrong_latents_error);
    RUN(t_unknown_file_error);
    RUN(t_grid_png_roundtrip);
    RUN(t_decoded_grid_png);
    RUN(t_bad_images_error);
    RUN(t_jpeg_load);
    return test_summary();
}
