#include "server/auth.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace lago::server {
namespace {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 512;

bool ConstantTimeEqual(absl::string_view a, absl::string_view b) {
  // The length of a token is not a secret worth hiding; its bytes are.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

bool PrintableWithoutSpace(absl::string_view s) {
  for (char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text,
                                             absl::string_view source) {
  TokenTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, " line ", line_number, ": ", why));
    };
    if (fields.size() != 2) {
      return bad("expected \"<role> <token>\" (role read-only or read-write)");
    }
    Role role;
    if (fields[0] == "read-only") {
      role = Role::kReadOnly;
    } else if (fields[0] == "read-write") {
      role = Role::kReadWrite;
    } else {
      return bad(absl::StrCat("role \"", fields[0], "\" is not read-only or read-write"));
    }
    const absl::string_view token = fields[1];
    if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength ||
        !PrintableWithoutSpace(token)) {
      return bad(absl::StrCat("the token must be ", kMinTokenLength, " to ",
                              kMaxTokenLength, " printable characters"));
    }
    if (table.Find(token).has_value()) return bad("the token repeats an earlier one");
    table.entries_.push_back({std::string(token), role});
  }
  if (table.entries_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no tokens"));
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the tokens file ", path));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

std::optional<Role> TokenTable::Find(absl::string_view token) const {
  std::optional<Role> found;
  for (const Entry& e : entries_) {
    if (ConstantTimeEqual(e.token, token)) found = e.role;
  }
  return found;
}

absl::Status Authorize(const TokenTable& tokens, absl::string_view authorization,
                       absl::string_view method, bool changes_data) {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "no token: send the metadata \"authorization: Bearer <token>\"");
  }
  absl::string_view token = authorization;
  if (!absl::ConsumePrefix(&token, "Bearer ") &&
      !absl::ConsumePrefix(&token, "bearer ")) {
    return absl::UnauthenticatedError(
        "the authorization metadata is not \"Bearer <token>\"");
  }
  const std::optional<Role> role = tokens.Find(absl::StripAsciiWhitespace(token));
  if (!role.has_value()) return absl::UnauthenticatedError("the token is not known");
  if (changes_data && *role == Role::kReadOnly) {
    return absl::PermissionDeniedError(
        absl::StrCat(method, " changes data; the token is read-only"));
  }
  return absl::OkStatus();
}

bool IsLoopbackAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:")) return true;
  // host:port, [v6]:port.
  absl::string_view host = address;
  if (absl::ConsumePrefix(&host, "[")) {
    host = host.substr(0, host.find(']'));
  } else {
    host = host.substr(0, host.rfind(':'));
  }
  if (host == "localhost" || host == "::1") return true;
  return absl::StartsWith(host, "127.");
}

}  // namespace lago::server
