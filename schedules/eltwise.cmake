# eltwise.cpp: add (+relu), broadcasting multiply, per-channel scale-shift with each
# activation (folded batch-norm, the scale op; with scale 1 and shift 0 the standalone
# activations; clamp: clip, and hardsigmoid with alpha and beta as scale and shift), softmax
# over channels, LRN and layer norm across channels, channel shuffle.
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
    "scale_shift_hardswish|archbench_scale_shift|activation=hardswish"
    "scale_shift_gelu|archbench_scale_shift|activation=gelu"
    "scale_shift_gelu_tanh|archbench_scale_shift|activation=gelu_tanh"
    "scale_shift_clamp|archbench_scale_shift|activation=clamp"
    "softmax|archbench_softmax|"
    "lrn|archbench_lrn|"
    "layer_norm|archbench_layer_norm|"
    "channel_shuffle|archbench_channel_shuffle|")
