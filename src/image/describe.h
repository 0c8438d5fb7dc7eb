// JSON descriptions of images and image certificates for `cvmsim inspect`.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "image/image_cert.h"
#include "image/luks2.h"

namespace cvmsim::image {

// Every field of a certificate, plus whether its signature verifies by its provider key.
nlohmann::json describe_certificate(const ImageCertificate& cert);

// The LUKS2 header, the JSON's segment (marked unauthenticated) and every token's
// certificate (or why it does not decode).
nlohmann::json describe_image(const Luks2Header& header, std::string_view source);

}  // namespace cvmsim::image
