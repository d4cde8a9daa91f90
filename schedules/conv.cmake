# conv.cpp: dense/grouped conv with fused epilogue; depthwise.cpp: depthwise conv.
#
# Every conv schedule is compiled with every fused epilogue the runtime asks for, named
# conv_<schedule><epilogue> (runtime/kernels.cpp lists them): the hand-written schedules, and
# the autoscheduled baselines, named by their autoscheduler. Adams2019's beam is capped at 4.
set(conv_epilogues
    "|"
    "_relu|activation=relu"
    "_relu6|activation=relu6"
    "_swish|activation=swish"
    "_add_relu|residual=true activation=relu")
set(conv_schedules
    "tiled|schedule=tiled|"
    "narrow|schedule=narrow|"
    "blocked|schedule=blocked|"
    "direct|schedule=direct|"
    "simple|schedule=simple|"
    "mullapudi2016||Mullapudi2016"
    "adams2019|beam_size=4|Adams2019"
    "li2018||Li2018")
foreach(sched ${conv_schedules})
  string(REPLACE "|" ";" sched "${sched}")
  list(GET sched 0 sched_name)
  list(GET sched 1 sched_params)
  list(GET sched 2 scheduler)
  foreach(epi ${conv_epilogues})
    string(REPLACE "|" ";" epi "${epi}")
    list(GET epi 0 epi_suffix)
    list(LENGTH epi epi_len)
    set(epi_params "")
    if(epi_len GREATER 1)
      list(GET epi 1 epi_params)
    endif()
    string(STRIP "${sched_params} ${epi_params}" params)
    if(params STREQUAL "")
      set(params "schedule=simple")  # the generator's defaults; ignored when autoscheduled
    endif()
    if(scheduler STREQUAL "")
      list(APPEND ARCHBENCH_KERNELS "conv_${sched_name}${epi_suffix}|archbench_conv|${params}")
    else()
      list(APPEND ARCHBENCH_KERNELS "conv_${sched_name}${epi_suffix}|archbench_conv|${params}|${scheduler}")
    endif()
  endforeach()
endforeach()

foreach(sched columns staged)
  list(APPEND ARCHBENCH_KERNELS
      "depthwise_${sched}|archbench_depthwise|schedule=${sched} activation=none"
      "depthwise_${sched}_relu|archbench_depthwise|schedule=${sched} activation=relu"
      "depthwise_${sched}_relu6|archbench_depthwise|schedule=${sched} activation=relu6"
      "depthwise_${sched}_swish|archbench_depthwise|schedule=${sched} activation=swish")
endforeach()
