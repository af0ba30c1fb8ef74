// Process-wide heap policy for programs that run the engine (the nst command, the benchmarks).
#pragma once

namespace nst {

// Keeps freed memory in the process for reuse instead of handing it back to the kernel.
//
// Every L-BFGS evaluation frees and reallocates the same feature maps and gradients, many of
// them larger than 32 MiB. glibc serves such blocks with mmap and unmaps them on free, so each
// evaluation page-faults (and zero-fills) hundreds of MiB afresh. With this policy the blocks
// come from the heap and are reused: at 512², 1 thread, an iteration went from 3.8 s to 3.2 s
// and system time from 11 s to 0.6 s (benchmarks/RESULTS.md). Peak memory is unchanged in
// practice, since the same sizes are freed and reallocated in the same order.
//
// It changes the whole process's allocator (glibc's mallopt), so the library never calls it
// itself: a program opts in at start-up. Returns false where it has no effect (not glibc).
bool retain_freed_memory();

}  // namespace nst
