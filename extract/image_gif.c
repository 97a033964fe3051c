/* GIF decoder: the first frame through giflib's record-level API (later frames are never read), laid
 * out as Pillow 9.4 opens a GIF: the canvas is the logical screen grown to hold the frame, filled
 * with the frame's transparent index (its graphic control extension) or else index 0, the frame's
 * rows placed at its offset (interlaced rows in their four passes), and indices mapped through the
 * local colour table, else the global one; an index past the table, or a GIF without one, reads as
 * gray i (Pillow's palette starts as a gray ramp; a table that is the ramp gives mode "L", the
 * same bytes). Transparency is dropped, as convert("RGB") does. giflib reports errors by code
 * only (it never prints). Not here: animation, disposal, later frames. */
#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

#include "extract/image_formats.h"

typedef struct mem_reader {
    const uint8_t *data;
    size_t size, pos;
} mem_reader;

static int read_mem(GifFileType *gif, GifByteType *buf, int n) {
    mem_reader *m = gif->UserData;
    size_t k = n < 0 ? 0 : (size_t)n;
    if (k > m->size - m->pos) k = m->size - m->pos;
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (int)k;
}

/* Skips extension records before the first image, keeping the last transparent index; returns 0 at
 * the image descriptor, else a giflib error code (D_GIF_ERR_NO_IMAG_DSCR at the end of the file). */
static int seek_first_image(GifFileType *gif, int *transparent) {
    GifRecordType type;
    for (;;) {
        if (DGifGetRecordType(gif, &type) == GIF_ERROR) return gif->Error;
        if (type == IMAGE_DESC_RECORD_TYPE) return DGifGetImageDesc(gif) == GIF_ERROR ? gif->Error : 0;
        if (type == TERMINATE_RECORD_TYPE) return D_GIF_ERR_NO_IMAG_DSCR;
        if (type != EXTENSION_RECORD_TYPE) return D_GIF_ERR_WRONG_RECORD;
        int code;
        GifByteType *ext;
        if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) return gif->Error;
        if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) *transparent = (ext[1] & 1) ? ext[4] : -1;
        while (ext) /* the rest of this extension's sub-blocks */
            if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) return gif->Error;
    }
}

/* Reads the frame's rows into the canvas of indices (cw wide); 0 or a giflib error code. */
static int read_frame(GifFileType *gif, uint8_t *idx, int cw) {
    const GifImageDesc *d = &gif->Image;
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    int passes = d->Interlace ? 4 : 1;
    for (int p = 0; p < passes; p++) {
        for (int y = d->Interlace ? start[p] : 0; y < d->Height; y += d->Interlace ? step[p] : 1) {
            uint8_t *row = idx + (size_t)(d->Top + y) * cw + d->Left;
            if (DGifGetLine(gif, row, d->Width) == GIF_ERROR) return gif->Error;
        }
    }
    return 0;
}

int fc_image_decode_gif(const uint8_t *data, size_t size, const char *name, fc_image *out, fc_error *err) {
    mem_reader m = {.data = data, .size = size};
    int gerr = 0, transparent = -1, rc = 0;
    uint8_t *idx = NULL, *rgb = NULL;
    GifFileType *gif = DGifOpen(&m, read_mem, &gerr);
    if (!gif) return fc_fail(err, gerr == D_GIF_ERR_NOT_ENOUGH_MEM ? FC_ENOMEM : FC_EFORMAT, "%s: corrupt GIF: %s", name,
                             GifErrorString(gerr) ? GifErrorString(gerr) : "cannot open");
    if ((gerr = seek_first_image(gif, &transparent))) {
        rc = fc_fail(err, FC_EFORMAT, "%s: corrupt GIF: %s", name, GifErrorString(gerr) ? GifErrorString(gerr) : "no image");
        goto fail;
    }
    const GifImageDesc *d = &gif->Image;
    long long cw = d->Left + (long long)d->Width, ch = d->Top + (long long)d->Height;
    if (cw < gif->SWidth) cw = gif->SWidth;
    if (ch < gif->SHeight) ch = gif->SHeight;
    if ((rc = fc_image_check_size(cw, ch, size, "GIF", name, err))) goto fail;
    if (!(idx = malloc((size_t)cw * ch)) || !(rgb = fc_image_alloc_rgb((int)cw, (int)ch, name, err))) {
        rc = fc_fail(err, FC_ENOMEM, "%s: out of memory for a %lldx%lld image", name, cw, ch);
        goto fail;
    }
    memset(idx, transparent >= 0 ? transparent : 0, (size_t)cw * ch);
    if ((gerr = read_frame(gif, idx, (int)cw))) {
        rc = fc_fail(err, FC_EFORMAT, "%s: corrupt or truncated GIF: %s", name,
                     GifErrorString(gerr) ? GifErrorString(gerr) : "bad image data");
        goto fail;
    }
    uint8_t pal[256][3];
    for (int i = 0; i < 256; i++) pal[i][0] = pal[i][1] = pal[i][2] = (uint8_t)i;
    const ColorMapObject *map = d->ColorMap ? d->ColorMap : gif->SColorMap;
    for (int i = 0; map && i < map->ColorCount && i < 256; i++) {
        pal[i][0] = map->Colors[i].Red;
        pal[i][1] = map->Colors[i].Green;
        pal[i][2] = map->Colors[i].Blue;
    }
    for (size_t i = 0, n = (size_t)cw * ch; i < n; i++) memcpy(rgb + 3 * i, pal[idx[i]], 3);
    out->width = (int)cw;
    out->height = (int)ch;
    out->rgb = rgb;
    rgb = NULL;
fail:
    free(idx);
    free(rgb);
    DGifCloseFile(gif, &gerr);
    return rc;
}
