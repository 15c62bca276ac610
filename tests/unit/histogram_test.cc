// Tests of the histogram helpers (analysis/histogram): the bin edges must be
// numpy.linspace bit for bit and the bin of a value must be the one
// numpy.histogram (1.24, uniform-bin fast path) gives, including values
// on and one ulp either side of every edge, where the plain
// trunc((x - lo) * norm) is wrong. Expected values were generated with
// numpy and are embedded as hex floats.
#include "analysis/histogram.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "analysis/analysis.h"
#include "analysis/stats_simd.h"
#include "core/dtype.h"
#include "core/json_util.h"
#include "source/partition.h"

namespace mm {
namespace {

struct BinCase {
  double lo, hi;
  int64_t bins;
  double x;
  int64_t index;
};

// numpy.histogram([x], bins, range=(lo, hi)).argmax(), for x in [lo, hi]:
// every edge, its neighbours one ulp away, and a few uniform values.
const BinCase kBinCases[] = {
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.4cccccccccccdp+0, 0},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.2fbd94109afbep+0, 1},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.12ae5b54692aep+0, 2},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.eb3e45306eb3ep-1, 3},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.b11fd3b80b120p-1, 4},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.7701623fa7702p-1, 5},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.3ce2f0c743ce3p-1, 6},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.02c47f4ee02c4p-1, 7},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.914c1bacf914cp-2, 8},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.1d0f38bc31d10p-2, 9},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.51a4ab96d51a8p-3, 10},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.a4ab96d51a4a0p-5, 11},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.fd3b80b11fd40p-5, 12},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.67c8a60dd67c8p-3, 13},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.282135f7b2824p-2, 14},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.9c5e18e879c60p-2, 15},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.084d7deca084ep-1, 16},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.426bef650426cp-1, 17},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.7c8a60dd67c8ap-1, 18},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.b6a8d255cb6aap-1, 19},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.f0c743ce2f0c6p-1, 20},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.1572daa349573p+0, 21},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.3282135f7b283p+0, 22},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.4f914c1bacf91p+0, 23},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.6ca084d7deca1p+0, 24},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.89afbd94109b1p+0, 25},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.a6bef650426bfp+0, 26},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.c3ce2f0c743cfp+0, 27},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.e0dd67c8a60dfp+0, 28},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.fdeca084d7dedp+0, 29},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.0d7deca084d7ep+1, 30},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.1c0588fe9dc06p+1, 31},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.2a8d255cb6a8ep+1, 32},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.3914c1bacf916p+1, 33},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.479c5e18e879cp+1, 34},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.5623fa7701624p+1, 35},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.64ab96d51a4acp+1, 36},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.7333333333333p+1, 36},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.2fbd94109afbfp+0, 0},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.12ae5b54692afp+0, 1},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.eb3e45306eb3fp-1, 2},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.b11fd3b80b121p-1, 3},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.7701623fa7703p-1, 4},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.3ce2f0c743ce4p-1, 5},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.02c47f4ee02c5p-1, 6},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.914c1bacf914dp-2, 7},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.1d0f38bc31d11p-2, 8},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.51a4ab96d51a9p-3, 9},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.a4ab96d51a4a1p-5, 10},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.fd3b80b11fd3fp-5, 11},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.67c8a60dd67c7p-3, 12},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.282135f7b2823p-2, 13},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.9c5e18e879c5fp-2, 14},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.084d7deca084dp-1, 15},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.426bef650426bp-1, 16},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.7c8a60dd67c89p-1, 17},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.b6a8d255cb6a9p-1, 18},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.f0c743ce2f0c5p-1, 19},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.1572daa349572p+0, 20},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.3282135f7b282p+0, 21},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.4f914c1bacf90p+0, 22},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.6ca084d7deca0p+0, 23},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.89afbd94109b0p+0, 24},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.a6bef650426bep+0, 25},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.c3ce2f0c743cep+0, 26},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.e0dd67c8a60dep+0, 27},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.fdeca084d7decp+0, 28},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.0d7deca084d7dp+1, 29},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.1c0588fe9dc05p+1, 30},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.2a8d255cb6a8dp+1, 31},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.3914c1bacf915p+1, 32},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.479c5e18e879bp+1, 33},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.5623fa7701623p+1, 34},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.64ab96d51a4abp+1, 35},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.7333333333332p+1, 36},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.4ccccccccccccp+0, 0},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.2fbd94109afbdp+0, 1},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.12ae5b54692adp+0, 2},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.eb3e45306eb3dp-1, 3},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.b11fd3b80b11fp-1, 4},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.7701623fa7701p-1, 5},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.3ce2f0c743ce2p-1, 6},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.02c47f4ee02c3p-1, 7},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.914c1bacf914bp-2, 8},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.1d0f38bc31d0fp-2, 9},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.51a4ab96d51a7p-3, 10},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.a4ab96d51a49fp-5, 11},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.fd3b80b11fd41p-5, 12},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.67c8a60dd67c9p-3, 13},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.282135f7b2825p-2, 14},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.9c5e18e879c61p-2, 15},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.084d7deca084fp-1, 16},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.426bef650426dp-1, 17},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.7c8a60dd67c8bp-1, 18},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.b6a8d255cb6abp-1, 19},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.f0c743ce2f0c7p-1, 20},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.1572daa349574p+0, 21},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.3282135f7b284p+0, 22},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.4f914c1bacf92p+0, 23},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.6ca084d7deca2p+0, 24},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.89afbd94109b2p+0, 25},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.a6bef650426c0p+0, 26},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.c3ce2f0c743d0p+0, 27},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.e0dd67c8a60e0p+0, 28},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.fdeca084d7deep+0, 29},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.0d7deca084d7fp+1, 30},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.1c0588fe9dc07p+1, 31},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.2a8d255cb6a8fp+1, 32},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.3914c1bacf917p+1, 33},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.479c5e18e879dp+1, 34},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.5623fa7701625p+1, 35},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.64ab96d51a4adp+1, 36},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.534d7a302b297p+0, 23},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.3bf1300c3c9d8p+1, 33},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0x1.f5379df7d42e1p+0, 28},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, -0x1.6aa100b931d5ep-2, 8},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.999999999999ap-4, 0},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.43fe5c91d14e4p-3, 97},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.bb2fec56d5cfap-3, 194},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.1930be0ded288p-2, 291},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.54c985f06f694p-2, 388},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.90624dd2f1aa0p-2, 485},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.cbfb15b573eaap-2, 582},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.03c9eecbfb15bp-1, 679},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.219652bd3c361p-1, 776},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.3f62b6ae7d566p-1, 873},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.5d2f1a9fbe76cp-1, 970},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.43fe5c91d14e3p-3, 96},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.bb2fec56d5cf9p-3, 193},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.1930be0ded287p-2, 290},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.54c985f06f693p-2, 387},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.90624dd2f1a9fp-2, 484},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.cbfb15b573ea9p-2, 581},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.03c9eecbfb15ap-1, 678},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.219652bd3c360p-1, 775},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.3f62b6ae7d565p-1, 872},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.5d2f1a9fbe76bp-1, 969},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.999999999999bp-4, 0},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.43fe5c91d14e5p-3, 97},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.bb2fec56d5cfbp-3, 194},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.1930be0ded289p-2, 291},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.54c985f06f695p-2, 388},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.90624dd2f1aa1p-2, 485},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.cbfb15b573eabp-2, 582},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.03c9eecbfb15cp-1, 679},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.219652bd3c362p-1, 776},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.3f62b6ae7d567p-1, 873},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.5d2f1a9fbe76dp-1, 970},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.1ed2796f55519p-2, 300},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.3f8e3d0257928p-1, 873},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.a68a3e425c765p-4, 5},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0x1.2f7b3b129988dp-1, 821},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x0.0p+0, 0},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.999999999999ap-4, 1},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.999999999999ap-3, 2},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.3333333333334p-2, 3},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.999999999999ap-2, 4},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.0000000000000p-1, 5},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.3333333333334p-1, 6},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.6666666666667p-1, 7},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.999999999999ap-1, 8},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.ccccccccccccdp-1, 9},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.0000000000000p+0, 9},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.9999999999999p-4, 0},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.9999999999999p-3, 1},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.3333333333333p-2, 2},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.9999999999999p-2, 3},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.fffffffffffffp-2, 4},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.3333333333333p-1, 5},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.6666666666666p-1, 6},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.9999999999999p-1, 7},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.cccccccccccccp-1, 8},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.fffffffffffffp-1, 9},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x0.0000000000001p-1022, 0},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.999999999999bp-4, 1},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.999999999999bp-3, 2},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.3333333333335p-2, 3},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.999999999999bp-2, 4},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.0000000000001p-1, 5},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.3333333333335p-1, 6},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.6666666666668p-1, 7},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.999999999999bp-1, 8},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.ccccccccccccep-1, 9},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.98197bf2434c3p-1, 7},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.df2a571c79f0ep-2, 4},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.364e21eb440f6p-2, 3},
    {0x0.0p+0, 0x1.0000000000000p+0, 10, 0x1.1d1b9a895dcd4p-2, 2},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.4000000000000p+2, 0},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffe9a1607fp+2, 1},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffd342c0fep+2, 2},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffbce4217dp+2, 2},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffe9a16080p+2, 0},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffd342c0ffp+2, 1},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffbce4217ep+2, 2},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffffffffffp+2, 0},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffe9a1607ep+2, 1},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffd342c0fdp+2, 2},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffeee55fb3p+2, 0},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffe221a5b5p+2, 1},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffde23ed4ap+2, 1},
    {-0x1.4000000000000p+2, -0x1.3ffffbce4217dp+2, 3, -0x1.3ffffdadafce7p+2, 1},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.56e1fc2f8f359p-997, 0},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.b8d968cf6efbcp-997, 1},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.0d686ab7a760fp-996, 2},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.3e64210797440p-996, 3},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.6f5fd75787272p-996, 4},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.a05b8da7770a4p-996, 5},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.d15743f766ed4p-996, 6},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.01297d23ab683p-995, 6},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.b8d968cf6efbbp-997, 0},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.0d686ab7a760ep-996, 1},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.3e6421079743fp-996, 2},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.6f5fd75787271p-996, 3},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.a05b8da7770a3p-996, 4},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.d15743f766ed3p-996, 5},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.01297d23ab682p-995, 6},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.56e1fc2f8f35ap-997, 0},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.b8d968cf6efbdp-997, 1},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.0d686ab7a7610p-996, 2},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.3e64210797441p-996, 3},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.6f5fd75787273p-996, 4},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.a05b8da7770a5p-996, 5},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.d15743f766ed5p-996, 6},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.0064003457ec5p-995, 6},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.bb3b42392de22p-996, 5},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.80c6a1b5ecb7cp-996, 4},
    {0x1.56e1fc2f8f359p-997, 0x1.01297d23ab683p-995, 7, 0x1.fe89ebf1d4036p-996, 6},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.2a05f20000000p+33, 0},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.f858d49d89d8ap+32, 1},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.9ca5c53b13b14p+32, 2},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.40f2b5d89d89dp+32, 3},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.ca7f4cec4ec4ep+31, 4},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.13192e2762762p+31, 5},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.6ecc3d89d89d0p+29, 6},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.6ecc3d89d89e0p+29, 7},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.13192e2762764p+31, 8},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.ca7f4cec4ec50p+31, 9},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.40f2b5d89d89ep+32, 10},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.9ca5c53b13b14p+32, 11},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.f858d49d89d8cp+32, 12},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.2a05f20000000p+33, 12},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.f858d49d89d8bp+32, 0},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.9ca5c53b13b15p+32, 1},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.40f2b5d89d89ep+32, 2},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.ca7f4cec4ec4fp+31, 3},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.13192e2762763p+31, 4},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.6ecc3d89d89d1p+29, 5},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.6ecc3d89d89dfp+29, 6},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.13192e2762763p+31, 7},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.ca7f4cec4ec4fp+31, 8},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.40f2b5d89d89dp+32, 9},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.9ca5c53b13b13p+32, 10},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.f858d49d89d8bp+32, 11},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.2a05f1fffffffp+33, 12},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.2a05f1fffffffp+33, 0},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.f858d49d89d89p+32, 1},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.9ca5c53b13b13p+32, 2},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.40f2b5d89d89cp+32, 3},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.ca7f4cec4ec4dp+31, 4},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.13192e2762761p+31, 5},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.6ecc3d89d89cfp+29, 6},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.6ecc3d89d89e1p+29, 7},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.13192e2762765p+31, 8},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.ca7f4cec4ec51p+31, 9},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.40f2b5d89d89fp+32, 10},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.9ca5c53b13b15p+32, 11},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.f858d49d89d8dp+32, 12},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.5360e3f349bbcp+32, 2},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.950f0edad7d60p+32, 2},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, 0x1.0c50b92aebd5cp+31, 7},
    {-0x1.2a05f20000000p+33, 0x1.2a05f20000000p+33, 13, -0x1.0fd4ed5062dbdp+33, 0},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.4000000000000p+1, 0},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.6000000000000p+1, 1},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.8000000000000p+1, 2},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.a000000000000p+1, 3},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.c000000000000p+1, 3},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.5ffffffffffffp+1, 0},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.7ffffffffffffp+1, 1},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.9ffffffffffffp+1, 2},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.bffffffffffffp+1, 3},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.4000000000001p+1, 0},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.6000000000001p+1, 1},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.8000000000001p+1, 2},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.a000000000001p+1, 3},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.44912bdf38edep+1, 0},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.81e7e07a121e9p+1, 2},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.7baca397fc31ap+1, 1},
    {0x1.4000000000000p+1, 0x1.c000000000000p+1, 4, 0x1.b565c0eb677b2p+1, 3},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x0.0p+0, 0},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.9999999999999p-4, 1},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.9999999999999p-3, 2},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.3333333333333p-2, 2},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.9999999999998p-4, 0},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.9999999999998p-3, 1},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.3333333333332p-2, 2},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x0.0000000000001p-1022, 0},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.999999999999ap-4, 1},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.999999999999ap-3, 2},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.8298bb7b93892p-3, 1},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.3bdfb6bc42651p-3, 1},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.31476f14a3989p-3, 1},
    {0x0.0p+0, 0x1.3333333333333p-2, 3, 0x1.30257649d22d5p-4, 0},
};

struct EdgeCase {
  double lo, hi;
  int64_t bins, i;
  double edge;  // numpy.linspace(lo, hi, bins + 1)[i]
};

const EdgeCase kEdgeCases[] = {
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 0, -0x1.4cccccccccccdp+0},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 1, -0x1.2fbd94109afbep+0},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 12, 0x1.fd3b80b11fd40p-5},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 18, 0x1.7c8a60dd67c8ap-1},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 36, 0x1.64ab96d51a4acp+1},
    {-0x1.4cccccccccccdp+0, 0x1.7333333333333p+1, 37, 37, 0x1.7333333333333p+1},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 0, 0x1.999999999999ap-4},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 1, 0x1.9c0ebedfa43ffp-4},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 333, 0x1.32fec56d5cfaap-2},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 500, 0x1.999999999999ap-2},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 999, 0x1.6617c1bda5119p-1},
    {0x1.999999999999ap-4, 0x1.6666666666666p-1, 1000, 1000, 0x1.6666666666666p-1},
    {0x0.00000000007e8p-1022, 0x0.0000000002788p-1022, 3, 0, 0x0.00000000007e8p-1022},
    {0x0.00000000007e8p-1022, 0x0.0000000002788p-1022, 3, 1, 0x0.0000000001273p-1022},
    {0x0.00000000007e8p-1022, 0x0.0000000002788p-1022, 3, 2, 0x0.0000000001cfep-1022},
    {0x0.00000000007e8p-1022, 0x0.0000000002788p-1022, 3, 3, 0x0.0000000002788p-1022},
    {-0x1.c000000000000p+2, 0x1.6000000000000p+3, 9, 0, -0x1.c000000000000p+2},
    {-0x1.c000000000000p+2, 0x1.6000000000000p+3, 9, 1, -0x1.4000000000000p+2},
    {-0x1.c000000000000p+2, 0x1.6000000000000p+3, 9, 3, -0x1.0000000000000p+0},
    {-0x1.c000000000000p+2, 0x1.6000000000000p+3, 9, 4, 0x1.0000000000000p+0},
    {-0x1.c000000000000p+2, 0x1.6000000000000p+3, 9, 8, 0x1.2000000000000p+3},
    {-0x1.c000000000000p+2, 0x1.6000000000000p+3, 9, 9, 0x1.6000000000000p+3},
    {0x0.0p+0, 0x0.012688b70e62bp-1022, 4, 0, 0x0.0p+0},
    {0x0.0p+0, 0x0.012688b70e62bp-1022, 4, 1, 0x0.0049a22dc398bp-1022},
    {0x0.0p+0, 0x0.012688b70e62bp-1022, 4, 2, 0x0.0093445b87316p-1022},
    {0x0.0p+0, 0x0.012688b70e62bp-1022, 4, 3, 0x0.00dce6894aca1p-1022},
    {0x0.0p+0, 0x0.012688b70e62bp-1022, 4, 4, 0x0.012688b70e62bp-1022},
};

TEST_CASE("Histogram: bin index matches numpy on and next to every edge", "[histogram]") {
  int naive_wrong = 0;
  for (const BinCase& c : kBinCases) {
    const BinFinder f(c.lo, c.hi, c.bins);
    INFO("lo " << c.lo << " hi " << c.hi << " bins " << c.bins << " x " << c.x);
    CHECK(f.Index(c.x) == c.index);
    const int64_t naive = std::min<int64_t>(
        static_cast<int64_t>((c.x - c.lo) * (static_cast<double>(c.bins) / (c.hi - c.lo))),
        c.bins - 1);
    naive_wrong += naive != c.index;
  }
  // The table does exercise numpy's edge corrections.
  CHECK(naive_wrong > 10);
}

TEST_CASE("Histogram: edges are numpy.linspace bit for bit", "[histogram]") {
  for (const EdgeCase& c : kEdgeCases) {
    const std::vector<double> e = HistogramEdges(c.lo, c.hi, c.bins);
    REQUIRE(e.size() == static_cast<size_t>(c.bins) + 1);
    INFO("lo " << c.lo << " hi " << c.hi << " bins " << c.bins << " i " << c.i);
    CHECK(e[static_cast<size_t>(c.i)] == c.edge);
  }
}

TEST_CASE("Histogram: the last edge belongs to the last bin", "[histogram]") {
  for (int64_t bins : {1, 2, 7, 1000}) {
    const BinFinder f(-2.5, 3.25, bins);
    CHECK(f.Index(3.25) == bins - 1);
    CHECK(f.Index(-2.5) == 0);
    CHECK(f.edges().front() == -2.5);
    CHECK(f.edges().back() == 3.25);
  }
}

TEST_CASE("Histogram: an empty range widens by 0.5 each side, as numpy", "[histogram]") {
  CHECK(HistogramOuterEdges(4.0, 4.0) == std::make_pair(3.5, 4.5));
  CHECK(HistogramOuterEdges(-1.0, 2.0) == std::make_pair(-1.0, 2.0));
}

// The vector kernel's slots, on baseline x86-64 and (when the CPU has
// them) AVX2 and AVX-512, against numpy's answer (the table above) and
// against the exact classification (below, above, NaN, BinFinder::Index)
// for grids whose edges round far from where (x - lo) * norm puts them: a
// range far from zero, float32 and float16 edges, a subnormal range, 1 and
// many bins.
std::vector<const simd::KernelTable*> BinTables() {
  int count = 0;
  const simd::NamedTable* named = simd::RunnableTables(&count);
  std::vector<const simd::KernelTable*> t;
  for (int i = 0; i < count; ++i) t.push_back(named[i].table);
  return t;
}

uint32_t ExactSlot(const BinFinder& f, double x) {
  const auto bins = static_cast<uint32_t>(f.bins());
  if (x >= f.lo() && x <= f.hi()) return static_cast<uint32_t>(f.Index(x));
  if (x < f.lo()) return bins + simd::kSlotBelow;
  if (x > f.hi()) return bins + simd::kSlotAbove;
  return bins + simd::kSlotNan;
}

// Slots of xs by the kernel, the exact ones resolved as histogram.cc does
// (the same copy's resolve_exact); counts the values the kernel left to the
// exact path.
std::vector<uint32_t> KernelSlots(const simd::KernelTable& k, const BinFinder& f,
                                  const std::vector<double>& xs, size_t* exact) {
  const simd::BinGrid g = f.Grid();
  std::vector<uint32_t> s(xs.size());
  const bool any = k.bin_slots(xs.data(), xs.size(), g, s.data());
  size_t n = 0;
  for (const uint32_t v : s) n += v == simd::kSlotExact;
  CHECK(any == (n > 0));
  k.resolve_exact(xs.data(), xs.size(), g, f.edges().data(), s.data());
  *exact = n;
  return s;
}

// BinPairsF32 (float) or BinPairs (double) of x[0, n) on copy k: the counts of each slot (pairs
// counted in both their bins, singles' exact slots resolved as histogram.cc does) against the exact
// bins, counted as `wrong` (one per slot that differs and per misplaced index or write past the
// buffers); `paired` values in pairs.
struct PairCheck {
  size_t wrong = 0, paired = 0;
};
template <class T>
PairCheck CheckPairs(const simd::KernelTable& k, const BinFinder& f, const T* x, size_t n) {
  const auto bins = static_cast<uint32_t>(f.bins());
  constexpr uint32_t kGuard = 0xdeadbeef;
  std::vector<uint32_t> pair(n / 2 + 1, kGuard), slot(n + 1, kGuard), at(n + 1, kGuard);
  simd::PairedSlots r;
  if constexpr (std::is_same_v<T, float>) {
    r = k.bin_pairs_f32(x, n, f.Grid(), pair.data(), slot.data(), at.data());
  } else {
    r = k.bin_pairs(x, n, f.Grid(), pair.data(), slot.data(), at.data());
  }
  PairCheck c;
  c.paired = 2 * r.pairs;
  if (2 * r.pairs + r.singles != n || pair[n / 2] != kGuard || slot[n] != kGuard || at[n] != kGuard)
    return PairCheck{n + 1, c.paired};
  std::vector<int64_t> got(bins + 3, 0), want(bins + 3, 0);
  for (uint64_t i = 0; i < r.pairs; ++i) {
    const uint32_t a = pair[i] / bins, b = pair[i] % bins;
    if (a >= bins) return PairCheck{n + 1, c.paired};
    ++got[a];
    ++got[b];
  }
  std::vector<bool> single(n, false);
  for (uint64_t i = 0; i < r.singles; ++i) {
    if (at[i] >= n || single[at[i]] || (i > 0 && at[i] <= at[i - 1]))
      return PairCheck{n + 1, c.paired};
    single[at[i]] = true;
    const double v = static_cast<double>(x[at[i]]);
    uint32_t s = slot[i];
    if (s == simd::kSlotExact) {
      if (!(v >= f.lo() && v <= f.hi())) ++c.wrong;  // only values in range
      s = static_cast<uint32_t>(f.Index(v));
    }
    if (s != ExactSlot(f, v)) ++c.wrong;  // a single keeps its own slot
    ++got[s < bins + 3 ? s : 0];
  }
  for (size_t i = 0; i < n; ++i) ++want[ExactSlot(f, static_cast<double>(x[i]))];
  for (uint32_t s = 0; s < bins + 3; ++s) c.wrong += got[s] != want[s];
  return c;
}

// On a grid whose values inside the range pass the fast test: CheckPairs
// of `inside` (which must be mostly paired: a test that only ever saw
// singles could not fail on the pairs), and of each of `near` (values on
// and next to edges, infinities, NaN; at most 4096 of them, spread over the
// list) alone among 31 values drawn from `inside`, at every position in
// turn, so the pair of vectors holding it (16 doubles or 32 floats at most)
// is paired or not by the fast test's verdict on that one value.
template <class T>
void CheckInsidePairs(const simd::KernelTable& k, const BinFinder& f, const std::vector<T>& near,
                      const std::vector<T>& inside) {
  const PairCheck c = CheckPairs(k, f, inside.data(), inside.size());
  CHECK(c.wrong == 0);
  CHECK(c.paired * 2 > inside.size());
  constexpr size_t kRun = 32;
  const size_t stride = near.size() / 4096 + 1;
  std::vector<T> mixed;
  for (size_t i = 0; i < near.size(); i += stride)
    for (size_t j = 0; j < kRun; ++j)
      mixed.push_back(j == i % kRun ? near[i] : inside[(i * kRun + j) % inside.size()]);
  CHECK(CheckPairs(k, f, mixed.data(), mixed.size()).wrong == 0);
}

TEST_CASE("Histogram: vector slots are numpy's bins on and next to every edge", "[histogram]") {
  for (const simd::KernelTable* k : BinTables()) {
    for (const BinCase& c : kBinCases) {
      const BinFinder f(c.lo, c.hi, c.bins);
      // The value at every position of a vector and in the scalar tail.
      for (size_t n : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17}) {
        INFO("lo " << c.lo << " hi " << c.hi << " bins " << c.bins << " x " << c.x << " n " << n);
        const std::vector<double> xs(n, c.x);
        size_t exact = 0;
        for (uint32_t s : KernelSlots(*k, f, xs, &exact)) CHECK(s == c.index);
        if (c.bins <= 128) CHECK(CheckPairs(*k, f, xs.data(), n).wrong == 0);
      }
    }
  }
}

TEST_CASE("Histogram: vector slots equal the exact bins on hard grids", "[histogram]") {
  std::mt19937_64 gen(20261202);
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Grid {
    double lo, hi;
    int64_t bins;
    double (*round_edge)(double);
  };
  double (*f32)(double) = [](double x) { return static_cast<double>(static_cast<float>(x)); };
  double (*f16)(double) = [](double x) { return HalfToDouble(DoubleToHalf(x)); };
  const Grid grids[] = {
      {-5, 5, 100, nullptr},
      {0, 1, 1, nullptr},
      {1e6, 1e6 + 1, 100, nullptr},
      {-1e15, -1e15 + 3, 7, nullptr},
      {0.1, 0.7, 1000, nullptr},
      {-3.3, 17.9, 65536, nullptr},
      {-5, 5, 100, f32},
      {1000, 1001, 37, f32},
      {-2, 3, 1000, f16},
      {0x1p-1070, 0x1p-1060, 3, nullptr},
      {-1e308, 1e308, 10, nullptr},
      {-7, 11, 9, nullptr},
      {-2.5, 3.5, 128, nullptr},
      {-2.5, 3.5, 128, f32},
  };
  for (const simd::KernelTable* k : BinTables()) {
    for (const Grid& gr : grids) {
      const BinFinder f(gr.lo, gr.hi, gr.bins, gr.round_edge);
      std::vector<double> xs = {f.lo(), f.hi(), inf, -inf, nan, -nan, 0.0, -0.0};
      for (double e : f.edges()) {
        if (xs.size() > 20000) break;
        double up = e, down = e;
        for (int u = 0; u < 3; ++u) {
          up = std::nextafter(up, inf);
          down = std::nextafter(down, -inf);
          xs.push_back(up);
          xs.push_back(down);
        }
        xs.push_back(e);
      }
      const std::vector<double> near = xs;
      std::uniform_real_distribution<double> d(f.lo(), f.hi());
      const double width = f.hi() - f.lo();
      std::uniform_real_distribution<double> wide(f.lo() - width, f.hi() + width);
      std::vector<double> inside;
      for (int i = 0; i < 5000; ++i) {
        inside.push_back(d(gen));
        xs.push_back(inside.back());
        xs.push_back(wide(gen));
      }
      std::shuffle(xs.begin(), xs.end(), gen);
      INFO("lo " << gr.lo << " hi " << gr.hi << " bins " << gr.bins << " margin "
                 << f.FastMargin());
      size_t exact = 0;
      const std::vector<uint32_t> got = KernelSlots(*k, f, xs, &exact);
      size_t wrong = 0;
      for (size_t i = 0; i < xs.size(); ++i) wrong += got[i] != ExactSlot(f, xs[i]);
      CHECK(wrong == 0);
      // Counted in pairs (simd::BinPairs), for grids of at most 128 bins:
      // runs starting at each of the first 9 values, of lengths that end at
      // several places in a pair of vectors, and the whole array.
      if (gr.bins <= 128) {
        size_t wrong_pairs = CheckPairs(*k, f, xs.data(), xs.size()).wrong;
        for (size_t at = 0; at < 9; ++at)
          for (size_t n : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100})
            wrong_pairs += CheckPairs(*k, f, xs.data() + at, n).wrong;
        CHECK(wrong_pairs == 0);
      }
      // Grids whose edges lie close to where (x - lo) * norm puts them send
      // almost every value inside the range down the fast path.
      if (gr.lo == -5 && gr.round_edge == nullptr) CHECK(f.FastMargin() < 1e-9);
      if (f.FastMargin() < 0.001) {
        KernelSlots(*k, f, inside, &exact);
        CHECK(exact * 100 < inside.size());
        if (gr.bins <= 128) CheckInsidePairs(*k, f, near, inside);
      }
    }
  }
}

// float32 data binned without widening (simd::BinSlotsF32): on every copy,
// the exact bins of the values cast to double, for float32 values on and
// next to every edge (the float32 neighbours of each double edge), random
// ones inside and outside the range, NaN, infinities and the largest
// floats; at every alignment and length of a vector's tail.
// And counted in pairs (simd::BinPairsF32), for grids of at most 128 bins:
// the same count for every slot.
TEST_CASE("Histogram: float32 slots equal the exact bins on hard grids", "[histogram]") {
  std::mt19937_64 gen(20261203);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Grid {
    double lo, hi;
    int64_t bins;
    double (*round_edge)(double);
  };
  double (*f32)(double) = [](double x) { return static_cast<double>(static_cast<float>(x)); };
  const Grid grids[] = {
      {-5, 5, 100, nullptr},        {0, 1, 1, nullptr},           {-5, 5, 100, f32},
      {0.1, 0.7, 1000, nullptr},    {-3.3, 17.9, 65536, nullptr}, {1000, 1001, 37, f32},
      {1e6, 1e6 + 1, 100, nullptr}, {-7, 11, 9, nullptr},         {-1e-3, 3e-3, 4096, nullptr},
      {-3e38, 3e38, 10, nullptr},   {0, 1e-30, 5, nullptr},       {123.25, 123.75, 200, nullptr},
      {-2.5, 3.5, 128, nullptr},    {-2.5, 3.5, 128, f32},
  };
  for (const simd::KernelTable* k : BinTables()) {
    for (const Grid& gr : grids) {
      const BinFinder f(gr.lo, gr.hi, gr.bins, gr.round_edge);
      std::vector<float> xs = {static_cast<float>(f.lo()),
                               static_cast<float>(f.hi()),
                               inf,
                               -inf,
                               nan,
                               -nan,
                               0.0f,
                               -0.0f,
                               std::numeric_limits<float>::max(),
                               -std::numeric_limits<float>::max()};
      for (double e : f.edges()) {
        if (xs.size() > 20000) break;
        float up = static_cast<float>(e), down = up;
        xs.push_back(up);
        for (int u = 0; u < 3; ++u) {
          up = std::nextafter(up, inf);
          down = std::nextafter(down, -inf);
          xs.push_back(up);
          xs.push_back(down);
        }
      }
      const std::vector<float> near = xs;
      const double width = f.hi() - f.lo();
      std::uniform_real_distribution<double> d(f.lo(), f.hi());
      std::uniform_real_distribution<double> wide(f.lo() - width, f.hi() + width);
      std::vector<float> inside;
      for (int i = 0; i < 5000; ++i) {
        inside.push_back(static_cast<float>(d(gen)));
        xs.push_back(inside.back());
        xs.push_back(static_cast<float>(wide(gen)));
      }
      std::shuffle(xs.begin(), xs.end(), gen);
      INFO("lo " << gr.lo << " hi " << gr.hi << " bins " << gr.bins << " margin "
                 << f.FastMargin());
      const simd::BinGrid g = f.Grid();
      // Runs starting at each of the first 17 floats, of lengths that end
      // everywhere in a vector, and the whole array.
      std::vector<std::pair<size_t, size_t>> runs = {{0, xs.size()}, {1, xs.size() - 1}};
      for (size_t at = 0; at < 17; ++at)
        for (size_t n : {1, 7, 8, 9, 15, 16, 17, 31, 33, 100}) runs.emplace_back(at, n);
      size_t wrong = 0, exact = 0, wrong_pairs = 0;
      for (const auto& run : runs) {
        const float* x = xs.data() + run.first;
        std::vector<uint32_t> s(run.second + 1, 12345);
        const bool any = k->bin_slots_f32(x, run.second, g, s.data());
        CHECK(s[run.second] == 12345);  // nothing written past the run
        size_t n_exact = 0;
        for (size_t i = 0; i < run.second; ++i) {
          uint32_t slot = s[i];
          if (slot == simd::kSlotExact) {
            ++n_exact;
            if (!(x[i] >= f.lo() && x[i] <= f.hi())) ++wrong;  // only values in range
            slot = static_cast<uint32_t>(f.Index(static_cast<double>(x[i])));
          }
          wrong += slot != ExactSlot(f, static_cast<double>(x[i]));
        }
        CHECK(any == (n_exact > 0));
        if (run.first == 0 && run.second == xs.size()) exact = n_exact;
        if (gr.bins <= 128) wrong_pairs += CheckPairs(*k, f, x, run.second).wrong;
      }
      CHECK(wrong == 0);
      CHECK(wrong_pairs == 0);
      (void)exact;
      // Where float32 values are dense in the range (not [1e6, 1e6 + 1],
      // whose 17 floats include 5 edges), few need the exact path.
      const double spacing = std::max(std::fabs(f.lo()), std::fabs(f.hi())) * 0x1p-23;
      if (f.FastMargin() < 0.001 && spacing * static_cast<double>(gr.bins) * 1000 < width) {
        std::vector<uint32_t> s(inside.size());
        k->bin_slots_f32(inside.data(), inside.size(), g, s.data());
        size_t n_exact = 0;
        for (uint32_t v : s) n_exact += v == simd::kSlotExact;
        CHECK(n_exact * 100 < inside.size());
        if (gr.bins <= 128) CheckInsidePairs(*k, f, near, inside);
      }
    }
  }
}

// A block of float64 values whose data is not aligned to 8 bytes (sources
// never hand one over today) skips the pairs and counts what the aligned
// block (paired) and the byte-swapped copy (never paired) count. x86 reads
// a misaligned double, and the sanitized build leaves alignment unchecked,
// so this checks the counts, not that the pairs were skipped.
TEST_CASE("Histogram: float64 blocks at any alignment count the same", "[histogram]") {
  const uint64_t n = 100003;  // >= 8 x 100^2, and a tail past the vectors
  std::mt19937_64 gen(20261207);
  std::normal_distribution<double> normal(0, 1.5);
  std::vector<double> v(n);
  for (double& x : v) x = normal(gen);
  for (uint64_t i = 0; i < n; i += 97) v[i] = std::numeric_limits<double>::quiet_NaN();
  std::vector<Json> got;
  for (const char* dtype : {"<f8", ">f8"}) {
    Dataset d;
    d.path = "/nonexistent/histogram_alignment_test";  // never opened
    d.format = "raw";
    d.mode = "r";
    d.layout.dtype = *ParseDType(dtype);
    d.layout.shape = {static_cast<int64_t>(n)};
    d.file_bytes = d.layout.data_bytes();
    d.shape_spec = d.layout.shape;
    const Partition partition(d.layout);
    AnalysisSpec spec;
    spec.name = spec.op = "histogram";
    spec.params = Json{{"bins", 100}, {"range", {-3, 3}}};
    Result<std::unique_ptr<Analysis>> made = MakeAnalysis(spec, d, partition);
    REQUIRE(made.ok());
    std::vector<char> bytes(n * 8 + 8);
    for (uint64_t shift : {0, 4}) {
      for (uint64_t i = 0; i < n; ++i) {
        char* e = bytes.data() + shift + i * 8;
        std::memcpy(e, &v[i], 8);
        if (dtype[0] == '>') std::reverse(e, e + 8);
      }
      BlockView b;
      b.begin = 0;
      b.end = n;
      b.data = bytes.data() + shift;
      std::unique_ptr<Partial> p = (*made)->NewPartial(0);
      REQUIRE((*made)->NewScanner(0)->Consume(b, p.get()).ok());
      got.push_back(p->ToJson());
    }
  }
  for (const Json& j : got) CHECK(j == got[0]);
}

TEST_CASE("Histogram partials: varint columns round trip; malformed ones are kDataErr",
          "[histogram]") {
  // 30 x 50 int32 counted per column (axis 0): 50 lanes of 4 bins.
  Dataset d;
  d.path = "/nonexistent/histogram_partial_test";  // never opened
  d.format = "raw";
  d.mode = "r";
  d.layout.dtype = *ParseDType("<i4");
  d.layout.shape = {30, 50};
  d.file_bytes = d.layout.data_bytes();
  d.shape_spec = d.layout.shape;
  const Partition partition(d.layout);
  AnalysisSpec spec;
  spec.name = spec.op = "histogram";
  spec.params = Json{{"axis", 0}, {"bins", 4}, {"range", {0, 100}}};
  Result<std::unique_ptr<Analysis>> made = MakeAnalysis(spec, d, partition);
  REQUIRE(made.ok());
  const Analysis& a = **made;
  std::vector<int32_t> v(1500);
  std::mt19937 rng(7);
  for (int32_t& x : v) x = static_cast<int32_t>(rng() % 140) - 20;  // some below, some above
  BlockView b;
  b.begin = 50 * 3;  // rows [3, 20)
  b.end = 50 * 20;
  b.data = reinterpret_cast<char*>(v.data() + b.begin);
  std::unique_ptr<Partial> p = a.NewPartial(0);
  REQUIRE(a.NewScanner(0)->Consume(b, p.get()).ok());
  const Json good = p->ToJson();
  CHECK(good["counts"].is_binary());
  Result<std::unique_ptr<Partial>> back = a.PartialFromJson(0, good);
  REQUIRE(back.ok());
  CHECK((*back)->ToJson() == good);

  std::vector<Json> bad = {Json::array(), Json(3)};
  for (const char* key : {"lo", "hi", "counts", "below", "above", "nan"}) {
    Json j = good;
    j.erase(key);
    bad.push_back(j);
    j[key] = Json::array({1, 2});  // the old form
    bad.push_back(j);
    j[key] = "!!!!";
    bad.push_back(j);
  }
  Json j = good;
  j["hi"] = 51;  // past the 50 lanes
  bad.push_back(j);
  j = good;
  j["lo"] = 1;  // one lane fewer than the columns hold
  bad.push_back(j);
  j = good;
  j["counts"] = PackVarints(std::vector<uint64_t>(200, uint64_t{1} << 63));  // beyond int64
  bad.push_back(j);
  j = good;
  j["nan"] = PackVarints(std::vector<uint64_t>(51, 0));  // a value left over
  bad.push_back(j);
  j = good;
  j["extra"] = 1;
  bad.push_back(j);
  for (const Json& x : bad) {
    INFO(x.dump().substr(0, 200));
    Result<std::unique_ptr<Partial>> q = a.PartialFromJson(0, x);
    REQUIRE_FALSE(q.ok());
    CHECK(q.status().code() == Code::kDataErr);
  }
}

}  // namespace
}  // namespace mm
