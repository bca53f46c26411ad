// Reading a whole file, and removing a whole folder (the stores, job and plot folders ugs makes).
//
//   std::string toml = storage::read_text_file(path, "sweep file");   // "<path>: cannot open the sweep file"
//   storage::remove_tree(old_store);                 // throws std::runtime_error naming the path
//   std::error_code error; storage::remove_tree(partial, error);   // or reports, for clean-up paths
//
// Why not std::filesystem::remove_all: the pip wheels of LibTorch 2.x export their own copy of
// libstdc++'s std::filesystem::remove_all from libtorch.so, and the dynamic linker binds ugs's calls
// to it. Built with another GCC, that copy jumps to a null address under g++ 13 (seen on the GPU
// machine: `ugs synth --force` and the end of every training job crashed with SIGSEGV at 0x0). This
// walks the tree with POSIX nftw instead, which no LibTorch carries.
//
// Symbolic links are removed, never followed. A path that does not exist is not an error (as
// remove_all). Thread safety: safe on different trees.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

namespace ugs::storage {

// The bytes of `file`. Throws std::runtime_error, one line: "<file>: cannot open the <what>" or
// "<file>: cannot read the <what>".
std::string read_text_file(const std::filesystem::path& file, const std::string& what = "file");

void remove_tree(const std::filesystem::path& path);
void remove_tree(const std::filesystem::path& path, std::error_code& error);

}  // namespace ugs::storage
