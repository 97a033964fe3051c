/* Sweeps of head configurations (see sweep.h): grid text -> distinct configurations -> jobs ->
 * parallel fits -> ranking and catalog records. The grid's values stay text until they are applied
 * to a configuration, so a range prints and parses its values exactly as a comma list would. */
#include "classify/sweep.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/convhead.h"
#include "classify/record.h"

typedef struct grid_key {
    char name[32];
    char values[FC_SWEEP_MAX_VALUES][64];
    int n;
} grid_key;

/* Keys whose values are scale parameters: a range of them with both bounds > 0 is log-spaced. */
static int log_scaled(const char *key) { return !strcmp(key, "l2") || !strcmp(key, "lr"); }

/* Expands "A..B:N" into key->values: N values from A to B, log-spaced for l2 and lr when both
 * bounds are > 0, else evenly spaced (dropout=0..0.5:3 gives 0, 0.25, 0.5). */
static int parse_range(const char *text, const char *dots, grid_key *key, fc_error *err) {
    char start[64], *end;
    if ((size_t)(dots - text) >= sizeof start) return fc_fail(err, FC_EINVAL, "grid %s: bad range start in '%s'", key->name, text);
    memcpy(start, text, (size_t)(dots - text)); /* strtod alone would take the 0. of 0..0.5 */
    start[dots - text] = 0;
    double a = strtod(start, &end), b;
    if (end == start || *end || !isfinite(a)) return fc_fail(err, FC_EINVAL, "grid %s: bad range start in '%s'", key->name, text);
    b = strtod(dots + 2, &end);
    if (end == dots + 2 || !isfinite(b)) return fc_fail(err, FC_EINVAL, "grid %s: bad range end in '%s'", key->name, text);
    if (*end != ':') return fc_fail(err, FC_EINVAL, "grid %s: a range needs :N (e.g. 1e-6..1e2:9)", key->name);
    long n = strtol(end + 1, &end, 10);
    if (*end || n < 2 || n > FC_SWEEP_MAX_VALUES)
        return fc_fail(err, FC_EINVAL, "grid %s: N must be 2..%d", key->name, FC_SWEEP_MAX_VALUES);
    int geometric = log_scaled(key->name) && a > 0 && b > 0;
    for (long i = 0; i < n; i++) {
        double t = (double)i / (n - 1);
        double v = geometric ? exp(log(a) + t * (log(b) - log(a))) : a + t * (b - a);
        snprintf(key->values[key->n++], sizeof key->values[0], "%.6g", v);
    }
    return 0;
}

/* Expands "a,b,c" or "A..B:N" into key->values. */
static int parse_values(const char *text, grid_key *key, fc_error *err) {
    const char *dots = strstr(text, "..");
    if (dots) return parse_range(text, dots, key, err);
    const char *s = text;
    while (*s) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        if (!len || len >= sizeof key->values[0] || key->n == FC_SWEEP_MAX_VALUES)
            return fc_fail(err, FC_EINVAL, "grid %s: bad value list '%s'", key->name, text);
        memcpy(key->values[key->n], s, len);
        key->values[key->n++][len] = 0;
        s += len + (c ? 1 : 0);
    }
    return key->n ? 0 : fc_fail(err, FC_EINVAL, "grid %s: no values", key->name);
}

/* Splits the grid into keys[0..*n_keys) (FC_SWEEP_MAX_KEYS of them) with their values. */
static int parse_grid(const char *grid, grid_key *keys, int *n_keys, fc_error *err) {
    static const char *const known[] = {"head", "l2", "lr", "hidden", "dropout", "epochs", "batch", "seed",
                                        "normalize", "conv", "schedule"};
    char *copy = strdup(grid), *save = NULL;
    if (!copy) return fc_fail(err, FC_ENOMEM, "grid: out of memory");
    int rc = 0;
    *n_keys = 0;
    for (char *tok = strtok_r(copy, " \t", &save); tok && rc == 0; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || *n_keys == FC_SWEEP_MAX_KEYS) {
            rc = fc_fail(err, FC_EINVAL, "grid: '%s' is not KEY=VALUES", tok);
            break;
        }
        grid_key *k = &keys[(*n_keys)++];
        memset(k, 0, sizeof *k);
        snprintf(k->name, sizeof k->name, "%.*s", (int)(eq - tok), tok);
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++) ok |= !strcmp(k->name, known[i]);
        if (!ok) { rc = fc_fail(err, FC_EINVAL, "grid: unknown key '%s'", k->name); break; }
        for (int q = 0; q < *n_keys - 1 && rc == 0; q++)
            if (!strcmp(keys[q].name, k->name))
                rc = fc_fail(err, FC_EINVAL, "grid: key '%s' is given twice (list all its values in one term)", k->name);
        if (rc) break;
        rc = parse_values(eq + 1, k, err);
    }
    free(copy);
    if (rc == 0 && *n_keys == 0) rc = fc_fail(err, FC_EINVAL, "grid: empty");
    return rc;
}

static int apply_value(fc_head_config *c, const char *key, const char *v, fc_error *err) {
    char *end = NULL;
    if (!strcmp(key, "head")) return fc_head_kind_parse(v, &c->kind, err);
    if (!strcmp(key, "normalize")) return fc_transform_parse(v, &c->normalize, err);
    if (!strcmp(key, "conv")) return fc_conv_spec_parse(v, &c->conv, err); /* 128+128s2: blocks joined by + */
    if (!strcmp(key, "schedule")) return fc_schedule_parse(v, &c->schedule, err);
    if (!strcmp(key, "hidden")) {
        long a = strtol(v, &end, 10), b = 0;
        if (*end == '+') b = strtol(end + 1, &end, 10);
        if (*end || a < 1 || b < 0 || a > 65536 || b > 65536)
            return fc_fail(err, FC_EINVAL, "grid hidden: '%s' (use 512 or 512+256)", v);
        c->n_hidden = b ? 2 : 1;
        c->hidden[0] = (int)a;
        c->hidden[1] = (int)b;
        return 0;
    }
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < 0) return fc_fail(err, FC_EINVAL, "grid %s: '%s' is not a number >= 0", key, v);
    int whole = !strcmp(key, "epochs") || !strcmp(key, "batch") || !strcmp(key, "seed");
    if (whole && (x != floor(x) || x > 2147483647 || (x < 1 && strcmp(key, "seed"))))
        return fc_fail(err, FC_EINVAL, "grid %s: '%s' is not a whole number%s", key, v, strcmp(key, "seed") ? " >= 1" : "");
    if (!strcmp(key, "l2")) c->l2 = x;
    else if (!strcmp(key, "lr")) c->lr = x;
    else if (!strcmp(key, "dropout")) c->dropout = x;
    else if (!strcmp(key, "epochs")) c->epochs = (int)x;
    else if (!strcmp(key, "batch")) c->batch = (int)x;
    else if (!strcmp(key, "seed")) c->seed = (uint64_t)x;
    return 0;
}

/* The FC_HEAD_GIVEN_* bit of a grid key (0: none). */
static unsigned given_bit(const char *key) {
    static const struct { const char *key; unsigned bit; } bits[] = {
        {"l2", FC_HEAD_GIVEN_L2}, {"lr", FC_HEAD_GIVEN_LR}, {"epochs", FC_HEAD_GIVEN_EPOCHS},
        {"batch", FC_HEAD_GIVEN_BATCH}, {"dropout", FC_HEAD_GIVEN_DROPOUT}, {"hidden", FC_HEAD_GIVEN_HIDDEN},
        {"conv", FC_HEAD_GIVEN_CONV}, {"schedule", FC_HEAD_GIVEN_SCHEDULE}};
    for (size_t i = 0; i < sizeof bits / sizeof *bits; i++)
        if (!strcmp(key, bits[i].key)) return bits[i].bit;
    return 0;
}

/* Parameters a head kind does not use are reset so that duplicates collapse; a conv head takes its
 * defaults for what the grid does not set (given). */
static void canonical(fc_head_config *c, const fc_head_config *base, unsigned given) {
    if (c->kind == FC_HEAD_CONV) {
        fc_head_config_conv_defaults(c, given);
        return;
    }
    c->conv = base->conv;
    c->schedule = base->schedule;
    if (c->kind != FC_HEAD_MLP) {
        c->lr = base->lr; c->epochs = base->epochs; c->batch = base->batch; c->dropout = base->dropout;
        c->seed = base->seed; c->n_hidden = base->n_hidden; c->hidden[0] = base->hidden[0]; c->hidden[1] = base->hidden[1];
    }
    if (c->kind == FC_HEAD_NCM) { c->l2 = 0; c->normalize = FC_TRANSFORM_L2; }
}

/* Every combination of the keys' values (the first key fastest) into cfgs, duplicates dropped. */
static int expand(const grid_key *keys, int n_keys, const fc_head_config *base, fc_head_config *cfgs,
                  int *n_cfg, fc_error *err) {
    int idx[FC_SWEEP_MAX_KEYS] = {0};
    unsigned given = 0;
    for (int k = 0; k < n_keys; k++) given |= given_bit(keys[k].name);
    *n_cfg = 0;
    for (;;) {
        fc_head_config cfg = *base;
        for (int k = 0; k < n_keys; k++)
            if (apply_value(&cfg, keys[k].name, keys[k].values[idx[k]], err)) return FC_EINVAL;
        canonical(&cfg, base, given);
        int dup = 0;
        for (int i = 0; i < *n_cfg && !dup; i++) dup = !memcmp(&cfgs[i], &cfg, sizeof cfg);
        if (!dup) {
            if (*n_cfg == FC_SWEEP_MAX_CONFIGS)
                return fc_fail(err, FC_EINVAL, "more than %d configurations", FC_SWEEP_MAX_CONFIGS);
            cfgs[(*n_cfg)++] = cfg;
        }
        int k = 0;
        while (k < n_keys && ++idx[k] == keys[k].n) idx[k++] = 0;
        if (k == n_keys) return 0;
    }
}

/* Orders cfgs[0..n) into s->configs by job: each softmax configuration takes every later softmax
 * configuration with the same normalize into its path; everything else is a job of its own. */
static int group(const fc_head_config *cfgs, int n, fc_sweep *s, fc_error *err) {
    char *taken = calloc((size_t)n, 1);
    s->configs = malloc((size_t)n * sizeof *s->configs);
    s->jobs = malloc((size_t)n * sizeof *s->jobs);
    if (!taken || !s->configs || !s->jobs) { free(taken); return fc_fail(err, FC_ENOMEM, "sweep: out of memory"); }
    for (int i = 0; i < n; i++) {
        if (taken[i]) continue;
        fc_sweep_job *j = &s->jobs[s->n_jobs++];
        j->first = s->n;
        s->configs[s->n++] = cfgs[i];
        taken[i] = 1;
        if (cfgs[i].kind == FC_HEAD_SOFTMAX)
            for (int q = i + 1; q < n; q++)
                if (!taken[q] && cfgs[q].kind == FC_HEAD_SOFTMAX && cfgs[q].normalize == cfgs[i].normalize) {
                    s->configs[s->n++] = cfgs[q];
                    taken[q] = 1;
                }
        j->count = s->n - j->first;
    }
    free(taken);
    return 0;
}

int fc_sweep_plan(const char *grid, const fc_head_config *base, fc_sweep *s, fc_error *err) {
    memset(s, 0, sizeof *s);
    grid_key *keys = malloc(FC_SWEEP_MAX_KEYS * sizeof *keys);
    fc_head_config *cfgs = malloc(FC_SWEEP_MAX_CONFIGS * sizeof *cfgs);
    int n_keys = 0, n_cfg = 0, rc = 0;
    if (!keys || !cfgs) rc = fc_fail(err, FC_ENOMEM, "sweep: out of memory");
    if (rc == 0) rc = parse_grid(grid, keys, &n_keys, err);
    if (rc == 0) rc = expand(keys, n_keys, base, cfgs, &n_cfg, err);
    if (rc == 0) rc = group(cfgs, n_cfg, s, err);
    free(keys);
    free(cfgs);
    if (rc) return rc;
    s->results = calloc((size_t)s->n, sizeof *s->results);
    s->ok = calloc((size_t)s->n, sizeof *s->ok);
    s->errors = calloc((size_t)s->n, sizeof *s->errors);
    if (!s->results || !s->ok || !s->errors) return fc_fail(err, FC_ENOMEM, "sweep: out of memory");
    return 0;
}

int fc_sweep_run(fc_sweep *s, const fc_problem *p, int jobs) {
    if (jobs <= 0) jobs = omp_get_max_threads();
    int inner = s->n_jobs < jobs ? jobs / s->n_jobs : 1; /* fewer jobs than cores: threads inside each fit */
    if (s->n_jobs < jobs) jobs = s->n_jobs;
#pragma omp parallel for num_threads(jobs) schedule(dynamic, 1)
    for (int j = 0; j < s->n_jobs; j++) {
        int f = s->jobs[j].first, count = s->jobs[j].count;
        if (s->configs[f].kind == FC_HEAD_SOFTMAX && count > 1) {
            if (fc_train_softmax_path(&s->configs[f], count, p, inner, &s->results[f], &s->errors[f]) == 0)
                for (int i = 0; i < count; i++) s->ok[f + i] = 1;
            else
                for (int i = 1; i < count; i++) s->errors[f + i] = s->errors[f];
        } else {
            s->ok[f] = fc_train(&s->configs[f], p, inner, &s->results[f], &s->errors[f]) == 0;
        }
    }
    int failed = 0;
    for (int i = 0; i < s->n; i++) failed += !s->ok[i];
    return failed;
}

int64_t fc_sweep_record(const fc_sweep *s, fc_catalog *cat, int64_t dataset_id, const char *extractor,
                        const char *features_json, const fc_split_spec *split, const fc_problem *p) {
    int64_t first_run = 0;
    for (int i = 0; i < s->n; i++) {
        fc_strbuf params = {0}, result = {0};
        fc_strbuf_printf(&params, "{%s,", features_json);
        fc_head_config_json(&params, &s->configs[i], split);
        fc_strbuf_printf(&params, ",\"sweep\":%lld}", (long long)first_run);
        if (s->ok[i]) fc_train_result_json(&result, &s->results[i], p);
        int64_t run_id;
        fc_error e; /* a run the catalog refuses is left out (see sweep.h) */
        if (fc_catalog_run_begin(cat, FC_RUN_SWEEP, dataset_id, extractor, params.s, &run_id, &e) == 0) {
            if (!first_run) first_run = run_id;
            fc_catalog_run_finish(cat, run_id, s->ok[i] ? FC_RUN_OK : FC_RUN_FAILED, s->ok[i] ? result.s : NULL, &e);
        }
        fc_strbuf_free(&params);
        fc_strbuf_free(&result);
    }
    return first_run;
}

static double rank_key(const fc_sweep *s, int i) {
    return s->ok[i] ? s->results[i].val.accuracy : -1;
}

void fc_sweep_rank(const fc_sweep *s, int *order) {
    for (int i = 0; i < s->n; i++) { /* insertion sort: stable, so ties keep the lower index first */
        int q = i;
        for (; q > 0 && rank_key(s, order[q - 1]) < rank_key(s, i); q--) order[q] = order[q - 1];
        order[q] = i;
    }
}

void fc_sweep_free(fc_sweep *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++)
        if (s->ok && s->ok[i]) fc_train_result_free(&s->results[i]);
    free(s->configs);
    free(s->jobs);
    free(s->results);
    free(s->ok);
    free(s->errors);
    memset(s, 0, sizeof *s);
}
