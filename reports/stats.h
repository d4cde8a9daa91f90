// stats: significance of a difference between two sets of repetitions.
#pragma once
