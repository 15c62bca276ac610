#include "plot/canvas.h"

#include <cairo-svg.h>
#include <fontconfig/fontconfig.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "core/strings.h"
#include "plot/cairo_library.h"

namespace mm {

namespace {

cairo_status_t AppendBytes(void* closure, const unsigned char* data, unsigned int length) {
  try {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  } catch (const std::bad_alloc&) {
    return CAIRO_STATUS_WRITE_ERROR;  // never throw through cairo
  }
  return CAIRO_STATUS_SUCCESS;
}

// The UTF-8 characters of `text` (SafeText'ed: valid UTF-8).
std::vector<std::string> Characters(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    size_t n = 1;
    while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
    out.push_back(text.substr(i, n));
    i += n;
  }
  return out;
}

Status CairoError(cairo_status_t st) {
  return Error(Code::kCantCreate,
               std::string("cannot draw the picture: cairo: ") + cairo_status_to_string(st));
}

}  // namespace

std::optional<ImageFormat> FormatOfPath(const std::string& path) {
  if (EndsWithNoCase(path, ".svg")) return ImageFormat::kSvg;
  if (EndsWithNoCase(path, ".png")) return ImageFormat::kPng;
  return std::nullopt;
}

Result<std::unique_ptr<Canvas>> Canvas::Create(ImageFormat format, int width, int height) {
  for (LazyLibrary* lib : {&CairoLibrary(), &FontconfigLibrary()}) {
    Status st = lib->Load();
    if (!st.ok()) return st;
  }
  std::unique_ptr<Canvas> c(new Canvas());
  c->format_ = format;
  c->width_ = width;
  c->height_ = height;
  if (format == ImageFormat::kSvg) {
    c->surface_ = cairo_svg_surface_create_for_stream(&AppendBytes, &c->bytes_, width, height);
    cairo_svg_surface_set_document_unit(c->surface_, CAIRO_SVG_UNIT_PX);
  } else {
    c->surface_ = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
  }
  if (cairo_surface_status(c->surface_) != CAIRO_STATUS_SUCCESS)
    return CairoError(cairo_surface_status(c->surface_));
  c->cr_ = cairo_create(c->surface_);
  if (cairo_status(c->cr_) != CAIRO_STATUS_SUCCESS) return CairoError(cairo_status(c->cr_));
  cairo_font_options_t* options = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE);
  cairo_set_font_options(c->cr_, options);
  cairo_font_options_destroy(options);
  cairo_set_source_rgb(c->cr_, 1, 1, 1);
  cairo_paint(c->cr_);
  return c;
}

Canvas::~Canvas() {
  if (cr_ != nullptr) cairo_destroy(cr_);
  if (surface_ != nullptr) cairo_surface_destroy(surface_);
}

void Canvas::SetColor(const Rgb& c, double alpha) {
  cairo_set_source_rgba(cr_, c.r, c.g, c.b, alpha);
}

void Canvas::SetFont(double size, bool bold) {
  cairo_select_font_face(cr_, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr_, size);
}

double Canvas::TextWidth(const std::string& text) {
  cairo_text_extents_t e;
  cairo_text_extents(cr_, text.c_str(), &e);
  return e.x_advance;
}

double Canvas::FontHeight() {
  cairo_font_extents_t f;
  cairo_font_extents(cr_, &f);
  return f.ascent + f.descent;
}

void Canvas::Text(double x, double y, const std::string& text, double align, bool vertical) {
  cairo_font_extents_t f;
  cairo_font_extents(cr_, &f);
  const double w = TextWidth(text);
  cairo_save(cr_);
  cairo_translate(cr_, x, y);
  if (vertical) cairo_rotate(cr_, -M_PI / 2);
  // The baseline sits half the visible height below the centre.
  cairo_move_to(cr_, -align * w, (f.ascent - f.descent) / 2);
  cairo_show_text(cr_, text.c_str());
  cairo_restore(cr_);
}

std::string Canvas::Fit(const std::string& text, double width) {
  if (TextWidth(text) <= width) return text;
  std::vector<std::string> chars = Characters(text);
  // Far too long texts are cut to 200 characters at once; then one at a time.
  if (chars.size() > 200) chars.erase(chars.begin() + 100, chars.end() - 100);
  while (!chars.empty()) {
    const size_t half = chars.size() / 2;
    std::string head, tail;
    for (size_t i = 0; i < half; ++i) head += chars[i];
    for (size_t i = half; i < chars.size(); ++i) tail += chars[i];
    const std::string fitted = head + "…" + tail;
    if (TextWidth(fitted) <= width || chars.size() == 1) return fitted;
    chars.erase(chars.begin() + static_cast<std::ptrdiff_t>(half));
  }
  return "…";
}

Result<std::string> Canvas::Finish() {
  if (cairo_status(cr_) != CAIRO_STATUS_SUCCESS) return CairoError(cairo_status(cr_));
  cairo_destroy(cr_);
  cr_ = nullptr;
  if (format_ == ImageFormat::kPng) {
    cairo_surface_flush(surface_);
    const cairo_status_t st = cairo_surface_write_to_png_stream(surface_, &AppendBytes, &bytes_);
    if (st != CAIRO_STATUS_SUCCESS) return CairoError(st);
  }
  cairo_surface_finish(surface_);
  if (cairo_surface_status(surface_) != CAIRO_STATUS_SUCCESS)
    return CairoError(cairo_surface_status(surface_));
  cairo_surface_destroy(surface_);
  surface_ = nullptr;
  return std::move(bytes_);
}

void ReleaseDrawingCaches() {
  if (!CairoLibrary().loaded()) return;  // nothing was drawn: nothing to release
  cairo_debug_reset_static_data();
  FcFini();
}

}  // namespace mm
