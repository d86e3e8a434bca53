/* bench_gpu.c — lctw's side of the GPU benchmark (scripts/bench_gpu.py is PyTorch's;
 * scripts/gpu-check.sh runs both on the same machine and prints the ratio table).
 *
 *   bench_gpu unet|dit [-b 128] [-w 2] [-n 5] [-s 1000] [-S 500]
 *
 * Models (4×32×32): unet = the paper's U-Net (lctw_unet_config_paper, NsLN), dit = DiT-B/2.
 * The step is lctw_trainer_step on a CUDA trainer with the paper's recipe except the OT coupling
 * (off on both sides): Cauchy + diffusion loss, RAdam 1e-4 wd 1e-4, three EMAs; data are fixed
 * random latents (2·batch rows). After -w warm-up steps, -n steps are timed (device synchronised
 * after the last); peak memory is lctw's accounted device memory (parameters, gradients,
 * optimizer state, EMAs, batch buffers, the activation arena) at its high-water mark after the
 * training steps. Sampling: 1- and 2-step lctw_sample of -s samples in batches of -S, timed after
 * one warm-up run each.
 *
 * One process per model, so the peak is that model's. Output (one line):
 *   RESULT impl=lctw model=unet batch=128 params=… samples_per_s=… step_ms=… peak_mib=…
 *          sample1_ms=… sample2_ms=…
 * or "SKIP impl=lctw reason=…" (exit 0) without a device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tmath.h"
#include "ct/data.h"
#include "ct/sample.h"
#include "ct/trainer.h"
#include "lctw_cuda.h"
#include "nn/dit.h"
#include "nn/unet.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) != LCTW_OK) {                                                                      \
            fprintf(stderr, "bench_gpu: %s: %s\n", #x, lctw_error_message());                      \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static int time_sample(lctw_model *m, lctw_ctx *ctx, int64_t n, int steps, int64_t batch,
                       lctw_tensor *out, double *ms) {
    lctw_sample_opts o;
    TRY(lctw_sample_opts_default(&o, n, steps, 1));
    o.batch = batch;
    TRY(lctw_sample(m, ctx, &o, out)); /* warm-up: the arena grows to its size */
    TRY(lctw_cuda_sync());
    double t0 = now_s();
    TRY(lctw_sample(m, ctx, &o, out));
    TRY(lctw_cuda_sync());
    *ms = 1e3 * (now_s() - t0);
    return 0;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "";
    int64_t batch = 128, warmup = 2, iters = 5, n_samples = 1000, sbatch = 500;
    for (int i = 2; i + 1 < argc; i += 2) {
        long long v = atoll(argv[i + 1]);
        if (!strcmp(argv[i], "-b")) batch = v;
        else if (!strcmp(argv[i], "-w")) warmup = v;
        else if (!strcmp(argv[i], "-n")) iters = v;
        else if (!strcmp(argv[i], "-s")) n_samples = v;
        else if (!strcmp(argv[i], "-S")) sbatch = v;
        else {
            fprintf(stderr, "bench_gpu: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if ((strcmp(name, "unet") && strcmp(name, "dit")) || batch < 1 || iters < 1 || warmup < 0 ||
        n_samples < 1 || sbatch < 1) {
        fprintf(stderr, "usage: bench_gpu unet|dit [-b batch] [-w warmup] [-n iters] [-s samples] "
                        "[-S sample_batch]\n");
        return 2;
    }
    if (lctw_cuda_device_count() <= 0) {
        printf("SKIP impl=lctw reason=no-cuda-device (%s)\n", lctw_cuda_describe());
        return 0;
    }
    lctw_model *m = NULL;
    if (!strcmp(name, "unet")) {
        lctw_unet_config c;
        lctw_unet_config_paper(&c);
        TRY(lctw_unet_new(&m, &c, LCTW_DEV_CUDA, 0));
    } else {
        lctw_dit_config c;
        TRY(lctw_dit_config_size(&c, "B", 2, 4, 32, 32));
        TRY(lctw_dit_new(&m, &c, LCTW_DEV_CUDA, 0));
    }
    /* fixed random latents */
    int64_t shp[4] = {2 * batch, m->in_ch, m->height, m->width};
    lctw_tensor *z = NULL;
    lctw_rng r = {1, 0, 5};
    TRY(lctw_tensor_empty(&z, 4, shp, LCTW_DEV_CPU));
    TRY(lctw_fill_normal(z, &r));
    lctw_data *data = NULL;
    TRY(lctw_data_from_tensor(&data, z, "float32", "bench", NULL));
    lctw_trainer_config cfg;
    lctw_trainer_config_paper(&cfg, batch, 100000);
    cfg.ot = 0;
    lctw_trainer *t = NULL;
    TRY(lctw_trainer_new(&t, &cfg, m, data, NULL));
    for (int64_t i = 0; i < warmup; i++) TRY(lctw_trainer_step(t, NULL));
    TRY(lctw_cuda_sync());
    double t0 = now_s();
    for (int64_t i = 0; i < iters; i++) TRY(lctw_trainer_step(t, NULL));
    TRY(lctw_cuda_sync());
    double dt = now_s() - t0;
    double peak_mib = (double)lctw_mem_peak(LCTW_DEV_CUDA) / (1024.0 * 1024.0);
    lctw_tensor *out = NULL;
    int64_t oshp[4] = {n_samples, m->in_ch, m->height, m->width};
    TRY(lctw_tensor_empty(&out, 4, oshp, LCTW_DEV_CPU));
    double s1 = 0, s2 = 0;
    if (time_sample(m, &t->ctx, n_samples, 1, sbatch, out, &s1) ||
        time_sample(m, &t->ctx, n_samples, 2, sbatch, out, &s2))
        return 1;
    printf("RESULT impl=lctw model=%s batch=%lld params=%lld samples_per_s=%.1f step_ms=%.1f "
           "peak_mib=%.0f sample1_ms=%.1f sample2_ms=%.1f\n",
           name, (long long)batch, (long long)m->params.trainable, (double)(batch * iters) / dt,
           1e3 * dt / (double)iters, peak_mib, s1, s2);
    lctw_tensor_release(out);
    lctw_trainer_free(t);
    lctw_data_free(data);
    lctw_tensor_release(z);
    lctw_model_free(m);
    return 0;
}
