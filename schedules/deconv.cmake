# deconv.cpp: transposed convolution (gather over the taps of each output phase); groups run
# as one call per group.
list(APPEND ARCHBENCH_KERNELS
    "deconv|archbench_deconv|")
