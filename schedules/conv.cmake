# conv.cpp: dense/grouped conv with fused epilogue; depthwise.cpp: depthwise conv.
#
# The conv schedule space. Each variant is compiled with fused epilogues, as libraries
# conv_<variant><epilogue>: "name|generator params|autoscheduler|kind|pixels|epilogues[|channels]"
#   kind: the runtime's preconditions (tiled, narrow, direct, blocked, simple, auto, winograd);
#   pixels: its register tile's width on AVX-512 (the output must be at least that wide;
#           for winograd, its output tile m);
#   epilogues: "all" (none, relu, relu6, swish, add_relu) or a subset;
#   channels: its register tile's output channels on AVX-512 (default 32): the runtime runs
#           it on multiples of them only.
# The hand-written schedules and the autoscheduled baselines (Adams2019's beam capped at 4)
# are compiled with every epilogue; knob variants, named by their knob values (p: pixels per
# register tile, r: output rows per parallel task), with the epilogues of the CNN zoo's 3x3
# and 1x1 convs. ARCHBENCH_TUNING=ON compiles the wider grid (the tune command times them all);
# options in CMakeLists.txt; the Adams2019 baseline where ARCHBENCH_ADAMS2019 says. A variant
# left out is still known by name (conv_variants_absent.inc): a tuned database may list it, and
# asking for it says how to compile it.
set(conv_epilogue_params
    "none|"
    "relu|activation=relu"
    "relu6|activation=relu6"
    "swish|activation=swish"
    "add_relu|residual=true activation=relu")
set(conv_variants
    "tiled|schedule=tiled||tiled|12|all"
    "narrow|schedule=narrow||narrow|7|all"
    "blocked|schedule=blocked||blocked|7|all"
    "direct|schedule=direct||direct|7|all"
    "simple|schedule=simple||simple|1|all"
    "auto-mullapudi2016||Mullapudi2016|auto|7|all"
    "auto-adams2019|beam_size=4|Adams2019|auto|7|all"
    "auto-li2018||Li2018|auto|7|all"
    "direct-p7-r4|schedule=direct pixels=7 row_band=4||direct|7|none relu add_relu"
    # Bands of 16 rows: a map of 9-16 rows in one band per channel tile (8-row bands split a
    # 14-row map 8 + 6 and read each filter slice twice); a tuning candidate only.
    "direct-p7-r16|schedule=direct pixels=7 row_band=16||direct|7|none relu add_relu"
    "direct-p5|schedule=direct pixels=5||direct|5|all"
    # Two channel tiles (64 output channels) x 4 pixels: the default on wide maps (kernels.cpp).
    "direct-c64-p4|schedule=direct pixels=4 channel_tiles=2||direct|4|all|64"
    # One vector of 16 output channels x 14 pixels: the default for outputs of under 64
    # channels that are not whole 32-channel tiles (kernels.cpp).
    "direct-c16-p14|schedule=direct pixels=14 channel_lanes=16||direct|14|all|16"
    # Winograd F(m x m, 3 x 3) (winograd.cpp, generator archbench_winograd): 3x3 convs at
    # stride 1 only; pixels is m. Named by their knobs: m, the split (rows: bands of about t
    # tiles per task; ch: a task per channel tile) and p, tiles per register tile.
    "winograd-m4-rows-t24|tile=4 split=rows tiles=24||winograd|4|none relu add_relu"
    "winograd-m4-rows-t96|tile=4 split=rows tiles=96||winograd|4|none relu add_relu"
    "winograd-m4-ch-t48-p8|tile=4 split=channels tiles=48 register_tile=8||winograd|4|none relu add_relu"
    "winograd-m2-rows-t24|tile=2 split=rows tiles=24||winograd|2|none relu add_relu")
# Compiled: the list above, or with the wide grid below too; Adams2019 only where wanted.
set(conv_variants_wanted ${conv_variants})
# The wide grid: always listed (a build without it knows its names), compiled with ARCHBENCH_TUNING.
foreach(px 4 8 10 12 14)
  foreach(rows 2 4 8 16)
    list(APPEND conv_variants "direct-p${px}-r${rows}|schedule=direct pixels=${px} row_band=${rows}||direct|${px}|none relu add_relu")
  endforeach()
endforeach()
foreach(m 2 4)
  foreach(t 12 24 48 96)
    list(APPEND conv_variants
        "winograd-m${m}-rows-t${t}|tile=${m} split=rows tiles=${t}||winograd|${m}|none relu add_relu")
  endforeach()
  foreach(p 8 12)
    set(knobs "tile=${m} split=channels tiles=48 register_tile=${p}")
    list(APPEND conv_variants "winograd-m${m}-ch-t48-p${p}|${knobs}||winograd|${m}|none relu add_relu")
  endforeach()
endforeach()
list(REMOVE_DUPLICATES conv_variants)
if(archbench_tuning_grid)
  set(conv_variants_wanted ${conv_variants})
endif()
if(NOT archbench_adams2019)
  list(FILTER conv_variants_wanted EXCLUDE REGEX "^auto-adams2019[|]")
endif()

# An entry of conv_epilogue_params: sets `epi` (its name) and `epi_params` (its generator
# params) in the caller's scope.
macro(archbench_conv_epilogue entry)
  string(REPLACE "|" ";" _epilogue "${entry}")
  list(GET _epilogue 0 epi)
  set(epi_params "")
  list(LENGTH _epilogue _epilogue_fields)
  if(_epilogue_fields GREATER 1)
    list(GET _epilogue 1 epi_params)
  endif()
endmacro()

# The runtime's table of variants (runtime/kernels.cpp includes both files).
set(conv_includes "")
set(conv_table "")
set(conv_absent "")
foreach(variant ${conv_variants})
  if(NOT variant IN_LIST conv_variants_wanted)
    string(REGEX REPLACE "[|].*" "" name "${variant}")
    if(name STREQUAL "auto-adams2019")
      set(how "-DARCHBENCH_ADAMS2019=ON or -DARCHBENCH_PORTABLE=ON")
    else()
      set(how "-DARCHBENCH_TUNING=ON")
    endif()
    string(APPEND conv_absent "ARCHBENCH_ABSENT_CONV_VARIANT(\"${name}\", \"${how}\")\n")
    continue()
  endif()
  string(REPLACE "|" ";" variant "${variant}")
  list(GET variant 0 name)
  list(GET variant 1 params)
  list(GET variant 2 scheduler)
  list(GET variant 3 kind)
  list(GET variant 4 pixels)
  list(GET variant 5 epilogues)
  set(channels 32)  # kConvChannelTile
  list(LENGTH variant fields)
  if(fields GREATER 6)
    list(GET variant 6 channels)
  endif()
  if(epilogues STREQUAL "all")
    set(epilogues "none relu relu6 swish add_relu")
  endif()
  string(REPLACE " " ";" epilogues "${epilogues}")
  string(REPLACE "-" "_" lib "${name}")
  string(REGEX REPLACE "^auto_" "" lib "${lib}")  # conv_mullapudi2016, ...
  set(fns "")
  foreach(epi_entry ${conv_epilogue_params})
    archbench_conv_epilogue("${epi_entry}")
    if(NOT epi IN_LIST epilogues)
      string(APPEND fns ", nullptr")
      continue()
    endif()
    if(epi STREQUAL "none")
      set(libname "conv_${lib}")
    else()
      set(libname "conv_${lib}_${epi}")
    endif()
    string(STRIP "${params} ${epi_params}" all_params)
    if(all_params STREQUAL "")
      set(all_params "schedule=simple")  # the generator's defaults; ignored when autoscheduled
    endif()
    if(kind STREQUAL "winograd")
      list(APPEND ARCHBENCH_CPU_KERNELS "${libname}|archbench_winograd|${all_params}")
    elseif(scheduler STREQUAL "")
      list(APPEND ARCHBENCH_CPU_KERNELS "${libname}|archbench_conv|${all_params}")
    else()
      list(APPEND ARCHBENCH_CPU_KERNELS "${libname}|archbench_conv|${all_params}|${scheduler}")
    endif()
    string(APPEND conv_includes "#include \"archbench_${libname}.h\"\n")
    string(APPEND fns ", archbench_${libname}")
  endforeach()
  string(SUBSTRING "${kind}" 0 1 first)
  string(SUBSTRING "${kind}" 1 -1 rest)
  string(TOUPPER "${first}" first)
  string(APPEND conv_table "ARCHBENCH_CONV_VARIANT(\"${name}\", ${first}${rest}, ${pixels}, ${channels}${fns})\n")
endforeach()
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/conv_variants_includes.inc CONTENT "${conv_includes}")
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/conv_variants_table.inc CONTENT "${conv_table}")
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/conv_variants_absent.inc CONTENT "${conv_absent}")

# The GPU sets' conv schedules (conv.cpp, generate_gpu), every epilogue each: the three
# hand-written ones and the Li2018-autoscheduled baseline. The runtime's table of them is
# conv_gpu_variants_table.inc: ARCHBENCH_GPU_CONV_VARIANT(name, pixels, autoscheduled, none,
# relu, relu6, swish, add_relu) with library names without the kernel set's prefix.
set(conv_gpu_table "")
foreach(variant "gpu-tiled|gpu_tiled|4|" "gpu-simple|gpu_simple|1|" "gpu-c8|gpu_c8|4|"
                "gpu-auto-li2018|gpu_auto_li2018|7|Li2018")
  string(REPLACE "|" ";" variant "${variant}")
  list(GET variant 0 name)
  list(GET variant 1 sched)
  list(GET variant 2 pixels)
  list(GET variant 3 scheduler)
  set(fns "")
  foreach(epi_entry ${conv_epilogue_params})
    archbench_conv_epilogue("${epi_entry}")
    if(epi STREQUAL "none")
      set(libname "conv_${sched}")
    else()
      set(libname "conv_${sched}_${epi}")
    endif()
    if(scheduler STREQUAL "")
      string(STRIP "schedule=${sched} ${epi_params}" all_params)
      list(APPEND ARCHBENCH_GPU_KERNELS "${libname}|archbench_conv|${all_params}")
    else()
      string(STRIP "schedule=gpu_simple ${epi_params}" all_params)  # the schedule is ignored
      list(APPEND ARCHBENCH_GPU_KERNELS "${libname}|archbench_conv|${all_params}|${scheduler}")
    endif()
    string(APPEND fns ", ${libname}")
  endforeach()
  if(scheduler STREQUAL "")
    set(autoscheduled false)
  else()
    set(autoscheduled true)
  endif()
  string(APPEND conv_gpu_table "ARCHBENCH_GPU_CONV_VARIANT(\"${name}\", ${pixels}, ${autoscheduled}${fns})\n")
endforeach()
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/conv_gpu_variants_table.inc CONTENT "${conv_gpu_table}")

# Depthwise: columns and staged in every set; interior and framed (no bounds tests in their
# inner loops) in the cpu set only.
set(depthwise_cpu_only interior framed)
foreach(sched columns staged interior framed)
  if(sched IN_LIST depthwise_cpu_only)
    set(kernel_list ARCHBENCH_CPU_KERNELS)
  else()
    set(kernel_list ARCHBENCH_KERNELS)
  endif()
  foreach(act none relu relu6 swish)
    if(act STREQUAL "none")
      set(suffix "")
    else()
      set(suffix "_${act}")
    endif()
    list(APPEND ${kernel_list} "depthwise_${sched}${suffix}|archbench_depthwise|schedule=${sched} activation=${act}")
  endforeach()
endforeach()
