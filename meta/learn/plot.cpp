#include "meta/learn/plot.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sstream>

#include "meta/data/io.h"

namespace metaloss::learn {

namespace {
// A string for a double-quoted gnuplot string.
std::string gp_quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
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
    }
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
    dat << "\n";
    char buf[40];
    for (size_t i = 0; i < plot.x.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%.6g", plot.x[i]);
      dat << buf;
      for (const auto& col : plot.values) {
        std::snprintf(buf, sizeof buf, "\t%.8g", col[i]);
        dat << buf;
      }
      dat << "\n";
    }
    data::write_file(f.dat, dat.str());
  }
  {
    // File names without folders: the script runs in its own folder (here and for the user).
    std::ostringstream gp;
    gp << "# " << plot.ylabel << " against " << plot.xlabel << "; render with: gnuplot " << stem << ".gp (in this folder)\n"
       << "set terminal svg size 900,560 dynamic noenhanced font 'sans,12' background '#ffffff'\n"
       << "set output " << gp_quote(stem + ".svg") << "\n"
       << "set title " << gp_quote(plot.title) << "\n"
       << "set xlabel " << gp_quote(plot.xlabel) << "\nset ylabel " << gp_quote(plot.ylabel) << "\n"
       << (plot.log_y ? "set logscale y\nset format y '%.0e'\n" : "") << "set key outside right top\nset grid\n"
       << "plot ";
    for (size_t c = 0; c < plot.values.size(); ++c) {
      gp << (c ? ", \\\n     " : "") << gp_quote(stem + ".dat") << " using 1:" << c + 2 << " with lines lw 2 lc "
         << plot.group[c] + 1 << " dt " << (plot.dashed[c] ? 2 : 1) << " title " << gp_quote(plot.names[c]);
    }
    gp << "\n";
    data::write_file(f.gp, gp.str());
  }
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    f.note = "gnuplot not found on PATH: wrote " + f.gp + " and " + f.dat + " (run `gnuplot " + stem +
             ".gp` in that folder to make the SVG)";
    return f;
  }
  const fs::path dir = base.has_parent_path() ? base.parent_path() : fs::path(".");
  // gnuplot talks on stderr only, so our stdout (the results table) stays clean.
  const std::string cmd = "cd " + sh_quote(dir.string()) + " && gnuplot " + sh_quote(stem + ".gp") + " 1>&2";
  if (std::system(cmd.c_str()) != 0) {
    f.note = "gnuplot failed on " + f.gp + " (the .gp and .dat files are kept)";
    return f;
  }
  f.svg = base_path + ".svg";
  return f;
}

}  // namespace metaloss::learn
