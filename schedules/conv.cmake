# conv.cpp: dense/grouped conv with fused epilogue; depthwise.cpp: depthwise conv.
list(APPEND ARCHBENCH_KERNELS
    "conv_tiled|archbench_conv|schedule=tiled"
    "conv_simple|archbench_conv|schedule=simple"
    "conv_tiled_relu|archbench_conv|schedule=tiled activation=relu"
    "conv_simple_relu|archbench_conv|schedule=simple activation=relu"
    "conv_tiled_add_relu|archbench_conv|schedule=tiled residual=true activation=relu"
    "conv_simple_add_relu|archbench_conv|schedule=simple residual=true activation=relu"
    "conv_tiled_relu6|archbench_conv|schedule=tiled activation=relu6"
    "conv_simple_relu6|archbench_conv|schedule=simple activation=relu6"
    "conv_tiled_swish|archbench_conv|schedule=tiled activation=swish"
    "conv_simple_swish|archbench_conv|schedule=simple activation=swish"
    "depthwise|archbench_depthwise|activation=none"
    "depthwise_relu|archbench_depthwise|activation=relu"
    "depthwise_relu6|archbench_depthwise|activation=relu6"
    "depthwise_swish|archbench_depthwise|activation=swish")
