/* Benchmark (not a test): one training step of the top of a backbone as fine-tuning runs it, on the
 * trainable net (engine/train/net.h) built from an ONNX model between a cut and the feature tensor,
 * with a linear head and cross-entropy on top: net forward, head forward, loss, head backward, net
 * backward (no gradient at the cut: dinput NULL) and an SGD-momentum step for every parameter.
 * Random inputs and labels (speed only). Prints the median step in ms (best in brackets) over the
 * timed steps, images/s and GFLOP/s (multiply-adds x 2 of the convolutions and linear layers, both
 * directions); --profile times every op of the net alone, forward and backward, and the rest;
 * --cpu measures the process's CPU time (all threads) instead of the wall clock (on a loaded
 * machine, with --threads 1, the figure that does not depend on the load); --bn-train builds the
 * net with training-mode BatchNorm (a conv head's blocks: the model `train --head conv --trace DIR`
 * writes as DIR/top.onnx, CUT its input, --feature conv/features); --conv-chunk sets
 * fc_train_ws.conv_chunk (floats of one im2col chunk; 0: the default; conv heads use 262144).
 *   make bench && build/bench/bench_train_net MODEL CUT [--feature pooled] [--batch 32]
 *       [--threads 2] [--steps 20] [--size N] [--classes 2] [--profile] [--cpu] [--bn-train]
 *       [--conv-chunk FLOATS] [--precision f32|bf16|auto]
 * --precision bf16 runs the convolutions' and linear products with bf16 operands (the net option;
 * AVX512_BF16 only).
 * bench/bench_train_net_torch.py times the same step with PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train/net_internal.h"
#include "tests/support/timing.h"

typedef struct args {
    const char *model, *cut, *feature;
    int batch, threads, steps, size, classes, profile, bn_train;
    long conv_chunk;
    fc_train_precision precision;
} args;

typedef struct head {
    int D, K;
    float *w, *b, *dw, *db, *mw, *mb; /* (K, D), (K) and their gradients and momenta */
    float *feat, *dfeat, *logits, *probs; /* (N, D), (N, D), (N, K), (N, K) */
    int *labels;
} head;

static int use_cpu;

static double now(void) { return fc_bench_now(use_cpu); }

static float *fill(size_t n, float scale, unsigned seed) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = scale * ((float)(seed >> 8) / 16777216.0f - 0.5f);
    }
    return p;
}

static int parse(int argc, char **argv, args *a) {
    *a = (args){.feature = "pooled", .batch = 32, .threads = 2, .steps = 20, .classes = 2};
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--profile")) a->profile = 1;
        else if (!strcmp(s, "--cpu")) use_cpu = 1;
        else if (!strcmp(s, "--bn-train")) a->bn_train = 1;
        else if (!strcmp(s, "--conv-chunk") && v) a->conv_chunk = atol(v), i++;
        else if (!strcmp(s, "--feature") && v) a->feature = v, i++;
        else if (!strcmp(s, "--batch") && v) a->batch = atoi(v), i++;
        else if (!strcmp(s, "--threads") && v) a->threads = atoi(v), i++;
        else if (!strcmp(s, "--steps") && v) a->steps = atoi(v), i++;
        else if (!strcmp(s, "--size") && v) a->size = atoi(v), i++;
        else if (!strcmp(s, "--classes") && v) a->classes = atoi(v), i++;
        else if (!strcmp(s, "--precision") && v) {
            if (fc_train_precision_parse(v, &a->precision, NULL)) return -1;
            i++;
        }
        else if (s[0] != '-' && pos == 0) a->model = s, pos++;
        else if (s[0] != '-' && pos == 1) a->cut = s, pos++;
        else return -1;
    }
    return a->model && a->cut && a->batch > 0 && a->steps > 0 && a->classes > 1 ? 0 : -1;
}

/* Multiply-adds of one forward of op on n images, and of its backward (dW, and dinp unless first). */
static double op_macs(const net_op *op, int n, int first, double *back) {
    double f = 0;
    if (op->kind == NET_CONV) {
        const fc_win2d *w = &op->cv.win;
        int OH = (op->H + w->pt + w->pb - w->dil_h * (w->kh - 1) - 1) / w->sh + 1;
        int OW = (op->W + w->pl + w->pr - w->dil_w * (w->kw - 1) - 1) / w->sw + 1;
        f = (double)n * op->OC * OH * OW * (op->C / op->cv.groups) * w->kh * w->kw;
    } else if (op->kind == NET_LINEAR) {
        f = (double)n * op->OC * op->C;
    }
    *back = first ? f : 2 * f;
    return f;
}

static int sgd_all(fc_train_net *net, head *h, float *mom, const fc_sgd *opt, fc_error *err) {
    fc_train_ws *ws = fc_train_net_ws(net);
    size_t off = 0;
    for (int i = 0; i < fc_train_net_n_params(net); i++) {
        fc_train_param p;
        int rc = fc_train_net_param(net, i, &p, err);
        if (rc || (rc = fc_sgd_step(ws, p.value, mom + off, p.grad, p.count, opt, 0.1f, err))) return rc;
        off += p.count;
    }
    int rc = fc_sgd_step(ws, h->w, h->mw, h->dw, (size_t)h->K * h->D, opt, 1.0f, err);
    return rc ? rc : fc_sgd_step(ws, h->b, h->mb, h->db, h->K, opt, 1.0f, err);
}

/* Head forward, loss, head backward: dfeat from feat. */
static int head_step(fc_train_ws *ws, head *h, int n, fc_error *err) {
    float loss;
    int rc = fc_linear_forward(ws, h->logits, h->feat, h->w, h->b, n, h->D, h->K, err);
    if (!rc) rc = fc_crossentropy_forward(ws, &loss, h->probs, h->logits, h->labels, n, h->K, err);
    if (!rc) rc = fc_crossentropy_backward(ws, h->probs, h->probs, h->labels, n, h->K, 1.0f, err);
    if (!rc) rc = fc_linear_backward(ws, h->dfeat, h->dw, h->db, h->probs, h->feat, h->w, n, h->D, h->K, err);
    return rc;
}

static int step(fc_train_net *net, head *h, const float *input, int n, float *mom, const fc_sgd *opt,
                fc_error *err) {
    int rc = fc_train_net_forward(net, input, n, h->feat, err);
    if (!rc) rc = head_step(fc_train_net_ws(net), h, n, err);
    if (!rc) rc = fc_train_net_backward(net, h->dfeat, NULL, err);
    return rc ? rc : sgd_all(net, h, mom, opt, err);
}

/* One step with every op of the net timed alone (the backward as fc_train_net_backward runs it):
 * adds the op's milliseconds to fwd[i], bwd[i] and the rest (head, loss, SGD) to *rest. */
static int profiled_step(fc_train_net *net, head *h, const float *input, int n, float *mom,
                         const fc_sgd *opt, double *fwd, double *bwd, double *rest, fc_error *err) {
    memcpy(net->slots[0].data, input, (size_t)n * net->slots[0].per * sizeof(float));
    int rc = 0;
    for (int i = 0; i < net->n_ops && !rc; i++) {
        double t0 = now();
        rc = fc_train_net_op_forward(net, &net->ops[i], n, err);
        fwd[i] += (now() - t0) * 1e3;
    }
    double t0 = now();
    memcpy(h->feat, net->slots[net->feature].data, (size_t)n * h->D * sizeof(float));
    if (!rc) rc = head_step(&net->ws, h, n, err);
    *rest += (now() - t0) * 1e3;
    for (int s = 0; s < net->n_slots; s++) net->slots[s].written = 0;
    for (int i = net->n_ops - 1; i >= 0 && !rc; i--) {
        const net_op *op = &net->ops[i];
        const float *d = op->out == net->feature ? h->dfeat : net->slots[op->out].grad;
        t0 = now();
        rc = fc_train_net_op_backward(net, &net->ops[i], n, d, err);
        bwd[i] += (now() - t0) * 1e3;
    }
    t0 = now();
    if (!rc) rc = sgd_all(net, h, mom, opt, err);
    *rest += (now() - t0) * 1e3;
    return rc;
}

static void print_op(const fc_train_net *net, const net_op *op, int n, double f, double b, int first) {
    char shape[64] = "";
    if (op->kind == NET_CONV)
        snprintf(shape, sizeof shape, "%d->%d %dx%d k%d s%d%s", op->C, op->OC, op->H, op->W, op->cv.win.kh,
                 op->cv.win.sh, op->cv.groups > 1 ? " dw" : "");
    else snprintf(shape, sizeof shape, "%zu per image", net->slots[op->out].per);
    double back, macs = op_macs(op, n, first, &back);
    printf("  %-18s %-24s fwd %7.3f ms  bwd %7.3f ms", op->type, shape, f, b);
    if (macs > 0) printf("  %6.1f / %6.1f GFLOP/s", 2 * macs / f * 1e-6, 2 * back / b * 1e-6);
    printf("\n");
}

static int profile(fc_train_net *net, head *h, const float *input, const args *a, float *mom,
                   const fc_sgd *opt, fc_error *err) {
    double *fwd = calloc((size_t)net->n_ops, sizeof *fwd), *bwd = calloc((size_t)net->n_ops, sizeof *bwd);
    double rest = 0, total = 0;
    int rc = fwd && bwd ? 0 : fc_fail(err, FC_ENOMEM, "out of memory");
    for (int s = 0; s < a->steps && !rc; s++)
        rc = profiled_step(net, h, input, a->batch, mom, opt, fwd, bwd, &rest, err);
    if (!rc) {
        printf("per op (mean of %d steps):\n", a->steps);
        for (int i = 0; i < net->n_ops; i++) {
            fwd[i] /= a->steps, bwd[i] /= a->steps, total += fwd[i] + bwd[i];
            print_op(net, &net->ops[i], a->batch, fwd[i], bwd[i], net->ops[i].in[0] == 0);
        }
        printf("  head + loss + sgd %.3f ms; sum %.3f ms\n", rest / a->steps, total + rest / a->steps);
    }
    free(fwd);
    free(bwd);
    return rc;
}

static int run(fc_train_net *net, const args *a, fc_error *err) {
    int N = a->batch, rc = 0;
    size_t D = fc_train_net_feature_size(net), P = fc_train_net_params_size(net);
    head h = {.D = (int)D, .K = a->classes};
    h.w = fill((size_t)h.K * D, 0.05f, 1), h.b = fill(h.K, 0, 2), h.dw = fill((size_t)h.K * D, 0, 3);
    h.db = fill(h.K, 0, 4), h.mw = fill((size_t)h.K * D, 0, 5), h.mb = fill(h.K, 0, 6);
    h.feat = fill(N * D, 0, 7), h.dfeat = fill(N * D, 0, 8);
    h.logits = fill((size_t)N * h.K, 0, 9), h.probs = fill((size_t)N * h.K, 0, 10);
    h.labels = calloc((size_t)N, sizeof(int));
    float *input = fill((size_t)N * fc_train_net_input_size(net), 4.0f, 11), *mom = fill(P, 0, 12);
    for (int i = 0; i < N; i++) h.labels[i] = i % h.K;
    fc_sgd opt = {1e-3f, 0.9f, 1e-4f};
    double macs = 0, *t = calloc((size_t)a->steps, sizeof *t);
    for (int i = 0; i < net->n_ops; i++) {
        double back, f = op_macs(&net->ops[i], N, net->ops[i].in[0] == 0, &back);
        macs += f + back;
    }
    macs += 3.0 * N * D * h.K;
    for (int s = 0; s < 2 && !rc; s++) rc = step(net, &h, input, N, mom, &opt, err); /* warm-up */
    for (int s = 0; s < a->steps && !rc; s++) {
        double t0 = now();
        rc = step(net, &h, input, N, mom, &opt, err);
        t[s] = (now() - t0) * 1e3;
    }
    if (!rc) {
        double best, med = fc_bench_median(t, a->steps, &best);
        printf("step %.3f ms [%.3f]  %.1f images/s  %.1f GFLOP/s (%.3f GFLOP per step)\n", med, best,
               N / med * 1e3, 2 * macs / med * 1e-6, 2 * macs * 1e-9);
    }
    if (!rc && a->profile) rc = profile(net, &h, input, a, mom, &opt, err);
    free(h.w), free(h.b), free(h.dw), free(h.db), free(h.mw), free(h.mb), free(h.feat), free(h.dfeat);
    free(h.logits), free(h.probs), free(h.labels), free(input), free(mom), free(t);
    return rc;
}

int main(int argc, char **argv) {
    args a;
    if (parse(argc, argv, &a)) {
        fprintf(stderr, "usage: bench_train_net MODEL CUT [--feature pooled] [--batch 32] [--threads 2] "
                        "[--steps 20] [--size N] [--classes 2] [--profile] [--cpu] [--bn-train] [--conv-chunk FLOATS] "
                        "[--precision f32|bf16|auto]\n");
        return 64;
    }
    fc_train_net_options opt = {.threads = a.threads, .height = a.size, .width = a.size, .bn_train = a.bn_train,
                                .precision = a.precision};
    fc_train_net *net = NULL;
    fc_error err;
    int rc = fc_train_net_build(a.model, a.cut, a.feature, a.batch, &opt, &net, &err);
    if (!rc && a.conv_chunk > 0) net->ws.conv_chunk = (size_t)a.conv_chunk;
    if (!rc) {
        int64_t dims[4];
        int rank = fc_train_net_input_dims(net, dims);
        printf("%s %s -> %s, cut", a.model, a.cut, a.feature);
        for (int i = 0; i < rank; i++) printf("%s%lld", i ? "x" : " ", (long long)dims[i]);
        printf(", %d ops, %zu parameters, batch %d, %d threads, kernels %s, products %s, %d classes\n", net->n_ops,
               fc_train_net_params_size(net), a.batch, net->ws.threads, net->ws.k->name,
               fc_train_precision_name(fc_train_net_precision(net)), a.classes);
        rc = run(net, &a, &err);
    }
    if (rc) fprintf(stderr, "bench_train_net: %s\n", err.msg);
    fc_train_net_free(net);
    return rc ? 1 : 0;
}
