/* Writes the seed corpora of the fuzz targets: OUTDIR/{image,onnx,csv,head}/ with small valid inputs
 * that reach deep into each parser (JPEG baseline/progressive/gray/4:4:4, PNG RGB/gray/palette/
 * 16-bit RGBA/interlaced, GIF/WebP/BMP/TIFF of several layouts (tests/support/format_seeds.c), ONNX models using most supported ops, head files of every kind, CSV
 * manifests with quoting, headers and splits). Deterministic: the same files every run. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "classify/head_onnx.h"
#include "core/file.h"
#include "extract/image.h"
#include "engine/model.h"
#include "extract/dataset.h"
#include "store/cache.h"
#include "tests/support/format_seeds.h"
#include "tests/support/onnx_build.h"

static char outdir[1024];
static int failures;

static const char *path_of(const char *target, const char *name) {
    static char p[2048];
    snprintf(p, sizeof p, "%s/%s/%s", outdir, target, name);
    return p;
}

static void write_bytes(const char *target, const char *name, const void *data, size_t n) {
    FILE *f = fopen(path_of(target, name), "wb");
    if (!f || fwrite(data, 1, n, f) != n) { fprintf(stderr, "make_seeds: cannot write %s\n", path_of(target, name)); failures++; }
    if (f) fclose(f);
}

/* ---- images ---- */
static void pattern(unsigned char *px, int w, int h, int ch) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) px[((size_t)y * w + x) * ch + c] = (unsigned char)(x * 16 + y * 7 + c * 85);
}

static void jpeg(const char *name, int w, int h, int pf, int subsamp, int flags) {
    int ch = tjPixelSize[pf];
    unsigned char *px = malloc((size_t)w * h * ch), *out = NULL;
    unsigned long size = 0;
    pattern(px, w, h, ch);
    tjhandle tj = tjInitCompress();
    if (!tj || tjCompress2(tj, px, w, 0, h, pf, &out, &size, subsamp, 75, flags) != 0) {
        fprintf(stderr, "make_seeds: JPEG %s failed\n", name);
        failures++;
    } else {
        write_bytes("image", name, out, size);
    }
    tjFree(out);
    if (tj) tjDestroy(tj);
    free(px);
}

typedef struct { unsigned char *p; size_t n, cap; } membuf;
static void png_mem_write(png_structp png, png_bytep d, png_size_t n) {
    membuf *b = png_get_io_ptr(png);
    if (b->n + n > b->cap) { b->cap = (b->n + n) * 2; b->p = realloc(b->p, b->cap); }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void png_mem_flush(png_structp png) { (void)png; }

static void png(const char *name, int w, int h, int color, int depth, int interlace) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    membuf b = {0};
    if (setjmp(png_jmpbuf(png))) { fprintf(stderr, "make_seeds: PNG %s failed\n", name); failures++; goto done; }
    png_set_write_fn(png, &b, png_mem_write, png_mem_flush);
    png_set_IHDR(png, info, w, h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    int ch = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGBA ? 4 : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
        png_byte trns[1] = {128};
        png_set_PLTE(png, info, pal, 4);
        png_set_tRNS(png, info, trns, 1, NULL);
    }
    png_write_info(png, info);
    size_t rowbytes = (size_t)w * ch * (depth == 16 ? 2 : 1);
    unsigned char *row = malloc(rowbytes);
    int passes = interlace ? png_set_interlace_handling(png) : 1;
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++) {
            for (size_t i = 0; i < rowbytes; i++)
                row[i] = (unsigned char)(color == PNG_COLOR_TYPE_PALETTE ? (i + y) % 4 : i * 13 + y * 5);
            png_write_row(png, row);
        }
    free(row);
    png_write_end(png, info);
    write_bytes("image", name, b.p, b.n);
done:
    png_destroy_write_struct(&png, &info);
    free(b.p);
}

/* ---- ONNX models ---- */
static float *ramp(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = scale * (float)((int)(i % 7) - 3);
    return v;
}

static void save(ob_model *m, const char *name) {
    if (ob_write(m, path_of("onnx", name))) { fprintf(stderr, "make_seeds: %s failed\n", name); failures++; }
}

static void onnx_seeds(void) {
    /* conv -> bn -> relu -> maxpool -> depthwise conv -> clip -> gap -> flatten -> gemm -> softmax */
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "prob");
    int64_t wd[4] = {4, 3, 3, 3}, bd[1] = {4}, dwd[4] = {4, 1, 3, 3}, gd[2] = {5, 4}, gb[1] = {5};
    float *w = ramp(108, 0.1f), *b = ramp(4, 0.2f), *dw = ramp(36, 0.3f), *g = ramp(20, 0.5f), *gbv = ramp(5, 0.1f);
    float sc[4] = {1, 0.5f, 2, 1}, bi[4] = {0, 0.1f, -0.1f, 0}, mu[4] = {0.1f, 0, 0, 0.2f}, var[4] = {1, 2, 0.5f, 1};
    ob_init(m, "w", 4, wd, w);
    ob_init(m, "b", 1, bd, b);
    ob_init(m, "s", 1, bd, sc);
    ob_init(m, "bi", 1, bd, bi);
    ob_init(m, "mu", 1, bd, mu);
    ob_init(m, "var", 1, bd, var);
    ob_init(m, "dw", 4, dwd, dw);
    ob_init(m, "g", 2, gd, g);
    ob_init(m, "gb", 1, gb, gbv);
    int n = ob_node(m, "Conv", "conv", "x,w,b", "c");
    int64_t pads[4] = {1, 1, 1, 1}, k2[2] = {2, 2}, s2[2] = {2, 2};
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_node(m, "BatchNormalization", "bn", "c,s,bi,mu,var", "bn");
    ob_node(m, "Relu", "relu", "bn", "r");
    n = ob_node(m, "MaxPool", "pool", "r", "p");
    ob_attr_ints(m, n, "kernel_shape", 2, k2);
    ob_attr_ints(m, n, "strides", 2, s2);
    n = ob_node(m, "Conv", "dwconv", "p,dw", "d");
    ob_attr_int(m, n, "group", 4);
    ob_attr_ints(m, n, "pads", 4, pads);
    n = ob_node(m, "Clip", "clip", "d", "cl");
    ob_node(m, "GlobalAveragePool", "gap", "cl", "gp");
    ob_node(m, "Flatten", "flat", "gp", "f");
    n = ob_node(m, "Gemm", "fc", "f,g,gb", "logits");
    ob_attr_int(m, n, "transB", 1);
    ob_node(m, "Softmax", "softmax", "logits", "prob");
    save(m, "cnn.onnx");

    /* shape arithmetic: Shape/Gather/Unsqueeze/Concat/Reshape, Transpose, Slice, Pad, Squeeze */
    m = ob_new(13);
    ob_input(m, "x", 1, 2, 4, 4);
    ob_output(m, "y");
    int64_t zero[1] = {0}, minus1[1] = {-1}, starts[1] = {1}, ends[1] = {3}, axes[1] = {2};
    int64_t padv[8] = {0, 0, 1, 1, 0, 0, 1, 1};
    ob_init_i64(m, "zero", 1, zero);
    ob_init_i64(m, "m1", 1, minus1);
    ob_init_i64(m, "st", 1, starts);
    ob_init_i64(m, "en", 1, ends);
    ob_init_i64(m, "ax", 1, axes);
    ob_init_i64(m, "padv", 8, padv);
    ob_node(m, "Shape", "shape", "x", "sh");
    n = ob_node(m, "Gather", "gather", "sh,zero", "n0");
    ob_attr_int(m, n, "axis", 0);
    n = ob_node(m, "Concat", "cat", "n0,m1", "tgt");
    ob_attr_int(m, n, "axis", 0);
    ob_node(m, "Pad", "pad", "x,padv", "pd");
    ob_node(m, "Slice", "slice", "pd,st,en,ax", "sl");
    n = ob_node(m, "Transpose", "tr", "sl", "t");
    int64_t perm[4] = {0, 1, 3, 2};
    ob_attr_ints(m, n, "perm", 4, perm);
    ob_node(m, "Reshape", "reshape", "t,tgt", "y");
    save(m, "shapes.onnx");

    /* elementwise family and reductions */
    m = ob_new(13);
    ob_input(m, "x", 1, 2, 3, 3);
    ob_output(m, "y");
    ob_output(m, "z");
    int64_t cd[4] = {1, 2, 1, 1};
    float cv[2] = {0.5f, -1.5f};
    ob_init(m, "c", 4, cd, cv);
    ob_node(m, "Add", "add", "x,c", "a");
    ob_node(m, "Mul", "mul", "a,c", "b");
    ob_node(m, "Sub", "sub", "b,x", "s");
    ob_node(m, "Div", "div", "s,c", "dv");
    ob_node(m, "Max", "max", "dv,x", "mx");
    ob_node(m, "Min", "min", "mx,c", "mn");
    ob_node(m, "Sigmoid", "sig", "mn", "sg");
    ob_node(m, "HardSigmoid", "hsig", "sg", "hs");
    ob_node(m, "HardSwish", "hsw", "hs", "hw");
    n = ob_node(m, "LeakyRelu", "lrelu", "hw", "lr");
    ob_attr_float(m, n, "alpha", 0.2f);
    ob_node(m, "Tanh", "tanh", "lr", "th");
    ob_node(m, "Dropout", "drop", "th", "dr");
    ob_node(m, "Identity", "id", "dr", "idt");
    n = ob_node(m, "ReduceMean", "rmean", "idt", "y");
    int64_t ax23[2] = {2, 3};
    ob_attr_ints(m, n, "axes", 2, ax23);
    n = ob_node(m, "AveragePool", "apool", "x", "ap");
    ob_attr_ints(m, n, "kernel_shape", 2, k2);
    ob_attr_int(m, n, "count_include_pad", 1);
    ob_node(m, "GlobalMaxPool", "gmp", "ap", "gm");
    n = ob_node(m, "ReduceL2", "rl2", "gm", "l2");
    ob_attr_int(m, n, "keepdims", 1);
    int64_t one[1] = {1};
    ob_init_i64(m, "ax1", 1, one);
    ob_node(m, "ReduceSum", "rsum", "l2,ax1", "z");
    save(m, "elementwise.onnx");

    /* MatMul on flattened features, Unsqueeze/Squeeze/Cast, opset 11 */
    m = ob_new(11);
    ob_input(m, "x", 1, 4, 1, 1);
    ob_output(m, "y");
    int64_t md[2] = {4, 3};
    float *mw = ramp(12, 0.25f);
    ob_init(m, "mw", 2, md, mw);
    n = ob_node(m, "Squeeze", "sq", "x", "sqz");
    int64_t a23[2] = {2, 3};
    ob_attr_ints(m, n, "axes", 2, a23);
    ob_node(m, "MatMul", "mm", "sqz,mw", "mmo");
    n = ob_node(m, "Unsqueeze", "unsq", "mmo", "u");
    int64_t a2[1] = {2};
    ob_attr_ints(m, n, "axes", 1, a2);
    n = ob_node(m, "Cast", "cast", "u", "y");
    ob_attr_int(m, n, "to", 1);
    save(m, "matmul.onnx");

    /* residual add after conv (fused epilogue), strided and dilated convs, symbolic batch */
    m = ob_new(13);
    ob_input(m, "x", 0, 2, 8, 8);
    ob_output(m, "y");
    int64_t w1d[4] = {2, 2, 1, 1}, w3d[4] = {2, 2, 3, 3};
    float *w1 = ramp(4, 0.5f), *w3 = ramp(36, 0.1f);
    ob_init(m, "w1", 4, w1d, w1);
    ob_init(m, "w3", 4, w3d, w3);
    ob_node(m, "Conv", "c1", "x,w1", "a");
    ob_node(m, "Add", "res", "a,x", "r");
    ob_node(m, "Relu", "rl", "r", "rr");
    n = ob_node(m, "Conv", "c3", "rr,w3", "y");
    int64_t dil[2] = {2, 2};
    ob_attr_ints(m, n, "strides", 2, s2);
    ob_attr_ints(m, n, "dilations", 2, dil);
    ob_attr_ints(m, n, "pads", 4, pads);
    save(m, "residual.onnx");
    free(w); free(b); free(dw); free(g); free(gbv); free(mw); free(w1); free(w3);
}

/* ---- head files ---- */
static void head(const char *name, fc_transform_kind kind, int n_layers, const int *dims, int names,
                 const char *meta) {
    fc_head h;
    memset(&h, 0, sizeof h);
    fc_error err = {0};
    h.transform.kind = kind;
    h.transform.dim = dims[0];
    h.transform.eps = kind == FC_TRANSFORM_L2 ? FC_TRANSFORM_L2_EPS : 0;
    if (kind == FC_TRANSFORM_STANDARDIZE) {
        h.transform.mean = ramp(dims[0], 0.1f);
        h.transform.scale = malloc(dims[0] * sizeof(float));
        for (int i = 0; i < dims[0]; i++) h.transform.scale[i] = 1.0f + 0.1f * i;
    }
    for (int i = 0; i < n_layers; i++) {
        int last = i == n_layers - 1;
        if (fc_layer_alloc(&h.layers[i], dims[i], dims[i + 1], last ? FC_ACTIVATION_NONE : FC_ACTIVATION_RELU, &err))
            failures++;
        for (int j = 0; j < dims[i] * dims[i + 1]; j++) h.layers[i].W[j] = 0.1f * (float)((j % 5) - 2);
        for (int j = 0; j < dims[i + 1]; j++) h.layers[i].b[j] = 0.05f * j;
    }
    h.n_layers = n_layers;
    h.n_classes = dims[n_layers];
    if (names) {
        const char *nm[4] = {"ants", "bees \"honey\"", "caf\xc3\xa9\\x", "tab\there"};
        if (fc_head_set_class_names(&h, nm, h.n_classes, &err)) failures++;
    }
    if (fc_head_save_onnx(&h, path_of("head", name), meta, &err)) {
        fprintf(stderr, "make_seeds: %s: %s\n", name, err.msg);
        failures++;
    }
    fc_head_free(&h);
}

/* ---- feature stores ---- */

/* Removes a scratch cache folder. */
static void remove_store(const char *dir) {
    char p[1200];
    snprintf(p, sizeof p, "%s/features.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/features.mdb-lock", dir);
    unlink(p);
    rmdir(dir);
}

/* A store made with the cache API, its features.mdb written as seed `name`: n values of `floats`
 * f32 elements under two extractors (small values share leaf pages, ones over ~2 KiB take overflow
 * pages, many make branch pages), one transaction each, then the values of the first `deleted`
 * items deleted (free pages listed in the free-page tree). */
static void store(const char *name, int n, int floats, int deleted) {
    char dir[] = "/tmp/fc_seed_store.XXXXXX";
    fc_cache *c = NULL;
    fc_error err = {0};
    float *data = ramp((size_t)floats, 0.25f);
    int rc = mkdtemp(dir) ? fc_cache_open(dir, 0, NULL, &c, &err) : fc_fail(&err, FC_EIO, "mkdtemp failed");
    for (int i = 0; i < n + deleted && rc == 0; i++) {
        fc_feature f = {.dtype = i % 3 ? FC_DTYPE_F32 : FC_DTYPE_F16, .rank = 1, .dims = {(uint32_t)floats}, .data = data};
        memset(f.key.extractor, i % 2 ? 0x11 : 0xee, 32);
        memset(f.key.item, i < n ? i / 2 + 1 : i - n + 1, 32); /* deletes: the first items put */
        f.key.view = (uint16_t)(i % 4 == 3);
        rc = i < n ? fc_cache_put(c, &f, 1, &err) : fc_cache_delete_items(c, (const uint8_t(*)[32])f.key.item, 1, NULL, &err);
    }
    fc_cache_close(c);
    unsigned char *bytes = NULL;
    size_t size = 0;
    char p[1200];
    snprintf(p, sizeof p, "%s/features.mdb", dir);
    if (rc == 0) rc = fc_file_read(p, 1 << 20, &bytes, &size, &err);
    if (rc == 0) write_bytes("cache", name, bytes, size);
    else fprintf(stderr, "make_seeds: store %s: %s\n", name, err.msg), failures++;
    free(bytes);
    free(data);
    remove_store(dir);
}

/* A store seed is accepted when it opens and every value in it passes its checks. */
static int visit_store(void *user, const fc_feature_key *key, const fc_feature_view *view, const fc_error *problem) {
    (void)key, (void)view;
    if (problem) *(fc_error *)user = *problem;
    return problem ? FC_EFORMAT : 0;
}

static int check_store(const unsigned char *data, size_t size, fc_error *err) {
    char dir[] = "/tmp/fc_seed_check.XXXXXX", p[1200];
    if (!mkdtemp(dir)) return fc_fail(err, FC_EIO, "mkdtemp failed");
    snprintf(p, sizeof p, "%s/features.mdb", dir);
    fc_cache *c = NULL;
    int rc = fc_file_write_atomic(p, data, size, err);
    if (rc == 0) rc = fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &c, err);
    if (rc == 0) rc = fc_cache_foreach(c, NULL, FC_CACHE_VISIT_VERIFY, visit_store, err, err);
    fc_cache_close(c);
    remove_store(dir);
    return rc;
}

/* Every seed must be accepted all the way (model loaded and planned, head loaded, image decoded,
 * manifest parsed), or the corpus would not reach deep code. */
static void check(const char *target, const char *name) {
    unsigned char *data = NULL;
    size_t size = 0;
    fc_error err = {0};
    int rc = fc_file_read(path_of(target, name), 1 << 20, &data, &size, &err);
    if (rc == 0 && !strcmp(target, "image")) {
        fc_image img;
        rc = fc_image_decode(data, size, name, 0, 0, FC_EXIF_APPLY, &img, &err);
        fc_image_free(&img);
    } else if (rc == 0 && !strcmp(target, "onnx")) {
        fc_model *m = NULL;
        fc_session *s = NULL;
        fc_session_options so = {.batch = 1, .threads = 1};
        rc = fc_model_load_mem(name, data, size, NULL, &m, &err);
        if (rc == 0) rc = fc_session_create(m, &so, &s, &err);
        fc_session_free(s);
        fc_model_free(m);
    } else if (rc == 0 && !strcmp(target, "head")) {
        fc_head h;
        rc = fc_head_load_onnx_mem(name, data, size, &h, NULL, &err);
        if (rc == 0) fc_head_free(&h);
    } else if (rc == 0 && !strcmp(target, "cache")) {
        rc = check_store(data, size, &err);
    } else if (rc == 0) {
        fc_dataset d;
        rc = fc_dataset_parse_csv(name, "/data", data, size, &d, &err);
        if (rc == 0) fc_dataset_free(&d);
    }
    free(data);
    if (rc) { fprintf(stderr, "make_seeds: seed %s/%s is refused: %s\n", target, name, err.msg); failures++; }
}

static void csv(const char *name, const char *text) { write_bytes("csv", name, text, strlen(text)); }

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: make_seeds OUTDIR\n"); return 64; }
    snprintf(outdir, sizeof outdir, "%s", argv[1]);
    mkdir(outdir, 0755);
    const char *targets[] = {"image", "onnx", "csv", "head", "cache"};
    for (int i = 0; i < 5; i++) mkdir(path_of(targets[i], ""), 0755);

    jpeg("rgb420.jpg", 16, 16, TJPF_RGB, TJSAMP_420, 0);
    jpeg("rgb444_odd.jpg", 13, 7, TJPF_RGB, TJSAMP_444, 0);
    jpeg("gray.jpg", 9, 17, TJPF_GRAY, TJSAMP_GRAY, 0);
    jpeg("progressive.jpg", 24, 8, TJPF_RGB, TJSAMP_422, TJFLAG_PROGRESSIVE);
    jpeg("cmyk.jpg", 8, 8, TJPF_CMYK, TJSAMP_444, 0);
    jpeg("big_dct.jpg", 64, 48, TJPF_RGB, TJSAMP_420, 0);
    png("rgb.png", 7, 5, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE);
    png("gray.png", 5, 9, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE);
    png("gray2bit.png", 6, 3, PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE);
    png("palette_trns.png", 4, 4, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE);
    png("rgba16.png", 3, 3, PNG_COLOR_TYPE_RGBA, 16, PNG_INTERLACE_NONE);
    png("graya_interlaced.png", 9, 9, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_ADAM7);
    if (fc_test_write_format_seeds(path_of("image", ""))) { fprintf(stderr, "make_seeds: GIF/WebP/BMP/TIFF seeds failed\n"); failures++; }

    onnx_seeds();

    int d1[2] = {4, 3}, d2[3] = {5, 4, 2}, d3[4] = {3, 6, 4, 4};
    head("softmax_std.onnx", FC_TRANSFORM_STANDARDIZE, 1, d1, 1, "{\"kind\":\"softmax\",\"l2\":1}");
    head("mlp_l2.onnx", FC_TRANSFORM_L2, 2, d2, 0, NULL);
    head("mlp3_none.onnx", FC_TRANSFORM_NONE, 3, d3, 1, "{}");

    csv("basic.csv", "path,label,split\na.jpg,cat,train\nb.jpg,dog,val\nsub/c.jpg,cat,test\n");
    csv("noheader.csv", "x/1.png,ants\r\nx/2.png,bees\r\n\r\n/abs/3.png,ants\r\n");
    csv("quoted.csv", "\"a,b.jpg\",\"say \"\"hi\"\"\",valid\n\"multi\nline.jpg\", lbl ,validation\nz.jpg,,\n");
    csv("unlabeled.csv", "path,label\nonly.jpg,\n");
    store("empty.mdb", 0, 4, 0);
    store("inline.mdb", 3, 8, 0);
    store("overflow.mdb", 3, 1500, 0);
    store("branch.mdb", 120, 8, 0);
    store("freed.mdb", 40, 8, 12);
    const char *all[] = {"cache/empty.mdb", "cache/inline.mdb", "cache/overflow.mdb", "cache/branch.mdb", "cache/freed.mdb",
                         "image/rgb420.jpg", "image/rgb444_odd.jpg", "image/gray.jpg", "image/progressive.jpg",
                         "image/cmyk.jpg", "image/big_dct.jpg", "image/rgb.png", "image/gray.png",
                         "image/gray2bit.png", "image/palette_trns.png", "image/rgba16.png",
                         "image/graya_interlaced.png", "onnx/cnn.onnx", "onnx/shapes.onnx",
                         "onnx/elementwise.onnx", "onnx/matmul.onnx", "onnx/residual.onnx",
                         "head/softmax_std.onnx", "head/mlp_l2.onnx", "head/mlp3_none.onnx",
                         "csv/basic.csv", "csv/noheader.csv", "csv/quoted.csv", "csv/unlabeled.csv"};
    for (int i = 0; fc_test_format_seed_names[i]; i++) check("image", fc_test_format_seed_names[i]);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        char t[16];
        const char *slash = strchr(all[i], '/');
        snprintf(t, sizeof t, "%.*s", (int)(slash - all[i]), all[i]);
        check(t, slash + 1);
    }
    return failures ? 1 : 0;
}
