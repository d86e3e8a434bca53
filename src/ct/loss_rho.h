/* loss_rho.h — ρ(u) and ρ'(u) of the robust losses (u = δ², per sample or per element), one
 * definition for the CPU (loss.c: lctw_loss_rho / lctw_loss_drho) and the CUDA kernels
 * (kernels/ct_step.cu), so the two devices cannot drift apart. k is an lctw_loss_kind. */
#ifndef LCTW_CT_LOSS_RHO_H
#define LCTW_CT_LOSS_RHO_H

#include <math.h>

#include "ct/loss.h"

#include "core/hd.h"

LCTW_HD double lctw_loss_rho_of(int k, double u, double c) {
    switch (k) {
    case LCTW_LOSS_L2: return u;
    case LCTW_LOSS_L1: return sqrt(u);
    case LCTW_LOSS_PSEUDO_HUBER:
    case LCTW_LOSS_PSEUDO_HUBER_ELEM:
        /* √(u + c²) − c without cancellation for u ≪ c² */
        return u / (sqrt(u + c * c) + c);
    case LCTW_LOSS_CAUCHY:
    case LCTW_LOSS_CAUCHY_ELEM: return log1p(u / (2 * c * c));
    case LCTW_LOSS_GEMAN_MCCLURE:
    case LCTW_LOSS_GEMAN_MCCLURE_ELEM: return 2 * u / (u + 4 * c * c);
    default: return (double)NAN;
    }
}

LCTW_HD double lctw_loss_drho_of(int k, double u, double c) {
    switch (k) {
    case LCTW_LOSS_L2: return 1.0;
    case LCTW_LOSS_L1: return 0.5 / sqrt(u);
    case LCTW_LOSS_PSEUDO_HUBER:
    case LCTW_LOSS_PSEUDO_HUBER_ELEM: return 0.5 / sqrt(u + c * c);
    case LCTW_LOSS_CAUCHY:
    case LCTW_LOSS_CAUCHY_ELEM: return 1.0 / (u + 2 * c * c);
    case LCTW_LOSS_GEMAN_MCCLURE:
    case LCTW_LOSS_GEMAN_MCCLURE_ELEM: {
        double t = u + 4 * c * c;
        return 8 * c * c / (t * t);
    }
    default: return (double)NAN;
    }
}

#endif
