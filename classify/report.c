/* HTML report writer (see report.h): builds the page in an fc_strbuf with inline CSS and SVG, then
 * writes it with a temporary file and rename. Every data-derived string goes through esc(), which
 * escapes & < > " ' so the same output is safe in text, in attributes and inside inline SVG.
 * Charts are hand-made SVG (rects for the confusion matrix, polylines for the sweep curves) with
 * fixed pixel geometry. Deliberately not here: JavaScript, external fonts or images, metric
 * computation, image decoding or resizing. */
#include "classify/report.h"
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CM_MAX_CLASSES 60  /* larger confusion matrices are left out of the page (unreadable) */
#define LABEL_CHARS 18     /* axis labels longer than this are cut (full name in a tooltip) */

/* ---- text helpers ---- */

/* Appends s escaped for HTML text and double- or single-quoted attributes. Control characters
 * other than tab/newline and bytes that are not valid UTF-8 become U+FFFD. */
static void esc(fc_strbuf *b, const char *s) {
    if (!s) return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int n = fc_utf8_len(s);
        if (n != 1) {
            if (n == 0) fc_strbuf_printf(b, "&#xFFFD;");
            else fc_strbuf_printf(b, "%.*s", n, s);
            s += n ? n - 1 : 0;
            continue;
        }
        switch (c) {
        case '&': fc_strbuf_printf(b, "&amp;"); break;
        case '<': fc_strbuf_printf(b, "&lt;"); break;
        case '>': fc_strbuf_printf(b, "&gt;"); break;
        case '"': fc_strbuf_printf(b, "&quot;"); break;
        case '\'': fc_strbuf_printf(b, "&#39;"); break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) fc_strbuf_printf(b, "&#xFFFD;");
            else fc_strbuf_printf(b, "%c", c);
        }
    }
}

/* Escapes at most max_chars UTF-8 characters of s, adding an ellipsis when cut. */
static void esc_cut(fc_strbuf *b, const char *s, int max_chars) {
    if (!s) return;
    size_t end = 0;
    int chars = 0;
    while (s[end] && chars < max_chars) {
        end++;
        while (((unsigned char)s[end] & 0xC0) == 0x80) end++; /* continuation bytes */
        chars++;
    }
    char *cut = strndup(s, end);
    if (!cut) { b->failed = 1; return; }
    esc(b, cut);
    free(cut);
    if (s[end]) fc_strbuf_printf(b, "&#8230;");
}

/* Fixed-point number or "n/a" for NaN/Inf. */
static void num(fc_strbuf *b, double v, int decimals) {
    if (!isfinite(v)) fc_strbuf_printf(b, "n/a");
    else fc_strbuf_printf(b, "%.*f", decimals, v);
}

/* Compact number for hyperparameters and tick labels: 1e-06 -> "1e-6", 2.5e-4, 0.5, 256. */
static void gnum(fc_strbuf *b, double v) {
    if (!isfinite(v)) { fc_strbuf_printf(b, "n/a"); return; }
    char t[64];
    int sci = v != 0 && (fabs(v) < 1e-3 || fabs(v) >= 1e6);
    snprintf(t, sizeof t, sci ? "%.3e" : "%.4g", v);
    char *e = strchr(t, 'e');
    if (e) { /* drop the mantissa's trailing zeros, the exponent's '+' and leading zeros */
        int ex = atoi(e + 1);
        char *m = e;
        if (strchr(t, '.')) {
            while (m[-1] == '0') m--;
            if (m[-1] == '.') m--;
        }
        snprintf(m, sizeof t - (size_t)(m - t), "e%d", ex);
    }
    fc_strbuf_printf(b, "%s", t);
}

static void class_name(fc_strbuf *b, const fc_report_input *in, int c) {
    if (in->class_names && in->class_names[c]) esc(b, in->class_names[c]);
    else fc_strbuf_printf(b, "class %d", c);
}

static void class_name_cut(fc_strbuf *b, const fc_report_input *in, int c, int max_chars) {
    if (in->class_names && in->class_names[c]) esc_cut(b, in->class_names[c], max_chars);
    else fc_strbuf_printf(b, "class %d", c);
}

static void base64(fc_strbuf *b, const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char chunk[4 * 256 + 1];
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        chunk[o++] = tab[v >> 18 & 63];
        chunk[o++] = tab[v >> 12 & 63];
        chunk[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        chunk[o++] = i + 2 < n ? tab[v & 63] : '=';
        if (o == 4 * 256) { chunk[o] = 0; fc_strbuf_printf(b, "%s", chunk); o = 0; }
    }
    chunk[o] = 0;
    fc_strbuf_printf(b, "%s", chunk);
}

/* MIME type from the file signature, or NULL when the bytes are neither PNG nor JPEG. */
static const char *image_mime(const unsigned char *p, size_t n) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && !memcmp(p, png, 8)) return "image/png";
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return "image/jpeg";
    return NULL;
}

/* ---- page parts ---- */

static const char CSS[] =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2733;"
    "background:#f3f5f8;margin:0}\n"
    "main{max-width:1120px;margin:0 auto;padding:16px 24px 40px}\n"
    "h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:0 0 10px}\n"
    "section{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:14px 18px;margin:14px 0}\n"
    ".info{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}\n"
    ".info dt{color:#5b6b7c}.info dd{margin:0;overflow-wrap:anywhere}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:10px}\n"
    ".card{border:1px solid #dde3ea;border-radius:6px;padding:8px 14px;min-width:120px}\n"
    ".card .v{font-size:22px;font-weight:600}.card .k{color:#5b6b7c;font-size:12px}\n"
    ".scroll{overflow-x:auto}\n"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums}\n"
    "th,td{padding:3px 10px;border-bottom:1px solid #e6eaef;text-align:right;white-space:nowrap}\n"
    "th{background:#f0f3f7;font-weight:600}\n"
    "td.l,th.l{text-align:left;white-space:normal;overflow-wrap:anywhere;max-width:420px}\n"
    "tr.best td{background:#e7f5e9;font-weight:600}\n"
    ".note{color:#5b6b7c;font-size:12px;margin:6px 0 0}\n"
    ".warn{background:#fff4e5;border:1px solid #f0c36d;border-radius:6px;padding:8px 12px;margin:10px 0 0}\n"
    ".charts{display:flex;flex-wrap:wrap;gap:16px}\n"
    "svg text{font-family:system-ui,sans-serif}\n"
    ".worst{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}\n"
    ".worst figure{margin:0;border:1px solid #dde3ea;border-radius:6px;padding:8px}\n"
    ".worst img,.worst .noimg{display:block;width:96px;height:96px;object-fit:contain;"
    "image-rendering:pixelated;background:#eef1f5;margin-bottom:6px}\n"
    ".worst .noimg{display:flex;align-items:center;justify-content:center;color:#8a97a5;font-size:11px}\n"
    ".worst figcaption{font-size:12px}.worst .path{overflow-wrap:anywhere;color:#3d4b5a}\n"
    ".bad{color:#b3261e;font-weight:600}\n"
    "td.mark{background:#e7f5e9;font-weight:600;outline:2px solid #3a9a4a}\n"
    "pre.cmd{background:#f0f3f7;padding:8px 10px;border-radius:6px;white-space:pre-wrap;overflow-wrap:anywhere}\n";

static void info_row(fc_strbuf *b, const char *key, const char *value) {
    if (!value) return;
    fc_strbuf_printf(b, "<dt>%s</dt><dd>", key);
    esc(b, value);
    fc_strbuf_printf(b, "</dd>\n");
}

static void card(fc_strbuf *b, const char *key, double v, int decimals) {
    fc_strbuf_printf(b, "<div class=\"card\"><div class=\"v\">");
    num(b, v, decimals);
    fc_strbuf_printf(b, "</div><div class=\"k\">%s</div></div>\n", key);
}

static void section_summary(fc_strbuf *b, const fc_report_input *in) {
    const fc_metrics *m = in->val_metrics;
    fc_strbuf_printf(b, "<section id=\"summary\"><h2>Validation metrics</h2>\n<div class=\"cards\">\n");
    card(b, "accuracy", m->accuracy, 4);
    card(b, "balanced accuracy", m->balanced_accuracy, 4);
    char key[64];
    snprintf(key, sizeof key, "top-%d accuracy", m->top_k);
    card(b, key, m->top_k_accuracy, 4);
    card(b, "macro F1", m->macro_f1, 4);
    card(b, "log-loss", m->log_loss, 4);
    fc_strbuf_printf(b, "<div class=\"card\"><div class=\"v\">%d</div><div class=\"k\">items</div></div>\n", m->n);
    fc_strbuf_printf(b, "</div></section>\n");
}

/* Row-normalized value t in [0, 1] -> white to dark blue. */
static void heat_color(fc_strbuf *b, double t) {
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    static const double lo[3] = {247, 251, 255}, hi[3] = {8, 48, 107};
    int c[3];
    for (int i = 0; i < 3; i++) c[i] = (int)lround(lo[i] + (hi[i] - lo[i]) * t);
    fc_strbuf_printf(b, "#%02x%02x%02x", c[0], c[1], c[2]);
}

static void section_confusion(fc_strbuf *b, const fc_report_input *in) {
    const fc_metrics *m = in->val_metrics;
    int k = m->k;
    fc_strbuf_printf(b, "<section id=\"confusion\"><h2>Confusion matrix</h2>\n<p class=\"note\">Rows: true "
                        "class, columns: predicted class; counts, colored by the fraction of the row.</p>\n");
    if (k > CM_MAX_CLASSES) {
        fc_strbuf_printf(b, "<p class=\"note\">Left out: %d classes (more than %d).</p></section>\n", k,
                         CM_MAX_CLASSES);
        return;
    }
    int cell = 480 / k;
    if (cell > 56) cell = 56;
    if (cell < 12) cell = 12;
    int show_counts = cell >= 22, font = cell >= 40 ? 13 : cell >= 28 ? 11 : 9;
    /* room for the labels from the longest (cut) name, at about 0.6 em per character: left labels
     * horizontal, bottom labels rotated by 45 degrees */
    int lf = cell >= 16 ? 12 : 10, longest = 1;
    for (int c = 0; c < k; c++) {
        int chars = 0;
        if (in->class_names && in->class_names[c])
            for (const char *p = in->class_names[c]; *p && chars <= LABEL_CHARS; p++)
                chars += ((unsigned char)*p & 0xC0) != 0x80;
        else
            chars = 9; /* "class 123" */
        if (chars > LABEL_CHARS) chars = LABEL_CHARS + 1; /* with the ellipsis */
        if (chars > longest) longest = chars;
    }
    int label_w = (int)(longest * lf * 0.6) + 12, label_h = (int)(longest * lf * 0.6 * 0.71) + 44;
    int x0 = label_w + 24, y0 = 8, w = x0 + k * cell + 20, h = y0 + k * cell + label_h;
    fc_strbuf_printf(b, "<div class=\"scroll\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                        "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"confusion matrix\">\n", w, h, w, h);
    for (int t = 0; t < k; t++) {
        long row = 0;
        for (int p = 0; p < k; p++) row += m->confusion[t * k + p];
        for (int p = 0; p < k; p++) {
            int c = m->confusion[t * k + p];
            double v = row > 0 ? (double)c / row : 0;
            fc_strbuf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"", x0 + p * cell,
                             y0 + t * cell, cell, cell);
            heat_color(b, v);
            fc_strbuf_printf(b, "\" stroke=\"#fff\"><title>true ");
            class_name(b, in, t);
            fc_strbuf_printf(b, ", predicted ");
            class_name(b, in, p);
            fc_strbuf_printf(b, ": %d (%.1f%% of row)</title></rect>\n", c, 100 * v);
            if (show_counts)
                fc_strbuf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"%d\" text-anchor=\"middle\" "
                                    "dominant-baseline=\"central\" fill=\"%s\">%d</text>\n",
                                 x0 + p * cell + cell / 2, y0 + t * cell + cell / 2, font,
                                 v > 0.5 ? "#fff" : "#1d2733", c);
        }
    }
    for (int c = 0; c < k; c++) {
        /* true class on the left, predicted class rotated below */
        fc_strbuf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"%d\" text-anchor=\"end\" "
                            "dominant-baseline=\"central\"><title>", x0 - 6, y0 + c * cell + cell / 2, lf);
        class_name(b, in, c);
        fc_strbuf_printf(b, "</title>");
        class_name_cut(b, in, c, LABEL_CHARS);
        fc_strbuf_printf(b, "</text>\n");
        int lx = x0 + c * cell + cell / 2, ly = y0 + k * cell + 8;
        fc_strbuf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"%d\" text-anchor=\"end\" dominant-baseline=\"central\" "
                            "transform=\"rotate(-45 %d %d)\"><title>", lx, ly, lf, lx, ly);
        class_name(b, in, c);
        fc_strbuf_printf(b, "</title>");
        class_name_cut(b, in, c, LABEL_CHARS);
        fc_strbuf_printf(b, "</text>\n");
    }
    fc_strbuf_printf(b, "<text x=\"12\" y=\"%d\" font-size=\"12\" fill=\"#5b6b7c\" text-anchor=\"middle\" "
                        "transform=\"rotate(-90 12 %d)\">true</text>\n", y0 + k * cell / 2, y0 + k * cell / 2);
    fc_strbuf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#5b6b7c\" text-anchor=\"middle\">"
                        "predicted</text>\n", x0 + k * cell / 2, h - 6);
    fc_strbuf_printf(b, "</svg></div></section>\n");
}

static void section_per_class(fc_strbuf *b, const fc_report_input *in) {
    const fc_metrics *m = in->val_metrics;
    fc_strbuf_printf(b, "<section id=\"per-class\"><h2>Per-class metrics</h2>\n<div class=\"scroll\"><table>\n"
                        "<tr><th class=\"l\">class</th><th>precision</th><th>recall</th><th>F1</th>"
                        "<th>support</th><th>predicted</th></tr>\n");
    for (int c = 0; c < m->k; c++) {
        const fc_class_metrics *pc = &m->per_class[c];
        fc_strbuf_printf(b, "<tr><td class=\"l\">");
        class_name(b, in, c);
        fc_strbuf_printf(b, "</td><td>");
        num(b, pc->precision, 4);
        fc_strbuf_printf(b, "</td><td>");
        num(b, pc->recall, 4);
        fc_strbuf_printf(b, "</td><td>");
        num(b, pc->f1, 4);
        fc_strbuf_printf(b, "</td><td>%d</td><td>%d</td></tr>\n", pc->support, pc->predicted);
    }
    fc_strbuf_printf(b, "</table></div></section>\n");
}

/* ---- sweep ---- */

/* Orders config indices by validation metric, descending, NaN last, ties by index (a stable
 * insertion sort: qsort's comparator could not see the configs without a global). */
static void sort_configs(const fc_report_config *cf, int *idx, int n) {
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i;
        while (j > 0) {
            double a = cf[idx[j - 1]].val_metric, c = cf[v].val_metric;
            int before = isnan(a) ? !isnan(c) : (!isnan(c) && c > a);
            if (!before) break;
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

static const fc_report_param *find_param(const fc_report_config *c, const char *name) {
    for (int i = 0; i < c->n_params; i++)
        if (!strcmp(c->params[i].name, name)) return &c->params[i];
    return NULL;
}

static void section_sweep_table(fc_strbuf *b, const fc_report_input *in, const char *metric, int *idx,
                                const char **names, int n_names) {
    int n = in->n_configs;
    fc_strbuf_printf(b, "<section id=\"sweep\"><h2>Sweep: %d configs, sorted by validation ", n);
    esc(b, metric);
    fc_strbuf_printf(b, "</h2>\n<div class=\"scroll\"><table>\n<tr><th>#</th><th class=\"l\">config</th>");
    for (int j = 0; j < n_names; j++) {
        fc_strbuf_printf(b, "<th>");
        esc(b, names[j]);
        fc_strbuf_printf(b, "</th>");
    }
    fc_strbuf_printf(b, "<th>train</th><th>validation</th></tr>\n");
    for (int r = 0; r < n; r++) {
        const fc_report_config *c = &in->configs[idx[r]];
        fc_strbuf_printf(b, "<tr%s><td>%d</td><td class=\"l\">", idx[r] == in->best ? " class=\"best\"" : "", r + 1);
        esc(b, c->description);
        if (idx[r] == in->best) fc_strbuf_printf(b, " (best)");
        fc_strbuf_printf(b, "</td>");
        for (int j = 0; j < n_names; j++) {
            const fc_report_param *p = find_param(c, names[j]);
            fc_strbuf_printf(b, "<td>");
            if (p && p->text) esc(b, p->text);
            else if (p) gnum(b, p->value);
            fc_strbuf_printf(b, "</td>");
        }
        fc_strbuf_printf(b, "<td>");
        num(b, c->train_metric, 4);
        fc_strbuf_printf(b, "</td><td>");
        num(b, c->val_metric, 4);
        fc_strbuf_printf(b, "</td></tr>\n");
    }
    fc_strbuf_printf(b, "</table></div></section>\n");
}

/* "Nice" step (1, 2, 5 x 10^e) for about n ticks over span. */
static double nice_step(double span, int n) {
    double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

typedef struct { double x, y; } pt;

static int cmp_pt(const void *a, const void *b) {
    double x = ((const pt *)a)->x, y = ((const pt *)b)->x;
    return (x > y) - (x < y);
}

/* Keeps the highest y per distinct x (points sorted by x); returns the new count. */
static int best_per_x(pt *p, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && p[m - 1].x == p[i].x) {
            if (p[i].y > p[m - 1].y) p[m - 1].y = p[i].y;
        } else {
            p[m++] = p[i];
        }
    }
    return m;
}

/* The chart's plot area and scales: x linear or log10 over [lx0, lx1], y linear over [ymin, ymax]
 * with grid lines every ystep. */
typedef struct frame {
    int W, H, L, T, pw, ph;
    int logx;
    double lx0, lx1, ymin, ymax, ystep;
    const char *const *xnames; /* x is 0, 1, .. named by these (the probed layers), or NULL */
} frame;

static double px_of(const frame *f, double v) {
    return f->L + ((f->logx ? log10(v) : (v)) - f->lx0) / (f->lx1 - f->lx0) * f->pw;
}

static double py_of(const frame *f, double v) {
    return f->T + (f->ymax - (v)) / (f->ymax - f->ymin) * f->ph;
}

/* Scales for the points val[0..nv) and tr[0..nt) (at least one). */
static void frame_fit(frame *f, const pt *val, int nv, const pt *tr, int nt) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < nv + nt; i++) {
        pt q = i < nv ? val[i] : tr[i - nv];
        if (q.x < xmin) xmin = q.x;
        if (q.x > xmax) xmax = q.x;
        if (q.y < ymin) ymin = q.y;
        if (q.y > ymax) ymax = q.y;
    }
    /* log scale over whole decades when positive values span two decades or more, or for a single
     * positive value (one L2 setting); else linear, widened around a single value */
    int logx = xmin > 0 && (xmax / xmin >= 100 || xmax == xmin);
    double lx0 = logx ? floor(log10(xmin)) : xmin, lx1 = logx ? ceil(log10(xmax)) : xmax;
    if (lx1 <= lx0) {
        lx0 -= logx ? 1 : 0.5;
        lx1 += logx ? 1 : 0.5;
    }
    if (ymax - ymin < 1e-9) { ymin -= 0.01; ymax += 0.01; }
    double ystep = nice_step(ymax - ymin, 5);
    const int W = 520, H = 300, L = 58, R = 16, T = 28, B = 44;
    *f = (frame){W, H, L, T, W - L - R, H - T - B, logx, lx0, lx1, floor(ymin / ystep) * ystep,
                 ceil(ymax / ystep) * ystep, ystep, NULL};
}

/* The svg element's start, the title, the grid with tick labels, the frame and the x label. */
static void chart_axes(fc_strbuf *b, const frame *f, const char *kind, const char *param, const char *metric) {
    const int W = f->W, H = f->H, L = f->L, T = f->T, pw = f->pw, ph = f->ph;
    fc_strbuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                        "role=\"img\" aria-label=\"", W, H, W, H);
    esc(b, metric);
    fc_strbuf_printf(b, " vs ");
    esc(b, param);
    fc_strbuf_printf(b, "\">\n<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"600\">", L);
    esc(b, kind);
    fc_strbuf_printf(b, ": ");
    esc(b, metric);
    fc_strbuf_printf(b, " vs ");
    esc(b, param);
    fc_strbuf_printf(b, "%s</text>\n", f->logx ? " (log scale)" : "");
    /* y grid and ticks */
    for (double y = f->ymin; y <= f->ymax + f->ystep * 1e-6; y += f->ystep) {
        double py = py_of(f, y);
        fc_strbuf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e6eaef\"/>"
                            "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" dominant-baseline=\"central\">",
                         L, py, L + pw, py, L - 6, py);
        gnum(b, fabs(y) < f->ystep * 1e-6 ? 0 : y);
        fc_strbuf_printf(b, "</text>\n");
    }
    /* x ticks */
    if (f->logx) {
        int e0 = (int)f->lx0, e1 = (int)f->lx1, every = (e1 - e0 + 9) / 10 > 0 ? (e1 - e0 + 9) / 10 : 1;
        for (int e = e0; e <= e1; e += every) {
            double px = L + (e - f->lx0) / (f->lx1 - f->lx0) * pw;
            fc_strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e6eaef\"/>"
                                "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">1e%d</text>\n",
                             px, T, px, T + ph, px, T + ph + 16, e);
        }
    } else if (f->xnames) {
        for (int i = (int)ceil(f->lx0); i <= (int)floor(f->lx1); i++) {
            double px = L + (i - f->lx0) / (f->lx1 - f->lx0) * pw;
            fc_strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e6eaef\"/>"
                                "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">",
                             px, T, px, T + ph, px, T + ph + 16);
            esc_cut(b, f->xnames[i], 14);
            fc_strbuf_printf(b, "</text>\n");
        }
    } else {
        double xs = nice_step(f->lx1 - f->lx0, 5);
        for (double x = ceil(f->lx0 / xs) * xs; x <= f->lx1 + xs * 1e-6; x += xs) {
            double px = L + (x - f->lx0) / (f->lx1 - f->lx0) * pw;
            fc_strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e6eaef\"/>"
                                "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">",
                             px, T, px, T + ph, px, T + ph + 16);
            gnum(b, fabs(x) < xs * 1e-6 ? 0 : x);
            fc_strbuf_printf(b, "</text>\n");
        }
    }
    fc_strbuf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#8a97a5\"/>\n",
                     L, T, pw, ph);
    fc_strbuf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#5b6b7c\" text-anchor=\"middle\">", L + pw / 2,
                     H - 6);
    esc(b, param);
    fc_strbuf_printf(b, "</text>\n");
}

/* One series: a polyline through p[0..np) and a dot with a tooltip per point. */
static void chart_series(fc_strbuf *b, const frame *f, const pt *p, int np, int train, const char *param) {
    const char *color = train ? "#e07b39" : "#2262c6";
    if (np == 0) return;
    fc_strbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
                     train ? " stroke-dasharray=\"5 4\"" : "");
    for (int i = 0; i < np; i++) fc_strbuf_printf(b, "%s%.1f,%.1f", i ? " " : "", px_of(f, p[i].x), py_of(f, p[i].y));
    fc_strbuf_printf(b, "\"/>\n");
    for (int i = 0; i < np; i++) {
        fc_strbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>", px_of(f, p[i].x),
                         py_of(f, p[i].y), color);
        esc(b, param);
        fc_strbuf_printf(b, "=");
        gnum(b, p[i].x);
        fc_strbuf_printf(b, ": %s ", train ? "train" : "validation");
        num(b, p[i].y, 4);
        fc_strbuf_printf(b, "</title></circle>\n");
    }
}

/* The validation / train legend, and the end of the svg element. */
static void chart_legend(fc_strbuf *b, const frame *f) {
    const int W = f->W;
    fc_strbuf_printf(b, "<g font-size=\"11\"><line x1=\"%d\" y1=\"16\" x2=\"%d\" y2=\"16\" stroke=\"#2262c6\" "
                        "stroke-width=\"2\"/><text x=\"%d\" y=\"20\">validation</text>"
                        "<line x1=\"%d\" y1=\"16\" x2=\"%d\" y2=\"16\" stroke=\"#e07b39\" stroke-width=\"2\" "
                        "stroke-dasharray=\"5 4\"/><text x=\"%d\" y=\"20\">train</text></g>\n",
                     W - 170, W - 150, W - 146, W - 80, W - 60, W - 56);
    fc_strbuf_printf(b, "</svg>\n");
}

/* One chart: validation (solid) and train (dashed) metric vs the parameter for one head kind.
 * Returns 1 when drawn, 0 when no configuration of the kind has the parameter, -1 out of memory. */
static int chart(fc_strbuf *b, const fc_report_input *in, const char *kind, const char *param, const char *metric) {
    int n = 0;
    pt *val = malloc(sizeof(pt) * (size_t)in->n_configs), *tr = malloc(sizeof(pt) * (size_t)in->n_configs);
    if (!val || !tr) { free(val); free(tr); return -1; }
    int nv = 0, nt = 0;
    for (int i = 0; i < in->n_configs; i++) {
        const fc_report_config *c = &in->configs[i];
        const char *ck = c->head_kind ? c->head_kind : "head";
        if (strcmp(ck, kind)) continue;
        const fc_report_param *p = find_param(c, param);
        if (!p || !isfinite(p->value)) continue;
        n++;
        if (isfinite(c->val_metric)) val[nv++] = (pt){p->value, c->val_metric};
        if (isfinite(c->train_metric)) tr[nt++] = (pt){p->value, c->train_metric};
    }
    if (nv + nt == 0) { free(val); free(tr); return 0; }
    qsort(val, (size_t)nv, sizeof(pt), cmp_pt);
    qsort(tr, (size_t)nt, sizeof(pt), cmp_pt);
    nv = best_per_x(val, nv);
    nt = best_per_x(tr, nt);
    frame f;
    frame_fit(&f, val, nv, tr, nt);
    chart_axes(b, &f, kind, param, metric);
    chart_series(b, &f, val, nv, 0, param);
    chart_series(b, &f, tr, nt, 1, param);
    chart_legend(b, &f);
    free(val);
    free(tr);
    return n > 0;
}

static int section_curves(fc_strbuf *b, const fc_report_input *in, const char *metric) {
    const char *param = in->curve_param;
    for (int i = 0; !param && i < in->n_configs; i++)
        for (int j = 0; !param && j < in->configs[i].n_params; j++)
            if (isfinite(in->configs[i].params[j].value)) param = in->configs[i].params[j].name;
    if (!param) return 0;
    fc_strbuf_printf(b, "<section id=\"curves\"><h2>Validation ");
    esc(b, metric);
    fc_strbuf_printf(b, " vs ");
    esc(b, param);
    fc_strbuf_printf(b, "</h2>\n<div class=\"charts\">\n");
    /* one chart per distinct head kind, in order of first appearance */
    for (int i = 0; i < in->n_configs; i++) {
        const char *k = in->configs[i].head_kind ? in->configs[i].head_kind : "head";
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = !strcmp(k, in->configs[j].head_kind ? in->configs[j].head_kind : "head");
        if (!seen && chart(b, in, k, param, metric) < 0) return -1;
    }
    fc_strbuf_printf(b, "</div><p class=\"note\">Solid: validation, dashed: train; at a repeated ");
    esc(b, param);
    fc_strbuf_printf(b, " value the line goes through the best config.</p></section>\n");
    return 0;
}

static int section_sweep(fc_strbuf *b, const fc_report_input *in, const char *metric) {
    int n = in->n_configs, rc = -1, n_names = 0;
    int *idx = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    int cap = 0;
    for (int i = 0; i < n; i++) cap += in->configs[i].n_params;
    const char **names = malloc(sizeof(char *) * (size_t)(cap > 0 ? cap : 1));
    if (!idx || !names) goto done;
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_configs(in->configs, idx, n);
    /* union of parameter names, in order of first appearance */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < in->configs[i].n_params; j++) {
            const char *nm = in->configs[i].params[j].name;
            int seen = 0;
            for (int q = 0; q < n_names && !seen; q++) seen = !strcmp(names[q], nm);
            if (!seen) names[n_names++] = nm;
        }
    section_sweep_table(b, in, metric, idx, names, n_names);
    rc = section_curves(b, in, metric);
done:
    free(idx);
    free(names);
    return rc;
}

/* Fine-tuning: accuracy and loss per epoch, validation solid, train dashed (epoch 0 is the head
 * before any step: its training values are not measured; its validation point keeps the x axis
 * linear from 0). */
static int section_training(fc_strbuf *b, const fc_report_input *in) {
    int n = in->n_epochs;
    pt *val = malloc(sizeof(pt) * (size_t)n + 1), *tr = malloc(sizeof(pt) * (size_t)n + 1);
    if (!val || !tr) { free(val); free(tr); return -1; }
    fc_strbuf_printf(b, "<section id=\"training\"><h2>Training curves</h2>\n<div class=\"charts\">\n");
    for (int which = 0; which < 2; which++) {
        int nv = 0, nt = 0;
        for (int i = 0; i < n; i++) {
            const fc_report_epoch *e = &in->epochs[i];
            double v = which ? e->val_loss : e->val_accuracy, t = which ? e->loss : e->train_accuracy;
            if (isfinite(v)) val[nv++] = (pt){e->epoch, v};
            if (isfinite(t)) tr[nt++] = (pt){e->epoch, t};
        }
        if (nv + nt == 0) continue;
        frame f;
        frame_fit(&f, val, nv, tr, nt);
        chart_axes(b, &f, "fine-tuning", "epoch", which ? "loss" : "accuracy");
        chart_series(b, &f, val, nv, 0, "epoch");
        chart_series(b, &f, tr, nt, 1, "epoch");
        chart_legend(b, &f);
    }
    fc_strbuf_printf(b, "</div></section>\n");
    free(val);
    free(tr);
    return 0;
}

/* ---- advice ---- */

/* One cell of the 2x2 table: the advice's own is marked. */
static void advice_cell(fc_strbuf *b, const fc_advice *a, int big, int different, const char *text) {
    int mine = a->big == big && a->different == different;
    fc_strbuf_printf(b, "<td class=\"l%s\">%s%s</td>", mine ? " mark" : "", mine ? "&#10004; " : "", text);
}

static void section_advice(fc_strbuf *b, const fc_report_input *in) {
    const fc_advice *a = in->advice;
    fc_strbuf_printf(b, "<section id=\"advice\"><h2>Advice: %s</h2>\n<div class=\"scroll\"><table class=\"table2x2\">\n"
                        "<tr><th></th><th class=\"l\">small data (median &lt; %d per class)</th>"
                        "<th class=\"l\">big data</th></tr>\n<tr><th class=\"l\">similar domain</th>",
                     fc_advice_name(a->kind), FC_ADVISE_BIG_PER_CLASS);
    advice_cell(b, a, 0, 0, "train a head on the final features (head)");
    advice_cell(b, a, 1, 0, "fine-tune the top blocks (finetune)");
    fc_strbuf_printf(b, "</tr>\n<tr><th class=\"l\">different domain</th>");
    advice_cell(b, a, 0, 1, "collect more data (more-data)");
    advice_cell(b, a, 1, 1, a->kind == FC_ADVICE_SCRATCH ? "train (nearly) everything (scratch)"
                                                         : "partial reuse: keep the first layers (partial)");
    fc_strbuf_printf(b, "</tr>\n</table></div>\n<p>");
    esc(b, a->reason);
    fc_strbuf_printf(b, "</p>\n<p>Next:</p><pre class=\"cmd\">");
    esc(b, in->command);
    fc_strbuf_printf(b, "</pre></section>\n");
}

/* Accuracy by probed layer: a line through the points, each with a bar of +- the folds' standard
 * deviation and a tooltip naming the layer. */
static void chart_probes(fc_strbuf *b, const fc_advise_evidence *e) {
    pt acc[FC_ADVISE_MAX_LAYERS], bars[2 * FC_ADVISE_MAX_LAYERS];
    const char *names[FC_ADVISE_MAX_LAYERS];
    for (int l = 0; l < e->n_layers; l++) {
        acc[l] = (pt){l, e->layers[l].accuracy};
        bars[2 * l] = (pt){l, e->layers[l].accuracy - e->layers[l].std};
        bars[2 * l + 1] = (pt){l, e->layers[l].accuracy + e->layers[l].std};
        names[l] = e->layers[l].name;
    }
    frame f;
    frame_fit(&f, acc, e->n_layers, bars, 2 * e->n_layers);
    f.lx0 = -0.5; /* half a step of room on both sides for the names */
    f.lx1 = e->n_layers - 0.5;
    f.xnames = names;
    chart_axes(b, &f, "probe", "layer (input side first)", "k-fold accuracy");
    fc_strbuf_printf(b, "<polyline fill=\"none\" stroke=\"#2262c6\" stroke-width=\"2\" points=\"");
    for (int l = 0; l < e->n_layers; l++) fc_strbuf_printf(b, "%s%.1f,%.1f", l ? " " : "", px_of(&f, l), py_of(&f, acc[l].y));
    fc_strbuf_printf(b, "\"/>\n");
    for (int l = 0; l < e->n_layers; l++) {
        double x = px_of(&f, l);
        fc_strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#9bb4dc\" stroke-width=\"2\"/>"
                            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#2262c6\"><title>", x, py_of(&f, bars[2 * l].y),
                         x, py_of(&f, bars[2 * l + 1].y), x, py_of(&f, acc[l].y));
        esc(b, names[l]);
        fc_strbuf_printf(b, "%s: ", e->layers[l].pooled ? " (average-pooled)" : "");
        num(b, acc[l].y, 4);
        fc_strbuf_printf(b, " &#177; ");
        num(b, e->layers[l].std, 4);
        fc_strbuf_printf(b, "</title></circle>\n");
    }
    fc_strbuf_printf(b, "</svg>\n");
}

/* The probe-by-layer chart, the learning curve and the table of probes. */
static void section_probes(fc_strbuf *b, const fc_report_input *in) {
    const fc_advise_evidence *e = in->evidence;
    fc_strbuf_printf(b, "<section id=\"probes\"><h2>Linear probe by layer</h2>\n<div class=\"charts\">\n");
    chart_probes(b, e);
    pt curve[FC_ADVISE_CURVE];
    for (int c = 0; c < FC_ADVISE_CURVE; c++) curve[c] = (pt){e->curve_train[c], e->curve_accuracy[c]};
    frame f;
    frame_fit(&f, curve, FC_ADVISE_CURVE, NULL, 0);
    chart_axes(b, &f, e->layers[e->curve_layer].name, "training items per fold", "learning curve");
    chart_series(b, &f, curve, FC_ADVISE_CURVE, 0, "items");
    fc_strbuf_printf(b, "</svg>\n</div>\n<div class=\"scroll\"><table>\n<tr><th class=\"l\">layer</th>"
                        "<th>features</th><th>accuracy</th><th>fold sd</th><th>L2</th></tr>\n");
    for (int l = 0; l < e->n_layers; l++) {
        const fc_advise_layer *L = &e->layers[l];
        fc_strbuf_printf(b, "<tr%s><td class=\"l\">", l == in->advice->best ? " class=\"best\"" : "");
        esc(b, L->name);
        fc_strbuf_printf(b, "%s</td><td>%d</td><td>", L->pooled ? " (average-pooled)" : "", L->dim);
        num(b, L->accuracy, 4);
        fc_strbuf_printf(b, "</td><td>");
        num(b, L->std, 4);
        fc_strbuf_printf(b, "</td><td>");
        gnum(b, L->l2);
        fc_strbuf_printf(b, "</td></tr>\n");
    }
    fc_strbuf_printf(b, "</table></div>\n<p class=\"note\">%d items, %d classes (per class: median %d, smallest %d); "
                        "%d-fold softmax probes; bars: &#177; the folds' standard deviation.</p></section>\n",
                     e->n_items, e->n_classes, e->median_per_class, e->min_per_class, e->folds);
}

static void section_worst(fc_strbuf *b, const fc_report_input *in) {
    fc_strbuf_printf(b, "<section id=\"worst\"><h2>Worst misclassified items</h2>\n");
    if (in->n_worst == 0) {
        fc_strbuf_printf(b, "<p class=\"note\">None.</p></section>\n");
        return;
    }
    fc_strbuf_printf(b, "<div class=\"worst\">\n");
    for (int i = 0; i < in->n_worst; i++) {
        const fc_report_item *it = &in->worst[i];
        const char *mime = it->thumbnail ? image_mime(it->thumbnail, it->thumbnail_size) : NULL;
        fc_strbuf_printf(b, "<figure>");
        if (mime) {
            fc_strbuf_printf(b, "<img alt=\"");
            esc(b, it->path);
            fc_strbuf_printf(b, "\" src=\"data:%s;base64,", mime);
            base64(b, it->thumbnail, it->thumbnail_size);
            fc_strbuf_printf(b, "\">");
        } else {
            fc_strbuf_printf(b, "<div class=\"noimg\">no preview</div>");
        }
        fc_strbuf_printf(b, "<figcaption><div class=\"path\">");
        esc(b, it->path);
        fc_strbuf_printf(b, "</div>true <b>");
        class_name(b, in, it->true_label);
        fc_strbuf_printf(b, "</b>, predicted <span class=\"bad\">");
        class_name(b, in, it->predicted_label);
        fc_strbuf_printf(b, "</span> (p = ");
        num(b, it->probability, 3);
        fc_strbuf_printf(b, ")</figcaption></figure>\n");
    }
    fc_strbuf_printf(b, "</div></section>\n");
}

/* ---- entry points ---- */

static int check_input(const fc_report_input *in, fc_error *err) {
    if (in->kind != FC_REPORT_RUN && in->kind != FC_REPORT_SWEEP && in->kind != FC_REPORT_ADVICE)
        return fc_fail(err, FC_EINVAL, "report: unknown kind %d", (int)in->kind);
    if (in->kind == FC_REPORT_ADVICE && (!in->evidence || !in->advice || !in->command || in->evidence->n_layers < 1 ||
                                         in->evidence->n_layers > FC_ADVISE_MAX_LAYERS || in->evidence->curve_layer < 0 ||
                                         in->evidence->curve_layer >= in->evidence->n_layers))
        return fc_fail(err, FC_EINVAL, "report: advice without its evidence, decision or command");
    if (in->n_classes < 0) return fc_fail(err, FC_EINVAL, "report: %d classes", in->n_classes);
    const fc_metrics *m = in->val_metrics;
    if (m) {
        if (m->k != in->n_classes)
            return fc_fail(err, FC_EINVAL, "report: metrics have %d classes, input %d", m->k, in->n_classes);
        if (m->k < 1 || !m->confusion || !m->per_class)
            return fc_fail(err, FC_EINVAL, "report: metrics without confusion matrix or per-class values");
    }
    if (in->n_epochs < 0 || (in->n_epochs > 0 && !in->epochs))
        return fc_fail(err, FC_EINVAL, "report: %d epochs without data", in->n_epochs);
    if (in->n_worst < 0 || (in->n_worst > 0 && !in->worst))
        return fc_fail(err, FC_EINVAL, "report: %d worst items without an array", in->n_worst);
    for (int i = 0; i < in->n_worst; i++) {
        const fc_report_item *it = &in->worst[i];
        if (it->true_label < 0 || it->true_label >= in->n_classes || it->predicted_label < 0 ||
            it->predicted_label >= in->n_classes)
            return fc_fail(err, FC_EINVAL, "report: worst item %d has label %d/%d outside [0, %d)", i,
                           it->true_label, it->predicted_label, in->n_classes);
    }
    if (in->kind == FC_REPORT_SWEEP) {
        if (in->n_configs < 0 || (in->n_configs > 0 && !in->configs))
            return fc_fail(err, FC_EINVAL, "report: %d configs without an array", in->n_configs);
        if (in->best < -1 || in->best >= in->n_configs)
            return fc_fail(err, FC_EINVAL, "report: best config %d outside [0, %d)", in->best, in->n_configs);
        for (int i = 0; i < in->n_configs; i++) {
            const fc_report_config *c = &in->configs[i];
            if (c->n_params < 0 || (c->n_params > 0 && !c->params))
                return fc_fail(err, FC_EINVAL, "report: config %d has %d params without an array", i, c->n_params);
            for (int j = 0; j < c->n_params; j++)
                if (!c->params[j].name) return fc_fail(err, FC_EINVAL, "report: config %d param %d has no name", i, j);
        }
    }
    return 0;
}

int fc_report_render(const fc_report_input *in, fc_strbuf *b, fc_error *err) {
    if (!in || !b) return fc_fail(err, FC_EINVAL, "report: NULL input or buffer");
    int rc = check_input(in, err);
    if (rc) return rc;
    const char *title = in->title ? in->title : "featcache report";
    const char *metric = in->metric_name ? in->metric_name : "accuracy";
    fc_strbuf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                        "style-src 'unsafe-inline'; img-src data:\">\n<title>");
    esc(b, title);
    fc_strbuf_printf(b, "</title>\n<style>\n%s</style></head>\n<body><main>\n<header><h1>", CSS);
    esc(b, title);
    fc_strbuf_printf(b, "</h1>\n<section id=\"run\"><dl class=\"info\">\n<dt>kind</dt><dd>%s</dd>\n",
                     in->kind == FC_REPORT_SWEEP ? "sweep" : in->kind == FC_REPORT_ADVICE ? "advice" : "run");
    info_row(b, "dataset", in->dataset);
    info_row(b, "model", in->model);
    info_row(b, "head", in->head);
    if (in->kind == FC_REPORT_SWEEP && in->best >= 0) info_row(b, "best config", in->configs[in->best].description);
    fc_strbuf_printf(b, "<dt>classes</dt><dd>%d</dd>\n", in->n_classes);
    info_row(b, "created", in->created);
    fc_strbuf_printf(b, "</dl>");
    if (in->note) {
        fc_strbuf_printf(b, "<p class=\"warn\">");
        esc(b, in->note);
        fc_strbuf_printf(b, "</p>");
    }
    fc_strbuf_printf(b, "</section></header>\n");
    if (in->val_metrics) {
        section_summary(b, in);
        section_confusion(b, in);
        section_per_class(b, in);
    }
    if (in->n_epochs > 0 && section_training(b, in) < 0) b->failed = 1;
    if (in->kind == FC_REPORT_SWEEP && section_sweep(b, in, metric) < 0) b->failed = 1;
    if (in->kind == FC_REPORT_ADVICE) {
        section_advice(b, in);
        section_probes(b, in);
    } else {
        section_worst(b, in);
    }
    fc_strbuf_printf(b, "</main></body></html>\n");
    if (b->failed) return fc_fail(err, FC_ENOMEM, "report: out of memory building the page");
    return 0;
}

int fc_report_write_html(const fc_report_input *in, const char *path, fc_error *err) {
    if (!path) return fc_fail(err, FC_EINVAL, "report: NULL path");
    fc_strbuf b = {0};
    int rc = fc_report_render(in, &b, err);
    if (rc == 0) rc = fc_file_write_atomic(path, (const unsigned char *)b.s, b.len, err);
    fc_strbuf_free(&b);
    return rc;
}
