#include "ugs/storage/files.h"

#include <ftw.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ugs::storage {
namespace {

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  return std::remove(path) == 0 ? 0 : errno;  // remove(3): unlink for files, rmdir for (now empty) folders
}

}  // namespace

std::string read_text_file(const std::filesystem::path& file, const std::string& what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file.string() + ": cannot open the " + what);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error(file.string() + ": cannot read the " + what);
  return text.str();
}

void remove_tree(const std::filesystem::path& path, std::error_code& error) {
  error.clear();
  struct stat info;
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) error.assign(errno, std::generic_category());
    return;
  }
  // Depth first (children before their folder), links removed not followed; 16 open folders at most.
  const int failed = ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (failed != 0) error.assign(failed > 0 ? failed : errno, std::generic_category());
}

void remove_tree(const std::filesystem::path& path) {
  std::error_code error;
  remove_tree(path, error);
  if (error) throw std::runtime_error(path.string() + ": cannot remove (" + error.message() + ")");
}

}  // namespace ugs::storage
