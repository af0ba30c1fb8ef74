#include "cli/options.h"

#include "nst/io/regular_file.h"
#include "nst/kernels/kernel_set.h"
#include "nst/nst.h"

#include <CLI/CLI.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

namespace nst::cli {

namespace {

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) throw UsageError("empty name in list \"" + s + "\"");
    out.push_back(item);
  }
  return out;
}

std::vector<double> parse_numbers(const std::string& option, const std::string& s) {
  std::vector<double> out;
  for (const std::string& item : split_list(s)) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0' || errno == ERANGE)
      throw UsageError(option + ": \"" + item + "\" is not a number");
    out.push_back(v);
  }
  return out;
}

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

std::string lower_extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

// The name of `value` in a flag's value map (for --help's defaults, read from the structs).
template <class E>
std::string name_of(const std::map<std::string, E>& names, E value) {
  for (const auto& [name, v] : names)
    if (v == value) return name;
  return "";
}

// A flag whose value is one of `names`, stored in `field` as the named value; the default shown
// is the field's current value.
template <class E>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, E& field, const std::map<std::string, E>& names,
                        const std::string& help) {
  std::vector<std::string> keys;
  for (const auto& kv : names) keys.push_back(kv.first);
  return app
      .add_option_function<std::string>(
          flag, [&field, names](const std::string& v) { field = names.at(v); }, help)
      ->check(CLI::IsMember(keys))
      ->default_str(name_of(names, field));
}

// Each StylizeSettings field the command line sets, and its flag.
const std::map<std::string, std::string>& flag_of_field() {
  static const std::map<std::string, std::string> m = {
      {"loss.content_layers", "--content-layers"},
      {"loss.style_layers", "--style-layers"},
      {"loss.style_layer_weights", "--style-layer-weights"},
      {"loss.content_weight", "--content-weight"},
      {"loss.style_weight", "--style-weight"},
      {"loss.tv_weight", "--tv-weight"},
      {"style_blend", "--style-blend"},
      {"iterations", "--iterations"},
      {"lbfgs_history", "--lbfgs-history"},
      {"line_search", "--line-search"},
      {"learning_rate", "--learning-rate"},
      {"loss.normalize_gradients", "--normalize-gradients"},
      {"init", "--init"},
      {"start_size", "--start-size"},
      {"size", "--size"},
      {"scale_iterations", "--scale-iterations"},
      {"style_masks", "--style-mask"},
      {"clamp", "--clamp"},
      {"loss.loss_scale", "--loss-scale"},
      {"tile", "--tile"},
  };
  return m;
}

}  // namespace

std::string describe(const SettingsError& e) {
  const auto& flags = flag_of_field();
  const auto it = flags.find(e.field());
  return it == flags.end() ? e.what() : it->second + ": " + e.reason();
}

bool parse_options(const std::vector<std::string>& args, const char* env_weights, Options& opt, std::string& out) {
  CLI::App app{"nst: neural style transfer (Gatys, Ecker & Bethge 2015) on the CPU.\n"
               "Paints the content image in the style of the style image(s) by optimizing its pixels\n"
               "with L-BFGS (or Adam) so that its VGG19 (or VGG16) features match the content and its Gram\n"
               "matrices the style. The network is the one the --weights file holds.",
               "nst"};
  app.set_version_flag("--version", std::string("nst " NST_VERSION_STRING ", kernels: ") +
                                         kernels::kernel_set_name(kernels::active_kernel_set()));
  StylizeSettings& settings = opt.settings;
  GatysConfig& loss = settings.loss;
  // Defaults come from the structs; only the text forms are made here.
  std::string content_layers = join(loss.content_layers), style_layers = join(loss.style_layers);
  std::string style_layer_weights, style_blend, weights, max_memory;
  const std::map<std::string, Pooling> poolings{{"max", Pooling::Max}, {"avg", Pooling::Avg}};
  const std::map<std::string, HistoryPrecision> precisions{{"half", HistoryPrecision::Half},
                                                           {"float", HistoryPrecision::Float}};
  const std::map<std::string, Optimizer> optimizers{{"lbfgs", Optimizer::Lbfgs}, {"adam", Optimizer::Adam}};
  const std::map<std::string, ColorMatch> color_matches{{"none", ColorMatch::None},
                                                        {"pca", ColorMatch::Pca},
                                                        {"chol", ColorMatch::Cholesky},
                                                        {"sym", ColorMatch::Symmetric}};
  opt.init = to_string(settings.init);
  const std::map<std::string, StepPair> step_pairs{{"displacement", StepPair::Displacement},
                                                   {"td", StepPair::Direction}};
  bool reference = false;
  std::string loss_scale = "classic";

  app.add_option("--content", opt.content, "Content image (PNG, JPEG, WebP or BMP); its alpha and ICC profile go to the output")->required();
  app.add_option("--style", opt.styles, "Style image; repeat for several")->required();
  app.add_option("--style-blend", style_blend, "Comma-separated weights of the style images (normalized; default equal)");
  app.add_option("--output", opt.output, "Output image: .png, .jpg/.jpeg or .webp")->required();
  app.add_option("--size", opt.size, "Longest side of the output in pixels")->capture_default_str();
  app.add_option("--style-scale", opt.style_scale, "Style images' longest side as a multiple of --size")->capture_default_str();
  app.add_option("--iterations", settings.iterations, "Optimizer iterations (with --start-size: at the final scale)")->capture_default_str();
  app.add_option("--content-weight", loss.content_weight, "Weight of the content loss")->capture_default_str();
  app.add_option("--style-weight", loss.style_weight, "Weight of the style loss")->capture_default_str();
  app.add_option("--tv-weight", loss.tv_weight, "Weight of the total-variation loss")->capture_default_str();
  app.add_option("--content-layers", content_layers, "Comma-separated content layers (VGG19: conv1_1..conv5_4, relu.., pool1..pool5; VGG16: ..5_3)")->capture_default_str();
  app.add_option("--style-layers", style_layers, "Comma-separated style layers")->capture_default_str();
  app.add_option("--style-layer-weights", style_layer_weights, "Comma-separated weight per style layer (default 1 each)");
  app.add_option("--init", opt.init,
                 "Initial image: random, content, style (the first style image), or an image file")
      ->capture_default_str();
  app.add_option("--seed", settings.seed, "Seed of the random initial image")->capture_default_str()->check(CLI::NonNegativeNumber);
  add_choice(app, "--pooling", loss.pooling, poolings, "Pooling layers: max or avg");
  add_choice(app, "--optimizer", settings.optimizer, optimizers, "Optimizer: lbfgs or adam (neural-style's two)");
  auto* line_search = app.add_flag("--line-search", settings.line_search,
                                   "L-BFGS: use a strong Wolfe line search (default: fixed step, as neural-style); "
                                   "not with --normalize-gradients");
  auto* lbfgs_history = app.add_option("--lbfgs-history", settings.lbfgs_history, "L-BFGS history size")->capture_default_str();
  auto* lbfgs_precision = add_choice(app, "--lbfgs-precision", settings.lbfgs_precision, precisions,
                                    "How L-BFGS stores its history: half (half the memory) or float");
  auto* learning_rate = app.add_option("--learning-rate", settings.learning_rate,
                                       "Adam's step size in 0..255 pixel units (neural-style's units)")
                            ->capture_default_str();
  app.add_flag("--normalize-gradients", loss.normalize_gradients,
               "Divide each loss term's gradient by its L1 norm, times its weight (neural-style); "
               "incompatible with --line-search");
  app.add_flag("--original-colors", settings.original_colors,
               "Keep the content's colours: the output's luminance with the content's chrominance (YUV)");
  add_choice(app, "--color-match", settings.color_match, color_matches,
             "Map each style image's colours onto the content's before optimizing (Gatys et al. 2017)");
  app.add_option("--start-size", settings.start_size,
                                    "Multi-scale: longest side of the first scale; sizes grow by sqrt(2) up to "
                                    "--size (0: one scale)")
                         ->capture_default_str();
  auto* scale_iterations = app.add_option("--scale-iterations", settings.scale_iterations,
                                          "Multi-scale: iterations at each scale below the final one (which runs "
                                          "--iterations)")
                               ->capture_default_str();
  app.add_option("--style-mask", opt.style_masks,
                 "Grayscale mask (white: where the style applies), one per --style in order");
  auto* lbfgs_s = add_choice(app, "--lbfgs-s", settings.lbfgs_step_pair, step_pairs,
             "How L-BFGS forms s of a curvature pair: displacement (x_new - x_old in float) or td (s = t*d, as "
             "torch.optim.LBFGS)");
  bool clamp_on = true;  // given: On or Off; not given: the library's Auto
  auto* clamp = app.add_flag("--clamp,!--no-clamp", clamp_on,
               "Keep every pixel in 0..255 while optimizing (box-constrained L-BFGS), so the saved image is what "
               "was optimized; on unless --line-search or --reference (--no-clamp: unbounded, as neural-style)");
  app.add_option("--loss-scale", loss_scale,
                 "classic: neural-style's losses; relative: each term divided by its target's squared norm, TV "
                 "a mean over the pixels in 0..1 units, so one balance fits any weights file, not any size (its "
                 "default weights: content " +
                     num(kRelativeContentWeight) + ", style " + num(kRelativeStyleWeight) + ", tv " +
                     num(kRelativeTvWeight) + ")")
      ->check(CLI::IsMember({"classic", "relative"}))
      ->capture_default_str();
  app.add_flag("--reference", reference,
               "Reproduce torch.optim.LBFGS with direct convolutions: exact (im2col) convolutions, float L-BFGS "
               "history, s = t*d, no clamp (overrides --lbfgs-precision, --lbfgs-s and --clamp)");
  app.add_option("--threads", opt.threads, "Worker threads (0: all cores)")->capture_default_str()->check(CLI::Range(0, 1024));
  app.add_option("--weights", weights, "VGG19 or VGG16 safetensors file, told apart by its tensors or `model` metadata "
                 "(default: $NST_WEIGHTS, then weights/vgg19.safetensors)");
  app.add_option("--print-every", opt.print_every, "Print progress every N iterations when not on a terminal (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--save-every", opt.save_every, "Write the image every N iterations as OUTPUT_NNNN.ext (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--loss-log", opt.loss_log, "Write the loss of every iteration to this CSV file");
  app.add_option("--jpeg-quality", opt.jpeg_quality, "Quality of JPEG and WebP output, 1..100")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--bit-depth", opt.bit_depth, "Bits per sample of PNG output: 8 or 16")->capture_default_str();
  app.add_flag("--overwrite", opt.overwrite, "Replace existing output files");
  app.add_option("--max-side", opt.max_side, "Largest input image side accepted")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-pixels", opt.max_pixels, "Largest input image pixel count accepted")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--checkpoint", opt.checkpoint,
                 "Save the whole run's state to this file every --checkpoint-every iterations, at the end and "
                 "on SIGINT/SIGTERM (safetensors)");
  app.add_option("--checkpoint-every", opt.checkpoint_every, "Iterations between checkpoints")->capture_default_str();
  app.add_option("--resume", opt.resume,
                 "Continue the run saved in this checkpoint (same settings and inputs; --iterations may grow)");
  std::string time_limit;
  app.add_option("--time-limit", time_limit,
                 "Stop at the first iteration boundary after this much time (30m, 45s, 2h) and write the best image");
  app.add_option("--max-memory", max_memory,
                 "Refuse a run whose estimated peak memory exceeds this many bytes (suffixes K, M, G, T; "
                 "0: no limit; default: the machine's available memory)");
  app.add_option("--tile", settings.tile,
                 "Evaluate the loss in tiles of about N pixels a side: the same result to float rounding in less "
                 "memory and more time (0: the whole image; default: tiles only when the run does not fit the memory)");

  std::string shard;
  app.add_flag("--batch", opt.batch,
               "Batch mode (also `nst batch ...`): --content is a directory or a list file, --output a directory");
  app.add_flag("--skip-existing", opt.skip_existing, "Batch: skip outputs already made with the same settings");
  app.add_flag("--keep-going", opt.keep_going, "Batch: after a failed input, go on with the others");
  app.add_option("--shard", shard, "Batch: I/N takes inputs I, I+N, ... of the sorted list; auto/N takes I from "
                                   "$SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX");
  app.add_option("--events", opt.events, "Batch: write JSON Lines events to this file (appended), or - for stdout");

  opt.args = args;
  std::vector<std::string> rev(args.rbegin(), args.rend());
  if (!rev.empty()) rev.pop_back();  // program name
  if (!rev.empty() && rev.back() == "batch") {  // `nst batch ...`
    rev.pop_back();
    rev.push_back("--batch");
  }
  try {
    app.parse(rev);
  } catch (const CLI::CallForHelp&) {
    out = app.help();
    return false;
  } catch (const CLI::CallForVersion&) {
    out = app.version() + "\n";
    return false;
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    msg.erase(std::remove(msg.begin(), msg.end(), '\n'), msg.end());
    throw UsageError(msg);
  }

  // Flags to fields (syntax only); the library's validate() judges the values.
  loss.content_layers = content_layers.empty() ? std::vector<std::string>{} : split_list(content_layers);
  loss.style_layers = style_layers.empty() ? std::vector<std::string>{} : split_list(style_layers);
  if (!style_layer_weights.empty()) loss.style_layer_weights = parse_numbers("--style-layer-weights", style_layer_weights);
  if (!style_blend.empty()) settings.style_blend = parse_numbers("--style-blend", style_blend);
  if (clamp->count()) settings.clamp = clamp_on ? Clamp::On : Clamp::Off;
  if (reference) set_reference_mode(settings);
  if (loss_scale == "relative") {  // its own calibrated weights, unless given
    const GatysConfig given = loss;
    use_relative_scale(loss);
    if (app.count("--content-weight") > 0) loss.content_weight = given.content_weight;
    if (app.count("--style-weight") > 0) loss.style_weight = given.style_weight;
    if (app.count("--tv-weight") > 0) loss.tv_weight = given.tv_weight;
  }
  settings.init = InitMode::Image;
  for (InitMode m : {InitMode::Random, InitMode::Content, InitMode::Style})
    if (opt.init == to_string(m)) settings.init = m;
  settings.style_masks.assign(opt.style_masks.size(), Image{});  // loaded by the front end later
  // Flags that belong to the other optimizer, or to multi-scale, have no effect: refuse them.
  if (settings.optimizer == Optimizer::Lbfgs && learning_rate->count())
    throw UsageError("--learning-rate is an Adam option; add --optimizer adam (L-BFGS takes a fixed step)");
  if (settings.optimizer == Optimizer::Adam)
    for (const CLI::Option* o : {line_search, lbfgs_history, lbfgs_precision, lbfgs_s, clamp})
      if (o->count()) throw UsageError(o->get_name() + " is an L-BFGS option; the optimizer is adam");
  if (scale_iterations->count() && settings.start_size == 0)
    throw UsageError("--scale-iterations needs --start-size (multi-scale)");
  try {
    validate(settings, vgg19_network(), static_cast<int64_t>(opt.styles.size()), opt.size);
  } catch (const SettingsError& e) {
    throw UsageError(describe(e));
  }

  // The command line's own options.
  require(opt.size >= 1 && opt.size <= opt.max_side,
          "--size must be in 1.." + std::to_string(opt.max_side) + ", got " + std::to_string(opt.size));
  std::vector<std::string> layers = loss.content_layers;
  layers.insert(layers.end(), loss.style_layers.begin(), loss.style_layers.end());
  const int64_t min_side = min_side_for_layers(layers);
  require(opt.size >= min_side, "--size " + std::to_string(opt.size) + " is too small for the chosen layers (need >= " +
                                    std::to_string(min_side) + ")");
  require(std::isfinite(opt.style_scale) && opt.style_scale > 0, "--style-scale must be a finite number > 0");
  const double style_side = std::round(opt.style_scale * opt.size);
  require(style_side >= static_cast<double>(min_side) && style_side <= static_cast<double>(opt.max_side),
          "--style-scale " + std::to_string(opt.style_scale) + " gives style images a side of " +
              std::to_string(static_cast<int64_t>(style_side)) + ", outside " + std::to_string(min_side) + ".." +
              std::to_string(opt.max_side));
  if (!max_memory.empty()) opt.max_memory = parse_byte_size("--max-memory", max_memory);
  opt.lbfgs_history_given = app.count("--lbfgs-history") > 0;
  opt.tile_given = app.count("--tile") > 0;
  require(opt.checkpoint_every >= 1, "--checkpoint-every must be >= 1, got " + std::to_string(opt.checkpoint_every));
  require(app.count("--checkpoint") == 0 || !opt.checkpoint.empty(), "--checkpoint: empty file name");
  require(app.count("--resume") == 0 || !opt.resume.empty(), "--resume: empty file name");
  if (app.count("--time-limit") > 0) opt.time_limit = parse_duration("--time-limit", time_limit);

  require(opt.bit_depth == 8 || opt.bit_depth == 16, "--bit-depth must be 8 or 16, got " + std::to_string(opt.bit_depth));
  opt.settings.saved_bit_depth = opt.bit_depth;
  if (!opt.batch) {
    const std::string ext = lower_extension(opt.output);
    require(ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".webp",
            "--output " + opt.output + ": unsupported format (use .png, .jpg, .jpeg or .webp)");
    require(opt.bit_depth == 8 || ext == ".png", "--bit-depth 16 needs a .png --output (JPEG and WebP store 8 bits)");
    require(shard.empty() && opt.events.empty() && !opt.skip_existing && !opt.keep_going,
            "--shard, --events, --skip-existing and --keep-going need batch mode (nst batch)");
  } else {
    require(opt.save_every == 0 && opt.loss_log.empty(), "--save-every and --loss-log are not available in batch mode");
  }
  if (!shard.empty()) parse_shard(shard, opt);
  if (!opt.loss_log.empty()) require(lower_extension(opt.loss_log) == ".csv", "--loss-log " + opt.loss_log + ": must end in .csv");

  opt.weights = !weights.empty() ? weights : (env_weights && *env_weights ? env_weights : "weights/vgg19.safetensors");
  return true;
}

namespace {

// Opens (and closes) the input: a regular file we can read (nst/io/regular_file.h).
void check_input(const std::string& what, const std::string& path) {
  try {
    const RegularFile file(path);
  } catch (const FileError& e) {
    throw InputError(path + ": cannot open " + what + ": " + e.reason);
  }
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (stat(a.c_str(), &sa) != 0 || stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void check_output(const std::string& what, const std::string& path, bool overwrite, const std::vector<std::string>& inputs) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw OutputPathError(path + ": cannot create " + what + ": directory " + dir + " does not exist");
  if (access(dir.c_str(), W_OK) != 0)
    throw OutputPathError(path + ": cannot create " + what + ": directory " + dir + " is not writable");
  for (const std::string& in : inputs)
    if (in == path || same_file(in, path))
      throw OutputPathError(path + ": " + what + " is also an input file; choose another name");
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw OutputPathError(path + ": " + what + " is a directory");
    if (!overwrite) throw OutputPathError(path + ": " + what + " exists; pass --overwrite to replace it");
  }
}

}  // namespace

void check_paths(const Options& opt) {
  check_input("content image", opt.content);
  for (const std::string& s : opt.styles) check_input("style image", s);
  for (const std::string& m : opt.style_masks) check_input("style mask", m);
  if (opt.settings.init == InitMode::Image) check_input("--init image", opt.init);
  if (access(opt.weights.c_str(), F_OK) != 0)
    throw InputError(opt.weights + ": weights file not found; hint: pass --weights FILE or set NST_WEIGHTS "
                     "(weights/download_vgg19.sh fetches one)");
  check_input("weights file", opt.weights);
  std::vector<std::string> inputs{opt.content, opt.weights};
  inputs.insert(inputs.end(), opt.styles.begin(), opt.styles.end());
  inputs.insert(inputs.end(), opt.style_masks.begin(), opt.style_masks.end());
  if (opt.settings.init == InitMode::Image) inputs.push_back(opt.init);
  check_output("output", opt.output, opt.overwrite, inputs);
  if (!opt.resume.empty()) {
    check_input("checkpoint to resume", opt.resume);
    for (const std::string& out : {opt.output, opt.loss_log})
      if (!out.empty() && (out == opt.resume || same_file(out, opt.resume)))
        throw OutputPathError(out + ": is the checkpoint to resume; choose another name");
  }
  if (!opt.checkpoint.empty()) {
    // Replacing the checkpoint a run resumes from is what resuming with the same --checkpoint means.
    const bool own = !opt.resume.empty() && (opt.resume == opt.checkpoint || same_file(opt.resume, opt.checkpoint));
    check_output("checkpoint", opt.checkpoint, opt.overwrite || own, inputs);
    if (opt.checkpoint == opt.output || same_file(opt.checkpoint, opt.output) ||
        (!opt.loss_log.empty() && (opt.checkpoint == opt.loss_log || same_file(opt.checkpoint, opt.loss_log))))
      throw OutputPathError(opt.checkpoint + ": the checkpoint must be a file of its own");
  }
  if (!opt.loss_log.empty()) {
    check_output("loss log", opt.loss_log, opt.overwrite, inputs);
    if (opt.loss_log == opt.output || same_file(opt.loss_log, opt.output))
      throw OutputPathError(opt.loss_log + ": loss log and output are the same file");
  }
}

void parse_shard(const std::string& text, Options& opt) {
  const std::string bad = "--shard: \"" + text + "\" is not I/N or auto/N (0 <= I < N)";
  const size_t slash = text.find('/');
  if (slash == std::string::npos) throw UsageError(bad);
  const std::string index = text.substr(0, slash), count = text.substr(slash + 1);
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) throw UsageError(bad);
    return std::stoi(s);
  };
  opt.shard_count = number(count);
  opt.shard_auto = index == "auto";
  opt.shard_index = opt.shard_auto ? 0 : number(index);
  if (opt.shard_count < 1 || opt.shard_index >= opt.shard_count) throw UsageError(bad);
}

int64_t parse_byte_size(const std::string& option, const std::string& text) {
  const std::string bad = option + ": \"" + text + "\" is not a size in bytes (examples: 8G, 512M, 100000)";
  size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0 || std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(i), '.') > 1) throw UsageError(bad);
  const std::string number = text.substr(0, i);
  std::string unit = text.substr(i);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  double scale = 1;
  if (!unit.empty() && std::string("KMGT").find(unit[0]) != std::string::npos) {
    for (size_t k = 0; k <= std::string("KMGT").find(unit[0]); ++k) scale *= 1024;
    unit.erase(0, 1);
    if (unit == "IB") unit = "B";
  }
  if (!(unit.empty() || unit == "B")) throw UsageError(bad);
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end) * scale;
  if (end != number.c_str() + number.size() || !std::isfinite(v) || v > 4.6e18) throw UsageError(bad);
  return static_cast<int64_t>(v);
}

double parse_duration(const std::string& option, const std::string& text) {
  const std::string bad = option + ": \"" + text + "\" is not a duration (examples: 30m, 45s, 2h)";
  if (text.size() < 2) throw UsageError(bad);
  const char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
  const double scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
  const std::string number = text.substr(0, text.size() - 1);
  if (scale == 0 || number.find_first_not_of("0123456789.") != std::string::npos ||
      std::count(number.begin(), number.end(), '.') > 1 || number == ".")
    throw UsageError(bad);
  const double v = std::strtod(number.c_str(), nullptr) * scale;
  if (!std::isfinite(v) || v > 10.0 * 365 * 86400) throw UsageError(bad);
  return v;
}

int64_t available_memory_bytes() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  int64_t result = -1;
  while (std::fgets(line, sizeof line, f)) {
    long long kb = 0;
    if (std::sscanf(line, "MemAvailable: %lld kB", &kb) == 1 && kb > 0) {
      result = static_cast<int64_t>(kb) * 1024;
      break;
    }
  }
  std::fclose(f);
  return result;
}

std::string numbered_path(const std::string& path, int iteration, int width) {
  const size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) dot = path.size();
  std::string num = std::to_string(iteration);
  if (static_cast<int>(num.size()) < width) num.insert(0, static_cast<size_t>(width) - num.size(), '0');
  return path.substr(0, dot) + "_" + num + path.substr(dot);
}

}  // namespace nst::cli
