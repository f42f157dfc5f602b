// A growable array of trivially copyable values that, once large, lives in
// pages of its own (mmap) and grows by mremap.
//
// The engine's run-local tables (compact_table.hpp) grow to tens of MB at a
// million users, a sixteenth at a time. From malloc's heap, each freed old
// array left a hole the next, larger one did not fit, and the holes stayed
// resident: a million-user first sync peaked 10-14 MB higher than the live
// data explains. malloc's own mmap threshold does not help: glibc raises it to
// the size of the last mmapped block freed, so after the first HTTP page body
// every such array came from the heap again. mremap also grows an array in
// place or moves its page mappings without copying a byte, so growth touches
// only the new pages.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

namespace dirsync {

template <typename T>
class PageArray {
  static_assert(std::is_trivially_copyable_v<T>, "PageArray moves its values with memcpy and mremap");

 public:
  PageArray() = default;
  PageArray(const PageArray&) = delete;
  PageArray& operator=(const PageArray&) = delete;
  PageArray(PageArray&& other) noexcept { swap(other); }
  PageArray& operator=(PageArray&& other) noexcept {
    PageArray(std::move(other)).swap(*this);
    return *this;
  }
  ~PageArray() { release(); }

  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// Keeps the memory, as std::vector::clear.
  void clear() { size_ = 0; }

  void push_back(const T& value) {
    if (size_ == capacity_) reserve(capacity_ ? capacity_ * 2 : 64);
    data_[size_++] = value;
  }

  /// New values are left uninitialised: callers write every one.
  void resize_uninitialized(std::size_t n) {
    if (n > capacity_) reserve(n);
    size_ = n;
  }

  void assign(std::size_t n, const T& value) {
    resize_uninitialized(n);
    std::fill(data_, data_ + n, value);
  }

  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    std::size_t bytes = n * sizeof(T);
    if (bytes < kPagedBytes) {
      void* p = std::realloc(data_, bytes);
      if (!p) throw std::bad_alloc();
      data_ = static_cast<T*>(p);
      capacity_ = n;
      return;
    }
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    bytes = (bytes + page - 1) / page * page;
    void* p;
    if (mapped_bytes_) {
      p = ::mremap(data_, mapped_bytes_, bytes, MREMAP_MAYMOVE);
    } else {
      p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p != MAP_FAILED && size_) std::memcpy(p, data_, size_ * sizeof(T));
    }
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (!mapped_bytes_) std::free(data_);
    data_ = static_cast<T*>(p);
    capacity_ = bytes / sizeof(T);
    mapped_bytes_ = bytes;
  }

 private:
  static constexpr std::size_t kPagedBytes = 64 * 1024;

  void swap(PageArray& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
    std::swap(mapped_bytes_, other.mapped_bytes_);
  }
  void release() {
    if (mapped_bytes_) ::munmap(data_, mapped_bytes_);
    else std::free(data_);
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::size_t mapped_bytes_ = 0;  ///< 0: from malloc
};

}  // namespace dirsync
