/* hd.h — LCTW_HD marks small functions defined once in a header for both the CPU (static inline)
 * and the CUDA kernels (__host__ __device__), so the two devices share one definition: the Philox
 * generator (rng.h), the robust losses' ρ and ρ' (ct/loss_rho.h). */
#ifndef LCTW_HD_H
#define LCTW_HD_H

#ifdef __CUDACC__
#define LCTW_HD __host__ __device__ __forceinline__
#else
#define LCTW_HD static inline
#endif

#endif
