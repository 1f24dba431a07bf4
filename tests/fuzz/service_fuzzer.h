// A fuzz target over the request handlers of StudyService (the transport-free
// service behind every RPC), on a real SQLite file.
//
// Input: a program of calls, each [op: 1 byte][length: 2 bytes, little
// endian][payload: length bytes]. For ops 0-11 the payload is the binary
// protobuf of that RPC's request (an unparseable one is skipped); op 12
// moves the clock by payload[0] * 10 s (leases expire); op 13 restarts the
// service on the same file. Mutated requests reach the handlers as they would
// through gRPC.
//
// Invariants, checked after every call (a violation aborts):
//   - no handler returns a code that user input must not produce (INTERNAL,
//     UNKNOWN, ...);
//   - every study's trial ids are dense from 1, points lie inside the box,
//     results are finite, and the study's counts match its trials;
//   - a restarted service (a fresh read of the file) shows exactly what the
//     running one showed: nothing acknowledged is lost, nothing half-written.
#ifndef LAGO_TESTS_FUZZ_SERVICE_FUZZER_H_
#define LAGO_TESTS_FUZZ_SERVICE_FUZZER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lago::fuzz {

// Runs one program; aborts with a message on a broken invariant.
void RunProgram(const uint8_t* data, size_t size);

// Well-formed programs that exercise every handler: the seed corpus.
std::vector<std::string> SeedPrograms();

}  // namespace lago::fuzz

#endif  // LAGO_TESTS_FUZZ_SERVICE_FUZZER_H_
