// Tests of core/npy: parsing good and malformed headers, reading them from
// files, and writing headers byte for byte as numpy 1.24's numpy.save does.
#include "core/npy.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/npy_file.h"

namespace mm {
namespace {

using namespace std::string_literals;

// A .npy header: magic, version `major`.0, the length field and `dict` as is
// (no padding added).
std::string Npy(const std::string& dict, int major = 1) {
  std::string s = "\x93NUMPY"s;
  s += static_cast<char>(major);
  s += '\0';
  const size_t len_size = major == 1 ? 2 : 4;
  for (size_t i = 0; i < len_size; ++i) s += static_cast<char>((dict.size() >> (8 * i)) & 0xff);
  return s + dict;
}

DType D(const char* spelling) { return ParseDType(spelling).value(); }

// ---------------------------------------------------------------- good headers

TEST_CASE("Npy: recognises the magic", "[npy]") {
  CHECK(HasNpyMagic("\x93NUMPY"));
  CHECK(HasNpyMagic("\x93NUMPY\x01\x00rest"s));
  CHECK_FALSE(HasNpyMagic("\x93NUMP"));
  CHECK_FALSE(HasNpyMagic(""));
  CHECK_FALSE(HasNpyMagic("\x93numpy\x01\x00"));
  CHECK_FALSE(HasNpyMagic("PK\x03\x04"));
}

TEST_CASE("Npy: parses good headers", "[npy]") {
  struct Case {
    int major;
    std::string dict;
    const char* descr;
    std::vector<int64_t> shape;
    bool fortran;
  };
  // clang-format off
  const std::vector<Case> cases = {
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }    \n", "<f4", {3, 4}, false},
      {1, "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3, 4), }\n", ">f8", {2, 3, 4}, true},
      {1, "{'descr': '|b1', 'fortran_order': False, 'shape': (), }\n", "|b1", {}, false},
      {1, "{'descr': '<f2', 'fortran_order': True, 'shape': (7,), }\n", "<f2", {7}, true},
      {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (0,), }\n", "|u1", {0}, false},
      {1, "{'descr': '>i2', 'fortran_order': False, 'shape': (5, 0, 2), }\n", ">i2", {5, 0, 2}, false},
      {1, "{'descr': '<u8', 'fortran_order': True, 'shape': (1, 2, 3), }\n", "<u8", {1, 2, 3}, true},
      {2, "{'descr': '>f8', 'fortran_order': True, 'shape': (), }\n", ">f8", {}, true},
      {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }\n", "<f4", {10}, false},
      {3, "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3, 4), }\n", "|b1", {2, 3, 4}, false},
      {3, "{'descr': '>i2', 'fortran_order': True, 'shape': (6,), }\n", ">i2", {6}, true},
      // Variants numpy's reader also accepts.
      {1, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3,)}\n", "<f4", {3}, false},
      {1, "{'shape':(3,4),'descr':'<f4','fortran_order':True}", "<f4", {3, 4}, true},
      {1, "{'fortran_order': False, 'shape': (3 , 4 ,), 'descr': '>f8',}", ">f8", {3, 4}, false},
      {1, "  \n{ 'descr' : '<i8' ,\n  'fortran_order' : False ,\t'shape' : ( 2 , ) }\r\n\f ",
       "<i8", {2}, false},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }\n", "<f4", {3, 4}, false},
      {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }\n", "<f4", {3}, false},
      {1, "{'descr': 'f8', 'fortran_order': False, 'shape': (1,), }\n", "=f8", {1}, false},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2305843009213693951), }\n",
       "<f4", {0, 2305843009213693951}, false},
      {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (9223372036854775807,), }\n", "|u1",
       {9223372036854775807}, false},
  };
  // clang-format on
  for (const Case& c : cases) {
    const std::string bytes = Npy(c.dict, c.major);
    INFO("header " << c.dict);
    Result<NpyHeader> h = ParseNpyHeader(bytes + "DATA follows");
    REQUIRE(h.ok());
    CHECK(h->major == c.major);
    CHECK(h->minor == 0);
    CHECK(h->dtype == D(c.descr));
    CHECK(h->shape == c.shape);
    CHECK(h->fortran_order == c.fortran);
    CHECK(h->header_bytes == bytes.size());
  }
}

// ----------------------------------------------------------- malformed headers

TEST_CASE("Npy: rejects malformed headers, saying why", "[npy]") {
  const std::string f4 = "'descr': '<f4', ";
  const std::string fo = "'fortran_order': False, ";
  const std::string sh = "'shape': (3,), ";
  struct Case {
    std::string bytes;
    const char* fragment;
  };
  // clang-format off
  const std::vector<Case> cases = {
      {"", "truncated header: the file is empty"},
      {"\x93NUM", "truncated header: the file has only 4 bytes"},
      {"hello, world", "bad magic: expected \\x93NUMPY, found hello,"},
      {"\x93NUMPX\x01\x00\x00\x00", "bad magic"},
      {"\x93NUMPY\x01"s, "truncated header: the file ends inside the version bytes"},
      {"\x93NUMPY\x04\x00\x10\x00"s, "unsupported version 4.0"},
      {"\x93NUMPY\x01\x01\x10\x00"s, "unsupported version 1.1"},
      {"\x93NUMPY\x00\x00\x10\x00"s, "unsupported version 0.0"},
      {"\x93NUMPY\x01\x00\x10"s, "the file ends inside the header length field"},
      {"\x93NUMPY\x02\x00\x10\x00\x00"s, "the file ends inside the header length field"},
      {Npy("{" + f4 + fo + sh + "}\n").substr(0, 30), "truncated header: it declares 68 bytes but only 30 are present"},
      {"\x93NUMPY\x02\x00\x00\x00\x10\x00"s, "header too long: 1048588 bytes (the limit is 1048576)"},
      {Npy(""), "expected '{' opening the header dict at byte 10, found the end of the header"},
      {Npy("[1, 2]\n"), "expected '{' opening the header dict at byte 10, found '['"},
      {Npy("{" + fo + sh + "}\n"), "missing key 'descr'"},
      {Npy("{" + f4 + sh + "}\n"), "missing key 'fortran_order'"},
      {Npy("{" + f4 + fo + "}\n"), "missing key 'shape'"},
      {Npy("{" + f4 + fo + sh + "'foo': 1, }\n"), "unexpected key 'foo'"},
      {Npy("{" + f4 + fo + sh + sh + "}\n"), "duplicate key 'shape'"},
      {Npy("{" + f4 + fo + "'shape': (-3,), }\n"), "bad shape: negative entry '-3'"},
      {Npy("{" + f4 + fo + "'shape': (3.5,), }\n"), "bad shape: entry '3.5' is not a non-negative integer"},
      {Npy("{" + f4 + fo + "'shape': ('3',), }\n"), "bad shape: entry ''3'' is not a non-negative integer"},
      {Npy("{" + f4 + fo + "'shape': (True,), }\n"), "bad shape: entry 'True' is not"},
      {Npy("{" + f4 + fo + "'shape': (3,,), }\n"), "bad shape: entry ',' is not"},
      {Npy("{" + f4 + fo + "'shape': (03,), }\n"), "bad shape: entry '03' has a leading zero"},
      {Npy("{" + f4 + fo + "'shape': (3l,), }\n"), "bad shape: entry '3l' is not"},
      {Npy("{" + f4 + fo + "'shape': (3L,), }\n", 3), "bad shape: entry '3L' is not"},  // no 'L' in 3.0
      {Npy("{" + f4 + fo + "'shape': [3], }\n"), "bad shape: expected a tuple, found a list"},
      {Npy("{" + f4 + fo + "'shape': 3, }\n"), "bad shape: expected a tuple such as (3, 4), found '3'"},
      {Npy("{" + f4 + fo + "'shape': (5), }\n"), "bad shape: (5) is not a tuple; write (5,)"},
      {Npy("{" + f4 + fo + "'shape': (3 4), }\n"), "expected ',' or ')' in the shape at byte 63, found '4'"},
      {Npy("{" + f4 + fo + "'shape': (9223372036854775808,), }\n"), "is larger than 2^63-1"},
      {Npy("{" + f4 + fo + "'shape': (4611686018427387904, 2), }\n"),
       "bad shape (4611686018427387904, 2): the array would be larger than 2^63-1 bytes"},
      {Npy("{" + f4 + fo + "'shape': (0, 2305843009213693952), }\n"),  // numpy checks despite the 0
       "bad shape (0, 2305843009213693952): the array would be larger than 2^63-1 bytes"},
      {Npy("{" + f4 + "'fortran_order': 0, " + sh + "}\n"),
       "bad fortran_order: expected True or False, found '0'"},
      {Npy("{" + f4 + "'fortran_order': true, " + sh + "}\n"),
       "bad fortran_order: expected True or False, found 'true'"},
      {Npy("{'descr': 5, " + fo + sh + "}\n"), "bad descr: expected a string such as '<f4', found '5'"},
      {Npy("{" + f4 + fo + sh + "} x\n"), "unexpected 'x' after the closing brace at byte 68"},
      {Npy("{" + f4 + fo + sh + "}\n\0"s), "unexpected byte 0x00 after the closing brace"},
      {Npy("{" + f4 + fo + sh + "} # comment\n"), "unexpected '#' after the closing brace"},
      {Npy("{'descr' '<f4', " + fo + sh + "}\n"), "expected ':' after key 'descr' at byte 19, found '''"},
      {Npy("{'descr': '<f4' " + fo + sh + "}\n"), "expected ',' or '}' after the value of 'descr'"},
      {Npy("{" + f4 + fo + sh + ", }\n"), "expected a quoted key or '}' at byte 66, found ','"},
      {Npy("{descr: '<f4', " + fo + sh + "}\n"), "expected a quoted key or '}' at byte 11, found 'd'"},
      {Npy("{'descr: '<f4', " + fo + sh + "}\n"), "expected ':' after key 'descr: '"},
      {Npy("{'descr': '<f4"), "unterminated string starting at byte 20"},
      {Npy("{'descr': '<f4\n', " + fo + sh + "}\n"), "unterminated string starting at byte 20"},
      {Npy("{'descr': '<\\x664', " + fo + sh + "}\n"), "escape sequence in the string at byte 20"},
      {Npy("{'descr': [('a', '<i4'), "), "unclosed '[' of the descr at byte 20"},
      {Npy("{'descr': [('a', '<i4']), " + fo + sh + "}\n"), "expected ')' at byte 32, found ']'"},
      {Npy("{" + f4 + fo + sh), "expected a quoted key or '}' at byte 66, found the end of the header"},
  };
  // clang-format on
  for (const Case& c : cases) {
    INFO("bytes: " << c.bytes);
    Result<NpyHeader> h = ParseNpyHeader(c.bytes);
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().code() == Code::kDataErr);
    CHECK_THAT(h.status().message(), Catch::StartsWith("malformed .npy header: "));
    CHECK_THAT(h.status().message(), Catch::Contains(c.fragment));
  }
}

TEST_CASE("Npy: rejects unsupported dtypes with their descr", "[npy]") {
  struct Case {
    std::string descr;  // as it appears in the header
    const char* message;
  };
  // clang-format off
  const std::vector<Case> cases = {
      {"'<c16'", "unsupported dtype '<c16' in .npy header"},
      {"'<M8[ns]'", "unsupported dtype '<M8[ns]' in .npy header"},
      {"'<U10'", "unsupported dtype '<U10' in .npy header"},
      {"'|O'", "unsupported dtype '|O' in .npy header"},
      {"'<f16'", "unsupported dtype '<f16' in .npy header"},
      {"'|V8'", "unsupported dtype '|V8' in .npy header"},
      {"''", "unsupported dtype '' in .npy header"},
      {"[('a', '<i4'), ('b', '<f8')]", "unsupported dtype '[('a', '<i4'), ('b', '<f8')]' in .npy header"},
      {"('<f4', (2,))", "unsupported dtype '('<f4', (2,))' in .npy header"},
  };
  // clang-format on
  for (const Case& c : cases) {
    INFO("descr " << c.descr);
    Result<NpyHeader> h = ParseNpyHeader(
        Npy("{'descr': " + c.descr + ", 'fortran_order': False, 'shape': (3,), }\n"));
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().code() == Code::kDataErr);
    CHECK(h.status().message() == c.message);
  }
}

TEST_CASE("Npy: a header without the final newline is accepted, as numpy does", "[npy]") {
  Result<NpyHeader> h =
      ParseNpyHeader(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}"));
  REQUIRE(h.ok());
  CHECK(h->shape == std::vector<int64_t>{3});
}

TEST_CASE("Npy: every truncation of a good header is reported as truncated", "[npy]") {
  const std::string good = BuildNpyHeader(D("<f4"), {1000, 10}, false);
  for (size_t n = 0; n < good.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    Result<NpyHeader> h = ParseNpyHeader(std::string_view(good).substr(0, n));
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().code() == Code::kDataErr);
    CHECK_THAT(h.status().message(), Catch::Contains("truncated header"));
  }
}

TEST_CASE("Npy: a corrupted byte anywhere gives a clean error or a valid header", "[npy]") {
  const std::string good = BuildNpyHeader(D(">i2"), {12, 345}, true);
  int rejected = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int v : {0x00, 0x01, 0x20, 0x27, 0x28, 0x29, 0x2c, 0x2d, 0x31, 0x7b, 0x7d, 0x93, 0xff}) {
      std::string bad = good;
      if (static_cast<unsigned char>(bad[i]) == v) continue;
      bad[i] = static_cast<char>(v);
      Result<NpyHeader> h = ParseNpyHeader(bad);
      if (h.ok()) {
        CHECK(h->header_bytes <= bad.size());
        for (int64_t d : h->shape) CHECK(d >= 0);
      } else {
        ++rejected;
        CHECK(h.status().code() == Code::kDataErr);
      }
    }
  }
  CHECK(rejected > 0);
  // Flipping a byte of the magic is always caught.
  for (size_t i = 0; i < 6; ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    Result<NpyHeader> h = ParseNpyHeader(bad);
    REQUIRE_FALSE(h.ok());
    CHECK_THAT(h.status().message(), Catch::Contains("bad magic"));
  }
}

// ------------------------------------------------------- numpy's own headers

// Generated with /usr/bin/python3, numpy 1.24.2: np.save to a BytesIO and
// the bytes before the data (the last three via numpy.lib.format.
// _write_array_header, the function np.save calls, as such arrays cannot be
// allocated).
TEST_CASE("Npy: BuildNpyHeader writes what numpy.save writes", "[npy]") {
  struct Case {
    const char* descr;
    std::vector<int64_t> shape;
    bool fortran;
    std::string expected;
  };
  // clang-format off
  const std::vector<Case> cases = {
      // np.save(f, np.zeros((1000, 10), '<f4'))
      {"<f4", {1000, 10}, false,
       "\x93NUMPY\x01\x00v\x00"
       "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 10), }                    "
       "                                  \n"s},
      // np.save(f, np.asfortranarray(np.zeros((3, 4), '>f8')))
      {">f8", {3, 4}, true,
       "\x93NUMPY\x01\x00v\x00"
       "{'descr': '>f8', 'fortran_order': True, 'shape': (3, 4), }                         "
       "                                  \n"s},
      // np.save(f, np.array(7, '<i8'))
      {"<i8", {}, false,
       "\x93NUMPY\x01\x00v\x00"
       "{'descr': '<i8', 'fortran_order': False, 'shape': (), }                            "
       "                                  \n"s},
      // np.save(f, np.zeros(5, '?'))
      {"|b1", {5}, false,
       "\x93NUMPY\x01\x00v\x00"
       "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }                          "
       "                                  \n"s},
      // np.save(f, np.zeros(0, '>i2'))
      {">i2", {0}, false,
       "\x93NUMPY\x01\x00v\x00"
       "{'descr': '>i2', 'fortran_order': False, 'shape': (0,), }                          "
       "                                  \n"s},
      // {'descr': '|u1', 'fortran_order': False, 'shape': (123456789012345678, 7, 9)}
      {"|u1", {123456789012345678, 7, 9}, false,
       "\x93NUMPY\x01\x00v\x00"
       "{'descr': '|u1', 'fortran_order': False, 'shape': (123456789012345678, 7, 9), }    "
       "                                  \n"s},
      // F order: the growth padding follows the last axis (19 digits here).
      {"<u2", {3, 1234567890123456789}, true,
       "\x93NUMPY\x01\x00v\x00"
       "{'descr': '<u2', 'fortran_order': True, 'shape': (3, 1234567890123456789), }       "
       "                                  \n"s},
      // np.save(f, np.zeros((10, 11, 12) + (1,) * 28 + (13,), '<f4')): 32 axes.
      {"<f4", {10, 11, 12, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
               1,  1,  1,  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 13}, false,
       "\x93NUMPY\x01\x00\xb6\x00"
       "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 11, 12, 1, 1, 1, 1, 1, 1, 1, "
       "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 13), }"s +
           std::string(28, ' ') + "\n"},
  };
  // clang-format on
  for (const Case& c : cases) {
    INFO("descr " << c.descr << " fortran " << c.fortran);
    const std::string built = BuildNpyHeader(D(c.descr), c.shape, c.fortran);
    CHECK(built == c.expected);
    Result<NpyHeader> back = ParseNpyHeader(built);
    REQUIRE(back.ok());
    CHECK(back->dtype == D(c.descr));
    CHECK(back->shape == c.shape);
    CHECK(back->fortran_order == c.fortran);
    CHECK(back->header_bytes == built.size());
  }
}

// numpy: _write_array_header with shape (1,) * n and '<f8': n = 21817 is the
// last that fits 1.0 (65536 bytes, length field 0xfff6); n = 21818 needs 2.0
// (65600 bytes, length field 0x10034).
TEST_CASE("Npy: BuildNpyHeader switches to version 2.0 where numpy does", "[npy]") {
  for (size_t n : {size_t{21817}, size_t{21818}}) {
    INFO("axes " << n);
    const std::vector<int64_t> shape(n, 1);
    const std::string built = BuildNpyHeader(D("<f8"), shape, false);
    std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (";
    for (size_t i = 0; i < n; ++i) dict += i ? ", 1" : "1";
    dict += "), }";
    std::string expected;
    if (n == 21817) {
      expected = "\x93NUMPY\x01\x00\xf6\xff"s + dict + std::string(21, ' ') + "\n";
      CHECK(expected.size() == 65536);
    } else {
      expected = "\x93NUMPY\x02\x00\x34\x00\x01\x00"s + dict + std::string(80, ' ') + "\n";
      CHECK(expected.size() == 65600);
    }
    CHECK(built == expected);
    Result<NpyHeader> back = ParseNpyHeader(built);
    REQUIRE(back.ok());
    CHECK(back->major == (n == 21817 ? 1 : 2));
    CHECK(back->shape == shape);
  }
}

TEST_CASE("Npy: BuildNpyHeader is 64-byte aligned and round-trips", "[npy]") {
  const char* descrs[] = {"<f4", ">f8", "|b1", "<f2", "|u1", ">i2", "<u8", "|i1", ">u4"};
  const std::vector<std::vector<int64_t>> shapes = {
      {}, {0}, {7}, {3, 4}, {1, 2, 3}, {1000000, 10}, {1000000000000000000}, {2, 0, 5, 1}};
  for (const char* descr : descrs) {
    for (const auto& shape : shapes) {
      for (bool fortran : {false, true}) {
        const std::string h = BuildNpyHeader(D(descr), shape, fortran);
        INFO(h);
        CHECK(h.size() % 64 == 0);
        CHECK(h.back() == '\n');
        Result<NpyHeader> back = ParseNpyHeader(h);
        REQUIRE(back.ok());
        CHECK(back->dtype == D(descr));
        CHECK(back->dtype.descr() == descr);
        CHECK(back->shape == shape);
        CHECK(back->fortran_order == fortran);
        CHECK(back->header_bytes == h.size());
      }
    }
  }
}

// ------------------------------------------------------------------- files

// A temporary file holding `bytes`, removed at scope exit.
class TempFile {
 public:
  explicit TempFile(const std::string& bytes) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/npy_test_XXXXXX";
    fd_ = ::mkstemp(path_.data());
    REQUIRE(fd_ >= 0);
    REQUIRE(::write(fd_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }
  ~TempFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST_CASE("Npy: ReadNpyHeader reads a file's header", "[npy]") {
  const std::string header = BuildNpyHeader(D("<f4"), {2, 3}, false);
  TempFile file(header + std::string(24, '\0'));
  ::lseek(file.fd(), 5, SEEK_SET);
  Result<NpyHeader> h = ReadNpyHeader(file.fd(), file.path());
  REQUIRE(h.ok());
  CHECK(h->dtype == D("<f4"));
  CHECK(h->shape == std::vector<int64_t>{2, 3});
  CHECK(h->header_bytes == header.size());
  CHECK(::lseek(file.fd(), 0, SEEK_CUR) == 5);  // the file offset is untouched
}

TEST_CASE("Npy: ReadNpyHeader reads headers longer than its first read", "[npy]") {
  for (size_t n : {size_t{1500}, size_t{21818}}) {  // about 4.5 KB (1.0) and 64 KB (2.0)
    const std::vector<int64_t> shape(n, 1);
    const std::string header = BuildNpyHeader(D(">f8"), shape, true);
    TempFile file(header + std::string(8, '\0'));
    Result<NpyHeader> h = ReadNpyHeader(file.fd(), file.path());
    REQUIRE(h.ok());
    CHECK(h->shape == shape);
    CHECK(h->fortran_order);
    CHECK(h->header_bytes == header.size());
  }
}

TEST_CASE("Npy: ReadNpyHeader names the file in errors", "[npy]") {
  SECTION("a file shorter than its header") {
    const std::string header = BuildNpyHeader(D("<f4"), std::vector<int64_t>(1500, 1), false);
    TempFile file(header.substr(0, 4200));
    Result<NpyHeader> h = ReadNpyHeader(file.fd(), file.path());
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().code() == Code::kDataErr);
    CHECK(h.status().message() ==
          file.path() + ": malformed .npy header: truncated header: it declares " +
              std::to_string(header.size()) + " bytes but only 4200 are present");
  }
  SECTION("a raw file") {
    TempFile file(std::string(100, '\x01'));
    Result<NpyHeader> h = ReadNpyHeader(file.fd(), file.path());
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().code() == Code::kDataErr);
    CHECK_THAT(h.status().message(),
               Catch::StartsWith(file.path() + ": malformed .npy header: bad magic"));
  }
  SECTION("an empty file") {
    TempFile file("");
    Result<NpyHeader> h = ReadNpyHeader(file.fd(), file.path());
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().message() ==
          file.path() + ": malformed .npy header: truncated header: the file is empty");
  }
  SECTION("an unsupported dtype") {
    TempFile file(Npy("{'descr': '<c16', 'fortran_order': False, 'shape': (3,), }\n"));
    Result<NpyHeader> h = ReadNpyHeader(file.fd(), file.path());
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().code() == Code::kDataErr);
    CHECK(h.status().message() == file.path() + ": unsupported dtype '<c16' in .npy header");
  }
  SECTION("a header longer than the limit") {
    std::string big = "\x93NUMPY\x02\x00\x00\x00\x20\x00"s + std::string(5000, ' ');
    TempFile file(big);
    Result<NpyHeader> h = ReadNpyHeader(file.fd(), file.path());
    REQUIRE_FALSE(h.ok());
    CHECK_THAT(h.status().message(), Catch::Contains("header too long: 2097164 bytes"));
  }
  SECTION("an I/O error") {
    const int fd = ::open("/", O_RDONLY | O_DIRECTORY);  // pread on a directory: EISDIR
    REQUIRE(fd >= 0);
    Result<NpyHeader> h = ReadNpyHeader(fd, "/");
    ::close(fd);
    REQUIRE_FALSE(h.ok());
    CHECK(h.status().code() == Code::kIoErr);
    CHECK_THAT(h.status().message(), Catch::StartsWith("/: "));
  }
}

}  // namespace
}  // namespace mm
