// RETURN_IF_ERROR and ASSIGN_OR_RETURN: Debian 12's Abseil (20220623) has no
// status macros of its own.
#ifndef LAGO_CORE_STATUS_MACROS_H_
#define LAGO_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LAGO_STATUS_CONCAT_INNER_(a, b) a##b
#define LAGO_STATUS_CONCAT_(a, b) LAGO_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status lago_status_ = (expr);        \
    if (!lago_status_.ok()) return lago_status_; \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, F());` assigns the value of the StatusOr F() to x,
// or returns its status from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(LAGO_STATUS_CONCAT_(lago_statusor_, __LINE__), lhs, rexpr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                           \
  if (!statusor.ok()) return statusor.status();      \
  lhs = std::move(statusor).value()

#endif  // LAGO_CORE_STATUS_MACROS_H_
