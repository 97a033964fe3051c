/* Library helpers that stand between hostile input and the rest: UTF-8 validation and JSON
 * escaping of arbitrary file-name bytes (core/strbuf), opening only regular files without ever
 * blocking (core/file: FIFO, folder, device), and the read-only-folder probe. The CLI-level
 * counterparts are tests/cli/test_limits.sh and tests/cli/test_security.sh. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/strbuf.h"
#include "tests/support/check.h"
#include "tests/support/tmpdir.h"

static void test_utf8_len(void) {
    static const struct { const char *s; int len; } cases[] = {
        {"a", 1}, {"\xC3\xA9", 2}, {"\xE2\x82\xAC", 3}, {"\xF0\x9F\x98\x80", 4}, {"\xF4\x8F\xBF\xBF", 4},
        {"", 0},
        {"\xFF", 0}, {"\xC0\xAF", 0} /* overlong '/' */, {"\xC3", 0} /* cut */, {"\xE0\x80\xAF", 0},
        {"\xED\xA0\x80", 0} /* surrogate */, {"\xF4\x90\x80\x80", 0} /* > U+10FFFF */, {"\x80", 0},
        {"\xE2\x82", 0}, {"\xF0\x9F\x98", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(fc_utf8_len(cases[i].s) == cases[i].len, "case %zu: %d, want %d", i, fc_utf8_len(cases[i].s),
              cases[i].len);
}

static void test_json_escape(void) {
    fc_strbuf b = {0};
    fc_strbuf_json(&b, "a\"b\\c\nd\x01" "\xC3\xA9" "\xFF" "x" "\xE2\x82" "y");
    const char *want = "\"a\\\"b\\\\c\\nd\\u0001\xC3\xA9\\ufffdx\\ufffd\\ufffdy\"";
    CHECK(b.s && !strcmp(b.s, want), "got %s want %s", b.s ? b.s : "(null)", want);
    fc_strbuf_free(&b);
}

static void test_open_regular(void) {
    const char *dir = fc_test_tmpdir(), *fifo = fc_test_path("fifo"), *reg = fc_test_path("file");
    FILE *w = fopen(reg, "wb");
    REQUIRE(w && fputs("hello", w) >= 0 && fclose(w) == 0, "cannot write %s", reg);
    REQUIRE(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    fc_error e = {0};
    struct stat st;
    FILE *f = fc_file_open_regular(reg, &st, &e); /* and it reads normally (blocking mode restored) */
    char buf[8] = {0};
    CHECK(f && st.st_size == 5 && fread(buf, 1, sizeof buf, f) == 5 && !strcmp(buf, "hello"), "regular: %s", e.msg);
    if (f) fclose(f);
    f = fc_file_open_regular(fifo, NULL, &e); /* would block forever with fopen */
    CHECK(!f && e.code == FC_EIO && strstr(e.msg, "fifo: a FIFO, not a regular file"), "fifo: %s", e.msg);
    if (f) fclose(f);
    f = fc_file_open_regular(dir, NULL, &e);
    CHECK(!f && strstr(e.msg, "a folder, not a regular file"), "folder: %s", e.msg);
    if (f) fclose(f);
    f = fc_file_open_regular("/dev/null", NULL, &e);
    CHECK(!f && strstr(e.msg, "/dev/null: a device or socket"), "device: %s", e.msg);
    if (f) fclose(f);
    f = fc_file_open_regular("/nonexistent/x.jpg", NULL, &e);
    CHECK(!f && strstr(e.msg, "/nonexistent/x.jpg: cannot open: No such file"), "missing: %s", e.msg);
    if (f) fclose(f);
    unsigned char *data = NULL;
    size_t size = 0;
    CHECK(fc_file_read(fifo, 1 << 20, &data, &size, &e) == FC_EIO && !data, "fc_file_read on a FIFO: %s", e.msg);
    CHECK(fc_dir_unwritable(dir) == 0, "own temp folder reported unwritable");
    CHECK(fc_dir_unwritable("/nonexistent-folder") == 0, "a missing folder is not 'read-only'");
}

int main(void) {
    RUN(test_utf8_len);
    RUN(test_json_escape);
    RUN(test_open_regular);
    return check_done();
}
