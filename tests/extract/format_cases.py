"""Writes the image-format test cases for tests/extract/test_formats.c into DIR: each case file and,
for the ones that must decode, CASE.ppm = Pillow's Image.open(CASE).convert("RGB") (orientN.*: of ImageOps.exif_transpose of
it); cases.txt lists "file ok" or "file bad".
Run with Debian's /usr/bin/python3 (Pillow 9.4, numpy). Small images of random pixels, fixed seed."""
import io, os, struct, sys
import numpy as np
from PIL import Image, ImageOps

out = sys.argv[1]
rng = np.random.default_rng(7)
cases = []


def rand(h, w, c=3, hi=256, dtype=np.uint8):
    return rng.integers(0, hi, size=(h, w, c) if c else (h, w)).astype(dtype)


def save(name, data, expect="ok", transpose=False):
    with open(f"{out}/{name}", "wb") as f:
        f.write(data)
    if expect == "ok":
        im = Image.open(f"{out}/{name}")
        (ImageOps.exif_transpose(im) if transpose else im).convert("RGB").save(f"{out}/{name}.ppm")
    cases.append(f"{name} {expect}")


def pil(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def truncated(name, data):  # a cut copy must be a clean error, never a crash
    save("cut_" + name, data[: len(data) * 2 // 3], "bad")


rgb = Image.fromarray(rand(37, 53))
rgba = Image.fromarray(rand(37, 53, 4))
gray = Image.fromarray(rand(37, 53, 0))
pal = rgb.quantize(200)
g16 = Image.fromarray(rand(19, 23, 0, hi=600, dtype=np.uint16).astype(np.int32), "I")  # half over 255
small_pal = Image.fromarray(rand(20, 17, 0, hi=4)).convert("P")
small_pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 99, 199])

# PNG (16-bit gray is Pillow's mode I: clipped to 255, not shifted)
save("gray16.png", pil(g16, "PNG"))
save("rgba.png", pil(rgba, "PNG"))
save("pal_trns.png", pil(pal, "PNG", transparency=3))

# GIF: palette (interlaced: Pillow interlaces images of 16+ pixels), gray, transparency, short palette
for name, im, kw in [("pal.gif", pal, {}), ("gray.gif", gray, {}), ("trns.gif", pal, {"transparency": 5}),
                     ("small.gif", small_pal, {}), ("noninterlaced.gif", pal, {"interlace": False})]:
    data = pil(im, "GIF", **kw)
    save(name, data)
truncated("pal.gif", pil(pal, "GIF"))
save("anim.gif", pil(pal, "GIF", save_all=True, append_images=[rgb.quantize(50)], duration=100))

# WebP: lossless and lossy, with and without alpha, animated
save("lossless.webp", pil(rgb, "WEBP", lossless=True))
save("lossless_alpha.webp", pil(rgba, "WEBP", lossless=True))
save("lossy.webp", pil(rgb, "WEBP", quality=80))
save("lossy_alpha.webp", pil(rgba, "WEBP", quality=80))
save("anim.webp", pil(rgb, "WEBP", save_all=True, append_images=[rgba], lossless=True))
truncated("lossy.webp", pil(rgb, "WEBP", quality=80))

# BMP written by Pillow: 1-bit, 8-bit gray, 8-bit palette, 24-bit, 32-bit
for name, im in [("bw.bmp", gray.convert("1")), ("gray.bmp", gray), ("pal.bmp", pal), ("rgb.bmp", rgb),
                 ("rgba.bmp", rgba)]:
    save(name, pil(im, "BMP"))
truncated("rgb.bmp", pil(rgb, "BMP"))


def bmp(w, h, bits, pixels, palette=b"", compression=0, masks=None, header=40, top_down=False):
    """A BMP by hand: pixels are the raster bytes as stored (rows padded by the caller)."""
    if header == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bits, compression, len(pixels),
                           2835, 2835, len(palette) // 4, 0)
    extra = struct.pack("<III", *masks) if masks else b""
    off = 14 + len(info) + len(extra) + len(palette)
    return b"BM" + struct.pack("<IHHI", off + len(pixels), 0, 0, off) + info + extra + palette + pixels


def rows(h, w, bpp_bytes, fill):
    stride = (w * bpp_bytes + 3) & ~3
    return b"".join(bytes(fill(y)) + b"\0" * (stride - w * bpp_bytes) for y in range(h))


w, h = 13, 7
p16 = rand(h, w, 0, hi=65536, dtype=np.uint16)
save("rgb555.bmp", bmp(w, h, 16, rows(h, w, 2, lambda y: p16[y].astype("<u2").tobytes())))
save("rgb565.bmp", bmp(w, h, 16, rows(h, w, 2, lambda y: p16[y].astype("<u2").tobytes()), compression=3,
                       masks=(0xF800, 0x7E0, 0x1F)))
p24 = rand(h, w)
save("topdown.bmp", bmp(w, h, 24, rows(h, w, 3, lambda y: p24[y].tobytes()), top_down=True))
save("core.bmp", bmp(w, h, 24, rows(h, w, 3, lambda y: p24[y].tobytes()), header=12))
p32 = rand(h, w, 4)
save("xbgr.bmp", bmp(w, h, 32, rows(h, w, 4, lambda y: p32[y].tobytes()), compression=3,
                     masks=(0xFF000000, 0xFF0000, 0xFF00)))
pal16 = bytes(rand(16, 1, 4).ravel())
idx4 = rand(h, 14, 0, hi=16)  # 14 indices a row: 7 bytes
save("pal4.bmp", bmp(w, h, 4, rows(h, 7, 1, lambda y: [idx4[y, 2 * i] << 4 | idx4[y, 2 * i + 1] for i in range(7)]),
                     palette=pal16))
pal256 = bytes(rand(256, 1, 4).ravel())
rle8 = b"".join(bytes([3, 7, 0, 4, 1, 2, 3, 4, 6, 200]) + bytes([0, 0]) for y in range(h)) + bytes([0, 1])
save("rle8.bmp", bmp(w, h, 8, rle8, palette=pal256, compression=1))
rle4 = b"".join(bytes([5, 0x1F, 0, 4, 0x23, 0x45, 4, 0xAB]) + bytes([0, 0]) for y in range(h)) + bytes([0, 1])
save("rle4.bmp", bmp(w, h, 4, rle4, palette=pal16, compression=2))
save("rle8_short.bmp", bmp(w, h, 8, bytes([3, 7, 0, 1]), palette=pal256, compression=1), "bad")
save("jpeg_in.bmp", bmp(w, h, 24, b"\xff\xd8\xff" + b"\0" * 40, compression=4), "bad")

# TIFF: raw, LZW, deflate, JPEG, 8-bit gray, bilevel, palette, 16-bit gray, CMYK, RGBA
for name, im, kw in [("rgb.tif", rgb, {}), ("lzw.tif", rgb, {"compression": "tiff_lzw"}),
                     ("deflate.tif", rgba, {"compression": "tiff_adobe_deflate"}),
                     ("jpeg.tif", Image.fromarray(rand(32, 48)), {"compression": "jpeg"}),
                     ("gray.tif", gray, {}), ("bw.tif", gray.convert("1"), {}),
                     ("g4.tif", gray.convert("1"), {"compression": "group4"}),
                     ("pal.tif", pal, {}), ("gray16.tif", Image.fromarray(rand(19, 23, 0, hi=65536, dtype=np.uint16)), {}),
                     ("cmyk.tif", Image.fromarray(rand(9, 11, 4), "CMYK"), {}), ("rgba.tif", rgba, {})]:
    save(name, pil(im, "TIFF", **kw))
truncated("lzw.tif", pil(rgb, "TIFF", compression="tiff_lzw"))
save("float.tif", pil(Image.fromarray(rand(5, 5, 0).astype(np.float32)), "TIFF"), "bad")


# EXIF orientation: the 8 values in JPEG (APP1), WebP (EXIF chunk), PNG (eXIf) and TIFF (IFD0 tag)
def exif_with(o):
    e = Image.Exif()
    e[0x0112] = o
    return e.tobytes()


orient = Image.fromarray(rand(24, 40))  # wider than high, so 5..8 swap the sides
for o in range(1, 9):
    save(f"orient{o}.jpg", pil(orient, "JPEG", quality=95, exif=exif_with(o)), transpose=True)
    save(f"orient{o}.webp", pil(orient, "WEBP", lossless=True, exif=exif_with(o)), transpose=True)
    save(f"orient{o}.png", pil(orient, "PNG", exif=exif_with(o)), transpose=True)
    # Pillow 9.4 turns a TIFF by its Orientation tag when it loads it (TiffImageFile.load_end), and
    # exif_transpose would turn it a second time: the reference is the image as loaded
    save(f"orient{o}.tif", pil(orient, "TIFF", tiffinfo={0x0112: o}))

# files the test wrote with the formats' own encoders (tests/support/format_seeds.c: offset GIF
# frames, BMP indices past the palette, tiled TIFF, ...): Pillow's reading of them is the reference
for name in sorted(os.listdir(f"{out}/seeds")) if os.path.isdir(f"{out}/seeds") else []:
    Image.open(f"{out}/seeds/{name}").convert("RGB").save(f"{out}/seeds/{name}.ppm")
    cases.append(f"seeds/{name} ok")

with open(f"{out}/cases.txt", "w") as f:
    f.write("\n".join(cases) + "\n")
