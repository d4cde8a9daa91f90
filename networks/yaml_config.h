// YAML configuration files beside the spec format (sweep files, tuned schedule databases):
// read whole, with every error located at file:line:column as the spec loader's are.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

#include "networks/networks.h"

namespace archbench {

// The document of `path`; SpecError "PATH: error: cannot read the WHAT (missing or
// unreadable)", "PATH:LINE:COL: error: YAML syntax error: ...", "...: duplicate key 'K'" or
// "...: the WHAT expands to more than N YAML nodes (aliases?)". `text` gets the file's bytes.
YAML::Node load_yaml_config(const std::filesystem::path& path, const std::string& what, std::string* text = nullptr);

// Where `node` was written (line and column 1-based; 0 when yaml-cpp has no mark).
SourceLoc yaml_loc(const YAML::Node& node, const std::string& file);

}  // namespace archbench
