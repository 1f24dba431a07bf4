// Google Benchmark of the gradient-enhanced GP: factorisation, incremental
// add, predicting 1000 candidates, one marginal likelihood with gradient, and
// a full refit, for d in {2, 10, 20} and N = n (d + 1) about 500 to 4000.
// The floor is LAPACK dpotrf from OpenBLAS on the same matrix, in the same run.
//
// The same source builds two programs: bench_gp (core as built, Eigen on
// OpenBLAS and LAPACKE by default) and bench_gp_eigen (core with plain Eigen).
// bench/gp/README.md has the commands and the results.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <lapacke.h>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "Eigen/Cholesky"
#include "core/acquisition.h"
#include "core/gp.h"
#include "core/gp_fit.h"
#include "core/triangular_solve.h"

namespace lago::core {
namespace {

// n points with values and gradients of a smooth function in [0, 1]^d.
std::vector<GpPoint> Data(int d, int n) {
  std::mt19937_64 rng(1234 + d);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<GpPoint> points;
  for (int i = 0; i < n; ++i) {
    Eigen::VectorXd x(d);
    for (int j = 0; j < d; ++j) x[j] = u(rng);
    GpPoint p{x, 0.0, Eigen::VectorXd(d)};
    for (int j = 0; j < d; ++j) {
      p.value += std::sin(3.0 * x[j] + j);
      (*p.gradient)[j] = 3.0 * std::cos(3.0 * x[j] + j);
    }
    points.push_back(std::move(p));
  }
  return points;
}

GpHyperparameters Hyper(int d) {
  return {Eigen::VectorXd::Constant(d, 0.25 * std::sqrt(static_cast<double>(d))), 1.0};
}

int PointsFor(int d, int target_rows) { return std::max(2, target_rows / (d + 1)); }

// The covariance matrix the GP factorises, with its nugget.
const Eigen::MatrixXd& CovarianceMatrix(int d, int n) {
  static std::map<std::pair<int, int>, Eigen::MatrixXd> cache;
  auto it = cache.find({d, n});
  if (it != cache.end()) return it->second;
  const std::vector<GpPoint> points = Data(d, n);
  Kernel kernel(KernelType::kMatern52, Hyper(d).lengthscales, 1.0);
  const int rows = n * (d + 1);
  Eigen::MatrixXd k(rows, rows);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      kernel.Covariance(points[i].x, true, points[j].x, true,
                        k.block(i * (d + 1), j * (d + 1), d + 1, d + 1));
    }
  }
  k.diagonal().array() += 1e-6;  // Enough for every size here to be positive definite.
  return cache.emplace(std::make_pair(d, n), std::move(k)).first->second;
}

void SetCounters(benchmark::State& state, int d, int n) {
  state.counters["d"] = d;
  state.counters["N"] = n * (d + 1);
}

void BM_EigenLlt(benchmark::State& state) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  const Eigen::MatrixXd& k = CovarianceMatrix(d, n);
  Eigen::LLT<Eigen::MatrixXd> llt(k);
  for (auto _ : state) {
    llt.compute(k);  // Copies k, then factorises in place.
    benchmark::DoNotOptimize(llt.matrixLLT().data());
  }
  if (llt.info() != Eigen::Success) state.SkipWithError("not positive definite");
  SetCounters(state, d, n);
}

void BM_Dpotrf(benchmark::State& state) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  const Eigen::MatrixXd& k = CovarianceMatrix(d, n);
  // Written once before timing, as compute() in BM_EigenLlt finds its storage:
  // the first touch of fresh pages is not part of the floor (on some virtual
  // machines it costs as much as the factorisation at N = 4000).
  Eigen::MatrixXd a = k;
  int info = 0;
  for (auto _ : state) {
    a = k;  // The same copy Eigen's compute() makes.
    info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', static_cast<int>(a.rows()), a.data(),
                          static_cast<int>(a.rows()));
    benchmark::DoNotOptimize(a.data());
  }
  if (info != 0) state.SkipWithError("dpotrf failed");
  SetCounters(state, d, n);
}

// The lower Cholesky factor of CovarianceMatrix(d, n), from LAPACK dpotrf.
Eigen::MatrixXd CholeskyFactor(int d, int n) {
  Eigen::MatrixXd l = CovarianceMatrix(d, n);
  const int rows = static_cast<int>(l.rows());
  LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', rows, l.data(), rows);
  return l;
}

// L^-1 times 1000 candidates' cross-covariances (N^2 m flops): a triangular
// solve with L (dtrsm), the same solve by blocks (SolveLowerByBlocks, as
// GaussianProcess::Predict makes it with the AVX-512 kernels), or a
// triangular multiply by an explicit L^-1 (dtrmm), which the model would have
// to keep beside L.
enum class Product { kDtrsm, kByBlocks, kDtrmmWithInverse };

void TriangularProduct(benchmark::State& state, Product product) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  Eigen::MatrixXd l = CholeskyFactor(d, n);
  const int rows = static_cast<int>(l.rows());
  if (product == Product::kDtrmmWithInverse) {
    LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'L', 'N', rows, l.data(), rows);
  }
  const Eigen::MatrixXd rhs = Eigen::MatrixXd::Random(rows, 1000);
  Eigen::MatrixXd b = rhs;  // Touched before timing, as in BM_Dpotrf.
  for (auto _ : state) {
    b = rhs;
    if (product == Product::kByBlocks) {
      SolveLowerByBlocks(l, b);
    } else {
      (product == Product::kDtrsm ? cblas_dtrsm : cblas_dtrmm)(
          CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, rows, 1000,
          1.0, l.data(), rows, b.data(), rows);
    }
    benchmark::DoNotOptimize(b.data());
  }
  SetCounters(state, d, n);
}

// The solve that exact variances for m candidates need, L^-1 K_x with m
// right-hand sides, by OpenBLAS dtrsm. Until 2026-11-23 the prediction made
// it so and this was its floor; GaussianProcess::Predict now solves by blocks
// with dtrmm and dgemm, which beats dtrsm with the AVX-512 kernels (the name
// stays, for the committed results).
void BM_DtrsmFloor(benchmark::State& state) { TriangularProduct(state, Product::kDtrsm); }

// The same solve by blocks, under whichever kernels OpenBLAS runs: what
// decides where SolveLower uses blocks (bench/gp/blocked_kernels.py).
void BM_SolveByBlocks(benchmark::State& state) {
  TriangularProduct(state, Product::kByBlocks);
}

// What keeping the inverse factor L^-1 with the model would give predictions
// (not done: see bench/gp/README.md): the same product by dtrmm, and what
// computing L^-1 from L costs, dtrtri.
void BM_DtrmmWithInverse(benchmark::State& state) {
  TriangularProduct(state, Product::kDtrmmWithInverse);
}

// The add's solve, L^-1 B with the d + 1 cross-covariance columns of a point
// with a gradient: by OpenBLAS dtrsm, or by SolveLowerByPanels compiled for
// the widest instruction set this CPU runs, for AVX2 or for SSE2 alone.
enum class AddSolve { kDtrsm, kPanels, kPanelsAvx2, kPanelsBaseline };

void SolveFewColumns(benchmark::State& state, AddSolve solve, int columns) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  const Eigen::MatrixXd l = CholeskyFactor(d, n);
  const int rows = static_cast<int>(l.rows());
  const Eigen::MatrixXd rhs = Eigen::MatrixXd::Random(rows, columns);
  Eigen::MatrixXd b(rows, columns);
  const PanelIsa isa = solve == AddSolve::kPanelsAvx2       ? PanelIsa::kAvx2
                       : solve == AddSolve::kPanelsBaseline ? PanelIsa::kBaseline
                                                            : PanelIsa::kBest;
  if (!PanelIsaSupported(isa)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  for (auto _ : state) {
    b = rhs;
    if (solve == AddSolve::kDtrsm) {
      cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, rows,
                  columns, 1.0, l.data(), rows, b.data(), rows);
    } else {
      SolveLowerByPanels(l, b, isa);
    }
    benchmark::DoNotOptimize(b.data());
  }
  SetCounters(state, d, n);
}

void AddShapedSolve(benchmark::State& state, AddSolve solve) {
  SolveFewColumns(state, solve, state.range(0) + 1);
}

void BM_AddSolveDtrsm(benchmark::State& state) {
  AddShapedSolve(state, AddSolve::kDtrsm);
}
void BM_AddSolveByPanels(benchmark::State& state) {
  AddShapedSolve(state, AddSolve::kPanels);
}
void BM_AddSolveByPanelsAvx2(benchmark::State& state) {
  AddShapedSolve(state, AddSolve::kPanelsAvx2);
}
void BM_AddSolveByPanelsSse2(benchmark::State& state) {
  AddShapedSolve(state, AddSolve::kPanelsBaseline);
}

// The same solves with the number of columns as the third argument.
void BM_ColumnsDtrsm(benchmark::State& state) {
  SolveFewColumns(state, AddSolve::kDtrsm, state.range(2));
}
void BM_ColumnsByPanels(benchmark::State& state) {
  SolveFewColumns(state, AddSolve::kPanels, state.range(2));
}

void BM_Dtrtri(benchmark::State& state) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  const Eigen::MatrixXd l = CholeskyFactor(d, n);
  const int rows = static_cast<int>(l.rows());
  Eigen::MatrixXd inverse = l;  // Touched before timing, as in BM_Dpotrf.
  int info = 0;
  for (auto _ : state) {
    inverse = l;
    info = LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'L', 'N', rows, inverse.data(), rows);
    benchmark::DoNotOptimize(inverse.data());
  }
  if (info != 0) state.SkipWithError("dtrtri failed");
  SetCounters(state, d, n);
}

// The floor of an incremental add of one point with a gradient: the two
// triangular solves it cannot avoid with the factor L of the model, one with
// the d + 1 new cross-covariance columns (L W = B) and one for the new
// weights (L^T alpha = z), made as the add makes them (SolveLower: since
// 2026-11-23 by panels with OpenBLAS on one thread on AVX2 and AVX-512 CPUs,
// else dtrsm; SolveLowerVector, dtrsv). As in BM_IncrementalAdd, each solve reads a fresh
// copy of the factor, made outside the timed region: a factor left in the caches by the
// last iteration would make a floor no add meets.
void BM_AddFloor(benchmark::State& state) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  const Eigen::MatrixXd factor = CholeskyFactor(d, n);
  const int rows = static_cast<int>(factor.rows());
  const Eigen::MatrixXd rhs = Eigen::MatrixXd::Random(rows, d + 1);
  Eigen::MatrixXd b(rows, d + 1);
  Eigen::VectorXd z(rows);
  std::unique_ptr<Eigen::MatrixXd> l;
  for (auto _ : state) {
    state.PauseTiming();
    l.reset();
    l = std::make_unique<Eigen::MatrixXd>(factor);
    b = rhs;
    z = rhs.col(0);
    state.ResumeTiming();
    SolveLower(*l, b);
    SolveLowerVector(*l, true, z);
    benchmark::DoNotOptimize(b.data());
    benchmark::DoNotOptimize(z.data());
  }
  SetCounters(state, d, n);
}

void BM_BuildAndFactorize(benchmark::State& state) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  const std::vector<GpPoint> points = Data(d, n);
  double jitter = 0.0;
  for (auto _ : state) {
    auto gp = GaussianProcess::Create(d, {}, Hyper(d), points);
    if (!gp.ok()) {
      state.SkipWithError("factorisation failed");
      break;
    }
    jitter = gp->jitter();
  }
  SetCounters(state, d, n);
  state.counters["jitter"] = jitter;
}

void BM_IncrementalAdd(benchmark::State& state) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  std::vector<GpPoint> points = Data(d, n);
  const GpPoint last = points.back();
  points.pop_back();
  auto base = GaussianProcess::Create(d, {}, Hyper(d), points);
  if (!base.ok()) {
    state.SkipWithError("factorisation failed");
    return;
  }
  // The copy is made, and the previous one freed, outside the timed region:
  // freeing tens of megabytes of factor is not part of an add.
  std::unique_ptr<GaussianProcess> gp;
  for (auto _ : state) {
    state.PauseTiming();
    gp.reset();
    gp = std::make_unique<GaussianProcess>(*base);
    state.ResumeTiming();
    if (!gp->AddPoint(last).ok()) state.SkipWithError("add failed");
    benchmark::DoNotOptimize(&*gp);
  }
  SetCounters(state, d, n);
}

// Mean and variance at `candidates` points in one batch.
void Predict(benchmark::State& state, int candidates) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  auto gp = GaussianProcess::Create(d, {}, Hyper(d), Data(d, n));
  const Eigen::MatrixXd x = (Eigen::MatrixXd::Random(d, candidates).array() + 1.0) * 0.5;
  for (auto _ : state) {
    Prediction p = gp->Predict(x);
    benchmark::DoNotOptimize(p.variance.data());
  }
  SetCounters(state, d, n);
}

void BM_Predict1000(benchmark::State& state) { Predict(state, 1000); }

// The fewest candidates GaussianProcess::Predict solves for by blocks
// (SolveLower in core/triangular_solve.h): where that must not lose to dtrsm.
void BM_Predict128(benchmark::State& state) { Predict(state, 128); }

// One point's mean, variance and their gradients: what each step of the
// acquisition's refinement costs (a suggestion takes a few hundred).
void BM_PredictWithGradients(benchmark::State& state) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  auto gp = GaussianProcess::Create(d, {}, Hyper(d), Data(d, n));
  const Eigen::VectorXd x = (Eigen::VectorXd::Random(d).array() + 1.0) * 0.5;
  double mean = 0.0, variance = 0.0;
  Eigen::VectorXd mean_gradient, variance_gradient;
  for (auto _ : state) {
    gp->PredictWithGradients(x, &mean, &variance, &mean_gradient, &variance_gradient);
    benchmark::DoNotOptimize(variance_gradient.data());
  }
  SetCounters(state, d, n);
}

// The posterior with gradients at 1000 points (a model's report at every
// completed trial, as GetBest and Predict give): one point at a time, and
// batched (many right-hand sides per triangular solve).
void GradientsAt1000(benchmark::State& state, bool batched) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  auto gp = GaussianProcess::Create(d, {}, Hyper(d), Data(d, n));
  const Eigen::MatrixXd x = (Eigen::MatrixXd::Random(d, 1000).array() + 1.0) * 0.5;
  Eigen::VectorXd means, variances;
  Eigen::MatrixXd mean_gradients, variance_gradients;
  double mean = 0.0, variance = 0.0;
  Eigen::VectorXd mean_gradient, variance_gradient;
  for (auto _ : state) {
    if (batched) {
      gp->PredictWithGradients(x, &means, &variances, &mean_gradients,
                               &variance_gradients);
      benchmark::DoNotOptimize(variance_gradients.data());
      continue;
    }
    for (int c = 0; c < x.cols(); ++c) {
      gp->PredictWithGradients(x.col(c), &mean, &variance, &mean_gradient,
                               &variance_gradient);
      benchmark::DoNotOptimize(variance_gradient.data());
    }
  }
  SetCounters(state, d, n);
}

void BM_GradientsAt1000Singly(benchmark::State& state) { GradientsAt1000(state, false); }
void BM_GradientsAt1000Batched(benchmark::State& state) { GradientsAt1000(state, true); }

void BM_LogLikelihoodWithGradient(benchmark::State& state) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  auto gp = GaussianProcess::Create(d, {}, Hyper(d), Data(d, n));
  Eigen::VectorXd gradient;
  for (auto _ : state) benchmark::DoNotOptimize(gp->LogMarginalLikelihood(&gradient));
  SetCounters(state, d, n);
}

void BM_Refit(benchmark::State& state) {
  const int d = state.range(0), n = PointsFor(d, state.range(1));
  const std::vector<GpPoint> points = Data(d, n);
  FitOptions options;
  options.starts = 3;
  options.max_evaluations = 20;
  options.warm_start = Hyper(d);
  int evaluations = 0;
  for (auto _ : state) {
    auto fit = FitGaussianProcess(d, {}, points, options);
    if (!fit.ok()) {
      state.SkipWithError("fit failed");
      break;
    }
    evaluations = fit->report.evaluations;
  }
  SetCounters(state, d, n);
  state.counters["evaluations"] = evaluations;
}

// d = 10, N about 1000, 2000 and 4000, and from 1 to 127 columns: where
// SolveLower takes panels (bench/gp/panel_solve.md).
void ColumnSizes(benchmark::internal::Benchmark* b) {
  for (int rows : {1000, 2000, 4000}) {
    for (int columns : {1, 2, 4, 8, 11, 16, 21, 24, 32, 64, 127})
      b->Args({10, rows, columns});
  }
  b->Unit(benchmark::kMillisecond);
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int d : {2, 10, 20}) {
    for (int rows : {500, 1000, 2000, 4000}) b->Args({d, rows});
  }
  b->Args({10, 2200});  // The prediction target: n = 200 gradient points in 10-D.
  b->Unit(benchmark::kMillisecond);
}

void SmallSizes(benchmark::internal::Benchmark* b) {
  for (int d : {2, 10, 20}) {
    for (int rows : {500, 1000}) b->Args({d, rows});
  }
  b->Unit(benchmark::kMillisecond)->Iterations(1);
}

BENCHMARK(BM_EigenLlt)->Apply(Sizes);
BENCHMARK(BM_Dpotrf)->Apply(Sizes);
BENCHMARK(BM_BuildAndFactorize)->Apply(Sizes);
BENCHMARK(BM_DtrsmFloor)->Apply(Sizes);
BENCHMARK(BM_SolveByBlocks)->Apply(Sizes);
BENCHMARK(BM_DtrmmWithInverse)->Apply(Sizes);
BENCHMARK(BM_Dtrtri)->Apply(Sizes);
BENCHMARK(BM_AddSolveDtrsm)->Apply(Sizes);
BENCHMARK(BM_AddSolveByPanels)->Apply(Sizes);
BENCHMARK(BM_AddSolveByPanelsAvx2)->Apply(Sizes);
BENCHMARK(BM_AddSolveByPanelsSse2)->Apply(Sizes);
BENCHMARK(BM_ColumnsDtrsm)->Apply(ColumnSizes);
BENCHMARK(BM_ColumnsByPanels)->Apply(ColumnSizes);
BENCHMARK(BM_IncrementalAdd)->Apply(Sizes);
BENCHMARK(BM_AddFloor)->Apply(Sizes);
BENCHMARK(BM_Predict1000)->Apply(Sizes);
BENCHMARK(BM_Predict128)->Apply(Sizes);
BENCHMARK(BM_PredictWithGradients)->Apply(Sizes);
BENCHMARK(BM_LogLikelihoodWithGradient)->Apply(Sizes);
BENCHMARK(BM_GradientsAt1000Singly)->Apply(Sizes);
BENCHMARK(BM_GradientsAt1000Batched)->Apply(Sizes);
// A refit costs (starts x evaluations) likelihoods: measured where it is
// affordable; at N = 4000 one likelihood already takes seconds.
BENCHMARK(BM_Refit)->Apply(SmallSizes);

}  // namespace
}  // namespace lago::core

extern "C" char* openblas_get_corename(void);

// The results name the CPU and the kernels OpenBLAS runs on it (its own choice
// or OPENBLAS_CORETYPE's), which bench/gp/summarize.py reports.
int main(int argc, char** argv) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      benchmark::AddCustomContext("cpu_model", line.substr(line.find(':') + 2));
      break;
    }
  }
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
