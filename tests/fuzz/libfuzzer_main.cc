// libFuzzer's entry point (clang -fsanitize=fuzzer).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/service_fuzzer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lago::fuzz::RunProgram(data, size);
  return 0;
}
