// json_text: a JSON value as text, invalid UTF-8 in its strings (a layer or network name read
// from a file, a database's text column) written as U+FFFD instead of thrown as an error.
#pragma once

#include <string>

namespace archbench {

// indent -1: one line.
template <typename Json>
std::string json_text(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace archbench
