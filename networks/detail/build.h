// Internal to networks/: turns one expanded layer (op name + raw attributes + inputs whose
// shapes are known) into a typed Layer with its output shape. Implemented in ops.cpp.
#pragma once

#include <string>
#include <vector>

#include "networks/detail/values.h"
#include "networks/networks.h"

namespace archbench::detail {

bool op_exists(const std::string& op);

// Fills layer.op, layer.attrs and layer.output; throws SpecError naming the layer.
void build_layer(Layer& layer, const std::string& op, AttrReader& attrs, const std::vector<const Layer*>& inputs);

}  // namespace archbench::detail
