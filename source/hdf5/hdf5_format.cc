#include "source/hdf5/hdf5_format.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/strings.h"
#include "io/files.h"
#include "source/hdf5/cf_decode.h"
#include "source/hdf5/cf_source.h"
#include "source/hdf5/hdf5_chunks.h"
#include "source/hdf5/hdf5_file.h"
#include "source/hdf5/hdf5_source.h"
#include "source/raw/raw_source.h"

namespace mm {

namespace {

constexpr char kSignature[] = "\211HDF\r\n\032\n";
constexpr size_t kSignatureBytes = 8;

// CF attributes that change what a value means (SPEC §7): with one of
// them (or in a netCDF-4 file) "cf": "auto" decodes (CfDecodingOf).
const char* const kCfAttributes[] = {"_FillValue",  "missing_value", "valid_min",  "valid_max",
                                     "valid_range", "scale_factor",  "add_offset", "_Unsigned"};

// Whether `type` is an IEEE float of 2, 4 or 8 bytes (fields, no padding).
bool IeeeFloat(hid_t type) {
  const size_t size = H5Tget_size(type);
  size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize);
  const bool ieee = (size == 2 && spos == 15 && epos == 10 && esize == 5 && msize == 10) ||
                    (size == 4 && spos == 31 && epos == 23 && esize == 8 && msize == 23) ||
                    (size == 8 && spos == 63 && epos == 52 && esize == 11 && msize == 52);
  return ieee && mpos == 0 && H5Tget_offset(type) == 0 && H5Tget_precision(type) == 8 * size;
}

// Whether libhdf5 must convert `type` to read it as its TypeDescr (an
// integer of reduced precision or with a bit offset, a non-IEEE float).
bool NeedsConversion(hid_t type) {
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return H5Tget_precision(type) != 8 * size || H5Tget_offset(type) != 0;
    case H5T_FLOAT:
      return !IeeeFloat(type);
    default:
      return false;
  }
}

// "20-bit integer in 4 bytes", "4-byte float with 15-bit mantissa": what
// NeedsConversion converts, in messages.
std::string TypeName(hid_t type) {
  const size_t size = H5Tget_size(type);
  if (H5Tget_class(type) == H5T_INTEGER)
    return std::to_string(H5Tget_precision(type)) + "-bit integer in " + std::to_string(size) +
           " bytes";
  size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize);
  return std::to_string(size) + "-byte float with " + std::to_string(esize) + "-bit exponent and " +
         std::to_string(msize) + "-bit mantissa";
}

// The numpy descr of an HDF5 element type ("<f4", ">i2", "|b1"), or the
// name of the type mmrun does not read, in *unsupported.
std::string TypeDescr(hid_t type, std::string* unsupported) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  const char order = size == 1 ? '|' : H5Tget_order(type) == H5T_ORDER_BE ? '>' : '<';
  switch (cls) {
    case H5T_INTEGER: {
      // Any precision and bit offset (n-bit types: 20 bits in 4 bytes):
      // read converted to the full-size integer (Hdf5MemoryType), as h5py.
      if (size == 1 || size == 2 || size == 4 || size == 8)
        return std::string(1, order) + (H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "i") +
               std::to_string(size);
      *unsupported = TypeName(type);
      return "";
    }
    case H5T_FLOAT: {
      // IEEE half, and floats of 4 or 8 bytes with any fields (reduced
      // precision for n-bit): read converted to IEEE single or double, as h5py.
      if (size == 4 || size == 8 || IeeeFloat(type))
        return std::string(1, order) + "f" + std::to_string(size);
      *unsupported = size > 8 ? "long double (" + std::to_string(size) + "-byte float)"
                              : "non-IEEE " + std::to_string(size) + "-byte float";
      return "";
    }
    case H5T_ENUM: {
      // h5py's bool: an enum of int8 {FALSE = 0, TRUE = 1}.
      if (size == 1 && H5Tget_nmembers(type) == 2) {
        signed char v0 = -1, v1 = -1;
        char* n0 = H5Tget_member_name(type, 0);
        char* n1 = H5Tget_member_name(type, 1);
        H5Tget_member_value(type, 0, &v0);
        H5Tget_member_value(type, 1, &v1);
        const bool is_bool = n0 != nullptr && n1 != nullptr && std::strcmp(n0, "FALSE") == 0 &&
                             std::strcmp(n1, "TRUE") == 0 && v0 == 0 && v1 == 1;
        H5free_memory(n0);
        H5free_memory(n1);
        if (is_bool) return "|b1";
      }
      *unsupported = "enum";
      return "";
    }
    case H5T_COMPOUND:
      *unsupported = "compound";
      return "";
    case H5T_STRING:
      *unsupported = "string";
      return "";
    case H5T_VLEN:
      *unsupported = "variable-length";
      return "";
    case H5T_REFERENCE:
      *unsupported = "reference";
      return "";
    case H5T_OPAQUE:
      *unsupported = "opaque";
      return "";
    case H5T_TIME:
      *unsupported = "time";
      return "";
    case H5T_ARRAY:
      *unsupported = "array";
      return "";
    case H5T_BITFIELD:
      *unsupported = "bitfield";
      return "";
    default:
      *unsupported = "unknown class";
      return "";
  }
}

// Every dataset reachable from the root, as "/path", in name order.
herr_t VisitDataset(hid_t /*obj*/, const char* name, const H5O_info_t* info, void* data) {
  if (info->type == H5O_TYPE_DATASET)
    static_cast<std::vector<std::string>*>(data)->push_back(std::string("/") + name);
  return 0;
}

std::vector<std::string> ListDatasets(hid_t file) {
  std::vector<std::string> names;
  H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, VisitDataset, &names, H5O_INFO_BASIC);
  H5Eclear2(H5E_DEFAULT);
  return names;
}

std::string Normalize(const std::string& name) { return name[0] == '/' ? name : "/" + name; }

// "the closest dataset is '/x'" for a name that is not a dataset.
std::string Closest(const std::string& name, const std::vector<std::string>& all) {
  if (all.empty()) return "the file holds no dataset";
  std::string best = ClosestName(name, all);
  if (best.empty()) {  // nothing near: the one with the fewest edits
    size_t d = SIZE_MAX;
    for (const std::string& c : all)
      if (EditDistance(name, c) < d) d = EditDistance(name, c), best = c;
  }
  std::string text = "did you mean '" + EscapeNonUtf8(best) + "'? (the file's datasets: ";
  for (size_t i = 0; i < all.size() && i < 10; ++i) text += (i ? ", " : "") + EscapeNonUtf8(all[i]);
  return text + (all.size() > 10 ? ", ...)" : ")");
}

struct Located {
  std::string name;  // "/path"
  Hid dset;
};

// `name` (absolute) with the external links on its way that point into
// this same file (dev/ino) replaced by their target paths, or "" when
// there is none. libhdf5 opens a link's file with its own access
// properties, which cannot share the run's open of it (that one closes
// with H5F_CLOSE_STRONG, the link's file with WEAK): h5py follows such a
// link, and so does mmrun, by its target path. A link's file is looked
// for as libhdf5 1.10 does: an absolute name as given, a relative one in
// the working folder, then in the HDF5 file's `folder`. Links to other
// files are libhdf5's to follow.
std::string FollowSelfLinks(hid_t file, const std::string& name, const std::string& folder,
                            uint64_t dev, uint64_t ino) {
  std::string rest = name, at;
  bool followed = false;
  for (int hops = 0; hops < 32 && !rest.empty();) {
    const size_t slash = rest.find('/', 1);
    const std::string part = rest.substr(0, slash);
    rest = slash == std::string::npos ? "" : rest.substr(slash);
    const std::string next = at + part;
    H5L_info_t li;
    if (H5Lget_info(file, next.c_str(), &li, H5P_DEFAULT) < 0) break;
    if (li.type != H5L_TYPE_EXTERNAL) {
      at = next;
      continue;
    }
    std::string val(li.u.val_size, '\0');
    const char* link_file = nullptr;
    const char* link_path = nullptr;
    unsigned flags = 0;
    if (H5Lget_val(file, next.c_str(), &val[0], val.size(), H5P_DEFAULT) < 0 ||
        H5Lunpack_elink_val(&val[0], val.size(), &flags, &link_file, &link_path) < 0 ||
        link_file == nullptr || link_path == nullptr)
      break;
    const std::string target(link_file);
    std::vector<std::string> places{target};
    if (!target.empty() && target[0] != '/') places.push_back(folder + "/" + target);
    struct stat st;
    bool self = false;
    for (const std::string& p : places)
      if (::stat(p.c_str(), &st) == 0) {
        self = static_cast<uint64_t>(st.st_dev) == dev && static_cast<uint64_t>(st.st_ino) == ino;
        break;
      }
    if (!self) break;
    rest = Normalize(link_path) + rest;  // from the root again
    at.clear();
    followed = true;
    ++hops;
  }
  H5Eclear2(H5E_DEFAULT);
  return followed ? at + rest : "";
}

// The dataset the spec names, or the file's only numeric dataset.
Result<Located> Locate(hid_t file, const DatasetSpec& spec, const std::string& path, uint64_t dev,
                       uint64_t ino) {
  const std::vector<std::string> all = ListDatasets(file);
  Located out;
  const std::string folder = DirName(path);
  if (spec.name) {
    out.name = Normalize(*spec.name);
    H5O_info_t info;
    auto found = [&] {
      const htri_t exists = H5Lexists(file, out.name.c_str(), H5P_DEFAULT);
      const bool ok = exists > 0 && H5Oget_info_by_name2(file, out.name.c_str(), &info,
                                                         H5O_INFO_BASIC, H5P_DEFAULT) >= 0;
      H5Eclear2(H5E_DEFAULT);  // an intermediate group that is missing fails, not false
      return ok;
    };
    bool here = found();
    if (!here) {  // an external link into this file on the way?
      const std::string followed = FollowSelfLinks(file, out.name, folder, dev, ino);
      if (!followed.empty()) {
        out.name = followed;
        here = found();
      }
    }
    if (!here) {
      return Error(Code::kConfig, "config key 'dataset.name': no dataset '" + *spec.name + "' in " +
                                      path + "; " + Closest(out.name, all));
    }
    if (info.type != H5O_TYPE_DATASET)
      return Error(Code::kConfig, "config key 'dataset.name': '" + *spec.name + "' in " + path +
                                      " is a " +
                                      (info.type == H5O_TYPE_GROUP ? "group" : "named datatype") +
                                      ", not a dataset; " + Closest(out.name, all));
  } else {
    std::vector<std::string> numeric;
    for (const std::string& n : all) {
      Hid d(H5Dopen2(file, n.c_str(), H5P_DEFAULT), H5Dclose);
      Hid t(d.valid() ? H5Dget_type(d.get()) : -1, H5Tclose);
      std::string unsupported;
      if (t.valid() && !TypeDescr(t.get(), &unsupported).empty()) numeric.push_back(n);
    }
    H5Eclear2(H5E_DEFAULT);
    if (numeric.size() == 1) {
      out.name = numeric[0];
    } else if (numeric.empty() && all.size() == 1) {
      out.name = all[0];  // its type is refused below, naming it
    } else {
      std::string list;
      for (size_t i = 0; i < numeric.size() && i < 10; ++i)
        list += (i ? ", " : "") + EscapeNonUtf8(numeric[i]);
      return Error(
          Code::kConfig,
          "config key 'dataset.name': is required: " + path + " holds " +
              std::to_string(numeric.size()) + " numeric datasets" +
              (numeric.empty() ? "" : " (" + list + (numeric.size() > 10 ? ", ...)" : ")")));
    }
  }
  // A name given in the config is UTF-8 already; one found in the file
  // goes to the workers in the JSON plan, which must carry it exactly.
  if (!IsUtf8(out.name))
    return Error(Code::kDataErr, path + ": dataset '" + EscapeNonUtf8(out.name) +
                                     "': its name is not UTF-8 text, which mmrun's JSON plan "
                                     "cannot carry; rename it (h5py: f.move) to read it");
  MM_ASSIGN_OR_RETURN(out.dset, OpenH5Dataset(file, out.name, folder, path));
  return out;
}

struct FilterInfo {
  int id = 0;
  std::string name;
  bool available = false;
};

std::vector<FilterInfo> Filters(hid_t dcpl) {
  std::vector<FilterInfo> out;
  const int n = H5Pget_nfilters(dcpl);
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, config = 0;
    size_t nelmts = 0;
    char name[256] = {0};
    FilterInfo f;
    f.id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelmts, nullptr, sizeof name,
                          name, &config);
    f.name = name[0] != '\0' ? name : "filter " + std::to_string(f.id);
    f.available = H5Zfilter_avail(f.id) > 0;
    out.push_back(f);
  }
  H5Eclear2(H5E_DEFAULT);
  return out;
}

std::string LayoutName(hid_t dcpl) {
  switch (H5Pget_layout(dcpl)) {
    case H5D_CONTIGUOUS:
      return H5Pget_external_count(dcpl) > 0 ? "external" : "contiguous";
    case H5D_CHUNKED:
      return "chunked";
    case H5D_COMPACT:
      return "compact";
    case H5D_VIRTUAL:
      return "virtual";
    default:
      return "unknown";
  }
}

std::vector<int64_t> Dims(hid_t dset) {
  Hid space(H5Dget_space(dset), H5Sclose);
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  std::vector<hsize_t> dims(static_cast<size_t>(rank > 0 ? rank : 0));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

std::vector<std::string> CfAttributesOf(hid_t dset) {
  std::vector<std::string> out;
  for (const char* a : kCfAttributes)
    if (H5Aexists(dset, a) > 0) out.push_back(a);
  H5Eclear2(H5E_DEFAULT);
  return out;
}

// An attribute's value as JSON: numbers (one, or a list), or a string;
// null for what it cannot show.
Json AttributeJson(hid_t dset, const char* name) {
  Hid attr(H5Aopen(dset, name, H5P_DEFAULT), H5Aclose);
  Hid type(attr.valid() ? H5Aget_type(attr.get()) : -1, H5Tclose);
  Hid space(attr.valid() ? H5Aget_space(attr.get()) : -1, H5Sclose);
  if (!type.valid() || !space.valid()) return nullptr;
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  const H5T_class_t cls = H5Tget_class(type.get());
  if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && n >= 1 && n <= 64) {
    std::vector<double> v(static_cast<size_t>(n));
    if (H5Aread(attr.get(), H5T_NATIVE_DOUBLE, v.data()) < 0) return nullptr;
    if (n == 1) return JsonNumber(v[0]);
    Json list = Json::array();
    for (double x : v) list.push_back(JsonNumber(x));
    return list;
  }
  if (cls == H5T_STRING && n == 1) {
    if (H5Tis_variable_str(type.get()) > 0) {
      char* s = nullptr;
      Hid mem(H5Tcopy(type.get()), H5Tclose);
      if (H5Aread(attr.get(), mem.get(), &s) < 0 || s == nullptr) return nullptr;
      std::string text(s);
      H5free_memory(s);
      return text;
    }
    std::string buf(H5Tget_size(type.get()), '\0');
    if (H5Aread(attr.get(), type.get(), &buf[0]) < 0) return nullptr;
    return std::string(buf.c_str());
  }
  return nullptr;
}

// The dataset's fill value as a number (null when undefined or not numeric).
Json FillValueJson(hid_t dcpl, const std::string& descr) {
  H5D_fill_value_t defined;
  if (descr.empty() || H5Pfill_value_defined(dcpl, &defined) < 0 ||
      defined == H5D_FILL_VALUE_UNDEFINED)
    return nullptr;
  if (descr[1] == 'f') {
    double v = 0;
    if (H5Pget_fill_value(dcpl, H5T_NATIVE_DOUBLE, &v) < 0) return nullptr;
    return JsonNumber(v);
  }
  if (descr[1] == 'u') {
    unsigned long long v = 0;
    if (H5Pget_fill_value(dcpl, H5T_NATIVE_ULLONG, &v) < 0) return nullptr;
    return static_cast<uint64_t>(v);
  }
  long long v = 0;
  if (H5Pget_fill_value(dcpl, descr[1] == 'b' ? H5T_NATIVE_SCHAR : H5T_NATIVE_LLONG,
                        descr[1] == 'b' ? static_cast<void*>(reinterpret_cast<signed char*>(&v))
                                        : static_cast<void*>(&v)) < 0)
    return nullptr;
  if (descr[1] == 'b') return reinterpret_cast<signed char*>(&v)[0] != 0;
  return static_cast<int64_t>(v);
}

// An attribute's numeric values, exactly (a long double holds every int64,
// uint64 and float64), and whether its type is a float; false when absent,
// empty, not numeric or over 64 values.
bool NumericAttribute(hid_t dset, const char* name, std::vector<long double>* values,
                      bool* is_float) {
  if (H5Aexists(dset, name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  Hid attr(H5Aopen(dset, name, H5P_DEFAULT), H5Aclose);
  Hid type(attr.valid() ? H5Aget_type(attr.get()) : -1, H5Tclose);
  Hid space(attr.valid() ? H5Aget_space(attr.get()) : -1, H5Sclose);
  if (!type.valid() || !space.valid()) return false;
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  const H5T_class_t cls = H5Tget_class(type.get());
  if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || n < 1 || n > 64) return false;
  values->assign(static_cast<size_t>(n), 0);
  if (H5Aread(attr.get(), H5T_NATIVE_LDOUBLE, values->data()) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  *is_float = cls == H5T_FLOAT;
  return true;
}

// netCDF4-python's _check_safecast: every value equals itself cast to the
// variable's type `k` (numpy.array(att, dtype) == att; a NaN matches NaN).
// On success, each cast value's native bits in *bits.
bool SafeCast(const std::vector<long double>& values, Kind k, std::vector<uint64_t>* bits) {
  bits->clear();
  for (const long double x : values) {
    uint64_t b = 0;
    const bool ok = VisitKind(k, [&](auto traits) {
      using T = decltype(traits);
      using S = typename T::Storage;
      if constexpr (T::kIsBool || T::kKind == Kind::kFloat16) {
        return false;
      } else if constexpr (T::kIsFloat) {
        const S v = static_cast<S>(x);
        if (!(std::isnan(x) || static_cast<long double>(v) == x)) return false;
        std::memcpy(&b, &v, sizeof v);
        return true;
      } else {
        if (!std::isfinite(x) || x != std::floor(x) ||
            x < static_cast<long double>(std::numeric_limits<S>::min()) ||
            x > static_cast<long double>(std::numeric_limits<S>::max()))
          return false;
        const S v = static_cast<S>(x);
        std::memcpy(&b, &v, sizeof v);
        return true;
      }
    });
    if (!ok) return false;
    bits->push_back(b);
  }
  return true;
}

// A compare-type value (native bits) as JSON.
Json BitsJson(uint64_t bits, Kind k) {
  return VisitKind(k, [&](auto traits) -> Json {
    using T = decltype(traits);
    using S = typename T::Storage;
    S v;
    std::memcpy(&v, &bits, sizeof v);
    if constexpr (T::kIsFloat && T::kKind != Kind::kFloat16)
      return JsonNumber(static_cast<double>(v));
    else
      return JsonInt(static_cast<int128>(v));
  });
}

// netCDF4.default_fillvals (netcdf.h's NC_FILL_*), by the variable's kind.
uint64_t DefaultFillBits(Kind k) {
  uint64_t b = 0;
  VisitKind(k, [&](auto traits) {
    using T = decltype(traits);
    using S = typename T::Storage;
    S v{};
    if constexpr (T::kIsFloat && T::kKind != Kind::kFloat16)
      v = static_cast<S>(9.9692099683868690e+36);
    else if constexpr (T::kIsSigned)  // -127, -32767, -2147483647, -9223372036854775806
      v = static_cast<S>(-std::numeric_limits<S>::max() + (sizeof(S) == 8 ? 1 : 0));
    else if constexpr (T::kIsInteger)
      v = static_cast<S>(std::numeric_limits<S>::max() - (sizeof(S) == 8 ? 1 : 0));
    std::memcpy(&b, &v, sizeof v);
  });
  return b;
}

Kind UnsignedOf(Kind k) {
  switch (k) {
    case Kind::kInt8:
      return Kind::kUInt8;
    case Kind::kInt16:
      return Kind::kUInt16;
    case Kind::kInt32:
      return Kind::kUInt32;
    case Kind::kInt64:
      return Kind::kUInt64;
    default:
      return k;
  }
}

// Whether an attribute is "true" for Python: a non-empty string, or a
// non-zero number (netCDF4-python's getattr(var, '_Unsigned', False)).
bool TruthyAttribute(hid_t dset, const char* name) {
  if (H5Aexists(dset, name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  const Json v = AttributeJson(dset, name);
  if (v.is_string()) return !v.get<std::string>().empty();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_array()) return !v.empty() && v[0].is_number() && v[0].get<double>() != 0;
  return false;
}

// The CF decoding of a dataset of element type `stored`, as netCDF4-python
// 1.6 (Variable._toma and __getitem__) applies it with its default
// auto-mask-and-scale; `always`: "cf": true, else "auto" (decode only with a
// CF attribute or in a netCDF-4 file). The decoded type in *decoded.
// Errors: kConfig for an integer scale_factor / add_offset (not supported).
Result<CfDecoding> CfDecodingOf(hid_t file, hid_t dset, hid_t dcpl, DType stored, bool always,
                                const std::string& what, Kind* decoded) {
  CfDecoding cf;
  if (stored.is_bool() || stored.kind == Kind::kFloat16) return cf;  // never decoded
  const bool netcdf4 = H5Aexists(file, "_NCProperties") > 0;
  H5Eclear2(H5E_DEFAULT);
  if (!always && !netcdf4 && CfAttributesOf(dset).empty()) return cf;
  const Kind k = stored.kind;  // the variable's type (native kind)
  cf.stored = stored;
  cf.as_unsigned = stored.is_signed() && TruthyAttribute(dset, "_Unsigned");
  const Kind compare = cf.as_unsigned ? UnsignedOf(k) : k;
  Json report = Json::object();
  report["decoded"] = true;
  report["stored_dtype"] = stored.descr();
  if (cf.as_unsigned) report["unsigned"] = true;
  bool masks = false;  // a masking rule applies (netCDF4-python's masked array)
  std::vector<long double> values;
  std::vector<uint64_t> bits;
  bool is_float = false;
  auto add_equal = [&](const std::vector<uint64_t>& b) {
    for (const uint64_t x : b) {
      // A NaN fill or missing value masks NaN, which decodes as NaN anyway.
      const bool nan = VisitKind(compare, [&](auto traits) {
        using T = decltype(traits);
        typename T::Storage v;
        std::memcpy(&v, &x, sizeof v);
        if constexpr (T::kIsFloat) return std::isnan(static_cast<double>(v));
        return false;
      });
      if (!nan) cf.equal.push_back(x);
    }
  };
  if (NumericAttribute(dset, "missing_value", &values, &is_float) && SafeCast(values, k, &bits)) {
    add_equal(bits);
    masks = true;
    Json list = Json::array();
    for (const uint64_t b : bits) list.push_back(BitsJson(b, compare));
    report["missing_value"] = list.size() == 1 ? list[0] : list;
  }
  if (NumericAttribute(dset, "_FillValue", &values, &is_float) && SafeCast(values, k, &bits)) {
    add_equal(bits);
    masks = true;
    report["fill_value"] = BitsJson(bits[0], compare);
  } else {
    // No usable _FillValue: netCDF's default fill of the type, except for
    // bytes of a variable whose fill is off (netcdf-c: no user-defined HDF5
    // fill value). Under _Unsigned the (negative) default never equals an
    // unsigned value.
    H5D_fill_value_t defined = H5D_FILL_VALUE_UNDEFINED;
    const bool no_fill =
        H5Pfill_value_defined(dcpl, &defined) < 0 || defined != H5D_FILL_VALUE_USER_DEFINED;
    H5Eclear2(H5E_DEFAULT);
    const bool byte = stored.itemsize() == 1;
    if (!(no_fill && byte)) {
      const uint64_t fill = DefaultFillBits(k);
      if (!cf.as_unsigned) {  // else nothing to mask: the type stays unsigned
        masks = true;
        cf.equal.push_back(fill);
        report["default_fill"] = BitsJson(fill, k);
      }
    }
  }
  std::vector<uint64_t> range;
  if (NumericAttribute(dset, "valid_range", &values, &is_float) && SafeCast(values, k, &range) &&
      range.size() == 2) {
    cf.has_min = cf.has_max = masks = true;
    cf.valid_min = range[0];
    cf.valid_max = range[1];
    report["valid_range"] = {BitsJson(range[0], compare), BitsJson(range[1], compare)};
  } else {
    if (NumericAttribute(dset, "valid_min", &values, &is_float) && SafeCast(values, k, &bits)) {
      cf.has_min = masks = true;
      cf.valid_min = bits[0];
      report["valid_min"] = BitsJson(bits[0], compare);
    }
    if (NumericAttribute(dset, "valid_max", &values, &is_float) && SafeCast(values, k, &bits)) {
      cf.has_max = masks = true;
      cf.valid_max = bits[0];
      report["valid_max"] = BitsJson(bits[0], compare);
    }
  }
  // Unpacking: netCDF4-python's `data*scale_factor + add_offset` (only
  // when float() accepts them: one value each).
  std::vector<long double> sv, ov;
  bool s_float = false, o_float = false;
  const bool has_scale = NumericAttribute(dset, "scale_factor", &sv, &s_float) && sv.size() == 1;
  const bool has_offset = NumericAttribute(dset, "add_offset", &ov, &o_float) && ov.size() == 1;
  if ((has_scale && !s_float) || (has_offset && !o_float))
    return Error(Code::kConfig, "config key 'dataset.cf': dataset " + what +
                                    " has an integer scale_factor or add_offset, which mmrun "
                                    "does not unpack; use \"cf\": false to read the stored values");
  auto kind_of = [&](const char* name) {
    Hid attr(H5Aopen(dset, name, H5P_DEFAULT), H5Aclose);
    Hid type(attr.valid() ? H5Aget_type(attr.get()) : -1, H5Tclose);
    return type.valid() && H5Tget_size(type.get()) == 4 ? Kind::kFloat32 : Kind::kFloat64;
  };
  const double scale = has_scale ? static_cast<double>(sv[0]) : 1;
  const double offset = has_offset ? static_cast<double>(ov[0]) : 0;
  const Kind skind = has_scale ? kind_of("scale_factor") : Kind::kFloat64;
  const Kind okind = has_offset ? kind_of("add_offset") : Kind::kFloat64;
  Kind out = compare;
  bool unpacks = true;
  if (has_scale && has_offset) {
    if (offset != 0 || scale != 1) {
      cf.op = CfDecoding::kScaleOffset;
      cf.multiply_kind = CfPromote(compare, skind, scale);
      out = CfPromote(cf.multiply_kind, okind, offset);
    } else {
      cf.op = CfDecoding::kConvert;  // netCDF4-python: data.astype(scale_factor.dtype)
      out = skind;
    }
  } else if (has_scale && scale != 1) {
    cf.op = CfDecoding::kScale;
    out = CfPromote(compare, skind, scale);
  } else if (has_offset && offset != 0) {
    cf.op = CfDecoding::kOffset;
    out = CfPromote(compare, okind, offset);
  } else {
    unpacks = false;
    // Masked integers become float64 (NaN for a masked value; exact up to 2^53).
    if (masks && !DType{compare, false}.is_float()) out = Kind::kFloat64;
  }
  if (has_scale) report["scale_factor"] = JsonNumber(scale);
  if (has_offset) report["add_offset"] = JsonNumber(offset);
  if (!masks && !unpacks && !cf.as_unsigned) return CfDecoding();  // nothing to decode
  report["dtype"] = DType{out, false}.descr();
  cf.scale = scale;
  cf.offset = offset;
  cf.decoded = true;
  cf.report = report;
  *decoded = out;
  return cf;
}

Json DescribeForInspect(hid_t file, hid_t dset, const std::string& name) {
  Json j = Json::object();
  j["name"] = name;
  Hid type(H5Dget_type(dset), H5Tclose);
  Hid dcpl(H5Dget_create_plist(dset), H5Pclose);
  std::string unsupported;
  const std::string descr = TypeDescr(type.get(), &unsupported);
  j["dtype"] = descr.empty() ? Json(nullptr) : Json(descr);
  if (descr.empty()) j["unsupported_type"] = unsupported;
  const std::vector<int64_t> shape = Dims(dset);
  j["shape"] = shape;
  j["layout"] = LayoutName(dcpl.get());
  std::vector<int64_t> chunks;
  if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
    std::vector<hsize_t> c(shape.size());
    if (!c.empty() && H5Pget_chunk(dcpl.get(), static_cast<int>(c.size()), c.data()) > 0)
      for (hsize_t x : c) chunks.push_back(static_cast<int64_t>(x));
  }
  j["chunks"] = chunks.empty() ? Json(nullptr) : Json(chunks);
  Json filters = Json::array();
  for (const FilterInfo& f : Filters(dcpl.get()))
    filters.push_back({{"id", f.id}, {"name", f.name}, {"available", f.available}});
  j["filters"] = filters;
  j["fill_value"] = FillValueJson(dcpl.get(), descr);
  Json cf = Json::object();
  for (const char* a : kCfAttributes)
    if (H5Aexists(dset, a) > 0) cf[a] = AttributeJson(dset, a);
  for (const char* a : {"units", "long_name", "standard_name"})
    if (H5Aexists(dset, a) > 0) cf[a] = AttributeJson(dset, a);
  j["cf_attributes"] = cf;
  if (!descr.empty()) {  // what "cf": "auto" would do (SPEC §7)
    Kind decoded = Kind::kFloat64;
    Result<DType> stored = ParseDType(descr);
    Result<CfDecoding> plan =
        CfDecodingOf(file, dset, dcpl.get(), *stored, false, "'" + name + "'", &decoded);
    j["cf_auto"] = !plan.ok()      ? Json(plan.status().message())
                   : plan->decoded ? plan->report
                                   : Json{{"decoded", false}};
  }
  j["stored_bytes"] = static_cast<uint64_t>(H5Dget_storage_size(dset));
  uint64_t logical = H5Tget_size(type.get());
  for (int64_t n : shape) logical *= static_cast<uint64_t>(n);
  j["logical_bytes"] = logical;
  H5Eclear2(H5E_DEFAULT);
  return j;
}

Status Contradiction(const std::string& key, const std::string& what,
                     const std::string& config_value, const std::string& file_value) {
  return Error(Code::kConfig, "config key 'dataset." + key + "': " + config_value +
                                  " contradicts the HDF5 dataset " + what + " (" + file_value +
                                  ")");
}

// A file libhdf5 opens by name for dataset `dataset` of d (an external raw
// file, a virtual dataset's source), at `file`: it must be a regular file (a
// FIFO would block a worker forever, a device is no array): kNoInput (66)
// otherwise; a missing one too unless `missing_ok`. One that exists is
// added to d->read_files.
Status CheckStoredIn(Dataset* d, const std::string& dataset, const std::string& file,
                     bool missing_ok) {
  const std::string what = d->path + ": dataset '" + dataset + "' stores its data in " + file;
  struct stat st;
  if (::stat(file.c_str(), &st) != 0)
    return missing_ok && errno == ENOENT ? Status::OK() : FromErrno(errno, what, Code::kNoInput);
  if (!S_ISREG(st.st_mode)) return Error(Code::kNoInput, what + ", which is not a regular file");
  d->read_files.push_back(file);
  return Status::OK();
}

// The files libhdf5 opens by name to read dataset `name` (creation
// properties `dcpl`) of the open file `file` in folder `folder`, each
// checked with CheckStoredIn, and the sources of a virtual dataset in
// turn (to `depth` 8): a source in this file ("."), or in another HDF5
// file, may itself store its data in an external raw file or map other
// sources.
//
// External raw files are resolved against the file's folder, as mmrun
// opens them; a virtual source's own external files also against the
// working directory, where libhdf5 1.10 may look for them. For a virtual
// source file every place libhdf5 1.10 looks (H5F_prefix_open_file) is
// checked: an absolute name as given, then its last component; a relative
// name (or that component) against the file's folder
// (H5Pset_virtual_prefix), then against the working directory
// (HDF5_VDS_PREFIX is not). A missing source is read as the fill value, as
// h5py does; a name with a printf-style '%' pattern is not checked.
Status CheckStorageFiles(Dataset* d, const std::string& name, hid_t dcpl, hid_t file,
                         const std::string& folder, int depth) {
  const H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) > 0) {
    const int n = H5Pget_external_count(dcpl);
    for (int i = 0; i < n; ++i) {
      char raw[4096] = {};
      off_t offset = 0;
      hsize_t size = 0;
      if (H5Pget_external(dcpl, static_cast<unsigned>(i), sizeof raw - 1, raw, &offset, &size) < 0)
        return Hdf5Error(Code::kDataErr, d->path + ": dataset '" + name + "': external file");
      const std::string ext(raw);
      if (ext.empty()) continue;
      MM_RETURN_IF_ERROR(
          CheckStoredIn(d, name, ext[0] == '/' ? ext : folder + "/" + ext, depth > 0));
      if (depth > 0 && ext[0] != '/') MM_RETURN_IF_ERROR(CheckStoredIn(d, name, ext, true));
    }
    return Status::OK();
  }
  if (layout != H5D_VIRTUAL || depth >= 8) return Status::OK();
  size_t n = 0;
  if (H5Pget_virtual_count(dcpl, &n) < 0)
    return Hdf5Error(Code::kDataErr, d->path + ": dataset '" + name + "': virtual mapping");
  for (size_t i = 0; i < n; ++i) {
    const ssize_t len = H5Pget_virtual_filename(dcpl, i, nullptr, 0);
    const ssize_t dlen = H5Pget_virtual_dsetname(dcpl, i, nullptr, 0);
    if (len < 0 || dlen < 0)
      return Hdf5Error(Code::kDataErr, d->path + ": dataset '" + name + "': virtual source");
    std::string source(static_cast<size_t>(len) + 1, '\0');
    H5Pget_virtual_filename(dcpl, i, &source[0], source.size());
    source.resize(static_cast<size_t>(len));
    std::string source_dset(static_cast<size_t>(dlen) + 1, '\0');
    H5Pget_virtual_dsetname(dcpl, i, &source_dset[0], source_dset.size());
    source_dset.resize(static_cast<size_t>(dlen));
    if (source.find('%') != std::string::npos || source_dset.find('%') != std::string::npos)
      continue;
    // The file the source is read from: this one, or the first candidate
    // that exists (each existing one must be a regular file).
    Hid other;
    hid_t in = file;
    std::string in_folder = folder;
    if (source != ".") {
      std::vector<std::string> candidates;
      std::string relative = source;
      if (source[0] == '/') {
        candidates.push_back(source);
        relative = source.substr(source.rfind('/') + 1);
      }
      candidates.push_back(DirName(d->path) + "/" + relative);
      candidates.push_back(relative);
      std::string opened;
      for (const std::string& c : candidates) {
        const size_t before = d->read_files.size();
        MM_RETURN_IF_ERROR(CheckStoredIn(d, name, c, true));
        if (opened.empty() && d->read_files.size() > before) opened = c;
      }
      if (opened.empty()) continue;
      other = Hid(H5Fopen(opened.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
      H5Eclear2(H5E_DEFAULT);
      if (!other.valid()) continue;  // read as the fill value, or an error when read
      in = other.get();
      in_folder = DirName(opened);
    }
    Hid source_id(H5Dopen2(in, source_dset.c_str(), H5P_DEFAULT), H5Dclose);
    H5Eclear2(H5E_DEFAULT);
    if (!source_id.valid()) continue;
    Hid source_dcpl(H5Dget_create_plist(source_id.get()), H5Pclose);
    if (!source_dcpl.valid()) continue;
    MM_RETURN_IF_ERROR(CheckStorageFiles(d, name + "', through its source '" + source_dset,
                                         source_dcpl.get(), in, in_folder, depth + 1));
  }
  return Status::OK();
}

}  // namespace

Hid Hdf5MemoryType(hid_t file_type) {
  if (!NeedsConversion(file_type)) return Hid(H5Tcopy(file_type), H5Tclose);
  const size_t size = H5Tget_size(file_type);
  const bool be = H5Tget_order(file_type) == H5T_ORDER_BE;
  hid_t standard = -1;  // a predefined type: never closed
  if (H5Tget_class(file_type) == H5T_FLOAT) {
    standard =
        size == 4 ? (be ? H5T_IEEE_F32BE : H5T_IEEE_F32LE) : (be ? H5T_IEEE_F64BE : H5T_IEEE_F64LE);
  } else {
    const bool u = H5Tget_sign(file_type) == H5T_SGN_NONE;
    switch (size) {
      case 1:
        standard = u ? H5T_STD_U8LE : H5T_STD_I8LE;
        break;
      case 2:
        standard = u ? (be ? H5T_STD_U16BE : H5T_STD_U16LE) : (be ? H5T_STD_I16BE : H5T_STD_I16LE);
        break;
      case 4:
        standard = u ? (be ? H5T_STD_U32BE : H5T_STD_U32LE) : (be ? H5T_STD_I32BE : H5T_STD_I32LE);
        break;
      default:
        standard = u ? (be ? H5T_STD_U64BE : H5T_STD_U64LE) : (be ? H5T_STD_I64BE : H5T_STD_I64LE);
        break;
    }
  }
  return Hid(H5Tcopy(standard), H5Tclose);
}

bool ProbeHdf5(std::string_view first_bytes, int fd) {
  if (first_bytes.substr(0, kSignatureBytes) == std::string_view(kSignature, kSignatureBytes))
    return true;
  if (fd < 0) return false;
  // A user block of 512, 1024, 2048 ... bytes before the superblock.
  for (uint64_t at = 512; at < (uint64_t{1} << 50); at *= 2) {
    char buf[kSignatureBytes];
    const ssize_t got = ::pread(fd, buf, sizeof buf, static_cast<off_t>(at));
    if (got != static_cast<ssize_t>(sizeof buf)) return false;
    if (std::memcmp(buf, kSignature, kSignatureBytes) == 0) return true;
  }
  return false;
}

Status DescribeHdf5(const DatasetSpec& spec, int fd, Dataset* d) {
  if (spec.offset)
    return Error(Code::kConfig, "config key 'dataset.offset': not allowed for an HDF5 file (" +
                                    d->path + " says where its data is)");
  if (spec.order && *spec.order != 'C')
    return Error(Code::kConfig, "config key 'dataset.order': HDF5 arrays are C order, got '" +
                                    std::string(1, *spec.order) + "'");
  MM_ASSIGN_OR_RETURN(Hid file, OpenHdf5File(fd, d->path, d->dev, d->ino, d->file_bytes));
  MM_ASSIGN_OR_RETURN(Located loc, Locate(file.get(), spec, d->path, d->dev, d->ino));
  const std::string what = "'" + loc.name + "' of " + d->path;
  const hid_t dset = loc.dset.get();
  Hid type(H5Dget_type(dset), H5Tclose);
  Hid dcpl(H5Dget_create_plist(dset), H5Pclose);
  Hid space(H5Dget_space(dset), H5Sclose);
  if (!type.valid() || !dcpl.valid() || !space.valid())
    return Hdf5Error(Code::kDataErr, d->path + ": dataset '" + loc.name + "'");
  std::string unsupported;
  const std::string descr = TypeDescr(type.get(), &unsupported);
  if (descr.empty())
    return Error(Code::kDataErr, d->path + ": dataset '" + loc.name + "' has element type " +
                                     unsupported + ": mmrun reads numeric datasets only");
  if (H5Sget_simple_extent_type(space.get()) != H5S_SIMPLE)
    return Error(Code::kDataErr,
                 d->path + ": dataset '" + loc.name + "' is scalar or empty (0-d): not supported");
  const std::vector<int64_t> shape = Dims(dset);
  for (size_t i = 1; i < shape.size(); ++i)
    if (shape[i] == 0)
      return Error(Code::kDataErr, d->path + ": dataset '" + loc.name + "' is empty along axis " +
                                       std::to_string(i) + " (shape " + ShapeString(shape) +
                                       "): only axis 0 may be 0");
  MM_ASSIGN_OR_RETURN(d->layout.dtype, ParseDType(descr));
  {  // the raw path's bound (core/layout.cc): no product of the shape overflows
    unsigned __int128 bytes = static_cast<unsigned __int128>(d->layout.dtype.itemsize());
    for (const int64_t n : shape) {
      bytes *= static_cast<unsigned __int128>(n);
      if (bytes > (static_cast<unsigned __int128>(1) << 62))
        return Error(Code::kDataErr, d->path + ": dataset '" + loc.name + "' of shape " +
                                         ShapeString(shape) + " is too large (over 2^62 bytes)");
    }
  }
  if (spec.dtype) {
    MM_ASSIGN_OR_RETURN(DType want, ParseDType(*spec.dtype));
    if (want != d->layout.dtype) return Contradiction("dtype", what, *spec.dtype, descr);
  }
  if (spec.shape) {
    bool agree = spec.shape->size() == shape.size();
    for (size_t i = 0; agree && i < shape.size(); ++i)
      agree = (*spec.shape)[i] == shape[i] || (*spec.shape)[i] == -1;
    if (!agree) return Contradiction("shape", what, ShapeString(*spec.shape), ShapeString(shape));
  }
  d->format = "hdf5";
  d->name = loc.name;
  d->storage = LayoutName(dcpl.get());
  d->layout.order = 'C';
  d->layout.shape = shape;
  d->layout.offset = 0;
  d->layout.trailing_bytes = 0;
  d->shape_spec = shape;
  // A configured -1 on the row axis (agreeing with any length) marks a
  // dataset that grows along it (--state).
  if (spec.shape && !shape.empty() && (*spec.shape)[0] == -1) d->shape_spec[0] = -1;
  d->chunks.clear();
  if (d->storage == "chunked") {
    std::vector<hsize_t> c(shape.size());
    if (H5Pget_chunk(dcpl.get(), static_cast<int>(c.size()), c.data()) !=
        static_cast<int>(c.size()))
      return Hdf5Error(Code::kDataErr, d->path + ": dataset '" + loc.name + "': chunk shape");
    d->chunks.assign(c.begin(), c.end());
    // A pipeline the workers decode themselves (hdf5_chunks.h) needs no
    // plugin; asking libhdf5 whether blosc is available would load its
    // plugin, and with it the shared libhdf5 and libcurl (~12 ms). Reads
    // that still go through H5Dread (cov's element reads, a chunk with
    // trailing bytes) name the missing plugin when they fail
    // (hdf5_source.cc ReadBoxes).
    Hid memory_type = Hdf5MemoryType(type.get());
    const bool own = memory_type.valid() && H5Tequal(type.get(), memory_type.get()) > 0 &&
                     ChunkDecoder::Make(dset, memory_type.get(), d->chunks,
                                        static_cast<uint64_t>(d->layout.dtype.itemsize()));
    H5Eclear2(H5E_DEFAULT);
    if (!own)
      if (const std::string missing = MissingFilterText(dset); !missing.empty())
        return Error(Code::kDataErr, d->path + ": dataset '" + loc.name + "' " + missing);
  } else if (d->storage == "external" || d->storage == "virtual") {
    MM_RETURN_IF_ERROR(CheckStorageFiles(d, loc.name, dcpl.get(), file.get(), DirName(d->path), 0));
  } else if (d->storage == "contiguous") {
    const haddr_t at = H5Dget_offset(dset);
    H5Eclear2(H5E_DEFAULT);
    // The offset is in the file holding the dataset: through an external
    // link that is another file, which is then read with H5Dread (and never
    // mapped or written in place).
    MM_ASSIGN_OR_RETURN(const bool here, Hdf5InFile(dset, d->dev, d->ino, d->path));
    // Stored bits that are not the values' bytes (an n-bit integer, a
    // non-IEEE float) are converted by H5Dread, never mapped.
    const bool converted = NeedsConversion(type.get());
    if (!here) d->storage = "contiguous, in another file (external link)";
    if (here && converted)
      d->storage = "contiguous, converted by HDF5 (" + TypeName(type.get()) + ")";
    if (here && !converted &&
        at != HADDR_UNDEF) {  // else never written: read as the fill value by H5Dread
      d->layout.offset = static_cast<uint64_t>(at);
      if (d->layout.offset + d->layout.data_bytes() > d->file_bytes)
        return Error(Code::kDataErr, d->path + ": truncated file: dataset '" + loc.name +
                                         "' needs bytes " + std::to_string(d->layout.offset) +
                                         " to " +
                                         std::to_string(d->layout.offset + d->layout.data_bytes()) +
                                         ", the file has " + std::to_string(d->file_bytes));
    }
  }
  d->cf = CfDecoding();
  if (spec.cf != "false") {
    Kind decoded = d->layout.dtype.kind;
    MM_ASSIGN_OR_RETURN(d->cf, CfDecodingOf(file.get(), dset, dcpl.get(), d->layout.dtype,
                                            spec.cf == "true", what, &decoded));
    if (d->cf.decoded) {
      if (d->mode == "r+")
        return Error(Code::kConfig, "config key 'dataset.cf': dataset " + what +
                                        " is CF-decoded and cannot be written in place; use "
                                        "\"cf\": false to transform the stored values");
      d->layout.dtype = DType{decoded, false};
    }
  }
  if (d->mode == "r+" && !Hdf5MappedInPlace(*d))
    return Error(Code::kConfig,
                 "config key 'dataset.mode': r+ (an in-place transform) needs a "
                 "contiguous dataset; " +
                     what + " is " + d->storage +
                     (d->storage == "contiguous" ? " and never written" : ""));
  return Status::OK();
}

uint64_t Hdf5ChunkCacheBytes(uint64_t chunk_bytes) {
  return std::max<uint64_t>(uint64_t{1} << 20, 2 * chunk_bytes + 4096);
}

uint64_t Hdf5CacheBytes(const Dataset& d) {
  const DType stored = d.cf.decoded ? d.cf.stored : d.layout.dtype;
  uint64_t chunk_elements = 1;
  for (const int64_t c : d.chunks) chunk_elements *= static_cast<uint64_t>(c);
  uint64_t bytes = 0;
  if (!d.chunks.empty())
    bytes = Hdf5ChunkCacheBytes(chunk_elements * static_cast<uint64_t>(stored.itemsize()));
  if (d.cf.decoded) {  // the stored window, held while it is decoded (cf_source.h)
    const uint64_t item = static_cast<uint64_t>(d.layout.dtype.itemsize());
    const uint64_t window = std::max(kWindowBytes, d.chunks.empty() ? 0 : chunk_elements * item);
    bytes += window / item * static_cast<uint64_t>(stored.itemsize());
  }
  return bytes;
}

bool Hdf5MappedInPlace(const Dataset& d) {
  return d.storage == "contiguous" && d.layout.offset != 0;
}

Result<std::unique_ptr<Source>> OpenHdf5Dataset(const Dataset& d) {
  if (d.cf.decoded) {  // the stored variable's Source, wrapped by the decoder
    Dataset stored = d;
    stored.layout.dtype = d.cf.stored;
    stored.cf = CfDecoding();
    MM_ASSIGN_OR_RETURN(std::unique_ptr<Source> inner, OpenHdf5Dataset(stored));
    return OpenCfSource(d, std::move(inner));
  }
  if (Hdf5MappedInPlace(d))
    return OpenRawFile(d.file, d.path, d.layout, PartitionOf(d), d.file_bytes);
  return OpenHdf5Source(d);
}

Result<Json> InspectHdf5(const DatasetSpec& spec, int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, spec.path, Code::kIoErr);
  MM_ASSIGN_OR_RETURN(
      Hid file, OpenHdf5File(fd, spec.path, static_cast<uint64_t>(st.st_dev),
                             static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size)));
  Json j = Json::object();
  j["path"] = spec.path;
  j["format"] = "hdf5";
  j["bytes"] = static_cast<uint64_t>(st.st_size);
  if (spec.name) {
    MM_ASSIGN_OR_RETURN(Located loc,
                        Locate(file.get(), spec, spec.path, static_cast<uint64_t>(st.st_dev),
                               static_cast<uint64_t>(st.st_ino)));
    const Json one_json = DescribeForInspect(file.get(), loc.dset.get(), loc.name);
    for (auto it = one_json.begin(); it != one_json.end(); ++it) j[it.key()] = it.value();
    return j;
  }
  Json list = Json::array();
  for (const std::string& n : ListDatasets(file.get())) {
    Hid dset(H5Dopen2(file.get(), n.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dset.valid()) return Hdf5Error(Code::kDataErr, spec.path + ": dataset '" + n + "'");
    list.push_back(DescribeForInspect(file.get(), dset.get(), n));
  }
  j["datasets"] = list;
  return j;
}

}  // namespace mm
