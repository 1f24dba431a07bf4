// Helpers for tests that need a temporary folder or a look inside a database.
#ifndef LAGO_TESTS_SERVER_TEST_UTIL_H_
#define LAGO_TESTS_SERVER_TEST_UTIL_H_

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace lago::testing {

// A fresh folder under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Every row of every table of the SQLite database at `path`, as text, read
// through a separate read-only connection: equal dumps mean equal contents.
std::string DumpDatabase(const std::string& path);

// One connection to a PostgreSQL database, kept open (to hold a lock, say).
class PostgresSession {
 public:
  // Throws std::runtime_error when the connection fails.
  explicit PostgresSession(const std::string& uri);
  ~PostgresSession();
  PostgresSession(const PostgresSession&) = delete;
  PostgresSession& operator=(const PostgresSession&) = delete;
  // The first column of every row `sql` returns, as text ("" for NULL);
  // throws std::runtime_error when the statement fails.
  std::vector<std::string> Column(const std::string& sql);

 private:
  void* conn_;  // PGconn
};

// A new, empty PostgreSQL database on the test server that
// tests/postgres/test_server.sh started (ctest's fixture "postgres" names its
// URI in the file LAGO_TEST_POSTGRES_URI_FILE), dropped by the destructor.
class PostgresDatabase {
 public:
  // nullptr, and `why` says so, when no test server is configured or it
  // cannot be reached.
  static std::unique_ptr<PostgresDatabase> Create(std::string* why);
  ~PostgresDatabase();

  // postgresql://... of this database.
  const std::string& uri() const { return uri_; }
  // The first column of every row `sql` returns, as text ("" for NULL);
  // throws std::runtime_error when the statement fails.
  std::vector<std::string> Column(const std::string& sql) const;

 private:
  PostgresDatabase(std::string admin_uri, std::string name, std::string uri);
  const std::string admin_uri_;
  const std::string name_;
  const std::string uri_;
};

// Skips the test, or fails it when CI is set, when there is no PostgreSQL test
// server; use in SetUp as LAGO_REQUIRE_POSTGRES(db_) with a
// std::unique_ptr<PostgresDatabase> db_.
#define LAGO_REQUIRE_POSTGRES(db)                                         \
  do {                                                                    \
    std::string lago_postgres_why;                                        \
    (db) = ::lago::testing::PostgresDatabase::Create(&lago_postgres_why); \
    if ((db) == nullptr) {                                                \
      if (std::getenv("CI") != nullptr) FAIL() << lago_postgres_why;      \
      GTEST_SKIP() << lago_postgres_why;                                  \
    }                                                                     \
  } while (false)

}  // namespace lago::testing

#endif  // LAGO_TESTS_SERVER_TEST_UTIL_H_
