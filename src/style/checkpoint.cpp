#include "nst/style/checkpoint.h"

#include "nst/half.h"
#include "nst/hash.h"
#include "nst/io/atomic_file.h"
#include "nst/io/safetensors.h"
#include "nst/style/tiled_loss.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

namespace nst {

namespace {

constexpr const char* kFormat = "nst-checkpoint";
// Version 2 added the multi-scale position (scale, iterations_before, evaluations_before);
// version 1 files (one scale) are still read. Version 3 added Adam states (optimizer = adam):
// an L-BFGS state is still written as version 2 (its "optimizer" entry is one more metadata
// entry to a version 2 reader), so that an nst without Adam checkpoints reads it, and refuses an
// Adam one by its version instead of by a missing entry.
constexpr const char* kVersion = "2";
constexpr const char* kAdamVersion = "3";
constexpr int kMaxHistory = 1 << 20;  // far above any real --lbfgs-history; bounds what a file may claim

std::string hex(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

std::string join_hex(const std::vector<double>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + hex(v[i]);
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// A tensor to write: name, dtype, element count and bytes (not owned).
struct Blob {
  std::string name;
  const char* dtype;
  int64_t numel;
  const void* data;
  size_t bytes;
};

// Reads the metadata of a loaded checkpoint, turning every problem into a CheckpointError.
class Meta {
 public:
  Meta(const std::string& path, std::map<std::string, std::string> m) : path_(path), m_(std::move(m)) {}
  [[noreturn]] void fail(const std::string& problem) const { throw CheckpointError(path_ + ": " + problem); }
  const std::string& text(const std::string& key) const {
    const auto it = m_.find(key);
    if (it == m_.end()) fail("not an nst checkpoint (no metadata \"" + key + "\")");
    return it->second;
  }
  int64_t integer(const std::string& key, int64_t lo, int64_t hi) const {
    const std::string& t = text(key);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi)
      fail("metadata \"" + key + "\" is not an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
    return v;
  }
  std::vector<double> numbers(const std::string& key, size_t count) const {
    const std::string& t = text(key);
    std::vector<double> out;
    if (count == 0) {
      if (!t.empty()) fail("metadata \"" + key + "\" should be empty");
      return out;
    }
    size_t at = 0;
    while (true) {
      const size_t comma = t.find(',', at);
      const std::string item = t.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      char* end = nullptr;
      const double v = std::strtod(item.c_str(), &end);
      if (item.empty() || *end != '\0') fail("metadata \"" + key + "\" holds a non-number");
      out.push_back(v);
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    if (out.size() != count)
      fail("metadata \"" + key + "\" holds " + std::to_string(out.size()) + " numbers, not " + std::to_string(count));
    return out;
  }
  double number(const std::string& key) const { return numbers(key, 1)[0]; }
  bool has(const std::string& key) const { return m_.count(key) != 0; }
  const std::map<std::string, std::string>& all() const { return m_; }

 private:
  std::string path_;
  std::map<std::string, std::string> m_;
};

std::map<std::string, Tensor<float>> load(const std::string& path, const std::vector<TensorRequest>& wanted) {
  try {
    return load_safetensors(path, wanted).tensors;
  } catch (const WeightsError& e) {
    throw CheckpointError(std::string(e.what()) + " (reading a checkpoint)");
  }
}

Eigen::VectorXf to_vector(const Tensor<float>& t) { return Eigen::Map<const Eigen::VectorXf>(t.data(), t.numel()); }

template <class T>
std::string hash_of(const std::vector<T>& v) {
  Hash h;
  h.add(v.data(), v.size() * sizeof(T));
  return h.hex();
}


// The metadata of every checkpoint: what it is, the run's identity and position, the log.
std::map<std::string, std::string> common_meta(const StylizeCheckpoint& state,
                                               const std::map<std::string, std::string>& identity,
                                               const std::string& loss_log) {
  std::map<std::string, std::string> meta;
  for (const auto& [key, value] : identity) meta["id." + key] = value;
  meta["format"] = kFormat;
  meta["version"] = state.kind == Optimizer::Adam ? kAdamVersion : kVersion;
  meta["optimizer"] = to_string(state.kind);
  meta["last"] = join_hex({state.last.total, state.last.content, state.last.style, state.last.tv});
  meta["seconds"] = hex(state.seconds);
  meta["scale"] = std::to_string(state.scale);
  meta["iterations_before"] = std::to_string(state.iterations_before);
  meta["evaluations_before"] = std::to_string(state.evaluations_before);
  meta["loss_log"] = loss_log;
  return meta;
}

// Writes the checkpoint file: the metadata with its checksum over it and the blobs, then the blobs.
void write_checkpoint(const std::string& path, std::map<std::string, std::string> meta, const std::vector<Blob>& blobs,
                      bool overwrite) {
  Hash checksum;  // every metadata entry, then every tensor's data
  for (const auto& [key, value] : meta) {
    checksum.add(key.data(), key.size());
    checksum.add(value.data(), value.size());
  }
  for (const Blob& b : blobs) checksum.add(b.data, b.bytes);
  meta["checksum"] = checksum.hex();

  std::string header = "{\"__metadata__\":{";
  bool first = true;
  for (const auto& [key, value] : meta) {
    header += (first ? "" : ",") + json_string(key) + ":" + json_string(value);
    first = false;
  }
  header += "}";
  uint64_t offset = 0;
  for (const Blob& b : blobs) {
    header += "," + json_string(b.name) + ":{\"dtype\":\"" + b.dtype + "\",\"shape\":[" + std::to_string(b.numel) +
              "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + b.bytes) + "]}";
    offset += b.bytes;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  unsigned char size_le[8];
  for (int i = 0; i < 8; ++i) size_le[i] = static_cast<unsigned char>((uint64_t{header.size()} >> (8 * i)) & 0xFF);

  static_assert(sizeof(float) == 4, "float32 expected");
  write_file_atomically(path, overwrite, [&](const ByteSink& put) {  // little-endian data: x86-64, AArch64
    put(size_le, 8);
    put(header.data(), header.size());
    for (const Blob& b : blobs) put(b.data, b.bytes);
  });
}

void save_adam(const std::string& path, const StylizeCheckpoint& state,
               const std::map<std::string, std::string>& identity, const std::string& loss_log, bool overwrite) {
  const AdamState& st = state.adam;
  const int64_t n = st.x.size();
  for (const Eigen::VectorXf* v : {&st.m, &st.v, &st.x_best})
    if (v->size() != n) throw std::invalid_argument("save_checkpoint: the Adam state's vectors differ in size");
  std::map<std::string, std::string> meta = common_meta(state, identity, loss_log);
  meta["n"] = std::to_string(n);
  meta["iteration"] = std::to_string(st.iteration);
  meta["best_loss"] = hex(st.best_loss);
  const size_t fbytes = static_cast<size_t>(n) * sizeof(float);
  write_checkpoint(path, std::move(meta),
                   {{"x", "F32", n, st.x.data(), fbytes},
                    {"m", "F32", n, st.m.data(), fbytes},
                    {"v", "F32", n, st.v.data(), fbytes},
                    {"x_best", "F32", n, st.x_best.data(), fbytes}},
                   overwrite);
}

}  // namespace

void save_checkpoint(const std::string& path, const StylizeCheckpoint& state,
                     const std::map<std::string, std::string>& identity, const std::string& loss_log,
                     bool overwrite) {
  if (state.kind == Optimizer::Adam) return save_adam(path, state, identity, loss_log, overwrite);
  const LbfgsState& st = state.optimizer;
  const bool half = st.precision == HistoryPrecision::Half;
  const int pairs = st.pairs();
  const int64_t n = st.x.size();
  std::map<std::string, std::string> meta = common_meta(state, identity, loss_log);
  meta["n"] = std::to_string(n);
  meta["precision"] = half ? "half" : "float";
  meta["history"] = std::to_string(st.history);
  meta["pairs"] = std::to_string(pairs);
  meta["iteration"] = std::to_string(st.iteration);
  meta["reported"] = st.reported ? "1" : "0";
  meta["evaluations"] = std::to_string(st.evaluations);
  meta["resets"] = std::to_string(st.resets);
  meta["skipped_pairs"] = std::to_string(st.skipped_pairs);
  meta["same_loss"] = std::to_string(st.same_loss);
  meta["loss_rises"] = std::to_string(st.loss_rises);
  meta["has_best"] = st.has_best ? "1" : "0";
  meta["loss"] = hex(st.loss);
  meta["best_loss"] = hex(st.best_loss);
  meta["gamma"] = hex(st.gamma);
  meta["rho"] = join_hex(st.rho);
  if (half) {
    std::vector<double> ss, sy;
    for (int j = 0; j < pairs; ++j) {
      ss.push_back(st.half_s[static_cast<size_t>(j)]->scale());
      sy.push_back(st.half_y[static_cast<size_t>(j)]->scale());
    }
    meta["scale.s"] = join_hex(ss);
    meta["scale.y"] = join_hex(sy);
  }

  std::vector<Blob> blobs;
  const size_t fbytes = static_cast<size_t>(n) * sizeof(float);
  blobs.push_back({"x", "F32", n, st.x.data(), fbytes});
  blobs.push_back({"g", "F32", n, st.g.data(), fbytes});
  blobs.push_back({"x_best", "F32", n, st.x_best.data(), fbytes});
  for (int j = 0; j < pairs; ++j) {
    const size_t i = static_cast<size_t>(j);
    if (half) {
      blobs.push_back({"s." + std::to_string(j), "F16", n, st.half_s[i]->bits().data(), static_cast<size_t>(n) * 2});
      blobs.push_back({"y." + std::to_string(j), "F16", n, st.half_y[i]->bits().data(), static_cast<size_t>(n) * 2});
    } else {
      blobs.push_back({"s." + std::to_string(j), "F32", n, st.s[i]->data(), fbytes});
      blobs.push_back({"y." + std::to_string(j), "F32", n, st.y[i]->data(), fbytes});
    }
  }

  write_checkpoint(path, std::move(meta), blobs, overwrite);
}

CheckpointFile load_checkpoint(const std::string& path) {
  std::map<std::string, std::string> metadata;
  try {
    metadata = load_safetensors(path, {}).metadata;  // the whole header, validated
  } catch (const WeightsError& e) {
    throw CheckpointError(std::string(e.what()) + " (reading a checkpoint)");
  }
  const Meta m(path, std::move(metadata));
  if (m.text("format") != kFormat) m.fail("not an nst checkpoint (format \"" + m.text("format") + "\")");
  const std::string& version = m.text("version");
  const bool v1 = version == "1";
  if (version != kVersion && version != kAdamVersion && !v1)
    m.fail("checkpoint version " + version + "; this nst reads versions 1 to " + kAdamVersion);
  // Versions 1 and 2 hold L-BFGS states (an "optimizer" entry, if any, says so); version 3 Adam's.
  const std::string optimizer = m.has("optimizer") ? m.text("optimizer") : "lbfgs";
  const std::string expected = version == kAdamVersion ? "adam" : "lbfgs";
  if (optimizer != expected)
    m.fail("metadata \"optimizer\" is \"" + optimizer + "\" in a version " + version + " checkpoint (" + expected +
           " expected)");

  CheckpointFile c;
  c.state.kind = optimizer == "adam" ? Optimizer::Adam : Optimizer::Lbfgs;
  const std::vector<double> last = m.numbers("last", 4);
  c.state.last = LossTerms{last[0], last[1], last[2], last[3]};
  c.state.seconds = m.number("seconds");
  if (!v1) {
    c.state.scale = static_cast<int>(m.integer("scale", 0, 64));
    c.state.iterations_before = static_cast<int>(m.integer("iterations_before", 0, INT32_MAX));
    c.state.evaluations_before = static_cast<int>(m.integer("evaluations_before", 0, INT32_MAX));
  }
  c.loss_log = m.text("loss_log");
  for (const auto& [key, value] : m.all())
    if (key.rfind("id.", 0) == 0) c.identity[key.substr(3)] = value;

  Hash checksum;  // as written: the metadata, then the data (float32 values, binary16 bits)
  for (const auto& [key, value] : m.all()) {
    if (key == "checksum") continue;
    checksum.add(key.data(), key.size());
    checksum.add(value.data(), value.size());
  }
  if (c.state.kind == Optimizer::Adam) {
    AdamState& st = c.state.adam;
    const int64_t n = m.integer("n", 1, int64_t{1} << 40);
    st.iteration = static_cast<int>(m.integer("iteration", 1, INT32_MAX));
    st.best_loss = m.number("best_loss");
    if (!std::isfinite(st.best_loss)) m.fail("non-finite best_loss");
    auto t = load(path, {{"x", {n}}, {"m", {n}}, {"v", {n}}, {"x_best", {n}}});
    st.x = to_vector(t.at("x"));
    st.m = to_vector(t.at("m"));
    st.v = to_vector(t.at("v"));
    st.x_best = to_vector(t.at("x_best"));
    for (const Eigen::VectorXf* v : {&st.x, &st.m, &st.v, &st.x_best})
      checksum.add(v->data(), static_cast<size_t>(n) * sizeof(float));
    if (checksum.hex() != m.text("checksum")) m.fail("the data does not match its checksum: the file is damaged");
    if (!(st.v.minCoeff() >= 0)) m.fail("a negative second moment in v");
    return c;
  }

  LbfgsState& st = c.state.optimizer;
  const std::string& precision = m.text("precision");
  if (precision != "half" && precision != "float") m.fail("metadata \"precision\" is neither half nor float");
  const bool half = precision == "half";
  st.precision = half ? HistoryPrecision::Half : HistoryPrecision::Float;
  const int64_t n = m.integer("n", 1, int64_t{1} << 40);
  st.history = static_cast<int>(m.integer("history", 1, kMaxHistory));
  const int pairs = static_cast<int>(m.integer("pairs", 0, st.history));
  st.iteration = static_cast<int>(m.integer("iteration", 1, INT32_MAX));
  st.reported = m.integer("reported", 0, 1) == 1;
  st.evaluations = static_cast<int>(m.integer("evaluations", 1, INT32_MAX));
  st.resets = static_cast<int>(m.integer("resets", 0, INT32_MAX));
  st.skipped_pairs = static_cast<int>(m.integer("skipped_pairs", 0, INT32_MAX));
  st.same_loss = static_cast<int>(m.integer("same_loss", 0, INT32_MAX));
  // Absent in checkpoints written before the rise reset (lbfgs.h): no rise pending.
  st.loss_rises = m.has("loss_rises") ? static_cast<int>(m.integer("loss_rises", 0, 2)) : 0;
  st.has_best = m.integer("has_best", 0, 1) == 1;
  st.loss = m.number("loss");
  st.best_loss = m.number("best_loss");
  st.gamma = m.number("gamma");
  st.rho = m.numbers("rho", static_cast<size_t>(pairs));
  if (!std::isfinite(st.loss) || !(std::isfinite(st.gamma) && st.gamma > 0)) m.fail("non-finite loss or gamma");
  for (double r : st.rho)
    if (!(std::isfinite(r) && r > 0)) m.fail("a pair's rho is not finite and > 0");
  {
    auto t = load(path, {{"x", {n}}, {"g", {n}}, {"x_best", {n}}});
    st.x = to_vector(t.at("x"));
    st.g = to_vector(t.at("g"));
    st.x_best = to_vector(t.at("x_best"));
    for (const Eigen::VectorXf* v : {&st.x, &st.g, &st.x_best})
      checksum.add(v->data(), static_cast<size_t>(n) * sizeof(float));
  }
  std::vector<double> scale_s, scale_y;
  if (half) {
    scale_s = m.numbers("scale.s", static_cast<size_t>(pairs));
    scale_y = m.numbers("scale.y", static_cast<size_t>(pairs));
  }
  for (int j = 0; j < pairs; ++j) {  // one pair at a time: no float copy of the whole history
    const std::string s_name = "s." + std::to_string(j), y_name = "y." + std::to_string(j);
    auto t = load(path, {{s_name, {n}}, {y_name, {n}}});
    if (!half) {
      st.s.push_back(std::make_shared<Eigen::VectorXf>(to_vector(t.at(s_name))));
      st.y.push_back(std::make_shared<Eigen::VectorXf>(to_vector(t.at(y_name))));
      checksum.add(st.s.back()->data(), static_cast<size_t>(n) * sizeof(float));
      checksum.add(st.y.back()->data(), static_cast<size_t>(n) * sizeof(float));
      continue;
    }
    for (int which = 0; which < 2; ++which) {
      const Tensor<float>& v = t.at(which == 0 ? s_name : y_name);
      std::vector<uint16_t> bits(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        bits[static_cast<size_t>(i)] = float_to_f16(v[i]);
        if (f16_to_float(bits[static_cast<size_t>(i)]) != v[i])
          m.fail("pair tensor " + (which == 0 ? s_name : y_name) + " is not binary16");
      }
      auto h = std::make_shared<HalfVector>();
      const double scale = (which == 0 ? scale_s : scale_y)[static_cast<size_t>(j)];
      try {
        h->set_stored(std::move(bits), static_cast<float>(scale));
      } catch (const std::invalid_argument& e) {
        m.fail("pair " + std::to_string(j) + ": " + e.what());
      }
      if (static_cast<double>(h->scale()) != scale) m.fail("pair " + std::to_string(j) + ": scale out of float range");
      checksum.add(h->bits().data(), h->bits().size() * sizeof(uint16_t));
      (which == 0 ? st.half_s : st.half_y).push_back(std::move(h));
    }
  }
  if (checksum.hex() != m.text("checksum")) m.fail("the data does not match its checksum: the file is damaged");
  return c;
}

std::map<std::string, std::string> describe_run(const StylizeSettings& s, const Image& content,
                                                const std::vector<Image>& styles, const Vgg<float>& net) {
  auto num = [](double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return std::string(buf);
  };
  auto list = [&](const auto& items, auto to_text) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + to_text(items[i]);
    return out;
  };
  auto same = [](const std::string& v) { return v; };
  std::map<std::string, std::string> d;
  d["content_layers"] = list(s.loss.content_layers, same);
  d["style_layers"] = list(s.loss.style_layers, same);
  d["style_layer_weights"] = list(s.loss.style_layer_weights, num);
  d["content_weight"] = num(s.loss.content_weight);
  d["style_weight"] = num(s.loss.style_weight);
  d["tv_weight"] = num(s.loss.tv_weight);
  d["pooling"] = s.loss.pooling == Pooling::Max ? "max" : "avg";
  d["loss_scale"] = s.loss.loss_scale == LossScale::Classic ? "classic" : "relative";
  d["style_blend"] = list(s.style_blend, num);
  d["lbfgs_history"] = std::to_string(s.lbfgs_history);
  d["lbfgs_precision"] = s.lbfgs_precision == HistoryPrecision::Half ? "half" : "float";
  d["line_search"] = s.line_search ? "on" : "off";
  d["init"] = to_string(s.init);
  d["seed"] = std::to_string(s.seed);
  d["normalize_gradients"] = s.loss.normalize_gradients ? "on" : "off";
  d["optimizer"] = to_string(s.optimizer);
  d["learning_rate"] = num(s.learning_rate);
  d["original_colors"] = s.original_colors ? "on" : "off";
  d["color_match"] = to_string(s.color_match);
  d["start_size"] = std::to_string(s.start_size);
  d["scale_iterations"] = std::to_string(s.scale_iterations);
  d["lbfgs_step_pair"] = s.lbfgs_step_pair == StepPair::Displacement ? "displacement" : "direction";
  d["conv_algo"] = s.conv_algo == ConvAlgo::Auto ? "auto" : s.conv_algo == ConvAlgo::Im2col ? "im2col" : "winograd";
  d["clamp"] = clamp_enabled(s) ? "on" : "off";  // resolved, as checkpoints always held it
  // The split decides the bits (style/tiled_loss.h): the tile size as the grid rounds it. Absent
  // when untiled, as in the checkpoints written before tiling existed.
  if (s.tile > 0) {
    std::vector<std::string> layers = s.loss.content_layers;
    layers.insert(layers.end(), s.loss.style_layers.begin(), s.loss.style_layers.end());
    const int64_t align = tile_alignment(*net.network, layers);
    d["tile"] = std::to_string(std::max(align, s.tile / align * align));
  }
  auto image = [&](const Image& img) {
    return std::to_string(img.width) + "x" + std::to_string(img.height) + " " + hash_of(img.rgb);
  };
  d["content"] = image(content);
  for (size_t i = 0; i < styles.size(); ++i) d["style." + std::to_string(i)] = image(styles[i]);
  if (s.init == InitMode::Image) d["init_image"] = image(s.init_image);
  for (size_t i = 0; i < s.style_masks.size(); ++i) d["style_mask." + std::to_string(i)] = image(s.style_masks[i]);
  d["weights"] = net.weights_hash;
  d["preprocess"] = to_string(net.preprocess);
  d["network"] = net.network->name;
  return d;
}

std::string identity_difference(const std::map<std::string, std::string>& here,
                                const std::map<std::string, std::string>& saved) {
  auto shown = [](const std::string& v) { return v.size() > 40 ? v.substr(0, 37) + "..." : v; };
  auto h = here.begin();
  auto s = saved.begin();
  while (h != here.end() || s != saved.end()) {
    if (s == saved.end() || (h != here.end() && h->first < s->first))
      return h->first + ": " + shown(h->second) + " here, absent in the checkpoint";
    if (h == here.end() || s->first < h->first)
      return s->first + ": absent here, " + shown(s->second) + " in the checkpoint";
    if (h->second != s->second)
      return h->first + ": " + shown(h->second) + " here, " + shown(s->second) + " in the checkpoint";
    ++h, ++s;
  }
  return "";
}

}  // namespace nst
