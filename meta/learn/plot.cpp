#include "meta/learn/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sstream>
#include <utility>

#include "meta/data/io.h"

namespace metaloss::learn {

namespace {
// A string for a double-quoted gnuplot string.
std::string gp_quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '\n') {  // gnuplot's own escape: a line break in a title
      o += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}
// A title that fits the plot's width: lines of at most `width` characters, broken after ", " or
// at a space where one is near, at most three lines (the rest cut with "..."). A learned loss's
// expression can be hundreds of characters long.
std::string wrap_title(const std::string& t, size_t width) {
  std::string out, rest = t;
  for (int line = 0; line < 3 && !rest.empty(); ++line) {
    if (rest.size() <= width) {
      out += rest;
      rest.clear();
      break;
    }
    size_t cut = rest.rfind(", ", width - 1);  // (the comma stays on this line)
    if (cut == std::string::npos || cut < width / 2) cut = rest.rfind(' ', width);
    if (cut == std::string::npos || cut < width / 2) cut = width;
    else cut += rest[cut] == ',' ? 1 : 0;
    out += rest.substr(0, cut) + (line < 2 ? "\n" : "");
    rest = rest.substr(cut);
    while (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
  }
  if (!rest.empty()) out.replace(out.size() - std::min<size_t>(out.size(), 3), 3, "...");
  return out;
}
// A string for a single-quoted POSIX shell word.
std::string sh_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}
}  // namespace

LossPlot sample_learned_loss(const losses::LearnedLossConfig& config, const std::vector<LossSnapshot>& snapshots,
                             const std::string& title) {
  const bool cls = config.mode == losses::LearnedLossConfig::Mode::Classification;
  LossPlot p;
  p.title = title;
  p.xlabel = cls ? "predicted probability p of the class" : "prediction (standardised units)";
  const double lo = cls ? 0 : -3, hi = cls ? 1 : 3;
  const int n = 101;
  for (int i = 0; i < n; ++i) p.x.push_back(lo + (hi - lo) * i / (n - 1));
  Generator scratch(0);  // weights are replaced by each snapshot
  losses::LearnedLoss net(config, scratch);
  bool converted = false;
  for (size_t s = 0; s < snapshots.size(); ++s) {
    const LossSnapshot& snap = snapshots[s];
    const DType dt = snap.phi.empty() ? DType::Float32 : snap.phi.front().second.dtype();
    if (dt != DType::Float32 && !converted) {
      net.to(dt);
      converted = true;
    }
    net.load_state_dict(snap.phi);
    const Tensor grid = Tensor::from_vector(p.x, {int64_t(n)}, dt);
    for (double target : {1.0, 0.0}) {
      p.values.push_back(net.sample(grid, target).to_vector());
      p.names.push_back(snap.label + ", y=" + (target == 1 ? "1" : "0"));
      p.group.push_back(int(s));
      p.dashed.push_back(target == 0);
      p.legend.push_back(std::string("y=") + (target == 1 ? "1" : "0"));
    }
    p.panels.push_back(snap.label);
  }
  if (snapshots.size() <= 2) {  // few enough curves for one panel: the key names the snapshot
    p.legend.clear();
    p.panels.clear();
  }
  return p;
}

PlotFiles write_plot(const LossPlot& plot, const std::string& base_path) {
  namespace fs = std::filesystem;
  PlotFiles f{base_path + ".dat", base_path + ".gp", "", ""};
  const fs::path base(base_path);
  const std::string stem = base.filename().string();
  {
    std::ostringstream dat;
    dat << "# x";
    for (const auto& n : plot.names) dat << "\t\"" << n << "\"";
    const auto banded = [&](size_t c) {
      return c < plot.lower.size() && c < plot.upper.size() && !plot.lower[c].empty() && !plot.upper[c].empty();
    };
    for (size_t c = 0; c < plot.values.size(); ++c)
      if (banded(c)) dat << "\t\"" << plot.names[c] << " lower\"\t\"" << plot.names[c] << " upper\"";
    dat << "\n";
    char buf[40];
    for (size_t i = 0; i < plot.x.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%.6g", plot.x[i]);
      dat << buf;
      for (const auto& col : plot.values) {
        std::snprintf(buf, sizeof buf, "\t%.8g", col[i]);
        dat << buf;
      }
      for (size_t c = 0; c < plot.values.size(); ++c)
        if (banded(c)) {
          std::snprintf(buf, sizeof buf, "\t%.8g\t%.8g", plot.lower[c][i], plot.upper[c][i]);
          dat << buf;
        }
      dat << "\n";
    }
    data::write_file(f.dat, dat.str());
  }
  {
    // File names without folders: the script runs in its own folder (here and for the user).
    const size_t nc = plot.values.size();
    auto has = [&](const auto& v, size_t c) { return c < v.size() && !v[c].empty(); };
    std::vector<size_t> band_col(nc, 0);  // .dat column of each curve's lower bound (upper follows)
    size_t next = nc + 2;
    for (size_t c = 0; c < nc; ++c)
      if (has(plot.lower, c) && has(plot.upper, c)) band_col[c] = std::exchange(next, next + 2);
    std::ostringstream gp;
    const bool multi = !plot.panels.empty();
    int cols = 1, rows = 1;
    if (multi) {
      cols = int(std::ceil(std::sqrt(double(plot.panels.size()))));
      rows = int((plot.panels.size() + cols - 1) / cols);
    }
    gp << "# " << plot.ylabel << " against " << plot.xlabel << "; render with: gnuplot " << stem << ".gp (in this folder)\n"
       << "set terminal svg size " << (multi ? 40 + 380 * cols : 900) << "," << (multi ? 60 + 300 * rows : 560)
       << " dynamic noenhanced font 'sans,12' background '#ffffff'\n"
       << "set output " << gp_quote(stem + ".svg") << "\n"
       << "set xlabel " << gp_quote(plot.xlabel) << "\nset ylabel " << gp_quote(plot.ylabel) << "\n"
       << (plot.log_y ? "set logscale y\nset format y '%.0e'\n" : "") << "set grid\n";
    if (plot.integer_x && !plot.x.empty()) {
      // Integer ticks about ten apart: 1, 2, 5 x 10^k.
      const double span = std::max(1.0, plot.x.back() - plot.x.front());
      double step = 1;
      for (double m = 1; step * 10 < span; m *= 10)
        for (double f : {1.0, 2.0, 5.0}) if (step * 10 < span) step = f * m;
      gp << "set xtics " << step << "\nset format x '%.0f'\nset mxtics 1\n";
    }
    auto curve = [&](size_t c, bool panel_colours) {
      std::ostringstream o;
      const std::string title = c < plot.legend.size() ? plot.legend[c] : plot.names[c];
      const int colour = panel_colours ? (plot.dashed[c] ? 2 : 1) : plot.group[c] + 1;
      if (band_col[c])
        o << gp_quote(stem + ".dat") << " using 1:" << band_col[c] << ":" << band_col[c] + 1
          << " with filledcurves fs transparent solid 0.2 noborder lc " << colour << " title " << gp_quote(title + " (95 % CI)")
          << ", \\\n     ";
      const bool pts = c < plot.points.size() && plot.points[c];
      o << gp_quote(stem + ".dat") << " using 1:" << c + 2 << (pts ? " with points pt 7 ps 0.9" : " with lines lw 2")
        << " lc " << colour << (pts ? "" : " dt " + std::to_string(plot.dashed[c] ? 2 : 1)) << " title " << gp_quote(title);
      return o.str();
    };
    if (!multi) {
      gp << "set title " << gp_quote(wrap_title(plot.title, 95)) << "\nset key outside right top\nplot ";
      for (size_t c = 0; c < nc; ++c) gp << (c ? ", \\\n     " : "") << curve(c, false);
      gp << "\n";
    } else {
      double lo = INFINITY, hi = -INFINITY;  // one y range, so the panels compare at a glance
      for (const auto& col : plot.values)
        for (double v : col)
          if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      if (std::isfinite(lo)) {
        const double pad = hi > lo ? 0.05 * (hi - lo) : 1;
        gp << "set yrange [" << lo - pad << ":" << hi + pad << "]\n";
      }
      // The key once, in the first panel (every panel draws the same kinds of curve).
      gp << "set key inside right top opaque box\nset multiplot layout " << rows << "," << cols << " title " << gp_quote(wrap_title(plot.title, 40 * cols)) << "\n";
      for (size_t g = 0; g < plot.panels.size(); ++g) {
        gp << "set title " << gp_quote(plot.panels[g]) << "\nplot ";
        bool first = true;
        for (size_t c = 0; c < nc; ++c)
          if (plot.group[c] == int(g)) gp << (std::exchange(first, false) ? "" : ", \\\n     ") << curve(c, true);
        gp << "\n" << (g == 0 ? "unset key\n" : "");
      }
      gp << "unset multiplot\n";
    }
    data::write_file(f.gp, gp.str());
  }
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    f.note = "gnuplot not found on PATH: wrote " + f.gp + " and " + f.dat + " (run `gnuplot " + stem +
             ".gp` in that folder to make the SVG)";
    return f;
  }
  const fs::path dir = base.has_parent_path() ? base.parent_path() : fs::path(".");
  // gnuplot's own output (warnings about fonts, empty ranges) goes to a log next to the script,
  // not into ours: it is shown only when gnuplot fails, and removed otherwise.
  const std::string log = stem + ".gnuplot.log";
  const std::string cmd = "cd " + sh_quote(dir.string()) + " && gnuplot " + sh_quote(stem + ".gp") + " >" + sh_quote(log) + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::string said;
  {
    std::ifstream in(dir / log);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) said = line;  // the last thing it said
  }
  std::error_code ec;
  fs::remove(dir / log, ec);
  if (rc != 0) {
    f.note = "gnuplot failed on " + f.gp + (said.empty() ? "" : " (" + said + ")") + " (the .gp and .dat files are kept)";
    return f;
  }
  f.svg = base_path + ".svg";
  return f;
}

}  // namespace metaloss::learn
