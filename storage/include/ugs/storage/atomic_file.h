// Files that are either absent, the old version or the complete new version: never half-written.
// The content goes to a temporary file beside the target, is flushed to disk, and is renamed over
// the target (rename is atomic within a file system).
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

namespace ugs::storage {

// Calls `write(temporary)` to produce the file, then renames it to `target`. If `write` throws, the
// temporary file is removed and the exception propagates; `target` is untouched.
void write_file_atomically(const std::filesystem::path& target,
                           const std::function<void(const std::filesystem::path& temporary)>& write);

// The same for a text or byte payload.
void write_file_atomically(const std::filesystem::path& target, std::string_view content);

}  // namespace ugs::storage
