#include "common/hex.h"

#include <gtest/gtest.h>

#include "common/common_error.h"

namespace cvmsim {
namespace {

TEST(Hex, RoundTripAndCase) {
  const Bytes data{0x00, 0x7f, 0x80, 0xff};
  EXPECT_EQ(to_hex(data), "007f80ff");
  EXPECT_EQ(from_hex("007F80FF"), data);
  EXPECT_EQ(from_hex("0x007f80ff"), data);
  EXPECT_TRUE(from_hex("").empty());
}

TEST(Hex, ErrorsNameTheFieldAndPosition) {
  try {
    (void)from_hex("12g4", "--nonce");
    FAIL();
  } catch (const CommonError& e) {
    EXPECT_EQ(e.code(), CommonErrc::bad_encoding);
    EXPECT_EQ(std::string(e.what()), "--nonce: 'g' at position 2 is not a hex digit");
  }
  EXPECT_THROW((void)from_hex("123"), CommonError);
}

}  // namespace
}  // namespace cvmsim
