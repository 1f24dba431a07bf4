#include "server/auth.h"

#include <fstream>

#include "client/cpp/lago_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/server/test_util.h"

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

// The C++ client's token through a real server: roles decide what it may do.
TEST(AuthTest, TheCppClientCarriesItsToken) {
  lago::testing::TempDir dir;
  const std::string tokens = dir.path() + "/tokens";
  std::ofstream(tokens) << "read-write writer-0123456789abcdef\n"
                           "read-only reader-0123456789abcdef\n";
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.db_path = dir.path() + "/lago.db";
  options.token_file = tokens;
  auto server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->SecuritySummary(), "plaintext, 2 tokens");
  const std::string address = "127.0.0.1:" + std::to_string((*server)->port());
  auto client_with = [&](const std::string& token) {
    client::ClientOptions o;
    o.token = token;
    o.max_attempts = 1;
    return client::Client::Create(address, o);
  };
  v1::StudySpec spec;
  v1::Parameter* x = spec.add_parameters();
  x->set_name("x");
  x->set_lower(0.0);
  x->set_upper(1.0);
  spec.set_strategy("sobol");

  auto writer = client_with("writer-0123456789abcdef");
  ASSERT_TRUE(writer->CreateStudy("s", spec).ok());
  auto reader = client_with("reader-0123456789abcdef");
  v1::ListStudiesRequest list;
  EXPECT_TRUE(reader->ListStudies(list).ok());
  EXPECT_EQ(reader->Suggest("s", 1, "").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(client_with("")->ListStudies(list).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(client_with("wrong-0123456789abcdef")->ListStudies(list).status().code(),
            absl::StatusCode::kUnauthenticated);
  (*server)->Shutdown(absl::Seconds(1));
  (*server)->Wait();
}

TEST(AuthTest, PlaintextBeyondLoopbackNeedsConsent) {
  lago::testing::TempDir dir;
  ServerOptions options;
  options.listen_address = "0.0.0.0:0";
  options.db_path = dir.path() + "/lago.db";
  auto refused = Server::Start(options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--allow-insecure"));
  options.tls_client_ca_file = "ca.pem";
  options.allow_insecure = true;
  EXPECT_THAT(std::string(Server::Start(options).status().message()),
              HasSubstr("client certificates need TLS"));
}

}  // namespace
}  // namespace lago::server
