# deform.cpp: deformable convolution (sampling fused into the conv's register tile). The cpu
# set has it with register tiles of 14, 12, 7 and 1 pixels (the runtime takes the one that
# computes the fewest pixels twice); the GPU sets one thread per output.
list(APPEND ARCHBENCH_CPU_KERNELS
    "deform_p14|archbench_deform|pixels=14"
    "deform_p12|archbench_deform|pixels=12"
    "deform_p7|archbench_deform|pixels=7"
    "deform_p1|archbench_deform|pixels=1")
list(APPEND ARCHBENCH_GPU_KERNELS
    "deform|archbench_deform|")
