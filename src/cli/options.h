// The nst command's options: parsing (no file-system access, fuzzable) and the checks of
// paths that must pass before any heavy work.
#pragma once

#include "nst/style/memory_plan.h"
#include "nst/style/stylize.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace nst::cli {

// Exit codes (sysexits.h where one fits).
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 64,      // bad option
  kExitDataErr = 65,    // bad image or weights data
  kExitNoInput = 66,    // an input file is missing or unreadable
  kExitSoftware = 70,   // internal error
  kExitOsErr = 71,      // out of memory, or the run's memory estimate exceeds --max-memory
  kExitCantCreat = 73,  // cannot create the output
  kExitIoErr = 74,      // I/O error
  kExitSigInt = 130,
  kExitSigTerm = 143,
};

// A bad command line; what() is one line naming the option.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A missing or unreadable input file; what() names it.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// An output that cannot be created; what() names it.
struct OutputPathError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string content;
  std::vector<std::string> styles;
  std::vector<std::string> style_masks;  // --style-mask, one per style
  std::string output;
  std::string weights;  // resolved: --weights, else $NST_WEIGHTS, else weights/vgg19.safetensors
  int size = 512;
  double style_scale = 1.0;
  std::string init = "random";  // random | content | a file
  int print_every = 50;
  int save_every = 0;
  std::string loss_log;
  int threads = 0;  // 0: OpenMP's default (all cores)
  int jpeg_quality = 95;
  int bit_depth = 8;  // of PNG output: 8 or 16
  bool overwrite = false;
  int64_t max_side = 16384;
  int64_t max_pixels = 89478485;
  int64_t max_memory = -1;  // bytes; -1: MemAvailable of /proc/meminfo (no limit if unknown); 0: no limit
  bool lbfgs_history_given = false;  // --lbfgs-history on the command line: never reduced to fit
  bool tile_given = false;           // --tile on the command line: never chosen to fit
  std::string checkpoint;    // --checkpoint: where the run's state is saved ("" = never)
  int checkpoint_every = 50;
  std::string resume;        // --resume: the checkpoint to continue from
  double time_limit = -1;   // seconds; < 0: none. Stop at the first iteration boundary after it
  StylizeSettings settings;
  // Batch mode (`nst batch` or --batch; cli/batch.h): --content is a directory or a list file,
  // --output a directory.
  bool batch = false;
  bool skip_existing = false;
  bool keep_going = false;
  int shard_index = 0, shard_count = 1;
  bool shard_auto = false;  // --shard auto/N: main.cpp reads the index from the scheduler's variable
  std::string events;       // --events FILE, or "-" for stdout
  std::vector<std::string> args;  // the command line as given (for the batch settings record)
};

// Parses argv (args[0] is the program name). Throws UsageError; returns false after printing
// --help or --version to `out`. `env_weights` is $NST_WEIGHTS (null if unset).
bool parse_options(const std::vector<std::string>& args, const char* env_weights, Options& opt,
                   std::string& out);

// A SettingsError as the command line says it: the field's flag and the reason.
std::string describe(const SettingsError& e);

// Checks the inputs exist and are regular readable files (InputError), and the outputs can be
// created (OutputPathError): directory exists and is writable, not an input, not an existing
// file without --overwrite.
void check_paths(const Options& opt);

// --shard "I/N" or "auto/N" into opt.shard_index/shard_count/shard_auto; throws UsageError.
void parse_shard(const std::string& text, Options& opt);

// "8G", "512M", "1.5GiB", "100000" -> bytes (K, M, G, T are powers of 1024; an optional "B" or
// "iB" may follow). Throws UsageError naming `option` for anything else, negative or > 2^62.
int64_t parse_byte_size(const std::string& option, const std::string& text);

// "30m", "45s", "2h", "1.5h", "0s" -> seconds. Throws UsageError naming `option` for anything
// else (a unit is required), negative, or over 10 years.
double parse_duration(const std::string& option, const std::string& text);

// How the memory plan's notes name what overrides it (nst/style/memory_plan.h): these options.
inline const MemoryPlanNames kPlanNames{"--tile N", "--lbfgs-history N"};

// MemAvailable from /proc/meminfo in bytes; -1 if it cannot be read.
int64_t available_memory_bytes();

// "out.png" + 100 -> "out_0100.png" (the --save-every names).
std::string numbered_path(const std::string& path, int iteration, int width);

}  // namespace nst::cli
