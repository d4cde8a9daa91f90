# dense.cpp: fully connected (matrix-vector at batch 1, a small matmul above), with or
# without a fused relu.
list(APPEND ARCHBENCH_KERNELS
    "fc|archbench_fc|relu=false"
    "fc_relu|archbench_fc|relu=true")
