#!/usr/bin/env python3
"""Writes the stubs through which mmrun calls the codec libraries of HDF5
chunks (libblosc, libdeflate) and cairo, so that those libraries are loaded
only by a run that needs them (docs/ARCHITECTURE.md, "Libraries loaded on
first use"). libhdf5 itself is linked in (CMakeLists.txt).

Each stub has the prototype of the library's function (the compiler checks
it against the library's header: a C function defined with other
parameters does not compile), looks the real function up once through its
mm::LazyLibrary and calls it.

Run it again after the code starts using another function of these
libraries (the link fails with an undefined reference until then):

    python3 scripts/lazy_stubs.py

It reads the headers installed on this machine (Debian 12: libblosc-dev, libdeflate-dev, libcairo2-dev) through the C preprocessor.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CAIRO_FUNCTIONS = """
cairo_arc cairo_clip cairo_close_path cairo_create cairo_debug_reset_static_data cairo_destroy
cairo_fill cairo_fill_preserve cairo_font_extents cairo_font_options_create
cairo_font_options_destroy cairo_font_options_set_hint_metrics cairo_font_options_set_hint_style
cairo_image_surface_create cairo_image_surface_get_data cairo_image_surface_get_stride
cairo_line_to cairo_move_to cairo_paint cairo_pattern_add_color_stop_rgb
cairo_pattern_create_linear cairo_pattern_destroy cairo_rectangle cairo_restore cairo_rotate
cairo_save cairo_select_font_face cairo_set_font_options cairo_set_font_size cairo_set_line_join
cairo_set_line_width cairo_set_source cairo_set_source_rgb cairo_set_source_rgba
cairo_set_source_surface cairo_show_text cairo_status cairo_status_to_string cairo_stroke
cairo_surface_destroy cairo_surface_finish cairo_surface_flush cairo_surface_mark_dirty
cairo_surface_status cairo_surface_write_to_png_stream cairo_svg_surface_create_for_stream
cairo_svg_surface_set_document_unit cairo_text_extents cairo_translate
""".split()

# (output file, own header, includes, [(library accessor, functions)])
OUTPUTS = [
    (
        "source/hdf5/codec_stubs.cc",
        "source/hdf5/hdf5_library.h",
        ["blosc.h", "libdeflate.h"],
        [
            ("mm::BloscLibrary()", "blosc_cbuffer_sizes blosc_cbuffer_validate "
             "blosc_decompress_ctx".split()),
            ("mm::DeflateLibrary()", "libdeflate_alloc_decompressor "
             "libdeflate_free_decompressor libdeflate_zlib_decompress".split()),
        ],
    ),
    (
        "plot/cairo_stubs.cc",
        "plot/cairo_library.h",
        ["cairo.h", "cairo-svg.h", "fontconfig/fontconfig.h"],
        [("mm::CairoLibrary()", CAIRO_FUNCTIONS), ("mm::FontconfigLibrary()", ["FcFini"])],
    ),
]

INCLUDE_DIRS = ["/usr/include/cairo"]
TYPE_WORDS = {"int", "char", "long", "short", "unsigned", "signed", "double", "float", "void",
              "const", "volatile", "struct", "enum", "union", "_Bool"}


def preprocess(includes):
    text = "".join("#include <%s>\n" % h for h in includes)
    args = ["cc", "-E", "-P", "-x", "c", "-"] + ["-I" + d for d in INCLUDE_DIRS]
    out = subprocess.run(args, input=text, capture_output=True, text=True, check=True).stdout
    out = re.sub(r"__attribute__\s*\(\(.*?\)\)", "", out)
    return re.sub(r"\s+", " ", out)


def split_top(params):
    parts, depth, cur = [], 0, ""
    for ch in params:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def named(param, i):
    """(declaration with a name, the name)."""
    m = re.search(r"\(\s*\*\s*(\w*)\s*\)", param)  # a function pointer
    if m:
        if m.group(1):
            return param, m.group(1)
        name = "a%d" % i
        return param[:m.start(1)] + name + param[m.start(1):], name
    base = re.sub(r"(\[[^\]]*\])+$", "", param).rstrip()
    suffix = param[len(base):]
    words = re.findall(r"\w+", base)
    last = words[-1] if words else ""
    if len(words) >= 2 and last not in TYPE_WORDS and not last.endswith("_t") \
            and not base.endswith("*" + " ") and re.search(r"\w$", base):
        return param, last
    name = "a%d" % i
    return base + " " + name + suffix, name


def prototype(text, fn):
    m = re.search(r"(?:^|[;}])\s*([^;{}]*?)\b%s\s*\(" % re.escape(fn), text)
    if not m:
        sys.exit("lazy_stubs: no prototype of %s" % fn)
    ret = re.sub(r"\bextern\b", "", m.group(1)).strip()
    i, depth = m.end(), 1
    start = i
    while depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    params = text[start:i - 1].strip()
    plist = [] if params in ("", "void") else split_top(params)
    if any(p == "..." for p in plist):
        sys.exit("lazy_stubs: %s takes variadic arguments" % fn)
    decls, names = zip(*[named(p, k) for k, p in enumerate(plist)]) if plist else ((), ())
    return ret, list(decls), list(names)


def stub(lib, fn, ret, decls, names):
    call = "%s(%s)" % ("f", ", ".join(names))
    lines = ["%s %s(%s) {" % (ret, fn, ", ".join(decls) or "void"),
             "  static const auto f = Lookup<decltype(&%s)>(%s, \"%s\");" % (fn, lib, fn)]
    if ret == "void":
        lines.append("  %s;" % call)
    else:
        lines.append("  return %s;" % call)
    return "\n".join(lines + ["}"])


def write(out, own_header, includes, groups):
    text = preprocess(includes)
    body = []
    for lib, fns in groups:
        for fn in fns:
            ret, decls, names = prototype(text, fn)
            body.append(stub(lib, fn, ret, decls, names))
    src = ["// Generated by scripts/lazy_stubs.py; do not edit. The functions of the",
           "// libraries below, each forwarding to the library loaded on first use",
           "// (core/lazy_library.h).",
           '#include "%s"' % own_header, ""]
    src += ["#include <%s>" % h for h in includes]
    src += ["", '#include "core/lazy_library.h"', "", "namespace {", "",
            "template <class F>",
            "F Lookup(mm::LazyLibrary& lib, const char* name) {",
            "  return reinterpret_cast<F>(lib.Symbol(name));",
            "}", ""]
    src += ["}  // namespace", "", 'extern "C" {', ""]
    src += ["\n\n".join(body), "", '}  // extern "C"', ""]
    path = os.path.join(ROOT, out)
    with open(path, "w") as f:
        f.write("\n".join(src))
    subprocess.run(["clang-format", "-i", path], check=False)
    print("wrote", out)


for spec in OUTPUTS:
    write(*spec)
