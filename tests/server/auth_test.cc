#include "server/auth.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lago::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(AuthTest, TokensHaveRolesAndEveryCallIsChecked) {
  auto table = TokenTable::Parse(
      "# comment\n\nread-write  aaaaaaaaaaaaaaaa1\n\tread-only bbbbbbbbbbbbbbbb2\n", "t");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 2u);
  EXPECT_EQ(table->Find("aaaaaaaaaaaaaaaa1"), Role::kReadWrite);
  EXPECT_EQ(table->Find("bbbbbbbbbbbbbbbb2"), Role::kReadOnly);
  EXPECT_FALSE(table->Find("aaaaaaaaaaaaaaaa").has_value());

  EXPECT_TRUE(Authorize(*table, "Bearer aaaaaaaaaaaaaaaa1", "ObserveTrial", true).ok());
  EXPECT_TRUE(Authorize(*table, "Bearer bbbbbbbbbbbbbbbb2", "GetStudy", false).ok());
  EXPECT_EQ(Authorize(*table, "Bearer bbbbbbbbbbbbbbbb2", "ObserveTrial", true).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Authorize(*table, "", "GetStudy", false).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Authorize(*table, "aaaaaaaaaaaaaaaa1", "GetStudy", false).code(),
            absl::StatusCode::kUnauthenticated);
  const absl::Status wrong =
      Authorize(*table, "Bearer cccccccccccccccc3", "GetStudy", false);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(wrong.message()), Not(HasSubstr("cccc")));
}

TEST(AuthTest, MalformedTokenFilesNameTheLineNotTheToken) {
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {"read-write\n", "t line 1: expected \"<role> <token>\""},
      {"read-write aaaaaaaaaaaaaaaa1\nadmin secretsecretsecret9\n",
       "t line 2: role \"admin\" is not read-only or read-write"},
      {"read-only short\n", "t line 1: the token must be 16 to 512 printable characters"},
      {"read-only aaaaaaaaaaaaaaaa1\nread-write aaaaaaaaaaaaaaaa1\n",
       "t line 2: the token repeats an earlier one"},
      {"# nothing\n", "t: no tokens"},
  };
  for (const auto& c : cases) {
    auto table = TokenTable::Parse(c.text, "t");
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(table.status().message()), HasSubstr(c.message));
  }
}

TEST(AuthTest, LoopbackAddresses) {
  for (const char* a : {"127.0.0.1:50051", "127.1.2.3:0", "localhost:1", "[::1]:50051",
                        "unix:/run/lago.sock"}) {
    EXPECT_TRUE(IsLoopbackAddress(a)) << a;
  }
  for (const char* a :
       {"0.0.0.0:50051", "[::]:50051", "10.0.0.5:1", "lab-host:50051", "128.0.0.1:1"}) {
    EXPECT_FALSE(IsLoopbackAddress(a)) << a;
  }
}

}  // namespace
}  // namespace lago::server
