/* ops_conv.h — convolution-family ops (declarations; included by ops.h): convolutions, pooling,
 * up-sampling and channel concatenation of NCHW float32 images, as used by the paper U-Net
 * (ALGORITHM.md §2A: 3×3 / 1×1 convs, 2×2 average down-sampling, nearest 2× up-sampling, skip
 * concatenation) and the VAElight encoder/decoder (2×2 stride-2 convs, 8×8 average pooling,
 * 2×2 stride-2 transposed convs, bilinear up-sampling). Each op has a backward on the tape.
 * Implementations: conv2d.c (conv2d, conv_transpose2d), resample.c, concat.c.
 */
#ifndef LCTW_OPS_CONV_H
#define LCTW_OPS_CONV_H

#include "../autograd.h"

#define LCTW_OP_LIST_CONV(X)                                                                       \
    X(conv2d)                                                                                      \
    X(conv_transpose2d)                                                                            \
    X(avg_pool2d)                                                                                  \
    X(upsample_nearest2x)                                                                          \
    X(upsample_bilinear)                                                                           \
    X(concat_channels)

/* y = conv2d(x, w) + b (PyTorch Conv2d, cross-correlation, no dilation/groups):
 *   x (N, Cin, H, W), w (Cout, Cin, kh, kw), b (Cout) or NULL, stride ≥ 1, padding ≥ 0 (zeros,
 *   the same on all four sides); y (N, Cout, Ho, Wo), Ho = (H + 2·pad − kh) / stride + 1 (floor).
 * im2col + GEMM per block of output columns; 1×1 stride-1 unpadded convs are a plain GEMM. */
lctw_status lctw_op_conv2d(lctw_ctx *c, lctw_tensor *x, lctw_tensor *w, lctw_tensor *b, int stride,
                           int padding, lctw_tensor **y);

/* y = conv_transpose2d(x, w) + b (PyTorch ConvTranspose2d, no output padding/dilation/groups):
 *   x (N, Cin, H, W), w (Cin, Cout, kh, kw), b (Cout) or NULL;
 *   y (N, Cout, (H − 1)·stride − 2·pad + kh, (W − 1)·stride − 2·pad + kw).
 * The VAElight decoder uses kh = kw = stride = 2, pad 0. */
lctw_status lctw_op_conv_transpose2d(lctw_ctx *c, lctw_tensor *x, lctw_tensor *w, lctw_tensor *b,
                                     int stride, int padding, lctw_tensor **y);

/* y = k×k average pooling with stride k, no padding: x (N, C, H, W) → (N, C, H/k, W/k)
 * (floor: trailing rows/columns that do not fill a window are dropped, as in PyTorch). */
lctw_status lctw_op_avg_pool2d(lctw_ctx *c, lctw_tensor *x, int k, lctw_tensor **y);

/* y = nearest-neighbour 2× up-sampling: x (N, C, H, W) → (N, C, 2H, 2W). */
lctw_status lctw_op_upsample_nearest2x(lctw_ctx *c, lctw_tensor *x, lctw_tensor **y);

/* y = bilinear up-sampling by an integer factor (PyTorch interpolate(mode="bilinear",
 * align_corners=False, scale_factor=scale)): x (N, C, H, W) → (N, C, scale·H, scale·W); source
 * coordinate (dst + 0.5)/scale − 0.5, clamped at 0, neighbours clamped at the last row/column. */
lctw_status lctw_op_upsample_bilinear(lctw_ctx *c, lctw_tensor *x, int scale, lctw_tensor **y);

/* y = [a, b] along channels: a (N, Ca, H, W), b (N, Cb, H, W) → (N, Ca + Cb, H, W). */
lctw_status lctw_op_concat_channels(lctw_ctx *c, lctw_tensor *a, lctw_tensor *b, lctw_tensor **y);

/* Scratch budget of conv2d / conv_transpose2d in floats: the im2col buffer of one block of
 * output columns is at most about this size (default 1 << 19, i.e. 2 MiB; blocks have at least
 * 32 columns). Tests lower it to exercise blocking; values < 1 mean the default. */
extern int64_t lctw_conv_scratch_floats;

#endif
