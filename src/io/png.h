/* png.h — images to and from files: 8-bit RGB PNG writing (libpng, atomic replace), PNG and
 * JPEG reading (libpng, libjpeg), and image grids for sample previews.
 *
 * Images in memory are float32 tensors 3×H×W (one image) or N×3×H×W; files hold 8-bit sRGB
 * values, mapped linearly: u8 = ⌊255·(v − lo)/(hi − lo) + ½⌋ (double) after clamping v to [lo, hi]
 * (NaN → lo); reading gives values u8/255 in [0, 1]. Grayscale, palette, 16-bit and alpha PNGs are
 * read as 8-bit RGB (alpha dropped); grayscale JPEGs are expanded to RGB (CMYK ones are rejected).
 */
#ifndef LCTW_PNG_H
#define LCTW_PNG_H

#include <stdint.h>

#include "core/tensor.h"

/* Writes an H×W×3 row-major 8-bit RGB buffer to path as PNG: temp file in the same directory,
 * then rename, so a failed write leaves an existing file untouched. */
lctw_status lctw_png_write_rgb8(const char *path, const uint8_t *rgb, int64_t h, int64_t w);

/* Reads a PNG or JPEG (detected from the first bytes, not the name) into a new 3×H×W CPU tensor
 * with values in [0, 1]. */
lctw_status lctw_image_load(lctw_tensor **out, const char *path);

/* Tiles images (N×3×H×W or 3×H×W, any device/strides) into a grid of nrow images per row
 * (nrow < 1: ceil(sqrt(N))), with a border of `pad` pixels between and around the images
 * (border colour: black), values clamped to [lo, hi] and mapped to 0..255, and writes a PNG. */
lctw_status lctw_image_save_grid(lctw_tensor *images, const char *path, int nrow, float lo,
                                 float hi, int pad);

#endif
