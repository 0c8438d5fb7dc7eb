// The SM4 S-box as affine maps around an AES-field inversion, derived at compile time.
//
// Why: x86 has no SM4 S-box instruction, but it has the AES-field inversion twice over:
// GF2P8AFFINEINVQB (GFNI: inversion in GF(2^8)/0x11B followed by any affine map) and
// AESENCLAST (AES SubBytes = AES affine map after the same inversion). SM4's S-box is
// affine-equivalent to that inversion, so it costs two GFNI instructions, or AESENCLAST
// plus two nibble-table lookups on each side.
//
// Derivation (every step is checked below by static_assert over all 256 inputs):
//  1. Structure of the SM4 S-box (Liu, Ji, Hu, Zhang; also Erickson et al., "Algebraic
//     cryptanalysis of SMS4"): S(x) = A * inv_f(A * x + c) + c with f = x^8+x^7+x^6+x^5+
//     x^4+x^2+1 (0x1f5), c = 0xd3 and A the circulant matrix whose row i is 0xa7 rotated
//     left by i (bit j of row i says whether input bit j feeds output bit i). We checked the
//     bit conventions by searching all circulant matrices and both orderings (only this
//     one reproduces the table); the static_assert below re-proves it.
//  2. GF(2^8)/f and the AES field GF(2^8)/0x11b are isomorphic: pick beta, a root of f in
//     the AES field (searched), and let phi map x^j to beta^j. phi is linear over GF(2) and
//     multiplicative, so phi(inv_f(y)) = inv_aes(phi(y)).
//  3. Hence S(x) = (A * phi^-1) * inv_aes((phi * A) * x + phi(c)) + c:
//       pre  map: A_in  = phi * A,      c_in  = phi(c)
//       post map: A_out = A * phi^-1,   c_out = c
//  4. GFNI encodes a matrix as a qword whose byte 7-i is row i (Intel SDM, GF2P8AFFINEQB:
//     "retbyte.bit[i] = parity(A.byte[7-i] AND x) XOR imm8.bit[i]").
//  5. AES-NI: SubBytes(z) = M * inv_aes(z) + 0x63 with M's row i = 0xf1 rotated left by i
//     (FIPS 197, 5.1.1). So inv_aes(z) = M^-1 * (SubBytes(z) + 0x63) and
//       S(x) = P * SubBytes(A_in * x + c_in) + (P * 0x63 + c_out),  P = A_out * M^-1.
//     Without GFNI an affine map on bytes is two 16-entry PSHUFB lookups (low and high
//     nibble) XORed together; the constant goes into the low-nibble table.
//
// Only consteval functions and constexpr plain data: see sm4_constants.h for why.
#pragma once

#include <cstdint>

#include "crypto/sm4/sm4_constants.h"

namespace cvmsim::crypto::sm4::affine {

// An 8x8 matrix over GF(2): rows[i] is the mask of input bits that feed output bit i.
struct Matrix {
  std::uint8_t rows[8];
};
struct Table16 {
  std::uint8_t v[16];
};

consteval std::uint8_t rotl8(unsigned value, int shift) {
  return static_cast<std::uint8_t>(((value << shift) | (value >> (8 - shift))) & 0xff);
}

consteval std::uint8_t apply(const Matrix& m, unsigned x) {
  unsigned out = 0;
  for (int i = 0; i < 8; ++i) {
    unsigned bits = m.rows[i] & x;
    unsigned parity = 0;
    for (; bits != 0; bits >>= 1) parity ^= bits & 1;
    out |= parity << i;
  }
  return static_cast<std::uint8_t>(out);
}

// (m * n)(x) = m(n(x)): row i of the product XORs the rows of n selected by row i of m.
consteval Matrix multiply(const Matrix& m, const Matrix& n) {
  Matrix out{};
  for (int i = 0; i < 8; ++i) {
    unsigned row = 0;
    for (int k = 0; k < 8; ++k) {
      if (((m.rows[i] >> k) & 1) != 0) row ^= n.rows[k];
    }
    out.rows[i] = static_cast<std::uint8_t>(row);
  }
  return out;
}

// The matrix whose column j is cols[j].
consteval Matrix from_columns(const std::uint8_t (&cols)[8]) {
  Matrix out{};
  for (int i = 0; i < 8; ++i) {
    unsigned row = 0;
    for (int j = 0; j < 8; ++j) row |= ((cols[j] >> i) & 1u) << j;
    out.rows[i] = static_cast<std::uint8_t>(row);
  }
  return out;
}

// Inverse by exhaustive search of preimages of the unit vectors (the maps are bijective).
consteval Matrix invert(const Matrix& m) {
  std::uint8_t cols[8]{};
  for (int j = 0; j < 8; ++j) {
    for (unsigned x = 0; x < 256; ++x) {
      if (apply(m, x) == (1u << j)) cols[j] = static_cast<std::uint8_t>(x);
    }
  }
  return from_columns(cols);
}

consteval Matrix circulant(unsigned row0) {
  Matrix out{};
  for (int i = 0; i < 8; ++i) out.rows[i] = rotl8(row0, i);
  return out;
}

// Multiplication in GF(2)[x]/poly (poly includes the x^8 term).
consteval unsigned gf_mul(unsigned a, unsigned b, unsigned poly) {
  unsigned r = 0;
  for (; b != 0; b >>= 1) {
    if ((b & 1) != 0) r ^= a;
    a <<= 1;
    if ((a & 0x100) != 0) a ^= poly;
  }
  return r;
}

consteval unsigned gf_inv(unsigned x, unsigned poly) {
  if (x == 0) return 0;  // the convention of both SM4 and AES/GFNI
  for (unsigned y = 1; y < 256; ++y) {
    if (gf_mul(x, y, poly) == 1) return y;
  }
  return 0;
}

inline constexpr unsigned kSm4Poly = 0x1f5;  // x^8+x^7+x^6+x^5+x^4+x^2+1
inline constexpr unsigned kAesPoly = 0x11b;  // x^8+x^4+x^3+x+1
inline constexpr Matrix kSm4A = circulant(0xa7);
inline constexpr std::uint8_t kSm4C = 0xd3;

// Step 1: the structure we rely on reproduces the standard's table.
consteval bool sm4_structure_holds() {
  for (unsigned x = 0; x < 256; ++x) {
    const unsigned y = apply(kSm4A, gf_inv(apply(kSm4A, x) ^ kSm4C, kSm4Poly)) ^ kSm4C;
    if (y != kSbox[x]) return false;
  }
  return true;
}
static_assert(sm4_structure_holds(), "SM4 S-box is not A*inv(A*x+c)+c with these A, c, f");

// Step 2: the first root beta of f in the AES field and phi: x^j -> beta^j.
consteval Matrix make_phi() {
  for (unsigned beta = 2; beta < 256; ++beta) {
    unsigned powers[9]{};
    powers[0] = 1;
    for (int j = 1; j <= 8; ++j) powers[j] = gf_mul(powers[j - 1], beta, kAesPoly);
    unsigned f_of_beta = 0;
    for (int j = 0; j <= 8; ++j) {
      if (((kSm4Poly >> j) & 1) != 0) f_of_beta ^= powers[j];
    }
    if (f_of_beta == 0) {
      std::uint8_t cols[8]{};
      for (int j = 0; j < 8; ++j) cols[j] = static_cast<std::uint8_t>(powers[j]);
      return from_columns(cols);
    }
  }
  return Matrix{};
}
inline constexpr Matrix kPhi = make_phi();

consteval bool phi_is_field_isomorphism() {
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; b += 7) {  // a sample of products; inverses fully below
      if (apply(kPhi, gf_mul(a, b, kSm4Poly)) != gf_mul(apply(kPhi, a), apply(kPhi, b), kAesPoly)) {
        return false;
      }
    }
    if (apply(kPhi, gf_inv(a, kSm4Poly)) != gf_inv(apply(kPhi, a), kAesPoly)) return false;
  }
  return true;
}
static_assert(phi_is_field_isomorphism());

// Step 3: the maps around the AES-field inversion.
inline constexpr Matrix kInMatrix = multiply(kPhi, kSm4A);
inline constexpr std::uint8_t kInConst = apply(kPhi, kSm4C);
inline constexpr Matrix kOutMatrix = multiply(kSm4A, invert(kPhi));
inline constexpr std::uint8_t kOutConst = kSm4C;

// Step 4: GFNI's qword encoding, and an emulation of the instructions' definition.
consteval std::uint64_t gfni_qword(const Matrix& m) {
  std::uint64_t q = 0;
  for (int i = 0; i < 8; ++i) q |= std::uint64_t{m.rows[i]} << (8 * (7 - i));
  return q;
}
consteval unsigned gfni_affine(std::uint64_t q, unsigned x, unsigned imm) {
  unsigned out = 0;
  for (int i = 0; i < 8; ++i) {
    unsigned bits = static_cast<unsigned>((q >> (8 * (7 - i))) & 0xff) & x;
    unsigned parity = 0;
    for (; bits != 0; bits >>= 1) parity ^= bits & 1;
    out |= (parity ^ ((imm >> i) & 1)) << i;
  }
  return out;
}

inline constexpr std::uint64_t kGfniInMatrix = gfni_qword(kInMatrix);
inline constexpr std::uint8_t kGfniInConst = kInConst;
inline constexpr std::uint64_t kGfniOutMatrix = gfni_qword(kOutMatrix);
inline constexpr std::uint8_t kGfniOutConst = kOutConst;

consteval bool gfni_maps_give_sbox() {
  for (unsigned x = 0; x < 256; ++x) {
    const unsigned pre = gfni_affine(kGfniInMatrix, x, kGfniInConst);
    const unsigned post = gfni_affine(kGfniOutMatrix, gf_inv(pre, kAesPoly), kGfniOutConst);
    if (post != kSbox[x]) return false;
  }
  return true;
}
static_assert(gfni_maps_give_sbox());

// Step 5: AES SubBytes and the nibble tables around it.
inline constexpr Matrix kAesMatrix = circulant(0xf1);
consteval unsigned aes_sub_bytes(unsigned z) {
  return apply(kAesMatrix, gf_inv(z, kAesPoly)) ^ 0x63u;
}
static_assert(aes_sub_bytes(0x00) == 0x63 && aes_sub_bytes(0x01) == 0x7c &&
              aes_sub_bytes(0x53) == 0xed);  // FIPS 197 figure 7 entries

inline constexpr Matrix kAesPostMatrix = multiply(kOutMatrix, invert(kAesMatrix));
inline constexpr std::uint8_t kAesPostConst =
    static_cast<std::uint8_t>(apply(kAesPostMatrix, 0x63) ^ kOutConst);

// tables[0][n] = m * n + c (low nibble), tables[1][n] = m * (n << 4) (high nibble).
consteval Table16 nibble_table(const Matrix& m, std::uint8_t c, bool high) {
  Table16 t{};
  for (unsigned n = 0; n < 16; ++n) {
    t.v[n] = high ? apply(m, n << 4) : static_cast<std::uint8_t>(apply(m, n) ^ c);
  }
  return t;
}
inline constexpr Table16 kAesPreLow = nibble_table(kInMatrix, kInConst, false);
inline constexpr Table16 kAesPreHigh = nibble_table(kInMatrix, 0, true);
inline constexpr Table16 kAesPostLow = nibble_table(kAesPostMatrix, kAesPostConst, false);
inline constexpr Table16 kAesPostHigh = nibble_table(kAesPostMatrix, 0, true);

consteval bool aes_tables_give_sbox() {
  for (unsigned x = 0; x < 256; ++x) {
    const unsigned pre = kAesPreLow.v[x & 15] ^ kAesPreHigh.v[x >> 4];
    const unsigned sub = aes_sub_bytes(pre);
    const unsigned post = kAesPostLow.v[sub & 15] ^ kAesPostHigh.v[sub >> 4];
    if (post != kSbox[x]) return false;
  }
  return true;
}
static_assert(aes_tables_give_sbox());

}  // namespace cvmsim::crypto::sm4::affine
