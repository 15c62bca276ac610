#include "runner/plot_command.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>

#include "core/fault.h"
#include "core/strings.h"
#include "engine/plan.h"
#include "plot/canvas.h"
#include "plot/plot_data.h"
#include "plot/render.h"

namespace po = boost::program_options;

namespace mm {

namespace {

Status UsageError(const std::string& msg) {
  return Error(Code::kUsage, msg + " (see mmrun --help)");
}

// MMRUN_TEST_FAULT=plot_write_fail=K: writing the K-th picture (0-based)
// of a command fails as on a full disk.
Status WritePicture(TempOutput* out, const std::string& bytes, size_t k) {
  if (FaultValue("plot_write_fail") == static_cast<int64_t>(k))
    return FromErrno(ENOSPC, out->target() + ": write", Code::kCantCreate);
  MM_RETURN_IF_ERROR(out->Write(bytes));
  return out->Commit();
}

// The file-name form of an analysis' name: letters, digits and ._+-
// kept, anything else (a '/', a space, a non-ASCII byte) '_'.
std::string FileNamePart(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '+' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

// `path` without its last extension ("r.json" -> "r"; "r" -> "r").
std::string Stem(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  const size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) ||
      dot == (slash == std::string::npos ? 0 : slash + 1))
    return path;
  return path.substr(0, dot);
}

// The picture of `an` as an output: its path and config key.
NamedFile PlotOutput(const Analysis& an) {
  return NamedFile{an.plot_path(),
                   "config key 'analyses[" + std::to_string(an.spec().index) + "].plot'"};
}

// The pictures of `wanted`, drawn from `doc` in memory, in order; cairo's
// caches are released afterwards. On failure *failed is the index of the
// picture that could not be drawn, and the error the document's (kDataErr
// naming the key) or cairo's.
Result<std::vector<std::string>> DrawAll(const Json& doc, const std::vector<Picture>& wanted,
                                         size_t* failed) {
  std::vector<std::string> out;
  Result<DocumentInfo> info = ReadDocumentInfo(doc);
  Status st = info.status();
  *failed = 0;
  for (size_t k = 0; st.ok() && k < wanted.size(); ++k) {
    *failed = k;
    const Picture& w = wanted[k];
    const Json& results = doc["results"];
    // The analysis' parameters: the run's own, else the document's
    // "analyses" section (q for the legend, the lanes' axis).
    const Json* hints = &w.params;
    if ((!hints->is_object() || hints->empty()) && doc.contains("analyses") &&
        doc["analyses"].is_object() && doc["analyses"].contains(w.analysis))
      hints = &doc["analyses"][w.analysis];
    Result<PlotData> data =
        results.contains(w.analysis)
            ? ReadPlotData(results[w.analysis], w.analysis, *info, *hints)
            : Result<PlotData>(
                  Error(Code::kDataErr, "key 'results." + SafeText(w.analysis) + "': is missing"));
    Result<std::string> drawn =
        data.ok() ? RenderPlot(*data, *FormatOfPath(w.target)) : Result<std::string>(data.status());
    st = drawn.status();
    if (st.ok()) out.push_back(std::move(*drawn));
  }
  ReleaseDrawingCaches();
  if (!st.ok()) return st;
  return out;
}

// Writes bytes[k] through (*outs)[k] and renames it into place, in order.
// `committed` says what was written before ("" when nothing) and gains the
// pictures. On failure the error names the picture, then what was written
// before it ("nothing written" when nothing was), then `tail`.
Status CommitAll(std::vector<TempOutput>* outs, const std::vector<std::string>& bytes,
                 std::string* committed, const std::string& tail) {
  std::vector<std::string> written;
  for (size_t k = 0; k < outs->size(); ++k) {
    const Status st = WritePicture(&(*outs)[k], bytes[k], k);
    if (!st.ok()) {
      std::string before = *committed;
      if (!written.empty()) before += (before.empty() ? "" : ", ") + WrittenList(written);
      return Error(st.code(),
                   st.message() + "; " + (before.empty() ? "nothing written" : before) + tail);
    }
    written.push_back((*outs)[k].target());
  }
  if (!written.empty()) *committed += (committed->empty() ? "" : ", ") + WrittenList(written);
  return Status::OK();
}

}  // namespace

Status RegisterPlotOutputs(const Plan& plan) {
  for (const auto& an : plan.analyses)
    if (!an->plot_path().empty()) MM_RETURN_IF_ERROR(RegisterOutput(PlotOutput(*an)));
  return Status::OK();
}

Status CheckPlotOutputs(const Plan& plan, std::vector<NamedFile> others) {
  for (const auto& an : plan.analyses) {
    if (an->plot_path().empty()) continue;
    MM_RETURN_IF_ERROR(CheckOutput(PlotOutput(*an), others));
    others.push_back(PlotOutput(*an));
  }
  return Status::OK();
}

Result<RunPlots> RunPlots::Open(const Plan& plan, bool shard) {
  RunPlots plots;
  if (shard) return plots;
  for (const auto& an : plan.analyses) {
    if (an->plot_path().empty()) continue;
    const NamedFile out = PlotOutput(*an);
    plots.pictures_.push_back(Picture{an->name(), out.path, out.what, an->spec().params});
    MM_ASSIGN_OR_RETURN(TempOutput temp, TempOutput::Create(out.path, out.what));
    plots.outs_.push_back(std::move(temp));
  }
  return plots;
}

Status RunPlots::Draw(const Json& doc, std::string* committed) {
  if (pictures_.empty()) return Status::OK();
  constexpr char kTail[] = "; the result document was not written";
  // Every picture is drawn before any is renamed: one that cannot be drawn
  // leaves nothing behind.
  size_t failed = 0;
  Result<std::vector<std::string>> bytes = DrawAll(doc, pictures_, &failed);
  if (!bytes.ok()) {
    const Picture& p = pictures_[failed];
    return Error(bytes.status().code(),
                 p.target + " (" + p.key + "): " + bytes.status().message() + "; " +
                     (committed->empty() ? "nothing written" : *committed) + kTail);
  }
  return CommitAll(&outs_, *bytes, committed, kTail);
}

Status PlotCommand(const std::vector<std::string>& args) {
  po::options_description opts;
  std::string analysis, output;
  opts.add_options()("analysis", po::value<std::string>(&analysis))(
      "output,o", po::value<std::string>(&output))("result", po::value<std::vector<std::string>>());
  po::positional_options_description pos;
  pos.add("result", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return UsageError(e.what());
  }
  if (!vm.count("result") || vm["result"].as<std::vector<std::string>>().size() != 1)
    return UsageError("plot takes one RESULT.json");
  if (vm.count("analysis") && analysis.empty()) return UsageError("--analysis takes a NAME");
  if (vm.count("output") && output.empty()) return UsageError("-o: empty path");
  if (!output.empty() && !FormatOfPath(output))
    return UsageError("-o: the picture's name must end in .svg or .png (its format), got '" +
                      output + "'");
  const std::string path = AbsolutePath(vm["result"].as<std::vector<std::string>>()[0]);

  MM_ASSIGN_OR_RETURN(std::string text,
                      ReadRegularFile(path, path, kMaxPlotDocumentBytes, Code::kDataErr));
  const auto values = std::count_if(text.begin(), text.end(),
                                    [](char c) { return c == ',' || c == '[' || c == '{'; });
  if (static_cast<uint64_t>(values) > kMaxPlotDocumentValues)
    return Error(Code::kDataErr, path + ": more than " + std::to_string(kMaxPlotDocumentValues) +
                                     " JSON values (more than mmrun writes into a document)");
  MM_ASSIGN_OR_RETURN(Json doc, ParseJson(text, path, Code::kDataErr));
  text.clear();
  Result<DocumentInfo> info = ReadDocumentInfo(doc);
  if (!info.ok()) return info.status().WithContext(path);
  const Json& results = doc["results"];

  // The analyses to draw: --analysis, else every one that can be drawn.
  std::vector<std::string> names;
  if (!analysis.empty()) {
    if (!results.contains(analysis)) {
      std::vector<std::string> known;
      for (const auto& item : results.items()) known.push_back(item.key());
      return UsageError("--analysis: " + path + " has no analysis '" + SafeText(analysis) + "'" +
                        DidYouMean(analysis, known) + "; it has: " + SafeText(Join(known, ", ")));
    }
    std::string why;
    if (ClassifyResult(results[analysis], &why) == PlotKind::kNone)
      return UsageError("--analysis: '" + SafeText(analysis) + "' cannot be drawn: " + why);
    names.push_back(analysis);
  } else {
    std::string skipped;
    for (const auto& item : results.items()) {
      std::string why;
      if (ClassifyResult(item.value(), &why) != PlotKind::kNone)
        names.push_back(item.key());
      else if (skipped.size() < 300)
        skipped += "; '" + SafeText(item.key()) + "': " + why;
    }
    if (names.empty())
      return Error(Code::kDataErr, path +
                                       ": no analysis to draw (plot draws histograms, quantiles "
                                       "and per-lane stats)" +
                                       skipped);
  }

  // Where each picture goes: -o for one picture; for several, -o's stem
  // (or the result's, beside it, as PNG) with the analysis' name.
  const std::string what = output.empty() ? "picture" : "-o";
  std::vector<Picture> pictures;
  for (const std::string& name : names) {
    std::string target;
    if (!output.empty() && names.size() == 1) {
      target = AbsolutePath(output);
    } else if (!output.empty()) {
      const std::string abs = AbsolutePath(output);
      target = Stem(abs) + "." + FileNamePart(name) + abs.substr(Stem(abs).size());
    } else {
      target = Stem(path) + "." + FileNamePart(name) + ".png";
    }
    pictures.push_back(Picture{name, target, what, Json()});
  }

  // Identity first: no picture may be the document or its dataset, nor
  // two pictures one file (kConfig, a bad -o here: 64).
  auto usage = [](const Status& st) {
    return st.code() == Code::kConfig ? Error(Code::kUsage, st.message()) : st;
  };
  RegisterInput(NamedFile{path, "RESULT"}, KeyOfPath(path));
  if (doc.contains("dataset") && doc["dataset"].contains("path")) {
    const std::string dataset = doc["dataset"]["path"].get<std::string>();  // a string: info
    if (!dataset.empty() && dataset.find('\0') == std::string::npos)
      RegisterInput(NamedFile{dataset, "the result's dataset.path"}, KeyOfPath(dataset));
  }
  for (const Picture& p : pictures)
    MM_RETURN_IF_ERROR(usage(RegisterOutput(NamedFile{p.target, p.key})));

  // Draw everything, then create and write: a document that cannot be
  // drawn, or a folder that cannot be written, leaves nothing behind.
  size_t failed = 0;
  Result<std::vector<std::string>> bytes = DrawAll(doc, pictures, &failed);
  if (!bytes.ok()) return bytes.status().WithContext(path);
  std::vector<TempOutput> outs;
  for (const Picture& p : pictures) {
    Result<TempOutput> out = TempOutput::Create(p.target, p.key);
    if (!out.ok()) return usage(out.status());
    outs.push_back(std::move(*out));
  }
  std::string committed;
  MM_RETURN_IF_ERROR(CommitAll(&outs, *bytes, &committed, ""));
  for (const Picture& p : pictures) std::printf("%s\n", p.target.c_str());
  return std::fflush(stdout) == 0 ? Status::OK()
                                  : Error(Code::kIoErr, "cannot write the picture names to stdout");
}

}  // namespace mm
