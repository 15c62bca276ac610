// libFuzzer target: the config parser and every analysis' parameter checks.
//
// Property: any byte string either parses into a Config whose analyses build
// against a small float32 dataset, or yields an error Status — never a crash,
// an exception or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>

#include "analysis/analysis.h"
#include "engine/config.h"
#include "source/dataset.h"
#include "source/partition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const mm::Json j = mm::Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  mm::Result<mm::Config> config = mm::ParseConfig(j, "/nonexistent");
  if (!config.ok()) return 0;
  mm::Dataset dataset;
  dataset.path = "/nonexistent/x.dat";
  dataset.format = "raw";
  dataset.mode = config->dataset.mode;
  dataset.layout.dtype.kind = mm::Kind::kFloat32;
  dataset.layout.shape = {100, 10};
  dataset.file_bytes = dataset.layout.data_bytes();
  const mm::Partition partition(dataset.layout);
  for (const mm::AnalysisSpec& spec : config->analyses) {
    // Building must validate; it must not touch the filesystem.
    (void)mm::MakeAnalysis(spec, dataset, partition);
  }
  return 0;
}
