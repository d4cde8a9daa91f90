// charts: SVG charts for the HTML and Markdown reports (written by hand: see charts.cpp).
#pragma once
