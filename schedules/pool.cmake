# pool.cpp: max pooling (3x3/2 and 2x2/2 unrolled in specialisations), average pooling,
# adaptive average pooling (global pooling is its 1x1 case).
list(APPEND ARCHBENCH_KERNELS
    "maxpool|archbench_maxpool|specialize_common=true"
    "avgpool|archbench_avgpool|"
    "adaptive_avgpool|archbench_adaptive_avgpool|")
