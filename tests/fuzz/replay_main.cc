// Runs the service fuzz target without libFuzzer, for the test suite and any
// compiler: every file of the corpus folders, then `--mutations N` mutated
// copies of them made with a fixed seed (byte flips, inserted and erased
// bytes, splices), so a regression found by fuzzing stays found.
//
//   service_fuzzer_replay [--mutations N] [--write-seeds DIR] CORPUS_DIR...
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tests/fuzz/service_fuzzer.h"

namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string Mutate(const std::string& input, const std::vector<std::string>& corpus,
                   std::mt19937_64& rng) {
  std::string s = input;
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t pos = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 4) {
      case 0:
        if (!s.empty()) s[pos] = static_cast<char>(s[pos] ^ (1u << (rng() % 8)));
        break;
      case 1:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<char>(rng()));
        break;
      case 2:
        if (!s.empty()) s.erase(pos, 1 + rng() % 4);
        break;
      default: {
        const std::string& other = corpus[rng() % corpus.size()];
        if (!other.empty()) s = s.substr(0, pos) + other.substr(rng() % other.size());
        break;
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int mutations = 0;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mutations" && i + 1 < argc) {
      mutations = std::atoi(argv[++i]);
    } else if (arg == "--write-seeds" && i + 1 < argc) {
      const std::filesystem::path dir = argv[++i];
      std::filesystem::create_directories(dir);
      int n = 0;
      for (const std::string& p : lago::fuzz::SeedPrograms()) {
        std::ofstream(dir / ("seed-" + std::to_string(n++)), std::ios::binary) << p;
      }
      std::printf("wrote %d seed programs to %s\n", n, dir.c_str());
      return 0;
    } else {
      dirs.push_back(arg);
    }
  }
  std::vector<std::string> corpus;
  for (const std::string& dir : dirs) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.is_regular_file()) corpus.push_back(ReadFile(entry.path()));
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "service_fuzzer_replay: no corpus files in the given folders\n");
    return 2;
  }
  for (const std::string& input : corpus) {
    lago::fuzz::RunProgram(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::mt19937_64 rng(20261122);
  for (int i = 0; i < mutations; ++i) {
    const std::string input = Mutate(corpus[rng() % corpus.size()], corpus, rng);
    lago::fuzz::RunProgram(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::printf(
      "service_fuzzer_replay: %zu corpus inputs and %d mutations, no broken invariant\n",
      corpus.size(), mutations);
  return 0;
}
