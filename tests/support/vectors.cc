#include "support/vectors.h"

#include <fstream>
#include <stdexcept>

namespace cvmsim::test {
namespace {

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return {};
  const auto end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

}  // namespace

std::vector<VectorBlock> load_vectors(const std::string& file_name) {
  const std::string path = std::string(CVMSIM_TEST_DATA_DIR) + "/" + file_name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<VectorBlock> blocks;
  VectorBlock current;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.starts_with('#')) continue;
    if (line.empty()) {
      if (!current.empty()) blocks.push_back(std::move(current));
      current.clear();
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) throw std::runtime_error("bad line in " + path + ": " + line);
    current[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  if (!current.empty()) blocks.push_back(std::move(current));
  return blocks;
}

std::vector<VectorBlock> select_vectors(const std::string& file_name, const std::string& key,
                                        const std::string& value) {
  std::vector<VectorBlock> out;
  for (auto& block : load_vectors(file_name)) {
    auto it = block.find(key);
    if (it != block.end() && it->second == value) out.push_back(std::move(block));
  }
  if (out.empty()) throw std::runtime_error("no vectors with " + key + " = " + value);
  return out;
}

}  // namespace cvmsim::test
