# resize.cpp: nearest and bilinear upsampling; pad (a copy with a constant border, which also
# copies a crop window out densely).
list(APPEND ARCHBENCH_KERNELS
    "upsample_nearest|archbench_upsample|mode=nearest"
    "upsample_bilinear|archbench_upsample|mode=bilinear"
    "pad|archbench_pad|")
