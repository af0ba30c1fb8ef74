// L-BFGS: limited-memory quasi-Newton minimization of f(x, grad) -> loss over float32
// variables. It knows nothing of images; the model is reached only through the objective.
//
// Algorithm (Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 7.4 and 7.5; the fixed-step
// variant is the one neural-style and torch.optim.LBFGS use without a line search):
//   iteration k: evaluate f, g at x_k (iteration 1: the initial x);
//                d = -H g by the two-loop recursion over the last m pairs (s, y), H0 = γ I with
//                γ = sᵀy / yᵀy of the newest pair (no pairs yet: d = -g);
//                if gᵀd is not negative, clear the history and use d = -g (counted in `resets`);
//                t = lr, scaled by min(1, 1/‖g‖₁) on iteration 1 and after a reset only
//                (a skipped pair does not shrink later steps, as in torch.optim.LBFGS);
//                x_{k+1} = x_k + t d  (or the point a strong Wolfe line search accepts);
//                the pair (s, y), y = g_{k+1} - g_k, is kept only if sᵀy > 1e-10, where s is
//                either the displacement x_{k+1} - x_k computed in float from the two points, or
//                the step t d as taken (torch.optim.LBFGS; see StepPair).
// Box constraints (lower <= x <= upper, optional): projected L-BFGS in the manner of L-BFGS-B,
// simplified. A variable is active when it sits on a bound and -g points out of the box; the
// direction is -H g with the active components of g and of the result set to 0, the new point
// is the projection of x_k + t d onto the box, and a curvature pair keeps only the variables
// free (strictly inside the box) at both ends of the step (s and y are 0 elsewhere). x_0 is
// projected first. Without a line search the loss may rise for a step, as in the unbounded
// method, but in the box a rise can feed on itself (a 1024-px run went 7e7 -> 4e8 -> 2e9 -> 3e9
// and stayed there), so after two rises in a row the history is cleared and the next step is
// scaled as the first (a reset). Two rises in a row never happened in 17 runs that converged
// (256-1024 px, up to 1000 iterations, with and without the box), so those are unchanged.
// Without a line search a run of N iterations makes exactly N + 1 evaluations: one per iteration
// plus one at the final point, so that the returned point is known to be finite.
//
// Variables are float32, and so are the stored pairs unless history_precision is Half: then each
// s and y is stored as binary16 with a power-of-two scale (nst/half.h), half the memory (at
// 512² a full history of 100 pairs is 315 MB instead of 629 MB) and half the memory traffic of
// the two-loop recursion. ρ = 1/sᵀy and γ are computed from the rounded pairs, and a pair is
// kept only if its rounded sᵀy > 1e-10, so H is exactly the L-BFGS matrix of the pairs it
// holds (positive definite); only the pairs differ from float ones, by ≤ 2^-11 relative.
// Every dot product is accumulated in double.
// Deterministic: the vector loops run in parallel (OpenMP) over fixed chunks, sums combined in
// order, so the same inputs give bit-identical results for any number of threads.
#pragma once

#include <Eigen/Core>

#include <functional>
#include <string>

namespace nst {

/// How the (s, y) pairs are stored: float32, or binary16 with a scale (see above).
enum class HistoryPrecision { Float, Half };

/// How the s of each curvature pair is formed. The two differ by float rounding only, but that
/// rounding matters: pixels are ~100 and the first step moves each by far less than 1, so the
/// displacement x_{k+1} - x_k of two float points keeps only a few bits of the step, and the
/// first curvature pair (a difference of two nearly equal gradients) amplifies the error.
enum class StepPair {
  Displacement,  ///< s = x_{k+1} - x_k, the difference of the two float points
  Direction,     ///< s = t d, the step as computed (torch.optim.LBFGS)
};

/// Options of lbfgs_minimize, checked once by validate() when the minimization starts.
struct LbfgsOptions {
  int max_iterations = 1000;    ///< exactly this many iterations run unless something stops it
  int history = 100;            ///< m: number of (s, y) pairs kept
  HistoryPrecision history_precision = HistoryPrecision::Float;  ///< how pairs are stored
  StepPair step_pair = StepPair::Displacement;  ///< how s is formed (see StepPair)
  /// Box constraints: both empty (unbounded), or both sized like x with lower <= upper, finite
  /// (checked by lbfgs_minimize). Not with line_search.
  Eigen::VectorXf lower, upper;
  double learning_rate = 1.0;   ///< step multiplier (the initial trial step with line_search)
  bool line_search = false;     ///< false: fixed step; true: strong Wolfe search (cubic
                                ///< interpolation, c1 = 1e-4, c2 = 0.9, at most 25 evaluations)
  double tolerance_grad = 0;    ///< stop when max|g| <= this; 0 = off
  double tolerance_change = 0;  ///< stop when |loss change| or max|step| < this; 0 = off
  std::function<bool()> cancelled;  ///< optional; checked before every evaluation

  /// Throws std::invalid_argument naming the parameter and its value: max_iterations >= 1,
  /// history >= 1, learning_rate finite and > 0, tolerances finite and >= 0, lower and upper
  /// of equal size, finite, lower <= upper, and no line search with them.
  void validate() const;
};

enum class LbfgsStop {
  MaxIterations,     ///< max_iterations iterations ran
  NonFinite,         ///< the objective returned a NaN/Inf loss or gradient
  LineSearchFailed,  ///< the line search found no point of sufficient decrease
  NoProgress,        ///< the gradient is exactly zero, the step vanished, or the loss stayed
                     ///< bit-identical for 10 iterations
  ToleranceGrad,     ///< max|g| <= tolerance_grad
  ToleranceChange,   ///< |loss change| or max|step| < tolerance_change
  Cancelled,         ///< options.cancelled() returned true, on_iteration returned false, or the
                     ///< objective threw CancelledError (nst/cancel.h; that evaluation is discarded)
};
const char* to_string(LbfgsStop stop);

/// What on_iteration sees, once per iteration, right after that iteration's evaluation.
struct LbfgsIteration {
  int iteration;    ///< 1-based
  double loss;      ///< loss at x_k, the point BEFORE this iteration's update (1: the initial x)
  int evaluations;  ///< evaluations of f so far, this iteration's included
};

struct LbfgsResult {
  LbfgsStop stop;
  int iterations;     ///< iterations started (on_iteration calls made); 0 if the first evaluation failed
  int evaluations;    ///< calls of f
  double best_loss;   ///< loss at the returned x; NaN if no finite point was ever evaluated
  std::string message;
  int resets = 0;         ///< times the direction was not a descent direction and history was cleared
  int skipped_pairs = 0;  ///< (s, y) pairs dropped because sᵀy <= 1e-10
};

/// The objective: returns f(x) and writes ∇f(x) into grad, which arrives zeroed and sized like x
/// (so `+=` and `=` both work). It must not resize grad.
using Objective = std::function<double(const Eigen::VectorXf& x, Eigen::VectorXf& grad)>;

/// Minimizes f from x (in/out). On return x holds the best point (lowest loss) whose loss and
/// gradient were finite among all points evaluated, never a point that gave NaN/Inf; if no point
/// was finite (or the run was cancelled before the first evaluation) x is left unchanged.
/// on_iteration (optional) is called once per iteration after that iteration's evaluation;
/// returning false stops with Cancelled. Throws std::invalid_argument for bad options, an empty
/// x, or an objective that resizes grad; exceptions from f propagate and leave x unchanged.
LbfgsResult lbfgs_minimize(const Objective& f, Eigen::VectorXf& x, const LbfgsOptions& opt,
                           const std::function<bool(const LbfgsIteration&)>& on_iteration = {});

}  // namespace nst
