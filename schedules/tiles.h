// Tile sizes shared by the generators (which schedule with them) and the runtime (which
// picks the tiled variant only where the output is at least one tile in each tiled axis,
// the precondition of TailStrategy::ShiftInwards).
#pragma once

namespace archbench {

constexpr int kConvChannelTile = 32;      // output channels per filter tile (AVX2 register tiles: half)
constexpr int kConvPixelTileAvx512 = 12;  // 2 vectors x 12 pixels = 24 of 32 registers
constexpr int kConvPixelTileAvx2 = 6;     // 2 vectors (16 channels) x 6 pixels = 12 of 16 registers
constexpr int kConvPixelTileSse = 1;      // 8 vectors x 1 pixel
constexpr int kConvPixelTileMax = 12;     // the runtime's precondition covers every target
constexpr int kConvNarrowPixels = 7;      // the narrow variant's tile: ResNet/VGG widths are multiples of 7
constexpr int kConvInputBlock = 64;       // the blocked variant's input channels per reduction block
constexpr int kConvRowBand = 8;           // output rows per parallel task (filter reuse)

// The staged depthwise variant: output rows per task, pixels per register tile.
constexpr int kDepthwiseRowBand = 8;
constexpr int kDepthwisePixels = 8;
// The interior depthwise variant: pixels per register tile, and the channels its vectors
// need (the widest vector, AVX-512's 16 floats, so the precondition holds at every level).
constexpr int kDepthwiseInteriorPixels = 4;
constexpr int kDepthwiseInteriorChannels = 16;

}  // namespace archbench
