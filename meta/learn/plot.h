// Plots of learned losses: L_phi(p, y) against the prediction p for targets y = 1 and y = 0, one
// pair of curves per snapshot of phi. Written as a data file (.dat) plus a gnuplot script (.gp)
// and, when gnuplot is on PATH, rendered to SVG; without gnuplot the two files remain so the
// plot can be made later (`gnuplot NAME.gp` in their folder). Plotting never fails a run over a
// missing gnuplot: the result says what happened.
#pragma once
#include <string>
#include <vector>

#include "meta/learn/task.h"

namespace metaloss::learn {

struct LossPlot {
  std::string title;
  std::string xlabel;
  std::string ylabel = "L_phi(p, y)";
  std::vector<double> x;
  std::vector<std::string> names;            // one per column of values
  std::vector<std::vector<double>> values;   // [curve][point]
  std::vector<int> group;                    // curves of one snapshot share a colour
  std::vector<bool> dashed;                  // target 0 dashed, target 1 solid
  bool log_y = false;                        // logarithmic y axis (e.g. gradient norms)
  // Optional, each empty or one entry per curve:
  std::vector<std::string> legend;           // what the key shows (default: names, which head the .dat columns)
  std::vector<bool> points;                  // draw as points (e.g. per-generation values under a running best)
  std::vector<std::vector<double>> lower, upper;  // a shaded band per curve (e.g. a 95 % CI); empty: none
  bool integer_x = false;                    // x counts something (generations, meta-steps): integer ticks
  // Small multiples: when set, one panel per group (panels[g] its title) on a shared y range,
  // instead of every curve in one panel.
  std::vector<std::string> panels;
};

// Samples each snapshot on a grid: classification p in [0, 1] (probabilities), regression
// predictions in [-3, 3] (standardised units), 101 points, targets 1 and 0. More than two
// snapshots become small multiples (one panel per snapshot, y = 1 solid, y = 0 dashed).
LossPlot sample_learned_loss(const losses::LearnedLossConfig& config, const std::vector<LossSnapshot>& snapshots,
                             const std::string& title);

struct PlotFiles {
  std::string dat, gp, svg;  // svg is empty when nothing was rendered
  std::string note;          // why no SVG ("gnuplot not found on PATH", "gnuplot failed: ...")
};

// Writes BASE.dat and BASE.gp, then runs gnuplot on the script when it is on PATH.
PlotFiles write_plot(const LossPlot& plot, const std::string& base_path);

}  // namespace metaloss::learn
