// Bearer tokens with roles, read from a file, checked on every Lago call.
//
// The file has one token per line, "<role> <token>", where role is
// read-only or read-write; blank lines and lines starting with '#' are
// skipped. A token is 16 to 512 printable ASCII characters without spaces.
// Clients send "authorization: Bearer <token>" metadata. No message, log
// line or error ever contains a token.
#ifndef LAGO_SERVER_AUTH_H_
#define LAGO_SERVER_AUTH_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lago::server {

enum class Role { kReadOnly, kReadWrite };

class TokenTable {
 public:
  // INVALID_ARGUMENT naming `source` and the line for a malformed line, an
  // unknown role, a repeated token or a file without tokens.
  static absl::StatusOr<TokenTable> Parse(absl::string_view text,
                                          absl::string_view source);
  // As Parse; NOT_FOUND when the file cannot be read.
  static absl::StatusOr<TokenTable> Load(const std::string& path);

  // The role of `token`, comparing against every known token in time that
  // does not depend on where the first difference is.
  std::optional<Role> Find(absl::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string token;
    Role role;
  };
  std::vector<Entry> entries_;
};

// OK when `authorization` (the metadata value, empty when absent) carries a
// known token whose role may call `method`; UNAUTHENTICATED for a missing or
// unknown token, PERMISSION_DENIED for a read-only token on a call that
// changes data.
absl::Status Authorize(const TokenTable& tokens, absl::string_view authorization,
                       absl::string_view method, bool changes_data);

// Whether a listen address only accepts connections from this machine
// (127.0.0.0/8, ::1, localhost, a unix socket).
bool IsLoopbackAddress(absl::string_view listen_address);

}  // namespace lago::server

#endif  // LAGO_SERVER_AUTH_H_
