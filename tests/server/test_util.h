// Helpers for tests that need a temporary folder or a look inside a database.
#ifndef LAGO_TESTS_SERVER_TEST_UTIL_H_
#define LAGO_TESTS_SERVER_TEST_UTIL_H_

#include <string>

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

}  // namespace lago::testing

#endif  // LAGO_TESTS_SERVER_TEST_UTIL_H_
