// LAGO and its two ablations behind the Strategy interface (LAGO.md 2-5).
//
// The state machine, persisted as text (core/state_codec.h) after every call:
//   initial design: `initial_points` scrambled Sobol points (default 5d;
//                   max(2d, 10) in gradient-enhanced studies);
//   informed step:  the minimiser of the GP posterior mean;
//   centre:         the incumbent becomes the trust-region centre; when its
//                   gradient is unknown, a gradient-at-incumbent trial asks
//                   for it (or, in value-only mode, the GP's mean gradient);
//   iterating:      a local proposal (the trust-region step, predicted
//                   improvement I) competes with a global one (LogEI
//                   maximised outside the trust-region ball, EI(x_G)); the
//                   global one is taken when the region is terminated, a
//                   local step is already in flight, or EI(x_G) > gamma I,
//                   except that with keep_local (our addition, on by
//                   default) a local step that was very successful
//                   (rho > 0.75) is followed by another local step: I
//                   shrinks quadratically as Newton-like steps converge, so
//                   EI would otherwise cut a converging region short.
//   restarts:       (our addition, on by default) when a region terminates,
//                   or has converged in practice (I below 1e-9 standard
//                   deviations of f) and loses to EI, the next region starts
//                   at the best completed non-local point that lies more
//                   than r0 from the start and end of every finished region
//                   and that the GP mean does not join to any of them
//                   without a hill in between (a hill-valley test). EI alone
//                   drifts to the corners of the box once the GP is sure of
//                   itself, and left 8 of 20 Hartmann 6 runs in the second
//                   minimum. EI's incumbent is the best completed value, not
//                   the (restarted) centre.
//   calibrated EI:  (our addition, on by default, but for value-only
//                   studies with noise = 1) in the competition EI is scaled
//                   by how much of the EI of earlier global steps came true:
//                   (realised + EI) / (claimed + EI), at most 1. A GP fitted
//                   to a wide-range objective promises far more than its
//                   global steps deliver, and EI took the steps the trust
//                   region needed.
//   model check:    (our addition, on by default with gradients) before a
//                   local step is suggested, the GP checks it: when the GP
//                   is sure the step will be rejected (its predicted
//                   improvement plus two posterior standard deviations at
//                   the target is below eta I), B becomes the Hessian of
//                   the GP mean at the centre and the step is solved again.
//                   One SR1 update can put a large wrong eigenvalue into B;
//                   the GP holds the same gradients and more.
// Several workers: points in flight (pending trials and the earlier points of
// a batch) join the global model as kriging believers (value = posterior
// mean, counted towards the incumbent), and global proposals keep nu
// lengthscales (the smallest) away from them, since a believer pins the value
// but not the slope; at most one local step is in flight at a time, and none
// onto a point in flight (with `speculate` > 0, up to that many more may
// follow it, each from the GP's prediction of its predecessor's result);
// while a local step is in flight, a worker may get a probe instead of an EI
// point (at most `probe` probes in flight): a trust-region step (radius r0,
// B the GP mean's Hessian) from the best completed non-local point in a basin
// that neither the region, nor a finished region, nor a point in flight holds
// (same hill-valley test), taken when its I beats EI; a worker that asks while the
// machine waits for the informed step or the centre's gradient gets a probe or a global
// proposal by the same rule (a Sobol point in the design phase and for the
// kTrustRegion variant).
// Results are matched to the suggestions that asked for them through
// Why::sequence_index. A local result updates the region (ratio, radius, SR1,
// acceptance); any result better than the centre makes it the new centre
// (radius r0, B the Hessian of the GP mean there).
//
// Global model: the gradient-enhanced GP over the completed points, where a
// local-phase point with a gradient enters only when its scaled distance to
// every point already in the model is at least nu (the minimum-distance
// rule; a value alone always enters, and every point under `noise`);
// hyperparameters are refitted every `refit_every` suggestions, and also
// whenever the model has grown by `refit_growth` (a fraction) since the last
// fit. Between refits the model is the GP of the points of the last fit,
// extended point by point, in the order the results arrived, by growing its
// Cholesky factor, and then standardised afresh (rank_update): the model a
// rebuild would give, up to rounding, except that a point that would make K
// singular stays out of the model instead of adding jitter to all of it.
//
// Integer and categorical parameters (Problem::snap): every suggestion is
// snapped, searches score snapped points, and a local step is judged as
// snapped. In a gradient mode their coordinates have no observed derivative
// (Problem::gradient_coordinates): the GP takes the derivatives along the
// continuous coordinates only. A trust-region step holds a categorical
// parameter's choice at its base point, so a change of choice comes from the
// global search; along an integer parameter (Problem::integer_coordinates)
// the local model is the GP mean's, and the step moves the integer when its
// rounded move, with the continuous step solved again beside it, promises
// more than holding it.
//
// Variants: kLago; kBo (only global proposals, no exclusion); kTrustRegion
// (only local proposals; a terminated region restarts from the next Sobol
// point).
//
// Options (StudySpec.strategy_options): gamma (1), nu (0.1), eta (5e-4),
// refit_every (10), refit_growth (0.1; 0 refits only every refit_every),
// rank_update (1; 0 rebuilds and refactorises the model at each suggestion),
// initial_points (5 d; max(2 d, 10) with every gradient),
// kernel ("matern52" or "se"), trend ("quadratic", or "constant" as in
// value-only studies with noise = 1 by default: the GP's prior mean,
// GpOptions::quadratic_trend),
// candidates (1024), refine (8), keep_local (1; 0 is the authors' rule),
// restart (1; 0 leaves every step after a region to EI, as the authors do),
// probe (the most probes in flight; 1, at most 16), speculate (0, at most 16),
// calibrate (1; 0 in value-only studies with noise = 1),
// model_check (1 with gradients, 0 in value-only mode, where B is the GP
// mean's Hessian already), gradient_noise (0, and 1 with noise = 1 in a
// gradient mode; 1 fits GpHyperparameters::gradient_noise by profile
// likelihood over {0, 0.03, 0.3, 3}, four fits per refit),
// noise (0; 1: the values are noisy: every refit also fits
// GpHyperparameters::value_noise, values measured again at one point
// without a known noise join the model as their mean (GpPoint::replicates),
// other repeats as rows of their own, and EI's incumbent is the
// lowest posterior mean at a completed point; the trust region still reads
// observed values), region_mean (0; 1: with noisy values, by `noise` or a
// known noise_std, the trust region reads the posterior mean instead of the
// observed values: its centre, rho, restarts and probes), noise_floor (1;
// with noisy values a local step whose predicted improvement is below
// noise_floor standard deviations of one value at the centre, fitted and
// known together, ends the region; 0 turns it off),
// update ("sr1", LAGO.md; "lbfgs": B is the limited-memory BFGS matrix of the
// last 5 steps from the first step after B was the GP's; gradient modes),
// lower_bound (none; a bound L on the minimised f, so minus the upper bound
// of a maximised objective: the strategy then works on
// log(f - L + C), gradients g / (f - L + C), and the EI and I it reports
// are in those units), warp_offset (C > 0; by default, when the design
// ends, the most likely of m x {1e-5, ..., 1}, m the median of f - L),
// early_stop (when EI and I both stay below 1e-12 for 5 iterations the
// strategy ends the study; StrategyOutput::finished says so; 0 by default:
// an overconfident GP ended runs trapped in a local minimum).
#ifndef LAGO_CORE_LAGO_STRATEGY_H_
#define LAGO_CORE_LAGO_STRATEGY_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "core/strategy.h"

namespace lago::core {

enum class LagoVariant { kLago, kBo, kTrustRegion };

// INVALID_ARGUMENT naming the option for an unknown option or a bad value.
absl::StatusOr<std::unique_ptr<Strategy>> MakeLagoStrategy(LagoVariant variant,
                                                           const Problem& problem);

// Between refits each strategy object keeps its last global model in memory,
// so that the next suggestion extends its Cholesky factor instead of
// rebuilding it (Options::rank_update). The models of all strategy objects in
// the process hold at most this many bytes together (default 256 MiB). A model
// that would exceed it takes the room of the models used least recently by
// other strategy objects (those of finished or idle studies first); when that
// is not enough, it is not kept, and that study rebuilds its model at each
// suggestion, with the same result. 0 keeps none.
void SetModelCacheLimit(int64_t bytes);
// The bytes the kept models hold now.
int64_t ModelCacheBytes();

}  // namespace lago::core

#endif  // LAGO_CORE_LAGO_STRATEGY_H_
