// Process-wide heap policy for programs that run the engine (the nst command, the benchmarks).
#pragma once

namespace nst {

// Keeps freed memory in the process for reuse instead of handing it back to the kernel.
//
// Every L-BFGS evaluation frees and reallocates the same feature maps and gradients, many of
// them larger than 32 MiB. glibc serves such blocks with mmap and unmaps them on free, so each
// evaluation page-faults (and zero-fills) hundreds of MiB afresh. With this policy the blocks
// come from the heap and are reused: at 512², 1 thread, an iteration went from 1.32 s to 1.19 s
// and the minor faults of 8 iterations from 1.28 million to 0.19 million (benchmarks/RESULTS.md,
// session 5). The peak is unchanged when the same sizes are freed and reallocated in the same
// order, as in an untiled run. A tiled run's crops differ in size and fragment a heap that never
// gives memory back (2048x1536 under --max-memory 3G peaked at 3.32 GiB with it), so nst leaves
// the policy off for tiled runs, whose memory estimate assumes freed blocks go back.
//
// It changes the whole process's allocator (glibc's mallopt), so the library never calls it
// itself: a program opts in before its first evaluation. Returns false where it has no effect
// (not glibc).
bool retain_freed_memory();

}  // namespace nst
