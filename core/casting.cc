#include "core/casting.h"

namespace mm {

namespace {

// numpy's kind order for same_kind casts: bool < unsigned < signed < float.
int KindRank(DType d) {
  switch (d.kind_char()) {
    case 'b':
      return 0;
    case 'u':
      return 1;
    case 'i':
      return 2;
    default:
      return 3;
  }
}

bool SafeCast(DType from, DType to) {
  if (from.kind == to.kind || from.is_bool()) return true;
  const int fs = from.itemsize(), ts = to.itemsize();
  const char f = from.kind_char(), t = to.kind_char();
  switch (t) {
    case 'b':
      return false;
    case 'u':
      return f == 'u' && ts >= fs;
    case 'i':
      return (f == 'i' && ts >= fs) || (f == 'u' && ts > fs);
    default:  // 'f'
      if (f == 'f') return ts >= fs;
      // numpy: a wider float, and float64 from any integer (even 64-bit).
      return ts > fs || ts == 8;
  }
}

}  // namespace

Result<Casting> ParseCasting(const std::string& name) {
  if (name == "safe") return Casting::kSafe;
  if (name == "same_kind") return Casting::kSameKind;
  if (name == "unsafe") return Casting::kUnsafe;
  return Error(Code::kConfig, "unknown casting '" + name + "'; known: safe, same_kind, unsafe");
}

const char* CastingName(Casting c) {
  switch (c) {
    case Casting::kSafe:
      return "safe";
    case Casting::kSameKind:
      return "same_kind";
    default:
      return "unsafe";
  }
}

bool CanCast(DType from, DType to, Casting casting) {
  switch (casting) {
    case Casting::kUnsafe:
      return true;
    case Casting::kSameKind:
      return SafeCast(from, to) || KindRank(from) <= KindRank(to);
    default:
      return SafeCast(from, to);
  }
}

}  // namespace mm
