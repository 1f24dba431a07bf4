#include "tests/server/test_util.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace lago::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr ? base : "/tmp") + "/lago-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string DumpDatabase(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  std::vector<std::string> tables;
  SQLite::Statement list(
      db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  while (list.executeStep()) tables.push_back(list.getColumn(0).getString());
  std::string out;
  for (const std::string& table : tables) {
    out += "== " + table + "\n";
    SQLite::Statement rows(db, "SELECT * FROM \"" + table + "\" ORDER BY rowid");
    while (rows.executeStep()) {
      for (int i = 0; i < rows.getColumnCount(); ++i) {
        SQLite::Column c = rows.getColumn(i);
        out += c.isNull() ? "NULL" : c.isBlob() ? "blob:" + c.getString() : c.getString();
        out += "|";
      }
      out += "\n";
    }
  }
  return out;
}

PostgresSession::PostgresSession(const std::string& uri) {
  PGconn* conn = PQconnectdb(uri.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string reason = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("cannot connect to " + uri + ": " + reason);
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  conn_ = conn;
}

PostgresSession::~PostgresSession() { PQfinish(static_cast<PGconn*>(conn_)); }

std::vector<std::string> PostgresSession::Column(const std::string& sql) {
  PGresult* result = PQexec(static_cast<PGconn*>(conn_), sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  std::vector<std::string> out;
  if (status == PGRES_TUPLES_OK) {
    for (int row = 0; row < PQntuples(result); ++row)
      out.emplace_back(PQgetvalue(result, row, 0));
  }
  const std::string error = PQresultErrorMessage(result);
  PQclear(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error(sql + ": " + error);
  }
  return out;
}

namespace {

std::vector<std::string> RunSql(const std::string& uri, const std::string& sql) {
  return PostgresSession(uri).Column(sql);
}

}  // namespace

std::unique_ptr<PostgresDatabase> PostgresDatabase::Create(std::string* why) {
  const char* file = std::getenv("LAGO_TEST_POSTGRES_URI_FILE");
  if (file == nullptr) {
    *why =
        "no PostgreSQL test server: run under ctest, or start one with "
        "tests/postgres/test_server.sh and set LAGO_TEST_POSTGRES_URI_FILE";
    return nullptr;
  }
  std::ifstream in(file);
  std::string admin;
  if (!(in >> admin)) {
    *why = std::string("cannot read the PostgreSQL test server's URI from ") + file;
    return nullptr;
  }
  static std::atomic<int> counter{0};
  const std::string name = "lago_test_" + std::to_string(::getpid()) + "_" +
                           std::to_string(counter.fetch_add(1));
  try {
    RunSql(admin, "DROP DATABASE IF EXISTS " + name);
    RunSql(admin, "CREATE DATABASE " + name);
  } catch (const std::exception& e) {
    *why = e.what();
    return nullptr;
  }
  // The admin URI ends in "/postgres".
  const std::string uri = admin.substr(0, admin.rfind('/') + 1) + name;
  return std::unique_ptr<PostgresDatabase>(new PostgresDatabase(admin, name, uri));
}

PostgresDatabase::PostgresDatabase(std::string admin_uri, std::string name,
                                   std::string uri)
    : admin_uri_(std::move(admin_uri)), name_(std::move(name)), uri_(std::move(uri)) {}

PostgresDatabase::~PostgresDatabase() {
  try {
    RunSql(admin_uri_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The server stops at the end of the run and takes the database with it.
  }
}

std::vector<std::string> PostgresDatabase::Column(const std::string& sql) const {
  return RunSql(uri_, sql);
}

}  // namespace lago::testing
