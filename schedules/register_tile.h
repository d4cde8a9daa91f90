// The conv family's register tile on each CPU target, shared by the generators that tile
// their accumulators the same way (conv.cpp, winograd.cpp).
#pragma once

#include "Halide.h"
#include "schedules/tiles.h"

namespace archbench {

// Pixels (or Winograd tiles) per register tile of kConvChannelTile output channels: as many
// as leave room in the register file for the filter vectors and the input broadcast.
inline int conv_pixel_tile(const Halide::Target& t) {
  if (t.has_feature(Halide::Target::AVX512_Skylake)) return kConvPixelTileAvx512;
  if (t.has_feature(Halide::Target::AVX2)) return kConvPixelTileAvx2;
  return kConvPixelTileSse;
}

}  // namespace archbench
