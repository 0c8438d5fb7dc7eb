// The two suite singletons (internal; users call crypto::suite(SuiteId)).
#pragma once

#include "crypto/suite.h"

namespace cvmsim::crypto {

const Suite& sm_suite();
const Suite& nist_suite();

}  // namespace cvmsim::crypto
