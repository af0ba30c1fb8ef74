#include "cli/batch.h"

#include "cli/progress.h"
#include "nst/heap.h"
#include "nst/io/atomic_file.h"
#include "nst/io/image.h"
#include "nst/model/vgg19.h"
#include "nst/nst.h"
#include "nst/style/memory_estimate.h"
#include "nst/style/memory_plan.h"
#include "nst/style/stylize.h"
#include "nst/threads.h"

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

namespace nst::cli {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_image_name(const std::string& path) {
  const std::string ext = lower(fs::path(path).extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

// FNV-1a, 64 bits: a checksum to notice changes, not a cryptographic hash.
struct Fnv {
  uint64_t h = 14695981039346656037ull;
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void add(const std::string& s) {
    add(s.data(), s.size());
    add("\0", 1);  // a separator, so ("ab","c") and ("a","bc") differ
  }
};

// The bytes of a file into the hash; throws InputError naming it.
void add_file(Fnv& f, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot read: " + std::strerror(errno));
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    f.add(buf, static_cast<size_t>(in.gcount()));
  }
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// JSON Lines to a file (appended, one write per line, so shards may share it) or stdout.
class Events {
 public:
  explicit Events(const std::string& target) {
    if (target.empty()) return;
    if (target == "-") {
      f_ = stdout;
      return;
    }
    f_ = std::fopen(target.c_str(), "a");
    if (!f_) throw OutputPathError(target + ": cannot open the events file: " + std::strerror(errno));
    own_ = true;
  }
  ~Events() {
    if (own_) std::fclose(f_);
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  void emit(nlohmann::json e) {
    if (!f_) return;
    const std::string line = e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(line.data(), 1, line.size(), f_);
    std::fflush(f_);
  }

 private:
  std::FILE* f_ = nullptr;
  bool own_ = false;
};

// The record next to an output: {"settings": hash, "state": "writing"|"done", "bytes": n}.
std::string record_path(const std::string& output) { return output + ".nst.json"; }

struct Record {
  bool present = false;
  std::string settings, state;
  int64_t bytes = -1;
};

Record read_record(const std::string& output) {
  Record r;
  std::ifstream in(record_path(output), std::ios::binary);
  if (!in) return r;
  r.present = true;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    r.settings = j.value("settings", "");
    r.state = j.value("state", "");
    r.bytes = j.value("bytes", int64_t{-1});
  } catch (const std::exception&) {
    // ours (by its name) but unreadable: stale
  }
  return r;
}

void write_record(const std::string& output, const std::string& input, const std::string& settings,
                  const std::string& state, int64_t bytes) {
  const nlohmann::json j = {{"nst", NST_VERSION_STRING}, {"input", input}, {"settings", settings},
                            {"state", state}, {"bytes", bytes}};
  const std::string text = j.dump() + "\n";
  write_file_atomically(record_path(output), std::vector<unsigned char>(text.begin(), text.end()), true);
}

// An item that failed for a reason with no exception type of its own.
struct ItemFailure : std::runtime_error {
  ItemFailure(int exit_code, const std::string& message) : std::runtime_error(message), code(exit_code) {}
  int code;
};

int64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? static_cast<int64_t>(st.st_size) : -1;
}

}  // namespace

std::vector<std::string> list_batch_inputs(const std::string& dir_or_list) {
  std::vector<std::string> out;
  std::error_code ec;
  if (fs::is_directory(dir_or_list, ec)) {
    for (const auto& e : fs::directory_iterator(dir_or_list, ec))
      if (e.is_regular_file(ec) && is_image_name(e.path().string())) out.push_back(e.path().string());
    if (ec) throw InputError(dir_or_list + ": cannot list the directory: " + ec.message());
  } else {
    std::ifstream in(dir_or_list);
    if (!in) throw InputError(dir_or_list + ": cannot open the content list: " + std::strerror(errno));
    const fs::path base = fs::path(dir_or_list).parent_path();
    std::string line;
    while (std::getline(in, line)) {
      line.erase(0, line.find_first_not_of(" \t\r"));
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (line.empty() || line[0] == '#') continue;
      out.push_back(fs::path(line).is_absolute() || base.empty() ? line : (base / line).string());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.empty()) throw InputError(dir_or_list + ": no content images (.png, .jpg, .jpeg, .bmp) found");
  return out;
}

std::vector<std::string> shard_slice(const std::vector<std::string>& sorted, int index, int count) {
  std::vector<std::string> out;
  for (size_t i = static_cast<size_t>(index); i < sorted.size(); i += static_cast<size_t>(count)) out.push_back(sorted[i]);
  return out;
}

uint64_t item_seed(uint64_t seed, const std::string& input) {
  Fnv f;
  f.add(fs::path(input).filename().string());
  // splitmix64 of seed ^ name hash: nearby seeds and similar names give unrelated streams.
  uint64_t z = seed ^ f.h;
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string batch_output_path(const std::string& output_dir, const std::string& input) {
  return (fs::path(output_dir) / (fs::path(input).stem().string() + ".png")).string();
}

std::string settings_key(const std::vector<std::string>& args) {
  static const std::set<std::string> flags{"--skip-existing", "--keep-going", "--overwrite", "--batch"};
  static const std::set<std::string> with_value{"--shard", "--events", "--threads", "--print-every", "--content",
                                                "--output"};
  std::string key;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    const std::string name = a.substr(0, a.find('='));
    if (i == 1 && a == "batch") continue;
    if (flags.count(name)) continue;
    if (with_value.count(name)) {
      if (a.find('=') == std::string::npos) ++i;  // its value is the next argument
      continue;
    }
    key += a;
    key += '\n';
  }
  return key;
}

int run_batch(const Options& opt, const std::function<bool()>& stop,
              const std::function<int(std::string& message)>& exit_code_of,
              const std::function<int()>& stopped_code) {
  const std::vector<std::string> all = list_batch_inputs(opt.content);
  const std::vector<std::string> mine = shard_slice(all, opt.shard_index, opt.shard_count);
  std::set<std::string> outputs;
  for (const std::string& in : all)
    if (!outputs.insert(batch_output_path(opt.output, in)).second)
      throw UsageError("--content " + opt.content + ": two inputs would both be written to " +
                       batch_output_path(opt.output, in) + "; rename one");
  struct stat st {};
  if (::stat(opt.output.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw OutputPathError(opt.output + ": the output directory does not exist");
  Events events(opt.events);
  const ThreadCountScope threads(opt.threads);
  // The heap policy of nst/heap.h, as nst does for an untiled run: only where no item can be
  // tiled (no --tile, and no --max-memory to plan against).
  if (opt.max_memory <= 0 && opt.settings.tile == 0) retain_freed_memory();

  // Everything shared by the items: styles, init image, weights, and their part of the hash.
  ImageLimits limits;
  limits.max_side = opt.max_side;
  limits.max_pixels = opt.max_pixels;
  Options first = opt;
  first.content = mine.empty() ? all.front() : mine.front();
  first.output = batch_output_path(opt.output, first.content);
  first.overwrite = true;  // only the shared inputs are checked here
  check_paths(first);
  std::vector<Image> styles;
  const int style_side = static_cast<int>(std::lround(opt.style_scale * opt.size));
  Fnv shared;
  shared.add(NST_VERSION_STRING);
  shared.add(settings_key(opt.args));
  for (const std::string& s : opt.styles) {
    styles.push_back(resize_longest_side(load_image(s, limits), style_side));
    add_file(shared, s);
  }
  StylizeSettings base = opt.settings;
  if (base.init == InitMode::Image) {
    base.init_image = load_image(opt.init, limits);
    add_file(shared, opt.init);
  }
  for (size_t i = 0; i < opt.style_masks.size(); ++i) {
    base.style_masks[i] = load_image(opt.style_masks[i], limits);
    add_file(shared, opt.style_masks[i]);
  }
  if (::stat(opt.weights.c_str(), &st) == 0) {
    shared.add(std::to_string(st.st_size) + "@" + std::to_string(st.st_mtim.tv_sec) + "." +
               std::to_string(st.st_mtim.tv_nsec));
  }
  const Vgg<float> net = load_vgg(opt.weights, model_use(base));  // what every item reads (model_use)
  std::fprintf(stderr, "nst: batch of %zu input%s (shard %d/%d: %zu), %d iterations each, %d threads, weights %s\n",
               all.size(), all.size() == 1 ? "" : "s", opt.shard_index, opt.shard_count, mine.size(),
               opt.settings.iterations, current_thread_count(), opt.weights.c_str());

  int done = 0, skipped = 0, failed = 0, first_failure = 0;
  for (size_t k = 0; k < mine.size(); ++k) {
    if (stop()) break;
    const std::string& input = mine[k];
    const std::string output = batch_output_path(opt.output, input);
    const auto started = std::chrono::steady_clock::now();
    try {
      Fnv item = shared;
      add_file(item, input);
      const uint64_t seed = item_seed(opt.settings.seed, input);
      item.add(std::to_string(seed));
      const std::string hash = hex(item.h);
      const Record rec = read_record(output);
      if (opt.skip_existing && rec.present && rec.settings == hash && rec.state == "done" &&
          rec.bytes == file_size(output)) {
        ++skipped;
        events.emit({{"event", "done"}, {"input", input}, {"output", output}, {"status", "skipped"}});
        std::fprintf(stderr, "nst: [%zu/%zu] %s: up to date, skipped\n", k + 1, mine.size(), output.c_str());
        continue;
      }
      Options o = opt;
      o.content = input;
      o.output = output;
      // An output with our record is ours to replace (stale settings, or an interrupted write).
      o.overwrite = opt.overwrite || (opt.skip_existing && rec.present);
      check_paths(o);
      events.emit({{"event", "start"}, {"input", input}, {"output", output}, {"index", k}, {"count", mine.size()}});
      std::fprintf(stderr, "nst: [%zu/%zu] %s -> %s\n", k + 1, mine.size(), input.c_str(), output.c_str());
      const Image content = resize_longest_side(load_image(input, limits), opt.size);
      StylizeSettings settings = base;
      settings.seed = seed;
      if (opt.max_memory > 0) {  // as nst does (nst/style/memory_plan.h): tiles, then fewer L-BFGS pairs
        int64_t sh = 1, sw = 1;
        for (const Image& s : styles)
          if (int64_t{s.width} * s.height > sh * sw) sh = s.height, sw = s.width;
        const MemoryPlan plan = plan_memory(content.height, content.width, sh, sw, settings, opt.max_memory,
                                            opt.tile_given, opt.lbfgs_history_given, kPlanNames);
        if (!plan.fits)
          throw ItemFailure(kExitOsErr, "needs about " + format_bytes(plan.need.total()) + ", more than --max-memory " +
                                            format_bytes(opt.max_memory));
        for (const std::string& note : plan.notes) std::fprintf(stderr, "nst: [%zu/%zu] %s\n", k + 1, mine.size(), note.c_str());
        if (settings.tile > 0)
          std::fprintf(stderr, "nst: [%zu/%zu] %s\n", k + 1, mine.size(),
                       describe_tiling(content.height, content.width, settings, *net.network).c_str());
      }
      ProgressReporter progress(stderr, false, opt.print_every);
      StylizeCallbacks cb;
      cb.cancelled = stop;
      cb.interrupt = stop;
      cb.on_iteration = [&](const StylizeProgress& p, const std::function<Image()>&) {
        progress.update(p);
        if (opt.print_every > 0 && (p.iteration % opt.print_every == 0 || p.iteration == 1 || p.iteration == p.iterations)) {
          const double eta = p.iteration > 0 ? p.seconds / p.iteration * (p.iterations - p.iteration) : 0;
          events.emit({{"event", "progress"}, {"input", input}, {"iteration", p.iteration}, {"iterations", p.iterations},
                       {"loss", p.terms.total}, {"content", p.terms.content}, {"style", p.terms.style},
                       {"tv", p.terms.tv}, {"elapsed", p.seconds}, {"eta", eta}});
        }
        return true;
      };
      const StylizeResult result = stylize(net, content, styles, settings, cb);
      if (stop()) {
        events.emit({{"event", "error"}, {"input", input}, {"output", output}, {"status", "interrupted"},
                     {"message", "interrupted; nothing written"}});
        break;
      }
      if (!std::isfinite(result.optimizer.best_loss))
        throw ItemFailure(kExitSoftware, "no finite image was ever computed (" + result.optimizer.message + ")");
      write_record(output, input, hash, "writing", -1);
      save_image(result.image, output, {opt.jpeg_quality, true});
      write_record(output, input, hash, "done", file_size(output));
      ++done;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      events.emit({{"event", "done"}, {"input", input}, {"output", output}, {"status", "ok"},
                   {"iterations", result.optimizer.iterations}, {"loss", result.best.total}, {"elapsed", secs}});
      std::fprintf(stderr, "nst: [%zu/%zu] wrote %s (loss %.4e, %.1f s)\n", k + 1, mine.size(), output.c_str(),
                   result.best.total, secs);
    } catch (...) {
      std::string message;
      int code = 0;
      try {
        throw;
      } catch (const ItemFailure& e) {
        code = e.code;
        message = e.what();
      } catch (...) {
        code = exit_code_of(message);
      }
      ++failed;
      if (!first_failure) first_failure = code;
      events.emit({{"event", "error"}, {"input", input}, {"output", output}, {"status", "error"}, {"message", message}});
      std::fprintf(stderr, "nst: [%zu/%zu] %s: %s\n", k + 1, mine.size(), input.c_str(), message.c_str());
      if (!opt.keep_going) break;
    }
  }
  std::fprintf(stderr, "nst: batch: %d written, %d skipped, %d failed, of %zu in this shard\n", done, skipped, failed,
               mine.size());
  if (stop()) return stopped_code();
  return first_failure;
}

}  // namespace nst::cli
