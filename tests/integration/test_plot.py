"""Pictures of results (docs/CHOICES.md "Plots"): `mmrun plot` and the config
key "plot".

The pictures are read back with the standard library only: an SVG must parse
as XML (xml.etree) and hold one path filled with the bar colour per histogram
bin with a count (cairo writes each bar as one filled path); a PNG must have
its signature, the documented size in its IHDR, and pixels that are not all
one colour (its IDAT is inflated with zlib and unfiltered here). Expected
counts come from the result document, never from constants. Also: every
bad input exits with its code and one line naming the file or key (64 a bad
extension or --analysis, 65 a malformed document, 73 a picture that cannot
be written, 78 a "plot" key on an analysis that cannot be drawn), and a
picture is never the result, the config or the dataset (also through a
symlink or a hard link): refused before anything is written, nothing left
behind.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_plot.py [FILTER...]
"""

import json
import os
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

WIDTH, HEIGHT = 960, 600          # docs/CHOICES.md "Plots": the picture's size
BAR = (0x1f, 0x77, 0xb4)          # the bars' and the mean's colour (docs/CHOICES.md)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------
# Reading pictures back


def svg_root(path):
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise mm.Fail("%s does not parse as XML: %s" % (path, e))


def _rgb(text):
    """(r, g, b) in 0..255 of a CSS 'rgb(...)' in percent or integers."""
    parts = [p.strip() for p in text.split(",")]
    out = []
    for p in parts:
        out.append(float(p[:-1]) * 255 / 100 if p.endswith("%") else float(p))
    return tuple(out)


def filled_paths(root, color=BAR):
    """The <path> elements outside <defs> (glyphs live there) filled with
    `color` (within rounding), whatever way the fill is spelled."""
    ns = "{http://www.w3.org/2000/svg}"
    defs = set()
    for d in root.iter(ns + "defs"):
        defs |= set(d.iter())
    found = []
    for el in root.iter(ns + "path"):
        if el in defs:
            continue
        style = el.get("style", "") + ";fill:" + el.get("fill", "")
        m = re.search(r"fill:\s*rgb\(([^)]*)\)", style)
        if m is None:
            m2 = re.search(r"fill:\s*#([0-9a-fA-F]{6})", style)
            if m2 is None:
                continue
            rgb = tuple(int(m2.group(1)[i:i + 2], 16) for i in (0, 2, 4))
        else:
            rgb = _rgb(m.group(1))
        if all(abs(a - b) <= 1.5 for a, b in zip(rgb, color)):
            found.append(el)
    return found


def png_chunks(data):
    mm.check(data[:8] == PNG_SIGNATURE, "PNG signature: %r" % data[:8])
    pos, chunks = 8, []
    while pos < len(data):
        mm.check(pos + 8 <= len(data), "PNG cut short in a chunk header")
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        mm.eq(zlib.crc32(kind + body) & 0xffffffff, crc, "CRC of PNG chunk %r" % kind)
        chunks.append((kind, body))
        pos += 12 + n
    mm.eq(chunks[0][0], b"IHDR", "first PNG chunk")
    mm.eq(chunks[-1][0], b"IEND", "last PNG chunk")
    return chunks


def png_pixels(path):
    """(width, height, rows): rows of (r, g, b) tuples, unfiltered (PNG
    filters 0-4), for 8-bit RGB or RGBA without interlace."""
    with open(path, "rb") as f:
        data = f.read()
    chunks = png_chunks(data)
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    mm.eq((depth, interlace), (8, 0), "PNG bit depth and interlace")
    mm.check(ctype in (2, 6), "PNG colour type %d" % ctype)
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = w * bpp
    mm.eq(len(raw), h * (stride + 1), "inflated IDAT size")
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        else:
            mm.eq(ftype, 0, "PNG filter type of row %d" % y)
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def check_png(path, want_color=None):
    """A valid PNG of the documented size that is not blank; with
    `want_color`, some pixels have it. Returns the set of its colours."""
    w, h, rows = png_pixels(path)
    mm.eq((w, h), (WIDTH, HEIGHT), "IHDR size of " + path)
    colors = set()
    for row in rows:
        colors.update(row)
    mm.check(len(colors) > 10, "%s is nearly blank: %d colours" % (path, len(colors)))
    if want_color is not None:
        mm.check(want_color in colors, "%s has no pixel of colour %s" % (path, want_color))
    return colors


# --------------------------------------------------------------------------
# Data and runs


def bimodal(rows=4000, cols=5, seed=1):
    """Two clusters with empty bins between them, a NaN column and a few NaNs."""
    rng = np.random.default_rng(seed)
    a = np.where(rng.random((rows, cols)) < 0.5, rng.normal(-5, 0.6, (rows, cols)),
                 rng.normal(5, 0.6, (rows, cols)))
    a[rng.random((rows, cols)) < 0.01] = np.nan
    a[:, 2] = np.nan  # a lane with no value
    return a.astype("<f4")


def setup(d, analyses, a=None, output="r.json", name="data.npy", subdir=""):
    folder = os.path.join(d, subdir)
    os.makedirs(folder, exist_ok=True)
    mm.write_npy(os.path.join(folder, name), bimodal() if a is None else a)
    cfg = {"dataset": {"path": name}, "analyses": analyses}
    if output:
        cfg["output"] = output
    return mm.write_config(folder, cfg)


def result_of(d, analyses, **kw):
    """Runs the config setup() writes; returns the path of its result document."""
    run(["-q", setup(d, analyses, **kw)])
    return os.path.join(d, kw.get("subdir", ""), "r.json")


def run(args, code=0):
    res = mm.run_mmrun(args)
    if res.code != code:
        raise mm.Fail(mm.describe(args, res))
    return res


def load(path):
    with open(path) as f:
        return mm.parse_doc(f.read())


def files_in(d):
    return sorted(os.listdir(d))


HIST = {"name": "h", "op": "histogram", "bins": 20}


# --------------------------------------------------------------------------
# Pictures


@mm.test("svg: a histogram's SVG parses; one bar-coloured path per bin with a count, for several bin counts")
def _():
    with mm.tmpdir() as d:
        for bins in (12, 20, 33):
            cfg = setup(d, [dict(HIST, bins=bins)])
            run(["-q", cfg])
            doc = load(os.path.join(d, "r.json"))
            counts = doc["results"]["h"]["counts"]
            mm.eq(len(counts), bins, "bins in the document")
            out = os.path.join(d, "h%d.svg" % bins)
            res = run(["plot", os.path.join(d, "r.json"), "-o", out])
            mm.eq(res.out, out + "\n", "stdout names the picture")
            root = svg_root(out)
            mm.eq(root.tag, "{http://www.w3.org/2000/svg}svg", "root element")
            bars = filled_paths(root)
            nonzero = sum(1 for c in counts if c > 0)
            mm.check(0 < nonzero < bins, "the data leaves some bins empty (%d of %d)" % (nonzero, bins))
            mm.eq(len(bars), nonzero, "bar-coloured paths in the SVG of %d bins" % bins)
        mm.assert_no_leftovers(d)


@mm.test("svg: more bins than the picture has room for are one filled outline, not a path per bin")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [dict(HIST, bins=5000)])
        run(["-q", cfg])
        out = os.path.join(d, "h.svg")
        run(["plot", os.path.join(d, "r.json"), "-o", out])
        mm.eq(len(filled_paths(svg_root(out))), 1, "bar-coloured paths for 5000 bins")
        mm.check(os.path.getsize(out) < 2_000_000, "SVG of 5000 bins is %d bytes" % os.path.getsize(out))


@mm.test("png: signature, IHDR size, chunk CRCs, bar-coloured pixels; the same bytes on a second run")
def _():
    with mm.tmpdir() as d:
        r = result_of(d, [HIST])
        out = os.path.join(d, "h.png")
        run(["plot", r, "-o", out])
        check_png(out, BAR)
        first = mm.sha256_file(out)
        run(["plot", r, "-o", out])
        mm.eq(mm.sha256_file(out), first, "sha256 of the picture drawn twice")


@mm.test("stats per lane: one mean marker per lane with values (NaN lanes skipped); PNG not blank")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [{"name": "cols", "op": "stats", "axis": 0, "plot": "cols.svg"},
                        {"name": "cols2", "op": "stats", "axis": 0, "plot": "cols.png"}])
        run(["-q", cfg])
        doc = load(os.path.join(d, "r.json"))
        means = doc["results"]["cols"]["mean"]
        finite = sum(1 for m in means if not np.isnan(m))
        mm.check(finite < len(means), "the data has a lane without values")
        # Each marker is one filled path of the bar colour; the legend adds one.
        mm.eq(len(filled_paths(svg_root(os.path.join(d, "cols.svg")))), finite + 1,
              "mean markers (+1 for the legend's)")
        check_png(os.path.join(d, "cols.png"), BAR)


@mm.test("stats per lane: 1000 lanes and a 3-d dataset draw (bands, lanes over two axes)")
def _():
    with mm.tmpdir() as d:
        a = np.random.default_rng(3).normal(size=(300, 1000)).astype("<f4")
        a[:, 10:20] = np.nan
        cfg = setup(d, [{"name": "wide", "op": "stats", "axis": 0, "plot": "wide.png"},
                        {"name": "q", "op": "quantiles", "q": [0.1, 0.5, 0.9], "axis": 0,
                         "plot": "q.png"}], a=a)
        run(["-q", cfg])
        check_png(os.path.join(d, "wide.png"), BAR)
        check_png(os.path.join(d, "q.png"))
        cube = np.random.default_rng(4).normal(size=(50, 4, 6)).astype("<f8")
        cfg = setup(d, [{"name": "s", "op": "stats", "axis": 0, "plot": "cube.svg"},
                        {"name": "h", "op": "histogram", "bins": 9, "axis": 0, "plot": "heat.svg"}],
                    a=cube, name="cube.npy", subdir="cube")
        run(["-q", cfg])
        for name in ("cube.svg", "heat.svg"):
            svg_root(os.path.join(d, "cube", name))


@mm.test("quantiles: global and per lane, SVG and PNG, from a config and from mmrun plot")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [{"name": "g", "op": "quantiles", "q": [0.01, 0.25, 0.5, 0.75, 0.99], "plot": "g.svg"},
                        {"name": "one", "op": "quantiles", "q": 0.5, "plot": "one.png"},
                        {"name": "lanes", "op": "quantiles", "q": [0.1, 0.9], "axis": 0, "plot": "lanes.png"}])
        run(["-q", cfg])
        svg_root(os.path.join(d, "g.svg"))
        check_png(os.path.join(d, "one.png"))
        check_png(os.path.join(d, "lanes.png"))
        res = run(["plot", os.path.join(d, "r.json"), "--analysis", "lanes", "-o", os.path.join(d, "l2.svg")])
        mm.eq(res.out.strip(), os.path.join(d, "l2.svg"), "stdout")
        svg_root(os.path.join(d, "l2.svg"))


@mm.test("histogram per lane: up to 8 lanes overlaid, more a heat map; both drawn")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [{"name": "few", "op": "histogram", "bins": 12, "axis": 0, "plot": "few.png"}])
        run(["-q", cfg])
        check_png(os.path.join(d, "few.png"))
        a = np.random.default_rng(5).normal(size=(500, 40)).astype("<f4")
        cfg = setup(d, [{"name": "many", "op": "histogram", "bins": 25, "axis": 0, "plot": "many.png"}],
                    a=a, subdir="many")
        run(["-q", cfg])
        colors = check_png(os.path.join(d, "many", "many.png"))
        mm.check(len(colors) > 100, "the heat map has %d colours" % len(colors))


# --------------------------------------------------------------------------
# The config key


@mm.test("config: the plot key's path resolves against the config's folder, beside the result, from any cwd")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [dict(HIST, plot="out/hist.png"), {"name": "overall", "op": "stats"}],
                    output="out/r.json", subdir="cfg")
        os.makedirs(os.path.join(d, "cfg", "out"))
        os.makedirs(os.path.join(d, "elsewhere"))
        res = mm.run_mmrun(["-q", cfg], cwd=os.path.join(d, "elsewhere"))
        mm.eq(res.code, 0, mm.describe([cfg], res))
        mm.eq(files_in(os.path.join(d, "cfg", "out")), ["hist.png", "r.json"], "files beside the result")
        mm.eq(files_in(os.path.join(d, "elsewhere")), [], "files in the working folder")
        check_png(os.path.join(d, "cfg", "out", "hist.png"), BAR)
        # validate checks the key too, and writes nothing.
        run(["validate", cfg])
        mm.eq(files_in(os.path.join(d, "cfg", "out")), ["hist.png", "r.json"], "after validate")
        mm.assert_no_leftovers(d)


@mm.test("config: a picture with stdout as the result; --shard parts draw nothing")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [dict(HIST, range=[-9, 9], plot="h.svg")], output=None)
        doc, _ = mm.run_ok(["-q", cfg])
        mm.eq(len(filled_paths(svg_root(os.path.join(d, "h.svg")))),
              sum(1 for c in doc["results"]["h"]["counts"] if c > 0), "bars")
        os.remove(os.path.join(d, "h.svg"))
        run(["-q", "--shard", "0/2", "-o", os.path.join(d, "p0.json"), cfg])
        mm.check(not os.path.exists(os.path.join(d, "h.svg")), "a shard drew the picture")


@mm.test("merge: mmrun merge of --shard parts draws the config's pictures, as one run would")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [dict(HIST, range=[-9, 9], plot="h.svg")])
        for i in range(2):
            run(["-q", "--shard", "%d/2" % i, "-o", os.path.join(d, "p%d.json" % i), cfg])
        mm.check(not os.path.exists(os.path.join(d, "h.svg")), "a shard drew the picture")
        run(["merge", os.path.join(d, "p0.json"), os.path.join(d, "p1.json")])
        doc = load(os.path.join(d, "r.json"))
        mm.eq(len(filled_paths(svg_root(os.path.join(d, "h.svg")))),
              sum(1 for c in doc["results"]["h"]["counts"] if c > 0), "bars of the merged picture")
        # A picture that would be one of the parts (shards draw nothing, so
        # they do not mind) is refused by merge before anything is written.
        cfg = setup(d, [dict(HIST, range=[-9, 9], plot="p1.svg")], subdir="clash")
        parts = [os.path.join(d, "clash", "p%d.svg" % i) for i in range(2)]
        for i in range(2):
            run(["-q", "--shard", "%d/2" % i, "-o", parts[i], cfg])
        before = {p: mm.sha256_file(p) for p in parts}
        res = mm.run_mmrun(["merge"] + parts)
        mm.assert_error(res, 78, ["analyses[0].plot", "part"], args=["merge"] + parts)
        for p, h in before.items():
            mm.eq(mm.sha256_file(p), h, "sha256 of " + p)
        mm.check(not os.path.exists(os.path.join(d, "clash", "r.json")), "merge wrote its result")
        mm.assert_no_leftovers(d)


BAD_KEYS = [
    ("global stats", {"name": "all", "op": "stats", "plot": "x.png"}, "analyses[0].plot"),
    ("stats over every axis", {"name": "all", "op": "stats", "axis": [0, 1], "plot": "x.png"}, "analyses[0].plot"),
    ("stats without mean, min, max", {"name": "c", "op": "stats", "axis": 0, "stats": ["count"], "plot": "x.png"},
     "analyses[0].plot"),
    ("cov", {"op": "cov", "plot": "x.png"}, "analyses[0].plot"),
    ("slice", {"op": "slice", "select": "[0]", "output": "s.npy", "plot": "x.png"}, "analyses[0].plot"),
    ("a bad extension", dict(HIST, plot="x.jpg"), "analyses[0].plot"),
    ("no extension", dict(HIST, plot="x"), "analyses[0].plot"),
    ("not a string", dict(HIST, plot=3), "analyses[0].plot"),
    ("an empty path", dict(HIST, plot=""), "analyses[0].plot"),
    ("with output", {"name": "s", "op": "stats", "axis": 0, "output": "pre", "plot": "x.png"},
     "analyses[0].plot"),
]


for label, analysis, key in BAD_KEYS:
    def bad_key(analysis=analysis, key=key):
        with mm.tmpdir() as d:
            cfg = setup(d, [analysis])
            for args in (["-q", cfg], ["validate", cfg]):
                res = mm.run_mmrun(args)
                mm.assert_error(res, 78, [key], args=args)
            mm.eq(files_in(d), ["config.json", "data.npy"], "files after the refusal")
    mm.add_test("config: plot on %s is exit 78 naming %s, nothing written" % (label, key), bad_key)


# --------------------------------------------------------------------------
# Identity: never the result, the config or the dataset


@mm.test("identity: a plot key naming the result, the dataset or the config (also by symlink or hard link) is 78 before anything is written")
def _():
    with mm.tmpdir() as d:
        a = bimodal()
        mm.write_npy(os.path.join(d, "data.png"), a)  # a dataset with a picture's name
        os.symlink("data.png", os.path.join(d, "sym.png"))
        os.link(os.path.join(d, "data.png"), os.path.join(d, "hard.png"))
        with open(os.path.join(d, "cfg.svg"), "w") as f:
            f.write("{}")
        cases = [("r.png", "r.png"), ("r.json", "data.png"), ("r.json", "sym.png"), ("r.json", "hard.png")]
        before = {n: mm.sha256_file(os.path.join(d, n)) for n in ("data.png", "cfg.svg")}
        for output, plot in cases:
            cfg = mm.write_config(d, {"dataset": {"path": "data.png"}, "analyses": [dict(HIST, plot=plot)],
                                      "output": output})
            res = mm.run_mmrun(["-q", cfg])
            mm.assert_error(res, 78, ["analyses[0].plot"], args=[cfg])
            mm.eq(sorted(files_in(d)), ["cfg.svg", "config.json", "data.png", "hard.png", "sym.png"],
                  "files after plot=%s output=%s" % (plot, output))
            mm.check(os.path.islink(os.path.join(d, "sym.png")), "the symlink was replaced")
        # The config itself (a config named like a picture), named by its plot key.
        with open(os.path.join(d, "cfg.svg"), "w") as f:
            json.dump({"dataset": {"path": "data.png"}, "analyses": [dict(HIST, plot="cfg.svg")]}, f)
        before["cfg.svg"] = mm.sha256_file(os.path.join(d, "cfg.svg"))
        res = mm.run_mmrun(["-q", os.path.join(d, "cfg.svg")])
        mm.assert_error(res, 78, ["analyses[0].plot", "CONFIG"], args=["cfg.svg"])
        for n, h in before.items():
            mm.eq(mm.sha256_file(os.path.join(d, n)), h, "sha256 of " + n)
        mm.assert_no_leftovers(d)


@mm.test("identity: mmrun plot -o naming the result or its dataset (also by symlink or hard link) is 64, nothing written")
def _():
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "data.png"), bimodal())
        cfg = mm.write_config(d, {"dataset": {"path": "data.png"}, "analyses": [HIST], "output": "r.svg"})
        run(["-q", cfg])  # a result document named like a picture
        os.symlink("r.svg", os.path.join(d, "rlink.svg"))
        os.link(os.path.join(d, "r.svg"), os.path.join(d, "rhard.svg"))
        os.symlink("data.png", os.path.join(d, "dlink.png"))
        os.link(os.path.join(d, "data.png"), os.path.join(d, "dhard.png"))
        names = sorted(files_in(d))
        before = {n: mm.sha256_file(os.path.join(d, n)) for n in ("r.svg", "data.png")}
        for target in ("r.svg", "rlink.svg", "rhard.svg", "data.png", "dlink.png", "dhard.png"):
            args = ["plot", os.path.join(d, "r.svg"), "-o", os.path.join(d, target)]
            res = mm.run_mmrun(args)
            mm.assert_error(res, 64, ["-o"], args=args)
            mm.eq(sorted(files_in(d)), names, "files after -o " + target)
        for n, h in before.items():
            mm.eq(mm.sha256_file(os.path.join(d, n)), h, "sha256 of " + n)
        mm.check(os.path.islink(os.path.join(d, "rlink.svg")), "the symlink was replaced")
        mm.assert_no_leftovers(d)


@mm.test("identity: a symlink at the picture's name is replaced, never followed")
def _():
    with mm.tmpdir() as d:
        r = result_of(d, [HIST])
        victim = os.path.join(d, "victim.txt")
        with open(victim, "w") as f:
            f.write("keep me")
        os.symlink(victim, os.path.join(d, "h.png"))
        run(["plot", r, "-o", os.path.join(d, "h.png")])
        mm.check(not os.path.islink(os.path.join(d, "h.png")), "h.png is still a symlink")
        with open(victim) as f:
            mm.eq(f.read(), "keep me", "the symlink's target")
        check_png(os.path.join(d, "h.png"))


# --------------------------------------------------------------------------
# Writing fails


@mm.test("write: a picture in a missing or unwritable folder is 73 before any worker starts, nothing left behind")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [dict(HIST, plot="missing/h.png")])
        res = mm.run_mmrun(["-q", cfg])
        mm.assert_error(res, 73, ["missing/h.png"], args=[cfg])
        mm.eq(files_in(d), ["config.json", "data.npy"], "files after the failure")
        mm.assert_no_leftovers(d)
        ok = result_of(d, [HIST], subdir="ok")
        args = ["plot", ok, "-o", os.path.join(d, "missing", "h.svg")]
        mm.assert_error(mm.run_mmrun(args), 73, [os.path.join(d, "missing", "h.svg")], args=args)
        if os.geteuid() != 0:  # root ignores folder permissions
            os.makedirs(os.path.join(d, "ro"))
            os.chmod(os.path.join(d, "ro"), 0o555)
            try:
                res = mm.run_mmrun(["-q", setup(d, [dict(HIST, plot="../ro/h.png")], subdir="cfg")])
                args = ["plot", ok, "-o", os.path.join(d, "ro", "h.png")]
                res2 = mm.run_mmrun(args)
            finally:
                os.chmod(os.path.join(d, "ro"), 0o755)
            mm.check(res.code in (73, 77) and "ro/h.png" in res.err, "run: exit %d: %s" % (res.code, res.err))
            mm.check(res2.code in (73, 77) and "ro/h.png" in res2.err, "plot: exit %d: %s" % (res2.code, res2.err))
            mm.eq(files_in(os.path.join(d, "ro")), [], "files in the read-only folder")
        mm.assert_no_leftovers(d)


@mm.test("write: a picture that fails after another was written says so (not 'nothing written'); no temp file, no result")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [dict(HIST, plot="first.png"),
                        {"name": "cols", "op": "stats", "axis": 0, "plot": "second.svg"}])
        res = mm.run_mmrun(["-q", cfg], extra_env={"MMRUN_TEST_FAULT": "plot_write_fail=1"})
        mm.assert_error(res, 73, [os.path.join(d, "second.svg"), os.path.join(d, "first.png") + " was written",
                                  "the result document was not written"], args=[cfg])
        mm.check("nothing written" not in res.err, "the message says nothing was written: " + res.err)
        mm.eq(files_in(d), ["config.json", "data.npy", "first.png"], "files after the failure")
        mm.assert_no_leftovers(d)
        # The first picture failing: nothing at all.
        os.remove(os.path.join(d, "first.png"))
        res = mm.run_mmrun(["-q", cfg], extra_env={"MMRUN_TEST_FAULT": "plot_write_fail=0"})
        mm.assert_error(res, 73, [os.path.join(d, "first.png"), "nothing written"], args=[cfg])
        mm.eq(files_in(d), ["config.json", "data.npy"], "files after the first picture failed")
        mm.assert_no_leftovers(d)


@mm.test("write: mmrun plot whose second picture fails names the first as written; stdout empty, no temp file")
def _():
    with mm.tmpdir() as d:
        args = ["plot", result_of(d, [HIST, {"name": "cols", "op": "stats", "axis": 0}])]
        res = mm.run_mmrun(args, extra_env={"MMRUN_TEST_FAULT": "plot_write_fail=1"})
        mm.assert_error(res, 73, [os.path.join(d, "r.cols.png"), os.path.join(d, "r.h.png") + " was written"],
                        args=args)
        mm.eq(files_in(d), ["config.json", "data.npy", "r.h.png", "r.json"], "files after the failure")
        mm.assert_no_leftovers(d)


@mm.test("write: a slice output committed before a picture fails is named in the message")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [{"op": "slice", "select": "[:10]", "output": "s.npy"}, dict(HIST, plot="h.png")])
        res = mm.run_mmrun(["-q", cfg], extra_env={"MMRUN_TEST_FAULT": "plot_write_fail=0"})
        mm.assert_error(res, 73, ["h.png", "s.npy was written", "the result document was not written"],
                        args=[cfg])
        mm.check("nothing written" not in res.err, "the message says nothing was written: " + res.err)
        mm.check(not os.path.exists(os.path.join(d, "h.png")), "h.png exists")
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# mmrun plot: choices and bad input


@mm.test("plot: without -o, one PNG per drawable analysis beside the result (RESULT_STEM.NAME.png); -o STEM.EXT for several")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [HIST, {"name": "overall", "op": "stats"}, {"name": "cols", "op": "stats", "axis": 0},
                        {"name": "odd name/x", "op": "quantiles", "q": 0.5}], output="res.json")
        run(["-q", cfg])
        res = run(["plot", os.path.join(d, "res.json")])
        want = [os.path.join(d, n) for n in ("res.h.png", "res.cols.png", "res.odd_name_x.png")]
        mm.eq(res.out.splitlines(), want, "pictures named on stdout")
        for p in want:
            check_png(p)
        res = run(["plot", os.path.join(d, "res.json"), "-o", os.path.join(d, "pics.svg")])
        want = [os.path.join(d, n) for n in ("pics.h.svg", "pics.cols.svg", "pics.odd_name_x.svg")]
        mm.eq(res.out.splitlines(), want, "pictures named on stdout with -o")
        for p in want:
            svg_root(p)
        mm.assert_no_leftovers(d)


@mm.test("plot: bad command lines are 64 (extension, --analysis unknown or not drawable, arguments)")
def _():
    with mm.tmpdir() as d:
        cfg = setup(d, [HIST, {"name": "overall", "op": "stats"}])
        run(["-q", cfg])
        r = os.path.join(d, "r.json")
        cases = [
            (["plot", r, "-o", os.path.join(d, "x.jpg")], ["x.jpg", ".svg or .png"]),
            (["plot", r, "-o", os.path.join(d, "x")], [".svg or .png"]),
            (["plot", r, "--analysis", "hh"], ["hh", "did you mean 'h'"]),
            (["plot", r, "--analysis", "overall"], ["overall", "global stats"]),
            (["plot"], ["RESULT"]),
            (["plot", r, r], ["RESULT"]),
            (["plot", r, "--bins", "3"], ["bins"]),
        ]
        for args, fragments in cases:
            mm.assert_error(mm.run_mmrun(args), 64, fragments, args=args)
        mm.eq(sorted(files_in(d)), ["config.json", "data.npy", "r.json"], "files")
        mm.assert_no_leftovers(d)


def malformed_documents():
    hist = {"counts": [1, 2], "edges": [0, 1, 2]}
    deep = "1"
    for _ in range(300):
        deep = "[" + deep + "]"
    return [
        ("not JSON", "{", "r.json"),
        ("a list", "[]", "r.json"),
        ("no results", json.dumps({"dataset": {}}), "'results'"),
        ("results a list", json.dumps({"results": []}), "'results'"),
        ("counts wrong length", json.dumps({"results": {"h": {"counts": [1], "edges": [0, 1, 2]}}}), "results.h.counts"),
        ("edges missing", json.dumps({"results": {"h": {"counts": [1, 2]}}}), "results.h.edges"),
        ("edges a string", json.dumps({"results": {"h": dict(hist, edges="x")}}), "results.h.edges"),
        ("a count that is text", json.dumps({"results": {"h": dict(hist, counts=[1, "two"])}}), "results.h.counts[1]"),
        ("a count that is NaN", json.dumps({"results": {"h": dict(hist, counts=[1, "NaN"])}}), "results.h.counts"),
        ("ragged counts", json.dumps({"results": {"h": dict(hist, counts=[[1, 2], [3]])}}), "results.h.counts[1]"),
        ("below of the wrong shape", json.dumps({"results": {"h": dict(hist, below=[1, 2])}}), "results.h.below"),
        ("stats fields of different lengths", json.dumps({"results": {"s": {"mean": [1, 2], "std": [1]}}}), "results.s.std"),
        ("a mean that is an object", json.dumps({"results": {"s": {"mean": [1, {}]}}}), "results.s.mean[1]"),
        ("quantiles against q", json.dumps({"results": {"q": {"values": [[1], [2]], "q": [0.5]}}}), "results.q.values"),
        ("dataset.path a number", json.dumps({"dataset": {"path": 1}, "results": {"h": hist}}), "dataset.path"),
        ("started a number", json.dumps({"mmrun": {"started": 1}, "results": {"h": hist}}), "mmrun.started"),
        ("a npy path for counts", json.dumps({"results": {"h": dict(hist, counts="/x/p.counts.npy")}}), ".npy"),
        ("nothing to draw", json.dumps({"results": {"all": {"count": 3, "mean": 1.0}}}), "no analysis to draw"),
        ("deep nesting", '{"results": {"h": {"edges": [0, 1], "counts": %s}}}' % deep, "r.json"),
        ("huge counts", json.dumps({"results": {"h": {"edges": [0, 1], "counts": [[1]] * 1000001}}}),
         "results.h.counts"),
        ("a part of --shard", json.dumps({"shard": [0, 2], "nodes": []}), "mmrun merge"),
    ]


for label, text, fragment in malformed_documents():
    def malformed(text=text, fragment=fragment):
        with mm.tmpdir() as d:
            r = os.path.join(d, "r.json")
            with open(r, "w") as f:
                f.write(text)
            args = ["plot", r]
            res = mm.run_mmrun(args)
            mm.assert_error(res, 65, [r, fragment], args=args)
            mm.eq(files_in(d), ["r.json"], "files after a malformed document")
    mm.add_test("plot: a malformed document (%s) is 65 naming the file and the key" % label, malformed)


@mm.test("plot: a missing document is 66, a folder, an oversized file or one of too many values 65, each naming the file")
def _():
    with mm.tmpdir() as d:
        r = os.path.join(d, "none.json")
        mm.assert_error(mm.run_mmrun(["plot", r]), 66, [r])
        mm.assert_error(mm.run_mmrun(["plot", d]), 65, [d])
        big = os.path.join(d, "big.json")
        with open(big, "wb") as f:
            f.truncate((256 << 20) + 1)  # sparse: refused by its size before any read
        mm.assert_error(mm.run_mmrun(["plot", big]), 65, [big])
        many = os.path.join(d, "many.json")
        with open(many, "w") as f:
            f.write('{"results": {"h": {"edges": [0, 1], "counts": [' + "0," * 16000001 + "0]}}}")
        mm.assert_error(mm.run_mmrun(["plot", many]), 65, [many, "JSON values"])


@mm.test("plot: a document with NaN and infinities everywhere, empty lanes and one value draws without error")
def _():
    with mm.tmpdir() as d:
        doc = {"mmrun": {"started": "2024-05-01T12:34:56Z"},
               "dataset": {"path": "/x/weird\u00e9\nname.f4", "shape": [3, 2]},
               "results": {
                   "s": {"count": [0, 2], "mean": ["NaN", "Infinity"], "std": ["NaN", "NaN"],
                         "min": ["NaN", "-Infinity"], "max": ["NaN", "Infinity"]},
                   "h": {"counts": [0, 0], "edges": [1.0, 1.0, 1.0], "below": 0, "above": 3, "nan_count": 0},
                   "q": {"values": ["NaN", "NaN"], "q": [0.1, 0.9]},
                   "one": {"values": 2.5},
                   "big": {"mean": [1e308, -1e308], "min": [-1.7e308, -1.7e308], "max": [1.7e308, 1.7e308]}}}
        r = os.path.join(d, "r.json")
        with open(r, "w") as f:
            json.dump(doc, f)
        res = run(["plot", r])
        mm.eq(len(res.out.splitlines()), 5, "pictures drawn")
        for p in res.out.splitlines():
            w, h, _ = png_pixels(p)
            mm.eq((w, h), (WIDTH, HEIGHT), "size of " + p)


if __name__ == "__main__":
    mm.main()
