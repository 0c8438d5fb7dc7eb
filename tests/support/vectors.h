// Reads the known-answer vector files in tests/data: blocks of "Key = value" lines
// separated by blank lines, '#' comments.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace cvmsim::test {

using VectorBlock = std::map<std::string, std::string>;

std::vector<VectorBlock> load_vectors(const std::string& file_name);

// The blocks whose `key` field equals `value` (e.g. "Cipher", "SM4-XTS").
std::vector<VectorBlock> select_vectors(const std::string& file_name, const std::string& key,
                                        const std::string& value);

}  // namespace cvmsim::test
