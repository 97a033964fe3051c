/* Metric computation: one pass over the rows fills the confusion matrix, top-k hits and the
 * log-loss sum; per-class and averaged metrics are derived from the matrix. Not here: reporting
 * (formatting is the CLI's / report's job). */
#include "classify/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOG_LOSS_EPS 1e-15

int fc_metrics_argmax(const float *p, int k) {
    int best = 0;
    for (int c = 1; c < k; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

double fc_metrics_accuracy(const float *P, const int *y, int n, int k) {
    int hit = 0;
    for (int i = 0; i < n; i++) hit += fc_metrics_argmax(P + (size_t)i * k, k) == y[i];
    return n > 0 ? (double)hit / n : 0;
}

/* Rank of class y among p (k): classes with a higher probability come first, and among equal
 * probabilities the higher index first (scikit-learn's top_k_accuracy_score rule). */
static int rank_of(const float *p, int k, int y) {
    int r = 0;
    for (int c = 0; c < k; c++) r += p[c] > p[y] || (p[c] == p[y] && c > y);
    return r;
}

void fc_metrics_free(fc_metrics *m) {
    if (!m) return;
    free(m->confusion);
    free(m->per_class);
    memset(m, 0, sizeof *m);
}

/* accuracy, per-class counts and scores, balanced accuracy and macro F1 from m->confusion
 * (m->n items, m->k classes). */
static void from_confusion(fc_metrics *m) {
    int k = m->k, correct = 0;
    double recall_sum = 0, f1_sum = 0;
    int with_support = 0, seen = 0;
    for (int c = 0; c < k; c++) {
        fc_class_metrics *cm = &m->per_class[c];
        int tp = m->confusion[(size_t)c * k + c];
        correct += tp;
        for (int j = 0; j < k; j++) {
            cm->support += m->confusion[(size_t)c * k + j];
            cm->predicted += m->confusion[(size_t)j * k + c];
        }
        cm->precision = cm->predicted ? (double)tp / cm->predicted : 0;
        cm->recall = cm->support ? (double)tp / cm->support : 0;
        cm->f1 = cm->precision + cm->recall > 0 ? 2 * cm->precision * cm->recall / (cm->precision + cm->recall) : 0;
        if (cm->support) recall_sum += cm->recall, with_support++;
        if (cm->support || cm->predicted) f1_sum += cm->f1, seen++;
    }
    m->accuracy = (double)correct / m->n;
    m->balanced_accuracy = recall_sum / with_support; /* n >= 1, so some class has support */
    m->macro_f1 = f1_sum / seen;
}

int fc_metrics_compute(fc_metrics *m, const float *P, const int *y, int n, int k, int top_k, fc_error *err) {
    if (!m) return fc_fail(err, FC_EINVAL, "metrics: no output");
    memset(m, 0, sizeof *m);
    if (n < 1) return fc_fail(err, FC_EINVAL, "metrics: no items to evaluate");
    if (k < 2) return fc_fail(err, FC_EINVAL, "metrics: %d classes", k);
    if (!P || !y) return fc_fail(err, FC_EINVAL, "metrics: no probabilities or labels");
    for (int i = 0; i < n; i++) {
        if (y[i] < 0) return fc_fail(err, FC_EINVAL, "metrics: row %d has no label", i);
        if (y[i] >= k) return fc_fail(err, FC_EINVAL, "metrics: row %d: label %d is out of range [0, %d)", i, y[i], k);
        for (int c = 0; c < k; c++) {
            float p = P[(size_t)i * k + c];
            if (!isfinite(p) || p < 0)
                return fc_fail(err, FC_EINVAL, "metrics: row %d, class %d: probability %g", i, c, p);
        }
    }
    top_k = top_k < 1 ? 1 : top_k > k ? k : top_k;
    m->confusion = calloc((size_t)k * k, sizeof *m->confusion);
    m->per_class = calloc((size_t)k, sizeof *m->per_class);
    if (!m->confusion || !m->per_class) {
        fc_metrics_free(m);
        return fc_fail(err, FC_ENOMEM, "metrics: out of memory for %d classes", k);
    }
    m->n = n, m->k = k, m->top_k = top_k;
    int top = 0;
    double ll = 0;
    for (int i = 0; i < n; i++) {
        const float *p = P + (size_t)i * k;
        int pred = fc_metrics_argmax(p, k);
        m->confusion[(size_t)y[i] * k + pred]++;
        top += rank_of(p, k, y[i]) < top_k;
        double py = p[y[i]];
        ll -= log(py < LOG_LOSS_EPS ? LOG_LOSS_EPS : py > 1 ? 1 : py);
    }
    m->top_k_accuracy = (double)top / n;
    m->log_loss = ll / n;
    from_confusion(m);
    return 0;
}

int fc_metrics_from_confusion(fc_metrics *m, const int *confusion, int k, int top_k, double top_k_accuracy,
                              double log_loss, fc_error *err) {
    if (!m) return fc_fail(err, FC_EINVAL, "metrics: no output");
    memset(m, 0, sizeof *m);
    if (k < 2 || !confusion) return fc_fail(err, FC_EINVAL, "metrics: %d classes, confusion %p", k, (const void *)confusion);
    for (int i = 0; i < k * k; i++) {
        if (confusion[i] < 0) return fc_fail(err, FC_EINVAL, "metrics: negative count in the confusion matrix");
        m->n += confusion[i];
    }
    if (m->n < 1) return fc_fail(err, FC_EINVAL, "metrics: no items to evaluate");
    m->confusion = malloc((size_t)k * k * sizeof *m->confusion);
    m->per_class = calloc((size_t)k, sizeof *m->per_class);
    if (!m->confusion || !m->per_class) {
        fc_metrics_free(m);
        return fc_fail(err, FC_ENOMEM, "metrics: out of memory for %d classes", k);
    }
    memcpy(m->confusion, confusion, (size_t)k * k * sizeof *m->confusion);
    m->k = k, m->top_k = top_k, m->top_k_accuracy = top_k_accuracy, m->log_loss = log_loss;
    from_confusion(m);
    return 0;
}
