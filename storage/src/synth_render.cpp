// One synthetic nodule: a 2D CT crop in HU and 2-4 readers' masks. The model and the reasons for
// its numbers are in docs/synthetic-data.md; the comments here only say how it is put together.
//
// Order of the crop, bottom to top: parenchyma (density + slow texture), vessels, nodule (solid or
// ground-glass fields, spicules, cavity), chest wall, image noise. Readers never see the image: each
// thresholds the nodule's own density fields at a personal level, with a personal smooth contour
// jitter, and decides about spicules, ground glass, cavity, vessel stub and pleural cut.
#include "synth_render.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace ugs::storage::synth {
namespace {

constexpr double kAirHu = -1000.0;
constexpr double kBloodHu = 40.0;
constexpr double kFatHu = -90.0;
constexpr double kMinHu = -1024.0;
constexpr double kMaxHu = 3071.0;
// Half-width (px) of the soft edge of vessels, spicules and the pleura: the scanner's blur.
constexpr double kThinEdgePx = 0.8;

// ---------------------------------------------------------------------------------------------
// Fields over the crop

struct Field {
  Field(int h, int w, double fill = 0.0) : height(h), width(w), values(static_cast<std::size_t>(h) * w, fill) {}
  double& at(int r, int c) { return values[static_cast<std::size_t>(r) * width + c]; }
  double at(int r, int c) const { return values[static_cast<std::size_t>(r) * width + c]; }
  int height;
  int width;
  std::vector<double> values;
};

// Unit-variance Gaussian noise with correlation length `sigma_px`: white noise on a margin-padded
// grid blurred by a separable Gaussian, so the crop has no edge effect.
Field correlated_noise(Rng& rng, int height, int width, double sigma_px) {
  const int margin = static_cast<int>(std::ceil(3.0 * sigma_px));
  std::vector<double> kernel(2 * margin + 1);
  double sum = 0.0;
  for (int i = -margin; i <= margin; ++i) {
    kernel[i + margin] = exp_portable(-(i * i) / (2.0 * sigma_px * sigma_px));
    sum += kernel[i + margin];
  }
  double sum_squares = 0.0;
  for (double& k : kernel) {
    k /= sum;
    sum_squares += k * k;
  }
  const int padded_h = height + 2 * margin;
  const int padded_w = width + 2 * margin;
  std::vector<double> white(static_cast<std::size_t>(padded_h) * padded_w);
  for (double& v : white) v = rng.normal();
  std::vector<double> rows(static_cast<std::size_t>(padded_h) * width, 0.0);
  for (int r = 0; r < padded_h; ++r)
    for (int c = 0; c < width; ++c) {
      double acc = 0.0;
      for (int k = 0; k <= 2 * margin; ++k) acc += kernel[k] * white[static_cast<std::size_t>(r) * padded_w + c + k];
      rows[static_cast<std::size_t>(r) * width + c] = acc;
    }
  Field out(height, width);
  // Each blur pass multiplies the variance by sum_squares.
  const double scale = 1.0 / sum_squares;
  for (int r = 0; r < height; ++r)
    for (int c = 0; c < width; ++c) {
      double acc = 0.0;
      for (int k = 0; k <= 2 * margin; ++k) acc += kernel[k] * rows[static_cast<std::size_t>(r + k) * width + c];
      out.at(r, c) = acc * scale;
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Shapes

// Smooth radial perturbation d(θ) = offset + Σ_{k=1..4} (a_k cos kθ + b_k sin kθ), in pixels: a
// reader's contour drawn a little outside or inside, wavering smoothly around the nodule.
struct ContourJitter {
  double offset = 0.0;
  std::array<double, 4> cos_terms{};
  std::array<double, 4> sin_terms{};
};

ContourJitter draw_jitter(Rng& rng, double offset_mean, double offset_sd, double wave_sd) {
  ContourJitter j;
  j.offset = rng.normal(offset_mean, offset_sd);
  for (int k = 0; k < 4; ++k) {
    j.cos_terms[k] = rng.normal(0.0, wave_sd / (k + 1));
    j.sin_terms[k] = rng.normal(0.0, wave_sd / (k + 1));
  }
  return j;
}

// An ellipse (major axis along (axis_x, axis_y), minor/major = aspect) whose outline is lobulated,
// r(θ) = radius (1 + Σ_{k=2..5} a_k cos kθ + b_k sin kθ), with a soft edge of half-width `edge`.
struct Blob {
  double cx = 0.0, cy = 0.0;
  double radius = 1.0;
  double aspect = 1.0;
  double axis_x = 1.0, axis_y = 0.0;
  double edge = 1.0;
  std::array<double, 4> lobe_cos{};
  std::array<double, 4> lobe_sin{};

  // Signed distance in pixels from the (jittered) outline, positive inside. Angles enter only
  // through cos kθ and sin kθ, built by the angle-addition recurrence: no trigonometric call.
  double depth(double x, double y, const ContourJitter* jitter = nullptr) const {
    const double dx = x - cx;
    const double dy = y - cy;
    const double p = dx * axis_x + dy * axis_y;
    const double q = (-dx * axis_y + dy * axis_x) / aspect;
    const double d = std::sqrt(p * p + q * q);
    const double c1 = d > 1e-9 ? p / d : 1.0;
    const double s1 = d > 1e-9 ? q / d : 0.0;
    double outline = 1.0;
    double wobble = jitter ? jitter->offset : 0.0;
    double ck = c1, sk = s1;
    for (int k = 1; k <= 5; ++k) {
      if (k >= 2) outline += lobe_cos[k - 2] * ck + lobe_sin[k - 2] * sk;
      if (jitter && k <= 4) wobble += jitter->cos_terms[k - 1] * ck + jitter->sin_terms[k - 1] * sk;
      const double next_c = ck * c1 - sk * s1;
      sk = sk * c1 + ck * s1;
      ck = next_c;
    }
    return radius * outline + wobble - d;
  }
  // Fraction of the pixel covered, 0..1.
  double cover(double x, double y, const ContourJitter* jitter = nullptr) const {
    return soft_step(depth(x, y, jitter) / edge);
  }
};

Blob draw_blob(Rng& rng, double cx, double cy, double radius, double edge, double lobulation, double min_aspect) {
  Blob b;
  b.cx = cx;
  b.cy = cy;
  b.radius = radius;
  b.edge = edge;
  b.aspect = rng.uniform(min_aspect, 1.0);
  rng.direction(b.axis_x, b.axis_y);
  for (int k = 0; k < 4; ++k) {
    b.lobe_cos[k] = rng.normal(0.0, lobulation / (k + 2));
    b.lobe_sin[k] = rng.normal(0.0, lobulation / (k + 2));
  }
  return b;
}

// Distance from (x, y) to the segment a-b, and the position t in [0, 1] of the closest point.
double segment_distance(double x, double y, double ax, double ay, double bx, double by, double& t) {
  const double dx = bx - ax;
  const double dy = by - ay;
  const double len2 = dx * dx + dy * dy;
  t = len2 > 0.0 ? clamp01(((x - ax) * dx + (y - ay) * dy) / len2) : 0.0;
  const double ex = x - (ax + t * dx);
  const double ey = y - (ay + t * dy);
  return std::sqrt(ex * ex + ey * ey);
}

// A thin tapering line from the nodule body outwards.
struct Spicule {
  double x0, y0, x1, y1;
  double base_half_width, tip_half_width;  // px
  double density;                          // relative to solid tissue at the base
};

// Solid-tissue fraction of a spicule at (x, y): thin lines are fainter (partial volume) and fade
// towards the tip.
double spicule_density(const Spicule& s, double x, double y) {
  double t = 0.0;
  const double d = segment_distance(x, y, s.x0, s.y0, s.x1, s.y1, t);
  const double half_width = s.base_half_width + (s.tip_half_width - s.base_half_width) * t;
  const double partial_volume = clamp01(half_width / 0.6);
  return s.density * (1.0 - 0.6 * t) * partial_volume * soft_step((half_width - d) / kThinEdgePx);
}

// Inverse of soft_step on (0, 1): the edge position t at which a reader with this level draws.
double soft_step_inverse(double level) {
  double lo = -1.0, hi = 1.0;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (soft_step(mid) < level ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// ---------------------------------------------------------------------------------------------
// Chest wall

// The chest wall (or mediastinum) beyond a large circle of curvature: soft tissue, an optional
// extrapleural fat layer and an optional rib cut obliquely (cortex and marrow).
struct Wall {
  bool present = false;
  double normal_x = 1.0, normal_y = 0.0;  // from the nodule towards the wall
  double surface_x = 0.0, surface_y = 0.0;
  double circle_x = 0.0, circle_y = 0.0, curvature_radius = 1e6;
  double tissue_hu = 40.0;
  bool has_fat = false;
  double fat_from = 0.0, fat_to = 0.0;  // depth, px
  bool has_rib = false;
  double rib_depth = 0.0, rib_along = 0.0, rib_half_depth = 1.0, rib_half_length = 1.0;

  // Signed distance (px) of (x, y) beyond the pleura: > 0 inside the wall.
  double depth(double x, double y) const {
    const double dx = x - circle_x;
    const double dy = y - circle_y;
    return std::sqrt(dx * dx + dy * dy) - curvature_radius;
  }
  double cover(double x, double y) const { return present ? soft_step(depth(x, y) / kThinEdgePx) : 0.0; }
  double hu(double x, double y) const {
    const double d = depth(x, y);
    double value = tissue_hu;
    if (has_fat) value += (kFatHu - value) * soft_step((d - fat_from) / kThinEdgePx) * soft_step((fat_to - d) / kThinEdgePx);
    if (has_rib) {
      const double along = -(x - surface_x) * normal_y + (y - surface_y) * normal_x;
      const double u = (d - rib_depth) / rib_half_depth;
      const double v = (along - rib_along) / rib_half_length;
      const double e = std::sqrt(u * u + v * v);  // 1 on the rib's outline
      const double inside = soft_step((1.0 - e) * rib_half_depth / kThinEdgePx);
      const double marrow = soft_step((0.75 - e) * rib_half_depth / kThinEdgePx);
      const double bone = 600.0 + (350.0 - 600.0) * marrow;
      value += (bone - value) * inside;
    }
    return value;
  }
};

// ---------------------------------------------------------------------------------------------
// The renderer

// One reader's way of outlining this nodule.
struct Reader {
  double level = 0.5;          // fraction of the component's density at which the outline is drawn
  double edge_position = 0.0;  // the same as a position across a soft edge: soft_step(it) = level
  ContourJitter body_jitter;   // on the outer outline (halo for ground glass)
  ContourJitter core_jitter;   // on the solid core of a part-solid nodule
  bool includes_halo = true;   // part-solid: outlines the ground glass, not just the core
  bool excludes_cavity = false;
  double cavity_level = 0.5;
  std::vector<double> spicule_reach;  // per spicule: 0 = left out, else fraction of its length drawn
  double stub_reach = 0.0;            // px of an attached vessel counted as nodule
  double wall_offset = 0.0;           // px beyond the pleura where the outline cuts
};

class Renderer {
 public:
  Renderer(const SynthNodulePlan& plan, const ScanParams& scan, int height, int width, Rng& rng)
      : plan_(plan), scan_(scan), h_(height), w_(width), rng_(rng),
        radius_(plan.diameter_mm / 2.0 / scan.spacing_mm), hard_(plan.hard) {}

  void render(Nodule& out) {
    draw_nodule();
    draw_wall();
    draw_attached_vessel();
    draw_readers();
    frame_nodule();
    paint_image(out.image);
    trace_readers(out);
  }

 private:
  double px(double mm) const { return mm / scan_.spacing_mm; }

  // -- nodule ------------------------------------------------------------------------------------
  void draw_nodule() {
    cx_ = 0.5 * w_ + rng_.uniform(-1.0, 1.0);
    cy_ = 0.5 * h_ + rng_.uniform(-1.0, 1.0);
    // Partial volume with the slice thickness: the mid-slice of a nodule of a few mm is fainter.
    const double small_fade = std::min(1.0, 0.55 + 0.45 * plan_.diameter_mm / 6.0);
    tissue_hu_ = rng_.uniform(-10.0, 50.0);
    dome_ = rng_.uniform(0.0, 0.3);
    switch (plan_.kind) {
      case NoduleKind::kSolid:
        body_ = draw_blob(rng_, cx_, cy_, radius_, px(rng_.uniform(0.5, 1.0)), hard_ ? 0.12 : 0.05, 0.75);
        body_density_ = small_fade;
        if (!hard_ && rng_.chance(0.15)) tissue_hu_ = rng_.uniform(200.0, 600.0);  // calcified
        break;
      case NoduleKind::kJuxtaPleural:
        body_ = draw_blob(rng_, cx_, cy_, radius_, px(rng_.uniform(0.5, 1.0)), 0.08, 0.7);
        body_density_ = small_fade;
        break;
      case NoduleKind::kSpiculated:
        body_ = draw_blob(rng_, cx_, cy_, radius_, px(rng_.uniform(0.5, 1.0)), 0.1, 0.75);
        body_density_ = small_fade * rng_.uniform(0.85, 1.0);
        draw_spicules();
        break;
      case NoduleKind::kCavitary: {
        body_ = draw_blob(rng_, cx_, cy_, radius_, px(rng_.uniform(0.5, 1.0)), 0.07, 0.8);
        body_density_ = 1.0;
        const double cavity_radius = radius_ * (hard_ ? rng_.uniform(0.55, 0.72) : rng_.uniform(0.3, 0.55));
        double ux = 0.0, uy = 0.0;
        rng_.direction(ux, uy);
        const double shift = rng_.uniform(0.0, 0.35) * (radius_ - cavity_radius);
        cavity_ = draw_blob(rng_, cx_ + ux * shift, cy_ + uy * shift, cavity_radius, px(0.4), 0.3, 0.5);
        has_cavity_ = true;
        break;
      }
      case NoduleKind::kGroundGlass:
        body_ = draw_blob(rng_, cx_, cy_, radius_, px(rng_.uniform(0.8, 1.8)), 0.07, 0.7);
        body_density_ = hard_ ? rng_.uniform(0.10, 0.20) : rng_.uniform(0.20, 0.42);
        textured_ = true;
        break;
      case NoduleKind::kPartSolid: {
        body_ = draw_blob(rng_, cx_, cy_, radius_, px(rng_.uniform(0.7, 1.5)), 0.08, 0.7);
        body_density_ = hard_ ? rng_.uniform(0.12, 0.25) : rng_.uniform(0.22, 0.42);
        textured_ = true;
        const double core_radius = radius_ * (hard_ ? rng_.uniform(0.2, 0.4) : rng_.uniform(0.3, 0.6));
        double ux = 0.0, uy = 0.0;
        rng_.direction(ux, uy);
        const double shift = rng_.uniform(0.0, 0.5) * (radius_ - core_radius);
        core_ = draw_blob(rng_, cx_ + ux * shift, cy_ + uy * shift, core_radius, px(rng_.uniform(0.35, 0.7)), 0.1, 0.7);
        has_core_ = true;
        break;
      }
    }
    if (textured_) {
      // Ground glass is patchy: its density varies by about a fifth over a millimetre or two.
      texture_ = correlated_noise(rng_, h_, w_, px(1.0));
      for (double& t : texture_.values) t = std::clamp(1.0 + 0.22 * t, 0.4, 1.6);
    }
  }

  void draw_spicules() {
    const int count = hard_ ? 9 + static_cast<int>(rng_.below(8)) : 5 + static_cast<int>(rng_.below(6));
    for (int i = 0; i < count; ++i) {
      double ux = 0.0, uy = 0.0;
      rng_.direction(ux, uy);
      const double length = radius_ * (hard_ ? rng_.uniform(0.6, 1.6) : rng_.uniform(0.3, 1.2)) + px(1.0);
      Spicule s;
      s.x0 = cx_ + ux * 0.6 * radius_;
      s.y0 = cy_ + uy * 0.6 * radius_;
      s.x1 = cx_ + ux * (radius_ + length);
      s.y1 = cy_ + uy * (radius_ + length);
      s.base_half_width = px(rng_.uniform(0.4, 0.9));
      s.tip_half_width = px(0.25);
      s.density = rng_.uniform(0.6, 1.0);
      spicules_.push_back(s);
    }
  }

  // Density (fraction of solid tissue) of the nodule as drawn, at pixel (x, y).
  double nodule_density(double x, double y) const {
    const double depth = body_.depth(x, y);
    double rho = body_density_ * soft_step(depth / body_.edge);
    if (textured_) rho *= texture_.at(static_cast<int>(y), static_cast<int>(x));
    // A sphere cut by a thick slice: the rim holds less tissue than the centre.
    rho *= 1.0 - dome_ + dome_ * clamp01(depth / body_.radius);
    if (has_core_) rho = std::max(rho, core_.cover(x, y));
    for (const Spicule& s : spicules_) rho = std::max(rho, body_density_ * spicule_density(s, x, y));
    return std::min(rho, 1.0);
  }

  // -- chest wall ----------------------------------------------------------------------------------
  void draw_wall() {
    const bool juxta = plan_.kind == NoduleKind::kJuxtaPleural;
    if (!juxta && !rng_.chance(0.5)) return;
    double distance = 0.0;  // nodule centre to pleura, px
    if (juxta) {
      distance = radius_ * (hard_ ? rng_.uniform(0.0, 0.45) : rng_.uniform(0.35, 0.85));
    } else {
      const double room = 0.5 * std::min(h_, w_) - 2.0 - radius_;  // the wall must show in the crop
      if (room < px(1.0)) return;
      distance = radius_ + std::min(room, px(rng_.uniform(1.5, 12.0)));
    }
    wall_.present = true;
    rng_.direction(wall_.normal_x, wall_.normal_y);
    wall_.surface_x = cx_ + wall_.normal_x * distance;
    wall_.surface_y = cy_ + wall_.normal_y * distance;
    wall_.curvature_radius = px(rng_.uniform(30.0, 150.0));
    wall_.circle_x = wall_.surface_x - wall_.normal_x * wall_.curvature_radius;
    wall_.circle_y = wall_.surface_y - wall_.normal_y * wall_.curvature_radius;
    wall_.tissue_hu = rng_.uniform(20.0, 60.0);
    if (rng_.chance(0.5)) {
      wall_.has_fat = true;
      wall_.fat_from = px(rng_.uniform(1.0, 3.0));
      wall_.fat_to = wall_.fat_from + px(rng_.uniform(1.5, 4.0));
    }
    if (rng_.chance(0.35)) {
      wall_.has_rib = true;
      wall_.rib_half_depth = px(rng_.uniform(2.5, 4.5));
      wall_.rib_depth = px(rng_.uniform(2.0, 7.0)) + wall_.rib_half_depth;
      wall_.rib_half_length = px(rng_.uniform(5.0, 12.0));
      wall_.rib_along = px(rng_.uniform(-15.0, 15.0));
    }
  }

  // -- vessels -------------------------------------------------------------------------------------
  // Occupancy of a tapering capsule, max-combined into `vessels` (a vessel is blood or not).
  void add_capsule(Field& vessels, double x0, double y0, double x1, double y1, double r0, double r1,
                   double peak) const {
    const double reach = std::max(r0, r1) + 2.0;
    const int c_lo = std::max(0, static_cast<int>(std::floor(std::min(x0, x1) - reach)));
    const int c_hi = std::min(w_ - 1, static_cast<int>(std::ceil(std::max(x0, x1) + reach)));
    const int r_lo = std::max(0, static_cast<int>(std::floor(std::min(y0, y1) - reach)));
    const int r_hi = std::min(h_ - 1, static_cast<int>(std::ceil(std::max(y0, y1) + reach)));
    for (int r = r_lo; r <= r_hi; ++r)
      for (int c = c_lo; c <= c_hi; ++c) {
        double t = 0.0;
        const double d = segment_distance(c, r, x0, y0, x1, y1, t);
        const double radius = r0 + (r1 - r0) * t;
        const double occupancy = peak * clamp01(radius / 0.8) * soft_step((radius - d) / kThinEdgePx);
        double& v = vessels.at(r, c);
        v = std::max(v, occupancy);
      }
  }

  // A vessel wandering from (x, y) along (dx, dy), tapering, branching at most twice deep.
  // `peak` wanders as the vessel runs in and out of the slice; it ends where it leaves for good.
  void grow_vessel(Field& vessels, double x, double y, double dx, double dy, double radius, double length,
                   double peak, int depth) {
    constexpr double kStep = 2.0;
    while (length > 0.0 && radius > 0.25 && peak > 0.05) {
      const double nx = x + dx * kStep;
      const double ny = y + dy * kStep;
      const double next_radius = radius * (1.0 - 0.004 * kStep);
      const double next_peak = std::min(1.0, peak + rng_.normal(0.0, 0.09));
      add_capsule(vessels, x, y, nx, ny, radius, next_radius, std::max(0.0, std::min(peak, next_peak)));
      if (depth < 2 && rng_.chance(0.05)) {
        const double side = rng_.chance(0.5) ? 1.0 : -1.0;
        const double turn = rng_.uniform(0.5, 1.4) * side;
        double bx = dx - dy * turn, by = dy + dx * turn;
        const double norm = std::sqrt(bx * bx + by * by);
        bx /= norm;
        by /= norm;
        const double branch_radius = next_radius * rng_.uniform(0.55, 0.8);
        const double branch_length = length * rng_.uniform(0.3, 0.8);
        grow_vessel(vessels, nx, ny, bx, by, branch_radius, branch_length, peak, depth + 1);
      }
      const double bend = rng_.normal(0.0, 0.12);
      double ndx = dx - dy * bend, ndy = dy + dx * bend;
      const double norm = std::sqrt(ndx * ndx + ndy * ndy);
      dx = ndx / norm;
      dy = ndy / norm;
      x = nx;
      y = ny;
      radius = next_radius;
      peak = next_peak;
      length -= kStep;
    }
  }

  // In-plane vessel trees crossing the crop and vessels cut across (dots). Peaks below 1 are
  // vessels running partly out of the slice.
  Field draw_vessels() {
    Field vessels(h_, w_);
    const double tree_pick = rng_.uniform();
    const int trees = tree_pick < 0.15 ? 0 : tree_pick < 0.6 ? 1 : tree_pick < 0.9 ? 2 : 3;
    const double span = 1.5 * std::max(h_, w_);
    for (int i = 0; i < trees; ++i) {
      const double px_mid = rng_.uniform(0.0, w_);
      const double py_mid = rng_.uniform(0.0, h_);
      double dx = 0.0, dy = 0.0;
      rng_.direction(dx, dy);
      const double radius = px(rng_.uniform(0.35, 1.2));
      const double peak = rng_.uniform(0.35, 0.85);
      grow_vessel(vessels, px_mid - dx * span / 2, py_mid - dy * span / 2, dx, dy, radius, span, peak, 0);
    }
    if (attached_vessel_) {
      const double length = rng_.uniform(0.3, 1.0) * w_;
      const double peak = rng_.uniform(0.6, 1.0);
      grow_vessel(vessels, attached_x_, attached_y_, attached_dx_, attached_dy_, attached_radius_, length, peak, 1);
    }
    const int dots = 2 + static_cast<int>(rng_.below(7));
    for (int i = 0; i < dots; ++i) {
      const double x = rng_.uniform(0.0, w_);
      const double y = rng_.uniform(0.0, h_);
      const double radius = px(rng_.uniform(0.3, 1.0));
      add_capsule(vessels, x, y, x, y, radius, radius, rng_.uniform(0.25, 0.7));
    }
    return vessels;
  }

  // A vessel leaving the nodule: where the nodule ends along it is a matter of opinion.
  void draw_attached_vessel() {
    if (!rng_.chance(hard_ ? 0.6 : 0.3)) return;
    attached_vessel_ = true;
    rng_.direction(attached_dx_, attached_dy_);
    attached_x_ = cx_ + attached_dx_ * 0.8 * radius_;
    attached_y_ = cy_ + attached_dy_ * 0.8 * radius_;
    attached_radius_ = px(rng_.uniform(0.4, 1.0));
  }

  // -- readers -------------------------------------------------------------------------------------
  void draw_readers() {
    const double disagreement = hard_ ? 2.0 : 1.0;
    readers_.resize(plan_.annotator_count);
    for (Reader& reader : readers_) {
      reader.level = hard_ ? rng_.uniform(0.05, 0.7) : rng_.uniform(0.12, 0.5);
      reader.edge_position = soft_step_inverse(reader.level);
      // LIDC readers outlined just outside the nodule, so that it is wholly inside the outline.
      reader.body_jitter = draw_jitter(rng_, 0.25, 0.3 * disagreement, (0.2 + 0.03 * radius_) * disagreement);
      reader.core_jitter = draw_jitter(rng_, 0.0, 0.2 * disagreement, 0.15 * disagreement);
      reader.includes_halo = rng_.chance(hard_ ? 0.6 : 0.85);
      reader.excludes_cavity = rng_.chance(0.4);
      reader.cavity_level = rng_.uniform(0.3, 0.7);
      for (std::size_t i = 0; i < spicules_.size(); ++i)
        reader.spicule_reach.push_back(rng_.chance(hard_ ? 0.45 : 0.7) ? rng_.uniform(0.3, 0.85) : 0.0);
      reader.stub_reach = rng_.chance(hard_ ? 0.5 : 0.25) ? px(rng_.uniform(0.5, 2.5)) : 0.0;
      reader.wall_offset = rng_.normal(0.3, 0.5 * disagreement);
    }
  }

  // The box outside which neither the nodule nor any reader's outline can reach (saves work).
  void frame_nodule() {
    double reach = 2.0 * radius_ + 2.0 * body_.edge + 6.0;
    for (const Spicule& s : spicules_)
      reach = std::max(reach, std::sqrt((s.x1 - cx_) * (s.x1 - cx_) + (s.y1 - cy_) * (s.y1 - cy_)) + s.base_half_width + 2.0);
    if (attached_vessel_) reach = std::max(reach, 0.8 * radius_ + px(2.5) + attached_radius_ + 2.0);
    box_row_begin_ = std::max(0, static_cast<int>(std::floor(cy_ - reach)));
    box_row_end_ = std::min(h_, static_cast<int>(std::ceil(cy_ + reach)) + 1);
    box_col_begin_ = std::max(0, static_cast<int>(std::floor(cx_ - reach)));
    box_col_end_ = std::min(w_, static_cast<int>(std::ceil(cx_ + reach)) + 1);
  }
  bool in_box(int r, int c) const {
    return r >= box_row_begin_ && r < box_row_end_ && c >= box_col_begin_ && c < box_col_end_;
  }

  // -- image ---------------------------------------------------------------------------------------
  void paint_image(std::vector<float>& image) {
    Field vessels = draw_vessels();
    const Field texture = correlated_noise(rng_, h_, w_, px(2.0));
    const Field noise = correlated_noise(rng_, h_, w_, scan_.noise_grain_px);
    double gx = 0.0, gy = 0.0;
    rng_.direction(gx, gy);
    const double gradient = rng_.uniform(0.0, 20.0) / std::max(h_, w_);  // HU per px (gravity, posture)
    image.assign(static_cast<std::size_t>(h_) * w_, 0.0f);
    for (int r = 0; r < h_; ++r)
      for (int c = 0; c < w_; ++c) {
        const double x = c, y = r;
        double hu = scan_.lung_hu + scan_.texture_hu * texture.at(r, c) +
                    gradient * ((x - 0.5 * w_) * gx + (y - 0.5 * h_) * gy);
        hu += vessels.at(r, c) * (kBloodHu - hu);
        if (in_box(r, c)) {
          hu += nodule_density(x, y) * (tissue_hu_ - hu);
          if (has_cavity_) hu += cavity_.cover(x, y) * (kAirHu - hu);
        }
        if (wall_.present) hu += wall_.cover(x, y) * (wall_.hu(x, y) - hu);
        hu += scan_.noise_hu * noise.at(r, c);
        image[static_cast<std::size_t>(r) * w_ + c] = static_cast<float>(std::clamp(hu, kMinHu, kMaxHu));
      }
  }

  // -- masks ---------------------------------------------------------------------------------------
  bool reader_marks(const Reader& reader, double x, double y) const {
    if (wall_.present && wall_.depth(x, y) > reader.wall_offset) return false;
    bool marked = false;
    if (!has_core_ || reader.includes_halo) {
      double seen = soft_step(body_.depth(x, y, &reader.body_jitter) / body_.edge);
      if (textured_) seen *= texture_.at(static_cast<int>(y), static_cast<int>(x));
      marked = seen >= reader.level;
    }
    if (!marked && has_core_) marked = core_.depth(x, y, &reader.core_jitter) / core_.edge >= reader.edge_position;
    for (std::size_t i = 0; i < spicules_.size() && !marked; ++i) {
      const Spicule& s = spicules_[i];
      if (reader.spicule_reach[i] <= 0.0) continue;
      double t = 0.0;
      const double d = segment_distance(x, y, s.x0, s.y0, s.x1, s.y1, t);
      const double half_width = std::max(0.5, s.base_half_width + (s.tip_half_width - s.base_half_width) * t);
      marked = t <= reader.spicule_reach[i] && d <= half_width;
    }
    if (!marked && attached_vessel_ && reader.stub_reach > 0.0) {
      double t = 0.0;
      const double d = segment_distance(x, y, attached_x_, attached_y_, attached_x_ + attached_dx_ * reader.stub_reach,
                                        attached_y_ + attached_dy_ * reader.stub_reach, t);
      marked = d <= std::max(0.5, attached_radius_);
    }
    return marked;
  }

  void trace_readers(Nodule& out) {
    const int pixels = h_ * w_;
    // Anchor: the densest part of the nodule's tissue on the lung side. What a reader marks counts
    // only where it connects to the anchor.
    std::vector<std::uint8_t> anchor(pixels, 0);
    double peak = 0.0;
    int peak_index = static_cast<int>((static_cast<int>(cy_) * w_) + static_cast<int>(cx_));
    std::vector<double> density(pixels, 0.0);
    for (int r = box_row_begin_; r < box_row_end_; ++r)
      for (int c = box_col_begin_; c < box_col_end_; ++c) {
        const bool lung_side = !wall_.present || wall_.depth(c, r) <= 0.0;
        double rho = lung_side ? body_density_ * body_.cover(c, r) : 0.0;
        if (lung_side && has_core_) rho = std::max(rho, core_.cover(c, r));
        if (has_cavity_) rho *= 1.0 - cavity_.cover(c, r);
        density[r * w_ + c] = rho;
        if (rho > peak) {
          peak = rho;
          peak_index = r * w_ + c;
        }
      }
    for (int i = 0; i < pixels; ++i) anchor[i] = peak > 0.0 && density[i] >= 0.9 * peak;
    anchor[peak_index] = 1;

    const int readers = static_cast<int>(readers_.size());
    out.annotators.assign(static_cast<std::size_t>(readers) * pixels, 0);
    for (int j = 0; j < readers; ++j) {
      const Reader& reader = readers_[j];
      std::uint8_t* mask = out.annotators.data() + static_cast<std::size_t>(j) * pixels;
      for (int r = box_row_begin_; r < box_row_end_; ++r)
        for (int c = box_col_begin_; c < box_col_end_; ++c) mask[r * w_ + c] = reader_marks(reader, c, r);
      // Every reader includes the densest point, so the readers' intersection is never empty (the
      // UGS-Net data keeps only nodules whose intersection is not empty).
      mask[peak_index] = 1;
      keep_components_touching(mask, anchor);
      fill_holes(mask);
      if (has_cavity_ && reader.excludes_cavity)
        for (int r = box_row_begin_; r < box_row_end_; ++r)
          for (int c = box_col_begin_; c < box_col_end_; ++c)
            if (cavity_.cover(c, r) >= reader.cavity_level) mask[r * w_ + c] = 0;
    }
    out.union_mask.assign(pixels, 0);
    out.intersection_mask.assign(pixels, 1);
    for (int j = 0; j < readers; ++j)
      for (int i = 0; i < pixels; ++i) {
        const std::uint8_t m = out.annotators[static_cast<std::size_t>(j) * pixels + i];
        out.union_mask[i] |= m;
        out.intersection_mask[i] &= m;
      }
  }

  // A reader draws one closed outline: drop fragments (8-connected) that contain no anchor pixel.
  void keep_components_touching(std::uint8_t* mask, const std::vector<std::uint8_t>& anchor) const {
    std::vector<std::uint8_t> keep(anchor.size(), 0);
    std::vector<int> stack;
    for (int i = 0; i < static_cast<int>(anchor.size()); ++i)
      if (anchor[i] && mask[i] && !keep[i]) {
        keep[i] = 1;
        stack.push_back(i);
      }
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      const int r = i / w_, c = i % w_;
      for (int dr = -1; dr <= 1; ++dr)
        for (int dc = -1; dc <= 1; ++dc) {
          const int rr = r + dr, cc = c + dc;
          if (rr < 0 || rr >= h_ || cc < 0 || cc >= w_) continue;
          const int n = rr * w_ + cc;
          if (mask[n] && !keep[n]) {
            keep[n] = 1;
            stack.push_back(n);
          }
        }
    }
    for (std::size_t i = 0; i < anchor.size(); ++i) mask[i] = keep[i];
  }

  // An outline encloses everything inside it: background not 4-connected to the border is filled.
  void fill_holes(std::uint8_t* mask) const {
    const int pixels = h_ * w_;
    std::vector<std::uint8_t> outside(pixels, 0);
    std::vector<int> stack;
    for (int r = 0; r < h_; ++r)
      for (int c = 0; c < w_; ++c)
        if ((r == 0 || c == 0 || r == h_ - 1 || c == w_ - 1) && !mask[r * w_ + c]) {
          outside[r * w_ + c] = 1;
          stack.push_back(r * w_ + c);
        }
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      const int r = i / w_, c = i % w_;
      const int neighbours[4][2] = {{r - 1, c}, {r + 1, c}, {r, c - 1}, {r, c + 1}};
      for (const auto& n : neighbours) {
        if (n[0] < 0 || n[0] >= h_ || n[1] < 0 || n[1] >= w_) continue;
        const int k = n[0] * w_ + n[1];
        if (!mask[k] && !outside[k]) {
          outside[k] = 1;
          stack.push_back(k);
        }
      }
    }
    for (int i = 0; i < pixels; ++i) mask[i] = !outside[i];
  }

  const SynthNodulePlan& plan_;
  const ScanParams& scan_;
  const int h_, w_;
  Rng& rng_;
  const double radius_;  // px
  const bool hard_;

  double cx_ = 0.0, cy_ = 0.0;
  double tissue_hu_ = 30.0;
  Blob body_;
  double body_density_ = 1.0;
  double dome_ = 0.0;
  bool textured_ = false;
  Field texture_{1, 1, 1.0};
  bool has_core_ = false;
  Blob core_;
  bool has_cavity_ = false;
  Blob cavity_;
  std::vector<Spicule> spicules_;
  Wall wall_;
  bool attached_vessel_ = false;
  double attached_x_ = 0.0, attached_y_ = 0.0, attached_dx_ = 1.0, attached_dy_ = 0.0, attached_radius_ = 1.0;
  std::vector<Reader> readers_;
  int box_row_begin_ = 0, box_row_end_ = 0, box_col_begin_ = 0, box_col_end_ = 0;
};

}  // namespace

ScanParams draw_scan(std::uint64_t seed, int patient, const SynthOptions& options) {
  Rng rng(seed, Stream::kScan, static_cast<std::uint64_t>(patient));
  ScanParams scan;
  scan.spacing_mm = rng.uniform(options.min_spacing_mm, options.max_spacing_mm);
  scan.lung_hu = std::clamp(rng.normal(-850.0, 30.0), -920.0, -780.0);
  scan.noise_hu = rng.uniform(20.0, 45.0);
  scan.noise_grain_px = rng.uniform(0.6, 1.0);
  scan.texture_hu = rng.uniform(10.0, 25.0);
  return scan;
}

void render_nodule(const SynthNodulePlan& plan, const ScanParams& scan, int height, int width, Rng& rng,
                   Nodule& out) {
  Renderer(plan, scan, height, width, rng).render(out);
}

}  // namespace ugs::storage::synth
