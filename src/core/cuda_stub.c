/* cuda_stub.c — the CUDA interfaces (kernels/lctw_cuda.h, kernels/lctw_cuda_ops.h) for builds
 * without nvcc: no devices, and every device call fails with a clear message. Compiled only when
 * CUDA=0. */
#include "lctw_cuda.h"

#define NO_CUDA LCTW_FAIL(LCTW_EDEVICE, "lctw was built without CUDA (rebuild with CUDA=1)")

int lctw_cuda_built(void) { return 0; }
int lctw_cuda_device_count(void) { return 0; }
const char *lctw_cuda_describe(void) { return "lctw was built without CUDA"; }
lctw_status lctw_cuda_mem_info(size_t *f, size_t *t) { *f = *t = 0; return NO_CUDA; }
lctw_status lctw_cuda_malloc(void **p, size_t n) { *p = NULL; return NO_CUDA; }
void lctw_cuda_free(void *p) {}
lctw_status lctw_cuda_memset0(void *p, size_t n) { return NO_CUDA; }
lctw_status lctw_cuda_h2d(void *d, const void *s, size_t n) { return NO_CUDA; }
lctw_status lctw_cuda_d2h(void *d, const void *s, size_t n) { return NO_CUDA; }
lctw_status lctw_cuda_d2d(void *d, const void *s, size_t n) { return NO_CUDA; }
lctw_status lctw_cuda_sync(void) { return NO_CUDA; }
void lctw_cuda_set_tf32(int on) {}
int lctw_cuda_tf32(void) { return 0; }
lctw_status lctw_cuda_copy_strided(lctw_tensor *d, const lctw_tensor *s) { return NO_CUDA; }
lctw_status lctw_cuda_unary(lctw_tensor *o, const lctw_tensor *a, lctw_unary_op op) { return NO_CUDA; }
lctw_status lctw_cuda_binary(lctw_tensor *o, const lctw_tensor *a, const lctw_tensor *b,
                             lctw_binary_op op) { return NO_CUDA; }
lctw_status lctw_cuda_binary_scalar(lctw_tensor *o, const lctw_tensor *a, float s,
                                    lctw_binary_op op, int f) { return NO_CUDA; }
lctw_status lctw_cuda_clamp(lctw_tensor *o, const lctw_tensor *a, float lo, float hi) { return NO_CUDA; }
lctw_status lctw_cuda_fill(lctw_tensor *t, float v) { return NO_CUDA; }
lctw_status lctw_cuda_fill_uniform(lctw_tensor *t, const lctw_rng *r) { return NO_CUDA; }
lctw_status lctw_cuda_fill_normal(lctw_tensor *t, const lctw_rng *r) { return NO_CUDA; }
lctw_status lctw_cuda_matmul(lctw_tensor *o, const lctw_tensor *a, const lctw_tensor *b) { return NO_CUDA; }
lctw_status lctw_cuda_reduce_all(const lctw_tensor *t, lctw_reduce_op op, int u, double *r) { return NO_CUDA; }
lctw_status lctw_cuda_reduce_dim(lctw_tensor *o, lctw_tensor *i, const lctw_tensor *t, int d,
                                 lctw_reduce_op op, int u) { return NO_CUDA; }
lctw_status lctw_cuda_moments_all(const lctw_tensor *t, lctw_moments *m) { return NO_CUDA; }
lctw_status lctw_cuda_tail_fraction(const lctw_tensor *t, double k, double *f) { return NO_CUDA; }
lctw_status lctw_cuda_histogram(const lctw_tensor *t, int b, double lo, double hi, int64_t *c,
                                int64_t *below, int64_t *above) { return NO_CUDA; }

/* ---- op twins (kernels/lctw_cuda_ops.h) ---- */
#include "lctw_cuda_ops.h"

lctw_status lctw_cuda_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                            float *C, int64_t ldc) { return NO_CUDA; }
lctw_status lctw_cuda_sgemm_batched(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                                    const float *A, int64_t lda, int64_t sa, const float *B,
                                    int64_t ldb, int64_t sb, float beta, float *C, int64_t ldc,
                                    int64_t sc, int64_t batch) { return NO_CUDA; }
lctw_status lctw_cuda_op_linear_fwd(const float *x, const float *w, const float *b, float *y,
                                    int64_t M, int64_t in, int64_t out) { return NO_CUDA; }
lctw_status lctw_cuda_op_linear_bwd(const float *x, const float *w, const float *gy, float *gx,
                                    float *gw, float *gb, int64_t M, int64_t in, int64_t out) { return NO_CUDA; }
lctw_status lctw_cuda_op_reduce(float *out, const float *x, const float *y, int64_t A, int64_t O,
                                int64_t C, int64_t I, double div, int accumulate) { return NO_CUDA; }
lctw_status lctw_cuda_op_binary_fwd(int kind, const float *a, const float *b, float *y, int64_t n) { return NO_CUDA; }
lctw_status lctw_cuda_op_acc(float *g, const float *s, const float *t, float alpha, int64_t n) { return NO_CUDA; }
lctw_status lctw_cuda_op_affine(const float *x, float *y, float a, float b, int64_t n) { return NO_CUDA; }
lctw_status lctw_cuda_op_scale_rows_fwd(const float *x, const float *s, float *y, int64_t B,
                                        int64_t m) { return NO_CUDA; }
lctw_status lctw_cuda_op_scale_rows_bwd(const float *x, const float *s, const float *gy, float *gx,
                                        float *gs, int64_t B, int64_t m) { return NO_CUDA; }
lctw_status lctw_cuda_op_act_fwd(int act, const float *x, float *y, int64_t n, float slope) { return NO_CUDA; }
lctw_status lctw_cuda_op_act_bwd(int act, const float *x, const float *y, const float *gy, float *gx,
                                 int64_t n, float slope) { return NO_CUDA; }
lctw_status lctw_cuda_op_sum_fwd(const float *x, float *y, int64_t n, int mean) { return NO_CUDA; }
lctw_status lctw_cuda_op_sum_bwd(const float *gy, float *gx, int64_t n, int mean) { return NO_CUDA; }
lctw_status lctw_cuda_op_conv2d_fwd(const lctw_cu_conv *g, const float *x, const float *w,
                                    const float *b, float *y, int64_t N, int64_t Cout, int64_t gn,
                                    float *cols, float *tmp) { return NO_CUDA; }
lctw_status lctw_cuda_op_conv2d_bwd(const lctw_cu_conv *g, const float *x, const float *w,
                                    const float *gy, float *gx, float *gw, float *gb, int64_t N,
                                    int64_t Cout, int64_t gn, float *cols, float *tmp) { return NO_CUDA; }
lctw_status lctw_cuda_op_convt_fwd(const lctw_cu_conv *g, const float *x, const float *w,
                                   const float *b, float *y, int64_t N, int64_t Cin, int64_t gn,
                                   float *cols, float *tmp) { return NO_CUDA; }
lctw_status lctw_cuda_op_convt_bwd(const lctw_cu_conv *g, const float *x, const float *w,
                                   const float *gy, float *gx, float *gw, float *gb, int64_t N,
                                   int64_t Cin, int64_t gn, float *cols, float *tmp) { return NO_CUDA; }
lctw_status lctw_cuda_op_avgpool_fwd(const float *x, float *y, int64_t P, int64_t H, int64_t W,
                                     int64_t k) { return NO_CUDA; }
lctw_status lctw_cuda_op_avgpool_bwd(const float *gy, float *gx, int64_t P, int64_t H, int64_t W,
                                     int64_t k) { return NO_CUDA; }
lctw_status lctw_cuda_op_nearest2x_fwd(const float *x, float *y, int64_t P, int64_t H, int64_t W) { return NO_CUDA; }
lctw_status lctw_cuda_op_nearest2x_bwd(const float *gy, float *gx, int64_t P, int64_t H, int64_t W) { return NO_CUDA; }
lctw_status lctw_cuda_op_bilinear_fwd(const float *x, float *y, int64_t P, int64_t H, int64_t W,
                                      int64_t s) { return NO_CUDA; }
lctw_status lctw_cuda_op_bilinear_bwd(const float *gy, float *gx, int64_t P, int64_t H, int64_t W,
                                      int64_t s) { return NO_CUDA; }
lctw_status lctw_cuda_op_concat_fwd(const float *a, const float *b, float *y, int64_t N, int64_t na,
                                    int64_t nb) { return NO_CUDA; }
lctw_status lctw_cuda_op_concat_bwd(const float *gy, float *ga, float *gb, int64_t N, int64_t na,
                                    int64_t nb) { return NO_CUDA; }
lctw_status lctw_cuda_op_norm_fwd(const float *x, const float *gamma, const float *beta, float *y,
                                  float *stats, int64_t M, int64_t L, int64_t G, int64_t S,
                                  float eps) { return NO_CUDA; }
lctw_status lctw_cuda_op_norm_bwd(const float *x, const float *gamma, const float *stats,
                                  const float *gy, float *gx, float *ggamma, float *gbeta,
                                  int64_t M, int64_t L, int64_t G, int64_t S) { return NO_CUDA; }
lctw_status lctw_cuda_op_softmax_fwd(const float *x, float *y, int64_t M, int64_t L) { return NO_CUDA; }
lctw_status lctw_cuda_op_softmax_bwd(const float *y, const float *gy, float *gx, int64_t M,
                                     int64_t L, int assign) { return NO_CUDA; }
int64_t lctw_cuda_op_attention_scratch(const lctw_cu_attn *g, int backward) { return 0; }
lctw_status lctw_cuda_op_attention_fwd(const lctw_cu_attn *g, const float *q, const float *k,
                                       const float *v, float *out, float *P, float *scratch) { return NO_CUDA; }
lctw_status lctw_cuda_op_attention_bwd(const lctw_cu_attn *g, const float *q, const float *k,
                                       const float *v, const float *P, const float *gout,
                                       float *gq, float *gk, float *gv, float *scratch) { return NO_CUDA; }
lctw_status lctw_cuda_op_heads_copy(float *tok, float *hd, int64_t B, int64_t T, int64_t n,
                                    int64_t part, int64_t H, int64_t dh, int to_heads, int add) { return NO_CUDA; }
lctw_status lctw_cuda_op_chunk_copy(float *x, float *y, int64_t O, int64_t S, int64_t I, int64_t s,
                                    int64_t i, int to_part) { return NO_CUDA; }
lctw_status lctw_cuda_op_modulate_fwd(const float *x, const float *sh, const float *sc, float *y,
                                      int64_t B, int64_t R, int64_t F, int64_t I) { return NO_CUDA; }
lctw_status lctw_cuda_op_modulate_bwd(const float *x, const float *sc, const float *gy, float *gx,
                                      float *gsh, float *gsc, int64_t B, int64_t R, int64_t F,
                                      int64_t I) { return NO_CUDA; }
lctw_status lctw_cuda_op_gate_fwd(const float *x, const float *gate, const float *y, float *out,
                                  int64_t B, int64_t R, int64_t F, int64_t I) { return NO_CUDA; }
lctw_status lctw_cuda_op_gate_bwd(const float *gate, const float *y, const float *gout, float *gx,
                                  float *ggate, float *gy, int64_t B, int64_t R, int64_t F,
                                  int64_t I) { return NO_CUDA; }
lctw_status lctw_cuda_op_patch_copy(float *img, float *tok, int64_t B, int64_t C, int64_t gh,
                                    int64_t gw, int64_t p, int cpp, int to_tok, int add) { return NO_CUDA; }
lctw_status lctw_cuda_op_temb_fwd(const float *t, float *y, int64_t B, int64_t half,
                                  double max_period) { return NO_CUDA; }
lctw_status lctw_cuda_op_temb_bwd(const float *t, const float *gy, float *gt, int64_t B,
                                  int64_t half, double max_period) { return NO_CUDA; }

/* ---- training-step kernels (kernels/lctw_cuda_ct.h) ---- */
#include "lctw_cuda_ct.h"

lctw_status lctw_cuda_ct_loss_stats(int kind, double c, const float *ds, const float *dt,
                                    const float *x, int64_t b, int64_t d, double *st) { return NO_CUDA; }
lctw_status lctw_cuda_ct_loss_grad(int kind, double c, const float *ds, const float *dt,
                                   const float *x, const double *coef, int64_t b, int64_t d,
                                   float *grad, int *bad) { *bad = 0; return NO_CUDA; }
lctw_status lctw_cuda_ct_ot_parts(const float *x, const float *n, int64_t b, int64_t d,
                                  float *dot, double *xx, double *nn) { return NO_CUDA; }
lctw_status lctw_cuda_ct_gather_rows(float *out, const float *src, const int64_t *perm, int64_t b,
                                     int64_t d) { return NO_CUDA; }
lctw_status lctw_cuda_ct_perturb(const float *x, const float *n, const double *sig, int64_t b,
                                 int64_t d, float *xs, float *xt) { return NO_CUDA; }
lctw_status lctw_cuda_ct_add_normal(float *y, const float *base, double amp, uint64_t seed,
                                    uint32_t stream, uint64_t offset, uint64_t j0, int64_t n) { return NO_CUDA; }
lctw_status lctw_cuda_ct_grad_scan(const float *g, int64_t n, double *sumsq, int64_t *count,
                                   int64_t *first) { return NO_CUDA; }
lctw_status lctw_cuda_ct_adam(const lctw_cu_adam *k, int64_t n, float *th, const float *g,
                              float *m, float *v) { return NO_CUDA; }
lctw_status lctw_cuda_ct_ema(float *avg, const float *th, float w, int64_t n) { return NO_CUDA; }
lctw_status lctw_cuda_ct_stats_launch(const float *x, int64_t n) { return NO_CUDA; }
lctw_status lctw_cuda_ct_stats_read(lctw_cu_batch_stats *out) { return NO_CUDA; }
