# crf.cpp: the dense CRF's mean-field update (slice both lattices, add the unary and lonely
# terms, exp-normalise), cpu set only: the CRF runs on the host in every set. Variants: both
# kernels, the smoothness kernel alone, the appearance kernel alone.
list(APPEND ARCHBENCH_CPU_KERNELS
    "crf_slice_3_6|archbench_crf_slice|corners_a=3 corners_b=6"
    "crf_slice_3|archbench_crf_slice|corners_a=3 corners_b=0"
    "crf_slice_6|archbench_crf_slice|corners_a=6 corners_b=0")
