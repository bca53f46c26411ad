#include "ugs/storage/files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace ugs::storage {
namespace {

namespace fs = std::filesystem;

TEST(RemoveTree, RemovesNestedFoldersAndFilesButNotWhatALinkPointsTo) {
  const fs::path root = fs::temp_directory_path() / ("ugs_remove_tree_" + std::to_string(::getpid()));
  const fs::path outside = root.string() + "_outside";
  fs::create_directories(root / "a" / "b" / "c");
  fs::create_directories(outside);
  std::ofstream(root / "a" / "file.txt") << "x";
  std::ofstream(root / "a" / "b" / "c" / "deep.h5") << "y";
  std::ofstream(outside / "kept.txt") << "z";
  fs::create_directory_symlink(outside, root / "a" / "link");

  remove_tree(root);
  EXPECT_FALSE(fs::exists(root));
  EXPECT_TRUE(fs::exists(outside / "kept.txt"));  // the link went, not its target
  remove_tree(outside);
  EXPECT_FALSE(fs::exists(outside));
}

TEST(RemoveTree, AMissingPathIsNotAnErrorAndASingleFileIsRemoved) {
  const fs::path file = fs::temp_directory_path() / ("ugs_remove_tree_file_" + std::to_string(::getpid()));
  std::error_code error;
  remove_tree(file, error);
  EXPECT_FALSE(error);
  std::ofstream(file) << "x";
  remove_tree(file, error);
  EXPECT_FALSE(error);
  EXPECT_FALSE(fs::exists(file));
}

TEST(RemoveTree, AFailureNamesThePath) {
  // A path through a regular file cannot be inspected: ENOTDIR, not "missing".
  const fs::path file = fs::temp_directory_path() / ("ugs_remove_tree_notdir_" + std::to_string(::getpid()));
  std::ofstream(file) << "x";
  try {
    remove_tree(file / "child");
    FAIL() << "no error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find((file / "child").string() + ": cannot remove"), std::string::npos)
        << error.what();
  }
  remove_tree(file);
}

TEST(ReadTextFile, ReturnsEveryByteAndNamesAMissingFileWithWhatItIs) {
  const fs::path file = fs::temp_directory_path() / ("ugs_read_text_" + std::to_string(::getpid()));
  const std::string bytes("a\0b\r\nc", 7);
  std::ofstream(file, std::ios::binary) << bytes;
  EXPECT_EQ(read_text_file(file), bytes);
  remove_tree(file);
  try {
    read_text_file(file, "sweep file");
    FAIL() << "no error";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()), file.string() + ": cannot open the sweep file");
  }
}

}  // namespace
}  // namespace ugs::storage
