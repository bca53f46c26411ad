#include "hdf5_support.h"

#include <algorithm>

namespace ugs::storage::detail {

namespace {

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

// The description of the most recent failure on this thread; HDF5 clears its error stack at the next
// API call (closing a handle while unwinding is one), so it is copied out when the failure happens.
thread_local std::string innermost_error;

herr_t record_innermost(unsigned position, const H5E_error2_t* error, void*) {
  if (position == 0) innermost_error = error->desc != nullptr ? error->desc : "";
  return 0;
}

herr_t record_error_stack(hid_t stack, void*) {
  innermost_error.clear();
  H5Ewalk2(stack, H5E_WALK_UPWARD, record_innermost, nullptr);
  return 0;
}

// A fixed-length string ends at its first NUL (null-terminated and null-padded strings) and, when the
// type says so, loses its trailing blanks (Fortran-style space padding).
std::string without_padding(std::string text, const H5::StrType& type) {
  text.resize(std::min(text.size(), text.find('\0')));
  if (type.getStrpad() == H5T_STR_SPACEPAD) text.erase(text.find_last_not_of(' ') + 1);
  return text;
}

}  // namespace

Hdf5Lock::Hdf5Lock() : guard_(hdf5_mutex()) {
  H5Eset_auto2(H5E_DEFAULT, record_error_stack, nullptr);
  innermost_error.clear();
}

void fail(const std::filesystem::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

std::runtime_error hdf5_error(const std::filesystem::path& file, const std::string& doing,
                              const H5::Exception& e) {
  const std::string& detail = innermost_error.empty() ? e.getDetailMsg() : innermost_error;
  return std::runtime_error(file.string() + ": " + doing + ": " + detail);
}

std::string shape_string(const std::vector<hsize_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

std::vector<hsize_t> shape_of(const H5::DataSet& dataset) {
  const H5::DataSpace space = dataset.getSpace();
  std::vector<hsize_t> shape(static_cast<std::size_t>(std::max(space.getSimpleExtentNdims(), 0)));
  space.getSimpleExtentDims(shape.data());
  return shape;
}

namespace {

// The attribute `name` of `object`, which must exist, hold one value and be of `type_class`.
H5::Attribute open_scalar_attribute(const std::filesystem::path& file, const H5::H5Object& object,
                                    const char* name, H5T_class_t type_class, const char* type_name) {
  if (!object.attrExists(name)) fail(file, std::string("attribute '") + name + "' is missing");
  H5::Attribute attribute = object.openAttribute(name);
  if (attribute.getTypeClass() != type_class || attribute.getSpace().getSimpleExtentNpoints() != 1) {
    fail(file, std::string("attribute '") + name + "' is not " + type_name);
  }
  return attribute;
}

}  // namespace

std::string read_string_attribute(const std::filesystem::path& file, const H5::H5Object& object,
                                  const char* name) {
  const H5::Attribute attribute = open_scalar_attribute(file, object, name, H5T_STRING, "a string");
  const H5::StrType type = attribute.getStrType();
  std::string value;
  attribute.read(type, value);
  return type.isVariableStr() ? value : without_padding(std::move(value), type);
}

std::int64_t read_integer_attribute(const std::filesystem::path& file, const H5::H5Object& object,
                                    const char* name) {
  const H5::Attribute attribute = open_scalar_attribute(file, object, name, H5T_INTEGER, "an integer");
  std::int64_t value = 0;
  attribute.read(H5::PredType::NATIVE_INT64, &value);
  return value;
}

std::vector<std::string> read_strings(const H5::DataSet& dataset) {
  const std::size_t count = shape_of(dataset).at(0);
  const H5::StrType file_type = dataset.getStrType();
  std::vector<std::string> values;
  values.reserve(count);
  if (file_type.isVariableStr()) {
    const H5::StrType memory_type(H5::PredType::C_S1, H5T_VARIABLE);
    std::vector<char*> buffer(count, nullptr);
    dataset.read(buffer.data(), memory_type);
    for (const char* value : buffer) values.emplace_back(value != nullptr ? value : "");
    H5::DataSet::vlenReclaim(buffer.data(), memory_type, dataset.getSpace());
  } else {
    const std::size_t width = file_type.getSize();
    H5::StrType memory_type(H5::PredType::C_S1, width);
    memory_type.setStrpad(H5T_STR_NULLPAD);
    std::vector<char> buffer(count * width, '\0');
    dataset.read(buffer.data(), memory_type);
    for (std::size_t row = 0; row < count; ++row) {
      values.push_back(without_padding(std::string(buffer.data() + row * width, width), file_type));
    }
  }
  return values;
}

H5::StrType utf8_string_type() {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  return type;
}

void write_string_attribute(H5::H5Object& object, const char* name, const std::string& value) {
  const H5::StrType type = utf8_string_type();
  object.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
}

void write_int32_attribute(H5::H5Object& object, const char* name, int value) {
  object.createAttribute(name, H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR))
      .write(H5::PredType::NATIVE_INT, &value);
}

void write_dataset(H5::H5File& file, const char* name, const H5::DataType& file_type,
                   const H5::DataType& memory_type, const std::vector<hsize_t>& shape, const void* data) {
  const H5::DataSpace space(static_cast<int>(shape.size()), shape.data());
  file.createDataSet(name, file_type, space).write(data, memory_type);
}

}  // namespace ugs::storage::detail
