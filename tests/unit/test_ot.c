/* test_ot.c — the OT coupling (src/ct/ot.h): the exact assignment solver against brute force over
 * all permutations (b ≤ 8, with ties and duplicates), an optimality certificate from the duals at
 * b = 256, an independent Hungarian implementation written here, and the GEMM cost matrix against
 * a direct double-precision loop. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "core/tensor.h"
#include "ct/ot.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double next_unif(void) { return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
static double next_gauss(void) {
    double u1 = next_unif(), u2 = next_unif();
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int is_perm(const int64_t *p, int n) {
    unsigned char seen[4096] = {0};
    if (n > 4096) return 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) return 0;
        seen[p[i]] = 1;
    }
    return 1;
}

/* Minimal assignment cost over all n! permutations (Heap's algorithm, n ≤ 8). */
static double brute_force(const double *C, int n) {
    int a[8], c[8] = {0};
    for (int i = 0; i < n; i++)
        a[i] = i;
    double best = 0.0;
    for (int i = 0; i < n; i++)
        best += C[i * n + a[i]];
    int i = 0;
    while (i < n) {
        if (c[i] < i) {
            int k = (i % 2 == 0) ? 0 : c[i];
            int t = a[k];
            a[k] = a[i];
            a[i] = t;
            double s = 0.0;
            for (int r = 0; r < n; r++)
                s += C[r * n + a[r]];
            if (s < best) best = s;
            c[i]++;
            i = 0;
        } else {
            c[i] = 0;
            i++;
        }
    }
    return best;
}

/* Independent reference: the classical Hungarian method with potentials in the 1-based
 * "minv / way" formulation (one row added per phase, columns scanned in index order). */
static double hungarian_ref(const double *C, int n, int *assign /* row -> col */) {
    double *u = calloc((size_t)n + 1, sizeof *u), *v = calloc((size_t)n + 1, sizeof *v);
    double *minv = malloc(((size_t)n + 1) * sizeof *minv);
    int *p = calloc((size_t)n + 1, sizeof *p), *way = calloc((size_t)n + 1, sizeof *way);
    char *used = malloc((size_t)n + 1);
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= n; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= n; j++) {
                if (used[j]) continue;
                double cur = C[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (int j = 0; j <= n; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    double total = 0.0;
    for (int j = 1; j <= n; j++) {
        assign[p[j] - 1] = j - 1;
        total += C[(p[j] - 1) * n + (j - 1)];
    }
    free(u);
    free(v);
    free(minv);
    free(p);
    free(way);
    free(used);
    return total;
}

/* Checks the dual certificate of a solution; returns the most negative reduced cost and the
 * largest |reduced cost| on the assignment through *neg and *slack. */
static void certificate(const double *C, int n, const int64_t *perm, const double *u,
                        const double *v, double *neg, double *slack) {
    double mn = 0.0, sl = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double r = C[i * n + j] - u[i] - v[j];
            if (r < mn) mn = r;
            if (j == perm[i] && fabs(r) > sl) sl = fabs(r);
        }
    *neg = mn;
    *slack = sl;
}

/* ---- solver vs brute force ---------------------------------------------------------------- */

static void t_brute_force_random(void) {
    double C[64];
    int64_t perm[8];
    int instances = 0;
    double worst = 0.0;
    for (int n = 1; n <= 8; n++) {
        int reps = n <= 6 ? 120 : (n == 7 ? 40 : 12);
        for (int r = 0; r < reps; r++, instances++) {
            int kind = r % 3;
            for (int e = 0; e < n * n; e++)
                C[e] = kind == 0 ? next_unif()
                                 : (kind == 1 ? 100.0 * next_gauss() : 1e4 + next_unif());
            double total = -1.0;
            CHECK_OK(lctw_lsa_solve(n, C, perm, &total, NULL, NULL));
            CHECK(is_perm(perm, n), "n=%d: result is not a permutation", n);
            double bf = brute_force(C, n), direct = 0.0;
            for (int i = 0; i < n; i++)
                direct += C[i * n + perm[i]];
            CHECK_CLOSE(total, direct, 1e-12, 1e-12);
            CHECK_CLOSE(total, bf, 1e-9, 1e-12);
            double err = fabs(total - bf) / (fabs(bf) + 1e-300);
            if (err > worst) worst = err;
        }
    }
    test_detail("%d instances b=1..8, max rel err %.1e", instances, worst);
}

static void t_brute_force_ties(void) {
    double C[64];
    int64_t perm[8];
    int instances = 0;
    for (int n = 2; n <= 8; n++) {
        for (int r = 0; r < 60; r++, instances++) {
            int kind = r % 5;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    double c;
                    switch (kind) {
                    case 0: c = (double)(next_u64() % 3); break; /* many ties */
                    case 1: c = 7.0; break;                      /* all equal */
                    case 2: c = (double)((i % 2) * 10 + (int)(next_u64() % 2)); break;
                    case 3: c = (double)(next_u64() % 2); break;
                    default: c = (double)(next_u64() % 5); break;
                    }
                    C[i * n + j] = c;
                }
            if (kind == 2 || kind == 4) { /* duplicate rows and columns (identical samples) */
                for (int j = 0; j < n; j++)
                    C[(n - 1) * n + j] = C[0 * n + j];
                for (int i = 0; i < n; i++)
                    C[i * n + (n - 1)] = C[i * n + 1];
            }
            double total = -1.0;
            CHECK_OK(lctw_lsa_solve(n, C, perm, &total, NULL, NULL));
            CHECK(is_perm(perm, n), "n=%d kind=%d: not a permutation", n, kind);
            CHECK_CLOSE(total, brute_force(C, n), 1e-12, 0.0);
        }
    }
    test_detail("%d instances with ties/duplicates", instances);
}

/* ---- b = 256: certificate and reference ------------------------------------------------- */

/* Squared-distance costs of Gaussian samples (the training case) in double. */
static void gauss_cost(double *C, int n, int d, double xscale) {
    double *x = malloc((size_t)n * d * sizeof *x), *z = malloc((size_t)n * d * sizeof *z);
    for (int e = 0; e < n * d; e++) {
        x[e] = xscale * next_gauss();
        z[e] = next_gauss();
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int e = 0; e < d; e++) {
                double t = x[i * d + e] - z[j * d + e];
                s += t * t;
            }
            C[i * n + j] = s;
        }
    free(x);
    free(z);
}

static void t_certificate_256(void) {
    const int n = 256;
    double *C = malloc((size_t)n * n * sizeof *C), u[256], v[256];
    int64_t perm[256];
    double worst_neg = 0.0, worst_slack = 0.0;
    for (int kind = 0; kind < 3; kind++) {
        if (kind == 0) gauss_cost(C, n, 64, 0.5);
        if (kind == 1)
            for (int e = 0; e < n * n; e++)
                C[e] = next_unif();
        if (kind == 2)
            for (int e = 0; e < n * n; e++)
                C[e] = (double)(next_u64() % 16); /* ties */
        double total = 0.0, scale = 0.0;
        for (int e = 0; e < n * n; e++)
            scale = fmax(scale, fabs(C[e]));
        CHECK_OK(lctw_lsa_solve(n, C, perm, &total, u, v));
        CHECK(is_perm(perm, n), "kind %d: not a permutation", kind);
        double neg, slack, dual = 0.0;
        certificate(C, n, perm, u, v, &neg, &slack);
        for (int i = 0; i < n; i++)
            dual += u[i] + v[i];
        double eps = 1e-9 * scale;
        CHECK(neg >= -eps, "kind %d: reduced cost %.3g < -%.1g", kind, neg, eps);
        CHECK(slack <= eps, "kind %d: assigned reduced cost %.3g > %.1g", kind, slack, eps);
        CHECK_CLOSE(dual, total, n * eps, 0.0); /* strong duality */
        if (-neg / scale > worst_neg) worst_neg = -neg / scale;
        if (slack / scale > worst_slack) worst_slack = slack / scale;
    }
    free(C);
    test_detail("min reduced cost %.1e, max |slack| %.1e (relative to max cost)", -worst_neg,
                worst_slack);
}

static void t_hungarian_reference(void) {
    int sizes[] = {1, 2, 3, 17, 64, 128, 256};
    int64_t perm[256];
    int ref[256];
    double worst = 0.0;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int n = sizes[s];
        double *C = malloc((size_t)n * n * sizeof *C);
        for (int kind = 0; kind < 2; kind++) {
            if (kind == 0)
                gauss_cost(C, n, 32, 0.5);
            else
                for (int e = 0; e < n * n; e++)
                    C[e] = (double)(next_u64() % 50);
            double total;
            CHECK_OK(lctw_lsa_solve(n, C, perm, &total, NULL, NULL));
            double want = hungarian_ref(C, n, ref);
            CHECK_CLOSE(total, want, 1e-9, 1e-12);
            double err = fabs(total - want) / fabs(want + 1e-300);
            if (err > worst) worst = err;
        }
        free(C);
    }
    test_detail("b=1..256, max rel diff %.1e", worst);
}

static void t_solver_speed_256(void) {
    const int n = 256;
    double *C = malloc((size_t)n * n * sizeof *C);
    int64_t perm[256];
    gauss_cost(C, n, 256, 0.5);
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        CHECK_OK(lctw_lsa_solve(n, C, perm, NULL, NULL, NULL));
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    free(C);
    /* informational only (timings belong in bench/ot.lua); a gross regression still fails */
    CHECK(best < 1.0, "256×256 assignment took %.3f s", best);
    test_detail("256×256 solve %.2f ms (best of 5)", 1e3 * best);
}

static void t_trivial_and_errors(void) {
    int64_t perm[4];
    double total = 5.0;
    CHECK_OK(lctw_lsa_solve(0, NULL, perm, &total, NULL, NULL));
    CHECK(total == 0.0, "empty total %g", total);
    double C1[1] = {3.5};
    CHECK_OK(lctw_lsa_solve(1, C1, perm, &total, NULL, NULL));
    CHECK(perm[0] == 0 && total == 3.5, "1×1: perm %lld total %g", (long long)perm[0], total);
    double C4[16];
    for (int e = 0; e < 16; e++)
        C4[e] = e;
    C4[6] = NAN;
    lctw_status s = lctw_lsa_solve(4, C4, perm, &total, NULL, NULL);
    CHECK(s == LCTW_EINVAL, "NaN cost: status %d", (int)s);
    CHECK(strstr(lctw_error_message(), "cost[2, 3]") != NULL, "message: %s", lctw_error_message());
    C4[6] = INFINITY;
    CHECK(lctw_lsa_solve(4, C4, perm, &total, NULL, NULL) == LCTW_EINVAL, "Inf cost accepted");
    CHECK(lctw_lsa_solve(-1, C4, perm, &total, NULL, NULL) == LCTW_EINVAL, "n=-1 accepted");
}

/* ---- tensors: cost matrix and the coupling --------------------------------------------- */

static lctw_tensor *gauss_tensor(int ndim, const int64_t *shape, double scale) {
    lctw_tensor *t = NULL;
    if (lctw_tensor_empty(&t, ndim, shape, LCTW_DEV_CPU) != LCTW_OK) return NULL;
    float *p = lctw_tensor_data(t);
    for (int64_t i = 0; i < lctw_tensor_numel(t); i++)
        p[i] = (float)(scale * next_gauss());
    return t;
}

/* cost[j,k] in double straight from the (float) tensor values */
static void direct_cost(const lctw_tensor *x, const lctw_tensor *z, double *C) {
    int64_t b = x->shape[0], d = lctw_tensor_numel(x) / b;
    const float *X = lctw_tensor_data(x), *Z = lctw_tensor_data(z);
    for (int64_t j = 0; j < b; j++)
        for (int64_t k = 0; k < b; k++) {
            double s = 0.0;
            for (int64_t e = 0; e < d; e++) {
                double t = (double)X[j * d + e] - (double)Z[k * d + e];
                s += t * t;
            }
            C[j * b + k] = s;
        }
}

static void t_cost_matrix(void) {
    int64_t shape[4] = {16, 4, 8, 8};
    lctw_tensor *x = gauss_tensor(4, shape, 0.5), *z = gauss_tensor(4, shape, 1.0);
    double C[256], R[256], worst = 0.0;
    CHECK_OK(lctw_ot_cost(x, z, C));
    direct_cost(x, z, R);
    for (int e = 0; e < 256; e++) {
        CHECK_CLOSE(C[e], R[e], 0.0, 1e-5);
        double err = fabs(C[e] - R[e]) / R[e];
        if (err > worst) worst = err;
    }
    /* a non-contiguous input (a transposed view) gives the same matrix */
    int64_t s2[2] = {256, 16};
    lctw_tensor *zt = gauss_tensor(2, s2, 1.0), *ztv = NULL, *zc = NULL;
    CHECK_OK(lctw_tensor_transpose(&ztv, zt, 0, 1)); /* (16, 256), strided */
    CHECK_OK(lctw_tensor_clone(&zc, ztv));
    lctw_tensor *x2 = NULL;
    CHECK_OK(lctw_tensor_reshape(&x2, x, 2, (int64_t[]){16, 256}));
    double C2[256], C3[256];
    CHECK_OK(lctw_ot_cost(x2, ztv, C2));
    CHECK_OK(lctw_ot_cost(x2, zc, C3));
    for (int e = 0; e < 256; e++)
        CHECK(C2[e] == C3[e], "strided input differs at %d", e);
    lctw_tensor_release(x);
    lctw_tensor_release(z);
    lctw_tensor_release(zt);
    lctw_tensor_release(ztv);
    lctw_tensor_release(zc);
    lctw_tensor_release(x2);
    test_detail("max rel err vs double loop %.1e", worst);
}

static void t_assign_vs_brute_force(void) {
    int64_t shape[2] = {7, 50};
    double C[49];
    int64_t perm[7];
    for (int r = 0; r < 30; r++) {
        lctw_tensor *x = gauss_tensor(2, shape, 0.5), *z = gauss_tensor(2, shape, 1.0);
        double total;
        CHECK_OK(lctw_ot_assign(x, z, perm, &total));
        CHECK(is_perm(perm, 7), "not a permutation");
        direct_cost(x, z, C);
        double bf = brute_force(C, 7), got = 0.0, ident = 0.0;
        for (int j = 0; j < 7; j++) {
            got += C[j * 7 + perm[j]];
            ident += C[j * 7 + j];
        }
        CHECK_CLOSE(got, bf, 0.0, 1e-6);
        CHECK_CLOSE(total, bf, 0.0, 1e-5);
        CHECK(got <= ident * (1 + 1e-6), "OT cost %g above the identity pairing %g", got, ident);
        lctw_tensor_release(x);
        lctw_tensor_release(z);
    }
}

static void t_assign_recovers_permutation(void) {
    /* noise row k = x row q[k] + tiny jitter ⇒ the optimal coupling pairs x_j with k = q⁻¹(j) */
    const int b = 64, d = 128;
    int64_t shape[2] = {b, d};
    lctw_tensor *x = gauss_tensor(2, shape, 1.0), *z = NULL, *zp = NULL;
    CHECK_OK(lctw_tensor_empty(&z, 2, shape, LCTW_DEV_CPU));
    int q[64];
    for (int k = 0; k < b; k++)
        q[k] = k;
    for (int k = b - 1; k > 0; k--) {
        int r = (int)(next_u64() % (uint64_t)(k + 1)), t = q[k];
        q[k] = q[r];
        q[r] = t;
    }
    float *X = lctw_tensor_data(x), *Z = lctw_tensor_data(z);
    for (int k = 0; k < b; k++)
        for (int e = 0; e < d; e++)
            Z[k * d + e] = X[q[k] * d + e] + (float)(1e-3 * next_gauss());
    int64_t perm[64];
    double total;
    CHECK_OK(lctw_ot_assign(x, z, perm, &total));
    int wrong = 0;
    for (int k = 0; k < b; k++)
        if (perm[q[k]] != k) wrong++;
    CHECK(wrong == 0, "%d of %d pairs not recovered", wrong, b);
    CHECK(total < b * d * 1e-5, "total %g", total);
    /* permute_rows puts the matched noise next to its sample */
    CHECK_OK(lctw_tensor_empty(&zp, 2, shape, LCTW_DEV_CPU));
    CHECK_OK(lctw_ot_permute_rows(zp, z, perm));
    double maxd = 0.0;
    const float *P = lctw_tensor_data(zp);
    for (int e = 0; e < b * d; e++)
        maxd = fmax(maxd, fabs((double)P[e] - X[e]));
    CHECK(maxd < 0.01, "permuted noise differs from x by %g", maxd);
    lctw_tensor_release(x);
    lctw_tensor_release(z);
    lctw_tensor_release(zp);
}

static void t_assign_errors(void) {
    int64_t s1[2] = {4, 8}, s2[2] = {5, 8}, s0[2] = {0, 8};
    lctw_tensor *a = gauss_tensor(2, s1, 1.0), *b = gauss_tensor(2, s2, 1.0);
    lctw_tensor *e0 = gauss_tensor(2, s0, 1.0), *e1 = gauss_tensor(2, s0, 1.0);
    int64_t perm[5] = {0, 1, 1, 3, 4};
    double total = -1;
    lctw_status s = lctw_ot_assign(a, b, perm, &total);
    CHECK(s == LCTW_ESHAPE, "shape mismatch: status %d", (int)s);
    CHECK(strstr(lctw_error_message(), "4×8") && strstr(lctw_error_message(), "5×8"), "message: %s",
          lctw_error_message());
    CHECK_OK(lctw_ot_assign(e0, e1, perm, &total));
    CHECK(total == 0.0, "empty batch total %g", total);
    float *p = lctw_tensor_data(a);
    p[9] = NAN;
    lctw_tensor *a2 = gauss_tensor(2, s1, 1.0);
    s = lctw_ot_assign(a, a2, perm, &total);
    CHECK(s == LCTW_EINVAL, "NaN input: status %d", (int)s);
    CHECK(strstr(lctw_error_message(), "not finite"), "message: %s", lctw_error_message());
    lctw_tensor *out = gauss_tensor(2, s1, 1.0);
    s = lctw_ot_permute_rows(out, a2, perm); /* perm {0,1,1,3}: repeated */
    CHECK(s == LCTW_EINVAL, "repeated index accepted: status %d", (int)s);
    CHECK(strstr(lctw_error_message(), "repeated"), "message: %s", lctw_error_message());
    lctw_tensor_release(a);
    lctw_tensor_release(a2);
    lctw_tensor_release(b);
    lctw_tensor_release(e0);
    lctw_tensor_release(e1);
    lctw_tensor_release(out);
}

int main(void) {
    RUN(t_brute_force_random);
    RUN(t_brute_force_ties);
    RUN(t_certificate_256);
    RUN(t_hungarian_reference);
    RUN(t_solver_speed_256);
    RUN(t_trivial_and_errors);
    RUN(t_cost_matrix);
    RUN(t_assign_vs_brute_force);
    RUN(t_assign_recovers_permutation);
    RUN(t_assign_errors);
    return test_summary();
}
