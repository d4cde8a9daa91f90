#include "reports/charts.h"
