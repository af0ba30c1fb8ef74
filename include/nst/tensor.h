// Tensor: a dense, contiguous, row-major array of T (float for the engine, double for the
// gradient checks). Images and feature maps are 4-D NCHW; N > 1 is supported by every op
// (each sample is processed independently), although the style-transfer pipeline uses N = 1.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nst {

using Shape = std::vector<int64_t>;

// Eigen's aligned allocator, except that growing a vector without a value leaves the new
// elements default-initialized (uninitialized for float and double): tensors that a kernel
// overwrites completely skip a zero-filling pass over memory.
template <class T>
struct UninitAllocator : Eigen::aligned_allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <class U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept(noexcept(U())) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
template <class T, class U>
bool operator==(const UninitAllocator<T>&, const UninitAllocator<U>&) { return true; }
template <class T, class U>
bool operator!=(const UninitAllocator<T>&, const UninitAllocator<U>&) { return false; }

// The storage of tensors and kernel workspaces.
template <class T>
using Buffer = std::vector<T, UninitAllocator<T>>;

// "[1,64,32,32]": for error messages.
std::string shape_str(const Shape& s);
// Product of the dimensions; throws std::invalid_argument on a negative dimension or overflow.
int64_t shape_numel(const Shape& s);

template <class T>
class Tensor {
 public:
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using MatrixMap = Eigen::Map<Matrix, Eigen::Aligned16>;
  using ConstMatrixMap = Eigen::Map<const Matrix, Eigen::Aligned16>;

  Tensor() = default;
  explicit Tensor(Shape shape, T fill = T(0)) : shape_(std::move(shape)) {
    data_.assign(static_cast<size_t>(shape_numel(shape_)), fill);
  }
  Tensor(Shape shape, Buffer<T> data)
      : shape_(std::move(shape)), data_(std::move(data)) {
    if (static_cast<int64_t>(data_.size()) != shape_numel(shape_))
      throw std::invalid_argument("Tensor: " + std::to_string(data_.size()) +
                                  " values do not fill shape " + shape_str(shape_));
  }

  // A tensor whose values are unspecified: for outputs a kernel overwrites completely.
  static Tensor uninitialized(Shape shape) {
    Tensor t;
    t.data_.resize(static_cast<size_t>(shape_numel(shape)));
    t.shape_ = std::move(shape);
    return t;
  }

  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return static_cast<int64_t>(data_.size()); }
  bool empty() const { return data_.empty(); }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  T& operator[](int64_t i) { return data_[static_cast<size_t>(i)]; }
  const T& operator[](int64_t i) const { return data_[static_cast<size_t>(i)]; }

  // NCHW element access (no bounds check beyond the debug assertions of the caller).
  T& at(int64_t n, int64_t c, int64_t h, int64_t w) {
    return data_[static_cast<size_t>(((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w)];
  }
  const T& at(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return data_[static_cast<size_t>(((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w)];
  }

  // View of the whole buffer as a rows x cols row-major matrix (rows*cols must equal numel).
  MatrixMap matrix(int64_t rows, int64_t cols) {
    check_view(rows, cols);
    return MatrixMap(data(), rows, cols);
  }
  ConstMatrixMap matrix(int64_t rows, int64_t cols) const {
    check_view(rows, cols);
    return ConstMatrixMap(data(), rows, cols);
  }

  void fill(T v) { std::fill(data_.begin(), data_.end(), v); }

  // Element-wise conversion (float <-> double) for checks and I/O.
  template <class U>
  Tensor<U> cast() const {
    Buffer<U> out(data_.size());
    for (size_t i = 0; i < data_.size(); ++i) out[i] = static_cast<U>(data_[i]);
    return Tensor<U>(shape_, std::move(out));
  }

 private:
  void check_view(int64_t rows, int64_t cols) const {
    if (rows < 0 || cols < 0 || rows * cols != numel())
      throw std::invalid_argument("Tensor::matrix: " + std::to_string(rows) + "x" +
                                  std::to_string(cols) + " view of shape " + shape_str(shape_));
  }

  Shape shape_;
  Buffer<T> data_;
};

// Row-major matrix views with a row stride, for GEMMs on blocks of a tensor's buffer.
template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Strided = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using ConstStrided = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Throws std::invalid_argument naming `op` unless `t` is 4-D (NCHW).
void require_nchw(const Shape& s, const char* op);
// Throws std::invalid_argument naming `op` unless the two shapes are equal.
void require_same_shape(const Shape& a, const Shape& b, const char* op);

}  // namespace nst
