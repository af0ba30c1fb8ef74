// Kernel sets: the hot loops (GEMM micro-kernels, Winograd transforms, max-pool rows,
// half-precision vector loops) compiled once per instruction set, each in its own file with its
// own flags (src/kernels/isa_*.cpp), and one of them chosen once at run time from the CPU's features:
// AVX-512 (F, VL, BW, DQ) if the CPU has it, else AVX2 + FMA + F16C, else the portable set
// (plain C++ and Eigen, whatever the build's baseline gives). The ops call the kernels through
// nst/kernels/*.h and never name an instruction set; adding one (NEON, a new x86 generation)
// is one more isa_*.cpp and one more entry here.
//
// Bits: the AVX2 and AVX-512 sets give identical results (each GEMM element is one FMA chain
// over k in order; the transforms are the same additions and multiplications, compiled
// without contraction). The portable set rounds differently (no FMA in the GEMM), so its
// results differ in the last bits. Within a set, results are identical for any thread count.
#pragma once

#include <string>

namespace nst::kernels {

enum class KernelSet { Portable, Avx2, Avx512 };

// "portable", "avx2", "avx512".
const char* kernel_set_name(KernelSet set);
// The set named `name` (as above); throws std::invalid_argument naming the accepted names.
KernelSet kernel_set_from_name(const std::string& name);
// True when the set is compiled into this build and this CPU (and OS) can run it.
bool kernel_set_available(KernelSet set);
// The fastest available set: what runs unless use_kernel_set chose another.
KernelSet best_kernel_set();
// The set the kernels run now.
KernelSet active_kernel_set();
// Runs the kernels of `set` from now on (benchmarks, tests, a front end's option); throws
// std::invalid_argument, naming the set, when it is not available. Not to be called while
// kernels run on other threads.
void use_kernel_set(KernelSet set);

}  // namespace nst::kernels
