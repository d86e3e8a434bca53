/* ot.h — minibatch optimal-transport coupling of data and noise (ALGORITHM.md §4.3 item 2,
 * §9 item 18): exact linear assignment on the squared-L2 cost.
 *
 * The paper code builds M_jk = ‖x_j − n_k‖² over the flattened samples (noise not scaled by σ),
 * divides by max(M) and solves the exact EMD with uniform marginals (POT ot.emd); the plan of a
 * b×b problem with uniform marginals is a permutation, so this is the linear sum assignment
 * problem min_π Σ_j M_{j,π(j)}. Scaling M by 1/max(M) does not change the minimiser, so it is
 * not done. The paper then draws the b pairs from the plan without replacement, which only puts
 * the matched pairs in a random order; the loss is a mean over the batch, so the order does not
 * matter and lctw returns the matching itself (noise row perm[j] pairs with x_j).
 *
 * Cost: one GEMM, M_jk = ‖x_j‖² + ‖n_k‖² − 2·x_j·n_k. The dot products come from sgemm (float
 * accumulation in OpenBLAS, relative error ~1e-6 of ‖x_j‖‖n_k‖); the squared norms are summed
 * and M is assembled in double. The assignment is solved in double on that matrix.
 *
 * Solver: shortest augmenting paths with dual potentials (Jonker–Volgenant): column reduction
 * (v_k = min_j M_jk, the rows owning a column minimum assigned), two passes of augmenting row
 * reduction (cheap auction-like moves that assign most remaining rows), then for each free row
 * Dijkstra on the reduced costs M_jk − u_j − v_k ≥ 0 to the nearest free column, a potential
 * update and an augmentation. O(b³) worst case; b = 256, d = 4096: ~1.3 ms on one core. On return
 * the potentials are an optimality certificate: every reduced cost ≥ 0 (up to rounding) and the
 * assigned ones = 0.
 */
#ifndef LCTW_OT_H
#define LCTW_OT_H

#include <stdint.h>

#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exact linear sum assignment on a square n×n cost matrix (row-major, finite doubles):
 * minimises Σ_j cost[j·n + perm[j]] over permutations. perm (n) receives the column of each
 * row. total (may be NULL) receives the minimal cost; u, v (may be NULL, n each) receive the
 * row and column potentials with cost[j,k] − u[j] − v[k] ≥ 0, = 0 where k = perm[j]. n = 0 is
 * allowed (nothing to do). Fails with EINVAL on a non-finite cost (naming its row and column). */
lctw_status lctw_lsa_solve(int64_t n, const double *cost, int64_t *perm, double *total, double *u,
                           double *v);

/* Squared-distance cost matrix of two batches: x and noise have the same shape (b, ...) with b
 * samples of d = numel/b elements each (any strides, CPU or CUDA; CUDA inputs are copied to
 * the host unless both are contiguous CUDA tensors: then the GEMM and the norms run on the
 * device and b×b dots come back). cost (b×b, row-major, caller-allocated) receives cost[j·b + k] = ‖x_j − n_k‖². */
lctw_status lctw_ot_cost(const lctw_tensor *x, const lctw_tensor *noise, double *cost);

/* OT coupling of a batch: perm (b) such that noise row perm[j] pairs with x_j (0-based), total
 * (may be NULL) = Σ_j ‖x_j − n_perm[j]‖². Combines lctw_ot_cost and lctw_lsa_solve; the b×b cost
 * matrix is allocated and freed here (b = 256: 512 KiB). */
lctw_status lctw_ot_assign(const lctw_tensor *x, const lctw_tensor *noise, int64_t *perm,
                           double *total);

/* out[j] = src[perm[j]] along dimension 0 (the noise batch reordered to pair with x). out and
 * src have the same shape, may be on any device, must not overlap; perm must be a permutation of
 * 0..b−1 (checked). */
lctw_status lctw_ot_permute_rows(lctw_tensor *out, const lctw_tensor *src, const int64_t *perm);

#ifdef __cplusplus
}
#endif

#endif
