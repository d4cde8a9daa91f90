# eltwise.cpp: add (+relu), broadcasting multiply, per-channel scale-shift with each
# activation (folded batch-norm; with scale 1 and shift 0 the standalone activations),
# softmax over channels, LRN across channels.
list(APPEND ARCHBENCH_KERNELS
    "add|archbench_add|relu=false"
    "add_relu|archbench_add|relu=true"
    "multiply|archbench_multiply|"
    "scale_shift|archbench_scale_shift|activation=none"
    "scale_shift_relu|archbench_scale_shift|activation=relu"
    "scale_shift_relu6|archbench_scale_shift|activation=relu6"
    "scale_shift_sigmoid|archbench_scale_shift|activation=sigmoid"
    "scale_shift_swish|archbench_scale_shift|activation=swish"
    "scale_shift_tanh|archbench_scale_shift|activation=tanh"
    "softmax|archbench_softmax|"
    "lrn|archbench_lrn|")
