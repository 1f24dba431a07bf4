#include "core/kernel.h"

#include <random>

#include "gtest/gtest.h"

namespace lago::core {
namespace {

// Central differences with step h have truncation error O(h^2 f''') ~ 1e-12 and
// rounding error O(eps / h) ~ 1e-10 for the O(1) quantities here; 1e-6 relative
// (with an absolute floor for entries near zero) leaves a wide margin while
// still catching any sign or factor slip, which is O(1).
constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-6;

void ExpectClose(double analytic, double numeric, const std::string& what) {
  EXPECT_NEAR(analytic, numeric, kTolerance * std::max(1.0, std::abs(numeric))) << what;
}

Eigen::VectorXd RandomVector(std::mt19937_64& rng, int d, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  Eigen::VectorXd v(d);
  for (int i = 0; i < d; ++i) v[i] = u(rng);
  return v;
}

double Value(const Kernel& k, const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  Eigen::MatrixXd out(1, 1);
  k.Covariance(a, false, b, false, out);
  return out(0, 0);
}

Eigen::MatrixXd Full(const Kernel& k, const Eigen::VectorXd& a,
                     const Eigen::VectorXd& b) {
  Eigen::MatrixXd out(k.Outputs(true), k.Outputs(true));
  k.Covariance(a, true, b, true, out);
  return out;
}

struct Case {
  KernelType type;
  const char* name;
};
const Case kCases[] = {{KernelType::kMatern52, "matern52"},
                       {KernelType::kSquaredExponential, "se"}};

// Pairs of points: far apart, close together (small r), and identical (r = 0).
std::vector<std::pair<Eigen::VectorXd, Eigen::VectorXd>> Pairs(int d) {
  std::mt19937_64 rng(11);
  std::vector<std::pair<Eigen::VectorXd, Eigen::VectorXd>> pairs;
  for (int i = 0; i < 4; ++i) {
    pairs.emplace_back(RandomVector(rng, d, 0, 1), RandomVector(rng, d, 0, 1));
  }
  Eigen::VectorXd a = RandomVector(rng, d, 0, 1);
  pairs.emplace_back(a, a + RandomVector(rng, d, -1e-3, 1e-3));
  pairs.emplace_back(a, a);
  return pairs;
}

TEST(KernelTest, GradientBlocksMatchFiniteDifferences) {
  const int d = 3;
  for (const Case& c : kCases) {
    Kernel k(c.type, Eigen::Vector3d(0.3, 0.7, 1.9), 1.7);
    for (const auto& [a, b] : Pairs(d)) {
      const Eigen::MatrixXd full = Full(k, a, b);
      for (int j = 0; j < d; ++j) {
        Eigen::VectorXd e = Eigen::VectorXd::Unit(d, j) * kStep;
        // cov(f(a), d_j f(b)) = dk/db_j and cov(d_j f(a), f(b)) = dk/da_j.
        ExpectClose(full(0, 1 + j),
                    (Value(k, a, b + e) - Value(k, a, b - e)) / (2 * kStep),
                    std::string(c.name) + " value-gradient");
        ExpectClose(full(1 + j, 0),
                    (Value(k, a + e, b) - Value(k, a - e, b)) / (2 * kStep),
                    std::string(c.name) + " gradient-value");
        // cov(d_i f(a), d_j f(b)) = d/da_i of cov(f(a), d_j f(b)).
        for (int i = 0; i < d; ++i) {
          Eigen::VectorXd ei = Eigen::VectorXd::Unit(d, i) * kStep;
          const double numeric =
              (Full(k, a + ei, b)(0, 1 + j) - Full(k, a - ei, b)(0, 1 + j)) / (2 * kStep);
          ExpectClose(full(1 + i, 1 + j), numeric,
                      std::string(c.name) + " gradient-gradient");
        }
      }
    }
  }
}

TEST(KernelTest, MaternBlocksAtZeroDistanceHaveTheirClosedForm) {
  // At r = 0: k = s2, cov(f, grad f) = 0, cov(grad f, grad f) = (5/3) s2 Lambda.
  Kernel k(KernelType::kMatern52, Eigen::Vector2d(0.5, 2.0), 3.0);
  Eigen::Vector2d a(0.1, 0.9);
  Eigen::MatrixXd full = Full(k, a, a);
  EXPECT_DOUBLE_EQ(full(0, 0), 3.0);
  EXPECT_EQ(full(0, 1), 0.0);
  EXPECT_EQ(full(2, 0), 0.0);
  EXPECT_DOUBLE_EQ(full(1, 1), 5.0 / 3.0 * 3.0 / 0.25);
  EXPECT_DOUBLE_EQ(full(2, 2), 5.0 / 3.0 * 3.0 / 4.0);
  EXPECT_EQ(full(1, 2), 0.0);
}

TEST(KernelTest, HyperparameterDerivativesMatchFiniteDifferences) {
  const int d = 3;
  std::mt19937_64 rng(5);
  const Eigen::VectorXd log_l =
      Eigen::Vector3d(std::log(0.3), std::log(0.8), std::log(1.5));
  const double log_s2 = std::log(1.3);
  for (const Case& c : kCases) {
    for (const auto& [a, b] : Pairs(d)) {
      for (bool ag : {false, true}) {
        for (bool bg : {false, true}) {
          Kernel k(c.type, log_l.array().exp(), std::exp(log_s2));
          Eigen::MatrixXd w = Eigen::MatrixXd::Zero(k.Outputs(ag), k.Outputs(bg));
          for (int r = 0; r < w.rows(); ++r) {
            for (int s = 0; s < w.cols(); ++s) w(r, s) = RandomVector(rng, 1, -1, 1)[0];
          }
          Eigen::VectorXd analytic = Eigen::VectorXd::Zero(d + 1);
          k.AccumulateHyperGradient(a, ag, b, bg, w, analytic);
          auto objective = [&](const Eigen::VectorXd& theta) {
            Kernel kt(c.type, theta.head(d).array().exp(), std::exp(theta(d)));
            Eigen::MatrixXd block(w.rows(), w.cols());
            kt.Covariance(a, ag, b, bg, block);
            return (w.array() * block.array()).sum();
          };
          Eigen::VectorXd theta(d + 1);
          theta << log_l, log_s2;
          for (int m = 0; m <= d; ++m) {
            Eigen::VectorXd e = Eigen::VectorXd::Unit(d + 1, m) * kStep;
            ExpectClose(analytic(m),
                        (objective(theta + e) - objective(theta - e)) / (2 * kStep),
                        std::string(c.name) + " theta " + std::to_string(m) +
                            (ag ? " a-grad" : "") + (bg ? " b-grad" : ""));
          }
        }
      }
    }
  }
}

TEST(KernelTest, ValueHessianMatchesFiniteDifferencesOfTheGradientBlocks) {
  const int d = 3;
  std::mt19937_64 rng(9);
  for (const Case& c : kCases) {
    Kernel k(c.type, Eigen::Vector3d(0.4, 0.9, 0.6), 0.8);
    for (const auto& [a, b] : Pairs(d)) {
      for (bool bg : {false, true}) {
        const Eigen::VectorXd w = RandomVector(rng, k.Outputs(bg), -1, 1);
        Eigen::MatrixXd analytic = Eigen::MatrixXd::Zero(d, d);
        k.AccumulateValueHessian(a, b, bg, w, analytic);
        // Row x of the Hessian: d/da of sum_c w_c cov(d_x f(a), output_c(b)).
        auto first = [&](const Eigen::VectorXd& at) {
          Eigen::MatrixXd block(k.Outputs(true), k.Outputs(bg));
          k.Covariance(at, true, b, bg, block);
          return Eigen::VectorXd(block.bottomRows(d) * w);
        };
        for (int y = 0; y < d; ++y) {
          Eigen::VectorXd e = Eigen::VectorXd::Unit(d, y) * kStep;
          const Eigen::VectorXd column = (first(a + e) - first(a - e)) / (2 * kStep);
          for (int x = 0; x < d; ++x) {
            ExpectClose(analytic(x, y), column(x), std::string(c.name) + " hessian");
          }
        }
        EXPECT_TRUE(analytic.isApprox(analytic.transpose(), 1e-12)) << "symmetric";
      }
    }
  }
}

}  // namespace
}  // namespace lago::core

namespace lago::core {
namespace {

TEST(KernelTest, BatchedCovarianceWithValuesEqualsThePairwiseBlocks) {
  std::mt19937_64 rng(21);
  for (const Case& c : kCases) {
    Kernel k(c.type, Eigen::Vector3d(0.3, 0.7, 1.9), 1.7);
    const Eigen::VectorXd a = RandomVector(rng, 3, 0, 1);
    Eigen::MatrixXd x(3, 6);
    for (int j = 0; j < 5; ++j) x.col(j) = RandomVector(rng, 3, 0, 1);
    x.col(5) = a;  // r = 0
    for (bool ag : {false, true}) {
      Eigen::MatrixXd batched(k.Outputs(ag), 6);
      k.CovarianceWithValues(a, ag, x, batched);
      for (int j = 0; j < 6; ++j) {
        Eigen::MatrixXd block(k.Outputs(ag), 1);
        k.Covariance(a, ag, x.col(j), false, block);
        EXPECT_LT((batched.col(j) - block).cwiseAbs().maxCoeff(), 1e-14)
            << c.name << " " << j;
      }
    }
  }
}

}  // namespace
}  // namespace lago::core
