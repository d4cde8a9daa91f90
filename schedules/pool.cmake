# pool.cpp: max pooling (3x3 and 2x2 windows unrolled in specialisations inside the one
# variant), average pooling, adaptive average pooling, global average pooling.
list(APPEND ARCHBENCH_KERNELS
    "maxpool|archbench_maxpool|"
    "avgpool|archbench_avgpool|"
    "adaptive_avgpool|archbench_adaptive_avgpool|"
    "global_avgpool|archbench_global_avgpool|")
