/* `featcache bench`: throughput of a model on random input — img/s (median over timed runs),
 * GFLOP/s of the model and the fractions of this machine's measured fp32 FMA peak and (with
 * AVX512_BF16) bf16 dot-product peak. */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "extract/extract.h"

static const char *usage_text =
    "usage: featcache bench --model M.onnx [options]\n"
    "Times forward passes on random input and prints img/s, GFLOP/s and the fractions of the fp32\n"
    "and bf16 peaks.\n\n"
    "  --model PATH     ONNX model (required)\n"
    "  --batch N        images per pass (default 16)\n"
    "  --threads N      threads (default: all cores)\n"
    "  --size N         input size N x N (default: the model's own)\n"
    "  --seconds S      time spent in timed runs (default 10)\n"
    "  --output NAME    tensor to compute (default: the model's outputs)\n"
    "  --isa NAME       kernels: scalar, avx2, avx512 (default: best for this CPU)\n"
    "  --compute P      f32 (default) or bf16: products on bf16 pairs with f32 sums (AVX512_BF16)\n"
    "  --parallel MODE  batch: each thread runs its slice of the batch through the whole network;\n"
    "                   layers: every layer runs on all threads (default: batch)\n"
    "  --no-peak        skip measuring the peaks\n"
    "  --profile        also print each step's time (thread-ms per image), GFLOP/s and share\n"
    "  --json           one JSON object instead of text\n";

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One line per run-time step: thread-milliseconds per image, GFLOP/s of that step on one thread,
 * share of the total, then totals per op type. */
static void print_profile(const fc_session *s, int batch, int images) {
    int n = fc_session_n_steps(s);
    double total = 0;
    fc_session_step_info st;
    for (int i = 0; i < n; i++)
        if (fc_session_step(s, i, &st) == 0) total += st.seconds;
    if (total <= 0) return;
    printf("\n%-4s %-18s %-28s %-18s %9s %8s %6s\n", "step", "op", "node", "output", "ms/img", "GFLOP/s", "share");
    const char *ops[64];
    double op_s[64] = {0};
    int n_ops = 0, per_image = 0, in_place = 0, blocked = 0;
    for (int i = 0; i < n; i++) {
        if (fc_session_step(s, i, &st)) continue;
        per_image |= st.per_image;
        in_place |= st.in_place;
        blocked |= st.blocked;
        char shape[64] = "";
        for (int d = 1, at = 0; d < st.out.rank && at < (int)sizeof shape - 12; d++)
            at += snprintf(shape + at, sizeof shape - (size_t)at, "%s%lld", d > 1 ? "x" : "", (long long)st.out.dims[d]);
        char op[48], base[32];
        snprintf(base, sizeof base, st.fused ? "%s+%d%s (block)" : "%s", st.op, st.fused, st.pooled ? "+GAP" : "");
        snprintf(op, sizeof op, "%s%s%s%s", base, st.in_place ? " =r" : "", st.blocked ? " =b" : "",
                 st.per_image ? " /img" : "");
        printf("%-4d %-18.18s %-28.28s %-18.18s %9.4f %8.1f %5.1f%%\n", i, op, st.node, shape,
               st.seconds * 1e3 / images, st.seconds > 0 ? st.flops * images / batch / st.seconds / 1e9 : 0,
               100 * st.seconds / total);
        int k = 0;
        while (k < n_ops && strcmp(ops[k], st.op) != 0) k++;
        if (k == n_ops && n_ops < 64) ops[n_ops++] = st.op;
        if (k < 64) op_s[k] += st.seconds;
    }
    if (per_image) printf("(/img: run image by image, so that the large early activations stay in cache)\n");
    if (in_place) printf("(=r: the output is written over its residual operand, which dies there)\n");
    if (blocked) printf("(=b: the output stays channel-blocked for the next blocks, which read it so)\n");
    printf("\nby op:\n");
    for (int k = 0; k < n_ops; k++)
        printf("  %-18s %9.4f ms/img %5.1f%%\n", ops[k], op_s[k] * 1e3 / images, 100 * op_s[k] / total);
    printf("  %-18s %9.4f ms/img (thread time)\n", "total", total * 1e3 / images);
}

int cmd_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"size", required_argument, 0, 's'},
        {"seconds", required_argument, 0, 'S'}, {"output", required_argument, 0, 'o'},
        {"isa", required_argument, 0, 'i'}, {"no-peak", no_argument, 0, 'P'},
        {"json", no_argument, 0, 'j'}, {"parallel", required_argument, 0, 'p'},
        {"profile", no_argument, 0, 'F'}, {"compute", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model_path = NULL, *output = NULL, *isa = NULL;
    int batch = 16, threads = 0, size = 0, json = 0, peak = 1, split = 1, profile = 0;
    double seconds = 10;
    fc_compute compute = FC_COMPUTE_F32;
    fc_error err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'b': if (cli_int("bench", "batch", optarg, 1, 4096, &batch)) return EXIT_USAGE; break;
        case 't': if (cli_int("bench", "threads", optarg, 1, 1024, &threads)) return EXIT_USAGE; break;
        case 's': if (cli_int("bench", "size", optarg, 8, 8192, &size)) return EXIT_USAGE; break;
        case 'S': if (cli_float("bench", "seconds", optarg, 0.01, 3600, &seconds)) return EXIT_USAGE; break;
        case 'o': output = optarg; break;
        case 'i': isa = optarg; break;
        case 'P': peak = 0; break;
        case 'p':
            if (cli_parallel_mode("bench", optarg, &split)) return EXIT_USAGE;
            break;
        case 'j': json = 1; break;
        case 'F': profile = 1; break;
        case 'c': if (cli_compute("bench", optarg, &compute)) return EXIT_USAGE; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!model_path || optind < argc) {
        fprintf(stderr, "featcache bench: %s\n\n%s", !model_path ? "--model is required" : "unexpected argument", usage_text);
        return EXIT_USAGE;
    }
    const fc_kernels *k = isa ? fc_kernels_by_name(isa) : fc_kernels_best();
    if (!k) {
        fprintf(stderr, "featcache bench: --isa %s is not available on this CPU (try scalar or avx2)\n", isa);
        return EXIT_USAGE;
    }
    if (compute == FC_COMPUTE_BF16 && isa && strcmp(isa, "avx512")) {
        fprintf(stderr, "featcache bench: --compute bf16 runs the avx512 kernels with bf16 products, not --isa %s\n", isa);
        return EXIT_USAGE;
    }
    if (fc_compute_kernels(compute, &k, &err)) { fprintf(stderr, "featcache bench: %s\n", err.msg); return EXIT_FAIL; }
    if (!k) k = isa ? fc_kernels_by_name(isa) : fc_kernels_best();
    if (!threads) threads = omp_get_max_threads();
    fc_model *m = NULL;
    fc_session *s = NULL;
    float *input = NULL;
    double *times = NULL;
    int rc = EXIT_FAIL;
    const char *outs[1] = {output};
    fc_model_options mo = {.outputs = output ? outs : NULL, .n_outputs = output ? 1 : 0, .kernels = k};
    double t0 = omp_get_wtime();
    if (fc_model_load(model_path, &mo, &m, &err)) goto fail;
    double load_s = omp_get_wtime() - t0;
    fc_session_options so = {.batch = batch, .height = size, .width = size, .threads = threads, .split_batch = split,
                              .profile = profile};
    if (fc_session_create(m, &so, &s, &err)) goto fail;
    int64_t d[4];
    fc_session_input_dims(s, d);
    size_t count = (size_t)(d[0] * d[1] * d[2] * d[3]);
    input = malloc(count * sizeof(float));
    if (!input) { fc_fail(&err, FC_ENOMEM, "out of memory"); goto fail; }
    unsigned x = 12345;
    for (size_t i = 0; i < count; i++) { x = x * 1664525u + 1013904223u; input[i] = (float)(x >> 8) / 8388608.f - 1.f; }
    for (int w = 0; w < 2; w++) /* warm-up: page in weights and arena */
        if (fc_session_run(s, input, &err)) goto fail;
    int cap = 1 << 16, n = 0;
    times = malloc((size_t)cap * sizeof *times);
    if (!times) { fc_fail(&err, FC_ENOMEM, "out of memory"); goto fail; }
    double start = omp_get_wtime();
    while (n < cap && (n < 3 || omp_get_wtime() - start < seconds)) {
        double a = omp_get_wtime();
        if (fc_session_run(s, input, &err)) goto fail;
        times[n++] = omp_get_wtime() - a;
    }
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    double med = times[n / 2], ips = batch / med, gflops = fc_session_flops(s) / med / 1e9;
    double pk = peak ? fc_peak_gflops(k, threads, 1.0) : 0, pk16 = peak ? fc_peak_bf16_gflops(threads, 1.0) : 0;
    if (json) {
        printf("{\"model\":\"%s\",\"isa\":\"%s\",\"parallel\":\"%s\",\"batch\":%d,\"threads\":%d,\"size\":%lld,\"runs\":%d,"
               "\"median_ms_per_batch\":%.3f,\"imgs_per_s\":%.2f,\"gflop_per_img\":%.4f,\"gflops\":%.2f,"
               "\"peak_gflops\":%.2f,\"fraction_of_peak\":%.4f,\"bf16_peak_gflops\":%.2f,\"fraction_of_bf16_peak\":%.4f,"
               "\"compute\":\"%s\",\"load_s\":%.3f}\n",
               model_path, k->name, split ? "batch" : "layers", batch, threads, (long long)d[2], n, med * 1e3, ips,
               fc_session_flops(s) / batch / 1e9, gflops, pk, pk > 0 ? gflops / pk : 0, pk16, pk16 > 0 ? gflops / pk16 : 0,
               fc_compute_name(compute), load_s);
    } else {
        printf("model      %s\nkernels    %s (%s products), %d threads (parallel over %s), batch %d, input %lldx%lld\n", model_path,
               k->name, fc_compute_name(compute), threads, split ? "the batch" : "layers", batch, (long long)d[2], (long long)d[3]);
        printf("runs       %d (median %.2f ms per batch, fastest %.2f ms)\n", n, med * 1e3, times[0] * 1e3);
        printf("throughput %.1f img/s\n", ips);
        printf("compute    %.3f GFLOP per image, %.1f GFLOP/s", fc_session_flops(s) / batch / 1e9, gflops);
        if (pk > 0) printf(" = %.0f%% of the measured fp32 peak (%.0f GFLOP/s)", 100 * gflops / pk, pk);
        if (pk16 > 0) printf(", %.0f%% of the bf16 peak (%.0f GFLOP/s)", 100 * gflops / pk16, pk16);
        printf("\nload       %.2f s\n", load_s);
    }
    if (profile && !json) print_profile(s, batch, (n + 2) * batch); /* + the 2 warm-up runs */
    rc = EXIT_OK;
fail:
    if (rc) fprintf(stderr, "featcache bench: %s\n", err.msg);
    free(input);
    free(times);
    fc_session_free(s);
    fc_model_free(m);
    return rc;
}
