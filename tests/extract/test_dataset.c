/* Data set discovery: each layout detected and listed in sorted order with labels/splits, CSV
 * quoting and errors with line numbers, symlink loops, stray files skipped, folders too deep listed,
 * an image file refused as a data set, a byte order mark, the ants/bees set's counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract/dataset.h"
#include "tests/support/check.h"
#include "tests/support/tmpdir.h"

static char root[256];

static void touch(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) { *s = 0; mkdir(p, 0755); *s = '/'; }
    FILE *f = fopen(p, "w");
    if (f) { fputs("x", f); fclose(f); }
}

static void fresh(const char *name) {
    snprintf(root, sizeof root, "%s", fc_test_path(name));
    mkdir(root, 0755);
}

static void test_split_layout(void) {
    fresh("split");
    touch("train/cat/b.jpg"); touch("train/cat/a.jpg"); touch("train/dog/c.png");
    touch("valid/dog/d.jpg"); touch("test/cat/e.jpg"); touch("train/.hidden/x.jpg"); touch("train/cat/.DS_Store");
    fc_dataset d;
    fc_error e = {0};
    REQUIRE(fc_dataset_scan(root, FC_LAYOUT_AUTO, &d, &e) == 0, "%s", e.msg);
    CHECK(d.layout == FC_LAYOUT_SPLIT, "layout %s", fc_layout_name(d.layout));
    REQUIRE(d.n == 5, "%zu items", d.n);
    CHECK(!strcmp(d.items[0].rel, "test/cat/e.jpg") && !strcmp(d.items[0].split, "test"), "%s", d.items[0].rel);
    CHECK(!strcmp(d.items[1].rel, "train/cat/a.jpg") && !strcmp(d.items[1].label, "cat"), "%s", d.items[1].rel);
    CHECK(!strcmp(d.items[4].rel, "valid/dog/d.jpg") && !strcmp(d.items[4].split, "val"), "valid -> val: %s", d.items[4].split);
    CHECK(d.n_classes == 2 && !strcmp(d.classes[0], "cat") && !strcmp(d.classes[1], "dog"), "classes");
    fc_dataset_free(&d);
}

static void test_imagefolder_unlabeled_and_loops(void) {
    fresh("folder");
    touch("ants/1.jpg"); touch("bees/2.jpg"); touch("bees/sub/3.jpg");
    char target[512], link[512];
    snprintf(target, sizeof target, "%s/bees", root);
    snprintf(link, sizeof link, "%s/bees/sub/loop", root);
    CHECK(symlink(target, link) == 0, "symlink");
    fc_dataset d;
    fc_error e = {0};
    REQUIRE(fc_dataset_scan(root, FC_LAYOUT_AUTO, &d, &e) == 0, "%s", e.msg);
    CHECK(d.layout == FC_LAYOUT_IMAGEFOLDER, "layout %s", fc_layout_name(d.layout));
    CHECK(d.n == 3, "symlink loop: %zu items", d.n);
    CHECK(d.n == 3 && !strcmp(d.items[2].rel, "bees/sub/3.jpg") && !strcmp(d.items[2].label, "bees"), "nested label");
    fc_dataset_free(&d);
    fresh("flat");
    touch("x.jpg"); touch("y.png");
    REQUIRE(fc_dataset_scan(root, FC_LAYOUT_AUTO, &d, &e) == 0, "%s", e.msg);
    CHECK(d.layout == FC_LAYOUT_UNLABELED && d.n == 2 && d.n_classes == 0, "unlabeled: %zu", d.n);
    fc_dataset_free(&d);
    fresh("empty");
    CHECK(fc_dataset_scan(root, FC_LAYOUT_AUTO, &d, &e) == FC_EFORMAT && strstr(e.msg, "no files"), "%s", e.msg);
    CHECK(fc_dataset_scan("/nonexistent/set", FC_LAYOUT_AUTO, &d, &e) == FC_EIO && strstr(e.msg, "/nonexistent/set"), "%s", e.msg);
}

static void write_csv(const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/m.csv", root);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static void test_csv(void) {
    fresh("csv");
    write_csv("path,label,split\nimgs/a.jpg,cat,train\n\"imgs/b, c.jpg\",\"big \"\"dog\"\"\",val\n/abs/z.jpg,cat,\n");
    char p[512];
    snprintf(p, sizeof p, "%s/m.csv", root);
    fc_dataset d;
    fc_error e = {0};
    REQUIRE(fc_dataset_scan(p, FC_LAYOUT_AUTO, &d, &e) == 0, "%s", e.msg);
    CHECK(d.layout == FC_LAYOUT_CSV && d.n == 3, "%zu items", d.n);
    CHECK(!strcmp(d.items[0].rel, "/abs/z.jpg") && !strcmp(d.items[0].path, "/abs/z.jpg"), "absolute: %s", d.items[0].path);
    CHECK(!strcmp(d.items[2].rel, "imgs/b, c.jpg") && !strcmp(d.items[2].label, "big \"dog\""), "quoted: %s|%s", d.items[2].rel, d.items[2].label);
    char want[600];
    snprintf(want, sizeof want, "%s/imgs/a.jpg", root);
    CHECK(!strcmp(d.items[1].path, want), "relative to the manifest: %s", d.items[1].path);
    fc_dataset_free(&d);
    write_csv("a.jpg,cat\nb.jpg\n");
    CHECK(fc_dataset_scan(p, FC_LAYOUT_CSV, &d, &e) == FC_EFORMAT && strstr(e.msg, "m.csv:2"), "%s", e.msg);
    write_csv("a.jpg,cat,holdout\n");
    CHECK(fc_dataset_scan(p, FC_LAYOUT_CSV, &d, &e) == FC_EFORMAT && strstr(e.msg, "holdout"), "%s", e.msg);
    write_csv("a.jpg,cat\n\"b.jpg,dog\n");
    CHECK(fc_dataset_scan(p, FC_LAYOUT_CSV, &d, &e) == FC_EFORMAT && strstr(e.msg, "quote"), "%s", e.msg);
    write_csv("a.jpg,cat\na.jpg,dog\n");
    CHECK(fc_dataset_scan(p, FC_LAYOUT_CSV, &d, &e) == FC_EFORMAT && strstr(e.msg, "twice"), "%s", e.msg);
    CHECK(fc_dataset_scan(root, FC_LAYOUT_CSV, &d, &e) == FC_EINVAL, "folder as csv: %s", e.msg);
}

/* Writes size bytes of data to root/rel (folders must exist). */
static void put(const char *rel, const void *data, size_t size) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    if (f) { fwrite(data, 1, size, f); fclose(f); }
}

/* Stray files (no image by name nor bytes) are skipped and listed; an extensionless JPEG and a
 * text file named .jpg stay items; folders below the depth limit are listed, not entered; an image
 * file given as the data set is refused; a manifest may start with a byte order mark. */
static void test_stray_deep_bom(void) {
    fresh("stray");
    touch("a/1.jpg"); touch("a/notes.txt"); touch("b/2.PNG"); touch("README.md"); touch("b/fake.jpg");
    put("a/photo", "\xff\xd8\xff\xe0 JFIF", 10);
    put("a/empty", "", 0);
    put("b/anim", "GIF89a....", 10);
    char deep[600] = "a";
    for (int i = 1; i <= 32; i++) snprintf(deep + strlen(deep), sizeof deep - strlen(deep), "/d%d", i);
    char file[700];
    snprintf(file, sizeof file, "%s/y.jpg", deep);
    touch(file); /* in the 33rd level below the class folder: not entered */
    deep[strrchr(deep, '/') - deep] = 0;
    snprintf(file, sizeof file, "%s/x.jpg", deep);
    touch(file); /* the 32nd: an item */
    fc_dataset d;
    fc_error e = {0};
    REQUIRE(fc_dataset_scan(root, FC_LAYOUT_AUTO, &d, &e) == 0, "%s", e.msg);
    REQUIRE(d.n == 6, "%zu items", d.n);
    CHECK(!strcmp(d.items[0].rel, "a/1.jpg") && !strcmp(d.items[1].rel, file) && !strcmp(d.items[2].rel, "a/photo") &&
          !strcmp(d.items[3].rel, "b/2.PNG") && !strcmp(d.items[4].rel, "b/anim") && !strcmp(d.items[5].rel, "b/fake.jpg"),
          "items %s %s %s %s %s %s", d.items[0].rel, d.items[1].rel, d.items[2].rel, d.items[3].rel, d.items[4].rel,
          d.items[5].rel);
    REQUIRE(d.n_skipped == 3, "%zu skipped", d.n_skipped);
    CHECK(!strcmp(d.skipped[0], "README.md") && !strcmp(d.skipped[1], "a/empty") && !strcmp(d.skipped[2], "a/notes.txt"),
          "skipped %s %s %s", d.skipped[0], d.skipped[1], d.skipped[2]);
    snprintf(file, sizeof file, "%s/d32", deep);
    CHECK(d.n_too_deep == 1 && !strcmp(d.too_deep[0], file), "%zu too deep: %s", d.n_too_deep, d.n_too_deep ? d.too_deep[0] : "");
    fc_dataset_free(&d);
    char p[512];
    snprintf(p, sizeof p, "%s/a/photo", root);
    CHECK(fc_dataset_scan(p, FC_LAYOUT_AUTO, &d, &e) == FC_EINVAL && strstr(e.msg, "is an image file, not a data set"),
          "an image as the data set: %s", e.msg);
    fresh("only_stray");
    touch("notes.txt");
    CHECK(fc_dataset_scan(root, FC_LAYOUT_AUTO, &d, &e) == FC_EFORMAT && strstr(e.msg, "no images found (1 file") &&
          strstr(e.msg, "notes.txt"), "%s", e.msg);
    static const char bom[] = "\xef\xbb\xbfpath,label\nx.jpg,cat\n\xef\xbb\xbfy.jpg,dog\n";
    REQUIRE(fc_dataset_parse_csv("bom.csv", "/d", bom, sizeof bom - 1, &d, &e) == 0, "%s", e.msg);
    CHECK(d.n == 2 && !strcmp(d.items[0].rel, "x.jpg") && !strcmp(d.items[1].rel, "\xef\xbb\xbfy.jpg"),
          "BOM skipped at the start only: %zu items, %s", d.n, d.n ? d.items[0].rel : "");
    fc_dataset_free(&d);
}

static void test_hymenoptera(void) {
    const char *shared = check_shared_dir();
    if (!shared) SKIP("../shared not found");
    char p[512];
    snprintf(p, sizeof p, "%s/data/hymenoptera", shared);
    fc_dataset d;
    fc_error e = {0};
    REQUIRE(fc_dataset_scan(p, FC_LAYOUT_AUTO, &d, &e) == 0, "%s", e.msg);
    size_t train = 0, val = 0;
    for (size_t i = 0; i < d.n; i++) {
        train += !strcmp(d.items[i].split, "train");
        val += !strcmp(d.items[i].split, "val");
    }
    printf("  hymenoptera: %zu items (train %zu, val %zu), %zu classes\n", d.n, train, val, d.n_classes);
    CHECK(d.layout == FC_LAYOUT_SPLIT && train == 245 && val == 153 && d.n_classes == 2, "counts");
    fc_dataset_free(&d);
}

int main(void) {
    RUN(test_split_layout);
    RUN(test_imagefolder_unlabeled_and_loops);
    RUN(test_csv);
    RUN(test_stray_deep_bom);
    RUN(test_hymenoptera);
    return check_done();
}
