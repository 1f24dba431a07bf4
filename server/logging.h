// A small logging shim: Debian 12's Abseil has no absl/log. Lines go to stderr
// as "<UTC time> <LEVEL> <message>", one write per line, thread-safe.
#ifndef LAGO_SERVER_LOGGING_H_
#define LAGO_SERVER_LOGGING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace lago::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// False for a name other than debug, info, warning, error.
bool ParseLogLevel(absl::string_view name, LogLevel* level);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, absl::string_view message);

}  // namespace lago::server

#endif  // LAGO_SERVER_LOGGING_H_
