// An exact fraction of two int64 values, always in lowest terms with a positive denominator.
// Receptive-field strides and paddings become fractional after upsampling or transposed
// convolution; keeping them exact means a merge is judged aligned or not without rounding.
#pragma once

#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>

namespace archbench {

__extension__ typedef __int128 Int128;  // exact intermediates for int64 fractions

class Rational {
 public:
  constexpr Rational(int64_t value = 0) : num_(value), den_(1) {}  // NOLINT: implicit on purpose
  Rational(Int128 num, Int128 den) {
    if (den == 0) throw std::domain_error("rational with zero denominator");
    if (den < 0) num = -num, den = -den;
    Int128 g = gcd128(num < 0 ? -num : num, den);
    if (g > 1) num /= g, den /= g;
    if (num > INT64_MAX || num < INT64_MIN || den > INT64_MAX) throw std::overflow_error("rational overflows int64");
    num_ = static_cast<int64_t>(num);
    den_ = static_cast<int64_t>(den);
  }

  int64_t num() const { return num_; }
  int64_t den() const { return den_; }
  bool is_integer() const { return den_ == 1; }
  double to_double() const { return static_cast<double>(num_) / static_cast<double>(den_); }
  // "3", "-1/2"
  std::string str() const {
    return is_integer() ? std::to_string(num_) : std::to_string(num_) + "/" + std::to_string(den_);
  }

  friend Rational operator+(Rational a, Rational b) {
    return {Int128(a.num_) * b.den_ + Int128(b.num_) * a.den_, Int128(a.den_) * b.den_};
  }
  friend Rational operator-(Rational a, Rational b) {
    return {Int128(a.num_) * b.den_ - Int128(b.num_) * a.den_, Int128(a.den_) * b.den_};
  }
  friend Rational operator*(Rational a, Rational b) { return {Int128(a.num_) * b.num_, Int128(a.den_) * b.den_}; }
  friend Rational operator/(Rational a, Rational b) { return {Int128(a.num_) * b.den_, Int128(a.den_) * b.num_}; }
  friend bool operator==(Rational a, Rational b) { return a.num_ == b.num_ && a.den_ == b.den_; }
  friend bool operator<(Rational a, Rational b) { return Int128(a.num_) * b.den_ < Int128(b.num_) * a.den_; }
  friend bool operator>(Rational a, Rational b) { return b < a; }
  friend bool operator<=(Rational a, Rational b) { return !(b < a); }
  friend bool operator>=(Rational a, Rational b) { return !(a < b); }

 private:
  static Int128 gcd128(Int128 a, Int128 b) {
    while (b != 0) {
      Int128 t = a % b;
      a = b;
      b = t;
    }
    return a;
  }
  int64_t num_, den_;
};

}  // namespace archbench
