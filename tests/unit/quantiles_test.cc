// Tests of the quantile helpers (analysis/quantiles): the order-preserving key
// of a double, and the ranks and interpolation of all 13 numpy methods.
// For x_i = 3.7 * sqrt(i + 0.5), i < n, the value computed from
// QuantileRanksFor + QuantileLerp must equal numpy.quantile(x, q, method)
// bit for bit (numpy 1.24 generated the table; hex floats). Also the radix
// partials' wire form: round trips, and malformed ones refused.
#include "analysis/quantiles.h"

#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "source/partition.h"

namespace mm {
namespace {

struct QuantileCase {
  int method;  // index into QuantileMethodNames()
  int64_t n;
  double q;
  double value;
};

const QuantileCase kCases[] = {
    {0, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {0, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {0, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {0, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {0, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {0, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {0, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {0, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {0, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {0, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {0, 2, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {0, 2, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {0, 2, 0x1.fae147ae147aep-1, 0x1.2205038eed84bp+2},
    {0, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {0, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {0, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {0, 5, 0x1.0000000000000p-2, 0x1.2205038eed84bp+2},
    {0, 5, 0x1.5555555555555p-2, 0x1.2205038eed84bp+2},
    {0, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {0, 5, 0x1.fae147ae147aep-1, 0x1.f65422e36efc5p+2},
    {0, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {0, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {0, 101, 0x1.999999999999ap-4, 0x1.7fa8ebe300436p+3},
    {0, 101, 0x1.0000000000000p-2, 0x1.2af20234fb3f1p+4},
    {0, 101, 0x1.5555555555555p-2, 0x1.56a50fcc86e4ap+4},
    {0, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {0, 101, 0x1.fae147ae147aep-1, 0x1.2742529650f3ep+5},
    {0, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {1, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {1, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {1, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {1, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {1, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {1, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {1, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {1, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {1, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {1, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {1, 2, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {1, 2, 0x1.0000000000000p-1, 0x1.c976648567d8dp+1},
    {1, 2, 0x1.fae147ae147aep-1, 0x1.2205038eed84bp+2},
    {1, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {1, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {1, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {1, 5, 0x1.0000000000000p-2, 0x1.2205038eed84bp+2},
    {1, 5, 0x1.5555555555555p-2, 0x1.2205038eed84bp+2},
    {1, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {1, 5, 0x1.fae147ae147aep-1, 0x1.f65422e36efc5p+2},
    {1, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {1, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {1, 101, 0x1.999999999999ap-4, 0x1.7fa8ebe300436p+3},
    {1, 101, 0x1.0000000000000p-2, 0x1.2af20234fb3f1p+4},
    {1, 101, 0x1.5555555555555p-2, 0x1.56a50fcc86e4ap+4},
    {1, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {1, 101, 0x1.fae147ae147aep-1, 0x1.2742529650f3ep+5},
    {1, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {2, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {2, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {2, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {2, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {2, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {2, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {2, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {2, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {2, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {2, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {2, 2, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {2, 2, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {2, 2, 0x1.fae147ae147aep-1, 0x1.2205038eed84bp+2},
    {2, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {2, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {2, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {2, 5, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {2, 5, 0x1.5555555555555p-2, 0x1.2205038eed84bp+2},
    {2, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {2, 5, 0x1.fae147ae147aep-1, 0x1.f65422e36efc5p+2},
    {2, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {2, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {2, 101, 0x1.999999999999ap-4, 0x1.6ceeed5647f79p+3},
    {2, 101, 0x1.0000000000000p-2, 0x1.250669af56133p+4},
    {2, 101, 0x1.5555555555555p-2, 0x1.56a50fcc86e4ap+4},
    {2, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {2, 101, 0x1.fae147ae147aep-1, 0x1.2742529650f3ep+5},
    {2, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {3, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {3, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {3, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {3, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {3, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {3, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {3, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {3, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {3, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {3, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {3, 2, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {3, 2, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {3, 2, 0x1.fae147ae147aep-1, 0x1.1f916bd38f0dfp+2},
    {3, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {3, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {3, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {3, 5, 0x1.0000000000000p-2, 0x1.8c2c93392e408p+1},
    {3, 5, 0x1.5555555555555p-2, 0x1.f2524562e393ap+1},
    {3, 5, 0x1.0000000000000p-1, 0x1.4c37751493662p+2},
    {3, 5, 0x1.fae147ae147aep-1, 0x1.f35ce2d5954cap+2},
    {3, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {3, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {3, 101, 0x1.999999999999ap-4, 0x1.6ece53978d98cp+3},
    {3, 101, 0x1.0000000000000p-2, 0x1.26814fd0bf5e2p+4},
    {3, 101, 0x1.5555555555555p-2, 0x1.54ed5a2650f5cp+4},
    {3, 101, 0x1.0000000000000p-1, 0x1.a29a1b7927c74p+4},
    {3, 101, 0x1.fae147ae147aep-1, 0x1.273e83c3d1f25p+5},
    {3, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {4, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {4, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {4, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {4, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {4, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {4, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {4, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {4, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {4, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {4, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {4, 2, 0x1.5555555555555p-2, 0x1.77bea2ca70631p+1},
    {4, 2, 0x1.0000000000000p-1, 0x1.c976648567d8dp+1},
    {4, 2, 0x1.fae147ae147aep-1, 0x1.2205038eed84bp+2},
    {4, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {4, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {4, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {4, 5, 0x1.0000000000000p-2, 0x1.03601ae8d0b89p+2},
    {4, 5, 0x1.5555555555555p-2, 0x1.3015d410cf7a8p+2},
    {4, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {4, 5, 0x1.fae147ae147aep-1, 0x1.f65422e36efc5p+2},
    {4, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {4, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {4, 101, 0x1.999999999999ap-4, 0x1.782b52dde9bebp+3},
    {4, 101, 0x1.0000000000000p-2, 0x1.29771c1391f42p+4},
    {4, 101, 0x1.5555555555555p-2, 0x1.577da8aa650e8p+4},
    {4, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {4, 101, 0x1.fae147ae147aep-1, 0x1.27fbf97161968p+5},
    {4, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {5, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {5, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {5, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {5, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {5, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {5, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {5, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {5, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {5, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {5, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {5, 2, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {5, 2, 0x1.0000000000000p-1, 0x1.c976648567d8dp+1},
    {5, 2, 0x1.fae147ae147aep-1, 0x1.2205038eed84bp+2},
    {5, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {5, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {5, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {5, 5, 0x1.0000000000000p-2, 0x1.c976648567d8dp+1},
    {5, 5, 0x1.5555555555555p-2, 0x1.2205038eed84bp+2},
    {5, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {5, 5, 0x1.fae147ae147aep-1, 0x1.f65422e36efc5p+2},
    {5, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {5, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {5, 101, 0x1.999999999999ap-4, 0x1.70adb9d8d339fp+3},
    {5, 101, 0x1.0000000000000p-2, 0x1.27fc35f228a92p+4},
    {5, 101, 0x1.5555555555555p-2, 0x1.56a50fcc86e4ap+4},
    {5, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {5, 101, 0x1.fae147ae147aep-1, 0x1.28b5a04c72392p+5},
    {5, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {6, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {6, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {6, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {6, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {6, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {6, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {6, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {6, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {6, 2, 0x1.999999999999ap-4, 0x1.6766af3ea54b9p+1},
    {6, 2, 0x1.0000000000000p-2, 0x1.8c2c93392e408p+1},
    {6, 2, 0x1.5555555555555p-2, 0x1.a09a83a7ec1dfp+1},
    {6, 2, 0x1.0000000000000p-1, 0x1.c976648567d8dp+1},
    {6, 2, 0x1.fae147ae147aep-1, 0x1.20cb37b13e495p+2},
    {6, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {6, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {6, 5, 0x1.999999999999ap-4, 0x1.b0f27733b7358p+1},
    {6, 5, 0x1.0000000000000p-2, 0x1.2205038eed84bp+2},
    {6, 5, 0x1.5555555555555p-2, 0x1.3e26a492b1705p+2},
    {6, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {6, 5, 0x1.fae147ae147aep-1, 0x1.f3f4bc71f4096p+2},
    {6, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {6, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {6, 101, 0x1.999999999999ap-4, 0x1.7fa8ebe300436p+3},
    {6, 101, 0x1.0000000000000p-2, 0x1.2af20234fb3f1p+4},
    {6, 101, 0x1.5555555555555p-2, 0x1.5856418843386p+4},
    {6, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {6, 101, 0x1.fae147ae147aep-1, 0x1.2742529650f3ep+5},
    {6, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {7, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {7, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {7, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {7, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {7, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {7, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {7, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {7, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {7, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {7, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {7, 2, 0x1.5555555555555p-2, 0x1.6a2002809c7a3p+1},
    {7, 2, 0x1.0000000000000p-1, 0x1.c976648567d8dp+1},
    {7, 2, 0x1.fae147ae147aep-1, 0x1.2205038eed84bp+2},
    {7, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {7, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {7, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {7, 5, 0x1.0000000000000p-2, 0x1.f2524562e393bp+1},
    {7, 5, 0x1.5555555555555p-2, 0x1.2b658e902ed33p+2},
    {7, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {7, 5, 0x1.fae147ae147aep-1, 0x1.f65422e36efc5p+2},
    {7, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {7, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {7, 101, 0x1.999999999999ap-4, 0x1.75ac1fdc37927p+3},
    {7, 101, 0x1.0000000000000p-2, 0x1.28f8cf5dc4307p+4},
    {7, 101, 0x1.5555555555555p-2, 0x1.573575b5c5ab3p+4},
    {7, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {7, 101, 0x1.fae147ae147aep-1, 0x1.2839dbba67221p+5},
    {7, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {8, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {8, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {8, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {8, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {8, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {8, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {8, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {8, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {8, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {8, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {8, 2, 0x1.5555555555555p-2, 0x1.6d87aa9311746p+1},
    {8, 2, 0x1.0000000000000p-1, 0x1.c976648567d8dp+1},
    {8, 2, 0x1.fae147ae147aep-1, 0x1.2205038eed84bp+2},
    {8, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {8, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {8, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {8, 5, 0x1.0000000000000p-2, 0x1.f76dc17e930b0p+1},
    {8, 5, 0x1.5555555555555p-2, 0x1.2c919ff056fd1p+2},
    {8, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {8, 5, 0x1.fae147ae147aep-1, 0x1.f65422e36efc5p+2},
    {8, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {8, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {8, 101, 0x1.999999999999ap-4, 0x1.764bec9ca41d8p+3},
    {8, 101, 0x1.0000000000000p-2, 0x1.2918628b37a16p+4},
    {8, 101, 0x1.5555555555555p-2, 0x1.57478272ed840p+4},
    {8, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {8, 101, 0x1.fae147ae147aep-1, 0x1.282a632825bf3p+5},
    {8, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {9, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {9, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {9, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {9, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {9, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {9, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {9, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {9, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {9, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {9, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {9, 2, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {9, 2, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {9, 2, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {9, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {9, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {9, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {9, 5, 0x1.0000000000000p-2, 0x1.2205038eed84bp+2},
    {9, 5, 0x1.5555555555555p-2, 0x1.2205038eed84bp+2},
    {9, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {9, 5, 0x1.fae147ae147aep-1, 0x1.bb0321ce6d424p+2},
    {9, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {9, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {9, 101, 0x1.999999999999ap-4, 0x1.7fa8ebe300436p+3},
    {9, 101, 0x1.0000000000000p-2, 0x1.2af20234fb3f1p+4},
    {9, 101, 0x1.5555555555555p-2, 0x1.56a50fcc86e4ap+4},
    {9, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {9, 101, 0x1.fae147ae147aep-1, 0x1.2742529650f3ep+5},
    {9, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {10, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {10, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {10, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {10, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {10, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {10, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {10, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {10, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {10, 2, 0x1.999999999999ap-4, 0x1.2205038eed84bp+2},
    {10, 2, 0x1.0000000000000p-2, 0x1.2205038eed84bp+2},
    {10, 2, 0x1.5555555555555p-2, 0x1.2205038eed84bp+2},
    {10, 2, 0x1.0000000000000p-1, 0x1.2205038eed84bp+2},
    {10, 2, 0x1.fae147ae147aep-1, 0x1.2205038eed84bp+2},
    {10, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {10, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {10, 5, 0x1.999999999999ap-4, 0x1.2205038eed84bp+2},
    {10, 5, 0x1.0000000000000p-2, 0x1.2205038eed84bp+2},
    {10, 5, 0x1.5555555555555p-2, 0x1.7669e69a3947ap+2},
    {10, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {10, 5, 0x1.fae147ae147aep-1, 0x1.f65422e36efc5p+2},
    {10, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {10, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {10, 101, 0x1.999999999999ap-4, 0x1.7fa8ebe300436p+3},
    {10, 101, 0x1.0000000000000p-2, 0x1.2af20234fb3f1p+4},
    {10, 101, 0x1.5555555555555p-2, 0x1.5bb8a4ffbbdfep+4},
    {10, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {10, 101, 0x1.fae147ae147aep-1, 0x1.2742529650f3ep+5},
    {10, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {11, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {11, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {11, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {11, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {11, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {11, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {11, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {11, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {11, 2, 0x1.999999999999ap-4, 0x1.c976648567d8dp+1},
    {11, 2, 0x1.0000000000000p-2, 0x1.c976648567d8dp+1},
    {11, 2, 0x1.5555555555555p-2, 0x1.c976648567d8dp+1},
    {11, 2, 0x1.0000000000000p-1, 0x1.c976648567d8dp+1},
    {11, 2, 0x1.fae147ae147aep-1, 0x1.c976648567d8dp+1},
    {11, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {11, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {11, 5, 0x1.999999999999ap-4, 0x1.c976648567d8dp+1},
    {11, 5, 0x1.0000000000000p-2, 0x1.2205038eed84bp+2},
    {11, 5, 0x1.5555555555555p-2, 0x1.4c37751493662p+2},
    {11, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {11, 5, 0x1.fae147ae147aep-1, 0x1.d8aba258ee1f4p+2},
    {11, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {11, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {11, 101, 0x1.999999999999ap-4, 0x1.7fa8ebe300436p+3},
    {11, 101, 0x1.0000000000000p-2, 0x1.2af20234fb3f1p+4},
    {11, 101, 0x1.5555555555555p-2, 0x1.592eda6621624p+4},
    {11, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {11, 101, 0x1.fae147ae147aep-1, 0x1.2742529650f3ep+5},
    {11, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
    {12, 1, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {12, 1, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {12, 1, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {12, 1, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {12, 1, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {12, 1, 0x1.fae147ae147aep-1, 0x1.4ee2c1ecf4a84p+1},
    {12, 1, 0x1.0000000000000p+0, 0x1.4ee2c1ecf4a84p+1},
    {12, 2, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {12, 2, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {12, 2, 0x1.0000000000000p-2, 0x1.4ee2c1ecf4a84p+1},
    {12, 2, 0x1.5555555555555p-2, 0x1.4ee2c1ecf4a84p+1},
    {12, 2, 0x1.0000000000000p-1, 0x1.4ee2c1ecf4a84p+1},
    {12, 2, 0x1.fae147ae147aep-1, 0x1.2205038eed84bp+2},
    {12, 2, 0x1.0000000000000p+0, 0x1.2205038eed84bp+2},
    {12, 5, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {12, 5, 0x1.999999999999ap-4, 0x1.4ee2c1ecf4a84p+1},
    {12, 5, 0x1.0000000000000p-2, 0x1.2205038eed84bp+2},
    {12, 5, 0x1.5555555555555p-2, 0x1.2205038eed84bp+2},
    {12, 5, 0x1.0000000000000p-1, 0x1.7669e69a3947ap+2},
    {12, 5, 0x1.fae147ae147aep-1, 0x1.f65422e36efc5p+2},
    {12, 5, 0x1.0000000000000p+0, 0x1.f65422e36efc5p+2},
    {12, 101, 0x0.0p+0, 0x1.4ee2c1ecf4a84p+1},
    {12, 101, 0x1.999999999999ap-4, 0x1.7fa8ebe300436p+3},
    {12, 101, 0x1.0000000000000p-2, 0x1.2af20234fb3f1p+4},
    {12, 101, 0x1.5555555555555p-2, 0x1.56a50fcc86e4ap+4},
    {12, 101, 0x1.0000000000000p-1, 0x1.a4b1ee6665a47p+4},
    {12, 101, 0x1.fae147ae147aep-1, 0x1.2742529650f3ep+5},
    {12, 101, 0x1.0000000000000p+0, 0x1.28bd342b97794p+5},
};

TEST_CASE("Quantiles: every method matches numpy.quantile bit for bit", "[quantiles]") {
  for (const QuantileCase& c : kCases) {
    std::vector<double> x;
    for (int64_t i = 0; i < c.n; ++i) x.push_back(std::sqrt(static_cast<double>(i) + 0.5) * 3.7);
    const auto method = static_cast<QuantileMethod>(c.method);
    const QuantileRanks r = QuantileRanksFor(method, c.n, c.q);
    INFO(QuantileMethodNames()[static_cast<size_t>(c.method)] << " n " << c.n << " q " << c.q);
    REQUIRE(r.lo >= 0);
    REQUIRE(r.hi < c.n);
    const double v = r.interpolate ? QuantileLerp(x[static_cast<size_t>(r.lo)],
                                                  x[static_cast<size_t>(r.hi)], r.gamma)
                                   : x[static_cast<size_t>(r.lo)];
    CHECK(v == c.value);
  }
}

TEST_CASE("Quantiles: method names are numpy's, in enum order", "[quantiles]") {
  const auto& names = QuantileMethodNames();
  REQUIRE(names.size() == 13);
  CHECK(names[static_cast<size_t>(QuantileMethod::kLinear)] == "linear");
  CHECK(names[static_cast<size_t>(QuantileMethod::kNearest)] == "nearest");
  CHECK(names[static_cast<size_t>(QuantileMethod::kInvertedCdf)] == "inverted_cdf");
}

TEST_CASE("Quantiles: lerp is numpy's two-sided formula", "[quantiles]") {
  CHECK(QuantileLerp(1.0, 3.0, 0.25) == 1.5);
  CHECK(QuantileLerp(1.0, 3.0, 0.75) == 3.0 - 2.0 * 0.25);
  // Equal infinite ends give NaN, as in numpy (inf - inf).
  CHECK(std::isnan(QuantileLerp(std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::infinity(), 0.3)));
  // Exact at t = 1 whatever the rounding of b - a.
  CHECK(QuantileLerp(0.1, 0.7, 1.0) == 0.7);
}

TEST_CASE("Quantiles: the key preserves order and round-trips", "[quantiles]") {
  const double inf = std::numeric_limits<double>::infinity();
  const double den = std::numeric_limits<double>::denorm_min();
  std::vector<double> xs = {-inf,
                            -std::numeric_limits<double>::max(),
                            -1e300,
                            -2.0,
                            -1.0,
                            -1e-300,
                            -den,
                            0.0,
                            den,
                            1e-300,
                            1.0,
                            std::nextafter(1.0, 2.0),
                            2.0,
                            1e300,
                            std::numeric_limits<double>::max(),
                            inf};
  std::mt19937_64 gen(42);
  std::normal_distribution<double> normal(0.0, 1e3);
  for (int i = 0; i < 2000; ++i) xs.push_back(normal(gen));
  std::sort(xs.begin(), xs.end());
  for (size_t i = 0; i < xs.size(); ++i) {
    CHECK(KeyToDouble(OrderedKey(xs[i])) == xs[i]);
    if (i > 0) {
      INFO(xs[i - 1] << " < " << xs[i]);
      if (xs[i - 1] < xs[i]) CHECK(OrderedKey(xs[i - 1]) < OrderedKey(xs[i]));
      if (xs[i - 1] == xs[i]) CHECK(OrderedKey(xs[i - 1]) == OrderedKey(xs[i]));
    }
  }
  // -0.0 sorts with +0.0 and comes back as +0.0.
  CHECK(OrderedKey(-0.0) == OrderedKey(0.0));
  CHECK(!std::signbit(KeyToDouble(OrderedKey(-0.0))));
}

TEST_CASE("Quantiles: ranks stay inside [0, n) at the ends", "[quantiles]") {
  for (size_t m = 0; m < QuantileMethodNames().size(); ++m) {
    for (int64_t n : {1, 2, 3, 1000001}) {
      for (double q : {0.0, 1e-17, 0.5, 1.0 - 1e-16, 1.0}) {
        const QuantileRanks r = QuantileRanksFor(static_cast<QuantileMethod>(m), n, q);
        INFO(QuantileMethodNames()[m] << " n " << n << " q " << q);
        CHECK(r.lo >= 0);
        CHECK(r.lo <= r.hi);
        CHECK(r.hi < n);
      }
    }
  }
}

// A (300, 40) float32 dataset with NaNs, per-column quantiles; `budget`
// sets MMRUN_TEST_QUANTILE_CAP while the analysis is built (0: pass 0
// counts 4 key bits a lane; unset: every value gathered).
constexpr int64_t kRows = 300, kCols = 40;

struct PartialCase {
  Dataset dataset;
  std::vector<float> data;
  std::unique_ptr<Analysis> analysis;
};

// A raw float32 dataset whose blocks the tests hand over from memory.
Dataset MemoryDataset(std::vector<int64_t> shape) {
  Dataset d;
  d.path = "/nonexistent/quantiles_test";
  d.format = "raw";
  d.mode = "r";
  d.layout.dtype = *ParseDType("<f4");
  d.layout.shape = std::move(shape);
  d.file_bytes = d.layout.data_bytes();
  d.shape_spec = d.layout.shape;
  return d;
}

PartialCase MakePartialCase(const char* budget) {
  PartialCase c;
  c.dataset = MemoryDataset({kRows, kCols});
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 10);
  for (int64_t i = 0; i < kRows * kCols; ++i) c.data.push_back(i % 31 == 0 ? NAN : normal(rng));
  AnalysisSpec spec;
  spec.name = spec.op = "quantiles";
  spec.params = Json{{"q", {0.1, 0.5}}, {"axis", 0}};
  if (budget != nullptr) REQUIRE(::setenv("MMRUN_TEST_QUANTILE_CAP", budget, 1) == 0);
  Result<std::unique_ptr<Analysis>> a = MakeAnalysis(spec, c.dataset, Partition(c.dataset.layout));
  ::unsetenv("MMRUN_TEST_QUANTILE_CAP");
  REQUIRE(a.ok());
  c.analysis = std::move(*a);
  return c;
}

Json PassZeroPartial(PartialCase* c, int64_t r0, int64_t r1) {
  BlockView b;
  b.begin = static_cast<uint64_t>(r0 * kCols);
  b.end = static_cast<uint64_t>(r1 * kCols);
  b.data = reinterpret_cast<char*>(c->data.data() + b.begin);
  std::unique_ptr<Partial> p = c->analysis->NewPartial(0);
  REQUIRE(c->analysis->NewScanner(0)->Consume(b, p.get()).ok());
  return p->ToJson();
}

TEST_CASE("Quantiles: radix partials survive ToJson -> PartialFromJson", "[quantiles]") {
  for (const char* budget : {static_cast<const char*>(nullptr), "0"}) {
    PartialCase c = MakePartialCase(budget);
    const Json j = PassZeroPartial(&c, 7, 250);
    Result<std::unique_ptr<Partial>> back = c.analysis->PartialFromJson(0, j);
    REQUIRE(back.ok());
    CHECK((*back)->ToJson() == j);
    // Two halves merged are the whole.
    Result<std::unique_ptr<Partial>> left =
        c.analysis->PartialFromJson(0, PassZeroPartial(&c, 7, 100));
    Result<std::unique_ptr<Partial>> right =
        c.analysis->PartialFromJson(0, PassZeroPartial(&c, 100, 250));
    REQUIRE((left.ok() && right.ok()));
    (*left)->Merge(**right);
    CHECK((*left)->ToJson() == j);
  }
}

TEST_CASE("Quantiles: a radix pass 0 whose lanes hold more values than their length is refused",
          "[quantiles]") {
  for (const char* budget : {static_cast<const char*>(nullptr), "0"}) {
    PartialCase c = MakePartialCase(budget);
    Result<std::unique_ptr<Partial>> whole =
        c.analysis->PartialFromJson(0, PassZeroPartial(&c, 0, kRows));
    Result<std::unique_ptr<Partial>> again =
        c.analysis->PartialFromJson(0, PassZeroPartial(&c, 0, kRows));
    REQUIRE((whole.ok() && again.ok()));
    (*whole)->Merge(**again);  // every value twice
    const Status st = c.analysis->EndPass(0, **whole);
    CHECK(st.code() == Code::kWorkerFailed);
    CHECK(st.message().find("more values than its length") != std::string::npos);
    PartialCase fresh = MakePartialCase(budget);
    Result<std::unique_ptr<Partial>> once =
        fresh.analysis->PartialFromJson(0, PassZeroPartial(&fresh, 0, kRows));
    REQUIRE(once.ok());
    CHECK(fresh.analysis->EndPass(0, **once).ok());
  }
}

TEST_CASE("Quantiles: malformed radix partials are kDataErr, never a crash", "[quantiles]") {
  for (const char* budget : {static_cast<const char*>(nullptr), "0"}) {
    PartialCase c = MakePartialCase(budget);
    const Json good = PassZeroPartial(&c, 0, kRows);
    std::vector<Json> bad = {Json::array(), Json(3)};
    for (const char* key : {"lo", "hi", "nan", "n", "keys", "counts"}) {
      Json j = good;
      j.erase(key);
      bad.push_back(j);
      j[key] = "x";
      bad.push_back(j);
      j[key] = Json::array();
      bad.push_back(j);
    }
    auto with = [&](const char* key, const std::string& bytes) {
      Json j = good;
      j[key] = Base64Encode(bytes.data(), bytes.size());
      return j;
    };
    const std::string too_long(11, '\xff');  // a varint past 64 bits
    bad.push_back(with("counts", too_long));
    bad.push_back(with("nan", std::string(kCols - 1, '\0')));           // a lane short
    bad.push_back(with("nan", std::string(kCols + 1, '\0')));           // a byte left over
    bad.push_back(with("nan", std::string(kCols - 1, '\0') + "\x80"));  // cut in a varint
    bad.push_back(with("n", std::string(kCols, '\x7f')));  // more pairs than the keys hold
    Json j = good;
    j["hi"] = uint64_t{1} << 62;
    bad.push_back(j);
    j = good;
    j["lo"] = 5;
    bad.push_back(j);
    // A repeated key: a step of 0 after a slot's first key.
    j = good;
    std::string n(kCols, '\0'), keys, counts;
    n[0] = 2;
    keys = std::string("\x01\x00", 2);
    counts = "\x01\x01";
    j["n"] = Base64Encode(n.data(), n.size());
    j["keys"] = Base64Encode(keys.data(), keys.size());
    j["counts"] = Base64Encode(counts.data(), counts.size());
    bad.push_back(j);
    if (budget != nullptr) {  // counted per 4 bits: bucket 16 is past them
      n[0] = 1;
      j["n"] = Base64Encode(n.data(), n.size());
      j["keys"] = Base64Encode("\x10", 1);
      j["counts"] = Base64Encode("\x01", 1);
      bad.push_back(j);
      j["keys"] = Base64Encode("\x0f", 1);  // bucket 15 is fine
      REQUIRE(c.analysis->PartialFromJson(0, j).ok());
    }
    for (const Json& b : bad) {
      INFO(b.dump().substr(0, 300));
      Result<std::unique_ptr<Partial>> p = c.analysis->PartialFromJson(0, b);
      REQUIRE_FALSE(p.ok());
      CHECK(p.status().code() == Code::kDataErr);
    }
  }
}

TEST_CASE("Quantiles: lane tiles' pass inputs are checked, and a tile's partial holds its lanes",
          "[quantiles]") {
  // 40 rows of 300 float32 lanes, axis 0: 40 values a lane; a budget of
  // 530 values gives tiles of 13 lanes, 24 of them (the last of one lane).
  const Dataset ds = MemoryDataset({40, 300});
  std::vector<float> data(40 * 300);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>((i * 7919) % 1000);
  AnalysisSpec spec;
  spec.name = spec.op = "quantiles";
  spec.params = Json{{"q", {0.5}}, {"axis", 0}};
  REQUIRE(::setenv("MMRUN_TEST_QUANTILE_CAP", "530", 1) == 0);
  Result<std::unique_ptr<Analysis>> made = MakeAnalysis(spec, ds, Partition(ds.layout));
  ::unsetenv("MMRUN_TEST_QUANTILE_CAP");
  REQUIRE(made.ok());
  Analysis& a = **made;
  CHECK(a.passes() == 24);
  CHECK(a.PassNeeded(23));
  CHECK_FALSE(a.PassNeeded(24));
  const Json good = a.PassInput(5);
  CHECK(good == Json{{"tiles", 24}, {"lanes_per_tile", 13}});
  const std::vector<std::pair<int, Json>> bad = {
      {5, Json{{"tiles", 0}, {"lanes_per_tile", 13}}},
      {5, Json{{"tiles", 4097}, {"lanes_per_tile", 13}}},
      {24, good},                                         // pass past the tiles
      {-1, good},                                         //
      {5, Json{{"tiles", 24}, {"lanes_per_tile", 0}}},    //
      {5, Json{{"tiles", 24}, {"lanes_per_tile", 12}}},   // 288 lanes: some left out
      {5, Json{{"tiles", 24}, {"lanes_per_tile", 14}}},   // the last tile empty
      {5, Json{{"tiles", 24}, {"lanes_per_tile", 301}}},  //
      {5, Json{{"tiles", "24"}, {"lanes_per_tile", 13}}},
      {5, Json{{"tiles", 24}}},
      {5, Json{{"tiles", (int64_t{1} << 32) + 24}, {"lanes_per_tile", 13}}},  // not truncated
      {5, Json{{"tiles", -24}, {"lanes_per_tile", 13}}},
      {5, Json{{"tiles", 24}, {"lanes_per_tile", -13}}},
      {5, Json{{"tiles", 24.0}, {"lanes_per_tile", 13}}},
  };
  for (const auto& [pass, input] : bad) {
    INFO(pass << " " << input.dump());
    const Status st = a.SetPassInput(pass, input);
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == Code::kDataErr);
  }
  // Pass 5's partial of rows [3, 29) holds lanes [65, 78), 26 values each.
  REQUIRE(a.SetPassInput(5, good).ok());
  BlockView b;
  b.begin = 3 * 300;
  b.end = 29 * 300;
  b.data = reinterpret_cast<char*>(data.data() + b.begin);
  std::unique_ptr<Partial> p = a.NewPartial(5);
  REQUIRE(a.NewScanner(5)->Consume(b, p.get()).ok());
  const Json j = p->ToJson();
  CHECK(j["lo"] == 65);
  CHECK(j["hi"] == 78);
  Result<std::unique_ptr<Partial>> back = a.PartialFromJson(5, j);
  REQUIRE(back.ok());
  CHECK((*back)->ToJson() == j);
  // The last tile: lane 299 alone.
  REQUIRE(a.SetPassInput(23, good).ok());
  p = a.NewPartial(23);
  REQUIRE(a.NewScanner(23)->Consume(b, p.get()).ok());
  CHECK(p->ToJson()["lo"] == 299);
  CHECK(p->ToJson()["hi"] == 300);
  // Ending tile 0 with a partial of 26 rows (each lane holds 40 values) is
  // refused; with all 40 rows it ends.
  REQUIRE(a.SetPassInput(0, good).ok());
  p = a.NewPartial(0);
  REQUIRE(a.NewScanner(0)->Consume(b, p.get()).ok());
  Result<std::unique_ptr<Partial>> partial = a.PartialFromJson(0, p->ToJson());
  REQUIRE(partial.ok());
  const Status short_lanes = a.EndPass(0, **partial);
  CHECK(short_lanes.code() == Code::kWorkerFailed);
  CHECK(short_lanes.message().find("holds 26 values, not 40") != std::string::npos);
  b.begin = 0;
  b.end = 40 * 300;
  b.data = reinterpret_cast<char*>(data.data());
  p = a.NewPartial(0);
  REQUIRE(a.NewScanner(0)->Consume(b, p.get()).ok());
  partial = a.PartialFromJson(0, p->ToJson());
  REQUIRE(partial.ok());
  CHECK(a.EndPass(0, **partial).ok());
  // Tile 0's lanes again as pass 1's (lanes [13, 26)) are refused.
  const Status wrong_tile = a.EndPass(1, **partial);
  CHECK(wrong_tile.code() == Code::kWorkerFailed);
  CHECK(wrong_tile.message().find("do not cover the lanes of pass 1") != std::string::npos);
}

}  // namespace
}  // namespace mm
