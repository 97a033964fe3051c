/* Tests for the HTML report (classify/report.h): a 2-class run report and a 5-class sweep report
 * (9 softmax configs over l2 = 1e-6..1e2 plus 2 MLP configs) are written to a temporary folder and
 * read back: sections present, metric values and confusion counts as formatted numbers, hostile
 * class names, paths and titles escaped (issue 5: a label like <script> renders as text), balanced
 * <svg>/<table>/<section> tags, no network references other than the SVG namespace, the thumbnail
 * embedded as the expected base64 data: URI, NaN shown as n/a; then input errors and the atomic
 * write (failed writes leave no temporary file and keep the old page). Set FC_TEST_REPORT_OUT to a
 * path to keep a copy of the sweep report (scripts/report_screenshot.sh renders it). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify/metrics.h"
#include "classify/report.h"
#include "tests/support/check.h"
#include "tests/support/tmpdir.h"

#define EVIL_LABEL "<script>alert(1)</script>"
#define EVIL_PATH "\"><img src=x onerror=alert(2)>.jpg"

/* 4x4 RGB checkerboard PNG and its base64 (generated with Python's zlib/struct/base64). */
static const unsigned char PNG4[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x08, 0x02, 0x00, 0x00, 0x00, 0x26, 0x93, 0x09, 0x29, 0x00,
    0x00, 0x00, 0x18, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0x70, 0xc1, 0xe1, 0x81, 0x83, 0x01,
    0x84, 0x64, 0x80, 0xb3, 0x80, 0x24, 0x03, 0x4e, 0x19, 0x00, 0xbc, 0x52, 0x1a, 0x81, 0x35, 0x9d, 0xca,
    0x8a, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
static const char PNG4_B64[] =
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAGElEQVR42mP4cMHhgYMBhGSAs4AkA04ZALxSGoE1ncqKAAAAAElFTkSuQmCC";

static unsigned lcg = 7;
static double unif(void) {
    lcg = lcg * 1664525u + 1013904223u;
    return (lcg >> 8) / 16777216.0;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Open/close tags of each name balance and nest (each close matches the innermost open). */
static int tags_nest(const char *s, char *why, size_t why_n) {
    static const char *names[] = {"svg", "table", "section", "tr", "figure", "main"};
    char stack[256];
    int depth = 0;
    for (const char *p = s; (p = strchr(p, '<')); p++) {
        int close = p[1] == '/';
        const char *t = p + 1 + close;
        for (int i = 0; i < (int)(sizeof names / sizeof *names); i++) {
            size_t l = strlen(names[i]);
            if (strncmp(t, names[i], l) || (t[l] != '>' && t[l] != ' ')) continue;
            if (!close) {
                if (depth == (int)sizeof stack) return snprintf(why, why_n, "too deep"), 0;
                stack[depth++] = (char)i;
            } else if (depth == 0 || stack[--depth] != i) {
                return snprintf(why, why_n, "</%s> at offset %ld does not close the innermost tag", names[i],
                                (long)(p - s)), 0;
            }
        }
    }
    if (depth) return snprintf(why, why_n, "%d tags left open (innermost %s)", depth, names[(int)stack[depth - 1]]), 0;
    return 1;
}

/* Any http:// or https:// other than the SVG namespace. */
static const char *network_ref(const char *s) {
    static const char ns[] = "xmlns=\"http://www.w3.org/2000/svg\"";
    for (const char *p = s; (p = strstr(p, "http")); p++) {
        if (strncmp(p, "http://", 7) && strncmp(p, "https://", 8)) continue;
        size_t off = strlen("xmlns=\"");
        if ((size_t)(p - s) >= off && !strncmp(p - off, ns, strlen(ns))) continue;
        return p;
    }
    return NULL;
}

/* Checks shared by every page: structure, escaping, no network. */
static void check_page(const char *html) {
    char why[200] = "";
    CHECK(!strncmp(html, "<!DOCTYPE html>", 15), "doctype");
    CHECK(strstr(html, "</html>") != NULL, "closed");
    CHECK(tags_nest(html, why, sizeof why), "tags: %s", why);
    CHECK(count(html, "<svg") == count(html, "</svg>"), "svg %d vs %d", count(html, "<svg"), count(html, "</svg>"));
    CHECK(count(html, "<table") == count(html, "</table>"), "table balance");
    CHECK(strcasestr(html, "<script") == NULL, "unescaped <script at offset %ld",
          (long)(strcasestr(html, "<script") - html));
    CHECK(strcasestr(html, "<img src=x") == NULL && strcasestr(html, "onerror=alert(2)>") == NULL,
          "unescaped evil path");
    const char *net = network_ref(html);
    CHECK(net == NULL, "network reference: %.60s", net);
    CHECK(strstr(html, "<link") == NULL && strstr(html, "@import") == NULL && strstr(html, "url(") == NULL,
          "external resource");
}

static void test_run_report_2_classes(void) {
    /* 6 items: true 0 0 0 1 1 1, predicted 0 0 1 1 1 0 */
    float P[6 * 2] = {0.9f, 0.1f, 0.8f, 0.2f, 0.4f, 0.6f, 0.3f, 0.7f, 0.1f, 0.9f, 0.55f, 0.45f};
    int y[6] = {0, 0, 0, 1, 1, 1};
    fc_metrics m;
    fc_error err = {0};
    REQUIRE(fc_metrics_compute(&m, P, y, 6, 2, 1, &err) == 0, "%s", err.msg);
    const char *names[2] = {"ants", "bees & wasps"};
    fc_report_item worst[2] = {
        {"val/ants/0013.jpg", 0, 1, 0.6, PNG4, sizeof PNG4},
        {"val/bees/b'7\".jpg", 1, 0, 0.55, (const unsigned char *)"GIF89a", 6}, /* not PNG/JPEG: no preview */
    };
    fc_report_input in = {.title = "ants <vs> bees", .kind = FC_REPORT_RUN, .dataset = "hymenoptera",
                          .model = "mobilenetv2 / pool (1280) / torch 224", .head = "softmax l2=1e-4 std",
                          .created = "2026-11-27 20:00", .val_metrics = &m, .class_names = names, .n_classes = 2,
                          .worst = worst, .n_worst = 2};
    const char *path = fc_test_path("run.html");
    REQUIRE(fc_report_write_html(&in, path, &err) == 0, "%s", err.msg);
    char *html = slurp(path);
    REQUIRE(html, "cannot read %s", path);
    check_page(html);
    CHECK(strstr(html, "<title>ants &lt;vs&gt; bees</title>") && strstr(html, "<h1>ants &lt;vs&gt; bees</h1>"),
          "title escaped");
    CHECK(strstr(html, "id=\"summary\"") && strstr(html, "id=\"confusion\"") && strstr(html, "id=\"per-class\"") &&
              strstr(html, "id=\"worst\""),
          "sections");
    CHECK(!strstr(html, "id=\"sweep\"") && !strstr(html, "id=\"curves\""), "no sweep sections in a run");
    CHECK(strstr(html, "<dd>hymenoptera</dd>") && strstr(html, "<dd>softmax l2=1e-4 std</dd>"), "run info");
    /* accuracy 4/6, balanced accuracy (2/3 + 2/3) / 2 */
    CHECK(strstr(html, "<div class=\"v\">0.6667</div><div class=\"k\">accuracy</div>"), "accuracy card");
    CHECK(strstr(html, "<div class=\"v\">6</div><div class=\"k\">items</div>"), "items card");
    char want[256];
    snprintf(want, sizeof want, "<div class=\"v\">%.4f</div><div class=\"k\">log-loss</div>", m.log_loss);
    CHECK(strstr(html, want), "log-loss card %s", want);
    /* confusion: 4 rects, counts 2 1 1 2, row-normalized colors; names escaped in axis labels */
    CHECK(count(html, "<rect x=") == 4, "4 cells, got %d", count(html, "<rect x="));
    CHECK(count(html, "fill=\"#fff\">2</text>") == 2 && count(html, "fill=\"#1d2733\">1</text>") == 2, "counts");
    CHECK(strstr(html, ">bees &amp; wasps</text>") && !strstr(html, "bees & wasps"), "class name escaped");
    CHECK(strstr(html, "true ants, predicted bees &amp; wasps: 1 (33.3% of row)"), "cell tooltip");
    /* per-class: precision of ants 2/3, support 3, predicted 3 */
    CHECK(strstr(html, "<tr><td class=\"l\">ants</td><td>0.6667</td><td>0.6667</td><td>0.6667</td><td>3</td>"
                       "<td>3</td></tr>"),
          "per-class row");
    /* thumbnail as data URI; the GIF gets a placeholder */
    snprintf(want, sizeof want, "src=\"data:image/png;base64,%s\"", PNG4_B64);
    CHECK(strstr(html, want), "png data URI");
    CHECK(count(html, "data:image/") == 1 && strstr(html, "no preview"), "non-PNG thumbnail left out");
    CHECK(strstr(html, "val/bees/b&#39;7&quot;.jpg"), "quotes in path escaped");
    CHECK(strstr(html, "(p = 0.600)"), "probability");
    free(html);
    fc_metrics_free(&m);
}

/* 5 classes with an evil name, 40 items with noisy probabilities. */
static int make_metrics_5(fc_metrics *m, fc_error *err) {
    enum { N = 40, K = 5 };
    float P[N * K];
    int y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        double s = 0;
        for (int c = 0; c < K; c++) s += P[i * K + c] = (float)(unif() + (c == y[i] ? 0.45 : 0));
        for (int c = 0; c < K; c++) P[i * K + c] /= (float)s;
    }
    return fc_metrics_compute(m, P, y, N, K, 2, err);
}

static void sweep_input(fc_report_input *in, fc_report_config *cf, fc_report_param *pr, const fc_metrics *m,
                        const char *const *names, fc_report_item *worst) {
    /* 9 softmax configs, l2 = 1e-6..1e2 (one decade apart), then 2 MLP configs */
    static char desc[11][64];
    int n = 0;
    for (int i = 0; i < 9; i++, n++) {
        double l2 = pow(10, -6 + i);
        snprintf(desc[n], sizeof desc[n], "softmax l2=1e%d", -6 + i);
        pr[2 * n] = (fc_report_param){"head", NAN, "softmax"};
        pr[2 * n + 1] = (fc_report_param){"l2", l2, NULL};
        double val = 0.9 - 0.02 * fabs(i - 4.0) - (i > 6 ? 0.1 : 0);
        cf[n] = (fc_report_config){desc[n], "softmax", &pr[2 * n], 2, fmin(1.0, val + 0.08), val};
    }
    cf[2].train_metric = NAN; /* not measured: shown as n/a */
    for (int i = 0; i < 2; i++, n++) {
        snprintf(desc[n], sizeof desc[n], "mlp hidden=%d l2=1e-4", i ? 1024 : 256);
        pr[2 * n] = (fc_report_param){"head", NAN, "mlp"};
        pr[2 * n + 1] = (fc_report_param){"l2", 1e-4, NULL};
        cf[n] = (fc_report_config){desc[n], "mlp", &pr[2 * n], 2, 0.99, 0.86 + 0.01 * i};
    }
    worst[0] = (fc_report_item){EVIL_PATH, 1, 3, 0.97, PNG4, sizeof PNG4};
    worst[1] = (fc_report_item){"val/c/very/long/folder/name/that/keeps/going/and/going/image_000123.png", 2, 0, 0.88,
                                PNG4, sizeof PNG4};
    worst[2] = (fc_report_item){"val/d/x.jpg", 3, 1, NAN, NULL, 0};
    *in = (fc_report_input){.title = "Sweep <b>5 classes</b>", .kind = FC_REPORT_SWEEP, .dataset = "synthetic-5",
                            .model = "resnet18 / layer avgpool (512) / torch 224",
                            .head = "softmax, standardize", .created = "2026-11-27 20:30",
                            .metric_name = "accuracy", .val_metrics = m, .class_names = names, .n_classes = 5,
                            .configs = cf, .n_configs = 11, .best = 4, .curve_param = "l2", .worst = worst,
                            .n_worst = 3};
}

static void test_sweep_report_5_classes(void) {
    fc_metrics m;
    fc_error err = {0};
    REQUIRE(make_metrics_5(&m, &err) == 0, "%s", err.msg);
    const char *names[5] = {"cat", EVIL_LABEL, "a-really-long-class-name-for-the-axis", "dog", "\"><img src=x>"};
    fc_report_config cf[11];
    fc_report_param pr[22];
    fc_report_item worst[3];
    fc_report_input in;
    sweep_input(&in, cf, pr, &m, names, worst);
    const char *path = fc_test_path("sweep.html");
    REQUIRE(fc_report_write_html(&in, path, &err) == 0, "%s", err.msg);
    const char *keep = getenv("FC_TEST_REPORT_OUT");
    if (keep && *keep) CHECK(fc_report_write_html(&in, keep, &err) == 0, "%s", err.msg);
    char *html = slurp(path);
    REQUIRE(html, "cannot read %s", path);
    check_page(html);
    /* the evil label renders as text everywhere it appears: table, axis labels, tooltips, captions */
    CHECK(count(html, "&lt;script&gt;alert(1)&lt;/script&gt;") >= 4, "escaped evil label x%d",
          count(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    CHECK(strstr(html, "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;.jpg"), "escaped evil path");
    CHECK(strstr(html, "alt=\"&quot;&gt;&lt;img src=x onerror=alert(2)&gt;.jpg\""), "escaped in attribute");
    CHECK(strstr(html, "<h1>Sweep &lt;b&gt;5 classes&lt;/b&gt;</h1>") && !strstr(html, "<b>5 classes"), "title");
    CHECK(strstr(html, "id=\"sweep\"") && strstr(html, "id=\"curves\"") && strstr(html, "id=\"confusion\""),
          "sections");
    const char *cm = strstr(html, "id=\"confusion\""), *cm_end = cm ? strstr(cm, "</section>") : NULL;
    REQUIRE(cm && cm_end, "confusion section");
    char *cms = strndup(cm, (size_t)(cm_end - cm));
    REQUIRE(cms, "oom");
    CHECK(count(cms, "<rect x=") == 25, "25 cells, got %d", count(cms, "<rect x="));
    free(cms);
    /* long class names are cut in the axis labels, full in the tooltip */
    CHECK(strstr(html, "</title>a-really-long-clas&#8230;</text>") &&
              strstr(html, "<title>a-really-long-class-name-for-the-axis</title>"),
          "cut label");
    char want[256];
    snprintf(want, sizeof want, "<div class=\"v\">%.4f</div><div class=\"k\">top-2 accuracy</div>", m.top_k_accuracy);
    CHECK(strstr(html, want), "top-2 card");
    snprintf(want, sizeof want, "<td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%d</td><td>%d</td></tr>",
             m.per_class[3].precision, m.per_class[3].recall, m.per_class[3].f1, m.per_class[3].support,
             m.per_class[3].predicted);
    CHECK(strstr(html, want), "per-class dog %s", want);
    /* sweep table sorted by validation metric: the best first and marked, l2 formatted compactly */
    const char *t = strstr(html, "id=\"sweep\"");
    REQUIRE(t, "sweep table");
    const char *r1 = strstr(t, "<tr class=\"best\"><td>1</td><td class=\"l\">softmax l2=1e-2 (best)</td>");
    CHECK(r1, "best row first");
    CHECK(strstr(t, "<td>softmax</td><td>0.01</td><td>0.9800</td><td>0.9000</td>"), "best row values");
    const char *a = strstr(t, "softmax l2=1e-3<"), *b = strstr(t, "softmax l2=1e1<"), *c = strstr(t, "softmax l2=1e2<");
    CHECK(a && b && c && a < b && b < c, "order by val");
    CHECK(strstr(t, "<td>softmax</td><td>1e-4</td><td>n/a</td><td>0.8600</td>"),
          "NaN train metric shown as n/a");
    CHECK(strstr(t, "<td>1e-6</td>") && strstr(t, "<td>100</td>"), "l2 values");
    CHECK(count(t, "<tr") == 12, "header + 11 rows, got %d", count(t, "<tr"));
    /* curves: one chart per head kind, log x axis with decade ticks 1e-6..1e2 */
    const char *cv = strstr(html, "id=\"curves\"");
    REQUIRE(cv, "curves");
    CHECK(count(cv, "<svg") == 2, "2 charts, got %d", count(cv, "<svg"));
    CHECK(strstr(cv, "softmax: accuracy vs l2 (log scale)"), "softmax chart title");
    CHECK(strstr(cv, ">1e-6</text>") && strstr(cv, ">1e2</text>") && strstr(cv, ">1e-2</text>"), "decade ticks");
    const char *pl = strstr(cv, "<polyline");
    REQUIRE(pl, "polyline");
    const char *pts = strstr(pl, "points=\"");
    REQUIRE(pts, "points");
    int npts = 0;
    double prev_x = -1, px, py;
    const char *q = pts + 8;
    int ok = 1, used;
    while (sscanf(q, "%lf,%lf%n", &px, &py, &used) == 2) {
        ok &= px > prev_x && isfinite(py);
        prev_x = px;
        npts++;
        q += used;
    }
    CHECK(npts == 9 && ok, "9 increasing points on the validation curve, got %d", npts);
    CHECK(!strstr(html, ">nan") && !strstr(html, ">-nan") && !strstr(html, "nan,") && !strstr(html, ",nan") &&
              !strstr(html, "\"nan") && !strstr(html, "inf<"),
          "no raw nan/inf");
    CHECK(strstr(html, "(p = n/a)"), "NaN probability");
    snprintf(want, sizeof want, "data:image/png;base64,%s", PNG4_B64);
    CHECK(count(html, want) == 2, "2 thumbnails");
    free(html);
    fc_metrics_free(&m);
}

static int tmp_files(void) {
    DIR *d = opendir(fc_test_tmpdir());
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".html.")) n++;
    closedir(d);
    return n;
}

static void test_errors_and_atomic_write(void) {
    fc_metrics m;
    fc_error err = {0};
    REQUIRE(make_metrics_5(&m, &err) == 0, "%s", err.msg);
    fc_report_config cf[11];
    fc_report_param pr[22];
    fc_report_item worst[3];
    fc_report_input in;
    sweep_input(&in, cf, pr, &m, NULL, worst); /* no class names: "class i" */
    const char *path = fc_test_path("atomic.html"), *bad;
    FILE *f = fopen(path, "w");
    REQUIRE(f, "create");
    fputs("old page", f);
    fclose(f);

    fc_report_input e = in;
    e.n_classes = 4;
    CHECK(fc_report_write_html(&e, path, &err) == FC_EINVAL && strstr(err.msg, "metrics have 5 classes"), "%s",
          err.msg);
    e = in;
    e.best = 11;
    CHECK(fc_report_write_html(&e, path, &err) == FC_EINVAL && strstr(err.msg, "best config 11"), "%s", err.msg);
    worst[1].predicted_label = 5;
    CHECK(fc_report_write_html(&in, path, &err) == FC_EINVAL && strstr(err.msg, "worst item 1"), "%s", err.msg);
    worst[1].predicted_label = 0;
    e = in;
    e.kind = (fc_report_kind)7;
    CHECK(fc_report_write_html(&e, path, &err) == FC_EINVAL, "kind");
    CHECK(fc_report_write_html(NULL, path, &err) == FC_EINVAL, "NULL input");
    char *old = slurp(path);
    CHECK(old && !strcmp(old, "old page"), "failed writes keep the old page");
    free(old);

    bad = fc_test_path("missing-dir/r.html");
    CHECK(fc_report_write_html(&in, bad, &err) == FC_EIO && strstr(err.msg, "missing-dir"), "%s", err.msg);

    /* rename onto a folder fails after the temporary file exists: it must be removed */
    bad = fc_test_path("folder.html");
    REQUIRE(mkdir(bad, 0755) == 0, "mkdir %s", bad);
    CHECK(fc_report_write_html(&in, bad, &err) == FC_EIO && strstr(err.msg, "folder.html"), "%s", err.msg);
    CHECK(tmp_files() == 0, "temporary file left after a failed rename");

    REQUIRE(fc_report_write_html(&in, path, &err) == 0, "%s", err.msg);
    char *html = slurp(path);
    REQUIRE(html, "read");
    check_page(html);
    CHECK(strstr(html, "<td class=\"l\">class 3</td>"), "default class names");
    CHECK(tmp_files() == 0, "temporary files left: %d", tmp_files());
    free(html);

    /* a run without metrics or worst items still makes a valid page */
    fc_report_input minimal = {.kind = FC_REPORT_RUN};
    fc_strbuf sb = {0};
    REQUIRE(fc_report_render(&minimal, &sb, &err) == 0, "%s", err.msg);
    check_page(sb.s);
    CHECK(strstr(sb.s, "<h1>featcache report</h1>") && !strstr(sb.s, "<svg"), "minimal page");
    fc_strbuf_free(&sb);
    fc_metrics_free(&m);
}

int main(void) {
    RUN(test_run_report_2_classes);
    RUN(test_sweep_report_5_classes);
    RUN(test_errors_and_atomic_write);
    return check_done();
}
