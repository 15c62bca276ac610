// Canvas: one picture being drawn with cairo, as SVG or PNG bytes in memory
// (cairo's SVG surface, or its image surface written as PNG). The plot
// layer writes no file: the runner writes the bytes through its atomic
// outputs (io/files.h TempOutput).
//
// Coordinates are pixels, (0, 0) at the top left; an SVG's user unit is
// the pixel too. Text uses cairo's own font selection (fontconfig's
// "sans-serif"), with metrics unhinted so that both formats lay out alike.
//
// A Canvas belongs to one thread. cairo keeps process-wide caches (fonts,
// fontconfig's configuration) after every Canvas is gone: see
// ReleaseDrawingCaches.
#pragma once

#include <cairo.h>

#include <memory>
#include <optional>
#include <string>

#include "core/status.h"

namespace mm {

enum class ImageFormat { kSvg, kPng };

// The format named by `path`'s extension (".svg" or ".png", any case).
std::optional<ImageFormat> FormatOfPath(const std::string& path);

struct Rgb {
  double r, g, b;
};
// 0xRRGGBB.
constexpr Rgb Hex(unsigned v) {
  return Rgb{((v >> 16) & 0xFF) / 255.0, ((v >> 8) & 0xFF) / 255.0, (v & 0xFF) / 255.0};
}

class Canvas {
 public:
  // A white picture of width x height pixels. Errors: kCantCreate when cairo
  // cannot make the surface (out of memory).
  static Result<std::unique_ptr<Canvas>> Create(ImageFormat format, int width, int height);
  ~Canvas();
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;

  cairo_t* cr() const { return cr_; }
  int width() const { return width_; }
  int height() const { return height_; }

  void SetColor(const Rgb& c, double alpha = 1.0);
  void SetFont(double size, bool bold = false);
  // Extent of `text` in the current font: its advance, and the font's
  // height (ascent + descent).
  double TextWidth(const std::string& text);
  double FontHeight();
  // Draws `text` (UTF-8) with its left, centre or right (`align` 0, 0.5, 1)
  // at x and its line's vertical centre at y; `vertical` turns it a quarter
  // to the left (reading upwards), aligned along the turned line.
  void Text(double x, double y, const std::string& text, double align, bool vertical = false);
  // `text` shortened in its middle ("…") until it is at most `width` wide.
  std::string Fit(const std::string& text, double width);

  // The picture's bytes. Call once, last. Errors: kCantCreate naming
  // cairo's status when anything failed while drawing.
  Result<std::string> Finish();

 private:
  Canvas() = default;
  ImageFormat format_ = ImageFormat::kPng;
  int width_ = 0, height_ = 0;
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
  std::string bytes_;  // what the SVG surface wrote so far
};

// Releases what cairo and fontconfig keep for the whole process (their font
// caches and configuration: cairo_debug_reset_static_data, FcFini), so that
// a leak checker finds nothing at exit. REQUIRES: no Canvas alive; call once
// per process, after its last picture (a later Canvas would load them
// again). Does nothing when no picture was drawn (cairo was never loaded).
void ReleaseDrawingCaches();

}  // namespace mm
