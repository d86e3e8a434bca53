/* rng.h — Philox4x32-10 counter-based generator (Salmon et al., SC'11), shared by CPU and CUDA.
 *
 * A generator is (seed, stream, offset). Draw j of a request of n numbers uses the 128-bit
 * block b = offset + j/4 and lane j%4, with counter (lo32(b), hi32(b), stream, 0) and key
 * (lo32(seed), hi32(seed)); after the request offset advances by ceil(n/4). So element j of a
 * draw is a pure function of (seed, stream, offset, j): the CPU loop and a CUDA thread compute
 * the same number, and a run resumes exactly from a saved (seed, stream, offset).
 *
 * uniform: ((x >> 9) + 0.5) · 2^-23 ∈ [2^-24, 1 − 2^-24], exactly representable in float32. (23
 *          bits, not 24: (k + 0.5)·2^-24 is not a float for k ≥ 2^23, and the top value would
 *          round to 1.0.)
 * normal:  Box–Muller in double on lanes (0,1) and (2,3): r = √(−2 ln u0), z0 = r cos 2πu1,
 *          z1 = r sin 2πu1, rounded to float32 (double math keeps CPU and CUDA in agreement).
 */
#ifndef LCTW_RNG_H
#define LCTW_RNG_H

#include <stdint.h>
#ifndef __CUDACC__
#include <math.h>
#endif

#include "hd.h"

typedef struct lctw_rng {
    uint64_t seed;
    uint64_t offset; /* in 128-bit blocks */
    uint32_t stream;
} lctw_rng;

LCTW_HD void lctw_philox4x32_10(const uint32_t ctr_in[4], const uint32_t key_in[2],
                                 uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The four raw 32-bit outputs of block `block` of generator (seed, stream). */
LCTW_HD void lctw_rng_block(uint64_t seed, uint32_t stream, uint64_t block, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), stream, 0u};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    lctw_philox4x32_10(ctr, key, out);
}

LCTW_HD float lctw_rng_u01(uint32_t x) { return ((float)(x >> 9) + 0.5f) * (1.0f / 8388608.0f); }

/* Element j of a uniform draw that started at block `offset`. */
LCTW_HD float lctw_rng_uniform_at(uint64_t seed, uint32_t stream, uint64_t offset, uint64_t j) {
    uint32_t o[4];
    lctw_rng_block(seed, stream, offset + j / 4, o);
    return lctw_rng_u01(o[j % 4]);
}

/* Element j of a normal draw that started at block `offset`. */
LCTW_HD float lctw_rng_normal_at(uint64_t seed, uint32_t stream, uint64_t offset, uint64_t j) {
    uint32_t o[4];
    lctw_rng_block(seed, stream, offset + j / 4, o);
    unsigned lane = (unsigned)(j % 4), pair = lane & 2u;
    double u0 = (double)lctw_rng_u01(o[pair]), u1 = (double)lctw_rng_u01(o[pair + 1]);
    double r = sqrt(-2.0 * log(u0));
    double a = 6.283185307179586476925 * u1;
    return (float)((lane & 1u) ? r * sin(a) : r * cos(a));
}

/* Blocks consumed by a draw of n numbers. */
LCTW_HD uint64_t lctw_rng_blocks(uint64_t n) { return (n + 3) / 4; }

#endif
