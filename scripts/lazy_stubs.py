#!/usr/bin/env python3
"""Writes the stubs through which mmrun calls libhdf5, its codec libraries
and cairo, so that those libraries are loaded only by a run that needs them
(docs/ARCHITECTURE.md, "Libraries loaded on first use").

Each stub has the prototype of the library's function (the compiler checks
it against the library's header: a C function defined with other
parameters does not compile), looks the real function up once through its
mm::LazyLibrary and calls it. Data objects the headers declare (libhdf5's
H5T_NATIVE_INT_g and the like) are defined here and copied from the
library once its H5open has run; every header macro that reads one calls
H5open first.

Run it again after the code starts using another function of these
libraries (the link fails with an undefined reference until then):

    python3 scripts/lazy_stubs.py

It reads the headers installed on this machine (Debian 12: libhdf5-dev,
libblosc-dev, libdeflate-dev, libcairo2-dev) through the C preprocessor.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HDF5_FUNCTIONS = """
H5Aclose H5Aexists H5Aget_space H5Aget_type H5Aopen H5Aread H5Dclose H5Dcreate2
H5Dget_chunk_info_by_coord H5Dget_chunk_storage_size H5Dget_create_plist H5Dget_offset
H5Dget_space H5Dget_storage_size H5Dget_type H5Dopen2 H5Dread H5Dread_chunk H5Dwrite
H5Dwrite_chunk H5Eclear2 H5Eset_auto2 H5Ewalk2 H5Fclose H5Fcreate H5Fflush
H5Fget_access_plist H5Fget_vfd_handle H5Fopen H5Gclose H5Gcreate2 H5Iget_file_id H5Lexists
H5Oget_info_by_name2 H5Ovisit2 H5PLget H5PLsize H5Pclose H5Pcreate H5Pfill_value_defined
H5Pget_chunk H5Pget_chunk_opts H5Pget_external H5Pget_external_count H5Pget_fill_time
H5Pget_fill_value H5Pget_filter2 H5Pget_layout H5Pget_nfilters H5Pget_virtual_count
H5Pget_virtual_filename H5Pset_alloc_time H5Pset_chunk H5Pset_chunk_cache H5Pset_deflate
H5Pset_efile_prefix H5Pset_fapl_core H5Pset_fapl_sec2 H5Pset_fclose_degree H5Pset_filter
H5Pset_obj_track_times H5Pset_shuffle H5Pset_szip H5Pset_virtual_prefix H5Sclose H5Screate
H5Screate_simple H5Sget_simple_extent_dims H5Sget_simple_extent_ndims
H5Sget_simple_extent_npoints H5Sget_simple_extent_type H5Sselect_hyperslab H5Tclose H5Tcopy
H5Tenum_create H5Tenum_insert H5Tequal H5Tget_class H5Tget_fields H5Tget_member_name
H5Tget_member_value H5Tget_nmembers H5Tget_offset H5Tget_order H5Tget_precision H5Tget_sign
H5Tget_size H5Tis_variable_str H5Tset_ebias H5Tset_fields H5Tset_size H5Zfilter_avail
H5Zget_filter_info H5check_version H5free_memory H5open
H5Fget_obj_count H5Gopen2 H5Oget_info2 H5Pset_fill_value H5Tset_offset H5Tset_precision
""".split()

# (The last line: functions only the unit tests call.)

# The library's global identifiers behind the header macros (H5T_NATIVE_INT
# is `(H5open(), H5T_NATIVE_INT_g)`), all of type hid_t.
HDF5_GLOBALS = """
H5E_CANTLOCKFILE_g H5P_CLS_DATASET_ACCESS_ID_g H5P_CLS_DATASET_CREATE_ID_g
H5P_CLS_FILE_ACCESS_ID_g H5P_CLS_FILE_CREATE_ID_g H5P_CLS_GROUP_CREATE_ID_g H5T_IEEE_F32BE_g
H5T_IEEE_F32LE_g H5T_IEEE_F64BE_g H5T_IEEE_F64LE_g H5T_NATIVE_DOUBLE_g H5T_NATIVE_INT8_g
H5T_NATIVE_LDOUBLE_g H5T_NATIVE_LLONG_g H5T_NATIVE_SCHAR_g H5T_NATIVE_ULLONG_g H5T_STD_I16BE_g
H5T_STD_I16LE_g H5T_STD_I32BE_g H5T_STD_I32LE_g H5T_STD_I64BE_g H5T_STD_I64LE_g H5T_STD_I8LE_g
H5T_STD_U16BE_g H5T_STD_U16LE_g H5T_STD_U32BE_g H5T_STD_U32LE_g H5T_STD_U64BE_g H5T_STD_U64LE_g
H5T_STD_U8LE_g H5T_NATIVE_FLOAT_g H5T_NATIVE_INT16_g
""".split()

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

# (output file, own header, includes, [(library accessor, functions)], globals)
OUTPUTS = [
    (
        "source/hdf5/hdf5_stubs.cc",
        "source/hdf5/hdf5_library.h",
        ["hdf5.h", "blosc.h", "libdeflate.h"],
        [
            ("mm::Hdf5Library()", HDF5_FUNCTIONS),
            ("mm::BloscLibrary()", "blosc_cbuffer_sizes blosc_cbuffer_validate "
             "blosc_decompress_ctx".split()),
            ("mm::DeflateLibrary()", "libdeflate_alloc_decompressor "
             "libdeflate_free_decompressor libdeflate_zlib_decompress".split()),
        ],
        HDF5_GLOBALS,
    ),
    (
        "plot/cairo_stubs.cc",
        "plot/cairo_library.h",
        ["cairo.h", "cairo-svg.h", "fontconfig/fontconfig.h"],
        [("mm::CairoLibrary()", CAIRO_FUNCTIONS), ("mm::FontconfigLibrary()", ["FcFini"])],
        [],
    ),
]

INCLUDE_DIRS = ["/usr/include/hdf5/serial", "/usr/include/cairo"]
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


def stub(lib, fn, ret, decls, names, after=""):
    call = "%s(%s)" % ("f", ", ".join(names))
    lines = ["%s %s(%s) {" % (ret, fn, ", ".join(decls) or "void"),
             "  static const auto f = Lookup<decltype(&%s)>(%s, \"%s\");" % (fn, lib, fn)]
    if after:
        lines += ["  const auto r = %s;" % call, after, "  return r;"]
    elif ret == "void":
        lines.append("  %s;" % call)
    else:
        lines.append("  return %s;" % call)
    return "\n".join(lines + ["}"])


def write(out, own_header, includes, groups, globals_):
    text = preprocess(includes)
    body = []
    for lib, fns in groups:
        for fn in fns:
            ret, decls, names = prototype(text, fn)
            after = ""
            if fn == "H5open" and globals_:
                after = "  if (r >= 0) CopyGlobals();"
            body.append(stub(lib, fn, ret, decls, names, after))
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
    if globals_:
        src += ["void CopyGlobals() {",
                "  static bool copied = false;  // one thread per process (hdf5_file.h)",
                "  if (copied) return;"]
        for g in globals_:
            src.append("  %s = *static_cast<hid_t*>(mm::Hdf5Library().Symbol(\"%s\"));" % (g, g))
        src += ["  copied = true;", "}", ""]
    src += ["}  // namespace", "", 'extern "C" {', ""]
    for g in globals_:
        src.append("hid_t %s = H5I_INVALID_HID;" % g)
    if globals_:
        src.append("")
    src += ["\n\n".join(body), "", '}  // extern "C"', ""]
    path = os.path.join(ROOT, out)
    with open(path, "w") as f:
        f.write("\n".join(src))
    subprocess.run(["clang-format", "-i", path], check=False)
    print("wrote", out)


for spec in OUTPUTS:
    write(*spec)
